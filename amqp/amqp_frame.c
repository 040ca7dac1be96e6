/* The incremental AMQP frame reader (zero-copy, no allocation) and the frame writers. */
#include "amqp_frame.h"

#include <stdio.h>
#include <stdlib.h>

#include "amqp_octets.h"
#include "amqp_spec.h"
#include "amqp_wire.h"

const uint8_t amqp_protocol_header[8] = {'A', 'M', 'Q', 'P', 0, 0, 9, 1};

static bool known_frame_type(uint8_t type)
{
    return type == AMQP_FRAME_METHOD || type == AMQP_FRAME_HEADER || type == AMQP_FRAME_BODY ||
           type == AMQP_FRAME_HEARTBEAT;
}

static long frame_error(struct amqp_error *err, uint8_t type, struct amqp_bytes payload,
                        const char *reason)
{
    char snippet[128];
    amqp_format_frame_octets(snippet, sizeof snippet, payload);
    amqp_fail(err, AMQP_FRAME_ERROR, "type %u, %s: %s", type, snippet, reason);
    return -1;
}

/* Checks happen in RabbitMQ's order: the size as soon as the header is present, then, once
 * the whole frame is there, the frame-end octet, and only then the frame type. */
long amqp_frame_read(const uint8_t *buf, size_t len, uint32_t max_payload, struct amqp_frame *out,
                     struct amqp_error *err)
{
    if (len < AMQP_FRAME_HEADER_SIZE)
        return 0;
    uint8_t type = buf[0];
    uint16_t channel = amqp_get_u16(buf + 1);
    uint32_t size = amqp_get_u32(buf + 3);
    if (size > max_payload) {
        char reason[64];
        /* RabbitMQ names frame_max - 8 here although it accepts payloads up to frame_max. */
        snprintf(reason, sizeof reason, "{frame_too_large,%u,%u}", size,
                 max_payload >= AMQP_FRAME_OVERHEAD ? max_payload - AMQP_FRAME_OVERHEAD : 0);
        return frame_error(err, type, amqp_bytes_of(NULL, 0), reason);
    }
    if (len - AMQP_FRAME_HEADER_SIZE <= size)
        return 0; /* the payload or the frame-end octet has not arrived yet */
    struct amqp_bytes payload = amqp_bytes_of(buf + AMQP_FRAME_HEADER_SIZE, size);
    uint8_t end_marker = buf[AMQP_FRAME_HEADER_SIZE + size];
    if (end_marker != AMQP_FRAME_END) {
        char reason[64];
        snprintf(reason, sizeof reason, "{invalid_frame_end_marker,%u}", end_marker);
        return frame_error(err, type, payload, reason);
    }
    if (!known_frame_type(type))
        return frame_error(err, type, payload, "unknown_frame");
    out->type = type;
    out->channel = channel;
    out->payload = payload;
    return (long)(AMQP_FRAME_OVERHEAD + (size_t)size);
}

size_t amqp_frame_begin(struct amqp_buf *b, uint8_t type, uint16_t channel)
{
    size_t start = b->len;
    amqp_buf_put_u8(b, type);
    amqp_buf_put_u16(b, channel);
    amqp_buf_put_u32(b, 0); /* size, patched by amqp_frame_finish */
    return start;
}

void amqp_frame_finish(struct amqp_buf *b, size_t start)
{
    size_t size = b->len - start - AMQP_FRAME_HEADER_SIZE;
    if (size > UINT32_MAX)
        abort(); /* a payload this large cannot be expressed on the wire */
    amqp_put_u32(b->data + start + 3, (uint32_t)size);
    amqp_buf_put_u8(b, AMQP_FRAME_END);
}

void amqp_frame_put_heartbeat(struct amqp_buf *b)
{
    amqp_frame_finish(b, amqp_frame_begin(b, AMQP_FRAME_HEARTBEAT, 0));
}
