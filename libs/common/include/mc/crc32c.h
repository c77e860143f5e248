/* CRC32C (Castagnoli). On x86-64 the fastest kernel the CPU has is picked at
 * the first call: carry-less multiply folding (VPCLMULQDQ on AVX-512 or AVX2
 * registers, else PCLMULQDQ), or the SSE4.2 crc32 instruction (which also
 * does short buffers and the last bytes); a slicing-by-8 table otherwise.
 * All give the same result (mc/crc32c_impl.h chooses one, for tests). */
#ifndef MC_CRC32C_H
#define MC_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (0 to start) over buf[0..len). mc_crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t mc_crc32c(uint32_t crc, const void *buf, size_t len);
/* Copies src[0..len) to dst (not overlapping) and returns the CRC of the
 * bytes, in one pass over them: mc_crc32c(crc, src, len). The bytes are
 * folded while in registers: with AVX-512, as fast as memcpy from 64 KiB up,
 * about half memcpy's speed on 4 KiB in L1 (tests/bench/crc_bench.c). With
 * AVX-512, copies of 2 MiB and more use non-temporal stores: dst is then
 * not left in the caches (what a copy that large would mostly evict anyway). */
uint32_t mc_crc32c_copy(uint32_t crc, void *dst, const void *src, size_t len);
/* The CRC of A followed by B from crc1 = CRC(A), crc2 = CRC(B) (each started
 * from 0) and B's length. */
uint32_t mc_crc32c_combine(uint32_t crc1, uint32_t crc2, size_t len2);
/* The portable implementation, exposed so tests can compare both paths. */
uint32_t mc_crc32c_sw(uint32_t crc, const void *buf, size_t len);

#endif
