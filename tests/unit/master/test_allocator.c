/* Allocator: correctness (no overlap, bounds, alignment, coalescing,
 * fill/drain, bad handles) and fragmentation under churn. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "allocator.h"
#include "mc/errors.h"

#define MiB (1024ull * 1024ull)

typedef struct blk {
    uint64_t off, len;
    uint32_t h;
} blk_t;

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int cmp_off(const void *a, const void *b)
{
    const blk_t *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Every block is in bounds, aligned, and no two overlap. */
static void assert_disjoint(blk_t *b, size_t n, uint64_t cap, uint64_t align)
{
    blk_t *s = malloc(n * sizeof(*s) + 1);
    cr_assert_not_null(s);
    memcpy(s, b, n * sizeof(*s));
    qsort(s, n, sizeof(*s), cmp_off);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(s[i].off % align, 0);
        cr_assert_leq(s[i].off + s[i].len, cap);
        if (i)
            cr_assert_leq(s[i - 1].off + s[i - 1].len, s[i].off, "overlap at %zu", i);
    }
    free(s);
}

Test(alloc, create_rejects_bad_params)
{
    mc_alloc_t *a;
    cr_assert_eq(mc_alloc_create(1024, 48, &a), MC_INVALID_PARAMS);
    cr_assert_eq(mc_alloc_create(32, 64, &a), MC_INVALID_PARAMS);
    cr_assert_eq(mc_alloc_create(1000, 0, &a), MC_OK); /* default alignment 64 */
    cr_assert_eq(mc_alloc_capacity(a), 960);
    mc_alloc_destroy(a);
}

Test(alloc, exact_fit_whole_range_and_alignment)
{
    mc_alloc_t *a;
    cr_assert_eq(mc_alloc_create(64 * MiB, 64, &a), MC_OK);
    uint64_t off;
    uint32_t h, h2;
    cr_assert_eq(mc_alloc_alloc(a, 0, &off, &h), MC_INVALID_PARAMS);
    cr_assert_eq(mc_alloc_alloc(a, 64 * MiB + 1, &off, &h), MC_NO_AVAILABLE_HANDLE);
    cr_assert_eq(mc_alloc_alloc(a, 64 * MiB, &off, &h), MC_OK);
    cr_assert_eq(off, 0);
    cr_assert_eq(mc_alloc_alloc(a, 1, &off, &h2), MC_NO_AVAILABLE_HANDLE);
    cr_assert_eq(mc_alloc_free(a, h), MC_OK);
    cr_assert_eq(mc_alloc_alloc(a, 1, &off, &h), MC_OK);
    cr_assert_eq(mc_alloc_block_size(a, h), 64); /* rounded up to the alignment */
    cr_assert_eq(mc_alloc_alloc(a, 100, &off, &h2), MC_OK);
    cr_assert_eq(off, 64);
    cr_assert_eq(mc_alloc_used(a), 64 + 128);
    cr_assert_eq(mc_alloc_check(a), MC_OK);
    mc_alloc_destroy(a);
}

Test(alloc, bad_and_double_free_rejected)
{
    mc_alloc_t *a;
    cr_assert_eq(mc_alloc_create(MiB, 64, &a), MC_OK);
    uint64_t off;
    uint32_t h;
    cr_assert_eq(mc_alloc_alloc(a, 4096, &off, &h), MC_OK);
    cr_assert_eq(mc_alloc_free(a, h), MC_OK);
    cr_assert_eq(mc_alloc_free(a, h), MC_INVALID_PARAMS);
    cr_assert_eq(mc_alloc_free(a, 12345), MC_INVALID_PARAMS);
    cr_assert_eq(mc_alloc_free(a, MC_ALLOC_INVALID_HANDLE), MC_INVALID_PARAMS);
    cr_assert_eq(mc_alloc_check(a), MC_OK);
    mc_alloc_destroy(a);
}

Test(alloc, coalescing_both_sides)
{
    mc_alloc_t *a;
    cr_assert_eq(mc_alloc_create(3 * MiB, 64, &a), MC_OK);
    uint64_t o[3];
    uint32_t h[3];
    for (int i = 0; i < 3; i++)
        cr_assert_eq(mc_alloc_alloc(a, MiB, &o[i], &h[i]), MC_OK);
    cr_assert_eq(mc_alloc_free(a, h[0]), MC_OK);
    cr_assert_eq(mc_alloc_free(a, h[2]), MC_OK);
    mc_alloc_stats_t st;
    mc_alloc_stats(a, &st);
    cr_assert_eq(st.n_free_blocks, 2);
    cr_assert_eq(st.largest_free, MiB);
    /* freeing the middle merges with both neighbours into one block */
    cr_assert_eq(mc_alloc_free(a, h[1]), MC_OK);
    mc_alloc_stats(a, &st);
    cr_assert_eq(st.n_free_blocks, 1);
    cr_assert_eq(st.largest_free, 3 * MiB);
    uint64_t off;
    uint32_t hh;
    cr_assert_eq(mc_alloc_alloc(a, 3 * MiB, &off, &hh), MC_OK);
    cr_assert_eq(mc_alloc_check(a), MC_OK);
    mc_alloc_destroy(a);
}

/* Random sizes until full; every block disjoint; drain returns one block. */
Test(alloc, fill_and_drain_random)
{
    const uint64_t cap = 256 * MiB;
    mc_alloc_t *a;
    cr_assert_eq(mc_alloc_create(cap, 64, &a), MC_OK);
    size_t n = 0, capn = 1 << 16;
    blk_t *b = malloc(capn * sizeof(*b));
    for (int fails = 0; fails < 50 && n < capn;) {
        uint64_t sz = 1 + rnd() % (2 * MiB);
        blk_t x = {.len = (sz + 63) & ~63ull};
        if (mc_alloc_alloc(a, sz, &x.off, &x.h) == MC_OK)
            b[n++] = x;
        else
            fails++;
    }
    cr_assert_gt(n, 100);
    assert_disjoint(b, n, cap, 64);
    cr_assert_eq(mc_alloc_check(a), MC_OK);
    cr_assert_gt(mc_alloc_used(a), cap * 9 / 10, "fill reached only %llu",
                 (unsigned long long)mc_alloc_used(a));
    for (size_t i = n; i > 1; i--) { /* shuffle, then free all */
        size_t j = rnd() % i;
        blk_t t = b[i - 1];
        b[i - 1] = b[j];
        b[j] = t;
    }
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(mc_alloc_free(a, b[i].h), MC_OK);
    mc_alloc_stats_t st;
    mc_alloc_stats(a, &st);
    cr_assert_eq(st.used, 0);
    cr_assert_eq(st.n_allocs, 0);
    cr_assert_eq(st.n_free_blocks, 1);
    cr_assert_eq(st.largest_free, cap);
    cr_assert_eq(mc_alloc_check(a), MC_OK);
    free(b);
    mc_alloc_destroy(a);
}

/* Churn with 1-32 MiB objects: when a request is refused, the segment must
 * still be mostly full (fragmentation stays low), and blocks never overlap. */
Test(alloc, fragmentation_under_churn)
{
    const uint64_t cap = 4096 * MiB;
    mc_alloc_t *a;
    cr_assert_eq(mc_alloc_create(cap, 64, &a), MC_OK);
    size_t n = 0, capn = 8192;
    blk_t *b = malloc(capn * sizeof(*b));
    double util_sum = 0;
    int failures = 0;
    for (int op = 0; op < 200000; op++) {
        uint64_t sz = MiB + rnd() % (31 * MiB);
        blk_t x = {.len = (sz + 63) & ~63ull};
        if (n < capn && mc_alloc_alloc(a, sz, &x.off, &x.h) == MC_OK) {
            b[n++] = x;
            continue;
        }
        util_sum += (double)mc_alloc_used(a) / (double)cap;
        failures++;
        size_t j = rnd() % n;
        cr_assert_eq(mc_alloc_free(a, b[j].h), MC_OK);
        b[j] = b[--n];
        if (failures % 1000 == 0)
            assert_disjoint(b, n, cap, 64);
    }
    cr_assert_gt(failures, 1000);
    double avg = util_sum / failures;
    cr_assert_gt(avg, 0.80, "average utilisation at refusal %.3f", avg);
    cr_assert_eq(mc_alloc_check(a), MC_OK);
    assert_disjoint(b, n, cap, 64);
    free(b);
    mc_alloc_destroy(a);
}

Test(alloc, huge_virtual_segment)
{
    mc_alloc_t *a;
    const uint64_t cap = 1ull << 50; /* 1 PiB of offsets: sizes are just numbers */
    cr_assert_eq(mc_alloc_create(cap, 64, &a), MC_OK);
    uint64_t off;
    uint32_t h1, h2;
    cr_assert_eq(mc_alloc_alloc(a, cap / 2, &off, &h1), MC_OK);
    cr_assert_eq(mc_alloc_alloc(a, cap / 2, &off, &h2), MC_OK);
    cr_assert_eq(off, cap / 2);
    cr_assert_eq(mc_alloc_alloc(a, 64, &off, &h2), MC_NO_AVAILABLE_HANDLE);
    cr_assert_eq(mc_alloc_alloc(a, UINT64_MAX, &off, &h2), MC_NO_AVAILABLE_HANDLE);
    cr_assert_eq(mc_alloc_check(a), MC_OK);
    mc_alloc_destroy(a);
}
