#include "master_config.h"

#include "mc/service_auth.h"

#include <stddef.h>

/* Names and defaults follow Mooncake's mooncake_master flags. */
#define CFG master_config_t
static const mc_opt_t opts[] = {
    MC_OPT_STR(CFG, rpc_address, "rpc_address", "127.0.0.1", NULL, "MC_MASTER_ADDRESS",
               "Address the API and metrics ports listen on"),
    MC_OPT_UINT(CFG, rpc_port, "rpc_port", "50051", 1, 65535, "MC_MASTER_PORT",
                "HTTP/JSON API port"),
    MC_OPT_UINT(CFG, metrics_port, "metrics_port", "9003", 1, 65535, "MC_MASTER_METRICS_PORT",
                "Admin port: /health, /metrics and the admin reads"),
    MC_OPT_UINT(CFG, max_threads, "max_threads", "4", 1, 256, "MC_MASTER_THREADS",
                "HTTP worker threads"),
    MC_OPT_UINT(CFG, cluster_port, "cluster_port", "0", 0, 65535, "MC_MASTER_CLUSTER_PORT",
                "A second API listener kept for the cluster's own liveness traffic (store "
                "services' pings and mounts, with --master_cluster_port): a flood of the API "
                "port cannot starve it (0 = none)"),
    MC_OPT_UINT(CFG, default_kv_lease_ttl, "default_kv_lease_ttl", "5000", 1, 3600000, NULL,
                "Read lease granted by get_replica_list/exist, in ms"),
    MC_OPT_UINT(CFG, default_kv_soft_pin_ttl, "default_kv_soft_pin_ttl", "1800000", 1,
                86400000.0 * 30, NULL, "Soft pin lifetime after the last access, in ms"),
    MC_OPT_BOOL(CFG, allow_evict_soft_pinned_objects, "allow_evict_soft_pinned_objects", "true",
                NULL, "Evict soft-pinned objects when nothing else frees enough"),
    MC_OPT_DOUBLE(CFG, eviction_ratio, "eviction_ratio", "0.05", 0, 1, NULL,
                  "Fraction of capacity one eviction pass frees"),
    MC_OPT_DOUBLE(CFG, eviction_high_watermark_ratio, "eviction_high_watermark_ratio", "0.95", 0, 1,
                  NULL, "Usage above which the eviction thread runs"),
    MC_OPT_UINT(CFG, min_residency_ms, "min_residency_ms", "100", 0, 3600000, NULL,
                "An object is not evicted before it has been complete this long, in ms"),
    MC_OPT_UINT(CFG, client_ttl, "client_ttl", "10", 1, 86400, NULL,
                "Seconds without a ping before a store service's segments are unmounted"),
    MC_OPT_UINT(CFG, put_start_discard_timeout_sec, "put_start_discard_timeout_sec", "30", 1, 86400,
                NULL, "Seconds after which an unfinished put may be taken over"),
    MC_OPT_UINT(CFG, put_start_release_timeout_sec, "put_start_release_timeout_sec", "600", 1,
                864000, NULL, "Seconds after which an unfinished put's buffers are freed"),
    MC_OPT_SIZE(CFG, max_segment_size, "max_segment_size", "1TB", 1048576, 1125899906842624.0, NULL,
                "Largest segment a store service may mount (a larger one is refused)"),
    MC_OPT_UINT(CFG, hold_ttl_ms, "hold_ttl_ms", "10000", 1, 3600000, NULL,
                "Upper bound of one hold (bytes in flight), in ms"),
    MC_OPT_UINT(CFG, max_holds_per_object, "max_holds_per_object", "1024", 1, 1048576, NULL,
                "Holds one object may have at once"),
    MC_OPT_UINT(CFG, max_holds_per_client, "max_holds_per_client", "65536", 1, 16777216, NULL,
                "Holds one client may have at once"),
    MC_OPT_BOOL(CFG, enable_offload, "enable_offload", "false", NULL,
                "SSD tier write-behind: after every put_end, ask the owner of the object's first "
                "memory replica to persist it, when that owner has a disk tier"),
    MC_OPT_BOOL(CFG, offload_on_evict, "offload_on_evict", "false", NULL,
                "SSD tier: an eviction victim without a disk replica whose owner has a disk tier "
                "is persisted by that owner (held until then) instead of being dropped"),
    MC_OPT_UINT(CFG, max_ssd_tasks_per_owner, "max_ssd_tasks_per_owner", "4096", 1, 4096, NULL,
                "Tasks queued for one disk tier owner; more are dropped (counted)"),
    MC_OPT_UINT(CFG, ssd_task_timeout_ms, "ssd_task_timeout_ms", "1000", 10, 60000, NULL,
                "Timeout of one tasks post to a disk tier owner, in ms"),
    MC_OPT_UINT(CFG, ssd_task_attempts, "ssd_task_attempts", "4", 1, 100, NULL,
                "Posts of one batch of tasks before it is given up (counted as failed)"),
    MC_OPT_STR(CFG, allocation_strategy, "allocation_strategy", "random", "random|free_ratio_first",
               NULL, "Replica placement strategy"),
    MC_OPT_SIZE(CFG, max_request_bytes, "max_request_bytes", "64MB", 1024, 1073741824.0, NULL,
                "Largest accepted API request body"),
    MC_SERVICE_AUTH_OPTS(CFG),
    MC_OPT_STR(CFG, log_level, "log_level", "info", "trace|debug|info|warn|error|off",
               "MC_LOG_LEVEL", "Log level"),
};
#undef CFG

const mc_cfg_spec_t master_config_spec = {
    "mooncake_master",
    "Cluster metadata: segments, objects, replicas, leases, eviction, client liveness.",
    opts,
    sizeof(opts) / sizeof(opts[0]),
};
