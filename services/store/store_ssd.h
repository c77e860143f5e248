/* The SSD tier of the store service (issue 13, docs/ssd-tier.md): the
 * bucket-file backend (services/store/ssd, mc_ssd) wired to the master.
 *
 * - start-up: the backend opened under --ssd_path, the service's client id
 *   kept in <mc_ssd_dir>/identity (a restarted service keeps its id), the
 *   disk tier mounted with the master (again after NEED_REMOUNT), every live
 *   record re-registered with create_missing in batches;
 * - write-behind: the master's persist tasks (POST /api/v1/ssd/tasks) are
 *   queued (bounded; overflow counted, the object stays memory-only) and one
 *   thread copies each object out of the own segment (under the task's hold,
 *   CRC32C checked against the checksum), writes batches with mc_ssd_write
 *   and registers the disk replicas; drop tasks remove records;
 * - reads: store_ssd_get reads a key's disk replicas, the own ones straight
 *   into the destination, a peer's from its GET /api/v1/ssd/read; every copy
 *   checked against the object's checksum; a failed one is reported and the
 *   next replica tried;
 * - disk eviction over the high watermark (the master told before a bucket
 *   file goes), remove_all clearing the tier, mc_store_ssd_* metrics.
 *
 * Threads: every function is thread-safe. The tier has one thread of its own
 * (mount, re-registration, write-behind, drops, eviction). */
#ifndef MC_STORE_SSD_H
#define MC_STORE_SSD_H

#include "mc/master_msg.h"
#include "mc/metrics.h"
#include "mc/uuid.h"
#include "store_config.h"
#include "store_core.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Served by a store with a tier: one record's value for a peer. */
#define STORE_SSD_READ_ROUTE "/api/v1/ssd/read"

typedef struct store_ssd store_ssd_t;
typedef struct store_service store_service_t;

/* Opens the tier of cfg (cfg->ssd_path non-empty) and sets *client_id to the
 * identity kept in its directory (created on first use). MC_OK, or an error
 * with a one-line reason in err. */
int store_ssd_open(const store_config_t *cfg, mc_metrics_t *metrics, store_ssd_t **out,
                   mc_uuid_t *client_id, mc_errmsg_t *err);
/* Starts the tier's thread for service s (after its master and segment
 * exist). MC_OK or MC_INTERNAL_ERROR. */
int store_ssd_start(store_ssd_t *t, store_service_t *s);
/* Stops the thread (queued tasks are dropped: their holds end by TTL) and
 * closes the backend. Safe on NULL. */
void store_ssd_destroy(store_ssd_t *t);

/* The URL where the master and the other stores reach this service
 * ("http://host:port"): known once the REST listener runs. The disk tier is
 * mounted with the master from then on. */
void store_ssd_set_control_url(store_ssd_t *t, const char *url);
/* The master asked for a remount (restart or TTL expiry): mount the disk
 * tier again and re-register every record. */
void store_ssd_remount(store_ssd_t *t);
/* True while the disk tier is mounted with the master (the service's health). */
bool store_ssd_mounted(store_ssd_t *t);
/* Capacity and bytes used, for the ping. */
void store_ssd_usage(store_ssd_t *t, uint64_t *capacity, uint64_t *used);

/* Queues a persist task (key's value: size bytes at offset of segment
 * segment_id, CRC32C checksum). MC_OK, or MC_BUFFER_OVERFLOW when the queue
 * is full (counted; the object stays memory-only). */
int store_ssd_enqueue_persist(store_ssd_t *t, const char *key, size_t key_len, uint64_t size,
                              uint32_t checksum, mc_uuid_t segment_id, uint64_t offset);
/* Queues a drop task: the record of key in bucket goes. */
int store_ssd_enqueue_drop(store_ssd_t *t, const char *key, size_t key_len, uint64_t bucket);

/* remove_all went through this service: every bucket of the cluster goes. */
int store_ssd_clear(store_ssd_t *t);

/* Serves GET /api/v1/ssd/read: the record at ref read into dst
 * (ref->length bytes), checked against ref->crc. A record that fails (gone,
 * EIO, corrupt) is dropped here and at the master. MC_OK or the error. */
int store_ssd_serve_read(store_service_t *s, const store_disk_ref_t *ref, void *dst);

/* Reads key's value from its disk replicas in r (r->size bytes into dst):
 * the own ones first (mc_ssd_read straight into dst), then the peers'
 * (their GET /api/v1/ssd/read). Every copy is checked against r's checksum;
 * a failed one is counted and reported, and the next replica tried.
 * shed_stalled: a pool thread, which gives up on a stalled peer (peer_gate.h).
 * MC_OK, MC_OBJECT_NOT_FOUND when r has no disk replica this service can
 * read, MC_TRANSFER_FAIL when every one failed. Never wrong bytes as MC_OK. */
int store_ssd_get(store_service_t *s, const char *key, size_t key_len, const mc_key_result_t *r,
                  void *dst, bool shed_stalled);
/* store_ssd_get of n keys (res[i] their replica lists, dst[i] their
 * destinations); the keys whose first disk replica is this tier's are read
 * with one mc_ssd_read_batch (values written together come back with one
 * preadv). codes[i] per key. */
void store_ssd_get_batch(store_service_t *s, size_t n, const char *const *keys,
                         const size_t *key_lens, const mc_key_result_t *const *res,
                         void *const *dst, bool shed_stalled, int *codes);
/* True when r lists a disk replica store_ssd_get could read. */
bool store_ssd_has_disk(store_service_t *s, const mc_key_result_t *r);

#endif
