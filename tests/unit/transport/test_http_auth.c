/* The HTTP server's authorization hook (route levels, the authorizer, the
 * early 401/403, mc_http_req_require) and the client's bearer option. */
#include "mc/auth.h"
#include "mc/errors.h"
#include "mc/http_client.h"
#include "mc/http_server.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CLUSTER "cccccccccccccccccccccccccccccccc"
#define ADMIN "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static int handler_runs;

static void ok(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    handler_runs++;
    mc_http_reply_data(resp, 200, "text/plain", "ok", 2);
}

/* Needs the admin level only when ?force=1 (the master's force remove). */
static void maybe_admin(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    if (mc_http_req_query(req, "force", NULL) && !mc_http_req_require(req, resp, MC_AUTH_ADMIN))
        return;
    ok(req, resp, ctx);
}

/* A fixed authorizer: the header must be exactly "Bearer <token>". */
static int fake_auth(void *ctx, const char *h, mc_auth_level_t level)
{
    (void)ctx;
    if (!h)
        return 401;
    if (strcmp(h, "Bearer " ADMIN) == 0)
        return 0;
    if (strcmp(h, "Bearer " CLUSTER) == 0)
        return level == MC_AUTH_ADMIN ? 403 : 0;
    return 401;
}

static int run(mc_http_server_t *srv, const char *method, const char *target, const char *auth,
               mc_http_captured_t *out)
{
    char line[128];
    const char *headers[] = {line, NULL};

    snprintf(line, sizeof(line), "Authorization: %s", auth ? auth : "");
    return mc_http_server_inject(
        srv, &(mc_http_inject_t){method, target, auth ? headers : NULL, "{}", 2}, out);
}

static int status_of(mc_http_server_t *srv, const char *method, const char *target,
                     const char *auth)
{
    mc_http_captured_t c;
    int st;

    cr_assert_eq(run(srv, method, target, auth, &c), MC_OK);
    st = c.status;
    mc_http_captured_cleanup(&c);
    return st;
}

static mc_http_server_t *make(bool metrics)
{
    mc_http_server_t *srv = mc_http_server_create(NULL);

    cr_assert_not_null(srv);
    cr_assert_eq(mc_http_server_route(srv, "POST", "/api/x", 0, ok, NULL), MC_OK);
    cr_assert_eq(mc_http_server_route(srv, "POST", "/api/all", 0, ok, NULL), MC_OK);
    cr_assert_eq(mc_http_server_route(srv, "POST", "/api/rm", 0, maybe_admin, NULL), MC_OK);
    cr_assert_eq(mc_http_server_route_level(srv, "POST", "/api/all", MC_AUTH_ADMIN), MC_OK);
    cr_assert_eq(mc_http_server_route_level(srv, "POST", "/nope", MC_AUTH_ADMIN),
                 MC_INVALID_PARAMS);
    mc_http_server_set_auth(srv, &(mc_http_auth_t){fake_auth, NULL, metrics});
    return srv;
}

Test(http_auth, levels_and_replies)
{
    mc_http_server_t *srv = make(false);
    mc_http_captured_t c;

    handler_runs = 0;
    cr_assert_eq(run(srv, "POST", "/api/x", NULL, &c), MC_OK);
    cr_expect_eq(c.status, 401);
    cr_expect(strstr(c.body, "\"code\":-601"), "%s", c.body);
    cr_expect(strstr(c.headers, "WWW-Authenticate: Bearer"), "%s", c.headers);
    mc_http_captured_cleanup(&c);
    cr_expect_eq(status_of(srv, "POST", "/api/x", "Bearer wrong"), 401);
    cr_expect_eq(status_of(srv, "POST", "/api/x", "Bearer " CLUSTER), 200);
    cr_expect_eq(status_of(srv, "POST", "/api/x", "Bearer " ADMIN), 200);
    cr_assert_eq(run(srv, "POST", "/api/all", "Bearer " CLUSTER, &c), MC_OK);
    cr_expect_eq(c.status, 403);
    cr_expect(strstr(c.body, "admin token"), "%s", c.body);
    mc_http_captured_cleanup(&c);
    cr_expect_eq(status_of(srv, "POST", "/api/all", NULL), 401);
    cr_expect_eq(status_of(srv, "POST", "/api/all", "Bearer " ADMIN), 200);
    /* a level decided by the handler */
    cr_expect_eq(status_of(srv, "POST", "/api/rm", "Bearer " CLUSTER), 200);
    cr_expect_eq(status_of(srv, "POST", "/api/rm?force=1", "Bearer " CLUSTER), 403);
    cr_expect_eq(status_of(srv, "POST", "/api/rm?force=1", NULL), 401);
    cr_expect_eq(status_of(srv, "POST", "/api/rm?force=1", "Bearer " ADMIN), 200);
    cr_expect_eq(handler_runs, 5); /* refused requests never reach the handler's work */
    /* built-ins: /health open, /metrics open by default */
    cr_expect_eq(status_of(srv, "GET", "/health", NULL), 200);
    cr_expect_eq(status_of(srv, "GET", "/metrics", NULL), 200);
    /* unknown routes stay 404 */
    cr_expect_eq(status_of(srv, "GET", "/nope", NULL), 404);
    mc_http_server_destroy(srv);
}

Test(http_auth, metrics_can_require_auth)
{
    mc_http_server_t *srv = make(true);

    cr_expect_eq(status_of(srv, "GET", "/metrics", NULL), 401);
    cr_expect_eq(status_of(srv, "GET", "/metrics", "Bearer " CLUSTER), 200);
    cr_expect_eq(status_of(srv, "GET", "/health", NULL), 200);
    mc_http_server_destroy(srv);
}

Test(http_auth, no_authorizer_no_checks)
{
    mc_http_server_t *srv = mc_http_server_create(NULL);

    cr_assert_eq(mc_http_server_route(srv, "POST", "/api/all", 0, ok, NULL), MC_OK);
    cr_assert_eq(mc_http_server_route_level(srv, "POST", "/api/all", MC_AUTH_ADMIN), MC_OK);
    cr_expect_eq(status_of(srv, "POST", "/api/all", NULL), 200);
    mc_http_server_destroy(srv);
}

/* Over a socket: the client's bearer option and the real authorizer over a
 * token file. */
Test(http_auth, client_sends_the_bearer)
{
    char dir[] = "/tmp/mc-http-auth-XXXXXX", path[64], url[96];
    mc_http_server_t *srv = mc_http_server_create(NULL);
    mc_auth_t auth = {NULL, NULL};
    mc_errmsg_t err = {""};
    mc_http_client_t *with, *without;
    mc_http_result_t r;
    FILE *f;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/tok", dir);
    cr_assert_not_null(f = fopen(path, "w"));
    fputs(CLUSTER "\n", f);
    fclose(f);
    cr_assert_eq(chmod(path, 0600), 0);
    cr_assert_eq(mc_auth_open(&auth, path, NULL, &err), MC_OK, "%s", err.msg);
    cr_assert_eq(mc_http_server_route(srv, "POST", "/api/x", 0, ok, NULL), MC_OK);
    mc_http_server_set_auth(srv, &(mc_http_auth_t){mc_auth_authorize, &auth, false});
    cr_assert_eq(mc_http_server_start(srv, &err), MC_OK, "%s", err.msg);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/api/x", (unsigned)mc_http_server_port(srv));
    with = mc_http_client_create(&(mc_http_client_opts_t){.bearer = auth.cluster});
    without = mc_http_client_create(&(mc_http_client_opts_t){.retries = 0});
    cr_assert_eq(mc_http_request(with, "POST", url, "{}", 2, "application/json", &r), MC_OK);
    cr_expect_eq(r.status, 200);
    mc_http_result_cleanup(&r);
    cr_assert_eq(mc_http_request(without, "POST", url, "{}", 2, "application/json", &r), MC_OK);
    cr_expect_eq(r.status, 401);
    cr_expect_eq(mc_http_result_err(&r), MC_ILLEGAL_CLIENT);
    mc_http_result_cleanup(&r);
    mc_http_client_destroy(with);
    mc_http_client_destroy(without);
    mc_http_server_destroy(srv);
    mc_auth_close(&auth);
    unlink(path);
    rmdir(dir);
}
