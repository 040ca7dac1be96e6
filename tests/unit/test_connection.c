/* Unit tests for the connection and channel state machines, driven through a fake transport. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "amqp_frame.h"
#include "amqp_spec.h"
#include "amqp_table.h"
#include "model/broker.h"
#include "model/definitions_ops.h"
#include "proto/connection.h"
#include "proto/fault.h"

/* ---- the fake transport, and the client on the other end of it ---- */

struct peer {
    uv_loop_t loop;
    struct broker broker;
    struct connection *conn;
    unsigned flushes;
    bool closed;    /* io.close was called: no more reading, the socket goes next */
    bool destroyed; /* and connection_destroy followed, as a transport does once closed */
    bool paused;    /* io.pause_reading: client bytes wait in `held` */
    bool not_reading; /* the client takes none of the server's bytes: its output stays queued */
    struct amqp_buf held;
    struct amqp_buf rx; /* server bytes not read yet, from rx_off */
    size_t rx_off;
    struct amqp_buf frame; /* a copy of the last frame's payload: what decoded slices point at */
    struct amqp_buf tx;    /* client frames being built */
    uv_buf_t *iov;
    unsigned iov_cap;
    uint32_t frame_max; /* negotiated */
};

static void io_flush(void *ctx)
{
    ((struct peer *)ctx)->flushes++;
}

static void io_close(void *ctx)
{
    ((struct peer *)ctx)->closed = true;
}

static void io_pause(void *ctx)
{
    ((struct peer *)ctx)->paused = true;
}

static void peer_start(struct peer *p, const struct broker_config *cfg)
{
    memset(p, 0, sizeof *p);
    ck_assert_int_eq(uv_loop_init(&p->loop), 0);
    struct broker_config defaults;
    broker_config_defaults(&defaults);
    if (!cfg)
        cfg = &defaults;
    struct broker_config quiet = *cfg;
    quiet.log_level = (enum log_level)(LOG_ERROR + 1); /* above every level: faults are expected */
    broker_init(&p->broker, &quiet);
    broker_create_defaults(&p->broker);
    amqp_buf_init(&p->held);
    amqp_buf_init(&p->rx);
    amqp_buf_init(&p->frame);
    amqp_buf_init(&p->tx);
    p->frame_max = AMQP_FRAME_MIN_SIZE;
    struct connection_io io = {.flush = io_flush, .close = io_close, .pause_reading = io_pause, .ctx = p,
                               .peer_loopback = true};
    p->conn = connection_new(&p->broker, &io, "test-peer");
}

/* Gives the connection client bytes the way a transport reads them: into the buffer it hands
 * out, at most `chunk` at a time (0: as much as fits). */
static void feed(struct peer *p, const uint8_t *data, size_t len, size_t chunk)
{
    while (len && !p->closed) {
        if (p->paused) {
            amqp_buf_put(&p->held, data, len);
            return;
        }
        char *base;
        size_t room;
        connection_read_buffer(p->conn, &base, &room);
        ck_assert_uint_ge(room, 4096);
        size_t n = len < room ? len : room;
        if (chunk && n > chunk)
            n = chunk;
        memcpy(base, data, n);
        connection_read_done(p->conn, n);
        data += n;
        len -= n;
    }
}

/* Takes what the connection queued for the socket, as a write would, and then closes the
 * "socket" if the connection asked for it. */
static void collect(struct peer *p)
{
    if (p->destroyed)
        return;
    struct output *o = connection_output(p->conn);
    if (output_len(o) && !p->not_reading) {
        unsigned n = output_iov(o, &p->iov, &p->iov_cap);
        for (unsigned i = 0; i < n; i++)
            amqp_buf_put(&p->rx, p->iov[i].base, p->iov[i].len);
        output_reset(o);
        if (!p->closed)
            connection_write_done(p->conn);
    }
    if (p->closed) {
        connection_destroy(p->conn);
        p->destroyed = true;
    }
}

/* A few loop iterations, so that work done once per iteration (flushes, confirms) happens. */
static void pump(struct peer *p)
{
    for (int i = 0; i < 4; i++) {
        uv_run(&p->loop, UV_RUN_NOWAIT);
        if (p->paused && !p->closed && !p->destroyed && connection_may_read(p->conn)) {
            p->paused = false;
            connection_read_resumed(p->conn); /* what it read before pausing */
            struct amqp_buf held = p->held;
            amqp_buf_init(&p->held);
            feed(p, held.data, held.len, 0);
            amqp_buf_free(&held);
        }
        collect(p);
    }
}

static void peer_finish(struct peer *p)
{
    pump(p);
    if (!p->destroyed) {
        connection_read_eof(p->conn, "the test is over"); /* what a transport does on EOF */
        connection_destroy(p->conn);
        p->destroyed = true;
    }
    for (int i = 0; i < 100 && uv_loop_alive(&p->loop); i++)
        uv_run(&p->loop, UV_RUN_NOWAIT);
    ck_assert_msg(!uv_loop_alive(&p->loop), "the connection left handles open");
    ck_assert_int_eq(uv_loop_close(&p->loop), 0);
    broker_free(&p->broker);
    amqp_buf_free(&p->held);
    amqp_buf_free(&p->rx);
    amqp_buf_free(&p->frame);
    amqp_buf_free(&p->tx);
    free(p->iov);
}

/* ---- the client: writing ---- */

static void send_tx(struct peer *p)
{
    feed(p, p->tx.data, p->tx.len, 0);
    amqp_buf_reset(&p->tx);
    pump(p);
}

static void send_raw(struct peer *p, const void *data, size_t len)
{
    feed(p, data, len, 0);
    pump(p);
}

static void put_frame(struct peer *p, uint8_t type, uint16_t ch, const void *payload, size_t len)
{
    size_t start = amqp_frame_begin(&p->tx, type, ch);
    amqp_buf_put(&p->tx, payload, len);
    amqp_frame_finish(&p->tx, start);
}

static void put_method(struct peer *p, uint16_t ch, const struct amqp_method *m)
{
    size_t start = amqp_frame_begin(&p->tx, AMQP_FRAME_METHOD, ch);
    amqp_method_encode(&p->tx, m);
    amqp_frame_finish(&p->tx, start);
}

static void send_method(struct peer *p, uint16_t ch, const struct amqp_method *m)
{
    put_method(p, ch, m);
    send_tx(p);
}

/* A content header and body frames cut to the negotiated frame size. */
static void put_content(struct peer *p, uint16_t ch, const struct amqp_basic_properties *props,
                        const void *body, size_t len)
{
    struct amqp_content_header h = {.class_id = AMQP_CLASS_BASIC, .body_size = len};
    if (props)
        h.props = *props;
    size_t start = amqp_frame_begin(&p->tx, AMQP_FRAME_HEADER, ch);
    amqp_content_header_encode(&p->tx, &h);
    amqp_frame_finish(&p->tx, start);
    size_t chunk = p->frame_max - AMQP_FRAME_OVERHEAD;
    for (size_t off = 0; off < len; off += chunk)
        put_frame(p, AMQP_FRAME_BODY, ch, (const uint8_t *)body + off, len - off < chunk ? len - off : chunk);
}

static void put_publish_bytes(struct peer *p, uint16_t ch, const char *exchange, const char *key,
                              const void *body, size_t len)
{
    struct amqp_method m = {.id = AMQP_BASIC_PUBLISH};
    m.basic_publish.exchange = amqp_cstr(exchange);
    m.basic_publish.routing_key = amqp_cstr(key);
    put_method(p, ch, &m);
    put_content(p, ch, NULL, body, len);
}

static void put_publish(struct peer *p, uint16_t ch, const char *exchange, const char *key,
                        const char *body)
{
    put_publish_bytes(p, ch, exchange, key, body, strlen(body));
}

/* ---- the client: reading ---- */

/* The next frame the server sent (heartbeats included), pumping the loop once if none is
 * complete yet; false when there is none. The payload stays valid until the next read. */
static bool read_frame(struct peer *p, struct amqp_frame *f)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        size_t have = p->rx.len - p->rx_off;
        if (have) {
            struct amqp_error err = {0};
            long n = amqp_frame_read(p->rx.data + p->rx_off, have, UINT32_MAX, f, &err);
            ck_assert_msg(n >= 0, "the server sent a malformed frame: %s", err.text);
            if (n > 0) {
                amqp_buf_reset(&p->frame);
                amqp_buf_put(&p->frame, f->payload.ptr, f->payload.len);
                f->payload = amqp_bytes_of(p->frame.data, f->payload.len);
                p->rx_off += (size_t)n;
                if (p->rx_off == p->rx.len) {
                    amqp_buf_reset(&p->rx);
                    p->rx_off = 0;
                }
                return true;
            }
        }
        pump(p);
    }
    return false;
}

/* Heartbeats may come at any time; the tests look past them. */
static bool next_frame(struct peer *p, struct amqp_frame *f)
{
    while (read_frame(p, f))
        if (f->type != AMQP_FRAME_HEARTBEAT)
            return true;
    return false;
}

static void describe(const struct amqp_frame *f, char *out, size_t len)
{
    struct amqp_method m;
    if (f->type != AMQP_FRAME_METHOD || amqp_method_decode(f->payload, &m, NULL)) {
        snprintf(out, len, "a frame of type %u on channel %u", f->type, f->channel);
        return;
    }
    const char *name = amqp_method_name(m.id);
    if (m.id == AMQP_CONNECTION_CLOSE) {
        const struct amqp_connection_close *c = &m.connection_close;
        snprintf(out, len, "%s (%u '%.*s' %u.%u)", name, c->reply_code, (int)c->reply_text.len,
                 (const char *)c->reply_text.ptr, c->class_id, c->method_id);
    } else if (m.id == AMQP_CHANNEL_CLOSE) {
        const struct amqp_channel_close *c = &m.channel_close;
        snprintf(out, len, "%s on channel %u (%u '%.*s' %u.%u)", name, f->channel, c->reply_code,
                 (int)c->reply_text.len, (const char *)c->reply_text.ptr, c->class_id, c->method_id);
    } else {
        snprintf(out, len, "%s on channel %u", name ? name : "?", f->channel);
    }
}

static struct amqp_method expect_method_at(struct peer *p, uint16_t ch, uint32_t id, int line)
{
    struct amqp_frame f;
    struct amqp_method m;
    char what[400];
    ck_assert_msg(next_frame(p, &f), "line %d: expected %s, got nothing", line, amqp_method_name(id));
    describe(&f, what, sizeof what);
    ck_assert_msg(f.type == AMQP_FRAME_METHOD && f.channel == ch &&
                      amqp_method_decode(f.payload, &m, NULL) == 0 && m.id == id,
                  "line %d: expected %s on channel %u, got %s", line, amqp_method_name(id), ch, what);
    return m;
}
#define expect_method(p, ch, id) expect_method_at((p), (ch), (id), __LINE__)

static void expect_close_at(struct peer *p, uint16_t ch, uint16_t code, const char *text,
                            uint16_t class_id, uint16_t method_id, int line)
{
    struct amqp_method m = expect_method_at(p, ch, ch ? AMQP_CHANNEL_CLOSE : AMQP_CONNECTION_CLOSE, line);
    uint16_t got_code = ch ? m.channel_close.reply_code : m.connection_close.reply_code;
    struct amqp_bytes got_text = ch ? m.channel_close.reply_text : m.connection_close.reply_text;
    uint16_t got_class = ch ? m.channel_close.class_id : m.connection_close.class_id;
    uint16_t got_method = ch ? m.channel_close.method_id : m.connection_close.method_id;
    ck_assert_msg(got_code == code && amqp_bytes_eq_cstr(got_text, text) && got_class == class_id &&
                      got_method == method_id,
                  "line %d: expected close(%u, \"%s\", %u, %u), got close(%u, \"%.*s\", %u, %u)", line,
                  code, text, class_id, method_id, got_code, (int)got_text.len,
                  (const char *)got_text.ptr, got_class, got_method);
}
/* A connection.close on channel 0, a channel.close on any other. */
#define expect_close(p, ch, code, text, class_id, method_id) \
    expect_close_at((p), (ch), (code), (text), (class_id), (method_id), __LINE__)

static void expect_silence_at(struct peer *p, int line)
{
    struct amqp_frame f;
    if (next_frame(p, &f)) {
        char what[400];
        describe(&f, what, sizeof what);
        ck_abort_msg("line %d: expected nothing, got %s", line, what);
    }
}
#define expect_silence(p) expect_silence_at((p), __LINE__)

/* A content header and its bodies: the body must be `body`, in frames within frame_max. */
static void expect_content_at(struct peer *p, uint16_t ch, const void *body, size_t len, int line)
{
    struct amqp_frame f;
    struct amqp_content_header h;
    ck_assert_msg(next_frame(p, &f) && f.type == AMQP_FRAME_HEADER && f.channel == ch,
                  "line %d: expected a content header on channel %u", line, ch);
    ck_assert_int_eq(amqp_content_header_decode(f.payload, &h, NULL), 0);
    ck_assert_uint_eq(h.class_id, AMQP_CLASS_BASIC);
    ck_assert_msg(h.body_size == len, "line %d: body size %llu, expected %zu", line,
                  (unsigned long long)h.body_size, len);
    size_t got = 0;
    while (got < len) {
        ck_assert_msg(next_frame(p, &f) && f.type == AMQP_FRAME_BODY && f.channel == ch,
                      "line %d: expected a body frame at octet %zu of %zu", line, got, len);
        ck_assert_uint_le(f.payload.len + AMQP_FRAME_OVERHEAD, p->frame_max);
        ck_assert_uint_le(got + f.payload.len, len);
        ck_assert_msg(memcmp(f.payload.ptr, (const uint8_t *)body + got, f.payload.len) == 0,
                      "line %d: body differs from octet %zu", line, got);
        got += f.payload.len;
    }
}
#define expect_content(p, ch, body) expect_content_at((p), (ch), (body), strlen(body), __LINE__)

/* ---- the handshake ---- */

static void put_start_ok(struct peer *p, const char *user, const char *pass, bool auth_failure_close)
{
    struct amqp_buf props, response;
    amqp_buf_init(&props);
    amqp_buf_init(&response);
    size_t table = amqp_table_begin(&props);
    size_t caps = amqp_table_begin_nested(&props, "capabilities");
    amqp_table_put_bool(&props, "authentication_failure_close", auth_failure_close);
    amqp_table_put_bool(&props, "consumer_cancel_notify", true);
    amqp_table_put_bool(&props, "connection.blocked", true);
    amqp_table_end(&props, caps);
    amqp_table_put_cstr(&props, "product", "test_connection");
    amqp_table_end(&props, table);
    amqp_buf_put_u8(&response, 0);
    amqp_buf_put(&response, user, strlen(user));
    amqp_buf_put_u8(&response, 0);
    amqp_buf_put(&response, pass, strlen(pass));
    struct amqp_method m = {.id = AMQP_CONNECTION_START_OK};
    m.connection_start_ok.client_properties = amqp_bytes_of(props.data + 4, props.len - 4);
    m.connection_start_ok.mechanism = AMQP_BYTES_LIT("PLAIN");
    m.connection_start_ok.response = amqp_bytes_of(response.data, response.len);
    m.connection_start_ok.locale = AMQP_BYTES_LIT("en_US");
    put_method(p, 0, &m);
    amqp_buf_free(&props);
    amqp_buf_free(&response);
}

static void put_tune_ok(struct peer *p, uint16_t channel_max, uint32_t frame_max, uint16_t heartbeat)
{
    struct amqp_method m = {.id = AMQP_CONNECTION_TUNE_OK};
    m.connection_tune_ok.channel_max = channel_max;
    m.connection_tune_ok.frame_max = frame_max;
    m.connection_tune_ok.heartbeat = heartbeat;
    put_method(p, 0, &m);
}

static void put_open(struct peer *p, const char *vhost)
{
    struct amqp_method m = {.id = AMQP_CONNECTION_OPEN};
    m.connection_open.virtual_host = amqp_cstr(vhost);
    put_method(p, 0, &m);
}

static void send_channel_open(struct peer *p, uint16_t ch)
{
    struct amqp_method m = {.id = AMQP_CHANNEL_OPEN};
    put_method(p, ch, &m);
    send_tx(p);
}

enum stage { STAGE_STARTED, STAGE_TUNED, STAGE_OPEN, STAGE_CHANNEL };

/* Takes a fresh connection as far as `stage`, accepting the server's tune values (heartbeat
 * off, so no timer interferes). */
static void handshake(struct peer *p, enum stage stage)
{
    send_raw(p, amqp_protocol_header, sizeof amqp_protocol_header);
    expect_method(p, 0, AMQP_CONNECTION_START);
    if (stage == STAGE_STARTED)
        return;
    put_start_ok(p, "guest", "guest", true);
    send_tx(p);
    struct amqp_method tune = expect_method(p, 0, AMQP_CONNECTION_TUNE);
    put_tune_ok(p, tune.connection_tune.channel_max, tune.connection_tune.frame_max, 0);
    send_tx(p);
    p->frame_max = tune.connection_tune.frame_max;
    if (stage == STAGE_TUNED)
        return;
    put_open(p, "/");
    send_tx(p);
    expect_method(p, 0, AMQP_CONNECTION_OPEN_OK);
    if (stage == STAGE_OPEN)
        return;
    send_channel_open(p, 1);
    expect_method(p, 1, AMQP_CHANNEL_OPEN_OK);
}

/* The client's close-ok for a connection.close the server sent. */
static void send_close_ok(struct peer *p)
{
    struct amqp_method m = {.id = AMQP_CONNECTION_CLOSE_OK};
    send_method(p, 0, &m);
}

/* ---- entity and basic.* helpers ---- */

static struct amqp_method declare_queue(struct peer *p, uint16_t ch, const char *name, bool passive)
{
    struct amqp_method m = {.id = AMQP_QUEUE_DECLARE};
    m.queue_declare.queue = amqp_cstr(name);
    m.queue_declare.passive = passive;
    send_method(p, ch, &m);
    struct amqp_method ok = expect_method(p, ch, AMQP_QUEUE_DECLARE_OK);
    ck_assert(amqp_bytes_eq_cstr(ok.queue_declare_ok.queue, name));
    return ok;
}

static uint32_t queue_depth(struct peer *p, uint16_t ch, const char *name)
{
    return declare_queue(p, ch, name, true).queue_declare_ok.message_count;
}

static void send_simple(struct peer *p, uint16_t ch, uint32_t id, uint32_t reply)
{
    struct amqp_method m = {.id = id};
    send_method(p, ch, &m);
    if (reply)
        expect_method(p, ch, reply);
}

static void send_qos(struct peer *p, uint16_t ch, uint16_t prefetch, bool global)
{
    struct amqp_method m = {.id = AMQP_BASIC_QOS};
    m.basic_qos.prefetch_count = prefetch;
    m.basic_qos.global = global;
    send_method(p, ch, &m);
    expect_method(p, ch, AMQP_BASIC_QOS_OK);
}

static void send_consume(struct peer *p, uint16_t ch, const char *queue, const char *tag, bool no_ack)
{
    struct amqp_method m = {.id = AMQP_BASIC_CONSUME};
    m.basic_consume.queue = amqp_cstr(queue);
    m.basic_consume.consumer_tag = amqp_cstr(tag);
    m.basic_consume.no_ack = no_ack;
    send_method(p, ch, &m);
    struct amqp_method ok = expect_method(p, ch, AMQP_BASIC_CONSUME_OK);
    ck_assert(amqp_bytes_eq_cstr(ok.basic_consume_ok.consumer_tag, tag));
}

static void put_ack(struct peer *p, uint16_t ch, uint64_t tag, bool multiple)
{
    struct amqp_method m = {.id = AMQP_BASIC_ACK};
    m.basic_ack.delivery_tag = tag;
    m.basic_ack.multiple = multiple;
    put_method(p, ch, &m);
}

/* A basic.deliver with its content; returns the delivery tag. */
static uint64_t expect_delivery_at(struct peer *p, uint16_t ch, const char *tag, const char *body,
                                   bool redelivered, int line)
{
    struct amqp_method m = expect_method_at(p, ch, AMQP_BASIC_DELIVER, line);
    ck_assert_msg(amqp_bytes_eq_cstr(m.basic_deliver.consumer_tag, tag), "line %d: consumer tag", line);
    ck_assert_msg(m.basic_deliver.redelivered == redelivered, "line %d: redelivered is %d", line,
                  m.basic_deliver.redelivered);
    uint64_t delivery_tag = m.basic_deliver.delivery_tag;
    expect_content_at(p, ch, body, strlen(body), line);
    return delivery_tag;
}
#define expect_delivery(p, ch, tag, body, redelivered) \
    expect_delivery_at((p), (ch), (tag), (body), (redelivered), __LINE__)

/* ---- the handshake ---- */

static bool caps_has(struct amqp_bytes caps, const char *name)
{
    struct amqp_field f;
    return amqp_table_get(caps, name, &f) && f.type == 't' && f.v.boolean;
}

START_TEST(test_handshake_values)
{
    struct broker_config cfg;
    broker_config_defaults(&cfg);
    cfg.frame_max = 8192;
    cfg.channel_max = 7;
    cfg.heartbeat = 13;
    struct peer p;
    peer_start(&p, &cfg);
    send_raw(&p, amqp_protocol_header, sizeof amqp_protocol_header);
    struct amqp_method start = expect_method(&p, 0, AMQP_CONNECTION_START);
    const struct amqp_connection_start *s = &start.connection_start;
    ck_assert_uint_eq(s->version_major, 0);
    ck_assert_uint_eq(s->version_minor, 9);
    ck_assert(amqp_bytes_eq_cstr(s->mechanisms, "PLAIN AMQPLAIN"));
    ck_assert(amqp_bytes_eq_cstr(s->locales, "en_US"));
    ck_assert_int_eq(amqp_table_check(s->server_properties, NULL), 0);
    struct amqp_field f;
    ck_assert(amqp_table_get(s->server_properties, "product", &f) && f.type == 'S');
    ck_assert(amqp_bytes_eq_cstr(f.v.bytes, "Warren"));
    for (const char *const *k = (const char *const[]){"version", "platform", "copyright", "information",
                                                      "cluster_name", NULL};
         *k; k++)
        ck_assert_msg(amqp_table_get(s->server_properties, *k, &f) && f.type == 'S', "%s", *k);
    ck_assert(amqp_table_get(s->server_properties, "capabilities", &f) && f.type == 'F');
    struct amqp_bytes caps = f.v.table;
    /* Every capability advertised is a true boolean, and these work today. */
    struct amqp_table_iter it;
    struct amqp_bytes key;
    amqp_table_iter_init(&it, caps);
    while (amqp_table_next(&it, &key, &f))
        ck_assert_msg(f.type == 't' && f.v.boolean, "capability %.*s", (int)key.len, (const char *)key.ptr);
    for (const char *const *k = (const char *const[]){"publisher_confirms", "basic.nack",
                                                      "consumer_cancel_notify", "connection.blocked",
                                                      "authentication_failure_close",
                                                      "per_consumer_qos", NULL};
         *k; k++)
        ck_assert_msg(caps_has(caps, *k), "capability %s missing", *k);

    put_start_ok(&p, "guest", "guest", true);
    send_tx(&p);
    struct amqp_method tune = expect_method(&p, 0, AMQP_CONNECTION_TUNE);
    ck_assert_uint_eq(tune.connection_tune.channel_max, 7);
    ck_assert_uint_eq(tune.connection_tune.frame_max, 8192);
    ck_assert_uint_eq(tune.connection_tune.heartbeat, 13);
    put_tune_ok(&p, 7, 8192, 0);
    put_open(&p, "/");
    send_tx(&p); /* tune-ok and open in one read */
    p.frame_max = 8192;
    struct amqp_method ok = expect_method(&p, 0, AMQP_CONNECTION_OPEN_OK);
    ck_assert_uint_eq(ok.connection_open_ok.reserved_1.len, 0);
    ck_assert(p.flushes > 0);
    ck_assert(!p.closed);

    /* The negotiated frame size holds both ways: a body of three frames comes back in three. */
    send_channel_open(&p, 1);
    expect_method(&p, 1, AMQP_CHANNEL_OPEN_OK);
    declare_queue(&p, 1, "big", false);
    size_t len = 2 * (8192 - AMQP_FRAME_OVERHEAD) + 100;
    char *body = malloc(len);
    for (size_t i = 0; i < len; i++)
        body[i] = (char)('a' + i % 26);
    put_publish_bytes(&p, 1, "", "big", body, len);
    send_tx(&p);
    struct amqp_method get = {.id = AMQP_BASIC_GET};
    get.basic_get.queue = AMQP_BYTES_LIT("big");
    get.basic_get.no_ack = true;
    send_method(&p, 1, &get);
    expect_method(&p, 1, AMQP_BASIC_GET_OK);
    expect_content_at(&p, 1, body, len, __LINE__);
    free(body);
    peer_finish(&p);
}
END_TEST

/* The protocol header and the handshake, one octet per read. */
START_TEST(test_handshake_byte_by_byte)
{
    struct peer p;
    peer_start(&p, NULL);
    feed(&p, amqp_protocol_header, sizeof amqp_protocol_header, 1);
    pump(&p);
    expect_method(&p, 0, AMQP_CONNECTION_START);
    put_start_ok(&p, "guest", "guest", false);
    feed(&p, p.tx.data, p.tx.len, 1);
    amqp_buf_reset(&p.tx);
    pump(&p);
    expect_method(&p, 0, AMQP_CONNECTION_TUNE);
    put_tune_ok(&p, 2047, 131072, 0);
    put_open(&p, "/");
    feed(&p, p.tx.data, p.tx.len, 1);
    amqp_buf_reset(&p.tx);
    pump(&p);
    expect_method(&p, 0, AMQP_CONNECTION_OPEN_OK);
    peer_finish(&p);
}
END_TEST

START_TEST(test_bad_protocol_header)
{
    struct peer p;
    peer_start(&p, NULL);
    send_raw(&p, "AMQP\x00\x00\x09\x00", 8);
    /* RabbitMQ answers with the header it speaks, then closes. */
    ck_assert_uint_eq(p.rx.len, 8);
    ck_assert_mem_eq(p.rx.data, amqp_protocol_header, 8);
    ck_assert(p.closed);
    peer_finish(&p);
}
END_TEST

START_TEST(test_bad_login)
{
    struct peer p;
    peer_start(&p, NULL);
    handshake(&p, STAGE_STARTED);
    put_start_ok(&p, "guest", "wrong", true);
    send_tx(&p);
    expect_close(&p, 0, 403,
                 "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For "
                 "details see the broker logfile.",
                 0, 0);
    ck_assert(!p.closed);
    send_close_ok(&p);
    ck_assert(p.closed);
    peer_finish(&p);
}
END_TEST

/* Without authentication_failure_close RabbitMQ says nothing and drops the socket 3 s later. */
START_TEST(test_bad_login_silent)
{
    struct peer p;
    peer_start(&p, NULL);
    handshake(&p, STAGE_STARTED);
    put_start_ok(&p, "nobody", "guest", false);
    send_tx(&p);
    expect_silence(&p);
    ck_assert(!p.closed);
    peer_finish(&p);
}
END_TEST

START_TEST(test_unknown_vhost)
{
    struct peer p;
    peer_start(&p, NULL);
    handshake(&p, STAGE_TUNED);
    put_open(&p, "nosuch");
    send_tx(&p);
    expect_close(&p, 0, 530, "NOT_ALLOWED - vhost nosuch not found", 10, 40);
    send_close_ok(&p);
    ck_assert(p.closed);
    peer_finish(&p);
}
END_TEST

/* ---- protocol faults: the connection.close RabbitMQ 3.10 sends for each ---- */

static const char EXPECTED_OPEN[] = "CHANNEL_ERROR - expected 'channel.open'";
static const char RUNNING[] = "CHANNEL_ERROR - unexpected method in connection state running";
static const char NOT_METHOD[] = "UNEXPECTED_FRAME - expected method frame, got non method frame instead";
static const char NOT_HEADER[] =
    "UNEXPECTED_FRAME - expected content header for class 60, got non content header frame instead";

static void put_qos_raw(struct peer *p, uint16_t ch)
{
    struct amqp_method m = {.id = AMQP_BASIC_QOS};
    put_method(p, ch, &m);
}

static void f_qos_unopened(struct peer *p) { put_qos_raw(p, 5); }
static void f_close_unopened(struct peer *p)
{
    struct amqp_method m = {.id = AMQP_CHANNEL_CLOSE};
    m.channel_close.reply_code = 200;
    put_method(p, 5, &m);
}
static void f_open_twice(struct peer *p)
{
    struct amqp_method m = {.id = AMQP_CHANNEL_OPEN};
    put_method(p, 1, &m);
}
static void f_open_ch0(struct peer *p)
{
    struct amqp_method m = {.id = AMQP_CHANNEL_OPEN};
    put_method(p, 0, &m);
}
static void f_publish_ch0(struct peer *p)
{
    struct amqp_method m = {.id = AMQP_BASIC_PUBLISH};
    put_method(p, 0, &m);
}
static void f_header_ch0(struct peer *p) { put_content(p, 0, NULL, "abc", 3); }
static void f_body_ch0(struct peer *p) { put_frame(p, AMQP_FRAME_BODY, 0, "\x00\x01", 2); }
static void f_heartbeat_ch1(struct peer *p) { put_frame(p, AMQP_FRAME_HEARTBEAT, 1, NULL, 0); }
static void f_type9(struct peer *p) { put_frame(p, 9, 0, NULL, 0); }
static void f_short_method(struct peer *p) { put_frame(p, AMQP_FRAME_METHOD, 1, "\x00\x3c", 2); }
static void f_header_alone(struct peer *p) { put_content(p, 1, NULL, "", 0); }
static void f_publish_body(struct peer *p)
{
    struct amqp_method m = {.id = AMQP_BASIC_PUBLISH};
    put_method(p, 1, &m);
    put_frame(p, AMQP_FRAME_BODY, 1, "abc", 3);
}
static void f_truncated_qos(struct peer *p)
{
    put_frame(p, AMQP_FRAME_METHOD, 1, "\x00\x3c\x00\x0a\x00\x00\x00", 7);
}
static void f_close_ok_unasked(struct peer *p)
{
    struct amqp_method m = {.id = AMQP_CHANNEL_CLOSE_OK};
    put_method(p, 1, &m);
}
static void f_tune_ok_again(struct peer *p) { put_tune_ok(p, 2047, 131072, 0); }
static void f_unknown_method(struct peer *p)
{
    put_frame(p, AMQP_FRAME_METHOD, 1, "\x00\x63\x00\x01", 4);
}
static void f_channel_before_open(struct peer *p)
{
    struct amqp_method m = {.id = AMQP_CHANNEL_OPEN};
    put_method(p, 1, &m);
}
static void f_qos_opening(struct peer *p) { put_qos_raw(p, 0); }
/* Only the 7-octet header: the size alone condemns it. */
static void f_oversized(struct peer *p) { amqp_buf_put(&p->tx, "\x03\x00\x01\x00\x02\x00\x01", 7); }
static void f_bad_frame_end(struct peer *p)
{
    amqp_buf_put(&p->tx, "\x01\x00\x01\x00\x00\x00\x05\x00\x14\x00\x0a\x00\x00", 13);
}

struct fault {
    const char *name;
    enum stage stage;
    void (*provoke)(struct peer *p);
    uint16_t code;
    const char *text;
    uint16_t class_id, method_id;
    bool fatal; /* RabbitMQ reads no more and drops the socket 3 s later, close-ok or not */
};

static const struct fault faults[] = {
    {"basic.qos on a never-opened channel", STAGE_OPEN, f_qos_unopened, 504, EXPECTED_OPEN, 60, 10, false},
    {"channel.close on a never-opened channel", STAGE_OPEN, f_close_unopened, 504, EXPECTED_OPEN, 20, 40, false},
    {"channel.open twice", STAGE_CHANNEL, f_open_twice, 504, "CHANNEL_ERROR - second 'channel.open' seen", 20, 10, false},
    {"channel.open on channel 0", STAGE_OPEN, f_open_ch0, 504, RUNNING, 20, 10, false},
    {"basic.publish on channel 0", STAGE_OPEN, f_publish_ch0, 504, RUNNING, 60, 40, false},
    {"tune-ok after open", STAGE_OPEN, f_tune_ok_again, 504, RUNNING, 10, 31, false},
    {"content header on channel 0", STAGE_OPEN, f_header_ch0, 505,
     "UNEXPECTED_FRAME - type 2, all octets = <<0,60,0,0,0,0,0,0,0,0,0,3,0,0>>", 0, 0, false},
    {"body on channel 0", STAGE_OPEN, f_body_ch0, 505, "UNEXPECTED_FRAME - type 3, all octets = <<0,1>>", 0, 0, false},
    {"heartbeat on channel 1", STAGE_CHANNEL, f_heartbeat_ch1, 505, "UNEXPECTED_FRAME - type 8, all octets = <<>>", 0, 0, false},
    {"frame of type 9", STAGE_OPEN, f_type9, 501, "FRAME_ERROR - type 9, all octets = <<>>: unknown_frame", 0, 0, false},
    {"method frame of 2 octets", STAGE_CHANNEL, f_short_method, 501,
     "FRAME_ERROR - type 1, all octets = <<0,60>>: unknown_frame", 0, 0, false},
    {"content header without publish", STAGE_CHANNEL, f_header_alone, 505, NOT_METHOD, 0, 0, false},
    {"publish then body", STAGE_CHANNEL, f_publish_body, 505, NOT_HEADER, 60, 40, false},
    {"truncated basic.qos", STAGE_CHANNEL, f_truncated_qos, 501, "FRAME_ERROR - cannot decode <<0,0,0>>", 60, 10, false},
    {"unasked channel.close-ok", STAGE_CHANNEL, f_close_ok_unasked, 503, "COMMAND_INVALID - unimplemented method", 20, 41, false},
    /* Warren's departure: RabbitMQ 3.10 drops the socket without a word. */
    {"unknown method id", STAGE_CHANNEL, f_unknown_method, 540, "NOT_IMPLEMENTED - unknown method class 99 id 1", 99, 1, false},
    {"channel.open before connection.open", STAGE_TUNED, f_channel_before_open, 505,
     "UNEXPECTED_FRAME - type 1, all octets = <<0,20,0,10,0>>", 0, 0, false},
    {"basic.qos on channel 0 before open", STAGE_TUNED, f_qos_opening, 504,
     "CHANNEL_ERROR - unexpected method in connection state opening", 60, 10, false},
    {"frame larger than frame_max", STAGE_CHANNEL, f_oversized, 501,
     "FRAME_ERROR - type 3, all octets = <<>>: {frame_too_large,131073,131064}", 0, 0, true},
    {"bad frame-end octet", STAGE_OPEN, f_bad_frame_end, 501,
     "FRAME_ERROR - type 1, all octets = <<0,20,0,10,0>>: {invalid_frame_end_marker,0}", 0, 0, true},
};

START_TEST(test_fault)
{
    const struct fault *t = &faults[_i];
    struct peer p;
    peer_start(&p, NULL);
    handshake(&p, t->stage);
    t->provoke(&p);
    put_qos_raw(&p, 1); /* what follows the fault in the same read is not acted on */
    send_tx(&p);
    expect_close_at(&p, 0, t->code, t->text, t->class_id, t->method_id, __LINE__);
    expect_silence(&p);
    /* While closing, everything but close and close-ok is ignored. */
    put_qos_raw(&p, 1);
    send_tx(&p);
    expect_silence(&p);
    ck_assert_msg(!p.closed, "%s: closed before close-ok", t->name);
    send_close_ok(&p);
    ck_assert_msg(p.closed != t->fatal, "%s: %s", t->name,
                  t->fatal ? "a fatal error must not close at close-ok" : "not closed at close-ok");
    peer_finish(&p);
}
END_TEST

/* ---- channels ---- */

START_TEST(test_channel_max)
{
    struct broker_config cfg;
    broker_config_defaults(&cfg);
    cfg.channel_max = 3;
    struct peer p;
    peer_start(&p, &cfg);
    handshake(&p, STAGE_STARTED);
    put_start_ok(&p, "guest", "guest", true);
    send_tx(&p);
    expect_method(&p, 0, AMQP_CONNECTION_TUNE);
    put_tune_ok(&p, 2, 131072, 0); /* fewer than offered */
    put_open(&p, "/");
    send_tx(&p);
    expect_method(&p, 0, AMQP_CONNECTION_OPEN_OK);
    /* channel_max counts open channels; it does not bound their ids. */
    send_channel_open(&p, 1);
    expect_method(&p, 1, AMQP_CHANNEL_OPEN_OK);
    send_channel_open(&p, 500);
    expect_method(&p, 500, AMQP_CHANNEL_OPEN_OK);
    /* A closed channel frees its place, and its id. */
    struct amqp_method close = {.id = AMQP_CHANNEL_CLOSE};
    close.channel_close.reply_code = 200;
    send_method(&p, 1, &close);
    expect_method(&p, 1, AMQP_CHANNEL_CLOSE_OK);
    send_channel_open(&p, 1);
    expect_method(&p, 1, AMQP_CHANNEL_OPEN_OK);
    send_channel_open(&p, 2);
    expect_close(&p, 0, 530,
                 "NOT_ALLOWED - number of channels opened (2) has reached the negotiated channel_max (2)",
                 0, 0);
    send_close_ok(&p);
    ck_assert(p.closed);
    peer_finish(&p);
}
END_TEST

START_TEST(test_connection_close)
{
    struct peer p;
    peer_start(&p, NULL);
    handshake(&p, STAGE_CHANNEL);
    struct amqp_method m = {.id = AMQP_CONNECTION_CLOSE};
    m.connection_close.reply_code = 200;
    m.connection_close.reply_text = AMQP_BYTES_LIT("bye");
    send_method(&p, 0, &m);
    expect_method(&p, 0, AMQP_CONNECTION_CLOSE_OK);
    expect_silence(&p);
    /* RabbitMQ leaves closing TCP to the client; the transport's close follows its EOF. */
    ck_assert(!p.closed);
    connection_read_eof(p.conn, "connection closed by peer");
    pump(&p);
    ck_assert(p.closed && p.destroyed);
    peer_finish(&p);
}
END_TEST

/* ---- messaging ---- */

START_TEST(test_declare_bind_publish_get)
{
    struct peer p;
    peer_start(&p, NULL);
    handshake(&p, STAGE_CHANNEL);
    struct amqp_method x = {.id = AMQP_EXCHANGE_DECLARE};
    x.exchange_declare.exchange = AMQP_BYTES_LIT("logs");
    x.exchange_declare.type = AMQP_BYTES_LIT("direct");
    send_method(&p, 1, &x);
    expect_method(&p, 1, AMQP_EXCHANGE_DECLARE_OK);
    struct amqp_method ok = declare_queue(&p, 1, "q1", false);
    ck_assert_uint_eq(ok.queue_declare_ok.message_count, 0);
    ck_assert_uint_eq(ok.queue_declare_ok.consumer_count, 0);
    struct amqp_method bind = {.id = AMQP_QUEUE_BIND};
    bind.queue_bind.queue = AMQP_BYTES_LIT("q1");
    bind.queue_bind.exchange = AMQP_BYTES_LIT("logs");
    bind.queue_bind.routing_key = AMQP_BYTES_LIT("info");
    send_method(&p, 1, &bind);
    expect_method(&p, 1, AMQP_QUEUE_BIND_OK);

    put_publish(&p, 1, "logs", "info", "hello");
    put_publish(&p, 1, "logs", "debug", "unrouted");
    put_publish(&p, 1, "logs", "info", "");
    send_tx(&p);
    expect_silence(&p);
    ck_assert_uint_eq(queue_depth(&p, 1, "q1"), 2);

    struct amqp_method get = {.id = AMQP_BASIC_GET};
    get.basic_get.queue = AMQP_BYTES_LIT("q1");
    get.basic_get.no_ack = true;
    send_method(&p, 1, &get);
    struct amqp_method got = expect_method(&p, 1, AMQP_BASIC_GET_OK);
    ck_assert_uint_eq(got.basic_get_ok.delivery_tag, 1);
    ck_assert(!got.basic_get_ok.redelivered);
    ck_assert(amqp_bytes_eq_cstr(got.basic_get_ok.exchange, "logs"));
    ck_assert(amqp_bytes_eq_cstr(got.basic_get_ok.routing_key, "info"));
    ck_assert_uint_eq(got.basic_get_ok.message_count, 1);
    expect_content(&p, 1, "hello");
    send_method(&p, 1, &get);
    got = expect_method(&p, 1, AMQP_BASIC_GET_OK);
    ck_assert_uint_eq(got.basic_get_ok.delivery_tag, 2);
    ck_assert_uint_eq(got.basic_get_ok.message_count, 0);
    expect_content(&p, 1, "");
    send_method(&p, 1, &get);
    expect_method(&p, 1, AMQP_BASIC_GET_EMPTY);

    /* A channel error closes only the channel. */
    struct amqp_method missing = {.id = AMQP_QUEUE_DECLARE};
    missing.queue_declare.queue = AMQP_BYTES_LIT("nosuch");
    missing.queue_declare.passive = true;
    send_method(&p, 1, &missing);
    expect_close(&p, 1, 404, "NOT_FOUND - no queue 'nosuch' in vhost '/'", 50, 10);
    send_simple(&p, 1, AMQP_CHANNEL_CLOSE_OK, 0);
    send_channel_open(&p, 1);
    expect_method(&p, 1, AMQP_CHANNEL_OPEN_OK);
    ck_assert(!p.closed);
    peer_finish(&p);
}
END_TEST

/* ---- resource alarms ---- */

struct figures {
    uint64_t used, free;
};

static uint64_t fake_used(void *ctx) { return ((struct figures *)ctx)->used; }
static uint64_t fake_free(void *ctx, const char *path) { (void)path; return ((struct figures *)ctx)->free; }
static uint64_t fake_total(void *ctx) { (void)ctx; return 1000000; }

static const char *info_state(struct peer *p)
{
    struct connection_info info;
    connection_info(p->conn, &info);
    return info.state;
}

START_TEST(test_alarm_blocks_publisher)
{
    struct peer p;
    peer_start(&p, NULL);
    struct figures fig = {.used = 100, .free = 1000000000};
    struct alarm_probe probe = {.memory_used = fake_used, .disk_free = fake_free,
                                .total_memory = fake_total, .ctx = &fig};
    alarms_set_probe(&p.broker.alarms, &probe);
    handshake(&p, STAGE_CHANNEL);
    ck_assert_str_eq(info_state(&p), "running");
    alarms_set_memory_watermark(&p.broker.alarms, 0, 50); /* 100 used: above */
    ck_assert_str_eq(info_state(&p), "blocking");
    /* methods without content go on while an alarm is on */
    declare_queue(&p, 1, "q1", false);
    ck_assert(!p.paused);

    put_publish(&p, 1, "", "q1", "one");
    put_publish(&p, 1, "", "q1", "two");
    send_tx(&p);
    struct amqp_method m = expect_method(&p, 0, AMQP_CONNECTION_BLOCKED);
    ck_assert(amqp_bytes_eq_cstr(m.connection_blocked.reason, "low on memory"));
    ck_assert(p.paused);
    ck_assert_str_eq(info_state(&p), "blocked");
    /* a second alarm changes nothing the client hears */
    fig.free = 10;
    alarms_set_disk_free_limit(&p.broker.alarms, 0, 100);
    pump(&p);
    expect_silence(&p);
    ck_assert(p.paused);

    fig.used = 10;
    alarms_sample(&p.broker.alarms);
    pump(&p);
    expect_silence(&p); /* the disk alarm still holds it */
    fig.free = 1000000000;
    alarms_sample(&p.broker.alarms);
    pump(&p);
    expect_method(&p, 0, AMQP_CONNECTION_UNBLOCKED);
    ck_assert(!p.paused);
    ck_assert_str_eq(info_state(&p), "running");
    /* the held input was handled: both publishes were routed */
    ck_assert_uint_eq(queue_depth(&p, 1, "q1"), 2);
    peer_finish(&p);
}
END_TEST

/* A client that sends requests and reads none of the replies: the connection stops reading
 * once its queued output passes the mark, and reads on when the client takes it. */
START_TEST(test_unread_replies_pause_reading)
{
    enum { REQUESTS = 200000 }; /* 2.4 MB of 12-octet basic.qos-ok */
    struct peer p;
    peer_start(&p, NULL);
    handshake(&p, STAGE_CHANNEL);
    p.not_reading = true;
    struct amqp_method qos = {.id = AMQP_BASIC_QOS};
    qos.basic_qos.prefetch_count = 10;
    for (int i = 0; i < REQUESTS; i++)
        put_method(&p, 1, &qos);
    send_tx(&p);
    size_t queued = output_len(connection_output(p.conn));
    ck_assert(p.paused && p.held.len > 0);
    /* past the mark by at most what one read's requests answer (256 KiB of 19-octet ones) */
    ck_assert_uint_ge(queued, CONNECTION_OUTPUT_HIGH);
    ck_assert_uint_lt(queued, CONNECTION_OUTPUT_HIGH + (256u << 10) / 19 * 12 + 12);
    p.not_reading = false;
    for (int i = 0; i < 100 && (p.paused || p.held.len); i++)
        pump(&p);
    ck_assert(!p.paused && p.held.len == 0);
    struct amqp_frame f;
    unsigned answered = 0;
    while (next_frame(&p, &f))
        answered += f.type == AMQP_FRAME_METHOD && amqp_get_u32(f.payload.ptr) == AMQP_BASIC_QOS_OK;
    ck_assert_uint_eq(answered, REQUESTS);
    peer_finish(&p);
}
END_TEST

START_TEST(test_alarm_reasons)
{
    struct peer p;
    peer_start(&p, NULL);
    struct figures fig = {.used = 10, .free = 1000000000};
    struct alarm_probe probe = {.memory_used = fake_used, .disk_free = fake_free,
                                .total_memory = fake_total, .ctx = &fig};
    struct alarms *a = &p.broker.alarms;
    alarms_set_probe(a, &probe);
    enum alarm_resource list[2];
    ck_assert_uint_eq(alarms_list(a, list), 0);
    ck_assert(!alarms_block_publishers(a));
    alarms_set_memory_watermark(a, 0.4, 0);
    ck_assert_uint_eq(a->memory_limit, 400000); /* a fraction of RAM */
    alarms_set_memory_watermark(a, 0, 5000000);
    ck_assert_uint_eq(a->memory_limit, 1000000); /* absolute, at most RAM, as RabbitMQ's */
    alarms_set_disk_free_limit(a, 1.5, 0);
    ck_assert_uint_eq(a->disk_free_limit, 1500000); /* a multiple of RAM */
    ck_assert(!alarms_disk_alarm(a));
    alarms_set_disk_free_limit(a, 0, 2000000000);
    ck_assert(alarms_disk_alarm(a) && !alarms_memory_alarm(a));
    char reason[64];
    alarms_block_reason(a, reason, sizeof reason);
    ck_assert_str_eq(reason, "low on disk");
    alarms_set_memory_watermark(a, 0, 5); /* now memory too: listed first, raised last */
    ck_assert_uint_eq(alarms_list(a, list), 2);
    ck_assert_int_eq(list[0], ALARM_MEMORY);
    ck_assert_int_eq(list[1], ALARM_DISK);
    ck_assert_str_eq(alarm_resource_name(list[1]), "disk space");
    alarms_block_reason(a, reason, sizeof reason);
    ck_assert_str_eq(reason, "low on disk & memory");
    ck_assert_uint_eq(alarms_disk_interval_ms(a), ALARM_DISK_MAX_INTERVAL_MS);
    alarms_set_disk_free_limit(a, 0, 1000000000 - 10000); /* 10 kB short of it: the fastest checks */
    ck_assert(!alarms_disk_alarm(a));
    ck_assert_uint_eq(alarms_disk_interval_ms(a), ALARM_DISK_MIN_INTERVAL_MS);
    peer_finish(&p);
}
END_TEST

START_TEST(test_store_failure_holds_disk_alarm)
{
    struct peer p;
    peer_start(&p, NULL);
    struct figures fig = {.used = 10, .free = 1000000000};
    struct alarm_probe probe = {.memory_used = fake_used, .disk_free = fake_free,
                                .total_memory = fake_total, .ctx = &fig};
    struct alarms *a = &p.broker.alarms;
    alarms_set_probe(a, &probe);
    alarms_set_disk_free_limit(a, 0, 100);
    handshake(&p, STAGE_CHANNEL);
    declare_queue(&p, 1, "q1", false);
    /* the store cannot write: the disk alarm, though the samples show room */
    alarms_set_store_failed(a, true);
    ck_assert(alarms_disk_alarm(a) && !alarms_memory_alarm(a));
    put_publish(&p, 1, "", "q1", "one");
    send_tx(&p);
    struct amqp_method m = expect_method(&p, 0, AMQP_CONNECTION_BLOCKED);
    ck_assert(amqp_bytes_eq_cstr(m.connection_blocked.reason, "low on disk"));
    alarms_sample(a);
    pump(&p);
    expect_silence(&p); /* a sample with room does not clear it */
    ck_assert(p.paused && alarms_disk_alarm(a));
    /* nor does the store writing again while the space is short */
    fig.free = 10;
    alarms_sample(a);
    alarms_set_store_failed(a, false);
    pump(&p);
    expect_silence(&p);
    ck_assert(alarms_disk_alarm(a));
    fig.free = 1000000000;
    alarms_sample(a);
    pump(&p);
    expect_method(&p, 0, AMQP_CONNECTION_UNBLOCKED);
    ck_assert(!p.paused && !alarms_disk_alarm(a));
    ck_assert_uint_eq(queue_depth(&p, 1, "q1"), 1);
    peer_finish(&p);
}
END_TEST

/* Reads basic.acks until one reaches `upto`: together they must cover (*confirmed, upto]
 * exactly once, in order. */
static void expect_confirms_at(struct peer *p, uint16_t ch, uint64_t *confirmed, uint64_t upto, int line)
{
    while (*confirmed < upto) {
        struct amqp_method ack = expect_method_at(p, ch, AMQP_BASIC_ACK, line);
        uint64_t tag = ack.basic_ack.delivery_tag;
        ck_assert_msg(tag > *confirmed && tag <= upto, "line %d: ack %llu after %llu (of %llu)", line,
                      (unsigned long long)tag, (unsigned long long)*confirmed,
                      (unsigned long long)upto);
        ck_assert_msg(ack.basic_ack.multiple || tag == *confirmed + 1,
                      "line %d: single ack %llu skips from %llu", line, (unsigned long long)tag,
                      (unsigned long long)*confirmed);
        *confirmed = tag;
    }
}
#define expect_confirms(p, ch, confirmed, upto) expect_confirms_at((p), (ch), (confirmed), (upto), __LINE__)

START_TEST(test_publisher_confirms)
{
    struct peer p;
    peer_start(&p, NULL);
    handshake(&p, STAGE_CHANNEL);
    declare_queue(&p, 1, "cq", false);
    send_simple(&p, 1, AMQP_CONFIRM_SELECT, AMQP_CONFIRM_SELECT_OK);
    uint64_t confirmed = 0;
    /* Routed, unroutable and batched publishes are all confirmed. */
    put_publish(&p, 1, "", "cq", "one");
    send_tx(&p);
    expect_confirms(&p, 1, &confirmed, 1);
    for (int i = 0; i < 5; i++)
        put_publish(&p, 1, i % 2 ? "" : "amq.direct", "cq", "batch");
    send_tx(&p);
    expect_confirms(&p, 1, &confirmed, 6);
    for (int i = 0; i < 3; i++) {
        put_publish(&p, 1, "", "cq", "spread");
        send_tx(&p);
    }
    expect_confirms(&p, 1, &confirmed, 9);
    expect_silence(&p);
    /* Publishes followed by channel.close in the same read: their acks come first. */
    for (int i = 0; i < 4; i++)
        put_publish(&p, 1, "", "cq", "last");
    struct amqp_method close = {.id = AMQP_CHANNEL_CLOSE};
    close.channel_close.reply_code = 200;
    put_method(&p, 1, &close);
    send_tx(&p);
    expect_confirms(&p, 1, &confirmed, 13);
    expect_method(&p, 1, AMQP_CHANNEL_CLOSE_OK);
    send_channel_open(&p, 2);
    expect_method(&p, 2, AMQP_CHANNEL_OPEN_OK);
    ck_assert_uint_eq(queue_depth(&p, 2, "cq"), 10); /* the amq.direct ones had no binding */
    peer_finish(&p);
}
END_TEST

START_TEST(test_confirms_before_connection_close_ok)
{
    struct peer p;
    peer_start(&p, NULL);
    handshake(&p, STAGE_CHANNEL);
    send_simple(&p, 1, AMQP_CONFIRM_SELECT, AMQP_CONFIRM_SELECT_OK);
    for (int i = 0; i < 3; i++)
        put_publish(&p, 1, "amq.fanout", "", "x");
    struct amqp_method close = {.id = AMQP_CONNECTION_CLOSE};
    close.connection_close.reply_code = 200;
    put_method(&p, 0, &close);
    send_tx(&p);
    uint64_t confirmed = 0;
    expect_confirms(&p, 1, &confirmed, 3);
    expect_method(&p, 0, AMQP_CONNECTION_CLOSE_OK);
    peer_finish(&p);
}
END_TEST

START_TEST(test_ack_bookkeeping)
{
    struct peer p;
    peer_start(&p, NULL);
    handshake(&p, STAGE_CHANNEL);
    declare_queue(&p, 1, "work", false);
    const char *bodies[] = {"m1", "m2", "m3", "m4", "m5"};
    for (int i = 0; i < 5; i++)
        put_publish(&p, 1, "", "work", bodies[i]);
    send_tx(&p);
    send_qos(&p, 1, 2, false);
    send_consume(&p, 1, "work", "c1", false);
    uint64_t t1 = expect_delivery(&p, 1, "c1", "m1", false);
    uint64_t t2 = expect_delivery(&p, 1, "c1", "m2", false);
    ck_assert_uint_eq(t1, 1);
    ck_assert_uint_eq(t2, 2);
    expect_silence(&p); /* the window is full */

    /* One ack for both: two more come. */
    put_ack(&p, 1, t2, true);
    send_tx(&p);
    uint64_t t3 = expect_delivery(&p, 1, "c1", "m3", false);
    uint64_t t4 = expect_delivery(&p, 1, "c1", "m4", false);
    expect_silence(&p);

    /* Rejected with requeue: it comes back first, marked redelivered, under a new tag. */
    struct amqp_method reject = {.id = AMQP_BASIC_REJECT};
    reject.basic_reject.delivery_tag = t4;
    reject.basic_reject.requeue = true;
    send_method(&p, 1, &reject);
    uint64_t t5 = expect_delivery(&p, 1, "c1", "m4", true);
    ck_assert_uint_gt(t5, t4);
    expect_silence(&p);

    /* A single ack of t3 lets m5 through; t4 is settled and unknown now. */
    put_ack(&p, 1, t3, false);
    send_tx(&p);
    expect_delivery(&p, 1, "c1", "m5", false);
    put_ack(&p, 1, t4, false);
    send_tx(&p);
    char text[64];
    snprintf(text, sizeof text, "PRECONDITION_FAILED - unknown delivery tag %llu", (unsigned long long)t4);
    expect_close(&p, 1, 406, text, 60, 80);
    send_simple(&p, 1, AMQP_CHANNEL_CLOSE_OK, 0);

    /* The channel's unacked messages went back to the queue when it closed. */
    send_channel_open(&p, 2);
    expect_method(&p, 2, AMQP_CHANNEL_OPEN_OK);
    ck_assert_uint_eq(queue_depth(&p, 2, "work"), 2);
    peer_finish(&p);
}
END_TEST

START_TEST(test_cancel)
{
    struct peer p;
    peer_start(&p, NULL);
    handshake(&p, STAGE_CHANNEL);
    declare_queue(&p, 1, "cancelq", false);
    /* RabbitMQ confirms the cancel of a tag it does not know. */
    struct amqp_method cancel = {.id = AMQP_BASIC_CANCEL};
    cancel.basic_cancel.consumer_tag = AMQP_BYTES_LIT("nope");
    send_method(&p, 1, &cancel);
    struct amqp_method ok = expect_method(&p, 1, AMQP_BASIC_CANCEL_OK);
    ck_assert(amqp_bytes_eq_cstr(ok.basic_cancel_ok.consumer_tag, "nope"));

    send_consume(&p, 1, "cancelq", "c2", true);
    put_publish(&p, 1, "", "cancelq", "before");
    send_tx(&p);
    expect_delivery(&p, 1, "c2", "before", false);
    cancel.basic_cancel.consumer_tag = AMQP_BYTES_LIT("c2");
    send_method(&p, 1, &cancel);
    expect_method(&p, 1, AMQP_BASIC_CANCEL_OK);
    put_publish(&p, 1, "", "cancelq", "after");
    send_tx(&p);
    expect_silence(&p);
    ck_assert_uint_eq(queue_depth(&p, 1, "cancelq"), 1);
    peer_finish(&p);
}
END_TEST

START_TEST(test_transaction)
{
    struct peer p;
    peer_start(&p, NULL);
    handshake(&p, STAGE_CHANNEL);
    declare_queue(&p, 1, "txq", false);
    send_simple(&p, 1, AMQP_TX_SELECT, AMQP_TX_SELECT_OK);
    put_publish(&p, 1, "", "txq", "dropped");
    send_tx(&p);
    ck_assert_uint_eq(queue_depth(&p, 1, "txq"), 0);
    send_simple(&p, 1, AMQP_TX_ROLLBACK, AMQP_TX_ROLLBACK_OK);
    ck_assert_uint_eq(queue_depth(&p, 1, "txq"), 0);
    put_publish(&p, 1, "", "txq", "kept");
    send_tx(&p);
    ck_assert_uint_eq(queue_depth(&p, 1, "txq"), 0);
    send_simple(&p, 1, AMQP_TX_COMMIT, AMQP_TX_COMMIT_OK);
    ck_assert_uint_eq(queue_depth(&p, 1, "txq"), 1);
    struct amqp_method get = {.id = AMQP_BASIC_GET};
    get.basic_get.queue = AMQP_BYTES_LIT("txq");
    get.basic_get.no_ack = true;
    send_method(&p, 1, &get);
    expect_method(&p, 1, AMQP_BASIC_GET_OK);
    expect_content(&p, 1, "kept");
    /* Confirms cannot follow a transaction on the same channel. */
    send_simple(&p, 1, AMQP_CONFIRM_SELECT, 0);
    expect_close(&p, 1, 406, "PRECONDITION_FAILED - cannot switch from tx to confirm mode", 85, 10);
    peer_finish(&p);
}
END_TEST

/* Advances the broker's clock to ms and fires what is due, as the server's timer would. */
static void advance_to(struct peer *p, uint64_t ms)
{
    clock_set_manual(&p->broker.clock, ms);
    deadline_heap_run_due(&p->broker.deadlines, ms);
    pump(p);
}

static const char ACK_TIMED_OUT[] =
    "PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out. Timeout value used: "
    "1000 ms. This timeout value can be configured, see consumers doc guide to learn more";

/* The consumer timeout runs from the oldest unacked delivery, with one deadline for the
 * channel however many deliveries it holds; an ack moves it on to the next oldest. */
/* ---- replies that wait for the definitions journal ---- */

/* A definitions store stand-in: every durable change is a record, on disk when the test says. */
struct fake_journal {
    uint64_t recorded, settled;
    struct list waiters;
};

static void fake_record(struct fake_journal *j)
{
    j->recorded++;
}

static void fake_exchange(void *ctx, const struct vhost *v, const struct exchange *x)
{
    (void)v, (void)x;
    fake_record(ctx);
}

static void fake_queue(void *ctx, const struct vhost *v, const struct queue *q)
{
    (void)v, (void)q;
    fake_record(ctx);
}

static void fake_binding(void *ctx, const struct vhost *v, const struct definitions_binding *b)
{
    (void)v, (void)b;
    fake_record(ctx);
}

static void fake_settings(void *ctx, bool now)
{
    (void)now;
    fake_record(ctx);
}

static void fake_batch(void *ctx)
{
    (void)ctx;
}

static uint64_t fake_ticket(void *ctx)
{
    return ((struct fake_journal *)ctx)->recorded;
}

static bool fake_wait(void *ctx, struct definitions_waiter *w)
{
    struct fake_journal *j = ctx;
    if (w->ticket <= j->settled)
        return false;
    list_push_back(&j->waiters, &w->link);
    return true;
}

static const struct definitions_ops fake_ops = {
    .exchange_declared = fake_exchange, .exchange_deleted = fake_exchange,
    .queue_declared = fake_queue, .queue_deleted = fake_queue,
    .bound = fake_binding, .unbound = fake_binding, .settings_changed = fake_settings,
    .batch_begin = fake_batch, .batch_end = fake_batch,
    .ticket = fake_ticket, .wait = fake_wait,
};

static void use_fake_journal(struct peer *p, struct fake_journal *j)
{
    *j = (struct fake_journal){0};
    list_init(&j->waiters);
    p->broker.definitions = (struct definitions_hook){&fake_ops, j};
}

/* Everything recorded so far is synced (error 0) or failed. */
static void fake_settle(struct peer *p, struct fake_journal *j, int error)
{
    j->settled = j->recorded;
    while (!list_empty(&j->waiters)) {
        struct definitions_waiter *w = list_entry(j->waiters.next, struct definitions_waiter, link);
        definitions_waiter_cancel(w);
        w->settled(w, error);
    }
    pump(p);
}

static void put_declare(struct peer *p, uint16_t ch, const char *name, bool durable)
{
    struct amqp_method m = {.id = AMQP_QUEUE_DECLARE};
    m.queue_declare.queue = amqp_cstr(name);
    m.queue_declare.durable = durable;
    put_method(p, ch, &m);
}

/* What the client sent after a durable declare waits, unread, until the declare-ok has gone:
 * on its channel and on the others. */
START_TEST(test_declare_ok_waits_for_disk)
{
    struct peer p;
    peer_start(&p, NULL);
    struct fake_journal j;
    use_fake_journal(&p, &j);
    handshake(&p, STAGE_CHANNEL);
    send_channel_open(&p, 2);
    expect_method(&p, 2, AMQP_CHANNEL_OPEN_OK);
    put_declare(&p, 1, "transient", false);
    send_tx(&p);
    expect_method(&p, 1, AMQP_QUEUE_DECLARE_OK); /* nothing recorded: answered at once */
    ck_assert(list_empty(&j.waiters));

    put_declare(&p, 1, "durable", true);
    struct amqp_method qos = {.id = AMQP_BASIC_QOS};
    put_method(&p, 1, &qos);
    put_method(&p, 2, &qos);
    send_tx(&p);
    expect_silence(&p);
    ck_assert(p.paused);
    ck_assert(!list_empty(&j.waiters));
    fake_settle(&p, &j, 0);
    struct amqp_method ok = expect_method(&p, 1, AMQP_QUEUE_DECLARE_OK);
    ck_assert(amqp_bytes_eq_cstr(ok.queue_declare_ok.queue, "durable"));
    expect_method(&p, 1, AMQP_BASIC_QOS_OK);
    expect_method(&p, 2, AMQP_BASIC_QOS_OK);
    ck_assert(!p.paused);

    /* queue.delete: its delete-ok, then the cancel of the channel's own consumer */
    send_consume(&p, 1, "durable", "c1", true);
    struct amqp_method del = {.id = AMQP_QUEUE_DELETE};
    del.queue_delete.queue = AMQP_BYTES_LIT("durable");
    send_method(&p, 1, &del);
    expect_silence(&p);
    fake_settle(&p, &j, 0);
    expect_method(&p, 1, AMQP_QUEUE_DELETE_OK);
    struct amqp_method cancel = expect_method(&p, 1, AMQP_BASIC_CANCEL);
    ck_assert(amqp_bytes_eq_cstr(cancel.basic_cancel.consumer_tag, "c1"));
    peer_finish(&p);
}
END_TEST

/* A declare that finds a durable queue waits while anything recorded (another connection's
 * declare of it) is not on disk yet; a transient one does not. */
START_TEST(test_redeclare_waits_for_unsynced_records)
{
    struct peer p;
    peer_start(&p, NULL);
    struct fake_journal j;
    use_fake_journal(&p, &j);
    handshake(&p, STAGE_CHANNEL);
    put_declare(&p, 1, "durable", true);
    send_tx(&p);
    expect_silence(&p);
    fake_settle(&p, &j, 0);
    expect_method(&p, 1, AMQP_QUEUE_DECLARE_OK);

    put_declare(&p, 1, "durable", true); /* on disk: answered at once */
    send_tx(&p);
    expect_method(&p, 1, AMQP_QUEUE_DECLARE_OK);

    fake_record(&j); /* another connection's record, not synced yet */
    put_declare(&p, 1, "transient", false);
    send_tx(&p);
    expect_method(&p, 1, AMQP_QUEUE_DECLARE_OK);
    put_declare(&p, 1, "durable", true);
    send_tx(&p);
    expect_silence(&p);
    fake_settle(&p, &j, 0);
    expect_method(&p, 1, AMQP_QUEUE_DECLARE_OK);
    peer_finish(&p);
}
END_TEST

/* A record that cannot be synced: RabbitMQ's internal error closes the connection. */
START_TEST(test_declare_sync_failure)
{
    struct peer p;
    peer_start(&p, NULL);
    struct fake_journal j;
    use_fake_journal(&p, &j);
    handshake(&p, STAGE_CHANNEL);
    struct amqp_method x = {.id = AMQP_EXCHANGE_DECLARE};
    x.exchange_declare.exchange = AMQP_BYTES_LIT("dx");
    x.exchange_declare.type = AMQP_BYTES_LIT("direct");
    x.exchange_declare.durable = true;
    send_method(&p, 1, &x);
    expect_silence(&p);
    fake_settle(&p, &j, -EIO);
    expect_close(&p, 0, AMQP_INTERNAL_ERROR,
                 "INTERNAL_ERROR - the definitions journal could not be written: Input/output error",
                 40, 10);
    send_close_ok(&p); /* read although the declare held the input */
    ck_assert(p.destroyed);
    peer_finish(&p);
}
END_TEST

/* The connection goes while its declare-ok waits: the sync that lands later finds no one. */
START_TEST(test_gone_while_waiting)
{
    struct peer p;
    peer_start(&p, NULL);
    struct fake_journal j;
    use_fake_journal(&p, &j);
    handshake(&p, STAGE_CHANNEL);
    put_declare(&p, 1, "durable", true);
    send_tx(&p);
    ck_assert(!list_empty(&j.waiters));
    connection_force_close(p.conn, "closed by the test");
    expect_close(&p, 0, AMQP_CONNECTION_FORCED, "CONNECTION_FORCED - closed by the test", 0, 0);
    send_close_ok(&p);
    ck_assert(p.destroyed);
    ck_assert(list_empty(&j.waiters)); /* the channel stopped waiting as it went */
    fake_settle(&p, &j, 0);
    peer_finish(&p);
}
END_TEST

/* The connection is closing (closed by the API) when its declare's sync fails: the close
 * already sent stands, no second connection.close follows it. */
START_TEST(test_sync_fails_while_closing)
{
    struct peer p;
    peer_start(&p, NULL);
    struct fake_journal j;
    use_fake_journal(&p, &j);
    handshake(&p, STAGE_CHANNEL);
    put_declare(&p, 1, "durable", true);
    send_tx(&p);
    ck_assert(!list_empty(&j.waiters));
    connection_force_close(p.conn, "closed by the test");
    expect_close(&p, 0, AMQP_CONNECTION_FORCED, "CONNECTION_FORCED - closed by the test", 0, 0);
    fake_settle(&p, &j, -EIO);
    expect_silence(&p);
    send_close_ok(&p);
    ck_assert(p.destroyed);
    peer_finish(&p);
}
END_TEST

/* ---- fault injection (proto/fault.c) ---- */

static void inject_ok(struct peer *p, const struct fault_request *r)
{
    const char *why = NULL;
    ck_assert_msg(fault_inject(p->conn, r, &why), "fault refused: %s", why ? why : "?");
    pump(p);
}

/* The next publishes under confirms are nacked and routed nowhere; once used up nothing stays
 * armed (the pointer the publish path tests is NULL again). */
START_TEST(test_fault_nack)
{
    struct peer p;
    peer_start(&p, NULL);
    handshake(&p, STAGE_CHANNEL);
    declare_queue(&p, 1, "nq", false);
    send_simple(&p, 1, AMQP_CONFIRM_SELECT, AMQP_CONFIRM_SELECT_OK);
    ck_assert_ptr_null(*connection_faults_slot(p.conn));
    inject_ok(&p, &(struct fault_request){.kind = FAULT_NACK, .count = 2});
    ck_assert_ptr_nonnull(*connection_faults_slot(p.conn));
    put_publish(&p, 1, "", "nq", "one");
    send_tx(&p);
    struct amqp_method nack = expect_method(&p, 1, AMQP_BASIC_NACK);
    ck_assert_uint_eq(nack.basic_nack.delivery_tag, 1);
    put_publish(&p, 1, "", "nq", "two");
    put_publish(&p, 1, "", "nq", "three");
    send_tx(&p);
    nack = expect_method(&p, 1, AMQP_BASIC_NACK);
    ck_assert_uint_eq(nack.basic_nack.delivery_tag, 2);
    struct amqp_method ack = expect_method(&p, 1, AMQP_BASIC_ACK);
    ck_assert_uint_eq(ack.basic_ack.delivery_tag, 3);
    ck_assert_ptr_null(*connection_faults_slot(p.conn));
    ck_assert_uint_eq(queue_depth(&p, 1, "nq"), 1);
    peer_finish(&p);
}
END_TEST

/* The next queue.declare (and then basic.consume) gets channel.close with the code and text
 * as given, naming the method; only the next one. */
START_TEST(test_fault_fail_next)
{
    struct peer p;
    peer_start(&p, NULL);
    handshake(&p, STAGE_CHANNEL);
    inject_ok(&p, &(struct fault_request){.kind = FAULT_FAIL_NEXT, .method_id = AMQP_QUEUE_DECLARE,
                                          .code = 406, .text = "PRECONDITION_FAILED - chosen"});
    put_declare(&p, 1, "fq", false);
    send_tx(&p);
    expect_close(&p, 1, 406, "PRECONDITION_FAILED - chosen", 50, 10);
    send_simple(&p, 1, AMQP_CHANNEL_CLOSE_OK, 0);
    send_channel_open(&p, 2);
    expect_method(&p, 2, AMQP_CHANNEL_OPEN_OK);
    declare_queue(&p, 2, "fq", false);
    inject_ok(&p, &(struct fault_request){.kind = FAULT_FAIL_NEXT, .method_id = AMQP_BASIC_CONSUME,
                                          .code = 403, .text = "ACCESS_REFUSED - no"});
    struct amqp_method consume = {.id = AMQP_BASIC_CONSUME};
    consume.basic_consume.queue = amqp_cstr("fq");
    send_method(&p, 2, &consume);
    expect_close(&p, 2, 403, "ACCESS_REFUSED - no", 60, 20);
    ck_assert_ptr_null(*connection_faults_slot(p.conn));
    peer_finish(&p);
}
END_TEST

/* Close and channel close send the code and text as given; the connection then waits for
 * close-ok as after any close it sends. */
START_TEST(test_fault_close)
{
    struct peer p;
    peer_start(&p, NULL);
    handshake(&p, STAGE_CHANNEL);
    const char *why = NULL;
    ck_assert(!fault_inject(p.conn, &(struct fault_request){.kind = FAULT_CLOSE_CHANNEL,
                                                            .channel = 7, .code = 406, .text = "x"},
                            &why));
    ck_assert_ptr_nonnull(strstr(why, "no open channel"));
    inject_ok(&p, &(struct fault_request){.kind = FAULT_CLOSE_CHANNEL, .channel = 1, .code = 406,
                                          .text = "custom text"});
    expect_close(&p, 1, 406, "custom text", 0, 0);
    inject_ok(&p, &(struct fault_request){.kind = FAULT_CLOSE, .code = 541, .text = "bye"});
    expect_close(&p, 0, 541, "bye", 0, 0);
    ck_assert(!p.closed);
    ck_assert(!fault_inject(p.conn, &(struct fault_request){.kind = FAULT_NACK, .count = 1}, &why));
    ck_assert_ptr_nonnull(strstr(why, "not open"));
    send_close_ok(&p);
    ck_assert(p.closed);
    peer_finish(&p);
}
END_TEST

/* Cut and delay live in the transport: one that takes no output faults refuses them
 * with a reason; blocked goes only to a client with the capability. */
START_TEST(test_fault_refusals)
{
    struct peer p;
    peer_start(&p, NULL);
    handshake(&p, STAGE_OPEN);
    const char *why = NULL;
    ck_assert(!fault_inject(p.conn, &(struct fault_request){.kind = FAULT_CUT}, &why));
    ck_assert_ptr_nonnull(strstr(why, "cannot delay or cut"));
    ck_assert(!fault_inject(p.conn, &(struct fault_request){.kind = FAULT_DELAY, .ms = 5}, &why));
    ck_assert(!fault_inject(p.conn, &(struct fault_request){.kind = FAULT_STOP_HEARTBEATS}, &why));
    ck_assert_ptr_nonnull(strstr(why, "no heartbeats"));
    ck_assert_ptr_null(*connection_faults_slot(p.conn));
    inject_ok(&p, &(struct fault_request){.kind = FAULT_BLOCK, .text = "why not"});
    struct amqp_method m = expect_method(&p, 0, AMQP_CONNECTION_BLOCKED);
    ck_assert(amqp_bytes_eq_cstr(m.connection_blocked.reason, "why not"));
    inject_ok(&p, &(struct fault_request){.kind = FAULT_UNBLOCK});
    expect_method(&p, 0, AMQP_CONNECTION_UNBLOCKED);
    peer_finish(&p);
}
END_TEST

/* Stopped heartbeats: the ticks send nothing while the client's heartbeats keep it open;
 * resumed, they go out again. */
START_TEST(test_fault_heartbeats)
{
    struct peer p;
    peer_start(&p, NULL);
    clock_set_manual(&p.broker.clock, 10000);
    send_raw(&p, amqp_protocol_header, sizeof amqp_protocol_header);
    expect_method(&p, 0, AMQP_CONNECTION_START);
    put_start_ok(&p, "guest", "guest", true);
    send_tx(&p);
    struct amqp_method tune = expect_method(&p, 0, AMQP_CONNECTION_TUNE);
    put_tune_ok(&p, tune.connection_tune.channel_max, tune.connection_tune.frame_max, 2);
    put_open(&p, "/");
    send_tx(&p);
    expect_method(&p, 0, AMQP_CONNECTION_OPEN_OK);
    struct amqp_frame f;
    uint64_t now = 10000;
    advance_to(&p, now += 1000);
    ck_assert(read_frame(&p, &f) && f.type == AMQP_FRAME_HEARTBEAT); /* next_frame skips them */
    inject_ok(&p, &(struct fault_request){.kind = FAULT_STOP_HEARTBEATS});
    for (int i = 0; i < 8; i++) {
        put_frame(&p, AMQP_FRAME_HEARTBEAT, 0, NULL, 0);
        send_tx(&p);
        advance_to(&p, now += 1000);
        ck_assert(!read_frame(&p, &f));
    }
    ck_assert(!p.closed);
    inject_ok(&p, &(struct fault_request){.kind = FAULT_RESUME_HEARTBEATS});
    ck_assert_ptr_null(*connection_faults_slot(p.conn));
    advance_to(&p, now += 1000);
    ck_assert(read_frame(&p, &f) && f.type == AMQP_FRAME_HEARTBEAT); /* next_frame skips them */
    peer_finish(&p);
}
END_TEST

START_TEST(test_consumer_timeout)
{
    struct broker_config cfg;
    broker_config_defaults(&cfg);
    cfg.consumer_timeout_ms = 1000;
    struct peer p;
    peer_start(&p, &cfg);
    clock_set_manual(&p.broker.clock, 10000);
    handshake(&p, STAGE_CHANNEL);
    declare_queue(&p, 1, "slow", false);
    put_publish(&p, 1, "", "slow", "first");
    send_tx(&p);
    send_consume(&p, 1, "slow", "c1", false);
    uint64_t first = expect_delivery(&p, 1, "c1", "first", false);
    advance_to(&p, 10500);
    for (int i = 0; i < 50; i++)
        put_publish(&p, 1, "", "slow", "later");
    send_tx(&p);
    for (int i = 0; i < 50; i++)
        expect_delivery(&p, 1, "c1", "later", false);
    ck_assert_uint_eq(p.broker.deadlines.len, 1); /* the channel's one deadline */
    advance_to(&p, 10999);
    expect_silence(&p);
    put_ack(&p, 1, first, false);
    send_tx(&p);
    advance_to(&p, 11000); /* the first's time: the deadline moves on to the next oldest */
    expect_silence(&p);
    ck_assert_uint_eq(p.broker.deadlines.len, 1);
    advance_to(&p, 11499);
    expect_silence(&p);
    advance_to(&p, 11500);
    expect_close(&p, 1, 406, ACK_TIMED_OUT, 0, 0);
    ck_assert_uint_eq(p.broker.deadlines.len, 0);
    send_simple(&p, 1, AMQP_CHANNEL_CLOSE_OK, 0);
    send_channel_open(&p, 2);
    expect_method(&p, 2, AMQP_CHANNEL_OPEN_OK);
    ck_assert_uint_eq(queue_depth(&p, 2, "slow"), 50); /* requeued */
    peer_finish(&p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("connection");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_handshake_values);
    tcase_add_test(tc, test_alarm_blocks_publisher);
    tcase_add_test(tc, test_alarm_reasons);
    tcase_add_test(tc, test_unread_replies_pause_reading);
    tcase_add_test(tc, test_store_failure_holds_disk_alarm);
    tcase_add_test(tc, test_handshake_byte_by_byte);
    tcase_add_test(tc, test_bad_protocol_header);
    tcase_add_test(tc, test_bad_login);
    tcase_add_test(tc, test_bad_login_silent);
    tcase_add_test(tc, test_unknown_vhost);
    tcase_add_loop_test(tc, test_fault, 0, (int)(sizeof faults / sizeof *faults));
    tcase_add_test(tc, test_channel_max);
    tcase_add_test(tc, test_connection_close);
    tcase_add_test(tc, test_declare_bind_publish_get);
    tcase_add_test(tc, test_publisher_confirms);
    tcase_add_test(tc, test_confirms_before_connection_close_ok);
    tcase_add_test(tc, test_ack_bookkeeping);
    tcase_add_test(tc, test_cancel);
    tcase_add_test(tc, test_transaction);
    tcase_add_test(tc, test_consumer_timeout);
    tcase_add_test(tc, test_fault_nack);
    tcase_add_test(tc, test_fault_fail_next);
    tcase_add_test(tc, test_fault_close);
    tcase_add_test(tc, test_fault_refusals);
    tcase_add_test(tc, test_fault_heartbeats);
    tcase_add_test(tc, test_declare_ok_waits_for_disk);
    tcase_add_test(tc, test_redeclare_waits_for_unsynced_records);
    tcase_add_test(tc, test_declare_sync_failure);
    tcase_add_test(tc, test_gone_while_waiting);
    tcase_add_test(tc, test_sync_fails_while_closing);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
