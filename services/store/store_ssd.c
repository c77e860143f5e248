/* The SSD tier's lifecycle, task queue and background thread (store_ssd.h):
 * identity, disk mount, re-registration, write-behind, drops, eviction. The
 * read path is store_ssd_read.c. */
#include "store_ssd_internal.h"

#include "mc/crc32c.h"
#include "mc/errors.h"
#include "mc/log.h"
#include "mc/mtime.h"
#include "mc/strutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS 1000u                 /* mount retries, eviction checks */
#define WRITE_BATCH_KEYS 32u          /* persist tasks per mc_ssd_write */
#define WRITE_BATCH_BYTES (64u << 20) /* value bytes per mc_ssd_write */
#define REREG_BATCH 512u              /* records per batch_disk_replica_add at recovery */
#define EVICT_BATCH 512u              /* records per batch_disk_replica_remove */

static const double offload_bounds[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                                        0.1,    0.25,  0.5,   1.0,   2.5,  5.0};

/* ---------------- metrics ---------------- */

static double g_capacity(void *ctx)
{
    mc_ssd_stats_t st;
    mc_ssd_stats(((store_ssd_t *)ctx)->be, &st);
    return (double)st.capacity;
}

static double g_used(void *ctx)
{
    mc_ssd_stats_t st;
    mc_ssd_stats(((store_ssd_t *)ctx)->be, &st);
    return (double)st.used;
}

static double g_records(void *ctx)
{
    mc_ssd_stats_t st;
    mc_ssd_stats(((store_ssd_t *)ctx)->be, &st);
    return (double)st.records;
}

static double g_queued(void *ctx)
{
    return (double)atomic_load(&((store_ssd_t *)ctx)->queued_now);
}

static double g_mounted(void *ctx)
{
    return atomic_load(&((store_ssd_t *)ctx)->disk_mounted) ? 1.0 : 0.0;
}

static int metrics_init(store_ssd_t *t, mc_metrics_t *m)
{
    ssd_stats_t *st = &t->st;
    const size_t nb = sizeof(offload_bounds) / sizeof(offload_bounds[0]);

    st->tasks = mc_metrics_counter(m, "mc_store_ssd_tasks_total",
                                   "Persist and drop tasks received from the master", NULL);
    st->overflow = mc_metrics_counter(
        m, "mc_store_ssd_queue_overflow_total",
        "Tasks refused because the queue was full (the object stays memory-only)", NULL);
    st->writes = mc_metrics_counter(m, "mc_store_ssd_writes_total",
                                    "Objects written to the SSD tier and registered", NULL);
    st->write_bytes =
        mc_metrics_counter(m, "mc_store_ssd_write_bytes_total", "Value bytes written", NULL);
    st->write_errors = mc_metrics_counter(
        m, "mc_store_ssd_write_errors_total",
        "Objects not persisted: disk full, I/O error, or not registered with the master", NULL);
    st->skipped = mc_metrics_counter(
        m, "mc_store_ssd_skipped_total",
        "Persist tasks skipped: not in this segment, or its bytes did not match the checksum",
        NULL);
    st->reads = mc_metrics_counter(m, "mc_store_ssd_reads_total",
                                   "Values read from a disk replica (own or a peer's)", NULL);
    st->remote_reads = mc_metrics_counter(m, "mc_store_ssd_remote_reads_total",
                                          "Values read from a peer's disk replica", NULL);
    st->read_errors =
        mc_metrics_counter(m, "mc_store_ssd_read_errors_total",
                           "Disk replica reads that failed (EIO, corrupt, gone, peer error)", NULL);
    st->served = mc_metrics_counter(m, "mc_store_ssd_served_total",
                                    "Values served to peers from this tier", NULL);
    st->drops = mc_metrics_counter(m, "mc_store_ssd_dropped_total",
                                   "Records removed (drop tasks, failed reads, conflicts)", NULL);
    st->evicted = mc_metrics_counter(m, "mc_store_ssd_evicted_buckets_total",
                                     "Bucket files evicted over the high watermark", NULL);
    st->reregistered = mc_metrics_counter(
        m, "mc_store_ssd_reregistered_total",
        "Records re-registered with the master (restart recovery, remount)", NULL);
    st->scrub_bad = mc_metrics_counter(
        m, "mc_store_ssd_scrub_bad_total",
        "Records the background scrub found bad (dropped here and at the master)", NULL);
    st->offload = mc_metrics_histogram(
        m, "mc_store_ssd_offload_seconds",
        "Persist task received -> disk replica registered at the master", NULL, offload_bounds, nb);
    if (!st->tasks || !st->overflow || !st->writes || !st->write_bytes || !st->write_errors ||
        !st->skipped || !st->reads || !st->remote_reads || !st->read_errors || !st->served ||
        !st->drops || !st->evicted || !st->reregistered || !st->scrub_bad || !st->offload)
        return MC_INTERNAL_ERROR;
    if (mc_metrics_gauge_fn(m, "mc_store_ssd_capacity_bytes", "Bytes the SSD tier may use", NULL,
                            g_capacity, t) != MC_OK ||
        mc_metrics_gauge_fn(m, "mc_store_ssd_used_bytes", "Bytes the SSD tier's files take", NULL,
                            g_used, t) != MC_OK ||
        mc_metrics_gauge_fn(m, "mc_store_ssd_records", "Live records in the SSD tier", NULL,
                            g_records, t) != MC_OK ||
        mc_metrics_gauge_fn(m, "mc_store_ssd_queued", "Tasks waiting for the tier's thread", NULL,
                            g_queued, t) != MC_OK ||
        mc_metrics_gauge_fn(m, "mc_store_ssd_mounted",
                            "1 when the disk tier is mounted with the master", NULL, g_mounted,
                            t) != MC_OK)
        return MC_INTERNAL_ERROR;
    return MC_OK;
}

/* ---------------- identity ---------------- */

/* The client id kept in <dir>/identity (one UUID line); created (written to a
 * temporary file, synced, renamed) when absent. */
static int identity_load(const char *dir, mc_uuid_t *id, mc_errmsg_t *err)
{
    char path[1200], tmp[1300], buf[64] = {0}, text[MC_UUID_STR_LEN + 2];
    int fd, n;
    ssize_t got;

    snprintf(path, sizeof(path), "%s/identity", dir);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
        got = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        while (got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == ' '))
            buf[--got] = '\0';
        if (got <= 0 || mc_uuid_parse(buf, id) != MC_OK || mc_uuid_is_nil(*id))
            return mc_fail(err, MC_INVALID_PARAMS, "%s does not hold a client id", path);
        return MC_OK;
    }
    if (errno != ENOENT)
        return mc_fail(err, MC_FILE_READ_FAIL, "%s: %s", path, strerror(errno));
    *id = mc_uuid_generate();
    n = snprintf(text, sizeof(text), "%s\n", mc_uuid_format(*id, buf));
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, text, (size_t)n) != n || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return mc_fail(err, MC_FILE_WRITE_FAIL, "%s: %s", tmp, strerror(e));
    }
    close(fd);
    if (rename(tmp, path) != 0)
        return mc_fail(err, MC_FILE_WRITE_FAIL, "%s: %s", path, strerror(errno));
    if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    return MC_OK;
}

/* ---------------- open / close ---------------- */

/* Recovery's one log line per discarded record. */
static void log_discard(void *arg, uint64_t bucket, uint64_t offset, const char *key,
                        size_t key_len, const char *why)
{
    (void)arg;
    MC_WARN("SSD recovery discarded the record at bucket %llu offset %llu (%s%.*s): %s",
            (unsigned long long)bucket, (unsigned long long)offset, key ? "key " : "no key",
            key ? (int)(key_len > 200 ? 200 : key_len) : 0, key ? key : "", why);
}

static mc_ssd_durability_t durability_of(const char *s)
{
    if (strcmp(s, "none") == 0)
        return MC_SSD_DUR_NONE;
    return strcmp(s, "full") == 0 ? MC_SSD_DUR_FULL : MC_SSD_DUR_DATA;
}

int store_ssd_open(const store_config_t *cfg, mc_metrics_t *metrics, store_ssd_t **out,
                   mc_uuid_t *client_id, mc_errmsg_t *err)
{
    mc_ssd_cfg_t c = {.path = cfg->ssd_path,
                      .cluster_id = cfg->cluster_id[0] ? cfg->cluster_id : NULL,
                      .capacity = cfg->ssd_capacity,
                      .bucket_bytes = cfg->ssd_bucket_bytes,
                      .bucket_keys = (uint32_t)cfg->ssd_bucket_keys,
                      .high_wm = cfg->ssd_high_watermark,
                      .low_wm = cfg->ssd_low_watermark,
                      .durability = durability_of(cfg->ssd_durability),
                      .on_discard = log_discard};
    mc_ssd_recovery_t rep = {0};
    store_ssd_t *t;
    int rc;

    *out = NULL;
    if (cfg->ssd_low_watermark > cfg->ssd_high_watermark)
        return mc_fail(err, MC_INVALID_PARAMS,
                       "--ssd_low_watermark (%g) is over "
                       "--ssd_high_watermark (%g)",
                       cfg->ssd_low_watermark, cfg->ssd_high_watermark);
    if (!(t = calloc(1, sizeof(*t))))
        return mc_fail(err, MC_INTERNAL_ERROR, "out of memory");
    mc_mutex_init(&t->mu);
    if (mc_cond_init_monotonic(&t->cv) != 0) {
        mc_mutex_destroy(&t->mu);
        free(t);
        return mc_fail(err, MC_INTERNAL_ERROR, "out of memory");
    }
    t->limit = (size_t)cfg->ssd_queue_limit;
    t->scrub_ms = cfg->ssd_scrub_ms;
    rc = mc_ssd_open(&c, &t->be, &rep);
    if (rc != MC_OK) {
        mc_fail(err, rc, "SSD tier at %s: %s", cfg->ssd_path, mc_err_name(rc));
        goto fail;
    }
    if ((rc = identity_load(mc_ssd_dir(t->be), client_id, err)) != MC_OK ||
        (rc = metrics_init(t, metrics)) != MC_OK) {
        if (rc == MC_INTERNAL_ERROR)
            mc_fail(err, rc, "out of memory");
        goto fail;
    }
    t->client_id = *client_id;
    mc_mutex_lock(&t->mu); /* not shared yet: for the analysis */
    t->rereg = rep.records > 0;
    mc_mutex_unlock(&t->mu);
    MC_INFO("SSD tier %s: %llu records in %llu buckets recovered (%llu bytes, %llu discarded) "
            "in %llu ms",
            mc_ssd_dir(t->be), (unsigned long long)rep.records, (unsigned long long)rep.buckets,
            (unsigned long long)rep.bytes, (unsigned long long)rep.discarded,
            (unsigned long long)rep.ms);
    *out = t;
    return MC_OK;
fail:
    store_ssd_destroy(t);
    return rc;
}

static void queue_free(task_t *q)
{
    while (q) {
        task_t *n = q->next;
        free(q);
        q = n;
    }
}

void store_ssd_destroy(store_ssd_t *t)
{
    if (!t)
        return;
    if (t->started) {
        mc_mutex_lock(&t->mu);
        t->stop = true;
        pthread_cond_signal(&t->cv);
        mc_mutex_unlock(&t->mu);
        pthread_join(t->thread, NULL);
    }
    pthread_cond_destroy(&t->cv);
    mc_mutex_lock(&t->mu);
    queue_free(t->head);
    t->head = t->tail = NULL;
    mc_mutex_unlock(&t->mu);
    if (t->be)
        mc_ssd_close(t->be);
    free(t->stage);
    mc_mutex_destroy(&t->mu);
    free(t);
}

/* ---------------- small calls ---------------- */

void store_ssd_set_control_url(store_ssd_t *t, const char *url)
{
    if (!t)
        return;
    mc_mutex_lock(&t->mu);
    mc_strlcpy(t->control_url, url, sizeof(t->control_url));
    t->mount_now = true;
    pthread_cond_signal(&t->cv);
    mc_mutex_unlock(&t->mu);
}

void store_ssd_remount(store_ssd_t *t)
{
    if (!t)
        return;
    atomic_store(&t->disk_mounted, false);
    mc_mutex_lock(&t->mu);
    t->rereg = true;
    t->mount_now = true;
    pthread_cond_signal(&t->cv);
    mc_mutex_unlock(&t->mu);
}

bool store_ssd_mounted(store_ssd_t *t)
{
    return atomic_load(&t->disk_mounted);
}

void store_ssd_usage(store_ssd_t *t, uint64_t *capacity, uint64_t *used)
{
    mc_ssd_stats_t st;

    mc_ssd_stats(t->be, &st);
    *capacity = st.capacity;
    *used = st.used;
}

int store_ssd_clear(store_ssd_t *t)
{
    return t ? mc_ssd_clear(t->be) : MC_OK;
}

static int enqueue(store_ssd_t *t, task_t *task)
{
    mc_counter_add(t->st.tasks, 1);
    mc_mutex_lock(&t->mu);
    if (t->queued >= t->limit) {
        mc_mutex_unlock(&t->mu);
        mc_counter_add(t->st.overflow, 1);
        free(task);
        return MC_BUFFER_OVERFLOW;
    }
    if (t->tail)
        t->tail->next = task;
    else
        t->head = task;
    t->tail = task;
    t->queued++;
    atomic_store(&t->queued_now, t->queued);
    pthread_cond_signal(&t->cv);
    mc_mutex_unlock(&t->mu);
    return MC_OK;
}

static task_t *task_new(const char *key, size_t key_len)
{
    task_t *task;

    if (!key || key_len == 0 || key_len > MC_MAX_KEY_LEN ||
        !(task = calloc(1, sizeof(*task) + key_len + 1)))
        return NULL;
    memcpy(task->key, key, key_len);
    task->key_len = key_len;
    task->t_ns = mc_now_ns();
    return task;
}

int store_ssd_enqueue_persist(store_ssd_t *t, const char *key, size_t key_len, uint64_t size,
                              uint32_t checksum, mc_uuid_t segment_id, uint64_t offset)
{
    task_t *task = task_new(key, key_len);

    if (!task)
        return MC_INVALID_PARAMS;
    task->persist = true;
    task->size = size;
    task->checksum = checksum;
    task->segment_id = segment_id;
    task->offset = offset;
    return enqueue(t, task);
}

int store_ssd_enqueue_drop(store_ssd_t *t, const char *key, size_t key_len, uint64_t bucket)
{
    task_t *task = task_new(key, key_len);

    if (!task)
        return MC_INVALID_PARAMS;
    task->bucket = bucket;
    return enqueue(t, task);
}

/* ---------------- the thread: mount, re-registration ---------------- */

/* Mounts the disk tier with the master (idempotent). Tier thread. */
static void disk_mount(store_ssd_t *t, const char *url)
{
    uint64_t cap = 0, used = 0;
    int rc;

    store_ssd_usage(t, &cap, &used);
    rc = ssd_master_mount_disk(t->svc, url, cap, used);
    if (rc != MC_OK) {
        MC_DEBUG("mount_disk: %s", mc_err_name(rc));
        return;
    }
    atomic_store(&t->disk_mounted, true);
    MC_INFO("disk tier mounted (%s, %llu of %llu bytes used)", url, (unsigned long long)used,
            (unsigned long long)cap);
}

typedef struct rec_list {
    ssd_rec_t *v;
    size_t n, cap;
    bool oom;
} rec_list_t;

static int collect_rec(void *arg, const char *key, size_t key_len, const mc_ssd_loc_t *loc)
{
    rec_list_t *l = arg;
    ssd_rec_t *r;

    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        ssd_rec_t *v = realloc(l->v, cap * sizeof(*v));
        if (!v) {
            l->oom = true;
            return MC_INTERNAL_ERROR;
        }
        l->v = v;
        l->cap = cap;
    }
    r = &l->v[l->n];
    if (!(r->key = malloc(key_len ? key_len : 1))) {
        l->oom = true;
        return MC_INTERNAL_ERROR;
    }
    memcpy(r->key, key, key_len);
    r->key_len = key_len;
    r->loc = *loc;
    l->n++;
    return MC_OK;
}

static void rec_list_cleanup(rec_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].key);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

/* Drops one record: the master told first (its disk replica), then the
 * file's record. Either may already be gone. */
void ssd_drop_record(store_ssd_t *t, const char *key, size_t key_len, const mc_ssd_loc_t *loc,
                     bool tell_master)
{
    ssd_rec_t r = {(char *)(uintptr_t)key, key_len, *loc};
    int code = MC_OK;

    if (tell_master)
        (void)ssd_master_disk_remove(t->svc, &r, 1, &code);
    if (mc_ssd_remove(t->be, key, key_len, loc) == MC_OK)
        mc_counter_add(t->st.drops, 1);
}

/* Re-registers every live record with create_missing (restart recovery,
 * remount), in batches; applies the conflict rules to the answers. Returns
 * MC_OK, or the error of a batch the master did not answer (retried later). */
static int reregister(store_ssd_t *t)
{
    rec_list_t l = {0};
    int *codes = NULL;
    uint64_t t0 = mc_now_ms(), kept = 0, dropped = 0, retry = 0;
    int rc = mc_ssd_foreach(t->be, collect_rec, &l);

    if (rc != MC_OK || l.oom || !(codes = calloc(REREG_BATCH, sizeof(*codes)))) {
        rec_list_cleanup(&l);
        free(codes);
        return rc != MC_OK ? rc : MC_INTERNAL_ERROR;
    }
    for (size_t i = 0; i < l.n && rc == MC_OK; i += REREG_BATCH) {
        size_t n = l.n - i < REREG_BATCH ? l.n - i : REREG_BATCH;
        rc = ssd_master_disk_add(t->svc, &l.v[i], n, true, codes);
        for (size_t j = 0; rc == MC_OK && j < n; j++) {
            ssd_rec_t *r = &l.v[i + j];
            switch (store_disk_add_verdict(codes[j])) {
            case STORE_DISK_KEEP: kept++; break;
            case STORE_DISK_DROP:
                MC_WARN("SSD record %.*s (bucket %llu) discarded at re-registration: %s",
                        (int)(r->key_len > 200 ? 200 : r->key_len), r->key,
                        (unsigned long long)r->loc.bucket, mc_err_name(codes[j]));
                ssd_drop_record(t, r->key, r->key_len, &r->loc, false);
                dropped++;
                break;
            case STORE_DISK_RETRY: retry++; break;
            }
        }
    }
    if (rc == MC_OK && retry > 0)
        rc = MC_CLIENT_NOT_FOUND; /* mounted again, then every record again */
    mc_counter_add(t->st.reregistered, kept);
    if (rc == MC_OK && l.n > 0)
        MC_INFO("SSD tier re-registered %llu records (%llu discarded) in %llu ms",
                (unsigned long long)kept, (unsigned long long)dropped,
                (unsigned long long)(mc_now_ms() - t0));
    else if (rc != MC_OK)
        MC_WARN("SSD re-registration stopped after %llu records: %s (retried)",
                (unsigned long long)kept, mc_err_name(rc));
    rec_list_cleanup(&l);
    free(codes);
    return rc;
}

/* ---------------- the thread: eviction ---------------- */

/* Over the high watermark: the oldest bucket's records are removed at the
 * master, then the bucket file goes. Stops when the master cannot be told
 * (nothing is deleted then) or under the watermark. Returns the buckets
 * deleted. */
static unsigned evict(store_ssd_t *t)
{
    unsigned done = 0;

    for (int round = 0; round < 1024; round++) {
        rec_list_t l = {0};
        uint64_t bucket = 0;
        int rc = mc_ssd_evict_pick(t->be, &bucket, collect_rec, &l), mrc = MC_OK;
        int *codes = NULL;

        if (rc != MC_OK || l.oom) {
            rec_list_cleanup(&l);
            if (rc != MC_OBJECT_NOT_FOUND)
                MC_WARN("disk eviction: pick failed: %s", mc_err_name(rc));
            return done;
        }
        codes = calloc(EVICT_BATCH, sizeof(*codes));
        for (size_t i = 0; codes && i < l.n && mrc == MC_OK; i += EVICT_BATCH) {
            size_t n = l.n - i < EVICT_BATCH ? l.n - i : EVICT_BATCH;
            mrc = ssd_master_disk_remove(t->svc, &l.v[i], n, codes);
        }
        if (!codes || mrc != MC_OK) {
            MC_WARN("disk eviction of bucket %llu postponed: the master was not told (%s)",
                    (unsigned long long)bucket, mc_err_name(codes ? mrc : MC_INTERNAL_ERROR));
            (void)mc_ssd_evict_abort(t->be, bucket);
            free(codes);
            rec_list_cleanup(&l);
            return done;
        }
        rc = mc_ssd_evict_commit(t->be, bucket);
        if (rc == MC_OK) {
            mc_counter_add(t->st.evicted, 1);
            done++;
        }
        MC_INFO("disk eviction: bucket %llu (%zu records) %s", (unsigned long long)bucket, l.n,
                rc == MC_OK ? "deleted" : mc_err_name(rc));
        free(codes);
        rec_list_cleanup(&l);
        if (rc != MC_OK)
            return done;
    }
    return done;
}

/* ---------------- the thread: scrub ---------------- */

/* One bucket's live records read back (mc_ssd_scrub removes the bad ones);
 * the master is told about each bad one. */
static void scrub(store_ssd_t *t)
{
    rec_list_t bad = {0};
    int *codes;
    int rc = mc_ssd_scrub(t->be, &t->scrub_cursor, collect_rec, &bad);

    if (rc == MC_OBJECT_NOT_FOUND)
        t->scrub_cursor = 0; /* past the last bucket: start over */
    if (bad.n > 0 && (codes = calloc(bad.n, sizeof(*codes)))) {
        for (size_t i = 0; i < bad.n; i++)
            MC_WARN("SSD scrub: record %.*s (bucket %llu offset %llu) does not check; dropped",
                    (int)(bad.v[i].key_len > 200 ? 200 : bad.v[i].key_len), bad.v[i].key,
                    (unsigned long long)bad.v[i].loc.bucket,
                    (unsigned long long)bad.v[i].loc.offset);
        for (size_t i = 0; i < bad.n; i += EVICT_BATCH)
            (void)ssd_master_disk_remove(
                t->svc, &bad.v[i], bad.n - i < EVICT_BATCH ? bad.n - i : EVICT_BATCH, codes + i);
        mc_counter_add(t->st.scrub_bad, bad.n);
        free(codes);
    }
    rec_list_cleanup(&bad);
}

/* ---------------- the thread: write-behind ---------------- */

static bool stage_reserve(store_ssd_t *t, size_t bytes)
{
    void *p = NULL;

    if (bytes <= t->stage_cap)
        return true;
    if (posix_memalign(&p, 4096, bytes) != 0)
        return false;
    free(t->stage);
    t->stage = p;
    t->stage_cap = bytes;
    return true;
}

/* mc_ssd_write of n items; the ones over the capacity are written again
 * after each eviction that freed a bucket (bounded). codes[i] per item. */
static void write_evicting(store_ssd_t *t, const mc_ssd_item_t *items, size_t n, mc_ssd_loc_t *locs,
                           int *codes)
{
    mc_ssd_item_t again[WRITE_BATCH_KEYS];
    mc_ssd_loc_t alocs[WRITE_BATCH_KEYS];
    int acodes[WRITE_BATCH_KEYS];
    size_t idx[WRITE_BATCH_KEYS];

    for (size_t i = 0; i < n; i++)
        codes[i] = MC_INTERNAL_ERROR;
    (void)mc_ssd_write(t->be, items, n, locs, codes); /* codes[] has each item's */
    for (int round = 0; round < 8; round++) {
        size_t nf = 0;
        for (size_t i = 0; i < n; i++)
            if (codes[i] == MC_NO_AVAILABLE_HANDLE)
                idx[nf++] = i;
        if (nf == 0 || evict(t) == 0)
            return;
        for (size_t j = 0; j < nf; j++) {
            again[j] = items[idx[j]];
            acodes[j] = MC_INTERNAL_ERROR;
        }
        (void)mc_ssd_write(t->be, again, nf, alocs, acodes);
        for (size_t j = 0; j < nf; j++) {
            codes[idx[j]] = acodes[j];
            locs[idx[j]] = alocs[j];
        }
    }
}

/* Writes one batch of persist tasks: each value copied out of the own
 * segment with its CRC32C (a mismatch skips the task), one mc_ssd_write,
 * one batch_disk_replica_add (which also ends the task's hold at the
 * master). A task that is skipped or fails keeps its hold until the
 * master's hold TTL: releasing it here could drop another hold of ours on
 * the key when the master took none for the task. */
static void persist_batch(store_ssd_t *t, task_t **v, size_t n)
{
    mc_ssd_item_t items[WRITE_BATCH_KEYS];
    struct iovec iov[WRITE_BATCH_KEYS];
    mc_ssd_loc_t locs[WRITE_BATCH_KEYS];
    ssd_rec_t recs[WRITE_BATCH_KEYS];
    task_t *w[WRITE_BATCH_KEYS];
    int codes[WRITE_BATCH_KEYS], mcodes[WRITE_BATCH_KEYS];
    size_t total = 0, m = 0, k = 0, off = 0;
    int rc;

    for (size_t i = 0; i < n; i++)
        total += v[i]->size;
    if (!stage_reserve(t, total ? total : 1)) {
        mc_counter_add(t->st.write_errors, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        task_t *task = v[i];
        char *dst = (char *)t->stage + off;
        if (!ssd_segment_copy(t->svc, task->segment_id, task->offset, task->size, dst,
                              task->checksum)) {
            mc_counter_add(t->st.skipped, 1);
            continue;
        }
        iov[m] = (struct iovec){dst, task->size};
        items[m] = (mc_ssd_item_t){.key = task->key,
                                   .key_len = task->key_len,
                                   .iov = &iov[m],
                                   .iovcnt = 1,
                                   .length = task->size,
                                   .crc = task->checksum};
        w[m++] = task;
        off += task->size;
    }
    if (m == 0)
        return;
    write_evicting(t, items, m, locs, codes);
    for (size_t i = 0; i < m; i++) {
        if (codes[i] != MC_OK) {
            mc_counter_add(t->st.write_errors, 1);
            continue;
        }
        recs[k] = (ssd_rec_t){w[i]->key, w[i]->key_len, locs[i]};
        w[k++] = w[i];
    }
    if (k == 0)
        return;
    rc = ssd_master_disk_add(t->svc, recs, k, false, mcodes);
    for (size_t i = 0; i < k; i++) {
        int code = rc != MC_OK ? rc : mcodes[i];
        if (store_disk_add_verdict(code) == STORE_DISK_KEEP) {
            mc_counter_add(t->st.writes, 1);
            mc_counter_add(t->st.write_bytes, w[i]->size);
            mc_histogram_observe(t->st.offload, (double)(mc_now_ns() - w[i]->t_ns) / 1e9);
            continue;
        }
        /* not registered (removed meanwhile, a different object, master
         * gone): the record would only be found by a later recovery */
        mc_counter_add(t->st.write_errors, 1);
        ssd_drop_record(t, recs[i].key, recs[i].key_len, &recs[i].loc, false);
    }
}

/* ---------------- the thread: drops ---------------- */

/* A drop task names a key and a bucket, not the record's offset, which
 * mc_ssd_remove needs: one walk over the live records finds the drops of a
 * batch (sorted by key, looked up by bsearch). */
static int task_cmp(const void *a, const void *b)
{
    const task_t *x = *(task_t *const *)a, *y = *(task_t *const *)b;
    int c;

    if (x->key_len != y->key_len)
        return x->key_len < y->key_len ? -1 : 1;
    if ((c = memcmp(x->key, y->key, x->key_len)) != 0)
        return c;
    return x->bucket < y->bucket ? -1 : x->bucket > y->bucket;
}

typedef struct drop_walk {
    task_t **v;
    size_t n;
    rec_list_t found;
} drop_walk_t;

/* bsearch's comparison of a record (the probe) with a sorted drop task. */
typedef struct drop_probe {
    const char *key;
    size_t key_len;
    uint64_t bucket;
} drop_probe_t;

static int probe_cmp(const void *a, const void *b)
{
    const drop_probe_t *p = a;
    const task_t *y = *(task_t *const *)b;
    int c;

    if (p->key_len != y->key_len)
        return p->key_len < y->key_len ? -1 : 1;
    if ((c = memcmp(p->key, y->key, p->key_len)) != 0)
        return c;
    return p->bucket < y->bucket ? -1 : p->bucket > y->bucket;
}

static int drop_match(void *arg, const char *key, size_t key_len, const mc_ssd_loc_t *loc)
{
    drop_walk_t *w = arg;
    drop_probe_t p = {key, key_len, loc->bucket};

    return bsearch(&p, w->v, w->n, sizeof(*w->v), probe_cmp)
               ? collect_rec(&w->found, key, key_len, loc)
               : MC_OK;
}

static void drop_batch(store_ssd_t *t, task_t **v, size_t n)
{
    drop_walk_t w = {v, n, {0}};

    if (n == 0)
        return;
    qsort(v, n, sizeof(*v), task_cmp);
    if (mc_ssd_foreach(t->be, drop_match, &w) != MC_OK || w.found.oom)
        MC_WARN("SSD drops: the walk over the records failed; %zu drops left", n);
    for (size_t i = 0; i < w.found.n; i++)
        ssd_drop_record(t, w.found.v[i].key, w.found.v[i].key_len, &w.found.v[i].loc, false);
    rec_list_cleanup(&w.found);
}

/* Runs the persist tasks of q in batches, then its drops, freeing q. */
static void run_tasks(store_ssd_t *t, task_t *q)
{
    task_t *batch[WRITE_BATCH_KEYS], **drops = NULL;
    size_t n = 0, bytes = 0, nd = 0, dcap = 0;

    while (q) {
        task_t *task = q;
        q = q->next;
        if (!task->persist) {
            if (nd == dcap) {
                size_t cap = dcap ? dcap * 2 : 64;
                task_t **d = realloc(drops, cap * sizeof(*d));
                if (!d) {
                    free(task); /* the record stays until eviction or clear */
                    continue;
                }
                drops = d;
                dcap = cap;
            }
            drops[nd++] = task;
            continue;
        }
        if (n > 0 && (n == WRITE_BATCH_KEYS || bytes + task->size > WRITE_BATCH_BYTES)) {
            persist_batch(t, batch, n);
            for (size_t i = 0; i < n; i++)
                free(batch[i]);
            n = bytes = 0;
        }
        batch[n++] = task;
        bytes += task->size;
    }
    persist_batch(t, batch, n);
    for (size_t i = 0; i < n; i++)
        free(batch[i]);
    drop_batch(t, drops, nd);
    for (size_t i = 0; i < nd; i++)
        free(drops[i]);
    free(drops);
}

static void *tier_main(void *arg)
{
    store_ssd_t *t = arg;
    uint64_t next_tick = 0, next_scrub = mc_now_ms() + t->scrub_ms;

    mc_mutex_lock(&t->mu);
    while (!t->stop) {
        task_t *q;
        bool rereg, tick, mount;
        char url[sizeof(t->control_url)];
        uint64_t now = mc_now_ms();

        if (!t->head && now < next_tick && !t->mount_now) {
            struct timespec ts;
            uint64_t wait = next_tick - now;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += (time_t)(wait / 1000);
            ts.tv_nsec += (long)(wait % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            (void)mc_cond_timedwait(&t->cv, &t->mu, &ts);
            continue;
        }
        q = t->head;
        t->head = t->tail = NULL;
        t->queued = 0;
        atomic_store(&t->queued_now, 0);
        rereg = t->rereg;
        mount = t->mount_now;
        t->mount_now = false;
        memcpy(url, t->control_url, sizeof(url));
        mc_mutex_unlock(&t->mu);

        tick = now >= next_tick;
        if (tick)
            next_tick = now + TICK_MS;
        if (!atomic_load(&t->disk_mounted) && url[0] && (tick || mount))
            disk_mount(t, url);
        if (atomic_load(&t->disk_mounted) && rereg) {
            mc_mutex_lock(&t->mu);
            t->rereg = false;
            mc_mutex_unlock(&t->mu);
            if (reregister(t) != MC_OK)
                store_ssd_remount(t); /* mount and re-register again on the next tick */
        }
        run_tasks(t, q);
        if (tick && atomic_load(&t->disk_mounted))
            evict(t);
        if (t->scrub_ms && now >= next_scrub && atomic_load(&t->disk_mounted)) {
            next_scrub = now + t->scrub_ms;
            scrub(t);
        }
        mc_mutex_lock(&t->mu);
    }
    mc_mutex_unlock(&t->mu);
    return NULL;
}

int store_ssd_start(store_ssd_t *t, store_service_t *s)
{
    t->svc = s;
    if (pthread_create(&t->thread, NULL, tier_main, t) != 0)
        return MC_INTERNAL_ERROR;
    t->started = true;
    return MC_OK;
}
