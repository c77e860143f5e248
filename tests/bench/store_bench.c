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
 * Keys are removed (force) after each size. Prints one line per phase.
 *
 * For bench/run.py: --runs=N repeats every size's put and get phases N
 * times, --json prints one cell.h-style JSON line per size and phase (the
 * median rate over the runs with min and max), --seconds takes fractions,
 * and --token_file=PATH sends that cluster token (docs/security.md). */
#include "mc/auth.h"
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
    double seconds;
    unsigned runs;
    bool json;
    const char *token_file;
    mc_http_client_t *http;
    /* per phase */
    uint64_t size;
    bool get;
    char *value;
    uint64_t deadline_ns;
    uint64_t max_keys;      /* puts stop here (segment capacity) */
    uint64_t max_bytes;     /* --max_bytes: values put per size and run (512 MiB) */
    unsigned run;           /* keys of each run are fresh (a leased key outlives remove_all) */
    uint64_t total_errors;  /* of the phases since the last JSON line */
    _Atomic uint64_t next;  /* next key index to put */
    _Atomic uint64_t put_n; /* keys put (gets cycle over them) */
    _Atomic uint64_t next_get;
    _Atomic uint64_t ops, errors;
} bench_t;

static void key_url(const bench_t *b, uint64_t i, char *url, size_t len, bool put)
{
    if (put)
        snprintf(url, len, "%s/api/v1/objects/bench-%llu-%u-%llu?preferred_segment=%s", b->url,
                 (unsigned long long)b->size, b->run, (unsigned long long)i, b->data_seg);
    else
        snprintf(url, len, "%s/api/v1/objects/bench-%llu-%u-%llu", b->url,
                 (unsigned long long)b->size, b->run, (unsigned long long)i);
}

static void *worker(void *arg)
{
    bench_t *b = arg;
    char url[512];

    /* at least one request per thread: a phase shorter than a thread's start still measures */
    for (bool first = true; first || mc_now_ns() < b->deadline_ns; first = false) {
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

static double run_phase(bench_t *b, bool get)
{
    pthread_t t[MAX_THREADS];
    uint64_t t0 = mc_now_ns(), el;
    double gbs;

    b->get = get;
    atomic_store(&b->ops, 0);
    atomic_store(&b->errors, 0);
    b->deadline_ns = t0 + (uint64_t)(b->seconds * 1e9);
    for (unsigned i = 0; i < b->threads; i++)
        pthread_create(&t[i], NULL, worker, b);
    for (unsigned i = 0; i < b->threads; i++)
        pthread_join(t[i], NULL);
    el = mc_now_ns() - t0;
    gbs = (double)atomic_load(&b->ops) * (double)b->size / ((double)el / 1e9) / 1e9;
    if (!b->json) {
        printf("%-6s %-4s %8.2f MiB  %7llu ops  %8.1f ops/s  %6.2f GB/s  errors %llu\n", b->label,
               get ? "GET" : "PUT", (double)b->size / 1048576.0,
               (unsigned long long)atomic_load(&b->ops),
               (double)atomic_load(&b->ops) / ((double)el / 1e9), gbs,
               (unsigned long long)atomic_load(&b->errors));
        fflush(stdout);
    }
    b->total_errors += atomic_load(&b->errors);
    return gbs * 1e9;
}

static int cmp_rate(const void *x, const void *y)
{
    double p = *(const double *)x, q = *(const double *)y;
    return p < q ? -1 : p > q;
}

static void print_json(const bench_t *b, const char *op, double *rates)
{
    unsigned n = b->runs;
    qsort(rates, n, sizeof(double), cmp_rate);
    if (rates[n - 1] <= 0) {
        printf("{\"client\":\"rest\",\"op\":\"%s\",\"size\":%llu,\"threads\":%u,"
               "\"where\":\"%s\",\"error\":\"every request failed\"}\n",
               op, (unsigned long long)b->size, b->threads, b->label);
    } else {
        printf("{\"client\":\"rest\",\"op\":\"%s\",\"size\":%llu,\"threads\":%u,"
               "\"where\":\"%s\",\"unit\":\"B/s\",\"median\":%.6g,\"min\":%.6g,"
               "\"max\":%.6g,\"runs\":[",
               op, (unsigned long long)b->size, b->threads, b->label, rates[n / 2], rates[0],
               rates[n - 1]);
        for (unsigned i = 0; i < n; i++)
            printf("%s%.6g", i ? "," : "", rates[i]);
        printf("],\"errors\":%llu}\n", (unsigned long long)b->total_errors);
    }
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
    double d;
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
        } else if (strncmp(a, "--seconds=", 10) == 0 && mc_parse_double(a + 10, &d) == MC_OK &&
                   d > 0 && d <= 600) {
            b->seconds = d;
        } else if (strncmp(a, "--runs=", 7) == 0 && mc_parse_u64(a + 7, &v) == MC_OK && v >= 1 &&
                   v <= 9) {
            b->runs = (unsigned)v;
        } else if (strncmp(a, "--max_bytes=", 12) == 0 && mc_parse_size(a + 12, &v) == MC_OK &&
                   v > 0) {
            b->max_bytes = v;
        } else if (strcmp(a, "--json") == 0) {
            b->json = true;
        } else if (strncmp(a, "--token_file=", 13) == 0) {
            b->token_file = a + 13;
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
                            "[--sizes=1MB,4MB] [--threads=4] [--seconds=3] [--label=L] [--runs=1] "
                            "[--max_bytes=512MB] [--json] [--token_file=PATH]\n");
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
                        .runs = 1,
                        .max_bytes = 512ull << 20,
                        .label = "store",
                        .max_keys = 0};
    int rc = parse_args(&b, argc, argv);

    mc_auth_tokens_t *tok = NULL;
    mc_errmsg_t err;

    if (rc)
        return rc;
    if (b.token_file && mc_auth_tokens_load(b.token_file, &tok, &err) != MC_OK) {
        fprintf(stderr, "mc_store_bench: %s\n", err.msg);
        return 1;
    }
    b.http = mc_http_client_create(&(mc_http_client_opts_t){.connect_timeout_ms = 2000,
                                                            .timeout_ms = 30000,
                                                            .retries = 0,
                                                            .max_response = 1u << 30,
                                                            .bearer = tok});
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
        b.max_keys = b.max_bytes / b.size;
        double put_rates[9], get_rates[9];
        for (unsigned r = 0; r < b.runs; r++) {
            b.run = r;
            atomic_store(&b.next, 0);
            atomic_store(&b.put_n, 0);
            atomic_store(&b.next_get, 0);
            remove_all(&b);
            put_rates[r] = run_phase(&b, false);
            get_rates[r] = run_phase(&b, true);
            remove_all(&b);
        }
        if (b.json) { /* the errors of both phases are counted on each line */
            print_json(&b, "put", put_rates);
            print_json(&b, "get", get_rates);
        }
        b.total_errors = 0;
        free(b.value);
    }
    mc_http_client_destroy(b.http);
    mc_auth_tokens_destroy(tok);
    return 0;
}
