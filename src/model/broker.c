/* The broker: configuration, users and vhosts; the root every other object hangs off. */
#include "model/broker.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const default_user_tags[] = {"administrator"};
static const char *const loopback_users[] = {"guest"};

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
        .data_dir = NULL,
        .log_level = LOG_INFO,
        .tls = {.depth = -1},
        .management_bind = NULL,
        .management_port = 15672,
        .prometheus_bind = NULL,
        .prometheus_port = 15692,
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

void broker_init(struct broker *b, const struct broker_config *config)
{
    b->config = *config;
    b->log = (struct log){.level = config->log_console ? config->log_level : LOG_NONE};
    list_init(&b->users);
    list_init(&b->vhosts);
    clock_init(&b->clock);
    deadline_heap_init(&b->deadlines);
    b->reply_to = NULL;
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    snprintf(b->node, sizeof b->node, "warren@%s", host);
    struct user *u = user_new(config->default_user, config->default_pass);
    list_push_back(&b->users, &u->link);
    struct vhost *v = vhost_new(config->default_vhost);
    vhost_use_timers(v, &b->deadlines, &b->clock);
    v->node = b->node;
    list_push_back(&b->vhosts, &v->link);
}

void broker_free(struct broker *b)
{
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &b->users) {
        list_remove(pos);
        user_free(list_entry(pos, struct user, link));
    }
    list_for_each_safe(pos, tmp, &b->vhosts) {
        list_remove(pos);
        vhost_free(list_entry(pos, struct vhost, link));
    }
    deadline_heap_free(&b->deadlines); /* after the owners of deadlines are gone */
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
