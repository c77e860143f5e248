/* mooncake_store_service: wiring only. */
#include "mc/http_server.h"
#include "mc/log.h"
#include "mc/service.h"
#include "store_config.h"

#include <stdio.h>

static const char *log_level_of(const void *cfg)
{
    return ((const store_config_t *)cfg)->log_level;
}

int main(int argc, char **argv)
{
    store_config_t cfg;
    mc_http_server_t *rest;
    char err[256];
    int rc = mc_service_load_config(&store_config_spec, &cfg, argc, argv, log_level_of);

    if (rc >= 0)
        return rc;
    mc_service_block_signals();
    rest = mc_http_server_create(&(mc_http_server_opts_t){
        .host = cfg.host, .port = (uint16_t)cfg.rest_port, .threads = (unsigned)cfg.threads,
        .max_body = cfg.max_body_bytes, .name = "store"});
    if (!rest || mc_http_server_start(rest, err, sizeof(err)) != 0) {
        fprintf(stderr, "mooncake_store_service: REST port: %s\n", rest ? err : "out of memory");
        mc_http_server_destroy(rest);
        return 1;
    }
    MC_INFO("store service REST listening on http://%s:%u (data plane %s, master %s)", cfg.host,
            (unsigned)mc_http_server_port(rest), cfg.local_hostname, cfg.master_server_addr);
    mc_service_wait_signal();
    MC_INFO("store service shutting down");
    mc_http_server_destroy(rest);
    return 0;
}
