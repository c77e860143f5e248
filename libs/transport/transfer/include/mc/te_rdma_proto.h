/* Device-independent parts of the RDMA back end: the QP handshake message
 * exchanged over the TCP control connection (RDMA_CONNECT frames), and the
 * slicing plan that spreads a request over devices and QPs. */
#ifndef MC_TE_RDMA_PROTO_H
#define MC_TE_RDMA_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define MC_RDMA_MAGIC 0x4452434Du /* "MCRD" */
#define MC_RDMA_SLICE (64u << 10) /* bytes per work request */
#define MC_RDMA_NAME_MAX 64

typedef struct mc_rdma_qp_info {
    uint32_t qpn;
    uint32_t psn; /* 24 bits */
    uint16_t lid;
    uint8_t gid[16];
    uint8_t mtu; /* enum ibv_mtu value, 1..5 */
} mc_rdma_qp_info_t;

typedef struct mc_rdma_connect {
    char endpoint[128];                /* the requester's engine endpoint */
    char local_dev[MC_RDMA_NAME_MAX];  /* the sender's device */
    char remote_dev[MC_RDMA_NAME_MAX]; /* the device it wants on the other side */
    mc_rdma_qp_info_t qp;
} mc_rdma_connect_t;

/* Encodes into out (cap bytes); MC_BUFFER_OVERFLOW if it does not fit. */
int mc_rdma_connect_encode(const mc_rdma_connect_t *m, uint8_t *out, size_t cap, size_t *len);
/* Decodes and validates (magic, lengths, NUL-free names, psn < 2^24, mtu 1..5). */
int mc_rdma_connect_decode(const uint8_t *in, size_t len, mc_rdma_connect_t *m);

typedef struct mc_rdma_piece {
    uint64_t offset; /* within the request */
    uint32_t length;
    uint16_t dev; /* local device index */
    uint16_t qp;  /* QP index on that device */
} mc_rdma_piece_t;

/* Pieces of `slice` bytes (last one shorter), assigned round-robin over
 * ndev devices x nqp QPs starting at `start`. Returns the count, or 0 when
 * cap is too small or an argument is 0. */
size_t mc_rdma_plan(uint64_t length, uint32_t slice, unsigned ndev, unsigned nqp, unsigned start,
                    mc_rdma_piece_t *out, size_t cap);
/* Number of pieces mc_rdma_plan produces (>= 1). */
size_t mc_rdma_plan_count(uint64_t length, uint32_t slice);

#endif
