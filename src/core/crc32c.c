/* CRC32C: the SSE4.2 instruction where the CPU has it, else a byte table. */
#include "core/crc32c.h"

#include <string.h>

#define POLY 0x82f63b78u /* Castagnoli, reflected */

/* The byte table, computed by the compiler: eight shift-and-xor steps per entry. */
#define STEP(c) (((c) >> 1) ^ (POLY & (0u - ((c) & 1u))))
#define ENTRY(i) STEP(STEP(STEP(STEP(STEP(STEP(STEP(STEP((uint32_t)(i)))))))))
#define ROW4(i) ENTRY(i), ENTRY(i + 1), ENTRY(i + 2), ENTRY(i + 3)
#define ROW16(i) ROW4(i), ROW4(i + 4), ROW4(i + 8), ROW4(i + 12)
#define ROW64(i) ROW16(i), ROW16(i + 16), ROW16(i + 32), ROW16(i + 48)
static const uint32_t table[256] = {ROW64(0), ROW64(64), ROW64(128), ROW64(192)};

uint32_t crc32c_portable(uint32_t crc, const void *data, size_t len)
{
    const uint8_t *p = data;
    crc = ~crc;
    while (len--)
        crc = (crc >> 8) ^ table[(crc ^ *p++) & 0xff];
    return ~crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p,
                                                                size_t len)
{
    uint64_t c = ~crc & 0xffffffffu;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
        p += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (len--)
        c32 = __builtin_ia32_crc32qi(c32, *p++);
    return ~c32;
}
#endif

bool crc32c_accelerated(void)
{
#if defined(__x86_64__)
    return __builtin_cpu_supports("sse4.2");
#else
    return false;
#endif
}

uint32_t crc32c(uint32_t crc, const void *data, size_t len)
{
#if defined(__x86_64__)
    if (__builtin_cpu_supports("sse4.2"))
        return crc32c_sse42(crc, data, len);
#endif
    return crc32c_portable(crc, data, len);
}
