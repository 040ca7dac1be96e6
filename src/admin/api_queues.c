/* /api/queues: list, one, declare (PUT), delete, purge, get, and its bindings. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/api_internal.h"
#include "admin/json_table.h"
#include "core/alloc.h"
#include "amqp_spec.h"
#include "model/exchange.h"
#include "model/queue.h"
#include "model/vhost.h"

/* What a queued message costs here: struct message, the ring's entry and its arrival mark. */
#define QUEUE_ENTRY_OVERHEAD 96

static json_t *queue_object(struct api *a, const struct vhost *v, struct queue *q)
{
    uint32_t ready = queue_message_count(q);
    json_t *o = json_object();
    json_object_set_new(o, "name", json_table_string(q->name.ptr, q->name.len));
    json_object_set_new(o, "vhost", json_string(v->name));
    json_object_set_new(o, "durable", json_boolean(q->durable));
    json_object_set_new(o, "auto_delete", json_boolean(q->auto_delete));
    json_object_set_new(o, "exclusive", json_boolean(q->exclusive));
    json_object_set_new(o, "arguments", json_table_from_body(q->arguments));
    json_object_set_new(o, "messages", json_integer((json_int_t)(ready + q->unacked)));
    json_object_set_new(o, "messages_ready", json_integer(ready));
    json_object_set_new(o, "messages_unacknowledged", json_integer((json_int_t)q->unacked));
    json_object_set_new(o, "message_bytes", json_integer((json_int_t)(q->ready_bytes + q->unacked_bytes)));
    json_object_set_new(o, "message_bytes_ready", json_integer((json_int_t)q->ready_bytes));
    json_object_set_new(o, "message_bytes_unacknowledged", json_integer((json_int_t)q->unacked_bytes));
    uint64_t depth[DEPTH_COUNT] = {ready + q->unacked, ready, q->unacked};
    depth_rates_sample(&q->depth_rates, depth, clock_now_ms(&a->broker->clock));
    json_object_set_new(o, "messages_details", api_rate_details(q->depth_rates.rate[DEPTH_MESSAGES]));
    json_object_set_new(o, "messages_ready_details", api_rate_details(q->depth_rates.rate[DEPTH_READY]));
    json_object_set_new(o, "messages_unacknowledged_details",
                        api_rate_details(q->depth_rates.rate[DEPTH_UNACKED]));
    json_object_set_new(o, "consumers", json_integer(q->consumer_count));
    json_object_set_new(o, "memory", json_integer((json_int_t)(sizeof *q + q->ready_bytes +
                                                              q->ready_len * QUEUE_ENTRY_OVERHEAD)));
    json_object_set_new(o, "state", json_string("running"));
    api_queue_policy_fields(o, q);
    json_object_set_new(o, "exclusive_consumer_tag", json_null());
    json_object_set_new(o, "node", json_string(a->broker->node));
    json_object_set_new(o, "type", json_string(q->args.type == QUEUE_TYPE_QUORUM ? "quorum" : "classic"));
    api_put_queue_stats(a, o, &q->stats, &q->rates);
    return o;
}

static void add_vhost_queues(struct api_request *r, json_t *list, struct vhost *v)
{
    struct map_iter it;
    void *value;
    map_iter_init(&it, &v->queues);
    while (map_iter_next(&it, NULL, NULL, &value))
        json_array_append_new(list, queue_object(r->api, v, value));
}

void api_queues(struct api_request *r)
{
    json_t *list = api_collect(r, r->nseg == 2 ? 1 : -1, add_vhost_queues);
    if (!list)
        return;
    api_sort(list);
    api_reply_list(r, list);
}

static void declare(struct api_request *r, struct vhost *v, struct amqp_bytes name)
{
    json_t *body = api_body_object(r);
    if (!body)
        return;
    struct amqp_buf args;
    amqp_buf_init(&args);
    if (api_body_arguments(r, body, &args)) {
        bool existed = vhost_find_queue(v, name) != NULL;
        struct queue_declare req = {
            .name = name,
            .arguments = amqp_bytes_of(args.data, args.len),
            .durable = api_body_bool(body, "durable", false), /* RabbitMQ's API default */
            .auto_delete = api_body_bool(body, "auto_delete", false),
            .who = api_session(r, v),
        };
        struct outcome out;
        if (vhost_declare_queue(v, &req, &out))
            api_reply_empty(r, existed ? 204 : 201);
        else
            api_reply_outcome(r, &out);
    }
    amqp_buf_free(&args);
    json_decref(body);
}

void api_queue(struct api_request *r)
{
    struct vhost *v = api_vhost(r, 1);
    if (!v)
        return;
    struct amqp_bytes name = amqp_bytes_of(r->seg[2], r->seglen[2]);
    if (r->http->method == HTTP_PUT) {
        if (!name.len) {
            api_reply_error(r, 400, "bad_request", "queue name must not be empty");
            return;
        }
        declare(r, v, name);
        return;
    }
    struct queue *q = vhost_find_queue(v, name);
    if (!q) {
        api_not_found(r);
        return;
    }
    if (r->http->method == HTTP_GET) {
        json_t *o = queue_object(r->api, v, q);
        json_object_set_new(o, "consumer_details", api_queue_consumers(r, q));
        json_object_set_new(o, "incoming", json_array());
        json_object_set_new(o, "deliveries", json_array());
        api_reply_object(r, o);
        return;
    }
    struct outcome out;
    q = vhost_queue_to_delete(v, name, api_session(r, v), api_query_true(r, "if-unused"),
                              api_query_true(r, "if-empty"), &out);
    if (!outcome_ok(&out)) {
        api_reply_outcome(r, &out);
        return;
    }
    if (q)
        vhost_delete_queue(v, q);
    api_reply_empty(r, 204);
}

void api_queue_contents(struct api_request *r)
{
    struct vhost *v = api_vhost(r, 1);
    if (!v)
        return;
    uint32_t purged;
    struct outcome out;
    if (vhost_purge_queue(v, amqp_bytes_of(r->seg[2], r->seglen[2]), api_session(r, v), &purged, &out))
        api_reply_empty(r, 204);
    else
        api_reply_outcome(r, &out);
}

/* ---- get ---- */

static void put_string(json_t *o, const char *key, struct amqp_bytes s, uint16_t flags, uint16_t flag)
{
    if (flags & flag)
        json_object_set_new(o, key, json_table_string(s.ptr, s.len));
}

/* The properties RabbitMQ shows; with none at all it shows an empty list, not an object. */
static json_t *props_to_json(const struct amqp_basic_properties *p)
{
    if (!p->flags)
        return json_array();
    json_t *o = json_object();
    if (p->flags & AMQP_BASIC_HEADERS_FLAG)
        json_object_set_new(o, "headers", json_table_from_body(p->headers));
    put_string(o, "content_type", p->content_type, p->flags, AMQP_BASIC_CONTENT_TYPE_FLAG);
    put_string(o, "content_encoding", p->content_encoding, p->flags, AMQP_BASIC_CONTENT_ENCODING_FLAG);
    if (p->flags & AMQP_BASIC_DELIVERY_MODE_FLAG)
        json_object_set_new(o, "delivery_mode", json_integer(p->delivery_mode));
    if (p->flags & AMQP_BASIC_PRIORITY_FLAG)
        json_object_set_new(o, "priority", json_integer(p->priority));
    put_string(o, "correlation_id", p->correlation_id, p->flags, AMQP_BASIC_CORRELATION_ID_FLAG);
    put_string(o, "reply_to", p->reply_to, p->flags, AMQP_BASIC_REPLY_TO_FLAG);
    put_string(o, "expiration", p->expiration, p->flags, AMQP_BASIC_EXPIRATION_FLAG);
    put_string(o, "message_id", p->message_id, p->flags, AMQP_BASIC_MESSAGE_ID_FLAG);
    if (p->flags & AMQP_BASIC_TIMESTAMP_FLAG)
        json_object_set_new(o, "timestamp", json_integer((json_int_t)p->timestamp));
    put_string(o, "type", p->type, p->flags, AMQP_BASIC_TYPE_FLAG);
    put_string(o, "user_id", p->user_id, p->flags, AMQP_BASIC_USER_ID_FLAG);
    put_string(o, "app_id", p->app_id, p->flags, AMQP_BASIC_APP_ID_FLAG);
    put_string(o, "cluster_id", p->cluster_id, p->flags, AMQP_BASIC_CLUSTER_ID_FLAG);
    return o;
}

enum ackmode { ACK_REQUEUE, ACK_DROP, REJECT_REQUEUE, REJECT_DROP };

/* RabbitMQ's API gets with no_ack for ack_requeue_false, with acks otherwise; its own channel
 * counts, so the queue and the broker's totals do here. */
static void count_get(struct api *a, struct queue *q, const struct queue_entry *e, enum ackmode mode)
{
    enum message_stat stat = mode == ACK_DROP ? STAT_GET_NO_ACK : STAT_GET;
    message_stats_count(&q->stats, stat);
    message_stats_count(&a->broker->retired_stats, stat);
    if (e->redelivered) {
        message_stats_count(&q->stats, STAT_REDELIVER);
        message_stats_count(&a->broker->retired_stats, STAT_REDELIVER);
    }
}

static bool parse_ackmode(const char *s, enum ackmode *out)
{
    static const char *const names[] = {"ack_requeue_true", "ack_requeue_false",
                                        "reject_requeue_true", "reject_requeue_false"};
    for (int i = 0; i < 4; i++)
        if (s && !strcmp(s, names[i]))
            return *out = (enum ackmode)i, true;
    return false;
}

static json_t *delivery_object(struct queue *q, struct message *m, bool redelivered, bool base64,
                               json_int_t truncate)
{
    struct amqp_basic_properties props;
    message_properties(m, &props);
    size_t len = m->body_size;
    if (truncate >= 0 && (uint64_t)truncate < len)
        len = (size_t)truncate;
    const uint8_t *body = message_body(m);
    if (!body) /* paged out and unreadable: the store logged why */
        body = (const uint8_t *)"", len = 0;
    json_t *payload = base64 ? NULL : json_stringn((const char *)body, len);
    json_t *o = json_object();
    json_object_set_new(o, "payload_bytes", json_integer((json_int_t)m->body_size));
    json_object_set_new(o, "redelivered", json_boolean(redelivered));
    json_object_set_new(o, "exchange", json_table_string(message_exchange(m).ptr, message_exchange(m).len));
    json_object_set_new(o, "routing_key",
                        json_table_string(message_routing_key(m).ptr, message_routing_key(m).len));
    json_object_set_new(o, "message_count", json_integer(queue_message_count(q)));
    json_object_set_new(o, "properties", props_to_json(&props));
    json_object_set_new(o, "payload", payload ? payload : api_base64_encode(body, len));
    json_object_set_new(o, "payload_encoding", json_string(payload ? "string" : "base64"));
    return o;
}

struct got {
    struct queue *q;
    struct queue_entry e;
};

/* A number given as a JSON integer or, as rabbitmqadmin sends them, a decimal string. */
static json_int_t body_int(const json_t *v, json_int_t dflt)
{
    if (json_is_integer(v))
        return json_integer_value(v);
    const char *s = json_string_value(v);
    char *end;
    long long n = s && *s ? strtoll(s, &end, 10) : 0;
    return s && *s && !*end ? (json_int_t)n : dflt;
}

/* As RabbitMQ does it: every message is taken first, then all settled as ackmode says. */
void api_queue_get(struct api_request *r)
{
    struct vhost *v = api_vhost(r, 1);
    if (!v)
        return;
    json_t *body = api_body_object(r);
    if (!body)
        return;
    const char *missing[3];
    size_t nmissing = 0;
    static const char *const required[] = {"count", "ackmode", "encoding"};
    for (int i = 0; i < 3; i++)
        if (!json_object_get(body, required[i]))
            missing[nmissing++] = required[i];
    const char *encoding = json_string_value(json_object_get(body, "encoding"));
    enum ackmode mode;
    json_int_t count = body_int(json_object_get(body, "count"), 0);
    json_int_t truncate = body_int(json_object_get(body, "truncate"), -1);
    struct amqp_bytes name = amqp_bytes_of(r->seg[2], r->seglen[2]);
    struct queue *target;
    if (nmissing) {
        char text[256];
        size_t len = 0;
        for (size_t i = 0; i < nmissing; i++)
            len += (size_t)snprintf(text + len, sizeof text - len, "%s{key_missing,%s}",
                                    i ? "," : "", missing[i]);
        api_reply_error(r, 400, "bad_request", "[%s]", text);
    } else if (!parse_ackmode(json_string_value(json_object_get(body, "ackmode")), &mode)) {
        api_reply_error(r, 400, "bad_request", "Invalid ackmode");
    } else if (!encoding || (strcmp(encoding, "auto") && strcmp(encoding, "base64"))) {
        api_reply_error(r, 400, "bad_request", "Unsupported encoding. Please use auto or base64.");
    } else if (!(target = vhost_find_queue(v, name))) {
        api_reply_error(r, 404, "not_found", "NOT_FOUND - no queue '%.*s' in vhost '%s'",
                        (int)name.len, (const char *)name.ptr, v->name);
    } else {
        if (count > (json_int_t)queue_message_count(target))
            count = queue_message_count(target);
        struct got *got = xcalloc(count > 0 ? (size_t)count : 1, sizeof *got);
        size_t n = 0;
        json_t *list = json_array();
        struct outcome out = {0};
        while ((json_int_t)n < count) {
            bool any;
            struct queue *q = vhost_get(v, name, api_session(r, v), NULL, &got[n].e, &any, &out);
            if (!q || !any)
                break;
            queue_ref(q);
            got[n].q = q;
            count_get(r->api, q, &got[n].e, mode);
            json_array_append_new(list, delivery_object(q, queue_entry_message(&got[n].e), got[n].e.redelivered, !strcmp(encoding, "base64"), truncate));
            n++;
        }
        vhost_hold_dead_letters(v);
        for (size_t i = 0; i < n; i++) {
            if (mode == ACK_REQUEUE || mode == REJECT_REQUEUE)
                queue_return(got[i].q, &got[i].e);
            else if (mode == REJECT_DROP)
                queue_reject(got[i].q, &got[i].e);
            else
                queue_settle(got[i].q, &got[i].e);
        }
        vhost_release_dead_letters(v);
        for (size_t i = 0; i < n; i++) {
            if (mode == ACK_REQUEUE || mode == REJECT_REQUEUE)
                queue_dispatch(got[i].q);
            queue_unref(got[i].q);
        }
        free(got);
        if (!outcome_ok(&out)) {
            json_decref(list);
            api_reply_outcome(r, &out);
        } else {
            api_reply_json(r, 200, list);
        }
    }
    json_decref(body);
}

/* ---- peek: Warren's own ---- */

enum { PEEK_COUNT_DEFAULT = 10, PEEK_COUNT_MAX = 1000 };

/* A query parameter that must be a decimal in [0, max]; dflt when absent. */
static bool query_number(struct api_request *r, const char *key, long long dflt, long long max,
                         long long *out)
{
    char *s = api_query(r, key);
    char *end = NULL;
    *out = s ? strtoll(s, &end, 10) : dflt;
    bool ok = !s || (*s >= '0' && *s <= '9' && !*end && *out <= max);
    if (!ok)
        api_reply_error(r, 400, "bad_request", "%s must be an integer from 0 to %lld", key, max);
    free(s);
    return ok;
}

/* The ready messages from offset on, as a get shows them, each with its offset; nothing moves. */
void api_queue_peek(struct api_request *r)
{
    struct vhost *v = api_vhost(r, 1);
    long long offset, count, truncate;
    if (!v || !query_number(r, "offset", 0, LLONG_MAX, &offset) ||
        !query_number(r, "count", PEEK_COUNT_DEFAULT, PEEK_COUNT_MAX, &count) ||
        !query_number(r, "truncate", LLONG_MAX, LLONG_MAX, &truncate))
        return;
    char *encoding = api_query(r, "encoding");
    bool base64 = encoding && !strcmp(encoding, "base64");
    bool known = !encoding || base64 || !strcmp(encoding, "auto");
    free(encoding);
    if (!known) {
        api_reply_error(r, 400, "bad_request", "Unsupported encoding. Please use auto or base64.");
        return;
    }
    struct outcome out = {0};
    struct queue *q = vhost_peek(v, amqp_bytes_of(r->seg[2], r->seglen[2]), api_session(r, v), &out);
    if (!q) {
        api_reply_outcome(r, &out);
        return;
    }
    json_t *list = json_array();
    struct message *m;
    bool redelivered;
    for (long long i = 0; i < count && (m = queue_peek(q, (uint64_t)(offset + i), &redelivered)); i++) {
        json_t *o = delivery_object(q, m, redelivered, base64, truncate);
        json_object_set_new(o, "offset", json_integer(offset + i));
        json_array_append_new(list, o);
    }
    api_reply_json(r, 200, list);
}

void api_queue_bindings(struct api_request *r)
{
    struct vhost *v = api_vhost(r, 1);
    if (!v)
        return;
    struct queue *q = vhost_find_queue(v, amqp_bytes_of(r->seg[2], r->seglen[2]));
    if (!q) {
        api_not_found(r);
        return;
    }
    json_t *list = json_array();
    json_array_append_new(list, api_default_binding(v, q));
    struct list *pos;
    for (pos = q->bindings.next; pos != &q->bindings; pos = pos->next)
        json_array_append_new(list, api_binding_object(v, list_entry(pos, struct binding, destination_link)));
    api_reply_list(r, list);
}
