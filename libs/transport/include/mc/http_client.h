/* HTTP client over libcurl: pooled easy handles (each keeps its keep-alive
 * connections, so a thread that takes a handle back reuses them), connect and
 * total timeouts, bounded retries, a response size cap, and HTTP status ->
 * ErrorCode. Thread-safe: any number of threads may share one client. */
#ifndef MC_HTTP_CLIENT_H
#define MC_HTTP_CLIENT_H

#include "mc/auth.h"

#include <stddef.h>

typedef struct mc_http_client mc_http_client_t;

typedef struct mc_http_client_opts {
    long connect_timeout_ms; /* default 2000 */
    long timeout_ms;         /* whole request; default 10000 */
    int retries; /* extra attempts on connection failures (0 = none); 2 when opts is NULL */
    long retry_backoff_ms; /* doubled per attempt; default 50 */
    size_t max_response;   /* response body cap; default 256 MiB */
    /* Sent as "Authorization: Bearer <first token>" on every request when not
     * NULL; read per request, so a reload (SIGHUP) takes effect at once. Not
     * owned: it must outlive the client. */
    mc_auth_tokens_t *bearer;
    /* One more "Name: value" header line sent on every request ("" = none),
     * e.g. the metadata server's X-Mooncake-Publisher credential. Copied. */
    char header[MC_AUTH_MAX_TOKEN + 64];
} mc_http_client_opts_t;

typedef struct mc_http_result {
    int status; /* HTTP status, 0 when no response arrived */
    char *body; /* NUL-terminated (the NUL is not counted in len); owned */
    size_t len;
    char content_type[96];
} mc_http_result_t;

mc_http_client_t *mc_http_client_create(const mc_http_client_opts_t *opts);
void mc_http_client_destroy(mc_http_client_t *c);

/* Sends one request. Returns MC_OK when a response arrived (whatever its
 * status; see mc_http_result_err), MC_RPC_FAIL when none did after the
 * retries, MC_BUFFER_OVERFLOW when the response exceeded max_response.
 * Retries: connection failures always; other transport errors only for
 * idempotent methods (GET, HEAD, PUT, DELETE). out is filled either way and
 * must be released with mc_http_result_cleanup. */
int mc_http_request(mc_http_client_t *c, const char *method, const char *url, const void *body,
                    size_t len, const char *content_type, mc_http_result_t *out);
void mc_http_result_cleanup(mc_http_result_t *r);

/* ErrorCode for a result: the body's {"code": n} when it carries a known
 * code, else one derived from the status (MC_OK for 2xx). */
int mc_http_result_err(const mc_http_result_t *r);

/* Percent-encodes s[0..len) for a URL path segment or query value; caller frees. */
char *mc_http_escape_take(const char *s, size_t len);

#endif
