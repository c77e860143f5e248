/* crc32c: every implementation (each forced in turn) against the table path,
 * at every length to 4 KiB and every source and destination alignment. */
#include "mc/crc32c.h"
#include "mc/crc32c_impl.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define GUARD 64 /* bytes either side of a destination that must stay untouched */

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static unsigned char *random_buf(size_t n)
{
    unsigned char *b = malloc(n);
    cr_assert_not_null(b);
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)next_rand();
    return b;
}

/* The implementations this CPU runs, SW first; returns how many. */
static size_t impls(mc_crc32c_impl_t *out)
{
    size_t n = 0;
    for (int i = MC_CRC32C_SW; i < MC_CRC32C_IMPL_COUNT; i++)
        if (mc_crc32c_impl_supported((mc_crc32c_impl_t)i))
            out[n++] = (mc_crc32c_impl_t)i;
    return n;
}

/* Every implementation gives want for src[0..len) from start, with and
 * without the copy into dst (which has GUARD bytes of room either side). */
static void check_all(uint32_t start, const unsigned char *src, unsigned char *dst, size_t len,
                      uint32_t want)
{
    mc_crc32c_impl_t is[MC_CRC32C_IMPL_COUNT];
    size_t n = impls(is);

    for (size_t i = 0; i < n; i++) {
        const char *name = mc_crc32c_impl_name(is[i]);
        cr_assert(mc_crc32c_impl_force(is[i]));
        memset(dst - GUARD, 0xA5, len + 2 * GUARD);
        cr_assert_eq(mc_crc32c(start, src, len), want, "%s len %zu", name, len);
        cr_assert_eq(mc_crc32c_copy(start, dst, src, len), want, "%s copy len %zu", name, len);
        cr_assert(memcmp(dst, src, len) == 0, "%s copied, len %zu", name, len);
        for (size_t g = 0; g < GUARD; g++) {
            cr_assert_eq(dst[-1 - (ptrdiff_t)g], 0xA5, "%s wrote before dst, len %zu", name, len);
            cr_assert_eq(dst[len + g], 0xA5, "%s wrote past the end, len %zu", name, len);
        }
    }
    mc_crc32c_impl_force(MC_CRC32C_AUTO);
}

Test(crc32c, known_vectors_in_every_implementation)
{
    unsigned char zeros[32] = {0}, ones[32], inc[32], dec[32];
    mc_crc32c_impl_t is[MC_CRC32C_IMPL_COUNT];
    size_t n = impls(is);

    memset(ones, 0xff, sizeof(ones));
    for (int i = 0; i < 32; i++) {
        inc[i] = (unsigned char)i;
        dec[i] = (unsigned char)(31 - i);
    }
    cr_expect_eq(mc_crc32c_sw(0, "123456789", 9), 0xE3069283u);
    for (size_t i = 0; i < n; i++) {
        cr_assert(mc_crc32c_impl_force(is[i]));
        cr_log_info("crc32c implementation tested: %s", mc_crc32c_impl_name(is[i]));
        cr_expect_eq(mc_crc32c(0, "123456789", 9), 0xE3069283u);
        cr_expect_eq(mc_crc32c(0, "", 0), 0u);
        /* RFC 3720 B.4 vectors */
        cr_expect_eq(mc_crc32c(0, zeros, 32), 0x8A9136AAu);
        cr_expect_eq(mc_crc32c(0, ones, 32), 0x62A8AB43u);
        cr_expect_eq(mc_crc32c(0, inc, 32), 0x46DD794Eu);
        cr_expect_eq(mc_crc32c(0, dec, 32), 0x113FDB5Cu);
    }
    mc_crc32c_impl_force(MC_CRC32C_AUTO);
}

Test(crc32c, the_choice_is_supported_and_forcing_checks_its_argument)
{
    mc_crc32c_impl_t cur = mc_crc32c_impl_current();
    cr_expect_neq(cur, MC_CRC32C_AUTO);
    cr_expect(mc_crc32c_impl_supported(cur));
    cr_expect(mc_crc32c_impl_supported(MC_CRC32C_SW));
    cr_expect_not(mc_crc32c_impl_force(MC_CRC32C_IMPL_COUNT));
    cr_expect_eq(mc_crc32c_impl_current(), cur);
    cr_expect(mc_crc32c_impl_force(MC_CRC32C_SW));
    cr_expect_eq(mc_crc32c_impl_current(), MC_CRC32C_SW);
    cr_expect(mc_crc32c_impl_force(MC_CRC32C_AUTO));
    cr_expect_eq(mc_crc32c_impl_current(), cur);
    cr_expect_null(mc_crc32c_impl_name(MC_CRC32C_IMPL_COUNT));
    cr_log_info("crc32c default: %s", mc_crc32c_impl_name(cur));
}

Test(crc32c, every_length_to_4k_and_every_alignment)
{
    const size_t max = 4096;
    unsigned char *src = random_buf(max + 64 + 20000), *dst = malloc(max + 64 + 20000 + 2 * GUARD);
    cr_assert_not_null(dst);

    /* each length, at alignments that move with it */
    for (size_t len = 0; len <= max; len++) {
        size_t sa = len % 64, da = (len * 37 + 11) % 64;
        uint32_t start = (uint32_t)next_rand();
        check_all(start, src + sa, dst + GUARD + da, len, mc_crc32c_sw(start, src + sa, len));
    }
    /* each source x destination alignment, at a length of up to 20000 (past
     * the thresholds where the kernels align and switch width) */
    for (size_t sa = 0; sa < 64; sa++)
        for (size_t da = 0; da < 64; da++) {
            size_t len = (size_t)(next_rand() % 20000);
            uint32_t start = (uint32_t)next_rand();
            check_all(start, src + sa, dst + GUARD + da, len, mc_crc32c_sw(start, src + sa, len));
        }
    free(src);
    free(dst);
}

Test(crc32c, random_lengths_to_8m)
{
    const size_t max = (8u << 20) + 4096;
    unsigned char *src = random_buf(max + 64), *dst = malloc(max + 64 + 2 * GUARD);
    cr_assert_not_null(dst);

    for (int i = 0; i < 24; i++) {
        /* 8 MiB and more, around avx512nt's 2 MiB threshold, then random */
        size_t len = i == 0   ? max
                     : i == 1 ? (2u << 20)
                     : i == 2 ? (2u << 20) - 1
                              : (size_t)(next_rand() % (8u << 20));
        size_t sa = (size_t)(next_rand() % 64), da = (size_t)(next_rand() % 64);
        uint32_t start = (uint32_t)next_rand();
        check_all(start, src + sa, dst + GUARD + da, len, mc_crc32c_sw(start, src + sa, len));
    }
    free(src);
    free(dst);
}

Test(crc32c, streams_and_combine_in_every_implementation)
{
    size_t n = 300007;
    unsigned char *buf = random_buf(n);
    uint32_t whole = mc_crc32c_sw(0, buf, n);
    mc_crc32c_impl_t is[MC_CRC32C_IMPL_COUNT];
    size_t ni = impls(is);

    for (size_t i = 0; i < ni; i++) {
        uint32_t parts = 0;
        cr_assert(mc_crc32c_impl_force(is[i]));
        for (size_t off = 0; off < n;) {
            size_t len = (off * 7 + 13) % 9099 + 1;
            if (len > n - off)
                len = n - off;
            parts = mc_crc32c(parts, buf + off, len);
            off += len;
        }
        cr_expect_eq(parts, whole, "%s", mc_crc32c_impl_name(is[i]));
        static const size_t cuts[] = {0, 1, 63, 64, 4095, 100000, 300006, 300007};
        for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
            size_t cut = cuts[c];
            cr_expect_eq(mc_crc32c_combine(mc_crc32c(0, buf, cut), mc_crc32c(0, buf + cut, n - cut),
                                           n - cut),
                         whole, "%s cut %zu", mc_crc32c_impl_name(is[i]), cut);
        }
    }
    /* lengths past 2^32 bits: CRC(A || B || C) both ways round */
    uint32_t a = 0x01234567u, b = 0x89ABCDEFu, c = 0x0F1E2D3Cu;
    size_t lb = (size_t)3 << 30, lc = ((size_t)2 << 30) + 12345;
    cr_expect_eq(mc_crc32c_combine(mc_crc32c_combine(a, b, lb), c, lc),
                 mc_crc32c_combine(a, mc_crc32c_combine(b, c, lc), lb + lc));
    mc_crc32c_impl_force(MC_CRC32C_AUTO);
    free(buf);
}
