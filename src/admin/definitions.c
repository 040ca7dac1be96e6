/* Definitions in RabbitMQ's JSON format (what a 3.10 export writes): export, and import
 * through the model's verbs, all or nothing per file. */
#include "admin/definitions.h"

#include <dirent.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "admin/json_table.h"
#include "admin/policy_json.h"
#include "core/alloc.h"
#include "model/broker.h"
#include "model/exchange.h"
#include "model/queue.h"
#include "model/queue_args.h"
#include "model/user.h"
#include "model/vhost.h"

/* ---- export ---- */

static json_t *string_array(const struct string_list *l)
{
    json_t *a = json_array();
    for (size_t i = 0; i < l->count; i++)
        json_array_append_new(a, json_string(l->items[i]));
    return a;
}

static json_t *bytes_string(struct amqp_bytes b)
{
    return json_table_string(b.ptr, b.len);
}

static void add_limit(json_t *o, const char *key, int64_t value)
{
    if (value != USER_NO_LIMIT)
        json_object_set_new(o, key, json_integer(value));
}

json_t *definitions_user_json(const struct user *u)
{
    char hash[USER_HASH_BASE64_SIZE];
    user_password_hash_base64(u, hash);
    json_t *limits = json_object();
    add_limit(limits, "max-connections", u->max_connections);
    add_limit(limits, "max-channels", u->max_channels);
    return json_pack("{s:s, s:s, s:s, s:o, s:o}", "name", u->name, "password_hash", hash,
                     "hashing_algorithm", user_hashing_name(u->hashing), "tags",
                     string_array(&u->tags), "limits", limits);
}

/* RabbitMQ 3.10 writes only the name; the metadata, when there is some, is written the way
 * later versions write it, which 3.10's import reads. */
static json_t *export_vhost(const struct vhost *v)
{
    json_t *o = json_pack("{s:s}", "name", v->name);
    if ((v->description && *v->description) || v->tags.count || v->default_queue_type) {
        json_t *meta = json_pack("{s:s, s:o}", "description", v->description ? v->description : "",
                                 "tags", string_array(&v->tags));
        if (v->default_queue_type)
            json_object_set_new(meta, "default_queue_type", json_string(v->default_queue_type));
        json_object_set(o, "description", json_object_get(meta, "description"));
        json_object_set(o, "tags", json_object_get(meta, "tags"));
        json_object_set_new(o, "metadata", meta);
    }
    return o;
}

json_t *definitions_permission_json(const struct permission *p, const char *vhost)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "user", p->user, "vhost", vhost, "configure",
                     p->patterns[PERMISSION_CONFIGURE].source, "write",
                     p->patterns[PERMISSION_WRITE].source, "read",
                     p->patterns[PERMISSION_READ].source);
}

json_t *definitions_topic_permission_json(const struct topic_permission *t, const char *vhost)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "user", t->user, "vhost", vhost, "exchange",
                     t->exchange, "write", t->write_source, "read", t->read_source);
}

static void export_permissions(json_t *perms, json_t *topics, const struct vhost *v)
{
    struct map_iter it;
    void *value;
    map_iter_init(&it, &v->permissions.by_user);
    while (map_iter_next(&it, NULL, NULL, &value)) {
        json_array_append_new(perms, definitions_permission_json(value, v->name));
    }
    struct list *pos;
    list_for_each(pos, &v->permissions.topics) {
        const struct topic_permission *t = list_entry(pos, struct topic_permission, link);
        json_array_append_new(topics, definitions_topic_permission_json(t, v->name));
    }
}

/* The vhost's fields of an object, unless the export is of that vhost alone. */
static json_t *in_vhost(json_t *o, const struct vhost *v, bool alone)
{
    if (!alone)
        json_object_set_new(o, "vhost", json_string(v->name));
    return o;
}

static void export_limits(json_t *params, const struct vhost *v, bool alone)
{
    if (v->max_connections == VHOST_NO_LIMIT && v->max_queues == VHOST_NO_LIMIT)
        return;
    json_t *value = json_object();
    add_limit(value, "max-connections", v->max_connections);
    add_limit(value, "max-queues", v->max_queues);
    json_t *o = json_pack("{s:o}", "value", value);
    in_vhost(o, v, alone);
    json_object_set_new(o, "component", json_string("vhost-limits"));
    json_object_set_new(o, "name", json_string("limits"));
    json_array_append_new(params, o);
}

/* Policies in "policies"; operator policies are runtime parameters in a 3.10 export. */
static void export_policies(json_t *policies, json_t *params, const struct vhost *v, bool alone)
{
    struct list *pos;
    list_for_each(pos, &v->policies[POLICY_REGULAR]) {
        json_t *o = policy_json(list_entry(pos, struct policy, link), v->name);
        if (alone)
            json_object_del(o, "vhost");
        json_array_append_new(policies, o);
    }
    list_for_each(pos, &v->policies[POLICY_OPERATOR]) {
        json_t *o = policy_json_parameter(list_entry(pos, struct policy, link), POLICY_OPERATOR,
                                          v->name);
        if (alone)
            json_object_del(o, "vhost");
        json_array_append_new(params, o);
    }
}

static void export_queues(json_t *queues, const struct vhost *v, bool alone)
{
    struct map_iter it;
    void *value;
    map_iter_init(&it, &v->queues);
    while (map_iter_next(&it, NULL, NULL, &value)) {
        const struct queue *q = value;
        if (q->exclusive) /* RabbitMQ leaves them out: they die with their connection */
            continue;
        json_t *o = json_pack("{s:o}", "name", bytes_string(q->name));
        in_vhost(o, v, alone);
        json_object_set_new(o, "durable", json_boolean(q->durable));
        json_object_set_new(o, "auto_delete", json_boolean(q->auto_delete));
        json_object_set_new(o, "arguments", json_table_from_body(q->arguments));
        json_array_append_new(queues, o);
    }
}

static bool standard_exchange(const struct exchange *x)
{
    return x->name.len == 0 || (x->name.len >= 4 && memcmp(x->name.ptr, "amq.", 4) == 0);
}

static void export_binding(json_t *bindings, const struct vhost *v, const struct binding *b,
                           bool alone)
{
    json_t *o = json_pack("{s:o}", "source", bytes_string(b->exchange->name));
    in_vhost(o, v, alone);
    json_object_set_new(o, "destination",
                        bytes_string(b->queue ? b->queue->name : b->to_exchange->name));
    json_object_set_new(o, "destination_type", json_string(b->queue ? "queue" : "exchange"));
    json_object_set_new(o, "routing_key", bytes_string(b->routing_key));
    json_object_set_new(o, "arguments", json_table_from_body(b->arguments));
    json_array_append_new(bindings, o);
}

static void export_exchanges(json_t *exchanges, json_t *bindings, const struct vhost *v, bool alone)
{
    struct map_iter it;
    void *value;
    map_iter_init(&it, &v->exchanges);
    while (map_iter_next(&it, NULL, NULL, &value)) {
        const struct exchange *x = value;
        if (!standard_exchange(x) && !x->internal) { /* RabbitMQ 3.10 leaves internal ones out */
            json_t *o = json_pack("{s:o}", "name", bytes_string(x->name));
            in_vhost(o, v, alone);
            json_object_set_new(o, "type", json_string(exchange_type_name(x->type)));
            json_object_set_new(o, "durable", json_boolean(x->durable));
            json_object_set_new(o, "auto_delete", json_boolean(x->auto_delete));
            json_object_set_new(o, "internal", json_boolean(x->internal));
            json_object_set_new(o, "arguments", json_table_from_body(x->arguments));
            json_array_append_new(exchanges, o);
        }
        if (x->name.len == 0) /* the default exchange's bindings are implicit */
            continue;
        struct list *pos;
        list_for_each(pos, &x->bindings) {
            const struct binding *b = list_entry(pos, struct binding, exchange_link);
            if (!(b->queue && b->queue->exclusive))
                export_binding(bindings, v, b, alone);
        }
    }
}

json_t *definitions_export(struct broker *b, struct vhost *only)
{
    json_t *root = json_pack("{s:s}", "rabbit_version", "3.10.8");
    json_t *params = json_array(), *policies = json_array(), *queues = json_array(),
           *exchanges = json_array(), *bindings = json_array();
    struct list *pos;
    if (!only) {
        json_object_set_new(root, "rabbitmq_version", json_string("3.10.8"));
        json_object_set_new(root, "product_name", json_string("Warren"));
        json_object_set_new(root, "product_version", json_string(PACKAGE_VERSION));
        json_t *users = json_array(), *vhosts = json_array(), *perms = json_array(),
               *topics = json_array();
        list_for_each(pos, &b->users)
            json_array_append_new(users, definitions_user_json(list_entry(pos, struct user, link)));
        list_for_each(pos, &b->vhosts) {
            struct vhost *v = list_entry(pos, struct vhost, link);
            json_array_append_new(vhosts, export_vhost(v));
            export_permissions(perms, topics, v);
        }
        json_object_set_new(root, "users", users);
        json_object_set_new(root, "vhosts", vhosts);
        json_object_set_new(root, "permissions", perms);
        json_object_set_new(root, "topic_permissions", topics);
    }
    list_for_each(pos, &b->vhosts) {
        struct vhost *v = list_entry(pos, struct vhost, link);
        if (only && v != only)
            continue;
        export_limits(params, v, only != NULL);
        export_policies(policies, params, v, only != NULL);
        export_queues(queues, v, only != NULL);
        export_exchanges(exchanges, bindings, v, only != NULL);
    }
    json_object_set_new(root, "parameters", params);
    if (!only)
        json_object_set_new(root, "global_parameters", json_array());
    json_object_set_new(root, "policies", policies);
    json_object_set_new(root, "queues", queues);
    json_object_set_new(root, "exchanges", exchanges);
    json_object_set_new(root, "bindings", bindings);
    return root;
}

/* ---- import: every object is checked first, then applied ---- */

struct import {
    struct broker *b;
    struct vhost *only;
    json_t *root;
    char *err;
    size_t err_size;
    bool failed;
    struct amqp_buf args; /* scratch for arguments tables */
};

__attribute__((format(printf, 2, 3))) static bool fail(struct import *im, const char *fmt, ...)
{
    if (im->failed)
        return false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(im->err, im->err_size, fmt, ap);
    va_end(ap);
    im->failed = true;
    return false;
}

static json_t *section(struct import *im, const char *name)
{
    json_t *a = json_object_get(im->root, name);
    if (a && !json_is_array(a) && !json_is_null(a)) {
        fail(im, "'%s' must be an array", name);
        return NULL;
    }
    return json_is_array(a) ? a : NULL;
}

/* A string member: required (dflt NULL) or defaulted; fails on the wrong type. */
static const char *text_of(struct import *im, const char *what, json_t *o, const char *key,
                           const char *dflt)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (!dflt)
            fail(im, "%s: '%s' is missing", what, key);
        return dflt;
    }
    if (!json_is_string(v)) {
        fail(im, "%s: '%s' must be a string", what, key);
        return NULL;
    }
    return json_string_value(v);
}

static bool flag_of(struct import *im, const char *what, json_t *o, const char *key, bool dflt)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return dflt;
    if (!json_is_boolean(v))
        return fail(im, "%s: '%s' must be true or false", what, key);
    return json_is_true(v);
}

bool definitions_tags(const json_t *v, struct string_list *out)
{
    if (!v || json_is_null(v))
        return true;
    if (json_is_string(v)) {
        char *copy = xstrdup(json_string_value(v));
        for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            while (*t == ' ')
                t++;
            if (*t)
                string_list_add(out, t);
        }
        free(copy);
        return true;
    }
    if (!json_is_array(v))
        return false;
    size_t i;
    json_t *t;
    json_array_foreach(v, i, t) {
        if (!json_is_string(t))
            return false;
        if (*json_string_value(t))
            string_list_add(out, json_string_value(t));
    }
    return true;
}

static bool tags_of(struct import *im, const char *what, json_t *o, struct string_list *out)
{
    return definitions_tags(json_object_get(o, "tags"), out) ||
           fail(im, "%s: 'tags' must be a list of strings or a comma-separated string", what);
}

/* A limits object's member: absent or negative means no limit. */
static bool limit_of(struct import *im, const char *what, json_t *limits, const char *key,
                     int64_t *out)
{
    json_t *v = json_object_get(limits, key);
    if (!v)
        return true;
    if (!json_is_integer(v))
        return fail(im, "%s: limit '%s' must be an integer", what, key);
    *out = json_integer_value(v);
    return true;
}

static bool limits_known(struct import *im, const char *what, json_t *limits, const char *a,
                         const char *b)
{
    if (!limits || json_is_null(limits))
        return true;
    if (!json_is_object(limits))
        return fail(im, "%s: 'limits' must be an object", what);
    const char *key;
    json_t *v;
    json_object_foreach(limits, key, v)
        if (strcmp(key, a) != 0 && strcmp(key, b) != 0)
            return fail(im, "%s: unknown limit '%s'", what, key);
    return true;
}

/* Does the file (or the broker) have this vhost or user? */
static bool named_in(json_t *items, const char *name)
{
    size_t i;
    json_t *o;
    json_array_foreach(items, i, o) {
        json_t *n = json_object_get(o, "name");
        if (json_is_string(n) && strcmp(json_string_value(n), name) == 0)
            return true;
    }
    return false;
}

static struct vhost *vhost_named(struct import *im, const char *name)
{
    return broker_find_vhost(im->b, (const uint8_t *)name, strlen(name));
}

static bool vhost_known(struct import *im, const char *what, const char *name)
{
    if (vhost_named(im, name) || (!im->only && named_in(section(im, "vhosts"), name)))
        return true;
    return fail(im, "%s: no vhost '%s'", what, name);
}

static bool user_known(struct import *im, const char *what, const char *name)
{
    if (broker_find_user(im->b, (const uint8_t *)name, strlen(name)) ||
        named_in(section(im, "users"), name))
        return true;
    return fail(im, "%s: no user '%s'", what, name);
}

/* The vhost an object goes into: the one being imported into, or its "vhost" member. */
static const char *target_vhost(struct import *im, const char *what, json_t *o)
{
    if (im->only)
        return im->only->name;
    const char *name = text_of(im, what, o, "vhost", NULL);
    return name && vhost_known(im, what, name) ? name : NULL;
}

struct user_def {
    const char *name, *hash, *password;
    enum password_hashing hashing;
    struct string_list tags;
    int64_t max_connections, max_channels;
};

static bool read_user(struct import *im, json_t *o, struct user_def *u)
{
    *u = (struct user_def){.max_connections = USER_NO_LIMIT, .max_channels = USER_NO_LIMIT};
    if (!json_is_object(o))
        return fail(im, "users: every user must be an object");
    if (!(u->name = text_of(im, "user", o, "name", NULL)) || !*u->name)
        return fail(im, "user: 'name' must not be empty");
    char what[300];
    snprintf(what, sizeof what, "user '%s'", u->name);
    u->password = text_of(im, what, o, "password", "");
    u->hash = text_of(im, what, o, "password_hash", "");
    const char *algorithm =
        text_of(im, what, o, "hashing_algorithm", "rabbit_password_hashing_sha256");
    if (im->failed)
        return false;
    if (!user_parse_hashing(algorithm, &u->hashing))
        return fail(im, "%s: unknown hashing_algorithm '%s'", what, algorithm);
    struct user *probe = user_new(u->name);
    bool hash_ok = user_set_password_hash(probe, u->hash, u->hashing);
    user_free(probe);
    if (!hash_ok)
        return fail(im, "%s: password_hash is not a %s hash", what, algorithm);
    json_t *limits = json_object_get(o, "limits");
    return tags_of(im, what, o, &u->tags) &&
           limits_known(im, what, limits, "max-connections", "max-channels") &&
           limit_of(im, what, limits, "max-connections", &u->max_connections) &&
           limit_of(im, what, limits, "max-channels", &u->max_channels);
}

static void apply_user(struct import *im, const struct user_def *d)
{
    struct user *u = broker_find_user(im->b, (const uint8_t *)d->name, strlen(d->name));
    if (!u)
        u = broker_add_user(im->b, d->name);
    if (*d->password && !*d->hash)
        user_set_password(u, (const uint8_t *)d->password, strlen(d->password));
    else
        user_set_password_hash(u, d->hash, d->hashing);
    user_set_tags(u, (const char *const *)d->tags.items, d->tags.count);
    u->max_connections = d->max_connections;
    u->max_channels = d->max_channels;
}

static bool each_user(struct import *im, bool apply)
{
    json_t *users = section(im, "users");
    size_t i;
    json_t *o;
    json_array_foreach(users, i, o) {
        struct user_def d;
        bool ok = read_user(im, o, &d);
        if (ok && apply)
            apply_user(im, &d);
        string_list_free(&d.tags);
        if (!ok)
            return false;
    }
    return !im->failed;
}

static bool each_vhost(struct import *im, bool apply)
{
    json_t *vhosts = section(im, "vhosts");
    size_t i;
    json_t *o;
    json_array_foreach(vhosts, i, o) {
        const char *name = json_is_object(o) ? text_of(im, "vhost", o, "name", NULL) : NULL;
        if (!name || !*name)
            return fail(im, "vhosts: every vhost needs a non-empty name");
        char what[300];
        snprintf(what, sizeof what, "vhost '%s'", name);
        json_t *meta = json_object_get(o, "metadata");
        json_t *from = json_is_object(meta) ? meta : o;
        const char *description = text_of(im, what, from, "description", "");
        const char *queue_type = text_of(im, what, from, "default_queue_type", "");
        struct string_list tags = {0};
        bool ok = tags_of(im, what, from, &tags) && !im->failed;
        if (ok && apply) {
            struct vhost *v = vhost_named(im, name);
            if (!v)
                v = broker_add_vhost(im->b, name);
            free(v->description);
            v->description = xstrdup(description);
            string_list_free(&v->tags);
            v->tags = tags;
            tags = (struct string_list){0};
            free(v->default_queue_type);
            v->default_queue_type = *queue_type && strcmp(queue_type, "undefined") != 0
                                        ? xstrdup(queue_type)
                                        : NULL;
        }
        string_list_free(&tags);
        if (!ok)
            return false;
    }
    return true;
}

static bool each_permission(struct import *im, bool apply)
{
    json_t *perms = section(im, "permissions");
    size_t i;
    json_t *o;
    json_array_foreach(perms, i, o) {
        const char *what = "permission";
        const char *user = text_of(im, what, o, "user", NULL);
        const char *vhost = text_of(im, what, o, "vhost", NULL);
        const char *configure = text_of(im, what, o, "configure", NULL);
        const char *write = text_of(im, what, o, "write", NULL);
        const char *read = text_of(im, what, o, "read", NULL);
        if (im->failed || !user_known(im, what, user) || !vhost_known(im, what, vhost))
            return false;
        char why[200];
        struct permission *p = permission_new(user, configure, write, read, why, sizeof why);
        if (!p)
            return fail(im, "permission of user '%s' in vhost '%s': %s", user, vhost, why);
        permission_free(p);
        if (apply)
            broker_set_permissions(im->b, vhost_named(im, vhost), user, configure, write, read,
                                   why, sizeof why);
    }
    return true;
}

static bool each_topic_permission(struct import *im, bool apply)
{
    json_t *perms = section(im, "topic_permissions");
    size_t i;
    json_t *o;
    json_array_foreach(perms, i, o) {
        const char *what = "topic permission";
        const char *user = text_of(im, what, o, "user", NULL);
        const char *vhost = text_of(im, what, o, "vhost", NULL);
        const char *exchange = text_of(im, what, o, "exchange", NULL);
        const char *write = text_of(im, what, o, "write", NULL);
        const char *read = text_of(im, what, o, "read", NULL);
        if (im->failed || !user_known(im, what, user) || !vhost_known(im, what, vhost))
            return false;
        char why[200];
        struct topic_permission *t =
            topic_permission_new(user, vhost, exchange, write, read, why, sizeof why);
        if (!t)
            return fail(im, "topic permission of user '%s' in vhost '%s': %s", user, vhost, why);
        topic_permission_free(t);
        if (apply)
            broker_set_topic_permissions(im->b, vhost_named(im, vhost), user, exchange, write,
                                         read, why, sizeof why);
    }
    return true;
}

/* One policy: checked as the API checks it, set when applying. */
static bool import_policy(struct import *im, enum policy_kind kind, const char *vhost,
                          json_t *o, json_t *body, bool apply)
{
    const char *what = kind == POLICY_OPERATOR ? "operator policy" : "policy";
    const char *name = text_of(im, what, o, "name", NULL);
    if (im->failed)
        return false;
    if (!json_is_object(body) || !json_object_get(body, "pattern"))
        return fail(im, "%s '%s' in vhost '%s': 'pattern' and 'definition' are needed", what,
                    name, vhost);
    bool crash;
    char why[1200];
    struct policy *p = policy_json_parse(kind, name, body, im->b->config.compat, &crash, why,
                                         sizeof why);
    if (!p)
        return fail(im, "%s '%s' in vhost '%s': %s", what, name, vhost, why);
    struct vhost *v = apply ? vhost_named(im, vhost) : NULL;
    if (v)
        vhost_set_policy(v, kind, p);
    else
        policy_free(p);
    return true;
}

static bool each_policy(struct import *im, bool apply)
{
    json_t *policies = section(im, "policies");
    size_t i;
    json_t *o;
    json_array_foreach(policies, i, o) {
        const char *vhost = target_vhost(im, "policy", o);
        if (im->failed || !import_policy(im, POLICY_REGULAR, vhost, o, o, apply))
            return false;
    }
    return !im->failed;
}

static bool each_parameter(struct import *im, bool apply)
{
    json_t *params = section(im, "parameters");
    size_t i;
    json_t *o;
    json_array_foreach(params, i, o) {
        const char *what = "parameter";
        const char *component = text_of(im, what, o, "component", NULL);
        const char *vhost = target_vhost(im, what, o);
        if (im->failed)
            return false;
        if (!strcmp(component, "operator_policy")) {
            if (!import_policy(im, POLICY_OPERATOR, vhost, o, json_object_get(o, "value"), apply))
                return false;
            continue;
        }
        if (strcmp(component, "vhost-limits") != 0)
            return fail(im, "parameter: component '%s' is not supported (Warren has no "
                            "federation or shovel plugins)", component);
        json_t *value = json_object_get(o, "value");
        int64_t max_connections = VHOST_NO_LIMIT, max_queues = VHOST_NO_LIMIT;
        if (!json_is_object(value) ||
            !limits_known(im, "vhost-limits", value, "max-connections", "max-queues") ||
            !limit_of(im, "vhost-limits", value, "max-connections", &max_connections) ||
            !limit_of(im, "vhost-limits", value, "max-queues", &max_queues))
            return fail(im, "parameter vhost-limits of vhost '%s': 'value' must be an object of "
                            "limits", vhost);
        if (apply) {
            struct vhost *v = vhost_named(im, vhost);
            v->max_connections = max_connections;
            v->max_queues = max_queues;
        }
    }
    return true;
}

/* Arguments into im->args as a table body. */
static bool arguments_of(struct import *im, const char *what, json_t *o)
{
    amqp_buf_reset(&im->args);
    if (!json_table_to_body(json_object_get(o, "arguments"), &im->args))
        return fail(im, "%s: 'arguments' must be an object of AMQP field names", what);
    return true;
}

static struct amqp_bytes args_bytes(const struct import *im)
{
    return amqp_bytes_of(im->args.data, im->args.len);
}

static bool each_queue(struct import *im, bool apply)
{
    json_t *queues = section(im, "queues");
    size_t i;
    json_t *o;
    json_array_foreach(queues, i, o) {
        const char *name = text_of(im, "queue", o, "name", NULL);
        if (!name)
            return false;
        char what[400];
        snprintf(what, sizeof what, "queue '%s'", name);
        const char *vhost = target_vhost(im, what, o);
        struct queue_declare req = {.name = amqp_cstr(name),
                                    .durable = flag_of(im, what, o, "durable", true),
                                    .auto_delete = flag_of(im, what, o, "auto_delete", false)};
        if (im->failed || !arguments_of(im, what, o))
            return false;
        req.arguments = args_bytes(im);
        struct vhost *v = vhost_named(im, vhost);
        struct outcome out;
        if (apply || (v && vhost_find_queue(v, req.name))) {
            /* an existing queue is only compared; a new one is created when applying */
            if (!vhost_declare_queue(v, &req, &out))
                return fail(im, "%s in vhost '%s': %s", what, vhost, out.text);
            continue;
        }
        struct queue_args args;
        if (!queue_args_parse(req.arguments, req.durable, false, req.auto_delete,
                              &(struct arguments_owner){"queue", req.name, vhost},
                              im->b->config.compat, &args, &out))
            return fail(im, "%s in vhost '%s': %s", what, vhost, out.text);
    }
    return true;
}

static bool each_exchange(struct import *im, bool apply)
{
    json_t *exchanges = section(im, "exchanges");
    size_t i;
    json_t *o;
    json_array_foreach(exchanges, i, o) {
        const char *name = text_of(im, "exchange", o, "name", NULL);
        if (!name)
            return false;
        char what[400];
        snprintf(what, sizeof what, "exchange '%s'", name);
        const char *vhost = target_vhost(im, what, o);
        const char *type = text_of(im, what, o, "type", NULL);
        struct exchange_declare req = {.name = amqp_cstr(name),
                                       .type = amqp_cstr(type ? type : ""),
                                       .durable = flag_of(im, what, o, "durable", true),
                                       .auto_delete = flag_of(im, what, o, "auto_delete", false),
                                       .internal = flag_of(im, what, o, "internal", false)};
        if (im->failed || !arguments_of(im, what, o))
            return false;
        req.arguments = args_bytes(im);
        struct vhost *v = vhost_named(im, vhost);
        struct outcome out;
        if (apply || (v && vhost_find_exchange(v, req.name))) {
            if (!vhost_declare_exchange(v, &req, &out))
                return fail(im, "%s in vhost '%s': %s", what, vhost, out.text);
            continue;
        }
        enum exchange_type t;
        struct exchange_args args;
        if (!exchange_type_parse(req.type, &t))
            return fail(im, "%s in vhost '%s': unknown exchange type '%s'", what, vhost, type);
        if (name[0] == '\0' || strncmp(name, "amq.", 4) == 0)
            return fail(im, "%s in vhost '%s': the name is reserved", what, vhost);
        if (!exchange_args_parse(t, req.arguments,
                                 &(struct arguments_owner){"exchange", req.name, vhost}, &args,
                                 &out))
            return fail(im, "%s in vhost '%s': %s", what, vhost, out.text);
    }
    return true;
}

/* Whether the file declares this queue or exchange in that vhost. */
static bool declared_in(struct import *im, const char *section_name, const char *vhost,
                        const char *name)
{
    json_t *items = section(im, section_name);
    size_t i;
    json_t *o;
    json_array_foreach(items, i, o) {
        json_t *n = json_object_get(o, "name"), *v = json_object_get(o, "vhost");
        if (json_is_string(n) && strcmp(json_string_value(n), name) == 0 &&
            (im->only || (json_is_string(v) && strcmp(json_string_value(v), vhost) == 0)))
            return true;
    }
    return false;
}

static bool end_exists(struct import *im, const char *kind, const char *vhost, const char *name)
{
    struct vhost *v = vhost_named(im, vhost);
    struct amqp_bytes n = amqp_cstr(name);
    bool queue = strcmp(kind, "queue") == 0;
    if ((v && (queue ? (void *)vhost_find_queue(v, n) : (void *)vhost_find_exchange(v, n))) ||
        declared_in(im, queue ? "queues" : "exchanges", vhost, name))
        return true;
    return fail(im, "binding in vhost '%s': no %s '%s'", vhost, kind, name);
}

static bool each_binding(struct import *im, bool apply)
{
    json_t *bindings = section(im, "bindings");
    size_t i;
    json_t *o;
    json_array_foreach(bindings, i, o) {
        const char *what = "binding";
        const char *vhost = target_vhost(im, what, o);
        const char *source = text_of(im, what, o, "source", NULL);
        const char *destination = text_of(im, what, o, "destination", NULL);
        const char *type = text_of(im, what, o, "destination_type", NULL);
        const char *key = text_of(im, what, o, "routing_key", "");
        if (im->failed || !arguments_of(im, what, o))
            return false;
        if (strcmp(type, "queue") != 0 && strcmp(type, "exchange") != 0)
            return fail(im, "binding: destination_type must be \"queue\" or \"exchange\"");
        if (!apply) {
            if (!end_exists(im, "exchange", vhost, source) || !end_exists(im, type, vhost, destination))
                return false;
            continue;
        }
        struct vhost *v = vhost_named(im, vhost);
        struct outcome out;
        bool ok;
        if (*type == 'q') {
            struct queue_binding b = {amqp_cstr(source), amqp_cstr(destination), amqp_cstr(key),
                                      args_bytes(im), NULL};
            ok = vhost_bind_queue(v, &b, &out);
        } else {
            struct exchange_binding b = {amqp_cstr(destination), amqp_cstr(source),
                                         amqp_cstr(key), args_bytes(im), NULL};
            ok = vhost_bind_exchange(v, &b, &out);
        }
        if (!ok)
            return fail(im, "binding of %s '%s' to exchange '%s' in vhost '%s': %s", type,
                        destination, source, vhost, out.text);
    }
    return true;
}

/* Everything the model does not hold yet is refused by name rather than dropped. */
static bool unsupported(struct import *im)
{
    json_t *globals = section(im, "global_parameters");
    size_t i;
    json_t *o;
    json_array_foreach(globals, i, o)
        if (!json_is_object(o) || !json_is_string(json_object_get(o, "name")))
            return fail(im, "global_parameters: every parameter needs a name");
    return !im->failed;
}

/* RabbitMQ's order: users and vhosts before what refers to them; queues and exchanges before
 * their bindings. */
static bool run(struct import *im, bool apply)
{
    if (im->only) {
        const char *forbidden[] = {"users", "vhosts", "permissions", "topic_permissions"};
        for (size_t i = 0; i < 4; i++)
            if (json_array_size(json_object_get(im->root, forbidden[i])))
                return fail(im, "'%s' cannot be imported into one vhost", forbidden[i]);
    }
    return unsupported(im) && each_user(im, apply) && each_vhost(im, apply) &&
           each_permission(im, apply) && each_topic_permission(im, apply) &&
           each_parameter(im, apply) && each_policy(im, apply) && each_queue(im, apply) && each_exchange(im, apply) &&
           each_binding(im, apply);
}

bool definitions_import_json(struct broker *b, json_t *root, struct vhost *only, char *err,
                             size_t err_size)
{
    struct import im = {.b = b, .only = only, .root = root, .err = err, .err_size = err_size};
    amqp_buf_init(&im.args);
    /* the second pass fails only on a check the first one missed: it then says what, though
     * some was applied */
    bool ok = (json_is_object(root) ? run(&im, false) : fail(&im, "definitions must be an object")) &&
              run(&im, true);
    amqp_buf_free(&im.args);
    return ok;
}

bool definitions_import(struct broker *b, const char *text, size_t len, struct vhost *only,
                        char *err, size_t err_size)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    if (!root) {
        snprintf(err, err_size, "not JSON: %s at line %d, column %d", jerr.text, jerr.line,
                 jerr.column);
        return false;
    }
    bool ok = definitions_import_json(b, root, only, err, err_size);
    json_decref(root);
    return ok;
}

static bool load_file(struct broker *b, const char *path, char *err, size_t err_size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "%s: cannot open: %m", path);
        return false;
    }
    struct amqp_buf text;
    amqp_buf_init(&text);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        amqp_buf_put(&text, chunk, n);
    fclose(f);
    char why[512];
    bool ok = definitions_import(b, (const char *)text.data, text.len, NULL, why, sizeof why);
    if (!ok)
        snprintf(err, err_size, "%s: %s", path, why);
    amqp_buf_free(&text);
    return ok;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int json_file(const struct dirent *d)
{
    size_t len = strlen(d->d_name);
    return len > 5 && strcmp(d->d_name + len - 5, ".json") == 0;
}

bool definitions_load(struct broker *b, const char *path, char *err, size_t err_size)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, err_size, "%s: %m", path);
        return false;
    }
    if (!S_ISDIR(st.st_mode))
        return load_file(b, path, err, err_size);
    struct dirent **names;
    int n = scandir(path, &names, json_file, by_name);
    if (n < 0) {
        snprintf(err, err_size, "%s: cannot read the directory: %m", path);
        return false;
    }
    bool ok = true;
    for (int i = 0; i < n; i++) {
        if (ok) {
            char file[4096];
            snprintf(file, sizeof file, "%s/%s", path, names[i]->d_name);
            ok = load_file(b, file, err, err_size);
        }
        free(names[i]);
    }
    free(names);
    return ok;
}

/* ---- the settings part, as the store's journal keeps it ---- */

char *definitions_settings_text(struct broker *b, size_t *len)
{
    json_t *root = definitions_export(b, NULL);
    const char *omitted[] = {"queues", "exchanges", "bindings", "product_version"};
    for (size_t i = 0; i < sizeof omitted / sizeof *omitted; i++)
        json_object_del(root, omitted[i]);
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!text)
        abort();
    *len = strlen(text);
    return text;
}

static bool listed(json_t *items, const char *name)
{
    size_t i;
    json_t *o;
    json_array_foreach(items, i, o)
        if (json_is_object(o) && json_is_string(json_object_get(o, "name")) &&
            strcmp(json_string_value(json_object_get(o, "name")), name) == 0)
            return true;
    return false;
}

/* What the settings hold of a vhost goes back to a new vhost's, the import then sets it. */
static void clear_settings(struct vhost *v)
{
    permission_set_free(&v->permissions);
    permission_set_init(&v->permissions);
    for (int kind = POLICY_REGULAR; kind <= POLICY_OPERATOR; kind++)
        while (!list_empty(&v->policies[kind]))
            vhost_delete_policy(v, (enum policy_kind)kind,
                                list_entry(v->policies[kind].next, struct policy, link)->name);
    v->max_connections = v->max_queues = VHOST_NO_LIMIT;
}

bool definitions_settings_replace(struct broker *b, const char *text, size_t len, char *err,
                                  size_t err_size)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    if (!root) {
        snprintf(err, err_size, "settings are not JSON: %s", jerr.text);
        return false;
    }
    json_t *vhosts = json_object_get(root, "vhosts"), *users = json_object_get(root, "users");
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &b->vhosts) {
        struct vhost *v = list_entry(pos, struct vhost, link);
        if (listed(vhosts, v->name))
            clear_settings(v);
        else
            broker_delete_vhost(b, v);
    }
    list_for_each_safe(pos, tmp, &b->users) {
        struct user *u = list_entry(pos, struct user, link);
        if (!listed(users, u->name))
            broker_delete_user(b, u);
    }
    bool ok = definitions_import_json(b, root, NULL, err, err_size);
    json_decref(root);
    return ok;
}
