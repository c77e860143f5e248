/* Faults through the file-ops seam: ENOSPC and EIO on writes (nothing
 * registered, counted, the next write works), short writes (continued),
 * EIO on read and at recovery, failed syncs, and a file system without hole
 * punching. A real small tmpfs, when this process may mount one, for ENOSPC
 * from the kernel. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mc/crc32c.h"
#include "mc/errors.h"
#include "ssd_util.h"

static char dir[64];
static tu_faults_t F;
static mc_ssd_file_ops_t ops;
static void setup(void)
{
    tu_tmpdir(dir);
    tu_faults_init(&F);
    ops = tu_fault_ops(&F);
}
static void teardown(void)
{
    tu_rmrf(dir);
}
TestSuite(ssd_faults, .init = setup, .fini = teardown);

static mc_ssd_cfg_t fcfg(void)
{
    mc_ssd_cfg_t c = tu_cfg(dir);
    c.bucket_keys = 100;
    c.bucket_bytes = 64u << 20;
    c.fops = &ops;
    return c;
}

static int count(void *arg, const char *k, size_t kl, const mc_ssd_loc_t *l)
{
    (void)k;
    (void)kl;
    (void)l;
    (*(int *)arg)++;
    return 0;
}

static void batch(mc_ssd_t *s, int n, size_t len, uint32_t seed, mc_ssd_loc_t *loc, int *codes,
                  const char *pfx)
{
    uint8_t *buf = malloc((size_t)n * len);
    struct iovec *iov = calloc((size_t)n, sizeof(*iov));
    mc_ssd_item_t *it = calloc((size_t)n, sizeof(*it));
    char(*keys)[16] = calloc((size_t)n, 16);
    for (int i = 0; i < n; i++) {
        uint8_t *v = buf + (size_t)i * len;
        tu_fill(v, len, seed + (uint32_t)i);
        iov[i] = (struct iovec){v, len};
        snprintf(keys[i], 16, "%s%d", pfx, i);
        it[i] = (mc_ssd_item_t){keys[i], strlen(keys[i]), &iov[i], 1, len, mc_crc32c(0, v, len)};
    }
    (void)mc_ssd_write(s, it, (size_t)n, loc, codes);
    free(buf);
    free(iov);
    free(it);
    free(keys);
}

static void write_error(int err)
{
    mc_ssd_cfg_t c = fcfg();
    mc_ssd_t *s = tu_open(&c, NULL);
    mc_ssd_loc_t ok;
    cr_assert_eq(tu_put(s, "before", 10000, 1, &ok), MC_OK);
    F.pwritev_fail_in = 0;
    F.pwritev_errno = err;
    mc_ssd_loc_t loc[4];
    int codes[4];
    batch(s, 4, 300000, 100, loc, codes, "x");
    for (int i = 0; i < 4; i++)
        cr_assert_eq(codes[i], MC_FILE_WRITE_FAIL);
    mc_ssd_stats_t st;
    mc_ssd_stats(s, &st);
    cr_assert_eq(st.write_errors, 4);
    cr_assert_eq(st.records, 1);
    int n = 0;
    cr_assert_eq(mc_ssd_foreach(s, count, &n), 0);
    cr_assert_eq(n, 1, "a failed item was registered");
    /* the service keeps going: the next write lands where the failed one was */
    mc_ssd_loc_t l2;
    cr_assert_eq(tu_put(s, "after", 5000, 2, &l2), MC_OK);
    cr_assert_eq(tu_get(s, "after", &l2, 2), MC_OK);
    cr_assert_eq(tu_get(s, "before", &ok, 1), MC_OK);
    mc_ssd_close(s);
    mc_ssd_recovery_t rep;
    s = tu_open(&c, &rep);
    cr_assert_eq(rep.records, 2);
    cr_assert_eq(rep.discarded, 0);
    cr_assert_eq(tu_get(s, "after", &l2, 2), MC_OK);
    mc_ssd_close(s);
}

Test(ssd_faults, enospc_on_write)
{
    write_error(ENOSPC);
}
Test(ssd_faults, eio_on_write)
{
    write_error(EIO);
}

Test(ssd_faults, short_write_is_continued)
{
    mc_ssd_cfg_t c = fcfg();
    mc_ssd_t *s = tu_open(&c, NULL);
    mc_ssd_loc_t ok;
    cr_assert_eq(tu_put(s, "first", 100, 1, &ok), MC_OK); /* the bucket exists */
    F.short_write_in = 0;
    int calls = F.pwritev_calls;
    mc_ssd_loc_t loc[3];
    int codes[3];
    batch(s, 3, 200000, 7, loc, codes, "s");
    cr_assert_gt(F.pwritev_calls - calls, 1, "the short write was not continued");
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(codes[i], MC_OK);
        char key[8];
        snprintf(key, sizeof(key), "s%d", i);
        cr_assert_eq(tu_get(s, key, &loc[i], 7 + (uint32_t)i), MC_OK);
    }
    /* a short write followed by ENOSPC fails the batch */
    F.short_write_in = 0;
    F.pwritev_fail_in = 1;
    batch(s, 3, 200000, 9, loc, codes, "t");
    for (int i = 0; i < 3; i++)
        cr_assert_eq(codes[i], MC_FILE_WRITE_FAIL);
    mc_ssd_close(s);
    mc_ssd_recovery_t rep;
    s = tu_open(&c, &rep);
    cr_assert_eq(rep.records, 4);
    mc_ssd_close(s);
}

/* A failure of a write the I/O pool makes (a later piece of a large batch)
 * fails the whole batch too, and a read error in the middle of a bounced read. */
Test(ssd_faults, error_in_a_pipelined_piece)
{
    mc_ssd_cfg_t c = fcfg();
    mc_ssd_t *s = tu_open(&c, NULL);
    mc_ssd_loc_t ok;
    cr_assert_eq(tu_put(s, "first", 100, 1, &ok), MC_OK);
    uint8_t *buf = malloc((12u << 20) + 1);
    tu_fill(buf, 12u << 20, 3);
    struct iovec iov[3];
    mc_ssd_item_t it[3];
    for (int i = 0; i < 3; i++) {
        iov[i] = (struct iovec){buf + 1 + (size_t)i * (4u << 20), 4u << 20};
        it[i] = (mc_ssd_item_t){i == 0 ? "p0" : i == 1 ? "p1" : "p2",   2, &iov[i], 1, 4u << 20,
                                mc_crc32c(0, iov[i].iov_base, 4u << 20)};
    }
    mc_ssd_loc_t loc[3];
    int codes[3];
    for (int fail = 1; fail <= 2; fail++) {
        tu_faults_init(&F);
        F.pwritev_fail_in = fail;
        cr_assert_eq(mc_ssd_write(s, it, 3, loc, codes), MC_FILE_WRITE_FAIL);
        for (int i = 0; i < 3; i++)
            cr_assert_eq(codes[i], MC_FILE_WRITE_FAIL, "fail at %d, item %d", fail, i);
    }
    tu_faults_init(&F);
    cr_assert_eq(mc_ssd_write(s, it, 3, loc, codes), MC_OK);
    uint8_t *dst = malloc((4u << 20) + 1);
    F.preadv_fail_in = 2; /* header, first piece, then the pool's piece */
    cr_assert_eq(mc_ssd_read(s, &loc[1], "p1", 2, dst + 1, 4u << 20), MC_FILE_READ_FAIL);
    cr_assert_eq(mc_ssd_read(s, &loc[1], "p1", 2, dst + 1, 4u << 20), MC_OK);
    cr_assert_eq(memcmp(dst + 1, iov[1].iov_base, 4u << 20), 0);
    mc_ssd_stats_t st;
    mc_ssd_stats(s, &st);
    cr_assert_eq(st.records, 4);
    mc_ssd_close(s);
    free(buf);
    free(dst);
}

Test(ssd_faults, eio_on_read_and_at_recovery)
{
    mc_ssd_cfg_t c = fcfg();
    mc_ssd_t *s = tu_open(&c, NULL);
    mc_ssd_loc_t l;
    cr_assert_eq(tu_put(s, "k", 70000, 3, &l), MC_OK);
    F.preadv_fail_in = 0;
    cr_assert_eq(tu_get(s, "k", &l, 3), MC_FILE_READ_FAIL);
    mc_ssd_stats_t st;
    mc_ssd_stats(s, &st);
    cr_assert_eq(st.read_errors, 1);
    cr_assert_eq(tu_get(s, "k", &l, 3), MC_OK);
    mc_ssd_close(s);
    /* recovery: the unreadable bucket is left unused (not deleted), open succeeds */
    F.preadv_fail_in = 0;
    mc_ssd_recovery_t rep;
    s = tu_open(&c, &rep);
    cr_assert_eq(rep.records, 0);
    cr_assert_eq(rep.discarded, 1);
    cr_assert_eq(tu_get(s, "k", &l, 3), MC_OBJECT_NOT_FOUND);
    mc_ssd_loc_t l2;
    cr_assert_eq(tu_put(s, "k2", 10, 4, &l2), MC_OK);
    cr_assert_neq(l2.bucket, l.bucket);
    mc_ssd_close(s);
    s = tu_open(&c, &rep);
    cr_assert_eq(rep.records, 2);
    cr_assert_eq(tu_get(s, "k", &l, 3), MC_OK);
    mc_ssd_close(s);
}

Test(ssd_faults, failed_sync_fails_the_write)
{
    mc_ssd_cfg_t c = fcfg();
    c.durability = MC_SSD_DUR_DATA;
    mc_ssd_t *s = tu_open(&c, NULL);
    mc_ssd_loc_t l;
    cr_assert_eq(tu_put(s, "a", 100, 1, &l), MC_OK);
    int syncs = F.fdatasync_calls;
    cr_assert_eq(tu_put(s, "b", 100, 2, &l), MC_OK);
    cr_assert_eq(F.fdatasync_calls - syncs, 1, "durability data: one fdatasync per batch");
    F.fdatasync_fail_in = 0;
    cr_assert_eq(tu_put(s, "c", 100, 3, &l), MC_FILE_WRITE_FAIL);
    cr_assert_eq(tu_get(s, "c", &l, 3), MC_OBJECT_NOT_FOUND);
    mc_ssd_close(s);
    c.durability = MC_SSD_DUR_NONE;
    s = tu_open(&c, NULL);
    syncs = F.fdatasync_calls;
    cr_assert_eq(tu_put(s, "d", 100, 4, &l), MC_OK);
    cr_assert_eq(F.fdatasync_calls, syncs, "durability none: no sync");
    mc_ssd_close(s);
}

Test(ssd_faults, no_hole_punching)
{
    mc_ssd_cfg_t c = fcfg();
    mc_ssd_t *s = tu_open(&c, NULL);
    mc_ssd_loc_t a, b;
    cr_assert_eq(tu_put(s, "a", 50000, 1, &a), MC_OK);
    cr_assert_eq(tu_put(s, "b", 50000, 2, &b), MC_OK);
    F.fallocate_fail_in = 0; /* EOPNOTSUPP: the header block is zeroed instead */
    cr_assert_eq(mc_ssd_remove(s, "a", 1, &a), MC_OK);
    cr_assert_eq(tu_get(s, "a", &a, 1), MC_OBJECT_NOT_FOUND);
    mc_ssd_stats_t st;
    mc_ssd_stats(s, &st);
    cr_assert_eq(st.punched_bytes, 0);
    mc_ssd_close(s);
    mc_ssd_recovery_t rep;
    s = tu_open(&c, &rep);
    cr_assert_eq(rep.records, 1);
    cr_assert_eq(rep.removed, 1); /* the tombstone header */
    cr_assert_eq(rep.discarded, 0);
    cr_assert_eq(tu_get(s, "b", &b, 2), MC_OK);
    mc_ssd_close(s);
}

/* ENOSPC from the kernel: a 4 MiB tmpfs (skipped when mounting is not allowed). */
Test(ssd_faults, real_enospc_on_small_tmpfs)
{
    char mnt[80];
    snprintf(mnt, sizeof(mnt), "%s/mnt", dir);
    cr_assert_eq(mkdir(mnt, 0755), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=4m") != 0)
        cr_skip_test("cannot mount a tmpfs here (%s)", strerror(errno));
    mc_ssd_cfg_t c = tu_cfg(mnt);
    c.bucket_keys = 100;
    c.bucket_bytes = 64u << 20;
    mc_ssd_t *s = NULL;
    c.capacity = 0; /* half of 4 MiB free: under 1 GiB, refused */
    int rc0 = mc_ssd_open(&c, &s, NULL);
    c.capacity = 4 * GiB; /* given: taken as is, the file system says ENOSPC */
    int rc = rc0 == MC_INVALID_PARAMS ? mc_ssd_open(&c, &s, NULL) : rc0;
    if (rc == MC_OK) {
        mc_ssd_loc_t l[8];
        int fails = 0, oks = 0;
        char key[16];
        for (int i = 0; i < 8; i++) {
            snprintf(key, sizeof(key), "v%d", i);
            int r = tu_put(s, key, 1u << 20, (uint32_t)i, &l[i]);
            if (r == MC_OK)
                oks++;
            else {
                cr_assert_eq(r, MC_FILE_WRITE_FAIL);
                fails++;
            }
        }
        mc_ssd_stats_t st;
        mc_ssd_stats(s, &st);
        for (int i = 0; i < oks; i++) {
            snprintf(key, sizeof(key), "v%d", i);
            cr_assert_eq(tu_get(s, key, &l[i], (uint32_t)i), MC_OK);
        }
        mc_ssd_close(s);
        umount(mnt);
        cr_assert_eq(rc0, MC_INVALID_PARAMS, "less than 1 GiB to use was not refused");
        cr_assert_gt(fails, 0);
        cr_assert_gt(oks, 0);
        cr_assert_eq(st.write_errors, (uint64_t)fails);
    } else {
        umount(mnt);
        cr_assert_eq(rc0, MC_INVALID_PARAMS);
        cr_assert_eq(rc, MC_OK);
    }
}
