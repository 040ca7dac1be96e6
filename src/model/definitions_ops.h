/* How the model reports changes of durable definitions to whatever keeps them (the store's journal), without knowing it. */
#ifndef DEFINITIONS_OPS_H
#define DEFINITIONS_OPS_H

#include <stdbool.h>

#include "amqp_types.h"

struct exchange;
struct queue;
struct vhost;

/* A binding between two durable ends, by name (the binding itself may be gone already). */
struct definitions_binding {
    struct amqp_bytes source, destination, routing_key, arguments;
    bool to_exchange; /* the destination is an exchange (exchange.bind), else a queue */
};

/* Called only for durable exchanges and queues and for bindings whose both ends are durable;
 * never while a vhost is being emptied (deleting it, or the broker stopping), whose record
 * says it all. */
struct definitions_ops {
    void (*exchange_declared)(void *ctx, const struct vhost *v, const struct exchange *x);
    void (*exchange_deleted)(void *ctx, const struct vhost *v, const struct exchange *x);
    void (*queue_declared)(void *ctx, const struct vhost *v, const struct queue *q);
    void (*queue_deleted)(void *ctx, const struct vhost *v, const struct queue *q);
    void (*bound)(void *ctx, const struct vhost *v, const struct definitions_binding *b);
    void (*unbound)(void *ctx, const struct vhost *v, const struct definitions_binding *b);
    /* Users, vhosts, permissions, limits or policies changed; `now`: record the change before
     * anything else happens (a vhost deleted), rather than once the batch ends. */
    void (*settings_changed)(void *ctx, bool now);
    /* Changes between begin and end may be recorded together; end returns once they are on
     * disk. Batches nest. */
    void (*batch_begin)(void *ctx);
    void (*batch_end)(void *ctx);
};

/* The broker's: every vhost points at it. ops NULL: nothing is recorded (boot replay, stop). */
struct definitions_hook {
    const struct definitions_ops *ops;
    void *ctx;
};

#endif
