/* mooncake_store_service: wiring only. */
#include "mc/http_server.h"
#include "mc/ipc_msg.h"
#include "mc/limits.h"
#include "mc/log.h"
#include "mc/service.h"
#include "mc/service_auth.h"
#include "mc/strutil.h"
#include "store_config.h"
#include "store_ipc.h"
#include "store_routes.h"
#include "store_service.h"

#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *log_level_of(const void *cfg)
{
    return ((const store_config_t *)cfg)->log_level;
}

static mc_http_server_t *start_rest(const store_config_t *cfg, mc_metrics_t *metrics,
                                    store_routes_t *rt, mc_auth_t *auth)
{
    mc_errmsg_t err = {"out of memory"};
    mc_http_server_t *rest =
        mc_http_server_create(&(mc_http_server_opts_t){.host = cfg->host,
                                                       .port = (uint16_t)cfg->rest_port,
                                                       .threads = 2, /* reading, replying */
                                                       .workers = (unsigned)cfg->threads,
                                                       .max_body = cfg->max_body_bytes,
                                                       .metrics = metrics,
                                                       .name = "store"});

    if (rest)
        mc_http_server_set_auth(
            rest, &(mc_http_auth_t){mc_auth_authorize, auth, cfg->metrics_require_auth});
    if (!rest || store_routes_register(rest, rt, cfg->max_body_bytes) != 0 ||
        mc_http_server_start(rest, &err) != 0) {
        fprintf(stderr, "mooncake_store_service: REST port: %s\n", err.msg);
        mc_http_server_destroy(rest);
        return NULL;
    }
    return rest;
}

/* The local-client socket (store_ipc.h); NULL with *failed false when it is
 * "off". */
static store_ipc_t *start_ipc(const store_config_t *cfg, store_service_t *svc,
                              mc_metrics_t *metrics, mc_auth_t *auth, bool *failed)
{
    store_ipc_opts_t o = {.hostname = cfg->local_hostname,
                          .master = cfg->master_server_addr,
                          .max_clients = (uint32_t)cfg->ipc_max_clients,
                          .max_regions = (uint32_t)cfg->ipc_max_regions,
                          .max_mapped = cfg->ipc_max_mapped_bytes,
                          .max_batch = MC_MAX_BATCH_KEYS,
                          .timeout_ms = (uint32_t)cfg->ipc_timeout_ms,
                          .view_renew_ms = (uint32_t)cfg->ipc_view_renew_ms,
                          .ephemeral = cfg->lifeline_fd >= 0,
                          .admin_tokens = auth->admin};
    char dir[256], path[108];
    mc_errmsg_t err = {""};
    store_ipc_t *ipc = NULL;

    *failed = false;
    if (strcmp(cfg->ipc_socket, "off") == 0)
        return NULL;
    *failed = true;
    if (cfg->ipc_socket[0]) {
        mc_strlcpy(path, cfg->ipc_socket, sizeof(path));
    } else if (mc_ipc_default_path(cfg->runtime_dir, NULL, (unsigned)getuid(),
                                   (unsigned)cfg->client_port, dir, sizeof(dir), path,
                                   sizeof(path)) != MC_OK) {
        fprintf(stderr, "mooncake_store_service: runtime_dir too long for a socket path\n");
        return NULL;
    }
    o.path = path;
    if (store_ipc_parse_gids(cfg->ipc_allowed_gids, &o, &err) != MC_OK ||
        store_ipc_parse_admin_uids(cfg->ipc_admin_uids, &o, &err) != MC_OK ||
        store_ipc_start(svc, metrics, &o, &ipc, &err) != MC_OK) {
        fprintf(stderr, "mooncake_store_service: IPC socket: %s\n", err.msg);
        return NULL;
    }
    *failed = false;
    MC_INFO("store service local clients on %s", path);
    return ipc;
}

/* SIGHUP reloaded the token files: the data plane takes the new tokens. */
static void reload_data_plane(void *svc)
{
    if (store_service_reload_auth(svc) != MC_OK)
        MC_WARN("data plane kept its old handshake keys (bad token length)");
}

int main(int argc, char **argv)
{
    store_config_t cfg;
    mc_metrics_t *metrics = NULL;
    store_service_t *svc = NULL;
    store_routes_t routes;
    mc_http_server_t *rest = NULL;
    store_ipc_t *ipc = NULL;
    bool ipc_failed = false;
    mc_errmsg_t err = {""};
    mc_auth_t auth = {NULL, NULL};
    char data_host[256];
    int rc = mc_service_load_config(&store_config_spec, &cfg, argc, argv, log_level_of);

    if (rc >= 0)
        return rc;
    /* with a cluster token the data plane's handshake proves it; without one
     * the data plane follows the REST port's loopback rule */
    mc_listen_host(cfg.local_hostname, data_host, sizeof(data_host));
    mc_service_block_signals();
    if ((rc = mc_service_auth_setup(
             store_config_spec.prog, &auth, cfg.auth_token_file, cfg.admin_token_file,
             cfg.insecure_allow_remote,
             (const mc_listen_t[]){{"host", cfg.host}, {"local_hostname", data_host}}, 2)) >= 0)
        return rc;
    if (mc_service_watch_lifeline((int)cfg.lifeline_fd) != MC_OK) {
        fprintf(stderr, "mooncake_store_service: cannot watch the lifeline\n");
        return 1;
    }
    /* Request bodies and read buffers are 1-64 MiB: keep them in the heap
     * (reused, already faulted in) instead of a fresh mmap per request. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    rc = 1;
    if (!(metrics = mc_metrics_create())) {
        fprintf(stderr, "mooncake_store_service: out of memory\n");
        goto out;
    }
    if (store_service_create(&cfg, metrics, &auth, &svc, &err) != 0) {
        fprintf(stderr, "mooncake_store_service: %s\n", err.msg);
        goto out;
    }
    routes = (store_routes_t){
        .svc = svc, .max_reply = cfg.max_reply_bytes, .max_reply_memory = cfg.max_reply_memory};
    /* the socket first: /health must not turn green for a service that is
     * about to exit because another one holds its socket */
    if (!(ipc = start_ipc(&cfg, svc, metrics, &auth, &ipc_failed)) && ipc_failed)
        goto out;
    if (!(rest = start_rest(&cfg, metrics, &routes, &auth)))
        goto out;
    MC_INFO("store service REST listening on http://%s:%u (data plane %s, master %s, %s)", cfg.host,
            (unsigned)mc_http_server_port(rest), cfg.local_hostname, cfg.master_server_addr,
            mc_auth_mode(&auth));
    mc_service_wait_signal_reload(store_config_spec.prog, &auth, reload_data_plane, svc);
    MC_INFO("store service shutting down");
    rc = 0;
out:
    store_ipc_stop(ipc);
    mc_http_server_destroy(rest); /* no request in flight past this point */
    store_service_destroy(svc);
    mc_metrics_destroy(metrics);
    mc_auth_close(&auth);
    return rc;
}
