/* The error record decoders fill, and reply texts in RabbitMQ's "NAME - detail" form. */
#include <stdarg.h>
#include <stdio.h>

#include "amqp_spec.h"
#include "amqp_types.h"

#define REPLY_TEXT_MAX 255

int amqp_fail(struct amqp_error *err, uint16_t code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->text, sizeof err->text, fmt, ap);
        va_end(ap);
    }
    return code;
}

struct amqp_bytes amqp_reply_text(char out[AMQP_REPLY_TEXT_SIZE], uint16_t code, const char *detail)
{
    const char *name = amqp_reply_name(code);
    int n = snprintf(out, AMQP_REPLY_TEXT_SIZE, "%s - %s", name ? name : "INTERNAL_ERROR", detail);
    size_t len = n < 0 ? 0 : (size_t)n;
    if (len > REPLY_TEXT_MAX) {
        memcpy(out + REPLY_TEXT_MAX - 3, "...", 3);
        len = REPLY_TEXT_MAX;
    }
    return amqp_bytes_of(out, len);
}
