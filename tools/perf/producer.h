/* A publishing connection: message batches, rate pacing, confirm tracking and its input. */
#ifndef PERF_PRODUCER_H
#define PERF_PRODUCER_H

#include <stdbool.h>
#include <stdint.h>

#include "counters.h"
#include "errors.h"
#include "options.h"
#include "stream.h"

/* A batch is cut at about this many bytes: large writes, few system calls. */
#define PRODUCER_BATCH_BYTES (128u * 1024)

struct producer {
    struct stream st;
    uint32_t id;
    uint8_t *message;          /* one whole message (method, header, body frames) */
    size_t message_len;
    size_t stamp_offset;       /* of the body's 8-byte send timestamp in message */
    uint64_t batch_max;        /* messages per batch */
    uint64_t limit;            /* -C, or UINT64_MAX */
    uint64_t sent;
    /* Pacing: message k of the paced sequence is due at rate_start_ns + k / rate. */
    double rate;
    uint64_t rate_start_ns;
    uint64_t rate_sent;
    /* Confirms: tags 1..confirmed_upto are settled; settled[] marks later tags acked alone. */
    uint32_t window;
    uint64_t confirmed_upto;
    uint8_t *settled;
    /* basic.return content still to skip */
    bool skip_header;
    uint64_t skip_body;
    bool paused;               /* channel.flow active=false */
    bool finished;             /* reached -C and every confirm arrived */
};

/* Builds the message template; the stream is opened separately (session_open). */
void producer_init(struct producer *p, uint32_t id, const struct options *o, const char *exchange,
                   const char *routing_key);
/* The paced sequence starts at start_ns + phase / rate (phase in [0, 1)), so producers
 * sharing a rate interleave instead of firing together. */
void producer_start_pacing(struct producer *p, uint64_t start_ns, double phase);
void producer_free(struct producer *p);

/* How many messages may be queued now (window, count, pace and batch size allowing). */
uint64_t producer_allowed(struct producer *p, uint64_t now_ns);
/* When the pace next allows a message; UINT64_MAX when only input can unblock it. */
uint64_t producer_next_due_ns(const struct producer *p);
/* Queues n messages stamped with now_ns. */
void producer_publish(struct producer *p, uint64_t now_ns, uint64_t n, struct counters *k);
/* Marks the producer finished once it reached -C, its output is written and every confirm
 * arrived; called after input and after writes. */
void producer_check_finished(struct producer *p, uint64_t now_ns, struct counters *k);
/* Handles everything in the input buffer: confirms, returns, closes. -1 when fatal. */
int producer_handle_input(struct producer *p, uint64_t now_ns, struct counters *k,
                          struct errors *e);

#endif
