/* Mount bounds: a segment's size within --max_segment_size, a range that does
 * not wrap, a name without control characters. */
#include "master_fixture.h"

static int mount(mc_master_t *m, const char *name, uint64_t base, uint64_t size)
{
    static uint64_t n = 100;
    mc_master_segment_spec_t sp = {.id = seg_id(n++),
                                   .client_id = client_id(1),
                                   .name = name,
                                   .endpoint = "127.0.0.1:1",
                                   .protocol = "tcp",
                                   .base = base,
                                   .size = size};
    return mc_master_mount(m, &sp, 0, NULL);
}

Test(mount_bounds, size_range_and_name)
{
    mc_master_cfg_t c;
    mc_master_cfg_defaults(&c);
    c.client_ttl_ms = UINT64_MAX / 4;
    c.max_segment_size = 64 * MiB;
    mc_master_t *m = fx_create_cfg(&c);
    cr_assert_eq(mount(m, "ok", 1ull << 40, 64 * MiB), MC_OK);
    cr_assert_eq(mount(m, "huge", 1ull << 40, 1ull << 53), MC_INVALID_PARAMS);
    cr_assert_eq(mount(m, "over", 1ull << 40, 64 * MiB + 4096), MC_INVALID_PARAMS);
    cr_assert_eq(mount(m, "wraps", UINT64_MAX - MiB, 2 * MiB), MC_INVALID_PARAMS);
    cr_assert_eq(mount(m, "forged\nline", 2ull << 40, MiB), MC_INVALID_PARAMS);
    cr_assert_eq(mount(m, "esc\x1b", 3ull << 40, MiB), MC_INVALID_PARAMS);
    mc_master_stats_t st;
    mc_master_stats(m, &st);
    cr_assert_eq(st.capacity, 64 * MiB, "only the good mount counts");
    mc_master_destroy(m);
}
