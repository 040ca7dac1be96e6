/* Policies and operator policies: a vhost's named pattern, target and definition, which
 * queues and exchanges match (RabbitMQ 3.10's rules), and the settings they end up with. */
#ifndef POLICY_H
#define POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "amqp_types.h"
#include "core/list.h"
#include "model/queue_args.h"

/* A policy set as a policymaker does (RabbitMQ's "policy"), or an operator's, which may only
 * lower limits ("operator_policy"). */
enum policy_kind { POLICY_REGULAR, POLICY_OPERATOR };

enum policy_apply_to { POLICY_TO_ALL, POLICY_TO_QUEUES, POLICY_TO_EXCHANGES };

/* Every definition key RabbitMQ 3.10's validators recognise (a definition with another key is
 * refused); only some change what Warren does, the others are kept and shown. */
enum policy_key {
    POLICY_ALTERNATE_EXCHANGE,
    POLICY_DEAD_LETTER_EXCHANGE,
    POLICY_DEAD_LETTER_ROUTING_KEY,
    POLICY_DEAD_LETTER_STRATEGY,
    POLICY_MESSAGE_TTL,
    POLICY_EXPIRES,
    POLICY_MAX_LENGTH,
    POLICY_MAX_LENGTH_BYTES,
    POLICY_MAX_IN_MEMORY_LENGTH,
    POLICY_MAX_IN_MEMORY_BYTES,
    POLICY_QUEUE_MODE,
    POLICY_QUEUE_VERSION,
    POLICY_OVERFLOW,
    POLICY_DELIVERY_LIMIT,
    POLICY_MAX_AGE,
    POLICY_STREAM_MAX_SEGMENT_SIZE_BYTES,
    POLICY_QUEUE_LEADER_LOCATOR,
    POLICY_INITIAL_CLUSTER_SIZE,
    POLICY_HA_MODE,
    POLICY_HA_PARAMS,
    POLICY_HA_SYNC_MODE,
    POLICY_HA_SYNC_BATCH_SIZE,
    POLICY_HA_PROMOTE_ON_SHUTDOWN,
    POLICY_HA_PROMOTE_ON_FAILURE,
    POLICY_QUEUE_MASTER_LOCATOR,
    POLICY_KEY_COUNT
};

/* The key named, or false when RabbitMQ does not recognise it for this kind of policy. */
bool policy_key_find(enum policy_kind kind, const char *name, enum policy_key *out);
const char *policy_key_name(enum policy_key key);

/* What a definition sets, for the keys Warren applies; integers QUEUE_ARG_UNSET when absent. */
struct policy_values {
    uint32_t keys; /* 1 << enum policy_key for every key the definition has */
    int64_t message_ttl_ms, expires_ms, max_length, max_length_bytes, delivery_limit;
    enum queue_overflow overflow;
    bool lazy;
    char *dead_letter_exchange, *dead_letter_routing_key, *alternate_exchange; /* owned */
};

void policy_values_init(struct policy_values *v);
void policy_values_free(struct policy_values *v);

struct policy_pattern;

struct policy {
    struct list link; /* in the vhost's list of its kind */
    char *name;
    char *pattern;
    struct policy_pattern *re;
    enum policy_apply_to apply_to;
    double priority;          /* any JSON number, as RabbitMQ takes it */
    bool priority_integral;   /* shown as an integer */
    char *definition;         /* the definition as JSON text, for showing it */
    struct policy_values values;
};

/* Checks a pattern as RabbitMQ's re:compile would: false with Erlang's error term, as
 * {"missing )",1}, in err. */
bool policy_pattern_check(const char *pattern, char *err, size_t err_size);
/* A policy from checked parts; takes the values (and their strings). NULL for a pattern that
 * does not compile. */
struct policy *policy_new(const char *name, const char *pattern, enum policy_apply_to apply_to,
                          double priority, bool priority_integral, const char *definition,
                          struct policy_values *values);
void policy_free(struct policy *p);

const char *policy_apply_to_name(enum policy_apply_to a);

/* Does p apply to this queue (queue true, of type `type`) or exchange? RabbitMQ's rule: the
 * target, the unanchored pattern, and for a queue no key its type does not support. */
bool policy_applies(const struct policy *p, bool queue, enum queue_type type,
                    struct amqp_bytes name);
/* The policy of `policies` (a list of struct policy) that applies with the highest priority;
 * ties go to the first name in byte order, as RabbitMQ 3.10 lists them. NULL when none. */
struct policy *policy_best(const struct list *policies, bool queue, enum queue_type type,
                           struct amqp_bytes name);
struct policy *policy_find(const struct list *policies, const char *name);

/* A queue's effective settings: its own arguments, then the policy and the operator policy
 * (either NULL) as RabbitMQ 3.10 resolves them. Slices may point into the policies. */
void policy_queue_args(const struct queue_args *own, const struct policy *p,
                       const struct policy *op, struct queue_args *out);

#endif
