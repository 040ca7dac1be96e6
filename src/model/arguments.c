/* Argument-table equivalence on redeclare, with the texts RabbitMQ 3.10 sends. */
#include "model/arguments.h"

#include <stdio.h>

#include "amqp_erlang.h"
#include "amqp_spec.h"
#include "amqp_table.h"

/* RabbitMQ compares within a class of types: every integer width is one class, both float
 * widths another; every other type is its own. */
static char type_class(char type)
{
    switch (type) {
    case 'b': case 'B': case 's': case 'u': case 'I': case 'i': case 'l': return 'l';
    case 'f': case 'd': return 'd';
    default: return type;
    }
}

static double as_double(const struct amqp_field *f)
{
    return f->type == 'f' ? f->v.f32 : f->v.f64;
}

/* Same class and equal values. */
static bool same_class_equal(const struct amqp_field *a, const struct amqp_field *b)
{
    int64_t x, y;
    if (type_class(a->type) != type_class(b->type))
        return false;
    if (amqp_field_integer(a, &x) && amqp_field_integer(b, &y))
        return x == y;
    switch (a->type) {
    case 't': return a->v.boolean == b->v.boolean;
    case 'f': case 'd': return as_double(a) == as_double(b);
    case 'S': case 'x': return amqp_bytes_eq(a->v.bytes, b->v.bytes);
    case 'F': return amqp_bytes_eq(a->v.table, b->v.table);
    case 'A': return amqp_bytes_eq(a->v.array, b->v.array);
    case 'T': return a->v.u64 == b->v.u64;
    case 'D': return a->v.decimal.scale == b->v.decimal.scale && a->v.decimal.value == b->v.decimal.value;
    default: return true; /* void */
    }
}

/* Across classes RabbitMQ compares the bare decoded values as Erlang terms: a binary equals a
 * longstr with the same octets, and a timestamp equals an integer of the same value. */
static bool bare_equal(const struct amqp_field *a, const struct amqp_field *b)
{
    int64_t x;
    bool a_bytes = a->type == 'S' || a->type == 'x', b_bytes = b->type == 'S' || b->type == 'x';
    if (a_bytes || b_bytes)
        return a_bytes && b_bytes && amqp_bytes_eq(a->v.bytes, b->v.bytes);
    if (a->type == 'T' && amqp_field_integer(b, &x))
        return x >= 0 && (uint64_t)x == a->v.u64;
    if (b->type == 'T' && amqp_field_integer(a, &x))
        return x >= 0 && (uint64_t)x == b->v.u64;
    return false;
}

/* A value as RabbitMQ prints it in these texts: binaries as their octets, the rest as ~p. */
static void print_value(char *out, size_t size, const struct amqp_field *f, size_t column)
{
    if (f->type == 'S' || f->type == 'x')
        snprintf(out, size, NAME_FMT, NAME_ARG(f->v.bytes));
    else
        amqp_format_field_pretty(out, size, f, column);
}

/* One side of the text: "none" when absent, the bare value when both sides have one, and the
 * value with its type when only this side has one. */
static void describe(char *out, size_t size, const struct amqp_field *f, bool present,
                     bool other_present)
{
    char value[200];
    if (!present) {
        snprintf(out, size, "none");
        return;
    }
    /* a void value decodes to the atom RabbitMQ prints as "none" when shown bare */
    if (other_present && f->type == 'V') {
        snprintf(out, size, "none");
        return;
    }
    print_value(value, sizeof value, f, 0);
    if (other_present)
        snprintf(out, size, "'%s'", value);
    else
        snprintf(out, size, "the value '%s' of type '%s'", value, amqp_field_type_name(f->type));
}

static bool fail_inequivalent(const char *key, const char *received, const char *current,
                              const struct arguments_owner *o, struct outcome *out)
{
    return outcome_fail(out, AMQP_PRECONDITION_FAILED,
                        "inequivalent arg '%s' for %s '" NAME_FMT "' in vhost '%s': received %s "
                        "but current is %s",
                        key, o->kind, NAME_ARG(o->name), o->vhost, received, current);
}

bool arguments_equivalent(struct amqp_bytes received, struct amqp_bytes current,
                          const char *const *keys, const struct arguments_owner *owner,
                          struct outcome *out)
{
    for (; *keys; keys++) {
        struct amqp_field r = {0}, c = {0};
        bool has_r = amqp_table_get(received, *keys, &r), has_c = amqp_table_get(current, *keys, &c);
        if (!has_r && !has_c)
            continue;
        if (has_r && has_c && (same_class_equal(&r, &c) || bare_equal(&r, &c)))
            continue;
        char rd[240], cd[240];
        describe(rd, sizeof rd, &r, has_r, has_c);
        describe(cd, sizeof cd, &c, has_c, has_r);
        return fail_inequivalent(*keys, rd, cd, owner, out);
    }
    return outcome_done(out);
}

bool arguments_flag_equivalent(const char *flag, bool received, bool current,
                               const struct arguments_owner *owner, struct outcome *out)
{
    if (received == current)
        return true;
    return fail_inequivalent(flag, received ? "'true'" : "'false'", current ? "'true'" : "'false'",
                             owner, out);
}
