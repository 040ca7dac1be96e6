/* One TLS session over OpenSSL memory BIOs: ciphertext from the socket in, plaintext out, and back. */
#ifndef TLS_SESSION_H
#define TLS_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct bio_st BIO;

struct tls_session {
    SSL *ssl;
    BIO *net_in;      /* ciphertext read from the socket, for OpenSSL */
    BIO *net_out;     /* ciphertext OpenSSL made, for the socket */
    bool established; /* the handshake is done */
};

/* Ciphertext gathered for one socket write; grows as needed. */
struct tls_ciphertext {
    char *p;
    size_t len, cap;
};

enum tls_handshake { TLS_HANDSHAKE_WANT, TLS_HANDSHAKE_DONE, TLS_HANDSHAKE_FAILED };

/* tls_session_read's answers besides a byte count. */
#define TLS_READ_AGAIN 0    /* no whole record yet */
#define TLS_READ_CLOSED (-1) /* the peer's close_notify */
#define TLS_READ_FAILED (-2)

/* A server-side session on ctx (it takes its own reference). False when out of memory. */
bool tls_session_init(struct tls_session *t, SSL_CTX *ctx);
void tls_session_free(struct tls_session *t);
/* Ciphertext read from the socket, for the next handshake step or read. */
bool tls_session_feed(struct tls_session *t, const char *data, size_t len);
/* Drives the handshake on; DONE once established (and every call after). */
enum tls_handshake tls_session_handshake(struct tls_session *t);
/* Decrypted bytes into buf: a count, or one of TLS_READ_*. */
ssize_t tls_session_read(struct tls_session *t, char *buf, size_t len);
/* Encrypts len bytes (in records of at most 16 KiB, moved out after each so the BIO stays
 * small) and appends the ciphertext to out. False when OpenSSL refuses. */
bool tls_session_encrypt(struct tls_session *t, const char *data, size_t len,
                         struct tls_ciphertext *out);
/* Appends whatever ciphertext OpenSSL made (handshake flights, tickets, alerts) to out. */
void tls_session_take(struct tls_session *t, struct tls_ciphertext *out);
bool tls_session_has_output(const struct tls_session *t);
/* Queues close_notify, not waiting for the peer's. */
void tls_session_shutdown(struct tls_session *t);
/* For a handshake that failed: when OpenSSL queued no alert, queues RabbitMQ's (a fatal
 * unexpected_message in a TLS 1.0 record, what a plain client on a TLS port reads) and
 * returns true: the socket should then close with a reset, as RabbitMQ's does. */
bool tls_session_refuse(struct tls_session *t);
/* Memory BIOs keep the largest buffer they ever needed: empty ones grown past max are
 * replaced, the input's after a read, the output's after a write. */
void tls_session_trim_input(struct tls_session *t, size_t max);
void tls_session_trim_output(struct tls_session *t, size_t max);
/* Frees out's buffer when it grew past max; out must be empty. */
void tls_ciphertext_trim(struct tls_ciphertext *out, size_t max);
void tls_ciphertext_free(struct tls_ciphertext *out);

#endif
