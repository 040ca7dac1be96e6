/* One benchmark run: set-up of every connection, the measured interval, and tear-down. */
#ifndef PERF_RUN_H
#define PERF_RUN_H

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#include "errors.h"
#include "histogram.h"
#include "options.h"
#include "report.h"
#include "stream.h"
#include "topology.h"
#include "worker.h"

struct run {
    const struct options *opts;
    struct errors errors;
    atomic_bool stop;
    const volatile sig_atomic_t *interrupted; /* set by a signal handler */
    struct ssl_ctx_st *tls; /* for amqps, else NULL */
    struct stream control;
    struct topology topology;
    struct producer *producers;
    struct consumer *consumers;
    struct worker **producer_workers, **consumer_workers;
    unsigned producer_threads, consumer_threads;
    struct histogram latency; /* the final snapshot */
    struct histogram sample_prev, sample_now, sample_interval; /* for progress lines */
    uint64_t start_ns;
};

void run_init(struct run *r, const struct options *o, const volatile sig_atomic_t *interrupted);
/* Makes the TLS context for amqps, opens the control connection, declares, opens and
 * prepares every connection. Returns 0, or -1 (errors added). */
int run_setup(struct run *r);
/* Starts the workers, prints progress, decides the end and fills *s (its latency points into
 * r). Returns 0, or -1 when the workers could not start. */
int run_measure(struct run *r, struct summary *s);
/* Stops and joins the workers, deletes what the run owns, closes everything. */
void run_teardown(struct run *r);
void run_free(struct run *r);

#endif
