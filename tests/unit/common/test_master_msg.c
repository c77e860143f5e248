#include "mc/errors.h"
#include "mc/master_msg.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int decode(const char *body, bool want_sizes, mc_keys_req_t *req, mc_errmsg_t *e)
{
    return mc_keys_req_decode(body, strlen(body), want_sizes, req, e);
}

Test(jw, writer_places_commas_and_escapes)
{
    mc_jw_t w;
    size_t len;
    char *s;
    mc_jw_init(&w, 0);
    mc_jw_obj_begin(&w);
    mc_jw_key(&w, "a");
    mc_jw_arr_begin(&w);
    mc_jw_u64(&w, 1);
    mc_jw_i64(&w, -2);
    mc_jw_bool(&w, true);
    mc_jw_obj_begin(&w);
    mc_jw_obj_end(&w);
    mc_jw_arr_end(&w);
    mc_jw_key(&w, "s");
    mc_jw_str(&w, "q\"\\\n\x01", 5);
    mc_jw_key(&w, "e");
    mc_jw_arr_begin(&w);
    mc_jw_arr_end(&w);
    mc_jw_obj_end(&w);
    s = mc_jw_take(&w, &len);
    cr_assert_not_null(s);
    cr_expect_str_eq(s, "{\"a\":[1,-2,true,{}],\"s\":\"q\\\"\\\\\\u000a\\u0001\",\"e\":[]}");
    cr_expect_eq(len, strlen(s));
    cJSON *o = cJSON_Parse(s);
    cr_expect_not_null(o);
    cr_expect_str_eq(cJSON_GetObjectItem(o, "s")->valuestring, "q\"\\\n\x01");
    cJSON_Delete(o);
    free(s);
}

Test(master_msg, keys_request_round_trip)
{
    const char *keys[] = {"k1", "model@tp_rank:0@abc", "k\"3"};
    uint64_t sizes[] = {1, 1 << 20, 32 << 20};
    uint32_t sums[] = {0, 7, 0xffffffffu};
    mc_keys_req_t in = {.client_id = mc_uuid_generate(),
                        .n = 3,
                        .keys = keys,
                        .sizes = sizes,
                        .checksums = sums,
                        .has_config = true,
                        .force = true,
                        .hold = true};
    mc_keys_req_t out;
    mc_errmsg_t e;
    size_t len;
    char *body;

    in.config.replica_num = 2;
    in.config.preferred[0] = "seg-a";
    in.config.n_preferred = 1;
    in.config.soft_pin = true;
    body = mc_keys_req_encode_take(&in, &len);
    cr_assert_not_null(body);
    cr_assert_eq(mc_keys_req_decode(body, len, true, &out, &e), MC_OK, "%s: %s", body, e.msg);
    cr_expect(mc_uuid_equal(out.client_id, in.client_id));
    cr_assert_eq(out.n, 3);
    for (size_t i = 0; i < 3; i++) {
        cr_expect_str_eq(out.keys[i], keys[i]);
        cr_expect_eq(out.key_lens[i], strlen(keys[i]));
        cr_expect_eq(out.sizes[i], sizes[i]);
        cr_expect_eq(out.checksums[i], sums[i]);
    }
    cr_expect(out.has_config);
    cr_expect_eq(out.config.replica_num, 2);
    cr_expect_eq(out.config.n_preferred, 1);
    cr_expect_str_eq(out.config.preferred[0], "seg-a");
    cr_expect(out.config.soft_pin);
    cr_expect_not(out.config.hard_pin);
    cr_expect(out.force);
    cr_expect(out.hold);
    cr_expect_not(out.upsert);
    mc_keys_req_cleanup(&out);
    free(body);
}

Test(master_msg, single_key_form)
{
    mc_keys_req_t r;
    mc_errmsg_t e;
    cr_assert_eq(decode("{\"key\":\"abc\",\"size\":10,\"config\":{\"preferred_segment\":\"s1\"}}",
                        true, &r, &e),
                 MC_OK, "%s", e.msg);
    cr_expect_eq(r.n, 1);
    cr_expect_str_eq(r.keys[0], "abc");
    cr_expect_eq(r.sizes[0], 10);
    cr_expect_eq(r.config.replica_num, 1);
    cr_expect_str_eq(r.config.preferred[0], "s1");
    cr_expect_null(r.checksums);
    mc_keys_req_cleanup(&r);
    cr_assert_eq(decode("{\"keys\":[\"a\",\"b\"]}", false, &r, &e), MC_OK);
    cr_expect_null(r.sizes);
    cr_expect_not(r.has_config);
    mc_keys_req_cleanup(&r);
}

Test(master_msg, bad_keys_requests)
{
    static const struct {
        const char *body;
        int code;
        const char *needle;
    } cases[] = {
        {"{", MC_INVALID_PARAMS, "malformed"},
        {"[]", MC_INVALID_PARAMS, "object"},
        {"{}", MC_INVALID_PARAMS, "missing field 'keys'"},
        {"{\"keys\":\"a\"}", MC_INVALID_PARAMS, "expected an array"},
        {"{\"keys\":[1]}", MC_INVALID_KEY, "expected a string"},
        {"{\"keys\":[\"\"],\"sizes\":[1]}", MC_INVALID_KEY, "key 0"},
        {"{\"key\":\"a\\u0000b\",\"size\":1}", MC_INVALID_KEY, "NUL"},
        {"{\"key\":5,\"size\":1}", MC_INVALID_KEY, "'key'"},
        {"{\"keys\":[\"a\"]}", MC_INVALID_PARAMS, "missing field 'sizes'"},
        {"{\"keys\":[\"a\"],\"sizes\":[1,2]}", MC_INVALID_PARAMS, "2 items for 1 keys"},
        {"{\"keys\":[\"a\"],\"sizes\":[0]}", MC_INVALID_PARAMS, "'sizes'[0]"},
        {"{\"keys\":[\"a\"],\"sizes\":[1.5]}", MC_INVALID_PARAMS, "'sizes'[0]"},
        {"{\"keys\":[\"a\"],\"sizes\":[\"1\"]}", MC_INVALID_PARAMS, "'sizes'[0]"},
        {"{\"keys\":[\"a\"],\"sizes\":[1],\"checksums\":[-1]}", MC_INVALID_PARAMS, "checksums"},
        {"{\"keys\":[\"a\"],\"sizes\":[1],\"config\":{\"replica_num\":9}}", MC_INVALID_PARAMS,
         "replica_num"},
        {"{\"keys\":[\"a\"],\"sizes\":[1],\"config\":{\"replica_num\":0}}", MC_INVALID_PARAMS,
         "replica_num"},
        {"{\"keys\":[\"a\"],\"sizes\":[1],\"config\":[]}", MC_INVALID_PARAMS, "config"},
        {"{\"keys\":[\"a\"],\"sizes\":[1],\"client_id\":\"nope\"}", MC_INVALID_PARAMS, "UUID"},
        {"{\"keys\":[\"a\"],\"sizes\":[1],\"force\":1}", MC_INVALID_PARAMS, "force"},
        {"{\"keys\":[\"a\"],\"hold\":\"yes\"}", MC_INVALID_PARAMS, "hold"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mc_keys_req_t r;
        mc_errmsg_t e = {{0}};
        cr_expect_eq(decode(cases[i].body, true, &r, &e), cases[i].code, "%s", cases[i].body);
        cr_expect_not_null(strstr(e.msg, cases[i].needle), "%s: '%s'", cases[i].body, e.msg);
        cr_expect_null(r.root);
    }
}

Test(master_msg, batch_cap)
{
    size_t n = MC_MSG_MAX_BATCH + 1, off = 0, cap = n * 8 + 32;
    char *body = malloc(cap);
    mc_keys_req_t r;
    mc_errmsg_t e;
    off += (size_t)snprintf(body, cap, "{\"keys\":[");
    for (size_t i = 0; i < n; i++)
        off += (size_t)snprintf(body + off, cap - off, "%s\"k%zu\"", i ? "," : "", i % 1000);
    snprintf(body + off, cap - off, "]}");
    cr_expect_eq(decode(body, false, &r, &e), MC_INVALID_PARAMS);
    cr_expect_not_null(strstr(e.msg, "more than"));
    free(body);
}

Test(master_msg, results_round_trip)
{
    mc_key_result_t in[3];
    mc_results_t r;
    mc_errmsg_t e;
    size_t len;
    char *body;

    memset(in, 0, sizeof(in));
    in[0].code = MC_OK;
    in[0].size = 4096;
    in[0].lease_ms = 500;
    in[0].n = 2;
    for (int j = 0; j < 2; j++) {
        in[0].rep[j] = (mc_replica_t){.segment_id = mc_uuid_generate(),
                                      .segment = "seg\"x",
                                      .endpoint = "127.0.0.1:1234",
                                      .epoch = 3u + (unsigned)j,
                                      .addr = 0x7f0000000000ull + 64u * (unsigned)j,
                                      .offset = 64u * (unsigned)j,
                                      .size = 4096,
                                      .type = MC_REPLICA_TYPE_MEMORY};
    }
    in[1].code = MC_OBJECT_NOT_FOUND;
    in[2].code = MC_OK;
    in[2].exists = true;
    body = mc_results_encode_take(
        in, 3, MC_RES_REPLICAS | MC_RES_SIZE | MC_RES_LEASE | MC_RES_EXISTS, &len);
    cr_assert_not_null(body);
    cr_assert_eq(mc_results_decode(body, len, 4, &r, &e), MC_OK, "%s", e.msg);
    cr_assert_eq(r.n, 3);
    cr_expect_eq(r.res[0].code, 0);
    cr_expect_eq(r.res[0].size, 4096);
    cr_expect_eq(r.res[0].lease_ms, 500);
    cr_assert_eq(r.res[0].n, 2);
    for (int j = 0; j < 2; j++) {
        cr_expect(mc_uuid_equal(r.res[0].rep[j].segment_id, in[0].rep[j].segment_id));
        cr_expect_str_eq(r.res[0].rep[j].segment, "seg\"x");
        cr_expect_str_eq(r.res[0].rep[j].endpoint, "127.0.0.1:1234");
        cr_expect_eq(r.res[0].rep[j].epoch, in[0].rep[j].epoch);
        cr_expect_eq(r.res[0].rep[j].addr, in[0].rep[j].addr);
        cr_expect_eq(r.res[0].rep[j].offset, in[0].rep[j].offset);
        cr_expect_eq(r.res[0].rep[j].size, 4096);
    }
    cr_expect_eq(r.res[1].code, MC_OBJECT_NOT_FOUND);
    cr_expect_eq(r.res[1].n, 0);
    cr_expect(r.res[2].exists);
    /* the strings are the decoder's own copies: the body can go first */
    memset(body, 'x', len);
    cr_expect_str_eq(r.res[0].rep[1].segment, "seg\"x");
    cr_expect_str_eq(r.res[0].rep[1].endpoint, "127.0.0.1:1234");
    mc_results_cleanup(&r);
    mc_results_cleanup(&r); /* idempotent */
    free(body);
    body = mc_results_encode_take(in, 3, MC_RES_REPLICAS, &len);
    cr_assert_not_null(body);
    /* more results than the caller allows is an error, not an overflow */
    cr_expect_eq(mc_results_decode(body, len, 2, &r, &e), MC_INVALID_PARAMS);
    cr_expect(r.n == 0 && !r.res && !r.strings);
    free(body);
}

Test(master_msg, bad_results)
{
    static const char *const bad[] = {
        "{}",
        "{\"results\":{}}",
        "{\"results\":[1]}",
        "{\"results\":[{}]}",
        "{\"results\":[{\"code\":1}]}",
        "{\"results\":[{\"code\":0,\"replicas\":[{\"segment\":\"s\"}]}]}",
        "{\"results\":[{\"code\":0,\"replicas\":[1,2,3,4,5,6,7,8,9]}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        mc_results_t r;
        mc_errmsg_t e;
        cr_expect_eq(mc_results_decode(bad[i], strlen(bad[i]), 2, &r, &e), MC_INVALID_PARAMS, "%s",
                     bad[i]);
        cr_expect(r.n == 0 && !r.res && !r.strings, "%s", bad[i]);
    }
}

Test(master_msg, segment_round_trip_and_errors)
{
    mc_segment_msg_t in = {.client_id = mc_uuid_generate(),
                           .id = mc_uuid_generate(),
                           .name = "127.0.0.1:12345",
                           .endpoint = "127.0.0.1:12345",
                           .protocol = "tcp",
                           .base = 0x7f1234560000ull,
                           .size = 32u << 20,
                           .secret = "0123abcd"};
    mc_segment_msg_t out;
    mc_unmount_req_t u = {.segment_id = in.id, .client_id = in.client_id, .secret = "feed"}, ub;
    mc_errmsg_t e;
    size_t len;
    char *body = mc_segment_msg_encode_take(&in, &len);
    cr_assert_eq(mc_segment_msg_decode(body, len, &out, &e), MC_OK, "%s", e.msg);
    cr_expect_str_eq(out.secret, "0123abcd");
    cr_expect(mc_uuid_equal(out.id, in.id));
    cr_expect(mc_uuid_equal(out.client_id, in.client_id));
    cr_expect_str_eq(out.name, in.name);
    cr_expect_str_eq(out.protocol, "tcp");
    cr_expect_eq(out.base, in.base);
    cr_expect_eq(out.size, in.size);
    mc_segment_msg_cleanup(&out);
    free(body);
    cr_expect_eq(mc_segment_msg_decode("{\"client_id\":\"x\"}", 17, &out, &e), MC_INVALID_PARAMS);
    cr_expect_null(out.root);
    /* the secret rides the unmount too; absent is "" */
    body = mc_unmount_req_encode_take(&u, &len);
    cr_assert_eq(mc_unmount_req_decode(body, len, &ub, &e), MC_OK, "%s", e.msg);
    cr_expect_str_eq(ub.secret, "feed");
    free(body);
    u.secret[0] = '\0';
    body = mc_unmount_req_encode_take(&u, &len);
    cr_expect_null(strstr(body, "secret"));
    cr_assert_eq(mc_unmount_req_decode(body, len, &ub, &e), MC_OK);
    cr_expect_str_eq(ub.secret, "");
    free(body);
}

Test(jw, integers_at_the_limits)
{
    mc_jw_t w;
    char *s;
    mc_jw_init(&w, 0);
    mc_jw_arr_begin(&w);
    mc_jw_u64(&w, 0);
    mc_jw_u64(&w, UINT64_MAX);
    mc_jw_i64(&w, INT64_MIN);
    mc_jw_i64(&w, -1);
    mc_jw_i64(&w, 704);
    mc_jw_str(&w, "plain text, long enough to be one run", 37);
    mc_jw_arr_end(&w);
    mc_jw_raw(&w, "\nraw,\"", 6); /* as is: no comma, no escaping */
    s = mc_jw_take(&w, NULL);
    cr_expect_str_eq(s, "[0,18446744073709551615,-9223372036854775808,-1,704,"
                        "\"plain text, long enough to be one run\"]\nraw,\"");
    free(s);
}

Test(master_msg, small_messages_round_trip)
{
    mc_errmsg_t e;
    size_t len;
    char *b;
    mc_uuid_t id = mc_uuid_generate(), got;
    mc_ping_reply_t pr = {.need_remount = true, .view_version = 1795323265865ull}, pr2;
    mc_unmount_req_t ur = {.segment_id = mc_uuid_generate(),
                           .client_id = id,
                           .graceful = true,
                           .grace_ms = 2500},
                     ur2;
    mc_remove_req_t rr;
    uint64_t v = 0;

    b = mc_ping_req_encode_take(id, &len);
    cr_assert_eq(mc_ping_req_decode(b, len, &got, &e), MC_OK, "%s", e.msg);
    cr_expect(mc_uuid_equal(got, id));
    free(b);
    b = mc_ping_reply_encode_take(&pr, &len);
    cr_assert_eq(mc_ping_reply_decode(b, len, &pr2, &e), MC_OK, "%s", e.msg);
    cr_expect(pr2.need_remount);
    cr_expect_eq(pr2.view_version, pr.view_version);
    free(b);
    cr_expect_eq(mc_ping_reply_decode("{\"status\":\"MAYBE\"}", 18, &pr2, &e), MC_INVALID_PARAMS);
    b = mc_unmount_req_encode_take(&ur, &len);
    cr_assert_eq(mc_unmount_req_decode(b, len, &ur2, &e), MC_OK, "%s", e.msg);
    cr_expect(mc_uuid_equal(ur2.segment_id, ur.segment_id));
    cr_expect(ur2.graceful);
    cr_expect_eq(ur2.grace_ms, 2500);
    free(b);
    b = mc_remove_req_encode_take("^a.*", true, &len);
    cr_assert_eq(mc_remove_req_decode(b, len, true, &rr, &e), MC_OK, "%s", e.msg);
    cr_expect_str_eq(rr.pattern, "^a.*");
    cr_expect(rr.force);
    mc_remove_req_cleanup(&rr);
    free(b);
    cr_expect_eq(mc_remove_req_decode("", 0, false, &rr, &e), MC_OK); /* remove_all, empty body */
    cr_expect_null(rr.pattern);
    mc_remove_req_cleanup(&rr);
    cr_expect_eq(mc_remove_req_decode("{}", 2, true, &rr, &e), MC_INVALID_PARAMS);
    {
        mc_mount_reply_t mr = {42, "s3cr3t"}, back;
        b = mc_mount_reply_encode_take(&mr, &len);
        cr_assert_eq(mc_mount_reply_decode(b, len, &back, &e), MC_OK);
        cr_expect_eq(back.epoch, 42);
        cr_expect_str_eq(back.secret, "s3cr3t");
        free(b);
        cr_assert_eq(mc_mount_reply_decode("{\"epoch\":3}", 11, &back, &e), MC_OK);
        cr_expect_str_eq(back.secret, "", "no secret: an old master");
        cr_expect_eq(mc_mount_reply_decode("{\"epoch\":0}", 11, &back, &e), MC_INVALID_PARAMS);
    }
    b = mc_count_reply_encode_take(7, &len);
    cr_assert_eq(mc_count_reply_decode(b, len, &v, &e), MC_OK);
    cr_expect_eq(v, 7);
    free(b);
}

/* A NUL inside a key, raw or escaped, is INVALID_KEY (never a shorter key);
 * inside another string field it is INVALID_PARAMS. */
Test(master_msg, nul_in_strings)
{
    static const struct {
        const char *body;
        size_t len;
        int code;
    } cases[] = {
#define C(s, code) {s, sizeof(s) - 1, code}
        C("{\"keys\":[\"a\\u0000b\"]}", MC_INVALID_KEY),
        C("{\"keys\":[\"ok\",\"short\0long\"]}", MC_INVALID_KEY),
        C("{\"key\":\"short\0long\"}", MC_INVALID_KEY),
        C("{\"keys\":[\"a\"],\"sizes\":[1],\"config\":{\"preferred_segment\":\"s\\u0000\"}}",
          MC_INVALID_PARAMS),
        C("{\"keys\":[\"a\"],\"sizes\":[1],\"config\":{\"preferred_segments\":[\"s\0t\"]}}",
          MC_INVALID_PARAMS),
        C("{\"keys\":[\"a\"],\"client_id\":\"\\u0000\"}", MC_INVALID_PARAMS),
        C("{\"ke\\u0000ys\":[\"a\"]}", MC_INVALID_PARAMS),
#undef C
    };
    mc_keys_req_t r;
    mc_segment_msg_t m;
    mc_errmsg_t e;
    static const char seg[] = "{\"client_id\":\"6f1c7a52-3f0e-4d3a-9d43-7f4a3c9b2e10\","
                              "\"segment\":{\"id\":\"6f1c7a52-3f0e-4d3a-9d43-7f4a3c9b2e11\","
                              "\"name\":\"seg\\u0000x\",\"size\":4096}}";

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = mc_keys_req_decode(cases[i].body, cases[i].len, false, &r, &e);
        cr_expect_eq(rc, cases[i].code, "case %zu: %d (%s)", i, rc, e.msg);
        if (rc == MC_OK)
            mc_keys_req_cleanup(&r);
    }
    cr_expect_eq(mc_segment_msg_decode(seg, sizeof(seg) - 1, &m, &e), MC_INVALID_PARAMS);
    cr_expect(strstr(e.msg, "'name': holds a NUL") != NULL, "%s", e.msg);
}
