/* Allocation that aborts when memory runs out: the broker's one policy for allocation failure. */
#ifndef ALLOC_H
#define ALLOC_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Every caller would abort anyway: one place does, so no call site carries a NULL check. */
static inline void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        abort();
    return p;
}

static inline void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        abort();
    return p;
}

static inline void *xrealloc(void *p, size_t size)
{
    p = realloc(p, size ? size : 1);
    if (!p)
        abort();
    return p;
}

/* n elements of size bytes, with the multiplication checked. */
static inline void *xrealloc_array(void *p, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        abort();
    return xrealloc(p, n * size);
}

static inline void *xmemdup(const void *p, size_t len)
{
    void *copy = xmalloc(len ? len : 1);
    if (len) /* p may be NULL then */
        memcpy(copy, p, len);
    return copy;
}

static inline char *xstrdup(const char *s)
{
    return xmemdup(s, strlen(s) + 1);
}

#endif
