/* Eviction: LRU order, soft-pin second pass, hard pins, leases and in-flight
 * puts, existence checks not starving eviction, watermark policy. */
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

Test(evict, soft_pinned_only_in_second_pass)
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
    /* nothing unpinned left: the second pass takes soft pins, oldest first */
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
    /* more than is free: the leased object is retired, never freed under its reader */
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
    cr_assert_eq(fx_put_start(m, 2, "new", MiB, 19700, NULL), MC_NO_AVAILABLE_HANDLE);
    cr_assert(mc_master_evict_wanted(m));
    mc_master_evict_report_t rep;
    cr_assert_eq(mc_master_evict(m, 19700, 0, &rep), MC_OK);
    cr_assert_eq(rep.retired_objects, 1, "every object is leased: retire the coldest");
    cr_assert(!fx_present(m, "key-01"));
    cr_assert(fx_present(m, "key-00"));
    cr_assert(!fx_exists(m, "key-01", 19700));
    /* the retired buffer is reusable once the exist-lease ends */
    cr_assert_eq(mc_master_tick(m, 20600, NULL), MC_OK);
    cr_assert_eq(fx_put_start(m, 2, "new", MiB, 20600, NULL), MC_OK);
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
        cr_assert_eq(fx_get(m, k, 100, NULL), MC_OK);
    }
    mc_master_evict_report_t rep;
    cr_assert_eq(mc_master_evict(m, 200, 0, &rep), MC_OK);
    cr_assert_eq(rep.retired_objects, 1);
    cr_assert_eq(mc_master_evict(m, 300, 0, &rep), MC_OK);
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
