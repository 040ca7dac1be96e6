/* RabbitMQ's information units: digits and a suffix into bytes. */
#include "core/information_unit.h"

#include <stdlib.h>
#include <string.h>

bool information_unit_parse(const char *v, uint64_t *out)
{
    static const struct { const char *unit; uint64_t factor; } units[] = {
        {"kB", 1000}, {"KB", 1000}, {"kb", 1000}, {"Kb", 1000},
        {"MB", 1000000}, {"mb", 1000000}, {"Mb", 1000000},
        {"GB", 1000000000}, {"gb", 1000000000}, {"Gb", 1000000000},
        {"kiB", 1024}, {"KiB", 1024}, {"kib", 1024}, {"KIB", 1024}, {"k", 1024}, {"K", 1024},
        {"MiB", 1u << 20}, {"mib", 1u << 20}, {"MIB", 1u << 20}, {"m", 1u << 20}, {"M", 1u << 20},
        {"GiB", 1u << 30}, {"gib", 1u << 30}, {"GIB", 1u << 30}, {"g", 1u << 30}, {"G", 1u << 30}};
    size_t digits = strspn(v, "0123456789");
    if (!digits || digits > 18)
        return false;
    uint64_t factor = 1;
    if (v[digits]) {
        factor = 0;
        for (size_t i = 0; i < sizeof units / sizeof *units; i++)
            if (strcmp(v + digits, units[i].unit) == 0)
                factor = units[i].factor;
        if (!factor)
            return false;
    }
    uint64_t n = strtoull(v, NULL, 10);
    if (n > UINT64_MAX / factor)
        return false;
    *out = n * factor;
    return true;
}
