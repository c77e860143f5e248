/* HTTP face of the metadata server: GET|PUT|DELETE /metadata?key=K (Mooncake's
 * protocol, see docs/metadata.md) plus store gauges on the server's /metrics.
 * Each handler is decode -> metadata_store call -> encode. */
#ifndef MC_METADATA_ROUTES_H
#define MC_METADATA_ROUTES_H

#include "mc/http_server.h"
#include "metadata_store.h"

#include <stddef.h>

/* Registers the /metadata routes (request bodies capped at max_value_bytes)
 * and the store gauges. store must outlive srv: destroy the server first.
 * Call before mc_http_server_start. Returns MC_OK or a negative code. */
int metadata_routes_register(mc_http_server_t *srv, metadata_store_t *store,
                             size_t max_value_bytes);

#endif
