/* An exchange and its bindings: bind/unbind, routing by type, and its declare arguments. */
#ifndef EXCHANGE_H
#define EXCHANGE_H

#include <stdbool.h>
#include <stdint.h>

#include "amqp_types.h"
#include "core/list.h"
#include "core/map.h"
#include "model/arguments.h"
#include "model/exchange_topic.h"
#include "model/message.h"
#include "model/outcome.h"

struct queue;
struct exchange_delayed;
struct policy;

/* x-delayed-message is the delayed-message plugin's type: it holds messages with an x-delay,
 * and routes as its x-delayed-type argument says. */
enum exchange_type {
    EXCHANGE_DIRECT,
    EXCHANGE_FANOUT,
    EXCHANGE_TOPIC,
    EXCHANGE_HEADERS,
    EXCHANGE_DELAYED_MESSAGE,
};

/* Parses "direct", "fanout", "topic", "headers" or "x-delayed-message"; false for anything
 * else. */
bool exchange_type_parse(struct amqp_bytes name, enum exchange_type *out);
const char *exchange_type_name(enum exchange_type type);
/* The type as RabbitMQ's equivalence texts show it: an Erlang atom, quoted when it has a '-'. */
const char *exchange_type_term(enum exchange_type type);

/* The declare arguments RabbitMQ gives meaning to; slices point into the exchange's table. */
struct exchange_args {
    bool has_alternate_exchange;
    struct amqp_bytes alternate_exchange;
    enum exchange_type routes_as; /* the type itself, or x-delayed-message's x-delayed-type */
};

/* Checks a new exchange's arguments (a checked body) for its type: false with RabbitMQ's
 * outcome (406, or 503 for an unknown x-delayed-type). */
bool exchange_args_parse(enum exchange_type type, struct amqp_bytes table,
                         const struct arguments_owner *owner, struct exchange_args *out,
                         struct outcome *outcome);

/* From a source exchange to a queue or to another exchange (RabbitMQ's extension). */
struct binding {
    struct list exchange_link;    /* in the source's exchange.bindings */
    struct list destination_link; /* in queue.bindings, or the destination's exchange.incoming */
    struct exchange *exchange;    /* the source */
    struct queue *queue;          /* the destination: a queue, */
    struct exchange *to_exchange; /* or else an exchange */
    struct amqp_bytes routing_key; /* owned copy */
    struct amqp_bytes arguments;   /* owned copy of the raw table body */
    struct binding *next_same_key; /* direct index chain */
};

struct exchange {
    struct amqp_bytes name; /* owned copy */
    enum exchange_type type;
    bool durable;
    bool auto_delete;
    bool internal;
    struct amqp_bytes arguments; /* owned copy of the raw table body, for equivalence */
    struct exchange_args args;   /* the same, parsed; args.routes_as indexes the bindings */
    bool own_alternate_exchange; /* x-alternate-exchange given: a policy's does not apply */
    const struct policy *policy; /* applying to it now, or NULL (the vhost's) */
    char *policy_alternate_exchange; /* owned copy of the policy's, when that applies */
    struct exchange_delayed *delayed; /* x-delayed-message: its held messages; else NULL */
    struct list bindings;     /* as source */
    uint32_t binding_count;
    struct list incoming;     /* bindings whose destination this exchange is */
    uint64_t route_stamp;     /* routing: each exchange routes a message once */
    struct map direct;        /* routing key -> first binding (direct exchanges) */
    struct map identities;    /* (queue, key, arguments) -> binding: dedupe and unbind */
    struct topic_index topic; /* topic exchanges */
};

/* arguments must have passed exchange_args_parse. */
struct exchange *exchange_new(struct amqp_bytes name, enum exchange_type type, bool durable,
                              bool auto_delete, bool internal, struct amqp_bytes arguments);
/* A policy's alternate exchange (NULL: none) applies unless the exchange names its own. */
void exchange_apply_alternate(struct exchange *x, const char *alternate_exchange);
/* Unbinds everything, drops any held messages and frees. */
void exchange_free(struct exchange *x);

/* A binding's arguments acceptable to this exchange's type (headers: a usable x-match)? */
bool exchange_binding_args_valid(const struct exchange *x, struct amqp_bytes arguments,
                                 struct outcome *out);
/* Adds a binding unless the same (destination, key, arguments) exists; returns it either way. */
struct binding *exchange_bind(struct exchange *x, struct queue *q, struct amqp_bytes routing_key,
                              struct amqp_bytes arguments);
struct binding *exchange_bind_exchange(struct exchange *x, struct exchange *to,
                                       struct amqp_bytes routing_key, struct amqp_bytes arguments);
/* Removes the matching binding; false if there was none (which is not an error in AMQP). */
bool exchange_unbind(struct exchange *x, struct queue *q, struct amqp_bytes routing_key,
                     struct amqp_bytes arguments);
bool exchange_unbind_exchange(struct exchange *x, struct exchange *to, struct amqp_bytes routing_key,
                              struct amqp_bytes arguments);
/* Removes one binding (deletions walk queue.bindings and exchange.incoming with this). */
void exchange_remove_binding(struct binding *b);
/* An auto-delete exchange whose last binding went: its owner, the vhost, deletes it. RabbitMQ
 * deletes one when its last binding goes, never before. */
static inline bool exchange_unused(const struct exchange *x)
{
    return x->auto_delete && x->binding_count == 0;
}

/* Where a routed message goes: each queue and exchange it reaches, once per message. */
struct exchange_route_visitor {
    void (*queue)(struct queue *q, void *ctx);
    void (*exchange)(struct exchange *x, void *ctx); /* which the caller routes through next */
    void *ctx;
};

/* Routes by the message's routing keys (its key, then CC and BCC's): every destination
 * reached gets route_stamp = stamp, which must be new for each message, and is visited once.
 * Returns whether any binding matched (RabbitMQ's condition for the alternate exchange),
 * even one whose destination was already reached. */
bool exchange_route(struct exchange *x, const struct message *m, const struct amqp_bytes *keys,
                    size_t nkeys, uint64_t stamp, const struct exchange_route_visitor *visitor);

#endif
