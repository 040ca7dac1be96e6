/* The amqp:// URI the benchmark connects to: host, port, credentials and virtual host. */
#ifndef PERF_URI_H
#define PERF_URI_H

#include <stdbool.h>
#include <stddef.h>

#define URI_FIELD_MAX 256

struct uri {
    char host[URI_FIELD_MAX];
    char port[8];
    char user[URI_FIELD_MAX];
    char password[URI_FIELD_MAX];
    char vhost[URI_FIELD_MAX];
    bool tls; /* amqps:// */
};

/* Parses amqp://user:pass@host:port/vhost as RabbitMQ's URI spec reads it: user, password
 * and vhost are percent-decoded; no path means vhost "/", an empty path the vhost "".
 * amqps:// is the same over TLS, on port 5671 unless one is given.
 * Returns 0, or -1 with a reason in err. */
int uri_parse(const char *text, struct uri *out, char *err, size_t err_size);

#endif
