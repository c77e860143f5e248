/* Holds: (client, count) on an object, protecting bytes in flight.
 *
 * Each shard keeps a small array of hold entries for its objects, guarded by
 * the shard lock; an object with entries carries OBJ_F_HELD so the common
 * case (no holds) costs one flag test. A client's total is counted in its
 * client-table entry under cluster_lock: a batch reserves its holds there
 * once, before the shard pass, and gives back what it did not use. */
#include <stdlib.h>

#include "master_internal.h"
#include "mc/errors.h"

bool mcm_obj_held(const mcm_shard_t *sh, const mcm_obj_t *o, uint64_t now_ms)
{
    if (!(o->flags & OBJ_F_HELD))
        return false;
    for (uint32_t i = 0; i < sh->n_holds; i++)
        if (sh->holds[i].obj == o && sh->holds[i].until_ms > now_ms)
            return true;
    return false;
}

static mcm_client_t *client_find_locked(mc_master_t *m, mc_uuid_t id) MC_REQUIRES(m->cluster_lock)
{
    for (size_t i = 0; i < m->n_clients; i++)
        if (mc_uuid_equal(m->clients[i].id, id))
            return &m->clients[i];
    return NULL;
}

static void client_uncount(mc_master_t *m, mc_uuid_t id, uint64_t n) MC_EXCLUDES(m->cluster_lock)
{
    if (n == 0)
        return;
    mc_mutex_lock(&m->cluster_lock);
    mcm_client_t *c = client_find_locked(m, id);
    if (c)
        c->holds = c->holds > n ? c->holds - n : 0;
    mc_mutex_unlock(&m->cluster_lock);
}

/* Removes entry i (order does not matter) and clears the object's flag when
 * it was the object's last entry. */
static void hold_remove_at(mcm_shard_t *sh, uint32_t i) MC_REQUIRES(sh->lock)
{
    mcm_obj_t *o = sh->holds[i].obj;
    sh->holds[i] = sh->holds[--sh->n_holds];
    for (uint32_t j = 0; j < sh->n_holds; j++)
        if (sh->holds[j].obj == o)
            return;
    o->flags = (uint8_t)(o->flags & ~OBJ_F_HELD);
}

uint64_t mcm_holds_detach(mc_master_t *m, mcm_shard_t *sh, mcm_obj_t *o, uint64_t now_ms)
{
    uint64_t until = 0;
    for (uint32_t i = 0; i < sh->n_holds;) {
        mcm_hold_t h = sh->holds[i];
        if (h.obj != o) {
            i++;
            continue;
        }
        if (h.until_ms > now_ms && h.until_ms > until)
            until = h.until_ms;
        hold_remove_at(sh, i);
        client_uncount(m, h.client, h.count);
    }
    o->flags = (uint8_t)(o->flags & ~OBJ_F_HELD);
    return until;
}

/* Takes one hold of client on o. The client's budget was reserved by the
 * caller. MC_TASK_PENDING_LIMIT_EXCEEDED at the per-object cap,
 * MC_INTERNAL_ERROR when the list cannot grow. */
static int hold_take(mc_master_t *m, mcm_shard_t *sh, mcm_obj_t *o, mc_uuid_t client,
                     uint64_t now_ms) MC_REQUIRES(sh->lock)
{
    uint64_t total = 0;
    mcm_hold_t *mine = NULL;
    if (o->flags & OBJ_F_HELD) {
        for (uint32_t i = 0; i < sh->n_holds; i++) {
            if (sh->holds[i].obj != o)
                continue;
            total += sh->holds[i].count;
            if (mc_uuid_equal(sh->holds[i].client, client))
                mine = &sh->holds[i];
        }
    }
    if (mine && mine->until_ms <= now_ms) { /* expired, not yet ticked: start over */
        atomic_fetch_add_explicit(&m->st.holds_expired, mine->count, memory_order_relaxed);
        client_uncount(m, client, mine->count);
        total -= mine->count;
        mine->count = 0;
    }
    if (total >= m->cfg.max_holds_per_object)
        return MC_TASK_PENDING_LIMIT_EXCEEDED;
    if (!mine) {
        if (sh->n_holds == sh->cap_holds) {
            uint32_t ncap = sh->cap_holds ? sh->cap_holds * 2u : 4u;
            mcm_hold_t *nh = realloc(sh->holds, ncap * sizeof(*nh));
            if (!nh)
                return MC_INTERNAL_ERROR;
            sh->holds = nh;
            sh->cap_holds = ncap;
        }
        mine = &sh->holds[sh->n_holds++];
        *mine = (mcm_hold_t){.obj = o, .client = client};
        o->flags |= OBJ_F_HELD;
    }
    mine->count++;
    mine->until_ms = now_ms + m->cfg.hold_ttl_ms;
    return MC_OK;
}

int mcm_hold_take_reserved(mc_master_t *m, mcm_shard_t *sh, mcm_obj_t *o, mc_uuid_t client,
                           uint64_t now_ms)
{
    int rc = hold_take(m, sh, o, client, now_ms);
    if (rc == MC_OK) {
        atomic_fetch_add_explicit(&m->st.holds_taken, 1, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&m->st.holds_refused, 1, memory_order_relaxed);
        client_uncount(m, client, 1);
    }
    return rc;
}

bool mcm_hold_reserve_locked(mc_master_t *m, mc_uuid_t client)
{
    mcm_client_t *c = client_find_locked(m, client);
    if (!c || c->holds >= m->cfg.max_holds_per_client)
        return false;
    c->holds++;
    return true;
}

void mcm_hold_release_obj(mc_master_t *m, mcm_shard_t *sh, mcm_obj_t *o, mc_uuid_t client,
                          uint64_t now_ms)
{
    if (!(o->flags & OBJ_F_HELD))
        return;
    for (uint32_t i = 0; i < sh->n_holds; i++) {
        mcm_hold_t *h = &sh->holds[i];
        if (h->obj != o || !mc_uuid_equal(h->client, client))
            continue;
        if (h->until_ms <= now_ms)
            return; /* ended by its TTL: the tick counts it */
        if (--h->count == 0)
            hold_remove_at(sh, i);
        client_uncount(m, client, 1);
        atomic_fetch_add_explicit(&m->st.holds_released, 1, memory_order_relaxed);
        return;
    }
}

void mcm_holds_move(mcm_shard_t *sh, mcm_obj_t *old, mcm_obj_t *new_obj)
{
    for (uint32_t i = 0; i < sh->n_holds; i++)
        if (sh->holds[i].obj == old)
            sh->holds[i].obj = new_obj;
}

/* Drops one hold of client on the key's object. */
static int hold_release(mcm_shard_t *sh, uint64_t hash, const char *key, size_t len,
                        mc_uuid_t client, uint64_t now_ms) MC_REQUIRES(sh->lock)
{
    mcm_obj_t *o = mcm_find(sh, hash, key, len);
    if (!o)
        return MC_OBJECT_NOT_FOUND;
    if (!(o->flags & OBJ_F_HELD))
        return MC_LEASE_EXPIRED;
    for (uint32_t i = 0; i < sh->n_holds; i++) {
        mcm_hold_t *h = &sh->holds[i];
        if (h->obj != o || !mc_uuid_equal(h->client, client))
            continue;
        if (h->until_ms <= now_ms)
            return MC_LEASE_EXPIRED; /* the tick drops it and counts it expired */
        if (--h->count == 0)
            hold_remove_at(sh, i);
        return MC_OK;
    }
    return MC_LEASE_EXPIRED;
}

static bool is_dead(mc_uuid_t c, const mc_uuid_t *dead, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (mc_uuid_equal(dead[i], c))
            return true;
    return false;
}

uint64_t mcm_holds_expire(mc_master_t *m, uint64_t now_ms, const mc_uuid_t *dead, size_t n_dead)
{
    uint64_t expired = 0;
    for (unsigned s = 0; s < MCM_SHARDS; s++) {
        mcm_shard_t *sh = &m->shards[s];
        mc_mutex_lock(&sh->lock);
        for (uint32_t i = 0; i < sh->n_holds;) {
            mcm_hold_t h = sh->holds[i];
            bool gone = is_dead(h.client, dead, n_dead);
            if (!gone && h.until_ms > now_ms) {
                i++;
                continue;
            }
            hold_remove_at(sh, i);
            expired += h.count;
            if (!gone)
                client_uncount(m, h.client, h.count);
        }
        mc_mutex_unlock(&sh->lock);
    }
    atomic_fetch_add_explicit(&m->st.holds_expired, expired, memory_order_relaxed);
    return expired;
}

void mcm_holds_free(mcm_shard_t *sh)
{
    free(sh->holds);
    sh->holds = NULL;
    sh->n_holds = sh->cap_holds = 0;
}

/* ---- batch calls ------------------------------------------------------------ */

typedef struct hold_ctx {
    const mc_master_key_t *keys;
    mc_master_replicas_t *out;
    int *rc;
    mc_uuid_t client;
    uint64_t now_ms;
    uint64_t budget; /* holds reserved for this batch and not used yet */
} hold_ctx_t;

/* True when one of the replicas lives on a segment client owns: that store
 * service remembers the lease and may serve the bytes from its own segment,
 * without a hold, while it cannot reach the master (services/store/core/
 * lease_cache.h). Caller holds the object's shard lock (mcm_seg_pinned). */
static bool owns_a_replica(const mc_master_t *m, const mc_master_replicas_t *r, mc_uuid_t client)
{
    for (uint32_t j = 0; j < r->n; j++)
        if (r->rep[j].type == MC_REPLICA_MEMORY &&
            mc_uuid_equal(mcm_seg_pinned(m, r->rep[j].segment_slot)->info.client_id, client))
            return true;
    return false;
}

static void b_get_hold(mc_master_t *m, mcm_shard_t *sh, uint64_t h, size_t i, void *arg)
    MC_REQUIRES(sh->lock)
{
    hold_ctx_t *c = arg;
    c->out[i].n = 0;
    if (!sh) {
        c->rc[i] = MC_INVALID_KEY;
        return;
    }
    int rc = mcm_get_locked(m, sh, h, c->keys[i].key, c->keys[i].len, c->now_ms, false, &c->out[i]);
    if (rc == MC_OK) {
        mcm_obj_t *o = mcm_find(sh, h, c->keys[i].key, c->keys[i].len);
        rc = c->budget ? hold_take(m, sh, o, c->client, c->now_ms) : MC_TASK_PENDING_LIMIT_EXCEEDED;
        if (rc == MC_OK) {
            c->budget--;
            atomic_fetch_add_explicit(&m->st.holds_taken, 1, memory_order_relaxed);
            if (owns_a_replica(m, &c->out[i], c->client))
                o->flags |= OBJ_F_OWNED; /* its lease cache may read it, unheld */
            /* eviction may take the object once the hold ends, lease or not:
             * the reader's deadline is the earlier of the two */
            uint64_t hold_end = c->now_ms + m->cfg.hold_ttl_ms;
            if (c->out[i].lease_until_ms > hold_end)
                c->out[i].lease_until_ms = hold_end;
        } else {
            atomic_fetch_add_explicit(&m->st.holds_refused, 1, memory_order_relaxed);
            c->out[i].n = 0;
        }
    }
    c->rc[i] = rc;
}

int mc_master_batch_get_hold(mc_master_t *m, mc_uuid_t client, const mc_master_key_t *keys,
                             size_t n, uint64_t now_ms, mc_master_replicas_t *out, int *rc)
{
    if (!m || (n && (!keys || !out || !rc)))
        return MC_INVALID_PARAMS;
    hold_ctx_t c = {.keys = keys, .out = out, .rc = rc, .client = client, .now_ms = now_ms};
    mc_mutex_lock(&m->cluster_lock);
    mcm_client_t *cl = client_find_locked(m, client);
    if (cl) {
        uint64_t cap = m->cfg.max_holds_per_client;
        uint64_t room = cl->holds < cap ? cap - cl->holds : 0;
        c.budget = n < room ? n : room;
        cl->holds += c.budget;
    }
    mc_mutex_unlock(&m->cluster_lock);
    if (!cl)
        return MC_CLIENT_NOT_FOUND;
    int ret = mcm_batch_run_keys(m, keys, n, b_get_hold, &c);
    client_uncount(m, client, c.budget); /* give back the unused reservation */
    return ret;
}

static void b_release(mc_master_t *m, mcm_shard_t *sh, uint64_t h, size_t i, void *arg)
    MC_REQUIRES(sh->lock)
{
    hold_ctx_t *c = arg;
    (void)m;
    c->rc[i] = sh ? hold_release(sh, h, c->keys[i].key, c->keys[i].len, c->client, c->now_ms)
                  : MC_INVALID_KEY;
    if (c->rc[i] == MC_OK)
        c->budget++; /* here: holds released */
}

int mc_master_batch_release(mc_master_t *m, mc_uuid_t client, const mc_master_key_t *keys, size_t n,
                            uint64_t now_ms, int *rc)
{
    if (!m || (n && (!keys || !rc)))
        return MC_INVALID_PARAMS;
    hold_ctx_t c = {.keys = keys, .rc = rc, .client = client, .now_ms = now_ms};
    int ret = mcm_batch_run_keys(m, keys, n, b_release, &c);
    client_uncount(m, client, c.budget);
    atomic_fetch_add_explicit(&m->st.holds_released, c.budget, memory_order_relaxed);
    return ret;
}
