/* The thin-client IPC decoders (libs/common/ipc_msg.c), as the store
 * service's IPC server runs them on bytes from any local process. The first
 * input byte picks the decoder, the rest is the payload (or the header).
 * They must return a code, never crash or read past the input; on MC_OK the
 * fields must hold within their caps, and encoding them again must give a
 * message that decodes to the same fields. */
#include "mc/errors.h"
#include "mc/ipc_msg.h"
#include "mc/limits.h"
#include "mc/strutil.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The payload of a message just encoded into b (from at). */
static const uint8_t *payload(const mc_buf_t *b, size_t *len)
{
    mc_ipc_hdr_t h;

    if (b->len < MC_IPC_HDR_LEN ||
        mc_ipc_hdr_decode((const uint8_t *)b->data, 0, &h, NULL) != MC_OK ||
        h.len != b->len - MC_IPC_HDR_LEN)
        abort();
    *len = h.len;
    return (const uint8_t *)b->data + MC_IPC_HDR_LEN;
}

static void keys_roundtrip(const mc_ipc_keys_t *m, uint16_t op, bool frags)
{
    mc_ipc_keys_t again;
    mc_buf_t b;
    const uint8_t *p;
    size_t len;

    for (uint32_t i = 0; i < m->n; i++)
        if (mc_key_validate(m->keys[i].key, m->keys[i].len, MC_MAX_KEY_LEN) != MC_OK ||
            m->keys[i].nfrag > MC_IPC_MAX_KEY_FRAGS || (!frags && m->keys[i].nfrag))
            abort();
    mc_buf_init(&b, 0);
    if (mc_ipc_keys_encode(&b, op, 1, m) != MC_OK)
        abort(); /* whatever decodes must encode */
    p = payload(&b, &len);
    if (mc_ipc_keys_decode(p, len, MC_MAX_BATCH_KEYS, frags, &again, NULL) != MC_OK ||
        again.n != m->n || again.flags != m->flags || again.replica_num != m->replica_num)
        abort();
    for (uint32_t i = 0; i < m->n; i++) {
        if (again.keys[i].len != m->keys[i].len || again.keys[i].nfrag != m->keys[i].nfrag ||
            memcmp(again.keys[i].key, m->keys[i].key, m->keys[i].len) != 0)
            abort();
        for (uint32_t j = 0; j < m->keys[i].nfrag; j++)
            if (memcmp(&again.keys[i].frags[j], &m->keys[i].frags[j], sizeof(mc_ipc_frag_t)))
                abort();
    }
    mc_ipc_keys_cleanup(&again);
    mc_buf_cleanup(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data + 1;
    size_t len = size ? size - 1 : 0;

    if (size == 0)
        return 0;
    switch (data[0] % 6) {
    case 0: {
        mc_ipc_hdr_t h;
        if (len >= MC_IPC_HDR_LEN && mc_ipc_hdr_decode(p, 0, &h, NULL) == MC_OK &&
            (h.len > MC_IPC_MAX_MSG || h.flags != 0))
            abort();
        break;
    }
    case 1: {
        mc_ipc_hello_t m;
        if (mc_ipc_hello_decode(p, len, &m, NULL) == MC_OK) {
            mc_ipc_hello_t again;
            mc_buf_t b;
            const uint8_t *q;
            size_t qlen;

            if (m.name_len > MC_IPC_MAX_TEXT || m.name + m.name_len > (const char *)p + len ||
                m.admin_token_len > MC_IPC_MAX_TOKEN ||
                m.admin_token + m.admin_token_len > (const char *)p + len)
                abort();
            mc_buf_init(&b, 0);
            if (mc_ipc_hello_encode(&b, 1, &m) != MC_OK)
                abort();
            q = payload(&b, &qlen);
            if (mc_ipc_hello_decode(q, qlen, &again, NULL) != MC_OK ||
                again.admin_token_len != m.admin_token_len ||
                memcmp(again.admin_token, m.admin_token, m.admin_token_len) != 0 ||
                again.name_len != m.name_len || memcmp(again.name, m.name, m.name_len) != 0)
                abort();
            mc_buf_cleanup(&b);
        }
        break;
    }
    case 2:
    case 3: {
        mc_ipc_keys_t m;
        bool frags = data[0] % 6 == 2;
        if (mc_ipc_keys_decode(p, len, MC_MAX_BATCH_KEYS, frags, &m, NULL) == MC_OK) {
            keys_roundtrip(&m, frags ? MC_IPC_GET : MC_IPC_EXIST, frags);
            mc_ipc_keys_cleanup(&m);
        }
        break;
    }
    case 5: {
        static mc_ipc_replicas_t res[16];
        int32_t status;
        uint32_t n;
        if (mc_ipc_replicas_reply_decode(p, len, &status, res, 16, &n, NULL) == MC_OK)
            for (uint32_t i = 0; i < n; i++) {
                if (res[i].n > MC_MAX_REPLICAS)
                    abort();
                for (uint32_t j = 0; j < res[i].n; j++)
                    if (res[i].rep[j].segment_len > MC_IPC_MAX_TEXT ||
                        (res[i].rep[j].segment_len &&
                         (res[i].rep[j].segment < (const char *)p ||
                          res[i].rep[j].segment + res[i].rep[j].segment_len >
                              (const char *)p + len)))
                        abort();
            }
        break;
    }
    default: {
        mc_ipc_small_t m;
        mc_ipc_key_result_t res[8];
        int32_t status;
        uint32_t n;
        if (mc_ipc_small_decode(p, len, &m, NULL) == MC_OK && m.text_len > MC_IPC_MAX_TEXT)
            abort();
        if (mc_ipc_keys_reply_decode(p, len, &status, res, 8, &n, NULL) == MC_OK && n > 8)
            abort();
        break;
    }
    }
    return 0;
}
