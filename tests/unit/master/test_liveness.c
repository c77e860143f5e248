/* Segments and client liveness: mount/unmount rules, graceful unmount, ping,
 * client expiry dropping exactly that client's replicas, remount. */
#include "master_fixture.h"

Test(segments, mount_is_idempotent_and_checked)
{
    mc_master_t *m = fx_create();
    uint64_t e1 = 0, e2 = 0;
    char secret[MC_MASTER_SECRET_MAX];
    mc_master_segment_spec_t sp = {
        .id = seg_id(1), .client_id = client_id(1), .name = "a", .base = 4096, .size = 64 * MiB};
    cr_assert_eq(mc_master_mount_secret(m, &sp, 0, &e1, secret), MC_OK);
    sp.secret = secret; /* a remount proves the owner (test_identity.c) */
    cr_assert_eq(mc_master_mount(m, &sp, 0, &e2), MC_OK);
    cr_assert_eq(e1, e2);
    sp.size = 32 * MiB;
    cr_assert_eq(mc_master_mount(m, &sp, 0, NULL), MC_SEGMENT_ALREADY_EXISTS);
    sp.size = 16;
    sp.id = seg_id(2);
    cr_assert_eq(mc_master_mount(m, &sp, 0, NULL), MC_INVALID_PARAMS, "smaller than alignment");
    sp.size = MiB;
    sp.name = "";
    cr_assert_eq(mc_master_mount(m, &sp, 0, NULL), MC_INVALID_PARAMS);
    cr_assert_eq(mc_master_unmount(m, seg_id(9), client_id(1)), MC_SEGMENT_NOT_FOUND);
    cr_assert_eq(mc_master_unmount(m, seg_id(1), client_id(2)), MC_ILLEGAL_CLIENT);
    cr_assert_eq(mc_master_unmount(m, seg_id(1), client_id(1)), MC_OK);
    cr_assert_eq(mc_master_unmount(m, seg_id(1), client_id(1)), MC_SEGMENT_NOT_FOUND);
    sp.name = "a";
    sp.size = 64 * MiB;
    sp.id = seg_id(1);
    cr_assert_eq(mc_master_mount(m, &sp, 0, &e2), MC_OK);
    cr_assert_gt(e2, e1, "a new mount has a new epoch");
    mc_master_destroy(m);
}

Test(segments, list_and_info)
{
    mc_master_t *m = fx_create();
    fx_mount(m, 1, 64 * MiB, 1, 0);
    fx_mount(m, 2, 32 * MiB, 2, 0);
    fx_put(m, 1, "k", MiB, 0);
    mc_master_segment_info_t segs[4];
    size_t n = 0;
    cr_assert_eq(mc_master_segments_list(m, segs, 4, &n), MC_OK);
    cr_assert_eq(n, 2);
    cr_assert_eq(segs[0].used + segs[1].used, MiB);
    mc_master_segment_info_t info;
    cr_assert_eq(mc_master_segment_get(m, seg_id(2), &info), MC_OK);
    cr_assert_str_eq(info.name, "seg-2");
    cr_assert_str_eq(info.endpoint, "127.0.0.1:12345");
    cr_assert_str_eq(info.protocol, "tcp");
    cr_assert_eq(info.size, 32 * MiB);
    cr_assert_eq(info.state, MC_SEG_MOUNTED);
    cr_assert_eq(mc_master_segments_list(m, NULL, 0, &n), MC_OK);
    cr_assert_eq(n, 2);
    mc_master_destroy(m);
}

Test(segments, unmount_drops_replicas_at_once)
{
    mc_master_t *m = fx_create();
    fx_mount(m, 1, 64 * MiB, 1, 0);
    fx_mount(m, 2, 64 * MiB, 1, 0);
    mc_master_put_cfg_t two = fx_cfg(2);
    fx_put_cfg(m, 1, "both", MiB, &two, 0);
    const char *pref[] = {"seg-1"};
    mc_master_put_cfg_t one = {.replica_num = 1, .preferred_segments = pref, .n_preferred = 1};
    fx_put_cfg(m, 1, "only1", MiB, &one, 0);
    cr_assert_eq(fx_get(m, "only1", 1, NULL), MC_OK); /* leased: goes anyway */
    cr_assert_eq(mc_master_unmount(m, seg_id(1), client_id(1)), MC_OK);
    cr_assert(!fx_present(m, "only1"));
    mc_master_replicas_t r;
    cr_assert_eq(fx_get(m, "both", 2, &r), MC_OK);
    cr_assert_eq(r.n, 1);
    cr_assert(mc_uuid_equal(r.rep[0].segment_id, seg_id(2)));
    mc_master_stats_t st;
    mc_master_stats(m, &st);
    cr_assert_eq(st.capacity, 64 * MiB);
    cr_assert_eq(st.used, MiB);
    cr_assert_eq(st.objects, 1);
    mc_master_destroy(m);
}

Test(segments, graceful_unmount)
{
    mc_master_t *m = fx_create();
    fx_mount(m, 1, 64 * MiB, 1, 0);
    fx_put(m, 1, "k", MiB, 0);
    cr_assert_eq(mc_master_unmount_graceful(m, seg_id(1), client_id(2), 1000), MC_ILLEGAL_CLIENT);
    cr_assert_eq(mc_master_unmount_graceful(m, seg_id(1), client_id(1), 1000), MC_OK);
    cr_assert_eq(fx_put_start(m, 1, "new", MiB, 10, NULL), MC_NO_AVAILABLE_HANDLE,
                 "no new buffers on a draining segment");
    cr_assert_eq(fx_get(m, "k", 10, NULL), MC_OK, "still readable");
    mc_master_segment_info_t info;
    cr_assert_eq(mc_master_segment_get(m, seg_id(1), &info), MC_OK);
    cr_assert_eq(info.state, MC_SEG_DRAINING);
    mc_master_tick_report_t tr;
    cr_assert_eq(mc_master_tick(m, 999, &tr), MC_OK);
    cr_assert_eq(tr.unmounted_segments, 0);
    cr_assert_eq(mc_master_tick(m, 1000, &tr), MC_OK);
    cr_assert_eq(tr.unmounted_segments, 1);
    cr_assert_eq(fx_get(m, "k", 1000, NULL), MC_OBJECT_NOT_FOUND);
    cr_assert_eq(mc_master_segment_get(m, seg_id(1), &info), MC_SEGMENT_NOT_FOUND);
    /* an empty draining segment goes at the next tick */
    fx_mount(m, 2, 64 * MiB, 1, 2000);
    cr_assert_eq(mc_master_unmount_graceful(m, seg_id(2), client_id(1), 99999), MC_OK);
    cr_assert_eq(mc_master_tick(m, 2000, &tr), MC_OK);
    cr_assert_eq(tr.unmounted_segments, 1);
    mc_master_destroy(m);
}

Test(liveness, ping_known_and_unknown)
{
    mc_master_cfg_t c;
    mc_master_cfg_defaults(&c);
    c.view_version = 42;
    mc_master_t *m = fx_create_cfg(&c);
    mc_master_ping_status_t st;
    uint64_t vv = 0;
    cr_assert_eq(mc_master_ping(m, client_id(1), 0, &st, &vv), MC_OK);
    cr_assert_eq(st, MC_PING_NEED_REMOUNT);
    cr_assert_eq(vv, 42);
    fx_mount(m, 1, 64 * MiB, 1, 0);
    cr_assert_eq(mc_master_ping(m, client_id(1), 5, &st, &vv), MC_OK);
    cr_assert_eq(st, MC_PING_OK);
    mc_master_destroy(m);
}

static mc_master_t *create_ttl_10s(void)
{
    mc_master_cfg_t c;
    mc_master_cfg_defaults(&c);
    c.client_ttl_ms = 10000;
    return fx_create_cfg(&c);
}

Test(liveness, expiry_drops_exactly_that_clients_replicas)
{
    mc_master_t *m = create_ttl_10s();
    fx_mount(m, 1, 64 * MiB, 1, 0); /* client 1 */
    fx_mount(m, 2, 64 * MiB, 2, 0); /* client 2 */
    const char *p1[] = {"seg-1"}, *p2[] = {"seg-2"};
    mc_master_put_cfg_t on1 = {.replica_num = 1, .preferred_segments = p1, .n_preferred = 1};
    mc_master_put_cfg_t on2 = {.replica_num = 1, .preferred_segments = p2, .n_preferred = 1};
    mc_master_put_cfg_t both = fx_cfg(2);
    fx_put_cfg(m, 1, "on1", MiB, &on1, 0);
    fx_put_cfg(m, 2, "on2", MiB, &on2, 0);
    fx_put_cfg(m, 1, "both", MiB, &both, 0);
    mc_master_ping_status_t st;
    for (uint64_t t = 1000; t <= 12000; t += 1000)
        cr_assert_eq(mc_master_ping(m, client_id(2), t, &st, NULL), MC_OK);
    mc_master_tick_report_t tr;
    cr_assert_eq(mc_master_tick(m, 10000, &tr), MC_OK);
    cr_assert_eq(tr.expired_clients, 0, "exactly the TTL is not yet expired");
    cr_assert_eq(mc_master_tick(m, 10001, &tr), MC_OK);
    cr_assert_eq(tr.expired_clients, 1);
    cr_assert_eq(tr.unmounted_segments, 1);
    cr_assert(!fx_present(m, "on1"));
    cr_assert(fx_present(m, "on2"));
    mc_master_replicas_t r;
    cr_assert_eq(fx_get(m, "both", 10001, &r), MC_OK);
    cr_assert_eq(r.n, 1);
    cr_assert(mc_uuid_equal(r.rep[0].segment_id, seg_id(2)));
    cr_assert_eq(fx_used(m), 2 * MiB);
    /* the silent client comes back: told to remount, then remounts */
    cr_assert_eq(mc_master_ping(m, client_id(1), 12000, &st, NULL), MC_OK);
    cr_assert_eq(st, MC_PING_NEED_REMOUNT);
    fx_mount(m, 1, 64 * MiB, 1, 12000);
    cr_assert_eq(mc_master_ping(m, client_id(1), 12001, &st, NULL), MC_OK);
    cr_assert_eq(st, MC_PING_OK);
    mc_master_stats_t s;
    mc_master_stats(m, &s);
    cr_assert_eq(s.segments, 2);
    cr_assert_eq(s.clients, 2);
    cr_assert_eq(s.capacity, 128 * MiB);
    mc_master_destroy(m);
}

Test(liveness, expired_writer_cannot_finish)
{
    mc_master_t *m = create_ttl_10s();
    fx_mount(m, 1, 64 * MiB, 1, 0);
    cr_assert_eq(fx_put_start(m, 1, "k", MiB, 0, NULL), MC_OK);
    cr_assert_eq(mc_master_tick(m, 20000, NULL), MC_OK);
    cr_assert_eq(mc_master_put_end(m, client_id(1), "k", 1, false, 0, 20001), MC_OBJECT_NOT_FOUND);
    mc_master_stats_t s;
    mc_master_stats(m, &s);
    cr_assert_eq(s.objects, 0);
    cr_assert_eq(s.processing, 0);
    cr_assert_eq(s.used, 0);
    mc_master_destroy(m);
}
