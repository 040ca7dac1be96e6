/* An editable field table, and the encoded values put into one. */
#include "model/field_list.h"

#include <stdlib.h>
#include <string.h>

#include "amqp_table.h"
#include "core/alloc.h"

struct amqp_buf *field_scratch_buf(struct field_scratch *s)
{
    if (s->len == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->bufs = xrealloc(s->bufs, s->cap * sizeof *s->bufs);
    }
    struct amqp_buf *b = &s->bufs[s->len++];
    amqp_buf_init(b);
    return b;
}

void field_scratch_free(struct field_scratch *s)
{
    for (size_t i = 0; i < s->len; i++)
        amqp_buf_free(&s->bufs[i]);
    free(s->bufs);
}

struct amqp_bytes field_scratch_bytes(const struct amqp_buf *b)
{
    return amqp_bytes_of(b->data, b->len);
}

void field_list_push(struct field_list *f, struct amqp_bytes key, struct amqp_bytes value)
{
    if (f->len == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 16;
        f->items = xrealloc(f->items, f->cap * sizeof *f->items);
    }
    f->items[f->len] = (struct field_entry){key, value, f->len};
    f->len++;
}

/* The entries of a checked table body, as slices into it. */
void field_list_parse(struct field_list *f, struct amqp_bytes body)
{
    struct amqp_table_iter it;
    struct amqp_bytes key;
    struct amqp_field value;
    amqp_table_iter_init(&it, body);
    while (amqp_table_next(&it, &key, &value)) {
        const uint8_t *start = key.ptr + key.len;
        field_list_push(f, key, amqp_bytes_of(start, (size_t)(it.p - start)));
    }
}

struct field_entry *field_list_find(struct field_list *f, const char *key)
{
    for (size_t i = 0; i < f->len; i++)
        if (amqp_bytes_eq_cstr(f->items[i].key, key))
            return &f->items[i];
    return NULL;
}

/* Erlang's lists:keystore: the first entry of that key gets the value, or one is appended. */
void field_list_store(struct field_list *f, const char *key, struct amqp_bytes value)
{
    struct field_entry *e = field_list_find(f, key);
    if (e)
        e->value = value;
    else
        field_list_push(f, amqp_cstr(key), value);
}

/* Erlang's lists:keydelete: the first entry of that key goes. */
void field_list_delete(struct field_list *f, const char *key)
{
    struct field_entry *e = field_list_find(f, key);
    if (!e)
        return;
    size_t i = (size_t)(e - f->items);
    memmove(e, e + 1, (f->len - i - 1) * sizeof *e);
    f->len--;
}

static int compare_keys(const void *a, const void *b)
{
    const struct field_entry *x = a, *y = b;
    size_t n = x->key.len < y->key.len ? x->key.len : y->key.len;
    int c = n ? memcmp(x->key.ptr, y->key.ptr, n) : 0;
    if (c == 0)
        c = (x->key.len > y->key.len) - (x->key.len < y->key.len);
    if (c == 0)
        c = (x->order > y->order) - (x->order < y->order);
    return c;
}

/* RabbitMQ's sort_field_table: by key, octet by octet. */
void field_list_sort(struct field_list *f)
{
    for (size_t i = 0; i < f->len; i++)
        f->items[i].order = i;
    qsort(f->items, f->len, sizeof *f->items, compare_keys);
}

/* The table's encoded value ('F', length, entries). */
struct amqp_bytes field_list_encode(const struct field_list *f, struct field_scratch *s)
{
    struct amqp_buf *b = field_scratch_buf(s);
    amqp_buf_put_u8(b, 'F');
    size_t mark = amqp_table_begin(b);
    for (size_t i = 0; i < f->len; i++) {
        amqp_buf_put_shortstr(b, f->items[i].key);
        amqp_buf_put(b, f->items[i].value.ptr, f->items[i].value.len);
    }
    amqp_table_end(b, mark);
    return field_scratch_bytes(b);
}

/* ---- encoded values ---- */

struct amqp_bytes field_value_longstr(struct field_scratch *s, struct amqp_bytes v)
{
    struct amqp_buf *b = field_scratch_buf(s);
    amqp_buf_put_u8(b, 'S');
    amqp_buf_put_longstr(b, v);
    return field_scratch_bytes(b);
}

struct amqp_bytes field_value_long(struct field_scratch *s, int64_t v)
{
    struct amqp_buf *b = field_scratch_buf(s);
    amqp_buf_put_u8(b, 'l');
    amqp_buf_put_u64(b, (uint64_t)v);
    return field_scratch_bytes(b);
}

struct amqp_bytes field_value_timestamp(struct field_scratch *s, uint64_t v)
{
    struct amqp_buf *b = field_scratch_buf(s);
    amqp_buf_put_u8(b, 'T');
    amqp_buf_put_u64(b, v);
    return field_scratch_bytes(b);
}

/* An array value of the given encoded items. */
struct amqp_bytes field_value_array(struct field_scratch *s, const struct amqp_bytes *items, size_t n)
{
    struct amqp_buf *b = field_scratch_buf(s);
    amqp_buf_put_u8(b, 'A');
    size_t mark = amqp_table_begin(b); /* an array's length prefix is a table's */
    for (size_t i = 0; i < n; i++)
        amqp_buf_put(b, items[i].ptr, items[i].len);
    amqp_table_end(b, mark);
    return field_scratch_bytes(b);
}

/* The body of an encoded table or array value (past its type letter and length). */
struct amqp_bytes field_value_nested_body(struct amqp_bytes value)
{
    return amqp_bytes_of(value.ptr + 5, value.len - 5);
}

