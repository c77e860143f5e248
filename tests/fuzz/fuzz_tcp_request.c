/* libFuzzer target: the transfer engine's TCP request decoder (and the
 * response, connection handshake and RDMA handshake decoders, which share
 * the framing). Any input must decode or be refused without reading past the
 * buffer, a request that decodes must have a payload within the frame cap,
 * and a handshake frame that decodes must encode back to the same bytes. */
#include "mc/errors.h"
#include "mc/te_rdma_proto.h"
#include "mc/te_tcp_proto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t hdr[MC_TCP_REQ_SIZE], rh[MC_TCP_RESP_SIZE], again[MC_TCP_REQ_SIZE];
    mc_tcp_req_t q;
    mc_tcp_resp_t r;
    mc_rdma_connect_t m;
    uint8_t hs[MC_TCP_HS_SIZE], hs_again[MC_TCP_HS_SIZE];
    mc_tcp_hs_t h;

    if (size >= MC_TCP_REQ_SIZE) {
        memcpy(hdr, data, sizeof hdr);
        if (mc_tcp_req_decode(hdr, &q) == MC_OK) {
            if (mc_tcp_req_payload_len(&q) > MC_TCP_MAX_FRAME)
                abort();
            if (mc_tcp_check_range(q.offset, q.length, 1 << 20) == MC_OK &&
                q.offset + q.length > (1u << 20))
                abort();
            mc_tcp_req_encode(&q, again); /* decode(encode(x)) == x */
            if (memcmp(again, hdr, sizeof hdr) != 0)
                abort();
        }
    }
    if (size >= MC_TCP_RESP_SIZE) {
        memcpy(rh, data, sizeof rh);
        if (mc_tcp_resp_decode(rh, &r) == MC_OK && r.length > MC_TCP_MAX_FRAME)
            abort();
    }
    if (size >= MC_TCP_HS_SIZE) {
        memcpy(hs, data, sizeof hs);
        /* The server expects HELLO then CLIENT_PROOF, the client the others. */
        for (uint8_t type = MC_TCP_HS_HELLO; type <= MC_TCP_HS_SERVER_PROOF; type++) {
            if (mc_tcp_hs_decode(hs, type, &h) != MC_OK)
                continue;
            if (h.type != type || h.version != MC_TCP_VERSION)
                abort();
            mc_tcp_hs_encode(&h, hs_again);
            if (memcmp(hs_again, hs, sizeof hs) != 0)
                abort();
            /* A valid handshake frame is never a valid request header. */
            if (mc_tcp_req_decode(hs, &q) == MC_OK)
                abort();
        }
    }
    if (size <= MC_TCP_MAX_CTRL && mc_rdma_connect_decode(data, size, &m) == MC_OK &&
        (m.qp.psn >> 24 || strlen(m.endpoint) >= sizeof m.endpoint))
        abort();
    return 0;
}
