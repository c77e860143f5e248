/* What a store service may still read while the master is unreachable: for
 * keys it recently read from its own segment, the replica and a deadline: the
 * end of the lease the master granted, but no later than MC_LEASE_CACHE_MS
 * after the get was sent (store_ops.c). Until then the master does not reuse
 * the buffer: a forced remove waits for the lease, and eviction, which may
 * take a leased object, keeps the buffers of one its owner read for
 * MC_LEASE_CACHE_MS (mc/limits.h). So serving those bytes is safe; after the
 * deadline, nothing is served.
 *
 * A direct-mapped table: a key's slot is chosen by its hash, a newer entry
 * replaces an older one. Keys longer than STORE_LEASE_KEY_MAX are not cached.
 * Thread-safe (one mutex; every operation is O(key length)). */
#ifndef MC_STORE_LEASE_CACHE_H
#define MC_STORE_LEASE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_LEASE_KEY_MAX 255u

typedef struct store_lease_cache store_lease_cache_t;

typedef struct store_lease_entry {
    uint64_t offset; /* replica in our own segment */
    uint64_t size;
    uint64_t epoch;       /* mount epoch the replica belongs to */
    uint64_t deadline_ms; /* end of the read lease, on the store's monotonic clock */
    uint32_t checksum;    /* the writer's CRC32C of the value, when has_checksum */
    bool has_checksum;
} store_lease_entry_t;

/* slots is rounded up to a power of two; NULL when out of memory. */
store_lease_cache_t *store_lease_cache_create(size_t slots);
void store_lease_cache_destroy(store_lease_cache_t *c);
void store_lease_cache_put(store_lease_cache_t *c, const char *key, size_t len,
                           const store_lease_entry_t *e);
/* true (and *out) when key has an entry whose lease ends after now_ms. */
bool store_lease_cache_get(store_lease_cache_t *c, const char *key, size_t len, uint64_t now_ms,
                           store_lease_entry_t *out);

#endif
