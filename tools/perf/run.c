/* The run's life: connect and declare, start workers, sample counters, stop, clean up. */
#include "run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "clock.h"
#include "session.h"

#define COUNT_POLL_NS 2000000ull      /* how often count-based ends are checked */
#define IDLE_END_NS 1000000000ull     /* consumers without -D stop after this much quiet */
#define SIGNAL_POLL_NS 50000000ull    /* how late a signal or an error may be noticed */

void run_init(struct run *r, const struct options *o, const volatile sig_atomic_t *interrupted)
{
    memset(r, 0, sizeof *r);
    r->opts = o;
    r->interrupted = interrupted;
    errors_init(&r->errors);
    atomic_init(&r->stop, false);
    r->control.fd = -1;
    histogram_init(&r->latency);
}

static unsigned threads_for(unsigned connections)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned limit = cores > 0 ? (unsigned)cores : 1;
    return connections < limit ? connections : limit;
}

static int open_session(struct run *r, struct stream *s, const char *name)
{
    struct session_failure why;
    if (session_open(s, &r->opts->uri, r->tls, name, &why) == SESSION_OK)
        return 0;
    errors_add(&r->errors, "%s", why.text);
    return -1;
}

static int call(struct run *r, struct stream *s, struct amqp_method *m, uint32_t reply_id)
{
    struct session_failure why;
    struct amqp_method reply;
    if (session_call(s, m, reply_id, &reply, &why) == SESSION_OK)
        return 0;
    errors_add(&r->errors, "%s", why.text);
    return -1;
}

static int setup_consumer(struct run *r, unsigned i)
{
    const struct options *o = r->opts;
    struct consumer *c = &r->consumers[i];
    char name[48];
    snprintf(name, sizeof name, "consumer %u", i);
    if (open_session(r, &c->st, name) < 0)
        return -1;
    consumer_init(c, i, o);
    if (o->qos) {
        struct amqp_method qos = {.id = AMQP_BASIC_QOS, .basic_qos = {.prefetch_count = o->qos}};
        if (call(r, &c->st, &qos, AMQP_BASIC_QOS_OK) < 0)
            return -1;
    }
    /* Without producers a backlog flows from the first consume on: the clock starts there. */
    if (o->producers == 0 && r->start_ns == 0)
        r->start_ns = clock_now_ns();
    struct amqp_method consume = {
        .id = AMQP_BASIC_CONSUME,
        .basic_consume = {.queue = amqp_cstr(topology_queue_for(&r->topology, i)),
                          .no_ack = o->autoack}};
    if (call(r, &c->st, &consume, AMQP_BASIC_CONSUME_OK) < 0)
        return -1;
    worker_add_consumer(r->consumer_workers[i % r->consumer_threads], c);
    return 0;
}

static int setup_producer(struct run *r, unsigned i)
{
    const struct options *o = r->opts;
    struct producer *p = &r->producers[i];
    char name[48];
    snprintf(name, sizeof name, "producer %u", i);
    if (open_session(r, &p->st, name) < 0)
        return -1;
    if (o->confirm) {
        struct amqp_method select = {.id = AMQP_CONFIRM_SELECT};
        if (call(r, &p->st, &select, AMQP_CONFIRM_SELECT_OK) < 0)
            return -1;
    }
    producer_init(p, i, o, o->exchange, topology_routing_key_for(&r->topology, o, i));
    worker_add_producer(r->producer_workers[i % r->producer_threads], p);
    return 0;
}

int run_setup(struct run *r)
{
    const struct options *o = r->opts;
    if (o->uri.tls) {
        char err[ERRORS_TEXT_MAX - 32];
        r->tls = tls_context_new(o->cacert[0] ? o->cacert : NULL, err, sizeof err);
        if (!r->tls) {
            errors_add(&r->errors, "TLS: %s", err);
            return -1;
        }
    }
    if (open_session(r, &r->control, "control") < 0)
        return -1;
    if (topology_declare(&r->topology, &r->control, o, &r->errors) < 0)
        return -1;
    r->consumer_threads = threads_for(o->consumers);
    r->producer_threads = threads_for(o->producers);
    r->consumer_workers = calloc(r->consumer_threads + 1, sizeof *r->consumer_workers);
    r->producer_workers = calloc(r->producer_threads + 1, sizeof *r->producer_workers);
    r->consumers = calloc(o->consumers + 1, sizeof *r->consumers);
    r->producers = calloc(o->producers + 1, sizeof *r->producers);
    if (!r->consumer_workers || !r->producer_workers || !r->consumers || !r->producers)
        abort();
    for (unsigned i = 0; i < o->consumers; i++)
        r->consumers[i].st.fd = -1;
    for (unsigned i = 0; i < o->producers; i++)
        r->producers[i].st.fd = -1;
    for (unsigned i = 0; i < r->consumer_threads; i++)
        r->consumer_workers[i] = worker_new(WORKER_CONSUMERS, &r->stop, &r->errors);
    for (unsigned i = 0; i < r->producer_threads; i++)
        r->producer_workers[i] = worker_new(WORKER_PRODUCERS, &r->stop, &r->errors);
    for (unsigned i = 0; i < o->consumers; i++)
        if (setup_consumer(r, i) < 0)
            return -1;
    for (unsigned i = 0; i < o->producers; i++)
        if (setup_producer(r, i) < 0)
            return -1;
    return 0;
}

static void sum_totals(struct worker **workers, unsigned n, struct totals *t)
{
    for (unsigned i = 0; i < n; i++) {
        const struct counters *k = &workers[i]->counters;
        t->sent += counters_get(&k->sent);
        t->confirmed += counters_get(&k->confirmed);
        t->nacked += counters_get(&k->nacked);
        t->returned += counters_get(&k->returned);
        t->received += counters_get(&k->received);
        t->bytes += counters_get(&k->bytes);
    }
}

static void snapshot(struct run *r, struct totals *t, struct histogram *latency)
{
    memset(t, 0, sizeof *t);
    sum_totals(r->producer_workers, r->producer_threads, t);
    sum_totals(r->consumer_workers, r->consumer_threads, t);
    histogram_init(latency);
    for (unsigned i = 0; i < r->consumer_threads; i++)
        histogram_add(latency, &r->consumer_workers[i]->histogram);
}

static uint64_t finished(struct worker **workers, unsigned n)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < n; i++)
        sum += counters_get_acquire(&workers[i]->counters.finished);
    return sum;
}

static uint64_t last_event(struct run *r)
{
    uint64_t last = r->start_ns;
    for (unsigned i = 0; i < r->producer_threads; i++) {
        uint64_t t = counters_get(&r->producer_workers[i]->counters.last_event_ns);
        last = t > last ? t : last;
    }
    for (unsigned i = 0; i < r->consumer_threads; i++) {
        uint64_t t = counters_get(&r->consumer_workers[i]->counters.last_event_ns);
        last = t > last ? t : last;
    }
    return last;
}

/* With -C or -D: producers are done at their count (or have none, or run until the consumers
 * reach -D); consumers at -D, or after a quiet second once the producers are done. */
static bool done_by_count(struct run *r, uint64_t now)
{
    const struct options *o = r->opts;
    if (!o->pmessages && !o->cmessages)
        return false;
    bool producers_done = o->producers == 0 || (o->pmessages ? finished(r->producer_workers,
                                                                        r->producer_threads) ==
                                                                   o->producers
                                                             : true);
    if (!producers_done)
        return false;
    if (o->consumers == 0)
        return true;
    if (o->cmessages)
        return finished(r->consumer_workers, r->consumer_threads) == o->consumers;
    return now - last_event(r) >= IDLE_END_NS;
}

static void sleep_until(uint64_t deadline_ns)
{
    struct timespec ts = {.tv_sec = (time_t)(deadline_ns / CLOCK_NS_PER_S),
                          .tv_nsec = (long)(deadline_ns % CLOCK_NS_PER_S)};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

static double seconds(uint64_t ns)
{
    return (double)ns / 1e9;
}

static double timeval_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static int start_workers(struct run *r)
{
    for (unsigned i = 0; i < r->consumer_threads; i++)
        if (worker_start(r->consumer_workers[i]) < 0)
            return -1;
    if (r->start_ns == 0)
        r->start_ns = clock_now_ns();
    for (unsigned i = 0; i < r->opts->producers; i++)
        producer_start_pacing(&r->producers[i], r->start_ns,
                              (double)i / (double)r->opts->producers);
    for (unsigned i = 0; i < r->producer_threads; i++)
        if (worker_start(r->producer_workers[i]) < 0)
            return -1;
    return 0;
}

static void progress_line(struct run *r, FILE *out, uint64_t now, uint64_t since,
                          struct totals *prev)
{
    struct totals t;
    snapshot(r, &t, &r->sample_now);
    struct totals delta = {.sent = t.sent - prev->sent,
                           .confirmed = t.confirmed - prev->confirmed,
                           .received = t.received - prev->received};
    histogram_init(&r->sample_interval);
    histogram_add(&r->sample_interval, &r->sample_now);
    histogram_subtract(&r->sample_interval, &r->sample_prev);
    report_progress(out, seconds(now - r->start_ns), seconds(now - since), &delta,
                    &r->sample_interval);
    histogram_init(&r->sample_prev);
    histogram_add(&r->sample_prev, &r->sample_now);
    *prev = t;
}

/* Samples until the end. Returns the end time of a run that ended by its counts (the last
 * event's time), or 0 when it ended by time, signal or error (the caller reads the clock). */
static uint64_t sample(struct run *r, FILE *progress)
{
    const struct options *o = r->opts;
    uint64_t interval_ns = (uint64_t)(o->interval_s * 1e9);
    uint64_t end_ns = o->time_s > 0 ? r->start_ns + (uint64_t)(o->time_s * 1e9) : UINT64_MAX;
    uint64_t next_tick = r->start_ns + interval_ns, last_tick = r->start_ns;
    bool by_count = o->pmessages || o->cmessages;
    struct totals prev = {0};
    histogram_init(&r->sample_prev);
    for (;;) {
        uint64_t now = clock_now_ns();
        uint64_t wake = next_tick < end_ns ? next_tick : end_ns;
        uint64_t poll = by_count ? COUNT_POLL_NS : SIGNAL_POLL_NS;
        if (now + poll < wake)
            wake = now + poll;
        sleep_until(wake);
        now = clock_now_ns();
        if (*r->interrupted || errors_any(&r->errors) || now >= end_ns)
            return 0;
        if (by_count && done_by_count(r, now)) {
            uint64_t last = last_event(r);
            return last > r->start_ns ? last : now;
        }
        if (now >= next_tick) {
            progress_line(r, progress, now, last_tick, &prev);
            last_tick = now;
            while (next_tick <= now)
                next_tick += interval_ns;
        }
    }
}

int run_measure(struct run *r, struct summary *s)
{
    memset(s, 0, sizeof *s);
    s->latency = &r->latency;
    if (r->control.tls)
        tls_describe(r->control.tls, s->tls, sizeof s->tls);
    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    if (start_workers(r) < 0) {
        atomic_store(&r->stop, true);
        return -1;
    }
    uint64_t end_ns = sample(r, r->opts->json ? stderr : stdout);
    if (end_ns == 0)
        end_ns = clock_now_ns(); /* the counts below are read right after this instant */
    snapshot(r, &s->totals, &r->latency);
    getrusage(RUSAGE_SELF, &after);
    atomic_store(&r->stop, true);
    s->duration_s = seconds(end_ns - r->start_ns);
    s->cpu_user_s = timeval_s(after.ru_utime) - timeval_s(before.ru_utime);
    s->cpu_sys_s = timeval_s(after.ru_stime) - timeval_s(before.ru_stime);
    return 0;
}

static void join_all(struct worker **workers, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (workers[i]->thread_started)
            worker_join(workers[i]);
}

void run_teardown(struct run *r)
{
    atomic_store(&r->stop, true);
    if (r->producer_workers)
        join_all(r->producer_workers, r->producer_threads);
    if (r->consumer_workers)
        join_all(r->consumer_workers, r->consumer_threads);
    /* Connections the workers never took over (a failed set-up) are just closed. */
    for (unsigned i = 0; r->producers && i < r->opts->producers; i++)
        if (r->producers[i].st.fd >= 0)
            session_close(&r->producers[i].st);
    for (unsigned i = 0; r->consumers && i < r->opts->consumers; i++)
        if (r->consumers[i].st.fd >= 0)
            session_close(&r->consumers[i].st);
    topology_cleanup(&r->topology, &r->control, &r->errors);
    session_close(&r->control);
}

void run_free(struct run *r)
{
    for (unsigned i = 0; r->producers && i < r->opts->producers; i++) {
        producer_free(&r->producers[i]);
        stream_close(&r->producers[i].st);
    }
    for (unsigned i = 0; r->consumers && i < r->opts->consumers; i++)
        stream_close(&r->consumers[i].st);
    for (unsigned i = 0; r->producer_workers && i < r->producer_threads; i++)
        worker_free(r->producer_workers[i]);
    for (unsigned i = 0; r->consumer_workers && i < r->consumer_threads; i++)
        worker_free(r->consumer_workers[i]);
    free(r->producers);
    free(r->consumers);
    free(r->producer_workers);
    free(r->consumer_workers);
    topology_free(&r->topology);
    stream_close(&r->control);
    tls_context_free(r->tls);
    errors_destroy(&r->errors);
}
