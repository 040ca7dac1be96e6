/* Outcomes of model operations: the reply code and RabbitMQ's detail text. */
#include "model/outcome.h"

#include <stdarg.h>
#include <stdio.h>

static bool fail(struct outcome *o, uint16_t code, bool connection, const char *fmt, va_list ap)
{
    o->code = code;
    o->connection = connection;
    vsnprintf(o->text, sizeof o->text, fmt, ap);
    return false;
}

bool outcome_fail(struct outcome *o, uint16_t code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail(o, code, false, fmt, ap);
    va_end(ap);
    return false;
}

bool outcome_fail_connection(struct outcome *o, uint16_t code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail(o, code, true, fmt, ap);
    va_end(ap);
    return false;
}
