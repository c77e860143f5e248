/* RDMA back end (libibverbs, RC QPs, one-sided READ/WRITE).
 *
 * Per device: one PD, one CQ and a polling thread. Per registered buffer:
 * one MR per device. Per peer: TE_RDMA_QPS RC QPs per local device, set up
 * lazily by an RDMA_CONNECT exchange over the TCP control port (QPN, PSN,
 * LID, GID, MTU; see te_rdma_proto.h). Requests arrive cut in <= 64 KiB
 * slices (slice_count), spread round-robin over devices and QPs, at most
 * TE_RDMA_MAX_WR outstanding per QP. An error completion fails its slice
 * with MC_TRANSFER_FAIL and marks the peer broken; its QPs are rebuilt once
 * idle. The owner cannot check epochs on one-sided ops: a remount
 * re-registers the segment's MRs (mc_te_set_epoch), so stale rkeys fail.
 *
 * Untested on this machine (no device): everything below ibv_get_device_list.
 * Tested: the clear error without a device, rdma_proto.c, descriptors. */
#include "te_internal.h"

#include "mc/errors.h"
#include "mc/mtime.h"
#include "mc/te_rdma_proto.h"
#include "mc/te_tcp_proto.h"
#include "sockutil.h"

#include <infiniband/verbs.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TE_RDMA_QPS 2
#define TE_RDMA_MAX_WR 256
#define TE_RDMA_CQ 4096

typedef struct rdma_state rdma_state_t;

typedef struct rdma_dev {
    rdma_state_t *st;
    char name[MC_RDMA_NAME_MAX];
    struct ibv_context *ctx;
    struct ibv_pd *pd;
    struct ibv_cq *cq;
    uint16_t lid;
    union ibv_gid gid;
    uint8_t mtu;
    pthread_t poller;
    bool polling;
} rdma_dev_t;

typedef struct rdma_mr {
    uint8_t *addr;
    size_t len;
    struct ibv_mr *mr[MC_TE_MAX_DEVICES];
    struct rdma_mr *next;
} rdma_mr_t;

typedef struct rdma_peer rdma_peer_t;

typedef struct rdma_qp {
    struct ibv_qp *qp;
    _Atomic int outstanding;
    rdma_peer_t *peer;
} rdma_qp_t;

struct rdma_peer {
    char endpoint[MC_TE_ENDPOINT_MAX];
    te_seg_desc_t d; /* remote devices and address; rkeys per segment below */
    pthread_mutex_t mu;
    bool connected;
    atomic_bool broken;
    _Atomic unsigned rr;
    rdma_qp_t qps[MC_TE_MAX_DEVICES][TE_RDMA_QPS];
    struct rdma_peer *next;
};

typedef struct rdma_accepted {
    struct ibv_qp *qp;
    struct rdma_accepted *next;
} rdma_accepted_t;

struct rdma_state {
    mc_te_t *te;
    pthread_mutex_t mu; /* guards mrs, peers, accepted */
    rdma_mr_t *mrs;
    rdma_peer_t *peers;
    rdma_accepted_t *accepted;
    atomic_bool stop;
    unsigned ndev;
    rdma_dev_t dev[MC_TE_MAX_DEVICES];
};

/* Completion polling: one thread per device; wr_id is the slice. */
static void *poll_main(void *arg)
{
    rdma_dev_t *d = arg;
    struct ibv_wc wc[32];

    while (!atomic_load(&d->st->stop)) {
        int n = ibv_poll_cq(d->cq, 32, wc);
        if (n <= 0) {
            sched_yield();
            continue;
        }
        for (int i = 0; i < n; i++) {
            te_slice_t *s = (te_slice_t *)(uintptr_t)wc[i].wr_id;
            rdma_qp_t *q = s->bctx;
            atomic_fetch_sub(&q->outstanding, 1);
            if (wc[i].status != IBV_WC_SUCCESS)
                atomic_store(&q->peer->broken, true); /* QPs are rebuilt once idle */
            te_slice_done(s, wc[i].status == IBV_WC_SUCCESS ? MC_OK : MC_TRANSFER_FAIL);
        }
    }
    return NULL;
}

static bool wanted(const char *list, const char *name)
{
    size_t n = strlen(name);

    if (!list)
        return true;
    for (const char *p = list; *p;) {
        size_t k = strcspn(p, ",");
        if (k == n && strncmp(p, name, n) == 0)
            return true;
        p += k + (p[k] == ',');
    }
    return false;
}

static int open_dev(rdma_state_t *st, struct ibv_device *ibd, rdma_dev_t *d)
{
    struct ibv_port_attr pa;

    d->st = st;
    snprintf(d->name, sizeof d->name, "%s", ibv_get_device_name(ibd));
    if (!(d->ctx = ibv_open_device(ibd)) || !(d->pd = ibv_alloc_pd(d->ctx)) ||
        !(d->cq = ibv_create_cq(d->ctx, TE_RDMA_CQ, NULL, NULL, 0)) ||
        ibv_query_port(d->ctx, 1, &pa) != 0 || ibv_query_gid(d->ctx, 1, 0, &d->gid) != 0) {
        mc_fail(st->te->create_err, MC_TRANSFER_FAIL, "RDMA device %s: cannot open PD/CQ/port 1",
                d->name);
        return MC_TRANSFER_FAIL;
    }
    d->lid = pa.lid;
    d->mtu = (uint8_t)pa.active_mtu;
    if (pthread_create(&d->poller, NULL, poll_main, d) != 0)
        return MC_INTERNAL_ERROR;
    d->polling = true;
    return MC_OK;
}

static void rdma_fini(void *state);

static int rdma_init(mc_te_t *te, void **state)
{
    const char *want = te_opts(te)->rdma_devices;
    int num = 0, rc = MC_OK;
    struct ibv_device **list = ibv_get_device_list(&num);
    rdma_state_t *st;

    if (!list || num <= 0) {
        mc_fail(te->create_err, MC_TRANSFER_FAIL,
                "no RDMA device found (ibv_get_device_list returned none); use protocol \"tcp\"");
        if (list)
            ibv_free_device_list(list);
        return MC_TRANSFER_FAIL;
    }
    if (!(st = calloc(1, sizeof *st))) {
        ibv_free_device_list(list);
        return MC_INTERNAL_ERROR;
    }
    st->te = te;
    pthread_mutex_init(&st->mu, NULL);
    for (int i = 0; i < num && rc == MC_OK && st->ndev < MC_TE_MAX_DEVICES; i++)
        if (wanted(want, ibv_get_device_name(list[i])))
            rc = open_dev(st, list[i], &st->dev[st->ndev++]);
    ibv_free_device_list(list);
    if (rc == MC_OK && st->ndev == 0) {
        mc_fail(te->create_err, MC_TRANSFER_FAIL, "none of the RDMA devices \"%s\" exists here",
                want ? want : "");
        rc = MC_TRANSFER_FAIL;
    }
    if (rc != MC_OK) {
        rdma_fini(st);
        return rc;
    }
    *state = st;
    return MC_OK;
}

static void peer_reset(rdma_state_t *st, rdma_peer_t *p)
{
    for (unsigned i = 0; i < st->ndev; i++)
        for (unsigned q = 0; q < TE_RDMA_QPS; q++)
            if (p->qps[i][q].qp) {
                ibv_destroy_qp(p->qps[i][q].qp);
                p->qps[i][q].qp = NULL;
            }
    p->connected = false;
    atomic_store(&p->broken, false);
}

static void rdma_fini(void *state)
{
    rdma_state_t *st = state;

    atomic_store(&st->stop, true);
    for (unsigned i = 0; i < st->ndev; i++)
        if (st->dev[i].polling)
            pthread_join(st->dev[i].poller, NULL);
    while (st->peers) {
        rdma_peer_t *p = st->peers;
        st->peers = p->next;
        peer_reset(st, p);
        pthread_mutex_destroy(&p->mu);
        free(p);
    }
    while (st->accepted) {
        rdma_accepted_t *a = st->accepted;
        st->accepted = a->next;
        ibv_destroy_qp(a->qp);
        free(a);
    }
    while (st->mrs) {
        rdma_mr_t *m = st->mrs;
        st->mrs = m->next;
        for (unsigned i = 0; i < st->ndev; i++)
            if (m->mr[i])
                ibv_dereg_mr(m->mr[i]);
        free(m);
    }
    for (unsigned i = 0; i < st->ndev; i++) {
        if (st->dev[i].cq)
            ibv_destroy_cq(st->dev[i].cq);
        if (st->dev[i].pd)
            ibv_dealloc_pd(st->dev[i].pd);
        if (st->dev[i].ctx)
            ibv_close_device(st->dev[i].ctx);
    }
    pthread_mutex_destroy(&st->mu);
    free(st);
}

static int rdma_reg(void *state, void *addr, size_t len)
{
    rdma_state_t *st = state;
    rdma_mr_t *m = calloc(1, sizeof *m);
    unsigned access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE;

    if (!m)
        return MC_INTERNAL_ERROR;
    m->addr = addr;
    m->len = len;
    for (unsigned i = 0; i < st->ndev; i++) {
        if (!(m->mr[i] = ibv_reg_mr(st->dev[i].pd, addr, len, access))) {
            while (i-- > 0)
                ibv_dereg_mr(m->mr[i]);
            free(m);
            return MC_TRANSFER_FAIL;
        }
    }
    pthread_mutex_lock(&st->mu);
    m->next = st->mrs;
    st->mrs = m;
    pthread_mutex_unlock(&st->mu);
    return MC_OK;
}

static void rdma_unreg(void *state, void *addr)
{
    rdma_state_t *st = state;
    rdma_mr_t **pp, *m = NULL;

    pthread_mutex_lock(&st->mu);
    for (pp = &st->mrs; *pp; pp = &(*pp)->next)
        if ((*pp)->addr == addr) {
            m = *pp;
            *pp = m->next;
            break;
        }
    pthread_mutex_unlock(&st->mu);
    for (unsigned i = 0; m && i < st->ndev; i++)
        ibv_dereg_mr(m->mr[i]);
    free(m);
}

/* MR covering [p, p+len); mu held. */
static rdma_mr_t *find_mr_locked(rdma_state_t *st, const uint8_t *p, uint64_t len)
{
    for (rdma_mr_t *m = st->mrs; m; m = m->next)
        if (p >= m->addr && (uint64_t)(p - m->addr) <= m->len &&
            len <= m->len - (uint64_t)(p - m->addr))
            return m;
    return NULL;
}

static void gid_format(const union ibv_gid *g, char *out, size_t cap)
{
    const uint8_t *r = g->raw;
    snprintf(out, cap, "%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x",
             r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13],
             r[14], r[15]);
}

static void rdma_describe(void *state, const void *addr, uint64_t len, te_seg_desc_t *d)
{
    rdma_state_t *st = state;
    rdma_mr_t *m;

    pthread_mutex_lock(&st->mu);
    m = find_mr_locked(st, addr, len);
    if (m) {
        d->rdma = true;
        d->rdma_addr = (uint64_t)(uintptr_t)addr;
        d->n_devices = st->ndev;
        for (unsigned i = 0; i < st->ndev; i++) {
            snprintf(d->devices[i].name, sizeof d->devices[i].name, "%s", st->dev[i].name);
            gid_format(&st->dev[i].gid, d->devices[i].gid, sizeof d->devices[i].gid);
            d->devices[i].lid = st->dev[i].lid;
            d->devices[i].rkey = m->mr[i]->rkey;
        }
    }
    pthread_mutex_unlock(&st->mu);
}

/* ---- QPs and the handshake ---- */

static struct ibv_qp *qp_create(rdma_dev_t *d)
{
    struct ibv_qp_init_attr a = {
        .send_cq = d->cq,
        .recv_cq = d->cq,
        .qp_type = IBV_QPT_RC,
        .cap = {
            .max_send_wr = TE_RDMA_MAX_WR, .max_recv_wr = 1, .max_send_sge = 1, .max_recv_sge = 1}};
    struct ibv_qp_attr at = {.qp_state = IBV_QPS_INIT,
                             .pkey_index = 0,
                             .port_num = 1,
                             .qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
                                                IBV_ACCESS_REMOTE_WRITE};
    struct ibv_qp *qp = ibv_create_qp(d->pd, &a);

    if (qp &&
        ibv_modify_qp(qp, &at,
                      IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS) != 0) {
        ibv_destroy_qp(qp);
        return NULL;
    }
    return qp;
}

/* INIT -> RTR (towards remote) -> RTS. Addresses by GID so RoCE works too. */
static int qp_connect(struct ibv_qp *qp, const rdma_dev_t *d, const mc_rdma_qp_info_t *r,
                      uint32_t my_psn)
{
    struct ibv_qp_attr at = {.qp_state = IBV_QPS_RTR,
                             .path_mtu = (enum ibv_mtu)(r->mtu < d->mtu ? r->mtu : d->mtu),
                             .dest_qp_num = r->qpn,
                             .rq_psn = r->psn,
                             .max_dest_rd_atomic = 16,
                             .min_rnr_timer = 12};

    at.ah_attr.is_global = 1;
    memcpy(at.ah_attr.grh.dgid.raw, r->gid, 16);
    at.ah_attr.grh.sgid_index = 0;
    at.ah_attr.grh.hop_limit = 1;
    at.ah_attr.dlid = r->lid;
    at.ah_attr.port_num = 1;
    if (ibv_modify_qp(qp, &at,
                      IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
                          IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER) != 0)
        return MC_TRANSFER_FAIL;
    memset(&at, 0, sizeof at);
    at.qp_state = IBV_QPS_RTS;
    at.timeout = 14; /* 4.096 us * 2^14 = 67 ms per try */
    at.retry_cnt = 7;
    at.rnr_retry = 7;
    at.sq_psn = my_psn;
    at.max_rd_atomic = 16;
    return ibv_modify_qp(qp, &at,
                         IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
                             IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC) == 0
               ? MC_OK
               : MC_TRANSFER_FAIL;
}

static void my_info(const rdma_dev_t *d, struct ibv_qp *qp, uint32_t psn, mc_rdma_qp_info_t *i)
{
    i->qpn = qp->qp_num;
    i->psn = psn;
    i->lid = d->lid;
    i->mtu = d->mtu;
    memcpy(i->gid, d->gid.raw, 16);
}

/* One RDMA_CONNECT request/response on a fresh control connection. */
static int exchange(mc_te_t *te, const char *endpoint, uint32_t timeout_ms,
                    const mc_rdma_connect_t *out, mc_rdma_connect_t *in)
{
    uint8_t body[MC_TCP_MAX_CTRL], hdr[MC_TCP_REQ_SIZE], rh[MC_TCP_RESP_SIZE];
    char host[MC_TE_ENDPOINT_MAX];
    uint16_t port;
    size_t len;
    mc_tcp_req_t q = {.version = MC_TCP_VERSION, .opcode = MC_TCP_OP_RDMA_CONNECT, .id = 1};
    mc_tcp_resp_t r;
    uint64_t deadline = mc_now_ns() + (uint64_t)timeout_ms * 1000000u;
    int fd, rc;

    if (te_parse_endpoint(endpoint, host, sizeof host, &port, false) != MC_OK ||
        mc_rdma_connect_encode(out, body, sizeof body, &len) != MC_OK ||
        te_connect(te, host, port, &fd) != MC_OK) /* handshake included */
        return MC_TRANSFER_FAIL;
    q.length = len;
    mc_tcp_req_encode(&q, hdr);
    struct iovec iov[2] = {{hdr, sizeof hdr}, {body, len}};
    rc = te_sock_writev_all(fd, iov, 2, deadline);
    if (rc == MC_OK)
        rc = te_sock_read_all(fd, rh, sizeof rh, deadline);
    if (rc == MC_OK && (mc_tcp_resp_decode(rh, &r) != MC_OK || r.status != MC_OK ||
                        r.opcode != MC_TCP_OP_RDMA_CONNECT || r.length == 0))
        rc = MC_TRANSFER_FAIL;
    if (rc == MC_OK)
        rc = te_sock_read_all(fd, body, (size_t)r.length, deadline);
    if (rc == MC_OK)
        rc = mc_rdma_connect_decode(body, (size_t)r.length, in) == MC_OK ? MC_OK : MC_TRANSFER_FAIL;
    close(fd);
    return rc;
}

/* Builds every QP of a peer. p->mu held. */
static int peer_connect_locked(rdma_state_t *st, rdma_peer_t *p)
{
    const mc_te_opts_t *o = te_opts(st->te);

    if (p->d.n_devices == 0)
        return MC_TRANSFER_FAIL;
    for (unsigned i = 0; i < st->ndev; i++) {
        for (unsigned k = 0; k < TE_RDMA_QPS; k++) {
            rdma_dev_t *d = &st->dev[i];
            mc_rdma_connect_t out = {0}, in;
            uint32_t psn = (uint32_t)(mc_now_ns() & 0xffffff);
            struct ibv_qp *qp = qp_create(d);

            if (!qp)
                return MC_TRANSFER_FAIL;
            p->qps[i][k] = (rdma_qp_t){.qp = qp, .peer = p};
            snprintf(out.endpoint, sizeof out.endpoint, "%s", mc_te_endpoint(st->te));
            snprintf(out.local_dev, sizeof out.local_dev, "%s", d->name);
            snprintf(out.remote_dev, sizeof out.remote_dev, "%s",
                     p->d.devices[i % p->d.n_devices].name);
            my_info(d, qp, psn, &out.qp);
            if (exchange(st->te, p->endpoint, o->connect_timeout_ms, &out, &in) != MC_OK ||
                qp_connect(qp, d, &in.qp, psn) != MC_OK)
                return MC_TRANSFER_FAIL;
        }
    }
    p->connected = true;
    return MC_OK;
}

/* The passive side of the handshake (exchange() above), reached through the
 * engine's TCP server as this back end's control messages. */
static int rdma_handle_control(void *state, const uint8_t *in, size_t in_len, uint8_t *out,
                               size_t out_cap, size_t *out_len)
{
    rdma_state_t *st = state;
    mc_rdma_connect_t req, resp = {0};
    rdma_dev_t *d = NULL;
    rdma_accepted_t *a;
    uint32_t psn = (uint32_t)(mc_now_ns() & 0xffffff);
    struct ibv_qp *qp;

    if (mc_rdma_connect_decode(in, in_len, &req) != MC_OK)
        return MC_INVALID_PARAMS;
    for (unsigned i = 0; i < st->ndev; i++)
        if (strcmp(st->dev[i].name, req.remote_dev) == 0)
            d = &st->dev[i];
    if (!d)
        return MC_INVALID_PARAMS;
    if (!(a = calloc(1, sizeof *a)))
        return MC_INTERNAL_ERROR;
    if (!(qp = qp_create(d)) || qp_connect(qp, d, &req.qp, psn) != MC_OK) {
        if (qp)
            ibv_destroy_qp(qp);
        free(a);
        return MC_TRANSFER_FAIL;
    }
    snprintf(resp.endpoint, sizeof resp.endpoint, "%s", mc_te_endpoint(st->te));
    snprintf(resp.local_dev, sizeof resp.local_dev, "%s", d->name);
    snprintf(resp.remote_dev, sizeof resp.remote_dev, "%s", req.local_dev);
    my_info(d, qp, psn, &resp.qp);
    a->qp = qp;
    pthread_mutex_lock(&st->mu);
    a->next = st->accepted;
    st->accepted = a;
    pthread_mutex_unlock(&st->mu);
    return mc_rdma_connect_encode(&resp, out, out_cap, out_len);
}

/* ---- peers and requests ---- */

static bool rdma_reaches(void *state, const te_seg_desc_t *d)
{
    (void)state;
    return d->rdma;
}

static int rdma_open(void *state, const te_seg_desc_t *d, void **out)
{
    rdma_state_t *st = state;
    rdma_peer_t *p;

    pthread_mutex_lock(&st->mu);
    for (p = st->peers; p; p = p->next)
        if (strcmp(p->endpoint, d->endpoint) == 0)
            break;
    if (!p && (p = calloc(1, sizeof *p)) != NULL) {
        snprintf(p->endpoint, sizeof p->endpoint, "%s", d->endpoint);
        pthread_mutex_init(&p->mu, NULL);
        p->next = st->peers;
        st->peers = p;
    }
    pthread_mutex_unlock(&st->mu);
    if (!p)
        return MC_INTERNAL_ERROR;
    pthread_mutex_lock(&p->mu);
    p->d = *d; /* device names for the handshake */
    pthread_mutex_unlock(&p->mu);
    *out = p;
    return MC_OK;
}

static size_t rdma_slice_count(void *state, uint64_t length)
{
    return mc_rdma_plan_count(length, MC_RDMA_SLICE);
}

static bool idle(rdma_state_t *st, rdma_peer_t *p)
{
    for (unsigned i = 0; i < st->ndev; i++)
        for (unsigned k = 0; k < TE_RDMA_QPS; k++)
            if (atomic_load(&p->qps[i][k].outstanding))
                return false;
    return true;
}

static int ensure_connected(rdma_state_t *st, rdma_peer_t *p)
{
    int rc = MC_OK;

    pthread_mutex_lock(&p->mu);
    if (atomic_load(&p->broken) || (!p->connected && p->qps[0][0].qp)) {
        if (!idle(st, p))
            rc = MC_TRANSFER_FAIL; /* still draining error completions */
        else
            peer_reset(st, p);
    }
    if (rc == MC_OK && !p->connected && (rc = peer_connect_locked(st, p)) != MC_OK)
        peer_reset(st, p);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* Posts one slice on QP q of device dev. */
static int post(rdma_state_t *st, rdma_qp_t *q, unsigned dev, te_slice_t *s, uint64_t raddr,
                uint32_t rkey)
{
    struct ibv_sge sge = {.addr = (uintptr_t)s->local, .length = (uint32_t)s->length};
    struct ibv_send_wr wr = {.wr_id = (uintptr_t)s,
                             .sg_list = &sge,
                             .num_sge = 1,
                             .send_flags = IBV_SEND_SIGNALED},
                       *bad;
    rdma_mr_t *m;

    pthread_mutex_lock(&st->mu);
    m = find_mr_locked(st, s->local, s->length);
    sge.lkey = m ? m->mr[dev]->lkey : 0;
    pthread_mutex_unlock(&st->mu);
    if (!m)
        return MC_INVALID_PARAMS; /* local memory not registered */
    while (atomic_load(&q->outstanding) >= TE_RDMA_MAX_WR) {
        if (mc_now_ns() >= s->deadline_ns)
            return MC_TRANSFER_FAIL;
        sched_yield();
    }
    wr.opcode = s->op == MC_TE_WRITE ? IBV_WR_RDMA_WRITE : IBV_WR_RDMA_READ;
    wr.wr.rdma.remote_addr = raddr + s->offset;
    wr.wr.rdma.rkey = rkey;
    s->bctx = q;
    atomic_fetch_add(&q->outstanding, 1);
    if (ibv_post_send(q->qp, &wr, &bad) != 0) {
        atomic_fetch_sub(&q->outstanding, 1);
        return MC_TRANSFER_FAIL;
    }
    return MC_OK;
}

static void rdma_submit(void *state, const te_target_t *t, te_slice_t *sl, size_t n)
{
    rdma_state_t *st = state;
    rdma_peer_t *p = t->peer;
    uint32_t rkeys[MC_TE_MAX_DEVICES];
    unsigned nrd, nq = st->ndev * TE_RDMA_QPS, base;
    uint64_t raddr;
    int rc;

    pthread_mutex_lock(&t->seg->mu);
    raddr = t->seg->desc.rdma_addr;
    nrd = t->seg->desc.n_devices;
    for (unsigned i = 0; i < nrd; i++)
        rkeys[i] = t->seg->desc.devices[i].rkey;
    pthread_mutex_unlock(&t->seg->mu);
    rc = nrd ? ensure_connected(st, p) : MC_INVALID_PARAMS;
    base = atomic_fetch_add(&p->rr, (unsigned)n);
    for (size_t i = 0; i < n; i++) {
        unsigned k = (unsigned)((base + i) % nq), dev = k % st->ndev;
        int prc = rc;
        if (prc == MC_OK)
            prc = post(st, &p->qps[dev][k / st->ndev], dev, &sl[i], raddr, rkeys[dev % nrd]);
        if (prc != MC_OK)
            te_slice_done(&sl[i], prc);
    }
}

const te_backend_t te_backend_rdma = {
    .name = "rdma",
    .init = rdma_init,
    .fini = rdma_fini,
    .reg = rdma_reg,
    .unreg = rdma_unreg,
    .describe = rdma_describe,
    .reaches = rdma_reaches,
    .open = rdma_open,
    .slice_count = rdma_slice_count,
    .submit = rdma_submit,
    .ctrl_opcode = MC_TCP_OP_RDMA_CONNECT,
    .handle_control = rdma_handle_control,
};
