/* The SSD tier's storage backend: objects grouped in checksummed bucket files
 * under <path>/<cluster_id>/ (format: docs/ssd-format.md). Pure file I/O and
 * format: no HTTP, no master, no logging (errors are returned; the caller
 * logs). Every call is thread-safe.
 *
 * Additions to section 1 of the SSD contract (names there unchanged):
 * mc_ssd_file_ops_t's members and mc_ssd_default_fops(); cfg->on_discard /
 * discard_arg (one call per record recovery discards) and cfg->verify_crc;
 * mc_ssd_read_batch(); mc_ssd_evict_abort(); mc_ssd_scrub(); stats->direct,
 * removed, evicted_buckets, scrubbed, scrub_bad, dio_mem_align; recovery->removed.
 * mc_ssd_write returns MC_OK when every item was written, else the first
 * failing item's code (codes[] has each item's). */
#ifndef MC_SSD_H
#define MC_SSD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef enum { MC_SSD_DUR_NONE = 0, MC_SSD_DUR_DATA = 1, MC_SSD_DUR_FULL = 2 } mc_ssd_durability_t;

/* The system calls the backend makes on its bucket files, so tests inject
 * EIO, ENOSPC and short writes. Each returns what the syscall returns and
 * sets errno the same way; ctx is passed through. */
typedef struct mc_ssd_file_ops {
    void *ctx;
    int (*open)(void *ctx, const char *path, int flags, mode_t mode);
    int (*close)(void *ctx, int fd);
    ssize_t (*preadv)(void *ctx, int fd, const struct iovec *iov, int iovcnt, off_t off);
    ssize_t (*pwritev)(void *ctx, int fd, const struct iovec *iov, int iovcnt, off_t off);
    int (*fdatasync)(void *ctx, int fd);
    int (*fsync)(void *ctx, int fd); /* the directory */
    int (*fallocate)(void *ctx, int fd, int mode, off_t off, off_t len);
    int (*ftruncate)(void *ctx, int fd, off_t len);
    int (*unlink)(void *ctx, const char *path);
    off_t (*lseek)(void *ctx, int fd, off_t off, int whence);
} mc_ssd_file_ops_t;

/* The plain system calls (what fops == NULL means); tests wrap them. */
const mc_ssd_file_ops_t *mc_ssd_default_fops(void);

/* Called once per record recovery discards (torn or corrupt), only inside
 * mc_ssd_open; why is a constant string, key is NULL when the record header
 * itself was bad. Also called, not counted, for a bad index (the bucket is
 * then scanned record by record). */
typedef void (*mc_ssd_discard_fn)(void *arg, uint64_t bucket, uint64_t offset, const char *key,
                                  size_t key_len, const char *why);

typedef struct mc_ssd_cfg {
    const char *path;       /* --ssd_path: absolute, exists, writable */
    const char *cluster_id; /* --cluster_id; NULL = read <path>/cluster_id or create it */
    uint64_t
        capacity; /* bytes; 0 = half the free space at open, refused (MC_INVALID_PARAMS) if that is < 1 GiB */
    uint64_t bucket_bytes;  /* 0 = 256 MiB */
    uint32_t bucket_keys;   /* 0 = 500 */
    double high_wm, low_wm; /* fractions of capacity (0 = 0.95, 0.85) */
    mc_ssd_durability_t durability;
    const mc_ssd_file_ops_t *fops; /* NULL = mc_ssd_default_fops() */
    mc_ssd_discard_fn on_discard;  /* optional */
    void *discard_arg;
    bool verify_crc; /* write: check each value against item->crc first (one more pass) */
} mc_ssd_cfg_t;

typedef struct mc_ssd mc_ssd_t;

/* Where one value lives: what the master stores as a disk replica. */
typedef struct mc_ssd_loc {
    uint64_t bucket; /* bucket id (file name is derived from it, never from a key) */
    uint64_t offset; /* value's byte offset in the bucket file, a multiple of 4096 */
    uint64_t length; /* value length */
    uint32_t crc;    /* CRC32C of the value: the object's checksum at the master */
} mc_ssd_loc_t;

typedef struct mc_ssd_item { /* one object to write */
    const char *key;
    size_t key_len;
    const struct iovec *iov; /* the value, as fragments */
    int iovcnt;
    uint64_t length;
    uint32_t crc; /* the value's CRC32C as the master has it */
} mc_ssd_item_t;

typedef struct mc_ssd_recovery {
    uint64_t buckets, records, discarded, bytes, ms;
    uint64_t removed; /* records found removed (punched), not counted as discarded */
} mc_ssd_recovery_t;

typedef struct mc_ssd_stats {
    uint64_t capacity, used, live_bytes, records, buckets, punched_bytes, write_errors, read_errors,
        crc_errors;
    uint64_t removed, evicted_buckets;
    uint64_t scrubbed, scrub_bad; /* records mc_ssd_scrub read back / found bad */
    bool direct;                  /* bucket files are written with O_DIRECT */
    uint32_t dio_mem_align; /* memory alignment a value or destination needs to skip the copy */
} mc_ssd_stats_t;

#define MC_SSD_BLOCK 4096u

/* Checks the directory, takes <path>/lock (MC_FILE_LOCK_FAIL when another
 * mc_ssd_t holds it), opens <path>/<cluster_id>/ and scans every bucket
 * (rep, optional, gets the counts). MC_INVALID_PARAMS on a bad cfg. */
int mc_ssd_open(const mc_ssd_cfg_t *cfg, mc_ssd_t **out, mc_ssd_recovery_t *rep);
void mc_ssd_close(mc_ssd_t *s);
const char *mc_ssd_cluster_id(const mc_ssd_t *s);
const char *
mc_ssd_dir(const mc_ssd_t *s); /* <path>/<cluster_id>: the tier may keep its own small files here */

/* Batched, vectored write; codes[i] per item: MC_OK and locs[i] filled,
 * MC_NO_AVAILABLE_HANDLE (over capacity), MC_FILE_WRITE_FAIL (EIO/ENOSPC:
 * counted, nothing registered), MC_INVALID_PARAMS (bad key, iov not summing
 * to length, or with cfg->verify_crc a CRC mismatch). Returns when the items
 * are as durable as cfg->durability says; MC_OK when every item is, else the
 * first failing item's code. */
int mc_ssd_write(mc_ssd_t *s, const mc_ssd_item_t *items, size_t n, mc_ssd_loc_t *locs, int *codes);
/* Reads the value at loc into dst (len == loc->length), straight into dst
 * with O_DIRECT when dst is at stats.dio_mem_align (the part of the last
 * block past a 4 KiB multiple through a bounce block), otherwise through a
 * bounce buffer;
 * checks the header, key and CRC. MC_OK, MC_OBJECT_NOT_FOUND (record removed
 * or bucket gone / picked for eviction), MC_FILE_READ_FAIL (EIO),
 * MC_INVALID_READ (checksum or key mismatch), MC_INVALID_PARAMS. Never MC_OK
 * with wrong bytes. A bucket under read is never deleted. */
int mc_ssd_read(mc_ssd_t *s, const mc_ssd_loc_t *loc, const char *key, size_t key_len, void *dst,
                uint64_t len);
typedef struct mc_ssd_read_item {
    mc_ssd_loc_t loc;
    const char *key;
    size_t key_len;
    void *dst; /* loc.length bytes */
} mc_ssd_read_item_t;
/* n reads as mc_ssd_read each (codes[i] per item; MC_OK when all are, else
 * the first failing code). Values that lie next to each other in a bucket
 * (a batch written together) with aligned destinations (stats.dio_mem_align)
 * are read with one preadv. */
int mc_ssd_read_batch(mc_ssd_t *s, const mc_ssd_read_item_t *items, size_t n, int *codes);
/* Marks the record dead and punches its blocks out of the file
 * (FALLOC_FL_PUNCH_HOLE); a sealed bucket with no live record left is
 * deleted. MC_OBJECT_NOT_FOUND when there is no such live record. */
int mc_ssd_remove(mc_ssd_t *s, const char *key, size_t key_len, const mc_ssd_loc_t *loc);
int mc_ssd_clear(mc_ssd_t *s); /* remove_all: every bucket of this cluster id */
typedef int (*mc_ssd_record_fn)(void *arg, const char *key, size_t key_len,
                                const mc_ssd_loc_t *loc);
/* Every live record (re-registration), oldest first; fn runs without the
 * backend's lock held; a non-zero return stops the walk and is returned. */
int mc_ssd_foreach(mc_ssd_t *s, mc_ssd_record_fn fn, void *arg);
/* Disk eviction, in two steps so the master is told before a file goes:
 * over the high watermark (and then until the low one is reached, counting
 * picked buckets as gone), evict_pick names the oldest sealed bucket (sealing
 * the one being filled if it is the only one) and lists its live records
 * through fn; the caller tells the master; evict_commit deletes it (waits
 * for readers of it to finish; reads started after pick fail
 * MC_OBJECT_NOT_FOUND). MC_OBJECT_NOT_FOUND from pick when under the
 * watermark. evict_abort returns a picked bucket to service. */
int mc_ssd_evict_pick(mc_ssd_t *s, uint64_t *bucket, mc_ssd_record_fn fn, void *arg);
int mc_ssd_evict_commit(mc_ssd_t *s, uint64_t bucket);
int mc_ssd_evict_abort(mc_ssd_t *s, uint64_t bucket);
/* Background scrub, one bucket per call: reads every live record of the
 * first bucket after *cursor (0 to start) back, values included; a record
 * that does not check (or cannot be read) is removed as by mc_ssd_remove
 * and reported through fn (the caller drops that replica at the master).
 * Sets *cursor to the bucket scrubbed; MC_OBJECT_NOT_FOUND past the last
 * bucket (start over from 0). */
int mc_ssd_scrub(mc_ssd_t *s, uint64_t *cursor, mc_ssd_record_fn fn, void *arg);
void mc_ssd_stats(mc_ssd_t *s, mc_ssd_stats_t *out);

#endif
