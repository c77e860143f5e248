/* HTTP face of the metadata server: GET|PUT|DELETE /metadata?key=K (Mooncake's
 * protocol, see docs/metadata.md) plus store gauges on the server's /metrics.
 * Each handler is decode -> metadata_store call -> encode. */
#ifndef MC_METADATA_ROUTES_H
#define MC_METADATA_ROUTES_H

#include "mc/http_server.h"
#include "metadata_store.h"

#include <stddef.h>

/* The publisher credential header (docs/metadata.md, "Publishers"). */
#define METADATA_PUBLISHER_HEADER "X-Mooncake-Publisher"

typedef struct metadata_routes {
    metadata_store_t *store;
    /* the service's tokens, or NULL: a caller with the admin token (when an
     * admin file is configured) may replace or delete any key */
    mc_auth_t *auth;
} metadata_routes_t;

/* Registers the /metadata routes (request bodies capped at max_value_bytes)
 * and the store gauges. r (and what it points to) must outlive srv: destroy
 * the server first. Call before mc_http_server_start. Returns MC_OK or a
 * negative code. */
int metadata_routes_register(mc_http_server_t *srv, metadata_routes_t *r, size_t max_value_bytes);

#endif
