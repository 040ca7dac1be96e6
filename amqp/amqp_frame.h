/* The incremental frame reader (zero-copy, no allocation) and frame writers. */
#ifndef AMQP_FRAME_H
#define AMQP_FRAME_H

#include "amqp_buf.h"
#include "amqp_types.h"

#define AMQP_FRAME_HEADER_SIZE 7 /* type, channel, size */
#define AMQP_FRAME_OVERHEAD 8    /* header plus the frame-end octet */

/* What a client sends first: "AMQP" 0 0 9 1. */
extern const uint8_t amqp_protocol_header[8];

struct amqp_frame {
    uint8_t type;              /* AMQP_FRAME_METHOD, _HEADER, _BODY or _HEARTBEAT */
    uint16_t channel;
    struct amqp_bytes payload; /* points into the caller's buffer */
};

/* Reads one frame from the front of buf[0..len).
 * Returns the number of bytes the frame occupies (> 0) with *out filled,
 * 0 when buf holds only a prefix of a frame (read more and call again with the same start),
 * or -1 with *err filled: AMQP_FRAME_ERROR for an unknown frame type, a payload larger than
 * max_payload or a final octet that is not frame-end (0xCE). An unknown type is reported only
 * once the whole frame is in, so the caller can skip it (its length is 8 + the size field).
 * Texts are RabbitMQ's: given max_payload = frame_max, a too-large frame names frame_max - 8.
 * The size check runs as soon as the 7-byte header is present, before the payload arrives. */
long amqp_frame_read(const uint8_t *buf, size_t len, uint32_t max_payload, struct amqp_frame *out,
                     struct amqp_error *err);

/* Writing: start = amqp_frame_begin(b, type, channel); append the payload; amqp_frame_finish(b, start)
 * patches the size and appends frame-end. */
size_t amqp_frame_begin(struct amqp_buf *b, uint8_t type, uint16_t channel);
void amqp_frame_finish(struct amqp_buf *b, size_t start);
void amqp_frame_put_heartbeat(struct amqp_buf *b);

#endif
