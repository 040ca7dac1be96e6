/* A hash map from byte-string keys (NUL bytes allowed) to pointers, iterated in insertion order. */
#ifndef MAP_H
#define MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct map_entry;

/* Chained buckets; every entry is also on an insertion-ordered list, so iteration order is
 * stable across growing and shrinking. Lookups never allocate; allocation failure aborts.
 * The map holds no pointer to itself: a map may be moved (memcpy) while it is not iterated. */
struct map {
    struct map_entry **buckets; /* NULL while the map is empty */
    size_t mask;                /* bucket count - 1 */
    size_t count;
    uint64_t seed;
    bool seeded;
    struct map_entry *first, *last;
};

/* An empty map; costs no allocation until the first put. Its hash seed is drawn from the
 * kernel at the first put, so keys chosen by clients cannot be made to collide. */
void map_init(struct map *m);
/* Same, with the caller's seed (e.g. many small maps derived from one random seed). */
void map_init_seeded(struct map *m, uint64_t seed);
/* Frees the map's own memory; values are the caller's (free them by iterating first). */
void map_free(struct map *m);

void *map_get(const struct map *m, const void *key, size_t len);
/* map_get with the key's hash computed by the caller as map_hash(m->seed, key, len): lets one
 * hash serve lookups in many maps that share a seed (map_init_seeded). */
void *map_get_hashed(const struct map *m, const void *key, size_t len, uint64_t hash);
bool map_contains(const struct map *m, const void *key, size_t len);
/* Inserts key (copied) -> value and returns true; if the key was already present its value
 * is replaced and false is returned (read the old value with map_get first if it matters). */
bool map_put(struct map *m, const void *key, size_t len, void *value);
/* Removes key and returns its value, or NULL if absent. */
void *map_remove(struct map *m, const void *key, size_t len);
size_t map_count(const struct map *m);

/* Iteration in insertion order. While iterating, the entry just returned may be removed
 * (map_remove with the key pointer the iterator gave); removing any other entry is not
 * allowed. Entries put during iteration may or may not be visited. */
struct map_iter {
    struct map_entry *next;
};
void map_iter_init(struct map_iter *it, const struct map *m);
/* Returns false at the end. key, len and value may each be NULL when not wanted; key points
 * into the map and stays valid until that entry is removed. */
bool map_iter_next(struct map_iter *it, const void **key, size_t *len, void **value);

/* The map's hash function, for callers that hash related data the same way. */
uint64_t map_hash(uint64_t seed, const void *key, size_t len);

#endif
