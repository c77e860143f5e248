/* The master's binary keys bodies (libs/common/master_bin.c), as the master
 * decodes requests from any caller and the store decodes the master's
 * replies. The first input byte picks the decoder, the rest is the body.
 * They must return a code, never crash or read past the input; on MC_OK the
 * fields hold within their caps, and encoding them again gives a body that
 * decodes to the same fields. */
#include "mc/errors.h"
#include "mc/limits.h"
#include "mc/master_bin.h"
#include "mc/strutil.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void keys(const uint8_t *p, size_t len, bool want_sizes)
{
    mc_keys_req_t req, again;
    mc_buf_t b;

    if (mc_keys_req_decode_bin((const char *)p, len, want_sizes, &req, NULL) != MC_OK)
        return;
    if (req.n == 0 || req.n > MC_MSG_MAX_BATCH || (want_sizes && !req.sizes))
        abort();
    for (size_t i = 0; i < req.n; i++)
        if (mc_key_validate(req.keys[i], req.key_lens[i], MC_MAX_KEY_LEN) != MC_OK ||
            strlen(req.keys[i]) != req.key_lens[i] ||
            (req.sizes && (req.sizes[i] < 1 || req.sizes[i] > MC_MSG_MAX_OBJECT)))
            abort();
    mc_buf_init(&b, 0);
    if (mc_keys_req_encode_bin(&b, &req) != MC_OK ||
        mc_keys_req_decode_bin(b.data, b.len, want_sizes, &again, NULL) != MC_OK ||
        again.n != req.n || again.force != req.force || again.hold != req.hold ||
        again.has_config != req.has_config || !again.sizes != !req.sizes ||
        !again.checksums != !req.checksums)
        abort();
    for (size_t i = 0; i < req.n; i++)
        if (strcmp(again.keys[i], req.keys[i]) != 0 ||
            (req.sizes && again.sizes[i] != req.sizes[i]) ||
            (req.checksums && again.checksums[i] != req.checksums[i]))
            abort();
    mc_keys_req_cleanup(&again);
    mc_buf_cleanup(&b);
    mc_keys_req_cleanup(&req);
}

static void results(const uint8_t *p, size_t len)
{
    char *body = malloc(len ? len : 1);
    mc_results_t r, again;
    mc_buf_t b;

    memcpy(body, p, len);
    if (mc_results_decode_bin_take(body, len, MC_MSG_MAX_BATCH, &r, NULL) != MC_OK)
        return;
    mc_buf_init(&b, 0);
    for (size_t i = 0; i < r.n; i++)
        if (r.res[i].n > MC_MAX_REPLICAS || r.res[i].code > 0)
            abort();
    if (mc_results_encode_bin(&b, r.res, r.n) != MC_OK || b.len != len)
        abort();
    body = malloc(b.len);
    memcpy(body, b.data, b.len);
    if (mc_results_decode_bin_take(body, b.len, MC_MSG_MAX_BATCH, &again, NULL) != MC_OK ||
        again.n != r.n)
        abort();
    for (size_t i = 0; i < r.n; i++)
        for (uint32_t j = 0; j < r.res[i].n; j++)
            if (strcmp(again.res[i].rep[j].segment, r.res[i].rep[j].segment) != 0 ||
                again.res[i].rep[j].addr != r.res[i].rep[j].addr)
                abort();
    mc_results_cleanup(&again);
    mc_buf_cleanup(&b);
    mc_results_cleanup(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0: keys(data + 1, size - 1, false); break;
    case 1: keys(data + 1, size - 1, true); break;
    default: results(data + 1, size - 1); break;
    }
    return 0;
}
