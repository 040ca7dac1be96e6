/* The broker: configuration, users and vhosts; the root every other object hangs off. */
#ifndef BROKER_H
#define BROKER_H

#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/heap.h"
#include "core/list.h"
#include "core/log.h"
#include "model/user.h"
#include "model/vhost.h"

/* Limits default to RabbitMQ's. */
struct broker_config {
    const char *bind;
    int port;
    const char *management_bind; /* NULL: the AMQP bind address */
    int management_port;         /* 0: no management API */
    const char *prometheus_bind;
    int prometheus_port;         /* default 15692; 0: none */
    uint32_t frame_max;
    uint16_t channel_max;
    uint16_t heartbeat;          /* seconds */
    uint64_t max_message_size;   /* bytes */
    uint64_t handshake_timeout_ms;
    uint64_t consumer_timeout_ms; /* an unacked delivery older than this closes its channel; 0: never */
    const char *default_user;
    const char *default_pass;
    const char *default_vhost;
    const char *data_dir;
    enum log_level log_level;
};

struct reply_registry;

struct broker {
    struct broker_config config;
    struct log log;
    struct list users;
    struct list vhosts;
    struct clock clock;
    /* Everything timed (timeouts, heartbeats, later TTLs and expiries) is a deadline here;
     * the server fires them from one loop timer. */
    struct deadline_heap deadlines;
    char node[300]; /* the node's name as RabbitMQ's texts show it: "warren@HOST" */
    /* The AMQP layer's direct reply-to consumers, reachable from every connection: created
     * with the first and freed with the last (src/proto/reply_to.c). */
    struct reply_registry *reply_to;
};

void broker_config_defaults(struct broker_config *config);
void broker_init(struct broker *b, const struct broker_config *config);
void broker_free(struct broker *b);
struct user *broker_find_user(struct broker *b, const uint8_t *name, size_t len);
struct vhost *broker_find_vhost(struct broker *b, const uint8_t *name, size_t len);

#endif
