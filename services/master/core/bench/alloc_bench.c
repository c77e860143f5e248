/* Allocator microbenchmark: ns per alloc/free and utilisation.
 *
 *   mc_alloc_bench [churn_ops]
 *
 * For each size mix it fills an empty segment until the first failure (fill
 * utilisation), drains it, refills it (timed: ns/alloc), then churns: free a
 * random live block whenever an allocation fails, allocate otherwise
 * (ns/churn per operation). Utilisation at every refusal during churn is
 * averaged and its minimum kept: how full the segment is when fragmentation
 * refuses a request. Finally everything is freed in random order (ns/free)
 * and the segment must be one free block again. Bounded: about a second. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "allocator.h"
#include "mc/errors.h"
#include "mc/mtime.h"
#include "mc/strutil.h"

#define KiB (1024ull)
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)

typedef struct mix {
    const char *name;
    uint64_t segment;
    uint64_t lo, hi; /* sizes uniform in [lo, hi] */
} mix_t;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545f4914f6cdd1dull;
}

static uint64_t rnd_size(const mix_t *mx)
{
    return mx->lo + rnd() % (mx->hi - mx->lo + 1);
}

typedef struct live {
    uint32_t *h;
    size_t n, cap;
} live_t;

static void live_push(live_t *l, uint32_t h)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 1024;
        uint32_t *nh = realloc(l->h, ncap * sizeof(*nh));
        if (!nh) {
            perror("realloc");
            exit(1);
        }
        l->h = nh;
        l->cap = ncap;
    }
    l->h[l->n++] = h;
}

/* Fills until the first failure; returns ns per successful alloc. */
static double fill(mc_alloc_t *a, const mix_t *mx, live_t *l)
{
    uint64_t t0 = mc_now_ns(), off;
    size_t n0 = l->n;
    uint32_t h;
    while (mc_alloc_alloc(a, rnd_size(mx), &off, &h) == MC_OK)
        live_push(l, h);
    size_t n = l->n - n0;
    return n ? (double)(mc_now_ns() - t0) / (double)n : 0.0;
}

/* Frees every live block in random order; returns ns per free. */
static double drain(mc_alloc_t *a, live_t *l)
{
    for (size_t i = l->n; i > 1; i--) {
        size_t j = rnd() % i;
        uint32_t t = l->h[i - 1];
        l->h[i - 1] = l->h[j];
        l->h[j] = t;
    }
    size_t n = l->n;
    uint64_t t0 = mc_now_ns();
    for (size_t i = 0; i < n; i++)
        mc_alloc_free(a, l->h[i]);
    l->n = 0;
    return n ? (double)(mc_now_ns() - t0) / (double)n : 0.0;
}

static void churn(mc_alloc_t *a, const mix_t *mx, live_t *l, uint64_t ops, double *ns_op,
                  double *util_avg, double *util_min)
{
    uint64_t cap = mc_alloc_capacity(a), off, failures = 0;
    double sum = 0.0, lo = 1.0;
    uint32_t h;
    uint64_t t0 = mc_now_ns();
    for (uint64_t i = 0; i < ops; i++) {
        if (mc_alloc_alloc(a, rnd_size(mx), &off, &h) == MC_OK) {
            live_push(l, h);
            continue;
        }
        double u = (double)mc_alloc_used(a) / (double)cap;
        sum += u;
        lo = u < lo ? u : lo;
        failures++;
        size_t j = rnd() % l->n; /* free a random block, keep going */
        mc_alloc_free(a, l->h[j]);
        l->h[j] = l->h[--l->n];
    }
    *ns_op = (double)(mc_now_ns() - t0) / (double)ops;
    *util_avg = failures ? sum / (double)failures : 1.0;
    *util_min = failures ? lo : 1.0;
}

static int run(const mix_t *mx, uint64_t ops)
{
    mc_alloc_t *a;
    if (mc_alloc_create(mx->segment, 64, &a) != MC_OK)
        return 1;
    live_t l = {0};
    fill(a, mx, &l); /* cold: grows the node pool and the live array */
    double fill_util = (double)mc_alloc_used(a) / (double)mc_alloc_capacity(a);
    size_t blocks = l.n;
    drain(a, &l);
    double ns_alloc = fill(a, mx, &l);
    double ns_op, util_avg, util_min;
    churn(a, mx, &l, ops, &ns_op, &util_avg, &util_min);
    int ok = mc_alloc_check(a) == MC_OK;
    double ns_free = drain(a, &l);
    mc_alloc_stats_t st;
    mc_alloc_stats(a, &st);
    int coalesced = st.n_free_blocks == 1 && st.largest_free == st.capacity;
    char seg[32];
    printf("%-22s %9s %8zu %9.1f %9.1f %9.1f %8.2f%% %8.2f%% %8.2f%% %s\n", mx->name,
           mc_format_size(mx->segment, seg, sizeof(seg)), blocks, ns_alloc, ns_free, ns_op,
           fill_util * 100.0, util_avg * 100.0, util_min * 100.0,
           ok && coalesced ? "ok" : "CHECK FAILED");
    free(l.h);
    mc_alloc_destroy(a);
    return ok && coalesced ? 0 : 1;
}

int main(int argc, char **argv)
{
    uint64_t ops = 2000000;
    if (argc > 1 && mc_parse_u64(argv[1], &ops) != MC_OK) {
        fprintf(stderr, "usage: %s [churn_ops]\n", argv[0]);
        return 2;
    }
    static const mix_t mixes[] = {
        {"uniform 4MiB", 64 * GiB, 4 * MiB, 4 * MiB},
        {"uniform 32MiB", 64 * GiB, 32 * MiB, 32 * MiB},
        {"mixed 1-32MiB", 64 * GiB, 1 * MiB, 32 * MiB},
        {"mixed 1-32MiB small", 1 * GiB, 1 * MiB, 32 * MiB},
        {"fragments 32-72KiB", 4 * GiB, 32 * KiB, 72 * KiB},
        {"mixed 64B-32MiB", 64 * GiB, 64, 32 * MiB},
    };
    printf("%-22s %9s %8s %9s %9s %9s %9s %9s %9s\n", "mix", "segment", "blocks", "ns/alloc",
           "ns/free", "ns/churn", "fill", "churn avg", "churn min");
    int rc = 0;
    for (size_t i = 0; i < sizeof(mixes) / sizeof(mixes[0]); i++)
        rc |= run(&mixes[i], ops);
    return rc;
}
