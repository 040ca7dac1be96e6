/* The x-delayed-message exchange type: reading x-delay, holding messages, releasing them when due. */
#include "model/exchange_delayed.h"

#include <stdlib.h>

#include "amqp_table.h"
#include "core/alloc.h"
#include "core/container.h"

struct exchange_delayed *exchange_delayed_new(struct exchange *x)
{
    struct exchange_delayed *d = xcalloc(1, sizeof *d);
    d->exchange = x;
    delay_heap_init(&d->held);
    return d;
}

void exchange_delayed_free(struct exchange_delayed *d)
{
    if (!d)
        return;
    if (d->deadlines)
        deadline_heap_remove(d->deadlines, &d->due);
    delay_heap_free(&d->held);
    free(d);
}

/* The earliest held message is due: route all that are, then wait for the next. */
static void on_due(struct deadline *due, uint64_t now_ms)
{
    struct exchange_delayed *d = container_of(due, struct exchange_delayed, due);
    struct delayed_message m;
    while (delay_heap_pop_due(&d->held, now_ms, &m)) {
        struct amqp_bytes own_key;
        size_t nkeys;
        const struct amqp_bytes *keys = delayed_message_keys(&m, &own_key, &nkeys);
        d->route(d->exchange, m.message, keys, nkeys, d->owner);
        delayed_message_release(&m);
    }
    if (d->held.len)
        deadline_heap_add(d->deadlines, &d->due, delay_heap_next_ms(&d->held));
}

void exchange_delayed_use_timer(struct exchange_delayed *d, struct deadline_heap *deadlines,
                                exchange_delayed_route_fn *route, void *owner)
{
    deadline_init(&d->due, on_due);
    d->deadlines = deadlines;
    d->route = route;
    d->owner = owner;
}

void exchange_delayed_hold(struct exchange_delayed *d, uint64_t due_ms, struct message *m,
                           const struct amqp_bytes *keys, size_t nkeys)
{
    delay_heap_push(&d->held, due_ms, m, keys, nkeys);
    /* one deadline per exchange, kept at its earliest message */
    if (!deadline_pending(&d->due) || due_ms < d->due.at_ms)
        deadline_heap_reschedule(d->deadlines, &d->due, due_ms);
}

/* Erlang's binary_to_integer: an optional sign, then decimal digits and nothing else.
 * Magnitudes beyond int64 saturate (they are no delay either way). */
static bool parse_integer(struct amqp_bytes s, int64_t *out)
{
    size_t i = 0;
    bool negative = false;
    if (i < s.len && (s.ptr[i] == '+' || s.ptr[i] == '-'))
        negative = s.ptr[i++] == '-';
    if (i == s.len)
        return false;
    uint64_t value = 0;
    for (; i < s.len; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return false;
        unsigned digit = (unsigned)(s.ptr[i] - '0');
        value = value > (UINT64_C(1) << 62) ? UINT64_C(1) << 62 : value * 10 + digit;
    }
    *out = negative ? -(int64_t)value : (int64_t)value;
    return true;
}

/* Truncation toward zero, as Erlang's trunc (the codec lets no NaN or infinity through). */
static bool truncate_double(double v, int64_t *out)
{
    *out = v >= 9.2e18 ? INT64_MAX : v <= -9.2e18 ? INT64_MIN : (int64_t)v;
    return true;
}

/* An unsigned decimal value / 10^scale, truncated toward zero. */
static bool decimal_truncate(uint32_t value, uint8_t scale, int64_t *out)
{
    for (unsigned i = 0; i < scale && value; i++)
        value /= 10;
    *out = value;
    return true;
}

/* The plugin's x-delay as an integer, for the types it takes. */
static bool delay_value(const struct amqp_field *f, int64_t *out)
{
    if (amqp_field_integer(f, out))
        return true;
    switch (f->type) {
    case 'S': /* the plugin crashes on one that is no integer (541); Warren routes it now */
        return parse_integer(f->v.bytes, out);
    case 'f':
        return truncate_double(f->v.f32, out);
    case 'd':
        return truncate_double(f->v.f64, out);
    case 'D': /* the plugin crashes on a decimal (541); Warren truncates it as a float */
        return decimal_truncate(f->v.decimal.value, f->v.decimal.scale, out);
    default:
        return false;
    }
}

bool exchange_delayed_delay_of(const struct message *m, uint64_t *delay_ms)
{
    if (!(message_property_flags(m) & AMQP_BASIC_HEADERS_FLAG))
        return false;
    struct amqp_basic_properties props;
    message_properties(m, &props);
    struct amqp_field f;
    int64_t delay;
    if (!amqp_table_get(props.headers, "x-delay", &f) || !delay_value(&f, &delay) ||
        delay <= 0 || (uint64_t)delay > EXCHANGE_DELAY_MAX_MS)
        return false;
    *delay_ms = (uint64_t)delay;
    return true;
}
