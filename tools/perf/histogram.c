/* Log-linear latency histogram: bucket arithmetic, recording, merging and percentiles. */
#include "histogram.h"

#include <math.h>

static uint64_t load(const _Atomic uint64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

static void store(_Atomic uint64_t *v, uint64_t x)
{
    atomic_store_explicit(v, x, memory_order_relaxed);
}

void histogram_init(struct histogram *h)
{
    for (unsigned i = 0; i < HISTOGRAM_BUCKETS; i++)
        store(&h->counts[i], 0);
    store(&h->total, 0);
    store(&h->max, 0);
}

unsigned histogram_bucket_of(uint64_t value)
{
    if (value < 2 * HISTOGRAM_SUB_COUNT)
        return (unsigned)value;
    unsigned msb = 63u - (unsigned)__builtin_clzll(value);
    unsigned shift = msb - HISTOGRAM_SUB_BITS;
    return shift * HISTOGRAM_SUB_COUNT + (unsigned)(value >> shift);
}

uint64_t histogram_bucket_high(unsigned bucket)
{
    if (bucket < 2 * HISTOGRAM_SUB_COUNT)
        return bucket;
    unsigned shift = bucket / HISTOGRAM_SUB_COUNT - 1;
    uint64_t sub = bucket - shift * HISTOGRAM_SUB_COUNT;
    if (sub + 1 == 2 * HISTOGRAM_SUB_COUNT && shift == 63 - HISTOGRAM_SUB_BITS)
        return UINT64_MAX; /* the very last bucket would overflow */
    return ((sub + 1) << shift) - 1;
}

void histogram_record(struct histogram *h, uint64_t value)
{
    _Atomic uint64_t *slot = &h->counts[histogram_bucket_of(value)];
    store(slot, load(slot) + 1);
    store(&h->total, load(&h->total) + 1);
    if (value > load(&h->max))
        store(&h->max, value);
}

void histogram_add(struct histogram *into, const struct histogram *from)
{
    for (unsigned i = 0; i < HISTOGRAM_BUCKETS; i++)
        store(&into->counts[i], load(&into->counts[i]) + load(&from->counts[i]));
    store(&into->total, load(&into->total) + load(&from->total));
    if (load(&from->max) > load(&into->max))
        store(&into->max, load(&from->max));
}

/* The maximum cannot be subtracted; it stays an upper bound. The total is recomputed so a
 * reader racing the writer still yields a consistent view. */
void histogram_subtract(struct histogram *into, const struct histogram *from)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < HISTOGRAM_BUCKETS; i++) {
        uint64_t a = load(&into->counts[i]), b = load(&from->counts[i]);
        uint64_t d = a > b ? a - b : 0;
        store(&into->counts[i], d);
        total += d;
    }
    store(&into->total, total);
}

uint64_t histogram_total(const struct histogram *h)
{
    return load(&h->total);
}

uint64_t histogram_max(const struct histogram *h)
{
    return load(&h->max);
}

uint64_t histogram_percentile(const struct histogram *h, double p)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < HISTOGRAM_BUCKETS; i++)
        total += load(&h->counts[i]);
    if (total == 0)
        return 0;
    if (p < 0)
        p = 0;
    if (p > 100)
        p = 100;
    uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)total);
    if (rank == 0)
        rank = 1;
    if (rank > total)
        rank = total;
    uint64_t max = load(&h->max);
    uint64_t seen = 0;
    for (unsigned i = 0; i < HISTOGRAM_BUCKETS; i++) {
        seen += load(&h->counts[i]);
        if (seen >= rank) {
            uint64_t high = histogram_bucket_high(i);
            return max && high > max ? max : high;
        }
    }
    return max;
}
