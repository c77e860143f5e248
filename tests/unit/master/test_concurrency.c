/* Multi-threaded smoke test: concurrent puts, gets, exists, removes, disk
 * replica adds and removes (with write-behind and offload on eviction on),
 * eviction, ticks and task draining on many keys, then a full accounting
 * check.
 *
 * Built twice: as a Criterion test, and with -DMC_STRESS_MAIN as a plain
 * program (test_master_stress), because Criterion cannot start under
 * ThreadSanitizer (Snaipe/Criterion#274); the plain one is what TSan runs. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master_core.h"
#include "mc/errors.h"

#ifdef MC_STRESS_MAIN
#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                 \
        }                                                                            \
    } while (0)
#else
#include <criterion/criterion.h>
#define CHECK(cond) cr_assert(cond, "%s", #cond)
#endif

#define MiB (1024ull * 1024ull)

static mc_uuid_t client_id(uint64_t n)
{
    return (mc_uuid_t){.hi = 0xc11e47ull, .lo = n};
}

#define KEYS 4000
#define THREADS 4
#define OPS 20000

typedef struct worker {
    mc_master_t *m;
    int id;
    _Atomic uint64_t *clock;
    _Atomic int *stop;
    uint64_t gets_ok;
} worker_t;

static uint64_t xs(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void *work(void *arg)
{
    worker_t *w = arg;
    uint64_t s = 0x1234567ull + (uint64_t)w->id * 7919;
    mc_master_put_cfg_t cfg = {.replica_num = 1 + (uint32_t)(w->id % 2)};
    for (int op = 0; op < OPS; op++) {
        char key[32];
        uint64_t r = xs(&s);
        snprintf(key, sizeof(key), "smoke@%llu", (unsigned long long)(r % KEYS));
        size_t len = strlen(key);
        uint64_t now = atomic_fetch_add(w->clock, 1);
        mc_master_replicas_t rep;
        bool e;
        switch ((r >> 32) % 8) {
        case 0:
        case 1:
        case 2:
            if (mc_master_put_start(w->m, client_id((uint64_t)w->id), key, len,
                                    64 * 1024 + (r >> 40) % MiB, &cfg, now, &rep) == MC_OK)
                mc_master_put_end(w->m, client_id((uint64_t)w->id), key, len, false, 0, now);
            break;
        case 3:
        case 4:
            if (mc_master_get_replica_list(w->m, key, len, now, &rep) == MC_OK) {
                CHECK(rep.n >= 1);
                w->gets_ok++;
            }
            break;
        case 5: mc_master_exist(w->m, key, len, now, &e); break;
        case 6: {
            /* the SSD tier: clients 0 and 1 have disk tiers; a disk copy of
             * whatever size the key has (or a new disk-only object) */
            uint64_t size = 0;
            mc_master_disk_item_t it = {.key = key, .len = len, .bucket = r & 7};
            mc_uuid_t owner = client_id((uint64_t)w->id % 2);
            if ((r >> 8) % 4 == 0) {
                it.size = it.length =
                    mc_master_get_size(w->m, key, len, &size) == MC_OK ? size : 4096;
                mc_master_batch_disk_replica_add(w->m, owner, &it, 1, (r & 1) != 0, now);
            } else if ((r >> 8) % 4 == 1) {
                mc_master_batch_disk_replica_remove(w->m, owner, &it, 1, now);
            } else {
                mc_master_remove(w->m, key, len, (r & 1) != 0, now);
            }
            break;
        }
        default: {
            mc_master_key_t ks[8];
            char kb[8][32];
            int rc[8];
            for (int i = 0; i < 8; i++) {
                snprintf(kb[i], sizeof(kb[i]), "smoke@%llu", (unsigned long long)(xs(&s) % KEYS));
                ks[i] = (mc_master_key_t){kb[i], strlen(kb[i])};
            }
            mc_master_replicas_t rs[8];
            if (r & 1) {
                mc_master_batch_get_replica_list(w->m, ks, 8, now, rs, rc);
                break;
            }
            /* a reader's holds: released now, or left to their TTL */
            mc_uuid_t me = client_id((uint64_t)w->id);
            if (mc_master_batch_get_hold(w->m, me, ks, 8, now, rs, rc) == MC_OK && (r & 2))
                mc_master_batch_release(w->m, me, ks, 8, now, rc);
            break;
        }
        }
    }
    return NULL;
}

static mc_master_segment_spec_t seg_spec(uint64_t s, char *name, size_t cap)
{
    snprintf(name, cap, "seg-%llu", (unsigned long long)s);
    return (mc_master_segment_spec_t){.id = {0x5e6, s + 1},
                                      .client_id = client_id(s),
                                      .name = name,
                                      .base = s << 40,
                                      .size = 256 * MiB};
}

static _Atomic unsigned remounts;

/* Ticks, evicts, and unmounts/remounts one segment now and then, so the
 * unmount sweep races with readers and writers. */
static void *housekeeper(void *arg)
{
    worker_t *w = arg;
    for (unsigned loop = 1; !atomic_load(w->stop); loop++) {
        uint64_t now = atomic_load(w->clock);
        if (loop % 64 == 0) {
            char name[16];
            mc_master_segment_spec_t sp = seg_spec(3, name, sizeof(name));
            CHECK(mc_master_unmount(w->m, sp.id, sp.client_id) == MC_OK);
            CHECK(mc_master_mount(w->m, &sp, now, NULL) == MC_OK);
            atomic_fetch_add(&remounts, 1);
        }
        mc_master_ping_status_t st;
        for (uint64_t c = 0; c < THREADS; c++)
            mc_master_ping(w->m, client_id(c), now, &st, NULL);
        mc_master_tick(w->m, now, NULL);
        if (mc_master_evict_wanted(w->m))
            mc_master_evict(w->m, now, 0, NULL);
        mc_master_task_batch_t *b = NULL; /* the task sender's part */
        size_t nb = 0;
        if (mc_master_tasks_take(w->m, &b, &nb) == MC_OK) {
            for (size_t i = 0; i < nb; i++)
                mc_master_tasks_report(w->m, b[i].client_id, b[i].n, 0);
            mc_master_tasks_free(b, nb);
        }
    }
    return NULL;
}

/* Disk tiers of clients 0 and 1. */
static void mount_disks(mc_master_t *m)
{
    for (uint64_t c = 0; c < 2; c++) {
        mc_master_disk_spec_t d = {.client_id = client_id(c),
                                   .name = c ? "disk-1" : "disk-0",
                                   .control_url = "http://127.0.0.1:1",
                                   .capacity = 1ull << 30};
        CHECK(mc_master_mount_disk(m, &d, 0) == MC_OK);
    }
}

static void smoke(void)
{
    mc_master_cfg_t c;
    mc_master_cfg_defaults(&c);
    c.lease_ttl_ms = 50; /* the shared clock advances one unit per op */
    c.put_discard_timeout_ms = 100;
    c.put_release_timeout_ms = 200;
    c.enable_offload = true;   /* persist tasks (and holds) after put_end, */
    c.offload_on_evict = true; /* and instead of evictions */
    mc_master_t *m = NULL;
    CHECK(mc_master_create(&c, &m) == MC_OK);
    for (uint64_t s = 0; s < 4; s++) {
        char name[16];
        mc_master_segment_spec_t sp = seg_spec(s, name, sizeof(name));
        CHECK(mc_master_mount(m, &sp, 0, NULL) == MC_OK);
    }
    mount_disks(m);
    _Atomic uint64_t clock = 1;
    _Atomic int stop = 0;
    worker_t w[THREADS + 1];
    pthread_t th[THREADS + 1];
    for (int i = 0; i <= THREADS; i++) {
        w[i] = (worker_t){.m = m, .id = i, .clock = &clock, .stop = &stop};
        pthread_create(&th[i], NULL, i < THREADS ? work : housekeeper, &w[i]);
    }
    uint64_t gets = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        gets += w[i].gets_ok;
    }
    atomic_store(&stop, 1);
    pthread_join(th[THREADS], NULL);
    CHECK(gets > 0);
    mc_master_stats_t s0;
    mc_master_stats(m, &s0);
    CHECK(s0.evicted_objects > 0);
    /* every buffer is accounted for: after removing everything and waiting
     * out every lease and timeout, nothing is allocated */
    uint64_t now = atomic_load(&clock) + 1000000;
    mc_master_ping_status_t st;
    for (uint64_t cl = 0; cl < THREADS; cl++)
        mc_master_ping(m, client_id(cl), now, &st, NULL);
    mc_master_tick(m, now, NULL);
    uint64_t n;
    CHECK(mc_master_remove_all(m, true, now, &n) == MC_OK);
    now += 1000000;
    for (uint64_t cl = 0; cl < THREADS; cl++)
        mc_master_ping(m, client_id(cl), now, &st, NULL);
    mc_master_tick(m, now, NULL);
    mc_master_stats_t s;
    mc_master_stats(m, &s);
    CHECK(s.objects == 0);
    CHECK(s.processing == 0);
    CHECK(s.used == 0);
    CHECK(s.retired_bytes == 0);
    CHECK(s.holds_taken > 0);
    CHECK(s.disk_replicas == 0);
    CHECK(s.tasks_queued > 0 && s.tasks_sent > 0);
    mc_master_segment_info_t segs[4];
    size_t ns;
    mc_master_segments_list(m, segs, 4, &ns);
    CHECK(ns == 4);
    for (size_t i = 0; i < ns; i++)
        CHECK(segs[i].used == 0);
    mc_master_destroy(m);
}

#ifdef MC_STRESS_MAIN
int main(void)
{
    for (int i = 0; i < 3; i++)
        smoke();
    printf("test_master_stress: ok (%u remounts under load)\n", atomic_load(&remounts));
    return 0;
}
#else
Test(concurrency, smoke, .timeout = 60)
{
    smoke();
}
#endif
