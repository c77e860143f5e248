/* mooncake_store_service: wiring only. */
#include "mc/http_server.h"
#include "mc/log.h"
#include "mc/service.h"
#include "store_config.h"
#include "store_routes.h"
#include "store_service.h"

#include <malloc.h>
#include <stdio.h>

static const char *log_level_of(const void *cfg)
{
    return ((const store_config_t *)cfg)->log_level;
}

static mc_http_server_t *start_rest(const store_config_t *cfg, mc_metrics_t *metrics,
                                    store_routes_t *rt)
{
    mc_errmsg_t err = {"out of memory"};
    mc_http_server_t *rest =
        mc_http_server_create(&(mc_http_server_opts_t){.host = cfg->host,
                                                       .port = (uint16_t)cfg->rest_port,
                                                       .threads = (unsigned)cfg->threads,
                                                       .max_body = cfg->max_body_bytes,
                                                       .metrics = metrics,
                                                       .name = "store"});

    if (!rest || store_routes_register(rest, rt, cfg->max_body_bytes) != 0 ||
        mc_http_server_start(rest, &err) != 0) {
        fprintf(stderr, "mooncake_store_service: REST port: %s\n", err.msg);
        mc_http_server_destroy(rest);
        return NULL;
    }
    return rest;
}

int main(int argc, char **argv)
{
    store_config_t cfg;
    mc_metrics_t *metrics = NULL;
    store_service_t *svc = NULL;
    store_routes_t routes;
    mc_http_server_t *rest = NULL;
    mc_errmsg_t err = {""};
    int rc = mc_service_load_config(&store_config_spec, &cfg, argc, argv, log_level_of);

    if (rc >= 0)
        return rc;
    mc_service_block_signals();
    /* Request bodies and read buffers are 1-64 MiB: keep them in the heap
     * (reused, already faulted in) instead of a fresh mmap per request. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    rc = 1;
    if (!(metrics = mc_metrics_create())) {
        fprintf(stderr, "mooncake_store_service: out of memory\n");
        goto out;
    }
    if (store_service_create(&cfg, metrics, &svc, &err) != 0) {
        fprintf(stderr, "mooncake_store_service: %s\n", err.msg);
        goto out;
    }
    routes = (store_routes_t){.svc = svc, .max_reply = cfg.max_reply_bytes};
    if (!(rest = start_rest(&cfg, metrics, &routes)))
        goto out;
    MC_INFO("store service REST listening on http://%s:%u (data plane %s, master %s)", cfg.host,
            (unsigned)mc_http_server_port(rest), cfg.local_hostname, cfg.master_server_addr);
    mc_service_wait_signal();
    MC_INFO("store service shutting down");
    rc = 0;
out:
    mc_http_server_destroy(rest); /* no request in flight past this point */
    store_service_destroy(svc);
    mc_metrics_destroy(metrics);
    return rc;
}
