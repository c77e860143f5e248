/* Objects: two-phase put, upsert, reads with leases, removal, batch forms.
 *
 * Each operation is a do_* function that runs with its key's shard lock held;
 * the single-key API locks one shard around it, the batch API groups keys by
 * shard and takes each shard lock once (batch_run). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "master_internal.h"
#include "master_regex.h"
#include "mc/buf.h"
#include "mc/errors.h"
#include "mc/strutil.h"

#define STAT_ADD(m, field, v) atomic_fetch_add_explicit(&(m)->st.field, (v), memory_order_relaxed)
#define STAT_SUB(m, field, v) atomic_fetch_sub_explicit(&(m)->st.field, (v), memory_order_relaxed)

static bool key_ok(const char *key, size_t len)
{
    return key && len <= UINT16_MAX && mc_key_validate(key, len, MC_MAX_KEY_LEN) == MC_OK;
}

static bool put_cfg_ok(const mc_master_put_cfg_t *cfg)
{
    if (!cfg || cfg->replica_num == 0 || cfg->replica_num > MC_MAX_REPLICAS)
        return false;
    if (cfg->n_preferred > MC_MASTER_MAX_PREFERRED)
        return false;
    return cfg->n_preferred == 0 || cfg->preferred_segments != NULL;
}

static void grant_lease(mc_master_t *m, mcm_obj_t *o, uint64_t now_ms)
{
    uint64_t until = now_ms + m->cfg.lease_ttl_ms;
    if (o->lease_until_ms <= now_ms) /* a new lease: nobody reads under the old one */
        o->flags = (uint8_t)(o->flags & ~(OBJ_F_BARE | OBJ_F_OWNED));
    if (until > o->lease_until_ms)
        o->lease_until_ms = until;
    STAT_ADD(m, leases_granted, 1);
}

/* A readable replica, memory or disk. */
static bool has_live_replica(mc_master_t *m, const mcm_obj_t *o)
{
    for (unsigned i = 0; i < o->nrep; i++)
        if (mcm_rep_live(m, &o->rep[i]))
            return true;
    return false;
}

static bool has_live_memory(mc_master_t *m, const mcm_obj_t *o)
{
    for (unsigned i = 0; i < o->nrep; i++)
        if (!mcm_rep_is_disk(&o->rep[i]) && mcm_rep_live(m, &o->rep[i]))
            return true;
    return false;
}

static void set_pins(mc_master_t *m, mcm_obj_t *o, const mc_master_put_cfg_t *cfg)
{
    uint8_t want = (uint8_t)((cfg->hard_pin ? OBJ_F_HARD : 0) | (cfg->soft_pin ? OBJ_F_SOFT : 0));
    uint8_t had = o->flags & (OBJ_F_HARD | OBJ_F_SOFT);
    if ((had ^ want) & OBJ_F_HARD) {
        if (want & OBJ_F_HARD)
            STAT_ADD(m, hard_pinned, 1);
        else
            STAT_SUB(m, hard_pinned, 1);
    }
    if ((had ^ want) & OBJ_F_SOFT) {
        if (want & OBJ_F_SOFT)
            STAT_ADD(m, soft_pinned, 1);
        else
            STAT_SUB(m, soft_pinned, 1);
    }
    o->flags = (uint8_t)((o->flags & ~(OBJ_F_HARD | OBJ_F_SOFT)) | want);
}

/* ---- put ------------------------------------------------------------------- */

typedef struct put_args {
    mc_uuid_t client;
    const mc_master_put_cfg_t *cfg;
    uint64_t now_ms;
    bool upsert;
} put_args_t;

/* Rewrites a complete, unleased object of the same size in place. Its disk
 * replicas hold the old value: they go (drop tasks to their owners). */
static void upsert_in_place(mc_master_t *m, mcm_obj_t *o, const put_args_t *a)
{
    mcm_obj_disk_drop(m, o);
    o->flags &= (uint8_t)~OBJ_F_PERSIST;
    o->state = MC_OBJ_PROCESSING;
    o->aux_ms = a->now_ms;
    o->owner = a->client;
    o->flags &= (uint8_t)~OBJ_F_CSUM;
    set_pins(m, o, a->cfg);
    STAT_ADD(m, processing, 1);
}

/* Places fresh buffers and links a new PROCESSING object, replacing old (a
 * zombie put or an upsert victim, whose buffers are retired) if given. */
static int put_new(mc_master_t *m, mcm_shard_t *sh, uint64_t hash, const char *key, size_t len,
                   uint64_t size, const put_args_t *a, mcm_obj_t *old, mcm_obj_t **out)
    MC_REQUIRES(sh->lock)
{
    mcm_rep_t reps[MC_MAX_REPLICAS];
    uint32_t n = 0;
    mc_mutex_lock(&m->cluster_lock);
    int rc = mcm_place_locked(m, size, a->cfg, reps, &n);
    mc_mutex_unlock(&m->cluster_lock);
    if (rc != MC_OK) {
        STAT_ADD(m, put_no_space, 1);
        mcm_signal_pressure(m);
        return rc;
    }
    mcm_obj_t *o = malloc(sizeof(*o) + n * sizeof(mcm_rep_t) + len + 1);
    if (!o) {
        mc_mutex_lock(&m->cluster_lock);
        for (uint32_t i = 0; i < n; i++)
            mcm_free_rep_locked(m, &reps[i]);
        mc_mutex_unlock(&m->cluster_lock);
        return MC_INTERNAL_ERROR;
    }
    if (old)
        mcm_obj_drop(m, sh, old, a->now_ms);
    memset(o, 0, sizeof(*o));
    o->size = size;
    o->atime_ms = a->now_ms;
    o->aux_ms = a->now_ms;
    o->owner = a->client;
    o->hash_hi = (uint32_t)(hash >> 32);
    o->key_len = (uint16_t)len;
    o->state = MC_OBJ_PROCESSING;
    o->nrep = o->rep_cap = (uint8_t)n;
    memcpy(o->rep, reps, n * sizeof(mcm_rep_t));
    memcpy(mcm_obj_key(o), key, len);
    mcm_obj_key(o)[len] = '\0';
    set_pins(m, o, a->cfg);
    mcm_insert(sh, o);
    STAT_ADD(m, objects, 1);
    STAT_ADD(m, processing, 1);
    *out = o;
    return MC_OK;
}

static int do_put_start(mc_master_t *m, mcm_shard_t *sh, uint64_t hash, const char *key, size_t len,
                        uint64_t size, const put_args_t *a, mc_master_replicas_t *out)
    MC_REQUIRES(sh->lock)
{
    mcm_obj_t *o = mcm_find(sh, hash, key, len);
    mcm_obj_t *old = NULL;
    if (o && o->state == MC_OBJ_COMPLETE) {
        if (!a->upsert)
            return MC_OBJECT_ALREADY_EXISTS;
        if (size == o->size && !mcm_obj_leased(o, a->now_ms) && !mcm_obj_held(sh, o, a->now_ms) &&
            o->nrep > 0 && has_live_memory(m, o)) {
            upsert_in_place(m, o, a);
            goto done;
        }
        old = o;
    } else if (o) {
        if (a->now_ms < o->aux_ms + m->cfg.put_discard_timeout_ms)
            return a->upsert ? MC_OBJECT_HAS_REPLICATION_TASK : MC_OBJECT_ALREADY_EXISTS;
        old = o; /* zombie put: take it over */
    }
    int rc = put_new(m, sh, hash, key, len, size, a, old, &o);
    if (rc != MC_OK)
        return rc;
done:
    if (out) {
        mcm_fill_replicas(m, o, out);
        out->lease_until_ms = 0;
    }
    return MC_OK;
}

static int put_start_common(mc_master_t *m, mc_uuid_t client, const char *key, size_t key_len,
                            uint64_t size, const mc_master_put_cfg_t *cfg, uint64_t now_ms,
                            bool upsert, mc_master_replicas_t *out)
{
    if (!m || !put_cfg_ok(cfg) || size == 0)
        return MC_INVALID_PARAMS;
    if (!key_ok(key, key_len))
        return MC_INVALID_KEY;
    put_args_t a = {.client = client, .cfg = cfg, .now_ms = now_ms, .upsert = upsert};
    uint64_t h = mcm_hash(key, key_len);
    mcm_shard_t *sh = mcm_shard_of(m, h);
    uint64_t runs = mcm_evict_runs(m);
    for (int attempt = 0;; attempt++) {
        mc_mutex_lock(&sh->lock);
        int rc = do_put_start(m, sh, h, key, key_len, size, &a, out);
        mc_mutex_unlock(&sh->lock);
        if (rc != MC_NO_AVAILABLE_HANDLE || attempt > 0 ||
            !mcm_evict_for_put(m, now_ms, size * cfg->replica_num, runs))
            return rc;
    }
}

int mc_master_put_start(mc_master_t *m, mc_uuid_t client, const char *key, size_t key_len,
                        uint64_t size, const mc_master_put_cfg_t *cfg, uint64_t now_ms,
                        mc_master_replicas_t *out)
{
    return put_start_common(m, client, key, key_len, size, cfg, now_ms, false, out);
}

int mc_master_upsert_start(mc_master_t *m, mc_uuid_t client, const char *key, size_t key_len,
                           uint64_t size, const mc_master_put_cfg_t *cfg, uint64_t now_ms,
                           mc_master_replicas_t *out)
{
    return put_start_common(m, client, key, key_len, size, cfg, now_ms, true, out);
}

static int do_put_end(mc_master_t *m, mcm_shard_t *sh, uint64_t hash, const char *key, size_t len,
                      mc_uuid_t client, bool has_csum, uint32_t csum, uint64_t now)
    MC_REQUIRES(sh->lock)
{
    mcm_obj_t *o = mcm_find(sh, hash, key, len);
    if (!o)
        return MC_OBJECT_NOT_FOUND;
    if (!mc_uuid_equal(o->owner, client))
        return MC_ILLEGAL_CLIENT;
    if (o->state == MC_OBJ_COMPLETE)
        return MC_OK;
    o->state = MC_OBJ_COMPLETE;
    STAT_SUB(m, processing, 1);
    o->atime_ms = now;
    o->aux_ms = (o->flags & OBJ_F_SOFT) ? now + m->cfg.soft_pin_ttl_ms : now; /* residency */
    if (has_csum) {
        o->flags |= OBJ_F_CSUM;
        o->checksum = csum;
    }
    mcm_lru_rotate_head(sh, o);
    if (m->cfg.enable_offload) /* write-behind: the owner persists it */
        mcm_offload_locked(m, sh, o, now);
    return MC_OK;
}

static int do_put_revoke(mc_master_t *m, mcm_shard_t *sh, uint64_t hash, const char *key,
                         size_t len, mc_uuid_t client, uint64_t now_ms) MC_REQUIRES(sh->lock)
{
    mcm_obj_t *o = mcm_find(sh, hash, key, len);
    if (!o)
        return MC_OBJECT_NOT_FOUND;
    if (!mc_uuid_equal(o->owner, client))
        return MC_ILLEGAL_CLIENT;
    if (o->state == MC_OBJ_COMPLETE)
        return MC_INVALID_WRITE;
    /* The writer says it is done with the buffers, so they need no release
     * timeout: drop it as a (never leased) complete object, which frees them. */
    o->state = MC_OBJ_COMPLETE;
    STAT_SUB(m, processing, 1);
    mcm_obj_drop(m, sh, o, now_ms);
    return MC_OK;
}

/* Locks the key's shard around one do_* call (single-key API). */
#define WITH_KEY_SHARD(m, key, len, rc, call)     \
    do {                                          \
        uint64_t h_ = mcm_hash((key), (len));     \
        mcm_shard_t *sh_ = mcm_shard_of((m), h_); \
        mc_mutex_lock(&sh_->lock);                \
        (rc) = call;                              \
        mc_mutex_unlock(&sh_->lock);              \
    } while (0)

int mc_master_put_end(mc_master_t *m, mc_uuid_t client, const char *key, size_t key_len,
                      bool has_checksum, uint32_t checksum, uint64_t now_ms)
{
    if (!m)
        return MC_INVALID_PARAMS;
    if (!key_ok(key, key_len))
        return MC_INVALID_KEY;
    int rc;
    WITH_KEY_SHARD(m, key, key_len, rc,
                   do_put_end(m, sh_, h_, key, key_len, client, has_checksum, checksum, now_ms));
    return rc;
}

int mc_master_put_revoke(mc_master_t *m, mc_uuid_t client, const char *key, size_t key_len,
                         uint64_t now_ms)
{
    if (!m)
        return MC_INVALID_PARAMS;
    if (!key_ok(key, key_len))
        return MC_INVALID_KEY;
    int rc;
    WITH_KEY_SHARD(m, key, key_len, rc, do_put_revoke(m, sh_, h_, key, key_len, client, now_ms));
    return rc;
}

/* ---- reads ------------------------------------------------------------------ */

int mcm_get_locked(mc_master_t *m, mcm_shard_t *sh, uint64_t hash, const char *key, size_t len,
                   uint64_t now_ms, bool bare, mc_master_replicas_t *out)
{
    mcm_obj_t *o = mcm_find(sh, hash, key, len);
    if (!o)
        return MC_OBJECT_NOT_FOUND;
    if (o->state != MC_OBJ_COMPLETE)
        return MC_REPLICA_IS_NOT_READY;
    mcm_fill_replicas(m, o, out);
    if (out->n == 0)
        return MC_OBJECT_NOT_FOUND;
    grant_lease(m, o, now_ms);
    if (bare)
        o->flags |= OBJ_F_BARE;
    out->lease_until_ms = o->lease_until_ms;
    o->atime_ms = now_ms;
    if (o->flags & OBJ_F_SOFT)
        o->aux_ms = now_ms + m->cfg.soft_pin_ttl_ms;
    mcm_lru_rotate_head(sh, o);
    return MC_OK;
}

/* Existence grants a lease but is not a use: no LRU move, no atime, no soft
 * pin renewal. Cold objects that are only ever checked for existence can thus
 * still be chosen by eviction (its second pass takes leased objects). */
static bool do_exist(mc_master_t *m, mcm_shard_t *sh, uint64_t hash, const char *key, size_t len,
                     uint64_t now_ms) MC_REQUIRES(sh->lock)
{
    mcm_obj_t *o = mcm_find(sh, hash, key, len);
    if (!o || o->state != MC_OBJ_COMPLETE || !has_live_replica(m, o))
        return false;
    grant_lease(m, o, now_ms);
    return true;
}

int mc_master_get_replica_list(mc_master_t *m, const char *key, size_t key_len, uint64_t now_ms,
                               mc_master_replicas_t *out)
{
    if (!m || !out)
        return MC_INVALID_PARAMS;
    if (!key_ok(key, key_len))
        return MC_INVALID_KEY;
    int rc;
    WITH_KEY_SHARD(m, key, key_len, rc,
                   mcm_get_locked(m, sh_, h_, key, key_len, now_ms, true, out));
    return rc;
}

int mc_master_exist(mc_master_t *m, const char *key, size_t key_len, uint64_t now_ms, bool *exists)
{
    if (!m || !exists)
        return MC_INVALID_PARAMS;
    if (!key_ok(key, key_len))
        return MC_INVALID_KEY;
    bool e;
    WITH_KEY_SHARD(m, key, key_len, e, do_exist(m, sh_, h_, key, key_len, now_ms));
    *exists = e;
    return MC_OK;
}

static int do_get_size(mc_master_t *m, mcm_shard_t *sh, uint64_t hash, const char *key, size_t len,
                       uint64_t *size) MC_REQUIRES(sh->lock)
{
    mcm_obj_t *o = mcm_find(sh, hash, key, len);
    if (!o || !has_live_replica(m, o))
        return MC_OBJECT_NOT_FOUND;
    if (o->state != MC_OBJ_COMPLETE)
        return MC_REPLICA_IS_NOT_READY;
    *size = o->size;
    return MC_OK;
}

int mc_master_get_size(mc_master_t *m, const char *key, size_t key_len, uint64_t *size)
{
    if (!m || !size)
        return MC_INVALID_PARAMS;
    if (!key_ok(key, key_len))
        return MC_INVALID_KEY;
    int rc;
    WITH_KEY_SHARD(m, key, key_len, rc, do_get_size(m, sh_, h_, key, key_len, size));
    return rc;
}

static void fill_info(mc_master_t *m, mcm_obj_t *o, uint64_t now_ms, mc_master_obj_info_t *out)
{
    memset(out, 0, sizeof(*out));
    out->state = o->state;
    out->hard_pinned = (o->flags & OBJ_F_HARD) != 0;
    out->soft_pinned = mcm_obj_soft_pinned(o, now_ms);
    out->owner = o->owner;
    out->lease_until_ms = o->lease_until_ms;
    out->last_use_ms = o->atime_ms;
    if (o->state == MC_OBJ_PROCESSING)
        out->put_start_ms = o->aux_ms;
    else if (o->flags & OBJ_F_SOFT)
        out->soft_pin_until_ms = o->aux_ms;
    mcm_fill_replicas(m, o, &out->replicas);
}

static int do_query(mc_master_t *m, mcm_shard_t *sh, uint64_t hash, const char *key, size_t len,
                    uint64_t now_ms, mc_master_obj_info_t *out) MC_REQUIRES(sh->lock)
{
    mcm_obj_t *o = mcm_find(sh, hash, key, len);
    if (!o)
        return MC_OBJECT_NOT_FOUND;
    fill_info(m, o, now_ms, out);
    return MC_OK;
}

int mc_master_query(mc_master_t *m, const char *key, size_t key_len, uint64_t now_ms,
                    mc_master_obj_info_t *out)
{
    if (!m || !out)
        return MC_INVALID_PARAMS;
    if (!key_ok(key, key_len))
        return MC_INVALID_KEY;
    int rc;
    WITH_KEY_SHARD(m, key, key_len, rc, do_query(m, sh_, h_, key, key_len, now_ms, out));
    return rc;
}

void mc_master_foreach_key(mc_master_t *m, mc_master_key_fn fn, void *arg)
{
    int stop = 0;
    for (unsigned i = 0; i < MCM_SHARDS && !stop; i++) {
        mcm_shard_t *sh = &m->shards[i];
        mc_mutex_lock(&sh->lock);
        for (mcm_obj_t *o = sh->lru_head; o && !stop; o = o->lru_next)
            stop = fn(mcm_obj_key(o), o->key_len, o->state, arg);
        mc_mutex_unlock(&sh->lock);
    }
}

/* ---- removal ---------------------------------------------------------------- */

static int do_remove(mc_master_t *m, mcm_shard_t *sh, uint64_t hash, const char *key, size_t len,
                     bool force, uint64_t now_ms) MC_REQUIRES(sh->lock)
{
    mcm_obj_t *o = mcm_find(sh, hash, key, len);
    if (!o)
        return MC_OBJECT_NOT_FOUND;
    if (!force && o->state != MC_OBJ_COMPLETE)
        return MC_REPLICA_IS_NOT_READY;
    if (!force && (mcm_obj_leased(o, now_ms) || mcm_obj_held(sh, o, now_ms)))
        return MC_OBJECT_HAS_LEASE;
    mcm_obj_drop(m, sh, o, now_ms); /* retires buffers a reader or writer may touch */
    return MC_OK;
}

int mc_master_remove(mc_master_t *m, const char *key, size_t key_len, bool force, uint64_t now_ms)
{
    if (!m)
        return MC_INVALID_PARAMS;
    if (!key_ok(key, key_len))
        return MC_INVALID_KEY;
    int rc;
    WITH_KEY_SHARD(m, key, key_len, rc, do_remove(m, sh_, h_, key, key_len, force, now_ms));
    return rc;
}

/* What remove_by_regex and remove_all may drop (without force: no lease, no hold). */
static bool removable(const mcm_shard_t *sh, const mcm_obj_t *o, bool force, uint64_t now_ms)
    MC_REQUIRES(sh->lock)
{
    return o->state == MC_OBJ_COMPLETE &&
           (force || (!mcm_obj_leased(o, now_ms) && !mcm_obj_held(sh, o, now_ms)));
}

/* Removes every removable object (remove_all: no matching, so each shard is
 * done in one hold of its lock). */
static uint64_t remove_every(mc_master_t *m, bool force, uint64_t now_ms)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < MCM_SHARDS; i++) {
        mcm_shard_t *sh = &m->shards[i];
        mc_mutex_lock(&sh->lock);
        mcm_obj_t *o = sh->lru_head;
        while (o) {
            mcm_obj_t *next = o->lru_next;
            if (removable(sh, o, force, now_ms)) {
                mcm_obj_drop(m, sh, o, now_ms);
                n++;
            }
            o = next;
        }
        mc_mutex_unlock(&sh->lock);
    }
    return n;
}

/* remove_by_regex never matches under a lock: for each shard it copies the
 * keys of up to RX_CHUNK_KEYS removable objects (about RX_CHUNK_BYTES) under
 * the lock, releases it, matches them, then takes the lock again and drops
 * those that matched and are still present and removable. Puts and gets of the
 * shard wait for one copy or one drop of a chunk, never for a match.
 *
 * The walk of a shard between chunks is a cursor over its buckets in
 * reverse-binary order (redis's dictScan): an object present from the start to
 * the end of the walk is visited at least once even when the bucket array
 * doubles in between (it only grows; shard_grow). Objects added meanwhile may
 * or may not be seen; one visited twice is matched twice, dropped once. */
#define RX_CHUNK_KEYS 256u
#define RX_CHUNK_BYTES (64u * 1024u)

/* A copied key in the chunk buffer: this header, then key_len bytes. */
typedef struct rx_rec {
    uint32_t hash_hi;
    uint16_t key_len;
    uint8_t hit;
} rx_rec_t;

static uint32_t rev32(uint32_t v)
{
    v = ((v >> 1) & 0x55555555u) | ((v & 0x55555555u) << 1);
    v = ((v >> 2) & 0x33333333u) | ((v & 0x33333333u) << 2);
    v = ((v >> 4) & 0x0f0f0f0fu) | ((v & 0x0f0f0f0fu) << 4);
    v = ((v >> 8) & 0x00ff00ffu) | ((v & 0x00ff00ffu) << 8);
    return (v >> 16) | (v << 16);
}

/* The bucket after v (under mask) in reverse-binary order; 0 = walk done. */
static uint32_t scan_next(uint32_t v, uint32_t mask)
{
    v |= ~mask;
    return rev32(rev32(v) + 1u);
}

/* Copies removable keys from *cursor on, whole buckets at a time, until the
 * chunk is full or the walk ends (*cursor = 0). */
static int rx_collect_locked(mcm_shard_t *sh, uint32_t *cursor, bool force, uint64_t now_ms,
                             mc_buf_t *b) MC_REQUIRES(sh->lock)
{
    uint32_t mask = sh->nbuckets - 1u, v = *cursor, n = 0;
    do {
        for (mcm_obj_t *o = sh->buckets[v & mask]; o; o = o->hnext) {
            if (!removable(sh, o, force, now_ms))
                continue;
            rx_rec_t r = {.hash_hi = o->hash_hi, .key_len = o->key_len};
            mc_buf_append(b, &r, sizeof(r));
            mc_buf_append(b, mcm_obj_key(o), o->key_len);
            n++;
        }
        v = scan_next(v, mask);
    } while (v != 0 && n < RX_CHUNK_KEYS && b->len < RX_CHUNK_BYTES);
    *cursor = v;
    return b->err;
}

/* Marks the records whose key matches; no lock held. */
static int rx_match(mcm_regex_t *re, mc_buf_t *b, mc_errmsg_t *err)
{
    for (size_t at = 0; at < b->len;) {
        rx_rec_t r;
        memcpy(&r, b->data + at, sizeof(r));
        int rc = mcm_regex_search(re, b->data + at + sizeof(r), r.key_len, err);
        if (rc < 0)
            return rc;
        b->data[at + offsetof(rx_rec_t, hit)] = (char)rc;
        at += sizeof(r) + r.key_len;
    }
    return MC_OK;
}

static uint64_t rx_drop_locked(mc_master_t *m, mcm_shard_t *sh, const mc_buf_t *b, bool force,
                               uint64_t now_ms) MC_REQUIRES(sh->lock)
{
    uint64_t n = 0;
    for (size_t at = 0; at < b->len;) {
        rx_rec_t r;
        memcpy(&r, b->data + at, sizeof(r));
        const char *key = b->data + at + sizeof(r);
        at += sizeof(r) + r.key_len;
        if (!r.hit)
            continue;
        mcm_obj_t *o = mcm_find(sh, (uint64_t)r.hash_hi << 32, key, r.key_len);
        if (o && removable(sh, o, force, now_ms)) {
            mcm_obj_drop(m, sh, o, now_ms);
            n++;
        }
    }
    return n;
}

static int rx_remove_shard(mc_master_t *m, mcm_shard_t *sh, mcm_regex_t *re, bool force,
                           uint64_t now_ms, mc_buf_t *b, uint64_t *n, mc_errmsg_t *err)
{
    uint32_t cursor = 0;
    do {
        b->len = 0;
        mc_mutex_lock(&sh->lock);
        int rc = sh->count ? rx_collect_locked(sh, &cursor, force, now_ms, b) : MC_OK;
        if (!sh->count)
            cursor = 0;
        mc_mutex_unlock(&sh->lock);
        if (rc != MC_OK)
            return mc_fail(err, MC_INTERNAL_ERROR, "out of memory");
        if (b->len == 0)
            continue;
        if ((rc = rx_match(re, b, err)) != MC_OK)
            return rc;
        mc_mutex_lock(&sh->lock);
        *n += rx_drop_locked(m, sh, b, force, now_ms);
        mc_mutex_unlock(&sh->lock);
    } while (cursor != 0);
    return MC_OK;
}

int mc_master_remove_by_regex(mc_master_t *m, const char *pattern, bool force, uint64_t now_ms,
                              uint64_t *n_removed, mc_errmsg_t *err)
{
    if (!m || !pattern)
        return mc_fail(err, MC_INVALID_PARAMS, "no regular expression");
    mcm_regex_t *re;
    int rc = mcm_regex_create(pattern, strlen(pattern), &re, err);
    if (rc != MC_OK)
        return rc;
    mc_buf_t b;
    mc_buf_init(&b, 0);
    uint64_t n = 0;
    for (unsigned i = 0; i < MCM_SHARDS && rc == MC_OK; i++)
        rc = rx_remove_shard(m, &m->shards[i], re, force, now_ms, &b, &n, err);
    mc_buf_cleanup(&b);
    mcm_regex_destroy(re);
    if (rc == MC_OK && n_removed)
        *n_removed = n;
    return rc;
}

int mc_master_remove_all(mc_master_t *m, bool force, uint64_t now_ms, uint64_t *n_removed)
{
    if (!m)
        return MC_INVALID_PARAMS;
    uint64_t n = remove_every(m, force, now_ms);
    if (n_removed)
        *n_removed = n;
    return MC_OK;
}

/* ---- batch forms --------------------------------------------------------------- */

/* Called once per key with its shard locked, or with sh == NULL for an invalid key.
 * (The analysis does not check calls through a pointer; each b_* function
 * says MC_REQUIRES(sh->lock) itself.) */
typedef mcm_batch_fn batch_fn;

typedef struct batch_slot {
    uint64_t hash;
    uint32_t shard; /* MCM_SHARDS = invalid key */
} batch_slot_t;

/* Groups keys by shard (counting sort) and takes each shard lock once. */
int mcm_batch_run(mc_master_t *m, const char *(*key_at)(const void *, size_t, size_t *),
                  const void *keys, size_t n, batch_fn fn, void *ctx)
{
    if (n == 0)
        return MC_OK;
    if (n > UINT32_MAX)
        return MC_INVALID_PARAMS;
    batch_slot_t *slots = malloc(n * sizeof(*slots));
    uint32_t *order = malloc(n * sizeof(*order));
    uint32_t *start = calloc(MCM_SHARDS + 1u, sizeof(*start));
    if (!slots || !order || !start) {
        free(slots);
        free(order);
        free(start);
        return MC_INTERNAL_ERROR;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *k = key_at(keys, i, &len);
        slots[i].shard = MCM_SHARDS;
        if (!key_ok(k, len)) {
            fn(m, NULL, 0, i, ctx);
            continue;
        }
        slots[i].hash = mcm_hash(k, len);
        slots[i].shard = (uint32_t)(slots[i].hash & (MCM_SHARDS - 1u));
        start[slots[i].shard + 1u]++;
    }
    for (unsigned s = 0; s < MCM_SHARDS; s++)
        start[s + 1u] += start[s];
    uint32_t total = start[MCM_SHARDS];
    for (size_t i = 0; i < n; i++)
        if (slots[i].shard < MCM_SHARDS)
            order[start[slots[i].shard]++] = (uint32_t)i; /* start[s] becomes end[s] */
    for (uint32_t j = 0; j < total;) {
        uint32_t s = slots[order[j]].shard;
        mcm_shard_t *sh = &m->shards[s];
        mc_mutex_lock(&sh->lock);
        for (; j < total && slots[order[j]].shard == s; j++)
            fn(m, sh, slots[order[j]].hash, order[j], ctx);
        mc_mutex_unlock(&sh->lock);
    }
    free(slots);
    free(order);
    free(start);
    return MC_OK;
}

static const char *item_key(const void *items, size_t i, size_t *len)
{
    const mc_master_put_item_t *it = &((const mc_master_put_item_t *)items)[i];
    *len = it->len;
    return it->key;
}

static const char *plain_key(const void *keys, size_t i, size_t *len)
{
    const mc_master_key_t *k = &((const mc_master_key_t *)keys)[i];
    *len = k->len;
    return k->key;
}

typedef struct batch_ctx {
    put_args_t put;
    mc_master_put_item_t *items;
    const mc_master_key_t *keys;
    mc_master_replicas_t *reps;
    bool *exists;
    int *rc;
    bool force;
    bool retry; /* batch put_start after an eviction: only the keys that had no room */
} batch_ctx_t;

static void b_put_start(mc_master_t *m, mcm_shard_t *sh, uint64_t h, size_t i, void *ctx)
    MC_REQUIRES(sh->lock)
{
    batch_ctx_t *c = ctx;
    mc_master_put_item_t *it = &c->items[i];
    if (c->retry && it->rc != MC_NO_AVAILABLE_HANDLE)
        return;
    it->replicas.n = 0;
    if (!sh)
        it->rc = MC_INVALID_KEY;
    else if (it->size == 0)
        it->rc = MC_INVALID_PARAMS;
    else
        it->rc = do_put_start(m, sh, h, it->key, it->len, it->size, &c->put, &it->replicas);
}

static void b_put_end(mc_master_t *m, mcm_shard_t *sh, uint64_t h, size_t i, void *ctx)
    MC_REQUIRES(sh->lock)
{
    batch_ctx_t *c = ctx;
    mc_master_put_item_t *it = &c->items[i];
    it->rc = sh ? do_put_end(m, sh, h, it->key, it->len, c->put.client, it->has_checksum,
                             it->checksum, c->put.now_ms)
                : MC_INVALID_KEY;
}

static void b_put_revoke(mc_master_t *m, mcm_shard_t *sh, uint64_t h, size_t i, void *ctx)
    MC_REQUIRES(sh->lock)
{
    batch_ctx_t *c = ctx;
    mc_master_put_item_t *it = &c->items[i];
    it->rc = sh ? do_put_revoke(m, sh, h, it->key, it->len, c->put.client, c->put.now_ms)
                : MC_INVALID_KEY;
}

static void b_get(mc_master_t *m, mcm_shard_t *sh, uint64_t h, size_t i, void *ctx)
    MC_REQUIRES(sh->lock)
{
    batch_ctx_t *c = ctx;
    c->reps[i].n = 0;
    c->rc[i] = sh ? mcm_get_locked(m, sh, h, c->keys[i].key, c->keys[i].len, c->put.now_ms, true,
                                   &c->reps[i])
                  : MC_INVALID_KEY;
}

static void b_exist(mc_master_t *m, mcm_shard_t *sh, uint64_t h, size_t i, void *ctx)
    MC_REQUIRES(sh->lock)
{
    batch_ctx_t *c = ctx;
    c->exists[i] = sh && do_exist(m, sh, h, c->keys[i].key, c->keys[i].len, c->put.now_ms);
    c->rc[i] = sh ? MC_OK : MC_INVALID_KEY;
}

static void b_remove(mc_master_t *m, mcm_shard_t *sh, uint64_t h, size_t i, void *ctx)
    MC_REQUIRES(sh->lock)
{
    batch_ctx_t *c = ctx;
    c->rc[i] = sh ? do_remove(m, sh, h, c->keys[i].key, c->keys[i].len, c->force, c->put.now_ms)
                  : MC_INVALID_KEY;
}

int mcm_batch_run_keys(mc_master_t *m, const mc_master_key_t *keys, size_t n, mcm_batch_fn fn,
                       void *ctx)
{
    return mcm_batch_run(m, plain_key, keys, n, fn, ctx);
}

int mc_master_batch_put_start(mc_master_t *m, mc_uuid_t client, mc_master_put_item_t *items,
                              size_t n, const mc_master_put_cfg_t *cfg, uint64_t now_ms)
{
    if (!m || (!items && n) || !put_cfg_ok(cfg))
        return MC_INVALID_PARAMS;
    batch_ctx_t c = {.put = {.client = client, .cfg = cfg, .now_ms = now_ms}, .items = items};
    uint64_t runs = mcm_evict_runs(m), short_bytes = 0;
    int rc = mcm_batch_run(m, item_key, items, n, b_put_start, &c);
    for (size_t i = 0; rc == MC_OK && i < n; i++)
        if (items[i].rc == MC_NO_AVAILABLE_HANDLE)
            short_bytes += items[i].size * cfg->replica_num;
    if (short_bytes == 0 || !mcm_evict_for_put(m, now_ms, short_bytes, runs))
        return rc;
    c.retry = true; /* placed again: only the keys that had no room */
    return mcm_batch_run(m, item_key, items, n, b_put_start, &c);
}

int mc_master_batch_put_end(mc_master_t *m, mc_uuid_t client, mc_master_put_item_t *items, size_t n,
                            uint64_t now_ms)
{
    if (!m || (!items && n))
        return MC_INVALID_PARAMS;
    batch_ctx_t c = {.put = {.client = client, .now_ms = now_ms}, .items = items};
    return mcm_batch_run(m, item_key, items, n, b_put_end, &c);
}

int mc_master_batch_put_revoke(mc_master_t *m, mc_uuid_t client, mc_master_put_item_t *items,
                               size_t n, uint64_t now_ms)
{
    if (!m || (!items && n))
        return MC_INVALID_PARAMS;
    batch_ctx_t c = {.put = {.client = client, .now_ms = now_ms}, .items = items};
    return mcm_batch_run(m, item_key, items, n, b_put_revoke, &c);
}

int mc_master_batch_get_replica_list(mc_master_t *m, const mc_master_key_t *keys, size_t n,
                                     uint64_t now_ms, mc_master_replicas_t *out, int *rc)
{
    if (!m || (n && (!keys || !out || !rc)))
        return MC_INVALID_PARAMS;
    batch_ctx_t c = {.put = {.now_ms = now_ms}, .keys = keys, .reps = out, .rc = rc};
    return mcm_batch_run(m, plain_key, keys, n, b_get, &c);
}

int mc_master_batch_exist(mc_master_t *m, const mc_master_key_t *keys, size_t n, uint64_t now_ms,
                          bool *exists, int *rc)
{
    if (!m || (n && (!keys || !exists || !rc)))
        return MC_INVALID_PARAMS;
    batch_ctx_t c = {.put = {.now_ms = now_ms}, .keys = keys, .exists = exists, .rc = rc};
    return mcm_batch_run(m, plain_key, keys, n, b_exist, &c);
}

int mc_master_batch_remove(mc_master_t *m, const mc_master_key_t *keys, size_t n, bool force,
                           uint64_t now_ms, int *rc)
{
    if (!m || (n && (!keys || !rc)))
        return MC_INVALID_PARAMS;
    batch_ctx_t c = {.put = {.now_ms = now_ms}, .keys = keys, .rc = rc, .force = force};
    return mcm_batch_run(m, plain_key, keys, n, b_remove, &c);
}
