/* The TCP server at the process's descriptor limit: accept() failing with
 * EMFILE must not turn the listener into a busy loop, and once descriptors
 * are free again a new connection is served. Uses only the engine's
 * original API, so the same test runs against the code before the fix. */
#include "mc/errors.h"
#include "mc/mtime.h"
#include "mc/te_tcp_proto.h"
#include "mc/transfer.h"
#include "te_test_util.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CLIENTS 256
#define WINDOW_MS 1500
#define MAX_CPU_PCT 15.0

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;

    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n - 3; /* ".", "..", the directory's own descriptor */
}

static double cpu_ms(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static int connect_to(uint16_t port)
{
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_usec = 500000};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* A PING on a new connection, answered. */
static bool ping_ok(uint16_t port)
{
    mc_tcp_req_t q = {.version = MC_TCP_VERSION, .opcode = MC_TCP_OP_PING, .id = 1};
    uint8_t hdr[MC_TCP_REQ_SIZE], rh[MC_TCP_RESP_SIZE];
    mc_tcp_resp_t r;
    int fd = connect_to(port);
    bool ok;

    if (fd < 0)
        return false;
    mc_tcp_req_encode(&q, hdr);
    ok = send(fd, hdr, sizeof hdr, MSG_NOSIGNAL) == (ssize_t)sizeof hdr &&
         recv(fd, rh, sizeof rh, MSG_WAITALL) == (ssize_t)sizeof rh &&
         mc_tcp_resp_decode(rh, &r) == MC_OK && r.status == MC_OK;
    close(fd);
    return ok;
}

/* The scenario, in a child whose descriptor limit it lowers. 0 = pass. */
static int at_the_limit(void)
{
    mc_te_t *te = tu_engine(1, 1000, 0);
    int fds[MAX_CLIENTS], k, rc = 0;
    struct rlimit rl;
    uint16_t port;
    double c0, pct;
    uint64_t t0, wall;

    if (!te)
        return 10;
    port = (uint16_t)strtoul(strrchr(mc_te_endpoint(te), ':') + 1, NULL, 10);
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = (rlim_t)count_fds() + 24;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 11;
    /* Each connection costs two descriptors here (client and accepted), so
     * the table fills with connections still waiting in the backlog. */
    for (k = 0; k < MAX_CLIENTS; k++)
        if ((fds[k] = connect_to(port)) < 0)
            break;
    if (k == MAX_CLIENTS || errno != EMFILE) {
        fprintf(stderr, "never reached the limit (%d connections, %s)\n", k, strerror(errno));
        rc = 12;
        goto out;
    }
    usleep(300 * 1000);
    c0 = cpu_ms();
    t0 = mc_now_ms();
    usleep(WINDOW_MS * 1000);
    wall = mc_now_ms() - t0;
    pct = (cpu_ms() - c0) * 100.0 / (double)wall;
    fprintf(stderr, "fdlimit: %d client connections; process CPU at the limit: %.1f%% of a core\n",
            k, pct);
    if (pct > MAX_CPU_PCT)
        rc = 1;
    /* Free the descriptors (the connections still waiting in the backlog
     * are this process's own): a new connection must be served, soon. */
    for (int i = 0; i < k; i++)
        close(fds[i]);
    k = 0;
    t0 = mc_now_ms();
    while (!ping_ok(port)) {
        if (mc_now_ms() - t0 > 3000) {
            fprintf(stderr, "fdlimit: no connection served after descriptors were freed\n");
            rc = rc ? rc : 2;
            break;
        }
        usleep(50 * 1000);
    }
out:
    for (int i = 0; i < k; i++)
        close(fds[i]);
    mc_te_destroy(te);
    return rc;
}

Test(fdlimit, accept_at_the_limit_does_not_spin, .timeout = 20)
{
    pid_t pid = fork();
    int st = 0;

    cr_assert(pid >= 0);
    if (pid == 0)
        _exit(at_the_limit());
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st), "child died (status %d)", st);
    cr_assert_eq(WEXITSTATUS(st), 0,
                 "1: listener busy at the fd limit, 2: not served after fds freed, "
                 "1x: set-up (see stderr)");
}
