/* mooncake_master: wiring only. */
#include "master_bg.h"
#include "master_config.h"
#include "master_routes.h"
#include "master_tasks.h"
#include "mc/http_server.h"
#include "mc/log.h"
#include "mc/mtime.h"
#include "mc/service.h"
#include "mc/service_auth.h"

#include <stdio.h>
#include <string.h>

static const char *log_level_of(const void *cfg)
{
    return ((const master_config_t *)cfg)->log_level;
}

static int core_create(const master_config_t *cfg, mc_master_t **out)
{
    mc_master_cfg_t c;
    mc_master_cfg_defaults(&c);
    c.lease_ttl_ms = cfg->default_kv_lease_ttl;
    c.soft_pin_ttl_ms = cfg->default_kv_soft_pin_ttl;
    c.allow_evict_soft_pinned = cfg->allow_evict_soft_pinned_objects;
    c.eviction_ratio = cfg->eviction_ratio;
    c.eviction_high_watermark = cfg->eviction_high_watermark_ratio;
    c.min_residency_ms = cfg->min_residency_ms;
    c.client_ttl_ms = cfg->client_ttl * 1000;
    c.hold_ttl_ms = cfg->hold_ttl_ms;
    c.max_segment_size = cfg->max_segment_size;
    c.max_holds_per_object = (uint32_t)cfg->max_holds_per_object;
    c.max_holds_per_client = (uint32_t)cfg->max_holds_per_client;
    c.enable_offload = cfg->enable_offload;
    c.offload_on_evict = cfg->offload_on_evict;
    c.max_tasks_per_owner = (uint32_t)cfg->max_ssd_tasks_per_owner;
    c.put_discard_timeout_ms = cfg->put_start_discard_timeout_sec * 1000;
    c.put_release_timeout_ms = cfg->put_start_release_timeout_sec * 1000;
    c.strategy = strcmp(cfg->allocation_strategy, "free_ratio_first") == 0
                     ? MC_MASTER_STRATEGY_FREE_RATIO_FIRST
                     : MC_MASTER_STRATEGY_RANDOM;
    c.view_version = mc_wall_ms(); /* changes every run: clients see a restart */
    c.seed = mc_now_ns();
    return mc_master_create(&c, out);
}

static mc_http_server_t *start_server(const master_config_t *cfg, uint64_t port,
                                      mc_metrics_t *metrics, mc_master_t *core, mc_auth_t *auth,
                                      bool api)
{
    const char *what = api ? "api" : "metrics";
    mc_errmsg_t err = {"out of memory"};
    mc_http_server_t *srv = mc_http_server_create(
        &(mc_http_server_opts_t){.host = cfg->rpc_address,
                                 .port = (uint16_t)port,
                                 .threads = (unsigned)cfg->max_threads,
                                 .workers = api ? 1 : 0, /* the cluster-wide removes */
                                 .max_body = cfg->max_request_bytes,
                                 .metrics = metrics,
                                 .name = what,
                                 .cluster_port = api ? (uint16_t)cfg->cluster_port : 0});

    if (srv)
        mc_http_server_set_auth(
            srv, &(mc_http_auth_t){mc_auth_authorize, auth, cfg->metrics_require_auth});
    if (!srv ||
        (api ? master_routes_register_api(srv, core, cfg->max_request_bytes)
             : master_routes_register_admin(srv, core)) != 0 ||
        mc_http_server_start(srv, &err) != 0) {
        fprintf(stderr, "mooncake_master: %s port: %s\n", what, err.msg);
        mc_http_server_destroy(srv);
        return NULL;
    }
    MC_INFO("master %s listening on http://%s:%u (%s)", what, cfg->rpc_address,
            (unsigned)mc_http_server_port(srv), mc_auth_mode(auth));
    if (api && cfg->cluster_port)
        MC_INFO("master cluster listener on http://%s:%u", cfg->rpc_address,
                (unsigned)mc_http_server_cluster_port(srv));
    return srv;
}

int main(int argc, char **argv)
{
    master_config_t cfg;
    mc_master_t *core = NULL;
    mc_metrics_t *metrics = NULL;
    mc_http_server_t *api = NULL, *admin = NULL;
    master_bg_t *bg = NULL;
    master_tasks_t *tasks = NULL;
    mc_auth_t auth = {NULL, NULL};
    int rc = mc_service_load_config(&master_config_spec, &cfg, argc, argv, log_level_of);

    if (rc >= 0)
        return rc;
    mc_service_block_signals();
    if ((rc = mc_service_auth_setup(master_config_spec.prog, &auth, cfg.auth_token_file,
                                    cfg.admin_token_file, cfg.insecure_allow_remote,
                                    &(mc_listen_t){"rpc_address", cfg.rpc_address}, 1)) >= 0)
        return rc;
    rc = 1;
    if (core_create(&cfg, &core) != 0 || !(metrics = mc_metrics_create()) ||
        master_routes_register_metrics(metrics, core) != 0) {
        fprintf(stderr, "mooncake_master: cannot create the core (bad options or no memory)\n");
        goto out;
    }
    /* admin first: once the API port answers /health, both are up */
    if (!(admin = start_server(&cfg, cfg.metrics_port, metrics, core, &auth, false)) ||
        !(api = start_server(&cfg, cfg.rpc_port, metrics, core, &auth, true)))
        goto out;
    if (!(bg = master_bg_start(core)) ||
        !(tasks = master_tasks_start(core, metrics, &auth, (long)cfg.ssd_task_timeout_ms,
                                     (unsigned)cfg.ssd_task_attempts))) {
        fprintf(stderr, "mooncake_master: cannot start the background threads\n");
        goto out;
    }
    mc_service_wait_signal_reload(master_config_spec.prog, &auth, NULL, NULL);
    MC_INFO("master shutting down");
    rc = 0;
out:
    master_tasks_stop(tasks);
    master_bg_stop(bg);
    mc_http_server_destroy(api);
    mc_http_server_destroy(admin);
    mc_metrics_destroy(metrics);
    mc_master_destroy(core);
    mc_auth_close(&auth);
    return rc;
}
