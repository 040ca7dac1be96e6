/* An intrusive binary min-heap of deadlines: every timed thing in the broker, none with a timer of its own. */
#include "core/heap.h"

#include "core/alloc.h"

#define HEAP_MIN_CAP 16

void deadline_heap_init(struct deadline_heap *h)
{
    h->slots = NULL;
    h->len = h->cap = 0;
    h->next_seq = 0;
}

void deadline_heap_free(struct deadline_heap *h)
{
    for (uint32_t i = 0; i < h->len; i++)
        h->slots[i].d->index = 0;
    free(h->slots);
    deadline_heap_init(h);
}

static bool earlier(struct deadline_slot a, struct deadline_slot b)
{
    return a.at_ms < b.at_ms || (a.at_ms == b.at_ms && a.seq < b.seq);
}

static void put(struct deadline_heap *h, uint32_t i, struct deadline_slot s)
{
    h->slots[i] = s;
    s.d->index = i + 1;
}

/* Moves s up from the hole at i to where it belongs. */
static void sift_up(struct deadline_heap *h, uint32_t i, struct deadline_slot s)
{
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!earlier(s, h->slots[parent]))
            break;
        put(h, i, h->slots[parent]);
        i = parent;
    }
    put(h, i, s);
}

/* Moves s down from the hole at i to where it belongs. */
static void sift_down(struct deadline_heap *h, uint32_t i, struct deadline_slot s)
{
    for (;;) {
        uint32_t child = 2 * i + 1;
        if (child >= h->len)
            break;
        if (child + 1 < h->len && earlier(h->slots[child + 1], h->slots[child]))
            child++;
        if (!earlier(h->slots[child], s))
            break;
        put(h, i, h->slots[child]);
        i = child;
    }
    put(h, i, s);
}

/* Fills the hole at i with s, in whichever direction the heap order needs. */
static void place(struct deadline_heap *h, uint32_t i, struct deadline_slot s)
{
    if (i > 0 && earlier(s, h->slots[(i - 1) / 2]))
        sift_up(h, i, s);
    else
        sift_down(h, i, s);
}

void deadline_heap_add(struct deadline_heap *h, struct deadline *d, uint64_t at_ms)
{
    if (d->index) {
        deadline_heap_reschedule(h, d, at_ms);
        return;
    }
    if (h->len == h->cap) {
        if (h->cap >= UINT32_MAX / 2)
            abort();
        h->cap = h->cap ? h->cap * 2 : HEAP_MIN_CAP;
        h->slots = xrealloc_array(h->slots, h->cap, sizeof *h->slots);
    }
    d->at_ms = at_ms;
    sift_up(h, h->len++, (struct deadline_slot){at_ms, h->next_seq++, d});
}

/* A burst of deadlines (a backlog of expiring messages) does not pin its memory for good. */
static void maybe_shrink(struct deadline_heap *h)
{
    if (h->cap > HEAP_MIN_CAP && h->len < h->cap / 4) {
        h->cap /= 2;
        h->slots = xrealloc_array(h->slots, h->cap, sizeof *h->slots);
    }
}

void deadline_heap_remove(struct deadline_heap *h, struct deadline *d)
{
    if (!d->index)
        return;
    uint32_t i = d->index - 1;
    d->index = 0;
    struct deadline_slot last = h->slots[--h->len];
    if (i < h->len)
        place(h, i, last);
    maybe_shrink(h);
}

void deadline_heap_reschedule(struct deadline_heap *h, struct deadline *d, uint64_t at_ms)
{
    if (!d->index) {
        deadline_heap_add(h, d, at_ms);
        return;
    }
    d->at_ms = at_ms;
    place(h, d->index - 1, (struct deadline_slot){at_ms, h->next_seq++, d});
}

size_t deadline_heap_run_due(struct deadline_heap *h, uint64_t now_ms)
{
    size_t fired = 0;
    while (h->len && h->slots[0].at_ms <= now_ms) {
        struct deadline *d = h->slots[0].d;
        deadline_heap_remove(h, d);
        d->fire(d, now_ms);
        fired++;
    }
    return fired;
}
