/* The store service: owns this process's segment (memfd), its transfer
 * engine endpoint and its standing with the master (mount, 1 s pings,
 * remount on NEED_REMOUNT, backoff while the master is unreachable), and
 * performs puts and gets on behalf of callers (REST now, thin clients next).
 *
 * Threads: every function is thread-safe. One background thread pings the
 * master and remounts; callers' threads run the operations. */
#ifndef MC_STORE_SERVICE_H
#define MC_STORE_SERVICE_H

#include "mc/auth.h"
#include "mc/master_msg.h"
#include "mc/metrics.h"
#include "store_config.h"
#include "store_core.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct store_service store_service_t;
struct store_master; /* store_master.h */

/* A value handed to the caller: data is malloc'd (caller frees), NULL when
 * the key's code is not MC_OK. */
typedef struct store_value {
    void *data;
    uint64_t size;
} store_value_t;

/* Creates the segment, the transfer engine (listening on local_hostname),
 * tries a first mount and starts the liveness thread. A master that cannot
 * be reached yet is not an error: the thread keeps trying. metrics may be
 * shared with the REST server. Returns MC_OK or an error with a one-line
 * reason in err (may be NULL). */
int store_service_create(const store_config_t *cfg, mc_metrics_t *metrics, mc_auth_t *auth,
                         store_service_t **out, mc_errmsg_t *err);
/* Test seam: the same with the master reached through master (adopted,
 * also on failure) for the operations and the liveness pings, instead of
 * HTTP to cfg->master_server_addr (store_master.h). */
int store_service_create_with_master(const store_config_t *cfg, mc_metrics_t *metrics,
                                     struct store_master *master, store_service_t **out,
                                     mc_errmsg_t *err);
/* After the token files were reloaded (SIGHUP): the data plane proves and
 * accepts the new cluster tokens. MC_OK, or the engine's error. */
int store_service_reload_auth(store_service_t *s);
/* Stops the thread, unmounts from the master, withdraws the segment from the
 * engine and the metadata server, frees everything. Safe on NULL. */
void store_service_destroy(store_service_t *s);
/* Healthy when the master answered recently and the segment and the SSD
 * tier (if any) are mounted; detail gets the reason otherwise. */
bool store_service_healthy(store_service_t *s, char *detail, size_t len);
const char *store_service_segment_name(const store_service_t *s);
/* The URL where the master and the other stores reach this service's REST
 * listener ("http://host:port"), once it listens: the SSD tier is mounted
 * with the master under it. No-op without a tier. */
void store_service_set_control_url(store_service_t *s, const char *url);
/* The SSD tier (store_ssd.h), NULL when the service has none. */
struct store_ssd *store_service_ssd(store_service_t *s);
/* A read-only descriptor of the segment for a local client (caller closes)
 * and its size; -1 when there is none or it cannot be shared safely. */
int store_service_segment_share(store_service_t *s, uint64_t *size);

/* ---- operations (n <= MC_MSG_MAX_BATCH) ----
 * Every outcome is per key: each call sets codes[i] for every i < n and
 * returns nothing else. A key the master could not be asked about carries
 * the reason (RPC_FAIL while the master is unreachable; own-segment reads
 * whose lease still runs are served then, so a batch can be part OK, part
 * RPC_FAIL). Bad arguments (n == 0, n > MC_MSG_MAX_BATCH, a NULL array) set
 * every code to INVALID_PARAMS; with codes NULL nothing happens. */

/* Two-phase put of n values. Empty values are INVALID_PARAMS; keys that
 * already exist succeed without being rewritten. */
void store_put_batch(store_service_t *s, size_t n, const char *const *keys, const size_t *key_lens,
                     const void *const *values, const uint64_t *sizes, const store_put_opts_t *opts,
                     int *codes);
/* Where a get puts the values. place runs at most once per call, when the
 * sizes are known (from the master, or from the lease cache while it is
 * unreachable): sizes[i] > 0 for each key about to be read, 0 for the others
 * (their codes are final). It sets dst[i] to sizes[i] writable bytes for
 * each key to read, or leaves it NULL to skip the key (which then fails
 * with BUFFER_OVERFLOW: a reply over its byte cap); an error return fails
 * every key about to be read with that code. The values are read straight
 * into dst: one buffer per batch can hold them all. */
typedef struct store_get_sink {
    int (*place)(void *ctx, size_t n, const uint64_t *sizes, void **dst);
    void *ctx;
    bool shed_stalled; /* a pool thread (REST): do not queue behind a stalled peer */
} store_get_sink_t;

/* Reads n values into the sink's buffers; sizes[i] gets the size of each
 * value read (0 otherwise). OBJECT_NOT_FOUND for a missing key,
 * LEASE_EXPIRED when a copy outlived its lease, TRANSFER_FAIL when no
 * replica could be read. The bytes at dst[i] of a key whose code is not
 * MC_OK are undefined: never hand them out. */
void store_get_batch(store_service_t *s, size_t n, const char *const *keys, const size_t *key_lens,
                     const store_get_sink_t *sink, uint64_t *sizes, int *codes);
/* The same, each value in its own malloc'd buffer (out[i], caller frees;
 * NULL unless codes[i] is MC_OK). */
void store_get_batch_alloc(store_service_t *s, size_t n, const char *const *keys,
                           const size_t *key_lens, store_value_t *out, int *codes);
/* exists[i] / sizes[i] are meaningful when codes[i] == MC_OK. */
void store_exist_batch(store_service_t *s, size_t n, const char *const *keys,
                       const size_t *key_lens, bool *exists, int *codes);
void store_size_batch(store_service_t *s, size_t n, const char *const *keys, const size_t *key_lens,
                      uint64_t *sizes, int *codes);
void store_remove_batch(store_service_t *s, size_t n, const char *const *keys,
                        const size_t *key_lens, bool force, int *codes);
/* Views (get_buffer of local clients): for each key a hold at the master
 * (this service's client id) and the value's offset and size in this
 * service's own segment. REPLICA_NOT_FOUND for a key whose replicas all live
 * elsewhere (no hold is kept for it). Each MC_OK must be matched by one
 * store_view_release of the key. */
void store_view_batch(store_service_t *s, size_t n, const char *const *keys, const size_t *key_lens,
                      uint64_t *offsets, uint64_t *sizes, int *codes);
/* Returns once the hold releases of gets that have returned have been sent
 * to the master (they go from a background thread: store_release.h). Tests. */
void store_service_flush_releases(store_service_t *s);
/* Renews the holds of views still open: one more hold and one release per
 * key (a new hold moves the end of all of the client's holds on it). */
void store_view_renew(store_service_t *s, size_t n, const char *const *keys,
                      const size_t *key_lens);
/* Drops one hold per key (a view ended). */
void store_view_release(store_service_t *s, size_t n, const char *const *keys,
                        const size_t *key_lens, int *codes);
/* The replicas of n keys as the master lists them (no hold is taken; the
 * master grants its usual read lease). fn runs for each key whose code is
 * MC_OK, with i the caller's index; r and its strings live until it returns. */
typedef void (*store_desc_fn)(void *ctx, size_t i, const mc_key_result_t *r);
void store_replica_desc_batch(store_service_t *s, size_t n, const char *const *keys,
                              const size_t *key_lens, store_desc_fn fn, void *ctx, int *codes);
/* Mooncake's batch_replica_clear of this service's own objects (master_core.h,
 * mc_master_batch_replica_clear): replicas on segment (NULL or "" = every
 * segment) dropped; codes[i] MC_OK for each key cleared. */
void store_replica_clear_batch(store_service_t *s, size_t n, const char *const *keys,
                               const size_t *key_lens, const char *segment, int *codes);
/* The one whole-call result: a count. pattern NULL = everything. Returns
 * MC_OK or the master's error. */
int store_remove_many(store_service_t *s, const char *pattern, bool force, uint64_t *removed);

#endif
