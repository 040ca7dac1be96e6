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

enum exchange_type { EXCHANGE_DIRECT, EXCHANGE_FANOUT, EXCHANGE_TOPIC, EXCHANGE_HEADERS };

/* Parses "direct", "fanout", "topic" or "headers"; false for anything else. */
bool exchange_type_parse(struct amqp_bytes name, enum exchange_type *out);
const char *exchange_type_name(enum exchange_type type);

/* The declare arguments RabbitMQ gives meaning to; slices point into the exchange's table. */
struct exchange_args {
    bool has_alternate_exchange;
    struct amqp_bytes alternate_exchange;
};

/* Checks a new exchange's arguments (a checked body): false with RabbitMQ's 406 outcome. */
bool exchange_args_parse(struct amqp_bytes table, const struct arguments_owner *owner,
                         struct exchange_args *out, struct outcome *outcome);

struct binding {
    struct list exchange_link; /* in exchange.bindings */
    struct list queue_link;    /* in queue.bindings */
    struct exchange *exchange;
    struct queue *queue;
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
    struct exchange_args args;   /* the same, parsed */
    struct list bindings;
    uint32_t binding_count;
    struct map direct;        /* routing key -> first binding (direct exchanges) */
    struct map identities;    /* (queue, key, arguments) -> binding: dedupe and unbind */
    struct topic_index topic; /* topic exchanges */
};

/* arguments must have passed exchange_args_parse. */
struct exchange *exchange_new(struct amqp_bytes name, enum exchange_type type, bool durable,
                              bool auto_delete, bool internal, struct amqp_bytes arguments);
/* Unbinds everything and frees. */
void exchange_free(struct exchange *x);

/* A binding's arguments acceptable to this exchange's type (headers: a usable x-match)? */
bool exchange_binding_args_valid(const struct exchange *x, struct amqp_bytes arguments,
                                 struct outcome *out);
/* Adds a binding unless the same (queue, key, arguments) exists; returns it either way. */
struct binding *exchange_bind(struct exchange *x, struct queue *q, struct amqp_bytes routing_key,
                              struct amqp_bytes arguments);
/* Removes the matching binding; false if there was none (which is not an error in AMQP). */
bool exchange_unbind(struct exchange *x, struct queue *q, struct amqp_bytes routing_key,
                     struct amqp_bytes arguments);
/* Removes one binding (queue deletion walks queue.bindings with this). */
void exchange_remove_binding(struct binding *b);
/* An auto-delete exchange whose last binding went: its owner, the vhost, deletes it. RabbitMQ
 * deletes one when its last binding goes, never before. */
static inline bool exchange_unused(const struct exchange *x)
{
    return x->auto_delete && x->binding_count == 0;
}

/* Calls visit once per queue bound to the message (a queue bound twice still gets it once):
 * every queue visited gets route_stamp = stamp, which must be new for each message routed. */
void exchange_route(struct exchange *x, const struct message *m, uint64_t stamp,
                    void (*visit)(struct queue *q, void *ctx), void *ctx);

#endif
