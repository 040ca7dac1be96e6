/* The exchange.* and queue.* methods of a channel: declare, bind, purge, delete, RabbitMQ's way. */
#include <stdio.h>

#include "amqp_erlang.h"
#include "amqp_table.h"
#include "model/exchange.h"
#include "model/vhost.h"
#include "proto/channel_internal.h"

/* The arguments RabbitMQ compares on redeclare; others may differ freely. */
static const char *const exchange_checked_args[] = {"alternate-exchange", NULL};
static const char *const queue_checked_args[] = {
    "x-expires", "x-message-ttl", "x-dead-letter-exchange", "x-dead-letter-routing-key",
    "x-max-length", "x-max-length-bytes", "x-max-in-memory-length", "x-max-in-memory-bytes",
    "x-max-priority", "x-overflow", "x-queue-mode", "x-single-active-consumer", "x-queue-type",
    NULL};

static bool reserved_name(struct amqp_bytes name)
{
    return name.len >= 4 && memcmp(name.ptr, "amq.", 4) == 0;
}

static const char *yes_no(bool b)
{
    return b ? "true" : "false";
}

static bool is_integer(const struct amqp_field *f, int64_t *v)
{
    switch (f->type) {
    case 'b': *v = f->v.i8; return true;
    case 'B': *v = f->v.u8; return true;
    case 's': *v = f->v.i16; return true;
    case 'u': *v = f->v.u16; return true;
    case 'I': *v = f->v.i32; return true;
    case 'i': *v = f->v.u32; return true;
    case 'l': *v = f->v.i64; return true;
    default: return false;
    }
}

/* RabbitMQ compares integer arguments by value whatever their width. */
static bool fields_equivalent(const struct amqp_field *a, const struct amqp_field *b)
{
    int64_t x, y;
    if (is_integer(a, &x) && is_integer(b, &y))
        return x == y;
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case 't': return a->v.boolean == b->v.boolean;
    case 'S': case 'x': return amqp_bytes_eq(a->v.bytes, b->v.bytes);
    case 'F': return amqp_bytes_eq(a->v.table, b->v.table);
    case 'A': return amqp_bytes_eq(a->v.array, b->v.array);
    case 'd': return a->v.f64 == b->v.f64;
    case 'f': return a->v.f32 == b->v.f32;
    case 'T': return a->v.u64 == b->v.u64;
    case 'D': return a->v.decimal.scale == b->v.decimal.scale && a->v.decimal.value == b->v.decimal.value;
    default: return true;
    }
}

static void describe_field(char *out, size_t size, const struct amqp_field *f, bool present)
{
    int64_t v;
    if (!present)
        snprintf(out, size, "none");
    else if (is_integer(f, &v))
        snprintf(out, size, "the value '%lld' of type '%s'", (long long)v, amqp_field_type_name(f->type));
    else if (f->type == 'S')
        snprintf(out, size, "the value '%.*s' of type 'longstr'", (int)f->v.bytes.len, f->v.bytes.ptr);
    else if (f->type == 't')
        snprintf(out, size, "the value '%s' of type 'bool'", yes_no(f->v.boolean));
    else
        snprintf(out, size, "a value of type '%s'", amqp_field_type_name(f->type));
}

/* Returns false after failing the channel when a checked argument differs. */
static bool args_equivalent(struct channel *ch, uint32_t method_id, const char *kind,
                            struct amqp_bytes name, struct amqp_bytes received,
                            struct amqp_bytes current, const char *const *keys)
{
    for (; *keys; keys++) {
        struct amqp_field r = {0}, c = {0};
        bool has_r = amqp_table_get(received, *keys, &r), has_c = amqp_table_get(current, *keys, &c);
        if (has_r == has_c && (!has_r || fields_equivalent(&r, &c)))
            continue;
        char rd[300], cd[300];
        describe_field(rd, sizeof rd, &r, has_r);
        describe_field(cd, sizeof cd, &c, has_c);
        channel_fail(ch, AMQP_PRECONDITION_FAILED, method_id,
                     "inequivalent arg '%s' for %s '" NAME_FMT "' in vhost '%s': received %s but "
                     "current is %s",
                     *keys, kind, NAME_ARG(name), ch->conn->vhost, rd, cd);
        return false;
    }
    return true;
}

static bool flag_equivalent(struct channel *ch, uint32_t method_id, const char *kind,
                            struct amqp_bytes name, const char *arg, bool received, bool current)
{
    if (received == current)
        return true;
    channel_fail(ch, AMQP_PRECONDITION_FAILED, method_id,
                 "inequivalent arg '%s' for %s '" NAME_FMT "' in vhost '%s': received '%s' but "
                 "current is '%s'",
                 arg, kind, NAME_ARG(name), ch->conn->vhost, yes_no(received), yes_no(current));
    return false;
}

static void fail_no_exchange(struct channel *ch, uint32_t method_id, struct amqp_bytes name)
{
    channel_fail(ch, AMQP_NOT_FOUND, method_id, "no exchange '" NAME_FMT "' in vhost '%s'",
                 NAME_ARG(name), ch->conn->vhost);
}

static void fail_default_exchange(struct channel *ch, uint32_t method_id)
{
    channel_fail(ch, AMQP_ACCESS_REFUSED, method_id, "operation not permitted on the default exchange");
}

/* ---- exchange.* ---- */

static bool exchange_equivalent(struct channel *ch, struct exchange *x,
                                const struct amqp_exchange_declare *m, enum exchange_type type)
{
    if (type != x->type) {
        channel_fail(ch, AMQP_PRECONDITION_FAILED, AMQP_EXCHANGE_DECLARE,
                     "inequivalent arg 'type' for exchange '" NAME_FMT "' in vhost '%s': received "
                     "'%s' but current is '%s'",
                     NAME_ARG(m->exchange), ch->conn->vhost, exchange_type_name(type),
                     exchange_type_name(x->type));
        return false;
    }
    return flag_equivalent(ch, AMQP_EXCHANGE_DECLARE, "exchange", m->exchange, "durable", m->durable,
                           x->durable) &&
           flag_equivalent(ch, AMQP_EXCHANGE_DECLARE, "exchange", m->exchange, "auto_delete",
                           m->auto_delete, x->auto_delete) &&
           flag_equivalent(ch, AMQP_EXCHANGE_DECLARE, "exchange", m->exchange, "internal",
                           m->internal, x->internal) &&
           args_equivalent(ch, AMQP_EXCHANGE_DECLARE, "exchange", m->exchange, m->arguments,
                           x->arguments, exchange_checked_args);
}

static void exchange_declare(struct channel *ch, const struct amqp_exchange_declare *m)
{
    struct vhost *v = channel_vhost(ch);
    enum exchange_type type = EXCHANGE_DIRECT;
    /* RabbitMQ says "invalid" for a name that happens to be an Erlang atom; "unknown" is
     * what it says for the rest, and the only text we give. */
    if (!m->passive && !exchange_type_parse(m->type, &type)) {
        connection_fail(ch->conn, AMQP_COMMAND_INVALID, AMQP_EXCHANGE_DECLARE,
                        "unknown exchange type '" NAME_FMT "'", NAME_ARG(m->type));
        return;
    }
    if (m->exchange.len == 0) {
        fail_default_exchange(ch, AMQP_EXCHANGE_DECLARE);
        return;
    }
    struct exchange *x = vhost_find_exchange(v, m->exchange);
    if (m->passive) {
        if (!x) {
            fail_no_exchange(ch, AMQP_EXCHANGE_DECLARE, m->exchange);
            return;
        }
    } else {
        /* The standard amq.* exchanges may be redeclared as they are; no new one may be. */
        if (!x && reserved_name(m->exchange)) {
            channel_fail(ch, AMQP_ACCESS_REFUSED, AMQP_EXCHANGE_DECLARE,
                         "exchange name '" NAME_FMT "' contains reserved prefix 'amq.*'",
                         NAME_ARG(m->exchange));
            return;
        }
        if (x && !exchange_equivalent(ch, x, m, type))
            return;
        if (!x)
            vhost_add_exchange(v, exchange_new(v, m->exchange, type, m->durable, m->auto_delete,
                                               m->internal, m->arguments));
    }
    if (!m->no_wait) {
        struct amqp_method ok = {.id = AMQP_EXCHANGE_DECLARE_OK};
        channel_send(ch, &ok);
    }
}

static void exchange_delete(struct channel *ch, const struct amqp_exchange_delete *m)
{
    struct vhost *v = channel_vhost(ch);
    if (m->exchange.len == 0) {
        fail_default_exchange(ch, AMQP_EXCHANGE_DELETE);
        return;
    }
    if (reserved_name(m->exchange)) {
        channel_fail(ch, AMQP_ACCESS_REFUSED, AMQP_EXCHANGE_DELETE,
                     "deletion of system exchange '" NAME_FMT "' in vhost '%s' not allowed",
                     NAME_ARG(m->exchange), ch->conn->vhost);
        return;
    }
    struct exchange *x = vhost_find_exchange(v, m->exchange);
    /* RabbitMQ answers delete-ok for an exchange that does not exist. */
    if (x && m->if_unused && x->binding_count) {
        channel_fail(ch, AMQP_PRECONDITION_FAILED, AMQP_EXCHANGE_DELETE,
                     "exchange '" NAME_FMT "' in vhost '%s' in use", NAME_ARG(m->exchange),
                     ch->conn->vhost);
        return;
    }
    if (x)
        vhost_delete_exchange(v, x);
    if (!m->no_wait) {
        struct amqp_method ok = {.id = AMQP_EXCHANGE_DELETE_OK};
        channel_send(ch, &ok);
    }
}

void channel_exchange_method(struct channel *ch, const struct amqp_method *m)
{
    switch (m->id) {
    case AMQP_EXCHANGE_DECLARE: exchange_declare(ch, &m->exchange_declare); break;
    case AMQP_EXCHANGE_DELETE: exchange_delete(ch, &m->exchange_delete); break;
    case AMQP_EXCHANGE_BIND:
    case AMQP_EXCHANGE_UNBIND:
        connection_fail(ch->conn, AMQP_NOT_IMPLEMENTED, m->id, "exchange-to-exchange bindings are not supported yet");
        break;
    default: connection_fail(ch->conn, AMQP_COMMAND_INVALID, m->id, "unimplemented method");
    }
}

/* ---- queue.* ---- */

static void fail_locked(struct channel *ch, uint32_t method_id, struct amqp_bytes name)
{
    channel_fail(ch, AMQP_RESOURCE_LOCKED, method_id,
                 "cannot obtain exclusive access to locked queue '" NAME_FMT "' in vhost '%s'. It "
                 "could be originally declared on another connection or the exclusive property "
                 "value does not match that of the original declaration.",
                 NAME_ARG(name), ch->conn->vhost);
}

static bool owned_by_other(struct channel *ch, const struct queue *q)
{
    return q->exclusive && q->owner != ch->conn;
}

/* RabbitMQ's shortcut: an empty queue name means the channel's last declared queue. */
static bool expand_queue_name(struct channel *ch, struct amqp_bytes *name, uint32_t method_id)
{
    if (name->len)
        return true;
    if (ch->last_queue.len == 0) {
        channel_fail(ch, AMQP_NOT_FOUND, method_id, "no previously declared queue");
        return false;
    }
    *name = shortname_bytes(&ch->last_queue);
    return true;
}

struct queue *channel_lookup_queue(struct channel *ch, struct amqp_bytes name, uint32_t method_id)
{
    if (!expand_queue_name(ch, &name, method_id))
        return NULL;
    struct queue *q = vhost_find_queue(channel_vhost(ch), name);
    if (!q) {
        channel_fail(ch, AMQP_NOT_FOUND, method_id, "no queue '" NAME_FMT "' in vhost '%s'",
                     NAME_ARG(name), ch->conn->vhost);
        return NULL;
    }
    if (owned_by_other(ch, q)) {
        fail_locked(ch, method_id, name);
        return NULL;
    }
    return q;
}

static bool queue_equivalent(struct channel *ch, struct queue *q, const struct amqp_queue_declare *m)
{
    if (owned_by_other(ch, q) || q->exclusive != m->exclusive) {
        fail_locked(ch, AMQP_QUEUE_DECLARE, q->name);
        return false;
    }
    return flag_equivalent(ch, AMQP_QUEUE_DECLARE, "queue", q->name, "durable", m->durable,
                           q->durable) &&
           flag_equivalent(ch, AMQP_QUEUE_DECLARE, "queue", q->name, "auto_delete", m->auto_delete,
                           q->auto_delete) &&
           args_equivalent(ch, AMQP_QUEUE_DECLARE, "queue", q->name, m->arguments, q->arguments,
                           queue_checked_args);
}

static void queue_declare(struct channel *ch, const struct amqp_queue_declare *m)
{
    struct vhost *v = channel_vhost(ch);
    struct amqp_bytes name = m->queue;
    char generated[32];
    struct queue *q;
    if (m->passive) {
        /* queue.declare takes the name as given: no "last declared queue" shortcut. */
        if (!(q = vhost_find_queue(v, name))) {
            channel_fail(ch, AMQP_NOT_FOUND, AMQP_QUEUE_DECLARE, "no queue '" NAME_FMT "' in vhost '%s'",
                         NAME_ARG(name), ch->conn->vhost);
            return;
        }
        if (owned_by_other(ch, q)) {
            fail_locked(ch, AMQP_QUEUE_DECLARE, name);
            return;
        }
    } else {
        if (name.len == 0) {
            vhost_generate_queue_name(v, generated);
            name = amqp_cstr(generated);
        } else if (reserved_name(name)) {
            channel_fail(ch, AMQP_ACCESS_REFUSED, AMQP_QUEUE_DECLARE,
                         "queue name '" NAME_FMT "' contains reserved prefix 'amq.*'", NAME_ARG(name));
            return;
        }
        q = vhost_find_queue(v, name);
        if (q && !queue_equivalent(ch, q, m))
            return;
        if (!q) {
            q = queue_new(v, name, m->durable, m->exclusive, m->auto_delete,
                          m->exclusive ? ch->conn : NULL, m->arguments);
            vhost_add_queue(v, q);
        }
    }
    shortname_set(&ch->last_queue, q->name);
    if (!m->no_wait) {
        struct amqp_method ok = {.id = AMQP_QUEUE_DECLARE_OK};
        ok.queue_declare_ok.queue = q->name;
        ok.queue_declare_ok.message_count = queue_message_count(q);
        ok.queue_declare_ok.consumer_count = q->consumer_count;
        channel_send(ch, &ok);
    }
}

/* The exchange to bind to or unbind from, or NULL after failing the channel. */
static struct exchange *binding_exchange(struct channel *ch, struct amqp_bytes name, uint32_t method_id)
{
    if (name.len == 0) {
        fail_default_exchange(ch, method_id);
        return NULL;
    }
    struct exchange *x = vhost_find_exchange(channel_vhost(ch), name);
    if (!x)
        fail_no_exchange(ch, method_id, name);
    return x;
}

static void queue_bind(struct channel *ch, const struct amqp_queue_bind *m)
{
    struct exchange *x = binding_exchange(ch, m->exchange, AMQP_QUEUE_BIND);
    struct queue *q = x ? channel_lookup_queue(ch, m->queue, AMQP_QUEUE_BIND) : NULL;
    if (!q)
        return;
    /* And with the queue name left empty, an empty routing key means that queue's name. */
    struct amqp_bytes key = m->queue.len == 0 && m->routing_key.len == 0 ? q->name : m->routing_key;
    char why[300];
    if (x->type == EXCHANGE_HEADERS && !exchange_headers_args_valid(m->arguments, why, sizeof why)) {
        channel_fail(ch, AMQP_PRECONDITION_FAILED, AMQP_QUEUE_BIND, "%s", why);
        return;
    }
    exchange_bind(x, q, key, m->arguments);
    if (!m->no_wait) {
        struct amqp_method ok = {.id = AMQP_QUEUE_BIND_OK};
        channel_send(ch, &ok);
    }
}

/* RabbitMQ's unbind succeeds whatever is missing, locked or not bound. */
static void queue_unbind(struct channel *ch, const struct amqp_queue_unbind *m)
{
    if (m->exchange.len == 0) {
        fail_default_exchange(ch, AMQP_QUEUE_UNBIND);
        return;
    }
    struct vhost *v = channel_vhost(ch);
    struct amqp_bytes name = m->queue;
    if (!expand_queue_name(ch, &name, AMQP_QUEUE_UNBIND))
        return;
    struct amqp_bytes key = m->queue.len == 0 && m->routing_key.len == 0 ? name : m->routing_key;
    struct exchange *x = vhost_find_exchange(v, m->exchange);
    struct queue *q = vhost_find_queue(v, name);
    if (x && q)
        exchange_unbind(x, q, key, m->arguments);
    struct amqp_method ok = {.id = AMQP_QUEUE_UNBIND_OK};
    channel_send(ch, &ok);
}

static void queue_purge_method(struct channel *ch, const struct amqp_queue_purge *m)
{
    struct queue *q = channel_lookup_queue(ch, m->queue, AMQP_QUEUE_PURGE);
    if (!q)
        return;
    uint32_t purged = queue_purge(q);
    if (!m->no_wait) {
        struct amqp_method ok = {.id = AMQP_QUEUE_PURGE_OK};
        ok.queue_purge_ok.message_count = purged;
        channel_send(ch, &ok);
    }
}

static void queue_delete(struct channel *ch, const struct amqp_queue_delete *m)
{
    struct vhost *v = channel_vhost(ch);
    struct amqp_bytes name = m->queue;
    if (!expand_queue_name(ch, &name, AMQP_QUEUE_DELETE))
        return;
    struct queue *q = vhost_find_queue(v, name);
    uint32_t count = 0;
    /* RabbitMQ answers delete-ok for a queue that does not exist. */
    if (q) {
        if (owned_by_other(ch, q)) {
            fail_locked(ch, AMQP_QUEUE_DELETE, name);
            return;
        }
        if (m->if_unused && q->consumer_count) {
            channel_fail(ch, AMQP_PRECONDITION_FAILED, AMQP_QUEUE_DELETE,
                         "queue '" NAME_FMT "' in vhost '%s' in use", NAME_ARG(name), ch->conn->vhost);
            return;
        }
        if (m->if_empty && queue_message_count(q)) {
            channel_fail(ch, AMQP_PRECONDITION_FAILED, AMQP_QUEUE_DELETE,
                         "queue '" NAME_FMT "' in vhost '%s' not empty", NAME_ARG(name),
                         ch->conn->vhost);
            return;
        }
        count = queue_message_count(q);
    }
    /* delete-ok goes out before the consumers' cancel notifications, as in RabbitMQ. */
    if (!m->no_wait) {
        struct amqp_method ok = {.id = AMQP_QUEUE_DELETE_OK};
        ok.queue_delete_ok.message_count = count;
        channel_send(ch, &ok);
    }
    if (q)
        vhost_delete_queue(v, q);
}

void channel_queue_method(struct channel *ch, const struct amqp_method *m)
{
    switch (m->id) {
    case AMQP_QUEUE_DECLARE: queue_declare(ch, &m->queue_declare); break;
    case AMQP_QUEUE_BIND: queue_bind(ch, &m->queue_bind); break;
    case AMQP_QUEUE_UNBIND: queue_unbind(ch, &m->queue_unbind); break;
    case AMQP_QUEUE_PURGE: queue_purge_method(ch, &m->queue_purge); break;
    case AMQP_QUEUE_DELETE: queue_delete(ch, &m->queue_delete); break;
    default: connection_fail(ch->conn, AMQP_COMMAND_INVALID, m->id, "unimplemented method");
    }
}
