/* The master's core: segments, placement, objects, replicas, leases, pins,
 * eviction and client liveness, as pure logic on typed structs.
 *
 * No HTTP, no JSON, no logging, no threads of its own. Every function that can
 * fail returns MC_OK or a negative mc_err_t. Everything that depends on time
 * takes `now_ms` (a monotonic millisecond clock chosen by the caller, e.g.
 * mc_now_ms()), so tests drive time by hand. All functions are thread-safe;
 * docs/master-core.md describes the model, the locks and the policies. */
#ifndef MC_MASTER_CORE_H
#define MC_MASTER_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mc/errors.h"
#include "mc/limits.h"
#include "mc/uuid.h"

typedef struct mc_master mc_master_t;

#define MC_MASTER_MAX_PREFERRED 8u
#define MC_MASTER_NAME_MAX 256u /* segment name / endpoint, NUL included */
#define MC_MASTER_PROTO_MAX 16u
#define MC_MASTER_SECRET_MAX 65u /* a per-segment secret, NUL included (mc/auth.h) */

typedef enum mc_master_strategy {
    MC_MASTER_STRATEGY_RANDOM = 0,
    MC_MASTER_STRATEGY_FREE_RATIO_FIRST = 1,
} mc_master_strategy_t;

typedef struct mc_master_cfg {
    uint64_t lease_ttl_ms;           /* --default_kv_lease_ttl (5000) */
    uint64_t soft_pin_ttl_ms;        /* --default_kv_soft_pin_ttl (1800000) */
    bool allow_evict_soft_pinned;    /* --allow_evict_soft_pinned_objects (true) */
    double eviction_ratio;           /* --eviction_ratio (0.05) */
    double eviction_high_watermark;  /* --eviction_high_watermark_ratio (0.95) */
    uint64_t min_residency_ms;       /* --min_residency_ms: no eviction before (100) */
    uint64_t client_ttl_ms;          /* --client_ttl (10000) */
    uint64_t put_discard_timeout_ms; /* --put_start_discard_timeout_sec (30 s) */
    uint64_t put_release_timeout_ms; /* --put_start_release_timeout_sec (600 s) */
    mc_master_strategy_t strategy;   /* --allocation_strategy (random) */
    uint64_t alloc_align;            /* buffer alignment in bytes, power of two (64) */
    uint64_t view_version;           /* reported by ping; set once per master run; also the
                                     * first mount epoch, so epochs differ across runs */
    uint64_t seed;                   /* placement RNG seed (0 = fixed default) */
    uint64_t hold_ttl_ms;            /* --hold_ttl_ms: upper bound of one hold (10000) */
    uint32_t max_holds_per_object;   /* --max_holds_per_object (1024) */
    uint32_t max_holds_per_client;   /* --max_holds_per_client (65536) */
    uint64_t max_segment_size;       /* --max_segment_size: largest mount accepted (1 TiB) */
    bool enable_offload;             /* --enable_offload: persist task after every put_end */
    bool offload_on_evict; /* --offload_on_evict: persist instead of dropping the only copy */
    uint32_t max_tasks_per_owner; /* --max_ssd_tasks_per_owner: queue bound (4096) */
} mc_master_cfg_t;

/* Fills cfg with the defaults listed above. */
void mc_master_cfg_defaults(mc_master_cfg_t *cfg);

/* MC_INVALID_PARAMS on a bad config (zero TTLs, ratios outside (0, 1],
 * non-power-of-two alignment); MC_INTERNAL_ERROR when out of memory.
 * The caller owns *out and frees it with mc_master_destroy. */
int mc_master_create(const mc_master_cfg_t *cfg, mc_master_t **out);
void mc_master_destroy(mc_master_t *m);

/* ---- segments ------------------------------------------------------------ */

typedef enum mc_master_seg_state {
    MC_SEG_MOUNTED = 1,    /* placeable and readable */
    MC_SEG_DRAINING = 2,   /* graceful unmount: readable, no new buffers */
    MC_SEG_UNMOUNTING = 3, /* being torn down: neither */
} mc_master_seg_state_t;

typedef struct mc_master_segment_spec {
    mc_uuid_t id;         /* segment id, unique in the cluster */
    mc_uuid_t client_id;  /* owning store service */
    const char *name;     /* e.g. "host:port"; < MC_MASTER_NAME_MAX bytes */
    const char *endpoint; /* transport endpoint; may be NULL */
    const char *protocol; /* "tcp", "rdma", ...; may be NULL */
    uint64_t base;        /* buffer address in the owner's address space */
    uint64_t size;        /* bytes */
    const char *secret;   /* the segment's secret from its first mount; NULL = none */
} mc_master_segment_spec_t;

typedef struct mc_master_segment_info {
    mc_uuid_t id, client_id;
    char name[MC_MASTER_NAME_MAX];
    char endpoint[MC_MASTER_NAME_MAX];
    char protocol[MC_MASTER_PROTO_MAX];
    uint64_t base, size, used;
    uint64_t epoch; /* unique per mount; replicas carry it */
    uint16_t slot;
    uint8_t state;     /* mc_master_seg_state_t */
    uint8_t suspected; /* a write to it failed; no placements until its owner pings */
} mc_master_segment_info_t;

/* Mounts a segment and registers (or refreshes) its client as alive.
 * Idempotent: mounting the same id with the same name, size and client again
 * is MC_OK. MC_SEGMENT_ALREADY_EXISTS when the id or the name is mounted with
 * other parameters; MC_UNAVAILABLE_IN_CURRENT_STATUS while that id is being
 * torn down (retry); MC_INVALID_PARAMS on a bad spec. *epoch_out (optional)
 * receives the mount epoch. A remount after NEED_REMOUNT is just a mount. */
int mc_master_mount(mc_master_t *m, const mc_master_segment_spec_t *spec, uint64_t now_ms,
                    uint64_t *epoch_out);

/* Segment identity (docs/security.md, "Identity"). mc_master_mount with the
 * owner's proof: the first mount of a segment id issues a random secret into
 * secret_out (MC_MASTER_SECRET_MAX bytes; may be NULL) and fixes the
 * segment's client id. Every later mount of that id must come from the same
 * client and present the secret in spec->secret (compared in constant time),
 * else MC_ILLEGAL_CLIENT; so must a first mount whose name is mounted by
 * another client. A successful remount copies the same secret out. The
 * secret lives as long as the master knows the segment: after an unmount
 * (or a master restart) the next mount is a first mount again. mc_master_mount
 * is this call with nothing copied out. */
int mc_master_mount_secret(mc_master_t *m, const mc_master_segment_spec_t *spec, uint64_t now_ms,
                           uint64_t *epoch_out, char *secret_out);
/* mc_master_unmount / _graceful for an untrusted caller: also
 * MC_ILLEGAL_CLIENT unless client_id is the owner's and secret the
 * segment's (NULL never matches). */
int mc_master_unmount_owned(mc_master_t *m, mc_uuid_t segment_id, mc_uuid_t client_id,
                            const char *secret);
int mc_master_unmount_graceful_owned(mc_master_t *m, mc_uuid_t segment_id, mc_uuid_t client_id,
                                     const char *secret, uint64_t deadline_ms);

/* Unmounts at once: replicas there become unreadable immediately, objects left
 * with no replica are removed. A nil client skips the owner check, otherwise
 * MC_ILLEGAL_CLIENT for a stranger. MC_SEGMENT_NOT_FOUND when not mounted. */
int mc_master_unmount(mc_master_t *m, mc_uuid_t segment_id, mc_uuid_t client_id);

/* Graceful unmount: no new buffers from now on, replicas stay readable until
 * deadline_ms (or until the segment holds nothing), then mc_master_tick
 * unmounts it. Idempotent; a later deadline does not extend an earlier one. */
int mc_master_unmount_graceful(mc_master_t *m, mc_uuid_t segment_id, mc_uuid_t client_id,
                               uint64_t deadline_ms);

/* true when client_id owns a mounted segment and secret is that segment's
 * (constant-time compare): how the calls that act for a client without
 * naming a segment (the disk tier's) check who is calling. */
bool mc_master_client_proved(mc_master_t *m, mc_uuid_t client_id, const char *secret);
/* Copies one segment's info (by id or by slot). MC_SEGMENT_NOT_FOUND if absent. */
int mc_master_segment_get(mc_master_t *m, mc_uuid_t segment_id, mc_master_segment_info_t *out);
int mc_master_segment_get_slot(mc_master_t *m, uint16_t slot, mc_master_segment_info_t *out);

/* Copies up to cap segments (mounted and draining) into out; *n_total receives
 * how many exist (may exceed cap). */
int mc_master_segments_list(mc_master_t *m, mc_master_segment_info_t *out, size_t cap,
                            size_t *n_total);

/* ---- objects -------------------------------------------------------------- */

typedef enum mc_master_replica_type {
    MC_REPLICA_MEMORY = 0,
    MC_REPLICA_DISK = 1, /* the SSD tier: see "disk tiers" below */
} mc_master_replica_type_t;

typedef enum mc_master_obj_state {
    MC_OBJ_PROCESSING = 1, /* put started, bytes in flight, invisible to readers */
    MC_OBJ_COMPLETE = 2,
} mc_master_obj_state_t;

/* Where one replica lives: buffer [addr, addr + size) of the segment, which is
 * [offset, offset + size) of its range. segment_epoch identifies the mount:
 * a transfer against a remounted segment must be refused.
 * A disk replica (type MC_REPLICA_DISK): segment_id = the owner's client id,
 * segment_slot = its disk slot (mc_master_disk_get_slot: name, control_url),
 * offset = byte offset in bucket, size = length; epoch and addr are 0. Lists
 * give memory replicas first, then disk replicas. */
typedef struct mc_master_replica_desc {
    mc_uuid_t segment_id;
    uint64_t segment_epoch;
    uint64_t addr;
    uint64_t offset;
    uint64_t size;
    uint64_t bucket;       /* disk only */
    uint16_t segment_slot; /* for mc_master_segment_get_slot (name, endpoint) */
    uint8_t type;          /* mc_master_replica_type_t */
} mc_master_replica_desc_t;

typedef struct mc_master_put_cfg {
    uint32_t replica_num;                  /* 1..MC_MAX_REPLICAS */
    const char *const *preferred_segments; /* names, tried first, in order */
    uint32_t n_preferred;                  /* <= MC_MASTER_MAX_PREFERRED */
    bool soft_pin;
    bool hard_pin;
} mc_master_put_cfg_t;

/* Read-side result of one key (get_replica_list, put_start). */
typedef struct mc_master_replicas {
    uint64_t size;
    uint64_t lease_until_ms; /* a reader must not return bytes copied after this */
    uint32_t checksum;
    bool has_checksum;
    uint32_t n;
    mc_master_replica_desc_t rep[MC_MAX_REPLICAS];
} mc_master_replicas_t;

/* Starts a put: allocates one buffer per replica on distinct segments (best
 * effort, at least one) and records the object PROCESSING, owned by client.
 * out->n tells how many replicas were placed; out may be NULL.
 * MC_OBJECT_ALREADY_EXISTS when the key is complete, or being put and younger
 * than the discard timeout (an older put is taken over: its buffers are
 * released after the release timeout). A put that finds no room evicts for
 * itself (one mc_master_evict run of at least its bytes, unless another run
 * ended meanwhile) and tries once more; MC_NO_AVAILABLE_HANDLE when no
 * replica can be placed even then (and the eviction thread is woken).
 * MC_INVALID_KEY / MC_INVALID_PARAMS on bad input. */
int mc_master_put_start(mc_master_t *m, mc_uuid_t client, const char *key, size_t key_len,
                        uint64_t size, const mc_master_put_cfg_t *cfg, uint64_t now_ms,
                        mc_master_replicas_t *out);

/* Like put_start, but overwrites a complete object: same size and not leased
 * -> the same buffers are rewritten in place; otherwise new buffers are placed
 * and the old ones are freed when their lease ends. The object is PROCESSING
 * (invisible) until put_end. MC_OBJECT_HAS_REPLICATION_TASK while another put
 * of the key is in flight (and younger than the discard timeout). */
int mc_master_upsert_start(mc_master_t *m, mc_uuid_t client, const char *key, size_t key_len,
                           uint64_t size, const mc_master_put_cfg_t *cfg, uint64_t now_ms,
                           mc_master_replicas_t *out);

/* Completes a put (idempotent for the same client). checksum is stored when
 * has_checksum. MC_OBJECT_NOT_FOUND; MC_ILLEGAL_CLIENT when another client
 * started (or took over) the put. */
int mc_master_put_end(mc_master_t *m, mc_uuid_t client, const char *key, size_t key_len,
                      bool has_checksum, uint32_t checksum, uint64_t now_ms);

/* Abandons a put: frees its buffers and forgets the object. MC_ILLEGAL_CLIENT
 * for a stranger, MC_INVALID_WRITE when the object is already complete. */
int mc_master_put_revoke(mc_master_t *m, mc_uuid_t client, const char *key, size_t key_len,
                         uint64_t now_ms);

/* Complete replicas on readable segments, and a read lease until
 * now + lease_ttl (also renews a soft pin and the LRU position).
 * MC_OBJECT_NOT_FOUND; MC_REPLICA_IS_NOT_READY while PROCESSING. */
int mc_master_get_replica_list(mc_master_t *m, const char *key, size_t key_len, uint64_t now_ms,
                               mc_master_replicas_t *out);

/* *exists = complete and readable. Grants a lease like a get, but does not
 * count as a use for LRU (see docs/master-core.md: existence checks must not
 * starve eviction). MC_OK or MC_INVALID_KEY. */
int mc_master_exist(mc_master_t *m, const char *key, size_t key_len, uint64_t now_ms, bool *exists);

/* Size of a complete object; no lease. MC_OBJECT_NOT_FOUND,
 * MC_REPLICA_IS_NOT_READY. */
int mc_master_get_size(mc_master_t *m, const char *key, size_t key_len, uint64_t *size);

/* Removes a complete object. MC_OBJECT_HAS_LEASE while leased unless force
 * (then the buffers are freed when the lease ends, so readers stay safe).
 * MC_REPLICA_IS_NOT_READY for a put in flight unless force. */
int mc_master_remove(mc_master_t *m, const char *key, size_t key_len, bool force, uint64_t now_ms);

/* Removes complete objects whose key contains a match of pattern (ECMAScript
 * syntax through PCRE2, bounded: master_regex.h); leased or held ones are
 * skipped unless force. *n_removed receives the count. MC_INVALID_PARAMS with
 * err saying why for a bad, too long or too complex pattern, or one whose match
 * on some key reached a limit (keys matched before that may be gone). Takes
 * and releases each shard lock per chunk of keys, never across matching. */
int mc_master_remove_by_regex(mc_master_t *m, const char *pattern, bool force, uint64_t now_ms,
                              uint64_t *n_removed, mc_errmsg_t *err);
/* Same for every complete object. */
int mc_master_remove_all(mc_master_t *m, bool force, uint64_t now_ms, uint64_t *n_removed);

/* Admin view of one key; grants no lease and does not touch the LRU. */
typedef struct mc_master_obj_info {
    uint8_t state; /* mc_master_obj_state_t */
    bool hard_pinned, soft_pinned;
    mc_uuid_t owner;
    uint64_t lease_until_ms, soft_pin_until_ms, put_start_ms, last_use_ms;
    mc_master_replicas_t replicas; /* lease_until_ms inside is informational */
} mc_master_obj_info_t;

int mc_master_query(mc_master_t *m, const char *key, size_t key_len, uint64_t now_ms,
                    mc_master_obj_info_t *out);

/* Calls fn for every key (complete and in flight), under that key's shard
 * lock: fn must not call back into the core. Stops when fn returns non-zero. */
typedef int (*mc_master_key_fn)(const char *key, size_t key_len, uint8_t state, void *arg);
void mc_master_foreach_key(mc_master_t *m, mc_master_key_fn fn, void *arg);

/* ---- batch forms ------------------------------------------------------------
 * One lock pass per shard for the whole batch. rc is the per-key result; the
 * function itself returns MC_OK unless the arguments are invalid. */

typedef struct mc_master_key {
    const char *key;
    size_t len;
} mc_master_key_t;

typedef struct mc_master_put_item {
    const char *key;
    size_t len;
    uint64_t size;                 /* put_start only */
    bool has_checksum;             /* put_end only */
    uint32_t checksum;             /* put_end only */
    int rc;                        /* out */
    mc_master_replicas_t replicas; /* out (put_start) */
} mc_master_put_item_t;

/* The keys that found no room get one eviction for all of them, then are
 * placed once more (as mc_master_put_start does for one key). */
int mc_master_batch_put_start(mc_master_t *m, mc_uuid_t client, mc_master_put_item_t *items,
                              size_t n, const mc_master_put_cfg_t *cfg, uint64_t now_ms);
int mc_master_batch_put_end(mc_master_t *m, mc_uuid_t client, mc_master_put_item_t *items, size_t n,
                            uint64_t now_ms);
int mc_master_batch_put_revoke(mc_master_t *m, mc_uuid_t client, mc_master_put_item_t *items,
                               size_t n, uint64_t now_ms);
/* out[i] / rc[i] for keys[i]. */
int mc_master_batch_get_replica_list(mc_master_t *m, const mc_master_key_t *keys, size_t n,
                                     uint64_t now_ms, mc_master_replicas_t *out, int *rc);
/* get_replica_list that also takes one hold for client on every object it
 * returns (docs/master-core.md, "Holds"). A held object is never evicted and
 * its buffers are never reused before the hold is released, its TTL
 * (hold_ttl_ms) passes or client expires. MC_CLIENT_NOT_FOUND for the whole
 * call when client is not registered (mount or ping first). Per key, beyond
 * the get's codes: MC_TASK_PENDING_LIMIT_EXCEEDED when the object or the
 * client has the maximum number of holds (no replicas are returned then). */
int mc_master_batch_get_hold(mc_master_t *m, mc_uuid_t client, const mc_master_key_t *keys,
                             size_t n, uint64_t now_ms, mc_master_replicas_t *out, int *rc);
/* Drops one hold of client per key. rc[i]: MC_OK; MC_OBJECT_NOT_FOUND when the
 * key is gone (removed by force or upserted: its old buffers wait out the
 * hold TTL); MC_LEASE_EXPIRED when client holds nothing on it (the hold ended). */
int mc_master_batch_release(mc_master_t *m, mc_uuid_t client, const mc_master_key_t *keys, size_t n,
                            uint64_t now_ms, int *rc);
int mc_master_batch_exist(mc_master_t *m, const mc_master_key_t *keys, size_t n, uint64_t now_ms,
                          bool *exists, int *rc);
int mc_master_batch_remove(mc_master_t *m, const mc_master_key_t *keys, size_t n, bool force,
                           uint64_t now_ms, int *rc);
/* A reader found the bytes of key's memory replica on the segment named
 * [segment, segment + segment_len) not matching the object's checksum: that
 * replica is dropped (readers get the others; leased or held, its buffer is
 * freed only after the lease and the hold TTL, so no copy in flight is cut
 * short); an object left without replicas is removed. checksums[i] is the
 * checksum the reader checked against: a report about an object put again
 * since (another checksum) changes nothing. rc[i]: MC_OK; MC_OBJECT_NOT_FOUND;
 * MC_REPLICA_IS_NOT_READY (a put in flight); MC_INVALID_REPLICA (another
 * checksum, or none); MC_REPLICA_NOT_FOUND (no memory replica there). */
int mc_master_batch_drop_bad_replica(mc_master_t *m, const mc_master_key_t *keys,
                                     const uint32_t *checksums, size_t n, const char *segment,
                                     size_t segment_len, uint64_t now_ms, int *rc);
/* Mooncake's batch_replica_clear: for each key an object of client's (the
 * client that put it) that is complete and neither leased nor held loses its
 * replicas on the segment named [segment, segment + segment_len) (segment
 * NULL: all of them; an object left without replicas is removed). rc[i]:
 * MC_OK when replicas were dropped; MC_OBJECT_NOT_FOUND, MC_ILLEGAL_CLIENT
 * (another client's object), MC_REPLICA_IS_NOT_READY (a put in flight),
 * MC_OBJECT_HAS_LEASE (being read), MC_REPLICA_NOT_FOUND (none on that
 * segment). */
int mc_master_batch_replica_clear(mc_master_t *m, mc_uuid_t client, const mc_master_key_t *keys,
                                  size_t n, const char *segment, size_t segment_len,
                                  uint64_t now_ms, int *rc);

/* ---- disk tiers (SSD, issue 13; docs/master-core.md "Disk tiers") ---------- */

typedef struct mc_master_disk_spec {
    mc_uuid_t client_id;
    const char *name;        /* < MC_MASTER_NAME_MAX, no control characters */
    const char *control_url; /* "http://host:port" of the owner's REST/cluster listener */
    uint64_t capacity, used;
} mc_master_disk_spec_t;

typedef struct mc_master_disk_info {
    mc_uuid_t client_id;
    char name[MC_MASTER_NAME_MAX];
    char control_url[MC_MASTER_NAME_MAX];
    uint64_t capacity, used;  /* as the owner last said (mount_disk, ping) */
    uint64_t replicas, bytes; /* disk replicas registered, and their bytes */
    uint64_t tasks_queued;    /* waiting for the sender now */
    uint64_t tasks_sent, tasks_dropped, tasks_failed; /* totals */
    uint16_t slot;
} mc_master_disk_info_t;

/* Registers (or updates: idempotent) the disk tier of spec->client_id, one
 * per client, and registers the client as alive. MC_INVALID_PARAMS on a bad
 * spec; MC_INTERNAL_ERROR when the table is full. */
int mc_master_mount_disk(mc_master_t *m, const mc_master_disk_spec_t *spec, uint64_t now_ms);
/* Usage from a ping. MC_CLIENT_NOT_FOUND when client has no disk tier. */
int mc_master_disk_usage(mc_master_t *m, mc_uuid_t client, uint64_t capacity, uint64_t used);
int mc_master_disk_get(mc_master_t *m, mc_uuid_t client, mc_master_disk_info_t *out);
int mc_master_disk_get_slot(mc_master_t *m, uint16_t slot, mc_master_disk_info_t *out);
int mc_master_disks_list(mc_master_t *m, mc_master_disk_info_t *out, size_t cap, size_t *n_total);

typedef struct mc_master_disk_item {
    const char *key;
    size_t len;
    uint64_t size;     /* add: the object's size */
    uint32_t checksum; /* add: CRC32C of the value */
    uint64_t bucket;
    uint64_t offset; /* add */
    uint64_t length; /* add: must equal size */
    int rc;          /* out */
} mc_master_disk_item_t;

/* Registers disk replicas of client's disk tier (whole call
 * MC_CLIENT_NOT_FOUND without one). rc per item: MC_OK; MC_OBJECT_NOT_FOUND
 * (no such object, create_missing false); MC_INVALID_REPLICA (size, length
 * or checksum differ from the object's: the owner drops its record);
 * MC_REPLICA_ALREADY_EXISTS (this owner has one already; it stays);
 * MC_REPLICA_IS_NOT_READY (a put of the key is in flight: the record is of
 * an older value, the owner drops it); MC_NO_AVAILABLE_HANDLE (the object has
 * MC_MAX_REPLICAS replicas). create_missing: a missing key becomes a complete
 * object with only this disk replica (restart recovery). Each add by the
 * owner a persist task was sent to releases that task's hold. */
int mc_master_batch_disk_replica_add(mc_master_t *m, mc_uuid_t client, mc_master_disk_item_t *items,
                                     size_t n, bool create_missing, uint64_t now_ms);
/* Removes client's disk replicas (key, bucket): the owner is about to delete
 * the bucket. rc: MC_OK; MC_OBJECT_NOT_FOUND; MC_REPLICA_NOT_FOUND (client
 * has no disk replica of the key in that bucket). An object left with no
 * replica is removed; no drop task is queued (the owner asked). */
int mc_master_batch_disk_replica_remove(mc_master_t *m, mc_uuid_t client,
                                        mc_master_disk_item_t *items, size_t n, uint64_t now_ms);

/* ---- tasks for the disk tiers' owners (the master -> store channel) -------- */

typedef enum mc_master_task_kind {
    MC_TASK_PERSIST = 1, /* copy the memory replica at (segment_id, offset) to disk */
    MC_TASK_DROP = 2,    /* the disk replica of key in bucket is gone: reclaim it */
} mc_master_task_kind_t;

typedef struct mc_master_task {
    uint8_t kind; /* mc_master_task_kind_t */
    bool has_checksum;
    uint32_t checksum;
    const char *key; /* NUL-terminated; owned by the batch */
    size_t key_len;
    uint64_t size;
    mc_uuid_t segment_id; /* persist */
    uint64_t offset;      /* persist */
    uint64_t bucket;      /* drop */
} mc_master_task_t;

/* Every task queued for one owner, oldest first. */
typedef struct mc_master_task_batch {
    mc_uuid_t client_id;
    char control_url[MC_MASTER_NAME_MAX];
    size_t n;
    mc_master_task_t *tasks;
    void *priv;
} mc_master_task_batch_t;

/* Takes every queued task, one batch per owner (*out: caller frees with
 * mc_master_tasks_free). *n = 0 when none. */
int mc_master_tasks_take(mc_master_t *m, mc_master_task_batch_t **out, size_t *n);
void mc_master_tasks_free(mc_master_task_batch_t *b, size_t n);
/* The sender's outcome for tasks of client's: sent (accepted) or failed (given up). */
void mc_master_tasks_report(mc_master_t *m, mc_uuid_t client, uint64_t sent, uint64_t failed);
/* Blocks up to timeout_ms of real time until a task is queued; true then. */
bool mc_master_wait_tasks(mc_master_t *m, uint64_t timeout_ms);
/* Wakes mc_master_wait_tasks (shutdown). */
void mc_master_tasks_wake(mc_master_t *m);

/* ---- eviction ------------------------------------------------------------- */

typedef struct mc_master_evict_report {
    uint64_t target_bytes;
    uint64_t freed_bytes;   /* freed at once */
    uint64_t retired_bytes; /* victims a reader may copy without a hold: freed at lease end */
    uint64_t freed_objects;
    uint64_t retired_objects;
    uint64_t soft_pinned_objects; /* evicted in the last pass */
    uint64_t leased_objects;      /* victims whose lease was running */
} mc_master_evict_report_t;

/* True when usage is at or above the high watermark or a put could not be
 * placed since the last mc_master_evict. */
bool mc_master_evict_wanted(mc_master_t *m);

/* Evicts approximately-LRU objects until target_bytes are freed (0 means the
 * policy target: eviction_ratio of capacity, or more to get back under the
 * high watermark, less what is retired when no put is waiting). Only complete,
 * unheld objects resident for at least min_residency_ms are taken. Pass 1:
 * unpinned objects neither leased nor used for a lease TTL. Pass 2: unpinned
 * ones, leased or not, in LRU order. Pass 3 (if allowed): soft-pinned too.
 * Their buffers are freed at once. Pass 4: objects a reader may still copy
 * without a hold (a get without one; the owner's lease cache): made invisible,
 * their buffers retired until that reader's time ends. Held, hard-pinned and
 * PROCESSING objects are never touched. rep may be NULL. */
int mc_master_evict(mc_master_t *m, uint64_t now_ms, uint64_t target_bytes,
                    mc_master_evict_report_t *rep);

/* Blocks the caller (the eviction thread) up to timeout_ms of real time, or
 * until a put could not be placed. Returns true when woken by such a put. */
bool mc_master_wait_pressure(mc_master_t *m, uint64_t timeout_ms);

/* ---- liveness and housekeeping -------------------------------------------- */

typedef enum mc_master_ping_status {
    MC_PING_OK = 0,
    MC_PING_NEED_REMOUNT = 1, /* the master does not know this client: remount */
} mc_master_ping_status_t;

/* A store service could not write to a replica on segment_id (at mount
 * epoch; 0 = any): the segment is suspected, and no new replica is placed
 * there until its owner's next ping clears it (a dead owner never pings:
 * its segments go at the client TTL). MC_SEGMENT_NOT_FOUND when it is not
 * mounted; MC_OK (nothing changes) for a report about an older mount. */
int mc_master_report_failure(mc_master_t *m, mc_uuid_t segment_id, uint64_t epoch);

/* Records that client is alive (and clears the suspicion of its segments).
 * MC_OK with *status and *view_version. */
int mc_master_ping(mc_master_t *m, mc_uuid_t client, uint64_t now_ms,
                   mc_master_ping_status_t *status, uint64_t *view_version);

typedef struct mc_master_tick_report {
    uint64_t expired_clients;
    uint64_t unmounted_segments;
    uint64_t released_buffers; /* retired buffers whose wait ended */
    uint64_t reclaimed_puts;   /* PROCESSING puts older than the release timeout */
    uint64_t expired_holds;    /* past hold_ttl_ms, or of an expired client */
    uint64_t unmounted_disks;  /* disk tiers of expired clients */
} mc_master_tick_report_t;

/* Housekeeping for the background thread (about once a second): expires
 * clients silent for client_ttl (unmounting their segments), finishes
 * graceful unmounts, frees retired buffers whose lease or timeout ended and
 * reclaims puts older than the release timeout. rep may be NULL. */
int mc_master_tick(mc_master_t *m, uint64_t now_ms, mc_master_tick_report_t *rep);

typedef struct mc_master_stats {
    uint64_t objects, processing;
    uint64_t hard_pinned, soft_pinned; /* objects put with a pin (soft TTL may have lapsed) */
    uint64_t capacity, used;           /* bytes over mounted and draining segments */
    uint64_t retired_bytes;            /* waiting for a lease or a timeout */
    uint64_t segments, clients;
    uint64_t leases_granted, evicted_objects, evicted_bytes;
    uint64_t put_no_space; /* put_start that could not place anything */
    uint64_t holds_taken, holds_released, holds_expired;
    uint64_t holds_refused; /* over max_holds_per_object / _per_client */
    uint64_t disks, disk_capacity, disk_used, disk_replicas;
    uint64_t tasks_queued, tasks_sent, tasks_dropped, tasks_failed; /* totals */
    uint64_t offloaded; /* evictions turned into persist tasks (offload_on_evict) */
} mc_master_stats_t;

void mc_master_stats(mc_master_t *m, mc_master_stats_t *out);

#endif
