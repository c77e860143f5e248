/* One replica of an object, as the master hands it out: the one type the
 * master's routes fill from the core, the wire codec (mc/master_msg.h)
 * carries, and the store service's planner (store_core.h) reads. */
#ifndef MC_REPLICA_H
#define MC_REPLICA_H

#include "mc/uuid.h"

#include <stdint.h>

typedef enum mc_replica_type {
    MC_REPLICA_TYPE_MEMORY = 0,
    MC_REPLICA_TYPE_DISK = 1,
} mc_replica_type_t;

/* Where one replica lives and how to reach it.
 *
 * A disk replica (type MC_REPLICA_TYPE_DISK, SSD tier, issue 13) reuses the
 * fields: segment_id = the owning store service's client id, segment = the
 * owner's disk tier name, endpoint = the owner's control_url
 * ("http://host:port"), offset = the value's byte offset in the bucket file,
 * size = its length, bucket = the bucket id; epoch and addr are 0. */
typedef struct mc_replica {
    mc_uuid_t segment_id;
    const char *segment;  /* segment name */
    const char *endpoint; /* transport endpoint (host:port) */
    uint64_t epoch;       /* segment mount epoch the transfer must carry */
    uint64_t addr;        /* buffer address in the owner's address space */
    uint64_t offset;      /* same buffer as an offset in the segment */
    uint64_t size;
    uint64_t bucket; /* disk replicas: bucket id (0 for memory) */
    uint8_t type;    /* mc_replica_type_t */
} mc_replica_t;

#endif
