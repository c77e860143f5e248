/* CRC32C: the portable table path, combining, and the choice of kernel. The
 * CPU-specific kernels are in crc32c_x86.c. */
#include "mc/crc32c.h"

#include "crc32c_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define POLY 0x82F63B78u /* Castagnoli, reflected (x^32 implied) */

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
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

/* ---- polynomial arithmetic modulo P: combining, and the folding constants ---- */

/* a * b modulo the polynomial, both reflected. a must not be 0. */
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

static uint32_t x2n_table[64]; /* x^(2^k) modulo the polynomial */
static pthread_once_t x2n_once = PTHREAD_ONCE_INIT;

static void x2n_init(void)
{
    uint32_t p = 1u << 30; /* x^1 */

    x2n_table[0] = p;
    for (int k = 1; k < 64; k++)
        x2n_table[k] = p = multmodp(p, p);
}

uint32_t mc_crc32c_xpow(uint64_t n)
{
    uint32_t p = 1u << 31; /* x^0 */

    pthread_once(&x2n_once, x2n_init);
    for (unsigned k = 0; n; n >>= 1, k++)
        if (n & 1)
            p = multmodp(x2n_table[k], p);
    return p;
}

uint32_t mc_crc32c_combine(uint32_t crc1, uint32_t crc2, size_t len2)
{
    /* CRC(A || B) = CRC(A) * x^(8 len(B)) + CRC(B) (zlib's method) */
    return multmodp(mc_crc32c_xpow((uint64_t)len2 * 8), crc1) ^ crc2;
}

/* ---- which kernel runs ---- */

static uint32_t sw_kernel(uint32_t crc, void *dst, const void *src, size_t len)
{
    if (dst)
        memcpy(dst, src, len);
    return mc_crc32c_sw(crc, src, len);
}

static const char *const impl_names[MC_CRC32C_IMPL_COUNT] = {
    [MC_CRC32C_AUTO] = "auto",         [MC_CRC32C_SW] = "sw",     [MC_CRC32C_SSE42] = "sse42",
    [MC_CRC32C_PCLMUL] = "pclmul",     [MC_CRC32C_AVX2] = "avx2", [MC_CRC32C_AVX512] = "avx512",
    [MC_CRC32C_AVX512_NT] = "avx512nt"};

/* Filled once (impls_once), read-only after. */
static mc_crc32c_fn kernels[MC_CRC32C_IMPL_COUNT];
static mc_crc32c_impl_t auto_impl = MC_CRC32C_SW;
static pthread_once_t impls_once = PTHREAD_ONCE_INIT;

/* The one in use; racing first callers store the same value. */
static _Atomic(mc_crc32c_fn) active;
static atomic_int active_impl = MC_CRC32C_SW;

static void impls_init(void)
{
    /* AUTO: the first of these the CPU has (tests/bench/crc_bench.c
     * measures them; avx512nt over avx512: crc32c_x86.c, NT_MIN). */
    static const mc_crc32c_impl_t order[] = {MC_CRC32C_AVX512_NT, MC_CRC32C_AVX2, MC_CRC32C_PCLMUL,
                                             MC_CRC32C_SSE42};

    pthread_once(&table_once, table_init);
    kernels[MC_CRC32C_SW] = sw_kernel;
    for (int i = MC_CRC32C_SSE42; i < MC_CRC32C_IMPL_COUNT; i++)
        kernels[i] = mc_crc32c_x86_kernel((mc_crc32c_impl_t)i);
    for (size_t i = sizeof(order) / sizeof(order[0]); i-- > 0;)
        if (kernels[order[i]])
            auto_impl = order[i];
    kernels[MC_CRC32C_AUTO] = kernels[auto_impl];
}

static mc_crc32c_fn kernel(void)
{
    mc_crc32c_fn f = atomic_load_explicit(&active, memory_order_acquire);

    if (!f) {
        pthread_once(&impls_once, impls_init);
        f = kernels[MC_CRC32C_AUTO];
        atomic_store_explicit(&active_impl, (int)auto_impl, memory_order_relaxed);
        atomic_store_explicit(&active, f, memory_order_release);
    }
    return f;
}

uint32_t mc_crc32c(uint32_t crc, const void *buf, size_t len)
{
    return kernel()(crc, NULL, buf, len);
}

uint32_t mc_crc32c_copy(uint32_t crc, void *dst, const void *src, size_t len)
{
    return kernel()(crc, dst, src, len);
}

bool mc_crc32c_impl_supported(mc_crc32c_impl_t impl)
{
    if ((unsigned)impl >= MC_CRC32C_IMPL_COUNT)
        return false;
    pthread_once(&impls_once, impls_init);
    return kernels[impl] != NULL;
}

bool mc_crc32c_impl_force(mc_crc32c_impl_t impl)
{
    if (!mc_crc32c_impl_supported(impl))
        return false;
    atomic_store_explicit(&active_impl, (int)(impl == MC_CRC32C_AUTO ? auto_impl : impl),
                          memory_order_relaxed);
    atomic_store_explicit(&active, kernels[impl], memory_order_release);
    return true;
}

mc_crc32c_impl_t mc_crc32c_impl_current(void)
{
    (void)kernel();
    return (mc_crc32c_impl_t)atomic_load_explicit(&active_impl, memory_order_relaxed);
}

const char *mc_crc32c_impl_name(mc_crc32c_impl_t impl)
{
    return (unsigned)impl < MC_CRC32C_IMPL_COUNT ? impl_names[impl] : NULL;
}
