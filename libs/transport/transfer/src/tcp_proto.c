/* Encoding of the TCP frames. The only place that knows byte positions. */
#include "mc/te_tcp_proto.h"

#include "mc/errors.h"

#include <string.h>

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

void mc_tcp_req_encode(const mc_tcp_req_t *r, uint8_t out[MC_TCP_REQ_SIZE])
{
    put32(out + 0, MC_TCP_REQ_MAGIC);
    out[4] = r->version;
    out[5] = r->opcode;
    put16(out + 6, r->flags);
    put64(out + 8, r->id);
    put32(out + 16, r->seg_id);
    put32(out + 20, r->crc);
    put64(out + 24, r->epoch);
    put64(out + 32, r->offset);
    put64(out + 40, r->length);
}

int mc_tcp_req_decode(const uint8_t in[MC_TCP_REQ_SIZE], mc_tcp_req_t *r)
{
    memset(r, 0, sizeof *r);
    if (get32(in) != MC_TCP_REQ_MAGIC)
        return MC_INVALID_PARAMS;
    r->version = in[4];
    r->opcode = in[5];
    r->flags = get16(in + 6);
    r->id = get64(in + 8);
    r->seg_id = get32(in + 16);
    r->crc = get32(in + 20);
    r->epoch = get64(in + 24);
    r->offset = get64(in + 32);
    r->length = get64(in + 40);
    if (r->version != MC_TCP_VERSION)
        return MC_INVALID_VERSION;
    if (r->flags & ~MC_TCP_FLAGS_KNOWN)
        return MC_INVALID_PARAMS;
    switch (r->opcode) {
    case MC_TCP_OP_READ:
    case MC_TCP_OP_WRITE: return r->length > MC_TCP_MAX_FRAME ? MC_INVALID_PARAMS : MC_OK;
    case MC_TCP_OP_PING: return r->length ? MC_INVALID_PARAMS : MC_OK;
    default:
        if (!mc_tcp_op_is_ctrl(r->opcode))
            return MC_INVALID_PARAMS;
        return r->length > MC_TCP_MAX_CTRL ? MC_INVALID_PARAMS : MC_OK;
    }
}

bool mc_tcp_op_is_ctrl(uint8_t opcode)
{
    return opcode == MC_TCP_OP_RDMA_CONNECT;
}

uint64_t mc_tcp_req_payload_len(const mc_tcp_req_t *r)
{
    return r->opcode == MC_TCP_OP_WRITE || mc_tcp_op_is_ctrl(r->opcode) ? r->length : 0;
}

void mc_tcp_resp_encode(const mc_tcp_resp_t *r, uint8_t out[MC_TCP_RESP_SIZE])
{
    put32(out + 0, MC_TCP_RESP_MAGIC);
    out[4] = r->version;
    out[5] = r->opcode;
    put16(out + 6, r->flags);
    put64(out + 8, r->id);
    put32(out + 16, (uint32_t)r->status);
    put32(out + 20, r->crc);
    put64(out + 24, r->length);
}

int mc_tcp_resp_decode(const uint8_t in[MC_TCP_RESP_SIZE], mc_tcp_resp_t *r)
{
    memset(r, 0, sizeof *r);
    if (get32(in) != MC_TCP_RESP_MAGIC)
        return MC_TRANSFER_FAIL;
    r->version = in[4];
    r->opcode = in[5];
    r->flags = get16(in + 6);
    r->id = get64(in + 8);
    r->status = (int32_t)get32(in + 16);
    r->crc = get32(in + 20);
    r->length = get64(in + 24);
    if (r->version != MC_TCP_VERSION || r->status > 0)
        return MC_TRANSFER_FAIL;
    if (r->length == 0)
        return MC_OK;
    if (r->status != MC_OK)
        return MC_TRANSFER_FAIL;
    if (r->opcode == MC_TCP_OP_READ)
        return r->length <= MC_TCP_MAX_FRAME ? MC_OK : MC_TRANSFER_FAIL;
    if (mc_tcp_op_is_ctrl(r->opcode))
        return r->length <= MC_TCP_MAX_CTRL ? MC_OK : MC_TRANSFER_FAIL;
    return MC_TRANSFER_FAIL;
}

int mc_tcp_check_range(uint64_t offset, uint64_t length, uint64_t seg_len)
{
    if (offset > seg_len || length > seg_len - offset)
        return MC_INVALID_PARAMS;
    return MC_OK;
}

void mc_tcp_hs_encode(const mc_tcp_hs_t *m, uint8_t out[MC_TCP_HS_SIZE])
{
    memset(out, 0, MC_TCP_HS_SIZE);
    put32(out + 0, MC_TCP_HS_MAGIC);
    out[4] = m->version;
    out[5] = m->type;
    memcpy(out + 8, m->body, MC_TCP_HS_BODY);
}

int mc_tcp_hs_decode(const uint8_t in[MC_TCP_HS_SIZE], uint8_t want, mc_tcp_hs_t *m)
{
    memset(m, 0, sizeof *m);
    if (get32(in) != MC_TCP_HS_MAGIC)
        return MC_INVALID_PARAMS;
    m->version = in[4];
    m->type = in[5];
    memcpy(m->body, in + 8, MC_TCP_HS_BODY);
    if (m->version != MC_TCP_VERSION)
        return MC_INVALID_VERSION;
    if (m->type != want || get16(in + 6) != 0 || get64(in + 8 + MC_TCP_HS_BODY) != 0)
        return MC_INVALID_PARAMS;
    return MC_OK;
}
