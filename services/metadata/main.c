/* mooncake_http_metadata_server: wiring only. */
#include "mc/http_server.h"
#include "mc/log.h"
#include "mc/service.h"
#include "mc/service_auth.h"
#include "metadata_config.h"
#include "metadata_routes.h"
#include "metadata_store.h"

#include <stdio.h>

static const char *log_level_of(const void *cfg)
{
    return ((const metadata_config_t *)cfg)->log_level;
}

int main(int argc, char **argv)
{
    metadata_config_t cfg;
    mc_http_server_t *srv;
    metadata_store_t *store;
    mc_errmsg_t err = {"out of memory"};
    mc_auth_t auth = {NULL, NULL};
    metadata_routes_t routes;
    int rc = mc_service_load_config(&metadata_config_spec, &cfg, argc, argv, log_level_of);

    if (rc >= 0)
        return rc;
    mc_service_block_signals();
    if ((rc = mc_service_auth_setup(metadata_config_spec.prog, &auth, cfg.auth_token_file,
                                    cfg.admin_token_file, cfg.insecure_allow_remote,
                                    &(mc_listen_t){"host", cfg.host}, 1)) >= 0)
        return rc;
    store = metadata_store_create();
    if (store)
        metadata_store_set_publisher_ttl(store, cfg.publisher_ttl_ms);
    routes = (metadata_routes_t){store, &auth};
    srv = mc_http_server_create(&(mc_http_server_opts_t){.host = cfg.host,
                                                         .port = (uint16_t)cfg.port,
                                                         .threads = (unsigned)cfg.threads,
                                                         .max_body = cfg.max_value_bytes,
                                                         .name = "metadata"});
    if (srv)
        mc_http_server_set_auth(
            srv, &(mc_http_auth_t){mc_auth_authorize, &auth, cfg.metrics_require_auth});
    if (!store || !srv || metadata_routes_register(srv, &routes, cfg.max_value_bytes) != 0 ||
        mc_http_server_start(srv, &err) != 0) {
        fprintf(stderr, "mooncake_http_metadata_server: %s\n", err.msg);
        mc_http_server_destroy(srv);
        metadata_store_destroy(store);
        mc_auth_close(&auth);
        return 1;
    }
    MC_INFO("metadata server listening on http://%s:%u (%s)", cfg.host,
            (unsigned)mc_http_server_port(srv), mc_auth_mode(&auth));
    mc_service_wait_signal_reload(metadata_config_spec.prog, &auth, NULL, NULL);
    MC_INFO("metadata server shutting down");
    mc_http_server_destroy(srv); /* before the store: handlers and gauges use it */
    metadata_store_destroy(store);
    mc_auth_close(&auth);
    return 0;
}
