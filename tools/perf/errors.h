/* The run's error list: any thread adds, the first addition marks the run failed. */
#ifndef PERF_ERRORS_H
#define PERF_ERRORS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#define ERRORS_KEPT 32
#define ERRORS_TEXT_MAX 512

struct errors {
    pthread_mutex_t lock;
    char texts[ERRORS_KEPT][ERRORS_TEXT_MAX];
    size_t count; /* may exceed ERRORS_KEPT; later texts are dropped */
    atomic_bool any;
};

void errors_init(struct errors *e);
void errors_destroy(struct errors *e);
/* Prints "warren-perf: TEXT" to stderr and keeps TEXT. */
void errors_add(struct errors *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool errors_any(struct errors *e);
/* The number of kept texts; texts are stable once the workers have stopped. */
size_t errors_kept(struct errors *e);
const char *errors_text(struct errors *e, size_t i);

#endif
