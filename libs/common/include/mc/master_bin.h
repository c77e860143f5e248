/* Binary bodies of the master's keys calls (docs/master-api.md, "Binary
 * bodies"): the same mc_keys_req_t and results as master_msg.h's JSON, in a
 * compact little-endian layout, so the store service's hot calls
 * (put_start, put_end, get_replica_list, exist, release, ...) cost neither
 * a JSON tree nor number parsing at either end. A request sent with
 * Content-Type MC_BIN_KEYS_TYPE is answered with MC_BIN_RESULTS_TYPE; errors
 * for the whole request stay the JSON error body. Every string on the wire
 * carries its length and a NUL after it, so decoded strings point into the
 * body. Decoders check every count and length against the caps of
 * master_msg.h before use and refuse trailing bytes. */
#ifndef MC_MASTER_BIN_H
#define MC_MASTER_BIN_H

#include "mc/buf.h"
#include "mc/master_msg.h"

#define MC_BIN_KEYS_TYPE "application/x-mooncake-keys"
#define MC_BIN_RESULTS_TYPE "application/x-mooncake-results"

/* Appends req to b (b's sticky error, or MC_INVALID_PARAMS for a field over
 * its cap). */
int mc_keys_req_encode_bin(mc_buf_t *b, const mc_keys_req_t *req);
/* As mc_keys_req_decode (want_sizes: sizes required); strings point into
 * body, which must outlive *out; free with mc_keys_req_cleanup. */
int mc_keys_req_decode_bin(const char *body, size_t len, bool want_sizes, mc_keys_req_t *out,
                           mc_errmsg_t *err);

/* Appends n results to b. */
int mc_results_encode_bin(mc_buf_t *b, const mc_key_result_t *res, size_t n);
/* As mc_results_decode, taking body (malloc'ed, at least len bytes): the
 * replicas' strings point into it and it is freed with the results (at
 * once on failure). At most max results. */
int mc_results_decode_bin_take(char *body, size_t len, size_t max, mc_results_t *out,
                               mc_errmsg_t *err);

#endif
