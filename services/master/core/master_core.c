/* Master core: lifetime, the sharded object map and object helpers.
 * Locks and invariants are described in master_internal.h. */
#include <stdlib.h>
#include <string.h>

#include "master_internal.h"
#include "mc/errors.h"

#define INITIAL_BUCKETS 16u

void mc_master_cfg_defaults(mc_master_cfg_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->lease_ttl_ms = 5000;
    cfg->soft_pin_ttl_ms = 30ull * 60 * 1000;
    cfg->allow_evict_soft_pinned = true;
    cfg->eviction_ratio = 0.05;
    cfg->eviction_high_watermark = 0.95;
    cfg->min_residency_ms = 100;
    cfg->client_ttl_ms = 10000;
    cfg->put_discard_timeout_ms = 30000;
    cfg->put_release_timeout_ms = 600000;
    cfg->strategy = MC_MASTER_STRATEGY_RANDOM;
    cfg->alloc_align = 64;
    cfg->view_version = 1;
    cfg->seed = 0;
    cfg->hold_ttl_ms = 10000;
    cfg->max_segment_size = 1ull << 40;
    cfg->max_holds_per_object = 1024;
    cfg->max_holds_per_client = 65536;
    cfg->enable_offload = false;
    cfg->offload_on_evict = false;
    cfg->max_tasks_per_owner = 4096;
}

static int cfg_valid(const mc_master_cfg_t *c)
{
    if (c->lease_ttl_ms == 0 || c->soft_pin_ttl_ms == 0 || c->client_ttl_ms == 0)
        return 0;
    if (c->hold_ttl_ms == 0 || c->max_holds_per_object == 0 || c->max_holds_per_client == 0)
        return 0;
    if (c->max_tasks_per_owner == 0 || c->max_tasks_per_owner > MCM_MAX_TASKS_PER_OWNER)
        return 0;
    if (!(c->eviction_ratio > 0.0 && c->eviction_ratio <= 1.0))
        return 0;
    if (!(c->eviction_high_watermark > 0.0 && c->eviction_high_watermark <= 1.0))
        return 0;
    if (c->alloc_align == 0 || (c->alloc_align & (c->alloc_align - 1u)) != 0)
        return 0;
    if (c->strategy != MC_MASTER_STRATEGY_RANDOM &&
        c->strategy != MC_MASTER_STRATEGY_FREE_RATIO_FIRST)
        return 0;
    return c->put_release_timeout_ms >= c->put_discard_timeout_ms;
}

/* Runs before the master is published: no other thread can see it. */
static int shards_init(mc_master_t *m) MC_NO_THREAD_SAFETY_ANALYSIS
{
    for (unsigned i = 0; i < MCM_SHARDS; i++) {
        mcm_shard_t *sh = &m->shards[i];
        sh->buckets = calloc(INITIAL_BUCKETS, sizeof(*sh->buckets));
        if (!sh->buckets)
            return MC_INTERNAL_ERROR;
        sh->nbuckets = INITIAL_BUCKETS;
        mc_mutex_init(&sh->lock);
    }
    return MC_OK;
}

/* Unlocked writes: the master is not published before it returns. */
int mc_master_create(const mc_master_cfg_t *cfg, mc_master_t **out) MC_NO_THREAD_SAFETY_ANALYSIS
{
    if (!cfg || !out)
        return MC_INVALID_PARAMS;
    *out = NULL;
    if (!cfg_valid(cfg))
        return MC_INVALID_PARAMS;
    mc_master_t *m = calloc(1, sizeof(*m));
    if (!m)
        return MC_INTERNAL_ERROR;
    m->cfg = *cfg;
    /* Epochs start at the view version (the service passes wall-clock ms at
     * start), so a restarted master does not hand out an epoch an earlier run
     * used: a write carrying an old run's epoch is refused. */
    m->next_epoch = cfg->view_version ? cfg->view_version : 1;
    m->rng = cfg->seed ? cfg->seed : 0x853c49e6748fea9bull;
    mc_mutex_init(&m->cluster_lock);
    mc_mutex_init(&m->pressure_lock);
    mc_mutex_init(&m->evict_lock);
    mc_mutex_init(&m->tasks_lock);
    mc_cond_init_monotonic(&m->pressure_cond);
    mc_cond_init_monotonic(&m->tasks_cond);
    if (shards_init(m) != MC_OK) {
        mc_master_destroy(m);
        return MC_INTERNAL_ERROR;
    }
    *out = m;
    return MC_OK;
}

/* Unlocked reads: the caller guarantees no other thread uses m any more. */
void mc_master_destroy(mc_master_t *m) MC_NO_THREAD_SAFETY_ANALYSIS
{
    if (!m)
        return;
    for (unsigned i = 0; i < MCM_SHARDS; i++) {
        mcm_shard_t *sh = &m->shards[i];
        if (!sh->buckets)
            continue;
        for (uint32_t b = 0; b < sh->nbuckets; b++) {
            mcm_obj_t *o = sh->buckets[b];
            while (o) {
                mcm_obj_t *next = o->hnext;
                free(o);
                o = next;
            }
        }
        free(sh->buckets);
        mcm_holds_free(sh);
        mc_mutex_destroy(&sh->lock);
    }
    for (unsigned s = 0; s < MCM_SEG_MAX; s++) {
        if (m->segs[s]) {
            mc_alloc_destroy(m->segs[s]->alloc);
            free(m->segs[s]);
        }
    }
    mcm_disks_free(m);
    free(m->clients);
    free(m->retired);
    mc_mutex_destroy(&m->cluster_lock);
    pthread_cond_destroy(&m->pressure_cond);
    mc_mutex_destroy(&m->pressure_lock);
    mc_mutex_destroy(&m->evict_lock);
    pthread_cond_destroy(&m->tasks_cond);
    mc_mutex_destroy(&m->tasks_lock);
    free(m);
}

/* ---- hashing and the map --------------------------------------------------- */

static uint64_t fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return k;
}

/* 8 bytes at a time; keys are 64-160 bytes, so this beats byte-wise FNV. */
uint64_t mcm_hash(const char *key, size_t len)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (len * 0xff51afd7ed558ccdull);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v;
        memcpy(&v, key + i, 8);
        h ^= fmix64(v);
        h = (h << 27 | h >> 37) * 0x9e3779b97f4a7c15ull;
    }
    uint64_t tail = 0;
    memcpy(&tail, key + i, len - i);
    h ^= fmix64(tail ^ len);
    return fmix64(h);
}

mcm_shard_t *mcm_shard_of(mc_master_t *m, uint64_t hash)
{
    return &m->shards[hash & (MCM_SHARDS - 1u)];
}

mcm_obj_t *mcm_find(mcm_shard_t *sh, uint64_t hash, const char *key, size_t len)
{
    uint32_t hi = (uint32_t)(hash >> 32);
    for (mcm_obj_t *o = sh->buckets[hi & (sh->nbuckets - 1u)]; o; o = o->hnext) {
        if (o->hash_hi == hi && o->key_len == len && memcmp(mcm_obj_key(o), key, len) == 0)
            return o;
    }
    return NULL;
}

/* Doubles the bucket array; on allocation failure chains just get longer. */
static void shard_grow(mcm_shard_t *sh) MC_REQUIRES(sh->lock)
{
    uint32_t nb = sh->nbuckets * 2u;
    mcm_obj_t **b = calloc(nb, sizeof(*b));
    if (!b)
        return;
    for (uint32_t i = 0; i < sh->nbuckets; i++) {
        mcm_obj_t *o = sh->buckets[i];
        while (o) {
            mcm_obj_t *next = o->hnext;
            uint32_t j = o->hash_hi & (nb - 1u);
            o->hnext = b[j];
            b[j] = o;
            o = next;
        }
    }
    free(sh->buckets);
    sh->buckets = b;
    sh->nbuckets = nb;
}

int mcm_insert(mcm_shard_t *sh, mcm_obj_t *o)
{
    if (sh->count >= sh->nbuckets && sh->nbuckets < (1u << 30))
        shard_grow(sh);
    uint32_t j = o->hash_hi & (sh->nbuckets - 1u);
    o->hnext = sh->buckets[j];
    sh->buckets[j] = o;
    sh->count++;
    mcm_lru_push_head(sh, o);
    return MC_OK;
}

void mcm_unlink(mcm_shard_t *sh, mcm_obj_t *o)
{
    mcm_obj_t **pp = &sh->buckets[o->hash_hi & (sh->nbuckets - 1u)];
    while (*pp && *pp != o)
        pp = &(*pp)->hnext;
    if (*pp) {
        *pp = o->hnext;
        sh->count--;
    }
    mcm_lru_remove(sh, o);
}

void mcm_lru_push_head(mcm_shard_t *sh, mcm_obj_t *o)
{
    o->lru_prev = NULL;
    o->lru_next = sh->lru_head;
    if (sh->lru_head)
        sh->lru_head->lru_prev = o;
    else
        sh->lru_tail = o;
    sh->lru_head = o;
}

void mcm_lru_remove(mcm_shard_t *sh, mcm_obj_t *o)
{
    if (o->lru_prev)
        o->lru_prev->lru_next = o->lru_next;
    else
        sh->lru_head = o->lru_next;
    if (o->lru_next)
        o->lru_next->lru_prev = o->lru_prev;
    else
        sh->lru_tail = o->lru_prev;
    o->lru_prev = o->lru_next = NULL;
}

void mcm_lru_rotate_head(mcm_shard_t *sh, mcm_obj_t *o)
{
    if (sh->lru_head == o)
        return;
    mcm_lru_remove(sh, o);
    mcm_lru_push_head(sh, o);
}

/* ---- object helpers ---------------------------------------------------------- */

bool mcm_obj_leased(const mcm_obj_t *o, uint64_t now_ms)
{
    return o->lease_until_ms > now_ms;
}

bool mcm_obj_soft_pinned(const mcm_obj_t *o, uint64_t now_ms)
{
    return (o->flags & OBJ_F_SOFT) && o->state == MC_OBJ_COMPLETE && o->aux_ms > now_ms;
}

void mcm_obj_release_buffers(mc_master_t *m, mcm_obj_t *o, uint64_t now_ms, uint64_t hold_until_ms)
{
    uint64_t until = 0;
    bool lease = false;
    if (o->lease_until_ms > now_ms) {
        until = o->lease_until_ms;
        lease = true;
    }
    if (hold_until_ms > now_ms && hold_until_ms > until) {
        until = hold_until_ms; /* a holder may still be copying */
        lease = false;
    }
    if (o->state == MC_OBJ_PROCESSING) {
        /* the writer may still be moving bytes until the release timeout */
        uint64_t rel = o->aux_ms + m->cfg.put_release_timeout_ms;
        if (rel > now_ms && rel > until) {
            until = rel;
            lease = false;
        }
    }
    unsigned k = 0;
    mc_mutex_lock(&m->cluster_lock);
    for (unsigned i = 0; i < o->nrep; i++) {
        if (mcm_rep_is_disk(&o->rep[i])) {
            o->rep[k++] = o->rep[i]; /* disk replicas stay (mcm_obj_disk_drop) */
            continue;
        }
        if (o->rep[i].handle == MC_ALLOC_INVALID_HANDLE)
            continue;
        if (until > now_ms)
            mcm_retire_rep_locked(m, &o->rep[i], until, lease);
        else
            mcm_free_rep_locked(m, &o->rep[i]);
    }
    mc_mutex_unlock(&m->cluster_lock);
    o->nrep = (uint8_t)k;
}

void mcm_obj_drop(mc_master_t *m, mcm_shard_t *sh, mcm_obj_t *o, uint64_t now_ms)
{
    uint64_t hold_until = (o->flags & OBJ_F_HELD) ? mcm_holds_detach(m, sh, o, now_ms) : 0;
    mcm_obj_disk_drop(m, o); /* drop tasks: the owners reclaim the space */
    mcm_obj_release_buffers(m, o, now_ms, hold_until);
    mcm_unlink(sh, o);
    atomic_fetch_sub_explicit(&m->st.objects, 1, memory_order_relaxed);
    if (o->state == MC_OBJ_PROCESSING)
        atomic_fetch_sub_explicit(&m->st.processing, 1, memory_order_relaxed);
    if (o->flags & OBJ_F_HARD)
        atomic_fetch_sub_explicit(&m->st.hard_pinned, 1, memory_order_relaxed);
    if (o->flags & OBJ_F_SOFT)
        atomic_fetch_sub_explicit(&m->st.soft_pinned, 1, memory_order_relaxed);
    free(o);
}

/* Fills out with o's replicas on readable segments. Caller holds o's shard
 * lock, which keeps the segments of those replicas alive (master_internal.h). */
void mcm_fill_replicas(mc_master_t *m, mcm_obj_t *o, mc_master_replicas_t *out)
{
    out->size = o->size;
    out->checksum = o->checksum;
    out->has_checksum = (o->flags & OBJ_F_CSUM) != 0;
    out->lease_until_ms = o->lease_until_ms;
    out->n = 0;
    for (unsigned i = 0; i < o->nrep; i++) { /* memory replicas first */
        const mcm_rep_t *r = &o->rep[i];
        if (mcm_rep_is_disk(r) ||
            !atomic_load_explicit(&m->seg_live[r->slot], memory_order_acquire))
            continue;
        const mcm_seg_t *s = mcm_seg_pinned(m, r->slot);
        mc_master_replica_desc_t *d = &out->rep[out->n++];
        d->segment_id = s->info.id;
        d->segment_epoch = s->info.epoch;
        d->offset = r->offset;
        d->addr = s->info.base + r->offset;
        d->size = o->size;
        d->bucket = 0;
        d->segment_slot = r->slot;
        d->type = r->type;
    }
    for (unsigned i = 0; i < o->nrep && out->n < MC_MAX_REPLICAS; i++) { /* then disk */
        const mcm_rep_t *r = &o->rep[i];
        if (!mcm_rep_is_disk(r) || !mcm_rep_live(m, r))
            continue;
        mc_master_replica_desc_t *d = &out->rep[out->n++];
        d->segment_id = mcm_disk_pinned(m, r->slot)->info.client_id;
        d->segment_epoch = 0;
        d->offset = r->offset;
        d->addr = 0;
        d->size = o->size;
        d->bucket = r->bucket;
        d->segment_slot = r->slot;
        d->type = MC_REPLICA_DISK;
    }
}

void mc_master_stats(mc_master_t *m, mc_master_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->objects = atomic_load_explicit(&m->st.objects, memory_order_relaxed);
    out->processing = atomic_load_explicit(&m->st.processing, memory_order_relaxed);
    out->hard_pinned = atomic_load_explicit(&m->st.hard_pinned, memory_order_relaxed);
    out->soft_pinned = atomic_load_explicit(&m->st.soft_pinned, memory_order_relaxed);
    out->leases_granted = atomic_load_explicit(&m->st.leases_granted, memory_order_relaxed);
    out->evicted_objects = atomic_load_explicit(&m->st.evicted_objects, memory_order_relaxed);
    out->evicted_bytes = atomic_load_explicit(&m->st.evicted_bytes, memory_order_relaxed);
    out->put_no_space = atomic_load_explicit(&m->st.put_no_space, memory_order_relaxed);
    out->holds_taken = atomic_load_explicit(&m->st.holds_taken, memory_order_relaxed);
    out->holds_released = atomic_load_explicit(&m->st.holds_released, memory_order_relaxed);
    out->holds_expired = atomic_load_explicit(&m->st.holds_expired, memory_order_relaxed);
    out->holds_refused = atomic_load_explicit(&m->st.holds_refused, memory_order_relaxed);
    out->tasks_queued = atomic_load_explicit(&m->st.tasks_queued, memory_order_relaxed);
    out->tasks_sent = atomic_load_explicit(&m->st.tasks_sent, memory_order_relaxed);
    out->tasks_dropped = atomic_load_explicit(&m->st.tasks_dropped, memory_order_relaxed);
    out->tasks_failed = atomic_load_explicit(&m->st.tasks_failed, memory_order_relaxed);
    out->offloaded = atomic_load_explicit(&m->st.offloaded, memory_order_relaxed);
    mc_mutex_lock(&m->cluster_lock);
    out->disks = m->n_disks;
    for (unsigned s = 0; s < MCM_DISK_MAX && m->n_disks; s++) {
        const mcm_disk_t *d = m->disks[s];
        if (!d)
            continue;
        out->disk_capacity += d->info.capacity;
        out->disk_used += d->info.used;
        out->disk_replicas += d->info.replicas;
    }
    out->capacity = m->capacity;
    out->used = m->used;
    out->retired_bytes = m->retired_bytes;
    out->segments = m->n_segs;
    out->clients = m->n_clients;
    mc_mutex_unlock(&m->cluster_lock);
}
