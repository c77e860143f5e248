/* The master's HTTP/JSON decoders (libs/common/master_msg.c over json.c), as
 * the master's routes and the store's master client run them on bodies from
 * the network. The first byte picks the decoder; the rest is the body. Every
 * decoder must return a code, never crash, and on MC_OK hand back fields
 * within their caps. */
#include "mc/errors.h"
#include "mc/master_msg.h"
#include "mc/strutil.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void keys(const char *b, size_t n, bool want_sizes)
{
    mc_keys_req_t r;
    mc_errmsg_t e;

    if (mc_keys_req_decode(b, n, want_sizes, &r, &e) != MC_OK)
        return;
    if (r.n > MC_MSG_MAX_BATCH || (want_sizes && !r.sizes))
        abort();
    for (size_t i = 0; i < r.n; i++)
        if (r.key_lens[i] == 0 || r.key_lens[i] > MC_MAX_KEY_LEN ||
            strlen(r.keys[i]) != r.key_lens[i]) /* a NUL never shortens a key */
            abort();
    mc_keys_req_cleanup(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *b = (const char *)data + 1;
    size_t n = size ? size - 1 : 0;
    mc_errmsg_t e;

    if (size == 0)
        return 0;
    switch (data[0] % 9) {
    case 0: keys(b, n, false); break;
    case 1: keys(b, n, true); break;
    case 2: {
        mc_results_t r;
        if (mc_results_decode(b, n, 16, &r, &e) == MC_OK) {
            if (r.n > 16)
                abort();
            for (size_t i = 0; i < r.n; i++)
                for (uint32_t j = 0; j < r.res[i].n; j++)
                    if (strlen(r.res[i].rep[j].segment) > MC_MSG_MAX_NAME ||
                        strlen(r.res[i].rep[j].endpoint) > MC_MSG_MAX_NAME)
                        abort();
        }
        mc_results_cleanup(&r);
        break;
    }
    case 3: {
        mc_segment_msg_t m;
        if (mc_segment_msg_decode(b, n, &m, &e) == MC_OK)
            mc_segment_msg_cleanup(&m);
        break;
    }
    case 4: {
        mc_uuid_t id;
        (void)mc_ping_req_decode(b, n, &id, &e);
        break;
    }
    case 5: {
        mc_ping_reply_t r;
        (void)mc_ping_reply_decode(b, n, &r, &e);
        break;
    }
    case 6: {
        mc_unmount_req_t u;
        if (mc_unmount_req_decode(b, n, &u, &e) == MC_OK &&
            strnlen(u.secret, sizeof(u.secret)) == sizeof(u.secret))
            abort();
        break;
    }
    case 7: {
        mc_remove_req_t r;
        if (mc_remove_req_decode(b, n, data[0] & 0x10, &r, &e) == MC_OK)
            mc_remove_req_cleanup(&r);
        break;
    }
    default: {
        mc_mount_reply_t mr;
        uint64_t v;
        if (mc_mount_reply_decode(b, n, &mr, &e) == MC_OK &&
            (mr.epoch == 0 || strnlen(mr.secret, sizeof(mr.secret)) == sizeof(mr.secret)))
            abort();
        (void)mc_count_reply_decode(b, n, &v, &e);
        break;
    }
    }
    return 0;
}
