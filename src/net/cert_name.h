/* Names in a certificate as RabbitMQ spells them: SASL EXTERNAL's login, subject and issuer. */
#ifndef CERT_NAME_H
#define CERT_NAME_H

#include <stdbool.h>
#include <stddef.h>

#include "model/broker.h"

typedef struct x509_st X509;
typedef struct X509_name_st X509_NAME;

/* RFC 4514 order and escaping, the last RDN first ("O=Warren tests,CN=client"); cut short
 * when it does not fit. */
void cert_distinguished_name(const X509_NAME *name, char *out, size_t len);
/* The user name ssl_cert_login_from (and its SAN options) take from cert; false with
 * RabbitMQ's reason when there is none, or it does not fit. */
bool cert_login_name(X509 *cert, const struct broker_config *cfg, char *out, size_t len,
                     const char **why);

#endif
