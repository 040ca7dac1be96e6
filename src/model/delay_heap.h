/* Messages held until they are due: a binary min-heap by due time, then by arrival. */
#ifndef DELAY_HEAP_H
#define DELAY_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "amqp_types.h"
#include "model/message.h"

/* Routing keys a held message must keep (CC, BCC): one block, the key bytes after the array. */
struct delay_keys {
    size_t len;
    struct amqp_bytes keys[];
};

/* One held message. seq orders equal due times by arrival, as the plugin does. */
struct delayed_message {
    uint64_t due_ms;
    uint64_t seq;
    struct message *message; /* a reference */
    struct delay_keys *keys; /* NULL: the message's own routing key is its only key */
};

struct delay_heap {
    struct delayed_message *slots;
    size_t len;
    size_t cap;
    uint64_t next_seq;
};

void delay_heap_init(struct delay_heap *h);
/* Drops every held message. */
void delay_heap_free(struct delay_heap *h);
/* Holds m (taking a reference) until due_ms, to be routed by keys, which are copied unless
 * they are just m's own routing key. O(log n). */
void delay_heap_push(struct delay_heap *h, uint64_t due_ms, struct message *m,
                     const struct amqp_bytes *keys, size_t nkeys);
/* The earliest due time, or UINT64_MAX when nothing is held. */
static inline uint64_t delay_heap_next_ms(const struct delay_heap *h)
{
    return h->len ? h->slots[0].due_ms : UINT64_MAX;
}
/* Takes out the earliest message if it is due at now_ms; its reference and keys are the
 * caller's then, to give back with delayed_message_release. O(log n). */
bool delay_heap_pop_due(struct delay_heap *h, uint64_t now_ms, struct delayed_message *out);

/* The keys to route d by: *storage holds the message's own key when it has no others. */
const struct amqp_bytes *delayed_message_keys(const struct delayed_message *d,
                                              struct amqp_bytes *storage, size_t *nkeys);
/* Drops the message's reference and its keys. */
void delayed_message_release(struct delayed_message *d);

#endif
