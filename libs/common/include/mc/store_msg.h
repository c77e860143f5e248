/* The store service's REST messages (docs/store-service.md): one encoder per
 * reply body and one decoder for the public batch request, so the field
 * names live here and nowhere else. Error bodies ({"error", "code"}) are
 * the HTTP layer's (mc_http_reply_error).
 *
 * Shapes:
 *   batch request   {"keys": ["k1", ...], "force": bool}
 *                   force only matters to /api/v1/batch/remove; other
 *                   members (a master's "client_id", say) are ignored, so
 *                   newer clients keep working against older services
 *   status          {"status":"ok","code":0}
 *   exists          {"exists":true|false}
 *   removed         {"removed":N}
 *   batch results   {"results":[{"code":C[,"exists":B][,"size":N]}, ...]}
 *                   exists/size only on entries whose code is 0 */
#ifndef MC_STORE_MSG_H
#define MC_STORE_MSG_H

#include "mc/json.h"
#include "mc/limits.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A decoded batch request. keys[i] (key_lens[i] bytes, NUL-terminated, no
 * NUL inside) and the arrays live in one block owned by the struct. */
typedef struct mc_store_batch_req {
    size_t n; /* 1..MC_MAX_BATCH_KEYS */
    const char **keys;
    size_t *key_lens;
    bool force;
    void *block;
} mc_store_batch_req_t;

/* MC_OK, MC_INVALID_KEY (a key that is not a string of 1..MC_MAX_KEY_LEN
 * bytes without NUL), MC_INVALID_PARAMS (not an object, no "keys" array,
 * no keys or too many, force not a boolean) or MC_INTERNAL_ERROR; err says
 * which. On failure *out is empty (cleanup is safe either way). */
int mc_store_batch_req_decode(const char *body, size_t len, mc_store_batch_req_t *out,
                              mc_errmsg_t *err);
void mc_store_batch_req_cleanup(mc_store_batch_req_t *r);
/* lens may be NULL (strlen). Caller frees; NULL when out of memory. */
char *mc_store_batch_req_encode_take(const char *const *keys, const size_t *lens, size_t n,
                                     bool force, size_t *len);

/* One key's outcome in a batch reply. */
typedef struct mc_store_result {
    int code;
    uint64_t size;
    bool exists;
} mc_store_result_t;

typedef enum mc_store_fields {
    MC_STORE_F_EXISTS = 1u, /* batch exist */
    MC_STORE_F_SIZE = 2u,   /* batch get */
} mc_store_fields_t;

/* Encoders: malloc'd text (caller frees), NULL when out of memory. */
char *mc_store_status_encode_take(size_t *len);
char *mc_store_exists_encode_take(bool exists, size_t *len);
char *mc_store_removed_encode_take(uint64_t removed, size_t *len);
char *mc_store_results_encode_take(const mc_store_result_t *res, size_t n, unsigned fields,
                                   size_t *len);
/* The longest entry mc_store_results_encode_take can write for one key
 * (with its comma), and for the envelope: a batch GET reserves room for its
 * header before the values are read. */
#define MC_STORE_RESULT_MAX 72u
#define MC_STORE_RESULTS_ENVELOPE 16u

#endif
