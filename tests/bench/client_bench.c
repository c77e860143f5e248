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
#include "mooncake_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MiB (1u << 20)
#define RUNS 3

static double seconds_per_cell = 1.0;

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
        double t0 = now_s(), end = t0 + seconds_per_cell, t = t0;

        while (t < end && n < (1u << 20)) {
            double s = now_s();
            if (op(ctx, n) != 0) {
                fprintf(stderr, "operation failed\n");
                exit(1);
            }
            t = now_s();
            lat[n++] = t - s;
        }
        c.rate[r] = (double)n * units / (t - t0);
        qsort(lat, n, sizeof(double), cmp_d);
        c.p50_us = lat[n / 2] * 1e6;
    }
    qsort(c.rate, RUNS, sizeof(double), cmp_d);
    return c;
}

static void row(const char *what, const cell_t *c, double scale, const char *unit)
{
    printf("| %s | %.2f %s (%.2f-%.2f) | %.0f |\n", what, c->rate[1] / scale, unit,
           c->rate[0] / scale, c->rate[RUNS - 1] / scale, c->p50_us);
    fflush(stdout);
}

/* ---- limits ---- */

typedef struct mem {
    uint8_t *src, *dst;
    size_t size, span;
} mem_t;

static int op_memcpy(void *ctx, uint64_t i)
{
    mem_t *m = ctx;
    size_t off = (size_t)(i * m->size) % m->span;
    memcpy(m->dst + off, m->src + off, m->size);
    return 0;
}

typedef struct tcp {
    int rx, tx;
    uint8_t *buf;
    size_t size;
} tcp_t;

static void *tcp_sink(void *arg)
{
    tcp_t *t = arg;
    uint8_t *b = malloc(t->size);
    ssize_t n;

    while ((n = recv(t->rx, b, t->size, MSG_WAITALL)) > 0)
        ;
    free(b);
    return NULL;
}

static int op_tcp(void *ctx, uint64_t i)
{
    tcp_t *t = ctx;
    size_t done = 0;

    (void)i;
    while (done < t->size) {
        ssize_t n = send(t->tx, t->buf + done, t->size - done, 0);
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

static int tcp_pair(int *rx, int *tx)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM, 0);

    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(l, 1) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &len) != 0)
        return -1;
    *tx = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(*tx, (struct sockaddr *)&a, sizeof(a)) != 0)
        return -1;
    *rx = accept(l, NULL, NULL);
    close(l);
    return *rx >= 0 ? 0 : -1;
}

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

static const char *arg(int argc, char **argv, const char *name)
{
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], name, n) == 0 && argv[i][n] == '=')
            return argv[i] + n + 1;
    return NULL;
}

int main(int argc, char **argv)
{
    const char *a = arg(argc, argv, "--a"), *b = arg(argc, argv, "--b");
    static cell_t memcpy_c, tcp_c, local_get, local_put; /* zeroed: a cell skipped by --only */
    static cell_t remote_get, remote_put, bl, br, ex;
    const char *seg_a = arg(argc, argv, "--seg_a"), *seg_b = arg(argc, argv, "--seg_b");
    const char *secs = arg(argc, argv, "--seconds");
    const char *only = arg(argc, argv, "--only"); /* "exist", "batch", "local": those cells alone */
    mooncake_client_t *ca, *cb;
    const char *pa[1] = {seg_a}, *pb[1] = {seg_b};
    mooncake_client_replicate_config_t on_a = {1, 0, 0, pa, 1}, on_b = {1, 0, 0, pb, 1};
    size_t size = 4 * MiB;
    uint8_t *shared_a, *shared_b;

    if (secs)
        seconds_per_cell = strtod(secs, NULL);
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
        mem_t m = {malloc(64 * MiB), malloc(64 * MiB), size, 64 * MiB};
        memset(m.src, 1, m.span);
        memset(m.dst, 2, m.span);
        memcpy_c = measure(op_memcpy, &m, (double)size);
        row("memcpy 4 MiB, one thread", &memcpy_c, 1e9, "GB/s");
        free(m.src);
        free(m.dst);
    }
    {
        tcp_t t = {.size = size, .buf = malloc(size)};
        pthread_t th;
        memset(t.buf, 3, size);
        if (tcp_pair(&t.rx, &t.tx) != 0)
            return 1;
        pthread_create(&th, NULL, tcp_sink, &t);
        tcp_c = measure(op_tcp, &t, (double)size);
        row("loopback TCP, one stream, 4 MiB writes", &tcp_c, 1e9, "GB/s");
        close(t.tx);
        pthread_join(th, NULL);
        close(t.rx);
        free(t.buf);
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
