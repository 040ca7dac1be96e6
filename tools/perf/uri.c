/* Parsing of amqp:// URIs with RabbitMQ's defaults and percent-decoding. */
#include "uri.h"

#include <stdio.h>
#include <string.h>

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes src[0..len) into out (NUL-terminated); -1 on a bad escape or overflow. */
static int percent_decode(const char *src, size_t len, char *out, size_t out_size)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = hex_value(src[i + 1]), lo = hex_value(src[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (n + 1 >= out_size)
            return -1;
        out[n++] = c;
    }
    out[n] = '\0';
    return 0;
}

static int copy_field(const char *src, size_t len, char *out, size_t out_size)
{
    if (len + 1 > out_size)
        return -1;
    memcpy(out, src, len);
    out[len] = '\0';
    return 0;
}

static int fail(char *err, size_t err_size, const char *what, const char *text)
{
    snprintf(err, err_size, "%s in URI '%s'", what, text);
    return -1;
}

int uri_parse(const char *text, struct uri *out, char *err, size_t err_size)
{
    static const char plain[] = "amqp://", secure[] = "amqps://";
    memset(out, 0, sizeof *out);
    strcpy(out->host, "127.0.0.1");
    strcpy(out->user, "guest");
    strcpy(out->password, "guest");
    strcpy(out->vhost, "/");
    out->tls = strncmp(text, secure, sizeof secure - 1) == 0;
    if (!out->tls && strncmp(text, plain, sizeof plain - 1) != 0)
        return fail(err, err_size, "expected amqp:// or amqps://", text);
    const char *p = text + (out->tls ? sizeof secure : sizeof plain) - 1;
    strcpy(out->port, out->tls ? "5671" : "5672");
    size_t authority_len = strcspn(p, "/?#");
    const char *path = p + authority_len;

    const char *at = memchr(p, '@', authority_len);
    const char *hostport = p;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *user_end = colon ? colon : at;
        if (percent_decode(p, (size_t)(user_end - p), out->user, sizeof out->user) < 0)
            return fail(err, err_size, "bad user", text);
        if (colon && percent_decode(colon + 1, (size_t)(at - colon - 1), out->password,
                                    sizeof out->password) < 0)
            return fail(err, err_size, "bad password", text);
        hostport = at + 1;
    }
    size_t hostport_len = authority_len - (size_t)(hostport - p);
    const char *host = hostport, *port = NULL;
    size_t host_len = hostport_len;
    if (hostport_len && hostport[0] == '[') {
        const char *close = memchr(hostport, ']', hostport_len);
        if (!close)
            return fail(err, err_size, "unterminated IPv6 address", text);
        host = hostport + 1;
        host_len = (size_t)(close - host);
        if (close + 1 < hostport + hostport_len) {
            if (close[1] != ':')
                return fail(err, err_size, "bad host", text);
            port = close + 2;
        }
    } else {
        const char *colon = memchr(hostport, ':', hostport_len);
        if (colon) {
            host_len = (size_t)(colon - hostport);
            port = colon + 1;
        }
    }
    if (host_len && copy_field(host, host_len, out->host, sizeof out->host) < 0)
        return fail(err, err_size, "host too long", text);
    if (port) {
        size_t port_len = (size_t)(hostport + hostport_len - port);
        if (port_len == 0 || port_len > 5 || strspn(port, "0123456789") < port_len)
            return fail(err, err_size, "bad port", text);
        copy_field(port, port_len, out->port, sizeof out->port);
    }
    if (*path == '/') {
        size_t vhost_len = strcspn(path + 1, "?#");
        if (memchr(path + 1, '/', vhost_len))
            return fail(err, err_size, "a vhost with '/' must be written %2F", text);
        if (percent_decode(path + 1, vhost_len, out->vhost, sizeof out->vhost) < 0)
            return fail(err, err_size, "bad vhost", text);
    }
    return 0;
}
