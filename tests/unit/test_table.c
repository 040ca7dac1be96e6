/* Unit tests for the field-table codec: round trips, malformed input, nesting limits, fuzzing. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "amqp_spec.h"
#include "amqp_table.h"
#include "amqp_wire.h"

/* A small deterministic generator so random tests reproduce exactly. */
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

static struct amqp_bytes body_of(const struct amqp_buf *b, size_t mark)
{
    return amqp_bytes_of(b->data + mark + 4, b->len - mark - 4);
}

/* Copies bytes into an allocation of exactly that size, so AddressSanitizer sees any over-read. */
static uint8_t *exact_copy(const uint8_t *p, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(copy);
    if (len)
        memcpy(copy, p, len);
    return copy;
}

static int check_copy(const uint8_t *p, size_t len, struct amqp_error *err)
{
    uint8_t *copy = exact_copy(p, len);
    int rc = amqp_table_check(amqp_bytes_of(copy, len), err);
    free(copy);
    return rc;
}

static void put_field(struct amqp_buf *b, const char *key, struct amqp_field f)
{
    amqp_table_put_key(b, key);
    amqp_field_put(b, &f);
}

static struct amqp_field field_at(struct amqp_bytes body, const char *key)
{
    struct amqp_field f;
    ck_assert_msg(amqp_table_get(body, key, &f), "field %s missing", key);
    return f;
}

/* Writes one entry of every value type; returns the table's mark. */
static size_t put_every_type(struct amqp_buf *b)
{
    size_t mark = amqp_table_begin(b);
    put_field(b, "bool", (struct amqp_field){.type = 't', .v.boolean = true});
    put_field(b, "false", (struct amqp_field){.type = 't', .v.boolean = false});
    put_field(b, "i8", (struct amqp_field){.type = 'b', .v.i8 = -128});
    put_field(b, "u8", (struct amqp_field){.type = 'B', .v.u8 = 255});
    put_field(b, "i16", (struct amqp_field){.type = 's', .v.i16 = -32768});
    put_field(b, "u16", (struct amqp_field){.type = 'u', .v.u16 = 65535});
    put_field(b, "i32", (struct amqp_field){.type = 'I', .v.i32 = INT32_MIN});
    put_field(b, "u32", (struct amqp_field){.type = 'i', .v.u32 = UINT32_MAX});
    put_field(b, "i64", (struct amqp_field){.type = 'l', .v.i64 = INT64_MIN});
    put_field(b, "f32", (struct amqp_field){.type = 'f', .v.f32 = -1.5f});
    put_field(b, "f64", (struct amqp_field){.type = 'd', .v.f64 = 3.141592653589793});
    put_field(b, "dec", (struct amqp_field){.type = 'D', .v.decimal = {2, 12345}});
    put_field(b, "str", (struct amqp_field){.type = 'S', .v.bytes = AMQP_BYTES_LIT("hello")});
    put_field(b, "bin", (struct amqp_field){.type = 'x', .v.bytes = AMQP_BYTES_LIT("\0\1\2")});
    put_field(b, "ts", (struct amqp_field){.type = 'T', .v.u64 = UINT64_MAX});
    put_field(b, "void", (struct amqp_field){.type = 'V'});
    amqp_buf_put_shortstr(b, AMQP_BYTES_LIT("arr"));
    amqp_buf_put_u8(b, 'A');
    size_t arr = amqp_table_begin(b);
    amqp_field_put(b, &(struct amqp_field){.type = 'I', .v.i32 = 7});
    amqp_field_put(b, &(struct amqp_field){.type = 'S', .v.bytes = AMQP_BYTES_LIT("x")});
    amqp_table_end(b, arr);
    size_t nested = amqp_table_begin_nested(b, "tab");
    amqp_table_put_cstr(b, "inner", "value");
    amqp_table_end(b, nested);
    amqp_table_put_bool(b, "helper_bool", true);
    amqp_table_put_longstr(b, "helper_str", AMQP_BYTES_LIT("ls"));
    amqp_table_put_i32(b, "helper_i32", -5);
    amqp_table_put_i64(b, "helper_i64", 1LL << 40);
    amqp_table_end(b, mark);
    return mark;
}

START_TEST(round_trip_every_type)
{
    struct amqp_buf b;
    struct amqp_error err = {0};
    amqp_buf_init(&b);
    size_t mark = put_every_type(&b);
    ck_assert_uint_eq(amqp_get_u32(b.data + mark), b.len - mark - 4);
    struct amqp_bytes body = body_of(&b, mark);
    ck_assert_int_eq(amqp_table_check(body, &err), 0);

    ck_assert(field_at(body, "bool").v.boolean);
    ck_assert(!field_at(body, "false").v.boolean);
    ck_assert_int_eq(field_at(body, "i8").v.i8, -128);
    ck_assert_uint_eq(field_at(body, "u8").v.u8, 255);
    ck_assert_int_eq(field_at(body, "i16").v.i16, -32768);
    ck_assert_uint_eq(field_at(body, "u16").v.u16, 65535);
    ck_assert_int_eq(field_at(body, "i32").v.i32, INT32_MIN);
    ck_assert_uint_eq(field_at(body, "u32").v.u32, UINT32_MAX);
    ck_assert(field_at(body, "i64").v.i64 == INT64_MIN);
    ck_assert(field_at(body, "f32").v.f32 == -1.5f);
    ck_assert(field_at(body, "f64").v.f64 == 3.141592653589793);
    ck_assert_uint_eq(field_at(body, "dec").v.decimal.scale, 2);
    ck_assert_uint_eq(field_at(body, "dec").v.decimal.value, 12345);
    ck_assert(amqp_bytes_eq_cstr(field_at(body, "str").v.bytes, "hello"));
    ck_assert(amqp_bytes_eq(field_at(body, "bin").v.bytes, AMQP_BYTES_LIT("\0\1\2")));
    ck_assert(field_at(body, "ts").v.u64 == UINT64_MAX);
    ck_assert_int_eq(field_at(body, "void").type, 'V');
    ck_assert(field_at(body, "helper_bool").v.boolean);
    ck_assert(amqp_bytes_eq_cstr(field_at(body, "helper_str").v.bytes, "ls"));
    ck_assert_int_eq(field_at(body, "helper_i32").v.i32, -5);
    ck_assert(field_at(body, "helper_i64").v.i64 == 1LL << 40);

    struct amqp_field arr = field_at(body, "arr");
    ck_assert_int_eq(arr.type, 'A');
    struct amqp_table_iter it;
    struct amqp_field v;
    amqp_table_iter_init(&it, arr.v.array);
    ck_assert(amqp_array_next(&it, &v));
    ck_assert_int_eq(v.type, 'I');
    ck_assert_int_eq(v.v.i32, 7);
    ck_assert(amqp_array_next(&it, &v));
    ck_assert(amqp_bytes_eq_cstr(v.v.bytes, "x"));
    ck_assert(!amqp_array_next(&it, &v));

    struct amqp_field tab = field_at(body, "tab");
    ck_assert_int_eq(tab.type, 'F');
    ck_assert(amqp_bytes_eq_cstr(field_at(tab.v.table, "inner").v.bytes, "value"));

    /* Re-encoding every iterated field reproduces the body byte for byte. */
    struct amqp_buf again;
    struct amqp_bytes key;
    amqp_buf_init(&again);
    size_t mark2 = amqp_table_begin(&again);
    amqp_table_iter_init(&it, body);
    while (amqp_table_next(&it, &key, &v)) {
        amqp_buf_put_shortstr(&again, key);
        amqp_field_put(&again, &v);
    }
    amqp_table_end(&again, mark2);
    ck_assert_uint_eq(again.len - mark2, b.len - mark);
    ck_assert(memcmp(again.data + mark2, b.data + mark, again.len - mark2) == 0);
    amqp_buf_free(&again);
    amqp_buf_free(&b);
}
END_TEST

START_TEST(exact_wire_bytes)
{
    struct amqp_buf b;
    amqp_buf_init(&b);
    size_t mark = amqp_table_begin(&b);
    put_field(&b, "a", (struct amqp_field){.type = 's', .v.i16 = -2});
    put_field(&b, "b", (struct amqp_field){.type = 'f', .v.f32 = 1.0f});
    put_field(&b, "c", (struct amqp_field){.type = 'd', .v.f64 = -2.0});
    put_field(&b, "d", (struct amqp_field){.type = 't', .v.boolean = true});
    amqp_table_end(&b, mark);
    static const uint8_t want[] = {0, 0, 0, 27,
                                   1, 'a', 's', 0xFF, 0xFE,
                                   1, 'b', 'f', 0x3F, 0x80, 0, 0,
                                   1, 'c', 'd', 0xC0, 0, 0, 0, 0, 0, 0, 0,
                                   1, 'd', 't', 1};
    ck_assert_uint_eq(b.len, sizeof want);
    ck_assert(memcmp(b.data, want, sizeof want) == 0);
    amqp_buf_free(&b);
}
END_TEST

START_TEST(capital_l_reads_as_long)
{
    static const uint8_t body[] = {1, 'k', 'L', 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE};
    struct amqp_field f;
    ck_assert_int_eq(amqp_table_check(amqp_bytes_of(body, sizeof body), NULL), 0);
    ck_assert(amqp_table_get(amqp_bytes_of(body, sizeof body), "k", &f));
    ck_assert_int_eq(f.type, 'l');
    ck_assert(f.v.i64 == -2);
}
END_TEST

START_TEST(bool_nonzero_is_true)
{
    static const uint8_t body[] = {1, 'k', 't', 7};
    struct amqp_field f;
    ck_assert_int_eq(amqp_table_check(amqp_bytes_of(body, sizeof body), NULL), 0);
    ck_assert(amqp_table_get(amqp_bytes_of(body, sizeof body), "k", &f));
    ck_assert(f.v.boolean);
}
END_TEST

START_TEST(non_finite_floats_refused)
{
    static const uint8_t inf32[] = {1, 'k', 'f', 0x7F, 0x80, 0, 0};
    static const uint8_t nan32[] = {1, 'k', 'f', 0xFF, 0xC0, 0, 1};
    static const uint8_t inf64[] = {1, 'k', 'd', 0xFF, 0xF0, 0, 0, 0, 0, 0, 0};
    static const uint8_t nan64[] = {'d', 0x7F, 0xF8, 0, 0, 0, 0, 0, 1};
    static const uint8_t tiny64[] = {'d', 0, 0, 0, 0, 0, 0, 0, 1};
    struct amqp_error err = {0};
    ck_assert_int_eq(amqp_table_check(amqp_bytes_of(inf32, sizeof inf32), &err), AMQP_SYNTAX_ERROR);
    ck_assert_ptr_nonnull(strstr(err.text, "non-finite"));
    ck_assert_int_eq(amqp_table_check(amqp_bytes_of(nan32, sizeof nan32), &err), AMQP_SYNTAX_ERROR);
    ck_assert_int_eq(amqp_table_check(amqp_bytes_of(inf64, sizeof inf64), &err), AMQP_SYNTAX_ERROR);
    ck_assert_int_eq(amqp_array_check(amqp_bytes_of(nan64, sizeof nan64), &err), AMQP_SYNTAX_ERROR);
    ck_assert_int_eq(amqp_array_check(amqp_bytes_of(tiny64, sizeof tiny64), &err), 0);
}
END_TEST

START_TEST(get_finds_first_match)
{
    struct amqp_buf b;
    struct amqp_field f;
    amqp_buf_init(&b);
    size_t mark = amqp_table_begin(&b);
    amqp_table_put_i32(&b, "dup", 1);
    amqp_table_put_i32(&b, "dup", 2);
    amqp_table_put_i32(&b, "", 3);
    amqp_table_end(&b, mark);
    struct amqp_bytes body = body_of(&b, mark);
    ck_assert_int_eq(amqp_table_check(body, NULL), 0);
    ck_assert(amqp_table_get(body, "dup", &f));
    ck_assert_int_eq(f.v.i32, 1);
    ck_assert(amqp_table_get(body, "", &f));
    ck_assert_int_eq(f.v.i32, 3);
    ck_assert(!amqp_table_get(body, "du", &f));
    ck_assert(!amqp_table_get(body, "dupe", &f));
    amqp_buf_free(&b);
}
END_TEST

START_TEST(empty_table_and_array)
{
    struct amqp_table_iter it;
    struct amqp_bytes key;
    struct amqp_field f;
    struct amqp_bytes empty = amqp_bytes_of(NULL, 0);
    ck_assert_int_eq(amqp_table_check(empty, NULL), 0);
    ck_assert_int_eq(amqp_array_check(empty, NULL), 0);
    amqp_table_iter_init(&it, empty);
    ck_assert(!amqp_table_next(&it, &key, &f));
    ck_assert(!amqp_array_next(&it, &f));
    ck_assert(!amqp_table_get(empty, "x", &f));

    struct amqp_buf b;
    amqp_buf_init(&b);
    size_t mark = amqp_table_begin(&b);
    amqp_table_end(&b, mark);
    ck_assert_uint_eq(b.len, 4);
    ck_assert_uint_eq(amqp_get_u32(b.data), 0);
    amqp_buf_free(&b);
}
END_TEST

START_TEST(tables_in_arrays_in_tables)
{
    struct amqp_buf b;
    amqp_buf_init(&b);
    size_t outer = amqp_table_begin(&b);
    amqp_buf_put_shortstr(&b, AMQP_BYTES_LIT("list"));
    amqp_buf_put_u8(&b, 'A');
    size_t arr = amqp_table_begin(&b);
    for (int i = 0; i < 3; i++) {
        amqp_buf_put_u8(&b, 'F');
        size_t t = amqp_table_begin(&b);
        amqp_table_put_i32(&b, "n", i);
        amqp_buf_put_shortstr(&b, AMQP_BYTES_LIT("empty_arr"));
        amqp_buf_put_u8(&b, 'A');
        amqp_table_end(&b, amqp_table_begin(&b));
        amqp_table_end(&b, t);
    }
    amqp_buf_put_u8(&b, 'F');
    amqp_table_end(&b, amqp_table_begin(&b)); /* an empty table inside the array */
    amqp_table_end(&b, arr);
    amqp_table_end(&b, outer);

    struct amqp_bytes body = body_of(&b, outer);
    ck_assert_int_eq(amqp_table_check(body, NULL), 0);
    struct amqp_field list = field_at(body, "list"), item;
    ck_assert_int_eq(amqp_array_check(list.v.array, NULL), 0);
    struct amqp_table_iter it;
    amqp_table_iter_init(&it, list.v.array);
    for (int i = 0; i < 3; i++) {
        ck_assert(amqp_array_next(&it, &item));
        ck_assert_int_eq(item.type, 'F');
        ck_assert_int_eq(field_at(item.v.table, "n").v.i32, i);
        ck_assert_uint_eq(field_at(item.v.table, "empty_arr").v.array.len, 0);
    }
    ck_assert(amqp_array_next(&it, &item));
    ck_assert_int_eq(item.type, 'F');
    ck_assert_uint_eq(item.v.table.len, 0);
    ck_assert(!amqp_array_next(&it, &item));
    amqp_buf_free(&b);
}
END_TEST

/* Every strict prefix of a one-entry table cuts through that entry, so all must be refused. */
START_TEST(every_truncation_refused)
{
    struct amqp_buf b;
    struct amqp_error err = {0};
    amqp_buf_init(&b);
    size_t outer = amqp_table_begin(&b);
    amqp_buf_put_shortstr(&b, AMQP_BYTES_LIT("all"));
    amqp_buf_put_u8(&b, 'F');
    put_every_type(&b);
    amqp_table_end(&b, outer);
    struct amqp_bytes body = body_of(&b, outer);
    ck_assert_int_eq(amqp_table_check(body, NULL), 0);
    for (size_t cut = 1; cut < body.len; cut++) {
        err.code = 0;
        ck_assert_int_eq(check_copy(body.ptr, cut, &err), AMQP_SYNTAX_ERROR);
        ck_assert_uint_eq(err.code, AMQP_SYNTAX_ERROR);
        ck_assert_msg(err.text[0] != '\0', "no error text at cut %zu", cut);
    }
    amqp_buf_free(&b);
}
END_TEST

/* In a many-entry table, a prefix is valid exactly when it ends on an entry boundary. */
START_TEST(truncation_valid_only_on_entry_boundaries)
{
    struct amqp_buf b;
    amqp_buf_init(&b);
    size_t mark = put_every_type(&b);
    struct amqp_bytes body = body_of(&b, mark);
    bool boundary[1024] = {false};
    ck_assert_uint_lt(body.len, sizeof boundary);
    struct amqp_table_iter it;
    struct amqp_bytes key;
    struct amqp_field f;
    amqp_table_iter_init(&it, body);
    boundary[0] = true;
    while (amqp_table_next(&it, &key, &f))
        boundary[it.p - body.ptr] = true;
    for (size_t cut = 0; cut <= body.len; cut++)
        ck_assert_int_eq(check_copy(body.ptr, cut, NULL), boundary[cut] ? 0 : AMQP_SYNTAX_ERROR);
    amqp_buf_free(&b);
}
END_TEST

START_TEST(unknown_type_refused)
{
    static const char known[] = "tbBsuIilLfdDSxATFV";
    struct amqp_error err = {0};
    for (int c = 0; c < 256; c++) {
        if (c != 0 && strchr(known, c) != NULL)
            continue;
        uint8_t body[] = {1, 'k', (uint8_t)c, 0, 0, 0, 0};
        uint8_t array[] = {(uint8_t)c, 0, 0, 0, 0};
        ck_assert_int_eq(check_copy(body, sizeof body, &err), AMQP_SYNTAX_ERROR);
        ck_assert_ptr_nonnull(strstr(err.text, "unknown field type"));
        ck_assert_int_eq(amqp_array_check(amqp_bytes_of(array, sizeof array), &err),
                         AMQP_SYNTAX_ERROR);
    }
    uint8_t z[] = {1, 'k', 'Z'};
    amqp_table_check(amqp_bytes_of(z, sizeof z), &err);
    ck_assert_str_eq(err.text, "unknown field type 'Z' in field table");
}
END_TEST

START_TEST(length_prefix_beyond_buffer_refused)
{
    static const char prefixed[] = "SxAF";
    struct amqp_error err = {0};
    for (const char *t = prefixed; *t; t++) {
        uint32_t lens[] = {3, 4, 0x7FFFFFFF, 0xFFFFFFFF};
        for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
            /* Three payload bytes follow the prefix; a prefix above 3 points past the end. */
            uint8_t body[] = {1, 'k', (uint8_t)*t, 0, 0, 0, 0, 0, 0, 0};
            amqp_put_u32(body + 3, lens[i]);
            int rc = check_copy(body, sizeof body, &err);
            if (lens[i] == 3 && (*t == 'S' || *t == 'x'))
                ck_assert_int_eq(rc, 0);
            else
                ck_assert_int_eq(rc, AMQP_SYNTAX_ERROR);
            uint8_t array[] = {(uint8_t)*t, 0, 0, 0, 0, 'V', 'V', 'V'};
            amqp_put_u32(array + 1, lens[i]);
            rc = amqp_array_check(amqp_bytes_of(array, sizeof array), &err);
            ck_assert_int_eq(rc, lens[i] == 3 && *t != 'F' ? 0 : AMQP_SYNTAX_ERROR);
        }
    }
    /* A key whose length byte runs past the end. */
    static const uint8_t key[] = {5, 'a', 'b'};
    ck_assert_int_eq(amqp_table_check(amqp_bytes_of(key, sizeof key), &err), AMQP_SYNTAX_ERROR);
    ck_assert_str_eq(err.text, "truncated field table");
}
END_TEST

/* Builds `levels` nested tables (the outermost counts as level 1), alternating tables with
 * arrays when `with_arrays`; returns the outermost body's mark in b. */
static size_t build_nested(struct amqp_buf *b, size_t levels, bool with_arrays)
{
    size_t *marks = malloc(levels * sizeof *marks);
    ck_assert_ptr_nonnull(marks);
    marks[0] = amqp_table_begin(b);
    bool in_array = false;
    for (size_t i = 1; i < levels; i++) {
        bool make_array = with_arrays && i % 2 == 1;
        if (!in_array)
            amqp_buf_put_shortstr(b, AMQP_BYTES_LIT("n"));
        amqp_buf_put_u8(b, make_array ? 'A' : 'F');
        marks[i] = amqp_table_begin(b);
        in_array = make_array;
    }
    for (size_t i = levels; i-- > 0;)
        amqp_table_end(b, marks[i]);
    size_t outer = marks[0];
    free(marks);
    return outer;
}

START_TEST(depth_limit)
{
    struct amqp_buf b;
    struct amqp_error err = {0};
    for (int with_arrays = 0; with_arrays < 2; with_arrays++) {
        amqp_buf_init(&b);
        size_t mark = build_nested(&b, AMQP_TABLE_MAX_DEPTH, with_arrays);
        ck_assert_int_eq(amqp_table_check(body_of(&b, mark), &err), 0);
        amqp_buf_free(&b);

        amqp_buf_init(&b);
        mark = build_nested(&b, AMQP_TABLE_MAX_DEPTH + 1, with_arrays);
        ck_assert_int_eq(amqp_table_check(body_of(&b, mark), &err), AMQP_SYNTAX_ERROR);
        ck_assert_str_eq(err.text, "field table nested deeper than 32 levels");
        amqp_buf_free(&b);
    }
    /* An array body is level 1 too. */
    uint8_t arr[AMQP_TABLE_MAX_DEPTH * 5];
    for (int i = 0; i < AMQP_TABLE_MAX_DEPTH; i++) {
        arr[i * 5] = 'A';
        amqp_put_u32(arr + i * 5 + 1, (uint32_t)(sizeof arr - (size_t)(i + 1) * 5));
    }
    ck_assert_int_eq(amqp_array_check(amqp_bytes_of(arr, sizeof arr), &err), AMQP_SYNTAX_ERROR);
    ck_assert_int_eq(amqp_array_check(amqp_bytes_of(arr + 5, sizeof arr - 5), &err), 0);
}
END_TEST

START_TEST(very_deep_nesting_refused_without_recursion)
{
    struct amqp_buf b;
    struct amqp_error err = {0};
    amqp_buf_init(&b);
    size_t mark = build_nested(&b, 100000, true);
    ck_assert_int_eq(amqp_table_check(body_of(&b, mark), &err), AMQP_SYNTAX_ERROR);
    ck_assert_str_eq(err.text, "field table nested deeper than 32 levels");
    amqp_buf_free(&b);
}
END_TEST

/* Walks a checked body to its end, recursing into nested values; asserts every step stays
 * inside the body and that iteration stops exactly at its end. */
static void walk(struct amqp_bytes body, bool is_table, int depth)
{
    ck_assert_int_le(depth, AMQP_TABLE_MAX_DEPTH);
    struct amqp_table_iter it;
    struct amqp_bytes key;
    struct amqp_field f;
    amqp_table_iter_init(&it, body);
    while (is_table ? amqp_table_next(&it, &key, &f) : amqp_array_next(&it, &f)) {
        ck_assert(it.p > body.ptr && it.p <= body.ptr + body.len);
        if (is_table)
            ck_assert(key.ptr >= body.ptr && key.ptr + key.len <= body.ptr + body.len);
        if (f.type == 'S' || f.type == 'x' || f.type == 'F' || f.type == 'A')
            ck_assert(f.v.bytes.ptr >= body.ptr &&
                      f.v.bytes.ptr + f.v.bytes.len <= body.ptr + body.len);
        if (f.type == 'f')
            ck_assert(isfinite(f.v.f32));
        if (f.type == 'd')
            ck_assert(isfinite(f.v.f64));
        if (f.type == 'F')
            walk(f.v.table, true, depth + 1);
        if (f.type == 'A')
            walk(f.v.array, false, depth + 1);
    }
    ck_assert(it.p == body.ptr + body.len);
}

static void check_and_walk(const uint8_t *p, size_t len, bool is_table, size_t *accepted)
{
    uint8_t *copy = exact_copy(p, len);
    struct amqp_bytes body = amqp_bytes_of(copy, len);
    struct amqp_error err = {0};
    int rc = is_table ? amqp_table_check(body, &err) : amqp_array_check(body, &err);
    if (rc == 0) {
        walk(body, is_table, 1);
        ++*accepted;
    } else {
        ck_assert_int_eq(rc, AMQP_SYNTAX_ERROR);
        ck_assert_uint_eq(err.code, AMQP_SYNTAX_ERROR);
    }
    free(copy);
}

/* Random bytes drawn mostly from type letters and small numbers, so that some parse. */
static uint8_t random_table_byte(void)
{
    static const char letters[] = "tbBsuIilLfdDSxATFV";
    uint32_t r = rng_next();
    switch (r % 4) {
    case 0: return (uint8_t)letters[(r >> 8) % (sizeof letters - 1)];
    case 1: return (uint8_t)((r >> 8) % 8);
    default: return (uint8_t)(r >> 8);
    }
}

START_TEST(random_bytes)
{
    uint8_t buf[96];
    size_t accepted = 0;
    rng_seed(0x5eed1234u);
    for (int i = 0; i < 200000; i++) {
        size_t len = rng_next() % (sizeof buf + 1);
        for (size_t j = 0; j < len; j++)
            buf[j] = random_table_byte();
        check_and_walk(buf, len, i % 2 == 0, &accepted);
    }
    ck_assert_uint_gt(accepted, 1000); /* the generator must reach the accepting paths */
}
END_TEST

START_TEST(random_mutations_of_valid_table)
{
    struct amqp_buf b;
    amqp_buf_init(&b);
    size_t outer = amqp_table_begin(&b);
    put_field(&b, "every", (struct amqp_field){.type = 'V'});
    amqp_buf_put_shortstr(&b, AMQP_BYTES_LIT("t"));
    amqp_buf_put_u8(&b, 'F');
    put_every_type(&b);
    amqp_table_end(&b, outer);
    struct amqp_bytes body = body_of(&b, outer);
    uint8_t *work = malloc(body.len + 16);
    ck_assert_ptr_nonnull(work);
    size_t accepted = 0;
    rng_seed(42);
    for (int i = 0; i < 200000; i++) {
        memcpy(work, body.ptr, body.len);
        size_t len = body.len;
        int edits = 1 + (int)(rng_next() % 4);
        for (int e = 0; e < edits; e++) {
            uint32_t r = rng_next();
            size_t at = rng_next() % len;
            switch (r % 4) {
            case 0: work[at] = (uint8_t)(r >> 8); break;
            case 1: work[at] ^= (uint8_t)(1u << ((r >> 8) % 8)); break;
            case 2: len = at + 1; break;
            default: work[at] = random_table_byte(); break;
            }
        }
        check_and_walk(work, len, true, &accepted);
    }
    ck_assert_uint_gt(accepted, 0);
    free(work);
    amqp_buf_free(&b);
}
END_TEST

static Suite *table_suite(void)
{
    Suite *s = suite_create("amqp_table");
    TCase *tc = tcase_create("table");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, round_trip_every_type);
    tcase_add_test(tc, exact_wire_bytes);
    tcase_add_test(tc, capital_l_reads_as_long);
    tcase_add_test(tc, bool_nonzero_is_true);
    tcase_add_test(tc, non_finite_floats_refused);
    tcase_add_test(tc, get_finds_first_match);
    tcase_add_test(tc, empty_table_and_array);
    tcase_add_test(tc, tables_in_arrays_in_tables);
    tcase_add_test(tc, every_truncation_refused);
    tcase_add_test(tc, truncation_valid_only_on_entry_boundaries);
    tcase_add_test(tc, unknown_type_refused);
    tcase_add_test(tc, length_prefix_beyond_buffer_refused);
    tcase_add_test(tc, depth_limit);
    tcase_add_test(tc, very_deep_nesting_refused_without_recursion);
    tcase_add_test(tc, random_bytes);
    tcase_add_test(tc, random_mutations_of_valid_table);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(table_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
