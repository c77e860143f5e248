#include "mc/crc32c.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++)
        for (int k = 1; k < 8; k++)
            table[k][n] = (table[k - 1][n] >> 8) ^ table[0][table[k - 1][n] & 0xff];
}

uint32_t mc_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
    const unsigned char *p = buf;

    pthread_once(&table_once, table_init);
    crc = ~crc;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= crc;
        crc = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^ table[5][(w >> 16) & 0xff] ^
              table[4][(w >> 24) & 0xff] ^ table[3][(w >> 32) & 0xff] ^ table[2][(w >> 40) & 0xff] ^
              table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

/* ---- combining: crc(A || B) from crc(A), crc(B) and len(B) (zlib's method) ---- */

#define POLY 0x82F63B78u

/* a * b modulo the polynomial, both reflected. */
static uint32_t multmodp(uint32_t a, uint32_t b)
{
    uint32_t m = 1u << 31, p = 0;

    for (;;) {
        if (a & m) {
            p ^= b;
            if ((a & (m - 1)) == 0)
                break;
        }
        m >>= 1;
        b = b & 1 ? (b >> 1) ^ POLY : b >> 1;
    }
    return p;
}

static uint32_t x2n_table[32]; /* x^(2^k) modulo the polynomial */
static pthread_once_t x2n_once = PTHREAD_ONCE_INIT;

static void x2n_init(void)
{
    uint32_t p = 1u << 30; /* x^1 */

    x2n_table[0] = p;
    for (int k = 1; k < 32; k++)
        x2n_table[k] = p = multmodp(p, p);
}

uint32_t mc_crc32c_combine(uint32_t crc1, uint32_t crc2, size_t len2)
{
    uint32_t p = 1u << 31; /* x^0 */
    uint64_t n = (uint64_t)len2;

    pthread_once(&x2n_once, x2n_init);
    for (unsigned k = 3; n; n >>= 1, k++) /* x^(8 * len2) */
        if (n & 1)
            p = multmodp(x2n_table[k & 31], p);
    return multmodp(p, crc1) ^ crc2;
}

#if defined(__x86_64__) && defined(__GNUC__)
#define HW_TARGET __attribute__((target("sse4.2")))

/* Three streams at once: the crc32 instruction has a latency of 3 cycles and
 * a throughput of 1, so one stream runs at a third of its speed. With dst
 * set, the words are copied in the same pass. */
#define STREAM_MIN 3072u /* below this, one stream */

HW_TARGET static uint32_t hw_one(uint32_t crc, void *dst, const void *src, size_t len)
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
        c = __builtin_ia32_crc32di(c, w);
        p += 8;
        len -= 8;
    }
    while (len--) {
        if (d)
            *d++ = *p;
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    }
    return ~(uint32_t)c;
}

HW_TARGET static uint32_t hw_three(uint32_t crc, void *dst, const void *src, size_t len)
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
        c0 = __builtin_ia32_crc32di(c0, w0);
        c1 = __builtin_ia32_crc32di(c1, w1);
        c2 = __builtin_ia32_crc32di(c2, w2);
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

HW_TARGET static uint32_t crc32c_hw(uint32_t crc, void *dst, const void *src, size_t len)
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

static bool have_hw(void)
{
    static atomic_int hw = -1; /* racing first callers store the same value */
    int v = atomic_load_explicit(&hw, memory_order_relaxed);
    if (v < 0) {
        v = __builtin_cpu_supports("sse4.2") ? 1 : 0;
        atomic_store_explicit(&hw, v, memory_order_relaxed);
    }
    return v == 1;
}

uint32_t mc_crc32c(uint32_t crc, const void *buf, size_t len)
{
    return have_hw() ? crc32c_hw(crc, NULL, buf, len) : mc_crc32c_sw(crc, buf, len);
}

uint32_t mc_crc32c_copy(uint32_t crc, void *dst, const void *src, size_t len)
{
    if (have_hw())
        return crc32c_hw(crc, dst, src, len);
    memcpy(dst, src, len);
    return mc_crc32c_sw(crc, src, len);
}
#else
uint32_t mc_crc32c(uint32_t crc, const void *buf, size_t len)
{
    return mc_crc32c_sw(crc, buf, len);
}

uint32_t mc_crc32c_copy(uint32_t crc, void *dst, const void *src, size_t len)
{
    memcpy(dst, src, len);
    return mc_crc32c_sw(crc, src, len);
}
#endif
