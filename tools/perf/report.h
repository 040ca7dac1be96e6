/* What the benchmark prints: a progress line per interval, a final summary, or JSON. */
#ifndef PERF_REPORT_H
#define PERF_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "errors.h"
#include "histogram.h"

struct totals {
    uint64_t sent;
    uint64_t confirmed;
    uint64_t nacked;
    uint64_t returned;
    uint64_t received;
    uint64_t bytes;
};

struct summary {
    struct totals totals;
    double duration_s;
    const struct histogram *latency; /* every delivery of the run, in ns */
    double cpu_user_s;
    double cpu_sys_s;
    char tls[96]; /* the control connection's protocol and cipher; "" without TLS */
};

/* "time 3.000s, sent 812345 msg/s, received 811002 msg/s, confirmed 0 msg/s,
 *  latency p50 12 us p99 85 us" from the interval's counts and latencies. */
void report_progress(FILE *out, double elapsed_s, double interval_s, const struct totals *delta,
                     const struct histogram *latency);
void report_summary(FILE *out, const struct summary *s, struct errors *e);
/* One JSON object with the contract's keys, on one line. */
void report_json(FILE *out, const struct summary *s, struct errors *e);

#endif
