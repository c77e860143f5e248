/* HTTP/JSON routes of the master: decode (libs/common/master_msg) -> core ->
 * encode. docs/master-api.md lists them with examples. */
#ifndef MC_MASTER_ROUTES_H
#define MC_MASTER_ROUTES_H

#include "master_core.h"
#include "mc/http_server.h"

/* The object API (/api/v1/...) on the API port. */
int master_routes_register_api(mc_http_server_t *srv, mc_master_t *core, size_t max_body);
/* Admin reads (/query_key, /get_all_keys, /get_all_segments) and the core's
 * gauges; registered on both ports. */
int master_routes_register_admin(mc_http_server_t *srv, mc_master_t *core);
/* Prometheus gauges computed from mc_master_stats at scrape time. */
int master_routes_register_metrics(mc_metrics_t *metrics, mc_master_t *core);

#endif
