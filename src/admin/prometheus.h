/* The Prometheus endpoint (rabbitmq_prometheus's /metrics and /metrics/per-object) on its own port. */
#ifndef PROMETHEUS_H
#define PROMETHEUS_H

#include <stdint.h>
#include <uv.h>

#include "admin/http.h"
#include "model/broker.h"

struct tcp_server;

struct prometheus {
    struct http_server http;
    struct broker *broker;
    struct tcp_server *tcp; /* the AMQP listener and its connections */
    uint64_t started_ms;    /* the loop's clock at start, for the uptime */
    double started_at;      /* wall clock, seconds since the epoch */
};

/* Listens on the configured Prometheus addresses (HTTP, HTTPS or both); returns 0, or -1 or
 * a libuv error code with why set. */
int prometheus_start(struct prometheus *p, uv_loop_t *loop, struct broker *broker,
                     struct tcp_server *tcp, char *why, size_t why_size);
/* Closes the listener and its HTTP connections (done once the loop has run again). */
void prometheus_stop(struct prometheus *p);

#endif
