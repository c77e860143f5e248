/* Shared by store_ssd.c (lifecycle, queue, thread) and store_ssd_svc.c (the
 * tier's calls into the service: master calls, segment copies, and the
 * read path). Nothing else includes it.
 *
 * Locking: mu guards the queue, stop, rereg, mount_now and control_url; cv signals
 * them. disk_mounted and queued_now are atomics; be is thread-safe itself;
 * stage is the tier thread's alone; the rest is set before the thread
 * starts. */
#ifndef MC_STORE_SSD_INTERNAL_H
#define MC_STORE_SSD_INTERNAL_H

#include "mc/metrics.h"
#include "mc/thread.h"
#include "ssd.h"
#include "store_ssd.h"

#include <pthread.h>
#include <stdatomic.h>

/* One task from the master, key inline. */
typedef struct task {
    struct task *next;
    bool persist; /* else a drop */
    uint64_t size, offset, bucket;
    uint32_t checksum;
    mc_uuid_t segment_id;
    uint64_t t_ns; /* when it was queued */
    size_t key_len;
    char key[];
} task_t;

/* One record: a key and where its value is. */
typedef struct ssd_rec {
    char *key;
    size_t key_len;
    mc_ssd_loc_t loc;
} ssd_rec_t;

typedef struct ssd_stats {
    mc_counter_t *tasks, *overflow, *writes, *write_bytes, *write_errors, *skipped;
    mc_counter_t *reads, *remote_reads, *read_errors, *served, *drops, *evicted, *reregistered;
    mc_counter_t *scrub_bad;
    mc_histogram_t *offload;
} ssd_stats_t;

struct store_ssd {
    mc_ssd_t *be;
    store_service_t *svc;
    mc_uuid_t client_id;
    size_t limit; /* queued tasks at most */
    mc_mutex_t mu;
    pthread_cond_t cv;
    task_t *head MC_GUARDED_BY(mu);
    task_t *tail MC_GUARDED_BY(mu);
    size_t queued MC_GUARDED_BY(mu);
    bool stop MC_GUARDED_BY(mu);
    bool rereg MC_GUARDED_BY(mu);     /* re-register every record once mounted */
    bool mount_now MC_GUARDED_BY(mu); /* mount without waiting for the next tick */
    char control_url[300] MC_GUARDED_BY(mu);
    _Atomic size_t queued_now;
    _Atomic bool disk_mounted;
    pthread_t thread;
    bool started;
    void *stage; /* 4 KiB-aligned staging buffer of the write-behind */
    size_t stage_cap;
    uint64_t scrub_ms;     /* between two buckets scrubbed; 0 = none */
    uint64_t scrub_cursor; /* the last bucket scrubbed (tier thread) */
    ssd_stats_t st;
};

/* store_ssd.c */
void ssd_drop_record(store_ssd_t *t, const char *key, size_t key_len, const mc_ssd_loc_t *loc,
                     bool tell_master);

/* store_ssd_svc.c: the master calls (MC_OK or the whole-call error; codes
 * one per record) and the segment copy. */
int ssd_master_mount_disk(store_service_t *s, const char *url, uint64_t capacity, uint64_t used);
int ssd_master_disk_add(store_service_t *s, const ssd_rec_t *recs, size_t n, bool create_missing,
                        int *codes);
int ssd_master_disk_remove(store_service_t *s, const ssd_rec_t *recs, size_t n, int *codes);
/* Copies size bytes at offset of our segment (which must be segment_id)
 * into dst; true when they are in bounds and their CRC32C is checksum. */
bool ssd_segment_copy(store_service_t *s, mc_uuid_t segment_id, uint64_t offset, uint64_t size,
                      void *dst, uint32_t checksum);

#endif
