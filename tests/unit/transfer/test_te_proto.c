/* Device-independent pieces: TCP frames, RDMA handshake messages and
 * slicing plan, segment descriptors; plus the RDMA device tests, skipped
 * (and counted) when the machine has no device. */
#include "mc/errors.h"
#include "mc/te_rdma_proto.h"
#include "mc/te_tcp_proto.h"
#include "mc/transfer.h"
#include "segment_desc.h"
#include "te_test_util.h"

#include <criterion/criterion.h>
#if MC_WITH_RDMA
#include <infiniband/verbs.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Test(tcp_proto, request_roundtrip_and_checks)
{
    mc_tcp_req_t q = {.version = MC_TCP_VERSION,
                      .opcode = MC_TCP_OP_WRITE,
                      .flags = 1,
                      .id = 0x0102030405060708ull,
                      .seg_id = 9,
                      .crc = 0xdeadbeef,
                      .epoch = 77,
                      .offset = 1ull << 40,
                      .length = MC_TCP_MAX_FRAME},
                 d;
    uint8_t b[MC_TCP_REQ_SIZE];

    mc_tcp_req_encode(&q, b);
    cr_assert_eq(b[0], 'M');
    cr_assert_eq(b[3], 'Q');
    cr_assert_eq(b[8], 0x08, "little-endian id");
    cr_assert_eq(mc_tcp_req_decode(b, &d), MC_OK);
    cr_assert(d.version == q.version && d.opcode == q.opcode && d.flags == q.flags &&
                  d.id == q.id && d.seg_id == q.seg_id && d.crc == q.crc && d.epoch == q.epoch &&
                  d.offset == q.offset && d.length == q.length,
              "id %llx crc %x epoch %llu", (unsigned long long)d.id, d.crc,
              (unsigned long long)d.epoch);
    cr_assert_eq(mc_tcp_req_payload_len(&d), MC_TCP_MAX_FRAME);
    q.length++;
    mc_tcp_req_encode(&q, b);
    cr_assert_eq(mc_tcp_req_decode(b, &d), MC_INVALID_PARAMS);
    q.length = 1;
    q.opcode = 0;
    mc_tcp_req_encode(&q, b);
    cr_assert_eq(mc_tcp_req_decode(b, &d), MC_INVALID_PARAMS);
    q.opcode = MC_TCP_OP_PING;
    mc_tcp_req_encode(&q, b);
    cr_assert_eq(mc_tcp_req_decode(b, &d), MC_INVALID_PARAMS, "ping carries no payload");
    q.opcode = MC_TCP_OP_RDMA_CONNECT;
    q.length = MC_TCP_MAX_CTRL + 1;
    mc_tcp_req_encode(&q, b);
    cr_assert_eq(mc_tcp_req_decode(b, &d), MC_INVALID_PARAMS);
    q.opcode = MC_TCP_OP_READ;
    q.length = 5;
    q.version = 2;
    mc_tcp_req_encode(&q, b);
    cr_assert_eq(mc_tcp_req_decode(b, &d), MC_INVALID_VERSION);
    b[0] = 'X';
    cr_assert_eq(mc_tcp_req_decode(b, &d), MC_INVALID_PARAMS);
    cr_assert_eq(mc_tcp_check_range(10, 5, 15), MC_OK);
    cr_assert_eq(mc_tcp_check_range(10, 6, 15), MC_INVALID_PARAMS);
    cr_assert_eq(mc_tcp_check_range(UINT64_MAX, 2, 15), MC_INVALID_PARAMS);
    cr_assert_eq(mc_tcp_check_range(1, UINT64_MAX, UINT64_MAX), MC_INVALID_PARAMS);
}

Test(tcp_proto, response_checks)
{
    mc_tcp_resp_t r = {.version = MC_TCP_VERSION,
                       .opcode = MC_TCP_OP_READ,
                       .id = 5,
                       .status = MC_OK,
                       .length = 4096},
                  d;
    uint8_t b[MC_TCP_RESP_SIZE];

    mc_tcp_resp_encode(&r, b);
    cr_assert_eq(mc_tcp_resp_decode(b, &d), MC_OK);
    cr_assert_eq(d.length, 4096);
    r.status = MC_INVALID_VERSION;
    mc_tcp_resp_encode(&r, b);
    cr_assert_eq(mc_tcp_resp_decode(b, &d), MC_TRANSFER_FAIL, "an error carries no payload");
    r.length = 0;
    mc_tcp_resp_encode(&r, b);
    cr_assert_eq(mc_tcp_resp_decode(b, &d), MC_OK);
    cr_assert_eq(d.status, MC_INVALID_VERSION);
    r.status = MC_OK;
    r.opcode = MC_TCP_OP_WRITE;
    r.length = 1;
    mc_tcp_resp_encode(&r, b);
    cr_assert_eq(mc_tcp_resp_decode(b, &d), MC_TRANSFER_FAIL, "a WRITE response has no payload");
    r.opcode = MC_TCP_OP_READ;
    r.length = MC_TCP_MAX_FRAME + 1ull;
    mc_tcp_resp_encode(&r, b);
    cr_assert_eq(mc_tcp_resp_decode(b, &d), MC_TRANSFER_FAIL);
    r.length = 0;
    r.status = 3;
    mc_tcp_resp_encode(&r, b);
    cr_assert_eq(mc_tcp_resp_decode(b, &d), MC_TRANSFER_FAIL, "positive status");
}

Test(tcp_proto, handshake_frames)
{
    mc_tcp_hs_t m = {.version = MC_TCP_VERSION, .type = MC_TCP_HS_CHALLENGE}, d;
    uint8_t b[MC_TCP_HS_SIZE], req[MC_TCP_REQ_SIZE];
    mc_tcp_req_t q = {.version = MC_TCP_VERSION, .opcode = MC_TCP_OP_PING};

    cr_assert_eq(MC_TCP_HS_SIZE, MC_TCP_REQ_SIZE, "a HELLO reads as one request header");
    for (int i = 0; i < MC_TCP_HS_BODY; i++)
        m.body[i] = (uint8_t)(i * 7 + 1);
    mc_tcp_hs_encode(&m, b);
    cr_assert_eq(memcmp(b, "MCTH", 4), 0);
    cr_assert_eq(mc_tcp_hs_decode(b, MC_TCP_HS_CHALLENGE, &d), MC_OK);
    cr_assert_eq(memcmp(d.body, m.body, sizeof m.body), 0);
    cr_assert_eq(d.type, MC_TCP_HS_CHALLENGE);
    cr_assert_eq(mc_tcp_hs_decode(b, MC_TCP_HS_HELLO, &d), MC_INVALID_PARAMS, "wrong type");
    b[6] = 1;
    cr_assert_eq(mc_tcp_hs_decode(b, MC_TCP_HS_CHALLENGE, &d), MC_INVALID_PARAMS, "reserved");
    b[6] = 0;
    b[MC_TCP_HS_SIZE - 1] = 1;
    cr_assert_eq(mc_tcp_hs_decode(b, MC_TCP_HS_CHALLENGE, &d), MC_INVALID_PARAMS, "trailer");
    b[MC_TCP_HS_SIZE - 1] = 0;
    b[4] = 2;
    cr_assert_eq(mc_tcp_hs_decode(b, MC_TCP_HS_CHALLENGE, &d), MC_INVALID_VERSION);
    /* A request header is not a handshake frame, and a handshake frame is
     * not a request header: neither side can be confused for the other. */
    mc_tcp_req_encode(&q, req);
    cr_assert_eq(mc_tcp_hs_decode(req, MC_TCP_HS_HELLO, &d), MC_INVALID_PARAMS);
    m.type = MC_TCP_HS_HELLO;
    mc_tcp_hs_encode(&m, b);
    cr_assert_eq(mc_tcp_req_decode(b, &q), MC_INVALID_PARAMS);
}

Test(rdma_proto, connect_roundtrip_and_garbage)
{
    mc_rdma_connect_t m = {.endpoint = "10.0.0.1:12345",
                           .local_dev = "mlx5_0",
                           .remote_dev = "mlx5_1",
                           .qp = {.qpn = 0x123456, .psn = 0xabcdef, .lid = 7, .mtu = 5}},
                      d;
    uint8_t b[512];
    size_t len;

    for (int i = 0; i < 16; i++)
        m.qp.gid[i] = (uint8_t)(i * 17);
    cr_assert_eq(mc_rdma_connect_encode(&m, b, sizeof b, &len), MC_OK);
    cr_assert_eq(mc_rdma_connect_decode(b, len, &d), MC_OK);
    {
        uint8_t b2[512];
        size_t len2;
        cr_assert_eq(mc_rdma_connect_encode(&d, b2, sizeof b2, &len2), MC_OK);
        cr_assert(len2 == len && memcmp(b, b2, len) == 0, "re-encodes identically");
        cr_assert_str_eq(d.remote_dev, "mlx5_1");
        cr_assert_eq(d.qp.qpn, 0x123456);
        cr_assert_eq(d.qp.gid[15], 255);
    }
    cr_assert_eq(mc_rdma_connect_encode(&m, b, 40, &len), MC_BUFFER_OVERFLOW);
    for (size_t cut = 0; cut < len; cut++)
        cr_assert_neq(mc_rdma_connect_decode(b, cut, &d), MC_OK, "truncated at %zu", cut);
    b[len] = 0;
    cr_assert_neq(mc_rdma_connect_decode(b, len + 1, &d), MC_OK, "trailing byte");
    cr_assert_eq(mc_rdma_connect_encode(&m, b, sizeof b, &len), MC_OK);
    b[5] = 9;
    cr_assert_neq(mc_rdma_connect_decode(b, len, &d), MC_OK, "bad mtu");
    cr_assert_eq(mc_rdma_connect_encode(&m, b, sizeof b, &len), MC_OK);
    b[15] = 0x01;
    cr_assert_neq(mc_rdma_connect_decode(b, len, &d), MC_OK, "psn over 24 bits");
    cr_assert_eq(mc_rdma_connect_encode(&m, b, sizeof b, &len), MC_OK);
    b[35] = '\0';
    cr_assert_neq(mc_rdma_connect_decode(b, len, &d), MC_OK, "NUL inside a name");
}

Test(rdma_proto, plan_spreads_slices)
{
    mc_rdma_piece_t p[64];
    uint64_t sum = 0;
    size_t n = mc_rdma_plan((1 << 20) + 5, MC_RDMA_SLICE, 2, 2, 1, p, 64);

    cr_assert_eq(n, 17);
    cr_assert_eq(mc_rdma_plan_count((1 << 20) + 5, MC_RDMA_SLICE), 17);
    for (size_t i = 0; i < n; i++) {
        sum += p[i].length;
        cr_assert_eq(p[i].offset, i * MC_RDMA_SLICE);
        cr_assert(p[i].dev < 2 && p[i].qp < 2);
        if (i)
            cr_assert_neq(p[i].dev, p[i - 1].dev, "consecutive slices on different NICs");
    }
    cr_assert_eq(sum, (1 << 20) + 5);
    cr_assert_eq(p[16].length, 5);
    cr_assert_eq(mc_rdma_plan(1, MC_RDMA_SLICE, 1, 1, 0, p, 64), 1);
    cr_assert_eq(mc_rdma_plan(0, MC_RDMA_SLICE, 1, 1, 0, p, 64), 1, "empty request: one piece");
    cr_assert_eq(mc_rdma_plan(1 << 30, MC_RDMA_SLICE, 1, 1, 0, p, 64), 0, "cap too small");
    cr_assert_eq(mc_rdma_plan(100, MC_RDMA_SLICE, 0, 1, 0, p, 64), 0);
}

Test(segment_desc, roundtrip_with_rdma_fields)
{
    te_seg_desc_t d = {.name = "node1:12345",
                       .endpoint = "127.0.0.1:12345",
                       .seg_id = 3,
                       .epoch = 9,
                       .length = 1ull << 33,
                       .tcp = true,
                       .rdma = true,
                       .rdma_addr = 0x7f0000001000ull,
                       .n_devices = 2},
                  e;
    char *json;
    size_t len;

    for (int i = 0; i < 2; i++) {
        snprintf(d.devices[i].name, sizeof d.devices[i].name, "mlx5_%d", i);
        snprintf(d.devices[i].gid, sizeof d.devices[i].gid,
                 "fe80:0000:0000:0000:0000:0000:0000:000%d", i);
        d.devices[i].lid = (uint16_t)(i + 1);
        d.devices[i].rkey = 0xfeedf00du + (uint32_t)i;
    }
    json = te_seg_desc_encode_take(&d, &len);
    cr_assert(json);
    cr_assert_eq(te_seg_desc_decode(json, len, &e), MC_OK, "%s", json);
    {
        size_t len2;
        char *json2 = te_seg_desc_encode_take(&e, &len2);
        cr_assert_str_eq(json2, json);
        free(json2);
    }
    cr_assert_eq(e.devices[1].rkey, 0xfeedf00eu);
    cr_assert_eq(e.rdma_addr, 0x7f0000001000ull);
    cr_assert_eq(e.length, 1ull << 33);
    free(json);
}

Test(segment_desc, rejects_bad_descriptors)
{
    te_seg_desc_t d;
    const char *bad[] = {
        "",
        "[]",
        "{\"name\":\"a\"}",
        "{\"name\":\"a\",\"endpoint\":\"nohost\",\"segment_id\":1,\"epoch\":1,\"length\":1,"
        "\"protocols\":[\"tcp\"]}",
        "{\"name\":\"a\",\"endpoint\":\"h:0\",\"segment_id\":1,\"epoch\":1,\"length\":1,"
        "\"protocols\":[\"tcp\"]}",
        "{\"name\":\"a\",\"endpoint\":\"h:1\",\"segment_id\":0,\"epoch\":1,\"length\":1,"
        "\"protocols\":[\"tcp\"]}",
        "{\"name\":\"a\",\"endpoint\":\"h:1\",\"segment_id\":1,\"epoch\":0,\"length\":1,"
        "\"protocols\":[\"tcp\"]}",
        "{\"name\":\"a\",\"endpoint\":\"h:1\",\"segment_id\":1,\"epoch\":1,\"length\":-1,"
        "\"protocols\":[\"tcp\"]}",
        "{\"name\":\"a\",\"endpoint\":\"h:1\",\"segment_id\":1,\"epoch\":1,\"length\":1,"
        "\"protocols\":[\"udp\"]}",
        "{\"name\":\"a\",\"endpoint\":\"h:1\",\"segment_id\":1,\"epoch\":1,\"length\":1,"
        "\"protocols\":[\"tcp\\u0000x\"]}",
        "{\"name\":\"a\",\"endpoint\":\"h:1\",\"segment_id\":1,\"epoch\":1,\"length\":1,"
        "\"protocols\":[\"rdma\"]}",
        "{\"name\":\"a\",\"endpoint\":\"h:1\",\"segment_id\":1,\"epoch\":1,\"length\":1,"
        "\"protocols\":[\"rdma\"],"
        "\"rdma\":{\"addr\":1,\"devices\":[{\"name\":\"m\",\"gid\":\"zz\",\"lid\":1,\"rkey\":1}]}}",
        "{\"name\":\"a\",\"endpoint\":\"h:1\",\"segment_id\":1,\"epoch\":1,\"length\":1,"
        "\"protocols\":[\"rdma\"],"
        "\"rdma\":{\"addr\":1,\"devices\":[{\"name\":\"m\",\"gid\":\"0:0:0:0:0:0:0:0\",\"lid\":"
        "70000,\"rkey\":1}]}}",
    };

    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(te_seg_desc_decode(bad[i], strlen(bad[i]), &d), MC_INVALID_PARAMS,
                     "accepted: %s", bad[i]);
}

/* RDMA devices here; 0 in a build without RDMA (the skip says which). */
static int rdma_devices(void)
{
#if MC_WITH_RDMA
    int n = 0;
    struct ibv_device **l = ibv_get_device_list(&n);
    if (l)
        ibv_free_device_list(l);
    return n;
#else
    return 0;
#endif
}

#if MC_WITH_RDMA
#define NO_RDMA "no RDMA device: ibv_get_device_list returned none"
#else
#define NO_RDMA "built without RDMA (MC_WITH_RDMA=OFF)"
#endif

Test(rdma_device, loopback_read_write)
{
    mc_te_opts_t o = {.local_name = "127.0.0.1:0", .protocols = "rdma,tcp"};
    mc_te_t *a = NULL, *b = NULL;
    mc_te_segment_t *h;
    uint8_t *seg = tu_alloc(4 << 20, 5), *buf = tu_alloc(4 << 20, 9);
    char *desc;
    size_t dlen;
    mc_errmsg_t err = {""};

    if (rdma_devices() == 0) {
        free(seg);
        free(buf);
        cr_skip_test(NO_RDMA);
    }
    cr_assert_eq(mc_te_create(&o, &a, &err), MC_OK, "%s", err.msg);
    cr_assert_eq(mc_te_create(&o, &b, &err), MC_OK, "%s", err.msg);
    cr_assert_eq(mc_te_register_segment(a, "s", seg, 4 << 20, 1), MC_OK);
    cr_assert_eq(mc_te_register_buffer(b, buf, 4 << 20), MC_OK);
    cr_assert_eq(mc_te_describe_segment(a, "s", &desc, &dlen), MC_OK);
    cr_assert_eq(mc_te_open_segment_desc(b, desc, dlen, &h), MC_OK);
    free(desc);
    cr_assert_str_eq(mc_te_segment_protocol(h), "rdma");
    cr_assert_eq(mc_te_transfer_sync(b, MC_TE_WRITE, buf, h, 0, 4 << 20), MC_OK);
    cr_assert_eq(tu_check(seg, 4 << 20, 9, 0), 4 << 20);
    tu_fill(seg, 4 << 20, 3, 0);
    cr_assert_eq(mc_te_transfer_sync(b, MC_TE_READ, buf, h, 0, 4 << 20), MC_OK);
    cr_assert_eq(tu_check(buf, 4 << 20, 3, 0), 4 << 20);
    mc_te_destroy(b);
    mc_te_destroy(a);
    free(seg);
    free(buf);
}

Test(rdma_device, named_device_missing)
{
    mc_te_opts_t o = {
        .local_name = "127.0.0.1:0", .protocols = "rdma", .rdma_devices = "no_such_dev0"};
    mc_te_t *te = NULL;
    mc_errmsg_t err = {""};

    if (rdma_devices() == 0)
        cr_skip_test(NO_RDMA);
    cr_assert_eq(mc_te_create(&o, &te, &err), MC_TRANSFER_FAIL);
    cr_assert(strstr(err.msg, "no_such_dev0"), "%s", err.msg);
}
