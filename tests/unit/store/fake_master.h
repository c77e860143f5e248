/* A fake master for unit tests of the store service's operations
 * (store_ops.c): a small object table with two-phase puts, leases and a
 * bump allocator per segment, behind the store_master_ops_t table, plus
 * knobs to make it fail the way a real one can (unreachable, a call that
 * errors, replicas that point nowhere, a short lease, a hook that runs
 * between phases). Not thread-safe beyond its own mutex: tests drive it. */
#ifndef FAKE_MASTER_H
#define FAKE_MASTER_H

#include "store_master.h"

#include <pthread.h>

#define FAKE_MAX_SEGS 8
#define FAKE_MAX_OBJS 256

typedef struct fake_seg {
    char name[64];
    mc_uuid_t id;               /* the mount's segment id ({0, index + 1} for added ones) */
    char endpoint[64];          /* the mount's endpoint ("" for added ones: not checked) */
    uint64_t epoch, size, next; /* bump allocation from next */
    bool suspected;             /* reported: put_start places nothing here */
} fake_seg_t;

typedef enum fake_state { FAKE_FREE = 0, FAKE_PENDING = 1, FAKE_COMPLETE = 2 } fake_state_t;

typedef struct fake_obj {
    char key[128];
    size_t klen;
    fake_state_t state;
    uint64_t size;
    uint32_t n;
    mc_replica_t rep[MC_MAX_REPLICAS];
    int holds; /* taken by GET_REPLICAS with hold, dropped by RELEASE */
} fake_obj_t;

typedef struct fake_master fake_master_t;
/* Runs (unlocked) before the master answers a keys call. */
typedef void (*fake_hook_fn)(fake_master_t *fm, store_master_call_t call, void *arg);

struct fake_master {
    pthread_mutex_t mu;
    fake_seg_t segs[FAKE_MAX_SEGS];
    int nseg;
    fake_obj_t objs[FAKE_MAX_OBJS];
    /* put_start places replica j on put_segs[j] (names of added or mounted
     * segments); n_put_segs 0 = the first segments in table order */
    const char *put_segs[MC_MAX_REPLICAS];
    uint32_t n_put_segs;
    const char *odd_key, *odd_seg; /* except key odd_key: all its replicas on odd_seg */
    uint64_t lease_ms;             /* what get_replicas grants; default 5000 */
    bool down;                     /* every call answers MC_RPC_FAIL (fake_master_set_down) */
    int fail_code[STORE_M_CALLS];  /* != 0: that call answers this whole-request error */
    fake_hook_fn hook;
    void *hook_arg;
    unsigned calls[STORE_M_CALLS]; /* keys calls answered (or failed), by kind */
    unsigned pings, mounts, reports;
    unsigned holds_taken, holds_released; /* over all objects */
};

/* A store_master_t over fm (fm stays the caller's: destroying the
 * store_master_t does not free it). */
store_master_t *fake_master_wrap(fake_master_t *fm);
void fake_master_init(fake_master_t *fm);
void fake_master_cleanup(fake_master_t *fm);
/* A segment that exists elsewhere (the test registers the memory with the
 * transfer engine under the same name and epoch). */
void fake_master_add_segment(fake_master_t *fm, const char *name, uint64_t epoch, uint64_t size);
/* The id replicas on segment name carry (the descriptor's "segment_uuid"
 * must be it); nil when there is no such segment. */
mc_uuid_t fake_master_segment_id(fake_master_t *fm, const char *name);
/* Unreachable from now on (or reachable again); the liveness thread pings. */
void fake_master_set_down(fake_master_t *fm, bool down);
/* The object stored under key, or NULL. */
fake_obj_t *fake_master_find(fake_master_t *fm, const char *key);

#endif
