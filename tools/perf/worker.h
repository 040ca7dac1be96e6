/* A thread driving a group of producer or consumer connections with one epoll loop. */
#ifndef PERF_WORKER_H
#define PERF_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "consumer.h"
#include "counters.h"
#include "errors.h"
#include "histogram.h"
#include "producer.h"

enum worker_role { WORKER_PRODUCERS, WORKER_CONSUMERS };

struct worker {
    enum worker_role role;
    size_t count;
    struct producer **producers; /* WORKER_PRODUCERS */
    struct consumer **consumers; /* WORKER_CONSUMERS */
    struct counters counters;
    struct histogram histogram;  /* latencies seen by this worker's consumers */
    atomic_bool *stop;           /* set by the main thread: close everything and return */
    struct errors *errors;
    pthread_t thread;
    bool thread_started;
    int epoll_fd;
};

/* The worker's counters and histogram start zeroed; connections are added before starting. */
struct worker *worker_new(enum worker_role role, atomic_bool *stop, struct errors *errors);
void worker_add_producer(struct worker *w, struct producer *p);
void worker_add_consumer(struct worker *w, struct consumer *c);
/* Starts the thread. Returns 0, or -1 (error added). */
int worker_start(struct worker *w);
/* Waits for the thread, which returns once every connection is closed after *stop. */
void worker_join(struct worker *w);
void worker_free(struct worker *w);

#endif
