/* The HTTP server under abuse, over real loopback sockets: connection floods
 * from several client addresses (the whole of 127/8 is loopback on Linux, so
 * a client socket bound to 127.0.0.N before connect is a distinct address),
 * trickling and half-closing clients, and framing the server must refuse. */
#include "mc/errors.h"
#include "mc/http_server.h"
#include "mc/mtime.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static mc_http_server_t *srv;

static void h_key(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    size_t len = 0;
    const char *key = mc_http_req_param(req, "key", &len);
    mc_http_reply_data(resp, 200, "text/plain", key, len);
}

static void h_echo(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    size_t len;
    const char *body = mc_http_req_body(req, &len);
    mc_http_reply_data(resp, 200, "application/octet-stream", body, len);
}

static void start(mc_http_server_opts_t o)
{
    mc_errmsg_t err = {""};

    o.max_body = 2 << 20;
    srv = mc_http_server_create(&o);
    cr_assert_not_null(srv);
    cr_assert_eq(mc_http_server_route(srv, "GET", "/k/{key}", 0, h_key, NULL), MC_OK);
    cr_assert_eq(mc_http_server_route(srv, "PUT", "/echo", 0, h_echo, NULL), MC_OK);
    cr_assert_eq(mc_http_server_start(srv, &err), MC_OK, "%s", err.msg);
}

static void teardown(void)
{
    mc_http_server_destroy(srv);
    srv = NULL;
}

TestSuite(http_abuse, .fini = teardown, .timeout = 30);

/* A TCP connection to 127.0.0.1:port from the client address src. */
static int connect_from(const char *src, uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET}, d = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    cr_assert_geq(fd, 0);
    inet_pton(AF_INET, src, &a.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &d.sin_addr);
    d.sin_port = htons(port);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0, "bind %s: %s", src,
                 strerror(errno));
    cr_assert_eq(connect(fd, (struct sockaddr *)&d, sizeof(d)), 0, "connect: %s", strerror(errno));
    return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
    cr_assert_eq(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Reads what arrives within ms (until the peer closes or nothing more comes
 * for 100 ms after the first bytes): the byte count, 0 when the connection
 * was closed without a reply, -1 when nothing came in time. */
static ssize_t reply_within(int fd, char *buf, size_t cap, int ms)
{
    uint64_t end = mc_now_ms() + (uint64_t)ms;
    size_t got = 0;

    for (;;) {
        uint64_t now = mc_now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int wait = got ? 100 : (now < end ? (int)(end - now) : 0);
        ssize_t n;
        if (poll(&p, 1, wait) <= 0)
            break;
        n = recv(fd, buf + got, cap - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        if (got == cap - 1)
            break;
    }
    buf[got] = '\0';
    if (got)
        return (ssize_t)got;
    return mc_now_ms() >= end ? -1 : 0;
}

/* ms until the server closed fd (end of stream or reset); -1 when it is
 * still open after ms. Whatever arrives before is discarded. */
static long closed_within(int fd, int ms)
{
    uint64_t t0 = mc_now_ms();
    char buf[4096];

    while (mc_now_ms() - t0 < (uint64_t)ms) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 20) > 0 && recv(fd, buf, sizeof(buf), 0) <= 0)
            return (long)(mc_now_ms() - t0);
    }
    return -1;
}

/* true when fd's peer has closed it (checked without waiting) */
static bool is_closed(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char c;
    return poll(&p, 1, 0) > 0 && recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

/* GET /k/<src> from the address src on port: true when answered 200 within ms. */
static bool answered(const char *src, uint16_t port, int ms)
{
    char req[128], buf[1024];
    int fd = connect_from(src, port);
    int n = snprintf(req, sizeof(req), "GET /k/%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                     src);
    ssize_t got;

    send_all(fd, req, (size_t)n);
    got = reply_within(fd, buf, sizeof(buf), ms);
    close(fd);
    return got > 0 && strncmp(buf, "HTTP/1.1 200", 12) == 0;
}

static uint16_t free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t sl = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    uint16_t port;

    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    getsockname(fd, (struct sockaddr *)&a, &sl);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static uint64_t metric(const char *line)
{
    size_t len = 0;
    char *text = mc_metrics_render(mc_http_server_metrics(srv), &len);
    const char *at = text ? strstr(text, line) : NULL;
    uint64_t v = at ? strtoull(at + strlen(line), NULL, 10) : 0;
    free(text);
    return v;
}

#define FLOOD_ADDRS 4
#define FLOOD_PER_ADDR 24

/* Idle connections from four addresses, more than the per-address limit
 * from each: every address keeps its limit, the rest are closed at once,
 * and a fifth address is answered while the flood holds its connections. */
Test(http_abuse, per_address_limit_leaves_room)
{
    int fds[FLOOD_ADDRS][FLOOD_PER_ADDR];
    uint64_t t0;

    start((mc_http_server_opts_t){.threads = 2, .max_connections = 64, .per_ip_limit = 8});
    for (int a = 0; a < FLOOD_ADDRS; a++) {
        char src[16];
        snprintf(src, sizeof(src), "127.0.0.%d", a + 2);
        for (int i = 0; i < FLOOD_PER_ADDR; i++)
            fds[a][i] = connect_from(src, mc_http_server_port(srv));
    }
    mc_sleep_ms(300); /* the over-limit ones are closed at accept */
    for (int a = 0; a < FLOOD_ADDRS; a++) {
        int open = 0;
        for (int i = 0; i < FLOOD_PER_ADDR; i++)
            open += !is_closed(fds[a][i]);
        cr_expect_eq(open, 8, "127.0.0.%d keeps %d connections", a + 2, open);
    }
    t0 = mc_now_ms();
    cr_expect(answered("127.0.0.9", mc_http_server_port(srv), 1000));
    cr_expect_lt(mc_now_ms() - t0, 1000);
    for (int a = 0; a < FLOOD_ADDRS; a++)
        for (int i = 0; i < FLOOD_PER_ADDR; i++)
            close(fds[a][i]);
}

/* A flood that fills the public listener's cap from many addresses holds
 * it; the cluster listener (same routes, own threads and cap) still answers. */
Test(http_abuse, cluster_listener_serves_during_flood)
{
    uint16_t cport = free_port();
    int fds[32];
    uint64_t t0;

    start((mc_http_server_opts_t){.threads = 2,
                                  .max_connections = 16,
                                  .per_ip_limit = 4,
                                  .cluster_port = cport,
                                  .cluster_max_connections = 8});
    cr_assert_eq(mc_http_server_cluster_port(srv), cport);
    for (int i = 0; i < 32; i++) {
        char src[16];
        snprintf(src, sizeof(src), "127.0.1.%d", i / 4 + 1);
        fds[i] = connect_from(src, mc_http_server_port(srv));
    }
    mc_sleep_ms(300);
    cr_expect_not(answered("127.0.0.9", mc_http_server_port(srv), 500),
                  "the flood should hold the public listener");
    t0 = mc_now_ms();
    cr_expect(answered("127.0.0.9", cport, 1000), "cluster listener");
    cr_expect_lt(mc_now_ms() - t0, 1000);
    for (int i = 0; i < 32; i++)
        close(fds[i]);
    /* the flood gone, the public listener serves again */
    cr_expect(answered("127.0.0.9", mc_http_server_port(srv), 2000));
}

Test(http_abuse, no_cluster_listener_by_default)
{
    start((mc_http_server_opts_t){.threads = 1});
    cr_expect_eq(mc_http_server_cluster_port(srv), 0);
}

/* One byte every 200 ms keeps MHD's idle timeout from ever firing; the
 * request deadline (1 s here) cuts the connection anyway. */
Test(http_abuse, trickled_headers_are_cut_at_the_deadline)
{
    const char *req = "GET /k/a HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    uint64_t t0 = mc_now_ms();
    int fd;
    long cut = -1;

    start((mc_http_server_opts_t){.threads = 1, .request_timeout_s = 1});
    fd = connect_from("127.0.0.2", mc_http_server_port(srv));
    for (size_t i = 0; req[i] && cut < 0; i++) {
        if (send(fd, req + i, 1, MSG_NOSIGNAL) != 1)
            break;
        cut = closed_within(fd, 200);
    }
    cr_expect(is_closed(fd) || cut >= 0, "still open after %lu ms", mc_now_ms() - t0);
    cr_expect_geq(mc_now_ms() - t0, 900);
    cr_expect_lt(mc_now_ms() - t0, 1800, "cut after %lu ms", mc_now_ms() - t0);
    cr_expect_eq(metric("mc_http_connections_cut_total{reason=\"deadline\"} "), 1);
    close(fd);
}

/* The same for a body: the deadline is request_timeout_s plus 1 s per MiB of
 * declared body (so a declared 1 MiB gets about 2 s in all). */
Test(http_abuse, trickled_body_is_cut_at_the_deadline)
{
    const char *small = "PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n";
    const char *big = "PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n";
    uint64_t t0;
    int a, b;
    long ca = -1, cb = -1;

    start((mc_http_server_opts_t){.threads = 1, .request_timeout_s = 1});
    a = connect_from("127.0.0.2", mc_http_server_port(srv));
    b = connect_from("127.0.0.3", mc_http_server_port(srv));
    t0 = mc_now_ms();
    send_all(a, small, strlen(small));
    send_all(b, big, strlen(big));
    while (mc_now_ms() - t0 < 4000 && (ca < 0 || cb < 0)) {
        (void)send(a, "x", 1, MSG_NOSIGNAL);
        (void)send(b, "x", 1, MSG_NOSIGNAL);
        if (ca < 0 && closed_within(a, 100) >= 0)
            ca = (long)(mc_now_ms() - t0);
        if (cb < 0 && closed_within(b, 100) >= 0)
            cb = (long)(mc_now_ms() - t0);
    }
    cr_expect(ca >= 800 && ca < 1800, "100-byte body cut after %ld ms", ca);
    cr_expect(cb >= 1800 && cb < 3000, "1 MiB body cut after %ld ms", cb);
    close(a);
    close(b);
}

/* A keep-alive connection may idle longer than the request deadline (MHD's
 * idle timeout governs it); its next request's deadline starts with that
 * request's first byte. */
Test(http_abuse, keep_alive_idle_is_not_a_slow_request)
{
    const char *get = "GET /k/a HTTP/1.1\r\nHost: x\r\n\r\n";
    const char *part = "GET /k/b HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    char buf[1024];
    uint64_t t0;
    long cut = -1;
    int fd;

    start((mc_http_server_opts_t){.threads = 1, .request_timeout_s = 1, .idle_timeout_s = 30});
    fd = connect_from("127.0.0.2", mc_http_server_port(srv));
    send_all(fd, get, strlen(get));
    cr_assert_gt(reply_within(fd, buf, sizeof(buf), 1000), 0);
    cr_expect_eq(strncmp(buf, "HTTP/1.1 200", 12), 0, "%s", buf);
    cr_expect_eq(closed_within(fd, 1500), -1, "idle keep-alive connection cut");
    send_all(fd, get, strlen(get));
    cr_assert_gt(reply_within(fd, buf, sizeof(buf), 1000), 0);
    cr_expect_eq(strncmp(buf, "HTTP/1.1 200", 12), 0, "%s", buf);
    /* now a trickled request on the same connection */
    t0 = mc_now_ms();
    for (size_t i = 0; part[i] && cut < 0; i++) {
        if (send(fd, part + i, 1, MSG_NOSIGNAL) != 1)
            break;
        cut = closed_within(fd, 150);
    }
    while (cut < 0 && mc_now_ms() - t0 < 3000) {
        if (send(fd, "a", 1, MSG_NOSIGNAL) != 1)
            break;
        cut = closed_within(fd, 150);
    }
    cr_expect(mc_now_ms() - t0 >= 800 && mc_now_ms() - t0 < 1800, "cut after %lu ms",
              mc_now_ms() - t0);
    close(fd);
}

/* A body shorter than its Content-Length, then FIN: the request can never
 * complete and MHD would wait out its idle timeout; the connection is closed
 * within a few of the guard's ticks. MHD gives the handler no call once the
 * client stopped sending, so there is no reply to send: closing is the answer. */
Test(http_abuse, short_body_then_fin_is_closed)
{
    const char *req = "PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nshort";
    long ms;
    int fd, one = 1;

    start((mc_http_server_opts_t){.threads = 1});
    fd = connect_from("127.0.0.2", mc_http_server_port(srv));
    /* corked, the part and the FIN leave in one segment: the server sees one
     * readiness event for both, the case libmicrohttpd leaves hanging */
    cr_assert_eq(setsockopt(fd, IPPROTO_TCP, TCP_CORK, &one, sizeof(one)), 0);
    send_all(fd, req, strlen(req));
    shutdown(fd, SHUT_WR);
    ms = closed_within(fd, 2000);
    cr_expect(ms >= 0 && ms < 1000, "closed after %ld ms", ms);
    cr_expect_eq(metric("mc_http_connections_cut_total{reason=\"half_closed\"} "), 1);
    close(fd);
}

/* A complete request followed by FIN (`nc -N`) is still answered. */
Test(http_abuse, complete_request_then_fin_is_answered)
{
    const char *req = "PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nwhole";
    char buf[1024];
    int fd;

    start((mc_http_server_opts_t){.threads = 1});
    fd = connect_from("127.0.0.2", mc_http_server_port(srv));
    send_all(fd, req, strlen(req));
    shutdown(fd, SHUT_WR);
    cr_assert_gt(reply_within(fd, buf, sizeof(buf), 2000), 0);
    cr_expect_eq(strncmp(buf, "HTTP/1.1 200", 12), 0, "%s", buf);
    cr_expect_not_null(strstr(buf, "\r\n\r\nwhole"), "%s", buf);
    close(fd);
}

/* Sends raw, expects the status line prefix and, for errors, the JSON body. */
static void expect_reply(const char *raw, size_t len, const char *status, const char *body_part)
{
    char *buf = malloc(8192);
    int fd = connect_from("127.0.0.2", mc_http_server_port(srv));
    ssize_t got;

    send_all(fd, raw, len);
    got = reply_within(fd, buf, 8192, 2000);
    cr_expect_gt(got, 0, "no reply (%zd) to %.60s", got, raw);
    cr_expect_eq(strncmp(buf, status, strlen(status)), 0, "%.200s", buf);
    if (body_part)
        cr_expect_not_null(strstr(buf, body_part), "%.400s", buf);
    close(fd);
    free(buf);
}

static char *query_of(int n)
{
    char *q = malloc((size_t)n * 12 + 64), *p = q;
    memcpy(p, "GET /k/a?", 9);
    p += 9;
    for (int i = 0; i < n; i++)
        p += snprintf(p, 16, "%sa%d=1", i ? "&" : "", i);
    snprintf(p, 48, " HTTP/1.1\r\nHost: x\r\n\r\n");
    return q;
}

/* Thousands of query parameters used to exhaust MHD's connection pool and
 * leave the request without any reply. */
Test(http_abuse, many_query_params_get_414)
{
    start((mc_http_server_opts_t){.threads = 1});
    for (int n = 0; n < 3; n++) {
        int count = (int[]){MC_HTTP_MAX_QUERY_PARAMS + 1, 5000, 10000}[n];
        char *q = query_of(count);
        expect_reply(q, strlen(q), "HTTP/1.1 414",
                     "{\"error\":\"query has more than 256 parameters\",\"code\":-600}");
        free(q);
    }
    {
        char *q = query_of(MC_HTTP_MAX_QUERY_PARAMS);
        expect_reply(q, strlen(q), "HTTP/1.1 200", NULL);
        free(q);
    }
}

Test(http_abuse, many_query_params_injected)
{
    char *q = query_of(MC_HTTP_MAX_QUERY_PARAMS + 1);
    mc_http_captured_t out;

    start((mc_http_server_opts_t){.threads = 1});
    *strchr(q, ' ') = '\0'; /* "GET" */
    *strchr(q + 4, ' ') = '\0';
    cr_assert_eq(
        mc_http_server_inject(srv, &(mc_http_inject_t){.method = "GET", .target = q + 4}, &out),
        MC_OK);
    cr_expect_eq(out.status, 414);
    cr_expect_not_null(strstr(out.body, "\"code\":-600"), "%s", out.body);
    mc_http_captured_cleanup(&out);
    free(q);
}

/* Two different Content-Lengths (or one with Transfer-Encoding) leave the
 * body's end ambiguous: 400, and the connection closes. */
Test(http_abuse, conflicting_content_length_is_400)
{
    const char *two = "PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                      "Content-Length: 5\r\n\r\nabcde";
    const char *same = "PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                       "Content-Length: 5\r\nConnection: close\r\n\r\nabcde";
    const char *te = "PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\n\r\n";
    int fd;

    start((mc_http_server_opts_t){.threads = 1});
    expect_reply(two, strlen(two), "HTTP/1.1 400",
                 "{\"error\":\"conflicting Content-Length headers\",\"code\":-600}");
    expect_reply(te, strlen(te), "HTTP/1.1 400",
                 "{\"error\":\"Content-Length together with Transfer-Encoding\",\"code\":-600}");
    /* identical duplicates are one length (RFC 9112 6.3) */
    expect_reply(same, strlen(same), "HTTP/1.1 200", "\r\n\r\nabcde");
    /* the refused connection carries no second request */
    fd = connect_from("127.0.0.2", mc_http_server_port(srv));
    send_all(fd, two, strlen(two));
    send_all(fd, "GET /k/a HTTP/1.1\r\nHost: x\r\n\r\n",
             strlen("GET /k/a HTTP/1.1\r\nHost: x\r\n\r\n"));
    cr_expect_geq(closed_within(fd, 2000), 0);
    close(fd);
}
