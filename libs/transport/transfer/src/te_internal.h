/* Internals shared by the engine and its back ends.
 *
 * Lock order (outer first): te->seg_mu / te->open_mu → a back end's
 * connection lock → batch->mu. Back ends complete slices with te_slice_done,
 * which only takes batch->mu. te->auth.mu (te_auth.h) is innermost: the TCP
 * server takes it under its own mu. No lock is held across socket I/O. */
#ifndef MC_TE_INTERNAL_H
#define MC_TE_INTERNAL_H

#include "mc/transfer.h"
#include "segment_desc.h"
#include "te_auth.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct te_slice te_slice_t;
typedef struct te_req te_req_t;
typedef struct te_tcp_server te_tcp_server_t;

/* One request of a batch; done when all its slices are. */
struct te_req {
    mc_te_batch_t *batch;
    mc_te_segment_t *seg;
    _Atomic int status; /* MC_TE_PENDING, MC_OK or the first error */
    _Atomic unsigned parts_left;
};

/* A piece of a request handled by one connection / QP. Lives in the batch's
 * slice array (no allocation per slice). The back end owns the link fields
 * while the slice is in flight. */
struct te_slice {
    te_req_t *req;
    te_slice_t *next;
    uint8_t *local;
    uint64_t offset; /* into the remote segment */
    uint64_t length;
    uint64_t epoch;
    uint64_t deadline_ns;
    uint64_t id;
    uint32_t seg_id;
    uint8_t op; /* MC_TE_READ / MC_TE_WRITE */
    /* TCP: a slice completes when both its sending and its receiving side are done. */
    bool tx_done, rx_done;
    int status;
    void *bctx; /* back end's per-slice context */
};

/* What a request targets, snapshot of the opened segment at submit time. */
typedef struct te_target {
    mc_te_segment_t *seg;
    const struct te_backend *backend;
    void *bstate;
    void *peer; /* back end's peer state */
    uint32_t seg_id;
    uint64_t epoch;
    te_slice_t *first; /* the request's slices */
    size_t count;
} te_target_t;

/* The back end vtable: one per file (backend_mem.c, backend_tcp.c,
 * backend_rdma.c or backend_rdma_off.c), one row each in the engine's table
 * (engine.c). The engine calls a row only after its init succeeded, and
 * never names a back end: adding one is a file and a table row.
 * Optional members may be NULL. */
typedef struct te_backend {
    const char *name; /* protocol name in mc_te_opts_t.protocols and mc_te_segment_protocol */
    /* Per-engine state. MC_OK or an error explained in te->create_err (mc_fail). */
    int (*init)(mc_te_t *te, void **state);
    void (*fini)(void *state);
    /* Local memory registration (RDMA memory regions); optional. reg is
     * called for every exposed segment and local buffer, unreg with the
     * same address (also for one whose reg failed or never happened). */
    int (*reg)(void *state, void *addr, size_t len);
    void (*unreg)(void *state, void *addr);
    /* Adds this back end's fields to a local segment's descriptor; optional. */
    void (*describe)(void *state, const void *addr, uint64_t len, te_seg_desc_t *d);
    /* Whether this back end can reach the segment d describes. The engine
     * opens a segment with the first running row (table order) that can. */
    bool (*reaches)(void *state, const te_seg_desc_t *d);
    /* Prepares the peer of an opened segment; *peer is kept in the segment. */
    int (*open)(void *state, const te_seg_desc_t *d, void **peer);
    /* Slices a request of `length` bytes needs (>= 1). */
    size_t (*slice_count)(void *state, uint64_t length);
    /* Starts the prepared slices of one request; each ends in te_slice_done. */
    void (*submit)(void *state, const te_target_t *t, te_slice_t *slices, size_t n);
    /* Control channel (optional): the TCP frame opcode (mc/te_tcp_proto.h,
     * MC_TCP_OP_*) whose payloads are this back end's control messages, such
     * as RDMA's connection handshake; 0 = none. The engine's TCP server
     * reads such a frame's payload (<= MC_TCP_MAX_CTRL bytes) and answers
     * with the status handle_control returns and, on MC_OK, out[0, *out_len). */
    uint8_t ctrl_opcode;
    int (*handle_control)(void *state, const uint8_t *in, size_t in_len, uint8_t *out,
                          size_t out_cap, size_t *out_len);
} te_backend_t;

extern const te_backend_t te_backend_mem;
extern const te_backend_t te_backend_tcp;
extern const te_backend_t te_backend_rdma;

#define TE_MAX_BACKENDS 8

/* A row of the back-end table as one engine runs it. */
typedef struct te_backend_slot {
    const te_backend_t *b;
    void *state; /* from b->init */
    bool wanted; /* always on, or named in the protocol list */
    bool up;     /* init succeeded: the engine calls it, and owes it fini */
} te_backend_slot_t;

/* A segment this engine exposes. refs/dead are guarded by te->seg_mu. */
typedef struct te_local_seg {
    char name[MC_TE_NAME_MAX];
    char uuid[MC_TE_UUID_MAX]; /* published as "segment_uuid"; "" = none */
    uint32_t id;
    uint8_t *base;
    uint64_t len;
    _Atomic uint64_t epoch;
    int refs;
    bool dead;
    struct te_local_seg *next;
} te_local_seg_t;

struct mc_te_segment {
    char name[MC_TE_NAME_MAX]; /* immutable */
    atomic_bool stale;         /* a request failed: refetch on the next open */
    pthread_mutex_t mu;        /* guards desc, backend, peer (refresh vs submit) */
    te_seg_desc_t desc;
    const te_backend_t *backend;
    void *bstate;
    void *peer;
    mc_te_segment_t *next;
};

/* The engine. Lock rules: seg_mu guards segs/next_seg_id and the refs/dead
 * of every exposed segment (seg_cv signals refs dropping); open_mu guards
 * the list of opened segments; rp_mu/rp_cv drive the re-publish thread. */
struct mc_te {
    mc_te_opts_t o; /* defaults filled; strings point at the copies below */
    char *s_local, *s_meta, *s_protos, *s_devs;
    mc_errmsg_t *create_err; /* mc_te_create's caller's, during create only */
    char host[MC_TE_ENDPOINT_MAX];
    char endpoint[MC_TE_ENDPOINT_MAX];
    uint16_t port;               /* asked for; 0 = ephemeral */
    struct mc_http_client *http; /* NULL in P2P mode */
    te_tcp_server_t *server;
    te_auth_t auth;                        /* handshake keys (te_auth.h) */
    te_backend_slot_t be[TE_MAX_BACKENDS]; /* the table's rows, in its order */
    unsigned n_be;
    pthread_mutex_t seg_mu;
    pthread_cond_t seg_cv;
    te_local_seg_t *segs;
    uint32_t next_seg_id;
    pthread_mutex_t open_mu;
    mc_te_segment_t *opened;
    pthread_mutex_t rp_mu;
    pthread_cond_t rp_cv;
    bool rp_stop, rp_started;
    pthread_t rp_thr;
};

/* Engine-side services for back ends. */
const mc_te_opts_t *te_opts(const mc_te_t *te);
/* The exposed segment with that id, referenced; NULL if none. */
te_local_seg_t *te_local_seg_get(mc_te_t *te, uint32_t id);
void te_local_seg_put(mc_te_t *te, te_local_seg_t *s);
/* Checks a request against an exposed segment: MC_OK, MC_INVALID_VERSION, MC_INVALID_PARAMS. */
int te_local_seg_check(const te_local_seg_t *s, uint64_t epoch, uint64_t off, uint64_t len);
/* Ends a slice with rc (MC_OK or an error); may complete its request and batch. */
void te_slice_done(te_slice_t *s, int rc);
/* Hands a control frame's payload to the running back end whose ctrl_opcode
 * is `opcode` (the TCP server's only way into a back end). MC_INVALID_PARAMS
 * when none is running. */
int te_control(mc_te_t *te, uint8_t opcode, const uint8_t *in, size_t in_len, uint8_t *out,
               size_t out_cap, size_t *out_len);
/* The first running back end (table order) that reaches d, and its state.
 * MC_INVALID_PARAMS when none does (no protocol in common). */
int te_backend_for(mc_te_t *te, const te_seg_desc_t *d, const te_backend_t **b, void **state);

/* Metadata server (te_meta.c): publish / delete one local segment's descriptor. */
int te_meta_publish(mc_te_t *te, te_local_seg_t *s);
void te_meta_delete(mc_te_t *te, const char *name);
int te_meta_start(mc_te_t *te);
void te_meta_stop(mc_te_t *te);
/* Fills a local segment's descriptor (back end fields included). seg_mu held. */
void te_local_seg_describe(mc_te_t *te, const te_local_seg_t *s, te_seg_desc_t *d);
/* Drops opened-segment handles (engine teardown). */
void te_opened_destroy_all(mc_te_t *te);

/* TCP server (tcp_server.c). */
int te_tcp_server_create(mc_te_t *te, const char *host, uint16_t port, te_tcp_server_t **out,
                         uint16_t *bound_port);
void te_tcp_server_destroy(te_tcp_server_t *s);
/* Closes every server connection the current keys no longer admit
 * (te_auth_holds), after mc_te_set_auth_keys. */
void te_tcp_server_revoke(te_tcp_server_t *s);
/* A data connection to a peer's TCP port: connect (connect_timeout_ms),
 * then the client side of the handshake when this engine holds keys
 * (auth_timeout_ms). MC_OK or MC_TRANSFER_FAIL; used by every back end
 * that talks to the peer's TCP server. */
int te_connect(mc_te_t *te, const char *host, uint16_t port, int *fd);

#endif
