/* /api/connections (list, one, close), a connection's channels, /api/channels, /api/consumers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/api_internal.h"
#include "admin/json_table.h"
#include "amqp_table.h"
#include "core/alloc.h"
#include "model/vhost.h"
#include "net/tcp.h"
#include "proto/channel.h"
#include "proto/connection.h"

void api_conn_list_push(struct api_conn_list *l, struct connection *c)
{
    if (l->len == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->items = xrealloc_array(l->items, l->cap, sizeof *l->items);
    }
    l->items[l->len++] = c;
}

static void collect(struct connection *c, void *ctx)
{
    api_conn_list_push(ctx, c);
}

void api_all_connections(struct api *a, struct api_conn_list *l)
{
    *l = (struct api_conn_list){0};
    tcp_server_each_connection(a->tcp, collect, l);
}

/* Those the request's user may see (all for administrators and monitoring users, else its
 * own), and under /api/vhosts/V/ only those in V. */
static void visible_connections(struct api_request *r, struct api_conn_list *l)
{
    api_all_connections(r->api, l);
    bool everything = api_sees_everything(r);
    const char *vhost = !strcmp(r->seg[0], "vhosts") ? r->seg[1] : NULL;
    size_t kept = 0;
    for (size_t i = 0; i < l->len; i++) {
        struct connection_info info;
        connection_info(l->items[i], &info);
        if ((everything || !strcmp(info.user, r->user)) && (!vhost || !strcmp(info.vhost, vhost)))
            l->items[kept++] = l->items[i];
    }
    l->len = kept;
}

/* "host:port" (the last ':' splits, so IPv6 hosts keep theirs). */
static void split_address(const char *s, size_t len, json_t *o, const char *host_key,
                          const char *port_key)
{
    const char *colon = NULL;
    for (size_t i = 0; i < len; i++)
        if (s[i] == ':')
            colon = s + i;
    if (!colon) {
        json_object_set_new(o, host_key, json_stringn(s, len));
        return;
    }
    json_object_set_new(o, host_key, json_stringn(s, (size_t)(colon - s)));
    json_object_set_new(o, port_key, json_integer(atoi(colon + 1)));
}

static void add_addresses(json_t *o, const char *name)
{
    const char *arrow = strstr(name, " -> ");
    if (!arrow)
        return;
    split_address(name, (size_t)(arrow - name), o, "peer_host", "peer_port");
    split_address(arrow + 4, strlen(arrow + 4), o, "host", "port");
}

/* client_properties' connection_name, when the client sent a string there. */
static json_t *user_provided_name(struct amqp_bytes client_properties)
{
    struct amqp_field f;
    if (!client_properties.len || !amqp_table_get(client_properties, "connection_name", &f) ||
        f.type != 'S')
        return NULL;
    return json_table_string(f.v.bytes.ptr, f.v.bytes.len);
}

/* RabbitMQ lists these on every connection, null on plain TCP (an empty field). */
static void add_tls_info(json_t *o, const struct connection *c)
{
    struct connection_tls_info t;
    connection_tls_info(c, &t);
    const struct {
        const char *key, *value;
    } fields[] = {{"ssl_protocol", t.protocol},         {"ssl_key_exchange", t.key_exchange},
                  {"ssl_cipher", t.cipher},             {"ssl_hash", t.hash},
                  {"peer_cert_subject", t.peer_subject}, {"peer_cert_issuer", t.peer_issuer},
                  {"peer_cert_validity", t.peer_validity}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        json_object_set_new(o, fields[i].key,
                            fields[i].value[0] ? json_string(fields[i].value) : json_null());
}

static json_t *connection_object(struct api *a, struct connection *c)
{
    struct connection_info info;
    connection_info(c, &info);
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(info.name));
    json_object_set_new(o, "node", json_string(a->broker->node));
    json_object_set_new(o, "type", json_string("network"));
    json_object_set_new(o, "user", json_string(info.user));
    json_object_set_new(o, "user_who_performed_action", json_string(info.user));
    json_object_set_new(o, "vhost", json_string(info.vhost));
    add_addresses(o, info.name);
    json_object_set_new(o, "client_properties", json_table_from_body(info.client_properties));
    json_object_set_new(o, "channels", json_integer(info.channels));
    json_object_set_new(o, "channel_max", json_integer(info.channel_max));
    json_object_set_new(o, "frame_max", json_integer(info.frame_max));
    json_object_set_new(o, "timeout", json_integer(info.heartbeat));
    json_object_set_new(o, "state", json_string(info.state));
    json_object_set_new(o, "protocol", json_string("AMQP 0-9-1"));
    json_object_set_new(o, "auth_mechanism", json_string(info.auth_mechanism));
    json_object_set_new(o, "connected_at", json_integer((json_int_t)info.connected_at_ms));
    json_object_set_new(o, "ssl", json_boolean(info.ssl));
    add_tls_info(o, c);
    json_object_set_new(o, "recv_oct", json_integer((json_int_t)info.recv_oct));
    json_object_set_new(o, "recv_cnt", json_integer((json_int_t)info.recv_cnt));
    json_object_set_new(o, "send_oct", json_integer((json_int_t)info.send_oct));
    json_object_set_new(o, "send_cnt", json_integer((json_int_t)info.send_cnt));
    json_t *name = user_provided_name(info.client_properties);
    if (name) /* RabbitMQ leaves it out when the client named nothing */
        json_object_set_new(o, "user_provided_name", name);
    return o;
}

void api_connections(struct api_request *r)
{
    struct api_conn_list l;
    visible_connections(r, &l);
    json_t *list = json_array();
    for (size_t i = 0; i < l.len; i++)
        json_array_append_new(list, connection_object(r->api, l.items[i]));
    free(l.items);
    api_sort(list);
    api_reply_list(r, list);
}

static struct connection *find_connection(struct api_request *r, const char *name)
{
    struct api_conn_list l;
    visible_connections(r, &l);
    struct connection *found = NULL;
    for (size_t i = 0; i < l.len && !found; i++) {
        struct connection_info info;
        connection_info(l.items[i], &info);
        if (!strcmp(info.name, name))
            found = l.items[i];
    }
    free(l.items);
    return found;
}

void api_connection(struct api_request *r)
{
    struct connection *c = find_connection(r, r->seg[1]);
    if (!c) {
        api_not_found(r);
        return;
    }
    if (r->http->method == HTTP_GET) {
        api_reply_object(r, connection_object(r->api, c));
        return;
    }
    /* RabbitMQ's default when no X-Reason header says why */
    connection_force_close(c, r->http->x_reason ? r->http->x_reason : "Closed via management plugin");
    api_reply_empty(r, 204);
}

/* ---- channels and consumers ---- */

static json_t *channel_details(struct api *a, struct connection *c, struct channel *ch,
                               bool for_consumer)
{
    struct connection_info info;
    connection_info(c, &info);
    char name[160];
    snprintf(name, sizeof name, "%s (%u)", info.name, ch->id);
    json_t *o = json_object();
    if (for_consumer) {
        json_object_set_new(o, "name", json_string(name));
        json_object_set_new(o, "number", json_integer(ch->id));
        json_object_set_new(o, "connection_name", json_string(info.name));
        json_object_set_new(o, "node", json_string(a->broker->node));
        json_object_set_new(o, "user", json_string(info.user));
    } else {
        json_object_set_new(o, "name", json_string(info.name));
    }
    add_addresses(o, info.name);
    json_object_del(o, "host");
    json_object_del(o, "port");
    return o;
}

static json_t *channel_object(struct api *a, struct connection *c, struct channel *ch)
{
    struct connection_info info;
    connection_info(c, &info);
    char name[160];
    snprintf(name, sizeof name, "%s (%u)", info.name, ch->id);
    size_t consumers = 0;
    struct list *pos;
    for (pos = ch->consumers.next; pos != &ch->consumers; pos = pos->next)
        consumers++;
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(name));
    json_object_set_new(o, "number", json_integer(ch->id));
    json_object_set_new(o, "node", json_string(a->broker->node));
    json_object_set_new(o, "user", json_string(info.user));
    json_object_set_new(o, "user_who_performed_action", json_string(info.user));
    json_object_set_new(o, "vhost", json_string(info.vhost));
    json_object_set_new(o, "connection_details", channel_details(a, c, ch, false));
    json_object_set_new(o, "consumer_count", json_integer((json_int_t)consumers));
    json_object_set_new(o, "prefetch_count", json_integer(ch->consumer_prefetch));
    json_object_set_new(o, "global_prefetch_count", json_integer(ch->channel_prefetch));
    json_object_set_new(o, "messages_unacknowledged", json_integer(ch->unacked_count));
    json_object_set_new(o, "messages_unconfirmed", json_integer(0));
    json_object_set_new(o, "messages_uncommitted", json_integer(0));
    json_object_set_new(o, "acks_uncommitted", json_integer(0));
    json_object_set_new(o, "confirm", json_boolean(ch->confirm));
    json_object_set_new(o, "transactional", json_boolean(ch->tx));
    json_object_set_new(o, "state", json_string(ch->state == CHANNEL_OPEN ? "running" : "closing"));
    struct message_stats stats;
    channel_stats(ch, &stats);
    api_put_channel_stats(a, o, &stats, &ch->rates);
    return o;
}

void api_message_totals(struct api *a, struct message_stats *out)
{
    *out = a->broker->retired_stats;
    struct api_conn_list l;
    api_all_connections(a, &l);
    for (size_t i = 0; i < l.len; i++) {
        uint16_t max = connection_channel_max(l.items[i]);
        for (uint32_t id = 1; id <= max; id++) {
            struct channel *ch = connection_channel(l.items[i], (uint16_t)id);
            if (ch)
                channel_metrics_sum(&ch->metrics, out);
        }
    }
    free(l.items);
}

typedef void (*channel_visit)(struct api *a, struct connection *c, struct channel *ch, json_t *list,
                              const char *vhost);

static void each_channel(struct api *a, struct connection *c, channel_visit visit, json_t *list,
                         const char *vhost)
{
    uint16_t max = connection_channel_max(c);
    for (uint32_t id = 1; id <= max; id++) {
        struct channel *ch = connection_channel(c, (uint16_t)id);
        if (ch)
            visit(a, c, ch, list, vhost);
    }
}

static void add_channel(struct api *a, struct connection *c, struct channel *ch, json_t *list,
                        const char *vhost)
{
    (void)vhost;
    json_array_append_new(list, channel_object(a, c, ch));
}

void api_connection_channels(struct api_request *r)
{
    struct connection *c = find_connection(r, r->seg[1]);
    if (!c) {
        api_not_found(r);
        return;
    }
    json_t *list = json_array();
    each_channel(r->api, c, add_channel, list, NULL);
    api_reply_list(r, list);
}

void api_channels(struct api_request *r)
{
    struct api_conn_list l;
    visible_connections(r, &l);
    json_t *list = json_array();
    for (size_t i = 0; i < l.len; i++)
        each_channel(r->api, l.items[i], add_channel, list, NULL);
    free(l.items);
    api_sort(list);
    api_reply_list(r, list);
}

static void channel_consumers(struct api *a, struct connection *c, struct channel *ch,
                              const char *vhost, const struct queue *queue, json_t *list);

/* /api/channels/NAME: "CONNECTION (N)". */
void api_channel(struct api_request *r)
{
    const char *name = r->seg[1];
    const char *open = strrchr(name, '(');
    char *end;
    long id = open ? strtol(open + 1, &end, 10) : 0;
    if (!open || open == name || open[-1] != ' ' || id < 1 || id > 65535 || strcmp(end, ")")) {
        api_not_found(r);
        return;
    }
    char *conn_name = xstrdup(name);
    conn_name[open - 1 - name] = '\0';
    struct connection *c = find_connection(r, conn_name);
    free(conn_name);
    struct channel *ch = c ? connection_channel(c, (uint16_t)id) : NULL;
    if (!ch) {
        api_not_found(r);
        return;
    }
    json_t *o = channel_object(r->api, c, ch);
    json_t *consumers = json_array();
    channel_consumers(r->api, c, ch, NULL, NULL, consumers);
    json_object_set_new(o, "consumer_details", consumers);
    json_object_set_new(o, "deliveries", json_array());
    json_object_set_new(o, "publishes", json_array());
    api_reply_object(r, o);
}

static json_t *consumer_object(struct api *a, struct connection *c, struct channel *ch,
                               const struct channel_consumer *cc, const struct vhost *v)
{
    json_t *o = json_object();
    json_object_set_new(o, "consumer_tag", json_stringn(cc->tag.data, cc->tag.len));
    json_object_set_new(o, "queue", json_pack("{s:o,s:s}", "name",
                                              json_table_string(cc->base.queue->name.ptr, cc->base.queue->name.len),
                                              "vhost", v->name));
    json_object_set_new(o, "channel_details", channel_details(a, c, ch, true));
    json_object_set_new(o, "ack_required", json_boolean(!cc->no_ack));
    json_object_set_new(o, "exclusive", json_boolean(cc->base.exclusive));
    json_object_set_new(o, "prefetch_count", json_integer(cc->prefetch));
    json_object_set_new(o, "arguments", json_table_from_body(cc->arguments));
    json_object_set_new(o, "active", json_true());
    json_object_set_new(o, "activity_status", json_string("up"));
    return o;
}

/* A channel's consumers in vhost (NULL: any), of queue (NULL: any), onto list. */
static void channel_consumers(struct api *a, struct connection *c, struct channel *ch,
                              const char *vhost, const struct queue *queue, json_t *list)
{
    struct vhost *v = connection_vhost(c);
    if (!v || (vhost && strcmp(v->name, vhost)))
        return;
    struct list *pos;
    list_for_each(pos, &ch->consumers) {
        const struct channel_consumer *cc = list_entry(pos, struct channel_consumer, link);
        if (cc->base.queue && (!queue || cc->base.queue == queue))
            json_array_append_new(list, consumer_object(a, c, ch, cc, v));
    }
}

static void add_consumers(struct api *a, struct connection *c, struct channel *ch, json_t *list,
                          const char *vhost)
{
    channel_consumers(a, c, ch, vhost, NULL, list);
}

json_t *api_queue_consumers(struct api_request *r, const struct queue *q)
{
    struct api_conn_list l;
    api_all_connections(r->api, &l);
    json_t *list = json_array();
    for (size_t i = 0; i < l.len; i++) {
        uint16_t max = connection_channel_max(l.items[i]);
        for (uint32_t id = 1; id <= max; id++) {
            struct channel *ch = connection_channel(l.items[i], (uint16_t)id);
            if (ch)
                channel_consumers(r->api, l.items[i], ch, NULL, q, list);
        }
    }
    free(l.items);
    return list;
}

void api_consumers(struct api_request *r)
{
    const char *vhost = NULL;
    if (r->nseg == 2) {
        struct vhost *v = api_vhost(r, 1);
        if (!v)
            return;
        vhost = v->name;
    }
    struct api_conn_list l;
    visible_connections(r, &l);
    json_t *list = json_array();
    for (size_t i = 0; i < l.len; i++)
        each_channel(r->api, l.items[i], add_consumers, list, vhost);
    free(l.items);
    api_reply_list(r, list);
}
