/* The store REST codec (mc/store_msg.h): exact reply bytes, the public
 * batch request and each way it is refused. */
#include "mc/errors.h"
#include "mc/store_msg.h"
#include "mc/strutil.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* got and its length are read after the encoder ran (argument order). */
static void expect_text(char *got, const size_t *len, const char *want)
{
    cr_assert_not_null(got);
    cr_expect_eq(*len, strlen(want), "%s", want);
    cr_expect_str_eq(got, want);
    free(got);
}

Test(store_msg, reply_bodies)
{
    size_t len = 0;
    mc_store_result_t r[3] = {{.code = MC_OK, .size = 42, .exists = true},
                              {.code = MC_OBJECT_NOT_FOUND, .size = 7, .exists = true},
                              {.code = MC_OK, .size = 0, .exists = false}};

    expect_text(mc_store_status_encode_take(&len), &len, "{\"status\":\"ok\",\"code\":0}");
    expect_text(mc_store_exists_encode_take(true, &len), &len, "{\"exists\":true}");
    expect_text(mc_store_exists_encode_take(false, &len), &len, "{\"exists\":false}");
    expect_text(mc_store_removed_encode_take(12345678901234ull, &len), &len,
                "{\"removed\":12345678901234}");
    expect_text(mc_store_results_encode_take(r, 3, 0, &len), &len,
                "{\"results\":[{\"code\":0},{\"code\":-704},{\"code\":0}]}");
    expect_text(mc_store_results_encode_take(r, 3, MC_STORE_F_EXISTS, &len), &len,
                "{\"results\":[{\"code\":0,\"exists\":true},{\"code\":-704},"
                "{\"code\":0,\"exists\":false}]}");
    expect_text(mc_store_results_encode_take(r, 3, MC_STORE_F_SIZE, &len), &len,
                "{\"results\":[{\"code\":0,\"size\":42},{\"code\":-704},{\"code\":0,\"size\":0}]}");
}

Test(store_msg, result_bound_holds_for_the_longest_entry)
{
    mc_store_result_t r[2] = {{.code = -2147483647 - 1, .size = UINT64_MAX},
                              {.code = MC_OK, .size = UINT64_MAX, .exists = false}};
    size_t len = 0;
    char *s = mc_store_results_encode_take(r, 2, MC_STORE_F_EXISTS | MC_STORE_F_SIZE, &len);

    cr_assert_not_null(s);
    cr_expect_leq(len, MC_STORE_RESULTS_ENVELOPE + 2 * MC_STORE_RESULT_MAX, "%s", s);
    free(s);
}

Test(store_msg, batch_request_round_trip)
{
    const char *keys[3] = {"a", "key with \"quotes\"", "k\xc3\xa9"};
    size_t len = 0;
    char *body = mc_store_batch_req_encode_take(keys, NULL, 3, true, &len);
    mc_store_batch_req_t r;
    mc_errmsg_t e;

    cr_assert_not_null(body);
    cr_assert_eq(mc_store_batch_req_decode(body, len, &r, &e), MC_OK, "%s", e.msg);
    memset(body, 'x', len); /* the request owns its keys */
    free(body);
    cr_assert_eq(r.n, 3);
    cr_expect(r.force);
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(r.key_lens[i], strlen(keys[i]));
        cr_expect_str_eq(r.keys[i], keys[i]);
    }
    mc_store_batch_req_cleanup(&r);
    mc_store_batch_req_cleanup(&r);
}

Test(store_msg, batch_request_ignores_unknown_members)
{
    static const char body[] = "{\"client_id\":\"not-ours\",\"keys\":[\"x\"],\"later\":{}}";
    mc_store_batch_req_t r;
    mc_errmsg_t e;

    cr_assert_eq(mc_store_batch_req_decode(body, sizeof(body) - 1, &r, &e), MC_OK, "%s", e.msg);
    cr_expect_eq(r.n, 1);
    cr_expect(!r.force);
    mc_store_batch_req_cleanup(&r);
}

Test(store_msg, batch_request_refusals)
{
    static const struct {
        const char *body;
        size_t len; /* 0 = strlen */
        int code;
    } bad[] = {
        {"", 0, MC_INVALID_PARAMS},
        {"[\"a\"]", 0, MC_INVALID_PARAMS},
        {"{}", 0, MC_INVALID_PARAMS},
        {"{\"key\":\"a\"}", 0, MC_INVALID_PARAMS},
        {"{\"keys\":\"a\"}", 0, MC_INVALID_PARAMS},
        {"{\"keys\":[]}", 0, MC_INVALID_PARAMS},
        {"{\"keys\":[\"a\"],\"force\":1}", 0, MC_INVALID_PARAMS},
        {"{\"keys\":[1]}", 0, MC_INVALID_KEY},
        {"{\"keys\":[\"\"]}", 0, MC_INVALID_KEY},
        {"{\"keys\":[\"a\\u0000b\"]}", 0, MC_INVALID_KEY},
        {"{\"keys\":[\"a\0b\"]}", 16, MC_INVALID_KEY},
        {"{\"keys\\u0000x\":[\"a\"]}", 0, MC_INVALID_PARAMS},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        mc_store_batch_req_t r;
        mc_errmsg_t e = {{0}};
        size_t len = bad[i].len ? bad[i].len : strlen(bad[i].body);
        int rc = mc_store_batch_req_decode(bad[i].body, len, &r, &e);
        cr_expect_eq(rc, bad[i].code, "case %zu: %s -> %d", i, bad[i].body, rc);
        cr_expect(r.n == 0 && !r.keys && !r.block, "case %zu leaves nothing", i);
        cr_expect(e.msg[0] != '\0', "case %zu says why", i);
    }
}

Test(store_msg, batch_request_caps)
{
    size_t n = MC_MAX_BATCH_KEYS + 1, len = 0;
    const char **keys = calloc(n, sizeof(*keys));
    char *longkey = malloc(MC_MAX_KEY_LEN + 2), *body;
    mc_store_batch_req_t r;
    mc_errmsg_t e;

    cr_assert(keys && longkey);
    for (size_t i = 0; i < n; i++)
        keys[i] = "k";
    body = mc_store_batch_req_encode_take(keys, NULL, n, false, &len);
    cr_expect_eq(mc_store_batch_req_decode(body, len, &r, &e), MC_INVALID_PARAMS, "too many");
    free(body);
    body = mc_store_batch_req_encode_take(keys, NULL, n - 1, false, &len);
    cr_expect_eq(mc_store_batch_req_decode(body, len, &r, &e), MC_OK, "exactly the cap");
    mc_store_batch_req_cleanup(&r);
    free(body);
    memset(longkey, 'a', MC_MAX_KEY_LEN + 1);
    longkey[MC_MAX_KEY_LEN + 1] = '\0';
    keys[0] = longkey;
    body = mc_store_batch_req_encode_take(keys, NULL, 1, false, &len);
    cr_expect_eq(mc_store_batch_req_decode(body, len, &r, &e), MC_INVALID_KEY, "key too long");
    free(body);
    free(longkey);
    free(keys);
}
