/* The store service's pure logic: which replica to read, whether a copy is
 * still covered by its lease, what a put_start answer means for each key, how
 * per-copy outcomes become per-key results, replica options from text, and
 * the master retry backoff. No HTTP, no JSON, no threads: unit-tested
 * directly (tests/unit/store). */
#ifndef MC_STORE_CORE_H
#define MC_STORE_CORE_H

#include "mc/limits.h"
#include "mc/replica.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* This service's own segment, as seen by the planner. */
typedef struct store_local_seg {
    const char *name; /* NULL when the service contributes no memory */
    uint64_t epoch;   /* current mount epoch; 0 = not mounted */
    uint64_t size;
} store_local_seg_t;

typedef enum store_where {
    STORE_AT_REMOTE = 0, /* another segment: transfer engine */
    STORE_AT_LOCAL = 1,  /* our segment, in bounds, current epoch: memcpy */
    STORE_AT_INVALID = 2 /* names our segment but is stale or out of bounds */
} store_where_t;

/* Classifies a memory replica of an object of obj_size bytes. A replica
 * whose size is not obj_size is STORE_AT_INVALID wherever it lives, and so
 * is every disk replica (store_disk_order reads those). */
store_where_t store_rep_where(const mc_replica_t *r, const store_local_seg_t *local,
                              uint64_t obj_size);

/* Read order: usable local replicas first, then the others in the master's
 * order; invalid ones are left out. Returns how many indexes were written to
 * order[] (at most n, n <= MC_MAX_REPLICAS). */
size_t store_read_order(const mc_replica_t *reps, size_t n, const store_local_seg_t *local,
                        uint64_t obj_size, uint32_t *order);

/* Disk replicas of an object of obj_size bytes, in read order: the ones
 * this service owns (segment_id == self, its client id) first, then the
 * others in the master's order; ones of the wrong size or without an owner
 * URL are left out. Returns how many indexes were written to order[]. */
size_t store_disk_order(const mc_replica_t *reps, size_t n, mc_uuid_t self, uint64_t obj_size,
                        uint32_t *order);

/* The query of GET /api/v1/ssd/read, parsed and bounds-checked: every
 * argument is the parameter's text (NULL = absent). key 1..MC_MAX_KEY_LEN
 * bytes without NUL, bucket/offset/length decimal, length 1..max_len, crc a
 * decimal uint32. MC_OK, or MC_INVALID_KEY / MC_INVALID_PARAMS with *what
 * naming the bad parameter. */
typedef struct store_disk_ref {
    const char *key;
    size_t key_len;
    uint64_t bucket, offset, length;
    uint32_t crc;
} store_disk_ref_t;
int store_disk_ref_parse(const char *key, size_t key_len, const char *bucket, const char *offset,
                         const char *length, const char *crc, uint64_t max_len,
                         store_disk_ref_t *out, const char **what);

/* What the owner does with its on-disk record after the master answered
 * code to its batch_disk_replica_add (docs/ssd-tier.md, "Conflicts"). */
typedef enum store_disk_verdict {
    STORE_DISK_KEEP = 0,  /* registered, or this owner's replica already was */
    STORE_DISK_DROP = 1,  /* the master's object differs (size, checksum), is gone (no
                           * create_missing), is being put again, or has no room for
                           * another replica: the record goes */
    STORE_DISK_RETRY = 2, /* not decided (no disk tier at the master yet, master
                           * failure): kept, registered again after a remount */
} store_disk_verdict_t;
store_disk_verdict_t store_disk_add_verdict(int code);

/* Lease deadline of a get: the time the request was SENT plus what the
 * master said was left. A copy may be handed out only when it finished
 * strictly before the deadline. */
uint64_t store_lease_deadline_ms(uint64_t sent_ms, uint64_t lease_ms);
bool store_lease_covers(uint64_t deadline_ms, uint64_t done_ms);
/* Time left for a copy started at now_ms (0 when already past). */
uint64_t store_lease_left_ms(uint64_t deadline_ms, uint64_t now_ms);

/* get_replica_list per-key code -> code for the caller: a key that is absent
 * or whose replicas all went away is OBJECT_NOT_FOUND; others pass through. */
int store_get_code(int master_code);

/* ---- put planning ---- */
typedef enum store_put_state {
    STORE_PUT_FAILED = 0,  /* code holds the error; nothing to end or revoke */
    STORE_PUT_DONE = 1,    /* already stored (immutable object): success, no write */
    STORE_PUT_WRITING = 2, /* replicas allocated: write, then end or revoke */
} store_put_state_t;

typedef struct store_put_key {
    store_put_state_t state;
    int code;         /* MC_OK or the first error */
    uint32_t pending; /* copies not finished yet */
} store_put_key_t;

/* One replica write of a put (or one replica read of a get). */
typedef struct store_copy {
    uint32_t key;     /* index in the batch */
    uint32_t replica; /* index in that key's replica list */
    store_where_t where;
    int status; /* MC_OK or the error of the copy */
} store_copy_t;

/* Plans the writes of one put_start answer for key i (code, its replicas,
 * value size). Appends one copy per replica to copies (capacity cap, *nc in
 * and out) and sets *k. A key with zero replicas, a replica of the wrong size
 * or a stale local one fails the key (it is then revoked). */
void store_put_plan_key(uint32_t i, int code, const mc_replica_t *reps, size_t n_reps,
                        uint64_t size, const store_local_seg_t *local, store_copy_t *copies,
                        size_t cap, size_t *nc, store_put_key_t *k);
/* Folds a finished copy into its key: any failure fails the key. */
void store_put_copy_done(store_put_key_t *k, int status);
/* After the writes: true when the key must be ended (all copies succeeded),
 * false when it must be revoked. Only meaningful for STORE_PUT_WRITING. */
bool store_put_should_end(const store_put_key_t *k);

/* ---- replica options from text (REST query parameters) ---- */
typedef struct store_put_opts {
    uint32_t replica_num;  /* 1..MC_MAX_REPLICAS */
    const char *preferred; /* one segment name or NULL */
    bool soft_pin;
    bool hard_pin;     /* never evicted (removed only by remove/upsert) */
    bool upsert;       /* an existing key is overwritten instead of kept */
    bool shed_stalled; /* a pool thread: do not wait on a stalled peer (peer_gate.h) */
} store_put_opts_t;

/* Each argument may be NULL (absent). replica_num "1".."8", soft_pin a
 * boolean spelling, preferred_segment 1..255 bytes. MC_OK or MC_INVALID_PARAMS
 * with *what naming the bad parameter. */
int store_put_opts_parse(const char *replica_num, const char *preferred, size_t preferred_len,
                         const char *soft_pin, store_put_opts_t *out, const char **what);

/* Master retry backoff after `failures` consecutive failures (>= 1):
 * base, 2*base, 4*base ... capped at cap. */
uint64_t store_backoff_ms(unsigned failures, uint64_t base, uint64_t cap);

#endif
