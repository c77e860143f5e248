/* Between crc32c.c (tables, combining, dispatch) and the CPU-specific kernels
 * (crc32c_x86.c). */
#ifndef MC_CRC32C_INTERNAL_H
#define MC_CRC32C_INTERNAL_H

#include "mc/crc32c.h"
#include "mc/crc32c_impl.h"

#include <stddef.h>
#include <stdint.h>

/* A kernel: mc_crc32c(crc, src, len), copying src to dst in the same pass
 * when dst is not NULL (the buffers do not overlap). */
typedef uint32_t (*mc_crc32c_fn)(uint32_t crc, void *dst, const void *src, size_t len);

/* x^n modulo the Castagnoli polynomial P, reflected: bit 31 is x^0, bit 0
 * x^31 (the representation the tables and the crc32 instruction use). */
uint32_t mc_crc32c_xpow(uint64_t n);

/* The kernel for impl (SSE42 and up), or NULL when this build or CPU has
 * none. Called once per impl before its kernel runs (it also sets up the
 * kernel's constants), never concurrently with itself. */
mc_crc32c_fn mc_crc32c_x86_kernel(mc_crc32c_impl_t impl);

#endif
