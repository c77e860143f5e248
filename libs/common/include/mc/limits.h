/* Limits that the master, the store service and the wire messages share:
 * one definition, so a replica list never fits one side and not the other. */
#ifndef MC_LIMITS_H
#define MC_LIMITS_H

#define MC_MAX_REPLICAS 8u /* replicas per object */

#endif
