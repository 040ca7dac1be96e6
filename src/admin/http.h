/* The management API's HTTP/1.1 server on the broker's libuv loop: sockets, HTTPS, parsing, keep-alive. */
#ifndef HTTP_H
#define HTTP_H

#include <stdbool.h>
#include <http_parser.h>
#include <stddef.h>
#include <uv.h>

#include "core/list.h"
#include "model/broker.h"

typedef struct ssl_ctx_st SSL_CTX;

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

/* Where a server listens: plain HTTP, HTTPS, or both, serving the same handler. */
struct http_listen {
    const char *bind;      /* plain HTTP's address */
    int port;              /* 0: no plain HTTP; BROKER_PORT_FREE: one the kernel picks */
    const struct broker_http_timeouts *timeouts; /* plain HTTP's */
    const struct broker_https *https; /* HTTPS's address, ssl options, timeouts; port 0: none */
    const char *ssl_keys;  /* where they come from, for messages ("management.ssl") */
    const char *what;      /* for messages: "the management API" */
};

struct http_server {
    uv_tcp_t listener;
    uv_tcp_t tls_listener;
    uv_loop_t *loop;
    struct list conns;
    http_handler handler;
    void *ctx;
    http_parser_settings settings;
    bool listening, tls_listening;
    SSL_CTX *tls_ctx;      /* new HTTPS connections take it; each keeps its own reference */
    const struct broker_https *https;
    const char *ssl_keys;
    struct broker_http_timeouts timeouts; /* plain HTTP's */
};

/* Loads the HTTPS certificates and opens the listeners. Returns 0; or -1 with why set (a bad
 * certificate, key or option, naming its key) or a libuv error code with why naming the
 * address; nothing is then listening. */
int http_server_start(struct http_server *s, uv_loop_t *loop, const struct http_listen *where,
                      http_handler handler, void *ctx, char *why, size_t why_size);
/* Where its plain (tls false) or HTTPS listener listens, as tcp_listener_addresses writes
 * it; "" when there is none. */
void http_server_addresses(const struct http_server *s, bool tls, char *out, size_t len);
/* That listener's port (the kernel's choice for BROKER_PORT_FREE); 0: none. */
int http_server_port(const struct http_server *s, bool tls);
/* Whether it serves HTTPS (then SIGHUP reloads its certificates). */
bool http_server_has_tls(const struct http_server *s);
/* Reads the HTTPS certificate, key and CA files again for the connections to come; the open
 * ones keep theirs. Returns false with why set, the old ones kept, when a file is bad. */
bool http_server_reload(struct http_server *s, char *why, size_t why_size);
/* Closes the listeners and every connection at once (an answer being written is cut short):
 * the handles are closed by the time the loop has run once more. */
void http_server_stop(struct http_server *s);
/* Sends the held response, or replacement instead when not NULL (its body then the server's
 * too), and handles the connection's next requests. */
void http_hold_release(struct http_hold *h, struct http_response *replacement);
/* The status line's text for a code RabbitMQ's API uses. */
const char *http_status_text(int status);

#endif
