/* Segment descriptors: the typed struct and its JSON form (encode/decode in
 * one place), published under mooncake/ram/<name> on the metadata server. */
#ifndef MC_TE_SEGMENT_DESC_H
#define MC_TE_SEGMENT_DESC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MC_TE_NAME_MAX 256     /* segment name, NUL included */
#define MC_TE_ENDPOINT_MAX 128 /* "host:port", NUL included */
#define MC_TE_MAX_DEVICES 8
#define MC_TE_UUID_MAX 64 /* the registrar's segment label ("segment_uuid"), NUL included */
#define MC_TE_DESC_MAX (64u << 10) /* largest descriptor JSON accepted */
#define MC_TE_KEY_PREFIX "mooncake/ram/"

typedef struct te_rdma_dev_desc {
    char name[64]; /* "mlx5_0" */
    char gid[40];  /* "fe80:0000:...:0001" (8 groups of 4 hex digits) */
    uint16_t lid;
    uint32_t rkey; /* of this segment's memory region on this device */
} te_rdma_dev_desc_t;

typedef struct te_seg_desc {
    char name[MC_TE_NAME_MAX];
    char endpoint[MC_TE_ENDPOINT_MAX]; /* TCP data/control endpoint */
    uint32_t seg_id;                   /* id on the owning engine */
    char uuid[MC_TE_UUID_MAX];         /* the registrar's label (the cluster's segment id);
                                          "" = none */
    uint64_t epoch;
    uint64_t length;
    bool tcp;
    bool rdma;
    uint64_t rdma_addr; /* virtual address of the segment for one-sided ops */
    unsigned n_devices;
    te_rdma_dev_desc_t devices[MC_TE_MAX_DEVICES];
} te_seg_desc_t;

/* JSON text of d; caller frees. NULL on allocation failure. */
char *te_seg_desc_encode_take(const te_seg_desc_t *d, size_t *len);
/* Parses and validates (lengths, ranges, endpoint shape). MC_OK or MC_INVALID_PARAMS. */
int te_seg_desc_decode(const char *json, size_t len, te_seg_desc_t *d);
/* Splits "host:port" (host non-empty, port 1..65535; port 0 if allow_zero). */
int te_parse_endpoint(const char *ep, char *host, size_t host_cap, uint16_t *port, bool allow_zero);

#endif
