/* Reads: every value is checked (its record header against the in-memory
 * record, the key, the value's CRC32C) before MC_OK. Values of one batch
 * that lie next to each other in a bucket (written together) and go to
 * 4 KiB-aligned destinations are read with one preadv, straight into the
 * destinations; others one by one, through a bounce buffer when the
 * destination is not aligned. Lock rules: ssd_internal.h. */
#include <stdlib.h>
#include <string.h>

#include "mc/crc32c.h"
#include "mc/errors.h"
#include "ssd_internal.h"

#define BOUNCE_BYTES (1u << 20)

typedef struct rd {
    size_t i;  /* item index */
    size_t ri; /* record index in b->recs */
    ssd_bucket_t *b;
    ssd_rec_t r; /* copy; r.key stays valid while b is referenced */
} rd_t;

static int verify_head(const ssd_bucket_t *b, const ssd_rec_t *r, const uint8_t *h, size_t hlen)
{
    ssd_rhdr_t d;
    const uint8_t *k;
    if (ssd_rhdr_decode(h, hlen, &d, &k) != MC_OK || d.flags != 0 || d.nonce != b->nonce ||
        d.offset != r->off || d.seq != r->seq || d.value_len != r->vlen || d.key_len != r->klen ||
        d.value_crc != r->vcrc || d.hdr_crc != r->hdr_crc || memcmp(k, r->key, r->klen) != 0)
        return MC_INVALID_READ;
    return MC_OK;
}

/* O_DIRECT can read into p (the file system's memory alignment, statx). */
static bool aligned(const mc_ssd_t *s, const void *p)
{
    return ((uintptr_t)p % s->mem_align) == 0;
}

/* One value into an unaligned destination: the header, then the value in
 * bounce-sized pieces through two buffers, the next piece read by the I/O
 * pool while this one is copied out (its CRC computed on the way). */
static int read_bounced(mc_ssd_t *s, const rd_t *v, uint8_t *dst)
{
    const ssd_rec_t *r = &v->r;
    size_t hlen = (size_t)ssd_rec_head_len(r->klen);
    uint64_t len = r->vlen;
    size_t cap = (size_t)(len < BOUNCE_BYTES ? ssd_round_up(len, SSD_BLK) : BOUNCE_BYTES);
    if (cap < hlen)
        cap = hlen;
    uint8_t *buf = ssd_aligned_alloc(2 * cap);
    if (!buf)
        return MC_INTERNAL_ERROR;
    struct iovec h = {buf, hlen};
    int rc = ssd_io_full(s, v->b->fd, &h, 1, r->off, false);
    if (rc == MC_OK)
        rc = verify_head(v->b, r, buf, hlen);
    uint32_t crc = 0;
    ssd_job_t job[2];
    struct iovec jv[2];
    bool pending = false; /* job[k % 2] reads the piece of this turn; only set while done < len */
    for (uint64_t done = 0, k = 0; rc == MC_OK && done < len; k++) {
        uint64_t n = len - done < cap ? len - done : cap;
        uint8_t *b = buf + (k % 2) * cap;
        if (!pending) { /* the first piece: read here */
            struct iovec io = {b, (size_t)ssd_round_up(n, SSD_BLK)};
            rc = ssd_io_full(s, v->b->fd, &io, 1, r->voff + done, false);
        } else {
            rc = ssd_job_wait(s, &job[k % 2]);
            pending = false;
        }
        uint64_t next = done + n;
        if (rc == MC_OK && next < len) {
            uint64_t nn = len - next < cap ? len - next : cap;
            jv[(k + 1) % 2] =
                (struct iovec){buf + ((k + 1) % 2) * cap, (size_t)ssd_round_up(nn, SSD_BLK)};
            job[(k + 1) % 2] = (ssd_job_t){.fd = v->b->fd,
                                           .iov = &jv[(k + 1) % 2],
                                           .n = 1,
                                           .off = r->voff + next,
                                           .write = false};
            ssd_job_submit(s, &job[(k + 1) % 2]);
            pending = true;
        }
        if (rc == MC_OK)
            crc = mc_crc32c_copy(crc, dst + done, b, (size_t)n);
        done = next;
    }
    free(buf);
    return rc == MC_OK && crc != r->vcrc ? MC_INVALID_READ : rc;
}

#define PIECE_BYTES (4u << 20)

static int verify_one(const rd_t *v, const mc_ssd_read_item_t *items, const uint8_t *head)
{
    const ssd_rec_t *r = &v->r;
    size_t hl = (size_t)ssd_rec_head_len(r->klen);
    int code = verify_head(v->b, r, head, hl);
    if (code != MC_OK)
        return code;
    uint8_t *dst = items[v->i].dst;
    uint64_t body = r->vlen / SSD_BLK * SSD_BLK;
    uint32_t crc = mc_crc32c(0, dst, (size_t)body);
    if (r->vlen > body)
        crc = mc_crc32c_copy(crc, dst + body, head + hl, (size_t)(r->vlen - body));
    return crc == r->vcrc ? MC_OK : MC_INVALID_READ;
}

/* Adjacent records of one bucket, aligned destinations: [head][value
 * body][last partial block] per record, one preadv per piece of up to
 * PIECE_BYTES (whole records). With more than one piece, the I/O pool reads
 * two pieces ahead while this thread checks the ones that arrived. */
static void read_run(mc_ssd_t *s, const rd_t *v, size_t n, const mc_ssd_read_item_t *items,
                     int *codes)
{
    size_t heads = 0;
    for (size_t k = 0; k < n; k++)
        heads += (size_t)ssd_rec_head_len(v[k].r.klen) + SSD_BLK;
    uint8_t *hb = ssd_aligned_alloc(heads);
    size_t *hoff = malloc(n * sizeof(*hoff));
    struct iovec *iov = malloc(3 * n * sizeof(*iov));
    size_t *first = malloc((n + 1) * sizeof(*first)); /* first record of each piece */
    ssd_job_t *jobs = calloc(n, sizeof(*jobs));
    if (!hb || !hoff || !iov || !first || !jobs) {
        for (size_t k = 0; k < n; k++)
            codes[v[k].i] = MC_INTERNAL_ERROR;
        goto out;
    }
    size_t np = 0;
    int c = 0;
    uint64_t piece = 0;
    for (size_t k = 0, at = 0; k < n; k++) {
        size_t hl = (size_t)ssd_rec_head_len(v[k].r.klen);
        uint64_t len = v[k].r.vlen, body = len / SSD_BLK * SSD_BLK;
        if (k == 0 || piece + ssd_rec_span(v[k].r.klen, len) > PIECE_BYTES) {
            if (k)
                jobs[np - 1].n = c - (int)(jobs[np - 1].iov - iov);
            first[np] = k;
            jobs[np++] = (ssd_job_t){.fd = v[k].b->fd, .iov = iov + c, .off = v[k].r.off};
            piece = 0;
        }
        piece += ssd_rec_span(v[k].r.klen, len);
        hoff[k] = at;
        iov[c++] = (struct iovec){hb + at, hl};
        if (body)
            iov[c++] = (struct iovec){items[v[k].i].dst, (size_t)body};
        if (len > body)
            iov[c++] = (struct iovec){hb + at + hl, SSD_BLK};
        at += hl + SSD_BLK;
    }
    jobs[np - 1].n = c - (int)(jobs[np - 1].iov - iov);
    first[np] = n;
    size_t ahead = np > 1 ? 2 : 0; /* pieces handed to the pool */
    for (size_t g = 0; g < ahead && g < np; g++)
        ssd_job_submit(s, &jobs[g]);
    for (size_t g = 0; g < np; g++) {
        int rc;
        if (np == 1)
            rc = ssd_io_full(s, jobs[0].fd, jobs[0].iov, jobs[0].n, jobs[0].off, false);
        else
            rc = ssd_job_wait(s, &jobs[g]);
        if (np > 1 && g + 2 < np)
            ssd_job_submit(s, &jobs[g + 2]);
        for (size_t k = first[g]; k < first[g + 1]; k++)
            codes[v[k].i] = rc == MC_OK ? verify_one(&v[k], items, hb + hoff[k]) : rc;
    }
out:
    free(jobs);
    free(first);
    free(iov);
    free(hoff);
    free(hb);
}

/* Finds the live record the item names and references its bucket. */
static int resolve_locked(mc_ssd_t *s, const mc_ssd_read_item_t *it, rd_t *v) MC_REQUIRES(s->mu)
{
    const mc_ssd_loc_t *loc = &it->loc;
    if (!it->key || it->key_len == 0 || it->key_len > SSD_KEY_MAX || (!it->dst && loc->length) ||
        loc->offset % SSD_BLK)
        return MC_INVALID_PARAMS;
    ssd_bucket_t *b = ssd_bucket_find_locked(s, loc->bucket);
    ssd_rec_t *r = b && !b->picked ? ssd_rec_find_locked(b, loc->offset) : NULL;
    if (!r || r->dead || r->klen != it->key_len || memcmp(r->key, it->key, it->key_len) != 0)
        return MC_OBJECT_NOT_FOUND;
    if (r->vlen != loc->length || r->vcrc != loc->crc)
        return MC_INVALID_READ;
    v->b = b;
    v->r = *r;
    v->ri = (size_t)(r - b->recs);
    b->refs++;
    return MC_OK;
}

static int cmp_rd(const void *pa, const void *pb)
{
    const rd_t *a = pa, *b = pb;
    if (a->b->id != b->b->id)
        return a->b->id < b->b->id ? -1 : 1;
    return a->r.off < b->r.off ? -1 : a->r.off > b->r.off;
}

static bool joins(const mc_ssd_t *s, const rd_t *prev, const rd_t *next,
                  const mc_ssd_read_item_t *items, size_t len)
{
    return next->b == prev->b &&
           next->r.off == prev->r.off + ssd_rec_span(prev->r.klen, prev->r.vlen) &&
           aligned(s, items[next->i].dst) && 3 * (len + 1) <= SSD_IOV_MAX;
}

int mc_ssd_read_batch(mc_ssd_t *s, const mc_ssd_read_item_t *items, size_t n, int *codes)
{
    if (!s || (n && (!items || !codes)))
        return MC_INVALID_PARAMS;
    if (n == 0)
        return MC_OK;
    rd_t *v = malloc(n * sizeof(*v));
    ssd_bucket_t **drops = malloc(n * sizeof(*drops));
    if (!v || !drops) {
        free(v);
        free(drops);
        for (size_t i = 0; i < n; i++)
            codes[i] = MC_INTERNAL_ERROR;
        return MC_INTERNAL_ERROR;
    }
    size_t m = 0, nd = 0;
    mc_mutex_lock(&s->mu);
    for (size_t i = 0; i < n; i++) {
        v[m].i = i;
        if ((codes[i] = resolve_locked(s, &items[i], &v[m])) == MC_OK)
            m++;
    }
    mc_mutex_unlock(&s->mu);

    if (m > 1)
        qsort(v, m, sizeof(*v), cmp_rd);
    for (size_t k = 0; k < m;) {
        if (!aligned(s, items[v[k].i].dst)) {
            codes[v[k].i] = read_bounced(s, &v[k], items[v[k].i].dst);
            k++;
            continue;
        }
        size_t e = k + 1;
        while (e < m && joins(s, &v[e - 1], &v[e], items, e - k))
            e++;
        read_run(s, &v[k], e - k, items, codes);
        k = e;
    }

    mc_mutex_lock(&s->mu);
    for (size_t k = 0; k < m; k++) {
        int *code = &codes[v[k].i];
        if (*code != MC_OK && v[k].b->recs[v[k].ri].dead)
            *code = MC_OBJECT_NOT_FOUND; /* removed meanwhile */
        else if (*code == MC_INVALID_READ)
            s->st.crc_errors++;
        else if (*code == MC_FILE_READ_FAIL)
            s->st.read_errors++;
        if (ssd_bucket_unref_locked(s, v[k].b))
            drops[nd++] = v[k].b;
    }
    mc_mutex_unlock(&s->mu);
    for (size_t k = 0; k < nd; k++)
        ssd_bucket_drop(s, drops[k]);
    free(v);
    free(drops);
    for (size_t i = 0; i < n; i++)
        if (codes[i] != MC_OK)
            return codes[i];
    return MC_OK;
}

int mc_ssd_read(mc_ssd_t *s, const mc_ssd_loc_t *loc, const char *key, size_t key_len, void *dst,
                uint64_t len)
{
    if (!s || !loc || len != loc->length)
        return MC_INVALID_PARAMS;
    mc_ssd_read_item_t it = {*loc, key, key_len, dst};
    int code;
    return mc_ssd_read_batch(s, &it, 1, &code);
}
