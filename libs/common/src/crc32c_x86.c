/* CRC32C kernels for x86-64, each compiled for its instruction set with
 * __attribute__((target)) (the rest of the build keeps its flags) and picked
 * at run time from CPUID:
 *   sse42   the crc32 instruction, three streams combined (8 bytes a cycle);
 *   pclmul  PCLMULQDQ folding of 4 x 128 bits (Intel, "Fast CRC Computation
 *           for Generic Polynomials Using PCLMULQDQ Instruction", 2009);
 *   avx2    the same folding with VPCLMULQDQ on 4 x 256 bits (CPUs with
 *           VPCLMULQDQ but not AVX-512), streaming copies from NT_MIN;
 *   avx512  the same on 4 x 512 bits (16 lanes of 128 bits), which outruns
 *           memory; avx512nt (the default) stores copies of NT_MIN bytes
 *           and more with non-temporal stores.
 * All take the crc32 instruction for short buffers and the last few bytes,
 * and copy src to dst in the same pass when dst is not NULL.
 *
 * Folding, for the reflected CRC (bit 0 of the first byte is the highest
 * power). A 16-byte block loaded little-endian into a register is the
 * polynomial with bit i the coefficient of x^(127-i); its low 64 bits L are
 * the high half: block = L x^64 + H. A block that sits D bits before the one
 * it is folded into contributes block * x^D, and modulo P
 *   L x^(64+D) + H x^D == clmul(L, K1) + clmul(H, K2),
 *   K1 = x^(D+31) mod P, K2 = x^(D-33) mod P,
 * each held reflected in the low 32 bits of its qword (which, read as a
 * 64-bit reflected operand, is K x^32; the carry-less product of two
 * reflected 64-bit values read as a 128-bit one carries one more x: 33 in
 * all). The product is 95 bits wide, so it lands inside the 128-bit block it
 * is XORed into. The constants come from mc_crc32c_xpow (square and
 * multiply), not from a table. The last 16-byte remainder R is reduced with
 * the crc32 instruction itself: crc32(crc32(0, R.lo), R.hi) == R x^32 mod P,
 * in place of the paper's Barrett step. */
#include "crc32c_internal.h"

#include <stdbool.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>

#define T_SSE42 __attribute__((target("sse4.2")))
#define T_PCLMUL __attribute__((target("sse4.2,pclmul")))
#define T_AVX2 __attribute__((target("sse4.2,pclmul,avx2,vpclmulqdq")))
#define T_AVX512 __attribute__((target("sse4.2,pclmul,avx2,avx512f,avx512vl,vpclmulqdq")))
#define INLINE inline __attribute__((always_inline))

/* ---- the crc32 instruction ---- */

/* Three streams at once: the crc32 instruction has a latency of 3 cycles and
 * a throughput of 1, so one stream runs at a third of its speed. */
#define STREAM_MIN 3072u /* below this, one stream */

T_SSE42 static uint32_t hw_one(uint32_t crc, void *dst, const void *src, size_t len)
{
    const unsigned char *p = src;
    unsigned char *d = dst;
    uint64_t c = ~crc;

    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        if (d) {
            memcpy(d, &w, 8);
            d += 8;
        }
        c = _mm_crc32_u64(c, w);
        p += 8;
        len -= 8;
    }
    while (len--) {
        if (d)
            *d++ = *p;
        c = _mm_crc32_u8((uint32_t)c, *p++);
    }
    return ~(uint32_t)c;
}

T_SSE42 static uint32_t hw_three(uint32_t crc, void *dst, const void *src, size_t len)
{
    size_t third = (len / 3) & ~(size_t)7, words = third / 8;
    const unsigned char *p0 = src, *p1 = p0 + third, *p2 = p1 + third;
    unsigned char *d0 = dst, *d1 = d0 ? d0 + third : NULL, *d2 = d1 ? d1 + third : NULL;
    uint64_t c0 = ~crc, c1 = ~0u, c2 = ~0u;

    for (size_t i = 0; i < words; i++) {
        uint64_t w0, w1, w2;
        memcpy(&w0, p0 + 8 * i, 8);
        memcpy(&w1, p1 + 8 * i, 8);
        memcpy(&w2, p2 + 8 * i, 8);
        c0 = _mm_crc32_u64(c0, w0);
        c1 = _mm_crc32_u64(c1, w1);
        c2 = _mm_crc32_u64(c2, w2);
        if (d0) {
            memcpy(d0 + 8 * i, &w0, 8);
            memcpy(d1 + 8 * i, &w1, 8);
            memcpy(d2 + 8 * i, &w2, 8);
        }
    }
    uint32_t c = mc_crc32c_combine(~(uint32_t)c0, ~(uint32_t)c1, third);
    c = mc_crc32c_combine(c, ~(uint32_t)c2, third);
    return hw_one(c, d2 ? d2 + third : NULL, p2 + third, len - 3 * third);
}

T_SSE42 static uint32_t sse42_kernel(uint32_t crc, void *dst, const void *src, size_t len)
{
    /* blocks keep the three streams (and the copy) close in memory */
    const size_t block = 3u << 14; /* 48 KiB */
    const unsigned char *p = src;
    unsigned char *d = dst;

    if (len < STREAM_MIN)
        return hw_one(crc, dst, src, len);
    while (len >= STREAM_MIN) {
        size_t n = len < block ? len : block;
        crc = hw_three(crc, d, p, n);
        p += n;
        d = d ? d + n : NULL;
        len -= n;
    }
    return len ? hw_one(crc, d, p, len) : crc;
}

/* ---- folding constants ---- */

/* {K1, K2} for a fold over D bits, as the two qwords of a 128-bit operand:
 * K1 multiplies the low qword (the earlier 8 bytes), K2 the high one. */
typedef struct fold_k {
    uint64_t k1, k2;
} fold_k_t;

static struct {
    fold_k_t f128, f384, f256, f512, f1024, f2048;
} K; /* set by consts_init before any folding kernel is handed out */

static fold_k_t fold_k(uint64_t d)
{
    return (fold_k_t){mc_crc32c_xpow(d + 31), mc_crc32c_xpow(d - 33)};
}

static void consts_init(void)
{
    K.f128 = fold_k(128);
    K.f256 = fold_k(256);
    K.f384 = fold_k(384);
    K.f512 = fold_k(512);   /* 4 x 128 bits, and one 512-bit register */
    K.f1024 = fold_k(1024); /* 4 x 256 bits */
    K.f2048 = fold_k(2048); /* 4 x 512 bits */
}

/* ---- PCLMULQDQ, 4 x 128 bits ---- */

#define PCLMUL_MIN 128u /* below this, the crc32 instruction */

T_PCLMUL static INLINE __m128i k128(fold_k_t k)
{
    return _mm_set_epi64x((long long)k.k2, (long long)k.k1);
}

T_PCLMUL static INLINE __m128i ld16(const unsigned char *p)
{
    return _mm_loadu_si128((const __m128i *)(const void *)p);
}

T_PCLMUL static INLINE void st16(unsigned char *d, __m128i v)
{
    _mm_storeu_si128((__m128i *)(void *)d, v);
}

/* x moved forward over the fold's distance, plus y */
T_PCLMUL static INLINE __m128i fold16(__m128i x, __m128i k, __m128i y)
{
    return _mm_xor_si128(
        _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11)), y);
}

/* Folds the 16-byte blocks left after x (the register of everything so far,
 * internal form), reduces and finishes the bytes past the last whole block.
 * Returns the CRC (external form). */
T_PCLMUL static INLINE uint32_t finish16(__m128i x, unsigned char *d, const unsigned char *p,
                                         size_t n)
{
    const __m128i k = k128(K.f128);

    for (; n >= 16; n -= 16, p += 16) {
        __m128i y = ld16(p);
        if (d) {
            st16(d, y);
            d += 16;
        }
        x = fold16(x, k, y);
    }
    uint64_t lo = (uint64_t)_mm_cvtsi128_si64(x), hi = (uint64_t)_mm_extract_epi64(x, 1);
    uint32_t c = (uint32_t)_mm_crc32_u64(_mm_crc32_u64(0, lo), hi);
    return n ? hw_one(~c, d, p, n) : ~c;
}

/* n >= 64; d NULL: no copy. Inlined where d is known NULL or not, so the
 * tests of d are compiled out. */
T_PCLMUL static INLINE uint32_t pclmul_run(uint32_t crc, unsigned char *d, const unsigned char *p,
                                           size_t n)
{
    __m128i x0 = ld16(p), x1 = ld16(p + 16), x2 = ld16(p + 32), x3 = ld16(p + 48);
    __m128i k = k128(K.f512);

    if (d) {
        st16(d, x0);
        st16(d + 16, x1);
        st16(d + 32, x2);
        st16(d + 48, x3);
        d += 64;
    }
    x0 = _mm_xor_si128(x0, _mm_cvtsi32_si128((int)~crc)); /* the start value: the first 4 bytes */
    for (p += 64, n -= 64; n >= 64; n -= 64, p += 64) {
        __m128i y0 = ld16(p), y1 = ld16(p + 16), y2 = ld16(p + 32), y3 = ld16(p + 48);
        if (d) {
            st16(d, y0);
            st16(d + 16, y1);
            st16(d + 32, y2);
            st16(d + 48, y3);
            d += 64;
        }
        x0 = fold16(x0, k, y0);
        x1 = fold16(x1, k, y1);
        x2 = fold16(x2, k, y2);
        x3 = fold16(x3, k, y3);
    }
    k = k128(K.f128);
    x1 = fold16(x0, k, x1);
    x2 = fold16(x1, k, x2);
    x3 = fold16(x2, k, x3);
    return finish16(x3, d, p, n);
}

T_PCLMUL static uint32_t pclmul_kernel(uint32_t crc, void *dst, const void *src, size_t len)
{
    if (len < PCLMUL_MIN)
        return hw_one(crc, dst, src, len);
    if (dst)
        return pclmul_run(crc, dst, src, len);
    return pclmul_run(crc, NULL, src, len);
}

/* ---- VPCLMULQDQ, 4 x 256 bits ---- */

#define AVX2_MIN 256u   /* below this, 4 x 128 bits */
#define ALIGN_MIN 4096u /* from here, the stores (or loads) are aligned first */
/* avx2 and avx512nt: non-temporal stores from here: past this core's L2 (2 MiB on
 * the machine measured) a destination would not stay close anyway, and from
 * there streaming stores measured faster (no read for ownership of each
 * destination line, no eviction of other data): a local put_from of 4 MiB
 * ran at 6.2-9.2 GB/s instead of 3.9-4.6, get_into unchanged. */
#define NT_MIN (2u << 20)
_Static_assert(NT_MIN >= ALIGN_MIN, "streaming stores need the aligned destination");

/* The bytes up to a 64-byte boundary of the destination (of the source
 * without a copy) through the crc32 instruction, so that no wide store (or
 * load) of the folding splits a cache line. Returns the CRC so far and
 * moves the pointers and the length past them. */
T_SSE42 static INLINE uint32_t align_head(uint32_t crc, unsigned char **d, const unsigned char **p,
                                          size_t *len)
{
    size_t head = (size_t)(-(uintptr_t)(*d ? (void *)*d : (const void *)*p)) & 63;

    crc = hw_one(crc, *d, *p, head);
    *p += head;
    *d = *d ? *d + head : NULL;
    *len -= head;
    return crc;
}

T_AVX2 static INLINE __m256i k256(fold_k_t k)
{
    return _mm256_broadcastsi128_si256(k128(k));
}

T_AVX2 static INLINE __m256i ld32(const unsigned char *p)
{
    return _mm256_loadu_si256((const __m256i *)(const void *)p);
}

T_AVX2 static INLINE void st32(unsigned char *d, __m256i v, bool nt)
{
    if (nt)
        _mm256_stream_si256((__m256i *)(void *)d, v); /* d is 32-byte aligned */
    else
        _mm256_storeu_si256((__m256i *)(void *)d, v);
}

T_AVX2 static INLINE __m256i fold32(__m256i x, __m256i k, __m256i y)
{
    return _mm256_xor_si256(_mm256_xor_si256(_mm256_clmulepi64_epi128(x, k, 0x00),
                                             _mm256_clmulepi64_epi128(x, k, 0x11)),
                            y);
}

/* n >= 128; d NULL: no copy (as pclmul_run) */
T_AVX2 static INLINE uint32_t avx2_run(uint32_t crc, unsigned char *d, const unsigned char *p,
                                       size_t n, bool nt)
{
    __m256i z0 = ld32(p), z1 = ld32(p + 32), z2 = ld32(p + 64), z3 = ld32(p + 96);
    __m256i k = k256(K.f1024);

    if (d) {
        st32(d, z0, nt);
        st32(d + 32, z1, nt);
        st32(d + 64, z2, nt);
        st32(d + 96, z3, nt);
        d += 128;
    }
    z0 = _mm256_xor_si256(z0, _mm256_set_epi32(0, 0, 0, 0, 0, 0, 0, (int)~crc));
    for (p += 128, n -= 128; n >= 128; n -= 128, p += 128) {
        __m256i y0 = ld32(p), y1 = ld32(p + 32), y2 = ld32(p + 64), y3 = ld32(p + 96);
        if (d) {
            st32(d, y0, nt);
            st32(d + 32, y1, nt);
            st32(d + 64, y2, nt);
            st32(d + 96, y3, nt);
            d += 128;
        }
        z0 = fold32(z0, k, y0);
        z1 = fold32(z1, k, y1);
        z2 = fold32(z2, k, y2);
        z3 = fold32(z3, k, y3);
    }
    k = k256(K.f256);
    z1 = fold32(z0, k, z1);
    z2 = fold32(z1, k, z2);
    z3 = fold32(z2, k, z3);
    for (; n >= 32; n -= 32, p += 32) {
        __m256i y = ld32(p);
        if (d) {
            st32(d, y, nt);
            d += 32;
        }
        z3 = fold32(z3, k, y);
    }
    if (nt)
        _mm_sfence();
    /* the two 128-bit lanes into one */
    __m128i x = fold16(_mm256_castsi256_si128(z3), k128(K.f128), _mm256_extracti128_si256(z3, 1));
    return finish16(x, d, p, n);
}

/* Below AVX2_MIN, the 4 x 128-bit folding; from ALIGN_MIN, aligned first;
 * from NT_MIN, streaming stores. */
T_AVX2 static uint32_t avx2_kernel(uint32_t crc, void *dst, const void *src, size_t len)
{
    const unsigned char *p = src;
    unsigned char *d = dst;

    if (len < AVX2_MIN)
        return pclmul_kernel(crc, dst, src, len);
    if (len >= ALIGN_MIN)
        crc = align_head(crc, &d, &p, &len);
    if (!d)
        return avx2_run(crc, NULL, p, len, false);
    if (len >= NT_MIN)
        return avx2_run(crc, d, p, len, true);
    return avx2_run(crc, d, p, len, false);
}

/* ---- VPCLMULQDQ, 4 x 512 bits ---- */

#define AVX512_MIN 256u /* below this, 4 x 128 bits */

T_AVX512 static INLINE __m512i k512(fold_k_t k)
{
    return _mm512_broadcast_i32x4(k128(k));
}

T_AVX512 static INLINE __m512i ld64(const unsigned char *p)
{
    return _mm512_loadu_si512((const void *)p);
}

T_AVX512 static INLINE void st64(unsigned char *d, __m512i v, bool nt)
{
    if (nt)
        _mm512_stream_si512((void *)d, v); /* d is 64-byte aligned */
    else
        _mm512_storeu_si512((void *)d, v);
}

T_AVX512 static INLINE __m512i fold64(__m512i x, __m512i k, __m512i y)
{
    return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00),
                                     _mm512_clmulepi64_epi128(x, k, 0x11), y, 0x96);
}

/* n >= 256; d NULL: no copy (as pclmul_run) */
T_AVX512 static INLINE uint32_t avx512_run(uint32_t crc, unsigned char *d, const unsigned char *p,
                                           size_t n, bool nt)
{
    __m512i z0 = ld64(p), z1 = ld64(p + 64), z2 = ld64(p + 128), z3 = ld64(p + 192);
    __m512i k = k512(K.f2048);

    if (d) {
        st64(d, z0, nt);
        st64(d + 64, z1, nt);
        st64(d + 128, z2, nt);
        st64(d + 192, z3, nt);
        d += 256;
    }
    z0 = _mm512_xor_si512(z0, _mm512_maskz_set1_epi32(1, (int)~crc));
    for (p += 256, n -= 256; n >= 256; n -= 256, p += 256) {
        __m512i y0 = ld64(p), y1 = ld64(p + 64), y2 = ld64(p + 128), y3 = ld64(p + 192);
        if (d) {
            st64(d, y0, nt);
            st64(d + 64, y1, nt);
            st64(d + 128, y2, nt);
            st64(d + 192, y3, nt);
            d += 256;
        }
        z0 = fold64(z0, k, y0);
        z1 = fold64(z1, k, y1);
        z2 = fold64(z2, k, y2);
        z3 = fold64(z3, k, y3);
    }
    k = k512(K.f512);
    z1 = fold64(z0, k, z1);
    z2 = fold64(z1, k, z2);
    z3 = fold64(z2, k, z3);
    for (; n >= 64; n -= 64, p += 64) {
        __m512i y = ld64(p);
        if (d) {
            st64(d, y, nt);
            d += 64;
        }
        z3 = fold64(z3, k, y);
    }
    if (nt)
        _mm_sfence();
    /* the four 128-bit lanes into one: lane i sits 128 (3 - i) bits before
     * the end; lane 3 is kept as it is (its constants are 0) */
    const __m512i kl =
        _mm512_set_epi64(0, 0, (long long)K.f128.k2, (long long)K.f128.k1, (long long)K.f256.k2,
                         (long long)K.f256.k1, (long long)K.f384.k2, (long long)K.f384.k1);
    __m512i t = _mm512_xor_si512(_mm512_clmulepi64_epi128(z3, kl, 0x00),
                                 _mm512_clmulepi64_epi128(z3, kl, 0x11));
    __m128i x = _mm_xor_si128(
        _mm_xor_si128(_mm512_castsi512_si128(t), _mm512_extracti32x4_epi32(t, 1)),
        _mm_xor_si128(_mm512_extracti32x4_epi32(t, 2), _mm512_extracti32x4_epi32(z3, 3)));
    return finish16(x, d, p, n);
}

/* Below AVX512_MIN, the 4 x 128-bit folding; from ALIGN_MIN, aligned first. */
T_AVX512 static INLINE uint32_t avx512_kernel_nt(uint32_t crc, void *dst, const void *src,
                                                 size_t len, bool nt_ok)
{
    const unsigned char *p = src;
    unsigned char *d = dst;

    if (len < AVX512_MIN)
        return pclmul_kernel(crc, dst, src, len);
    if (len >= ALIGN_MIN)
        crc = align_head(crc, &d, &p, &len);
    if (!d)
        return avx512_run(crc, NULL, p, len, false);
    if (nt_ok && len >= NT_MIN)
        return avx512_run(crc, d, p, len, true);
    return avx512_run(crc, d, p, len, false);
}

T_AVX512 static uint32_t avx512_kernel(uint32_t crc, void *dst, const void *src, size_t len)
{
    return avx512_kernel_nt(crc, dst, src, len, false);
}

T_AVX512 static uint32_t avx512nt_kernel(uint32_t crc, void *dst, const void *src, size_t len)
{
    return avx512_kernel_nt(crc, dst, src, len, true);
}

/* ---- what the CPU has ---- */

/* Whether the OS saves the register state in mask (XCR0 bits): 0x6 XMM and
 * YMM, 0xe6 those and opmask, ZMM_Hi256, Hi16_ZMM. */
static bool os_saves(unsigned mask)
{
    unsigned a, b, c, d;

    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE))
        return false;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    return (lo & mask) == mask;
}

/* VPCLMULQDQ: CPUID.(EAX=7,ECX=0):ECX bit 10 */
static bool has_vpclmulqdq(void)
{
    unsigned a, b, c, d;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (c & (1u << 10));
}

static bool cpu_has(mc_crc32c_impl_t impl)
{
    __builtin_cpu_init();
    switch (impl) {
    case MC_CRC32C_SSE42: return __builtin_cpu_supports("sse4.2");
    case MC_CRC32C_PCLMUL:
        return __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("pclmul");
    case MC_CRC32C_AVX2:
        return cpu_has(MC_CRC32C_PCLMUL) && __builtin_cpu_supports("avx2") && has_vpclmulqdq() &&
               os_saves(0x6);
    case MC_CRC32C_AVX512:
    case MC_CRC32C_AVX512_NT:
        return cpu_has(MC_CRC32C_AVX2) && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512vl") && os_saves(0xe6);
    default: return false;
    }
}

mc_crc32c_fn mc_crc32c_x86_kernel(mc_crc32c_impl_t impl)
{
    static const mc_crc32c_fn fns[MC_CRC32C_IMPL_COUNT] = {[MC_CRC32C_SSE42] = sse42_kernel,
                                                           [MC_CRC32C_PCLMUL] = pclmul_kernel,
                                                           [MC_CRC32C_AVX2] = avx2_kernel,
                                                           [MC_CRC32C_AVX512] = avx512_kernel,
                                                           [MC_CRC32C_AVX512_NT] = avx512nt_kernel};

    if ((unsigned)impl >= MC_CRC32C_IMPL_COUNT || !fns[impl] || !cpu_has(impl))
        return NULL;
    consts_init();
    return fns[impl];
}
#else
mc_crc32c_fn mc_crc32c_x86_kernel(mc_crc32c_impl_t impl)
{
    (void)impl;
    return NULL;
}
#endif
