/* The headers exchange's rule: does a message's headers table satisfy a binding's arguments? */
#ifndef EXCHANGE_HEADERS_H
#define EXCHANGE_HEADERS_H

#include <stdbool.h>

#include "amqp_types.h"

/* Both arguments are CHECKED field-table bodies (amqp_table_check, no length prefix); a
 * message without headers passes an empty body. Matches as RabbitMQ 3.10 does:
 * - "x-match" (the first one; a longstr) is all (the default, also for unknown values), any,
 *   all-with-x or any-with-x. Binding keys starting "x-" count only in the -with-x modes;
 *   "x-match" itself never counts.
 * - all: every counted binding key is present with an equal value (true if there are none);
 *   any: at least one is (false if there are none).
 * - A binding value of type void (V) asks only that the key be present.
 * - Values compare as Erlang's == compares RabbitMQ's decoded values: numbers by numeric
 *   value across all integer and float types (int 1 == long 1 == double 1.0, exactly, so
 *   long 2^53+1 != double 2^53), longstr and byte array by bytes, booleans, decimals and
 *   void only with their own type, and nested tables and arrays entry by entry in order,
 *   each entry's type letter included (an empty table equals an empty array at top level).
 * - Both tables are stably sorted by key and walked together, so with duplicate keys the
 *   n-th binding entry meets the n-th message entry of that key.
 * Allocates only for tables of more than 32 entries. */
bool exchange_headers_match(struct amqp_bytes binding_args, struct amqp_bytes message_headers);

#endif
