/* The store REST batch request decoder (libs/common/store_msg.c over
 * json.c), as the store's batch routes run it on bodies from any client.
 * It must return a code, never crash, and on MC_OK hand back 1..cap keys
 * whose lengths are their real lengths; the encoder must then reproduce a
 * body the decoder reads back to the same keys. */
#include "mc/errors.h"
#include "mc/store_msg.h"
#include "mc/strutil.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mc_store_batch_req_t r, again;
    mc_errmsg_t e;
    size_t len = 0;
    char *body;

    if (mc_store_batch_req_decode((const char *)data, size, &r, &e) != MC_OK)
        return 0;
    if (r.n == 0 || r.n > MC_MAX_BATCH_KEYS)
        abort();
    for (size_t i = 0; i < r.n; i++)
        if (r.key_lens[i] == 0 || r.key_lens[i] > MC_MAX_KEY_LEN ||
            strlen(r.keys[i]) != r.key_lens[i])
            abort();
    body = mc_store_batch_req_encode_take(r.keys, r.key_lens, r.n, r.force, &len);
    if (body) {
        if (mc_store_batch_req_decode(body, len, &again, &e) != MC_OK || again.n != r.n ||
            again.force != r.force)
            abort();
        for (size_t i = 0; i < r.n; i++)
            if (again.key_lens[i] != r.key_lens[i] ||
                memcmp(again.keys[i], r.keys[i], r.key_lens[i]) != 0)
                abort();
        mc_store_batch_req_cleanup(&again);
        free(body);
    }
    mc_store_batch_req_cleanup(&r);
    return 0;
}
