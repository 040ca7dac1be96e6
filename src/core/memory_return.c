/* Gives freed heap memory back to the system after many big objects were released. */
#include "core/memory_return.h"

#include <malloc.h>
#include <time.h>

#include "core/container.h"

static uint64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void give_back(struct memory_return *m)
{
    uint64_t released = *m->released - m->released_at_trim;
    uint64_t t0 = monotonic_us();
    m->trim(0);
    m->released_at_trim = *m->released;
    m->trims++;
    log_debug(m->log, "memory: gave free heap pages back to the system after %llu connections "
              "closed (%llu us)", (unsigned long long)released,
              (unsigned long long)(monotonic_us() - t0));
}

static void on_check(struct deadline *d, uint64_t now_ms)
{
    struct memory_return *m = container_of(d, struct memory_return, check);
    if (*m->released - m->released_at_trim >= MEMORY_RETURN_MIN_RELEASES)
        give_back(m);
    deadline_heap_add(m->deadlines, &m->check, now_ms + MEMORY_RETURN_CHECK_MS);
}

void memory_return_start(struct memory_return *m, struct deadline_heap *deadlines,
                         const struct clock *clock, const struct log *log,
                         const uint64_t *released)
{
    m->deadlines = deadlines;
    m->clock = clock;
    m->log = log;
    m->released = released;
    m->released_at_trim = *released;
    m->trim = malloc_trim;
    m->trims = 0;
    deadline_init(&m->check, on_check);
    deadline_heap_add(deadlines, &m->check, clock_now_ms(clock) + MEMORY_RETURN_CHECK_MS);
}

void memory_return_stop(struct memory_return *m)
{
    deadline_heap_remove(m->deadlines, &m->check);
}
