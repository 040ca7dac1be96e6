/* /api/warren/faults: fault injection for client-library testing (per connection, and simulated alarms), refused unless enabled. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/api_internal.h"
#include "amqp_spec.h"
#include "amqp_table.h"
#include "core/alloc.h"
#include "model/alarm.h"
#include "net/tcp.h"
#include "proto/connection.h"
#include "proto/fault.h"

#define FAULT_DELAY_MAX_MS 600000u /* ten minutes: longer is a mistake, not a test */
#define FAULT_COUNT_MAX 1000000000u

/* Fault injection can harm every client: it answers only when the operator asked for it. */
static bool enabled(struct api_request *r)
{
    if (r->api->broker->config.fault_injection)
        return true;
    api_reply_error(r, 403, "forbidden",
                    "fault injection is disabled on this broker: start it with "
                    "--enable-fault-injection or set warren.fault_injection = true in "
                    "rabbitmq.conf (for testing only)");
    return false;
}

/* ---- which connections a path names ---- */

/* The client's connection_name property, or an empty slice. */
static struct amqp_bytes client_connection_name(const struct connection_info *info)
{
    struct amqp_field f;
    if (info->client_properties.len &&
        amqp_table_get(info->client_properties, "connection_name", &f) && f.type == 'S')
        return f.v.bytes;
    return amqp_bytes_of("", 0);
}

/* Every connection whose API name or client-provided connection_name is name. */
static void named_connections(struct api_request *r, const char *name, struct api_conn_list *out)
{
    struct api_conn_list all;
    api_all_connections(r->api, &all);
    *out = (struct api_conn_list){0};
    for (size_t i = 0; i < all.len; i++) {
        struct connection_info info;
        connection_info(all.items[i], &info);
        struct amqp_bytes given = client_connection_name(&info);
        if (!strcmp(info.name, name) ||
            (given.len && given.len == strlen(name) && !memcmp(given.ptr, name, given.len)))
            api_conn_list_push(out, all.items[i]);
    }
    free(all.items);
}

/* ---- what is armed, as JSON ---- */

static json_t *error_object(const char *method, const struct fault_error *e)
{
    return json_pack("{s:s,s:i,s:s}", "method", method, "code", e->code, "text", e->text);
}

static json_t *armed_object(struct connection *c)
{
    struct connection_info info;
    connection_info(c, &info);
    struct amqp_bytes given = client_connection_name(&info);
    json_t *o = json_pack("{s:s}", "name", info.name);
    json_object_set_new(o, "connection_name",
                        given.len ? json_stringn((const char *)given.ptr, given.len) : json_null());
    const struct connection_faults *f = *connection_faults_slot(c);
    struct connection_faults none = {0};
    if (!f)
        f = &none;
    json_object_set_new(o, "heartbeats_stopped", json_boolean(f->heartbeats_stopped));
    json_object_set_new(o, "nacks_left", json_integer(f->nacks_left));
    json_t *next = json_array();
    if (f->consume.code)
        json_array_append_new(next, error_object("basic.consume", &f->consume));
    if (f->declare.code)
        json_array_append_new(next, error_object("queue.declare", &f->declare));
    json_object_set_new(o, "fail_next", next);
    json_object_set_new(o, "delay_ms", json_integer(f->output.delay_ms));
    json_object_set_new(o, "cut_after_bytes",
                        f->output.cut_armed ? json_integer((json_int_t)f->output.cut_after)
                                            : json_null());
    return o;
}

static json_t *alarms_object(const struct alarms *a)
{
    return json_pack("{s:b,s:b}", "memory", (a->simulated & ALARM_MEMORY) != 0, "disk",
                     (a->simulated & ALARM_DISK) != 0);
}

static void clear_one(struct connection *c, void *ctx)
{
    (void)ctx;
    fault_clear(c);
}

static void add_armed(struct connection *c, void *ctx)
{
    if (*connection_faults_slot(c))
        json_array_append_new(ctx, armed_object(c));
}

/* GET: enabled (true: a disabled broker answers 403), the simulated alarms and every connection with something armed.
 * DELETE: disarms everything and clears the simulated alarms. */
void api_faults(struct api_request *r)
{
    struct alarms *alarms = &r->api->broker->alarms;
    if (!enabled(r))
        return;
    if (r->http->method == HTTP_DELETE) {
        tcp_server_each_connection(r->api->tcp, clear_one, NULL);
        alarms_simulate(alarms, ALARM_MEMORY, false);
        alarms_simulate(alarms, ALARM_DISK, false);
        api_reply_empty(r, 204);
        return;
    }
    json_t *list = json_array();
    tcp_server_each_connection(r->api->tcp, add_armed, list);
    api_reply_json(r, 200, json_pack("{s:b,s:o,s:o}", "enabled", true, "alarms",
                                     alarms_object(alarms), "connections", list));
}

/* ---- POST /api/warren/faults/alarms {"alarm": "memory"|"disk", "set": true|false} ---- */

void api_fault_alarms(struct api_request *r)
{
    if (!enabled(r))
        return;
    struct alarms *a = &r->api->broker->alarms;
    if (r->http->method == HTTP_GET) {
        api_reply_json(r, 200, alarms_object(a));
        return;
    }
    json_t *body = api_body_object(r);
    if (!body)
        return;
    const json_t *alarm = json_object_get(body, "alarm");
    const json_t *set = json_object_get(body, "set");
    const char *name = json_is_string(alarm) ? json_string_value(alarm) : "";
    if (strcmp(name, "memory") && strcmp(name, "disk")) {
        api_reply_error(r, 400, "bad_request", "alarm must be \"memory\" or \"disk\"");
    } else if (!json_is_boolean(set)) {
        api_reply_error(r, 400, "bad_request", "set must be true or false");
    } else {
        alarms_simulate(a, !strcmp(name, "memory") ? ALARM_MEMORY : ALARM_DISK, json_is_true(set));
        api_reply_json(r, 200, alarms_object(a));
    }
    json_decref(body);
}

/* ---- POST /api/warren/faults/connections/NAME {"fault": ..., ...} ---- */

/* The members each fault takes besides "fault"; NULL-terminated. */
static const char *const *members_of(enum fault_kind kind)
{
    static const char *const none[] = {NULL};
    static const char *const reason[] = {"reason", NULL};
    static const char *const close[] = {"code", "text", NULL};
    static const char *const close_channel[] = {"channel", "code", "text", NULL};
    static const char *const cut[] = {"after_bytes", NULL};
    static const char *const delay[] = {"ms", NULL};
    static const char *const nack[] = {"count", NULL};
    static const char *const fail_next[] = {"method", "code", "text", NULL};
    switch (kind) {
    case FAULT_BLOCK: return reason;
    case FAULT_CLOSE: return close;
    case FAULT_CLOSE_CHANNEL: return close_channel;
    case FAULT_CUT: return cut;
    case FAULT_DELAY: return delay;
    case FAULT_NACK: return nack;
    case FAULT_FAIL_NEXT: return fail_next;
    default: return none;
    }
}

/* An integer member in [min, max]; absent: dflt (required when dflt < 0). */
static bool integer_member(struct api_request *r, const json_t *body, const char *key,
                           long long min, long long max, long long dflt, long long *out)
{
    const json_t *v = json_object_get(body, key);
    if (!v && dflt >= 0) {
        *out = dflt;
        return true;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        api_reply_error(r, 400, "bad_request", "%s must be an integer from %lld to %lld", key,
                        min, max);
        return false;
    }
    *out = json_integer_value(v);
    return true;
}

/* A reply code AMQP 0-9-1 defines (200, 311..541). */
static bool code_member(struct api_request *r, const json_t *body, uint16_t *out)
{
    const json_t *v = json_object_get(body, "code");
    json_int_t code = json_is_integer(v) ? json_integer_value(v) : -1;
    if (code < 200 || code > 999 || !amqp_reply_name((uint16_t)code)) {
        api_reply_error(r, 400, "bad_request",
                        "code must be an AMQP 0-9-1 reply code (e.g. 320, 404, 406, 501, 541)");
        return false;
    }
    *out = (uint16_t)code;
    return true;
}

/* A short string member (reply texts and reasons are shortstrs on the wire). */
static bool text_member(struct api_request *r, const json_t *body, const char *key,
                        const char *dflt, const char **out)
{
    const json_t *v = json_object_get(body, key);
    if (!v) {
        *out = dflt;
        return true;
    }
    if (!json_is_string(v) || json_string_length(v) > 255 ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        api_reply_error(r, 400, "bad_request", "%s must be a string of at most 255 bytes", key);
        return false;
    }
    *out = json_string_value(v);
    return true;
}

static bool known_members(struct api_request *r, json_t *body, enum fault_kind kind)
{
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v) {
        bool known = !strcmp(key, "fault");
        for (const char *const *m = members_of(kind); *m && !known; m++)
            known = !strcmp(key, *m);
        if (!known) {
            api_reply_error(r, 400, "bad_request", "fault \"%s\" takes no member \"%s\"",
                            fault_kind_name(kind), key);
            return false;
        }
    }
    return true;
}

/* The request's reply text: as given, else RabbitMQ's form of the code's name. */
static bool reply_text(struct api_request *r, const json_t *body, uint16_t code, char *buf,
                       const char **out)
{
    struct amqp_bytes dflt = amqp_reply_text(buf, code, "injected fault");
    buf[dflt.len] = 0;
    return text_member(r, body, "text", buf, out);
}

static bool parse_request(struct api_request *r, json_t *body, struct fault_request *req,
                          char *text_buf)
{
    const json_t *fault = json_object_get(body, "fault");
    if (!json_is_string(fault) || !fault_kind_parse(json_string_value(fault), &req->kind)) {
        api_reply_error(r, 400, "bad_request",
                        "fault must be one of block, unblock, close, close_channel, cut, delay, "
                        "stop_heartbeats, resume_heartbeats, nack, fail_next");
        return false;
    }
    if (!known_members(r, body, req->kind))
        return false;
    long long n = 0;
    switch (req->kind) {
    case FAULT_BLOCK:
        return text_member(r, body, "reason", "fault injection", &req->text);
    case FAULT_CLOSE:
        return code_member(r, body, &req->code) && reply_text(r, body, req->code, text_buf, &req->text);
    case FAULT_CLOSE_CHANNEL:
        if (!integer_member(r, body, "channel", 1, 65535, -1, &n))
            return false;
        req->channel = (uint16_t)n;
        return code_member(r, body, &req->code) && reply_text(r, body, req->code, text_buf, &req->text);
    case FAULT_CUT:
        if (!integer_member(r, body, "after_bytes", 0, (long long)1 << 40, 0, &n))
            return false;
        req->bytes = (uint64_t)n;
        return true;
    case FAULT_DELAY:
        if (!integer_member(r, body, "ms", 0, FAULT_DELAY_MAX_MS, -1, &n))
            return false;
        req->ms = (uint32_t)n;
        return true;
    case FAULT_NACK:
        if (!integer_member(r, body, "count", 0, FAULT_COUNT_MAX, -1, &n))
            return false;
        req->count = (uint32_t)n;
        return true;
    case FAULT_FAIL_NEXT: {
        const json_t *m = json_object_get(body, "method");
        const char *method = json_is_string(m) ? json_string_value(m) : "";
        if (!strcmp(method, "basic.consume")) {
            req->method_id = AMQP_BASIC_CONSUME;
        } else if (!strcmp(method, "queue.declare")) {
            req->method_id = AMQP_QUEUE_DECLARE;
        } else {
            api_reply_error(r, 400, "bad_request",
                            "method must be \"basic.consume\" or \"queue.declare\"");
            return false;
        }
        return code_member(r, body, &req->code) && reply_text(r, body, req->code, text_buf, &req->text);
    }
    default:
        return true;
    }
}

/* Applies req to every connection named; replies 200 with their names, or 400 with the first
 * refusal (nothing is applied to the others after it). */
static void inject(struct api_request *r, const struct api_conn_list *l, const struct fault_request *req)
{
    json_t *names = json_array();
    for (size_t i = 0; i < l->len; i++) {
        struct connection_info info;
        connection_info(l->items[i], &info);
        json_t *name = json_string(info.name); /* a close may change what info points at */
        const char *why = NULL;
        if (!fault_inject(l->items[i], req, &why)) {
            api_reply_error(r, 400, "bad_request", "%s: %s", json_string_value(name), why);
            json_decref(name);
            json_decref(names);
            return;
        }
        json_array_append_new(names, name);
    }
    api_reply_json(r, 200, json_pack("{s:s,s:o}", "fault", fault_kind_name(req->kind),
                                     "connections", names));
}

/* GET: what is armed on the connection(s) named; POST: a fault; DELETE: disarm them. */
void api_fault_connection(struct api_request *r)
{
    if (!enabled(r))
        return;
    struct api_conn_list l;
    named_connections(r, r->seg[3], &l);
    if (l.len == 0) {
        free(l.items);
        api_not_found(r);
        return;
    }
    if (r->http->method == HTTP_GET) {
        json_t *list = json_array();
        for (size_t i = 0; i < l.len; i++)
            json_array_append_new(list, armed_object(l.items[i]));
        api_reply_json(r, 200, list);
    } else if (r->http->method == HTTP_DELETE) {
        for (size_t i = 0; i < l.len; i++)
            fault_clear(l.items[i]);
        api_reply_empty(r, 204);
    } else {
        json_t *body = api_body_object(r);
        struct fault_request req = {0};
        char text_buf[AMQP_REPLY_TEXT_SIZE];
        if (body && parse_request(r, body, &req, text_buf))
            inject(r, &l, &req);
        json_decref(body);
    }
    free(l.items);
}
