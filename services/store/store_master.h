/* The store service's view of the master: one typed call per master
 * operation, behind a small table of functions so the operations in
 * store_ops.c run unchanged against the real master (HTTP/JSON,
 * docs/master-api.md, through libs/common's master_msg codec) or against a
 * fake in a unit test (tests/unit/store/test_ops.c).
 *
 * Every call returns MC_OK, MC_RPC_FAIL (no usable answer: unreachable,
 * timed out, garbled) or the error the master answered for the whole
 * request. The keys calls then carry one result per key in *out (exactly
 * req->n of them; anything else is MC_RPC_FAIL), which the caller frees with
 * mc_results_cleanup. */
#ifndef MC_STORE_MASTER_H
#define MC_STORE_MASTER_H

#include "mc/auth.h"
#include "mc/master_msg.h"

#include <stdbool.h>
#include <stdint.h>

/* The object calls: a keys request in, per-key results out. */
typedef enum store_master_call {
    STORE_M_PUT_START,     /* keys, sizes, config -> replicas to write */
    STORE_M_PUT_END,       /* keys -> codes */
    STORE_M_PUT_REVOKE,    /* keys -> codes */
    STORE_M_GET_REPLICAS,  /* keys (+ hold) -> replicas, size, lease_ms */
    STORE_M_EXIST,         /* keys -> exists */
    STORE_M_GET_SIZE,      /* keys -> size */
    STORE_M_REMOVE,        /* keys, force -> codes */
    STORE_M_RELEASE,       /* keys -> codes: drops one hold of client_id per key */
    STORE_M_REPLICA_CLEAR, /* keys, segment_name -> codes */
    STORE_M_DROP_BAD,      /* keys, checksums, segment_name -> codes */
    STORE_M_CALLS
} store_master_call_t;

typedef struct store_master_ops {
    int (*keys)(void *ctx, store_master_call_t call, const mc_keys_req_t *req, mc_results_t *out);
    /* seg->secret: the segment's secret from an earlier reply (remount);
     * out gets the epoch and the secret to present from then on. */
    int (*mount)(void *ctx, const mc_segment_msg_t *seg, mc_mount_reply_t *out);
    /* secret: the segment's, as the mount reply gave it ("" = none). */
    int (*unmount)(void *ctx, mc_uuid_t segment_id, mc_uuid_t client_id, const char *secret);
    /* *need_remount: the master does not know this client (first contact,
     * restart, or TTL expiry). */
    int (*ping)(void *ctx, mc_uuid_t client_id, bool *need_remount);
    /* pattern NULL = remove_all. */
    int (*remove_many)(void *ctx, const char *pattern, bool force, uint64_t *removed);
    /* A write to a replica on segment_id (mount epoch) failed. */
    int (*report_failure)(void *ctx, mc_uuid_t client_id, mc_uuid_t segment_id, uint64_t epoch);
    void (*destroy)(void *ctx);
    /* The SSD tier (issue 13). A table without them (NULL) answers
     * MC_UNAVAILABLE_IN_CURRENT_MODE. */
    int (*mount_disk)(void *ctx, const mc_disk_msg_t *disk);
    /* Ping carrying the disk tier's usage (disk never NULL here). */
    int (*ping_disk)(void *ctx, mc_uuid_t client_id, const mc_disk_usage_t *disk,
                     bool *need_remount);
    /* batch_disk_replica_add (add) / _remove: one result per item in *out. */
    int (*disk_items)(void *ctx, bool add, const mc_disk_items_req_t *req, mc_results_t *out);
} store_master_ops_t;

/* A master: the table and its state. Callers use the functions below. */
typedef struct store_master {
    const store_master_ops_t *ops;
    void *ctx;
} store_master_t;

/* The HTTP master. addr: "host:port" or a URL ("http://host:port").
 * timeout_ms bounds each request (per attempt). auth (may be NULL; not
 * owned, outlives the master) gives the bearer tokens: the cluster token on
 * every call, the admin token on remove_all, remove_by_regex and force
 * removes (the cluster token when there is no admin file). NULL on bad input
 * or no memory. Thread-safe: the HTTP client pools keep-alive connections. */
store_master_t *store_master_http_create(const char *addr, long timeout_ms, int retries,
                                         mc_auth_t *auth);
/* Any master (ops, ctx adopted: ops->destroy(ctx) runs at destroy). */
store_master_t *store_master_wrap(const store_master_ops_t *ops, void *ctx);
void store_master_destroy(store_master_t *m);

/* Checks the answer's shape (one result per key) whatever the master. */
int store_master_keys(store_master_t *m, store_master_call_t call, const mc_keys_req_t *req,
                      mc_results_t *out);

static inline int store_master_mount(store_master_t *m, const mc_segment_msg_t *seg,
                                     mc_mount_reply_t *out)
{
    return m->ops->mount(m->ctx, seg, out);
}

static inline int store_master_unmount(store_master_t *m, mc_uuid_t segment_id, mc_uuid_t client_id,
                                       const char *secret)
{
    return m->ops->unmount(m->ctx, segment_id, client_id, secret);
}

static inline int store_master_ping(store_master_t *m, mc_uuid_t client_id, bool *need_remount)
{
    return m->ops->ping(m->ctx, client_id, need_remount);
}

static inline int store_master_report_failure(store_master_t *m, mc_uuid_t client_id,
                                              mc_uuid_t segment_id, uint64_t epoch)
{
    return m->ops->report_failure(m->ctx, client_id, segment_id, epoch);
}

static inline int store_master_remove_many(store_master_t *m, const char *pattern, bool force,
                                           uint64_t *removed)
{
    *removed = 0;
    return m->ops->remove_many(m->ctx, pattern, force, removed);
}

/* ---- the SSD tier (docs/master-api.md, "Disk tiers") ----
 * Each returns MC_OK, MC_RPC_FAIL or the master's error for the whole call;
 * MC_UNAVAILABLE_IN_CURRENT_MODE from a master table without them. */

/* Registers (idempotent) this service's disk tier; again after NEED_REMOUNT.
 * disk->secret, and the secret of the calls below, is that of a segment this
 * client has mounted (the master refuses others with MC_ILLEGAL_CLIENT). */
int store_master_mount_disk(store_master_t *m, const mc_disk_msg_t *disk);
/* A ping with the disk tier's usage; disk NULL is the plain ping. */
int store_master_ping_disk(store_master_t *m, mc_uuid_t client_id, const mc_disk_usage_t *disk,
                           bool *need_remount);
/* Registers n disk replicas (items: key, size, checksum, bucket, offset,
 * length); codes[i] receives each key's code (docs/master-core.md, "Disk
 * replicas": 0, -704, -702, -711, -703, -200). create_missing: restart
 * recovery. MC_CLIENT_NOT_FOUND: no disk tier (mount_disk first). */
int store_master_disk_replica_add(store_master_t *m, mc_uuid_t client_id, const char *secret,
                                  const mc_disk_item_t *items, size_t n, bool create_missing,
                                  int *codes);
/* Unregisters n disk replicas (items: key, bucket) before their bucket goes;
 * codes[i]: 0, -704, -710. */
int store_master_disk_replica_remove(store_master_t *m, mc_uuid_t client_id, const char *secret,
                                     const mc_disk_item_t *items, size_t n, int *codes);

#endif
