/* Mooncake-compatible error codes: one table, code -> name -> HTTP status.
 *
 * The numbers are Mooncake Store's ErrorCode values so engine code that switches
 * on them keeps working. Every function in this project that can fail returns
 * MC_OK (0) or one of these negative codes. */
#ifndef MC_ERRORS_H
#define MC_ERRORS_H

/* X(NAME, code, http_status, description) */
#define MC_ERROR_MAP(X)                                                           \
    X(OK, 0, 200, "success")                                                      \
    X(INTERNAL_ERROR, -1, 500, "internal error")                                  \
    X(BUFFER_OVERFLOW, -10, 400, "insufficient buffer space")                     \
    X(SHARD_INDEX_OUT_OF_RANGE, -100, 500, "shard index out of range")            \
    X(SEGMENT_NOT_FOUND, -101, 404, "segment not found")                          \
    X(SEGMENT_ALREADY_EXISTS, -102, 409, "segment already exists")                \
    X(CLIENT_NOT_FOUND, -103, 404, "client not found")                            \
    X(NO_AVAILABLE_HANDLE, -200, 507, "no space available for the allocation")    \
    X(INVALID_VERSION, -300, 409, "invalid version")                              \
    X(INVALID_KEY, -400, 400, "invalid key")                                      \
    X(WRITE_FAIL, -500, 500, "write failed")                                      \
    X(INVALID_PARAMS, -600, 400, "invalid parameters")                            \
    X(ILLEGAL_CLIENT, -601, 403, "client not allowed to do this operation")       \
    X(INVALID_WRITE, -700, 400, "invalid write")                                  \
    X(INVALID_READ, -701, 400, "invalid read")                                    \
    X(INVALID_REPLICA, -702, 409, "invalid replica")                              \
    X(REPLICA_IS_NOT_READY, -703, 409, "replica is not ready")                    \
    X(OBJECT_NOT_FOUND, -704, 404, "object not found")                            \
    X(OBJECT_ALREADY_EXISTS, -705, 409, "object already exists")                  \
    X(OBJECT_HAS_LEASE, -706, 409, "object has a lease")                          \
    X(LEASE_EXPIRED, -707, 410, "lease expired before the transfer finished")     \
    X(OBJECT_HAS_REPLICATION_TASK, -708, 409, "object has a replication task")    \
    X(OBJECT_NO_REPLICATION_TASK, -709, 409, "object has no replication task")    \
    X(REPLICA_NOT_FOUND, -710, 404, "replica not found")                          \
    X(REPLICA_ALREADY_EXISTS, -711, 409, "replica already exists")                \
    X(REPLICA_IS_GONE, -712, 410, "replica is gone")                              \
    X(TRANSFER_FAIL, -800, 502, "transfer failed")                                \
    X(RPC_FAIL, -900, 502, "rpc failed")                                          \
    X(ETCD_OPERATION_ERROR, -1000, 503, "etcd operation failed")                  \
    X(ETCD_KEY_NOT_EXIST, -1001, 404, "etcd key does not exist")                  \
    X(ETCD_TRANSACTION_FAIL, -1002, 409, "etcd transaction failed")               \
    X(ETCD_CTX_CANCELLED, -1003, 503, "etcd context cancelled")                   \
    X(UNAVAILABLE_IN_CURRENT_STATUS, -1010, 503, "unavailable in current status") \
    X(UNAVAILABLE_IN_CURRENT_MODE, -1011, 503, "unavailable in current mode")     \
    X(FILE_NOT_FOUND, -1100, 404, "file not found")                               \
    X(FILE_OPEN_FAIL, -1101, 500, "file open failed")                             \
    X(FILE_READ_FAIL, -1102, 500, "file read failed")                             \
    X(FILE_WRITE_FAIL, -1103, 500, "file write failed")                           \
    X(FILE_INVALID_BUFFER, -1104, 400, "invalid file buffer")                     \
    X(FILE_LOCK_FAIL, -1105, 500, "file lock failed")                             \
    X(FILE_INVALID_HANDLE, -1106, 400, "invalid file handle")                     \
    X(BUCKET_NOT_FOUND, -1200, 404, "bucket not found")                           \
    X(BUCKET_ALREADY_EXISTS, -1201, 409, "bucket already exists")                 \
    X(KEYS_EXCEED_BUCKET_LIMIT, -1202, 400, "keys exceed bucket limit")           \
    X(KEYS_ULTRA_LIMIT, -1203, 400, "keys over limit")                            \
    X(UNABLE_OFFLOAD, -1300, 503, "offload is not enabled")                       \
    X(UNABLE_OFFLOADING, -1301, 503, "unable to offload")                         \
    X(TASK_NOT_FOUND, -1400, 404, "task not found")                               \
    X(TASK_PENDING_LIMIT_EXCEEDED, -1401, 503, "pending task limit exceeded")

typedef enum mc_err {
#define MC_ERR_ENUM_(name, code, http, desc) MC_##name = (code),
    MC_ERROR_MAP(MC_ERR_ENUM_)
#undef MC_ERR_ENUM_
} mc_err_t;

/* printf-style argument checking for the formatting calls of the project. */
#if defined(__GNUC__)
#define MC_PRINTF(fmt_idx, arg_idx) __attribute__((format(printf, fmt_idx, arg_idx)))
#else
#define MC_PRINTF(fmt_idx, arg_idx)
#endif

/* The one way a call explains a failure beyond its ErrorCode: the caller
 * passes an mc_errmsg_t (or NULL when it does not care); the callee that
 * fails writes one line into msg and returns the code. A call that succeeds
 * leaves msg alone. */
#include <stdarg.h>

typedef struct mc_errmsg {
    char msg[512];
} mc_errmsg_t;

/* Formats into err (when not NULL) and returns code: `return mc_fail(err, ...)`. */
int mc_fail(mc_errmsg_t *err, int code, const char *fmt, ...) MC_PRINTF(3, 4);
int mc_vfail(mc_errmsg_t *err, int code, const char *fmt, va_list ap) MC_PRINTF(3, 0);

/* "OBJECT_NOT_FOUND" for -704; "UNKNOWN_ERROR" for a code not in the table. */
const char *mc_err_name(int code);
/* Human description; "unknown error" for a code not in the table. */
const char *mc_err_desc(int code);
/* HTTP status that fits the code (500 for unknown codes). */
int mc_err_http_status(int code);
/* 1 when code is in the table. */
int mc_err_known(int code);
/* Code for a name as printed by mc_err_name; 1 (not an error code) if unknown. */
int mc_err_from_name(const char *name);
/* Best ErrorCode for an HTTP status when a peer sent no code of its own. */
int mc_err_from_http_status(int status);

#endif
