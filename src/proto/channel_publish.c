/* Publishing: basic.publish into the model, mandatory returns, publisher confirms, transactions. */
#include <stdlib.h>

#include "core/alloc.h"
#include "core/container.h"
#include "model/broker.h"
#include "model/message_store.h"
#include "model/vhost.h"
#include "proto/channel_internal.h"
#include "proto/fault.h"
#include "proto/reply_to.h"

static void send_return(struct channel *ch, struct message *msg)
{
    struct amqp_method m = {.id = AMQP_BASIC_RETURN};
    m.basic_return.reply_code = AMQP_NO_ROUTE;
    m.basic_return.reply_text = AMQP_BYTES_LIT("NO_ROUTE");
    m.basic_return.exchange = message_exchange(msg);
    m.basic_return.routing_key = message_routing_key(msg);
    channel_send_with_content(ch, &m, msg);
}

/* Routed nowhere: returned when mandatory, else dropped. */
static void count_unroutable(struct channel *ch, struct message_stats *stats, struct message *msg,
                             bool mandatory)
{
    if (!mandatory) {
        message_stats_count(stats, STAT_DROP_UNROUTABLE);
        return;
    }
    message_stats_count(stats, STAT_RETURN_UNROUTABLE);
    send_return(ch, msg);
}

/* ---- replies that wait for the disk ---- */

static void send_commit_ok(struct channel *ch);

/* The store synced (or failed) everything up to `through`: the replies it held go. */
static void on_disk_settled(struct store_waiter *w, uint64_t through, bool ok)
{
    struct channel *ch = container_of(w, struct channel, disk_waiter);
    bool confirmed = false;
    while (ch->disk_len) {
        struct disk_wait *d = &ch->disk_waits[ch->disk_head];
        if (d->ticket > through)
            break;
        struct disk_wait done = *d;
        ch->disk_head = (ch->disk_head + 1) & (ch->disk_cap - 1);
        ch->disk_len--;
        if (done.confirm_seq) {
            confirms_settle_through(&ch->confirms, done.confirm_seq, ok ? CONFIRM_ACK : CONFIRM_NACK);
            confirmed = true;
        } else if (ok) {
            send_commit_ok(ch);
        } else {
            channel_fail(ch, AMQP_INTERNAL_ERROR, AMQP_TX_COMMIT,
                         "the message store could not write the transaction's messages");
        }
    }
    if (!ch->disk_len)
        store_waiter_cancel(w);
    if (confirmed)
        channel_flush_confirms(ch);
}

/* The reply settles once the store has synced what was enqueued so far. */
static void wait_for_disk(struct channel *ch, uint64_t confirm_seq)
{
    struct message_store *store = connection_broker(ch->conn)->store;
    uint64_t ticket = store->ops->ticket(store);
    if (ch->disk_len && confirm_seq) {
        struct disk_wait *last = &ch->disk_waits[(ch->disk_head + ch->disk_len - 1) & (ch->disk_cap - 1)];
        if (last->ticket == ticket && last->confirm_seq) {
            last->confirm_seq = confirm_seq; /* one more publish of the same batch */
            return;
        }
    }
    if (ch->disk_len == ch->disk_cap) {
        size_t cap = ch->disk_cap ? ch->disk_cap * 2 : 8;
        struct disk_wait *waits = xmalloc(cap * sizeof *waits);
        for (size_t i = 0; i < ch->disk_len; i++)
            waits[i] = ch->disk_waits[(ch->disk_head + i) & (ch->disk_cap - 1)];
        free(ch->disk_waits);
        ch->disk_waits = waits;
        ch->disk_cap = cap;
        ch->disk_head = 0;
    }
    ch->disk_waits[(ch->disk_head + ch->disk_len++) & (ch->disk_cap - 1)] =
        (struct disk_wait){ticket, confirm_seq};
    ch->disk_waiter.settled = on_disk_settled;
    store->ops->wait(store, &ch->disk_waiter);
}

/* route's body, for a channel in confirm mode or not (a constant once inlined). */
static inline __attribute__((always_inline)) bool route_as(struct channel *ch, struct message *msg,
                                                          bool mandatory, bool confirm)
{
    /* the exchange's record first: its tally counts the queues routed to */
    struct channel_exchange_metrics *x = channel_metrics_exchange(&ch->metrics, message_exchange(msg));
    struct publish_result result;
    struct outcome out;
    bool published = vhost_publish_tallied(channel_vhost(ch), &msg, ch->session,
                                           &ch->origin, &x->tally, &result, &out);
    if (!published) {
        channel_fail_outcome(ch, AMQP_BASIC_PUBLISH, &out);
    } else {
        if (result.congested)
            connection_note_congested(ch->conn, result.congested);
        message_stats_count(&x->stats, STAT_PUBLISH);
        if (result.routed == 0 && result.rejected == 0)
            count_unroutable(ch, &x->stats, msg, mandatory);
        /* a persistent message a durable queue kept is confirmed once it is on disk */
        bool stored = __builtin_expect(msg->stored != NULL, 0);
        if (confirm) {
            /* RabbitMQ nacks a message any of its queues refused */
            uint64_t seq = confirms_add(&ch->confirms, result.rejected ? CONFIRM_NACK
                                                       : stored        ? CONFIRM_WAITING
                                                                       : CONFIRM_ACK);
            if (!result.rejected)
                message_stats_count(&x->stats, STAT_CONFIRM);
            if (stored && !result.rejected)
                wait_for_disk(ch, seq);
            connection_owe_confirms(ch->conn, &ch->dirty_link);
        } else if (stored) {
            ch->tx_stored = true;
        }
    }
    message_unref(msg);
    return published;
}

/* Routes and enqueues, returns an unroutable mandatory message and notes the confirm it is
 * owed; false after failing the channel. Consumes the caller's reference. The confirm mode is
 * tested once, so a publish without confirms pays nothing for the fault hook. */
static bool route(struct channel *ch, struct message *msg, bool mandatory)
{
    if (!ch->confirm)
        return route_as(ch, msg, mandatory, false);
    if (__builtin_expect(*ch->faults != NULL, 0) && fault_take_nack(ch->conn)) {
        /* fault injection: nacked, and routed nowhere */
        confirms_add(&ch->confirms, CONFIRM_NACK);
        connection_owe_confirms(ch->conn, &ch->dirty_link);
        message_unref(msg);
        return true;
    }
    return route_as(ch, msg, mandatory, true);
}

/* A transaction makes RabbitMQ's publish checks now and routes at commit. */
static void hold_for_commit(struct channel *ch, struct message *msg)
{
    struct outcome out;
    if (!vhost_check_publish(channel_vhost(ch), msg, ch->session, &out)) {
        channel_fail_outcome(ch, AMQP_BASIC_PUBLISH, &out);
        message_unref(msg);
        return;
    }
    struct tx_op *op = xcalloc(1, sizeof *op);
    op->msg = msg;
    op->mandatory = ch->publish_mandatory;
    list_push_back(&ch->tx_ops, &op->link);
}

static bool is_reply(const struct message *msg)
{
    return msg->exchange_len == 0 && reply_to_is_reply_name(message_routing_key(msg));
}

/* A request for direct replies or a reply. RabbitMQ refuses a request first (after its
 * exchange checks); a reply goes straight to its channel once the publish checks pass, even
 * in a transaction, and is then routed as usual: to no queue, so returned when mandatory. */
static void publish_with_reply_to(struct channel *ch, struct message *msg)
{
    if ((message_property_flags(msg) & AMQP_BASIC_REPLY_TO_FLAG) &&
        channel_reply_to_refuses(ch, msg)) {
        message_unref(msg);
        return;
    }
    struct outcome out;
    if (is_reply(msg) && vhost_check_publish(channel_vhost(ch), msg, ch->session, &out))
        channel_reply_to_deliver(ch, msg);
    if (ch->tx)
        hold_for_commit(ch, msg);
    else
        route(ch, msg, ch->publish_mandatory); /* fails the channel if the checks failed */
}

void channel_publish(struct channel *ch, struct message *msg)
{
    if ((message_property_flags(msg) & AMQP_BASIC_REPLY_TO_FLAG) || is_reply(msg))
        publish_with_reply_to(ch, msg);
    else if (ch->tx)
        hold_for_commit(ch, msg);
    else
        route(ch, msg, ch->publish_mandatory);
}

/* Every confirm that is ready, coalesced: one basic.ack covers a run of acked publishes. */
void channel_flush_confirms(struct channel *ch)
{
    list_remove(&ch->dirty_link);
    if (ch->state != CHANNEL_OPEN || !connection_is_open(ch->conn))
        return;
    struct confirm_reply r;
    while (confirms_next(&ch->confirms, &r)) {
        struct amqp_method m = {.id = r.nack ? AMQP_BASIC_NACK : AMQP_BASIC_ACK};
        if (r.nack) {
            m.basic_nack.delivery_tag = r.tag;
            m.basic_nack.multiple = r.multiple;
        } else {
            m.basic_ack.delivery_tag = r.tag;
            m.basic_ack.multiple = r.multiple;
        }
        channel_send(ch, &m);
    }
}

/* ---- confirm.* and tx.* ---- */

void channel_confirm_method(struct channel *ch, const struct amqp_method *m)
{
    if (m->id != AMQP_CONFIRM_SELECT) {
        connection_fail(ch->conn, AMQP_COMMAND_INVALID, m->id, "unimplemented method");
        return;
    }
    if (ch->tx) {
        channel_fail(ch, AMQP_PRECONDITION_FAILED, m->id, "cannot switch from tx to confirm mode");
        return;
    }
    ch->confirm = true;
    if (!m->confirm_select.nowait) {
        struct amqp_method ok = {.id = AMQP_CONFIRM_SELECT_OK};
        channel_send(ch, &ok);
    }
}

void channel_release_publishes(struct channel *ch)
{
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &ch->tx_ops) {
        struct tx_op *op = list_entry(pos, struct tx_op, link);
        list_remove(&op->link);
        if (op->msg)
            message_unref(op->msg);
        free(op);
    }
}

static void send_commit_ok(struct channel *ch)
{
    struct amqp_method ok = {.id = AMQP_TX_COMMIT_OK};
    channel_send(ch, &ok);
}

static void tx_commit(struct channel *ch)
{
    struct list *pos, *tmp;
    ch->tx_stored = false;
    list_for_each_safe(pos, tmp, &ch->tx_ops) {
        struct tx_op *op = list_entry(pos, struct tx_op, link);
        list_remove(&op->link);
        struct message *msg = op->msg;
        bool mandatory = op->mandatory;
        free(op);
        if (!route(ch, msg, mandatory)) {
            channel_release_publishes(ch);
            return;
        }
    }
    channel_commit_acks(ch);
    /* commit-ok once what the transaction stored is on disk (after any earlier one's) */
    if (ch->tx_stored || ch->disk_len)
        wait_for_disk(ch, 0);
    else
        send_commit_ok(ch);
    channel_dispatch_consumers(ch);
}

static void tx_rollback(struct channel *ch)
{
    channel_release_publishes(ch);
    channel_rollback_acks(ch);
    struct amqp_method ok = {.id = AMQP_TX_ROLLBACK_OK};
    channel_send(ch, &ok);
}

void channel_tx_method(struct channel *ch, const struct amqp_method *m)
{
    if (m->id == AMQP_TX_SELECT) {
        if (ch->confirm) {
            channel_fail(ch, AMQP_PRECONDITION_FAILED, m->id, "cannot switch from confirm to tx mode");
            return;
        }
        ch->tx = true;
        struct amqp_method ok = {.id = AMQP_TX_SELECT_OK};
        channel_send(ch, &ok);
    } else if (m->id == AMQP_TX_COMMIT || m->id == AMQP_TX_ROLLBACK) {
        if (!ch->tx)
            channel_fail(ch, AMQP_PRECONDITION_FAILED, m->id, "channel is not transactional");
        else if (m->id == AMQP_TX_COMMIT)
            tx_commit(ch);
        else
            tx_rollback(ch);
    } else {
        connection_fail(ch->conn, AMQP_COMMAND_INVALID, m->id, "unimplemented method");
    }
}
