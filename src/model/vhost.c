/* A virtual host: the namespace that holds exchanges, queues and bindings. */
#include "model/vhost.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/token.h"
#include "model/exchange.h"
#include "model/queue.h"

static const struct {
    const char *name;
    enum exchange_type type;
} standard_exchanges[] = {
    {"", EXCHANGE_DIRECT},
    {"amq.direct", EXCHANGE_DIRECT},
    {"amq.fanout", EXCHANGE_FANOUT},
    {"amq.topic", EXCHANGE_TOPIC},
    {"amq.headers", EXCHANGE_HEADERS},
    {"amq.match", EXCHANGE_HEADERS},
};

struct vhost *vhost_new(const char *name)
{
    struct vhost *v = xcalloc(1, sizeof *v);
    v->name = xstrdup(name);
    list_init(&v->link);
    map_init(&v->exchanges);
    map_init(&v->queues);
    for (size_t i = 0; i < sizeof standard_exchanges / sizeof *standard_exchanges; i++) {
        struct amqp_bytes xname = amqp_cstr(standard_exchanges[i].name);
        vhost_add_exchange(v, exchange_new(v, xname, standard_exchanges[i].type, true, false,
                                           false, (struct amqp_bytes){NULL, 0}));
    }
    return v;
}

/* Any one value of the map, or NULL when it is empty. */
static void *first_value(const struct map *m)
{
    struct map_iter it;
    void *value = NULL;
    map_iter_init(&it, m);
    return map_iter_next(&it, NULL, NULL, &value) ? value : NULL;
}

void vhost_free(struct vhost *v)
{
    if (!v)
        return;
    struct queue *q;
    while ((q = first_value(&v->queues)))
        vhost_delete_queue(v, q);
    struct exchange *x;
    while ((x = first_value(&v->exchanges)))
        vhost_delete_exchange(v, x);
    map_free(&v->queues);
    map_free(&v->exchanges);
    free(v->name);
    free(v);
}

struct exchange *vhost_find_exchange(struct vhost *v, struct amqp_bytes name)
{
    return map_get(&v->exchanges, name.ptr, name.len);
}

struct queue *vhost_find_queue(struct vhost *v, struct amqp_bytes name)
{
    return map_get(&v->queues, name.ptr, name.len);
}

void vhost_add_exchange(struct vhost *v, struct exchange *x)
{
    x->vhost = v;
    map_put(&v->exchanges, x->name.ptr, x->name.len, x);
}

void vhost_add_queue(struct vhost *v, struct queue *q)
{
    q->vhost = v;
    map_put(&v->queues, q->name.ptr, q->name.len, q);
}

void vhost_delete_exchange(struct vhost *v, struct exchange *x)
{
    map_remove(&v->exchanges, x->name.ptr, x->name.len);
    exchange_free(x);
}

/* Tells every consumer the queue is gone; each unlinks itself (we only unlink one that did not). */
static void tell_consumers(struct queue *q)
{
    while (!list_empty(&q->consumers)) {
        struct list *first = q->consumers.next;
        struct consumer *c = list_entry(first, struct consumer, link);
        c->ops->queue_deleted(c, q);
        if (q->consumers.next == first)
            list_remove(first);
    }
    q->consumer_count = 0;
}

void vhost_delete_queue(struct vhost *v, struct queue *q)
{
    if (q->deleted)
        return;
    q->deleted = true; /* first: callbacks below must not delete it again or dispatch from it */
    map_remove(&v->queues, q->name.ptr, q->name.len);
    while (!list_empty(&q->bindings))
        exchange_remove_binding(list_entry(q->bindings.next, struct binding, queue_link));
    tell_consumers(q);
    queue_purge(q);
    queue_unref(q);
}

void vhost_delete_owned_queues(struct vhost *v, const void *owner)
{
    size_t count = 0;
    struct queue **owned = xmalloc((map_count(&v->queues) + 1) * sizeof *owned);
    struct map_iter it;
    void *value;
    map_iter_init(&it, &v->queues);
    while (map_iter_next(&it, NULL, NULL, &value)) {
        struct queue *q = value;
        if (q->exclusive && q->owner == owner)
            owned[count++] = q;
    }
    /* collected first: deleting one may run callbacks, and the map must not change mid-walk */
    for (size_t i = 0; i < count; i++)
        vhost_delete_queue(v, owned[i]);
    free(owned);
}

/* RabbitMQ's server-named queues: "amq.gen-" and 128 random bits in url-safe base64. */
void vhost_generate_queue_name(struct vhost *v, char out[32])
{
    do
        token_generate(out, "amq.gen-");
    while (map_contains(&v->queues, out, strlen(out)));
}
