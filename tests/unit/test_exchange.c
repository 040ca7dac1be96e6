/* Unit tests for exchanges and the vhost: routing by type with dedupe, bindings, auto-delete. */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp_buf.h"
#include "amqp_spec.h"
#include "amqp_table.h"
#include "model/exchange.h"
#include "model/message.h"
#include "model/queue.h"
#include "model/vhost.h"
#include "test_sessions.h"

/* ck_assert reports every passing check to the runner; hot loops check quietly instead. */
#define EXPECT(cond)                            \
    do {                                        \
        if (!(cond))                            \
            ck_abort_msg("expected %s", #cond); \
    } while (0)

static const struct amqp_bytes NO_ARGS = {NULL, 0};

/* ---- tables and messages ---- */

enum { POOL = 64 };
static struct amqp_buf pool[POOL];
static size_t pool_used;

static void release_pool(void)
{
    for (size_t i = 0; i < pool_used; i++)
        amqp_buf_free(&pool[i]);
    pool_used = 0;
}

static struct amqp_buf *pool_buf(void)
{
    ck_assert_uint_lt(pool_used, POOL);
    struct amqp_buf *b = &pool[pool_used++];
    amqp_buf_init(b);
    return b;
}

/* The body (no length prefix) of a table of string values: "k1", "v1", "k2", "v2", NULL. */
static struct amqp_bytes strings_table(const char *first, ...)
{
    struct amqp_buf *b = pool_buf();
    size_t mark = amqp_table_begin(b);
    va_list ap;
    va_start(ap, first);
    for (const char *key = first; key; key = va_arg(ap, const char *))
        amqp_table_put_cstr(b, key, va_arg(ap, const char *));
    va_end(ap);
    amqp_table_end(b, mark);
    return amqp_bytes_of(b->data + mark + 4, b->len - mark - 4);
}

/* A message as a channel builds it: the content header encoded, decoded, then copied. */
static struct message *message_with(const char *routing_key, const struct amqp_bytes *headers)
{
    struct amqp_content_header h = {.class_id = 60, .body_size = 2};
    if (headers) {
        h.props.flags = AMQP_BASIC_HEADERS_FLAG;
        h.props.headers = *headers;
    }
    struct amqp_buf encoded;
    amqp_buf_init(&encoded);
    amqp_content_header_encode(&encoded, &h);
    struct amqp_content_header decoded;
    ck_assert_int_eq(
        amqp_content_header_decode(amqp_bytes_of(encoded.data, encoded.len), &decoded, NULL), 0);
    struct message *m = message_new(AMQP_BYTES_LIT("x"), amqp_cstr(routing_key),
                                    amqp_bytes_of(encoded.data, encoded.len), 2, 2);
    /* the message must not point into the buffer it was copied from */
    memset(encoded.data, 0xEE, encoded.len);
    amqp_buf_free(&encoded);
    message_write_body(m, 0, AMQP_BYTES_LIT("h"));
    message_write_body(m, 1, AMQP_BYTES_LIT("i"));
    return m;
}

/* ---- routing results ---- */

enum { MAX_ROUTED = 64 };
struct routed {
    struct queue *queues[MAX_ROUTED];
    size_t count;
};

static void collect(struct queue *q, void *ctx)
{
    struct routed *r = ctx;
    ck_assert_uint_lt(r->count, MAX_ROUTED);
    r->queues[r->count++] = q;
}

/* Each routed message needs a stamp of its own, as the vhost gives it. */
static uint64_t next_stamp(void)
{
    static uint64_t stamp;
    return ++stamp;
}

static void no_exchange(struct exchange *x, void *ctx)
{
    (void)x;
    (void)ctx;
    ck_abort_msg("routed to an exchange");
}

/* Routes m by its routing key alone. */
static void route_message(struct exchange *x, struct message *m, struct routed *r)
{
    struct exchange_route_visitor visitor = {collect, no_exchange, r};
    struct amqp_bytes key = message_routing_key(m);
    exchange_route(x, m, &key, 1, next_stamp(), &visitor);
}

static struct routed route(struct exchange *x, const char *key, const struct amqp_bytes *headers)
{
    struct routed r = {.count = 0};
    struct message *m = message_with(key, headers);
    route_message(x, m, &r);
    message_unref(m);
    return r;
}

/* A publish through the vhost, as a channel makes it: how many queues took the message. */
static uint32_t publish(struct vhost *v, const char *exchange, const char *key)
{
    struct message *m = message_with(key, NULL);
    struct message *named = message_new(amqp_cstr(exchange), amqp_cstr(key), message_header(m),
                                        m->body_size, m->body_size);
    struct publish_result result;
    struct outcome out;
    ck_assert(vhost_publish(v, &named, NULL, &result, &out));
    message_unref(named);
    message_unref(m);
    return result.routed;
}

static bool routed_to(const struct routed *r, const struct queue *q)
{
    size_t n = 0;
    for (size_t i = 0; i < r->count; i++)
        n += r->queues[i] == q;
    ck_assert_uint_le(n, 1); /* never twice */
    return n == 1;
}

static struct queue *add_owned_queue(struct vhost *v, const char *name, struct session *owner)
{
    struct queue_declare req = {.name = amqp_cstr(name), .exclusive = owner != NULL, .who = owner};
    struct outcome out;
    struct queue *q = vhost_declare_queue(v, &req, &out);
    ck_assert_ptr_nonnull(q);
    return q;
}

static struct queue *add_queue(struct vhost *v, const char *name)
{
    return add_owned_queue(v, name, NULL);
}

static struct exchange *add_exchange(struct vhost *v, const char *name, enum exchange_type type,
                                     bool auto_delete)
{
    struct exchange_declare req = {.name = amqp_cstr(name), .type = amqp_cstr(exchange_type_name(type)),
                                   .auto_delete = auto_delete};
    struct outcome out;
    struct exchange *x = vhost_declare_exchange(v, &req, &out);
    ck_assert_ptr_nonnull(x);
    return x;
}

/* queue.unbind through the vhost, which deletes an auto-delete exchange left unused. */
static void unbind(struct vhost *v, struct exchange *x, struct queue *q, const char *key)
{
    struct queue_binding b = {x->name, q->name, amqp_cstr(key), NO_ARGS, NULL};
    struct outcome out;
    ck_assert(vhost_unbind_queue(v, &b, &out));
}

static struct exchange *find(struct vhost *v, const char *name)
{
    return vhost_find_exchange(v, amqp_cstr(name));
}

/* ---- tests ---- */

START_TEST(test_standard_exchanges)
{
    struct vhost *v = vhost_new("/");
    static const struct {
        const char *name;
        enum exchange_type type;
    } expect[] = {{"", EXCHANGE_DIRECT},
                  {"amq.direct", EXCHANGE_DIRECT},
                  {"amq.fanout", EXCHANGE_FANOUT},
                  {"amq.topic", EXCHANGE_TOPIC},
                  {"amq.headers", EXCHANGE_HEADERS},
                  {"amq.match", EXCHANGE_HEADERS}};
    for (size_t i = 0; i < sizeof expect / sizeof *expect; i++) {
        struct exchange *x = find(v, expect[i].name);
        ck_assert_ptr_nonnull(x);
        ck_assert_int_eq(x->type, expect[i].type);
        ck_assert(x->durable);
        ck_assert(!x->auto_delete && !x->internal);
    }
    struct exchange *trace = find(v, "amq.rabbitmq.trace");
    ck_assert_ptr_nonnull(trace);
    ck_assert(trace->type == EXCHANGE_TOPIC && trace->durable && trace->internal);
    ck_assert_uint_eq(map_count(&v->exchanges), 7);
    vhost_unref(v);
}
END_TEST

START_TEST(test_type_names)
{
    enum exchange_type t;
    ck_assert(exchange_type_parse(AMQP_BYTES_LIT("topic"), &t));
    ck_assert_int_eq(t, EXCHANGE_TOPIC);
    ck_assert(exchange_type_parse(AMQP_BYTES_LIT("headers"), &t));
    ck_assert_int_eq(t, EXCHANGE_HEADERS);
    ck_assert(!exchange_type_parse(AMQP_BYTES_LIT("x-consistent-hash"), &t));
    ck_assert(!exchange_type_parse(AMQP_BYTES_LIT("Direct"), &t));
    ck_assert(!exchange_type_parse(AMQP_BYTES_LIT("direc"), &t));
    ck_assert_str_eq(exchange_type_name(EXCHANGE_FANOUT), "fanout");
}
END_TEST

START_TEST(test_default_exchange_routes_by_queue_name)
{
    struct vhost *v = vhost_new("/");
    struct queue *q = add_queue(v, "tasks");
    ck_assert_uint_eq(publish(v, "", "tasks"), 1);
    ck_assert_uint_eq(queue_message_count(q), 1);
    ck_assert_uint_eq(publish(v, "", "other"), 0);
    /* it has no bindings of its own */
    ck_assert_uint_eq(route(find(v, ""), "tasks", NULL).count, 0);
    vhost_unref(v);
}
END_TEST

START_TEST(test_direct_routing_and_dedupe)
{
    struct vhost *v = vhost_new("/");
    struct exchange *x = find(v, "amq.direct");
    struct queue *q1 = add_queue(v, "q1"), *q2 = add_queue(v, "q2"), *q3 = add_queue(v, "q3");
    exchange_bind(x, q1, AMQP_BYTES_LIT("a"), NO_ARGS);
    exchange_bind(x, q2, AMQP_BYTES_LIT("a"), NO_ARGS);
    exchange_bind(x, q1, AMQP_BYTES_LIT("b"), NO_ARGS);
    /* same queue and key, other arguments: a second binding, still one delivery */
    exchange_bind(x, q1, AMQP_BYTES_LIT("a"), strings_table("x", "1", NULL));
    exchange_bind(x, q3, AMQP_BYTES_LIT(""), NO_ARGS);
    ck_assert_uint_eq(x->binding_count, 5);

    struct routed r = route(x, "a", NULL);
    ck_assert_uint_eq(r.count, 2);
    ck_assert(routed_to(&r, q1) && routed_to(&r, q2));
    r = route(x, "b", NULL);
    ck_assert_uint_eq(r.count, 1);
    ck_assert(routed_to(&r, q1));
    r = route(x, "", NULL);
    ck_assert_uint_eq(r.count, 1);
    ck_assert(routed_to(&r, q3));
    ck_assert_uint_eq(route(x, "c", NULL).count, 0);
    ck_assert_uint_eq(route(x, "A", NULL).count, 0);
    release_pool();
    vhost_unref(v);
}
END_TEST

START_TEST(test_fanout_routing)
{
    struct vhost *v = vhost_new("/");
    struct exchange *x = find(v, "amq.fanout");
    struct queue *q1 = add_queue(v, "q1"), *q2 = add_queue(v, "q2");
    add_queue(v, "unbound");
    exchange_bind(x, q1, AMQP_BYTES_LIT("a"), NO_ARGS);
    exchange_bind(x, q1, AMQP_BYTES_LIT("b"), NO_ARGS);
    exchange_bind(x, q2, AMQP_BYTES_LIT(""), NO_ARGS);
    for (int i = 0; i < 3; i++) {
        struct routed r = route(x, i == 0 ? "a" : i == 1 ? "zzz" : "", NULL);
        ck_assert_uint_eq(r.count, 2);
        ck_assert(routed_to(&r, q1) && routed_to(&r, q2));
    }
    vhost_unref(v);
}
END_TEST

START_TEST(test_exchange_topic_routing)
{
    struct vhost *v = vhost_new("/");
    struct exchange *x = find(v, "amq.topic");
    struct queue *q1 = add_queue(v, "q1"), *q2 = add_queue(v, "q2"), *q3 = add_queue(v, "q3");
    /* q1 matches "a.b" three ways: it still gets it once */
    exchange_bind(x, q1, AMQP_BYTES_LIT("a.*"), NO_ARGS);
    exchange_bind(x, q1, AMQP_BYTES_LIT("#"), NO_ARGS);
    exchange_bind(x, q1, AMQP_BYTES_LIT("a.#"), NO_ARGS);
    exchange_bind(x, q2, AMQP_BYTES_LIT("*.b"), NO_ARGS);
    exchange_bind(x, q2, AMQP_BYTES_LIT("*.b"), strings_table("x", "y", NULL));
    exchange_bind(x, q3, AMQP_BYTES_LIT("a..c"), NO_ARGS);

    struct routed r = route(x, "a.b", NULL);
    ck_assert_uint_eq(r.count, 2);
    ck_assert(routed_to(&r, q1) && routed_to(&r, q2));
    r = route(x, "a", NULL);
    ck_assert_uint_eq(r.count, 1);
    ck_assert(routed_to(&r, q1));
    r = route(x, "a..c", NULL);
    ck_assert_uint_eq(r.count, 2);
    ck_assert(routed_to(&r, q1) && routed_to(&r, q3));
    r = route(x, "x.b.c", NULL);
    ck_assert_uint_eq(r.count, 1);
    ck_assert(routed_to(&r, q1));

    /* unbinding one of q1's patterns leaves the others */
    ck_assert(exchange_unbind(x, q1, AMQP_BYTES_LIT("#"), NO_ARGS));
    r = route(x, "x.b.c", NULL);
    ck_assert_uint_eq(r.count, 0);
    r = route(x, "a.b", NULL);
    ck_assert_uint_eq(r.count, 2);
    ck_assert(exchange_unbind(x, q2, AMQP_BYTES_LIT("*.b"), NO_ARGS));
    r = route(x, "c.b", NULL);
    ck_assert_uint_eq(r.count, 1); /* through the binding with arguments */
    ck_assert(routed_to(&r, q2));
    release_pool();
    vhost_unref(v);
}
END_TEST

START_TEST(test_headers_routing)
{
    struct vhost *v = vhost_new("/");
    struct exchange *x = find(v, "amq.headers");
    struct queue *all = add_queue(v, "all"), *any = add_queue(v, "any"),
                 *empty = add_queue(v, "empty"), *any_empty = add_queue(v, "any-empty");
    exchange_bind(x, all, AMQP_BYTES_LIT(""),
                  strings_table("x-match", "all", "a", "1", "b", "2", NULL));
    exchange_bind(x, any, AMQP_BYTES_LIT(""),
                  strings_table("x-match", "any", "a", "1", "b", "2", NULL));
    /* twice with other keys: still one delivery */
    exchange_bind(x, any, AMQP_BYTES_LIT("k"),
                  strings_table("x-match", "any", "a", "1", "b", "2", NULL));
    exchange_bind(x, empty, AMQP_BYTES_LIT(""), NO_ARGS);
    exchange_bind(x, any_empty, AMQP_BYTES_LIT(""), strings_table("x-match", "any", NULL));

    struct amqp_bytes h = strings_table("a", "1", "b", "2", NULL);
    struct routed r = route(x, "", &h);
    ck_assert_uint_eq(r.count, 3);
    ck_assert(routed_to(&r, all) && routed_to(&r, any) && routed_to(&r, empty));

    h = strings_table("a", "1", NULL);
    r = route(x, "", &h);
    ck_assert_uint_eq(r.count, 2);
    ck_assert(routed_to(&r, any) && routed_to(&r, empty));

    h = strings_table("a", "2", "b", "1", NULL); /* values must match too */
    r = route(x, "", &h);
    ck_assert_uint_eq(r.count, 1);
    ck_assert(routed_to(&r, empty));

    /* no headers property at all: an empty table, as RabbitMQ reads it (all with no keys
     * matches, any with no keys does not) */
    r = route(x, "", NULL);
    ck_assert_uint_eq(r.count, 1);
    ck_assert(routed_to(&r, empty));
    release_pool();
    vhost_unref(v);
}
END_TEST

START_TEST(test_bind_idempotent_and_unbind)
{
    struct vhost *v = vhost_new("/");
    struct exchange *x = find(v, "amq.direct");
    struct queue *q = add_queue(v, "q");
    struct amqp_bytes args = strings_table("x", "1", NULL);
    struct binding *b1 = exchange_bind(x, q, AMQP_BYTES_LIT("k"), NO_ARGS);
    ck_assert_ptr_eq(exchange_bind(x, q, AMQP_BYTES_LIT("k"), NO_ARGS), b1);
    struct binding *b2 = exchange_bind(x, q, AMQP_BYTES_LIT("k"), args);
    ck_assert_ptr_ne(b1, b2);
    ck_assert_ptr_eq(exchange_bind(x, q, AMQP_BYTES_LIT("k"), strings_table("x", "1", NULL)), b2);
    ck_assert_uint_eq(x->binding_count, 2);

    ck_assert(!exchange_unbind(x, q, AMQP_BYTES_LIT("other"), NO_ARGS));
    ck_assert(!exchange_unbind(x, q, AMQP_BYTES_LIT("k"), strings_table("x", "2", NULL)));
    ck_assert(exchange_unbind(x, q, AMQP_BYTES_LIT("k"), NO_ARGS));
    ck_assert(!exchange_unbind(x, q, AMQP_BYTES_LIT("k"), NO_ARGS));
    ck_assert_uint_eq(x->binding_count, 1);
    ck_assert_uint_eq(route(x, "k", NULL).count, 1); /* the one with arguments remains */
    ck_assert(exchange_unbind(x, q, AMQP_BYTES_LIT("k"), args));
    ck_assert_uint_eq(route(x, "k", NULL).count, 0);
    ck_assert_uint_eq(x->binding_count, 0);
    ck_assert(list_empty(&q->bindings));
    release_pool();
    vhost_unref(v);
}
END_TEST

START_TEST(test_auto_delete_exchange)
{
    struct vhost *v = vhost_new("/");
    struct queue *q1 = add_queue(v, "q1"), *q2 = add_queue(v, "q2");

    /* never bound: stays */
    add_exchange(v, "lonely", EXCHANGE_FANOUT, true);
    ck_assert_ptr_nonnull(find(v, "lonely"));

    /* goes with its last binding, not before */
    struct exchange *x = add_exchange(v, "ad", EXCHANGE_DIRECT, true);
    exchange_bind(x, q1, AMQP_BYTES_LIT("a"), NO_ARGS);
    exchange_bind(x, q2, AMQP_BYTES_LIT("a"), NO_ARGS);
    unbind(v, x, q1, "a");
    ck_assert_ptr_eq(find(v, "ad"), x);
    unbind(v, x, q2, "a");
    ck_assert_ptr_null(find(v, "ad"));

    /* or when the queue holding its last binding is deleted */
    x = add_exchange(v, "ad2", EXCHANGE_TOPIC, true);
    struct exchange *kept = add_exchange(v, "kept", EXCHANGE_TOPIC, false);
    exchange_bind(x, q1, AMQP_BYTES_LIT("#"), NO_ARGS);
    exchange_bind(x, q1, AMQP_BYTES_LIT("a.*"), NO_ARGS);
    exchange_bind(kept, q1, AMQP_BYTES_LIT("#"), NO_ARGS);
    vhost_delete_queue(v, q1);
    ck_assert_ptr_null(find(v, "ad2"));
    ck_assert_ptr_eq(find(v, "kept"), kept);
    ck_assert_uint_eq(kept->binding_count, 0);
    vhost_unref(v);
}
END_TEST

START_TEST(test_queue_deletion_removes_bindings)
{
    struct vhost *v = vhost_new("/");
    struct queue *q = add_queue(v, "q"), *other = add_queue(v, "other");
    const char *names[] = {"amq.direct", "amq.fanout", "amq.topic", "amq.headers"};
    for (size_t i = 0; i < 4; i++) {
        exchange_bind(find(v, names[i]), q, AMQP_BYTES_LIT("k"), NO_ARGS);
        exchange_bind(find(v, names[i]), other, AMQP_BYTES_LIT("k"), NO_ARGS);
    }
    vhost_delete_queue(v, q);
    ck_assert_ptr_null(vhost_find_queue(v, AMQP_BYTES_LIT("q")));
    for (size_t i = 0; i < 4; i++) {
        struct exchange *x = find(v, names[i]);
        ck_assert_uint_eq(x->binding_count, 1);
        struct routed r = route(x, "k", NULL);
        ck_assert_uint_eq(r.count, 1);
        ck_assert(routed_to(&r, other));
    }
    ck_assert_uint_eq(publish(v, "", "q"), 0);
    vhost_unref(v);
}
END_TEST

START_TEST(test_delete_exchange_unlinks_queues)
{
    struct vhost *v = vhost_new("/");
    struct queue *q = add_queue(v, "q");
    struct exchange *x = add_exchange(v, "x", EXCHANGE_DIRECT, false);
    exchange_bind(x, q, AMQP_BYTES_LIT("a"), NO_ARGS);
    exchange_bind(find(v, "amq.direct"), q, AMQP_BYTES_LIT("a"), NO_ARGS);
    struct outcome out;
    ck_assert(vhost_delete_exchange(v, NULL, x->name, false, &out));
    ck_assert_ptr_null(find(v, "x"));
    /* only the amq.direct binding is left on the queue */
    ck_assert_ptr_eq(q->bindings.next->next, &q->bindings);
    vhost_unref(v);
}
END_TEST

START_TEST(test_many_direct_bindings)
{
    enum { QUEUES = 500, KEYS = 20000 };
    struct vhost *v = vhost_new("/");
    struct exchange *x = find(v, "amq.direct");
    struct queue *queues[QUEUES];
    for (int i = 0; i < QUEUES; i++) {
        char name[16];
        snprintf(name, sizeof name, "q%d", i);
        queues[i] = add_queue(v, name);
    }
    char key[32];
    for (int k = 0; k < KEYS; k++) {
        snprintf(key, sizeof key, "key.%d", k);
        exchange_bind(x, queues[k % QUEUES], amqp_cstr(key), NO_ARGS);
        if (k % 1000 == 0) /* a few keys go to a second queue too */
            exchange_bind(x, queues[(k + 1) % QUEUES], amqp_cstr(key), NO_ARGS);
    }
    ck_assert_uint_eq(x->binding_count, KEYS + KEYS / 1000);
    for (int k = 0; k < KEYS; k++) {
        snprintf(key, sizeof key, "key.%d", k);
        struct routed r = {.count = 0};
        struct message *m = message_with(key, NULL);
        route_message(x, m, &r);
        message_unref(m);
        EXPECT(r.count == (k % 1000 == 0 ? 2u : 1u));
        EXPECT(r.queues[0] == queues[k % QUEUES] || r.queues[1] == queues[k % QUEUES]);
    }
    ck_assert_uint_eq(route(x, "key.20000", NULL).count, 0);
    /* unbinding half leaves exactly the other half */
    for (int k = 0; k < KEYS; k += 2) {
        snprintf(key, sizeof key, "key.%d", k);
        EXPECT(exchange_unbind(x, queues[k % QUEUES], amqp_cstr(key), NO_ARGS));
    }
    for (int k = 0; k < KEYS; k++) {
        snprintf(key, sizeof key, "key.%d", k);
        struct routed r = {.count = 0};
        struct message *m = message_with(key, NULL);
        route_message(x, m, &r);
        message_unref(m);
        size_t expect = (k % 2 ? 1u : 0u) + (k % 1000 == 0 ? 1u : 0u);
        EXPECT(r.count == expect);
    }
    vhost_unref(v);
}
END_TEST

START_TEST(test_message_copy)
{
    struct amqp_bytes h = strings_table("a", "1", NULL);
    struct message *m = message_with("rk", &h);
    ck_assert_uint_eq(m->refs, 1);
    ck_assert(amqp_bytes_eq_cstr(message_exchange(m), "x"));
    ck_assert(amqp_bytes_eq_cstr(message_routing_key(m), "rk"));
    ck_assert_uint_eq(m->body_size, 2);
    ck_assert_mem_eq(message_body(m), "hi", 2);
    /* decoded properties point into the message's own copy of the header */
    struct amqp_basic_properties props;
    message_properties(m, &props);
    struct amqp_bytes header = message_header(m);
    ck_assert(props.flags & AMQP_BASIC_HEADERS_FLAG);
    ck_assert(props.headers.ptr >= header.ptr &&
              props.headers.ptr + props.headers.len <= header.ptr + header.len);
    ck_assert(amqp_bytes_eq(props.headers, h));
    message_ref(m);
    message_unref(m);
    ck_assert_uint_eq(m->refs, 1);
    message_unref(m);
    release_pool();
}
END_TEST

START_TEST(test_generated_queue_names)
{
    struct vhost *v = vhost_new("/");
    char a[32], b[32];
    vhost_generate_queue_name(v, a);
    vhost_generate_queue_name(v, b);
    ck_assert_uint_eq(strlen(a), 30);
    ck_assert(strncmp(a, "amq.gen-", 8) == 0);
    ck_assert_str_ne(a, b);
    for (const char *p = a + 8; *p; p++)
        ck_assert_ptr_nonnull(
            strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
    vhost_unref(v);
}
END_TEST

START_TEST(test_delete_owned_queues)
{
    struct vhost *v = vhost_new("/");
    struct session conn1, conn2;
    test_session_open(&conn1, v, "one");
    test_session_open(&conn2, v, "two");
    struct queue *mine = add_owned_queue(v, "mine", &conn1);
    struct queue *theirs = add_owned_queue(v, "theirs", &conn2);
    add_queue(v, "shared");
    exchange_bind(find(v, "amq.fanout"), mine, AMQP_BYTES_LIT(""), NO_ARGS);
    vhost_delete_owned_queues(v, &conn1);
    ck_assert_ptr_null(vhost_find_queue(v, AMQP_BYTES_LIT("mine")));
    ck_assert_ptr_eq(vhost_find_queue(v, AMQP_BYTES_LIT("theirs")), theirs);
    ck_assert_ptr_nonnull(vhost_find_queue(v, AMQP_BYTES_LIT("shared")));
    ck_assert_uint_eq(find(v, "amq.fanout")->binding_count, 0);
    vhost_unref(v);
    test_session_close(&conn1);
    test_session_close(&conn2);
}
END_TEST

/* The 406 details below are RabbitMQ 3.10's own, captured from queue.bind on amq.headers. */
static bool headers_args_valid(struct amqp_bytes args)
{
    struct vhost *v = vhost_new("/");
    struct outcome out;
    bool valid = exchange_binding_args_valid(find(v, "amq.headers"), args, &out);
    vhost_unref(v);
    return valid;
}

static void expect_invalid(struct amqp_bytes args, const char *detail)
{
    struct vhost *v = vhost_new("/");
    struct outcome out;
    ck_assert(!exchange_binding_args_valid(find(v, "amq.headers"), args, &out));
    ck_assert_uint_eq(out.code, 406);
    ck_assert_str_eq(out.text, detail);
    vhost_unref(v);
}

/* A one-entry table {"x-match": <raw type letter + value>}. */
static struct amqp_bytes x_match_raw(const void *value, size_t len)
{
    struct amqp_buf *b = pool_buf();
    size_t mark = amqp_table_begin(b);
    amqp_table_put_key(b, "x-match");
    amqp_buf_put(b, value, len);
    amqp_table_end(b, mark);
    return amqp_bytes_of(b->data + mark + 4, b->len - mark - 4);
}

#define X_MATCH(lit) x_match_raw(lit, sizeof(lit) - 1)

START_TEST(test_headers_args_validation)
{
    ck_assert(headers_args_valid(NO_ARGS));
    ck_assert(headers_args_valid(strings_table("a", "b", NULL)));
    const char *ok[] = {"all", "any", "all-with-x", "any-with-x"};
    for (size_t i = 0; i < 4; i++)
        ck_assert(
            headers_args_valid(strings_table("x-match", ok[i], NULL)));
    /* only the first x-match counts */
    ck_assert(headers_args_valid(strings_table("x-match", "any", "x-match", "most", NULL)));

    const char *tail = "; expected all, any, all-with-x, or any-with-x";
    char expect[256];
    snprintf(expect, sizeof expect, "Invalid x-match field value <<\"most\">>%s", tail);
    expect_invalid(strings_table("x-match", "most", NULL), expect);
    snprintf(expect, sizeof expect, "Invalid x-match field value <<>>%s", tail);
    expect_invalid(strings_table("x-match", "", NULL), expect);
    snprintf(expect, sizeof expect, "Invalid x-match field value <<\"a\\\"b\\\\c\">>%s", tail);
    expect_invalid(strings_table("x-match", "a\"b\\c", NULL), expect);
    snprintf(expect, sizeof expect, "Invalid x-match field value <<\"a\\tb\\ec\\v\\b\\f\\r\">>%s",
             tail);
    expect_invalid(strings_table("x-match",
                                 "a\tb\x1b"
                                 "c\v\b\f\r",
                                 NULL),
                   expect);
    snprintf(expect, sizeof expect, "Invalid x-match field value <<1,2>>%s", tail);
    expect_invalid(X_MATCH("S\0\0\0\2\1\2"), expect);
    snprintf(expect, sizeof expect, "Invalid x-match field value <<196,129>>%s", tail);
    expect_invalid(strings_table("x-match", "\xc4\x81", NULL), expect);
    snprintf(expect, sizeof expect, "Invalid x-match field value <<\"\xe9\">>%s", tail);
    expect_invalid(strings_table("x-match", "\xe9", NULL), expect);

    expect_invalid(X_MATCH("I\0\0\0\5"),
                   "Invalid x-match field type signedint (value 5); expected longstr");
    expect_invalid(X_MATCH("I\xff\xff\xff\xfd"),
                   "Invalid x-match field type signedint (value -3); expected longstr");
    expect_invalid(X_MATCH("l\0\0\1\0\0\0\0\0"),
                   "Invalid x-match field type long (value 1099511627776); expected longstr");
    expect_invalid(X_MATCH("t\1"),
                   "Invalid x-match field type bool (value true); expected longstr");
    expect_invalid(X_MATCH("V"),
                   "Invalid x-match field type void (value undefined); expected longstr");
    expect_invalid(X_MATCH("b\xff"),
                   "Invalid x-match field type byte (value -1); expected longstr");
    expect_invalid(X_MATCH("B\xff"),
                   "Invalid x-match field type unsignedbyte (value 255); expected longstr");
    expect_invalid(X_MATCH("s\xff\xfe"),
                   "Invalid x-match field type short (value -2); expected longstr");
    expect_invalid(X_MATCH("u\xff\xfe"),
                   "Invalid x-match field type unsignedshort (value 65534); expected longstr");
    expect_invalid(X_MATCH("i\xff\xff\xff\xff"),
                   "Invalid x-match field type unsignedint (value 4294967295); expected longstr");
    expect_invalid(X_MATCH("T\0\0\0\0\0\0\x30\x39"),
                   "Invalid x-match field type timestamp (value 12345); expected longstr");
    expect_invalid(X_MATCH("D\2\0\0\1\x3a"),
                   "Invalid x-match field type decimal (value {2,314}); expected longstr");
    expect_invalid(X_MATCH("x\0\0\0\3abc"),
                   "Invalid x-match field type binary (value <<\"abc\">>); expected longstr");
    expect_invalid(X_MATCH("x\0\0\0\4\0abc"),
                   "Invalid x-match field type binary (value <<0,97,98,99>>); expected longstr");
    /* floats as Erlang prints them: shortest round trip, plain or scientific */
    expect_invalid(X_MATCH("f\x40\x20\0\0"),
                   "Invalid x-match field type float (value 2.5); expected longstr");
    expect_invalid(X_MATCH("f\x50\x15\x02\xf9"),
                   "Invalid x-match field type float (value 1.0e10); expected longstr");
    expect_invalid(X_MATCH("d\x3f\xf8\0\0\0\0\0\0"),
                   "Invalid x-match field type double (value 1.5); expected longstr");
    expect_invalid(X_MATCH("d\x3f\xf0\0\0\0\0\0\0"),
                   "Invalid x-match field type double (value 1.0); expected longstr");
    expect_invalid(X_MATCH("d\x44\x15\xaf\x1d\x78\xb5\x8c\x40"),
                   "Invalid x-match field type double (value 1.0e20); expected longstr");
    expect_invalid(X_MATCH("d\x3f\xb9\x99\x99\x99\x99\x99\x9a"),
                   "Invalid x-match field type double (value 0.1); expected longstr");
    expect_invalid(
        X_MATCH("d\x3f\xd5\x55\x55\x55\x55\x55\x55"),
        "Invalid x-match field type double (value 0.3333333333333333); expected longstr");
    expect_invalid(X_MATCH("d\x42\x3c\xbe\x99\x1a\x14\0\0"),
                   "Invalid x-match field type double (value 123456789012.0); expected longstr");
    expect_invalid(X_MATCH("d\x3e\x7a\xd7\xf2\x9a\xbc\xaf\x48"),
                   "Invalid x-match field type double (value 1.0e-7); expected longstr");
    expect_invalid(X_MATCH("d\x41\x67\x75\xdc\0\0\0\0"),
                   "Invalid x-match field type double (value 1.23e7); expected longstr");
    expect_invalid(X_MATCH("d\x80\0\0\0\0\0\0\0"),
                   "Invalid x-match field type double (value -0.0); expected longstr");
    /* tables and arrays as decoded terms, broken over lines as Erlang's ~p does */
    expect_invalid(X_MATCH("F\0\0\0\0"),
                   "Invalid x-match field type table (value []); expected longstr");
    expect_invalid(X_MATCH("A\0\0\0\0"),
                   "Invalid x-match field type array (value []); expected longstr");
    expect_invalid(X_MATCH("A\0\0\0\x0b"
                           "I\0\0\0\1"
                           "S\0\0\0\1x"),
                   "Invalid x-match field type array (value [{signedint,1},{longstr,<<\"x\">>}]); "
                   "expected longstr");
    expect_invalid(X_MATCH("F\0\0\0\x0f"
                           "\1aI\0\0\0\1"
                           "\1bS\0\0\0\1x"),
                   "Invalid x-match field type table (value [{<<\"a\">>,signedint,1},\n"
                   "                                         {<<\"b\">>,longstr,<<\"x\">>}]); "
                   "expected longstr");
    release_pool();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("exchange");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_standard_exchanges);
    tcase_add_test(tc, test_type_names);
    tcase_add_test(tc, test_default_exchange_routes_by_queue_name);
    tcase_add_test(tc, test_direct_routing_and_dedupe);
    tcase_add_test(tc, test_fanout_routing);
    tcase_add_test(tc, test_exchange_topic_routing);
    tcase_add_test(tc, test_headers_routing);
    tcase_add_test(tc, test_bind_idempotent_and_unbind);
    tcase_add_test(tc, test_auto_delete_exchange);
    tcase_add_test(tc, test_queue_deletion_removes_bindings);
    tcase_add_test(tc, test_delete_exchange_unlinks_queues);
    tcase_add_test(tc, test_many_direct_bindings);
    tcase_add_test(tc, test_message_copy);
    tcase_add_test(tc, test_generated_queue_names);
    tcase_add_test(tc, test_delete_owned_queues);
    tcase_add_test(tc, test_headers_args_validation);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
