/* Removal (hole punching, or a dead-flagged header where the file system
 * cannot punch), foreach, the scrub, two-step eviction and clear: what
 * changes which records are live. Lock rules: ssd_internal.h. */
#include <stdlib.h>
#include <string.h>

#include "mc/errors.h"
#include "ssd_internal.h"

/* Where holes cannot be punched: the record's header rewritten with
 * SSD_FLAG_DEAD (the record stays in place, removed). */
static int write_tombstone(mc_ssd_t *s, ssd_bucket_t *b, const ssd_rec_t *r)
{
    size_t hl = (size_t)ssd_rec_head_len(r->klen);
    uint8_t *h = ssd_aligned_alloc(hl);
    if (!h)
        return MC_INTERNAL_ERROR;
    memset(h, 0, hl);
    ssd_rhdr_t d = {.flags = SSD_FLAG_DEAD,
                    .nonce = b->nonce,
                    .offset = r->off,
                    .seq = r->seq,
                    .value_len = r->vlen,
                    .key_len = r->klen,
                    .value_crc = r->vcrc};
    ssd_rhdr_encode(&d, r->key, h);
    struct iovec v = {h, hl};
    int rc = ssd_io_full(s, b->fd, &v, 1, r->off, true);
    free(h);
    return rc;
}

/* ---- remove ---- */

int mc_ssd_remove(mc_ssd_t *s, const char *key, size_t key_len, const mc_ssd_loc_t *loc)
{
    if (!s || !key || !loc || key_len == 0)
        return MC_INVALID_PARAMS;
    mc_mutex_lock(&s->mu);
    ssd_bucket_t *b = ssd_bucket_find_locked(s, loc->bucket);
    ssd_rec_t *r = b ? ssd_rec_find_locked(b, loc->offset) : NULL;
    if (!r || r->dead || r->klen != key_len || memcmp(r->key, key, key_len) != 0) {
        mc_mutex_unlock(&s->mu);
        return MC_OBJECT_NOT_FOUND;
    }
    r->dead = true;
    b->live--;
    b->live_bytes -= r->vlen;
    s->st.records--;
    s->st.live_bytes -= r->vlen;
    s->st.removed++;
    if (b->picked) { /* its file goes anyway */
        mc_mutex_unlock(&s->mu);
        return MC_OK;
    }
    uint64_t off = r->off, span = ssd_rec_span(r->klen, r->vlen);
    ssd_rec_t dead = *r; /* its key stays valid while the bucket is referenced */
    b->refs++;
    mc_mutex_unlock(&s->mu);

    bool reclaimed;
    if (ssd_punch(s, b, off, span, &reclaimed) != MC_OK)
        (void)write_tombstone(s, b, &dead); /* dead in memory either way */

    mc_mutex_lock(&s->mu);
    if (reclaimed) {
        b->disk -= span;
        if (b->picked)
            s->picked_bytes -= span;
        s->used -= span;
        s->st.punched_bytes += span;
    }
    bool drop = ssd_bucket_unref_locked(s, b);
    mc_mutex_unlock(&s->mu);
    if (drop)
        ssd_bucket_drop(s, b);
    return MC_OK;
}

/* ---- foreach, eviction ---- */

typedef struct snap {
    char *key;
    size_t klen;
    mc_ssd_loc_t loc;
} snap_t;

/* Copies the live records of b into *arr (under mu). */
static int snap_bucket_locked(const ssd_bucket_t *b, snap_t **arr, size_t *n, size_t *cap)
{
    for (uint32_t i = 0; i < b->nrec; i++) {
        const ssd_rec_t *r = &b->recs[i];
        if (r->dead)
            continue;
        if (*n == *cap) {
            size_t c = *cap ? *cap * 2 : 256;
            snap_t *p = realloc(*arr, c * sizeof(*p));
            if (!p)
                return MC_INTERNAL_ERROR;
            *arr = p;
            *cap = c;
        }
        snap_t *d = &(*arr)[*n];
        if (!(d->key = strdup(r->key)))
            return MC_INTERNAL_ERROR;
        d->klen = r->klen;
        d->loc = (mc_ssd_loc_t){b->id, r->voff, r->vlen, r->vcrc};
        (*n)++;
    }
    return MC_OK;
}

static int snap_run(snap_t *arr, size_t n, int rc, mc_ssd_record_fn fn, void *arg)
{
    for (size_t i = 0; i < n; i++) {
        if (rc == MC_OK && fn)
            rc = fn(arg, arr[i].key, arr[i].klen, &arr[i].loc);
        free(arr[i].key);
    }
    free(arr);
    return rc;
}

int mc_ssd_foreach(mc_ssd_t *s, mc_ssd_record_fn fn, void *arg)
{
    if (!s || !fn)
        return MC_INVALID_PARAMS;
    snap_t *arr = NULL;
    size_t n = 0, cap = 0;
    int rc = MC_OK;
    mc_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nb && rc == MC_OK; i++)
        if (!s->b[i]->picked)
            rc = snap_bucket_locked(s->b[i], &arr, &n, &cap);
    mc_mutex_unlock(&s->mu);
    return snap_run(arr, n, rc, fn, arg);
}

#define SCRUB_GROUP_BYTES (16u << 20)

/* Reads one group of snapshot records back (one batch read); every record
 * that does not check is removed and reported. */
static int scrub_group(mc_ssd_t *s, snap_t *arr, size_t n, uint8_t *buf, mc_ssd_record_fn fn,
                       void *arg)
{
    mc_ssd_read_item_t *it = malloc(n * sizeof(*it));
    int *codes = malloc(n * sizeof(*codes));
    int rc = it && codes ? MC_OK : MC_INTERNAL_ERROR;
    size_t at = 0;
    for (size_t i = 0; rc == MC_OK && i < n; i++) {
        it[i] = (mc_ssd_read_item_t){arr[i].loc, arr[i].key, arr[i].klen, buf + at};
        at += (size_t)ssd_round_up(arr[i].loc.length, SSD_BLK);
    }
    if (rc == MC_OK)
        (void)mc_ssd_read_batch(s, it, n, codes);
    for (size_t i = 0; rc == MC_OK && i < n; i++) {
        if (codes[i] != MC_INVALID_READ && codes[i] != MC_FILE_READ_FAIL)
            continue; /* fine, or removed meanwhile */
        mc_mutex_lock(&s->mu);
        s->st.scrub_bad++;
        mc_mutex_unlock(&s->mu);
        if (mc_ssd_remove(s, arr[i].key, arr[i].klen, &arr[i].loc) == MC_OK && fn)
            rc = fn(arg, arr[i].key, arr[i].klen, &arr[i].loc);
    }
    free(it);
    free(codes);
    return rc;
}

int mc_ssd_scrub(mc_ssd_t *s, uint64_t *cursor, mc_ssd_record_fn fn, void *arg)
{
    if (!s || !cursor)
        return MC_INVALID_PARAMS;
    snap_t *arr = NULL;
    size_t n = 0, cap = 0;
    int rc = MC_OBJECT_NOT_FOUND;
    mc_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nb; i++) {
        ssd_bucket_t *b = s->b[i];
        if (b->id > *cursor && !b->picked) {
            *cursor = b->id;
            rc = snap_bucket_locked(b, &arr, &n, &cap);
            break;
        }
    }
    mc_mutex_unlock(&s->mu);
    uint8_t *buf = NULL;
    if (rc == MC_OK && n) {
        uint64_t big = SCRUB_GROUP_BYTES;
        for (size_t i = 0; i < n; i++)
            if (ssd_round_up(arr[i].loc.length, SSD_BLK) > big)
                big = ssd_round_up(arr[i].loc.length, SSD_BLK);
        if (!(buf = ssd_aligned_alloc((size_t)big)))
            rc = MC_INTERNAL_ERROR;
        for (size_t i = 0; rc == MC_OK && i < n;) {
            size_t e = i;
            uint64_t bytes = 0;
            while (e < n && (e == i || bytes + ssd_round_up(arr[e].loc.length, SSD_BLK) <= big))
                bytes += ssd_round_up(arr[e++].loc.length, SSD_BLK);
            rc = scrub_group(s, arr + i, e - i, buf, fn, arg);
            mc_mutex_lock(&s->mu);
            s->st.scrubbed += e - i;
            mc_mutex_unlock(&s->mu);
            i = e;
        }
    }
    free(buf);
    return snap_run(arr, n, rc, NULL, NULL);
}

static bool evict_due_locked(mc_ssd_t *s) MC_REQUIRES(s->mu)
{
    double cap = (double)s->cfg.capacity;
    double left = (double)(s->used - s->picked_bytes);
    if (!s->evict_run && (double)s->used > s->cfg.high_wm * cap)
        s->evict_run = true;
    if (s->evict_run && left <= s->cfg.low_wm * cap)
        s->evict_run = false;
    return s->evict_run;
}

int mc_ssd_evict_pick(mc_ssd_t *s, uint64_t *bucket, mc_ssd_record_fn fn, void *arg)
{
    if (!s || !bucket)
        return MC_INVALID_PARAMS;
    mc_mutex_lock(&s->wmu);
    mc_mutex_lock(&s->mu);
    ssd_bucket_t *b = NULL;
    if (evict_due_locked(s)) {
        for (size_t i = 0; i < s->nb && !b; i++)
            if (s->b[i]->sealed && !s->b[i]->picked)
                b = s->b[i];
        ssd_bucket_t *a = s->active;
        if (!b && a && a->nrec > 0 && !a->picked) {
            mc_mutex_unlock(&s->mu);
            int rc = ssd_seal_locked_w(s, a); /* under wmu: nobody appends meanwhile */
            mc_mutex_lock(&s->mu);
            if (rc == MC_OK)
                b = a;
        }
    }
    if (!b) {
        mc_mutex_unlock(&s->mu);
        mc_mutex_unlock(&s->wmu);
        return MC_OBJECT_NOT_FOUND;
    }
    b->picked = true;
    s->picked_bytes += b->disk;
    *bucket = b->id;
    snap_t *arr = NULL;
    size_t n = 0, cap = 0;
    int rc = snap_bucket_locked(b, &arr, &n, &cap);
    mc_mutex_unlock(&s->mu);
    mc_mutex_unlock(&s->wmu);
    return snap_run(arr, n, rc, fn, arg);
}

int mc_ssd_evict_commit(mc_ssd_t *s, uint64_t bucket)
{
    if (!s)
        return MC_INVALID_PARAMS;
    mc_mutex_lock(&s->mu);
    ssd_bucket_t *b;
    /* looked up again after every wait: clear() or another commit may have
     * taken it meanwhile, abort() may have returned it */
    while ((b = ssd_bucket_find_locked(s, bucket)) && b->picked && b->refs > 0)
        mc_cond_wait(&s->cv, &s->mu);
    if (!b || !b->picked) {
        mc_mutex_unlock(&s->mu);
        return b ? MC_INVALID_PARAMS : MC_OBJECT_NOT_FOUND;
    }
    ssd_bucket_detach_locked(s, b);
    s->st.evicted_buckets++;
    mc_mutex_unlock(&s->mu);
    ssd_bucket_drop(s, b);
    return MC_OK;
}

int mc_ssd_evict_abort(mc_ssd_t *s, uint64_t bucket)
{
    if (!s)
        return MC_INVALID_PARAMS;
    mc_mutex_lock(&s->mu);
    ssd_bucket_t *b = ssd_bucket_find_locked(s, bucket);
    int rc = b && b->picked ? MC_OK : MC_OBJECT_NOT_FOUND;
    if (rc == MC_OK) {
        b->picked = false;
        s->picked_bytes -= b->disk;
    }
    mc_mutex_unlock(&s->mu);
    return rc;
}

int mc_ssd_clear(mc_ssd_t *s)
{
    if (!s)
        return MC_INVALID_PARAMS;
    mc_mutex_lock(&s->wmu);
    mc_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nb; i++)
        if (!s->b[i]->picked) {
            s->b[i]->picked = true;
            s->picked_bytes += s->b[i]->disk;
        }
    for (size_t i = 0; i < s->nb;) { /* the table may change while we wait: start over */
        if (s->b[i]->refs > 0) {
            mc_cond_wait(&s->cv, &s->mu);
            i = 0;
        } else {
            i++;
        }
    }
    ssd_bucket_t **all = s->b;
    size_t n = s->nb;
    s->b = NULL;
    s->nb = s->capb = 0;
    s->active = NULL;
    s->used = s->picked_bytes = 0;
    s->st.records = s->st.live_bytes = 0;
    s->evict_run = false;
    mc_mutex_unlock(&s->mu);
    for (size_t i = 0; i < n; i++)
        ssd_bucket_free(s, all[i], true);
    free(all);
    ssd_fsync_dir(s);
    mc_mutex_unlock(&s->wmu);
    return MC_OK;
}
