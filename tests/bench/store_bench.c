/* REST throughput of mooncake_store_service: PUT and GET GB/s for given
 * value sizes, through keep-alive connections (mc_http_client pools them),
 * from `threads` concurrent clients, each phase bounded by --seconds.
 *
 *   mc_store_bench --url=http://127.0.0.1:8081 --seg=127.0.0.1:12345 \
 *       [--data_seg=127.0.0.1:12346] [--sizes=1048576,4194304] [--threads=4]
 *       [--seconds=3] [--label=local]
 *
 * Puts go to --url with preferred_segment=--data_seg (default --seg: the
 * service's own segment, memcpy; another service's segment: remote WRITE);
 * gets of the same keys then go to --url (local memcpy or remote READ).
 * Keys are removed (force) after each size. Prints one line per phase. */
#include "mc/errors.h"
#include "mc/http_client.h"
#include "mc/mtime.h"
#include "mc/strutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SIZES 8
#define MAX_THREADS 64

typedef struct bench {
    const char *url, *seg, *data_seg, *label;
    uint64_t sizes[MAX_SIZES];
    size_t nsizes;
    unsigned threads;
    uint64_t seconds;
    mc_http_client_t *http;
    /* per phase */
    uint64_t size;
    bool get;
    char *value;
    uint64_t deadline_ns;
    uint64_t max_keys;      /* puts stop here (segment capacity) */
    _Atomic uint64_t next;  /* next key index to put */
    _Atomic uint64_t put_n; /* keys put (gets cycle over them) */
    _Atomic uint64_t next_get;
    _Atomic uint64_t ops, errors;
} bench_t;

static void key_url(const bench_t *b, uint64_t i, char *url, size_t len, bool put)
{
    if (put)
        snprintf(url, len, "%s/api/v1/objects/bench-%llu-%llu?preferred_segment=%s", b->url,
                 (unsigned long long)b->size, (unsigned long long)i, b->data_seg);
    else
        snprintf(url, len, "%s/api/v1/objects/bench-%llu-%llu", b->url, (unsigned long long)b->size,
                 (unsigned long long)i);
}

static void *worker(void *arg)
{
    bench_t *b = arg;
    char url[512];

    while (mc_now_ns() < b->deadline_ns) {
        mc_http_result_t r;
        uint64_t i;
        int rc;
        if (b->get) {
            uint64_t total = atomic_load(&b->put_n);
            i = total ? atomic_fetch_add(&b->next_get, 1) % total : 0;
        } else if ((i = atomic_fetch_add(&b->next, 1)) >= b->max_keys) {
            break;
        }
        key_url(b, i, url, sizeof(url), !b->get);
        rc = b->get ? mc_http_request(b->http, "GET", url, NULL, 0, NULL, &r)
                    : mc_http_request(b->http, "PUT", url, b->value, b->size,
                                      "application/octet-stream", &r);
        if (rc == MC_OK)
            rc = mc_http_result_err(&r);
        if (rc == MC_OK && b->get && r.len != b->size)
            rc = MC_INVALID_READ;
        mc_http_result_cleanup(&r);
        if (rc != MC_OK) {
            atomic_fetch_add(&b->errors, 1);
            continue;
        }
        atomic_fetch_add(&b->ops, 1);
        if (!b->get)
            atomic_fetch_add(&b->put_n, 1);
    }
    return NULL;
}

static void run_phase(bench_t *b, bool get)
{
    pthread_t t[MAX_THREADS];
    uint64_t t0 = mc_now_ns(), el;
    double gbs;

    b->get = get;
    atomic_store(&b->ops, 0);
    atomic_store(&b->errors, 0);
    b->deadline_ns = t0 + b->seconds * 1000000000ull;
    for (unsigned i = 0; i < b->threads; i++)
        pthread_create(&t[i], NULL, worker, b);
    for (unsigned i = 0; i < b->threads; i++)
        pthread_join(t[i], NULL);
    el = mc_now_ns() - t0;
    gbs = (double)atomic_load(&b->ops) * (double)b->size / ((double)el / 1e9) / 1e9;
    printf("%-6s %-4s %8.2f MiB  %7llu ops  %8.1f ops/s  %6.2f GB/s  errors %llu\n", b->label,
           get ? "GET" : "PUT", (double)b->size / 1048576.0,
           (unsigned long long)atomic_load(&b->ops),
           (double)atomic_load(&b->ops) / ((double)el / 1e9), gbs,
           (unsigned long long)atomic_load(&b->errors));
    fflush(stdout);
}

static void remove_all(bench_t *b)
{
    char url[512];
    mc_http_result_t r;
    snprintf(url, sizeof(url), "%s/api/remove_all?force=true", b->url);
    if (mc_http_request(b->http, "DELETE", url, NULL, 0, NULL, &r) == MC_OK)
        mc_http_result_cleanup(&r);
}

static int parse_args(bench_t *b, int argc, char **argv)
{
    uint64_t v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--url=", 6) == 0) {
            b->url = a + 6;
        } else if (strncmp(a, "--seg=", 6) == 0) {
            b->seg = a + 6;
        } else if (strncmp(a, "--data_seg=", 11) == 0) {
            b->data_seg = a + 11;
        } else if (strncmp(a, "--label=", 8) == 0) {
            b->label = a + 8;
        } else if (strncmp(a, "--threads=", 10) == 0 && mc_parse_u64(a + 10, &v) == MC_OK &&
                   v >= 1 && v <= MAX_THREADS) {
            b->threads = (unsigned)v;
        } else if (strncmp(a, "--seconds=", 10) == 0 && mc_parse_u64(a + 10, &v) == MC_OK &&
                   v >= 1 && v <= 600) {
            b->seconds = v;
        } else if (strncmp(a, "--sizes=", 8) == 0) {
            char buf[256], *save = NULL;
            mc_strlcpy(buf, a + 8, sizeof(buf));
            b->nsizes = 0;
            for (char *p = strtok_r(buf, ",", &save); p && b->nsizes < MAX_SIZES;
                 p = strtok_r(NULL, ",", &save))
                if (mc_parse_size(p, &v) == MC_OK && v > 0)
                    b->sizes[b->nsizes++] = v;
        } else {
            fprintf(stderr, "usage: mc_store_bench --url=URL --seg=NAME [--data_seg=NAME] "
                            "[--sizes=1MB,4MB] [--threads=4] [--seconds=3] [--label=L]\n");
            return 2;
        }
    }
    if (!b->url || !b->seg || b->nsizes == 0) {
        fprintf(stderr, "mc_store_bench: --url and --seg are required\n");
        return 2;
    }
    if (!b->data_seg)
        b->data_seg = b->seg;
    return 0;
}

int main(int argc, char **argv)
{
    static bench_t b = {.sizes = {1u << 20, 4u << 20},
                        .nsizes = 2,
                        .threads = 4,
                        .seconds = 3,
                        .label = "store",
                        .max_keys = 0};
    int rc = parse_args(&b, argc, argv);

    if (rc)
        return rc;
    b.http = mc_http_client_create(&(mc_http_client_opts_t){
        .connect_timeout_ms = 2000, .timeout_ms = 30000, .retries = 0, .max_response = 1u << 30});
    if (!b.http)
        return 1;
    for (size_t s = 0; s < b.nsizes; s++) {
        b.size = b.sizes[s];
        b.value = malloc(b.size);
        if (!b.value)
            return 1;
        for (uint64_t i = 0; i < b.size; i++)
            b.value[i] = (char)(i * 131 + s);
        /* stay below ~half the segment: no eviction in the measurement */
        b.max_keys = (512ull << 20) / b.size;
        atomic_store(&b.next, 0);
        atomic_store(&b.put_n, 0);
        atomic_store(&b.next_get, 0);
        remove_all(&b);
        run_phase(&b, false);
        run_phase(&b, true);
        remove_all(&b);
        free(b.value);
    }
    mc_http_client_destroy(b.http);
    return 0;
}
