/* batch_replica_clear: one segment or all, owner only, never an object being
 * read or written, and the space comes back at once. */
#include "master_fixture.h"

static int clear1(mc_master_t *m, uint64_t c, const char *key, const char *seg, uint64_t now)
{
    mc_master_key_t k = {key, strlen(key)};
    int rc = MC_INTERNAL_ERROR;
    cr_assert_eq(
        mc_master_batch_replica_clear(m, client_id(c), &k, 1, seg, seg ? strlen(seg) : 0, now, &rc),
        MC_OK);
    return rc;
}

/* Two segments of 4 MiB, "two" with a replica on each, "one" on seg-1. */
static mc_master_t *two_segments(void)
{
    mc_master_t *m = fx_create();
    mc_master_put_cfg_t two = fx_cfg(2), one = fx_cfg(1);
    fx_mount(m, 1, 4 * MiB, 1, 0);
    fx_mount(m, 2, 4 * MiB, 2, 0);
    fx_put_cfg(m, 1, "two", MiB, &two, 1);
    static const char *const seg1[] = {"seg-1"};
    one.preferred_segments = seg1;
    one.n_preferred = 1;
    fx_put_cfg(m, 1, "one", MiB, &one, 1);
    return m;
}

Test(clear, one_segment_keeps_the_other_replica)
{
    mc_master_t *m = two_segments();
    mc_master_replicas_t r;
    cr_assert_eq(fx_used(m), 3 * MiB);
    cr_assert_eq(clear1(m, 1, "two", "seg-2", 2), MC_OK);
    cr_assert_eq(fx_used(m), 2 * MiB, "the buffer is free at once");
    cr_assert_eq(fx_get(m, "two", 3, &r), MC_OK);
    cr_assert_eq(r.n, 1);
    cr_assert(mc_uuid_equal(r.rep[0].segment_id, seg_id(1)));
    /* nothing left there now; a lease (the get above) blocks the next one */
    cr_assert_eq(clear1(m, 1, "two", "seg-2", 3 + 2 * LEASE_MS), MC_REPLICA_NOT_FOUND);
    cr_assert_eq(clear1(m, 1, "two", "seg-1", 4), MC_OBJECT_HAS_LEASE);
    cr_assert_eq(clear1(m, 1, "two", "seg-1", 4 + 2 * LEASE_MS), MC_OK);
    cr_assert_not(fx_present(m, "two"), "its last replica went: the object goes");
    cr_assert_eq(fx_used(m), MiB);
    mc_master_destroy(m);
}

Test(clear, all_segments_removes_the_object)
{
    mc_master_t *m = two_segments();
    cr_assert_eq(clear1(m, 1, "two", NULL, 2), MC_OK);
    cr_assert_not(fx_present(m, "two"));
    cr_assert_eq(clear1(m, 1, "one", "seg-2", 2), MC_REPLICA_NOT_FOUND);
    cr_assert(fx_present(m, "one"));
    cr_assert_eq(fx_used(m), MiB);
    mc_master_destroy(m);
}

Test(clear, only_the_owner_and_only_complete_objects)
{
    mc_master_t *m = two_segments();
    cr_assert_eq(clear1(m, 2, "two", NULL, 2), MC_ILLEGAL_CLIENT);
    cr_assert_eq(clear1(m, 1, "nope", NULL, 2), MC_OBJECT_NOT_FOUND);
    cr_assert_eq(fx_put_start(m, 1, "busy", MiB, 2, NULL), MC_OK);
    cr_assert_eq(clear1(m, 1, "busy", NULL, 3), MC_REPLICA_IS_NOT_READY);
    cr_assert(fx_present(m, "two") && fx_present(m, "busy"));
    mc_master_destroy(m);
}

Test(clear, a_held_object_is_not_touched)
{
    mc_master_t *m = two_segments();
    mc_master_key_t k = {"two", 3};
    mc_master_replicas_t r;
    int rc = MC_INTERNAL_ERROR;
    cr_assert_eq(mc_master_batch_get_hold(m, client_id(1), &k, 1, 2, &r, &rc), MC_OK);
    cr_assert_eq(rc, MC_OK);
    /* the lease is over, the hold is not */
    cr_assert_eq(clear1(m, 1, "two", "seg-1", 2 + 2 * LEASE_MS), MC_OBJECT_HAS_LEASE);
    cr_assert_eq(mc_master_batch_release(m, client_id(1), &k, 1, 3 + 2 * LEASE_MS, &rc), MC_OK);
    cr_assert_eq(clear1(m, 1, "two", "seg-1", 4 + 2 * LEASE_MS), MC_OK);
    mc_master_destroy(m);
}

Test(clear, bad_arguments)
{
    mc_master_t *m = two_segments();
    mc_master_key_t k[2] = {{"two", 3}, {"", 0}};
    int rc[2];
    cr_assert_eq(mc_master_batch_replica_clear(m, client_id(1), k, 2, "", 0, 2, rc),
                 MC_INVALID_PARAMS);
    cr_assert_eq(mc_master_batch_replica_clear(m, client_id(1), k, 2, NULL, 0, 2, rc), MC_OK);
    cr_assert_eq(rc[0], MC_OK);
    cr_assert_eq(rc[1], MC_INVALID_KEY);
    mc_master_destroy(m);
}

/* drop_bad_replica: "bad" has a replica on seg-1 and seg-2 and checksum 77. */
static mc_master_t *bad_pair(void)
{
    mc_master_t *m = fx_create();
    mc_master_put_cfg_t two = fx_cfg(2);

    fx_mount(m, 1, 4 * MiB, 1, 0);
    fx_mount(m, 2, 4 * MiB, 2, 0);
    cr_assert_eq(mc_master_put_start(m, client_id(1), "bad", 3, MiB, &two, 1, NULL), MC_OK);
    cr_assert_eq(mc_master_put_end(m, client_id(1), "bad", 3, true, 77, 1), MC_OK);
    return m;
}

static int drop_bad(mc_master_t *m, const char *key, uint32_t checksum, const char *seg,
                    uint64_t now)
{
    mc_master_key_t k = {key, strlen(key)};
    int rc = MC_INTERNAL_ERROR;

    cr_assert_eq(mc_master_batch_drop_bad_replica(m, &k, &checksum, 1, seg, strlen(seg), now, &rc),
                 MC_OK);
    return rc;
}

Test(clear, a_bad_replica_is_dropped_and_readers_get_the_other)
{
    mc_master_t *m = bad_pair();
    mc_master_replicas_t r;

    cr_assert_eq(fx_get(m, "bad", 2, &r), MC_OK); /* a reader, with a lease */
    cr_assert_eq(r.n, 2);
    cr_assert_eq(drop_bad(m, "bad", 78, "seg-1", 3), MC_INVALID_REPLICA,
                 "a report about other bytes changes nothing");
    cr_assert_eq(drop_bad(m, "bad", 77, "seg-1", 3), MC_OK, "leased: dropped all the same");
    cr_assert_eq(fx_get(m, "bad", 4, &r), MC_OK);
    cr_assert_eq(r.n, 1);
    cr_assert(mc_uuid_equal(r.rep[0].segment_id, seg_id(2)), "only the good replica is handed out");
    cr_assert_eq(fx_used(m), 2 * MiB, "the bad buffer waits for the lease before it is reused");
    cr_assert_eq(drop_bad(m, "bad", 77, "seg-1", 5), MC_REPLICA_NOT_FOUND);
    cr_assert_eq(drop_bad(m, "nope", 77, "seg-1", 5), MC_OBJECT_NOT_FOUND);
    cr_assert_eq(drop_bad(m, "bad", 77, "seg-2", 6), MC_OK);
    cr_assert_not(fx_present(m, "bad"), "no good replica left: the object is gone (a miss)");
    mc_master_destroy(m);
}

Test(clear, a_bad_replica_of_an_object_in_flight_or_without_checksum_stays)
{
    mc_master_t *m = bad_pair();

    cr_assert_eq(fx_put_start(m, 1, "busy", MiB, 2, NULL), MC_OK);
    cr_assert_eq(drop_bad(m, "busy", 0, "seg-1", 3), MC_REPLICA_IS_NOT_READY);
    fx_put(m, 1, "plain", MiB, 3);
    cr_assert_eq(drop_bad(m, "plain", 0, "seg-1", 4), MC_INVALID_REPLICA);
    cr_assert(fx_present(m, "busy") && fx_present(m, "plain"));
    mc_master_destroy(m);
}
