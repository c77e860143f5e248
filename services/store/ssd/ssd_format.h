/* Bucket file format (docs/ssd-format.md, byte by byte): encoders and
 * validating decoders of the file header, the record header, the index
 * entries and the trailer. Every integer is little-endian. Decoders check
 * magic, version, CRC and every length/offset against the caller's limits,
 * and return MC_OK or MC_INVALID_READ. */
#ifndef MC_SSD_FORMAT_H
#define MC_SSD_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define SSD_BLK 4096u
#define SSD_VERSION 1u
#define SSD_FILE_MAGIC 0x544b42445353434dULL /* "MCSSDBKT" as a little-endian u64 */
#define SSD_REC_MAGIC 0x5253434du            /* "MCSR" */
#define SSD_END_MAGIC 0x444e45445353434dULL  /* "MCSSDEND" */
#define SSD_FHDR_LEN 64u
#define SSD_RHDR_LEN 64u
#define SSD_IENT_LEN 40u /* fixed part of an index entry, then the key, padded to 8 */
#define SSD_TRAILER_LEN 64u
#define SSD_KEY_MAX 4096u
#define SSD_FLAG_DEAD 1u /* removed, where the file system cannot punch holes */

static inline uint64_t ssd_round_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

typedef struct ssd_fhdr {
    uint64_t bucket;
    uint64_t
        nonce; /* random per file: a record header names it, so bytes inside a value never pass as one */
    uint64_t created_ms;
} ssd_fhdr_t;

typedef struct ssd_rhdr {
    uint32_t flags; /* 0, or SSD_FLAG_DEAD; other values are refused */
    uint64_t nonce;
    uint64_t offset; /* this header's offset in the file */
    uint64_t seq;
    uint64_t value_len;
    uint32_t key_len;
    uint32_t value_crc;
    uint32_t rec_crc; /* CRC32C(header[0..56) || key || value) */
    uint32_t hdr_crc; /* CRC32C(header[0..60) || key) */
} ssd_rhdr_t;

typedef struct ssd_trailer {
    uint64_t index_off, index_len, nrec, nonce;
    uint32_t index_crc;
} ssd_trailer_t;

/* Bytes from a record's header to its value (header + key, rounded up to a block). */
static inline uint64_t ssd_rec_head_len(uint64_t key_len)
{
    return ssd_round_up(SSD_RHDR_LEN + key_len, SSD_BLK);
}
/* Bytes a whole record occupies. */
static inline uint64_t ssd_rec_span(uint64_t key_len, uint64_t value_len)
{
    return ssd_rec_head_len(key_len) + ssd_round_up(value_len, SSD_BLK);
}

void ssd_fhdr_encode(const ssd_fhdr_t *h, uint8_t out[SSD_FHDR_LEN]);
int ssd_fhdr_decode(const uint8_t in[SSD_FHDR_LEN], ssd_fhdr_t *h);

/* Fills h->rec_crc (from h->value_crc and value_len, by mc_crc32c_combine)
 * and h->hdr_crc, and writes the header followed by the key into out (at
 * least SSD_RHDR_LEN + key_len bytes). */
void ssd_rhdr_encode(ssd_rhdr_t *h, const char *key, uint8_t *out);
/* Decodes the header at in (avail bytes readable there, at least
 * SSD_RHDR_LEN) and checks magic, flags, key length (1..SSD_KEY_MAX, fits in
 * avail), hdr_crc, and rec_crc against value_crc. *key points into in. */
int ssd_rhdr_decode(const uint8_t *in, size_t avail, ssd_rhdr_t *h, const uint8_t **key);
/* The rec_crc a header with these fields must carry. */
uint32_t ssd_rec_crc(const uint8_t hdr[SSD_RHDR_LEN], const void *key, size_t key_len,
                     uint32_t value_crc, uint64_t value_len);

/* An index entry: the record's header fields and key, so recovery of a
 * sealed bucket rebuilds its records from the index alone. */
typedef struct ssd_ient {
    uint64_t offset, seq, value_len;
    uint32_t key_len, value_crc, hdr_crc;
    const uint8_t *key;
} ssd_ient_t;
static inline size_t ssd_ient_len(size_t key_len)
{
    return (size_t)ssd_round_up(SSD_IENT_LEN + key_len, 8);
}
/* Writes e at out (ssd_ient_len(e->key_len) bytes); returns that length. */
size_t ssd_ient_encode(const ssd_ient_t *e, uint8_t *out);
/* Decodes the entry at in[0..avail); sets *used to its length. */
int ssd_ient_decode(const uint8_t *in, size_t avail, ssd_ient_t *e, size_t *used);

void ssd_trailer_encode(const ssd_trailer_t *t, uint8_t out[SSD_TRAILER_LEN]);
int ssd_trailer_decode(const uint8_t in[SSD_TRAILER_LEN], ssd_trailer_t *t);

#endif
