/* Server side of the TCP back end: one listener thread, one thread per
 * accepted connection serving its requests in order (the client pipelines).
 * Besides READ/WRITE/PING it carries the back ends' control frames (such as
 * a connection handshake), handed to the engine by opcode, never looked into.
 *
 * When the engine holds keys, a connection first runs the server side of the
 * handshake (te_auth.c) within auth_timeout_ms; a failure closes it before a
 * request is read.
 *
 * Every header is decoded and validated before a byte of payload is touched:
 * segment id, epoch, offset+length against the segment, length against the
 * frame cap. A request that is well-formed but refused (bad range, wrong
 * epoch, unknown segment) gets an error status and the connection goes on
 * (a WRITE's payload is drained). A malformed header cannot be resynchronised:
 * the server answers with an error status and closes. Once a header has
 * started, the rest of the frame must arrive within the request timeout.
 *
 * Bounds: at most max_conns connections (one more is accepted and closed at
 * once); one idle for idle_timeout_ms between requests is closed; when
 * accept runs out of descriptors (EMFILE/ENFILE) the listener sheds the
 * waiting connection with a spare descriptor kept for that, and backs off
 * instead of spinning on a listener that stays readable. */
#include "te_internal.h"

#include "mc/crc32c.h"
#include "mc/errors.h"
#include "mc/mtime.h"
#include "mc/te_tcp_proto.h"
#include "sockutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct srv_conn {
    te_tcp_server_t *srv;
    int fd;
    pthread_t thr;
    bool done;       /* thread finished; joined and freed by the reaper */
    bool pending;    /* handshake running: key_id not known yet */
    uint64_t key_id; /* key the client proved (te_auth.h); 0 = none */
    struct srv_conn *next;
} srv_conn_t;

/* Lock rules: mu guards conns, live and every srv_conn_t's done, pending and
 * key_id; a connection's fd is only shut down (never closed) under it. */
struct te_tcp_server {
    mc_te_t *te;
    int lfd;
    int spare; /* reserved descriptor, given up to shed a connection at EMFILE; -1 none */
    pthread_t thr;
    pthread_mutex_t mu;
    srv_conn_t *conns;
    unsigned live; /* connections whose thread has not finished */
    atomic_bool stop;
};

#define IDLE_TICK_MS 200
#define BACKOFF_MIN_MS 10
#define BACKOFF_MAX_MS 200

/* Waits for the first byte of the next header; false when stopping, closed,
 * or idle for idle_timeout_ms. */
static bool wait_next_header(srv_conn_t *c, uint32_t idle_ms)
{
    uint64_t now = mc_now_ns();
    uint64_t idle_end = idle_ms == UINT32_MAX ? UINT64_MAX : now + (uint64_t)idle_ms * 1000000u;

    while (!atomic_load(&c->srv->stop)) {
        uint64_t tick = mc_now_ns() + IDLE_TICK_MS * 1000000ull;
        int rc = te_sock_wait_readable(c->fd, tick < idle_end ? tick : idle_end);
        if (rc == 1)
            return true;
        if (rc < 0 || mc_now_ns() >= idle_end)
            return false;
    }
    return false;
}

/* The handshake, when the engine holds keys. Records the key the client
 * proved; false closes the connection. A rotation that retired that key
 * while the handshake ran is caught here (te_tcp_server_revoke skips
 * pending connections). */
static bool authenticate(srv_conn_t *c, const mc_te_opts_t *o)
{
    te_auth_t *a = &c->srv->te->auth;
    uint64_t id = 0;
    bool ok = !te_auth_on(a) ||
              te_auth_server(a, c->fd, mc_now_ns() + (uint64_t)o->auth_timeout_ms * 1000000u,
                             &id) == MC_OK;

    pthread_mutex_lock(&c->srv->mu);
    c->key_id = id;
    c->pending = false;
    pthread_mutex_unlock(&c->srv->mu);
    return ok && te_auth_holds(a, id);
}

static int send_resp(int fd, const mc_tcp_req_t *q, int status, uint32_t crc, void *payload,
                     uint64_t len, uint64_t deadline)
{
    uint8_t hdr[MC_TCP_RESP_SIZE];
    mc_tcp_resp_t r = {.version = MC_TCP_VERSION,
                       .opcode = q->opcode,
                       .id = q->id,
                       .status = status,
                       .crc = crc,
                       .length = len};
    struct iovec iov[2] = {{hdr, sizeof hdr}, {payload, (size_t)len}};

    r.flags = crc ? MC_TCP_FLAG_CRC : 0;
    mc_tcp_resp_encode(&r, hdr);
    return te_sock_writev_all(fd, iov, len ? 2 : 1, deadline);
}

/* Serves one READ or WRITE whose header is valid. MC_OK keeps the connection. */
static int serve_data(srv_conn_t *c, const mc_tcp_req_t *q, uint64_t deadline)
{
    mc_te_t *te = c->srv->te;
    te_local_seg_t *s = te_local_seg_get(te, q->seg_id);
    int st = s ? te_local_seg_check(s, q->epoch, q->offset, q->length) : MC_SEGMENT_NOT_FOUND;
    uint8_t *p = st == MC_OK ? s->base + q->offset : NULL;
    uint32_t crc = 0;
    int rc;

    if (q->opcode == MC_TCP_OP_WRITE) {
        if (st != MC_OK) {
            rc = te_sock_drain(c->fd, (size_t)q->length, deadline);
        } else {
            rc = te_sock_read_all(c->fd, p, (size_t)q->length, deadline);
            if (rc == MC_OK && (q->flags & MC_TCP_FLAG_CRC) &&
                mc_crc32c(0, p, (size_t)q->length) != q->crc)
                st = MC_TRANSFER_FAIL;
        }
        if (s)
            te_local_seg_put(te, s);
        return rc == MC_OK ? send_resp(c->fd, q, st, 0, NULL, 0, deadline) : rc;
    }
    if (st == MC_OK && (q->flags & MC_TCP_FLAG_CRC))
        crc = mc_crc32c(0, p, (size_t)q->length);
    rc = send_resp(c->fd, q, st, crc, p, st == MC_OK ? q->length : 0, deadline);
    if (s)
        te_local_seg_put(te, s);
    return rc;
}

/* A control frame: its payload goes to the back end that claims the opcode
 * (te_control), whose answer goes back; the server never looks inside. */
static int serve_control(srv_conn_t *c, const mc_tcp_req_t *q, uint64_t deadline)
{
    uint8_t in[MC_TCP_MAX_CTRL], out[MC_TCP_MAX_CTRL];
    size_t out_len = 0;
    int st;

    if (te_sock_read_all(c->fd, in, (size_t)q->length, deadline) != MC_OK)
        return MC_TRANSFER_FAIL;
    st = te_control(c->srv->te, q->opcode, in, (size_t)q->length, out, sizeof out, &out_len);
    if (st == MC_OK && out_len > sizeof out)
        st = MC_INTERNAL_ERROR;
    return send_resp(c->fd, q, st, 0, out, st == MC_OK ? out_len : 0, deadline);
}

static void *conn_main(void *arg)
{
    srv_conn_t *c = arg;
    const mc_te_opts_t *o = te_opts(c->srv->te);
    uint8_t hdr[MC_TCP_REQ_SIZE];
    mc_tcp_req_t q;

    if (!authenticate(c, o))
        goto out;
    while (wait_next_header(c, o->idle_timeout_ms)) {
        uint64_t deadline = mc_now_ns() + (uint64_t)o->request_timeout_ms * 1000000u;
        int rc;

        if (te_sock_read_all(c->fd, hdr, sizeof hdr, deadline) != MC_OK)
            break;
        rc = mc_tcp_req_decode(hdr, &q);
        if (rc != MC_OK) {
            /* Cannot trust the framing any more: say why, then close. */
            (void)send_resp(c->fd, &q, rc, 0, NULL, 0, deadline);
            break;
        }
        if (q.opcode == MC_TCP_OP_PING)
            rc = send_resp(c->fd, &q, MC_OK, 0, NULL, 0, deadline);
        else if (mc_tcp_op_is_ctrl(q.opcode))
            rc = serve_control(c, &q, deadline);
        else
            rc = serve_data(c, &q, deadline);
        if (rc != MC_OK)
            break;
    }
out:
    shutdown(c->fd, SHUT_RDWR);
    pthread_mutex_lock(&c->srv->mu);
    c->done = true;
    c->srv->live--;
    pthread_mutex_unlock(&c->srv->mu);
    return NULL;
}

/* Joins and frees finished connection threads. Called with srv->mu held. */
static void reap_locked(te_tcp_server_t *s, bool all)
{
    srv_conn_t **pp = &s->conns;

    while (*pp) {
        srv_conn_t *c = *pp;
        if (c->done || all) {
            *pp = c->next;
            pthread_mutex_unlock(&s->mu);
            pthread_join(c->thr, NULL);
            pthread_mutex_lock(&s->mu);
            close(c->fd);
            free(c);
        } else {
            pp = &c->next;
        }
    }
}

/* Out of descriptors with a connection waiting: give up the spare to accept
 * it and close it at once (its client fails fast instead of waiting in the
 * backlog), then take the spare again. */
static void shed_one(te_tcp_server_t *s)
{
    int fd;

    if (s->spare < 0)
        return;
    close(s->spare);
    fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0)
        close(fd);
    s->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* Accepts one connection: served by a new thread, or closed at once when
 * max_conns are open. Returns false when out of descriptors (back off). */
static bool accept_one(te_tcp_server_t *s)
{
    int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
    srv_conn_t *c;

    if (fd < 0) {
        if (errno != EMFILE && errno != ENFILE && errno != ENOBUFS && errno != ENOMEM)
            return true; /* EAGAIN, a connection reset while queued, ... */
        shed_one(s);
        return false;
    }
    pthread_mutex_lock(&s->mu);
    if (s->live >= te_opts(s->te)->max_conns) {
        pthread_mutex_unlock(&s->mu);
        close(fd);
        return true;
    }
    pthread_mutex_unlock(&s->mu);
    te_sock_tune(fd);
    c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return false;
    }
    c->srv = s;
    c->fd = fd;
    c->pending = true;
    pthread_mutex_lock(&s->mu);
    if (pthread_create(&c->thr, NULL, conn_main, c) != 0) {
        pthread_mutex_unlock(&s->mu);
        close(fd);
        free(c);
        return false;
    }
    s->live++;
    c->next = s->conns;
    s->conns = c;
    pthread_mutex_unlock(&s->mu);
    return true;
}

static void *listen_main(void *arg)
{
    te_tcp_server_t *s = arg;
    struct pollfd p = {.fd = s->lfd, .events = POLLIN};
    int backoff = 0;

    while (!atomic_load(&s->stop)) {
        if (backoff) /* out of resources: let connections end before accepting more */
            (void)poll(NULL, 0, backoff);
        if (s->spare < 0)
            s->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (poll(&p, 1, IDLE_TICK_MS) > 0) {
            if (accept_one(s))
                backoff = 0;
            else
                backoff = backoff ? (backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2)
                                  : BACKOFF_MIN_MS;
        }
        pthread_mutex_lock(&s->mu);
        reap_locked(s, false);
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

void te_tcp_server_revoke(te_tcp_server_t *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    for (srv_conn_t *c = s->conns; c; c = c->next)
        if (!c->done && !c->pending && !te_auth_holds(&s->te->auth, c->key_id))
            shutdown(c->fd, SHUT_RDWR); /* its thread sees EOF and ends */
    pthread_mutex_unlock(&s->mu);
}

int te_tcp_server_create(mc_te_t *te, const char *host, uint16_t port, te_tcp_server_t **out,
                         uint16_t *bound_port)
{
    te_tcp_server_t *s = calloc(1, sizeof *s);

    if (!s)
        return MC_INTERNAL_ERROR;
    s->te = te;
    s->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    pthread_mutex_init(&s->mu, NULL);
    atomic_init(&s->stop, false);
    if (te_sock_listen(host, port, &s->lfd, bound_port) != MC_OK) {
        mc_fail(te->create_err, MC_TRANSFER_FAIL, "cannot listen on %s:%u: %s", host,
                (unsigned)port, strerror(errno));
        pthread_mutex_destroy(&s->mu);
        if (s->spare >= 0)
            close(s->spare);
        free(s);
        return MC_TRANSFER_FAIL;
    }
    if (pthread_create(&s->thr, NULL, listen_main, s) != 0) {
        close(s->lfd);
        if (s->spare >= 0)
            close(s->spare);
        pthread_mutex_destroy(&s->mu);
        free(s);
        return MC_INTERNAL_ERROR;
    }
    pthread_setname_np(s->thr, "te-listen");
    *out = s;
    return MC_OK;
}

void te_tcp_server_destroy(te_tcp_server_t *s)
{
    if (!s)
        return;
    atomic_store(&s->stop, true);
    pthread_join(s->thr, NULL);
    pthread_mutex_lock(&s->mu);
    for (srv_conn_t *c = s->conns; c; c = c->next)
        shutdown(c->fd, SHUT_RDWR);
    reap_locked(s, true);
    pthread_mutex_unlock(&s->mu);
    close(s->lfd);
    if (s->spare >= 0)
        close(s->spare);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
