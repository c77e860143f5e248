/* Blocking routes on the handler pool: a handler waiting on something slow
 * holds a pool thread, never the connection thread, so the other
 * connections that thread serves are answered meanwhile. Raw sockets, so
 * which connection is which is certain. */
#include "mc/errors.h"
#include "mc/http_server.h"
#include "mc/mtime.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_open;
static atomic_int waiting;

/* Waits until the test opens the gate (at most 10 s: a broken test ends). */
static void h_wait(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    atomic_fetch_add(&waiting, 1);
    pthread_mutex_lock(&gate_mu);
    while (!gate_open && pthread_cond_timedwait(&gate_cv, &gate_mu, &until) == 0)
        ;
    pthread_mutex_unlock(&gate_mu);
    atomic_fetch_sub(&waiting, 1);
    mc_http_reply_data(resp, 200, "text/plain", "waited", 6);
}

static void h_fast(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    mc_http_reply_data(resp, 200, "text/plain", "fast", 4);
}

static void open_gate(void)
{
    pthread_mutex_lock(&gate_mu);
    gate_open = true;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
}

/* One connection thread, pool of `workers`, /wait blocking, /fast inline. */
static mc_http_server_t *start(unsigned workers)
{
    mc_errmsg_t err = {""};
    mc_http_server_t *s =
        mc_http_server_create(&(mc_http_server_opts_t){.threads = 1, .workers = workers});

    cr_assert_not_null(s);
    cr_assert_eq(mc_http_server_route(s, "GET", "/wait", 0, h_wait, NULL), MC_OK);
    cr_assert_eq(mc_http_server_route(s, "GET", "/fast", 0, h_fast, NULL), MC_OK);
    cr_assert_eq(mc_http_server_route_blocking(s, "GET", "/wait"), MC_OK);
    cr_assert_eq(mc_http_server_route_blocking(s, "GET", "/none"), MC_INVALID_PARAMS);
    cr_assert_eq(mc_http_server_start(s, &err), MC_OK, "%s", err.msg);
    gate_open = false;
    return s;
}

/* A connected socket that has sent "GET path"; replies time out after 5 s. */
static int send_get(uint16_t port, const char *path)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    struct timeval tv = {5, 0};
    char line[128];
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert(fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    snprintf(line, sizeof(line), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    cr_assert_eq(send(fd, line, strlen(line), 0), (ssize_t)strlen(line));
    return fd;
}

/* The reply's status line, or "" when none arrived in time. */
static void read_status(int fd, char *out, size_t cap)
{
    ssize_t n = recv(fd, out, cap - 1, 0);
    char *eol;

    out[n > 0 ? n : 0] = '\0';
    if ((eol = strstr(out, "\r\n")))
        *eol = '\0';
}

static void wait_for_waiters(int n)
{
    for (int i = 0; i < 1000 && atomic_load(&waiting) < n; i++)
        mc_sleep_ms(5);
    cr_assert_eq(atomic_load(&waiting), n, "the blocking handlers started");
}

Test(http_workers, a_waiting_handler_does_not_hold_its_connection_thread, .timeout = 30)
{
    mc_http_server_t *s = start(2);
    uint16_t port = mc_http_server_port(s);
    char st[256];
    int slow = send_get(port, "/wait"), fast;

    wait_for_waiters(1);
    fast = send_get(port, "/fast"); /* the same (only) connection thread */
    read_status(fast, st, sizeof(st));
    cr_expect_str_eq(st, "HTTP/1.1 200 OK", "answered while /wait still waits");
    cr_expect_eq(atomic_load(&waiting), 1, "/wait had not been answered yet");
    open_gate();
    read_status(slow, st, sizeof(st));
    cr_expect_str_eq(st, "HTTP/1.1 200 OK");
    close(fast);
    close(slow);
    mc_http_server_destroy(s);
}

Test(http_workers, blocking_requests_queue_for_the_pool_first_come_first_served, .timeout = 30)
{
    mc_http_server_t *s = start(1);
    uint16_t port = mc_http_server_port(s);
    char st[256];
    int a = send_get(port, "/wait"), b, fast;

    wait_for_waiters(1);
    b = send_get(port, "/wait"); /* queued behind a: one worker */
    fast = send_get(port, "/fast");
    read_status(fast, st, sizeof(st));
    cr_expect_str_eq(st, "HTTP/1.1 200 OK", "inline routes never queue");
    cr_expect_eq(atomic_load(&waiting), 1, "b waits in the queue, not in a handler");
    open_gate();
    read_status(a, st, sizeof(st));
    cr_expect_str_eq(st, "HTTP/1.1 200 OK");
    read_status(b, st, sizeof(st));
    cr_expect_str_eq(st, "HTTP/1.1 200 OK");
    close(a);
    close(b);
    close(fast);
    mc_http_server_destroy(s);
}

static void *stop_main(void *arg)
{
    mc_http_server_stop(arg);
    return NULL;
}

Test(http_workers, stop_with_a_handler_running_and_one_queued_ends, .timeout = 30)
{
    mc_http_server_t *s = start(1);
    uint16_t port = mc_http_server_port(s);
    int a = send_get(port, "/wait"), b;
    pthread_t t;

    wait_for_waiters(1);
    b = send_get(port, "/wait");
    mc_sleep_ms(50); /* b reaches the queue */
    pthread_create(&t, NULL, stop_main, s);
    mc_sleep_ms(50);
    open_gate(); /* the running handler ends; the queued one is cancelled */
    pthread_join(t, NULL);
    cr_expect_eq(atomic_load(&waiting), 0, "no handler left running after stop");
    close(a);
    close(b);
    mc_http_server_destroy(s);
}
