/* The master's HTTP/JSON messages: one encode/decode pair per message shape,
 * used by the master's routes and by its clients (the store service), so the
 * JSON field names live here and nowhere else. docs/master-api.md shows them.
 *
 * Shapes:
 *   keys request   {"client_id", "keys": [..], "sizes": [..], "checksums": [..],
 *                   "config": {...}, "force": bool, "upsert": bool, "hold": bool}
 *                  (single-key routes take "key"/"size")
 *   results        {"results": [{"code", "size", "lease_ms", "exists", "replicas": [..]}]}
 *   segment        {"client_id", "segment": {"id", "name", "endpoint", "protocol", "base", "size"}}
 *   ping           {"client_id"} -> {"status": "OK"|"NEED_REMOUNT", "view_version"}
 *   disk tier      mount_disk, ping's "disk", disk replicas, ssd tasks (below)
 *
 * Decoded strings of a request point into the cJSON tree of the message
 * (msg->root): they live until the message's _cleanup. Decoded results copy
 * theirs (mc_results_t), so no cJSON tree outlives the decoder there. Every count, length and number is checked
 * against the caps below before use. */
/* SSD tier seam (issue 13), where it differs from or adds to section 2 of
 * the shared contract (docs/master-api.md, "Disk tiers (SSD)"):
 *  - a persist task has no "checksum" when the object has none;
 *  - batch_disk_replica_add also answers -703 (a put of the key in flight:
 *    drop the record) and -200 (the object has MC_MAX_REPLICAS replicas),
 *    and 404 -103 for the whole call when the client has no disk tier;
 *  - "bucket" and "offset" are JSON numbers, exact below 2^53;
 *  - a restarted store's mount replaces its previous segment only with that
 *    segment's "secret" (keep it with the stable identity);
 *  - the admin sibling of /get_all_segments is GET /get_all_disks. */
#ifndef MC_MASTER_MSG_H
#define MC_MASTER_MSG_H

#include "mc/limits.h"
#include "mc/replica.h"
#include "mc/json.h"
#include "mc/uuid.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MC_MSG_MAX_BATCH MC_MAX_BATCH_KEYS
#define MC_MSG_MAX_PREFERRED 8u /* preferred segments in a config */
#define MC_MSG_MAX_NAME 255u    /* segment name, endpoint */
#define MC_MSG_MAX_OBJECT (1ull << 40)

/* The master's routes (all POST), each next to the message it carries:
 * keys request -> results for the object calls, the small messages below
 * for the others. The master registers these and its clients post to them. */
#define MC_ROUTE_MOUNT_SEGMENT "/api/v1/mount_segment"       /* segment -> mount reply */
#define MC_ROUTE_UNMOUNT_SEGMENT "/api/v1/unmount_segment"   /* unmount -> {} */
#define MC_ROUTE_PING "/api/v1/ping"                         /* ping -> ping reply */
#define MC_ROUTE_PUT_START "/api/v1/put_start"               /* keys+sizes -> replicas */
#define MC_ROUTE_PUT_END "/api/v1/put_end"                   /* keys -> codes */
#define MC_ROUTE_PUT_REVOKE "/api/v1/put_revoke"             /* keys -> codes */
#define MC_ROUTE_GET_REPLICA_LIST "/api/v1/get_replica_list" /* keys -> replicas, size, lease */
#define MC_ROUTE_EXIST "/api/v1/exist"                       /* keys -> exists */
#define MC_ROUTE_GET_SIZE "/api/v1/get_size"                 /* keys -> size */
#define MC_ROUTE_REMOVE "/api/v1/remove"                     /* keys+force -> codes */
#define MC_ROUTE_REMOVE_BY_REGEX "/api/v1/remove_by_regex"   /* remove -> count */
#define MC_ROUTE_REMOVE_ALL "/api/v1/remove_all"             /* remove -> count */
#define MC_ROUTE_RELEASE "/api/v1/release"                   /* keys -> codes (drops holds) */
#define MC_ROUTE_REPLICA_CLEAR "/api/v1/batch_replica_clear" /* keys+segment_name -> codes */
/* keys+checksums+segment_name -> codes: replicas whose bytes failed a reader's check */
#define MC_ROUTE_DROP_BAD_REPLICA "/api/v1/batch_drop_bad_replica"
#define MC_ROUTE_REPORT_FAILURE "/api/v1/report_failure" /* failure report -> {} */
/* SSD tier (issue 13; docs/master-api.md, "Disk tiers") */
#define MC_ROUTE_MOUNT_DISK "/api/v1/mount_disk"                         /* disk msg -> {} */
#define MC_ROUTE_DISK_REPLICA_ADD "/api/v1/batch_disk_replica_add"       /* disk items -> codes */
#define MC_ROUTE_DISK_REPLICA_REMOVE "/api/v1/batch_disk_replica_remove" /* disk items -> codes */
/* Served by the store service, posted by the master: ssd tasks -> 202 {} */
#define MC_ROUTE_SSD_TASKS "/api/v1/ssd/tasks"

/* ReplicateConfig. */
typedef struct mc_replicate_cfg {
    uint32_t replica_num; /* 1..MC_MAX_REPLICAS */
    const char *preferred[MC_MSG_MAX_PREFERRED];
    uint32_t n_preferred;
    bool soft_pin;
    bool hard_pin;
} mc_replicate_cfg_t;

/* Per-key result of a batch call. Which fields are meaningful depends on the
 * call: replicas (put_start, get_replica_list), size and lease_ms
 * (get_replica_list, get_size), exists (exist). */
typedef struct mc_key_result {
    int code;
    uint64_t size;
    uint64_t lease_ms; /* remaining lease when the master answered */
    bool exists;
    bool has_checksum; /* get_replica_list: the writer's CRC32C of the value */
    uint32_t checksum;
    uint32_t n;
    mc_replica_t rep[MC_MAX_REPLICAS];
} mc_key_result_t;

typedef struct mc_keys_req {
    mc_uuid_t client_id; /* nil when absent */
    size_t n;
    const char **keys;
    size_t *key_lens;
    uint64_t *sizes;     /* NULL when absent */
    uint32_t *checksums; /* NULL when absent */
    bool has_config;
    mc_replicate_cfg_t config;
    bool force;
    bool upsert;
    bool hold;                /* get_replica_list: take a hold for client_id on each object */
    const char *segment_name; /* batch_replica_clear: NULL (or "" on the wire) = all */
    bool single;              /* decoded from the single-key form {"key", "size"} */
    cJSON *root;              /* owns the strings (decoded requests only) */
} mc_keys_req_t;

/* A per-segment secret on the wire ("secret"): at most this many bytes. */
#define MC_MSG_MAX_SECRET 64u

typedef struct mc_segment_msg {
    mc_uuid_t client_id;
    mc_uuid_t id;
    const char *name;
    const char *endpoint;
    const char *protocol;
    uint64_t base;
    uint64_t size;
    const char *secret; /* from the first mount's reply; NULL/"" = none (a first mount) */
    cJSON *root;
} mc_segment_msg_t;

/* ---- keys request ---- */
/* want_sizes: sizes are required (put_start); single-key bodies ({"key"})
 * are accepted as a batch of one. */
int mc_keys_req_decode(const char *body, size_t len, bool want_sizes, mc_keys_req_t *out,
                       mc_errmsg_t *err);
void mc_keys_req_cleanup(mc_keys_req_t *req);
/* Encodes req (any of sizes/checksums/config may be absent); caller frees. */
char *mc_keys_req_encode_take(const mc_keys_req_t *req, size_t *len);

/* ---- results ---- */
typedef enum mc_result_fields {
    MC_RES_REPLICAS = 1u,
    MC_RES_SIZE = 2u,
    MC_RES_LEASE = 4u,
    MC_RES_EXISTS = 8u,
} mc_result_fields_t;

/* {"results": [...]} with the fields selected by mask; caller frees. */
char *mc_results_encode_take(const mc_key_result_t *res, size_t n, unsigned mask, size_t *len);
/* A decoded results message: n results whose replica names and endpoints
 * point into strings; both are owned here and freed by mc_results_cleanup. */
typedef struct mc_results {
    size_t n;
    mc_key_result_t *res;
    char *strings;
} mc_results_t;

/* Decodes at most max results. On failure *out is empty (cleanup is safe
 * either way). */
int mc_results_decode(const char *body, size_t len, size_t max, mc_results_t *out,
                      mc_errmsg_t *err);
void mc_results_cleanup(mc_results_t *r);

/* ---- segment mount ---- */
int mc_segment_msg_decode(const char *body, size_t len, mc_segment_msg_t *out, mc_errmsg_t *err);
void mc_segment_msg_cleanup(mc_segment_msg_t *msg);
char *mc_segment_msg_encode_take(const mc_segment_msg_t *msg, size_t *len);

/* ---- small messages ----
 * ping      {"client_id"} -> {"status": "OK"|"NEED_REMOUNT", "view_version"}
 * unmount   {"segment_id", "client_id", "secret", "graceful", "grace_ms"} -> {}
 * remove_by_regex / remove_all   {"pattern", "force"} -> {"removed": n}
 * report_failure {"client_id", "segment_id", "epoch"} -> {}
 * mount_segment reply            {"epoch": n, "secret": "<the segment's secret>"}
 * Encoders return malloc'd text (caller frees, NULL when out of memory). */
typedef struct mc_ping_reply {
    bool need_remount;
    uint64_t view_version;
} mc_ping_reply_t;

typedef struct mc_unmount_req {
    mc_uuid_t segment_id;
    mc_uuid_t client_id;
    char secret[MC_MSG_MAX_SECRET + 1]; /* "" = none */
    bool graceful;
    uint64_t grace_ms;
} mc_unmount_req_t;

/* pattern NULL: remove_all. Decoded pattern points into root. */
typedef struct mc_remove_req {
    const char *pattern;
    bool force;
    cJSON *root;
} mc_remove_req_t;

/* A store service could not write to a replica on segment_id (mount epoch). */
typedef struct mc_failure_report {
    mc_uuid_t client_id; /* the reporter */
    mc_uuid_t segment_id;
    uint64_t epoch;
} mc_failure_report_t;

char *mc_failure_report_encode_take(const mc_failure_report_t *r, size_t *len);
int mc_failure_report_decode(const char *body, size_t len, mc_failure_report_t *out,
                             mc_errmsg_t *err);

char *mc_ping_req_encode_take(mc_uuid_t client_id, size_t *len);
int mc_ping_req_decode(const char *body, size_t len, mc_uuid_t *client_id, mc_errmsg_t *err);
char *mc_ping_reply_encode_take(const mc_ping_reply_t *r, size_t *len);
int mc_ping_reply_decode(const char *body, size_t len, mc_ping_reply_t *out, mc_errmsg_t *err);

char *mc_unmount_req_encode_take(const mc_unmount_req_t *r, size_t *len);
int mc_unmount_req_decode(const char *body, size_t len, mc_unmount_req_t *out, mc_errmsg_t *err);

char *mc_remove_req_encode_take(const char *pattern, bool force, size_t *len);
/* An empty body is {} (remove_all without force). need_pattern: regex route. */
int mc_remove_req_decode(const char *body, size_t len, bool need_pattern, mc_remove_req_t *out,
                         mc_errmsg_t *err);
void mc_remove_req_cleanup(mc_remove_req_t *r);

typedef struct mc_mount_reply {
    uint64_t epoch;
    char secret[MC_MSG_MAX_SECRET + 1]; /* "" when the master sent none */
} mc_mount_reply_t;
char *mc_mount_reply_encode_take(const mc_mount_reply_t *r, size_t *len);
int mc_mount_reply_decode(const char *body, size_t len, mc_mount_reply_t *out, mc_errmsg_t *err);
char *mc_count_reply_encode_take(uint64_t removed, size_t *len);
int mc_count_reply_decode(const char *body, size_t len, uint64_t *removed, mc_errmsg_t *err);

/* ---- SSD tier (issue 13) ----
 * mount_disk   {"client_id", "name", "control_url", "capacity", "used"} -> {}
 * ping         {"client_id", "disk": {"capacity", "used"}} ("disk" optional)
 * batch_disk_replica_add
 *              {"client_id", "create_missing": bool,
 *               "items": [{"key", "size", "checksum", "bucket", "offset", "length"}]}
 *              -> {"results": [{"code"}, ...]}
 * batch_disk_replica_remove
 *              {"client_id", "items": [{"key", "bucket"}]} -> {"results": [{"code"}, ...]}
 * ssd tasks (master -> store, POST {control_url}/api/v1/ssd/tasks)
 *              {"persist": [{"key", "size", "checksum", "segment_id", "offset"}],
 *               "drop": [{"key", "bucket"}]} -> 202 {}
 *              ("checksum" is absent when the object has none)
 * Decoded strings point into msg->root (freed by the _cleanup). */
#define MC_MSG_MAX_URL 255u    /* control_url */
#define MC_SSD_MAX_TASKS 4096u /* per array of a tasks body */

typedef struct mc_disk_msg {
    mc_uuid_t client_id;
    const char *name;        /* the owner's disk tier name (e.g. its segment name) */
    const char *control_url; /* "http://host:port" where the master and stores reach it */
    uint64_t capacity, used; /* bytes */
    const char *secret;      /* the secret of a segment client_id has mounted; NULL = none */
    cJSON *root;
} mc_disk_msg_t;

int mc_disk_msg_decode(const char *body, size_t len, mc_disk_msg_t *out, mc_errmsg_t *err);
void mc_disk_msg_cleanup(mc_disk_msg_t *msg);
char *mc_disk_msg_encode_take(const mc_disk_msg_t *msg, size_t *len);

/* Disk usage carried by a ping. */
typedef struct mc_disk_usage {
    uint64_t capacity, used;
} mc_disk_usage_t;

/* disk NULL: the plain ping body (a store without a tier). */
char *mc_ping_disk_encode_take(mc_uuid_t client_id, const mc_disk_usage_t *disk, size_t *len);
/* *has_disk tells whether "disk" was present (then *disk is filled). */
int mc_ping_disk_decode(const char *body, size_t len, mc_uuid_t *client_id, mc_disk_usage_t *disk,
                        bool *has_disk, mc_errmsg_t *err);

/* One disk replica of a batch: add uses every field, remove key and bucket. */
typedef struct mc_disk_item {
    const char *key;
    size_t key_len;
    uint64_t size;     /* add: the object's size */
    uint32_t checksum; /* add: CRC32C of the value */
    uint64_t bucket;
    uint64_t offset; /* add: byte offset in the bucket file */
    uint64_t length; /* add: bytes on disk (== size) */
} mc_disk_item_t;

typedef struct mc_disk_items_req {
    mc_uuid_t client_id;
    bool create_missing; /* add: a missing key becomes an object with only this replica */
    size_t n;
    const mc_disk_item_t *items;
    const char *secret; /* as in mc_disk_msg_t */
    void *owned;        /* decoded: the items' array */
    cJSON *root;
} mc_disk_items_req_t;

/* add: items carry every field; else (remove) key and bucket only. */
int mc_disk_items_decode(const char *body, size_t len, bool add, mc_disk_items_req_t *out,
                         mc_errmsg_t *err);
void mc_disk_items_cleanup(mc_disk_items_req_t *req);
char *mc_disk_items_encode_take(const mc_disk_items_req_t *req, bool add, size_t *len);

typedef struct mc_ssd_persist_task {
    const char *key;
    size_t key_len;
    uint64_t size;
    bool has_checksum;
    uint32_t checksum;
    mc_uuid_t segment_id; /* the owner's segment holding the memory replica */
    uint64_t offset;      /* the memory replica's offset in that segment */
} mc_ssd_persist_task_t;

typedef struct mc_ssd_drop_task {
    const char *key;
    size_t key_len;
    uint64_t bucket;
} mc_ssd_drop_task_t;

typedef struct mc_ssd_tasks {
    size_t n_persist, n_drop;
    mc_ssd_persist_task_t *persist; /* decoded: owned here */
    mc_ssd_drop_task_t *drop;
    cJSON *root;
} mc_ssd_tasks_t;

char *mc_ssd_tasks_encode_take(const mc_ssd_tasks_t *t, size_t *len);
/* At most MC_SSD_MAX_TASKS of each kind; keys checked as object keys. */
int mc_ssd_tasks_decode(const char *body, size_t len, mc_ssd_tasks_t *out, mc_errmsg_t *err);
void mc_ssd_tasks_cleanup(mc_ssd_tasks_t *t);

/* Field helpers shared by the decoders above. */
int mc_msg_decode_uuid(const cJSON *obj, const char *name, bool required, mc_uuid_t *out,
                       mc_errmsg_t *err);

#endif
