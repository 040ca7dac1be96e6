/* SASL glue: the mechanisms we offer and parsing of their start-ok responses into credentials. */
#include "proto/sasl.h"

#include "amqp_table.h"

/* PLAIN: NUL user NUL password. RabbitMQ refuses a non-empty authorisation identity. */
static enum sasl_result parse_plain(struct amqp_bytes r, struct sasl_credentials *out)
{
    if (r.len < 2 || r.ptr[0] != 0)
        return SASL_MALFORMED;
    const uint8_t *user = r.ptr + 1, *end = r.ptr + r.len;
    const uint8_t *nul = memchr(user, 0, (size_t)(end - user));
    if (!nul || memchr(nul + 1, 0, (size_t)(end - nul - 1)))
        return SASL_MALFORMED;
    out->user = amqp_bytes_of(user, (size_t)(nul - user));
    out->password = amqp_bytes_of(nul + 1, (size_t)(end - nul - 1));
    return SASL_OK;
}

/* AMQPLAIN: a field-table body without its length prefix holding LOGIN and PASSWORD. */
static enum sasl_result parse_amqplain(struct amqp_bytes r, struct sasl_credentials *out)
{
    struct amqp_field login, password;
    if (amqp_table_check(r, NULL) != 0 || !amqp_table_get(r, "LOGIN", &login) ||
        !amqp_table_get(r, "PASSWORD", &password) || login.type != 'S' || password.type != 'S')
        return SASL_MALFORMED;
    out->user = login.v.bytes;
    out->password = password.v.bytes;
    return SASL_OK;
}

enum sasl_result sasl_parse(struct amqp_bytes mechanism, struct amqp_bytes response,
                            struct sasl_credentials *out)
{
    if (amqp_bytes_eq_cstr(mechanism, "PLAIN"))
        return parse_plain(response, out);
    if (amqp_bytes_eq_cstr(mechanism, "AMQPLAIN"))
        return parse_amqplain(response, out);
    return SASL_UNKNOWN_MECHANISM;
}
