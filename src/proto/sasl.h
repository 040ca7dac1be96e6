/* SASL glue: the mechanisms we offer and parsing of their start-ok responses into credentials. */
#ifndef SASL_H
#define SASL_H

#include <stdbool.h>
#include <stddef.h>

#include "amqp_types.h"
#include "model/broker.h"

struct sasl_credentials {
    struct amqp_bytes user;
    struct amqp_bytes password;
    bool external; /* EXTERNAL: the user is the TLS client certificate's name, no password */
};

enum sasl_result { SASL_OK, SASL_UNKNOWN_MECHANISM, SASL_MALFORMED };

/* What connection.start offers, as RabbitMQ lists it: those of PLAIN, AMQPLAIN and EXTERNAL
 * (in that order, whatever the order of auth_mechanisms.N) that are configured, EXTERNAL on
 * TLS connections only. */
void sasl_offer(const struct broker_config *cfg, bool tls, char *out, size_t len);
/* Whether mechanism is one sasl_offer lists. */
bool sasl_offered(const struct broker_config *cfg, bool tls, struct amqp_bytes mechanism);
/* Slices in *out point into response. */
enum sasl_result sasl_parse(struct amqp_bytes mechanism, struct amqp_bytes response,
                            struct sasl_credentials *out);

#endif
