/* SASL glue: the mechanisms we offer and parsing of their start-ok responses into credentials. */
#include "proto/sasl.h"

#include <stdio.h>
#include <string.h>

#include "amqp_table.h"

/* rabbit_registry's order, which is what RabbitMQ lists (not auth_mechanisms.N's). */
static const char *const known[] = {"PLAIN", "AMQPLAIN", "EXTERNAL"};

static bool configured(const struct broker_config *cfg, const char *name)
{
    if (!cfg->auth_mechanism_count) /* RabbitMQ's default: PLAIN and AMQPLAIN */
        return strcmp(name, "EXTERNAL") != 0;
    for (size_t i = 0; i < cfg->auth_mechanism_count; i++)
        if (strcmp(cfg->auth_mechanisms[i], name) == 0)
            return true;
    return false;
}

/* rabbit_auth_mechanism_ssl:should_offer: on TLS sockets only. */
static bool offered(const struct broker_config *cfg, bool tls, const char *name)
{
    return configured(cfg, name) && (tls || strcmp(name, "EXTERNAL") != 0);
}

void sasl_offer(const struct broker_config *cfg, bool tls, char *out, size_t len)
{
    size_t used = 0;
    out[0] = 0;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (!offered(cfg, tls, known[i]))
            continue;
        int w = snprintf(out + used, len - used, "%s%s", used ? " " : "", known[i]);
        if (w < 0 || (size_t)w >= len - used)
            return;
        used += (size_t)w;
    }
}

bool sasl_offered(const struct broker_config *cfg, bool tls, struct amqp_bytes mechanism)
{
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (amqp_bytes_eq_cstr(mechanism, known[i]))
            return offered(cfg, tls, known[i]);
    return false;
}

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
    *out = (struct sasl_credentials){.external = false};
    if (amqp_bytes_eq_cstr(mechanism, "EXTERNAL")) { /* RabbitMQ ignores the response */
        out->external = true;
        return SASL_OK;
    }
    if (amqp_bytes_eq_cstr(mechanism, "PLAIN"))
        return parse_plain(response, out);
    if (amqp_bytes_eq_cstr(mechanism, "AMQPLAIN"))
        return parse_amqplain(response, out);
    return SASL_UNKNOWN_MECHANISM;
}
