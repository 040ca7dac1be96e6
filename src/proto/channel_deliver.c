/* Deliveries: consume, deliver, get, acknowledgements, prefetch and recover. */
#include <stdlib.h>

#include "core/alloc.h"
#include "core/container.h"
#include "core/token.h"
#include "model/queue.h"
#include "model/vhost.h"
#include "proto/channel_internal.h"

/* ---- writing content ---- */

/* A method with content: the method frame, the header given, the body split to the negotiated
 * frame size and referenced rather than copied when large. */
static inline void send_content(struct channel *ch, const struct amqp_method *m,
                                struct message *msg, struct amqp_bytes header)
{
    struct output *out = ch->out;
    channel_send(ch, m);
    size_t start = amqp_frame_begin(&out->bytes, AMQP_FRAME_HEADER, ch->id);
    amqp_buf_put(&out->bytes, header.ptr, header.len);
    amqp_frame_finish(&out->bytes, start);
    size_t chunk = ch->frame_max - AMQP_FRAME_OVERHEAD;
    for (uint64_t off = 0; off < msg->body_size; off += chunk) {
        uint64_t n = msg->body_size - off < chunk ? msg->body_size - off : chunk;
        amqp_buf_put_u8(&out->bytes, AMQP_FRAME_BODY);
        amqp_buf_put_u16(&out->bytes, ch->id);
        amqp_buf_put_u32(&out->bytes, (uint32_t)n);
        output_put_message_bytes(out, msg, message_body(msg) + off, (size_t)n);
        amqp_buf_put_u8(&out->bytes, AMQP_FRAME_END);
    }
}

void channel_send_with_content(struct channel *ch, const struct amqp_method *m, struct message *msg)
{
    send_content(ch, m, msg, message_header(msg));
}

/* A delivery: with the header its queue shows for it (a quorum queue's count) or its own. */
static inline void send_delivery(struct channel *ch, const struct amqp_method *m,
                                 struct queue *q, const struct queue_entry *e, bool got)
{
    struct message *msg = queue_entry_message(e);
    struct amqp_buf shown = {NULL, 0, 0}; /* empty, as amqp_buf_init leaves it: no call here */
    if (queue_delivery_header(q, e, got, &shown)) {
        send_content(ch, m, msg, amqp_bytes_of(shown.data, shown.len));
        amqp_buf_free(&shown);
        return;
    }
    send_content(ch, m, msg, message_header(msg));
}

/* ---- the unacked list, sorted by delivery tag ---- */

static struct unacked *unacked_push(struct channel *ch)
{
    if (ch->unacked_head && ch->unacked_len == ch->unacked_cap) {
        size_t live = ch->unacked_len - ch->unacked_head;
        memmove(ch->unacked, ch->unacked + ch->unacked_head, live * sizeof *ch->unacked);
        ch->unacked_head = 0;
        ch->unacked_len = live;
    }
    if (ch->unacked_len == ch->unacked_cap) {
        size_t cap = ch->unacked_cap ? ch->unacked_cap * 2 : 64;
        struct unacked *u = xrealloc(ch->unacked, cap * sizeof *u);
        ch->unacked = u;
        ch->unacked_cap = cap;
    }
    struct unacked *u = &ch->unacked[ch->unacked_len++];
    memset(u, 0, sizeof *u);
    ch->unacked_count++;
    return u;
}

static struct unacked *unacked_find(struct channel *ch, uint64_t tag)
{
    size_t lo = ch->unacked_head, hi = ch->unacked_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ch->unacked[mid].tag < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < ch->unacked_len && ch->unacked[lo].tag == tag && !ch->unacked[lo].settled)
        return &ch->unacked[lo];
    return NULL;
}

static void unacked_compact(struct channel *ch)
{
    while (ch->unacked_head < ch->unacked_len && ch->unacked[ch->unacked_head].settled)
        ch->unacked_head++;
    if (ch->unacked_head == ch->unacked_len)
        ch->unacked_head = ch->unacked_len = 0;
}

/* ---- the consumer acknowledgement timeout ---- */

static struct unacked *oldest_unacked(struct channel *ch)
{
    /* compaction leaves the head unsettled */
    return ch->unacked_head < ch->unacked_len ? &ch->unacked[ch->unacked_head] : NULL;
}

/* The queue's x-consumer-timeout, else the broker's; UINT64_MAX: none. */
static uint64_t ack_timeout_ms(const struct channel *ch, const struct queue *q)
{
    if (q->args.consumer_timeout_ms != QUEUE_ARG_UNSET)
        return (uint64_t)q->args.consumer_timeout_ms;
    uint64_t broker_wide = connection_broker(ch->conn)->config.consumer_timeout_ms;
    return broker_wide ? broker_wide : UINT64_MAX;
}

static uint64_t ack_due_at(const struct channel *ch, const struct queue *q)
{
    uint64_t timeout = ack_timeout_ms(ch, q);
    if (timeout == UINT64_MAX)
        return UINT64_MAX;
    return clock_now_ms(&connection_broker(ch->conn)->clock) + timeout;
}

static void on_ack_timeout(struct deadline *d, uint64_t now_ms);

/* Brings the channel's deadline forward to its oldest delivery's; one that stands earlier
 * is left to fire and move on (so an ack costs a comparison, not a heap operation). */
static void follow_oldest_unacked(struct channel *ch)
{
    struct unacked *u = oldest_unacked(ch);
    if (!u || u->ack_due_ms == UINT64_MAX)
        return;
    if (deadline_pending(&ch->ack_timeout) && ch->ack_timeout.at_ms <= u->ack_due_ms)
        return;
    ch->ack_timeout.fire = on_ack_timeout;
    deadline_heap_reschedule(&connection_broker(ch->conn)->deadlines, &ch->ack_timeout,
                             u->ack_due_ms);
}

/* RabbitMQ looks at the oldest unacked delivery only (basic.get's count too) and closes the
 * channel with its text; the channel's unacked messages go back to their queues. */
static void on_ack_timeout(struct deadline *d, uint64_t now_ms)
{
    struct channel *ch = container_of(d, struct channel, ack_timeout);
    struct unacked *u = oldest_unacked(ch);
    if (!u || u->ack_due_ms == UINT64_MAX || ch->state != CHANNEL_OPEN ||
        !connection_is_open(ch->conn))
        return;
    if (u->ack_due_ms > now_ms) {
        follow_oldest_unacked(ch);
        return;
    }
    channel_fail(ch, AMQP_PRECONDITION_FAILED, 0,
                 "delivery acknowledgement on channel %u timed out. Timeout value used: %llu ms. "
                 "This timeout value can be configured, see consumers doc guide to learn more",
                 ch->id, (unsigned long long)ack_timeout_ms(ch, u->queue));
}

/* Ack (settle), reject (dead-letter or drop) or requeue unacked messages in two steps: select and mark them
 * first, then hand them back to their queues, because a requeue can deliver again at once
 * and so grow or move the unacked array. */
enum settle_how { SETTLE_ACK, SETTLE_DROP, SETTLE_REQUEUE };

struct settled_item {
    struct queue *queue;
    struct queue_entry entry;
    enum settle_how how;
};

struct settlement {
    struct settled_item *items;
    size_t len, cap;
};

static void select_unacked(struct channel *ch, struct settlement *s, struct unacked *u,
                           enum settle_how how)
{
    if (!u->from_get)
        ch->consumed_unacked--;
    if (s->len == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->items = xrealloc(s->items, s->cap * sizeof *s->items);
    }
    u->settled = true;
    ch->unacked_count--;
    if (u->consumer)
        u->consumer->unacked--;
    s->items[s->len++] = (struct settled_item){u->queue, u->entry, how};
}

/* An ack settles the entry; the queue and the channel count it. */
static void channel_count_ack(struct channel *ch, struct queue *q, struct queue_entry *e)
{
    message_stats_count(&q->stats, STAT_ACK);
    message_stats_count(&channel_metrics_queue(&ch->metrics, q)->stats, STAT_ACK);
    queue_settle(q, e);
}

/* Every requeued message is back in place before any queue delivers again, as in RabbitMQ. */
static void apply_settlement(struct channel *ch, struct settlement *s)
{
    unacked_compact(ch);
    follow_oldest_unacked(ch);
    vhost_hold_dead_letters(channel_vhost(ch)); /* routing one on could deliver meanwhile */
    for (size_t i = 0; i < s->len; i++) {
        struct settled_item *item = &s->items[i];
        if (item->how == SETTLE_REQUEUE)
            queue_return(item->queue, &item->entry);
        else if (item->how == SETTLE_DROP)
            queue_reject(item->queue, &item->entry);
        else
            channel_count_ack(ch, item->queue, &item->entry);
    }
    vhost_release_dead_letters(channel_vhost(ch));
    for (size_t i = 0; i < s->len; i++) {
        if (s->items[i].how == SETTLE_REQUEUE)
            queue_dispatch(s->items[i].queue);
        queue_unref(s->items[i].queue);
    }
    free(s->items);
}

/* Starts one further along each time, so that a shared (global) prefetch serves every queue. */
void channel_dispatch_consumers(struct channel *ch)
{
    if (!list_empty(&ch->consumers)) {
        struct list *first = ch->consumers.next;
        list_remove(first);
        list_push_back(&ch->consumers, first);
    }
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &ch->consumers) {
        struct channel_consumer *cc = list_entry(pos, struct channel_consumer, link);
        if (ch->state != CHANNEL_OPEN)
            return;
        queue_dispatch(cc->base.queue);
    }
}

void channel_resume_deliveries(struct channel *ch)
{
    channel_dispatch_consumers(ch);
}

/* A message sent for acknowledgement is kept under its tag until the client settles it. cc
 * is NULL for basic.get, which RabbitMQ's prefetch does not count. */
static void track_unacked(struct channel *ch, uint64_t tag, struct queue *q, struct queue_entry e,
                          struct channel_consumer *cc)
{
    queue_ref(q);
    struct unacked *u = unacked_push(ch);
    u->tag = tag;
    u->queue = q;
    u->entry = e;
    u->consumer = cc;
    u->from_get = cc == NULL;
    u->ack_due_ms = ack_due_at(ch, q);
    follow_oldest_unacked(ch);
    if (cc) {
        cc->unacked++;
        ch->consumed_unacked++;
    }
}

/* Counts a delivery (stat: deliver or get, stat + 1 its no-ack form) in the queue and in the
 * channel's record of it (mine). */
static inline void count_delivery(struct queue *q, struct message_stats *mine,
                                  const struct queue_entry *e, enum message_stat stat, bool no_ack)
{
    if (no_ack) /* each no-ack form follows its acked one */
        stat = (enum message_stat)(stat + 1);
    message_stats_count(&q->stats, stat);
    message_stats_count(mine, stat);
    if (e->redelivered) {
        message_stats_count(&q->stats, STAT_REDELIVER);
        message_stats_count(mine, STAT_REDELIVER);
    }
}

/* The channel's record of the consumer's queue, found on its first delivery and kept: the
 * record goes only once its queue is deleted, and the consumer goes with the queue. */
static inline struct message_stats *consumer_queue_stats(struct channel_consumer *cc,
                                                         struct queue *q)
{
    if (!cc->queue_metrics)
        cc->queue_metrics = channel_metrics_queue(&cc->ch->metrics, q);
    return &cc->queue_metrics->stats;
}

/* A message just sent is settled at once without acks, or else kept under its tag; inline,
 * as the no-ack half runs once per message. */
static inline void track_delivery(struct channel *ch, uint64_t tag, struct queue *q,
                                  struct queue_entry e, struct channel_consumer *cc, bool no_ack)
{
    if (no_ack)
        queue_settle(q, &e);
    else
        track_unacked(ch, tag, q, e, cc);
}

/* ---- consumers, as the queue sees them ---- */

/* A consumer's window: the per-consumer prefetch it was created with, raised (never lowered)
 * by a later basic.qos global=false. RabbitMQ applies that qos to new consumers only; kombu,
 * seeing a product other than RabbitMQ, raises it while its consumer runs and expects the
 * running consumer to take the new window (the spec's reading), so a raise applies at once. */
static uint16_t consumer_window(const struct channel_consumer *cc)
{
    uint16_t now = cc->ch->consumer_prefetch;
    if (cc->prefetch == 0 || now == 0) /* 0: unlimited */
        return 0;
    return cc->prefetch > now ? cc->prefetch : now;
}

static bool consumer_has_credit(struct consumer *base)
{
    struct channel_consumer *cc = container_of(base, struct channel_consumer, base);
    struct channel *ch = cc->ch;
    if (ch->state != CHANNEL_OPEN || !ch->delivering)
        return false;
    if (output_len(ch->out) >= CONNECTION_OUTPUT_HIGH) {
        connection_hold_deliveries(ch->conn);
        return false;
    }
    if (cc->no_ack) /* RabbitMQ applies prefetch to acknowledged deliveries only */
        return true;
    uint16_t window = consumer_window(cc);
    return (window == 0 || cc->unacked < window) &&
           (ch->channel_prefetch == 0 || ch->consumed_unacked < ch->channel_prefetch);
}

static void consumer_deliver(struct consumer *base, struct queue *q, struct queue_entry e)
{
    struct channel_consumer *cc = container_of(base, struct channel_consumer, base);
    struct channel *ch = cc->ch;
    uint64_t tag = ++ch->last_delivery_tag;
    struct message *msg = queue_entry_message(&e);
    /* only the fields basic.deliver has: zeroing the whole union costs more, once per delivery */
    struct amqp_method m;
    m.id = AMQP_BASIC_DELIVER;
    m.basic_deliver = (struct amqp_basic_deliver){
        .consumer_tag = shortname_bytes(&cc->tag),
        .delivery_tag = tag,
        .redelivered = e.redelivered,
        .exchange = message_exchange(msg),
        .routing_key = message_routing_key(msg),
    };
    send_delivery(ch, &m, q, &e, false);
    count_delivery(q, consumer_queue_stats(cc, q), &e, STAT_DELIVER, cc->no_ack);
    track_delivery(ch, tag, q, e, cc, cc->no_ack);
}

static void consumer_free(struct channel_consumer *cc)
{
    struct channel *ch = cc->ch;
    for (size_t i = ch->unacked_head; i < ch->unacked_len; i++)
        if (ch->unacked[i].consumer == cc)
            ch->unacked[i].consumer = NULL;
    list_remove(&cc->link);
    amqp_bytes_free(cc->arguments);
    free(cc);
}

/* The queue was deleted: tell the client if it listens for that (RabbitMQ's extension). */
static void consumer_queue_deleted(struct consumer *base, struct queue *q)
{
    (void)q;
    struct channel_consumer *cc = container_of(base, struct channel_consumer, base);
    struct channel *ch = cc->ch;
    if (connection_wants_cancel_notify(ch->conn) && ch->state == CHANNEL_OPEN &&
        !channel_hold_cancel(ch, shortname_bytes(&cc->tag))) {
        struct amqp_method m = {.id = AMQP_BASIC_CANCEL};
        m.basic_cancel.consumer_tag = shortname_bytes(&cc->tag);
        m.basic_cancel.no_wait = true;
        channel_send(ch, &m);
    }
    consumer_free(cc);
}

static const struct consumer_ops channel_consumer_ops = {
    .has_credit = consumer_has_credit,
    .deliver = consumer_deliver,
    .queue_deleted = consumer_queue_deleted,
};

static struct channel_consumer *find_consumer(struct channel *ch, struct amqp_bytes tag)
{
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &ch->consumers) {
        struct channel_consumer *cc = list_entry(pos, struct channel_consumer, link);
        if (amqp_bytes_eq(shortname_bytes(&cc->tag), tag))
            return cc;
    }
    return NULL;
}

/* Detaches the consumer from its queue (which may then auto-delete) and frees it. */
static void cancel_consumer(struct channel *ch, struct channel_consumer *cc)
{
    vhost_cancel_consumer(channel_vhost(ch), &cc->base);
    consumer_free(cc);
}

static void basic_consume(struct channel *ch, const struct amqp_basic_consume *m)
{
    struct amqp_bytes name = m->queue;
    struct outcome out;
    if (!channel_expand_queue_name(ch, &name, AMQP_BASIC_CONSUME))
        return;
    /* RabbitMQ refuses a reused tag before it looks at the queue. */
    if (m->consumer_tag.len && find_consumer(ch, m->consumer_tag)) {
        connection_fail(ch->conn, AMQP_NOT_ALLOWED, AMQP_BASIC_CONSUME,
                        "attempt to reuse consumer tag '" NAME_FMT "'", NAME_ARG(m->consumer_tag));
        return;
    }
    char generated[64];
    struct amqp_bytes tag = m->consumer_tag;
    if (tag.len == 0) {
        token_generate(generated, "amq.ctag-");
        tag = amqp_cstr(generated);
    }
    int64_t priority;
    struct queue *q = vhost_consume_target(channel_vhost(ch), name, ch->session, m->exclusive,
                                           m->arguments, &priority, &out);
    if (!q) {
        channel_fail_outcome(ch, AMQP_BASIC_CONSUME, &out);
        return;
    }
    struct channel_consumer *cc = xcalloc(1, sizeof *cc);
    cc->arguments = amqp_bytes_dup(m->arguments);
    cc->ch = ch;
    shortname_set(&cc->tag, tag);
    cc->no_ack = m->no_ack;
    cc->prefetch = ch->consumer_prefetch;
    list_push_back(&ch->consumers, &cc->link);
    if (!m->no_wait) { /* consume-ok goes out before the first delivery */
        struct amqp_method ok = {.id = AMQP_BASIC_CONSUME_OK};
        ok.basic_consume_ok.consumer_tag = tag;
        channel_send(ch, &ok);
    }
    queue_add_consumer(q, &cc->base, &channel_consumer_ops, m->exclusive, priority);
    queue_dispatch(q);
}

static void basic_cancel(struct channel *ch, const struct amqp_basic_cancel *m)
{
    struct channel_consumer *cc = find_consumer(ch, m->consumer_tag);
    if (!m->no_wait) { /* RabbitMQ confirms the cancel of an unknown tag too */
        struct amqp_method ok = {.id = AMQP_BASIC_CANCEL_OK};
        ok.basic_cancel_ok.consumer_tag = m->consumer_tag;
        channel_send(ch, &ok);
    }
    if (cc)
        cancel_consumer(ch, cc);
}

static void basic_get(struct channel *ch, const struct amqp_basic_get *m)
{
    struct amqp_bytes name = m->queue;
    struct outcome out;
    if (!channel_expand_queue_name(ch, &name, AMQP_BASIC_GET))
        return;
    struct queue_entry e;
    bool got;
    struct queue *q = vhost_get(channel_vhost(ch), name, ch->session, &e, &got, &out);
    if (!q) {
        channel_fail_outcome(ch, AMQP_BASIC_GET, &out);
        return;
    }
    if (!got) {
        message_stats_count(&q->stats, STAT_GET_EMPTY);
        message_stats_count(&channel_metrics_queue(&ch->metrics, q)->stats, STAT_GET_EMPTY);
        struct amqp_method empty = {.id = AMQP_BASIC_GET_EMPTY};
        empty.basic_get_empty.reserved_1 = AMQP_BYTES_LIT("");
        channel_send(ch, &empty);
        return;
    }
    uint64_t tag = ++ch->last_delivery_tag;
    struct amqp_method ok = {.id = AMQP_BASIC_GET_OK};
    ok.basic_get_ok.delivery_tag = tag;
    struct message *msg = queue_entry_message(&e);
    ok.basic_get_ok.redelivered = e.redelivered;
    ok.basic_get_ok.exchange = message_exchange(msg);
    ok.basic_get_ok.routing_key = message_routing_key(msg);
    ok.basic_get_ok.message_count = queue_message_count(q);
    send_delivery(ch, &ok, q, &e, true);
    count_delivery(q, &channel_metrics_queue(&ch->metrics, q)->stats, &e, STAT_GET, m->no_ack);
    track_delivery(ch, tag, q, e, NULL, m->no_ack);
}

/* ---- acknowledgements ---- */

static void fail_unknown_tag(struct channel *ch, uint32_t method_id, uint64_t tag)
{
    channel_fail(ch, AMQP_PRECONDITION_FAILED, method_id, "unknown delivery tag %llu",
                 (unsigned long long)tag);
}

/* Applies `how` to one tag or, with multiple, to every unsettled tag up to it (0: all).
 * In a transaction the messages are only marked and settled at commit. */
static void acknowledge(struct channel *ch, uint32_t method_id, uint64_t tag, bool multiple,
                        enum settle_how how)
{
    if (!multiple || tag != 0) {
        struct unacked *u = unacked_find(ch, tag);
        if (!u || u->tx_action) {
            fail_unknown_tag(ch, method_id, tag);
            return;
        }
    }
    struct settlement s = {0};
    for (size_t i = ch->unacked_head; i < ch->unacked_len; i++) {
        struct unacked *u = &ch->unacked[i];
        if (multiple ? (tag != 0 && u->tag > tag) : u->tag != tag)
            continue;
        if (u->settled || u->tx_action)
            continue;
        if (ch->tx)
            u->tx_action = (uint8_t)(how + 1);
        else
            select_unacked(ch, &s, u, how);
        if (!multiple)
            break;
    }
    apply_settlement(ch, &s);
    channel_dispatch_consumers(ch);
}

/* Requeues every unsettled message; with keep_tx, not those a transaction already acked. */
static void requeue_all(struct channel *ch, bool keep_tx)
{
    struct settlement s = {0};
    for (size_t i = ch->unacked_head; i < ch->unacked_len; i++) {
        struct unacked *u = &ch->unacked[i];
        if (!u->settled && !(keep_tx && u->tx_action))
            select_unacked(ch, &s, u, SETTLE_REQUEUE);
    }
    apply_settlement(ch, &s);
}

static void basic_recover(struct channel *ch, uint32_t method_id, bool requeue)
{
    /* RabbitMQ only implements recover with requeue. */
    if (!requeue) {
        connection_fail(ch->conn, AMQP_NOT_IMPLEMENTED, method_id, "requeue=false");
        return;
    }
    requeue_all(ch, true);
    if (method_id == AMQP_BASIC_RECOVER) {
        struct amqp_method ok = {.id = AMQP_BASIC_RECOVER_OK};
        channel_send(ch, &ok);
    }
}

static void basic_qos(struct channel *ch, const struct amqp_basic_qos *m)
{
    /* RabbitMQ implements prefetch_count only; global picks channel-wide (not per connection). */
    if (m->prefetch_size) {
        connection_fail(ch->conn, AMQP_NOT_IMPLEMENTED, AMQP_BASIC_QOS, "prefetch_size!=0 (%u)",
                        m->prefetch_size);
        return;
    }
    /* global=true is per-consumer where the profile says so (RabbitMQ 4.3, model/compat.c) */
    if (m->global && !connection_broker(ch->conn)->config.compat->global_qos_per_consumer)
        ch->channel_prefetch = m->prefetch_count;
    else
        ch->consumer_prefetch = m->prefetch_count;
    struct amqp_method ok = {.id = AMQP_BASIC_QOS_OK};
    channel_send(ch, &ok);
    channel_dispatch_consumers(ch);
}

void channel_basic_method(struct channel *ch, const struct amqp_method *m)
{
    switch (m->id) {
    case AMQP_BASIC_QOS: basic_qos(ch, &m->basic_qos); break;
    case AMQP_BASIC_CONSUME: basic_consume(ch, &m->basic_consume); break;
    case AMQP_BASIC_CANCEL: basic_cancel(ch, &m->basic_cancel); break;
    case AMQP_BASIC_GET: basic_get(ch, &m->basic_get); break;
    case AMQP_BASIC_ACK:
        acknowledge(ch, m->id, m->basic_ack.delivery_tag, m->basic_ack.multiple, SETTLE_ACK);
        break;
    case AMQP_BASIC_NACK:
        acknowledge(ch, m->id, m->basic_nack.delivery_tag, m->basic_nack.multiple,
                    m->basic_nack.requeue ? SETTLE_REQUEUE : SETTLE_DROP);
        break;
    case AMQP_BASIC_REJECT:
        acknowledge(ch, m->id, m->basic_reject.delivery_tag, false,
                    m->basic_reject.requeue ? SETTLE_REQUEUE : SETTLE_DROP);
        break;
    case AMQP_BASIC_RECOVER: basic_recover(ch, m->id, m->basic_recover.requeue); break;
    case AMQP_BASIC_RECOVER_ASYNC: basic_recover(ch, m->id, m->basic_recover_async.requeue); break;
    default: connection_fail(ch->conn, AMQP_COMMAND_INVALID, m->id, "unimplemented method");
    }
}

/* ---- transactions' acknowledgements ---- */

void channel_commit_acks(struct channel *ch)
{
    struct settlement s = {0};
    for (size_t i = ch->unacked_head; i < ch->unacked_len; i++) {
        struct unacked *u = &ch->unacked[i];
        if (!u->settled && u->tx_action)
            select_unacked(ch, &s, u, (enum settle_how)(u->tx_action - 1));
    }
    apply_settlement(ch, &s);
}

void channel_rollback_acks(struct channel *ch)
{
    for (size_t i = ch->unacked_head; i < ch->unacked_len; i++)
        ch->unacked[i].tx_action = 0;
}

/* ---- the end of a channel ---- */

void channel_release_deliveries(struct channel *ch)
{
    while (!list_empty(&ch->consumers))
        cancel_consumer(ch, list_entry(ch->consumers.next, struct channel_consumer, link));
    requeue_all(ch, false);
    deadline_heap_remove(&connection_broker(ch->conn)->deadlines, &ch->ack_timeout);
}
