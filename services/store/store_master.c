#include "store_master.h"

#include "mc/errors.h"
#include "mc/http_client.h"
#include "mc/master_bin.h"
#include "mc/strutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct http_master {
    mc_http_client_t *http;
    mc_http_client_t *admin; /* the admin token's calls; == http when none */
    char base[300];          /* "http://host:port" */
} http_master_t;

static const char *const keys_route[STORE_M_CALLS] = {
    [STORE_M_PUT_START] = MC_ROUTE_PUT_START,
    [STORE_M_PUT_END] = MC_ROUTE_PUT_END,
    [STORE_M_PUT_REVOKE] = MC_ROUTE_PUT_REVOKE,
    [STORE_M_GET_REPLICAS] = MC_ROUTE_GET_REPLICA_LIST,
    [STORE_M_EXIST] = MC_ROUTE_EXIST,
    [STORE_M_GET_SIZE] = MC_ROUTE_GET_SIZE,
    [STORE_M_REMOVE] = MC_ROUTE_REMOVE,
    [STORE_M_RELEASE] = MC_ROUTE_RELEASE,
    [STORE_M_REPLICA_CLEAR] = MC_ROUTE_REPLICA_CLEAR,
    [STORE_M_DROP_BAD] = MC_ROUTE_DROP_BAD_REPLICA,
};

static void http_destroy(void *ctx)
{
    http_master_t *m = ctx;

    if (!m)
        return;
    if (m->admin != m->http)
        mc_http_client_destroy(m->admin);
    mc_http_client_destroy(m->http);
    free(m);
}

/* POSTs body (adopted: freed here, of content type ctype) to route; on
 * MC_OK *out holds a 2xx answer. */
static int post_typed(http_master_t *m, mc_http_client_t *http, const char *route, char *body,
                      size_t len, const char *ctype, mc_http_result_t *out)
{
    char url[400];
    int rc;

    memset(out, 0, sizeof(*out));
    if (!body)
        return MC_INTERNAL_ERROR;
    snprintf(url, sizeof(url), "%s%s", m->base, route);
    rc = mc_http_request(http, "POST", url, body, len, ctype, out);
    free(body);
    if (rc == MC_OK)
        rc = mc_http_result_err(out);
    if (rc != MC_OK)
        mc_http_result_cleanup(out);
    return rc;
}

static int post_adopt(http_master_t *m, mc_http_client_t *http, const char *route, char *body,
                      size_t len, mc_http_result_t *out)
{
    return post_typed(m, http, route, body, len, "application/json", out);
}

static int http_keys(void *ctx, store_master_call_t call, const mc_keys_req_t *req,
                     mc_results_t *out)
{
    mc_http_result_t r;
    mc_errmsg_t e;
    mc_buf_t b;
    size_t len = 0;
    char *body;
    http_master_t *m = ctx;
    /* a force remove needs the admin token */
    mc_http_client_t *http = call == STORE_M_REMOVE && req->force ? m->admin : m->http;
    int rc;

    /* the binary bodies (mc/master_bin.h): no JSON tree at either end */
    mc_buf_init(&b, 0);
    if (mc_keys_req_encode_bin(&b, req) != MC_OK) {
        mc_buf_cleanup(&b);
        return MC_INVALID_PARAMS;
    }
    body = mc_buf_take(&b, &len);
    if ((rc = post_typed(m, http, keys_route[call], body, len, MC_BIN_KEYS_TYPE, &r)) != MC_OK)
        return rc;
    if (strcmp(r.content_type, MC_BIN_RESULTS_TYPE) != 0) {
        rc = mc_results_decode(r.body, r.len, req->n, out, &e);
        mc_http_result_cleanup(&r);
        return rc == MC_OK ? MC_OK : MC_RPC_FAIL;
    }
    rc = mc_results_decode_bin_take(r.body, r.len, req->n, out, &e); /* takes r.body */
    return rc == MC_OK ? MC_OK : MC_RPC_FAIL;
}

/* POSTs body (adopted) and hands the 2xx answer to decode; any failure to
 * get or decode an answer is MC_RPC_FAIL, an error answer its own code. */
typedef int (*decode_fn)(const char *body, size_t len, void *out, mc_errmsg_t *err);

static int call_small(http_master_t *m, mc_http_client_t *http, const char *route, char *body,
                      size_t len, decode_fn decode, void *out)
{
    mc_http_result_t r;
    mc_errmsg_t e;
    int rc = post_adopt(m, http, route, body, len, &r);

    if (rc != MC_OK)
        return rc;
    if (decode)
        rc = decode(r.body, r.len, out, &e) == MC_OK ? MC_OK : MC_RPC_FAIL;
    mc_http_result_cleanup(&r);
    return rc;
}

static int dec_mount(const char *b, size_t n, void *out, mc_errmsg_t *e)
{
    return mc_mount_reply_decode(b, n, out, e);
}

static int dec_count(const char *b, size_t n, void *out, mc_errmsg_t *e)
{
    return mc_count_reply_decode(b, n, out, e);
}

static int dec_ping(const char *b, size_t n, void *out, mc_errmsg_t *e)
{
    return mc_ping_reply_decode(b, n, out, e);
}

static int http_mount(void *ctx, const mc_segment_msg_t *seg, mc_mount_reply_t *out)
{
    size_t len = 0;
    char *body = mc_segment_msg_encode_take(seg, &len);
    return call_small(ctx, ((http_master_t *)ctx)->http, MC_ROUTE_MOUNT_SEGMENT, body, len,
                      dec_mount, out);
}

static int http_unmount(void *ctx, mc_uuid_t segment_id, mc_uuid_t client_id, const char *secret)
{
    mc_unmount_req_t u = {.segment_id = segment_id, .client_id = client_id};
    size_t len = 0;
    char *body;

    mc_strlcpy(u.secret, secret ? secret : "", sizeof(u.secret));
    body = mc_unmount_req_encode_take(&u, &len);
    return call_small(ctx, ((http_master_t *)ctx)->http, MC_ROUTE_UNMOUNT_SEGMENT, body, len, NULL,
                      NULL);
}

static int http_report_failure(void *ctx, mc_uuid_t client_id, mc_uuid_t segment_id, uint64_t epoch)
{
    mc_failure_report_t f = {.client_id = client_id, .segment_id = segment_id, .epoch = epoch};
    size_t len = 0;
    char *body = mc_failure_report_encode_take(&f, &len);
    return call_small(ctx, ((http_master_t *)ctx)->http, MC_ROUTE_REPORT_FAILURE, body, len, NULL,
                      NULL);
}

static int http_ping(void *ctx, mc_uuid_t client_id, bool *need_remount)
{
    mc_ping_reply_t reply;
    size_t len = 0;
    char *body = mc_ping_req_encode_take(client_id, &len);
    int rc =
        call_small(ctx, ((http_master_t *)ctx)->http, MC_ROUTE_PING, body, len, dec_ping, &reply);

    if (rc == MC_OK)
        *need_remount = reply.need_remount;
    return rc;
}

static int http_remove_many(void *ctx, const char *pattern, bool force, uint64_t *removed)
{
    size_t len = 0;
    char *body = mc_remove_req_encode_take(pattern, force, &len);
    return call_small(ctx, ((http_master_t *)ctx)->admin,
                      pattern ? MC_ROUTE_REMOVE_BY_REGEX : MC_ROUTE_REMOVE_ALL, body, len,
                      dec_count, removed);
}

static int http_mount_disk(void *ctx, const mc_disk_msg_t *disk)
{
    size_t len = 0;
    char *body = mc_disk_msg_encode_take(disk, &len);
    return call_small(ctx, ((http_master_t *)ctx)->http, MC_ROUTE_MOUNT_DISK, body, len, NULL,
                      NULL);
}

static int http_ping_disk(void *ctx, mc_uuid_t client_id, const mc_disk_usage_t *disk,
                          bool *need_remount)
{
    mc_ping_reply_t reply;
    size_t len = 0;
    char *body = mc_ping_disk_encode_take(client_id, disk, &len);
    int rc =
        call_small(ctx, ((http_master_t *)ctx)->http, MC_ROUTE_PING, body, len, dec_ping, &reply);

    if (rc == MC_OK)
        *need_remount = reply.need_remount;
    return rc;
}

static int http_disk_items(void *ctx, bool add, const mc_disk_items_req_t *req, mc_results_t *out)
{
    mc_http_result_t r;
    mc_errmsg_t e;
    size_t len = 0;
    char *body = mc_disk_items_encode_take(req, add, &len);
    http_master_t *m = ctx;
    int rc = post_adopt(m, m->http, add ? MC_ROUTE_DISK_REPLICA_ADD : MC_ROUTE_DISK_REPLICA_REMOVE,
                        body, len, &r);

    if (rc != MC_OK)
        return rc;
    rc = mc_results_decode(r.body, r.len, req->n, out, &e);
    mc_http_result_cleanup(&r);
    return rc == MC_OK ? MC_OK : MC_RPC_FAIL;
}

static const store_master_ops_t http_ops = {
    .keys = http_keys,
    .mount = http_mount,
    .unmount = http_unmount,
    .ping = http_ping,
    .remove_many = http_remove_many,
    .report_failure = http_report_failure,
    .destroy = http_destroy,
    .mount_disk = http_mount_disk,
    .ping_disk = http_ping_disk,
    .disk_items = http_disk_items,
};

store_master_t *store_master_http_create(const char *addr, long timeout_ms, int retries,
                                         mc_auth_t *auth)
{
    mc_http_client_opts_t o = {.connect_timeout_ms = timeout_ms < 1000 ? timeout_ms : 1000,
                               .timeout_ms = timeout_ms,
                               .retries = retries,
                               .retry_backoff_ms = 50,
                               .max_response = 256u << 20,
                               .bearer = auth ? auth->cluster : NULL};
    http_master_t *m;
    int n;

    if (!addr || !*addr)
        return NULL;
    m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    n = strncmp(addr, "http://", 7) == 0 ? snprintf(m->base, sizeof(m->base), "%s", addr)
                                         : snprintf(m->base, sizeof(m->base), "http://%s", addr);
    m->http = mc_http_client_create(&o);
    m->admin = m->http;
    if (auth && auth->admin) {
        o.bearer = auth->admin;
        m->admin = mc_http_client_create(&o);
    }
    if (n < 0 || (size_t)n >= sizeof(m->base) || !m->http || !m->admin) {
        http_destroy(m);
        return NULL;
    }
    return store_master_wrap(&http_ops, m);
}

store_master_t *store_master_wrap(const store_master_ops_t *ops, void *ctx)
{
    store_master_t *m = malloc(sizeof(*m));

    if (!m) {
        ops->destroy(ctx);
        return NULL;
    }
    *m = (store_master_t){ops, ctx};
    return m;
}

void store_master_destroy(store_master_t *m)
{
    if (!m)
        return;
    m->ops->destroy(m->ctx);
    free(m);
}

int store_master_keys(store_master_t *m, store_master_call_t call, const mc_keys_req_t *req,
                      mc_results_t *out)
{
    int rc;

    memset(out, 0, sizeof(*out));
    if ((unsigned)call >= STORE_M_CALLS)
        return MC_INVALID_PARAMS;
    rc = m->ops->keys(m->ctx, call, req, out);
    if (rc == MC_OK && out->n != req->n)
        rc = MC_RPC_FAIL; /* the master answers one result per key */
    if (rc != MC_OK)
        mc_results_cleanup(out);
    return rc;
}

int store_master_mount_disk(store_master_t *m, const mc_disk_msg_t *disk)
{
    if (!m->ops->mount_disk)
        return MC_UNAVAILABLE_IN_CURRENT_MODE;
    return m->ops->mount_disk(m->ctx, disk);
}

int store_master_ping_disk(store_master_t *m, mc_uuid_t client_id, const mc_disk_usage_t *disk,
                           bool *need_remount)
{
    if (!disk)
        return store_master_ping(m, client_id, need_remount);
    if (!m->ops->ping_disk)
        return MC_UNAVAILABLE_IN_CURRENT_MODE;
    return m->ops->ping_disk(m->ctx, client_id, disk, need_remount);
}

/* One batch of disk items; codes[i] per item (the master answers one per key). */
static int disk_items(store_master_t *m, bool add, mc_uuid_t client_id, const char *secret,
                      const mc_disk_item_t *items, size_t n, bool create_missing, int *codes)
{
    mc_disk_items_req_t req = {.client_id = client_id,
                               .create_missing = create_missing,
                               .n = n,
                               .items = items,
                               .secret = secret};
    mc_results_t out;
    int rc;

    if (!m->ops->disk_items)
        return MC_UNAVAILABLE_IN_CURRENT_MODE;
    if (n > MC_MSG_MAX_BATCH || (n && (!items || !codes)))
        return MC_INVALID_PARAMS;
    if (n == 0)
        return MC_OK;
    memset(&out, 0, sizeof(out));
    rc = m->ops->disk_items(m->ctx, add, &req, &out);
    if (rc == MC_OK && out.n != n)
        rc = MC_RPC_FAIL;
    for (size_t i = 0; rc == MC_OK && i < n; i++)
        codes[i] = out.res[i].code;
    mc_results_cleanup(&out);
    return rc;
}

int store_master_disk_replica_add(store_master_t *m, mc_uuid_t client_id, const char *secret,
                                  const mc_disk_item_t *items, size_t n, bool create_missing,
                                  int *codes)
{
    return disk_items(m, true, client_id, secret, items, n, create_missing, codes);
}

int store_master_disk_replica_remove(store_master_t *m, mc_uuid_t client_id, const char *secret,
                                     const mc_disk_item_t *items, size_t n, int *codes)
{
    return disk_items(m, false, client_id, secret, items, n, false, codes);
}
