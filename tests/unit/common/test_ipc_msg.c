/* The thin-client IPC codec (mc/ipc_msg.h): every message round-trips, and
 * every decoder refuses truncation, trailing bytes and fields over their
 * caps. Fuzzed by tests/fuzz/fuzz_ipc_msg.c. */
#include "mc/errors.h"
#include "mc/ipc_msg.h"
#include "mc/limits.h"

#include <criterion/criterion.h>
#include <string.h>

static int hello_with_token(mc_buf_t *b, const char *tok, size_t len)
{
    return mc_ipc_hello_encode(b, 1,
                               &(mc_ipc_hello_t){.min_version = 1,
                                                 .max_version = 1,
                                                 .name = "me",
                                                 .name_len = 2,
                                                 .admin_token = tok,
                                                 .admin_token_len = len});
}

static const uint8_t *payload(const mc_buf_t *b, mc_ipc_hdr_t *h)
{
    cr_assert_geq(b->len, MC_IPC_HDR_LEN);
    cr_assert_eq(mc_ipc_hdr_decode((const uint8_t *)b->data, 0, h, NULL), MC_OK);
    cr_assert_eq(h->len, b->len - MC_IPC_HDR_LEN);
    return (const uint8_t *)b->data + MC_IPC_HDR_LEN;
}

Test(ipc_msg, keys_round_trip_and_every_truncation_is_refused)
{
    mc_ipc_frag_t f[3] = {{1, 0, 4096}, {1, 8192, 100}, {2, 5, 7}};
    mc_ipc_key_t k[2] = {{"model@tp0@abc", 13, 2, f}, {"k2", 2, 1, f + 2}};
    mc_ipc_keys_t m = {.flags = MC_IPC_F_SOFT_PIN,
                       .replica_num = 2,
                       .preferred = "seg-a",
                       .preferred_len = 5,
                       .n = 2,
                       .keys = k},
                  d;
    mc_ipc_hdr_t h;
    mc_errmsg_t e;
    mc_buf_t b;
    const uint8_t *p;

    mc_buf_init(&b, 0);
    cr_assert_eq(mc_ipc_keys_encode(&b, MC_IPC_PUT, 42, &m), MC_OK);
    p = payload(&b, &h);
    cr_assert_eq(h.op, MC_IPC_PUT);
    cr_assert_eq(h.id, 42);
    cr_assert_eq(mc_ipc_keys_decode(p, h.len, 16, true, &d, &e), MC_OK, "%s", e.msg);
    cr_assert_eq(d.n, 2);
    cr_assert_eq(d.flags, MC_IPC_F_SOFT_PIN);
    cr_assert_eq(d.replica_num, 2);
    cr_assert(d.preferred_len == 5 && memcmp(d.preferred, "seg-a", 5) == 0);
    cr_assert(d.keys[0].len == 13 && memcmp(d.keys[0].key, "model@tp0@abc", 13) == 0);
    cr_assert_eq(d.keys[0].nfrag, 2);
    cr_assert_eq(d.keys[0].frags[1].offset, 8192);
    cr_assert_eq(d.keys[1].frags[0].region, 2);
    mc_ipc_keys_cleanup(&d);
    for (size_t cut = 0; cut < h.len; cut++)
        cr_assert_eq(mc_ipc_keys_decode(p, cut, 16, true, &d, NULL), MC_INVALID_PARAMS, "%zu", cut);
    cr_assert_eq(mc_ipc_keys_decode(p, h.len, 1, true, &d, &e), MC_INVALID_PARAMS, "batch cap");
    cr_assert_eq(mc_ipc_keys_decode(p, h.len, 16, false, &d, &e), MC_INVALID_PARAMS,
                 "fragments where none belong");
    {
        uint8_t longer[512];
        memcpy(longer, p, h.len);
        longer[h.len] = 0;
        cr_assert_eq(mc_ipc_keys_decode(longer, h.len + 1, 16, true, &d, &e), MC_INVALID_PARAMS);
        cr_assert(strstr(e.msg, "trailing"), "%s", e.msg);
    }
    mc_buf_cleanup(&b);
}

Test(ipc_msg, replicas_reply_round_trips_and_is_bounded)
{
    mc_ipc_replicas_t r[2] = {{.code = MC_OK, .size = 4096, .n = 2}, {.code = -704}}, d[2];
    mc_ipc_hdr_t h;
    mc_errmsg_t e;
    mc_buf_t b;
    const uint8_t *p;
    int32_t status;
    uint32_t n;

    r[0].rep[0] = (mc_ipc_replica_t){0, 64, 4096, "host-a:1", 8, "127.0.0.1:1", 11};
    r[0].rep[1] = (mc_ipc_replica_t){1, 0, 4096, "host-b:2", 8, "", 0};
    mc_buf_init(&b, 0);
    cr_assert_eq(mc_ipc_replicas_reply_encode(&b, 9, MC_OK, r, 2), MC_OK);
    p = payload(&b, &h);
    cr_assert_eq(h.op, MC_IPC_REPLICA_DESC | MC_IPC_REPLY);
    cr_assert_eq(mc_ipc_replicas_reply_decode(p, h.len, &status, d, 2, &n, &e), MC_OK, "%s", e.msg);
    cr_assert(status == MC_OK && n == 2 && d[0].n == 2 && d[1].n == 0 && d[1].code == -704);
    cr_assert(d[0].rep[1].type == 1 && d[0].rep[0].offset == 64 && d[0].size == 4096);
    cr_assert(d[0].rep[0].segment_len == 8 && memcmp(d[0].rep[0].segment, "host-a:1", 8) == 0);
    cr_assert(d[0].rep[0].endpoint_len == 11 && d[0].rep[1].endpoint_len == 0);
    for (size_t cut = 0; cut < h.len; cut++)
        cr_assert_eq(mc_ipc_replicas_reply_decode(p, cut, &status, d, 2, &n, NULL),
                     MC_INVALID_PARAMS, "%zu", cut);
    cr_assert_eq(mc_ipc_replicas_reply_decode(p, h.len, &status, d, 1, &n, NULL), MC_INVALID_PARAMS,
                 "more results than keys");
    {
        uint8_t bad[512];
        memcpy(bad, p, h.len);
        bad[4 + 4 + 4 + 8] = MC_MAX_REPLICAS + 1; /* first key's replica count */
        cr_assert_eq(mc_ipc_replicas_reply_decode(bad, h.len, &status, d, 2, &n, &e),
                     MC_INVALID_PARAMS);
    }
    r[0].n = MC_MAX_REPLICAS + 1;
    cr_assert_eq(mc_ipc_replicas_reply_encode(&b, 10, MC_OK, r, 2), MC_INVALID_PARAMS);
    mc_buf_cleanup(&b);
}

Test(ipc_msg, bad_keys_and_fields_are_refused)
{
    mc_ipc_key_t k = {"a\0b", 3, 0, NULL};
    mc_ipc_keys_t m = {.n = 1, .keys = &k}, d;
    mc_buf_t b;
    mc_ipc_hdr_t h;
    const uint8_t *p;
    uint8_t raw[64];

    mc_buf_init(&b, 0);
    cr_assert_eq(mc_ipc_keys_encode(&b, MC_IPC_EXIST, 1, &m), MC_INVALID_PARAMS, "NUL in key");
    cr_assert_eq(b.len, 0, "nothing half-written stays");
    k = (mc_ipc_key_t){"ok", 2, 0, NULL};
    m.flags = 0x80;
    cr_assert_eq(mc_ipc_keys_encode(&b, MC_IPC_EXIST, 1, &m), MC_INVALID_PARAMS, "flags");
    m.flags = 0;
    cr_assert_eq(mc_ipc_keys_encode(&b, MC_IPC_EXIST, 1, &m), MC_OK);
    p = payload(&b, &h);
    memcpy(raw, p, h.len);
    raw[h.len - 5] = 0; /* the key "ok" -> "o\0" */
    cr_assert_eq(mc_ipc_keys_decode(raw, h.len, 16, false, &d, NULL), MC_INVALID_KEY);
    memcpy(raw, p, h.len);
    raw[1] = MC_MAX_REPLICAS + 1;
    cr_assert_eq(mc_ipc_keys_decode(raw, h.len, 16, false, &d, NULL), MC_INVALID_PARAMS);
    memcpy(raw, p, h.len);
    raw[4] = raw[5] = raw[6] = raw[7] = 0; /* n = 0 */
    cr_assert_eq(mc_ipc_keys_decode(raw, h.len, 16, false, &d, NULL), MC_INVALID_PARAMS);
    memcpy(raw, p, h.len);
    raw[7] = 0x7f; /* n huge: refused before any allocation */
    cr_assert_eq(mc_ipc_keys_decode(raw, h.len, UINT32_MAX, false, &d, NULL), MC_INVALID_PARAMS);
    mc_buf_cleanup(&b);
}

Test(ipc_msg, header_hello_small_and_replies)
{
    uint8_t hdr[MC_IPC_HDR_LEN];
    mc_ipc_hdr_t h;
    mc_buf_t b;
    const uint8_t *p;
    mc_ipc_hello_t hi;
    mc_ipc_hello_reply_t hr;
    mc_ipc_small_t sm;
    mc_ipc_small_reply_t sr;
    mc_ipc_key_result_t res[2] = {{0, 5, 0}, {-704, 0, 0}}, got[2];
    int32_t status;
    uint32_t n;

    mc_ipc_hdr_encode(&(mc_ipc_hdr_t){.len = 10, .op = 99, .id = 1}, hdr);
    cr_assert_eq(mc_ipc_hdr_decode(hdr, 0, &h, NULL), MC_INVALID_PARAMS, "unknown opcode");
    mc_ipc_hdr_encode(&(mc_ipc_hdr_t){.len = 10, .op = MC_IPC_GET, .flags = 1, .id = 1}, hdr);
    cr_assert_eq(mc_ipc_hdr_decode(hdr, 0, &h, NULL), MC_INVALID_PARAMS, "flags");
    mc_ipc_hdr_encode(&(mc_ipc_hdr_t){.len = 11, .op = MC_IPC_GET | MC_IPC_REPLY, .id = 1}, hdr);
    cr_assert_eq(mc_ipc_hdr_decode(hdr, 10, &h, NULL), MC_INVALID_PARAMS, "over max_msg");
    cr_assert_eq(mc_ipc_hdr_decode(hdr, 11, &h, NULL), MC_OK);

    mc_buf_init(&b, 0);
    cr_assert_eq(
        mc_ipc_hello_encode(
            &b, 1,
            &(mc_ipc_hello_t){.min_version = 1, .max_version = 3, .name = "me", .name_len = 2}),
        MC_OK);
    p = payload(&b, &h);
    cr_assert_eq(mc_ipc_hello_decode(p, h.len, &hi, NULL), MC_OK);
    cr_assert(hi.min_version == 1 && hi.max_version == 3 && hi.name_len == 2);
    cr_assert_eq(hi.admin_token_len, 0, "no token: the old hello");
    cr_assert_eq(mc_ipc_hello_decode(p + 1, h.len - 1, &hi, NULL), MC_INVALID_PARAMS);
    b.len = 0;
    /* the optional admin token, last */
    cr_assert_eq(hello_with_token(&b, "adm-token", 9), MC_OK);
    p = payload(&b, &h);
    cr_assert_eq(mc_ipc_hello_decode(p, h.len, &hi, NULL), MC_OK);
    cr_assert(hi.admin_token_len == 9 && memcmp(hi.admin_token, "adm-token", 9) == 0);
    cr_assert_eq(mc_ipc_hello_decode(p, h.len - 1, &hi, NULL), MC_INVALID_PARAMS, "truncated");
    cr_assert_eq(mc_ipc_hello_decode(p, 13, &hi, NULL), MC_INVALID_PARAMS, "a lone byte after");
    {
        char big[MC_IPC_MAX_TOKEN + 1];
        memset(big, 'a', sizeof(big));
        b.len = 0;
        cr_assert_eq(hello_with_token(&b, big, sizeof(big)), MC_INVALID_PARAMS,
                     "a token over the cap is not encoded");
    }
    b.len = 0;
    cr_assert_eq(mc_ipc_hello_reply_encode(&b, 1,
                                           &(mc_ipc_hello_reply_t){.status = 0,
                                                                   .version = 1,
                                                                   .max_batch = 7,
                                                                   .max_mapped = 1ull << 40,
                                                                   .hostname = "h:1",
                                                                   .hostname_len = 3,
                                                                   .master = "m",
                                                                   .master_len = 1}),
                 MC_OK);
    p = payload(&b, &h);
    cr_assert_eq(mc_ipc_hello_reply_decode(p, h.len, &hr, NULL), MC_OK);
    cr_assert(hr.max_batch == 7 && hr.max_mapped == 1ull << 40 && hr.hostname_len == 3);
    b.len = 0;
    cr_assert_eq(mc_ipc_small_encode(&b, MC_IPC_REMOVE_REGEX, 2,
                                     &(mc_ipc_small_t){MC_IPC_F_FORCE, 0, "^a", 2}),
                 MC_OK);
    p = payload(&b, &h);
    cr_assert_eq(mc_ipc_small_decode(p, h.len, &sm, NULL), MC_OK);
    cr_assert(sm.flags == MC_IPC_F_FORCE && sm.text_len == 2);
    b.len = 0;
    cr_assert_eq(mc_ipc_small_reply_encode(&b, MC_IPC_REMOVE_ALL, 3,
                                           &(mc_ipc_small_reply_t){-706, 9, "", 0}),
                 MC_OK);
    p = payload(&b, &h);
    cr_assert_eq(h.op, MC_IPC_REMOVE_ALL | MC_IPC_REPLY);
    cr_assert_eq(mc_ipc_small_reply_decode(p, h.len, &sr, NULL), MC_OK);
    cr_assert(sr.status == -706 && sr.value == 9);
    b.len = 0;
    cr_assert_eq(mc_ipc_keys_reply_encode(&b, MC_IPC_GET, 4, 0, res, 2), MC_OK);
    p = payload(&b, &h);
    cr_assert_eq(mc_ipc_keys_reply_decode(p, h.len, &status, got, 2, &n, NULL), MC_OK);
    cr_assert(n == 2 && got[0].value == 5 && got[1].code == -704);
    cr_assert_eq(mc_ipc_keys_reply_decode(p, h.len, &status, got, 1, &n, NULL), MC_INVALID_PARAMS,
                 "more results than asked for");
    mc_buf_cleanup(&b);
}

Test(ipc_msg, default_socket_path)
{
    char dir[128], path[128];

    cr_assert_eq(mc_ipc_default_path("/run/user/1000", NULL, 1000, 50052, dir, sizeof(dir), path,
                                     sizeof(path)),
                 MC_OK);
    cr_assert_str_eq(path, "/run/user/1000/mooncake/store-50052.sock");
    cr_assert_eq(mc_ipc_default_path("", NULL, 0, 7, dir, sizeof(dir), path, sizeof(path)), MC_OK);
    cr_assert_str_eq(dir, "/tmp/mooncake-0");
    cr_assert_str_eq(path, "/tmp/mooncake-0/store-7.sock");
    {
        char longdir[120];
        memset(longdir, 'x', sizeof(longdir) - 1);
        longdir[0] = '/';
        longdir[sizeof(longdir) - 1] = '\0';
        cr_assert_eq(mc_ipc_default_path(longdir, NULL, 0, 7, dir, sizeof(dir), path, sizeof(path)),
                     MC_INVALID_PARAMS, "past a socket path's 107 bytes");
    }
}
