/* A log-linear latency histogram: fixed size, no allocation, one writer and any readers. */
#ifndef PERF_HISTOGRAM_H
#define PERF_HISTOGRAM_H

#include <stdatomic.h>
#include <stdint.h>

/* Each power of two is split into 2^HISTOGRAM_SUB_BITS linear buckets: values below
 * 2 * 2^HISTOGRAM_SUB_BITS are exact, larger ones within 1/64 (1.6 %). */
#define HISTOGRAM_SUB_BITS 6
#define HISTOGRAM_SUB_COUNT (1u << HISTOGRAM_SUB_BITS)
#define HISTOGRAM_BUCKETS ((65u - HISTOGRAM_SUB_BITS) * HISTOGRAM_SUB_COUNT)

/* Counters are atomics so another thread may read while the owner records; the owner's
 * relaxed load-and-store compiles to plain arithmetic (there is only one writer). */
struct histogram {
    _Atomic uint64_t counts[HISTOGRAM_BUCKETS];
    _Atomic uint64_t total;
    _Atomic uint64_t max;
};

void histogram_init(struct histogram *h);
/* Only the owning thread may record. */
void histogram_record(struct histogram *h, uint64_t value);
/* into += from; into -= from (for interval views of cumulative histograms). */
void histogram_add(struct histogram *into, const struct histogram *from);
void histogram_subtract(struct histogram *into, const struct histogram *from);
uint64_t histogram_total(const struct histogram *h);
uint64_t histogram_max(const struct histogram *h);
/* The smallest recorded value v such that at least p percent of the values are <= v, as the
 * highest value of v's bucket (never above the maximum recorded); 0 when empty. */
uint64_t histogram_percentile(const struct histogram *h, double p);

/* Bucket arithmetic, exposed for tests. */
unsigned histogram_bucket_of(uint64_t value);
uint64_t histogram_bucket_high(unsigned bucket);

#endif
