/* Owned copies of byte slices, for names and tables kept past the frame they came in. */
#include <stdlib.h>

#include "amqp_types.h"

struct amqp_bytes amqp_bytes_dup(struct amqp_bytes b)
{
    uint8_t *p = malloc(b.len ? b.len : 1);
    if (!p)
        abort();
    if (b.len)
        memcpy(p, b.ptr, b.len);
    return amqp_bytes_of(p, b.len);
}

void amqp_bytes_free(struct amqp_bytes b)
{
    free((void *)b.ptr);
}
