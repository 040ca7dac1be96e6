/* Gives freed heap memory back to the system after many big objects were released. */
#ifndef MEMORY_RETURN_H
#define MEMORY_RETURN_H

#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/heap.h"
#include "core/log.h"

/* glibc returns freed memory by itself only from the top of the heap: after thousands of
 * connections close, the pages they used stay resident below whatever was allocated later.
 * This checks a release count on a slow tick and, when it grew enough since the last time,
 * asks the allocator to give back every free page (malloc_trim). Nothing on the hot path. */
struct memory_return {
    struct deadline_heap *deadlines;
    const struct clock *clock;
    const struct log *log;
    const uint64_t *released;  /* grows by one per object freed (connections closed) */
    uint64_t released_at_trim; /* its value when memory was last given back */
    struct deadline check;
    /* The allocator's "give it back": malloc_trim (a test may replace it after start). */
    int (*trim)(size_t pad);
    uint64_t trims;            /* how many times memory was given back */
};

/* Checked this often; memory is given back at most once per check. */
#define MEMORY_RETURN_CHECK_MS 5000
/* Fewer releases than this since the last time are not worth a walk of the heap. */
#define MEMORY_RETURN_MIN_RELEASES 100

/* Starts the tick; released must outlive memory_return_stop. */
void memory_return_start(struct memory_return *m, struct deadline_heap *deadlines,
                         const struct clock *clock, const struct log *log,
                         const uint64_t *released);
void memory_return_stop(struct memory_return *m);

#endif
