#include "store_master.h"

#include "mc/errors.h"
#include "mc/http_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct store_master {
    mc_http_client_t *http;
    char base[300]; /* "http://host:port" */
};

store_master_t *store_master_create(const char *addr, long timeout_ms, int retries)
{
    store_master_t *m;
    int n;

    if (!addr || !*addr)
        return NULL;
    m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    n = strncmp(addr, "http://", 7) == 0 ? snprintf(m->base, sizeof(m->base), "%s", addr)
                                         : snprintf(m->base, sizeof(m->base), "http://%s", addr);
    m->http = mc_http_client_create(&(mc_http_client_opts_t){
        .connect_timeout_ms = timeout_ms < 1000 ? timeout_ms : 1000, .timeout_ms = timeout_ms,
        .retries = retries, .retry_backoff_ms = 50, .max_response = 256u << 20});
    if (n < 0 || (size_t)n >= sizeof(m->base) || !m->http) {
        store_master_destroy(m);
        return NULL;
    }
    return m;
}

void store_master_destroy(store_master_t *m)
{
    if (!m)
        return;
    mc_http_client_destroy(m->http);
    free(m);
}

/* POSTs body (adopted: freed here) to route; on MC_OK *out holds a 2xx answer. */
static int post_adopt(store_master_t *m, const char *route, char *body, size_t len,
                     mc_http_result_t *out)
{
    char url[400];
    int rc;

    memset(out, 0, sizeof(*out));
    if (!body)
        return MC_INTERNAL_ERROR;
    snprintf(url, sizeof(url), "%s%s", m->base, route);
    rc = mc_http_request(m->http, "POST", url, body, len, "application/json", out);
    free(body);
    if (rc == MC_OK)
        rc = mc_http_result_err(out);
    if (rc != MC_OK)
        mc_http_result_cleanup(out);
    return rc;
}

int store_master_keys(store_master_t *m, const char *route, const mc_keys_req_t *req,
                      mc_key_result_t *res, cJSON **root_out)
{
    mc_http_result_t r;
    mc_json_err_t e;
    size_t len = 0, n = 0;
    char *body = mc_keys_req_encode_take(req, &len);
    int rc = post_adopt(m, route, body, len, &r);

    *root_out = NULL;
    if (rc != MC_OK)
        return rc;
    rc = mc_results_decode(r.body, r.len, res, req->n, &n, root_out, &e);
    mc_http_result_cleanup(&r);
    if (rc == MC_OK && n != req->n)
        rc = MC_RPC_FAIL; /* the master answers one result per key */
    if (rc != MC_OK) {
        cJSON_Delete(*root_out);
        *root_out = NULL;
        return rc == MC_RPC_FAIL ? rc : MC_RPC_FAIL;
    }
    return MC_OK;
}

/* POSTs body (taken) and hands the 2xx answer to decode; any failure to get
 * or decode an answer is MC_RPC_FAIL, an error answer its own code. */
typedef int (*decode_fn)(const char *body, size_t len, void *out, mc_json_err_t *err);

static int call_small(store_master_t *m, const char *route, char *body, size_t len,
                      decode_fn decode, void *out)
{
    mc_http_result_t r;
    mc_json_err_t e;
    int rc = post_adopt(m, route, body, len, &r);

    if (rc != MC_OK)
        return rc;
    if (decode)
        rc = decode(r.body, r.len, out, &e) == MC_OK ? MC_OK : MC_RPC_FAIL;
    mc_http_result_cleanup(&r);
    return rc;
}

static int dec_epoch(const char *b, size_t n, void *out, mc_json_err_t *e)
{
    return mc_mount_reply_decode(b, n, out, e);
}

static int dec_count(const char *b, size_t n, void *out, mc_json_err_t *e)
{
    return mc_count_reply_decode(b, n, out, e);
}

static int dec_ping(const char *b, size_t n, void *out, mc_json_err_t *e)
{
    return mc_ping_reply_decode(b, n, out, e);
}

int store_master_mount(store_master_t *m, const mc_segment_msg_t *seg, uint64_t *epoch)
{
    size_t len = 0;
    char *body = mc_segment_msg_encode_take(seg, &len);
    return call_small(m, "/api/v1/mount_segment", body, len, dec_epoch, epoch);
}

int store_master_unmount(store_master_t *m, mc_uuid_t segment_id, mc_uuid_t client_id)
{
    mc_unmount_req_t u = {.segment_id = segment_id, .client_id = client_id};
    size_t len = 0;
    char *body = mc_unmount_req_encode_take(&u, &len);
    return call_small(m, "/api/v1/unmount_segment", body, len, NULL, NULL);
}

int store_master_ping(store_master_t *m, mc_uuid_t client_id, bool *need_remount)
{
    mc_ping_reply_t reply;
    size_t len = 0;
    char *body = mc_ping_req_encode_take(client_id, &len);
    int rc = call_small(m, "/api/v1/ping", body, len, dec_ping, &reply);

    if (rc == MC_OK)
        *need_remount = reply.need_remount;
    return rc;
}

int store_master_remove_many(store_master_t *m, const char *pattern, bool force,
                             uint64_t *removed)
{
    size_t len = 0;
    char *body = mc_remove_req_encode_take(pattern, force, &len);

    *removed = 0;
    return call_small(m, pattern ? "/api/v1/remove_by_regex" : "/api/v1/remove_all", body, len,
                      dec_count, removed);
}
