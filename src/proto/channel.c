/* An AMQP channel: lifecycle, content assembly, and the methods it maps onto the broker model. */
#include "proto/channel.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp_wire.h"
#include "core/alloc.h"
#include "model/broker.h"
#include "model/session.h"
#include "proto/channel_internal.h"
#include "proto/fault.h"

static const char NON_METHOD[] = "expected method frame, got non method frame instead";

/* What a content header alone may make us allocate for its body. */
#define BODY_FIRST_ALLOCATION (1u << 20)

struct amqp_bytes shortname_bytes(const struct shortname *n)
{
    return amqp_bytes_of(n->data, n->len);
}

void shortname_set(struct shortname *n, struct amqp_bytes b)
{
    n->len = (uint8_t)(b.len > 255 ? 255 : b.len);
    memcpy(n->data, b.ptr, n->len);
}

struct vhost *channel_vhost(struct channel *ch)
{
    return ch->vhost;
}

void channel_send(struct channel *ch, const struct amqp_method *m)
{
    connection_send_method(ch->conn, ch->id, m);
}

static void channel_open(struct connection *c, uint16_t id)
{
    /* RabbitMQ reads channel_max as a count of open channels, not a bound on ids. */
    if (connection_channel_count(c) >= connection_channel_max(c)) {
        connection_fail(c, AMQP_NOT_ALLOWED, 0,
                        "number of channels opened (%u) has reached the negotiated channel_max (%u)",
                        connection_channel_count(c), connection_channel_max(c));
        return;
    }
    struct outcome out;
    if (!session_open_channel(connection_session(c), &out)) {
        connection_fail(c, out.code, 0, "%s", out.text);
        return;
    }
    struct channel *ch = xcalloc(1, sizeof *ch);
    ch->conn = c;
    ch->vhost = connection_vhost(c);
    ch->session = connection_session(c);
    ch->out = connection_output(c);
    ch->faults = connection_faults_slot(c);
    ch->delivering = true;
    ch->frame_max = connection_frame_max(c);
    ch->id = id;
    ch->state = CHANNEL_OPEN;
    ch->origin = (struct firehose_origin){connection_log_name(c), ch->session->user_name, id};
    list_init(&ch->consumers);
    list_init(&ch->tx_ops);
    list_init(&ch->dirty_link);
    list_init(&ch->disk_waiter.link);
    list_init(&ch->defs_reply.waiter.link);
    confirms_init(&ch->confirms);
    channel_metrics_init(&ch->metrics);
    connection_broker(c)->churn.channels_opened++;
    connection_set_channel(c, id, ch);
    struct amqp_method ok = {.id = AMQP_CHANNEL_OPEN_OK};
    ok.channel_open_ok.reserved_1 = AMQP_BYTES_LIT("");
    channel_send(ch, &ok);
}

/* The channel's part of the connection going, or of a channel exception: what it holds goes
 * back (unacked messages requeued, consumers cancelled, a transaction's publishes dropped). */
static void channel_release(struct channel *ch)
{
    ch->delivering = false; /* what its consumers let go may go to others, never back here */
    channel_release_deliveries(ch);
    channel_release_publishes(ch);
    channel_reply_to_release(ch);
    list_remove(&ch->dirty_link);
}

static void drop_incoming(struct channel *ch)
{
    if (ch->incoming)
        message_unref(ch->incoming);
    ch->incoming = NULL;
    ch->content = EXPECT_METHOD;
}

void channel_free(struct channel *ch)
{
    if (!ch)
        return;
    drop_incoming(ch);
    channel_release(ch);
    free(ch->unacked);
    if (store_waiter_waiting(&ch->disk_waiter))
        store_waiter_cancel(&ch->disk_waiter);
    free(ch->disk_waits);
    channel_drop_defs_reply(ch);
    struct broker *b = connection_broker(ch->conn);
    struct message_stats totals;
    channel_stats(ch, &totals);
    message_stats_add(&b->retired_stats, &totals);
    b->churn.retired_received_confirm += channel_received_confirm(ch);
    b->churn.channels_closed++;
    confirms_free(&ch->confirms);
    channel_metrics_free(&ch->metrics);
    session_close_channel(ch->session);
    free(ch);
}

void channel_stats(const struct channel *ch, struct message_stats *out)
{
    *out = (struct message_stats){0};
    channel_metrics_sum(&ch->metrics, out);
}

static void channel_forget(struct channel *ch)
{
    connection_set_channel(ch->conn, ch->id, NULL);
    channel_free(ch);
}

static void close_text(struct channel *ch, uint16_t code, uint32_t method_id, struct amqp_bytes text)
{
    log_warning(&connection_broker(ch->conn)->log, "channel %u of connection %s: " NAME_FMT, ch->id,
                connection_log_name(ch->conn), NAME_ARG(text));
    struct amqp_method m = {.id = AMQP_CHANNEL_CLOSE};
    m.channel_close.reply_code = code;
    m.channel_close.reply_text = text;
    m.channel_close.class_id = (uint16_t)(method_id >> 16);
    m.channel_close.method_id = (uint16_t)method_id;
    channel_send(ch, &m);
    ch->state = CHANNEL_CLOSING;
    drop_incoming(ch);
    channel_release(ch);
}

/* Closes the channel with RabbitMQ's reply text for code and detail. */
static void close_with(struct channel *ch, uint16_t code, uint32_t method_id, const char *detail)
{
    char buf[AMQP_REPLY_TEXT_SIZE];
    close_text(ch, code, method_id, amqp_reply_text(buf, code, detail));
}

void channel_close_as_given(struct channel *ch, uint16_t code, uint32_t method_id, const char *text)
{
    close_text(ch, code, method_id, amqp_bytes_of(text, strlen(text)));
}

bool channel_fault_refuses(struct channel *ch, uint32_t method_id)
{
    uint16_t code;
    char text[256];
    if (!fault_take_error(ch->conn, method_id, &code, text, sizeof text))
        return false;
    channel_close_as_given(ch, code, method_id, text);
    return true;
}

void channel_fail(struct channel *ch, uint16_t code, uint32_t method_id, const char *fmt, ...)
{
    char detail[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    close_with(ch, code, method_id, detail);
}

void channel_fail_outcome(struct channel *ch, uint32_t method_id, const struct outcome *out)
{
    if (out->connection)
        connection_fail(ch->conn, out->code, method_id, "%s", out->text);
    else
        close_with(ch, out->code, method_id, out->text);
}

static void send_close_ok(struct channel *ch)
{
    struct amqp_method m = {.id = AMQP_CHANNEL_CLOSE_OK};
    channel_send(ch, &m);
}

static void handle_flow(struct channel *ch, const struct amqp_channel_flow *m)
{
    /* RabbitMQ refuses to let a client stop the flow of deliveries. */
    if (!m->active) {
        connection_fail(ch->conn, AMQP_NOT_IMPLEMENTED, AMQP_CHANNEL_FLOW, "active=false");
        return;
    }
    struct amqp_method ok = {.id = AMQP_CHANNEL_FLOW_OK};
    ok.channel_flow_ok.active = true;
    channel_send(ch, &ok);
}

static void handle_channel_method(struct channel *ch, const struct amqp_method *m)
{
    switch (m->id) {
    case AMQP_CHANNEL_OPEN:
        connection_fail(ch->conn, AMQP_CHANNEL_ERROR, m->id, "second 'channel.open' seen");
        break;
    case AMQP_CHANNEL_CLOSE:
        channel_flush_confirms(ch); /* owed acks precede close-ok */
        send_close_ok(ch);
        channel_forget(ch);
        break;
    case AMQP_CHANNEL_FLOW:
        handle_flow(ch, &m->channel_flow);
        break;
    default: /* close-ok, open-ok, flow-ok: not the client's to send here */
        connection_fail(ch->conn, AMQP_COMMAND_INVALID, m->id, "unimplemented method");
    }
}

static void handle_method(struct channel *ch, const struct amqp_method *m)
{
    switch (m->id >> 16) {
    case AMQP_CLASS_CHANNEL: handle_channel_method(ch, m); break;
    case AMQP_CLASS_EXCHANGE: channel_exchange_method(ch, m); break;
    case AMQP_CLASS_QUEUE: channel_queue_method(ch, m); break;
    case AMQP_CLASS_BASIC:
        /* The pseudo-queue's consumer lives here, not on a queue. */
        if ((m->id == AMQP_BASIC_CONSUME || m->id == AMQP_BASIC_CANCEL) &&
            ((m->id == AMQP_BASIC_CONSUME && channel_fault_refuses(ch, m->id)) ||
             channel_reply_to_basic_method(ch, m)))
            break;
        channel_basic_method(ch, m);
        break;
    case AMQP_CLASS_CONFIRM: channel_confirm_method(ch, m); break;
    case AMQP_CLASS_TX: channel_tx_method(ch, m); break;
    default: connection_fail(ch->conn, AMQP_COMMAND_INVALID, m->id, "unimplemented method");
    }
}

/* After we sent channel.close, methods are dropped but for close-ok, a crossing close, and a
 * reopen, which RabbitMQ still treats as a second channel.open. Content still has to arrive in
 * order, as RabbitMQ's frame assembler keeps running. */
static void handle_closing_method(struct channel *ch, const struct amqp_method *m)
{
    switch (m->id) {
    case AMQP_CHANNEL_CLOSE_OK: channel_forget(ch); return;
    case AMQP_CHANNEL_CLOSE: send_close_ok(ch); return;
    case AMQP_CHANNEL_OPEN:
        connection_fail(ch->conn, AMQP_CHANNEL_ERROR, m->id, "second 'channel.open' seen");
        return;
    default:
        if (amqp_method_has_content(m->id)) {
            ch->content_method = m->id;
            ch->content = EXPECT_HEADER;
        }
    }
}

/* ---- content assembly: method, header, bodies ---- */

static void begin_content(struct channel *ch, const struct amqp_method *m)
{
    const struct amqp_basic_publish *p = &m->basic_publish;
    shortname_set(&ch->publish_exchange, p->exchange);
    shortname_set(&ch->publish_routing_key, p->routing_key);
    ch->publish_mandatory = p->mandatory;
    ch->content_method = m->id;
    ch->content = EXPECT_HEADER;
}

static void content_complete(struct channel *ch)
{
    struct message *msg = ch->incoming;
    uint64_t size = ch->incoming_size;
    ch->incoming = NULL;
    ch->content = EXPECT_METHOD;
    if (ch->state == CHANNEL_CLOSING) {
        if (msg)
            message_unref(msg);
        return;
    }
    if (ch->content_method != AMQP_BASIC_PUBLISH) {
        /* A client sent a server-only content method: refused once its content is in. */
        if (msg)
            message_unref(msg);
        connection_fail(ch->conn, AMQP_COMMAND_INVALID, ch->content_method, "unimplemented method");
        return;
    }
    if (!msg) {
        channel_fail(ch, AMQP_PRECONDITION_FAILED, AMQP_BASIC_PUBLISH,
                     "message size %llu is larger than configured max size %llu",
                     (unsigned long long)size,
                     (unsigned long long)connection_broker(ch->conn)->config.max_message_size);
        return;
    }
    channel_publish(ch, msg);
}

static void handle_header(struct channel *ch, const struct amqp_frame *f)
{
    struct connection *c = ch->conn;
    struct amqp_content_header h;
    struct amqp_error err;
    uint16_t class_id = amqp_get_u16(f->payload.ptr);
    if (class_id != AMQP_CLASS_BASIC) {
        connection_fail(c, AMQP_UNEXPECTED_FRAME, AMQP_BASIC_PUBLISH,
                        "expected content header for class 60, got one for class %u instead",
                        class_id);
        return;
    }
    if (amqp_get_u16(f->payload.ptr + 2) != 0) {
        connection_fail(c, AMQP_UNEXPECTED_FRAME, AMQP_BASIC_PUBLISH,
                        "expected content header for class 60, got non content header frame instead");
        return;
    }
    if (amqp_content_header_decode(f->payload, &h, &err)) {
        connection_fail(c, AMQP_FRAME_ERROR, AMQP_BASIC_PUBLISH, "%s", err.text);
        return;
    }
    ch->incoming_size = h.body_size;
    ch->incoming_received = 0;
    ch->incoming = NULL;
    /* RabbitMQ refuses an oversized message once its body is in; its bytes are dropped. */
    /* Room for the body is made as it arrives: a header alone cannot claim 128 MiB. */
    ch->incoming_capacity = h.body_size < BODY_FIRST_ALLOCATION ? h.body_size : BODY_FIRST_ALLOCATION;
    if (h.body_size <= connection_broker(c)->config.max_message_size && ch->state == CHANNEL_OPEN) {
        ch->incoming = message_new(shortname_bytes(&ch->publish_exchange),
                                   shortname_bytes(&ch->publish_routing_key), f->payload,
                                   h.body_size, ch->incoming_capacity);
        if (h.props.reply_to.len) /* rewritten now, while there is no body to copy */
            ch->incoming = channel_reply_to_request(ch, ch->incoming, &h);
    }
    ch->content = EXPECT_BODY;
    if (h.body_size == 0)
        content_complete(ch);
}

static void handle_body(struct channel *ch, const struct amqp_frame *f)
{
    uint64_t left = ch->incoming_size - ch->incoming_received;
    if (f->payload.len > left) {
        /* RabbitMQ would wait forever for a body that cannot end; we say what went wrong. */
        connection_fail(ch->conn, AMQP_UNEXPECTED_FRAME, AMQP_BASIC_PUBLISH,
                        "content body of %zu octets exceeds the %llu announced", f->payload.len,
                        (unsigned long long)left);
        return;
    }
    if (ch->incoming) {
        uint64_t need = ch->incoming_received + f->payload.len;
        if (need > ch->incoming_capacity) {
            uint64_t cap = ch->incoming_capacity * 2 > need ? ch->incoming_capacity * 2 : need;
            ch->incoming_capacity = cap < ch->incoming_size ? cap : ch->incoming_size;
            ch->incoming = message_grow(ch->incoming, ch->incoming_capacity);
        }
        message_write_body(ch->incoming, ch->incoming_received, f->payload);
    }
    ch->incoming_received += f->payload.len;
    if (ch->incoming_received == ch->incoming_size)
        content_complete(ch);
}

static void handle_content_frame(struct channel *ch, const struct amqp_frame *f)
{
    struct connection *c = ch->conn;
    if (ch->content == EXPECT_HEADER && f->type != AMQP_FRAME_HEADER) {
        connection_fail(c, AMQP_UNEXPECTED_FRAME, AMQP_BASIC_PUBLISH,
                        "expected content header for class 60, got non content header frame instead");
    } else if (ch->content == EXPECT_BODY && f->type != AMQP_FRAME_BODY) {
        connection_fail(c, AMQP_UNEXPECTED_FRAME, AMQP_BASIC_PUBLISH,
                        "expected content body, got non content body frame instead");
    } else if (f->type == AMQP_FRAME_HEADER) {
        handle_header(ch, f);
    } else {
        handle_body(ch, f);
    }
}

void channel_handle_frame(struct connection *c, const struct amqp_frame *f)
{
    struct channel *ch = connection_channel(c, f->channel);
    if (ch && ch->content != EXPECT_METHOD) {
        handle_content_frame(ch, f);
        return;
    }
    if (f->type != AMQP_FRAME_METHOD) {
        connection_fail(c, AMQP_UNEXPECTED_FRAME, 0, "%s", NON_METHOD);
        return;
    }
    struct amqp_method m;
    struct amqp_error err;
    if (amqp_method_decode(f->payload, &m, &err)) {
        connection_fail_decode(c, f, &err);
        return;
    }
    if (!ch) {
        if (m.id == AMQP_CHANNEL_OPEN)
            channel_open(c, f->channel);
        else
            connection_fail(c, AMQP_CHANNEL_ERROR, m.id, "expected 'channel.open'");
    } else if (ch->state == CHANNEL_CLOSING) {
        handle_closing_method(ch, &m);
    } else if (m.id == AMQP_BASIC_PUBLISH) {
        /* RabbitMQ acts on a publish once its content is in; immediate is refused first. */
        if (m.basic_publish.immediate)
            connection_fail(c, AMQP_NOT_IMPLEMENTED, m.id, "immediate=true");
        else
            begin_content(ch, &m);
    } else if (amqp_method_has_content(m.id)) {
        ch->content_method = m.id; /* RabbitMQ waits for the content, then refuses it */
        ch->content = EXPECT_HEADER;
    } else {
        handle_method(ch, &m);
    }
}
