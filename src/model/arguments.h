/* Declare arguments on redeclare: RabbitMQ's equivalence of two argument tables, and its texts. */
#ifndef ARGUMENTS_H
#define ARGUMENTS_H

#include <stdbool.h>

#include "amqp_types.h"
#include "model/outcome.h"

/* What an equivalence failure names: "for queue 'q' in vhost '/'". */
struct arguments_owner {
    const char *kind; /* "queue" or "exchange" */
    struct amqp_bytes name;
    const char *vhost;
};

/* Compares each key of `keys` (NULL-terminated, in RabbitMQ's order) between the tables (checked
 * bodies) as RabbitMQ does: integer widths alike, float widths alike, else the bare values;
 * false with RabbitMQ's 406 "inequivalent arg" outcome at the first that differs. */
bool arguments_equivalent(struct amqp_bytes received, struct amqp_bytes current,
                          const char *const *keys, const struct arguments_owner *owner,
                          struct outcome *out);

/* A flag compared the same way: "received 'true' but current is 'false'". */
bool arguments_flag_equivalent(const char *flag, bool received, bool current,
                               const struct arguments_owner *owner, struct outcome *out);

#endif
