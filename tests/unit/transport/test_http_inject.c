/* mc_http_server_inject: the in-memory request path route unit tests use
 * (routing, parameters, query, headers, body cap, built-ins), no socket. */
#include "mc/errors.h"
#include "mc/http_server.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static mc_http_server_t *srv;

static void echo(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    size_t klen = 0, qlen = 0, blen = 0;
    const char *q = mc_http_req_query(req, "q", &qlen);
    const char *h = mc_http_req_header(req, "X-Test");
    const char *body = mc_http_req_body(req, &blen);
    char out[512];

    (void)mc_http_req_param(req, "key", &klen);
    int n = snprintf(out, sizeof(out), "%s|%zu|%s|%zu|%s|%.*s", mc_http_req_method(req), klen,
                     q ? q : "-", qlen, h ? h : "-", (int)blen, body);
    mc_http_reply_data(resp, 200, "text/plain", out, (size_t)n);
    mc_http_reply_header(resp, "X-Echo", "1");
}

static void silent(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
}

/* Arena: zeroed memory that outlives the handler until the reply is sent,
 * deferred calls run newest first when the request ends. */
static int deferred[4], n_deferred;

static void record(void *arg)
{
    deferred[n_deferred++] = *(int *)arg;
}

static void arena(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    int *a = mc_http_req_alloc(req, 2, sizeof(int)), *b = mc_http_req_alloc(req, 1, sizeof(int));
    char *body = mc_http_req_alloc(req, 6, 1);

    cr_assert(a && b && body && a[0] == 0 && a[1] == 0 && b[0] == 0);
    cr_assert_not_null(mc_http_req_alloc(req, 0, 8), "an empty array is still an array");
    cr_assert_null(mc_http_req_alloc(req, SIZE_MAX / 2, 4), "n * size overflows");
    a[0] = 1;
    b[0] = 2;
    cr_assert_eq(mc_http_req_defer(req, record, a), MC_OK);
    cr_assert_eq(mc_http_req_defer(req, record, b), MC_OK);
    memcpy(body, "arena", 6);
    mc_http_reply_data(resp, 200, "text/plain", body, 5);
}

static void setup(void)
{
    srv = mc_http_server_create(&(mc_http_server_opts_t){.threads = 1});
    cr_assert_not_null(srv);
    cr_assert_eq(mc_http_server_route(srv, "*", "/echo/{key}", 16, echo, NULL), MC_OK);
    cr_assert_eq(mc_http_server_route(srv, "GET", "/silent", 0, silent, NULL), MC_OK);
    cr_assert_eq(mc_http_server_route(srv, "GET", "/arena", 0, arena, NULL), MC_OK);
}

static void teardown(void)
{
    mc_http_server_destroy(srv);
}

TestSuite(inject, .init = setup, .fini = teardown, .timeout = 10);

static mc_http_captured_t run(const char *method, const char *target, const char *body,
                              const char *const *headers)
{
    mc_http_captured_t r;
    mc_http_inject_t in = {.method = method,
                           .target = target,
                           .headers = headers,
                           .body = body,
                           .len = body ? strlen(body) : 0};
    cr_assert_eq(mc_http_server_inject(srv, &in, &r), MC_OK);
    return r;
}

Test(inject, params_query_headers_body)
{
    static const char *const hdrs[] = {"Content-Type: text/plain", "x-test:  yes", NULL};
    mc_http_captured_t r = run("POST", "/echo/a%00b?z=1&q=x%20y&q=2", "hello", hdrs);

    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(r.body, "POST|3|x y|3|yes|hello"); /* %00 kept: length 3 */
    cr_expect_str_eq(r.content_type, "text/plain");
    cr_expect(strstr(r.headers, "X-Echo: 1\r\n") != NULL, "%s", r.headers);
    mc_http_captured_cleanup(&r);
    r = run("GET", "/echo/k?q", NULL, NULL);
    cr_expect_str_eq(r.body, "GET|1||0|-|");
    mc_http_captured_cleanup(&r);
}

Test(inject, refusals_and_builtins)
{
    mc_http_captured_t r = run("GET", "/nothing", NULL, NULL);
    cr_expect_eq(r.status, 404);
    cr_expect(strstr(r.body, "\"code\":-600") != NULL, "%s", r.body);
    mc_http_captured_cleanup(&r);
    r = run("POST", "/silent", NULL, NULL);
    cr_expect_eq(r.status, 405);
    mc_http_captured_cleanup(&r);
    r = run("PUT", "/echo/k", "0123456789abcdefX", NULL); /* 17 > cap 16 */
    cr_expect_eq(r.status, 413);
    mc_http_captured_cleanup(&r);
    r = run("GET", "/silent", NULL, NULL); /* a handler that replies nothing */
    cr_expect_eq(r.status, 500);
    mc_http_captured_cleanup(&r);
    r = run("HEAD", "/silent", NULL, NULL); /* HEAD falls back to GET */
    cr_expect_eq(r.status, 500);
    mc_http_captured_cleanup(&r);
    r = run("GET", "/health", NULL, NULL);
    cr_expect_eq(r.status, 200);
    mc_http_captured_cleanup(&r);
    r = run("GET", "/metrics", NULL, NULL);
    cr_expect(strstr(r.body, "route=\"/echo/{key}\",status=\"413\"") != NULL, "%s", r.body);
    mc_http_captured_cleanup(&r);
}

Test(inject, default_error_text_from_the_table)
{
    mc_http_resp_t resp;
    memset(&resp, 0, sizeof(resp));
    mc_http_reply_error(&resp, MC_OBJECT_NOT_FOUND, NULL);
    cr_expect_eq(resp.status, 404);
    cr_expect(strstr(resp.body, mc_err_desc(MC_OBJECT_NOT_FOUND)) != NULL, "%s", resp.body);
    if (resp.free_fn)
        resp.free_fn(resp.body);
}

Test(inject, arena_outlives_the_handler_and_defers_run_newest_first)
{
    mc_http_captured_t r = run("GET", "/arena", NULL, NULL);

    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "arena");
    cr_assert_eq(n_deferred, 2);
    cr_assert_eq(deferred[0], 2);
    cr_assert_eq(deferred[1], 1);
    mc_http_captured_cleanup(&r);
}
