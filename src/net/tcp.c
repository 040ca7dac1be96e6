/* The TCP listener and its connections' transport: reads into the connection, batched writes. */
#include "net/tcp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/container.h"
#include "proto/connection.h"

struct tcp_conn {
    uv_tcp_t handle;
    struct list link; /* in tcp_server.conns */
    struct list dirty_link; /* in tcp_server.dirty while output waits for the flusher */
    struct list paused_link; /* in tcp_server.paused while flow control stops its reads */
    struct tcp_server *server;
    struct connection *conn;
    struct output inflight; /* handed to uv_write; swapped with the connection's output */
    uv_buf_t *iov;
    unsigned iov_cap;
    uv_write_t write_req;
    struct deadline linger; /* bounds how long a close waits for pending output */
    /* Fault injection: what the connection asks of its writes (NULL: nothing, the usual) */
    struct output_fault *fault;
    struct deadline delay;  /* the held-back write is due */
    bool delay_over;
    bool writing;
    bool closing;
};

/* A peer that stops reading cannot hold a closing connection (and what it owns) longer. */
#define LINGER_MS 5000

static void start_write(struct tcp_conn *t);

static void drained(struct tcp_server *s)
{
    if (s->on_drained)
        s->on_drained(s);
}

static void on_closed(uv_handle_t *h)
{
    struct tcp_conn *t = h->data;
    struct tcp_server *s = t->server;
    /* whatever path closed it, nothing may still point at the freed struct */
    deadline_heap_remove(&s->broker->deadlines, &t->linger);
    deadline_heap_remove(&s->broker->deadlines, &t->delay);
    connection_destroy(t->conn);
    output_free(&t->inflight);
    free(t->iov);
    list_remove(&t->link);
    list_remove(&t->dirty_link);
    list_remove(&t->paused_link);
    free(t);
    if (--s->conn_count == 0 && s->stopping)
        drained(s);
}

static void close_now(struct tcp_conn *t)
{
    if (uv_is_closing((uv_handle_t *)&t->handle))
        return;
    deadline_heap_remove(&t->server->broker->deadlines, &t->linger);
    uv_close((uv_handle_t *)&t->handle, on_closed); /* cancels a pending write */
}

static void on_linger_timeout(struct deadline *d, uint64_t now_ms)
{
    (void)now_ms;
    close_now(container_of(d, struct tcp_conn, linger));
}

/* Fault injection: the socket goes without another byte, as if the network failed. */
static void cut(struct tcp_conn *t)
{
    t->fault = NULL;
    output_reset(connection_output(t->conn));
    if (!t->closing)
        connection_read_eof(t->conn, "socket cut by fault injection");
    close_now(t);
}

static void on_written(uv_write_t *req, int status)
{
    struct tcp_conn *t = req->data;
    t->writing = false;
    output_reset(&t->inflight);
    if (status < 0) {
        if (!t->closing)
            connection_read_eof(t->conn, uv_strerror(status));
        close_now(t);
        return;
    }
    if (__builtin_expect(t->fault != NULL, 0) && t->fault->cut_armed && t->fault->cut_after == 0) {
        cut(t);
        return;
    }
    if (!t->closing)
        connection_write_done(t->conn); /* may queue more: deliveries held back by a full buffer */
    if (output_len(connection_output(t->conn)))
        start_write(t);
    else if (t->closing)
        close_now(t);
}

/* Hands the connection's output to the socket, at most limit bytes of it. */
static void write_output(struct tcp_conn *t, size_t limit)
{
    struct output *out = connection_output(t->conn);
    struct output pending = *out; /* swap buffers: no copy, the old one is reused */
    *out = t->inflight;
    t->inflight = pending;
    unsigned n = output_iov(&t->inflight, &t->iov, &t->iov_cap);
    connection_output_taken(t->conn, &t->inflight);
    size_t len = output_len(&t->inflight);
    if (__builtin_expect(limit < len, 0)) {
        n = output_iov_limit(t->iov, n, limit);
        len = limit;
    }
    connection_sent(t->conn, len);
    t->writing = true;
    int rc = uv_write(&t->write_req, (uv_stream_t *)&t->handle, t->iov, n, on_written);
    if (rc < 0) {
        t->writing = false;
        close_now(t);
    }
}

static void on_delay_over(struct deadline *d, uint64_t now_ms)
{
    (void)now_ms;
    struct tcp_conn *t = container_of(d, struct tcp_conn, delay);
    t->delay_over = true;
    start_write(t);
}

/* Fault injection: each write waits out the delay; a cut lets through the bytes it allows. */
static void start_faulty_write(struct tcp_conn *t)
{
    size_t limit;
    size_t pending = output_len(connection_output(t->conn));
    switch (output_fault_next(t->fault, pending, &t->delay_over, &limit)) {
    case OUTPUT_FAULT_CUT: cut(t); break;
    case OUTPUT_FAULT_WAIT:
        if (pending && !deadline_pending(&t->delay)) {
            struct broker *b = t->server->broker;
            deadline_heap_add(&b->deadlines, &t->delay, clock_now_ms(&b->clock) + t->fault->delay_ms);
        }
        break;
    case OUTPUT_FAULT_WRITE: write_output(t, limit); break;
    }
}

static void start_write(struct tcp_conn *t)
{
    if (t->writing || uv_is_closing((uv_handle_t *)&t->handle))
        return;
    if (__builtin_expect(t->fault != NULL, 0)) {
        start_faulty_write(t);
        return;
    }
    if (output_len(connection_output(t->conn)) == 0)
        return;
    write_output(t, SIZE_MAX);
}

static void io_flush(void *ctx);

static void io_set_output_fault(void *ctx, struct output_fault *f)
{
    struct tcp_conn *t = ctx;
    if (!f || !f->delay_ms) {
        deadline_heap_remove(&t->server->broker->deadlines, &t->delay);
        t->delay_over = false;
    }
    t->fault = f;
    io_flush(t); /* the next write pass obeys it: a cut now, what a delay held back */
}

/* Output is written once per loop iteration (tcp_server_write_dirty), so many frames leave in
 * one write. */
static void io_flush(void *ctx)
{
    struct tcp_conn *t = ctx;
    if (list_empty(&t->dirty_link))
        list_push_back(&t->server->dirty, &t->dirty_link);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void io_pause_reading(void *ctx)
{
    struct tcp_conn *t = ctx;
    uv_read_stop((uv_stream_t *)&t->handle);
    if (list_empty(&t->paused_link))
        list_push_back(&t->server->paused, &t->paused_link);
}

void tcp_server_resume_readers(struct tcp_server *s)
{
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &s->paused) {
        struct tcp_conn *t = list_entry(pos, struct tcp_conn, paused_link);
        if (t->closing) {
            list_remove(&t->paused_link);
        } else if (connection_may_read(t->conn)) {
            list_remove(&t->paused_link);
            uv_read_start((uv_stream_t *)&t->handle, on_alloc, on_read);
            connection_read_resumed(t->conn); /* may pause it again: it joins the tail */
        }
    }
}

void tcp_server_write_dirty(struct tcp_server *s)
{
    while (!list_empty(&s->dirty)) {
        struct tcp_conn *t = list_entry(s->dirty.next, struct tcp_conn, dirty_link);
        list_remove(&t->dirty_link);
        start_write(t);
    }
}

static void io_close(void *ctx)
{
    struct tcp_conn *t = ctx;
    t->closing = true;
    list_remove(&t->dirty_link);
    list_remove(&t->paused_link);
    uv_read_stop((uv_stream_t *)&t->handle);
    if (!t->writing && output_len(connection_output(t->conn)) == 0) {
        close_now(t);
        return;
    }
    start_write(t);
    if (uv_is_closing((uv_handle_t *)&t->handle)) /* the write failed at once */
        return;
    struct broker *b = t->server->broker;
    deadline_heap_reschedule(&b->deadlines, &t->linger, clock_now_ms(&b->clock) + LINGER_MS);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct tcp_conn *t = h->data;
    char *base;
    size_t len;
    connection_read_buffer(t->conn, &base, &len);
    *buf = uv_buf_init(base, (unsigned)(len > UINT32_MAX ? UINT32_MAX : len));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct tcp_conn *t = stream->data;
    if (nread > 0) {
        connection_received(t->conn, (size_t)nread);
        connection_read_done(t->conn, (size_t)nread);
    } else if (nread < 0) {
        connection_read_eof(t->conn, nread == UV_EOF ? "connection closed by peer" : uv_strerror((int)nread));
        /* what the connection still queued (a connection.close read in the same iteration as
         * the FIN) goes out first: a half-closed peer still reads; io_close lingers for it */
        if (!t->closing)
            close_now(t);
    }
}

static void format_address(const struct sockaddr_storage *sa, char *out, size_t len)
{
    char host[48] = "?";
    int port = 0;
    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        uv_ip4_name(in, host, sizeof host);
        port = ntohs(in->sin_port);
    } else if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        uv_ip6_name(in6, host, sizeof host);
        port = ntohs(in6->sin6_port);
    }
    snprintf(out, len, "%s:%d", host, port);
}

void tcp_connection_name(uv_tcp_t *h, char *out, size_t len)
{
    struct sockaddr_storage peer = {0}, local = {0};
    int n = sizeof peer;
    uv_tcp_getpeername(h, (struct sockaddr *)&peer, &n);
    n = sizeof local;
    uv_tcp_getsockname(h, (struct sockaddr *)&local, &n);
    char p[60], l[60];
    format_address(&peer, p, sizeof p);
    format_address(&local, l, sizeof l);
    snprintf(out, len, "%s -> %s", p, l);
}

static void free_unaccepted(uv_handle_t *h)
{
    struct tcp_conn *t = h->data;
    output_free(&t->inflight);
    free(t);
}

/* RabbitMQ's rabbit_net:is_loopback: 127.0.0.0/8, ::1, and IPv4 loopback mapped into IPv6. */
bool tcp_peer_is_loopback(uv_tcp_t *handle)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getpeername(handle, (struct sockaddr *)&ss, &len) < 0)
        return false;
    if (ss.ss_family == AF_INET)
        return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss.ss_family != AF_INET6)
        return false;
    const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct tcp_server *s = listener->data;
    if (status < 0) {
        log_error(&s->broker->log, "accept failed: %s", uv_strerror(status));
        return;
    }
    struct tcp_conn *t = xcalloc(1, sizeof *t);
    uv_tcp_init(s->loop, &t->handle);
    t->handle.data = t;
    t->write_req.data = t;
    t->server = s;
    list_init(&t->dirty_link);
    list_init(&t->paused_link);
    output_init(&t->inflight);
    if (uv_accept(listener, (uv_stream_t *)&t->handle) < 0) {
        uv_close((uv_handle_t *)&t->handle, free_unaccepted);
        return;
    }
    uv_tcp_nodelay(&t->handle, 1);
    deadline_init(&t->linger, on_linger_timeout);
    deadline_init(&t->delay, on_delay_over);
    char name[128];
    tcp_connection_name(&t->handle, name, sizeof name);
    struct connection_io io = {
        .flush = io_flush, .close = io_close, .pause_reading = io_pause_reading, .ctx = t,
        .peer_loopback = tcp_peer_is_loopback(&t->handle), .set_output_fault = io_set_output_fault};
    t->conn = connection_new(s->broker, &io, name);
    list_push_back(&s->conns, &t->link);
    s->conn_count++;
    log_debug(&s->broker->log, "accepting AMQP connection %s", name);
    uv_read_start((uv_stream_t *)&t->handle, on_alloc, on_read);
}

/* host NULL is RabbitMQ's port-only listener: every interface, IPv6 and IPv4 ("::" is
 * dual-stack on Linux), or IPv4 alone where there is no IPv6. */
static bool have_ipv6(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

int tcp_listen(uv_loop_t *loop, uv_tcp_t *h, const char *host, int port, int backlog,
               uv_connection_cb on_connect, void *data)
{
    if (!host && !have_ipv6())
        host = "0.0.0.0";
    struct sockaddr_storage addr;
    int rc = host ? uv_ip4_addr(host, port, (struct sockaddr_in *)&addr) : UV_EINVAL;
    if (rc < 0)
        rc = uv_ip6_addr(host ? host : "::", port, (struct sockaddr_in6 *)&addr);
    if (rc < 0)
        return rc;
    uv_tcp_init(loop, h);
    h->data = data;
    if ((rc = uv_tcp_bind(h, (struct sockaddr *)&addr, 0)) < 0 ||
        (rc = uv_listen((uv_stream_t *)h, backlog, on_connect)) < 0) {
        uv_close((uv_handle_t *)h, NULL);
        return rc;
    }
    return 0;
}

static int listen_on(struct tcp_server *s, const char *host, int port)
{
    int rc = tcp_listen(s->loop, &s->listeners[s->listener_count], host, port, 1024,
                        on_connection, s);
    if (rc == 0)
        s->listener_count++;
    return rc;
}

static void close_listeners(struct tcp_server *s)
{
    for (size_t i = 0; i < s->listener_count; i++)
        uv_close((uv_handle_t *)&s->listeners[i], NULL);
    s->listener_count = 0;
}

int tcp_server_start(struct tcp_server *s, uv_loop_t *loop, struct broker *broker)
{
    s->loop = loop;
    s->broker = broker;
    s->conn_count = 0;
    s->stopping = false;
    s->on_drained = NULL;
    s->each_other = NULL;
    s->listener_count = 0;
    s->failed_address[0] = 0;
    list_init(&s->conns);
    list_init(&s->dirty);
    list_init(&s->paused);
    const struct broker_config *cfg = &broker->config;
    struct broker_listener one = {cfg->bind, cfg->port};
    const struct broker_listener *list = cfg->tcp_listener_count ? cfg->tcp_listeners : &one;
    size_t count = cfg->tcp_listener_count ? cfg->tcp_listener_count : !cfg->tcp_listeners_none;
    for (size_t i = 0; i < count && i < BROKER_MAX_LISTENERS; i++) {
        int rc = listen_on(s, list[i].host, list[i].port);
        if (rc < 0) {
            const char *host = list[i].host ? list[i].host : "::";
            snprintf(s->failed_address, sizeof s->failed_address,
                     strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, list[i].port);
            close_listeners(s);
            return rc;
        }
    }
    return 0;
}

void tcp_server_addresses(const struct tcp_server *s, char *out, size_t len)
{
    tcp_listener_addresses(s->listeners, s->listener_count, out, len);
}

void tcp_listener_addresses(const uv_tcp_t *listeners, size_t count, char *out, size_t len)
{
    size_t used = 0;
    out[0] = 0;
    for (size_t i = 0; i < count && used < len; i++) {
        struct sockaddr_storage sa = {0};
        int n = sizeof sa;
        uv_tcp_getsockname(&listeners[i], (struct sockaddr *)&sa, &n);
        char host[48] = "?";
        int port = 0;
        if (sa.ss_family == AF_INET6) {
            uv_ip6_name((const struct sockaddr_in6 *)&sa, host, sizeof host);
            port = ntohs(((const struct sockaddr_in6 *)&sa)->sin6_port);
        } else {
            uv_ip4_name((const struct sockaddr_in *)&sa, host, sizeof host);
            port = ntohs(((const struct sockaddr_in *)&sa)->sin_port);
        }
        int w = snprintf(out + used, len - used, sa.ss_family == AF_INET6 ? "%s[%s]:%d" : "%s%s:%d",
                         i ? ", " : "", host, port);
        used += w < 0 ? 0 : (size_t)w;
    }
}

int tcp_listener_port(const uv_tcp_t *listener)
{
    struct sockaddr_storage sa = {0};
    int n = sizeof sa;
    if (uv_tcp_getsockname(listener, (struct sockaddr *)&sa, &n) < 0)
        return 0;
    if (sa.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&sa)->sin6_port);
    return ntohs(((const struct sockaddr_in *)&sa)->sin_port);
}

void tcp_server_stop(struct tcp_server *s, void (*on_drained)(struct tcp_server *s))
{
    s->stopping = true;
    s->on_drained = on_drained;
    close_listeners(s);
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &s->conns) {
        struct tcp_conn *t = list_entry(pos, struct tcp_conn, link);
        connection_shutdown(t->conn);
    }
    if (s->conn_count == 0)
        drained(s);
}

void tcp_server_each_connection(struct tcp_server *s, void (*visit)(struct connection *c, void *ctx),
                                void *ctx)
{
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &s->conns) {
        struct tcp_conn *t = list_entry(pos, struct tcp_conn, link);
        if (!uv_is_closing((uv_handle_t *)&t->handle))
            visit(t->conn, ctx);
    }
    if (s->each_other)
        s->each_other(s->other, visit, ctx);
}
