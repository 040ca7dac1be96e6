/* What a connection has queued for its socket: one contiguous buffer of frames, with large
 * message bodies spliced in by reference (never copied) at the offsets they belong. */
#ifndef OUTPUT_H
#define OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "amqp_buf.h"
#include "model/message.h"

/* Bodies at least this large are referenced; smaller ones are cheaper to copy. */
#define OUTPUT_REF_MIN 512

struct output_ref {
    size_t at;          /* offset in bytes where these octets go */
    const uint8_t *ptr; /* inside msg */
    size_t len;
    struct message *msg; /* a reference, dropped by output_reset */
};

struct output {
    struct amqp_buf bytes;
    struct output_ref *refs;
    size_t nrefs, cap;
    size_t ref_bytes;
};

/* Fault injection at the socket (armed by proto/fault.c, obeyed by the transport): each write
 * is held back delay_ms; once cut_armed, cut_after more bytes are written (a frame may end
 * half sent) and then the socket is dropped. */
struct output_fault {
    uint32_t delay_ms;
    bool cut_armed;
    uint64_t cut_after;
};

/* What a transport does next with pending bytes of output while f is armed: cut the socket,
 * wait (the delay is not over: *delay_over says it is, and is cleared), or write *limit of
 * them (the cut's allowance is taken from f). */
enum output_fault_step { OUTPUT_FAULT_CUT, OUTPUT_FAULT_WAIT, OUTPUT_FAULT_WRITE };
static inline enum output_fault_step output_fault_next(struct output_fault *f, size_t pending,
                                                       bool *delay_over, size_t *limit)
{
    if (f->cut_armed && f->cut_after == 0)
        return OUTPUT_FAULT_CUT;
    if (pending == 0 || (f->delay_ms && !*delay_over))
        return OUTPUT_FAULT_WAIT;
    *delay_over = false;
    *limit = pending;
    if (f->cut_armed) {
        if (f->cut_after < pending)
            *limit = (size_t)f->cut_after;
        f->cut_after -= *limit;
    }
    return OUTPUT_FAULT_WRITE;
}

void output_init(struct output *o);
void output_free(struct output *o);
/* Drops the message references and empties it, keeping its memory. */
void output_reset(struct output *o);
static inline size_t output_len(const struct output *o)
{
    return o->bytes.len + o->ref_bytes;
}
/* Queues part of a message's bytes by reference, or copies them when they are small. */
void output_put_message_bytes(struct output *o, struct message *m, const uint8_t *ptr, size_t len);
/* The buffers to write, in order; *bufs grows as needed (free it with free()). */
unsigned output_iov(const struct output *o, uv_buf_t **bufs, unsigned *cap);
/* Shortens n buffers of an iov to their first limit bytes (a cut's allowance); returns how
 * many buffers those take. */
unsigned output_iov_limit(uv_buf_t *iov, unsigned n, size_t limit);

#endif
