/* Holds: bytes in flight are never freed or reused; release, TTL and client
 * expiry end a hold; remove / upsert of a held object; caps; threads. */
#include <pthread.h>

#include "master_fixture.h"

#define HOLD_MS 5000u

static mc_master_t *hold_master(uint32_t per_obj, uint32_t per_client, uint64_t client_ttl)
{
    mc_master_cfg_t c;
    mc_master_cfg_defaults(&c);
    c.lease_ttl_ms = LEASE_MS;
    c.client_ttl_ms = client_ttl;
    c.hold_ttl_ms = HOLD_MS;
    c.max_holds_per_object = per_obj;
    c.max_holds_per_client = per_client;
    return fx_create_cfg(&c);
}

static int hold1(mc_master_t *m, uint64_t c, const char *key, uint64_t now)
{
    mc_master_key_t k = {key, strlen(key)};
    mc_master_replicas_t r;
    int rc = MC_INTERNAL_ERROR;
    cr_assert_eq(mc_master_batch_get_hold(m, client_id(c), &k, 1, now, &r, &rc), MC_OK);
    if (rc == MC_OK)
        cr_assert_geq(r.n, 1);
    else
        cr_assert_eq(r.n, 0);
    return rc;
}

static int release1(mc_master_t *m, uint64_t c, const char *key, uint64_t now)
{
    mc_master_key_t k = {key, strlen(key)};
    int rc = MC_INTERNAL_ERROR;
    cr_assert_eq(mc_master_batch_release(m, client_id(c), &k, 1, now, &rc), MC_OK);
    return rc;
}

/* Four 1 MiB objects on a 4 MiB segment; "k0" held by client 1. */
static mc_master_t *four(void)
{
    mc_master_t *m = hold_master(1024, 65536, UINT64_MAX / 4);
    fx_mount(m, 1, 4 * MiB, 1, 0);
    fx_put(m, 1, "k0", MiB, 1);
    fx_put(m, 1, "k1", MiB, 2);
    fx_put(m, 1, "k2", MiB, 3);
    fx_put(m, 1, "k3", MiB, 4);
    cr_assert_eq(hold1(m, 1, "k0", 10), MC_OK);
    return m;
}

Test(holds, held_survives_eviction_storm_unheld_go)
{
    mc_master_t *m = four();
    /* lease ended at 10 + LEASE_MS; every pass, many times, and a full target */
    for (int i = 0; i < 20; i++)
        cr_assert_eq(mc_master_evict(m, 2000 + (uint64_t)i, 4 * MiB, NULL), MC_OK);
    cr_assert(fx_present(m, "k0"));
    cr_assert_not(fx_present(m, "k1"));
    cr_assert_not(fx_present(m, "k3"));
    cr_assert_eq(fx_used(m), MiB);
    /* while still leased and held: even the retire pass leaves it */
    cr_assert_eq(hold1(m, 1, "k0", 2100), MC_OK);
    cr_assert_eq(mc_master_evict(m, 2101, 4 * MiB, NULL), MC_OK);
    cr_assert(fx_present(m, "k0"));
    mc_master_destroy(m);
}

Test(holds, release_makes_evictable)
{
    mc_master_t *m = four();
    cr_assert_eq(release1(m, 1, "k0", 20), MC_OK);
    cr_assert_eq(release1(m, 1, "k0", 21), MC_LEASE_EXPIRED); /* nothing left */
    cr_assert_eq(release1(m, 1, "nope", 21), MC_OBJECT_NOT_FOUND);
    cr_assert_eq(mc_master_evict(m, 2000, 4 * MiB, NULL), MC_OK);
    cr_assert_not(fx_present(m, "k0"));
    cr_assert_eq(fx_used(m), 0);
    mc_master_stats_t st;
    mc_master_stats(m, &st);
    cr_assert_eq(st.holds_taken, 1);
    cr_assert_eq(st.holds_released, 1);
    mc_master_destroy(m);
}

Test(holds, counted_per_client)
{
    mc_master_t *m = four();
    fx_mount(m, 2, 4 * MiB, 2, 0);
    cr_assert_eq(hold1(m, 1, "k0", 11), MC_OK); /* client 1 twice */
    cr_assert_eq(hold1(m, 2, "k0", 12), MC_OK);
    cr_assert_eq(release1(m, 1, "k0", 13), MC_OK);
    cr_assert_eq(release1(m, 1, "k0", 13), MC_OK);
    cr_assert_eq(release1(m, 1, "k0", 13), MC_LEASE_EXPIRED);
    cr_assert_eq(mc_master_evict(m, 2000, 8 * MiB, NULL), MC_OK);
    cr_assert(fx_present(m, "k0")); /* client 2 still holds it */
    cr_assert_eq(release1(m, 2, "k0", 2001), MC_OK);
    cr_assert_eq(mc_master_evict(m, 2002, 8 * MiB, NULL), MC_OK);
    cr_assert_not(fx_present(m, "k0"));
    mc_master_destroy(m);
}

Test(holds, unknown_client_refused)
{
    mc_master_t *m = four();
    mc_master_key_t k = {"k1", 2};
    mc_master_replicas_t r;
    int rc;
    cr_assert_eq(mc_master_batch_get_hold(m, client_id(99), &k, 1, 10, &r, &rc),
                 MC_CLIENT_NOT_FOUND);
    mc_master_destroy(m);
}

Test(holds, ttl_bounds_a_vanished_holder)
{
    mc_master_t *m = four();
    mc_master_tick_report_t tr;
    cr_assert_eq(mc_master_tick(m, 10 + HOLD_MS - 1, &tr), MC_OK);
    cr_assert_eq(tr.expired_holds, 0);
    cr_assert_eq(mc_master_evict(m, 10 + HOLD_MS - 1, 4 * MiB, NULL), MC_OK);
    cr_assert(fx_present(m, "k0"));
    cr_assert_eq(mc_master_tick(m, 10 + HOLD_MS, &tr), MC_OK);
    cr_assert_eq(tr.expired_holds, 1);
    cr_assert_eq(release1(m, 1, "k0", 10 + HOLD_MS + 1), MC_LEASE_EXPIRED);
    cr_assert_eq(mc_master_evict(m, 10 + HOLD_MS + 1, 4 * MiB, NULL), MC_OK);
    cr_assert_not(fx_present(m, "k0"));
    mc_master_stats_t st;
    mc_master_stats(m, &st);
    cr_assert_eq(st.holds_expired, 1);
    mc_master_destroy(m);
}

Test(holds, client_expiry_drops_holds)
{
    mc_master_t *m = hold_master(1024, 65536, 1000);
    fx_mount(m, 1, 4 * MiB, 1, 0); /* the owner of the segment stays alive */
    fx_mount(m, 2, 4 * MiB, 2, 0); /* client 2 is the reader */
    mc_master_put_cfg_t pc = fx_cfg(1);
    const char *pref[] = {"seg-1"};
    pc.preferred_segments = pref;
    pc.n_preferred = 1;
    fx_put_cfg(m, 1, "k", MiB, &pc, 1);
    cr_assert_eq(hold1(m, 2, "k", 10), MC_OK);
    mc_master_ping_status_t ps;
    cr_assert_eq(mc_master_ping(m, client_id(1), 1500, &ps, NULL), MC_OK);
    mc_master_tick_report_t tr;
    cr_assert_eq(mc_master_tick(m, 1500, &tr), MC_OK); /* client 2 silent > 1 s */
    cr_assert_eq(tr.expired_clients, 1);
    cr_assert_eq(tr.expired_holds, 1);
    cr_assert(fx_present(m, "k"));
    cr_assert_eq(mc_master_evict(m, 1600, 8 * MiB, NULL), MC_OK);
    cr_assert_not(fx_present(m, "k"));
    mc_master_destroy(m);
}

Test(holds, remove_without_force_refused)
{
    mc_master_t *m = four();
    uint64_t n = 99;
    cr_assert_eq(mc_master_remove(m, "k0", 2, false, 2000), MC_OBJECT_HAS_LEASE);
    cr_assert_eq(mc_master_remove_all(m, false, 2000, &n), MC_OK);
    cr_assert_eq(n, 3); /* all but the held one */
    cr_assert(fx_present(m, "k0"));
    cr_assert_eq(mc_master_remove_by_regex(m, "^k", false, 2000, &n, NULL), MC_OK);
    cr_assert_eq(n, 0);
    cr_assert_eq(release1(m, 1, "k0", 2001), MC_OK);
    cr_assert_eq(mc_master_remove(m, "k0", 2, false, 2002), MC_OK);
    cr_assert_eq(fx_used(m), 0);
    mc_master_destroy(m);
}

Test(holds, force_remove_invisible_bytes_kept_until_hold_ends)
{
    mc_master_t *m = four();
    cr_assert_eq(mc_master_remove(m, "k0", 2, true, 2000), MC_OK);
    cr_assert_not(fx_present(m, "k0"));
    cr_assert_eq(release1(m, 1, "k0", 2001), MC_OBJECT_NOT_FOUND);
    mc_master_tick(m, 2002, NULL);
    mc_master_stats_t st;
    mc_master_stats(m, &st);
    cr_assert_eq(st.retired_bytes, MiB); /* still reserved for the holder */
    mc_master_tick(m, 10 + HOLD_MS, NULL);
    mc_master_stats(m, &st);
    cr_assert_eq(st.retired_bytes, 0);
    cr_assert_eq(fx_used(m), 3 * MiB);
    mc_master_destroy(m);
}

Test(holds, upsert_of_held_object_gets_new_buffers)
{
    mc_master_t *m = hold_master(1024, 65536, UINT64_MAX / 4);
    fx_mount(m, 1, 4 * MiB, 1, 0);
    fx_put(m, 1, "k", MiB, 1);
    mc_master_replicas_t r0, r1;
    cr_assert_eq(fx_get(m, "k", 2, &r0), MC_OK);
    cr_assert_eq(hold1(m, 1, "k", 3), MC_OK);
    mc_master_put_cfg_t pc = fx_cfg(1);
    /* lease over (3 + LEASE_MS), hold still running: not rewritten in place */
    cr_assert_eq(mc_master_upsert_start(m, client_id(1), "k", 1, MiB, &pc, 2000, &r1), MC_OK);
    cr_assert_neq(r1.rep[0].offset, r0.rep[0].offset);
    cr_assert_eq(mc_master_put_end(m, client_id(1), "k", 1, false, 0, 2001), MC_OK);
    cr_assert_eq(fx_used(m), 2 * MiB); /* old buffers wait for the hold */
    mc_master_tick(m, 3 + HOLD_MS, NULL);
    cr_assert_eq(fx_used(m), MiB);
    /* unheld and unleased: in place */
    cr_assert_eq(mc_master_upsert_start(m, client_id(1), "k", 1, MiB, &pc, 9000, &r0), MC_OK);
    cr_assert_eq(r0.rep[0].offset, r1.rep[0].offset);
    mc_master_destroy(m);
}

Test(holds, caps_per_object_and_per_client)
{
    mc_master_t *m = hold_master(2, 3, UINT64_MAX / 4);
    fx_mount(m, 1, 4 * MiB, 1, 0);
    fx_put(m, 1, "a", MiB, 1);
    fx_put(m, 1, "b", MiB, 1);
    cr_assert_eq(hold1(m, 1, "a", 2), MC_OK);
    cr_assert_eq(hold1(m, 1, "a", 2), MC_OK);
    cr_assert_eq(hold1(m, 1, "a", 2), MC_TASK_PENDING_LIMIT_EXCEEDED); /* object cap */
    cr_assert_eq(hold1(m, 1, "b", 2), MC_OK);
    cr_assert_eq(hold1(m, 1, "b", 2), MC_TASK_PENDING_LIMIT_EXCEEDED); /* client cap */
    cr_assert_eq(release1(m, 1, "a", 3), MC_OK);
    cr_assert_eq(hold1(m, 1, "b", 4), MC_OK); /* room again */
    mc_master_stats_t st;
    mc_master_stats(m, &st);
    cr_assert_eq(st.holds_refused, 2);
    /* a batch over the client cap: the first fit, the rest are refused */
    mc_master_key_t ks[3] = {{"a", 1}, {"b", 1}, {"a", 1}};
    mc_master_replicas_t r[3];
    int rc[3];
    cr_assert_eq(release1(m, 1, "a", 5), MC_OK);
    cr_assert_eq(release1(m, 1, "b", 5), MC_OK);
    cr_assert_eq(mc_master_batch_get_hold(m, client_id(1), ks, 3, 6, r, rc), MC_OK);
    cr_assert_eq(rc[0] + rc[1] + rc[2], MC_TASK_PENDING_LIMIT_EXCEEDED);
    mc_master_destroy(m);
}

typedef struct worker {
    mc_master_t *m;
    uint64_t client;
    int ok;
} worker_t;

static void *hold_loop(void *arg)
{
    worker_t *w = arg;
    mc_master_key_t ks[4] = {{"c0", 2}, {"c1", 2}, {"c2", 2}, {"c3", 2}};
    mc_master_replicas_t r[4];
    int rc[4], rr[4];
    for (int i = 0; i < 2000; i++) {
        if (mc_master_batch_get_hold(w->m, client_id(w->client), ks, 4, 10, r, rc) != MC_OK)
            return NULL;
        if (mc_master_batch_release(w->m, client_id(w->client), ks, 4, 11, rr) != MC_OK)
            return NULL;
        for (int k = 0; k < 4; k++)
            if (rc[k] != MC_OK || rr[k] != MC_OK)
                return NULL;
    }
    w->ok = 1;
    return NULL;
}

Test(holds, concurrent_hold_release)
{
    mc_master_t *m = hold_master(1024, 65536, UINT64_MAX / 4);
    fx_mount(m, 1, 8 * MiB, 1, 0);
    fx_mount(m, 2, 8 * MiB, 2, 0);
    for (int i = 0; i < 4; i++) {
        char k[8];
        snprintf(k, sizeof(k), "c%d", i);
        fx_put(m, 1, k, MiB, 1);
    }
    worker_t w[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker_t){.m = m, .client = (uint64_t)(i % 2) + 1};
        cr_assert_eq(pthread_create(&t[i], NULL, hold_loop, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_assert(w[i].ok);
    }
    mc_master_stats_t st;
    mc_master_stats(m, &st);
    cr_assert_eq(st.holds_taken, 4 * 2000 * 4);
    cr_assert_eq(st.holds_released, st.holds_taken);
    cr_assert_eq(mc_master_evict(m, 5000, 16 * MiB, NULL), MC_OK);
    cr_assert_eq(fx_used(m), 0); /* nothing left held */
    mc_master_destroy(m);
}
