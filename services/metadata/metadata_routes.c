/* Routes of the metadata server. Success and not-found replies are the plain
 * text bodies Mooncake's server sends (clients and scripts match on them);
 * validation errors use the project's JSON error shape. */
#include "metadata_routes.h"

#include "mc/errors.h"
#include "mc/mtime.h"

#include <stdlib.h>
#include <string.h>

#define TEXT "text/plain; charset=utf-8"

static void reply_text(mc_http_resp_t *resp, int status, const char *text)
{
    mc_http_reply_data(resp, status, TEXT, text, strlen(text));
}

/* The decoded, validated ?key= value; on failure replies 400 and returns NULL.
 * A missing key and a badly percent-encoded one look the same from here. */
static const char *request_key(mc_http_req_t *req, mc_http_resp_t *resp, size_t *len)
{
    const char *key = mc_http_req_query(req, "key", len);
    const char *problem =
        key ? metadata_key_problem(key, *len) : "missing or badly percent-encoded key";

    if (problem) {
        mc_http_reply_error(resp, MC_INVALID_KEY, problem);
        return NULL;
    }
    return key;
}

/* The request's publisher credential (X-Mooncake-Publisher) and whether it
 * proved the admin token; false after replying 400 to a malformed header. */
static bool request_cred(mc_http_req_t *req, mc_http_resp_t *resp, const metadata_routes_t *c,
                         metadata_cred_t *cred)
{
    const char *pub = mc_http_req_header(req, METADATA_PUBLISHER_HEADER);

    *cred = (metadata_cred_t){.now_ms = mc_now_ms()};
    if (pub) {
        cred->pub = pub;
        cred->len = strlen(pub);
        if (metadata_publisher_validate(pub, cred->len) != MC_OK) {
            mc_http_reply_error(resp, MC_INVALID_PARAMS,
                                "bad " METADATA_PUBLISHER_HEADER
                                " header (16 to 256 printable bytes, no spaces)");
            return false;
        }
    }
    /* only a configured admin file counts: without one every cluster member
     * would pass the admin check, and without auth every caller would */
    cred->admin =
        c->auth && c->auth->admin &&
        mc_auth_check(c->auth, mc_http_req_header(req, "Authorization"), MC_AUTH_ADMIN) == 0;
    return true;
}

static void reply_not_publisher(mc_http_resp_t *resp)
{
    mc_http_reply_error_status(resp, 403, MC_ILLEGAL_CLIENT,
                               "key published by another publisher (" METADATA_PUBLISHER_HEADER
                               ")");
}

static void handle_get(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    const metadata_routes_t *c = ctx;
    metadata_value_t *v;
    metadata_cred_t cred;
    size_t klen;
    const char *key = request_key(req, resp, &klen);

    if (!key || !request_cred(req, resp, c, &cred))
        return;
    if (metadata_store_get_as(c->store, key, klen, &cred, &v) != MC_OK) {
        reply_text(resp, 404, "metadata not found");
        return;
    }
    /* Zero-copy: the reference is given back when the response is freed. */
    mc_http_reply_adopt(resp, 200, "application/json", metadata_value_io_data(v),
                        metadata_value_len(v), metadata_value_release_data);
}

static void handle_put(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    const metadata_routes_t *c = ctx;
    metadata_put_result_t res;
    metadata_cred_t cred;
    size_t klen, blen;
    const char *key = request_key(req, resp, &klen);
    const char *body = mc_http_req_body(req, &blen);
    int rc;

    if (!key || !request_cred(req, resp, c, &cred))
        return;
    rc = metadata_store_put_as(c->store, key, klen, body, blen, &cred, &res);
    if (rc == MC_ILLEGAL_CLIENT)
        reply_not_publisher(resp);
    else if (rc == MC_OBJECT_ALREADY_EXISTS)
        mc_http_reply_error_status(resp, 400, rc, "Duplicate rpc_meta key not allowed");
    else if (rc != MC_OK)
        mc_http_reply_error(resp, rc, "cannot store metadata");
    else
        reply_text(resp, 200,
                   res == METADATA_PUT_UNCHANGED ? "metadata unchanged" : "metadata updated");
}

static void handle_delete(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    const metadata_routes_t *c = ctx;
    metadata_cred_t cred;
    size_t klen;
    const char *key = request_key(req, resp, &klen);
    int rc;

    if (!key || !request_cred(req, resp, c, &cred))
        return;
    rc = metadata_store_delete_as(c->store, key, klen, &cred);
    if (rc == MC_ILLEGAL_CLIENT)
        reply_not_publisher(resp);
    else if (rc == MC_OK)
        reply_text(resp, 200, "metadata deleted");
    else
        reply_text(resp, 404, "metadata not found");
}

static double gauge_keys(void *ctx)
{
    metadata_stats_t st;
    metadata_store_stats(ctx, &st);
    return (double)st.keys;
}

static double gauge_key_bytes(void *ctx)
{
    metadata_stats_t st;
    metadata_store_stats(ctx, &st);
    return (double)st.key_bytes;
}

static double gauge_value_bytes(void *ctx)
{
    metadata_stats_t st;
    metadata_store_stats(ctx, &st);
    return (double)st.value_bytes;
}

int metadata_routes_register(mc_http_server_t *srv, metadata_routes_t *c, size_t max_value_bytes)
{
    mc_metrics_t *m = mc_http_server_metrics(srv);
    metadata_store_t *store = c->store;
    int rc;

    if ((rc = mc_http_server_route(srv, "GET", "/metadata", max_value_bytes, handle_get, c)) !=
            MC_OK ||
        (rc = mc_http_server_route(srv, "PUT", "/metadata", max_value_bytes, handle_put, c)) !=
            MC_OK ||
        (rc = mc_http_server_route(srv, "DELETE", "/metadata", max_value_bytes, handle_delete,
                                   c)) != MC_OK)
        return rc;
    if ((rc = mc_metrics_gauge_fn(m, "mc_metadata_keys_stored", "Metadata keys stored", NULL,
                                  gauge_keys, store)) != MC_OK ||
        (rc = mc_metrics_gauge_fn(m, "mc_metadata_bytes_stored",
                                  "Metadata bytes stored (keys and values)", "part=\"key\"",
                                  gauge_key_bytes, store)) != MC_OK ||
        (rc = mc_metrics_gauge_fn(m, "mc_metadata_bytes_stored",
                                  "Metadata bytes stored (keys and values)", "part=\"value\"",
                                  gauge_value_bytes, store)) != MC_OK)
        return rc;
    return MC_OK;
}
