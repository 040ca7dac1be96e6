/* When a queue's messages arrived, for their TTLs: one mark per millisecond in which messages
 * arrived (by queue position), counting the entries of that millisecond still alive, so that
 * a message pays nothing for its arrival time and a mark goes once its entries have. */
#ifndef QUEUE_ARRIVALS_H
#define QUEUE_ARRIVALS_H

#include <stddef.h>
#include <stdint.h>

struct arrival_mark {
    uint64_t first_seq; /* the first queue position that arrived at at_ms */
    uint64_t at_ms;
    uint64_t live;      /* entries from this mark on, before the next, not yet gone */
};

struct queue_arrivals {
    struct arrival_mark *marks; /* marks[head..len), oldest first */
    size_t head, len, cap;
};

void queue_arrivals_free(struct queue_arrivals *a);
/* The entry at position seq (positions only grow) arrived at now_ms. */
void queue_arrivals_note(struct queue_arrivals *a, uint64_t seq, uint64_t now_ms);
/* When the entry at seq arrived, or UINT64_MAX for one that arrived before any note. */
uint64_t queue_arrivals_at(const struct queue_arrivals *a, uint64_t seq);
/* The entry at seq has gone for good; marks left without entries go. */
void queue_arrivals_forget(struct queue_arrivals *a, uint64_t seq);
/* Every entry has gone. */
void queue_arrivals_clear(struct queue_arrivals *a);

#endif
