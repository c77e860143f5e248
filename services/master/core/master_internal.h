/* Internal structures of the master core, shared by its .c files only.
 *
 * LOCKS (the only place they are described)
 *
 *   shards[i].lock   one per shard of the object map: the hash table, the LRU
 *                    list and every field of the objects in that shard.
 *   cluster_lock     the segment table, every segment's allocator, the client
 *                    table, the retired-buffer list and the RNG.
 *   pressure_lock    leaf: the "a put could not be placed" flag and its condvar.
 *   evict_lock       one eviction run at a time (the background thread's, or
 *                    a put's that could not be placed); taken holding nothing.
 *
 *   Order: evict -> shard -> cluster -> pressure. Never hold two shard locks
 *   at once; never take a shard lock while holding cluster_lock.
 *
 *   seg_live[slot] is written under cluster_lock and read without it by readers
 *   that hold a shard lock. The immutable fields of a segment (id, base, size,
 *   epoch) may be read under a shard lock as long as an object of that shard
 *   holds a replica on the slot: unmount drops those replicas, shard by shard,
 *   before it frees the segment (see seg.c, sweep_slot).
 *
 *   A replica's buffer is freed only under the shard lock of the object that
 *   owns it (plus cluster_lock), or, once retired, from the retired list under
 *   cluster_lock. That is what makes the sweep argument above hold.
 *
 *   Counters in `st` are relaxed atomics: read by stats without locks.
 *
 *   The fields below carry these rules as MC_GUARDED_BY and the functions as
 *   MC_REQUIRES (mc/thread.h), checked by clang (scripts/threadsafety.sh).
 *   Object fields are guarded by their shard's lock, which an annotation
 *   cannot name; the functions that touch them require sh->lock. */
#ifndef MC_MASTER_INTERNAL_H
#define MC_MASTER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "allocator.h"
#include "master_core.h"
#include "mc/thread.h"

#define MCM_SHARDS 1024u
#define MCM_SEG_MAX 4096u /* slots fit in uint16_t */

/* A replica: 16 bytes. */
typedef struct mcm_rep {
    uint64_t offset;
    uint32_t handle; /* allocator handle (MC_ALLOC_INVALID_HANDLE if none) */
    uint16_t slot;
    uint8_t type;
    uint8_t unused;
} mcm_rep_t;

enum {
    OBJ_F_HARD = 1u,
    OBJ_F_SOFT = 2u,
    OBJ_F_CSUM = 4u,
    OBJ_F_HELD = 8u, /* the shard's hold list has an entry for this object */
    /* The running lease may be used without a hold: it was granted to a get
     * without one. Eviction retires the buffers until the lease ends instead
     * of freeing them. Cleared when a new lease starts. */
    OBJ_F_BARE = 16u,
    /* A hold-get by the owner of one of the object's segments: its lease
     * cache may serve the bytes, unheld, for MC_LEASE_CACHE_MS after the get
     * while it cannot reach the master. Eviction retires the buffers until
     * then (the latest grant is lease_until - lease_ttl). Cleared likewise. */
    OBJ_F_OWNED = 32u,
};

/* An object: 88 bytes of header, rep_cap replicas, then the key and a NUL. */
typedef struct mcm_obj {
    struct mcm_obj *hnext;               /* hash chain */
    struct mcm_obj *lru_prev, *lru_next; /* prev = warmer, next = colder */
    uint64_t size;
    uint64_t atime_ms; /* last put_end or get: the LRU clock */
    uint64_t lease_until_ms;
    uint64_t aux_ms;  /* PROCESSING: put start; COMPLETE: soft pin end, or
                       * put_end time when not soft-pinned (residency) */
    mc_uuid_t owner;  /* client that started the last put */
    uint32_t hash_hi; /* upper half of the key hash: bucket index */
    uint32_t checksum;
    uint16_t key_len;
    uint8_t state;
    uint8_t flags;
    uint8_t nrep, rep_cap;
    mcm_rep_t rep[];
} mcm_obj_t;

static inline char *mcm_obj_key(mcm_obj_t *o)
{
    return (char *)(o->rep + o->rep_cap);
}

/* A hold: `count` holds of one client on one object, all ending at until_ms
 * (each new hold renews it). Kept in the object's shard. */
typedef struct mcm_hold {
    mcm_obj_t *obj;
    mc_uuid_t client;
    uint64_t until_ms;
    uint32_t count;
} mcm_hold_t;

typedef struct mcm_shard {
    mc_mutex_t lock;
    mcm_hold_t *holds MC_GUARDED_BY(lock) MC_PT_GUARDED_BY(lock);
    uint32_t n_holds MC_GUARDED_BY(lock), cap_holds MC_GUARDED_BY(lock);
    mcm_obj_t **buckets MC_GUARDED_BY(lock) MC_PT_GUARDED_BY(lock);
    uint32_t nbuckets MC_GUARDED_BY(lock); /* power of two */
    uint32_t count MC_GUARDED_BY(lock);
    mcm_obj_t *lru_head MC_GUARDED_BY(lock); /* head = most recently used */
    mcm_obj_t *lru_tail MC_GUARDED_BY(lock);
} mcm_shard_t;

typedef struct mcm_seg {
    mc_master_segment_info_t info; /* info.used is kept in the allocator */
    mc_alloc_t *alloc;
    uint64_t drain_deadline_ms;
    char secret[MC_MASTER_SECRET_MAX]; /* issued at its first mount (mc_master_mount_secret) */
} mcm_seg_t;

typedef struct mcm_client {
    mc_uuid_t id;
    uint64_t last_seen_ms;
    uint64_t holds; /* holds this client has (or has reserved) in all shards */
} mcm_client_t;

/* A buffer whose object is gone but which a reader (lease) or a late writer
 * (zombie put) may still touch. */
typedef struct mcm_retired {
    uint64_t epoch;
    uint64_t free_after_ms;
    uint64_t bytes;
    uint32_t handle;
    uint16_t slot;
    uint8_t lease; /* 1 = waits for a lease (counts toward eviction progress) */
} mcm_retired_t;

typedef struct mcm_stats {
    _Atomic uint64_t objects, processing, hard_pinned, soft_pinned;
    _Atomic uint64_t leases_granted, evicted_objects, evicted_bytes, put_no_space;
    _Atomic uint64_t holds_taken, holds_released, holds_expired, holds_refused;
} mcm_stats_t;

struct mc_master {
    mc_master_cfg_t cfg;
    mcm_shard_t shards[MCM_SHARDS];

    mc_mutex_t cluster_lock; /* guards the fields down to `pressure_lock` */
    mcm_seg_t *segs[MCM_SEG_MAX] MC_GUARDED_BY(cluster_lock);
    uint16_t placeable[MCM_SEG_MAX] MC_GUARDED_BY(cluster_lock); /* slots in state MOUNTED */
    uint32_t n_placeable MC_GUARDED_BY(cluster_lock);
    uint32_t n_segs MC_GUARDED_BY(cluster_lock);
    uint64_t next_epoch MC_GUARDED_BY(cluster_lock);
    /* over MOUNTED and DRAINING segments */
    uint64_t capacity MC_GUARDED_BY(cluster_lock), used MC_GUARDED_BY(cluster_lock);
    mcm_client_t *clients MC_GUARDED_BY(cluster_lock) MC_PT_GUARDED_BY(cluster_lock);
    size_t n_clients MC_GUARDED_BY(cluster_lock), cap_clients MC_GUARDED_BY(cluster_lock);
    mcm_retired_t *retired MC_GUARDED_BY(cluster_lock) MC_PT_GUARDED_BY(cluster_lock);
    size_t n_retired MC_GUARDED_BY(cluster_lock), cap_retired MC_GUARDED_BY(cluster_lock);
    uint64_t retired_bytes MC_GUARDED_BY(cluster_lock);
    uint64_t retired_lease_bytes MC_GUARDED_BY(cluster_lock);
    uint64_t rng MC_GUARDED_BY(cluster_lock);

    _Atomic uint8_t seg_live[MCM_SEG_MAX]; /* 1 = replicas there are readable */

    mc_mutex_t pressure_lock;
    pthread_cond_t pressure_cond;
    bool pressure MC_GUARDED_BY(pressure_lock);

    mc_mutex_t evict_lock;
    _Atomic uint64_t evict_runs; /* eviction runs that freed or retired something */
    /* when a put's own run last found nothing to free (+1; 0 = never) */
    uint64_t evict_empty_ms MC_GUARDED_BY(evict_lock);

    mcm_stats_t st;
    /* earliest time a put in flight can be due for reclaim: the stale-put
     * scan walks every object and runs only from then on (tick) */
    _Atomic uint64_t next_reclaim_ms;
};

/* ---- master_core.c: shards and objects ---- */
uint64_t mcm_hash(const char *key, size_t len);
mcm_shard_t *mcm_shard_of(mc_master_t *m, uint64_t hash);
/* Caller holds sh->lock. */
mcm_obj_t *mcm_find(mcm_shard_t *sh, uint64_t hash, const char *key, size_t len)
    MC_REQUIRES(sh->lock);
int mcm_insert(mcm_shard_t *sh, mcm_obj_t *o) MC_REQUIRES(sh->lock);
void mcm_unlink(mcm_shard_t *sh, mcm_obj_t *o) MC_REQUIRES(sh->lock);
void mcm_lru_push_head(mcm_shard_t *sh, mcm_obj_t *o) MC_REQUIRES(sh->lock);
void mcm_lru_remove(mcm_shard_t *sh, mcm_obj_t *o) MC_REQUIRES(sh->lock);
void mcm_lru_rotate_head(mcm_shard_t *sh, mcm_obj_t *o) MC_REQUIRES(sh->lock);
/* Frees or retires every buffer of o (free at once when nobody can touch it,
 * else retire until its lease / release timeout), then unlinks and frees o.
 * Caller holds sh->lock; takes cluster_lock. */
void mcm_obj_drop(mc_master_t *m, mcm_shard_t *sh, mcm_obj_t *o, uint64_t now_ms)
    MC_REQUIRES(sh->lock) MC_EXCLUDES(m->cluster_lock);
/* Same for the buffers only; o keeps nrep = 0. Buffers are kept at least
 * until hold_until_ms (the end of the holds the object had). */
void mcm_obj_release_buffers(mc_master_t *m, mcm_obj_t *o, uint64_t now_ms, uint64_t hold_until_ms)
    MC_EXCLUDES(m->cluster_lock);
/* Caller holds o's shard lock (which keeps o's segments alive, see LOCKS). */
void mcm_fill_replicas(mc_master_t *m, mcm_obj_t *o, mc_master_replicas_t *out);
/* The segment in a slot where a replica of an object of a shard the caller
 * holds lives: by the sweep rule above it cannot be freed meanwhile, so no
 * cluster_lock is needed for its immutable fields (id, base, size, epoch). */
const mcm_seg_t *mcm_seg_pinned(const mc_master_t *m, uint16_t slot);
bool mcm_obj_leased(const mcm_obj_t *o, uint64_t now_ms);
bool mcm_obj_soft_pinned(const mcm_obj_t *o, uint64_t now_ms);
/* The end of the time in which a reader may copy o's bytes under its lease
 * without a hold (OBJ_F_BARE, OBJ_F_OWNED); at most now_ms when none may. */
static inline uint64_t mcm_obj_unheld_read_end(const mcm_obj_t *o, uint64_t lease_ttl_ms,
                                               uint64_t now_ms)
{
    if (o->lease_until_ms <= now_ms)
        return now_ms;
    if (o->flags & OBJ_F_BARE)
        return o->lease_until_ms;
    if (o->flags & OBJ_F_OWNED) {
        uint64_t end = o->lease_until_ms - lease_ttl_ms + MC_LEASE_CACHE_MS;
        return end < o->lease_until_ms ? end : o->lease_until_ms;
    }
    return now_ms;
}

/* ---- master_seg.c: segments, placement, retired buffers ---- */
/* Places up to cfg->replica_num buffers of size bytes; caller holds
 * cluster_lock. MC_OK with *n >= 1, or MC_NO_AVAILABLE_HANDLE. */
int mcm_place_locked(mc_master_t *m, uint64_t size, const mc_master_put_cfg_t *cfg, mcm_rep_t *reps,
                     uint32_t *n) MC_REQUIRES(m->cluster_lock);
/* Frees one replica buffer; caller holds cluster_lock (and the owner's shard). */
void mcm_free_rep_locked(mc_master_t *m, const mcm_rep_t *r) MC_REQUIRES(m->cluster_lock);
/* Moves one replica buffer to the retired list until free_after_ms; frees it
 * at once if the list cannot grow. Caller holds cluster_lock. */
void mcm_retire_rep_locked(mc_master_t *m, const mcm_rep_t *r, uint64_t free_after_ms, bool lease)
    MC_REQUIRES(m->cluster_lock);
/* Frees retired buffers whose time has come; caller holds cluster_lock. */
uint64_t mcm_release_retired_locked(mc_master_t *m, uint64_t now_ms) MC_REQUIRES(m->cluster_lock);
/* Unmounts a slot completely (sweep + free). Takes the locks itself. */
void mcm_unmount_slot(mc_master_t *m, uint16_t slot) MC_EXCLUDES(m->cluster_lock);
/* Unmounts every segment a client owns (its expiry); returns how many. */
uint64_t mcm_unmount_client(mc_master_t *m, mc_uuid_t client);
/* Finishes graceful unmounts that are due; returns how many. */
uint64_t mcm_finish_drains(mc_master_t *m, uint64_t now_ms);
void mcm_signal_pressure(mc_master_t *m) MC_EXCLUDES(m->pressure_lock);
/* A ping from client: its segments are no longer suspected. */
void mcm_clear_suspected_locked(mc_master_t *m, mc_uuid_t client) MC_REQUIRES(m->cluster_lock);
/* Registers or refreshes a client; caller holds cluster_lock. */
int mcm_client_touch_locked(mc_master_t *m, mc_uuid_t id, uint64_t now_ms)
    MC_REQUIRES(m->cluster_lock);

/* ---- master_objects.c ---- */
/* get_replica_list of one key (lease, LRU, soft pin). bare: the caller takes
 * no hold, so its reader copies under the lease alone (OBJ_F_BARE). Caller
 * holds sh->lock. */
int mcm_get_locked(mc_master_t *m, mcm_shard_t *sh, uint64_t hash, const char *key, size_t len,
                   uint64_t now_ms, bool bare, mc_master_replicas_t *out) MC_REQUIRES(sh->lock);
/* Runs fn(m, sh, hash, i, ctx) for every keys[i], grouped by shard, each shard
 * lock taken once (sh == NULL for an invalid key). */
typedef void (*mcm_batch_fn)(mc_master_t *m, mcm_shard_t *sh, uint64_t hash, size_t i, void *ctx);
int mcm_batch_run_keys(mc_master_t *m, const mc_master_key_t *keys, size_t n, mcm_batch_fn fn,
                       void *ctx);

/* ---- master_holds.c ---- */
/* True when o has a hold that has not expired. Caller holds sh->lock. */
bool mcm_obj_held(const mcm_shard_t *sh, const mcm_obj_t *o, uint64_t now_ms) MC_REQUIRES(sh->lock);
/* Removes every hold on o (it is being dropped) and returns the latest end of
 * those still running (0 if none). Takes cluster_lock to uncount clients. */
uint64_t mcm_holds_detach(mc_master_t *m, mcm_shard_t *sh, mcm_obj_t *o, uint64_t now_ms)
    MC_REQUIRES(sh->lock) MC_EXCLUDES(m->cluster_lock);
/* Tick: drops holds past their TTL and every hold of the dead clients;
 * returns how many holds (counted one by one) expired. */
uint64_t mcm_holds_expire(mc_master_t *m, uint64_t now_ms, const mc_uuid_t *dead, size_t n_dead)
    MC_EXCLUDES(m->cluster_lock);
/* Frees the shard's hold list (destroy). */
void mcm_holds_free(mcm_shard_t *sh) MC_REQUIRES(sh->lock);

/* ---- master_evict.c ---- */
/* A put that could not place bytes (runs seen before it tried: mcm_evict_runs)
 * evicts for itself, holding no lock: at least bytes, or the policy target.
 * Returns true when placing again may succeed (it freed memory, or another
 * run did meanwhile). */
bool mcm_evict_for_put(mc_master_t *m, uint64_t now_ms, uint64_t bytes, uint64_t seen_runs)
    MC_EXCLUDES(m->evict_lock);
static inline uint64_t mcm_evict_runs(mc_master_t *m)
{
    return atomic_load_explicit(&m->evict_runs, memory_order_acquire);
}
/* Reclaims PROCESSING puts older than the release timeout. */
uint64_t mcm_reclaim_stale_puts(mc_master_t *m, uint64_t now_ms);

#endif
