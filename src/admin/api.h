/* The management HTTP API: routing, authentication and errors over the HTTP server. */
#ifndef API_H
#define API_H

#include <uv.h>

#include "admin/http.h"
#include "model/broker.h"

struct tcp_server;

struct api {
    struct http_server http;
    struct broker *broker;
    struct tcp_server *tcp; /* the AMQP listener and its connections */
    uint64_t started_ms;
};

/* Listens on the configured management addresses (HTTP, HTTPS or both); returns 0, or -1 or
 * a libuv error code with why set. */
int api_start(struct api *a, uv_loop_t *loop, struct broker *broker, struct tcp_server *tcp,
              char *why, size_t why_size);
/* Closes the listener and every HTTP connection (done once the loop has run again). */
void api_stop(struct api *a);

#endif
