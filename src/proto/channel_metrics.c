/* A channel's counters by exchange, by exchange and queue, and by queue: lookups and sums. */
#include "proto/channel_metrics.h"

#include <stdlib.h>

#include "core/alloc.h"
#include "core/container.h"
#include "model/queue.h"

/* The slow paths walk the whole list anyway: they drop the records of deleted queues there
 * (as RabbitMQ drops a deleted queue's channel stats), so a long-lived channel that publishes
 * to many short-lived queues keeps one record per queue that still exists. They also link
 * each entry to the one after it, the last to the first, for the hot path's expectation. */
static void count_route(struct publish_tally *t, struct queue *q)
{
    struct publish_tally_entry **link = &t->first, *e, *found = NULL, *last = NULL;
    while ((e = *link)) {
        if (e->queue == q) {
            found = e;
        } else if (e->queue->deleted) {
            *link = e->next;
            queue_unref(e->queue);
            free(e);
            continue;
        }
        if (last)
            last->after = e;
        last = e;
        link = &e->next;
    }
    if (!found) { /* appended, so the list keeps the order routing meets the queues in */
        found = xcalloc(1, sizeof *found);
        queue_ref(q);
        found->queue = q;
        *link = found;
        if (last)
            last->after = found;
        last = found;
    }
    last->after = t->first;
    found->count++;
    t->expected = found->after;
}

void channel_metrics_init(struct channel_metrics *m)
{
    *m = (struct channel_metrics){0};
}

void channel_metrics_free(struct channel_metrics *m)
{
    while (m->exchanges) {
        struct channel_exchange_metrics *x = m->exchanges;
        m->exchanges = x->next;
        while (x->tally.first) {
            struct publish_tally_entry *e = x->tally.first;
            x->tally.first = e->next;
            queue_unref(e->queue);
            free(e);
        }
        free(x);
    }
    while (m->queues) {
        struct channel_queue_metrics *r = m->queues;
        m->queues = r->next;
        queue_unref(r->queue);
        free(r);
    }
    m->last_exchange = NULL;
    m->last_queue = NULL;
}

struct channel_exchange_metrics *channel_metrics_find_exchange(struct channel_metrics *m,
                                                               struct amqp_bytes name)
{
    struct channel_exchange_metrics *x;
    for (x = m->exchanges; x; x = x->next)
        if (x->name_len == name.len && memcmp(x->name, name.ptr, name.len) == 0)
            break;
    if (!x) {
        x = xcalloc(1, sizeof *x);
        publish_tally_init(&x->tally, count_route);
        x->name_len = (uint8_t)(name.len > sizeof x->name ? sizeof x->name : name.len);
        memcpy(x->name, name.ptr, x->name_len);
        x->next = m->exchanges;
        m->exchanges = x;
    }
    return m->last_exchange = x;
}

struct channel_queue_metrics *channel_metrics_find_queue(struct channel_metrics *m, struct queue *q)
{
    struct channel_queue_metrics **link = &m->queues, *r, *found = NULL;
    while ((r = *link)) {
        if (r->queue == q) {
            found = r;
        } else if (r->queue->deleted) { /* its counts stay in the channel's totals */
            *link = r->next;
            message_stats_add(&m->retired, &r->stats);
            queue_unref(r->queue);
            free(r);
            continue;
        }
        link = &r->next;
    }
    if (!found) {
        found = xcalloc(1, sizeof *found);
        queue_ref(q);
        found->queue = q;
        found->next = m->queues;
        m->queues = found;
    }
    return m->last_queue = found;
}

void channel_metrics_sum(const struct channel_metrics *m, struct message_stats *out)
{
    message_stats_add(out, &m->retired);
    for (const struct channel_exchange_metrics *x = m->exchanges; x; x = x->next)
        message_stats_add(out, &x->stats);
    for (const struct channel_queue_metrics *r = m->queues; r; r = r->next)
        message_stats_add(out, &r->stats);
}
