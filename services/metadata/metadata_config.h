#ifndef MC_METADATA_CONFIG_H
#define MC_METADATA_CONFIG_H

#include "mc/config.h"

#include <stdbool.h>

typedef struct metadata_config {
    char host[64];
    uint64_t port;
    uint64_t max_value_bytes;
    uint64_t threads;
    uint64_t publisher_ttl_ms;
    char auth_token_file[1024];
    char admin_token_file[1024];
    bool insecure_allow_remote;
    bool metrics_require_auth;
    char log_level[16];
} metadata_config_t;

extern const mc_cfg_spec_t metadata_config_spec;

#endif
