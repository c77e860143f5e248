#ifndef MC_STORE_CONFIG_H
#define MC_STORE_CONFIG_H

#include "mc/config.h"

#include <stdbool.h>

typedef struct store_config {
    char local_hostname[256];
    char metadata_server[512];
    char master_server_addr[256];
    uint64_t master_cluster_port;
    uint64_t peer_max_waiters;
    uint64_t global_segment_size;
    uint64_t local_buffer_size;
    char protocol[8];
    char rdma_devices[256];
    char host[64];
    uint64_t rest_port;
    uint64_t threads;
    uint64_t max_body_bytes;
    uint64_t max_reply_bytes;
    uint64_t max_reply_memory;
    bool hugepages;
    bool populate_segment;
    uint64_t transfer_timeout_ms;
    char ipc_socket[108]; /* sun_path */
    uint64_t client_port;
    char runtime_dir[256];
    char ipc_allowed_gids[256];
    char ipc_admin_uids[256];
    uint64_t ipc_max_clients;
    uint64_t ipc_max_regions;
    uint64_t ipc_max_mapped_bytes;
    uint64_t ipc_timeout_ms;
    uint64_t ipc_view_renew_ms;
    int64_t lifeline_fd;
    char auth_token_file[1024];
    char admin_token_file[1024];
    bool insecure_allow_remote;
    bool metrics_require_auth;
    char log_level[16];
} store_config_t;

extern const mc_cfg_spec_t store_config_spec;

#endif
