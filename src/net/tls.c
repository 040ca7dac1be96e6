/* The TLS listener and its connections' transport: OpenSSL over memory BIOs on the loop. */
#include "net/tls.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/alloc.h"
#include "core/container.h"
#include "net/cert_name.h"
#include "net/tcp.h"
#include "net/tls_context.h"
#include "net/tls_info.h"
#include "net/tls_session.h"
#include "proto/connection.h"

struct tls_conn {
    uv_tcp_t handle;
    struct list link;        /* in tls_server.conns */
    struct list dirty_link;  /* in tls_server.dirty while output waits for the flusher */
    struct list paused_link; /* in tls_server.paused while flow control stops its reads */
    struct tls_server *server;
    struct connection *conn;
    struct tls_session session;
    struct tls_ciphertext cipher; /* what the write in flight sends */
    uv_buf_t *iov;           /* the connection's plaintext output, to encrypt */
    unsigned iov_cap;
    uv_write_t write_req;
    struct deadline linger;  /* bounds how long a close waits for pending output */
    struct deadline handshake; /* ssl_handshake_timeout */
    /* Fault injection: what the connection asks of its writes (NULL: nothing, the usual) */
    struct output_fault *fault;
    struct deadline delay;   /* the held-back write is due */
    bool delay_over;
    bool failed;             /* a fatal TLS error: only its alert may still go out */
    bool notified;           /* close_notify queued */
    bool reset;              /* close with a reset (after RabbitMQ's alert to a plain client) */
    bool paused;
    bool writing;
    bool closing;
};

/* Buffers that grew past this for a burst are freed once idle: a connection that once
 * received or sent a large message keeps no copy of its size. */
#define IDLE_BUFFER_MAX (64u << 10)
/* As tcp.c's: a peer that stops reading cannot hold a closing connection longer. */
#define LINGER_MS 5000
/* One record is at most 16 KiB plus overhead; two fit, decrypted before the next read. */
#define READ_BUF_SIZE (32u << 10)
/* The input BIO is replaced once drained past this: it would keep its largest size. */
#define IDLE_INPUT_MAX (16u << 10)

/* ---- what SASL EXTERNAL and the management API learn of the session ---- */

static bool io_peer_cert_name(void *ctx, char *out, size_t len, const char **why)
{
    struct tls_conn *t = ctx;
    const struct broker_config *cfg = &t->server->broker->config;
    X509 *cert = SSL_get0_peer_certificate(t->session.ssl);
    if (!cert) {
        *why = "connection peer presented no TLS (x.509) certificate";
        return false;
    }
    if (!cfg->tls.verify_peer) {
        log_warning(&t->server->broker->log, "TLS peer verification (authentication) is disabled, "
                    "ssl_options.verify value used: verify_none");
        *why = "TLS configuration is unsafe";
        return false;
    }
    return cert_login_name(cert, cfg, out, len, why);
}

static void io_tls_info(void *ctx, struct connection_tls_info *out)
{
    tls_info_fill(((struct tls_conn *)ctx)->session.ssl, out);
}

/* ---- a connection ---- */

static void start_write(struct tls_conn *t);
static void pump(struct tls_conn *t);

static void drained(struct tls_server *s)
{
    SSL_CTX_free(s->ctx);
    s->ctx = NULL;
    free(s->read_buf);
    s->read_buf = NULL;
    if (s->on_drained)
        s->on_drained(s);
}

static void on_closed(uv_handle_t *h)
{
    struct tls_conn *t = h->data;
    struct tls_server *s = t->server;
    deadline_heap_remove(&s->broker->deadlines, &t->linger);
    deadline_heap_remove(&s->broker->deadlines, &t->handshake);
    deadline_heap_remove(&s->broker->deadlines, &t->delay);
    connection_destroy(t->conn);
    tls_session_free(&t->session);
    tls_ciphertext_free(&t->cipher);
    free(t->iov);
    list_remove(&t->link);
    list_remove(&t->dirty_link);
    list_remove(&t->paused_link);
    free(t);
    if (--s->conn_count == 0 && s->stopping)
        drained(s);
}

static void close_now(struct tls_conn *t)
{
    if (uv_is_closing((uv_handle_t *)&t->handle))
        return;
    deadline_heap_remove(&t->server->broker->deadlines, &t->linger);
    if (!t->reset || t->writing || uv_tcp_close_reset(&t->handle, on_closed) < 0)
        uv_close((uv_handle_t *)&t->handle, on_closed);
}

static void on_linger_timeout(struct deadline *d, uint64_t now_ms)
{
    (void)now_ms;
    close_now(container_of(d, struct tls_conn, linger));
}

static void io_close(void *ctx);

/* RabbitMQ's ssl_handshake_timeout: a peer that has not finished the TLS handshake by then
 * is reset, without an alert (as RabbitMQ 3.10 does, observed). */
static void on_handshake_timeout(struct deadline *d, uint64_t now_ms)
{
    (void)now_ms;
    struct tls_conn *t = container_of(d, struct tls_conn, handshake);
    if (t->session.established || t->closing)
        return;
    log_warning(&t->server->broker->log, "%s: TLS handshake timed out after %llu ms",
                connection_log_name(t->conn),
                (unsigned long long)t->server->broker->config.ssl_handshake_timeout_ms);
    t->failed = true;
    t->reset = true;
    io_close(t);
}

/* A fatal TLS error, logged. In the handshake the socket closes after OpenSSL's alert, or
 * RabbitMQ's (a fatal unexpected_message in a TLS 1.0 record: what a plain AMQP client on
 * the TLS port reads) when OpenSSL sends none; later the AMQP connection closes as for a lost
 * peer. */
static void fail(struct tls_conn *t, const char *what)
{
    char err[256], reason[320];
    tls_context_error(err, sizeof err);
    t->failed = true;
    snprintf(reason, sizeof reason, "TLS %s: %s", what, err);
    log_warning(&t->server->broker->log, "%s: %s", connection_log_name(t->conn), reason);
    if (t->closing)
        return;
    if (t->session.established) {
        connection_read_eof(t->conn, reason);
        return;
    }
    t->reset = tls_session_refuse(&t->session);
    io_close(t);
}

/* The connection's output (at most limit bytes of it: a cut's allowance), encrypted into the
 * write buffer; the output is empty afterwards. */
static bool encrypt_output(struct tls_conn *t, size_t limit)
{
    struct output *out = connection_output(t->conn);
    size_t len = output_len(out);
    if (!t->session.established || t->failed || len == 0)
        return true;
    unsigned n = output_iov(out, &t->iov, &t->iov_cap);
    if (__builtin_expect(limit < len, 0)) {
        n = output_iov_limit(t->iov, n, limit);
        len = limit;
    }
    for (unsigned i = 0; i < n; i++) {
        if (!tls_session_encrypt(&t->session, t->iov[i].base, t->iov[i].len, &t->cipher)) {
            output_reset(out);
            return false;
        }
    }
    connection_output_taken(t->conn, out);
    output_reset(out);
    return true;
}

/* Fault injection: the socket goes without another byte (no close_notify either), as if
 * the network failed. */
static void cut(struct tls_conn *t)
{
    t->fault = NULL;
    t->notified = true;
    output_reset(connection_output(t->conn));
    if (!t->closing)
        connection_read_eof(t->conn, "socket cut by fault injection");
    close_now(t);
}

static void on_written(uv_write_t *req, int status)
{
    struct tls_conn *t = req->data;
    t->writing = false;
    t->cipher.len = 0;
    tls_session_trim_output(&t->session, IDLE_BUFFER_MAX);
    tls_ciphertext_trim(&t->cipher, IDLE_BUFFER_MAX);
    if (status < 0) {
        if (!t->closing)
            connection_read_eof(t->conn, uv_strerror(status));
        close_now(t);
        return;
    }
    if (__builtin_expect(t->fault != NULL, 0) && t->fault->cut_armed && t->fault->cut_after == 0) {
        cut(t);
        return;
    }
    if (!t->closing)
        connection_write_done(t->conn); /* may queue more: deliveries held back by a full buffer */
    start_write(t);
    if (t->closing && !t->writing)
        close_now(t);
}

static void on_delay_over(struct deadline *d, uint64_t now_ms)
{
    (void)now_ms;
    struct tls_conn *t = container_of(d, struct tls_conn, delay);
    t->delay_over = true;
    start_write(t);
}

/* Fault injection: whether the write may go now, and how much of the output (*limit). */
static bool faulty_write_allowed(struct tls_conn *t, size_t *limit)
{
    size_t pending = output_len(connection_output(t->conn));
    switch (output_fault_next(t->fault, pending, &t->delay_over, limit)) {
    case OUTPUT_FAULT_CUT:
        cut(t);
        return false;
    case OUTPUT_FAULT_WAIT:
        if (!pending)
            return true; /* the session's own records (tickets, alerts) are not held back */
        if (!deadline_pending(&t->delay)) {
            struct broker *b = t->server->broker;
            deadline_heap_add(&b->deadlines, &t->delay, clock_now_ms(&b->clock) + t->fault->delay_ms);
        }
        return false;
    case OUTPUT_FAULT_WRITE: return true;
    }
    return true;
}

/* Encrypts what is queued and writes every byte of ciphertext there is, in one write. */
static void start_write(struct tls_conn *t)
{
    if (t->writing || uv_is_closing((uv_handle_t *)&t->handle))
        return;
    size_t limit = SIZE_MAX;
    if (__builtin_expect(t->fault != NULL, 0) && !faulty_write_allowed(t, &limit))
        return;
    if (!encrypt_output(t, limit)) {
        fail(t, "write failed");
        return;
    }
    if (t->closing && t->session.established && !t->failed && !t->notified) {
        tls_session_shutdown(&t->session);
        t->notified = true;
    }
    tls_session_take(&t->session, &t->cipher);
    if (t->cipher.len == 0)
        return;
    connection_sent(t->conn, t->cipher.len);
    uv_buf_t buf = uv_buf_init(t->cipher.p, (unsigned)t->cipher.len);
    t->writing = true;
    if (uv_write(&t->write_req, (uv_stream_t *)&t->handle, &buf, 1, on_written) < 0) {
        t->writing = false;
        close_now(t);
    }
}

/* Output is written once per loop iteration (tls_server_write_dirty), as tcp.c does. */
static void io_flush(void *ctx)
{
    struct tls_conn *t = ctx;
    if (list_empty(&t->dirty_link))
        list_push_back(&t->server->dirty, &t->dirty_link);
}

static void io_set_output_fault(void *ctx, struct output_fault *f)
{
    struct tls_conn *t = ctx;
    if (!f || !f->delay_ms) {
        deadline_heap_remove(&t->server->broker->deadlines, &t->delay);
        t->delay_over = false;
    }
    t->fault = f;
    io_flush(t); /* the next write pass obeys it: a cut now, what a delay held back */
}

static void io_pause_reading(void *ctx)
{
    struct tls_conn *t = ctx;
    t->paused = true;
    uv_read_stop((uv_stream_t *)&t->handle);
    if (list_empty(&t->paused_link))
        list_push_back(&t->server->paused, &t->paused_link);
}

static void io_close(void *ctx)
{
    struct tls_conn *t = ctx;
    t->closing = true;
    list_remove(&t->dirty_link);
    list_remove(&t->paused_link);
    uv_read_stop((uv_stream_t *)&t->handle);
    start_write(t);
    if (uv_is_closing((uv_handle_t *)&t->handle))
        return;
    if (!t->writing) {
        close_now(t);
        return;
    }
    struct broker *b = t->server->broker;
    deadline_heap_reschedule(&b->deadlines, &t->linger, clock_now_ms(&b->clock) + LINGER_MS);
}

/* Drives the handshake, then hands every decrypted byte to the connection until it pauses. */
static void pump(struct tls_conn *t)
{
    if (!t->session.established) {
        enum tls_handshake h = tls_session_handshake(&t->session);
        if (h == TLS_HANDSHAKE_WANT)
            io_flush(t); /* the handshake's next flight */
        else if (h == TLS_HANDSHAKE_FAILED)
            fail(t, "handshake failed");
        if (h != TLS_HANDSHAKE_DONE)
            return;
        deadline_heap_remove(&t->server->broker->deadlines, &t->handshake);
        log_debug(&t->server->broker->log, "%s: TLS established (%s, %s)",
                  connection_log_name(t->conn), SSL_get_version(t->session.ssl),
                  SSL_get_cipher_name(t->session.ssl));
    }
    while (!t->paused && !t->closing) {
        char *base;
        size_t len;
        connection_read_buffer(t->conn, &base, &len);
        ssize_t rc = tls_session_read(&t->session, base, len);
        if (rc > 0) {
            connection_read_done(t->conn, (size_t)rc);
            continue;
        }
        if (rc == TLS_READ_CLOSED) {
            connection_read_eof(t->conn, "connection closed by peer");
            if (!t->closing)
                close_now(t);
            return;
        }
        if (rc == TLS_READ_FAILED)
            fail(t, "read failed");
        break;
    }
    if (!t->closing && tls_session_has_output(&t->session)) /* session tickets, key updates, alerts */
        io_flush(t);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct tls_conn *t = h->data;
    *buf = uv_buf_init(t->server->read_buf, READ_BUF_SIZE);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct tls_conn *t = stream->data;
    if (nread > 0) {
        connection_received(t->conn, (size_t)nread);
        if (!tls_session_feed(&t->session, buf->base, (size_t)nread)) {
            fail(t, "read failed");
            return;
        }
        pump(t);
        tls_session_trim_input(&t->session, IDLE_INPUT_MAX);
    } else if (nread < 0) {
        connection_read_eof(t->conn, nread == UV_EOF ? "connection closed by peer" : uv_strerror((int)nread));
        if (!t->closing)
            close_now(t);
    }
}

static void free_unaccepted(uv_handle_t *h)
{
    free(h->data);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct tls_server *s = listener->data;
    if (status < 0) {
        log_error(&s->broker->log, "accept failed: %s", uv_strerror(status));
        return;
    }
    struct tls_conn *t = xcalloc(1, sizeof *t);
    uv_tcp_init(s->loop, &t->handle);
    t->handle.data = t;
    t->write_req.data = t;
    t->server = s;
    list_init(&t->dirty_link);
    list_init(&t->paused_link);
    if (uv_accept(listener, (uv_stream_t *)&t->handle) < 0) {
        uv_close((uv_handle_t *)&t->handle, free_unaccepted);
        return;
    }
    if (!tls_session_init(&t->session, s->ctx)) {
        log_error(&s->broker->log, "cannot start a TLS session: out of memory");
        uv_close((uv_handle_t *)&t->handle, free_unaccepted);
        return;
    }
    uv_tcp_nodelay(&t->handle, 1);
    deadline_init(&t->linger, on_linger_timeout);
    deadline_init(&t->handshake, on_handshake_timeout);
    deadline_init(&t->delay, on_delay_over);
    char name[128];
    tcp_connection_name(&t->handle, name, sizeof name);
    struct connection_io io = {
        .flush = io_flush, .close = io_close, .pause_reading = io_pause_reading, .ctx = t,
        .peer_loopback = tcp_peer_is_loopback(&t->handle), .tls = true,
        .peer_cert_name = io_peer_cert_name, .tls_info = io_tls_info,
        .set_output_fault = io_set_output_fault};
    t->conn = connection_new(s->broker, &io, name);
    list_push_back(&s->conns, &t->link);
    s->conn_count++;
    struct broker *b = s->broker;
    deadline_heap_reschedule(&b->deadlines, &t->handshake,
                             clock_now_ms(&b->clock) + b->config.ssl_handshake_timeout_ms);
    log_debug(&s->broker->log, "accepting AMQP connection %s (TLS)", name);
    uv_read_start((uv_stream_t *)&t->handle, on_alloc, on_read);
}

/* ---- the server ---- */

bool tls_server_configured(const struct broker_config *cfg)
{
    return cfg->tls_port != 0 || cfg->ssl_listener_count > 0;
}

static void close_listeners(struct tls_server *s)
{
    for (size_t i = 0; i < s->listener_count; i++)
        uv_close((uv_handle_t *)&s->listeners[i], NULL);
    s->listener_count = 0;
}

int tls_server_start(struct tls_server *s, uv_loop_t *loop, struct broker *broker, char *why,
                     size_t why_size)
{
    *s = (struct tls_server){.loop = loop, .broker = broker};
    list_init(&s->conns);
    list_init(&s->dirty);
    list_init(&s->paused);
    const struct broker_config *cfg = &broker->config;
    if (!(s->ctx = tls_context_new(&cfg->tls, "ssl_options", why, why_size)))
        return -1;
    s->read_buf = xmalloc(READ_BUF_SIZE);
    struct broker_listener one = {cfg->bind, cfg->tls_port == BROKER_PORT_FREE ? 0 : cfg->tls_port};
    const struct broker_listener *list = cfg->tls_port ? &one : cfg->ssl_listeners;
    size_t count = cfg->tls_port ? 1 : cfg->ssl_listener_count;
    for (size_t i = 0; i < count && i < BROKER_MAX_LISTENERS; i++) {
        int rc = tcp_listen(loop, &s->listeners[s->listener_count], list[i].host, list[i].port,
                            1024, on_connection, s);
        if (rc < 0) {
            const char *host = list[i].host ? list[i].host : "::";
            snprintf(s->failed_address, sizeof s->failed_address,
                     strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, list[i].port);
            snprintf(why, why_size, "cannot listen on %s for TLS: %s", s->failed_address,
                     uv_strerror(rc));
            close_listeners(s);
            drained(s);
            return rc;
        }
        s->listener_count++;
    }
    return 0;
}

void tls_server_addresses(const struct tls_server *s, char *out, size_t len)
{
    tcp_listener_addresses(s->listeners, s->listener_count, out, len);
}

bool tls_server_reload(struct tls_server *s, char *why, size_t why_size)
{
    if (s->stopping) { /* the context may be gone already */
        snprintf(why, why_size, "the broker is stopping");
        return false;
    }
    SSL_CTX *fresh = tls_context_new(&s->broker->config.tls, "ssl_options", why, why_size);
    if (!fresh)
        return false;
    SSL_CTX_free(s->ctx); /* open connections hold their own reference */
    s->ctx = fresh;
    return true;
}

void tls_server_stop(struct tls_server *s, void (*on_drained)(struct tls_server *s))
{
    s->stopping = true;
    s->on_drained = on_drained;
    close_listeners(s);
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &s->conns) {
        struct tls_conn *t = list_entry(pos, struct tls_conn, link);
        connection_shutdown(t->conn);
    }
    if (s->conn_count == 0)
        drained(s);
}

void tls_server_resume_readers(struct tls_server *s)
{
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &s->paused) {
        struct tls_conn *t = list_entry(pos, struct tls_conn, paused_link);
        if (t->closing) {
            list_remove(&t->paused_link);
        } else if (connection_may_read(t->conn)) {
            list_remove(&t->paused_link);
            t->paused = false;
            uv_read_start((uv_stream_t *)&t->handle, on_alloc, on_read);
            connection_read_resumed(t->conn); /* may pause it again: it joins the tail */
            if (!t->paused) {
                pump(t); /* records already read and not yet decrypted */
                tls_session_trim_input(&t->session, IDLE_INPUT_MAX);
            }
        }
    }
}

void tls_server_write_dirty(struct tls_server *s)
{
    while (!list_empty(&s->dirty)) {
        struct tls_conn *t = list_entry(s->dirty.next, struct tls_conn, dirty_link);
        list_remove(&t->dirty_link);
        start_write(t);
    }
}

void tls_server_each_connection(struct tls_server *s, void (*visit)(struct connection *c, void *ctx),
                                void *ctx)
{
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &s->conns) {
        struct tls_conn *t = list_entry(pos, struct tls_conn, link);
        if (!uv_is_closing((uv_handle_t *)&t->handle))
            visit(t->conn, ctx);
    }
}
