/* Message counters as the management API shows them (message_stats), and their rates. */
#ifndef MESSAGE_STATS_H
#define MESSAGE_STATS_H

#include <stdbool.h>
#include <stdint.h>

/* RabbitMQ's message_stats keys; deliver_get is derived (deliver + deliver_no_ack + get +
 * get_no_ack), so nothing counts it twice on the hot path. */
enum message_stat {
    STAT_PUBLISH,
    STAT_CONFIRM,
    STAT_DELIVER,
    STAT_DELIVER_NO_ACK,
    STAT_GET,
    STAT_GET_NO_ACK,
    STAT_GET_EMPTY,
    STAT_ACK,
    STAT_REDELIVER,
    STAT_DROP_UNROUTABLE,
    STAT_RETURN_UNROUTABLE,
    STAT_DELIVER_GET, /* derived: never counted */
    STAT_COUNT
};

/* Lifetime totals: one increment per event, nothing else on the hot path. */
struct message_stats {
    uint64_t count[STAT_COUNT];
};

/* Rates, as RabbitMQ's basic rates mode shows them: per second between the last two samples,
 * sampled when someone looks, at most once per interval (nothing runs while nobody does). */
#define MESSAGE_RATE_INTERVAL_MS 5000

struct message_rates {
    uint64_t sampled_at_ms; /* 0: never sampled */
    uint64_t sampled[STAT_COUNT];
    double rate[STAT_COUNT];
};

/* The same for a queue's depth (messages, ready, unacknowledged): how fast each grows. */
enum queue_depth { DEPTH_MESSAGES, DEPTH_READY, DEPTH_UNACKED, DEPTH_COUNT };

struct depth_rates {
    uint64_t sampled_at_ms;
    uint64_t sampled[DEPTH_COUNT];
    double rate[DEPTH_COUNT];
};

static inline void message_stats_count(struct message_stats *s, enum message_stat stat)
{
    s->count[stat]++;
}

uint64_t message_stats_get(const struct message_stats *s, enum message_stat stat);
/* dst += src, for totals that outlive what counted them (a closed channel's). */
void message_stats_add(struct message_stats *dst, const struct message_stats *src);
bool message_stats_any(const struct message_stats *s);
/* Takes a sample of s if the last one is an interval old, so rate[] is up to date. */
void message_rates_sample(struct message_rates *r, const struct message_stats *s, uint64_t now_ms);
void depth_rates_sample(struct depth_rates *r, const uint64_t depth[DEPTH_COUNT], uint64_t now_ms);
/* RabbitMQ's key for a stat ("publish", "deliver_get", ...). */
const char *message_stat_name(enum message_stat stat);

#endif
