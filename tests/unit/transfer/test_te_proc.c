/* Two processes on loopback: a forked peer serves a segment; this process
 * reads and writes it (the peer verifies writes itself), then kills or stops
 * the peer mid-transfer and checks the failure arrives within the deadline
 * and that the next request reconnects. */
#include "mc/errors.h"
#include "mc/mtime.h"
#include "mc/transfer.h"
#include "te_test_util.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define SEG (64u << 20)

static void read_check(mc_te_t *te, mc_te_segment_t *h, uint8_t *buf, uint64_t off, size_t len)
{
    memset(buf, 0, len);
    cr_assert_eq(mc_te_transfer_sync(te, MC_TE_READ, buf, h, off, len), MC_OK, "read %zu", len);
    cr_assert_eq(tu_check(buf, len, 5, off), len, "read %zu at %llu", len, (unsigned long long)off);
}

static void write_check(mc_te_t *te, tu_peer_t *p, mc_te_segment_t *h, uint8_t *buf, uint64_t off,
                        size_t len)
{
    tu_fill(buf, len, 9, off);
    cr_assert_eq(mc_te_transfer_sync(te, MC_TE_WRITE, buf, h, off, len), MC_OK, "write %zu", len);
    cr_assert_eq(tu_peer_verify(p, off, len, 9), 0, "peer sees write %zu", len);
}

Test(te_proc, sizes_two_processes, .timeout = 40)
{
    tu_peer_t p;
    cr_assert_eq(tu_peer_start(&p, "peer", SEG, 5, NULL), 0); /* before our threads */
    mc_te_t *te = tu_engine(4, 5000, 0);
    mc_te_segment_t *h;
    uint8_t *buf = malloc(SEG);

    cr_assert(te && buf);
    cr_assert_eq(mc_te_open_segment_desc(te, p.desc, p.desc_len, &h), MC_OK);
    read_check(te, h, buf, 0, 1);
    read_check(te, h, buf, SEG - 1, 1);
    read_check(te, h, buf, 4096, 4096);
    read_check(te, h, buf, 12345, 1 << 20);
    read_check(te, h, buf, 0, SEG);
    write_check(te, &p, h, buf, 0, 1);
    write_check(te, &p, h, buf, 8192, 4096);
    write_check(te, &p, h, buf, 777, 1 << 20);
    write_check(te, &p, h, buf, 0, SEG);
    mc_te_destroy(te);
    free(buf);
    cr_assert_eq(tu_peer_stop(&p), 0, "peer exits cleanly");
}

Test(te_proc, batch_512_two_processes)
{
    tu_peer_t p;
    cr_assert_eq(tu_peer_start(&p, "peer", 8 << 20, 5, NULL), 0); /* before our threads */
    mc_te_t *te = tu_engine(4, 5000, 1);
    mc_te_segment_t *h;
    mc_te_batch_t *b;
    const size_t n = 512, blk = 8192;
    uint8_t *buf = malloc(n * blk);
    mc_te_request_t *q = calloc(n, sizeof *q);

    cr_assert_eq(mc_te_open_segment_desc(te, p.desc, p.desc_len, &h), MC_OK);
    cr_assert_eq(mc_te_batch_create(te, n, &b), MC_OK);
    for (size_t i = 0; i < n; i++) {
        q[i] = (mc_te_request_t){.opcode = MC_TE_READ,
                                 .local = buf + i * blk,
                                 .seg = h,
                                 .offset = (n - 1 - i) * blk,
                                 .length = blk};
    }
    cr_assert_eq(mc_te_submit(b, q, n), MC_OK);
    cr_assert_eq(mc_te_wait(b, 10000), MC_OK);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(tu_check(buf + i * blk, blk, 5, (n - 1 - i) * blk), blk);
    for (size_t i = 0; i < n; i++) {
        q[i].opcode = MC_TE_WRITE;
        tu_fill(q[i].local, blk, 9, q[i].offset);
    }
    cr_assert_eq(mc_te_submit(b, q, n), MC_OK);
    cr_assert_eq(mc_te_wait(b, 10000), MC_OK);
    cr_assert_eq(tu_peer_verify(&p, 0, n * blk, 9), 0);
    mc_te_batch_destroy(b);
    mc_te_destroy(te);
    free(buf);
    free(q);
    cr_assert_eq(tu_peer_stop(&p), 0);
}

/* Starts 8 x 64 MiB transfers, hurts the peer with sig after 30 ms, and
 * checks the batch fails within the 2 s request timeout (+ slack). */
static void hurt_mid_transfer(int sig, mc_te_opcode_t op)
{
    tu_peer_t p, p2;
    mc_te_t *te;
    mc_te_segment_t *h;
    mc_te_batch_t *b;
    uint8_t *buf = tu_alloc(SEG, 1);
    mc_te_request_t q[8];
    char endpoint[64];
    uint64_t t0;
    int rc;

    /* Both peers forked before this process has threads. */
    cr_assert_eq(tu_peer_fork(&p2), 0);
    cr_assert_eq(tu_peer_start(&p, "peer", SEG, 5, NULL), 0);
    te = tu_engine(4, 2000, 0);
    cr_assert_eq(mc_te_open_segment_desc(te, p.desc, p.desc_len, &h), MC_OK);
    strncpy(endpoint, strstr(p.desc, "127.0.0.1:"), sizeof endpoint - 1);
    endpoint[strcspn(endpoint, "\"")] = '\0';
    cr_assert_eq(mc_te_batch_create(te, 8, &b), MC_OK);
    for (int i = 0; i < 8; i++)
        q[i] = (mc_te_request_t){.opcode = op, .local = buf, .seg = h, .length = SEG};
    t0 = mc_now_ms();
    cr_assert_eq(mc_te_submit(b, q, 8), MC_OK);
    mc_sleep_ms(30);
    kill(p.pid, sig);
    rc = mc_te_wait(b, 10000);
    cr_assert_eq(rc, MC_TRANSFER_FAIL, "rc %d", rc);
    cr_assert_lt(mc_now_ms() - t0, 3500, "failed within the deadline");
    kill(p.pid, SIGKILL);
    tu_peer_stop(&p);
    /* A new peer on the same endpoint: the pool reconnects. */
    cr_assert_eq(tu_peer_go(&p2, "peer", 1 << 20, 5, endpoint), 0);
    cr_assert_eq(mc_te_open_segment_desc(te, p2.desc, p2.desc_len, &h), MC_OK);
    read_check(te, h, buf, 0, 1 << 20);
    write_check(te, &p2, h, buf, 0, 1 << 20);
    mc_te_batch_destroy(b);
    mc_te_destroy(te);
    free(buf);
    cr_assert_eq(tu_peer_stop(&p2), 0);
}

Test(te_proc, peer_killed_mid_read, .timeout = 30)
{
    hurt_mid_transfer(SIGKILL, MC_TE_READ);
}

Test(te_proc, peer_killed_mid_write, .timeout = 30)
{
    hurt_mid_transfer(SIGKILL, MC_TE_WRITE);
}

Test(te_proc, peer_stalled_mid_read, .timeout = 30)
{
    hurt_mid_transfer(SIGSTOP, MC_TE_READ);
}
