/* AMQP field tables and arrays: validation, zero-copy iteration and encoding. */
#ifndef AMQP_TABLE_H
#define AMQP_TABLE_H

#include "amqp_buf.h"
#include "amqp_types.h"

/* Nesting deeper than this is refused rather than recursed into. */
#define AMQP_TABLE_MAX_DEPTH 32

/* One field value. `type` is the wire type letter as RabbitMQ uses them:
 * t bool, b int8, B uint8, s int16, u uint16, I int32, i uint32, l int64, f float,
 * d double, D decimal, S longstr, x byte array, A array, T timestamp, F table, V void.
 * Strings, byte arrays, nested tables and arrays are slices into the decoded buffer;
 * `table` and `array` hold the raw encoded body WITHOUT its 4-byte length prefix. */
struct amqp_field {
    char type;
    union {
        bool boolean;
        int8_t i8;
        uint8_t u8;
        int16_t i16;
        uint16_t u16;
        int32_t i32;
        uint32_t u32;
        int64_t i64;
        uint64_t u64; /* timestamp */
        float f32;
        double f64;
        struct {
            uint8_t scale;
            uint32_t value;
        } decimal;
        struct amqp_bytes bytes; /* S and x */
        struct amqp_bytes table; /* F: raw body */
        struct amqp_bytes array; /* A: raw body */
    } v;
};

/* Checks that `body` (a table body, without its length prefix) is well formed to the end:
 * every key a shortstr, every value of a known type and inside the buffer, nesting at most
 * AMQP_TABLE_MAX_DEPTH. Returns 0, or AMQP_SYNTAX_ERROR with err filled. */
int amqp_table_check(struct amqp_bytes body, struct amqp_error *err);
int amqp_array_check(struct amqp_bytes body, struct amqp_error *err);

/* Iteration over a CHECKED body: no allocation, values point into the body. */
struct amqp_table_iter {
    const uint8_t *p;
    const uint8_t *end;
};
void amqp_table_iter_init(struct amqp_table_iter *it, struct amqp_bytes body);
bool amqp_table_next(struct amqp_table_iter *it, struct amqp_bytes *key, struct amqp_field *value);
bool amqp_array_next(struct amqp_table_iter *it, struct amqp_field *value);
/* The value of an integer field of any width (b B s u I i l); false for every other type. */
bool amqp_field_integer(const struct amqp_field *f, int64_t *out);
/* First field named `key` in a checked body. */
bool amqp_table_get(struct amqp_bytes body, const char *key, struct amqp_field *value);

/* Encoding. A table is written as: mark = amqp_table_begin(b); entries...; amqp_table_end(b, mark).
 * begin writes a 4-byte length placeholder, end patches it. Nested values use the same pair
 * after writing the key and type letter (amqp_table_put_key + amqp_buf_put_u8(b, 'F')). */
size_t amqp_table_begin(struct amqp_buf *b);
void amqp_table_end(struct amqp_buf *b, size_t mark);
void amqp_table_put_key(struct amqp_buf *b, const char *key);
/* Writes type letter and value of `value` (nested F/A values are copied from their raw body). */
void amqp_field_put(struct amqp_buf *b, const struct amqp_field *value);
void amqp_table_put_bool(struct amqp_buf *b, const char *key, bool v);
void amqp_table_put_longstr(struct amqp_buf *b, const char *key, struct amqp_bytes v);
void amqp_table_put_cstr(struct amqp_buf *b, const char *key, const char *v);
void amqp_table_put_i32(struct amqp_buf *b, const char *key, int32_t v);
void amqp_table_put_i64(struct amqp_buf *b, const char *key, int64_t v);
/* Writes key and 'F' and opens the nested table; close it with amqp_table_end. */
size_t amqp_table_begin_nested(struct amqp_buf *b, const char *key);

#endif
