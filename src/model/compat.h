/* RabbitMQ-version profiles: the rules that differ between the RabbitMQ releases Warren can behave as (--rabbitmq-compat). */
#ifndef COMPAT_H
#define COMPAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum compat_version { COMPAT_RABBITMQ_3_13, COMPAT_RABBITMQ_4_3 };

/* One profile: every rule the proto and model layers consult, as data (no version compares
 * scattered through the code). */
struct compat {
    enum compat_version version;
    const char *name;                 /* "3.13", "4.3": as --rabbitmq-compat takes it */
    const char *product;              /* connection.start's server properties */
    const char *product_version;      /* NULL: Warren's own version */
    bool global_qos_per_consumer;     /* basic.qos global=true applies as global=false */
    bool transient_nonexcl_denied;    /* durable=false exclusive=false queues: 541 */
    bool queue_master_locator_denied; /* x-queue-master-locator: 541 */
    bool queue_version_1_removed;     /* x-queue-version 1: 406 (CQv1 is gone) */
    bool queue_mode_unchecked;        /* x-queue-mode: any value taken, and without effect */
    bool mirroring_removed;           /* ha-* policy keys are not recognised */
    uint32_t frame_min_size;          /* frame limit before tune-ok, least frame_max accepted */
    bool tune_refusal_closes;         /* a refused tune-ok gets connection.close 530, not silence */
};

/* The default profile: RabbitMQ 3.13's permissive rules, Warren's behaviour so far. */
const struct compat *compat_default(void);
/* The profile named "3.13" or "4.3"; NULL for any other text. */
const struct compat *compat_find(const char *name);
/* RabbitMQ's text for a deprecated feature it denies by default (rabbit_deprecated_features'
 * when_denied warning), into out. */
void compat_denied_warning(const char *feature, char *out, size_t len);

#endif
