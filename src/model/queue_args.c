/* Queue arguments: RabbitMQ 3.10's validators, in its order and with its texts, into a struct. */
#include "model/queue_args.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "amqp_erlang.h"
#include "amqp_spec.h"
#include "amqp_table.h"

/* RabbitMQ's bound on TTLs and expiry: ten years of milliseconds. */
#define EXPIRY_MAX_MS 315360000000ll
#define PRIORITY_MAX 255
#define STREAM_SEGMENT_MAX 3000000000ll

enum { CLASSIC = 1 << QUEUE_TYPE_CLASSIC, QUORUM = 1 << QUEUE_TYPE_QUORUM, STREAM = 1 << QUEUE_TYPE_STREAM };

/* A validator writes RabbitMQ's error term (what follows "for queue 'q' in vhost '/': ") into
 * err and returns false, or stores the value and returns true. */
struct check {
    const struct amqp_field *field;
    struct amqp_bytes table;
    struct queue_args *args;
    const struct compat *compat;
    char err[160];
};

typedef bool validator(struct check *c);

static const char *type_of(const struct check *c)
{
    return amqp_field_type_name(c->field->type);
}

static bool refuse(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool refuse(struct check *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return false;
}

static bool integer(struct check *c, int64_t *v)
{
    if (amqp_field_integer(c->field, v))
        return true;
    return refuse(c, "\"expected integer, got %s\"", type_of(c));
}

static bool non_negative(struct check *c, int64_t *v)
{
    if (!integer(c, v))
        return false;
    return *v >= 0 || refuse(c, "{value_negative,%" PRId64 "}", *v);
}

static bool expiry(struct check *c, int64_t *v)
{
    if (!non_negative(c, v))
        return false;
    return *v <= EXPIRY_MAX_MS || refuse(c, "{value_too_large,%" PRId64 "}", *v);
}

static bool longstr(struct check *c, struct amqp_bytes *v)
{
    if (c->field->type != 'S')
        return refuse(c, "{unacceptable_type,%s}", type_of(c));
    *v = c->field->v.bytes;
    return true;
}

/* The index of the longstr value in `allowed`, or -1 (with err set for a wrong type, or left
 * empty for an unknown value, which the caller words). */
static int one_of(struct check *c, const char *const *allowed, struct amqp_bytes *v)
{
    if (!longstr(c, v))
        return -1;
    for (int i = 0; allowed[i]; i++)
        if (amqp_bytes_eq_cstr(*v, allowed[i]))
            return i;
    c->err[0] = '\0';
    return -1;
}

/* one_of, refusing an unknown value with `term`, or with "unsupported <what> 'value'". */
static int choose(struct check *c, const char *const *allowed, const char *term, const char *what)
{
    struct amqp_bytes v = {NULL, 0};
    int i = one_of(c, allowed, &v);
    if (i < 0 && !c->err[0]) {
        if (term)
            refuse(c, "%s", term);
        else
            refuse(c, "\"unsupported %s '" NAME_FMT "'\"", what, NAME_ARG(v));
    }
    return i;
}

static bool check_expires(struct check *c)
{
    int64_t v;
    if (!integer(c, &v))
        return false;
    if (v == 0)
        return refuse(c, "{value_zero,0}");
    return expiry(c, &c->args->expires_ms);
}

static bool check_message_ttl(struct check *c)
{
    return expiry(c, &c->args->message_ttl_ms);
}

static bool check_dead_letter_exchange(struct check *c)
{
    c->args->has_dead_letter_exchange = longstr(c, &c->args->dead_letter_exchange);
    return c->args->has_dead_letter_exchange;
}

static bool check_dead_letter_routing_key(struct check *c)
{
    struct amqp_field dlx;
    if (!longstr(c, &c->args->dead_letter_routing_key))
        return false;
    if (!amqp_table_get(c->table, "x-dead-letter-exchange", &dlx))
        return refuse(c, "routing_key_but_no_dlx_defined");
    c->args->has_dead_letter_routing_key = true;
    return true;
}

static bool check_dead_letter_strategy(struct check *c)
{
    static const char *const strategies[] = {"at-most-once", "at-least-once", NULL};
    return choose(c, strategies, "invalid_dlx_strategy", NULL) >= 0;
}

static bool check_max_length(struct check *c)
{
    return non_negative(c, &c->args->max_length);
}

static bool check_max_length_bytes(struct check *c)
{
    return non_negative(c, &c->args->max_length_bytes);
}

static bool check_non_negative(struct check *c)
{
    int64_t v;
    return non_negative(c, &v);
}

static bool check_max_priority(struct check *c)
{
    int64_t v;
    if (!non_negative(c, &v))
        return false;
    if (v > PRIORITY_MAX)
        return refuse(c, "{max_value_exceeded,%" PRId64 "}", v);
    c->args->max_priority = (int16_t)v;
    return true;
}

static bool check_overflow(struct check *c)
{
    static const char *const modes[] = {"drop-head", "reject-publish", "reject-publish-dlx", NULL};
    int i = choose(c, modes, "invalid_overflow", NULL);
    if (i < 0)
        return false;
    c->args->overflow = (enum queue_overflow)i;
    c->args->has_overflow = true;
    return true;
}

static bool check_queue_mode(struct check *c)
{
    static const char *const modes[] = {"default", "lazy", NULL};
    if (c->compat->queue_mode_unchecked)
        return true;
    int i = choose(c, modes, NULL, "queue mode");
    if (i < 0)
        return false;
    c->args->lazy = i == 1;
    return true;
}

static bool check_queue_version(struct check *c)
{
    int64_t v;
    if (!non_negative(c, &v))
        return false;
    bool known = v == 2 || (v == 1 && !c->compat->queue_version_1_removed);
    return known || refuse(c, "\"unsupported queue version '%" PRId64 "'\"", v);
}

static bool check_single_active_consumer(struct check *c)
{
    if (c->field->type != 't')
        return refuse(c, "{unacceptable_type,%s}", type_of(c));
    c->args->single_active_consumer = c->field->v.boolean;
    return true;
}

static bool check_queue_type(struct check *c)
{
    static const char *const types[] = {"classic", "quorum", "stream", NULL};
    int i = choose(c, types, NULL, "queue type");
    if (i < 0)
        return false;
    c->args->type = (enum queue_type)i;
    return true;
}

static bool check_cluster_size(struct check *c)
{
    int64_t v;
    if (!non_negative(c, &v))
        return false;
    return v != 0 || refuse(c, "{value_zero,0}");
}

/* A stream's retention: a positive count and one unit letter, as "7D" or "12h". */
static bool check_max_age(struct check *c)
{
    struct amqp_bytes v = {NULL, 0};
    if (!longstr(c, &v))
        return false;
    uint64_t n = 0;
    size_t digits = 0;
    while (digits < v.len && v.ptr[digits] >= '0' && v.ptr[digits] <= '9' && n < UINT32_MAX)
        n = n * 10 + (v.ptr[digits++] - '0');
    /* RabbitMQ 3.10 crashes (541) on a malformed value; we answer as for a zero age. */
    bool ok = digits > 0 && digits + 1 == v.len && strchr("YMDhms", v.ptr[digits]) && n > 0;
    return ok || refuse(c, "invalid_max_age");
}

/* RabbitMQ checks the segment size's bound last, after the flags, and words it alone. */
static bool segment_size_within_bound(struct amqp_bytes table, struct outcome *out)
{
    struct amqp_field f;
    int64_t v;
    if (!amqp_table_get(table, "x-stream-max-segment-size-bytes", &f) || !amqp_field_integer(&f, &v) ||
        v <= STREAM_SEGMENT_MAX)
        return true;
    return outcome_fail(out, AMQP_PRECONDITION_FAILED,
                        "Exceeded max value for x-stream-max-segment-size-bytes");
}

static bool check_leader_locator(struct check *c)
{
    static const char *const locators[] = {"client-local", "balanced", "random", "least-leaders", NULL};
    return choose(c, locators, "invalid_queue_locator_arg", NULL) >= 0;
}

/* x-delivery-limit and x-consumer-timeout are taken when they are non-negative integers and
 * otherwise ignored: RabbitMQ 3.10 has no validator for either. */
static void take_unchecked(struct amqp_bytes table, const char *key, int64_t *out)
{
    struct amqp_field f;
    int64_t v;
    if (amqp_table_get(table, key, &f) && amqp_field_integer(&f, &v) && v >= 0)
        *out = v;
}

struct rule {
    const char *key;
    validator *check;
    unsigned types; /* the queue types that take this argument */
};

/* RabbitMQ's declare_args, in its order: validators run in this order, not the table's. */
static const struct rule rules[] = {
    {"x-expires", check_expires, CLASSIC | QUORUM},
    {"x-message-ttl", check_message_ttl, CLASSIC | QUORUM},
    {"x-dead-letter-exchange", check_dead_letter_exchange, CLASSIC | QUORUM},
    {"x-dead-letter-routing-key", check_dead_letter_routing_key, CLASSIC | QUORUM},
    {"x-dead-letter-strategy", check_dead_letter_strategy, QUORUM},
    {"x-max-length", check_max_length, CLASSIC | QUORUM},
    {"x-max-length-bytes", check_max_length_bytes, CLASSIC | QUORUM | STREAM},
    {"x-max-in-memory-length", check_non_negative, QUORUM},
    {"x-max-in-memory-bytes", check_non_negative, QUORUM},
    {"x-max-priority", check_max_priority, CLASSIC},
    {"x-overflow", check_overflow, CLASSIC | QUORUM},
    {"x-queue-mode", check_queue_mode, CLASSIC},
    {"x-queue-version", check_queue_version, CLASSIC},
    {"x-single-active-consumer", check_single_active_consumer, CLASSIC | QUORUM},
    {"x-queue-type", check_queue_type, CLASSIC | QUORUM | STREAM},
    {"x-quorum-initial-group-size", check_cluster_size, QUORUM},
    {"x-max-age", check_max_age, STREAM},
    {"x-stream-max-segment-size-bytes", check_non_negative, STREAM},
    {"x-initial-cluster-size", check_cluster_size, STREAM},
    {"x-queue-leader-locator", check_leader_locator, QUORUM | STREAM},
    /* known to a queue type, with no validator in RabbitMQ 3.10 */
    {"x-queue-master-locator", NULL, CLASSIC},
    {"x-delivery-limit", NULL, QUORUM},
};

#define RULE_COUNT (sizeof rules / sizeof *rules)

static const struct rule *find_rule(struct amqp_bytes key)
{
    for (size_t i = 0; i < RULE_COUNT; i++)
        if (amqp_bytes_eq_cstr(key, rules[i].key))
            return &rules[i];
    return NULL;
}

void queue_args_defaults(struct queue_args *a)
{
    *a = (struct queue_args){
        .type = QUEUE_TYPE_CLASSIC,
        .message_ttl_ms = QUEUE_ARG_UNSET,
        .expires_ms = QUEUE_ARG_UNSET,
        .max_length = QUEUE_ARG_UNSET,
        .max_length_bytes = QUEUE_ARG_UNSET,
        .overflow = QUEUE_DROP_HEAD,
        .max_priority = QUEUE_ARG_UNSET,
        .delivery_limit = QUEUE_ARG_UNSET,
        .consumer_timeout_ms = QUEUE_ARG_UNSET,
    };
}

const char *queue_type_module(enum queue_type type)
{
    static const char *const modules[] = {
        [QUEUE_TYPE_CLASSIC] = "rabbit_classic_queue",
        [QUEUE_TYPE_QUORUM] = "rabbit_quorum_queue",
        [QUEUE_TYPE_STREAM] = "rabbit_stream_queue",
    };
    return modules[type];
}

static bool fail_arg(struct outcome *out, const char *key, const struct arguments_owner *o,
                     const char *detail)
{
    return outcome_fail(out, AMQP_PRECONDITION_FAILED, "invalid arg '%s' for queue '" NAME_FMT
                        "' in vhost '%s'%s", key, NAME_ARG(o->name), o->vhost, detail);
}

static bool run_rule(const struct rule *r, struct check *c, const struct arguments_owner *o,
                     struct outcome *out)
{
    struct amqp_field f;
    if (!r->check || !amqp_table_get(c->table, r->key, &f))
        return true;
    c->field = &f;
    if (r->check(c))
        return true;
    char detail[200];
    snprintf(detail, sizeof detail, ": %s", c->err);
    return fail_arg(out, r->key, o, detail);
}

/* The argument, first in table order, that RabbitMQ knows but this queue type does not take. */
static bool check_type_takes_all(struct amqp_bytes table, enum queue_type type,
                                 const struct arguments_owner *o, struct outcome *out)
{
    struct amqp_table_iter it;
    struct amqp_bytes key;
    struct amqp_field value;
    amqp_table_iter_init(&it, table);
    while (amqp_table_next(&it, &key, &value)) {
        const struct rule *r = find_rule(key);
        if (r && !(r->types & 1u << type)) {
            char detail[80], name[64];
            snprintf(name, sizeof name, "%s", r->key);
            snprintf(detail, sizeof detail, " of queue type %s", queue_type_module(type));
            return fail_arg(out, name, o, detail);
        }
    }
    return true;
}

/* Quorum and stream queues are durable, shared and kept: RabbitMQ's order of refusals. */
static bool check_flags(enum queue_type type, bool durable, bool exclusive, bool auto_delete,
                        const struct arguments_owner *o, struct outcome *out)
{
    const char *property = NULL;
    if (type == QUEUE_TYPE_CLASSIC)
        return true;
    if (auto_delete)
        property = "auto-delete";
    else if (exclusive)
        property = "exclusive-owner";
    else if (!durable)
        property = "non-durable";
    if (!property)
        return true;
    return outcome_fail(out, AMQP_PRECONDITION_FAILED, "invalid property '%s' for queue '" NAME_FMT
                        "' in vhost '%s'", property, NAME_ARG(o->name), o->vhost);
}

bool queue_args_parse(struct amqp_bytes table, bool durable, bool exclusive, bool auto_delete,
                      const struct arguments_owner *owner, const struct compat *compat,
                      struct queue_args *out, struct outcome *outcome)
{
    struct check c = {.table = table, .args = out, .compat = compat ? compat : compat_default()};
    struct amqp_field f;
    queue_args_defaults(out);
    /* RabbitMQ's channel checks the dead-letter exchange's type before anything else. */
    if (amqp_table_get(table, "x-dead-letter-exchange", &f) && f.type != 'S')
        return outcome_fail(outcome, AMQP_PRECONDITION_FAILED,
                            "invalid type '%s' for arg 'x-dead-letter-exchange' in queue '" NAME_FMT
                            "' in vhost '%s'", amqp_field_type_name(f.type), NAME_ARG(owner->name),
                            owner->vhost);
    /* The type decides which arguments apply, so it is checked on its own first. */
    if (!run_rule(find_rule(amqp_cstr("x-queue-type")), &c, owner, outcome))
        return false;
    for (size_t i = 0; i < RULE_COUNT; i++)
        if ((rules[i].types & 1u << out->type) && !run_rule(&rules[i], &c, owner, outcome))
            return false;
    if (!check_type_takes_all(table, out->type, owner, outcome) ||
        !check_flags(out->type, durable, exclusive, auto_delete, owner, outcome) ||
        (out->type == QUEUE_TYPE_STREAM && !segment_size_within_bound(table, outcome)))
        return false;
    if (out->type == QUEUE_TYPE_QUORUM)
        take_unchecked(table, "x-delivery-limit", &out->delivery_limit);
    take_unchecked(table, "x-consumer-timeout", &out->consumer_timeout_ms);
    return outcome_done(outcome);
}

/* What RabbitMQ compares on redeclare, per queue type, in its order. */
static const char *const classic_compared[] = {
    "x-expires", "x-message-ttl", "x-dead-letter-exchange", "x-dead-letter-routing-key",
    "x-max-length", "x-max-length-bytes", "x-max-priority", "x-overflow", "x-queue-mode",
    "x-queue-version", "x-single-active-consumer", "x-queue-type", "x-queue-master-locator", NULL};
static const char *const quorum_compared[] = {
    "x-dead-letter-exchange", "x-dead-letter-routing-key", "x-dead-letter-strategy", "x-expires",
    "x-max-length", "x-max-length-bytes", "x-max-in-memory-length", "x-max-in-memory-bytes",
    "x-overflow", "x-single-active-consumer", "x-queue-type", "x-quorum-initial-group-size",
    "x-delivery-limit", "x-message-ttl", "x-queue-leader-locator", NULL};
static const char *const stream_compared[] = {
    "x-max-length-bytes", "x-queue-type", "x-max-age", "x-stream-max-segment-size-bytes",
    "x-initial-cluster-size", "x-queue-leader-locator", NULL};

/* A classic queue may be redeclared with or without x-queue-type "classic" (RabbitMQ's
 * special case): a side without the key counts as saying "classic". */
static bool classic_type_named(struct amqp_bytes table)
{
    struct amqp_field f;
    return !amqp_table_get(table, "x-queue-type", &f) ||
           ((f.type == 'S' || f.type == 'x') && amqp_bytes_eq_cstr(f.v.bytes, "classic"));
}

bool queue_args_equivalent(enum queue_type type, struct amqp_bytes received,
                           struct amqp_bytes current, const struct arguments_owner *owner,
                           struct outcome *out)
{
    if (type == QUEUE_TYPE_CLASSIC) {
        if (classic_type_named(received) && classic_type_named(current)) {
            static const char *const without_type[] = {
                "x-expires", "x-message-ttl", "x-dead-letter-exchange", "x-dead-letter-routing-key",
                "x-max-length", "x-max-length-bytes", "x-max-priority", "x-overflow",
                "x-queue-mode", "x-queue-version", "x-single-active-consumer",
                "x-queue-master-locator", NULL};
            return arguments_equivalent(received, current, without_type, owner, out);
        }
        return arguments_equivalent(received, current, classic_compared, owner, out);
    }
    return arguments_equivalent(received, current,
                                type == QUEUE_TYPE_QUORUM ? quorum_compared : stream_compared, owner,
                                out);
}
