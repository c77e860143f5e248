/* Eviction: LRU order, soft pins last, hard pins, holds, leases (a soft
 * preference; bare leases retired), in-flight puts, the minimum residency,
 * existence checks not starving eviction, watermark policy. */
#include "master_fixture.h"

static void key_of(char *buf, size_t n, int i)
{
    snprintf(buf, n, "key-%02d", i);
}

/* Ten 1 MiB objects used at times 1..10 on a 10 MiB segment. */
static mc_master_t *ten_objects(mc_master_cfg_t *cfg)
{
    mc_master_t *m = fx_create_cfg(cfg);
    fx_mount(m, 1, 10 * MiB, 1, 0);
    for (int i = 0; i < 10; i++) {
        char k[16];
        key_of(k, sizeof(k), i);
        fx_put(m, 1, k, MiB, (uint64_t)i + 1);
    }
    return m;
}

static mc_master_cfg_t base_cfg(void)
{
    mc_master_cfg_t c;
    mc_master_cfg_defaults(&c);
    c.lease_ttl_ms = LEASE_MS;
    c.client_ttl_ms = UINT64_MAX / 4;
    return c;
}

Test(evict, lru_order)
{
    mc_master_cfg_t c = base_cfg();
    mc_master_t *m = ten_objects(&c);
    /* reads make key-00 and key-01 the most recently used */
    cr_assert_eq(fx_get(m, "key-00", 20, NULL), MC_OK);
    cr_assert_eq(fx_get(m, "key-01", 21, NULL), MC_OK);
    mc_master_evict_report_t rep;
    cr_assert_eq(mc_master_evict(m, 5000, 3 * MiB, &rep), MC_OK);
    cr_assert_eq(rep.freed_objects, 3);
    cr_assert_eq(rep.freed_bytes, 3 * MiB);
    cr_assert(!fx_present(m, "key-02"));
    cr_assert(!fx_present(m, "key-03"));
    cr_assert(!fx_present(m, "key-04"));
    cr_assert(fx_present(m, "key-05"));
    cr_assert(fx_present(m, "key-00"));
    cr_assert(fx_present(m, "key-01"));
    cr_assert_eq(fx_used(m), 7 * MiB);
    mc_master_destroy(m);
}

Test(evict, policy_target_and_watermark)
{
    mc_master_cfg_t c = base_cfg();
    c.eviction_ratio = 0.2;
    c.eviction_high_watermark = 0.9;
    mc_master_t *m = ten_objects(&c);
    cr_assert(mc_master_evict_wanted(m), "100%% used is over the 90%% watermark");
    mc_master_evict_report_t rep;
    cr_assert_eq(mc_master_evict(m, 5000, 0, &rep), MC_OK);
    cr_assert_eq(rep.target_bytes, 2 * MiB);
    cr_assert_eq(rep.freed_objects, 2);
    cr_assert(!mc_master_evict_wanted(m));
    cr_assert(!fx_present(m, "key-00"));
    cr_assert(!fx_present(m, "key-01"));
    mc_master_destroy(m);
}

Test(evict, soft_pinned_only_in_last_pass)
{
    mc_master_cfg_t c = base_cfg();
    mc_master_t *m = fx_create_cfg(&c);
    fx_mount(m, 1, 10 * MiB, 1, 0);
    mc_master_put_cfg_t soft = {.replica_num = 1, .soft_pin = true};
    fx_put_cfg(m, 1, "soft-old", MiB, &soft, 1);
    fx_put(m, 1, "plain-a", MiB, 2);
    fx_put(m, 1, "plain-b", MiB, 3);
    fx_put_cfg(m, 1, "soft-new", MiB, &soft, 4);
    mc_master_evict_report_t rep;
    cr_assert_eq(mc_master_evict(m, 5000, 2 * MiB, &rep), MC_OK);
    cr_assert_eq(rep.soft_pinned_objects, 0);
    cr_assert(!fx_present(m, "plain-a"));
    cr_assert(!fx_present(m, "plain-b"));
    cr_assert(fx_present(m, "soft-old"));
    /* nothing unpinned left: the last pass takes soft pins, oldest first */
    cr_assert_eq(mc_master_evict(m, 5000, MiB, &rep), MC_OK);
    cr_assert_eq(rep.soft_pinned_objects, 1);
    cr_assert(!fx_present(m, "soft-old"));
    cr_assert(fx_present(m, "soft-new"));
    mc_master_destroy(m);
}

Test(evict, soft_pins_kept_when_not_allowed_and_expire)
{
    mc_master_cfg_t c = base_cfg();
    c.allow_evict_soft_pinned = false;
    c.soft_pin_ttl_ms = 60000;
    mc_master_t *m = fx_create_cfg(&c);
    fx_mount(m, 1, 10 * MiB, 1, 0);
    mc_master_put_cfg_t soft = {.replica_num = 1, .soft_pin = true};
    fx_put_cfg(m, 1, "soft", MiB, &soft, 1);
    mc_master_evict_report_t rep;
    cr_assert_eq(mc_master_evict(m, 5000, 10 * MiB, &rep), MC_OK);
    cr_assert_eq(rep.freed_objects + rep.retired_objects, 0);
    cr_assert(fx_present(m, "soft"));
    /* a soft pin is a TTL: once it lapses the object is an ordinary one */
    cr_assert_eq(mc_master_evict(m, 60001, MiB, &rep), MC_OK);
    cr_assert_eq(rep.freed_objects, 1);
    mc_master_destroy(m);
}

Test(evict, hard_pinned_never)
{
    mc_master_cfg_t c = base_cfg();
    mc_master_t *m = fx_create_cfg(&c);
    fx_mount(m, 1, 10 * MiB, 1, 0);
    mc_master_put_cfg_t hard = {.replica_num = 1, .hard_pin = true};
    fx_put_cfg(m, 1, "hard", MiB, &hard, 1);
    fx_put(m, 1, "plain", MiB, 2);
    mc_master_evict_report_t rep;
    cr_assert_eq(mc_master_evict(m, 5000, 10 * MiB, &rep), MC_OK);
    cr_assert_eq(rep.freed_objects, 1);
    cr_assert(fx_present(m, "hard"));
    cr_assert(!fx_present(m, "plain"));
    cr_assert_eq(mc_master_remove(m, "hard", 4, false, 5000), MC_OK, "explicit remove works");
    mc_master_destroy(m);
}

Test(evict, never_frees_leased_or_in_flight)
{
    mc_master_cfg_t c = base_cfg();
    mc_master_t *m = fx_create_cfg(&c);
    fx_mount(m, 1, 10 * MiB, 1, 0);
    cr_assert_eq(fx_put_start(m, 1, "inflight", MiB, 1, NULL), MC_OK);
    fx_put(m, 1, "leased", MiB, 2);
    fx_put(m, 1, "plain", MiB, 3);
    mc_master_replicas_t r;
    cr_assert_eq(fx_get(m, "leased", 4000, &r), MC_OK); /* lease until 5000 */
    uint64_t leased_off = r.rep[0].offset;
    mc_master_evict_report_t rep;
    cr_assert_eq(mc_master_evict(m, 4500, MiB, &rep), MC_OK);
    cr_assert_eq(rep.freed_objects, 1);
    cr_assert_eq(rep.retired_objects, 0, "enough was freed without touching leases");
    cr_assert(!fx_present(m, "plain"));
    cr_assert(fx_present(m, "leased"));
    /* more than is free: the object was leased to a get without a hold, whose
     * reader copies under the lease alone, so it is retired, never freed
     * under that reader */
    cr_assert_eq(mc_master_evict(m, 4500, 10 * MiB, &rep), MC_OK);
    cr_assert_eq(rep.freed_objects, 0);
    cr_assert_eq(rep.retired_objects, 1);
    cr_assert(!fx_present(m, "leased"));
    cr_assert(fx_present(m, "inflight"));
    cr_assert_eq(fx_used(m), 2 * MiB, "the leased buffer is still allocated");
    /* nothing can land on the leased buffer before the lease ends */
    for (int i = 0; i < 8; i++) {
        char k[16];
        key_of(k, sizeof(k), i);
        cr_assert_eq(fx_put_start(m, 2, k, MiB, 4600, &r), MC_OK);
        cr_assert_neq(r.rep[0].offset, leased_off);
    }
    cr_assert_eq(fx_put_start(m, 2, "full", MiB, 4600, NULL), MC_NO_AVAILABLE_HANDLE);
    cr_assert_eq(mc_master_tick(m, 5000, NULL), MC_OK);
    cr_assert_eq(fx_put_start(m, 2, "full", MiB, 5000, &r), MC_OK);
    cr_assert_eq(r.rep[0].offset, leased_off);
    cr_assert_eq(mc_master_put_end(m, client_id(1), "inflight", 8, false, 0, 5000), MC_OK);
    mc_master_destroy(m);
}

/* Existence checks lease but are not uses: an object only ever checked for
 * existence ages out, and even if everything is leased eviction progresses. */
Test(evict, existence_checks_do_not_starve_eviction)
{
    mc_master_cfg_t c = base_cfg();
    mc_master_t *m = ten_objects(&c);
    for (uint64_t t = 100; t < 20000; t += 500) /* engines poll batch_is_exist */
        for (int i = 0; i < 10; i++) {
            char k[16];
            key_of(k, sizeof(k), i);
            cr_assert(fx_exists(m, k, t));
        }
    cr_assert_eq(fx_get(m, "key-00", 19600, NULL), MC_OK); /* the one real use */
    mc_master_evict_report_t rep;
    cr_assert_eq(mc_master_evict(m, 19700, MiB, &rep), MC_OK);
    cr_assert_eq(rep.freed_objects, 1, "every object is leased: free the coldest");
    cr_assert_eq(rep.leased_objects, 1);
    cr_assert_eq(rep.retired_objects, 0, "an exist-lease reads no bytes");
    cr_assert(!fx_present(m, "key-01"));
    cr_assert(fx_present(m, "key-00"));
    cr_assert(!fx_exists(m, "key-01", 19700));
    /* and a put into the full pool makes its own room the same way */
    cr_assert_eq(fx_put_start(m, 2, "new", MiB, 19700, NULL), MC_OK);
    cr_assert_eq(fx_put_start(m, 2, "newer", MiB, 19700, NULL), MC_OK);
    cr_assert(!fx_present(m, "key-02"));
    cr_assert(fx_present(m, "key-00"));
    mc_master_destroy(m);
}

Test(evict, pending_retired_bytes_count_toward_target)
{
    mc_master_cfg_t c = base_cfg();
    c.eviction_ratio = 0.1;
    mc_master_t *m = ten_objects(&c);
    for (int i = 0; i < 10; i++) {
        char k[16];
        key_of(k, sizeof(k), i);
        cr_assert_eq(fx_get(m, k, 1000, NULL), MC_OK); /* bare leases */
    }
    mc_master_evict_report_t rep;
    cr_assert_eq(mc_master_evict(m, 1100, 0, &rep), MC_OK);
    cr_assert_eq(rep.retired_objects, 1);
    cr_assert_eq(mc_master_evict(m, 1200, 0, &rep), MC_OK);
    cr_assert_eq(rep.target_bytes, 0, "a retired buffer already covers the target");
    cr_assert_eq(rep.retired_objects, 0);
    mc_master_destroy(m);
}

Test(evict, eviction_keeps_multi_shard_lru_order)
{
    mc_master_cfg_t c = base_cfg();
    mc_master_t *m = fx_create_cfg(&c);
    fx_mount(m, 1, 1000 * MiB, 1, 0);
    for (int i = 0; i < 1000; i++) {
        char k[16];
        snprintf(k, sizeof(k), "obj-%04d", i);
        fx_put(m, 1, k, MiB, (uint64_t)i + 1);
    }
    mc_master_evict_report_t rep;
    cr_assert_eq(mc_master_evict(m, 100000, 300 * MiB, &rep), MC_OK);
    cr_assert_eq(rep.freed_objects, 300);
    for (int i = 0; i < 1000; i++) {
        char k[16];
        snprintf(k, sizeof(k), "obj-%04d", i);
        cr_assert_eq(fx_present(m, k), i >= 300, "%s", k);
    }
    mc_master_destroy(m);
}

Test(evict, exist_is_not_a_use)
{
    mc_master_cfg_t c = base_cfg();
    mc_master_t *m = fx_create_cfg(&c);
    fx_mount(m, 1, 10 * MiB, 1, 0);
    fx_put(m, 1, "checked", MiB, 1);
    fx_put(m, 1, "read", MiB, 2);
    fx_put(m, 1, "newer", MiB, 3);
    cr_assert(fx_exists(m, "checked", 10));
    cr_assert_eq(fx_get(m, "read", 10, NULL), MC_OK);
    mc_master_evict_report_t rep;
    cr_assert_eq(mc_master_evict(m, 5000, MiB, &rep), MC_OK);
    cr_assert_eq(rep.freed_objects, 1);
    cr_assert(!fx_present(m, "checked"), "exist did not make it recent");
    cr_assert(fx_present(m, "read"));
    cr_assert(fx_present(m, "newer"));
    mc_master_destroy(m);
}

/* ---- leases are a soft preference, holds and residency are hard ---- */

#define READER 9u /* a store service whose segment (9) is too small for any object here */

/* A finished read by a store service that copied under a hold: the lease
 * stays, the hold is gone. */
static void read_done(mc_master_t *m, uint64_t c, const char *key, uint64_t now)
{
    mc_master_key_t k = {key, strlen(key)};
    mc_master_replicas_t r;
    int rc = MC_INTERNAL_ERROR;
    cr_assert_eq(mc_master_batch_get_hold(m, client_id(c), &k, 1, now, &r, &rc), MC_OK);
    cr_assert_eq(rc, MC_OK, "%s", key);
    cr_assert_eq(mc_master_batch_release(m, client_id(c), &k, 1, now, &rc), MC_OK);
    cr_assert_eq(rc, MC_OK, "%s", key);
}

static void hold_only(mc_master_t *m, uint64_t c, const char *key, uint64_t now)
{
    mc_master_key_t k = {key, strlen(key)};
    mc_master_replicas_t r;
    int rc = MC_INTERNAL_ERROR;
    cr_assert_eq(mc_master_batch_get_hold(m, client_id(c), &k, 1, now, &r, &rc), MC_OK);
    cr_assert_eq(rc, MC_OK, "%s", key);
}

static mc_master_t *evict_master(void)
{
    mc_master_cfg_t c = base_cfg();
    c.hold_ttl_ms = 60000;
    mc_master_t *m = fx_create_cfg(&c);
    fx_mount(m, 9, 64 * 1024, READER, 0); /* registers the reader */
    return m;
}

Test(evict, leased_objects_are_freed_before_a_put_fails)
{
    mc_master_t *m = evict_master();
    fx_mount(m, 1, 10 * MiB, 1, 0);
    for (int i = 0; i < 10; i++) {
        char k[16];
        key_of(k, sizeof(k), i);
        fx_put(m, 1, k, MiB, (uint64_t)i + 1);
        read_done(m, READER, k, 400 + (uint64_t)i); /* leased until 1400.. */
    }
    mc_master_evict_report_t rep;
    cr_assert_eq(mc_master_evict(m, 500, 0, &rep), MC_OK);
    cr_assert_eq(rep.freed_objects, 1, "a finished read needs no memory");
    cr_assert_eq(rep.leased_objects, 1);
    cr_assert_eq(rep.retired_objects, 0);
    cr_assert(!fx_present(m, "key-00"), "the least recently read goes");
    cr_assert_eq(fx_used(m), 9 * MiB, "freed at once, not at the lease end");
    /* a put that finds the pool full evicts for itself before it fails */
    mc_master_stats_t st0, st1;
    mc_master_stats(m, &st0);
    cr_assert_eq(fx_put_start(m, 2, "new", MiB, 500, NULL), MC_OK);
    cr_assert_eq(fx_put_start(m, 2, "newer", MiB, 500, NULL), MC_OK);
    cr_assert(!fx_present(m, "key-01"));
    mc_master_stats(m, &st1);
    cr_assert_eq(st1.evicted_objects - st0.evicted_objects, 1);
    cr_assert_eq(st1.retired_bytes, 0);
    mc_master_destroy(m);
}

Test(evict, held_and_in_flight_never_leased_unheld_yes)
{
    mc_master_t *m = evict_master();
    fx_mount(m, 1, 10 * MiB, 1, 0);
    cr_assert_eq(fx_put_start(m, 1, "inflight", MiB, 1, NULL), MC_OK);
    fx_put(m, 1, "held", MiB, 2);
    fx_put(m, 1, "leased", MiB, 3);
    fx_put(m, 1, "plain", MiB, 4);
    hold_only(m, READER, "held", 400);
    read_done(m, READER, "leased", 400);
    mc_master_evict_report_t rep;
    cr_assert_eq(mc_master_evict(m, 500, 10 * MiB, &rep), MC_OK);
    cr_assert_eq(rep.freed_objects, 2);
    cr_assert_eq(rep.retired_objects, 0);
    cr_assert(!fx_present(m, "plain"));
    cr_assert(!fx_present(m, "leased"));
    cr_assert(fx_present(m, "held"), "a hold is hard");
    cr_assert(fx_present(m, "inflight"));
    cr_assert_eq(fx_used(m), 2 * MiB);
    /* every pass, every later run: still there until the hold ends */
    cr_assert_eq(mc_master_evict(m, 30000, 10 * MiB, &rep), MC_OK);
    cr_assert_eq(rep.freed_objects + rep.retired_objects, 0);
    cr_assert(fx_present(m, "held"));
    mc_master_key_t k = {"held", 4};
    int rc;
    cr_assert_eq(mc_master_batch_release(m, client_id(READER), &k, 1, 30000, &rc), MC_OK);
    cr_assert_eq(mc_master_evict(m, 30000, 10 * MiB, &rep), MC_OK);
    cr_assert_eq(rep.freed_objects, 1);
    cr_assert(!fx_present(m, "held"));
    cr_assert(fx_present(m, "inflight"));
    mc_master_destroy(m);
}

Test(evict, objects_younger_than_the_residency_never)
{
    mc_master_cfg_t c = base_cfg();
    c.min_residency_ms = 300;
    mc_master_t *m = fx_create_cfg(&c);
    fx_mount(m, 1, 10 * MiB, 1, 0);
    fx_put(m, 1, "old", MiB, 1);
    fx_put(m, 1, "young", MiB, 1000);
    cr_assert_eq(fx_exists(m, "young", 1001), true); /* leased, unused: still protected */
    mc_master_evict_report_t rep;
    cr_assert_eq(mc_master_evict(m, 1299, 10 * MiB, &rep), MC_OK);
    cr_assert_eq(rep.freed_objects, 1);
    cr_assert(!fx_present(m, "old"));
    cr_assert(fx_present(m, "young"), "complete for 299 ms < 300 ms");
    cr_assert_eq(mc_master_evict(m, 1300, 10 * MiB, &rep), MC_OK);
    cr_assert_eq(rep.freed_objects, 1);
    cr_assert(!fx_present(m, "young"));
    mc_master_destroy(m);
}

Test(evict, residency_counts_from_put_end_and_is_configurable)
{
    mc_master_cfg_t c = base_cfg();
    c.min_residency_ms = 0;
    mc_master_t *m = fx_create_cfg(&c);
    fx_mount(m, 1, 10 * MiB, 1, 0);
    fx_put(m, 1, "fresh", MiB, 1000);
    mc_master_evict_report_t rep;
    cr_assert_eq(mc_master_evict(m, 1000, MiB, &rep), MC_OK);
    cr_assert_eq(rep.freed_objects, 1, "no residency: anything unheld goes");
    mc_master_destroy(m);
    m = fx_create(); /* the default is at least 100 ms */
    fx_mount(m, 1, 10 * MiB, 1, 0);
    cr_assert_eq(fx_put_start(m, 1, "slow", MiB, 0, NULL), MC_OK);
    cr_assert_eq(mc_master_put_end(m, client_id(1), "slow", 4, false, 0, 5000), MC_OK);
    cr_assert_eq(mc_master_evict(m, 5099, MiB, &rep), MC_OK);
    cr_assert_eq(rep.freed_objects, 0, "a put started long ago is young once it ends");
    mc_master_destroy(m);
}

Test(evict, unleased_preferred_over_leased)
{
    mc_master_t *m = evict_master();
    fx_mount(m, 1, 10 * MiB, 1, 0);
    fx_put(m, 1, "checked", MiB, 1);
    fx_put(m, 1, "cold", MiB, 2);
    cr_assert(fx_exists(m, "checked", 2000)); /* leased until 3000, still the coldest */
    mc_master_evict_report_t rep;
    cr_assert_eq(mc_master_evict(m, 2100, MiB, &rep), MC_OK);
    cr_assert_eq(rep.freed_objects, 1);
    cr_assert_eq(rep.leased_objects, 0);
    cr_assert(!fx_present(m, "cold"), "unleased goes first");
    cr_assert(fx_present(m, "checked"));
    /* a lease is only a preference: next in line, freed at once */
    cr_assert_eq(mc_master_evict(m, 2100, MiB, &rep), MC_OK);
    cr_assert_eq(rep.freed_objects, 1);
    cr_assert_eq(rep.leased_objects, 1);
    cr_assert(!fx_present(m, "checked"));
    mc_master_destroy(m);
}

/* The preference is for objects nobody used for a lease TTL; among recently
 * used ones (read or written) eviction is plain LRU, so a fresh write that
 * has not been read yet outlives an older read. */
Test(evict, recent_write_outlives_older_read)
{
    mc_master_t *m = evict_master();
    fx_mount(m, 1, 10 * MiB, 1, 0);
    fx_put(m, 1, "read", MiB, 1);
    read_done(m, READER, "read", 400);
    fx_put(m, 1, "written", MiB, 500);
    mc_master_evict_report_t rep;
    cr_assert_eq(mc_master_evict(m, 800, MiB, &rep), MC_OK);
    cr_assert_eq(rep.freed_objects, 1);
    cr_assert(!fx_present(m, "read"));
    cr_assert(fx_present(m, "written"));
    mc_master_destroy(m);
}

Test(evict, no_available_handle_when_only_protected_objects_remain)
{
    mc_master_t *m = evict_master();
    fx_mount(m, 1, 4 * MiB, 1, 0);
    mc_master_put_cfg_t hard = {.replica_num = 1, .hard_pin = true};
    fx_put_cfg(m, 1, "hard", MiB, &hard, 1);
    fx_put(m, 1, "held", MiB, 2);
    hold_only(m, READER, "held", 300);
    cr_assert_eq(fx_put_start(m, 1, "inflight", MiB, 3, NULL), MC_OK);
    fx_put(m, 1, "young", MiB, 1000);
    read_done(m, READER, "young", 1001);
    cr_assert_eq(fx_put_start(m, 2, "new", MiB, 1050, NULL), MC_NO_AVAILABLE_HANDLE);
    mc_master_evict_report_t rep;
    cr_assert_eq(mc_master_evict(m, 1050, 0, &rep), MC_OK);
    cr_assert_eq(rep.freed_objects + rep.retired_objects, 0);
    cr_assert_eq(fx_put_start(m, 2, "new", MiB, 1050, NULL), MC_NO_AVAILABLE_HANDLE);
    cr_assert_eq(fx_used(m), 4 * MiB);
    /* once "young" has been resident for the default 100 ms, its finished read does not keep it */
    cr_assert_eq(mc_master_evict(m, 1250, 0, &rep), MC_OK);
    cr_assert_eq(rep.freed_objects, 1);
    cr_assert_eq(fx_put_start(m, 2, "new", MiB, 1250, NULL), MC_OK);
    mc_master_destroy(m);
}

/* A store service that read from its own segment may serve the bytes from its
 * lease cache, without a hold, while it cannot reach the master: such a lease
 * keeps the buffer until it ends, like a get without a hold. */
Test(evict, owner_lease_and_unheld_get_are_retired_not_freed)
{
    mc_master_t *m = evict_master();
    fx_mount(m, 1, 10 * MiB, 1, 0);
    fx_put(m, 1, "own", MiB, 1);
    fx_put(m, 1, "bare", MiB, 2);
    fx_put(m, 1, "other", MiB, 3);
    read_done(m, 1, "own", 400); /* client 1 owns seg-1 */
    cr_assert_eq(fx_get(m, "bare", 401, NULL), MC_OK);
    read_done(m, READER, "other", 402);
    mc_master_evict_report_t rep;
    cr_assert_eq(mc_master_evict(m, 500, 3 * MiB, &rep), MC_OK);
    cr_assert_eq(rep.freed_objects, 1);
    cr_assert_eq(rep.retired_objects, 2);
    cr_assert_eq(fx_used(m), 2 * MiB, "own and bare wait for their readers");
    cr_assert_eq(mc_master_tick(m, 400 + MC_LEASE_CACHE_MS - 1, NULL), MC_OK);
    cr_assert_eq(fx_used(m), 2 * MiB);
    cr_assert_eq(mc_master_tick(m, 400 + MC_LEASE_CACHE_MS, NULL), MC_OK);
    cr_assert_eq(fx_used(m), MiB, "the owner's lease cache serves it no longer");
    cr_assert_eq(mc_master_tick(m, 1400, NULL), MC_OK);
    cr_assert_eq(fx_used(m), MiB, "a get without a hold: the whole lease (until 1401)");
    cr_assert_eq(mc_master_tick(m, 1401, NULL), MC_OK);
    cr_assert_eq(fx_used(m), 0);
    /* a later lease granted under a hold by a stranger is not bare */
    fx_put(m, 1, "again", MiB, 2000);
    cr_assert_eq(fx_get(m, "again", 2300, NULL), MC_OK);
    read_done(m, READER, "again", 3400); /* the bare lease ended at 3300 */
    cr_assert_eq(mc_master_evict(m, 3500, MiB, &rep), MC_OK);
    cr_assert_eq(rep.freed_objects, 1);
    cr_assert_eq(rep.retired_objects, 0);
    mc_master_destroy(m);
}

Test(evict, batch_put_into_a_full_pool_evicts_for_the_keys_without_room)
{
    mc_master_t *m = evict_master();
    fx_mount(m, 1, 4 * MiB, 1, 0);
    fx_put(m, 1, "a", MiB, 1);
    fx_put(m, 1, "b", MiB, 2);
    fx_put(m, 1, "c", MiB, 3);
    read_done(m, READER, "a", 400);
    read_done(m, READER, "b", 401);
    mc_master_put_item_t it[3] = {{.key = "x", .len = 1, .size = MiB},
                                  {.key = "y", .len = 1, .size = MiB},
                                  {.key = "c", .len = 1, .size = MiB}};
    mc_master_put_cfg_t cfg = fx_cfg(1);
    cr_assert_eq(mc_master_batch_put_start(m, client_id(2), it, 3, &cfg, 500), MC_OK);
    cr_assert_eq(it[0].rc, MC_OK);
    cr_assert_eq(it[1].rc, MC_OK, "room made by evicting the coldest");
    cr_assert_eq(it[2].rc, MC_OBJECT_ALREADY_EXISTS, "not retried: it had its answer");
    cr_assert(!fx_present(m, "c"));
    cr_assert(fx_present(m, "a"));
    cr_assert(fx_present(m, "b"));
    cr_assert_eq(fx_used(m), 4 * MiB);
    mc_master_destroy(m);
}

/* After a put's own eviction found nothing, the next failing puts do not walk
 * the map again for 10 ms; then they do. */
Test(evict, failing_puts_back_off_their_own_eviction)
{
    mc_master_t *m = evict_master();
    fx_mount(m, 1, 2 * MiB, 1, 0);
    fx_put(m, 1, "a", MiB, 1);
    fx_put(m, 1, "b", MiB, 2);
    hold_only(m, READER, "a", 300);
    hold_only(m, READER, "b", 300);
    cr_assert_eq(fx_put_start(m, 2, "x", MiB, 1000, NULL), MC_NO_AVAILABLE_HANDLE);
    mc_master_key_t k = {"a", 1};
    int rc;
    cr_assert_eq(mc_master_batch_release(m, client_id(READER), &k, 1, 1000, &rc), MC_OK);
    cr_assert_eq(fx_put_start(m, 2, "x", MiB, 1009, NULL), MC_NO_AVAILABLE_HANDLE);
    cr_assert(fx_present(m, "a"));
    cr_assert(mc_master_evict_wanted(m), "the background thread is woken");
    cr_assert_eq(fx_put_start(m, 2, "x", MiB, 1010, NULL), MC_OK);
    cr_assert(!fx_present(m, "a"));
    mc_master_destroy(m);
}

/* A hold-get's reader copies under its hold, which eviction respects, not
 * under the lease, which it does not: the deadline it gets is the earlier. */
Test(evict, hold_get_deadline_is_the_hold_when_shorter_than_the_lease)
{
    mc_master_cfg_t c = base_cfg(); /* lease 1000 ms */
    c.hold_ttl_ms = 300;
    mc_master_t *m = fx_create_cfg(&c);
    fx_mount(m, 9, 64 * 1024, READER, 0);
    fx_mount(m, 1, 10 * MiB, 1, 0);
    fx_put(m, 1, "k", MiB, 1);
    mc_master_key_t k = {"k", 1};
    mc_master_replicas_t r;
    int rc;
    cr_assert_eq(mc_master_batch_get_hold(m, client_id(READER), &k, 1, 500, &r, &rc), MC_OK);
    cr_assert_eq(rc, MC_OK);
    cr_assert_eq(r.lease_until_ms, 800, "the hold ends at 800, the lease at 1500");
    mc_master_evict_report_t rep;
    cr_assert_eq(mc_master_evict(m, 800, MiB, &rep), MC_OK);
    cr_assert_eq(rep.freed_objects, 1, "the hold is over, the lease is not: freed");
    mc_master_destroy(m);
}
