/* A client logged in to a vhost (an AMQP connection, or one HTTP request): who performs each
 * verb, the one place its permissions are checked, and what the limits count. */
#include "model/session.h"

#include <stdio.h>
#include <string.h>

#include "amqp_spec.h"
#include "model/user.h"

static const struct permission *permission_of(struct session *s)
{
    const struct permission_set *set = s->permissions;
    if (s->perm_epoch != set->epoch) {
        s->perm = s->user ? permission_set_find(set, s->user->name) : NULL;
        s->perm_epoch = set->epoch;
    }
    return s->perm;
}

bool session_check(struct session *who, enum permission_kind kind, enum resource_kind resource,
                   struct amqp_bytes name, struct outcome *out)
{
    if (!who)
        return true;
    if (name.len == 0 && resource == RESOURCE_EXCHANGE)
        name = amqp_cstr("amq.default");
    const struct permission *p = permission_of(who);
    if (p && permission_regex_matches(&p->patterns[kind], name.ptr, name.len))
        return true;
    return outcome_fail(out, AMQP_ACCESS_REFUSED,
                        "access to %s '" NAME_FMT "' in vhost '%s' refused for user '%s'",
                        resource == RESOURCE_QUEUE ? "queue" : "exchange", NAME_ARG(name),
                        who->vhost_name, who->user_name);
}

bool session_check_topic(struct session *who, enum permission_kind kind,
                         struct amqp_bytes exchange, struct amqp_bytes routing_key,
                         struct outcome *out)
{
    const struct topic_permission *t =
        permission_set_find_topic(who->permissions, who->user_name, exchange.ptr, exchange.len);
    if (!t || permission_regex_matches(kind == PERMISSION_WRITE ? &t->write : &t->read,
                                       routing_key.ptr, routing_key.len))
        return true;
    return outcome_fail(out, AMQP_ACCESS_REFUSED,
                        "access to topic '" NAME_FMT "' in exchange '" NAME_FMT "' in vhost '%s' "
                        "refused for user '%s'",
                        NAME_ARG(routing_key), NAME_ARG(exchange), who->vhost_name,
                        who->user_name);
}

bool session_open_channel(struct session *s, struct outcome *out)
{
    if (s->user && session_limit_reached(s->user->max_channels, s->user->channel_count))
        return outcome_fail_connection(out, AMQP_NOT_ALLOWED,
                                       "number of channels opened for user '%s' has reached the "
                                       "maximum allowed user limit of (%lld)",
                                       s->user_name, (long long)s->user->max_channels);
    s->channels++;
    if (s->user)
        s->user->channel_count++;
    return outcome_done(out);
}

void session_close_channel(struct session *s)
{
    if (!s->channels)
        return;
    s->channels--;
    if (s->user)
        s->user->channel_count--;
}
