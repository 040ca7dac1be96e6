/* Message counters: derived totals, sums and sampled rates. */
#include "model/message_stats.h"

uint64_t message_stats_get(const struct message_stats *s, enum message_stat stat)
{
    if (stat != STAT_DELIVER_GET)
        return s->count[stat];
    return s->count[STAT_DELIVER] + s->count[STAT_DELIVER_NO_ACK] + s->count[STAT_GET] +
           s->count[STAT_GET_NO_ACK];
}

void message_stats_add(struct message_stats *dst, const struct message_stats *src)
{
    for (int i = 0; i < STAT_COUNT; i++)
        dst->count[i] += src->count[i];
}

bool message_stats_any(const struct message_stats *s)
{
    for (int i = 0; i < STAT_COUNT; i++)
        if (s->count[i])
            return true;
    return false;
}

void message_rates_sample(struct message_rates *r, const struct message_stats *s, uint64_t now_ms)
{
    if (r->sampled_at_ms && now_ms - r->sampled_at_ms < MESSAGE_RATE_INTERVAL_MS)
        return;
    double seconds = (double)(now_ms - r->sampled_at_ms) / 1000.0;
    for (int i = 0; i < STAT_COUNT; i++) {
        uint64_t now = message_stats_get(s, (enum message_stat)i);
        r->rate[i] = r->sampled_at_ms ? (double)(now - r->sampled[i]) / seconds : 0.0;
        r->sampled[i] = now;
    }
    r->sampled_at_ms = now_ms;
}

void depth_rates_sample(struct depth_rates *r, const uint64_t depth[DEPTH_COUNT], uint64_t now_ms)
{
    if (r->sampled_at_ms && now_ms - r->sampled_at_ms < MESSAGE_RATE_INTERVAL_MS)
        return;
    double seconds = (double)(now_ms - r->sampled_at_ms) / 1000.0;
    for (int i = 0; i < DEPTH_COUNT; i++) {
        r->rate[i] = r->sampled_at_ms ? ((double)depth[i] - (double)r->sampled[i]) / seconds : 0.0;
        r->sampled[i] = depth[i];
    }
    r->sampled_at_ms = now_ms;
}

const char *message_stat_name(enum message_stat stat)
{
    static const char *const names[STAT_COUNT] = {
        [STAT_PUBLISH] = "publish",
        [STAT_CONFIRM] = "confirm",
        [STAT_DELIVER] = "deliver",
        [STAT_DELIVER_NO_ACK] = "deliver_no_ack",
        [STAT_GET] = "get",
        [STAT_GET_NO_ACK] = "get_no_ack",
        [STAT_GET_EMPTY] = "get_empty",
        [STAT_ACK] = "ack",
        [STAT_REDELIVER] = "redeliver",
        [STAT_DROP_UNROUTABLE] = "drop_unroutable",
        [STAT_RETURN_UNROUTABLE] = "return_unroutable",
        [STAT_DELIVER_GET] = "deliver_get",
    };
    return names[stat];
}
