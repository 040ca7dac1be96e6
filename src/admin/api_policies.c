/* /api/policies, /api/operator-policies and /api/parameters: list, one, set (PUT) and delete,
 * with RabbitMQ 3.10's tag rules and texts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/api_internal.h"
#include "admin/policy_json.h"
#include "model/broker.h"
#include "model/exchange.h"
#include "model/queue.h"
#include "model/user.h"
#include "model/vhost.h"

static bool is_admin(const struct api_request *r)
{
    return user_has_tag(r->auth, USER_TAG_ADMINISTRATOR);
}

/* RabbitMQ's login vhosts: those where the user has permissions. */
static bool may_enter(const struct api_request *r, const struct vhost *v)
{
    return permission_set_find(&v->permissions, r->auth->name) != NULL;
}

static enum policy_kind kind_of(const struct api_request *r)
{
    return !strcmp(r->seg[0], "operator-policies") ? POLICY_OPERATOR : POLICY_REGULAR;
}

/* ---- lists: every vhost the user may enter (all for an administrator) ---- */

struct listing {
    enum policy_kind kind;
    bool as_parameters;
};

static void add_policies(json_t *list, const struct vhost *v, enum policy_kind kind,
                         bool as_parameters)
{
    struct list *pos;
    list_for_each(pos, &v->policies[kind]) {
        const struct policy *p = list_entry(pos, struct policy, link);
        json_array_append_new(list, as_parameters ? policy_json_parameter(p, kind, v->name)
                                                  : policy_json(p, v->name));
    }
}

/* RabbitMQ lists policies by priority, lowest first, then by name. */
static int by_priority(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    double px = json_number_value(json_object_get(x, "priority"));
    double py = json_number_value(json_object_get(y, "priority"));
    if (px != py)
        return px < py ? -1 : 1;
    int c = strcmp(json_string_value(json_object_get(x, "vhost")),
                   json_string_value(json_object_get(y, "vhost")));
    return c ? c : strcmp(json_string_value(json_object_get(x, "name")),
                          json_string_value(json_object_get(y, "name")));
}

static void sort_by_priority(json_t *list)
{
    size_t n = json_array_size(list);
    if (n < 2)
        return;
    json_t **items = calloc(n, sizeof *items);
    if (!items)
        abort();
    for (size_t i = 0; i < n; i++)
        items[i] = json_incref(json_array_get(list, i));
    qsort(items, n, sizeof *items, by_priority);
    json_array_clear(list);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, items[i]);
    free(items);
}

static json_t *visible_policies(struct api_request *r, struct vhost *only, enum policy_kind kind,
                                bool as_parameters)
{
    json_t *list = json_array();
    struct list *pos;
    list_for_each(pos, &r->api->broker->vhosts) {
        struct vhost *v = list_entry(pos, struct vhost, link);
        if ((!only || v == only) && (is_admin(r) || may_enter(r, v)))
            add_policies(list, v, kind, as_parameters);
    }
    return list;
}

/* A user without access to the vhost named: RabbitMQ's 401 for that check. */
static bool vhost_refused(struct api_request *r, const struct vhost *v, const char *reason)
{
    if (!v || is_admin(r) || may_enter(r, v))
        return false;
    api_reply_error(r, 401, "not_authorised", "%s", reason);
    return true;
}

static void list_policies(struct api_request *r)
{
    struct vhost *only = NULL;
    if (r->nseg == 2) {
        if (!(only = api_vhost(r, 1)))
            return;
        if (vhost_refused(r, only, "User not authorised to access virtual host"))
            return;
    }
    json_t *list = visible_policies(r, only, kind_of(r), false);
    sort_by_priority(list);
    api_reply_list(r, list);
}

/* ---- one policy ---- */

/* Policymakers in vhosts they may enter, administrators everywhere; operator policies are
 * the administrators' alone. */
static bool may_manage(struct api_request *r, const struct vhost *v, enum policy_kind kind)
{
    if (is_admin(r))
        return true;
    const char *reason = kind == POLICY_OPERATOR ? "Not administrator user"
                                                 : "User not authorised to access object";
    if (kind == POLICY_REGULAR && user_has_tag(r->auth, USER_TAG_POLICYMAKER) &&
        (!v || may_enter(r, v)))
        return true;
    api_reply_error(r, 401, "not_authorised", "%s", reason);
    return false;
}

/* rabbit_mgmt_format:escape_html_tags: < and > as entities. */
static const char *escape_tags(const char *in, char *out, size_t size)
{
    size_t o = 0;
    for (; *in && o + 5 < size; in++) {
        const char *entity = *in == '<' ? "&lt;" : *in == '>' ? "&gt;" : NULL;
        if (entity) {
            memcpy(out + o, entity, 4);
            o += 4;
        } else {
            out[o++] = *in;
        }
    }
    out[o] = '\0';
    return out;
}

static void set_policy(struct api_request *r, struct vhost *v, enum policy_kind kind)
{
    if (!v) {
        api_reply_error(r, 404, "not_found", "vhost_not_found");
        return;
    }
    json_t *body = api_body_object(r);
    if (!body)
        return;
    const char *keys[] = {"pattern", "definition"};
    if (api_require_keys(r, body, keys, 2)) {
        char err[1200];
        bool crash;
        struct policy *p = policy_json_parse(kind, r->seg[2], body, r->api->broker->config.compat,
                                             &crash, err, sizeof err);
        if (crash) {
            api_reply_empty(r, 500); /* RabbitMQ's handler crashes on such a definition */
        } else if (!p) {
            /* only the policy handler escapes the text for HTML; the operator one does not */
            char escaped[sizeof err * 4];
            api_reply_error(r, 400, "bad_request", "%s",
                            kind == POLICY_REGULAR ? escape_tags(err, escaped, sizeof escaped) : err);
        } else {
            api_reply_empty(r, vhost_set_policy(v, kind, p) ? 204 : 201);
        }
    }
    json_decref(body);
}

static void one_policy(struct api_request *r)
{
    enum policy_kind kind = kind_of(r);
    struct vhost *v = broker_find_vhost(r->api->broker, (const uint8_t *)r->seg[1], r->seglen[1]);
    if (!may_manage(r, v, kind))
        return;
    if (r->http->method == HTTP_PUT) {
        set_policy(r, v, kind);
        return;
    }
    struct policy *p = v ? policy_find(&v->policies[kind], r->seg[2]) : NULL;
    if (!p)
        api_not_found(r);
    else if (r->http->method == HTTP_GET)
        api_reply_object(r, policy_json(p, v->name));
    else {
        vhost_delete_policy(v, kind, r->seg[2]);
        api_reply_empty(r, 204);
    }
}

void api_policies(struct api_request *r)
{
    if (r->nseg == 3)
        one_policy(r);
    else
        list_policies(r);
}

/* ---- /api/parameters: the runtime parameters RabbitMQ 3.10 keeps ---- */

static void add_limits(json_t *list, const struct vhost *v)
{
    if (v->max_connections == VHOST_NO_LIMIT && v->max_queues == VHOST_NO_LIMIT)
        return;
    json_t *value = json_object();
    if (v->max_connections != VHOST_NO_LIMIT)
        json_object_set_new(value, "max-connections", json_integer(v->max_connections));
    if (v->max_queues != VHOST_NO_LIMIT)
        json_object_set_new(value, "max-queues", json_integer(v->max_queues));
    json_array_append_new(list, json_pack("{s:o, s:s, s:s, s:s}", "value", value, "vhost",
                                          v->name, "component", "vhost-limits", "name", "limits"));
}

/* component NULL: every component but "policy", which RabbitMQ's list leaves out. */
static json_t *parameters(struct api_request *r, const char *component, struct vhost *only)
{
    json_t *list = json_array();
    struct list *pos;
    list_for_each(pos, &r->api->broker->vhosts) {
        struct vhost *v = list_entry(pos, struct vhost, link);
        if ((only && v != only) || !(is_admin(r) || may_enter(r, v)))
            continue;
        if (!component || !strcmp(component, "vhost-limits"))
            add_limits(list, v);
        if (!component || !strcmp(component, "operator_policy"))
            add_policies(list, v, POLICY_OPERATOR, true);
        if (component && !strcmp(component, "policy"))
            add_policies(list, v, POLICY_REGULAR, true);
    }
    return list;
}

static bool may_read_parameters(struct api_request *r)
{
    if (is_admin(r) || user_has_tag(r->auth, USER_TAG_POLICYMAKER))
        return true;
    api_reply_error(r, 401, "not_authorised", "User not authorised to access object");
    return false;
}

void api_parameters(struct api_request *r)
{
    if (!may_read_parameters(r))
        return;
    const char *component = r->nseg > 1 ? r->seg[1] : NULL;
    struct vhost *only = NULL;
    if (r->nseg > 2 && !(only = api_vhost(r, 2)))
        return;
    if (r->nseg < 4) {
        api_reply_list(r, parameters(r, component, only));
        return;
    }
    if (r->http->method != HTTP_GET) {
        bool put = r->http->method == HTTP_PUT;
        if (!strcmp(component, "policy") && put)
            api_reply_error(r, 400, "bad_request", "policies may not be set using this method");
        else if (put && strcmp(component, "operator_policy") && strcmp(component, "limits"))
            /* no plugin here registers federation, shovel or any other component */
            api_reply_error(r, 400, "bad_request", "Validation failed\n\ncomponent %s not found\n",
                            component);
        else /* the known components are set through their own endpoints here */
            api_not_found(r);
        return;
    }
    json_t *list = parameters(r, component, only), *found = NULL, *item;
    size_t i;
    json_array_foreach(list, i, item)
        if (!strcmp(json_string_value(json_object_get(item, "name")), r->seg[3]))
            found = json_incref(item);
    json_decref(list);
    if (found)
        api_reply_object(r, found);
    else
        api_not_found(r);
}

/* ---- the policy fields of queues and exchanges ---- */

/* rabbit_policy:merge_operator_definitions: every key of either, the lower limit where both
 * set one. */
static json_t *effective_definition(const struct queue *q)
{
    json_t *d = q->policy ? policy_json_definition(q->policy) : json_object();
    if (!q->operator_policy)
        return d;
    json_t *op = policy_json_definition(q->operator_policy), *v;
    const char *key;
    json_object_foreach(op, key, v) {
        json_t *mine = json_object_get(d, key);
        if (!mine || (json_is_number(mine) && json_is_number(v) &&
                      json_number_value(v) < json_number_value(mine)))
            json_object_set(d, key, v);
    }
    json_decref(op);
    /* in key order, as Erlang's map */
    char *text = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(d);
    d = json_loads(text, 0, NULL);
    free(text);
    return d;
}

void api_queue_policy_fields(json_t *o, const struct queue *q)
{
    json_object_set_new(o, "policy", q->policy ? json_string(q->policy->name) : json_null());
    json_object_set_new(o, "operator_policy",
                        q->operator_policy ? json_string(q->operator_policy->name) : json_null());
    json_object_set_new(o, "effective_policy_definition", effective_definition(q));
}

void api_exchange_policy_field(json_t *o, const struct exchange *x)
{
    if (x->policy)
        json_object_set_new(o, "policy", json_string(x->policy->name));
}
