/* HTTP server over libmicrohttpd: a route table with path parameters, a body
 * cap, per-request state handled in one place, a thread pool, one JSON error
 * shape, and built-in GET /health and GET /metrics.
 *
 * Handlers are decode -> core call -> encode. They run on a pool thread (the
 * connection's, or the handler pool's for blocking routes), get a
 * fully read request body, and fill an mc_http_resp_t through the reply
 * helpers below; the wrapper sends it and frees everything the request owned.
 * Paths are matched before percent-decoding, so an encoded '/' (%2F) stays
 * inside one path parameter; parameters and query values are then decoded
 * with their lengths kept, so a key with an encoded NUL is seen, not cut. */
#ifndef MC_HTTP_SERVER_H
#define MC_HTTP_SERVER_H

#include "mc/auth.h"
#include "mc/errors.h"
#include "mc/metrics.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MC_HTTP_MAX_PARAMS 4
/* A query with more parameters than this is answered 414 (before MHD parses
 * it: thousands of parameters would exhaust the connection's memory pool and
 * leave the request without any reply). */
#define MC_HTTP_MAX_QUERY_PARAMS 256

typedef struct mc_http_server mc_http_server_t;
typedef struct mc_http_req mc_http_req_t;

typedef struct mc_http_resp {
    int status;
    const char *content_type;
    char *body;  /* [body, body+len) is sent */
    void *owner; /* freed with free_fn after sending (NULL = not owned); body lies in it */
    size_t len;
    void (*free_fn)(void *);
    char headers[512]; /* extra "Name: value\r\n" lines added by mc_http_reply_header */
} mc_http_resp_t;

typedef void (*mc_http_handler_fn)(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx);
/* A health check: returns true when healthy; may write a short detail. */
typedef bool (*mc_http_health_fn)(void *ctx, char *detail, size_t len);

/* Abuse limits (docs/development.md, "HTTP layer"): at most max_connections
 * open at once, at most per_ip_limit of them from one client address (more
 * are closed at accept, without a reply); a request's headers and body must
 * arrive within request_timeout_s of its first byte, plus one second per MiB
 * of body, else the connection is cut; so is one whose client half-closes
 * before its request is complete. The optional cluster listener serves the
 * same routes on its own port, threads and connection cap (no per-address
 * limit), so the cluster's own calls get through while a flood holds the
 * public one. */
typedef struct mc_http_server_opts {
    const char *host;                 /* IPv4/IPv6 literal or "localhost"; default 127.0.0.1 */
    uint16_t port;                    /* 0 = pick a free port (see mc_http_server_port) */
    unsigned threads;                 /* pool size; default 4 */
    size_t max_body;                  /* default request body cap; default 1 MiB */
    unsigned idle_timeout_s;          /* idle keep-alive connections closed after; default 60 */
    mc_metrics_t *metrics;            /* shared registry; NULL = the server makes its own */
    const char *name;                 /* "metadata", "master", ... for log-free diagnostics */
    unsigned max_connections;         /* public listener; default 4096 */
    unsigned per_ip_limit;            /* public listener, per client address; default 256 */
    unsigned request_timeout_s;       /* reading one request (+1 s per MiB of body); default 10 */
    uint16_t cluster_port;            /* the cluster listener's port; 0 = no cluster listener */
    const char *cluster_host;         /* its address; default host */
    unsigned cluster_threads;         /* its pool size; default 1 */
    unsigned cluster_max_connections; /* its connection cap; default 128 */
    unsigned workers; /* handler pool for blocking routes; 0 = none (they run inline) */
} mc_http_server_opts_t;

mc_http_server_t *mc_http_server_create(const mc_http_server_opts_t *opts);
/* Stops (if started) and frees. Safe on NULL. */
void mc_http_server_destroy(mc_http_server_t *srv);

/* pattern: "/metadata", "/api/get/{key}", "/api/v1/objects/{key}"; a last
 * parameter written "{name...}" takes the rest of the path, slashes included.
 * method "*" matches any method. max_body 0 = the server default.
 * Routes are added before start. Returns MC_OK or MC_INVALID_PARAMS. */
int mc_http_server_route(mc_http_server_t *srv, const char *method, const char *pattern,
                         size_t max_body, mc_http_handler_fn fn, void *ctx);
int mc_http_server_add_health(mc_http_server_t *srv, const char *name, mc_http_health_fn fn,
                              void *ctx);

/* ---- authorization ----
 * Every route has an auth level: routes added with mc_http_server_route are
 * MC_AUTH_CLUSTER, /health MC_AUTH_NONE, /metrics MC_AUTH_NONE unless
 * auth.metrics says MC_AUTH_CLUSTER. When an authorizer is set, each request
 * is decided before its body is read: fn(ctx, Authorization header or NULL,
 * level) returns 0 (go on), 401 or 403, answered with the one error shape
 * (code ILLEGAL_CLIENT) and, for 401, "WWW-Authenticate: Bearer". Without
 * an authorizer nothing is checked. Set before start. */
typedef int (*mc_http_authorize_fn)(void *ctx, const char *authorization, mc_auth_level_t level);
typedef struct mc_http_auth {
    mc_http_authorize_fn fn;
    void *ctx;
    bool metrics; /* /metrics needs the cluster level */
} mc_http_auth_t;
void mc_http_server_set_auth(mc_http_server_t *srv, const mc_http_auth_t *auth);
/* Changes the level of a route added earlier (same method and pattern).
 * MC_OK or MC_INVALID_PARAMS when there is no such route. */
int mc_http_server_route_level(mc_http_server_t *srv, const char *method, const char *pattern,
                               mc_auth_level_t level);
/* Marks a route added earlier as blocking: its handler may wait on
 * something slow (a peer, a long match), so with opts.workers > 0 it runs on
 * the handler pool, first come first served, while its connection is
 * suspended; the connection threads go on serving every other connection.
 * Without a pool it runs inline like any route. MC_OK or MC_INVALID_PARAMS
 * when there is no such route. */
int mc_http_server_route_blocking(mc_http_server_t *srv, const char *method, const char *pattern);
/* For a level that depends on the request (a force flag in the body): true
 * when the caller has it; otherwise resp holds the 401/403 reply. */
bool mc_http_req_require(mc_http_req_t *req, mc_http_resp_t *resp, mc_auth_level_t level);

/* Binds and starts the pool. On failure err receives one line (e.g. "bind
 * 127.0.0.1:8080: Address already in use"). */
int mc_http_server_start(mc_http_server_t *srv, mc_errmsg_t *err);
void mc_http_server_stop(mc_http_server_t *srv);
/* The bound port (after start). */
uint16_t mc_http_server_port(const mc_http_server_t *srv);
/* The cluster listener's port after start; 0 when there is none. */
uint16_t mc_http_server_cluster_port(const mc_http_server_t *srv);
mc_metrics_t *mc_http_server_metrics(mc_http_server_t *srv);

/* ---- request accessors ---- */
const char *mc_http_req_method(const mc_http_req_t *req);
const char *mc_http_req_path(const mc_http_req_t *req); /* raw, not decoded */
const char *mc_http_req_route(const mc_http_req_t *req);
const char *mc_http_req_body(const mc_http_req_t *req, size_t *len);
/* Decoded path parameter by name; NULL if absent. *len (optional) gets its length. */
const char *mc_http_req_param(mc_http_req_t *req, const char *name, size_t *len);
/* Decoded query value; NULL if absent or badly escaped. */
const char *mc_http_req_query(mc_http_req_t *req, const char *name, size_t *len);
const char *mc_http_req_header(const mc_http_req_t *req, const char *name);
/* The request's arena (h2o's request pool): n zeroed elements of size bytes
 * (n may be 0), freed when the request ends, after its reply is sent; NULL on
 * overflow or out of memory. A handler allocates its per-key arrays here and
 * returns early without freeing anything. */
void *mc_http_req_alloc(mc_http_req_t *req, size_t n, size_t size);
/* Calls fn(arg) when the request ends (newest first, before the arena is
 * freed): how a decoded message's _cleanup follows the request. Out of
 * memory calls fn(arg) at once and returns MC_INTERNAL_ERROR. */
int mc_http_req_defer(mc_http_req_t *req, void (*fn)(void *), void *arg);
/* The serving server's metrics registry, for handlers' own counters. */
mc_metrics_t *mc_http_req_metrics(const mc_http_req_t *req);

/* ---- in-memory requests (route unit tests) ----
 * Runs one request through routing, the body cap, the handler and the reply
 * layer without a socket (the server need not be started), the way h2o's
 * loopback connection does; the transport itself is tested over real
 * sockets. Not concurrently with mc_http_server_start. Returns MC_OK with the reply in *out (free it with
 * mc_http_captured_cleanup), or an error when the request could not be run. */
typedef struct mc_http_inject {
    const char *method;
    const char *target;         /* raw path, optional ?query (escapes kept) */
    const char *const *headers; /* "Name: value" lines, NULL-terminated; may be NULL */
    const void *body;
    size_t len;
} mc_http_inject_t;

typedef struct mc_http_captured {
    int status;
    char content_type[128];
    char headers[512]; /* the extra "Name: value\r\n" lines */
    char *body;        /* NUL-terminated copy of the body */
    size_t len;
} mc_http_captured_t;

int mc_http_server_inject(mc_http_server_t *srv, const mc_http_inject_t *in,
                          mc_http_captured_t *out);
void mc_http_captured_cleanup(mc_http_captured_t *c);

/* ---- replies (each replaces what an earlier call set) ---- */
/* Takes ownership of obj. */
void mc_http_reply_json(mc_http_resp_t *resp, int status, cJSON *obj);
/* {"error": msg, "code": code}, status from the error table; msg NULL =
 * the code's description from the same table. */
void mc_http_reply_error(mc_http_resp_t *resp, int code, const char *msg);
/* Same body with an explicit HTTP status. */
void mc_http_reply_error_status(mc_http_resp_t *resp, int status, int code, const char *msg);
/* Copies data. */
void mc_http_reply_data(mc_http_resp_t *resp, int status, const char *content_type,
                        const void *data, size_t len);
/* Takes ownership of data; free_fn(data) runs after sending. */
void mc_http_reply_adopt(mc_http_resp_t *resp, int status, const char *content_type, void *data,
                         size_t len, void (*free_fn)(void *));
/* 200 with an encoder's JSON output (adopted, freed with free); body NULL
 * (the encoder ran out of memory) is a 500 error reply instead. */
void mc_http_reply_json_text(mc_http_resp_t *resp, char *body, size_t len);
/* The same for a body that lies inside a larger buffer: [data, data+len)
 * is sent, free_fn(owner) runs after sending. */
void mc_http_reply_adopt_within(mc_http_resp_t *resp, int status, const char *content_type,
                                void *owner, char *data, size_t len, void (*free_fn)(void *));
/* Adds one header; false when it does not fit. */
bool mc_http_reply_header(mc_http_resp_t *resp, const char *name, const char *value);

#endif
