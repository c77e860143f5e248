/* The master's binary keys bodies: round trips of every field, and every
 * way a body can be wrong refused with a code. */
#include "mc/master_bin.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static const char *keys3[] = {"model@tp_rank:0@aa", "k", "a/b c"};
static size_t lens3[] = {18, 1, 5};

static mc_buf_t encode_req(const mc_keys_req_t *req)
{
    mc_buf_t b;

    mc_buf_init(&b, 0);
    cr_assert_eq(mc_keys_req_encode_bin(&b, req), MC_OK);
    return b;
}

Test(master_bin, keys_request_round_trips_every_field)
{
    uint64_t sizes[] = {1, 4096, 1ull << 40};
    uint32_t sums[] = {0, 0xdeadbeef, 7};
    mc_keys_req_t req = {.client_id = {0x0102030405060708ull, 0x1112131415161718ull},
                         .n = 3,
                         .keys = keys3,
                         .key_lens = lens3,
                         .sizes = sizes,
                         .checksums = sums,
                         .has_config = true,
                         .config = {.replica_num = 2,
                                    .preferred = {"seg-a", "seg-b"},
                                    .n_preferred = 2,
                                    .soft_pin = true},
                         .force = true,
                         .upsert = true,
                         .hold = true,
                         .segment_name = "seg-c"};
    mc_buf_t b = encode_req(&req);
    mc_keys_req_t got;
    mc_errmsg_t err = {""};

    cr_assert_eq(mc_keys_req_decode_bin(b.data, b.len, true, &got, &err), MC_OK, "%s", err.msg);
    cr_expect_eq(got.client_id.hi, req.client_id.hi);
    cr_expect_eq(got.client_id.lo, req.client_id.lo);
    cr_assert_eq(got.n, 3);
    for (size_t i = 0; i < 3; i++) {
        cr_expect_eq(got.key_lens[i], lens3[i]);
        cr_expect_str_eq(got.keys[i], keys3[i], "keys are NUL-terminated in place");
        cr_expect_eq(got.sizes[i], sizes[i]);
        cr_expect_eq(got.checksums[i], sums[i]);
    }
    cr_expect(got.has_config && got.config.replica_num == 2 && got.config.soft_pin &&
              !got.config.hard_pin && got.config.n_preferred == 2);
    cr_expect_str_eq(got.config.preferred[1], "seg-b");
    cr_expect(got.force && got.upsert && got.hold);
    cr_expect_str_eq(got.segment_name, "seg-c");
    mc_keys_req_cleanup(&got);
    mc_buf_cleanup(&b);
}

Test(master_bin, absent_fields_stay_absent)
{
    mc_keys_req_t req = {.n = 1, .keys = keys3, .key_lens = lens3};
    mc_buf_t b = encode_req(&req);
    mc_keys_req_t got;
    mc_errmsg_t err = {""};

    cr_assert_eq(mc_keys_req_decode_bin(b.data, b.len, false, &got, &err), MC_OK, "%s", err.msg);
    cr_expect(!got.sizes && !got.checksums && !got.has_config && !got.segment_name);
    cr_expect_eq(got.config.replica_num, 1);
    mc_keys_req_cleanup(&got);
    cr_expect_eq(mc_keys_req_decode_bin(b.data, b.len, true, &got, &err), MC_INVALID_PARAMS,
                 "put_start needs sizes");
    mc_buf_cleanup(&b);
}

Test(master_bin, every_truncation_and_any_trailing_byte_is_refused)
{
    uint64_t sizes[] = {5, 6, 7};
    mc_keys_req_t req = {.n = 3, .keys = keys3, .key_lens = lens3, .sizes = sizes};
    mc_buf_t b = encode_req(&req);
    mc_keys_req_t got;
    char *more = malloc(b.len + 1);

    for (size_t cut = 0; cut < b.len; cut++)
        cr_expect_neq(mc_keys_req_decode_bin(b.data, cut, false, &got, NULL), MC_OK, "cut %zu",
                      cut);
    memcpy(more, b.data, b.len);
    more[b.len] = 0;
    cr_expect_eq(mc_keys_req_decode_bin(more, b.len + 1, false, &got, NULL), MC_INVALID_PARAMS);
    free(more);
    mc_buf_cleanup(&b);
}

Test(master_bin, bad_fields_are_refused)
{
    uint64_t zero[] = {0};
    mc_keys_req_t req = {.n = 1, .keys = keys3, .key_lens = lens3};
    mc_keys_req_t got;
    mc_buf_t b = encode_req(&req);
    size_t key_at = b.len - 1 - lens3[0]; /* the key's first byte */

    b.data[key_at] = '\n';
    cr_expect_eq(mc_keys_req_decode_bin(b.data, b.len, false, &got, NULL), MC_INVALID_KEY,
                 "control characters");
    b.data[key_at] = '\0';
    cr_expect_eq(mc_keys_req_decode_bin(b.data, b.len, false, &got, NULL), MC_INVALID_KEY,
                 "a NUL inside a key");
    b.data[key_at] = 'm';
    b.data[b.len - 1] = 'x';
    cr_expect_neq(mc_keys_req_decode_bin(b.data, b.len, false, &got, NULL), MC_OK,
                  "no NUL after the key");
    b.data[b.len - 1] = 0;
    b.data[0] ^= 1;
    cr_expect_eq(mc_keys_req_decode_bin(b.data, b.len, false, &got, NULL), MC_INVALID_PARAMS,
                 "magic");
    b.data[0] ^= 1;
    b.data[4] = (char)0x80;
    cr_expect_eq(mc_keys_req_decode_bin(b.data, b.len, false, &got, NULL), MC_INVALID_PARAMS,
                 "unknown flag");
    b.data[4] = 0;
    memset(b.data + 24, 0xff, 4);
    cr_expect_eq(mc_keys_req_decode_bin(b.data, b.len, false, &got, NULL), MC_INVALID_PARAMS,
                 "a count over the batch cap");
    mc_buf_cleanup(&b);
    req.sizes = zero;
    b = encode_req(&req);
    cr_expect_eq(mc_keys_req_decode_bin(b.data, b.len, true, &got, NULL), MC_INVALID_PARAMS,
                 "a size of 0");
    mc_buf_cleanup(&b);
    req.sizes = NULL;
    req.n = 0;
    mc_buf_init(&b, 0);
    cr_expect_eq(mc_keys_req_encode_bin(&b, &req), MC_INVALID_PARAMS, "no keys");
    mc_buf_cleanup(&b);
}

static char *dup_body(const mc_buf_t *b)
{
    char *p = malloc(b->len ? b->len : 1);

    memcpy(p, b->data, b->len);
    return p;
}

Test(master_bin, results_round_trip_with_replicas)
{
    mc_key_result_t res[3] = {{.code = 0,
                               .size = 4096,
                               .lease_ms = 5000,
                               .has_checksum = true,
                               .checksum = 0xabcdef01,
                               .n = 2,
                               .rep = {{.segment_id = {1, 2},
                                        .segment = "127.0.0.1:12345",
                                        .endpoint = "127.0.0.1:12345",
                                        .epoch = 9,
                                        .addr = 0x7f0000001000,
                                        .offset = 0x1000,
                                        .size = 4096},
                                       {.segment_id = {3, 4},
                                        .segment = "host-b",
                                        .endpoint = "",
                                        .epoch = 1,
                                        .offset = 64,
                                        .size = 4096,
                                        .type = MC_REPLICA_TYPE_DISK}}},
                              {.code = -704},
                              {.code = 0, .exists = true}};
    mc_buf_t b;
    mc_results_t got;
    mc_errmsg_t err = {""};

    mc_buf_init(&b, 0);
    cr_assert_eq(mc_results_encode_bin(&b, res, 3), MC_OK);
    cr_assert_eq(mc_results_decode_bin_take(dup_body(&b), b.len, 3, &got, &err), MC_OK, "%s",
                 err.msg);
    cr_assert_eq(got.n, 3);
    cr_expect(got.res[0].code == 0 && got.res[0].size == 4096 && got.res[0].lease_ms == 5000);
    cr_expect(got.res[0].has_checksum && got.res[0].checksum == 0xabcdef01);
    cr_assert_eq(got.res[0].n, 2);
    cr_expect_str_eq(got.res[0].rep[0].segment, "127.0.0.1:12345");
    cr_expect_eq(got.res[0].rep[0].addr, 0x7f0000001000);
    cr_expect_eq(got.res[0].rep[0].segment_id.lo, 2);
    cr_expect_eq(got.res[0].rep[1].type, MC_REPLICA_TYPE_DISK);
    cr_expect_str_eq(got.res[0].rep[1].endpoint, "");
    cr_expect_eq(got.res[1].code, -704);
    cr_expect_eq(got.res[1].n, 0);
    cr_expect(got.res[2].exists);
    mc_results_cleanup(&got);
    cr_expect_eq(mc_results_decode_bin_take(dup_body(&b), b.len, 2, &got, NULL), MC_INVALID_PARAMS,
                 "more results than keys asked");
    for (size_t cut = 0; cut < b.len; cut++)
        cr_expect_neq(mc_results_decode_bin_take(dup_body(&b), cut, 3, &got, NULL), MC_OK,
                      "cut %zu", cut);
    mc_buf_cleanup(&b);
}
