/* uuid, clocks, log (crc32c: test_crc32c.c) */
#include "mc/errors.h"
#include "mc/log.h"
#include "mc/mtime.h"
#include "mc/uuid.h"

#include <criterion/criterion.h>
#include <uuid/uuid.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
