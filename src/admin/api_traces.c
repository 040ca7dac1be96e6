/* /api/warren/traces: frame traces per connection or per vhost (start, stop, and the frames
 * as JSON, JSON Lines or pcap), decoded with the codec's method and property tables. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin/api_internal.h"
#include "admin/json_table.h"
#include "admin/trace_pcap.h"
#include "amqp_frame.h"
#include "amqp_spec.h"
#include "amqp_wire.h"
#include "core/alloc.h"
#include "model/broker.h"
#include "net/tcp.h"
#include "proto/connection.h"
#include "proto/frame_trace.h"

/* How much of a body the JSON shows. */
#define BODY_HEAD_BYTES 64

/* ---- decoding a record for JSON ---- */

static json_t *arg_json(enum amqp_arg_type type, const void *at)
{
    switch (type) {
    case AMQP_ARG_OCTET: return json_integer(*(const uint8_t *)at);
    case AMQP_ARG_SHORT: return json_integer(*(const uint16_t *)at);
    case AMQP_ARG_LONG: return json_integer(*(const uint32_t *)at);
    case AMQP_ARG_LONGLONG:
    case AMQP_ARG_TIMESTAMP: return json_integer((json_int_t) * (const uint64_t *)at);
    case AMQP_ARG_BIT: return json_boolean(*(const bool *)at);
    case AMQP_ARG_TABLE: return json_table_from_body(*(const struct amqp_bytes *)at);
    case AMQP_ARG_SHORTSTR:
    case AMQP_ARG_LONGSTR: {
        const struct amqp_bytes *b = at;
        return json_table_string(b->ptr, b->len);
    }
    }
    return json_null();
}

/* The spec's names with underscores, as the management API spells fields. */
static void json_set_arg(json_t *o, const char *spec_name, json_t *value)
{
    char name[48];
    snprintf(name, sizeof name, "%s", spec_name);
    for (char *c = name; *c; c++)
        if (*c == '-')
            *c = '_';
    json_object_set_new(o, name, value);
}

static void add_method(json_t *o, struct amqp_bytes payload)
{
    struct amqp_method m;
    struct amqp_error err;
    if (payload.len >= 4) {
        uint32_t id = amqp_get_u32(payload.ptr);
        json_object_set_new(o, "class_id", json_integer(id >> 16));
        json_object_set_new(o, "method_id", json_integer(id & 0xffff));
    }
    if (amqp_method_decode(payload, &m, &err) != 0) {
        json_object_set_new(o, "error", json_string(err.text));
        return;
    }
    const struct amqp_method_info *info = amqp_method_info(m.id);
    json_object_set_new(o, "method", json_string(info->name));
    json_t *args = json_object();
    for (size_t i = 0; i < info->arg_count; i++) {
        const struct amqp_arg_info *a = &info->args[i];
        json_set_arg(args, a->name, arg_json(a->type, (const char *)&m + a->offset));
    }
    json_object_set_new(o, "arguments", args);
}

static void add_header(json_t *o, struct amqp_bytes payload)
{
    struct amqp_content_header h;
    struct amqp_error err;
    if (amqp_content_header_decode(payload, &h, &err) != 0) {
        json_object_set_new(o, "error", json_string(err.text));
        return;
    }
    json_object_set_new(o, "class_id", json_integer(h.class_id));
    json_object_set_new(o, "body_size", json_integer((json_int_t)h.body_size));
    json_t *props = json_object();
    for (size_t i = 0; i < AMQP_BASIC_PROPERTY_COUNT; i++) {
        const struct amqp_property_info *p = &amqp_basic_property_table[i];
        if (h.props.flags & p->flag)
            json_set_arg(props, p->name, arg_json(p->type, (const char *)&h.props + p->offset));
    }
    json_object_set_new(o, "properties", props);
}

static bool is_utf8_text(const uint8_t *p, size_t len)
{
    json_t *s = json_stringn((const char *)p, len); /* NULL unless valid UTF-8 */
    json_decref(s);
    return s != NULL;
}

static void add_body(json_t *o, struct amqp_bytes payload)
{
    size_t head = payload.len < BODY_HEAD_BYTES ? payload.len : BODY_HEAD_BYTES;
    json_object_set_new(o, "body_size", json_integer((json_int_t)payload.len));
    /* a cut may split a character: the head is text when what is there reads as UTF-8 */
    json_object_set_new(o, "body_head", is_utf8_text(payload.ptr, head)
                                            ? json_stringn((const char *)payload.ptr, head)
                                            : json_null());
    json_object_set_new(o, "body_head_base64", api_base64_encode(payload.ptr, head));
}

static const char *type_name(uint8_t type)
{
    switch (type) {
    case AMQP_FRAME_METHOD: return "method";
    case AMQP_FRAME_HEADER: return "header";
    case AMQP_FRAME_BODY: return "body";
    case AMQP_FRAME_HEARTBEAT: return "heartbeat";
    default: return "unknown";
    }
}

static json_t *iso_time(uint64_t time_us)
{
    time_t secs = (time_t)(time_us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char text[40], date[24];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(text, sizeof text, "%s.%06uZ", date, (unsigned)(time_us % 1000000));
    return json_string(text);
}

static json_t *record_json(const struct frame_trace *trace, const struct frame_trace_record *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "time", iso_time(r->time_us));
    json_object_set_new(o, "timestamp_us", json_integer((json_int_t)r->time_us));
    json_object_set_new(o, "connection", json_string(trace->streams[r->stream].name));
    /* in: from the client to the broker */
    json_object_set_new(o, "direction", json_string(r->direction == FRAME_TRACE_IN ? "in" : "out"));
    uint8_t type = r->bytes[0];
    json_object_set_new(o, "channel", json_integer(amqp_get_u16(r->bytes + 1)));
    json_object_set_new(o, "type", json_string(type_name(type)));
    json_object_set_new(o, "frame_size", json_integer((json_int_t)r->len));
    struct amqp_bytes payload = amqp_bytes_of(r->bytes + AMQP_FRAME_HEADER_SIZE,
                                              r->len - AMQP_FRAME_OVERHEAD);
    if (type == AMQP_FRAME_METHOD)
        add_method(o, payload);
    else if (type == AMQP_FRAME_HEADER)
        add_header(o, payload);
    else if (type == AMQP_FRAME_BODY)
        add_body(o, payload);
    return o;
}

/* ---- the resource ---- */

static const char *kind_segment(enum frame_trace_kind kind)
{
    return kind == FRAME_TRACE_CONNECTION ? "connections" : "vhosts";
}

static struct frame_traces *traces_of(struct api *a)
{
    if (!a->broker->frame_traces)
        a->broker->frame_traces = frame_traces_new();
    return a->broker->frame_traces;
}

struct find_connection {
    const char *name;
    struct connection *found;
};

static void match_name(struct connection *c, void *ctx)
{
    struct find_connection *f = ctx;
    struct connection_info info;
    connection_info(c, &info);
    if (!f->found && !strcmp(info.name, f->name))
        f->found = c;
}

struct attach_vhost {
    struct frame_trace *trace;
};

/* A vhost trace takes in the vhost's open connections that record nothing yet. */
static void attach_if_in_vhost(struct connection *c, void *ctx)
{
    struct attach_vhost *av = ctx;
    struct connection_info info;
    connection_info(c, &info);
    struct frame_tap *tap = connection_frame_tap(c);
    if (info.open && !tap->trace && !strcmp(info.vhost, av->trace->name))
        frame_tap_attach(tap, av->trace, info.name, info.ssl);
}

/* A body member that must be an integer in [1, max]; dflt when absent. */
static bool bounded_member(struct api_request *r, json_t *body, const char *key, size_t max,
                           size_t dflt, size_t *out)
{
    json_t *v = json_object_get(body, key);
    *out = dflt;
    if (!v)
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < 1 || (uint64_t)json_integer_value(v) > max) {
        api_reply_error(r, 400, "bad_request", "%s must be an integer from 1 to %zu", key, max);
        return false;
    }
    *out = (size_t)json_integer_value(v);
    return true;
}

static void start_trace(struct api_request *r, enum frame_trace_kind kind, const char *name)
{
    struct connection *conn = NULL;
    if (kind == FRAME_TRACE_CONNECTION) {
        struct find_connection f = {name, NULL};
        tcp_server_each_connection(r->api->tcp, match_name, &f);
        if (!(conn = f.found)) {
            api_not_found(r);
            return;
        }
    } else if (!broker_find_vhost(r->api->broker, (const uint8_t *)name, strlen(name))) {
        api_not_found(r);
        return;
    }
    json_t *body = api_body_object(r);
    if (!body)
        return;
    size_t frames, bytes;
    bool valid = bounded_member(r, body, "frames", FRAME_TRACE_MAX_FRAMES,
                                FRAME_TRACE_DEFAULT_FRAMES, &frames) &&
                 bounded_member(r, body, "bytes", FRAME_TRACE_MAX_BYTES,
                                FRAME_TRACE_DEFAULT_BYTES, &bytes);
    json_decref(body);
    if (!valid)
        return;
    struct frame_traces *traces = traces_of(r->api);
    bool existed = frame_traces_find(traces, kind, name) != NULL;
    struct frame_trace *trace = frame_traces_start(traces, kind, name, frames, bytes);
    if (conn) {
        struct connection_info info;
        connection_info(conn, &info);
        struct frame_tap *tap = connection_frame_tap(conn);
        if (tap->trace != trace)
            frame_tap_attach(tap, trace, info.name, info.ssl);
    } else {
        struct attach_vhost av = {trace};
        tcp_server_each_connection(r->api->tcp, attach_if_in_vhost, &av);
    }
    api_reply_empty(r, existed ? 204 : 201);
}

static void reply_bytes(struct api_request *r, const char *content_type, const char *filename,
                        struct amqp_buf *b)
{
    free(r->res->body);
    r->res->status = 200;
    r->res->json = false;
    snprintf(r->res->headers, sizeof r->res->headers,
             "content-type: %s\r\ncontent-disposition: attachment; filename=\"%s\"\r\n",
             content_type, filename);
    r->res->body = (char *)b->data; /* the buffer's memory moves to the response */
    r->res->body_len = b->len;
}

/* A file name for the download: the trace's name with only safe characters. */
static void download_name(const struct frame_trace *trace, const char *ext, char *out, size_t size)
{
    char safe[128];
    size_t n = 0;
    for (const char *p = trace->name; *p && n + 1 < sizeof safe; p++)
        safe[n++] = (char)((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
                                   (*p >= 'A' && *p <= 'Z') || *p == '.' || *p == '-'
                               ? *p
                               : '_');
    safe[n] = 0;
    snprintf(out, size, "warren-trace-%s-%s.%s", kind_segment(trace->kind), safe, ext);
}

static void get_trace(struct api_request *r, struct frame_trace *trace)
{
    char *format = api_query(r, "format");
    char filename[200];
    if (!format || !strcmp(format, "json")) {
        json_t *list = json_array();
        for (size_t i = 0; i < trace->len; i++)
            json_array_append_new(list, record_json(trace, frame_trace_at(trace, i)));
        api_reply_json(r, 200, list);
    } else if (!strcmp(format, "jsonl")) {
        struct amqp_buf b;
        amqp_buf_init(&b);
        for (size_t i = 0; i < trace->len; i++) {
            json_t *o = record_json(trace, frame_trace_at(trace, i));
            char *line = json_dumps(o, JSON_COMPACT);
            json_decref(o);
            amqp_buf_put(&b, line, strlen(line));
            amqp_buf_put_u8(&b, '\n');
            free(line);
        }
        download_name(trace, "jsonl", filename, sizeof filename);
        reply_bytes(r, "application/jsonl", filename, &b);
    } else if (!strcmp(format, "pcap")) {
        struct amqp_buf b;
        amqp_buf_init(&b);
        trace_pcap_write(trace, &b);
        download_name(trace, "pcap", filename, sizeof filename);
        reply_bytes(r, "application/vnd.tcpdump.pcap", filename, &b);
    } else {
        api_reply_error(r, 400, "bad_request", "format must be json, jsonl or pcap");
    }
    free(format);
}

static json_t *summary(const struct frame_trace *trace)
{
    json_t *conns = json_array();
    for (uint32_t i = 0; i < trace->nstreams; i++)
        json_array_append_new(conns, json_string(trace->streams[i].name));
    return json_pack("{s:s,s:s,s:b,s:I,s:I,s:I,s:I,s:I,s:o}", "kind",
                     trace->kind == FRAME_TRACE_CONNECTION ? "connection" : "vhost", "name",
                     trace->name, "recording", !list_empty(&trace->taps), "frames",
                     (json_int_t)trace->len, "max_frames", (json_int_t)trace->cap, "max_bytes",
                     (json_int_t)trace->max_bytes, "recorded", (json_int_t)trace->recorded,
                     "dropped", (json_int_t)trace->dropped, "connections", conns);
}

void api_traces(struct api_request *r)
{
    json_t *list = json_array();
    if (r->api->broker->frame_traces) {
        struct list *pos;
        list_for_each(pos, &r->api->broker->frame_traces->traces)
            json_array_append_new(list, summary(list_entry(pos, struct frame_trace, link)));
    }
    api_reply_list(r, list);
}

void api_trace(struct api_request *r)
{
    enum frame_trace_kind kind =
        !strcmp(r->seg[2], "connections") ? FRAME_TRACE_CONNECTION : FRAME_TRACE_VHOST;
    const char *name = r->seg[3];
    if (r->http->method == HTTP_PUT) {
        start_trace(r, kind, name);
        return;
    }
    struct frame_trace *trace =
        r->api->broker->frame_traces ? frame_traces_find(r->api->broker->frame_traces, kind, name)
                                     : NULL;
    if (!trace) {
        api_not_found(r);
    } else if (r->http->method == HTTP_DELETE) {
        frame_traces_delete(r->api->broker->frame_traces, trace);
        api_reply_empty(r, 204);
    } else {
        get_trace(r, trace);
    }
}
