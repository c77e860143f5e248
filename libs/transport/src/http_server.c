#include "mc/http_server.h"

#include "http_guard.h"
#include "http_workers.h"
#include "mc/buf.h"
#include "mc/errors.h"
#include "mc/json.h"
#include "mc/mtime.h"
#include "mc/strutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_SEGS 16
#define MAX_HEALTH 8

typedef struct route {
    char method[12];
    char *pattern;
    char *segs[MAX_SEGS]; /* static text, or "{name}" */
    int nsegs;
    bool rest; /* last segment is "{name...}" */
    size_t max_body;
    mc_auth_level_t auth; /* what a caller needs (mc_http_server_set_auth) */
    bool blocking;        /* the handler runs on the worker pool (route_blocking) */
    mc_http_handler_fn fn;
    void *ctx;
    /* request counters of this route by status - 100, filled on first use, so
     * the hot path does not take the registry lock (see count_request) */
    _Atomic(mc_counter_t *) *by_status;
} route_t;

typedef struct health {
    char name[32];
    mc_http_health_fn fn;
    void *ctx;
} health_t;

struct mc_http_server {
    char host[64];
    uint16_t port;
    unsigned threads;
    size_t max_body;
    unsigned idle_timeout_s;
    unsigned max_connections, per_ip_limit, request_timeout_s;
    char cluster_host[64];
    uint16_t cluster_port;
    unsigned cluster_threads, cluster_max_connections;
    struct MHD_Daemon *cluster; /* the cluster listener, NULL when none */
    http_guard_t *guard;        /* request deadlines of both listeners */
    mc_metrics_t *metrics;
    bool own_metrics;
    route_t *routes;
    size_t nroutes, cap;
    health_t health[MAX_HEALTH];
    size_t nhealth;
    struct MHD_Daemon *daemon;
    bool builtins; /* /health and /metrics routes added */
    mc_histogram_t *latency;
    mc_http_auth_t auth; /* fn NULL = no checks */
    unsigned nworkers;   /* handler pool size; 0 = every handler on its connection thread */
    http_workers_t *workers;
};

/* One block of the request's arena: memory (fn == NULL) or a deferred call. */
typedef struct alloc_node {
    struct alloc_node *next;
    void (*fn)(void *);
    void *arg;
    max_align_t data[];
} alloc_node_t;

/* Per-request state: lives from the first access-handler call to the
 * completion callback; the only place request memory is owned. */
struct mc_http_req {
    mc_http_server_t *srv;
    struct MHD_Connection *conn;
    const char *method;
    const char *url;
    const route_t *route;
    const char *pstart[MC_HTTP_MAX_PARAMS]; /* raw spans into url */
    size_t plen[MC_HTTP_MAX_PARAMS];
    int nparams;
    mc_buf_t body; /* capped at max_body */
    size_t max_body;
    int early_status;      /* 400/401/403/404/405/413/414 decided before the body is read */
    const char *early_msg; /* 400: what was wrong with the framing */
    bool unsized;          /* no Content-Length (chunked): the deadline grows as it arrives */
    alloc_node_t *allocs;
    uint64_t t0;
    /* in-memory requests (conn == NULL): raw query and header lines */
    const char *query;
    const char *const *headers;
    /* a blocking route's handler on the worker pool: the connection is
     * suspended from the push until the worker resumes it with resp filled */
    _Atomic int stage; /* REQ_* */
    mc_http_resp_t resp;
};

enum { REQ_READING = 0, REQ_HANDLING = 1, REQ_ANSWERED = 2 };

static const double latency_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                        0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};

static alloc_node_t *req_node(mc_http_req_t *req, size_t n)
{
    alloc_node_t *a = n <= SIZE_MAX - sizeof(*a) ? malloc(sizeof(*a) + n) : NULL;

    if (!a)
        return NULL;
    a->fn = NULL;
    a->next = req->allocs;
    req->allocs = a;
    return a;
}

void *mc_http_req_alloc(mc_http_req_t *req, size_t n, size_t size)
{
    alloc_node_t *a;

    if (size && n > SIZE_MAX / size)
        return NULL;
    if (!(a = req_node(req, n * size)))
        return NULL;
    memset(a->data, 0, n * size);
    return a->data;
}

int mc_http_req_defer(mc_http_req_t *req, void (*fn)(void *), void *arg)
{
    alloc_node_t *a = req_node(req, 0);

    if (!a) {
        fn(arg);
        return MC_INTERNAL_ERROR;
    }
    a->fn = fn;
    a->arg = arg;
    return MC_OK;
}

/* Deferred calls run newest first, so one may use memory allocated before it. */
static void resp_reset(mc_http_resp_t *resp);

static void req_free(mc_http_req_t *req)
{
    alloc_node_t *a, *n;

    resp_reset(&req->resp); /* a pool handler's reply the server stopped before sending */
    for (a = req->allocs; a; a = n) {
        n = a->next;
        if (a->fn)
            a->fn(a->arg);
        free(a);
    }
    mc_buf_cleanup(&req->body);
    free(req);
}

/* ---------------- replies ---------------- */

static void resp_reset(mc_http_resp_t *resp)
{
    if (resp->owner && resp->free_fn)
        resp->free_fn(resp->owner);
    resp->body = NULL;
    resp->owner = NULL;
    resp->len = 0;
    resp->free_fn = NULL;
}

void mc_http_reply_adopt_within(mc_http_resp_t *resp, int status, const char *content_type,
                                void *owner, char *data, size_t len, void (*free_fn)(void *))
{
    resp_reset(resp);
    resp->status = status;
    resp->content_type = content_type;
    resp->body = data;
    resp->owner = owner;
    resp->len = len;
    resp->free_fn = free_fn;
}

void mc_http_reply_adopt(mc_http_resp_t *resp, int status, const char *content_type, void *data,
                         size_t len, void (*free_fn)(void *))
{
    mc_http_reply_adopt_within(resp, status, content_type, data, data, len, free_fn);
}

void mc_http_reply_json_text(mc_http_resp_t *resp, char *body, size_t len)
{
    if (!body)
        mc_http_reply_error(resp, MC_INTERNAL_ERROR, NULL);
    else
        mc_http_reply_adopt(resp, 200, "application/json", body, len, free);
}

void mc_http_reply_data(mc_http_resp_t *resp, int status, const char *content_type,
                        const void *data, size_t len)
{
    char *copy = malloc(len ? len : 1);
    if (!copy) {
        resp_reset(resp);
        resp->status = 500;
        return;
    }
    if (len)
        memcpy(copy, data, len);
    mc_http_reply_adopt(resp, status, content_type, copy, len, free);
}

void mc_http_reply_json(mc_http_resp_t *resp, int status, cJSON *obj)
{
    size_t len = 0;
    char *s = mc_json_print_take(obj, &len);
    if (!s) {
        resp_reset(resp);
        resp->status = 500;
        return;
    }
    mc_http_reply_adopt(resp, status, "application/json", s, len, free);
}

void mc_http_reply_error_status(mc_http_resp_t *resp, int status, int code, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "error", msg ? msg : mc_err_desc(code));
        cJSON_AddNumberToObject(o, "code", code);
    }
    mc_http_reply_json(resp, status, o);
}

void mc_http_reply_error(mc_http_resp_t *resp, int code, const char *msg)
{
    mc_http_reply_error_status(resp, mc_err_http_status(code), code, msg);
}

bool mc_http_reply_header(mc_http_resp_t *resp, const char *name, const char *value)
{
    size_t used = strlen(resp->headers);
    int n = snprintf(resp->headers + used, sizeof(resp->headers) - used, "%s: %s\r\n", name, value);
    if (n < 0 || (size_t)n >= sizeof(resp->headers) - used) {
        resp->headers[used] = '\0';
        return false;
    }
    return true;
}

/* ---------------- routes ---------------- */

mc_http_server_t *mc_http_server_create(const mc_http_server_opts_t *opts)
{
    mc_http_server_t *srv = calloc(1, sizeof(*srv));

    if (!srv)
        return NULL;
    mc_strlcpy(srv->host, opts && opts->host && *opts->host ? opts->host : "127.0.0.1",
               sizeof(srv->host));
    srv->port = opts ? opts->port : 0;
    srv->threads = opts && opts->threads ? opts->threads : 4;
    srv->max_body = opts && opts->max_body ? opts->max_body : (1u << 20);
    srv->idle_timeout_s = opts && opts->idle_timeout_s ? opts->idle_timeout_s : 60;
    srv->max_connections = opts && opts->max_connections ? opts->max_connections : 4096;
    srv->per_ip_limit = opts && opts->per_ip_limit ? opts->per_ip_limit : 256;
    srv->request_timeout_s = opts && opts->request_timeout_s ? opts->request_timeout_s : 10;
    srv->nworkers = opts ? opts->workers : 0;
    srv->cluster_port = opts ? opts->cluster_port : 0;
    mc_strlcpy(srv->cluster_host,
               opts && opts->cluster_host && *opts->cluster_host ? opts->cluster_host : srv->host,
               sizeof(srv->cluster_host));
    srv->cluster_threads = opts && opts->cluster_threads ? opts->cluster_threads : 1;
    srv->cluster_max_connections =
        opts && opts->cluster_max_connections ? opts->cluster_max_connections : 128;
    srv->metrics = opts ? opts->metrics : NULL;
    if (!srv->metrics) {
        srv->metrics = mc_metrics_create();
        srv->own_metrics = true;
    }
    if (!srv->metrics) {
        free(srv);
        return NULL;
    }
    srv->latency = mc_metrics_histogram(srv->metrics, "mc_http_request_duration_seconds",
                                        "HTTP request handling time", NULL, latency_bounds,
                                        sizeof(latency_bounds) / sizeof(latency_bounds[0]));
    return srv;
}

static void route_cleanup(route_t *r)
{
    for (int i = 0; i < r->nsegs; i++)
        free(r->segs[i]);
    free(r->pattern);
    free(r->by_status);
}

void mc_http_server_destroy(mc_http_server_t *srv)
{
    if (!srv)
        return;
    mc_http_server_stop(srv);
    for (size_t i = 0; i < srv->nroutes; i++)
        route_cleanup(&srv->routes[i]);
    free(srv->routes);
    if (srv->own_metrics)
        mc_metrics_destroy(srv->metrics);
    free(srv);
}

static bool is_param(const char *seg)
{
    size_t n = strlen(seg);
    return n >= 3 && seg[0] == '{' && seg[n - 1] == '}';
}

int mc_http_server_route(mc_http_server_t *srv, const char *method, const char *pattern,
                         size_t max_body, mc_http_handler_fn fn, void *ctx)
{
    route_t r;
    const char *p;
    int nparams = 0;

    if (!method || !pattern || pattern[0] != '/' || !fn || strlen(method) >= sizeof(r.method))
        return MC_INVALID_PARAMS;
    memset(&r, 0, sizeof(r));
    mc_strlcpy(r.method, method, sizeof(r.method));
    r.pattern = strdup(pattern);
    r.max_body = max_body ? max_body : srv->max_body;
    r.auth = MC_AUTH_CLUSTER;
    r.fn = fn;
    r.ctx = ctx;
    r.by_status = calloc(500, sizeof(*r.by_status));
    if (!r.pattern || !r.by_status) {
        route_cleanup(&r);
        return MC_INTERNAL_ERROR;
    }
    for (p = pattern + 1; *p;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        char *seg;
        if (r.nsegs == MAX_SEGS || r.rest)
            goto bad;
        seg = strndup(p, len);
        if (!seg)
            goto bad;
        r.segs[r.nsegs++] = seg;
        if (is_param(seg)) {
            if (++nparams > MC_HTTP_MAX_PARAMS)
                goto bad;
            if (len > 5 && strcmp(seg + len - 4, "...}") == 0)
                r.rest = true;
        }
        p += len;
        if (*p == '/')
            p++;
    }
    if (srv->nroutes == srv->cap) {
        size_t ncap = srv->cap ? srv->cap * 2 : 16;
        route_t *nr = realloc(srv->routes, ncap * sizeof(*nr));
        if (!nr)
            goto bad;
        srv->routes = nr;
        srv->cap = ncap;
    }
    srv->routes[srv->nroutes++] = r;
    return MC_OK;
bad:
    route_cleanup(&r);
    return MC_INVALID_PARAMS;
}

int mc_http_server_add_health(mc_http_server_t *srv, const char *name, mc_http_health_fn fn,
                              void *ctx)
{
    if (srv->nhealth == MAX_HEALTH || !fn)
        return MC_INVALID_PARAMS;
    mc_strlcpy(srv->health[srv->nhealth].name, name, sizeof(srv->health[0].name));
    srv->health[srv->nhealth].fn = fn;
    srv->health[srv->nhealth].ctx = ctx;
    srv->nhealth++;
    return MC_OK;
}

void mc_http_server_set_auth(mc_http_server_t *srv, const mc_http_auth_t *auth)
{
    srv->auth = auth ? *auth : (mc_http_auth_t){0};
    if (srv->builtins) /* else add_builtins sets it */
        mc_http_server_route_level(srv, "GET", "/metrics",
                                   srv->auth.metrics ? MC_AUTH_CLUSTER : MC_AUTH_NONE);
}

int mc_http_server_route_blocking(mc_http_server_t *srv, const char *method, const char *pattern)
{
    for (size_t i = 0; i < srv->nroutes; i++) {
        route_t *r = &srv->routes[i];
        if (strcmp(r->method, method) == 0 && strcmp(r->pattern, pattern) == 0) {
            r->blocking = true;
            return MC_OK;
        }
    }
    return MC_INVALID_PARAMS;
}

int mc_http_server_route_level(mc_http_server_t *srv, const char *method, const char *pattern,
                               mc_auth_level_t level)
{
    for (size_t i = 0; i < srv->nroutes; i++) {
        route_t *r = &srv->routes[i];
        if (strcmp(r->method, method) == 0 && strcmp(r->pattern, pattern) == 0) {
            r->auth = level;
            return MC_OK;
        }
    }
    return MC_INVALID_PARAMS;
}

/* 0, or the 401/403 the server's authorizer gives this request at level. */
static int auth_status(const mc_http_req_t *req, mc_auth_level_t level)
{
    const mc_http_server_t *srv = req->srv;

    if (!srv->auth.fn || level == MC_AUTH_NONE)
        return 0;
    return srv->auth.fn(srv->auth.ctx, mc_http_req_header(req, "Authorization"), level);
}

/* Decides a matched route before its body is read: a refused caller learns
 * nothing past the route's existence (not even the body cap). */
static void auth_early(mc_http_req_t *req)
{
    int st;

    if (!req->route || (req->early_status && req->early_status != 413))
        return;
    if ((st = auth_status(req, req->route->auth)) != 0)
        req->early_status = st == 403 ? 403 : 401;
}

static void reply_refused(mc_http_resp_t *resp, int status)
{
    if (status == 403) {
        mc_http_reply_error_status(resp, 403, MC_ILLEGAL_CLIENT, "this call needs the admin token");
        return;
    }
    mc_http_reply_error_status(resp, 401, MC_ILLEGAL_CLIENT,
                               "missing or wrong token (Authorization: Bearer <token>)");
    mc_http_reply_header(resp, "WWW-Authenticate", "Bearer");
}

bool mc_http_req_require(mc_http_req_t *req, mc_http_resp_t *resp, mc_auth_level_t level)
{
    int st = auth_status(req, level);

    if (st == 0)
        return true;
    reply_refused(resp, st == 403 ? 403 : 401);
    return false;
}

/* Matches the raw path against r; fills the request's parameter spans. */
static bool route_match(const route_t *r, const char *path, mc_http_req_t *req)
{
    const char *p = path;
    int np = 0;

    if (*p != '/')
        return false;
    p++;
    for (int i = 0; i < r->nsegs; i++) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        const char *seg = r->segs[i];
        if (is_param(seg)) {
            if (r->rest && i == r->nsegs - 1)
                len = strlen(p);
            if (len == 0)
                return false;
            if (req) {
                req->pstart[np] = p;
                req->plen[np] = len;
            }
            np++;
        } else if (strlen(seg) != len || strncmp(seg, p, len) != 0) {
            return false;
        }
        p += len;
        if (i + 1 < r->nsegs) {
            if (*p != '/')
                return false;
            p++;
        }
    }
    if (*p != '\0')
        return false;
    if (req)
        req->nparams = np;
    return true;
}

static bool method_ok(const route_t *r, const char *method)
{
    return strcmp(r->method, "*") == 0 || strcmp(r->method, method) == 0;
}

/* Picks the route; sets early_status 404/405 when none fits. */
static void select_route(mc_http_req_t *req)
{
    mc_http_server_t *srv = req->srv;
    bool path_seen = false;

    for (int pass = 0; pass < 2 && !req->route; pass++) {
        /* pass 1 lets HEAD fall back to a GET route */
        const char *m = pass == 0 ? req->method : (strcmp(req->method, "HEAD") == 0 ? "GET" : NULL);
        if (!m)
            break;
        for (size_t i = 0; i < srv->nroutes; i++) {
            const route_t *r = &srv->routes[i];
            if (!route_match(r, req->url, NULL))
                continue;
            path_seen = true;
            if (method_ok(r, m)) {
                route_match(r, req->url, req);
                req->route = r;
                break;
            }
        }
    }
    if (!req->route)
        req->early_status = path_seen ? 405 : 404;
}

/* ---------------- request accessors ---------------- */

const char *mc_http_req_method(const mc_http_req_t *req)
{
    return req->method;
}

const char *mc_http_req_path(const mc_http_req_t *req)
{
    return req->url;
}

const char *mc_http_req_route(const mc_http_req_t *req)
{
    return req->route ? req->route->pattern : "unmatched";
}

const char *mc_http_req_body(const mc_http_req_t *req, size_t *len)
{
    if (len)
        *len = req->body.len;
    return req->body.data ? req->body.data : "";
}

static const char *decode_into_req(mc_http_req_t *req, const char *raw, size_t n, size_t *len)
{
    char *out = mc_http_req_alloc(req, n + 1, 1);
    long got;

    if (!out)
        return NULL;
    got = mc_url_decode(raw, n, out, n + 1);
    if (got < 0)
        return NULL;
    if (len)
        *len = (size_t)got;
    return out;
}

const char *mc_http_req_param(mc_http_req_t *req, const char *name, size_t *len)
{
    const route_t *r = req->route;
    int idx = 0;

    if (!r)
        return NULL;
    for (int i = 0; i < r->nsegs; i++) {
        const char *seg = r->segs[i];
        size_t nlen;
        if (!is_param(seg))
            continue;
        nlen = strlen(seg) - 2 - (r->rest && i == r->nsegs - 1 ? 3 : 0);
        if (strlen(name) == nlen && strncmp(seg + 1, name, nlen) == 0)
            return idx < req->nparams ? decode_into_req(req, req->pstart[idx], req->plen[idx], len)
                                      : NULL;
        idx++;
    }
    return NULL;
}

/* The raw value of name in an in-memory request's query string. */
static bool inject_query(const char *q, const char *name, const char **raw, size_t *rawlen)
{
    size_t nlen = strlen(name);

    while (q && *q) {
        size_t span = strcspn(q, "&");
        const char *eq = memchr(q, '=', span);
        size_t klen = eq ? (size_t)(eq - q) : span;
        if (klen == nlen && memcmp(q, name, nlen) == 0) {
            *raw = eq ? eq + 1 : "";
            *rawlen = eq ? span - klen - 1 : 0;
            return true;
        }
        q += span + (q[span] == '&');
    }
    return false;
}

const char *mc_http_req_query(mc_http_req_t *req, const char *name, size_t *len)
{
    const char *raw = NULL;
    size_t rawlen = 0;

    if (!req->conn) {
        if (!inject_query(req->query, name, &raw, &rawlen))
            return NULL;
    } else if (MHD_lookup_connection_value_n(req->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name),
                                             &raw, &rawlen) != MHD_YES) {
        return NULL;
    }
    if (!raw) {
        raw = "";
        rawlen = 0;
    }
    return decode_into_req(req, raw, rawlen, len);
}

const char *mc_http_req_header(const mc_http_req_t *req, const char *name)
{
    size_t nlen = strlen(name);

    if (req->conn)
        return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
    for (const char *const *h = req->headers; h && *h; h++)
        if (strncasecmp(*h, name, nlen) == 0 && (*h)[nlen] == ':')
            return *h + nlen + 1 + strspn(*h + nlen + 1, " ");
    return NULL;
}

mc_metrics_t *mc_http_req_metrics(const mc_http_req_t *req)
{
    return req->srv->metrics;
}

/* ---------------- dispatch ---------------- */

static const char *method_label(const char *m)
{
    static const char *const known[] = {"GET", "PUT", "POST", "DELETE", "HEAD", "PATCH", "OPTIONS"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(m, known[i]) == 0)
            return known[i];
    return "OTHER";
}

static void count_request(mc_http_req_t *req, int status)
{
    const route_t *r = req->route;
    bool cacheable = r && status >= 100 && status < 600 && strcmp(r->method, req->method) == 0;
    mc_counter_t *c = cacheable ? atomic_load(&r->by_status[status - 100]) : NULL;

    if (!c) {
        char labels[256];
        snprintf(labels, sizeof(labels), "method=\"%s\",route=\"%s\",status=\"%d\"",
                 method_label(req->method), mc_http_req_route(req), status);
        c = mc_metrics_counter(req->srv->metrics, "mc_http_requests_total",
                               "HTTP requests by method, route and status", labels);
        if (cacheable && c)
            atomic_store(&r->by_status[status - 100], c);
    }
    mc_counter_add(c, 1);
    mc_histogram_observe(req->srv->latency, (double)(mc_now_ns() - req->t0) / 1e9);
}

static void add_extra_headers(struct MHD_Response *r, char *lines)
{
    char *save = NULL;
    for (char *line = strtok_r(lines, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        MHD_add_response_header(r, line, colon[1] == ' ' ? colon + 2 : colon + 1);
    }
}

static enum MHD_Result send_resp(mc_http_req_t *req, mc_http_resp_t *resp)
{
    struct MHD_Response *r;
    enum MHD_Result ok;

    if (resp->status < 100 || resp->status > 599) {
        mc_http_reply_error(resp, MC_INTERNAL_ERROR, "handler produced no response");
    }
    if (resp->owner && resp->free_fn) {
        r = MHD_create_response_from_buffer_with_free_callback_cls(resp->len, resp->body,
                                                                   resp->free_fn, resp->owner);
        if (r) {
            resp->body = resp->owner = NULL; /* MHD owns it now */
            resp->free_fn = NULL;
        }
    } else {
        static char empty[1]; /* MHD's API takes void *; MUST_COPY never writes it */
        r = MHD_create_response_from_buffer(resp->body ? resp->len : 0,
                                            resp->body ? resp->body : empty, MHD_RESPMEM_MUST_COPY);
    }
    if (!r) {
        resp_reset(resp);
        return MHD_NO;
    }
    if (resp->content_type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
    add_extra_headers(r, resp->headers);
    count_request(req, resp->status);
    ok = MHD_queue_response(req->conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    resp_reset(resp);
    return ok;
}

/* The reply for a request refused before its handler (404/405/413, or 500
 * when its body could not be stored). */
static void early_reply(const mc_http_req_t *req, mc_http_resp_t *resp)
{
    memset(resp, 0, sizeof(*resp));
    switch (req->early_status) {
    case 401:
    case 403: reply_refused(resp, req->early_status); break;
    case 404: mc_http_reply_error_status(resp, 404, MC_INVALID_PARAMS, "no such route"); break;
    case 405: mc_http_reply_error_status(resp, 405, MC_INVALID_PARAMS, "method not allowed"); break;
    case 500: mc_http_reply_error(resp, MC_INTERNAL_ERROR, "out of memory reading the body"); break;
    case 400:
        /* the body's extent is ambiguous: the connection cannot carry another request */
        mc_http_reply_error_status(resp, 400, MC_INVALID_PARAMS, req->early_msg);
        mc_http_reply_header(resp, "Connection", "close");
        break;
    case 414: {
        char msg[96];
        snprintf(msg, sizeof(msg), "query has more than %d parameters", MC_HTTP_MAX_QUERY_PARAMS);
        mc_http_reply_error_status(resp, 414, MC_INVALID_PARAMS, msg);
        break;
    }
    default: {
        char msg[96];
        snprintf(msg, sizeof(msg), "request body larger than %zu bytes", req->max_body);
        mc_http_reply_error_status(resp, 413, MC_INVALID_PARAMS, msg);
        break;
    }
    }
}

static enum MHD_Result send_early(mc_http_req_t *req)
{
    mc_http_resp_t resp;
    early_reply(req, &resp);
    return send_resp(req, &resp);
}

/* Appends to the body: 0, or the early status to answer with (413 over the
 * cap, 500 when memory runs out: an out-of-memory is not a too-large body). */
static int append_body(mc_http_req_t *req, const char *data, size_t n)
{
    switch (mc_buf_append(&req->body, data, n)) {
    case MC_OK: return 0;
    case MC_BUFFER_OVERFLOW: return 413;
    default: return 500;
    }
}

/* cl: the declared Content-Length, NULL when none. */
static mc_http_req_t *req_begin(mc_http_server_t *srv, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *cl)
{
    mc_http_req_t *req = calloc(1, sizeof(*req));
    uint64_t declared;

    if (!req)
        return NULL;
    req->srv = srv;
    req->conn = conn;
    req->url = url;
    req->method = method;
    req->t0 = mc_now_ns();
    select_route(req);
    req->max_body = req->route ? req->route->max_body : srv->max_body;
    mc_buf_init(&req->body, req->max_body);
    if (!req->early_status && cl && mc_parse_u64(cl, &declared) == MC_OK) {
        if (declared > req->max_body) {
            req->early_status = 413;
        } else if (declared > 0) {
            /* one allocation for the whole body; a failure sticks (500) */
            (void)mc_buf_reserve(&req->body, (size_t)declared);
        }
    }
    return req;
}

/* The con_cls on_uri gives a request whose query it cut (too many parameters). */
static char too_many_params;

static size_t count_query_params(const char *q)
{
    size_t n = q && *q ? 1 : 0;

    for (; q && *q; q++)
        n += *q == '&';
    return n;
}

/* MHD_OPTION_URI_LOG_CALLBACK: runs when a request line has arrived, before
 * MHD splits the query into its connection memory pool (thousands of
 * parameters exhaust it, and MHD then cannot even send its own error). A
 * query over MC_HTTP_MAX_QUERY_PARAMS is cut to nothing here, in MHD's own
 * writable read buffer, which MHD hands over for exactly this ("processing
 * the URI before it is parsed"), and the request is answered 414. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    const char *q = strchr(uri, '?');

    http_guard_request_line(conn);
    if (count_query_params(q ? q + 1 : NULL) <= MC_HTTP_MAX_QUERY_PARAMS)
        return NULL;
    ((char *)(uintptr_t)q)[1] = '\0';
    return &too_many_params;
}

typedef struct framing {
    unsigned lengths;   /* Content-Length headers */
    const char *length; /* the first one's value */
    bool differ, chunked;
} framing_t;

static enum MHD_Result framing_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    framing_t *f = cls;

    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        if (f->lengths++ == 0)
            f->length = value;
        else if (strcmp(f->length, value ? value : "") != 0)
            f->differ = true;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        f->chunked = true;
    }
    return MHD_YES;
}

/* NULL when the body's extent is unambiguous, else why not (RFC 9112 6.3:
 * differing Content-Lengths, or one next to Transfer-Encoding, are how
 * requests are smuggled past a proxy that reads them the other way). */
static const char *framing_error(struct MHD_Connection *conn)
{
    framing_t f = {0};

    MHD_get_connection_values(conn, MHD_HEADER_KIND, framing_header, &f);
    if (f.differ)
        return "conflicting Content-Length headers";
    if (f.lengths && f.chunked)
        return "Content-Length together with Transfer-Encoding";
    return NULL;
}

/* The first call of a request: its state, and the replies decided from the
 * headers alone. */
static enum MHD_Result on_request_begin(mc_http_server_t *srv, struct MHD_Connection *conn,
                                        const char *url, const char *method, void **con_cls)
{
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    bool many = *con_cls == &too_many_params;
    mc_http_req_t *req = req_begin(srv, conn, url, method, cl);
    uint64_t declared;

    *con_cls = req;
    if (!req)
        return MHD_NO;
    req->unsized = !cl;
    if (many)
        req->early_status = 414;
    else if ((req->early_msg = framing_error(conn)))
        req->early_status = 400; /* before auth: this reply closes the connection */
    auth_early(req);
    if (req->early_status) {
        http_guard_answered(conn);
        return send_early(req);
    }
    if (cl && mc_parse_u64(cl, &declared) == MC_OK)
        http_guard_body(conn, declared);
    return MHD_YES;
}

/* A worker runs a blocking route's handler; cancelled (the server stops)
 * answers 503 instead. Either way the connection resumes with the reply. */
static void run_job(void *job, bool cancelled)
{
    mc_http_req_t *req = job;

    memset(&req->resp, 0, sizeof(req->resp));
    if (cancelled)
        mc_http_reply_error(&req->resp, MC_UNAVAILABLE_IN_CURRENT_STATUS, "server stopping");
    else
        req->route->fn(req, &req->resp, req->route->ctx);
    atomic_store(&req->stage, REQ_ANSWERED);
    MHD_resume_connection(req->conn);
}

/* Suspends the connection first, then queues the request: a worker that
 * resumes it at once finds it suspended. Refused (stopping), it is answered
 * 503 through the same resume. */
static enum MHD_Result hand_to_worker(mc_http_server_t *srv, mc_http_req_t *req)
{
    atomic_store(&req->stage, REQ_HANDLING);
    MHD_suspend_connection(req->conn);
    if (!http_workers_push(srv->workers, req))
        run_job(req, true);
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    mc_http_server_t *srv = cls;
    mc_http_req_t *req = *con_cls;
    mc_http_resp_t resp;

    if (!req || *con_cls == &too_many_params)
        return on_request_begin(srv, conn, url, method, con_cls);
    if (*upload_data_size) {
        if (!req->early_status)
            req->early_status = append_body(req, upload_data, *upload_data_size);
        if (req->unsized)
            http_guard_body(conn, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (atomic_load(&req->stage) == REQ_ANSWERED) /* back from the worker pool */
        return send_resp(req, &req->resp);
    http_guard_answered(conn);
    if (req->early_status)
        return send_early(req);
    if (req->route->blocking && srv->workers)
        return hand_to_worker(srv, req);
    memset(&resp, 0, sizeof(resp));
    req->route->fn(req, &resp, req->route->ctx);
    return send_resp(req, &resp);
}

static int add_builtins(mc_http_server_t *srv);

int mc_http_server_inject(mc_http_server_t *srv, const mc_http_inject_t *in,
                          mc_http_captured_t *out)
{
    const char *q = in && in->target ? strchr(in->target, '?') : NULL;
    size_t plen = q ? (size_t)(q - in->target) : (in && in->target ? strlen(in->target) : 0);
    char cl[24], *path;
    mc_http_resp_t resp;
    mc_http_req_t *req;

    memset(out, 0, sizeof(*out));
    if (!srv || !in || !in->method || !in->target || (in->len && !in->body))
        return MC_INVALID_PARAMS;
    if (add_builtins(srv) != MC_OK)
        return MC_INTERNAL_ERROR;
    snprintf(cl, sizeof(cl), "%zu", in->len);
    if (!(path = malloc(plen + 1)))
        return MC_INTERNAL_ERROR;
    memcpy(path, in->target, plen);
    path[plen] = '\0';
    req = req_begin(srv, NULL, path, in->method, cl);
    if (!req) {
        free(path);
        return MC_INTERNAL_ERROR;
    }
    req->query = q ? q + 1 : NULL;
    req->headers = in->headers;
    if (count_query_params(req->query) > MC_HTTP_MAX_QUERY_PARAMS)
        req->early_status = 414;
    auth_early(req);
    if (!req->early_status && in->len)
        req->early_status = append_body(req, in->body, in->len);
    if (req->early_status) {
        early_reply(req, &resp);
    } else {
        memset(&resp, 0, sizeof(resp));
        req->route->fn(req, &resp, req->route->ctx);
        if (resp.status < 100 || resp.status > 599)
            mc_http_reply_error(&resp, MC_INTERNAL_ERROR, "handler produced no response");
    }
    count_request(req, resp.status);
    out->status = resp.status;
    snprintf(out->content_type, sizeof(out->content_type), "%s",
             resp.content_type ? resp.content_type : "");
    memcpy(out->headers, resp.headers, sizeof(out->headers));
    out->body = malloc(resp.len + 1);
    if (out->body) {
        if (resp.len)
            memcpy(out->body, resp.body, resp.len);
        out->body[resp.len] = '\0';
        out->len = resp.len;
    }
    resp_reset(&resp);
    req_free(req);
    free(path);
    return out->body ? MC_OK : MC_INTERNAL_ERROR;
}

void mc_http_captured_cleanup(mc_http_captured_t *c)
{
    if (c) {
        free(c->body);
        memset(c, 0, sizeof(*c));
    }
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    if (*con_cls && *con_cls != &too_many_params)
        req_free(*con_cls);
    *con_cls = NULL;
    http_guard_completed(conn);
}

/* Leaves percent-escapes in place: decoding happens per parameter, with lengths. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    return strlen(s);
}

/* ---------------- built-in routes ---------------- */

static void handle_health(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    mc_http_server_t *srv = ctx;
    cJSON *o = cJSON_CreateObject(), *checks = cJSON_AddObjectToObject(o, "checks");
    bool all = true;

    for (size_t i = 0; i < srv->nhealth; i++) {
        char detail[128] = "";
        bool ok = srv->health[i].fn(srv->health[i].ctx, detail, sizeof(detail));
        all = all && ok;
        cJSON_AddStringToObject(checks, srv->health[i].name,
                                detail[0] ? detail : (ok ? "ok" : "failing"));
    }
    cJSON_AddStringToObject(o, "status", all ? "ok" : "unhealthy");
    mc_http_reply_json(resp, all ? 200 : 503, o);
}

static void handle_metrics(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    mc_http_server_t *srv = ctx;
    size_t len = 0;
    char *text = mc_metrics_render(srv->metrics, &len);

    if (!text) {
        mc_http_reply_error(resp, MC_INTERNAL_ERROR, "out of memory");
        return;
    }
    mc_http_reply_adopt(resp, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, free);
}

static int listen_socket(const char *host, uint16_t port, mc_errmsg_t *err)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int fd, one = 1;
    const char *h = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;

    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, h, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
        ((struct sockaddr_in *)&ss)->sin_family = AF_INET;
        ((struct sockaddr_in *)&ss)->sin_port = htons(port);
        sl = sizeof(struct sockaddr_in);
    } else if (inet_pton(AF_INET6, h, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
        ((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
        sl = sizeof(struct sockaddr_in6);
    } else {
        mc_fail(err, 0, "bad listen address '%s' (want an IP literal)", host);
        return -1;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        mc_fail(err, 0, "socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 1024) != 0) {
        mc_fail(err, 0, "bind %s:%u: %s", host, (unsigned)port, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static uint16_t bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return 0;
    return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
}

/* /health and /metrics go last in the table, after the service's routes. */
static int add_builtins(mc_http_server_t *srv)
{
    if (srv->builtins)
        return MC_OK;
    if (mc_http_server_route(srv, "GET", "/health", 0, handle_health, srv) != MC_OK ||
        mc_http_server_route(srv, "GET", "/metrics", 0, handle_metrics, srv) != MC_OK)
        return MC_INTERNAL_ERROR;
    mc_http_server_route_level(srv, "GET", "/health", MC_AUTH_NONE);
    mc_http_server_route_level(srv, "GET", "/metrics",
                               srv->auth.metrics ? MC_AUTH_CLUSTER : MC_AUTH_NONE);
    srv->builtins = true;
    return MC_OK;
}

/* One listener on host:*port (0 = a free one, written back); per_ip 0 = no
 * per-address limit. On failure err names the listener. */
static struct MHD_Daemon *start_daemon(mc_http_server_t *srv, const char *host, uint16_t *port,
                                       unsigned threads, unsigned cap, unsigned per_ip,
                                       mc_errmsg_t *err)
{
    struct MHD_Daemon *d;
    int fd = listen_socket(host, *port, err);

    if (fd < 0)
        return NULL;
    *port = bound_port(fd);
    d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
            (srv->nworkers ? MHD_ALLOW_SUSPEND_RESUME : 0),
        0, NULL, NULL, on_request, srv, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE,
        threads, MHD_OPTION_CONNECTION_TIMEOUT, srv->idle_timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        cap, MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(256 * 1024), MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_NOTIFY_CONNECTION, http_guard_notify, srv->guard, MHD_OPTION_URI_LOG_CALLBACK,
        on_uri, srv, MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, srv, MHD_OPTION_END);
    if (!d) {
        close(fd);
        mc_fail(err, MC_INTERNAL_ERROR, "cannot start HTTP server on %s:%u", host, (unsigned)*port);
    }
    return d;
}

int mc_http_server_start(mc_http_server_t *srv, mc_errmsg_t *err)
{
    if (srv->daemon)
        return MC_OK;
    if (add_builtins(srv) != MC_OK ||
        !(srv->guard = http_guard_create((uint64_t)srv->request_timeout_s * 1000, srv->metrics)))
        return mc_fail(err, MC_INTERNAL_ERROR, "out of memory");
    if (srv->nworkers && !srv->workers &&
        !(srv->workers = http_workers_create(srv->nworkers, run_job))) {
        http_guard_destroy(srv->guard);
        srv->guard = NULL;
        return mc_fail(err, MC_INTERNAL_ERROR, "cannot start the handler pool");
    }
    srv->daemon = start_daemon(srv, srv->host, &srv->port, srv->threads, srv->max_connections,
                               srv->per_ip_limit, err);
    if (srv->daemon && srv->cluster_port) {
        srv->cluster = start_daemon(srv, srv->cluster_host, &srv->cluster_port,
                                    srv->cluster_threads, srv->cluster_max_connections, 0, err);
        if (!srv->cluster)
            mc_http_server_stop(srv);
    }
    if (!srv->daemon) {
        http_workers_destroy(srv->workers);
        srv->workers = NULL;
        http_guard_destroy(srv->guard);
        srv->guard = NULL;
        return MC_INTERNAL_ERROR;
    }
    return MC_OK;
}

void mc_http_server_stop(mc_http_server_t *srv)
{
    if (!srv)
        return;
    /* first: every suspended connection is resumed (answered or 503), as
     * MHD wants before its daemon stops; later blocking requests get 503 */
    http_workers_stop(srv->workers);
    if (srv->cluster) {
        MHD_stop_daemon(srv->cluster);
        srv->cluster = NULL;
    }
    if (srv->daemon) {
        MHD_stop_daemon(srv->daemon);
        srv->daemon = NULL;
    }
    /* after the daemons: their connections are all unregistered now, and
     * nothing pushes to the pool any more */
    http_workers_destroy(srv->workers);
    srv->workers = NULL;
    http_guard_destroy(srv->guard);
    srv->guard = NULL;
}

uint16_t mc_http_server_port(const mc_http_server_t *srv)
{
    return srv->port;
}

uint16_t mc_http_server_cluster_port(const mc_http_server_t *srv)
{
    return srv->cluster ? srv->cluster_port : 0;
}

mc_metrics_t *mc_http_server_metrics(mc_http_server_t *srv)
{
    return srv->metrics;
}
