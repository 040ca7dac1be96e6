/* /api/bindings: list, between an exchange and a queue or exchange (GET, POST), and one (GET,
 * DELETE) by its properties key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/api_internal.h"
#include "admin/json_table.h"
#include "core/alloc.h"
#include "model/exchange.h"
#include "model/queue.h"
#include "model/vhost.h"

/* rabbit_http_util:quote_plus, then "~" as %7E (RabbitMQ's quote_binding). */
static void quote_binding(struct amqp_buf *out, const uint8_t *p, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        uint8_t c = p[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '.' || c == '-' || c == '_') {
            amqp_buf_put_u8(out, c);
        } else if (c == ' ') {
            amqp_buf_put_u8(out, '+');
        } else {
            amqp_buf_put_u8(out, '%');
            amqp_buf_put_u8(out, (uint8_t)hex[c >> 4]);
            amqp_buf_put_u8(out, (uint8_t)hex[c & 15]);
        }
    }
}

/* RabbitMQ hashes the arguments with erlang:phash2, which has no C equivalent: Warren's key
 * has the same shape (6 base64url characters after "~") from FNV-1a over the table body,
 * stable for the life of the binding, which is all a client may rely on. */
static void args_hash(struct amqp_buf *out, struct amqp_bytes args)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < args.len; i++)
        h = (h ^ args.ptr[i]) * 16777619u;
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t bytes[4] = {(uint8_t)(h >> 24), (uint8_t)(h >> 16), (uint8_t)(h >> 8), (uint8_t)h};
    uint32_t first = (uint32_t)bytes[0] << 16 | bytes[1] << 8 | bytes[2];
    char s[6] = {b64[first >> 18], b64[(first >> 12) & 63], b64[(first >> 6) & 63], b64[first & 63],
                 b64[bytes[3] >> 2], b64[(bytes[3] & 3) << 4]};
    amqp_buf_put(out, s, sizeof s);
}

static json_t *properties_key(struct amqp_bytes key, struct amqp_bytes args)
{
    struct amqp_buf b;
    amqp_buf_init(&b);
    if (!key.len && !args.len) {
        amqp_buf_put_u8(&b, '~');
    } else {
        quote_binding(&b, key.ptr, key.len);
        if (args.len) {
            amqp_buf_put_u8(&b, '~');
            args_hash(&b, args);
        }
    }
    json_t *s = json_stringn((const char *)b.data, b.len);
    amqp_buf_free(&b);
    return s;
}

static json_t *binding(const struct vhost *v, struct amqp_bytes source, struct amqp_bytes dest,
                       const char *type, struct amqp_bytes key, struct amqp_bytes args)
{
    json_t *o = json_object();
    json_object_set_new(o, "source", json_table_string(source.ptr, source.len));
    json_object_set_new(o, "vhost", json_string(v->name));
    json_object_set_new(o, "destination", json_table_string(dest.ptr, dest.len));
    json_object_set_new(o, "destination_type", json_string(type));
    json_object_set_new(o, "routing_key", json_table_string(key.ptr, key.len));
    json_object_set_new(o, "arguments", json_table_from_body(args));
    json_object_set_new(o, "properties_key", properties_key(key, args));
    return o;
}

json_t *api_binding_object(const struct vhost *v, const struct binding *b)
{
    bool to_queue = b->queue != NULL;
    return binding(v, b->exchange->name, to_queue ? b->queue->name : b->to_exchange->name,
                   to_queue ? "queue" : "exchange", b->routing_key, b->arguments);
}

json_t *api_default_binding(const struct vhost *v, const struct queue *q)
{
    return binding(v, amqp_bytes_of("", 0), q->name, "queue", q->name, amqp_bytes_of("", 0));
}

static void add_vhost_bindings(struct api_request *r, json_t *list, struct vhost *v)
{
    (void)r;
    struct map_iter it;
    void *value;
    map_iter_init(&it, &v->queues);
    while (map_iter_next(&it, NULL, NULL, &value))
        json_array_append_new(list, api_default_binding(v, value));
    map_iter_init(&it, &v->exchanges);
    while (map_iter_next(&it, NULL, NULL, &value)) {
        struct exchange *x = value;
        struct list *pos;
        for (pos = x->bindings.next; pos != &x->bindings; pos = pos->next)
            json_array_append_new(list, api_binding_object(v, list_entry(pos, struct binding, exchange_link)));
    }
}

void api_bindings(struct api_request *r)
{
    json_t *list = api_collect(r, r->nseg == 2 ? 1 : -1, add_vhost_bindings);
    if (list)
        api_reply_list(r, list);
}

/* The bindings from source to the destination the path names ("q" or "e" at seg[4]). */
static json_t *bindings_between(struct vhost *v, struct exchange *source, bool to_queue,
                                struct amqp_bytes dest)
{
    json_t *list = json_array();
    if (to_queue && source == v->default_exchange) {
        struct queue *q = vhost_find_queue(v, dest);
        if (q)
            json_array_append_new(list, api_default_binding(v, q));
    }
    struct list *pos;
    for (pos = source->bindings.next; pos != &source->bindings; pos = pos->next) {
        struct binding *b = list_entry(pos, struct binding, exchange_link);
        struct amqp_bytes name = b->queue ? b->queue->name : b->to_exchange->name;
        if ((b->queue != NULL) == to_queue && name.len == dest.len && !memcmp(name.ptr, dest.ptr, dest.len))
            json_array_append_new(list, api_binding_object(v, b));
    }
    return list;
}

/* Both ends must exist: RabbitMQ lists nothing between missing ends, and refuses to bind them
 * with 404 and the missing one's name. */
static struct exchange *ends(struct api_request *r, struct vhost **v, bool *to_queue,
                             struct amqp_bytes *dest)
{
    if (!(*v = api_vhost(r, 1)))
        return NULL;
    struct amqp_bytes source_name = api_exchange_name(r, 3);
    struct exchange *source = vhost_find_exchange(*v, source_name);
    *to_queue = !strcmp(r->seg[4], "q");
    *dest = *to_queue ? amqp_bytes_of(r->seg[5], r->seglen[5]) : api_exchange_name(r, 5);
    bool dest_exists = *to_queue ? vhost_find_queue(*v, *dest) != NULL
                                 : vhost_find_exchange(*v, *dest) != NULL;
    if (source && dest_exists)
        return source;
    if (r->http->method == HTTP_GET) {
        api_reply_list(r, json_array());
        return NULL;
    }
    bool source_missing = !source;
    struct amqp_bytes missing = source_missing ? source_name : *dest;
    api_reply_error(r, 404, "not_found", "no %s '%.*s' in vhost '%s'",
                    source_missing || !*to_queue ? "exchange" : "queue", (int)missing.len,
                    (const char *)missing.ptr, (*v)->name);
    return NULL;
}

/* One binding made or removed through the model's verb, as the request's user. */
static bool change_binding(struct api_request *r, struct vhost *v, bool bind, bool to_queue,
                           struct amqp_bytes source, struct amqp_bytes dest,
                           struct amqp_bytes rk, struct amqp_bytes args, struct outcome *out)
{
    struct session *who = api_session(r, v);
    if (to_queue) {
        struct queue_binding b = {source, dest, rk, args, who};
        return bind ? vhost_bind_queue(v, &b, out) : vhost_unbind_queue(v, &b, out);
    }
    struct exchange_binding b = {dest, source, rk, args, who};
    return bind ? vhost_bind_exchange(v, &b, out) : vhost_unbind_exchange(v, &b, out);
}

void api_bindings_between(struct api_request *r)
{
    struct vhost *v;
    bool to_queue;
    struct amqp_bytes dest;
    struct exchange *source = ends(r, &v, &to_queue, &dest);
    if (!source)
        return;
    if (r->http->method == HTTP_GET) {
        api_reply_list(r, bindings_between(v, source, to_queue, dest));
        return;
    }
    json_t *body = api_body_object(r);
    if (!body)
        return;
    const char *key = json_string_value(json_object_get(body, "routing_key"));
    struct amqp_bytes rk = key ? amqp_bytes_of(key, strlen(key)) : amqp_bytes_of("", 0);
    struct amqp_buf args;
    amqp_buf_init(&args);
    struct outcome out;
    if (api_body_arguments(r, body, &args)) {
        struct amqp_bytes a = amqp_bytes_of(args.data, args.len);
        if (!change_binding(r, v, true, to_queue, source->name, dest, rk, a, &out)) {
            api_reply_outcome(r, &out);
        } else {
            struct amqp_buf loc;
            amqp_buf_init(&loc);
            quote_binding(&loc, dest.ptr, dest.len);
            /* the key is URL-quoted once more in the Location, as RabbitMQ sends it */
            json_t *pk = properties_key(rk, a);
            amqp_buf_put_u8(&loc, '/');
            for (const char *c = json_string_value(pk); *c; c++) {
                if (*c == '%' || *c == '+')
                    amqp_buf_put(&loc, *c == '%' ? "%25" : "%2B", 3);
                else
                    amqp_buf_put_u8(&loc, (uint8_t)*c);
            }
            json_decref(pk);
            snprintf(r->res->headers, sizeof r->res->headers, "location: %.*s\r\n",
                     (int)loc.len, (const char *)loc.data);
            amqp_buf_free(&loc);
            api_reply_empty(r, 201);
        }
    }
    amqp_buf_free(&args);
    json_decref(body);
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
         : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Does the path's segment (already URL-decoded once) name this properties key? RabbitMQ
 * unquotes the key's parts, so "a.%2A" and "a.%252A" in a path both name "a.%2A". */
static bool names_key(const char *key, const char *segment)
{
    if (!strcmp(key, segment))
        return true;
    size_t n = strlen(key);
    char *plain = xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (key[i] == '%' && i + 2 < n && (hi = hex_digit(key[i + 1])) >= 0 &&
            (lo = hex_digit(key[i + 2])) >= 0) {
            plain[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            plain[o++] = key[i] == '+' ? ' ' : key[i];
        }
    }
    plain[o] = '\0';
    bool same = !strcmp(plain, segment);
    free(plain);
    return same;
}

/* The model's binding whose properties key is props. */
static struct binding *find_binding(struct exchange *source, bool to_queue, struct amqp_bytes dest,
                                    const char *props)
{
    struct list *pos;
    for (pos = source->bindings.next; pos != &source->bindings; pos = pos->next) {
        struct binding *b = list_entry(pos, struct binding, exchange_link);
        struct amqp_bytes name = b->queue ? b->queue->name : b->to_exchange->name;
        if ((b->queue != NULL) != to_queue || name.len != dest.len || memcmp(name.ptr, dest.ptr, dest.len))
            continue;
        json_t *key = properties_key(b->routing_key, b->arguments);
        bool same = names_key(json_string_value(key), props);
        json_decref(key);
        if (same)
            return b;
    }
    return NULL;
}

void api_binding(struct api_request *r)
{
    struct vhost *v;
    bool to_queue;
    struct amqp_bytes dest;
    struct exchange *source = ends(r, &v, &to_queue, &dest);
    if (!source)
        return;
    json_t *list = bindings_between(v, source, to_queue, dest);
    json_t *found = NULL;
    struct binding *real;
    size_t i;
    json_t *b;
    json_array_foreach(list, i, b) {
        if (names_key(json_string_value(json_object_get(b, "properties_key")), r->seg[6])) {
            found = b;
            break;
        }
    }
    if (!found) {
        api_not_found(r);
    } else if (r->http->method == HTTP_GET) {
        api_reply_object(r, json_incref(found));
    } else if (!(real = find_binding(source, to_queue, dest, r->seg[6]))) {
        api_reply_outcome(r, &(struct outcome){.code = 403}); /* the default exchange's */
    } else {
        struct outcome out;
        if (change_binding(r, v, false, to_queue, source->name, dest, real->routing_key,
                           real->arguments, &out))
            api_reply_empty(r, 204);
        else
            api_reply_outcome(r, &out);
    }
    json_decref(list);
}
