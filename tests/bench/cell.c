/* The bench cell harness (cell.h). */
#include "cell.h"

#include "mc/errors.h"
#include "mc/strutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LAT_CAP (1u << 20) /* latencies kept per thread, over all runs */

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *bench_arg(int argc, char **argv, const char *name)
{
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], name, n) == 0 && argv[i][n] == '=')
            return argv[i] + n + 1;
    return NULL;
}

uint64_t bench_arg_u64(int argc, char **argv, const char *name, uint64_t def)
{
    const char *v = bench_arg(argc, argv, name);
    uint64_t n;
    if (!v)
        return def;
    return mc_parse_size(v, &n) == MC_OK ? n : 0;
}

void bench_opts_from_args(int argc, char **argv, bench_opts_t *o)
{
    const char *s = bench_arg(argc, argv, "--seconds");
    uint64_t r = bench_arg_u64(argc, argv, "--runs", 3);

    if (!s || mc_parse_double(s, &o->seconds) != MC_OK || !(o->seconds > 0.0) || o->seconds > 600.0)
        o->seconds = 1.0;
    o->runs = r >= 1 && r <= BENCH_MAX_RUNS ? (int)r : 3;
}

int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct worker {
    pthread_t t;
    bench_op_fn op;
    bench_flush_fn flush;
    void *ctx;
    double start, end, units;
    double rate; /* of this run */
    uint64_t calls;
    double *lat;
    size_t nlat;
    int failed;
} worker_t;

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    double t = bench_now(), untimed = 0.0, t0;
    uint64_t n = 0;

    while (t < w->start) /* every thread starts together */
        t = bench_now();
    t0 = t;
    /* at least one call: a thread that starts after the end (a busy machine) still measures */
    while (t < w->end || n == 0) {
        double s = t;
        int rc = w->op(w->ctx, w->calls + n);
        t = bench_now();
        if (rc < 0) {
            w->failed = 1;
            break;
        }
        if (rc == 2) {
            untimed += t - s;
            if (t > w->end + 5.0) /* waited for a writer that is gone */
                break;
            continue;
        }
        if (w->nlat < LAT_CAP)
            w->lat[w->nlat++] = t - s;
        n++;
        if (rc == 1 && w->flush) {
            w->flush(w->ctx);
            double f = bench_now();
            untimed += f - t;
            t = f;
        }
    }
    w->rate = t - t0 - untimed > 0.0 ? (double)n * w->units / (t - t0 - untimed) : 0.0;
    w->calls += n;
    return NULL;
}

int bench_measure(bench_op_fn op, bench_flush_fn flush, void *const *ctxs, int threads,
                  double units, const bench_opts_t *o, bench_result_t *out)
{
    worker_t w[BENCH_MAX_THREADS];
    size_t nall = 0;
    double *all;
    int failed = 0;

    if (threads < 1 || threads > BENCH_MAX_THREADS)
        return -1;
    memset(out, 0, sizeof(*out));
    memset(w, 0, sizeof(w));
    for (int i = 0; i < threads; i++) {
        w[i].op = op;
        w[i].flush = flush;
        w[i].ctx = ctxs[i];
        w[i].units = units;
        w[i].lat = malloc(LAT_CAP * sizeof(double));
        if (!w[i].lat)
            return -1;
    }
    for (int r = 0; r < o->runs && !failed; r++) {
        double start = bench_now() + 0.002, total = 0.0;
        for (int i = 0; i < threads; i++) {
            w[i].start = start;
            w[i].end = start + o->seconds;
            if (pthread_create(&w[i].t, NULL, worker_main, &w[i]) != 0)
                return -1;
        }
        for (int i = 0; i < threads; i++) {
            pthread_join(w[i].t, NULL);
            total += w[i].rate;
            failed |= w[i].failed;
        }
        out->rate[r] = total;
        out->runs = r + 1;
    }
    for (int i = 0; i < threads; i++) {
        nall += w[i].nlat;
        out->calls += w[i].calls;
    }
    all = malloc((nall ? nall : 1) * sizeof(double));
    if (all) {
        nall = 0;
        for (int i = 0; i < threads; i++) {
            memcpy(all + nall, w[i].lat, w[i].nlat * sizeof(double));
            nall += w[i].nlat;
        }
        qsort(all, nall, sizeof(double), bench_cmp_double);
        if (nall) {
            out->p50_us = all[nall / 2] * 1e6;
            out->p99_us = all[nall * 99 / 100] * 1e6;
        }
        free(all);
    }
    for (int i = 0; i < threads; i++)
        free(w[i].lat);
    qsort(out->rate, (size_t)out->runs, sizeof(double), bench_cmp_double);
    return failed ? -1 : 0;
}

void bench_print(const char *fields, const char *unit, const bench_result_t *r)
{
    printf("{%s,\"unit\":\"%s\",\"median\":%.6g,\"min\":%.6g,\"max\":%.6g,\"runs\":[", fields, unit,
           r->rate[r->runs / 2], r->rate[0], r->rate[r->runs - 1]);
    for (int i = 0; i < r->runs; i++)
        printf("%s%.6g", i ? "," : "", r->rate[i]);
    printf("],\"p50_us\":%.1f,\"p99_us\":%.1f,\"calls\":%llu}\n", r->p50_us, r->p99_us,
           (unsigned long long)r->calls);
    fflush(stdout);
}

void bench_print_error(const char *fields, const char *why)
{
    printf("{%s,\"error\":\"%s\"}\n", fields, why);
    fflush(stdout);
}

int bench_mem_init(bench_mem_t *m, size_t size, size_t span)
{
    *m = (bench_mem_t){malloc(span), malloc(span), size, span};
    if (!m->src || !m->dst || size == 0 || size > span) {
        bench_mem_free(m);
        return -1;
    }
    memset(m->src, 1, span);
    memset(m->dst, 2, span);
    return 0;
}

void bench_mem_free(bench_mem_t *m)
{
    free(m->src);
    free(m->dst);
    m->src = m->dst = NULL;
}

int bench_op_memcpy(void *ctx, uint64_t i)
{
    bench_mem_t *m = ctx;
    size_t slots = m->span / m->size, off = (size_t)(i % slots) * m->size;
    memcpy(m->dst + off, m->src + off, m->size);
    return 0;
}

static void *tcp_sink(void *arg)
{
    bench_tcp_t *t = arg;
    uint8_t *b = malloc(t->size);

    while (b && recv(t->rx, b, t->size, MSG_WAITALL) > 0)
        ;
    free(b);
    return NULL;
}

int bench_op_tcp(void *ctx, uint64_t i)
{
    bench_tcp_t *t = ctx;
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

int bench_tcp_open(bench_tcp_t *t, size_t size)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM, 0);

    *t = (bench_tcp_t){.rx = -1, .tx = -1, .size = size, .buf = malloc(size)};
    if (!t->buf || l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(l, 1) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &len) != 0)
        goto fail;
    t->tx = socket(AF_INET, SOCK_STREAM, 0);
    if (t->tx < 0 || connect(t->tx, (struct sockaddr *)&a, sizeof(a)) != 0)
        goto fail;
    t->rx = accept(l, NULL, NULL);
    if (t->rx < 0)
        goto fail;
    close(l);
    memset(t->buf, 3, size);
    if (pthread_create(&t->sink, NULL, tcp_sink, t) != 0) {
        l = -1;
        goto fail;
    }
    return 0;
fail:
    if (l >= 0)
        close(l);
    if (t->tx >= 0)
        close(t->tx);
    if (t->rx >= 0)
        close(t->rx);
    free(t->buf);
    t->buf = NULL;
    return -1;
}

void bench_tcp_close(bench_tcp_t *t)
{
    close(t->tx);
    pthread_join(t->sink, NULL);
    close(t->rx);
    free(t->buf);
}
