/* SASL glue: the mechanisms we offer and parsing of their start-ok responses into credentials. */
#ifndef SASL_H
#define SASL_H

#include "amqp_types.h"

#define SASL_MECHANISMS "PLAIN AMQPLAIN"

struct sasl_credentials {
    struct amqp_bytes user;
    struct amqp_bytes password;
};

enum sasl_result { SASL_OK, SASL_UNKNOWN_MECHANISM, SASL_MALFORMED };

/* Slices in *out point into response. */
enum sasl_result sasl_parse(struct amqp_bytes mechanism, struct amqp_bytes response,
                            struct sasl_credentials *out);

#endif
