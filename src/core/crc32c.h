/* CRC32C (Castagnoli), as storage records are checked with: SSE4.2's instruction where the CPU has it. */
#ifndef CRC32C_H
#define CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Continues crc (0 to start) over len bytes; the instruction is chosen at run time (cpuid). */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);
/* The same by the byte table alone: what crc32c falls back to, and what tests compare it with. */
uint32_t crc32c_portable(uint32_t crc, const void *data, size_t len);
/* Whether crc32c runs on the CPU's instruction (SSE4.2 on x86-64) rather than the table. */
bool crc32c_accelerated(void);

#endif
