/* AMQP field tables as RabbitMQ's management API shows them in JSON, and JSON back into tables. */
#include "admin/json_table.h"

#include "amqp_table.h"
#include "admin/api_internal.h"

static json_t *from_array(struct amqp_bytes body);

static json_t *from_field(const struct amqp_field *f)
{
    int64_t n;
    if (amqp_field_integer(f, &n))
        return json_integer(n);
    switch (f->type) {
    case 't': return json_boolean(f->v.boolean);
    case 'f': return json_real(f->v.f32);
    case 'd': return json_real(f->v.f64);
    case 'D': {
        double v = f->v.decimal.value;
        for (uint8_t i = 0; i < f->v.decimal.scale; i++)
            v /= 10;
        return json_real(v);
    }
    case 'S':
    case 'x': return api_string(f->v.bytes.ptr, f->v.bytes.len);
    case 'T': return json_integer((json_int_t)f->v.u64);
    case 'F': return json_from_table(f->v.table);
    case 'A': return from_array(f->v.array);
    default: return json_null();
    }
}

json_t *json_from_table(struct amqp_bytes body)
{
    json_t *o = json_object();
    struct amqp_table_iter it;
    amqp_table_iter_init(&it, body);
    struct amqp_bytes key;
    struct amqp_field f;
    while (amqp_table_next(&it, &key, &f)) {
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)key.len, (const char *)key.ptr);
        json_object_set_new(o, name, from_field(&f));
    }
    return o;
}

static json_t *from_array(struct amqp_bytes body)
{
    json_t *a = json_array();
    struct amqp_table_iter it;
    amqp_table_iter_init(&it, body);
    struct amqp_field f;
    while (amqp_array_next(&it, &f))
        json_array_append_new(a, from_field(&f));
    return a;
}

static void put_value(struct amqp_buf *out, const json_t *v);

static void put_array(struct amqp_buf *out, const json_t *a)
{
    size_t mark = amqp_table_begin(out); /* an array's length prefix is written the same way */
    size_t i;
    const json_t *v;
    json_array_foreach(a, i, v)
        put_value(out, v);
    amqp_table_end(out, mark);
}

static void put_object(struct amqp_buf *out, const json_t *o)
{
    size_t mark = amqp_table_begin(out);
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)o, key, v) {
        amqp_table_put_key(out, key);
        put_value(out, v);
    }
    amqp_table_end(out, mark);
}

static void put_value(struct amqp_buf *out, const json_t *v)
{
    struct amqp_field f = {0};
    switch (json_typeof(v)) {
    case JSON_STRING:
        f.type = 'S';
        f.v.bytes = amqp_bytes_of(json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER: f.type = 'l'; f.v.i64 = json_integer_value(v); break;
    case JSON_REAL: f.type = 'd'; f.v.f64 = json_real_value(v); break;
    case JSON_TRUE: f.type = 't'; f.v.boolean = true; break;
    case JSON_FALSE: f.type = 't'; f.v.boolean = false; break;
    case JSON_NULL: f.type = 'V'; break;
    case JSON_ARRAY: amqp_buf_put_u8(out, 'A'); put_array(out, v); return;
    case JSON_OBJECT: amqp_buf_put_u8(out, 'F'); put_object(out, v); return;
    }
    amqp_field_put(out, &f);
}

bool json_to_table(const json_t *object, struct amqp_buf *out)
{
    if (!json_is_object(object))
        return false;
    size_t start = out->len;
    put_object(out, object);
    /* drop the length prefix: callers want the body */
    memmove(out->data + start, out->data + start + 4, out->len - start - 4);
    out->len -= 4;
    return true;
}
