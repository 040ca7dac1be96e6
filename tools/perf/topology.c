/* Declaring and deleting the benchmark's exchange, queues and bindings over a control link. */
#include "topology.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"

static void name_queues(struct topology *t, const struct options *o)
{
    if (o->queues) {
        t->count = o->queues;
        t->names = calloc(t->count, sizeof *t->names);
        const char *base = o->queue[0] ? o->queue : "perf-test";
        for (unsigned i = 0; i < t->count; i++)
            snprintf(t->names[i], OPTIONS_NAME_MAX, "%.*s-%u", OPTIONS_NAME_MAX - 12, base, i);
    } else {
        t->count = o->queue[0] || !o->no_declare ? 1 : 0;
        t->names = calloc(1, sizeof *t->names);
        strcpy(t->names[0], o->queue); /* "" until the broker names it */
    }
    if (!t->names)
        abort();
}

/* A passive declare first when the entity may exist already; a 404 reopens the channel and
 * falls through to the real declare. */
static int call(struct stream *control, struct amqp_method *m, uint32_t reply_id,
                struct amqp_method *reply, struct errors *e)
{
    struct session_failure why;
    if (session_call(control, m, reply_id, reply, &why) == SESSION_OK)
        return 0;
    errors_add(e, "%s", why.text);
    return -1;
}

static int declare_maybe_existing(struct stream *control, struct amqp_method *m, bool *passive,
                                  uint32_t reply_id, struct amqp_method *reply, struct errors *e)
{
    *passive = true;
    struct session_failure why;
    enum session_result rc = session_call(control, m, reply_id, reply, &why);
    if (rc == SESSION_OK)
        return 0;
    if (rc != SESSION_CHANNEL_CLOSED || why.code != AMQP_NOT_FOUND ||
        session_reopen_channel(control, &why) != SESSION_OK) {
        errors_add(e, "%s", why.text);
        return -1;
    }
    *passive = false;
    return call(control, m, reply_id, reply, e);
}

static int declare_exchange(struct stream *control, const struct options *o, struct errors *e)
{
    if (!o->exchange[0] || strncmp(o->exchange, "amq.", 4) == 0)
        return 0;
    struct amqp_method m = {.id = AMQP_EXCHANGE_DECLARE,
                            .exchange_declare = {.exchange = amqp_cstr(o->exchange),
                                                 .type = amqp_cstr(o->exchange_type)}};
    struct amqp_method reply;
    if (o->predeclared)
        return declare_maybe_existing(control, &m, &m.exchange_declare.passive,
                                      AMQP_EXCHANGE_DECLARE_OK, &reply, e);
    return call(control, &m, AMQP_EXCHANGE_DECLARE_OK, &reply, e);
}

static int declare_queue(struct topology *t, unsigned i, struct stream *control,
                         const struct options *o, struct errors *e)
{
    bool server_named = t->names[i][0] == '\0';
    struct amqp_method m = {.id = AMQP_QUEUE_DECLARE,
                            .queue_declare = {.queue = amqp_cstr(t->names[i]),
                                              .durable = o->persistent && !server_named,
                                              .exclusive = server_named && o->consumers == 0,
                                              .auto_delete = server_named && o->consumers > 0}};
    struct amqp_method reply;
    int rc = o->predeclared && !server_named
                 ? declare_maybe_existing(control, &m, &m.queue_declare.passive,
                                          AMQP_QUEUE_DECLARE_OK, &reply, e)
                 : call(control, &m, AMQP_QUEUE_DECLARE_OK, &reply, e);
    if (rc < 0)
        return -1;
    if (server_named) {
        struct amqp_bytes name = reply.queue_declare_ok.queue;
        snprintf(t->names[i], OPTIONS_NAME_MAX, "%.*s", (int)name.len, (const char *)name.ptr);
    }
    if (!o->exchange[0])
        return 0;
    const char *key = o->routing_key_given ? o->routing_key : t->names[i];
    struct amqp_method bind = {.id = AMQP_QUEUE_BIND,
                               .queue_bind = {.queue = amqp_cstr(t->names[i]),
                                              .exchange = amqp_cstr(o->exchange),
                                              .routing_key = amqp_cstr(key)}};
    return call(control, &bind, AMQP_QUEUE_BIND_OK, &reply, e);
}

int topology_declare(struct topology *t, struct stream *control, const struct options *o,
                     struct errors *e)
{
    memset(t, 0, sizeof *t);
    name_queues(t, o);
    if (o->no_declare)
        return 0;
    if (declare_exchange(control, o, e) < 0)
        return -1;
    for (unsigned i = 0; i < t->count; i++)
        if (declare_queue(t, i, control, o, e) < 0)
            return -1;
    bool named = o->queue[0] || o->queues;
    t->delete_queues = named && !o->predeclared && o->consumers > 0;
    return 0;
}

void topology_cleanup(struct topology *t, struct stream *control, struct errors *e)
{
    if (!t->delete_queues || control->fd < 0)
        return;
    for (unsigned i = 0; i < t->count; i++) {
        struct amqp_method m = {.id = AMQP_QUEUE_DELETE,
                                .queue_delete = {.queue = amqp_cstr(t->names[i])}};
        struct amqp_method reply;
        if (call(control, &m, AMQP_QUEUE_DELETE_OK, &reply, e) < 0)
            return;
    }
}

void topology_free(struct topology *t)
{
    free(t->names);
    t->names = NULL;
    t->count = 0;
}

const char *topology_queue_for(const struct topology *t, unsigned consumer)
{
    return t->count ? t->names[consumer % t->count] : "";
}

const char *topology_routing_key_for(const struct topology *t, const struct options *o,
                                     unsigned producer)
{
    if (o->routing_key_given)
        return o->routing_key;
    return t->count ? t->names[producer % t->count] : "";
}
