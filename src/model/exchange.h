/* An exchange and its bindings: declare/equivalence, bind/unbind, and routing by type. */
#ifndef EXCHANGE_H
#define EXCHANGE_H

#include <stdbool.h>
#include <stdint.h>

#include "amqp_types.h"
#include "core/list.h"
#include "core/map.h"
#include "model/message.h"
#include "model/exchange_topic.h"

struct queue;
struct vhost;

enum exchange_type { EXCHANGE_DIRECT, EXCHANGE_FANOUT, EXCHANGE_TOPIC, EXCHANGE_HEADERS };

/* Parses "direct", "fanout", "topic" or "headers"; false for anything else. */
bool exchange_type_parse(struct amqp_bytes name, enum exchange_type *out);
const char *exchange_type_name(enum exchange_type type);

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
    struct vhost *vhost;
    struct amqp_bytes name; /* owned copy */
    enum exchange_type type;
    bool durable;
    bool auto_delete;
    bool internal;
    struct amqp_bytes arguments;
    struct list bindings;
    uint32_t binding_count;
    struct map direct;        /* routing key -> first binding (direct exchanges) */
    struct map identities;    /* (queue, key, arguments) -> binding: dedupe and unbind */
    struct topic_index topic; /* topic exchanges */
};

struct exchange *exchange_new(struct vhost *vhost, struct amqp_bytes name, enum exchange_type type,
                              bool durable, bool auto_delete, bool internal,
                              struct amqp_bytes arguments);
/* Unbinds everything and frees. */
void exchange_free(struct exchange *x);

/* Adds a binding unless the same (queue, key, arguments) exists; returns it either way. */
struct binding *exchange_bind(struct exchange *x, struct queue *q, struct amqp_bytes routing_key,
                              struct amqp_bytes arguments);
/* Removes the matching binding; false if there was none (which is not an error in AMQP).
 * An auto-delete exchange left without bindings is deleted from its vhost and freed here:
 * after true, do not use x again without looking it up. */
bool exchange_unbind(struct exchange *x, struct queue *q, struct amqp_bytes routing_key,
                     struct amqp_bytes arguments);
/* Removes one binding (queue deletion walks queue.bindings with this); deletes an auto-delete
 * exchange left without bindings, as exchange_unbind does. */
void exchange_remove_binding(struct binding *b);

/* Calls visit once per queue the message routes to (a queue bound twice still gets it once).
 * The default exchange ("") routes to the vhost's queue named by the routing key, without
 * bindings. visit must not route another message (the per-queue stamp is in use). */
void exchange_route(struct exchange *x, const struct message *m,
                    void (*visit)(struct queue *q, void *ctx), void *ctx);

/* Does a headers binding's arguments table (a checked body) carry a usable x-match? If not,
 * writes RabbitMQ's 406 detail, e.g. "Invalid x-match field value <<\"most\">>; expected all,
 * any, all-with-x, or any-with-x", into why (NUL-terminated, truncated to len). */
bool exchange_headers_args_valid(struct amqp_bytes args, char *why, size_t len);

#endif
