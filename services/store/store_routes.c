#include "store_routes.h"

#include "mc/errors.h"
#include "mc/master_msg.h"
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

static void reply_ok(mc_http_resp_t *resp)
{
    static const char body[] = "{\"status\":\"ok\",\"code\":0}";
    mc_http_reply_data(resp, 200, "application/json", body, sizeof(body) - 1);
}

static void reply_code(mc_http_resp_t *resp, int code)
{
    if (code == MC_OK)
        reply_ok(resp);
    else
        mc_http_reply_error(resp, code, mc_err_desc(code));
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

    store_get_batch(svc, 1, &key, &klen, &v, &code);
    if (code != MC_OK) {
        mc_http_reply_error(resp, code, mc_err_desc(code));
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
    mc_json_err_t e;
    cJSON *o = mc_json_parse_object(body, len, &e);
    int rc = o ? MC_OK : MC_INVALID_PARAMS;

    if (rc == MC_OK && (rc = mc_json_get_key(o, "key", MC_MAX_KEY_LEN, &key, &klen, &e)) ==
                           MC_OK)
        rc = mc_json_get_str(o, "value", true, len, &val, &e);
    if (rc != MC_OK)
        mc_http_reply_error(resp, rc, e.msg);
    else
        do_put(ctx, resp, key, klen, val, strlen(val), NULL);
    cJSON_Delete(o);
}

static void h_get(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    size_t klen;
    const char *key = path_key(req, resp, &klen);
    if (key)
        do_get(ctx, resp, key, klen);
}

static void h_exist(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    size_t klen;
    const char *key = path_key(req, resp, &klen);
    bool exists = false;
    int code = MC_OK;

    if (!key)
        return;
    store_exist_batch(ctx, 1, &key, &klen, &exists, &code);
    if (code == MC_OBJECT_NOT_FOUND)
        code = MC_OK; /* an absent key is an answer, not an error */
    if (code != MC_OK) {
        mc_http_reply_error(resp, code, mc_err_desc(code));
        return;
    }
    mc_http_reply_data(resp, 200, "application/json",
                       exists ? "{\"exists\":true}" : "{\"exists\":false}", exists ? 15 : 16);
}

static void h_remove(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    size_t klen;
    const char *key = path_key(req, resp, &klen);
    if (key)
        do_remove(ctx, resp, key, klen, query_bool(req, "force"));
}

static void h_remove_all(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    uint64_t removed = 0;
    char body[64];
    int rc = store_remove_many(ctx, NULL, query_bool(req, "force"), &removed);

    if (rc != MC_OK) {
        mc_http_reply_error(resp, rc, mc_err_desc(rc));
        return;
    }
    snprintf(body, sizeof(body), "{\"removed\":%llu}", (unsigned long long)removed);
    mc_http_reply_data(resp, 200, "application/json", body, strlen(body));
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
                             mc_http_req_query(req, "soft_pin", NULL), &opts,
                             &what) != MC_OK) {
        mc_http_reply_error(resp, MC_INVALID_PARAMS, what);
        return;
    }
    do_put(ctx, resp, key, klen, body, len, &opts);
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
    store_size_batch(ctx, 1, &key, &klen, &size, &code);
    if (code != MC_OK) {
        mc_http_reply_error(resp, code, mc_err_desc(code));
        return;
    }
    snprintf(num, sizeof(num), "%llu", (unsigned long long)size);
    mc_http_reply_data(resp, 200, "application/octet-stream", NULL, 0);
    mc_http_reply_header(resp, "X-Object-Size", num);
}

/* ---- batch routes: body {"keys": [...]} (the master's keys request) ---- */

typedef struct batch_in {
    mc_keys_req_t kr;
    int *codes;
    mc_key_result_t *res;
} batch_in_t;

static void batch_in_cleanup(batch_in_t *b)
{
    mc_keys_req_cleanup(&b->kr);
    free(b->codes);
    free(b->res);
}

/* Decodes the keys and allocates per-key outputs; on failure replies. */
static bool batch_in_decode(mc_http_req_t *req, mc_http_resp_t *resp, batch_in_t *b)
{
    size_t len = 0;
    const char *body = mc_http_req_body(req, &len);
    mc_json_err_t e;
    int rc = mc_keys_req_decode(body, len, false, &b->kr, &e);

    b->codes = NULL;
    b->res = NULL;
    if (rc != MC_OK) {
        mc_http_reply_error(resp, rc, e.msg);
        return false;
    }
    if (b->kr.n == 0) {
        mc_keys_req_cleanup(&b->kr);
        mc_http_reply_error(resp, MC_INVALID_PARAMS, "no keys");
        return false;
    }
    b->codes = calloc(b->kr.n, sizeof(int));
    b->res = calloc(b->kr.n, sizeof(mc_key_result_t));
    if (!b->codes || !b->res) {
        batch_in_cleanup(b);
        mc_http_reply_error(resp, MC_INTERNAL_ERROR, "out of memory");
        return false;
    }
    return true;
}

static void batch_reply(mc_http_resp_t *resp, batch_in_t *b, unsigned mask)
{
    size_t len = 0;
    char *body;

    for (size_t i = 0; i < b->kr.n; i++)
        b->res[i].code = b->codes[i];
    body = mc_results_encode_take(b->res, b->kr.n, mask, &len);
    if (!body)
        mc_http_reply_error(resp, MC_INTERNAL_ERROR, "out of memory");
    else
        mc_http_reply_adopt(resp, 200, "application/json", body, len, free);
}

static void h_batch_exist(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    batch_in_t b;
    bool *ex;

    if (!batch_in_decode(req, resp, &b))
        return;
    ex = calloc(b.kr.n, sizeof(bool));
    if (!ex) {
        mc_http_reply_error(resp, MC_INTERNAL_ERROR, "out of memory");
    } else {
        store_exist_batch(ctx, b.kr.n, b.kr.keys, b.kr.key_lens, ex, b.codes);
        for (size_t i = 0; i < b.kr.n; i++) {
            if (b.codes[i] == MC_OBJECT_NOT_FOUND)
                b.codes[i] = MC_OK;
            b.res[i].exists = ex[i];
        }
        batch_reply(resp, &b, MC_RES_EXISTS);
    }
    free(ex);
    batch_in_cleanup(&b);
}

static void h_batch_remove(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    batch_in_t b;

    if (!batch_in_decode(req, resp, &b))
        return;
    store_remove_batch(ctx, b.kr.n, b.kr.keys, b.kr.key_lens, b.kr.force, b.codes);
    batch_reply(resp, &b, 0);
    batch_in_cleanup(&b);
}

/* Batch get reply: one JSON line {"results":[{"code","size"}..]}, a '\n',
 * then the values of the keys whose code is 0, back to back, in order. */
static void h_batch_get(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    batch_in_t b;
    store_value_t *v;
    size_t hlen = 0, total;
    char *hdr = NULL, *out = NULL;

    if (!batch_in_decode(req, resp, &b))
        return;
    v = calloc(b.kr.n, sizeof(*v));
    if (v)
        store_get_batch(ctx, b.kr.n, b.kr.keys, b.kr.key_lens, v, b.codes);
    for (size_t i = 0; v && i < b.kr.n; i++) {
        b.res[i].code = b.codes[i];
        b.res[i].size = v[i].size;
    }
    if (v)
        hdr = mc_results_encode_take(b.res, b.kr.n, MC_RES_SIZE, &hlen);
    total = hlen + 1;
    for (size_t i = 0; hdr && i < b.kr.n; i++)
        total += v[i].size;
    if (hdr && (out = malloc(total)) != NULL) {
        size_t off = hlen + 1;
        char num[32];
        memcpy(out, hdr, hlen);
        out[hlen] = '\n';
        for (size_t i = 0; i < b.kr.n; i++) {
            if (v[i].data)
                memcpy(out + off, v[i].data, (size_t)v[i].size);
            off += v[i].size;
        }
        mc_http_reply_adopt(resp, 200, "application/x-mooncake-batch", out, total, free);
        snprintf(num, sizeof(num), "%zu", hlen);
        mc_http_reply_header(resp, "X-Header-Length", num);
    } else {
        mc_http_reply_error(resp, MC_INTERNAL_ERROR, "out of memory");
    }
    for (size_t i = 0; v && i < b.kr.n; i++)
        free(v[i].data);
    free(v);
    free(hdr);
    batch_in_cleanup(&b);
}

static bool health(void *ctx, char *detail, size_t len)
{
    return store_service_healthy(ctx, detail, len);
}

int store_routes_register(mc_http_server_t *srv, store_service_t *svc, size_t max_body)
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
                                 routes[i].big ? max_body : small, routes[i].fn, svc) != MC_OK)
            return MC_INVALID_PARAMS;
    return mc_http_server_add_health(srv, "store", health, svc);
}
