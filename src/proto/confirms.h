/* A channel's publisher confirms: pending sequence numbers with their outcomes, replied in order
 * and coalesced into basic.ack/basic.nack with multiple where a run allows. */
#ifndef CONFIRMS_H
#define CONFIRMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum confirm_outcome {
    CONFIRM_ACK,
    CONFIRM_NACK,
    CONFIRM_WAITING, /* settled later (e.g. once a disk write is done) with confirms_settle */
};

/* Consecutive sequence numbers with one outcome are one run, so steady traffic keeps one. */
struct confirm_run {
    uint64_t first, last;
    enum confirm_outcome outcome;
};

struct confirms {
    struct confirm_run *runs; /* a ring; capacity a power of two */
    uint32_t head, len, cap;
    uint64_t next_seq;        /* the sequence number the next publish gets */
};

void confirms_init(struct confirms *c);
void confirms_free(struct confirms *c);
/* Starts a run for seq (the slow path of confirms_add). */
void confirms_push_run(struct confirms *c, uint64_t seq, enum confirm_outcome outcome);

/* The next publish's sequence number, with its outcome (possibly CONFIRM_WAITING). Inline: a
 * publish under confirms usually extends the newest run. */
static inline uint64_t confirms_add(struct confirms *c, enum confirm_outcome outcome)
{
    uint64_t seq = c->next_seq++;
    struct confirm_run *last = c->len ? &c->runs[(c->head + c->len - 1) & (c->cap - 1)] : NULL;
    if (last && last->outcome == outcome && last->last + 1 == seq)
        last->last = seq;
    else
        confirms_push_run(c, seq, outcome);
    return seq;
}
/* A waiting sequence number now has its outcome. */
void confirms_settle(struct confirms *c, uint64_t seq, enum confirm_outcome outcome);
/* Every waiting sequence number up to seq now has this outcome (what one disk sync settles). */
void confirms_settle_through(struct confirms *c, uint64_t seq, enum confirm_outcome outcome);
static inline bool confirms_pending(const struct confirms *c)
{
    return c->len > 0;
}

/* The next reply to send, oldest first: false when nothing is ready (none pending, or the
 * oldest waits). A reply covers a run of one outcome; multiple when it covers several. */
struct confirm_reply {
    uint64_t tag;
    bool multiple;
    bool nack;
};
bool confirms_next(struct confirms *c, struct confirm_reply *out);

#endif
