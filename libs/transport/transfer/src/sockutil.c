/* Socket plumbing for the TCP back end and server. Every wait is a poll()
 * bounded by the caller's deadline, so a stalled peer costs at most that. */
#include "sockutil.h"

#include "mc/errors.h"
#include "mc/mtime.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Milliseconds left until deadline, rounded up; 0 when passed. */
static int ms_left(uint64_t deadline_ns)
{
    uint64_t now = mc_now_ns();
    uint64_t ms;

    if (now >= deadline_ns)
        return 0;
    ms = (deadline_ns - now + 999999) / 1000000;
    return ms > 60000 ? 60000 : (int)ms;
}

static int wait_fd(int fd, short events, uint64_t deadline_ns)
{
    struct pollfd p = {.fd = fd, .events = events};

    for (;;) {
        int left = ms_left(deadline_ns), rc;
        if (left == 0)
            return 0;
        rc = poll(&p, 1, left);
        if (rc > 0)
            return 1;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

void te_sock_tune(int fd)
{
    int one = 1, buf = TE_SOCK_BUF;

    set_nonblock(fd);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
}

static int resolve(const char *host, uint16_t port, int passive, struct addrinfo **res)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    char ports[8];

    hints.ai_flags = passive ? AI_PASSIVE : 0;
    snprintf(ports, sizeof ports, "%u", (unsigned)port);
    return getaddrinfo(host, ports, &hints, res) == 0 ? MC_OK : MC_TRANSFER_FAIL;
}

int te_sock_connect(const char *host, uint16_t port, uint32_t timeout_ms, int *out)
{
    struct addrinfo *ai;
    uint64_t deadline = mc_now_ns() + (uint64_t)timeout_ms * 1000000u;
    int fd, err = 0;
    socklen_t elen = sizeof err;

    if (resolve(host, port, 0, &ai) != MC_OK)
        return MC_TRANSFER_FAIL;
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(ai);
        return MC_TRANSFER_FAIL;
    }
    te_sock_tune(fd);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS || wait_fd(fd, POLLOUT, deadline) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err != 0) {
            freeaddrinfo(ai);
            close(fd);
            return MC_TRANSFER_FAIL;
        }
    }
    freeaddrinfo(ai);
    *out = fd;
    return MC_OK;
}

int te_sock_listen(const char *host, uint16_t port, int *out, uint16_t *bound)
{
    struct addrinfo *ai;
    struct sockaddr_in sa;
    socklen_t slen = sizeof sa;
    int fd, one = 1;

    if (resolve(host, port, 1, &ai) != MC_OK)
        return MC_TRANSFER_FAIL;
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &slen) != 0) {
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return MC_TRANSFER_FAIL;
    }
    freeaddrinfo(ai);
    set_nonblock(fd);
    *bound = ntohs(sa.sin_port);
    *out = fd;
    return MC_OK;
}

int te_sock_writev_all(int fd, struct iovec *iov, int n, uint64_t deadline_ns)
{
    while (n > 0) {
        /* sendmsg, not writev: MSG_NOSIGNAL, a dead peer must not raise SIGPIPE. */
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)(n > IOV_MAX ? IOV_MAX : n)};
        ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN || wait_fd(fd, POLLOUT, deadline_ns) != 1)
                return MC_TRANSFER_FAIL;
            continue;
        }
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return MC_OK;
}

int te_sock_read_all(int fd, void *buf, size_t len, uint64_t deadline_ns)
{
    uint8_t *p = buf;

    while (len > 0) {
        ssize_t r = recv(fd, p, len, 0);
        if (r > 0) {
            p += r;
            len -= (size_t)r;
        } else if (r == 0) {
            return MC_TRANSFER_FAIL; /* peer closed */
        } else if (errno == EINTR) {
            continue;
        } else if (errno != EAGAIN || wait_fd(fd, POLLIN, deadline_ns) != 1) {
            return MC_TRANSFER_FAIL;
        }
    }
    return MC_OK;
}

int te_sock_drain(int fd, size_t len, uint64_t deadline_ns)
{
    uint8_t scratch[16384];

    while (len > 0) {
        size_t n = len < sizeof scratch ? len : sizeof scratch;
        if (te_sock_read_all(fd, scratch, n, deadline_ns) != MC_OK)
            return MC_TRANSFER_FAIL;
        len -= n;
    }
    return MC_OK;
}

int te_sock_wait_readable(int fd, uint64_t deadline_ns)
{
    return wait_fd(fd, POLLIN, deadline_ns);
}

int te_sock_idle_broken(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    return poll(&p, 1, 0) != 0;
}
