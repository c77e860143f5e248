/* Helpers shared by the master core tests. */
#ifndef MC_TEST_MASTER_FIXTURE_H
#define MC_TEST_MASTER_FIXTURE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "master_core.h"
#include "mc/errors.h"

#define MiB (1024ull * 1024ull)
#define LEASE_MS 1000u

static inline mc_uuid_t client_id(uint64_t n)
{
    return (mc_uuid_t){.hi = 0xc11e47ull, .lo = n};
}

static inline mc_uuid_t seg_id(uint64_t n)
{
    return (mc_uuid_t){.hi = 0x5e6ull, .lo = n};
}

/* A master with a 1 s lease, 30 s discard, 600 s release, and clients that
 * never expire (liveness tests set a TTL of their own). */
static inline mc_master_t *fx_create_cfg(mc_master_cfg_t *cfg)
{
    mc_master_t *m = NULL;
    cr_assert_eq(mc_master_create(cfg, &m), MC_OK);
    return m;
}

static inline mc_master_t *fx_create(void)
{
    mc_master_cfg_t cfg;
    mc_master_cfg_defaults(&cfg);
    cfg.lease_ttl_ms = LEASE_MS;
    cfg.client_ttl_ms = UINT64_MAX / 4;
    return fx_create_cfg(&cfg);
}

/* Mounts segment n ("seg-<n>", base n<<40) of size bytes for client c. */
static inline void fx_mount(mc_master_t *m, uint64_t n, uint64_t size, uint64_t c, uint64_t now)
{
    char name[32];
    snprintf(name, sizeof(name), "seg-%llu", (unsigned long long)n);
    mc_master_segment_spec_t sp = {.id = seg_id(n),
                                   .client_id = client_id(c),
                                   .name = name,
                                   .endpoint = "127.0.0.1:12345",
                                   .protocol = "tcp",
                                   .base = n << 40,
                                   .size = size};
    cr_assert_eq(mc_master_mount(m, &sp, now, NULL), MC_OK);
}

static inline mc_master_put_cfg_t fx_cfg(uint32_t replicas)
{
    return (mc_master_put_cfg_t){.replica_num = replicas};
}

static inline int fx_put_start(mc_master_t *m, uint64_t c, const char *key, uint64_t size,
                               uint64_t now, mc_master_replicas_t *out)
{
    mc_master_put_cfg_t cfg = fx_cfg(1);
    return mc_master_put_start(m, client_id(c), key, strlen(key), size, &cfg, now, out);
}

/* put_start + put_end by client c with the given config; asserts success. */
static inline void fx_put_cfg(mc_master_t *m, uint64_t c, const char *key, uint64_t size,
                              const mc_master_put_cfg_t *cfg, uint64_t now)
{
    cr_assert_eq(mc_master_put_start(m, client_id(c), key, strlen(key), size, cfg, now, NULL),
                 MC_OK, "put_start %s", key);
    cr_assert_eq(mc_master_put_end(m, client_id(c), key, strlen(key), false, 0, now), MC_OK);
}

static inline void fx_put(mc_master_t *m, uint64_t c, const char *key, uint64_t size, uint64_t now)
{
    mc_master_put_cfg_t cfg = fx_cfg(1);
    fx_put_cfg(m, c, key, size, &cfg, now);
}

static inline int fx_get(mc_master_t *m, const char *key, uint64_t now, mc_master_replicas_t *out)
{
    mc_master_replicas_t tmp;
    return mc_master_get_replica_list(m, key, strlen(key), now, out ? out : &tmp);
}

static inline bool fx_exists(mc_master_t *m, const char *key, uint64_t now)
{
    bool e = false;
    cr_assert_eq(mc_master_exist(m, key, strlen(key), now, &e), MC_OK);
    return e;
}

/* Present in the map at all (complete or not), without a lease. */
static inline bool fx_present(mc_master_t *m, const char *key)
{
    mc_master_obj_info_t info;
    return mc_master_query(m, key, strlen(key), 0, &info) == MC_OK;
}

static inline uint64_t fx_used(mc_master_t *m)
{
    mc_master_stats_t st;
    mc_master_stats(m, &st);
    return st.used;
}

#endif
