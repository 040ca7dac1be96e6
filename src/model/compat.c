/* RabbitMQ-version profiles: the rules that differ between the RabbitMQ releases Warren can behave as (--rabbitmq-compat). */
#include "model/compat.h"

#include <stdio.h>
#include <string.h>

static const struct compat profiles[] = {
    {
        .version = COMPAT_RABBITMQ_3_13,
        .name = "3.13",
        .product = "Warren",
        .product_version = NULL,
        /* rabbit_framing.hrl's FRAME_MIN_SIZE before 4.1 */
        .frame_min_size = 4096,
    },
    {
        .version = COMPAT_RABBITMQ_4_3,
        .name = "4.3",
        /* rabbit_reader:server_properties sends the application's description and version;
         * kombu's qos_semantics_matches_spec (and so Celery) decide from them; v4.3.5 is the
         * newest 4.3 tag */
        .product = "RabbitMQ",
        .product_version = "4.3.5",
        /* release-notes/4.3.0.md: global_qos is denied_by_default; rabbit_channel's basic.qos
         * then handles the method again with global = false, no error */
        .global_qos_per_consumer = true,
        /* release-notes/4.3.0.md: transient_nonexcl_queues is denied_by_default;
         * rabbit_amqqueue:declare answers {protocol_error, internal_error, Warning}: 541 */
        .transient_nonexcl_denied = true,
        /* release-notes/4.3.0.md: queue_master_locator is denied_by_default;
         * rabbit_classic_queue:validate_arguments answers internal_error with the warning */
        .queue_master_locator_denied = true,
        /* release-notes/4.3.0.md: CQv1 removed; rabbit_amqqueue:check_queue_version takes 2
         * only ("unsupported queue version '1'") */
        .queue_version_1_removed = true,
        /* v4.3.0 dropped check_queue_mode from rabbit_amqqueue:declare_args while
         * rabbit_classic_queue still lists x-queue-mode: any value is taken and ignored (the
         * release notes say such declares fail; the code is followed here) */
        .queue_mode_unchecked = true,
        /* release-notes/4.0.1.md: classic queue mirroring removed; no ha-* policy validator is
         * registered since, so rabbit_policy answers "... are not recognised policy settings" */
        .mirroring_removed = true,
        /* release-notes/4.1.0.md: the frame limit before authentication (FRAME_MIN_SIZE) went
         * from 4096 to 8192, and connection.tune-ok's frame_max must be at least that */
        .frame_min_size = 8192,
        /* rabbit_reader:handle_exception in the tuning state: send_error_on_channel0_and_close
         * (3.12 on; Warren's default keeps 3.10's silent close, as observed) */
        .tune_refusal_closes = true,
    },
};

const struct compat *compat_default(void)
{
    return &profiles[COMPAT_RABBITMQ_3_13];
}

const struct compat *compat_find(const char *name)
{
    for (size_t i = 0; i < sizeof profiles / sizeof *profiles; i++)
        if (!strcmp(profiles[i].name, name))
            return &profiles[i];
    return NULL;
}

/* rabbit_deprecated_features:get_warning for a denied_by_default feature, not permitted by
 * the configuration. */
void compat_denied_warning(const char *feature, char *out, size_t len)
{
    snprintf(out, len,
             "Feature `%s` is deprecated.\nBy default, this feature is not permitted anymore.\n"
             "The feature will be removed from a future major RabbitMQ version, regardless of "
             "the configuration; actual version to be determined.\nTo continue using this "
             "feature when it is not permitted by default, set the following parameter in your "
             "configuration:\n    \"deprecated_features.permit.%s = true\"", feature, feature);
}
