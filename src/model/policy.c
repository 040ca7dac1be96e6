/* Policies: the keys RabbitMQ 3.10 recognises, PCRE2 matching as its re:run, the highest
 * priority wins, and how a policy, an operator policy and a queue's arguments combine. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "model/policy.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

enum { CLASSIC = 1 << QUEUE_TYPE_CLASSIC, QUORUM = 1 << QUEUE_TYPE_QUORUM, STREAM = 1 << QUEUE_TYPE_STREAM };

struct key_info {
    const char *name;
    bool operator_allowed; /* RabbitMQ's operator_policy_validator keys */
    unsigned unsupported;  /* queue types whose capabilities list it as unsupported */
};

static const struct key_info keys[POLICY_KEY_COUNT] = {
    [POLICY_ALTERNATE_EXCHANGE] = {"alternate-exchange", false, 0},
    [POLICY_DEAD_LETTER_EXCHANGE] = {"dead-letter-exchange", false, STREAM},
    [POLICY_DEAD_LETTER_ROUTING_KEY] = {"dead-letter-routing-key", false, STREAM},
    [POLICY_DEAD_LETTER_STRATEGY] = {"dead-letter-strategy", false, CLASSIC},
    [POLICY_MESSAGE_TTL] = {"message-ttl", true, STREAM},
    [POLICY_EXPIRES] = {"expires", true, STREAM},
    [POLICY_MAX_LENGTH] = {"max-length", true, STREAM},
    [POLICY_MAX_LENGTH_BYTES] = {"max-length-bytes", true, 0},
    [POLICY_MAX_IN_MEMORY_LENGTH] = {"max-in-memory-length", true, STREAM},
    [POLICY_MAX_IN_MEMORY_BYTES] = {"max-in-memory-bytes", true, STREAM},
    [POLICY_QUEUE_MODE] = {"queue-mode", false, QUORUM | STREAM},
    [POLICY_QUEUE_VERSION] = {"queue-version", false, 0},
    [POLICY_OVERFLOW] = {"overflow", false, STREAM},
    [POLICY_DELIVERY_LIMIT] = {"delivery-limit", true, CLASSIC | STREAM},
    [POLICY_MAX_AGE] = {"max-age", false, CLASSIC | QUORUM},
    [POLICY_STREAM_MAX_SEGMENT_SIZE_BYTES] = {"stream-max-segment-size-bytes", false, CLASSIC | QUORUM},
    [POLICY_QUEUE_LEADER_LOCATOR] = {"queue-leader-locator", false, CLASSIC},
    [POLICY_INITIAL_CLUSTER_SIZE] = {"initial-cluster-size", false, CLASSIC | QUORUM},
    [POLICY_HA_MODE] = {"ha-mode", false, QUORUM | STREAM},
    [POLICY_HA_PARAMS] = {"ha-params", false, QUORUM | STREAM},
    [POLICY_HA_SYNC_MODE] = {"ha-sync-mode", false, QUORUM | STREAM},
    [POLICY_HA_SYNC_BATCH_SIZE] = {"ha-sync-batch-size", false, 0},
    [POLICY_HA_PROMOTE_ON_SHUTDOWN] = {"ha-promote-on-shutdown", false, QUORUM | STREAM},
    [POLICY_HA_PROMOTE_ON_FAILURE] = {"ha-promote-on-failure", false, QUORUM | STREAM},
    [POLICY_QUEUE_MASTER_LOCATOR] = {"queue-master-locator", false, QUORUM | STREAM},
};

bool policy_key_find(enum policy_kind kind, const char *name, enum policy_key *out)
{
    for (int k = 0; k < POLICY_KEY_COUNT; k++)
        if (!strcmp(keys[k].name, name) && (kind == POLICY_REGULAR || keys[k].operator_allowed)) {
            *out = (enum policy_key)k;
            return true;
        }
    return false;
}

const char *policy_key_name(enum policy_key key)
{
    return keys[key].name;
}

void policy_values_init(struct policy_values *v)
{
    *v = (struct policy_values){
        .message_ttl_ms = QUEUE_ARG_UNSET,
        .expires_ms = QUEUE_ARG_UNSET,
        .max_length = QUEUE_ARG_UNSET,
        .max_length_bytes = QUEUE_ARG_UNSET,
        .delivery_limit = QUEUE_ARG_UNSET,
    };
}

void policy_values_free(struct policy_values *v)
{
    free(v->dead_letter_exchange);
    free(v->dead_letter_routing_key);
    free(v->alternate_exchange);
    policy_values_init(v);
}

/* ---- patterns ---- */

struct policy_pattern {
    pcre2_code *code;
    pcre2_match_data *match;
};

/* Erlang's re is PCRE 8: its texts for the errors a hand-typed pattern commonly has. */
static const char *erlang_error_text(int code)
{
    switch (code) {
    case PCRE2_ERROR_END_BACKSLASH: return "\\ at end of pattern";
    case PCRE2_ERROR_MISSING_SQUARE_BRACKET: return "missing terminating ] for character class";
    case PCRE2_ERROR_QUANTIFIER_INVALID: return "nothing to repeat";
    case PCRE2_ERROR_MISSING_CLOSING_PARENTHESIS: return "missing )";
    case PCRE2_ERROR_UNMATCHED_CLOSING_PARENTHESIS: return "unmatched parentheses";
    case PCRE2_ERROR_QUANTIFIER_OUT_OF_ORDER: return "numbers out of order in {} quantifier";
    case PCRE2_ERROR_CLASS_RANGE_ORDER: return "range out of order in character class";
    default: return NULL;
    }
}

static pcre2_code *compile(const char *pattern, int *code, PCRE2_SIZE *offset)
{
    return pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, code, offset, NULL);
}

bool policy_pattern_check(const char *pattern, char *err, size_t err_size)
{
    int code;
    PCRE2_SIZE offset;
    pcre2_code *re = compile(pattern, &code, &offset);
    if (re) {
        pcre2_code_free(re);
        return true;
    }
    const char *text = erlang_error_text(code);
    PCRE2_UCHAR reason[160];
    if (!text) {
        pcre2_get_error_message(code, reason, sizeof reason);
        text = (const char *)reason;
    }
    snprintf(err, err_size, "{\"%s\",%zu}", text, (size_t)offset);
    return false;
}

struct policy *policy_new(const char *name, const char *pattern, enum policy_apply_to apply_to,
                          double priority, bool priority_integral, const char *definition,
                          struct policy_values *values)
{
    int code;
    PCRE2_SIZE offset;
    pcre2_code *re = compile(pattern, &code, &offset);
    if (!re)
        return NULL;
    struct policy *p = xcalloc(1, sizeof *p);
    p->re = xmalloc(sizeof *p->re);
    p->re->code = re;
    p->re->match = pcre2_match_data_create(1, NULL);
    if (!p->re->match)
        abort();
    p->name = xstrdup(name);
    p->pattern = xstrdup(pattern);
    p->apply_to = apply_to;
    p->priority = priority;
    p->priority_integral = priority_integral;
    p->definition = xstrdup(definition);
    p->values = *values;
    policy_values_init(values);
    return p;
}

void policy_free(struct policy *p)
{
    if (!p)
        return;
    pcre2_match_data_free(p->re->match);
    pcre2_code_free(p->re->code);
    free(p->re);
    free(p->name);
    free(p->pattern);
    free(p->definition);
    policy_values_free(&p->values);
    free(p);
}

const char *policy_apply_to_name(enum policy_apply_to a)
{
    static const char *const names[] = {"all", "queues", "exchanges"};
    return names[a];
}

/* ---- matching ---- */

static bool supported_by(const struct policy *p, enum queue_type type)
{
    for (int k = 0; k < POLICY_KEY_COUNT; k++)
        if ((p->values.keys & 1u << k) && (keys[k].unsupported & 1u << type))
            return false;
    return true;
}

bool policy_applies(const struct policy *p, bool queue, enum queue_type type,
                    struct amqp_bytes name)
{
    if (p->apply_to == (queue ? POLICY_TO_EXCHANGES : POLICY_TO_QUEUES))
        return false;
    if (queue && !supported_by(p, type))
        return false;
    const uint8_t *s = name.ptr ? name.ptr : (const uint8_t *)"";
    return pcre2_match(p->re->code, (PCRE2_SPTR)s, name.len, 0, 0, p->re->match, NULL) >= 0;
}

/* Does a rank before b: higher priority, then the lower name. */
static bool ranks_before(const struct policy *a, const struct policy *b)
{
    if (a->priority != b->priority)
        return a->priority > b->priority;
    return strcmp(a->name, b->name) < 0;
}

struct policy *policy_best(const struct list *policies, bool queue, enum queue_type type,
                           struct amqp_bytes name)
{
    struct policy *best = NULL;
    struct list *pos;
    list_for_each(pos, policies) {
        struct policy *p = list_entry(pos, struct policy, link);
        if ((!best || ranks_before(p, best)) && policy_applies(p, queue, type, name))
            best = p;
    }
    return best;
}

struct policy *policy_find(const struct list *policies, const char *name)
{
    struct list *pos;
    list_for_each(pos, policies) {
        struct policy *p = list_entry(pos, struct policy, link);
        if (!strcmp(p->name, name))
            return p;
    }
    return NULL;
}

/* ---- effective settings ---- */

static bool has(const struct policy *p, enum policy_key k)
{
    return p && (p->values.keys & 1u << k);
}

/* A numeric limit from the policies: the lower of the two when both set it (RabbitMQ's
 * merge_policy_value), else whichever does. */
static int64_t merged_limit(int64_t p, int64_t op)
{
    if (p == QUEUE_ARG_UNSET)
        return op;
    if (op == QUEUE_ARG_UNSET)
        return p;
    return p < op ? p : op;
}

static int64_t lower(int64_t own, int64_t policy)
{
    if (own == QUEUE_ARG_UNSET)
        return policy;
    if (policy == QUEUE_ARG_UNSET)
        return own;
    return own < policy ? own : policy;
}

#define LIMIT(field) \
    merged_limit(p ? p->values.field : QUEUE_ARG_UNSET, op ? op->values.field : QUEUE_ARG_UNSET)

void policy_queue_args(const struct queue_args *own, const struct policy *p,
                       const struct policy *op, struct queue_args *out)
{
    *out = *own;
    bool quorum = own->type == QUEUE_TYPE_QUORUM;
    /* the lower of argument and policy, for both queue types */
    out->message_ttl_ms = lower(own->message_ttl_ms, LIMIT(message_ttl_ms));
    out->max_length = lower(own->max_length, LIMIT(max_length));
    out->max_length_bytes = lower(own->max_length_bytes, LIMIT(max_length_bytes));
    if (quorum) {
        out->delivery_limit = lower(own->delivery_limit, LIMIT(delivery_limit));
        /* rabbit_quorum_queue: the policy's expiry and overflow win over the arguments */
        int64_t expires = LIMIT(expires_ms);
        if (expires != QUEUE_ARG_UNSET)
            out->expires_ms = expires;
    } else {
        out->expires_ms = lower(own->expires_ms, LIMIT(expires_ms));
    }
    /* the argument wins (a quorum queue's overflow: the policy); operator policies have
     * none of these keys */
    if (has(p, POLICY_OVERFLOW) && (quorum || !own->has_overflow))
        out->overflow = p->values.overflow;
    if (has(p, POLICY_DEAD_LETTER_EXCHANGE) && !own->has_dead_letter_exchange) {
        out->has_dead_letter_exchange = true;
        out->dead_letter_exchange = amqp_cstr(p->values.dead_letter_exchange);
    }
    if (has(p, POLICY_DEAD_LETTER_ROUTING_KEY) && !own->has_dead_letter_routing_key) {
        out->has_dead_letter_routing_key = true;
        out->dead_letter_routing_key = amqp_cstr(p->values.dead_letter_routing_key);
    }
    if (has(p, POLICY_QUEUE_MODE) && !own->lazy)
        out->lazy = p->values.lazy;
}
