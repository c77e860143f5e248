/* IPC message framing over a Unix stream socket (mc/ipc_sock.h). */
#include "mc/ipc_sock.h"

#include "mc/mtime.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int mc_ipc_send(int fd, const void *msg, size_t len, int pass_fd)
{
    const char *p = msg;
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;

    while (len > 0) {
        struct iovec iov = {(void *)(uintptr_t)p, len};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        ssize_t n;

        if (pass_fd >= 0) {
            struct cmsghdr *c;

            memset(&ctl, 0, sizeof(ctl));
            mh.msg_control = ctl.buf;
            mh.msg_controllen = sizeof(ctl.buf);
            c = CMSG_FIRSTHDR(&mh);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
        }
        n = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return MC_RPC_FAIL;
        pass_fd = -1; /* the descriptor went with the first byte */
        p += n;
        len -= (size_t)n;
    }
    return MC_OK;
}

/* Closes every descriptor a control message carried; keeps the first in
 * *got_fd when it is free. Returns how many came. */
static int take_fds(struct msghdr *mh, int *got_fd)
{
    int count = 0;

    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        size_t n;

        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;

            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (*got_fd < 0 && count == 0)
                *got_fd = fd;
            else
                close(fd);
            count++;
        }
    }
    return count;
}

/* Reads exactly len bytes into dst (*done counts them). The first byte is
 * awaited first_wait ms (-1 = forever; -2 = this is the rest of a message:
 * part_ms from the start), the rest part_ms from the first byte. */
static int read_exact(int fd, char *dst, size_t len, int first_wait, int part_ms, int *got_fd,
                      int *n_fds, size_t *done, mc_errmsg_t *err)
{
    uint64_t deadline = 0;

    while (*done < len) {
        union {
            struct cmsghdr h;
            char buf[CMSG_SPACE(4 * sizeof(int))];
        } ctl;
        struct iovec iov = {dst + *done, len - *done};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = ctl.buf,
                            .msg_controllen = sizeof(ctl.buf)};
        int wait = first_wait;
        struct pollfd pfd = {fd, POLLIN, 0};
        ssize_t n;
        int pr;

        if (*done > 0 || first_wait == -2) {
            uint64_t now = mc_now_ms();
            if (!deadline)
                deadline = now + (uint64_t)part_ms;
            wait = now >= deadline ? 0 : (int)(deadline - now);
        }
        pr = poll(&pfd, 1, wait);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0)
            return *done || first_wait == -2
                       ? mc_fail(err, MC_INVALID_PARAMS, "half-sent message (timed out)")
                       : mc_fail(err, MC_RPC_FAIL, "idle");
        n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n >= 0) /* the control buffer is the kernel's only after a successful recvmsg */
            *n_fds += take_fds(&mh, got_fd);
        if (n == 0)
            return *done || first_wait == -2
                       ? mc_fail(err, MC_INVALID_PARAMS, "peer closed mid-message")
                       : mc_fail(err, MC_RPC_FAIL, "closed");
        if (n < 0)
            return mc_fail(err, MC_RPC_FAIL, "recv: %s", strerror(errno));
        if (mh.msg_flags & MSG_CTRUNC)
            *n_fds += 2; /* more descriptors than fit: refuse the message */
        *done += (size_t)n;
    }
    return MC_OK;
}

int mc_ipc_recv(int fd, uint32_t max_msg, int idle_ms, int part_ms, mc_ipc_hdr_t *h, mc_buf_t *b,
                int *got_fd, mc_errmsg_t *err)
{
    uint8_t hdr[MC_IPC_HDR_LEN];
    size_t done = 0;
    int n_fds = 0, rc;

    *got_fd = -1;
    b->len = 0;
    rc = read_exact(fd, (char *)hdr, sizeof(hdr), idle_ms, part_ms, got_fd, &n_fds, &done, err);
    if (rc == MC_OK)
        rc = mc_ipc_hdr_decode(hdr, max_msg, h, err);
    if (rc == MC_OK && (rc = mc_buf_reserve(b, h->len)) != MC_OK)
        mc_fail(err, rc, "out of memory");
    done = 0;
    if (rc == MC_OK && h->len)
        rc = read_exact(fd, b->data, h->len, -2, part_ms, got_fd, &n_fds, &done, err);
    if (rc == MC_OK && n_fds > 1)
        rc = mc_fail(err, MC_INVALID_PARAMS, "%d descriptors in one message (at most 1)", n_fds);
    if (rc != MC_OK) {
        if (*got_fd >= 0)
            close(*got_fd);
        *got_fd = -1;
        return rc;
    }
    b->len = h->len;
    if (b->data)
        b->data[b->len] = '\0';
    return MC_OK;
}
