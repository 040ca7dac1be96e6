/* Messages held until they are due: a binary min-heap by due time, then by arrival. */
#include "model/delay_heap.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#define DELAY_HEAP_MIN_CAP 16

void delay_heap_init(struct delay_heap *h)
{
    h->slots = NULL;
    h->len = h->cap = 0;
    h->next_seq = 0;
}

void delay_heap_free(struct delay_heap *h)
{
    for (size_t i = 0; i < h->len; i++)
        delayed_message_release(&h->slots[i]);
    free(h->slots);
    delay_heap_init(h);
}

static bool earlier(const struct delayed_message *a, const struct delayed_message *b)
{
    return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->seq < b->seq);
}

/* Moves d up from the hole at i to where it belongs. */
static void sift_up(struct delay_heap *h, size_t i, struct delayed_message d)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!earlier(&d, &h->slots[parent]))
            break;
        h->slots[i] = h->slots[parent];
        i = parent;
    }
    h->slots[i] = d;
}

/* Moves d down from the hole at i to where it belongs. */
static void sift_down(struct delay_heap *h, size_t i, struct delayed_message d)
{
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->len)
            break;
        if (child + 1 < h->len && earlier(&h->slots[child + 1], &h->slots[child]))
            child++;
        if (!earlier(&h->slots[child], &d))
            break;
        h->slots[i] = h->slots[child];
        i = child;
    }
    h->slots[i] = d;
}

/* A copy of keys in one block, or NULL when m's own routing key is all there is. */
static struct delay_keys *keys_copy(const struct message *m, const struct amqp_bytes *keys,
                                    size_t nkeys)
{
    if (nkeys == 1 && amqp_bytes_eq(keys[0], message_routing_key(m)))
        return NULL;
    size_t bytes = 0;
    for (size_t i = 0; i < nkeys; i++)
        bytes += keys[i].len;
    struct delay_keys *k = xmalloc(sizeof *k + nkeys * sizeof k->keys[0] + bytes);
    uint8_t *p = (uint8_t *)&k->keys[nkeys];
    k->len = nkeys;
    for (size_t i = 0; i < nkeys; i++) {
        if (keys[i].len)
            memcpy(p, keys[i].ptr, keys[i].len);
        k->keys[i] = (struct amqp_bytes){p, keys[i].len};
        p += keys[i].len;
    }
    return k;
}

void delay_heap_push(struct delay_heap *h, uint64_t due_ms, struct message *m,
                     const struct amqp_bytes *keys, size_t nkeys)
{
    if (h->len == h->cap) {
        h->cap = h->cap ? h->cap * 2 : DELAY_HEAP_MIN_CAP;
        h->slots = xrealloc_array(h->slots, h->cap, sizeof *h->slots);
    }
    struct delayed_message d = {due_ms, h->next_seq++, message_ref(m), keys_copy(m, keys, nkeys)};
    sift_up(h, h->len++, d);
}

bool delay_heap_pop_due(struct delay_heap *h, uint64_t now_ms, struct delayed_message *out)
{
    if (!h->len || h->slots[0].due_ms > now_ms)
        return false;
    *out = h->slots[0];
    if (--h->len)
        sift_down(h, 0, h->slots[h->len]);
    return true;
}

const struct amqp_bytes *delayed_message_keys(const struct delayed_message *d,
                                              struct amqp_bytes *storage, size_t *nkeys)
{
    if (d->keys) {
        *nkeys = d->keys->len;
        return d->keys->keys;
    }
    *storage = message_routing_key(d->message);
    *nkeys = 1;
    return storage;
}

void delayed_message_release(struct delayed_message *d)
{
    message_unref(d->message);
    free(d->keys);
    d->message = NULL;
    d->keys = NULL;
}
