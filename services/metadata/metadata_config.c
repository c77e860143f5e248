#include "metadata_config.h"

#include "mc/service_auth.h"

#include <stddef.h>

#define CFG metadata_config_t
static const mc_opt_t opts[] = {
    MC_OPT_STR(CFG, host, "host", "127.0.0.1", NULL, "MC_METADATA_HOST",
               "Address to listen on (IP literal; 0.0.0.0 for all)"),
    MC_OPT_UINT(CFG, port, "port", "8080", 1, 65535, "MC_METADATA_PORT", "HTTP port"),
    MC_OPT_SIZE(CFG, max_value_bytes, "max_value_bytes", "1MB", 1, 1073741824.0,
                "MC_METADATA_MAX_VALUE_BYTES", "Largest accepted metadata value (request body)"),
    MC_OPT_UINT(CFG, threads, "threads", "4", 1, 256, "MC_METADATA_THREADS", "HTTP worker threads"),
    MC_OPT_UINT(CFG, publisher_ttl_ms, "publisher_ttl_ms", "10000", 0, 86400000,
                "MC_METADATA_PUBLISHER_TTL_MS",
                "A key's publisher claim lapses after this many ms without a request carrying "
                "its X-Mooncake-Publisher credential (then anyone may replace it); 0 = never"),
    MC_SERVICE_AUTH_OPTS(CFG),
    MC_OPT_STR(CFG, log_level, "log_level", "info", "trace|debug|info|warn|error|off",
               "MC_LOG_LEVEL", "Log level"),
};
#undef CFG

const mc_cfg_spec_t metadata_config_spec = {
    "mooncake_http_metadata_server",
    "Segment directory: GET|PUT|DELETE /metadata?key=K, /health, /metrics.",
    opts,
    sizeof(opts) / sizeof(opts[0]),
};
