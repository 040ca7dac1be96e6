/* A queue: messages in order, consumers served round-robin within their credit, requeue to the
 * original position, and the delete/purge/auto-delete/exclusive rules. */
#ifndef QUEUE_H
#define QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "amqp_types.h"
#include "core/clock.h"
#include "core/heap.h"
#include "core/list.h"
#include "model/message.h"
#include "model/message_stats.h"
#include "model/queue_args.h"
#include "model/queue_arrivals.h"
#include "model/queue_ring.h"

struct queue;
struct consumer;
struct policy;
struct message_store;

/* Why a message leaves a queue for its dead-letter exchange, as x-death's reason says. */
enum dead_letter_reason {
    DEAD_LETTER_REJECTED,       /* "rejected": basic.reject or basic.nack without requeue */
    DEAD_LETTER_EXPIRED,        /* "expired": its TTL ran out */
    DEAD_LETTER_MAXLEN,         /* "maxlen": a length limit pushed it out or refused it */
    DEAD_LETTER_DELIVERY_LIMIT, /* "delivery_limit": returned more than x-delivery-limit */
};

/* What a queue needs from the vhost that holds it: time for its TTLs, and somewhere to send
 * dead letters (the model's layering: a queue never reaches up into its vhost). */
struct queue_host {
    struct deadline_heap *deadlines; /* NULL: nothing timed */
    const struct clock *clock;
    /* Takes the reference to m; called only for a queue with a dead-letter exchange. */
    void (*dead_letter)(struct queue_host *h, struct queue *q, struct message *m,
                        enum dead_letter_reason reason);
    /* Where durable queues keep persistent messages; NULL: nowhere (durability off). */
    struct message_store *store;
};

/* What a queue needs from a consumer; the channel implements it (the model knows no frames). */
struct consumer_ops {
    /* May this consumer take one more message now (prefetch windows)? */
    bool (*has_credit)(struct consumer *c);
    /* Hands over the entry (and its message reference) for delivery. */
    void (*deliver)(struct consumer *c, struct queue *q, struct queue_entry entry);
    /* The queue went (deleted) and has already let go of the consumer: forget the queue. */
    void (*queue_deleted)(struct consumer *c, struct queue *q);
};

struct consumer {
    struct list link; /* in queue.consumers: highest priority first, rotated within a priority */
    struct queue *queue;
    const struct consumer_ops *ops;
    bool exclusive;
    int64_t priority; /* x-priority (RabbitMQ's consumer priorities); 0 by default */
};

/* Publisher flow control, RabbitMQ's credit flow in miniature: a queue with consumers and more
 * ready messages than the high mark holds back its publishers until it is under the low mark.
 * Queues without consumers only grow. */
#define QUEUE_FLOW_HIGH 20000
#define QUEUE_FLOW_LOW 10000

/* A queue keeps the bodies of about this many ready octets in memory: a large body (see
 * MESSAGE_APART_MIN) arriving behind them while nobody consumes (or in a lazy queue) is paged
 * out to the store, and read back when its turn comes, so a backlog is bounded by the disk
 * rather than by memory. */
#define QUEUE_RESIDENT_BYTES (8u << 20)

struct queue {
    struct amqp_bytes name; /* owned copy */
    bool durable;
    bool exclusive;
    bool auto_delete;
    const void *owner;           /* the exclusive owner's connection, compared by address */
    struct amqp_bytes arguments; /* owned copy of the raw table body, for equivalence */
    struct queue_args own_args;  /* the same, parsed */
    struct queue_args args;      /* in effect: own_args with the policies applied */
    const struct policy *policy, *operator_policy; /* applying to it now, or NULL (the vhost's) */
    char *policy_strings;        /* owned copies of args' dead-letter names from a policy */
    uint32_t refs;               /* the vhost's and every unacked entry's holder's */
    bool deleted;

    struct queue_ring ready;  /* ready messages, oldest first (of priority 0 with levels) */
    struct queue_ring *levels; /* x-max-priority: one ring per priority, else just &ready */
    uint32_t nlevels;
    uint64_t ready_len;       /* ready messages in every level */
    uint64_t ready_bytes;     /* their bodies' sizes, for x-max-length-bytes */
    bool limited;             /* has x-max-length or x-max-length-bytes */
    bool ttl_watch;           /* x-message-ttl, or some message came with an expiration */
    bool has_rules;           /* limited, ttl_watch or priorities: publish takes the long way */
    uint64_t next_seq;
    struct queue_host *host;  /* NULL: no TTLs nor dead letters (a queue alone in a test) */
    uint8_t persist_mask;     /* MESSAGE_PERSISTENT when durable with a store, else 0 */
    uint32_t store_id;        /* the store's number for it; 0 until it has one */
    struct deadline ttl_timer; /* due when the next head expires */
    struct queue_arrivals arrivals; /* when entries arrived, kept once ttl_watch is set */

    struct list consumers;
    uint32_t consumer_count;
    bool had_consumer;        /* auto-delete applies only after a first consumer */
    bool priorities_differ;   /* some consumer's priority differs: rotate within groups */
    uint64_t unacked;         /* entries out with consumers or basic.get, not yet settled */
    uint64_t unacked_bytes;   /* their bodies' sizes */
    struct list bindings;     /* struct binding.destination_link */
    uint64_t route_stamp;     /* exchange routing: delivers once per queue per message */
    struct deadline expiry;   /* x-expires: due once the queue has gone unused that long */
    void *expiry_owner;       /* for the owner's expiry callback (the vhost) */
    struct message_stats stats; /* counted by the vhost (publish) and by consumers' channels */
    struct message_rates rates;
    struct depth_rates depth_rates;
};

/* arguments (a checked table body) must have passed queue_args_parse with these flags and
 * this profile (NULL: the default). */
struct queue *queue_new(struct amqp_bytes name, bool durable, bool exclusive, bool auto_delete,
                        const void *owner, struct amqp_bytes arguments,
                        const struct compat *compat);
/* The settings in effect change (a policy came, changed or went): from now on the queue
 * works by them. Like RabbitMQ, a lower length limit drops the head at once (drop-head) and
 * messages already queued keep the TTL they arrived under (none, for those before any). */
void queue_apply_args(struct queue *q, const struct queue_args *effective);
/* The queue's host, for its TTLs and dead letters; set once, before it takes messages. */
void queue_set_host(struct queue *q, struct queue_host *host);
void queue_ref(struct queue *q);
void queue_unref(struct queue *q);

/* What became of a message offered to a queue. */
enum queue_publish_result {
    QUEUE_ENQUEUED, /* taken: ready, or already handed to a consumer */
    QUEUE_REJECTED, /* refused: it would pass a length limit with x-overflow reject-publish */
    QUEUE_GONE,     /* the queue was deleted; nothing was kept */
};

/* Appends a message (takes a new reference) and dispatches to consumers with credit. Over a
 * length limit the oldest ready messages are dropped (x-overflow drop-head, the default) or the
 * new one is refused (reject-publish, reject-publish-dlx), as RabbitMQ counts: ready messages
 * and their body octets only. */
enum queue_publish_result queue_publish(struct queue *q, struct message *m);
/* Delivers ready messages to consumers while some have credit: call when credit returns. */
void queue_dispatch(struct queue *q);
/* basic.get: takes the oldest ready message out; false when empty. Counts it as unacked. */
bool queue_get(struct queue *q, struct queue_entry *out);
/* The ready message `offset` places from the head, in delivery order (the highest priority
 * first), left where it is: not taken, not marked redelivered. Expired heads go first, as
 * before a get; a paged-out body is read back. NULL past the end. */
struct message *queue_peek(struct queue *q, uint64_t offset, bool *redelivered);
/* An unacked entry is settled (acked): drops its reference. */
void queue_settle(struct queue *q, struct queue_entry *e);
/* An unacked entry is rejected without requeue: dead-lettered when the queue has a
 * dead-letter exchange, else dropped. */
void queue_reject(struct queue *q, struct queue_entry *e);
/* The content header a delivery shows instead of the message's own, appended to out: a
 * quorum queue's x-delivery-count (got: for basic.get); false when the message's own goes. The
 * body is sent from the message as always. */
bool queue_quorum_delivery_header(const struct queue_entry *e, bool got, struct amqp_buf *out);
static inline bool queue_delivery_header(const struct queue *q, const struct queue_entry *e,
                                         bool got, struct amqp_buf *out)
{
    return q->args.type == QUEUE_TYPE_QUORUM && queue_quorum_delivery_header(e, got, out);
}
/* An unacked entry goes back to its original position, marked redelivered; dispatches, so the
 * caller frees the holder's prefetch slot first. On a deleted queue the message is dropped;
 * a quorum queue counts the return and dead-letters it past x-delivery-limit. */
void queue_requeue(struct queue *q, struct queue_entry *e);
/* The same without dispatching: a batch goes back whole before anything is delivered again. */
void queue_return(struct queue *q, struct queue_entry *e);
/* Recovery: m (a new reference is taken) goes to the back as a ready entry that arrived at
 * arrived_ms on the queue's clock, without telling the store (which kept it). */
void queue_restore(struct queue *q, struct message *m, bool redelivered, uint64_t arrived_ms);
/* Recovery is done: heads already expired go (or are dead-lettered), as length limits say. */
void queue_restored(struct queue *q);
/* The store came or went: durable queues keep persistent messages in it from now on. */
void queue_use_store(struct queue *q);
/* Ready messages only, as RabbitMQ counts them, after dropping those expired at the head. */
uint32_t queue_message_count(struct queue *q);
uint32_t queue_purge(struct queue *q);                /* drops ready messages, returns how many */

/* Does not dispatch: call queue_dispatch once the consumer may receive (after consume-ok).
 * Messages go to the consumers of the highest priority that have credit, round-robin among
 * them; lower priorities get them only while those cannot take any. With
 * x-single-active-consumer only the earliest consumer still there gets messages. */
void queue_add_consumer(struct queue *q, struct consumer *c, const struct consumer_ops *ops,
                        bool exclusive, int64_t priority);
/* Removes the consumer; returns true when that leaves an auto-delete queue unused (its owner,
 * the vhost, then deletes it). */
bool queue_remove_consumer(struct queue *q, struct consumer *c);
bool queue_has_exclusive_consumer(const struct queue *q);

/* The queue leaves service (its vhost deleted it): consumers are let go and told, ready
 * messages dropped. The struct lives on while references to it remain. */
void queue_retire(struct queue *q);

/* Would the queue rather page out a large body arriving now? */
static inline bool queue_over_window(const struct queue *q)
{
    return q->ready_bytes > QUEUE_RESIDENT_BYTES;
}

/* Flow control: should a publisher that just fed this queue wait, and may it go on again? */
static inline bool queue_congested(const struct queue *q)
{
    return q->consumer_count > 0 && q->ready_len > QUEUE_FLOW_HIGH;
}

static inline bool queue_relieved(const struct queue *q)
{
    return q->deleted || q->consumer_count == 0 || q->ready_len < QUEUE_FLOW_LOW;
}

#endif
