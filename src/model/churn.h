/* The broker's lifetime counts of objects opened and closed, and what deleted queues counted. */
#ifndef CHURN_H
#define CHURN_H

#include <stdint.h>

#include "model/message_stats.h"
#include "model/queue_args.h"

#define CHURN_QUEUE_TYPES (QUEUE_TYPE_STREAM + 1)

/* Counted where each object opens and closes, never per message; Prometheus reads them. */
struct broker_churn {
    uint64_t connections_opened, connections_closed;
    uint64_t channels_opened, channels_closed;
    uint64_t queues_declared, queues_created, queues_deleted;
    uint64_t auth_attempts, auth_succeeded, auth_failed;
    /* Publishes on closed channels in confirm mode (open ones read their confirm sequence). */
    uint64_t retired_received_confirm;
    /* Deleted queues' counters by type: the per-type totals are these plus the live queues'. */
    struct message_stats retired_queue_stats[CHURN_QUEUE_TYPES];
};

#endif
