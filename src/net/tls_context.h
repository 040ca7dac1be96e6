/* A TLS server context built from one set of rabbitmq.conf ssl options (certificates, key, verify, versions, ciphers). */
#ifndef TLS_CONTEXT_H
#define TLS_CONTEXT_H

#include <stddef.h>

#include "model/broker.h"

typedef struct ssl_ctx_st SSL_CTX;

/* Loads the certificate chain, key and CA files and applies the options. keys names where
 * the options come from ("ssl_options", "management.ssl") in why: each failure names the key
 * and file at fault. Returns NULL with why set. The caller frees it with SSL_CTX_free; a
 * session made from it keeps its own reference. */
SSL_CTX *tls_context_new(const struct broker_tls_options *o, const char *keys, char *why,
                         size_t why_size);
/* OpenSSL's first queued error as text, the queue emptied. */
void tls_context_error(char *out, size_t len);

#endif
