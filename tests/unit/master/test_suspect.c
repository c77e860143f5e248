/* Suspected segments: a failed write stops new placements on the segment
 * until its owner pings again. */
#include "master_fixture.h"

static uint32_t replicas_of(mc_master_t *m, const char *key, uint32_t want, bool *on_2)
{
    mc_master_put_cfg_t cfg = fx_cfg(want);
    mc_master_replicas_t r;
    cr_assert_eq(mc_master_put_start(m, client_id(1), key, strlen(key), 4096, &cfg, 1, &r), MC_OK);
    *on_2 = false;
    for (uint32_t i = 0; i < r.n; i++)
        *on_2 |= mc_uuid_equal(r.rep[i].segment_id, seg_id(2));
    return r.n;
}

Test(suspect, no_placement_until_the_owner_pings)
{
    mc_master_t *m = fx_create();
    mc_master_segment_info_t info;
    mc_master_ping_status_t st;
    bool on_2;
    char key[32];

    fx_mount(m, 1, 4 * MiB, 1, 0);
    fx_mount(m, 2, 4 * MiB, 2, 0);
    cr_assert_eq(mc_master_segment_get(m, seg_id(2), &info), MC_OK);
    cr_assert_eq(mc_master_report_failure(m, seg_id(2), info.epoch + 1), MC_OK);
    cr_assert_eq(replicas_of(m, "older-mount", 2, &on_2), 2, "a report on an older mount: ignored");
    cr_assert_eq(mc_master_report_failure(m, seg_id(2), info.epoch), MC_OK);
    cr_assert_eq(mc_master_segment_get(m, seg_id(2), &info), MC_OK);
    cr_assert_eq(info.suspected, 1);
    cr_assert_eq(replicas_of(m, "two", 2, &on_2), 1, "the other segment only");
    cr_assert_not(on_2);
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        replicas_of(m, key, 1, &on_2);
        cr_assert_not(on_2, "%s placed on the suspected segment", key);
    }
    /* a ping of another client changes nothing; the owner's clears it */
    cr_assert_eq(mc_master_ping(m, client_id(1), 2, &st, NULL), MC_OK);
    cr_assert_eq(replicas_of(m, "still", 2, &on_2), 1);
    cr_assert_eq(mc_master_ping(m, client_id(2), 3, &st, NULL), MC_OK);
    cr_assert_eq(replicas_of(m, "back", 2, &on_2), 2);
    cr_assert(on_2);
    cr_assert_eq(mc_master_report_failure(m, seg_id(9), 0), MC_SEGMENT_NOT_FOUND);
    mc_master_destroy(m);
}
