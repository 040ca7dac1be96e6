/* The model's view of durable message storage: what queues tell it, how a publisher waits for the disk, and where bodies paged out of memory go. */
#ifndef MESSAGE_STORE_H
#define MESSAGE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/list.h"

struct amqp_bytes;
struct exchange;
struct message;
struct queue;
struct message_store;

/* Someone waiting for stored messages to reach the disk (a channel's confirms, a tx.commit). */
struct store_waiter {
    struct list link; /* in the store's waiters while waiting */
    /* Everything handed over with a ticket up to `through` is synced (ok) or could not be
     * stored (!ok). Called on the loop; the waiter may stop waiting (store_waiter_cancel). */
    void (*settled)(struct store_waiter *w, uint64_t through, bool ok);
};

/* What the model calls; src/store implements it (the model includes no store header). */
struct message_store_ops {
    /* A durable queue took a persistent message (m->stored says it is kept from then on). */
    void (*enqueued)(struct message_store *s, struct queue *q, struct message *m);
    /* It left that queue for good: acked, rejected, expired, dropped, purged, dead-lettered. */
    void (*dequeued)(struct message_store *s, struct queue *q, struct message *m);
    /* A durable queue was deleted: every reference it held dies. */
    void (*queue_deleted)(struct message_store *s, struct queue *q);
    /* A durable x-delayed-message exchange of vhost `vhost` holds a persistent message for
     * delay_ms, to be routed by keys then (m->stored says it is kept from then on). */
    void (*held)(struct message_store *s, const char *vhost, struct exchange *x,
                 struct message *m, uint64_t delay_ms, const struct amqp_bytes *keys,
                 size_t nkeys);
    /* It left that exchange: routed when due, or dropped with the exchange. */
    void (*released)(struct message_store *s, struct exchange *x, struct message *m);
    /* That exchange was deleted (after its messages were released): its number dies. */
    void (*exchange_deleted)(struct message_store *s, struct exchange *x);
    /* A queue would rather not keep m's body (MESSAGE_APART, message_apart(m)->page_asked now
     * set) in memory: once the store has it on disk, and if every reference is still a ready
     * entry then, the body is paged out (message_page_out) and page_asked cleared. */
    void (*page_out)(struct message_store *s, struct message *m);
    /* A paged-out body is needed (a delivery, a dead letter): read back into m; false when it
     * cannot be (an I/O error or a damaged record, logged): the message is lost. */
    bool (*page_in)(struct message_store *s, struct message *m);
    /* The last reference to a paged-out message goes: its body's record is forgotten. */
    void (*page_dropped)(struct message_store *s, struct message *m);
    /* The ticket that what was enqueued so far will be synced under. */
    uint64_t (*ticket)(struct message_store *s);
    /* w is told when tickets are settled, until it stops waiting. */
    void (*wait)(struct message_store *s, struct store_waiter *w);
};

struct message_store {
    const struct message_store_ops *ops;
};

static inline void store_waiter_cancel(struct store_waiter *w)
{
    list_remove(&w->link);
    list_init(&w->link);
}

static inline bool store_waiter_waiting(const struct store_waiter *w)
{
    return !list_empty(&w->link);
}

#endif
