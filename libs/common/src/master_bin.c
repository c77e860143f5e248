/* The master's binary keys bodies (mc/master_bin.h, docs/master-api.md). */
#include "mc/master_bin.h"

#include "mc/limits.h"
#include "mc/strutil.h"
#include "wire.h"

#include <stdlib.h>
#include <string.h>

#define KEYS_MAGIC 0x314b434du    /* "MCK1" */
#define RESULTS_MAGIC 0x3152434du /* "MCR1" */

enum {
    F_SIZES = 1u << 0,
    F_CHECKSUMS = 1u << 1,
    F_CONFIG = 1u << 2,
    F_FORCE = 1u << 3,
    F_UPSERT = 1u << 4,
    F_HOLD = 1u << 5,
    F_SEGMENT = 1u << 6,
    F_ALL = (1u << 7) - 1,
};

/* u16 length, the bytes, a NUL. */
static int put_cstr(mc_buf_t *b, const char *s, size_t len, size_t max)
{
    int rc = put_str(b, s, len, max);

    put_u8(b, 0);
    return rc;
}

/* A string written by put_cstr: 1..max bytes (0.. when may_be_empty), no
 * NUL inside, NUL after. NULL when it is not. */
static const char *get_cstr(rd_t *r, size_t max, bool may_be_empty, size_t *len)
{
    const char *s = get_str(r, len);

    if (get_u8(r) != 0 || r->short_read || *len > max || (!*len && !may_be_empty) ||
        memchr(s, '\0', *len))
        return NULL;
    return s;
}

static void put_uuid(mc_buf_t *b, mc_uuid_t id)
{
    put_u64(b, id.hi);
    put_u64(b, id.lo);
}

static mc_uuid_t get_uuid(rd_t *r)
{
    mc_uuid_t id;

    id.hi = get_u64(r);
    id.lo = get_u64(r);
    return id;
}

int mc_keys_req_encode_bin(mc_buf_t *b, const mc_keys_req_t *req)
{
    unsigned flags = (req->sizes ? F_SIZES : 0) | (req->checksums ? F_CHECKSUMS : 0) |
                     (req->has_config ? F_CONFIG : 0) | (req->force ? F_FORCE : 0) |
                     (req->upsert ? F_UPSERT : 0) | (req->hold ? F_HOLD : 0) |
                     (req->segment_name ? F_SEGMENT : 0);
    int rc = MC_OK;

    if (req->n == 0 || req->n > MC_MSG_MAX_BATCH)
        return MC_INVALID_PARAMS;
    put_u32(b, KEYS_MAGIC);
    put_u32(b, flags);
    put_uuid(b, req->client_id);
    put_u32(b, (uint32_t)req->n);
    if (req->has_config) {
        const mc_replicate_cfg_t *c = &req->config;
        uint32_t np = c->n_preferred < MC_MSG_MAX_PREFERRED ? c->n_preferred : MC_MSG_MAX_PREFERRED;

        put_u32(b, c->replica_num);
        put_u8(b, c->soft_pin);
        put_u8(b, c->hard_pin);
        put_u8(b, (uint8_t)np);
        for (uint32_t i = 0; i < np && rc == MC_OK; i++)
            rc = put_cstr(b, c->preferred[i], strlen(c->preferred[i]), MC_MSG_MAX_NAME);
    }
    if (req->segment_name && rc == MC_OK)
        rc = put_cstr(b, req->segment_name, strlen(req->segment_name), MC_MSG_MAX_NAME);
    for (size_t i = 0; i < req->n && rc == MC_OK; i++)
        rc = put_cstr(b, req->keys[i], req->key_lens ? req->key_lens[i] : strlen(req->keys[i]),
                      MC_MAX_KEY_LEN);
    for (size_t i = 0; req->sizes && i < req->n; i++)
        put_u64(b, req->sizes[i]);
    for (size_t i = 0; req->checksums && i < req->n; i++)
        put_u32(b, req->checksums[i]);
    return rc != MC_OK ? rc : b->err;
}

static int decode_config(rd_t *r, mc_replicate_cfg_t *c, mc_errmsg_t *err)
{
    uint32_t rn = get_u32(r);
    uint8_t soft = get_u8(r), hard = get_u8(r), np = get_u8(r);
    size_t len;

    if (r->short_read)
        return mc_fail(err, MC_INVALID_PARAMS, "keys: truncated config");
    if (rn < 1 || rn > MC_MAX_REPLICAS || soft > 1 || hard > 1 || np > MC_MSG_MAX_PREFERRED)
        return mc_fail(err, MC_INVALID_PARAMS, "keys: bad config");
    c->replica_num = rn;
    c->soft_pin = soft;
    c->hard_pin = hard;
    for (c->n_preferred = 0; c->n_preferred < np; c->n_preferred++)
        if (!(c->preferred[c->n_preferred] = get_cstr(r, MC_MSG_MAX_NAME, false, &len)))
            return mc_fail(err, MC_INVALID_PARAMS, "keys: bad preferred segment");
    return MC_OK;
}

int mc_keys_req_decode_bin(const char *body, size_t len, bool want_sizes, mc_keys_req_t *out,
                           mc_errmsg_t *err)
{
    rd_t r = {(const uint8_t *)body, len, false};
    uint32_t magic = get_u32(&r), flags = get_u32(&r);
    size_t n, l;
    int rc = MC_OK;

    memset(out, 0, sizeof(*out));
    out->config.replica_num = 1;
    out->client_id = get_uuid(&r);
    n = get_u32(&r);
    if (r.short_read || magic != KEYS_MAGIC)
        return mc_fail(err, MC_INVALID_PARAMS, "keys: not a binary keys request");
    if (flags & ~(unsigned)F_ALL)
        return mc_fail(err, MC_INVALID_PARAMS, "keys: unknown flags 0x%x", flags);
    if (n == 0 || n > MC_MSG_MAX_BATCH)
        return mc_fail(err, MC_INVALID_PARAMS, "keys: %zu keys (1..%u)", n, MC_MSG_MAX_BATCH);
    if (want_sizes && !(flags & F_SIZES))
        return mc_fail(err, MC_INVALID_PARAMS, "missing field 'sizes'");
    out->n = n;
    out->keys = malloc(n * (sizeof(char *) + sizeof(size_t) + sizeof(uint64_t) + sizeof(uint32_t)));
    if (!out->keys)
        return mc_fail(err, MC_INTERNAL_ERROR, "out of memory");
    out->key_lens = (size_t *)(out->keys + n);
    out->sizes = flags & F_SIZES ? (uint64_t *)(out->key_lens + n) : NULL;
    out->checksums = flags & F_CHECKSUMS ? (uint32_t *)((uint64_t *)(out->key_lens + n) + n) : NULL;
    out->has_config = flags & F_CONFIG;
    out->force = flags & F_FORCE;
    out->upsert = flags & F_UPSERT;
    out->hold = flags & F_HOLD;
    if (out->has_config)
        rc = decode_config(&r, &out->config, err);
    if (rc == MC_OK && (flags & F_SEGMENT)) {
        out->segment_name = get_cstr(&r, MC_MSG_MAX_NAME, true, &l);
        if (!out->segment_name)
            rc = mc_fail(err, MC_INVALID_PARAMS, "keys: bad segment name");
        else if (!out->segment_name[0])
            out->segment_name = NULL;
    }
    for (size_t i = 0; rc == MC_OK && i < n; i++) {
        out->keys[i] = get_cstr(&r, MC_MAX_KEY_LEN, false, &out->key_lens[i]);
        if (!out->keys[i] || mc_key_validate(out->keys[i], out->key_lens[i], MC_MAX_KEY_LEN))
            rc = mc_fail(err, MC_INVALID_KEY, "key %zu: empty, too long or not printable", i);
    }
    for (size_t i = 0; rc == MC_OK && out->sizes && i < n; i++)
        if ((out->sizes[i] = get_u64(&r)) < 1 || out->sizes[i] > MC_MSG_MAX_OBJECT)
            rc =
                r.short_read ? MC_OK : mc_fail(err, MC_INVALID_PARAMS, "size %zu: out of range", i);
    for (size_t i = 0; rc == MC_OK && out->checksums && i < n; i++)
        out->checksums[i] = get_u32(&r);
    if (rc == MC_OK)
        rc = wire_done(&r, "keys", err);
    if (rc != MC_OK)
        mc_keys_req_cleanup(out);
    return rc;
}

int mc_results_encode_bin(mc_buf_t *b, const mc_key_result_t *res, size_t n)
{
    int rc = MC_OK;

    put_u32(b, RESULTS_MAGIC);
    put_u32(b, (uint32_t)n);
    for (size_t i = 0; i < n && rc == MC_OK; i++) {
        const mc_key_result_t *k = &res[i];
        uint32_t nrep = k->n < MC_MAX_REPLICAS ? k->n : MC_MAX_REPLICAS;

        put_u32(b, (uint32_t)k->code);
        put_u64(b, k->size);
        put_u64(b, k->lease_ms);
        put_u8(b, k->exists);
        put_u8(b, k->has_checksum);
        put_u32(b, k->checksum);
        put_u8(b, (uint8_t)nrep);
        for (uint32_t j = 0; j < nrep && rc == MC_OK; j++) {
            const mc_replica_t *p = &k->rep[j];

            put_uuid(b, p->segment_id);
            put_u64(b, p->epoch);
            put_u64(b, p->addr);
            put_u64(b, p->offset);
            put_u64(b, p->size);
            put_u8(b, p->type);
            rc = put_cstr(b, p->segment ? p->segment : "", p->segment ? strlen(p->segment) : 0,
                          MC_MSG_MAX_NAME);
            if (rc == MC_OK)
                rc = put_cstr(b, p->endpoint ? p->endpoint : "",
                              p->endpoint ? strlen(p->endpoint) : 0, MC_MSG_MAX_NAME);
        }
    }
    return rc != MC_OK ? rc : b->err;
}

static int decode_replica(rd_t *r, mc_replica_t *p, mc_errmsg_t *err)
{
    size_t l;

    p->segment_id = get_uuid(r);
    p->epoch = get_u64(r);
    p->addr = get_u64(r);
    p->offset = get_u64(r);
    p->size = get_u64(r);
    p->type = get_u8(r);
    p->segment = get_cstr(r, MC_MSG_MAX_NAME, false, &l);
    p->endpoint = get_cstr(r, MC_MSG_MAX_NAME, true, &l);
    if (r->short_read)
        return mc_fail(err, MC_INVALID_PARAMS, "results: truncated replica");
    if (!p->segment || !p->endpoint || p->size < 1 || p->size > MC_MSG_MAX_OBJECT ||
        p->type > MC_REPLICA_TYPE_DISK)
        return mc_fail(err, MC_INVALID_PARAMS, "results: bad replica");
    return MC_OK;
}

int mc_results_decode_bin_take(char *body, size_t len, size_t max, mc_results_t *out,
                               mc_errmsg_t *err)
{
    rd_t r = {(const uint8_t *)body, len, false};
    uint32_t magic = get_u32(&r), n = get_u32(&r);
    int rc = MC_OK;

    memset(out, 0, sizeof(*out));
    out->strings = body;
    if (r.short_read || magic != RESULTS_MAGIC)
        rc = mc_fail(err, MC_INVALID_PARAMS, "results: not binary results");
    else if (n > max)
        rc = mc_fail(err, MC_INVALID_PARAMS, "results: %u results (at most %zu)", n, max);
    else if (!(out->res = malloc((n ? n : 1) * sizeof(*out->res))))
        rc = mc_fail(err, MC_INTERNAL_ERROR, "out of memory");
    for (uint32_t i = 0; rc == MC_OK && i < n; i++) {
        mc_key_result_t *k = &out->res[out->n++];
        int32_t code = get_i32(&r);
        uint8_t exists, has_checksum;

        k->size = get_u64(&r);
        k->lease_ms = get_u64(&r);
        exists = get_u8(&r);
        has_checksum = get_u8(&r);
        k->checksum = get_u32(&r);
        k->n = get_u8(&r);
        k->code = code;
        k->exists = exists;
        k->has_checksum = has_checksum;
        if (r.short_read || code > 0 || code < -100000 || exists > 1 || has_checksum > 1 ||
            k->n > MC_MAX_REPLICAS || k->size > MC_MSG_MAX_OBJECT)
            rc = mc_fail(err, MC_INVALID_PARAMS, "results: bad result %u", i);
        for (uint32_t j = 0; rc == MC_OK && j < k->n; j++)
            rc = decode_replica(&r, &k->rep[j], err);
    }
    if (rc == MC_OK)
        rc = wire_done(&r, "results", err);
    if (rc != MC_OK)
        mc_results_cleanup(out);
    return rc;
}
