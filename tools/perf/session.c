/* Blocking AMQP client steps used before and after the measured run. */
#include "session.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "amqp_table.h"
#include "clock.h"

static enum session_result fail(struct session_failure *why, uint16_t code, const char *fmt,
                                const char *who, const char *detail)
{
    why->code = code;
    snprintf(why->text, sizeof why->text, fmt, who, detail);
    return SESSION_FAILED;
}

void session_format_close(char *out, size_t size, const char *who, const char *what,
                          uint16_t code, struct amqp_bytes text, uint16_t class_id,
                          uint16_t method_id)
{
    const char *method = amqp_method_name((uint32_t)class_id << 16 | method_id);
    int n = snprintf(out, size, "%s: broker closed the %s: %u %.*s", who, what, code,
                     (int)text.len, (const char *)text.ptr);
    if (method && n > 0 && (size_t)n < size)
        snprintf(out + n, size - (size_t)n, " (%s)", method);
}

static int remaining_ms(uint64_t deadline)
{
    uint64_t now = clock_now_ns();
    return now >= deadline ? 0 : (int)((deadline - now) / 1000000 + 1);
}

static int wait_fd(struct stream *s, short events, uint64_t deadline)
{
    struct pollfd p = {.fd = s->fd, .events = events};
    int rc = poll(&p, 1, remaining_ms(deadline));
    return rc > 0 ? 0 : -1;
}

static enum session_result flush_all(struct stream *s, struct session_failure *why)
{
    uint64_t deadline = clock_now_ns() + SESSION_TIMEOUT_MS * 1000000ull;
    for (;;) {
        int rc = stream_flush(s);
        if (rc == 1)
            return SESSION_OK;
        if (rc < 0)
            return fail(why, 0, "%s: %s", s->name, "write failed (connection reset)");
        if (wait_fd(s, POLLOUT, deadline) < 0)
            return fail(why, 0, "%s: %s", s->name, "timed out writing");
    }
}

static enum session_result next_frame(struct stream *s, struct amqp_frame *f,
                                      struct session_failure *why)
{
    uint64_t deadline = clock_now_ns() + SESSION_TIMEOUT_MS * 1000000ull;
    for (;;) {
        const uint8_t *p = s->in + s->in_off;
        size_t len = s->in_len - s->in_off;
        if (len >= 4 && memcmp(p, "AMQP", 4) == 0)
            return fail(why, 0, "%s: %s", s->name, "broker refused the protocol version");
        struct amqp_error err;
        long n = amqp_frame_read(p, len, s->frame_max, f, &err);
        if (n > 0) {
            s->in_off += (size_t)n;
            return SESSION_OK;
        }
        if (n < 0)
            return fail(why, err.code, "%s: bad frame from broker: %s", s->name, err.text);
        stream_compact(s);
        stream_reserve_input(s, (size_t)s->frame_max + AMQP_FRAME_OVERHEAD);
        ssize_t got = stream_read(s);
        if (got < 0)
            return fail(why, 0, "%s: %s", s->name, "the broker closed the socket");
        if (got == 0 && wait_fd(s, POLLIN, deadline) < 0)
            return fail(why, 0, "%s: %s", s->name, "timed out waiting for the broker");
    }
}

static enum session_result send_method(struct stream *s, uint16_t channel,
                                       const struct amqp_method *m, struct session_failure *why)
{
    stream_put_method(s, channel, m);
    return flush_all(s, why);
}

/* Waits for method `want` on `channel`, answering closes and skipping everything else. */
static enum session_result wait_method(struct stream *s, uint16_t channel, uint32_t want,
                                       struct amqp_method *out, struct session_failure *why)
{
    for (;;) {
        struct amqp_frame f;
        if (next_frame(s, &f, why) != SESSION_OK)
            return SESSION_FAILED;
        if (f.type != AMQP_FRAME_METHOD)
            continue;
        struct amqp_error err;
        if (amqp_method_decode(f.payload, out, &err) != 0)
            return fail(why, err.code, "%s: undecodable method from broker: %s", s->name, err.text);
        if (out->id == AMQP_CONNECTION_CLOSE) {
            const struct amqp_connection_close *c = &out->connection_close;
            why->code = c->reply_code;
            session_format_close(why->text, sizeof why->text, s->name, "connection", c->reply_code,
                                 c->reply_text, c->class_id, c->method_id);
            struct amqp_method ok = {.id = AMQP_CONNECTION_CLOSE_OK};
            send_method(s, 0, &ok, &(struct session_failure){0});
            return SESSION_FAILED;
        }
        if (out->id == AMQP_CHANNEL_CLOSE && f.channel == channel) {
            const struct amqp_channel_close *c = &out->channel_close;
            why->code = c->reply_code;
            session_format_close(why->text, sizeof why->text, s->name, "channel", c->reply_code,
                                 c->reply_text, c->class_id, c->method_id);
            struct amqp_method ok = {.id = AMQP_CHANNEL_CLOSE_OK};
            if (send_method(s, channel, &ok, &(struct session_failure){0}) != SESSION_OK)
                return SESSION_FAILED;
            return SESSION_CHANNEL_CLOSED;
        }
        if (out->id == want && f.channel == channel)
            return SESSION_OK;
    }
}

static void put_client_properties(struct amqp_buf *b, const char *name)
{
    size_t table = amqp_table_begin(b);
    amqp_table_put_cstr(b, "product", "warren-perf");
    amqp_table_put_cstr(b, "version", "0.1");
    amqp_table_put_cstr(b, "platform", "C11/epoll");
    amqp_table_put_cstr(b, "connection_name", name);
    size_t caps = amqp_table_begin_nested(b, "capabilities");
    amqp_table_put_bool(b, "publisher_confirms", true);
    amqp_table_put_bool(b, "basic.nack", true);
    amqp_table_put_bool(b, "consumer_cancel_notify", true);
    amqp_table_put_bool(b, "connection.blocked", true);
    amqp_table_put_bool(b, "authentication_failure_close", true);
    amqp_table_end(b, caps);
    amqp_table_end(b, table);
}

static enum session_result handshake(struct stream *s, const struct uri *u,
                                     struct session_failure *why)
{
    amqp_buf_put(&s->out, amqp_protocol_header, sizeof amqp_protocol_header);
    if (flush_all(s, why) != SESSION_OK)
        return SESSION_FAILED;
    struct amqp_method m;
    if (wait_method(s, 0, AMQP_CONNECTION_START, &m, why) != SESSION_OK)
        return SESSION_FAILED;

    struct amqp_buf props, response;
    amqp_buf_init(&props);
    amqp_buf_init(&response);
    put_client_properties(&props, s->name);
    amqp_buf_put_u8(&response, 0);
    amqp_buf_put(&response, u->user, strlen(u->user));
    amqp_buf_put_u8(&response, 0);
    amqp_buf_put(&response, u->password, strlen(u->password));
    /* The table encoder wrote a length prefix; the method struct wants the body. */
    struct amqp_method start_ok = {
        .id = AMQP_CONNECTION_START_OK,
        .connection_start_ok = {.client_properties = amqp_bytes_of(props.data + 4, props.len - 4),
                                .mechanism = AMQP_BYTES_LIT("PLAIN"),
                                .response = amqp_bytes_of(response.data, response.len),
                                .locale = AMQP_BYTES_LIT("en_US")},
    };
    enum session_result rc = send_method(s, 0, &start_ok, why);
    amqp_buf_free(&props);
    amqp_buf_free(&response);
    if (rc != SESSION_OK || wait_method(s, 0, AMQP_CONNECTION_TUNE, &m, why) != SESSION_OK)
        return SESSION_FAILED;

    uint32_t frame_max = m.connection_tune.frame_max ? m.connection_tune.frame_max : 131072;
    struct amqp_method tune_ok = {
        .id = AMQP_CONNECTION_TUNE_OK,
        .connection_tune_ok = {.channel_max = m.connection_tune.channel_max,
                               .frame_max = frame_max,
                               .heartbeat = 0},
    };
    if (send_method(s, 0, &tune_ok, why) != SESSION_OK)
        return SESSION_FAILED;
    s->frame_max = frame_max;
    stream_reserve_input(s, (size_t)frame_max + AMQP_FRAME_OVERHEAD);

    struct amqp_method open = {.id = AMQP_CONNECTION_OPEN,
                               .connection_open = {.virtual_host = amqp_cstr(u->vhost)}};
    if (send_method(s, 0, &open, why) != SESSION_OK ||
        wait_method(s, 0, AMQP_CONNECTION_OPEN_OK, &m, why) != SESSION_OK)
        return SESSION_FAILED;
    return SESSION_OK;
}

enum session_result session_reopen_channel(struct stream *s, struct session_failure *why)
{
    struct amqp_method open = {.id = AMQP_CHANNEL_OPEN}, reply;
    if (send_method(s, SESSION_CHANNEL, &open, why) != SESSION_OK)
        return SESSION_FAILED;
    return wait_method(s, SESSION_CHANNEL, AMQP_CHANNEL_OPEN_OK, &reply, why);
}

enum session_result session_open(struct stream *s, const struct uri *u, struct ssl_ctx_st *tls,
                                 const char *name, struct session_failure *why)
{
    why->code = 0;
    why->text[0] = '\0';
    char err[256];
    if (stream_connect(s, u, tls, name, err, sizeof err) < 0)
        return fail(why, 0, "%s: %s", name, err);
    if (handshake(s, u, why) != SESSION_OK)
        return SESSION_FAILED;
    return session_reopen_channel(s, why) == SESSION_OK ? SESSION_OK : SESSION_FAILED;
}

enum session_result session_call(struct stream *s, const struct amqp_method *m, uint32_t reply_id,
                                 struct amqp_method *reply, struct session_failure *why)
{
    if (send_method(s, SESSION_CHANNEL, m, why) != SESSION_OK)
        return SESSION_FAILED;
    return wait_method(s, SESSION_CHANNEL, reply_id, reply, why);
}

void session_close(struct stream *s)
{
    if (s->fd < 0)
        return;
    struct session_failure ignored;
    struct amqp_method close = {.id = AMQP_CONNECTION_CLOSE,
                                .connection_close = {.reply_code = AMQP_REPLY_SUCCESS,
                                                     .reply_text = AMQP_BYTES_LIT("Goodbye")}};
    struct amqp_method reply;
    if (send_method(s, 0, &close, &ignored) == SESSION_OK)
        wait_method(s, 0, AMQP_CONNECTION_CLOSE_OK, &reply, &ignored);
    stream_close(s);
}
