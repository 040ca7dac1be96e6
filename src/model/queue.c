/* Queues: ready entries in seq order, round-robin dispatch, requeue in place, retirement. */
#include "model/queue.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

struct queue *queue_new(struct amqp_bytes name, bool durable, bool exclusive, bool auto_delete,
                        const void *owner, struct amqp_bytes arguments)
{
    struct queue *q = xcalloc(1, sizeof *q);
    q->name = amqp_bytes_dup(name);
    q->durable = durable;
    q->exclusive = exclusive;
    q->auto_delete = auto_delete;
    q->owner = owner;
    q->arguments = amqp_bytes_dup(arguments);
    /* parsed again from the copy, so that the parsed slices point into memory the queue owns */
    struct outcome ignored;
    queue_args_parse(q->arguments, durable, exclusive, auto_delete,
                     &(struct arguments_owner){"queue", name, ""}, &q->args, &ignored);
    q->refs = 1;
    queue_ring_init(&q->ready);
    q->limited = q->args.max_length != QUEUE_ARG_UNSET || q->args.max_length_bytes != QUEUE_ARG_UNSET;
    list_init(&q->consumers);
    list_init(&q->bindings);
    return q;
}

static void drop_ready(struct queue *q)
{
    for (size_t i = 0; i < q->ready.len; i++)
        message_unref(queue_entry_message(queue_ring_at(&q->ready, i)));
    queue_ring_clear(&q->ready);
    q->ready_bytes = 0;
}

/* The oldest ready entry leaves the ready list (to a consumer, basic.get or the drop). */
static struct queue_entry take_oldest(struct queue *q)
{
    struct queue_entry e = queue_ring_pop(&q->ready);
    q->ready_bytes -= queue_entry_message(&e)->body_size;
    return e;
}

/* Would `extra` more messages of `bytes` octets pass a limit? */
static bool over_limit(const struct queue *q, uint64_t extra, uint64_t bytes)
{
    return (q->args.max_length != QUEUE_ARG_UNSET &&
            q->ready.len + extra > (uint64_t)q->args.max_length) ||
           (q->args.max_length_bytes != QUEUE_ARG_UNSET &&
            q->ready_bytes + bytes > (uint64_t)q->args.max_length_bytes);
}

/* drop-head: the oldest ready messages go until the queue is within its limits. */
static void drop_head_over_limit(struct queue *q)
{
    while (q->ready.len && over_limit(q, 0, 0)) {
        struct queue_entry e = take_oldest(q);
        message_unref(queue_entry_message(&e));
    }
}

static void queue_free(struct queue *q)
{
    drop_ready(q);
    queue_ring_free(&q->ready);
    amqp_bytes_free(q->name);
    amqp_bytes_free(q->arguments);
    free(q);
}

void queue_ref(struct queue *q)
{
    q->refs++;
}

void queue_unref(struct queue *q)
{
    if (q && --q->refs == 0)
        queue_free(q);
}

enum queue_publish_result queue_publish(struct queue *q, struct message *m)
{
    if (q->deleted)
        return QUEUE_GONE;
    if (q->limited && q->args.overflow != QUEUE_DROP_HEAD && over_limit(q, 1, m->body_size))
        return QUEUE_REJECTED;
    queue_ring_push(&q->ready, (struct queue_entry){.msg = message_ref(m), .seq = q->next_seq++});
    q->ready_bytes += m->body_size;
    queue_dispatch(q);
    if (q->limited && q->args.overflow == QUEUE_DROP_HEAD)
        drop_head_over_limit(q);
    return QUEUE_ENQUEUED;
}

/* The consumer just served goes behind the others of its priority (with a single active
 * consumer nothing rotates: the first to come is served until it goes). */
static void rotate(struct queue *q, struct consumer *c)
{
    if (q->args.single_active_consumer)
        return;
    struct list *after = q->consumers.prev;
    if (q->priorities_differ) {
        after = &c->link;
        while (after->next != &q->consumers &&
               list_entry(after->next, struct consumer, link)->priority == c->priority)
            after = after->next;
    }
    if (after == &c->link)
        return;
    list_remove(&c->link);
    list_insert_after(after, &c->link);
}

/* The first consumer in round-robin order that may take a message now, or NULL. */
static struct consumer *next_with_credit(struct queue *q)
{
    if (q->args.single_active_consumer) {
        struct consumer *active = list_empty(&q->consumers)
                                      ? NULL
                                      : list_entry(q->consumers.next, struct consumer, link);
        return active && active->ops->has_credit(active) ? active : NULL;
    }
    for (struct list *pos = q->consumers.next; pos != &q->consumers; pos = pos->next) {
        struct consumer *c = list_entry(pos, struct consumer, link);
        if (c->ops->has_credit(c))
            return c;
    }
    return NULL;
}

void queue_dispatch(struct queue *q)
{
    /* deliver may cancel consumers or even delete the queue: hold it until the loop ends */
    queue_ref(q);
    while (!q->deleted && q->ready.len > 0) {
        struct consumer *c = next_with_credit(q);
        if (!c)
            break;
        rotate(q, c);
        struct queue_entry e = take_oldest(q);
        q->unacked++;
        c->ops->deliver(c, q, e);
    }
    queue_unref(q);
}

bool queue_get(struct queue *q, struct queue_entry *out)
{
    if (q->deleted || q->ready.len == 0)
        return false;
    *out = take_oldest(q);
    q->unacked++;
    return true;
}

void queue_settle(struct queue *q, struct queue_entry *e)
{
    message_unref(queue_entry_message(e));
    e->msg = NULL;
    q->unacked--;
}

void queue_return(struct queue *q, struct queue_entry *e)
{
    struct queue_entry back = *e;
    e->msg = NULL;
    q->unacked--;
    if (q->deleted) {
        message_unref(queue_entry_message(&back));
        return;
    }
    back.redelivered = true;
    queue_ring_insert_by_seq(&q->ready, back);
    q->ready_bytes += queue_entry_message(&back)->body_size;
    /* RabbitMQ applies the limit to a requeue too: the head goes, whichever it is */
    if (q->limited && q->args.overflow == QUEUE_DROP_HEAD)
        drop_head_over_limit(q);
}

void queue_requeue(struct queue *q, struct queue_entry *e)
{
    queue_return(q, e);
    queue_dispatch(q);
}

uint32_t queue_message_count(const struct queue *q)
{
    return (uint32_t)q->ready.len;
}

uint32_t queue_purge(struct queue *q)
{
    uint32_t count = (uint32_t)q->ready.len;
    drop_ready(q);
    return count;
}

void queue_add_consumer(struct queue *q, struct consumer *c, const struct consumer_ops *ops,
                        bool exclusive, int64_t priority)
{
    c->queue = q;
    c->ops = ops;
    c->exclusive = exclusive;
    c->priority = priority;
    /* behind every consumer of the same or a higher priority; with a single active consumer,
     * in the order they came, RabbitMQ 3.10's order of succession */
    struct list *after = &q->consumers;
    if (q->args.single_active_consumer)
        after = q->consumers.prev;
    else
        while (after->next != &q->consumers &&
               list_entry(after->next, struct consumer, link)->priority >= priority)
            after = after->next;
    if (q->consumer_count == 0)
        q->priorities_differ = false;
    else if (list_entry(q->consumers.next, struct consumer, link)->priority != priority ||
             list_entry(q->consumers.prev, struct consumer, link)->priority != priority)
        q->priorities_differ = true;
    list_insert_after(after, &c->link);
    q->consumer_count++;
    q->had_consumer = true;
}

bool queue_remove_consumer(struct queue *q, struct consumer *c)
{
    list_remove(&c->link);
    q->consumer_count--;
    return q->auto_delete && q->had_consumer && q->consumer_count == 0 && !q->deleted;
}

bool queue_has_exclusive_consumer(const struct queue *q)
{
    for (const struct list *pos = q->consumers.next; pos != &q->consumers; pos = pos->next)
        if (list_entry(pos, const struct consumer, link)->exclusive)
            return true;
    return false;
}

void queue_retire(struct queue *q)
{
    if (q->deleted)
        return;
    q->deleted = true; /* first: the callbacks below must not dispatch from it */
    while (!list_empty(&q->consumers)) {
        struct consumer *c = list_entry(q->consumers.next, struct consumer, link);
        list_remove(&c->link);
        q->consumer_count--;
        c->ops->queue_deleted(c, q);
    }
    drop_ready(q);
}
