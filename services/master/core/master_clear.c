/* batch_replica_clear: a client drops the replicas of its own objects, on one
 * segment or everywhere (Mooncake's BatchReplicaClear). An object whose last
 * replica goes is removed. Only complete objects nobody reads (no lease, no
 * hold) are touched, so every buffer freed here is free at once.
 *
 * batch_drop_bad_replica: a reader's checksum mismatch drops that replica,
 * whoever reads the object; its buffer is retired until readers are done. */
#include "master_internal.h"
#include "mc/errors.h"

#include <string.h>

typedef struct clear_ctx {
    const mc_master_key_t *keys;
    mc_uuid_t client;
    const char *segment; /* NULL = every segment */
    size_t segment_len;
    uint64_t now_ms;
    const uint32_t *checksums; /* drop_bad_replica: what the reader checked against */
    int *rc;
} clear_ctx_t;

/* Memory replicas only: disk replicas are their owners' (disk replica remove). */
static bool on_segment(const mc_master_t *m, const mcm_rep_t *r, const clear_ctx_t *c)
{
    if (mcm_rep_is_disk(r))
        return false;
    const mcm_seg_t *s = c->segment ? mcm_seg_pinned(m, r->slot) : NULL;

    return !c->segment || (s && strlen(s->info.name) == c->segment_len &&
                           memcmp(s->info.name, c->segment, c->segment_len) == 0);
}

static int clear_one(mc_master_t *m, mcm_shard_t *sh, uint64_t hash, const mc_master_key_t *k,
                     const clear_ctx_t *c) MC_REQUIRES(sh->lock)
{
    mcm_obj_t *o = mcm_find(sh, hash, k->key, k->len);
    uint8_t keep = 0, cleared = 0;

    if (!o)
        return MC_OBJECT_NOT_FOUND;
    if (!mc_uuid_equal(o->owner, c->client))
        return MC_ILLEGAL_CLIENT;
    if (o->state != MC_OBJ_COMPLETE)
        return MC_REPLICA_IS_NOT_READY;
    if (mcm_obj_leased(o, c->now_ms) || mcm_obj_held(sh, o, c->now_ms))
        return MC_OBJECT_HAS_LEASE;
    for (uint8_t i = 0; i < o->nrep; i++)
        cleared += on_segment(m, &o->rep[i], c);
    if (cleared == 0)
        return MC_REPLICA_NOT_FOUND;
    if (cleared == o->nrep) {
        mcm_obj_drop(m, sh, o, c->now_ms); /* unleased, unheld: freed at once */
        return MC_OK;
    }
    mc_mutex_lock(&m->cluster_lock);
    for (uint8_t i = 0; i < o->nrep; i++) {
        if (on_segment(m, &o->rep[i], c))
            mcm_free_rep_locked(m, &o->rep[i]);
        else
            o->rep[keep++] = o->rep[i];
    }
    mc_mutex_unlock(&m->cluster_lock);
    o->nrep = keep;
    return MC_OK;
}

static void b_clear(mc_master_t *m, mcm_shard_t *sh, uint64_t h, size_t i, void *ctx)
    MC_REQUIRES(sh->lock)
{
    clear_ctx_t *c = ctx;
    c->rc[i] = sh ? clear_one(m, sh, h, &c->keys[i], c) : MC_INVALID_KEY;
}

int mc_master_batch_replica_clear(mc_master_t *m, mc_uuid_t client, const mc_master_key_t *keys,
                                  size_t n, const char *segment, size_t segment_len,
                                  uint64_t now_ms, int *rc)
{
    bool bad_name = segment && (segment_len == 0 || segment_len >= MC_MASTER_NAME_MAX ||
                                memchr(segment, '\0', segment_len));

    if (!m || (n && (!keys || !rc)) || bad_name)
        return MC_INVALID_PARAMS;
    clear_ctx_t c = {.keys = keys,
                     .client = client,
                     .segment = segment,
                     .segment_len = segment_len,
                     .now_ms = now_ms,
                     .rc = rc};
    return mcm_batch_run_keys(m, keys, n, b_clear, &c);
}

/* The one memory replica of o on the named segment, dropped; the object goes
 * with its last replica. Leased or held, the buffer is retired until the
 * lease ends and a hold TTL has passed (a holder may still be copying). */
static int drop_bad_one(mc_master_t *m, mcm_shard_t *sh, uint64_t hash, const mc_master_key_t *k,
                        uint32_t checksum, const clear_ctx_t *c) MC_REQUIRES(sh->lock)
{
    mcm_obj_t *o = mcm_find(sh, hash, k->key, k->len);
    uint64_t until = c->now_ms;
    uint8_t bad = MC_MAX_REPLICAS, keep = 0;

    if (!o)
        return MC_OBJECT_NOT_FOUND;
    if (o->state != MC_OBJ_COMPLETE)
        return MC_REPLICA_IS_NOT_READY;
    if (!(o->flags & OBJ_F_CSUM) || o->checksum != checksum)
        return MC_INVALID_REPLICA;
    for (uint8_t i = 0; i < o->nrep && bad == MC_MAX_REPLICAS; i++)
        if (on_segment(m, &o->rep[i], c))
            bad = i;
    if (bad == MC_MAX_REPLICAS)
        return MC_REPLICA_NOT_FOUND;
    if (o->nrep == 1) {
        mcm_obj_drop(m, sh, o, c->now_ms); /* retires the buffer if read */
        return MC_OK;
    }
    if (o->lease_until_ms > until)
        until = o->lease_until_ms;
    if (mcm_obj_held(sh, o, c->now_ms) && c->now_ms + m->cfg.hold_ttl_ms > until)
        until = c->now_ms + m->cfg.hold_ttl_ms;
    mc_mutex_lock(&m->cluster_lock);
    if (until > c->now_ms)
        mcm_retire_rep_locked(m, &o->rep[bad], until, false);
    else
        mcm_free_rep_locked(m, &o->rep[bad]);
    mc_mutex_unlock(&m->cluster_lock);
    for (uint8_t i = 0; i < o->nrep; i++)
        if (i != bad)
            o->rep[keep++] = o->rep[i];
    o->nrep = keep;
    return MC_OK;
}

static void b_drop_bad(mc_master_t *m, mcm_shard_t *sh, uint64_t h, size_t i, void *ctx)
    MC_REQUIRES(sh->lock)
{
    clear_ctx_t *c = ctx;
    c->rc[i] = sh ? drop_bad_one(m, sh, h, &c->keys[i], c->checksums[i], c) : MC_INVALID_KEY;
}

int mc_master_batch_drop_bad_replica(mc_master_t *m, const mc_master_key_t *keys,
                                     const uint32_t *checksums, size_t n, const char *segment,
                                     size_t segment_len, uint64_t now_ms, int *rc)
{
    if (!m || !segment || segment_len == 0 || segment_len >= MC_MASTER_NAME_MAX ||
        memchr(segment, '\0', segment_len) || (n && (!keys || !checksums || !rc)))
        return MC_INVALID_PARAMS;
    clear_ctx_t c = {.keys = keys,
                     .segment = segment,
                     .segment_len = segment_len,
                     .now_ms = now_ms,
                     .checksums = checksums,
                     .rc = rc};
    return mcm_batch_run_keys(m, keys, n, b_drop_bad, &c);
}
