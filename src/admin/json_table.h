/* AMQP field tables as RabbitMQ's management API shows them in JSON, and JSON back into tables. */
#ifndef JSON_TABLE_H
#define JSON_TABLE_H

#include <jansson.h>
#include <stdbool.h>

#include "amqp_buf.h"
#include "amqp_types.h"

/* A checked table body as a JSON object (a new reference). */
json_t *json_from_table(struct amqp_bytes body);
/* Appends `object` as a table body (no length prefix) to out: strings longstr, integers
 * signed 64-bit, reals doubles, booleans, null void, arrays and objects nested, as RabbitMQ
 * converts management arguments. False for a value that is not an object. */
bool json_to_table(const json_t *object, struct amqp_buf *out);

#endif
