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

/* ---- reply memory: the service-wide budget (store_routes.h) ---- */

/* Reserves n bytes of the budget; false (nothing reserved) when they do not
 * fit. Lock-free: a compare-and-swap on the running total. */
static bool budget_take(store_routes_t *rt, uint64_t n)
{
    uint64_t cur = atomic_load(&rt->reply_bytes);

    do {
        if (n > rt->max_reply_memory || cur > rt->max_reply_memory - n)
            return false;
    } while (!atomic_compare_exchange_weak(&rt->reply_bytes, &cur, cur + n));
    return true;
}

static void budget_give(store_routes_t *rt, uint64_t n)
{
    atomic_fetch_sub(&rt->reply_bytes, n);
}

/* The 503 of a request whose reply would not fit the budget. */
static void reply_refused(store_routes_t *rt, mc_http_resp_t *resp)
{
    char msg[128];

    mc_counter_add(rt->refused, 1);
    snprintf(msg, sizeof(msg),
             "replies waiting to be sent hold the reply memory budget (%llu bytes)",
             (unsigned long long)rt->max_reply_memory);
    mc_http_reply_error(resp, MC_UNAVAILABLE_IN_CURRENT_STATUS, msg);
    mc_http_reply_header(resp, "Retry-After", "1");
}

/* A reply buffer: the accounting in front of the bytes, so the free function
 * the server calls after sending (it gets only this pointer) gives the
 * reservation back. */
typedef struct reply_buf {
    store_routes_t *rt;
    uint64_t reserved; /* bytes of the budget this buffer holds */
    char data[];
} reply_buf_t;

static void reply_buf_free(void *owner)
{
    reply_buf_t *rb = owner;

    if (rb) {
        budget_give(rb->rt, rb->reserved);
        free(rb);
    }
}

/* Hands [data, data+len) of rb to the reply; rb's reservation (reserved
 * bytes, already taken) ends when the server frees it. */
static void reply_buf_send(mc_http_resp_t *resp, reply_buf_t *rb, uint64_t reserved,
                           const char *type, char *data, size_t len)
{
    rb->reserved = reserved;
    mc_http_reply_adopt_within(resp, 200, type, rb, data, len, reply_buf_free);
}

/* ---- single-key operations shared by the Mooncake and /api/v1 routes ---- */

static void do_put(store_service_t *svc, mc_http_resp_t *resp, const char *key, size_t klen,
                   const void *val, uint64_t size, const store_put_opts_t *opts)
{
    store_put_opts_t o = opts ? *opts : (store_put_opts_t){.replica_num = 1};
    int code = MC_OK;

    if (size == 0) {
        mc_http_reply_error(resp, MC_INVALID_PARAMS, "empty value");
        return;
    }
    o.shed_stalled = true; /* a pool thread: never all of them behind one stalled peer */
    store_put_batch(svc, 1, &key, &klen, &val, &size, &o, &code);
    reply_code(resp, code);
}

/* A single-key GET's sink: its value's bytes are reserved, then read into
 * a reply buffer. */
typedef struct get_one {
    store_routes_t *rt;
    reply_buf_t *rb;
    uint64_t reserved;
    bool refused; /* the budget had no room for the value */
} get_one_t;

static int place_one(void *ctx, size_t n, const uint64_t *sizes, void **dst)
{
    get_one_t *g = ctx;

    if (n != 1)
        return MC_INTERNAL_ERROR;
    if (!budget_take(g->rt, sizes[0])) {
        g->refused = true;
        return MC_UNAVAILABLE_IN_CURRENT_STATUS;
    }
    g->reserved = sizes[0];
    if (!(g->rb = malloc(sizeof(*g->rb) + sizes[0])))
        return MC_INTERNAL_ERROR;
    g->rb->rt = g->rt;
    dst[0] = g->rb->data;
    return MC_OK;
}

static void do_get(store_routes_t *rt, mc_http_resp_t *resp, const char *key, size_t klen)
{
    get_one_t g = {rt, NULL, 0, false};
    store_get_sink_t sink = {place_one, &g, true};
    uint64_t size = 0;
    int code = MC_OK;

    store_get_batch(rt->svc, 1, &key, &klen, &sink, &size, &code);
    if (code == MC_OK) {
        reply_buf_send(resp, g.rb, g.reserved, "application/octet-stream", g.rb->data,
                       (size_t)size);
        return;
    }
    free(g.rb);
    budget_give(rt, g.reserved);
    if (g.refused)
        reply_refused(rt, resp);
    else
        mc_http_reply_error(resp, code, NULL);
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
        do_get(ctx, resp, key, klen);
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
 * then the values of the keys whose code is 0, back to back, in request
 * order.
 *
 * A key named more than once is read once: the request's keys are sorted
 * in its arena and store_get_batch sees each distinct key once; its bytes
 * are repeated in the reply, and count against the reply's byte cap every
 * time. One buffer per reply: room for the header line at the front, then
 * one slice per request key laid out in order up to the cap (keys past it
 * are not read: BUFFER_OVERFLOW, ask for them in another batch). A distinct
 * key is read into the slice of its first occurrence. After the reads the
 * slices are packed in order (failed keys squeezed out, repeats copied from
 * the packed first occurrence) and the header is written right-aligned
 * against the first value, so the body is one contiguous range. The whole
 * buffer is reserved against the reply memory budget first. */
typedef struct get_reply {
    store_routes_t *rt;
    size_t n;             /* keys of the request */
    const uint32_t *uniq; /* per request key: its index among the distinct keys */
    uint64_t cap;         /* value bytes the reply may carry */
    size_t room;          /* bytes reserved for the header line and its '\n' */
    uint64_t reserved;    /* budget bytes taken for this reply */
    reply_buf_t *rb;
    uint64_t *off; /* per request key: offset of its slice in rb->data, UINT64_MAX = none */
    bool refused;  /* the budget had no room for the values */
} get_reply_t;

typedef struct key_ref {
    const char *key;
    size_t len;
    uint32_t i; /* request index */
} key_ref_t;

static int key_ref_cmp(const void *a, const void *b)
{
    const key_ref_t *x = a, *y = b;
    int c;

    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    if ((c = memcmp(x->key, y->key, x->len)) != 0)
        return c;
    return x->i < y->i ? -1 : x->i > y->i;
}

static bool same_key(const key_ref_t *a, const key_ref_t *b)
{
    return a->len == b->len && memcmp(a->key, b->key, a->len) == 0;
}

/* Distinct keys of the request in order of first occurrence: keys/lens[0..*m)
 * and uniq[i] (request index -> distinct index), all in the request arena.
 * MC_OK or MC_INTERNAL_ERROR. */
static int dedup_keys(mc_http_req_t *req, const mc_store_batch_req_t *kr, const char ***keys,
                      size_t **lens, uint32_t **uniq, size_t *m)
{
    key_ref_t *ref = mc_http_req_alloc(req, kr->n, sizeof(*ref));
    uint32_t *first = mc_http_req_alloc(req, kr->n, sizeof(*first));

    *keys = mc_http_req_alloc(req, kr->n, sizeof(**keys));
    *lens = mc_http_req_alloc(req, kr->n, sizeof(**lens));
    *uniq = mc_http_req_alloc(req, kr->n, sizeof(**uniq));
    if (!ref || !first || !*keys || !*lens || !*uniq)
        return MC_INTERNAL_ERROR;
    for (size_t i = 0; i < kr->n; i++)
        ref[i] = (key_ref_t){kr->keys[i], kr->key_lens[i], (uint32_t)i};
    qsort(ref, kr->n, sizeof(*ref), key_ref_cmp);
    for (size_t j = 0; j < kr->n; j++) /* each run's first entry is the first occurrence */
        first[ref[j].i] = j > 0 && same_key(&ref[j], &ref[j - 1]) ? first[ref[j - 1].i] : ref[j].i;
    *m = 0;
    for (size_t i = 0; i < kr->n; i++) {
        if (first[i] != i) {
            (*uniq)[i] = (*uniq)[first[i]];
            continue;
        }
        (*keys)[*m] = kr->keys[i];
        (*lens)[*m] = kr->key_lens[i];
        (*uniq)[i] = (uint32_t)(*m)++;
    }
    return MC_OK;
}

/* The sink: sizes and dst are per distinct key. */
static int place_reply(void *ctx, size_t m, const uint64_t *sizes, void **dst)
{
    get_reply_t *g = ctx;
    uint64_t total = 0;

    for (size_t i = 0; i < g->n; i++) {
        uint64_t size = sizes[g->uniq[i]];
        g->off[i] = UINT64_MAX;
        if (size && size <= g->cap - total) {
            g->off[i] = g->room + total;
            total += size;
        }
    }
    if (!budget_take(g->rt, total)) {
        g->refused = true;
        return MC_UNAVAILABLE_IN_CURRENT_STATUS;
    }
    g->reserved += total;
    if (!(g->rb = malloc(sizeof(*g->rb) + g->room + total)))
        return MC_INTERNAL_ERROR;
    g->rb->rt = g->rt;
    for (size_t u = 0; u < m; u++)
        dst[u] = NULL;
    for (size_t i = 0; i < g->n; i++)
        if (g->off[i] != UINT64_MAX && !dst[g->uniq[i]])
            dst[g->uniq[i]] = g->rb->data + g->off[i];
    return MC_OK;
}

/* Per request key: its code and size from its distinct key's, and its value
 * packed at the end of the values so far (see above). Returns the end. */
static uint64_t pack_reply(get_reply_t *g, batch_in_t *b, const int *ucodes, const uint64_t *usizes,
                           uint64_t *pos)
{
    uint64_t end = g->room;

    for (size_t i = 0; i < g->n; i++) {
        uint32_t u = g->uniq[i];
        uint64_t src;
        b->res[i].code = ucodes[u];
        if (ucodes[u] == MC_OK && g->off[i] == UINT64_MAX)
            b->res[i].code = MC_BUFFER_OVERFLOW; /* a repeat past the cap */
        b->res[i].size = b->res[i].code == MC_OK ? usizes[u] : 0;
        if (b->res[i].code != MC_OK)
            continue; /* its slice (if any) holds nothing to hand out */
        src = pos[u] != UINT64_MAX ? pos[u] : g->off[i];
        if (src != end)
            memmove(g->rb->data + end, g->rb->data + src, usizes[u]);
        if (pos[u] == UINT64_MAX)
            pos[u] = end;
        end += usizes[u];
    }
    return end;
}

static void h_batch_get(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    store_routes_t *rt = ctx;
    batch_in_t *b = batch_in_decode(req, resp);
    get_reply_t g = {.rt = rt};
    store_get_sink_t sink = {place_reply, &g, true};
    const char **keys;
    uint32_t *uniq;
    size_t *lens, m = 0, hlen = 0;
    uint64_t *usizes, *pos, end;
    int *ucodes;
    char *hdr = NULL, num[32];

    if (!b)
        return;
    g.n = b->kr.n;
    g.room = MC_STORE_RESULTS_ENVELOPE + b->kr.n * MC_STORE_RESULT_MAX;
    g.cap = rt->max_reply_memory > g.room ? rt->max_reply_memory - g.room : 0; /* could never fit */
    if (rt->max_reply < g.cap)
        g.cap = rt->max_reply;
    if (dedup_keys(req, &b->kr, &keys, &lens, &uniq, &m) != MC_OK ||
        !(g.off = mc_http_req_alloc(req, b->kr.n, sizeof(*g.off))) ||
        !(usizes = mc_http_req_alloc(req, m, sizeof(*usizes))) ||
        !(pos = mc_http_req_alloc(req, m, sizeof(*pos))) ||
        !(ucodes = mc_http_req_alloc(req, m, sizeof(*ucodes)))) {
        mc_http_reply_error(resp, MC_INTERNAL_ERROR, NULL);
        return;
    }
    if (!budget_take(rt, g.room)) { /* full: refused before asking the master */
        reply_refused(rt, resp);
        return;
    }
    g.reserved = g.room;
    g.uniq = uniq;
    store_get_batch(rt->svc, m, keys, lens, &sink, usizes, ucodes);
    if (g.refused)
        goto refused;
    for (size_t u = 0; u < m; u++)
        pos[u] = UINT64_MAX;
    if (!g.rb && (g.rb = malloc(sizeof(*g.rb) + g.room)))
        g.rb->rt = rt;
    end = g.rb ? pack_reply(&g, b, ucodes, usizes, pos) : 0;
    hdr = g.rb ? mc_store_results_encode_take(b->res, b->kr.n, MC_STORE_F_SIZE, &hlen) : NULL;
    if (!hdr || hlen + 1 > g.room) {
        mc_http_reply_error(resp, MC_INTERNAL_ERROR, NULL);
        goto fail;
    }
    memcpy(g.rb->data + g.room - hlen - 1, hdr, hlen);
    free(hdr);
    g.rb->data[g.room - 1] = '\n';
    reply_buf_send(resp, g.rb, g.reserved, "application/x-mooncake-batch",
                   g.rb->data + g.room - hlen - 1, (size_t)(end - g.room + hlen + 1));
    snprintf(num, sizeof(num), "%zu", hlen);
    mc_http_reply_header(resp, "X-Header-Length", num);
    return;
refused:
    reply_refused(rt, resp);
fail:
    free(hdr);
    free(g.rb);
    budget_give(rt, g.reserved);
}

static double reply_bytes_of(void *ctx)
{
    return (double)atomic_load(&((store_routes_t *)ctx)->reply_bytes);
}

/* The reply budget's gauge and refusal counter, in the server's registry. */
static int reply_metrics_register(mc_http_server_t *srv, store_routes_t *rt)
{
    mc_metrics_t *m = mc_http_server_metrics(srv);

    rt->refused = mc_metrics_counter(m, "mc_store_reply_refused_total",
                                     "GET requests refused (503) because their reply did not "
                                     "fit the reply memory budget",
                                     NULL);
    if (!rt->refused ||
        mc_metrics_gauge_fn(m, "mc_store_reply_reserved_bytes",
                            "Bytes of GET replies allocated and not yet sent (reserved against "
                            "--max_reply_memory)",
                            NULL, reply_bytes_of, rt) != MC_OK)
        return MC_INVALID_PARAMS;
    return MC_OK;
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

    if (reply_metrics_register(srv, rt) != MC_OK)
        return MC_INVALID_PARAMS;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        /* every route may wait on the master or a peer: on the handler pool */
        if (mc_http_server_route(srv, routes[i].method, routes[i].path,
                                 routes[i].big ? max_body : small, routes[i].fn, rt) != MC_OK ||
            mc_http_server_route_blocking(srv, routes[i].method, routes[i].path) != MC_OK)
            return MC_INVALID_PARAMS;
    /* forwarded as the master's remove_all: the admin token (force removes
     * are decided in their handlers) */
    if (mc_http_server_route_level(srv, "DELETE", "/api/remove_all", MC_AUTH_ADMIN) != MC_OK)
        return MC_INVALID_PARAMS;
    return mc_http_server_add_health(srv, "store", health, rt->svc);
}
