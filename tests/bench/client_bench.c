/* libmooncake_client against two running store services (A and B), next to
 * the machine's limits measured in the same run: single-thread memcpy over
 * the same working set, and single-stream loopback TCP.
 *
 *   mc_client_bench --a=SOCK --b=SOCK --seg_a=HOST:PORT --seg_b=HOST:PORT [--seconds=1]
 *   mc_client_bench --a=SOCK --only=python [--seconds=1]   (bench_store.py's rows, in C)
 *
 * The client talks to A. "local" values live in A's segment (preferred
 * segment A), "remote" ones in B's (put through a client of B), so a remote
 * get_into is a data-plane READ from B into the client's shared buffer.
 * Every cell runs --seconds, three times; the median is printed, with the
 * min-max range. Prints a markdown table and the goal ratios. */
#include "cell.h"
#include "mc/errors.h"
#include "mc/strutil.h"
#include "mooncake_client.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MiB (1u << 20)
#define RUNS 3

static double seconds_per_cell = 1.0;

typedef struct cell {
    double rate[RUNS]; /* units per second */
    double p50_us;     /* of the last run */
} cell_t;

typedef int (*op_fn)(void *ctx, uint64_t i);

/* Runs op for seconds_per_cell, RUNS times; units per call (bytes or keys). */
static cell_t measure(op_fn op, void *ctx, double units)
{
    cell_t c;
    static double lat[1 << 20];

    for (int r = 0; r < RUNS; r++) {
        uint64_t n = 0;
        double t0 = bench_now(), end = t0 + seconds_per_cell, t = t0;

        while (t < end && n < (1u << 20)) {
            double s = bench_now();
            if (op(ctx, n) != 0) {
                fprintf(stderr, "operation failed\n");
                exit(1);
            }
            t = bench_now();
            lat[n++] = t - s;
        }
        c.rate[r] = (double)n * units / (t - t0);
        qsort(lat, n, sizeof(double), bench_cmp_double);
        c.p50_us = lat[n / 2] * 1e6;
    }
    qsort(c.rate, RUNS, sizeof(double), bench_cmp_double);
    return c;
}

static void row(const char *what, const cell_t *c, double scale, const char *unit)
{
    printf("| %s | %.2f %s (%.2f-%.2f) | %.0f |\n", what, c->rate[1] / scale, unit,
           c->rate[0] / scale, c->rate[RUNS - 1] / scale, c->p50_us);
    fflush(stdout);
}

/* ---- limits ---- */

/* ---- the store ---- */

typedef struct st {
    mooncake_client_t *c;
    const char *prefix;
    uint8_t *buf; /* shared (alloc_buffer) or plain memory */
    size_t size;
    uint64_t nkeys; /* keys to cycle over for reads */
    const mooncake_client_replicate_config_t *cfg;
    /* batches */
    size_t batch;
    const char **keys;
    void **ptrs;
    size_t *sizes;
    int64_t *res;
    int *ires;
} st_t;

static void key_of(const st_t *s, uint64_t i, char *k, size_t cap)
{
    snprintf(k, cap, "%s-%zu-%llu", s->prefix, s->size, (unsigned long long)i);
}

static int op_get_into(void *ctx, uint64_t i)
{
    st_t *s = ctx;
    char k[64];

    key_of(s, i % s->nkeys, k, sizeof(k));
    return mooncake_client_get_into(s->c, k, s->buf, s->size) == (int64_t)s->size ? 0 : -1;
}

/* A put of an existing key costs nothing, so every put is of a fresh key;
 * every 32 puts the keys are removed in one batch request (inside the
 * timing, amortized), so the segment never fills. */
static int op_put_from(void *ctx, uint64_t i)
{
    st_t *s = ctx;
    static char names[32][64];
    static const char *keys[32];
    static uint64_t seq; /* unique across runs and cells */
    int rc, res[32];

    (void)i;
    i = seq++;
    snprintf(names[i % 32], sizeof(names[0]), "%s-put-%zu-%llu", s->prefix, s->size,
             (unsigned long long)i);
    keys[i % 32] = names[i % 32];
    rc = mooncake_client_put_from(s->c, names[i % 32], s->buf, s->size, s->cfg);
    if (i % 32 == 31)
        mooncake_client_batch_remove(s->c, keys, 32, 1, res);
    return rc;
}

static int op_batch_get(void *ctx, uint64_t i)
{
    st_t *s = ctx;
    (void)i;
    if (mooncake_client_batch_get_into(s->c, s->keys, s->ptrs, s->sizes, s->batch, s->res) != 0)
        return -1;
    return s->res[0] == (int64_t)s->size ? 0 : -1;
}

static int op_exist(void *ctx, uint64_t i)
{
    st_t *s = ctx;
    (void)i;
    return mooncake_client_batch_is_exist(s->c, s->keys, s->batch, s->ires);
}

static void put_keys(mooncake_client_t *c, const st_t *s, uint64_t n,
                     const mooncake_client_replicate_config_t *cfg)
{
    for (uint64_t i = 0; i < n; i++) {
        char k[64];
        key_of(s, i, k, sizeof(k));
        if (mooncake_client_put_from(c, k, s->buf, s->size, cfg) != 0) {
            fprintf(stderr, "put %s failed\n", k);
            exit(1);
        }
    }
}

/* ---- the cells of clients/python/bench/bench_store.py, in C ----
 * The same calls the Python layer makes for each of its rows, so
 * scripts/bench_python.sh can put the two side by side: get = get_size +
 * get into a fresh buffer; put = put + remove(force) of a fresh key; the
 * batch rows on alloc_buffer memory; batch_is_exist of 128 keys, 64 present. */

typedef struct py {
    mooncake_client_t *c;
    size_t size, batch;
    uint8_t *plain;
    const char **keys;
    char (*names)[64];
    void **ptrs;
    size_t *sizes;
    int64_t *res;
    int *ires;
    uint64_t gen;
} py_t;

static int op_py_get(void *ctx, uint64_t i)
{
    py_t *p = ctx;
    int64_t n = mooncake_client_get_size(p->c, p->keys[0]);
    uint8_t *b = n > 0 ? malloc((size_t)n) : NULL;
    int rc = b && mooncake_client_get(p->c, p->keys[0], b, (size_t)n) == n ? 0 : -1;

    (void)i;
    free(b);
    return rc;
}

static int op_py_put(void *ctx, uint64_t i)
{
    py_t *p = ctx;
    char k[64];

    (void)i;
    snprintf(k, sizeof(k), "pyput-%zu-%llu", p->size, (unsigned long long)p->gen++);
    if (mooncake_client_put(p->c, k, p->plain, p->size, NULL) != 0)
        return -1;
    return mooncake_client_remove(p->c, k, 1);
}

static int op_py_batch_get(void *ctx, uint64_t i)
{
    py_t *p = ctx;
    (void)i;
    return mooncake_client_batch_get_into(p->c, p->keys, p->ptrs, p->sizes, p->batch, p->res);
}

static int op_py_batch_put(void *ctx, uint64_t i)
{
    py_t *p = ctx;
    const char *ks[128];
    static char fresh[128][80];

    (void)i;
    p->gen++;
    for (size_t j = 0; j < p->batch; j++) {
        snprintf(fresh[j], sizeof(fresh[j]), "%s-%llu", p->keys[j], (unsigned long long)p->gen);
        ks[j] = fresh[j];
    }
    if (mooncake_client_batch_put_from(p->c, ks, (const void *const *)p->ptrs, p->sizes, p->batch,
                                       NULL, p->ires) != 0)
        return -1;
    return mooncake_client_batch_remove(p->c, ks, p->batch, 1, p->ires);
}

static int op_py_exist(void *ctx, uint64_t i)
{
    py_t *p = ctx;
    (void)i;
    return mooncake_client_batch_is_exist(p->c, p->keys, 128, p->ires);
}

/* Rows as "| op | GB/s | p50 us |", the names bench_store.py prints. */
static int python_cells(mooncake_client_t *c)
{
    static char names[128][64];
    static const char *keys[128];
    static void *ptrs[128];
    static size_t sizes[128];
    static int64_t res[128];
    static int ires[128];
    py_t p = {.c = c,
              .keys = keys,
              .names = names,
              .ptrs = ptrs,
              .sizes = sizes,
              .res = res,
              .ires = ires};
    char what[96];

    printf("| op | GB/s | p50 us |\n|---|---|---|\n");
    for (size_t size = MiB; size <= 4 * MiB; size *= 4) {
        p.size = size;
        p.plain = malloc(size);
        memset(p.plain, 5, size);
        snprintf(names[0], sizeof(names[0]), "v%zu", size);
        keys[0] = names[0];
        if (mooncake_client_put(c, keys[0], p.plain, size, NULL) != 0)
            return 1;
        cell_t g = measure(op_py_get, &p, (double)size);
        snprintf(what, sizeof(what), "get (bytes) %zu MiB", size / MiB);
        printf("| %s | %.2f | %.0f |\n", what, g.rate[1] / 1e9, g.p50_us);
        cell_t w = measure(op_py_put, &p, (double)size);
        snprintf(what, sizeof(what), "put+remove (bytes) %zu MiB", size / MiB);
        printf("| %s | %.2f | %.0f |\n", what, w.rate[1] / 1e9, w.p50_us);
        mooncake_client_remove(c, keys[0], 1);
        for (size_t batch = 16; batch <= 128; batch *= 8) {
            uint8_t *sh =
                batch * size <= 512 * MiB ? mooncake_client_alloc_buffer(c, batch * size) : NULL;
            if (!sh)
                continue;
            memset(sh, 7, batch * size);
            p.batch = batch;
            for (size_t j = 0; j < batch; j++) {
                snprintf(names[j], sizeof(names[j]), "b%zu-%zu-%zu", size, batch, j);
                keys[j] = names[j];
                ptrs[j] = sh + j * size;
                sizes[j] = size;
            }
            if (mooncake_client_batch_put_from(c, keys, (const void *const *)ptrs, sizes, batch,
                                               NULL, ires) != 0)
                return 1;
            cell_t bg = measure(op_py_batch_get, &p, (double)(batch * size));
            printf("| batch_get_into %zu x %zu MiB | %.2f | %.0f |\n", batch, size / MiB,
                   bg.rate[1] / 1e9, bg.p50_us);
            cell_t bp = measure(op_py_batch_put, &p, (double)(batch * size));
            printf("| batch_put_from+remove %zu x %zu MiB | %.2f | %.0f |\n", batch, size / MiB,
                   bp.rate[1] / 1e9, bp.p50_us);
            mooncake_client_batch_remove(c, keys, batch, 1, ires);
            mooncake_client_free_buffer(c, sh);
        }
        free(p.plain);
    }
    for (int j = 0; j < 128; j++) {
        snprintf(names[j], sizeof(names[j]), "e%d", j);
        keys[j] = names[j];
        if (j < 64 && mooncake_client_put(c, keys[j], "x", 1, NULL) != 0)
            return 1;
    }
    cell_t e = measure(op_py_exist, &p, 1);
    printf("| batch_is_exist 128 keys | 0.00 | %.0f |\n", e.p50_us);
    mooncake_client_batch_remove(c, keys, 64, 1, ires);
    return 0;
}

/* ---- cells (--cell=OP): one JSON line each, for bench/run.py ----
 *
 *   mc_client_bench --a=SOCK --seg_a=H:P --seg_b=H:P --cell=OP --size=BYTES
 *       [--batch=1] [--where=local|remote] [--threads=1] [--seconds=1] [--runs=3]
 *       [--tag=NAME]   (prefill/decode: the shared key prefix)
 *
 * OP: get, put (plain memory, through the staging area), get_into, put_from
 * (alloc_buffer memory), batch_get_into, batch_put_from, batch_get_into_multi,
 * batch_put_from_multi (each key as min(16, size / 64 KiB) fragments),
 * get_buffer (+ release), batch_is_exist (of `batch` present keys), prefill
 * (put_from of fresh 1 MiB keys TAG-i, a window of 256 kept) and decode
 * (get_into of TAG-0, TAG-1, ... as prefill writes them, through another
 * service: --a names that one). Every thread has its own handle. "local"
 * values live in --seg_a (the service of --a), "remote" ones in --seg_b.
 * Reads cycle over min(64, 64 MiB / (size x batch)) sets of keys written
 * before the cell; puts write fresh keys, removed between calls untimed. */

enum cell_op {
    C_GET,
    C_PUT,
    C_GET_INTO,
    C_PUT_FROM,
    C_BATCH_GET,
    C_BATCH_PUT,
    C_MULTI_GET,
    C_MULTI_PUT,
    C_GET_BUFFER,
    C_EXIST,
    C_PREFILL,
    C_DECODE,
};

static const char *const cell_names[] = {
    "get",
    "put",
    "get_into",
    "put_from",
    "batch_get_into",
    "batch_put_from",
    "batch_get_into_multi",
    "batch_put_from_multi",
    "get_buffer",
    "batch_is_exist",
    "prefill",
    "decode",
};

#define PEND_MAX 4096
#define WINDOW 256

typedef struct cctx {
    mooncake_client_t *c;
    const mooncake_client_replicate_config_t *cfg;
    enum cell_op op;
    size_t size, batch, nsets, nfrag;
    char prefix[64];
    uint8_t *shared, *plain;
    char (*names)[96];
    const char **keys; /* nsets x batch read keys */
    void **ptrs;
    size_t *sizes;
    int64_t *res;
    int *ires;
    mooncake_slice_t *slices;
    const mooncake_slice_t **bufs;
    size_t *nbufs;
    /* fresh keys written, removed by the flush */
    char (*pend)[96];
    const char **pk;
    size_t npend;
    uint64_t seq, next; /* puts written / decode's next key */
    uint64_t skipped;   /* decode: keys the writer removed before they were read */
    int err;            /* the failed call's code, for the error line */
} cctx_t;

static size_t frags_of(size_t size)
{
    size_t f = size / (64 * 1024);
    return f < 1 ? 1 : f > 16 ? 16 : f;
}

/* The slices of batch keys laid out back to back in buf. */
static void set_slices(cctx_t *x, uint8_t *buf)
{
    size_t fs = x->size / x->nfrag;
    for (size_t j = 0; j < x->batch; j++) {
        for (size_t f = 0; f < x->nfrag; f++) {
            size_t len = f + 1 == x->nfrag ? x->size - fs * f : fs;
            x->slices[j * x->nfrag + f] = (mooncake_slice_t){buf + j * x->size + f * fs, len};
        }
        x->bufs[j] = &x->slices[j * x->nfrag];
        x->nbufs[j] = x->nfrag;
        x->ptrs[j] = buf + j * x->size;
        x->sizes[j] = x->size;
    }
}

static int check_res(const cctx_t *x, int rc)
{
    if (rc != 0)
        return -1;
    for (size_t j = 0; j < x->batch; j++)
        if (x->res[j] != (int64_t)x->size)
            return -1;
    return 0;
}

static int check_ires(const cctx_t *x, int rc)
{
    if (rc != 0)
        return -1;
    for (size_t j = 0; j < x->batch; j++)
        if (x->ires[j] != 0)
            return -1;
    return 0;
}

static void flush_puts(void *ctx)
{
    cctx_t *x = ctx;
    int *r = malloc(PEND_MAX * sizeof(int));
    if (r && x->npend)
        mooncake_client_batch_remove(x->c, x->pk, x->npend, 1, r);
    free(r);
    x->npend = 0;
}

/* Names the batch's fresh keys; 1 when the flush should run after the call. */
static const char **fresh_keys(cctx_t *x)
{
    const char **ks = x->pk + x->npend;
    for (size_t j = 0; j < x->batch; j++) {
        snprintf(x->pend[x->npend], sizeof(x->pend[0]), "%s-w-%llu", x->prefix,
                 (unsigned long long)x->seq++);
        x->pk[x->npend] = x->pend[x->npend];
        x->npend++;
    }
    return ks;
}

static int after_put(const cctx_t *x)
{
    /* remove before 128 MiB of fresh values pile up, or the list fills */
    return (x->npend + x->batch > PEND_MAX || (x->npend + x->batch) * x->size > 128 * MiB) ? 1 : 0;
}

static int op_cell_do(cctx_t *x, uint64_t i);

static int op_cell(void *ctx, uint64_t i)
{
    cctx_t *x = ctx;
    int rc = op_cell_do(x, i);
    if (rc < 0 && !x->err)
        x->err = rc < -1 ? rc : -1;
    return rc;
}

static int op_cell_do(cctx_t *x, uint64_t i)
{
    size_t set = (size_t)(i % x->nsets);
    const char *const *rk = x->keys + set * x->batch;
    const char **ks;
    int rc;

    switch (x->op) {
    case C_GET:
        return mooncake_client_get(x->c, rk[0], x->plain, x->size) == (int64_t)x->size ? 0 : -1;
    case C_GET_INTO:
        return mooncake_client_get_into(x->c, rk[0], x->shared, x->size) == (int64_t)x->size ? 0
                                                                                             : -1;
    case C_GET_BUFFER: {
        mooncake_client_buffer_t *b = NULL;
        int64_t n = mooncake_client_get_buffer(x->c, rk[0], &b);
        mooncake_client_release_buffer(b);
        return n == (int64_t)x->size ? 0 : -1;
    }
    case C_BATCH_GET:
        return check_res(
            x, mooncake_client_batch_get_into(x->c, rk, x->ptrs, x->sizes, x->batch, x->res));
    case C_MULTI_GET:
        return check_res(x, mooncake_client_batch_get_into_multi_buffers(
                                x->c, rk, x->bufs, x->nbufs, x->batch, x->res));
    case C_EXIST:
        rc = mooncake_client_batch_is_exist(x->c, rk, x->batch, x->ires);
        return rc == 0 && x->ires[0] == 1 ? 0 : -1;
    case C_PUT:
        ks = fresh_keys(x);
        rc = mooncake_client_put(x->c, ks[0], x->plain, x->size, x->cfg);
        return rc == 0 ? after_put(x) : -1;
    case C_PUT_FROM:
        ks = fresh_keys(x);
        rc = mooncake_client_put_from(x->c, ks[0], x->shared, x->size, x->cfg);
        return rc == 0 ? after_put(x) : -1;
    case C_BATCH_PUT:
        ks = fresh_keys(x);
        rc = mooncake_client_batch_put_from(x->c, ks, (const void *const *)x->ptrs, x->sizes,
                                            x->batch, x->cfg, x->ires);
        return check_ires(x, rc) == 0 ? after_put(x) : -1;
    case C_MULTI_PUT:
        ks = fresh_keys(x);
        rc = mooncake_client_batch_put_from_multi_buffers(x->c, ks, x->bufs, x->nbufs, x->batch,
                                                          x->cfg, x->ires);
        return check_ires(x, rc) == 0 ? after_put(x) : -1;
    case C_PREFILL: {
        char k[96];
        snprintf(k, sizeof(k), "%s-%llu", x->prefix, (unsigned long long)x->seq);
        rc = mooncake_client_put_from(x->c, k, x->shared, x->size, x->cfg);
        if (rc != 0)
            return -1;
        if (x->seq >= WINDOW) {
            snprintf(k, sizeof(k), "%s-%llu", x->prefix, (unsigned long long)(x->seq - WINDOW));
            mooncake_client_remove(x->c, k, 1);
        }
        x->seq++;
        return 0;
    }
    case C_DECODE: {
        char k[96];
        int64_t n;
        snprintf(k, sizeof(k), "%s-%llu", x->prefix, (unsigned long long)x->next);
        n = mooncake_client_get_into(x->c, k, x->shared, x->size);
        if (n == (int64_t)x->size) {
            x->next++;
            return 0;
        }
        if (n == -703 || n == -712) { /* REPLICA_IS_NOT_READY, REPLICA_IS_GONE: mid-put/remove */
            usleep(100);
            return 2;
        }
        if (n != -704) { /* OBJECT_NOT_FOUND: not written yet, or already dropped */
            x->err = (int)n;
            return -1;
        }
        snprintf(k, sizeof(k), "%s-%llu", x->prefix, (unsigned long long)(x->next + 1));
        if (mooncake_client_is_exist(x->c, k) == 1) { /* fell behind the window */
            x->next += WINDOW / 2;
            x->skipped++;
        } else {
            usleep(100);
        }
        return 2;
    }
    }
    return -1;
}

static int cell_prepare(cctx_t *x, int t, const char *sock, size_t shared_len)
{
    size_t nkeys;
    int rc = mooncake_client_connect(sock, 64 * MiB, &x->c);

    if (rc != 0)
        return rc;
    x->shared = mooncake_client_alloc_buffer(x->c, shared_len);
    x->plain = malloc(x->size);
    nkeys = x->nsets * x->batch;
    x->names = calloc(nkeys, sizeof(*x->names));
    x->keys = calloc(nkeys, sizeof(*x->keys));
    x->ptrs = calloc(x->batch, sizeof(*x->ptrs));
    x->sizes = calloc(x->batch, sizeof(*x->sizes));
    x->res = calloc(x->batch, sizeof(*x->res));
    x->ires = calloc(x->batch, sizeof(*x->ires));
    x->slices = calloc(x->batch * x->nfrag, sizeof(*x->slices));
    x->bufs = calloc(x->batch, sizeof(*x->bufs));
    x->nbufs = calloc(x->batch, sizeof(*x->nbufs));
    x->pend = calloc(PEND_MAX, sizeof(*x->pend));
    x->pk = calloc(PEND_MAX, sizeof(*x->pk));
    if (!x->shared || !x->plain || !x->names || !x->keys || !x->ptrs || !x->sizes || !x->res ||
        !x->ires || !x->slices || !x->bufs || !x->nbufs || !x->pend || !x->pk)
        return -1;
    for (size_t j = 0; j < shared_len; j += 4096)
        x->shared[j] = (uint8_t)(j >> 12) ^ (uint8_t)t;
    memset(x->plain, 0x3c, x->size);
    set_slices(x, x->shared);
    for (size_t k = 0; k < nkeys; k++) {
        snprintf(x->names[k], sizeof(x->names[0]), "%s-r-%zu", x->prefix, k);
        x->keys[k] = x->names[k];
    }
    if (x->op == C_PUT || x->op == C_PUT_FROM || x->op == C_BATCH_PUT || x->op == C_MULTI_PUT ||
        x->op == C_PREFILL || x->op == C_DECODE)
        return 0;
    for (size_t s = 0; s < x->nsets; s++) { /* the read sets, untimed */
        const char *const *ks = x->keys + s * x->batch;
        size_t n = x->op == C_EXIST ? 1 : x->batch; /* exist needs no bytes: one slot reused */
        for (size_t j = 0; j < x->batch; j++) {
            x->ptrs[j] = x->shared + (j % n) * x->size;
            x->sizes[j] = x->size;
        }
        rc = mooncake_client_batch_put_from(x->c, ks, (const void *const *)x->ptrs, x->sizes,
                                            x->batch, x->cfg, x->ires);
        if (rc != 0 || check_ires(x, 0) != 0) {
            x->err = rc ? rc : x->ires[0];
            for (size_t j = 0; j < x->batch && !x->err; j++)
                x->err = x->ires[j];
            return -2;
        }
    }
    set_slices(x, x->shared);
    return 0;
}

static void cell_cleanup(cctx_t *x)
{
    if (!x->c)
        return;
    flush_puts(x);
    if (x->keys && x->op != C_PUT && x->op != C_PUT_FROM && x->op != C_BATCH_PUT &&
        x->op != C_MULTI_PUT && x->op != C_PREFILL && x->op != C_DECODE) {
        int *r = malloc(PEND_MAX * sizeof(int));
        for (size_t k = 0; r && k < x->nsets * x->batch; k += PEND_MAX) {
            size_t n = x->nsets * x->batch - k;
            mooncake_client_batch_remove(x->c, x->keys + k, n < PEND_MAX ? n : PEND_MAX, 1, r);
        }
        free(r);
    }
    if (x->op == C_PREFILL)
        for (uint64_t k = x->seq > WINDOW ? x->seq - WINDOW : 0; k < x->seq; k++) {
            char key[96];
            snprintf(key, sizeof(key), "%s-%llu", x->prefix, (unsigned long long)k);
            mooncake_client_remove(x->c, key, 1);
        }
    mooncake_client_close(x->c); /* frees its shared buffers */
    free(x->plain);
    free(x->names);
    free(x->keys);
    free(x->ptrs);
    free(x->sizes);
    free(x->res);
    free(x->ires);
    free(x->slices);
    free(x->bufs);
    free(x->nbufs);
    free(x->pend);
    free(x->pk);
}

static int run_cell(int argc, char **argv)
{
    const char *op_s = bench_arg(argc, argv, "--cell"), *a = bench_arg(argc, argv, "--a");
    const char *seg_a = bench_arg(argc, argv, "--seg_a"), *seg_b = bench_arg(argc, argv, "--seg_b");
    const char *where = bench_arg(argc, argv, "--where"), *tag = bench_arg(argc, argv, "--tag");
    size_t size = (size_t)bench_arg_u64(argc, argv, "--size", MiB);
    size_t batch = (size_t)bench_arg_u64(argc, argv, "--batch", 1);
    uint64_t nthreads = bench_arg_u64(argc, argv, "--threads", 1);
    int threads = nthreads <= BENCH_MAX_THREADS ? (int)nthreads : 0;
    static cctx_t x[BENCH_MAX_THREADS];
    void *ctxs[BENCH_MAX_THREADS];
    const char *seg;
    const char *pref[1];
    mooncake_client_replicate_config_t cfg = {1, 0, 0, pref, 1};
    enum cell_op op = C_GET;
    bench_opts_t o;
    bench_result_t r;
    char fields[320];
    size_t nsets, shared_len;
    int found = 0, rc = 0;

    bench_opts_from_args(argc, argv, &o);
    for (size_t k = 0; k < sizeof(cell_names) / sizeof(cell_names[0]); k++)
        if (strcmp(op_s, cell_names[k]) == 0) {
            op = (enum cell_op)k;
            found = 1;
        }
    if (!where)
        where = "local";
    seg = strcmp(where, "remote") == 0 ? seg_b : seg_a;
    snprintf(fields, sizeof(fields),
             "\"client\":\"c\",\"op\":\"%s\",\"size\":%zu,\"batch\":%zu,\"where\":\"%s\","
             "\"threads\":%d",
             op_s, size, batch, where, threads);
    if (!found || !a || !seg || size == 0 || batch == 0 || batch > 4096 || threads < 1 ||
        threads > BENCH_MAX_THREADS || size * batch > 512 * MiB) {
        bench_print_error(fields, "bad arguments (see client_bench.c)");
        return 2;
    }
    if (op == C_GET || op == C_PUT || op == C_GET_INTO || op == C_PUT_FROM || op == C_GET_BUFFER ||
        op == C_PREFILL || op == C_DECODE)
        batch = 1;
    pref[0] = seg;
    nsets = 64 * MiB / (size * batch);
    nsets = nsets < 1 ? 1 : nsets > 64 ? 64 : nsets;
    if (op == C_PREFILL || op == C_DECODE)
        nsets = 1;
    shared_len = size * batch;
    for (int t = 0; t < threads; t++) {
        x[t] = (cctx_t){.cfg = &cfg,
                        .op = op,
                        .size = size,
                        .batch = batch,
                        .nsets = nsets,
                        .nfrag = (op == C_MULTI_GET || op == C_MULTI_PUT) ? frags_of(size) : 1};
        if (op == C_PREFILL || op == C_DECODE)
            snprintf(x[t].prefix, sizeof(x[t].prefix), "%s", tag ? tag : "sc");
        else
            snprintf(x[t].prefix, sizeof(x[t].prefix), "cb%d-%d-%s-%zu-%zu", (int)getpid(), t, op_s,
                     size, batch);
        rc = cell_prepare(&x[t], t, a, shared_len);
        if (rc != 0) {
            char why[96];
            snprintf(why, sizeof(why), "%s (%s)",
                     rc == -2 ? "writing the read set failed" : "cannot connect",
                     mooncake_client_strerror(rc == -2 ? x[t].err : rc));
            bench_print_error(fields, why);
            break;
        }
        ctxs[t] = &x[t];
    }
    if (rc == 0) {
        double units = op == C_EXIST ? (double)batch : (double)(size * batch);
        rc = bench_measure(op_cell, flush_puts, ctxs, threads, units, &o, &r);
        if (rc == 0) {
            if (op == C_DECODE) {
                size_t n = strlen(fields);
                snprintf(fields + n, sizeof(fields) - n, ",\"skipped\":%llu",
                         (unsigned long long)x[0].skipped);
            }
            bench_print(fields, op == C_EXIST ? "keys/s" : "B/s", &r);
        } else {
            char why[64];
            int code = 0;
            for (int t = 0; t < threads; t++)
                code = x[t].err ? x[t].err : code;
            snprintf(why, sizeof(why), "a call failed (%s)", mooncake_client_strerror(code));
            bench_print_error(fields, why);
        }
    }
    for (int t = 0; t < threads; t++)
        cell_cleanup(&x[t]);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *a = bench_arg(argc, argv, "--a"), *b = bench_arg(argc, argv, "--b");
    static cell_t memcpy_c, tcp_c, local_get, local_put; /* zeroed: a cell skipped by --only */
    static cell_t remote_get, remote_put, bl, br, ex;
    const char *seg_a = bench_arg(argc, argv, "--seg_a"), *seg_b = bench_arg(argc, argv, "--seg_b");
    const char *secs = bench_arg(argc, argv, "--seconds");
    const char *only =
        bench_arg(argc, argv, "--only"); /* "exist", "batch", "local": those cells alone */
    mooncake_client_t *ca, *cb;
    const char *pa[1] = {seg_a}, *pb[1] = {seg_b};
    mooncake_client_replicate_config_t on_a = {1, 0, 0, pa, 1}, on_b = {1, 0, 0, pb, 1};
    size_t size = 4 * MiB;
    uint8_t *shared_a, *shared_b;

    if (bench_arg(argc, argv, "--cell"))
        return run_cell(argc, argv);
    if (secs && mc_parse_double(secs, &seconds_per_cell) != MC_OK)
        seconds_per_cell = 1.0;
    if (a && only && strcmp(only, "python") == 0) { /* one service is enough */
        if (mooncake_client_connect(a, 64 * MiB, &ca) != 0)
            return 1;
        int rc = python_cells(ca);
        mooncake_client_close(ca);
        return rc;
    }
    if (!a || !b || !seg_a || !seg_b) {
        fprintf(stderr, "usage: %s --a=SOCK --b=SOCK --seg_a=H:P --seg_b=H:P [--seconds=1]\n",
                argv[0]);
        return 2;
    }
    if (mooncake_client_connect(a, 64 * MiB, &ca) != 0 ||
        mooncake_client_connect(b, 64 * MiB, &cb) != 0) {
        fprintf(stderr, "cannot connect\n");
        return 1;
    }
    shared_a = mooncake_client_alloc_buffer(ca, 128 * MiB);
    shared_b = mooncake_client_alloc_buffer(cb, 8 * MiB);
    if (!shared_a || !shared_b)
        return 1;
    memset(shared_a, 7, 128 * MiB);
    memset(shared_b, 9, 8 * MiB);
    printf("| measurement | rate (min-max) | p50 us |\n|---|---|---|\n");
    if (only && strcmp(only, "local") != 0)
        goto cells;
    if (only)
        goto local;
    {
        /* the same working set the store reads from: 16 values of 4 MiB */
        bench_mem_t m;
        if (bench_mem_init(&m, size, 64 * MiB) != 0)
            return 1;
        memcpy_c = measure(bench_op_memcpy, &m, (double)size);
        row("memcpy 4 MiB, one thread", &memcpy_c, 1e9, "GB/s");
        bench_mem_free(&m);
    }
    {
        bench_tcp_t t;
        if (bench_tcp_open(&t, size) != 0)
            return 1;
        tcp_c = measure(bench_op_tcp, &t, (double)size);
        row("loopback TCP, one stream, 4 MiB writes", &tcp_c, 1e9, "GB/s");
        bench_tcp_close(&t);
    }
local : {
    st_t s = {.c = ca, .prefix = "loc", .buf = shared_a, .size = size, .nkeys = 16, .cfg = &on_a};
    put_keys(ca, &s, 16, &on_a);
    s.buf = shared_a + 64 * MiB;
    local_get = measure(op_get_into, &s, (double)size);
    row("get_into 4 MiB, local segment", &local_get, 1e9, "GB/s");
    local_put = measure(op_put_from, &s, (double)size);
    row("put_from 4 MiB, local segment", &local_put, 1e9, "GB/s");
    for (int i = 0; i < 16; i++) {
        char k[64];
        key_of(&s, (uint64_t)i, k, sizeof(k));
        mooncake_client_remove(ca, k, 1);
    }
    if (only)
        return 0; /* --only=local: the local cells alone (profiling) */
}
    {
        st_t s = {
            .c = ca, .prefix = "rem", .buf = shared_b, .size = size, .nkeys = 1, .cfg = &on_b};
        put_keys(cb, &s, 1, &on_b); /* lives on B */
        s.buf = shared_a + 64 * MiB;
        remote_get = measure(op_get_into, &s, (double)size);
        row("get_into 4 MiB, remote segment", &remote_get, 1e9, "GB/s");
        remote_put = measure(op_put_from, &s, (double)size);
        row("put_from 4 MiB, remote segment", &remote_put, 1e9, "GB/s");
    }
cells:
    for (int remote = 0; remote < 2; remote++) {
        static char names[128][64];
        const char *keys[128];
        void *ptrs[128];
        size_t sizes[128];
        int64_t res[128];
        int ires[128];
        st_t s = {.c = ca,
                  .prefix = remote ? "brem" : "bloc",
                  .size = 4096,
                  .batch = 128,
                  .keys = keys,
                  .ptrs = ptrs,
                  .sizes = sizes,
                  .res = res,
                  .ires = ires,
                  .buf = remote ? shared_b : shared_a};
        for (int i = 0; i < 128; i++) {
            key_of(&s, (uint64_t)i, names[i], sizeof(names[i]));
            keys[i] = names[i];
            ptrs[i] = shared_a + 64 * MiB + (size_t)i * 4096;
            sizes[i] = 4096;
        }
        put_keys(remote ? cb : ca, &s, 128, remote ? &on_b : &on_a);
        if (only && strcmp(only, "exist") == 0) {
            ex = measure(op_exist, &s, 128);
            row("batch_is_exist 128 keys", &ex, 1e3, "k keys/s");
            return 0;
        }
        if (only) {
            bl = measure(op_batch_get, &s, 128);
            row("batch_get_into 128 x 4 KiB, local", &bl, 1e3, "k keys/s");
            return 0;
        }
        if (remote) {
            br = measure(op_batch_get, &s, 128);
            row("batch_get_into 128 x 4 KiB, remote", &br, 1e3, "k keys/s");
        } else {
            bl = measure(op_batch_get, &s, 128);
            row("batch_get_into 128 x 4 KiB, local", &bl, 1e3, "k keys/s");
            ex = measure(op_exist, &s, 128);
            row("batch_is_exist 128 keys", &ex, 1e3, "k keys/s");
        }
    }
    printf("\ngoals (median ratios): local get_into 4 MiB / memcpy = %.2f (>= 0.7); "
           "local put_from / memcpy = %.2f (>= 0.7);\nremote get_into 4 MiB / loopback TCP = "
           "%.2f (>= 0.8); batch-128 4 KiB local %.0f keys/s (>= 300000), remote %.0f keys/s "
           "(>= 100000);\nbatch_is_exist 128 keys p50 %.0f us (<= 100)\n",
           local_get.rate[1] / memcpy_c.rate[1], local_put.rate[1] / memcpy_c.rate[1],
           remote_get.rate[1] / tcp_c.rate[1], bl.rate[1], br.rate[1], ex.p50_us);
    (void)remote_put;
    mooncake_client_close(ca);
    mooncake_client_close(cb);
    return 0;
}
