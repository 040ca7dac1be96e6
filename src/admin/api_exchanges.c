/* /api/exchanges: list, one, declare (PUT), delete, its bindings, and publish. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/api_internal.h"
#include "admin/json_table.h"
#include "amqp_spec.h"
#include "model/exchange.h"
#include "model/vhost.h"

static json_t *exchange_object(const struct vhost *v, const struct exchange *x)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_table_string(x->name.ptr, x->name.len));
    json_object_set_new(o, "vhost", json_string(v->name));
    json_object_set_new(o, "type", json_string(exchange_type_name(x->type)));
    json_object_set_new(o, "durable", json_boolean(x->durable));
    json_object_set_new(o, "auto_delete", json_boolean(x->auto_delete));
    json_object_set_new(o, "internal", json_boolean(x->internal));
    json_object_set_new(o, "arguments", json_table_from_body(x->arguments));
    api_exchange_policy_field(o, x);
    return o;
}

static void add_vhost_exchanges(struct api_request *r, json_t *list, struct vhost *v)
{
    (void)r;
    struct map_iter it;
    void *value;
    map_iter_init(&it, &v->exchanges);
    while (map_iter_next(&it, NULL, NULL, &value))
        json_array_append_new(list, exchange_object(v, value));
}

void api_exchanges(struct api_request *r)
{
    json_t *list = api_collect(r, r->nseg == 2 ? 1 : -1, add_vhost_exchanges);
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
    const char *type = json_string_value(json_object_get(body, "type"));
    struct amqp_buf args;
    amqp_buf_init(&args);
    if (api_body_arguments(r, body, &args)) {
        bool existed = vhost_find_exchange(v, name) != NULL;
        struct exchange_declare req = {
            .name = name,
            .type = type ? amqp_bytes_of(type, strlen(type)) : amqp_bytes_of("direct", 6),
            .arguments = amqp_bytes_of(args.data, args.len),
            .durable = api_body_bool(body, "durable", false), /* RabbitMQ's API default */
            .auto_delete = api_body_bool(body, "auto_delete", false),
            .internal = api_body_bool(body, "internal", false),
            .who = api_session(r, v),
        };
        struct outcome out;
        if (vhost_declare_exchange(v, &req, &out))
            api_reply_empty(r, existed ? 204 : 201);
        else
            api_reply_outcome(r, &out);
    }
    amqp_buf_free(&args);
    json_decref(body);
}

void api_exchange(struct api_request *r)
{
    struct vhost *v = api_vhost(r, 1);
    if (!v)
        return;
    struct amqp_bytes name = api_exchange_name(r, 2);
    if (r->http->method == HTTP_PUT) {
        declare(r, v, name);
        return;
    }
    struct exchange *x = vhost_find_exchange(v, name);
    if (!x) {
        api_not_found(r);
        return;
    }
    if (r->http->method == HTTP_GET) {
        json_t *o = exchange_object(v, x);
        json_object_set_new(o, "incoming", json_array());
        json_object_set_new(o, "outgoing", json_array());
        api_reply_object(r, o);
        return;
    }
    struct outcome out;
    if (vhost_delete_exchange(v, api_session(r, v), name, api_query_true(r, "if-unused"), &out))
        api_reply_empty(r, 204);
    else
        api_reply_outcome(r, &out);
}

void api_exchange_bindings(struct api_request *r)
{
    struct vhost *v = api_vhost(r, 1);
    if (!v)
        return;
    struct amqp_bytes name = api_exchange_name(r, 2);
    struct exchange *x = vhost_find_exchange(v, name);
    if (!x) {
        api_not_found(r);
        return;
    }
    json_t *list = json_array();
    struct list *pos;
    if (!strcmp(r->seg[4], "source")) {
        if (x == v->default_exchange) {
            struct map_iter it;
            void *value;
            map_iter_init(&it, &v->queues);
            while (map_iter_next(&it, NULL, NULL, &value))
                json_array_append_new(list, api_default_binding(v, value));
        }
        for (pos = x->bindings.next; pos != &x->bindings; pos = pos->next)
            json_array_append_new(list, api_binding_object(v, list_entry(pos, struct binding, exchange_link)));
    } else {
        for (pos = x->incoming.next; pos != &x->incoming; pos = pos->next)
            json_array_append_new(list, api_binding_object(v, list_entry(pos, struct binding, destination_link)));
    }
    api_reply_list(r, list);
}

/* ---- publish ---- */

static bool props_string(const json_t *props, const char *key, struct amqp_bytes *out,
                         uint16_t *flags, uint16_t flag)
{
    const char *s = json_string_value(json_object_get(props, key));
    if (!s)
        return false;
    *out = amqp_bytes_of(s, strlen(s));
    *flags |= flag;
    return true;
}

/* RabbitMQ's properties object into basic properties; headers encoded into `headers`. */
static void props_from_json(const json_t *p, struct amqp_basic_properties *out, struct amqp_buf *headers)
{
    *out = (struct amqp_basic_properties){0};
    if (!json_is_object(p))
        return;
    props_string(p, "content_type", &out->content_type, &out->flags, AMQP_BASIC_CONTENT_TYPE_FLAG);
    props_string(p, "content_encoding", &out->content_encoding, &out->flags, AMQP_BASIC_CONTENT_ENCODING_FLAG);
    props_string(p, "correlation_id", &out->correlation_id, &out->flags, AMQP_BASIC_CORRELATION_ID_FLAG);
    props_string(p, "reply_to", &out->reply_to, &out->flags, AMQP_BASIC_REPLY_TO_FLAG);
    props_string(p, "expiration", &out->expiration, &out->flags, AMQP_BASIC_EXPIRATION_FLAG);
    props_string(p, "message_id", &out->message_id, &out->flags, AMQP_BASIC_MESSAGE_ID_FLAG);
    props_string(p, "type", &out->type, &out->flags, AMQP_BASIC_TYPE_FLAG);
    props_string(p, "user_id", &out->user_id, &out->flags, AMQP_BASIC_USER_ID_FLAG);
    props_string(p, "app_id", &out->app_id, &out->flags, AMQP_BASIC_APP_ID_FLAG);
    props_string(p, "cluster_id", &out->cluster_id, &out->flags, AMQP_BASIC_CLUSTER_ID_FLAG);
    const json_t *v;
    if (json_is_integer(v = json_object_get(p, "delivery_mode"))) {
        out->delivery_mode = (uint8_t)json_integer_value(v);
        out->flags |= AMQP_BASIC_DELIVERY_MODE_FLAG;
    }
    if (json_is_integer(v = json_object_get(p, "priority"))) {
        out->priority = (uint8_t)json_integer_value(v);
        out->flags |= AMQP_BASIC_PRIORITY_FLAG;
    }
    if (json_is_integer(v = json_object_get(p, "timestamp"))) {
        out->timestamp = (uint64_t)json_integer_value(v);
        out->flags |= AMQP_BASIC_TIMESTAMP_FLAG;
    }
    if (json_is_object(v = json_object_get(p, "headers")) && json_table_to_body(v, headers)) {
        out->headers = amqp_bytes_of(headers->data, headers->len);
        out->flags |= AMQP_BASIC_HEADERS_FLAG;
    }
}

/* RabbitMQ's report of required keys left out: "[{key_missing,a},{key_missing,b}]". */
static bool keys_present(struct api_request *r, const json_t *body, const char *const *keys, size_t n)
{
    char missing[512] = "";
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        if (!json_object_get(body, keys[i]))
            len += (size_t)snprintf(missing + len, sizeof missing - len, "%s{key_missing,%s}",
                                    len ? "," : "", keys[i]);
    if (!len)
        return true;
    api_reply_error(r, 400, "bad_request", "[%s]", missing);
    return false;
}

void api_exchange_publish(struct api_request *r)
{
    struct vhost *v = api_vhost(r, 1);
    if (!v)
        return;
    json_t *body = api_body_object(r);
    if (!body)
        return;
    static const char *const required[] = {"routing_key", "properties", "payload", "payload_encoding"};
    const char *key = json_string_value(json_object_get(body, "routing_key"));
    const char *payload = json_string_value(json_object_get(body, "payload"));
    const char *encoding = json_string_value(json_object_get(body, "payload_encoding"));
    struct amqp_buf headers, decoded, header;
    amqp_buf_init(&headers);
    amqp_buf_init(&decoded);
    amqp_buf_init(&header);
    struct amqp_bytes name = api_exchange_name(r, 2);
    if (!keys_present(r, body, required, 4)) {
        /* replied */
    } else if (!key || !payload || !encoding ||
               (strcmp(encoding, "string") && strcmp(encoding, "base64"))) {
        api_reply_error(r, 400, "bad_request", "invalid publish request");
    } else if (!strcmp(encoding, "base64") && !api_base64_decode(payload, strlen(payload), &decoded)) {
        api_reply_error(r, 400, "bad_request", "not_base64");
    } else {
        if (!strcmp(encoding, "string"))
            amqp_buf_put(&decoded, payload, json_string_length(json_object_get(body, "payload")));
        struct amqp_content_header h = {.class_id = AMQP_CLASS_BASIC, .body_size = decoded.len};
        props_from_json(json_object_get(body, "properties"), &h.props, &headers);
        amqp_content_header_encode(&header, &h);
        struct message *m = message_new(name, amqp_bytes_of(key, strlen(key)),
                                        amqp_bytes_of(header.data, header.len), h.body_size,
                                        h.body_size);
        if (decoded.len)
            message_write_body(m, 0, amqp_bytes_of(decoded.data, decoded.len));
        struct publish_result result = {0};
        struct outcome out;
        if (vhost_publish(v, &m, api_session(r, v), &result, &out)) {
            struct message_stats *totals = &r->api->broker->retired_stats;
            message_stats_count(totals, STAT_PUBLISH);
            if (!result.routed)
                message_stats_count(totals, STAT_DROP_UNROUTABLE);
            api_reply_json(r, 200, json_pack("{s:b}", "routed", result.routed > 0));
        } else {
            char text[AMQP_REPLY_TEXT_SIZE];
            struct amqp_bytes t = amqp_reply_text(text, out.code, out.text);
            api_reply_error(r, 400, "bad_request", "%u %.*s", out.code, (int)t.len, (const char *)t.ptr);
        }
        message_unref(m);
    }
    amqp_buf_free(&headers);
    amqp_buf_free(&decoded);
    amqp_buf_free(&header);
    json_decref(body);
}
