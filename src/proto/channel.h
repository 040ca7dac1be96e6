/* An AMQP channel: its lifecycle (open, flow, close) and the methods it carries. */
#ifndef CHANNEL_H
#define CHANNEL_H

#include <stdint.h>

#include "amqp_frame.h"

struct connection;

enum channel_state {
    CHANNEL_OPEN,
    CHANNEL_CLOSING, /* we sent channel.close and wait for close-ok */
};

struct channel {
    struct connection *conn;
    uint16_t id;
    enum channel_state state;
};

/* A frame for a channel other than 0 on an open connection. */
void channel_handle_frame(struct connection *c, const struct amqp_frame *f);
void channel_free(struct channel *ch);

#endif
