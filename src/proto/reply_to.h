/* The registry of direct reply-to consumers: the unguessable names replies are published to,
 * and the channels those names reach, whatever connection publishes the reply. */
#ifndef REPLY_TO_H
#define REPLY_TO_H

#include <string.h>

#include "amqp_types.h"
#include "core/token.h"
#include "proto/channel.h"

/* The pseudo-queue a channel consumes its replies from. */
#define REPLY_TO_QUEUE "amq.rabbitmq.reply-to"
/* What a request's reply_to becomes: this prefix and a random token. */
#define REPLY_TO_PREFIX REPLY_TO_QUEUE "."
#define REPLY_TO_PREFIX_LEN (sizeof REPLY_TO_PREFIX - 1)
#define REPLY_TO_NAME_LEN (REPLY_TO_PREFIX_LEN + TOKEN_CHARS)

/* A channel's consumer of the pseudo-queue (at most one per channel). */
struct reply_consumer {
    struct channel *ch;
    struct shortname tag;
    char name[REPLY_TO_NAME_LEN + 1]; /* REPLY_TO_PREFIX and 128 random bits, NUL-terminated */
};

struct reply_registry;

/* Registers ch's reply consumer under a fresh name; creates the registry at *home if there is
 * none yet. */
struct reply_consumer *reply_registry_add(struct reply_registry **home, struct channel *ch,
                                          struct amqp_bytes tag);
/* Forgets and frees rc; the registry goes with its last consumer (*home becomes NULL). */
void reply_registry_remove(struct reply_registry **home, struct reply_consumer *rc);
/* The consumer a reply published to `name` reaches, or NULL. reg may be NULL. */
struct reply_consumer *reply_registry_find(const struct reply_registry *reg, struct amqp_bytes name);
/* ch's reply consumer, or NULL. reg may be NULL. */
struct reply_consumer *reply_registry_of_channel(const struct reply_registry *reg,
                                                 const struct channel *ch);

/* A routing key (on the default exchange) in the form of a reply name? Inline: every publish to
 * the default exchange asks, and the length alone answers most. Other keys under the prefix,
 * which RabbitMQ takes for stale names, need no exception: no queue can have such a name. */
static inline bool reply_to_is_reply_name(struct amqp_bytes routing_key)
{
    return routing_key.len == REPLY_TO_NAME_LEN &&
           memcmp(routing_key.ptr, REPLY_TO_PREFIX, REPLY_TO_PREFIX_LEN) == 0;
}

static inline struct amqp_bytes reply_consumer_name(const struct reply_consumer *rc)
{
    return amqp_bytes_of(rc->name, REPLY_TO_NAME_LEN);
}

#endif
