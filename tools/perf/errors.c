/* A mutex-guarded list of error texts shared by the worker threads and the main thread. */
#include "errors.h"

#include <stdarg.h>
#include <stdio.h>

void errors_init(struct errors *e)
{
    pthread_mutex_init(&e->lock, NULL);
    e->count = 0;
    atomic_init(&e->any, false);
}

void errors_destroy(struct errors *e)
{
    pthread_mutex_destroy(&e->lock);
}

void errors_add(struct errors *e, const char *fmt, ...)
{
    char text[ERRORS_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fprintf(stderr, "warren-perf: %s\n", text);
    pthread_mutex_lock(&e->lock);
    if (e->count < ERRORS_KEPT)
        snprintf(e->texts[e->count], ERRORS_TEXT_MAX, "%s", text);
    e->count++;
    pthread_mutex_unlock(&e->lock);
    atomic_store(&e->any, true);
}

bool errors_any(struct errors *e)
{
    return atomic_load_explicit(&e->any, memory_order_relaxed);
}

size_t errors_kept(struct errors *e)
{
    pthread_mutex_lock(&e->lock);
    size_t n = e->count < ERRORS_KEPT ? e->count : ERRORS_KEPT;
    pthread_mutex_unlock(&e->lock);
    return n;
}

const char *errors_text(struct errors *e, size_t i)
{
    return e->texts[i];
}
