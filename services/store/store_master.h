/* The store service's client of the master's HTTP/JSON API
 * (docs/master-api.md). Every message goes through libs/common's master_msg
 * encoders and decoders, the same ones the master's routes use.
 * Thread-safe: the HTTP client pools keep-alive connections. */
#ifndef MC_STORE_MASTER_H
#define MC_STORE_MASTER_H

#include "mc/master_msg.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct store_master store_master_t;

/* addr: "host:port" or a URL ("http://host:port"). timeout_ms bounds each
 * request (retries included per attempt). NULL on bad input or no memory. */
store_master_t *store_master_create(const char *addr, long timeout_ms, int retries);
void store_master_destroy(store_master_t *m);

/* POSTs a keys request to route ("/api/v1/put_start", ...) and decodes the
 * per-key results into res[0..req->n). *root_out owns the strings of the
 * replicas; the caller deletes it with cJSON_Delete (NULL on failure).
 * Returns MC_OK (per-key codes in res), MC_RPC_FAIL (no answer) or the
 * error of a malformed/refused exchange. */
int store_master_keys(store_master_t *m, const char *route, const mc_keys_req_t *req,
                      mc_key_result_t *res, cJSON **root_out);

int store_master_mount(store_master_t *m, const mc_segment_msg_t *seg, uint64_t *epoch);
int store_master_unmount(store_master_t *m, mc_uuid_t segment_id, mc_uuid_t client_id);
/* *need_remount: the master does not know this client (first contact,
 * restart, or TTL expiry). */
int store_master_ping(store_master_t *m, mc_uuid_t client_id, bool *need_remount);
/* pattern NULL = remove_all. */
int store_master_remove_many(store_master_t *m, const char *pattern, bool force,
                             uint64_t *removed);

#endif
