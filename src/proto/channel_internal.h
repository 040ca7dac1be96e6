/* What the channel's method files share: errors, replies and the hooks between them. */
#ifndef CHANNEL_INTERNAL_H
#define CHANNEL_INTERNAL_H

#include "proto/channel.h"
#include "proto/connection_internal.h"

#define NAME_FMT "%.*s"
#define NAME_ARG(b) (int)(b).len, (const char *)(b).ptr

/* A channel exception: channel.close with code, "NAME - text" and the offending method. */
void channel_fail(struct channel *ch, uint16_t code, uint32_t method_id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void channel_send(struct channel *ch, const struct amqp_method *m);
struct vhost *channel_vhost(struct channel *ch);
struct amqp_bytes shortname_bytes(const struct shortname *n);
void shortname_set(struct shortname *n, struct amqp_bytes b);

/* channel_entities.c: exchange.* and queue.* */
void channel_exchange_method(struct channel *ch, const struct amqp_method *m);
void channel_queue_method(struct channel *ch, const struct amqp_method *m);
/* The queue named (or the last declared when empty), checked for exclusive access; NULL after
 * failing the channel with RabbitMQ's error. */
struct queue *channel_lookup_queue(struct channel *ch, struct amqp_bytes name, uint32_t method_id);

/* channel_basic.c: publish, consume, deliver, get, acknowledgements, qos, confirms, tx */
void channel_basic_method(struct channel *ch, const struct amqp_method *m);
void channel_confirm_method(struct channel *ch, const struct amqp_method *m);
void channel_tx_method(struct channel *ch, const struct amqp_method *m);
/* A whole message has arrived (method, header and body). */
void channel_publish(struct channel *ch, struct message *msg);
/* Requeue every unacked message, cancel every consumer, drop transaction state. */
void channel_release(struct channel *ch);

#endif
