/* The worker thread: an edge-triggered epoll loop with bounded work per connection per turn. */
#include "worker.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "clock.h"
#include "link.h"

#define MAX_IDLE_WAIT_NS 20000000ull /* how late *stop may be noticed */
#define READS_PER_TURN 8
#define BATCHES_PER_TURN 8
#define OUTPUT_BACKLOG_MAX (8u << 20) /* stop reading while this much (acks) is unwritten */

struct worker *worker_new(enum worker_role role, atomic_bool *stop, struct errors *errors)
{
    struct worker *w = calloc(1, sizeof *w);
    if (!w)
        abort();
    w->role = role;
    w->stop = stop;
    w->errors = errors;
    w->epoll_fd = -1;
    counters_init(&w->counters);
    histogram_init(&w->histogram);
    return w;
}

static void *grow(void *array, size_t count, size_t size)
{
    void *p = realloc(array, (count + 1) * size);
    if (!p)
        abort();
    return p;
}

void worker_add_producer(struct worker *w, struct producer *p)
{
    w->producers = grow(w->producers, w->count, sizeof *w->producers);
    w->producers[w->count++] = p;
}

void worker_add_consumer(struct worker *w, struct consumer *c)
{
    w->consumers = grow(w->consumers, w->count, sizeof *w->consumers);
    w->consumers[w->count++] = c;
}

static struct stream *stream_at(struct worker *w, size_t i)
{
    return w->role == WORKER_PRODUCERS ? &w->producers[i]->st : &w->consumers[i]->st;
}

static int handle_input(struct worker *w, size_t i, uint64_t now)
{
    if (w->role == WORKER_PRODUCERS)
        return producer_handle_input(w->producers[i], now, &w->counters, w->errors);
    return consumer_handle_input(w->consumers[i], now, &w->counters, &w->histogram, w->errors);
}

/* Reads and handles input; the receive time of a read is taken right after it. */
static int pump_input(struct worker *w, size_t i)
{
    struct stream *s = stream_at(w, i);
    for (int n = 0; n < READS_PER_TURN && s->readable; n++) {
        ssize_t got = stream_read(s);
        if (got < 0) {
            link_lost(s, w->errors);
            return 0;
        }
        if (got == 0 && s->in_len < s->in_cap)
            break;
        if (handle_input(w, i, clock_now_ns()) < 0)
            return -1;
        stream_compact(s);
        if (s->closed)
            break;
    }
    return 0;
}

/* Queues and writes batches while the socket takes them; notes the next paced wake-up. */
static void pump_output(struct worker *w, struct producer *p, uint64_t now, uint64_t *wake,
                        bool *busy)
{
    struct stream *s = &p->st;
    for (int n = 0; n < BATCHES_PER_TURN; n++) {
        if (stream_has_output(s) && (!s->writable || stream_flush(s) <= 0))
            return;
        producer_check_finished(p, now, &w->counters);
        uint64_t allowed = producer_allowed(p, now);
        if (allowed == 0) {
            uint64_t due = producer_next_due_ns(p);
            if (due < *wake)
                *wake = due;
            return;
        }
        producer_publish(p, now, allowed, &w->counters);
        if (stream_flush(s) <= 0)
            return;
        now = clock_now_ns();
    }
    *busy = true; /* more may go right away: poll without sleeping */
}

static void shut(struct worker *w, struct stream *s)
{
    if (stream_has_output(s) && s->writable)
        stream_flush(s); /* the last close or close-ok, best effort */
    epoll_ctl(w->epoll_fd, EPOLL_CTL_DEL, s->fd, NULL);
    close(s->fd);
    s->fd = -1;
    s->closed = true;
}

/* One pass over a connection. Returns false once it is closed. */
static bool turn(struct worker *w, size_t i, uint64_t now, bool stopping, uint64_t *wake,
                 bool *busy)
{
    struct stream *s = stream_at(w, i);
    if (s->fd < 0)
        return false;
    if (stopping && !s->close_sent)
        link_begin_close(s, now);
    bool backlogged = s->out.len - s->out_off > OUTPUT_BACKLOG_MAX;
    if (s->readable && !backlogged && pump_input(w, i) < 0 && !s->closed)
        link_begin_close(s, now);
    if (s->readable && !backlogged)
        *busy = true;
    if (!stopping && !s->close_sent && w->role == WORKER_PRODUCERS)
        pump_output(w, w->producers[i], now, wake, busy);
    if (stream_has_output(s) && s->writable && stream_flush(s) < 0)
        link_lost(s, w->errors);
    if (s->closed || s->eof || (s->close_sent && now > s->close_deadline_ns)) {
        shut(w, s);
        return false;
    }
    if (s->close_sent && s->close_deadline_ns < *wake)
        *wake = s->close_deadline_ns;
    return true;
}

static void wait_events(struct worker *w, uint64_t now, uint64_t wake, bool busy)
{
    struct epoll_event events[64];
    uint64_t wait_ns = busy || wake <= now ? 0 : wake - now;
    if (wait_ns > MAX_IDLE_WAIT_NS)
        wait_ns = MAX_IDLE_WAIT_NS;
    struct timespec timeout = {.tv_sec = 0, .tv_nsec = (long)wait_ns};
    int n = epoll_pwait2(w->epoll_fd, events, 64, &timeout, NULL);
    for (int k = 0; k < n; k++) {
        struct stream *s = stream_at(w, events[k].data.u32);
        if (events[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
            s->readable = true;
        if (events[k].events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP))
            s->hangup = true;
        if (events[k].events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
            s->writable = true;
    }
}

static void *run(void *arg)
{
    struct worker *w = arg;
    /* Paced sends wake on nanosecond timeouts; the default 50 us slack would bunch them. */
    prctl(PR_SET_TIMERSLACK, 1000UL);
    /* Set-up may have read past its last reply (deliveries right after consume-ok). */
    for (size_t i = 0; i < w->count; i++)
        if (handle_input(w, i, clock_now_ns()) < 0)
            link_begin_close(stream_at(w, i), clock_now_ns());
    for (;;) {
        uint64_t now = clock_now_ns();
        bool stopping = atomic_load_explicit(w->stop, memory_order_relaxed);
        uint64_t wake = now + MAX_IDLE_WAIT_NS;
        bool busy = false;
        size_t open = 0;
        for (size_t i = 0; i < w->count; i++)
            open += turn(w, i, now, stopping, &wake, &busy);
        if (open == 0 && stopping)
            break;
        if (open == 0)
            busy = false; /* everything failed: wait for the main thread to stop us */
        wait_events(w, now, wake, busy);
    }
    return NULL;
}

int worker_start(struct worker *w)
{
    w->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (w->epoll_fd < 0) {
        errors_add(w->errors, "epoll_create1: %s", strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < w->count; i++) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                 .data.u32 = (uint32_t)i};
        if (epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, stream_at(w, i)->fd, &ev) < 0) {
            errors_add(w->errors, "epoll_ctl: %s", strerror(errno));
            return -1;
        }
    }
    int rc = pthread_create(&w->thread, NULL, run, w);
    if (rc != 0) {
        errors_add(w->errors, "pthread_create: %s", strerror(rc));
        return -1;
    }
    w->thread_started = true;
    return 0;
}

void worker_join(struct worker *w)
{
    pthread_join(w->thread, NULL);
}

void worker_free(struct worker *w)
{
    if (w->epoll_fd >= 0)
        close(w->epoll_fd);
    free(w->producers);
    free(w->consumers);
    free(w);
}
