/* The management API's HTTP/1.1 server on the broker's libuv loop: sockets, HTTPS, parsing, keep-alive.
 *
 * Why Debian's libhttp-parser on Warren's own libuv sockets, not libh2o 2.2.5 (both tried):
 * - both run on our uv_loop_t, parse keep-alive and pipelined requests and request bodies;
 * - h2o's stop is not ours to drive: h2o_context_request_shutdown left a connection that was
 *   mid-body open ~10 s (its request timeout), and h2o_context_dispose asserts unless its
 *   private _graceful_shutdown_timeout entry is unlinked by hand first; here every handle is
 *   ours, closed at once on SIGTERM, and uv_loop_close succeeds (ASan/LSan clean either way);
 * - h2o keeps process-wide state (memory recyclers, a getaddrinfo thread pool) and brings
 *   HTTP/2, a file server and its own Server header we would have to keep in step with;
 * - HTTPS: the OpenSSL memory-BIO session net/ uses for AMQP over TLS (net/tls_session.h, its
 *   context from net/tls_context.h) wraps these sockets, where h2o would need its own SSL_CTX
 *   wiring; the glue is this one file against ~150 lines for h2o plus the shutdown
 *   workarounds that reach into its internals. */
#include "admin/http.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/alloc.h"
#include "core/container.h"
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "net/tcp.h"
#include "net/tls_context.h"
#include "net/tls_session.h"

/* Cowboy's limits in RabbitMQ's management listener are of this order; past them: 413/431. */
#define MAX_HEADER_BYTES (64 * 1024)
#define MAX_BODY_BYTES (20u * 1000 * 1000)

/* A growing NUL-terminated string. */
struct text {
    char *p;
    size_t len, cap;
};

static void text_append(struct text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->p = xrealloc(t->p, t->cap);
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

static const char *text_str(const struct text *t)
{
    return t->p ? t->p : "";
}

static void text_free(struct text *t)
{
    free(t->p);
    *t = (struct text){0};
}

enum header_kind { HEADER_OTHER, HEADER_AUTHORIZATION, HEADER_X_REASON };

struct http_conn {
    uv_tcp_t handle;
    struct list link; /* in http_server.conns */
    struct http_server *server;
    http_parser parser;
    struct text url, field, authorization, x_reason, body;
    struct text *value;      /* the header value being read, or NULL for one not kept */
    bool in_value;
    bool has_authorization, has_x_reason;
    size_t header_bytes;
    int refused;             /* a status to answer instead of handling (413, 431), or 0 */
    unsigned writes;         /* uv_writes in flight */
    bool close_after_write;
    /* A response held back by its handler (http_hold), and the input read after it. */
    struct http_hold *hold;
    struct http_response held;
    bool held_head;
    char *unparsed;
    size_t unparsed_len;
    bool is_tls;             /* came on the HTTPS listener: every byte goes through tls */
    struct tls_session tls;
    /* Waits for a request (request_timeout from its first byte or the connection's start)
     * or for the next one after a response (idle_timeout); stopped while the server works. */
    uv_timer_t timer;
    const struct broker_http_timeouts *timeouts;
    bool in_request;         /* a request's first bytes are in, not its end */
    int open_handles;        /* the socket and the timer: freed once both are closed */
};

struct http_write {
    uv_write_t req;
    struct http_conn *conn;
    char *data;
};

/* A TLS record is at most 16 KiB: decrypted this much at a time, straight to the parser. */
#define TLS_PLAIN_CHUNK (16u << 10)

const char *http_status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

/* ---- connections ---- */

static void reset_request(struct http_conn *c)
{
    text_free(&c->url);
    text_free(&c->field);
    text_free(&c->authorization);
    text_free(&c->x_reason);
    text_free(&c->body);
    c->value = NULL;
    c->in_value = false;
    c->has_authorization = c->has_x_reason = false;
    c->header_bytes = 0;
    c->refused = 0;
}

static void on_closed(uv_handle_t *h)
{
    struct http_conn *c = h->data;
    if (--c->open_handles > 0)
        return;
    list_remove(&c->link);
    reset_request(c);
    free(c->held.body);
    free(c->unparsed);
    if (c->is_tls)
        tls_session_free(&c->tls);
    free(c);
}

/* The holder hears at once: nothing may be released on a closing connection. */
static void drop_hold(struct http_conn *c)
{
    struct http_hold *h = c->hold;
    if (!h)
        return;
    c->hold = NULL;
    h->conn = NULL;
    h->gone(h);
}

static void close_conn(struct http_conn *c)
{
    drop_hold(c);
    if (!uv_is_closing((uv_handle_t *)&c->handle)) {
        uv_close((uv_handle_t *)&c->handle, on_closed);
        uv_close((uv_handle_t *)&c->timer, on_closed);
    }
}

static void answer_plain(struct http_conn *c, int status);

/* RabbitMQ's (cowboy's): a request begun and not finished in time is answered 408; a
 * connection that sent nothing of its next request is closed without a word. */
static void on_timeout(uv_timer_t *timer)
{
    struct http_conn *c = timer->data;
    if (c->in_request && !c->close_after_write && (!c->is_tls || c->tls.established)) {
        uv_read_stop((uv_stream_t *)&c->handle);
        answer_plain(c, 408);
        if (c->writes)
            return;
    }
    close_conn(c);
}

static void wait_for(struct http_conn *c, uint32_t ms)
{
    if (!uv_is_closing((uv_handle_t *)&c->timer)) /* a failed write may have closed it */
        uv_timer_start(&c->timer, on_timeout, ms, 0);
}

static void on_written(uv_write_t *req, int status)
{
    struct http_write *w = container_of(req, struct http_write, req);
    struct http_conn *c = w->conn;
    free(w->data);
    free(w);
    c->writes--;
    if (status < 0 || (c->close_after_write && c->writes == 0))
        close_conn(c);
}

/* Writes data (malloc'd, the write's from now on) to the socket as it is. */
static void write_bytes(struct http_conn *c, char *data, size_t len)
{
    if (len == 0 || uv_is_closing((uv_handle_t *)&c->handle)) {
        free(data);
        return;
    }
    struct http_write *w = xmalloc(sizeof *w);
    w->conn = c;
    w->data = data;
    uv_buf_t buf = uv_buf_init(data, (unsigned)len);
    c->writes++;
    if (uv_write(&w->req, (uv_stream_t *)&c->handle, &buf, 1, on_written) < 0) {
        c->writes--;
        free(data);
        free(w);
        close_conn(c);
    }
}

/* Whatever ciphertext the TLS session made (handshake flights, tickets, alerts), written. */
static void flush_tls(struct http_conn *c)
{
    struct tls_ciphertext out = {0};
    tls_session_take(&c->tls, &out);
    write_bytes(c, out.p, out.len);
}

/* Sends data (malloc'd, ours from now on): as it is, or encrypted on HTTPS, a close_notify
 * after the last response. */
static void send_bytes(struct http_conn *c, char *data, size_t len)
{
    if (!c->is_tls) {
        write_bytes(c, data, len);
        return;
    }
    struct tls_ciphertext out = {0};
    bool ok = tls_session_encrypt(&c->tls, data, len, &out);
    free(data);
    if (!ok) {
        free(out.p);
        close_conn(c);
        return;
    }
    if (c->close_after_write)
        tls_session_shutdown(&c->tls);
    tls_session_take(&c->tls, &out);
    write_bytes(c, out.p, out.len);
}

static void send_response(struct http_conn *c, const struct http_response *res, bool head_only)
{
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
    char head[1024];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\ndate: %s\r\nserver: Warren\r\n%s%s",
                     res->status, http_status_text(res->status), date, res->headers,
                     res->json ? "content-type: application/json\r\ncache-control: no-cache\r\n" : "");
    if (res->status != 204)
        n += snprintf(head + n, sizeof head - (size_t)n, "content-length: %zu\r\n", res->body_len);
    if (c->close_after_write)
        n += snprintf(head + n, sizeof head - (size_t)n, "connection: close\r\n");
    n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
    size_t body_len = head_only || res->status == 204 ? 0 : res->body_len;
    char *data = xmalloc((size_t)n + body_len);
    memcpy(data, head, (size_t)n);
    if (body_len)
        memcpy(data + n, res->body, body_len);
    send_bytes(c, data, (size_t)n + body_len);
}

static void answer_plain(struct http_conn *c, int status)
{
    struct http_response res = {.status = status};
    c->close_after_write = true;
    send_response(c, &res, false);
}

/* ---- parser callbacks ---- */

static struct http_conn *conn_of(http_parser *p)
{
    return p->data;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = conn_of(p);
    if ((c->header_bytes += len) > MAX_HEADER_BYTES)
        return c->refused = 431, 1;
    text_append(&c->url, at, len);
    return 0;
}

/* A header's name is complete once its value starts: pick where the value goes. */
static void begin_value(struct http_conn *c)
{
    const char *name = text_str(&c->field);
    c->value = NULL;
    if (!strcasecmp(name, "authorization") && !c->has_authorization) {
        c->value = &c->authorization;
        c->has_authorization = true;
    } else if (!strcasecmp(name, "x-reason") && !c->has_x_reason) {
        c->value = &c->x_reason;
        c->has_x_reason = true;
    }
    text_free(&c->field);
    c->in_value = true;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = conn_of(p);
    if ((c->header_bytes += len) > MAX_HEADER_BYTES)
        return c->refused = 431, 1;
    c->in_value = false;
    text_append(&c->field, at, len);
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = conn_of(p);
    if ((c->header_bytes += len) > MAX_HEADER_BYTES)
        return c->refused = 431, 1;
    if (!c->in_value)
        begin_value(c);
    if (c->value)
        text_append(c->value, at, len);
    return 0;
}

static int on_message_begin(http_parser *p)
{
    struct http_conn *c = conn_of(p);
    c->in_request = true;
    wait_for(c, c->timeouts->request_ms);
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct http_conn *c = conn_of(p);
    if (p->content_length != ULLONG_MAX && p->content_length > MAX_BODY_BYTES)
        return c->refused = 413, 2;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = conn_of(p);
    if (c->body.len + len > MAX_BODY_BYTES)
        return c->refused = 413, 1;
    text_append(&c->body, at, len);
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct http_conn *c = conn_of(p);
    const char *url = text_str(&c->url);
    const char *q = strchr(url, '?');
    char *path = q ? strndup(url, (size_t)(q - url)) : strdup(url);
    if (!path)
        abort();
    struct http_request req = {
        .method = p->method,
        .method_name = http_method_str(p->method),
        .path = path,
        .query = q ? q + 1 : "",
        .authorization = c->has_authorization ? text_str(&c->authorization) : NULL,
        .x_reason = c->has_x_reason ? text_str(&c->x_reason) : NULL,
        .body = text_str(&c->body),
        .body_len = c->body.len,
    };
    bool head = p->method == HTTP_HEAD;
    if (head)
        req.method = HTTP_GET, req.method_name = "GET";
    c->in_request = false;
    uv_timer_stop(&c->timer); /* the server's own time (a held answer) is not the client's */
    struct http_response res = {.status = 500};
    c->server->handler(c->server->ctx, &req, &res);
    c->close_after_write = !http_should_keep_alive(p);
    if (res.hold) { /* the parser stops here until the holder releases it */
        c->hold = res.hold;
        c->hold->conn = c;
        c->held = res;
        c->held.hold = NULL;
        c->held_head = head;
        http_parser_pause(p, 1);
    } else {
        send_response(c, &res, head);
        free(res.body);
        wait_for(c, c->timeouts->idle_ms);
    }
    free(path);
    reset_request(c);
    return 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = xmalloc(suggested);
    buf->len = suggested;
}

/* Parses what was read; a held response keeps the rest for later, unread further. */
static void feed(struct http_conn *c, const char *data, size_t len)
{
    size_t parsed = http_parser_execute(&c->parser, &c->server->settings, data, len);
    if (c->hold) {
        uv_read_stop((uv_stream_t *)&c->handle);
        size_t rest = len - parsed;
        c->unparsed = rest ? xmemdup(data + parsed, rest) : NULL;
        c->unparsed_len = rest;
        return;
    }
    if (c->parser.http_errno != HPE_OK || parsed != len) {
        uv_read_stop((uv_stream_t *)&c->handle);
        answer_plain(c, c->refused ? c->refused : 400);
    }
}

static bool may_parse(struct http_conn *c)
{
    return !c->hold && !c->close_after_write && !uv_is_closing((uv_handle_t *)&c->handle);
}

/* A failed TLS handshake: OpenSSL's alert, or RabbitMQ's when it made none (what a plain
 * HTTP client on the HTTPS port reads, as from RabbitMQ), then the socket closes. */
static void refuse_tls(struct http_conn *c)
{
    ERR_clear_error();
    uv_read_stop((uv_stream_t *)&c->handle);
    c->close_after_write = true;
    tls_session_refuse(&c->tls);
    flush_tls(c);
    if (c->writes == 0)
        close_conn(c);
}

/* Drives the handshake, then hands every decrypted byte to the parser until a held response
 * stops it (the rest waits in the session for http_hold_release). */
static void drain_tls(struct http_conn *c)
{
    enum tls_handshake h = tls_session_handshake(&c->tls);
    if (h == TLS_HANDSHAKE_FAILED) {
        refuse_tls(c);
        return;
    }
    char plain[TLS_PLAIN_CHUNK];
    while (h == TLS_HANDSHAKE_DONE && may_parse(c)) {
        ssize_t n = tls_session_read(&c->tls, plain, sizeof plain);
        if (n > 0) {
            feed(c, plain, (size_t)n);
            continue;
        }
        if (n == TLS_READ_CLOSED || n == TLS_READ_FAILED) {
            ERR_clear_error();
            close_conn(c);
            return;
        }
        break;
    }
    flush_tls(c);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct http_conn *c = stream->data;
    if (nread < 0) {
        free(buf->base);
        close_conn(c);
        return;
    }
    if (!c->close_after_write && nread > 0) {
        if (!c->is_tls)
            feed(c, buf->base, (size_t)nread);
        else if (!tls_session_feed(&c->tls, buf->base, (size_t)nread))
            close_conn(c);
        else
            drain_tls(c);
    }
    free(buf->base);
}

void http_hold_release(struct http_hold *h, struct http_response *replacement)
{
    struct http_conn *c = h->conn;
    c->hold = NULL;
    h->conn = NULL;
    if (replacement) {
        free(c->held.body);
        c->held = *replacement;
    }
    send_response(c, &c->held, c->held_head);
    free(c->held.body);
    c->held = (struct http_response){0};
    wait_for(c, c->timeouts->idle_ms);
    http_parser_pause(&c->parser, 0);
    if (c->close_after_write || uv_is_closing((uv_handle_t *)&c->handle))
        return;
    char *rest = c->unparsed;
    size_t n = c->unparsed_len;
    c->unparsed = NULL;
    c->unparsed_len = 0;
    if (n)
        feed(c, rest, n);
    free(rest);
    if (c->is_tls && may_parse(c))
        drain_tls(c); /* records decrypted after the held request */
    if (!c->hold && !c->close_after_write && !uv_is_closing((uv_handle_t *)&c->handle) &&
        uv_read_start((uv_stream_t *)&c->handle, on_alloc, on_read) < 0)
        close_conn(c);
}

static void accept_conn(uv_stream_t *listener, bool tls)
{
    struct http_server *s = listener->data;
    struct http_conn *c = xcalloc(1, sizeof *c);
    c->server = s;
    uv_tcp_init(s->loop, &c->handle);
    c->handle.data = c;
    uv_timer_init(s->loop, &c->timer);
    c->timer.data = c;
    c->open_handles = 2;
    c->timeouts = tls ? &s->https->timeouts : &s->timeouts;
    list_push_back(&s->conns, &c->link);
    if (uv_accept(listener, (uv_stream_t *)&c->handle) < 0) {
        close_conn(c);
        return;
    }
    if (tls && !(c->is_tls = tls_session_init(&c->tls, s->tls_ctx))) {
        close_conn(c);
        return;
    }
    uv_tcp_nodelay(&c->handle, 1);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    wait_for(c, c->timeouts->request_ms); /* the TLS handshake too */
    if (uv_read_start((uv_stream_t *)&c->handle, on_alloc, on_read) < 0)
        close_conn(c);
}

static void on_connection(uv_stream_t *listener, int status)
{
    if (status >= 0)
        accept_conn(listener, false);
}

static void on_tls_connection(uv_stream_t *listener, int status)
{
    if (status >= 0)
        accept_conn(listener, true);
}

/* ---- the listeners ---- */

static void cannot_listen(char *why, size_t why_size, const char *what, const char *bind,
                          int port, bool tls, int rc)
{
    const char *host = bind ? bind : "::";
    snprintf(why, why_size, strchr(host, ':') ? "cannot listen on [%s]:%d for %s%s: %s"
                                              : "cannot listen on %s:%d for %s%s: %s",
             host, port, what, tls ? " over HTTPS" : "", uv_strerror(rc));
}

/* BROKER_PORT_FREE asks the kernel for a port. */
static int listen_port(int port)
{
    return port == BROKER_PORT_FREE ? 0 : port;
}

int http_server_start(struct http_server *s, uv_loop_t *loop, const struct http_listen *where,
                      http_handler handler, void *ctx, char *why, size_t why_size)
{
    *s = (struct http_server){.loop = loop, .handler = handler, .ctx = ctx,
                              .https = where->https, .ssl_keys = where->ssl_keys,
                              .timeouts = *where->timeouts};
    http_parser_settings_init(&s->settings);
    s->settings.on_message_begin = on_message_begin;
    s->settings.on_url = on_url;
    s->settings.on_header_field = on_header_field;
    s->settings.on_header_value = on_header_value;
    s->settings.on_headers_complete = on_headers_complete;
    s->settings.on_body = on_body;
    s->settings.on_message_complete = on_message_complete;
    list_init(&s->conns);
    const struct broker_https *https = where->https;
    if (https && https->port &&
        !(s->tls_ctx = tls_context_new(&https->tls, where->ssl_keys, why, why_size)))
        return -1;
    int rc;
    if (where->port &&
        (rc = tcp_listen(loop, &s->listener, where->bind, listen_port(where->port), 128,
                         on_connection, s)) < 0) {
        cannot_listen(why, why_size, where->what, where->bind, where->port, false, rc);
        SSL_CTX_free(s->tls_ctx);
        s->tls_ctx = NULL;
        return rc;
    }
    s->listening = where->port != 0;
    if (s->tls_ctx) {
        const char *bind = https->bind ? https->bind : where->bind;
        rc = tcp_listen(loop, &s->tls_listener, bind, listen_port(https->port), 128,
                        on_tls_connection, s);
        if (rc < 0) {
            cannot_listen(why, why_size, where->what, bind, https->port, true, rc);
            http_server_stop(s);
            return rc;
        }
        s->tls_listening = true;
    }
    return 0;
}

void http_server_addresses(const struct http_server *s, bool tls, char *out, size_t len)
{
    out[0] = 0;
    if (tls ? s->tls_listening : s->listening)
        tcp_listener_addresses(tls ? &s->tls_listener : &s->listener, 1, out, len);
}

int http_server_port(const struct http_server *s, bool tls)
{
    if (!(tls ? s->tls_listening : s->listening))
        return 0;
    return tcp_listener_port(tls ? &s->tls_listener : &s->listener);
}

bool http_server_has_tls(const struct http_server *s)
{
    return s->tls_ctx != NULL;
}

bool http_server_reload(struct http_server *s, char *why, size_t why_size)
{
    if (!s->tls_ctx) {
        snprintf(why, why_size, "no HTTPS listener");
        return false;
    }
    SSL_CTX *fresh = tls_context_new(&s->https->tls, s->ssl_keys, why, why_size);
    if (!fresh)
        return false;
    SSL_CTX_free(s->tls_ctx); /* open connections hold their own reference */
    s->tls_ctx = fresh;
    return true;
}

void http_server_stop(struct http_server *s)
{
    if (s->listening)
        uv_close((uv_handle_t *)&s->listener, NULL);
    if (s->tls_listening)
        uv_close((uv_handle_t *)&s->tls_listener, NULL);
    s->listening = s->tls_listening = false;
    SSL_CTX_free(s->tls_ctx);
    s->tls_ctx = NULL;
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &s->conns)
        close_conn(list_entry(pos, struct http_conn, link));
}
