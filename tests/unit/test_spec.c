/* Unit tests of the generated method and content header codec (amqp/amqp_spec.c). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp_buf.h"
#include "amqp_spec.h"

/* The reply codes tools/amqp_codegen.py (FAILURES) currently picks for malformed input, and the
 * one amqp_table_check picks for a bad table; change them here when the generator changes. */
#define MALFORMED_CODE AMQP_FRAME_ERROR
#define UNKNOWN_METHOD_CODE AMQP_COMMAND_INVALID
#define BAD_TABLE_CODE AMQP_SYNTAX_ERROR

#define MAX_ARGS 16
#define SCRATCH_SIZE 512

/* Backing bytes for the strings and tables a filled method or header points into. */
struct scratch {
    uint8_t bytes[MAX_ARGS][SCRATCH_SIZE];
};

/* ------------------------------------------------------------------------- filling values */

/* A distinct non-zero number per argument index; odd patterns set the high bits. */
static uint64_t number_for(unsigned index, unsigned pattern)
{
    uint64_t v = 0x0102030405060708u * (index + 1) + pattern;
    return pattern % 2 ? ~v : v;
}

/* "<name>/<pattern>", padded to `pad` bytes when pattern % 4 == 3 (long strings, lengths over
 * 255 for longstr, the maximum 255 for shortstr). Longstrs carry a NUL and a 0xFF byte too. */
static struct amqp_bytes text_for(uint8_t *store, const char *name, unsigned pattern, size_t pad,
                                  bool binary)
{
    int n = snprintf((char *)store, SCRATCH_SIZE, "%s/%u", name, pattern);
    size_t len = (size_t)n;
    if (binary) {
        store[len++] = 0x00;
        store[len++] = 0xFF;
    }
    if (pattern % 4 == 3) {
        while (len < pad)
            store[len++] = '.';
    }
    return amqp_bytes_of(store, len);
}

/* A valid table body: one entry "<name>" => longstr "<pattern>". */
static struct amqp_bytes table_for(uint8_t *store, const char *name, unsigned pattern)
{
    char value[16];
    size_t key_len = strlen(name);
    size_t value_len = (size_t)snprintf(value, sizeof value, "%u", pattern);
    size_t len = 0;

    store[len++] = (uint8_t)key_len;
    memcpy(store + len, name, key_len);
    len += key_len;
    store[len++] = 'S';
    store[len++] = 0;
    store[len++] = 0;
    store[len++] = 0;
    store[len++] = (uint8_t)value_len;
    memcpy(store + len, value, value_len);
    len += value_len;
    return amqp_bytes_of(store, len);
}

/* Sets one value of any wire type but bit, at `at`. */
static void fill_value(void *at, enum amqp_arg_type type, const char *name, unsigned index,
                       unsigned pattern, uint8_t *store)
{
    uint64_t n = number_for(index, pattern);
    switch (type) {
    case AMQP_ARG_OCTET:
        *(uint8_t *)at = (uint8_t)n;
        break;
    case AMQP_ARG_SHORT:
        *(uint16_t *)at = (uint16_t)n;
        break;
    case AMQP_ARG_LONG:
        *(uint32_t *)at = (uint32_t)n;
        break;
    case AMQP_ARG_LONGLONG:
    case AMQP_ARG_TIMESTAMP:
        *(uint64_t *)at = n;
        break;
    case AMQP_ARG_SHORTSTR:
        *(struct amqp_bytes *)at = text_for(store, name, pattern, 255, false);
        break;
    case AMQP_ARG_LONGSTR:
        *(struct amqp_bytes *)at = text_for(store, name, pattern, 300, true);
        break;
    case AMQP_ARG_TABLE:
        *(struct amqp_bytes *)at = table_for(store, name, pattern);
        break;
    case AMQP_ARG_BIT:
        ck_abort_msg("bits are filled by pattern");
    }
}

static size_t bit_count(const struct amqp_method_info *info)
{
    size_t n = 0;
    for (size_t i = 0; i < info->arg_count; i++)
        n += info->args[i].type == AMQP_ARG_BIT;
    return n;
}

/* Fills every argument of `info` into *m: bit k of `pattern` is the k-th bit argument. */
static void fill_method(struct amqp_method *m, const struct amqp_method_info *info,
                        unsigned pattern, struct scratch *s)
{
    unsigned bit = 0;

    ck_assert_uint_le(info->arg_count, MAX_ARGS);
    memset(m, 0, sizeof *m);
    m->id = info->id;
    for (size_t i = 0; i < info->arg_count; i++) {
        const struct amqp_arg_info *arg = &info->args[i];
        void *at = (char *)m + arg->offset;
        if (arg->type == AMQP_ARG_BIT)
            *(bool *)at = (pattern >> bit++) & 1;
        else
            fill_value(at, arg->type, arg->name, (unsigned)i, pattern, s->bytes[i]);
    }
}

/* ------------------------------------------------------------------------------ comparing */

static void assert_value_eq(const void *a, const void *b, enum amqp_arg_type type,
                            const char *what, const char *name)
{
    switch (type) {
    case AMQP_ARG_OCTET:
        ck_assert_msg(*(const uint8_t *)a == *(const uint8_t *)b, "%s %s", what, name);
        break;
    case AMQP_ARG_SHORT:
        ck_assert_msg(*(const uint16_t *)a == *(const uint16_t *)b, "%s %s", what, name);
        break;
    case AMQP_ARG_LONG:
        ck_assert_msg(*(const uint32_t *)a == *(const uint32_t *)b, "%s %s", what, name);
        break;
    case AMQP_ARG_LONGLONG:
    case AMQP_ARG_TIMESTAMP:
        ck_assert_msg(*(const uint64_t *)a == *(const uint64_t *)b, "%s %s", what, name);
        break;
    case AMQP_ARG_BIT:
        ck_assert_msg(*(const bool *)a == *(const bool *)b, "%s %s", what, name);
        break;
    case AMQP_ARG_SHORTSTR:
    case AMQP_ARG_LONGSTR:
    case AMQP_ARG_TABLE:
        ck_assert_msg(amqp_bytes_eq(*(const struct amqp_bytes *)a, *(const struct amqp_bytes *)b),
                      "%s %s", what, name);
        break;
    }
}

/* Encoded size of the arguments, counted from the spec's rules rather than by the encoder. */
static size_t expected_size(const struct amqp_method *m, const struct amqp_method_info *info)
{
    size_t size = 4;
    size_t bits_in_octet = 0;

    for (size_t i = 0; i < info->arg_count; i++) {
        const struct amqp_arg_info *arg = &info->args[i];
        const void *at = (const char *)m + arg->offset;
        if (arg->type == AMQP_ARG_BIT) {
            if (bits_in_octet == 0)
                size++;
            bits_in_octet = (bits_in_octet + 1) % 8;
            continue;
        }
        bits_in_octet = 0;
        switch (arg->type) {
        case AMQP_ARG_OCTET:
            size += 1;
            break;
        case AMQP_ARG_SHORT:
            size += 2;
            break;
        case AMQP_ARG_LONG:
            size += 4;
            break;
        case AMQP_ARG_LONGLONG:
        case AMQP_ARG_TIMESTAMP:
            size += 8;
            break;
        case AMQP_ARG_SHORTSTR:
            size += 1 + ((const struct amqp_bytes *)at)->len;
            break;
        case AMQP_ARG_LONGSTR:
        case AMQP_ARG_TABLE:
            size += 4 + ((const struct amqp_bytes *)at)->len;
            break;
        case AMQP_ARG_BIT:
            break;
        }
    }
    return size;
}

/* Encodes one method into a fresh buffer. */
static struct amqp_buf encoded(const struct amqp_method *m)
{
    struct amqp_buf b;
    amqp_buf_init(&b);
    amqp_method_encode(&b, m);
    return b;
}

/* An exactly sized heap copy, so that a read past its end trips AddressSanitizer. */
static uint8_t *exact_copy(const uint8_t *data, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(copy);
    if (len)
        memcpy(copy, data, len);
    return copy;
}

/* Decodes from an exact copy; for failures only, as *out would point into freed memory. */
static int decode_copy(const uint8_t *data, size_t len, struct amqp_method *out,
                       struct amqp_error *err)
{
    uint8_t *copy = exact_copy(data, len);
    int rc = amqp_method_decode(amqp_bytes_of(copy, len), out, err);
    free(copy);
    return rc;
}

/* --------------------------------------------------------------------------------- tables */

START_TEST(test_method_table_is_consistent)
{
    ck_assert_int_eq(AMQP_METHOD_COUNT, 64);
    for (size_t i = 0; i < AMQP_METHOD_COUNT; i++) {
        const struct amqp_method_info *info = &amqp_method_table[i];
        if (i > 0)
            ck_assert_uint_gt(info->id, amqp_method_table[i - 1].id);
        ck_assert_ptr_eq(amqp_method_info(info->id), info);
        ck_assert(amqp_method_is_known(info->id));
        ck_assert_str_eq(amqp_method_name(info->id), info->name);
        ck_assert_int_eq(amqp_method_has_content(info->id), info->has_content);
        ck_assert_int_eq(info->args == NULL, info->arg_count == 0);
    }
}
END_TEST

START_TEST(test_names_and_ids)
{
    ck_assert_uint_eq(AMQP_CONNECTION_START, 0x000A000Au);
    ck_assert_uint_eq(AMQP_BASIC_PUBLISH, (60u << 16) | 40u);
    ck_assert_uint_eq(AMQP_EXCHANGE_UNBIND_OK, (40u << 16) | 51u);
    ck_assert_uint_eq(AMQP_CONNECTION_BLOCKED, (10u << 16) | 60u);
    ck_assert_uint_eq(AMQP_CONNECTION_UNBLOCKED, (10u << 16) | 61u);
    ck_assert_uint_eq(AMQP_CONNECTION_UPDATE_SECRET, (10u << 16) | 70u);
    ck_assert_uint_eq(AMQP_CONNECTION_UPDATE_SECRET_OK, (10u << 16) | 71u);
    ck_assert_uint_eq(AMQP_CONFIRM_SELECT_OK, (85u << 16) | 11u);
    ck_assert_int_eq(AMQP_CLASS_CONNECTION, 10);
    ck_assert_int_eq(AMQP_CLASS_TX, 90);
    ck_assert_uint_eq(amqp_method_class_id(AMQP_QUEUE_DECLARE_OK), 50);
    ck_assert_uint_eq(amqp_method_method_id(AMQP_QUEUE_DECLARE_OK), 11);

    ck_assert_str_eq(amqp_method_name(AMQP_CONNECTION_START), "connection.start");
    ck_assert_str_eq(amqp_method_name(AMQP_QUEUE_DECLARE), "queue.declare");
    ck_assert_str_eq(amqp_method_name(AMQP_BASIC_GET_OK), "basic.get-ok");
    ck_assert_str_eq(amqp_method_name(AMQP_CONNECTION_UPDATE_SECRET), "connection.update-secret");
    ck_assert_ptr_null(amqp_method_name((10u << 16) | 99u));
    ck_assert(!amqp_method_is_known(0));

    size_t with_content = 0;
    for (size_t i = 0; i < AMQP_METHOD_COUNT; i++)
        with_content += amqp_method_has_content(amqp_method_table[i].id);
    ck_assert_uint_eq(with_content, 4);
    ck_assert(amqp_method_has_content(AMQP_BASIC_PUBLISH));
    ck_assert(amqp_method_has_content(AMQP_BASIC_RETURN));
    ck_assert(amqp_method_has_content(AMQP_BASIC_DELIVER));
    ck_assert(amqp_method_has_content(AMQP_BASIC_GET_OK));
}
END_TEST

START_TEST(test_constants_and_reply_names)
{
    ck_assert_int_eq(AMQP_FRAME_METHOD, 1);
    ck_assert_int_eq(AMQP_FRAME_HEADER, 2);
    ck_assert_int_eq(AMQP_FRAME_BODY, 3);
    ck_assert_int_eq(AMQP_FRAME_HEARTBEAT, 8);
    ck_assert_int_eq(AMQP_FRAME_MIN_SIZE, 4096);
    ck_assert_int_eq(AMQP_FRAME_END, 206);
    ck_assert_int_eq(AMQP_NO_ROUTE, 312);
    ck_assert_int_eq(AMQP_FRAME_ERROR, 501);
    ck_assert_int_eq(AMQP_INTERNAL_ERROR, 541);

    ck_assert_str_eq(amqp_reply_name(AMQP_REPLY_SUCCESS), "REPLY_SUCCESS");
    ck_assert_str_eq(amqp_reply_name(312), "NO_ROUTE");
    ck_assert_str_eq(amqp_reply_name(320), "CONNECTION_FORCED");
    ck_assert_str_eq(amqp_reply_name(404), "NOT_FOUND");
    ck_assert_str_eq(amqp_reply_name(406), "PRECONDITION_FAILED");
    ck_assert_str_eq(amqp_reply_name(501), "FRAME_ERROR");
    ck_assert_str_eq(amqp_reply_name(530), "NOT_ALLOWED");
    ck_assert_ptr_null(amqp_reply_name(0));
    ck_assert_ptr_null(amqp_reply_name(AMQP_FRAME_END));
    ck_assert_ptr_null(amqp_reply_name(999));
}
END_TEST

START_TEST(test_property_table)
{
    ck_assert_int_eq(AMQP_BASIC_PROPERTY_COUNT, 14);
    ck_assert_uint_eq(AMQP_BASIC_CONTENT_TYPE_FLAG, 1u << 15);
    ck_assert_uint_eq(AMQP_BASIC_CLUSTER_ID_FLAG, 1u << 2);
    ck_assert_str_eq(amqp_basic_property_table[13].name, "cluster-id");
    for (size_t i = 0; i < AMQP_BASIC_PROPERTY_COUNT; i++)
        ck_assert_uint_eq(amqp_basic_property_table[i].flag, 1u << (15 - i));
}
END_TEST

/* ----------------------------------------------------------------------------- round trips */

/* Every method, with every bit pattern (and at least four value patterns): encode, check the
 * size and ids, decode, compare each argument, re-encode and compare the bytes. */
START_TEST(test_every_method_round_trips)
{
    static struct scratch s;

    for (size_t i = 0; i < AMQP_METHOD_COUNT; i++) {
        const struct amqp_method_info *info = &amqp_method_table[i];
        unsigned patterns = 1u << bit_count(info);
        if (patterns < 4)
            patterns = 4;
        for (unsigned pattern = 0; pattern < patterns; pattern++) {
            struct amqp_method m, d;
            struct amqp_error err = {0};

            fill_method(&m, info, pattern, &s);
            struct amqp_buf b = encoded(&m);
            ck_assert_msg(b.len == expected_size(&m, info), "%s size", info->name);
            ck_assert_uint_eq(b.data[0] << 8 | b.data[1], info->id >> 16);
            ck_assert_uint_eq(b.data[2] << 8 | b.data[3], info->id & 0xFFFF);

            uint8_t *copy = exact_copy(b.data, b.len);
            memset(&d, 0, sizeof d);
            int rc = amqp_method_decode(amqp_bytes_of(copy, b.len), &d, &err);
            ck_assert_msg(rc == 0, "%s pattern %u: %s", info->name, pattern, err.text);
            ck_assert_uint_eq(d.id, info->id);
            for (size_t k = 0; k < info->arg_count; k++) {
                const struct amqp_arg_info *arg = &info->args[k];
                assert_value_eq((char *)&m + arg->offset, (char *)&d + arg->offset, arg->type,
                                info->name, arg->name);
            }
            struct amqp_buf again = encoded(&d);
            ck_assert_msg(again.len == b.len && memcmp(again.data, b.data, b.len) == 0,
                          "%s re-encoding differs", info->name);
            amqp_buf_free(&again);
            amqp_buf_free(&b);
            free(copy);
        }
    }
}
END_TEST

/* Bytes written by hand from the spec, decoded and re-encoded. */
START_TEST(test_known_encodings)
{
    static const uint8_t tune[] = {0, 10, 0, 30, 0x07, 0xFF, 0, 2, 0, 0, 0, 60};
    static const uint8_t declare[] = {0, 50, 0, 10, 0, 0, 3, 'a', 'b', 'c', 0x1A, 0, 0, 0, 0};
    static const uint8_t publish[] = {0, 60, 0, 40, 0, 0, 1, 'x', 2, 'r', 'k', 0x02};
    static const uint8_t nack[] = {0, 60, 0, 120, 0, 0, 0, 0, 0, 0, 1, 2, 0x03};
    static const uint8_t deliver[] = {0, 60, 0, 60, 3, 'c', 't', 'g', 0, 0, 0, 0, 0, 0, 0, 5,
                                      0x01, 0, 2, 'r', 'k'};
    static const uint8_t conn_close[] = {0, 10, 0, 50, 0x01, 0x40, 1, 'x', 0, 60, 0, 40};
    static const uint8_t blocked[] = {0, 10, 0, 60, 3, 'l', 'o', 'w'};
    static const uint8_t start_ok[] = {0, 10, 0, 11, 0, 0, 0, 8, 1, 'k', 'S', 0, 0, 0, 1, 'v',
                                       5, 'P', 'L', 'A', 'I', 'N', 0, 0, 0, 2, 0, 'a',
                                       5, 'e', 'n', '_', 'U', 'S'};
    struct amqp_method m;
    struct amqp_error err = {0};

    ck_assert_int_eq(amqp_method_decode(amqp_bytes_of(tune, sizeof tune), &m, &err), 0);
    ck_assert_uint_eq(m.id, AMQP_CONNECTION_TUNE);
    ck_assert_uint_eq(m.connection_tune.channel_max, 2047);
    ck_assert_uint_eq(m.connection_tune.frame_max, 131072);
    ck_assert_uint_eq(m.connection_tune.heartbeat, 60);

    ck_assert_int_eq(amqp_method_decode(amqp_bytes_of(declare, sizeof declare), &m, &err), 0);
    ck_assert_uint_eq(m.id, AMQP_QUEUE_DECLARE);
    ck_assert(amqp_bytes_eq_cstr(m.queue_declare.queue, "abc"));
    ck_assert(!m.queue_declare.passive);
    ck_assert(m.queue_declare.durable);
    ck_assert(!m.queue_declare.exclusive);
    ck_assert(m.queue_declare.auto_delete);
    ck_assert(m.queue_declare.no_wait);
    ck_assert_uint_eq(m.queue_declare.arguments.len, 0);

    ck_assert_int_eq(amqp_method_decode(amqp_bytes_of(publish, sizeof publish), &m, &err), 0);
    ck_assert(amqp_bytes_eq_cstr(m.basic_publish.exchange, "x"));
    ck_assert(amqp_bytes_eq_cstr(m.basic_publish.routing_key, "rk"));
    ck_assert(!m.basic_publish.mandatory);
    ck_assert(m.basic_publish.immediate);

    ck_assert_int_eq(amqp_method_decode(amqp_bytes_of(nack, sizeof nack), &m, &err), 0);
    ck_assert_uint_eq(m.basic_nack.delivery_tag, 258);
    ck_assert(m.basic_nack.multiple && m.basic_nack.requeue);

    ck_assert_int_eq(amqp_method_decode(amqp_bytes_of(deliver, sizeof deliver), &m, &err), 0);
    ck_assert(amqp_bytes_eq_cstr(m.basic_deliver.consumer_tag, "ctg"));
    ck_assert_uint_eq(m.basic_deliver.delivery_tag, 5);
    ck_assert(m.basic_deliver.redelivered);
    ck_assert_uint_eq(m.basic_deliver.exchange.len, 0);
    ck_assert(amqp_bytes_eq_cstr(m.basic_deliver.routing_key, "rk"));

    ck_assert_int_eq(amqp_method_decode(amqp_bytes_of(conn_close, sizeof conn_close), &m, &err), 0);
    ck_assert_uint_eq(m.connection_close.reply_code, AMQP_CONNECTION_FORCED);
    ck_assert(amqp_bytes_eq_cstr(m.connection_close.reply_text, "x"));
    ck_assert_uint_eq(m.connection_close.class_id, 60);
    ck_assert_uint_eq(m.connection_close.method_id, 40);

    ck_assert_int_eq(amqp_method_decode(amqp_bytes_of(blocked, sizeof blocked), &m, &err), 0);
    ck_assert_uint_eq(m.id, AMQP_CONNECTION_BLOCKED);
    ck_assert(amqp_bytes_eq_cstr(m.connection_blocked.reason, "low"));

    ck_assert_int_eq(amqp_method_decode(amqp_bytes_of(start_ok, sizeof start_ok), &m, &err), 0);
    ck_assert_uint_eq(m.connection_start_ok.client_properties.len, 8);
    ck_assert_ptr_eq(m.connection_start_ok.client_properties.ptr, start_ok + 8);
    ck_assert(amqp_bytes_eq_cstr(m.connection_start_ok.mechanism, "PLAIN"));
    ck_assert(amqp_bytes_eq(m.connection_start_ok.response, amqp_bytes_of("\0a", 2)));
    ck_assert(amqp_bytes_eq_cstr(m.connection_start_ok.locale, "en_US"));

    static const struct {
        const uint8_t *data;
        size_t len;
    } all[] = {
        {tune, sizeof tune},
        {declare, sizeof declare},
        {publish, sizeof publish},
        {nack, sizeof nack},
        {deliver, sizeof deliver},
        {conn_close, sizeof conn_close},
        {blocked, sizeof blocked},
        {start_ok, sizeof start_ok},
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        ck_assert_int_eq(amqp_method_decode(amqp_bytes_of(all[i].data, all[i].len), &m, &err), 0);
        struct amqp_buf b = encoded(&m);
        ck_assert_msg(b.len == all[i].len && memcmp(b.data, all[i].data, b.len) == 0,
                      "re-encoding of known bytes %zu differs", i);
        amqp_buf_free(&b);
    }
}
END_TEST

/* Bits past the last defined one in an octet are ignored, as RabbitMQ does. */
START_TEST(test_unused_bits_are_ignored)
{
    static const uint8_t ack[] = {0, 60, 0, 80, 0, 0, 0, 0, 0, 0, 0, 9, 0xFE};
    struct amqp_method m;

    ck_assert_int_eq(amqp_method_decode(amqp_bytes_of(ack, sizeof ack), &m, NULL), 0);
    ck_assert_uint_eq(m.basic_ack.delivery_tag, 9);
    ck_assert(!m.basic_ack.multiple);
}
END_TEST

/* ------------------------------------------------------------------------------- malformed */

/* Every proper prefix of every method's encoding is refused, and nothing past it is read. */
START_TEST(test_every_truncation_is_rejected)
{
    static struct scratch s;

    for (size_t i = 0; i < AMQP_METHOD_COUNT; i++) {
        const struct amqp_method_info *info = &amqp_method_table[i];
        struct amqp_method m;

        fill_method(&m, info, 1, &s);
        struct amqp_buf b = encoded(&m);
        for (size_t len = 0; len < b.len; len++) {
            struct amqp_error err = {0};
            int rc = decode_copy(b.data, len, &m, &err);
            ck_assert_msg(rc == MALFORMED_CODE, "%s cut to %zu: %d", info->name, len, rc);
            ck_assert_int_eq(err.code, rc);
            ck_assert(err.text[0] != '\0');
            if (len >= 4)
                ck_assert_msg(strstr(err.text, info->name), "%s: %s", info->name, err.text);
        }
        amqp_buf_free(&b);
    }
}
END_TEST

START_TEST(test_trailing_bytes_are_rejected)
{
    static struct scratch s;

    for (size_t i = 0; i < AMQP_METHOD_COUNT; i++) {
        const struct amqp_method_info *info = &amqp_method_table[i];
        struct amqp_method m;
        struct amqp_error err = {0};
        char expected[128];

        fill_method(&m, info, 2, &s);
        struct amqp_buf b = encoded(&m);
        amqp_buf_put_u8(&b, 0);
        ck_assert_int_eq(decode_copy(b.data, b.len, &m, &err), MALFORMED_CODE);
        snprintf(expected, sizeof expected, "malformed arguments for '%s'", info->name);
        ck_assert_str_eq(err.text, expected);
        amqp_buf_free(&b);
    }
}
END_TEST

START_TEST(test_unknown_methods_are_rejected)
{
    static const uint16_t ids[][2] = {{10, 99}, {99, 10}, {0, 0}, {60, 12}, {0xFFFF, 0xFFFF},
                                      {85, 20}, {40, 41}, {20, 30}};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        uint8_t payload[8] = {(uint8_t)(ids[i][0] >> 8), (uint8_t)ids[i][0],
                              (uint8_t)(ids[i][1] >> 8), (uint8_t)ids[i][1]};
        struct amqp_method m;
        struct amqp_error err = {0};
        char expected[64];

        for (size_t len = 4; len <= sizeof payload; len += 4) {
            ck_assert_int_eq(decode_copy(payload, len, &m, &err), UNKNOWN_METHOD_CODE);
            snprintf(expected, sizeof expected, "unknown method class %u id %u", ids[i][0],
                     ids[i][1]);
            ck_assert_str_eq(err.text, expected);
        }
    }
}
END_TEST

/* queue.declare with `arguments` replaced by the given table body. */
static struct amqp_buf declare_with_table(struct amqp_bytes body)
{
    struct amqp_method m;
    memset(&m, 0, sizeof m);
    m.id = AMQP_QUEUE_DECLARE;
    m.queue_declare.queue = AMQP_BYTES_LIT("q");
    m.queue_declare.arguments = body;
    return encoded(&m);
}

START_TEST(test_bad_tables_are_rejected)
{
    static const uint8_t unknown_type[] = {1, 'k', 'Z', 0};
    static const uint8_t short_key[] = {9, 'k', 'e', 'y'};
    static const uint8_t short_value[] = {1, 'k', 'S', 0, 0, 0, 9, 'v'};
    static const uint8_t good[] = {1, 'k', 't', 1};
    const struct amqp_bytes bad[] = {amqp_bytes_of(unknown_type, sizeof unknown_type),
                                     amqp_bytes_of(short_key, sizeof short_key),
                                     amqp_bytes_of(short_value, sizeof short_value)};
    struct amqp_method m;
    struct amqp_error err;

    struct amqp_buf b = declare_with_table(amqp_bytes_of(good, sizeof good));
    ck_assert_int_eq(decode_copy(b.data, b.len, &m, &err), 0);
    amqp_buf_free(&b);

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        b = declare_with_table(bad[i]);
        memset(&err, 0, sizeof err);
        ck_assert_int_eq(decode_copy(b.data, b.len, &m, &err), BAD_TABLE_CODE);
        ck_assert_int_eq(err.code, BAD_TABLE_CODE);
        amqp_buf_free(&b);
    }

    /* A bad table before other arguments: the table's failure is the one reported. */
    memset(&m, 0, sizeof m);
    m.id = AMQP_CONNECTION_START_OK;
    m.connection_start_ok.client_properties = bad[0];
    m.connection_start_ok.mechanism = AMQP_BYTES_LIT("PLAIN");
    b = encoded(&m);
    ck_assert_int_eq(decode_copy(b.data, b.len, &m, &err), BAD_TABLE_CODE);
    amqp_buf_free(&b);
}
END_TEST

START_TEST(test_short_payloads_are_rejected)
{
    static const uint8_t payload[] = {0, 10, 0};
    struct amqp_method m;
    struct amqp_error err = {0};

    for (size_t len = 0; len < sizeof payload; len++) {
        ck_assert_int_eq(decode_copy(payload, len, &m, &err), MALFORMED_CODE);
        ck_assert_int_eq(err.code, MALFORMED_CODE);
    }
    ck_assert_int_eq(amqp_method_decode(amqp_bytes_of(payload, 2), &m, NULL), MALFORMED_CODE);
}
END_TEST

/* ----------------------------------------------------------------------- content headers */

/* Fills every basic property (present or not) with a distinct value. */
static void fill_properties(struct amqp_basic_properties *p, struct scratch *s)
{
    memset(p, 0, sizeof *p);
    for (size_t i = 0; i < AMQP_BASIC_PROPERTY_COUNT; i++) {
        const struct amqp_property_info *prop = &amqp_basic_property_table[i];
        fill_value((char *)p + prop->offset, prop->type, prop->name, (unsigned)i, 5,
                   s->bytes[i]);
    }
}

/* Zeroes the properties whose flags are clear, as the decoder leaves them. */
static void keep_present(struct amqp_basic_properties *p)
{
    for (size_t i = 0; i < AMQP_BASIC_PROPERTY_COUNT; i++) {
        const struct amqp_property_info *prop = &amqp_basic_property_table[i];
        static const struct amqp_bytes none;
        char *at = (char *)p + prop->offset;
        if (p->flags & prop->flag)
            continue;
        switch (prop->type) {
        case AMQP_ARG_OCTET:
            *(uint8_t *)at = 0;
            break;
        case AMQP_ARG_TIMESTAMP:
            *(uint64_t *)at = 0;
            break;
        default:
            *(struct amqp_bytes *)at = none;
            break;
        }
    }
}

static struct amqp_buf encoded_header(const struct amqp_content_header *h)
{
    struct amqp_buf b;
    amqp_buf_init(&b);
    amqp_content_header_encode(&b, h);
    return b;
}

/* Decodes from an exact copy; for failures and fixed-size results only. */
static int decode_header_copy(const uint8_t *data, size_t len, struct amqp_content_header *out,
                              struct amqp_error *err)
{
    uint8_t *copy = exact_copy(data, len);
    int rc = amqp_content_header_decode(amqp_bytes_of(copy, len), out, err);
    free(copy);
    return rc;
}

START_TEST(test_every_property_subset_round_trips)
{
    static struct scratch s;
    struct amqp_content_header h;
    struct amqp_buf b, again;

    amqp_buf_init(&b);
    amqp_buf_init(&again);
    for (unsigned subset = 0; subset < 1u << AMQP_BASIC_PROPERTY_COUNT; subset++) {
        struct amqp_content_header d;
        struct amqp_error err = {0};

        memset(&h, 0, sizeof h);
        h.class_id = AMQP_CLASS_BASIC;
        h.weight = (uint16_t)subset;
        h.body_size = 0x0102030405060708u + subset;
        fill_properties(&h.props, &s);
        h.props.flags = (uint16_t)(subset << 2);
        keep_present(&h.props);

        amqp_buf_reset(&b);
        amqp_content_header_encode(&b, &h);
        memset(&d, 0xA5, sizeof d);
        int rc = amqp_content_header_decode(amqp_bytes_of(b.data, b.len), &d, &err);
        ck_assert_msg(rc == 0, "flags 0x%04x: %s", h.props.flags, err.text);
        ck_assert_uint_eq(d.class_id, h.class_id);
        ck_assert_uint_eq(d.weight, h.weight);
        ck_assert_uint_eq(d.body_size, h.body_size);
        ck_assert_uint_eq(d.props.flags, h.props.flags);
        for (size_t i = 0; i < AMQP_BASIC_PROPERTY_COUNT; i++) {
            const struct amqp_property_info *prop = &amqp_basic_property_table[i];
            assert_value_eq((char *)&h.props + prop->offset, (char *)&d.props + prop->offset,
                            prop->type, "property", prop->name);
        }
        amqp_buf_reset(&again);
        amqp_content_header_encode(&again, &d);
        ck_assert(again.len == b.len && memcmp(again.data, b.data, b.len) == 0);
    }
    amqp_buf_free(&b);
    amqp_buf_free(&again);
}
END_TEST

START_TEST(test_known_header)
{
    static const uint8_t bytes[] = {0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0x90, 0x00,
                                    10, 't', 'e', 'x', 't', '/', 'p', 'l', 'a', 'i', 'n', 2};
    struct amqp_content_header h;
    struct amqp_error err = {0};

    ck_assert_int_eq(amqp_content_header_decode(amqp_bytes_of(bytes, sizeof bytes), &h, &err), 0);
    ck_assert_uint_eq(h.class_id, AMQP_CLASS_BASIC);
    ck_assert_uint_eq(h.body_size, 5);
    ck_assert_uint_eq(h.props.flags, AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG);
    ck_assert(amqp_bytes_eq_cstr(h.props.content_type, "text/plain"));
    ck_assert_uint_eq(h.props.delivery_mode, 2);
    ck_assert_uint_eq(h.props.headers.len, 0);
    struct amqp_buf b = encoded_header(&h);
    ck_assert(b.len == sizeof bytes && memcmp(b.data, bytes, b.len) == 0);
    amqp_buf_free(&b);
}
END_TEST

START_TEST(test_malformed_headers_are_rejected)
{
    static struct scratch s;
    struct amqp_content_header h, d;
    struct amqp_error err;

    memset(&h, 0, sizeof h);
    h.class_id = AMQP_CLASS_BASIC;
    h.body_size = 1;
    fill_properties(&h.props, &s);
    h.props.flags = 0xFFFC;
    struct amqp_buf b = encoded_header(&h);

    /* Every truncation, and one trailing byte. */
    for (size_t len = 0; len < b.len; len++) {
        memset(&err, 0, sizeof err);
        int rc = decode_header_copy(b.data, len, &d, &err);
        ck_assert_msg(rc == MALFORMED_CODE, "cut to %zu: %d", len, rc);
        ck_assert_int_eq(err.code, MALFORMED_CODE);
    }
    amqp_buf_put_u8(&b, 0);
    ck_assert_int_eq(decode_header_copy(b.data, b.len, &d, &err), MALFORMED_CODE);

    /* The continuation bit, and the unused flag bit 1 of class basic. */
    static const uint8_t continued[] = {0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x01};
    static const uint8_t unknown_flag[] = {0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x02};
    ck_assert_int_eq(decode_header_copy(continued, sizeof continued, &d, &err), MALFORMED_CODE);
    ck_assert_msg(strstr(err.text, "continuation"), "%s", err.text);
    ck_assert_int_eq(decode_header_copy(continued, 12, &d, &err), MALFORMED_CODE);
    ck_assert_int_eq(decode_header_copy(unknown_flag, sizeof unknown_flag, &d, &err),
                     MALFORMED_CODE);

    /* A class without properties: no flag may be set; without flags it decodes. */
    static const uint8_t other_class[] = {0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0x80, 0x00};
    static const uint8_t other_bare[] = {0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0x00, 0x00};
    ck_assert_int_eq(decode_header_copy(other_class, sizeof other_class, &d, &err),
                     MALFORMED_CODE);
    ck_assert_int_eq(decode_header_copy(other_bare, sizeof other_bare, &d, &err), 0);
    ck_assert_uint_eq(d.class_id, 10);
    ck_assert_uint_eq(d.body_size, 7);
    ck_assert_uint_eq(d.props.flags, 0);

    /* A bad headers table. */
    static const uint8_t bad_headers[] = {0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0x00,
                                          0, 0, 0, 4, 1, 'k', 'Z', 0};
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(decode_header_copy(bad_headers, sizeof bad_headers, &d, &err),
                     BAD_TABLE_CODE);
    ck_assert_int_eq(err.code, BAD_TABLE_CODE);
    amqp_buf_free(&b);
}
END_TEST

static Suite *spec_suite(void)
{
    Suite *s = suite_create("spec");
    TCase *tc = tcase_create("codec");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_method_table_is_consistent);
    tcase_add_test(tc, test_names_and_ids);
    tcase_add_test(tc, test_constants_and_reply_names);
    tcase_add_test(tc, test_property_table);
    tcase_add_test(tc, test_every_method_round_trips);
    tcase_add_test(tc, test_known_encodings);
    tcase_add_test(tc, test_unused_bits_are_ignored);
    tcase_add_test(tc, test_every_truncation_is_rejected);
    tcase_add_test(tc, test_trailing_bytes_are_rejected);
    tcase_add_test(tc, test_unknown_methods_are_rejected);
    tcase_add_test(tc, test_bad_tables_are_rejected);
    tcase_add_test(tc, test_short_payloads_are_rejected);
    tcase_add_test(tc, test_every_property_subset_round_trips);
    tcase_add_test(tc, test_known_header);
    tcase_add_test(tc, test_malformed_headers_are_rejected);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(spec_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed != 0;
}
