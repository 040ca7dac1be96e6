/* A TLS session's details as the management API shows them, in RabbitMQ's spelling. */
#ifndef TLS_INFO_H
#define TLS_INFO_H

#include "proto/connection.h"

typedef struct ssl_st SSL;

/* Protocol, cipher suite parts and the peer certificate's names and validity; the fields
 * of what is not there (no handshake yet, no peer certificate) stay empty. */
void tls_info_fill(SSL *ssl, struct connection_tls_info *out);

#endif
