/* The store service: owns this process's segment (memfd), its transfer
 * engine endpoint and its standing with the master (mount, 1 s pings,
 * remount on NEED_REMOUNT, backoff while the master is unreachable), and
 * performs puts and gets on behalf of callers (REST now, thin clients next).
 *
 * Threads: every function is thread-safe. One background thread pings the
 * master and remounts; callers' threads run the operations. */
#ifndef MC_STORE_SERVICE_H
#define MC_STORE_SERVICE_H

#include "mc/metrics.h"
#include "store_config.h"
#include "store_core.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct store_service store_service_t;

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
 * reason in err. */
int store_service_create(const store_config_t *cfg, mc_metrics_t *metrics,
                         store_service_t **out, char *err, size_t errlen);
/* Stops the thread, unmounts from the master, withdraws the segment from the
 * engine and the metadata server, frees everything. Safe on NULL. */
void store_service_destroy(store_service_t *s);
/* Healthy when the master answered recently and the segment (if any) is
 * mounted; detail gets the reason otherwise. */
bool store_service_healthy(store_service_t *s, char *detail, size_t len);
const char *store_service_segment_name(const store_service_t *s);

/* ---- operations (n <= MC_MSG_MAX_BATCH) ----
 * Every outcome is per key: each call sets codes[i] for every i < n and
 * returns nothing else. A key the master could not be asked about carries
 * the reason (RPC_FAIL while the master is unreachable; own-segment reads
 * whose lease still runs are served then, so a batch can be part OK, part
 * RPC_FAIL). Bad arguments (n == 0, n > MC_MSG_MAX_BATCH, a NULL array) set
 * every code to INVALID_PARAMS; with codes NULL nothing happens. */

/* Two-phase put of n values. Empty values are INVALID_PARAMS; keys that
 * already exist succeed without being rewritten. */
void store_put_batch(store_service_t *s, size_t n, const char *const *keys,
                     const size_t *key_lens, const void *const *values, const uint64_t *sizes,
                     const store_put_opts_t *opts, int *codes);
/* Reads n values into freshly allocated buffers (out[i]); OBJECT_NOT_FOUND
 * for a missing key, LEASE_EXPIRED when a copy outlived its lease,
 * TRANSFER_FAIL when no replica could be read. */
void store_get_batch(store_service_t *s, size_t n, const char *const *keys,
                     const size_t *key_lens, store_value_t *out, int *codes);
/* exists[i] / sizes[i] are meaningful when codes[i] == MC_OK. */
void store_exist_batch(store_service_t *s, size_t n, const char *const *keys,
                       const size_t *key_lens, bool *exists, int *codes);
void store_size_batch(store_service_t *s, size_t n, const char *const *keys,
                      const size_t *key_lens, uint64_t *sizes, int *codes);
void store_remove_batch(store_service_t *s, size_t n, const char *const *keys,
                        const size_t *key_lens, bool force, int *codes);
/* The one whole-call result: a count. pattern NULL = everything. Returns
 * MC_OK or the master's error. */
int store_remove_many(store_service_t *s, const char *pattern, bool force, uint64_t *removed);

#endif
