/* /api/overview, whoami, nodes, vhosts, the aliveness test and the health checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin/api_internal.h"
#include "admin/definitions.h"
#include "core/alloc.h"
#include "core/process.h"
#include "model/broker.h"
#include "model/exchange.h"
#include "model/queue.h"
#include "model/vhost.h"
#include "net/tcp.h"
#include "proto/connection.h"

struct totals {
    size_t connections, channels, consumers, exchanges, queues;
    uint64_t ready, unacked;
};

static void count_connection(struct connection *c, void *ctx)
{
    struct totals *t = ctx;
    t->connections++;
    t->channels += connection_channel_count(c);
}

static void count_objects(struct api *a, struct totals *t)
{
    *t = (struct totals){0};
    tcp_server_each_connection(a->tcp, count_connection, t);
    struct list *pos;
    for (pos = a->broker->vhosts.next; pos != &a->broker->vhosts; pos = pos->next) {
        struct vhost *v = list_entry(pos, struct vhost, link);
        t->exchanges += map_count(&v->exchanges);
        t->queues += map_count(&v->queues);
        struct map_iter it;
        void *value;
        map_iter_init(&it, &v->queues);
        while (map_iter_next(&it, NULL, NULL, &value)) {
            struct queue *q = value;
            t->consumers += q->consumer_count;
            t->ready += queue_message_count(q);
            t->unacked += q->unacked;
        }
    }
}

static json_t *exchange_type(const char *name, const char *description)
{
    return json_pack("{s:s,s:s,s:b}", "name", name, "description", description, "enabled", 1);
}

static json_t *listener(struct api *a, const char *protocol, const char *ip, int port)
{
    return json_pack("{s:s,s:s,s:s,s:i,s:{}}", "node", a->broker->node, "protocol", protocol,
                     "ip_address", ip, "port", port, "socket_opts");
}

void api_overview(struct api_request *r)
{
    struct api *a = r->api;
    const struct broker_config *cfg = &a->broker->config;
    struct totals t;
    count_objects(a, &t);
    json_t *types = json_array();
    json_array_append_new(types, exchange_type("direct", "AMQP direct exchange, as per the AMQP specification"));
    json_array_append_new(types, exchange_type("fanout", "AMQP fanout exchange, as per the AMQP specification"));
    json_array_append_new(types, exchange_type("headers", "AMQP headers exchange, as per the AMQP specification"));
    json_array_append_new(types, exchange_type("topic", "AMQP topic exchange, as per the AMQP specification"));
    json_array_append_new(types, exchange_type("x-delayed-message", "Delayed Message Exchange"));
    json_t *listeners = json_array();
    json_array_append_new(listeners, listener(a, "amqp", cfg->bind, cfg->port));
    /* RabbitMQ's order: http, http/prometheus, https, https/prometheus (each when set) */
    const char *mbind = cfg->management_bind ? cfg->management_bind : cfg->bind;
    if (cfg->management_port)
        json_array_append_new(listeners, listener(a, "http", mbind, cfg->management_port));
    const char *pbind = cfg->prometheus_bind ? cfg->prometheus_bind : cfg->bind;
    if (cfg->prometheus_port)
        json_array_append_new(listeners, listener(a, "http/prometheus", pbind, cfg->prometheus_port));
    if (cfg->management_ssl.port)
        json_array_append_new(listeners, listener(a, "https", cfg->management_ssl.bind ?
                                                  cfg->management_ssl.bind : mbind,
                                                  cfg->management_ssl.port));
    if (cfg->prometheus_ssl.port)
        json_array_append_new(listeners, listener(a, "https/prometheus", cfg->prometheus_ssl.bind ?
                                                  cfg->prometheus_ssl.bind : pbind,
                                                  cfg->prometheus_ssl.port));
    json_t *o = json_object();
    json_object_set_new(o, "management_version", json_string(API_RABBITMQ_VERSION));
    json_object_set_new(o, "rates_mode", json_string("basic"));
    json_object_set_new(o, "exchange_types", types);
    json_object_set_new(o, "product_version", json_string(PACKAGE_VERSION));
    json_object_set_new(o, "product_name", json_string("Warren"));
    json_object_set_new(o, "rabbitmq_version", json_string(API_RABBITMQ_VERSION));
    json_object_set_new(o, "cluster_name", json_string(a->broker->node));
    /* no Erlang here: tools print the field, so it names what runs instead */
    json_object_set_new(o, "erlang_version", json_string("none (Warren " PACKAGE_VERSION ", C)"));
    json_object_set_new(o, "erlang_full_version", json_string("none (Warren " PACKAGE_VERSION ", C)"));
    json_object_set_new(o, "disable_stats", json_false());
    json_object_set_new(o, "enable_queue_totals", json_false());
    struct message_stats totals;
    api_message_totals(a, &totals);
    json_object_set_new(o, "message_stats", api_overview_stats(a, &totals, &a->broker->overview_rates));
    json_object_set_new(o, "churn_rates", json_object());
    json_object_set_new(o, "queue_totals",
                        json_pack("{s:I,s:I,s:I}", "messages", (json_int_t)(t.ready + t.unacked),
                                  "messages_ready", (json_int_t)t.ready,
                                  "messages_unacknowledged", (json_int_t)t.unacked));
    json_object_set_new(o, "object_totals",
                        json_pack("{s:I,s:I,s:I,s:I,s:I}", "channels", (json_int_t)t.channels,
                                  "connections", (json_int_t)t.connections,
                                  "consumers", (json_int_t)t.consumers,
                                  "exchanges", (json_int_t)t.exchanges,
                                  "queues", (json_int_t)t.queues));
    json_object_set_new(o, "statistics_db_event_queue", json_integer(0));
    json_object_set_new(o, "node", json_string(a->broker->node));
    json_object_set_new(o, "listeners", listeners);
    char port[16];
    snprintf(port, sizeof port, "%d",
             cfg->management_port ? cfg->management_port : cfg->management_ssl.port);
    json_object_set_new(o, "contexts",
                        json_pack("[{s:s,s:s,s:s,s:s}]", "node", a->broker->node, "description",
                                  "RabbitMQ Management", "path", "/", "port", port));
    api_reply_object(r, o);
}

void api_whoami(struct api_request *r)
{
    json_t *tags = json_array();
    for (size_t i = 0; i < r->auth->tags.count; i++)
        json_array_append_new(tags, json_string(r->auth->tags.items[i]));
    api_reply_json(r, 200, json_pack("{s:s,s:o}", "name", r->user, "tags", tags));
}

static json_t *node_object(struct api *a)
{
    struct totals t;
    count_objects(a, &t);
    uint64_t uptime = uv_now(a->http.loop) - a->started_ms;
    char pid[24];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    json_t *o = json_pack("{s:s,s:s,s:b,s:I,s:s,s:[],s:[]}", "name", a->broker->node, "type", "disc",
                          "running", 1, "uptime", (json_int_t)uptime, "os_pid", pid,
                          "partitions", "cluster_links");
    uint64_t fds = process_fd_limit();
    json_object_set_new(o, "fd_used", json_integer((json_int_t)process_open_fds()));
    json_object_set_new(o, "fd_total", json_integer((json_int_t)fds));
    json_object_set_new(o, "sockets_used", json_integer((json_int_t)t.connections));
    json_object_set_new(o, "sockets_total", json_integer((json_int_t)fds));
    /* the monitors' last samples and limits, as RabbitMQ's node shows them */
    const struct alarms *alarms = &a->broker->alarms;
    json_object_set_new(o, "mem_used", json_integer((json_int_t)alarms->memory_used));
    json_object_set_new(o, "mem_limit", json_integer((json_int_t)alarms->memory_limit));
    json_object_set_new(o, "mem_alarm", json_boolean(alarms_memory_alarm(alarms)));
    json_object_set_new(o, "disk_free", json_integer((json_int_t)alarms->disk_free));
    json_object_set_new(o, "disk_free_limit", json_integer((json_int_t)alarms->disk_free_limit));
    json_object_set_new(o, "disk_free_alarm", json_boolean(alarms_disk_alarm(alarms)));
    /* RabbitMQ counts Erlang processes: here the objects that would be one there */
    json_object_set_new(o, "proc_used", json_integer((json_int_t)(t.connections + t.channels + t.queues)));
    json_object_set_new(o, "proc_total", json_integer(1048576));
    json_object_set_new(o, "processors", json_integer(system_processors()));
    json_object_set_new(o, "run_queue", json_integer(0));
    return o;
}

void api_nodes(struct api_request *r)
{
    json_t *list = json_array();
    json_array_append_new(list, node_object(r->api));
    api_reply_list(r, list);
}

void api_node(struct api_request *r)
{
    if (strcmp(r->seg[1], r->api->broker->node)) {
        api_not_found(r);
        return;
    }
    api_reply_object(r, node_object(r->api));
}

static json_t *vhost_object(struct api *a, struct vhost *v)
{
    const char *description = v->description ? v->description : "";
    uint64_t ready = 0, unacked = 0;
    struct map_iter it;
    void *value;
    map_iter_init(&it, &v->queues);
    while (map_iter_next(&it, NULL, NULL, &value)) {
        ready += queue_message_count(value);
        unacked += ((struct queue *)value)->unacked;
    }
    json_t *tags = json_array();
    for (size_t i = 0; i < v->tags.count; i++)
        json_array_append_new(tags, json_string(v->tags.items[i]));
    /* RabbitMQ 3.10 reads default_queue_type back as "undefined", whatever was set */
    json_t *o = json_pack("{s:s,s:s,s:O,s:s,s:{s:s,s:O},s:b,s:{s:s}}", "name", v->name,
                          "description", description, "tags", tags, "default_queue_type",
                          "undefined", "metadata", "description", description, "tags", tags,
                          "tracing", v->tracing, "cluster_state", a->broker->node, "running");
    json_decref(tags);
    json_object_set_new(o, "messages", json_integer((json_int_t)(ready + unacked)));
    json_object_set_new(o, "messages_ready", json_integer((json_int_t)ready));
    json_object_set_new(o, "messages_unacknowledged", json_integer((json_int_t)unacked));
    return o;
}

void api_vhosts(struct api_request *r)
{
    json_t *list = json_array();
    struct list *pos;
    list_for_each(pos, &r->api->broker->vhosts) {
        struct vhost *v = list_entry(pos, struct vhost, link);
        if (api_may_see_vhost(r, v))
            json_array_append_new(list, vhost_object(r->api, v));
    }
    api_sort(list);
    api_reply_list(r, list);
}

/* RabbitMQ's parse_bool for "tracing": true, false or their strings; absent leaves it. */
static bool tracing_of(json_t *value, int *out)
{
    *out = -1;
    if (!value)
        return true;
    const char *s = json_is_string(value) ? json_string_value(value) : NULL;
    if (json_is_boolean(value))
        *out = json_is_true(value);
    else if (s && (!strcmp(s, "true") || !strcmp(s, "false")))
        *out = !strcmp(s, "true");
    return *out >= 0;
}

/* PUT replaces the description and tags (absent: none), as RabbitMQ's does, and turns the
 * firehose on or off when "tracing" says so; a new vhost gives its creator every permission
 * in it. */
static void put_vhost(struct api_request *r, struct vhost *v)
{
    json_t *body = api_body_object(r);
    if (!body)
        return;
    struct string_list tags = {0};
    json_t *description = json_object_get(body, "description");
    json_t *queue_type = json_object_get(body, "default_queue_type");
    int tracing;
    if (!tracing_of(json_object_get(body, "tracing"), &tracing)) { /* RabbitMQ's reason */
        api_reply_json(r, 400, json_pack("{s:s,s:[s,O]}", "error", "bad_request", "reason",
                                         "not_boolean", json_object_get(body, "tracing")));
        json_decref(body);
        return;
    }
    if (!definitions_tags(json_object_get(body, "tags"), &tags) ||
        (description && !json_is_string(description)) || (queue_type && !json_is_string(queue_type))) {
        api_reply_error(r, 400, "bad_request", "not_json");
        string_list_free(&tags);
        json_decref(body);
        return;
    }
    bool created = !v;
    if (!v) {
        v = broker_add_vhost(r->api->broker, r->seg[1]);
        char why[200];
        broker_set_permissions(r->api->broker, v, r->auth->name, ".*", ".*", ".*", why, sizeof why);
    }
    free(v->description);
    v->description = xstrdup(description ? json_string_value(description) : "");
    string_list_free(&v->tags);
    v->tags = tags;
    if (queue_type) {
        free(v->default_queue_type);
        v->default_queue_type = xstrdup(json_string_value(queue_type));
    }
    if (tracing >= 0)
        vhost_set_tracing(v, tracing);
    json_decref(body);
    api_reply_empty(r, created ? 201 : 204);
}

void api_vhost_one(struct api_request *r)
{
    struct vhost *v = broker_find_vhost(r->api->broker, (const uint8_t *)r->seg[1], r->seglen[1]);
    if (r->http->method == HTTP_PUT) {
        put_vhost(r, v);
    } else if (!v) {
        api_not_found(r);
    } else if (!api_may_see_vhost(r, v)) {
        api_reply_error(r, 401, "not_authorised", "Not administrator user"); /* RabbitMQ's text */
    } else if (r->http->method == HTTP_DELETE) {
        broker_delete_vhost(r->api->broker, v);
        api_reply_empty(r, 204);
    } else {
        api_reply_object(r, vhost_object(r->api, v));
    }
}

/* RabbitMQ's aliveness test: declares the queue aliveness-test, publishes a message to it
 * through the default exchange and gets it back. */
void api_aliveness(struct api_request *r)
{
    struct vhost *v = api_vhost(r, 1);
    if (!v)
        return;
    static const char name[] = "aliveness-test";
    struct amqp_bytes qname = amqp_bytes_of(name, sizeof name - 1);
    struct outcome out;
    struct queue_declare decl = {.name = qname, .arguments = amqp_bytes_of("", 0),
                                 .who = api_session(r, v)};
    if (!vhost_declare_queue(v, &decl, &out)) {
        api_reply_json(r, 503, json_pack("{s:s,s:s}", "status", "failed", "reason", out.text));
        return;
    }
    struct amqp_buf header;
    amqp_buf_init(&header);
    static const char body[] = "test_message";
    struct amqp_content_header h = {.class_id = AMQP_CLASS_BASIC, .body_size = sizeof body - 1};
    amqp_content_header_encode(&header, &h);
    struct message *m = message_new(amqp_bytes_of("", 0), qname,
                                    amqp_bytes_of(header.data, header.len), h.body_size, h.body_size);
    amqp_buf_free(&header);
    message_write_body(m, 0, amqp_bytes_of(body, h.body_size));
    struct publish_result result = {0};
    bool published = vhost_publish(v, &m, api_session(r, v), &result, &out);
    message_unref(m);
    struct queue_entry e;
    bool got = false;
    struct queue *q = published ? vhost_get(v, qname, api_session(r, v), NULL, &e, &got, &out) : NULL;
    if (q && got)
        queue_settle(q, &e);
    if (!got)
        api_reply_json(r, 503, json_pack("{s:s,s:s}", "status", "failed", "reason",
                                         "aliveness-test message not received"));
    else
        api_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

/* alarms and local-alarms: one node, so the same alarms with RabbitMQ's two texts. */
void api_health_alarms(struct api_request *r)
{
    const struct broker *b = r->api->broker;
    enum alarm_resource in_effect[2];
    size_t n = alarms_list(&b->alarms, in_effect);
    if (!n) {
        api_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
        return;
    }
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, json_pack("{s:s,s:s}", "node", b->node, "resource",
                                              alarm_resource_name(in_effect[i])));
    bool local = strcmp(r->seg[2], "local-alarms") == 0;
    api_reply_json(r, 503, json_pack("{s:o,s:s,s:s}", "alarms", list, "reason",
                                     local ? "There are alarms in effect on the node"
                                           : "There are alarms in effect in the cluster",
                                     "status", "failed"));
}

void api_health_port_listener(struct api_request *r)
{
    const struct broker_config *cfg = &r->api->broker->config;
    char *end;
    long port = strtol(r->seg[3], &end, 10);
    if (!*r->seg[3] || *end) {
        api_reply_error(r, 400, "bad_request", "Invalid port");
        return;
    }
    if (port == cfg->port || (cfg->management_port && port == cfg->management_port) ||
        (cfg->prometheus_port && port == cfg->prometheus_port) ||
        (cfg->management_ssl.port && port == cfg->management_ssl.port) ||
        (cfg->prometheus_ssl.port && port == cfg->prometheus_ssl.port)) {
        api_reply_json(r, 200, json_pack("{s:s,s:i}", "status", "ok", "port", (int)port));
        return;
    }
    json_t *ports = json_array(); /* RabbitMQ's order: management, prometheus, ..., AMQP */
    json_array_append_new(ports, json_integer(cfg->management_port));
    if (cfg->prometheus_port)
        json_array_append_new(ports, json_integer(cfg->prometheus_port));
    json_array_append_new(ports, json_integer(cfg->port));
    api_reply_json(r, 503, json_pack("{s:s,s:s,s:i,s:o}", "status", "failed", "reason",
                                     "No active listener", "missing", (int)port, "ports", ports));
}

void api_health_protocol_listener(struct api_request *r)
{
    const char *protocol = r->seg[3];
    bool prometheus = r->api->broker->config.prometheus_port != 0;
    if (!strcmp(protocol, "amqp") || !strcmp(protocol, "amqp091") || !strcmp(protocol, "http") ||
        (prometheus && !strcmp(protocol, "http/prometheus"))) { /* sent as http%2Fprometheus */
        api_reply_json(r, 200, json_pack("{s:s,s:s}", "status", "ok", "protocol", protocol));
        return;
    }
    json_t *protocols = json_pack("[s,s]", "amqp", "http");
    if (prometheus)
        json_array_append_new(protocols, json_string("http/prometheus"));
    api_reply_json(r, 503, json_pack("{s:s,s:s,s:s,s:o}", "status", "failed", "reason",
                                     "No active listener", "missing", protocol, "protocols",
                                     protocols));
}

/* RabbitMQ's cluster-wide parameters: the cluster name and the id it made at first boot. */
void api_global_parameters(struct api_request *r)
{
    char id[64];
    snprintf(id, sizeof id, "rabbitmq-cluster-id-%s", r->api->broker->cluster_id);
    json_t *list = json_pack("[{s:s,s:s},{s:s,s:s}]", "name", "cluster_name", "value",
                             r->api->broker->node, "name", "internal_cluster_id", "value", id);
    api_reply_list(r, list);
}

void api_health_virtual_hosts(struct api_request *r)
{
    api_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}
