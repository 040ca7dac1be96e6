/* A queue's arrival marks: appended per millisecond, found by binary search, dropped from the front. */
#include "model/queue_arrivals.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

void queue_arrivals_free(struct queue_arrivals *a)
{
    free(a->marks);
    memset(a, 0, sizeof *a);
}

void queue_arrivals_note(struct queue_arrivals *a, uint64_t seq, uint64_t now_ms)
{
    if (a->len > a->head && a->marks[a->len - 1].at_ms == now_ms) {
        a->marks[a->len - 1].live++;
        return;
    }
    if (a->len == a->cap && a->head > 0) { /* reuse the front before growing */
        memmove(a->marks, a->marks + a->head, (a->len - a->head) * sizeof *a->marks);
        a->len -= a->head;
        a->head = 0;
    }
    if (a->len == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 16;
        a->marks = xrealloc(a->marks, a->cap * sizeof *a->marks);
    }
    a->marks[a->len++] = (struct arrival_mark){seq, now_ms, 1};
}

/* The mark an entry belongs to: the last one starting at or before seq; NULL if none. */
static struct arrival_mark *mark_of(const struct queue_arrivals *a, uint64_t seq)
{
    size_t lo = a->head, hi = a->len;
    if (lo == hi || a->marks[lo].first_seq > seq)
        return NULL;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->marks[mid].first_seq <= seq)
            lo = mid;
        else
            hi = mid;
    }
    return &a->marks[lo];
}

uint64_t queue_arrivals_at(const struct queue_arrivals *a, uint64_t seq)
{
    const struct arrival_mark *m = mark_of(a, seq);
    return m ? m->at_ms : UINT64_MAX;
}

void queue_arrivals_forget(struct queue_arrivals *a, uint64_t seq)
{
    struct arrival_mark *m = mark_of(a, seq);
    if (!m || m->live == 0)
        return;
    m->live--;
    while (a->head < a->len && a->marks[a->head].live == 0)
        a->head++;
    if (a->head == a->len)
        a->head = a->len = 0;
}

void queue_arrivals_clear(struct queue_arrivals *a)
{
    a->head = a->len = 0;
}
