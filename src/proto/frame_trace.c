/* Frame traces: rings of whole frames, bounded by count and octets, the oldest let go first. */
#include "proto/frame_trace.h"

#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "amqp_frame.h"
#include "amqp_wire.h"
#include "core/alloc.h"
#include "core/container.h"

struct frame_traces *frame_traces_new(void)
{
    struct frame_traces *t = xcalloc(1, sizeof *t);
    list_init(&t->traces);
    return t;
}

static void drop_oldest(struct frame_trace *trace)
{
    struct frame_trace_record *r = &trace->ring[trace->head];
    trace->bytes -= r->len;
    free(r->bytes);
    r->bytes = NULL;
    trace->head = (trace->head + 1) % trace->cap;
    trace->len--;
    trace->dropped++;
}

static void empty(struct frame_trace *trace)
{
    while (trace->len)
        drop_oldest(trace);
    trace->dropped = trace->recorded = 0;
    trace->head = 0;
}

static void trace_free(struct frame_trace *trace)
{
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &trace->taps) {
        struct frame_tap *tap = list_entry(pos, struct frame_tap, link);
        frame_tap_detach(tap);
    }
    empty(trace);
    for (uint32_t i = 0; i < trace->nstreams; i++)
        free(trace->streams[i].name);
    free(trace->streams);
    free(trace->ring);
    free(trace->name);
    list_remove(&trace->link);
    free(trace);
}

void frame_traces_free(struct frame_traces *t)
{
    while (!list_empty(&t->traces))
        trace_free(list_entry(t->traces.next, struct frame_trace, link));
    free(t);
}

struct frame_trace *frame_traces_find(struct frame_traces *t, enum frame_trace_kind kind,
                                      const char *name)
{
    struct list *pos;
    list_for_each(pos, &t->traces) {
        struct frame_trace *trace = list_entry(pos, struct frame_trace, link);
        if (trace->kind == kind && !strcmp(trace->name, name))
            return trace;
    }
    return NULL;
}

struct frame_trace *frame_traces_start(struct frame_traces *t, enum frame_trace_kind kind,
                                       const char *name, size_t frames, size_t max_bytes)
{
    struct frame_trace *trace = frame_traces_find(t, kind, name);
    if (trace) {
        empty(trace);
        free(trace->ring);
    } else {
        trace = xcalloc(1, sizeof *trace);
        trace->kind = kind;
        trace->name = xstrdup(name);
        list_init(&trace->taps);
        list_push_back(&t->traces, &trace->link);
    }
    trace->cap = frames;
    trace->ring = xcalloc(frames, sizeof *trace->ring);
    trace->max_bytes = max_bytes;
    return trace;
}

void frame_traces_delete(struct frame_traces *t, struct frame_trace *trace)
{
    (void)t;
    trace_free(trace);
}

void frame_traces_connection_opened(struct frame_traces *t, struct frame_tap *tap,
                                    const char *vhost, const char *connection, bool tls)
{
    if (tap->trace)
        return;
    struct frame_trace *trace = frame_traces_find(t, FRAME_TRACE_VHOST, vhost);
    if (trace)
        frame_tap_attach(tap, trace, connection, tls);
}

void frame_tap_init(struct frame_tap *tap)
{
    tap->trace = NULL;
    list_init(&tap->link);
}

/* Forgets the connections that neither record nor have a frame left in the ring, so that a
 * vhost trace of many short connections stays bounded. */
static void compact_streams(struct frame_trace *trace)
{
    uint32_t *map = xcalloc(trace->nstreams, sizeof *map); /* new index + 1; 0: unused */
    for (size_t i = 0; i < trace->len; i++)
        map[frame_trace_at(trace, i)->stream] = 1;
    struct list *pos;
    list_for_each(pos, &trace->taps)
        map[list_entry(pos, struct frame_tap, link)->stream] = 1;
    uint32_t kept = 0;
    for (uint32_t i = 0; i < trace->nstreams; i++) {
        if (map[i]) {
            trace->streams[kept] = trace->streams[i];
            map[i] = ++kept;
        } else {
            free(trace->streams[i].name);
        }
    }
    trace->nstreams = kept;
    for (size_t i = 0; i < trace->len; i++) {
        struct frame_trace_record *r = &trace->ring[(trace->head + i) % trace->cap];
        r->stream = map[r->stream] - 1;
    }
    list_for_each(pos, &trace->taps) {
        struct frame_tap *t = list_entry(pos, struct frame_tap, link);
        t->stream = map[t->stream] - 1;
    }
    free(map);
}

void frame_tap_attach(struct frame_tap *tap, struct frame_trace *trace, const char *connection,
                      bool tls)
{
    frame_tap_detach(tap);
    if (trace->nstreams == trace->streams_cap) {
        if (trace->nstreams >= 64)
            compact_streams(trace);
        /* grow unless that freed half: each compaction then pays for as many attaches */
        if (trace->nstreams > trace->streams_cap / 2 || !trace->streams_cap) {
            trace->streams_cap = trace->streams_cap ? trace->streams_cap * 2 : 4;
            trace->streams = xrealloc_array(trace->streams, trace->streams_cap,
                                            sizeof *trace->streams);
        }
    }
    trace->streams[trace->nstreams] = (struct frame_trace_stream){xstrdup(connection), tls};
    tap->stream = trace->nstreams++;
    tap->trace = trace;
    list_push_back(&trace->taps, &tap->link);
}

void frame_tap_detach(struct frame_tap *tap)
{
    if (!tap->trace)
        return;
    list_remove(&tap->link);
    tap->trace = NULL;
}

static uint64_t now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec;
}

void frame_tap_record(struct frame_tap *tap, enum frame_trace_direction dir, const uint8_t *frame,
                      size_t len)
{
    struct frame_trace *trace = tap->trace;
    if (len > trace->max_bytes)
        return; /* a frame larger than the whole ring is counted, never kept */
    while (trace->len == trace->cap || trace->bytes + len > trace->max_bytes)
        drop_oldest(trace);
    struct frame_trace_record *r = &trace->ring[(trace->head + trace->len) % trace->cap];
    r->time_us = now_us();
    r->stream = tap->stream;
    r->direction = (uint8_t)dir;
    r->len = (uint32_t)len;
    r->bytes = xmalloc(len ? len : 1);
    memcpy(r->bytes, frame, len);
    trace->len++;
    trace->bytes += len;
    trace->recorded++;
}

void frame_tap_record_output(struct frame_tap *tap, const struct output *o)
{
    /* the frames may straddle buffers (bodies spliced in by reference): one copy, only while
     * tracing */
    uv_buf_t *bufs = NULL;
    unsigned cap = 0;
    unsigned n = output_iov(o, &bufs, &cap);
    size_t total = output_len(o);
    uint8_t *all = xmalloc(total ? total : 1);
    size_t at = 0;
    for (unsigned i = 0; i < n; i++) {
        memcpy(all + at, bufs[i].base, bufs[i].len);
        at += bufs[i].len;
    }
    free(bufs);
    /* whole frames only: the output never holds a part of one */
    for (size_t off = 0; off + AMQP_FRAME_OVERHEAD <= at;) {
        size_t len = AMQP_FRAME_OVERHEAD + (size_t)amqp_get_u32(all + off + 3);
        if (off + len > at || all[off + len - 1] != AMQP_FRAME_END)
            break;
        frame_tap_record(tap, FRAME_TRACE_OUT, all + off, len);
        off += len;
    }
    free(all);
}
