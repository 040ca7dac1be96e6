/* An AMQP connection: handshake, tuning, heartbeats, close, and frame dispatch to channels. */
#include "proto/connection.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "amqp_frame.h"
#include "amqp_octets.h"
#include "amqp_table.h"
#include "amqp_wire.h"
#include "core/alloc.h"
#include "model/outcome.h"
#include "model/queue.h"
#include "model/vhost.h"
#include "proto/channel.h"
#include "proto/connection_internal.h"
#include "proto/fault.h"
#include "proto/sasl.h"

#define READ_BUFFER_MIN 16384
#define READ_ROOM_MIN 4096
#define READ_ROOM_MAX (256u << 10) /* a busy connection reads this much per system call */
/* RabbitMQ holds a refused handshake or a fatal frame error this long before dropping TCP. */
#define DOOMED_DELAY_MS 3000
/* How long to wait for the peer's side of a close when no heartbeat bounds it. */
#define CLOSE_WAIT_MAX_MS 30000
/* A stopping broker does not wait on slow clients for longer than this. */
#define SHUTDOWN_WAIT_MS 3000
#define CONTENT_HEADER_MIN 14

static void close_socket(struct connection *c, const char *reason);
static void free_channels(struct connection *c);
static void release_channels(struct connection *c);
static void flush_confirms(struct connection *c);
static void on_handshake_timeout(struct deadline *d, uint64_t now_ms);
static void timer_start(struct connection *c, void (*fire)(struct deadline *, uint64_t), uint64_t ms);

struct connection *connection_new(struct broker *broker, const struct connection_io *io,
                                  const char *name)
{
    struct connection *c = xcalloc(1, sizeof *c);
    c->broker = broker;
    c->io = *io;
    c->state = CONN_AWAIT_HEADER;
    snprintf(c->name, sizeof c->name, "%s", name);
    output_init(&c->out);
    frame_tap_init(&c->tap);
    /* Until tune-ok, frames are bounded by the protocol minimum, as in RabbitMQ (8192 from 4.1). */
    c->frame_max = broker->config.compat->frame_min_size;
    list_init(&c->dirty_channels);
    timer_start(c, on_handshake_timeout, broker->config.handshake_timeout_ms);
    broker->churn.connections_opened++;
    uv_timeval64_t now;
    if (uv_gettimeofday(&now) == 0)
        c->connected_at_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_usec / 1000;
    return c;
}

static const char *info_state(const struct connection *c)
{
    switch (c->state) {
    case CONN_AWAIT_HEADER:
    case CONN_AWAIT_START_OK: return "starting";
    case CONN_AWAIT_TUNE_OK: return "tuning";
    case CONN_AWAIT_OPEN: return "opening";
    case CONN_OPEN:
        /* RabbitMQ's: "blocking" while an alarm is on and the connection has not published */
        if (c->alarm_blocked)
            return "blocked";
        return alarms_block_publishers(&c->broker->alarms) ? "blocking" : "running";
    default: return "closing";
    }
}

void connection_info(const struct connection *c, struct connection_info *out)
{
    *out = (struct connection_info){
        .name = c->name,
        .user = c->user,
        .vhost = c->vhost,
        .client_properties = c->client_properties,
        .auth_mechanism = c->auth_mechanism,
        .connected_at_ms = c->connected_at_ms,
        .heartbeat = c->heartbeat,
        .frame_max = c->frame_max,
        .channel_max = c->channel_max,
        .channels = c->channel_count,
        .state = info_state(c),
        .open = c->state == CONN_OPEN,
        .ssl = c->io.tls,
        .recv_oct = c->recv_oct,
        .recv_cnt = c->recv_cnt,
        .send_oct = c->send_oct,
        .send_cnt = c->send_cnt,
    };
}

void connection_tls_info(const struct connection *c, struct connection_tls_info *out)
{
    memset(out, 0, sizeof *out);
    if (c->io.tls_info)
        c->io.tls_info(c->io.ctx, out);
}

void connection_sent(struct connection *c, size_t n)
{
    c->send_oct += n;
    c->send_cnt++;
}

void connection_output_taken(struct connection *c, const struct output *o)
{
    if (__builtin_expect(c->tap.trace != NULL, 0))
        frame_tap_record_output(&c->tap, o);
}

struct frame_tap *connection_frame_tap(struct connection *c)
{
    return &c->tap;
}

void connection_force_close(struct connection *c, const char *reason)
{
    if (c->state == CONN_OPEN)
        connection_fail(c, AMQP_CONNECTION_FORCED, 0, "%s", reason);
    else if (c->state != CONN_CLOSING && c->state != CONN_CLOSE_OK_SENT && c->state != CONN_CLOSED)
        close_socket(c, reason);
}

struct output *connection_output(struct connection *c)
{
    return &c->out;
}

static void flush(struct connection *c)
{
    if (output_len(&c->out))
        c->io.flush(c->io.ctx);
}

void connection_note_congested(struct connection *c, struct queue *q)
{
    if (c->congested)
        return;
    queue_ref(q);
    c->congested = q;
}

/* Every alarm has cleared (or the connection is closing and must read its peer's close-ok). */
static void unblock(struct connection *c)
{
    c->alarm_blocked = false;
    if (c->blocked_sent && c->state == CONN_OPEN) {
        struct amqp_method m = {.id = AMQP_CONNECTION_UNBLOCKED};
        connection_send_method(c, 0, &m);
    }
    c->blocked_sent = false;
}

/* RabbitMQ blocks a connection when a content frame (a publish) arrives while an alarm is in
 * effect: that frame is handled, the input after it waits until the alarms clear. Returns
 * whether the connection is now blocked. */
static bool block_for_alarm(struct connection *c)
{
    struct alarms *a = &c->broker->alarms;
    if (c->state != CONN_OPEN || !alarms_block_publishers(a))
        return false;
    c->alarm_blocked = true;
    if (c->blocked_notify && !c->blocked_sent) {
        char reason[64];
        alarms_block_reason(a, reason, sizeof reason);
        struct amqp_method m = {.id = AMQP_CONNECTION_BLOCKED};
        m.connection_blocked.reason = amqp_bytes_of(reason, strlen(reason));
        connection_send_method(c, 0, &m);
        c->blocked_sent = true;
    }
    return true;
}

/* Closing, the connection reads on: the peer's close-ok must get through. A peer that sends
 * requests and does not read the replies waits too, or its replies would pile up without end. */
static bool input_waits(const struct connection *c)
{
    return c->state == CONN_OPEN &&
           (c->input_held || output_len(&c->out) >= CONNECTION_OUTPUT_HIGH);
}

void connection_hold_input(struct connection *c)
{
    c->input_held = true;
}

void connection_release_input(struct connection *c)
{
    c->input_held = false; /* the transport's next pass over paused readers reads on */
}

bool connection_may_read(struct connection *c)
{
    if (input_waits(c))
        return false;
    if (c->alarm_blocked) {
        if (c->state == CONN_OPEN && alarms_block_publishers(&c->broker->alarms))
            return false;
        unblock(c);
    }
    if (c->congested && !queue_relieved(c->congested))
        return false;
    if (c->congested)
        queue_unref(c->congested);
    c->congested = NULL;
    c->reading_paused = false;
    return true;
}

/* After a read: a connection blocked by an alarm, or that made a queue congested, waits
 * before reading on. */
static void apply_flow_control(struct connection *c)
{
    if (c->state != CONN_OPEN || c->reading_paused)
        return;
    if (c->alarm_blocked || input_waits(c)) {
        c->reading_paused = true;
        c->io.pause_reading(c->io.ctx);
        return;
    }
    if (!c->congested)
        return;
    if (queue_relieved(c->congested)) {
        queue_unref(c->congested);
        c->congested = NULL;
        return;
    }
    c->reading_paused = true;
    c->io.pause_reading(c->io.ctx);
}

void connection_write_done(struct connection *c)
{
    c->peer_took_output = true;
    if (!c->deliveries_held || c->state != CONN_OPEN || output_len(&c->out) >= CONNECTION_OUTPUT_HIGH)
        return;
    c->deliveries_held = false;
    /* Channels take turns at the freed room: the scan starts after last time's first. */
    uint32_t id = c->resume_cursor, first = UINT32_MAX;
    for (uint32_t seen = 0; seen < 65536;) {
        struct channel **page = c->channel_pages[(id >> 8) & 0xff];
        uint32_t step = page ? 1 : 256 - (id & 0xff);
        if (page && page[id & 0xff]) {
            if (first == UINT32_MAX)
                first = id;
            channel_resume_deliveries(page[id & 0xff]);
        }
        id = (id + step) & 0xffff;
        seen += step;
    }
    if (first != UINT32_MAX)
        c->resume_cursor = (uint16_t)(first + 1);
}

/* ---- what channels read ---- */

struct broker *connection_broker(const struct connection *c)
{
    return c->broker;
}

struct vhost *connection_vhost(const struct connection *c)
{
    return c->session.vhost;
}

struct session *connection_session(struct connection *c)
{
    return &c->session;
}

const char *connection_log_name(const struct connection *c)
{
    return c->name;
}

uint32_t connection_frame_max(const struct connection *c)
{
    return c->frame_max;
}

bool connection_wants_cancel_notify(const struct connection *c)
{
    return c->consumer_cancel_notify;
}

uint32_t connection_channel_count(const struct connection *c)
{
    return c->channel_count;
}

uint16_t connection_channel_max(const struct connection *c)
{
    return c->channel_max;
}

bool connection_is_open(const struct connection *c)
{
    return c->state == CONN_OPEN;
}

void connection_hold_deliveries(struct connection *c)
{
    c->deliveries_held = true;
}

void connection_owe_confirms(struct connection *c, struct list *link)
{
    if (list_empty(link))
        list_push_back(&c->dirty_channels, link);
}

/* ---- channels table: two levels of 256 so an id up to 65535 costs one small page ---- */

struct channel *connection_channel(struct connection *c, uint16_t id)
{
    struct channel **page = c->channel_pages[id >> 8];
    return page ? page[id & 0xff] : NULL;
}

void connection_set_channel(struct connection *c, uint16_t id, struct channel *ch)
{
    struct channel ***page = &c->channel_pages[id >> 8];
    if (!*page)
        *page = xcalloc(256, sizeof **page);
    if (!(*page)[id & 0xff] != !ch)
        c->channel_count += ch ? 1 : -1u;
    (*page)[id & 0xff] = ch;
}

/* Channels give back what they hold (unacked messages, consumers) and exclusive queues go,
 * once, when the connection stops serving. */
static void release_channels(struct connection *c)
{
    if (c->channels_released)
        return;
    c->channels_released = true;
    free_channels(c);
    if (c->session.vhost)
        vhost_delete_owned_queues(c->session.vhost, &c->session);
    vhost_close_session(&c->session);
}

static void free_channels(struct connection *c)
{
    for (int p = 0; p < 256; p++) {
        if (!c->channel_pages[p])
            continue;
        for (int i = 0; i < 256; i++)
            channel_free(c->channel_pages[p][i]);
        free(c->channel_pages[p]);
        c->channel_pages[p] = NULL;
    }
    c->channel_count = 0;
}

/* ---- sending ---- */

void connection_send_method(struct connection *c, uint16_t channel, const struct amqp_method *m)
{
    size_t start = amqp_frame_begin(&c->out.bytes, AMQP_FRAME_METHOD, channel);
    amqp_method_encode(&c->out.bytes, m);
    amqp_frame_finish(&c->out.bytes, start);
    c->wrote_since_tick = true;
    c->io.flush(c->io.ctx);
}

static void send_start(struct connection *c)
{
    struct amqp_buf props;
    amqp_buf_init(&props);
    size_t table = amqp_table_begin(&props);
    size_t caps = amqp_table_begin_nested(&props, "capabilities");
    /* Only what works is advertised; later capabilities join as they are built. */
    amqp_table_put_bool(&props, "publisher_confirms", true);
    amqp_table_put_bool(&props, "exchange_exchange_bindings", true);
    amqp_table_put_bool(&props, "basic.nack", true);
    amqp_table_put_bool(&props, "consumer_cancel_notify", true);
    amqp_table_put_bool(&props, "connection.blocked", true);
    amqp_table_put_bool(&props, "consumer_priorities", true);
    amqp_table_put_bool(&props, "authentication_failure_close", true);
    amqp_table_put_bool(&props, "per_consumer_qos", true);
    amqp_table_put_bool(&props, "direct_reply_to", true);
    amqp_table_end(&props, caps);
    char host[200] = "localhost", cluster[256];
    gethostname(host, sizeof host - 1);
    snprintf(cluster, sizeof cluster, "warren@%s", host);
    amqp_table_put_cstr(&props, "cluster_name", cluster);
    amqp_table_put_cstr(&props, "copyright", "Copyright (c) 2026 the Warren authors");
    amqp_table_put_cstr(&props, "information", "Licensed under the MPL 2.0");
    char platform[64];
    snprintf(platform, sizeof platform, "C11 / libuv %s", uv_version_string());
    amqp_table_put_cstr(&props, "platform", platform);
    const struct compat *compat = c->broker->config.compat;
    amqp_table_put_cstr(&props, "product", compat->product);
    amqp_table_put_cstr(&props, "version",
                        compat->product_version ? compat->product_version : PACKAGE_VERSION);
    amqp_table_end(&props, table);

    struct amqp_method m = {.id = AMQP_CONNECTION_START};
    m.connection_start.version_major = 0;
    m.connection_start.version_minor = 9;
    m.connection_start.server_properties = amqp_bytes_of(props.data + 4, props.len - 4);
    char mechanisms[64];
    sasl_offer(&c->broker->config, c->io.tls, mechanisms, sizeof mechanisms);
    m.connection_start.mechanisms = amqp_bytes_of(mechanisms, strlen(mechanisms));
    m.connection_start.locales = AMQP_BYTES_LIT("en_US");
    connection_send_method(c, 0, &m);
    amqp_buf_free(&props);
}

/* text is the whole reply text, "NAME - detail" (see amqp_reply_text). */
static void send_close(struct connection *c, uint16_t code, struct amqp_bytes text, uint32_t method_id)
{
    flush_confirms(c); /* owed acks precede the close, as RabbitMQ sends them */
    struct amqp_method m = {.id = AMQP_CONNECTION_CLOSE};
    m.connection_close.reply_code = code;
    m.connection_close.reply_text = text;
    m.connection_close.class_id = (uint16_t)(method_id >> 16);
    m.connection_close.method_id = (uint16_t)method_id;
    connection_send_method(c, 0, &m);
}

/* ---- closing ---- */

/* The connection leaves the open state: its channels deliver nothing more. */
static void set_closing_state(struct connection *c, enum connection_state state)
{
    if (c->state == CONN_OPEN)
        for (int p = 0; p < 256; p++)
            for (int i = 0; c->channel_pages[p] && i < 256; i++)
                if (c->channel_pages[p][i])
                    channel_stop_deliveries(c->channel_pages[p][i]);
    c->state = state;
}

static void close_socket(struct connection *c, const char *reason)
{
    if (c->state == CONN_CLOSED)
        return;
    log_info(&c->broker->log, "closing connection %s (user '%s', vhost '%s'): %s", c->name, c->user,
             c->vhost, reason);
    set_closing_state(c, CONN_CLOSED);
    deadline_heap_remove(&c->broker->deadlines, &c->timer);
    deadline_heap_remove(&c->broker->deadlines, &c->heartbeat_timer);
    release_channels(c); /* requeue now, not when the last bytes drain */
    c->io.close(c->io.ctx);
}

static void on_close_wait_timeout(struct deadline *d, uint64_t now_ms)
{
    (void)now_ms;
    close_socket(container_of(d, struct connection, timer),
                 "the peer did not finish the close handshake in time");
}

static void on_doomed_timeout(struct deadline *d, uint64_t now_ms)
{
    (void)now_ms;
    struct connection *c = container_of(d, struct connection, timer);
    close_socket(c, c->vhost[0] ? "closed after a fatal frame error" : "handshake refused");
}

/* The peer's half of a close is awaited for one heartbeat interval, at most 30 s (RabbitMQ). */
static uint64_t close_wait_ms(const struct connection *c)
{
    uint64_t hb = c->heartbeat * 1000ull;
    return hb && hb < CLOSE_WAIT_MAX_MS ? hb : CLOSE_WAIT_MAX_MS;
}

static void wait_for_peer(struct connection *c, enum connection_state state, uint64_t ms)
{
    set_closing_state(c, state);
    timer_start(c, on_close_wait_timeout, ms);
    flush(c);
}

/* Input is ignored from now on and the socket closes after RabbitMQ's 3 s delay. */
static void doom_quietly(struct connection *c)
{
    set_closing_state(c, CONN_DOOMED);
    timer_start(c, on_doomed_timeout, DOOMED_DELAY_MS);
    flush(c);
}

static void doom(struct connection *c, const char *why)
{
    log_error(&c->broker->log, "connection %s (user '%s', vhost '%s'): %s", c->name, c->user,
              c->vhost, why);
    doom_quietly(c);
}

static void fail_text(struct connection *c, uint16_t code, uint32_t method_id, const char *detail)
{
    char buf[AMQP_REPLY_TEXT_SIZE];
    struct amqp_bytes text = amqp_reply_text(buf, code, detail);
    log_error(&c->broker->log, "connection %s (user '%s', vhost '%s'): " NAME_FMT, c->name, c->user,
              c->vhost, NAME_ARG(text));
    send_close(c, code, text, method_id);
    wait_for_peer(c, CONN_CLOSING, close_wait_ms(c));
}

void connection_fail(struct connection *c, uint16_t code, uint32_t method_id, const char *fmt, ...)
{
    char detail[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    fail_text(c, code, method_id, detail);
}

/* RabbitMQ's "UNEXPECTED_FRAME - type T, all octets = <<...>>" for a frame out of place. */
static void fail_frame(struct connection *c, uint16_t code, const struct amqp_frame *f,
                           const char *suffix)
{
    char octets[160];
    amqp_format_frame_octets(octets, sizeof octets, f->payload);
    connection_fail(c, code, 0, "type %u, %s%s", f->type, octets, suffix);
}

void connection_fail_decode(struct connection *c, const struct amqp_frame *f,
                            const struct amqp_error *err)
{
    if (f->payload.len < 4) {
        fail_frame(c, AMQP_FRAME_ERROR, f, ": unknown_frame");
        return;
    }
    uint32_t id = amqp_get_u32(f->payload.ptr);
    if (err->code == AMQP_COMMAND_INVALID) {
        /* RabbitMQ 3.10 drops the socket without a word here; we say why instead. */
        connection_fail(c, AMQP_NOT_IMPLEMENTED, id, "%s", err->text);
        return;
    }
    char octets[1024];
    amqp_format_octets(octets, sizeof octets, amqp_bytes_of(f->payload.ptr + 4, f->payload.len - 4),
                       false);
    connection_fail(c, AMQP_FRAME_ERROR, id, "cannot decode %s", octets);
}

void connection_read_eof(struct connection *c, const char *why)
{
    if (c->state == CONN_CLOSED)
        return;
    if (c->state == CONN_CLOSE_OK_SENT) {
        close_socket(c, "client closed the connection");
        return;
    }
    char reason[160];
    snprintf(reason, sizeof reason, "client unexpectedly closed TCP connection (%s)", why);
    close_socket(c, reason);
}

void connection_close_as_given(struct connection *c, uint16_t code, const char *text)
{
    log_warning(&c->broker->log, "connection %s: closing with %u '%s' (fault injection)", c->name,
                code, text);
    send_close(c, code, amqp_bytes_of(text, strlen(text)), 0);
    wait_for_peer(c, CONN_CLOSING, close_wait_ms(c));
}

struct connection_faults **connection_faults_slot(struct connection *c)
{
    return &c->faults;
}

const struct connection_io *connection_transport(const struct connection *c)
{
    return &c->io;
}

bool connection_takes_blocked(const struct connection *c)
{
    return c->blocked_notify;
}

uint16_t connection_heartbeat(const struct connection *c)
{
    return c->heartbeat;
}

void connection_shutdown(struct connection *c)
{
    if (c->state == CONN_OPEN) {
        /* RabbitMQ's own wording for a stopping node. */
        char buf[AMQP_REPLY_TEXT_SIZE];
        send_close(c, AMQP_CONNECTION_FORCED,
                   amqp_reply_text(buf, AMQP_CONNECTION_FORCED,
                                   "broker forced connection closure with reason 'shutdown'"),
                   0);
        wait_for_peer(c, CONN_CLOSING, SHUTDOWN_WAIT_MS);
    } else if (c->state != CONN_CLOSING && c->state != CONN_CLOSE_OK_SENT) {
        close_socket(c, "broker shutdown");
    } else {
        timer_start(c, on_close_wait_timeout, SHUTDOWN_WAIT_MS);
    }
}

static void session_force_close(struct session *s, const char *reason)
{
    connection_force_close(container_of(s, struct connection, session), reason);
}

static const struct session_ops session_ops = {.force_close = session_force_close};

void connection_destroy(struct connection *c)
{
    release_channels(c);
    if (c->congested)
        queue_unref(c->congested);
    free(c->in);
    free((void *)c->client_properties.ptr);
    output_free(&c->out);
    frame_tap_detach(&c->tap);
    free(c->faults);
    /* Nothing may fire for a freed connection. */
    deadline_heap_remove(&c->broker->deadlines, &c->timer);
    deadline_heap_remove(&c->broker->deadlines, &c->heartbeat_timer);
    c->broker->churn.connections_closed++;
    free(c);
}

/* ---- timers: deadlines in the broker's heap, fired by the server's one loop timer ---- */

/* (Re)starts the connection's one-shot timer: only one of its uses is live at a time. */
static void timer_start(struct connection *c, void (*fire)(struct deadline *, uint64_t), uint64_t ms)
{
    struct broker *b = c->broker;
    c->timer.fire = fire;
    deadline_heap_reschedule(&b->deadlines, &c->timer, clock_now_ms(&b->clock) + ms);
}

static void on_handshake_timeout(struct deadline *d, uint64_t now_ms)
{
    (void)now_ms;
    close_socket(container_of(d, struct connection, timer), "handshake timeout");
}

static uint64_t heartbeat_period_ms(const struct connection *c)
{
    return c->heartbeat * 1000u / 2;
}

/* RabbitMQ pauses its receive monitor while flow control blocks the reader. A reader paused
 * because the peer does not take its replies is not blocked that way (RabbitMQ would read on
 * and see whether the peer still sends): it counts as heard while the peer takes output. */
static bool heard_since_check(const struct connection *c)
{
    if (c->read_since_check || !c->reading_paused)
        return c->read_since_check;
    if (c->alarm_blocked || c->congested || c->input_held)
        return true;
    return c->peer_took_output;
}

/* Ticks at half the interval, as RabbitMQ does: a heartbeat goes out when nothing else did
 * since the last tick; every second tick checks input, and two checks in a row that saw no
 * octet drop the peer (so after 2 to 3 intervals of silence). */
static void on_heartbeat_tick(struct deadline *d, uint64_t now_ms)
{
    struct connection *c = container_of(d, struct connection, heartbeat_timer);
    /* The next tick is due a period from now, set before acting as libuv's repeat did. */
    deadline_heap_reschedule(&c->broker->deadlines, d, now_ms + heartbeat_period_ms(c));
    if (++c->heartbeat_ticks % 2 == 0) {
        c->missed_checks = heard_since_check(c) ? 0 : c->missed_checks + 1;
        c->read_since_check = false;
        c->peer_took_output = false;
        if (c->missed_checks >= 2) {
            char reason[96];
            snprintf(reason, sizeof reason, "missed heartbeats from client, timeout: %us",
                     c->heartbeat);
            close_socket(c, reason);
            return;
        }
    }
    bool muted = c->faults && c->faults->heartbeats_stopped; /* fault injection */
    if (!c->wrote_since_tick && c->state != CONN_DOOMED && !muted) {
        amqp_frame_put_heartbeat(&c->out.bytes);
        flush(c);
    }
    c->wrote_since_tick = false;
}

/* ---- handshake ---- */

static bool client_has_capability(struct amqp_bytes client_properties, const char *name)
{
    struct amqp_field caps, flag;
    return amqp_table_get(client_properties, "capabilities", &caps) && caps.type == 'F' &&
           amqp_table_get(caps.v.table, name, &flag) && flag.type == 't' && flag.v.boolean;
}

/* Failed logins are logged once a second at most: a client guessing passwords in a loop must
 * not fill the log. What was left out is counted in the next line. */
static void log_login_failure(struct connection *c, const char *why)
{
    struct broker_login_log *l = &c->broker->login_log;
    uint64_t now = clock_now_ms(&c->broker->clock);
    if (l->logged_at_ms && now < l->logged_at_ms + 1000) {
        l->left_out++;
        return;
    }
    if (l->left_out)
        log_error(&c->broker->log, "connection %s: %s (and %llu more failed logins in the "
                  "second before, not logged)", c->name, why, (unsigned long long)l->left_out);
    else
        log_error(&c->broker->log, "connection %s: %s", c->name, why);
    l->logged_at_ms = now;
    l->left_out = 0;
}

/* RabbitMQ's auth_fail: the reason goes to the log, and the client hears only that the
 * mechanism's login was refused. */
static void refuse_login_because(struct connection *c, struct amqp_bytes mechanism, const char *why)
{
    log_login_failure(c, why);
    if (!c->auth_failure_close) {
        doom_quietly(c);
        return;
    }
    char detail[256], buf[AMQP_REPLY_TEXT_SIZE];
    snprintf(detail, sizeof detail,
             "Login was refused using authentication mechanism %.*s. For details see the broker "
             "logfile.",
             (int)mechanism.len, mechanism.ptr);
    send_close(c, AMQP_ACCESS_REFUSED, amqp_reply_text(buf, AMQP_ACCESS_REFUSED, detail), 0);
    wait_for_peer(c, CONN_CLOSING, DOOMED_DELAY_MS); /* RabbitMQ's reader closes after 3 s */
}

static void refuse_login(struct connection *c, struct amqp_bytes mechanism, struct amqp_bytes user,
                         const char *reason)
{
    char why[400];
    snprintf(why, sizeof why, "%.*s login refused: user '%.*s' %s", (int)mechanism.len,
             mechanism.ptr, (int)(user.len > 200 ? 200 : user.len), user.ptr, reason);
    refuse_login_because(c, mechanism, why);
}

/* EXTERNAL: the user is named by the client certificate (rabbit_auth_mechanism_ssl). */
static bool certificate_user(struct connection *c, struct amqp_bytes mechanism, char *name,
                             size_t len)
{
    const char *reason = "not TLS connection";
    if (c->io.peer_cert_name && c->io.peer_cert_name(c->io.ctx, name, len, &reason))
        return true;
    char why[200];
    snprintf(why, sizeof why, "EXTERNAL login refused: %s", reason);
    refuse_login_because(c, mechanism, why);
    return false;
}

static bool is_loopback_user(const struct broker_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->loopback_user_count; i++)
        if (strcmp(cfg->loopback_users[i], name) == 0)
            return true;
    return false;
}

static void handle_start_ok(struct connection *c, const struct amqp_connection_start_ok *m)
{
    c->auth_failure_close = client_has_capability(m->client_properties, "authentication_failure_close");
    c->consumer_cancel_notify = client_has_capability(m->client_properties, "consumer_cancel_notify");
    c->blocked_notify = client_has_capability(m->client_properties, "connection.blocked");
    free((void *)c->client_properties.ptr);
    c->client_properties = amqp_bytes_of(xmemdup(m->client_properties.ptr, m->client_properties.len),
                                         m->client_properties.len);
    snprintf(c->auth_mechanism, sizeof c->auth_mechanism, "%.*s", (int)m->mechanism.len,
             (const char *)m->mechanism.ptr);
    struct sasl_credentials cred;
    switch (sasl_parse(m->mechanism, m->response, &cred)) {
    case SASL_UNKNOWN_MECHANISM: doom(c, "unknown authentication mechanism"); return;
    case SASL_MALFORMED: doom(c, "malformed authentication response"); return;
    case SASL_OK: break;
    }
    if (!sasl_offered(&c->broker->config, c->io.tls, m->mechanism)) {
        doom(c, "invalid authentication mechanism");
        return;
    }
    char cert_name[256];
    if (cred.external) {
        if (!certificate_user(c, m->mechanism, cert_name, sizeof cert_name))
            return;
        cred.user = amqp_bytes_of(cert_name, strlen(cert_name));
    }
    struct broker_churn *churn = &c->broker->churn;
    churn->auth_attempts++;
    struct user *u = broker_find_user(c->broker, cred.user.ptr, cred.user.len);
    bool known = cred.external ? u != NULL
                               : user_check_password(u, cred.password.ptr, cred.password.len);
    if (!known) {
        churn->auth_failed++;
        refuse_login(c, m->mechanism, cred.user, "- invalid credentials");
        return;
    }
    churn->auth_succeeded++;
    if (!c->io.peer_loopback && is_loopback_user(&c->broker->config, u->name)) {
        refuse_login(c, m->mechanism, cred.user, "can only connect via localhost");
        return;
    }
    snprintf(c->user, sizeof c->user, "%s", u->name);
    struct amqp_method tune = {.id = AMQP_CONNECTION_TUNE};
    tune.connection_tune.channel_max = c->broker->config.channel_max;
    tune.connection_tune.frame_max = c->broker->config.frame_max;
    tune.connection_tune.heartbeat = c->broker->config.heartbeat;
    connection_send_method(c, 0, &tune);
    c->state = CONN_AWAIT_TUNE_OK;
}

/* RabbitMQ's negotiation rule: a client value of 0 means "no limit", which exceeds ours.
 * A refusal is silent (RabbitMQ 3.10 only logs it), or a 530 close in profiles that say so. */
static bool negotiated_ok(struct connection *c, const char *field, uint32_t value, uint32_t min,
                          uint32_t server_max)
{
    char why[200];
    if (value != 0 && value < min) {
        snprintf(why, sizeof why, "negotiated %s = %u is lower than the minimum allowed value (%u)",
                 field, value, min);
    } else if (server_max != 0 && (value == 0 || value > server_max)) {
        snprintf(why, sizeof why, "negotiated %s = %u%s is higher than the maximum allowed value (%u)",
                 field, value, value == 0 ? " (no limit)" : "", server_max);
    } else {
        return true;
    }
    if (c->broker->config.compat->tune_refusal_closes)
        fail_text(c, AMQP_NOT_ALLOWED, AMQP_CONNECTION_TUNE, why);
    else
        doom(c, why);
    return false;
}

static void handle_tune_ok(struct connection *c, const struct amqp_connection_tune_ok *m)
{
    const struct broker_config *cfg = &c->broker->config;
    if (!negotiated_ok(c, "frame_max", m->frame_max, cfg->compat->frame_min_size, cfg->frame_max) ||
        !negotiated_ok(c, "channel_max", m->channel_max, 1, cfg->channel_max))
        return;
    c->frame_max = m->frame_max;
    c->channel_max = m->channel_max;
    c->heartbeat = m->heartbeat;
    if (c->heartbeat) {
        struct broker *b = c->broker;
        c->wrote_since_tick = false; /* the schedule starts now, as RabbitMQ's does */
        c->heartbeat_timer.fire = on_heartbeat_tick;
        deadline_heap_add(&b->deadlines, &c->heartbeat_timer,
                          clock_now_ms(&b->clock) + heartbeat_period_ms(c));
    }
    c->state = CONN_AWAIT_OPEN;
}

static void handle_open(struct connection *c, const struct amqp_connection_open *m)
{
    /* rabbit_reader:is_over_node_connection_limit, first at open (3.11+): the connections
     * accepted and not yet closed, this one included, against connection_max */
    int64_t limit = c->broker->config.connection_max;
    const struct broker_churn *churn = &c->broker->churn;
    if (limit != BROKER_NO_CONNECTION_MAX &&
        churn->connections_opened - churn->connections_closed > (uint64_t)limit) {
        connection_fail(c, AMQP_NOT_ALLOWED, AMQP_CONNECTION_OPEN,
                        "connection refused: node connection limit (%lld) is reached",
                        (long long)limit);
        return;
    }
    struct amqp_bytes name = m->virtual_host;
    struct vhost *v = broker_find_vhost(c->broker, name.ptr, name.len);
    if (!v) {
        connection_fail(c, AMQP_NOT_ALLOWED, AMQP_CONNECTION_OPEN, "vhost %.*s not found",
                        (int)name.len, name.ptr);
        return;
    }
    /* the user may have been deleted since start-ok */
    struct user *u = broker_find_user(c->broker, (const uint8_t *)c->user, strlen(c->user));
    struct outcome out;
    if (!u) {
        connection_fail(c, AMQP_NOT_ALLOWED, AMQP_CONNECTION_OPEN,
                        "access to vhost '%s' refused for user '%s'", v->name, c->user);
        return;
    }
    if (!vhost_open_session(v, &c->session, &session_ops, u, &out)) {
        connection_fail(c, out.code, AMQP_CONNECTION_OPEN, "%s", out.text);
        return;
    }
    snprintf(c->vhost, sizeof c->vhost, "%.*s", (int)name.len, name.ptr);
    if (c->broker->frame_traces) /* a trace of the vhost takes in its new connections */
        frame_traces_connection_opened(c->broker->frame_traces, &c->tap, c->vhost, c->name,
                                       c->io.tls);
    struct amqp_method ok = {.id = AMQP_CONNECTION_OPEN_OK};
    ok.connection_open_ok.reserved_1 = AMQP_BYTES_LIT("");
    connection_send_method(c, 0, &ok);
    c->wrote_since_tick = false; /* RabbitMQ's heartbeat schedule does not count the handshake */
    c->state = CONN_OPEN;
    deadline_heap_remove(&c->broker->deadlines, &c->timer);
    log_info(&c->broker->log, "opened connection %s: user '%s' authenticated and granted access to vhost '%s'",
             c->name, c->user, c->vhost);
}

/* ---- dispatch ---- */

static const char *state_name(enum connection_state s)
{
    return s == CONN_AWAIT_OPEN ? "opening" : "running";
}

static void client_close(struct connection *c, const struct amqp_connection_close *m)
{
    flush_confirms(c);
    struct amqp_method ok = {.id = AMQP_CONNECTION_CLOSE_OK};
    connection_send_method(c, 0, &ok);
    if (c->state == CONN_OPEN)
        log_debug(&c->broker->log, "connection %s: client sent connection.close %u '%.*s'", c->name,
                  m->reply_code, (int)m->reply_text.len, m->reply_text.ptr);
    wait_for_peer(c, CONN_CLOSE_OK_SENT, close_wait_ms(c));
}

/* Users of the built-in store have no expiring credentials: RabbitMQ acknowledges a new
 * secret without checking it, and so do we. */
static void update_secret(struct connection *c, const struct amqp_connection_update_secret *m)
{
    log_info(&c->broker->log, "connection %s: user '%s' updated its secret: %.*s", c->name, c->user,
             (int)m->reason.len, m->reason.ptr);
    struct amqp_method ok = {.id = AMQP_CONNECTION_UPDATE_SECRET_OK};
    connection_send_method(c, 0, &ok);
}

/* Before tune-ok is accepted RabbitMQ answers nothing but the next handshake step: anything
 * else ends the connection silently. */
static void handle_early_method(struct connection *c, const struct amqp_method *m)
{
    if (c->state == CONN_AWAIT_START_OK && m->id == AMQP_CONNECTION_START_OK)
        handle_start_ok(c, &m->connection_start_ok);
    else if (c->state == CONN_AWAIT_TUNE_OK && m->id == AMQP_CONNECTION_TUNE_OK)
        handle_tune_ok(c, &m->connection_tune_ok);
    else
        doom(c, "unexpected method during the handshake");
}

static void handle_channel0_method(struct connection *c, const struct amqp_frame *f)
{
    struct amqp_method m;
    struct amqp_error err;
    if (amqp_method_decode(f->payload, &m, &err)) {
        if (c->state <= CONN_AWAIT_OPEN)
            doom(c, "undecodable method during the handshake");
        else
            connection_fail_decode(c, f, &err);
        return;
    }
    if (c->state < CONN_AWAIT_OPEN)
        handle_early_method(c, &m);
    else if (c->state == CONN_AWAIT_OPEN && m.id == AMQP_CONNECTION_OPEN)
        handle_open(c, &m.connection_open);
    else if (c->state == CONN_OPEN && m.id == AMQP_CONNECTION_CLOSE)
        client_close(c, &m.connection_close);
    else if (c->state == CONN_OPEN && m.id == AMQP_CONNECTION_UPDATE_SECRET)
        update_secret(c, &m.connection_update_secret);
    else
        connection_fail(c, AMQP_CHANNEL_ERROR, m.id, "unexpected method in connection state %s",
                        state_name(c->state));
}

/* While a close is under way only close and close-ok count; the rest is dropped. */
static void handle_closing_frame(struct connection *c, const struct amqp_frame *f)
{
    struct amqp_method m;
    if (f->type != AMQP_FRAME_METHOD || f->channel != 0 || amqp_method_decode(f->payload, &m, NULL))
        return;
    if (m.id == AMQP_CONNECTION_CLOSE) {
        struct amqp_method ok = {.id = AMQP_CONNECTION_CLOSE_OK};
        connection_send_method(c, 0, &ok);
    } else if (m.id == AMQP_CONNECTION_CLOSE_OK && c->state == CONN_CLOSING) {
        close_socket(c, "connection closed by the broker");
    }
}

/* Frame checks that hold on every channel, before any method is looked at. */
static bool frame_is_well_formed(struct connection *c, const struct amqp_frame *f)
{
    if ((f->type == AMQP_FRAME_HEARTBEAT && f->payload.len) ||
        (f->type == AMQP_FRAME_METHOD && f->payload.len < 4) ||
        (f->type == AMQP_FRAME_HEADER && f->payload.len < CONTENT_HEADER_MIN)) {
        fail_frame(c, AMQP_FRAME_ERROR, f, ": unknown_frame");
        return false;
    }
    return true;
}

static void handle_frame(struct connection *c, const struct amqp_frame *f)
{
    if (c->state == CONN_CLOSING || c->state == CONN_CLOSE_OK_SENT) {
        handle_closing_frame(c, f);
        return;
    }
    if (c->state < CONN_AWAIT_OPEN) {
        if (f->type == AMQP_FRAME_METHOD && f->channel == 0)
            handle_channel0_method(c, f);
        else if (f->type != AMQP_FRAME_HEARTBEAT || f->channel != 0 || f->payload.len)
            doom(c, "unexpected frame during the handshake");
        return;
    }
    if (!frame_is_well_formed(c, f))
        return;
    if (f->type == AMQP_FRAME_HEARTBEAT) {
        if (f->channel != 0)
            fail_frame(c, AMQP_UNEXPECTED_FRAME, f, "");
        return;
    }
    if (f->channel == 0) {
        if (f->type == AMQP_FRAME_METHOD)
            handle_channel0_method(c, f);
        else
            fail_frame(c, AMQP_UNEXPECTED_FRAME, f, "");
        return;
    }
    if (c->state == CONN_AWAIT_OPEN) {
        fail_frame(c, AMQP_UNEXPECTED_FRAME, f, "");
        return;
    }
    channel_handle_frame(c, f);
}

/* Bad framing: before open the connection just ends; after, a close is sent but, for a
 * frame-end or size fault, RabbitMQ stops reading and drops TCP 3 s later regardless.
 * Returns whether reading goes on (past a frame of unknown type, while closing). */
static bool handle_bad_frame(struct connection *c, const struct amqp_error *err, bool fatal)
{
    bool closing = c->state == CONN_CLOSING || c->state == CONN_CLOSE_OK_SENT;
    if (c->state < CONN_AWAIT_OPEN || (closing && fatal)) {
        doom(c, err->text);
        return false;
    }
    if (closing)
        return true;
    connection_fail(c, err->code, 0, "%s", err->text);
    if (fatal)
        doom(c, "fatal frame error");
    return false;
}

/* RabbitMQ also takes the header AMQP 0-9 clients send ("AMQP" 1 1 0 9) as 0-9-1. */
static bool protocol_header_accepted(const uint8_t *h)
{
    static const uint8_t amqp_0_9[8] = {'A', 'M', 'Q', 'P', 1, 1, 0, 9};
    return memcmp(h, amqp_protocol_header, 8) == 0 || memcmp(h, amqp_0_9, 8) == 0;
}

static void read_protocol_header(struct connection *c, size_t *off)
{
    *off = sizeof amqp_protocol_header;
    if (!protocol_header_accepted(c->in)) {
        amqp_buf_put(&c->out.bytes, amqp_protocol_header, sizeof amqp_protocol_header);
        close_socket(c, "unsupported protocol header");
        return;
    }
    send_start(c);
    c->state = CONN_AWAIT_START_OK;
}

static bool frame_fault_is_fatal(const uint8_t *p, size_t len, uint32_t max_payload)
{
    uint32_t size = amqp_get_u32(p + 3);
    return size > max_payload || len <= AMQP_FRAME_HEADER_SIZE + (size_t)size ||
           p[AMQP_FRAME_HEADER_SIZE + size] != AMQP_FRAME_END;
}

static void flush_confirms(struct connection *c)
{
    while (!list_empty(&c->dirty_channels)) {
        struct channel *ch = list_entry(c->dirty_channels.next, struct channel, dirty_link);
        channel_flush_confirms(ch);
    }
}

static void process_input(struct connection *c)
{
    const struct alarms *alarms = &c->broker->alarms;
    size_t off = 0;
    if (c->state == CONN_AWAIT_HEADER) {
        if (c->in_len < sizeof amqp_protocol_header)
            return;
        read_protocol_header(c, &off);
    }
    while (c->state < CONN_DOOMED && !c->alarm_blocked && !input_waits(c) && off < c->in_len) {
        struct amqp_frame f;
        struct amqp_error err;
        /* RabbitMQ lets a frame's payload reach frame_max itself, not frame_max - 8. */
        long n = amqp_frame_read(c->in + off, c->in_len - off, c->frame_max, &f, &err);
        if (n == 0)
            break;
        if (n < 0) {
            const uint8_t *p = c->in + off;
            if (!handle_bad_frame(c, &err, frame_fault_is_fatal(p, c->in_len - off, c->frame_max)))
                break;
            off += AMQP_FRAME_OVERHEAD + (size_t)amqp_get_u32(p + 3);
            continue;
        }
        handle_frame(c, &f);
        /* after handling: connection.open's is recorded by the vhost trace it starts */
        if (__builtin_expect(c->tap.trace != NULL, 0))
            frame_tap_record(&c->tap, FRAME_TRACE_IN, c->in + off, (size_t)n);
        off += (size_t)n;
        /* the alarm first: one load per frame while none is in effect */
        if (alarms_block_publishers(alarms) &&
            (f.type == AMQP_FRAME_HEADER || f.type == AMQP_FRAME_BODY) && block_for_alarm(c))
            break;
    }
    if (c->state >= CONN_DOOMED)
        off = c->in_len;
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    flush_confirms(c);
    if (c->state >= CONN_CLOSING)
        release_channels(c);
}

void connection_read_buffer(struct connection *c, char **base, size_t *len)
{
    size_t need = c->read_room ? c->read_room : READ_ROOM_MIN;
    /* A partial frame whose header is in: make room for all of it at once. */
    if (c->state != CONN_AWAIT_HEADER && c->in_len >= AMQP_FRAME_HEADER_SIZE) {
        size_t frame = (size_t)amqp_get_u32(c->in + 3) + AMQP_FRAME_OVERHEAD;
        if (frame <= (size_t)c->frame_max + AMQP_FRAME_OVERHEAD && frame > c->in_len + need)
            need = frame - c->in_len;
    }
    if (c->in_cap - c->in_len < need) {
        size_t cap = c->in_cap ? c->in_cap : READ_BUFFER_MIN;
        while (cap - c->in_len < need)
            cap *= 2;
        uint8_t *in = xrealloc(c->in, cap);
        c->in = in;
        c->in_cap = cap;
    }
    *base = (char *)c->in + c->in_len;
    *len = c->in_cap - c->in_len;
    c->read_offered = *len;
}

void connection_received(struct connection *c, size_t n)
{
    c->recv_oct += n;
    c->recv_cnt++;
}

void connection_read_done(struct connection *c, size_t n)
{
    c->read_since_check = true;
    if (c->state >= CONN_DOOMED)
        return;
    /* A read that filled all the room offered: more is waiting, offer more next time. */
    if (n == c->read_offered && c->read_room < READ_ROOM_MAX)
        c->read_room = c->read_room ? c->read_room * 2 : READ_ROOM_MIN * 2;
    c->in_len += n;
    process_input(c);
    apply_flow_control(c);
    flush(c);
}

void connection_read_resumed(struct connection *c)
{
    /* what an alarm held back was read already: the peer may send nothing more */
    if (c->state >= CONN_DOOMED || c->state == CONN_AWAIT_HEADER || !c->in_len)
        return;
    process_input(c);
    apply_flow_control(c);
    flush(c);
}
