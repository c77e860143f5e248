/* The thin-client IPC protocol (docs/ipc.md, byte by byte): the one place
 * its messages are encoded and decoded. Pure bytes in, typed structs out:
 * no sockets here (framing over a Unix socket with SCM_RIGHTS lives in
 * libs/transport, mc/ipc_sock.h).
 *
 * A message is a 16-byte header (payload length, opcode, flags, request id)
 * and a payload. Every integer is little-endian. A reply carries the
 * request's opcode with MC_IPC_REPLY set and the request's id, so requests
 * can be pipelined. Decoders check every length against the bytes present
 * and against the caps below before using it, and refuse trailing bytes. */
#ifndef MC_IPC_MSG_H
#define MC_IPC_MSG_H

#include "mc/buf.h"
#include "mc/errors.h"
#include "mc/limits.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MC_IPC_MAGIC 0x5043494du /* "MICP" as bytes on the wire */
#define MC_IPC_VERSION 1u
#define MC_IPC_HDR_LEN 16u
#define MC_IPC_MAX_MSG (4u << 20)  /* payload bytes of one message */
#define MC_IPC_MAX_KEY_FRAGS 4096u /* fragments of one key */
#define MC_IPC_MAX_FRAGS 65536u    /* fragments in one message */
#define MC_IPC_MAX_TEXT 4096u      /* names, patterns, details */
#define MC_IPC_MAX_TOKEN 256u      /* the hello's admin token (MC_AUTH_MAX_TOKEN) */
#define MC_IPC_REPLY 0x8000u       /* set in a reply's opcode */

typedef enum mc_ipc_op {
    MC_IPC_HELLO = 1,          /* hello -> hello reply; first message, once */
    MC_IPC_REGISTER = 2,       /* small (arg = size, memfd attached) -> small (value = region) */
    MC_IPC_UNREGISTER = 3,     /* small (arg = region) -> small */
    MC_IPC_PUT = 4,            /* keys with source fragments -> keys reply (codes) */
    MC_IPC_GET = 5,            /* keys with destination fragments -> keys reply (sizes) */
    MC_IPC_EXIST = 6,          /* keys -> keys reply (value 1/0) */
    MC_IPC_SIZE = 7,           /* keys -> keys reply (sizes) */
    MC_IPC_REMOVE = 8,         /* keys (+force) -> keys reply (codes) */
    MC_IPC_REMOVE_REGEX = 9,   /* small (text = pattern, +force) -> small (value = count) */
    MC_IPC_REMOVE_ALL = 10,    /* small (+force) -> small (value = count) */
    MC_IPC_HEALTH = 11,        /* small -> small (text = detail when unhealthy) */
    MC_IPC_SEGMENT = 12,       /* small -> small (value = size, text = name, read-only fd) */
    MC_IPC_GET_BUFFER = 13,    /* keys -> keys reply (value = size, aux = offset in the segment) */
    MC_IPC_RELEASE = 14,       /* keys -> keys reply (codes): views given by GET_BUFFER end */
    MC_IPC_REPLICA_CLEAR = 15, /* keys (preferred = segment, empty = all) -> keys reply (codes) */
    MC_IPC_REPLICA_DESC = 16,  /* keys -> replicas reply */
    MC_IPC_OPS
} mc_ipc_op_t;

/* Request flags (the keys and small messages' flags byte). */
#define MC_IPC_F_FORCE 0x01u
#define MC_IPC_F_SOFT_PIN 0x02u
#define MC_IPC_F_HARD_PIN 0x04u
#define MC_IPC_F_UPSERT 0x08u
#define MC_IPC_F_ALL 0x0fu

typedef struct mc_ipc_hdr {
    uint32_t len;   /* payload bytes after the header, <= MC_IPC_MAX_MSG */
    uint16_t op;    /* mc_ipc_op_t, | MC_IPC_REPLY in a reply */
    uint16_t flags; /* 0 (reserved) */
    uint64_t id;    /* chosen by the client, echoed in the reply */
} mc_ipc_hdr_t;

void mc_ipc_hdr_encode(const mc_ipc_hdr_t *h, uint8_t out[MC_IPC_HDR_LEN]);
/* MC_INVALID_PARAMS for a payload over max_msg (0 = MC_IPC_MAX_MSG), nonzero
 * flags, or an opcode outside the table (with or without MC_IPC_REPLY). */
int mc_ipc_hdr_decode(const uint8_t in[MC_IPC_HDR_LEN], uint32_t max_msg, mc_ipc_hdr_t *h,
                      mc_errmsg_t *err);

/* Where a store service's local clients find it when no socket path is
 * given: <runtime_dir>/mooncake/store-<port>.sock, or, with runtime_dir
 * empty or NULL, <tmp>/mooncake-<uid>/store-<port>.sock (tmp = $TMPDIR as
 * the caller read it, or /tmp). The directory part goes to dir. MC_OK or
 * MC_INVALID_PARAMS when it does not fit a Unix socket path (108 bytes). */
int mc_ipc_default_path(const char *runtime_dir, const char *tmpdir, unsigned uid, unsigned port,
                        char *dir, size_t dir_cap, char *path, size_t path_cap);

/* ---- hello ---- */
typedef struct mc_ipc_hello {
    uint16_t min_version, max_version;
    const char *name; /* the client's label (points into the payload) */
    size_t name_len;
    /* Optional, last: the admin token, which admits this connection's admin
     * ops (remove_all, remove_by_regex, force removes) whatever its uid.
     * Not sent when admin_token_len is 0 (decoded as "", 0 when absent). */
    const char *admin_token;
    size_t admin_token_len;
} mc_ipc_hello_t;

/* The service stops when the process that started it goes away (the
 * embedded default): a client that did not start it should expect that. */
#define MC_IPC_HELLO_F_EPHEMERAL 0x01u

typedef struct mc_ipc_hello_reply {
    int32_t status;
    uint16_t version;     /* chosen */
    uint8_t flags;        /* MC_IPC_HELLO_F_* */
    uint32_t max_msg;     /* payload cap the service accepts */
    uint32_t max_batch;   /* keys per request */
    uint32_t max_regions; /* registered regions per client */
    uint64_t max_mapped;  /* registered bytes per client */
    const char *hostname; /* the service's local_hostname */
    size_t hostname_len;
    const char *master; /* its master_server_addr */
    size_t master_len;
} mc_ipc_hello_reply_t;

/* ---- fragments and keys messages ---- */
typedef struct mc_ipc_frag {
    uint32_t region; /* id from REGISTER */
    uint64_t offset; /* into the region */
    uint64_t len;
} mc_ipc_frag_t;

typedef struct mc_ipc_key {
    const char *key; /* points into the payload; not NUL-terminated */
    size_t len;
    uint32_t nfrag;
    const mc_ipc_frag_t *frags; /* nfrag entries */
} mc_ipc_key_t;

typedef struct mc_ipc_keys {
    uint8_t flags;         /* MC_IPC_F_* */
    uint8_t replica_num;   /* 0 = the service's default */
    const char *preferred; /* segment name or NULL */
    size_t preferred_len;
    uint32_t n;
    mc_ipc_key_t *keys;   /* decoder-owned */
    mc_ipc_frag_t *frags; /* decoder-owned, all keys' fragments */
} mc_ipc_keys_t;

typedef struct mc_ipc_key_result {
    int32_t code;
    uint64_t value; /* size (GET, SIZE, GET_BUFFER), 1/0 (EXIST), 0 otherwise */
    uint64_t aux;   /* GET_BUFFER: the value's offset in the service's segment; else 0 */
} mc_ipc_key_result_t;

/* ---- replicas reply (REPLICA_DESC) ---- */
typedef struct mc_ipc_replica {
    uint8_t type; /* mc_replica_type_t */
    uint64_t offset, size;
    const char *segment; /* its segment's name; points into the payload */
    size_t segment_len;
    const char *endpoint; /* its transport endpoint */
    size_t endpoint_len;
} mc_ipc_replica_t;

typedef struct mc_ipc_replicas {
    int32_t code;
    uint64_t size; /* the object's */
    uint32_t n;    /* <= MC_MAX_REPLICAS */
    mc_ipc_replica_t rep[MC_MAX_REPLICAS];
} mc_ipc_replicas_t;

/* ---- small request / reply ---- */
typedef struct mc_ipc_small {
    uint8_t flags;
    uint64_t arg;
    const char *text; /* may be empty; not NUL-terminated */
    size_t text_len;
} mc_ipc_small_t;

typedef struct mc_ipc_small_reply {
    int32_t status;
    uint64_t value;
    const char *text;
    size_t text_len;
} mc_ipc_small_reply_t;

/* ---- encoding: a whole message (header + payload) appended to b ----
 * Each returns MC_OK, or b's sticky error (MC_BUFFER_OVERFLOW past its cap
 * or past MC_IPC_MAX_MSG, MC_INTERNAL_ERROR out of memory), or
 * MC_INVALID_PARAMS for a field over its cap. */
int mc_ipc_hello_encode(mc_buf_t *b, uint64_t id, const mc_ipc_hello_t *m);
int mc_ipc_hello_reply_encode(mc_buf_t *b, uint64_t id, const mc_ipc_hello_reply_t *m);
int mc_ipc_keys_encode(mc_buf_t *b, uint16_t op, uint64_t id, const mc_ipc_keys_t *m);
int mc_ipc_keys_reply_encode(mc_buf_t *b, uint16_t op, uint64_t id, int32_t status,
                             const mc_ipc_key_result_t *res, uint32_t n);
int mc_ipc_replicas_reply_encode(mc_buf_t *b, uint64_t id, int32_t status,
                                 const mc_ipc_replicas_t *res, uint32_t n);
int mc_ipc_small_encode(mc_buf_t *b, uint16_t op, uint64_t id, const mc_ipc_small_t *m);
int mc_ipc_small_reply_encode(mc_buf_t *b, uint16_t op, uint64_t id, const mc_ipc_small_reply_t *m);

/* ---- decoding: a payload (after its header) ----
 * Strings point into p, which must outlive the result. MC_INVALID_PARAMS
 * (MC_INVALID_KEY for a bad key) with the reason in err. */
int mc_ipc_hello_decode(const uint8_t *p, size_t len, mc_ipc_hello_t *out, mc_errmsg_t *err);
int mc_ipc_hello_reply_decode(const uint8_t *p, size_t len, mc_ipc_hello_reply_t *out,
                              mc_errmsg_t *err);
/* max_batch caps n; frags_allowed false refuses any fragment (EXIST, SIZE,
 * REMOVE). Keys are validated (1..MC_MAX_KEY_LEN bytes, no NUL). */
int mc_ipc_keys_decode(const uint8_t *p, size_t len, uint32_t max_batch, bool frags_allowed,
                       mc_ipc_keys_t *out, mc_errmsg_t *err);
void mc_ipc_keys_cleanup(mc_ipc_keys_t *m);
/* res gets at most cap results; *n the count (the reply's n must not exceed cap). */
int mc_ipc_keys_reply_decode(const uint8_t *p, size_t len, int32_t *status,
                             mc_ipc_key_result_t *res, uint32_t cap, uint32_t *n, mc_errmsg_t *err);
/* res gets at most cap entries (names point into p); *n the count. */
int mc_ipc_replicas_reply_decode(const uint8_t *p, size_t len, int32_t *status,
                                 mc_ipc_replicas_t *res, uint32_t cap, uint32_t *n,
                                 mc_errmsg_t *err);
int mc_ipc_small_decode(const uint8_t *p, size_t len, mc_ipc_small_t *out, mc_errmsg_t *err);
int mc_ipc_small_reply_decode(const uint8_t *p, size_t len, mc_ipc_small_reply_t *out,
                              mc_errmsg_t *err);

#endif
