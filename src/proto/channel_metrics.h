/* A channel's message counters by exchange and by queue (RabbitMQ's fine-grained channel stats). */
#ifndef CHANNEL_METRICS_H
#define CHANNEL_METRICS_H

#include <stdint.h>
#include <string.h>

#include "amqp_types.h"
#include "model/message_stats.h"
#include "model/vhost.h"

struct queue;

/* What this channel published into one exchange: publish, confirm, drop/return_unroutable,
 * and in its tally what the exchange routed into each queue (each entry holds a reference
 * to its queue, so the address names one queue while it is kept). */
struct channel_exchange_metrics {
    struct channel_exchange_metrics *next;
    struct publish_tally tally;
    struct message_stats stats;
    uint8_t name_len;
    char name[255];
};

/* What this channel took from one queue: deliveries, gets, get_empty, acks, redeliveries. */
struct channel_queue_metrics {
    struct channel_queue_metrics *next;
    struct queue *queue; /* a reference */
    struct message_stats stats;
};

/* The records live as long as the channel. Each counter is counted once, in its record: the
 * channel's totals are their sum (channel_metrics_sum), so the hot path pays one lookup, which
 * the last record used answers for steady traffic. */
struct channel_metrics {
    struct channel_exchange_metrics *exchanges, *last_exchange;
    struct channel_queue_metrics *queues, *last_queue;
    struct message_stats retired; /* what records of deleted queues counted */
};

void channel_metrics_init(struct channel_metrics *m);
/* Drops the records and their queue references. */
void channel_metrics_free(struct channel_metrics *m);
struct channel_exchange_metrics *channel_metrics_find_exchange(struct channel_metrics *m,
                                                               struct amqp_bytes name);
struct channel_queue_metrics *channel_metrics_find_queue(struct channel_metrics *m, struct queue *q);
/* Every record's stats added into out. */
void channel_metrics_sum(const struct channel_metrics *m, struct message_stats *out);

/* The record of exchange name, made on first use. */
static inline struct channel_exchange_metrics *channel_metrics_exchange(struct channel_metrics *m,
                                                                        struct amqp_bytes name)
{
    struct channel_exchange_metrics *x = m->last_exchange;
    /* the default exchange's empty name needs no memcmp call */
    if (x && x->name_len == name.len && (!name.len || memcmp(x->name, name.ptr, name.len) == 0))
        return x;
    return channel_metrics_find_exchange(m, name);
}

static inline struct channel_queue_metrics *channel_metrics_queue(struct channel_metrics *m,
                                                                  struct queue *q)
{
    struct channel_queue_metrics *r = m->last_queue;
    return r && r->queue == q ? r : channel_metrics_find_queue(m, q);
}

#endif
