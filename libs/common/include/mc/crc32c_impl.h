/* For tests and benchmarks only: which CRC32C implementation mc_crc32c and
 * mc_crc32c_copy run. Services never call these; by default the fastest one
 * the CPU supports is picked once, at the first call. */
#ifndef MC_CRC32C_IMPL_H
#define MC_CRC32C_IMPL_H

#include <stdbool.h>

typedef enum mc_crc32c_impl {
    MC_CRC32C_AUTO,      /* the fastest supported (the default) */
    MC_CRC32C_SW,        /* slicing-by-8 tables, any CPU */
    MC_CRC32C_SSE42,     /* the crc32 instruction, three streams combined */
    MC_CRC32C_PCLMUL,    /* PCLMULQDQ folding, 4 x 128 bits */
    MC_CRC32C_AVX2,      /* VPCLMULQDQ folding, 4 x 256 bits */
    MC_CRC32C_AVX512,    /* VPCLMULQDQ folding, 4 x 512 bits */
    MC_CRC32C_AVX512_NT, /* the same, copies from 2 MiB with non-temporal stores */
    MC_CRC32C_IMPL_COUNT
} mc_crc32c_impl_t;

/* Whether this build and CPU can run impl (AUTO and SW always can). */
bool mc_crc32c_impl_supported(mc_crc32c_impl_t impl);
/* Makes every later call use impl (AUTO: back to the default). Returns false,
 * changing nothing, when impl is not supported. Not for use while other
 * threads compute CRCs with a result they compare across implementations
 * (all give the same result, so a switch mid-call elsewhere is harmless). */
bool mc_crc32c_impl_force(mc_crc32c_impl_t impl);
/* The implementation in use (never AUTO: the one AUTO resolved to). */
mc_crc32c_impl_t mc_crc32c_impl_current(void);
/* "auto", "sw", "sse42", "pclmul", "avx2", "avx512", "avx512nt"; NULL past the end. */
const char *mc_crc32c_impl_name(mc_crc32c_impl_t impl);

#endif
