/* The broker: configuration, users and vhosts; the root every other object hangs off. */
#include "model/broker.h"

#include "core/alloc.h"
#include "core/random.h"
#include "model/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const default_user_tags[] = {"administrator"};
static const char *const loopback_users[] = {"guest"};

/* RabbitMQ 3.10's HTTP listeners (cowboy's defaults, observed): a request within 5 s, the
 * next one on a kept-alive connection within 60 s. */
#define HTTP_TIMEOUTS {.request_ms = 5000, .idle_ms = 60000}

void broker_config_defaults(struct broker_config *config)
{
    *config = (struct broker_config){
        .bind = "127.0.0.1",
        .port = 5672,
        .frame_max = 131072,
        .channel_max = 2047,
        .heartbeat = 60,
        .max_message_size = 128u << 20,
        .handshake_timeout_ms = 10000,
        .consumer_timeout_ms = 1800000, /* RabbitMQ's 30 minutes */
        .default_user = "guest",
        .default_pass = "guest",
        .default_vhost = "/",
        .compat = compat_default(),
        .connection_max = BROKER_NO_CONNECTION_MAX,
        .data_dir = NULL,
        .log_level = LOG_INFO,
        .tls = {.depth = -1},
        .ssl_handshake_timeout_ms = 5000,
        .management_bind = NULL,
        .management_port = 15672,
        .prometheus_bind = NULL,
        .prometheus_port = 15692,
        .management_timeouts = HTTP_TIMEOUTS,
        .prometheus_timeouts = HTTP_TIMEOUTS,
        .management_ssl = {.tls = {.depth = -1}, .timeouts = HTTP_TIMEOUTS},
        .prometheus_ssl = {.tls = {.depth = -1}, .timeouts = HTTP_TIMEOUTS},
        .default_user_tags = default_user_tags,
        .default_user_tag_count = 1,
        .default_permission_configure = ".*",
        .default_permission_write = ".*",
        .default_permission_read = ".*",
        .loopback_users = loopback_users,
        .loopback_user_count = 1,
        .vm_memory_high_watermark = 0.4,
        .disk_free_limit = 50000000,
        .log_console = true,
        .log_file_level = LOG_INFO,
    };
}

/* 12 random bytes in hex: unique per boot, as RabbitMQ's is per cluster. */
static void make_cluster_id(char out[32])
{
    unsigned char bytes[12] = {0};
    random_bytes(bytes, sizeof bytes);
    for (size_t i = 0; i < sizeof bytes; i++)
        snprintf(out + 2 * i, 3, "%02x", bytes[i]);
}

void broker_init(struct broker *b, const struct broker_config *config)
{
    b->config = *config;
    b->log = (struct log){.level = config->log_console ? config->log_level : LOG_NONE};
    list_init(&b->users);
    list_init(&b->vhosts);
    clock_init(&b->clock);
    deadline_heap_init(&b->deadlines);
    b->reply_to = NULL;
    b->store = NULL;
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    snprintf(b->node, sizeof b->node, "warren@%s", host);
    make_cluster_id(b->cluster_id);
    b->retired_stats = (struct message_stats){0};
    b->overview_rates = (struct message_rates){0};
    b->churn = (struct broker_churn){0};
    struct alarm_host alarm_host = {
        .log = &b->log, .deadlines = &b->deadlines, .clock = &b->clock, .node = b->node,
        .disk_path = b->config.data_dir ? b->config.data_dir : ".",
    };
    struct alarm_limits limits = {
        .memory_relative = config->vm_memory_high_watermark,
        .memory_absolute = config->vm_memory_high_watermark_absolute,
        .disk_relative = config->disk_free_limit_relative,
        .disk_absolute = config->disk_free_limit,
    };
    alarms_init(&b->alarms, &alarm_host, &limits);
    b->definitions = (struct definitions_hook){0};
}

void broker_create_defaults(struct broker *b)
{
    const struct broker_config *config = &b->config;
    broker_definitions_begin(b);
    struct user *u = broker_add_user(b, config->default_user);
    user_set_password(u, (const uint8_t *)config->default_pass, strlen(config->default_pass));
    user_set_tags(u, config->default_user_tags, config->default_user_tag_count);
    struct vhost *v = broker_add_vhost(b, config->default_vhost);
    v->description = xstrdup("Default virtual host");
    char err[200];
    if (!broker_set_permissions(b, v, u->name, config->default_permission_configure,
                                config->default_permission_write, config->default_permission_read,
                                err, sizeof err))
        log_error(&b->log, "default_permissions: %s; the default user has none", err);
    broker_settings_changed(b); /* the description, tags and password set above */
    broker_definitions_end(b);
}

static void settings_changed(struct broker *b, bool now)
{
    if (b->definitions.ops)
        b->definitions.ops->settings_changed(b->definitions.ctx, now);
}

void broker_settings_changed(struct broker *b)
{
    settings_changed(b, false);
}

void broker_definitions_begin(struct broker *b)
{
    if (b->definitions.ops)
        b->definitions.ops->batch_begin(b->definitions.ctx);
}

void broker_definitions_end(struct broker *b)
{
    if (b->definitions.ops)
        b->definitions.ops->batch_end(b->definitions.ctx);
}

void broker_free(struct broker *b)
{
    b->definitions.ops = NULL; /* stopping deletes nothing durable */
    alarms_stop(&b->alarms);
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &b->users) {
        list_remove(pos);
        user_free(list_entry(pos, struct user, link));
    }
    list_for_each_safe(pos, tmp, &b->vhosts) {
        list_remove(pos);
        vhost_unref(list_entry(pos, struct vhost, link));
    }
    deadline_heap_free(&b->deadlines); /* after the owners of deadlines are gone */
}

void broker_use_store(struct broker *b, struct message_store *store)
{
    b->store = store;
    struct list *pos;
    list_for_each(pos, &b->vhosts)
        vhost_use_store(list_entry(pos, struct vhost, link), store);
}

static bool name_is(const char *name, const uint8_t *s, size_t len)
{
    return strlen(name) == len && memcmp(name, s, len) == 0;
}

struct user *broker_find_user(struct broker *b, const uint8_t *name, size_t len)
{
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &b->users) {
        struct user *u = list_entry(pos, struct user, link);
        if (name_is(u->name, name, len))
            return u;
    }
    return NULL;
}

struct vhost *broker_find_vhost(struct broker *b, const uint8_t *name, size_t len)
{
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &b->vhosts) {
        struct vhost *v = list_entry(pos, struct vhost, link);
        if (name_is(v->name, name, len))
            return v;
    }
    return NULL;
}

struct user *broker_add_user(struct broker *b, const char *name)
{
    if (broker_find_user(b, (const uint8_t *)name, strlen(name)))
        return NULL;
    struct user *u = user_new(name);
    list_push_back(&b->users, &u->link);
    settings_changed(b, false);
    return u;
}

void broker_delete_user(struct broker *b, struct user *u)
{
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &b->vhosts) {
        struct vhost *v = list_entry(pos, struct vhost, link);
        permission_set_remove(&v->permissions, u->name);
        permission_set_remove_topic(&v->permissions, u->name, NULL);
    }
    char reason[400];
    snprintf(reason, sizeof reason, "user '%s' is deleted", u->name);
    list_for_each_safe(pos, tmp, &u->sessions) {
        struct session *s = list_entry(pos, struct session, in_user);
        s->ops->force_close(s, reason);
    }
    /* sessions that have not closed yet forget the user */
    while (!list_empty(&u->sessions)) {
        struct session *s = list_entry(u->sessions.next, struct session, in_user);
        list_remove(&s->in_user);
        s->user = NULL;
    }
    list_remove(&u->link);
    user_free(u);
    settings_changed(b, false);
}

struct vhost *broker_add_vhost(struct broker *b, const char *name)
{
    if (broker_find_vhost(b, (const uint8_t *)name, strlen(name)))
        return NULL;
    struct vhost *v = vhost_new(name);
    vhost_use_timers(v, &b->deadlines, &b->clock);
    vhost_use_store(v, b->store);
    v->node = b->node;
    v->compat = b->config.compat;
    v->churn = &b->churn;
    v->definitions = &b->definitions;
    list_push_back(&b->vhosts, &v->link);
    settings_changed(b, false);
    return v;
}

void broker_delete_vhost(struct broker *b, struct vhost *v)
{
    char reason[400];
    snprintf(reason, sizeof reason, "vhost '%s' is deleted", v->name);
    list_remove(&v->link);
    /* at once: a vhost of the same name made later in the batch must not revive its queues */
    settings_changed(b, true);
    vhost_shut(v, reason);
    vhost_unref(v);
}

bool broker_set_permissions(struct broker *b, struct vhost *v, const char *user,
                            const char *configure, const char *write, const char *read,
                            char *err, size_t err_size)
{
    struct permission *p = permission_new(user, configure, write, read, err, err_size);
    if (!p)
        return false;
    permission_set_put(&v->permissions, p);
    settings_changed(b, false);
    return true;
}

bool broker_set_topic_permissions(struct broker *b, struct vhost *v, const char *user,
                                  const char *exchange, const char *write, const char *read,
                                  char *err, size_t err_size)
{
    struct topic_permission *t =
        topic_permission_new(user, v->name, exchange, write, read, err, err_size);
    if (!t)
        return false;
    permission_set_put_topic(&v->permissions, t);
    settings_changed(b, false);
    return true;
}
