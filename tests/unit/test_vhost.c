/* Unit tests for the vhost's verbs: RabbitMQ 3.10's rules, their order and their texts. */
#include <check.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "amqp_buf.h"
#include "amqp_spec.h"
#include "amqp_table.h"
#include "model/exchange.h"
#include "model/queue.h"
#include "model/vhost.h"
#include "proto/channel_metrics.h"
#include "test_sessions.h"

static const struct amqp_bytes NO_ARGS = {NULL, 0};

/* ---- argument tables: "k", 'type letter', value..., NULL ---- */

enum { TABLES = 64 };
static struct amqp_buf tables[TABLES];
static size_t tables_used;

static void free_tables(void)
{
    for (size_t i = 0; i < tables_used; i++)
        amqp_buf_free(&tables[i]);
    tables_used = 0;
}

/* Types: 'S' const char *, 'x' const char *, 'I' int, 'l' long long, 'b' int, 't' int,
 * 'd' double, 'D' int scale and int value, 'A' const char ** (longstrs, NULL-terminated),
 * 'V' nothing. */
static struct amqp_bytes args(const char *key, ...)
{
    ck_assert_uint_lt(tables_used, TABLES);
    struct amqp_buf *b = &tables[tables_used++];
    amqp_buf_init(b);
    size_t mark = amqp_table_begin(b);
    va_list ap;
    va_start(ap, key);
    for (; key; key = va_arg(ap, const char *)) {
        char type = (char)va_arg(ap, int);
        amqp_table_put_key(b, key);
        amqp_buf_put_u8(b, (uint8_t)type);
        switch (type) {
        case 'S': case 'x': amqp_buf_put_longstr(b, amqp_cstr(va_arg(ap, const char *))); break;
        case 'I': amqp_buf_put_u32(b, (uint32_t)va_arg(ap, int)); break;
        case 'l': amqp_buf_put_u64(b, (uint64_t)va_arg(ap, long long)); break;
        case 'b': amqp_buf_put_u8(b, (uint8_t)va_arg(ap, int)); break;
        case 't': amqp_buf_put_u8(b, (uint8_t)va_arg(ap, int)); break;
        case 'd': {
            double d = va_arg(ap, double);
            uint64_t bits;
            memcpy(&bits, &d, sizeof bits);
            amqp_buf_put_u64(b, bits);
            break;
        }
        case 'D':
            amqp_buf_put_u8(b, (uint8_t)va_arg(ap, int));
            amqp_buf_put_u32(b, (uint32_t)va_arg(ap, int));
            break;
        case 'A': { /* const char ** of longstr entries, NULL-terminated */
            size_t mark_array = b->len;
            amqp_buf_put_u32(b, 0);
            for (const char **s = va_arg(ap, const char **); *s; s++) {
                amqp_buf_put_u8(b, 'S');
                amqp_buf_put_longstr(b, amqp_cstr(*s));
            }
            uint32_t n = (uint32_t)(b->len - mark_array - 4);
            uint8_t be[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
            memcpy(b->data + mark_array, be, 4);
            break;
        }
        case 'V': break;
        default: ck_abort_msg("no such type %c", type);
        }
    }
    va_end(ap);
    amqp_table_end(b, mark);
    struct amqp_bytes body = amqp_bytes_of(b->data + mark + 4, b->len - mark - 4);
    ck_assert_int_eq(amqp_table_check(body, NULL), 0);
    return body;
}

/* ---- verbs ---- */

static struct vhost *v;
static struct session conn1, conn2; /* two connections, by address */

static void setup(void)
{
    v = vhost_new("/");
    test_session_open(&conn1, v, "guest");
    test_session_open(&conn2, v, "other");
}

static void teardown(void)
{
    vhost_unref(v);
    test_session_close(&conn1);
    test_session_close(&conn2);
    free_tables();
}

#define EXPECT_FAIL(out, want_code, want_text)                 \
    do {                                                       \
        ck_assert_uint_eq((out).code, (want_code));            \
        ck_assert_str_eq((out).text, (want_text));             \
    } while (0)

static struct queue *declare_queue(const char *name, struct amqp_bytes arguments, struct outcome *out)
{
    struct queue_declare req = {.name = amqp_cstr(name), .arguments = arguments, .who = &conn1};
    return vhost_declare_queue(v, &req, out);
}

static struct exchange *declare_exchange(const char *name, const char *type,
                                         struct amqp_bytes arguments, struct outcome *out)
{
    struct exchange_declare req = {.name = amqp_cstr(name), .type = amqp_cstr(type),
                                   .arguments = arguments};
    return vhost_declare_exchange(v, &req, out);
}

START_TEST(test_exchange_declare_rules)
{
    struct outcome out;
    ck_assert_ptr_null(declare_exchange("x", "x-consistent-hash", NO_ARGS, &out));
    ck_assert(out.connection);
    EXPECT_FAIL(out, AMQP_COMMAND_INVALID, "unknown exchange type 'x-consistent-hash'");
    ck_assert_ptr_null(declare_exchange("", "direct", NO_ARGS, &out));
    ck_assert(!out.connection);
    EXPECT_FAIL(out, AMQP_ACCESS_REFUSED, "operation not permitted on the default exchange");
    ck_assert_ptr_null(declare_exchange("amq.mine", "direct", NO_ARGS, &out));
    EXPECT_FAIL(out, AMQP_ACCESS_REFUSED, "exchange name 'amq.mine' contains reserved prefix 'amq.*'");
    struct exchange_declare standard = {.name = AMQP_BYTES_LIT("amq.direct"),
                                        .type = AMQP_BYTES_LIT("direct"), .durable = true};
    ck_assert_ptr_nonnull(vhost_declare_exchange(v, &standard, &out)); /* as it is: allowed */
    ck_assert(outcome_ok(&out));
    ck_assert_ptr_null(declare_exchange("xe", "direct", args("alternate-exchange", 'I', 1, NULL), &out));
    EXPECT_FAIL(out, AMQP_PRECONDITION_FAILED,
                "invalid type 'signedint' for arg 'alternate-exchange' in exchange 'xe' in vhost '/'");

    struct exchange *x = declare_exchange("xr", "direct", args("alternate-exchange", 'S', "ae1", NULL), &out);
    ck_assert_ptr_nonnull(x);
    ck_assert(x->args.has_alternate_exchange);
    ck_assert(amqp_bytes_eq_cstr(x->args.alternate_exchange, "ae1"));
    ck_assert_ptr_null(declare_exchange("xr", "fanout", NO_ARGS, &out));
    EXPECT_FAIL(out, AMQP_PRECONDITION_FAILED, "inequivalent arg 'type' for exchange 'xr' in vhost '/': "
                                               "received 'fanout' but current is 'direct'");
    ck_assert_ptr_null(declare_exchange("xr", "direct", args("alternate-exchange", 'S', "ae2", NULL), &out));
    EXPECT_FAIL(out, AMQP_PRECONDITION_FAILED, "inequivalent arg 'alternate-exchange' for exchange 'xr' "
                                               "in vhost '/': received 'ae2' but current is 'ae1'");
    ck_assert_ptr_null(declare_exchange("xr", "direct", NO_ARGS, &out));
    EXPECT_FAIL(out, AMQP_PRECONDITION_FAILED,
                "inequivalent arg 'alternate-exchange' for exchange 'xr' in vhost '/': received none "
                "but current is the value 'ae1' of type 'longstr'");
    /* the bare values are equal: a binary matches a longstr; other arguments are not compared */
    ck_assert_ptr_eq(declare_exchange("xr", "direct",
                                      args("alternate-exchange", 'x', "ae1", "x-bogus", 'I', 1, NULL), &out),
                     x);
    struct exchange_declare passive = {.name = AMQP_BYTES_LIT("nope"), .passive = true};
    ck_assert_ptr_null(vhost_declare_exchange(v, &passive, &out));
    EXPECT_FAIL(out, AMQP_NOT_FOUND, "no exchange 'nope' in vhost '/'");
}
END_TEST

START_TEST(test_exchange_delete_rules)
{
    struct outcome out;
    ck_assert(!vhost_delete_exchange(v, &conn1, AMQP_BYTES_LIT(""), false, &out));
    EXPECT_FAIL(out, AMQP_ACCESS_REFUSED, "operation not permitted on the default exchange");
    ck_assert(!vhost_delete_exchange(v, &conn1, AMQP_BYTES_LIT("amq.fanout"), false, &out));
    EXPECT_FAIL(out, AMQP_ACCESS_REFUSED, "deletion of system exchange 'amq.fanout' in vhost '/' not allowed");
    ck_assert(vhost_delete_exchange(v, &conn1, AMQP_BYTES_LIT("missing"), true, &out));
    struct exchange *x = declare_exchange("used", "fanout", NO_ARGS, &out);
    struct queue *q = declare_queue("q", NO_ARGS, &out);
    exchange_bind(x, q, AMQP_BYTES_LIT(""), NO_ARGS);
    ck_assert(!vhost_delete_exchange(v, &conn1, AMQP_BYTES_LIT("used"), true, &out));
    EXPECT_FAIL(out, AMQP_PRECONDITION_FAILED, "exchange 'used' in vhost '/' in use");
    ck_assert(vhost_delete_exchange(v, &conn1, AMQP_BYTES_LIT("used"), false, &out));
    ck_assert_ptr_null(vhost_find_exchange(v, AMQP_BYTES_LIT("used")));
    ck_assert(list_empty(&q->bindings));
}
END_TEST

START_TEST(test_queue_declare_rules)
{
    struct outcome out;
    struct queue_declare named = {.who = &conn1};
    struct queue *q = vhost_declare_queue(v, &named, &out);
    ck_assert_ptr_nonnull(q);
    regex_t re;
    ck_assert_int_eq(regcomp(&re, "^amq\\.gen-[A-Za-z0-9_-]{22}$", REG_EXTENDED), 0);
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)q->name.len, q->name.ptr);
    ck_assert_int_eq(regexec(&re, name, 0, NULL, 0), 0);
    regfree(&re);
    named.arguments = args("x-queue-type", 'S', "quorum", NULL);
    ck_assert_ptr_null(vhost_declare_queue(v, &named, &out));
    EXPECT_FAIL(out, AMQP_PRECONDITION_FAILED, "Cannot declare a server-named queue for type rabbit_quorum_queue");

    ck_assert_ptr_null(declare_queue("amq.q", args("x-message-ttl", 'S', "abc", NULL), &out));
    EXPECT_FAIL(out, AMQP_ACCESS_REFUSED, "queue name 'amq.q' contains reserved prefix 'amq.*'");

    struct queue_declare mine = {.name = AMQP_BYTES_LIT("mine"), .exclusive = true, .who = &conn1};
    ck_assert_ptr_nonnull(vhost_declare_queue(v, &mine, &out));
    mine.who = &conn2;
    ck_assert_ptr_null(vhost_declare_queue(v, &mine, &out));
    EXPECT_FAIL(out, AMQP_RESOURCE_LOCKED,
                "cannot obtain exclusive access to locked queue 'mine' in vhost '/'. It could be "
                "originally declared on another connection or the exclusive property value does not "
                "match that of the original declaration.");
    mine.passive = true;
    ck_assert_ptr_null(vhost_declare_queue(v, &mine, &out));
    ck_assert_uint_eq(out.code, AMQP_RESOURCE_LOCKED);
    struct queue_declare passive = {.name = AMQP_BYTES_LIT("none"), .passive = true};
    ck_assert_ptr_null(vhost_declare_queue(v, &passive, &out));
    EXPECT_FAIL(out, AMQP_NOT_FOUND, "no queue 'none' in vhost '/'");

    struct queue_declare durable = {.name = AMQP_BYTES_LIT("mine2"), .who = &conn1};
    ck_assert_ptr_nonnull(vhost_declare_queue(v, &durable, &out));
    durable.durable = true;
    ck_assert_ptr_null(vhost_declare_queue(v, &durable, &out));
    EXPECT_FAIL(out, AMQP_PRECONDITION_FAILED,
                "inequivalent arg 'durable' for queue 'mine2' in vhost '/': received 'true' but current is 'false'");
}
END_TEST

/* One new queue declared with these arguments must fail with this text after "for queue 'q' in
 * vhost '/'" (or, starting with '!', with the whole text). */
static void expect_refused(struct amqp_bytes arguments, const char *tail)
{
    struct outcome out;
    ck_assert_ptr_null(declare_queue("q", arguments, &out));
    ck_assert_uint_eq(out.code, AMQP_PRECONDITION_FAILED);
    if (tail[0] == '!') {
        ck_assert_str_eq(out.text, tail + 1);
        return;
    }
    char want[300];
    const char *key = strchr(tail, '|');
    ck_assert_ptr_nonnull(key);
    snprintf(want, sizeof want, "invalid arg '%.*s' for queue 'q' in vhost '/'%s", (int)(key - tail), tail,
             key + 1);
    ck_assert_str_eq(out.text, want);
}

START_TEST(test_queue_argument_validation)
{
    expect_refused(args("x-message-ttl", 'S', "abc", NULL), "x-message-ttl|: \"expected integer, got longstr\"");
    expect_refused(args("x-message-ttl", 'I', -1, NULL), "x-message-ttl|: {value_negative,-1}");
    expect_refused(args("x-message-ttl", 'l', 315360000001ll, NULL), "x-message-ttl|: {value_too_large,315360000001}");
    expect_refused(args("x-message-ttl", 'd', 1.5, NULL), "x-message-ttl|: \"expected integer, got double\"");
    expect_refused(args("x-message-ttl", 't', 1, NULL), "x-message-ttl|: \"expected integer, got bool\"");
    expect_refused(args("x-expires", 'I', 0, NULL), "x-expires|: {value_zero,0}");
    expect_refused(args("x-max-length", 'b', -1, NULL), "x-max-length|: {value_negative,-1}");
    expect_refused(args("x-max-priority", 'I', 256, NULL), "x-max-priority|: {max_value_exceeded,256}");
    expect_refused(args("x-overflow", 'S', "bogus", NULL), "x-overflow|: invalid_overflow");
    expect_refused(args("x-overflow", 'I', 1, NULL), "x-overflow|: {unacceptable_type,signedint}");
    expect_refused(args("x-queue-mode", 'S', "bogus", NULL), "x-queue-mode|: \"unsupported queue mode 'bogus'\"");
    expect_refused(args("x-queue-type", 'S', "", NULL), "x-queue-type|: \"unsupported queue type ''\"");
    expect_refused(args("x-queue-version", 'I', 3, NULL), "x-queue-version|: \"unsupported queue version '3'\"");
    expect_refused(args("x-single-active-consumer", 'S', "true", NULL),
                   "x-single-active-consumer|: {unacceptable_type,longstr}");
    expect_refused(args("x-dead-letter-routing-key", 'S', "rk", NULL),
                   "x-dead-letter-routing-key|: routing_key_but_no_dlx_defined");
    expect_refused(args("x-dead-letter-exchange", 'x', "amq.direct", NULL),
                   "!invalid type 'binary' for arg 'x-dead-letter-exchange' in queue 'q' in vhost '/'");
    expect_refused(args("x-delivery-limit", 'I', 5, NULL), "x-delivery-limit| of queue type rabbit_classic_queue");
    /* RabbitMQ's order: the dead-letter exchange's type, the queue type, then its list, then
     * arguments the type does not take, then the quorum flags */
    expect_refused(args("x-message-ttl", 'S', "abc", "x-dead-letter-exchange", 'I', 1, NULL),
                   "!invalid type 'signedint' for arg 'x-dead-letter-exchange' in queue 'q' in vhost '/'");
    expect_refused(args("x-message-ttl", 'S', "abc", "x-queue-type", 'S', "bogus", NULL),
                   "x-queue-type|: \"unsupported queue type 'bogus'\"");
    expect_refused(args("x-message-ttl", 'S', "abc", "x-expires", 'S', "abc", NULL),
                   "x-expires|: \"expected integer, got longstr\"");
    expect_refused(args("x-delivery-limit", 'I', 5, "x-message-ttl", 'S', "abc", NULL),
                   "x-message-ttl|: \"expected integer, got longstr\"");
    expect_refused(args("x-queue-type", 'S', "quorum", NULL), "!invalid property 'non-durable' for queue 'q' in vhost '/'");
    expect_refused(args("x-queue-type", 'S', "stream", "x-message-ttl", 'I', 1, NULL),
                   "x-message-ttl| of queue type rabbit_stream_queue");
    /* RabbitMQ crashes (541) on a malformed age; Warren answers as for "0D" (a departure) */
    struct outcome out;
    struct queue_declare stream = {.name = AMQP_BYTES_LIT("s"), .durable = true, .who = &conn1,
                                   .arguments = args("x-queue-type", 'S', "stream", "x-max-age", 'S', "bogus", NULL)};
    ck_assert_ptr_null(vhost_declare_queue(v, &stream, &out));
    EXPECT_FAIL(out, AMQP_PRECONDITION_FAILED, "invalid arg 'x-max-age' for queue 's' in vhost '/': invalid_max_age");
    /* valid arguments, but no streams yet: RabbitMQ's answer with its stream feature flag off */
    stream.arguments = args("x-queue-type", 'S', "stream", "x-max-age", 'S', "7D", NULL);
    ck_assert_ptr_null(vhost_declare_queue(v, &stream, &out));
    ck_assert(out.connection);
    EXPECT_FAIL(out, AMQP_INTERNAL_ERROR, "Cannot declare a queue 'queue 's' in vhost '/'' of type "
                "'rabbit_stream_queue' on node 'warren@localhost': the corresponding feature flag is "
                "disabled");
}
END_TEST

START_TEST(test_queue_arguments_parsed)
{
    struct outcome out;
    struct queue *q = declare_queue("typed", args("x-message-ttl", 'I', 1000, "x-max-length", 'l', 1ll << 40,
                                                  "x-overflow", 'S', "reject-publish-dlx",
                                                  "x-dead-letter-exchange", 'S', "dlx",
                                                  "x-dead-letter-routing-key", 'S', "rk",
                                                  "x-max-priority", 'b', 10, "x-single-active-consumer", 't', 1,
                                                  "x-queue-mode", 'S', "lazy", "x-consumer-timeout", 'I', 5000,
                                                  NULL),
                                    &out);
    ck_assert_ptr_nonnull(q);
    ck_assert_int_eq(q->args.type, QUEUE_TYPE_CLASSIC);
    ck_assert_int_eq(q->args.message_ttl_ms, 1000);
    ck_assert_int_eq(q->args.expires_ms, QUEUE_ARG_UNSET);
    ck_assert_int_eq(q->args.max_length, 1ll << 40);
    ck_assert_int_eq(q->args.overflow, QUEUE_REJECT_PUBLISH_DLX);
    ck_assert(q->args.has_dead_letter_exchange && amqp_bytes_eq_cstr(q->args.dead_letter_exchange, "dlx"));
    /* the parsed names point into the queue's own copy, not into the declaring frame */
    ck_assert(q->args.dead_letter_exchange.ptr > q->arguments.ptr &&
              q->args.dead_letter_exchange.ptr < q->arguments.ptr + q->arguments.len);
    ck_assert(q->args.has_dead_letter_routing_key && amqp_bytes_eq_cstr(q->args.dead_letter_routing_key, "rk"));
    ck_assert_int_eq(q->args.max_priority, 10);
    ck_assert(q->args.single_active_consumer && q->args.lazy);
    ck_assert_int_eq(q->args.consumer_timeout_ms, 5000);
    struct queue_declare quorum = {.name = AMQP_BYTES_LIT("qq"), .durable = true, .who = &conn1,
                                   .arguments = args("x-queue-type", 'S', "quorum", "x-delivery-limit", 'I', 3, NULL)};
    q = vhost_declare_queue(v, &quorum, &out);
    ck_assert_ptr_nonnull(q);
    ck_assert_int_eq(q->args.type, QUEUE_TYPE_QUORUM);
    ck_assert_int_eq(q->args.delivery_limit, 3);
}
END_TEST

START_TEST(test_queue_redeclare_equivalence)
{
    struct outcome out;
    struct queue *q = declare_queue("rq", args("x-message-ttl", 'I', 1000, NULL), &out);
    ck_assert_ptr_nonnull(q);
    /* integer widths alike; other arguments are not compared; classic may be named or not */
    ck_assert_ptr_eq(declare_queue("rq", args("x-message-ttl", 'l', 1000ll, "x-bogus", 'S', "?",
                                              "x-queue-type", 'S', "classic", NULL), &out), q);
    ck_assert_ptr_null(declare_queue("rq", args("x-message-ttl", 'S', "abc", NULL), &out));
    EXPECT_FAIL(out, AMQP_PRECONDITION_FAILED,
                "inequivalent arg 'x-message-ttl' for queue 'rq' in vhost '/': received 'abc' but current is '1000'");
    ck_assert_ptr_null(declare_queue("rq", args("x-message-ttl", 'd', 1000.0, NULL), &out));
    EXPECT_FAIL(out, AMQP_PRECONDITION_FAILED,
                "inequivalent arg 'x-message-ttl' for queue 'rq' in vhost '/': received '1.0e3' but current is '1000'");
    /* RabbitMQ crashes (541) comparing a decimal with an integer; Warren says they differ */
    ck_assert_ptr_null(declare_queue("rq", args("x-message-ttl", 'D', 0, 1000, NULL), &out));
    EXPECT_FAIL(out, AMQP_PRECONDITION_FAILED,
                "inequivalent arg 'x-message-ttl' for queue 'rq' in vhost '/': received '{0,1000}' but current is '1000'");
    ck_assert_ptr_null(declare_queue("rq", NO_ARGS, &out));
    EXPECT_FAIL(out, AMQP_PRECONDITION_FAILED,
                "inequivalent arg 'x-message-ttl' for queue 'rq' in vhost '/': received none but current is "
                "the value '1000' of type 'signedint'");
    ck_assert_ptr_null(declare_queue("rq", args("x-message-ttl", 'I', 1000, "x-queue-type", 'S', "quorum", NULL), &out));
    EXPECT_FAIL(out, AMQP_PRECONDITION_FAILED,
                "inequivalent arg 'x-queue-type' for queue 'rq' in vhost '/': received the value 'quorum' of "
                "type 'longstr' but current is none");
}
END_TEST

START_TEST(test_queue_delete_and_purge_rules)
{
    struct outcome out;
    struct queue *q = declare_queue("d", NO_ARGS, &out);
    ck_assert_ptr_null(vhost_queue_to_delete(v, AMQP_BYTES_LIT("missing"), &conn1, true, true, &out));
    ck_assert(outcome_ok(&out));
    struct message *m = message_new(AMQP_BYTES_LIT(""), AMQP_BYTES_LIT("d"),
                                    amqp_bytes_of("\0\x3c\0\0\0\0\0\0\0\0\0\0\0\0", 14), 0, 0);
    queue_publish(q, m);
    message_unref(m);
    ck_assert_ptr_null(vhost_queue_to_delete(v, AMQP_BYTES_LIT("d"), &conn1, false, true, &out));
    EXPECT_FAIL(out, AMQP_PRECONDITION_FAILED, "queue 'd' in vhost '/' not empty");
    uint32_t purged = 0;
    ck_assert(vhost_purge_queue(v, AMQP_BYTES_LIT("d"), &conn1, &purged, &out));
    ck_assert_uint_eq(purged, 1);
    ck_assert(!vhost_purge_queue(v, AMQP_BYTES_LIT("gone"), &conn1, &purged, &out));
    EXPECT_FAIL(out, AMQP_NOT_FOUND, "no queue 'gone' in vhost '/'");
    ck_assert_ptr_eq(vhost_queue_to_delete(v, AMQP_BYTES_LIT("d"), &conn1, true, true, &out), q);
    vhost_delete_queue(v, q);
    ck_assert_ptr_null(vhost_find_queue(v, AMQP_BYTES_LIT("d")));
}
END_TEST

START_TEST(test_binding_rules)
{
    struct outcome out;
    declare_queue("q", NO_ARGS, &out);
    struct queue_binding b = {AMQP_BYTES_LIT(""), AMQP_BYTES_LIT("q"), AMQP_BYTES_LIT("k"), NO_ARGS, &conn1};
    ck_assert(!vhost_bind_queue(v, &b, &out));
    EXPECT_FAIL(out, AMQP_ACCESS_REFUSED, "operation not permitted on the default exchange");
    b.exchange = AMQP_BYTES_LIT("nope");
    ck_assert(!vhost_bind_queue(v, &b, &out));
    EXPECT_FAIL(out, AMQP_NOT_FOUND, "no exchange 'nope' in vhost '/'");
    b.exchange = AMQP_BYTES_LIT("amq.headers");
    b.queue = AMQP_BYTES_LIT("nobody");
    ck_assert(!vhost_bind_queue(v, &b, &out));
    EXPECT_FAIL(out, AMQP_NOT_FOUND, "no queue 'nobody' in vhost '/'");
    b.queue = AMQP_BYTES_LIT("q");
    b.arguments = args("x-match", 'S', "most", NULL);
    ck_assert(!vhost_bind_queue(v, &b, &out));
    EXPECT_FAIL(out, AMQP_PRECONDITION_FAILED,
                "Invalid x-match field value <<\"most\">>; expected all, any, all-with-x, or any-with-x");
    b.arguments = args("x-match", 'S', "any", NULL);
    ck_assert(vhost_bind_queue(v, &b, &out));
    ck_assert_uint_eq(vhost_find_exchange(v, AMQP_BYTES_LIT("amq.headers"))->binding_count, 1);
    /* unbind succeeds whatever is missing */
    b.queue = AMQP_BYTES_LIT("nobody");
    ck_assert(vhost_unbind_queue(v, &b, &out));
    b.exchange = AMQP_BYTES_LIT("");
    ck_assert(!vhost_unbind_queue(v, &b, &out));
    ck_assert_uint_eq(out.code, AMQP_ACCESS_REFUSED);
}
END_TEST

/* A message as a channel builds it, with user_id or headers set when given. */
static struct message *message_with_headers(const char *exchange, const char *key,
                                            const char *user_id, const struct amqp_bytes *headers)
{
    struct amqp_content_header h = {.class_id = 60, .body_size = 0};
    if (user_id) {
        h.props.flags = AMQP_BASIC_USER_ID_FLAG;
        h.props.user_id = amqp_cstr(user_id);
    }
    if (headers) {
        h.props.flags |= AMQP_BASIC_HEADERS_FLAG;
        h.props.headers = *headers;
    }
    struct amqp_buf encoded;
    amqp_buf_init(&encoded);
    amqp_content_header_encode(&encoded, &h);
    struct message *m = message_new(amqp_cstr(exchange), amqp_cstr(key),
                                    amqp_bytes_of(encoded.data, encoded.len), 0, 0);
    amqp_buf_free(&encoded);
    return m;
}

static struct message *message_for(const char *exchange, const char *key, const char *user_id)
{
    return message_with_headers(exchange, key, user_id, NULL);
}

static bool publish(const char *exchange, const char *key, const char *user_id,
                    struct publish_result *result, struct outcome *out)
{
    struct message *m = message_for(exchange, key, user_id);
    bool ok = vhost_publish(v, &m, &conn1, result, out);
    message_unref(m);
    return ok;
}

START_TEST(test_publish_rules)
{
    struct outcome out;
    struct publish_result r;
    struct exchange_declare internal = {.name = AMQP_BYTES_LIT("in"), .type = AMQP_BYTES_LIT("fanout"),
                                        .internal = true};
    ck_assert_ptr_nonnull(vhost_declare_exchange(v, &internal, &out));
    ck_assert(!publish("nope", "k", NULL, &r, &out));
    EXPECT_FAIL(out, AMQP_NOT_FOUND, "no exchange 'nope' in vhost '/'");
    ck_assert(!publish("in", "k", NULL, &r, &out));
    EXPECT_FAIL(out, AMQP_ACCESS_REFUSED, "cannot publish to internal exchange 'in' in vhost '/'");
    ck_assert(!publish("", "k", "mallory", &r, &out));
    EXPECT_FAIL(out, AMQP_PRECONDITION_FAILED, "user_id property set to 'mallory' but authenticated user was 'guest'");
    ck_assert(publish("", "k", "guest", &r, &out));
    ck_assert_uint_eq(r.routed, 0);
    struct queue *q = declare_queue("k", NO_ARGS, &out);
    exchange_bind(vhost_find_exchange(v, AMQP_BYTES_LIT("amq.fanout")), q, AMQP_BYTES_LIT(""), NO_ARGS);
    ck_assert(publish("", "k", NULL, &r, &out));
    ck_assert_uint_eq(r.routed, 1);
    ck_assert(publish("amq.fanout", "whatever", NULL, &r, &out));
    ck_assert_uint_eq(r.routed, 1);
    ck_assert_ptr_null(r.congested); /* no consumers: a queue without them only grows */
    ck_assert_uint_eq(queue_message_count(q), 2);
}
END_TEST

/* ---- routing through exchanges, alternates and CC/BCC ---- */

static struct exchange *exchange_of(const char *name, const char *type, struct amqp_bytes arguments,
                                    bool auto_delete)
{
    struct exchange_declare req = {.name = amqp_cstr(name), .type = amqp_cstr(type),
                                   .arguments = arguments, .auto_delete = auto_delete};
    struct outcome out;
    struct exchange *x = vhost_declare_exchange(v, &req, &out);
    ck_assert_ptr_nonnull(x);
    return x;
}

static void bind_queue(const char *exchange, const char *queue, const char *key)
{
    struct queue_binding b = {amqp_cstr(exchange), amqp_cstr(queue), amqp_cstr(key), NO_ARGS, &conn1};
    struct outcome out;
    ck_assert(vhost_bind_queue(v, &b, &out));
}

static bool bind_exchange(const char *destination, const char *source, const char *key,
                          struct outcome *out)
{
    struct exchange_binding b = {amqp_cstr(destination), amqp_cstr(source), amqp_cstr(key), NO_ARGS, &conn1};
    return vhost_bind_exchange(v, &b, out);
}

/* Publishes to exchange with key (and headers) and returns how many queues took it. */
static uint32_t routed(const char *exchange, const char *key, const struct amqp_bytes *headers)
{
    struct message *m = message_with_headers(exchange, key, NULL, headers);
    struct publish_result r;
    struct outcome out;
    ck_assert(vhost_publish(v, &m, &conn1, &r, &out));
    message_unref(m);
    return r.routed;
}

static uint32_t ready(const char *queue)
{
    return queue_message_count(vhost_find_queue(v, amqp_cstr(queue)));
}

START_TEST(test_exchange_to_exchange)
{
    struct outcome out;
    exchange_of("x1", "fanout", NO_ARGS, false);
    exchange_of("x2", "direct", NO_ARGS, false);
    exchange_of("x3", "topic", NO_ARGS, false);
    declare_queue("q1", NO_ARGS, &out);
    declare_queue("q2", NO_ARGS, &out);
    declare_queue("q3", NO_ARGS, &out);
    bind_queue("x1", "q1", "");
    bind_queue("x2", "q2", "k");
    bind_queue("x3", "q3", "#");
    ck_assert(bind_exchange("x2", "x1", "", &out));
    ck_assert(bind_exchange("x3", "x2", "k", &out));
    ck_assert(bind_exchange("x1", "x3", "#", &out)); /* a loop back to the start */
    ck_assert(bind_exchange("x1", "x1", "", &out));  /* and to itself */
    bind_queue("x3", "q1", "k");                     /* q1 reachable two ways */
    ck_assert_uint_eq(routed("x1", "k", NULL), 3);
    ck_assert_uint_eq(ready("q1"), 1);
    ck_assert_uint_eq(ready("q2"), 1);
    ck_assert_uint_eq(ready("q3"), 1);
    ck_assert_uint_eq(routed("x1", "other", NULL), 1); /* x2 drops it, so x3 never sees it */
    ck_assert(!bind_exchange("x1", "nope", "", &out));
    EXPECT_FAIL(out, AMQP_NOT_FOUND, "no exchange 'nope' in vhost '/'");
    ck_assert(!bind_exchange("", "x1", "", &out));
    EXPECT_FAIL(out, AMQP_ACCESS_REFUSED, "operation not permitted on the default exchange");
    /* deleting a destination takes the bindings to it */
    ck_assert(vhost_delete_exchange(v, &conn1, AMQP_BYTES_LIT("x2"), false, &out));
    ck_assert_uint_eq(vhost_find_exchange(v, AMQP_BYTES_LIT("x1"))->binding_count, 2);
    ck_assert_uint_eq(routed("x1", "k", NULL), 1);
}
END_TEST

START_TEST(test_auto_delete_source_exchange)
{
    struct outcome out;
    exchange_of("src", "fanout", NO_ARGS, true);
    exchange_of("dst", "fanout", NO_ARGS, false);
    ck_assert(bind_exchange("dst", "src", "", &out));
    /* being a destination does not keep an auto-delete exchange: only its own bindings do */
    struct exchange *d2 = exchange_of("dst2", "fanout", NO_ARGS, true);
    ck_assert(bind_exchange("dst2", "dst", "", &out));
    ck_assert_ptr_eq(vhost_find_exchange(v, AMQP_BYTES_LIT("dst2")), d2);
    /* the destination's deletion removes src's last binding: src goes too */
    ck_assert(vhost_delete_exchange(v, &conn1, AMQP_BYTES_LIT("dst"), false, &out));
    ck_assert_ptr_null(vhost_find_exchange(v, AMQP_BYTES_LIT("src")));
    ck_assert_ptr_nonnull(vhost_find_exchange(v, AMQP_BYTES_LIT("dst2")));
    /* and an unbind of its last binding */
    exchange_of("src2", "fanout", NO_ARGS, true);
    ck_assert(bind_exchange("dst2", "src2", "", &out));
    struct exchange_binding b = {AMQP_BYTES_LIT("dst2"), AMQP_BYTES_LIT("src2"), AMQP_BYTES_LIT(""), NO_ARGS, &conn1};
    ck_assert(vhost_unbind_exchange(v, &b, &out));
    ck_assert_ptr_null(vhost_find_exchange(v, AMQP_BYTES_LIT("src2")));
    ck_assert(vhost_unbind_exchange(v, &b, &out)); /* missing: still fine */
}
END_TEST

START_TEST(test_alternate_exchanges)
{
    struct outcome out;
    exchange_of("ae2", "fanout", NO_ARGS, false);
    exchange_of("ae1", "direct", args("alternate-exchange", 'S', "ae2", NULL), false);
    exchange_of("main", "direct", args("alternate-exchange", 'S', "ae1", NULL), false);
    exchange_of("lost", "direct", args("alternate-exchange", 'S', "missing", NULL), false);
    exchange_of("loop1", "direct", args("alternate-exchange", 'S', "loop2", NULL), false);
    exchange_of("loop2", "direct", args("alternate-exchange", 'S', "loop1", NULL), false);
    declare_queue("bound", NO_ARGS, &out);
    declare_queue("caught", NO_ARGS, &out);
    bind_queue("main", "bound", "k");
    bind_queue("ae2", "caught", "");
    ck_assert_uint_eq(routed("main", "k", NULL), 1);     /* routed: the alternate is not used */
    ck_assert_uint_eq(routed("main", "other", NULL), 1); /* main, then ae1, then ae2 */
    ck_assert_uint_eq(ready("caught"), 1);
    ck_assert_uint_eq(routed("lost", "k", NULL), 0);
    ck_assert_uint_eq(routed("loop1", "k", NULL), 0);     /* each exchange once: no endless loop */
}
END_TEST

START_TEST(test_sender_selected_distribution)
{
    struct outcome out;
    declare_queue("a", NO_ARGS, &out);
    declare_queue("b", NO_ARGS, &out);
    declare_queue("c", NO_ARGS, &out);
    struct amqp_bytes headers = args("CC", 'A', (const char *[]){"b", "a", NULL}, "BCC", 'A',
                                     (const char *[]){"c", NULL}, "keep", 'S', "me", NULL);
    ck_assert_uint_eq(routed("", "a", &headers), 3); /* "a" twice still counts once */
    struct queue_entry e;
    ck_assert(queue_get(vhost_find_queue(v, AMQP_BYTES_LIT("c")), &e));
    struct amqp_basic_properties props;
    message_properties(queue_entry_message(&e), &props);
    struct amqp_field f;
    ck_assert(!amqp_table_get(props.headers, "BCC", &f)); /* BCC is never delivered */
    ck_assert(amqp_table_get(props.headers, "CC", &f) && f.type == 'A');
    ck_assert(amqp_table_get(props.headers, "keep", &f) && amqp_bytes_eq_cstr(f.v.bytes, "me"));
    queue_settle(vhost_find_queue(v, AMQP_BYTES_LIT("c")), &e);
    exchange_of("t", "topic", NO_ARGS, false);
    bind_queue("t", "b", "x.*");
    struct amqp_bytes cc = args("CC", 'A', (const char *[]){"x.y", NULL}, NULL);
    ck_assert_uint_eq(routed("t", "nothing", &cc), 1);
    struct amqp_bytes bad = args("CC", 'S', "b", NULL);
    struct message *m = message_with_headers("", "a", NULL, &bad);
    struct publish_result r;
    ck_assert(!vhost_publish(v, &m, &conn1, &r, &out));
    EXPECT_FAIL(out, AMQP_PRECONDITION_FAILED, "invalid message: {unacceptable_type_in_header,\"CC\",longstr}");
    ck_assert(!vhost_check_publish(v, m, &conn1, &out));
    message_unref(m);
}
END_TEST

START_TEST(test_length_limits)
{
    struct outcome out;
    declare_queue("head", args("x-max-length", 'I', 2, NULL), &out);
    declare_queue("refuse", args("x-max-length", 'I', 1, "x-overflow", 'S', "reject-publish", NULL), &out);
    exchange_of("both", "fanout", NO_ARGS, false);
    bind_queue("both", "head", "");
    bind_queue("both", "refuse", "");
    struct message *m = message_for("both", "", NULL);
    struct publish_result r;
    ck_assert(vhost_publish(v, &m, &conn1, &r, &out));
    ck_assert_uint_eq(r.routed, 2);
    ck_assert_uint_eq(r.rejected, 0);
    ck_assert(vhost_publish(v, &m, &conn1, &r, &out));
    ck_assert(vhost_publish(v, &m, &conn1, &r, &out));
    ck_assert_uint_eq(r.routed, 1); /* head took it and dropped its oldest; refuse did not */
    ck_assert_uint_eq(r.rejected, 1);
    message_unref(m);
    ck_assert_uint_eq(ready("head"), 2);
    ck_assert_uint_eq(ready("refuse"), 1);
}
END_TEST

/* A consumer that takes nothing, to hold a queue in use. */
static bool no_credit(struct consumer *c)
{
    (void)c;
    return false;
}

static void no_delivery(struct consumer *c, struct queue *q, struct queue_entry e)
{
    (void)c, (void)q, (void)e;
    ck_abort_msg("delivered");
}

static void told_deleted(struct consumer *c, struct queue *q)
{
    (void)c, (void)q;
}

START_TEST(test_queue_expiry)
{
    static const struct consumer_ops idle = {no_credit, no_delivery, told_deleted};
    struct deadline_heap heap;
    struct clock clock;
    deadline_heap_init(&heap);
    clock_init(&clock);
    clock_set_manual(&clock, 1000);
    vhost_use_timers(v, &heap, &clock);
    struct outcome out;
    declare_queue("x", args("x-expires", 'I', 100, NULL), &out);
    declare_queue("forever", NO_ARGS, &out);
    clock_set_manual(&clock, 1099);
    deadline_heap_run_due(&heap, 1099);
    ck_assert_ptr_nonnull(vhost_find_queue(v, AMQP_BYTES_LIT("x")));
    /* a passive declare renews it, and so does basic.get, even of nothing */
    struct queue_declare passive = {.name = AMQP_BYTES_LIT("x"), .passive = true, .who = &conn1};
    ck_assert_ptr_nonnull(vhost_declare_queue(v, &passive, &out));
    clock_set_manual(&clock, 1150);
    deadline_heap_run_due(&heap, 1150);
    struct queue_entry e;
    bool got = true;
    ck_assert_ptr_nonnull(vhost_get(v, AMQP_BYTES_LIT("x"), &conn1, NULL, &e, &got, &out));
    ck_assert(!got);
    clock_set_manual(&clock, 1249);
    deadline_heap_run_due(&heap, 1249);
    ck_assert_ptr_nonnull(vhost_find_queue(v, AMQP_BYTES_LIT("x")));
    /* a consumer holds it past its time; when it goes, the wait starts again */
    struct consumer c;
    struct queue *q = vhost_consume_target(v, AMQP_BYTES_LIT("x"), &conn1, false, NO_ARGS, &(int64_t){0}, &out);
    queue_add_consumer(q, &c, &idle, false, 0);
    clock_set_manual(&clock, 2000);
    deadline_heap_run_due(&heap, 2000);
    ck_assert_ptr_eq(vhost_find_queue(v, AMQP_BYTES_LIT("x")), q);
    vhost_cancel_consumer(v, &c);
    clock_set_manual(&clock, 2099);
    deadline_heap_run_due(&heap, 2099);
    ck_assert_ptr_eq(vhost_find_queue(v, AMQP_BYTES_LIT("x")), q);
    clock_set_manual(&clock, 2100);
    ck_assert_uint_eq(deadline_heap_run_due(&heap, 2100), 1);
    ck_assert_ptr_null(vhost_find_queue(v, AMQP_BYTES_LIT("x")));
    ck_assert_ptr_nonnull(vhost_find_queue(v, AMQP_BYTES_LIT("forever")));
    ck_assert_uint_eq(heap.len, 0);
    vhost_unref(v); /* before the heap it used */
    v = vhost_new("/");
    deadline_heap_free(&heap);
}
END_TEST

/* ---- a publisher's tally and hints ---- */

static bool publish_tallied(struct publish_tally *t, const char *exchange, const char *key,
                            struct publish_result *r, struct outcome *out)
{
    struct message *m = message_for(exchange, key, NULL);
    bool ok = vhost_publish_tallied(v, &m, &conn1, NULL, t, r, out);
    message_unref(m);
    return ok;
}

/* What the tally counted for the queue of that name which exists now. */
static uint64_t tallied(const struct publish_tally *t, const char *queue)
{
    for (const struct publish_tally_entry *e = t->first; e; e = e->next)
        if (!e->queue->deleted && amqp_bytes_eq_cstr(e->queue->name, queue))
            return e->count;
    return 0;
}

/* The counts follow routing as bindings change; the hints never outlive what they found. */
START_TEST(test_publish_tally_and_hints)
{
    struct channel_metrics cm;
    channel_metrics_init(&cm);
    struct outcome out;
    struct publish_result r;
    exchange_of("fx", "fanout", NO_ARGS, false);
    declare_queue("a", NO_ARGS, &out);
    declare_queue("b", NO_ARGS, &out);
    declare_queue("c", NO_ARGS, &out);
    bind_queue("fx", "a", "");
    bind_queue("fx", "b", "");
    struct publish_tally *fx = &channel_metrics_exchange(&cm, AMQP_BYTES_LIT("fx"))->tally;
    for (int i = 0; i < 3; i++) {
        ck_assert(publish_tallied(fx, "fx", "", &r, &out));
        ck_assert_uint_eq(r.routed, 2);
    }
    bind_queue("fx", "c", "");
    for (int i = 0; i < 2; i++) {
        ck_assert(publish_tallied(fx, "fx", "", &r, &out));
        ck_assert_uint_eq(r.routed, 3);
    }
    ck_assert_uint_eq(tallied(fx, "a"), 5);
    ck_assert_uint_eq(tallied(fx, "b"), 5);
    ck_assert_uint_eq(tallied(fx, "c"), 2);
    /* the exchange goes and comes back with other bindings */
    ck_assert(vhost_delete_exchange(v, &conn1, AMQP_BYTES_LIT("fx"), false, &out));
    ck_assert(!publish_tallied(fx, "fx", "", &r, &out));
    EXPECT_FAIL(out, AMQP_NOT_FOUND, "no exchange 'fx' in vhost '/'");
    exchange_of("fx", "fanout", NO_ARGS, false);
    bind_queue("fx", "c", "");
    ck_assert(publish_tallied(fx, "fx", "", &r, &out));
    ck_assert_uint_eq(r.routed, 1);
    ck_assert_uint_eq(tallied(fx, "a"), 5);
    ck_assert_uint_eq(tallied(fx, "c"), 3);
    ck_assert_uint_eq(ready("a"), 5);
    ck_assert_uint_eq(ready("c"), 3);
    /* the default exchange: the queue a key names goes and comes back */
    struct publish_tally *byname = &channel_metrics_exchange(&cm, AMQP_BYTES_LIT(""))->tally;
    ck_assert(publish_tallied(byname, "", "a", &r, &out));
    ck_assert_uint_eq(r.routed, 1);
    ck_assert_uint_eq(ready("a"), 6);
    vhost_delete_queue(v, vhost_find_queue(v, AMQP_BYTES_LIT("a")));
    ck_assert(publish_tallied(byname, "", "a", &r, &out));
    ck_assert_uint_eq(r.routed, 0);
    declare_queue("a", NO_ARGS, &out);
    ck_assert(publish_tallied(byname, "", "a", &r, &out));
    ck_assert_uint_eq(r.routed, 1);
    ck_assert_uint_eq(ready("a"), 1);
    ck_assert(publish_tallied(byname, "", "b", &r, &out)); /* another key, the same tally */
    ck_assert_uint_eq(r.routed, 1);
    ck_assert_uint_eq(ready("b"), 6);
    ck_assert_uint_eq(tallied(byname, "a"), 1);
    ck_assert_uint_eq(tallied(byname, "b"), 1);
    ck_assert_uint_eq(vhost_find_queue(v, AMQP_BYTES_LIT("b"))->stats.count[STAT_PUBLISH], 6);
    channel_metrics_free(&cm);
}
END_TEST

/* ---- the queue entry's room for a message on disk ---- */

START_TEST(test_entry_location)
{
    struct queue_entry e = {.seq = 7};
    queue_entry_set_location(&e, QUEUE_ENTRY_SEGMENT_MAX, QUEUE_ENTRY_OFFSET_MAX);
    ck_assert(queue_entry_on_disk(&e));
    ck_assert_ptr_null(queue_entry_message(&e));
    ck_assert_uint_eq(queue_entry_segment(&e), QUEUE_ENTRY_SEGMENT_MAX);
    ck_assert_uint_eq(queue_entry_offset(&e), QUEUE_ENTRY_OFFSET_MAX);
    queue_entry_set_location(&e, 3, 4096);
    ck_assert_uint_eq(queue_entry_segment(&e), 3);
    ck_assert_uint_eq(queue_entry_offset(&e), 4096);
    ck_assert_uint_eq(e.seq, 7);
    ck_assert_uint_eq(sizeof e, 16);
    struct message *m = message_for("", "k", NULL);
    e.msg = m;
    ck_assert(!queue_entry_on_disk(&e));
    ck_assert_ptr_eq(queue_entry_message(&e), m);
    message_unref(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vhost");
    TCase *tc = tcase_create("verbs");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_exchange_declare_rules);
    tcase_add_test(tc, test_exchange_delete_rules);
    tcase_add_test(tc, test_queue_declare_rules);
    tcase_add_test(tc, test_queue_argument_validation);
    tcase_add_test(tc, test_queue_arguments_parsed);
    tcase_add_test(tc, test_queue_redeclare_equivalence);
    tcase_add_test(tc, test_queue_delete_and_purge_rules);
    tcase_add_test(tc, test_binding_rules);
    tcase_add_test(tc, test_publish_rules);
    tcase_add_test(tc, test_exchange_to_exchange);
    tcase_add_test(tc, test_auto_delete_source_exchange);
    tcase_add_test(tc, test_alternate_exchanges);
    tcase_add_test(tc, test_sender_selected_distribution);
    tcase_add_test(tc, test_length_limits);
    tcase_add_test(tc, test_queue_expiry);
    tcase_add_test(tc, test_publish_tally_and_hints);
    tcase_add_test(tc, test_entry_location);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
