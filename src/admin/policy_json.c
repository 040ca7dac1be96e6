/* Policy bodies: RabbitMQ's validators in its order with its texts (Erlang terms written as
 * io_lib's ~p writes them), and policies as its API shows them. */
#include "admin/policy_json.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

/* ---- texts ---- */

struct text {
    char *buf;
    size_t size, len;
};

__attribute__((format(printf, 2, 3))) static void put(struct text *t, const char *fmt, ...)
{
    if (t->len >= t->size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, t->size - t->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->len = t->len + (size_t)n < t->size ? t->len + (size_t)n : t->size;
}

/* A decoded JSON value as Erlang's ~p prints it: strings are binaries, null an atom. */
static void term(struct text *t, const json_t *v)
{
    size_t i;
    const char *key;
    json_t *item;
    switch (json_typeof(v)) {
    case JSON_STRING: put(t, "<<\"%s\">>", json_string_value(v)); break;
    case JSON_INTEGER: put(t, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
    case JSON_REAL: {
        char num[64];
        snprintf(num, sizeof num, "%.17g", json_real_value(v));
        /* Erlang prints the shortest form that reads back, with a ".0" when integral */
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(num, sizeof num, "%.*g", prec, json_real_value(v));
            if (strtod(num, NULL) == json_real_value(v))
                break;
        }
        put(t, "%s%s", num, strpbrk(num, ".e") ? "" : ".0");
        break;
    }
    case JSON_TRUE: put(t, "true"); break;
    case JSON_FALSE: put(t, "false"); break;
    case JSON_NULL: put(t, "null"); break;
    case JSON_ARRAY:
        put(t, "[");
        json_array_foreach(v, i, item) {
            put(t, "%s", i ? "," : "");
            term(t, item);
        }
        put(t, "]");
        break;
    case JSON_OBJECT: {
        put(t, "#{");
        bool first = true;
        json_object_foreach((json_t *)v, key, item) {
            put(t, "%s<<\"%s\">> => ", first ? "" : ",", key);
            term(t, item);
            first = false;
        }
        put(t, "}");
        break;
    }
    }
}

/* ---- the definition's keys ---- */

struct check {
    enum policy_kind kind;
    const json_t *definition;
    struct policy_values *values;
    struct text *out;
    const struct compat *compat;
};

/* A key this kind of policy takes under the profile: RabbitMQ 4 knows no ha-* key. */
static bool key_known(const struct check *c, const char *name, enum policy_key *k)
{
    if (!policy_key_find(c->kind, name, k))
        return false;
    return !(c->compat->mirroring_removed && *k >= POLICY_HA_MODE &&
             *k <= POLICY_HA_PROMOTE_ON_FAILURE);
}

static bool refuse_value(struct check *c, const json_t *v, const char *what)
{
    term(c->out, v);
    put(c->out, " %s\n", what);
    return false;
}

static bool integer_at_least(struct check *c, const json_t *v, int64_t min, int64_t *out,
                             const char *what)
{
    if (!json_is_integer(v) || json_integer_value(v) < min)
        return refuse_value(c, v, what);
    if (out)
        *out = json_integer_value(v);
    return true;
}

static bool string_value(struct check *c, const json_t *v, char **out, const char *what)
{
    if (!json_is_string(v))
        return refuse_value(c, v, what);
    if (out)
        *out = xstrdup(json_string_value(v));
    return true;
}

static int one_of(const json_t *v, const char *const *allowed)
{
    for (int i = 0; json_is_string(v) && allowed[i]; i++)
        if (!strcmp(json_string_value(v), allowed[i]))
            return i;
    return -1;
}

static bool choice(struct check *c, const json_t *v, const char *const *allowed, int *out,
                   const char *what)
{
    int i = one_of(v, allowed);
    if (i < 0)
        return refuse_value(c, v, what);
    if (out)
        *out = i;
    return true;
}

/* rabbit_mirror_queue_misc's check of the ha-* keys together. */
static bool check_mirroring(struct check *c)
{
    const json_t *mode = json_object_get(c->definition, "ha-mode");
    const json_t *params = json_object_get(c->definition, "ha-params");
    if (!mode) {
        put(c->out, "ha-mode must be specified to specify ha-params, ha-sync-mode or "
                    "ha-promote-on-shutdown\n");
        return false;
    }
    static const char *const modes[] = {"all", "exactly", "nodes", NULL};
    int m;
    if (!choice(c, mode, modes, &m, "is not a valid ha-mode value"))
        return false;
    if (m == 0 && params) {
        put(c->out, "ha-mode=\"all\" does not take parameters\n");
        return false;
    }
    if (m == 1 && !(json_is_integer(params) && json_integer_value(params) > 0)) {
        put(c->out, "ha-mode=\"exactly\" takes an integer, ");
        if (params)
            term(c->out, params);
        put(c->out, "%s given\n", params ? "" : "none");
        return false;
    }
    if (m == 2) {
        bool strings = json_is_array(params) && json_array_size(params) > 0;
        size_t i;
        json_t *node;
        json_array_foreach(params, i, node)
            strings &= json_is_string(node);
        if (!strings) {
            put(c->out, json_is_array(params) && !json_array_size(params)
                            ? "ha-mode=\"nodes\" list must be non-empty\n"
                            : "ha-mode=\"nodes\" takes a list of strings, ");
            if (!json_is_array(params) || json_array_size(params)) {
                if (params)
                    term(c->out, params);
                put(c->out, "%s given\n", params ? "" : "none");
            }
            return false;
        }
    }
    static const char *const sync[] = {"automatic", "manual", NULL};
    static const char *const promote[] = {"always", "when-synced", NULL};
    const json_t *v;
    if ((v = json_object_get(c->definition, "ha-sync-mode")) && one_of(v, sync) < 0) {
        put(c->out, "ha-sync-mode must be \"manual\" or \"automatic\", got ");
        term(c->out, v);
        put(c->out, "\n");
        return false;
    }
    if ((v = json_object_get(c->definition, "ha-sync-batch-size")) &&
        !(json_is_integer(v) && json_integer_value(v) > 0)) {
        put(c->out, "ha-sync-batch-size takes an integer greater than 0, ");
        term(c->out, v);
        put(c->out, " given\n");
        return false;
    }
    const char *promotions[] = {"ha-promote-on-shutdown", "ha-promote-on-failure"};
    for (int i = 0; i < 2; i++)
        if ((v = json_object_get(c->definition, promotions[i])) && one_of(v, promote) < 0) {
            put(c->out, "%s must be \"always\" or \"when-synced\", got ", promotions[i]);
            term(c->out, v);
            put(c->out, "\n");
            return false;
        }
    return true;
}

static bool check_key(struct check *c, enum policy_key k, const json_t *v)
{
    struct policy_values *pv = c->values;
    static const char *const overflows[] = {"drop-head", "reject-publish", "reject-publish-dlx", NULL};
    static const char *const modes[] = {"default", "lazy", NULL};
    static const char *const strategies[] = {"at-most-once", "at-least-once", NULL};
    static const char *const locators[] = {"client-local", "balanced", "random", "least-leaders", NULL};
    static const char *const master_locators[] = {"min-masters", "client-local", "random", NULL};
    int i;
    switch (k) {
    case POLICY_ALTERNATE_EXCHANGE:
        return string_value(c, v, &pv->alternate_exchange, "is not a valid alternate exchange name");
    case POLICY_DEAD_LETTER_EXCHANGE:
        return string_value(c, v, &pv->dead_letter_exchange, "is not a valid dead letter exchange name");
    case POLICY_DEAD_LETTER_ROUTING_KEY:
        return string_value(c, v, &pv->dead_letter_routing_key, "is not a valid dead letter routing key");
    case POLICY_DEAD_LETTER_STRATEGY:
        return choice(c, v, strategies, NULL, "is not a valid dead letter strategy");
    case POLICY_MESSAGE_TTL:
        return integer_at_least(c, v, 0, &pv->message_ttl_ms, "is not a valid message TTL");
    case POLICY_EXPIRES:
        return integer_at_least(c, v, 1, &pv->expires_ms, "is not a valid queue expiry");
    case POLICY_MAX_LENGTH:
        return integer_at_least(c, v, 0, &pv->max_length, "is not a valid maximum length");
    case POLICY_MAX_LENGTH_BYTES:
        return integer_at_least(c, v, 0, &pv->max_length_bytes, "is not a valid maximum length in bytes");
    case POLICY_MAX_IN_MEMORY_LENGTH:
    case POLICY_MAX_IN_MEMORY_BYTES:
        return integer_at_least(c, v, 0, NULL, "is not a valid maximum memory in bytes");
    case POLICY_QUEUE_MODE:
        if (!choice(c, v, modes, &i, "is not a valid queue-mode value"))
            return false;
        pv->lazy = i == 1;
        return true;
    case POLICY_QUEUE_VERSION:
        if (json_is_integer(v) && (json_integer_value(v) == 1 || json_integer_value(v) == 2))
            return true;
        return refuse_value(c, v, "is not a valid queue-version value");
    case POLICY_OVERFLOW:
        if (!choice(c, v, overflows, &i, "is not a valid overflow value"))
            return false;
        pv->overflow = (enum queue_overflow)i;
        return true;
    case POLICY_DELIVERY_LIMIT:
        return integer_at_least(c, v, 0, &pv->delivery_limit, "is not a valid delivery limit");
    case POLICY_MAX_AGE: {
        const char *s = json_string_value(v);
        size_t n = s ? strspn(s, "0123456789") : 0;
        if (s && n > 0 && s[n] && strchr("YMDhms", s[n]) && !s[n + 1] && strtoull(s, NULL, 10) > 0)
            return true;
        return refuse_value(c, v, "is not a valid max age");
    }
    case POLICY_STREAM_MAX_SEGMENT_SIZE_BYTES:
        if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 3000000000ll)
            return true;
        return refuse_value(c, v, "is not a valid segment size");
    case POLICY_QUEUE_LEADER_LOCATOR:
        return choice(c, v, locators, NULL, "is not a valid queue leader locator value");
    case POLICY_INITIAL_CLUSTER_SIZE:
        return integer_at_least(c, v, 0, NULL, "is not a valid cluster size");
    case POLICY_QUEUE_MASTER_LOCATOR:
        return choice(c, v, master_locators, NULL, "invalid queue-master-locator value");
    default: /* the ha-* keys, checked together */
        return true;
    }
}

static int by_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* rabbit_policy:validation: every recognised key's value (in key order, the first refusal
 * reported), then the keys nobody recognises, together. */
static bool check_definition(struct check *c)
{
    size_t n = json_object_size(c->definition), i = 0;
    if (n == 0) {
        put(c->out, "no policy provided\n");
        return false;
    }
    const char **names = xmalloc(n * sizeof *names);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)c->definition, key, v)
        names[i++] = key;
    qsort(names, n, sizeof *names, by_key);
    bool ok = true, mirroring = false;
    for (i = 0; i < n && ok; i++) {
        enum policy_key k;
        if (!key_known(c, names[i], &k))
            continue;
        c->values->keys |= 1u << k;
        mirroring |= k >= POLICY_HA_MODE && k <= POLICY_HA_PROMOTE_ON_FAILURE;
        ok = check_key(c, k, json_object_get(c->definition, names[i]));
    }
    if (ok && mirroring)
        ok = check_mirroring(c);
    bool unknown = false;
    for (i = 0; i < n && ok; i++) {
        enum policy_key k;
        if (key_known(c, names[i], &k))
            continue;
        put(c->out, "%s{<<\"%s\">>,", unknown ? "," : "[", names[i]);
        term(c->out, json_object_get(c->definition, names[i]));
        put(c->out, "}");
        unknown = true;
    }
    if (unknown) {
        put(c->out, "] are not recognised policy settings\n");
        ok = false;
    }
    free(names);
    return ok;
}

struct policy *policy_json_parse(enum policy_kind kind, const char *name, const json_t *o,
                                 const struct compat *compat, bool *crash, char *err,
                                 size_t err_size)
{
    *crash = false;
    const json_t *pattern = json_object_get(o, "pattern");
    const json_t *definition = json_object_get(o, "definition");
    const json_t *priority = json_object_get(o, "priority");
    const json_t *apply_to = json_object_get(o, "apply-to");
    if (!json_is_object(definition)) {
        *crash = true;
        snprintf(err, err_size, "definition must be an object");
        return NULL;
    }
    char problems[1024];
    struct text t = {problems, sizeof problems, 0};
    struct policy_values values;
    policy_values_init(&values);
    struct check c = {kind, definition, &values, &t, compat ? compat : compat_default()};
    /* rabbit_parameter_validation:proplist reports the last constraint's problem first */
    bool ok = check_definition(&c);
    static const char *const targets[] = {"all", "queues", "exchanges", NULL};
    int target = 0;
    if (apply_to && (target = one_of(apply_to, targets)) < 0) {
        put(&t, "apply-to '%s' unrecognised; should be 'queues', 'exchanges' or 'all'\n",
            json_is_string(apply_to) ? json_string_value(apply_to) : "null");
        ok = false;
    }
    char why[200];
    if (!json_is_string(pattern)) {
        put(&t, "pattern should be a binary but was ");
        term(&t, pattern);
        put(&t, "\n");
        ok = false;
    } else if (!policy_pattern_check(json_string_value(pattern), why, sizeof why)) {
        put(&t, "pattern should be regular expression but is invalid: %s\n", why);
        ok = false;
    }
    if (priority && !json_is_number(priority)) {
        put(&t, "priority should be a number, actually was ");
        term(&t, priority);
        put(&t, "\n");
        ok = false;
    }
    if (!ok) {
        snprintf(err, err_size, "Validation failed\n\n%s", problems);
        policy_values_free(&values);
        return NULL;
    }
    char *text = json_dumps(definition, JSON_COMPACT | JSON_SORT_KEYS);
    struct policy *p = policy_new(name, json_string_value(pattern), (enum policy_apply_to)target,
                                  priority ? json_number_value(priority) : 0,
                                  !priority || json_is_integer(priority), text, &values);
    free(text);
    policy_values_free(&values);
    return p;
}

json_t *policy_json_definition(const struct policy *p)
{
    json_t *d = json_loads(p->definition, 0, NULL);
    return d ? d : json_object();
}

static json_t *priority_json(const struct policy *p)
{
    return p->priority_integral ? json_integer((json_int_t)p->priority) : json_real(p->priority);
}

json_t *policy_json(const struct policy *p, const char *vhost)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "vhost", vhost, "name", p->name,
                     "pattern", p->pattern, "apply-to", policy_apply_to_name(p->apply_to),
                     "definition", policy_json_definition(p), "priority", priority_json(p));
}

json_t *policy_json_parameter(const struct policy *p, enum policy_kind kind, const char *vhost)
{
    json_t *value = json_pack("{s:s, s:o, s:o, s:s}", "pattern", p->pattern, "definition",
                              policy_json_definition(p), "priority", priority_json(p),
                              "apply-to", policy_apply_to_name(p->apply_to));
    return json_pack("{s:o, s:s, s:s, s:s}", "value", value, "vhost", vhost, "component",
                     kind == POLICY_OPERATOR ? "operator_policy" : "policy", "name", p->name);
}
