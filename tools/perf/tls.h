/* Client TLS on OpenSSL over the connection's own socket: one context, a session per connection. */
#ifndef PERF_TLS_H
#define PERF_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TLS_HANDSHAKE_TIMEOUT_MS 15000

struct ssl_ctx_st; /* OpenSSL's SSL_CTX */
struct ssl_st;     /* OpenSSL's SSL */

/* A context that verifies the server's certificate against cacert (a PEM file), or against
 * the system's CAs when cacert is NULL. Returns NULL with a reason in err. */
struct ssl_ctx_st *tls_context_new(const char *cacert, char *err, size_t err_size);
void tls_context_free(struct ssl_ctx_st *ctx);

/* Runs the handshake on the connected non-blocking socket fd, checking that the certificate
 * names host (a DNS name or an IP address). Returns the session, or NULL with a reason. */
struct ssl_st *tls_connect(struct ssl_ctx_st *ctx, int fd, const char *host, char *err,
                           size_t err_size);
void tls_free(struct ssl_st *ssl);

/* Decrypts into buf until it is full or the socket has nothing more (then *drained is set).
 * Returns the bytes read (0 with *drained set), or -1 on EOF or error. */
ssize_t tls_read(struct ssl_st *ssl, uint8_t *buf, size_t len, bool *drained);
/* Encrypts and writes a prefix of buf. Returns the bytes taken, 0 when the socket is full
 * (call again with the same bytes at the front), -1 on error. */
ssize_t tls_write(struct ssl_st *ssl, const uint8_t *buf, size_t len);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384". */
void tls_describe(struct ssl_st *ssl, char *out, size_t size);

#endif
