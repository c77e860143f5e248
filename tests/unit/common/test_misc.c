/* crc32c, uuid, clocks, log */
#include "mc/crc32c.h"
#include "mc/errors.h"
#include "mc/log.h"
#include "mc/mtime.h"
#include "mc/uuid.h"

#include <criterion/criterion.h>
#include <uuid/uuid.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Test(crc32c, known_vectors)
{
    unsigned char zeros[32] = {0}, ones[32];
    memset(ones, 0xff, sizeof(ones));
    cr_expect_eq(mc_crc32c(0, "123456789", 9), 0xE3069283u);
    cr_expect_eq(mc_crc32c_sw(0, "123456789", 9), 0xE3069283u);
    /* RFC 3720 B.4 vectors */
    cr_expect_eq(mc_crc32c(0, zeros, 32), 0x8A9136AAu);
    cr_expect_eq(mc_crc32c(0, ones, 32), 0x62A8AB43u);
    cr_expect_eq(mc_crc32c(0, "", 0), 0u);
}

Test(crc32c, copy_and_combine_match_at_every_length_and_alignment)
{
    size_t n = (3u << 16) + 4099;
    unsigned char *src = malloc(n + 8), *dst = malloc(n + 8);
    cr_assert(src && dst);
    for (size_t i = 0; i < n + 8; i++)
        src[i] = (unsigned char)(i * 151 + 3);
    static const size_t lens[] = {
        0, 1, 7, 8, 9, 3071, 3072, 3073, 4096, 49151, 49152, 49153, (3u << 16) + 4099};
    for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++)
        for (size_t a = 0; a < 3; a++) {
            size_t len = lens[k];
            uint32_t want = mc_crc32c_sw(0x1234u, src + a, len);
            memset(dst, 0, n + 8);
            cr_expect_eq(mc_crc32c(0x1234u, src + a, len), want, "len %zu", len);
            cr_expect_eq(mc_crc32c_copy(0x1234u, dst + 1, src + a, len), want, "len %zu", len);
            cr_expect(memcmp(dst + 1, src + a, len) == 0, "copied, len %zu", len);
            cr_expect_eq(dst[0], 0);
            cr_expect_eq(dst[len + 1], 0, "nothing written past the end");
            size_t cut = len / 3;
            cr_expect_eq(mc_crc32c_combine(mc_crc32c(0, src, cut),
                                           mc_crc32c(0, src + cut, len - cut), len - cut),
                         mc_crc32c(0, src, len));
        }
    free(src);
    free(dst);
}

Test(crc32c, hw_matches_sw_and_streams)
{
    size_t n = 100003;
    unsigned char *buf = malloc(n);
    uint32_t whole, parts = 0;
    cr_assert_not_null(buf);
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)(i * 131 + 7);
    whole = mc_crc32c(0, buf, n);
    cr_expect_eq(whole, mc_crc32c_sw(0, buf, n));
    for (size_t off = 0; off < n;) {
        size_t len = (off * 7 + 13) % 4099 + 1;
        if (len > n - off)
            len = n - off;
        parts = mc_crc32c(parts, buf + off, len);
        off += len;
    }
    cr_expect_eq(parts, whole);
    /* unaligned start */
    cr_expect_eq(mc_crc32c(0, buf + 3, 1000), mc_crc32c_sw(0, buf + 3, 1000));
    free(buf);
}

Test(uuid, generate_format_parse)
{
    char s[MC_UUID_STR_LEN];
    mc_uuid_t a = mc_uuid_generate(), b = mc_uuid_generate(), c;
    cr_expect_not(mc_uuid_equal(a, b));
    cr_expect_not(mc_uuid_is_nil(a));
    mc_uuid_format(a, s);
    cr_expect_eq(strlen(s), 36);
    cr_expect_eq(s[8], '-');
    cr_expect_eq(mc_uuid_parse(s, &c), MC_OK);
    cr_expect(mc_uuid_equal(a, c));
    cr_expect_eq(mc_uuid_parse("not-a-uuid", &c), MC_INVALID_PARAMS);
    cr_expect_eq(mc_uuid_parse(NULL, &c), MC_INVALID_PARAMS);
    cr_expect_eq(mc_uuid_parse("00000000-0000-0000-0000-000000000001", &c), MC_OK);
    cr_expect_eq(c.hi, 0);
    cr_expect_eq(c.lo, 1);
}

Test(mtime, monotonic)
{
    uint64_t a = mc_now_ns(), b;
    mc_sleep_ms(5);
    b = mc_now_ns();
    cr_expect_geq(b - a, 5000000u);
    cr_expect_lt(b - a, 2000000000u);
    cr_expect_gt(mc_wall_ms(), 1600000000000ull);
    cr_expect_leq(mc_now_ms(), mc_now_ns() / 1000000u);
}

Test(log, levels_and_sink)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_not_null(f);
    cr_expect_eq(mc_log_level_parse("debug"), MC_LOG_DEBUG);
    cr_expect_eq(mc_log_level_parse("WARNING"), MC_LOG_WARN);
    cr_expect_eq(mc_log_level_parse("loud"), -1);
    mc_log_set_sink(f);
    mc_log_set_level(MC_LOG_WARN);
    MC_INFO("hidden %d", 1);
    MC_WARN("shown %d", 2);
    MC_ERROR("also %s", "shown");
    mc_log_set_sink(NULL);
    fclose(f);
    cr_expect_null(strstr(buf, "hidden"));
    cr_expect_not_null(strstr(buf, "WARN  test_misc.c:"));
    cr_expect_not_null(strstr(buf, "shown 2\n"));
    cr_expect_not_null(strstr(buf, "also shown\n"));
    cr_expect_eq(mc_log_get_level(), MC_LOG_WARN);
    mc_log_set_level(MC_LOG_INFO);
    free(buf);
}

Test(uuid, format_matches_libuuid)
{
    for (int i = 0; i < 1000; i++) {
        mc_uuid_t a = mc_uuid_generate();
        char ours[MC_UUID_STR_LEN], theirs[MC_UUID_STR_LEN];
        uuid_t raw;
        cr_assert_eq(uuid_parse(mc_uuid_format(a, ours), raw), 0);
        uuid_unparse_lower(raw, theirs);
        cr_expect_str_eq(ours, theirs);
    }
}
