/* A client logged in to a vhost (an AMQP connection, or one HTTP request): who performs each
 * verb, the one place its permissions are checked, and what the limits count. */
#ifndef SESSION_H
#define SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "amqp_types.h"
#include "core/list.h"
#include "model/outcome.h"
#include "model/permission.h"

struct session;
struct user;
struct vhost;

struct session_ops {
    /* The broker ends the session (its vhost or user was deleted): the front end closes its
     * connection with 320 CONNECTION_FORCED and this text, and calls vhost_close_session once done. */
    void (*force_close)(struct session *s, const char *text);
};

/* Opened and closed by the vhost (vhost_open_session), which fills it in. */
struct session {
    const struct session_ops *ops; /* NULL: transient (one HTTP request), counted nowhere */
    struct user *user;             /* NULL once the user was deleted */
    struct vhost *vhost;           /* holds a reference while the session is open */
    const char *vhost_name;        /* the vhost's, for texts */
    const struct permission_set *permissions; /* the vhost's */
    char user_name[256];           /* for texts after the user went */
    struct list in_user, in_vhost;
    const struct permission *perm; /* the user's in the vhost, as of perm_epoch */
    uint64_t perm_epoch;
    uint32_t channels;
};

/* A limit of RabbitMQ's kind: negative limits nothing, 0 allows nothing. */
static inline bool session_limit_reached(int64_t limit, uint32_t count)
{
    return limit >= 0 && (int64_t)count >= limit;
}

/* THE permission check: may who do `kind` on the queue or exchange `name`? A NULL who is the
 * broker itself (definitions import, recovery), which may do everything. The default
 * exchange is checked as "amq.default", as in RabbitMQ. Refusals are 403 ACCESS_REFUSED. */
enum resource_kind { RESOURCE_QUEUE, RESOURCE_EXCHANGE };
bool session_check(struct session *who, enum permission_kind kind, enum resource_kind resource,
                   struct amqp_bytes name, struct outcome *out);
/* session_check, with the common case inline (a few instructions per publish): the broker
 * itself, or a ".*" pattern already looked up. */
static inline bool session_may(struct session *who, enum permission_kind kind,
                               enum resource_kind resource, struct amqp_bytes name,
                               struct outcome *out)
{
    if (!who || (who->perm && who->perm_epoch == who->permissions->epoch &&
                 who->perm->patterns[kind].matches_all))
        return true;
    return session_check(who, kind, resource, name, out);
}
/* Topic permissions on a topic exchange's routing key (write to publish, read to bind). A
 * user with none for that exchange may use every key. */
bool session_check_topic(struct session *who, enum permission_kind kind,
                         struct amqp_bytes exchange, struct amqp_bytes routing_key,
                         struct outcome *out);
/* session_check_topic, inline while the vhost has no topic permissions at all. */
static inline bool session_may_topic(struct session *who, enum permission_kind kind,
                                     struct amqp_bytes exchange, struct amqp_bytes routing_key,
                                     struct outcome *out)
{
    return !who || list_empty(&who->permissions->topics) ||
           session_check_topic(who, kind, exchange, routing_key, out);
}

/* channel.open against the user's max-channels (530 NOT_ALLOWED). */
bool session_open_channel(struct session *s, struct outcome *out);
void session_close_channel(struct session *s);

#endif
