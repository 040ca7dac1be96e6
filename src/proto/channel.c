/* An AMQP channel: its lifecycle (open, flow, close) and the methods it carries. */
#include "proto/channel.h"

#include <stdlib.h>

#include "proto/connection_internal.h"

static const char NON_METHOD[] = "expected method frame, got non method frame instead";

static void channel_open(struct connection *c, uint16_t id)
{
    /* RabbitMQ reads channel_max as a count of open channels, not a bound on ids. */
    if (c->channel_count >= c->channel_max) {
        connection_fail(c, AMQP_NOT_ALLOWED, 0,
                        "number of channels opened (%u) has reached the negotiated channel_max (%u)",
                        c->channel_count, c->channel_max);
        return;
    }
    struct channel *ch = calloc(1, sizeof *ch);
    if (!ch)
        abort();
    ch->conn = c;
    ch->id = id;
    ch->state = CHANNEL_OPEN;
    connection_set_channel(c, id, ch);
    struct amqp_method ok = {.id = AMQP_CHANNEL_OPEN_OK};
    ok.channel_open_ok.reserved_1 = AMQP_BYTES_LIT("");
    connection_send_method(c, id, &ok);
}

void channel_free(struct channel *ch)
{
    free(ch);
}

static void channel_forget(struct channel *ch)
{
    connection_set_channel(ch->conn, ch->id, NULL);
    channel_free(ch);
}

static void send_close_ok(struct channel *ch)
{
    struct amqp_method m = {.id = AMQP_CHANNEL_CLOSE_OK};
    connection_send_method(ch->conn, ch->id, &m);
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
    connection_send_method(ch->conn, ch->id, &ok);
}

static void handle_method(struct channel *ch, const struct amqp_method *m)
{
    struct connection *c = ch->conn;
    switch (m->id) {
    case AMQP_CHANNEL_OPEN:
        connection_fail(c, AMQP_CHANNEL_ERROR, m->id, "second 'channel.open' seen");
        break;
    case AMQP_CHANNEL_CLOSE:
        send_close_ok(ch);
        channel_forget(ch);
        break;
    case AMQP_CHANNEL_FLOW:
        handle_flow(ch, &m->channel_flow);
        break;
    default:
        if ((m->id >> 16) == AMQP_CLASS_CONNECTION || (m->id >> 16) == AMQP_CLASS_CHANNEL)
            connection_fail(c, AMQP_COMMAND_INVALID, m->id, "unimplemented method");
        else
            connection_fail(c, AMQP_NOT_IMPLEMENTED, m->id, "'%s' is not supported yet",
                            amqp_method_name(m->id));
    }
}

/* After we sent channel.close, methods are dropped but for close-ok, a crossing close, and a
 * reopen, which RabbitMQ still treats as a second channel.open. */
static void handle_closing(struct channel *ch, const struct amqp_method *m)
{
    switch (m->id) {
    case AMQP_CHANNEL_CLOSE_OK: channel_forget(ch); break;
    case AMQP_CHANNEL_CLOSE: send_close_ok(ch); break;
    case AMQP_CHANNEL_OPEN:
        connection_fail(ch->conn, AMQP_CHANNEL_ERROR, m->id, "second 'channel.open' seen");
        break;
    default: break;
    }
}

void channel_handle_frame(struct connection *c, const struct amqp_frame *f)
{
    struct channel *ch = connection_channel(c, f->channel);
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
        handle_closing(ch, &m);
    } else {
        handle_method(ch, &m);
    }
}
