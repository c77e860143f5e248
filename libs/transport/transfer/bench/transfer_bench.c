/* mc_transfer_bench: transfer engine throughput and latency, next to plain
 * loopback TCP measured by this same tool in the same run.
 *
 *   mc_transfer_bench [--threads=1] [--batch=1] [--block=4MiB] [--duration=3]
 *                     [--op=both|read|write] [--conns=N] [--crc] [--protocol=tcp]
 *                     [--auth=KEY]   (every engine holds KEY: the handshake is on)
 *   mc_transfer_bench --mode=serve --segment=NAME --seg_size=SIZE [--metadata=URL]
 *                     [--local=127.0.0.1:0] [--republish_ms=N]
 *   mc_transfer_bench --mode=client --segment=NAME --metadata=URL [--verify]
 *
 * Default mode "local": a server engine and a client engine in this process
 * on 127.0.0.1. Rows: plain TCP single stream (no framing), plain TCP
 * request/ack of one block, then the engine with 1 connection (no slicing)
 * and with --conns connections (a block sliced over them). */
#include "mc/errors.h"
#include "mc/mtime.h"
#include "mc/strutil.h"
#include "mc/transfer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct cfg {
    const char *mode, *op, *protocol, *metadata, *segment, *local, *auth;
    uint64_t threads, batch, block, conns, seg_size, republish_ms;
    double duration;
    bool crc, verify;
} cfg_t;

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    stop_flag = 1;
}

/* ---- options ---- */

static const char *opt_val(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && arg[n] == '=' ? arg + n + 1 : NULL;
}

static int parse_args(int argc, char **argv, cfg_t *c)
{
    *c = (cfg_t){.mode = "local",
                 .op = "both",
                 .protocol = "tcp",
                 .segment = "bench",
                 .local = "127.0.0.1:0",
                 .threads = 1,
                 .batch = 1,
                 .block = 4 << 20,
                 .conns = 0,
                 .seg_size = 64 << 20,
                 .duration = 3,
                 .republish_ms = 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int rc = MC_OK;
        if ((v = opt_val(a, "--mode")))
            c->mode = v;
        else if ((v = opt_val(a, "--op")))
            c->op = v;
        else if ((v = opt_val(a, "--protocol")))
            c->protocol = v;
        else if ((v = opt_val(a, "--metadata")))
            c->metadata = v;
        else if ((v = opt_val(a, "--segment")))
            c->segment = v;
        else if ((v = opt_val(a, "--auth")))
            c->auth = v;
        else if ((v = opt_val(a, "--local")))
            c->local = v;
        else if ((v = opt_val(a, "--threads")))
            rc = mc_parse_u64(v, &c->threads);
        else if ((v = opt_val(a, "--batch")))
            rc = mc_parse_u64(v, &c->batch);
        else if ((v = opt_val(a, "--block")))
            rc = mc_parse_size(v, &c->block);
        else if ((v = opt_val(a, "--conns")))
            rc = mc_parse_u64(v, &c->conns);
        else if ((v = opt_val(a, "--seg_size")))
            rc = mc_parse_size(v, &c->seg_size);
        else if ((v = opt_val(a, "--republish_ms")))
            rc = mc_parse_u64(v, &c->republish_ms);
        else if ((v = opt_val(a, "--duration")))
            rc = mc_parse_double(v, &c->duration);
        else if (strcmp(a, "--crc") == 0)
            c->crc = true;
        else if (strcmp(a, "--verify") == 0)
            c->verify = true;
        else
            rc = MC_INVALID_PARAMS;
        if (rc != MC_OK) {
            fprintf(stderr, "bad argument: %s (see the comment at the top of transfer_bench.c)\n",
                    a);
            return -1;
        }
    }
    if (!c->conns) { /* the engine's default: online CPUs within 2..4 */
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->conns = n < 2 ? 2 : n > 4 ? 4 : (uint64_t)n;
    }
    if (!c->threads || c->threads > 64 || !c->batch || c->batch > 4096 || !c->block ||
        c->threads * c->batch * c->block > (1ull << 30) || !c->conns || c->conns > 64 ||
        c->duration <= 0) {
        fprintf(stderr, "out of range: threads 1..64, batch 1..4096, conns 1..64, "
                        "threads*batch*block <= 1 GiB, duration > 0\n");
        return -1;
    }
    return 0;
}

/* ---- latency stats ---- */

typedef struct stats {
    uint64_t *lat_ns;
    size_t n, cap;
    uint64_t bytes;
} stats_t;

static void stats_add(stats_t *s, uint64_t ns, uint64_t bytes)
{
    if (s->n < s->cap)
        s->lat_ns[s->n++] = ns;
    s->bytes += bytes;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void print_row(const char *name, stats_t *all, size_t nt, double secs)
{
    uint64_t bytes = 0;
    size_t n = 0;
    uint64_t *lat;

    for (size_t i = 0; i < nt; i++)
        n += all[i].n, bytes += all[i].bytes;
    lat = malloc((n ? n : 1) * sizeof *lat);
    n = 0;
    for (size_t i = 0; lat && i < nt; i++) {
        memcpy(lat + n, all[i].lat_ns, all[i].n * sizeof *lat);
        n += all[i].n;
    }
    if (lat && n)
        qsort(lat, n, sizeof *lat, cmp_u64);
    printf("%-34s %8.2f GB/s  p50 %9.1f us  p99 %9.1f us  (%zu reqs)\n", name,
           (double)bytes / secs / 1e9, n && lat ? (double)lat[n / 2] / 1e3 : 0.0,
           n && lat ? (double)lat[(n * 99) / 100] / 1e3 : 0.0, n);
    fflush(stdout);
    free(lat);
}

/* ---- plain TCP baseline ---- */

typedef struct plain {
    int lfd, port;
    uint64_t block;
    bool ack;
} plain_t;

static int plain_socket(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Receiver: reads blocks; after each acks one byte when asked to. */
static void *plain_rx(void *arg)
{
    plain_t *p = arg;
    int fd = accept(p->lfd, NULL, NULL);
    uint8_t *buf = malloc(p->block);

    while (fd >= 0 && buf) {
        uint64_t got = 0;
        while (got < p->block) {
            ssize_t r = recv(fd, buf + got, p->block - got, 0);
            if (r <= 0)
                goto out;
            got += (uint64_t)r;
        }
        if (p->ack && send(fd, "k", 1, MSG_NOSIGNAL) != 1)
            break;
    }
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    return NULL;
}

static void run_plain(const cfg_t *c, bool ack)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    plain_t p = {.block = c->block, .ack = ack};
    uint8_t *buf = calloc(1, c->block);
    stats_t st = {.cap = 1 << 20};
    pthread_t thr;
    uint64_t t0, end;
    int fd;
    char name[64];

    st.lat_ns = malloc(st.cap * sizeof *st.lat_ns);
    p.lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (!buf || !st.lat_ns || p.lfd < 0 || bind(p.lfd, (struct sockaddr *)&sa, sizeof sa) ||
        listen(p.lfd, 1) || getsockname(p.lfd, (struct sockaddr *)&sa, &sl))
        goto out;
    pthread_create(&thr, NULL, plain_rx, &p);
    fd = plain_socket();
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        goto out;
    }
    t0 = mc_now_ns();
    end = t0 + (uint64_t)(c->duration * 1e9);
    while (mc_now_ns() < end) {
        uint64_t s = mc_now_ns(), off = 0;
        char k;
        while (off < c->block) {
            ssize_t w = send(fd, buf + off, c->block - off, MSG_NOSIGNAL);
            if (w <= 0)
                goto done;
            off += (uint64_t)w;
        }
        if (ack && recv(fd, &k, 1, MSG_WAITALL) != 1)
            break;
        stats_add(&st, mc_now_ns() - s, c->block);
    }
done:
    snprintf(name, sizeof name, "plain tcp %s %s", ack ? "req/ack" : "stream",
             mc_format_size(c->block, (char[32]){0}, 32));
    print_row(name, &st, 1, (double)(mc_now_ns() - t0) / 1e9);
    shutdown(fd, SHUT_RDWR);
    close(fd);
    pthread_join(thr, NULL);
out:
    if (p.lfd >= 0)
        close(p.lfd);
    free(st.lat_ns);
    free(buf);
}

/* ---- engine rows ---- */

typedef struct worker {
    const cfg_t *c;
    mc_te_t *te;
    mc_te_segment_t *seg;
    mc_te_opcode_t op;
    unsigned idx;
    uint64_t end_ns;
    stats_t st;
    int rc;
} worker_t;

static void *te_worker(void *arg)
{
    worker_t *w = arg;
    const cfg_t *c = w->c;
    size_t n = (size_t)c->batch;
    uint8_t *buf = calloc(n, c->block);
    mc_te_request_t *q = calloc(n, sizeof *q);
    mc_te_batch_t *b = NULL;
    uint64_t region = (uint64_t)w->idx * n * c->block;

    w->rc = buf && q ? mc_te_batch_create(w->te, n, &b) : MC_INTERNAL_ERROR;
    for (size_t i = 0; i < n; i++)
        q[i] = (mc_te_request_t){.opcode = w->op,
                                 .local = buf + i * c->block,
                                 .seg = w->seg,
                                 .offset = region + i * c->block,
                                 .length = c->block};
    while (w->rc == MC_OK && mc_now_ns() < w->end_ns && !stop_flag) {
        uint64_t s = mc_now_ns();
        w->rc = mc_te_submit(b, q, n);
        if (w->rc == MC_OK)
            w->rc = mc_te_wait(b, UINT64_MAX);
        for (size_t i = 0; w->rc == MC_OK && i < n; i++)
            stats_add(&w->st, mc_now_ns() - s, c->block);
    }
    mc_te_batch_destroy(b);
    free(q);
    free(buf);
    return NULL;
}

/* Runs one row with `threads` workers on seg; returns MC_OK or the first error. */
static int run_te_row(const cfg_t *c, mc_te_t *te, mc_te_segment_t *seg, mc_te_opcode_t op,
                      const char *name)
{
    worker_t *w = calloc(c->threads, sizeof *w);
    stats_t *all = calloc(c->threads, sizeof *all);
    uint64_t t0 = mc_now_ns(), end = t0 + (uint64_t)(c->duration * 1e9);
    pthread_t *thr = calloc(c->threads, sizeof *thr);
    int rc = MC_OK;

    for (unsigned i = 0; w && all && thr && i < c->threads; i++) {
        w[i] = (worker_t){.c = c, .te = te, .seg = seg, .op = op, .idx = i, .end_ns = end};
        w[i].st.cap = 1 << 20;
        w[i].st.lat_ns = malloc(w[i].st.cap * sizeof(uint64_t));
        pthread_create(&thr[i], NULL, te_worker, &w[i]);
    }
    for (unsigned i = 0; w && all && thr && i < c->threads; i++) {
        pthread_join(thr[i], NULL);
        all[i] = w[i].st;
        if (w[i].rc != MC_OK && rc == MC_OK)
            rc = w[i].rc;
    }
    if (rc == MC_OK)
        print_row(name, all, c->threads, (double)(mc_now_ns() - t0) / 1e9);
    else
        printf("%-34s failed: %s\n", name, mc_err_name(rc));
    for (unsigned i = 0; w && i < c->threads; i++)
        free(w[i].st.lat_ns);
    free(thr);
    free(all);
    free(w);
    return rc;
}

static mc_te_t *make_engine(const cfg_t *c, const char *local, unsigned conns, bool meta)
{
    mc_te_opts_t o = {
        .local_name = local,
        .protocols = c->protocol,
        .tcp_conns = conns,
        .crc = c->crc,
        .metadata_url = meta ? c->metadata : NULL,
        .republish_ms = c->republish_ms ? (uint32_t)c->republish_ms : 0,
        .auth = {{(const uint8_t *)c->auth, NULL}, {c->auth ? strlen(c->auth) : 0, 0}}};
    mc_te_t *te = NULL;
    mc_errmsg_t err = {""};

    if (mc_te_create(&o, &te, &err) != MC_OK) {
        fprintf(stderr, "engine: %s (%s)\n", err.msg, c->protocol);
        return NULL;
    }
    return te;
}

static void te_rows(const cfg_t *c, mc_te_t *cli, mc_te_segment_t *seg, unsigned conns)
{
    char name[96], sz[32];
    bool rd = strcmp(c->op, "write") != 0, wr = strcmp(c->op, "read") != 0;

    mc_format_size(c->block, sz, sizeof sz);
    if (wr) {
        snprintf(name, sizeof name, "te %s WRITE %s conns=%u b=%u t=%u", c->protocol, sz, conns,
                 (unsigned)c->batch, (unsigned)c->threads);
        run_te_row(c, cli, seg, MC_TE_WRITE, name);
    }
    if (rd) {
        snprintf(name, sizeof name, "te %s READ  %s conns=%u b=%u t=%u", c->protocol, sz, conns,
                 (unsigned)c->batch, (unsigned)c->threads);
        run_te_row(c, cli, seg, MC_TE_READ, name);
    }
}

static int mode_local(const cfg_t *c)
{
    uint64_t len = c->threads * c->batch * c->block;
    uint8_t *mem = calloc(1, len);
    mc_te_t *srv = make_engine(c, "127.0.0.1:0", 1, false);
    unsigned conns_list[2] = {1, (unsigned)c->conns};
    char *desc = NULL;
    size_t dlen;

    if (!mem || !srv || mc_te_register_segment(srv, c->segment, mem, len, 1) != MC_OK ||
        mc_te_describe_segment(srv, c->segment, &desc, &dlen) != MC_OK)
        return 1;
    printf("# %ld online CPUs; each row runs %.1f s; handshake %s\n", sysconf(_SC_NPROCESSORS_ONLN),
           c->duration, c->auth ? "on (--auth)" : "off");
    run_plain(c, false);
    run_plain(c, true);
    for (int k = 0; k < (c->conns == 1 ? 1 : 2); k++) {
        mc_te_t *cli = make_engine(c, "127.0.0.1:0", conns_list[k], false);
        mc_te_segment_t *seg;
        if (!cli || mc_te_open_segment_desc(cli, desc, dlen, &seg) != MC_OK)
            return 1;
        te_rows(c, cli, seg, conns_list[k]);
        mc_te_destroy(cli);
    }
    free(desc);
    mc_te_destroy(srv);
    free(mem);
    return 0;
}

/* ---- two-process modes (used by tests/integration/test_transfer.py) ---- */

static uint8_t pattern(uint32_t seed, uint64_t i)
{
    uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ seed;
    return (uint8_t)(x >> 29 ^ x >> 7);
}

static int mode_serve(const cfg_t *c)
{
    uint8_t *mem = malloc(c->seg_size ? c->seg_size : 1);
    mc_te_t *te = make_engine(c, c->local, (unsigned)c->conns, c->metadata != NULL);
    char *desc = NULL;
    size_t dlen;
    int rc;

    if (!mem || !te)
        return 1;
    for (uint64_t i = 0; i < c->seg_size; i++)
        mem[i] = pattern(5, i);
    rc = mc_te_register_segment(te, c->segment, mem, c->seg_size, 1);
    if (rc == MC_OK)
        rc = mc_te_describe_segment(te, c->segment, &desc, &dlen);
    if (rc != MC_OK) {
        fprintf(stderr, "register %s: %s\n", c->segment, mc_err_name(rc));
        return 1;
    }
    printf("READY %s\nDESC %s\n", mc_te_endpoint(te), desc);
    fflush(stdout);
    free(desc);
    while (!stop_flag)
        mc_sleep_ms(50);
    mc_te_unregister_segment(te, c->segment);
    mc_te_destroy(te);
    free(mem);
    return 0;
}

/* Reads the whole segment (pattern 5), writes pattern 9, reads it back. */
static int verify(mc_te_t *te, mc_te_segment_t *seg)
{
    uint64_t len = mc_te_segment_length(seg), chunk = 4 << 20;
    uint8_t *buf = malloc(chunk);
    int rc = buf ? MC_OK : MC_INTERNAL_ERROR;

    for (int pass = 0; pass < 3 && rc == MC_OK; pass++) {
        for (uint64_t off = 0; off < len && rc == MC_OK; off += chunk) {
            uint64_t n = len - off < chunk ? len - off : chunk;
            uint32_t seed = pass == 0 ? 5 : 9;
            if (pass == 1) {
                for (uint64_t i = 0; i < n; i++)
                    buf[i] = pattern(9, off + i);
                rc = mc_te_transfer_sync(te, MC_TE_WRITE, buf, seg, off, (size_t)n);
                continue;
            }
            memset(buf, 0, (size_t)n);
            rc = mc_te_transfer_sync(te, MC_TE_READ, buf, seg, off, (size_t)n);
            for (uint64_t i = 0; rc == MC_OK && i < n; i++)
                if (buf[i] != pattern(seed, off + i))
                    rc = MC_TRANSFER_FAIL;
        }
    }
    free(buf);
    return rc;
}

static int mode_client(const cfg_t *c)
{
    mc_te_t *te = make_engine(c, c->local, (unsigned)c->conns, c->metadata != NULL);
    mc_te_segment_t *seg;
    int rc;

    if (!te)
        return 1;
    rc = mc_te_open_segment(te, c->segment, &seg);
    if (rc == MC_OK && c->verify) {
        rc = verify(te, seg);
        printf("VERIFY %s %s\n", rc == MC_OK ? "OK" : "FAILED", mc_te_segment_protocol(seg));
    }
    if (rc == MC_OK && !c->verify)
        te_rows(c, te, seg, (unsigned)c->conns);
    if (rc != MC_OK)
        fprintf(stderr, "client: %s\n", mc_err_name(rc));
    mc_te_destroy(te);
    return rc == MC_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
    cfg_t c;

    if (parse_args(argc, argv, &c) != 0)
        return 2;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    if (strcmp(c.mode, "local") == 0)
        return mode_local(&c);
    if (strcmp(c.mode, "serve") == 0)
        return mode_serve(&c);
    if (strcmp(c.mode, "client") == 0)
        return mode_client(&c);
    fprintf(stderr, "--mode must be local, serve or client\n");
    return 2;
}
