/* libFuzzer harness for the connection and channel state machines over a fake transport. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "amqp_frame.h"
#include "amqp_spec.h"
#include "amqp_table.h"
#include "model/broker.h"
#include "proto/connection.h"

/* The first input byte holds these flags; the rest is what the client sends. */
enum {
    MODE_HANDSHAKE = 1 << 0,    /* prefix a valid handshake and channel.open on channel 1 */
    MODE_SMALL_FRAMES = 1 << 1, /* that handshake tunes frame_max to 4096 */
    MODE_CHUNKS = 3 << 2,       /* input arrives whole, or 1, 5 or 61 octets per read */
    MODE_SLOW_WRITER = 1 << 4,  /* output is not taken (no write completes) until the end */
    MODE_SHUTDOWN = 1 << 5,     /* the broker stops before the client goes away */
    MODE_NO_TIME = 1 << 6,      /* a handshake timeout of 0: it fires at the next loop iteration */
};

struct fake {
    struct connection *conn;
    struct broker broker;
    bool closed, destroyed, paused;
    uint32_t max_payload; /* what the server may send: the configured frame_max less overhead */
    bool header_seen;     /* the stream's first octets were checked for a protocol header */
    struct amqp_buf sent;
    uv_buf_t *iov;
    unsigned iov_cap;
};

static uv_loop_t loop;
static bool trace; /* FUZZ_TRACE set: print what the server sends, to read a reproducer */
static struct amqp_buf prefix[2]; /* the handshake, with the default and the small frame_max */

static void io_flush(void *ctx)
{
    (void)ctx;
}

static void io_close(void *ctx)
{
    ((struct fake *)ctx)->closed = true;
}

static void io_pause(void *ctx)
{
    ((struct fake *)ctx)->paused = true;
}

static void put_method(struct amqp_buf *b, uint16_t ch, const struct amqp_method *m)
{
    size_t start = amqp_frame_begin(b, AMQP_FRAME_METHOD, ch);
    amqp_method_encode(b, m);
    amqp_frame_finish(b, start);
}

static void build_prefix(struct amqp_buf *b, uint32_t frame_max)
{
    amqp_buf_init(b);
    amqp_buf_put(b, amqp_protocol_header, sizeof amqp_protocol_header);
    struct amqp_buf props;
    amqp_buf_init(&props);
    size_t table = amqp_table_begin(&props);
    size_t caps = amqp_table_begin_nested(&props, "capabilities");
    amqp_table_put_bool(&props, "authentication_failure_close", true);
    amqp_table_put_bool(&props, "consumer_cancel_notify", true);
    amqp_table_end(&props, caps);
    amqp_table_end(&props, table);
    struct amqp_method m = {.id = AMQP_CONNECTION_START_OK};
    m.connection_start_ok.client_properties = amqp_bytes_of(props.data + 4, props.len - 4);
    m.connection_start_ok.mechanism = AMQP_BYTES_LIT("PLAIN");
    m.connection_start_ok.response = AMQP_BYTES_LIT("\0guest\0guest");
    m.connection_start_ok.locale = AMQP_BYTES_LIT("en_US");
    put_method(b, 0, &m);
    amqp_buf_free(&props);
    m = (struct amqp_method){.id = AMQP_CONNECTION_TUNE_OK};
    m.connection_tune_ok.channel_max = 2047;
    m.connection_tune_ok.frame_max = frame_max;
    put_method(b, 0, &m); /* heartbeat 0: no timer runs */
    m = (struct amqp_method){.id = AMQP_CONNECTION_OPEN};
    m.connection_open.virtual_host = AMQP_BYTES_LIT("/");
    put_method(b, 0, &m);
    m = (struct amqp_method){.id = AMQP_CHANNEL_OPEN};
    put_method(b, 1, &m);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (uv_loop_init(&loop))
        abort();
    trace = getenv("FUZZ_TRACE") != NULL;
    build_prefix(&prefix[0], 131072);
    build_prefix(&prefix[1], AMQP_FRAME_MIN_SIZE);
    return 0;
}

static void print_method(uint16_t ch, const struct amqp_method *m)
{
    fprintf(stderr, "server: channel %u %s", ch, amqp_method_name(m->id));
    if (m->id == AMQP_CONNECTION_CLOSE || m->id == AMQP_CHANNEL_CLOSE) {
        struct amqp_bytes text = m->id == AMQP_CONNECTION_CLOSE ? m->connection_close.reply_text
                                                                : m->channel_close.reply_text;
        fprintf(stderr, " '%.*s'", (int)text.len, (const char *)text.ptr);
    }
    fputc('\n', stderr);
}

/* Whatever the server writes must be well-formed frames within its frame_max, every method
 * and content header one the codec decodes. */
static void check_sent(struct fake *f)
{
    const uint8_t *p = f->sent.data;
    size_t len = f->sent.len;
    if (!f->header_seen && len >= 8) {
        f->header_seen = true;
        if (memcmp(p, "AMQP", 4) == 0) { /* the answer to a protocol header it refuses */
            p += 8;
            len -= 8;
        }
    }
    while (f->header_seen && len) {
        struct amqp_frame fr;
        struct amqp_error err;
        long n = amqp_frame_read(p, len, f->max_payload, &fr, &err);
        if (n < 0)
            abort();
        if (n == 0)
            abort(); /* output is always whole frames */
        if (fr.type == AMQP_FRAME_METHOD) {
            struct amqp_method m;
            if (amqp_method_decode(fr.payload, &m, &err))
                abort();
            if (trace)
                print_method(fr.channel, &m);
        } else if (fr.type == AMQP_FRAME_HEADER) {
            struct amqp_content_header h;
            if (amqp_content_header_decode(fr.payload, &h, &err))
                abort();
        }
        p += n;
        len -= (size_t)n;
    }
    if (f->header_seen)
        amqp_buf_reset(&f->sent);
}

/* A write completes: the output is taken, checked and dropped; a closing connection goes. */
static void drain(struct fake *f)
{
    if (f->destroyed)
        return;
    struct output *o = connection_output(f->conn);
    if (output_len(o)) {
        unsigned n = output_iov(o, &f->iov, &f->iov_cap);
        for (unsigned i = 0; i < n; i++)
            amqp_buf_put(&f->sent, f->iov[i].base, f->iov[i].len);
        output_reset(o);
        check_sent(f);
        if (!f->closed)
            connection_write_done(f->conn);
    }
    if (f->closed) {
        connection_destroy(f->conn);
        f->destroyed = true;
    }
}

static void iterate(struct fake *f, bool take_output)
{
    uv_run(&loop, UV_RUN_NOWAIT);
    if (f->paused && !f->closed && !f->destroyed && connection_may_read(f->conn))
        f->paused = false;
    if (take_output || f->closed)
        drain(f);
}

static void feed(struct fake *f, const uint8_t *data, size_t len, size_t chunk, bool take_output)
{
    while (len) {
        for (int i = 0; i < 8 && f->paused && !f->closed; i++)
            iterate(f, take_output);
        if (f->closed || f->paused)
            return; /* the transport reads no more */
        char *base;
        size_t room;
        connection_read_buffer(f->conn, &base, &room);
        size_t n = len < room ? len : room;
        if (chunk && n > chunk)
            n = chunk;
        memcpy(base, data, n);
        connection_read_done(f->conn, n);
        data += n;
        len -= n;
        if (chunk)
            iterate(f, take_output);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    static const size_t chunks[] = {0, 1, 5, 61};
    size_t chunk = chunks[(mode & MODE_CHUNKS) >> 2];
    bool take_output = !(mode & MODE_SLOW_WRITER);

    static struct fake f;
    memset(&f, 0, sizeof f);
    struct broker_config cfg;
    broker_config_defaults(&cfg);
    cfg.log_level = (enum log_level)(LOG_ERROR + 1); /* silent: faults are the point */
    if (mode & MODE_NO_TIME)
        cfg.handshake_timeout_ms = 0;
    broker_init(&f.broker, &cfg);
    f.max_payload = cfg.frame_max - AMQP_FRAME_OVERHEAD;
    amqp_buf_init(&f.sent);
    struct connection_io io = {.flush = io_flush, .close = io_close, .pause_reading = io_pause, .ctx = &f,
                               .peer_loopback = true};
    f.conn = connection_new(&f.broker, &io, "fuzz");

    if (mode & MODE_HANDSHAKE) {
        const struct amqp_buf *pre = &prefix[(mode & MODE_SMALL_FRAMES) ? 1 : 0];
        feed(&f, pre->data, pre->len, 0, take_output);
    }
    feed(&f, data + 1, size - 1, chunk, take_output);
    for (int i = 0; i < 3; i++)
        iterate(&f, take_output);
    if ((mode & MODE_SHUTDOWN) && !f.closed) {
        connection_shutdown(f.conn);
        iterate(&f, true);
    }
    drain(&f);
    if (!f.destroyed) { /* the client goes away */
        connection_read_eof(f.conn, "fuzz input over");
        drain(&f);
        if (!f.destroyed) {
            connection_destroy(f.conn);
            f.destroyed = true;
        }
    }
    for (int i = 0; i < 100 && uv_loop_alive(&loop); i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    if (uv_loop_alive(&loop))
        abort(); /* the connection left a handle open */
    broker_free(&f.broker);
    amqp_buf_free(&f.sent);
    free(f.iov);
    return 0;
}
