/* Sizes with RabbitMQ's information units ("2GB", "1024MiB", "512k"), as its limits are written. */
#ifndef INFORMATION_UNIT_H
#define INFORMATION_UNIT_H

#include <stdbool.h>
#include <stdint.h>

/* rabbit_resource_monitor_misc:parse_information_unit: digits and an optional unit; k, K,
 * kiB... are powers of 1024, kB, KB... of 1000. False for anything else or an overflow. */
bool information_unit_parse(const char *v, uint64_t *out);

#endif
