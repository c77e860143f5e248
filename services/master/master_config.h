#ifndef MC_MASTER_CONFIG_H
#define MC_MASTER_CONFIG_H

#include "mc/config.h"

#include <stdbool.h>

typedef struct master_config {
    char rpc_address[64];
    uint64_t rpc_port;
    uint64_t metrics_port;
    uint64_t max_threads;
    uint64_t cluster_port;
    uint64_t default_kv_lease_ttl;    /* ms */
    uint64_t default_kv_soft_pin_ttl; /* ms */
    bool allow_evict_soft_pinned_objects;
    double eviction_ratio;
    double eviction_high_watermark_ratio;
    uint64_t min_residency_ms;              /* ms */
    uint64_t client_ttl;                    /* s */
    uint64_t put_start_discard_timeout_sec; /* s */
    uint64_t put_start_release_timeout_sec; /* s */
    uint64_t hold_ttl_ms;                   /* ms */
    uint64_t max_segment_size;              /* bytes */
    uint64_t max_holds_per_object;
    uint64_t max_holds_per_client;
    bool enable_offload;
    bool offload_on_evict;
    uint64_t max_ssd_tasks_per_owner;
    uint64_t ssd_task_timeout_ms;
    uint64_t ssd_task_attempts;
    char allocation_strategy[32];
    uint64_t max_request_bytes;
    char auth_token_file[1024];
    char admin_token_file[1024];
    bool insecure_allow_remote;
    bool metrics_require_auth;
    char log_level[16];
} master_config_t;

extern const mc_cfg_spec_t master_config_spec;

#endif
