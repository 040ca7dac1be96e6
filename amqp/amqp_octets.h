/* Octets printed as RabbitMQ quotes them in reply texts (Erlang binary syntax). */
#ifndef AMQP_OCTETS_H
#define AMQP_OCTETS_H

#include <stdbool.h>
#include <stddef.h>

#include "amqp_types.h"

/* Whether Erlang would print these octets as a string (every one printable Latin-1). */
bool amqp_octets_printable(struct amqp_bytes octets);

/* "<<0,20,0,10>>" always in decimal (Erlang's ~w), or, with as_text_if_printable, as
 * "<<\"abc\">>" when every octet is printable Latin-1 (Erlang's ~p). Never overruns out;
 * returns the length written (truncated output ends early but stays NUL-terminated). */
size_t amqp_format_octets(char *out, size_t size, struct amqp_bytes octets, bool as_text_if_printable);

/* RabbitMQ's frame quote: "all octets = <<...>>", or "first 16 octets = <<...>>" when longer. */
size_t amqp_format_frame_octets(char *out, size_t size, struct amqp_bytes payload);

#endif
