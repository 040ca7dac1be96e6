/* A virtual host: its namespace, and the verbs with RabbitMQ 3.10's rules, order and texts. */
#include "model/vhost.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "amqp_erlang.h"
#include "amqp_spec.h"
#include "amqp_table.h"
#include "core/alloc.h"
#include "core/container.h"
#include "core/token.h"
#include "model/churn.h"
#include "model/deadletter.h"
#include "model/exchange.h"
#include "model/exchange_delayed.h"
#include "model/message_store.h"
#include "model/queue.h"
#include "model/session.h"
#include "model/user.h"

static const struct {
    const char *name;
    enum exchange_type type;
    bool internal;
} standard_exchanges[] = {
    {"", EXCHANGE_DIRECT, false},
    {"amq.direct", EXCHANGE_DIRECT, false},
    {"amq.fanout", EXCHANGE_FANOUT, false},
    {"amq.topic", EXCHANGE_TOPIC, false},
    {"amq.headers", EXCHANGE_HEADERS, false},
    {"amq.match", EXCHANGE_HEADERS, false},
    {"amq.rabbitmq.trace", EXCHANGE_TOPIC, true}, /* RabbitMQ's firehose, in every vhost */
};

/* The journal's ops, when the vhost reports its durable definitions now. */
static const struct definitions_ops *recorder(const struct vhost *v)
{
    return v->definitions && v->definitions->ops ? v->definitions->ops : NULL;
}

#define RECORD(v, verb, ...) \
    do { \
        const struct definitions_ops *ops_ = recorder(v); \
        if (ops_) \
            ops_->verb(v->definitions->ctx, v, __VA_ARGS__); \
    } while (0)

static void record_binding(struct vhost *v, bool bound, struct amqp_bytes source,
                           struct amqp_bytes destination, bool to_exchange,
                           struct amqp_bytes routing_key, struct amqp_bytes arguments)
{
    struct definitions_binding b = {source, destination, routing_key, arguments, to_exchange};
    if (bound)
        RECORD(v, bound, &b);
    else
        RECORD(v, unbound, &b);
}

static void add_exchange(struct vhost *v, struct exchange *x)
{
    map_put(&v->exchanges, x->name.ptr, x->name.len, x);
    v->exchanges_version++;
}

static void remove_binding(struct vhost *v, struct binding *b);
static void dead_letter(struct queue_host *h, struct queue *q, struct message *m,
                        enum dead_letter_reason reason);

/* A durable delayed exchange goes: the store drops its held messages before they are freed. */
static void forget_held(struct message_store *store, struct exchange *x)
{
    const struct delay_heap *held = &x->delayed->held;
    for (size_t i = 0; i < held->len; i++)
        if (held->slots[i].message->stored)
            store->ops->released(store, x, held->slots[i].message);
    store->ops->exchange_deleted(store, x);
}

/* Bindings to the exchange go first, and with them sources they leave unused (auto-delete). */
static void remove_exchange(struct vhost *v, struct exchange *x)
{
    if (x->durable)
        RECORD(v, exchange_deleted, x);
    map_remove(&v->exchanges, x->name.ptr, x->name.len);
    v->exchanges_version++;
    while (!list_empty(&x->incoming))
        remove_binding(v, list_entry(x->incoming.next, struct binding, destination_link));
    if (x->delayed && x->delayed->store_id && v->queue_host.store)
        forget_held(v->queue_host.store, x);
    exchange_free(x);
}

/* The untallied publishers' tally keeps no entries. */
static void ignore_route(struct publish_tally *t, struct queue *q)
{
    (void)t;
    (void)q;
}

struct vhost *vhost_new(const char *name)
{
    struct vhost *v = xcalloc(1, sizeof *v);
    v->name = xstrdup(name);
    list_init(&v->link);
    map_init(&v->exchanges);
    map_init(&v->queues);
    /* from 1, so that zeroed hints hold nothing */
    v->exchanges_version = v->queues_version = 1;
    publish_tally_init(&v->untallied, ignore_route);
    for (size_t i = 0; i < sizeof standard_exchanges / sizeof *standard_exchanges; i++) {
        struct amqp_bytes xname = amqp_cstr(standard_exchanges[i].name);
        add_exchange(v, exchange_new(xname, standard_exchanges[i].type, true, false,
                                     standard_exchanges[i].internal, (struct amqp_bytes){NULL, 0}));
    }
    v->default_exchange = vhost_find_exchange(v, amqp_cstr(""));
    v->queue_host.dead_letter = dead_letter;
    v->dead_letters_tail = &v->dead_letters;
    v->max_connections = v->max_queues = VHOST_NO_LIMIT;
    permission_set_init(&v->permissions);
    list_init(&v->policies[POLICY_REGULAR]);
    list_init(&v->policies[POLICY_OPERATOR]);
    list_init(&v->sessions);
    v->refs = 1;
    return v;
}

/* Any one value of the map, or NULL when it is empty. */
static void *first_value(const struct map *m)
{
    struct map_iter it;
    void *value = NULL;
    map_iter_init(&it, m);
    return map_iter_next(&it, NULL, NULL, &value) ? value : NULL;
}

static void empty(struct vhost *v)
{
    v->definitions = NULL; /* the vhost's own deletion (or the broker's stop) says it all */
    struct queue *q;
    while ((q = first_value(&v->queues)))
        vhost_delete_queue(v, q);
    struct exchange *x;
    while ((x = first_value(&v->exchanges)))
        remove_exchange(v, x);
    v->default_exchange = NULL;
}

void vhost_ref(struct vhost *v)
{
    v->refs++;
}

void vhost_unref(struct vhost *v)
{
    if (!v || --v->refs)
        return;
    empty(v);
    map_free(&v->queues);
    map_free(&v->exchanges);
    permission_set_free(&v->permissions);
    for (int kind = POLICY_REGULAR; kind <= POLICY_OPERATOR; kind++)
        while (!list_empty(&v->policies[kind])) {
            struct policy *p = list_entry(v->policies[kind].next, struct policy, link);
            list_remove(&p->link);
            policy_free(p);
        }
    string_list_free(&v->tags);
    free(v->description);
    free(v->default_queue_type);
    free(v->name);
    free(v);
}

void vhost_shut(struct vhost *v, const char *reason)
{
    v->deleted = true;
    empty(v);
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &v->sessions) {
        struct session *s = list_entry(pos, struct session, in_vhost);
        s->ops->force_close(s, reason);
    }
}

static void init_session(struct vhost *v, struct session *s, const struct session_ops *ops,
                         struct user *u)
{
    *s = (struct session){.ops = ops, .user = u, .vhost = v, .vhost_name = v->name,
                          .permissions = &v->permissions};
    snprintf(s->user_name, sizeof s->user_name, "%s", u->name);
    list_init(&s->in_user);
    list_init(&s->in_vhost);
}

void vhost_transient_session(struct vhost *v, struct session *s, struct user *u)
{
    init_session(v, s, NULL, u);
}

bool vhost_open_session(struct vhost *v, struct session *s, const struct session_ops *ops,
                        struct user *u, struct outcome *out)
{
    /* RabbitMQ's order: the limits first, then access; a refused session stays empty, so
     * nothing is released for it later */
    if (session_limit_reached(v->max_connections, v->session_count))
        return outcome_fail_connection(out, AMQP_NOT_ALLOWED,
                                       "access to vhost '%s' refused for user '%s': connection "
                                       "limit (%lld) is reached",
                                       v->name, u->name, (long long)v->max_connections);
    if (session_limit_reached(u->max_connections, u->session_count))
        return outcome_fail_connection(out, AMQP_NOT_ALLOWED,
                                       "connection refused for user '%s': user connection limit "
                                       "(%lld) is reached",
                                       u->name, (long long)u->max_connections);
    if (!permission_set_find(&v->permissions, u->name))
        return outcome_fail_connection(out, AMQP_NOT_ALLOWED,
                                       "access to vhost '%s' refused for user '%s'", v->name,
                                       u->name);
    init_session(v, s, ops, u);
    list_push_back(&u->sessions, &s->in_user);
    u->session_count++;
    list_push_back(&v->sessions, &s->in_vhost);
    v->session_count++;
    vhost_ref(v);
    return outcome_done(out);
}

void vhost_close_session(struct session *s)
{
    if (!s->ops || !s->vhost) /* transient, refused, or closed already */
        return;
    if (s->user) {
        list_remove(&s->in_user);
        s->user->session_count--;
        s->user->channel_count -= s->channels;
    }
    list_remove(&s->in_vhost);
    s->vhost->session_count--;
    vhost_unref(s->vhost);
    s->user = NULL;
    s->vhost = NULL;
}

void vhost_use_store(struct vhost *v, struct message_store *store)
{
    v->queue_host.store = store;
    struct map_iter it;
    void *value;
    map_iter_init(&it, &v->queues);
    while (map_iter_next(&it, NULL, NULL, &value))
        queue_use_store(value);
}

void vhost_use_timers(struct vhost *v, struct deadline_heap *deadlines, const struct clock *clock)
{
    v->deadlines = deadlines;
    v->clock = clock;
    v->queue_host.deadlines = deadlines;
    v->queue_host.clock = clock;
}

/* ---- x-expires: a queue unused (no consumers, no basic.get, no declare) that long goes ---- */

static void on_queue_expired(struct deadline *d, uint64_t now_ms)
{
    (void)now_ms;
    struct queue *q = container_of(d, struct queue, expiry);
    if (q->consumer_count == 0) /* consumers keep it; the last to leave restarts the wait */
        vhost_delete_queue(q->expiry_owner, q);
}

/* The queue was used (or lost its last consumer): its expiry starts again from now. */
static void queue_used(struct vhost *v, struct queue *q)
{
    if (q->args.expires_ms == QUEUE_ARG_UNSET || !v->deadlines)
        return;
    if (!q->expiry.fire) { /* the first use: a pending deadline must not be initialised again */
        q->expiry_owner = v;
        deadline_init(&q->expiry, on_queue_expired);
    }
    deadline_heap_reschedule(v->deadlines, &q->expiry,
                             clock_now_ms(v->clock) + (uint64_t)q->args.expires_ms);
}

/* ---- policies: applied when they or the objects change, never per message ---- */

static void apply_exchange_policy(struct vhost *v, struct exchange *x)
{
    struct policy *p = policy_best(&v->policies[POLICY_REGULAR], false, QUEUE_TYPE_CLASSIC, x->name);
    x->policy = p;
    exchange_apply_alternate(x, p && (p->values.keys & 1u << POLICY_ALTERNATE_EXCHANGE)
                                    ? p->values.alternate_exchange : NULL);
}

static void apply_queue_policies(struct vhost *v, struct queue *q)
{
    enum queue_type type = q->own_args.type;
    q->policy = policy_best(&v->policies[POLICY_REGULAR], true, type, q->name);
    q->operator_policy = policy_best(&v->policies[POLICY_OPERATOR], true, type, q->name);
    int64_t expires = q->args.expires_ms;
    struct queue_args effective;
    policy_queue_args(&q->own_args, q->policy, q->operator_policy, &effective);
    queue_apply_args(q, &effective);
    if (q->args.expires_ms == expires || q->deleted)
        return;
    /* RabbitMQ restarts the expiry from now with the new value, or stops it */
    if (q->args.expires_ms != QUEUE_ARG_UNSET) {
        if (q->consumer_count == 0)
            queue_used(v, q);
    } else if (q->expiry.fire && deadline_pending(&q->expiry)) {
        deadline_heap_remove(v->deadlines, &q->expiry);
    }
}

/* Every queue and exchange of the vhost by the policies now set. */
static void apply_policies(struct vhost *v)
{
    struct map_iter it;
    void *value;
    map_iter_init(&it, &v->exchanges);
    while (map_iter_next(&it, NULL, NULL, &value))
        apply_exchange_policy(v, value);
    /* a queue may go meanwhile (an x-expires of 0 cannot be, but dead letters route on) */
    size_t n = map_count(&v->queues), i = 0;
    struct queue **queues = xmalloc((n ? n : 1) * sizeof *queues);
    map_iter_init(&it, &v->queues);
    while (map_iter_next(&it, NULL, NULL, &value))
        queue_ref(queues[i++] = value);
    for (i = 0; i < n; i++) {
        if (!queues[i]->deleted)
            apply_queue_policies(v, queues[i]);
        queue_unref(queues[i]);
    }
    free(queues);
}

bool vhost_set_policy(struct vhost *v, enum policy_kind kind, struct policy *p)
{
    const struct definitions_ops *ops = recorder(v);
    struct policy *old = policy_find(&v->policies[kind], p->name);
    if (old)
        list_remove(&old->link);
    list_push_back(&v->policies[kind], &p->link);
    apply_policies(v);
    bool replaced = old != NULL;
    policy_free(old); /* nothing points at it any more */
    if (ops)
        ops->settings_changed(v->definitions->ctx, false);
    return replaced;
}

bool vhost_delete_policy(struct vhost *v, enum policy_kind kind, const char *name)
{
    struct policy *p = policy_find(&v->policies[kind], name);
    if (!p)
        return false;
    list_remove(&p->link);
    apply_policies(v);
    policy_free(p);
    if (recorder(v))
        v->definitions->ops->settings_changed(v->definitions->ctx, false);
    return true;
}

struct exchange *vhost_find_exchange(struct vhost *v, struct amqp_bytes name)
{
    return map_get(&v->exchanges, name.ptr, name.len);
}

struct queue *vhost_find_queue(struct vhost *v, struct amqp_bytes name)
{
    return map_get(&v->queues, name.ptr, name.len);
}

/* RabbitMQ's server-named queues: "amq.gen-" and 128 random bits in url-safe base64. */
void vhost_generate_queue_name(struct vhost *v, char out[32])
{
    do
        token_generate(out, "amq.gen-");
    while (map_contains(&v->queues, out, strlen(out)));
}

/* ---- texts shared by several verbs ---- */

static bool reserved_name(struct amqp_bytes name)
{
    return name.len >= 4 && memcmp(name.ptr, "amq.", 4) == 0;
}

static bool fail_default_exchange(struct outcome *out)
{
    return outcome_fail(out, AMQP_ACCESS_REFUSED, "operation not permitted on the default exchange");
}

static bool fail_no_exchange(struct vhost *v, struct amqp_bytes name, struct outcome *out)
{
    return outcome_fail(out, AMQP_NOT_FOUND, "no exchange '" NAME_FMT "' in vhost '%s'",
                        NAME_ARG(name), v->name);
}

static bool fail_no_queue(struct vhost *v, struct amqp_bytes name, struct outcome *out)
{
    return outcome_fail(out, AMQP_NOT_FOUND, "no queue '" NAME_FMT "' in vhost '%s'", NAME_ARG(name),
                        v->name);
}

static bool fail_locked(struct vhost *v, struct amqp_bytes name, struct outcome *out)
{
    return outcome_fail(out, AMQP_RESOURCE_LOCKED,
                        "cannot obtain exclusive access to locked queue '" NAME_FMT "' in vhost "
                        "'%s'. It could be originally declared on another connection or the "
                        "exclusive property value does not match that of the original "
                        "declaration.",
                        NAME_ARG(name), v->name);
}

static bool owned_by_other(const struct queue *q, const struct session *owner)
{
    return q->exclusive && q->owner != owner;
}

/* ---- exchanges ---- */

static bool exchange_equivalent(struct vhost *v, struct exchange *x,
                                const struct exchange_declare *req, enum exchange_type type,
                                struct outcome *out)
{
    struct arguments_owner o = {"exchange", req->name, v->name};
    if (type != x->type)
        return outcome_fail(out, AMQP_PRECONDITION_FAILED,
                            "inequivalent arg 'type' for exchange '" NAME_FMT "' in vhost '%s': "
                            "received '%s' but current is '%s'",
                            NAME_ARG(req->name), v->name, exchange_type_term(type),
                            exchange_type_term(x->type));
    static const char *const compared[] = {"alternate-exchange", NULL};
    return arguments_flag_equivalent("durable", req->durable, x->durable, &o, out) &&
           arguments_flag_equivalent("auto_delete", req->auto_delete, x->auto_delete, &o, out) &&
           arguments_flag_equivalent("internal", req->internal, x->internal, &o, out) &&
           arguments_equivalent(req->arguments, x->arguments, compared, &o, out);
}

/* A string argument naming an exchange, as RabbitMQ's r_arg reads it; other types are left
 * to the argument checks. */
static bool exchange_argument(struct amqp_bytes arguments, const char *key, struct amqp_bytes *name)
{
    struct amqp_field f;
    if (!amqp_table_get(arguments, key, &f) || f.type != 'S')
        return false;
    *name = f.v.bytes;
    return true;
}

/* Declaring an exchange with an alternate needs read on it and write on the alternate. */
static bool alternate_exchange_permitted(const struct exchange_declare *req, struct outcome *out)
{
    struct amqp_bytes ae;
    return !exchange_argument(req->arguments, "alternate-exchange", &ae) ||
           (session_may(req->who, PERMISSION_READ, RESOURCE_EXCHANGE, req->name, out) &&
            session_may(req->who, PERMISSION_WRITE, RESOURCE_EXCHANGE, ae, out));
}

struct exchange *vhost_declare_exchange(struct vhost *v, const struct exchange_declare *req,
                                        struct outcome *out)
{
    enum exchange_type type = EXCHANGE_DIRECT;
    /* RabbitMQ says "invalid" for a name that happens to be an Erlang atom; "unknown" is
     * what it says for the rest, and the only text we give. */
    if (!req->passive && !exchange_type_parse(req->type, &type)) {
        outcome_fail_connection(out, AMQP_COMMAND_INVALID, "unknown exchange type '" NAME_FMT "'",
                                NAME_ARG(req->type));
        return NULL;
    }
    if (req->name.len == 0) {
        fail_default_exchange(out);
        return NULL;
    }
    if (!req->passive &&
        !session_may(req->who, PERMISSION_CONFIGURE, RESOURCE_EXCHANGE, req->name, out))
        return NULL;
    struct exchange *x = vhost_find_exchange(v, req->name);
    if (req->passive) {
        if (!x)
            fail_no_exchange(v, req->name, out);
        return x && outcome_done(out) ? x : NULL;
    }
    if (x)
        return exchange_equivalent(v, x, req, type, out) ? x : NULL;
    /* The standard amq.* exchanges may be redeclared as they are; no new one may be. */
    if (reserved_name(req->name)) {
        outcome_fail(out, AMQP_ACCESS_REFUSED, "exchange name '" NAME_FMT "' contains reserved "
                     "prefix 'amq.*'", NAME_ARG(req->name));
        return NULL;
    }
    if (!alternate_exchange_permitted(req, out))
        return NULL;
    struct exchange_args args;
    if (!exchange_args_parse(type, req->arguments,
                             &(struct arguments_owner){"exchange", req->name, v->name}, &args, out))
        return NULL;
    x = exchange_new(req->name, type, req->durable, req->auto_delete, req->internal, req->arguments);
    add_exchange(v, x);
    apply_exchange_policy(v, x);
    if (x->durable)
        RECORD(v, exchange_declared, x);
    outcome_done(out);
    return x;
}

bool vhost_delete_exchange(struct vhost *v, struct session *who, struct amqp_bytes name,
                           bool if_unused, struct outcome *out)
{
    if (name.len == 0)
        return fail_default_exchange(out);
    if (reserved_name(name))
        return outcome_fail(out, AMQP_ACCESS_REFUSED, "deletion of system exchange '" NAME_FMT
                            "' in vhost '%s' not allowed", NAME_ARG(name), v->name);
    if (!session_may(who, PERMISSION_CONFIGURE, RESOURCE_EXCHANGE, name, out))
        return false;
    struct exchange *x = vhost_find_exchange(v, name);
    if (x && if_unused && x->binding_count)
        return outcome_fail(out, AMQP_PRECONDITION_FAILED, "exchange '" NAME_FMT "' in vhost '%s' "
                            "in use", NAME_ARG(name), v->name);
    if (x)
        remove_exchange(v, x);
    return outcome_done(out);
}

/* ---- queues ---- */

static bool queue_equivalent(struct vhost *v, struct queue *q, const struct queue_declare *req,
                             struct outcome *out)
{
    if (owned_by_other(q, req->who) || q->exclusive != req->exclusive)
        return fail_locked(v, q->name, out);
    struct arguments_owner o = {"queue", q->name, v->name};
    return arguments_flag_equivalent("durable", req->durable && !req->exclusive, q->durable, &o, out) &&
           arguments_flag_equivalent("auto_delete", req->auto_delete, q->auto_delete, &o, out) &&
           queue_args_equivalent(q->args.type, req->arguments, q->arguments, &o, out);
}

/* RabbitMQ names quorum and stream queues only from the client. */
static bool server_named_allowed(struct amqp_bytes arguments, struct outcome *out)
{
    struct amqp_field f;
    if (!amqp_table_get(arguments, "x-queue-type", &f) || f.type != 'S')
        return true;
    enum queue_type type = amqp_bytes_eq_cstr(f.v.bytes, "quorum")   ? QUEUE_TYPE_QUORUM
                           : amqp_bytes_eq_cstr(f.v.bytes, "stream") ? QUEUE_TYPE_STREAM
                                                                     : QUEUE_TYPE_CLASSIC;
    if (type == QUEUE_TYPE_CLASSIC)
        return true;
    return outcome_fail(out, AMQP_PRECONDITION_FAILED,
                        "Cannot declare a server-named queue for type %s", queue_type_module(type));
}

static struct queue *declare_passive(struct vhost *v, const struct queue_declare *req,
                                     struct outcome *out)
{
    /* queue.declare takes the name as given: no "last declared queue" shortcut. */
    struct queue *q = vhost_find_queue(v, req->name);
    if (!q) {
        fail_no_queue(v, req->name, out);
        return NULL;
    }
    if (owned_by_other(q, req->who)) {
        fail_locked(v, req->name, out);
        return NULL;
    }
    if (q->consumer_count == 0)
        queue_used(v, q); /* RabbitMQ's declare reads the queue's stats, which renews it */
    outcome_done(out);
    return q;
}

/* What a RabbitMQ profile denies by default (deprecated features), in rabbit_amqqueue:
 * declare's order: the transient non-exclusive combination, then the classic queue's
 * x-queue-master-locator; each a 541 connection close with RabbitMQ's warning. */
static bool deprecated_features_permit(struct vhost *v, const struct queue_declare *req,
                                       struct outcome *out)
{
    const struct compat *compat = v->compat ? v->compat : compat_default();
    const char *denied = NULL;
    struct amqp_field ignored;
    if (compat->transient_nonexcl_denied && !req->durable && !req->exclusive)
        denied = "transient_nonexcl_queues";
    else if (compat->queue_master_locator_denied &&
             amqp_table_get(req->arguments, "x-queue-master-locator", &ignored))
        denied = "queue_master_locator";
    if (!denied)
        return true;
    char warning[sizeof out->text];
    compat_denied_warning(denied, warning, sizeof warning);
    return outcome_fail_connection(out, AMQP_INTERNAL_ERROR, "%s", warning);
}

struct queue *vhost_declare_queue(struct vhost *v, const struct queue_declare *req,
                                  struct outcome *out)
{
    if (req->passive)
        return declare_passive(v, req, out);
    struct amqp_bytes name = req->name;
    char generated[32];
    if (name.len == 0) {
        if (!server_named_allowed(req->arguments, out))
            return NULL;
        vhost_generate_queue_name(v, generated);
        name = amqp_cstr(generated);
    } else if (reserved_name(name)) {
        outcome_fail(out, AMQP_ACCESS_REFUSED, "queue name '" NAME_FMT "' contains reserved prefix "
                     "'amq.*'", NAME_ARG(name));
        return NULL;
    }
    if (!session_may(req->who, PERMISSION_CONFIGURE, RESOURCE_QUEUE, name, out))
        return NULL;
    struct queue *q = vhost_find_queue(v, name);
    if (q && !queue_equivalent(v, q, req, out))
        return NULL;
    if (q) {
        if (q->consumer_count == 0)
            queue_used(v, q);
        if (v->churn)
            v->churn->queues_declared++;
        return q;
    }
    if (session_limit_reached(v->max_queues, (uint32_t)map_count(&v->queues))) {
        outcome_fail(out, AMQP_PRECONDITION_FAILED, "cannot declare queue '" NAME_FMT "': queue "
                     "limit in vhost '%s' (%lld) is reached", NAME_ARG(name), v->name,
                     (long long)v->max_queues);
        return NULL;
    }
    struct amqp_bytes dlx;
    if (exchange_argument(req->arguments, "x-dead-letter-exchange", &dlx) &&
        !(session_may(req->who, PERMISSION_READ, RESOURCE_QUEUE, name, out) &&
          session_may(req->who, PERMISSION_WRITE, RESOURCE_EXCHANGE, dlx, out)))
        return NULL;
    struct queue_args args;
    if (!queue_args_parse(req->arguments, req->durable, req->exclusive, req->auto_delete,
                          &(struct arguments_owner){"queue", name, v->name}, v->compat, &args,
                          out))
        return NULL;
    if (args.type == QUEUE_TYPE_STREAM) { /* what RabbitMQ says with streams switched off */
        outcome_fail_connection(out, AMQP_INTERNAL_ERROR, "Cannot declare a queue 'queue '" NAME_FMT
                                "' in vhost '%s'' of type 'rabbit_stream_queue' on node '%s': the "
                                "corresponding feature flag is disabled",
                                NAME_ARG(name), v->name, v->node ? v->node : "warren@localhost");
        return NULL;
    }
    if (!deprecated_features_permit(v, req, out))
        return NULL;
    /* RabbitMQ never keeps an exclusive queue: it is durable only if not exclusive. */
    q = queue_new(name, req->durable && !req->exclusive, req->exclusive, req->auto_delete,
                  req->exclusive ? req->who : NULL, req->arguments, v->compat);
    queue_set_host(q, &v->queue_host);
    map_put(&v->queues, q->name.ptr, q->name.len, q);
    v->queues_version++;
    apply_queue_policies(v, q);
    queue_used(v, q);
    if (v->churn) {
        v->churn->queues_declared++;
        v->churn->queues_created++;
    }
    if (q->durable)
        RECORD(v, queue_declared, q);
    outcome_done(out);
    return q;
}

struct queue *vhost_queue_for(struct vhost *v, struct amqp_bytes name, const struct session *owner,
                              struct outcome *out)
{
    struct queue *q = vhost_find_queue(v, name);
    if (!q)
        fail_no_queue(v, name, out);
    else if (owned_by_other(q, owner))
        fail_locked(v, name, out);
    else
        return outcome_done(out) ? q : NULL;
    return NULL;
}

struct queue *vhost_queue_to_delete(struct vhost *v, struct amqp_bytes name, struct session *who,
                                    bool if_unused, bool if_empty, struct outcome *out)
{
    const struct session *owner = who;
    if (!session_may(who, PERMISSION_CONFIGURE, RESOURCE_QUEUE, name, out))
        return NULL;
    struct queue *q = vhost_find_queue(v, name);
    /* RabbitMQ answers delete-ok for a queue that does not exist. */
    if (!q) {
        outcome_done(out);
        return NULL;
    }
    if (owned_by_other(q, owner))
        fail_locked(v, name, out);
    else if ((if_unused || if_empty) && q->args.type == QUEUE_TYPE_QUORUM)
        outcome_fail(out, AMQP_NOT_IMPLEMENTED,
                     "cannot delete queue '" NAME_FMT "' in vhost '%s'. queue.delete operations "
                     "with %s flag set are not supported by quorum queues",
                     NAME_ARG(name), v->name, if_unused ? "if-unused" : "if-empty");
    else if (if_unused && q->consumer_count)
        outcome_fail(out, AMQP_PRECONDITION_FAILED, "queue '" NAME_FMT "' in vhost '%s' in use",
                     NAME_ARG(name), v->name);
    else if (if_empty && queue_message_count(q))
        outcome_fail(out, AMQP_PRECONDITION_FAILED, "queue '" NAME_FMT "' in vhost '%s' not empty",
                     NAME_ARG(name), v->name);
    else
        return outcome_done(out) ? q : NULL;
    return NULL;
}

/* Removes a binding, and with it an auto-delete source it leaves unused (unless that source
 * is already on its way out, which the namespace no longer holding it says). */
static void remove_binding(struct vhost *v, struct binding *b)
{
    struct exchange *x = b->exchange;
    exchange_remove_binding(b);
    if (exchange_unused(x) && vhost_find_exchange(v, x->name) == x)
        remove_exchange(v, x);
}

void vhost_delete_queue(struct vhost *v, struct queue *q)
{
    if (q->deleted)
        return;
    if (q->durable)
        RECORD(v, queue_deleted, q);
    map_remove(&v->queues, q->name.ptr, q->name.len);
    v->queues_version++;
    if (v->churn) {
        v->churn->queues_deleted++;
        message_stats_add(&v->churn->retired_queue_stats[q->args.type], &q->stats);
    }
    if (v->deadlines)
        deadline_heap_remove(v->deadlines, &q->expiry);
    while (!list_empty(&q->bindings))
        remove_binding(v, list_entry(q->bindings.next, struct binding, destination_link));
    queue_retire(q);
    queue_unref(q);
}

void vhost_delete_owned_queues(struct vhost *v, const struct session *owner)
{
    size_t count = 0;
    struct queue **owned = xmalloc((map_count(&v->queues) + 1) * sizeof *owned);
    struct map_iter it;
    void *value;
    map_iter_init(&it, &v->queues);
    while (map_iter_next(&it, NULL, NULL, &value)) {
        struct queue *q = value;
        if (q->exclusive && q->owner == owner)
            owned[count++] = q;
    }
    /* collected first: deleting one may run callbacks, and the map must not change mid-walk */
    for (size_t i = 0; i < count; i++)
        vhost_delete_queue(v, owned[i]);
    free(owned);
}

bool vhost_purge_queue(struct vhost *v, struct amqp_bytes name, struct session *who,
                       uint32_t *purged, struct outcome *out)
{
    if (!session_may(who, PERMISSION_READ, RESOURCE_QUEUE, name, out))
        return false;
    struct queue *q = vhost_queue_for(v, name, who, out);
    if (!q)
        return false;
    *purged = queue_purge(q);
    return true;
}

/* ---- bindings ---- */

/* The exchange a binding names, which may not be the default one. */
static struct exchange *binding_exchange(struct vhost *v, struct amqp_bytes name,
                                         struct outcome *out)
{
    if (name.len == 0) {
        fail_default_exchange(out);
        return NULL;
    }
    struct exchange *x = vhost_find_exchange(v, name);
    if (!x)
        fail_no_exchange(v, name, out);
    return x;
}

/* RabbitMQ's binding checks, before it looks for either end: write on the destination, the
 * default exchange at neither end, read on the source, and a topic source's read pattern on
 * the binding key. */
static bool binding_permitted(struct vhost *v, struct session *who, enum resource_kind kind,
                              struct amqp_bytes destination, struct amqp_bytes source,
                              struct amqp_bytes routing_key, struct outcome *out)
{
    if (!session_may(who, PERMISSION_WRITE, kind, destination, out))
        return false;
    if ((kind == RESOURCE_EXCHANGE && destination.len == 0) || source.len == 0)
        return fail_default_exchange(out);
    if (!session_may(who, PERMISSION_READ, RESOURCE_EXCHANGE, source, out))
        return false;
    struct exchange *x = vhost_find_exchange(v, source);
    return !x || x->type != EXCHANGE_TOPIC ||
           session_may_topic(who, PERMISSION_READ, source, routing_key, out);
}

bool vhost_bind_queue(struct vhost *v, const struct queue_binding *b, struct outcome *out)
{
    if (!binding_permitted(v, b->who, RESOURCE_QUEUE, b->queue, b->exchange, b->routing_key, out))
        return false;
    struct exchange *x = binding_exchange(v, b->exchange, out);
    struct queue *q = x ? vhost_queue_for(v, b->queue, b->who, out) : NULL;
    if (!q || !exchange_binding_args_valid(x, b->arguments, out))
        return false;
    exchange_bind(x, q, b->routing_key, b->arguments);
    if (x->durable && q->durable)
        record_binding(v, true, x->name, q->name, false, b->routing_key, b->arguments);
    return true;
}

bool vhost_unbind_queue(struct vhost *v, const struct queue_binding *b, struct outcome *out)
{
    if (!binding_permitted(v, b->who, RESOURCE_QUEUE, b->queue, b->exchange, b->routing_key, out))
        return false;
    struct exchange *x = vhost_find_exchange(v, b->exchange);
    struct queue *q = vhost_find_queue(v, b->queue);
    if (!x || !q)
        return outcome_done(out);
    /* the request's key and arguments may be the binding's own, which unbinding frees */
    struct amqp_bytes key = amqp_bytes_dup(b->routing_key), args = amqp_bytes_dup(b->arguments);
    if (exchange_unbind(x, q, key, args)) {
        if (x->durable && q->durable)
            record_binding(v, false, x->name, q->name, false, key, args);
        if (exchange_unused(x))
            remove_exchange(v, x);
    }
    amqp_bytes_free(key);
    amqp_bytes_free(args);
    return outcome_done(out);
}

bool vhost_bind_exchange(struct vhost *v, const struct exchange_binding *b, struct outcome *out)
{
    /* RabbitMQ refuses the default exchange at either end before it looks for either */
    if (!binding_permitted(v, b->who, RESOURCE_EXCHANGE, b->destination, b->source,
                           b->routing_key, out))
        return false;
    struct exchange *source = binding_exchange(v, b->source, out);
    struct exchange *destination = source ? binding_exchange(v, b->destination, out) : NULL;
    if (!destination || !exchange_binding_args_valid(source, b->arguments, out))
        return false;
    exchange_bind_exchange(source, destination, b->routing_key, b->arguments);
    if (source->durable && destination->durable)
        record_binding(v, true, source->name, destination->name, true, b->routing_key,
                       b->arguments);
    return true;
}

bool vhost_unbind_exchange(struct vhost *v, const struct exchange_binding *b, struct outcome *out)
{
    if (!binding_permitted(v, b->who, RESOURCE_EXCHANGE, b->destination, b->source,
                           b->routing_key, out))
        return false;
    struct exchange *source = vhost_find_exchange(v, b->source);
    struct exchange *destination = vhost_find_exchange(v, b->destination);
    if (!source || !destination)
        return outcome_done(out);
    struct amqp_bytes key = amqp_bytes_dup(b->routing_key), args = amqp_bytes_dup(b->arguments);
    if (exchange_unbind_exchange(source, destination, key, args)) {
        if (source->durable && destination->durable)
            record_binding(v, false, source->name, destination->name, true, key, args);
        if (exchange_unused(source))
            remove_exchange(v, source);
    }
    amqp_bytes_free(key);
    amqp_bytes_free(args);
    return outcome_done(out);
}

/* ---- consumers ---- */

/* RabbitMQ's consume arguments: x-priority an integer, x-cancel-on-ha-failover a bool. */
static bool consume_arguments(struct vhost *v, const struct queue *q, struct amqp_bytes arguments,
                              int64_t *priority, struct outcome *out)
{
    struct amqp_field f;
    *priority = 0;
    if (amqp_table_get(arguments, "x-priority", &f) && !amqp_field_integer(&f, priority))
        return outcome_fail(out, AMQP_PRECONDITION_FAILED, "invalid arg 'x-priority' for queue '"
                            NAME_FMT "' in vhost '%s': \"expected integer, got %s\"",
                            NAME_ARG(q->name), v->name, amqp_field_type_name(f.type));
    if (amqp_table_get(arguments, "x-cancel-on-ha-failover", &f) && f.type != 't')
        return outcome_fail(out, AMQP_PRECONDITION_FAILED, "invalid arg 'x-cancel-on-ha-failover' "
                            "for queue '" NAME_FMT "' in vhost '%s': {unacceptable_type,%s}",
                            NAME_ARG(q->name), v->name, amqp_field_type_name(f.type));
    return true;
}

struct queue *vhost_consume_target(struct vhost *v, struct amqp_bytes name, struct session *who,
                                   bool exclusive, struct amqp_bytes arguments, int64_t *priority,
                                   struct outcome *out)
{
    if (!session_may(who, PERMISSION_READ, RESOURCE_QUEUE, name, out))
        return NULL;
    struct queue *q = vhost_queue_for(v, name, who, out);
    if (q && !consume_arguments(v, q, arguments, priority, out))
        return NULL;
    if (q && (queue_has_exclusive_consumer(q) || (exclusive && q->consumer_count))) {
        outcome_fail(out, AMQP_ACCESS_REFUSED, "queue '" NAME_FMT "' in vhost '%s' in exclusive use",
                     NAME_ARG(q->name), v->name);
        return NULL;
    }
    return q;
}

void vhost_cancel_consumer(struct vhost *v, struct consumer *c)
{
    struct queue *q = c->queue;
    if (queue_remove_consumer(q, c))
        vhost_delete_queue(v, q);
    else if (q->consumer_count == 0 && !q->deleted)
        queue_used(v, q);
    else if (q->args.single_active_consumer && !q->deleted)
        queue_dispatch(q); /* the next consumer is the active one now */
}

struct queue *vhost_get(struct vhost *v, struct amqp_bytes name, struct session *who,
                        struct queue_entry *entry, bool *got, struct outcome *out)
{
    if (!session_may(who, PERMISSION_READ, RESOURCE_QUEUE, name, out))
        return NULL;
    struct queue *q = vhost_queue_for(v, name, who, out);
    if (!q)
        return NULL;
    *got = queue_get(q, entry);
    if (q->consumer_count == 0)
        queue_used(v, q);
    return q;
}

struct queue *vhost_peek(struct vhost *v, struct amqp_bytes name, struct session *who,
                         struct outcome *out)
{
    if (!session_may(who, PERMISSION_READ, RESOURCE_QUEUE, name, out))
        return NULL;
    return vhost_queue_for(v, name, who, out);
}

/* ---- publishing ---- */

static bool fail_publish_exchange(struct vhost *v, const struct exchange *x, struct amqp_bytes name,
                                  struct outcome *out)
{
    if (!x)
        return fail_no_exchange(v, name, out);
    return outcome_fail(out, AMQP_ACCESS_REFUSED, "cannot publish to internal exchange '" NAME_FMT
                        "' in vhost '%s'", NAME_ARG(name), v->name);
}

/* The user_id and expiration properties' checks, in RabbitMQ's order; a valid expiration
 * goes to *ttl_ms. */
static bool check_properties(const struct message *m, const struct session *who, uint64_t *ttl_ms,
                             struct outcome *out)
{
    struct amqp_basic_properties props;
    message_properties(m, &props);
    if ((props.flags & AMQP_BASIC_USER_ID_FLAG) && who &&
        !amqp_bytes_eq_cstr(props.user_id, who->user_name) &&
        !(who->user && user_has_tag(who->user, USER_TAG_IMPERSONATOR)))
        return outcome_fail(out, AMQP_PRECONDITION_FAILED, "user_id property set to '" NAME_FMT
                            "' but authenticated user was '%s'", NAME_ARG(props.user_id),
                            who->user_name);
    char why[700];
    if ((props.flags & AMQP_BASIC_EXPIRATION_FLAG) &&
        !message_parse_expiration(props.expiration, ttl_ms, why, sizeof why))
        return outcome_fail(out, AMQP_PRECONDITION_FAILED, "invalid expiration '" NAME_FMT "': %s",
                            NAME_ARG(props.expiration), why);
    return true;
}

/* The exchange of that name; hints (NULL: none) stand for this name's lookup. */
static inline struct exchange *find_exchange_hinted(struct vhost *v, struct amqp_bytes name,
                                                    struct publish_hints *hints)
{
    if (!hints)
        return vhost_find_exchange(v, name);
    if (hints->exchanges_version == v->exchanges_version)
        return hints->exchange;
    struct exchange *x = vhost_find_exchange(v, name);
    if (x) {
        hints->exchange = x;
        hints->exchanges_version = v->exchanges_version;
    }
    return x;
}

/* The exchange a publish goes to, after RabbitMQ's checks; NULL after a failure. Always
 * inline: a call would save and restore as much as the checks cost. */
__attribute__((always_inline)) static inline struct exchange *
publish_target(struct vhost *v, const struct message *m, struct session *who,
               struct publish_hints *hints, uint64_t *ttl_ms, struct outcome *out)
{
    struct amqp_bytes name = message_exchange(m);
    if (!session_may(who, PERMISSION_WRITE, RESOURCE_EXCHANGE, name, out))
        return NULL;
    struct exchange *x = name.len == 0 ? v->default_exchange : find_exchange_hinted(v, name, hints);
    if (!x || x->internal) {
        fail_publish_exchange(v, x, name, out);
        return NULL;
    }
    if (x->type == EXCHANGE_TOPIC &&
        !session_may_topic(who, PERMISSION_WRITE, name, message_routing_key(m), out))
        return NULL;
    *ttl_ms = UINT64_MAX;
    /* Rare: only a message that carries one of them is decoded. */
    if ((message_property_flags(m) & (AMQP_BASIC_USER_ID_FLAG | AMQP_BASIC_EXPIRATION_FLAG)) &&
        !check_properties(m, who, ttl_ms, out))
        return NULL;
    out->code = 0;
    return x;
}

/* The routing keys of a message: its own, then those of its CC and BCC headers (RabbitMQ's
 * sender-selected distribution), which only a message with headers can have. */
struct routing_keys {
    struct amqp_bytes inline_keys[8];
    struct amqp_bytes *keys;
    size_t len, cap;
    bool has_bcc;
};

static void keys_push(struct routing_keys *k, struct amqp_bytes key)
{
    if (k->len == k->cap) {
        size_t cap = k->cap * 2;
        struct amqp_bytes *keys = xmalloc(cap * sizeof *keys);
        memcpy(keys, k->keys, k->len * sizeof *keys);
        if (k->keys != k->inline_keys)
            free(k->keys);
        k->keys = keys;
        k->cap = cap;
    }
    k->keys[k->len++] = key;
}

/* Adds the longstr entries of an array body. */
static void array_keys(struct amqp_bytes array, struct routing_keys *k)
{
    struct amqp_table_iter it;
    struct amqp_field item;
    amqp_table_iter_init(&it, array);
    while (amqp_array_next(&it, &item))
        if (item.type == 'S')
            keys_push(k, item.v.bytes);
}

/* Adds the longstr entries of header `name` (an array); false with RabbitMQ's 406 when the
 * header is there but no array. */
static bool header_keys(struct amqp_bytes headers, const char *name, struct routing_keys *k,
                        struct outcome *out)
{
    struct amqp_field f;
    if (!amqp_table_get(headers, name, &f))
        return true;
    if (f.type != 'A')
        return outcome_fail(out, AMQP_PRECONDITION_FAILED,
                            "invalid message: {unacceptable_type_in_header,\"%s\",%s}", name,
                            amqp_field_type_name(f.type));
    array_keys(f.v.array, k);
    return true;
}

static bool routing_keys_of(const struct message *m, struct routing_keys *k, struct outcome *out)
{
    /* field by field: zeroing the inline keys would cost every publish */
    k->keys = k->inline_keys;
    k->keys[0] = message_routing_key(m);
    k->len = 1;
    k->cap = sizeof k->inline_keys / sizeof *k->inline_keys;
    k->has_bcc = false;
    if (!(message_property_flags(m) & AMQP_BASIC_HEADERS_FLAG))
        return true;
    struct amqp_basic_properties props;
    message_properties(m, &props);
    size_t before_bcc;
    if (!header_keys(props.headers, "CC", k, out))
        return false;
    before_bcc = k->len;
    if (!header_keys(props.headers, "BCC", k, out))
        return false;
    struct amqp_field f;
    k->has_bcc = k->len > before_bcc || amqp_table_get(props.headers, "BCC", &f);
    if (m->flags & MESSAGE_BCC_KEPT) /* a dead letter's, from the BCC header of its original */
        array_keys(message_kept_bcc(m), k);
    return true;
}

static void routing_keys_free(struct routing_keys *k)
{
    if (k->keys != k->inline_keys)
        free(k->keys);
}

bool vhost_check_publish(struct vhost *v, const struct message *m, struct session *who,
                         struct outcome *out)
{
    uint64_t ttl_ms;
    if (!publish_target(v, m, who, NULL, &ttl_ms, out))
        return false;
    struct routing_keys keys;
    bool valid = routing_keys_of(m, &keys, out);
    routing_keys_free(&keys);
    return valid;
}

void publish_tally_init(struct publish_tally *t, void (*miss)(struct publish_tally *t, struct queue *q))
{
    *t = (struct publish_tally){.expected = &t->stand_in, .miss = miss};
    t->stand_in.after = &t->stand_in;
}

/* Once per queue routed to: always inline, into the visitor and the default exchange's path. */
__attribute__((always_inline)) static inline void enqueue_into(struct queue *q, struct message *m,
                                                               struct publish_result *result)
{
    if ((m->flags & MESSAGE_CHECK_CYCLES) && deadletter_is_cycle(m, q->name))
        return; /* RabbitMQ drops a dead letter that would go round without a rejection */
    enum queue_publish_result taken = queue_publish(q, m);
    if (taken != QUEUE_ENQUEUED) {
        if (taken == QUEUE_REJECTED)
            result->rejected++;
        return;
    }
    message_stats_count(&q->stats, STAT_PUBLISH);
    result->routed++;
    struct publish_tally *tally = result->tally;
    struct publish_tally_entry *e = tally->expected;
    if (e->queue == q) {
        e->count++;
        tally->expected = e->after;
    } else {
        tally->miss(tally, q);
    }
    if (!result->congested && queue_congested(q))
        result->congested = q;
}

/* The exchanges a message still has to pass through: reached by exchange-to-exchange bindings
 * or as alternate exchanges, each at most once per message. */
struct route_ctx {
    struct exchange_route_visitor visitor; /* with ctx pointing back here */
    struct message *msg;
    struct publish_result *result;
    uint64_t stamp;
    struct exchange *inline_pending[8];
    struct exchange **pending;
    size_t npending, cap;
};

static void enqueue(struct queue *q, void *arg)
{
    struct route_ctx *ctx = arg;
    enqueue_into(q, ctx->msg, ctx->result);
}

static void pend(struct exchange *x, void *arg)
{
    struct route_ctx *ctx = arg;
    if (ctx->npending == ctx->cap) {
        size_t cap = ctx->cap * 2;
        struct exchange **pending = xmalloc(cap * sizeof *pending);
        memcpy(pending, ctx->pending, ctx->npending * sizeof *pending);
        if (ctx->pending != ctx->inline_pending)
            free(ctx->pending);
        ctx->pending = pending;
        ctx->cap = cap;
    }
    ctx->pending[ctx->npending++] = x;
}

static inline void route_through(struct vhost *v, struct exchange *x, struct message *m,
                                 const struct amqp_bytes *keys, size_t nkeys, bool released,
                                 struct publish_result *result);

/* A held message is due: it routes as its exchange's x-delayed-type does, and is not held
 * again on the way (the plugin negates its x-delay for this routing). */
static void route_released(struct exchange *x, struct message *m, const struct amqp_bytes *keys,
                           size_t nkeys, void *owner)
{
    struct vhost *v = owner;
    /* its publisher had its confirm at publish time */
    struct publish_result ignored = {.tally = &v->untallied};
    route_through(v, x, m, keys, nkeys, true, &ignored);
    /* after routing, so that durable queues it reached keep its record */
    if (m->stored && x->delayed->store_id && v->queue_host.store)
        v->queue_host.store->ops->released(v->queue_host.store, x, m);
}

/* x holds m until clock now + delay_ms; a persistent message of a durable exchange is stored. */
static void hold(struct vhost *v, struct exchange *x, struct message *m, uint64_t delay_ms,
                 const struct amqp_bytes *keys, size_t nkeys)
{
    if (!x->delayed->deadlines)
        exchange_delayed_use_timer(x->delayed, v->deadlines, route_released, v);
    exchange_delayed_hold(x->delayed, clock_now_ms(v->clock) + delay_ms, m, keys, nkeys);
    struct message_store *store = v->queue_host.store;
    if ((m->flags & MESSAGE_PERSISTENT) && x->durable && store)
        store->ops->held(store, v->name, x, m, delay_ms, keys, nkeys);
}

bool vhost_restore_held(struct vhost *v, struct exchange *x, struct message *m, uint64_t delay_ms,
                        const struct amqp_bytes *keys, size_t nkeys)
{
    if (!x->delayed || !v->deadlines)
        return false;
    if (!x->delayed->deadlines)
        exchange_delayed_use_timer(x->delayed, v->deadlines, route_released, v);
    exchange_delayed_hold(x->delayed, clock_now_ms(v->clock) + delay_ms, m, keys, nkeys);
    return true;
}

/* The x-delayed-message exchange x holds m if its x-delay says so (never without timers);
 * returns whether it did. */
static bool hold_if_delayed(struct vhost *v, struct exchange *x, struct message *m,
                            const struct amqp_bytes *keys, size_t nkeys)
{
    uint64_t delay_ms;
    if (!v->deadlines || !exchange_delayed_delay_of(m, &delay_ms))
        return false;
    hold(v, x, m, delay_ms, keys, nkeys);
    return true;
}

/* Routes through x, then through every exchange that reaches: bound destinations, and the
 * alternate exchange of one whose bindings matched nothing (RabbitMQ's rule). A delayed
 * exchange holding the message matched nothing for now, so its alternate exchange gets the
 * message at once, as with the plugin; released: a held message now due. Always inline, so
 * that a publish (released false) pays only for the test of x->delayed. */
__attribute__((always_inline)) static inline void
route_through(struct vhost *v, struct exchange *x, struct message *m, const struct amqp_bytes *keys,
              size_t nkeys, bool released, struct publish_result *result)
{
    struct route_ctx ctx; /* field by field: zeroing the inline list would cost every publish */
    ctx.visitor = (struct exchange_route_visitor){enqueue, pend, &ctx};
    ctx.msg = m;
    ctx.result = result;
    ctx.stamp = ++v->route_stamp;
    ctx.pending = ctx.inline_pending;
    ctx.npending = 0;
    ctx.cap = sizeof ctx.inline_pending / sizeof *ctx.inline_pending;
    x->route_stamp = ctx.stamp;
    for (size_t next = 0;; x = ctx.pending[next++]) {
        bool held = x->delayed && !released && hold_if_delayed(v, x, m, keys, nkeys);
        bool matched = !held && exchange_route(x, m, keys, nkeys, ctx.stamp, &ctx.visitor);
        if (!matched && x->args.has_alternate_exchange) {
            struct exchange *ae = vhost_find_exchange(v, x->args.alternate_exchange);
            if (ae && ae->route_stamp != ctx.stamp) {
                ae->route_stamp = ctx.stamp;
                pend(ae, &ctx);
            }
        }
        if (next == ctx.npending)
            break;
    }
    if (ctx.pending != ctx.inline_pending)
        free(ctx.pending);
}

static void route_from(struct vhost *v, struct exchange *x, struct message *m,
                       const struct amqp_bytes *keys, size_t nkeys, struct publish_result *result)
{
    route_through(v, x, m, keys, nkeys, false, result);
}

/* The queue of that name; the hints' queue is checked by its name, so any tally's will do. */
static inline struct queue *find_queue_hinted(struct vhost *v, struct amqp_bytes name,
                                              struct publish_hints *hints)
{
    struct queue *q = hints->queue;
    if (hints->queues_version == v->queues_version && amqp_bytes_eq(q->name, name))
        return q;
    q = vhost_find_queue(v, name);
    if (q) {
        hints->queue = q;
        hints->queues_version = v->queues_version;
    }
    return q;
}

/* The default exchange's implicit binding of every queue by its name, for each key. */
static inline void route_by_name(struct vhost *v, struct message *m, const struct amqp_bytes *keys,
                                 size_t nkeys, struct publish_result *result)
{
    if (nkeys == 1) { /* no CC or BCC: one queue at most, nothing to route twice */
        struct queue *q = find_queue_hinted(v, keys[0], &result->tally->hints);
        if (q)
            enqueue_into(q, m, result);
        return;
    }
    uint64_t stamp = ++v->route_stamp;
    for (size_t i = 0; i < nkeys; i++) {
        struct queue *q = find_queue_hinted(v, keys[i], &result->tally->hints);
        if (q && q->route_stamp != stamp) {
            q->route_stamp = stamp;
            enqueue_into(q, m, result);
        }
    }
}

static void drain_dead_letters(struct vhost *v);

/* Dead letters that queues give up while a message is routed wait until it is done: routing
 * one in between would overwrite the routing stamps. */
static inline __attribute__((always_inline)) void route(struct vhost *v, struct exchange *x,
                                                        struct message *m,
                                                        const struct amqp_bytes *keys,
                                                        size_t nkeys,
                                                        struct publish_result *result)
{
    v->routing++;
    if (x == v->default_exchange)
        route_by_name(v, m, keys, nkeys, result);
    else
        route_from(v, x, m, keys, nkeys, result);
    v->routing--;
    if (v->dead_letters && !v->routing)
        drain_dead_letters(v);
}

bool vhost_publish(struct vhost *v, struct message **mp, struct session *who,
                   struct publish_result *result, struct outcome *out)
{
    return vhost_publish_tallied(v, mp, who, NULL, result, out);
}

bool vhost_publish_tallied(struct vhost *v, struct message **mp, struct session *who,
                           struct publish_tally *tally, struct publish_result *result,
                           struct outcome *out)
{
    struct message *m = *mp;
    uint64_t ttl_ms;
    struct exchange *x = publish_target(v, m, who, tally ? &tally->hints : NULL, &ttl_ms, out);
    result->routed = result->rejected = 0;
    result->congested = NULL;
    result->tally = tally ? tally : &v->untallied;
    if (!x)
        return false;
    if (ttl_ms != UINT64_MAX)
        message_set_ttl(m, ttl_ms);
    /* most messages carry no headers, so no CC or BCC: one key */
    if (!(message_property_flags(m) & AMQP_BASIC_HEADERS_FLAG)) {
        struct amqp_bytes key = message_routing_key(m);
        route(v, x, m, &key, 1, result);
        return true;
    }
    struct routing_keys keys;
    if (!routing_keys_of(m, &keys, out)) {
        routing_keys_free(&keys);
        return false;
    }
    /* BCC keys route the message but never reach a consumer; the keys point into the
     * original, which stays until routing is done */
    struct message *routed = keys.has_bcc ? message_without_bcc(m) : m;
    route(v, x, routed, keys.keys, keys.len, result);
    routing_keys_free(&keys);
    if (routed != m) {
        *mp = routed;
        message_unref(m);
    }
    return true;
}

/* ---- dead letters: republished from the queue's dead-letter exchange, one after another ---- */

struct dead_letter_job {
    struct dead_letter_job *next;
    struct queue *queue; /* a reference */
    struct message *msg; /* a reference */
    enum dead_letter_reason reason;
};

static void republish(struct vhost *v, struct dead_letter_job *job)
{
    struct queue *q = job->queue;
    struct amqp_bytes dlx = q->args.dead_letter_exchange;
    struct exchange *x = dlx.len == 0 ? v->default_exchange : vhost_find_exchange(v, dlx);
    if (!x) /* RabbitMQ drops it when the exchange is missing */
        return;
    struct message *dead = deadletter_message(
        job->msg, q->name, job->reason, dlx,
        q->args.has_dead_letter_routing_key ? &q->args.dead_letter_routing_key : NULL,
        (uint64_t)time(NULL));
    struct routing_keys keys;
    struct outcome ignored;
    struct publish_result result = {.tally = &v->untallied};
    if (routing_keys_of(dead, &keys, &ignored))
        route(v, x, dead, keys.keys, keys.len, &result);
    routing_keys_free(&keys);
    message_unref(dead);
}

/* Republishes the waiting dead letters in order, those their republishing adds included. */
static void drain_dead_letters(struct vhost *v)
{
    if (v->dead_lettering)
        return;
    v->dead_lettering = true;
    struct dead_letter_job *job;
    while ((job = v->dead_letters)) {
        v->dead_letters = job->next;
        if (!v->dead_letters)
            v->dead_letters_tail = &v->dead_letters;
        republish(v, job);
        message_unref(job->msg);
        queue_unref(job->queue);
        free(job);
    }
    v->dead_lettering = false;
}

void vhost_hold_dead_letters(struct vhost *v)
{
    v->routing++;
}

void vhost_release_dead_letters(struct vhost *v)
{
    if (--v->routing == 0 && v->dead_letters)
        drain_dead_letters(v);
}

/* A queue's dead letter joins the list, drained at once unless a routing or a drain is under
 * way (then it waits for that to finish), so that dead letters going round never recurse. */
static void dead_letter(struct queue_host *h, struct queue *q, struct message *m,
                        enum dead_letter_reason reason)
{
    struct vhost *v = container_of(h, struct vhost, queue_host);
    struct dead_letter_job *job = xmalloc(sizeof *job);
    queue_ref(q);
    *job = (struct dead_letter_job){NULL, q, m, reason};
    *v->dead_letters_tail = job;
    v->dead_letters_tail = &job->next;
    if (!v->routing)
        drain_dead_letters(v);
}
