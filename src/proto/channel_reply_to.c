/* Direct reply-to on a channel, as RabbitMQ 3.10 runs it: consuming and declaring the
 * pseudo-queue, rewriting a request's reply_to, and delivering replies straight to the channel
 * that consumes them, bypassing queues. */
#include <string.h>

#include "amqp_buf.h"
#include "core/token.h"
#include "model/broker.h"
#include "model/exchange.h"
#include "model/vhost.h"
#include "proto/channel_internal.h"
#include "proto/reply_to.h"

/* The broker's registry, created with its first reply consumer. */
static struct reply_registry **registry_home(struct channel *ch)
{
    return &connection_broker(ch->conn)->reply_to;
}

static struct reply_consumer *reply_consumer_of(struct channel *ch)
{
    return reply_registry_of_channel(*registry_home(ch), ch);
}

static bool is_reply_queue(struct amqp_bytes name)
{
    return amqp_bytes_eq(name, AMQP_BYTES_LIT(REPLY_TO_QUEUE));
}

static bool starts_with(struct amqp_bytes name, const char *prefix, size_t len)
{
    return name.len >= len && memcmp(name.ptr, prefix, len) == 0;
}

/* ---- basic.consume and basic.cancel of the pseudo-queue ---- */

static bool tag_in_use(struct channel *ch, struct amqp_bytes tag)
{
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &ch->consumers) {
        struct channel_consumer *cc = list_entry(pos, struct channel_consumer, link);
        if (amqp_bytes_eq(shortname_bytes(&cc->tag), tag))
            return true;
    }
    return false;
}

/* RabbitMQ's order of checks: a reused tag, acknowledgements, then a second reply consumer.
 * Exclusivity and arguments are ignored, as RabbitMQ ignores them here. */
static void consume_replies(struct channel *ch, const struct amqp_basic_consume *m)
{
    if (m->consumer_tag.len && tag_in_use(ch, m->consumer_tag)) {
        connection_fail(ch->conn, AMQP_NOT_ALLOWED, AMQP_BASIC_CONSUME,
                        "attempt to reuse consumer tag '" NAME_FMT "'", NAME_ARG(m->consumer_tag));
        return;
    }
    if (!m->no_ack) {
        channel_fail(ch, AMQP_PRECONDITION_FAILED, AMQP_BASIC_CONSUME,
                     "reply consumer cannot acknowledge");
        return;
    }
    if (reply_consumer_of(ch)) {
        channel_fail(ch, AMQP_PRECONDITION_FAILED, AMQP_BASIC_CONSUME, "reply consumer already set");
        return;
    }
    char generated[sizeof "amq.ctag-" + TOKEN_CHARS];
    struct amqp_bytes tag = m->consumer_tag;
    if (tag.len == 0) {
        token_generate(generated, "amq.ctag-");
        tag = amqp_cstr(generated);
    }
    reply_registry_add(registry_home(ch), ch, tag);
    if (!m->no_wait) {
        struct amqp_method ok = {.id = AMQP_BASIC_CONSUME_OK};
        ok.basic_consume_ok.consumer_tag = tag;
        channel_send(ch, &ok);
    }
}

/* False when the tag is not the reply consumer's: the cancel is for an ordinary consumer. */
static bool cancel_replies(struct channel *ch, const struct amqp_basic_cancel *m)
{
    struct reply_consumer *rc = reply_consumer_of(ch);
    if (!rc || !amqp_bytes_eq(shortname_bytes(&rc->tag), m->consumer_tag))
        return false;
    reply_registry_remove(registry_home(ch), rc);
    if (!m->no_wait) {
        struct amqp_method ok = {.id = AMQP_BASIC_CANCEL_OK};
        ok.basic_cancel_ok.consumer_tag = m->consumer_tag;
        channel_send(ch, &ok);
    }
    return true;
}

bool channel_reply_to_basic_method(struct channel *ch, const struct amqp_method *m)
{
    if (m->id == AMQP_BASIC_CANCEL)
        return cancel_replies(ch, &m->basic_cancel);
    /* RabbitMQ resolves an empty queue name (the last declared queue) first. */
    struct amqp_bytes queue = m->basic_consume.queue;
    if (queue.len == 0)
        queue = shortname_bytes(&ch->last_queue);
    if (!is_reply_queue(queue))
        return false;
    consume_replies(ch, &m->basic_consume);
    return true;
}

void channel_reply_to_release(struct channel *ch)
{
    struct reply_consumer *rc = reply_consumer_of(ch);
    if (rc)
        reply_registry_remove(registry_home(ch), rc);
}

/* ---- queue.declare of the pseudo-queue ---- */

/* The pseudo-queue, and any live reply name (from any connection), declare as a queue with no
 * messages and one consumer, whatever the flags and arguments, passive or not; any other name
 * under the prefix is not found. Spring AMQP probes for direct reply-to this way. */
bool channel_reply_to_declare(struct channel *ch, const struct amqp_queue_declare *m)
{
    if (!starts_with(m->queue, REPLY_TO_QUEUE, sizeof REPLY_TO_QUEUE - 1))
        return false;
    /* A channel's own reply name is found too, where RabbitMQ 3.10 fails with 541 (the
     * channel calls itself). */
    if (!is_reply_queue(m->queue) && !reply_registry_find(*registry_home(ch), m->queue)) {
        channel_fail(ch, AMQP_NOT_FOUND, AMQP_QUEUE_DECLARE, "no queue '" NAME_FMT "' in vhost '%s'",
                     NAME_ARG(m->queue), channel_vhost(ch)->name);
        return true;
    }
    shortname_set(&ch->last_queue, m->queue);
    if (!m->no_wait) {
        struct amqp_method ok = {.id = AMQP_QUEUE_DECLARE_OK};
        ok.queue_declare_ok.queue = m->queue;
        ok.queue_declare_ok.message_count = 0;
        ok.queue_declare_ok.consumer_count = 1;
        channel_send(ch, &ok);
    }
    return true;
}

/* ---- requests: reply_to = amq.rabbitmq.reply-to ---- */

struct message *channel_reply_to_request(struct channel *ch, struct message *msg,
                                         struct amqp_content_header *h)
{
    struct reply_consumer *rc = reply_consumer_of(ch);
    if (!rc || !is_reply_queue(h->props.reply_to))
        return msg; /* without a reply consumer refused once the content is in */
    h->props.reply_to = reply_consumer_name(rc);
    struct amqp_buf header;
    amqp_buf_init(&header);
    amqp_content_header_encode(&header, h);
    struct message *copy = message_new(message_exchange(msg), message_routing_key(msg),
                                       amqp_bytes_of(header.data, header.len), h->body_size,
                                       ch->incoming_capacity);
    amqp_buf_free(&header);
    message_unref(msg);
    return copy;
}

bool channel_reply_to_refuses(struct channel *ch, const struct message *msg)
{
    struct amqp_basic_properties props;
    message_properties(msg, &props);
    if (!is_reply_queue(props.reply_to))
        return false; /* rewritten, or an ordinary reply_to */
    /* RabbitMQ checks the exchange first: that publish fails on it instead. */
    struct exchange *x = vhost_find_exchange(channel_vhost(ch), message_exchange(msg));
    if (!x || x->internal)
        return false;
    channel_fail(ch, AMQP_PRECONDITION_FAILED, AMQP_BASIC_PUBLISH,
                 "fast reply consumer does not exist");
    return true;
}

/* ---- replies: published to the default exchange with a reply name as routing key ---- */

void channel_reply_to_deliver(struct channel *ch, struct message *msg)
{
    struct reply_consumer *rc = reply_registry_find(*registry_home(ch), message_routing_key(msg));
    if (!rc)
        return; /* a stale or made-up name: RabbitMQ drops the reply */
    struct channel *to = rc->ch;
    if (to->state != CHANNEL_OPEN || !to->delivering)
        return;
    struct amqp_method m = {.id = AMQP_BASIC_DELIVER};
    m.basic_deliver.consumer_tag = shortname_bytes(&rc->tag);
    /* RabbitMQ gives a reply the channel's next delivery tag without using it up, so the next
     * delivery or get carries the same tag. */
    m.basic_deliver.delivery_tag = to->last_delivery_tag + 1;
    m.basic_deliver.exchange = message_exchange(msg);
    m.basic_deliver.routing_key = message_routing_key(msg);
    channel_send_with_content(to, &m, msg);
}
