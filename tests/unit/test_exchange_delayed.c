/* Unit tests for delayed messages: the held-message heap, the x-delay reading, and the x-delayed-message exchange in a vhost on a manual clock. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp_buf.h"
#include "amqp_spec.h"
#include "amqp_table.h"
#include "core/clock.h"
#include "core/heap.h"
#include "model/delay_heap.h"
#include "model/exchange.h"
#include "model/exchange_delayed.h"
#include "model/message.h"
#include "model/queue.h"
#include "model/vhost.h"

/* ck_assert reports every passing check to the runner; loops check quietly instead. */
#define EXPECT(cond)                            \
    do {                                        \
        if (!(cond))                            \
            ck_abort_msg("expected %s", #cond); \
    } while (0)

/* ---- messages ---- */

/* A headers table body holding one raw entry: the key, then the type letter and value. */
static void headers_with_raw(struct amqp_buf *b, const char *key, const void *value, size_t len)
{
    amqp_buf_init(b);
    amqp_table_put_key(b, key);
    amqp_buf_put(b, value, len);
}

/* A message published to `exchange` with routing key `key`, body `body`, and the headers
 * table body `headers` (NULL: no headers property). */
static struct message *message_to(const char *exchange, const char *key, const char *body,
                                  const struct amqp_bytes *headers)
{
    size_t body_len = strlen(body);
    struct amqp_content_header h = {.class_id = 60, .body_size = body_len};
    if (headers) {
        h.props.flags = AMQP_BASIC_HEADERS_FLAG;
        h.props.headers = *headers;
    }
    struct amqp_buf encoded;
    amqp_buf_init(&encoded);
    amqp_content_header_encode(&encoded, &h);
    struct message *m = message_new(amqp_cstr(exchange), amqp_cstr(key),
                                    amqp_bytes_of(encoded.data, encoded.len), body_len, body_len);
    amqp_buf_free(&encoded);
    message_write_body(m, 0, amqp_bytes_of(body, body_len));
    return m;
}

/* A message whose only header is x-delay, given as raw type letter and value. */
static struct message *delayed_raw(const char *exchange, const char *key, const char *body,
                                   const void *value, size_t len)
{
    struct amqp_buf b;
    headers_with_raw(&b, "x-delay", value, len);
    struct amqp_bytes table = amqp_bytes_of(b.data, b.len);
    struct message *m = message_to(exchange, key, body, &table);
    amqp_buf_free(&b);
    return m;
}

/* x-delay as a signed 32-bit integer, the type most clients send. */
static struct message *delayed(const char *exchange, const char *key, const char *body,
                               int32_t delay)
{
    uint32_t u = (uint32_t)delay;
    uint8_t raw[5] = {'I', (uint8_t)(u >> 24), (uint8_t)(u >> 16), (uint8_t)(u >> 8), (uint8_t)u};
    return delayed_raw(exchange, key, body, raw, sizeof raw);
}

static bool body_is(struct message *m, const char *body)
{
    return m->body_size == strlen(body) && memcmp(message_body(m), body, m->body_size) == 0;
}

/* ---- the heap ---- */

START_TEST(test_heap_orders_by_due_then_arrival)
{
    struct delay_heap h;
    delay_heap_init(&h);
    static const struct {
        uint64_t due;
        const char *body;
    } pushed[] = {{500, "e"}, {200, "b"}, {100, "a"}, {200, "c"}, {300, "d"}, {200, "c2"}};
    struct message *ms[6];
    for (size_t i = 0; i < 6; i++) {
        ms[i] = message_to("x", "k", pushed[i].body, NULL);
        struct amqp_bytes key = message_routing_key(ms[i]);
        delay_heap_push(&h, pushed[i].due, ms[i], &key, 1);
        ck_assert_uint_eq(ms[i]->refs, 2);
    }
    ck_assert_uint_eq(delay_heap_next_ms(&h), 100);
    struct delayed_message d;
    ck_assert(!delay_heap_pop_due(&h, 99, &d));
    static const char *const order[] = {"a", "b", "c", "c2", "d"};
    for (size_t i = 0; i < 5; i++) {
        ck_assert(delay_heap_pop_due(&h, 300, &d));
        ck_assert(body_is(d.message, order[i]));
        ck_assert_ptr_null(d.keys); /* the message's own key needs no copy */
        delayed_message_release(&d);
    }
    ck_assert(!delay_heap_pop_due(&h, 300, &d));
    ck_assert_uint_eq(delay_heap_next_ms(&h), 500);
    delay_heap_free(&h); /* drops "e" */
    ck_assert_uint_eq(h.len, 0);
    ck_assert_uint_eq(delay_heap_next_ms(&h), UINT64_MAX);
    for (size_t i = 0; i < 6; i++) {
        ck_assert_uint_eq(ms[i]->refs, 1);
        message_unref(ms[i]);
    }
}
END_TEST

START_TEST(test_heap_copies_other_keys)
{
    struct delay_heap h;
    delay_heap_init(&h);
    struct message *m = message_to("x", "own", "body", NULL);
    char cc[] = "cc-key", bcc[] = "bcc";
    struct amqp_bytes keys[] = {message_routing_key(m), amqp_cstr(cc), amqp_cstr(bcc)};
    delay_heap_push(&h, 10, m, keys, 3);
    struct amqp_bytes other = amqp_cstr(cc);
    delay_heap_push(&h, 20, m, &other, 1); /* one key, but not the message's own */
    memset(cc, '?', sizeof cc - 1);        /* the heap must not point into the caller's keys */
    memset(bcc, '?', sizeof bcc - 1);

    struct delayed_message d;
    struct amqp_bytes storage;
    size_t n;
    ck_assert(delay_heap_pop_due(&h, 10, &d));
    const struct amqp_bytes *got = delayed_message_keys(&d, &storage, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert(amqp_bytes_eq_cstr(got[0], "own"));
    ck_assert(amqp_bytes_eq_cstr(got[1], "cc-key"));
    ck_assert(amqp_bytes_eq_cstr(got[2], "bcc"));
    delayed_message_release(&d);
    ck_assert(delay_heap_pop_due(&h, 20, &d));
    got = delayed_message_keys(&d, &storage, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert(amqp_bytes_eq_cstr(got[0], "cc-key"));
    delayed_message_release(&d);
    delay_heap_free(&h);
    ck_assert_uint_eq(m->refs, 1);
    message_unref(m);
}
END_TEST

static uint64_t rng_state = 88172645463325252u;

static uint32_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

/* Random pushes and pops interleaved: every pop is the (due, arrival) minimum still held. */
START_TEST(test_heap_random_against_reference)
{
    enum { N = 20000 };
    struct delay_heap h;
    delay_heap_init(&h);
    struct message *m = message_to("x", "k", "b", NULL);
    static uint64_t due_of[N];
    static bool popped[N];
    uint64_t pushed = 0, now = 0;
    struct amqp_bytes key = message_routing_key(m);
    while (pushed < N || h.len) {
        if (pushed < N && rng_next() % 3) {
            due_of[pushed] = now + rng_next() % 1000;
            delay_heap_push(&h, due_of[pushed++], m, &key, 1);
            continue;
        }
        now += rng_next() % 50;
        struct delayed_message d;
        while (delay_heap_pop_due(&h, now, &d)) {
            EXPECT(d.due_ms <= now && d.seq < pushed && !popped[d.seq]);
            EXPECT(due_of[d.seq] == d.due_ms);
            /* nothing still held is earlier */
            for (uint64_t i = 0; i < pushed; i += 97)
                EXPECT(popped[i] || i == d.seq || due_of[i] > d.due_ms ||
                       (due_of[i] == d.due_ms && i > d.seq));
            popped[d.seq] = true;
            delayed_message_release(&d);
        }
        EXPECT(delay_heap_next_ms(&h) > now);
        if (pushed == N)
            now += 1000;
    }
    for (uint64_t i = 0; i < N; i++)
        EXPECT(popped[i]);
    ck_assert_uint_eq(m->refs, 1);
    delay_heap_free(&h);
    message_unref(m);
}
END_TEST

/* ---- x-delay as the plugin reads it ---- */

/* The delay the plugin reads from a raw x-delay value; -1 for none. */
static int64_t delay_of_raw(const void *value, size_t len)
{
    struct message *m = delayed_raw("x", "k", "b", value, len);
    uint64_t delay;
    int64_t result = exchange_delayed_delay_of(m, &delay) ? (int64_t)delay : -1;
    message_unref(m);
    return result;
}

#define DELAY_OF(lit) delay_of_raw(lit, sizeof(lit) - 1)

START_TEST(test_x_delay_reading)
{
    /* every integer width */
    ck_assert_int_eq(DELAY_OF("b\x64"), 100);
    ck_assert_int_eq(DELAY_OF("B\xc8"), 200);
    ck_assert_int_eq(DELAY_OF("s\x01\x2c"), 300);
    ck_assert_int_eq(DELAY_OF("u\xff\xff"), 65535);
    ck_assert_int_eq(DELAY_OF("I\0\0\x03\xe8"), 1000);
    ck_assert_int_eq(DELAY_OF("i\xff\xff\xff\xff"), 4294967295);
    ck_assert_int_eq(DELAY_OF("l\0\0\0\0\xff\xff\xff\xff"), 4294967295);
    /* longer than Erlang's longest timer, zero or negative: no delay */
    ck_assert_int_eq(DELAY_OF("l\0\0\0\1\0\0\0\0"), -1);
    ck_assert_int_eq(DELAY_OF("I\0\0\0\0"), -1);
    ck_assert_int_eq(DELAY_OF("I\xff\xff\xff\xff"), -1);
    ck_assert_int_eq(DELAY_OF("b\x9c"), -1);
    /* strings of decimal digits with an optional sign, as binary_to_integer takes them */
    ck_assert_int_eq(DELAY_OF("S\0\0\0\x03" "300"), 300);
    ck_assert_int_eq(DELAY_OF("S\0\0\0\x04" "+300"), 300);
    ck_assert_int_eq(DELAY_OF("S\0\0\0\x04" "0300"), 300);
    ck_assert_int_eq(DELAY_OF("S\0\0\0\x04" "-300"), -1);
    ck_assert_int_eq(DELAY_OF("S\0\0\0\x04" " 300"), -1);
    ck_assert_int_eq(DELAY_OF("S\0\0\0\x03" "abc"), -1);
    ck_assert_int_eq(DELAY_OF("S\0\0\0\x01" "+"), -1);
    ck_assert_int_eq(DELAY_OF("S\0\0\0\0"), -1);
    ck_assert_int_eq(DELAY_OF("S\0\0\0\x1e" "999999999999999999999999999999"), -1);
    /* floats truncated toward zero */
    ck_assert_int_eq(DELAY_OF("d\x40\x72\xce\x66\x66\x66\x66\x66"), 300); /* 300.9 */
    ck_assert_int_eq(DELAY_OF("f\x43\x96\x73\x33"), 300);                 /* 300.9 */
    ck_assert_int_eq(DELAY_OF("d\x3f\xe0\0\0\0\0\0\0"), -1);              /* 0.5 */
    ck_assert_int_eq(DELAY_OF("d\xc0\x72\xce\x66\x66\x66\x66\x66"), -1); /* -300.9 */
    ck_assert_int_eq(DELAY_OF("D\x01\0\0\x0b\xb8"), 300);                 /* 300.0 */
    /* other types are no delay */
    ck_assert_int_eq(DELAY_OF("t\x01"), -1);
    ck_assert_int_eq(DELAY_OF("T\0\0\0\0\0\0\x01\x2c"), -1);
    ck_assert_int_eq(DELAY_OF("x\0\0\0\x03" "300"), -1);
    ck_assert_int_eq(DELAY_OF("V"), -1);
    ck_assert_int_eq(DELAY_OF("A\0\0\0\0"), -1);
    /* no headers at all, or no x-delay among them */
    struct message *m = message_to("x", "k", "b", NULL);
    uint64_t delay;
    ck_assert(!exchange_delayed_delay_of(m, &delay));
    message_unref(m);
    struct amqp_buf b;
    headers_with_raw(&b, "x-delay-ms", "I\0\0\x03\xe8", 5);
    struct amqp_bytes table = amqp_bytes_of(b.data, b.len);
    m = message_to("x", "k", "b", &table);
    ck_assert(!exchange_delayed_delay_of(m, &delay));
    message_unref(m);
    amqp_buf_free(&b);
}
END_TEST

/* ---- the exchange in a vhost ---- */

struct world {
    struct vhost *v;
    struct deadline_heap deadlines;
    struct clock clock;
};

static void world_init(struct world *w)
{
    w->v = vhost_new("/");
    deadline_heap_init(&w->deadlines);
    clock_init(&w->clock);
    clock_set_manual(&w->clock, 1000000);
    vhost_use_timers(w->v, &w->deadlines, &w->clock);
}

static void world_free(struct world *w)
{
    vhost_unref(w->v);
    deadline_heap_free(&w->deadlines);
}

/* Moves the clock on by ms and fires what is due, as the server's timer does. */
static void advance(struct world *w, uint64_t ms)
{
    clock_set_manual(&w->clock, w->clock.manual_ms + ms);
    deadline_heap_run_due(&w->deadlines, w->clock.manual_ms);
}

/* The body (no length prefix) of a table with one longstr entry, or none when key is NULL. */
static struct amqp_bytes table_of(struct amqp_buf *b, const char *key, const char *value)
{
    amqp_buf_init(b);
    if (key)
        amqp_table_put_cstr(b, key, value);
    return amqp_bytes_of(b->data, b->len);
}

/* exchange.declare of an x-delayed-message exchange with x-delayed-type (NULL: none). */
static struct exchange *declare_delayed(struct vhost *v, const char *name, const char *delayed_type,
                                        struct outcome *out)
{
    struct amqp_buf b;
    struct exchange_declare req = {.name = amqp_cstr(name),
                                   .type = AMQP_BYTES_LIT("x-delayed-message"),
                                   .arguments = table_of(&b, delayed_type ? "x-delayed-type" : NULL,
                                                         delayed_type)};
    struct exchange *x = vhost_declare_exchange(v, &req, out);
    amqp_buf_free(&b);
    return x;
}

static struct queue *bound_queue(struct vhost *v, const char *name, const char *exchange,
                                 const char *key)
{
    struct queue_declare qd = {.name = amqp_cstr(name)};
    struct outcome out;
    struct queue *q = vhost_declare_queue(v, &qd, &out);
    ck_assert_ptr_nonnull(q);
    struct queue_binding b = {amqp_cstr(exchange), amqp_cstr(name), amqp_cstr(key), {NULL, 0}, NULL};
    ck_assert(vhost_bind_queue(v, &b, &out));
    return q;
}

/* Publishes m (the reference passes) and returns how many queues took it now. */
static uint32_t publish(struct vhost *v, struct message *m)
{
    struct publish_result result;
    struct outcome out;
    ck_assert(vhost_publish(v, &m, NULL, &result, &out));
    message_unref(m);
    return result.routed;
}

/* The bodies of the queue's ready messages, taken and joined by spaces. */
static const char *drain(struct queue *q)
{
    static char out[512];
    out[0] = '\0';
    struct queue_entry e;
    while (queue_get(q, &e)) {
        struct message *m = queue_entry_message(&e);
        if (out[0])
            strcat(out, " ");
        strncat(out, (const char *)message_body(m), m->body_size);
        queue_settle(q, &e);
    }
    return out;
}

START_TEST(test_declare_checks)
{
    struct world w;
    world_init(&w);
    struct outcome out;
    ck_assert_ptr_null(declare_delayed(w.v, "d", NULL, &out));
    ck_assert_int_eq(out.code, 406);
    ck_assert(!out.connection);
    ck_assert_str_eq(out.text, "Invalid argument, 'x-delayed-type' must be an existing exchange type");
    ck_assert_ptr_null(declare_delayed(w.v, "d", "x-delayed-message", &out));
    ck_assert_int_eq(out.code, 406);
    ck_assert_str_eq(out.text, "Invalid argument, 'x-delayed-message' can't be used for "
                               "'x-delayed-type'");
    ck_assert_ptr_null(declare_delayed(w.v, "d", "x-consistent-hash", &out));
    ck_assert_int_eq(out.code, 503);
    ck_assert(out.connection);
    ck_assert_str_eq(out.text, "unknown exchange type 'x-consistent-hash'");
    ck_assert_ptr_null(vhost_find_exchange(w.v, AMQP_BYTES_LIT("d")));

    struct exchange *x = declare_delayed(w.v, "d", "topic", &out);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(x->type, EXCHANGE_DELAYED_MESSAGE);
    ck_assert_int_eq(x->args.routes_as, EXCHANGE_TOPIC);
    ck_assert_ptr_nonnull(x->delayed);
    /* x-delayed-type is no part of equivalence, as in RabbitMQ: the first one stays */
    ck_assert_ptr_eq(declare_delayed(w.v, "d", "fanout", &out), x);
    ck_assert_ptr_eq(declare_delayed(w.v, "d", NULL, &out), x);
    ck_assert_int_eq(x->args.routes_as, EXCHANGE_TOPIC);
    struct exchange_declare as_direct = {.name = AMQP_BYTES_LIT("d"), .type = AMQP_BYTES_LIT("direct")};
    ck_assert_ptr_null(vhost_declare_exchange(w.v, &as_direct, &out));
    ck_assert_int_eq(out.code, 406);
    ck_assert_str_eq(out.text, "inequivalent arg 'type' for exchange 'd' in vhost '/': received "
                               "'direct' but current is ''x-delayed-message''");
    ck_assert_ptr_null(vhost_find_exchange(w.v, AMQP_BYTES_LIT("amq.direct"))->delayed);
    world_free(&w);
}
END_TEST

START_TEST(test_delayed_routing_order_and_one_deadline)
{
    struct world w;
    world_init(&w);
    struct outcome out;
    ck_assert_ptr_nonnull(declare_delayed(w.v, "d", "direct", &out));
    struct queue *q = bound_queue(w.v, "q", "d", "k");
    ck_assert_uint_eq(publish(w.v, delayed("d", "k", "late", 500)), 0);
    ck_assert_uint_eq(publish(w.v, delayed("d", "k", "early", 200)), 0);
    ck_assert_uint_eq(publish(w.v, delayed("d", "k", "early2", 200)), 0);
    ck_assert_uint_eq(publish(w.v, delayed("d", "other", "nowhere", 100)), 0);
    ck_assert_uint_eq(publish(w.v, delayed("d", "k", "now", 0)), 1);
    ck_assert_uint_eq(publish(w.v, delayed("d", "k", "negative", -5)), 1);
    ck_assert_uint_eq(publish(w.v, message_to("d", "k", "plain", NULL)), 1);
    /* one deadline for the exchange, at its earliest message */
    ck_assert_uint_eq(w.deadlines.len, 1);
    ck_assert_uint_eq(deadline_heap_next_ms(&w.deadlines), 1000100);
    ck_assert_str_eq(drain(q), "now negative plain");
    advance(&w, 199);
    ck_assert_str_eq(drain(q), "");
    ck_assert_uint_eq(exchange_delayed_count(vhost_find_exchange(w.v, AMQP_BYTES_LIT("d"))->delayed), 3);
    advance(&w, 1);
    ck_assert_str_eq(drain(q), "early early2");
    ck_assert_uint_eq(deadline_heap_next_ms(&w.deadlines), 1000500);
    advance(&w, 1000);
    ck_assert_str_eq(drain(q), "late");
    ck_assert_uint_eq(w.deadlines.len, 0);
    world_free(&w);
}
END_TEST

/* The alternate exchange gets a held message at once (the delayed exchange routed nowhere),
 * and again once it is due if it matches no binding then. */
START_TEST(test_delayed_alternate_exchange)
{
    struct world w;
    world_init(&w);
    struct outcome out;
    struct amqp_buf b;
    struct exchange_declare ae = {.name = AMQP_BYTES_LIT("ae"), .type = AMQP_BYTES_LIT("fanout")};
    ck_assert_ptr_nonnull(vhost_declare_exchange(w.v, &ae, &out));
    amqp_buf_init(&b);
    amqp_table_put_cstr(&b, "x-delayed-type", "direct");
    amqp_table_put_cstr(&b, "alternate-exchange", "ae");
    struct exchange_declare d = {.name = AMQP_BYTES_LIT("d"), .type = AMQP_BYTES_LIT("x-delayed-message"),
                                 .arguments = amqp_bytes_of(b.data, b.len)};
    ck_assert_ptr_nonnull(vhost_declare_exchange(w.v, &d, &out));
    amqp_buf_free(&b);
    struct queue *bound = bound_queue(w.v, "bound", "d", "k");
    struct queue *caught = bound_queue(w.v, "caught", "ae", "");
    ck_assert_uint_eq(publish(w.v, delayed("d", "k", "matching", 100)), 1);
    ck_assert_uint_eq(publish(w.v, delayed("d", "none", "unmatched", 100)), 1);
    ck_assert_str_eq(drain(caught), "matching unmatched");
    advance(&w, 100);
    ck_assert_str_eq(drain(bound), "matching");
    ck_assert_str_eq(drain(caught), "unmatched");
    world_free(&w);
}
END_TEST

/* Reached through an exchange-to-exchange binding, the delayed exchange holds the message; once
 * due it goes on through its own bindings, to another delayed exchange without a new delay. */
START_TEST(test_delayed_through_exchange_bindings)
{
    struct world w;
    world_init(&w);
    struct outcome out;
    struct exchange_declare src = {.name = AMQP_BYTES_LIT("src"), .type = AMQP_BYTES_LIT("direct")};
    ck_assert_ptr_nonnull(vhost_declare_exchange(w.v, &src, &out));
    ck_assert_ptr_nonnull(declare_delayed(w.v, "d1", "fanout", &out));
    ck_assert_ptr_nonnull(declare_delayed(w.v, "d2", "fanout", &out));
    struct exchange_binding to_d1 = {AMQP_BYTES_LIT("d1"), AMQP_BYTES_LIT("src"), AMQP_BYTES_LIT("k"),
                                     {NULL, 0}, NULL};
    struct exchange_binding to_d2 = {AMQP_BYTES_LIT("d2"), AMQP_BYTES_LIT("d1"), AMQP_BYTES_LIT(""),
                                     {NULL, 0}, NULL};
    ck_assert(vhost_bind_exchange(w.v, &to_d1, &out));
    ck_assert(vhost_bind_exchange(w.v, &to_d2, &out));
    struct queue *q = bound_queue(w.v, "q", "d2", "");
    ck_assert_uint_eq(publish(w.v, delayed("src", "k", "m", 300)), 0);
    advance(&w, 299);
    ck_assert_str_eq(drain(q), "");
    advance(&w, 1);
    ck_assert_str_eq(drain(q), "m");
    ck_assert_uint_eq(w.deadlines.len, 0);
    world_free(&w);
}
END_TEST

/* CC and BCC keys route the held message once due, as they would have at once. */
START_TEST(test_delayed_keeps_cc_and_bcc_keys)
{
    struct world w;
    world_init(&w);
    struct outcome out;
    ck_assert_ptr_nonnull(declare_delayed(w.v, "d", "direct", &out));
    struct queue *to_cc = bound_queue(w.v, "cc", "d", "cc-key");
    struct queue *to_bcc = bound_queue(w.v, "bcc", "d", "bcc-key");
    struct amqp_buf b;
    amqp_buf_init(&b);
    amqp_table_put_i32(&b, "x-delay", 50);
    amqp_table_put_key(&b, "CC");
    amqp_buf_put(&b, "A\0\0\0\x0bS\0\0\0\x06" "cc-key", 16);
    amqp_table_put_key(&b, "BCC");
    amqp_buf_put(&b, "A\0\0\0\x0cS\0\0\0\x07" "bcc-key", 17);
    struct amqp_bytes table = amqp_bytes_of(b.data, b.len);
    ck_assert_uint_eq(publish(w.v, message_to("d", "own", "m", &table)), 0);
    amqp_buf_free(&b);
    advance(&w, 50);
    ck_assert_str_eq(drain(to_cc), "m");
    ck_assert_str_eq(drain(to_bcc), "m");
    world_free(&w);
}
END_TEST

START_TEST(test_delete_drops_held_messages)
{
    struct world w;
    world_init(&w);
    struct outcome out;
    ck_assert_ptr_nonnull(declare_delayed(w.v, "d", "fanout", &out));
    struct queue *q = bound_queue(w.v, "q", "d", "");
    struct message *m = delayed("d", "", "held", 100);
    message_ref(m);
    ck_assert_uint_eq(publish(w.v, m), 0);
    ck_assert_uint_eq(m->refs, 2); /* ours and the exchange's */
    ck_assert(vhost_delete_exchange(w.v, NULL, AMQP_BYTES_LIT("d"), false, &out));
    ck_assert_uint_eq(m->refs, 1);
    ck_assert_uint_eq(w.deadlines.len, 0);
    ck_assert_ptr_nonnull(declare_delayed(w.v, "d", "fanout", &out));
    bound_queue(w.v, "q", "d", "");
    advance(&w, 1000);
    ck_assert_str_eq(drain(q), "");
    message_unref(m);
    /* a vhost freed with held messages drops them too */
    ck_assert_uint_eq(publish(w.v, delayed("d", "", "held", 100)), 0);
    world_free(&w);
}
END_TEST

/* A vhost without timers holds nothing: the message routes at once. */
START_TEST(test_no_timers_routes_at_once)
{
    struct vhost *v = vhost_new("/");
    struct outcome out;
    ck_assert_ptr_nonnull(declare_delayed(v, "d", "fanout", &out));
    struct queue *q = bound_queue(v, "q", "d", "");
    ck_assert_uint_eq(publish(v, delayed("d", "", "m", 100)), 1);
    ck_assert_str_eq(drain(q), "m");
    vhost_unref(v);
}
END_TEST

/* Many held messages cost one deadline, and each is released exactly when due. */
START_TEST(test_many_held_messages)
{
    enum { N = 100000 };
    struct world w;
    world_init(&w);
    struct outcome out;
    ck_assert_ptr_nonnull(declare_delayed(w.v, "d", "fanout", &out));
    struct queue *q = bound_queue(w.v, "q", "d", "");
    for (int i = 0; i < N; i++)
        publish(w.v, delayed("d", "", "m", 1 + (int32_t)(rng_next() % 10000)));
    ck_assert_uint_eq(w.deadlines.len, 1);
    uint32_t released = 0;
    for (int ms = 0; ms < 10000; ms += 10) {
        advance(&w, 10);
        uint32_t ready = queue_message_count(q);
        EXPECT(ready >= released);
        released = ready;
    }
    ck_assert_uint_eq(queue_message_count(q), N);
    ck_assert_uint_eq(w.deadlines.len, 0);
    world_free(&w);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("exchange_delayed");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_heap_orders_by_due_then_arrival);
    tcase_add_test(tc, test_heap_copies_other_keys);
    tcase_add_test(tc, test_heap_random_against_reference);
    tcase_add_test(tc, test_x_delay_reading);
    tcase_add_test(tc, test_declare_checks);
    tcase_add_test(tc, test_delayed_routing_order_and_one_deadline);
    tcase_add_test(tc, test_delayed_alternate_exchange);
    tcase_add_test(tc, test_delayed_through_exchange_bindings);
    tcase_add_test(tc, test_delayed_keeps_cc_and_bcc_keys);
    tcase_add_test(tc, test_delete_drops_held_messages);
    tcase_add_test(tc, test_no_timers_routes_at_once);
    tcase_add_test(tc, test_many_held_messages);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
