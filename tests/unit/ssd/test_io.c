/* Writes and reads against real files: byte-exact round trips (fragments,
 * unaligned destinations, 0- and 1-byte values, batches over several
 * buckets), foreach, remove with hole punching, eviction, clear, the lock
 * and cluster-id directories. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mc/crc32c.h"
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
TestSuite(ssd_io, .init = setup, .fini = teardown);

Test(ssd_io, sizes_round_trip)
{
    mc_ssd_cfg_t c = tu_cfg(dir);
    c.bucket_bytes = 8u << 20;
    c.bucket_keys = 100;
    mc_ssd_t *s = tu_open(&c, NULL);
    static const size_t sizes[] = {0,    1,     2,       4095,     4096,          4097,
                                   8191, 65536, 1000000, 1u << 20, (1u << 20) + 1};
    mc_ssd_loc_t loc[11];
    char key[32];
    for (size_t i = 0; i < 11; i++) {
        snprintf(key, sizeof(key), "key-%zu", i);
        cr_assert_eq(tu_put(s, key, sizes[i], (uint32_t)i, &loc[i]), MC_OK);
        cr_assert_eq(loc[i].offset % 4096, 0);
        cr_assert_eq(loc[i].length, sizes[i]);
    }
    for (size_t i = 0; i < 11; i++) {
        snprintf(key, sizeof(key), "key-%zu", i);
        cr_assert_eq(tu_get(s, key, &loc[i], (uint32_t)i), MC_OK, "size %zu", sizes[i]);
    }
    /* wrong key, wrong length, wrong crc, wrong offset */
    cr_assert_eq(tu_get(s, "key-x", &loc[3], 3), MC_OBJECT_NOT_FOUND);
    mc_ssd_loc_t bad = loc[3];
    bad.crc ^= 1;
    cr_assert_eq(tu_get(s, "key-3", &bad, 3), MC_INVALID_READ);
    bad = loc[3];
    bad.offset += 4096;
    cr_assert_eq(tu_get(s, "key-3", &bad, 3), MC_OBJECT_NOT_FOUND);
    uint8_t b[8];
    cr_assert_eq(mc_ssd_read(s, &loc[3], "key-3", 5, b, 7), MC_INVALID_PARAMS);
    mc_ssd_stats_t st;
    mc_ssd_stats(s, &st);
    cr_assert_eq(st.records, 11);
    cr_assert(st.direct, "O_DIRECT expected on /tmp (ext4)");
    mc_ssd_close(s);
}

/* Every destination alignment and fragmenting gives the same bytes. */
Test(ssd_io, fragments_and_unaligned_destinations)
{
    mc_ssd_cfg_t c = tu_cfg(dir);
    c.bucket_bytes = 64u << 20;
    c.bucket_keys = 100;
    mc_ssd_t *s = tu_open(&c, NULL);
    size_t len = 3 * 4096 + 123;
    uint8_t *src;
    cr_assert_eq(posix_memalign((void **)&src, 4096, len + 8192), 0);
    tu_fill(src, len + 8192, 77);
    /* fragments: aligned-big, odd small, unaligned start, many tiny */
    struct iovec v[40];
    int n = 0;
    size_t at = 0;
    const size_t cuts[] = {8192, 1, 4095, 7, 4096};
    for (size_t i = 0; i < 5 && at < len; i++) {
        size_t k = cuts[i] < len - at ? cuts[i] : len - at;
        v[n++] = (struct iovec){src + at, k};
        at += k;
    }
    while (at < len) {
        size_t k = len - at < 3 ? len - at : 3;
        v[n++] = (struct iovec){src + at, k};
        at += k;
    }
    mc_ssd_item_t it[3] = {
        {"frag", 4, v, n, len, mc_crc32c(0, src, len)},
        {"one", 3, &(struct iovec){src, len}, 1, len, mc_crc32c(0, src, len)},
        {"odd", 3, &(struct iovec){src + 1, len}, 1, len, mc_crc32c(0, src + 1, len)},
    };
    mc_ssd_loc_t loc[3];
    int codes[3];
    cr_assert_eq(mc_ssd_write(s, it, 3, loc, codes), MC_OK);
    uint8_t *dst;
    cr_assert_eq(posix_memalign((void **)&dst, 4096, len + 64), 0);
    for (int k = 0; k < 3; k++)
        for (size_t shift = 0; shift < 64; shift += 7) {
            memset(dst, 0, len + 64);
            cr_assert_eq(mc_ssd_read(s, &loc[k], it[k].key, it[k].key_len, dst + shift, len),
                         MC_OK);
            cr_assert_eq(memcmp(dst + shift, k == 2 ? src + 1 : src, len), 0, "item %d shift %zu",
                         k, shift);
        }
    free(src);
    free(dst);
    mc_ssd_close(s);
}

typedef struct seen {
    int n;
    char keys[64][32];
    mc_ssd_loc_t locs[64];
} seen_t;

static int collect(void *arg, const char *key, size_t klen, const mc_ssd_loc_t *loc)
{
    seen_t *sn = arg;
    cr_assert_lt(sn->n, 64);
    cr_assert_lt(klen, 32);
    memcpy(sn->keys[sn->n], key, klen);
    sn->keys[sn->n][klen] = '\0';
    sn->locs[sn->n++] = *loc;
    return 0;
}

Test(ssd_io, batches_over_buckets_foreach_and_reopen)
{
    mc_ssd_cfg_t c = tu_cfg(dir); /* 1 MiB / 8 keys per bucket */
    mc_ssd_t *s = tu_open(&c, NULL);
    enum { N = 30 };
    uint8_t *vals[N];
    struct iovec iov[N];
    mc_ssd_item_t it[N];
    char keys[N][16];
    for (int i = 0; i < N; i++) {
        size_t len = (size_t)(i * 37 % 5) * 100000 + (size_t)i;
        vals[i] = malloc(len + 1);
        tu_fill(vals[i], len, (uint32_t)i);
        iov[i] = (struct iovec){vals[i], len};
        snprintf(keys[i], sizeof(keys[i]), "k%02d", i);
        it[i] =
            (mc_ssd_item_t){keys[i], strlen(keys[i]), &iov[i], 1, len, mc_crc32c(0, vals[i], len)};
    }
    mc_ssd_loc_t loc[N];
    int codes[N];
    cr_assert_eq(mc_ssd_write(s, it, N, loc, codes), MC_OK);
    mc_ssd_stats_t st;
    mc_ssd_stats(s, &st);
    cr_assert_geq(st.buckets, 4);
    cr_assert_eq(st.records, N);
    seen_t sn = {0};
    cr_assert_eq(mc_ssd_foreach(s, collect, &sn), 0);
    cr_assert_eq(sn.n, N);
    for (int i = 0; i < N; i++) {
        cr_assert_str_eq(sn.keys[i], keys[i]);
        cr_assert(sn.locs[i].bucket == loc[i].bucket && sn.locs[i].offset == loc[i].offset &&
                  sn.locs[i].length == loc[i].length && sn.locs[i].crc == loc[i].crc);
    }
    mc_ssd_close(s);

    mc_ssd_recovery_t rep;
    s = tu_open(&c, &rep);
    cr_assert_eq(rep.records, N);
    cr_assert_eq(rep.discarded, 0);
    cr_assert_geq(rep.buckets, 4);
    for (int i = 0; i < N; i++)
        cr_assert_eq(tu_get(s, keys[i], &loc[i], (uint32_t)i), MC_OK);
    /* new writes go to a new bucket, never over old records */
    mc_ssd_loc_t l2;
    cr_assert_eq(tu_put(s, "after", 5000, 999, &l2), MC_OK);
    cr_assert_gt(l2.bucket, loc[N - 1].bucket);
    for (int i = 0; i < N; i++)
        cr_assert_eq(tu_get(s, keys[i], &loc[i], (uint32_t)i), MC_OK);
    for (int i = 0; i < N; i++)
        free(vals[i]);
    mc_ssd_close(s);
}

static uint64_t blocks_of(const char *p)
{
    struct stat st;
    cr_assert_eq(stat(p, &st), 0);
    return (uint64_t)st.st_blocks;
}

Test(ssd_io, remove_punches_and_empty_bucket_goes)
{
    mc_ssd_cfg_t c = tu_cfg(dir);
    c.bucket_keys = 4;
    c.bucket_bytes = 64u << 20;
    mc_ssd_t *s = tu_open(&c, NULL);
    mc_ssd_loc_t loc[5];
    char key[8];
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof(key), "r%d", i);
        cr_assert_eq(tu_put(s, key, 1u << 20, (uint32_t)i, &loc[i]), MC_OK);
    }
    cr_assert_eq(loc[0].bucket, loc[3].bucket);
    cr_assert_neq(loc[0].bucket, loc[4].bucket); /* bucket 1 sealed at 4 keys */
    char path[256];
    cr_assert(tu_bucket_file(s, loc[0].bucket, path, sizeof(path)));
    uint64_t before = blocks_of(path);
    cr_assert_eq(mc_ssd_remove(s, "r1", 2, &loc[1]), MC_OK);
    uint64_t after = blocks_of(path);
    cr_assert_leq(after + (1u << 20) / 512, before, "blocks %llu -> %llu",
                  (unsigned long long)before, (unsigned long long)after);
    cr_assert_eq(tu_get(s, "r1", &loc[1], 1), MC_OBJECT_NOT_FOUND);
    cr_assert_eq(mc_ssd_remove(s, "r1", 2, &loc[1]), MC_OBJECT_NOT_FOUND);
    cr_assert_eq(tu_get(s, "r2", &loc[2], 2), MC_OK);
    mc_ssd_stats_t st;
    mc_ssd_stats(s, &st);
    cr_assert_geq(st.punched_bytes, 1u << 20);
    cr_assert_eq(st.records, 4);
    /* the removal survives a restart */
    mc_ssd_close(s);
    mc_ssd_recovery_t rep;
    s = tu_open(&c, &rep);
    cr_assert_eq(rep.records, 4);
    cr_assert_eq(rep.removed, 1);
    cr_assert_eq(rep.discarded, 0);
    cr_assert_eq(tu_get(s, "r1", &loc[1], 1), MC_OBJECT_NOT_FOUND);
    cr_assert_eq(tu_get(s, "r0", &loc[0], 0), MC_OK);
    /* removing the rest of the sealed bucket deletes its file */
    cr_assert_eq(mc_ssd_remove(s, "r0", 2, &loc[0]), MC_OK);
    cr_assert_eq(mc_ssd_remove(s, "r2", 2, &loc[2]), MC_OK);
    cr_assert(tu_bucket_file(s, loc[0].bucket, path, sizeof(path)));
    cr_assert_eq(mc_ssd_remove(s, "r3", 2, &loc[3]), MC_OK);
    cr_assert(!tu_bucket_file(s, loc[0].bucket, path, sizeof(path)));
    cr_assert_eq(tu_get(s, "r4", &loc[4], 4), MC_OK);
    mc_ssd_close(s);
}

Test(ssd_io, lock_cluster_dirs_and_clear)
{
    mc_ssd_cfg_t c = tu_cfg(dir);
    c.cluster_id = NULL; /* generated once, kept in <path>/cluster_id */
    mc_ssd_t *s = tu_open(&c, NULL);
    char id[80];
    snprintf(id, sizeof(id), "%s", mc_ssd_cluster_id(s));
    cr_assert_eq(strlen(id), 36);
    mc_ssd_t *s2 = NULL;
    cr_assert_eq(mc_ssd_open(&c, &s2, NULL), MC_FILE_LOCK_FAIL);
    mc_ssd_cfg_t c2 = c;
    c2.cluster_id = "other";
    cr_assert_eq(mc_ssd_open(&c2, &s2, NULL), MC_FILE_LOCK_FAIL); /* the lock is per directory */
    mc_ssd_loc_t la, lb;
    cr_assert_eq(tu_put(s, "same-key", 10000, 1, &la), MC_OK);
    mc_ssd_close(s);

    s = tu_open(&c2, NULL);
    seen_t sn = {0};
    cr_assert_eq(mc_ssd_foreach(s, collect, &sn), 0);
    cr_assert_eq(sn.n, 0, "another cluster's records showed up");
    cr_assert_eq(tu_put(s, "same-key", 20000, 2, &lb), MC_OK);
    cr_assert_str_eq(strrchr(mc_ssd_dir(s), '/') + 1, "other");
    mc_ssd_close(s);

    s = tu_open(&c, NULL);
    cr_assert_str_eq(mc_ssd_cluster_id(s), id);
    sn.n = 0;
    cr_assert_eq(mc_ssd_foreach(s, collect, &sn), 0);
    cr_assert_eq(sn.n, 1);
    cr_assert_eq(sn.locs[0].length, 10000);
    cr_assert_eq(tu_get(s, "same-key", &la, 1), MC_OK);
    /* clear: only this cluster's buckets go */
    cr_assert_eq(mc_ssd_clear(s), MC_OK);
    cr_assert_eq(tu_get(s, "same-key", &la, 1), MC_OBJECT_NOT_FOUND);
    mc_ssd_stats_t st;
    mc_ssd_stats(s, &st);
    cr_assert(st.records == 0 && st.buckets == 0 && st.used == 0);
    cr_assert_eq(tu_put(s, "again", 100, 3, &la), MC_OK);
    cr_assert_eq(tu_get(s, "again", &la, 3), MC_OK);
    mc_ssd_close(s);
    s = tu_open(&c2, NULL);
    cr_assert_eq(tu_get(s, "same-key", &lb, 2), MC_OK);
    mc_ssd_close(s);
}

Test(ssd_io, bad_configs)
{
    mc_ssd_t *s = NULL;
    mc_ssd_cfg_t c = tu_cfg(dir);
    c.path = "relative/dir";
    cr_assert_eq(mc_ssd_open(&c, &s, NULL), MC_INVALID_PARAMS);
    c.path = "/nonexistent/mc_ssd";
    cr_assert_eq(mc_ssd_open(&c, &s, NULL), MC_INVALID_PARAMS);
    c = tu_cfg(dir);
    c.cluster_id = "../escape";
    cr_assert_eq(mc_ssd_open(&c, &s, NULL), MC_INVALID_PARAMS);
    c.cluster_id = "a/b";
    cr_assert_eq(mc_ssd_open(&c, &s, NULL), MC_INVALID_PARAMS);
    c = tu_cfg(dir);
    c.low_wm = 0.9;
    c.high_wm = 0.5;
    cr_assert_eq(mc_ssd_open(&c, &s, NULL), MC_INVALID_PARAMS);
    cr_assert_null(s);
    /* capacity 0: half the free space (this disk has more than 2 GiB free) */
    c = tu_cfg(dir);
    c.capacity = 0;
    s = tu_open(&c, NULL);
    mc_ssd_stats_t st;
    mc_ssd_stats(s, &st);
    cr_assert_geq(st.capacity, GiB);
    mc_ssd_close(s);
}

Test(ssd_io, capacity_is_enforced)
{
    mc_ssd_cfg_t c = tu_cfg(dir);
    c.capacity = 3u << 20;
    c.bucket_bytes = 64u << 20;
    c.bucket_keys = 100;
    mc_ssd_t *s = tu_open(&c, NULL);
    mc_ssd_loc_t l;
    cr_assert_eq(tu_put(s, "a", 1u << 20, 1, &l), MC_OK);
    cr_assert_eq(tu_put(s, "b", 1u << 20, 2, &l), MC_OK);
    cr_assert_eq(tu_put(s, "c", 1u << 20, 3, &l), MC_NO_AVAILABLE_HANDLE);
    cr_assert_eq(tu_put(s, "d", 1000, 4, &l), MC_OK);
    mc_ssd_close(s);
}

/* ---- eviction ---- */

typedef struct reader_arg {
    mc_ssd_t *s;
    mc_ssd_loc_t loc;
    int rc;
} reader_arg_t;

static void *reader(void *p)
{
    reader_arg_t *a = p;
    a->rc = tu_get(a->s, "e0", &a->loc, 0);
    return NULL;
}

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_state; /* 0: off; 1: armed; 2: a read waits inside preadv; 3: released */

/* The first read after arming waits inside preadv until released. */
static ssize_t gated_preadv(void *ctx, int fd, const struct iovec *v, int n, off_t o)
{
    pthread_mutex_lock(&gate_mu);
    if (gate_state == 1) {
        gate_state = 2;
        pthread_cond_broadcast(&gate_cv);
        while (gate_state != 3)
            pthread_cond_wait(&gate_cv, &gate_mu);
    }
    pthread_mutex_unlock(&gate_mu);
    return mc_ssd_default_fops()->preadv(NULL, fd, v, n, o);
}

static void gate_set(int st)
{
    pthread_mutex_lock(&gate_mu);
    gate_state = st;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
}

static void gate_wait(int st)
{
    pthread_mutex_lock(&gate_mu);
    while (gate_state != st)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
}

typedef struct commit_arg {
    mc_ssd_t *s;
    uint64_t bucket;
    int rc;
    int done;
} commit_arg_t;

static void *committer(void *p)
{
    commit_arg_t *a = p;
    a->rc = mc_ssd_evict_commit(a->s, a->bucket);
    __atomic_store_n(&a->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

Test(ssd_io, evict_pick_commit_with_reader_in_flight)
{
    mc_ssd_file_ops_t ops = *mc_ssd_default_fops();
    ops.preadv = gated_preadv;
    mc_ssd_cfg_t c = tu_cfg(dir);
    c.capacity = 10u << 20;
    c.bucket_keys = 2;
    c.bucket_bytes = 64u << 20;
    c.high_wm = 0.5;
    c.low_wm = 0.35;
    c.fops = &ops;
    mc_ssd_t *s = tu_open(&c, NULL);
    mc_ssd_loc_t loc[5];
    char key[8];
    uint64_t b;
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(mc_ssd_evict_pick(s, &b, NULL, NULL), MC_OBJECT_NOT_FOUND); /* under 50% */
        snprintf(key, sizeof(key), "e%d", i);
        cr_assert_eq(tu_put(s, key, 1u << 20, (uint32_t)i, &loc[i]), MC_OK);
    }
    cr_assert_eq(loc[0].bucket, loc[1].bucket);
    char path[256];
    cr_assert(tu_bucket_file(s, loc[0].bucket, path, sizeof(path)));

    gate_set(1);
    reader_arg_t ra = {s, loc[0], -1};
    pthread_t rt, ct;
    cr_assert_eq(pthread_create(&rt, NULL, reader, &ra), 0);
    gate_wait(2); /* the read holds bucket 1 */

    seen_t sn = {0};
    cr_assert_eq(mc_ssd_evict_pick(s, &b, collect, &sn), MC_OK);
    cr_assert_eq(b, loc[0].bucket, "oldest bucket first");
    cr_assert_eq(sn.n, 2);
    cr_assert_str_eq(sn.keys[0], "e0");
    cr_assert_str_eq(sn.keys[1], "e1");
    cr_assert_eq(tu_get(s, "e1", &loc[1], 1), MC_OBJECT_NOT_FOUND); /* started after pick */

    commit_arg_t ca = {s, b, -1, 0};
    cr_assert_eq(pthread_create(&ct, NULL, committer, &ca), 0);
    usleep(100000);
    cr_assert_eq(__atomic_load_n(&ca.done, __ATOMIC_SEQ_CST), 0,
                 "commit did not wait for the reader");
    cr_assert(tu_bucket_file(s, b, path, sizeof(path)), "bucket deleted under a read");
    gate_set(3);
    pthread_join(rt, NULL);
    pthread_join(ct, NULL);
    cr_assert_eq(ra.rc, MC_OK, "the read in flight completes byte-exact");
    cr_assert_eq(ca.rc, MC_OK);
    cr_assert(!tu_bucket_file(s, b, path, sizeof(path)));
    gate_set(0);
    /* down to the low watermark: no more picks; the other records stay */
    cr_assert_eq(mc_ssd_evict_pick(s, &b, NULL, NULL), MC_OBJECT_NOT_FOUND);
    for (int i = 2; i < 5; i++) {
        snprintf(key, sizeof(key), "e%d", i);
        cr_assert_eq(tu_get(s, key, &loc[i], (uint32_t)i), MC_OK);
    }
    mc_ssd_stats_t st;
    mc_ssd_stats(s, &st);
    cr_assert_eq(st.evicted_buckets, 1);
    cr_assert_eq(st.records, 3);
    mc_ssd_close(s);
}

Test(ssd_io, evict_abort_and_only_the_active_bucket)
{
    mc_ssd_cfg_t c = tu_cfg(dir);
    c.capacity = 2u << 20;
    c.bucket_keys = 100;
    c.bucket_bytes = 64u << 20;
    c.high_wm = 0.5;
    c.low_wm = 0.1;
    mc_ssd_t *s = tu_open(&c, NULL);
    mc_ssd_loc_t l;
    cr_assert_eq(tu_put(s, "x", 1500000, 1, &l), MC_OK);
    uint64_t b;
    seen_t sn = {0};
    cr_assert_eq(mc_ssd_evict_pick(s, &b, collect, &sn), MC_OK); /* seals the only bucket */
    cr_assert_eq(sn.n, 1);
    cr_assert_eq(tu_get(s, "x", &l, 1), MC_OBJECT_NOT_FOUND);
    cr_assert_eq(mc_ssd_evict_abort(s, b), MC_OK);
    cr_assert_eq(tu_get(s, "x", &l, 1), MC_OK);
    cr_assert_eq(mc_ssd_evict_pick(s, &b, NULL, NULL), MC_OK);
    cr_assert_eq(mc_ssd_evict_commit(s, b), MC_OK);
    cr_assert_eq(tu_get(s, "x", &l, 1), MC_OBJECT_NOT_FOUND);
    cr_assert_eq(tu_put(s, "y", 1000, 2, &l), MC_OK);
    cr_assert_eq(tu_get(s, "y", &l, 2), MC_OK);
    mc_ssd_close(s);
}

/* A batch read in any order, aligned and unaligned destinations mixed, one
 * removed record and one wrong key among them: per-item codes, exact bytes. */
Test(ssd_io, read_batch)
{
    mc_ssd_cfg_t c = tu_cfg(dir);
    c.bucket_bytes = 64u << 20;
    c.bucket_keys = 100;
    mc_ssd_t *s = tu_open(&c, NULL);
    enum { N = 12 };
    static const size_t lens[N] = {0, 1,    4096,  4097,     100000, 65536,
                                   3, 8192, 12345, 1u << 20, 77,     4095};
    uint8_t *src[N];
    struct iovec iov[N];
    mc_ssd_item_t it[N];
    char keys[N][8];
    for (int i = 0; i < N; i++) {
        cr_assert_eq(posix_memalign((void **)&src[i], 4096, lens[i] + 1), 0);
        tu_fill(src[i], lens[i], (uint32_t)i);
        iov[i] = (struct iovec){src[i], lens[i]};
        snprintf(keys[i], sizeof(keys[i]), "rb%d", i);
        it[i] = (mc_ssd_item_t){keys[i], strlen(keys[i]), &iov[i],
                                1,       lens[i],         mc_crc32c(0, src[i], lens[i])};
    }
    mc_ssd_loc_t loc[N];
    int codes[N];
    cr_assert_eq(mc_ssd_write(s, it, N, loc, codes), MC_OK);
    cr_assert_eq(mc_ssd_remove(s, keys[5], strlen(keys[5]), &loc[5]), MC_OK);
    mc_ssd_read_item_t rd[N];
    uint8_t *dst[N];
    for (int k = 0; k < N; k++) {
        int i = (k * 5) % N; /* shuffled */
        cr_assert_eq(posix_memalign((void **)&dst[k], 4096, lens[i] + 8), 0);
        uint8_t *d = dst[k] + (k % 3 == 2 ? 1 : 0); /* every third unaligned */
        rd[k] = (mc_ssd_read_item_t){loc[i], keys[i], strlen(keys[i]), d};
    }
    rd[7].key = "nope"; /* item 7*5%12 = 11 */
    rd[7].key_len = 4;
    int rc = mc_ssd_read_batch(s, rd, N, codes);
    cr_assert_neq(rc, MC_OK);
    for (int k = 0; k < N; k++) {
        int i = (k * 5) % N;
        int want = i == 5 || k == 7 ? MC_OBJECT_NOT_FOUND : MC_OK;
        cr_assert_eq(codes[k], want, "item %d (record %d): %d", k, i, codes[k]);
        if (want == MC_OK)
            cr_assert_eq(memcmp(rd[k].dst, src[i], lens[i]), 0, "bytes of record %d", i);
    }
    for (int i = 0; i < N; i++) {
        free(src[i]);
        free(dst[i]);
    }
    mc_ssd_close(s);
}

/* Values far larger than the staging buffer, from unaligned memory and into
 * unaligned destinations: the pipelined staging and bounce paths. */
Test(ssd_io, large_unaligned_pipeline)
{
    mc_ssd_cfg_t c = tu_cfg(dir);
    c.bucket_bytes = 256u << 20;
    c.bucket_keys = 100;
    mc_ssd_t *s = tu_open(&c, NULL);
    enum { N = 5 };
    size_t len = (3u << 20) + 12345;
    uint8_t *src = malloc(N * len + 64);
    tu_fill(src, N * len + 64, 5);
    struct iovec iov[N];
    mc_ssd_item_t it[N];
    char keys[N][8];
    for (int i = 0; i < N; i++) {
        uint8_t *p = src + 3 + (size_t)i * len; /* never aligned */
        iov[i] = (struct iovec){p, len};
        snprintf(keys[i], sizeof(keys[i]), "L%d", i);
        it[i] = (mc_ssd_item_t){keys[i], 2, &iov[i], 1, len, mc_crc32c(0, p, len)};
    }
    mc_ssd_loc_t loc[N];
    int codes[N];
    cr_assert_eq(mc_ssd_write(s, it, N, loc, codes), MC_OK);
    /* aligned destinations: one run of several pieces, read ahead by the pool */
    mc_ssd_read_item_t rd[N];
    uint8_t *adst[N];
    for (int i = 0; i < N; i++) {
        cr_assert_eq(posix_memalign((void **)&adst[i], 4096, len), 0);
        rd[i] = (mc_ssd_read_item_t){loc[i], keys[i], 2, adst[i]};
    }
    cr_assert_eq(mc_ssd_read_batch(s, rd, N, codes), MC_OK);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(memcmp(adst[i], iov[i].iov_base, len), 0, "aligned value %d", i);
        free(adst[i]);
    }
    uint8_t *dst = malloc(len + 1);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++) {
            memset(dst, 0, len + 1);
            cr_assert_eq(mc_ssd_read(s, &loc[i], keys[i], 2, dst + 1, len), MC_OK);
            cr_assert_eq(memcmp(dst + 1, iov[i].iov_base, len), 0, "value %d", i);
        }
        mc_ssd_close(s);
        mc_ssd_recovery_t rep;
        s = tu_open(&c, &rep);
        cr_assert_eq(rep.records, N);
        cr_assert_eq(rep.discarded, 0);
    }
    free(dst);
    free(src);
    mc_ssd_close(s);
}

/* Values at the file system's O_DIRECT memory alignment (statx; 512 here)
 * are written from the caller's memory, not copied: a pwritev spy sees the
 * caller's pointer. Bytes are exact either way. */
static const uint8_t *spy_want;
static int spy_hits;
static ssize_t spy_pwritev(void *ctx, int fd, const struct iovec *v, int n, off_t o)
{
    (void)ctx;
    for (int i = 0; i < n; i++)
        if ((const uint8_t *)v[i].iov_base == spy_want)
            spy_hits++;
    return mc_ssd_default_fops()->pwritev(NULL, fd, v, n, o);
}

Test(ssd_io, dio_aligned_values_are_not_copied)
{
    mc_ssd_file_ops_t ops = *mc_ssd_default_fops();
    ops.pwritev = spy_pwritev;
    mc_ssd_cfg_t c = tu_cfg(dir);
    c.bucket_bytes = 64u << 20;
    c.bucket_keys = 100;
    c.fops = &ops;
    mc_ssd_t *s = tu_open(&c, NULL);
    uint8_t *buf;
    cr_assert_eq(posix_memalign((void **)&buf, 4096, (1u << 20) + 4096), 0);
    tu_fill(buf, (1u << 20) + 4096, 8);
    size_t len = (1u << 20) + 100;
    for (size_t shift = 0; shift <= 512; shift += 64) {
        uint8_t *p = buf + shift;
        struct iovec iov = {p, len};
        mc_ssd_item_t it = {"a", 1, &iov, 1, len, mc_crc32c(0, p, len)};
        mc_ssd_loc_t loc;
        int code;
        spy_want = p;
        spy_hits = 0;
        cr_assert_eq(mc_ssd_write(s, &it, 1, &loc, &code), MC_OK);
        mc_ssd_stats_t st;
        mc_ssd_stats(s, &st);
        bool in_place = !st.direct || shift % st.dio_mem_align == 0;
        cr_assert_eq(spy_hits, in_place ? 1 : 0, "shift %zu (alignment %u)", shift,
                     st.dio_mem_align);
        uint8_t *dst = malloc(len + 512);
        cr_assert_eq(mc_ssd_read(s, &loc, "a", 1, dst + shift % 512, len), MC_OK);
        cr_assert_eq(memcmp(dst + shift % 512, p, len), 0);
        free(dst);
        cr_assert_eq(mc_ssd_remove(s, "a", 1, &loc), MC_OK);
    }
    free(buf);
    mc_ssd_close(s);
}
