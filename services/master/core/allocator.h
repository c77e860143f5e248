/* Per-segment offset allocator: TLSF-style two-level segregated free lists.
 *
 * Manages the offset range [0, size) of one segment; it never touches memory,
 * so sizes are just numbers. Every allocation is one contiguous block whose
 * offset and length are multiples of the allocator's alignment (a power of two,
 * default 64 bytes). alloc and free are O(1): a free block lives in one of
 * 64 x 16 bins chosen by the top bit of its length and the next four bits; two
 * bitmaps find the first non-empty bin that is guaranteed to fit ("good fit",
 * waste bounded by 1/16 of a request's size class). Free coalesces with both
 * physical neighbours at once, so a drained allocator is one block again.
 *
 * Not thread-safe: the caller serialises access (the master holds its cluster
 * lock around every call). */
#ifndef MC_MASTER_ALLOCATOR_H
#define MC_MASTER_ALLOCATOR_H

#include <stdint.h>

typedef struct mc_alloc mc_alloc_t;

#define MC_ALLOC_DEFAULT_ALIGN 64u
#define MC_ALLOC_INVALID_HANDLE UINT32_MAX

typedef struct mc_alloc_stats {
    uint64_t capacity;      /* usable bytes (size rounded down to the alignment) */
    uint64_t used;          /* bytes in allocated blocks (rounded up to alignment) */
    uint64_t largest_free;  /* length of the largest free block */
    uint32_t n_allocs;      /* live allocations */
    uint32_t n_free_blocks; /* free blocks (1 when empty and unfragmented) */
} mc_alloc_stats_t;

/* Creates an allocator over [0, size) with the given alignment (a power of two;
 * 0 means MC_ALLOC_DEFAULT_ALIGN). MC_INVALID_PARAMS on a bad alignment or when
 * size is smaller than one aligned unit; MC_INTERNAL_ERROR when out of memory.
 * The caller owns *out and frees it with mc_alloc_destroy. */
int mc_alloc_create(uint64_t size, uint64_t align, mc_alloc_t **out);
void mc_alloc_destroy(mc_alloc_t *a);

/* Allocates size bytes (rounded up to the alignment). On MC_OK *offset is the
 * block's offset in the segment and *handle the token mc_alloc_free takes.
 * MC_NO_AVAILABLE_HANDLE when no free block fits, MC_INVALID_PARAMS for size 0,
 * MC_INTERNAL_ERROR when the node pool cannot grow. */
int mc_alloc_alloc(mc_alloc_t *a, uint64_t size, uint64_t *offset, uint32_t *handle);

/* Frees an allocation. MC_INVALID_PARAMS for a handle that is not live
 * (including a double free); the allocator is unchanged then. */
int mc_alloc_free(mc_alloc_t *a, uint32_t handle);

/* Bytes reserved by a live handle (0 if the handle is not live). */
uint64_t mc_alloc_block_size(const mc_alloc_t *a, uint32_t handle);

uint64_t mc_alloc_capacity(const mc_alloc_t *a);
uint64_t mc_alloc_used(const mc_alloc_t *a);
/* O(free blocks in the top bin) for largest_free; the rest is O(1). */
void mc_alloc_stats(const mc_alloc_t *a, mc_alloc_stats_t *out);

/* Walks every block and bin and verifies the invariants (blocks tile the range,
 * no two adjacent free blocks, every free block is in the right bin, bitmaps
 * and counters agree). MC_OK or MC_INTERNAL_ERROR. O(blocks); for tests. */
int mc_alloc_check(const mc_alloc_t *a);

#endif
