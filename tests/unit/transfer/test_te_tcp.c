/* Two engines in one process over loopback TCP, plus the memcpy back end:
 * sizes, batches, slicing, CRC, epochs, bounds. Every byte is verified. */
#include "mc/errors.h"
#include "mc/mtime.h"
#include "mc/te_tcp_proto.h"
#include "mc/transfer.h"
#include "te_internal.h"
#include "te_test_util.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static mc_te_t *srv, *cli;
static uint8_t *seg;
static size_t seg_len;
static mc_te_segment_t *rseg;

/* Server engine with segment "s" of len bytes (pattern 7); client opens it P2P. */
static void setup_pair(size_t len, unsigned conns, int crc)
{
    char *desc;
    size_t dlen;

    srv = tu_engine(4, 3000, crc);
    cli = tu_engine(conns, 3000, crc);
    cr_assert(srv && cli);
    seg_len = len;
    seg = tu_alloc(len, 7);
    cr_assert_eq(mc_te_register_segment(srv, "s", seg, len, 1), MC_OK);
    cr_assert_eq(mc_te_describe_segment(srv, "s", &desc, &dlen), MC_OK);
    cr_assert_eq(mc_te_open_segment_desc(cli, desc, dlen, &rseg), MC_OK);
    cr_assert_str_eq(mc_te_segment_protocol(rseg), "tcp");
    free(desc);
}

static void teardown_pair(void)
{
    mc_te_destroy(cli);
    mc_te_destroy(srv);
    free(seg);
    cli = srv = NULL;
    seg = NULL;
}

static void rw_roundtrip(size_t len, uint64_t off, uint32_t seed)
{
    uint8_t *buf = tu_alloc(len, seed);

    int rc = mc_te_transfer_sync(cli, MC_TE_WRITE, buf, rseg, off, len);
    cr_assert_eq(rc, MC_OK, "write %zu at %llu: %d", len, (unsigned long long)off, rc);
    cr_assert_eq(tu_check(seg + off, len, seed, 0), len, "write of %zu bytes", len);
    memset(buf, 0, len);
    tu_fill(seg + off, len, seed + 1, 0);
    cr_assert_eq(mc_te_transfer_sync(cli, MC_TE_READ, buf, rseg, off, len), MC_OK);
    cr_assert_eq(tu_check(buf, len, seed + 1, 0), len, "read of %zu bytes", len);
    free(buf);
}

Test(te_tcp, sizes_1b_4k_1m)
{
    setup_pair(4 << 20, 4, 0);
    rw_roundtrip(1, 0, 11);
    rw_roundtrip(1, seg_len - 1, 12);
    rw_roundtrip(4096, 4096, 13);
    rw_roundtrip(4096, 123, 14);
    rw_roundtrip(1 << 20, 1 << 20, 15);
    rw_roundtrip(3 << 20, (1 << 20) - 5, 16); /* sliced, unaligned */
    teardown_pair();
}

Test(te_tcp, size_64m, .timeout = 30)
{
    setup_pair(64 << 20, 4, 0);
    rw_roundtrip(64 << 20, 0, 21);
    teardown_pair();
}

Test(te_tcp, crc_on)
{
    setup_pair(8 << 20, 3, 1);
    rw_roundtrip(5 << 20, 7, 31);
    rw_roundtrip(1, 0, 32);
    teardown_pair();
}

Test(te_tcp, single_connection_pipelined)
{
    setup_pair(4 << 20, 1, 0);
    rw_roundtrip(4 << 20, 0, 41);
    teardown_pair();
}

/* n requests of blk bytes at distinct offsets, alternating WRITE and READ. */
static void batch_case(size_t n, size_t blk, uint32_t seed)
{
    mc_te_batch_t *b;
    mc_te_request_t *q = calloc(n, sizeof *q);
    uint8_t *buf = malloc(n * blk);

    cr_assert_eq(mc_te_batch_create(cli, n, &b), MC_OK);
    for (size_t i = 0; i < n; i++) {
        q[i].opcode = i % 2 ? MC_TE_READ : MC_TE_WRITE;
        q[i].local = buf + i * blk;
        q[i].seg = rseg;
        q[i].offset = i * blk;
        q[i].length = blk;
        tu_fill(q[i].local, blk, seed, i * blk);
        tu_fill(seg + i * blk, blk, i % 2 ? seed + 1 : 0, i * blk);
    }
    cr_assert_eq(mc_te_submit(b, q, n), MC_OK);
    cr_assert_eq(mc_te_wait(b, 10000), MC_OK);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(mc_te_status(b, i), MC_OK);
        if (i % 2)
            cr_assert_eq(tu_check(buf + i * blk, blk, seed + 1, i * blk), blk, "req %zu", i);
        else
            cr_assert_eq(tu_check(seg + i * blk, blk, seed, i * blk), blk, "req %zu", i);
    }
    /* The batch is reusable once complete. */
    cr_assert_eq(mc_te_submit(b, q, 1), MC_OK);
    cr_assert_eq(mc_te_wait(b, 10000), MC_OK);
    mc_te_batch_destroy(b);
    free(q);
    free(buf);
}

Test(te_tcp, batches_1_to_512)
{
    setup_pair(8 << 20, 4, 0);
    batch_case(1, 4096, 51);
    batch_case(2, 1, 52);
    batch_case(7, 65536, 53);
    batch_case(64, 4096, 54);
    batch_case(512, 4096, 55);
    batch_case(512, 16384, 56);
    teardown_pair();
}

Test(te_tcp, epoch_mismatch_refused)
{
    uint8_t buf[4096];
    char *desc;
    size_t dlen;
    mc_te_request_t q = {
        .opcode = MC_TE_WRITE, .local = buf, .offset = 0, .length = sizeof buf, .epoch = 5};
    mc_te_batch_t *b;

    setup_pair(1 << 20, 2, 0);
    q.seg = rseg;
    tu_fill(buf, sizeof buf, 61, 0);
    /* An explicit wrong epoch. */
    cr_assert_eq(mc_te_batch_create(cli, 1, &b), MC_OK);
    cr_assert_eq(mc_te_submit(b, &q, 1), MC_OK);
    cr_assert_eq(mc_te_wait(b, 5000), MC_INVALID_VERSION);
    cr_assert_eq(mc_te_status(b, 0), MC_INVALID_VERSION);
    cr_assert_eq(tu_check(seg, sizeof buf, 7, 0), sizeof buf, "segment untouched");
    /* Remount: the handle's epoch is now stale, writes and reads are refused. */
    cr_assert_eq(mc_te_set_epoch(srv, "s", 2), MC_OK);
    cr_assert_eq(mc_te_set_epoch(srv, "s", 2), MC_INVALID_VERSION);
    cr_assert_eq(mc_te_transfer_sync(cli, MC_TE_WRITE, buf, rseg, 0, sizeof buf),
                 MC_INVALID_VERSION);
    cr_assert_eq(mc_te_transfer_sync(cli, MC_TE_READ, buf, rseg, 0, sizeof buf),
                 MC_INVALID_VERSION);
    cr_assert_eq(tu_check(seg, sizeof buf, 7, 0), sizeof buf, "segment untouched");
    /* The new descriptor carries epoch 2: accepted. Same connection still works. */
    cr_assert_eq(mc_te_describe_segment(srv, "s", &desc, &dlen), MC_OK);
    cr_assert_eq(mc_te_open_segment_desc(cli, desc, dlen, &rseg), MC_OK);
    free(desc);
    cr_assert_eq(mc_te_segment_epoch(rseg), 2);
    cr_assert_eq(mc_te_transfer_sync(cli, MC_TE_WRITE, buf, rseg, 0, sizeof buf), MC_OK);
    cr_assert_eq(tu_check(seg, sizeof buf, 61, 0), sizeof buf);
    mc_te_batch_destroy(b);
    teardown_pair();
}

Test(te_tcp, bounds_and_withdrawn_segment)
{
    uint8_t buf[64];
    mc_te_request_t q = {.opcode = MC_TE_READ, .local = buf, .length = 64};
    mc_te_batch_t *b;

    setup_pair(4096, 2, 0);
    q.seg = rseg;
    cr_assert_eq(mc_te_batch_create(cli, 1, &b), MC_OK);
    q.offset = 4096 - 63;
    cr_assert_eq(mc_te_submit(b, &q, 1), MC_INVALID_PARAMS);
    q.offset = UINT64_MAX - 10;
    cr_assert_eq(mc_te_submit(b, &q, 1), MC_INVALID_PARAMS);
    q.offset = 0;
    q.opcode = 9;
    cr_assert_eq(mc_te_submit(b, &q, 1), MC_INVALID_PARAMS);
    q.opcode = MC_TE_READ;
    cr_assert_eq(mc_te_submit(b, &q, 1), MC_OK);
    cr_assert_eq(mc_te_wait(b, 5000), MC_OK);
    cr_assert_eq(mc_te_unregister_segment(srv, "s"), MC_OK);
    cr_assert_eq(mc_te_unregister_segment(srv, "s"), MC_SEGMENT_NOT_FOUND);
    cr_assert_eq(mc_te_submit(b, &q, 1), MC_OK);
    cr_assert_eq(mc_te_wait(b, 5000), MC_SEGMENT_NOT_FOUND);
    mc_te_batch_destroy(b);
    teardown_pair();
}

Test(te_mem, local_segment_uses_memcpy)
{
    mc_te_t *te = tu_engine(2, 2000, 0);
    uint8_t *s = tu_alloc(1 << 20, 3), buf[4096];
    mc_te_segment_t *h;
    char *desc;
    size_t dlen;

    cr_assert(te);
    cr_assert_eq(mc_te_register_segment(te, "local", s, 1 << 20, 4), MC_OK);
    cr_assert_eq(mc_te_register_segment(te, "local", s, 1 << 20, 4), MC_SEGMENT_ALREADY_EXISTS);
    cr_assert_eq(mc_te_describe_segment(te, "local", &desc, &dlen), MC_OK);
    cr_assert_eq(mc_te_open_segment_desc(te, desc, dlen, &h), MC_OK);
    free(desc);
    cr_assert_str_eq(mc_te_segment_protocol(h), "mem");
    cr_assert_eq(mc_te_transfer_sync(te, MC_TE_READ, buf, h, 8192, sizeof buf), MC_OK);
    cr_assert_eq(tu_check(buf, sizeof buf, 3, 8192), sizeof buf);
    tu_fill(buf, sizeof buf, 9, 0);
    cr_assert_eq(mc_te_transfer_sync(te, MC_TE_WRITE, buf, h, 0, sizeof buf), MC_OK);
    cr_assert_eq(tu_check(s, sizeof buf, 9, 0), sizeof buf);
    cr_assert_eq(mc_te_set_epoch(te, "local", 5), MC_OK);
    cr_assert_eq(mc_te_transfer_sync(te, MC_TE_WRITE, buf, h, 0, sizeof buf), MC_INVALID_VERSION);
    mc_te_destroy(te);
    free(s);
}

Test(te_api, bad_options_and_no_metadata)
{
    mc_te_opts_t o = {.local_name = "nonsense", .protocols = "tcp"};
    mc_te_t *te = NULL;
    mc_te_segment_t *h;
    mc_errmsg_t err = {""};

    cr_assert_eq(mc_te_create(&o, &te, &err), MC_INVALID_PARAMS);
    cr_assert(strstr(err.msg, "host:port"), "%s", err.msg);
    o.local_name = "127.0.0.1:0";
    o.protocols = "udp";
    cr_assert_eq(mc_te_create(&o, &te, &err), MC_INVALID_PARAMS);
    cr_assert(strstr(err.msg, "unknown protocol"), "%s", err.msg);
    o.protocols = "tcp";
    cr_assert_eq(mc_te_create(&o, &te, NULL), MC_OK);
    cr_assert_eq(mc_te_open_segment(te, "nope", &h), MC_SEGMENT_NOT_FOUND);
    cr_assert_eq(mc_te_open_segment_desc(te, "{\"name\":1}", 10, &h), MC_INVALID_PARAMS);
    cr_assert_eq(mc_te_register_segment(te, "x", NULL, 10, 1), MC_INVALID_PARAMS);
    cr_assert_eq(mc_te_register_segment(te, "x", &o, 10, 0), MC_INVALID_PARAMS);
    mc_te_destroy(te);
}

Test(te_api, rdma_without_device_is_a_clear_error)
{
    mc_te_opts_t o = {.local_name = "127.0.0.1:0", .protocols = "rdma"};
    mc_te_t *te = NULL;
    mc_errmsg_t err = {""};
    int rc = mc_te_create(&o, &te, &err);
    if (rc == MC_OK) {
        mc_te_destroy(te);
        cr_skip_test("an RDMA device exists here; covered by the rdma tests");
    }
    cr_assert_eq(rc, MC_TRANSFER_FAIL);
    cr_assert(strstr(err.msg, "RDMA"), "reason: %s", err.msg);
}

/* The back-end table: a segment opens with the first running row that
 * reaches it (mem for this engine's own, then rdma, then tcp); a control
 * opcode reaches only a running row that claims it. */
Test(te_backends, table_dispatch)
{
    mc_te_t *te = tu_engine(2, 2000, 0);
    te_seg_desc_t d = {.seg_id = 1, .epoch = 1, .tcp = true};
    const te_backend_t *b = NULL;
    void *st;
    uint8_t in[8] = {0}, out[16];
    size_t out_len = 99;

    cr_assert(te);
    snprintf(d.endpoint, sizeof d.endpoint, "%s", mc_te_endpoint(te));
    cr_assert_eq(te_backend_for(te, &d, &b, &st), MC_OK);
    cr_assert_str_eq(b->name, "mem");
    snprintf(d.endpoint, sizeof d.endpoint, "127.0.0.1:1");
    d.rdma = true;
    cr_assert_eq(te_backend_for(te, &d, &b, &st), MC_OK);
    cr_assert_str_eq(b->name, "tcp", "rdma is not running here");
    d.tcp = false;
    cr_assert_eq(te_backend_for(te, &d, &b, &st), MC_INVALID_PARAMS);
    cr_assert_eq(te_control(te, MC_TCP_OP_RDMA_CONNECT, in, sizeof in, out, sizeof out, &out_len),
                 MC_INVALID_PARAMS);
    cr_assert_eq(out_len, 0);
    cr_assert_eq(te_control(te, 0, in, sizeof in, out, sizeof out, &out_len), MC_INVALID_PARAMS);
    cr_assert_eq(te_control(te, MC_TCP_OP_READ, in, sizeof in, out, sizeof out, &out_len),
                 MC_INVALID_PARAMS);
    mc_te_destroy(te);
}
