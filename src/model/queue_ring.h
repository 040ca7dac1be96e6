/* A queue's ready messages: a growable ring of 16-byte entries kept in seq order, so a requeued
 * entry goes back to its original position. */
#ifndef QUEUE_RING_H
#define QUEUE_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/message.h"

/* One message in a queue, or out with a consumer awaiting its ack: 16 bytes, so a backlog of
 * millions stays small. The message is in memory (a reference owned by whoever holds the entry)
 * or, once durability lands, only on disk at (segment, offset): a message's address has its
 * low bit clear, so a set low bit marks a location instead. */
struct queue_entry {
    union {
        struct message *msg;
        uint64_t location; /* segment << 40 | offset << 1 | 1 */
    };
    uint64_t seq : 47;        /* position in the queue: a requeued entry goes back where it was */
    uint64_t returns : 16;    /* times requeued, for a quorum queue's x-delivery-limit (saturates) */
    uint64_t redelivered : 1;
};

#define QUEUE_ENTRY_SEGMENT_MAX ((1u << 24) - 1)
#define QUEUE_ENTRY_OFFSET_MAX ((1ull << 39) - 1)

static inline bool queue_entry_on_disk(const struct queue_entry *e)
{
    return e->location & 1;
}

/* The message of an entry in memory; NULL for one only on disk. */
static inline struct message *queue_entry_message(const struct queue_entry *e)
{
    return queue_entry_on_disk(e) ? NULL : e->msg;
}

static inline void queue_entry_set_location(struct queue_entry *e, uint32_t segment, uint64_t offset)
{
    e->location = (uint64_t)segment << 40 | offset << 1 | 1;
}

static inline uint32_t queue_entry_segment(const struct queue_entry *e)
{
    return (uint32_t)(e->location >> 40);
}

static inline uint64_t queue_entry_offset(const struct queue_entry *e)
{
    return e->location >> 1 & QUEUE_ENTRY_OFFSET_MAX;
}

struct queue_ring {
    struct queue_entry *slots; /* capacity is a power of two */
    size_t cap, head, len;
};

void queue_ring_init(struct queue_ring *r);
void queue_ring_free(struct queue_ring *r); /* the entries' messages are the caller's */

/* The entry at logical position i (0 = oldest); i < len. */
static inline struct queue_entry *queue_ring_at(const struct queue_ring *r, size_t i)
{
    return &r->slots[(r->head + i) & (r->cap - 1)];
}

/* Doubles the capacity, keeping the entries' logical order. */
void queue_ring_grow(struct queue_ring *r);

/* Inline: these run once per message. */
static inline void queue_ring_push(struct queue_ring *r, struct queue_entry e) /* newest */
{
    if (r->len == r->cap)
        queue_ring_grow(r);
    *queue_ring_at(r, r->len) = e;
    r->len++;
}

static inline struct queue_entry queue_ring_pop(struct queue_ring *r) /* oldest; len > 0 */
{
    struct queue_entry e = *queue_ring_at(r, 0);
    r->head = (r->head + 1) & (r->cap - 1);
    r->len--;
    return e;
}
/* Puts e back among the entries at the position its seq gives it. */
void queue_ring_insert_by_seq(struct queue_ring *r, struct queue_entry e);
/* Forgets every entry (the caller has released their messages). */
static inline void queue_ring_clear(struct queue_ring *r)
{
    r->head = r->len = 0;
}

#endif
