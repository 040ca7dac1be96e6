/* Field values printed as RabbitMQ prints them in reply texts (Erlang terms). */
#ifndef AMQP_ERLANG_H
#define AMQP_ERLANG_H

#include <stddef.h>

#include "amqp_table.h"

/* Erlang's name for a field type letter: 'l' is "long", 'I' "signedint", 'S' "longstr"... */
const char *amqp_field_type_name(char type);

/* Writes the value as Erlang's "~p" would when the line already holds `column` characters
 * (long values wrap at 80 columns as RabbitMQ's texts do). Returns the length written. */
size_t amqp_format_field_pretty(char *out, size_t size, const struct amqp_field *f, size_t column);

#endif
