/* Growable output buffer and the primitive writers every encoder uses. */
#include "amqp_buf.h"

#include <assert.h>
#include <stdlib.h>

#include "amqp_wire.h"

void amqp_buf_init(struct amqp_buf *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
}

void amqp_buf_free(struct amqp_buf *b)
{
    free(b->data);
    amqp_buf_init(b);
}

void amqp_buf_reset(struct amqp_buf *b)
{
    b->len = 0;
}

uint8_t *amqp_buf_reserve(struct amqp_buf *b, size_t n)
{
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len < n)
            cap *= 2;
        uint8_t *data = realloc(b->data, cap);
        if (!data)
            abort();
        b->data = data;
        b->cap = cap;
    }
    return b->data + b->len;
}

uint8_t *amqp_buf_extend(struct amqp_buf *b, size_t n)
{
    uint8_t *p = amqp_buf_reserve(b, n);
    b->len += n;
    return p;
}

void amqp_buf_put(struct amqp_buf *b, const void *p, size_t n)
{
    if (n)
        memcpy(amqp_buf_extend(b, n), p, n);
}

void amqp_buf_put_u8(struct amqp_buf *b, uint8_t v)
{
    *amqp_buf_extend(b, 1) = v;
}

void amqp_buf_put_u16(struct amqp_buf *b, uint16_t v)
{
    amqp_put_u16(amqp_buf_extend(b, 2), v);
}

void amqp_buf_put_u32(struct amqp_buf *b, uint32_t v)
{
    amqp_put_u32(amqp_buf_extend(b, 4), v);
}

void amqp_buf_put_u64(struct amqp_buf *b, uint64_t v)
{
    amqp_put_u64(amqp_buf_extend(b, 8), v);
}

void amqp_buf_put_shortstr(struct amqp_buf *b, struct amqp_bytes s)
{
    assert(s.len <= 255);
    amqp_buf_put_u8(b, (uint8_t)s.len);
    amqp_buf_put(b, s.ptr, s.len);
}

void amqp_buf_put_longstr(struct amqp_buf *b, struct amqp_bytes s)
{
    amqp_buf_put_u32(b, (uint32_t)s.len);
    amqp_buf_put(b, s.ptr, s.len);
}
