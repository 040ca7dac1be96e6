/* The TLS listener and its connections' transport: OpenSSL over memory BIOs on the loop. */
#ifndef TLS_H
#define TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "core/list.h"
#include "model/broker.h"

struct connection;
typedef struct ssl_ctx_st SSL_CTX;

struct tls_server {
    /* rabbitmq.conf's listeners.ssl.*, else --tls-port on the bind address. */
    uv_tcp_t listeners[BROKER_MAX_LISTENERS];
    size_t listener_count;
    char failed_address[64];
    SSL_CTX *ctx;         /* new connections take it; each connection keeps its own reference */
    struct list dirty;    /* connections with output to write */
    struct list paused;   /* connections not reading (publisher flow control) */
    struct list conns;
    size_t conn_count;
    uv_loop_t *loop;
    struct broker *broker;
    char *read_buf;       /* ciphertext lands here; decrypted before the next read */
    bool stopping;
    void (*on_drained)(struct tls_server *s);
};

/* Whether the configuration asks for any TLS listener. */
bool tls_server_configured(const struct broker_config *cfg);
/* Loads the certificates and key (ssl_options.*) and listens on every TLS address. Returns 0;
 * or -1 with why set (a bad certificate, key or option), nothing listening; or a libuv error
 * code with failed_address set. */
int tls_server_start(struct tls_server *s, uv_loop_t *loop, struct broker *broker, char *why,
                     size_t why_size);
/* The addresses listened on, as tcp_server_addresses writes them. */
void tls_server_addresses(const struct tls_server *s, char *out, size_t len);
/* Reads the certificate, key and CA files again for the connections to come; the open ones
 * keep theirs. Returns false with why set, the old ones kept, when a file is bad. */
bool tls_server_reload(struct tls_server *s, char *why, size_t why_size);
/* Stops accepting and closes every connection as the broker does on shutdown. */
void tls_server_stop(struct tls_server *s, void (*on_drained)(struct tls_server *s));
/* Once per loop iteration, as tcp.c's: paused readers resume, queued output is written. */
void tls_server_resume_readers(struct tls_server *s);
void tls_server_write_dirty(struct tls_server *s);
/* Every connection, in the order they came; visit must not free any. */
void tls_server_each_connection(struct tls_server *s, void (*visit)(struct connection *c, void *ctx),
                                void *ctx);

#endif
