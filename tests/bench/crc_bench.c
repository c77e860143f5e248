/* CRC32C implementations next to memcpy: GB/s of memcpy, mc_crc32c and
 * mc_crc32c_copy for each implementation this CPU runs (forced through
 * mc/crc32c_impl.h), at 4 KiB .. 32 MiB, with the buffers
 *   hot     one source and one destination, used over and over (cache-hot);
 *   cold    source and destination rotating through --span MiB each (default
 *           512, past the last-level cache), so every pass misses;
 *   get     the source rotating, the destination fixed: a store service's
 *           local get_into (values spread over its segment, one client buffer);
 *   put     the source fixed, the destination rotating: its local put_from.
 * Each cell is the median of 5 runs of --ms milliseconds (default 30), the runs
 * of every cell interleaved so that a load from elsewhere hits them alike.
 *
 *   mc_crc_bench [--span=MiB] [--ms=N] [--impl=NAME] [--size=BYTES] [--mode=hot|cold|get|put]
 * (--size: that one size, any from 1 byte to --span)
 */
#include "mc/crc32c.h"
#include "mc/crc32c_impl.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RUNS 5
#define MiB ((size_t)1 << 20)

enum op { OP_MEMCPY, OP_CRC, OP_COPY };
enum mode { MODE_HOT, MODE_COLD, MODE_GET, MODE_PUT, MODE_COUNT };
static const char *const mode_names[MODE_COUNT] = {"hot", "cold", "get", "put"};

typedef struct cell {
    enum op op;
    mc_crc32c_impl_t impl;
    double rate[RUNS];
} cell_t;

static unsigned char *src_base, *dst_base;
static size_t span = 512 * MiB;
static double run_s = 0.030;
static volatile uint32_t sink;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static const char *arg(int argc, char **argv, const char *name)
{
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], name, n) == 0 && argv[i][n] == '=')
            return argv[i] + n + 1;
    return NULL;
}

/* One run of a cell: bytes per second. */
static double run(const cell_t *c, size_t size, enum mode mode)
{
    size_t slots = span / size, n = 0;
    uint32_t acc = 0;
    double t0, t;

    if (c->op != OP_MEMCPY)
        mc_crc32c_impl_force(c->impl);
    t0 = now_s();
    do {
        for (int k = 0; k < 8; k++, n++) {
            size_t at = (n % slots) * size;
            size_t so = mode == MODE_COLD || mode == MODE_GET ? at : 0;
            size_t dof = mode == MODE_COLD || mode == MODE_PUT ? at : 0;
            unsigned char *s = src_base + so, *d = dst_base + dof;
            if (c->op == OP_MEMCPY)
                memcpy(d, s, size);
            else if (c->op == OP_CRC)
                acc ^= mc_crc32c(0, s, size);
            else
                acc ^= mc_crc32c_copy(0, d, s, size);
        }
        t = now_s();
    } while (t - t0 < run_s);
    sink ^= acc;
    return (double)n * (double)size / (t - t0);
}

static double median(const cell_t *c)
{
    double r[RUNS];
    memcpy(r, c->rate, sizeof(r));
    qsort(r, RUNS, sizeof(double), cmp_d);
    return r[RUNS / 2];
}

static void bench(size_t size, enum mode mode, const mc_crc32c_impl_t *impls, size_t ni)
{
    cell_t cells[1 + 2 * MC_CRC32C_IMPL_COUNT];
    size_t nc = 0;

    cells[nc++] = (cell_t){.op = OP_MEMCPY};
    for (size_t i = 0; i < ni; i++) {
        cells[nc++] = (cell_t){.op = OP_CRC, .impl = impls[i]};
        cells[nc++] = (cell_t){.op = OP_COPY, .impl = impls[i]};
    }
    for (size_t c = 0; c < nc; c++) /* warm-up: pages, caches, frequency */
        (void)run(&cells[c], size, mode);
    for (int r = 0; r < RUNS; r++)
        for (size_t c = 0; c < nc; c++)
            cells[c].rate[r] = run(&cells[c], size, mode);
    double mem = median(&cells[0]);
    for (size_t i = 0; i < ni; i++) {
        double crc = median(&cells[1 + 2 * i]), copy = median(&cells[2 + 2 * i]);
        printf("| %9zu | %-4s | %6.2f | %-8s | %6.2f | %6.2f | %5.2f |\n", size, mode_names[mode],
               mem / 1e9, mc_crc32c_impl_name(impls[i]), crc / 1e9, copy / 1e9, copy / mem);
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    static const size_t sizes[] = {4u << 10, 64u << 10, 1u << 20, 4u << 20, 32u << 20};
    const char *a_span = arg(argc, argv, "--span"), *a_ms = arg(argc, argv, "--ms");
    const char *a_impl = arg(argc, argv, "--impl"), *a_size = arg(argc, argv, "--size");
    const char *a_mode = arg(argc, argv, "--mode");
    mc_crc32c_impl_t impls[MC_CRC32C_IMPL_COUNT];
    size_t ni = 0;

    if (a_span)
        span = (size_t)strtoull(a_span, NULL, 10) * MiB;
    if (a_ms)
        run_s = strtod(a_ms, NULL) / 1e3;
    if (span < 64 * MiB || run_s <= 0 ||
        (a_size && (strtoull(a_size, NULL, 10) == 0 || strtoull(a_size, NULL, 10) > span))) {
        fprintf(stderr, "--span must be >= 64 (MiB), --ms > 0, --size from 1 to --span\n");
        return 2;
    }
    printf("default implementation: %s\n", mc_crc32c_impl_name(mc_crc32c_impl_current()));
    for (int i = MC_CRC32C_SW; i < MC_CRC32C_IMPL_COUNT; i++)
        if (mc_crc32c_impl_supported((mc_crc32c_impl_t)i) &&
            (!a_impl || strcmp(a_impl, mc_crc32c_impl_name((mc_crc32c_impl_t)i)) == 0))
            impls[ni++] = (mc_crc32c_impl_t)i;
    if (ni == 0) {
        fprintf(stderr, "no such implementation on this CPU: %s\n", a_impl);
        return 2;
    }
    src_base = malloc(span);
    dst_base = malloc(span);
    if (!src_base || !dst_base) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < span; i++)
        src_base[i] = (unsigned char)(i * 131 + 7);
    memset(dst_base, 0, span);
    printf("GB/s, median of %d runs of %.0f ms; cold: --span=%zu MiB each\n\n", RUNS, run_s * 1e3,
           span / MiB);
    printf("| bytes | bufs | memcpy | impl | crc | copy+crc | copy+crc / memcpy |\n");
    printf("|---:|---|---:|---|---:|---:|---:|\n");
    for (int m = 0; m < MODE_COUNT; m++) {
        if (a_mode && strcmp(a_mode, mode_names[m]) != 0)
            continue;
        if (a_size) {
            bench((size_t)strtoull(a_size, NULL, 10), (enum mode)m, impls, ni);
            continue;
        }
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
            bench(sizes[s], (enum mode)m, impls, ni);
    }
    free(src_base);
    free(dst_base);
    return (int)(sink & 0);
}
