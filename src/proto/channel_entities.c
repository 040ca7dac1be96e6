/* The exchange.* and queue.* methods of a channel: decode, one model operation, reply (once the definitions it recorded are on disk). */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "model/exchange.h"
#include "model/queue.h"
#include "model/vhost.h"
#include "proto/channel_internal.h"

/* RabbitMQ's strip_cr_lf on the names of the declares, deletes and bindings (not on what
 * publish, get, consume and purge name); a stripped copy lives in buf. */
static struct amqp_bytes strip_cr_lf(struct amqp_bytes name, char buf[256])
{
    if (!memchr(name.ptr, '\r', name.len) && !memchr(name.ptr, '\n', name.len))
        return name;
    size_t n = 0;
    for (size_t i = 0; i < name.len && n < 256; i++)
        if (name.ptr[i] != '\r' && name.ptr[i] != '\n')
            buf[n++] = (char)name.ptr[i];
    return amqp_bytes_of(buf, n);
}

/* ---- replies that wait for the disk ---- */

static uint64_t definitions_before(struct channel *ch)
{
    return definitions_ticket(channel_vhost(ch)->definitions);
}

/* A declare that finds a durable entity waits, as one that makes it does, for every record so
 * far: the entity's own may not be on disk yet (another connection's declare still syncing),
 * and what this client does next (persistent messages confirmed into it) must not outlive it. */
static uint64_t leaning_on(uint64_t before, bool durable)
{
    return durable ? 0 : before;
}

static void send_held_cancels(struct channel *ch)
{
    for (size_t i = 0; i < ch->held_cancel_count; i++) {
        struct amqp_method m = {.id = AMQP_BASIC_CANCEL};
        m.basic_cancel.consumer_tag = shortname_bytes(&ch->held_cancels[i]);
        m.basic_cancel.no_wait = true;
        channel_send(ch, &m);
    }
    ch->held_cancel_count = 0;
}

bool channel_hold_cancel(struct channel *ch, struct amqp_bytes tag)
{
    if (!ch->cancels_held && !definitions_waiting(&ch->defs_reply.waiter))
        return false;
    if (ch->held_cancel_count == ch->held_cancel_cap) {
        ch->held_cancel_cap = ch->held_cancel_cap ? ch->held_cancel_cap * 2 : 4;
        ch->held_cancels = xrealloc(ch->held_cancels, ch->held_cancel_cap * sizeof *ch->held_cancels);
    }
    shortname_set(&ch->held_cancels[ch->held_cancel_count++], tag);
    return true;
}

static void send_reply(struct channel *ch, const struct amqp_method *ok)
{
    if (ok)
        channel_send(ch, ok);
    send_held_cancels(ch);
}

/* The definitions are on disk, or could not be put there: RabbitMQ's answer to a failed
 * transaction is an internal error, which closes the connection. */
static void defs_reply_settled(struct definitions_waiter *w, int error)
{
    struct channel *ch = container_of(w, struct channel, defs_reply.waiter);
    struct defs_reply *r = &ch->defs_reply;
    struct connection *c = ch->conn;
    if (error && connection_is_open(c)) { /* a connection closing already says no more */
        ch->held_cancel_count = 0;
        connection_fail(c, AMQP_INTERNAL_ERROR, r->method_id,
                        "the definitions journal could not be written: %s", strerror(-error));
    } else if (!error && ch->state == CHANNEL_OPEN && connection_is_open(c)) {
        send_reply(ch, r->send ? &r->ok : NULL);
    } else {
        ch->held_cancel_count = 0;
    }
    connection_release_input(c);
}

/* Sends ok (NULL: no-wait, nothing) now, or once what the method recorded since `before` is
 * on disk; the connection's input waits till then. */
static void reply_after(struct channel *ch, uint64_t before, uint32_t method_id,
                        const struct amqp_method *ok)
{
    struct defs_reply *r = &ch->defs_reply;
    r->waiter.settled = defs_reply_settled;
    if (!definitions_wait(channel_vhost(ch)->definitions, before, &r->waiter)) {
        send_reply(ch, ok);
        return;
    }
    r->method_id = method_id;
    r->send = ok != NULL;
    if (ok) {
        r->ok = *ok;
        if (ok->id == AMQP_QUEUE_DECLARE_OK) { /* the queue may be gone by the time it is sent */
            shortname_set(&r->queue, ok->queue_declare_ok.queue);
            r->ok.queue_declare_ok.queue = shortname_bytes(&r->queue);
        }
    }
    connection_hold_input(ch->conn);
}

static void reply(struct channel *ch, uint64_t before, uint32_t method_id, uint32_t ok_id,
                  bool no_wait)
{
    struct amqp_method ok = {.id = ok_id};
    reply_after(ch, before, method_id, no_wait ? NULL : &ok);
}

void channel_drop_defs_reply(struct channel *ch)
{
    if (definitions_waiting(&ch->defs_reply.waiter))
        definitions_waiter_cancel(&ch->defs_reply.waiter);
    free(ch->held_cancels);
    ch->held_cancels = NULL;
    ch->held_cancel_count = ch->held_cancel_cap = 0;
}

/* ---- exchange.* ---- */

static void exchange_declare(struct channel *ch, const struct amqp_exchange_declare *m)
{
    char buf[256];
    struct exchange_declare req = {
        .name = strip_cr_lf(m->exchange, buf), .type = m->type, .arguments = m->arguments, .passive = m->passive,
        .durable = m->durable, .auto_delete = m->auto_delete, .internal = m->internal,
        .who = ch->session};
    struct outcome out;
    uint64_t before = definitions_before(ch);
    if (!vhost_declare_exchange(channel_vhost(ch), &req, &out)) {
        channel_fail_outcome(ch, AMQP_EXCHANGE_DECLARE, &out);
        return;
    }
    const struct exchange *x = vhost_find_exchange(channel_vhost(ch), req.name);
    reply(ch, leaning_on(before, x && x->durable), AMQP_EXCHANGE_DECLARE,
          AMQP_EXCHANGE_DECLARE_OK, m->no_wait);
}

static void exchange_delete(struct channel *ch, const struct amqp_exchange_delete *m)
{
    struct outcome out;
    char buf[256];
    uint64_t before = definitions_before(ch);
    if (!vhost_delete_exchange(channel_vhost(ch), ch->session, strip_cr_lf(m->exchange, buf),
                               m->if_unused, &out))
        channel_fail_outcome(ch, AMQP_EXCHANGE_DELETE, &out);
    else
        reply(ch, before, AMQP_EXCHANGE_DELETE, AMQP_EXCHANGE_DELETE_OK, m->no_wait);
}

static void exchange_bind_method(struct channel *ch, const struct amqp_exchange_bind *m)
{
    char dbuf[256], sbuf[256];
    struct exchange_binding b = {strip_cr_lf(m->destination, dbuf), strip_cr_lf(m->source, sbuf),
                                 m->routing_key, m->arguments, ch->session};
    struct outcome out;
    uint64_t before = definitions_before(ch);
    if (!vhost_bind_exchange(channel_vhost(ch), &b, &out))
        channel_fail_outcome(ch, AMQP_EXCHANGE_BIND, &out);
    else
        reply(ch, before, AMQP_EXCHANGE_BIND, AMQP_EXCHANGE_BIND_OK, m->no_wait);
}

static void exchange_unbind_method(struct channel *ch, const struct amqp_exchange_unbind *m)
{
    char dbuf[256], sbuf[256];
    struct exchange_binding b = {strip_cr_lf(m->destination, dbuf), strip_cr_lf(m->source, sbuf),
                                 m->routing_key, m->arguments, ch->session};
    struct outcome out;
    uint64_t before = definitions_before(ch);
    if (!vhost_unbind_exchange(channel_vhost(ch), &b, &out))
        channel_fail_outcome(ch, AMQP_EXCHANGE_UNBIND, &out);
    else
        reply(ch, before, AMQP_EXCHANGE_UNBIND, AMQP_EXCHANGE_UNBIND_OK, m->no_wait);
}

void channel_exchange_method(struct channel *ch, const struct amqp_method *m)
{
    switch (m->id) {
    case AMQP_EXCHANGE_DECLARE: exchange_declare(ch, &m->exchange_declare); break;
    case AMQP_EXCHANGE_DELETE: exchange_delete(ch, &m->exchange_delete); break;
    case AMQP_EXCHANGE_BIND: exchange_bind_method(ch, &m->exchange_bind); break;
    case AMQP_EXCHANGE_UNBIND: exchange_unbind_method(ch, &m->exchange_unbind); break;
    default: connection_fail(ch->conn, AMQP_COMMAND_INVALID, m->id, "unimplemented method");
    }
}

/* ---- queue.* ---- */

bool channel_expand_queue_name(struct channel *ch, struct amqp_bytes *name, uint32_t method_id)
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

static void queue_declare(struct channel *ch, const struct amqp_queue_declare *m)
{
    char buf[256];
    struct queue_declare req = {
        .name = strip_cr_lf(m->queue, buf), .arguments = m->arguments, .passive = m->passive, .durable = m->durable,
        .exclusive = m->exclusive, .auto_delete = m->auto_delete, .who = ch->session};
    struct outcome out;
    uint64_t before = definitions_before(ch);
    struct queue *q = vhost_declare_queue(channel_vhost(ch), &req, &out);
    if (!q) {
        channel_fail_outcome(ch, AMQP_QUEUE_DECLARE, &out);
        return;
    }
    shortname_set(&ch->last_queue, q->name);
    struct amqp_method ok = {.id = AMQP_QUEUE_DECLARE_OK};
    ok.queue_declare_ok.queue = q->name;
    ok.queue_declare_ok.message_count = queue_message_count(q);
    ok.queue_declare_ok.consumer_count = q->consumer_count;
    reply_after(ch, leaning_on(before, q->durable), AMQP_QUEUE_DECLARE, m->no_wait ? NULL : &ok);
}

/* A binding as the method names it: with the queue name left empty (the last declared queue,
 * which RabbitMQ resolves before any other check), an empty routing key means that queue's name. */
static bool binding_of(struct channel *ch, uint32_t method_id, struct amqp_bytes exchange,
                       struct amqp_bytes queue, struct amqp_bytes routing_key,
                       struct amqp_bytes arguments, char bufs[2][256], struct queue_binding *out)
{
    *out = (struct queue_binding){strip_cr_lf(exchange, bufs[0]), strip_cr_lf(queue, bufs[1]),
                                  routing_key, arguments, ch->session};
    if (queue.len == 0) {
        if (!channel_expand_queue_name(ch, &out->queue, method_id))
            return false;
        if (routing_key.len == 0)
            out->routing_key = out->queue;
    }
    return true;
}

static void queue_bind(struct channel *ch, const struct amqp_queue_bind *m)
{
    struct queue_binding b;
    struct outcome out;
    char bufs[2][256];
    if (!binding_of(ch, AMQP_QUEUE_BIND, m->exchange, m->queue, m->routing_key, m->arguments, bufs,
                    &b))
        return;
    uint64_t before = definitions_before(ch);
    if (!vhost_bind_queue(channel_vhost(ch), &b, &out))
        channel_fail_outcome(ch, AMQP_QUEUE_BIND, &out);
    else
        reply(ch, before, AMQP_QUEUE_BIND, AMQP_QUEUE_BIND_OK, m->no_wait);
}

static void queue_unbind(struct channel *ch, const struct amqp_queue_unbind *m)
{
    struct queue_binding b;
    struct outcome out;
    char bufs[2][256];
    if (!binding_of(ch, AMQP_QUEUE_UNBIND, m->exchange, m->queue, m->routing_key, m->arguments,
                    bufs, &b))
        return;
    uint64_t before = definitions_before(ch);
    if (!vhost_unbind_queue(channel_vhost(ch), &b, &out))
        channel_fail_outcome(ch, AMQP_QUEUE_UNBIND, &out);
    else
        reply(ch, before, AMQP_QUEUE_UNBIND, AMQP_QUEUE_UNBIND_OK, false);
}

static void queue_purge_method(struct channel *ch, const struct amqp_queue_purge *m)
{
    struct amqp_bytes name = m->queue;
    uint32_t purged = 0;
    struct outcome out;
    if (!channel_expand_queue_name(ch, &name, AMQP_QUEUE_PURGE))
        return;
    if (!vhost_purge_queue(channel_vhost(ch), name, ch->session, &purged, &out)) {
        channel_fail_outcome(ch, AMQP_QUEUE_PURGE, &out);
    } else if (!m->no_wait) {
        struct amqp_method ok = {.id = AMQP_QUEUE_PURGE_OK};
        ok.queue_purge_ok.message_count = purged;
        channel_send(ch, &ok);
    }
}

static void queue_delete(struct channel *ch, const struct amqp_queue_delete *m)
{
    struct vhost *v = channel_vhost(ch);
    struct amqp_bytes name = m->queue;
    struct outcome out;
    if (!channel_expand_queue_name(ch, &name, AMQP_QUEUE_DELETE))
        return;
    uint64_t before = definitions_before(ch);
    struct queue *q = vhost_queue_to_delete(v, name, ch->session, m->if_unused, m->if_empty, &out);
    if (!outcome_ok(&out)) {
        channel_fail_outcome(ch, AMQP_QUEUE_DELETE, &out);
        return;
    }
    struct amqp_method ok = {.id = AMQP_QUEUE_DELETE_OK};
    ok.queue_delete_ok.message_count = q ? queue_message_count(q) : 0;
    /* delete-ok goes out before this channel's consumers' cancel notifications, as in
     * RabbitMQ: they wait for it. */
    ch->cancels_held = true;
    if (q)
        vhost_delete_queue(v, q);
    ch->cancels_held = false;
    reply_after(ch, before, AMQP_QUEUE_DELETE, m->no_wait ? NULL : &ok);
}

void channel_queue_method(struct channel *ch, const struct amqp_method *m)
{
    switch (m->id) {
    case AMQP_QUEUE_DECLARE:
        if (!channel_fault_refuses(ch, m->id) && !channel_reply_to_declare(ch, &m->queue_declare))
            queue_declare(ch, &m->queue_declare);
        break;
    case AMQP_QUEUE_BIND: queue_bind(ch, &m->queue_bind); break;
    case AMQP_QUEUE_UNBIND: queue_unbind(ch, &m->queue_unbind); break;
    case AMQP_QUEUE_PURGE: queue_purge_method(ch, &m->queue_purge); break;
    case AMQP_QUEUE_DELETE: queue_delete(ch, &m->queue_delete); break;
    default: connection_fail(ch->conn, AMQP_COMMAND_INVALID, m->id, "unimplemented method");
    }
}
