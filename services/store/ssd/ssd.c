/* The SSD backend: open (directory, lock, cluster id, capacity), reads,
 * removal with hole punching, eviction, clear, foreach, stats. Writes are in
 * ssd_write.c, the recovery scan in ssd_recover.c; lock rules in
 * ssd_internal.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "mc/crc32c.h"
#include "mc/errors.h"
#include "mc/uuid.h"
#include "ssd_internal.h"

/* ---- the default file ops: the plain system calls ---- */

static int d_open(void *c, const char *p, int f, mode_t m)
{
    return open(p, f, m);
}
static int d_close(void *c, int fd)
{
    return close(fd);
}
static ssize_t d_preadv(void *c, int fd, const struct iovec *v, int n, off_t o)
{
    return preadv(fd, v, n, o);
}
static ssize_t d_pwritev(void *c, int fd, const struct iovec *v, int n, off_t o)
{
    return pwritev(fd, v, n, o);
}
static int d_fdatasync(void *c, int fd)
{
    return fdatasync(fd);
}
static int d_fsync(void *c, int fd)
{
    return fsync(fd);
}
static int d_fallocate(void *c, int fd, int m, off_t o, off_t l)
{
    return fallocate(fd, m, o, l);
}
static int d_ftruncate(void *c, int fd, off_t l)
{
    return ftruncate(fd, l);
}
static int d_unlink(void *c, const char *p)
{
    return unlink(p);
}
static off_t d_lseek(void *c, int fd, off_t o, int w)
{
    return lseek(fd, o, w);
}

static const mc_ssd_file_ops_t default_fops = {
    NULL,    d_open,      d_close,     d_preadv, d_pwritev, d_fdatasync,
    d_fsync, d_fallocate, d_ftruncate, d_unlink, d_lseek,
};

const mc_ssd_file_ops_t *mc_ssd_default_fops(void)
{
    return &default_fops;
}

/* ---- small helpers ---- */

uint64_t ssd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void *ssd_aligned_alloc(size_t len)
{
    void *p = NULL;
    if (posix_memalign(&p, SSD_BLK, len ? ssd_round_up(len, SSD_BLK) : SSD_BLK) != 0)
        return NULL;
    return p;
}

void ssd_bucket_path(const mc_ssd_t *s, uint64_t id, char *buf, size_t len)
{
    snprintf(buf, len, "%s/b%016" PRIx64 ".mcb", s->dir, id);
}

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", a, b);
    return p;
}

/* Transfers every byte of iov at off, continuing after short transfers.
 * The iov array is consumed. */
int ssd_io_full(mc_ssd_t *s, int fd, struct iovec *iov, int n, uint64_t off, bool write)
{
    while (n > 0) {
        if (off > (uint64_t)INT64_MAX)
            return write ? MC_FILE_WRITE_FAIL : MC_FILE_READ_FAIL;
        ssize_t r = write ? s->fops.pwritev(s->fops.ctx, fd, iov, n, (off_t)off)
                          : s->fops.preadv(s->fops.ctx, fd, iov, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return write ? MC_FILE_WRITE_FAIL : MC_FILE_READ_FAIL;
        if (r == 0)
            return write ? MC_FILE_WRITE_FAIL : MC_INVALID_READ; /* EOF: truncated file */
        off += (uint64_t)r;
        size_t done = (size_t)r;
        while (n > 0 && done >= iov->iov_len) {
            done -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
    return MC_OK;
}

/* Frees [off, off+len) of b's file (whole blocks); *reclaimed tells whether
 * the file system did. */
int ssd_punch(mc_ssd_t *s, ssd_bucket_t *b, uint64_t off, uint64_t len, bool *reclaimed)
{
    *reclaimed = s->fops.fallocate(s->fops.ctx, b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                   (off_t)off, (off_t)len) == 0;
    return *reclaimed ? MC_OK : MC_FILE_WRITE_FAIL;
}

int ssd_rec_push(ssd_bucket_t *b, const ssd_rec_t *r, const char *key)
{
    if (b->nrec == b->cap) {
        uint32_t cap = b->cap ? b->cap * 2 : 64;
        ssd_rec_t *n = realloc(b->recs, cap * sizeof(*n));
        if (!n)
            return MC_INTERNAL_ERROR;
        b->recs = n;
        b->cap = cap;
    }
    char *k = malloc(r->klen + 1u);
    if (!k)
        return MC_INTERNAL_ERROR;
    memcpy(k, key, r->klen);
    k[r->klen] = '\0';
    ssd_rec_t *d = &b->recs[b->nrec++];
    *d = *r;
    d->key = k;
    return MC_OK;
}

static size_t bucket_index_locked(const mc_ssd_t *s, uint64_t id, bool *found) MC_REQUIRES(s->mu)
{
    size_t lo = 0, hi = s->nb;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->b[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < s->nb && s->b[lo]->id == id;
    return lo;
}

ssd_bucket_t *ssd_bucket_find_locked(const mc_ssd_t *s, uint64_t id)
{
    bool found;
    size_t i = bucket_index_locked(s, id, &found);
    return found ? s->b[i] : NULL;
}

int ssd_bucket_add_locked(mc_ssd_t *s, ssd_bucket_t *b)
{
    if (s->nb == s->capb) {
        size_t cap = s->capb ? s->capb * 2 : 16;
        ssd_bucket_t **n = realloc(s->b, cap * sizeof(*n));
        if (!n)
            return MC_INTERNAL_ERROR;
        s->b = n;
        s->capb = cap;
    }
    bool found;
    size_t i = bucket_index_locked(s, b->id, &found);
    if (found)
        return MC_BUCKET_ALREADY_EXISTS;
    memmove(&s->b[i + 1], &s->b[i], (s->nb - i) * sizeof(*s->b));
    s->b[i] = b;
    s->nb++;
    s->used += b->disk;
    if (b->id >= s->next_bucket)
        s->next_bucket = b->id + 1;
    return MC_OK;
}

/* Takes b out of the table (under mu); its file is then unreachable. */
void ssd_bucket_detach_locked(mc_ssd_t *s, ssd_bucket_t *b)
{
    bool found;
    size_t i = bucket_index_locked(s, b->id, &found);
    if (!found)
        return;
    memmove(&s->b[i], &s->b[i + 1], (s->nb - i - 1) * sizeof(*s->b));
    s->nb--;
    s->used -= b->disk;
    if (b->picked)
        s->picked_bytes -= b->disk;
    s->st.records -= b->live;
    s->st.live_bytes -= b->live_bytes;
    if (s->active == b)
        s->active = NULL;
}

void ssd_fsync_dir(mc_ssd_t *s)
{
    int fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    (void)s->fops.fsync(s->fops.ctx, fd);
    close(fd);
}

void ssd_bucket_free(mc_ssd_t *s, ssd_bucket_t *b, bool unlink_file)
{
    if (!b)
        return;
    if (b->fd >= 0)
        s->fops.close(s->fops.ctx, b->fd);
    if (unlink_file) {
        char p[PATH_MAX];
        ssd_bucket_path(s, b->id, p, sizeof(p));
        (void)s->fops.unlink(s->fops.ctx, p);
    }
    for (uint32_t i = 0; i < b->nrec; i++)
        free(b->recs[i].key);
    free(b->recs);
    free(b);
}

/* ---- open / close ---- */

static bool cluster_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 64 || id[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

/* <path>/cluster_id: read it, or create it once (a new UUID, written to a
 * temporary file, synced and renamed into place). */
static int load_cluster_id(mc_ssd_t *s, char **out)
{
    char *f = join(s->path, "cluster_id");
    if (!f)
        return MC_INTERNAL_ERROR;
    int rc = MC_OK;
    char buf[80] = {0};
    int fd = open(f, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t r = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (r < 0)
            rc = MC_FILE_READ_FAIL;
        else {
            buf[r] = '\0';
            buf[strcspn(buf, "\r\n")] = '\0';
            if (!cluster_id_ok(buf))
                rc = MC_INVALID_PARAMS;
        }
    } else if (errno == ENOENT) {
        char tmp[PATH_MAX];
        mc_uuid_format(mc_uuid_generate(), buf);
        snprintf(tmp, sizeof(tmp), "%s.tmp", f);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        size_t n = strlen(buf);
        buf[n] = '\n';
        if (fd < 0 || write(fd, buf, n + 1) != (ssize_t)(n + 1) || fsync(fd) != 0 ||
            rename(tmp, f) != 0)
            rc = MC_FILE_WRITE_FAIL;
        if (fd >= 0)
            close(fd);
        buf[n] = '\0';
        int dfd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
    } else {
        rc = MC_FILE_OPEN_FAIL;
    }
    free(f);
    if (rc == MC_OK && !(*out = strdup(buf)))
        rc = MC_INTERNAL_ERROR;
    return rc;
}

static int check_cfg(const mc_ssd_cfg_t *c)
{
    struct stat st;
    if (!c->path || c->path[0] != '/' || stat(c->path, &st) != 0 || !S_ISDIR(st.st_mode) ||
        access(c->path, W_OK | X_OK) != 0)
        return MC_INVALID_PARAMS;
    if (c->cluster_id && !cluster_id_ok(c->cluster_id))
        return MC_INVALID_PARAMS;
    if (c->durability > MC_SSD_DUR_FULL)
        return MC_INVALID_PARAMS;
    if (c->bucket_bytes && c->bucket_bytes < 64 * SSD_BLK)
        return MC_INVALID_PARAMS;
    if (c->high_wm < 0 || c->high_wm > 1 || c->low_wm < 0 || c->low_wm > 1 ||
        (c->high_wm > 0 && c->low_wm > c->high_wm))
        return MC_INVALID_PARAMS;
    return MC_OK;
}

/* Takes <path>: the lock, the cluster id, the capacity, <path>/<cluster_id>/. */
static int take_dir(mc_ssd_t *s) MC_NO_THREAD_SAFETY_ANALYSIS
{
    const mc_ssd_cfg_t *cfg = &s->cfg;
    int rc;
    s->path = strdup(cfg->path);
    if (!s->path)
        return MC_INTERNAL_ERROR;
    size_t pl = strlen(s->path);
    while (pl > 1 && s->path[pl - 1] == '/')
        s->path[--pl] = '\0';

    char *lock = join(s->path, "lock");
    if (!lock)
        return MC_INTERNAL_ERROR;
    s->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    free(lock);
    if (s->lock_fd < 0)
        return MC_FILE_OPEN_FAIL;
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return MC_FILE_LOCK_FAIL;

    if (cfg->cluster_id)
        s->cluster_id = strdup(cfg->cluster_id);
    else if ((rc = load_cluster_id(s, &s->cluster_id)) != MC_OK)
        return rc;
    if (!s->cluster_id || !(s->dir = join(s->path, s->cluster_id)))
        return MC_INTERNAL_ERROR;

    if (!s->cfg.capacity) {
        struct statvfs vfs;
        if (statvfs(s->path, &vfs) != 0)
            return MC_FILE_OPEN_FAIL;
        s->cfg.capacity = (uint64_t)vfs.f_bavail * vfs.f_frsize / 2;
        if (s->cfg.capacity < (1ull << 30))
            return MC_INVALID_PARAMS;
    }
    s->st.capacity = s->cfg.capacity;

    if (mkdir(s->dir, 0755) != 0 && errno != EEXIST)
        return MC_FILE_OPEN_FAIL;
    struct stat st;
    if (stat(s->dir, &st) != 0 || !S_ISDIR(st.st_mode) || access(s->dir, W_OK | X_OK) != 0)
        return MC_INVALID_PARAMS;
    struct statx sx;
    s->mem_align = SSD_BLK;
    /* asked of the lock file: file systems answer for regular files only */
    if (statx(s->lock_fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
        (sx.stx_mask & STATX_DIOALIGN) && sx.stx_dio_mem_align > 0 &&
        sx.stx_dio_mem_align <= SSD_BLK && (sx.stx_dio_mem_align & (sx.stx_dio_mem_align - 1)) == 0)
        s->mem_align = sx.stx_dio_mem_align; /* values at this alignment go without a copy */
    s->cfg.path = s->path;                   /* the caller's strings need not outlive the open */
    s->cfg.cluster_id = s->cluster_id;
    return MC_OK;
}

/* Not analysed: it fills a handle no other thread can see yet. */
int mc_ssd_open(const mc_ssd_cfg_t *cfg, mc_ssd_t **out,
                mc_ssd_recovery_t *rep) MC_NO_THREAD_SAFETY_ANALYSIS
{
    if (!cfg || !out)
        return MC_INVALID_PARAMS;
    *out = NULL;
    int rc = check_cfg(cfg);
    if (rc != MC_OK)
        return rc;
    mc_ssd_t *s = calloc(1, sizeof(*s));
    if (!s)
        return MC_INTERNAL_ERROR;
    s->cfg = *cfg;
    s->fops = cfg->fops ? *cfg->fops : default_fops;
    s->lock_fd = -1;
    if (!s->cfg.bucket_bytes)
        s->cfg.bucket_bytes = 256u << 20;
    if (!s->cfg.bucket_keys)
        s->cfg.bucket_keys = 500;
    if (s->cfg.high_wm <= 0)
        s->cfg.high_wm = 0.95;
    if (s->cfg.low_wm <= 0)
        s->cfg.low_wm = s->cfg.high_wm < 0.85 ? s->cfg.high_wm : 0.85;
    s->next_bucket = 1;
    s->next_seq = 1;
    s->direct = true;
    mc_mutex_init(&s->wmu);
    mc_mutex_init(&s->mu);
    pthread_cond_init(&s->cv, NULL);
    if ((rc = take_dir(s)) != MC_OK)
        goto fail;
    s->stage_cap = SSD_STAGE_BYTES;
    if (!(s->stage = ssd_aligned_alloc(SSD_STAGES * s->stage_cap)) || ssd_ioq_start(s) != MC_OK) {
        rc = MC_INTERNAL_ERROR;
        goto fail;
    }
    mc_ssd_recovery_t r = {0};
    mc_mutex_lock(&s->wmu);
    rc = ssd_recover(s, &r);
    mc_mutex_unlock(&s->wmu);
    if (rc != MC_OK)
        goto fail;
    if (rep)
        *rep = r;
    *out = s;
    return MC_OK;
fail:
    mc_ssd_close(s);
    return rc;
}

/* Not analysed: the caller guarantees no other call is running. */
void mc_ssd_close(mc_ssd_t *s) MC_NO_THREAD_SAFETY_ANALYSIS
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nb; i++) {
        ssd_bucket_t *b = s->b[i];
        if (!b->sealed) /* the preallocated rest goes; the next open seals it */
            (void)s->fops.ftruncate(s->fops.ctx, b->fd, (off_t)b->end);
        ssd_bucket_free(s, b, false);
    }
    free(s->b);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    ssd_ioq_stop(s);
    free(s->stage);
    free(s->path);
    free(s->dir);
    free(s->cluster_id);
    mc_mutex_destroy(&s->wmu);
    mc_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

const char *mc_ssd_cluster_id(const mc_ssd_t *s)
{
    return s->cluster_id;
}
const char *mc_ssd_dir(const mc_ssd_t *s)
{
    return s->dir;
}

/* ---- lookups and references ---- */

ssd_rec_t *ssd_rec_find_locked(ssd_bucket_t *b, uint64_t voff)
{
    uint32_t lo = 0, hi = b->nrec;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (b->recs[mid].voff < voff)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < b->nrec && b->recs[lo].voff == voff ? &b->recs[lo] : NULL;
}

/* Drops a reference; returns true when the caller must free b (a sealed
 * bucket with nothing live left, now detached). */
bool ssd_bucket_unref_locked(mc_ssd_t *s, ssd_bucket_t *b)
{
    b->refs--;
    if (b->refs > 0)
        return false;
    if (b->picked) {
        pthread_cond_broadcast(&s->cv);
        return false;
    }
    if (b->sealed && b->live == 0) {
        ssd_bucket_detach_locked(s, b);
        return true;
    }
    return false;
}

void ssd_bucket_drop(mc_ssd_t *s, ssd_bucket_t *b)
{
    ssd_bucket_free(s, b, true);
    if (s->cfg.durability == MC_SSD_DUR_FULL)
        ssd_fsync_dir(s);
}

void mc_ssd_stats(mc_ssd_t *s, mc_ssd_stats_t *out)
{
    mc_mutex_lock(&s->mu);
    *out = s->st;
    out->capacity = s->cfg.capacity;
    out->used = s->used;
    out->buckets = s->nb;
    out->direct = s->direct;
    out->dio_mem_align = (uint32_t)s->mem_align;
    mc_mutex_unlock(&s->mu);
}
