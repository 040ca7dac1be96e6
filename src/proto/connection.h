/* An AMQP connection: handshake, tuning, heartbeats, close, and frame dispatch to channels. */
#ifndef CONNECTION_H
#define CONNECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "amqp_buf.h"
#include "proto/output.h"
#include "model/broker.h"

struct connection;

/* What the transport underneath provides. The connection appends bytes to its output buffer
 * (connection_output) and calls flush; close asks the transport to write what is pending, close
 * the socket and then call connection_destroy. */
struct connection_io {
    void (*flush)(void *ctx);
    void (*close)(void *ctx);
    /* Stop reading (publisher flow control) until connection_may_read says otherwise; the
     * transport asks once per loop iteration. */
    void (*pause_reading)(void *ctx);
    void *ctx;
};

struct connection *connection_new(struct broker *broker, uv_loop_t *loop,
                                  const struct connection_io *io, const char *name);
/* Where the transport should read the next bytes to (never less than 4 KiB of room). */
void connection_read_buffer(struct connection *c, char **base, size_t *len);
/* n bytes were read into the buffer last handed out: parse and act on every complete frame. */
void connection_read_done(struct connection *c, size_t n);
/* The peer closed the socket or it failed; the transport closes its side next. */
void connection_read_eof(struct connection *c, const char *why);
struct output *connection_output(struct connection *c);
/* A write finished: the connection may send what it held back while its output was full. */
void connection_write_done(struct connection *c);
/* Whether a paused publisher may read again: the queue that made it wait has drained. */
bool connection_may_read(struct connection *c);
/* The broker is stopping: close with 320 CONNECTION_FORCED (or drop, mid-handshake). */
void connection_shutdown(struct connection *c);
/* The socket is closed: release everything; the connection is freed before this returns. */
void connection_destroy(struct connection *c);

#endif
