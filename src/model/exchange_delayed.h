/* The x-delayed-message exchange type (rabbitmq_delayed_message_exchange): the x-delay header as
 * the plugin reads it, and the messages an exchange holds, with one deadline for the earliest. */
#ifndef EXCHANGE_DELAYED_H
#define EXCHANGE_DELAYED_H

#include <stdbool.h>
#include <stdint.h>

#include "core/heap.h"
#include "model/delay_heap.h"
#include "model/message.h"

struct exchange;

/* The plugin delays by at most Erlang's longest timer; a longer x-delay is no delay at all. */
#define EXCHANGE_DELAY_MAX_MS UINT64_C(4294967295)

/* Routes a message that has become due, as its exchange routes (the owner's routing). */
typedef void exchange_delayed_route_fn(struct exchange *x, struct message *m,
                                       const struct amqp_bytes *keys, size_t nkeys, void *owner);

struct exchange_delayed {
    struct exchange *exchange;
    struct delay_heap held;
    struct deadline due;             /* at held's earliest, on the owner's deadline heap */
    struct deadline_heap *deadlines; /* NULL until exchange_delayed_use_timer */
    exchange_delayed_route_fn *route;
    void *owner;                     /* for route (the vhost) */
    uint32_t store_id;               /* its number in the message store; 0: none yet */
};

struct exchange_delayed *exchange_delayed_new(struct exchange *x);
/* Unschedules its deadline and drops the held messages. */
void exchange_delayed_free(struct exchange_delayed *d);
/* From now on held messages wait on this deadline heap and, once due, are routed by
 * `route` (earliest first, those due together in arrival order). Routing must not delete
 * the exchange. */
void exchange_delayed_use_timer(struct exchange_delayed *d, struct deadline_heap *deadlines,
                                exchange_delayed_route_fn *route, void *owner);

/* The message's x-delay as the plugin reads it, when it delays the message: an integer of
 * any width, a longstr of decimal digits with an optional sign, a float or double (or a
 * decimal) truncated toward zero; at most EXCHANGE_DELAY_MAX_MS. False (route now) when the
 * header is absent, of another type, not a number, or the delay is <= 0 or longer. */
bool exchange_delayed_delay_of(const struct message *m, uint64_t *delay_ms);

/* Holds m (a new reference) until due_ms, then to be routed by keys (copied as needed);
 * needs exchange_delayed_use_timer first. */
void exchange_delayed_hold(struct exchange_delayed *d, uint64_t due_ms, struct message *m,
                           const struct amqp_bytes *keys, size_t nkeys);

static inline size_t exchange_delayed_count(const struct exchange_delayed *d)
{
    return d->held.len;
}

#endif
