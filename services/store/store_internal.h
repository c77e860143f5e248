/* Shared between store_service.c (lifecycle, liveness) and store_ops.c (put,
 * get and the pass-through calls). Nothing else includes it.
 *
 * Locking: mu guards stop, the condition variable and the writes of seg_secret. epoch and
 * master_ok are atomics written by the liveness thread and read by the
 * operations; everything else is set before the thread starts and read-only
 * afterwards. The SSD tier (ssd) locks its own state (store_ssd_internal.h). */
#ifndef MC_STORE_INTERNAL_H
#define MC_STORE_INTERNAL_H

#include "mc/http_client.h"
#include "mc/metrics.h"
#include "mc/thread.h"
#include "mc/transfer.h"
#include "lease_cache.h"
#include "peer_gate.h"
#include "verified.h"
#include "mc/uuid.h"
#include "store_master.h"
#include "store_segment.h"
#include "store_service.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct store_stats {
    mc_counter_t *put_keys, *put_errors, *put_bytes;
    mc_counter_t *get_keys, *get_misses, *get_errors, *get_bytes;
    mc_counter_t *transfer_errors, *lease_expired, *remounts;
    mc_counter_t *put_retries, *failures_reported, *checksum_mismatches, *peer_refusals;
    mc_counter_t *bad_replicas;        /* replicas dropped at the master after a mismatch */
    mc_counter_t *descriptor_refusals; /* a descriptor that is not the master's segment */
    mc_histogram_t *put_meta, *put_data, *get_meta, *get_data;
} store_stats_t;

struct store_service {
    char name[256]; /* segment name = local_hostname */
    char protocol[8];
    mc_uuid_t client_id, segment_id;
    store_segment_t seg; /* seg.base == NULL: contributes no memory */
    mc_te_t *te;
    bool te_registered;                     /* liveness thread only, after start */
    uint64_t te_epoch;                      /* epoch the engine holds (liveness thread only) */
    char seg_secret[MC_MSG_MAX_SECRET + 1]; /* the master's secret for the segment, from its
                                             * mount reply ("" before the first mount):
                                             * written by the liveness thread under mu, read
                                             * elsewhere through store_seg_secret_copy */
    mc_auth_t *auth;                        /* the service's credentials (NULL in tests) */
    store_master_t *master;                 /* operations */
    store_master_t *pinger;                 /* liveness: short timeout, no retries */
    struct store_releaser *releaser;        /* hold releases off the read path (store_release.h) */
    uint32_t data_timeout_ms;
    _Atomic uint64_t epoch; /* current mount epoch; 0 = not mounted */
    _Atomic bool master_ok;
    pthread_t thread;
    bool thread_started;
    mc_mutex_t mu; /* guards stop; cv signals it */
    pthread_cond_t cv;
    bool stop MC_GUARDED_BY(mu);
    bool populate; /* page the segment in at start-up */
    pthread_t populate_thread;
    bool populate_started;
    _Atomic bool populate_stop;
    _Atomic uint64_t populated;  /* bytes paged in so far */
    store_peer_gate_t *peers;    /* threads waiting on each peer (peer_gate.h) */
    store_lease_cache_t *leases; /* own-segment reads still leased: served
                                  * while the master is unreachable */
    struct store_ssd *ssd;       /* the SSD tier (store_ssd.h); NULL = none */
    mc_http_client_t *ssd_http;  /* reads of the peers' disk replicas */
    store_verified_t *verified;  /* own-segment replicas whose bytes were checked:
                                  * views are verified once per replica */
    store_stats_t st;
};

/* The segment's secret as the master gave it ("" before the first mount):
 * what the SSD tier's calls present as this service's identity. */
void store_seg_secret_copy(store_service_t *s, char *out, size_t cap);
/* Our segment as the planner sees it right now. */
store_local_seg_t store_local_view(store_service_t *s);
void store_stats_init(store_stats_t *st, mc_metrics_t *m);

#endif
