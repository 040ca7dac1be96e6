/* Faults armed on one connection for client testing (the management API's /api/warren/faults). */
#ifndef FAULT_H
#define FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/output.h"

struct connection;

enum fault_kind {
    FAULT_BLOCK,             /* send connection.blocked with a reason */
    FAULT_UNBLOCK,           /* send connection.unblocked */
    FAULT_CLOSE,             /* connection.close with a code and text; close-ok awaited */
    FAULT_CLOSE_CHANNEL,     /* channel.close on one channel */
    FAULT_CUT,               /* drop the socket now, or after the next bytes written */
    FAULT_DELAY,             /* hold every write back so many ms (0: no more) */
    FAULT_STOP_HEARTBEATS,   /* send no more heartbeat frames */
    FAULT_RESUME_HEARTBEATS,
    FAULT_NACK,              /* nack the next publishes under confirms, unrouted */
    FAULT_FAIL_NEXT,         /* answer the next basic.consume or queue.declare with channel.close */
};

/* One request, checked by the caller (the API): code is a known reply code where one is due. */
struct fault_request {
    enum fault_kind kind;
    uint16_t code;
    uint16_t channel;   /* FAULT_CLOSE_CHANNEL */
    uint32_t method_id; /* FAULT_FAIL_NEXT: AMQP_BASIC_CONSUME or AMQP_QUEUE_DECLARE */
    const char *text;   /* the reply text or the blocked reason, sent as given */
    uint64_t bytes;     /* FAULT_CUT: after this many more bytes (0: now) */
    uint32_t ms;        /* FAULT_DELAY */
    uint32_t count;     /* FAULT_NACK */
};

/* An error armed for the next method of a kind: code 0 while none is. */
struct fault_error {
    uint16_t code;
    char text[256];
};

/* What stays armed on a connection. The connection points at one only while something is
 * armed, so the paths that consult it test one pointer. */
struct connection_faults {
    bool heartbeats_stopped;
    uint32_t nacks_left;
    struct fault_error consume, declare;
    struct output_fault output; /* the transport reads this while delay or cut is armed */
    bool output_handed;         /* the transport was given it */
};

/* The API's names: "block", "close_channel", ...; false for an unknown name. */
bool fault_kind_parse(const char *name, enum fault_kind *out);
const char *fault_kind_name(enum fault_kind kind);

/* Applies r to c now (block, close, cut now...) or arms it; false with a reason the API
 * shows when it cannot be (the connection is not open, no such channel, a TLS transport). */
bool fault_inject(struct connection *c, const struct fault_request *r, const char **why);
/* Disarms everything armed on c (what was sent stays sent). */
void fault_clear(struct connection *c);

/* For the channel: a publish under confirms that an armed nack takes (true: nack it, do not
 * route it); the armed error for method_id, taken (true: close the channel with it). */
bool fault_take_nack(struct connection *c);
bool fault_take_error(struct connection *c, uint32_t method_id, uint16_t *code, char *text,
                      size_t size);

#endif
