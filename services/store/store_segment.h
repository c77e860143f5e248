/* The DRAM this service contributes: one memfd mapped MAP_SHARED (so the
 * thin clients of the next milestone can map it too), huge pages when asked
 * and available. */
#ifndef MC_STORE_SEGMENT_H
#define MC_STORE_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct store_segment {
    int fd;
    void *base;
    size_t size;
    bool hugepages; /* MFD_HUGETLB took */
} store_segment_t;

/* Creates and maps size bytes (size > 0). With want_huge, tries MFD_HUGETLB
 * first (size rounded up to 2 MiB) and falls back to normal pages. Returns
 * MC_OK, MC_INVALID_PARAMS or MC_INTERNAL_ERROR (errno kept). */
int store_segment_create(store_segment_t *seg, const char *name, size_t size, bool want_huge);
/* Maps [from, from+len) (clipped to the segment) writable ahead of use
 * (MADV_POPULATE_WRITE), so later puts do not pay a page fault per 4 KiB.
 * Touches no byte: safe concurrently with writers. Returns the bytes covered. */
size_t store_segment_populate(const store_segment_t *seg, size_t from, size_t len);
/* Unmaps and closes. Safe on a zeroed or already destroyed segment. */
void store_segment_destroy(store_segment_t *seg);

#endif
