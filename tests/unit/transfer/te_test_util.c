#include "te_test_util.h"

#include "mc/errors.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static uint8_t pat(uint32_t seed, uint64_t i)
{
    uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ seed;
    return (uint8_t)(x >> 29 ^ x >> 7);
}

void tu_fill(void *buf, size_t len, uint32_t seed, uint64_t start)
{
    uint8_t *p = buf;
    for (size_t i = 0; i < len; i++)
        p[i] = pat(seed, start + i);
}

size_t tu_check(const void *buf, size_t len, uint32_t seed, uint64_t start)
{
    const uint8_t *p = buf;
    for (size_t i = 0; i < len; i++)
        if (p[i] != pat(seed, start + i))
            return i;
    return len;
}

void *tu_alloc(size_t len, uint32_t seed)
{
    void *p = malloc(len ? len : 1);
    if (p)
        tu_fill(p, len, seed, 0);
    return p;
}

mc_te_t *tu_engine(unsigned conns, uint32_t timeout_ms, int crc)
{
    mc_te_opts_t o = {.local_name = "127.0.0.1:0",
                      .tcp_conns = conns,
                      .request_timeout_ms = timeout_ms,
                      .connect_timeout_ms = 1000,
                      .crc = crc != 0};
    mc_te_t *te = NULL;
    return mc_te_create(&o, &te, NULL) == MC_OK ? te : NULL;
}

static int read_full(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t r = read(fd, p, len);
        if (r <= 0)
            return -1;
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Child: serves the segment; commands on ctl: 'v' off len seed -> 1 byte result. */
static void peer_main(int ctl, const char *name, size_t len, uint32_t seed, const char *local_name)
{
    mc_te_opts_t o = {.local_name = local_name, .request_timeout_ms = 3000};
    mc_te_t *te = NULL;
    uint8_t *seg = malloc(len);
    char *desc = NULL;
    size_t dlen = 0;
    uint64_t hdr;

    if (!seg || mc_te_create(&o, &te, NULL) != MC_OK)
        _exit(2);
    tu_fill(seg, len, seed, 0);
    if (mc_te_register_segment(te, name, seg, len, 1) != MC_OK ||
        mc_te_describe_segment(te, name, &desc, &dlen) != MC_OK)
        _exit(3);
    hdr = dlen;
    if (write_full(ctl, &hdr, sizeof hdr) || write_full(ctl, desc, dlen))
        _exit(4);
    free(desc);
    for (;;) {
        uint64_t cmd[3];
        char c;
        if (read_full(ctl, &c, 1) != 0)
            break;
        if (c != 'v' || read_full(ctl, cmd, sizeof cmd) != 0)
            break;
        c = cmd[0] + cmd[1] <= len &&
                    tu_check(seg + cmd[0], cmd[1], (uint32_t)cmd[2], cmd[0]) == cmd[1]
                ? 0
                : 1;
        if (write_full(ctl, &c, 1) != 0)
            break;
    }
    mc_te_unregister_segment(te, name);
    mc_te_destroy(te);
    free(seg);
    _exit(0);
}

typedef struct peer_params {
    char name[64];
    char local[64];
    uint64_t len;
    uint32_t seed;
} peer_params_t;

int tu_peer_fork(tu_peer_t *p)
{
    int sv[2];
    peer_params_t pp;

    memset(p, 0, sizeof *p);
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return -1;
    p->pid = fork();
    if (p->pid < 0)
        return -1;
    if (p->pid == 0) {
        /* Forked while the test is still single-threaded; waits for its orders. */
        close(sv[0]);
        if (read_full(sv[1], &pp, sizeof pp) != 0)
            _exit(0);
        pp.name[sizeof pp.name - 1] = pp.local[sizeof pp.local - 1] = '\0';
        peer_main(sv[1], pp.name, (size_t)pp.len, pp.seed, pp.local);
    }
    close(sv[1]);
    p->ctl = sv[0];
    return 0;
}

int tu_peer_go(tu_peer_t *p, const char *name, size_t len, uint32_t seed, const char *local_name)
{
    peer_params_t pp;
    uint64_t dlen;

    memset(&pp, 0, sizeof pp);
    snprintf(pp.name, sizeof pp.name, "%s", name);
    snprintf(pp.local, sizeof pp.local, "%s", local_name ? local_name : "127.0.0.1:0");
    pp.len = len;
    pp.seed = seed;
    if (write_full(p->ctl, &pp, sizeof pp) != 0)
        return -1;
    if (read_full(p->ctl, &dlen, sizeof dlen) != 0 || dlen > 65536)
        return -1;
    p->desc = malloc(dlen + 1);
    if (!p->desc || read_full(p->ctl, p->desc, dlen) != 0)
        return -1;
    p->desc[dlen] = '\0';
    p->desc_len = dlen;
    return 0;
}

int tu_peer_start(tu_peer_t *p, const char *name, size_t len, uint32_t seed, const char *local_name)
{
    return tu_peer_fork(p) == 0 ? tu_peer_go(p, name, len, seed, local_name) : -1;
}

int tu_peer_verify(tu_peer_t *p, uint64_t off, uint64_t len, uint32_t seed)
{
    uint64_t cmd[3] = {off, len, seed};
    char c = 'v';
    if (write_full(p->ctl, &c, 1) || write_full(p->ctl, cmd, sizeof cmd) ||
        read_full(p->ctl, &c, 1))
        return -1;
    return c;
}

int tu_peer_stop(tu_peer_t *p)
{
    int st = 0;
    if (p->ctl > 0)
        close(p->ctl);
    p->ctl = -1;
    if (p->pid > 0)
        waitpid(p->pid, &st, 0);
    p->pid = 0;
    free(p->desc);
    p->desc = NULL;
    return st;
}

int tu_silent_start(tu_silent_t *s)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;

    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(s->lfd, 16) != 0 || getsockname(s->lfd, (struct sockaddr *)&sa, &len) != 0)
        return -1;
    s->port = ntohs(sa.sin_port);
    return 0; /* the kernel accepts into the backlog; nobody ever reads */
}

void tu_silent_stop(tu_silent_t *s)
{
    close(s->lfd);
}

char *tu_fake_desc(const char *name, uint16_t port, uint64_t len)
{
    char *buf = malloc(512);
    if (buf)
        snprintf(buf, 512,
                 "{\"name\":\"%s\",\"endpoint\":\"127.0.0.1:%u\",\"segment_id\":1,"
                 "\"epoch\":1,\"length\":%llu,\"protocols\":[\"tcp\"]}",
                 name, (unsigned)port, (unsigned long long)len);
    return buf;
}
