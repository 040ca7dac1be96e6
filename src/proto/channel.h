/* An AMQP channel: lifecycle, content assembly, and the methods it maps onto the broker model. */
#ifndef CHANNEL_H
#define CHANNEL_H

#include <stdbool.h>
#include <stdint.h>

#include "amqp_frame.h"
#include "amqp_spec.h"
#include "core/heap.h"
#include "core/list.h"
#include "model/message.h"
#include "model/message_stats.h"
#include "model/queue.h"
#include "model/definitions_ops.h"
#include "model/firehose.h"
#include "model/message_store.h"
#include "proto/channel_metrics.h"
#include "proto/confirms.h"

struct connection;
struct vhost;

enum channel_state {
    CHANNEL_OPEN,
    CHANNEL_CLOSING, /* we sent channel.close and wait for close-ok */
};

enum content_state { EXPECT_METHOD, EXPECT_HEADER, EXPECT_BODY };

/* A name as it arrived in a shortstr, kept past the frame it came in. */
struct shortname {
    uint8_t len;
    char data[255];
};

/* A message delivered (or got) and not yet acknowledged. */
struct unacked {
    uint64_t tag;
    struct queue *queue; /* holds a reference */
    struct queue_entry entry;
    struct channel_consumer *consumer; /* NULL for basic.get or once cancelled */
    bool settled;        /* acked inside the array, awaiting compaction */
    uint8_t tx_action;   /* in a transaction: 1 + how to settle it at commit */
    bool from_get;       /* basic.get, which prefetch does not count */
    uint64_t ack_due_ms; /* when the consumer timeout runs out for it; UINT64_MAX: never */
};

/* A publish held by an open transaction until commit. */
struct tx_op {
    struct list link;
    struct message *msg;
    bool mandatory;
};

struct channel_consumer {
    struct consumer base; /* what the queue sees */
    struct list link;     /* in channel.consumers */
    struct channel *ch;
    struct shortname tag;
    bool no_ack;
    uint16_t prefetch;    /* the per-consumer prefetch when it was created; 0: unlimited */
    uint32_t unacked;
    struct amqp_bytes arguments; /* owned copy */
    struct channel_queue_metrics *queue_metrics; /* the channel's record of its queue; NULL: none yet */
};

struct channel {
    struct connection *conn;
    /* the connection's, fixed once it is open, and read per message */
    struct vhost *vhost;
    struct session *session; /* the connection's: who its verbs run as */
    struct output *out;
    /* the connection's armed faults (proto/fault.h), NULL while none is: one load per publish */
    struct connection_faults *const *faults;
    bool delivering;     /* cleared once the connection stops being open */
    uint32_t frame_max;  /* negotiated before any channel opens */
    uint16_t id;
    enum channel_state state;
    struct firehose_origin origin; /* what the firehose says of its publishes and deliveries */

    struct list dirty_link; /* in connection.dirty_channels while confirms are owed */

    enum content_state content;
    uint32_t content_method;    /* the method the content belongs to */
    struct shortname publish_exchange;
    struct shortname publish_routing_key;
    bool publish_mandatory;
    struct message *incoming;   /* NULL while discarding an oversized body */
    uint64_t incoming_size;
    uint64_t incoming_received;
    uint64_t incoming_capacity; /* body room allocated so far */

    struct shortname last_queue; /* for methods that leave the queue name empty */

    struct list consumers;
    uint16_t consumer_prefetch; /* basic.qos global=false: for consumers created after it, and
                                   a raise for those already there (consumer_window) */
    uint16_t channel_prefetch;  /* basic.qos global=true: for the whole channel */

    uint64_t last_delivery_tag;
    struct unacked *unacked;    /* sorted by tag; [unacked_head, unacked_len) in use */
    size_t unacked_head, unacked_len, unacked_cap;
    uint32_t unacked_count;     /* not settled */
    uint32_t consumed_unacked;  /* of those, delivered to consumers: the global prefetch count */
    /* The consumer timeout, checked as RabbitMQ does on the oldest unacked delivery only: at
     * most one deadline per channel, moved on lazily when it fires early. */
    struct deadline ack_timeout;

    bool confirm;
    struct confirms confirms;   /* publishes not yet confirmed to the client */
    /* Replies that wait for the disk: confirms of persistent messages and tx.commit-oks,
     * oldest first, each with the store ticket that settles it. */
    struct disk_wait {
        uint64_t ticket;
        uint64_t confirm_seq;   /* the last confirm it settles; 0 for a commit-ok */
    } *disk_waits;
    size_t disk_head, disk_len, disk_cap; /* a ring; capacity a power of two */
    struct store_waiter disk_waiter;
    bool tx_stored;             /* the transaction being committed put something on disk */
    bool tx;
    struct list tx_ops;

    /* A reply that waits for the definitions its method recorded to reach the disk (as
     * RabbitMQ answers a durable declare once its transaction is committed); the connection
     * handles no further input meanwhile, so nothing the client sent later overtakes it. */
    struct defs_reply {
        struct definitions_waiter waiter;
        uint32_t method_id;      /* the method answered, for an error */
        bool send;               /* false for no-wait: nothing to send, input held all the same */
        struct amqp_method ok;
        struct shortname queue;  /* what ok's queue name points at */
    } defs_reply;
    /* basic.cancel notifications that came meanwhile (the queue of a queue.delete waiting for
     * the disk): they follow the reply, as in RabbitMQ. */
    struct shortname *held_cancels;
    size_t held_cancel_count, held_cancel_cap;
    bool cancels_held;           /* a queue.delete is under way on this channel */

    struct channel_metrics metrics; /* its publishes and deliveries, by exchange and queue */
    struct message_rates rates;
};

/* Its publishes and deliveries: every record's counts summed into *out (zeroed first). */
void channel_stats(const struct channel *ch, struct message_stats *out);
/* Publishes it made in confirm mode (RabbitMQ's received_confirm). */
static inline uint64_t channel_received_confirm(const struct channel *ch)
{
    return ch->confirms.next_seq - 1;
}

/* A frame for a channel other than 0 on an open connection. */
void channel_handle_frame(struct connection *c, const struct amqp_frame *f);
/* The connection goes: requeue unacked messages, cancel consumers, free. */
void channel_free(struct channel *ch);
/* The connection is closing: no more deliveries on this channel. */
static inline void channel_stop_deliveries(struct channel *ch)
{
    ch->delivering = false;
}
static inline bool channel_is_open(const struct channel *ch)
{
    return ch->state == CHANNEL_OPEN;
}
/* Fault injection: channel.close with this code and text exactly; method_id names the method
 * refused (0: none). */
void channel_close_as_given(struct channel *ch, uint16_t code, uint32_t method_id, const char *text);
/* The connection can take output again: let this channel's consumers' queues deliver. */
void channel_resume_deliveries(struct channel *ch);
/* Sends what a run of input produced and could not send at once (coalesced confirms). */
void channel_flush_confirms(struct channel *ch);

#endif
