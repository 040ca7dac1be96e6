/* A growable output buffer the encoders append to; allocation failure aborts the process. */
#ifndef AMQP_BUF_H
#define AMQP_BUF_H

#include "amqp_types.h"
#include "amqp_wire.h"

struct amqp_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
};

void amqp_buf_init(struct amqp_buf *b);
void amqp_buf_free(struct amqp_buf *b);
void amqp_buf_reset(struct amqp_buf *b);             /* len = 0, keeps the memory */
/* Grows the buffer to hold n more bytes (the slow path of amqp_buf_reserve). */
void amqp_buf_grow(struct amqp_buf *b, size_t n);

/* Room for n more bytes at data+len. Inline: encoders call these once per field. */
static inline uint8_t *amqp_buf_reserve(struct amqp_buf *b, size_t n)
{
    if (b->cap - b->len < n)
        amqp_buf_grow(b, n);
    return b->data + b->len;
}

/* Reserves and advances len by n. */
static inline uint8_t *amqp_buf_extend(struct amqp_buf *b, size_t n)
{
    uint8_t *p = amqp_buf_reserve(b, n);
    b->len += n;
    return p;
}

static inline void amqp_buf_put(struct amqp_buf *b, const void *p, size_t n)
{
    if (n)
        memcpy(amqp_buf_extend(b, n), p, n);
}

static inline void amqp_buf_put_u8(struct amqp_buf *b, uint8_t v)
{
    *amqp_buf_extend(b, 1) = v;
}

static inline void amqp_buf_put_u16(struct amqp_buf *b, uint16_t v)
{
    amqp_put_u16(amqp_buf_extend(b, 2), v);
}

static inline void amqp_buf_put_u32(struct amqp_buf *b, uint32_t v)
{
    amqp_put_u32(amqp_buf_extend(b, 4), v);
}

static inline void amqp_buf_put_u64(struct amqp_buf *b, uint64_t v)
{
    amqp_put_u64(amqp_buf_extend(b, 8), v);
}
/* shortstr: the caller guarantees s.len <= 255 (encoders assert it). */
void amqp_buf_put_shortstr(struct amqp_buf *b, struct amqp_bytes s);
void amqp_buf_put_longstr(struct amqp_buf *b, struct amqp_bytes s);

#endif
