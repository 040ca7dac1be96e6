/* Dead letters: x-death and the headers around it, rewritten as RabbitMQ 3.10 writes them. */
#include "model/deadletter.h"

#include <stdlib.h>
#include <string.h>

#include "amqp_buf.h"
#include "amqp_spec.h"
#include "amqp_table.h"
#include "core/alloc.h"
#include "model/field_list.h"

static const char *const reason_names[] = {
    [DEAD_LETTER_REJECTED] = "rejected",
    [DEAD_LETTER_EXPIRED] = "expired",
    [DEAD_LETTER_MAXLEN] = "maxlen",
    [DEAD_LETTER_DELIVERY_LIMIT] = "delivery_limit",
};

const char *deadletter_reason_name(enum dead_letter_reason reason)
{
    return reason_names[reason];
}

/* is_cycle's comparison, which is typed: a longstr equal to want. */
static bool longstr_equals(const struct amqp_field *f, struct amqp_bytes want)
{
    return f->type == 'S' && amqp_bytes_eq(f->v.bytes, want);
}

/* ---- x-death ---- */

/* One entry of an existing x-death array. */
struct death {
    struct amqp_bytes item; /* the encoded array item */
    bool is_table;
    struct amqp_bytes body; /* its table body */
    bool has_queue, has_reason;
    struct amqp_bytes queue, reason; /* when binaries */
    bool queue_binary, reason_binary;
};

static void death_parse(struct death *d, struct amqp_bytes item, struct amqp_field value)
{
    memset(d, 0, sizeof *d);
    d->item = item;
    d->is_table = value.type == 'F';
    if (!d->is_table)
        return;
    d->body = value.v.table;
    struct amqp_field f;
    if ((d->has_queue = amqp_table_get(d->body, "queue", &f)) && (f.type == 'S' || f.type == 'x')) {
        d->queue_binary = true;
        d->queue = f.v.bytes;
    }
    if ((d->has_reason = amqp_table_get(d->body, "reason", &f)) && (f.type == 'S' || f.type == 'x')) {
        d->reason_binary = true;
        d->reason = f.v.bytes;
    }
}

/* Same queue and reason, compared as Erlang terms: absent equals absent, binaries by value,
 * values of other types never equal (they could not have come from RabbitMQ). */
static bool same_key_part(bool has_a, bool bin_a, struct amqp_bytes a, bool has_b, bool bin_b,
                          struct amqp_bytes b)
{
    if (!has_a || !has_b)
        return has_a == has_b;
    return bin_a && bin_b && amqp_bytes_eq(a, b);
}

static bool same_death(const struct death *a, const struct death *b)
{
    return a->is_table && b->is_table &&
           same_key_part(a->has_queue, a->queue_binary, a->queue, b->has_queue, b->queue_binary,
                         b->queue) &&
           same_key_part(a->has_reason, a->reason_binary, a->reason, b->has_reason,
                         b->reason_binary, b->reason);
}

static bool death_is(const struct death *d, struct amqp_bytes queue, const char *reason)
{
    return d->is_table && d->queue_binary && amqp_bytes_eq(d->queue, queue) && d->reason_binary &&
           amqp_bytes_eq_cstr(d->reason, reason);
}

/* The death's table with its count set to `count`, in place, or added first when it has none. */
static void death_fields_with_count(struct field_list *f, const struct death *d, int64_t count,
                                    bool add_if_missing, struct field_scratch *s)
{
    field_list_parse(f, d->body);
    struct field_entry *c = field_list_find(f, "count");
    if (c) {
        c->value = field_value_long(s, count);
    } else if (add_if_missing) {
        field_list_push(f, (struct amqp_bytes){0}, (struct amqp_bytes){0});
        memmove(f->items + 1, f->items, (f->len - 1) * sizeof *f->items);
        f->items[0] = (struct field_entry){amqp_cstr("count"), field_value_long(s, count), 0};
    }
}

static int64_t death_count(const struct death *d)
{
    struct amqp_field f;
    int64_t n = 0;
    if (amqp_table_get(d->body, "count", &f))
        amqp_field_integer(&f, &n);
    return n;
}

/* RabbitMQ's group_by_queue_and_reason: of several entries for one queue and reason the first
 * stays, given their number as its count if it has none (arrays from before counts). */
static size_t group_deaths(struct death *deaths, size_t n, struct amqp_bytes *items,
                           struct field_scratch *s)
{
    if (n < 2) {
        for (size_t i = 0; i < n; i++)
            items[i] = deaths[i].item;
        return n;
    }
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        const struct death *d = &deaths[i];
        bool seen = false;
        size_t matches = 0;
        for (size_t j = 0; j < n; j++) {
            if (j < i && same_death(&deaths[j], d))
                seen = true;
            matches += same_death(&deaths[j], d);
        }
        if (!d->is_table) { /* RabbitMQ would fail on it; kept as it is */
            items[out++] = d->item;
            continue;
        }
        if (seen)
            continue;
        struct amqp_field count;
        if (amqp_table_get(d->body, "count", &count)) {
            items[out++] = d->item;
            continue;
        }
        struct field_list f = {0};
        death_fields_with_count(&f, d, (int64_t)matches, true, s);
        items[out++] = field_list_encode(&f, s);
        free(f.items);
    }
    /* RabbitMQ 3.10 builds the grouped list by prepending and never turns it round: of two or
     * more entries the oldest comes first after a death (observed: a chain of rejections
     * through xa, xb, xc leaves x-death as xc, xa, xb) */
    for (size_t i = 0; i < out / 2; i++) {
        struct amqp_bytes t = items[i];
        items[i] = items[out - 1 - i];
        items[out - 1 - i] = t;
    }
    return out;
}

/* The routing keys x-death records: the message's own, then its CC header's. */
static struct amqp_bytes routing_keys_value(const struct message *m, struct amqp_bytes headers,
                                            struct field_scratch *s)
{
    size_t n = 1, cap = 8;
    struct amqp_bytes *keys = xmalloc(cap * sizeof *keys);
    keys[0] = field_value_longstr(s, message_routing_key(m));
    struct amqp_field cc, item;
    if (headers.len && amqp_table_get(headers, "CC", &cc) && cc.type == 'A') {
        struct amqp_table_iter it;
        amqp_table_iter_init(&it, cc.v.array);
        while (amqp_array_next(&it, &item)) {
            if (item.type != 'S')
                continue;
            if (n == cap)
                keys = xrealloc(keys, (cap *= 2) * sizeof *keys);
            keys[n++] = field_value_longstr(s, item.v.bytes);
        }
    }
    struct amqp_bytes value = field_value_array(s, keys, n);
    free(keys);
    return value;
}

struct death_event {
    struct amqp_bytes queue, exchange;
    const char *reason;
};

/* The new x-death value and whether this is the first death (x-first-death-* then). */
static struct amqp_bytes x_death_value(const struct field_list *info, const struct field_entry *existing,
                                       const struct death_event *ev, struct field_scratch *s, bool *first)
{
    struct field_list fresh = {0};
    field_list_push(&fresh, amqp_cstr("count"), field_value_long(s, 1));
    for (size_t i = 0; i < info->len; i++)
        field_list_push(&fresh, info->items[i].key, info->items[i].value);
    *first = !existing;
    struct amqp_bytes value;
    if (!existing || existing->value.ptr[0] != 'A') {
        /* the first death, or an x-death some client turned into another type: a fresh array
         * of one table, unsorted, as RabbitMQ writes them */
        struct amqp_bytes item = field_list_encode(&fresh, s);
        value = field_value_array(s, &item, 1);
        free(fresh.items);
        return value;
    }
    size_t n = 0, cap = 8;
    struct death *deaths = xmalloc(cap * sizeof *deaths);
    struct amqp_table_iter it;
    struct amqp_field item;
    amqp_table_iter_init(&it, field_value_nested_body(existing->value));
    const uint8_t *start = it.p;
    while (amqp_array_next(&it, &item)) {
        if (n == cap)
            deaths = xrealloc(deaths, (cap *= 2) * sizeof *deaths);
        death_parse(&deaths[n++], amqp_bytes_of(start, (size_t)(it.p - start)), item);
        start = it.p;
    }
    struct amqp_bytes *items = xmalloc((n + 1) * sizeof *items);
    struct death *grouped = xmalloc((n + 1) * sizeof *grouped);
    size_t ngrouped = group_deaths(deaths, n, items + 1, s);
    for (size_t i = 0; i < ngrouped; i++) {
        struct amqp_field f = {.type = (char)items[i + 1].ptr[0]};
        if (f.type == 'F')
            f.v.table = field_value_nested_body(items[i + 1]);
        death_parse(&grouped[i], items[i + 1], f);
    }
    /* the matching entry, its count raised, moves to the front; the others keep their order */
    struct field_list head = {0};
    size_t kept = 1;
    bool matched = false;
    for (size_t i = 0; i < ngrouped; i++) {
        if (!matched && death_is(&grouped[i], ev->queue, ev->reason)) {
            matched = true;
            death_fields_with_count(&head, &grouped[i], death_count(&grouped[i]) + 1, true, s);
        } else {
            items[kept++] = items[i + 1];
        }
    }
    if (!matched) {
        head = fresh;
        fresh.items = NULL;
    }
    field_list_sort(&head);
    items[0] = field_list_encode(&head, s);
    value = field_value_array(s, items, kept);
    free(head.items);
    free(fresh.items);
    free(items);
    free(grouped);
    free(deaths);
    return value;
}

struct message *deadletter_message(const struct message *m, struct amqp_bytes queue,
                                   enum dead_letter_reason reason, struct amqp_bytes dlx,
                                   const struct amqp_bytes *dlrk, uint64_t now_s)
{
    struct amqp_basic_properties props;
    message_properties(m, &props);
    struct amqp_bytes headers = (props.flags & AMQP_BASIC_HEADERS_FLAG) ? props.headers
                                                                         : (struct amqp_bytes){0};
    struct field_scratch s = {0};
    struct death_event ev = {queue, message_exchange(m), deadletter_reason_name(reason)};

    struct field_list info = {0};
    field_list_push(&info, amqp_cstr("reason"), field_value_longstr(&s, amqp_cstr(ev.reason)));
    field_list_push(&info, amqp_cstr("queue"), field_value_longstr(&s, queue));
    field_list_push(&info, amqp_cstr("time"), field_value_timestamp(&s, now_s));
    field_list_push(&info, amqp_cstr("exchange"), field_value_longstr(&s, ev.exchange));
    field_list_push(&info, amqp_cstr("routing-keys"), routing_keys_value(m, headers, &s));
    if (props.flags & AMQP_BASIC_EXPIRATION_FLAG)
        field_list_push(&info, amqp_cstr("original-expiration"), field_value_longstr(&s, props.expiration));

    struct field_list all = {0};
    if (headers.len)
        field_list_parse(&all, headers);
    bool first;
    struct amqp_bytes x_death = x_death_value(&info, field_list_find(&all, "x-death"), &ev, &s, &first);
    struct amqp_bytes reason_v = field_value_longstr(&s, amqp_cstr(ev.reason));
    struct amqp_bytes queue_v = field_value_longstr(&s, queue);
    struct amqp_bytes exchange_v = field_value_longstr(&s, ev.exchange);
    if (first) {
        field_list_store(&all, "x-first-death-reason", reason_v);
        field_list_store(&all, "x-first-death-queue", queue_v);
        field_list_store(&all, "x-first-death-exchange", exchange_v);
    }
    field_list_store(&all, "x-death", x_death);
    /* RabbitMQ 3.13's x-last-death-*: 3.10 does not write them */
    field_list_store(&all, "x-last-death-reason", reason_v);
    field_list_store(&all, "x-last-death-queue", queue_v);
    field_list_store(&all, "x-last-death-exchange", exchange_v);
    field_list_sort(&all);
    if (dlrk)
        field_list_delete(&all, "CC");

    struct amqp_bytes table = field_list_encode(&all, &s);
    props.headers = field_value_nested_body(table);
    props.flags |= AMQP_BASIC_HEADERS_FLAG;
    props.flags &= (uint16_t)~AMQP_BASIC_EXPIRATION_FLAG;
    props.expiration = (struct amqp_bytes){0};
    /* RabbitMQ routes a dead letter without a routing key of its own by its BCC keys too */
    struct message *dead = message_with_properties(m, &props, dlx,
                                                   dlrk ? *dlrk : message_routing_key(m),
                                                   dlrk ? (struct amqp_bytes){NULL, 0}
                                                        : message_kept_bcc(m));
    if (reason != DEAD_LETTER_REJECTED)
        dead->flags |= MESSAGE_CHECK_CYCLES;
    free(all.items);
    free(info.items);
    field_scratch_free(&s);
    return dead;
}

bool deadletter_is_cycle(const struct message *dead_letter, struct amqp_bytes queue)
{
    struct amqp_basic_properties props;
    message_properties(dead_letter, &props);
    struct amqp_field x_death, item, f;
    if (!(props.flags & AMQP_BASIC_HEADERS_FLAG) ||
        !amqp_table_get(props.headers, "x-death", &x_death) || x_death.type != 'A')
        return false;
    /* newest first: every death up to and including the queue's last one must be automatic */
    bool automatic = true;
    struct amqp_table_iter it;
    amqp_table_iter_init(&it, x_death.v.array);
    while (amqp_array_next(&it, &item)) {
        if (item.type != 'F') {
            automatic = false;
            continue;
        }
        if (amqp_table_get(item.v.table, "reason", &f) && longstr_equals(&f, amqp_cstr("rejected")))
            automatic = false;
        if (amqp_table_get(item.v.table, "queue", &f) && longstr_equals(&f, queue))
            return automatic;
    }
    return false;
}
