/* Unit tests for headers-exchange matching; every expectation was checked on RabbitMQ 3.10.8. */
/* Each MATCHES/REFUSES below (and test_large_tables) was replayed against Debian's RabbitMQ
 * 3.10.8 with pika: a headers exchange, one queue bound with the binding table, a mandatory
 * publish with confirms carrying the headers table byte for byte. All agreed, except the
 * unknown x-match cases, which RabbitMQ refuses at bind time (406 PRECONDITION_FAILED), so
 * their expectations follow RabbitMQ's matching code instead. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "amqp_buf.h"
#include "amqp_table.h"
#include "model/exchange_headers.h"

/* ---- building tables ---- */

struct kv {
    const char *key;
    struct amqp_field value;
};

enum { POOL = 256 };
static struct amqp_buf pool[POOL];
static size_t pool_used;

static void release_tables(void)
{
    for (size_t i = 0; i < pool_used; i++)
        amqp_buf_free(&pool[i]);
    pool_used = 0;
}

/* Encodes entries up to the one with a NULL key; returns the checked body. */
static struct amqp_bytes make_table(const struct kv *kvs)
{
    ck_assert_uint_lt(pool_used, POOL);
    struct amqp_buf *b = &pool[pool_used++];
    amqp_buf_init(b);
    size_t mark = amqp_table_begin(b);
    for (; kvs->key; kvs++) {
        amqp_table_put_key(b, kvs->key);
        amqp_field_put(b, &kvs->value);
    }
    amqp_table_end(b, mark);
    struct amqp_bytes body = amqp_bytes_of(b->data + mark + 4, b->len - mark - 4);
    ck_assert_int_eq(amqp_table_check(body, NULL), 0);
    return body;
}

static struct amqp_bytes make_array(const struct amqp_field *values, size_t n)
{
    ck_assert_uint_lt(pool_used, POOL);
    struct amqp_buf *b = &pool[pool_used++];
    amqp_buf_init(b);
    for (size_t i = 0; i < n; i++)
        amqp_field_put(b, &values[i]);
    return amqp_bytes_of(b->data, b->len);
}

#define TABLE(...) make_table((const struct kv[]){__VA_ARGS__, {NULL, {0}}})
#define EMPTY amqp_bytes_of("", 0)

static struct amqp_field I(int32_t v) { return (struct amqp_field){.type = 'I', .v.i32 = v}; }
static struct amqp_field L(int64_t v) { return (struct amqp_field){.type = 'l', .v.i64 = v}; }
static struct amqp_field b8(int8_t v) { return (struct amqp_field){.type = 'b', .v.i8 = v}; }
static struct amqp_field B8(uint8_t v) { return (struct amqp_field){.type = 'B', .v.u8 = v}; }
static struct amqp_field U16(uint16_t v) { return (struct amqp_field){.type = 'u', .v.u16 = v}; }
static struct amqp_field U32(uint32_t v) { return (struct amqp_field){.type = 'i', .v.u32 = v}; }
static struct amqp_field T(uint64_t v) { return (struct amqp_field){.type = 'T', .v.u64 = v}; }
static struct amqp_field F32(float v) { return (struct amqp_field){.type = 'f', .v.f32 = v}; }
static struct amqp_field F64(double v) { return (struct amqp_field){.type = 'd', .v.f64 = v}; }
static struct amqp_field BOOL(bool v) { return (struct amqp_field){.type = 't', .v.boolean = v}; }
static struct amqp_field DEC(uint8_t scale, uint32_t v)
{
    return (struct amqp_field){.type = 'D', .v.decimal = {scale, v}};
}
static struct amqp_field S(const char *s)
{
    return (struct amqp_field){.type = 'S', .v.bytes = amqp_cstr(s)};
}
static struct amqp_field X(const char *s)
{
    return (struct amqp_field){.type = 'x', .v.bytes = amqp_cstr(s)};
}
static struct amqp_field NEST(struct amqp_bytes body)
{
    return (struct amqp_field){.type = 'F', .v.table = body};
}
static struct amqp_field ARR(struct amqp_bytes body)
{
    return (struct amqp_field){.type = 'A', .v.array = body};
}
#define ARRAY(...) \
    ARR(make_array((const struct amqp_field[]){__VA_ARGS__}, \
                   sizeof((const struct amqp_field[]){__VA_ARGS__}) / sizeof(struct amqp_field)))
static const struct amqp_field VOID = {.type = 'V'};
#define XM(mode) {"x-match", S(mode)}

#define MATCHES(binding, headers) ck_assert(exchange_headers_match((binding), (headers)))
#define REFUSES(binding, headers) ck_assert(!exchange_headers_match((binding), (headers)))

/* ---- the x-match modes ---- */

START_TEST(test_all)
{
    struct amqp_bytes ab = TABLE({"a", I(1)}, {"b", I(2)});
    REFUSES(ab, TABLE({"a", I(1)}));                               /* RabbitMQ: False */
    MATCHES(ab, TABLE({"c", I(3)}, {"b", I(2)}, {"a", I(1)}));     /* True, any order */
    REFUSES(ab, TABLE({"a", I(1)}, {"b", I(3)}));
    REFUSES(ab, EMPTY);
    MATCHES(TABLE(XM("all"), {"a", I(1)}), TABLE({"a", I(1)}));
    /* Keys compare as whole binaries: "ab" is neither "a" nor "abc". */
    REFUSES(TABLE({"ab", I(1)}), TABLE({"a", I(1)}, {"abc", I(1)}));
}
END_TEST

START_TEST(test_any)
{
    struct amqp_bytes ab = TABLE(XM("any"), {"a", I(1)}, {"b", I(2)});
    MATCHES(ab, TABLE({"b", I(2)}));
    REFUSES(ab, TABLE({"b", I(3)}));
    REFUSES(ab, EMPTY);
    MATCHES(ab, TABLE({"z", I(0)}, {"a", I(1)}));
}
END_TEST

START_TEST(test_no_keys)
{
    MATCHES(EMPTY, EMPTY);                                  /* all, nothing required */
    MATCHES(TABLE(XM("all")), EMPTY);
    MATCHES(TABLE(XM("all")), TABLE({"a", I(1)}));
    REFUSES(TABLE(XM("any")), TABLE({"a", I(1)}));          /* any with no keys: nothing */
    REFUSES(TABLE(XM("any")), EMPTY);
    MATCHES(TABLE(XM("all-with-x")), EMPTY);
    REFUSES(TABLE(XM("any-with-x")), TABLE({"x-match", S("any-with-x")}));
    /* Under all/any, x- keys alone leave no keys. */
    MATCHES(TABLE(XM("all"), {"x-foo", S("bar")}), EMPTY);
    REFUSES(TABLE(XM("any"), {"x-foo", S("bar")}), TABLE({"x-foo", S("bar")}));
}
END_TEST

START_TEST(test_x_keys)
{
    REFUSES(TABLE(XM("all-with-x"), {"x-foo", S("bar")}), EMPTY);
    MATCHES(TABLE(XM("all-with-x"), {"x-foo", S("bar")}), TABLE({"x-foo", S("bar")}));
    struct amqp_bytes fa = TABLE(XM("any-with-x"), {"x-foo", S("bar")}, {"a", I(1)});
    MATCHES(fa, TABLE({"x-foo", S("bar")}));
    struct amqp_bytes fa_any = TABLE(XM("any"), {"x-foo", S("bar")}, {"a", I(1)});
    REFUSES(fa_any, TABLE({"x-foo", S("bar")}));
    MATCHES(fa_any, TABLE({"a", I(1)}));
    /* x-match is never compared, even when the message carries one. */
    MATCHES(TABLE(XM("all"), {"a", I(1)}), TABLE({"x-match", S("any")}, {"a", I(1)}));
    MATCHES(TABLE(XM("all-with-x"), {"a", I(1)}), TABLE({"a", I(1)}));
    /* Only lower-case "x-" is special. */
    REFUSES(TABLE({"X-foo", I(1)}), EMPTY);
    /* The first x-match decides; a second is ignored like the first. */
    MATCHES(TABLE(XM("any"), XM("all"), {"a", I(1)}, {"b", I(1)}), TABLE({"a", I(1)}));
    /* Unknown modes and non-string x-match read as all (RabbitMQ refuses them at bind). */
    MATCHES(TABLE({"x-match", S("most")}, {"a", I(1)}), TABLE({"a", I(1)}));
    REFUSES(TABLE({"x-match", S("most")}, {"a", I(1)}, {"b", I(1)}), TABLE({"a", I(1)}));
    REFUSES(TABLE({"x-match", I(1)}, {"a", I(1)}, {"b", I(1)}), TABLE({"a", I(1)}));
}
END_TEST

START_TEST(test_void)
{
    MATCHES(TABLE({"a", VOID}), TABLE({"a", S("zz")}));
    REFUSES(TABLE({"a", VOID}), TABLE({"b", S("zz")}));
    REFUSES(TABLE(XM("any"), {"a", VOID}), TABLE({"b", S("zz")}));
    REFUSES(TABLE({"a", S("zz")}), TABLE({"a", VOID}));
    MATCHES(TABLE({"a", VOID}), TABLE({"a", VOID}));
    MATCHES(TABLE(XM("any"), {"a", VOID}, {"b", I(9)}), TABLE({"a", I(1)}));
}
END_TEST

/* ---- value comparison: Erlang's == on RabbitMQ's decoded values ---- */

START_TEST(test_numbers_across_types)
{
    MATCHES(TABLE({"a", I(1)}), TABLE({"a", L(1)}));            /* int 1 == long 1 */
    MATCHES(TABLE({"a", L(1)}), TABLE({"a", I(1)}));
    MATCHES(TABLE({"a", I(1)}), TABLE({"a", F64(1.0)}));        /* 1 == 1.0 */
    MATCHES(TABLE({"a", I(1)}), TABLE({"a", F32(1.0f)}));
    MATCHES(TABLE({"a", F32(1.5f)}), TABLE({"a", F64(1.5)}));
    REFUSES(TABLE({"a", F32(0.1f)}), TABLE({"a", F64(0.1)}));
    REFUSES(TABLE({"a", L(9007199254740993)}), TABLE({"a", F64(9007199254740992.0)}));
    MATCHES(TABLE({"a", L(9007199254740992)}), TABLE({"a", F64(9007199254740992.0)}));
    MATCHES(TABLE({"a", T(5)}), TABLE({"a", L(5)}));
    MATCHES(TABLE({"a", b8(-1)}), TABLE({"a", L(-1)}));
    REFUSES(TABLE({"a", B8(255)}), TABLE({"a", b8(-1)}));
    MATCHES(TABLE({"a", U32(4294967295u)}), TABLE({"a", L(4294967295)}));
    MATCHES(TABLE({"a", U16(7)}), TABLE({"a", B8(7)}));
    MATCHES(TABLE({"a", F64(0.0)}), TABLE({"a", F64(-0.0)}));
    REFUSES(TABLE({"a", F64(1.5)}), TABLE({"a", I(1)}));
    /* Beyond int64: a timestamp of 2^64-1 is not long -1. */
    REFUSES(TABLE({"a", T(UINT64_MAX)}), TABLE({"a", L(-1)}));
    REFUSES(TABLE({"a", T(UINT64_MAX)}), TABLE({"a", F64(18446744073709551616.0)}));
    MATCHES(TABLE({"a", T(9223372036854775808u)}), TABLE({"a", F64(9223372036854775808.0)}));
}
END_TEST

START_TEST(test_other_types)
{
    REFUSES(TABLE({"a", S("1")}), TABLE({"a", I(1)}));
    MATCHES(TABLE({"a", S("abc")}), TABLE({"a", X("abc")}));    /* both Erlang binaries */
    REFUSES(TABLE({"a", S("abc")}), TABLE({"a", S("abd")}));
    REFUSES(TABLE({"a", BOOL(true)}), TABLE({"a", I(1)}));
    REFUSES(TABLE({"a", BOOL(false)}), TABLE({"a", I(0)}));
    MATCHES(TABLE({"a", BOOL(true)}), TABLE({"a", BOOL(true)}));
    REFUSES(TABLE({"a", BOOL(true)}), TABLE({"a", BOOL(false)}));
    REFUSES(TABLE({"a", DEC(2, 100)}), TABLE({"a", DEC(1, 10)}));
    MATCHES(TABLE({"a", DEC(2, 100)}), TABLE({"a", DEC(2, 100)}));
    REFUSES(TABLE({"a", DEC(0, 1)}), TABLE({"a", I(1)}));
}
END_TEST

START_TEST(test_nested)
{
    /* Top level: an empty table and an empty array are both the empty list. */
    MATCHES(TABLE({"a", NEST(EMPTY)}), TABLE({"a", ARR(EMPTY)}));
    REFUSES(TABLE({"a", NEST(TABLE({"b", I(1)}))}), TABLE({"a", ARRAY(I(1))}));
    /* Inside, types count and order counts. */
    REFUSES(TABLE({"a", NEST(TABLE({"b", I(1)}))}), TABLE({"a", NEST(TABLE({"b", L(1)}))}));
    MATCHES(TABLE({"a", NEST(TABLE({"b", I(1)}))}), TABLE({"a", NEST(TABLE({"b", I(1)}))}));
    REFUSES(TABLE({"a", NEST(TABLE({"b", I(1)}, {"c", I(2)}))}),
            TABLE({"a", NEST(TABLE({"c", I(2)}, {"b", I(1)}))}));
    REFUSES(TABLE({"a", NEST(TABLE({"b", I(1)}))}),
            TABLE({"a", NEST(TABLE({"b", I(1)}, {"c", I(2)}))}));
    REFUSES(TABLE({"a", ARRAY(I(1))}), TABLE({"a", ARRAY(L(1))}));
    REFUSES(TABLE({"a", ARRAY(S("x"))}), TABLE({"a", ARRAY(X("x"))}));
    MATCHES(TABLE({"a", ARRAY(F64(0.0))}), TABLE({"a", ARRAY(F64(-0.0))}));
    MATCHES(TABLE({"a", ARRAY(S("x"), NEST(TABLE({"k", VOID})))}),
            TABLE({"a", ARRAY(S("x"), NEST(TABLE({"k", VOID})))}));
    REFUSES(TABLE({"a", ARRAY(I(1), I(2))}), TABLE({"a", ARRAY(I(1))}));
    /* Nested empties of different types are different ({table,[]} vs {array,[]}). */
    REFUSES(TABLE({"a", ARRAY(NEST(EMPTY))}), TABLE({"a", ARRAY(ARR(EMPTY))}));
}
END_TEST

/* Duplicate keys: both sides are stably sorted and walked pairwise. */
START_TEST(test_duplicate_keys)
{
    REFUSES(TABLE({"a", I(2)}), TABLE({"a", I(1)}, {"a", I(2)}));
    MATCHES(TABLE({"a", I(2)}), TABLE({"a", I(2)}, {"a", I(1)}));
    REFUSES(TABLE(XM("any"), {"a", I(2)}), TABLE({"a", I(1)}, {"a", I(2)}));
    REFUSES(TABLE({"a", I(1)}, {"a", I(2)}), TABLE({"a", I(1)}));
    MATCHES(TABLE({"a", I(1)}, {"a", I(2)}), TABLE({"a", I(1)}, {"a", I(2)}));
    REFUSES(TABLE(XM("any"), {"a", I(2)}, {"a", I(1)}), TABLE({"a", I(1)}));
    REFUSES(TABLE({"a", VOID}, {"a", VOID}), TABLE({"a", I(1)}));
}
END_TEST

/* Tables past the inline capacity (32 entries) take the allocating path. */
START_TEST(test_large_tables)
{
    static struct kv binding[41], headers[61];
    static char names[60][16];
    for (int i = 0; i < 60; i++)
        snprintf(names[i], sizeof names[i], "k%02d", i);
    for (int i = 0; i < 40; i++)
        binding[i] = (struct kv){names[(i * 7) % 40], I((i * 7) % 40)};
    binding[40] = (struct kv){NULL, {0}};
    for (int i = 0; i < 60; i++)
        headers[i] = (struct kv){names[59 - i], L(59 - i)};
    headers[60] = (struct kv){NULL, {0}};
    MATCHES(make_table(binding), make_table(headers));
    headers[59 - 13].value = L(1000); /* k13 now differs */
    REFUSES(make_table(binding), make_table(headers));
    binding[0] = (struct kv){"x-match", S("any")};
    MATCHES(make_table(binding), make_table(headers));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("headers_match");
    TCase *tc = tcase_create("headers_match");
    tcase_add_checked_fixture(tc, NULL, release_tables);
    tcase_add_test(tc, test_all);
    tcase_add_test(tc, test_any);
    tcase_add_test(tc, test_no_keys);
    tcase_add_test(tc, test_x_keys);
    tcase_add_test(tc, test_void);
    tcase_add_test(tc, test_numbers_across_types);
    tcase_add_test(tc, test_other_types);
    tcase_add_test(tc, test_nested);
    tcase_add_test(tc, test_duplicate_keys);
    tcase_add_test(tc, test_large_tables);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
