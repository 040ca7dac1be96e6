/* The server: the loop, signals, once-per-iteration subscribers, the deadline timer, start and stop order. */
#include "server.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

#include "admin/api.h"
#include "admin/definitions.h"
#include "admin/prometheus.h"
#include "core/container.h"
#include "core/memory_return.h"
#include "net/tcp.h"
#include "net/tls.h"
#include "service_notify.h"
#include "store/data_dir.h"
#include "store/definitions_store.h"
#include "store/message_log.h"

/* Segment files of the message log are preallocated to this size. */
#define STORE_SEGMENT_BYTES (16u << 20)

struct server {
    uv_loop_t loop;
    struct broker broker;
    struct tcp_server tcp;
    struct tls_server tls;      /* when a TLS listener is configured (tls_on) */
    bool tls_on;
    int listening_servers;      /* of tcp and tls, those not drained yet while stopping */
    uv_signal_t sighup;         /* reloads the TLS and HTTPS certificates (sighup_on) */
    bool sighup_on;
    struct api api;             /* the management HTTP API, when api_on */
    bool api_on;
    struct data_dir data_dir;   /* locked while the server runs; path NULL: no --data-dir */
    struct definitions_store definitions;
    struct prometheus prometheus; /* the Prometheus endpoint, when prometheus_on */
    bool prometheus_on;
    uv_signal_t sigint;
    uv_signal_t sigterm;
    uv_prepare_t iteration;     /* runs the subscribers before the loop waits */
    struct list subscribers;
    /* The one timer behind every deadline in the broker's heap. */
    uv_timer_t deadline_timer;
    uint64_t armed_ms;          /* the deadline it is armed for; UINT64_MAX when idle */
    struct server_subscriber resume_readers;
    struct server_subscriber commit_store;
    struct server_subscriber commit_definitions;
    struct server_subscriber write_output;
    struct message_log messages; /* when there is a data directory */
    bool durable;
    struct memory_return memory_return; /* what closed connections freed goes back */
};

void server_subscribe(struct server *s, struct server_subscriber *sub)
{
    list_push_back(&s->subscribers, &sub->link);
}

void server_unsubscribe(struct server_subscriber *sub)
{
    list_remove(&sub->link);
}

/* ---- the deadline timer ---- */

static void on_deadline_timer(uv_timer_t *h)
{
    struct server *s = h->data;
    s->armed_ms = UINT64_MAX;
    deadline_heap_run_due(&s->broker.deadlines, clock_now_ms(&s->broker.clock));
    /* on_iteration re-arms it before the loop waits again */
}

/* Touches libuv only when the earliest deadline changed, so an iteration that scheduled
 * nothing new costs one comparison. */
static void arm_deadline_timer(struct server *s)
{
    uint64_t next = deadline_heap_next_ms(&s->broker.deadlines);
    if (next == s->armed_ms)
        return;
    s->armed_ms = next;
    if (next == UINT64_MAX) {
        uv_timer_stop(&s->deadline_timer);
        return;
    }
    /* The coarse clock may trail libuv's: a timer that fires "early" finds nothing due and
     * is re-armed for the rest, so no deadline fires before its time on the broker's clock. */
    uint64_t now = clock_now_ms(&s->broker.clock);
    uv_timer_start(&s->deadline_timer, on_deadline_timer, next > now ? next - now : 0, 0);
}

static void on_iteration(uv_prepare_t *h)
{
    struct server *s = h->data;
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &s->subscribers) {
        struct server_subscriber *sub = list_entry(pos, struct server_subscriber, link);
        sub->run(sub);
    }
    arm_deadline_timer(s);
}

/* ---- the transport's per-iteration work ---- */

static void run_resume_readers(struct server_subscriber *sub)
{
    struct server *s = container_of(sub, struct server, resume_readers);
    tcp_server_resume_readers(&s->tcp);
    if (s->tls_on)
        tls_server_resume_readers(&s->tls);
}

static void run_commit_store(struct server_subscriber *sub)
{
    message_log_commit(&container_of(sub, struct server, commit_store)->messages);
}

static void run_commit_definitions(struct server_subscriber *sub)
{
    definitions_store_commit(&container_of(sub, struct server, commit_definitions)->definitions);
}

static void run_write_output(struct server_subscriber *sub)
{
    struct server *s = container_of(sub, struct server, write_output);
    tcp_server_write_dirty(&s->tcp);
    if (s->tls_on)
        tls_server_write_dirty(&s->tls);
}

/* ---- start and stop ---- */

/* Thousands of connections need thousands of descriptors: take all the hard limit allows. */
static void raise_file_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* The message log's orderly stop: last records synced, its thread and handle gone. */
static void stop_message_log(struct server *s)
{
    if (!s->durable)
        return;
    if (s->commit_store.run)
        server_unsubscribe(&s->commit_store);
    s->commit_store.run = NULL;
    message_log_close(&s->messages);
    s->durable = false;
}

/* The last connection has gone: closing the server's own handles lets uv_run return. */
static void all_drained(struct server *s)
{
    stop_message_log(s); /* every unacked message is back in its queue by now */
    memory_return_stop(&s->memory_return);
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    if (s->sighup_on)
        uv_close((uv_handle_t *)&s->sighup, NULL);
    uv_close((uv_handle_t *)&s->iteration, NULL);
    uv_close((uv_handle_t *)&s->deadline_timer, NULL);
}

static void on_tcp_drained(struct tcp_server *tcp)
{
    struct server *s = container_of(tcp, struct server, tcp);
    if (--s->listening_servers == 0)
        all_drained(s);
}

static void on_tls_drained(struct tls_server *tls)
{
    struct server *s = container_of(tls, struct server, tls);
    if (--s->listening_servers == 0)
        all_drained(s);
}

/* An HTTPS listener's certificates again, as on_sighup does for AMQP's. */
static void reload_https(struct server *s, struct http_server *http, const char *what)
{
    char why[1024];
    if (!http_server_has_tls(http))
        return;
    if (http_server_reload(http, why, sizeof why))
        log_info(&s->broker.log, "received SIGHUP: %s HTTPS certificates and key reloaded", what);
    else
        log_warning(&s->broker.log, "received SIGHUP: %s HTTPS certificates not reloaded, the "
                    "old ones stay: %s", what, why);
}

/* New TLS and HTTPS connections get the files as they are now; open ones keep theirs. */
static void on_sighup(uv_signal_t *h, int signum)
{
    (void)signum;
    struct server *s = h->data;
    char why[1024];
    if (s->tls_on && tls_server_reload(&s->tls, why, sizeof why))
        log_info(&s->broker.log, "received SIGHUP: TLS certificates and key reloaded");
    else if (s->tls_on)
        log_warning(&s->broker.log, "received SIGHUP: TLS certificates not reloaded, the old "
                    "ones stay: %s", why);
    if (s->api_on)
        reload_https(s, &s->api.http, "management API");
    if (s->prometheus_on)
        reload_https(s, &s->prometheus.http, "Prometheus");
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct server *s = h->data;
    if (s->tcp.stopping)
        return;
    log_info(&s->broker.log, "received %s, stopping: closing all connections",
             signum == SIGINT ? "SIGINT" : "SIGTERM");
    int rc = service_notify_stopping();
    if (rc < 0)
        log_warning(&s->broker.log, "cannot tell the service manager we stop: %s",
                    strerror(-rc));
    if (s->api_on)
        api_stop(&s->api);
    if (s->prometheus_on)
        prometheus_stop(&s->prometheus);
    s->api_on = s->prometheus_on = false;
    s->listening_servers = s->tls_on ? 2 : 1;
    if (s->tls_on)
        tls_server_stop(&s->tls, on_tls_drained);
    tcp_server_stop(&s->tcp, on_tcp_drained);
}

static void start_loop_handles(struct server *s)
{
    list_init(&s->subscribers);
    uv_prepare_init(&s->loop, &s->iteration);
    s->iteration.data = s;
    uv_prepare_start(&s->iteration, on_iteration);
    uv_timer_init(&s->loop, &s->deadline_timer);
    s->deadline_timer.data = s;
    s->armed_ms = UINT64_MAX;
    /* In the order tcp.c's own prepare hook ran them: readers resume, then output is written. */
    s->resume_readers.run = run_resume_readers;
    server_subscribe(s, &s->resume_readers);
    /* before output, so the writer thread starts on the batch while output is written */
    if (s->durable) {
        s->commit_store.run = run_commit_store;
        server_subscribe(s, &s->commit_store);
    }
    if (s->broker.config.data_dir) { /* definitions from now on synced off the loop */
        definitions_store_start(&s->definitions, &s->loop);
        s->commit_definitions.run = run_commit_definitions;
        server_subscribe(s, &s->commit_definitions);
    }
    s->write_output.run = run_write_output;
    server_subscribe(s, &s->write_output);
    uv_signal_init(&s->loop, &s->sigint);
    uv_signal_init(&s->loop, &s->sigterm);
    s->sigint.data = s->sigterm.data = s;
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    const struct broker_config *cfg = &s->broker.config;
    s->sighup_on = s->tls_on || cfg->management_ssl.port || cfg->prometheus_ssl.port;
    if (s->sighup_on) {
        uv_signal_init(&s->loop, &s->sighup);
        s->sighup.data = s;
        uv_signal_start(&s->sighup, on_sighup, SIGHUP);
    }
    alarms_start(&s->broker.alarms);
    memory_return_start(&s->memory_return, &s->broker.deadlines, &s->broker.clock,
                        &s->broker.log, &s->broker.churn.connections_closed);
}

/* Every plain and TLS listener's address, as "127.0.0.1:5672, 127.0.0.1:5671 (TLS)". */
#define ADDRESSES_SIZE (2 * BROKER_MAX_LISTENERS * 62)

static void listener_addresses(struct server *s, char *out, size_t len)
{
    tcp_server_addresses(&s->tcp, out, len);
    if (!s->tls_on)
        return;
    char tls[BROKER_MAX_LISTENERS * 56];
    tls_server_addresses(&s->tls, tls, sizeof tls);
    size_t used = strlen(out);
    for (char *one = strtok(tls, ","); one; one = strtok(NULL, ",")) {
        int w = snprintf(out + used, len - used, "%s%s (TLS)", used ? ", " : "",
                         one + (*one == ' '));
        used += w < 0 ? 0 : (size_t)w;
        if (used >= len)
            return;
    }
}

static void visit_tls_connections(void *tls, void (*visit)(struct connection *c, void *ctx),
                                  void *ctx)
{
    tls_server_each_connection(tls, visit, ctx);
}

/* Opens the plain listeners, then the TLS ones; on failure logs why and leaves nothing open. */
static bool start_listeners(struct server *s)
{
    int rc = tcp_server_start(&s->tcp, &s->loop, &s->broker);
    if (rc < 0) {
        log_error(&s->broker.log, "cannot listen on %s: %s", s->tcp.failed_address, uv_strerror(rc));
        return false;
    }
    s->tls_on = tls_server_configured(&s->broker.config);
    char why[1024];
    if (s->tls_on && tls_server_start(&s->tls, &s->loop, &s->broker, why, sizeof why) != 0) {
        log_error(&s->broker.log, "%s", why);
        s->tls_on = false;
        tcp_server_stop(&s->tcp, NULL); /* no connection yet: its listeners close */
        return false;
    }
    if (s->tls_on) {
        s->tcp.each_other = visit_tls_connections;
        s->tcp.other = &s->tls;
    }
    return true;
}

/* Only once every listener is open (and definitions are loaded): a unit ordered after ours
 * may connect as soon as systemd hears this. */
static void notify_ready(struct server *s, const char *addresses)
{
    char status[sizeof "Listening on " + ADDRESSES_SIZE];
    snprintf(status, sizeof status, "Listening on %s", addresses);
    /* RabbitMQ's words: Testcontainers' RabbitMQ modules wait for this line in the log */
    log_info(&s->broker.log, "Server startup complete");
    int rc = service_notify_ready(status);
    if (rc < 0)
        log_warning(&s->broker.log, "cannot tell the service manager we are ready: %s",
                    strerror(-rc));
}

/* Handles being closed need one more turn of the loop before the loop can close. */
static void close_loop(struct server *s)
{
    uv_run(&s->loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&s->loop);
    if (rc < 0)
        log_warning(&s->broker.log, "event loop closed with handles open: %s", uv_strerror(rc));
}

/* ---- durable state, before any listener opens ---- */

static void log_recovery(struct server *s, const char *dir, const struct definitions_recovery *rec)
{
    if (!rec->recovered)
        log_info(&s->broker.log, "data directory %s: a new one (first boot)", s->data_dir.path);
    else
        log_info(&s->broker.log, "definitions recovered from %s: %llu records, %llu durable "
                 "exchanges, %llu durable queues, %llu bindings, in %llu ms", dir,
                 (unsigned long long)rec->replay.records, (unsigned long long)rec->exchanges,
                 (unsigned long long)rec->queues, (unsigned long long)rec->bindings,
                 (unsigned long long)(rec->elapsed_us / 1000));
}

/* RabbitMQ's order: definitions on disk first; then, on a first boot only, the default user
 * and vhost (not when definitions are configured: they say what there is); then
 * load_definitions, imported on top at every boot. Everything from the second step on is
 * recorded. */
static bool restore_definitions(struct server *s, char *why, size_t why_size)
{
    const struct broker_config *config = &s->broker.config;
    struct definitions_recovery rec = {.recovered = false};
    char dir[4096];
    if (config->data_dir) {
        if (!data_dir_open(&s->data_dir, config->data_dir, why, why_size) ||
            !data_dir_subdir(&s->data_dir, "definitions", dir, sizeof dir, why, why_size))
            return false;
        struct definitions_settings_codec codec = {definitions_settings_text,
                                                   definitions_settings_replace};
        if (!definitions_store_open(&s->definitions, &s->broker, dir, codec, &rec, why, why_size))
            return false;
        log_recovery(s, dir, &rec);
        definitions_store_install(&s->definitions);
    }
    if (!rec.recovered && !config->load_definitions)
        broker_create_defaults(&s->broker);
    if (config->load_definitions) {
        static const char prefix[] = "load_definitions: ";
        snprintf(why, why_size, "%s", prefix);
        broker_definitions_begin(&s->broker);
        bool loaded = definitions_load(&s->broker, config->load_definitions, why + strlen(why),
                                       why_size - strlen(why));
        broker_definitions_end(&s->broker);
        if (!loaded)
            return false;
    }
    int rc;
    if (config->data_dir && (rc = definitions_store_compact(&s->definitions)) < 0)
        log_warning(&s->broker.log, "definitions journal: compaction at boot failed: %s",
                    strerror(-rc));
    return true;
}

static void close_store(struct server *s)
{
    if (s->broker.config.data_dir) {
        definitions_store_close(&s->definitions);
        data_dir_close(&s->data_dir);
    }
}

/* DATA_DIR/messages: the message log, reached by the model through broker.store (the data
 * directory is open and locked by now). */
static bool open_message_log(struct server *s, char *why, size_t why_size)
{
    char dir[4096];
    if (!data_dir_subdir(&s->data_dir, "messages", dir, sizeof dir, why, why_size))
        return false;
    if (message_log_open(&s->messages, &s->broker, &s->loop, dir, STORE_SEGMENT_BYTES, why,
                         why_size) < 0)
        return false;
    broker_use_store(&s->broker, &s->messages.store);
    s->durable = true;
    return true;
}

/* Persistent messages back into the durable queues the definitions made; before listeners. */
static void store_recover_messages(struct server *s)
{
    message_log_recover(&s->messages);
}

/* The ports the kernel chose (--port 0, --tls-port 0, BROKER_PORT_FREE) back into the
 * configuration, so the logs, the management API's listeners and the READY line say them. */
static void record_bound_ports(struct server *s)
{
    struct broker_config *c = &s->broker.config;
    if (!c->tcp_listener_count && s->tcp.listener_count)
        c->port = tcp_listener_port(&s->tcp.listeners[0]);
    if (s->tls_on && c->tls_port)
        c->tls_port = tcp_listener_port(&s->tls.listeners[0]);
    if (s->api_on) {
        c->management_port = http_server_port(&s->api.http, false);
        c->management_ssl.port = http_server_port(&s->api.http, true);
    }
    if (s->prometheus_on) {
        c->prometheus_port = http_server_port(&s->prometheus.http, false);
        c->prometheus_ssl.port = http_server_port(&s->prometheus.http, true);
    }
}

/* " key=a,b" for one kind of listener, from tcp_listener_addresses' "a, b"; nothing when
 * there is none. */
static void append_ready_kind(char *line, size_t len, const char *key, const char *addresses)
{
    size_t used = strlen(line);
    if (!*addresses || used + strlen(key) + 2 >= len)
        return;
    used += (size_t)snprintf(line + used, len - used, " %s=", key);
    for (const char *p = addresses; *p && used + 1 < len; p++)
        if (*p != ' ')
            line[used++] = *p;
    line[used] = 0;
}

/* One line on stdout once every listener listens, for test harnesses that started us with
 * --port 0 (or any ports): "WARREN_READY amqp=127.0.0.1:40123 management=127.0.0.1:40124". */
static void print_ready_line(struct server *s)
{
    char line[1024] = "WARREN_READY", one[BROKER_MAX_LISTENERS * 56];
    tcp_server_addresses(&s->tcp, one, sizeof one);
    append_ready_kind(line, sizeof line, "amqp", one);
    if (s->tls_on) {
        tls_server_addresses(&s->tls, one, sizeof one);
        append_ready_kind(line, sizeof line, "amqps", one);
    }
    static const char *const keys[2][2] = {{"management", "management_https"},
                                           {"prometheus", "prometheus_https"}};
    struct http_server *http[2] = {s->api_on ? &s->api.http : NULL,
                                   s->prometheus_on ? &s->prometheus.http : NULL};
    for (int i = 0; i < 2; i++)
        for (int tls = 0; http[i] && tls < 2; tls++) {
            http_server_addresses(http[i], tls, one, sizeof one);
            append_ready_kind(line, sizeof line, keys[i][tls], one);
        }
    size_t used = strlen(line);
    snprintf(line + used, sizeof line - used, " pid=%ld\n", (long)getpid());
    fputs(line, stdout);
    fflush(stdout);
}

/* Logs where an HTTP server listens: "management API listening on 127.0.0.1:15672". */
static void log_http(struct server *s, const char *what, const char *bind, int port, bool tls)
{
    if (port)
        log_info(&s->broker.log, "%s listening on %s:%d%s", what, bind, port, tls ? " (HTTPS)" : "");
}

/* The management API and Prometheus, each over HTTP, HTTPS or both. On failure logs why,
 * stops what started and tidies up: the caller returns 1. */
static bool start_http(struct server *s)
{
    const struct broker_config *c = &s->broker.config;
    char why[1024];
    int rc = 0;
    const char *mbind = c->management_bind ? c->management_bind : c->bind;
    const char *pbind = c->prometheus_bind ? c->prometheus_bind : c->bind;
    if (c->management_port || c->management_ssl.port) {
        rc = api_start(&s->api, &s->loop, &s->broker, &s->tcp, why, sizeof why);
        s->api_on = rc == 0;
    }
    if (rc == 0 && (c->prometheus_port || c->prometheus_ssl.port)) {
        rc = prometheus_start(&s->prometheus, &s->loop, &s->broker, &s->tcp, why, sizeof why);
        s->prometheus_on = rc == 0;
    }
    if (rc != 0) {
        log_error(&s->broker.log, "%s", why);
        on_signal(&s->sigterm, SIGTERM);
        uv_run(&s->loop, UV_RUN_DEFAULT);
        close_loop(s);
        close_store(s); /* what changed while connections closed goes to disk too */
        log_close_file(&s->broker.log);
        broker_free(&s->broker);
        return false;
    }
    record_bound_ports(s);
    log_http(s, "management API", mbind, s->api_on ? c->management_port : 0, false);
    log_http(s, "management API", c->management_ssl.bind ? c->management_ssl.bind : mbind,
             s->api_on ? c->management_ssl.port : 0, true);
    log_http(s, "Prometheus metrics", pbind, s->prometheus_on ? c->prometheus_port : 0, false);
    log_http(s, "Prometheus metrics", c->prometheus_ssl.bind ? c->prometheus_ssl.bind : pbind,
             s->prometheus_on ? c->prometheus_ssl.port : 0, true);
    return true;
}

int server_run(const struct broker_config *config)
{
    signal(SIGPIPE, SIG_IGN);
    raise_file_limit();
    struct server s;
    int rc = uv_loop_init(&s.loop);
    if (rc < 0) {
        fprintf(stderr, "warren: cannot start the event loop: %s\n", uv_strerror(rc));
        return 1;
    }
    broker_init(&s.broker, config);
    s.data_dir = (struct data_dir){.lock_fd = -1};
    s.definitions = (struct definitions_store){.journal = {.fd = -1, .dir_fd = -1}};
    s.durable = false;
    s.tls_on = false;
    s.sighup_on = s.api_on = s.prometheus_on = false;
    s.commit_store.run = NULL;
    if (config->log_file &&
        (rc = log_open_file(&s.broker.log, config->log_file, config->log_file_level)) < 0) {
        fprintf(stderr, "warren: cannot open the log file %s: %s\n", config->log_file,
                strerror(-rc));
        close_loop(&s);
        broker_free(&s.broker);
        return 1;
    }
    char why[1024];
    if (!restore_definitions(&s, why, sizeof why)) {
        log_error(&s.broker.log, "%s", why);
        close_loop(&s);
        close_store(&s);
        log_close_file(&s.broker.log);
        broker_free(&s.broker);
        return 1;
    }
    if (config->data_dir && !open_message_log(&s, why, sizeof why)) {
        log_error(&s.broker.log, "%s", why);
        close_loop(&s);
        close_store(&s);
        log_close_file(&s.broker.log);
        broker_free(&s.broker);
        return 1;
    }
    /* after every durable queue is back, before any listener opens */
    if (s.durable)
        store_recover_messages(&s);
    if (!start_listeners(&s)) {
        stop_message_log(&s);
        close_loop(&s);
        close_store(&s);
        log_close_file(&s.broker.log);
        broker_free(&s.broker);
        return 1;
    }
    start_loop_handles(&s);
    char addresses[ADDRESSES_SIZE];
    listener_addresses(&s, addresses, sizeof addresses);
    log_info(&s.broker.log, "Warren %s listening on %s", PACKAGE_VERSION, addresses);
    if (!start_http(&s))
        return 1;
    print_ready_line(&s);
    notify_ready(&s, addresses); /* after the last listener */
    uv_run(&s.loop, UV_RUN_DEFAULT);

    log_info(&s.broker.log, "stopped");
    close_loop(&s);
    close_store(&s); /* every change made while connections closed is on disk */
    log_close_file(&s.broker.log);
    broker_free(&s.broker); /* last: connections and the heap's users are gone */
    return 0;
}
