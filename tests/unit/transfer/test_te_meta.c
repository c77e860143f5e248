/* Descriptors through the real metadata server: publish on register, open
 * by name, re-publish after the server lost it, refresh after a remount,
 * delete on unregister. Skipped when the server binary is not built. */
#include "mc/errors.h"
#include "mc/http_client.h"
#include "mc/mtime.h"
#include "mc/transfer.h"
#include "te_test_util.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t meta_pid;
static char meta_url[128];
static mc_http_client_t *http;

static uint16_t free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    bind(fd, (struct sockaddr *)&sa, sizeof sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    close(fd);
    return ntohs(sa.sin_port);
}

static int get_status(const char *key_query)
{
    char url[256];
    mc_http_result_t r;
    int st;

    snprintf(url, sizeof url, "%s?key=%s", meta_url, key_query);
    st = mc_http_request(http, "GET", url, NULL, 0, NULL, &r) == MC_OK ? r.status : 0;
    mc_http_result_cleanup(&r);
    return st;
}

static int del(const char *key_query)
{
    char url[256];
    mc_http_result_t r;
    int st;

    snprintf(url, sizeof url, "%s?key=%s", meta_url, key_query);
    st = mc_http_request(http, "DELETE", url, NULL, 0, NULL, &r) == MC_OK ? r.status : 0;
    mc_http_result_cleanup(&r);
    return st;
}

static void start_meta(void)
{
#ifdef MC_METADATA_BIN
    uint16_t port = free_port();
    char arg[32], health[128];
    mc_http_client_opts_t ho = {.connect_timeout_ms = 500, .timeout_ms = 2000, .retries = 0};
    uint64_t end = mc_now_ms() + 10000;

    snprintf(arg, sizeof arg, "--port=%u", (unsigned)port);
    snprintf(meta_url, sizeof meta_url, "http://127.0.0.1:%u/metadata", (unsigned)port);
    snprintf(health, sizeof health, "http://127.0.0.1:%u/health", (unsigned)port);
    meta_pid = fork();
    if (meta_pid == 0) {
        execl(MC_METADATA_BIN, MC_METADATA_BIN, arg, (char *)NULL);
        _exit(127);
    }
    http = mc_http_client_create(&ho);
    while (mc_now_ms() < end) { /* readiness probe */
        mc_http_result_t r;
        int ok =
            mc_http_request(http, "GET", health, NULL, 0, NULL, &r) == MC_OK && r.status == 200;
        mc_http_result_cleanup(&r);
        if (ok)
            return;
        mc_sleep_ms(20);
    }
    cr_assert_fail("metadata server not healthy");
#endif
}

static void stop_meta(void)
{
    int st;
    if (meta_pid > 0) {
        kill(meta_pid, SIGTERM);
        waitpid(meta_pid, &st, 0);
    }
    mc_http_client_destroy(http);
}

Test(te_meta, publish_open_republish_refresh, .init = start_meta, .fini = stop_meta)
{
#ifndef MC_METADATA_BIN
    cr_skip_test("mooncake_http_metadata_server is not built");
#else
    mc_te_opts_t o = {.local_name = "127.0.0.1:0",
                      .metadata_url = meta_url,
                      .request_timeout_ms = 2000,
                      .republish_ms = 100};
    mc_te_t *srv = NULL, *cli = NULL;
    mc_te_segment_t *h, *h2;
    uint8_t *seg = tu_alloc(1 << 20, 5), buf[8192];
    unsigned n = 0;
    uint64_t end;

    cr_assert_eq(mc_te_create(&o, &srv, NULL), MC_OK);
    o.republish_ms = UINT32_MAX; /* the client exposes nothing */
    cr_assert_eq(mc_te_create(&o, &cli, NULL), MC_OK);
    cr_assert_eq(mc_te_open_segment(cli, "node-a", &h), MC_SEGMENT_NOT_FOUND);
    cr_assert_eq(mc_te_register_segment(srv, "node-a", seg, 1 << 20, 1), MC_OK);
    cr_assert_eq(get_status("mooncake%2Fram%2Fnode-a"), 200);
    cr_assert_eq(mc_te_open_segment(cli, "node-a", &h), MC_OK);
    cr_assert_eq(mc_te_open_segment(cli, "node-a", &h2), MC_OK);
    cr_assert_eq(h, h2, "cached handle");
    cr_assert_str_eq(mc_te_segment_protocol(h), "tcp");
    cr_assert_eq(mc_te_transfer_sync(cli, MC_TE_READ, buf, h, 4096, sizeof buf), MC_OK);
    cr_assert_eq(tu_check(buf, sizeof buf, 5, 4096), sizeof buf);

    /* The server loses it: the explicit check and the background thread put it back. */
    cr_assert_eq(del("mooncake%2Fram%2Fnode-a"), 200);
    cr_assert_eq(mc_te_republish_check(srv, &n), MC_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(mc_te_republish_check(srv, &n), MC_OK);
    cr_assert_eq(n, 0, "nothing to do when it is there");
    cr_assert_eq(del("mooncake%2Fram%2Fnode-a"), 200);
    end = mc_now_ms() + 3000;
    while (get_status("mooncake%2Fram%2Fnode-a") != 200 && mc_now_ms() < end)
        mc_sleep_ms(20);
    cr_assert_eq(get_status("mooncake%2Fram%2Fnode-a"), 200, "background re-publish");

    /* Remount: the old epoch is refused, the failure marks the handle stale
     * and the next open fetches the new descriptor. */
    cr_assert_eq(mc_te_set_epoch(srv, "node-a", 2), MC_OK);
    cr_assert_eq(mc_te_transfer_sync(cli, MC_TE_WRITE, buf, h, 0, sizeof buf), MC_INVALID_VERSION);
    cr_assert_eq(mc_te_open_segment(cli, "node-a", &h2), MC_OK);
    cr_assert_eq(h2, h);
    cr_assert_eq(mc_te_segment_epoch(h), 2);
    cr_assert_eq(mc_te_transfer_sync(cli, MC_TE_WRITE, buf, h, 0, sizeof buf), MC_OK);
    cr_assert_eq(mc_te_refresh_segment(cli, h), MC_OK);

    /* Unregister deletes the descriptor. */
    cr_assert_eq(mc_te_unregister_segment(srv, "node-a"), MC_OK);
    cr_assert_eq(get_status("mooncake%2Fram%2Fnode-a"), 404);
    cr_assert_eq(mc_te_refresh_segment(cli, h), MC_SEGMENT_NOT_FOUND);
    mc_te_destroy(cli);
    mc_te_destroy(srv);
    free(seg);
#endif
}

Test(te_meta, unreachable_metadata_server, .timeout = 20)
{
    mc_te_opts_t o = {.local_name = "127.0.0.1:0",
                      .connect_timeout_ms = 300,
                      .request_timeout_ms = 1000,
                      .republish_ms = UINT32_MAX};
    char url[64];
    mc_te_t *te = NULL;
    mc_te_segment_t *h;
    uint8_t seg[64];

    snprintf(url, sizeof url, "http://127.0.0.1:%u/metadata", (unsigned)free_port());
    o.metadata_url = url;
    cr_assert_eq(mc_te_create(&o, &te, NULL), MC_OK);
    cr_assert_eq(mc_te_open_segment(te, "x", &h), MC_RPC_FAIL);
    cr_assert_eq(mc_te_register_segment(te, "x", seg, sizeof seg, 1), MC_RPC_FAIL);
    cr_assert_eq(mc_te_register_segment(te, "x", seg, sizeof seg, 1), MC_RPC_FAIL,
                 "rolled back, not ALREADY_EXISTS");
    mc_te_destroy(te);
}

/* PUTs body under key_query with no publisher credential; the status. */
static int put_plain(const char *key_query, const char *body)
{
    char url[256];
    mc_http_result_t r;
    int st;

    snprintf(url, sizeof url, "%s?key=%s", meta_url, key_query);
    st = mc_http_request(http, "PUT", url, body, strlen(body), "application/json", &r) == MC_OK
             ? r.status
             : 0;
    mc_http_result_cleanup(&r);
    return st;
}

Test(te_meta, a_publisher_owns_its_descriptor_and_readers_expect_their_segment, .init = start_meta,
     .fini = stop_meta)
{
#ifndef MC_METADATA_BIN
    cr_skip_test("mooncake_http_metadata_server is not built");
#else
    mc_te_opts_t o = {.local_name = "127.0.0.1:0",
                      .metadata_url = meta_url,
                      .request_timeout_ms = 2000,
                      .republish_ms = UINT32_MAX,
                      .publisher = "engine-a-publisher-0123456789"};
    mc_te_t *srv = NULL, *cli = NULL;
    mc_te_segment_t *h = NULL;
    uint8_t *seg = tu_alloc(1 << 20, 7);
    char *desc = NULL, forged[1024], *at;
    size_t len = 0;
    const char *uuid = "0a1b2c3d-0000-4000-8000-00000000beef";

    cr_assert_eq(mc_te_create(&o, &srv, NULL), MC_OK);
    o.publisher = NULL;
    cr_assert_eq(mc_te_create(&o, &cli, NULL), MC_OK);
    cr_assert_eq(mc_te_register_segment_uuid(srv, "node-u", seg, 1 << 20, 3, uuid), MC_OK);
    cr_assert_eq(mc_te_describe_segment(srv, "node-u", &desc, &len), MC_OK);
    cr_assert(strstr(desc, uuid) != NULL, "%s", desc);
    /* a stranger (no credential) cannot replace or delete it */
    cr_assert_lt(len + 1, sizeof forged);
    memcpy(forged, desc, len + 1);
    at = strstr(forged, "beef");
    at[0] = 'd'; /* another segment id */
    cr_assert_eq(put_plain("mooncake%2Fram%2Fnode-u", forged), 403);
    cr_assert_eq(del("mooncake%2Fram%2Fnode-u"), 403);
    /* a reader expecting another id, epoch or endpoint is refused; the right one is not */
    mc_te_expect_t want = {.uuid = "0a1b2c3d-0000-4000-8000-00000000deef", .epoch = 3};
    cr_assert_eq(mc_te_open_segment_expect(cli, "node-u", &want, &h), MC_ILLEGAL_CLIENT);
    want = (mc_te_expect_t){.uuid = uuid, .epoch = 4};
    cr_assert_eq(mc_te_open_segment_expect(cli, "node-u", &want, &h), MC_ILLEGAL_CLIENT);
    want = (mc_te_expect_t){.uuid = uuid, .epoch = 3, .endpoint = "127.0.0.1:1"};
    cr_assert_eq(mc_te_open_segment_expect(cli, "node-u", &want, &h), MC_ILLEGAL_CLIENT);
    want = (mc_te_expect_t){.uuid = uuid, .epoch = 3, .endpoint = mc_te_endpoint(srv)};
    cr_assert_eq(mc_te_open_segment_expect(cli, "node-u", &want, &h), MC_OK);
    /* a remount: the cached handle no longer matches the new epoch, so it is
     * fetched again (no failed transfer needed first) */
    cr_assert_eq(mc_te_set_epoch(srv, "node-u", 9), MC_OK);
    want.epoch = 9;
    cr_assert_eq(mc_te_open_segment_expect(cli, "node-u", &want, &h), MC_OK);
    cr_assert_eq(mc_te_segment_epoch(h), 9);
    /* the publisher deletes its own descriptor on unregister */
    cr_assert_eq(mc_te_unregister_segment(srv, "node-u"), MC_OK);
    cr_assert_eq(get_status("mooncake%2Fram%2Fnode-u"), 404);
    free(desc);
    mc_te_destroy(cli);
    mc_te_destroy(srv);
    free(seg);
#endif
}
