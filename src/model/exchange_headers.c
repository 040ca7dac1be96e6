/* Headers-exchange matching: RabbitMQ's sorted merge of binding arguments and message headers. */
#include "model/exchange_headers.h"

#include <stdlib.h>
#include <string.h>

#include "amqp_table.h"
#include "core/alloc.h"

enum match_kind { MATCH_ALL, MATCH_ANY, MATCH_ALL_WITH_X, MATCH_ANY_WITH_X };

/* One table entry; `order` keeps the sort stable, as Erlang's lists:keysort is. */
struct entry {
    struct amqp_bytes key;
    struct amqp_field value;
    size_t order;
};

/* Entries of one table, on the stack unless the table is large. */
enum { INLINE_ENTRIES = 32 };
struct entries {
    struct entry *items;
    size_t count;
    struct entry inline_items[INLINE_ENTRIES];
};

static enum match_kind match_kind_of(struct amqp_bytes args)
{
    struct amqp_field v;
    if (!amqp_table_get(args, "x-match", &v) || v.type != 'S')
        return MATCH_ALL;
    if (amqp_bytes_eq_cstr(v.v.bytes, "any"))
        return MATCH_ANY;
    if (amqp_bytes_eq_cstr(v.v.bytes, "all-with-x"))
        return MATCH_ALL_WITH_X;
    if (amqp_bytes_eq_cstr(v.v.bytes, "any-with-x"))
        return MATCH_ANY_WITH_X;
    return MATCH_ALL; /* RabbitMQ refuses other values at bind time; matching reads them as all */
}

static bool wants_all(enum match_kind kind)
{
    return kind == MATCH_ALL || kind == MATCH_ALL_WITH_X;
}

static bool counts_key(struct amqp_bytes key, enum match_kind kind)
{
    if (amqp_bytes_eq_cstr(key, "x-match"))
        return false;
    bool x_key = key.len >= 2 && key.ptr[0] == 'x' && key.ptr[1] == '-';
    return !x_key || kind == MATCH_ALL_WITH_X || kind == MATCH_ANY_WITH_X;
}

/* Erlang orders binaries bytewise, a proper prefix first. */
static int compare_keys(struct amqp_bytes a, struct amqp_bytes b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c)
        return c;
    return (a.len > b.len) - (a.len < b.len);
}

static int compare_entries(const void *pa, const void *pb)
{
    const struct entry *a = pa, *b = pb;
    int c = compare_keys(a->key, b->key);
    if (c)
        return c;
    return (a->order > b->order) - (a->order < b->order);
}

/* Collects the entries of `body` (binding entries filtered by `kind`, or all when
 * filter is false) and sorts them by key. */
static void collect_sorted(struct entries *out, struct amqp_bytes body, bool filter,
                           enum match_kind kind)
{
    struct amqp_table_iter it;
    struct amqp_bytes key;
    struct amqp_field value;
    size_t n = 0;
    amqp_table_iter_init(&it, body);
    while (amqp_table_next(&it, &key, &value))
        n += !filter || counts_key(key, kind);
    out->items = out->inline_items;
    if (n > INLINE_ENTRIES) {
        out->items = xmalloc(n * sizeof *out->items);
    }
    out->count = 0;
    amqp_table_iter_init(&it, body);
    while (amqp_table_next(&it, &key, &value)) {
        if (!filter || counts_key(key, kind)) {
            out->items[out->count] = (struct entry){key, value, out->count};
            out->count++;
        }
    }
    if (out->count > 1)
        qsort(out->items, out->count, sizeof *out->items, compare_entries);
}

static void entries_free(struct entries *e)
{
    if (e->items != e->inline_items)
        free(e->items);
}

/* ---- Erlang == over RabbitMQ's decoded field values ---- */

/* RabbitMQ decodes a timestamp as a plain integer, so it compares equal to one. */
static bool as_integer(const struct amqp_field *f, __int128 *out)
{
    int64_t v;
    if (f->type == 'T') {
        *out = f->v.u64;
        return true;
    }
    if (!amqp_field_integer(f, &v))
        return false;
    *out = v;
    return true;
}

static bool as_float(const struct amqp_field *f, double *out)
{
    if (f->type == 'f')
        *out = f->v.f32; /* exact: every float is a double */
    else if (f->type == 'd')
        *out = f->v.f64;
    else
        return false;
    return true;
}

/* Erlang compares an integer and a float exactly (2^53 + 1 is not 2^53 as a double). */
static bool integer_equals_double(__int128 i, double d)
{
    if (!(d > -0x1p100 && d < 0x1p100))
        return false; /* far beyond any 64-bit field, and makes the conversion defined */
    __int128 t = (__int128)d;
    return (double)t == d && t == i;
}

static bool is_binary(char type)
{
    return type == 'S' || type == 'x';
}

static bool values_equal(const struct amqp_field *a, const struct amqp_field *b);

/* Nested tables are lists of {Key, Type, Value}: same length, same order, same types. */
static bool tables_equal(struct amqp_bytes a, struct amqp_bytes b)
{
    struct amqp_table_iter ia, ib;
    struct amqp_bytes ka, kb;
    struct amqp_field va, vb;
    amqp_table_iter_init(&ia, a);
    amqp_table_iter_init(&ib, b);
    for (;;) {
        bool more_a = amqp_table_next(&ia, &ka, &va);
        bool more_b = amqp_table_next(&ib, &kb, &vb);
        if (!more_a || !more_b)
            return more_a == more_b;
        if (!amqp_bytes_eq(ka, kb) || va.type != vb.type || !values_equal(&va, &vb))
            return false;
    }
}

/* Arrays are lists of {Type, Value}. */
static bool arrays_equal(struct amqp_bytes a, struct amqp_bytes b)
{
    struct amqp_table_iter ia, ib;
    struct amqp_field va, vb;
    amqp_table_iter_init(&ia, a);
    amqp_table_iter_init(&ib, b);
    for (;;) {
        bool more_a = amqp_array_next(&ia, &va);
        bool more_b = amqp_array_next(&ib, &vb);
        if (!more_a || !more_b)
            return more_a == more_b;
        if (va.type != vb.type || !values_equal(&va, &vb))
            return false;
    }
}

static bool values_equal(const struct amqp_field *a, const struct amqp_field *b)
{
    __int128 ia = 0, ib = 0;
    double da = 0, db = 0;
    bool a_int = as_integer(a, &ia), b_int = as_integer(b, &ib);
    bool a_float = as_float(a, &da), b_float = as_float(b, &db);
    if (a_int && b_int)
        return ia == ib;
    if (a_float && b_float)
        return da == db;
    if (a_int && b_float)
        return integer_equals_double(ia, db);
    if (a_float && b_int)
        return integer_equals_double(ib, da);
    if (is_binary(a->type) && is_binary(b->type))
        return amqp_bytes_eq(a->v.bytes, b->v.bytes);
    if (a->type != b->type) {
        /* Both are Erlang lists: only the empty table and the empty array are equal. */
        bool lists = (a->type == 'F' || a->type == 'A') && (b->type == 'F' || b->type == 'A');
        return lists && a->v.bytes.len == 0 && b->v.bytes.len == 0;
    }
    switch (a->type) {
    case 't': return a->v.boolean == b->v.boolean;
    case 'D': return a->v.decimal.scale == b->v.decimal.scale &&
                     a->v.decimal.value == b->v.decimal.value;
    case 'V': return true;
    case 'F': return tables_equal(a->v.table, b->v.table);
    case 'A': return arrays_equal(a->v.array, b->v.array);
    default: return false;
    }
}

/* ---- the merge ---- */

static bool merge(const struct entries *binding, const struct entries *headers,
                  enum match_kind kind)
{
    bool want_all = wants_all(kind);
    bool all = true, any = false;
    size_t i = 0, j = 0;
    while (i < binding->count && j < headers->count) {
        if (want_all ? !all : any)
            break; /* decided */
        const struct entry *p = &binding->items[i], *d = &headers->items[j];
        int c = compare_keys(p->key, d->key);
        if (c > 0) {
            j++; /* a header the binding does not mention */
            continue;
        }
        if (c < 0) {
            all = false; /* a binding key the message lacks */
            i++;
            continue;
        }
        if (p->value.type == 'V' || values_equal(&p->value, &d->value))
            any = true;
        else
            all = false;
        i++;
        j++;
    }
    if (i < binding->count && j == headers->count)
        all = false; /* binding keys left over, headers exhausted */
    return want_all ? all : any;
}

bool exchange_headers_match(struct amqp_bytes binding_args, struct amqp_bytes message_headers)
{
    enum match_kind kind = match_kind_of(binding_args);
    struct entries binding, headers;
    collect_sorted(&binding, binding_args, true, kind);
    if (binding.count == 0) {
        entries_free(&binding);
        return wants_all(kind); /* nothing to require: all holds, any does not */
    }
    collect_sorted(&headers, message_headers, false, kind);
    bool matched = merge(&binding, &headers, kind);
    entries_free(&headers);
    entries_free(&binding);
    return matched;
}
