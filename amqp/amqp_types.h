/* Byte slices and the error record shared by every part of the codec. */
#ifndef AMQP_TYPES_H
#define AMQP_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A (pointer, length) view of bytes owned by someone else: never NUL-terminated. */
struct amqp_bytes {
    const uint8_t *ptr;
    size_t len;
};

#define AMQP_BYTES_LIT(s) ((struct amqp_bytes){(const uint8_t *)(s), sizeof(s) - 1})

static inline struct amqp_bytes amqp_bytes_of(const void *ptr, size_t len)
{
    return (struct amqp_bytes){(const uint8_t *)ptr, len};
}

static inline struct amqp_bytes amqp_cstr(const char *s)
{
    return (struct amqp_bytes){(const uint8_t *)s, strlen(s)};
}

static inline bool amqp_bytes_eq(struct amqp_bytes a, struct amqp_bytes b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static inline bool amqp_bytes_eq_cstr(struct amqp_bytes a, const char *s)
{
    return amqp_bytes_eq(a, amqp_cstr(s));
}

/* An owned copy of b (aborts when out of memory), released with amqp_bytes_free. */
struct amqp_bytes amqp_bytes_dup(struct amqp_bytes b);
void amqp_bytes_free(struct amqp_bytes b);

/* Why decoding failed: an AMQP reply code (AMQP_FRAME_ERROR, AMQP_SYNTAX_ERROR, ...) and the
 * detail RabbitMQ would put after "CODE_NAME - " in the reply text. */
struct amqp_error {
    uint16_t code;
    char text[256];
};

/* A reply text as RabbitMQ sends it: "CODE_NAME - detail", cut to a shortstr's 255 octets
 * (252 and "...") as RabbitMQ cuts it. Writes into out and returns the slice. */
#define AMQP_REPLY_TEXT_SIZE 256
struct amqp_bytes amqp_reply_text(char out[AMQP_REPLY_TEXT_SIZE], uint16_t code, const char *detail);

/* Fills err (which may be NULL) and returns its code, so decoders can `return amqp_fail(...)`. */
int amqp_fail(struct amqp_error *err, uint16_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
