/* RDMA handshake encoding and slicing (no verbs calls: unit-tested anywhere).
 * Layout: magic u32, version u8, mtu u8, reserved u16, qpn u32, psn u32,
 * lid u16, gid[16], then three length-prefixed (u8) strings: endpoint,
 * local_dev, remote_dev. All little-endian. */
#include "mc/te_rdma_proto.h"

#include "mc/errors.h"

#include <string.h>

#define FIXED 34

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int put_str(const char *s, size_t max, uint8_t *out, size_t cap, size_t *pos)
{
    size_t n = strnlen(s, max);
    if (n >= max || n > 255 || *pos + 1 + n > cap)
        return MC_BUFFER_OVERFLOW;
    out[(*pos)++] = (uint8_t)n;
    memcpy(out + *pos, s, n);
    *pos += n;
    return MC_OK;
}

static int get_str(const uint8_t *in, size_t len, size_t *pos, char *dst, size_t cap)
{
    size_t n;
    if (*pos >= len)
        return MC_INVALID_PARAMS;
    n = in[(*pos)++];
    if (n >= cap || *pos + n > len || memchr(in + *pos, '\0', n))
        return MC_INVALID_PARAMS;
    memcpy(dst, in + *pos, n);
    dst[n] = '\0';
    *pos += n;
    return MC_OK;
}

int mc_rdma_connect_encode(const mc_rdma_connect_t *m, uint8_t *out, size_t cap, size_t *len)
{
    size_t pos = FIXED;

    if (cap < FIXED)
        return MC_BUFFER_OVERFLOW;
    put32(out, MC_RDMA_MAGIC);
    out[4] = 1;
    out[5] = m->qp.mtu;
    out[6] = out[7] = 0;
    put32(out + 8, m->qp.qpn);
    put32(out + 12, m->qp.psn);
    out[16] = (uint8_t)m->qp.lid;
    out[17] = (uint8_t)(m->qp.lid >> 8);
    memcpy(out + 18, m->qp.gid, 16);
    if (put_str(m->endpoint, sizeof m->endpoint, out, cap, &pos) ||
        put_str(m->local_dev, sizeof m->local_dev, out, cap, &pos) ||
        put_str(m->remote_dev, sizeof m->remote_dev, out, cap, &pos))
        return MC_BUFFER_OVERFLOW;
    *len = pos;
    return MC_OK;
}

int mc_rdma_connect_decode(const uint8_t *in, size_t len, mc_rdma_connect_t *m)
{
    size_t pos = FIXED;

    memset(m, 0, sizeof *m);
    if (len < FIXED || get32(in) != MC_RDMA_MAGIC || in[4] != 1 || in[5] < 1 || in[5] > 5)
        return MC_INVALID_PARAMS;
    m->qp.mtu = in[5];
    m->qp.qpn = get32(in + 8);
    m->qp.psn = get32(in + 12);
    m->qp.lid = (uint16_t)(in[16] | in[17] << 8);
    memcpy(m->qp.gid, in + 18, 16);
    if (m->qp.psn >= (1u << 24) || m->qp.qpn >= (1u << 24))
        return MC_INVALID_PARAMS;
    if (get_str(in, len, &pos, m->endpoint, sizeof m->endpoint) ||
        get_str(in, len, &pos, m->local_dev, sizeof m->local_dev) ||
        get_str(in, len, &pos, m->remote_dev, sizeof m->remote_dev) || pos != len)
        return MC_INVALID_PARAMS;
    return MC_OK;
}

size_t mc_rdma_plan_count(uint64_t length, uint32_t slice)
{
    uint64_t n = slice ? (length + slice - 1) / slice : 0;
    return n ? (size_t)n : 1;
}

size_t mc_rdma_plan(uint64_t length, uint32_t slice, unsigned ndev, unsigned nqp, unsigned start,
                    mc_rdma_piece_t *out, size_t cap)
{
    size_t n = mc_rdma_plan_count(length, slice);

    if (!slice || !ndev || !nqp || n > cap)
        return 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t off = (uint64_t)i * slice;
        unsigned k = (unsigned)((start + i) % ((size_t)ndev * nqp));
        out[i].offset = off;
        out[i].length = (uint32_t)(length - off < slice ? length - off : slice);
        out[i].dev = (uint16_t)(k % ndev); /* consecutive pieces on different NICs */
        out[i].qp = (uint16_t)(k / ndev);
    }
    return n;
}
