/* Server connection bounds: at most max_conns at once (one more is closed
 * at once while the others keep working), idle connections closed after
 * idle_timeout_ms, active ones kept; the client side reconnects on its own. */
#include "mc/errors.h"
#include "mc/mtime.h"
#include "mc/te_tcp_proto.h"
#include "mc/transfer.h"
#include "te_test_util.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static mc_te_t *engine(unsigned max_conns, uint32_t idle_ms)
{
    mc_te_opts_t o = {.local_name = "127.0.0.1:0",
                      .tcp_conns = 1,
                      .request_timeout_ms = 2000,
                      .connect_timeout_ms = 1000,
                      .max_conns = max_conns,
                      .idle_timeout_ms = idle_ms};
    mc_te_t *te = NULL;

    cr_assert_eq(mc_te_create(&o, &te, NULL), MC_OK);
    return te;
}

static int raw_connect(mc_te_t *te)
{
    uint16_t port = (uint16_t)strtoul(strrchr(mc_te_endpoint(te), ':') + 1, NULL, 10);
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = 2};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    cr_assert(fd >= 0);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* MC_OK when a PING on fd is answered; 1 when the server closed it. */
static int ping(int fd)
{
    mc_tcp_req_t q = {.version = MC_TCP_VERSION, .opcode = MC_TCP_OP_PING, .id = 7};
    uint8_t hdr[MC_TCP_REQ_SIZE], rh[MC_TCP_RESP_SIZE];
    mc_tcp_resp_t r;
    ssize_t n;

    mc_tcp_req_encode(&q, hdr);
    if (send(fd, hdr, sizeof hdr, MSG_NOSIGNAL) != (ssize_t)sizeof hdr)
        return 1;
    n = recv(fd, rh, sizeof rh, MSG_WAITALL);
    if (n == 0 || (n < 0 && errno == ECONNRESET))
        return 1;
    cr_assert_eq(n, (ssize_t)sizeof rh, "no answer (errno %d)", errno);
    cr_assert_eq(mc_tcp_resp_decode(rh, &r), MC_OK);
    return r.status;
}

/* Whether the server closes fd within the receive timeout, sending nothing. */
static bool closed_by_server(int fd)
{
    char c;
    ssize_t n = recv(fd, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

Test(conns, over_the_cap_closed_at_once_others_keep_working)
{
    mc_te_t *s = engine(4, 0);
    int fd[4], extra, again = -1;
    uint64_t t0;

    for (int i = 0; i < 4; i++) {
        fd[i] = raw_connect(s);
        cr_assert_eq(ping(fd[i]), MC_OK);
    }
    t0 = mc_now_ms();
    extra = raw_connect(s);
    cr_assert(closed_by_server(extra), "the fifth connection is closed");
    cr_assert_lt(mc_now_ms() - t0, 1000, "at once, not after a timeout");
    close(extra);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(ping(fd[i]), MC_OK, "connection %d still served", i);
    /* One leaves: room for one more (once the server has seen it go). */
    close(fd[0]);
    t0 = mc_now_ms();
    for (;;) {
        again = raw_connect(s);
        if (ping(again) == MC_OK)
            break;
        close(again);
        cr_assert_lt(mc_now_ms() - t0, 2000, "a freed slot is reused");
        usleep(20 * 1000);
    }
    close(again);
    for (int i = 1; i < 4; i++)
        close(fd[i]);
    mc_te_destroy(s);
}

Test(conns, idle_connections_closed_active_ones_kept)
{
    mc_te_t *s = engine(0, 300);
    int idle = raw_connect(s), busy = raw_connect(s);
    uint64_t t0 = mc_now_ms();

    cr_assert_eq(ping(idle), MC_OK);
    while (mc_now_ms() - t0 < 900) {
        cr_assert_eq(ping(busy), MC_OK, "a connection in use is never idle");
        usleep(100 * 1000);
    }
    cr_assert(closed_by_server(idle));
    cr_assert_eq(ping(busy), MC_OK);
    close(idle);
    close(busy);
    mc_te_destroy(s);
}

/* An engine client whose pooled connection the server dropped for idleness
 * (or is about to) reconnects instead of failing the next request. */
Test(conns, engine_client_survives_idle_close)
{
    mc_te_t *s = engine(0, 300), *c = engine(0, 300);
    uint8_t *mem = tu_alloc(1 << 16, 9), buf[4096];
    mc_te_segment_t *h;
    char *d;
    size_t dl;

    cr_assert_eq(mc_te_register_segment(s, "s", mem, 1 << 16, 1), MC_OK);
    cr_assert_eq(mc_te_describe_segment(s, "s", &d, &dl), MC_OK);
    cr_assert_eq(mc_te_open_segment_desc(c, d, dl, &h), MC_OK);
    free(d);
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(mc_te_transfer_sync(c, MC_TE_READ, buf, h, 0, sizeof buf), MC_OK, "round %d",
                     i);
        cr_assert_eq(tu_check(buf, sizeof buf, 9, 0), sizeof buf);
        usleep((useconds_t)(i * 80) * 1000); /* around and past half the idle timeout */
    }
    mc_te_destroy(c);
    mc_te_destroy(s);
    free(mem);
}

Test(conns, defaults_and_never)
{
    mc_te_t *s = engine(0, UINT32_MAX);
    int fd = raw_connect(s);

    usleep(400 * 1000);
    cr_assert_eq(ping(fd), MC_OK, "UINT32_MAX: never idle-closed");
    close(fd);
    mc_te_destroy(s);
}
