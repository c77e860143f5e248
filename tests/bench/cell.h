/* The measurement harness of the bench cell programs (mc_client_bench
 * --cell, mc_limits_bench, mc_peer_bench): a cell runs an operation from
 * `threads` threads for a fixed duration, `runs` times, and prints one JSON
 * line: the median rate with its min and max over the runs, and the p50/p99
 * latency of one call over every run. bench/run.py composes the table from
 * these lines (docs/performance.md). */
#ifndef MC_BENCH_CELL_H
#define MC_BENCH_CELL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_MAX_RUNS 9
#define BENCH_MAX_THREADS 16

/* One call of the operation, on this thread's context; i counts the
 * thread's calls. Returns 0, a negative value on failure (the cell then
 * fails), 1: success, and call the flush function now, untimed (e.g. to
 * remove the keys a put cell wrote), or 2: nothing was moved (a reader
 * waiting for its writer): neither counted nor timed. */
typedef int (*bench_op_fn)(void *ctx, uint64_t i);
typedef void (*bench_flush_fn)(void *ctx);

typedef struct bench_opts {
    double seconds; /* per run */
    int runs;       /* 1..BENCH_MAX_RUNS */
} bench_opts_t;

typedef struct bench_result {
    double rate[BENCH_MAX_RUNS]; /* units per second, sorted */
    int runs;
    double p50_us, p99_us; /* per call, over every run */
    uint64_t calls;
} bench_result_t;

double bench_now(void);
/* qsort comparator of doubles, ascending. */
int bench_cmp_double(const void *a, const void *b);
/* The value of --name=VALUE in argv, or NULL. */
const char *bench_arg(int argc, char **argv, const char *name);
/* --name=N as a number (mc_parse_size: "4096", "4MiB"), def when absent, 0
 * when malformed (callers refuse 0). */
uint64_t bench_arg_u64(int argc, char **argv, const char *name, uint64_t def);
/* Fills o from --seconds= and --runs= (defaults 1 s, 3 runs). */
void bench_opts_from_args(int argc, char **argv, bench_opts_t *o);
/* Runs op on ctxs[0..threads) as described above; units: what one call
 * moves (bytes or keys). Returns 0, or -1 when a call failed. */
int bench_measure(bench_op_fn op, bench_flush_fn flush, void *const *ctxs, int threads,
                  double units, const bench_opts_t *o, bench_result_t *out);
/* Prints {<fields>,"unit":..,"median":..,"min":..,"max":..,"runs":[..],
 * "p50_us":..,"p99_us":..,"calls":..} on one line; fields is a JSON member
 * list without braces ("\"op\":\"memcpy\",\"size\":4096"). */
void bench_print(const char *fields, const char *unit, const bench_result_t *r);
/* {<fields>,"error":"<why>"}: a cell that could not run. */
void bench_print_error(const char *fields, const char *why);

/* The machine's limits, as operations for bench_measure. */
typedef struct bench_mem {
    uint8_t *src, *dst;
    size_t size, span; /* copies of size bytes walk span bytes of each buffer */
} bench_mem_t;
int bench_mem_init(bench_mem_t *m, size_t size, size_t span);
void bench_mem_free(bench_mem_t *m);
int bench_op_memcpy(void *ctx, uint64_t i);

/* One loopback TCP stream: size-byte sends, drained by a sink thread. */
typedef struct bench_tcp {
    int rx, tx;
    uint8_t *buf;
    size_t size;
    pthread_t sink;
} bench_tcp_t;
int bench_tcp_open(bench_tcp_t *t, size_t size);
void bench_tcp_close(bench_tcp_t *t);
int bench_op_tcp(void *ctx, uint64_t i);

#endif
