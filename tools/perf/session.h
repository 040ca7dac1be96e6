/* The blocking set-up and tear-down of a connection: handshake, channel 1, RPC methods. */
#ifndef PERF_SESSION_H
#define PERF_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "amqp_spec.h"
#include "stream.h"
#include "uri.h"

#define SESSION_CHANNEL 1
#define SESSION_TIMEOUT_MS 15000

/* Why a session step failed: code 0 for a local failure (socket, timeout, protocol). */
struct session_failure {
    uint16_t code;
    char text[512];
};

enum session_result {
    SESSION_OK = 0,
    SESSION_CHANNEL_CLOSED = 1, /* the broker closed channel 1 (answered); the connection lives */
    SESSION_FAILED = -1,        /* the connection is unusable */
};

/* Connects (over TLS with tls, else NULL), runs the handshake (PLAIN; tune-ok with the
 * broker's frame_max and channel_max, heartbeat 0), opens the vhost and channel 1. */
enum session_result session_open(struct stream *s, const struct uri *u, struct ssl_ctx_st *tls,
                                 const char *name, struct session_failure *why);
/* Sends m on channel 1 and waits for the method reply_id; *reply's slices stay valid until
 * the next session call on s. */
enum session_result session_call(struct stream *s, const struct amqp_method *m, uint32_t reply_id,
                                 struct amqp_method *reply, struct session_failure *why);
/* Opens channel 1 again after SESSION_CHANNEL_CLOSED. */
enum session_result session_reopen_channel(struct stream *s, struct session_failure *why);
/* Sends connection.close, waits briefly for close-ok and closes the socket. */
void session_close(struct stream *s);

/* "producer 3: broker closed the channel: 404 NOT_FOUND - no queue 'q' (queue.declare)". */
void session_format_close(char *out, size_t size, const char *who, const char *what,
                          uint16_t code, struct amqp_bytes text, uint16_t class_id,
                          uint16_t method_id);

#endif
