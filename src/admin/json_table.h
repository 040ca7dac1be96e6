/* AMQP field tables as JSON objects and back, as RabbitMQ's management API and definitions
 * show them (queue and exchange arguments, binding arguments, message headers). */
#ifndef JSON_TABLE_H
#define JSON_TABLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "amqp_buf.h"
#include "amqp_table.h"
#include "amqp_types.h"

/* A table body (no length prefix) as a JSON object. */
json_t *json_table_from_body(struct amqp_bytes body);
json_t *json_table_from_field(const struct amqp_field *f);
/* Appends obj as a table body (no length prefix): strings as longstr, integers as long,
 * reals as double, booleans, null as void, arrays and nested objects, as RabbitMQ's
 * rabbit_misc:to_amqp_table does. False when obj is not an object or a key is longer than
 * a shortstr. */
bool json_table_to_body(const json_t *obj, struct amqp_buf *out);
/* Bytes as a JSON string; octets that are not UTF-8 show as '?', rather than not at all. */
json_t *json_table_string(const void *p, size_t len);

#endif
