/* The ring of a queue's ready entries: push, pop, and insertion by seq for requeues. */
#include "model/queue_ring.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

enum { RING_MIN_CAP = 16 };

void queue_ring_init(struct queue_ring *r)
{
    *r = (struct queue_ring){0};
}

void queue_ring_free(struct queue_ring *r)
{
    free(r->slots);
    queue_ring_init(r);
}

void queue_ring_grow(struct queue_ring *r)
{
    size_t cap = r->cap ? r->cap * 2 : RING_MIN_CAP;
    struct queue_entry *slots = xmalloc(cap * sizeof *slots);
    size_t first = r->cap - r->head; /* entries from head to the physical end */
    if (first > r->len)
        first = r->len;
    if (r->len) {
        memcpy(slots, r->slots + r->head, first * sizeof *slots);
        memcpy(slots + first, r->slots, (r->len - first) * sizeof *slots);
    }
    free(r->slots);
    r->slots = slots;
    r->cap = cap;
    r->head = 0;
}

/* Logical index of the first entry with a seq greater than seq. */
static size_t position_for(const struct queue_ring *r, uint64_t seq)
{
    size_t lo = 0, hi = r->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (queue_ring_at(r, mid)->seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Moves logical [from, len) one slot toward the tail, in contiguous runs, last run first. */
static void shift_tail_side(struct queue_ring *r, size_t from)
{
    size_t mask = r->cap - 1;
    size_t remaining = r->len - from;
    while (remaining) {
        size_t src_last = (r->head + from + remaining - 1) & mask;
        size_t dst_last = (src_last + 1) & mask;
        size_t run = remaining;
        if (run > src_last + 1)
            run = src_last + 1;
        if (run > dst_last + 1)
            run = dst_last + 1;
        memmove(&r->slots[dst_last + 1 - run], &r->slots[src_last + 1 - run], run * sizeof *r->slots);
        remaining -= run;
    }
}

/* Moves logical [0, count) one slot toward the head (the head moves back one), first run first. */
static void shift_head_side(struct queue_ring *r, size_t count)
{
    size_t mask = r->cap - 1;
    size_t done = 0;
    while (done < count) {
        size_t src_first = (r->head + done) & mask;
        size_t dst_first = (src_first + mask) & mask;
        size_t run = count - done;
        if (run > r->cap - src_first)
            run = r->cap - src_first;
        if (run > r->cap - dst_first)
            run = r->cap - dst_first;
        memmove(&r->slots[dst_first], &r->slots[src_first], run * sizeof *r->slots);
        done += run;
    }
    r->head = (r->head + mask) & mask;
}

void queue_ring_insert_by_seq(struct queue_ring *r, struct queue_entry e)
{
    if (r->len == r->cap)
        queue_ring_grow(r);
    size_t pos = position_for(r, e.seq);
    if (pos < r->len / 2)
        shift_head_side(r, pos);
    else
        shift_tail_side(r, pos);
    r->len++;
    *queue_ring_at(r, pos) = e;
}
