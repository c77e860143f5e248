/* Shared between the backend's files: ssd.c (open, table, helpers),
 * ssd_write.c, ssd_read.c, ssd_reclaim.c (remove, foreach, scrub, eviction,
 * clear), ssd_recover.c, ssd_io.c (the I/O pool), ssd_format.c.
 *
 * Lock rules (written once, here; scripts/threadsafety.sh checks the
 * annotated ones):
 * - s->wmu serializes writers, sealing, eviction picks, clear and recovery:
 *   whoever appends to a bucket file, writes its index, creates a bucket or
 *   uses the staging buffer holds it. Taken before s->mu, never while
 *   holding s->mu.
 * - s->mu guards the bucket table, every bucket's record array and counters,
 *   the stats and the eviction state. No I/O is done under it except
 *   unlink/close of a bucket already unreachable from the table.
 * - A bucket's fd stays open while b->refs > 0 (a read or a punch in
 *   flight); evict_commit/clear wait on s->cv for refs to drop to 0 and look
 *   the bucket up again after every wait. A bucket with b->picked set takes
 *   no new refs (reads fail NOT_FOUND).
 * - Records of a bucket only grow at the end (writers, under both locks, so
 *   either lock suffices to read b->nrec and b->end); their fields never
 *   change after publication except dead (under mu).
 * - s->ioq.mu guards the pool's queue and every job's rc/done; the caller
 *   that submits a job owns its buffers until ssd_job_wait returns. */
#ifndef MC_SSD_INTERNAL_H
#define MC_SSD_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "mc/thread.h"
#include "ssd.h"
#include "ssd_format.h"

typedef struct ssd_rec {
    uint64_t off;  /* header offset */
    uint64_t voff; /* value offset */
    uint64_t vlen, seq;
    uint32_t klen, vcrc, hdr_crc;
    bool dead;
    char *key; /* klen bytes + NUL, owned */
} ssd_rec_t;

typedef struct ssd_bucket {
    uint64_t id, nonce;
    int fd;
    uint64_t end;  /* next record offset (unsealed) / index offset (sealed) */
    uint64_t disk; /* bytes of the file not punched out: what counts as used */
    uint64_t pre;  /* file preallocated up to here (writers only, under wmu) */
    uint64_t step; /* preallocation step (writers only); 0 until the first record */
    ssd_rec_t *recs;
    uint32_t nrec, cap, live;
    uint64_t live_bytes;
    bool sealed, picked;
    int refs;
} ssd_bucket_t;

/* An I/O job for the pool (ssd_io.c): iov is consumed. */
typedef struct ssd_job {
    int fd;
    struct iovec *iov;
    int n;
    uint64_t off;
    bool write;
    int rc;    /* under ioq.mu */
    bool done; /* under ioq.mu */
    struct ssd_job *next;
} ssd_job_t;

#define SSD_IO_THREADS 2
typedef struct ssd_ioq {
    mc_mutex_t mu;
    pthread_cond_t work, done;
    ssd_job_t *head MC_GUARDED_BY(mu), *tail MC_GUARDED_BY(mu);
    bool stop MC_GUARDED_BY(mu);
    bool inited;
    pthread_t th[SSD_IO_THREADS];
    int nth;
} ssd_ioq_t;

struct mc_ssd {
    mc_ssd_cfg_t cfg;
    mc_ssd_file_ops_t fops;
    char *path, *dir, *cluster_id;
    int lock_fd;
    bool direct;      /* written under both locks, read under either */
    size_t mem_align; /* O_DIRECT memory alignment (statx STATX_DIOALIGN, else 4096); set at open */
    mc_mutex_t wmu, mu;
    pthread_cond_t cv;
    ssd_bucket_t **b MC_GUARDED_BY(mu); /* by id, ascending */
    size_t nb MC_GUARDED_BY(mu), capb MC_GUARDED_BY(mu);
    ssd_bucket_t *active MC_GUARDED_BY(mu); /* the unsealed bucket writes go to, or NULL */
    uint64_t next_bucket MC_GUARDED_BY(mu);
    uint64_t next_seq MC_GUARDED_BY(wmu);
    uint64_t used MC_GUARDED_BY(mu), picked_bytes MC_GUARDED_BY(mu);
    bool evict_run MC_GUARDED_BY(mu);
    mc_ssd_stats_t st MC_GUARDED_BY(mu);  /* the counters (capacity..records derived on read) */
    uint8_t *stage MC_PT_GUARDED_BY(wmu); /* writers' aligned staging buffer, SSD_STAGES slots */
    size_t stage_cap;                     /* bytes of one slot; set at open */
    ssd_ioq_t ioq;
};

#define SSD_STAGE_BYTES (4u << 20) /* one staging slot */
#define SSD_STAGES 3               /* slots: one being filled, two being written */
#define SSD_IOV_MAX 1000

/* ssd.c */
void ssd_bucket_path(const mc_ssd_t *s, uint64_t id, char *buf, size_t len);
int ssd_bucket_add_locked(mc_ssd_t *s, ssd_bucket_t *b) MC_REQUIRES(s->mu);
void ssd_bucket_free(mc_ssd_t *s, ssd_bucket_t *b, bool unlink_file);
ssd_bucket_t *ssd_bucket_find_locked(const mc_ssd_t *s, uint64_t id) MC_REQUIRES(s->mu);
ssd_rec_t *ssd_rec_find_locked(ssd_bucket_t *b, uint64_t voff); /* by value offset */
/* Drops a reference; true when the caller must ssd_bucket_drop(b) (a sealed
 * bucket with nothing live left, now detached from the table). */
bool ssd_bucket_unref_locked(mc_ssd_t *s, ssd_bucket_t *b) MC_REQUIRES(s->mu);
void ssd_bucket_drop(mc_ssd_t *s, ssd_bucket_t *b); /* frees it, deletes its file */
/* Takes b out of the table and the counters; its file is then unreachable. */
void ssd_bucket_detach_locked(mc_ssd_t *s, ssd_bucket_t *b) MC_REQUIRES(s->mu);
void ssd_fsync_dir(mc_ssd_t *s); /* the cluster directory; errors ignored */
int ssd_rec_push(ssd_bucket_t *b, const ssd_rec_t *r, const char *key);
int ssd_io_full(mc_ssd_t *s, int fd, struct iovec *iov, int n, uint64_t off, bool write);
int ssd_punch(mc_ssd_t *s, ssd_bucket_t *b, uint64_t off, uint64_t len, bool *reclaimed);
void *ssd_aligned_alloc(size_t len);
uint64_t ssd_now_ms(void);

/* ssd_io.c */
int ssd_ioq_start(mc_ssd_t *s);
void ssd_ioq_stop(mc_ssd_t *s);
void ssd_job_submit(mc_ssd_t *s, ssd_job_t *j);
int ssd_job_wait(mc_ssd_t *s, ssd_job_t *j); /* its rc */

/* ssd_write.c */
int ssd_seal_locked_w(mc_ssd_t *s, ssd_bucket_t *b) MC_REQUIRES(s->wmu) MC_EXCLUDES(s->mu);
int ssd_bucket_create_w(mc_ssd_t *s, ssd_bucket_t **out) MC_REQUIRES(s->wmu) MC_EXCLUDES(s->mu);

/* ssd_recover.c */
int ssd_recover(mc_ssd_t *s, mc_ssd_recovery_t *rep) MC_REQUIRES(s->wmu) MC_EXCLUDES(s->mu);

#endif
