/* Objects: two-phase put, ownership, reads and leases, removal, upsert, zombie
 * puts, regex removal, placement. */
#include <pthread.h>

#include "master_fixture.h"

Test(objects, put_is_invisible_until_put_end)
{
    mc_master_t *m = fx_create();
    fx_mount(m, 1, 64 * MiB, 1, 0);
    mc_master_replicas_t r;
    cr_assert_eq(fx_put_start(m, 1, "k", 4 * MiB, 10, &r), MC_OK);
    cr_assert_eq(r.n, 1);
    cr_assert_eq(r.rep[0].size, 4 * MiB);
    cr_assert_eq(r.rep[0].addr, (1ull << 40) + r.rep[0].offset);
    cr_assert_eq(r.rep[0].type, MC_REPLICA_MEMORY);
    cr_assert_eq(fx_get(m, "k", 11, NULL), MC_REPLICA_IS_NOT_READY);
    cr_assert(!fx_exists(m, "k", 11));
    uint64_t size;
    cr_assert_eq(mc_master_get_size(m, "k", 1, &size), MC_REPLICA_IS_NOT_READY);
    cr_assert_eq(mc_master_put_end(m, client_id(1), "k", 1, true, 0xabcd, 12), MC_OK);
    mc_master_replicas_t g;
    cr_assert_eq(fx_get(m, "k", 20, &g), MC_OK);
    cr_assert_eq(g.n, 1);
    cr_assert_eq(g.rep[0].offset, r.rep[0].offset);
    cr_assert_eq(g.lease_until_ms, 20 + LEASE_MS);
    cr_assert(g.has_checksum);
    cr_assert_eq(g.checksum, 0xabcd);
    cr_assert_eq(mc_master_get_size(m, "k", 1, &size), MC_OK);
    cr_assert_eq(size, 4 * MiB);
    cr_assert(fx_exists(m, "k", 21));
    cr_assert_eq(fx_used(m), 4 * MiB);
    mc_master_destroy(m);
}

Test(objects, put_of_existing_key_does_not_overwrite)
{
    mc_master_t *m = fx_create();
    fx_mount(m, 1, 64 * MiB, 1, 0);
    fx_put(m, 1, "k", MiB, 0);
    cr_assert_eq(fx_put_start(m, 2, "k", 2 * MiB, 1, NULL), MC_OBJECT_ALREADY_EXISTS);
    cr_assert_eq(fx_put_start(m, 1, "k", MiB, 1, NULL), MC_OBJECT_ALREADY_EXISTS);
    uint64_t size;
    cr_assert_eq(mc_master_get_size(m, "k", 1, &size), MC_OK);
    cr_assert_eq(size, MiB);
    cr_assert_eq(fx_used(m), MiB);
    mc_master_destroy(m);
}

typedef struct race {
    mc_master_t *m;
    pthread_barrier_t *bar;
    uint64_t client;
    int rc;
} race_t;

static void *race_put(void *arg)
{
    race_t *r = arg;
    pthread_barrier_wait(r->bar);
    r->rc = fx_put_start(r->m, r->client, "contended", MiB, 5, NULL);
    return NULL;
}

Test(objects, racing_put_start_one_wins)
{
    mc_master_t *m = fx_create();
    fx_mount(m, 1, 64 * MiB, 1, 0);
    enum { N = 8 };
    for (int round = 0; round < 20; round++) {
        pthread_barrier_t bar;
        pthread_barrier_init(&bar, NULL, N);
        pthread_t th[N];
        race_t r[N];
        for (int i = 0; i < N; i++) {
            r[i] = (race_t){.m = m, .bar = &bar, .client = 100 + (uint64_t)i};
            pthread_create(&th[i], NULL, race_put, &r[i]);
        }
        int won = -1, lost = 0;
        for (int i = 0; i < N; i++) {
            pthread_join(th[i], NULL);
            if (r[i].rc == MC_OK)
                won = i;
            else if (r[i].rc == MC_OBJECT_ALREADY_EXISTS)
                lost++;
        }
        pthread_barrier_destroy(&bar);
        cr_assert_geq(won, 0);
        cr_assert_eq(lost, N - 1);
        cr_assert_eq(fx_used(m), MiB);
        /* only the winner may end it */
        uint64_t other = 100 + (uint64_t)((won + 1) % N);
        cr_assert_eq(mc_master_put_end(m, client_id(other), "contended", 9, false, 0, 6),
                     MC_ILLEGAL_CLIENT);
        cr_assert_eq(mc_master_put_revoke(m, client_id(100 + (uint64_t)won), "contended", 9, 6),
                     MC_OK);
        cr_assert_eq(fx_used(m), 0);
    }
    mc_master_destroy(m);
}

Test(objects, put_end_and_revoke_rules)
{
    mc_master_t *m = fx_create();
    fx_mount(m, 1, 64 * MiB, 1, 0);
    cr_assert_eq(mc_master_put_end(m, client_id(1), "nope", 4, false, 0, 0), MC_OBJECT_NOT_FOUND);
    cr_assert_eq(mc_master_put_revoke(m, client_id(1), "nope", 4, 0), MC_OBJECT_NOT_FOUND);
    cr_assert_eq(fx_put_start(m, 1, "k", MiB, 0, NULL), MC_OK);
    cr_assert_eq(mc_master_put_end(m, client_id(2), "k", 1, false, 0, 1), MC_ILLEGAL_CLIENT);
    cr_assert_eq(mc_master_put_revoke(m, client_id(2), "k", 1, 1), MC_ILLEGAL_CLIENT);
    cr_assert_eq(mc_master_put_revoke(m, client_id(1), "k", 1, 1), MC_OK);
    cr_assert_eq(fx_used(m), 0, "revoked buffers are freed at once");
    cr_assert(!fx_present(m, "k"));
    fx_put(m, 1, "k", MiB, 2);
    cr_assert_eq(mc_master_put_end(m, client_id(1), "k", 1, false, 0, 3), MC_OK, "idempotent");
    cr_assert_eq(mc_master_put_revoke(m, client_id(1), "k", 1, 3), MC_INVALID_WRITE);
    mc_master_destroy(m);
}

Test(objects, invalid_input)
{
    mc_master_t *m = fx_create();
    fx_mount(m, 1, 64 * MiB, 1, 0);
    mc_master_put_cfg_t cfg = fx_cfg(1);
    cr_assert_eq(mc_master_put_start(m, client_id(1), "", 0, 1, &cfg, 0, NULL), MC_INVALID_KEY);
    cr_assert_eq(mc_master_put_start(m, client_id(1), "a\0b", 3, 1, &cfg, 0, NULL), MC_INVALID_KEY);
    cr_assert_eq(mc_master_put_start(m, client_id(1), "k", 1, 0, &cfg, 0, NULL), MC_INVALID_PARAMS);
    cfg.replica_num = 0;
    cr_assert_eq(mc_master_put_start(m, client_id(1), "k", 1, 1, &cfg, 0, NULL), MC_INVALID_PARAMS);
    cr_assert_eq(fx_get(m, "", 0, NULL), MC_INVALID_KEY);
    cr_assert_eq(fx_get(m, "missing", 0, NULL), MC_OBJECT_NOT_FOUND);
    mc_master_destroy(m);
}

Test(objects, remove_under_lease)
{
    mc_master_t *m = fx_create();
    fx_mount(m, 1, 64 * MiB, 1, 0);
    fx_put(m, 1, "k", MiB, 0);
    cr_assert_eq(mc_master_remove(m, "k", 1, false, 1), MC_OK, "no lease yet");
    fx_put(m, 1, "k", MiB, 10);
    cr_assert_eq(fx_get(m, "k", 100, NULL), MC_OK); /* lease until 1100 */
    cr_assert_eq(mc_master_remove(m, "k", 1, false, 500), MC_OBJECT_HAS_LEASE);
    cr_assert_eq(mc_master_remove(m, "k", 1, false, 1100), MC_OK, "lease over");
    fx_put(m, 1, "k", MiB, 2000);
    cr_assert(fx_exists(m, "k", 2000)); /* exist leases too */
    cr_assert_eq(mc_master_remove(m, "k", 1, false, 2500), MC_OBJECT_HAS_LEASE);
    cr_assert_eq(mc_master_remove(m, "k", 1, true, 2500), MC_OK, "force works");
    cr_assert(!fx_present(m, "k"));
    /* the reader's buffer is not reused before its lease ends */
    cr_assert_eq(fx_used(m), MiB);
    mc_master_tick_report_t tr;
    cr_assert_eq(mc_master_tick(m, 2999, &tr), MC_OK);
    cr_assert_eq(fx_used(m), MiB);
    cr_assert_eq(mc_master_tick(m, 3000, &tr), MC_OK);
    cr_assert_eq(tr.released_buffers, 1);
    cr_assert_eq(fx_used(m), 0);
    cr_assert_eq(mc_master_remove(m, "k", 1, false, 3000), MC_OBJECT_NOT_FOUND);
    mc_master_destroy(m);
}

Test(objects, remove_of_put_in_flight)
{
    mc_master_t *m = fx_create();
    fx_mount(m, 1, 64 * MiB, 1, 0);
    cr_assert_eq(fx_put_start(m, 1, "k", MiB, 0, NULL), MC_OK);
    cr_assert_eq(mc_master_remove(m, "k", 1, false, 1), MC_REPLICA_IS_NOT_READY);
    cr_assert_eq(mc_master_remove(m, "k", 1, true, 1), MC_OK);
    /* the writer may still be writing: the buffer waits for the release timeout */
    cr_assert_eq(fx_used(m), MiB);
    cr_assert_eq(mc_master_tick(m, 600000, NULL), MC_OK);
    cr_assert_eq(fx_used(m), 0);
    mc_master_destroy(m);
}

Test(objects, zombie_put_take_over_and_release)
{
    mc_master_t *m = fx_create();
    fx_mount(m, 1, 64 * MiB, 1, 0);
    mc_master_replicas_t a, b;
    cr_assert_eq(fx_put_start(m, 1, "k", MiB, 1000, &a), MC_OK);
    cr_assert_eq(fx_put_start(m, 2, "k", MiB, 30999, NULL), MC_OBJECT_ALREADY_EXISTS);
    cr_assert_eq(fx_put_start(m, 2, "k", MiB, 31000, &b), MC_OK, "taken over after 30 s");
    cr_assert_neq(a.rep[0].offset, b.rep[0].offset, "fresh buffers");
    cr_assert_eq(mc_master_put_end(m, client_id(1), "k", 1, false, 0, 31001), MC_ILLEGAL_CLIENT);
    cr_assert_eq(mc_master_put_end(m, client_id(2), "k", 1, false, 0, 31001), MC_OK);
    cr_assert_eq(fx_used(m), 2 * MiB, "the zombie's buffer is held for the release timeout");
    cr_assert_eq(mc_master_tick(m, 600999, NULL), MC_OK);
    cr_assert_eq(fx_used(m), 2 * MiB);
    mc_master_tick_report_t tr;
    cr_assert_eq(mc_master_tick(m, 601000, &tr), MC_OK);
    cr_assert_eq(tr.released_buffers, 1);
    cr_assert_eq(fx_used(m), MiB);
    cr_assert_eq(fx_get(m, "k", 601000, &b), MC_OK);
    mc_master_destroy(m);
}

Test(objects, stale_put_reclaimed_by_tick)
{
    mc_master_t *m = fx_create();
    fx_mount(m, 1, 64 * MiB, 1, 0);
    cr_assert_eq(fx_put_start(m, 1, "k", MiB, 0, NULL), MC_OK);
    mc_master_tick_report_t tr;
    cr_assert_eq(mc_master_tick(m, 599999, &tr), MC_OK);
    cr_assert_eq(tr.reclaimed_puts, 0);
    cr_assert_eq(mc_master_tick(m, 600000, &tr), MC_OK);
    cr_assert_eq(tr.reclaimed_puts, 1);
    cr_assert(!fx_present(m, "k"));
    cr_assert_eq(fx_used(m), 0);
    mc_master_stats_t st;
    mc_master_stats(m, &st);
    cr_assert_eq(st.objects, 0);
    cr_assert_eq(st.processing, 0);
    mc_master_destroy(m);
}

Test(objects, upsert_in_place_or_reallocate)
{
    mc_master_t *m = fx_create();
    fx_mount(m, 1, 64 * MiB, 1, 0);
    mc_master_put_cfg_t cfg = fx_cfg(1);
    mc_master_replicas_t a, b;
    cr_assert_eq(mc_master_upsert_start(m, client_id(1), "k", 1, MiB, &cfg, 0, &a), MC_OK);
    cr_assert_eq(mc_master_put_end(m, client_id(1), "k", 1, false, 0, 0), MC_OK);
    /* same size, not being read: in place */
    cr_assert_eq(mc_master_upsert_start(m, client_id(2), "k", 1, MiB, &cfg, 10, &b), MC_OK);
    cr_assert_eq(b.rep[0].offset, a.rep[0].offset);
    cr_assert_eq(fx_get(m, "k", 11, NULL), MC_REPLICA_IS_NOT_READY, "invisible while rewritten");
    cr_assert_eq(mc_master_upsert_start(m, client_id(3), "k", 1, MiB, &cfg, 12, NULL),
                 MC_OBJECT_HAS_REPLICATION_TASK);
    cr_assert_eq(mc_master_put_end(m, client_id(1), "k", 1, false, 0, 13), MC_ILLEGAL_CLIENT);
    cr_assert_eq(mc_master_put_end(m, client_id(2), "k", 1, false, 0, 13), MC_OK);
    cr_assert_eq(fx_used(m), MiB);
    /* being read: new buffers; the old ones wait for the lease */
    cr_assert_eq(fx_get(m, "k", 100, NULL), MC_OK);
    cr_assert_eq(mc_master_upsert_start(m, client_id(2), "k", 1, MiB, &cfg, 200, &b), MC_OK);
    cr_assert_neq(b.rep[0].offset, a.rep[0].offset);
    cr_assert_eq(fx_used(m), 2 * MiB);
    cr_assert_eq(mc_master_put_end(m, client_id(2), "k", 1, false, 0, 201), MC_OK);
    cr_assert_eq(mc_master_tick(m, 1100, NULL), MC_OK);
    cr_assert_eq(fx_used(m), MiB);
    /* other size: reallocated at once when unleased */
    cr_assert_eq(mc_master_upsert_start(m, client_id(2), "k", 1, 3 * MiB, &cfg, 5000, &b), MC_OK);
    cr_assert_eq(fx_used(m), 3 * MiB);
    cr_assert_eq(mc_master_put_end(m, client_id(2), "k", 1, false, 0, 5001), MC_OK);
    uint64_t size;
    cr_assert_eq(mc_master_get_size(m, "k", 1, &size), MC_OK);
    cr_assert_eq(size, 3 * MiB);
    mc_master_destroy(m);
}

Test(objects, remove_by_regex_and_remove_all)
{
    mc_master_t *m = fx_create();
    fx_mount(m, 1, 64 * MiB, 1, 0);
    fx_put(m, 1, "model@tp:0@aa", MiB, 0);
    fx_put(m, 1, "model@tp:1@ab", MiB, 0);
    fx_put(m, 1, "other@tp:0@aa", MiB, 0);
    fx_put(m, 1, "model@tp:0@leased", MiB, 0);
    cr_assert_eq(fx_put_start(m, 1, "model@tp:0@inflight", MiB, 0, NULL), MC_OK);
    cr_assert_eq(fx_get(m, "model@tp:0@leased", 10, NULL), MC_OK);
    uint64_t n = 99;
    cr_assert_eq(mc_master_remove_by_regex(m, "([", false, 20, &n, NULL), MC_INVALID_PARAMS);
    cr_assert_eq(mc_master_remove_by_regex(m, "^model@tp:[0-9]+@", false, 20, &n, NULL), MC_OK);
    cr_assert_eq(n, 2, "leased and in-flight objects are skipped");
    cr_assert(fx_present(m, "model@tp:0@leased"));
    cr_assert(fx_present(m, "model@tp:0@inflight"));
    cr_assert(fx_present(m, "other@tp:0@aa"));
    cr_assert_eq(mc_master_remove_by_regex(m, "leased$", true, 20, &n, NULL), MC_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(mc_master_remove_all(m, false, 20, &n), MC_OK);
    cr_assert_eq(n, 1);
    cr_assert(fx_present(m, "model@tp:0@inflight"));
    mc_master_destroy(m);
}

Test(objects, replicas_on_distinct_segments_best_effort)
{
    mc_master_t *m = fx_create();
    for (uint64_t s = 1; s <= 3; s++)
        fx_mount(m, s, 64 * MiB, s, 0);
    mc_master_put_cfg_t cfg = fx_cfg(2);
    mc_master_replicas_t r;
    for (int i = 0; i < 20; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        cr_assert_eq(mc_master_put_start(m, client_id(1), key, strlen(key), MiB, &cfg, 0, &r),
                     MC_OK);
        cr_assert_eq(r.n, 2);
        cr_assert_neq(r.rep[0].segment_slot, r.rep[1].segment_slot);
    }
    cfg.replica_num = 5;
    cr_assert_eq(mc_master_put_start(m, client_id(1), "five", 4, MiB, &cfg, 0, &r), MC_OK);
    cr_assert_eq(r.n, 3, "best effort: as many as there are segments");
    cr_assert_eq(mc_master_put_end(m, client_id(1), "five", 4, false, 0, 0), MC_OK);
    mc_master_replicas_t g;
    cr_assert_eq(fx_get(m, "five", 1, &g), MC_OK);
    cr_assert_eq(g.n, 3);
    mc_master_segment_info_t info;
    cr_assert_eq(mc_master_segment_get_slot(m, g.rep[0].segment_slot, &info), MC_OK);
    cr_assert_eq(g.rep[0].segment_epoch, info.epoch);
    cr_assert(mc_uuid_equal(g.rep[0].segment_id, info.id));
    mc_master_destroy(m);
}

Test(objects, preferred_segment_first)
{
    mc_master_t *m = fx_create();
    for (uint64_t s = 1; s <= 4; s++)
        fx_mount(m, s, 64 * MiB, s, 0);
    const char *pref[] = {"seg-3"};
    mc_master_put_cfg_t cfg = {.replica_num = 1, .preferred_segments = pref, .n_preferred = 1};
    for (int i = 0; i < 10; i++) {
        char key[16];
        mc_master_replicas_t r;
        snprintf(key, sizeof(key), "k%d", i);
        cr_assert_eq(mc_master_put_start(m, client_id(1), key, strlen(key), MiB, &cfg, 0, &r),
                     MC_OK);
        cr_assert(mc_uuid_equal(r.rep[0].segment_id, seg_id(3)));
    }
    mc_master_destroy(m);
}

Test(objects, free_ratio_first_picks_emptiest)
{
    mc_master_cfg_t c;
    mc_master_cfg_defaults(&c);
    c.strategy = MC_MASTER_STRATEGY_FREE_RATIO_FIRST;
    mc_master_t *m = fx_create_cfg(&c);
    fx_mount(m, 1, 64 * MiB, 1, 0);
    fx_mount(m, 2, 64 * MiB, 2, 0);
    mc_master_replicas_t r;
    cr_assert_eq(fx_put_start(m, 1, "a", 8 * MiB, 0, &r), MC_OK);
    uint16_t first = r.rep[0].segment_slot;
    cr_assert_eq(fx_put_start(m, 1, "b", MiB, 0, &r), MC_OK);
    cr_assert_neq(r.rep[0].segment_slot, first);
    cr_assert_eq(fx_put_start(m, 1, "c", MiB, 0, &r), MC_OK);
    cr_assert_neq(r.rep[0].segment_slot, first);
    mc_master_destroy(m);
}

Test(objects, no_space_fails_at_once_and_wakes_eviction)
{
    mc_master_t *m = fx_create();
    cr_assert_eq(fx_put_start(m, 1, "k", MiB, 0, NULL), MC_NO_AVAILABLE_HANDLE, "no segments");
    fx_mount(m, 1, 4 * MiB, 1, 0);
    cr_assert_eq(mc_master_evict(m, 0, 0, NULL), MC_OK); /* clears the flag */
    cr_assert(!mc_master_evict_wanted(m));
    fx_put(m, 1, "a", 3 * MiB, 0);
    cr_assert_eq(fx_put_start(m, 1, "b", 2 * MiB, 0, NULL), MC_NO_AVAILABLE_HANDLE);
    cr_assert(mc_master_evict_wanted(m));
    cr_assert(mc_master_wait_pressure(m, 0));
    mc_master_stats_t st;
    mc_master_stats(m, &st);
    cr_assert_eq(st.put_no_space, 2);
    mc_master_destroy(m);
}

Test(objects, query_grants_no_lease)
{
    mc_master_t *m = fx_create();
    fx_mount(m, 1, 64 * MiB, 1, 0);
    mc_master_put_cfg_t cfg = {.replica_num = 1, .hard_pin = true};
    fx_put_cfg(m, 7, "k", MiB, &cfg, 5);
    mc_master_obj_info_t info;
    cr_assert_eq(mc_master_query(m, "k", 1, 6, &info), MC_OK);
    cr_assert_eq(info.state, MC_OBJ_COMPLETE);
    cr_assert(info.hard_pinned);
    cr_assert(mc_uuid_equal(info.owner, client_id(7)));
    cr_assert_eq(info.lease_until_ms, 0);
    cr_assert_eq(info.replicas.n, 1);
    cr_assert_eq(mc_master_remove(m, "k", 1, false, 7), MC_OK, "no lease was granted");
    mc_master_destroy(m);
}

static int count_keys(const char *key, size_t len, uint8_t state, void *arg)
{
    (void)key;
    (void)len;
    (void)state;
    ++*(int *)arg;
    return 0;
}

Test(objects, foreach_key_and_stats)
{
    mc_master_t *m = fx_create();
    fx_mount(m, 1, 64 * MiB, 1, 0);
    fx_put(m, 1, "a", MiB, 0);
    fx_put(m, 1, "b", MiB, 0);
    cr_assert_eq(fx_put_start(m, 1, "c", MiB, 0, NULL), MC_OK);
    int n = 0;
    mc_master_foreach_key(m, count_keys, &n);
    cr_assert_eq(n, 3);
    mc_master_stats_t st;
    mc_master_stats(m, &st);
    cr_assert_eq(st.objects, 3);
    cr_assert_eq(st.processing, 1);
    cr_assert_eq(st.used, 3 * MiB);
    cr_assert_eq(st.capacity, 64 * MiB);
    cr_assert_eq(st.segments, 1);
    cr_assert_eq(st.clients, 1);
    mc_master_destroy(m);
}
