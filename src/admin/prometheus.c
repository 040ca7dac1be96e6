/* The Prometheus endpoint: rabbitmq_prometheus's families, names, labels and HELP texts for what Warren has.
 *
 * RabbitMQ refreshes its queue, channel and connection families every 5 s; these are read live
 * at each scrape. Erlang-VM-only families (erlang_*, raft_*, mnesia, GC, schedulers, the
 * message store's I/O) are left out rather than written as zeros; the few rabbitmq_erlang_*
 * ones dashboards need are written where a true value exists (uptime, and "processes" counted
 * as /api/nodes counts proc_used). */
#include "admin/prometheus.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "admin/api_internal.h"
#include "admin/metrics_text.h"
#include "core/alloc.h"
#include "core/process.h"
#include "model/queue.h"
#include "model/vhost.h"
#include "net/tcp.h"
#include "proto/channel.h"
#include "proto/connection.h"

#define CONTENT_HEADERS "content-type: text/plain; version=0.0.4\r\ncontent-encoding: identity\r\n"
#define LABEL(n, s) ((struct metrics_label){(n), (s), strlen(s)})
#define COUNT_OF(a) (sizeof(a) / sizeof *(a))

/* An open channel and the label RabbitMQ gives it (a pid there; any unique string does). */
struct scraped_channel {
    struct channel *ch;
    const char *vhost;
    char label[192];
};

struct scraped_connection {
    struct connection *conn;
    struct connection_info info;
};

/* One scrape: what it reads, gathered once, and the text being written. */
struct scrape {
    struct prometheus *p;
    struct metrics_text text;
    bool per_object;
    struct scraped_connection *conns;
    size_t nconns, conns_cap;
    struct scraped_channel *chans;
    size_t nchans, chans_cap;
    size_t queues, consumers;
};

static void gather_connection(struct connection *c, void *ctx)
{
    struct scrape *s = ctx;
    if (s->nconns == s->conns_cap) {
        s->conns_cap = s->conns_cap ? s->conns_cap * 2 : 16;
        s->conns = xrealloc_array(s->conns, s->conns_cap, sizeof *s->conns);
    }
    struct scraped_connection *sc = &s->conns[s->nconns++];
    sc->conn = c;
    connection_info(c, &sc->info);
}

static void gather_channels(struct scrape *s, struct scraped_connection *sc)
{
    uint16_t max = connection_channel_max(sc->conn);
    for (uint32_t id = 1; id <= max; id++) {
        struct channel *ch = connection_channel(sc->conn, (uint16_t)id);
        if (!ch)
            continue;
        if (s->nchans == s->chans_cap) {
            s->chans_cap = s->chans_cap ? s->chans_cap * 2 : 16;
            s->chans = xrealloc_array(s->chans, s->chans_cap, sizeof *s->chans);
        }
        struct scraped_channel *c = &s->chans[s->nchans++];
        c->ch = ch;
        c->vhost = sc->info.vhost;
        snprintf(c->label, sizeof c->label, "%s (%u)", sc->info.name, ch->id);
    }
}

static void gather(struct scrape *s)
{
    tcp_server_each_connection(s->p->tcp, gather_connection, s);
    for (size_t i = 0; i < s->nconns; i++)
        gather_channels(s, &s->conns[i]);
    struct list *pos;
    list_for_each(pos, &s->p->broker->vhosts) {
        struct vhost *v = list_entry(pos, struct vhost, link);
        s->queues += map_count(&v->queues);
        struct map_iter it;
        void *value;
        map_iter_init(&it, &v->queues);
        while (map_iter_next(&it, NULL, NULL, &value))
            s->consumers += ((struct queue *)value)->consumer_count;
    }
}

/* A family whose one sample has no labels in either form. */
static void single(struct scrape *s, const char *name, const char *type, const char *help,
                   double value)
{
    struct metrics_family f;
    metrics_family_begin(&f, &s->text, name, type, help, true);
    metrics_family_add(&f, NULL, 0, value);
}

/* ---- the node: churn, process figures, limits ---- */

static void write_node(struct scrape *s)
{
    struct broker *b = s->p->broker;
    const struct broker_churn *c = &b->churn;
    const struct broker_config *cfg = &b->config;
    single(s, "rabbitmq_connections_opened_total", "counter", "Total number of connections opened",
           (double)c->connections_opened);
    single(s, "rabbitmq_connections_closed_total", "counter",
           "Total number of connections closed or terminated", (double)c->connections_closed);
    single(s, "rabbitmq_channels_opened_total", "counter", "Total number of channels opened",
           (double)c->channels_opened);
    single(s, "rabbitmq_channels_closed_total", "counter", "Total number of channels closed",
           (double)c->channels_closed);
    single(s, "rabbitmq_queues_declared_total", "counter", "Total number of queues declared",
           (double)c->queues_declared);
    single(s, "rabbitmq_queues_created_total", "counter", "Total number of queues created",
           (double)c->queues_created);
    single(s, "rabbitmq_queues_deleted_total", "counter", "Total number of queues deleted",
           (double)c->queues_deleted);
    uint64_t fd_limit = process_fd_limit();
    single(s, "rabbitmq_process_open_fds", "gauge", "Open file descriptors",
           (double)process_open_fds());
    /* as /api/nodes' sockets_used: the AMQP connections */
    single(s, "rabbitmq_process_open_tcp_sockets", "gauge", "Open TCP sockets", (double)s->nconns);
    single(s, "rabbitmq_process_resident_memory_bytes", "gauge", "Memory used in bytes",
           (double)process_resident_bytes());
    single(s, "rabbitmq_disk_space_available_bytes", "gauge", "Disk space available in bytes",
           (double)system_disk_free_bytes(cfg->data_dir ? cfg->data_dir : "."));
    /* as /api/nodes' proc_used: the objects that would each be an Erlang process there */
    single(s, "rabbitmq_erlang_processes_used", "gauge", "Erlang processes used",
           (double)(s->nconns + s->nchans + s->queues));
    single(s, "rabbitmq_process_max_fds", "gauge", "Open file descriptors limit", (double)fd_limit);
    single(s, "rabbitmq_process_max_tcp_sockets", "gauge", "Open TCP sockets limit",
           (double)fd_limit);
    single(s, "rabbitmq_resident_memory_limit_bytes", "gauge", "Memory high watermark in bytes",
           (double)s->p->broker->alarms.memory_limit);
    single(s, "rabbitmq_disk_space_available_limit_bytes", "gauge",
           "Free disk space low watermark in bytes",
           (double)s->p->broker->alarms.disk_free_limit);
    single(s, "rabbitmq_erlang_processes_limit", "gauge", "Erlang processes limit", 1048576);
    single(s, "rabbitmq_erlang_uptime_seconds", "gauge", "Node uptime",
           (double)(uv_now(s->p->http.loop) - s->p->started_ms) / 1000.0);
}

static void write_auth(struct scrape *s)
{
    static const struct {
        const char *name, *help;
        size_t offset;
    } families[] = {
        {"rabbitmq_auth_attempts_total", "Total number of authorization attempts",
         offsetof(struct broker_churn, auth_attempts)},
        {"rabbitmq_auth_attempts_succeeded_total", "Total number of successful authentication attempts",
         offsetof(struct broker_churn, auth_succeeded)},
        {"rabbitmq_auth_attempts_failed_total", "Total number of failed authentication attempts",
         offsetof(struct broker_churn, auth_failed)},
    };
    const struct metrics_label protocol = LABEL("protocol", "amqp091");
    for (size_t i = 0; i < COUNT_OF(families); i++) {
        const char *churn = (const char *)&s->p->broker->churn;
        metrics_family_begin(&(struct metrics_family){0}, &s->text, families[i].name, "counter",
                             families[i].help, true);
        metrics_sample(&s->text, families[i].name, &protocol, 1,
                       (double)*(const uint64_t *)(churn + families[i].offset));
    }
}

/* ---- queues ---- */

enum queue_figure { Q_READY, Q_UNACKED, Q_MESSAGES, Q_CONSUMERS, Q_BYTES, Q_READY_BYTES, Q_UNACKED_BYTES };

static double queue_figure(struct queue *q, enum queue_figure which)
{
    switch (which) {
    case Q_READY: return (double)queue_message_count(q);
    case Q_UNACKED: return (double)q->unacked;
    case Q_MESSAGES: return (double)(queue_message_count(q) + q->unacked);
    case Q_CONSUMERS: return (double)q->consumer_count;
    case Q_BYTES: return (double)(q->ready_bytes + q->unacked_bytes);
    case Q_READY_BYTES: return (double)q->ready_bytes;
    case Q_UNACKED_BYTES: return (double)q->unacked_bytes;
    }
    return 0;
}

static void write_queues(struct scrape *s)
{
    static const struct {
        const char *name, *help;
        enum queue_figure figure;
    } families[] = {
        {"rabbitmq_queue_messages_ready", "Messages ready to be delivered to consumers", Q_READY},
        {"rabbitmq_queue_messages_unacked", "Messages delivered to consumers but not yet acknowledged",
         Q_UNACKED},
        {"rabbitmq_queue_messages", "Sum of ready and unacknowledged messages - total queue depth",
         Q_MESSAGES},
        {"rabbitmq_queue_consumers", "Consumers on a queue", Q_CONSUMERS},
        {"rabbitmq_queue_messages_bytes", "Size in bytes of ready and unacknowledged messages",
         Q_BYTES},
        {"rabbitmq_queue_messages_ready_bytes", "Size in bytes of ready messages", Q_READY_BYTES},
        {"rabbitmq_queue_messages_unacked_bytes", "Size in bytes of all unacknowledged messages",
         Q_UNACKED_BYTES},
    };
    for (size_t i = 0; i < COUNT_OF(families); i++) {
        struct metrics_family f;
        metrics_family_begin(&f, &s->text, families[i].name, "gauge", families[i].help,
                             s->per_object);
        struct list *pos;
        list_for_each(pos, &s->p->broker->vhosts) {
            struct vhost *v = list_entry(pos, struct vhost, link);
            struct map_iter it;
            void *value;
            map_iter_init(&it, &v->queues);
            while (map_iter_next(&it, NULL, NULL, &value)) {
                struct queue *q = value;
                struct metrics_label labels[] = {
                    LABEL("vhost", v->name),
                    {"queue", (const char *)q->name.ptr, q->name.len},
                };
                metrics_family_add(&f, labels, 2, queue_figure(q, families[i].figure));
            }
        }
        metrics_family_end(&f);
    }
}

/* ---- channels ---- */

enum channel_figure { CH_CONSUMERS, CH_UNACKED, CH_UNCONFIRMED, CH_UNCOMMITTED, CH_ACKS_UNCOMMITTED,
                      CH_CONSUMER_PREFETCH, CH_PREFETCH };

static double channel_figure(const struct channel *ch, enum channel_figure which)
{
    size_t n = 0;
    struct list *pos;
    switch (which) {
    case CH_CONSUMERS:
        list_for_each(pos, &ch->consumers)
            n++;
        return (double)n;
    case CH_UNACKED: return ch->unacked_count;
    case CH_UNCONFIRMED:
        for (uint32_t i = 0; i < ch->confirms.len; i++) {
            const struct confirm_run *r = &ch->confirms.runs[(ch->confirms.head + i) & (ch->confirms.cap - 1)];
            n += (size_t)(r->last - r->first + 1);
        }
        return (double)n;
    case CH_UNCOMMITTED:
        list_for_each(pos, &ch->tx_ops)
            n++;
        return (double)n;
    case CH_ACKS_UNCOMMITTED:
        for (size_t i = ch->unacked_head; i < ch->unacked_len; i++)
            n += ch->unacked[i].tx_action != 0 && !ch->unacked[i].settled;
        return (double)n;
    case CH_CONSUMER_PREFETCH: return ch->consumer_prefetch;
    case CH_PREFETCH: return ch->channel_prefetch;
    }
    return 0;
}

static void write_channels(struct scrape *s)
{
    static const struct {
        const char *name, *help;
        enum channel_figure figure;
    } families[] = {
        {"rabbitmq_channel_consumers", "Consumers on a channel", CH_CONSUMERS},
        {"rabbitmq_channel_messages_unacked", "Delivered but not yet acknowledged messages", CH_UNACKED},
        {"rabbitmq_channel_messages_unconfirmed", "Published but not yet confirmed messages",
         CH_UNCONFIRMED},
        {"rabbitmq_channel_messages_uncommitted",
         "Messages received in a transaction but not yet committed", CH_UNCOMMITTED},
        {"rabbitmq_channel_acks_uncommitted",
         "Message acknowledgements in a transaction not yet committed", CH_ACKS_UNCOMMITTED},
        {"rabbitmq_consumer_prefetch", "Limit of unacknowledged messages for each consumer",
         CH_CONSUMER_PREFETCH},
        {"rabbitmq_channel_prefetch",
         "Total limit of unacknowledged messages for all consumers on a channel", CH_PREFETCH},
    };
    for (size_t i = 0; i < COUNT_OF(families); i++) {
        struct metrics_family f;
        metrics_family_begin(&f, &s->text, families[i].name, "gauge", families[i].help,
                             s->per_object);
        for (size_t k = 0; k < s->nchans; k++) {
            struct metrics_label channel = LABEL("channel", s->chans[k].label);
            metrics_family_add(&f, &channel, 1, channel_figure(s->chans[k].ch, families[i].figure));
        }
        metrics_family_end(&f);
    }
}

/* Per channel and exchange: what it published there (records of failed publishes hold none). */
static void write_channel_exchanges(struct scrape *s)
{
    static const struct {
        const char *name, *help;
        enum message_stat stat;
    } families[] = {
        {"rabbitmq_channel_messages_published_total",
         "Total number of messages published into an exchange on a channel", STAT_PUBLISH},
        {"rabbitmq_channel_messages_confirmed_total",
         "Total number of messages published into an exchange and confirmed on the channel",
         STAT_CONFIRM},
        {"rabbitmq_channel_messages_unroutable_returned_total",
         "Total number of messages published as mandatory into an exchange and returned to the "
         "publisher as unroutable", STAT_RETURN_UNROUTABLE},
        {"rabbitmq_channel_messages_unroutable_dropped_total",
         "Total number of messages published as non-mandatory into an exchange and dropped as "
         "unroutable", STAT_DROP_UNROUTABLE},
    };
    for (size_t i = 0; i < COUNT_OF(families); i++) {
        struct metrics_family f;
        metrics_family_begin(&f, &s->text, families[i].name, "counter", families[i].help,
                             s->per_object);
        for (size_t k = 0; k < s->nchans; k++) {
            const struct channel_exchange_metrics *x;
            for (x = s->chans[k].ch->metrics.exchanges; x; x = x->next) {
                if (!message_stats_get(&x->stats, STAT_PUBLISH))
                    continue;
                struct metrics_label labels[] = {
                    LABEL("channel", s->chans[k].label),
                    LABEL("vhost", s->chans[k].vhost),
                    {"exchange", x->name, x->name_len},
                };
                metrics_family_add(&f, labels, 3, (double)message_stats_get(&x->stats, families[i].stat));
            }
        }
        metrics_family_end(&f);
    }
}

/* Per channel and queue: what it took from there (deleted queues' records are left out). */
static void write_channel_queues(struct scrape *s)
{
    static const struct {
        const char *name, *help;
        enum message_stat stat;
    } families[] = {
        {"rabbitmq_channel_get_ack_total",
         "Total number of messages fetched with basic.get in manual acknowledgement mode", STAT_GET},
        {"rabbitmq_channel_get_total",
         "Total number of messages fetched with basic.get in automatic acknowledgement mode",
         STAT_GET_NO_ACK},
        {"rabbitmq_channel_messages_delivered_ack_total",
         "Total number of messages delivered to consumers in manual acknowledgement mode", STAT_DELIVER},
        {"rabbitmq_channel_messages_delivered_total",
         "Total number of messages delivered to consumers in automatic acknowledgement mode",
         STAT_DELIVER_NO_ACK},
        {"rabbitmq_channel_messages_redelivered_total", "Total number of messages redelivered to consumers",
         STAT_REDELIVER},
        {"rabbitmq_channel_messages_acked_total", "Total number of messages acknowledged by consumers",
         STAT_ACK},
        {"rabbitmq_channel_get_empty_total",
         "Total number of times basic.get operations fetched no message", STAT_GET_EMPTY},
    };
    for (size_t i = 0; i < COUNT_OF(families); i++) {
        struct metrics_family f;
        metrics_family_begin(&f, &s->text, families[i].name, "counter", families[i].help,
                             s->per_object);
        for (size_t k = 0; k < s->nchans; k++) {
            const struct channel_queue_metrics *r;
            for (r = s->chans[k].ch->metrics.queues; r; r = r->next) {
                if (r->queue->deleted)
                    continue;
                struct metrics_label labels[] = {
                    LABEL("channel", s->chans[k].label),
                    LABEL("vhost", s->chans[k].vhost),
                    {"queue", (const char *)r->queue->name.ptr, r->queue->name.len},
                };
                metrics_family_add(&f, labels, 3, (double)message_stats_get(&r->stats, families[i].stat));
            }
        }
        metrics_family_end(&f);
    }
}

/* ---- connections: RabbitMQ labels them "channel" too ---- */

enum connection_figure { CONN_RECV_OCT, CONN_SEND_OCT, CONN_RECV_CNT, CONN_SEND_CNT, CONN_CHANNELS };

static double connection_figure(const struct connection_info *info, enum connection_figure which)
{
    switch (which) {
    case CONN_RECV_OCT: return (double)info->recv_oct;
    case CONN_SEND_OCT: return (double)info->send_oct;
    case CONN_RECV_CNT: return (double)info->recv_cnt;
    case CONN_SEND_CNT: return (double)info->send_cnt;
    case CONN_CHANNELS: return info->channels;
    }
    return 0;
}

static void write_connections(struct scrape *s)
{
    static const struct {
        const char *name, *type, *help;
        enum connection_figure figure;
    } families[] = {
        {"rabbitmq_connection_incoming_bytes_total", "counter",
         "Total number of bytes received on a connection", CONN_RECV_OCT},
        {"rabbitmq_connection_outgoing_bytes_total", "counter",
         "Total number of bytes sent on a connection", CONN_SEND_OCT},
        {"rabbitmq_connection_incoming_packets_total", "counter",
         "Total number of packets received on a connection", CONN_RECV_CNT},
        {"rabbitmq_connection_outgoing_packets_total", "counter",
         "Total number of packets sent on a connection", CONN_SEND_CNT},
        {"rabbitmq_connection_channels", "gauge", "Channels on a connection", CONN_CHANNELS},
    };
    for (size_t i = 0; i < COUNT_OF(families); i++) {
        struct metrics_family f;
        metrics_family_begin(&f, &s->text, families[i].name, families[i].type, families[i].help,
                             s->per_object);
        for (size_t k = 0; k < s->nconns; k++) {
            struct metrics_label channel = LABEL("channel", s->conns[k].info.name);
            metrics_family_add(&f, &channel, 1, connection_figure(&s->conns[k].info, families[i].figure));
        }
        metrics_family_end(&f);
    }
}

/* Per channel, exchange and queue: the messages the exchange routed into the queue. */
static void write_queue_publishes(struct scrape *s)
{
    struct metrics_family f;
    metrics_family_begin(&f, &s->text, "rabbitmq_queue_messages_published_total", "counter",
                         "Total number of messages published to queues", s->per_object);
    for (size_t k = 0; k < s->nchans; k++) {
        const struct channel_exchange_metrics *x;
        for (x = s->chans[k].ch->metrics.exchanges; x; x = x->next) {
            const struct publish_tally_entry *r;
            for (r = x->tally.first; r; r = r->next) {
                if (r->queue->deleted)
                    continue;
                struct metrics_label labels[] = {
                    LABEL("channel", s->chans[k].label),
                    LABEL("queue_vhost", s->chans[k].vhost),
                    {"queue", (const char *)r->queue->name.ptr, r->queue->name.len},
                    LABEL("exchange_vhost", s->chans[k].vhost),
                    {"exchange", x->name, x->name_len},
                };
                metrics_family_add(&f, labels, 5, (double)r->count);
            }
        }
    }
    metrics_family_end(&f);
}

/* ---- totals and identity ---- */

static void write_totals(struct scrape *s)
{
    single(s, "rabbitmq_connections", "gauge", "Connections currently open", (double)s->nconns);
    single(s, "rabbitmq_channels", "gauge", "Channels currently open", (double)s->nchans);
    single(s, "rabbitmq_consumers", "gauge", "Consumers currently connected", (double)s->consumers);
    single(s, "rabbitmq_queues", "gauge", "Queues available", (double)s->queues);
}

static void write_info(struct scrape *s)
{
    static const char none[] = "none (Warren " PACKAGE_VERSION ", C)"; /* as /api/overview says */
    struct metrics_label build[] = {
        LABEL("rabbitmq_version", API_RABBITMQ_VERSION),
        LABEL("prometheus_plugin_version", API_RABBITMQ_VERSION),
        LABEL("prometheus_client_version", none),
        LABEL("erlang_version", none),
    };
    metrics_family_begin(&(struct metrics_family){0}, &s->text, "rabbitmq_build_info", "untyped",
                         "RabbitMQ & Erlang/OTP version info", true);
    metrics_sample(&s->text, "rabbitmq_build_info", build, COUNT_OF(build), 1);
    const struct broker *b = s->p->broker;
    char id[64];
    snprintf(id, sizeof id, "rabbitmq-cluster-id-%s", b->cluster_id);
    struct metrics_label identity[] = {
        LABEL("rabbitmq_node", b->node),
        LABEL("rabbitmq_cluster", b->node), /* the cluster_name /api/overview shows */
        LABEL("rabbitmq_cluster_permanent_id", id),
    };
    metrics_family_begin(&(struct metrics_family){0}, &s->text, "rabbitmq_identity_info", "untyped",
                         "RabbitMQ node & cluster identity info", true);
    metrics_sample(&s->text, "rabbitmq_identity_info", identity, COUNT_OF(identity), 1);
}

/* ---- rabbitmq_global_*: live, labelled in both forms ---- */

static const char *const queue_type_labels[CHURN_QUEUE_TYPES] = {
    [QUEUE_TYPE_CLASSIC] = "rabbit_classic_queue",
    [QUEUE_TYPE_QUORUM] = "rabbit_quorum_queue",
    [QUEUE_TYPE_STREAM] = "rabbit_stream_queue",
};

/* What queues of each type counted: deleted ones' (kept by the vhost) plus the live ones'. */
static void queue_type_stats(struct scrape *s, struct message_stats out[CHURN_QUEUE_TYPES])
{
    struct broker *b = s->p->broker;
    memcpy(out, b->churn.retired_queue_stats, sizeof b->churn.retired_queue_stats);
    struct list *pos;
    list_for_each(pos, &b->vhosts) {
        struct vhost *v = list_entry(pos, struct vhost, link);
        struct map_iter it;
        void *value;
        map_iter_init(&it, &v->queues);
        while (map_iter_next(&it, NULL, NULL, &value)) {
            const struct queue *q = value;
            message_stats_add(&out[q->args.type], &q->stats);
        }
    }
}

static void global_family(struct scrape *s, const char *name, const char *type, const char *help,
                          double value)
{
    const struct metrics_label protocol = LABEL("protocol", "amqp091");
    metrics_family_begin(&(struct metrics_family){0}, &s->text, name, type, help, true);
    metrics_sample(&s->text, name, &protocol, 1, value);
}

static void write_global_by_queue_type(struct scrape *s)
{
    static const struct {
        const char *name, *help;
        enum message_stat stat;
    } families[] = {
        {"rabbitmq_global_messages_acknowledged_total",
         "Total number of messages acknowledged by consumers", STAT_ACK},
        {"rabbitmq_global_messages_delivered_consume_auto_ack_total",
         "Total number of messages delivered to consumers using basic.consume with automatic "
         "acknowledgment", STAT_DELIVER_NO_ACK},
        {"rabbitmq_global_messages_delivered_consume_manual_ack_total",
         "Total number of messages delivered to consumers using basic.consume with manual "
         "acknowledgment", STAT_DELIVER},
        {"rabbitmq_global_messages_delivered_get_auto_ack_total",
         "Total number of messages delivered to consumers using basic.get with automatic "
         "acknowledgment", STAT_GET_NO_ACK},
        {"rabbitmq_global_messages_delivered_get_manual_ack_total",
         "Total number of messages delivered to consumers using basic.get with manual "
         "acknowledgment", STAT_GET},
        {"rabbitmq_global_messages_delivered_total", "Total number of messages delivered to consumers",
         STAT_DELIVER_GET},
        {"rabbitmq_global_messages_get_empty_total",
         "Total number of times basic.get operations fetched no message", STAT_GET_EMPTY},
        {"rabbitmq_global_messages_redelivered_total", "Total number of messages redelivered to consumers",
         STAT_REDELIVER},
    };
    struct message_stats by_type[CHURN_QUEUE_TYPES];
    queue_type_stats(s, by_type);
    for (size_t i = 0; i < COUNT_OF(families); i++) {
        metrics_family_begin(&(struct metrics_family){0}, &s->text, families[i].name, "counter",
                             families[i].help, true);
        for (int t = 0; t < CHURN_QUEUE_TYPES; t++) {
            struct metrics_label labels[] = {
                LABEL("protocol", "amqp091"),
                LABEL("queue_type", queue_type_labels[t]),
            };
            metrics_sample(&s->text, families[i].name, labels, 2,
                           (double)message_stats_get(&by_type[t], families[i].stat));
        }
    }
}

static void write_global(struct scrape *s)
{
    struct broker *b = s->p->broker;
    /* closed channels' and the management API's, plus every open channel's */
    struct message_stats totals = b->retired_stats;
    uint64_t received_confirm = b->churn.retired_received_confirm;
    for (size_t k = 0; k < s->nchans; k++) {
        channel_metrics_sum(&s->chans[k].ch->metrics, &totals);
        received_confirm += channel_received_confirm(s->chans[k].ch);
    }
    uint64_t published = message_stats_get(&totals, STAT_PUBLISH);
    uint64_t dropped = message_stats_get(&totals, STAT_DROP_UNROUTABLE);
    uint64_t returned = message_stats_get(&totals, STAT_RETURN_UNROUTABLE);
    global_family(s, "rabbitmq_global_consumers", "gauge", "Current number of consumers",
                  (double)s->consumers);
    write_global_by_queue_type(s);
    global_family(s, "rabbitmq_global_messages_confirmed_total", "counter",
                  "Total number of messages confirmed to publishers",
                  (double)message_stats_get(&totals, STAT_CONFIRM));
    global_family(s, "rabbitmq_global_messages_received_confirm_total", "counter",
                  "Total number of messages received from publishers expecting confirmations",
                  (double)received_confirm);
    global_family(s, "rabbitmq_global_messages_received_total", "counter",
                  "Total number of messages received from publishers", (double)published);
    /* routed to some queue: a message refused by a full queue was routed too, as RabbitMQ
     * counts it; only the unroutable ones were not */
    global_family(s, "rabbitmq_global_messages_routed_total", "counter",
                  "Total number of messages routed to queues or streams",
                  (double)(published - dropped - returned));
    global_family(s, "rabbitmq_global_messages_unroutable_dropped_total", "counter",
                  "Total number of messages published as non-mandatory into an exchange and "
                  "dropped as unroutable", (double)dropped);
    global_family(s, "rabbitmq_global_messages_unroutable_returned_total", "counter",
                  "Total number of messages published as mandatory into an exchange and returned "
                  "to the publisher as unroutable", (double)returned);
}

/* /metrics only, as RabbitMQ writes them; Warren has no file descriptor alarm. */
static void write_process(struct scrape *s)
{
    single(s, "process_start_time_seconds", "gauge",
           "Start time of the process since unix epoch in seconds.", s->p->started_at);
    single(s, "rabbitmq_alarms_file_descriptor_limit", "untyped",
           "is 1 if file descriptor limit alarm is in effect", 0);
    const struct alarms *alarms = &s->p->broker->alarms;
    single(s, "rabbitmq_alarms_free_disk_space_watermark", "untyped",
           "is 1 if free disk space watermark alarm is in effect", alarms_disk_alarm(alarms));
    single(s, "rabbitmq_alarms_memory_used_watermark", "untyped",
           "is 1 if VM memory watermark alarm is in effect", alarms_memory_alarm(alarms));
}

static void write_metrics(struct scrape *s)
{
    gather(s);
    write_node(s);
    write_auth(s);
    write_queues(s);
    write_channels(s);
    write_channel_exchanges(s);
    write_channel_queues(s);
    write_connections(s);
    write_queue_publishes(s);
    write_totals(s);
    write_info(s);
    write_global(s);
    if (!s->per_object)
        write_process(s);
    free(s->conns);
    free(s->chans);
}

/* ---- the endpoint ---- */

static void handle(void *ctx, const struct http_request *req, struct http_response *res)
{
    struct scrape s = {.p = ctx};
    if (!strcmp(req->path, "/metrics")) {
        s.per_object = false;
    } else if (!strcmp(req->path, "/metrics/per-object")) {
        s.per_object = true;
    } else {
        res->status = 404;
        return;
    }
    write_metrics(&s);
    res->status = 200;
    snprintf(res->headers, sizeof res->headers, "%s", CONTENT_HEADERS);
    res->body = s.text.p;
    res->body_len = s.text.len;
}

int prometheus_start(struct prometheus *p, uv_loop_t *loop, struct broker *broker,
                     struct tcp_server *tcp, char *why, size_t why_size)
{
    p->broker = broker;
    p->tcp = tcp;
    p->started_ms = uv_now(loop);
    struct timeval now;
    gettimeofday(&now, NULL);
    p->started_at = (double)now.tv_sec + (double)now.tv_usec / 1e6;
    const struct broker_config *cfg = &broker->config;
    struct http_listen where = {
        .bind = cfg->prometheus_bind ? cfg->prometheus_bind : cfg->bind,
        .port = cfg->prometheus_port,
        .timeouts = &cfg->prometheus_timeouts, .https = &cfg->prometheus_ssl, .ssl_keys = "prometheus.ssl", .what = "Prometheus metrics"};
    return http_server_start(&p->http, loop, &where, handle, p, why, why_size);
}

void prometheus_stop(struct prometheus *p)
{
    http_server_stop(&p->http);
}
