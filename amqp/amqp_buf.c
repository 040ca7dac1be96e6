/* Growable output buffer and the primitive writers every encoder uses. */
#include "amqp_buf.h"

#include <assert.h>
#include <stdlib.h>

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

void amqp_buf_grow(struct amqp_buf *b, size_t n)
{
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < n)
        cap *= 2;
    uint8_t *data = realloc(b->data, cap);
    if (!data)
        abort();
    b->data = data;
    b->cap = cap;
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
