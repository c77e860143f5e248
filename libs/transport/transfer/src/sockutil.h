/* Non-blocking socket helpers with absolute deadlines (mc_now_ns clock).
 * All return MC_OK or MC_TRANSFER_FAIL; none blocks past its deadline. */
#ifndef MC_TE_SOCKUTIL_H
#define MC_TE_SOCKUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Socket buffer size asked for data connections. */
#define TE_SOCK_BUF (4 << 20)

/* Connects to host:port (IPv4 literal or name) within timeout_ms; the socket
 * is non-blocking, TCP_NODELAY, with large buffers. */
int te_sock_connect(const char *host, uint16_t port, uint32_t timeout_ms, int *fd);
/* Listening socket on host:port (port 0 = ephemeral); *bound gets the port. */
int te_sock_listen(const char *host, uint16_t port, int *fd, uint16_t *bound);
/* Makes an accepted socket ready for data (non-blocking, nodelay, buffers). */
void te_sock_tune(int fd);
/* Writes all of iov[0..n) (modified in place). */
int te_sock_writev_all(int fd, struct iovec *iov, int n, uint64_t deadline_ns);
/* Reads exactly len bytes. */
int te_sock_read_all(int fd, void *buf, size_t len, uint64_t deadline_ns);
/* Reads and discards len bytes. */
int te_sock_drain(int fd, size_t len, uint64_t deadline_ns);
/* Waits until fd is readable or the deadline passes: 1 readable, 0 timeout, <0 error. */
int te_sock_wait_readable(int fd, uint64_t deadline_ns);
/* 1 when an idle connection has data or EOF pending (peer closed / garbage). */
int te_sock_idle_broken(int fd);

#endif
