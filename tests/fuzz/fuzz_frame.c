/* libFuzzer harness for the frame reader: frames until an error or a partial frame, re-encoded. */
#include <stdlib.h>

#include "amqp_frame.h"
#include "amqp_spec.h"
#include "amqp_wire.h"

/* Writing a frame back with the writers and reading it again must give the same frame. */
static void check_round_trip(const struct amqp_frame *f, uint32_t max_payload)
{
    struct amqp_buf b;
    struct amqp_frame again;
    struct amqp_error err;
    amqp_buf_init(&b);
    size_t start = amqp_frame_begin(&b, f->type, f->channel);
    amqp_buf_put(&b, f->payload.ptr, f->payload.len);
    amqp_frame_finish(&b, start);
    long used = amqp_frame_read(b.data, b.len, max_payload, &again, &err);
    if (used != (long)b.len || again.type != f->type || again.channel != f->channel ||
        !amqp_bytes_eq(again.payload, f->payload))
        abort();
    amqp_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    /* The first four bytes choose the limit, so small and huge limits both get explored. */
    uint32_t max_payload = amqp_get_u32(data);
    const uint8_t *p = data + 4;
    size_t len = size - 4;
    for (;;) {
        struct amqp_frame f;
        struct amqp_error err = {0};
        long used = amqp_frame_read(p, len, max_payload, &f, &err);
        if (used < 0) {
            if (err.code != AMQP_FRAME_ERROR || err.text[0] == '\0')
                abort();
            return 0;
        }
        if (used == 0)
            return 0;
        if ((size_t)used > len || (size_t)used != f.payload.len + AMQP_FRAME_OVERHEAD ||
            f.payload.len > max_payload || f.payload.ptr != p + AMQP_FRAME_HEADER_SIZE)
            abort();
        check_round_trip(&f, max_payload);
        p += used;
        len -= (size_t)used;
    }
}
