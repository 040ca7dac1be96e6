/* How the model reports changes of durable definitions to whatever keeps them (the store's journal), without knowing it. */
#ifndef DEFINITIONS_OPS_H
#define DEFINITIONS_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "amqp_types.h"
#include "core/list.h"

struct exchange;
struct queue;
struct vhost;

/* A binding between two durable ends, by name (the binding itself may be gone already). */
struct definitions_binding {
    struct amqp_bytes source, destination, routing_key, arguments;
    bool to_exchange; /* the destination is an exchange (exchange.bind), else a queue */
};

/* Someone whose reply waits for recorded definitions to reach the disk (a channel's
 * declare-ok, an API request's 201). */
struct definitions_waiter {
    struct list link; /* in the store's waiters while waiting */
    uint64_t ticket;  /* what it waits for: a value of ops->ticket */
    /* On the loop, once: error 0 when everything through ticket is on disk, else -errno (it
     * could not be written or synced). The waiter is no longer waiting by then. */
    void (*settled)(struct definitions_waiter *w, int error);
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
    /* Changes between begin and end are recorded together. Batches nest. */
    void (*batch_begin)(void *ctx);
    void (*batch_end)(void *ctx);
    /* The ticket under which what was recorded so far will be on disk: it grows by one per
     * record, so a caller that compares it before and after an operation knows whether the
     * operation recorded anything. */
    uint64_t (*ticket)(void *ctx);
    /* w waits for w->ticket; false when that is on disk already (w is then not kept). */
    bool (*wait)(void *ctx, struct definitions_waiter *w);
};

/* The broker's: every vhost points at it. ops NULL: nothing is recorded (boot replay, stop). */
struct definitions_hook {
    const struct definitions_ops *ops;
    void *ctx;
};

static inline uint64_t definitions_ticket(const struct definitions_hook *h)
{
    return h && h->ops ? h->ops->ticket(h->ctx) : 0;
}

/* Makes w wait for what was recorded after `before` (a ticket taken earlier): false when
 * nothing was, or it is on disk already. */
static inline bool definitions_wait(const struct definitions_hook *h, uint64_t before,
                                    struct definitions_waiter *w)
{
    if (!h || !h->ops)
        return false;
    w->ticket = h->ops->ticket(h->ctx);
    return w->ticket != before && h->ops->wait(h->ctx, w);
}

static inline bool definitions_waiting(const struct definitions_waiter *w)
{
    return !list_empty(&w->link);
}

/* The waiter no longer wants to hear (its connection went). */
static inline void definitions_waiter_cancel(struct definitions_waiter *w)
{
    list_remove(&w->link);
    list_init(&w->link);
}

#endif
