#include "ssd_util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mc/crc32c.h"
#include "mc/errors.h"

void tu_tmpdir(char *dir)
{
    snprintf(dir, 64, "/tmp/mc_ssd_test_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

void tu_rmrf(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

mc_ssd_cfg_t tu_cfg(const char *dir)
{
    mc_ssd_cfg_t c = {0};
    c.path = dir;
    c.cluster_id = "test";
    c.capacity = 4 * GiB;
    c.bucket_bytes = 1u << 20;
    c.bucket_keys = 8;
    return c;
}

mc_ssd_t *tu_open(const mc_ssd_cfg_t *cfg, mc_ssd_recovery_t *rep)
{
    mc_ssd_t *s = NULL;
    int rc = mc_ssd_open(cfg, &s, rep);
    cr_assert_eq(rc, MC_OK, "mc_ssd_open: %d", rc);
    return s;
}

void tu_fill(uint8_t *p, size_t len, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
}

int tu_put(mc_ssd_t *s, const char *key, size_t len, uint32_t seed, mc_ssd_loc_t *loc)
{
    uint8_t *v = malloc(len ? len : 1);
    cr_assert_not_null(v);
    tu_fill(v, len, seed);
    struct iovec iov = {v, len};
    mc_ssd_item_t it = {key, strlen(key), &iov, 1, len, mc_crc32c(0, v, len)};
    int code = -12345;
    int rc = mc_ssd_write(s, &it, 1, loc, &code);
    cr_assert_eq(rc, code);
    free(v);
    return rc;
}

int tu_get(mc_ssd_t *s, const char *key, const mc_ssd_loc_t *loc, uint32_t seed)
{
    size_t len = (size_t)loc->length;
    uint8_t *want = malloc(len ? len : 1), *got = malloc(len + 1);
    cr_assert(want && got);
    tu_fill(want, len, seed);
    memset(got, 0xAA, len + 1);
    int rc = mc_ssd_read(s, loc, key, strlen(key), got, len);
    if (rc == MC_OK) {
        cr_assert_eq(memcmp(want, got, len), 0, "bytes differ for %s", key);
        cr_assert_eq(got[len], 0xAA, "wrote past the end");
    }
    free(want);
    free(got);
    return rc;
}

bool tu_bucket_file(mc_ssd_t *s, uint64_t id, char *path, size_t len)
{
    snprintf(path, len, "%s/b%016llx.mcb", mc_ssd_dir(s), (unsigned long long)id);
    return access(path, F_OK) == 0;
}

void tu_faults_init(tu_faults_t *f)
{
    memset(f, 0, sizeof(*f));
    f->pwritev_fail_in = f->short_write_in = f->preadv_fail_in = -1;
    f->fdatasync_fail_in = f->fallocate_fail_in = -1;
    f->pwritev_errno = ENOSPC;
    f->preadv_errno = EIO;
    f->fallocate_errno = EOPNOTSUPP;
}

/* The backend's I/O threads call the ops concurrently: counters under a lock. */
static pthread_mutex_t fmu = PTHREAD_MUTEX_INITIALIZER;

static bool due_count(int *in, int *calls)
{
    pthread_mutex_lock(&fmu);
    (*calls)++;
    bool hit = false;
    if (*in == 0) {
        *in = -1;
        hit = true;
    } else if (*in > 0) {
        (*in)--;
    }
    pthread_mutex_unlock(&fmu);
    return hit;
}

static ssize_t f_pwritev(void *ctx, int fd, const struct iovec *v, int n, off_t o)
{
    tu_faults_t *f = ctx;
    if (due_count(&f->pwritev_fail_in, &f->pwritev_calls)) {
        errno = f->pwritev_errno;
        return -1;
    }
    int unused = 0;
    if (due_count(&f->short_write_in, &unused)) {
        /* only the first iovec, and half of it when it is more than one block */
        struct iovec one = v[0];
        if (one.iov_len > 4096)
            one.iov_len = one.iov_len / 8192 * 4096;
        return pwritev(fd, &one, 1, o);
    }
    return mc_ssd_default_fops()->pwritev(NULL, fd, v, n, o);
}

static ssize_t f_preadv(void *ctx, int fd, const struct iovec *v, int n, off_t o)
{
    tu_faults_t *f = ctx;
    if (due_count(&f->preadv_fail_in, &f->preadv_calls)) {
        errno = f->preadv_errno;
        return -1;
    }
    return mc_ssd_default_fops()->preadv(NULL, fd, v, n, o);
}

static int f_fdatasync(void *ctx, int fd)
{
    tu_faults_t *f = ctx;
    if (due_count(&f->fdatasync_fail_in, &f->fdatasync_calls)) {
        errno = EIO;
        return -1;
    }
    return fdatasync(fd);
}

static int f_fallocate(void *ctx, int fd, int mode, off_t o, off_t l)
{
    tu_faults_t *f = ctx;
    if ((mode & FALLOC_FL_PUNCH_HOLE) && due_count(&f->fallocate_fail_in, &f->fallocate_calls)) {
        errno = f->fallocate_errno;
        return -1;
    }
    return mc_ssd_default_fops()->fallocate(NULL, fd, mode, o, l);
}

mc_ssd_file_ops_t tu_fault_ops(tu_faults_t *f)
{
    mc_ssd_file_ops_t o = *mc_ssd_default_fops();
    o.ctx = f;
    o.pwritev = f_pwritev;
    o.preadv = f_preadv;
    o.fdatasync = f_fdatasync;
    o.fallocate = f_fallocate;
    return o;
}
