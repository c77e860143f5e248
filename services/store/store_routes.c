#include "store_routes.h"

#include "mc/errors.h"
#include "mc/store_msg.h"
#include "mc/strutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_BODY_CAP (4u << 20) /* batch key lists */

/* Reads the {key} path parameter (decoded, length kept) and validates it;
 * on failure replies and returns NULL. */
static const char *path_key(mc_http_req_t *req, mc_http_resp_t *resp, size_t *len)
{
    const char *key = mc_http_req_param(req, "key", len);

    if (!key || mc_key_validate(key, *len, MC_MAX_KEY_LEN) != MC_OK) {
        mc_http_reply_error(resp, MC_INVALID_KEY, "key must be 1..4096 bytes without NUL");
        return NULL;
    }
    return key;
}

/* 200 with the status body, or the code's error reply. */
static void reply_code(mc_http_resp_t *resp, int code)
{
    size_t len = 0;
    char *body;

    if (code != MC_OK) {
        mc_http_reply_error(resp, code, NULL);
        return;
    }
    body = mc_store_status_encode_take(&len);
    mc_http_reply_json_text(resp, body, len);
}

/* Every handler's ctx is the store_routes_t given at registration. */
static store_service_t *svc_of(void *ctx)
{
    return ((const store_routes_t *)ctx)->svc;
}

static bool query_bool(mc_http_req_t *req, const char *name)
{
    const char *v = mc_http_req_query(req, name, NULL);
    bool b = false;
    return v && mc_parse_bool(v, &b) == MC_OK && b;
}

/* ---- single-key operations shared by the Mooncake and /api/v1 routes ---- */

static void do_put(store_service_t *svc, mc_http_resp_t *resp, const char *key, size_t klen,
                   const void *val, uint64_t size, const store_put_opts_t *opts)
{
    int code = MC_OK;
    if (size == 0) {
        mc_http_reply_error(resp, MC_INVALID_PARAMS, "empty value");
        return;
    }
    store_put_batch(svc, 1, &key, &klen, &val, &size, opts, &code);
    reply_code(resp, code);
}

static void do_get(store_service_t *svc, mc_http_resp_t *resp, const char *key, size_t klen)
{
    store_value_t v = {NULL, 0};
    int code = MC_OK;

    store_get_batch_alloc(svc, 1, &key, &klen, &v, &code);
    if (code != MC_OK) {
        mc_http_reply_error(resp, code, NULL);
        return;
    }
    mc_http_reply_adopt(resp, 200, "application/octet-stream", v.data, (size_t)v.size, free);
}

static void do_remove(store_service_t *svc, mc_http_resp_t *resp, const char *key, size_t klen,
                      bool force)
{
    int code = MC_OK;
    store_remove_batch(svc, 1, &key, &klen, force, &code);
    reply_code(resp, code);
}

/* ---- Mooncake's routes ---- */

static void h_put_json(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    size_t len = 0, klen = 0;
    const char *body = mc_http_req_body(req, &len);
    const char *key = NULL, *val = NULL;
    mc_errmsg_t e;
    cJSON *o = mc_json_parse_object(body, len, &e);
    int rc = o ? MC_OK : MC_INVALID_PARAMS;

    if (rc == MC_OK && (rc = mc_json_get_key(o, "key", MC_MAX_KEY_LEN, &key, &klen, &e)) == MC_OK)
        rc = mc_json_get_str(o, "value", true, len, &val, &e);
    if (rc != MC_OK)
        mc_http_reply_error(resp, rc, e.msg);
    else
        do_put(svc_of(ctx), resp, key, klen, val, strlen(val), NULL);
    cJSON_Delete(o);
}

static void h_get(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    size_t klen;
    const char *key = path_key(req, resp, &klen);
    if (key)
        do_get(svc_of(ctx), resp, key, klen);
}

static void h_exist(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    size_t klen;
    const char *key = path_key(req, resp, &klen);
    bool exists = false;
    size_t len = 0;
    char *body;
    int code = MC_OK;

    if (!key)
        return;
    store_exist_batch(svc_of(ctx), 1, &key, &klen, &exists, &code);
    if (code == MC_OBJECT_NOT_FOUND)
        code = MC_OK; /* an absent key is an answer, not an error */
    if (code != MC_OK) {
        mc_http_reply_error(resp, code, NULL);
        return;
    }
    body = mc_store_exists_encode_take(exists, &len);
    mc_http_reply_json_text(resp, body, len);
}

static void h_remove(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    size_t klen;
    const char *key = path_key(req, resp, &klen);
    bool force = query_bool(req, "force");

    if (force && !mc_http_req_require(req, resp, MC_AUTH_ADMIN))
        return; /* forwarded to the master as a force remove: admin only */
    if (key)
        do_remove(svc_of(ctx), resp, key, klen, force);
}

static void h_remove_all(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    uint64_t removed = 0;
    size_t len = 0;
    char *body;
    int rc = store_remove_many(svc_of(ctx), NULL, query_bool(req, "force"), &removed);

    if (rc != MC_OK) {
        mc_http_reply_error(resp, rc, NULL);
        return;
    }
    body = mc_store_removed_encode_take(removed, &len);
    mc_http_reply_json_text(resp, body, len);
}

/* ---- /api/v1/objects/{key}: raw bodies ---- */

static void h_obj_put(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    size_t klen, plen = 0, len = 0;
    const char *key = path_key(req, resp, &klen), *what = "";
    const char *pref = mc_http_req_query(req, "preferred_segment", &plen);
    const void *body = mc_http_req_body(req, &len);
    store_put_opts_t opts;

    if (!key)
        return;
    if (store_put_opts_parse(mc_http_req_query(req, "replica_num", NULL), pref, plen,
                             mc_http_req_query(req, "soft_pin", NULL), &opts, &what) != MC_OK) {
        mc_http_reply_error(resp, MC_INVALID_PARAMS, what);
        return;
    }
    do_put(svc_of(ctx), resp, key, klen, body, len, &opts);
}

/* HEAD: the size in X-Object-Size (and no body), 404 when absent. */
static void h_obj_head(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    size_t klen;
    const char *key = path_key(req, resp, &klen);
    uint64_t size = 0;
    char num[32];
    int code = MC_OK;

    if (!key)
        return;
    store_size_batch(svc_of(ctx), 1, &key, &klen, &size, &code);
    if (code != MC_OK) {
        mc_http_reply_error(resp, code, NULL);
        return;
    }
    snprintf(num, sizeof(num), "%llu", (unsigned long long)size);
    mc_http_reply_data(resp, 200, "application/octet-stream", NULL, 0);
    mc_http_reply_header(resp, "X-Object-Size", num);
}

/* ---- batch routes: body {"keys": [...], "force": bool} (mc/store_msg.h) ---- */

typedef struct batch_in {
    mc_store_batch_req_t kr;
    int *codes;
    mc_store_result_t *res;
} batch_in_t;

static void batch_req_cleanup(void *kr)
{
    mc_store_batch_req_cleanup(kr);
}

/* Decodes the keys and allocates per-key outputs, all owned by the request
 * (freed when it ends); on failure replies and returns NULL. */
static batch_in_t *batch_in_decode(mc_http_req_t *req, mc_http_resp_t *resp)
{
    size_t len = 0;
    const char *body = mc_http_req_body(req, &len);
    batch_in_t *b = mc_http_req_alloc(req, 1, sizeof(*b));
    mc_errmsg_t e;
    int rc;

    if (!b) {
        mc_http_reply_error(resp, MC_INTERNAL_ERROR, NULL);
        return NULL;
    }
    if ((rc = mc_store_batch_req_decode(body, len, &b->kr, &e)) != MC_OK) {
        mc_http_reply_error(resp, rc, e.msg);
        return NULL;
    }
    if (mc_http_req_defer(req, batch_req_cleanup, &b->kr) != MC_OK ||
        !(b->codes = mc_http_req_alloc(req, b->kr.n, sizeof(int))) ||
        !(b->res = mc_http_req_alloc(req, b->kr.n, sizeof(*b->res)))) {
        mc_http_reply_error(resp, MC_INTERNAL_ERROR, NULL);
        return NULL;
    }
    return b;
}

static void batch_reply(mc_http_resp_t *resp, batch_in_t *b, unsigned fields)
{
    size_t len = 0;
    char *body;

    for (size_t i = 0; i < b->kr.n; i++)
        b->res[i].code = b->codes[i];
    body = mc_store_results_encode_take(b->res, b->kr.n, fields, &len);
    mc_http_reply_json_text(resp, body, len);
}

static void h_batch_exist(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    batch_in_t *b = batch_in_decode(req, resp);
    bool *ex;

    if (!b)
        return;
    if (!(ex = mc_http_req_alloc(req, b->kr.n, sizeof(bool)))) {
        mc_http_reply_error(resp, MC_INTERNAL_ERROR, NULL);
        return;
    }
    store_exist_batch(svc_of(ctx), b->kr.n, b->kr.keys, b->kr.key_lens, ex, b->codes);
    for (size_t i = 0; i < b->kr.n; i++) {
        if (b->codes[i] == MC_OBJECT_NOT_FOUND)
            b->codes[i] = MC_OK;
        b->res[i].exists = ex[i];
    }
    batch_reply(resp, b, MC_STORE_F_EXISTS);
}

static void h_batch_remove(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    batch_in_t *b = batch_in_decode(req, resp);

    if (!b || (b->kr.force && !mc_http_req_require(req, resp, MC_AUTH_ADMIN)))
        return;
    store_remove_batch(svc_of(ctx), b->kr.n, b->kr.keys, b->kr.key_lens, b->kr.force, b->codes);
    batch_reply(resp, b, 0);
}

/* Batch get reply: one JSON line {"results":[{"code","size"}..]}, a '\n',
 * then the values of the keys whose code is 0, back to back, in order.
 *
 * One buffer per reply: room for the header line at the front, then each
 * value read straight into its slice. Values past the reply's byte cap are
 * not read (BUFFER_OVERFLOW: ask for them in another batch). After the
 * reads, the slices of failed keys are squeezed out and the header is
 * written right-aligned against the first value, so the body is one
 * contiguous range of the buffer. */
typedef struct get_reply {
    uint64_t cap; /* value bytes one reply may carry */
    size_t room;  /* bytes reserved for the header line and its '\n' */
    char *buf;
    uint64_t *off; /* per key: offset of its slice in buf */
} get_reply_t;

static int place_reply(void *ctx, size_t n, const uint64_t *sizes, void **dst)
{
    get_reply_t *g = ctx;
    uint64_t total = 0;

    for (size_t i = 0; i < n; i++) {
        g->off[i] = UINT64_MAX;
        if (sizes[i] && sizes[i] <= g->cap - total) {
            g->off[i] = g->room + total;
            total += sizes[i];
        }
    }
    g->buf = malloc(g->room + total);
    if (!g->buf)
        return MC_INTERNAL_ERROR;
    for (size_t i = 0; i < n; i++)
        dst[i] = g->off[i] == UINT64_MAX ? NULL : g->buf + g->off[i];
    return MC_OK;
}

static void h_batch_get(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    const store_routes_t *rt = ctx;
    batch_in_t *b = batch_in_decode(req, resp);
    get_reply_t g = {.cap = rt->max_reply};
    store_get_sink_t sink = {place_reply, &g};
    uint64_t *sizes, end;
    size_t hlen = 0;
    char *hdr, num[32];

    if (!b)
        return;
    g.room = MC_STORE_RESULTS_ENVELOPE + b->kr.n * MC_STORE_RESULT_MAX;
    if (!(g.off = mc_http_req_alloc(req, b->kr.n, sizeof(*g.off))) ||
        !(sizes = mc_http_req_alloc(req, b->kr.n, sizeof(*sizes)))) {
        mc_http_reply_error(resp, MC_INTERNAL_ERROR, NULL);
        return;
    }
    store_get_batch(rt->svc, b->kr.n, b->kr.keys, b->kr.key_lens, &sink, sizes, b->codes);
    end = g.room;
    for (size_t i = 0; i < b->kr.n; i++) {
        b->res[i].code = b->codes[i];
        b->res[i].size = sizes[i];
        if (b->codes[i] != MC_OK)
            continue; /* its slice (if any) holds nothing to hand out */
        if (g.off[i] != end)
            memmove(g.buf + end, g.buf + g.off[i], sizes[i]);
        end += sizes[i];
    }
    hdr = mc_store_results_encode_take(b->res, b->kr.n, MC_STORE_F_SIZE, &hlen);
    if (!hdr || hlen + 1 > g.room || (!g.buf && !(g.buf = malloc(g.room)))) {
        mc_http_reply_error(resp, MC_INTERNAL_ERROR, NULL);
        free(g.buf);
        free(hdr);
        return;
    }
    memcpy(g.buf + g.room - hlen - 1, hdr, hlen);
    free(hdr);
    g.buf[g.room - 1] = '\n';
    mc_http_reply_adopt_within(resp, 200, "application/x-mooncake-batch", g.buf,
                               g.buf + g.room - hlen - 1, (size_t)(end - g.room + hlen + 1), free);
    snprintf(num, sizeof(num), "%zu", hlen);
    mc_http_reply_header(resp, "X-Header-Length", num);
}

static bool health(void *ctx, char *detail, size_t len)
{
    return store_service_healthy(ctx, detail, len);
}

int store_routes_register(mc_http_server_t *srv, store_routes_t *rt, size_t max_body)
{
    static const struct {
        const char *method, *path;
        bool big; /* carries a value */
        mc_http_handler_fn fn;
    } routes[] = {
        {"PUT", "/api/put", true, h_put_json},
        {"GET", "/api/get/{key}", false, h_get},
        {"GET", "/api/exist/{key}", false, h_exist},
        {"DELETE", "/api/remove/{key}", false, h_remove},
        {"DELETE", "/api/remove_all", false, h_remove_all},
        {"PUT", "/api/v1/objects/{key}", true, h_obj_put},
        {"GET", "/api/v1/objects/{key}", false, h_get},
        {"HEAD", "/api/v1/objects/{key}", false, h_obj_head},
        {"DELETE", "/api/v1/objects/{key}", false, h_remove},
        {"POST", "/api/v1/batch/exist", false, h_batch_exist},
        {"POST", "/api/v1/batch/get", false, h_batch_get},
        {"POST", "/api/v1/batch/remove", false, h_batch_remove},
    };
    size_t small = max_body < JSON_BODY_CAP ? max_body : JSON_BODY_CAP;

    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (mc_http_server_route(srv, routes[i].method, routes[i].path,
                                 routes[i].big ? max_body : small, routes[i].fn, rt) != MC_OK)
            return MC_INVALID_PARAMS;
    /* forwarded as the master's remove_all: the admin token (force removes
     * are decided in their handlers) */
    if (mc_http_server_route_level(srv, "DELETE", "/api/remove_all", MC_AUTH_ADMIN) != MC_OK)
        return MC_INVALID_PARAMS;
    return mc_http_server_add_health(srv, "store", health, rt->svc);
}
