/* The bucket file format codecs: round trips, and every field a decoder
 * checks (magic, version, CRCs, lengths). */
#include <criterion/criterion.h>
#include <string.h>

#include "mc/crc32c.h"
#include "mc/errors.h"
#include "ssd_format.h"

Test(ssd_format, file_header_round_trip_and_checks)
{
    uint8_t b[SSD_FHDR_LEN];
    ssd_fhdr_t h = {7, 0x1122334455667788ull, 1234}, d;
    ssd_fhdr_encode(&h, b);
    cr_assert_eq(memcmp(b, "MCSSDBKT", 8), 0);
    cr_assert_eq(b[8], 1); /* version 1, little-endian */
    cr_assert_eq(ssd_fhdr_decode(b, &d), MC_OK);
    cr_assert(d.bucket == 7 && d.nonce == h.nonce && d.created_ms == 1234);
    for (size_t i = 0; i < SSD_FHDR_LEN; i++) {
        uint8_t c[SSD_FHDR_LEN];
        memcpy(c, b, sizeof(c));
        c[i] ^= 0x10;
        cr_assert_eq(ssd_fhdr_decode(c, &d), MC_INVALID_READ, "flip at %zu passed", i);
    }
}

Test(ssd_format, record_header_round_trip)
{
    uint8_t buf[SSD_RHDR_LEN + 16];
    const char *key = "some/key";
    uint8_t val[100];
    memset(val, 3, sizeof(val));
    ssd_rhdr_t h = {.nonce = 9,
                    .offset = 8192,
                    .seq = 42,
                    .value_len = sizeof(val),
                    .key_len = 8,
                    .value_crc = mc_crc32c(0, val, sizeof(val))};
    ssd_rhdr_encode(&h, key, buf);
    cr_assert_eq(memcmp(buf, "MCSR", 4), 0);
    /* rec_crc is the CRC32C over header[0..56), key and value, in one stream */
    uint8_t all[56 + 8 + 100];
    memcpy(all, buf, 56);
    memcpy(all + 56, key, 8);
    memcpy(all + 64, val, 100);
    cr_assert_eq(h.rec_crc, mc_crc32c(0, all, sizeof(all)));
    ssd_rhdr_t d;
    const uint8_t *k;
    cr_assert_eq(ssd_rhdr_decode(buf, SSD_RHDR_LEN + 8, &d, &k), MC_OK);
    cr_assert(d.nonce == 9 && d.offset == 8192 && d.seq == 42 && d.value_len == 100 &&
              d.key_len == 8);
    cr_assert_eq(memcmp(k, key, 8), 0);
    /* every byte of header and key is covered */
    for (size_t i = 0; i < SSD_RHDR_LEN + 8; i++) {
        uint8_t c[sizeof(buf)];
        memcpy(c, buf, sizeof(c));
        c[i] ^= 0x01;
        cr_assert_eq(ssd_rhdr_decode(c, SSD_RHDR_LEN + 8, &d, &k), MC_INVALID_READ, "flip at %zu",
                     i);
    }
    /* a key running past what is readable */
    cr_assert_eq(ssd_rhdr_decode(buf, SSD_RHDR_LEN + 7, &d, &k), MC_INVALID_READ);
    cr_assert_eq(ssd_rhdr_decode(buf, SSD_RHDR_LEN - 1, &d, &k), MC_INVALID_READ);
}

Test(ssd_format, zero_length_value)
{
    uint8_t buf[SSD_RHDR_LEN + 1];
    ssd_rhdr_t h = {
        .nonce = 1, .offset = 4096, .seq = 1, .value_len = 0, .key_len = 1, .value_crc = 0};
    ssd_rhdr_encode(&h, "k", buf);
    ssd_rhdr_t d;
    const uint8_t *k;
    cr_assert_eq(ssd_rhdr_decode(buf, sizeof(buf), &d, &k), MC_OK);
    cr_assert_eq(h.rec_crc, mc_crc32c(mc_crc32c(0, buf, 56), "k", 1));
    cr_assert_eq(ssd_rec_span(1, 0), 4096);
    cr_assert_eq(ssd_rec_span(4032, 1), 8192);
    cr_assert_eq(ssd_rec_span(4033, 4096), 12288);
}

Test(ssd_format, index_entry_and_trailer)
{
    uint8_t buf[64];
    ssd_ient_t e = {8192, 5, 1000, 3, 0xabcdef01u, 0x12345678u, (const uint8_t *)"abc"}, d;
    size_t n = ssd_ient_encode(&e, buf), used;
    cr_assert_eq(n, 48);
    cr_assert_eq(ssd_ient_decode(buf, n, &d, &used), MC_OK);
    cr_assert(used == 48 && d.offset == 8192 && d.seq == 5 && d.value_len == 1000 &&
              d.key_len == 3);
    cr_assert(d.value_crc == e.value_crc && d.hdr_crc == e.hdr_crc && memcmp(d.key, "abc", 3) == 0);
    cr_assert_eq(ssd_ient_decode(buf, n - 1, &d, &used), MC_INVALID_READ);
    buf[45] = 1; /* padding must be zero */
    cr_assert_eq(ssd_ient_decode(buf, n, &d, &used), MC_INVALID_READ);

    uint8_t t[SSD_TRAILER_LEN];
    ssd_trailer_t tr = {1 << 20, 4000, 77, 99, 0xdeadbeefu}, td;
    ssd_trailer_encode(&tr, t);
    cr_assert_eq(memcmp(t, "MCSSDEND", 8), 0);
    cr_assert_eq(ssd_trailer_decode(t, &td), MC_OK);
    cr_assert(td.index_off == tr.index_off && td.index_len == 4000 && td.nrec == 77 &&
              td.nonce == 99 && td.index_crc == 0xdeadbeefu);
    for (size_t i = 0; i < SSD_TRAILER_LEN; i++) {
        uint8_t c[SSD_TRAILER_LEN];
        memcpy(c, t, sizeof(c));
        c[i] ^= 0x80;
        cr_assert_eq(ssd_trailer_decode(c, &td), MC_INVALID_READ, "flip at %zu", i);
    }
}

/* A deterministic mini-fuzz (the decoders read files: every byte is
 * untrusted): mutated encodings and random bytes never read out of bounds
 * (ASan), and whatever decodes re-encodes to the same bytes. */
static uint32_t rnd(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

Test(ssd_format, mutated_inputs)
{
    uint32_t x = 12345;
    uint8_t buf[SSD_RHDR_LEN + 64], enc[SSD_RHDR_LEN + 64];
    for (int iter = 0; iter < 200000; iter++) {
        ssd_rhdr_t h = {.nonce = rnd(&x),
                        .offset = 4096,
                        .seq = rnd(&x),
                        .value_len = rnd(&x) % 5000,
                        .key_len = 1 + rnd(&x) % 60,
                        .value_crc = rnd(&x)};
        char key[64];
        for (uint32_t i = 0; i < h.key_len; i++)
            key[i] = (char)rnd(&x);
        ssd_rhdr_encode(&h, key, buf);
        size_t avail = SSD_RHDR_LEN + h.key_len;
        int flips = (int)(rnd(&x) % 4);
        for (int f = 0; f < flips; f++)
            buf[rnd(&x) % avail] ^= (uint8_t)(1u << (rnd(&x) % 8));
        if (iter % 7 == 0) /* sometimes a random length */
            avail = rnd(&x) % (SSD_RHDR_LEN + 64);
        ssd_rhdr_t d;
        const uint8_t *k;
        if (ssd_rhdr_decode(buf, avail, &d, &k) == MC_OK) {
            cr_assert_leq(SSD_RHDR_LEN + d.key_len, avail);
            ssd_rhdr_t e = d;
            ssd_rhdr_encode(&e, (const char *)k, enc);
            cr_assert_eq(memcmp(enc, buf, SSD_RHDR_LEN + d.key_len), 0, "iter %d", iter);
        }
        ssd_ient_t ie;
        size_t used;
        if (ssd_ient_decode(buf, avail, &ie, &used) == MC_OK) {
            cr_assert_leq(used, avail);
            cr_assert_leq(SSD_IENT_LEN + ie.key_len, used);
        }
        ssd_trailer_t t;
        ssd_fhdr_t fh;
        if (avail >= SSD_TRAILER_LEN)
            (void)ssd_trailer_decode(buf, &t);
        if (avail >= SSD_FHDR_LEN)
            (void)ssd_fhdr_decode(buf, &fh);
    }
}
