/* Limits that the master, the store service and the wire messages share:
 * one definition, so a replica list never fits one side and not the other. */
#ifndef MC_LIMITS_H
#define MC_LIMITS_H

#define MC_MAX_REPLICAS 8u      /* replicas per object */
#define MC_MAX_BATCH_KEYS 4096u /* keys per batch request, master and store alike */

#endif
