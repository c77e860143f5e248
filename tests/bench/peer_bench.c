/* mc_peer_bench: Redis and memcached SET/GET over loopback TCP, one JSON
 * line per cell (cell.h), so the store's cells have peers measured the same
 * way in the same run:
 *
 *   mc_peer_bench --proto=redis|memcached --port=N --op=set|get --size=BYTES
 *                 [--batch=1] [--threads=1] [--seconds=1] [--runs=3]
 *
 * Each thread has its own connection; one call sends `batch` commands in one
 * vectored write (a pipeline of that depth) and reads the `batch` replies,
 * each value straight into the caller's buffer. A thread's keys are
 * max(batch, 64 MiB / size) values (capped at 4096), written once before a
 * GET cell; calls walk them in order. The rate is bytes of values moved. */
#include "cell.h"
#include "mc/errors.h"
#include "mc/strutil.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define MiB ((size_t)1 << 20)
#define RBUF (256 * 1024)
#define KEYLEN 32

static char crlf_bytes[2] = {'\r', '\n'};

typedef struct conn {
    int fd, memcached, get;
    size_t size, batch, nkeys, next;
    char (*keys)[KEYLEN];
    uint8_t *value; /* SET source */
    uint8_t *dst;   /* GET destination */
    char *hdr;      /* batch command headers, 128 bytes each */
    struct iovec *iov;
    /* buffered reader */
    char *rb;
    size_t rpos, rlen;
} conn_t;

static int connect_port(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* writev of every iovec, resuming after short writes. */
static int write_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(fd, iov, n > IOV_MAX ? IOV_MAX : n);
        size_t left;
        if (w <= 0)
            return -1;
        left = (size_t)w;
        while (n > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

static int fill(conn_t *c)
{
    ssize_t n;
    if (c->rpos == c->rlen)
        c->rpos = c->rlen = 0;
    if (c->rlen == RBUF) {
        memmove(c->rb, c->rb + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos;
        c->rpos = 0;
    }
    n = recv(c->fd, c->rb + c->rlen, RBUF - c->rlen, 0);
    if (n <= 0)
        return -1;
    c->rlen += (size_t)n;
    return 0;
}

/* One reply line (without CRLF) into line; returns its length or -1. */
static ssize_t read_line(conn_t *c, char *line, size_t cap)
{
    for (;;) {
        char *nl = memchr(c->rb + c->rpos, '\n', c->rlen - c->rpos);
        if (nl) {
            size_t len = (size_t)(nl - (c->rb + c->rpos));
            if (len == 0 || len >= cap)
                return -1;
            memcpy(line, c->rb + c->rpos, len - 1); /* drop the \r */
            line[len - 1] = '\0';
            c->rpos += len + 1;
            return (ssize_t)(len - 1);
        }
        if (fill(c) != 0)
            return -1;
    }
}

/* n bytes into dst: what is buffered, then straight from the socket. */
static int read_exact(conn_t *c, uint8_t *dst, size_t n)
{
    size_t have = c->rlen - c->rpos, take = have < n ? have : n;
    memcpy(dst, c->rb + c->rpos, take);
    c->rpos += take;
    while (take < n) {
        ssize_t r = recv(c->fd, dst + take, n - take, MSG_WAITALL);
        if (r <= 0)
            return -1;
        take += (size_t)r;
    }
    return 0;
}

static int skip_crlf(conn_t *c)
{
    uint8_t crlf[2];
    return read_exact(c, crlf, 2) == 0 && crlf[0] == '\r' && crlf[1] == '\n' ? 0 : -1;
}

/* Sends batch SETs (get = 0) or GETs of the next keys, reads the replies. */
static int pipeline(conn_t *c, int get)
{
    int niov = 0;
    char line[256];

    for (size_t j = 0; j < c->batch; j++) {
        const char *k = c->keys[(c->next + j) % c->nkeys];
        char *h = c->hdr + j * 128;
        int len;
        if (c->memcached)
            len = get ? snprintf(h, 128, "get %s\r\n", k)
                      : snprintf(h, 128, "set %s 0 0 %zu\r\n", k, c->size);
        else
            len = get ? snprintf(h, 128, "*2\r\n$3\r\nGET\r\n$%zu\r\n%s\r\n", strlen(k), k)
                      : snprintf(h, 128, "*3\r\n$3\r\nSET\r\n$%zu\r\n%s\r\n$%zu\r\n", strlen(k), k,
                                 c->size);
        c->iov[niov++] = (struct iovec){h, (size_t)len};
        if (!get) {
            c->iov[niov++] = (struct iovec){c->value, c->size};
            c->iov[niov++] = (struct iovec){crlf_bytes, 2};
        }
    }
    c->next = (c->next + c->batch) % c->nkeys;
    if (write_all(c->fd, c->iov, niov) != 0)
        return -1;
    for (size_t j = 0; j < c->batch; j++) {
        if (read_line(c, line, sizeof(line)) < 0)
            return -1;
        if (!get) {
            if (strcmp(line, c->memcached ? "STORED" : "+OK") != 0)
                return -1;
            continue;
        }
        if (c->memcached) {
            char key[KEYLEN];
            unsigned flags;
            size_t n;
            if (sscanf(line, "VALUE %31s %u %zu", key, &flags, &n) != 3 || n != c->size ||
                read_exact(c, c->dst, n) != 0 || skip_crlf(c) != 0 ||
                read_line(c, line, sizeof(line)) < 0 || strcmp(line, "END") != 0)
                return -1;
        } else {
            uint64_t n;
            if (line[0] != '$' || mc_parse_u64(line + 1, &n) != MC_OK || n != c->size ||
                read_exact(c, c->dst, (size_t)n) != 0 || skip_crlf(c) != 0)
                return -1;
        }
    }
    return 0;
}

static int op_pipeline(void *ctx, uint64_t i)
{
    conn_t *c = ctx;
    (void)i;
    return pipeline(c, c->get);
}

int main(int argc, char **argv)
{
    const char *proto = bench_arg(argc, argv, "--proto"), *op = bench_arg(argc, argv, "--op");

    size_t size = (size_t)bench_arg_u64(argc, argv, "--size", MiB);
    size_t batch = (size_t)bench_arg_u64(argc, argv, "--batch", 1);
    uint64_t nthreads = bench_arg_u64(argc, argv, "--threads", 1);
    uint64_t port = bench_arg_u64(argc, argv, "--port", 0);
    int threads = nthreads <= BENCH_MAX_THREADS ? (int)nthreads : 0;
    static conn_t conns[BENCH_MAX_THREADS];
    void *ctxs[BENCH_MAX_THREADS];
    bench_opts_t o;
    bench_result_t r;
    char fields[256];
    int rc;

    bench_opts_from_args(argc, argv, &o);
    if (!proto || !op || port == 0 || port > 65535 || size == 0 || batch == 0 || batch > 4096 ||
        threads < 1 || threads > BENCH_MAX_THREADS ||
        (strcmp(proto, "redis") != 0 && strcmp(proto, "memcached") != 0) ||
        (strcmp(op, "set") != 0 && strcmp(op, "get") != 0)) {
        fprintf(stderr, "usage: mc_peer_bench --proto=redis|memcached --port=N --op=set|get "
                        "--size=BYTES [--batch=1] [--threads=1] [--seconds=1] [--runs=3]\n");
        return 2;
    }
    snprintf(fields, sizeof(fields),
             "\"peer\":\"%s\",\"op\":\"%s\",\"size\":%zu,\"batch\":%zu,\"threads\":%d", proto, op,
             size, batch, threads);
    for (int t = 0; t < threads; t++) {
        conn_t *c = &conns[t];
        size_t nkeys = 64 * MiB / size;
        if (nkeys < batch)
            nkeys = batch;
        if (nkeys > 4096)
            nkeys = 4096;
        *c = (conn_t){.memcached = strcmp(proto, "memcached") == 0,
                      .get = strcmp(op, "get") == 0,
                      .size = size,
                      .batch = batch,
                      .nkeys = nkeys,
                      .keys = malloc(nkeys * KEYLEN),
                      .value = malloc(size),
                      .dst = malloc(size),
                      .hdr = malloc(batch * 128),
                      .iov = malloc(batch * 3 * sizeof(struct iovec)),
                      .rb = malloc(RBUF)};
        if (!c->keys || !c->value || !c->dst || !c->hdr || !c->iov || !c->rb) {
            bench_print_error(fields, "no memory");
            return 1;
        }
        c->fd = connect_port((int)port);
        if (c->fd < 0) {
            bench_print_error(fields, "cannot connect");
            return 1;
        }
        for (size_t j = 0; j < size; j++)
            c->value[j] = (uint8_t)(j * 131 + (size_t)t);
        for (size_t j = 0; j < nkeys; j++)
            snprintf(c->keys[j], KEYLEN, "pb-%d-%zu-%zu", t, size, j);
        if (c->get) /* the keys a GET reads, written once, untimed */
            for (size_t j = 0; j < nkeys; j += batch)
                if (pipeline(c, 0) != 0) {
                    bench_print_error(fields, "preload failed (memory limit or item size?)");
                    return 1;
                }
        c->next = 0;
        ctxs[t] = c;
    }
    rc = bench_measure(op_pipeline, NULL, ctxs, threads, (double)(batch * size), &o, &r);
    if (rc == 0)
        bench_print(fields, "B/s", &r);
    else
        bench_print_error(fields, "a request failed (server limit?)");
    for (int t = 0; t < threads; t++) {
        close(conns[t].fd);
        free(conns[t].keys);
        free(conns[t].value);
        free(conns[t].dst);
        free(conns[t].hdr);
        free(conns[t].iov);
        free(conns[t].rb);
    }
    return rc ? 1 : 0;
}
