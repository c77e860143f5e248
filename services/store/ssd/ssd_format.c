/* Bucket file format codecs (docs/ssd-format.md). */
#include "ssd_format.h"

#include <string.h>

#include "mc/crc32c.h"
#include "mc/errors.h"

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}
static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}
static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* File header: 0 magic u64 | 8 version u32 | 12 block u32 | 16 bucket u64 |
 * 24 nonce u64 | 32 created_ms u64 | 40..60 zero | 60 crc u32 (over 0..60). */
void ssd_fhdr_encode(const ssd_fhdr_t *h, uint8_t out[SSD_FHDR_LEN])
{
    memset(out, 0, SSD_FHDR_LEN);
    put64(out, SSD_FILE_MAGIC);
    put32(out + 8, SSD_VERSION);
    put32(out + 12, SSD_BLK);
    put64(out + 16, h->bucket);
    put64(out + 24, h->nonce);
    put64(out + 32, h->created_ms);
    put32(out + 60, mc_crc32c(0, out, 60));
}

int ssd_fhdr_decode(const uint8_t in[SSD_FHDR_LEN], ssd_fhdr_t *h)
{
    if (get64(in) != SSD_FILE_MAGIC || get32(in + 8) != SSD_VERSION || get32(in + 12) != SSD_BLK ||
        !all_zero(in + 40, 20) || get32(in + 60) != mc_crc32c(0, in, 60))
        return MC_INVALID_READ;
    h->bucket = get64(in + 16);
    h->nonce = get64(in + 24);
    h->created_ms = get64(in + 32);
    return MC_OK;
}

/* Record header: 0 magic u32 | 4 flags u32 | 8 nonce u64 | 16 offset u64 |
 * 24 seq u64 | 32 value_len u64 | 40 key_len u32 | 44 value_crc u32 |
 * 48..56 zero | 56 rec_crc u32 | 60 hdr_crc u32; then the key. */
uint32_t ssd_rec_crc(const uint8_t hdr[SSD_RHDR_LEN], const void *key, size_t key_len,
                     uint32_t value_crc, uint64_t value_len)
{
    uint32_t c = mc_crc32c(mc_crc32c(0, hdr, 56), key, key_len);
    return value_len ? mc_crc32c_combine(c, value_crc, (size_t)value_len) : c;
}

void ssd_rhdr_encode(ssd_rhdr_t *h, const char *key, uint8_t *out)
{
    memset(out, 0, SSD_RHDR_LEN);
    put32(out, SSD_REC_MAGIC);
    put32(out + 4, h->flags);
    put64(out + 8, h->nonce);
    put64(out + 16, h->offset);
    put64(out + 24, h->seq);
    put64(out + 32, h->value_len);
    put32(out + 40, h->key_len);
    put32(out + 44, h->value_crc);
    memcpy(out + SSD_RHDR_LEN, key, h->key_len);
    h->rec_crc = ssd_rec_crc(out, key, h->key_len, h->value_crc, h->value_len);
    put32(out + 56, h->rec_crc);
    h->hdr_crc = mc_crc32c(mc_crc32c(0, out, 60), key, h->key_len);
    put32(out + 60, h->hdr_crc);
}

int ssd_rhdr_decode(const uint8_t *in, size_t avail, ssd_rhdr_t *h, const uint8_t **key)
{
    if (avail < SSD_RHDR_LEN || get32(in) != SSD_REC_MAGIC)
        return MC_INVALID_READ;
    h->flags = get32(in + 4);
    h->nonce = get64(in + 8);
    h->offset = get64(in + 16);
    h->seq = get64(in + 24);
    h->value_len = get64(in + 32);
    h->key_len = get32(in + 40);
    h->value_crc = get32(in + 44);
    h->rec_crc = get32(in + 56);
    h->hdr_crc = get32(in + 60);
    if ((h->flags & ~SSD_FLAG_DEAD) != 0 || !all_zero(in + 48, 8) || h->key_len == 0 ||
        h->key_len > SSD_KEY_MAX || h->key_len > avail - SSD_RHDR_LEN ||
        h->value_len > (UINT64_MAX >> 2))
        return MC_INVALID_READ;
    const uint8_t *k = in + SSD_RHDR_LEN;
    if (mc_crc32c(mc_crc32c(0, in, 60), k, h->key_len) != h->hdr_crc)
        return MC_INVALID_READ;
    if (ssd_rec_crc(in, k, h->key_len, h->value_crc, h->value_len) != h->rec_crc)
        return MC_INVALID_READ;
    *key = k;
    return MC_OK;
}

/* Index entry: 0 offset u64 | 8 seq u64 | 16 value_len u64 | 24 key_len u32 |
 * 28 value_crc u32 | 32 hdr_crc u32 | 36 zero u32 | 40 key | zero pad to 8. */
size_t ssd_ient_encode(const ssd_ient_t *e, uint8_t *out)
{
    size_t len = ssd_ient_len(e->key_len);
    memset(out, 0, len);
    put64(out, e->offset);
    put64(out + 8, e->seq);
    put64(out + 16, e->value_len);
    put32(out + 24, e->key_len);
    put32(out + 28, e->value_crc);
    put32(out + 32, e->hdr_crc);
    memcpy(out + SSD_IENT_LEN, e->key, e->key_len);
    return len;
}

int ssd_ient_decode(const uint8_t *in, size_t avail, ssd_ient_t *e, size_t *used)
{
    if (avail < SSD_IENT_LEN)
        return MC_INVALID_READ;
    e->offset = get64(in);
    e->seq = get64(in + 8);
    e->value_len = get64(in + 16);
    e->key_len = get32(in + 24);
    e->value_crc = get32(in + 28);
    e->hdr_crc = get32(in + 32);
    if (get32(in + 36) != 0 || e->key_len == 0 || e->key_len > SSD_KEY_MAX ||
        e->value_len > (UINT64_MAX >> 2))
        return MC_INVALID_READ;
    size_t len = ssd_ient_len(e->key_len);
    if (len > avail || !all_zero(in + SSD_IENT_LEN + e->key_len, len - SSD_IENT_LEN - e->key_len))
        return MC_INVALID_READ;
    e->key = in + SSD_IENT_LEN;
    *used = len;
    return MC_OK;
}

/* Trailer (the file's last block): 0 magic u64 | 8 index_off u64 |
 * 16 index_len u64 | 24 nrec u64 | 32 nonce u64 | 40 index_crc u32 |
 * 44..60 zero | 60 crc u32 (over 0..60). */
void ssd_trailer_encode(const ssd_trailer_t *t, uint8_t out[SSD_TRAILER_LEN])
{
    memset(out, 0, SSD_TRAILER_LEN);
    put64(out, SSD_END_MAGIC);
    put64(out + 8, t->index_off);
    put64(out + 16, t->index_len);
    put64(out + 24, t->nrec);
    put64(out + 32, t->nonce);
    put32(out + 40, t->index_crc);
    put32(out + 60, mc_crc32c(0, out, 60));
}

int ssd_trailer_decode(const uint8_t in[SSD_TRAILER_LEN], ssd_trailer_t *t)
{
    if (get64(in) != SSD_END_MAGIC || !all_zero(in + 44, 16) ||
        get32(in + 60) != mc_crc32c(0, in, 60))
        return MC_INVALID_READ;
    t->index_off = get64(in + 8);
    t->index_len = get64(in + 16);
    t->nrec = get64(in + 24);
    t->nonce = get64(in + 32);
    t->index_crc = get32(in + 40);
    return MC_OK;
}
