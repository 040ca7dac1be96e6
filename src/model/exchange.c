/* Exchanges: bindings indexed per type (direct key map, topic trie), routing with dedupe, and
 * declare arguments. */
#include "model/exchange.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp_erlang.h"
#include "amqp_table.h"
#include "core/alloc.h"
#include "amqp_spec.h"
#include "model/exchange_delayed.h"
#include "model/exchange_headers.h"
#include "model/queue.h"

static const char *const type_names[] = {
    [EXCHANGE_DIRECT] = "direct",
    [EXCHANGE_FANOUT] = "fanout",
    [EXCHANGE_TOPIC] = "topic",
    [EXCHANGE_HEADERS] = "headers",
    [EXCHANGE_DELAYED_MESSAGE] = "x-delayed-message",
};

bool exchange_type_parse(struct amqp_bytes name, enum exchange_type *out)
{
    for (size_t i = 0; i < sizeof type_names / sizeof *type_names; i++) {
        if (amqp_bytes_eq_cstr(name, type_names[i])) {
            *out = (enum exchange_type)i;
            return true;
        }
    }
    return false;
}

const char *exchange_type_name(enum exchange_type type)
{
    return type_names[type];
}

const char *exchange_type_term(enum exchange_type type)
{
    return type == EXCHANGE_DELAYED_MESSAGE ? "'x-delayed-message'" : type_names[type];
}

/* The plugin's check of x-delayed-type: a string naming another exchange type. RabbitMQ says
 * "invalid" for a name that happens to be an Erlang atom; "unknown" is the only text we give. */
static bool delayed_type_parse(struct amqp_bytes table, enum exchange_type *out,
                               struct outcome *outcome)
{
    struct amqp_field f;
    if (!amqp_table_get(table, "x-delayed-type", &f) || (f.type != 'S' && f.type != 'x'))
        return outcome_fail(outcome, AMQP_PRECONDITION_FAILED,
                            "Invalid argument, 'x-delayed-type' must be an existing exchange type");
    if (amqp_bytes_eq_cstr(f.v.bytes, "x-delayed-message"))
        return outcome_fail(outcome, AMQP_PRECONDITION_FAILED,
                            "Invalid argument, 'x-delayed-message' can't be used for "
                            "'x-delayed-type'");
    if (!exchange_type_parse(f.v.bytes, out))
        return outcome_fail_connection(outcome, AMQP_COMMAND_INVALID,
                                       "unknown exchange type '" NAME_FMT "'", NAME_ARG(f.v.bytes));
    return true;
}

bool exchange_args_parse(enum exchange_type type, struct amqp_bytes table,
                         const struct arguments_owner *owner, struct exchange_args *out,
                         struct outcome *outcome)
{
    struct amqp_field f;
    *out = (struct exchange_args){.routes_as = type};
    /* x-delayed-type means nothing to other types: ignored. */
    if (amqp_table_get(table, "alternate-exchange", &f)) {
        if (f.type != 'S')
            return outcome_fail(outcome, AMQP_PRECONDITION_FAILED,
                                "invalid type '%s' for arg 'alternate-exchange' in %s '" NAME_FMT
                                "' in vhost '%s'", amqp_field_type_name(f.type), owner->kind,
                                NAME_ARG(owner->name), owner->vhost);
        out->has_alternate_exchange = true;
        out->alternate_exchange = f.v.bytes;
    }
    if (type == EXCHANGE_DELAYED_MESSAGE && !delayed_type_parse(table, &out->routes_as, outcome))
        return false;
    return outcome_done(outcome);
}

struct exchange *exchange_new(struct amqp_bytes name, enum exchange_type type, bool durable,
                              bool auto_delete, bool internal, struct amqp_bytes arguments)
{
    struct exchange *x = xcalloc(1, sizeof *x);
    x->name = amqp_bytes_dup(name);
    x->type = type;
    x->durable = durable;
    x->auto_delete = auto_delete;
    x->internal = internal;
    x->arguments = amqp_bytes_dup(arguments);
    struct outcome ignored;
    exchange_args_parse(type, x->arguments, &(struct arguments_owner){"exchange", name, ""},
                        &x->args, &ignored);
    x->own_alternate_exchange = x->args.has_alternate_exchange;
    list_init(&x->bindings);
    list_init(&x->incoming);
    map_init(&x->direct);
    map_init(&x->identities);
    if (x->args.routes_as == EXCHANGE_TOPIC)
        exchange_topic_init(&x->topic);
    if (type == EXCHANGE_DELAYED_MESSAGE)
        x->delayed = exchange_delayed_new(x);
    return x;
}

/* The identity map's key: the queue's address, the key's length, the key, the arguments. */
struct identity {
    uint8_t stack[512];
    uint8_t *bytes;
    size_t len;
};

static void identity_make(struct identity *id, const struct queue *q, struct amqp_bytes key,
                          struct amqp_bytes args)
{
    uint32_t key_len = (uint32_t)key.len;
    id->len = sizeof q + sizeof key_len + key.len + args.len;
    id->bytes = id->len <= sizeof id->stack ? id->stack : xmalloc(id->len);
    uint8_t *p = id->bytes;
    memcpy(p, &q, sizeof q);
    p += sizeof q;
    memcpy(p, &key_len, sizeof key_len);
    p += sizeof key_len;
    if (key.len)
        memcpy(p, key.ptr, key.len);
    p += key.len;
    if (args.len)
        memcpy(p, args.ptr, args.len);
}

static void identity_done(struct identity *id)
{
    if (id->bytes != id->stack)
        free(id->bytes);
}

static void index_direct(struct exchange *x, struct binding *b)
{
    struct binding *first = map_get(&x->direct, b->routing_key.ptr, b->routing_key.len);
    b->next_same_key = first;
    map_put(&x->direct, b->routing_key.ptr, b->routing_key.len, b);
}

static void unindex_direct(struct exchange *x, struct binding *b)
{
    struct binding *first = map_get(&x->direct, b->routing_key.ptr, b->routing_key.len);
    if (first == b) {
        if (b->next_same_key)
            map_put(&x->direct, b->routing_key.ptr, b->routing_key.len, b->next_same_key);
        else
            map_remove(&x->direct, b->routing_key.ptr, b->routing_key.len);
        return;
    }
    for (struct binding *prev = first; prev; prev = prev->next_same_key) {
        if (prev->next_same_key == b) {
            prev->next_same_key = b->next_same_key;
            return;
        }
    }
}

/* Binds to a queue (q) or an exchange (to); returns the binding, new or existing. */
static struct binding *bind(struct exchange *x, struct queue *q, struct exchange *to,
                            struct amqp_bytes routing_key, struct amqp_bytes arguments)
{
    struct identity id;
    identity_make(&id, q ? (const void *)q : to, routing_key, arguments);
    struct binding *b = map_get(&x->identities, id.bytes, id.len);
    if (b) {
        identity_done(&id);
        return b;
    }
    /* one block: the binding, then its key, then its arguments */
    b = xmalloc(sizeof *b + routing_key.len + arguments.len);
    uint8_t *key = (uint8_t *)(b + 1);
    uint8_t *args = key + routing_key.len;
    if (routing_key.len)
        memcpy(key, routing_key.ptr, routing_key.len);
    if (arguments.len)
        memcpy(args, arguments.ptr, arguments.len);
    *b = (struct binding){
        .exchange = x,
        .queue = q,
        .to_exchange = to,
        .routing_key = {key, routing_key.len},
        .arguments = {args, arguments.len},
    };
    map_put(&x->identities, id.bytes, id.len, b);
    identity_done(&id);
    list_push_back(&x->bindings, &b->exchange_link);
    list_push_back(q ? &q->bindings : &to->incoming, &b->destination_link);
    x->binding_count++;
    if (x->args.routes_as == EXCHANGE_DIRECT)
        index_direct(x, b);
    else if (x->args.routes_as == EXCHANGE_TOPIC)
        exchange_topic_bind(&x->topic, (const char *)key, routing_key.len, b);
    return b;
}

struct binding *exchange_bind(struct exchange *x, struct queue *q, struct amqp_bytes routing_key,
                              struct amqp_bytes arguments)
{
    return bind(x, q, NULL, routing_key, arguments);
}

struct binding *exchange_bind_exchange(struct exchange *x, struct exchange *to,
                                       struct amqp_bytes routing_key, struct amqp_bytes arguments)
{
    return bind(x, NULL, to, routing_key, arguments);
}

static const void *destination_of(const struct binding *b)
{
    return b->queue ? (const void *)b->queue : b->to_exchange;
}

/* Takes the binding out of every index and list and frees it; the exchange stays. */
static void unlink_binding(struct binding *b)
{
    struct exchange *x = b->exchange;
    struct identity id;
    identity_make(&id, destination_of(b), b->routing_key, b->arguments);
    map_remove(&x->identities, id.bytes, id.len);
    identity_done(&id);
    if (x->args.routes_as == EXCHANGE_DIRECT)
        unindex_direct(x, b);
    else if (x->args.routes_as == EXCHANGE_TOPIC)
        exchange_topic_unbind(&x->topic, (const char *)b->routing_key.ptr, b->routing_key.len, b);
    list_remove(&b->exchange_link);
    list_remove(&b->destination_link);
    x->binding_count--;
    free(b);
}

void exchange_remove_binding(struct binding *b)
{
    unlink_binding(b);
}

/* Removes the binding to the queue q or the exchange to; false if there was none. */
static bool unbind(struct exchange *x, const void *destination, struct amqp_bytes routing_key,
                   struct amqp_bytes arguments)
{
    struct identity id;
    identity_make(&id, destination, routing_key, arguments);
    struct binding *b = map_get(&x->identities, id.bytes, id.len);
    identity_done(&id);
    if (!b)
        return false;
    exchange_remove_binding(b);
    return true;
}

bool exchange_unbind(struct exchange *x, struct queue *q, struct amqp_bytes routing_key,
                     struct amqp_bytes arguments)
{
    return unbind(x, q, routing_key, arguments);
}

bool exchange_unbind_exchange(struct exchange *x, struct exchange *to, struct amqp_bytes routing_key,
                              struct amqp_bytes arguments)
{
    return unbind(x, to, routing_key, arguments);
}

void exchange_free(struct exchange *x)
{
    if (!x)
        return;
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &x->bindings)
        unlink_binding(list_entry(pos, struct binding, exchange_link));
    list_for_each_safe(pos, tmp, &x->incoming)
        unlink_binding(list_entry(pos, struct binding, destination_link));
    map_free(&x->direct);
    map_free(&x->identities);
    if (x->args.routes_as == EXCHANGE_TOPIC)
        exchange_topic_free(&x->topic);
    exchange_delayed_free(x->delayed);
    amqp_bytes_free(x->name);
    amqp_bytes_free(x->arguments);
    free(x->policy_alternate_exchange);
    free(x);
}

void exchange_apply_alternate(struct exchange *x, const char *alternate_exchange)
{
    if (x->own_alternate_exchange)
        return;
    free(x->policy_alternate_exchange);
    x->policy_alternate_exchange = alternate_exchange ? xstrdup(alternate_exchange) : NULL;
    x->args.has_alternate_exchange = alternate_exchange != NULL;
    x->args.alternate_exchange = amqp_cstr(alternate_exchange ? x->policy_alternate_exchange : "");
}

struct route {
    uint64_t stamp;
    const struct exchange_route_visitor *visitor;
    bool matched;
};

/* A binding matched: its destination gets the message, once per message. */
static void visit(struct route *r, const struct binding *b)
{
    r->matched = true;
    if (b->queue) {
        if (b->queue->route_stamp == r->stamp)
            return;
        b->queue->route_stamp = r->stamp;
        r->visitor->queue(b->queue, r->visitor->ctx);
    } else {
        if (b->to_exchange->route_stamp == r->stamp)
            return;
        b->to_exchange->route_stamp = r->stamp;
        r->visitor->exchange(b->to_exchange, r->visitor->ctx);
    }
}

static bool visited(const struct route *r, const struct binding *b)
{
    return (b->queue ? b->queue->route_stamp : b->to_exchange->route_stamp) == r->stamp;
}

static void visit_topic_binding(void *binding, void *ctx)
{
    visit(ctx, binding);
}

/* The default exchange has no bindings: its vhost routes by queue name. */
static void route_direct(struct exchange *x, struct amqp_bytes key, struct route *r)
{
    for (struct binding *b = map_get(&x->direct, key.ptr, key.len); b; b = b->next_same_key)
        visit(r, b);
}

static void route_all(struct exchange *x, struct route *r)
{
    for (struct list *pos = x->bindings.next; pos != &x->bindings; pos = pos->next)
        visit(r, list_entry(pos, struct binding, exchange_link));
}

static void route_headers(struct exchange *x, const struct message *m, struct route *r)
{
    /* a message without the headers property matches as an empty table, as in RabbitMQ */
    struct amqp_bytes headers = {NULL, 0};
    struct amqp_basic_properties props;
    message_properties(m, &props);
    if (props.flags & AMQP_BASIC_HEADERS_FLAG)
        headers = props.headers;
    for (struct list *pos = x->bindings.next; pos != &x->bindings; pos = pos->next) {
        struct binding *b = list_entry(pos, struct binding, exchange_link);
        /* a destination already reached needs no match, once the exchange has matched */
        if ((!r->matched || !visited(r, b)) && exchange_headers_match(b->arguments, headers))
            visit(r, b);
    }
}

bool exchange_route(struct exchange *x, const struct message *m, const struct amqp_bytes *keys,
                    size_t nkeys, uint64_t stamp, const struct exchange_route_visitor *visitor)
{
    struct route r = {stamp, visitor, false};
    switch (x->args.routes_as) {
    case EXCHANGE_DIRECT:
        for (size_t i = 0; i < nkeys; i++)
            route_direct(x, keys[i], &r);
        break;
    case EXCHANGE_FANOUT:
        route_all(x, &r);
        break;
    case EXCHANGE_TOPIC:
        for (size_t i = 0; i < nkeys; i++)
            exchange_topic_match(&x->topic, (const char *)keys[i].ptr, keys[i].len,
                                 visit_topic_binding, &r);
        break;
    case EXCHANGE_HEADERS:
        route_headers(x, m, &r);
        break;
    case EXCHANGE_DELAYED_MESSAGE: /* never: routes_as is the x-delayed-type */
        break;
    }
    return r.matched;
}

/* RabbitMQ refuses a headers binding whose x-match it cannot use. */
static bool x_match_valid(struct amqp_bytes args, struct outcome *out)
{
    struct amqp_field f;
    if (!amqp_table_get(args, "x-match", &f))
        return outcome_done(out);
    if (f.type == 'S' && (amqp_bytes_eq_cstr(f.v.bytes, "all") ||
                          amqp_bytes_eq_cstr(f.v.bytes, "any") ||
                          amqp_bytes_eq_cstr(f.v.bytes, "all-with-x") ||
                          amqp_bytes_eq_cstr(f.v.bytes, "any-with-x")))
        return outcome_done(out);
    char prefix[64], value[512];
    if (f.type == 'S')
        snprintf(prefix, sizeof prefix, "Invalid x-match field value ");
    else
        snprintf(prefix, sizeof prefix, "Invalid x-match field type %s (value ",
                 amqp_field_type_name(f.type));
    amqp_format_field_pretty(value, sizeof value, &f, strlen(prefix));
    return outcome_fail(out, AMQP_PRECONDITION_FAILED, "%s%s%s", prefix, value,
                        f.type == 'S' ? "; expected all, any, all-with-x, or any-with-x"
                                      : "); expected longstr");
}

bool exchange_binding_args_valid(const struct exchange *x, struct amqp_bytes arguments,
                                 struct outcome *out)
{
    if (x->args.routes_as != EXCHANGE_HEADERS)
        return outcome_done(out);
    return x_match_valid(arguments, out);
}
