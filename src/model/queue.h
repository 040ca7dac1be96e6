/* A queue: messages in order, consumers served round-robin within their credit, requeue to the
 * original position, and the delete/purge/auto-delete/exclusive rules. */
#ifndef QUEUE_H
#define QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "amqp_types.h"
#include "core/list.h"
#include "model/message.h"

struct queue;
struct consumer;

/* One message in a queue, or out with a consumer awaiting its ack. */
struct queue_entry {
    struct message *msg;      /* a reference owned by whoever holds the entry */
    uint64_t seq : 63;        /* position in the queue: a requeued entry goes back where it was */
    uint64_t redelivered : 1; /* 16 bytes an entry: a backlog of millions stays small */
};

/* What a queue needs from a consumer; the channel implements it (the model knows no frames). */
struct consumer_ops {
    /* May this consumer take one more message now (prefetch windows)? */
    bool (*has_credit)(struct consumer *c);
    /* Hands over the entry (and its message reference) for delivery. */
    void (*deliver)(struct consumer *c, struct queue *q, struct queue_entry entry);
    /* The queue is going away (deleted): the consumer must forget it. */
    void (*queue_deleted)(struct consumer *c, struct queue *q);
};

struct consumer {
    struct list link; /* in queue.consumers, rotated for round-robin */
    struct queue *queue;
    const struct consumer_ops *ops;
    bool exclusive;
};

struct queue {
    struct vhost *vhost;
    struct amqp_bytes name; /* owned copy */
    bool durable;
    bool exclusive;
    bool auto_delete;
    const void *owner;        /* the exclusive owner's connection, compared by address */
    struct amqp_bytes arguments; /* owned copy of the raw table body */
    uint32_t refs;            /* the vhost's and every unacked entry's holder's */
    bool deleted;

    struct queue_entry *ring; /* ready messages, oldest first */
    size_t ring_cap, ring_head, ring_len;
    uint64_t next_seq;

    struct list consumers;
    uint32_t consumer_count;
    bool had_consumer;        /* auto-delete applies only after a first consumer */
    uint64_t unacked;         /* entries out with consumers or basic.get, not yet settled */
    struct list bindings;     /* struct binding.queue_link */
    uint64_t route_stamp;     /* exchange routing: delivers once per queue per message */
};

struct queue *queue_new(struct vhost *vhost, struct amqp_bytes name, bool durable, bool exclusive,
                        bool auto_delete, const void *owner, struct amqp_bytes arguments);
void queue_ref(struct queue *q);
void queue_unref(struct queue *q);

/* Appends a message (takes a new reference) and dispatches to consumers with credit. */
void queue_publish(struct queue *q, struct message *m);
/* Delivers ready messages to consumers while some have credit: call when credit returns. */
void queue_dispatch(struct queue *q);
/* basic.get: takes the oldest ready message out; false when empty. Counts it as unacked. */
bool queue_get(struct queue *q, struct queue_entry *out);
/* An unacked entry is settled: acked, or rejected without requeue. Drops its reference. */
void queue_settle(struct queue *q, struct queue_entry *e);
/* An unacked entry goes back to its original position, marked redelivered; dispatches, so the
 * caller frees the holder's prefetch slot first. On a deleted queue the message is dropped. */
void queue_requeue(struct queue *q, struct queue_entry *e);
/* The same without dispatching: a batch goes back whole before anything is delivered again. */
void queue_return(struct queue *q, struct queue_entry *e);
uint32_t queue_message_count(const struct queue *q); /* ready messages only, as RabbitMQ */
uint32_t queue_purge(struct queue *q);                /* drops ready messages, returns how many */

/* Does not dispatch: call queue_dispatch once the consumer may receive (after consume-ok). */
void queue_add_consumer(struct queue *q, struct consumer *c, const struct consumer_ops *ops,
                        bool exclusive);
/* Removes the consumer; returns true when that makes an auto-delete queue go (the caller
 * then calls vhost_delete_queue). */
bool queue_remove_consumer(struct queue *q, struct consumer *c);
bool queue_has_exclusive_consumer(const struct queue *q);

#endif
