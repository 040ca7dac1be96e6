/* Queues: a ring of ready entries ordered by seq, round-robin dispatch, requeue in place. */
#include "model/queue.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

enum { RING_MIN_CAP = 16 };

struct queue *queue_new(struct vhost *vhost, struct amqp_bytes name, bool durable, bool exclusive,
                        bool auto_delete, const void *owner, struct amqp_bytes arguments)
{
    struct queue *q = xcalloc(1, sizeof *q);
    q->vhost = vhost;
    q->name = amqp_bytes_dup(name);
    q->durable = durable;
    q->exclusive = exclusive;
    q->auto_delete = auto_delete;
    q->owner = owner;
    q->arguments = amqp_bytes_dup(arguments);
    q->refs = 1;
    list_init(&q->consumers);
    list_init(&q->bindings);
    return q;
}

/* The ring slot of logical position i (0 = oldest). */
static struct queue_entry *at(const struct queue *q, size_t i)
{
    return &q->ring[(q->ring_head + i) & (q->ring_cap - 1)];
}

static void drop_ready(struct queue *q)
{
    for (size_t i = 0; i < q->ring_len; i++)
        message_unref(at(q, i)->msg);
    q->ring_head = q->ring_len = 0;
}

static void queue_free(struct queue *q)
{
    drop_ready(q);
    free(q->ring);
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

/* Makes room for one more entry: the capacity doubles, entries keep their logical order. */
static void ring_reserve(struct queue *q)
{
    if (q->ring_len < q->ring_cap)
        return;
    size_t cap = q->ring_cap ? q->ring_cap * 2 : RING_MIN_CAP;
    struct queue_entry *ring = xmalloc(cap * sizeof *ring);
    size_t first = q->ring_cap - q->ring_head; /* entries from head to the physical end */
    if (first > q->ring_len)
        first = q->ring_len;
    if (q->ring_len) {
        memcpy(ring, q->ring + q->ring_head, first * sizeof *ring);
        memcpy(ring + first, q->ring, (q->ring_len - first) * sizeof *ring);
    }
    free(q->ring);
    q->ring = ring;
    q->ring_cap = cap;
    q->ring_head = 0;
}

static struct queue_entry pop_oldest(struct queue *q)
{
    struct queue_entry e = *at(q, 0);
    q->ring_head = (q->ring_head + 1) & (q->ring_cap - 1);
    q->ring_len--;
    return e;
}

void queue_publish(struct queue *q, struct message *m)
{
    if (q->deleted)
        return;
    ring_reserve(q);
    *at(q, q->ring_len) = (struct queue_entry){message_ref(m), q->next_seq++, false};
    q->ring_len++;
    queue_dispatch(q);
}

/* The first consumer in round-robin order that may take a message now, or NULL. */
static struct consumer *next_with_credit(struct queue *q)
{
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
    while (!q->deleted && q->ring_len > 0) {
        struct consumer *c = next_with_credit(q);
        if (!c)
            break;
        list_remove(&c->link);
        list_push_back(&q->consumers, &c->link);
        struct queue_entry e = pop_oldest(q);
        q->unacked++;
        c->ops->deliver(c, q, e);
    }
    queue_unref(q);
}

bool queue_get(struct queue *q, struct queue_entry *out)
{
    if (q->deleted || q->ring_len == 0)
        return false;
    *out = pop_oldest(q);
    q->unacked++;
    return true;
}

void queue_settle(struct queue *q, struct queue_entry *e)
{
    message_unref(e->msg);
    e->msg = NULL;
    q->unacked--;
}

/* Logical index of the first ready entry with a seq greater than seq. */
static size_t position_for(const struct queue *q, uint64_t seq)
{
    size_t lo = 0, hi = q->ring_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (at(q, mid)->seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Moves logical [from, ring_len) one slot toward the tail, in contiguous runs, last run first. */
static void shift_tail_side(struct queue *q, size_t from)
{
    size_t mask = q->ring_cap - 1;
    size_t remaining = q->ring_len - from;
    while (remaining) {
        size_t src_last = (q->ring_head + from + remaining - 1) & mask;
        size_t dst_last = (src_last + 1) & mask;
        size_t run = remaining;
        if (run > src_last + 1)
            run = src_last + 1;
        if (run > dst_last + 1)
            run = dst_last + 1;
        memmove(&q->ring[dst_last + 1 - run], &q->ring[src_last + 1 - run], run * sizeof *q->ring);
        remaining -= run;
    }
}

/* Moves logical [0, count) one slot toward the head (the head moves back one), first run first. */
static void shift_head_side(struct queue *q, size_t count)
{
    size_t mask = q->ring_cap - 1;
    size_t done = 0;
    while (done < count) {
        size_t src_first = (q->ring_head + done) & mask;
        size_t dst_first = (src_first + mask) & mask;
        size_t run = count - done;
        if (run > q->ring_cap - src_first)
            run = q->ring_cap - src_first;
        if (run > q->ring_cap - dst_first)
            run = q->ring_cap - dst_first;
        memmove(&q->ring[dst_first], &q->ring[src_first], run * sizeof *q->ring);
        done += run;
    }
    q->ring_head = (q->ring_head + mask) & mask;
}

/* Puts e back among the ready entries at the position its seq gives it. */
static void insert_by_seq(struct queue *q, struct queue_entry e)
{
    ring_reserve(q);
    size_t pos = position_for(q, e.seq);
    if (pos < q->ring_len / 2) {
        shift_head_side(q, pos);
    } else {
        shift_tail_side(q, pos);
    }
    q->ring_len++;
    *at(q, pos) = e;
}

void queue_return(struct queue *q, struct queue_entry *e)
{
    struct queue_entry back = *e;
    e->msg = NULL;
    q->unacked--;
    if (q->deleted) {
        message_unref(back.msg);
        return;
    }
    back.redelivered = true;
    insert_by_seq(q, back);
}

void queue_requeue(struct queue *q, struct queue_entry *e)
{
    queue_return(q, e);
    queue_dispatch(q);
}

uint32_t queue_message_count(const struct queue *q)
{
    return (uint32_t)q->ring_len;
}

uint32_t queue_purge(struct queue *q)
{
    uint32_t count = (uint32_t)q->ring_len;
    drop_ready(q);
    return count;
}

void queue_add_consumer(struct queue *q, struct consumer *c, const struct consumer_ops *ops,
                        bool exclusive)
{
    c->queue = q;
    c->ops = ops;
    c->exclusive = exclusive;
    list_push_back(&q->consumers, &c->link);
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
