/* Limits that the master, the store service and the wire messages share:
 * one definition, so a replica list never fits one side and not the other. */
#ifndef MC_LIMITS_H
#define MC_LIMITS_H

#define MC_MAX_REPLICAS 8u      /* replicas per object */
#define MC_MAX_BATCH_KEYS 4096u /* keys per batch request, master and store alike */
/* The longest a store service's lease cache serves an own-segment replica,
 * without a hold, after the get that granted its lease was sent; the master
 * keeps such an object's buffers at least that long after the read, even
 * when eviction takes it (docs/master-core.md, "Eviction"). */
#define MC_LEASE_CACHE_MS 500u

#endif
