/* The thin-client IPC codec (mc/ipc_msg.h, docs/ipc.md). */
#include "mc/ipc_msg.h"

#include "mc/limits.h"
#include "mc/strutil.h"
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- writing ---- */

/* Reserves the header; mc_ipc_finish fills it once the payload is known. */
static size_t begin(mc_buf_t *b)
{
    static const uint8_t zero[MC_IPC_HDR_LEN];
    size_t at = b->len;

    mc_buf_append(b, zero, sizeof(zero));
    return at;
}

static int finish(mc_buf_t *b, size_t at, uint16_t op, uint64_t id, int rc)
{
    size_t payload = b->len - at - MC_IPC_HDR_LEN;

    if (rc == MC_OK && b->err != MC_OK)
        rc = b->err;
    if (rc == MC_OK && payload > MC_IPC_MAX_MSG)
        rc = MC_BUFFER_OVERFLOW;
    if (rc != MC_OK) {
        if (b->len >= at && b->data) {
            b->len = at; /* nothing half-written stays in the buffer */
            b->data[at] = '\0';
        }
        return rc;
    }
    mc_ipc_hdr_encode(&(mc_ipc_hdr_t){.len = (uint32_t)payload, .op = op, .id = id},
                      (uint8_t *)b->data + at);
    return MC_OK;
}

void mc_ipc_hdr_encode(const mc_ipc_hdr_t *h, uint8_t out[MC_IPC_HDR_LEN])
{
    le32(out, h->len);
    le16(out + 4, h->op);
    le16(out + 6, h->flags);
    le64(out + 8, h->id);
}

int mc_ipc_hello_encode(mc_buf_t *b, uint64_t id, const mc_ipc_hello_t *m)
{
    size_t at = begin(b);
    int rc;

    put_u32(b, MC_IPC_MAGIC);
    put_u16(b, m->min_version);
    put_u16(b, m->max_version);
    rc = put_str(b, m->name, m->name_len, MC_IPC_MAX_TEXT);
    if (rc == MC_OK && m->admin_token_len)
        rc = put_str(b, m->admin_token, m->admin_token_len, MC_IPC_MAX_TOKEN);
    return finish(b, at, MC_IPC_HELLO, id, rc);
}

int mc_ipc_hello_reply_encode(mc_buf_t *b, uint64_t id, const mc_ipc_hello_reply_t *m)
{
    size_t at = begin(b);
    int rc;

    put_u32(b, (uint32_t)m->status);
    put_u16(b, m->version);
    put_u8(b, m->flags);
    put_u32(b, m->max_msg);
    put_u32(b, m->max_batch);
    put_u32(b, m->max_regions);
    put_u64(b, m->max_mapped);
    rc = put_str(b, m->hostname, m->hostname_len, MC_IPC_MAX_TEXT);
    if (rc == MC_OK)
        rc = put_str(b, m->master, m->master_len, MC_IPC_MAX_TEXT);
    return finish(b, at, MC_IPC_HELLO | MC_IPC_REPLY, id, rc);
}

int mc_ipc_keys_encode(mc_buf_t *b, uint16_t op, uint64_t id, const mc_ipc_keys_t *m)
{
    size_t at = begin(b);
    int rc = (m->flags & ~MC_IPC_F_ALL) ? MC_INVALID_PARAMS : MC_OK;
    uint64_t total = 0;

    put_u8(b, m->flags);
    put_u8(b, m->replica_num);
    if (rc == MC_OK)
        rc = put_str(b, m->preferred, m->preferred_len, MC_IPC_MAX_TEXT);
    put_u32(b, m->n);
    for (uint32_t i = 0; rc == MC_OK && i < m->n; i++) {
        const mc_ipc_key_t *k = &m->keys[i];

        total += k->nfrag;
        if (k->nfrag > MC_IPC_MAX_KEY_FRAGS || total > MC_IPC_MAX_FRAGS ||
            mc_key_validate(k->key, k->len, MC_MAX_KEY_LEN) != MC_OK) {
            rc = MC_INVALID_PARAMS;
            break;
        }
        put_u16(b, (uint16_t)k->len);
        mc_buf_append(b, k->key, k->len);
        put_u32(b, k->nfrag);
        for (uint32_t j = 0; j < k->nfrag; j++) {
            put_u32(b, k->frags[j].region);
            put_u64(b, k->frags[j].offset);
            put_u64(b, k->frags[j].len);
        }
    }
    return finish(b, at, op, id, rc);
}

int mc_ipc_keys_reply_encode(mc_buf_t *b, uint16_t op, uint64_t id, int32_t status,
                             const mc_ipc_key_result_t *res, uint32_t n)
{
    size_t at = begin(b);

    put_u32(b, (uint32_t)status);
    put_u32(b, n);
    for (uint32_t i = 0; i < n; i++) {
        put_u32(b, (uint32_t)res[i].code);
        put_u64(b, res[i].value);
        put_u64(b, res[i].aux);
    }
    return finish(b, at, (uint16_t)(op | MC_IPC_REPLY), id, MC_OK);
}

int mc_ipc_replicas_reply_encode(mc_buf_t *b, uint64_t id, int32_t status,
                                 const mc_ipc_replicas_t *res, uint32_t n)
{
    size_t at = begin(b);
    int rc = MC_OK;

    put_u32(b, (uint32_t)status);
    put_u32(b, n);
    for (uint32_t i = 0; rc == MC_OK && i < n; i++) {
        if (res[i].n > MC_MAX_REPLICAS)
            rc = MC_INVALID_PARAMS;
        put_u32(b, (uint32_t)res[i].code);
        put_u64(b, res[i].size);
        put_u8(b, (uint8_t)res[i].n);
        for (uint32_t j = 0; rc == MC_OK && j < res[i].n; j++) {
            const mc_ipc_replica_t *r = &res[i].rep[j];
            put_u8(b, r->type);
            put_u64(b, r->offset);
            put_u64(b, r->size);
            if ((rc = put_str(b, r->segment, r->segment_len, MC_IPC_MAX_TEXT)) == MC_OK)
                rc = put_str(b, r->endpoint, r->endpoint_len, MC_IPC_MAX_TEXT);
        }
    }
    return finish(b, at, MC_IPC_REPLICA_DESC | MC_IPC_REPLY, id, rc);
}

int mc_ipc_small_encode(mc_buf_t *b, uint16_t op, uint64_t id, const mc_ipc_small_t *m)
{
    size_t at = begin(b);

    put_u8(b, m->flags);
    put_u64(b, m->arg);
    return finish(b, at, op, id, put_str(b, m->text, m->text_len, MC_IPC_MAX_TEXT));
}

int mc_ipc_small_reply_encode(mc_buf_t *b, uint16_t op, uint64_t id, const mc_ipc_small_reply_t *m)
{
    size_t at = begin(b);

    put_u32(b, (uint32_t)m->status);
    put_u64(b, m->value);
    return finish(b, at, (uint16_t)(op | MC_IPC_REPLY), id,
                  put_str(b, m->text, m->text_len, MC_IPC_MAX_TEXT));
}

/* ---- reading ---- */

static int check_text(size_t len, const char *what, mc_errmsg_t *err)
{
    return len > MC_IPC_MAX_TEXT
               ? mc_fail(err, MC_INVALID_PARAMS, "%s: longer than %u bytes", what, MC_IPC_MAX_TEXT)
               : MC_OK;
}

int mc_ipc_hdr_decode(const uint8_t in[MC_IPC_HDR_LEN], uint32_t max_msg, mc_ipc_hdr_t *h,
                      mc_errmsg_t *err)
{
    rd_t r = {in, MC_IPC_HDR_LEN, false};
    uint16_t op;

    h->len = get_u32(&r);
    h->op = get_u16(&r);
    h->flags = get_u16(&r);
    h->id = get_u64(&r);
    op = (uint16_t)(h->op & ~MC_IPC_REPLY);
    if (!max_msg || max_msg > MC_IPC_MAX_MSG)
        max_msg = MC_IPC_MAX_MSG;
    if (h->len > max_msg)
        return mc_fail(err, MC_INVALID_PARAMS, "message of %u bytes (at most %u)", h->len, max_msg);
    if (h->flags)
        return mc_fail(err, MC_INVALID_PARAMS, "reserved header flags 0x%x", h->flags);
    if (op < MC_IPC_HELLO || op >= MC_IPC_OPS)
        return mc_fail(err, MC_INVALID_PARAMS, "unknown opcode %u", op);
    return MC_OK;
}

int mc_ipc_hello_decode(const uint8_t *p, size_t len, mc_ipc_hello_t *out, mc_errmsg_t *err)
{
    rd_t r = {p, len, false};
    uint32_t magic = get_u32(&r);
    int rc;

    out->min_version = get_u16(&r);
    out->max_version = get_u16(&r);
    out->name = get_str(&r, &out->name_len);
    out->admin_token = "";
    out->admin_token_len = 0;
    if (!r.short_read && r.left) /* the optional admin token */
        out->admin_token = get_str(&r, &out->admin_token_len);
    if ((rc = wire_done(&r, "hello", err)) != MC_OK)
        return rc;
    if (out->admin_token_len > MC_IPC_MAX_TOKEN)
        return mc_fail(err, MC_INVALID_PARAMS, "hello: admin token longer than %u bytes",
                       MC_IPC_MAX_TOKEN);
    if (magic != MC_IPC_MAGIC)
        return mc_fail(err, MC_INVALID_PARAMS, "hello: bad magic 0x%08x", magic);
    if (out->min_version > out->max_version)
        return mc_fail(err, MC_INVALID_PARAMS, "hello: empty version range");
    return check_text(out->name_len, "hello name", err);
}

int mc_ipc_hello_reply_decode(const uint8_t *p, size_t len, mc_ipc_hello_reply_t *out,
                              mc_errmsg_t *err)
{
    rd_t r = {p, len, false};
    int rc;

    out->status = get_i32(&r);
    out->version = get_u16(&r);
    out->flags = get_u8(&r);
    out->max_msg = get_u32(&r);
    out->max_batch = get_u32(&r);
    out->max_regions = get_u32(&r);
    out->max_mapped = get_u64(&r);
    out->hostname = get_str(&r, &out->hostname_len);
    out->master = get_str(&r, &out->master_len);
    if ((rc = wire_done(&r, "hello reply", err)) != MC_OK)
        return rc;
    if ((rc = check_text(out->hostname_len, "hostname", err)) != MC_OK)
        return rc;
    return check_text(out->master_len, "master", err);
}

/* One fragment is 4 + 8 + 8 bytes on the wire; a key at least 2 + 1 + 4. */
#define FRAG_WIRE 20u
#define KEY_WIRE_MIN 7u

int mc_ipc_keys_decode(const uint8_t *p, size_t len, uint32_t max_batch, bool frags_allowed,
                       mc_ipc_keys_t *out, mc_errmsg_t *err)
{
    rd_t r = {p, len, false};
    size_t nfrag_total = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    out->flags = get_u8(&r);
    out->replica_num = get_u8(&r);
    out->preferred = get_str(&r, &out->preferred_len);
    out->n = get_u32(&r);
    if (r.short_read)
        return mc_fail(err, MC_INVALID_PARAMS, "keys: truncated");
    if (out->flags & ~MC_IPC_F_ALL)
        return mc_fail(err, MC_INVALID_PARAMS, "keys: unknown flags 0x%x", out->flags);
    if (out->replica_num > MC_MAX_REPLICAS)
        return mc_fail(err, MC_INVALID_PARAMS, "keys: replica_num %u (at most %u)",
                       out->replica_num, MC_MAX_REPLICAS);
    if ((rc = check_text(out->preferred_len, "preferred segment", err)) != MC_OK)
        return rc;
    if (out->preferred_len == 0)
        out->preferred = NULL;
    if (out->n == 0 || out->n > max_batch || out->n > MC_MAX_BATCH_KEYS)
        return mc_fail(err, MC_INVALID_PARAMS, "keys: %u keys (1..%u)", out->n,
                       max_batch < MC_MAX_BATCH_KEYS ? max_batch : MC_MAX_BATCH_KEYS);
    if ((size_t)out->n > r.left / KEY_WIRE_MIN)
        return mc_fail(err, MC_INVALID_PARAMS, "keys: truncated");
    /* first pass: bounds, so the arrays are allocated once at their size */
    {
        rd_t s = r;
        for (uint32_t i = 0; i < out->n && !s.short_read; i++) {
            size_t klen;
            uint32_t nf;

            (void)get_str(&s, &klen);
            nf = get_u32(&s);
            if (nf > MC_IPC_MAX_KEY_FRAGS || (nf && !frags_allowed))
                return mc_fail(err, MC_INVALID_PARAMS, "key %u: %u fragments (at most %u)", i, nf,
                               frags_allowed ? MC_IPC_MAX_KEY_FRAGS : 0);
            nfrag_total += nf;
            if (nfrag_total > MC_IPC_MAX_FRAGS)
                return mc_fail(err, MC_INVALID_PARAMS, "keys: more than %u fragments",
                               MC_IPC_MAX_FRAGS);
            (void)take(&s, (size_t)nf * FRAG_WIRE);
        }
        if ((rc = wire_done(&s, "keys", err)) != MC_OK)
            return rc;
    }
    out->keys = calloc(out->n, sizeof(*out->keys));
    out->frags = calloc(nfrag_total ? nfrag_total : 1, sizeof(*out->frags));
    if (!out->keys || !out->frags) {
        mc_ipc_keys_cleanup(out);
        return mc_fail(err, MC_INTERNAL_ERROR, "out of memory");
    }
    nfrag_total = 0;
    for (uint32_t i = 0; i < out->n; i++) {
        mc_ipc_key_t *k = &out->keys[i];

        k->key = get_str(&r, &k->len);
        k->nfrag = get_u32(&r);
        k->frags = out->frags + nfrag_total;
        for (uint32_t j = 0; j < k->nfrag; j++) {
            mc_ipc_frag_t *f = &out->frags[nfrag_total++];
            f->region = get_u32(&r);
            f->offset = get_u64(&r);
            f->len = get_u64(&r);
        }
        if (mc_key_validate(k->key, k->len, MC_MAX_KEY_LEN) != MC_OK) {
            mc_ipc_keys_cleanup(out);
            return mc_fail(err, MC_INVALID_KEY, "key %u: empty, too long or holds a NUL", i);
        }
    }
    return MC_OK; /* wire_done() held for the first pass over the same bytes */
}

void mc_ipc_keys_cleanup(mc_ipc_keys_t *m)
{
    if (!m)
        return;
    free(m->keys);
    free(m->frags);
    m->keys = NULL;
    m->frags = NULL;
    m->n = 0;
}

int mc_ipc_keys_reply_decode(const uint8_t *p, size_t len, int32_t *status,
                             mc_ipc_key_result_t *res, uint32_t cap, uint32_t *n, mc_errmsg_t *err)
{
    rd_t r = {p, len, false};
    uint32_t count;

    *status = get_i32(&r);
    count = get_u32(&r);
    if (r.short_read)
        return mc_fail(err, MC_INVALID_PARAMS, "keys reply: truncated");
    if (count > cap)
        return mc_fail(err, MC_INVALID_PARAMS, "keys reply: %u results for %u keys", count, cap);
    for (uint32_t i = 0; i < count; i++) {
        res[i].code = get_i32(&r);
        res[i].value = get_u64(&r);
        res[i].aux = get_u64(&r);
    }
    *n = count;
    return wire_done(&r, "keys reply", err);
}

int mc_ipc_replicas_reply_decode(const uint8_t *p, size_t len, int32_t *status,
                                 mc_ipc_replicas_t *res, uint32_t cap, uint32_t *n,
                                 mc_errmsg_t *err)
{
    rd_t r = {p, len, false};
    uint32_t count;

    *n = 0;
    *status = get_i32(&r);
    count = get_u32(&r);
    if (r.short_read)
        return mc_fail(err, MC_INVALID_PARAMS, "replicas reply: truncated");
    if (count > cap)
        return mc_fail(err, MC_INVALID_PARAMS, "replicas reply: %u results for %u keys", count,
                       cap);
    for (uint32_t i = 0; i < count && !r.short_read; i++) {
        res[i].code = get_i32(&r);
        res[i].size = get_u64(&r);
        res[i].n = get_u8(&r);
        if (res[i].n > MC_MAX_REPLICAS)
            return mc_fail(err, MC_INVALID_PARAMS, "replicas reply: %u replicas (at most %u)",
                           res[i].n, MC_MAX_REPLICAS);
        for (uint32_t j = 0; j < res[i].n; j++) {
            mc_ipc_replica_t *x = &res[i].rep[j];
            x->type = get_u8(&r);
            x->offset = get_u64(&r);
            x->size = get_u64(&r);
            x->segment = get_str(&r, &x->segment_len);
            x->endpoint = get_str(&r, &x->endpoint_len);
            if (check_text(x->segment_len, "replica segment", err) ||
                check_text(x->endpoint_len, "replica endpoint", err))
                return MC_INVALID_PARAMS;
        }
    }
    *n = r.short_read ? 0 : count;
    return wire_done(&r, "replicas reply", err);
}

int mc_ipc_small_decode(const uint8_t *p, size_t len, mc_ipc_small_t *out, mc_errmsg_t *err)
{
    rd_t r = {p, len, false};
    int rc;

    out->flags = get_u8(&r);
    out->arg = get_u64(&r);
    out->text = get_str(&r, &out->text_len);
    if ((rc = wire_done(&r, "request", err)) != MC_OK)
        return rc;
    if (out->flags & ~MC_IPC_F_ALL)
        return mc_fail(err, MC_INVALID_PARAMS, "request: unknown flags 0x%x", out->flags);
    return check_text(out->text_len, "request text", err);
}

int mc_ipc_small_reply_decode(const uint8_t *p, size_t len, mc_ipc_small_reply_t *out,
                              mc_errmsg_t *err)
{
    rd_t r = {p, len, false};
    int rc;

    out->status = get_i32(&r);
    out->value = get_u64(&r);
    out->text = get_str(&r, &out->text_len);
    if ((rc = wire_done(&r, "reply", err)) != MC_OK)
        return rc;
    return check_text(out->text_len, "reply text", err);
}

int mc_ipc_default_path(const char *runtime_dir, const char *tmpdir, unsigned uid, unsigned port,
                        char *dir, size_t dir_cap, char *path, size_t path_cap)
{
    int n;

    if (runtime_dir && runtime_dir[0])
        n = snprintf(dir, dir_cap, "%s/mooncake", runtime_dir);
    else
        n = snprintf(dir, dir_cap, "%s/mooncake-%u", tmpdir && tmpdir[0] ? tmpdir : "/tmp", uid);
    if (n <= 0 || (size_t)n >= dir_cap)
        return MC_INVALID_PARAMS;
    n = snprintf(path, path_cap, "%s/store-%u.sock", dir, port);
    if (n <= 0 || (size_t)n >= path_cap || (size_t)n >= 108)
        return MC_INVALID_PARAMS;
    return MC_OK;
}
