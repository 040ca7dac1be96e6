/* Connection-level protocol of a running connection: broker closes, flow and our close. */
#ifndef PERF_LINK_H
#define PERF_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "amqp_spec.h"
#include "errors.h"
#include "stream.h"

#define LINK_CLOSE_TIMEOUT_NS 3000000000ull

enum link_result {
    LINK_OK,    /* handled or ignored */
    LINK_FATAL, /* the broker closed the connection or channel (error added) */
};

/* Handles the methods any running connection may receive: connection.close (answered,
 * error added unless it answers our own close), connection.close-ok, channel.close (answered,
 * error added, connection closed), channel.flow (answered; *paused follows it). */
enum link_result link_handle_method(struct stream *s, uint16_t channel, const struct amqp_method *m,
                                    bool *paused, struct errors *e);
/* Decodes a method frame payload and handles it as above; out gets the method. */
enum link_result link_decode(struct stream *s, uint16_t channel, struct amqp_bytes payload,
                             struct amqp_method *out, bool *paused, struct errors *e);
/* Queues connection.close and starts the close deadline. */
void link_begin_close(struct stream *s, uint64_t now_ns);
/* The socket ended: an error unless we were closing. */
void link_lost(struct stream *s, struct errors *e);

#endif
