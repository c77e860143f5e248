/* Little-endian wire helpers shared by libs/common's binary codecs
 * (ipc_msg.c, master_bin.c); internal to libs/common. Writers append to an
 * mc_buf_t (its error is sticky, checked once at the end); readers take from
 * an rd_t whose short read is sticky, so a decoder reads every field and
 * checks once with wire_done. */
#ifndef MC_WIRE_H
#define MC_WIRE_H

#include "mc/buf.h"
#include "mc/errors.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void put_u8(mc_buf_t *b, uint8_t v)
{
    mc_buf_append(b, &v, 1);
}

static inline void put_u16(mc_buf_t *b, uint16_t v)
{
    uint8_t p[2];
    le16(p, v);
    mc_buf_append(b, p, sizeof(p));
}

static inline void put_u32(mc_buf_t *b, uint32_t v)
{
    uint8_t p[4];
    le32(p, v);
    mc_buf_append(b, p, sizeof(p));
}

static inline void put_u64(mc_buf_t *b, uint64_t v)
{
    uint8_t p[8];
    le64(p, v);
    mc_buf_append(b, p, sizeof(p));
}

/* u16 length + bytes; MC_INVALID_PARAMS over max. */
static inline int put_str(mc_buf_t *b, const char *s, size_t len, size_t max)
{
    if (len > max || (len && !s))
        return MC_INVALID_PARAMS;
    put_u16(b, (uint16_t)len);
    if (len)
        mc_buf_append(b, s, len);
    return MC_OK;
}

typedef struct rd {
    const uint8_t *p;
    size_t left;
    bool short_read; /* sticky: a read past the end */
} rd_t;

static inline const uint8_t *take(rd_t *r, size_t n)
{
    const uint8_t *p = r->p;

    if (r->short_read || n > r->left) {
        r->short_read = true;
        return NULL;
    }
    r->p += n;
    r->left -= n;
    return p;
}

static inline uint64_t get_le(rd_t *r, size_t n)
{
    const uint8_t *p = take(r, n);
    uint64_t v = 0;

    for (size_t i = 0; p && i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static inline uint8_t get_u8(rd_t *r)
{
    return (uint8_t)get_le(r, 1);
}

static inline uint16_t get_u16(rd_t *r)
{
    return (uint16_t)get_le(r, 2);
}

static inline uint32_t get_u32(rd_t *r)
{
    return (uint32_t)get_le(r, 4);
}

static inline uint64_t get_u64(rd_t *r)
{
    return get_le(r, 8);
}

static inline int32_t get_i32(rd_t *r)
{
    uint32_t u = get_u32(r);
    int32_t v;

    memcpy(&v, &u, sizeof(v)); /* two's complement, without an implementation-defined cast */
    return v;
}

static inline const char *get_str(rd_t *r, size_t *len)
{
    uint16_t n = get_u16(r);
    const uint8_t *p = take(r, n);

    *len = p ? n : 0;
    return p ? (const char *)p : "";
}

/* The end of a decode: every byte used, none missing, texts within caps. */
static inline int wire_done(const rd_t *r, const char *what, mc_errmsg_t *err)
{
    if (r->short_read)
        return mc_fail(err, MC_INVALID_PARAMS, "%s: truncated", what);
    if (r->left)
        return mc_fail(err, MC_INVALID_PARAMS, "%s: %zu trailing bytes", what, r->left);
    return MC_OK;
}

#endif
