/* The management API's permissions: /api/permissions and /api/topic-permissions, by vhost
 * and user. */
#include <string.h>

#include "admin/api_internal.h"
#include "admin/definitions.h"
#include "model/broker.h"
#include "model/user.h"
#include "model/vhost.h"

static void add_permissions(struct api_request *r, json_t *list, struct vhost *v)
{
    (void)r;
    struct map_iter it;
    void *value;
    map_iter_init(&it, &v->permissions.by_user);
    while (map_iter_next(&it, NULL, NULL, &value))
        json_array_append_new(list, definitions_permission_json(value, v->name));
}

static void add_user_topic_permissions(json_t *list, const struct vhost *v, const char *user)
{
    struct list *pos;
    list_for_each(pos, &v->permissions.topics) {
        const struct topic_permission *t = list_entry(pos, struct topic_permission, link);
        if (!user || strcmp(t->user, user) == 0)
            json_array_append_new(list, definitions_topic_permission_json(t, v->name));
    }
}

/* GET /api/permissions, /api/topic-permissions, /api/vhosts/V/permissions and
 * /api/vhosts/V/topic-permissions */
static void add_topic_permissions(struct api_request *r, json_t *list, struct vhost *v)
{
    (void)r;
    add_user_topic_permissions(list, v, NULL);
}

void api_permission_lists(struct api_request *r)
{
    bool topic = strstr(r->seg[r->nseg - 1], "topic") != NULL;
    json_t *list = api_collect(r, r->nseg == 3 ? 1 : -1,
                               topic ? add_topic_permissions : add_permissions);
    if (list)
        api_reply_list(r, list);
}

/* The vhost and user of /api/(topic-)permissions/VHOST/USER; NULL after replying. */
static struct vhost *vhost_and_user(struct api_request *r, struct user **u)
{
    struct broker *b = r->api->broker;
    struct vhost *v = broker_find_vhost(b, (const uint8_t *)r->seg[1], r->seglen[1]);
    *u = broker_find_user(b, (const uint8_t *)r->seg[2], r->seglen[2]);
    if (v && *u)
        return v;
    if (r->http->method == HTTP_PUT)
        api_reply_error(r, 400, "bad_request", "vhost_or_user_not_found");
    else
        api_not_found(r);
    return NULL;
}

static const char *text(json_t *body, const char *key)
{
    const char *s = json_string_value(json_object_get(body, key));
    return s ? s : "";
}

void api_permission(struct api_request *r)
{
    struct user *u;
    struct vhost *v = vhost_and_user(r, &u);
    if (!v)
        return;
    const struct permission *p = permission_set_find(&v->permissions, u->name);
    if (r->http->method == HTTP_GET) {
        if (p)
            api_reply_object(r, definitions_permission_json(p, v->name));
        else
            api_not_found(r);
        return;
    }
    if (r->http->method == HTTP_DELETE) {
        if (p) {
            permission_set_remove(&v->permissions, u->name);
            api_reply_empty(r, 204);
        } else {
            api_not_found(r);
        }
        return;
    }
    json_t *body = api_body_object(r);
    if (!body)
        return;
    const char *keys[] = {"configure", "write", "read"};
    char why[200];
    if (api_require_keys(r, body, keys, 3)) {
        bool existed = p != NULL;
        if (!broker_set_permissions(r->api->broker, v, u->name, text(body, "configure"),
                                    text(body, "write"), text(body, "read"), why, sizeof why))
            api_reply_error(r, 400, "bad_request", "%s", why);
        else
            api_reply_empty(r, existed ? 204 : 201);
    }
    json_decref(body);
}

void api_topic_permission(struct api_request *r)
{
    struct user *u;
    struct vhost *v = vhost_and_user(r, &u);
    if (!v)
        return;
    json_t *list = json_array();
    add_user_topic_permissions(list, v, u->name);
    bool any = json_array_size(list) > 0;
    if (r->http->method == HTTP_GET) {
        if (any)
            api_reply_list(r, list);
        else {
            json_decref(list);
            api_not_found(r);
        }
        return;
    }
    json_decref(list);
    if (r->http->method == HTTP_DELETE) { /* every exchange's, as RabbitMQ */
        if (permission_set_remove_topic(&v->permissions, u->name, NULL))
            api_reply_empty(r, 204);
        else
            api_not_found(r);
        return;
    }
    json_t *body = api_body_object(r);
    if (!body)
        return;
    const char *keys[] = {"exchange", "write", "read"};
    char why[200];
    if (api_require_keys(r, body, keys, 3)) {
        if (!broker_set_topic_permissions(r->api->broker, v, u->name, text(body, "exchange"),
                                          text(body, "write"), text(body, "read"), why,
                                          sizeof why))
            api_reply_error(r, 400, "bad_request", "%s", why);
        else
            api_reply_empty(r, any ? 204 : 201);
    }
    json_decref(body);
}
