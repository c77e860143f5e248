/* The write path: batched records appended to the active bucket with
 * vectored writes (O_DIRECT where the file system takes it), bucket creation
 * and sealing (the index and trailer). Everything here runs under s->wmu. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mc/crc32c.h"
#include "mc/errors.h"
#include "mc/uuid.h"
#include "ssd_internal.h"

int ssd_bucket_create_w(mc_ssd_t *s, ssd_bucket_t **out)
{
    mc_mutex_lock(&s->mu);
    uint64_t id = s->next_bucket++;
    mc_mutex_unlock(&s->mu);
    char path[PATH_MAX];
    ssd_bucket_path(s, id, path, sizeof(path));
    int flags = O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC;
    int fd = s->fops.open(s->fops.ctx, path, flags | (s->direct ? O_DIRECT : 0), 0644);
    if (fd < 0 && s->direct && errno == EINVAL) { /* e.g. tmpfs: no O_DIRECT */
        mc_mutex_lock(&s->mu);                    /* stats read it under mu */
        s->direct = false;
        mc_mutex_unlock(&s->mu);
        fd = s->fops.open(s->fops.ctx, path, flags, 0644);
    }
    if (fd < 0)
        return MC_FILE_OPEN_FAIL;
    ssd_bucket_t *b = calloc(1, sizeof(*b));
    uint8_t *blk = ssd_aligned_alloc(SSD_BLK);
    int rc = b && blk ? MC_OK : MC_INTERNAL_ERROR;
    if (rc == MC_OK) {
        mc_uuid_t u = mc_uuid_generate();
        *b = (ssd_bucket_t){.id = id,
                            .nonce = u.hi ^ u.lo,
                            .fd = fd,
                            .end = SSD_BLK,
                            .disk = SSD_BLK,
                            .pre = SSD_BLK};
        memset(blk, 0, SSD_BLK);
        ssd_fhdr_t h = {id, b->nonce, ssd_now_ms()};
        ssd_fhdr_encode(&h, blk);
        struct iovec v = {blk, SSD_BLK};
        rc = ssd_io_full(s, fd, &v, 1, 0, true);
    }
    if (rc == MC_OK && s->cfg.durability == MC_SSD_DUR_FULL) {
        if (s->fops.fdatasync(s->fops.ctx, fd) != 0)
            rc = MC_FILE_WRITE_FAIL;
        ssd_fsync_dir(s);
    }
    free(blk);
    if (rc == MC_OK) {
        mc_mutex_lock(&s->mu);
        rc = ssd_bucket_add_locked(s, b);
        mc_mutex_unlock(&s->mu);
    }
    if (rc != MC_OK) {
        s->fops.close(s->fops.ctx, fd);
        (void)s->fops.unlink(s->fops.ctx, path);
        free(b);
        return rc;
    }
    *out = b;
    return MC_OK;
}

/* Writes b's index and trailer after its last record (the data synced
 * first when durability >= data), so a sealed file is: header, records,
 * index, trailer. The bucket takes no more records even if this fails
 * (recovery then scans it as unsealed). */
int ssd_seal_locked_w(mc_ssd_t *s, ssd_bucket_t *b)
{
    int rc = MC_OK;
    if (s->cfg.durability >= MC_SSD_DUR_DATA && s->fops.fdatasync(s->fops.ctx, b->fd) != 0)
        rc = MC_FILE_WRITE_FAIL;
    mc_mutex_lock(&s->mu);
    size_t ilen = 0;
    uint64_t nrec = 0;
    for (uint32_t i = 0; i < b->nrec; i++)
        if (!b->recs[i].dead) {
            ilen += ssd_ient_len(b->recs[i].klen);
            nrec++;
        }
    size_t total = (size_t)ssd_round_up(ilen, SSD_BLK) + SSD_BLK;
    uint8_t *buf = rc == MC_OK ? ssd_aligned_alloc(total) : NULL;
    if (buf) {
        memset(buf, 0, total);
        size_t at = 0;
        for (uint32_t i = 0; i < b->nrec; i++) {
            const ssd_rec_t *r = &b->recs[i];
            if (r->dead)
                continue;
            ssd_ient_t e = {
                r->off, r->seq, r->vlen, r->klen, r->vcrc, r->hdr_crc, (const uint8_t *)r->key};
            at += ssd_ient_encode(&e, buf + at);
        }
    } else if (rc == MC_OK) {
        rc = MC_INTERNAL_ERROR;
    }
    uint64_t ioff = b->end;
    mc_mutex_unlock(&s->mu);
    if (rc == MC_OK) {
        ssd_trailer_t t = {ioff, ilen, nrec, b->nonce, mc_crc32c(0, buf, ilen)};
        ssd_trailer_encode(&t, buf + total - SSD_BLK);
        struct iovec v = {buf, total};
        rc = ssd_io_full(s, b->fd, &v, 1, ioff, true);
        /* a failed earlier write may have left bytes past the index: cut them */
        if (rc == MC_OK && s->fops.ftruncate(s->fops.ctx, b->fd, (off_t)(ioff + total)) != 0)
            rc = MC_FILE_WRITE_FAIL;
        if (rc == MC_OK && s->cfg.durability >= MC_SSD_DUR_DATA &&
            s->fops.fdatasync(s->fops.ctx, b->fd) != 0)
            rc = MC_FILE_WRITE_FAIL;
    }
    free(buf);
    mc_mutex_lock(&s->mu);
    b->sealed = true;
    if (rc == MC_OK) {
        b->disk += total;
        s->used += total;
        if (b->picked)
            s->picked_bytes += total;
    }
    if (s->active == b)
        s->active = NULL;
    mc_mutex_unlock(&s->mu);
    return rc;
}

/* ---- batch builder: records as one iovec list per bucket run ---- */

typedef struct wb {
    mc_ssd_t *s;
    ssd_bucket_t *b;
    uint64_t off; /* file offset of the first byte not yet written */
    uint64_t len; /* bytes appended to the run (written or pending) */
    struct iovec iov[SSD_IOV_MAX];
    int n;
    int cur;        /* the staging slot being filled */
    uint8_t *stage; /* its memory */
    size_t used;    /* bytes of it in use */
    bool failed;
    bool inflight[SSD_STAGES]; /* job[i] (slot i's bytes) is with the I/O pool */
    ssd_job_t job[SSD_STAGES];
    struct iovec jiov[SSD_STAGES][SSD_IOV_MAX];
} wb_t;

static void wb_wait(wb_t *w, int slot)
{
    if (w->inflight[slot] && ssd_job_wait(w->s, &w->job[slot]) != MC_OK)
        w->failed = true;
    w->inflight[slot] = false;
}

static void wb_drain(wb_t *w)
{
    for (int i = 0; i < SSD_STAGES; i++)
        wb_wait(w, i);
}

/* Writes what is pending. An intermediate flush (the staging slot is full)
 * hands the slot to the I/O pool and goes on filling the next one, so up
 * to SSD_STAGES - 1 pieces are being written while this thread copies; the
 * final one is written in the caller's thread, then every piece waited for. */
static void wb_flush(mc_ssd_t *s, wb_t *w, bool final) MC_REQUIRES(s->wmu)
{
    uint64_t len = 0;
    for (int i = 0; i < w->n; i++)
        len += w->iov[i].iov_len;
    if (w->n > 0 && !w->failed && final) {
        if (ssd_io_full(w->s, w->b->fd, w->iov, w->n, w->off, true) != MC_OK)
            w->failed = true;
    } else if (w->n > 0 && !w->failed) {
        int c = w->cur;
        memcpy(w->jiov[c], w->iov, (size_t)w->n * sizeof(*w->iov));
        w->job[c] =
            (ssd_job_t){.fd = w->b->fd, .iov = w->jiov[c], .n = w->n, .off = w->off, .write = true};
        ssd_job_submit(w->s, &w->job[c]);
        w->inflight[c] = true;
        w->cur = (c + 1) % SSD_STAGES;
        wb_wait(w, w->cur); /* the oldest piece: its slot is filled next */
        w->stage = s->stage + (size_t)w->cur * s->stage_cap;
    }
    if (final)
        wb_drain(w);
    w->off += len;
    w->n = 0;
    w->used = 0;
}

static void wb_push(wb_t *w, void *p, size_t len)
{
    if (w->n > 0 && (uint8_t *)w->iov[w->n - 1].iov_base + w->iov[w->n - 1].iov_len == (uint8_t *)p)
        w->iov[w->n - 1].iov_len += len;
    else
        w->iov[w->n++] = (struct iovec){p, len};
    w->len += len;
}

/* Appends len bytes (copied from src, or zeros when src is NULL) through
 * the staging buffer, flushing it when full (always at a block boundary). */
static void wb_copy(mc_ssd_t *s, wb_t *w, const uint8_t *src, size_t len) MC_REQUIRES(s->wmu)
{
    while (len > 0) {
        if (w->used == s->stage_cap || w->n == SSD_IOV_MAX)
            wb_flush(s, w, false);
        size_t k = s->stage_cap - w->used;
        if (k > len)
            k = len;
        uint8_t *d = w->stage + w->used;
        if (src) {
            memcpy(d, src, k);
            src += k;
        } else {
            memset(d, 0, k);
        }
        w->used += k;
        wb_push(w, d, k);
        len -= k;
    }
}

/* Appends one record at the end of the run. */
static void wb_record(mc_ssd_t *s, wb_t *w, const mc_ssd_item_t *it, uint64_t seq, ssd_rec_t *r)
    MC_REQUIRES(s->wmu)
{
    size_t head = (size_t)ssd_rec_head_len(it->key_len);
    bool refs = 2 * it->iovcnt + 4 < SSD_IOV_MAX; /* else copy all: staging iovecs merge */
    if (s->stage_cap - w->used < head || w->n + (refs ? 2 * it->iovcnt + 4 : 4) > SSD_IOV_MAX)
        wb_flush(s, w, false); /* at a record boundary, so block aligned */
    ssd_rhdr_t h = {.nonce = w->b->nonce,
                    .offset = w->b->end + w->len,
                    .seq = seq,
                    .value_len = it->length,
                    .key_len = (uint32_t)it->key_len,
                    .value_crc = it->crc};
    *r = (ssd_rec_t){.off = h.offset,
                     .voff = h.offset + head,
                     .vlen = it->length,
                     .seq = seq,
                     .klen = h.key_len,
                     .vcrc = it->crc};
    uint8_t *d = w->stage + w->used;
    ssd_rhdr_encode(&h, it->key, d);
    memset(d + SSD_RHDR_LEN + it->key_len, 0, head - SSD_RHDR_LEN - it->key_len);
    r->hdr_crc = h.hdr_crc;
    w->used += head;
    wb_push(w, d, head);
    uint64_t pos = 0;
    for (int i = 0; i < it->iovcnt; i++) {
        const uint8_t *p = it->iov[i].iov_base;
        size_t len = it->iov[i].iov_len;
        if (refs && !s->direct && len) { /* buffered: no alignment rule, no copy */
            wb_push(w, (void *)(uintptr_t)p, len);
            pos += len;
            continue;
        }
        if (refs && pos % SSD_BLK == 0 && (uintptr_t)p % s->mem_align == 0 && len >= SSD_BLK) {
            size_t k = len / SSD_BLK * SSD_BLK; /* aligned: written from the caller's memory */
            wb_push(w, (void *)(uintptr_t)p, k);
            p += k;
            len -= k;
            pos += k;
        }
        wb_copy(s, w, p, len);
        pos += len;
    }
    wb_copy(s, w, NULL, (size_t)(ssd_round_up(pos, SSD_BLK) - pos));
}

static int item_check(const mc_ssd_t *s, const mc_ssd_item_t *it)
{
    if (!it->key || it->key_len == 0 || it->key_len > SSD_KEY_MAX || it->iovcnt < 0 ||
        (it->iovcnt > 0 && !it->iov) || it->length > (UINT64_MAX >> 2))
        return MC_INVALID_PARAMS;
    uint64_t sum = 0;
    uint32_t crc = 0;
    for (int i = 0; i < it->iovcnt; i++) {
        if (!it->iov[i].iov_base && it->iov[i].iov_len)
            return MC_INVALID_PARAMS;
        sum += it->iov[i].iov_len;
        if (s->cfg.verify_crc)
            crc = mc_crc32c(crc, it->iov[i].iov_base, it->iov[i].iov_len);
    }
    if (sum != it->length || (s->cfg.verify_crc && crc != it->crc))
        return MC_INVALID_PARAMS;
    return MC_OK;
}

/* Ends a run: writes what is pending, syncs per the durability level, then
 * publishes the run's records (or fails them all). */
static void run_finish(mc_ssd_t *s, wb_t *w, const mc_ssd_item_t *items, const size_t *idx,
                       ssd_rec_t *recs, size_t cnt, mc_ssd_loc_t *locs, int *codes)
    MC_REQUIRES(s->wmu)
{
    if (!w->b || cnt == 0)
        return;
    wb_flush(s, w, true);
    if (!w->failed && s->cfg.durability >= MC_SSD_DUR_DATA &&
        s->fops.fdatasync(s->fops.ctx, w->b->fd) != 0)
        w->failed = true;
    if (w->failed) {
        /* nothing registered; free what may have reached the file */
        bool rcl;
        if (ssd_punch(s, w->b, w->b->end, ssd_round_up(w->len, SSD_BLK), &rcl) != MC_OK)
            (void)s->fops.ftruncate(s->fops.ctx, w->b->fd, (off_t)w->b->end);
        mc_mutex_lock(&s->mu);
        s->st.write_errors += cnt;
        mc_mutex_unlock(&s->mu);
        for (size_t j = 0; j < cnt; j++)
            codes[idx[j]] = MC_FILE_WRITE_FAIL;
    } else {
        mc_mutex_lock(&s->mu);
        for (size_t j = 0; j < cnt; j++) {
            const mc_ssd_item_t *it = &items[idx[j]];
            int rc = ssd_rec_push(w->b, &recs[j], it->key);
            codes[idx[j]] = rc;
            if (rc != MC_OK)
                continue;
            w->b->live++;
            w->b->live_bytes += it->length;
            s->st.records++;
            s->st.live_bytes += it->length;
            locs[idx[j]] = (mc_ssd_loc_t){w->b->id, recs[j].voff, it->length, it->crc};
        }
        w->b->end += w->len;
        w->b->disk += w->len;
        s->used += w->len;
        mc_mutex_unlock(&s->mu);
    }
    w->off = w->b->end;
    w->len = 0;
    w->n = 0;
    w->used = 0;
    w->failed = false;
}

/* Keeps b's file preallocated (best effort) past what the run needs, in
 * steps of b->step (set when the bucket is made: its first record's span
 * times the key limit, so a bucket of small records is not given 256 MiB
 * it gives back at seal), up to the bucket size and within the capacity
 * left: appends inside the file's size are not extending writes, which
 * ext4 serializes, each with a size update (and a fallocate waits for the
 * writes in flight, hence few, large steps). The unwritten rest reads as a
 * hole; seal, close and recovery cut it. */
static void prealloc(mc_ssd_t *s, ssd_bucket_t *b, uint64_t need) MC_REQUIRES(s->wmu)
{
    if (need <= b->pre)
        return;
    mc_mutex_lock(&s->mu);
    uint64_t room = s->cfg.capacity > s->used ? s->cfg.capacity - s->used : 0;
    mc_mutex_unlock(&s->mu);
    uint64_t to = b->pre + b->step > need ? b->pre + b->step : need;
    if (to > s->cfg.bucket_bytes)
        to = need > s->cfg.bucket_bytes ? need : s->cfg.bucket_bytes;
    if (to > b->end + room)
        to = need;
    if (s->fops.fallocate(s->fops.ctx, b->fd, 0, (off_t)b->pre, (off_t)(to - b->pre)) == 0)
        b->pre = to;
    else
        b->pre = UINT64_MAX; /* not supported, or no room: plain appends */
}

int mc_ssd_write(mc_ssd_t *s, const mc_ssd_item_t *items, size_t n, mc_ssd_loc_t *locs, int *codes)
{
    if (!s || (n && (!items || !locs || !codes)))
        return MC_INVALID_PARAMS;
    if (n == 0)
        return MC_OK;
    size_t *idx = malloc(n * sizeof(*idx));
    ssd_rec_t *recs = malloc(n * sizeof(*recs));
    wb_t *w = malloc(sizeof(*w));
    if (!idx || !recs || !w) {
        free(idx);
        free(recs);
        free(w);
        for (size_t i = 0; i < n; i++)
            codes[i] = MC_INTERNAL_ERROR;
        return MC_INTERNAL_ERROR;
    }
    mc_mutex_lock(&s->wmu);
    *w = (wb_t){.s = s, .stage = s->stage};
    size_t cnt = 0;
    for (size_t i = 0; i < n; i++) {
        const mc_ssd_item_t *it = &items[i];
        if ((codes[i] = item_check(s, it)) != MC_OK)
            continue;
        uint64_t span = ssd_rec_span(it->key_len, it->length);
        mc_mutex_lock(&s->mu);
        bool full = s->used + w->len + span + SSD_BLK > s->cfg.capacity;
        ssd_bucket_t *a = s->active;
        mc_mutex_unlock(&s->mu);
        if (full) {
            codes[i] = MC_NO_AVAILABLE_HANDLE;
            continue;
        }
        if (a && (a->nrec + cnt >= s->cfg.bucket_keys ||
                  (a->end + w->len + span > s->cfg.bucket_bytes && a->nrec + cnt > 0))) {
            run_finish(s, w, items, idx, recs, cnt, locs, codes);
            cnt = 0;
            (void)ssd_seal_locked_w(s, a); /* a failure leaves it for recovery to scan */
            a = NULL;
        }
        if (!a) {
            int rc = ssd_bucket_create_w(s, &a);
            if (rc != MC_OK) {
                mc_mutex_lock(&s->mu);
                s->st.write_errors++;
                mc_mutex_unlock(&s->mu);
                codes[i] = MC_FILE_WRITE_FAIL;
                continue;
            }
            mc_mutex_lock(&s->mu);
            s->active = a;
            mc_mutex_unlock(&s->mu);
        }
        if (a->step == 0) { /* new: a bucket of records like this one */
            uint64_t bb = s->cfg.bucket_bytes, keys = s->cfg.bucket_keys;
            a->step = span >= bb / keys ? bb : span * keys + SSD_BLK;
        }
        if (w->b != a)
            *w = (wb_t){.s = s, .b = a, .off = a->end, .stage = s->stage};
        prealloc(s, a, a->end + w->len + span);
        wb_record(s, w, it, s->next_seq++, &recs[cnt]);
        idx[cnt++] = i;
    }
    run_finish(s, w, items, idx, recs, cnt, locs, codes);
    mc_mutex_lock(&s->mu);
    ssd_bucket_t *a = s->active; /* full now: seal it at once, so its index is on disk */
    mc_mutex_unlock(&s->mu);
    if (a && (a->nrec >= s->cfg.bucket_keys || a->end >= s->cfg.bucket_bytes))
        (void)ssd_seal_locked_w(s, a);
    mc_mutex_unlock(&s->wmu);
    free(idx);
    free(recs);
    free(w);
    for (size_t i = 0; i < n; i++)
        if (codes[i] != MC_OK)
            return codes[i];
    return MC_OK;
}
