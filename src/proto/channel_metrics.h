/* A channel's message counters by exchange and by queue (RabbitMQ's fine-grained channel stats). */
#ifndef CHANNEL_METRICS_H
#define CHANNEL_METRICS_H

#include <stdint.h>
#include <string.h>

#include "amqp_types.h"
#include "model/message_stats.h"
#include "model/vhost.h"

struct queue;

/* What one exchange routed from this channel into one queue. */
struct channel_route_metrics {
    struct channel_route_metrics *next;
    struct queue *queue; /* a reference, so the address names one queue while it is kept */
    uint64_t published;
};

/* What this channel published into one exchange: publish, confirm, drop/return_unroutable. */
struct channel_exchange_metrics {
    struct channel_exchange_metrics *next;
    struct channel_route_metrics *routes, *last_route;
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
    struct publish_tally tally; /* counts a publish's queues into last_exchange's routes */
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

/* The record of exchange name, made on first use; it becomes the one a publish's tally counts
 * into. */
static inline struct channel_exchange_metrics *channel_metrics_exchange(struct channel_metrics *m,
                                                                        struct amqp_bytes name)
{
    struct channel_exchange_metrics *x = m->last_exchange;
    if (x && x->name_len == name.len && memcmp(x->name, name.ptr, name.len) == 0)
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
