/* Internals shared by the engine and its back ends.
 *
 * Lock order (outer first): te->seg_mu / te->open_mu → a back end's
 * connection lock → batch->mu. Back ends complete slices with te_slice_done,
 * which only takes batch->mu. No lock is held across socket I/O. */
#ifndef MC_TE_INTERNAL_H
#define MC_TE_INTERNAL_H

#include "mc/transfer.h"
#include "segment_desc.h"

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
    _Atomic int status;       /* MC_TE_PENDING, MC_OK or the first error */
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
    uint8_t op;      /* MC_TE_READ / MC_TE_WRITE */
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

/* The back end vtable: one per file (backend_mem.c, backend_tcp.c, backend_rdma.c). */
typedef struct te_backend {
    const char *name;
    /* Per-engine state. MC_OK or an error with te_set_error() called. */
    int (*init)(mc_te_t *te, void **state);
    void (*fini)(void *state);
    /* Local memory registration (RDMA memory regions); optional. */
    int (*reg)(void *state, void *addr, size_t len);
    void (*unreg)(void *state, void *addr);
    /* Adds this back end's fields to a local segment's descriptor; optional. */
    void (*describe)(void *state, const void *addr, uint64_t len, te_seg_desc_t *d);
    /* Prepares the peer of an opened segment; *peer is kept in the segment. */
    int (*open)(void *state, const te_seg_desc_t *d, void **peer);
    /* Slices a request of `length` bytes needs (>= 1). */
    size_t (*slice_count)(void *state, uint64_t length);
    /* Starts the prepared slices of one request; each ends in te_slice_done. */
    void (*submit)(void *state, const te_target_t *t, te_slice_t *slices, size_t n);
} te_backend_t;

extern const te_backend_t te_backend_mem;
extern const te_backend_t te_backend_tcp;
extern const te_backend_t te_backend_rdma;

/* A segment this engine exposes. refs/dead are guarded by te->seg_mu. */
typedef struct te_local_seg {
    char name[MC_TE_NAME_MAX];
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
    pthread_mutex_t mu; /* guards desc, backend, peer (refresh vs submit) */
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
    char host[MC_TE_ENDPOINT_MAX];
    char endpoint[MC_TE_ENDPOINT_MAX];
    uint16_t port; /* asked for; 0 = ephemeral */
    bool want_tcp, want_rdma;
    struct mc_http_client *http; /* NULL in P2P mode */
    te_tcp_server_t *server;
    void *mem, *tcp, *rdma; /* back end states; tcp/rdma NULL when not enabled */
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
/* Records why mc_te_create failed (thread-local). */
void te_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Handler for RDMA_CONNECT frames received by the TCP server (NULL if no RDMA). */
int te_rdma_accept(mc_te_t *te, const uint8_t *in, size_t in_len, uint8_t *out,
                   size_t out_cap, size_t *out_len);

/* Metadata server (te_meta.c): publish / delete one local segment's descriptor. */
int te_meta_publish(mc_te_t *te, te_local_seg_t *s);
void te_meta_delete(mc_te_t *te, const char *name);
int te_meta_start(mc_te_t *te);
void te_meta_stop(mc_te_t *te);
/* Fills a local segment's descriptor (back end fields included). seg_mu held. */
void te_local_seg_describe(mc_te_t *te, const te_local_seg_t *s, te_seg_desc_t *d);
/* Drops opened-segment handles (engine teardown). */
void te_opened_destroy_all(mc_te_t *te);

/* RDMA back end entry for the control channel (backend_rdma.c). */
int te_rdma_handle_connect(void *rdma_state, const uint8_t *in, size_t in_len, uint8_t *out,
                           size_t out_cap, size_t *out_len);

/* TCP server (tcp_server.c). */
int te_tcp_server_create(mc_te_t *te, const char *host, uint16_t port, te_tcp_server_t **out,
                         uint16_t *bound_port);
void te_tcp_server_destroy(te_tcp_server_t *s);

#endif
