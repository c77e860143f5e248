/* TLSF-style offset allocator; see allocator.h for the contract.
 *
 * Blocks are nodes in one growable array, addressed by 32-bit index (the
 * handle). Each node records its offset and length in alignment units, its
 * physical neighbours, and its links in a bin's free list. A node's
 * free_prev field doubles as its state: NODE_USED for an allocated block,
 * NODE_SPARE for an unused slot on the spare list; anything else means free. */
#include "allocator.h"

#include <stdlib.h>
#include <string.h>

#include "mc/errors.h"

#define SL_LOG 4u
#define SL_COUNT (1u << SL_LOG)
#define FL_COUNT 64u

#define NIL UINT32_MAX
#define NODE_USED (UINT32_MAX - 1u)
#define NODE_SPARE (UINT32_MAX - 2u)
#define NODE_MAX (UINT32_MAX - 3u)
/* Entries of the request's own bin tried when no bigger bin has a block. */
#define SAME_BIN_PROBES 16u

typedef struct node {
    uint64_t off; /* units */
    uint64_t len; /* units */
    uint32_t phys_prev, phys_next;
    uint32_t free_prev, free_next; /* bin links; state in free_prev (see above) */
} node_t;

struct mc_alloc {
    node_t *nodes;
    uint32_t n_nodes, cap_nodes;
    uint32_t spare; /* head of the spare-node list */
    uint32_t align_shift;
    uint64_t units;      /* capacity in units */
    uint64_t used_units; /* allocated units */
    uint32_t n_allocs, n_free_blocks;
    uint64_t fl_bitmap;
    uint32_t sl_bitmap[FL_COUNT];
    uint32_t heads[FL_COUNT][SL_COUNT];
};

static unsigned log2_u64(uint64_t v)
{
    return 63u - (unsigned)__builtin_clzll(v);
}

/* Bin of a block of len units (len > 0). */
static void bin_of(uint64_t len, unsigned *fl, unsigned *sl)
{
    if (len < SL_COUNT) {
        *fl = 0;
        *sl = (unsigned)len;
        return;
    }
    unsigned t = log2_u64(len);
    *fl = t - SL_LOG + 1u;
    *sl = (unsigned)(len >> (t - SL_LOG)) - SL_COUNT;
}

/* First bin whose every block holds len units: round len up to its bin's top. */
static void bin_for_request(uint64_t len, unsigned *fl, unsigned *sl)
{
    if (len >= (1ull << 62)) { /* rounding would overflow: no bin is sure to fit */
        *fl = FL_COUNT;
        *sl = 0;
        return;
    }
    if (len >= SL_COUNT) {
        unsigned t = log2_u64(len);
        len += (1ull << (t - SL_LOG)) - 1u;
    }
    bin_of(len, fl, sl);
}

static void bin_insert(mc_alloc_t *a, uint32_t idx)
{
    node_t *n = &a->nodes[idx];
    unsigned fl, sl;
    bin_of(n->len, &fl, &sl);
    uint32_t head = a->heads[fl][sl];
    n->free_prev = NIL;
    n->free_next = head;
    if (head != NIL)
        a->nodes[head].free_prev = idx;
    a->heads[fl][sl] = idx;
    a->sl_bitmap[fl] |= 1u << sl;
    a->fl_bitmap |= 1ull << fl;
    a->n_free_blocks++;
}

static void bin_remove(mc_alloc_t *a, uint32_t idx)
{
    node_t *n = &a->nodes[idx];
    unsigned fl, sl;
    bin_of(n->len, &fl, &sl);
    if (n->free_prev != NIL)
        a->nodes[n->free_prev].free_next = n->free_next;
    else
        a->heads[fl][sl] = n->free_next;
    if (n->free_next != NIL)
        a->nodes[n->free_next].free_prev = n->free_prev;
    if (a->heads[fl][sl] == NIL) {
        a->sl_bitmap[fl] &= ~(1u << sl);
        if (a->sl_bitmap[fl] == 0)
            a->fl_bitmap &= ~(1ull << fl);
    }
    a->n_free_blocks--;
}

static int node_is_free(const mc_alloc_t *a, uint32_t idx)
{
    uint32_t s = a->nodes[idx].free_prev;
    return s != NODE_USED && s != NODE_SPARE;
}

/* Makes sure one spare node exists, so a split cannot fail half-way. */
static int reserve_node(mc_alloc_t *a)
{
    if (a->spare != NIL || a->n_nodes < a->cap_nodes)
        return MC_OK;
    if (a->cap_nodes >= NODE_MAX)
        return MC_INTERNAL_ERROR;
    uint64_t ncap = (uint64_t)a->cap_nodes * 2u;
    if (ncap > NODE_MAX)
        ncap = NODE_MAX;
    node_t *nn = realloc(a->nodes, (size_t)ncap * sizeof(*nn));
    if (!nn)
        return MC_INTERNAL_ERROR;
    a->nodes = nn;
    a->cap_nodes = (uint32_t)ncap;
    return MC_OK;
}

static uint32_t take_node(mc_alloc_t *a)
{
    if (a->spare != NIL) {
        uint32_t idx = a->spare;
        a->spare = a->nodes[idx].free_next;
        return idx;
    }
    return a->n_nodes++;
}

static void put_node(mc_alloc_t *a, uint32_t idx)
{
    a->nodes[idx].free_prev = NODE_SPARE;
    a->nodes[idx].free_next = a->spare;
    a->spare = idx;
}

int mc_alloc_create(uint64_t size, uint64_t align, mc_alloc_t **out)
{
    if (!out)
        return MC_INVALID_PARAMS;
    *out = NULL;
    if (align == 0)
        align = MC_ALLOC_DEFAULT_ALIGN;
    if ((align & (align - 1u)) != 0 || size < align)
        return MC_INVALID_PARAMS;
    mc_alloc_t *a = calloc(1, sizeof(*a));
    if (!a)
        return MC_INTERNAL_ERROR;
    a->cap_nodes = 64;
    a->nodes = malloc(a->cap_nodes * sizeof(node_t));
    if (!a->nodes) {
        free(a);
        return MC_INTERNAL_ERROR;
    }
    a->align_shift = log2_u64(align);
    a->units = size >> a->align_shift;
    a->spare = NIL;
    memset(a->heads, 0xff, sizeof(a->heads));
    uint32_t idx = take_node(a);
    a->nodes[idx] = (node_t){.off = 0, .len = a->units, .phys_prev = NIL, .phys_next = NIL};
    bin_insert(a, idx);
    *out = a;
    return MC_OK;
}

void mc_alloc_destroy(mc_alloc_t *a)
{
    if (!a)
        return;
    free(a->nodes);
    free(a);
}

/* A free block of at least len units, or NIL. Tries the bins that are sure to
 * fit first (O(1)), then a few entries of the request's own bin so that the
 * last blocks of a nearly full segment can still be used. */
static uint32_t find_block(const mc_alloc_t *a, uint64_t len)
{
    unsigned fl, sl;
    bin_for_request(len, &fl, &sl);
    if (fl < FL_COUNT) {
        uint32_t slmap = sl < SL_COUNT ? a->sl_bitmap[fl] & (~0u << sl) : 0;
        if (!slmap) {
            uint64_t flmap = fl + 1u < FL_COUNT ? a->fl_bitmap & (~0ull << (fl + 1u)) : 0;
            if (flmap) {
                fl = (unsigned)__builtin_ctzll(flmap);
                slmap = a->sl_bitmap[fl];
            }
        }
        if (slmap)
            return a->heads[fl][__builtin_ctz(slmap)];
    }
    bin_of(len, &fl, &sl);
    uint32_t idx = a->heads[fl][sl];
    for (unsigned i = 0; idx != NIL && i < SAME_BIN_PROBES; i++) {
        if (a->nodes[idx].len >= len)
            return idx;
        idx = a->nodes[idx].free_next;
    }
    return NIL;
}

int mc_alloc_alloc(mc_alloc_t *a, uint64_t size, uint64_t *offset, uint32_t *handle)
{
    if (!a || size == 0 || !offset || !handle)
        return MC_INVALID_PARAMS;
    uint64_t mask = (1ull << a->align_shift) - 1u;
    if (size > UINT64_MAX - mask)
        return MC_NO_AVAILABLE_HANDLE;
    uint64_t len = (size + mask) >> a->align_shift;
    if (len > a->units)
        return MC_NO_AVAILABLE_HANDLE;
    uint32_t idx = find_block(a, len);
    if (idx == NIL)
        return MC_NO_AVAILABLE_HANDLE;
    if (a->nodes[idx].len > len && reserve_node(a) != MC_OK)
        return MC_INTERNAL_ERROR;
    bin_remove(a, idx);
    node_t *n = &a->nodes[idx];
    if (n->len > len) {
        uint32_t r = take_node(a);
        n = &a->nodes[idx]; /* take_node never reallocates, reserve_node did */
        a->nodes[r] = (node_t){
            .off = n->off + len, .len = n->len - len, .phys_prev = idx, .phys_next = n->phys_next};
        if (n->phys_next != NIL)
            a->nodes[n->phys_next].phys_prev = r;
        n->phys_next = r;
        n->len = len;
        bin_insert(a, r);
    }
    n->free_prev = NODE_USED;
    n->free_next = NIL;
    a->used_units += len;
    a->n_allocs++;
    *offset = n->off << a->align_shift;
    *handle = idx;
    return MC_OK;
}

/* Absorbs the free block `next` (the physical successor of idx) into idx. */
static void absorb_next(mc_alloc_t *a, uint32_t idx, uint32_t next)
{
    node_t *n = &a->nodes[idx];
    node_t *x = &a->nodes[next];
    bin_remove(a, next);
    n->len += x->len;
    n->phys_next = x->phys_next;
    if (x->phys_next != NIL)
        a->nodes[x->phys_next].phys_prev = idx;
    put_node(a, next);
}

int mc_alloc_free(mc_alloc_t *a, uint32_t handle)
{
    if (!a || handle >= a->n_nodes || a->nodes[handle].free_prev != NODE_USED)
        return MC_INVALID_PARAMS;
    node_t *n = &a->nodes[handle];
    a->used_units -= n->len;
    a->n_allocs--;
    uint32_t idx = handle;
    n->free_prev = NIL; /* free, not yet in a bin */
    if (n->phys_next != NIL && node_is_free(a, n->phys_next))
        absorb_next(a, idx, n->phys_next);
    uint32_t prev = a->nodes[idx].phys_prev;
    if (prev != NIL && node_is_free(a, prev)) {
        bin_remove(a, prev);
        a->nodes[prev].free_prev = NIL;
        /* idx is not in a bin, so absorb it by hand */
        node_t *p = &a->nodes[prev];
        p->len += a->nodes[idx].len;
        p->phys_next = a->nodes[idx].phys_next;
        if (p->phys_next != NIL)
            a->nodes[p->phys_next].phys_prev = prev;
        put_node(a, idx);
        idx = prev;
    }
    bin_insert(a, idx);
    return MC_OK;
}

uint64_t mc_alloc_block_size(const mc_alloc_t *a, uint32_t handle)
{
    if (!a || handle >= a->n_nodes || a->nodes[handle].free_prev != NODE_USED)
        return 0;
    return a->nodes[handle].len << a->align_shift;
}

uint64_t mc_alloc_capacity(const mc_alloc_t *a)
{
    return a->units << a->align_shift;
}

uint64_t mc_alloc_used(const mc_alloc_t *a)
{
    return a->used_units << a->align_shift;
}

void mc_alloc_stats(const mc_alloc_t *a, mc_alloc_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->capacity = mc_alloc_capacity(a);
    out->used = mc_alloc_used(a);
    out->n_allocs = a->n_allocs;
    out->n_free_blocks = a->n_free_blocks;
    if (a->fl_bitmap == 0)
        return;
    unsigned fl = log2_u64(a->fl_bitmap);
    unsigned sl = log2_u64(a->sl_bitmap[fl]);
    uint64_t best = 0;
    for (uint32_t i = a->heads[fl][sl]; i != NIL; i = a->nodes[i].free_next)
        if (a->nodes[i].len > best)
            best = a->nodes[i].len;
    out->largest_free = best << a->align_shift;
}

static int check_bins(const mc_alloc_t *a, uint32_t *n_free)
{
    *n_free = 0;
    for (unsigned fl = 0; fl < FL_COUNT; fl++) {
        int fl_set = (a->fl_bitmap >> fl) & 1u;
        if (fl_set != (a->sl_bitmap[fl] != 0))
            return MC_INTERNAL_ERROR;
        for (unsigned sl = 0; sl < SL_COUNT; sl++) {
            uint32_t idx = a->heads[fl][sl], prev = NIL;
            if ((idx != NIL) != ((a->sl_bitmap[fl] >> sl) & 1u))
                return MC_INTERNAL_ERROR;
            for (; idx != NIL; prev = idx, idx = a->nodes[idx].free_next) {
                unsigned f2, s2;
                if (idx >= a->n_nodes || a->nodes[idx].free_prev != prev)
                    return MC_INTERNAL_ERROR;
                bin_of(a->nodes[idx].len, &f2, &s2);
                if (f2 != fl || s2 != sl || ++*n_free > a->n_nodes)
                    return MC_INTERNAL_ERROR;
            }
        }
    }
    return MC_OK;
}

int mc_alloc_check(const mc_alloc_t *a)
{
    uint32_t n_free_bins;
    if (check_bins(a, &n_free_bins) != MC_OK || n_free_bins != a->n_free_blocks)
        return MC_INTERNAL_ERROR;
    /* the block at offset 0 has no physical predecessor; find it */
    uint32_t first = NIL;
    for (uint32_t i = 0; i < a->n_nodes; i++)
        if (a->nodes[i].free_prev != NODE_SPARE && a->nodes[i].phys_prev == NIL)
            first = i;
    uint64_t off = 0, used = 0;
    uint32_t n_used = 0, n_free = 0, prev = NIL;
    int prev_free = 0;
    for (uint32_t i = first; i != NIL; prev = i, i = a->nodes[i].phys_next) {
        const node_t *n = &a->nodes[i];
        int f = node_is_free(a, i);
        if (n->off != off || n->len == 0 || n->phys_prev != prev || (f && prev_free))
            return MC_INTERNAL_ERROR;
        off += n->len;
        if (f) {
            n_free++;
        } else {
            n_used++;
            used += n->len;
        }
        prev_free = f;
    }
    if (off != a->units || used != a->used_units || n_used != a->n_allocs ||
        n_free != a->n_free_blocks)
        return MC_INTERNAL_ERROR;
    return MC_OK;
}
