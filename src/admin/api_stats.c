/* message_stats objects: counts with their rate details, as RabbitMQ's API renders them. */
#include <stdio.h>

#include "admin/api_internal.h"
#include "core/clock.h"
#include "model/broker.h"
#include "model/message_stats.h"

static const enum message_stat queue_keys[] = {
    STAT_PUBLISH, STAT_DELIVER, STAT_DELIVER_NO_ACK, STAT_GET, STAT_GET_NO_ACK, STAT_GET_EMPTY,
    STAT_ACK, STAT_REDELIVER, STAT_DELIVER_GET,
};
static const enum message_stat publisher_keys[] = {
    STAT_PUBLISH, STAT_CONFIRM, STAT_DROP_UNROUTABLE, STAT_RETURN_UNROUTABLE,
};
static const enum message_stat consumer_keys[] = {
    STAT_DELIVER, STAT_DELIVER_NO_ACK, STAT_GET, STAT_GET_NO_ACK, STAT_GET_EMPTY, STAT_ACK,
    STAT_REDELIVER, STAT_DELIVER_GET,
};

#define COUNT_OF(a) (sizeof(a) / sizeof *(a))

json_t *api_rate_details(double rate)
{
    return json_pack("{s:f}", "rate", rate);
}

static void put_stat(json_t *o, const struct message_stats *s, const struct message_rates *r,
                     enum message_stat stat)
{
    char key[64];
    const char *name = message_stat_name(stat);
    json_object_set_new(o, name, json_integer((json_int_t)message_stats_get(s, stat)));
    snprintf(key, sizeof key, "%s_details", name);
    json_object_set_new(o, key, api_rate_details(r->rate[stat]));
}

static bool any_of(const struct message_stats *s, const enum message_stat *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (message_stats_get(s, keys[i]))
            return true;
    return false;
}

static void put_stats(json_t *o, const struct message_stats *s, const struct message_rates *r,
                      const enum message_stat *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put_stat(o, s, r, keys[i]);
}

static uint64_t now_ms(const struct api *a)
{
    return clock_now_ms(&a->broker->clock);
}

/* RabbitMQ leaves message_stats out of a queue nothing has passed through. */
void api_put_queue_stats(struct api *a, json_t *o, const struct message_stats *s,
                         struct message_rates *rates)
{
    if (!message_stats_any(s))
        return;
    message_rates_sample(rates, s, now_ms(a));
    json_t *stats = json_object();
    put_stats(stats, s, rates, queue_keys, COUNT_OF(queue_keys));
    json_object_set_new(o, "message_stats", stats);
}

/* A channel shows the publisher side once it published, the consumer side once it consumed. */
void api_put_channel_stats(struct api *a, json_t *o, const struct message_stats *s,
                           struct message_rates *rates)
{
    bool published = any_of(s, publisher_keys, COUNT_OF(publisher_keys));
    bool consumed = any_of(s, consumer_keys, COUNT_OF(consumer_keys));
    if (!published && !consumed)
        return;
    message_rates_sample(rates, s, now_ms(a));
    json_t *stats = json_object();
    if (published)
        put_stats(stats, s, rates, publisher_keys, COUNT_OF(publisher_keys));
    if (consumed)
        put_stats(stats, s, rates, consumer_keys, COUNT_OF(consumer_keys));
    json_object_set_new(o, "message_stats", stats);
}

/* The overview's: {} until there was traffic, then every key (disk ones stay 0 in memory). */
json_t *api_overview_stats(struct api *a, const struct message_stats *s,
                           struct message_rates *rates)
{
    json_t *stats = json_object();
    if (!message_stats_any(s))
        return stats;
    message_rates_sample(rates, s, now_ms(a));
    for (int i = 0; i < STAT_COUNT; i++)
        put_stat(stats, s, rates, (enum message_stat)i);
    json_object_set_new(stats, "disk_reads", json_integer(0));
    json_object_set_new(stats, "disk_reads_details", api_rate_details(0.0));
    json_object_set_new(stats, "disk_writes", json_integer(0));
    json_object_set_new(stats, "disk_writes_details", api_rate_details(0.0));
    return stats;
}
