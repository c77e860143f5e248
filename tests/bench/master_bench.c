/* mc_master_bench: drives a real mooncake_master over loopback HTTP.
 *
 *   mc_master_bench [--master=PATH_TO_BINARY] [--threads=N] [--seconds=S]
 *                   [--objects=N] [--batches=1,16,128]
 *
 * Starts the master on a free port (so it can read its RSS), mounts a large
 * virtual segment (the master never touches bytes), and prints per batch size:
 * keys/s and p50/p99 request latency for the put cycle (batch put_start +
 * batch put_end) and for batch get_replica_list; then the master's RSS growth
 * per object after --objects objects, minus the key bytes.
 *
 *   mc_master_bench --url=http://HOST:PORT --load_to=1000,100000,1000000
 *
 * Loads objects (4 KiB each, on a virtual segment it mounts) into a running
 * master instead: after each level it prints "LOADED N" and waits for a line
 * on stdin (bench/run.py measures in between); it exits at EOF. That master
 * needs a --client_ttl longer than the run: this program never pings. */
#include "mc/errors.h"
#include "mc/http_client.h"
#include "mc/master_msg.h"
#include "mc/mtime.h"
#include "mc/strutil.h"
#include "mc/uuid.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEY_LEN 64 /* engine-like keys: model@tp_rank:0@<hash> */

static char base_url[128];
static mc_uuid_t client;
static mc_http_client_t *http;
/* --url mode: loaded objects are hard-pinned on the virtual segment, so a
 * store service mounted on the same master neither holds nor evicts them */
static bool pin_to_bench_seg;

static uint16_t free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);
    return ntohs(sa.sin_port);
}

static int post(const char *op, const char *body, size_t len, mc_http_result_t *r)
{
    char url[256];
    snprintf(url, sizeof(url), "%s/api/v1/%s", base_url, op);
    return mc_http_request(http, "POST", url, body, len, "application/json", r);
}

static void make_key(char *buf, uint64_t i)
{
    snprintf(buf, KEY_LEN + 1, "bench-model@tp_rank:0@%041llu", (unsigned long long)i);
}

typedef struct row {
    size_t batch;
    int get; /* 0: put cycle, 1: get_replica_list */
    uint64_t deadline_ns;
    atomic_uint_fast64_t *next_key; /* put: fresh keys */
    uint64_t nkeys_loaded;          /* get: keys that exist */
} row_t;

typedef struct worker {
    const row_t *row;
    pthread_t t;
    uint64_t keys, errors;
    uint64_t *lat; /* ns per request */
    size_t nlat, cap;
    unsigned seed;
} worker_t;

static void record(worker_t *w, uint64_t ns)
{
    if (w->nlat == w->cap) {
        size_t ncap = w->cap ? w->cap * 2 : 4096;
        uint64_t *n = realloc(w->lat, ncap * sizeof(*n));
        if (!n)
            return;
        w->lat = n;
        w->cap = ncap;
    }
    w->lat[w->nlat++] = ns;
}

/* Keys whose per-key code in a {"results": [...]} reply is 0. The encoder
 * writes each result as {"code":N,...}, so counting that prefix is exact and
 * keeps the client's share of the two cores small (a full cJSON decode of a
 * 128-replica reply costs the bench more CPU than the master spends on it).
 * MC_BENCH_VERIFY=1 decodes every reply with mc_results_decode instead. */
static size_t count_ok(const mc_http_result_t *r, mc_key_result_t *res, size_t n)
{
    static const char pat[] = "{\"code\":0";
    mc_errmsg_t e;
    mc_results_t d;
    size_t ok = 0;

    if (r->status != 200 || !r->body)
        return 0;
    if (!getenv("MC_BENCH_VERIFY")) {
        for (const char *p = r->body; (p = strstr(p, pat)) != NULL; p += sizeof(pat) - 1)
            ok += p[sizeof(pat) - 1] == ',' || p[sizeof(pat) - 1] == '}';
        return ok;
    }
    (void)res;
    if (mc_results_decode(r->body, r->len, n, &d, &e) != MC_OK) {
        fprintf(stderr, "bad reply: %s / %.200s\n", e.msg, r->body);
        return 0;
    }
    for (size_t i = 0; i < d.n; i++)
        ok += d.res[i].code == MC_OK;
    mc_results_cleanup(&d);
    return ok;
}

/* One batch request (two for the put cycle); returns keys that succeeded. */
static size_t one_batch(worker_t *w, char (*keys)[KEY_LEN + 1], const char **kp, uint64_t *sizes,
                        mc_key_result_t *res)
{
    const row_t *row = w->row;
    mc_keys_req_t req = {.client_id = client, .n = row->batch, .keys = kp};
    mc_http_result_t r;
    size_t len, ok = 0;
    char *body;
    uint64_t t0;

    for (size_t i = 0; i < row->batch; i++) {
        uint64_t k = row->get ? (uint64_t)rand_r(&w->seed) % row->nkeys_loaded
                              : atomic_fetch_add(row->next_key, 1);
        make_key(keys[i], k);
        kp[i] = keys[i];
        sizes[i] = 4096;
    }
    if (!row->get)
        req.sizes = sizes;
    if (!row->get && pin_to_bench_seg) {
        req.has_config = true;
        req.config = (mc_replicate_cfg_t){
            .replica_num = 1, .preferred = {"bench-seg"}, .n_preferred = 1, .hard_pin = true};
    }
    body = mc_keys_req_encode_take(&req, &len);
    t0 = mc_now_ns();
    if (post(row->get ? "get_replica_list" : "put_start", body, len, &r) == MC_OK)
        ok = count_ok(&r, res, row->batch);
    mc_http_result_cleanup(&r);
    free(body);
    if (!row->get && ok) {
        req.sizes = NULL;
        req.has_config = false;
        body = mc_keys_req_encode_take(&req, &len);
        ok = post("put_end", body, len, &r) == MC_OK ? count_ok(&r, res, row->batch) : 0;
        mc_http_result_cleanup(&r);
        free(body);
    }
    record(w, mc_now_ns() - t0);
    return ok;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    size_t b = w->row->batch;
    char(*keys)[KEY_LEN + 1] = malloc(b * sizeof(*keys));
    const char **kp = malloc(b * sizeof(*kp));
    uint64_t *sizes = malloc(b * sizeof(*sizes));
    mc_key_result_t *res = malloc(b * sizeof(*res));

    while (mc_now_ns() < w->row->deadline_ns) {
        size_t ok = one_batch(w, keys, kp, sizes, res);
        w->keys += ok;
        w->errors += b - ok;
    }
    free(res);
    free(sizes);
    free(kp);
    free(keys);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void run_row(row_t *row, int threads, double seconds)
{
    worker_t *w = calloc((size_t)threads, sizeof(*w));
    uint64_t keys = 0, errors = 0, t0 = mc_now_ns();
    size_t nlat = 0;
    uint64_t *all;
    double el;

    row->deadline_ns = t0 + (uint64_t)(seconds * 1e9);
    for (int i = 0; i < threads; i++) {
        w[i].row = row;
        w[i].seed = (unsigned)(i * 7919 + 1);
        pthread_create(&w[i].t, NULL, worker_main, &w[i]);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(w[i].t, NULL);
        keys += w[i].keys;
        errors += w[i].errors;
        nlat += w[i].nlat;
    }
    el = (double)(mc_now_ns() - t0) / 1e9;
    all = malloc((nlat ? nlat : 1) * sizeof(*all));
    nlat = 0;
    for (int i = 0; i < threads; i++) {
        memcpy(all + nlat, w[i].lat, w[i].nlat * sizeof(*all));
        nlat += w[i].nlat;
        free(w[i].lat);
    }
    qsort(all, nlat, sizeof(*all), cmp_u64);
    printf("| %-24s | %5zu | %12.0f | %9.3f | %9.3f | %11llu |\n",
           row->get ? "get_replica_list" : "put_start + put_end", row->batch, (double)keys / el,
           nlat ? (double)all[nlat / 2] / 1e6 : 0, nlat ? (double)all[nlat * 99 / 100] / 1e6 : 0,
           (unsigned long long)errors);
    fflush(stdout);
    free(all);
    free(w);
}

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

static int load_objects(uint64_t n, atomic_uint_fast64_t *next)
{
    row_t row = {.batch = 1024, .get = 0, .next_key = next};
    worker_t w = {.row = &row};
    char(*keys)[KEY_LEN + 1] = malloc(row.batch * sizeof(*keys));
    const char **kp = malloc(row.batch * sizeof(*kp));
    uint64_t *sizes = malloc(row.batch * sizeof(*sizes));
    mc_key_result_t *res = malloc(row.batch * sizeof(*res));
    int rc = 0;

    while (atomic_load(next) < n && rc == 0)
        if (one_batch(&w, keys, kp, sizes, res) != row.batch)
            rc = -1;
    free(res);
    free(w.lat);
    free(sizes);
    free(kp);
    free(keys);
    return rc;
}

static pid_t spawn_master(const char *bin, uint16_t port)
{
    char a1[64], a2[64];
    pid_t pid = fork();
    if (pid == 0) {
        snprintf(a1, sizeof(a1), "--rpc_port=%u", (unsigned)port);
        snprintf(a2, sizeof(a2), "--metrics_port=%u", (unsigned)free_port());
        /* the bench does not ping: a long client TTL keeps its segment mounted */
        execl(bin, bin, a1, a2, "--log_level=warn", "--max_threads=4",
              "--eviction_high_watermark_ratio=1", "--client_ttl=86400", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static bool wait_ready(void)
{
    char url[256];
    snprintf(url, sizeof(url), "%s/health", base_url);
    for (int i = 0; i < 500; i++) {
        mc_http_result_t r;
        int rc = mc_http_request(http, "GET", url, NULL, 0, NULL, &r);
        int st = r.status;
        mc_http_result_cleanup(&r);
        if (rc == MC_OK && st == 200)
            return true;
        mc_sleep_ms(20);
    }
    return false;
}

static int mount_segment(void)
{
    mc_segment_msg_t m = {.client_id = client,
                          .id = mc_uuid_generate(),
                          .name = "bench-seg",
                          .endpoint = "127.0.0.1:1",
                          .protocol = "tcp",
                          .base = 1ull << 40,
                          .size = 1ull << 39}; /* 512 GiB: under --max_segment_size */
    mc_http_result_t r;
    size_t len;
    char *body = mc_segment_msg_encode_take(&m, &len);
    int rc = post("mount_segment", body, len, &r);
    int st = r.status;
    mc_http_result_cleanup(&r);
    free(body);
    return rc == MC_OK && st == 200 ? 0 : -1;
}

/* --url mode: load a running master to each level of the list in turn. */
static int load_levels(const char *url, const char *levels)
{
    char buf[256], line[64];
    atomic_uint_fast64_t next;

    mc_strlcpy(base_url, url, sizeof(base_url));
    mc_strlcpy(buf, levels, sizeof(buf));
    pin_to_bench_seg = true;
    atomic_init(&next, 0);
    if (!wait_ready() || mount_segment() != 0) {
        fprintf(stderr, "cannot reach %s or mount a segment there\n", url);
        return 1;
    }
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        uint64_t n;
        if (mc_parse_u64(tok, &n) != MC_OK || load_objects(n, &next) != 0) {
            fprintf(stderr, "loading %s objects failed\n", tok);
            return 1;
        }
        printf("LOADED %llu\n", (unsigned long long)atomic_load(&next));
        fflush(stdout);
        if (!fgets(line, sizeof(line), stdin))
            break;
    }
    mc_http_client_destroy(http);
    return 0;
}

static const char *opt(int argc, char **argv, const char *name, const char *def)
{
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], name, n) == 0 && argv[i][n] == '=')
            return argv[i] + n + 1;
    return def;
}

int main(int argc, char **argv)
{
    const char *bin = opt(argc, argv, "--master", "build/release/bin/mooncake_master");
    uint64_t threads = 4, objects = 1000000, seconds_x10 = 30;
    double seconds;
    char batches[64];
    atomic_uint_fast64_t next;
    uint16_t port = free_port();
    long rss0, rss1;
    pid_t pid;
    int status;

    mc_parse_u64(opt(argc, argv, "--threads", "4"), &threads);
    mc_parse_u64(opt(argc, argv, "--objects", "1000000"), &objects);
    mc_parse_double(opt(argc, argv, "--seconds", "3"), &seconds);
    mc_strlcpy(batches, opt(argc, argv, "--batches", "1,16,128"), sizeof(batches));
    (void)seconds_x10;
    signal(SIGPIPE, SIG_IGN);
    snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%u", (unsigned)port);
    http = mc_http_client_create(&(mc_http_client_opts_t){.timeout_ms = 30000, .retries = 0});
    client = mc_uuid_generate();
    if (opt(argc, argv, "--url", NULL))
        return load_levels(opt(argc, argv, "--url", NULL), opt(argc, argv, "--load_to", "1000"));
    pid = spawn_master(bin, port);
    if (pid < 0 || !wait_ready() || mount_segment() != 0) {
        fprintf(stderr, "cannot start or reach %s, or mount a segment there\n", bin);
        if (pid > 0) {
            kill(pid, SIGTERM);
            waitpid(pid, &status, 0);
        }
        return 1;
    }
    rss0 = rss_kib(pid);
    printf("master: %s, client threads: %llu, %.1f s per row, keys of %d bytes\n\n", bin,
           (unsigned long long)threads, seconds, KEY_LEN);
    printf("| %-24s | %5s | %12s | %9s | %9s | %11s |\n", "operation", "batch", "keys/s", "p50 ms",
           "p99 ms", "failed keys");
    printf("|--------------------------|-------|--------------|-----------|-----------|------------"
           "-|\n");
    atomic_init(&next, 0);
    for (char *save = NULL, *tok = strtok_r(batches, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        uint64_t b;
        row_t put = {.get = 0, .next_key = &next}, get = {.get = 1};
        if (mc_parse_u64(tok, &b) != MC_OK || b == 0 || b > MC_MSG_MAX_BATCH)
            continue;
        put.batch = get.batch = b;
        run_row(&put, (int)threads, seconds);
        get.nkeys_loaded = atomic_load(&next);
        run_row(&get, (int)threads, seconds);
    }
    if (atomic_load(&next) < objects && load_objects(objects, &next) != 0)
        fprintf(stderr, "loading %llu objects failed\n", (unsigned long long)objects);
    rss1 = rss_kib(pid);
    printf("\nmaster RSS: %.1f MiB at start, %.1f MiB with %llu objects -> %.0f bytes/object "
           "(%.0f excluding the %d key bytes)\n",
           (double)rss0 / 1024, (double)rss1 / 1024, (unsigned long long)atomic_load(&next),
           (double)(rss1 - rss0) * 1024 / (double)atomic_load(&next),
           (double)(rss1 - rss0) * 1024 / (double)atomic_load(&next) - KEY_LEN, KEY_LEN);
    kill(pid, SIGTERM);
    waitpid(pid, &status, 0);
    mc_http_client_destroy(http);
    return 0;
}
