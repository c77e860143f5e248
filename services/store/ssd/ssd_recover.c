/* Recovery at open: every bucket file of the cluster directory is checked
 * and its records rebuilt in memory (the rules: docs/ssd-format.md).
 * A sealed bucket: trailer and index checksums, every index entry, and every
 * record header the index names (read in large sequential runs when records
 * are dense). An unsealed bucket, or one whose index is bad: every byte,
 * values included. Torn and corrupt records are discarded (reported through
 * cfg->on_discard, their blocks punched or truncated away); every valid one
 * is kept. Scanned buckets are sealed, so writes go to new files. Runs
 * single-threaded inside mc_ssd_open. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mc/crc32c.h"
#include "mc/errors.h"
#include "ssd_internal.h"

#define WIN_BYTES (1u << 20)
#define DENSE_GAP (64u << 10) /* records closer than this are read in one run */

typedef struct scan {
    mc_ssd_t *s;
    ssd_bucket_t *b;
    mc_ssd_recovery_t *rep;
    uint8_t *buf; /* WIN_BYTES, aligned */
    uint64_t woff;
    size_t wlen;
    uint64_t size; /* file size */
} scan_t;

static void discard(scan_t *c, uint64_t off, const uint8_t *key, size_t klen, const char *why)
{
    c->rep->discarded++;
    if (c->s->cfg.on_discard)
        c->s->cfg.on_discard(c->s->cfg.discard_arg, c->b->id, off, (const char *)key, klen, why);
}

/* Reads up to len bytes at off (block aligned) into the window; fewer at EOF. */
static int win_fill(scan_t *c, uint64_t off, size_t len)
{
    size_t got = 0;
    len = (size_t)ssd_round_up(len, SSD_BLK);
    if (len > WIN_BYTES)
        len = WIN_BYTES;
    c->woff = off;
    c->wlen = 0;
    while (got < len) {
        struct iovec v = {c->buf + got, len - got};
        ssize_t r = c->s->fops.preadv(c->s->fops.ctx, c->b->fd, &v, 1, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return MC_FILE_READ_FAIL;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    c->wlen = got;
    return MC_OK;
}

/* Points *p at bytes [off, off+need) (need <= WIN_BYTES), reading `want`
 * bytes from off when they are not in the window. MC_INVALID_READ when the
 * file ends first. */
static int win_get(scan_t *c, uint64_t off, size_t need, size_t want, const uint8_t **p)
{
    if (!(off >= c->woff && off + need <= c->woff + c->wlen)) {
        int rc = win_fill(c, off, want > need ? want : need);
        if (rc != MC_OK)
            return rc;
        if (need > c->wlen)
            return MC_INVALID_READ;
    }
    *p = c->buf + (off - c->woff);
    return MC_OK;
}

static bool zero_block(const uint8_t *p)
{
    for (size_t i = 0; i < SSD_BLK; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        if (v)
            return false;
    }
    return true;
}

/* Decodes and checks the record header at off against the bucket.
 * MC_OK; MC_OBJECT_NOT_FOUND for an all-zero block (punched: removed);
 * MC_INVALID_READ for anything else. */
static int head_at(scan_t *c, uint64_t off, size_t want, ssd_rhdr_t *h, const uint8_t **key)
{
    const uint8_t *p;
    int rc = win_get(c, off, SSD_BLK, want, &p);
    if (rc != MC_OK)
        return rc;
    if (zero_block(p))
        return MC_OBJECT_NOT_FOUND;
    uint32_t klen =
        (uint32_t)p[40] | (uint32_t)p[41] << 8 | (uint32_t)p[42] << 16 | (uint32_t)p[43] << 24;
    if (klen == 0 || klen > SSD_KEY_MAX)
        return MC_INVALID_READ;
    size_t hl = (size_t)ssd_rec_head_len(klen);
    if (hl > SSD_BLK && (rc = win_get(c, off, hl, want, &p)) != MC_OK)
        return rc;
    if (ssd_rhdr_decode(p, hl, h, key) != MC_OK || h->nonce != c->b->nonce || h->offset != off)
        return MC_INVALID_READ;
    return MC_OK;
}

/* CRC32C of the value of the record whose header is h. */
static int value_crc(scan_t *c, const ssd_rhdr_t *h, uint32_t *crc)
{
    uint64_t voff = h->offset + ssd_rec_head_len(h->key_len);
    uint32_t v = 0;
    for (uint64_t done = 0; done < h->value_len;) {
        uint64_t left = h->value_len - done;
        size_t k = left < WIN_BYTES ? (size_t)left : WIN_BYTES;
        const uint8_t *p;
        int rc = win_get(c, voff + done, k, WIN_BYTES, &p);
        if (rc != MC_OK)
            return rc;
        v = mc_crc32c(v, p, k);
        done += k;
    }
    *crc = v;
    return MC_OK;
}

static int keep(mc_ssd_t *s, scan_t *c, const ssd_rhdr_t *h, const uint8_t *key) MC_REQUIRES(s->wmu)
{
    ssd_rec_t r = {.off = h->offset,
                   .voff = h->offset + ssd_rec_head_len(h->key_len),
                   .vlen = h->value_len,
                   .seq = h->seq,
                   .klen = h->key_len,
                   .vcrc = h->value_crc,
                   .hdr_crc = h->hdr_crc};
    /* key points into the window; copy before the window moves */
    int rc = ssd_rec_push(c->b, &r, (const char *)key);
    if (rc != MC_OK)
        return rc;
    c->b->live++;
    c->b->live_bytes += h->value_len;
    c->b->disk += ssd_rec_span(h->key_len, h->value_len);
    c->rep->records++;
    c->rep->bytes += h->value_len;
    if (h->seq >= s->next_seq)
        s->next_seq = h->seq + 1;
    return MC_OK;
}

/* Every byte of [SSD_BLK, limit): records kept when header and value check,
 * holes skipped, the rest discarded. Sets *valid_end to the end of the last
 * kept record. */
static int scan_all(mc_ssd_t *s, scan_t *c, uint64_t limit, uint64_t *valid_end) MC_REQUIRES(s->wmu)
{
    uint64_t off = SSD_BLK, bad = UINT64_MAX;
    bool torn = false;
    *valid_end = SSD_BLK;
    while (off + SSD_BLK <= limit) {
        ssd_rhdr_t h;
        const uint8_t *key;
        int rc = head_at(c, off, WIN_BYTES, &h, &key);
        if (rc == MC_FILE_READ_FAIL)
            return rc;
        if (rc == MC_OBJECT_NOT_FOUND) { /* a hole (removed record) or unwritten: find data */
            off_t next = c->s->fops.lseek(c->s->fops.ctx, c->b->fd, (off_t)off, SEEK_DATA);
            if (next < 0) { /* ENXIO: only a hole up to the end */
                off = limit;
                break;
            }
            uint64_t n = (uint64_t)next / SSD_BLK * SSD_BLK;
            off = n > off ? n : off + SSD_BLK;
            continue;
        }
        if (rc != MC_OK) {
            if (bad == UINT64_MAX) {
                bad = off;
                discard(c, off, NULL, 0, "bad record header");
            }
            off += SSD_BLK;
            continue;
        }
        if (bad != UINT64_MAX) {
            bool rcl;
            (void)ssd_punch(c->s, c->b, bad, off - bad, &rcl);
            bad = UINT64_MAX;
        }
        uint64_t span = ssd_rec_span(h.key_len, h.value_len);
        if (h.flags & SSD_FLAG_DEAD) { /* removed where holes cannot be punched */
            c->rep->removed++;
            off += span;
            continue;
        }
        char kbuf[SSD_KEY_MAX];
        memcpy(kbuf, key, h.key_len);
        if (off + span > limit) {
            discard(c, off, (const uint8_t *)kbuf, h.key_len,
                    "torn record: the file ends inside it");
            torn = true;
            break;
        }
        uint32_t crc = 0;
        rc = value_crc(c, &h, &crc);
        if (rc == MC_FILE_READ_FAIL)
            return rc;
        if (rc != MC_OK || crc != h.value_crc) {
            discard(c, off, (const uint8_t *)kbuf, h.key_len, "value checksum mismatch");
            bool rcl;
            (void)ssd_punch(c->s, c->b, off, span, &rcl);
        } else {
            if ((rc = keep(s, c, &h, (const uint8_t *)kbuf)) != MC_OK)
                return rc;
            *valid_end = off + span;
        }
        off += span;
    }
    if (!torn && bad == UINT64_MAX && off < limit)
        discard(c, off, NULL, 0, "torn tail: a partial block after the last record");
    return MC_OK;
}

/* A sealed bucket: trailer, index, and the record headers it names. Returns
 * MC_INVALID_READ (with nothing kept) when the index does not check. */
static int scan_sealed(mc_ssd_t *s, scan_t *c, const ssd_trailer_t *t) MC_REQUIRES(s->wmu)
{
    uint64_t ilen_r = ssd_round_up(t->index_len, SSD_BLK);
    if (t->index_len > (1ull << 30))
        return MC_INVALID_READ;
    uint8_t *idx = ssd_aligned_alloc((size_t)ilen_r);
    if (!idx)
        return MC_INTERNAL_ERROR;
    struct iovec v = {idx, (size_t)ilen_r};
    int rc = ilen_r ? ssd_io_full(c->s, c->b->fd, &v, 1, t->index_off, false) : MC_OK;
    if (rc == MC_OK && mc_crc32c(0, idx, (size_t)t->index_len) != t->index_crc)
        rc = MC_INVALID_READ;
    /* decode and check every entry first: all or nothing */
    size_t n = 0, at = 0;
    uint64_t prev_end = SSD_BLK;
    while (rc == MC_OK && at < t->index_len) {
        ssd_ient_t e;
        size_t used;
        if (ssd_ient_decode(idx + at, (size_t)t->index_len - at, &e, &used) != MC_OK ||
            e.offset % SSD_BLK || e.offset < prev_end ||
            e.offset + ssd_rec_span(e.key_len, e.value_len) > t->index_off)
            rc = MC_INVALID_READ;
        else {
            prev_end = e.offset + ssd_rec_span(e.key_len, e.value_len);
            at += used;
            n++;
        }
    }
    if (rc == MC_OK && n != t->nrec)
        rc = MC_INVALID_READ;
    if (rc != MC_OK) {
        free(idx);
        return rc;
    }
    at = 0;
    for (size_t i = 0; i < n && rc == MC_OK; i++) {
        ssd_ient_t e, nx;
        size_t used, u2;
        (void)ssd_ient_decode(idx + at, (size_t)t->index_len - at, &e, &used);
        at += used;
        size_t want = (size_t)ssd_rec_head_len(e.key_len);
        if (i + 1 < n && ssd_ient_decode(idx + at, (size_t)t->index_len - at, &nx, &u2) == MC_OK &&
            nx.offset - e.offset <= DENSE_GAP)
            want = WIN_BYTES;
        ssd_rhdr_t h;
        const uint8_t *key;
        int hr = head_at(c, e.offset, want, &h, &key);
        if (hr == MC_FILE_READ_FAIL)
            rc = hr;
        else if (hr == MC_OBJECT_NOT_FOUND || (hr == MC_OK && (h.flags & SSD_FLAG_DEAD)))
            c->rep->removed++;
        else if (hr != MC_OK || h.seq != e.seq || h.value_len != e.value_len ||
                 h.key_len != e.key_len || h.value_crc != e.value_crc || h.hdr_crc != e.hdr_crc ||
                 memcmp(key, e.key, e.key_len) != 0) {
            discard(c, e.offset, e.key, e.key_len, "record header does not match the index");
            bool rcl;
            (void)ssd_punch(c->s, c->b, e.offset, ssd_rec_span(e.key_len, e.value_len), &rcl);
        } else {
            rc = keep(s, c, &h, e.key);
        }
    }
    free(idx);
    if (rc == MC_OK) {
        c->b->end = t->index_off;
        c->b->sealed = true;
        c->b->disk += ilen_r + SSD_BLK;
    }
    return rc;
}

static void bucket_reset(ssd_bucket_t *b)
{
    for (uint32_t i = 0; i < b->nrec; i++)
        free(b->recs[i].key);
    b->nrec = b->live = 0;
    b->live_bytes = 0;
    b->disk = SSD_BLK;
}

/* A damaged file header: the file's nonce from its trailer, or from the
 * record header right after it. */
static bool nonce_elsewhere(scan_t *c, uint64_t *nonce)
{
    const uint8_t *p;
    ssd_trailer_t t;
    if (c->size >= 2 * SSD_BLK && c->size % SSD_BLK == 0 &&
        win_get(c, c->size - SSD_BLK, SSD_BLK, SSD_BLK, &p) == MC_OK &&
        ssd_trailer_decode(p, &t) == MC_OK) {
        *nonce = t.nonce;
        return true;
    }
    ssd_rhdr_t h;
    const uint8_t *key;
    if (win_get(c, SSD_BLK, 2 * SSD_BLK, 2 * SSD_BLK, &p) == MC_OK &&
        ssd_rhdr_decode(p, 2 * SSD_BLK, &h, &key) == MC_OK && h.offset == SSD_BLK) {
        *nonce = h.nonce;
        return true;
    }
    return false;
}

static int rewrite_fhdr(scan_t *c)
{
    uint8_t *blk = ssd_aligned_alloc(SSD_BLK);
    if (!blk)
        return MC_INTERNAL_ERROR;
    memset(blk, 0, SSD_BLK);
    ssd_fhdr_t h = {c->b->id, c->b->nonce, ssd_now_ms()};
    ssd_fhdr_encode(&h, blk);
    struct iovec v = {blk, SSD_BLK};
    int rc = ssd_io_full(c->s, c->b->fd, &v, 1, 0, true);
    free(blk);
    c->wlen = 0; /* the window no longer matches the file */
    return rc;
}

/* The trailer of a sealed file, when it checks and fits the file. */
static bool trailer_at_end(scan_t *c, ssd_trailer_t *t)
{
    const uint8_t *p;
    return c->size >= 2 * SSD_BLK && c->size % SSD_BLK == 0 &&
           win_get(c, c->size - SSD_BLK, SSD_BLK, SSD_BLK, &p) == MC_OK &&
           ssd_trailer_decode(p, t) == MC_OK && t->nonce == c->b->nonce &&
           t->index_off >= SSD_BLK && t->index_off % SSD_BLK == 0 &&
           t->index_off + ssd_round_up(t->index_len, SSD_BLK) + SSD_BLK == c->size;
}

/* One bucket file: kept, dropped (nothing valid in it) or left unused
 * (unreadable: tried again at the next open). MC_OK unless memory or a
 * write fails. */
static int recover_bucket(mc_ssd_t *s, uint64_t id, mc_ssd_recovery_t *rep, uint8_t *buf)
    MC_REQUIRES(s->wmu) MC_EXCLUDES(s->mu)
{
    char path[PATH_MAX];
    ssd_bucket_path(s, id, path, sizeof(path));
    int fd = s->fops.open(s->fops.ctx, path, O_RDWR | O_CLOEXEC | (s->direct ? O_DIRECT : 0), 0);
    if (fd < 0 && s->direct && errno == EINVAL) {
        s->direct = false;
        fd = s->fops.open(s->fops.ctx, path, O_RDWR | O_CLOEXEC, 0);
    }
    if (fd < 0)
        return MC_FILE_OPEN_FAIL;
    ssd_bucket_t *b = calloc(1, sizeof(*b));
    if (!b) {
        s->fops.close(s->fops.ctx, fd);
        return MC_INTERNAL_ERROR;
    }
    *b = (ssd_bucket_t){.id = id, .fd = fd, .disk = SSD_BLK, .end = SSD_BLK};
    scan_t c = {.s = s, .b = b, .rep = rep, .buf = buf};
    off_t size = s->fops.lseek(s->fops.ctx, fd, 0, SEEK_END);
    c.size = size > 0 ? (uint64_t)size : 0;
    const uint8_t *p;
    ssd_fhdr_t fh;
    int rc = win_get(&c, 0, SSD_BLK, SSD_BLK, &p);
    if (rc == MC_FILE_READ_FAIL)
        goto out;
    if (rc != MC_OK || zero_block(p)) { /* torn at creation: no record can follow */
        ssd_bucket_free(s, b, true);
        return MC_OK;
    }
    bool fh_bad = ssd_fhdr_decode(p, &fh) != MC_OK || fh.bucket != id;
    if (!fh_bad) {
        b->nonce = fh.nonce;
    } else if (!nonce_elsewhere(&c, &b->nonce)) {
        discard(&c, 0, NULL, 0, "bad file header: bucket file left unused");
        ssd_bucket_free(s, b, false);
        return MC_OK;
    }
    uint64_t limit = c.size;
    ssd_trailer_t t;
    bool sealed = false;
    if (trailer_at_end(&c, &t)) {
        limit = t.index_off;
        rc = scan_sealed(s, &c, &t);
        if (rc == MC_FILE_READ_FAIL || rc == MC_INTERNAL_ERROR)
            goto out;
        sealed = rc == MC_OK;
        if (!sealed) {
            if (s->cfg.on_discard) /* not a record: not counted; its records are, one by one */
                s->cfg.on_discard(s->cfg.discard_arg, id, t.index_off, NULL, 0,
                                  "bad index: bucket scanned record by record");
            bucket_reset(b);
        }
    }
    uint64_t valid_end = SSD_BLK;
    if (!sealed) {
        if ((rc = scan_all(s, &c, limit, &valid_end)) != MC_OK)
            goto out;
        b->end = valid_end;
    }
    rc = MC_OK;
    if (b->live == 0) { /* nothing to keep: the file goes */
        ssd_bucket_free(s, b, true);
        return MC_OK;
    }
    if (fh_bad && (rc = rewrite_fhdr(&c)) != MC_OK)
        goto out;
    if (!sealed && s->fops.ftruncate(s->fops.ctx, fd, (off_t)valid_end) != 0) {
        rc = MC_FILE_WRITE_FAIL;
        goto out;
    }
    mc_mutex_lock(&s->mu);
    rc = ssd_bucket_add_locked(s, b);
    s->st.records += b->live;
    s->st.live_bytes += b->live_bytes;
    mc_mutex_unlock(&s->mu);
    if (rc != MC_OK)
        goto out;
    rep->buckets++;
    if (!sealed)
        (void)ssd_seal_locked_w(s, b); /* a failure: scanned again next time */
    return MC_OK;
out:
    if (rc == MC_FILE_READ_FAIL) { /* the records of this file are unavailable, not gone */
        discard(&c, 0, NULL, 0, "read error: bucket file left unused");
        rc = MC_OK;
    }
    ssd_bucket_free(s, b, false);
    return rc;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* "b" + 16 lower-case hex digits + ".mcb": the only names taken as buckets. */
static bool bucket_name(const char *n, uint64_t *id)
{
    if (strlen(n) != 21 || n[0] != 'b' || strcmp(n + 17, ".mcb") != 0)
        return false;
    uint64_t v = 0;
    for (int i = 1; i < 17; i++) {
        char ch = n[i];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (d < 0)
            return false;
        v = v << 4 | (uint64_t)d;
    }
    *id = v;
    return true;
}

int ssd_recover(mc_ssd_t *s, mc_ssd_recovery_t *rep)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    DIR *d = opendir(s->dir);
    if (!d)
        return MC_FILE_OPEN_FAIL;
    uint64_t *ids = NULL;
    size_t n = 0, cap = 0;
    int rc = MC_OK;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t id;
        if (!bucket_name(de->d_name, &id))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            uint64_t *p = realloc(ids, cap * sizeof(*p));
            if (!p) {
                rc = MC_INTERNAL_ERROR;
                break;
            }
            ids = p;
        }
        ids[n++] = id;
        mc_mutex_lock(&s->mu);
        if (id >= s->next_bucket)
            s->next_bucket = id + 1; /* never reuse a name, even of a bad file */
        mc_mutex_unlock(&s->mu);
    }
    closedir(d);
    uint8_t *buf = rc == MC_OK ? ssd_aligned_alloc(WIN_BYTES) : NULL;
    if (rc == MC_OK && !buf)
        rc = MC_INTERNAL_ERROR;
    if (n)
        qsort(ids, n, sizeof(*ids), cmp_u64);
    for (size_t i = 0; i < n && rc == MC_OK; i++)
        rc = recover_bucket(s, ids[i], rep, buf);
    free(buf);
    free(ids);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    rep->ms = (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
    return rc;
}
