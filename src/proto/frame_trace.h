/* Frame traces: bounded rings of the frames connections send and receive, asked for per
 * connection or per vhost through the management API, kept until it deletes them. */
#ifndef FRAME_TRACE_H
#define FRAME_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/list.h"
#include "proto/output.h"

#define FRAME_TRACE_DEFAULT_FRAMES 1000
#define FRAME_TRACE_MAX_FRAMES 1000000
/* The octets a ring may hold (whole frames), besides the frame count. */
#define FRAME_TRACE_DEFAULT_BYTES (16u << 20)
#define FRAME_TRACE_MAX_BYTES (1024u << 20)

enum frame_trace_direction { FRAME_TRACE_IN, FRAME_TRACE_OUT };
enum frame_trace_kind { FRAME_TRACE_CONNECTION, FRAME_TRACE_VHOST };

/* One frame as it went over the wire, from its type octet to its frame-end. */
struct frame_trace_record {
    uint64_t time_us;   /* wall clock */
    uint32_t stream;    /* which of the trace's connections */
    uint8_t direction;  /* enum frame_trace_direction */
    uint32_t len;
    uint8_t *bytes;
};

/* A connection that recorded into a trace. */
struct frame_trace_stream {
    char *name; /* "peer -> local", as /api/connections names it */
    bool tls;
};

struct frame_trace {
    struct list link; /* in frame_traces.traces */
    enum frame_trace_kind kind;
    char *name;       /* the connection's or the vhost's */
    struct list taps; /* struct frame_tap.link of the connections recording now */
    struct frame_trace_record *ring;
    size_t cap, head, len; /* records [head, head + len) modulo cap */
    size_t max_bytes, bytes;
    uint64_t recorded, dropped; /* frames since it began; those the ring let go */
    struct frame_trace_stream *streams;
    uint32_t nstreams, streams_cap;
};

/* What a connection holds: the trace it records into, NULL while it records nothing (the
 * one branch the frame paths pay). */
struct frame_tap {
    struct frame_trace *trace;
    uint32_t stream;
    struct list link; /* in trace->taps */
};

/* Every trace of the broker (broker.frame_traces, made by the management API). */
struct frame_traces {
    struct list traces;
};

struct frame_traces *frame_traces_new(void);
/* Frees every trace; the connections still recording stop. */
void frame_traces_free(struct frame_traces *t);
struct frame_trace *frame_traces_find(struct frame_traces *t, enum frame_trace_kind kind,
                                      const char *name);
/* A new trace, or the one of that name emptied, with these bounds. */
struct frame_trace *frame_traces_start(struct frame_traces *t, enum frame_trace_kind kind,
                                       const char *name, size_t frames, size_t max_bytes);
/* Stops and frees the trace. */
void frame_traces_delete(struct frame_traces *t, struct frame_trace *trace);
/* A connection opened to vhost: a trace of that vhost, if any, taps it (unless it records
 * already). */
void frame_traces_connection_opened(struct frame_traces *t, struct frame_tap *tap,
                                    const char *vhost, const char *connection, bool tls);

void frame_tap_init(struct frame_tap *tap);
/* The connection records into trace from now on (moving from any other). */
void frame_tap_attach(struct frame_tap *tap, struct frame_trace *trace, const char *connection,
                      bool tls);
void frame_tap_detach(struct frame_tap *tap);
/* One whole frame (header, payload, frame-end). */
void frame_tap_record(struct frame_tap *tap, enum frame_trace_direction dir, const uint8_t *frame,
                      size_t len);
/* Every frame of output handed to the socket, as frames. */
void frame_tap_record_output(struct frame_tap *tap, const struct output *o);

/* The i-th record, oldest first (i < trace->len). */
static inline const struct frame_trace_record *frame_trace_at(const struct frame_trace *t,
                                                              size_t i)
{
    return &t->ring[(t->head + i) % t->cap];
}

#endif
