/* Batch forms: per-key results, mixed valid/invalid/duplicate keys. */
#include <stdlib.h>

#include "master_fixture.h"

#define N 300

static char keys[N][32];

static void make_keys(void)
{
    for (int i = 0; i < N; i++)
        snprintf(keys[i], sizeof(keys[i]), "batch@tp:0@%04d", i);
}

Test(batch, put_cycle_per_key_results)
{
    make_keys();
    mc_master_t *m = fx_create();
    fx_mount(m, 1, 1024 * MiB, 1, 0);
    fx_put(m, 1, keys[5], MiB, 0); /* already complete */
    mc_master_put_item_t *it = calloc(N + 2, sizeof(*it));
    for (int i = 0; i < N; i++)
        it[i] = (mc_master_put_item_t){.key = keys[i], .len = strlen(keys[i]), .size = MiB};
    it[N] = (mc_master_put_item_t){.key = "", .len = 0, .size = MiB}; /* bad key */
    it[N + 1] = (mc_master_put_item_t){.key = keys[7], .len = strlen(keys[7]), .size = MiB};
    mc_master_put_cfg_t cfg = fx_cfg(1);
    cr_assert_eq(mc_master_batch_put_start(m, client_id(1), it, N + 2, &cfg, 1), MC_OK);
    for (int i = 0; i < N; i++) {
        if (i == 5) {
            cr_assert_eq(it[i].rc, MC_OBJECT_ALREADY_EXISTS);
            continue;
        }
        cr_assert_eq(it[i].rc, MC_OK, "key %d rc %d", i, it[i].rc);
        cr_assert_eq(it[i].replicas.n, 1);
    }
    cr_assert_eq(it[N].rc, MC_INVALID_KEY);
    cr_assert_eq(it[N + 1].rc, MC_OBJECT_ALREADY_EXISTS, "duplicate in one batch: one wins");
    cr_assert_eq(fx_used(m), (uint64_t)N * MiB);
    /* a stranger cannot end them; the owner can */
    cr_assert_eq(mc_master_batch_put_end(m, client_id(2), it, N, 2), MC_OK);
    cr_assert_eq(it[0].rc, MC_ILLEGAL_CLIENT);
    it[1].has_checksum = true;
    it[1].checksum = 77;
    cr_assert_eq(mc_master_batch_put_end(m, client_id(1), it, N, 2), MC_OK);
    for (int i = 0; i < N; i++)
        cr_assert_eq(it[i].rc, MC_OK, "key %d", i); /* key 5: client 1's, idempotent */

    mc_master_key_t *k = calloc(N + 1, sizeof(*k));
    for (int i = 0; i < N; i++)
        k[i] = (mc_master_key_t){keys[i], strlen(keys[i])};
    k[N] = (mc_master_key_t){"missing", 7};
    mc_master_replicas_t *r = calloc(N + 1, sizeof(*r));
    int *rc = calloc(N + 1, sizeof(int));
    bool *ex = calloc(N + 1, sizeof(bool));
    cr_assert_eq(mc_master_batch_get_replica_list(m, k, N + 1, 3, r, rc), MC_OK);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(rc[i], MC_OK);
        cr_assert_eq(r[i].n, 1);
        cr_assert_eq(r[i].size, MiB);
    }
    cr_assert(r[1].has_checksum && r[1].checksum == 77);
    cr_assert_eq(rc[N], MC_OBJECT_NOT_FOUND);
    cr_assert_eq(mc_master_batch_exist(m, k, N + 1, 4, ex, rc), MC_OK);
    for (int i = 0; i < N; i++)
        cr_assert(ex[i]);
    cr_assert(!ex[N]);
    cr_assert_eq(mc_master_batch_remove(m, k, N + 1, false, 5, rc), MC_OK);
    cr_assert_eq(rc[0], MC_OBJECT_HAS_LEASE);
    cr_assert_eq(rc[N], MC_OBJECT_NOT_FOUND);
    cr_assert_eq(mc_master_batch_remove(m, k, N + 1, false, 5000, rc), MC_OK);
    for (int i = 0; i < N; i++)
        cr_assert_eq(rc[i], MC_OK);
    cr_assert_eq(fx_used(m), 0);
    free(it);
    free(k);
    free(r);
    free(rc);
    free(ex);
    mc_master_destroy(m);
}

Test(batch, revoke_and_no_space)
{
    make_keys();
    mc_master_t *m = fx_create();
    fx_mount(m, 1, 10 * MiB, 1, 0);
    mc_master_put_item_t it[12];
    for (int i = 0; i < 12; i++)
        it[i] = (mc_master_put_item_t){.key = keys[i], .len = strlen(keys[i]), .size = MiB};
    mc_master_put_cfg_t cfg = fx_cfg(1);
    cr_assert_eq(mc_master_batch_put_start(m, client_id(1), it, 12, &cfg, 0), MC_OK);
    int ok = 0, full = 0;
    for (int i = 0; i < 12; i++) {
        ok += it[i].rc == MC_OK;
        full += it[i].rc == MC_NO_AVAILABLE_HANDLE;
    }
    cr_assert_eq(ok, 10);
    cr_assert_eq(full, 2);
    cr_assert_eq(mc_master_batch_put_revoke(m, client_id(1), it, 12, 1), MC_OK);
    for (int i = 0; i < 12; i++)
        cr_assert_eq(it[i].rc, it[i].replicas.n ? MC_OK : MC_OBJECT_NOT_FOUND);
    cr_assert_eq(fx_used(m), 0);
    cr_assert_eq(mc_master_batch_put_start(m, client_id(1), NULL, 0, &cfg, 0), MC_OK);
    cr_assert_eq(mc_master_batch_put_start(m, client_id(1), it, 12, NULL, 0), MC_INVALID_PARAMS);
    mc_master_destroy(m);
}
