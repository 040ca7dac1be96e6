/* The management HTTP API: routing by method and path, basic authentication, RabbitMQ's errors. */
#include "admin/api.h"

#include <ctype.h>
#include <limits.h>
#include <openssl/evp.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin/api_internal.h"
#include "model/vhost.h"
#include "admin/json_table.h"
#include "admin/ui.h"
#include "core/alloc.h"
#include "core/container.h"
#include "model/user.h"
#include "proto/frame_trace.h"

enum { M_GET = 1, M_PUT = 2, M_POST = 4, M_DELETE = 8 };

/* Who may use a route, by user tag as RabbitMQ decides it: every route needs a
 * management-class tag; these need more. */
enum { NEEDS_MANAGEMENT = 0, NEEDS_MONITOR = 1, NEEDS_ADMIN = 2, NEEDS_ADMIN_TO_WRITE = 3,
       NEEDS_POLICYMAKER = 4 };

struct route {
    const char *pattern; /* segments after /api, '*' matching any one */
    unsigned methods;
    api_handler handler;
    int needs;
    int vhost_seg; /* the segment that names a vhost the user must have access to; 0: none */
};

static const struct route routes[] = {
    {"overview", M_GET, api_overview, NEEDS_MANAGEMENT, 0},
    {"whoami", M_GET, api_whoami, NEEDS_MANAGEMENT, 0},
    {"nodes", M_GET, api_nodes, NEEDS_MONITOR, 0},
    {"nodes/*", M_GET, api_node, NEEDS_MONITOR, 0},
    {"vhosts", M_GET, api_vhosts, NEEDS_MANAGEMENT, 0},
    {"vhosts/*", M_GET | M_PUT | M_DELETE, api_vhost_one, NEEDS_ADMIN_TO_WRITE, 0},
    {"vhosts/*/permissions", M_GET, api_permission_lists, NEEDS_ADMIN, 0},
    {"vhosts/*/topic-permissions", M_GET, api_permission_lists, NEEDS_ADMIN, 0},
    {"users", M_GET, api_users, NEEDS_ADMIN, 0},
    {"users/without-permissions", M_GET, api_users, NEEDS_ADMIN, 0},
    {"users/*", M_GET | M_PUT | M_DELETE, api_user, NEEDS_ADMIN, 0},
    {"users/*/permissions", M_GET, api_user_permissions, NEEDS_ADMIN, 0},
    {"users/*/topic-permissions", M_GET, api_user_permissions, NEEDS_ADMIN, 0},
    {"permissions", M_GET, api_permission_lists, NEEDS_ADMIN, 0},
    {"permissions/*/*", M_GET | M_PUT | M_DELETE, api_permission, NEEDS_ADMIN, 0},
    {"topic-permissions", M_GET, api_permission_lists, NEEDS_ADMIN, 0},
    {"topic-permissions/*/*", M_GET | M_PUT | M_DELETE, api_topic_permission, NEEDS_ADMIN, 0},
    {"user-limits", M_GET, api_user_limits, NEEDS_ADMIN, 0},
    {"user-limits/*", M_GET, api_user_limits, NEEDS_ADMIN, 0},
    {"user-limits/*/*", M_PUT | M_DELETE, api_user_limits, NEEDS_ADMIN, 0},
    {"vhost-limits", M_GET, api_vhost_limits, NEEDS_MANAGEMENT, 0},
    {"vhost-limits/*", M_GET, api_vhost_limits, NEEDS_MANAGEMENT, 1},
    {"vhost-limits/*/*", M_PUT | M_DELETE, api_vhost_limits, NEEDS_ADMIN, 1},
    {"definitions", M_GET | M_POST, api_definitions, NEEDS_ADMIN, 0},
    {"definitions/*", M_GET | M_POST, api_definitions, NEEDS_ADMIN, 0},
    /* policies and parameters make their own vhost checks: RabbitMQ's texts differ there */
    {"policies", M_GET, api_policies, NEEDS_MANAGEMENT, 0},
    {"policies/*", M_GET, api_policies, NEEDS_MANAGEMENT, 0},
    {"policies/*/*", M_GET | M_PUT | M_DELETE, api_policies, NEEDS_MANAGEMENT, 0},
    {"operator-policies", M_GET, api_policies, NEEDS_MANAGEMENT, 0},
    {"operator-policies/*", M_GET, api_policies, NEEDS_MANAGEMENT, 0},
    {"operator-policies/*/*", M_GET | M_PUT | M_DELETE, api_policies, NEEDS_MANAGEMENT, 0},
    {"parameters", M_GET, api_parameters, NEEDS_MANAGEMENT, 0},
    {"parameters/*", M_GET, api_parameters, NEEDS_MANAGEMENT, 0},
    {"parameters/*/*", M_GET, api_parameters, NEEDS_MANAGEMENT, 0},
    {"parameters/*/*/*", M_GET | M_PUT | M_DELETE, api_parameters, NEEDS_MANAGEMENT, 0},
    {"aliveness-test/*", M_GET, api_aliveness, NEEDS_MANAGEMENT, 1},
    /* Warren's own: rabbitmqctl's runtime limits, for warrenctl */
    {"warren/vm-memory-high-watermark", M_GET | M_PUT, api_memory_watermark, NEEDS_ADMIN, 0},
    {"warren/disk-free-limit", M_GET | M_PUT, api_disk_free_limit_route, NEEDS_ADMIN, 0},
    /* Warren's frame traces (api_traces.c) */
    {"warren/traces", M_GET, api_traces, NEEDS_ADMIN, 0},
    {"warren/traces/connections/*", M_GET | M_PUT | M_DELETE, api_trace, NEEDS_ADMIN, 0},
    {"warren/traces/vhosts/*", M_GET | M_PUT | M_DELETE, api_trace, NEEDS_ADMIN, 0},
    /* fault injection for client testing, refused unless enabled (api_faults.c) */
    {"warren/faults", M_GET | M_DELETE, api_faults, NEEDS_ADMIN, 0},
    {"warren/faults/alarms", M_GET | M_POST, api_fault_alarms, NEEDS_ADMIN, 0},
    {"warren/faults/connections/*", M_GET | M_POST | M_DELETE, api_fault_connection, NEEDS_ADMIN, 0},
    {"health/checks/alarms", M_GET, api_health_alarms, NEEDS_MANAGEMENT, 0},
    {"health/checks/local-alarms", M_GET, api_health_alarms, NEEDS_MANAGEMENT, 0},
    {"health/checks/port-listener/*", M_GET, api_health_port_listener, NEEDS_MANAGEMENT, 0},
    {"health/checks/virtual-hosts", M_GET, api_health_virtual_hosts, NEEDS_MANAGEMENT, 0},
    {"health/checks/protocol-listener/*", M_GET, api_health_protocol_listener, NEEDS_MANAGEMENT, 0},
    {"global-parameters", M_GET, api_global_parameters, NEEDS_POLICYMAKER, 0},
    {"vhosts/*/connections", M_GET, api_connections, NEEDS_MANAGEMENT, 1},
    {"vhosts/*/channels", M_GET, api_channels, NEEDS_MANAGEMENT, 1},
    {"exchanges", M_GET, api_exchanges, NEEDS_MANAGEMENT, 0},
    {"exchanges/*", M_GET, api_exchanges, NEEDS_MANAGEMENT, 1},
    {"exchanges/*/*", M_GET | M_PUT | M_DELETE, api_exchange, NEEDS_MANAGEMENT, 1},
    {"exchanges/*/*/bindings/source", M_GET, api_exchange_bindings, NEEDS_MANAGEMENT, 1},
    {"exchanges/*/*/bindings/destination", M_GET, api_exchange_bindings, NEEDS_MANAGEMENT, 1},
    {"exchanges/*/*/publish", M_POST, api_exchange_publish, NEEDS_MANAGEMENT, 1},
    {"queues", M_GET, api_queues, NEEDS_MANAGEMENT, 0},
    {"queues/*", M_GET, api_queues, NEEDS_MANAGEMENT, 1},
    {"queues/*/*", M_GET | M_PUT | M_DELETE, api_queue, NEEDS_MANAGEMENT, 1},
    {"queues/*/*/contents", M_DELETE, api_queue_contents, NEEDS_MANAGEMENT, 1},
    {"queues/*/*/get", M_POST, api_queue_get, NEEDS_MANAGEMENT, 1},
    {"queues/*/*/peek", M_GET, api_queue_peek, NEEDS_MANAGEMENT, 1}, /* Warren's own */
    {"queues/*/*/bindings", M_GET, api_queue_bindings, NEEDS_MANAGEMENT, 1},
    {"bindings", M_GET, api_bindings, NEEDS_MANAGEMENT, 0},
    {"bindings/*", M_GET, api_bindings, NEEDS_MANAGEMENT, 1},
    {"bindings/*/e/*/q/*", M_GET | M_POST, api_bindings_between, NEEDS_MANAGEMENT, 1},
    {"bindings/*/e/*/e/*", M_GET | M_POST, api_bindings_between, NEEDS_MANAGEMENT, 1},
    {"bindings/*/e/*/q/*/*", M_GET | M_DELETE, api_binding, NEEDS_MANAGEMENT, 1},
    {"bindings/*/e/*/e/*/*", M_GET | M_DELETE, api_binding, NEEDS_MANAGEMENT, 1},
    {"connections", M_GET, api_connections, NEEDS_MANAGEMENT, 0},
    {"connections/*", M_GET | M_DELETE, api_connection, NEEDS_MANAGEMENT, 0},
    {"connections/*/channels", M_GET, api_connection_channels, NEEDS_MANAGEMENT, 0},
    {"channels", M_GET, api_channels, NEEDS_MANAGEMENT, 0},
    {"channels/*", M_GET, api_channel, NEEDS_MANAGEMENT, 0},
    {"consumers", M_GET, api_consumers, NEEDS_MANAGEMENT, 0},
    {"consumers/*", M_GET, api_consumers, NEEDS_MANAGEMENT, 1},
};

/* ---- replies ---- */

static void set_body(struct api_request *r, int status, char *body, size_t len)
{
    free(r->res->body);
    r->res->status = status;
    r->res->body = body;
    r->res->body_len = len;
    r->res->json = body != NULL;
}

void api_reply_json(struct api_request *r, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(body);
    if (!text)
        abort();
    set_body(r, status, text, strlen(text));
}

void api_reply_empty(struct api_request *r, int status)
{
    set_body(r, status, NULL, 0);
}

void api_reply_error(struct api_request *r, int status, const char *error, const char *fmt, ...)
{
    char reason[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    json_t *o = json_object();
    json_object_set_new(o, "error", json_string(error));
    json_object_set_new(o, "reason", json_table_string(reason, strlen(reason)));
    api_reply_json(r, status, o);
}

void api_not_found(struct api_request *r)
{
    api_reply_error(r, 404, "Object Not Found", "Not Found");
}

void api_reply_outcome(struct api_request *r, const struct outcome *out)
{
    switch (out->code) {
    case 404: api_not_found(r); break;
    /* RabbitMQ's management maps access_refused to 401 */
    case 403: api_reply_error(r, 401, "not_authorised", "Access refused."); break;
    default: api_reply_error(r, 400, "bad_request", "%s", out->text); break;
    }
}

/* ---- query parameters ---- */

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* %XX decoded in place ('+' too when `plus`, as in a query); returns the new length. */
static size_t url_decode(char *s, size_t len, bool plus)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < len && (hi = hex_value(s[i + 1])) >= 0 &&
            (lo = hex_value(s[i + 2])) >= 0) {
            s[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (plus && s[i] == '+') {
            s[o++] = ' ';
        } else {
            s[o++] = s[i];
        }
    }
    s[o] = '\0';
    return o;
}

char *api_query(const struct api_request *r, const char *key)
{
    size_t klen = strlen(key);
    const char *p = r->http->query;
    while (*p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len >= klen && !strncmp(p, key, klen) && (len == klen || p[klen] == '=')) {
            const char *v = len == klen ? p + len : p + klen + 1;
            size_t vlen = len - (size_t)(v - p);
            char *out = strndup(v, vlen);
            if (!out)
                abort();
            url_decode(out, vlen, true);
            return out;
        }
        p += len + (end ? 1 : 0);
    }
    return NULL;
}

bool api_query_true(const struct api_request *r, const char *key)
{
    char *v = api_query(r, key);
    bool yes = v && !strcmp(v, "true");
    free(v);
    return yes;
}

/* ---- JSON helpers ---- */

static const char *string_field(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* RabbitMQ's default order for lists: by vhost, then name. */
static int by_vhost_and_name(const void *a, const void *b, void *ctx)
{
    (void)ctx;
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int c = strcmp(string_field(x, "vhost"), string_field(y, "vhost"));
    return c ? c : strcmp(string_field(x, "name"), string_field(y, "name"));
}

static void sort_array(json_t *array, int (*cmp)(const void *, const void *, void *), void *ctx)
{
    size_t n = json_array_size(array);
    if (n < 2)
        return;
    json_t **items = xmalloc(n * sizeof *items);
    for (size_t i = 0; i < n; i++)
        items[i] = json_incref(json_array_get(array, i));
    qsort_r(items, n, sizeof *items, cmp, ctx);
    json_array_clear(array);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(array, items[i]);
    free(items);
}

void api_sort(json_t *array)
{
    sort_array(array, by_vhost_and_name, NULL);
}

/* ?columns=a,b.c: only those fields (one level of nesting, as RabbitMQ's dotted names). */
static json_t *pick_columns(json_t *o, const char *columns)
{
    if (!json_is_object(o))
        return json_incref(o);
    json_t *out = json_object();
    char *copy = strdup(columns), *save = NULL;
    if (!copy)
        abort();
    for (char *col = strtok_r(copy, ",", &save); col; col = strtok_r(NULL, ",", &save)) {
        char *dot = strchr(col, '.');
        if (!dot) {
            json_t *v = json_object_get(o, col);
            if (v)
                json_object_set(out, col, v);
            continue;
        }
        *dot = '\0';
        json_t *inner = json_object_get(o, col), *v = json_object_get(inner, dot + 1);
        if (!v)
            continue;
        json_t *dst = json_object_get(out, col);
        if (!dst) {
            dst = json_object();
            json_object_set_new(out, col, dst);
        }
        json_object_set(dst, dot + 1, v);
    }
    free(copy);
    return out;
}

static json_t *apply_columns(const struct api_request *r, json_t *items)
{
    char *columns = api_query(r, "columns");
    if (!columns)
        return items;
    json_t *out = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(items, i, v)
        json_array_append_new(out, pick_columns(v, columns));
    free(columns);
    json_decref(items);
    return out;
}

static int by_sort_key(const void *a, const void *b, void *ctx)
{
    const char *sort_key = ctx;
    const json_t *x = json_object_get(*(json_t *const *)a, sort_key);
    const json_t *y = json_object_get(*(json_t *const *)b, sort_key);
    if (json_is_number(x) && json_is_number(y)) {
        double d = json_number_value(x) - json_number_value(y);
        return d < 0 ? -1 : d > 0;
    }
    const char *s = json_string_value(x), *t = json_string_value(y);
    return strcmp(s ? s : "", t ? t : "");
}

static bool parse_page_number(const char *s, long min, long max, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

void api_reply_list(struct api_request *r, json_t *items)
{
    char *sort = api_query(r, "sort");
    if (sort && *sort) {
        sort_array(items, by_sort_key, sort);
    }
    free(sort);
    if (api_query_true(r, "sort_reverse")) {
        size_t n = json_array_size(items);
        json_t *rev = json_array();
        for (size_t i = n; i-- > 0;)
            json_array_append(rev, json_array_get(items, i));
        json_decref(items);
        items = rev;
    }
    char *page_s = api_query(r, "page");
    if (!page_s) {
        api_reply_json(r, 200, apply_columns(r, items));
        return;
    }
    char *size_s = api_query(r, "page_size");
    char *name = api_query(r, "name");
    bool use_regex = api_query_true(r, "use_regex");
    long page, page_size = 100;
    bool valid = parse_page_number(page_s, LONG_MIN, 1L << 30, &page) &&
                 (!size_s || parse_page_number(size_s, LONG_MIN, 1L << 30, &page_size));
    bool in_range = valid && page >= 1 && page_size >= 1 && page_size <= 500;
    regex_t re;
    bool have_re = false;
    if (in_range && name && *name && use_regex) { /* RabbitMQ's filter regex is caseless */
        valid = regcomp(&re, name, REG_EXTENDED | REG_NOSUB | REG_ICASE) == 0;
        have_re = valid;
    }
    if (!valid) {
        api_reply_error(r, 400, "bad_request", "Pagination parameters are invalid");
    } else if (!in_range) {
        api_reply_error(r, 400, "invalid_pagination_parameters",
                        "Invalid pagination parameters: page number %s, page size %s", page_s,
                        size_s ? size_s : "undefined");
    } else {
        size_t total = json_array_size(items);
        json_t *filtered = json_array();
        size_t i;
        json_t *v;
        json_array_foreach(items, i, v) {
            const char *n = string_field(v, "name");
            if (!name || !*name || (have_re ? regexec(&re, n, 0, NULL, 0) == 0 : strcasestr(n, name) != NULL))
                json_array_append(filtered, v);
        }
        size_t count = json_array_size(filtered);
        long page_count = (long)((count + (size_t)page_size - 1) / (size_t)page_size);
        if ((size_t)((page - 1) * page_size) > count) {
            api_reply_error(r, 400, "page_out_of_range",
                            "Page out of range, page: %ld page size: %ld, len: %zu", page,
                            page_size, count);
            json_decref(filtered);
        } else {
            json_t *slice = json_array();
            for (size_t k = (size_t)((page - 1) * page_size); k < count && k < (size_t)(page * page_size); k++)
                json_array_append(slice, json_array_get(filtered, k));
            json_decref(filtered);
            slice = apply_columns(r, slice);
            json_t *o = json_object();
            json_object_set_new(o, "filtered_count", json_integer((json_int_t)count));
            json_object_set_new(o, "item_count", json_integer((json_int_t)json_array_size(slice)));
            json_object_set_new(o, "items", slice);
            json_object_set_new(o, "page", json_integer(page));
            json_object_set_new(o, "page_count", json_integer(page_count));
            json_object_set_new(o, "page_size", json_integer(page_size));
            json_object_set_new(o, "total_count", json_integer((json_int_t)total));
            api_reply_json(r, 200, o);
        }
        if (have_re)
            regfree(&re);
    }
    json_decref(items);
    free(page_s);
    free(size_s);
    free(name);
}

void api_reply_object(struct api_request *r, json_t *object)
{
    char *columns = api_query(r, "columns");
    if (columns) {
        json_t *picked = pick_columns(object, columns);
        json_decref(object);
        object = picked;
        free(columns);
    }
    api_reply_json(r, 200, object);
}

json_t *api_body_object(struct api_request *r)
{
    if (r->http->body_len == 0)
        return json_object();
    json_t *v = json_loadb(r->http->body, r->http->body_len, JSON_DECODE_ANY, NULL);
    if (!json_is_object(v)) {
        json_decref(v);
        api_reply_error(r, 400, "bad_request", "not_json");
        return NULL;
    }
    return v;
}

/* RabbitMQ's "[{key_missing,a},{key_missing,b}]" for the keys a body lacks; false then. */
bool api_require_keys(struct api_request *r, json_t *body, const char *const *keys, size_t n)
{
    char reason[256] = "[";
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        if (!json_object_get(body, keys[i]))
            len += (size_t)snprintf(reason + len, sizeof reason - len, "%s{key_missing,%s}",
                                    len > 1 ? "," : "", keys[i]);
    if (len == 1)
        return true;
    snprintf(reason + len, sizeof reason - len, "]");
    api_reply_error(r, 400, "bad_request", "%s", reason);
    return false;
}

bool api_body_arguments(struct api_request *r, const json_t *body, struct amqp_buf *out)
{
    if (json_table_to_body(json_object_get(body, "arguments"), out))
        return true;
    api_reply_error(r, 400, "bad_request", "arguments must be an object");
    return false;
}

bool api_body_bool(const json_t *body, const char *key, bool dflt)
{
    const json_t *v = json_object_get(body, key);
    if (json_is_boolean(v))
        return json_is_true(v);
    if (json_is_string(v))
        return !strcmp(json_string_value(v), "true");
    return dflt;
}

struct vhost *api_vhost(struct api_request *r, int seg)
{
    struct vhost *v = broker_find_vhost(r->api->broker, (const uint8_t *)r->seg[seg], r->seglen[seg]);
    if (!v && r->http->method == HTTP_PUT) /* RabbitMQ's declare into a missing vhost */
        api_reply_error(r, 404, "not_found", "vhost_not_found");
    else if (!v)
        api_not_found(r);
    return v;
}

bool api_base64_decode(const char *in, size_t len, struct amqp_buf *out)
{
    char *clean = xmalloc(len + 4);
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (in[i] != '\n' && in[i] != '\r' && in[i] != ' ')
            clean[n++] = in[i];
    while (n % 4)
        clean[n++] = '=';
    uint8_t *dst = amqp_buf_reserve(out, n / 4 * 3 + 1);
    int got = n ? EVP_DecodeBlock(dst, (const unsigned char *)clean, (int)n) : 0;
    if (got >= 0) {
        got -= n && clean[n - 1] == '=' ? (clean[n - 2] == '=' ? 2 : 1) : 0;
        out->len += (size_t)got;
    }
    free(clean);
    return got >= 0;
}

json_t *api_base64_encode(const void *p, size_t len)
{
    char *dst = xmalloc(len / 3 * 4 + 8);
    int n = EVP_EncodeBlock((unsigned char *)dst, p, (int)len);
    json_t *s = json_stringn(dst, (size_t)n);
    free(dst);
    return s;
}

struct amqp_bytes api_exchange_name(const struct api_request *r, int seg)
{
    if (!strcmp(r->seg[seg], "amq.default"))
        return amqp_bytes_of("", 0);
    return amqp_bytes_of(r->seg[seg], r->seglen[seg]);
}

/* ---- authentication ---- */

/* RabbitMQ's tag rules; NULL when the user may, else the reason of the 401. */
static const char *refusal(const struct user *u, const struct route *route, int method)
{
    unsigned any = USER_TAG_ADMINISTRATOR | USER_TAG_MONITORING | USER_TAG_POLICYMAKER |
                   USER_TAG_MANAGEMENT;
    if (!(u->tag_bits & any))
        return "Not management user";
    bool admin = user_has_tag(u, USER_TAG_ADMINISTRATOR);
    if ((route->needs == NEEDS_ADMIN || (route->needs == NEEDS_ADMIN_TO_WRITE &&
                                         method != HTTP_GET && method != HTTP_HEAD)) &&
        !admin)
        return "Not administrator user";
    if (route->needs == NEEDS_MONITOR && !admin && !user_has_tag(u, USER_TAG_MONITORING))
        return "Not monitor user";
    if (route->needs == NEEDS_POLICYMAKER && !admin && !user_has_tag(u, USER_TAG_POLICYMAKER))
        return "User not authorised to access object";
    return NULL;
}

bool api_sees_everything(const struct api_request *r)
{
    return user_has_tag(r->auth, USER_TAG_ADMINISTRATOR) || user_has_tag(r->auth, USER_TAG_MONITORING);
}

bool api_may_see_vhost(const struct api_request *r, const struct vhost *v)
{
    return api_sees_everything(r) || permission_set_find(&v->permissions, r->user) != NULL;
}

/* A management user reaches only the vhosts it has permissions in; a missing vhost is left to
 * the handler's 404. */
static bool vhost_refused(const struct api_request *r, const struct route *route)
{
    if (!route->vhost_seg || r->nseg <= route->vhost_seg)
        return false;
    const struct vhost *v = broker_find_vhost(r->api->broker, (const uint8_t *)r->seg[route->vhost_seg],
                                              r->seglen[route->vhost_seg]);
    return v && !api_may_see_vhost(r, v);
}

static const char *const challenge = "www-authenticate: Basic realm=\"RabbitMQ Management\"\r\n";

/* The user the Authorization header names and proves, or NULL after replying 401. */
static struct user *authenticate(struct api_request *r)
{
    struct http_response *res = r->res;
    const char *h = r->http->authorization;
    if (!h) {
        snprintf(res->headers, sizeof res->headers, "%s", challenge);
        api_reply_empty(r, 401);
        return NULL;
    }
    struct user *u = NULL;
    while (*h == ' ')
        h++;
    if (!strncasecmp(h, "basic ", 6)) {
        const char *b64 = h + 6;
        while (*b64 == ' ')
            b64++;
        size_t n = strlen(b64);
        while (n && b64[n - 1] == ' ')
            n--;
        if (n % 4 == 0 && n < 4096) {
            unsigned char plain[3072 + 1];
            int len = EVP_DecodeBlock(plain, (const unsigned char *)b64, (int)n);
            if (len >= 0) {
                len -= n && b64[n - 1] == '=' ? (n > 1 && b64[n - 2] == '=' ? 2 : 1) : 0;
                unsigned char *colon = memchr(plain, ':', (size_t)len);
                if (colon) {
                    u = broker_find_user(r->api->broker, plain, (size_t)(colon - plain));
                    if (u && !user_check_password(u, colon + 1, (size_t)(plain + len - colon - 1)))
                        u = NULL;
                }
            }
        }
    }
    if (!u) {
        snprintf(res->headers, sizeof res->headers, "%s", challenge);
        api_reply_error(r, 401, "not_authorized", "Login failed");
    }
    return u;
}

/* ---- routing ---- */

static bool route_matches(const char *pattern, const struct api_request *r)
{
    int i = 0;
    const char *p = pattern;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (i >= r->nseg)
            return false;
        if (!(len == 1 && *p == '*') && (r->seglen[i] != len || memcmp(r->seg[i], p, len)))
            return false;
        i++;
        p += len + (end ? 1 : 0);
    }
    return i == r->nseg;
}

static unsigned method_bit(int method)
{
    switch (method) {
    case HTTP_GET: return M_GET;
    case HTTP_PUT: return M_PUT;
    case HTTP_POST: return M_POST;
    case HTTP_DELETE: return M_DELETE;
    default: return 0;
    }
}

static void allow_header(char *out, size_t size, unsigned methods)
{
    snprintf(out, size, "allow: %s%s%s%s%sOPTIONS\r\n", methods & M_GET ? "HEAD, GET, " : "",
             methods & M_PUT ? "PUT, " : "", methods & M_POST ? "POST, " : "",
             methods & M_DELETE ? "DELETE, " : "", "");
}

/* Splits the path after "/api" into URL-decoded segments, NUL-terminated in place; false
 * when it is not the API's. */
static bool split_path(struct api_request *r, char *path)
{
    if (strncmp(path, "/api/", 5) && strcmp(path, "/api"))
        return false;
    r->nseg = 0;
    if (!path[4])
        return true;
    for (char *p = path + 5;;) {
        char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (!end && len == 0)
            break; /* a trailing slash */
        if (r->nseg == API_MAX_SEGMENTS)
            return false;
        if (end)
            *end = '\0';
        r->seg[r->nseg] = p;
        r->seglen[r->nseg] = url_decode(p, len, false);
        r->nseg++;
        if (!end)
            break;
        p = end + 1;
    }
    return true;
}

/* A response waiting for the definitions its request recorded to reach the disk. */
struct api_hold {
    struct http_hold hold;
    struct definitions_waiter waiter;
    struct api *api;
};

/* On disk: the response goes. Not: RabbitMQ's 500, as its management API reports an
 * internal error (the store has logged why). */
static void hold_settled(struct definitions_waiter *w, int error)
{
    struct api_hold *h = container_of(w, struct api_hold, waiter);
    if (!error) {
        http_hold_release(&h->hold, NULL);
    } else {
        struct http_response res = {.status = 500};
        struct api_request r = {.api = h->api, .res = &res};
        api_reply_error(&r, 500, "internal_server_error",
                        "the definitions journal could not be written: %s", strerror(-error));
        http_hold_release(&h->hold, &res);
    }
    free(h);
}

static void hold_gone(struct http_hold *hold)
{
    struct api_hold *h = container_of(hold, struct api_hold, hold);
    if (definitions_waiting(&h->waiter))
        definitions_waiter_cancel(&h->waiter);
    free(h);
}

/* The response waits when the request recorded anything since `before`. */
static void reply_after_disk(struct api_request *r, uint64_t before)
{
    struct api_hold *h = xcalloc(1, sizeof *h);
    list_init(&h->waiter.link);
    h->waiter.settled = hold_settled;
    if (!definitions_wait(&r->api->broker->definitions, before, &h->waiter)) {
        free(h);
        return;
    }
    h->api = r->api;
    h->hold.gone = hold_gone;
    r->res->hold = &h->hold;
}

/* A request that may change definitions is one batch: whatever it changed (handlers set some
 * settings by hand, so they are looked at once here) is on disk before the reply is sent. */
static void run_handler(struct api_request *r, const struct route *route)
{
    struct broker *b = r->api->broker;
    bool changes = r->http->method != HTTP_GET && r->http->method != HTTP_HEAD;
    if (!changes) {
        route->handler(r);
        return;
    }
    uint64_t before = definitions_ticket(&b->definitions);
    broker_definitions_begin(b);
    route->handler(r);
    if (r->res->status < 300)
        broker_settings_changed(b);
    broker_definitions_end(b);
    reply_after_disk(r, before);
}

static void handle(void *ctx, const struct http_request *http, struct http_response *res)
{
    struct api *a = ctx;
    struct api_request r = {.api = a, .http = http, .res = res};
    if (strncmp(http->path, "/api/", 5) && strcmp(http->path, "/api")) {
        ui_serve(http, res); /* everything outside /api is the web UI's */
        return;
    }
    char *path = strdup(http->path);
    if (!path)
        abort();
    const struct route *route = NULL;
    unsigned allowed = 0;
    if (split_path(&r, path)) {
        for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
            if (route_matches(routes[i].pattern, &r)) {
                route = &routes[i];
                allowed = routes[i].methods;
                break;
            }
        }
    }
    if (!route) {
        api_not_found(&r);
    } else if (http->method == HTTP_OPTIONS) {
        allow_header(res->headers, sizeof res->headers, allowed);
        api_reply_empty(&r, 200);
    } else if (!(method_bit(http->method) & allowed)) {
        allow_header(res->headers, sizeof res->headers, allowed);
        api_reply_empty(&r, 405);
    } else {
        struct user *u = authenticate(&r);
        const char *refused = u ? refusal(u, route, http->method) : NULL;
        if (refused) {
            api_reply_error(&r, 401, "not_authorised", "%s", refused);
        } else if (u) {
            r.user = u->name;
            r.auth = u;
            if (vhost_refused(&r, route))
                api_reply_error(&r, 401, "not_authorised", "User not authorised to access virtual host");
            else
                run_handler(&r, route);
        }
    }
    free(path);
}

json_t *api_collect(struct api_request *r, int seg, api_vhost_adder add)
{
    struct vhost *only = NULL;
    if (seg >= 0 && !(only = api_vhost(r, seg)))
        return NULL;
    json_t *list = json_array();
    struct list *pos;
    list_for_each(pos, &r->api->broker->vhosts) {
        struct vhost *v = list_entry(pos, struct vhost, link);
        if ((!only || v == only) && api_may_see_vhost(r, v))
            add(r, list, v);
    }
    return list;
}

struct session *api_session(struct api_request *r, struct vhost *v)
{
    vhost_transient_session(v, &r->session, r->auth);
    return &r->session;
}

int api_start(struct api *a, uv_loop_t *loop, struct broker *broker, struct tcp_server *tcp,
              char *why, size_t why_size)
{
    a->broker = broker;
    a->tcp = tcp;
    a->started_ms = uv_now(loop);
    const struct broker_config *cfg = &broker->config;
    struct http_listen where = {
        .bind = cfg->management_bind ? cfg->management_bind : cfg->bind, .port = cfg->management_port,
        .timeouts = &cfg->management_timeouts, .https = &cfg->management_ssl, .ssl_keys = "management.ssl", .what = "the management API"};
    return http_server_start(&a->http, loop, &where, handle, a, why, why_size);
}

void api_stop(struct api *a)
{
    http_server_stop(&a->http);
    if (a->broker->frame_traces) { /* the connections still recording stop */
        frame_traces_free(a->broker->frame_traces);
        a->broker->frame_traces = NULL;
    }
}
