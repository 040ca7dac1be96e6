/* AMQP field tables as JSON objects and back, as RabbitMQ's management API and definitions
 * show them (queue and exchange arguments, binding arguments, message headers). */
#include "admin/json_table.h"

#include <stdlib.h>

static json_t *from_array(struct amqp_bytes body)
{
    json_t *a = json_array();
    struct amqp_table_iter it;
    struct amqp_field f;
    amqp_table_iter_init(&it, body);
    while (amqp_array_next(&it, &f))
        json_array_append_new(a, json_table_from_field(&f));
    return a;
}

json_t *json_table_from_field(const struct amqp_field *f)
{
    switch (f->type) {
    case 't': return json_boolean(f->v.boolean);
    case 'b': return json_integer(f->v.i8);
    case 'B': return json_integer(f->v.u8);
    case 's': return json_integer(f->v.i16);
    case 'u': return json_integer(f->v.u16);
    case 'I': return json_integer(f->v.i32);
    case 'i': return json_integer(f->v.u32);
    case 'l':
    case 'L': return json_integer(f->v.i64);
    case 'T': return json_integer((json_int_t)f->v.u64);
    case 'f': return json_real(f->v.f32);
    case 'd': return json_real(f->v.f64);
    case 'D': {
        double v = f->v.decimal.value;
        for (unsigned i = 0; i < f->v.decimal.scale; i++)
            v /= 10;
        return json_real(v);
    }
    case 'S':
    case 'x': return json_table_string(f->v.bytes.ptr, f->v.bytes.len);
    case 'F': return json_table_from_body(f->v.table);
    case 'A': return from_array(f->v.array);
    default: return json_null();
    }
}

json_t *json_table_from_body(struct amqp_bytes body)
{
    json_t *o = json_object();
    struct amqp_table_iter it;
    struct amqp_bytes key;
    struct amqp_field f;
    amqp_table_iter_init(&it, body);
    while (amqp_table_next(&it, &key, &f))
        json_object_setn_new(o, (const char *)key.ptr, key.len, json_table_from_field(&f));
    /* a key that is not UTF-8 is left out by jansson: nothing else can show it */
    return o;
}

static void put_value(struct amqp_buf *out, const json_t *v);

static void put_array(struct amqp_buf *out, const json_t *a)
{
    size_t mark = amqp_table_begin(out); /* an array body has the same u32 length prefix */
    size_t i;
    const json_t *item;
    json_array_foreach(a, i, item)
        put_value(out, item);
    amqp_table_end(out, mark);
}

static void put_object(struct amqp_buf *out, const json_t *obj)
{
    const char *key;
    size_t key_len;
    const json_t *v;
    json_object_keylen_foreach((json_t *)obj, key, key_len, v) {
        amqp_buf_put_shortstr(out, (struct amqp_bytes){(const uint8_t *)key, key_len});
        put_value(out, v);
    }
}

/* Every key, at every depth, fits a shortstr. */
static bool keys_fit(const json_t *v)
{
    const char *key;
    size_t key_len, i;
    const json_t *item;
    if (json_is_array(v)) {
        json_array_foreach(v, i, item)
            if (!keys_fit(item))
                return false;
    } else if (json_is_object(v)) {
        json_object_keylen_foreach((json_t *)v, key, key_len, item)
            if (key_len > 255 || !keys_fit(item))
                return false;
    }
    return true;
}

static void put_value(struct amqp_buf *out, const json_t *v)
{
    struct amqp_field f = {.type = 'V'};
    switch (json_typeof(v)) {
    case JSON_STRING:
        f.type = 'S';
        f.v.bytes = amqp_bytes_of(json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER: f.type = 'l'; f.v.i64 = json_integer_value(v); break;
    case JSON_REAL: f.type = 'd'; f.v.f64 = json_real_value(v); break;
    case JSON_TRUE:
    case JSON_FALSE: f.type = 't'; f.v.boolean = json_is_true(v); break;
    case JSON_ARRAY:
        amqp_buf_put_u8(out, 'A');
        put_array(out, v);
        return;
    case JSON_OBJECT: {
        amqp_buf_put_u8(out, 'F');
        size_t mark = amqp_table_begin(out);
        put_object(out, v);
        amqp_table_end(out, mark);
        return;
    }
    case JSON_NULL: break;
    }
    amqp_field_put(out, &f);
}

bool json_table_to_body(const json_t *obj, struct amqp_buf *out)
{
    if (!obj || json_is_null(obj))
        return true;
    if (!json_is_object(obj) || !keys_fit(obj))
        return false;
    put_object(out, obj);
    return true;
}

json_t *json_table_string(const void *p, size_t len)
{
    json_t *s = json_stringn(p, len);
    if (s)
        return s;
    char *copy = malloc(len + 1);
    if (!copy)
        abort();
    const unsigned char *in = p;
    for (size_t i = 0; i < len; i++)
        copy[i] = in[i] < 0x80 ? (char)in[i] : '?';
    s = json_stringn(copy, len);
    free(copy);
    return s;
}
