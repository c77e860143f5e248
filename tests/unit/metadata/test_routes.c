/* metadata_routes driven in memory (mc_http_server_inject: routing, body
 * cap, handler, reply layer; no socket): each status and body the routes
 * produce. The real binary is covered by tests/integration/test_metadata.py,
 * the HTTP transport by tests/unit/transport. */
#include "mc/errors.h"
#include "mc/http_server.h"
#include "metadata_routes.h"
#include "metadata_store.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAP 64

static metadata_store_t *st;
static mc_http_server_t *srv;
static metadata_routes_t routes;

static void setup(void)
{
    st = metadata_store_create();
    cr_assert_not_null(st);
    srv = mc_http_server_create(&(mc_http_server_opts_t){.threads = 1});
    cr_assert_not_null(srv);
    routes = (metadata_routes_t){st, NULL};
    cr_assert_eq(metadata_routes_register(srv, &routes, CAP), MC_OK);
}

static void teardown(void)
{
    mc_http_server_destroy(srv);
    metadata_store_destroy(st);
}

/* One in-memory request; the reply lands in *r (caller cleans up). */
static void call(const char *method, const char *target, const char *body, mc_http_captured_t *r)
{
    mc_http_inject_t in = {
        .method = method, .target = target, .body = body, .len = body ? strlen(body) : 0};
    cr_assert_eq(mc_http_server_inject(srv, &in, r), MC_OK, "%s %s", method, target);
}

TestSuite(routes, .init = setup, .fini = teardown, .timeout = 30);

/* Sends method to /metadata?<query> with extra header lines (NULL-terminated,
 * or NULL); expects status and (if body_want) body. */
static void expect_h(const char *method, const char *query, const char *const *headers,
                     const char *body, int status, const char *body_want)
{
    char url[256];
    mc_http_captured_t r;
    mc_http_inject_t in = {.method = method,
                           .target = url,
                           .headers = headers,
                           .body = body,
                           .len = body ? strlen(body) : 0};

    snprintf(url, sizeof(url), "/metadata%s%s", query ? "?" : "", query ? query : "");
    cr_assert_eq(mc_http_server_inject(srv, &in, &r), MC_OK, "%s %s", method, url);
    cr_expect_eq(r.status, status, "%s %s -> %d %s", method, url, r.status, r.body);
    if (body_want)
        cr_expect(strstr(r.body, body_want) != NULL, "%s %s -> body %s, want %s", method, url,
                  r.body, body_want);
    mc_http_captured_cleanup(&r);
}

static void expect(const char *method, const char *query, const char *body, int status,
                   const char *body_want)
{
    expect_h(method, query, NULL, body, status, body_want);
}

Test(routes, get_put_delete)
{
    expect("GET", "key=mooncake/ram/seg0", NULL, 404, "metadata not found");
    expect("PUT", "key=mooncake/ram/seg0", "{\"a\":1}", 200, "metadata updated");
    expect("GET", "key=mooncake%2Fram%2Fseg0", NULL, 200, "{\"a\":1}");
    expect("PUT", "key=mooncake/ram/seg0", "{\"a\":2}", 200, "metadata updated");
    expect("GET", "key=mooncake/ram/seg0", NULL, 200, "{\"a\":2}");
    expect("DELETE", "key=mooncake/ram/seg0", NULL, 200, "metadata deleted");
    expect("DELETE", "key=mooncake/ram/seg0", NULL, 404, "metadata not found");
    expect("GET", "key=mooncake/ram/seg0", NULL, 404, "metadata not found");
}

Test(routes, get_is_json_and_exact)
{
    mc_http_captured_t r;

    expect("PUT", "key=k", "{\"x\":[1,2,3]}", 200, NULL);
    call("GET", "/metadata?key=k", NULL, &r);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(r.content_type, "application/json");
    cr_expect_eq(r.len, strlen("{\"x\":[1,2,3]}"));
    cr_expect_str_eq(r.body, "{\"x\":[1,2,3]}");
    mc_http_captured_cleanup(&r);
}

Test(routes, rpc_meta)
{
    expect("PUT", "key=mooncake/rpc_meta/n1", "{\"ip\":1}", 200, "metadata updated");
    expect("PUT", "key=mooncake/rpc_meta/n1", "{\"ip\":1}", 200, "metadata unchanged");
    expect("PUT", "key=mooncake/rpc_meta/n1", "{\"ip\":2}", 400,
           "Duplicate rpc_meta key not allowed");
    expect("GET", "key=mooncake/rpc_meta/n1", NULL, 200, "{\"ip\":1}");
}

Test(routes, bad_keys)
{
    expect("GET", NULL, NULL, 400, "missing or badly percent-encoded key");
    expect("GET", "other=1", NULL, 400, "missing");
    expect("GET", "key=", NULL, 400, "empty key");
    expect("PUT", "key=", "v", 400, "empty key");
    expect("DELETE", "key=a%00b", NULL, 400, "NUL");
    expect("GET", "key=%zz", NULL, 400, "badly percent-encoded");
}

Test(routes, body_cap_and_methods)
{
    char body[CAP + 2];

    memset(body, 'v', CAP);
    body[CAP] = '\0';
    expect("PUT", "key=big", body, 200, "metadata updated");
    body[CAP] = 'v';
    body[CAP + 1] = '\0';
    expect("PUT", "key=big", body, 413, NULL);
    expect("POST", "key=big", "v", 405, NULL);
    expect("PATCH", "key=big", "v", 405, NULL);
}

Test(routes, metrics_gauges)
{
    mc_http_captured_t r;

    expect("PUT", "key=abc", "12345", 200, NULL);
    expect("PUT", "key=de", "678", 200, NULL);
    call("GET", "/metrics", NULL, &r);
    cr_expect_eq(r.status, 200);
    cr_expect(strstr(r.body, "mc_metadata_keys_stored 2\n") != NULL, "%s", r.body);
    cr_expect(strstr(r.body, "mc_metadata_bytes_stored{part=\"key\"} 5\n") != NULL);
    cr_expect(strstr(r.body, "mc_metadata_bytes_stored{part=\"value\"} 8\n") != NULL);
    cr_expect(strstr(r.body, "route=\"/metadata\",status=\"200\"") != NULL, "%s", r.body);
    mc_http_captured_cleanup(&r);
}

/* ---- publishers (X-Mooncake-Publisher) ---- */

#define PUB_A "X-Mooncake-Publisher: publisher-a-0123456789abcdef"
#define PUB_B "X-Mooncake-Publisher: publisher-b-0123456789abcdef"

Test(routes, only_the_publisher_replaces_or_deletes)
{
    const char *a[] = {PUB_A, NULL}, *b[] = {PUB_B, NULL};

    expect_h("PUT", "key=mooncake/ram/s", a, "{\"real\":1}", 200, "metadata updated");
    expect_h("PUT", "key=mooncake/ram/s", b, "{\"forged\":1}", 403,
             "{\"error\":\"key published by another publisher (X-Mooncake-Publisher)\","
             "\"code\":-601}");
    expect_h("PUT", "key=mooncake/ram/s", NULL, "{\"forged\":1}", 403, "\"code\":-601");
    expect_h("DELETE", "key=mooncake/ram/s", b, NULL, 403, "\"code\":-601");
    expect_h("DELETE", "key=mooncake/ram/s", NULL, NULL, 403, "\"code\":-601");
    expect_h("GET", "key=mooncake/ram/s", b, NULL, 200, "{\"real\":1}");
    expect_h("PUT", "key=mooncake/ram/s", a, "{\"real\":2}", 200, "metadata updated");
    expect_h("DELETE", "key=mooncake/ram/s", a, NULL, 200, "metadata deleted");
    /* handed over: the next PUT claims it */
    expect_h("PUT", "key=mooncake/ram/s", b, "{\"b\":1}", 200, "metadata updated");
    expect_h("PUT", "key=mooncake/ram/s", a, "{\"a\":1}", 403, NULL);
}

Test(routes, rpc_meta_claim_checked_before_write_once)
{
    const char *a[] = {PUB_A, NULL}, *b[] = {PUB_B, NULL};

    expect_h("PUT", "key=mooncake/rpc_meta/n", a, "x", 200, "metadata updated");
    expect_h("PUT", "key=mooncake/rpc_meta/n", a, "x", 200, "metadata unchanged");
    expect_h("PUT", "key=mooncake/rpc_meta/n", a, "y", 400, "Duplicate rpc_meta key");
    expect_h("PUT", "key=mooncake/rpc_meta/n", b, "x", 403, "\"code\":-601");
}

Test(routes, bad_publisher_header_is_400)
{
    const char *bad[] = {"X-Mooncake-Publisher: short", NULL};

    expect_h("PUT", "key=k", bad, "x", 400, "bad X-Mooncake-Publisher header");
    expect_h("GET", "key=k", bad, NULL, 400, "bad X-Mooncake-Publisher header");
    expect_h("GET", "key=k", NULL, NULL, 404, "metadata not found"); /* nothing stored */
}
