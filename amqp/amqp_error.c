/* The error record decoders fill: a reply code and RabbitMQ-style detail text. */
#include <stdarg.h>
#include <stdio.h>

#include "amqp_types.h"

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
