/* Faults: silent and absent peers, and a raw client sending bad frames to a
 * real server. Every failure must arrive within the deadline, the server
 * must keep serving, and ASan must find nothing. */
#include "mc/errors.h"
#include "mc/mtime.h"
#include "mc/te_tcp_proto.h"
#include "mc/transfer.h"
#include "te_test_util.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static uint64_t elapsed_ms(uint64_t t0)
{
    return mc_now_ms() - t0;
}

static int open_fake(mc_te_t *te, uint16_t port, uint64_t len, mc_te_segment_t **h)
{
    char *d = tu_fake_desc("fake", port, len);
    int rc = mc_te_open_segment_desc(te, d, strlen(d), h);
    free(d);
    return rc;
}

Test(te_faults, silent_peer_times_out)
{
    tu_silent_t sil;
    mc_te_t *te = tu_engine(2, 500, 0);
    mc_te_segment_t *h;
    uint8_t *buf = malloc(16 << 20);
    uint64_t t0;

    cr_assert(te && buf);
    cr_assert_eq(tu_silent_start(&sil), 0);
    cr_assert_eq(open_fake(te, sil.port, 64 << 20, &h), MC_OK);
    t0 = mc_now_ms();
    cr_assert_eq(mc_te_transfer_sync(te, MC_TE_READ, buf, h, 0, 4096), MC_TRANSFER_FAIL);
    cr_assert_lt(elapsed_ms(t0), 1500);
    t0 = mc_now_ms();
    /* 16 MiB cannot fit in the socket buffers of a peer that never reads. */
    cr_assert_eq(mc_te_transfer_sync(te, MC_TE_WRITE, buf, h, 0, 16 << 20), MC_TRANSFER_FAIL);
    cr_assert_lt(elapsed_ms(t0), 1500);
    tu_silent_stop(&sil);
    mc_te_destroy(te);
    free(buf);
}

Test(te_faults, nobody_listening_fails_fast)
{
    tu_silent_t sil;
    mc_te_t *te = tu_engine(2, 2000, 0);
    mc_te_segment_t *h;
    uint8_t buf[16];
    uint64_t t0;

    cr_assert_eq(tu_silent_start(&sil), 0);
    tu_silent_stop(&sil); /* the port is now closed */
    cr_assert_eq(open_fake(te, sil.port, 4096, &h), MC_OK);
    t0 = mc_now_ms();
    cr_assert_eq(mc_te_transfer_sync(te, MC_TE_READ, buf, h, 0, sizeof buf), MC_TRANSFER_FAIL);
    cr_assert_lt(elapsed_ms(t0), 1000);
    mc_te_destroy(te);
}

/* ---- raw frames against a real server ---- */

static mc_te_t *srv;
static uint8_t *seg;
static uint16_t srv_port;

static void start_server(void)
{
    srv = tu_engine(2, 500, 0);
    cr_assert(srv);
    seg = tu_alloc(1 << 20, 5);
    cr_assert_eq(mc_te_register_segment(srv, "s", seg, 1 << 20, 3), MC_OK);
    srv_port = (uint16_t)strtoul(strrchr(mc_te_endpoint(srv), ':') + 1, NULL, 10);
}

static void stop_server(void)
{
    mc_te_destroy(srv);
    free(seg);
}

static int raw_connect(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons(srv_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = 3};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    cr_assert(fd >= 0);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void raw_send(int fd, const mc_tcp_req_t *q, const void *payload, size_t n)
{
    uint8_t hdr[MC_TCP_REQ_SIZE];
    mc_tcp_req_encode(q, hdr);
    cr_assert_eq(send(fd, hdr, sizeof hdr, MSG_NOSIGNAL), (ssize_t)sizeof hdr);
    if (n)
        cr_assert_eq(send(fd, payload, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Reads one response header; returns its status (or 1 when the socket closed). */
static int raw_status(int fd, mc_tcp_resp_t *r)
{
    uint8_t hdr[MC_TCP_RESP_SIZE];
    size_t got = 0;

    while (got < sizeof hdr) {
        ssize_t n = recv(fd, hdr + got, sizeof hdr - got, 0);
        if (n <= 0)
            return 1;
        got += (size_t)n;
    }
    cr_assert_eq(mc_tcp_resp_decode(hdr, r), MC_OK);
    return r->status;
}

static bool raw_closed(int fd)
{
    char c;
    return recv(fd, &c, 1, 0) == 0;
}

static int ping(int fd)
{
    mc_tcp_req_t q = {.version = MC_TCP_VERSION, .opcode = MC_TCP_OP_PING, .id = 77};
    mc_tcp_resp_t r;
    raw_send(fd, &q, NULL, 0);
    return raw_status(fd, &r);
}

static void server_still_serves(void)
{
    mc_te_t *cli = tu_engine(2, 2000, 0);
    mc_te_segment_t *h;
    char *d;
    size_t dl;
    uint8_t buf[4096];

    cr_assert_eq(mc_te_describe_segment(srv, "s", &d, &dl), MC_OK);
    cr_assert_eq(mc_te_open_segment_desc(cli, d, dl, &h), MC_OK);
    free(d);
    cr_assert_eq(mc_te_transfer_sync(cli, MC_TE_READ, buf, h, 4096, sizeof buf), MC_OK);
    cr_assert_eq(tu_check(buf, sizeof buf, 5, 4096), sizeof buf);
    mc_te_destroy(cli);
}

Test(te_faults, bad_magic_closes, .init = start_server, .fini = stop_server)
{
    int fd = raw_connect();
    mc_tcp_resp_t r;
    uint8_t junk[MC_TCP_REQ_SIZE];

    memset(junk, 'A', sizeof junk);
    cr_assert_eq(send(fd, junk, sizeof junk, 0), (ssize_t)sizeof junk);
    cr_assert_eq(raw_status(fd, &r), MC_INVALID_PARAMS);
    cr_assert(raw_closed(fd));
    close(fd);
    server_still_serves();
}

Test(te_faults, bad_version_and_flags, .init = start_server, .fini = stop_server)
{
    mc_tcp_req_t q = {
        .version = 9, .opcode = MC_TCP_OP_READ, .id = 1, .seg_id = 1, .epoch = 3, .length = 16};
    mc_tcp_resp_t r;
    int fd = raw_connect();

    raw_send(fd, &q, NULL, 0);
    cr_assert_eq(raw_status(fd, &r), MC_INVALID_VERSION);
    cr_assert(raw_closed(fd));
    close(fd);
    fd = raw_connect();
    q.version = MC_TCP_VERSION;
    q.flags = 0x80;
    raw_send(fd, &q, NULL, 0);
    cr_assert_eq(raw_status(fd, &r), MC_INVALID_PARAMS);
    close(fd);
    server_still_serves();
}

Test(te_faults, oversize_length_closes, .init = start_server, .fini = stop_server)
{
    mc_tcp_req_t q = {.version = MC_TCP_VERSION,
                      .opcode = MC_TCP_OP_WRITE,
                      .id = 2,
                      .seg_id = 1,
                      .epoch = 3,
                      .length = (uint64_t)MC_TCP_MAX_FRAME + 1};
    mc_tcp_resp_t r;
    int fd = raw_connect();

    raw_send(fd, &q, NULL, 0);
    cr_assert_eq(raw_status(fd, &r), MC_INVALID_PARAMS);
    cr_assert_eq(r.id, 2);
    cr_assert(raw_closed(fd));
    close(fd);
    fd = raw_connect();
    q.length = UINT64_MAX;
    q.opcode = MC_TCP_OP_READ;
    raw_send(fd, &q, NULL, 0);
    cr_assert_eq(raw_status(fd, &r), MC_INVALID_PARAMS);
    close(fd);
    server_still_serves();
}

Test(te_faults, out_of_range_offset_refused, .init = start_server, .fini = stop_server)
{
    uint8_t payload[100];
    mc_tcp_req_t q = {.version = MC_TCP_VERSION,
                      .opcode = MC_TCP_OP_READ,
                      .id = 3,
                      .seg_id = 1,
                      .epoch = 3,
                      .offset = (1 << 20) - 10,
                      .length = 11};
    mc_tcp_resp_t r;
    int fd = raw_connect();

    raw_send(fd, &q, NULL, 0);
    cr_assert_eq(raw_status(fd, &r), MC_INVALID_PARAMS);
    cr_assert_eq(r.length, 0);
    q.offset = UINT64_MAX - 5; /* offset + length overflows */
    raw_send(fd, &q, NULL, 0);
    cr_assert_eq(raw_status(fd, &r), MC_INVALID_PARAMS);
    /* A refused WRITE's payload is drained: the connection stays in sync. */
    memset(payload, 0xEE, sizeof payload);
    q.opcode = MC_TCP_OP_WRITE;
    q.offset = (1 << 20) - 50;
    q.length = sizeof payload;
    raw_send(fd, &q, payload, sizeof payload);
    cr_assert_eq(raw_status(fd, &r), MC_INVALID_PARAMS);
    cr_assert_eq(ping(fd), MC_OK);
    cr_assert_eq(tu_check(seg, 1 << 20, 5, 0), 1 << 20, "segment untouched");
    /* Unknown segment id. */
    q.seg_id = 99;
    q.offset = 0;
    raw_send(fd, &q, payload, sizeof payload);
    cr_assert_eq(raw_status(fd, &r), MC_SEGMENT_NOT_FOUND);
    cr_assert_eq(ping(fd), MC_OK);
    close(fd);
    server_still_serves();
}

Test(te_faults, wrong_epoch_refused, .init = start_server, .fini = stop_server)
{
    uint8_t payload[4096];
    mc_tcp_req_t q = {.version = MC_TCP_VERSION,
                      .opcode = MC_TCP_OP_WRITE,
                      .id = 4,
                      .seg_id = 1,
                      .epoch = 2,
                      .offset = 0,
                      .length = sizeof payload};
    mc_tcp_resp_t r;
    int fd = raw_connect();

    memset(payload, 0xAB, sizeof payload);
    raw_send(fd, &q, payload, sizeof payload);
    cr_assert_eq(raw_status(fd, &r), MC_INVALID_VERSION);
    q.opcode = MC_TCP_OP_READ;
    raw_send(fd, &q, NULL, 0);
    cr_assert_eq(raw_status(fd, &r), MC_INVALID_VERSION);
    cr_assert_eq(tu_check(seg, 1 << 20, 5, 0), 1 << 20, "segment untouched");
    /* Bad CRC on a right-epoch write: refused (bytes may have landed). */
    q.opcode = MC_TCP_OP_WRITE;
    q.epoch = 3;
    q.flags = MC_TCP_FLAG_CRC;
    q.crc = 12345;
    raw_send(fd, &q, payload, sizeof payload);
    cr_assert_eq(raw_status(fd, &r), MC_TRANSFER_FAIL);
    cr_assert_eq(ping(fd), MC_OK);
    close(fd);
    server_still_serves();
}

Test(te_faults, truncated_frame_dropped_within_deadline, .init = start_server, .fini = stop_server)
{
    mc_tcp_req_t q = {.version = MC_TCP_VERSION,
                      .opcode = MC_TCP_OP_WRITE,
                      .id = 5,
                      .seg_id = 1,
                      .epoch = 3,
                      .length = 8192};
    uint8_t half[100] = {0};
    int fd = raw_connect(), fd2 = raw_connect();
    uint64_t t0 = mc_now_ms();
    mc_tcp_resp_t r;

    /* Half a header on one connection, a header and part of its payload on another. */
    cr_assert_eq(send(fd, "MCTQ\x01", 5, 0), 5);
    raw_send(fd2, &q, half, sizeof half);
    cr_assert(raw_closed(fd));
    cr_assert_eq(raw_status(fd2, &r), 1); /* closed without a response */
    cr_assert_lt(elapsed_ms(t0), 2000);
    cr_assert_eq(tu_check(seg + sizeof half, (1 << 20) - sizeof half, 5, sizeof half),
                 (1 << 20) - sizeof half);
    close(fd);
    close(fd2);
    server_still_serves();
}

Test(te_faults, idle_connections_do_not_block_shutdown, .init = start_server)
{
    int fd = raw_connect();
    uint64_t t0 = mc_now_ms();

    cr_assert_eq(ping(fd), MC_OK);
    stop_server(); /* with a connection open and idle */
    cr_assert_lt(elapsed_ms(t0), 2000);
    cr_assert(raw_closed(fd));
    close(fd);
}

/* A control frame for a back end this engine does not run (RDMA on a tcp-only
 * engine): the server hands it to the engine, which refuses it; the frame
 * was well-formed, so the connection stays. */
Test(te_faults, control_frame_without_its_backend, .init = start_server, .fini = stop_server)
{
    int fd = raw_connect();
    uint8_t body[64];
    mc_tcp_req_t q = {.version = MC_TCP_VERSION,
                      .opcode = MC_TCP_OP_RDMA_CONNECT,
                      .id = 6,
                      .length = sizeof body};
    mc_tcp_resp_t r;

    memset(body, 1, sizeof body);
    raw_send(fd, &q, body, sizeof body);
    cr_assert_eq(raw_status(fd, &r), MC_INVALID_PARAMS);
    cr_assert_eq(r.opcode, MC_TCP_OP_RDMA_CONNECT);
    cr_assert_eq(r.length, 0);
    cr_assert_eq(ping(fd), MC_OK, "connection kept");
    close(fd);
    server_still_serves();
}
