/* The HTTP server and client wrappers against each other on loopback. */
#include "mc/errors.h"
#include "mc/http_client.h"
#include "mc/http_server.h"
#include "mc/mtime.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static mc_http_server_t *srv;
static mc_http_client_t *cli;
static char base[64];
static bool healthy = true;

static void h_echo(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    size_t len;
    const char *body = mc_http_req_body(req, &len);
    mc_http_reply_data(resp, 200, "application/octet-stream", body, len);
    mc_http_reply_header(resp, "X-Route", mc_http_req_route(req));
}

/* Replies {"key": <decoded>, "len": n, "q": <query q>, "qlen": n}. */
static void h_key(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    size_t klen = 0, qlen = 0;
    const char *key = mc_http_req_param(req, "key", &klen);
    const char *q = mc_http_req_query(req, "q", &qlen);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "key", key ? key : "(null)");
    cJSON_AddNumberToObject(o, "len", key ? (double)klen : -1);
    cJSON_AddStringToObject(o, "q", q ? q : "(null)");
    cJSON_AddNumberToObject(o, "qlen", q ? (double)qlen : -1);
    cJSON_AddStringToObject(o, "method", mc_http_req_method(req));
    mc_http_reply_json(resp, 200, o);
}

static void h_fail(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    mc_http_reply_error(resp, MC_OBJECT_HAS_LEASE, "leased");
}

static void h_nothing(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
}

static void h_slow(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    mc_sleep_ms(1500);
    mc_http_reply_data(resp, 200, "text/plain", "late", 4);
}

static bool health_check(void *ctx, char *detail, size_t len)
{
    if (!healthy)
        snprintf(detail, len, "master unreachable");
    return healthy;
}

static void setup(void)
{
    mc_errmsg_t err = {""};

    srv =
        mc_http_server_create(&(mc_http_server_opts_t){.port = 0, .threads = 4, .max_body = 1024});
    cr_assert_not_null(srv);
    cr_assert_eq(mc_http_server_route(srv, "PUT", "/echo", 0, h_echo, NULL), MC_OK);
    cr_assert_eq(mc_http_server_route(srv, "POST", "/big", 4 << 20, h_echo, NULL), MC_OK);
    cr_assert_eq(mc_http_server_route(srv, "GET", "/k/{key}", 0, h_key, NULL), MC_OK);
    cr_assert_eq(mc_http_server_route(srv, "DELETE", "/k/{key}", 0, h_key, NULL), MC_OK);
    cr_assert_eq(mc_http_server_route(srv, "GET", "/rest/{key...}", 0, h_key, NULL), MC_OK);
    cr_assert_eq(mc_http_server_route(srv, "GET", "/fail", 0, h_fail, NULL), MC_OK);
    cr_assert_eq(mc_http_server_route(srv, "GET", "/nothing", 0, h_nothing, NULL), MC_OK);
    cr_assert_eq(mc_http_server_route(srv, "GET", "/slow", 0, h_slow, NULL), MC_OK);
    cr_assert_eq(mc_http_server_route(srv, "GET", "bad", 0, h_key, NULL), MC_INVALID_PARAMS);
    cr_assert_eq(mc_http_server_add_health(srv, "dep", health_check, NULL), MC_OK);
    cr_assert_eq(mc_http_server_start(srv, &err), MC_OK, "%s", err.msg);
    cr_assert_gt(mc_http_server_port(srv), 0);
    snprintf(base, sizeof(base), "http://127.0.0.1:%u", (unsigned)mc_http_server_port(srv));
    cli = mc_http_client_create(&(mc_http_client_opts_t){.timeout_ms = 5000, .retries = 1});
    cr_assert_not_null(cli);
    healthy = true;
}

static void teardown(void)
{
    mc_http_client_destroy(cli);
    mc_http_server_destroy(srv);
}

TestSuite(http, .init = setup, .fini = teardown, .timeout = 30);

static mc_http_result_t call(const char *method, const char *path, const void *body, size_t len)
{
    char url[8192];
    mc_http_result_t r;
    snprintf(url, sizeof(url), "%s%s", base, path);
    cr_assert_eq(mc_http_request(cli, method, url, body, len, "application/octet-stream", &r),
                 MC_OK, "%s %s", method, path);
    return r;
}

static cJSON *call_json(const char *method, const char *path)
{
    mc_http_result_t r = call(method, path, NULL, 0);
    cJSON *o;
    cr_assert_eq(r.status, 200, "%s %s -> %d %s", method, path, r.status, r.body);
    o = cJSON_ParseWithLength(r.body, r.len);
    mc_http_result_cleanup(&r);
    cr_assert_not_null(o);
    return o;
}

Test(http, echo_body_and_headers)
{
    char body[1000];
    mc_http_result_t r;
    for (size_t i = 0; i < sizeof(body); i++)
        body[i] = (char)(i * 7);
    r = call("PUT", "/echo", body, sizeof(body));
    cr_expect_eq(r.status, 200);
    cr_expect_eq(r.len, sizeof(body));
    cr_expect_eq(memcmp(r.body, body, sizeof(body)), 0);
    cr_expect_str_eq(r.content_type, "application/octet-stream");
    mc_http_result_cleanup(&r);
    r = call("PUT", "/echo", NULL, 0);
    cr_expect_eq(r.status, 200);
    cr_expect_eq(r.len, 0);
    mc_http_result_cleanup(&r);
}

Test(http, path_params_are_decoded_with_length)
{
    cJSON *o = call_json("GET", "/k/a%2Fb%20c+d?q=x%26y+z");
    cr_expect_str_eq(cJSON_GetObjectItem(o, "key")->valuestring, "a/b c+d");
    cr_expect_eq(cJSON_GetObjectItem(o, "len")->valueint, 7);
    cr_expect_str_eq(cJSON_GetObjectItem(o, "q")->valuestring, "x&y z");
    cJSON_Delete(o);
    o = call_json("GET", "/k/x%00y");
    cr_expect_eq(cJSON_GetObjectItem(o, "len")->valueint, 3); /* the NUL is kept and seen */
    cJSON_Delete(o);
    o = call_json("GET", "/k/bad%zz");
    cr_expect_str_eq(cJSON_GetObjectItem(o, "key")->valuestring, "(null)");
    cJSON_Delete(o);
    o = call_json("GET", "/rest/a/b/c");
    cr_expect_str_eq(cJSON_GetObjectItem(o, "key")->valuestring, "a/b/c");
    cr_expect_str_eq(cJSON_GetObjectItem(o, "q")->valuestring, "(null)");
    cJSON_Delete(o);
    o = call_json("DELETE", "/k/z");
    cr_expect_str_eq(cJSON_GetObjectItem(o, "method")->valuestring, "DELETE");
    cJSON_Delete(o);
}

Test(http, head_falls_back_to_get)
{
    mc_http_result_t r = call("HEAD", "/k/abc", NULL, 0);
    cr_expect_eq(r.status, 200);
    cr_expect_eq(r.len, 0);
    mc_http_result_cleanup(&r);
}

static void expect_error(const char *method, const char *path, const void *body, size_t len,
                         int status, int code)
{
    mc_http_result_t r = call(method, path, body, len);
    cr_expect_eq(r.status, status, "%s %s -> %d", method, path, r.status);
    cr_expect_eq(mc_http_result_err(&r), code, "%s %s -> %s", method, path, r.body);
    cr_expect_not_null(strstr(r.body, "\"error\":"), "%s", r.body);
    mc_http_result_cleanup(&r);
}

Test(http, errors_have_one_shape)
{
    char big[2048] = {0};
    expect_error("GET", "/nope", NULL, 0, 404, MC_INVALID_PARAMS);
    expect_error("GET", "/k", NULL, 0, 404, MC_INVALID_PARAMS);
    expect_error("GET", "/k/a/b", NULL, 0, 404, MC_INVALID_PARAMS);
    expect_error("POST", "/k/a", NULL, 0, 405, MC_INVALID_PARAMS);
    expect_error("GET", "/fail", NULL, 0, 409, MC_OBJECT_HAS_LEASE);
    expect_error("GET", "/nothing", NULL, 0, 500, MC_INTERNAL_ERROR);
    expect_error("PUT", "/echo", big, sizeof(big), 413, MC_INVALID_PARAMS);
    /* the server keeps serving after errors */
    expect_error("PUT", "/echo", big, 1025, 413, MC_INVALID_PARAMS);
    {
        mc_http_result_t r = call("PUT", "/echo", big, 1024);
        cr_expect_eq(r.status, 200);
        mc_http_result_cleanup(&r);
    }
}

Test(http, per_route_body_cap)
{
    size_t n = 3 << 20;
    char *body = malloc(n);
    mc_http_result_t r;
    for (size_t i = 0; i < n; i++)
        body[i] = (char)(i ^ (i >> 8));
    r = call("POST", "/big", body, n);
    cr_expect_eq(r.status, 200);
    cr_expect_eq(r.len, n);
    cr_expect_eq(memcmp(r.body, body, n), 0);
    mc_http_result_cleanup(&r);
    free(body);
}

/* A chunked upload carries no Content-Length: the cap is enforced while reading. */
Test(http, chunked_upload_over_cap)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(mc_http_server_port(srv))};
    char req[4096], resp[512] = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0), n = 0;
    ssize_t got;
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    n = snprintf(req, sizeof(req),
                 "PUT /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 3; i++) {
        n += snprintf(req + n, sizeof(req) - (size_t)n, "200\r\n");
        memset(req + n, 'a', 512);
        n += 512;
        n += snprintf(req + n, sizeof(req) - (size_t)n, "\r\n");
    }
    n += snprintf(req + n, sizeof(req) - (size_t)n, "0\r\n\r\n");
    cr_assert_eq(write(fd, req, (size_t)n), n);
    got = read(fd, resp, sizeof(resp) - 1);
    cr_expect_gt(got, 0);
    cr_expect_not_null(strstr(resp, "413"), "%s", resp);
    close(fd);
}

Test(http, health_and_metrics)
{
    mc_http_result_t r = call("GET", "/health", NULL, 0);
    cr_expect_eq(r.status, 200);
    cr_expect_not_null(strstr(r.body, "\"status\":\"ok\""));
    mc_http_result_cleanup(&r);
    healthy = false;
    r = call("GET", "/health", NULL, 0);
    cr_expect_eq(r.status, 503);
    cr_expect_not_null(strstr(r.body, "master unreachable"), "%s", r.body);
    mc_http_result_cleanup(&r);
    r = call("GET", "/metrics", NULL, 0);
    cr_expect_eq(r.status, 200);
    cr_expect_not_null(strstr(r.body, "mc_http_requests_total{method=\"GET\",route=\"/health\","
                                      "status=\"503\"} 1"),
                       "%s", r.body);
    cr_expect_not_null(strstr(r.body, "mc_http_request_duration_seconds_count"));
    mc_http_result_cleanup(&r);
}

static void *hammer(void *arg)
{
    long id = (long)arg;
    char body[64], url[128];
    int ok = 0;
    snprintf(url, sizeof(url), "%s/echo", base);
    for (int i = 0; i < 100; i++) {
        mc_http_result_t r;
        int n = snprintf(body, sizeof(body), "thread %ld request %d", id, i);
        if (mc_http_request(cli, "PUT", url, body, (size_t)n, NULL, &r) == MC_OK &&
            r.status == 200 && r.len == (size_t)n && memcmp(r.body, body, (size_t)n) == 0)
            ok++;
        mc_http_result_cleanup(&r);
    }
    return (void *)(long)ok;
}

Test(http, concurrent_clients_share_pool)
{
    pthread_t t[8];
    void *ok;
    for (long i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, hammer, (void *)i);
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], &ok);
        cr_expect_eq((long)ok, 100);
    }
}

Test(http, client_timeout_is_bounded)
{
    mc_http_client_t *fast =
        mc_http_client_create(&(mc_http_client_opts_t){.timeout_ms = 300, .retries = 0});
    char url[128];
    mc_http_result_t r;
    uint64_t t0 = mc_now_ms();
    snprintf(url, sizeof(url), "%s/slow", base);
    cr_expect_eq(mc_http_request(fast, "GET", url, NULL, 0, NULL, &r), MC_RPC_FAIL);
    cr_expect_lt(mc_now_ms() - t0, 1200);
    cr_expect_eq(mc_http_result_err(&r), MC_RPC_FAIL);
    mc_http_result_cleanup(&r);
    mc_http_client_destroy(fast);
}

Test(http, response_cap)
{
    mc_http_client_t *small =
        mc_http_client_create(&(mc_http_client_opts_t){.max_response = 100, .retries = 0});
    char url[128], body[500] = {0};
    mc_http_result_t r;
    snprintf(url, sizeof(url), "%s/echo", base);
    cr_expect_eq(mc_http_request(small, "PUT", url, body, sizeof(body), NULL, &r),
                 MC_BUFFER_OVERFLOW);
    mc_http_result_cleanup(&r);
    mc_http_client_destroy(small);
}

Test(http_client, refused_connection_retries_then_fails)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    mc_http_client_t *c;
    mc_http_result_t r;
    char url[64];
    uint64_t t0;

    /* a port that was free a moment ago and now has no listener */
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/x", (unsigned)ntohs(sa.sin_port));
    c = mc_http_client_create(&(mc_http_client_opts_t){.retries = 2, .retry_backoff_ms = 20});
    t0 = mc_now_ms();
    cr_expect_eq(mc_http_request(c, "POST", url, "{}", 2, "application/json", &r), MC_RPC_FAIL);
    cr_expect_geq(mc_now_ms() - t0, 60); /* 20 + 40 ms of backoff */
    cr_expect_eq(r.status, 0);
    mc_http_result_cleanup(&r);
    mc_http_client_destroy(c);
}

Test(http_client, escape)
{
    char *e = mc_http_escape_take("a/b c\0d~", 8);
    cr_expect_str_eq(e, "a%2Fb%20c%00d~");
    free(e);
}

Test(http_client, result_err_prefers_body_code)
{
    char with_code[] = "{\"error\":\"x\",\"code\":-706}", not_json[] = "not json";
    mc_http_result_t r = {.status = 409, .body = with_code, .len = sizeof(with_code) - 1};
    cr_expect_eq(mc_http_result_err(&r), MC_OBJECT_HAS_LEASE);
    r.body = not_json;
    r.len = 8;
    cr_expect_eq(mc_http_result_err(&r), MC_OBJECT_ALREADY_EXISTS);
    r.status = 204;
    cr_expect_eq(mc_http_result_err(&r), MC_OK);
}
