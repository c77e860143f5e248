/* Helpers of the SSD backend tests: a temporary directory, values with a
 * known pattern, and a fault-injecting mc_ssd_file_ops_t. */
#ifndef SSD_UTIL_H
#define SSD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ssd.h"

#define GiB (1ull << 30)

/* mkdtemp under /tmp into dir (at least 64 bytes); removed by tu_rmrf. */
void tu_tmpdir(char *dir);
void tu_rmrf(const char *dir);
/* A cfg on dir: capacity 4 GiB, small buckets unless changed. */
mc_ssd_cfg_t tu_cfg(const char *dir);
mc_ssd_t *tu_open(const mc_ssd_cfg_t *cfg, mc_ssd_recovery_t *rep);
/* Deterministic bytes of (seed, i). */
void tu_fill(uint8_t *p, size_t len, uint32_t seed);
/* Writes one value (len bytes of tu_fill(seed)) under key; returns the code. */
int tu_put(mc_ssd_t *s, const char *key, size_t len, uint32_t seed, mc_ssd_loc_t *loc);
/* Reads it back and compares; returns the read code (MC_OK only when equal). */
int tu_get(mc_ssd_t *s, const char *key, const mc_ssd_loc_t *loc, uint32_t seed);
/* The first bucket file of the cluster dir (lowest id) into path. */
bool tu_bucket_file(mc_ssd_t *s, uint64_t id, char *path, size_t len);

/* Fault injection: each counter counts down calls; at 0 the call fails. */
typedef struct tu_faults {
    int pwritev_fail_in; /* -1 = never */
    int pwritev_errno;
    int short_write_in; /* a write that transfers only half (then continues) */
    int preadv_fail_in;
    int preadv_errno;
    int fdatasync_fail_in;
    int fallocate_fail_in; /* hole punches only (not preallocation) */
    int fallocate_errno;
    int pwritev_calls, preadv_calls, fdatasync_calls, fallocate_calls;
} tu_faults_t;
void tu_faults_init(tu_faults_t *f);
/* File ops forwarding to the system calls, with f's faults (ctx = f). */
mc_ssd_file_ops_t tu_fault_ops(tu_faults_t *f);

#endif
