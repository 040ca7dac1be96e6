/* Answers broker closes and flow control, and runs our side of the close handshake. */
#include "link.h"

#include "session.h"

static void reply(struct stream *s, uint16_t channel, uint32_t id)
{
    struct amqp_method ok = {.id = id};
    stream_put_method(s, channel, &ok);
}

enum link_result link_handle_method(struct stream *s, uint16_t channel, const struct amqp_method *m,
                                    bool *paused, struct errors *e)
{
    char text[ERRORS_TEXT_MAX];
    switch (m->id) {
    case AMQP_CONNECTION_CLOSE: {
        const struct amqp_connection_close *c = &m->connection_close;
        reply(s, 0, AMQP_CONNECTION_CLOSE_OK);
        s->close_sent = true; /* nothing more may be sent but the close-ok */
        s->closed = true;
        if (c->reply_code == AMQP_REPLY_SUCCESS)
            return LINK_OK;
        session_format_close(text, sizeof text, s->name, "connection", c->reply_code,
                             c->reply_text, c->class_id, c->method_id);
        errors_add(e, "%s", text);
        return LINK_FATAL;
    }
    case AMQP_CONNECTION_CLOSE_OK:
        s->closed = true;
        return LINK_OK;
    case AMQP_CHANNEL_CLOSE: {
        const struct amqp_channel_close *c = &m->channel_close;
        session_format_close(text, sizeof text, s->name, "channel", c->reply_code, c->reply_text,
                             c->class_id, c->method_id);
        errors_add(e, "%s", text);
        reply(s, channel, AMQP_CHANNEL_CLOSE_OK);
        return LINK_FATAL;
    }
    case AMQP_CHANNEL_FLOW: {
        struct amqp_method ok = {.id = AMQP_CHANNEL_FLOW_OK,
                                 .channel_flow_ok = {.active = m->channel_flow.active}};
        stream_put_method(s, channel, &ok);
        *paused = !m->channel_flow.active;
        return LINK_OK;
    }
    default:
        return LINK_OK;
    }
}

enum link_result link_decode(struct stream *s, uint16_t channel, struct amqp_bytes payload,
                             struct amqp_method *out, bool *paused, struct errors *e)
{
    struct amqp_error err;
    if (amqp_method_decode(payload, out, &err) != 0) {
        errors_add(e, "%s: undecodable method from broker: %s", s->name, err.text);
        return LINK_FATAL;
    }
    return link_handle_method(s, channel, out, paused, e);
}

void link_begin_close(struct stream *s, uint64_t now_ns)
{
    if (s->close_sent)
        return;
    struct amqp_method close = {.id = AMQP_CONNECTION_CLOSE,
                                .connection_close = {.reply_code = AMQP_REPLY_SUCCESS,
                                                     .reply_text = AMQP_BYTES_LIT("Goodbye")}};
    stream_put_method(s, 0, &close);
    s->close_sent = true;
    s->close_deadline_ns = now_ns + LINK_CLOSE_TIMEOUT_NS;
}

void link_lost(struct stream *s, struct errors *e)
{
    if (!s->close_sent)
        errors_add(e, "%s: the broker closed the socket", s->name);
    s->closed = true;
}
