/* A queue's x-arguments, parsed and checked once at declare with RabbitMQ 3.10's rules and texts. */
#ifndef QUEUE_ARGS_H
#define QUEUE_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include "amqp_types.h"
#include "model/arguments.h"
#include "model/compat.h"
#include "model/outcome.h"

enum queue_type { QUEUE_TYPE_CLASSIC, QUEUE_TYPE_QUORUM, QUEUE_TYPE_STREAM };
enum queue_overflow { QUEUE_DROP_HEAD, QUEUE_REJECT_PUBLISH, QUEUE_REJECT_PUBLISH_DLX };

#define QUEUE_ARG_UNSET (-1)

/* Integer limits are QUEUE_ARG_UNSET when absent; slices point into the table parsed. */
struct queue_args {
    enum queue_type type;
    int64_t message_ttl_ms;      /* x-message-ttl */
    int64_t expires_ms;          /* x-expires */
    int64_t max_length;          /* x-max-length */
    int64_t max_length_bytes;    /* x-max-length-bytes */
    enum queue_overflow overflow;
    bool has_overflow;           /* x-overflow given, even as drop-head */
    bool has_dead_letter_exchange;
    struct amqp_bytes dead_letter_exchange;   /* may be "" (the default exchange) */
    bool has_dead_letter_routing_key;
    struct amqp_bytes dead_letter_routing_key;
    int16_t max_priority;        /* x-max-priority, 0..255 */
    bool single_active_consumer;
    bool lazy;                   /* x-queue-mode */
    int64_t delivery_limit;      /* x-delivery-limit (quorum) */
    int64_t consumer_timeout_ms; /* x-consumer-timeout, when an integer */
};

/* The defaults of a queue declared without arguments. */
void queue_args_defaults(struct queue_args *a);

/* Parses a checked table body for a new queue (`owner` names it in texts) by the profile's
 * rules (NULL: the default): false with RabbitMQ's 406 outcome for a wrong type, value, or an
 * argument its queue type does not take, or for flags a quorum or stream queue cannot have. */
bool queue_args_parse(struct amqp_bytes table, bool durable, bool exclusive, bool auto_delete,
                      const struct arguments_owner *owner, const struct compat *compat,
                      struct queue_args *out, struct outcome *outcome);

/* Redeclare: compares the arguments RabbitMQ compares for a queue of this type. */
bool queue_args_equivalent(enum queue_type type, struct amqp_bytes received,
                           struct amqp_bytes current, const struct arguments_owner *owner,
                           struct outcome *out);

/* RabbitMQ's module name for the type, as its texts print it: "rabbit_classic_queue". */
const char *queue_type_module(enum queue_type type);

#endif
