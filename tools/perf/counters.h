/* Per-worker totals, written by the worker thread only and read by the main thread. */
#ifndef PERF_COUNTERS_H
#define PERF_COUNTERS_H

#include <stdatomic.h>
#include <stdint.h>

struct counters {
    _Atomic uint64_t sent;
    _Atomic uint64_t confirmed;
    _Atomic uint64_t nacked;
    _Atomic uint64_t returned;
    _Atomic uint64_t received;
    _Atomic uint64_t bytes;         /* received body bytes */
    _Atomic uint64_t finished;      /* connections that reached their -C / -D count */
    _Atomic uint64_t last_event_ns; /* the latest receive or finish, for end-of-run timing */
};

/* Single writer: a relaxed load and store, which is plain arithmetic on the hot path. */
static inline void counters_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* For `finished`: the totals written before it are visible to whoever reads it (acquire). */
static inline void counters_add_release(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_release);
}

static inline uint64_t counters_get_acquire(const _Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_acquire);
}

static inline void counters_set(_Atomic uint64_t *c, uint64_t v)
{
    atomic_store_explicit(c, v, memory_order_relaxed);
}

static inline uint64_t counters_get(const _Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static inline void counters_init(struct counters *k)
{
    counters_set(&k->sent, 0);
    counters_set(&k->confirmed, 0);
    counters_set(&k->nacked, 0);
    counters_set(&k->returned, 0);
    counters_set(&k->received, 0);
    counters_set(&k->bytes, 0);
    counters_set(&k->finished, 0);
    counters_set(&k->last_event_ns, 0);
}

#endif
