/* The data-plane handshake against a real server on loopback: raw clients
 * without it, with a wrong secret, with reflected and replayed proofs get
 * nothing and change nothing; engines with the right keys work; rotation.
 * Proofs are computed here with OpenSSL's HMAC directly, from the layout in
 * docs/transfer-engine.md, not with the engine's own code. */
#include "mc/errors.h"
#include "mc/mtime.h"
#include "mc/te_tcp_proto.h"
#include "mc/transfer.h"
#include "te_test_util.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define SEG_LEN (1u << 20)
#define SEED 5

static const char K_OLD[] = "old cluster token 0123456789abcdef";
static const char K_NEW[] = "new cluster token fedcba9876543210";
static const char K_BAD[] = "not the cluster token";

static mc_te_auth_keys_t keys2(const char *k0, const char *k1)
{
    mc_te_auth_keys_t k = {{(const uint8_t *)k0, (const uint8_t *)k1},
                           {k0 ? strlen(k0) : 0, k1 ? strlen(k1) : 0}};
    return k;
}

static mc_te_t *engine(const char *k0, const char *k1)
{
    mc_te_opts_t o = {.local_name = "127.0.0.1:0",
                      .tcp_conns = 1,
                      .request_timeout_ms = 2000,
                      .connect_timeout_ms = 1000,
                      .auth_timeout_ms = 500,
                      .auth = keys2(k0, k1)};
    mc_te_t *te = NULL;
    mc_errmsg_t err = {{0}};

    cr_assert_eq(mc_te_create(&o, &te, &err), MC_OK, "%s", err.msg);
    return te;
}

/* ---- a server with one segment, and raw clients ---- */

static mc_te_t *srv;
static uint8_t *seg;

static void start_server(void)
{
    srv = engine(K_OLD, NULL);
    seg = tu_alloc(SEG_LEN, SEED);
    cr_assert_eq(mc_te_register_segment(srv, "s", seg, SEG_LEN, 3), MC_OK);
}

static void stop_server(void)
{
    mc_te_destroy(srv);
    free(seg);
}

static uint16_t port_of(mc_te_t *te)
{
    return (uint16_t)strtoul(strrchr(mc_te_endpoint(te), ':') + 1, NULL, 10);
}

static int raw_connect(mc_te_t *te)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons(port_of(te)),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = 3};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    cr_assert(fd >= 0);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
    cr_assert_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Sends what it can; a server that closed early may reset the connection. */
static void send_some(int fd, const void *p, size_t n)
{
    (void)send(fd, p, n, MSG_NOSIGNAL);
}

/* Bytes the server sends before closing (0: nothing at all). Fails the test
 * if the connection is still open after the receive timeout. */
static size_t bytes_until_closed(int fd)
{
    uint8_t buf[4096];
    size_t total = 0;

    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return total;
        cr_assert(n > 0, "connection still open (errno %d)", errno);
        total += (size_t)n;
    }
}

static void hs_send(int fd, uint8_t type, const uint8_t body[MC_TCP_HS_BODY])
{
    uint8_t b[MC_TCP_HS_SIZE];
    mc_tcp_hs_t m = {.version = MC_TCP_VERSION, .type = type};

    memcpy(m.body, body, MC_TCP_HS_BODY);
    mc_tcp_hs_encode(&m, b);
    send_all(fd, b, sizeof b);
}

/* Receives one handshake frame of `type`; false when the server closed. */
static bool hs_recv(int fd, uint8_t type, uint8_t body[MC_TCP_HS_BODY])
{
    uint8_t b[MC_TCP_HS_SIZE];
    size_t got = 0;
    mc_tcp_hs_t m;

    while (got < sizeof b) {
        ssize_t n = recv(fd, b + got, sizeof b - got, 0);
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    cr_assert_eq(mc_tcp_hs_decode(b, type, &m), MC_OK);
    memcpy(body, m.body, MC_TCP_HS_BODY);
    return true;
}

/* HMAC-SHA256(key, label || a || b), as the docs specify. */
static void proof(const char *key, const char *label, const uint8_t *a, const uint8_t *b,
                  uint8_t out[MC_TCP_HS_BODY])
{
    uint8_t msg[64 + 2 * MC_TCP_HS_BODY];
    size_t ll = strlen(label);
    unsigned len = 0;

    memcpy(msg, label, ll);
    memcpy(msg + ll, a, MC_TCP_HS_BODY);
    memcpy(msg + ll + MC_TCP_HS_BODY, b, MC_TCP_HS_BODY);
    cr_assert(HMAC(EVP_sha256(), key, (int)strlen(key), msg, ll + 2 * MC_TCP_HS_BODY, out, &len));
    cr_assert_eq(len, MC_TCP_HS_BODY);
}

#define C2S "mc-te-auth-v1 c2s"
#define S2C "mc-te-auth-v1 s2c"

static mc_tcp_req_t read_req(void)
{
    mc_tcp_req_t q = {.version = MC_TCP_VERSION,
                      .opcode = MC_TCP_OP_READ,
                      .id = 9,
                      .seg_id = 1,
                      .epoch = 3,
                      .offset = 0,
                      .length = 4096};
    return q;
}

static void send_req(int fd, const mc_tcp_req_t *q, const void *payload)
{
    uint8_t hdr[MC_TCP_REQ_SIZE];

    mc_tcp_req_encode(q, hdr);
    send_some(fd, hdr, sizeof hdr);
    if (payload)
        send_some(fd, payload, (size_t)q->length);
}

static bool seg_untouched(void)
{
    return tu_check(seg, SEG_LEN, SEED, 0) == SEG_LEN;
}

Test(auth, raw_requests_without_handshake_get_nothing, .init = start_server, .fini = stop_server)
{
    mc_tcp_req_t q = read_req();
    mc_tcp_req_t ping = {.version = MC_TCP_VERSION, .opcode = MC_TCP_OP_PING, .id = 1};
    uint8_t payload[4096];
    int fd;

    fd = raw_connect(srv);
    send_req(fd, &q, NULL);
    cr_assert_eq(bytes_until_closed(fd), 0, "a raw READ gets no byte back");
    close(fd);

    memset(payload, 0xEE, sizeof payload);
    q.opcode = MC_TCP_OP_WRITE;
    fd = raw_connect(srv);
    send_req(fd, &q, payload);
    cr_assert_eq(bytes_until_closed(fd), 0);
    close(fd);
    cr_assert(seg_untouched(), "a raw WRITE changes nothing");

    fd = raw_connect(srv);
    send_req(fd, &ping, NULL);
    cr_assert_eq(bytes_until_closed(fd), 0, "not even a PING is answered");
    close(fd);
}

/* Runs the client side by hand with `key`; returns the socket when the server
 * answered with a right proof, else -1 (server closed). */
static int raw_handshake(const char *key, uint8_t nc[MC_TCP_HS_BODY], uint8_t ns[MC_TCP_HS_BODY],
                         uint8_t pc[MC_TCP_HS_BODY])
{
    uint8_t ps[MC_TCP_HS_BODY], want[MC_TCP_HS_BODY];
    int fd = raw_connect(srv);

    cr_assert_eq(RAND_bytes(nc, MC_TCP_HS_BODY), 1);
    hs_send(fd, MC_TCP_HS_HELLO, nc);
    cr_assert(hs_recv(fd, MC_TCP_HS_CHALLENGE, ns));
    proof(key, C2S, nc, ns, pc);
    hs_send(fd, MC_TCP_HS_CLIENT_PROOF, pc);
    if (!hs_recv(fd, MC_TCP_HS_SERVER_PROOF, ps)) {
        close(fd);
        return -1;
    }
    proof(key, S2C, nc, ns, want);
    cr_assert_eq(memcmp(ps, want, sizeof ps), 0, "the server proves the same key");
    return fd;
}

Test(auth, raw_handshake_with_the_key_serves, .init = start_server, .fini = stop_server)
{
    uint8_t nc[MC_TCP_HS_BODY], ns[MC_TCP_HS_BODY], pc[MC_TCP_HS_BODY], hdr[MC_TCP_RESP_SIZE];
    uint8_t *data = malloc(4096);
    mc_tcp_req_t q = read_req();
    mc_tcp_resp_t r;
    int fd = raw_handshake(K_OLD, nc, ns, pc);

    cr_assert(fd >= 0);
    send_req(fd, &q, NULL);
    cr_assert_eq(recv(fd, hdr, sizeof hdr, MSG_WAITALL), (ssize_t)sizeof hdr);
    cr_assert_eq(mc_tcp_resp_decode(hdr, &r), MC_OK);
    cr_assert_eq(r.status, MC_OK);
    cr_assert_eq(recv(fd, data, 4096, MSG_WAITALL), 4096);
    cr_assert_eq(tu_check(data, 4096, SEED, 0), 4096);
    close(fd);
    free(data);
}

Test(auth, wrong_secret_serves_nothing, .init = start_server, .fini = stop_server)
{
    uint8_t nc[MC_TCP_HS_BODY], ns[MC_TCP_HS_BODY], pc[MC_TCP_HS_BODY];
    mc_tcp_req_t q = read_req();
    uint8_t payload[4096];
    int fd;

    cr_assert_eq(raw_handshake(K_BAD, nc, ns, pc), -1, "no server proof for a wrong key");
    /* The same, then requests sent blindly after the proof. */
    fd = raw_connect(srv);
    cr_assert_eq(RAND_bytes(nc, sizeof nc), 1);
    hs_send(fd, MC_TCP_HS_HELLO, nc);
    cr_assert(hs_recv(fd, MC_TCP_HS_CHALLENGE, ns));
    proof(K_BAD, C2S, nc, ns, pc);
    hs_send(fd, MC_TCP_HS_CLIENT_PROOF, pc);
    memset(payload, 0xEE, sizeof payload);
    q.opcode = MC_TCP_OP_WRITE;
    send_req(fd, &q, payload);
    q.opcode = MC_TCP_OP_READ;
    send_req(fd, &q, NULL);
    cr_assert_eq(bytes_until_closed(fd), 0);
    close(fd);
    cr_assert(seg_untouched());
}

Test(auth, reflected_and_replayed_proofs_fail, .init = start_server, .fini = stop_server)
{
    uint8_t nc[MC_TCP_HS_BODY], ns[MC_TCP_HS_BODY], pc[MC_TCP_HS_BODY];
    uint8_t ns2[MC_TCP_HS_BODY], p[MC_TCP_HS_BODY];
    int fd;

    /* Reflection: the right key, but the server's direction label (what a
     * server would send), or the nonces the other way round. */
    for (int variant = 0; variant < 2; variant++) {
        fd = raw_connect(srv);
        cr_assert_eq(RAND_bytes(nc, sizeof nc), 1);
        hs_send(fd, MC_TCP_HS_HELLO, nc);
        cr_assert(hs_recv(fd, MC_TCP_HS_CHALLENGE, ns));
        if (variant == 0)
            proof(K_OLD, S2C, nc, ns, p);
        else
            proof(K_OLD, C2S, ns, nc, p);
        hs_send(fd, MC_TCP_HS_CLIENT_PROOF, p);
        cr_assert_eq(bytes_until_closed(fd), 0, "variant %d", variant);
        close(fd);
    }
    /* The server's nonce, sent back as the client's: still a fresh challenge. */
    fd = raw_connect(srv);
    cr_assert_eq(RAND_bytes(nc, sizeof nc), 1);
    hs_send(fd, MC_TCP_HS_HELLO, nc);
    cr_assert(hs_recv(fd, MC_TCP_HS_CHALLENGE, ns));
    hs_send(fd, MC_TCP_HS_CLIENT_PROOF, ns);
    cr_assert_eq(bytes_until_closed(fd), 0);
    close(fd);

    /* Replay: a good proof from an earlier connection, same client nonce. */
    fd = raw_handshake(K_OLD, nc, ns, pc);
    cr_assert(fd >= 0);
    close(fd);
    fd = raw_connect(srv);
    hs_send(fd, MC_TCP_HS_HELLO, nc);
    cr_assert(hs_recv(fd, MC_TCP_HS_CHALLENGE, ns2));
    cr_assert_neq(memcmp(ns, ns2, sizeof ns), 0, "a fresh server nonce");
    hs_send(fd, MC_TCP_HS_CLIENT_PROOF, pc);
    cr_assert_eq(bytes_until_closed(fd), 0);
    close(fd);
    cr_assert(seg_untouched());
}

Test(auth, unfinished_handshake_times_out, .init = start_server, .fini = stop_server)
{
    uint8_t nc[MC_TCP_HS_BODY] = {1};
    uint64_t t0 = mc_now_ms();
    int fd = raw_connect(srv), fd2 = raw_connect(srv);

    hs_send(fd2, MC_TCP_HS_HELLO, nc); /* and then nothing */
    cr_assert_eq(bytes_until_closed(fd), 0);
    cr_assert_eq(bytes_until_closed(fd2), MC_TCP_HS_SIZE, "only the challenge");
    cr_assert_lt(mc_now_ms() - t0, 1500, "auth_timeout_ms is 500");
    close(fd);
    close(fd2);
}

/* ---- engines ---- */

/* A client engine opens the server's segment "s" (P2P) and reads 4 KiB. */
static int client_read(mc_te_t *cli, mc_te_t *server)
{
    mc_te_segment_t *h;
    char *d;
    size_t dl;
    uint8_t buf[4096];
    int rc;

    cr_assert_eq(mc_te_describe_segment(server, "s", &d, &dl), MC_OK);
    cr_assert_eq(mc_te_open_segment_desc(cli, d, dl, &h), MC_OK);
    free(d);
    memset(buf, 0, sizeof buf);
    rc = mc_te_transfer_sync(cli, MC_TE_READ, buf, h, 4096, sizeof buf);
    if (rc == MC_OK)
        cr_assert_eq(tu_check(buf, sizeof buf, SEED, 4096), sizeof buf);
    return rc;
}

Test(auth, engines_with_the_key_work, .init = start_server, .fini = stop_server)
{
    mc_te_t *cli = engine(K_OLD, NULL);
    mc_te_segment_t *h;
    char *d;
    size_t dl;
    uint8_t *buf = tu_alloc(256 << 10, 77), *back = malloc(256 << 10);

    cr_assert_eq(mc_te_describe_segment(srv, "s", &d, &dl), MC_OK);
    cr_assert_eq(mc_te_open_segment_desc(cli, d, dl, &h), MC_OK);
    free(d);
    cr_assert_eq(mc_te_transfer_sync(cli, MC_TE_WRITE, buf, h, 8192, 256 << 10), MC_OK);
    cr_assert_eq(mc_te_transfer_sync(cli, MC_TE_READ, back, h, 8192, 256 << 10), MC_OK);
    cr_assert_eq(tu_check(back, 256 << 10, 77, 0), 256 << 10);
    cr_assert_eq(tu_check(seg + 8192, 256 << 10, 77, 0), 256 << 10);
    mc_te_destroy(cli);
    free(buf);
    free(back);
}

Test(auth, wrong_or_missing_keys_fail_fast, .init = start_server, .fini = stop_server)
{
    mc_te_t *bad = engine(K_BAD, NULL), *none = engine(NULL, NULL), *plain_srv;
    mc_te_segment_t *h;
    char *d;
    size_t dl;
    uint8_t buf[4096];
    uint64_t t0 = mc_now_ms();

    cr_assert_eq(client_read(bad, srv), MC_TRANSFER_FAIL);
    cr_assert_eq(client_read(none, srv), MC_TRANSFER_FAIL, "a client without keys");
    cr_assert_lt(mc_now_ms() - t0, 1000);
    /* A WRITE with the wrong key changes nothing. */
    memset(buf, 0xEE, sizeof buf);
    cr_assert_eq(mc_te_describe_segment(srv, "s", &d, &dl), MC_OK);
    cr_assert_eq(mc_te_open_segment_desc(bad, d, dl, &h), MC_OK);
    free(d);
    cr_assert_eq(mc_te_transfer_sync(bad, MC_TE_WRITE, buf, h, 0, sizeof buf), MC_TRANSFER_FAIL);
    cr_assert(seg_untouched());
    /* A client with keys, a server without: refused at once, not at a timeout. */
    plain_srv = engine(NULL, NULL);
    cr_assert_eq(mc_te_register_segment(plain_srv, "s", seg, SEG_LEN, 3), MC_OK);
    t0 = mc_now_ms();
    cr_assert_eq(client_read(bad, plain_srv), MC_TRANSFER_FAIL);
    cr_assert_lt(mc_now_ms() - t0, 400);
    cr_assert_eq(client_read(none, plain_srv), MC_OK, "no keys anywhere: as before");
    mc_te_destroy(plain_srv);
    mc_te_destroy(bad);
    mc_te_destroy(none);
}

Test(auth, rotation)
{
    mc_te_t *s = engine(K_NEW, K_OLD);
    mc_te_t *c_old = engine(K_OLD, NULL), *c_new = engine(K_NEW, NULL), *c_old2, *c_new2;
    mc_te_auth_keys_t only_new = keys2(K_NEW, NULL);

    seg = tu_alloc(SEG_LEN, SEED);
    cr_assert_eq(mc_te_register_segment(s, "s", seg, SEG_LEN, 3), MC_OK);
    cr_assert_eq(client_read(c_old, s), MC_OK, "server {new, old}, client {old}");
    cr_assert_eq(client_read(c_new, s), MC_OK, "server {new, old}, client {new}");
    cr_assert_eq(mc_te_set_auth_keys(s, &only_new), MC_OK);
    /* The old client's pooled connection is closed by the server, and it
     * cannot make a new one; the new client's connection stays. */
    cr_assert_eq(client_read(c_old, s), MC_TRANSFER_FAIL);
    cr_assert_eq(client_read(c_new, s), MC_OK);
    c_old2 = engine(K_OLD, NULL);
    c_new2 = engine(K_NEW, K_OLD);
    cr_assert_eq(client_read(c_old2, s), MC_TRANSFER_FAIL);
    cr_assert_eq(client_read(c_new2, s), MC_OK);
    /* The client's side of rotation: it proves with its key 0 only. */
    cr_assert_eq(mc_te_set_auth_keys(c_old2, &only_new), MC_OK);
    cr_assert_eq(client_read(c_old2, s), MC_OK, "a client given the new key");
    mc_te_destroy(c_old);
    mc_te_destroy(c_new);
    mc_te_destroy(c_old2);
    mc_te_destroy(c_new2);
    mc_te_destroy(s);
    free(seg);
}

Test(auth, turning_keys_on_closes_unauthenticated_connections)
{
    mc_te_t *s = engine(NULL, NULL), *c = engine(NULL, NULL), *c_key = engine(K_OLD, NULL);
    mc_te_auth_keys_t k = keys2(K_OLD, NULL), none = keys2(NULL, NULL);

    seg = tu_alloc(SEG_LEN, SEED);
    cr_assert_eq(mc_te_register_segment(s, "s", seg, SEG_LEN, 3), MC_OK);
    cr_assert_eq(client_read(c, s), MC_OK);
    cr_assert_eq(mc_te_set_auth_keys(s, &k), MC_OK);
    cr_assert_eq(client_read(c, s), MC_TRANSFER_FAIL);
    cr_assert_eq(client_read(c_key, s), MC_OK);
    cr_assert_eq(mc_te_set_auth_keys(s, &none), MC_OK);
    cr_assert_eq(client_read(c, s), MC_OK, "keys off again");
    mc_te_destroy(c);
    mc_te_destroy(c_key);
    mc_te_destroy(s);
    free(seg);
}

Test(auth, bad_key_sets_refused)
{
    static uint8_t big[MC_TE_AUTH_KEY_MAX + 1];
    mc_te_opts_t o = {.local_name = "127.0.0.1:0"};
    mc_te_auth_keys_t only_second = keys2(NULL, K_OLD);
    mc_te_t *te = NULL;
    mc_errmsg_t err = {{0}};

    o.auth.key[0] = big;
    o.auth.len[0] = sizeof big;
    cr_assert_eq(mc_te_create(&o, &te, &err), MC_INVALID_PARAMS);
    cr_assert(strstr(err.msg, "auth keys"), "%s", err.msg);
    o.auth = only_second;
    cr_assert_eq(mc_te_create(&o, &te, NULL), MC_INVALID_PARAMS);
    o.auth = keys2(K_OLD, NULL);
    o.auth.len[0] = MC_TE_AUTH_KEY_MAX;
    o.auth.key[0] = big;
    cr_assert_eq(mc_te_create(&o, &te, NULL), MC_OK, "the longest key");
    cr_assert_eq(mc_te_set_auth_keys(te, &only_second), MC_INVALID_PARAMS);
    mc_te_destroy(te);
}

/* The control channel (RDMA's QP exchange) sits behind the handshake too:
 * without it a control frame gets nothing; after it, the frame reaches the
 * engine (which runs no RDMA here and refuses it, keeping the connection). */
Test(auth, control_frames_need_the_handshake, .init = start_server, .fini = stop_server)
{
    uint8_t nc[MC_TCP_HS_BODY], ns[MC_TCP_HS_BODY], pc[MC_TCP_HS_BODY], body[64];
    uint8_t hdr[MC_TCP_RESP_SIZE];
    mc_tcp_req_t q = {.version = MC_TCP_VERSION,
                      .opcode = MC_TCP_OP_RDMA_CONNECT,
                      .id = 6,
                      .length = sizeof body};
    mc_tcp_resp_t r;
    int fd = raw_connect(srv);

    memset(body, 1, sizeof body);
    send_req(fd, &q, body);
    cr_assert_eq(bytes_until_closed(fd), 0);
    close(fd);
    fd = raw_handshake(K_OLD, nc, ns, pc);
    cr_assert(fd >= 0);
    send_req(fd, &q, body);
    cr_assert_eq(recv(fd, hdr, sizeof hdr, MSG_WAITALL), (ssize_t)sizeof hdr);
    cr_assert_eq(mc_tcp_resp_decode(hdr, &r), MC_OK);
    cr_assert_eq(r.opcode, MC_TCP_OP_RDMA_CONNECT);
    cr_assert_eq(r.status, MC_INVALID_PARAMS);
    close(fd);
}

/* Whether a fresh client holding `c` can read from a fresh server holding `s`. */
static bool pair_ok(const char *c0, const char *c1, const char *s0, const char *s1)
{
    mc_te_t *s = engine(s0, s1), *c = engine(c0, c1);
    int rc;

    seg = tu_alloc(SEG_LEN, SEED);
    cr_assert_eq(mc_te_register_segment(s, "s", seg, SEG_LEN, 3), MC_OK);
    rc = client_read(c, s);
    mc_te_destroy(c);
    mc_te_destroy(s);
    free(seg);
    return rc == MC_OK;
}

/* A rolling rotation with no failed connection at any point: every node
 * {old, new}, then every node {new, old}, then {new}. At each step some
 * nodes are at the previous set: both directions must work. Going straight
 * to {new, old} does not: such a node proves `new` to one still at {old}. */
Test(auth, rolling_rotation_in_three_steps)
{
    const char *steps[][2] = {{K_OLD, NULL}, {K_OLD, K_NEW}, {K_NEW, K_OLD}, {K_NEW, NULL}};

    for (int i = 1; i < 4; i++) {
        const char **prev = steps[i - 1], **next = steps[i];
        cr_assert(pair_ok(next[0], next[1], prev[0], prev[1]), "step %d: updated -> not yet", i);
        cr_assert(pair_ok(prev[0], prev[1], next[0], next[1]), "step %d: not yet -> updated", i);
        cr_assert(pair_ok(next[0], next[1], next[0], next[1]), "step %d: updated -> updated", i);
    }
    cr_assert(!pair_ok(K_NEW, K_OLD, K_OLD, NULL), "{new, old} cannot reach {old}");
}
