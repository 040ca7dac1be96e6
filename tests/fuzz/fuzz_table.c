/* libFuzzer harness for field tables and arrays: validation, full iteration and re-encoding. */
#include <stdlib.h>

#include "amqp_spec.h"
#include "amqp_table.h"

static void walk(struct amqp_bytes body, bool is_table, int depth);

/* Every slice a value points at must lie inside the body it came from. */
static void check_value(struct amqp_bytes body, const struct amqp_field *f, int depth)
{
    const uint8_t *end = body.ptr + body.len;
    switch (f->type) {
    case 'S': case 'x': case 'F': case 'A':
        if (f->v.bytes.ptr < body.ptr || f->v.bytes.ptr + f->v.bytes.len > end)
            abort();
        break;
    default:
        break;
    }
    if (f->type == 'F')
        walk(f->v.table, true, depth + 1);
    else if (f->type == 'A')
        walk(f->v.array, false, depth + 1);
}

/* Iterates a checked body to its end; also re-encodes it, which must check and keep its size. */
static void walk(struct amqp_bytes body, bool is_table, int depth)
{
    if (depth > AMQP_TABLE_MAX_DEPTH)
        abort();
    struct amqp_table_iter it;
    struct amqp_bytes key;
    struct amqp_field f;
    struct amqp_buf copy;
    amqp_buf_init(&copy);
    size_t mark = amqp_table_begin(&copy);
    amqp_table_iter_init(&it, body);
    while (is_table ? amqp_table_next(&it, &key, &f) : amqp_array_next(&it, &f)) {
        if (it.p <= body.ptr || it.p > body.ptr + body.len)
            abort();
        if (is_table) {
            if (key.ptr < body.ptr || key.ptr + key.len > it.p)
                abort();
            amqp_buf_put_shortstr(&copy, key);
        }
        check_value(body, &f, depth);
        amqp_field_put(&copy, &f);
    }
    amqp_table_end(&copy, mark);
    if (it.p != body.ptr + body.len || copy.len - mark - 4 != body.len)
        abort();
    struct amqp_bytes again = amqp_bytes_of(copy.data + mark + 4, body.len);
    if ((is_table ? amqp_table_check(again, NULL) : amqp_array_check(again, NULL)) != 0)
        abort();
    amqp_buf_free(&copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool is_table = data[0] & 1; /* the first byte chooses table or array */
    struct amqp_bytes body = amqp_bytes_of(data + 1, size - 1);
    struct amqp_error err = {0};
    int rc = is_table ? amqp_table_check(body, &err) : amqp_array_check(body, &err);
    if (rc != 0) {
        if (rc != AMQP_SYNTAX_ERROR || err.code != AMQP_SYNTAX_ERROR || err.text[0] == '\0')
            abort();
        return 0;
    }
    walk(body, is_table, 1);
    if (is_table) {
        struct amqp_table_iter it;
        struct amqp_bytes key;
        struct amqp_field first, found;
        char name[256];
        amqp_table_iter_init(&it, body);
        if (amqp_table_next(&it, &key, &first) && !memchr(key.ptr, 0, key.len)) {
            memcpy(name, key.ptr, key.len);
            name[key.len] = '\0';
            if (!amqp_table_get(body, name, &found) || found.type != first.type)
                abort();
        }
    }
    return 0;
}
