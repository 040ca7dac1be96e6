/* A consuming connection: zero-copy delivery parsing, latency recording and batched acks. */
#ifndef PERF_CONSUMER_H
#define PERF_CONSUMER_H

#include <stdbool.h>
#include <stdint.h>

#include "counters.h"
#include "errors.h"
#include "histogram.h"
#include "options.h"
#include "stream.h"

/* Reads go into a buffer this large (or two frames, if larger). */
#define CONSUMER_READ_BYTES (1u << 20)

enum consumer_expect { CONSUMER_EXPECT_METHOD, CONSUMER_EXPECT_HEADER, CONSUMER_EXPECT_BODY };

struct consumer {
    struct stream st;
    uint32_t id;
    bool manual_ack;
    uint32_t ack_every;
    uint32_t unacked;          /* counted deliveries not yet acked */
    uint64_t last_tag;
    enum consumer_expect expect;
    uint64_t body_size;
    uint64_t body_left;
    uint64_t limit;            /* -D, or UINT64_MAX */
    uint64_t received;
    uint64_t bytes;
    uint64_t received_published, bytes_published; /* the part already in the counters */
    bool counting;             /* the current delivery is within the limit */
    bool paused;               /* channel.flow (meaningless here, answered anyway) */
    bool finished;
};

/* The stream is opened and the consumer started separately (session_open, basic.consume). */
void consumer_init(struct consumer *c, uint32_t id, const struct options *o);
/* Handles everything in the input buffer, received at now_ns: deliveries are counted and
 * their latency recorded in h; acks are queued. -1 when fatal (error added). */
int consumer_handle_input(struct consumer *c, uint64_t now_ns, struct counters *k,
                          struct histogram *h, struct errors *e);

#endif
