/* Unit tests for the byte-string hash map: basics, binary keys, resizing, iteration, random ops. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/map.h"

static uint64_t rng_state;

static void rng_seed(uint64_t seed)
{
    rng_state = seed ? seed : 1;
}

static uint32_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

/* Values are small integers stored as pointers; 0 would read as "absent". */
static void *val(uintptr_t n)
{
    return (void *)n;
}

static size_t key_of(char *buf, unsigned i)
{
    return (size_t)snprintf(buf, 32, "key-%u", i);
}

START_TEST(test_put_get_remove)
{
    struct map m;
    map_init(&m);
    ck_assert_ptr_null(map_get(&m, "a", 1));
    ck_assert_ptr_null(map_remove(&m, "a", 1));
    ck_assert(map_put(&m, "a", 1, val(1)));
    ck_assert(map_put(&m, "b", 1, val(2)));
    ck_assert_uint_eq(map_count(&m), 2);
    ck_assert_ptr_eq(map_get(&m, "a", 1), val(1));
    ck_assert_ptr_eq(map_get(&m, "b", 1), val(2));
    ck_assert(map_contains(&m, "a", 1));
    ck_assert(!map_contains(&m, "c", 1));
    /* An existing key: value replaced, false returned, count unchanged. */
    ck_assert(!map_put(&m, "a", 1, val(3)));
    ck_assert_ptr_eq(map_get(&m, "a", 1), val(3));
    ck_assert_uint_eq(map_count(&m), 2);
    ck_assert_ptr_eq(map_remove(&m, "a", 1), val(3));
    ck_assert_ptr_null(map_get(&m, "a", 1));
    ck_assert_ptr_null(map_remove(&m, "a", 1));
    ck_assert_uint_eq(map_count(&m), 1);
    map_free(&m);
    ck_assert_uint_eq(map_count(&m), 0);
    /* A freed map is empty and usable again. */
    ck_assert(map_put(&m, "z", 1, val(9)));
    ck_assert_ptr_eq(map_get(&m, "z", 1), val(9));
    map_free(&m);
}
END_TEST

START_TEST(test_key_is_copied)
{
    struct map m;
    map_init(&m);
    char key[8] = "queue";
    map_put(&m, key, 5, val(1));
    memcpy(key, "xxxxx", 5);
    ck_assert_ptr_eq(map_get(&m, "queue", 5), val(1));
    ck_assert_ptr_null(map_get(&m, key, 5));
    map_free(&m);
}
END_TEST

START_TEST(test_binary_keys)
{
    struct map m;
    map_init(&m);
    ck_assert(map_put(&m, "", 0, val(1)));
    ck_assert(map_put(&m, "\0", 1, val(2)));
    ck_assert(map_put(&m, "\0\0", 2, val(3)));
    ck_assert(map_put(&m, "a\0b", 3, val(4)));
    ck_assert(map_put(&m, "a\0c", 3, val(5)));
    ck_assert(map_put(&m, "a", 1, val(6)));
    ck_assert_uint_eq(map_count(&m), 6);
    ck_assert_ptr_eq(map_get(&m, "", 0), val(1));
    ck_assert_ptr_eq(map_get(&m, NULL, 0), val(1));
    ck_assert_ptr_eq(map_get(&m, "\0", 1), val(2));
    ck_assert_ptr_eq(map_get(&m, "\0\0", 2), val(3));
    ck_assert_ptr_eq(map_get(&m, "a\0b", 3), val(4));
    ck_assert_ptr_eq(map_get(&m, "a\0c", 3), val(5));
    ck_assert_ptr_eq(map_get(&m, "a", 1), val(6));
    ck_assert_ptr_null(map_get(&m, "a\0", 2));
    /* Long keys crossing every 16-byte block boundary, differing only in their last byte. */
    unsigned char big[200];
    memset(big, 0, sizeof big);
    for (size_t len = 1; len <= sizeof big; len++) {
        big[len - 1] = 1;
        ck_assert(map_put(&m, big, len, val(100 + len)));
        big[len - 1] = 0;
    }
    for (size_t len = 1; len <= sizeof big; len++) {
        big[len - 1] = 1;
        ck_assert_ptr_eq(map_get(&m, big, len), val(100 + len));
        big[len - 1] = 0;
    }
    ck_assert_ptr_eq(map_remove(&m, "", 0), val(1));
    ck_assert_ptr_eq(map_get(&m, "\0", 1), val(2));
    map_free(&m);
}
END_TEST

START_TEST(test_grow_and_shrink)
{
    struct map m;
    map_init(&m);
    ck_assert_ptr_null(m.buckets); /* no allocation before the first put */
    char key[32];
    enum { N = 100000 };
    for (unsigned i = 0; i < N; i++)
        ck_assert(map_put(&m, key, key_of(key, i), val(i + 1)));
    ck_assert_uint_eq(map_count(&m), N);
    ck_assert_uint_ge(m.mask + 1, N); /* load factor at most 1 */
    ck_assert_uint_le(m.mask + 1, 2 * (size_t)N);
    for (unsigned i = 0; i < N; i++)
        ck_assert_ptr_eq(map_get(&m, key, key_of(key, i)), val(i + 1));
    for (unsigned i = 0; i < N - 10; i++)
        ck_assert_ptr_eq(map_remove(&m, key, key_of(key, i)), val(i + 1));
    ck_assert_uint_eq(map_count(&m), 10);
    ck_assert_uint_le(m.mask + 1, 128); /* it shrank */
    for (unsigned i = N - 10; i < N; i++)
        ck_assert_ptr_eq(map_get(&m, key, key_of(key, i)), val(i + 1));
    for (unsigned i = N - 10; i < N; i++)
        map_remove(&m, key, key_of(key, i));
    ck_assert_ptr_null(m.buckets); /* empty again: no memory held */
    map_free(&m);
}
END_TEST

START_TEST(test_iteration_order)
{
    struct map m;
    map_init(&m);
    char key[32];
    for (unsigned i = 0; i < 1000; i++)
        map_put(&m, key, key_of(key, i), val(i + 1));
    for (unsigned i = 0; i < 1000; i += 2)
        map_remove(&m, key, key_of(key, i)); /* shrinking rehashes; order must survive */
    map_put(&m, "late", 4, val(5000));
    struct map_iter it;
    map_iter_init(&it, &m);
    const void *k;
    size_t len;
    void *v;
    unsigned expect = 1;
    while (map_iter_next(&it, &k, &len, &v)) {
        if (expect < 1000) {
            ck_assert_ptr_eq(v, val(expect + 1));
            ck_assert_mem_eq(k, key, key_of(key, expect));
            ck_assert_uint_eq(len, key_of(key, expect));
            expect += 2;
        } else {
            ck_assert_ptr_eq(v, val(5000));
            ck_assert_mem_eq(k, "late", 4);
            expect = 9999;
        }
    }
    ck_assert_uint_eq(expect, 9999);
    map_free(&m);
}
END_TEST

START_TEST(test_remove_while_iterating)
{
    struct map m;
    map_init(&m);
    char key[32];
    for (unsigned i = 0; i < 5000; i++)
        map_put(&m, key, key_of(key, i), val(i + 1));
    /* Remove every third entry through the key pointer the iterator returned. */
    struct map_iter it;
    const void *k;
    size_t len;
    void *v;
    unsigned seen = 0;
    map_iter_init(&it, &m);
    while (map_iter_next(&it, &k, &len, &v)) {
        if ((uintptr_t)v % 3 == 0)
            ck_assert_ptr_eq(map_remove(&m, k, len), v);
        seen++;
    }
    ck_assert_uint_eq(seen, 5000);
    ck_assert_uint_eq(map_count(&m), 5000 - 5000 / 3);
    /* Then remove everything, shrinking all the way while iterating. */
    seen = 0;
    map_iter_init(&it, &m);
    while (map_iter_next(&it, &k, &len, NULL)) {
        ck_assert_ptr_nonnull(map_remove(&m, k, len));
        seen++;
    }
    ck_assert_uint_eq(seen, 5000 - 5000 / 3);
    ck_assert_uint_eq(map_count(&m), 0);
    map_iter_init(&it, &m);
    ck_assert(!map_iter_next(&it, NULL, NULL, NULL));
    map_free(&m);
}
END_TEST

START_TEST(test_seeded_hash)
{
    ck_assert_uint_eq(map_hash(42, "abc", 3), map_hash(42, "abc", 3));
    ck_assert_uint_ne(map_hash(42, "abc", 3), map_hash(43, "abc", 3));
    ck_assert_uint_ne(map_hash(42, "", 0), map_hash(42, "\0", 1));
    ck_assert_uint_ne(map_hash(42, "\0", 1), map_hash(42, "\0\0", 2));
    struct map m;
    map_init_seeded(&m, 7);
    map_put(&m, "k", 1, val(1));
    ck_assert_uint_eq(m.seed, 7);
    ck_assert_ptr_eq(map_get(&m, "k", 1), val(1));
    ck_assert_ptr_eq(map_get_hashed(&m, "k", 1, map_hash(7, "k", 1)), val(1));
    ck_assert_ptr_null(map_get_hashed(&m, "j", 1, map_hash(7, "j", 1)));
    map_free(&m);
    ck_assert_ptr_null(map_get_hashed(&m, "k", 1, map_hash(7, "k", 1)));
}
END_TEST

/* Sequential integer keys spread evenly over the low bits the bucket index uses. */
START_TEST(test_hash_spreads)
{
    enum { BUCKETS = 1024, PER = 100 };
    static unsigned hits[BUCKETS];
    memset(hits, 0, sizeof hits);
    for (uint32_t i = 0; i < BUCKETS * PER; i++)
        hits[map_hash(1, &i, sizeof i) & (BUCKETS - 1)]++;
    for (unsigned b = 0; b < BUCKETS; b++) {
        ck_assert_uint_gt(hits[b], PER / 2);
        ck_assert_uint_lt(hits[b], PER * 2);
    }
}
END_TEST

/* A pool of distinct keys of lengths 0..40 with NUL bytes, for the reference comparison. */
enum { POOL = 4000 };
struct pool_key {
    unsigned char bytes[48];
    size_t len;
};

static void make_pool(struct pool_key *pool)
{
    for (unsigned i = 0; i < POOL; i++) {
        pool[i].len = i % 41;
        memset(pool[i].bytes, 0, sizeof pool[i].bytes);
        for (size_t j = 0; j < pool[i].len; j++)
            pool[i].bytes[j] = (unsigned char)(rng_next() % 4); /* many NULs */
        /* Make keys distinct: the index goes into the first bytes when there is room. */
        if (pool[i].len >= 4)
            memcpy(pool[i].bytes, &i, 4);
    }
}

START_TEST(test_random_against_reference)
{
    rng_seed(0x5eed);
    static struct pool_key pool[POOL];
    make_pool(pool);
    /* Short keys may coincide: the reference maps each pool slot to its first equal slot. */
    static unsigned canon[POOL];
    for (unsigned i = 0; i < POOL; i++) {
        canon[i] = i;
        for (unsigned j = 0; j < i; j++)
            if (pool[j].len == pool[i].len &&
                memcmp(pool[j].bytes, pool[i].bytes, pool[i].len) == 0) {
                canon[i] = canon[j];
                break;
            }
    }
    static uintptr_t ref[POOL]; /* 0 = absent */
    memset(ref, 0, sizeof ref);
    size_t ref_count = 0;
    struct map m;
    map_init(&m);
    for (unsigned op = 0; op < 1000000; op++) {
        unsigned i = rng_next() % POOL;
        unsigned c = canon[i];
        const struct pool_key *k = &pool[i];
        switch (rng_next() % 4) {
        case 0:
        case 1: {
            uintptr_t v = op + 1;
            bool inserted = map_put(&m, k->bytes, k->len, val(v));
            if (inserted != (ref[c] == 0))
                ck_abort_msg("op %u: put returned %d", op, inserted);
            ref_count += inserted;
            ref[c] = v;
            break;
        }
        case 2: {
            void *got = map_remove(&m, k->bytes, k->len);
            if (got != val(ref[c]))
                ck_abort_msg("op %u: remove returned %p", op, got);
            ref_count -= ref[c] != 0;
            ref[c] = 0;
            break;
        }
        default:
            if (map_get(&m, k->bytes, k->len) != val(ref[c]))
                ck_abort_msg("op %u: get differs from the reference", op);
        }
        /* Check logs every passing assertion: in this loop, assert only on a mismatch. */
        if (map_count(&m) != ref_count)
            ck_abort_msg("op %u: count %zu, want %zu", op, map_count(&m), ref_count);
        /* Now and then, empty most of the map to exercise shrinking. */
        if (op % 200000 == 199999) {
            for (unsigned j = 0; j < POOL; j++)
                if (canon[j] == j && j % 10 != 0 && ref[j]) {
                    ck_assert_ptr_eq(map_remove(&m, pool[j].bytes, pool[j].len), val(ref[j]));
                    ref[j] = 0;
                    ref_count--;
                }
        }
    }
    /* Iteration yields exactly the reference's entries. */
    struct map_iter it;
    const void *key;
    size_t len;
    void *v;
    size_t seen = 0;
    map_iter_init(&it, &m);
    while (map_iter_next(&it, &key, &len, &v)) {
        bool found = false;
        for (unsigned j = 0; j < POOL && !found; j++)
            found = canon[j] == j && pool[j].len == len &&
                    memcmp(pool[j].bytes, key, len) == 0 && val(ref[j]) == v;
        ck_assert(found);
        seen++;
    }
    ck_assert_uint_eq(seen, ref_count);
    map_free(&m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("map");
    TCase *tc = tcase_create("map");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_put_get_remove);
    tcase_add_test(tc, test_key_is_copied);
    tcase_add_test(tc, test_binary_keys);
    tcase_add_test(tc, test_grow_and_shrink);
    tcase_add_test(tc, test_iteration_order);
    tcase_add_test(tc, test_remove_while_iterating);
    tcase_add_test(tc, test_seeded_hash);
    tcase_add_test(tc, test_hash_spreads);
    tcase_add_test(tc, test_random_against_reference);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
