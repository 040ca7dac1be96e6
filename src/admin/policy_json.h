/* Policies in JSON: RabbitMQ 3.10's checks and texts for a PUT body or a definitions entry,
 * and the objects its API and exports show. */
#ifndef POLICY_JSON_H
#define POLICY_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "model/compat.h"
#include "model/policy.h"

/* A policy named `name` from the pattern, definition, priority (absent: 0) and apply-to
 * (absent: "all") members of o, with the keys the profile knows; NULL with RabbitMQ's "Validation failed\n\n..." text in err,
 * or with *crash set for a definition that is not an object (RabbitMQ answers 500). */
struct policy *policy_json_parse(enum policy_kind kind, const char *name, const json_t *o,
                                 const struct compat *compat, bool *crash, char *err,
                                 size_t err_size);
/* As /api/policies shows it: vhost, name, pattern, apply-to, definition, priority. */
json_t *policy_json(const struct policy *p, const char *vhost);
/* As /api/parameters shows it: value {pattern, definition, priority, apply-to}, vhost,
 * component, name. */
json_t *policy_json_parameter(const struct policy *p, enum policy_kind kind, const char *vhost);
/* The definition object of a policy; a new reference. */
json_t *policy_json_definition(const struct policy *p);

#endif
