/* Client side of the TCP back end.
 *
 * Per peer (endpoint) a pool of `tcp_conns` persistent connections. Each
 * connection has a sender thread (takes queued slices, writes header +
 * payload with one writev) and a receiver thread (reads responses in order
 * and READ payloads straight into the caller's memory), so up to `tcp_depth`
 * requests are pipelined per connection and a large request is sliced over
 * the pool. Slices live in the batch: nothing is allocated per slice.
 *
 * Failure: any I/O error, timeout or protocol violation shuts the socket
 * down (waking the other thread); the receiver fails every in-flight slice;
 * once neither thread uses the socket it is closed and the next slice
 * reconnects. A slice is completed only when both threads are done with it,
 * so the caller's buffer is never touched after its request completed.
 *
 * Locking: conn->mu guards everything in tcp_conn_t except the socket I/O
 * itself, which happens unlocked while conn->users counts it. */
#include "te_internal.h"

#include "mc/crc32c.h"
#include "mc/errors.h"
#include "mc/mtime.h"
#include "mc/te_tcp_proto.h"
#include "sockutil.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct tcp_peer tcp_peer_t;

typedef struct tcp_conn {
    tcp_peer_t *peer;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    te_slice_t *q_head, *q_tail; /* waiting to be sent */
    te_slice_t *f_head, *f_tail; /* sent or being sent, response pending (wire order) */
    unsigned inflight;
    int fd;      /* -1: none */
    bool broken; /* fd shut down; closed once users == 0 and f is empty */
    int users;   /* threads doing I/O on fd right now */
    bool stop, started;
    uint64_t last_ns; /* when a slice last went out on fd */
    pthread_t tx, rx;
} tcp_conn_t;

struct tcp_peer {
    mc_te_t *te;
    const mc_te_opts_t *o;
    char host[MC_TE_ENDPOINT_MAX];
    uint16_t port;
    _Atomic unsigned rr;
    tcp_peer_t *next;
    unsigned n;
    tcp_conn_t conns[]; /* n */
};

typedef struct tcp_state {
    mc_te_t *te;
    const mc_te_opts_t *o;
    pthread_mutex_t mu; /* guards peers */
    tcp_peer_t *peers;
    _Atomic uint64_t next_id;
} tcp_state_t;

static void slice_finish_locked(te_slice_t *s)
{
    if (s->tx_done && s->rx_done)
        te_slice_done(s, s->status);
}

/* Marks the connection broken (once per socket). Called with c->mu held. */
static void break_locked(tcp_conn_t *c)
{
    if (c->fd >= 0 && !c->broken) {
        shutdown(c->fd, SHUT_RDWR);
        c->broken = true;
        pthread_cond_broadcast(&c->cv);
    }
}

/* Closes a broken socket when nobody uses it any more. c->mu held. */
static void reset_if_idle_locked(tcp_conn_t *c)
{
    if (c->broken && c->users == 0 && !c->f_head) {
        close(c->fd);
        c->fd = -1;
        c->broken = false;
    }
}

static int send_slice(tcp_conn_t *c, int fd, te_slice_t *s, bool crc)
{
    uint8_t hdr[MC_TCP_REQ_SIZE];
    mc_tcp_req_t q = {.version = MC_TCP_VERSION,
                      .id = s->id,
                      .seg_id = s->seg_id,
                      .epoch = s->epoch,
                      .offset = s->offset,
                      .length = s->length};
    struct iovec iov[2] = {{hdr, sizeof hdr}, {s->local, (size_t)s->length}};
    bool write = s->op == MC_TE_WRITE;

    q.opcode = write ? MC_TCP_OP_WRITE : MC_TCP_OP_READ;
    if (crc) {
        q.flags = MC_TCP_FLAG_CRC;
        q.crc = write ? mc_crc32c(0, s->local, (size_t)s->length) : 0;
    }
    mc_tcp_req_encode(&q, hdr);
    return te_sock_writev_all(fd, iov, write && s->length ? 2 : 1, s->deadline_ns);
}

/* Whether an idle connection is past half the idle timeout: the peer (same
 * settings) may be about to close it, so start over rather than race its FIN. */
static bool idle_too_long(const tcp_conn_t *c, const mc_te_opts_t *o, uint64_t now)
{
    return o->idle_timeout_ms != UINT32_MAX &&
           now - c->last_ns > (uint64_t)o->idle_timeout_ms * 500000u;
}

/* Connects (and runs the handshake) if needed. c->mu held on entry and
 * exit, dropped while connecting. */
static int ensure_connected_locked(tcp_conn_t *c, const mc_te_opts_t *o)
{
    uint64_t now = mc_now_ns();
    int fd, rc;

    if (c->fd >= 0 && c->inflight == 0 &&
        (te_sock_idle_broken(c->fd) || idle_too_long(c, o, now))) {
        close(c->fd); /* peer closed an idle connection, or soon will: start over */
        c->fd = -1;
    }
    c->last_ns = now;
    if (c->fd >= 0)
        return MC_OK;
    pthread_mutex_unlock(&c->mu);
    rc = te_connect(c->peer->te, c->peer->host, c->peer->port, &fd);
    pthread_mutex_lock(&c->mu);
    if (rc == MC_OK)
        c->fd = fd;
    return rc;
}

/* Sender: queue → socket, up to tcp_depth slices in flight. */
static void *tx_main(void *arg)
{
    tcp_conn_t *c = arg;
    const mc_te_opts_t *o = c->peer->o;

    pthread_mutex_lock(&c->mu);
    for (;;) {
        te_slice_t *s;
        int fd, rc;

        reset_if_idle_locked(c);
        while (!c->stop && (!c->q_head || c->inflight >= o->tcp_depth || c->broken)) {
            pthread_cond_wait(&c->cv, &c->mu);
            reset_if_idle_locked(c);
        }
        if (c->stop)
            break;
        s = c->q_head;
        c->q_head = s->next;
        if (!c->q_head)
            c->q_tail = NULL;
        s->next = NULL;
        if (mc_now_ns() >= s->deadline_ns || ensure_connected_locked(c, o) != MC_OK || c->stop) {
            s->status = MC_TRANSFER_FAIL;
            s->tx_done = s->rx_done = true;
            slice_finish_locked(s);
            continue;
        }
        /* In the in-flight list before the first byte goes out: the response
         * may arrive before writev returns. */
        if (c->f_tail)
            c->f_tail->next = s;
        else
            c->f_head = s;
        c->f_tail = s;
        c->inflight++;
        c->users++;
        fd = c->fd;
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);

        rc = send_slice(c, fd, s, o->crc);

        pthread_mutex_lock(&c->mu);
        c->users--;
        s->tx_done = true;
        if (rc != MC_OK)
            break_locked(c);
        slice_finish_locked(s);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* Reads the response to s (and a READ's payload into s->local). */
static int recv_slice(int fd, te_slice_t *s, bool crc, int *status)
{
    uint8_t hdr[MC_TCP_RESP_SIZE];
    mc_tcp_resp_t r;
    bool read = s->op == MC_TE_READ;

    if (te_sock_read_all(fd, hdr, sizeof hdr, s->deadline_ns) != MC_OK ||
        mc_tcp_resp_decode(hdr, &r) != MC_OK || r.id != s->id ||
        r.opcode != (read ? MC_TCP_OP_READ : MC_TCP_OP_WRITE))
        return MC_TRANSFER_FAIL;
    *status = r.status;
    if (r.status != MC_OK)
        return r.length == 0 ? MC_OK : MC_TRANSFER_FAIL;
    if (r.length != (read ? s->length : 0))
        return MC_TRANSFER_FAIL;
    if (read && r.length &&
        te_sock_read_all(fd, s->local, (size_t)r.length, s->deadline_ns) != MC_OK)
        return MC_TRANSFER_FAIL;
    if (read && crc &&
        (!(r.flags & MC_TCP_FLAG_CRC) || mc_crc32c(0, s->local, (size_t)r.length) != r.crc))
        *status = MC_TRANSFER_FAIL; /* framing is intact; the bytes are not */
    return MC_OK;
}

/* Receiver: responses in wire order; on a broken socket fails the rest. */
static void *rx_main(void *arg)
{
    tcp_conn_t *c = arg;
    const mc_te_opts_t *o = c->peer->o;

    pthread_mutex_lock(&c->mu);
    for (;;) {
        te_slice_t *s;
        int status = MC_TRANSFER_FAIL, rc = MC_TRANSFER_FAIL;

        while (!c->stop && !c->f_head)
            pthread_cond_wait(&c->cv, &c->mu);
        if (!c->f_head)
            break; /* stopping and nothing in flight */
        s = c->f_head;
        if (!c->broken && !c->stop) {
            int fd = c->fd;
            c->users++;
            pthread_mutex_unlock(&c->mu);
            rc = recv_slice(fd, s, o->crc, &status);
            pthread_mutex_lock(&c->mu);
            c->users--;
        }
        if (rc != MC_OK) {
            status = MC_TRANSFER_FAIL;
            break_locked(c);
        }
        c->f_head = s->next;
        if (!c->f_head)
            c->f_tail = NULL;
        s->next = NULL;
        c->inflight--;
        s->status = status;
        s->rx_done = true;
        slice_finish_locked(s);
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

static int tcp_init(mc_te_t *te, void **state)
{
    tcp_state_t *st = calloc(1, sizeof *st);

    if (!st)
        return MC_INTERNAL_ERROR;
    st->te = te;
    st->o = te_opts(te);
    pthread_mutex_init(&st->mu, NULL);
    atomic_init(&st->next_id, 1);
    *state = st;
    return MC_OK;
}

static void conn_stop(tcp_conn_t *c)
{
    te_slice_t *s;

    pthread_mutex_lock(&c->mu);
    c->stop = true;
    break_locked(c);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (c->started) {
        pthread_join(c->tx, NULL);
        pthread_join(c->rx, NULL);
    }
    while ((s = c->q_head) != NULL) { /* only if batches were not destroyed first */
        c->q_head = s->next;
        te_slice_done(s, MC_TRANSFER_FAIL);
    }
    if (c->fd >= 0)
        close(c->fd);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
}

static void tcp_fini(void *state)
{
    tcp_state_t *st = state;
    tcp_peer_t *p;

    while ((p = st->peers) != NULL) {
        st->peers = p->next;
        for (unsigned i = 0; i < p->n; i++)
            conn_stop(&p->conns[i]);
        free(p);
    }
    pthread_mutex_destroy(&st->mu);
    free(st);
}

static tcp_peer_t *peer_create(tcp_state_t *st, const char *host, uint16_t port)
{
    unsigned n = st->o->tcp_conns;
    tcp_peer_t *p = calloc(1, sizeof *p + n * sizeof(tcp_conn_t));

    if (!p)
        return NULL;
    p->te = st->te;
    p->o = st->o;
    memcpy(p->host, host, strlen(host) + 1);
    p->port = port;
    p->n = n;
    atomic_init(&p->rr, 0);
    for (unsigned i = 0; i < n; i++) {
        tcp_conn_t *c = &p->conns[i];
        c->peer = p;
        c->fd = -1;
        pthread_mutex_init(&c->mu, NULL);
        pthread_cond_init(&c->cv, NULL);
    }
    return p;
}

/* Finds or creates the peer for a descriptor's endpoint (peers live until fini). */
static int tcp_open(void *state, const te_seg_desc_t *d, void **out)
{
    tcp_state_t *st = state;
    char host[MC_TE_ENDPOINT_MAX];
    uint16_t port;
    tcp_peer_t *p;

    if (te_parse_endpoint(d->endpoint, host, sizeof host, &port, false) != MC_OK)
        return MC_INVALID_PARAMS;
    pthread_mutex_lock(&st->mu);
    for (p = st->peers; p; p = p->next)
        if (p->port == port && strcmp(p->host, host) == 0)
            break;
    if (!p && (p = peer_create(st, host, port)) != NULL) {
        p->next = st->peers;
        st->peers = p;
    }
    pthread_mutex_unlock(&st->mu);
    *out = p;
    return p ? MC_OK : MC_INTERNAL_ERROR;
}

/* As many slices as connections, but none under tcp_min_slice or over the frame cap. */
static size_t tcp_slice_count(void *state, uint64_t length)
{
    tcp_state_t *st = state;
    uint64_t by_cap = (length + MC_TCP_MAX_FRAME - 1) / MC_TCP_MAX_FRAME;
    uint64_t by_min = length / st->o->tcp_min_slice;
    uint64_t n = by_min < st->o->tcp_conns ? by_min : st->o->tcp_conns;

    if (n < by_cap)
        n = by_cap;
    return n ? (size_t)n : 1;
}

static void conn_enqueue(tcp_conn_t *c, te_slice_t *s)
{
    pthread_mutex_lock(&c->mu);
    if (!c->started) {
        if (pthread_create(&c->tx, NULL, tx_main, c) != 0) {
            pthread_mutex_unlock(&c->mu);
            te_slice_done(s, MC_TRANSFER_FAIL);
            return;
        }
        if (pthread_create(&c->rx, NULL, rx_main, c) != 0) {
            c->stop = true; /* tx exits at once; the connection stays unusable */
            pthread_cond_broadcast(&c->cv);
            pthread_mutex_unlock(&c->mu);
            pthread_join(c->tx, NULL);
            te_slice_done(s, MC_TRANSFER_FAIL);
            return;
        }
        c->started = true;
    }
    if (c->stop) {
        pthread_mutex_unlock(&c->mu);
        te_slice_done(s, MC_TRANSFER_FAIL);
        return;
    }
    s->next = NULL;
    s->tx_done = s->rx_done = false;
    if (c->q_tail)
        c->q_tail->next = s;
    else
        c->q_head = s;
    c->q_tail = s;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void tcp_submit(void *state, const te_target_t *t, te_slice_t *sl, size_t n)
{
    tcp_state_t *st = state;
    tcp_peer_t *p = t->peer;
    unsigned base = atomic_fetch_add(&p->rr, (unsigned)n);

    for (size_t i = 0; i < n; i++) {
        sl[i].id = atomic_fetch_add(&st->next_id, 1);
        conn_enqueue(&p->conns[(base + i) % p->n], &sl[i]);
    }
}

static void tcp_describe(void *state, const void *addr, uint64_t len, te_seg_desc_t *d)
{
    (void)state, (void)addr, (void)len;
    d->tcp = true;
}

static bool tcp_reaches(void *state, const te_seg_desc_t *d)
{
    (void)state;
    return d->tcp;
}

const te_backend_t te_backend_tcp = {
    .name = "tcp",
    .init = tcp_init,
    .fini = tcp_fini,
    .describe = tcp_describe,
    .reaches = tcp_reaches,
    .open = tcp_open,
    .slice_count = tcp_slice_count,
    .submit = tcp_submit,
};
