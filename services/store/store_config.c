#include "store_config.h"

#include "mc/service_auth.h"

#include <stddef.h>

/* Option names and environment spellings follow Mooncake's store client. */
#define CFG store_config_t
static const mc_opt_t opts[] = {
    MC_OPT_STR(CFG, local_hostname, "local_hostname", "127.0.0.1:12345", NULL,
               "MOONCAKE_LOCAL_HOSTNAME", "host:port of this store's data plane"),
    MC_OPT_STR(CFG, metadata_server, "metadata_server", "http://127.0.0.1:8080/metadata", NULL,
               "MOONCAKE_TE_META_DATA_SERVER", "Metadata server URL"),
    MC_OPT_STR(CFG, master_server_addr, "master_server_addr", "127.0.0.1:50051", NULL,
               "MOONCAKE_MASTER", "Master host:port"),
    MC_OPT_UINT(CFG, master_cluster_port, "master_cluster_port", "0", 0, 65535, NULL,
                "The master's --cluster_port: liveness pings and mounts go there, so a flood "
                "of the master's API port cannot make this service look dead (0 = the API "
                "port of --master_server_addr)"),
    MC_OPT_SIZE(CFG, global_segment_size, "global_segment_size", "512MB", 0, 1099511627776.0,
                "MOONCAKE_GLOBAL_SEGMENT_SIZE", "DRAM this service contributes (0 = none)"),
    MC_OPT_SIZE(CFG, local_buffer_size, "local_buffer_size", "16MB", 0, 1099511627776.0,
                "MOONCAKE_LOCAL_BUFFER_SIZE", "Staging buffer for local clients"),
    MC_OPT_STR(CFG, protocol, "protocol", "tcp", "tcp|rdma", "MOONCAKE_PROTOCOL",
               "Data-plane protocol"),
    MC_OPT_STR(CFG, rdma_devices, "rdma_devices", "", NULL, "MOONCAKE_DEVICE",
               "RDMA devices, comma-separated (empty = all)"),
    MC_OPT_STR(CFG, host, "host", "127.0.0.1", NULL, "MC_STORE_HOST",
               "Address the REST API listens on"),
    MC_OPT_UINT(CFG, rest_port, "rest_port", "8081", 0, 65535, "MC_STORE_REST_PORT",
                "REST API port (0 = any free port)"),
    MC_OPT_UINT(CFG, threads, "threads", "4", 1, 256, "MC_STORE_THREADS",
                "REST handler threads (requests are read and answered by two more)"),
    MC_OPT_UINT(CFG, peer_max_waiters, "peer_max_waiters", "0", 0, 4096, NULL,
                "REST threads that may wait on one peer at once; another waits 250 ms for one "
                "of them to finish, then fails over, so a stalled peer never holds every thread "
                "(0 = half of --threads)"),
    MC_OPT_SIZE(CFG, max_body_bytes, "max_body_bytes", "80MB", 1024, 4294967296.0, NULL,
                "Largest accepted REST request body"),
    MC_OPT_SIZE(CFG, max_reply_bytes, "max_reply_bytes", "256MB", 1048576, 68719476736.0, NULL,
                "Value bytes one batch GET reply may carry, a key named twice counted twice; "
                "keys past it answer BUFFER_OVERFLOW (-10)"),
    MC_OPT_SIZE(CFG, max_reply_memory, "max_reply_memory", "1GB", 1048576, 1099511627776.0, NULL,
                "GET reply bytes allocated and not yet sent, over all connections; a GET whose "
                "reply does not fit is answered 503 (UNAVAILABLE_IN_CURRENT_STATUS, -1010)"),
    MC_OPT_BOOL(CFG, hugepages, "hugepages", "false", "MC_STORE_HUGEPAGES",
                "Back the segment with huge pages (MFD_HUGETLB) when available"),
    MC_OPT_BOOL(CFG, populate_segment, "populate_segment", "true", NULL,
                "Fault the segment's pages in at start-up (in the background)"),
    MC_OPT_UINT(CFG, transfer_timeout_ms, "transfer_timeout_ms", "5000", 100, 600000, NULL,
                "Per-request data-plane timeout"),
    MC_OPT_STR(CFG, ipc_socket, "ipc_socket", "", NULL, "MOONCAKE_IPC_SOCKET",
               "Unix socket of the local clients (empty = store-<client_port>.sock in the "
               "runtime directory; \"off\" = no local clients)"),
    MC_OPT_UINT(CFG, client_port, "client_port", "50052", 1, 65535, "MOONCAKE_CLIENT_PORT",
                "Local-client port: names the default IPC socket (a client given host:port "
                "finds it)"),
    MC_OPT_STR(CFG, runtime_dir, "runtime_dir", "", NULL, "XDG_RUNTIME_DIR",
               "Directory of the default IPC socket (empty = mooncake-<uid> in the temp "
               "directory)"),
    MC_OPT_STR(CFG, ipc_allowed_gids, "ipc_allowed_gids", "", NULL, "MC_STORE_IPC_ALLOWED_GIDS",
               "Groups (numeric ids, comma-separated) whose processes may connect, besides "
               "this service's own uid"),
    MC_OPT_STR(CFG, ipc_admin_uids, "ipc_admin_uids", "", NULL, "MC_STORE_IPC_ADMIN_UIDS",
               "Uids whose local clients may run admin ops (remove_all, remove_by_regex, force "
               "removes), comma-separated; empty = the service's own uid. A client may also send "
               "the admin token (MOONCAKE_ADMIN_TOKEN_FILE)"),
    MC_OPT_UINT(CFG, ipc_max_clients, "ipc_max_clients", "256", 1, 65536, NULL,
                "Local clients connected at once"),
    MC_OPT_UINT(CFG, ipc_max_regions, "ipc_max_regions", "256", 1, 65536, NULL,
                "Shared-memory regions one client may register"),
    MC_OPT_SIZE(CFG, ipc_max_mapped_bytes, "ipc_max_mapped_bytes", "64GB", 1048576, 1099511627776.0,
                NULL, "Shared-memory bytes one client may register"),
    MC_OPT_UINT(CFG, ipc_timeout_ms, "ipc_timeout_ms", "5000", 10, 600000, NULL,
                "Time a client has to finish sending a message it started (and its hello)"),
    MC_OPT_UINT(CFG, ipc_view_renew_ms, "ipc_view_renew_ms", "3000", 0, 3600000, NULL,
                "Renew the master holds of local clients' open get_buffer views this often, so "
                "a view kept open stays protected; keep it well under the master's "
                "--hold_ttl_ms (0 = never: a view is protected for the hold TTL only)"),
    MC_OPT_INT(CFG, lifeline_fd, "lifeline_fd", "-1", -1, 65535, NULL,
               "Read end of a pipe from the process that started this service: stop when it "
               "closes (the embedded default of libmooncake_client; -1 = none)"),
    MC_SERVICE_AUTH_OPTS(CFG),
    MC_OPT_STR(CFG, log_level, "log_level", "info", "trace|debug|info|warn|error|off",
               "MC_LOG_LEVEL", "Log level"),
};
#undef CFG

const mc_cfg_spec_t store_config_spec = {
    "mooncake_store_service",
    "Store service: DRAM segments, data plane, REST API and local clients.",
    opts,
    sizeof(opts) / sizeof(opts[0]),
};
