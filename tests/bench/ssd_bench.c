/* mc_ssd_bench: the SSD backend (services/store/ssd) against the raw disk
 * under it, in one run (db_bench style).
 *
 *   mc_ssd_bench --dir=DIR [--mib=256] [--sizes=1048576,4194304]
 *                [--batches=8,16,32] [--durability=none,data,full]
 *                [--recovery=100000] [--reps=3]
 *
 * For every value size and batch: raw sequential O_DIRECT write and read of
 * the same bytes in batch-sized pwrite/pread calls (the disk's ceiling),
 * then for every durability level a batch write ("offload": one mc_ssd_write
 * of `batch` values) and a batch read ("load": one mc_ssd_read_batch of `batch`
 * values into aligned buffers) of --mib MiB, GB/s and p50/p99 per batch, and the share of
 * raw; "none+64" is durability none with every value 64 bytes off 4 KiB
 * alignment in memory (the segment allocator's alignment: writes through the
 * staging buffer, reads through the bounce buffer; --no-unaligned skips
 * it). Each cell runs --reps times, interleaved with the raw runs, and the
 * repetition with the median GB/s is printed. Then the recovery scan of --recovery small (64-byte) objects:
 * objects/s of mc_ssd_open. Everything lives under DIR and is deleted. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mc/crc32c.h"
#include "mc/errors.h"
#include "mc/mtime.h"
#include "mc/strutil.h"
#include "ssd.h"

#define MAXL 16

static const char *dir;
static uint64_t cell_bytes = 256ull << 20;
static uint64_t sizes[MAXL] = {1u << 20, 4u << 20}, batches[MAXL] = {8, 16, 32};
static size_t nsizes = 2, nbatches = 3;
static int durs[3] = {0, 1, 2}, ndurs = 3;
static uint64_t recovery_n = 100000;
#define MAXREPS 9
static int reps = 3;
static const char *dur_name[] = {"none", "data", "full", "none+64"};
static int unaligned = 1;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct res {
    double gbs, p50_ms, p99_ms;
} res_t;

static res_t summarize(uint64_t *lat_ns, size_t n, uint64_t bytes, uint64_t total_ns)
{
    qsort(lat_ns, n, sizeof(*lat_ns), cmp_u64);
    res_t r = {(double)bytes / (double)total_ns, (double)lat_ns[n / 2] / 1e6,
               (double)lat_ns[n * 99 / 100 < n ? n * 99 / 100 : n - 1] / 1e6};
    return r;
}

static int cmp_res(const void *a, const void *b)
{
    double x = ((const res_t *)a)->gbs, y = ((const res_t *)b)->gbs;
    return x < y ? -1 : x > y;
}

/* The repetition with the median throughput (its latencies with it). */
static res_t median(res_t *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_res);
    return v[n / 2];
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "mc_ssd_bench: %s: %d (%s)\n", what, rc, strerror(errno));
    exit(1);
}

/* Raw sequential O_DIRECT write then read of `total` bytes in `chunk`-byte calls. */
static void raw(uint64_t chunk, uint8_t *buf, res_t *w, res_t *r)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/raw.bin", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0644);
    if (fd < 0)
        die("open raw (O_DIRECT)", fd);
    size_t n = (size_t)(cell_bytes / chunk);
    uint64_t *lat = calloc(n, sizeof(*lat));
    uint64_t t0 = mc_now_ns();
    for (size_t i = 0; i < n; i++) {
        uint64_t t = mc_now_ns();
        if (pwrite(fd, buf, (size_t)chunk, (off_t)(i * chunk)) != (ssize_t)chunk)
            die("raw pwrite", -1);
        lat[i] = mc_now_ns() - t;
    }
    *w = summarize(lat, n, n * chunk, mc_now_ns() - t0);
    t0 = mc_now_ns();
    for (size_t i = 0; i < n; i++) {
        uint64_t t = mc_now_ns();
        if (pread(fd, buf, (size_t)chunk, (off_t)(i * chunk)) != (ssize_t)chunk)
            die("raw pread", -1);
        lat[i] = mc_now_ns() - t;
    }
    *r = summarize(lat, n, n * chunk, mc_now_ns() - t0);
    close(fd);
    unlink(path);
    free(lat);
}

static mc_ssd_t *open_ssd(int dur, mc_ssd_recovery_t *rep)
{
    mc_ssd_cfg_t c = {0};
    c.path = dir;
    c.cluster_id = "bench";
    c.capacity = 64ull << 30;
    c.durability = (mc_ssd_durability_t)dur;
    mc_ssd_t *s;
    int rc = mc_ssd_open(&c, &s, rep);
    if (rc != MC_OK)
        die("mc_ssd_open", rc);
    return s;
}

/* mis: offset of every value in memory from 4 KiB alignment (64: where the
 * segment allocator's 64-byte alignment puts values; writes then go through
 * the staging buffer and reads through the bounce buffer). */
static void cell(uint64_t size, uint64_t batch, int dur, size_t mis, uint8_t *buf, res_t *w,
                 res_t *r)
{
    buf += mis;
    mc_ssd_t *s = open_ssd(dur, NULL);
    size_t nb = (size_t)(cell_bytes / (size * batch));
    if (nb < 4)
        nb = 4;
    mc_ssd_item_t *it = calloc(batch, sizeof(*it));
    struct iovec *iov = calloc(batch, sizeof(*iov));
    mc_ssd_read_item_t *rd = calloc(batch, sizeof(*rd));
    char(*keys)[48] = calloc(nb * batch, 48);
    mc_ssd_loc_t *loc = calloc(nb * batch, sizeof(*loc));
    int *codes = calloc(batch, sizeof(int));
    uint32_t *crcs = calloc(batch, sizeof(*crcs));
    uint64_t *lat = calloc(nb, sizeof(*lat));
    for (size_t j = 0; j < batch; j++) {
        iov[j] = (struct iovec){buf + j * size, (size_t)size};
        crcs[j] = mc_crc32c(0, buf + j * size, (size_t)size);
    }
    uint64_t t0 = mc_now_ns();
    for (size_t i = 0; i < nb; i++) {
        for (size_t j = 0; j < batch; j++) {
            char *k = keys[i * batch + j];
            snprintf(k, 48, "bench@tp_rank:0@%zu", i * batch + j);
            it[j] = (mc_ssd_item_t){k, strlen(k), &iov[j], 1, size, crcs[j]};
        }
        uint64_t t = mc_now_ns();
        int rc = mc_ssd_write(s, it, batch, loc + i * batch, codes);
        lat[i] = mc_now_ns() - t;
        if (rc != MC_OK)
            die("mc_ssd_write", rc);
    }
    *w = summarize(lat, nb, nb * batch * size, mc_now_ns() - t0);
    t0 = mc_now_ns();
    for (size_t i = 0; i < nb; i++) {
        for (size_t j = 0; j < batch; j++) {
            const char *k = keys[i * batch + j];
            rd[j] = (mc_ssd_read_item_t){loc[i * batch + j], k, strlen(k), buf + j * size};
        }
        uint64_t t = mc_now_ns();
        int rc = mc_ssd_read_batch(s, rd, batch, codes);
        lat[i] = mc_now_ns() - t;
        if (rc != MC_OK)
            die("mc_ssd_read_batch", rc);
    }
    *r = summarize(lat, nb, nb * batch * size, mc_now_ns() - t0);
    mc_ssd_clear(s);
    mc_ssd_close(s);
    free(it);
    free(iov);
    free(rd);
    free(keys);
    free(loc);
    free(codes);
    free(crcs);
    free(lat);
}

static void recovery(void)
{
    mc_ssd_t *s = open_ssd(0, NULL);
    enum { B = 500 };
    uint8_t val[64];
    memset(val, 0x5a, sizeof(val));
    struct iovec iov = {val, sizeof(val)};
    uint32_t crc = mc_crc32c(0, val, sizeof(val));
    mc_ssd_item_t it[B];
    char keys[B][48];
    mc_ssd_loc_t loc[B];
    int codes[B];
    uint64_t t0 = mc_now_ns();
    for (uint64_t i = 0; i < recovery_n; i += B) {
        size_t n = recovery_n - i < B ? (size_t)(recovery_n - i) : B;
        for (size_t j = 0; j < n; j++) {
            snprintf(keys[j], sizeof(keys[j]), "bench-model@tp_rank:0@%08llu",
                     (unsigned long long)(i + j));
            it[j] = (mc_ssd_item_t){keys[j], strlen(keys[j]), &iov, 1, sizeof(val), crc};
        }
        int rc = mc_ssd_write(s, it, n, loc, codes);
        if (rc != MC_OK)
            die("mc_ssd_write (recovery set)", rc);
    }
    double wsec = (double)(mc_now_ns() - t0) / 1e9;
    mc_ssd_stats_t st;
    mc_ssd_stats(s, &st);
    mc_ssd_close(s);
    mc_ssd_recovery_t rep;
    t0 = mc_now_ns();
    s = open_ssd(0, &rep);
    double sec = (double)(mc_now_ns() - t0) / 1e9;
    printf("\nrecovery: %llu objects of 64 B in %llu buckets (%.0f MiB on disk, written at %.0f "
           "objects/s)\n",
           (unsigned long long)rep.records, (unsigned long long)rep.buckets,
           (double)st.used / 1048576.0, (double)recovery_n / wsec);
    printf("recovery scan (mc_ssd_open, sealed buckets: index + every record header): %.3f s, %.0f "
           "objects/s, "
           "%llu discarded\n",
           sec, (double)rep.records / sec, (unsigned long long)rep.discarded);
    mc_ssd_clear(s);
    mc_ssd_close(s);
}

static size_t parse_list(const char *s, uint64_t *out)
{
    size_t n = 0;
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", s);
    for (char *p = buf, *e; p && *p && n < MAXL; p = e ? e + 1 : NULL) {
        e = strchr(p, ',');
        if (e)
            *e = '\0';
        if (mc_parse_size(p, &out[n]) != MC_OK)
            die("bad list", -1);
        n++;
    }
    return n;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        uint64_t v;
        if (!strncmp(a, "--dir=", 6))
            dir = a + 6;
        else if (!strncmp(a, "--mib=", 6) && mc_parse_u64(a + 6, &v) == MC_OK)
            cell_bytes = v << 20;
        else if (!strncmp(a, "--sizes=", 8))
            nsizes = parse_list(a + 8, sizes);
        else if (!strncmp(a, "--batches=", 10))
            nbatches = parse_list(a + 10, batches);
        else if (!strcmp(a, "--no-unaligned"))
            unaligned = 0;
        else if (!strncmp(a, "--reps=", 7) && mc_parse_u64(a + 7, &v) == MC_OK && v >= 1 &&
                 v <= MAXREPS)
            reps = (int)v;
        else if (!strncmp(a, "--recovery=", 11) && mc_parse_u64(a + 11, &v) == MC_OK)
            recovery_n = v;
        else if (!strncmp(a, "--durability=", 13)) {
            ndurs = 0;
            for (int d = 0; d < 3; d++)
                if (strstr(a + 13, dur_name[d]))
                    durs[ndurs++] = d;
        } else {
            fprintf(stderr,
                    "usage: %s --dir=DIR [--mib=N] [--sizes=a,b] [--batches=a,b] "
                    "[--durability=none,data,full] [--recovery=N] [--reps=N]\n",
                    argv[0]);
            return 2;
        }
    }
    if (!dir)
        die("--dir is required", -1);
    uint64_t maxb = 0;
    for (size_t i = 0; i < nsizes; i++)
        for (size_t j = 0; j < nbatches; j++)
            if (sizes[i] * batches[j] > maxb)
                maxb = sizes[i] * batches[j];
    uint8_t *buf;
    maxb += 4096;
    if (posix_memalign((void **)&buf, 4096, (size_t)maxb) != 0)
        die("alloc", -1);
    for (uint64_t i = 0; i < maxb; i++)
        buf[i] = (uint8_t)(i * 2654435761u >> 13);
    printf(
        "== mc_ssd_bench: %s, %llu MiB per cell, median of %d, values in 4 KiB-aligned memory ==\n",
        dir, (unsigned long long)(cell_bytes >> 20), reps);
    printf("%-8s %-5s %6s %5s %8s %8s %8s %6s | %8s %8s %8s %6s\n", "what", "dur", "size", "batch",
           "wr GB/s", "p50 ms", "p99 ms", "%raw", "rd GB/s", "p50 ms", "p99 ms", "%raw");
    for (size_t i = 0; i < nsizes; i++)
        for (size_t j = 0; j < nbatches; j++) {
            uint64_t size = sizes[i], batch = batches[j];
            res_t rw[MAXREPS], rr[MAXREPS], w[4][MAXREPS], r[4][MAXREPS];
            for (int k = 0; k < reps; k++) { /* interleaved, so drift hits all alike */
                raw(size * batch, buf, &rw[k], &rr[k]);
                for (int d = 0; d < ndurs; d++)
                    cell(size, batch, durs[d], 0, buf, &w[d][k], &r[d][k]);
                if (unaligned)
                    cell(size, batch, 0, 64, buf, &w[3][k], &r[3][k]);
            }
            res_t RW = median(rw, reps), RR = median(rr, reps);
            printf("%-8s %-5s %5lluM %5llu %8.2f %8.2f %8.2f %6s | %8.2f %8.2f %8.2f %6s\n", "raw",
                   "-", (unsigned long long)(size >> 20), (unsigned long long)batch, RW.gbs,
                   RW.p50_ms, RW.p99_ms, "", RR.gbs, RR.p50_ms, RR.p99_ms, "");
            for (int d = 0; d < ndurs + (unaligned ? 1 : 0); d++) {
                int dd = d < ndurs ? durs[d] : 3;
                res_t W = median(w[d < ndurs ? d : 3], reps),
                      R = median(r[d < ndurs ? d : 3], reps);
                printf("%-8s %-5s %5lluM %5llu %8.2f %8.2f %8.2f %5.0f%% | %8.2f %8.2f %8.2f "
                       "%5.0f%%\n",
                       "mc_ssd", dur_name[dd], (unsigned long long)(size >> 20),
                       (unsigned long long)batch, W.gbs, W.p50_ms, W.p99_ms, 100 * W.gbs / RW.gbs,
                       R.gbs, R.p50_ms, R.p99_ms, 100 * R.gbs / RR.gbs);
            }
            fflush(stdout);
        }
    if (recovery_n)
        recovery();
    free(buf);
    char p[4096];
    snprintf(p, sizeof(p), "%s/bench", dir); /* the cluster directory, empty after clear */
    rmdir(p);
    snprintf(p, sizeof(p), "%s/lock", dir);
    unlink(p);
    return 0;
}
