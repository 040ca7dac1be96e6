/* The broker's monotonic millisecond clock, cheap enough to read per message, and settable by tests. */
#include "core/clock.h"

void clock_init(struct clock *c)
{
    c->id = CLOCK_MONOTONIC;
    c->manual = false;
    c->manual_ms = 0;
#ifdef CLOCK_MONOTONIC_COARSE
    struct timespec res;
    if (clock_getres(CLOCK_MONOTONIC_COARSE, &res) == 0 && res.tv_sec == 0 &&
        res.tv_nsec <= CLOCK_COARSE_MAX_MS * 1000000L)
        c->id = CLOCK_MONOTONIC_COARSE;
#endif
}

void clock_set_manual(struct clock *c, uint64_t ms)
{
    c->manual = true;
    c->manual_ms = ms;
}
