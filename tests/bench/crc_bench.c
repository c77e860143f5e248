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
 * of all cells in turn; within a run, the operation and memcpy alternate in
 * batches of ~256 KiB, and the ratio column is the median over those batch
 * pairs of memcpy's time / copy+crc's, so that a load from elsewhere on the
 * machine hits both alike (the memcpy column: memcpy's median next to
 * copy+crc).
 *
 *   mc_crc_bench [--span=MiB] [--ms=N] [--impl=NAME] [--size=BYTES] [--mode=hot|cold|get|put]
 * (--size: that one size, any from 1 byte to --span)
 */
#include "mc/crc32c.h"
#include "mc/crc32c_impl.h"
#include "mc/errors.h"
#include "mc/mtime.h"
#include "mc/strutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUNS 5
#define MiB ((size_t)1 << 20)

enum op { OP_CRC, OP_COPY };
enum mode { MODE_HOT, MODE_COLD, MODE_GET, MODE_PUT, MODE_COUNT };
static const char *const mode_names[MODE_COUNT] = {"hot", "cold", "get", "put"};

/* mc_crc32c or mc_crc32c_copy of one implementation, each run next to
 * memcpy: seconds of each over the same bytes. */
#define MAX_PAIRS 4096 /* batch pairs kept per cell */

typedef struct cell {
    enum op op;
    mc_crc32c_impl_t impl;
    double t_op[RUNS], t_mem[RUNS], bytes[RUNS];
    double pair[MAX_PAIRS]; /* memcpy's time / the operation's, per batch pair */
    size_t npair;
} cell_t;

static unsigned char *src_base, *dst_base;
static size_t span = 512 * MiB;
static double run_s = 0.030;
static volatile uint32_t sink;

static double now_s(void)
{
    return (double)mc_now_ns() / 1e9;
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

/* The source and destination of call n: in cold, get and put modes the
 * rotating one(s) step through one half of the span (memcpy through the
 * other), so that neither finds what the other just touched in the caches. */
static void bufs(size_t size, enum mode mode, size_t n, int half, unsigned char **s,
                 unsigned char **d)
{
    size_t slots = span / size, h = slots >= 2 ? slots / 2 : 1;
    size_t at = (n % h + (slots >= 2 ? (size_t)half * h : 0)) * size;

    *s = src_base + (mode == MODE_COLD || mode == MODE_GET ? at : 0);
    *d = dst_base + (mode == MODE_COLD || mode == MODE_PUT ? at : 0);
}

/* One run of a cell: batches of about 256 KiB of memcpy and of the cell's
 * operation in turn, for run_s in all, so that a load from elsewhere (other
 * processes on this machine) hits both alike. */
static void run(cell_t *c, int r, size_t size, enum mode mode)
{
    size_t batch = size >= (256u << 10) ? 1 : (256u << 10) / size, n = 0;
    double tm = 0, tx = 0;
    uint32_t acc = 0;
    unsigned char *s, *d;

    mc_crc32c_impl_force(c->impl);
    while (tm + tx < run_s) {
        double t0 = now_s();
        for (size_t k = 0; k < batch; k++) {
            bufs(size, mode, n + k, 0, &s, &d);
            memcpy(d, s, size);
        }
        double t1 = now_s();
        for (size_t k = 0; k < batch; k++) {
            bufs(size, mode, n + k, 1, &s, &d);
            acc ^= c->op == OP_CRC ? mc_crc32c(0, s, size) : mc_crc32c_copy(0, d, s, size);
        }
        double t2 = now_s();
        tm += t1 - t0;
        tx += t2 - t1;
        n += batch;
        if (c->npair < MAX_PAIRS)
            c->pair[c->npair++] = (t1 - t0) / (t2 - t1);
    }
    sink ^= acc;
    c->t_mem[r] = tm;
    c->t_op[r] = tx;
    c->bytes[r] = (double)n * (double)size;
}

static double median(const double *v)
{
    double r[RUNS];
    memcpy(r, v, sizeof(r));
    qsort(r, RUNS, sizeof(double), cmp_d);
    return r[RUNS / 2];
}

/* Of the RUNS runs of c: the median rates (bytes/s) of memcpy and of the
 * operation, and the median ratio of their speeds over the batch pairs. */
static void rates(cell_t *c, double *mem, double *op, double *ratio)
{
    double m[RUNS], o[RUNS];
    for (int r = 0; r < RUNS; r++) {
        m[r] = c->bytes[r] / c->t_mem[r];
        o[r] = c->bytes[r] / c->t_op[r];
    }
    *mem = median(m);
    *op = median(o);
    qsort(c->pair, c->npair, sizeof(double), cmp_d);
    *ratio = c->npair ? c->pair[c->npair / 2] : 0;
}

static void bench(size_t size, enum mode mode, const mc_crc32c_impl_t *impls, size_t ni)
{
    cell_t cells[2 * MC_CRC32C_IMPL_COUNT];
    size_t nc = 0;

    for (size_t i = 0; i < ni; i++) {
        cells[nc++] = (cell_t){.op = OP_CRC, .impl = impls[i]};
        cells[nc++] = (cell_t){.op = OP_COPY, .impl = impls[i]};
    }
    for (size_t c = 0; c < nc; c++) { /* warm-up: pages, caches, frequency */
        run(&cells[c], 0, size, mode);
        cells[c].npair = 0;
    }
    for (int r = 0; r < RUNS; r++)
        for (size_t c = 0; c < nc; c++)
            run(&cells[c], r, size, mode);
    for (size_t i = 0; i < ni; i++) {
        double mem, crc, copy, ratio, unused;
        rates(&cells[2 * i], &unused, &crc, &unused);
        rates(&cells[2 * i + 1], &mem, &copy, &ratio);
        printf("| %9zu | %-4s | %6.2f | %-8s | %6.2f | %6.2f | %5.2f |\n", size, mode_names[mode],
               mem / 1e9, mc_crc32c_impl_name(impls[i]), crc / 1e9, copy / 1e9, ratio);
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

    uint64_t span_mib = span / MiB, one_size = 0;
    double ms = run_s * 1e3;
    if ((a_span && mc_parse_u64(a_span, &span_mib) != MC_OK) ||
        (a_ms && mc_parse_double(a_ms, &ms) != MC_OK) ||
        (a_size && mc_parse_u64(a_size, &one_size) != MC_OK) || span_mib < 64 ||
        span_mib > (1u << 16) || !(ms > 0 && ms <= 60000) || (a_size && one_size == 0) ||
        one_size > span_mib * MiB) {
        fprintf(stderr, "--span from 64 to 65536 (MiB), --ms from 0 to 60000, --size from 1 "
                        "to --span bytes\n");
        return 2;
    }
    span = (size_t)span_mib * MiB;
    run_s = ms / 1e3;
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
            bench((size_t)one_size, (enum mode)m, impls, ni);
            continue;
        }
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
            bench(sizes[s], (enum mode)m, impls, ni);
    }
    free(src_base);
    free(dst_base);
    return (int)(sink & 0);
}
