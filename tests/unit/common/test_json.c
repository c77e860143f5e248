#include "mc/errors.h"
#include "mc/json.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static cJSON *parse(const char *s)
{
    mc_errmsg_t e;
    cJSON *o = mc_json_parse_object(s, strlen(s), &e);
    cr_assert_not_null(o, "%s: %s", s, e.msg);
    return o;
}

Test(json, parse_object_only)
{
    mc_errmsg_t e;
    cr_expect_null(mc_json_parse_object("[1]", 3, &e));
    cr_expect_str_eq(e.msg, "expected a JSON object");
    cr_expect_null(mc_json_parse_object("{\"a\":", 5, &e));
    cr_expect_str_eq(e.msg, "malformed JSON");
    cr_expect_null(mc_json_parse_object("", 0, &e));
    /* parse must stop at len, not at a NUL further on */
    cr_expect_null(mc_json_parse_object("{}garbage", 3, &e));
}

Test(json, typed_getters)
{
    cJSON *o = parse("{\"s\":\"hi\",\"u\":42,\"i\":-7,\"d\":0.5,\"b\":true,\"a\":[1,2,3],"
                     "\"f\":1.5,\"n\":null,\"big\":1e300}");
    mc_errmsg_t e;
    const char *s = NULL;
    uint64_t u = 0;
    int64_t i = 0;
    double d = 0;
    bool b = false;
    const cJSON *a = NULL;

    cr_expect_eq(mc_json_get_str(o, "s", true, 16, &s, &e), MC_OK);
    cr_expect_str_eq(s, "hi");
    cr_expect_eq(mc_json_get_u64(o, "u", true, 0, 100, &u, &e), MC_OK);
    cr_expect_eq(u, 42);
    cr_expect_eq(mc_json_get_i64(o, "i", true, -10, 10, &i, &e), MC_OK);
    cr_expect_eq(i, -7);
    cr_expect_eq(mc_json_get_double(o, "d", true, 0, 1, &d, &e), MC_OK);
    cr_expect_eq(mc_json_get_bool(o, "b", true, &b, &e), MC_OK);
    cr_expect(b);
    cr_expect_eq(mc_json_get_array(o, "a", true, 3, &a, &e), MC_OK);
    cr_expect_eq(cJSON_GetArraySize(a), 3);

    /* errors name the field */
    cr_expect_eq(mc_json_get_u64(o, "u", true, 0, 10, &u, &e), MC_INVALID_PARAMS);
    cr_expect_not_null(strstr(e.msg, "'u'"));
    cr_expect_eq(mc_json_get_u64(o, "i", true, 0, 10, &u, &e), MC_INVALID_PARAMS);
    cr_expect_eq(mc_json_get_u64(o, "f", true, 0, 10, &u, &e), MC_INVALID_PARAMS);
    cr_expect_not_null(strstr(e.msg, "integer"));
    cr_expect_eq(mc_json_get_u64(o, "big", true, 0, UINT64_MAX, &u, &e), MC_INVALID_PARAMS);
    cr_expect_eq(mc_json_get_u64(o, "s", true, 0, 10, &u, &e), MC_INVALID_PARAMS);
    cr_expect_eq(mc_json_get_str(o, "u", true, 16, &s, &e), MC_INVALID_PARAMS);
    cr_expect_eq(mc_json_get_str(o, "s", true, 1, &s, &e), MC_INVALID_PARAMS);
    cr_expect_eq(mc_json_get_bool(o, "u", true, &b, &e), MC_INVALID_PARAMS);
    cr_expect_eq(mc_json_get_array(o, "a", true, 2, &a, &e), MC_INVALID_PARAMS);
    cr_expect_eq(mc_json_get_array(o, "s", true, 2, &a, &e), MC_INVALID_PARAMS);
    cr_expect_eq(mc_json_get_double(o, "d", true, 0.6, 1, &d, &e), MC_INVALID_PARAMS);

    /* missing: required fails, optional leaves the value; null counts as missing */
    u = 99;
    cr_expect_eq(mc_json_get_u64(o, "zz", false, 0, 10, &u, &e), MC_OK);
    cr_expect_eq(u, 99);
    cr_expect_eq(mc_json_get_u64(o, "zz", true, 0, 10, &u, &e), MC_INVALID_PARAMS);
    cr_expect_str_eq(e.msg, "missing field 'zz'");
    cr_expect_eq(mc_json_get_str(o, "n", false, 16, &s, &e), MC_OK);
    cr_expect_eq(mc_json_get_str(o, "n", true, 16, &s, &e), MC_INVALID_PARAMS);
    cJSON_Delete(o);
}

Test(json, print_take)
{
    cJSON *o = cJSON_CreateObject();
    size_t len = 0;
    char *s;
    cJSON_AddNumberToObject(o, "x", 1);
    s = mc_json_print_take(o, &len);
    cr_expect_str_eq(s, "{\"x\":1}");
    cr_expect_eq(len, 7);
    free(s);
    cr_expect_null(mc_json_print_take(NULL, &len));
}

/* cJSON cuts a string at a NUL; such strings are flagged, never read. */
static cJSON *parse_n(const char *s, size_t n, mc_errmsg_t *e)
{
    return mc_json_parse_object(s, n, e);
}

Test(json, nul_inside_strings_is_flagged)
{
    static const char raw[] = "{\"k\":\"short\0long\",\"ok\":\"x\",\"a\":[\"b\",\"c\0d\"]}";
    mc_errmsg_t e;
    const char *s = NULL;
    cJSON *o = parse_n(raw, sizeof(raw) - 1, &e);
    const cJSON *a;

    cr_assert_not_null(o, "%s", e.msg);
    cr_expect(mc_json_has_nul(cJSON_GetObjectItem(o, "k")));
    cr_expect_not(mc_json_has_nul(cJSON_GetObjectItem(o, "ok")));
    cr_expect_eq(mc_json_get_str(o, "k", true, 64, &s, &e), MC_INVALID_PARAMS);
    cr_expect(strstr(e.msg, "NUL") != NULL, "%s", e.msg);
    cr_expect_eq(mc_json_get_str(o, "ok", true, 64, &s, &e), MC_OK);
    a = cJSON_GetObjectItem(o, "a");
    cr_expect_not(mc_json_has_nul(cJSON_GetArrayItem(a, 0)));
    cr_expect(mc_json_has_nul(cJSON_GetArrayItem(a, 1)));
    cJSON_Delete(o);

    o = parse("{\"k\":\"a\\u0000b\",\"esc\":\"\\\\u0000\",\"n\":{\"x\":[\"\\u0000\"]}}");
    cr_expect(mc_json_has_nul(cJSON_GetObjectItem(o, "k")));
    /* an escaped backslash followed by "u0000" is six ordinary characters */
    cr_expect_not(mc_json_has_nul(cJSON_GetObjectItem(o, "esc")));
    cr_expect_eq(mc_json_get_str(o, "esc", true, 64, &s, &e), MC_OK);
    cr_expect_str_eq(s, "\\u0000");
    cr_expect(mc_json_has_nul(
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "n"), "x"), 0)));
    cJSON_Delete(o);
}

Test(json, nul_in_member_name_refuses_the_document)
{
    mc_errmsg_t e;
    cr_expect_null(mc_json_parse_object("{\"ke\\u0000y\":1}", 15, &e));
    cr_expect(strstr(e.msg, "member name") != NULL, "%s", e.msg);
    cr_expect_null(mc_json_parse_object("{\"keys\0x\":[\"evil\"]}", 19, &e));
}

Test(json, get_key)
{
    cJSON *o = parse("{\"k\":\"abc\",\"e\":\"\",\"n\":\"a\\u0000b\",\"i\":3}");
    mc_errmsg_t e;
    const char *k = NULL;
    size_t len = 0;

    cr_expect_eq(mc_json_get_key(o, "k", 16, &k, &len, &e), MC_OK);
    cr_expect_eq(len, 3);
    cr_expect_eq(mc_json_get_key(o, "e", 16, &k, &len, &e), MC_INVALID_KEY);
    cr_expect_eq(mc_json_get_key(o, "n", 16, &k, &len, &e), MC_INVALID_KEY);
    cr_expect_eq(mc_json_get_key(o, "i", 16, &k, &len, &e), MC_INVALID_KEY);
    cr_expect_eq(mc_json_get_key(o, "missing", 16, &k, &len, &e), MC_INVALID_KEY);
    cr_expect_eq(mc_json_get_key(o, "k", 2, &k, &len, &e), MC_INVALID_KEY);
    cJSON_Delete(o);
}
