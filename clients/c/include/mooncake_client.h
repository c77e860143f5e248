/* libmooncake_client: the thin local client of mooncake_store_service.
 *
 * A client holds no store state. It talks to the store service on its host
 * over a Unix socket and moves bytes through shared memory (memfds the
 * service maps): put_from/get_into on memory from mooncake_client_alloc_buffer
 * cost one copy, made by the service, between that memory and the segment
 * (or the network); put/get of plain memory cost one more copy, through the
 * client's staging area. docs/ipc.md describes the protocol and the copies.
 *
 * Return conventions are Mooncake's: 0 for success, the byte count for
 * reads, 1/0 for existence, a negative ErrorCode (mooncake_client_strerror)
 * for failure. Keys are NUL-terminated strings of 1..4096 bytes.
 *
 * Threads: a handle may be used from many threads at once; its requests are
 * serialized on its connection. If the service restarts, the call that
 * finds the connection gone fails with RPC_FAIL (-900) and the next call
 * reconnects (registered buffers are registered again). */
#ifndef MOONCAKE_CLIENT_H
#define MOONCAKE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MOONCAKE_CLIENT_VERSION "0.2.0"
#define MOONCAKE_CLIENT_VERSION_NUM 200 /* major * 10000 + minor * 100 + patch */

typedef struct mooncake_client mooncake_client_t;

/* Mooncake's ReplicateConfig, laid out as store_c.h's
 * mooncake_replicate_config_t. Zeroed = one replica anywhere, no pin. */
typedef struct mooncake_client_replicate_config {
    size_t replica_num; /* 0 = 1; at most 8 */
    int with_soft_pin;
    int with_hard_pin;               /* never evicted; removed only by remove or upsert */
    const char **preferred_segments; /* segment names (local_hostname of a store service) */
    size_t preferred_segments_count; /* only the first is honoured today */
} mooncake_client_replicate_config_t;

/* One piece of a value: put_parts and the multi-buffer calls. */
typedef struct mooncake_slice {
    void *ptr;
    size_t size;
} mooncake_slice_t;

/* The library's version, MOONCAKE_CLIENT_VERSION. */
const char *mooncake_client_version(void);
/* Mooncake ErrorCode name, e.g. "OBJECT_NOT_FOUND" for -704. */
const char *mooncake_client_strerror(int code);

/* Connects to a store service. where: a socket path (contains '/'), or
 * "host:port" (the default socket of that local-client port, docs/ipc.md),
 * or NULL (MOONCAKE_IPC_SOCKET, else the default socket of port 50052).
 * local_buffer_size: the staging area for put/get of plain memory (0 = 16
 * MiB). Returns 0 or a negative ErrorCode (RPC_FAIL: nobody listens there;
 * INVALID_VERSION: the service speaks another protocol version). */
int mooncake_client_connect(const char *where, size_t local_buffer_size, mooncake_client_t **out);
/* The embedded default: what Mooncake's setup() takes. */
typedef struct mooncake_client_setup {
    const char *local_hostname;  /* the segment's name and data-plane endpoint, "host:port";
                                    no port (Mooncake's "localhost") = a free one of
                                    12300-14300 (get_hostname reports it) */
    const char *metadata_server; /* "http://host:port/metadata", or "P2P" */
    uint64_t global_segment_size;
    uint64_t local_buffer_size; /* the handle's staging area; 0 = none (put/get of plain
                                   memory then fail with INVALID_PARAMS) */
    const char *protocol;       /* "tcp" or "rdma"; NULL = "tcp" */
    const char *device_name;    /* RDMA devices; NULL or "" = all */
    const char *master_server_addr;
    /* Mooncake's enable_ssd_offload / ssd_offload_path: a service started
     * by setup gets an SSD tier in ssd_offload_path (docs/ssd-tier.md; NULL
     * = the service's MOONCAKE_OFFLOAD_FILE_STORAGE_PATH); without
     * enable_ssd_offload it gets none. A service that is already running is
     * attached to as it is. */
    int enable_ssd_offload;
    const char *ssd_offload_path;
} mooncake_client_setup_t;

/* Attaches to the store service on this host that serves local_hostname for
 * master_server_addr, or starts one with these settings (docs/ipc.md, "The
 * embedded default"): mooncake_store_service found through
 * MOONCAKE_STORE_SERVICE_BIN, next to this library (its directory or
 * ../bin), or on PATH; its REST API on a free port; it stops when this
 * process exits or closes the last handle setup gave it. Concurrent setups
 * of one address, in any processes, serialize on a lock file. */
int mooncake_client_setup(const mooncake_client_setup_t *s, mooncake_client_t **out);
/* 1 when the service was started by another process and stops when that
 * process goes away (the embedded default of someone else), 0 otherwise. */
int mooncake_client_service_ephemeral(mooncake_client_t *c);
/* Closes the connection and frees every buffer of the handle. Safe on NULL. */
void mooncake_client_close(mooncake_client_t *c);
/* The service's local_hostname (its segment's name), into buf. */
int mooncake_client_get_hostname(mooncake_client_t *c, char *buf, size_t cap);
/* 0 when the service is healthy (its master reachable, its segment mounted). */
int mooncake_client_health(mooncake_client_t *c);

/* ---- shared memory ---- */
/* size bytes the service maps (zeroed); NULL on failure. put_from/get_into
 * on them move bytes once. */
void *mooncake_client_alloc_buffer(mooncake_client_t *c, size_t size);
int mooncake_client_free_buffer(mooncake_client_t *c, void *ptr);
/* Mooncake's register_buffer: memory from alloc_buffer is registered
 * already (0); other memory is accepted and copied through staging. */
int mooncake_client_register_buffer(mooncake_client_t *c, void *ptr, size_t size);
/* Host memory not tied to a handle (Mooncake's MooncakeHostMemAllocator):
 * shared memory every handle of this process moves bytes to and from
 * directly, as alloc_buffer's; each handle shares it with its service on
 * first use. Free it only when no call uses it. NULL / INVALID_PARAMS. */
void *mooncake_client_host_alloc(size_t size);
int mooncake_client_host_free(void *ptr);
int mooncake_client_unregister_buffer(mooncake_client_t *c, void *ptr);

/* ---- single keys ---- */
int mooncake_client_put(mooncake_client_t *c, const char *key, const void *value, size_t size,
                        const mooncake_client_replicate_config_t *cfg);
/* put, except that an existing key is overwritten: later reads see the new
 * bytes; a reader copying the old ones meanwhile finishes with the old ones.
 * OBJECT_HAS_REPLICATION_TASK while another write of the key is running. */
int mooncake_client_upsert(mooncake_client_t *c, const char *key, const void *value, size_t size,
                           const mooncake_client_replicate_config_t *cfg);
/* One value written from n pieces, in order. */
int mooncake_client_put_parts(mooncake_client_t *c, const char *key, const mooncake_slice_t *parts,
                              size_t n, const mooncake_client_replicate_config_t *cfg);
/* Reads into buf (cap bytes): the value's size, or a negative ErrorCode
 * (BUFFER_OVERFLOW when cap is too small, OBJECT_NOT_FOUND on a miss). */
int64_t mooncake_client_get(mooncake_client_t *c, const char *key, void *buf, size_t cap);
/* Reads into a buffer the library allocates (*out, free with
 * mooncake_client_free): the size, or a negative ErrorCode. */
int64_t mooncake_client_get_alloc(mooncake_client_t *c, const char *key, void **out);
void mooncake_client_free(void *p);
int64_t mooncake_client_get_size(mooncake_client_t *c, const char *key);
/* 1 present, 0 absent, negative on error. */
int mooncake_client_is_exist(mooncake_client_t *c, const char *key);
int mooncake_client_remove(mooncake_client_t *c, const char *key, int force);
/* The number of objects removed, or a negative ErrorCode. */
int64_t mooncake_client_remove_by_regex(mooncake_client_t *c, const char *pattern, int force);
int64_t mooncake_client_remove_all(mooncake_client_t *c, int force);
/* put_from/get_into: ptr inside a buffer from alloc_buffer moves bytes once;
 * any other memory goes through staging. get_into returns the size read. */
int mooncake_client_put_from(mooncake_client_t *c, const char *key, const void *ptr, size_t size,
                             const mooncake_client_replicate_config_t *cfg);
int64_t mooncake_client_get_into(mooncake_client_t *c, const char *key, void *ptr, size_t size);
/* The upsert forms of put_parts and put_from. */
int mooncake_client_upsert_parts(mooncake_client_t *c, const char *key,
                                 const mooncake_slice_t *parts, size_t n,
                                 const mooncake_client_replicate_config_t *cfg);
int mooncake_client_upsert_from(mooncake_client_t *c, const char *key, const void *ptr, size_t size,
                                const mooncake_client_replicate_config_t *cfg);

/* ---- read-only views (get_buffer) ----
 * A value read without a copy when it lives in this host's store service's
 * segment: the bytes are the segment's own, mapped read-only, and the store
 * keeps them (a hold at the master: no eviction, no reuse) until the buffer
 * is released. A value that lives elsewhere comes as a private copy. Closing
 * the handle ends the holds of views still out (their bytes stay mapped, but
 * unprotected), and the handle is freed with the last of them. */
typedef struct mooncake_client_buffer mooncake_client_buffer_t;

/* The value's size, or a negative ErrorCode (*out NULL then). */
int64_t mooncake_client_get_buffer(mooncake_client_t *c, const char *key,
                                   mooncake_client_buffer_t **out);
/* One request for n keys: results[i] as get_buffer's return, out[i] the
 * buffer or NULL. Returns 0 or the whole request's error. */
int mooncake_client_batch_get_buffer(mooncake_client_t *c, const char *const *keys, size_t n,
                                     mooncake_client_buffer_t **out, int64_t *results);
const void *mooncake_client_buffer_data(const mooncake_client_buffer_t *b);
size_t mooncake_client_buffer_size(const mooncake_client_buffer_t *b);
/* 1 for a zero-copy view of the segment, 0 for a private copy. */
int mooncake_client_buffer_is_view(const mooncake_client_buffer_t *b);
/* Ends the view (its hold is released) or frees the copy. Safe on NULL. */
void mooncake_client_release_buffer(mooncake_client_buffer_t *b);

/* ---- batches (n <= 4096; one request each) ----
 * results[i] per key as the single-key call would return; the call returns
 * 0, or a negative ErrorCode when the whole batch could not be sent (then
 * every results[i] holds it too). */
int mooncake_client_batch_is_exist(mooncake_client_t *c, const char *const *keys, size_t n,
                                   int *results);
/* remove of n keys in one request. */
int mooncake_client_batch_remove(mooncake_client_t *c, const char *const *keys, size_t n, int force,
                                 int *results);
int mooncake_client_put_batch(mooncake_client_t *c, const char *const *keys,
                              const void *const *values, const size_t *sizes, size_t n,
                              const mooncake_client_replicate_config_t *cfg, int *results);
/* values[i] (free each with mooncake_client_free) and results[i] = size or
 * negative ErrorCode (values[i] NULL then). */
int mooncake_client_get_batch(mooncake_client_t *c, const char *const *keys, size_t n,
                              void **values, int64_t *results);
int mooncake_client_batch_put_from(mooncake_client_t *c, const char *const *keys,
                                   const void *const *ptrs, const size_t *sizes, size_t n,
                                   const mooncake_client_replicate_config_t *cfg, int *results);
/* The upsert forms of put_batch and batch_put_from. */
int mooncake_client_upsert_batch(mooncake_client_t *c, const char *const *keys,
                                 const void *const *values, const size_t *sizes, size_t n,
                                 const mooncake_client_replicate_config_t *cfg, int *results);
int mooncake_client_batch_upsert_from(mooncake_client_t *c, const char *const *keys,
                                      const void *const *ptrs, const size_t *sizes, size_t n,
                                      const mooncake_client_replicate_config_t *cfg, int *results);
int mooncake_client_batch_get_into(mooncake_client_t *c, const char *const *keys, void *const *ptrs,
                                   const size_t *sizes, size_t n, int64_t *results);
/* Each key a list of fragments (an engine's per-layer slices of one block):
 * key i is bufs[i][0..nbufs[i]), written in order / read in order. */
int mooncake_client_batch_put_from_multi_buffers(mooncake_client_t *c, const char *const *keys,
                                                 const mooncake_slice_t *const *bufs,
                                                 const size_t *nbufs, size_t n,
                                                 const mooncake_client_replicate_config_t *cfg,
                                                 int *results);
int mooncake_client_batch_get_into_multi_buffers(mooncake_client_t *c, const char *const *keys,
                                                 const mooncake_slice_t *const *bufs,
                                                 const size_t *nbufs, size_t n, int64_t *results);

/* ---- replicas ---- */
#define MOONCAKE_REPLICA_MEMORY 0
#define MOONCAKE_REPLICA_DISK 1

typedef struct mooncake_client_replica {
    int type;           /* MOONCAKE_REPLICA_* */
    char segment[256];  /* its segment (the local_hostname of the store service owning it) */
    char endpoint[256]; /* that service's transfer endpoint */
    uint64_t offset;    /* the value's offset in the segment */
    uint64_t size;
} mooncake_client_replica_t;

typedef struct mooncake_client_replicas {
    int code; /* 0, or a negative ErrorCode (OBJECT_NOT_FOUND) */
    uint64_t size;
    size_t n;
    mooncake_client_replica_t rep[8];
} mooncake_client_replicas_t;

/* Where the replicas of n keys are, as the master lists them (the listing
 * grants the master's usual read lease, as a get does). out[i] per key.
 * Returns 0 or the whole request's error (then in every out[i].code). */
int mooncake_client_batch_get_replica_desc(mooncake_client_t *c, const char *const *keys, size_t n,
                                           mooncake_client_replicas_t *out);
/* Mooncake's batch_replica_clear: drops the replicas of the keys on the
 * segment named segment (NULL or "" = on every segment; an object left
 * without replicas is removed). Only objects put through this client's
 * store service, complete and not being read (no lease, no view) are
 * touched. results[i]: 0 when cleared, else OBJECT_NOT_FOUND, ILLEGAL_CLIENT,
 * REPLICA_IS_NOT_READY, OBJECT_HAS_LEASE, REPLICA_NOT_FOUND (none there). */
int mooncake_client_batch_replica_clear(mooncake_client_t *c, const char *const *keys, size_t n,
                                        const char *segment, int *results);

#ifdef __cplusplus
}
#endif

#endif
