/* The REST API: Mooncake's routes plus binary-safe object and batch routes.
 * Handlers are decode -> store_service call -> encode. docs/store-service.md
 * lists them with curl examples. */
#ifndef MC_STORE_ROUTES_H
#define MC_STORE_ROUTES_H

#include "mc/http_server.h"
#include "store_service.h"

#include <stdatomic.h>

/* What the handlers share; must outlive the server.
 *
 * Reply memory: every GET reply (single key or batch) is one malloc'd
 * buffer that lives until the server has sent it, however slowly the client
 * reads. Its bytes are reserved against max_reply_memory before any value
 * is read (the get's sink knows the sizes) and given back by the buffer's
 * free function; a request that cannot reserve is answered 503
 * (UNAVAILABLE_IN_CURRENT_STATUS) at once, it never waits. */
typedef struct store_routes {
    store_service_t *svc;
    uint64_t max_reply;        /* bytes of values one batch GET reply may carry, repeats included */
    uint64_t max_reply_memory; /* reply bytes allocated and not yet sent, service-wide */
    _Atomic uint64_t reply_bytes; /* reserved now (mc_store_reply_reserved_bytes) */
    mc_counter_t *refused;        /* mc_store_reply_refused_total; set by register */
} store_routes_t;

/* Registers every route, the health check and the reply-memory metrics.
 * max_body caps value-carrying routes; JSON-only routes get a smaller cap.
 * MC_OK or MC_INVALID_PARAMS. */
int store_routes_register(mc_http_server_t *srv, store_routes_t *rt, size_t max_body);

#endif
