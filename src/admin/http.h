/* The management API's HTTP/1.1 server on the broker's libuv loop: sockets, parsing, keep-alive. */
#ifndef HTTP_H
#define HTTP_H

#include <stdbool.h>
#include <http_parser.h>
#include <stddef.h>
#include <uv.h>

#include "core/list.h"

/* One parsed request; every string is NUL-terminated and lives until the handler returns. */
struct http_request {
    int method;          /* enum http_method (http_parser.h) */
    const char *method_name;
    const char *path;    /* as sent, before '?' (still URL-encoded) */
    const char *query;   /* after '?', or "" */
    const char *authorization; /* header values, or NULL */
    const char *x_reason;
    const char *body;
    size_t body_len;
};

struct http_conn;

/* A response the handler holds back (what the request changed is not on disk yet): the
 * handler sets res->hold to a hold of its own. The server then sends nothing and handles no
 * further request from that connection (what arrived stays unparsed) until the handler calls
 * http_hold_release. Should the connection close first, the server calls gone, once; the
 * hold is then never to be released. */
struct http_hold {
    struct http_conn *conn; /* set by the server */
    void (*gone)(struct http_hold *h);
};

/* What the handler answers; the server frees body. */
struct http_response {
    int status;
    char headers[512];   /* extra header lines, each ending in CRLF */
    char *body;          /* malloc'd or NULL */
    size_t body_len;
    bool json;           /* Content-Type: application/json */
    struct http_hold *hold; /* set by a handler that answers later */
};

typedef void (*http_handler)(void *ctx, const struct http_request *req, struct http_response *res);

struct http_server {
    uv_tcp_t listener;
    uv_loop_t *loop;
    struct list conns;
    http_handler handler;
    void *ctx;
    http_parser_settings settings;
    bool listening;
};

/* Returns 0 or a libuv error code (e.g. UV_EADDRINUSE). */
int http_server_start(struct http_server *s, uv_loop_t *loop, const char *bind, int port,
                      http_handler handler, void *ctx);
/* Closes the listener and every connection at once (an answer being written is cut short):
 * the handles are closed by the time the loop has run once more. */
void http_server_stop(struct http_server *s);
/* Sends the held response, or replacement instead when not NULL (its body then the server's
 * too), and handles the connection's next requests. */
void http_hold_release(struct http_hold *h, struct http_response *replacement);
/* The status line's text for a code RabbitMQ's API uses. */
const char *http_status_text(int status);

#endif
