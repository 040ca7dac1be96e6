/* An intrusive binary min-heap of deadlines: every timed thing in the broker, none with a timer of its own. */
#ifndef HEAP_H
#define HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Embedded in its owner (container_of gets back to it). Zeroed memory is an idle deadline, so
 * a calloc'd owner needs no init beyond setting fire. */
struct deadline {
    uint64_t at_ms;
    uint32_t index; /* 1-based slot in the heap; 0 while not scheduled */
    /* Called once the deadline is due and already unscheduled, so it may reschedule itself
     * or free its owner. now_ms is the time run_due was given. */
    void (*fire)(struct deadline *d, uint64_t now_ms);
};

/* The key sits beside the pointer so that sifting compares without touching the deadlines.
 * seq orders equal times by when they were scheduled, as libuv orders its timers. */
struct deadline_slot {
    uint64_t at_ms;
    uint64_t seq;
    struct deadline *d;
};

struct deadline_heap {
    struct deadline_slot *slots;
    uint32_t len;
    uint32_t cap;
    uint64_t next_seq;
};

static inline void deadline_init(struct deadline *d, void (*fire)(struct deadline *d, uint64_t now_ms))
{
    d->at_ms = 0;
    d->index = 0;
    d->fire = fire;
}

static inline bool deadline_pending(const struct deadline *d)
{
    return d->index != 0;
}

void deadline_heap_init(struct deadline_heap *h);
/* Deadlines still scheduled become idle (removing them later is a no-op); none fires. */
void deadline_heap_free(struct deadline_heap *h);
/* Schedules d at at_ms (a pending d just moves, as with reschedule). O(log n). */
void deadline_heap_add(struct deadline_heap *h, struct deadline *d, uint64_t at_ms);
/* Unschedules d; a no-op when it is idle. O(log n). */
void deadline_heap_remove(struct deadline_heap *h, struct deadline *d);
/* Moves d to at_ms, earlier or later, scheduling it if idle; among deadlines at the same time
 * it then counts as the latest scheduled. O(log n). */
void deadline_heap_reschedule(struct deadline_heap *h, struct deadline *d, uint64_t at_ms);
/* The earliest deadline, or UINT64_MAX when none is scheduled. */
static inline uint64_t deadline_heap_next_ms(const struct deadline_heap *h)
{
    return h->len ? h->slots[0].at_ms : UINT64_MAX;
}
/* Fires, earliest first, every deadline at or before now_ms, including those a callback
 * schedules at or before now_ms (so a callback rescheduling itself must move past now_ms).
 * Equal deadlines fire in the order they were scheduled. Returns how many fired; afterwards
 * deadline_heap_next_ms(h) > now_ms. */
size_t deadline_heap_run_due(struct deadline_heap *h, uint64_t now_ms);

#endif
