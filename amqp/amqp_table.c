/* AMQP field tables and arrays: bounded validation, zero-copy iteration and encoding. */
#include "amqp_table.h"

#include <stdlib.h>

#include "amqp_spec.h"
#include "amqp_wire.h"

/* Why one value could not be read. */
enum value_status { VALUE_OK, VALUE_TRUNCATED, VALUE_UNKNOWN_TYPE, VALUE_NOT_FINITE };

static size_t remaining(const uint8_t *p, const uint8_t *end)
{
    return (size_t)(end - p);
}

/* End of a slice; an empty slice may have a NULL pointer, which must not be offset. */
static const uint8_t *end_of(struct amqp_bytes body)
{
    return body.len ? body.ptr + body.len : body.ptr;
}

static float float_from_bits(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static double double_from_bits(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static uint32_t bits_of_float(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return bits;
}

static uint64_t bits_of_double(double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    return bits;
}

/* RabbitMQ decodes floats with Erlang's float bit syntax, which refuses NaN and infinities;
 * an all-ones exponent therefore makes the table malformed, as it is for RabbitMQ. */
static bool float_bits_finite(uint32_t bits)
{
    return (bits & 0x7F800000u) != 0x7F800000u;
}

static bool double_bits_finite(uint64_t bits)
{
    return (bits & 0x7FF0000000000000u) != 0x7FF0000000000000u;
}

/* Size of the fixed-width payload that follows a type letter, or -1 if the type has a
 * length prefix or is unknown. */
static int fixed_size(char type)
{
    switch (type) {
    case 'V':
        return 0;
    case 't': case 'b': case 'B':
        return 1;
    case 's': case 'u':
        return 2;
    case 'I': case 'i': case 'f':
        return 4;
    case 'D':
        return 5;
    case 'l': case 'L': case 'd': case 'T':
        return 8;
    default:
        return -1;
    }
}

static bool is_prefixed(char type)
{
    return type == 'S' || type == 'x' || type == 'A' || type == 'F';
}

static void decode_fixed(char type, const uint8_t *p, struct amqp_field *out)
{
    switch (type) {
    case 't': out->v.boolean = p[0] != 0; break;
    case 'b': out->v.i8 = (int8_t)p[0]; break;
    case 'B': out->v.u8 = p[0]; break;
    case 's': out->v.i16 = (int16_t)amqp_get_u16(p); break;
    case 'u': out->v.u16 = amqp_get_u16(p); break;
    case 'I': out->v.i32 = (int32_t)amqp_get_u32(p); break;
    case 'i': out->v.u32 = amqp_get_u32(p); break;
    case 'l': out->v.i64 = (int64_t)amqp_get_u64(p); break;
    case 'T': out->v.u64 = amqp_get_u64(p); break;
    case 'f': out->v.f32 = float_from_bits(amqp_get_u32(p)); break;
    case 'd': out->v.f64 = double_from_bits(amqp_get_u64(p)); break;
    case 'D':
        out->v.decimal.scale = p[0];
        out->v.decimal.value = amqp_get_u32(p + 1);
        break;
    default: break; /* 'V' carries nothing */
    }
}

/* Reads one type letter and its value at *p, never past end; advances *p on success.
 * RabbitMQ reads 'L' as a signed 64-bit long and writes it back as 'l', so 'L' is reported
 * as 'l'. Nested tables and arrays are returned raw, unchecked. */
static enum value_status read_value(const uint8_t **p, const uint8_t *end, struct amqp_field *out)
{
    const uint8_t *q = *p;
    if (q == end)
        return VALUE_TRUNCATED;
    char type = (char)*q++;
    out->type = type == 'L' ? 'l' : type;
    int size = fixed_size(type);
    if (size >= 0) {
        if (remaining(q, end) < (size_t)size)
            return VALUE_TRUNCATED;
        if (type == 'f' && !float_bits_finite(amqp_get_u32(q)))
            return VALUE_NOT_FINITE;
        if (type == 'd' && !double_bits_finite(amqp_get_u64(q)))
            return VALUE_NOT_FINITE;
        decode_fixed(out->type, q, out);
        *p = q + size;
        return VALUE_OK;
    }
    if (!is_prefixed(type))
        return VALUE_UNKNOWN_TYPE;
    if (remaining(q, end) < 4)
        return VALUE_TRUNCATED;
    uint32_t len = amqp_get_u32(q);
    q += 4;
    if (remaining(q, end) < len)
        return VALUE_TRUNCATED;
    out->v.bytes = amqp_bytes_of(q, len); /* same slice layout for S, x, F and A */
    *p = q + len;
    return VALUE_OK;
}

/* Reads a shortstr key at *p, never past end. */
static bool read_key(const uint8_t **p, const uint8_t *end, struct amqp_bytes *key)
{
    const uint8_t *q = *p;
    if (q == end)
        return false;
    size_t len = *q++;
    if (remaining(q, end) < len)
        return false;
    *key = amqp_bytes_of(q, len);
    *p = q + len;
    return true;
}

static int check_table_at(struct amqp_bytes body, int depth, struct amqp_error *err);
static int check_array_at(struct amqp_bytes body, int depth, struct amqp_error *err);

static int value_failure(enum value_status status, const uint8_t *type_at, const char *what,
                         struct amqp_error *err)
{
    switch (status) {
    case VALUE_UNKNOWN_TYPE:
        if (*type_at >= 0x21 && *type_at <= 0x7E)
            return amqp_fail(err, AMQP_SYNTAX_ERROR, "unknown field type '%c' in %s", *type_at,
                             what);
        return amqp_fail(err, AMQP_SYNTAX_ERROR, "unknown field type 0x%02x in %s", *type_at,
                         what);
    case VALUE_NOT_FINITE:
        return amqp_fail(err, AMQP_SYNTAX_ERROR, "non-finite float (type '%c') in %s", *type_at,
                         what);
    default:
        return amqp_fail(err, AMQP_SYNTAX_ERROR, "truncated %s", what);
    }
}

/* Checks a nested table or array value found at `depth`. */
static int check_nested(const struct amqp_field *value, int depth, struct amqp_error *err)
{
    if (value->type != 'F' && value->type != 'A')
        return 0;
    if (depth >= AMQP_TABLE_MAX_DEPTH)
        return amqp_fail(err, AMQP_SYNTAX_ERROR, "field table nested deeper than %d levels",
                         AMQP_TABLE_MAX_DEPTH);
    if (value->type == 'F')
        return check_table_at(value->v.table, depth + 1, err);
    return check_array_at(value->v.array, depth + 1, err);
}

static int check_table_at(struct amqp_bytes body, int depth, struct amqp_error *err)
{
    const uint8_t *p = body.ptr, *end = end_of(body);
    while (p != end) {
        struct amqp_bytes key;
        struct amqp_field value;
        if (!read_key(&p, end, &key))
            return amqp_fail(err, AMQP_SYNTAX_ERROR, "truncated field table");
        const uint8_t *type_at = p;
        enum value_status status = read_value(&p, end, &value);
        if (status != VALUE_OK)
            return value_failure(status, type_at, "field table", err);
        int rc = check_nested(&value, depth, err);
        if (rc)
            return rc;
    }
    return 0;
}

static int check_array_at(struct amqp_bytes body, int depth, struct amqp_error *err)
{
    const uint8_t *p = body.ptr, *end = end_of(body);
    while (p != end) {
        struct amqp_field value;
        const uint8_t *type_at = p;
        enum value_status status = read_value(&p, end, &value);
        if (status != VALUE_OK)
            return value_failure(status, type_at, "field array", err);
        int rc = check_nested(&value, depth, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* The body handed to the public checks is level 1; each nested F or A adds one level. */
int amqp_table_check(struct amqp_bytes body, struct amqp_error *err)
{
    return check_table_at(body, 1, err);
}

int amqp_array_check(struct amqp_bytes body, struct amqp_error *err)
{
    return check_array_at(body, 1, err);
}

void amqp_table_iter_init(struct amqp_table_iter *it, struct amqp_bytes body)
{
    it->p = body.ptr;
    it->end = end_of(body);
}

/* Iteration ends at the end of the body; on a malformed (unchecked) body it stops early
 * instead of reading past the end. */
bool amqp_table_next(struct amqp_table_iter *it, struct amqp_bytes *key, struct amqp_field *value)
{
    const uint8_t *p = it->p;
    if (!read_key(&p, it->end, key) || read_value(&p, it->end, value) != VALUE_OK) {
        it->p = it->end;
        return false;
    }
    it->p = p;
    return true;
}

bool amqp_array_next(struct amqp_table_iter *it, struct amqp_field *value)
{
    const uint8_t *p = it->p;
    if (read_value(&p, it->end, value) != VALUE_OK) {
        it->p = it->end;
        return false;
    }
    it->p = p;
    return true;
}

bool amqp_table_get(struct amqp_bytes body, const char *key, struct amqp_field *value)
{
    struct amqp_table_iter it;
    struct amqp_bytes name;
    amqp_table_iter_init(&it, body);
    while (amqp_table_next(&it, &name, value))
        if (amqp_bytes_eq_cstr(name, key))
            return true;
    return false;
}

size_t amqp_table_begin(struct amqp_buf *b)
{
    size_t mark = b->len;
    amqp_buf_put_u32(b, 0);
    return mark;
}

void amqp_table_end(struct amqp_buf *b, size_t mark)
{
    size_t body_len = b->len - mark - 4;
    if (body_len > UINT32_MAX)
        abort(); /* a table this large cannot be expressed on the wire */
    amqp_put_u32(b->data + mark, (uint32_t)body_len);
}

void amqp_table_put_key(struct amqp_buf *b, const char *key)
{
    amqp_buf_put_shortstr(b, amqp_cstr(key));
}

void amqp_field_put(struct amqp_buf *b, const struct amqp_field *value)
{
    char type = value->type == 'L' ? 'l' : value->type;
    amqp_buf_put_u8(b, (uint8_t)type);
    switch (type) {
    case 'V': break;
    case 't': amqp_buf_put_u8(b, value->v.boolean ? 1 : 0); break;
    case 'b': amqp_buf_put_u8(b, (uint8_t)value->v.i8); break;
    case 'B': amqp_buf_put_u8(b, value->v.u8); break;
    case 's': amqp_buf_put_u16(b, (uint16_t)value->v.i16); break;
    case 'u': amqp_buf_put_u16(b, value->v.u16); break;
    case 'I': amqp_buf_put_u32(b, (uint32_t)value->v.i32); break;
    case 'i': amqp_buf_put_u32(b, value->v.u32); break;
    case 'l': amqp_buf_put_u64(b, (uint64_t)value->v.i64); break;
    case 'T': amqp_buf_put_u64(b, value->v.u64); break;
    case 'f': amqp_buf_put_u32(b, bits_of_float(value->v.f32)); break;
    case 'd': amqp_buf_put_u64(b, bits_of_double(value->v.f64)); break;
    case 'D':
        amqp_buf_put_u8(b, value->v.decimal.scale);
        amqp_buf_put_u32(b, value->v.decimal.value);
        break;
    case 'S': case 'x': case 'F': case 'A':
        amqp_buf_put_longstr(b, value->v.bytes);
        break;
    default:
        abort(); /* a caller built a field of no AMQP type: a programming error */
    }
}

void amqp_table_put_bool(struct amqp_buf *b, const char *key, bool v)
{
    amqp_table_put_key(b, key);
    amqp_field_put(b, &(struct amqp_field){.type = 't', .v.boolean = v});
}

void amqp_table_put_longstr(struct amqp_buf *b, const char *key, struct amqp_bytes v)
{
    amqp_table_put_key(b, key);
    amqp_field_put(b, &(struct amqp_field){.type = 'S', .v.bytes = v});
}

void amqp_table_put_cstr(struct amqp_buf *b, const char *key, const char *v)
{
    amqp_table_put_longstr(b, key, amqp_cstr(v));
}

void amqp_table_put_i32(struct amqp_buf *b, const char *key, int32_t v)
{
    amqp_table_put_key(b, key);
    amqp_field_put(b, &(struct amqp_field){.type = 'I', .v.i32 = v});
}

void amqp_table_put_i64(struct amqp_buf *b, const char *key, int64_t v)
{
    amqp_table_put_key(b, key);
    amqp_field_put(b, &(struct amqp_field){.type = 'l', .v.i64 = v});
}

size_t amqp_table_begin_nested(struct amqp_buf *b, const char *key)
{
    amqp_table_put_key(b, key);
    amqp_buf_put_u8(b, 'F');
    return amqp_table_begin(b);
}

bool amqp_field_integer(const struct amqp_field *f, int64_t *out)
{
    switch (f->type) {
    case 'b': *out = f->v.i8; return true;
    case 'B': *out = f->v.u8; return true;
    case 's': *out = f->v.i16; return true;
    case 'u': *out = f->v.u16; return true;
    case 'I': *out = f->v.i32; return true;
    case 'i': *out = f->v.u32; return true;
    case 'l': *out = f->v.i64; return true;
    default: return false;
    }
}
