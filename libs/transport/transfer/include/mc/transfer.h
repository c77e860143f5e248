/* Transfer engine: the data plane. Moves bytes between local memory and
 * segments (registered memory regions) of this or another process, over an
 * in-process memcpy, TCP or RDMA back end. See docs/transfer-engine.md.
 *
 * Model. An engine is one transport endpoint ("host:port"). It exposes named
 * segments: regions of its memory that peers may READ and WRITE, each with a
 * mount epoch. A segment's descriptor (endpoint, length, epoch, per-protocol
 * fields) is published to the metadata server under mooncake/ram/<name>, or
 * handed over directly (P2P mode, no metadata server). A peer opens the
 * segment by name and submits batches of {READ|WRITE, local address, segment,
 * offset, length}; every request carries the epoch from the descriptor and
 * the owner refuses a mismatch with MC_INVALID_VERSION.
 *
 * Threads. All functions are thread-safe. Requests complete on the engine's
 * own threads; a batch may be waited on by one thread at a time. */
#ifndef MC_TRANSFER_H
#define MC_TRANSFER_H

#include "mc/auth.h"
#include "mc/errors.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mc_te mc_te_t;
typedef struct mc_te_segment mc_te_segment_t; /* an opened (remote or local) segment */
typedef struct mc_te_batch mc_te_batch_t;

/* Request status while it is in flight (a positive value, never an error code). */
#define MC_TE_PENDING 1

/* Longest data-plane key accepted (bytes). */
#define MC_TE_AUTH_KEY_MAX 1024

/* The cluster secret for the data-plane handshake (docs/transfer-engine.md,
 * "Handshake"). key[0] is the key this engine proves with; a peer's proof
 * is accepted under key[0] or key[1]. Rolling rotation without failures:
 * every node {old, new}, then every node {new, old}, then {new}. A key is 1..MC_TE_AUTH_KEY_MAX bytes;
 * key[1] may be absent (NULL, 0). No key[0] (NULL, 0) = no handshake: the
 * engine serves and connects without one, as before keys existed. The
 * engine copies the bytes; the caller may free them after the call. */
typedef struct mc_te_auth_keys {
    const uint8_t *key[2];
    size_t len[2];
} mc_te_auth_keys_t;

typedef struct mc_te_opts {
    const char *local_name;      /* "host:port" to listen on for TCP; port 0 = pick one */
    const char *metadata_url;    /* ".../metadata" base URL; NULL or "P2P" = no metadata server */
    const char *protocols;       /* comma list: "tcp", "rdma", "tcp,rdma"; NULL = "tcp" */
    const char *rdma_devices;    /* comma list of device names; NULL = all devices */
    unsigned tcp_conns;          /* pooled connections per peer; 0 = online CPUs within 2..4 */
    unsigned tcp_depth;          /* pipelined requests in flight per connection; 0 = 16 */
    size_t tcp_min_slice;        /* do not slice below this; 0 = 256 KiB */
    bool crc;                    /* CRC32C every payload (checked by the receiver) */
    uint32_t connect_timeout_ms; /* 0 = 2000 */
    uint32_t request_timeout_ms; /* per request, from submit; 0 = 5000 */
    uint32_t republish_ms;       /* re-publish check period; 0 = 5000; UINT32_MAX = off */
    mc_auth_tokens_t *bearer;    /* sent to the metadata server (mc/auth.h); NULL = none */
    const char *publisher;       /* X-Mooncake-Publisher credential sent on every metadata
                                    call (docs/metadata.md, "Publishers"): only this engine
                                    may then replace or delete its descriptors; NULL = none */
    mc_te_auth_keys_t auth;      /* handshake keys; none = no handshake (see above) */
    uint32_t auth_timeout_ms;    /* a handshake must complete within this; 0 = 2000 */
    unsigned max_conns;          /* server connections at once, over it closed at once; 0 = 512 */
    uint32_t idle_timeout_ms;    /* server closes a connection idle this long; 0 = 120000;
                                    UINT32_MAX = never. Clients reconnect after half of theirs */
} mc_te_opts_t;

typedef enum mc_te_opcode { MC_TE_READ = 1, MC_TE_WRITE = 2 } mc_te_opcode_t;

typedef struct mc_te_request {
    mc_te_opcode_t opcode;
    void *local;          /* local source (WRITE) or destination (READ) */
    mc_te_segment_t *seg; /* from mc_te_open_segment* */
    uint64_t offset;      /* into the segment */
    size_t length;
    uint64_t epoch; /* mount epoch the caller believes in; 0 = the descriptor's */
} mc_te_request_t;

/* Creates an engine and starts its TCP listener. Returns MC_OK,
 * MC_INVALID_PARAMS (bad options), MC_TRANSFER_FAIL (cannot listen, or rdma
 * requested and no usable device), the reason in err (may be NULL). */
int mc_te_create(const mc_te_opts_t *opts, mc_te_t **out, mc_errmsg_t *err);
/* Stops threads, closes connections, deletes published descriptors (best
 * effort) and frees everything. Batches must have been destroyed. */
void mc_te_destroy(mc_te_t *te);
/* Replaces the handshake keys at run time (key rotation, e.g. on SIGHUP);
 * thread-safe. Connections made from now on use the new keys; a server
 * connection authenticated under a key the new set no longer holds is
 * closed (also every unauthenticated one, when keys are turned on), others
 * stay. No key[0] turns the handshake off for new connections. Returns
 * MC_OK or MC_INVALID_PARAMS (bad lengths; nothing changed). Takes locks:
 * call it from a thread (one woken by the SIGHUP handler), not the handler. */
int mc_te_set_auth_keys(mc_te_t *te, const mc_te_auth_keys_t *keys);

/* The bound endpoint, "127.0.0.1:40123" (port resolved when 0 was asked). */
const char *mc_te_endpoint(const mc_te_t *te);

/* Exposes [addr, addr+len) as segment `name` with mount epoch `epoch` (>= 1)
 * and publishes its descriptor when a metadata server is configured.
 * MC_SEGMENT_ALREADY_EXISTS if the name is taken; the memory stays the
 * caller's and must outlive the registration. */
int mc_te_register_segment(mc_te_t *te, const char *name, void *addr, size_t len, uint64_t epoch);
/* The same, with a label published as the descriptor's "segment_uuid" (a
 * store service's: the master's segment id), which readers can require
 * (mc_te_open_segment_expect). uuid: 1..63 bytes without control bytes. */
int mc_te_register_segment_uuid(mc_te_t *te, const char *name, void *addr, size_t len,
                                uint64_t epoch, const char *uuid);
/* Withdraws a segment: waits for requests being served from it, deletes its
 * descriptor. MC_SEGMENT_NOT_FOUND if unknown. */
int mc_te_unregister_segment(mc_te_t *te, const char *name);
/* Remount: sets a new epoch (must differ from the current one) and re-publishes.
 * Requests carrying the old epoch are refused from now on. */
int mc_te_set_epoch(mc_te_t *te, const char *name, uint64_t epoch);
/* Registers local memory used as a source/destination (RDMA needs a memory
 * region; TCP and memcpy accept any address). */
int mc_te_register_buffer(mc_te_t *te, void *addr, size_t len);
int mc_te_unregister_buffer(mc_te_t *te, void *addr);

/* Descriptor JSON of a local segment (for P2P hand-over); caller frees. */
int mc_te_describe_segment(mc_te_t *te, const char *name, char **json_take, size_t *len);
/* Publishes (PUT) every local segment's descriptor now. */
int mc_te_publish(mc_te_t *te);
/* For each local segment: GET its descriptor and PUT it again if the metadata
 * server answers 404. *republished (may be NULL) receives how many were. The
 * engine runs this every republish_ms on its own. */
int mc_te_republish_check(mc_te_t *te, unsigned *republished);

/* Opens a segment by name: the cached handle, or the descriptor fetched from
 * the metadata server (MC_SEGMENT_NOT_FOUND on 404, MC_RPC_FAIL if the server
 * cannot be reached). A segment of this engine uses the memcpy back end.
 * Handles live until the engine is destroyed. */
int mc_te_open_segment(mc_te_t *te, const char *name, mc_te_segment_t **out);
/* What a reader knows of a segment from elsewhere (a store service: from the
 * master's replica). Each field set is required of the descriptor: uuid
 * (NULL or "" = not checked) its "segment_uuid", epoch (0 = not checked)
 * its epoch, endpoint (NULL or "" = not checked) its endpoint. */
typedef struct mc_te_expect {
    const char *uuid;
    uint64_t epoch;
    const char *endpoint;
} mc_te_expect_t;
/* mc_te_open_segment for a reader that trusts the descriptor only when it
 * matches want: a cached handle that does not is fetched again (the owner
 * may have remounted); a descriptor that still does not is refused with
 * MC_ILLEGAL_CLIENT and not installed (a forged or stale one never replaces
 * the cached handle). */
int mc_te_open_segment_expect(mc_te_t *te, const char *name, const mc_te_expect_t *want,
                              mc_te_segment_t **out);
/* Opens (or updates) a segment from a descriptor received out of band. */
int mc_te_open_segment_desc(mc_te_t *te, const char *json, size_t len, mc_te_segment_t **out);
/* Fetches the descriptor again (new epoch, endpoint or keys). */
int mc_te_refresh_segment(mc_te_t *te, mc_te_segment_t *seg);
/* Non-const handles: each read takes the segment's lock (a refresh may be
 * replacing the descriptor). */
uint64_t mc_te_segment_epoch(mc_te_segment_t *seg);
uint64_t mc_te_segment_length(mc_te_segment_t *seg);
const char *mc_te_segment_protocol(mc_te_segment_t *seg); /* "mem", "tcp", "rdma" */

/* A batch holds up to `capacity` requests; it is reusable once complete. */
int mc_te_batch_create(mc_te_t *te, size_t capacity, mc_te_batch_t **out);
/* Waits for outstanding requests (each ends by its own deadline), then frees. */
void mc_te_batch_destroy(mc_te_batch_t *b);
/* Starts n requests (replacing the batch's previous ones). Each request is
 * validated first (MC_INVALID_PARAMS on a bad one: nothing started). Requests
 * then complete independently; errors show in their status. */
int mc_te_submit(mc_te_batch_t *b, const mc_te_request_t *reqs, size_t n);
/* MC_TE_PENDING, MC_OK, or the request's error: MC_TRANSFER_FAIL (network,
 * peer, timeout, CRC), MC_INVALID_VERSION (epoch mismatch), MC_INVALID_PARAMS
 * (offset/length outside the segment), MC_SEGMENT_NOT_FOUND (withdrawn). */
int mc_te_status(const mc_te_batch_t *b, size_t i);
/* Waits until every request is done or timeout_ms passes. Returns MC_OK when
 * all succeeded, MC_TE_PENDING on timeout, else the first failed request's code. */
int mc_te_wait(mc_te_batch_t *b, uint64_t timeout_ms);

/* Convenience: one request, submitted and waited for (request timeout). */
int mc_te_transfer_sync(mc_te_t *te, mc_te_opcode_t op, void *local, mc_te_segment_t *seg,
                        uint64_t offset, size_t length);

#endif
