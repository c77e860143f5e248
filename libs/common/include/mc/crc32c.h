/* CRC32C (Castagnoli). Uses the SSE4.2 crc32 instruction when the CPU has it,
 * a slicing-by-8 table otherwise; both give the same result. */
#ifndef MC_CRC32C_H
#define MC_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (0 to start) over buf[0..len). mc_crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t mc_crc32c(uint32_t crc, const void *buf, size_t len);
/* The portable implementation, exposed so tests can compare both paths. */
uint32_t mc_crc32c_sw(uint32_t crc, const void *buf, size_t len);

#endif
