/* A growable output buffer the encoders append to; allocation failure aborts the process. */
#ifndef AMQP_BUF_H
#define AMQP_BUF_H

#include "amqp_types.h"

struct amqp_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
};

void amqp_buf_init(struct amqp_buf *b);
void amqp_buf_free(struct amqp_buf *b);
void amqp_buf_reset(struct amqp_buf *b);             /* len = 0, keeps the memory */
uint8_t *amqp_buf_reserve(struct amqp_buf *b, size_t n); /* room for n more bytes at data+len */
uint8_t *amqp_buf_extend(struct amqp_buf *b, size_t n);  /* reserve and advance len by n */
void amqp_buf_put(struct amqp_buf *b, const void *p, size_t n);
void amqp_buf_put_u8(struct amqp_buf *b, uint8_t v);
void amqp_buf_put_u16(struct amqp_buf *b, uint16_t v);
void amqp_buf_put_u32(struct amqp_buf *b, uint32_t v);
void amqp_buf_put_u64(struct amqp_buf *b, uint64_t v);
/* shortstr: the caller guarantees s.len <= 255 (encoders assert it). */
void amqp_buf_put_shortstr(struct amqp_buf *b, struct amqp_bytes s);
void amqp_buf_put_longstr(struct amqp_buf *b, struct amqp_bytes s);

#endif
