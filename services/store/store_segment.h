/* The DRAM this service contributes: one memfd mapped MAP_SHARED, huge
 * pages when asked and available. Once mapped it is sealed against new
 * writable mappings and write() (F_SEAL_FUTURE_WRITE) and against resizing:
 * this service's own mapping stays writable, and a read-only descriptor
 * handed to a local client (store_segment_open_readonly) cannot be turned
 * into a writable one, not even by reopening it through /proc. */
#ifndef MC_STORE_SEGMENT_H
#define MC_STORE_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct store_segment {
    int fd;
    void *base;
    size_t size;
    bool hugepages; /* MFD_HUGETLB took */
    bool sealed;    /* the seals above took: the segment may be shared */
} store_segment_t;

/* Creates and maps size bytes (size > 0). With want_huge, tries MFD_HUGETLB
 * first (size rounded up to 2 MiB) and falls back to normal pages. Returns
 * MC_OK, MC_INVALID_PARAMS or MC_INTERNAL_ERROR (errno kept). */
int store_segment_create(store_segment_t *seg, const char *name, size_t size, bool want_huge);
/* Maps [from, from+len) (clipped to the segment) writable ahead of use
 * (MADV_POPULATE_WRITE), so later puts do not pay a page fault per 4 KiB.
 * Touches no byte: safe concurrently with writers. Returns the bytes covered. */
size_t store_segment_populate(const store_segment_t *seg, size_t from, size_t len);
/* A new read-only descriptor of the segment (caller closes), or -1 when it
 * is not sealed (kernels before 5.1) and so must not be shared. */
int store_segment_open_readonly(const store_segment_t *seg);
/* Unmaps and closes. Safe on a zeroed or already destroyed segment. */
void store_segment_destroy(store_segment_t *seg);

#endif
