/* Random bytes from the kernel (getrandom), for names, salts and ids: no library to initialise. */
#include "core/random.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/random.h>

/* getrandom rather than OpenSSL's RAND_bytes: its first call loads OpenSSL's providers,
 * about 2 MiB of resident pages an idle broker need not carry. */
void random_bytes(void *out, size_t len)
{
    uint8_t *p = out;
    while (len) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            abort();
        p += n;
        len -= (size_t)n;
    }
}
