/* The REST API: Mooncake's routes plus binary-safe object and batch routes.
 * Handlers are decode -> store_service call -> encode. docs/store-service.md
 * lists them with curl examples. */
#ifndef MC_STORE_ROUTES_H
#define MC_STORE_ROUTES_H

#include "mc/http_server.h"
#include "store_service.h"

/* What the handlers share; must outlive the server. */
typedef struct store_routes {
    store_service_t *svc;
    uint64_t max_reply; /* value bytes one batch GET reply may carry */
} store_routes_t;

/* Registers every route and the health check. max_body caps value-carrying
 * routes; JSON-only routes get a smaller cap. MC_OK or MC_INVALID_PARAMS. */
int store_routes_register(mc_http_server_t *srv, store_routes_t *rt, size_t max_body);

#endif
