/* Random names in RabbitMQ's form: a prefix and 22 url-safe base64 characters (128 bits). */
#include "core/token.h"

#include "core/random.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void token_generate(char *out, const char *prefix)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t random[17] = {0};
    random_bytes(random, 16);
    size_t n = strlen(prefix);
    memcpy(out, prefix, n);
    /* 16 octets are 128 bits: 21 whole sextets and 2 bits of a 22nd. */
    for (int i = 0; i < TOKEN_CHARS; i++) {
        int bit = i * 6, byte = bit / 8, shift = bit % 8;
        unsigned v = (unsigned)(random[byte] << 8 | random[byte + 1]);
        out[n + i] = alphabet[(v >> (10 - shift)) & 0x3f];
    }
    out[n + TOKEN_CHARS] = '\0';
}
