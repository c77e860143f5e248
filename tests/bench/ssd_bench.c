/* mc_ssd_bench: the SSD backend (services/store/ssd) against the raw disk
 * under it, in one run (db_bench style).
 *
 *   mc_ssd_bench --dir=DIR [--mib=256] [--sizes=1048576,4194304]
 *                [--batches=8,16,32] [--durability=none,data,full]
 *                [--recovery=100000]
 *
 * For every value size and batch: raw sequential O_DIRECT write and read of
 * the same bytes in batch-sized pwrite/pread calls (the disk's ceiling),
 * then for every durability level a batch write ("offload": one mc_ssd_write
 * of `batch` values) and a batch read ("load": `batch` mc_ssd_read calls into
 * aligned buffers) of --mib MiB, GB/s and p50/p99 per batch, and the share of
 * raw. Then the recovery scan of --recovery small (64-byte) objects:
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
static const char *dur_name[] = {"none", "data", "full"};

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

static void cell(uint64_t size, uint64_t batch, int dur, uint8_t *buf, res_t *w, res_t *r)
{
    mc_ssd_t *s = open_ssd(dur, NULL);
    size_t nb = (size_t)(cell_bytes / (size * batch));
    if (nb < 4)
        nb = 4;
    mc_ssd_item_t *it = calloc(batch, sizeof(*it));
    struct iovec *iov = calloc(batch, sizeof(*iov));
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
        uint64_t t = mc_now_ns();
        for (size_t j = 0; j < batch; j++) {
            const char *k = keys[i * batch + j];
            int rc = mc_ssd_read(s, &loc[i * batch + j], k, strlen(k), buf + j * size, size);
            if (rc != MC_OK)
                die("mc_ssd_read", rc);
        }
        lat[i] = mc_now_ns() - t;
    }
    *r = summarize(lat, nb, nb * batch * size, mc_now_ns() - t0);
    mc_ssd_clear(s);
    mc_ssd_close(s);
    free(it);
    free(iov);
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
                    "[--durability=none,data,full] [--recovery=N]\n",
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
    if (posix_memalign((void **)&buf, 4096, (size_t)maxb) != 0)
        die("alloc", -1);
    for (uint64_t i = 0; i < maxb; i++)
        buf[i] = (uint8_t)(i * 2654435761u >> 13);
    printf("== mc_ssd_bench: %s, %llu MiB per cell, values from 4 KiB-aligned memory ==\n", dir,
           (unsigned long long)(cell_bytes >> 20));
    printf("%-8s %-5s %6s %5s %8s %8s %8s %6s | %8s %8s %8s %6s\n", "what", "dur", "size", "batch",
           "wr GB/s", "p50 ms", "p99 ms", "%raw", "rd GB/s", "p50 ms", "p99 ms", "%raw");
    for (size_t i = 0; i < nsizes; i++)
        for (size_t j = 0; j < nbatches; j++) {
            uint64_t size = sizes[i], batch = batches[j];
            res_t rw, rr;
            raw(size * batch, buf, &rw, &rr);
            printf("%-8s %-5s %5lluM %5llu %8.2f %8.2f %8.2f %6s | %8.2f %8.2f %8.2f %6s\n", "raw",
                   "-", (unsigned long long)(size >> 20), (unsigned long long)batch, rw.gbs,
                   rw.p50_ms, rw.p99_ms, "", rr.gbs, rr.p50_ms, rr.p99_ms, "");
            for (int d = 0; d < ndurs; d++) {
                res_t w, r;
                cell(size, batch, durs[d], buf, &w, &r);
                printf("%-8s %-5s %5lluM %5llu %8.2f %8.2f %8.2f %5.0f%% | %8.2f %8.2f %8.2f "
                       "%5.0f%%\n",
                       "mc_ssd", dur_name[durs[d]], (unsigned long long)(size >> 20),
                       (unsigned long long)batch, w.gbs, w.p50_ms, w.p99_ms, 100 * w.gbs / rw.gbs,
                       r.gbs, r.p50_ms, r.p99_ms, 100 * r.gbs / rr.gbs);
            }
            fflush(stdout);
        }
    if (recovery_n)
        recovery();
    free(buf);
    char p[4096];
    snprintf(p, sizeof(p), "%s/bench", dir);
    rmdir(p);
    return 0;
}
