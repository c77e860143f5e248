/* mooncake_master: wiring only. */
#include "master_config.h"
#include "mc/http_server.h"
#include "mc/log.h"
#include "mc/service.h"

#include <stdio.h>

static const char *log_level_of(const void *cfg)
{
    return ((const master_config_t *)cfg)->log_level;
}

static mc_http_server_t *start_server(const master_config_t *cfg, uint64_t port,
                                      mc_metrics_t *metrics, const char *what)
{
    char err[256];
    mc_http_server_t *srv = mc_http_server_create(&(mc_http_server_opts_t){
        .host = cfg->rpc_address, .port = (uint16_t)port, .threads = (unsigned)cfg->max_threads,
        .max_body = cfg->max_request_bytes, .metrics = metrics, .name = what});

    if (!srv || mc_http_server_start(srv, err, sizeof(err)) != 0) {
        fprintf(stderr, "mooncake_master: %s port: %s\n", what, srv ? err : "out of memory");
        mc_http_server_destroy(srv);
        return NULL;
    }
    MC_INFO("master %s listening on http://%s:%u", what, cfg->rpc_address,
            (unsigned)mc_http_server_port(srv));
    return srv;
}

int main(int argc, char **argv)
{
    master_config_t cfg;
    mc_metrics_t *metrics;
    mc_http_server_t *api = NULL, *admin = NULL;
    int rc = mc_service_load_config(&master_config_spec, &cfg, argc, argv, log_level_of);

    if (rc >= 0)
        return rc;
    mc_service_block_signals();
    metrics = mc_metrics_create();
    rc = 1;
    /* admin first: once the API port answers /health, both are up */
    if (!metrics || !(admin = start_server(&cfg, cfg.metrics_port, metrics, "metrics")) ||
        !(api = start_server(&cfg, cfg.rpc_port, metrics, "api")))
        goto out;
    mc_service_wait_signal();
    MC_INFO("master shutting down");
    rc = 0;
out:
    mc_http_server_destroy(admin);
    mc_http_server_destroy(api);
    mc_metrics_destroy(metrics);
    return rc;
}
