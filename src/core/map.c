/* A chained hash map over byte-string keys, with an insertion-ordered entry list for iteration. */
#include "core/map.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/alloc.h"

struct map_entry {
    struct map_entry *chain;       /* next entry in the same bucket */
    struct map_entry *prev, *next; /* insertion order */
    uint64_t hash;
    void *value;
    size_t len;
    unsigned char key[];
};

enum { MIN_BUCKETS = 8 };

/* Odd "nothing up my sleeve" constants: hex digits of pi and of the golden ratio. */
#define HASH_PI0 0x243f6a8885a308d3ull
#define HASH_PI1 0x13198a2e03707344ull
#define HASH_GOLDEN 0x9e3779b97f4a7c15ull

/* Folds the 128-bit product of a and b: every input bit reaches many output bits. */
static uint64_t fold_multiply(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static uint64_t read64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t read_upto8(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    memcpy(&v, p, n);
    return v;
}

/* 16 bytes per multiply; both operands carry seed-derived secrets, so an attacker who does not
 * know the seed cannot zero a factor to make keys collide. Native byte order: in-process only. */
uint64_t map_hash(uint64_t seed, const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t secret = fold_multiply(seed ^ HASH_PI0, HASH_GOLDEN);
    uint64_t h = seed ^ HASH_PI1;
    size_t n = len;
    for (; n > 16; n -= 16, p += 16)
        h = fold_multiply(read64(p) ^ secret, read64(p + 8) ^ h);
    uint64_t a = 0, b = 0;
    if (n > 8) {
        a = read64(p);
        b = read_upto8(p + 8, n - 8);
    } else if (n > 0) {
        a = read_upto8(p, n);
    }
    h = fold_multiply(a ^ secret, b ^ h);
    return fold_multiply(h ^ len ^ HASH_PI0, HASH_GOLDEN);
}

static uint64_t fresh_seed(const struct map *m)
{
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed)
        return seed;
    /* No entropy yet (early boot): the clock and the map's address still differ per run. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return fold_multiply((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32),
                         (uint64_t)(uintptr_t)m | 1);
}

void map_init(struct map *m)
{
    *m = (struct map){0};
}

void map_init_seeded(struct map *m, uint64_t seed)
{
    *m = (struct map){.seed = seed, .seeded = true};
}

void map_free(struct map *m)
{
    struct map_entry *e = m->first;
    while (e) {
        struct map_entry *next = e->next;
        free(e);
        e = next;
    }
    free(m->buckets);
    bool seeded = m->seeded;
    uint64_t seed = m->seed;
    *m = (struct map){.seed = seed, .seeded = seeded};
}

static struct map_entry *find(const struct map *m, const void *key, size_t len, uint64_t hash)
{
    if (!m->buckets)
        return NULL;
    for (struct map_entry *e = m->buckets[hash & m->mask]; e; e = e->chain)
        if (e->hash == hash && e->len == len && (len == 0 || memcmp(e->key, key, len) == 0))
            return e;
    return NULL;
}

static uint64_t hash_of(const struct map *m, const void *key, size_t len)
{
    return map_hash(m->seed, key, len);
}

void *map_get(const struct map *m, const void *key, size_t len)
{
    if (m->count == 0)
        return NULL;
    struct map_entry *e = find(m, key, len, hash_of(m, key, len));
    return e ? e->value : NULL;
}

void *map_get_hashed(const struct map *m, const void *key, size_t len, uint64_t hash)
{
    struct map_entry *e = m->count ? find(m, key, len, hash) : NULL;
    return e ? e->value : NULL;
}

bool map_contains(const struct map *m, const void *key, size_t len)
{
    return m->count != 0 && find(m, key, len, hash_of(m, key, len)) != NULL;
}

/* Rebuilds the chains for `nbuckets` buckets (a power of two) from the ordered list. */
static void rehash(struct map *m, size_t nbuckets)
{
    struct map_entry **buckets = xcalloc(nbuckets, sizeof *buckets);
    size_t mask = nbuckets - 1;
    for (struct map_entry *e = m->first; e; e = e->next) {
        struct map_entry **head = &buckets[e->hash & mask];
        e->chain = *head;
        *head = e;
    }
    free(m->buckets);
    m->buckets = buckets;
    m->mask = mask;
}

bool map_put(struct map *m, const void *key, size_t len, void *value)
{
    if (!m->seeded) {
        m->seed = fresh_seed(m);
        m->seeded = true;
    }
    uint64_t hash = hash_of(m, key, len);
    struct map_entry *e = find(m, key, len, hash);
    if (e) {
        e->value = value;
        return false;
    }
    if (len > SIZE_MAX - sizeof *e)
        abort();
    e = xmalloc(sizeof *e + len);
    e->hash = hash;
    e->value = value;
    e->len = len;
    if (len)
        memcpy(e->key, key, len);
    e->next = NULL;
    e->prev = m->last;
    if (m->last)
        m->last->next = e;
    else
        m->first = e;
    m->last = e;
    m->count++;
    /* Load factor at most 1: grow by doubling. */
    if (!m->buckets || m->count > m->mask + 1) {
        rehash(m, m->buckets ? (m->mask + 1) * 2 : MIN_BUCKETS);
    } else {
        struct map_entry **head = &m->buckets[hash & m->mask];
        e->chain = *head;
        *head = e;
    }
    return true;
}

static void unlink_entry(struct map *m, struct map_entry *e)
{
    struct map_entry **link = &m->buckets[e->hash & m->mask];
    while (*link != e)
        link = &(*link)->chain;
    *link = e->chain;
    if (e->prev)
        e->prev->next = e->next;
    else
        m->first = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        m->last = e->prev;
    m->count--;
}

/* Shrinks when less than an eighth full, to a quarter of the size (load below 1/2 after),
 * so alternating put/remove at a boundary cannot rehash every time. An empty map frees its
 * buckets altogether. */
static void maybe_shrink(struct map *m)
{
    size_t nbuckets = m->mask + 1;
    if (m->count == 0) {
        free(m->buckets);
        m->buckets = NULL;
        m->mask = 0;
    } else if (nbuckets > MIN_BUCKETS && m->count < nbuckets / 8) {
        size_t target = nbuckets / 4;
        rehash(m, target < MIN_BUCKETS ? MIN_BUCKETS : target);
    }
}

void *map_remove(struct map *m, const void *key, size_t len)
{
    if (m->count == 0)
        return NULL;
    struct map_entry *e = find(m, key, len, hash_of(m, key, len));
    if (!e)
        return NULL;
    void *value = e->value;
    unlink_entry(m, e);
    free(e); /* key may point into e: it is not read after this */
    maybe_shrink(m);
    return value;
}

size_t map_count(const struct map *m)
{
    return m->count;
}

void map_iter_init(struct map_iter *it, const struct map *m)
{
    it->next = m->first;
}

bool map_iter_next(struct map_iter *it, const void **key, size_t *len, void **value)
{
    struct map_entry *e = it->next;
    if (!e)
        return false;
    /* Step past e now, so the caller may remove e before the next call. */
    it->next = e->next;
    if (key)
        *key = e->key;
    if (len)
        *len = e->len;
    if (value)
        *value = e->value;
    return true;
}
