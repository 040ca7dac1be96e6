/* RabbitMQ's firehose: the copies of publishes and deliveries a tracing vhost sends to
 * amq.rabbitmq.trace, with RabbitMQ 3.10's headers in its order and types. */
#ifndef FIREHOSE_H
#define FIREHOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "amqp_types.h"
#include "model/message.h"

#define FIREHOSE_EXCHANGE "amq.rabbitmq.trace"

/* Where a publish or delivery happened: the front end's connection name, user and channel
 * (the management API's requests pass none). */
struct firehose_origin {
    const char *connection;
    const char *user;
    uint16_t channel;
};

/* What the trace messages tell besides the message itself. */
struct firehose_context {
    const char *node;
    const char *vhost;
    const char *user;
    const struct firehose_origin *origin; /* NULL: the management API */
};

/* Is m itself a trace message (which RabbitMQ never traces again)? */
bool firehose_is_trace(const struct message *m);
/* "publish.<exchange>" for m, which went to `queues` (names, in routing order); routing_keys
 * are the keys it was routed by (its routing key, then CC and BCC). */
struct message *firehose_publish_message(const struct message *m, const struct firehose_context *ctx,
                                         const struct amqp_bytes *routing_keys, size_t nkeys,
                                         const struct amqp_bytes *queues, size_t nqueues);
/* "deliver.<queue>" for m as the queue hands it to a consumer or basic.get. */
struct message *firehose_deliver_message(const struct message *m, const struct firehose_context *ctx,
                                         const struct amqp_bytes *routing_keys, size_t nkeys,
                                         struct amqp_bytes queue, bool redelivered);

#endif
