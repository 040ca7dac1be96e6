/* The management API's users and their limits: /api/users, /api/user-limits, whoami's kin. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/api_internal.h"
#include "admin/definitions.h"
#include "core/alloc.h"
#include "model/broker.h"
#include "model/user.h"
#include "model/vhost.h"

static struct user *user_named(struct api_request *r, int seg)
{
    return broker_find_user(r->api->broker, (const uint8_t *)r->seg[seg], r->seglen[seg]);
}

static json_t *users_where(struct api_request *r, bool only_without_permissions)
{
    json_t *list = json_array();
    struct list *pos, *vpos;
    list_for_each(pos, &r->api->broker->users) {
        struct user *u = list_entry(pos, struct user, link);
        bool has = false;
        list_for_each(vpos, &r->api->broker->vhosts)
            has = has || permission_set_find(&list_entry(vpos, struct vhost, link)->permissions,
                                             u->name);
        if (!only_without_permissions || !has)
            json_array_append_new(list, definitions_user_json(u));
    }
    return list;
}

void api_users(struct api_request *r)
{
    json_t *list = users_where(r, r->nseg == 2);
    api_sort(list);
    api_reply_list(r, list);
}

static void put_user(struct api_request *r, struct user *u)
{
    json_t *body = api_body_object(r);
    if (!body)
        return;
    struct string_list tags = {0};
    bool bad = true;
    const char *password = json_string_value(json_object_get(body, "password"));
    const char *hash = json_string_value(json_object_get(body, "password_hash"));
    const char *algorithm = json_string_value(json_object_get(body, "hashing_algorithm"));
    enum password_hashing hashing = PASSWORD_SHA256;
    if (!json_object_get(body, "tags")) {
        api_reply_error(r, 400, "bad_request", "tags_not_present");
    } else if (!definitions_tags(json_object_get(body, "tags"), &tags)) {
        api_reply_error(r, 400, "bad_request", "tags must be a string or a list of strings");
    } else if (algorithm && !user_parse_hashing(algorithm, &hashing)) {
        api_reply_error(r, 400, "bad_request", "unknown hashing algorithm %s", algorithm);
    } else if (hash && !password) {
        struct user *probe = user_new("probe");
        bool ok = user_set_password_hash(probe, hash, hashing);
        user_free(probe);
        if (!ok)
            api_reply_error(r, 400, "bad_request", "[\"not_base64\",\"%s\"]", hash);
        bad = !ok;
    } else {
        bad = false;
    }
    if (bad) {
        string_list_free(&tags);
        json_decref(body);
        return;
    }
    bool created = !u;
    if (!u)
        u = broker_add_user(r->api->broker, r->seg[1]);
    if (password)
        user_set_password(u, (const uint8_t *)password, strlen(password));
    else if (hash)
        user_set_password_hash(u, hash, hashing);
    else if (created)
        user_clear_password(u);
    user_set_tags(u, (const char *const *)tags.items, tags.count);
    string_list_free(&tags);
    json_decref(body);
    api_reply_empty(r, created ? 201 : 204);
}

void api_user(struct api_request *r)
{
    struct user *u = user_named(r, 1);
    switch (r->http->method) {
    case HTTP_PUT: put_user(r, u); return;
    case HTTP_DELETE:
        if (!u)
            api_not_found(r);
        else {
            broker_delete_user(r->api->broker, u);
            api_reply_empty(r, 204);
        }
        return;
    default:
        if (!u)
            api_not_found(r);
        else
            api_reply_object(r, definitions_user_json(u));
    }
}

/* /api/users/NAME/permissions and /topic-permissions */
void api_user_permissions(struct api_request *r)
{
    struct user *u = user_named(r, 1);
    if (!u) {
        api_not_found(r);
        return;
    }
    bool topic = strcmp(r->seg[2], "topic-permissions") == 0;
    json_t *list = json_array();
    struct list *pos, *tpos;
    list_for_each(pos, &r->api->broker->vhosts) {
        struct vhost *v = list_entry(pos, struct vhost, link);
        if (!topic) {
            const struct permission *p = permission_set_find(&v->permissions, u->name);
            if (p)
                json_array_append_new(list, definitions_permission_json(p, v->name));
            continue;
        }
        list_for_each(tpos, &v->permissions.topics) {
            const struct topic_permission *t = list_entry(tpos, struct topic_permission, link);
            if (strcmp(t->user, u->name) == 0)
                json_array_append_new(list, definitions_topic_permission_json(t, v->name));
        }
    }
    api_reply_list(r, list);
}

/* ---- limits: /api/user-limits and /api/vhost-limits ---- */

static json_t *limits_value(int64_t a, const char *a_name, int64_t b, const char *b_name)
{
    json_t *value = json_object();
    if (a != USER_NO_LIMIT)
        json_object_set_new(value, a_name, json_integer(a));
    if (b != USER_NO_LIMIT)
        json_object_set_new(value, b_name, json_integer(b));
    return value;
}

static void add_user_limits(json_t *list, const struct user *u)
{
    if (u->max_connections != USER_NO_LIMIT || u->max_channels != USER_NO_LIMIT)
        json_array_append_new(list, json_pack("{s:s, s:o}", "user", u->name, "value",
                                              limits_value(u->max_connections, "max-connections",
                                                           u->max_channels, "max-channels")));
}

static void add_vhost_limits(json_t *list, const struct vhost *v)
{
    if (v->max_connections != VHOST_NO_LIMIT || v->max_queues != VHOST_NO_LIMIT)
        json_array_append_new(list, json_pack("{s:s, s:o}", "vhost", v->name, "value",
                                              limits_value(v->max_queues, "max-queues",
                                                           v->max_connections,
                                                           "max-connections")));
}

/* The limit a PUT or DELETE names, or NULL after replying 400. */
static int64_t *limit_field(struct api_request *r, int64_t *connections, int64_t *other,
                            const char *other_name)
{
    if (strcmp(r->seg[2], "max-connections") == 0)
        return connections;
    if (strcmp(r->seg[2], other_name) == 0)
        return other;
    api_reply_error(r, 400, "bad_request", "Unrecognised terms [{<<\"%s\">>,...}] in limits",
                    r->seg[2]);
    return NULL;
}

/* PUT {"value":N} sets it (204 always, as RabbitMQ); DELETE clears it. */
static void set_limit(struct api_request *r, int64_t *field)
{
    if (r->http->method == HTTP_DELETE) {
        *field = USER_NO_LIMIT;
        api_reply_empty(r, 204);
        return;
    }
    json_t *body = api_body_object(r);
    if (!body)
        return;
    const char *keys[] = {"value"};
    json_t *value = json_object_get(body, "value");
    if (api_require_keys(r, body, keys, 1)) {
        if (!json_is_integer(value)) {
            /* vhost limits are runtime parameters, whose validation RabbitMQ wraps */
            bool parameter = strcmp(r->seg[0], "vhost-limits") == 0;
            char *shown = json_is_string(value) ? NULL : json_dumps(value, JSON_ENCODE_ANY);
            api_reply_error(r, 400, "bad_request", "%s%s should be a number, actually was %s%s%s%s",
                            parameter ? "Validation failed\n\n" : "", r->seg[2],
                            shown ? "" : "<<\"", shown ? shown : json_string_value(value),
                            shown ? "" : "\">>", parameter ? "\n" : "");
            free(shown);
        } else {
            *field = json_integer_value(value);
            api_reply_empty(r, 204);
        }
    }
    json_decref(body);
}

void api_user_limits(struct api_request *r)
{
    struct broker *b = r->api->broker;
    if (r->nseg == 1) {
        json_t *list = json_array();
        struct list *pos;
        list_for_each(pos, &b->users)
            add_user_limits(list, list_entry(pos, struct user, link));
        api_reply_list(r, list);
        return;
    }
    struct user *u = user_named(r, 1);
    if (!u && r->nseg == 3) {
        api_reply_error(r, 400, "bad_request", "[\"no_such_user\",\"%s\"]", r->seg[1]);
        return;
    }
    if (!u) {
        api_not_found(r);
        return;
    }
    if (r->nseg == 2) {
        json_t *list = json_array();
        add_user_limits(list, u);
        api_reply_list(r, list);
        return;
    }
    int64_t *field = limit_field(r, &u->max_connections, &u->max_channels, "max-channels");
    if (field)
        set_limit(r, field);
}

void api_vhost_limits(struct api_request *r)
{
    struct broker *b = r->api->broker;
    if (r->nseg == 1) {
        json_t *list = json_array();
        struct list *pos;
        list_for_each(pos, &b->vhosts)
            add_vhost_limits(list, list_entry(pos, struct vhost, link));
        api_reply_list(r, list);
        return;
    }
    struct vhost *v = api_vhost(r, 1);
    if (!v)
        return;
    if (r->nseg == 2) {
        json_t *list = json_array();
        add_vhost_limits(list, v);
        api_reply_list(r, list);
        return;
    }
    int64_t *field = limit_field(r, &v->max_connections, &v->max_queues, "max-queues");
    if (field)
        set_limit(r, field);
}
