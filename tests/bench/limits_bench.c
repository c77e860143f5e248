/* mc_limits_bench: the machine's limits the store is compared with, one JSON
 * line per cell (cell.h):
 *
 *   mc_limits_bench --cell=memcpy --size=BYTES [--threads=N]
 *   mc_limits_bench --cell=tcp --size=BYTES [--threads=N]    (N loopback streams)
 *   mc_limits_bench --cell=odirect_write|odirect_read --dir=DIR [--size=4MiB]
 *                   [--file_size=256MiB]
 *   common: [--seconds=1] [--runs=3]
 *
 * memcpy: each thread copies size bytes at a time over its own 64 MiB
 * working set (the span the store's read cells cycle over), so caches favour
 * neither side. tcp: each stream a connected pair on 127.0.0.1 with a sink
 * thread. odirect: sequential O_DIRECT writes (then reads) of size-byte
 * blocks over one file of file_size bytes in DIR, wrapping around; the file
 * is removed at exit. */
#include "cell.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MiB ((size_t)1 << 20)
#define SPAN (64 * MiB)

typedef struct dio {
    int fd;
    uint8_t *buf;
    size_t size, file_size;
    int write;
} dio_t;

static int op_dio(void *ctx, uint64_t i)
{
    dio_t *d = ctx;
    off_t off = (off_t)((size_t)(i % (d->file_size / d->size)) * d->size);
    ssize_t n = d->write ? pwrite(d->fd, d->buf, d->size, off) : pread(d->fd, d->buf, d->size, off);
    return n == (ssize_t)d->size ? 0 : -1;
}

static int run_dio(int argc, char **argv, const char *cell, const char *fields,
                   const bench_opts_t *o)
{
    const char *dir = bench_arg(argc, argv, "--dir");
    size_t size = (size_t)bench_arg_u64(argc, argv, "--size", 4 * MiB);
    size_t file_size = (size_t)bench_arg_u64(argc, argv, "--file_size", 256 * MiB);
    dio_t d = {.size = size, .file_size = file_size, .write = strcmp(cell, "odirect_write") == 0};
    void *ctxs[1] = {&d};
    char path[4096];
    bench_result_t r;
    int rc;

    if (!dir || size == 0 || size % 4096 || file_size < size) {
        bench_print_error(fields, "needs --dir and a size that is a multiple of 4096");
        return 2;
    }
    snprintf(path, sizeof(path), "%s/odirect-%d.bin", dir, (int)getpid());
    d.fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0600);
    if (d.fd < 0 || posix_memalign((void **)&d.buf, 4096, size) != 0) {
        bench_print_error(fields, d.fd < 0 ? "O_DIRECT open failed" : "no memory");
        return 1;
    }
    memset(d.buf, 0x5a, size);
    /* the file written once in full first: reads then read real blocks,
     * writes overwrite allocated ones (as a bucket file being refilled) */
    for (size_t off = 0; off + size <= file_size; off += size)
        if (pwrite(d.fd, d.buf, size, (off_t)off) != (ssize_t)size) {
            bench_print_error(fields, strerror(errno));
            close(d.fd);
            unlink(path);
            return 1;
        }
    fdatasync(d.fd);
    rc = bench_measure(op_dio, NULL, ctxs, 1, (double)size, o, &r);
    if (rc == 0)
        bench_print(fields, "B/s", &r);
    else
        bench_print_error(fields, "I/O failed");
    close(d.fd);
    unlink(path);
    free(d.buf);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *cell = bench_arg(argc, argv, "--cell");
    size_t size = (size_t)bench_arg_u64(argc, argv, "--size", 4 * MiB);
    uint64_t nthreads = bench_arg_u64(argc, argv, "--threads", 1);
    int threads = nthreads <= BENCH_MAX_THREADS ? (int)nthreads : 0;
    bench_opts_t o;
    bench_result_t r;
    char fields[256];
    void *ctxs[BENCH_MAX_THREADS];
    int rc = 1;

    bench_opts_from_args(argc, argv, &o);
    if (!cell || size == 0 || threads < 1 || threads > BENCH_MAX_THREADS) {
        fprintf(stderr, "usage: mc_limits_bench --cell=memcpy|tcp|odirect_write|odirect_read "
                        "[--size=N] [--threads=N] [--dir=DIR] [--seconds=S] [--runs=N]\n");
        return 2;
    }
    snprintf(fields, sizeof(fields), "\"op\":\"%s\",\"size\":%zu,\"threads\":%d", cell, size,
             threads);
    if (strncmp(cell, "odirect_", 8) == 0)
        return run_dio(argc, argv, cell, fields, &o);
    if (strcmp(cell, "memcpy") == 0) {
        bench_mem_t m[BENCH_MAX_THREADS];
        size_t span = size > SPAN / 2 ? 2 * size : SPAN;
        for (int i = 0; i < threads; i++) {
            if (bench_mem_init(&m[i], size, span) != 0)
                return 1;
            ctxs[i] = &m[i];
        }
        rc = bench_measure(bench_op_memcpy, NULL, ctxs, threads, (double)size, &o, &r);
        for (int i = 0; i < threads; i++)
            bench_mem_free(&m[i]);
    } else if (strcmp(cell, "tcp") == 0) {
        bench_tcp_t t[BENCH_MAX_THREADS];
        for (int i = 0; i < threads; i++) {
            if (bench_tcp_open(&t[i], size) != 0)
                return 1;
            ctxs[i] = &t[i];
        }
        rc = bench_measure(bench_op_tcp, NULL, ctxs, threads, (double)size, &o, &r);
        for (int i = 0; i < threads; i++)
            bench_tcp_close(&t[i]);
    } else {
        bench_print_error(fields, "unknown cell");
        return 2;
    }
    if (rc == 0)
        bench_print(fields, "B/s", &r);
    else
        bench_print_error(fields, "failed");
    return rc ? 1 : 0;
}
