/* Unit tests for the topic trie, against RabbitMQ's observed routing and a brute-force matcher. */
/* The expect_match cases were also replayed on RabbitMQ 3.10.8 (one queue per pattern) and
 * agreed; `observed` below is RabbitMQ's own answer. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/exchange_topic.h"

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

/* Bindings are addresses in this array; a binding's id is its index. */
enum { MAX_BINDINGS = 60000 };
static char binding_base[MAX_BINDINGS];

static void *binding(size_t id)
{
    return &binding_base[id];
}

/* How many times match visited each binding. */
struct visits {
    unsigned count[MAX_BINDINGS];
    size_t total;
};

static void count_visit(void *b, void *ctx)
{
    struct visits *v = ctx;
    v->count[(char *)b - binding_base]++;
    v->total++;
}

static struct visits *match(const struct topic_index *t, const char *key)
{
    static struct visits v;
    memset(&v, 0, sizeof v);
    exchange_topic_match(t, key, strlen(key), count_visit, &v);
    return &v;
}

static void bind_str(struct topic_index *t, const char *pattern, size_t id)
{
    ck_assert(exchange_topic_bind(t, pattern, strlen(pattern), binding(id)));
}

/* Bindings 0..n-1 under patterns[i]; asserts key reaches exactly those listed in `expect`
 * (a string of binding ids as letters 'A' + id), each once. */
static void expect_match(const struct topic_index *t, size_t n, const char *key, const char *expect)
{
    struct visits *v = match(t, key);
    for (size_t id = 0; id < n; id++) {
        unsigned want = strchr(expect, (int)('A' + id)) != NULL;
        ck_assert_msg(v->count[id] == want, "key '%s' pattern #%zu: visited %u times, want %u",
                      key, id, v->count[id], want);
    }
}

/* RabbitMQ 3.10.8 topic exchange, observed with pika (one queue per pattern, mandatory
 * publishes with confirms): which keys each pattern routed. Keys are split as RabbitMQ
 * splits them: "" has no words, so "*" does not match it but "" and "#" do. */
static const char *const observed_keys[] = {
    "", ".", "..", "a", "a.", ".a", "a..b", "a.b", "a.x.b", "a.x.y.b", "b", "#", "*", "a.a",
};
static const struct {
    const char *pattern;
    const char *routed[16];
} observed[] = {
    {"", {""}},
    {".", {"."}},
    {"#", {"", ".", "..", "a", "a.", ".a", "a..b", "a.b", "a.x.b", "a.x.y.b", "b", "#", "*", "a.a"}},
    {"*", {"a", "b", "#", "*"}},
    {"#.#", {"", ".", "..", "a", "a.", ".a", "a..b", "a.b", "a.x.b", "a.x.y.b", "b", "#", "*", "a.a"}},
    {"*.#", {".", "..", "a", "a.", ".a", "a..b", "a.b", "a.x.b", "a.x.y.b", "b", "#", "*", "a.a"}},
    {"#.*", {".", "..", "a", "a.", ".a", "a..b", "a.b", "a.x.b", "a.x.y.b", "b", "#", "*", "a.a"}},
    {"*.*", {".", "a.", ".a", "a.b", "a.a"}},
    {"a", {"a"}},
    {"a.", {"a."}},
    {".a", {".a"}},
    {"a..b", {"a..b"}},
    {"a.*.b", {"a..b", "a.x.b"}},
    {"a.#.b", {"a..b", "a.b", "a.x.b", "a.x.y.b"}},
    {"a.#", {"a", "a.", "a..b", "a.b", "a.x.b", "a.x.y.b", "a.a"}},
    {"#.b", {"a..b", "a.b", "a.x.b", "a.x.y.b", "b"}},
    {"#.a.#", {"a", "a.", ".a", "a..b", "a.b", "a.x.b", "a.x.y.b", "a.a"}},
    {"*.", {".", "a."}},
    {".*", {".", ".a"}},
    {"#.", {".", "..", "a."}},
    {".#", {".", "..", ".a"}},
    {"a*", {NULL}},
    {"#a", {NULL}},
};

static bool listed(const char *const *list, size_t n, const char *key)
{
    for (size_t i = 0; i < n && list[i]; i++)
        if (strcmp(list[i], key) == 0)
            return true;
    return false;
}

START_TEST(test_rabbitmq_observed)
{
    struct topic_index t;
    exchange_topic_init(&t);
    size_t n = sizeof observed / sizeof observed[0];
    for (size_t i = 0; i < n; i++)
        bind_str(&t, observed[i].pattern, i);
    for (size_t k = 0; k < sizeof observed_keys / sizeof observed_keys[0]; k++) {
        struct visits *v = match(&t, observed_keys[k]);
        for (size_t i = 0; i < n; i++) {
            unsigned want = listed(observed[i].routed, 16, observed_keys[k]);
            ck_assert_msg(v->count[i] == want, "pattern '%s' key '%s': visited %u, want %u",
                          observed[i].pattern, observed_keys[k], v->count[i], want);
        }
    }
    exchange_topic_free(&t);
}
END_TEST

START_TEST(test_hash_at_every_position)
{
    struct topic_index t;
    exchange_topic_init(&t);
    const char *patterns[] = {"#.x.y", "x.#.y", "x.y.#", "#.x.#", "#.y", "x.#", "#"};
    size_t n = sizeof patterns / sizeof patterns[0];
    for (size_t i = 0; i < n; i++)
        bind_str(&t, patterns[i], i);
    /* A="#.x.y" B="x.#.y" C="x.y.#" D="#.x.#" E="#.y" F="x.#" G="#" */
    expect_match(&t, n, "x.y", "ABCDEFG");
    expect_match(&t, n, "q.x.y", "ADEG");
    expect_match(&t, n, "q.r.x.y", "ADEG");
    expect_match(&t, n, "x.q.r.y", "BDEFG");
    expect_match(&t, n, "x.y.z", "CDFG");
    expect_match(&t, n, "x.y.z.w", "CDFG");
    expect_match(&t, n, "x", "DFG");
    expect_match(&t, n, "y", "EG");
    expect_match(&t, n, "", "G");
    expect_match(&t, n, "q", "G");
    expect_match(&t, n, "x.y.x.y", "ABCDEFG");
    exchange_topic_free(&t);
}
END_TEST

START_TEST(test_star_and_empty_words)
{
    struct topic_index t;
    exchange_topic_init(&t);
    const char *patterns[] = {"*", "*.*", "a.*", "*.a", "..", "a..", "", "*.*.*"};
    size_t n = sizeof patterns / sizeof patterns[0];
    for (size_t i = 0; i < n; i++)
        bind_str(&t, patterns[i], i);
    /* A="*" B="*.*" C="a.*" D="*.a" E=".." F="a.." G="" H="*.*.*" */
    expect_match(&t, n, "", "G");
    expect_match(&t, n, "a", "A");
    expect_match(&t, n, ".", "B");
    expect_match(&t, n, "a.", "BC");
    expect_match(&t, n, ".a", "BD");
    expect_match(&t, n, "a.a", "BCD");
    expect_match(&t, n, "..", "EH");
    expect_match(&t, n, "a..", "FH");
    expect_match(&t, n, "*", "A");   /* a literal "*" in a key is an ordinary word */
    expect_match(&t, n, "a.*", "BC");
    exchange_topic_free(&t);
}
END_TEST

START_TEST(test_multiple_hashes_and_dedupe)
{
    struct topic_index t;
    exchange_topic_init(&t);
    const char *patterns[] = {"#.#", "a.#", "#.a.#", "#.*.#", "a.#.#.a", "#.#.#.#.#.#.#.#"};
    size_t n = sizeof patterns / sizeof patterns[0];
    for (size_t i = 0; i < n; i++)
        bind_str(&t, patterns[i], i);
    /* Many paths reach each of these, but each binding is visited exactly once. */
    expect_match(&t, n, "a.a", "ABCDEF");
    expect_match(&t, n, "a.a.a.a.a.a", "ABCDEF");
    expect_match(&t, n, "", "AF");
    expect_match(&t, n, "b", "ADF");
    expect_match(&t, n, "a", "ABCDF");
    /* A long key against many hashes stays linear: 250 words. */
    char key[600];
    size_t len = 0;
    for (int i = 0; i < 250; i++) {
        strcpy(key + len, i ? ".a" : "a");
        len += strlen(key + len);
    }
    expect_match(&t, n, key, "ABCDEF");
    exchange_topic_free(&t);
}
END_TEST

START_TEST(test_same_binding_two_patterns)
{
    struct topic_index t;
    exchange_topic_init(&t);
    ck_assert(exchange_topic_bind(&t, "a.*", 3, binding(0)));
    ck_assert(exchange_topic_bind(&t, "a.b", 3, binding(0)));
    ck_assert(!exchange_topic_bind(&t, "a.b", 3, binding(0))); /* the same pair again: no change */
    ck_assert_uint_eq(exchange_topic_count(&t), 2);
    struct visits *v = match(&t, "a.b");
    ck_assert_uint_eq(v->count[0], 2); /* once per pattern: queue dedupe is the exchange's */
    exchange_topic_free(&t);
}
END_TEST

START_TEST(test_unbind)
{
    struct topic_index t;
    exchange_topic_init(&t);
    ck_assert_uint_eq(t.nodes, 1);
    bind_str(&t, "a.b.c", 0);
    bind_str(&t, "a.b", 1);
    bind_str(&t, "a.#.c", 2);
    bind_str(&t, "*.b.c", 3);
    size_t nodes = t.nodes;
    ck_assert(!exchange_topic_unbind(&t, "a.b.c", 5, binding(1)));  /* wrong binding */
    ck_assert(!exchange_topic_unbind(&t, "a.b.d", 5, binding(0)));  /* no such pattern */
    ck_assert(!exchange_topic_unbind(&t, "a", 1, binding(0)));      /* a prefix node, unbound */
    ck_assert_uint_eq(t.nodes, nodes);
    ck_assert(exchange_topic_unbind(&t, "a.b.c", 5, binding(0)));
    ck_assert(!exchange_topic_unbind(&t, "a.b.c", 5, binding(0)));
    ck_assert_uint_eq(t.nodes, nodes - 1); /* the "c" under "a.b" went */
    expect_match(&t, 4, "a.b.c", "CD");
    expect_match(&t, 4, "a.b", "B");
    ck_assert(exchange_topic_unbind(&t, "a.b", 3, binding(1)));
    ck_assert(exchange_topic_unbind(&t, "a.#.c", 5, binding(2)));
    ck_assert(exchange_topic_unbind(&t, "*.b.c", 5, binding(3)));
    ck_assert_uint_eq(t.nodes, 1);
    ck_assert_uint_eq(exchange_topic_count(&t), 0);
    expect_match(&t, 4, "a.b.c", "");
    /* The empty pattern binds at the root, which is never freed. */
    bind_str(&t, "", 0);
    ck_assert_uint_eq(t.nodes, 1);
    expect_match(&t, 1, "", "A");
    ck_assert(exchange_topic_unbind(&t, "", 0, binding(0)));
    expect_match(&t, 1, "", "");
    exchange_topic_free(&t);
}
END_TEST

/* Thousands of bindings under one pattern: unbinding any of them in any order. */
START_TEST(test_many_bindings_one_pattern)
{
    enum { N = 3000 };
    struct topic_index t;
    exchange_topic_init(&t);
    for (size_t i = 0; i < N; i++)
        bind_str(&t, "orders.*", i);
    ck_assert(!exchange_topic_bind(&t, "orders.*", 8, binding(1234)));
    static size_t order[N];
    for (size_t i = 0; i < N; i++)
        order[i] = i;
    rng_seed(99);
    for (size_t i = N - 1; i > 0; i--) {
        size_t j = rng_next() % (i + 1);
        size_t tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
    for (size_t i = 0; i < N; i++) {
        ck_assert(exchange_topic_unbind(&t, "orders.*", 8, binding(order[i])));
        if (i % 500 == 0 || i > N - 40) {
            struct visits *v = match(&t, "orders.new");
            ck_assert_uint_eq(v->total, N - i - 1);
            for (size_t k = 0; k <= i; k++)
                ck_assert_uint_eq(v->count[order[k]], 0);
        }
    }
    ck_assert_uint_eq(t.nodes, 1);
    exchange_topic_free(&t);
}
END_TEST

/* ---- brute force reference ---- */

enum { MAX_WORDS = 64 };
struct words {
    const char *w[MAX_WORDS];
    size_t len[MAX_WORDS];
    size_t n;
};

static void split(const char *s, struct words *out)
{
    out->n = 0;
    if (!*s)
        return;
    for (;;) {
        const char *dot = strchr(s, '.');
        size_t len = dot ? (size_t)(dot - s) : strlen(s);
        out->w[out->n] = s;
        out->len[out->n++] = len;
        if (!dot)
            return;
        s = dot + 1;
    }
}

static bool word_is(const struct words *p, size_t i, const char *s)
{
    return p->len[i] == strlen(s) && memcmp(p->w[i], s, p->len[i]) == 0;
}

static bool ref_match(const struct words *p, size_t pi, const struct words *k, size_t ki)
{
    if (pi == p->n)
        return ki == k->n;
    if (word_is(p, pi, "#")) {
        for (size_t j = ki; j <= k->n; j++)
            if (ref_match(p, pi + 1, k, j))
                return true;
        return false;
    }
    if (ki == k->n)
        return false;
    if (!word_is(p, pi, "*") &&
        (p->len[pi] != k->len[ki] || memcmp(p->w[pi], k->w[ki], p->len[pi]) != 0))
        return false;
    return ref_match(p, pi + 1, k, ki + 1);
}

static const char *const vocabulary[] = {"a", "b", "c", "", "stock", "nyse", "eu", "x1", "x2"};
enum { VOCAB = sizeof vocabulary / sizeof vocabulary[0] };

/* A dotted string of up to max_words words; wildcards only in patterns. */
static void random_dotted(char *out, size_t max_words, bool pattern)
{
    size_t n = rng_next() % (max_words + 1);
    out[0] = 0;
    for (size_t i = 0; i < n; i++) {
        const char *w;
        unsigned r = rng_next() % 100;
        if (pattern && r < 12)
            w = "#";
        else if (pattern && r < 30)
            w = "*";
        else if (r < 60)
            w = vocabulary[rng_next() % VOCAB];
        else {
            static char word[16];
            sprintf(word, "w%u", rng_next() % 40); /* widen the trie */
            w = word;
        }
        if (i)
            strcat(out, ".");
        strcat(out, w);
    }
}

/* 50,000 bindings over random patterns: every match equals the brute-force answer, each
 * matching binding visited once; then half are unbound and it is checked again. */
START_TEST(test_large_index_against_reference)
{
    enum { N = 50000, KEYS = 400 };
    static char patterns[N][64];
    static struct words split_patterns[N];
    static bool bound[N];
    rng_seed(2024);
    struct topic_index t;
    exchange_topic_init(&t);
    for (size_t i = 0; i < N; i++) {
        random_dotted(patterns[i], 6, true);
        split(patterns[i], &split_patterns[i]);
        bind_str(&t, patterns[i], i);
        bound[i] = true;
    }
    ck_assert_uint_eq(exchange_topic_count(&t), N);
    char key[128];
    for (int round = 0; round < 2; round++) {
        size_t matched = 0;
        for (size_t q = 0; q < KEYS; q++) {
            random_dotted(key, 8, false);
            struct words kw;
            split(key, &kw);
            struct visits *v = match(&t, key);
            for (size_t i = 0; i < N; i++) {
                unsigned want = bound[i] && ref_match(&split_patterns[i], 0, &kw, 0);
                /* Check logs every passing assertion: only call it on a mismatch here. */
                if (v->count[i] != want)
                    ck_abort_msg("key '%s' pattern '%s': visited %u, want %u", key,
                                 patterns[i], v->count[i], want);
                matched += want;
            }
        }
        ck_assert_uint_gt(matched, KEYS); /* the test does exercise matches */
        if (round == 1)
            break;
        for (size_t i = 0; i < N; i += 2) {
            ck_assert(exchange_topic_unbind(&t, patterns[i], strlen(patterns[i]), binding(i)));
            bound[i] = false;
        }
        ck_assert_uint_eq(exchange_topic_count(&t), N / 2);
    }
    for (size_t i = 1; i < N; i += 2)
        ck_assert(exchange_topic_unbind(&t, patterns[i], strlen(patterns[i]), binding(i)));
    ck_assert_uint_eq(exchange_topic_count(&t), 0);
    ck_assert_uint_eq(t.nodes, 1);
    exchange_topic_free(&t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("topic");
    TCase *tc = tcase_create("topic");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_rabbitmq_observed);
    tcase_add_test(tc, test_hash_at_every_position);
    tcase_add_test(tc, test_star_and_empty_words);
    tcase_add_test(tc, test_multiple_hashes_and_dedupe);
    tcase_add_test(tc, test_same_binding_two_patterns);
    tcase_add_test(tc, test_unbind);
    tcase_add_test(tc, test_many_bindings_one_pattern);
    tcase_add_test(tc, test_large_index_against_reference);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
