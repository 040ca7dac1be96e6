/* What the channel's method files share: errors, replies and the hooks between them. */
#ifndef CHANNEL_INTERNAL_H
#define CHANNEL_INTERNAL_H

#include "model/outcome.h"
#include "proto/channel.h"
#include "proto/connection.h"

/* A channel exception: channel.close with code, "NAME - text" and the offending method. */
void channel_fail(struct channel *ch, uint16_t code, uint32_t method_id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A model operation's failure, reported on the channel or (for connection-level errors) the
 * connection. */
void channel_fail_outcome(struct channel *ch, uint32_t method_id, const struct outcome *out);
void channel_send(struct channel *ch, const struct amqp_method *m);
struct vhost *channel_vhost(struct channel *ch);
/* Fault injection: an error armed for this method (basic.consume, queue.declare) closes the
 * channel instead; true when it did. */
bool channel_fault_refuses(struct channel *ch, uint32_t method_id);
struct amqp_bytes shortname_bytes(const struct shortname *n);
void shortname_set(struct shortname *n, struct amqp_bytes b);

/* channel_entities.c: exchange.* and queue.* */
void channel_exchange_method(struct channel *ch, const struct amqp_method *m);
void channel_queue_method(struct channel *ch, const struct amqp_method *m);
/* RabbitMQ's shortcut: an empty queue name means the channel's last declared queue; false
 * after failing the channel when there is none. */
bool channel_expand_queue_name(struct channel *ch, struct amqp_bytes *name, uint32_t method_id);
/* A consumer's cancel notification while a reply of the channel waits (for the disk, or for
 * a queue.delete to finish): true when it was kept to follow that reply. */
bool channel_hold_cancel(struct channel *ch, struct amqp_bytes tag);
/* The channel goes: a reply waiting for the disk is forgotten. */
void channel_drop_defs_reply(struct channel *ch);

/* channel_deliver.c: consume, deliver, get, acknowledgements, qos, recover */
void channel_basic_method(struct channel *ch, const struct amqp_method *m);
/* Writes a method with content: the header as published, the body in frames. */
void channel_send_with_content(struct channel *ch, const struct amqp_method *m, struct message *msg);
/* Settles every acknowledgement a transaction held back, as tx.commit does. */
void channel_commit_acks(struct channel *ch);
/* Forgets the acknowledgements a transaction held back, as tx.rollback does. */
void channel_rollback_acks(struct channel *ch);
/* Consumers of this channel may have credit again: let their queues deliver. */
void channel_dispatch_consumers(struct channel *ch);
/* Requeue every unacked message, cancel every consumer. */
void channel_release_deliveries(struct channel *ch);

/* channel_publish.c: publish, confirms, tx */
void channel_confirm_method(struct channel *ch, const struct amqp_method *m);
void channel_tx_method(struct channel *ch, const struct amqp_method *m);
/* A whole message has arrived (method, header and body). */
void channel_publish(struct channel *ch, struct message *msg);
/* Drops the publishes an open transaction held. */
void channel_release_publishes(struct channel *ch);

/* channel_reply_to.c: direct reply-to (the pseudo-queue amq.rabbitmq.reply-to) */
/* basic.consume or basic.cancel: true when it was the pseudo-queue's and has been handled. */
bool channel_reply_to_basic_method(struct channel *ch, const struct amqp_method *m);
/* queue.declare: true when the name is under the pseudo-queue's and has been answered. */
bool channel_reply_to_declare(struct channel *ch, const struct amqp_queue_declare *m);
/* A request's message, before its body arrives: when it asks for replies on the pseudo-queue
 * and the channel consumes them, a copy whose reply_to names the channel's reply consumer
 * replaces it (the reference moves to the copy). */
struct message *channel_reply_to_request(struct channel *ch, struct message *msg,
                                         struct amqp_content_header *h);
/* A message with a reply_to property: true after failing the channel when it asks for replies
 * on the pseudo-queue that the channel does not consume. */
bool channel_reply_to_refuses(struct channel *ch, const struct message *msg);
/* Sends a reply straight to the channel whose reply consumer its routing key names, if any. */
void channel_reply_to_deliver(struct channel *ch, struct message *msg);
/* The channel goes or fails: its reply consumer, if any, goes. */
void channel_reply_to_release(struct channel *ch);

#endif
