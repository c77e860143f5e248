#include "mc/errors.h"
#include "mc/strutil.h"

#include <criterion/criterion.h>
#include <string.h>

Test(strutil, parse_u64)
{
    uint64_t v = 0;
    cr_expect_eq(mc_parse_u64("0", &v), MC_OK);
    cr_expect_eq(v, 0);
    cr_expect_eq(mc_parse_u64(" 18446744073709551615 ", &v), MC_OK);
    cr_expect_eq(v, UINT64_MAX);
    cr_expect_eq(mc_parse_u64("18446744073709551616", &v), MC_INVALID_PARAMS);
    cr_expect_eq(mc_parse_u64("-1", &v), MC_INVALID_PARAMS);
    cr_expect_eq(mc_parse_u64("", &v), MC_INVALID_PARAMS);
    cr_expect_eq(mc_parse_u64("12x", &v), MC_INVALID_PARAMS);
    cr_expect_eq(mc_parse_u64(NULL, &v), MC_INVALID_PARAMS);
}

Test(strutil, parse_i64_double_bool)
{
    int64_t i;
    double d;
    bool b;
    cr_expect_eq(mc_parse_i64("-42", &i), MC_OK);
    cr_expect_eq(i, -42);
    cr_expect_eq(mc_parse_i64("4.2", &i), MC_INVALID_PARAMS);
    cr_expect_eq(mc_parse_double("0.95", &d), MC_OK);
    cr_expect_float_eq(d, 0.95, 1e-12);
    cr_expect_eq(mc_parse_double("nan", &d), MC_INVALID_PARAMS);
    cr_expect_eq(mc_parse_double("1e999", &d), MC_INVALID_PARAMS);
    cr_expect_eq(mc_parse_bool("TRUE", &b), MC_OK);
    cr_expect(b);
    cr_expect_eq(mc_parse_bool("off", &b), MC_OK);
    cr_expect_not(b);
    cr_expect_eq(mc_parse_bool("maybe", &b), MC_INVALID_PARAMS);
}

Test(strutil, parse_size)
{
    static const struct {
        const char *in;
        uint64_t want;
    } ok[] = {
        {"3355443200", 3355443200ull},
        {"16MB", 16ull << 20},
        {"4gb", 4ull << 30},
        {"1.5GB", 3ull << 29},
        {"512k", 512ull << 10},
        {"2 GiB", 2ull << 30},
        {"64KiB", 64ull << 10},
        {"80GB", 80ull << 30},
        {"0", 0},
        {"1t", 1ull << 40},
        {"100b", 100},
        {" 7M ", 7ull << 20},
    };
    static const char *const bad[] = {"",       "-1",      "abc",  "1.5", "16XB",
                                      "1e30GB", "16 MB x", "0.1k", "GB",  "99999999999999999999TB"};
    uint64_t v;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        cr_expect_eq(mc_parse_size(ok[i].in, &v), MC_OK, "%s", ok[i].in);
        cr_expect_eq(v, ok[i].want, "%s -> %llu", ok[i].in, (unsigned long long)v);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(mc_parse_size(bad[i], &v), MC_INVALID_PARAMS, "%s", bad[i]);
}

Test(strutil, format_size)
{
    char buf[32];
    cr_expect_str_eq(mc_format_size(512, buf, sizeof(buf)), "512 B");
    cr_expect_str_eq(mc_format_size(16ull << 20, buf, sizeof(buf)), "16.0 MiB");
    cr_expect_str_eq(mc_format_size(3ull << 29, buf, sizeof(buf)), "1.5 GiB");
}

Test(strutil, strlcpy)
{
    char buf[4];
    cr_expect_eq(mc_strlcpy(buf, "abc", sizeof(buf)), MC_OK);
    cr_expect_str_eq(buf, "abc");
    cr_expect_eq(mc_strlcpy(buf, "abcd", sizeof(buf)), MC_BUFFER_OVERFLOW);
    cr_expect_str_eq(buf, "abc");
    cr_expect_eq(mc_strlcpy(buf, "x", 0), MC_BUFFER_OVERFLOW);
}

Test(strutil, url_decode)
{
    char out[64];
    cr_expect_eq(mc_url_decode("a%2Fb%20c+d", 11, out, sizeof(out)), 7);
    cr_expect_str_eq(out, "a/b c+d");
    cr_expect_eq(mc_url_decode("%41%4a%4A", 9, out, sizeof(out)), 3);
    cr_expect_str_eq(out, "AJJ");
    cr_expect_eq(mc_url_decode("x%00y", 5, out, sizeof(out)), 3);
    cr_expect_eq(memcmp(out, "x\0y", 3), 0);
    cr_expect_lt(mc_url_decode("%4", 2, out, sizeof(out)), 0);
    cr_expect_lt(mc_url_decode("%", 1, out, sizeof(out)), 0);
    cr_expect_lt(mc_url_decode("%zz", 3, out, sizeof(out)), 0);
    cr_expect_eq(mc_url_decode("abcd", 4, out, 4), MC_BUFFER_OVERFLOW);
    cr_expect_eq(mc_url_decode("", 0, out, sizeof(out)), 0);
    cr_expect_str_eq(out, "");
}

Test(strutil, key_validate)
{
    char big[MC_MAX_KEY_LEN + 1];
    memset(big, 'k', sizeof(big));
    cr_expect_eq(mc_key_validate("model@tp_rank:0@abc", 19, MC_MAX_KEY_LEN), MC_OK);
    cr_expect_eq(mc_key_validate("", 0, MC_MAX_KEY_LEN), MC_INVALID_KEY);
    cr_expect_eq(mc_key_validate("a\0b", 3, MC_MAX_KEY_LEN), MC_INVALID_KEY);
    for (int c = 1; c < 0x20; c++) {
        char k[3] = {'a', (char)c, 'b'};
        cr_expect_eq(mc_key_validate(k, 3, MC_MAX_KEY_LEN), MC_INVALID_KEY, "control 0x%02x", c);
    }
    cr_expect_eq(mc_key_validate("a\x7f", 2, MC_MAX_KEY_LEN), MC_INVALID_KEY);
    cr_expect_eq(mc_key_validate("caf\xc3\xa9 \x80", 7, MC_MAX_KEY_LEN), MC_OK,
                 "UTF-8 and high bytes");
    cr_expect_eq(mc_key_validate(big, MC_MAX_KEY_LEN, MC_MAX_KEY_LEN), MC_OK);
    cr_expect_eq(mc_key_validate(big, MC_MAX_KEY_LEN + 1, MC_MAX_KEY_LEN), MC_INVALID_KEY);
    cr_expect_eq(mc_key_validate(NULL, 1, MC_MAX_KEY_LEN), MC_INVALID_KEY);
}
