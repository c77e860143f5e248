/* Which replicas in our own segment have had their bytes checked against
 * the writer's checksum, so a zero-copy view (get_buffer) is verified once
 * per replica and not on every view (docs/security.md): a local put marks
 * what its copy wrote (the CRC came from the same pass), a first view of a
 * replica some other service wrote checks the segment bytes, then marks.
 *
 * An entry is (mount epoch, offset, size, checksum): memory reused by a later
 * object at the same place is a different entry unless it has the same size
 * and checksum, i.e. the same bytes as far as the checksum can tell. A
 * direct-mapped table: a newer entry replaces an older one in its slot, so a
 * forgotten replica is simply checked again. Thread-safe (one mutex). */
#ifndef MC_STORE_VERIFIED_H
#define MC_STORE_VERIFIED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct store_verified store_verified_t;

typedef struct store_verified_key {
    uint64_t epoch, offset, size;
    uint32_t checksum;
} store_verified_key_t;

/* slots is rounded up to a power of two; NULL when out of memory. */
store_verified_t *store_verified_create(size_t slots);
void store_verified_destroy(store_verified_t *v);
void store_verified_mark(store_verified_t *v, const store_verified_key_t *k);
bool store_verified_has(store_verified_t *v, const store_verified_key_t *k);

#endif
