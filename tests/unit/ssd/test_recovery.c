/* Recovery at open against damaged bucket files: a file cut at many points
 * (torn tails, sealed and unsealed buckets) and single flipped bytes in a
 * record header, key, value, the index, the trailer and the file header:
 * each is detected at read and at recovery, and every valid record is kept. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mc/errors.h"
#include "ssd_util.h"

static char dir[64];
static void setup(void)
{
    tu_tmpdir(dir);
}
static void teardown(void)
{
    tu_rmrf(dir);
}
TestSuite(ssd_recovery, .init = setup, .fini = teardown);

static int discards;
static void on_discard(void *arg, uint64_t bucket, uint64_t off, const char *key, size_t klen,
                       const char *why)
{
    (void)arg;
    (void)bucket;
    (void)off;
    (void)key;
    (void)klen;
    cr_assert_not_null(why);
    discards++;
}

#define NREC 7
static const size_t sizes[NREC] = {5000, 1, 0, 9000, 4096, 20000, 3};

static uint64_t rec_end(const mc_ssd_loc_t *l)
{
    return l->offset + (l->length + 4095) / 4096 * 4096;
}

static uint8_t *slurp(const char *p, size_t *len)
{
    int fd = open(p, O_RDONLY);
    cr_assert_geq(fd, 0);
    struct stat st;
    cr_assert_eq(fstat(fd, &st), 0);
    *len = (size_t)st.st_size;
    uint8_t *b = malloc(*len + 1);
    cr_assert_eq(pread(fd, b, *len, 0), (ssize_t)*len);
    close(fd);
    return b;
}

static void spit(const char *p, const uint8_t *b, size_t len)
{
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(pwrite(fd, b, len, 0), (ssize_t)len);
    close(fd);
}

static void flip(const char *p, uint64_t off)
{
    int fd = open(p, O_RDWR);
    cr_assert_geq(fd, 0);
    uint8_t c;
    cr_assert_eq(pread(fd, &c, 1, (off_t)off), 1);
    c ^= 0x20;
    cr_assert_eq(pwrite(fd, &c, 1, (off_t)off), 1);
    close(fd);
}

static mc_ssd_cfg_t rcfg(bool sealed)
{
    mc_ssd_cfg_t c = tu_cfg(dir);
    c.bucket_keys = sealed ? NREC : 100;
    c.bucket_bytes = 64u << 20;
    c.on_discard = on_discard;
    return c;
}

static void write_all(mc_ssd_t *s, mc_ssd_loc_t *loc)
{
    char key[8];
    for (int i = 0; i < NREC; i++) {
        snprintf(key, sizeof(key), "t%d", i);
        cr_assert_eq(tu_put(s, key, sizes[i], (uint32_t)i + 10, &loc[i]), MC_OK);
    }
}

static void torn(bool sealed)
{
    mc_ssd_cfg_t c = rcfg(sealed);
    mc_ssd_t *s = tu_open(&c, NULL);
    mc_ssd_loc_t loc[NREC];
    write_all(s, loc);
    char path[256];
    cr_assert(tu_bucket_file(s, loc[0].bucket, path, sizeof(path)));
    mc_ssd_close(s);
    size_t len;
    uint8_t *orig = slurp(path, &len);
    cr_assert_eq(len % 4096, 0);
    int cuts = 0;
    for (size_t t = 0; t <= len; t += (t % 4096 == 0 ? 1 : 511)) {
        spit(path, orig, t);
        discards = 0;
        mc_ssd_recovery_t rep;
        s = tu_open(&c, &rep);
        uint64_t want = 0;
        bool boundary = t <= 4096;
        for (int i = 0; i < NREC; i++) {
            bool whole = rec_end(&loc[i]) <= t;
            want += whole;
            boundary = boundary || rec_end(&loc[i]) == t;
            char key[8];
            snprintf(key, sizeof(key), "t%d", i);
            cr_assert_eq(tu_get(s, key, &loc[i], (uint32_t)i + 10),
                         whole ? MC_OK : MC_OBJECT_NOT_FOUND, "cut at %zu, record %d", t, i);
        }
        cr_assert_eq(rep.records, want, "cut at %zu", t);
        cr_assert_eq(rep.discarded, (uint64_t)discards);
        if (!sealed || t < rec_end(&loc[NREC - 1]))
            cr_assert_eq(rep.discarded, boundary ? 0u : 1u, "cut at %zu: %llu discarded", t,
                         (unsigned long long)rep.discarded);
        mc_ssd_close(s);
        /* the second recovery finds a clean file */
        discards = 0;
        s = tu_open(&c, &rep);
        cr_assert_eq(rep.records, want);
        cr_assert_eq(rep.discarded, 0, "cut at %zu: second recovery discarded", t);
        mc_ssd_close(s);
        cuts++;
    }
    cr_assert_gt(cuts, 30);
    free(orig);
}

Test(ssd_recovery, torn_tail_unsealed)
{
    torn(false);
}
Test(ssd_recovery, torn_tail_sealed)
{
    torn(true);
}

typedef enum { F_HDR, F_KEY, F_VALUE, F_INDEX, F_TRAILER, F_FHDR } target_t;

static void flipped(bool sealed, target_t tg)
{
    mc_ssd_cfg_t c = rcfg(sealed);
    mc_ssd_t *s = tu_open(&c, NULL);
    mc_ssd_loc_t loc[NREC];
    write_all(s, loc);
    char path[256];
    cr_assert(tu_bucket_file(s, loc[0].bucket, path, sizeof(path)));
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    const int v = 3; /* the victim: 9000 bytes */
    uint64_t off = 0;
    switch (tg) {
    case F_HDR: off = loc[v].offset - 4096 + 33; break;
    case F_KEY: off = loc[v].offset - 4096 + 65; break;
    case F_VALUE: off = loc[v].offset + 8500; break;
    case F_INDEX: off = rec_end(&loc[NREC - 1]) + 50; break;
    case F_TRAILER: off = (uint64_t)st.st_size - 4096 + 9; break;
    case F_FHDR: off = 20; break;
    }
    flip(path, off);
    bool rec_hit = tg == F_HDR || tg == F_KEY || tg == F_VALUE;
    for (int i = 0; i < NREC; i++) {
        char key[8];
        snprintf(key, sizeof(key), "t%d", i);
        cr_assert_eq(tu_get(s, key, &loc[i], (uint32_t)i + 10),
                     rec_hit && i == v ? MC_INVALID_READ : MC_OK, "read of record %d", i);
    }
    mc_ssd_stats_t sts;
    mc_ssd_stats(s, &sts);
    cr_assert_eq(sts.crc_errors, rec_hit ? 1u : 0u);
    mc_ssd_close(s);

    discards = 0;
    mc_ssd_recovery_t rep;
    s = tu_open(&c, &rep);
    /* values of a sealed bucket are checked on read, not at recovery */
    bool lost = rec_hit && !(sealed && tg == F_VALUE);
    cr_assert_eq(rep.records, NREC - (lost ? 1u : 0u));
    if (tg != F_TRAILER)
        cr_assert_eq(rep.discarded, lost ? 1u : 0u);
    for (int i = 0; i < NREC; i++) {
        char key[8];
        snprintf(key, sizeof(key), "t%d", i);
        int want = i != v || !rec_hit ? MC_OK : lost ? MC_OBJECT_NOT_FOUND : MC_INVALID_READ;
        cr_assert_eq(tu_get(s, key, &loc[i], (uint32_t)i + 10), want, "after recovery, record %d",
                     i);
    }
    mc_ssd_close(s);
    discards = 0;
    s = tu_open(&c, &rep);
    cr_assert_eq(rep.records, NREC - (lost ? 1u : 0u));
    cr_assert_eq(rep.discarded, 0);
    mc_ssd_close(s);
}

Test(ssd_recovery, flip_header_unsealed)
{
    flipped(false, F_HDR);
}
Test(ssd_recovery, flip_key_unsealed)
{
    flipped(false, F_KEY);
}
Test(ssd_recovery, flip_value_unsealed)
{
    flipped(false, F_VALUE);
}
Test(ssd_recovery, flip_file_header_unsealed)
{
    flipped(false, F_FHDR);
}
Test(ssd_recovery, flip_header_sealed)
{
    flipped(true, F_HDR);
}
Test(ssd_recovery, flip_key_sealed)
{
    flipped(true, F_KEY);
}
Test(ssd_recovery, flip_value_sealed)
{
    flipped(true, F_VALUE);
}
Test(ssd_recovery, flip_index_sealed)
{
    flipped(true, F_INDEX);
}
Test(ssd_recovery, flip_trailer_sealed)
{
    flipped(true, F_TRAILER);
}
Test(ssd_recovery, flip_file_header_sealed)
{
    flipped(true, F_FHDR);
}

/* Files that are not buckets of this format are left alone. */
Test(ssd_recovery, foreign_files_ignored)
{
    mc_ssd_cfg_t c = rcfg(false);
    mc_ssd_t *s = tu_open(&c, NULL);
    mc_ssd_loc_t l;
    cr_assert_eq(tu_put(s, "k", 100, 1, &l), MC_OK);
    char p[256];
    snprintf(p, sizeof(p), "%s/identity", mc_ssd_dir(s));
    spit(p, (const uint8_t *)"abc", 3);
    snprintf(p, sizeof(p), "%s/b00000000000000zz.mcb", mc_ssd_dir(s));
    spit(p, (const uint8_t *)"abc", 3);
    mc_ssd_close(s);
    mc_ssd_recovery_t rep;
    s = tu_open(&c, &rep);
    cr_assert_eq(rep.records, 1);
    cr_assert_eq(rep.discarded, 0);
    cr_assert_eq(access(p, F_OK), 0);
    cr_assert_eq(tu_get(s, "k", &l, 1), MC_OK);
    mc_ssd_close(s);
}

static int bad_seen;
static char bad_key[16];
static int on_bad(void *arg, const char *key, size_t klen, const mc_ssd_loc_t *loc)
{
    (void)arg;
    (void)loc;
    bad_seen++;
    snprintf(bad_key, sizeof(bad_key), "%.*s", (int)klen, key);
    return 0;
}

/* A value flipped in a sealed bucket passes recovery (values are checked on
 * read); the scrub finds it, removes the record and reports it. */
Test(ssd_recovery, scrub_finds_a_flipped_value)
{
    mc_ssd_cfg_t c = rcfg(true);
    mc_ssd_t *s = tu_open(&c, NULL);
    mc_ssd_loc_t loc[NREC];
    write_all(s, loc);
    mc_ssd_loc_t extra;
    cr_assert_eq(tu_put(s, "x", 50000, 99, &extra), MC_OK); /* a second, unsealed bucket */
    char path[256];
    cr_assert(tu_bucket_file(s, loc[0].bucket, path, sizeof(path)));
    flip(path, loc[5].offset + 1234);
    uint64_t cursor = 0;
    bad_seen = 0;
    cr_assert_eq(mc_ssd_scrub(s, &cursor, on_bad, NULL), MC_OK);
    cr_assert_eq(cursor, loc[0].bucket);
    cr_assert_eq(bad_seen, 1);
    cr_assert_str_eq(bad_key, "t5");
    cr_assert_eq(mc_ssd_scrub(s, &cursor, on_bad, NULL), MC_OK);
    cr_assert_eq(cursor, extra.bucket);
    cr_assert_eq(mc_ssd_scrub(s, &cursor, on_bad, NULL), MC_OBJECT_NOT_FOUND);
    cr_assert_eq(bad_seen, 1);
    mc_ssd_stats_t st;
    mc_ssd_stats(s, &st);
    cr_assert_eq(st.scrubbed, NREC + 1);
    cr_assert_eq(st.scrub_bad, 1);
    for (int i = 0; i < NREC; i++) {
        char key[8];
        snprintf(key, sizeof(key), "t%d", i);
        cr_assert_eq(tu_get(s, key, &loc[i], (uint32_t)i + 10),
                     i == 5 ? MC_OBJECT_NOT_FOUND : MC_OK);
    }
    mc_ssd_close(s);
    mc_ssd_recovery_t rep;
    s = tu_open(&c, &rep);
    cr_assert_eq(rep.records, NREC); /* NREC - 1 + "x" */
    cr_assert_eq(rep.removed, 1);
    mc_ssd_close(s);
}

/* After a crash an unsealed bucket keeps its preallocated, unwritten tail:
 * recovery skips it as a hole, keeps every record, reports only a torn one. */
Test(ssd_recovery, preallocated_tail_after_a_crash)
{
    mc_ssd_cfg_t c = rcfg(false);
    mc_ssd_t *s = tu_open(&c, NULL);
    mc_ssd_loc_t loc[NREC];
    write_all(s, loc);
    char path[256];
    cr_assert(tu_bucket_file(s, loc[0].bucket, path, sizeof(path)));
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_gt((uint64_t)st.st_size, rec_end(&loc[NREC - 1]), "the bucket was not preallocated");
    mc_ssd_close(s);
    for (int torn = 0; torn < 2; torn++) {
        /* the crash: cut (inside the last record when torn), then the
         * unwritten preallocation after it */
        uint64_t end = rec_end(&loc[NREC - 1]) - (torn ? 4096 : 0);
        int fd = open(path, O_RDWR);
        cr_assert_geq(fd, 0);
        cr_assert_eq(ftruncate(fd, (off_t)end), 0);
        cr_assert_eq(fallocate(fd, 0, 0, 16 << 20), 0);
        close(fd);
        discards = 0;
        mc_ssd_recovery_t rep;
        s = tu_open(&c, &rep);
        cr_assert_eq(rep.records, NREC - (unsigned)torn, "torn %d", torn);
        cr_assert_eq(rep.discarded, (unsigned)torn, "torn %d", torn);
        for (int i = 0; i < NREC - torn; i++) {
            char key[16];
            snprintf(key, sizeof(key), "t%d", i);
            cr_assert_eq(tu_get(s, key, &loc[i], (uint32_t)i + 10), MC_OK);
        }
        mc_ssd_close(s); /* sealed now; the next round's cut removes the index again */
    }
}
