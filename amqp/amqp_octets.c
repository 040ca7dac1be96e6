/* Octets printed as RabbitMQ quotes them in reply texts (Erlang binary syntax). */
#include "amqp_octets.h"

#include <stdarg.h>
#include <stdio.h>

#define FRAME_QUOTE_MAX 16

struct writer {
    char *out;
    size_t size;
    size_t len;
};

static void put(struct writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct writer *w, const char *fmt, ...)
{
    if (w->len + 1 >= w->size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(w->out + w->len, w->size - w->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        w->len = w->len + (size_t)n < w->size ? w->len + (size_t)n : w->size - 1;
}

/* The escape Erlang prints for a control character it still counts as printable. */
static const char *escape_of(uint8_t c)
{
    switch (c) {
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    case '\v': return "\\v";
    case '\b': return "\\b";
    case '\f': return "\\f";
    case 0x1b: return "\\e";
    case '"': return "\\\"";
    case '\\': return "\\\\";
    default: return NULL;
    }
}

bool amqp_octets_printable(struct amqp_bytes b)
{
    for (size_t i = 0; i < b.len; i++) {
        uint8_t c = b.ptr[i];
        if (!((c >= 32 && c <= 126) || c >= 160 || escape_of(c)))
            return false;
    }
    return b.len > 0;
}

size_t amqp_format_octets(char *out, size_t size, struct amqp_bytes octets, bool as_text_if_printable)
{
    struct writer w = {out, size, 0};
    if (size)
        out[0] = '\0';
    if (as_text_if_printable && amqp_octets_printable(octets)) {
        put(&w, "<<\"");
        for (size_t i = 0; i < octets.len; i++) {
            const char *esc = escape_of(octets.ptr[i]);
            if (esc)
                put(&w, "%s", esc);
            else
                put(&w, "%c", octets.ptr[i]);
        }
        put(&w, "\">>");
        return w.len;
    }
    put(&w, "<<");
    for (size_t i = 0; i < octets.len; i++)
        put(&w, i ? ",%u" : "%u", octets.ptr[i]);
    put(&w, ">>");
    return w.len;
}

size_t amqp_format_frame_octets(char *out, size_t size, struct amqp_bytes payload)
{
    bool whole = payload.len <= FRAME_QUOTE_MAX;
    int n = snprintf(out, size, "%s octets = ", whole ? "all" : "first 16");
    if (n < 0 || (size_t)n >= size)
        return size ? size - 1 : 0;
    struct amqp_bytes shown = {payload.ptr, whole ? payload.len : FRAME_QUOTE_MAX};
    return (size_t)n + amqp_format_octets(out + n, size - (size_t)n, shown, true);
}
