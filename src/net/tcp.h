/* The TCP listener and its connections' transport: reads into the connection, batched writes. */
#ifndef TCP_H
#define TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "core/list.h"
#include "model/broker.h"

struct connection;

struct tcp_server {
    /* The configured listeners (rabbitmq.conf's listeners.tcp.*), else bind:port. */
    uv_tcp_t listeners[BROKER_MAX_LISTENERS];
    size_t listener_count;
    char failed_address[64]; /* after a failed start: the address that could not be listened on */
    struct list dirty;    /* connections with output to write */
    struct list paused;   /* connections not reading (publisher flow control) */
    uv_loop_t *loop;
    struct broker *broker;
    struct list conns;
    size_t conn_count;
    bool stopping;
    /* Called once, when stopping and the last connection has gone. */
    void (*on_drained)(struct tcp_server *s);
    /* Other transports' connections (TLS), visited after these by tcp_server_each_connection,
     * so the management API and Prometheus see every connection; NULL: none. */
    void (*each_other)(void *other, void (*visit)(struct connection *c, void *ctx), void *ctx);
    void *other;
};

/* Binds and listens on host:port (host NULL: every interface, as RabbitMQ's port-only
 * listeners); h->data = data. Returns 0 or a libuv error code, h then closed. */
int tcp_listen(uv_loop_t *loop, uv_tcp_t *h, const char *host, int port, int backlog,
               uv_connection_cb on_connect, void *data);
/* Listens on every configured address. Returns 0, or a libuv error code (e.g. UV_EADDRINUSE)
 * with failed_address set and nothing left listening. */
int tcp_server_start(struct tcp_server *s, uv_loop_t *loop, struct broker *broker);
/* The addresses listened on, as "127.0.0.1:5672, [::1]:5673". */
void tcp_server_addresses(const struct tcp_server *s, char *out, size_t len);
/* The same for any array of listeners (tls.c's too). */
void tcp_listener_addresses(const uv_tcp_t *listeners, size_t count, char *out, size_t len);
/* The port a listener is bound to (the kernel's choice when it was asked for 0); 0 on error. */
int tcp_listener_port(const uv_tcp_t *listener);
/* An accepted socket's name, RabbitMQ's "peer -> local" ("127.0.0.1:50000 -> 127.0.0.1:5672"). */
void tcp_connection_name(uv_tcp_t *h, char *out, size_t len);
/* RabbitMQ's rabbit_net:is_loopback of the peer's address (loopback_users). */
bool tcp_peer_is_loopback(uv_tcp_t *handle);
/* Stops accepting, closes every connection as the broker does on shutdown, closes the listener. */
void tcp_server_stop(struct tcp_server *s, void (*on_drained)(struct tcp_server *s));
/* The transport's once-per-loop-iteration work, run by the server before the loop waits:
 * paused publishers whose queue has drained read again; every connection with output
 * queued (by whoever: a publish on one delivers on others) is written, in one write each. */
void tcp_server_resume_readers(struct tcp_server *s);
/* Every connection, in the order they came (then each_other's); visit must not free any
 * (closing is fine). */
void tcp_server_each_connection(struct tcp_server *s, void (*visit)(struct connection *c, void *ctx),
                                void *ctx);
void tcp_server_write_dirty(struct tcp_server *s);

#endif
