#include "mc/master_msg.h"

#include "mc/errors.h"
#include "mc/strutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mc_msg_decode_uuid(const cJSON *obj, const char *name, bool required, mc_uuid_t *out,
                       mc_errmsg_t *err)
{
    const char *s = NULL;
    int rc = mc_json_get_str(obj, name, required, MC_UUID_STR_LEN, &s, err);

    if (rc != MC_OK || !s)
        return rc;
    if (mc_uuid_parse(s, out) != MC_OK)
        return mc_fail(err, MC_INVALID_PARAMS, "field '%s': not a UUID", name);
    return MC_OK;
}

static void jw_uuid(mc_jw_t *w, const char *key, mc_uuid_t id)
{
    char s[MC_UUID_STR_LEN];
    mc_jw_key(w, key);
    mc_jw_str(w, mc_uuid_format(id, s), MC_UUID_STR_LEN - 1);
}

/* JSON strings cannot carry a NUL through cJSON (it would cut the string),
 * and nothing in these messages may contain one: refuse the escape outright. */
static int decode_config(const cJSON *root, mc_replicate_cfg_t *cfg, bool *has, mc_errmsg_t *err)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "config"), *arr = NULL, *it;
    uint64_t rn = 1;
    const char *one = NULL;
    int rc;

    memset(cfg, 0, sizeof(*cfg));
    cfg->replica_num = 1;
    *has = c && !cJSON_IsNull(c);
    if (!*has)
        return MC_OK;
    if (!cJSON_IsObject(c))
        return mc_fail(err, MC_INVALID_PARAMS, "field 'config': expected an object");
    if ((rc = mc_json_get_u64(c, "replica_num", false, 1, MC_MAX_REPLICAS, &rn, err)) ||
        (rc = mc_json_get_bool(c, "soft_pin", false, &cfg->soft_pin, err)) ||
        (rc = mc_json_get_bool(c, "hard_pin", false, &cfg->hard_pin, err)) ||
        (rc = mc_json_get_array(c, "preferred_segments", false, MC_MSG_MAX_PREFERRED, &arr, err)) ||
        (rc = mc_json_get_str(c, "preferred_segment", false, MC_MSG_MAX_NAME, &one, err)))
        return rc;
    cfg->replica_num = (uint32_t)rn;
    if (one && *one)
        cfg->preferred[cfg->n_preferred++] = one;
    cJSON_ArrayForEach (it, arr) {
        if (!cJSON_IsString(it) || mc_json_has_nul(it) || strlen(it->valuestring) > MC_MSG_MAX_NAME)
            return mc_fail(err, MC_INVALID_PARAMS, "field 'preferred_segments': expected names");
        if (cfg->n_preferred == MC_MSG_MAX_PREFERRED)
            return mc_fail(err, MC_INVALID_PARAMS, "field 'preferred_segments': too many");
        cfg->preferred[cfg->n_preferred++] = it->valuestring;
    }
    return MC_OK;
}

/* Numbers of an optional array parallel to "keys". */
static int decode_u64_array(const cJSON *root, const char *name, size_t n, uint64_t min,
                            uint64_t max, uint64_t *out, bool *present, mc_errmsg_t *err)
{
    const cJSON *arr = NULL, *it;
    size_t i = 0;
    int rc = mc_json_get_array(root, name, false, MC_MSG_MAX_BATCH, &arr, err);

    *present = arr != NULL;
    if (rc != MC_OK || !arr)
        return rc;
    if ((size_t)cJSON_GetArraySize(arr) != n)
        return mc_fail(err, MC_INVALID_PARAMS, "field '%s': %d items for %zu keys", name,
                       cJSON_GetArraySize(arr), n);
    cJSON_ArrayForEach (it, arr) {
        double v = cJSON_IsNumber(it) ? it->valuedouble : -1;
        if (v < (double)min || v > (double)max || v != (double)(uint64_t)v)
            return mc_fail(err, MC_INVALID_PARAMS,
                           "field '%s'[%zu]: expected an integer in "
                           "[%llu, %llu]",
                           name, i, (unsigned long long)min, (unsigned long long)max);
        out[i++] = (uint64_t)v;
    }
    return MC_OK;
}

static int decode_keys(const cJSON *root, mc_keys_req_t *out, mc_errmsg_t *err)
{
    const cJSON *arr = NULL, *it;
    const char *one = NULL;
    size_t i = 0, one_len = 0;
    int rc;

    if ((rc = mc_json_get_array(root, "keys", false, MC_MSG_MAX_BATCH, &arr, err)))
        return rc;
    if (!arr) {
        if (!cJSON_GetObjectItemCaseSensitive(root, "key"))
            return mc_fail(err, MC_INVALID_PARAMS, "missing field 'keys' (or 'key')");
        if ((rc = mc_json_get_key(root, "key", MC_MAX_KEY_LEN, &one, &one_len, err)))
            return rc;
    }
    out->n = arr ? (size_t)cJSON_GetArraySize(arr) : 1;
    /* one block: keys, key_lens, sizes, checksums (as uint64 for decoding) */
    out->keys = calloc(out->n ? out->n : 1, sizeof(char *) + sizeof(size_t) + 2 * sizeof(uint64_t));
    if (!out->keys)
        return mc_fail(err, MC_INTERNAL_ERROR, "out of memory");
    out->key_lens = (size_t *)(out->keys + (out->n ? out->n : 1));
    out->sizes = (uint64_t *)(out->key_lens + (out->n ? out->n : 1));
    if (!arr) {
        out->keys[0] = one;
        out->key_lens[0] = one_len;
        out->single = true;
    }
    cJSON_ArrayForEach (it, arr) {
        if (!cJSON_IsString(it))
            return mc_fail(err, MC_INVALID_KEY, "field 'keys'[%zu]: expected a string", i);
        if (mc_json_has_nul(it))
            return mc_fail(err, MC_INVALID_KEY, "field 'keys'[%zu]: holds a NUL character", i);
        out->keys[i] = it->valuestring;
        out->key_lens[i] = strlen(it->valuestring);
        i++;
    }
    for (i = 0; i < out->n; i++)
        if (mc_key_validate(out->keys[i], out->key_lens[i], MC_MAX_KEY_LEN) != MC_OK)
            return mc_fail(err, MC_INVALID_KEY, "key %zu: empty or longer than %u bytes", i,
                           MC_MAX_KEY_LEN);
    return MC_OK;
}

int mc_keys_req_decode(const char *body, size_t len, bool want_sizes, mc_keys_req_t *out,
                       mc_errmsg_t *err)
{
    uint64_t *tmp;
    bool present = false;
    int rc;

    memset(out, 0, sizeof(*out));
    out->root = mc_json_parse_object(body, len, err);
    if (!out->root)
        return MC_INVALID_PARAMS;
    if ((rc = mc_msg_decode_uuid(out->root, "client_id", false, &out->client_id, err)) ||
        (rc = decode_keys(out->root, out, err)) ||
        (rc = decode_config(out->root, &out->config, &out->has_config, err)) ||
        (rc = mc_json_get_bool(out->root, "force", false, &out->force, err)) ||
        (rc = mc_json_get_bool(out->root, "upsert", false, &out->upsert, err)) ||
        (rc = mc_json_get_bool(out->root, "hold", false, &out->hold, err)) ||
        (rc = mc_json_get_str(out->root, "segment_name", false, MC_MSG_MAX_NAME, &out->segment_name,
                              err)))
        goto bad;
    if (out->segment_name && !out->segment_name[0])
        out->segment_name = NULL;
    /* sizes: "sizes" array, or "size" for a single key */
    if (out->single && cJSON_GetObjectItemCaseSensitive(out->root, "size")) {
        rc = mc_json_get_u64(out->root, "size", true, 1, MC_MSG_MAX_OBJECT, &out->sizes[0], err);
        present = true;
    } else {
        rc = decode_u64_array(out->root, "sizes", out->n, 1, MC_MSG_MAX_OBJECT, out->sizes,
                              &present, err);
    }
    if (rc)
        goto bad;
    if (!present) {
        if (want_sizes) {
            rc = mc_fail(err, MC_INVALID_PARAMS, "missing field 'sizes' (or 'size')");
            goto bad;
        }
        out->sizes = NULL;
    }
    /* checksums: decoded as uint64 into the spare column, narrowed in place */
    tmp = (uint64_t *)(out->key_lens + (out->n ? out->n : 1)) + (out->n ? out->n : 1);
    rc = decode_u64_array(out->root, "checksums", out->n, 0, UINT32_MAX, tmp, &present, err);
    if (rc)
        goto bad;
    if (present) {
        out->checksums = (uint32_t *)tmp;
        for (size_t i = 0; i < out->n; i++)
            out->checksums[i] = (uint32_t)tmp[i];
    }
    return MC_OK;
bad:
    mc_keys_req_cleanup(out);
    return rc;
}

void mc_keys_req_cleanup(mc_keys_req_t *req)
{
    free(req->keys);
    cJSON_Delete(req->root);
    memset(req, 0, sizeof(*req));
}

char *mc_keys_req_encode_take(const mc_keys_req_t *req, size_t *len)
{
    mc_jw_t w;

    mc_jw_init(&w, 64 + req->n * 96);
    mc_jw_obj_begin(&w);
    if (!mc_uuid_is_nil(req->client_id))
        jw_uuid(&w, "client_id", req->client_id);
    mc_jw_key(&w, "keys");
    mc_jw_arr_begin(&w);
    for (size_t i = 0; i < req->n; i++)
        mc_jw_str(&w, req->keys[i], req->key_lens ? req->key_lens[i] : strlen(req->keys[i]));
    mc_jw_arr_end(&w);
    if (req->sizes) {
        mc_jw_key(&w, "sizes");
        mc_jw_arr_begin(&w);
        for (size_t i = 0; i < req->n; i++)
            mc_jw_u64(&w, req->sizes[i]);
        mc_jw_arr_end(&w);
    }
    if (req->checksums) {
        mc_jw_key(&w, "checksums");
        mc_jw_arr_begin(&w);
        for (size_t i = 0; i < req->n; i++)
            mc_jw_u64(&w, req->checksums[i]);
        mc_jw_arr_end(&w);
    }
    if (req->has_config) {
        const mc_replicate_cfg_t *c = &req->config;
        mc_jw_key(&w, "config");
        mc_jw_obj_begin(&w);
        mc_jw_key(&w, "replica_num");
        mc_jw_u64(&w, c->replica_num);
        mc_jw_key(&w, "soft_pin");
        mc_jw_bool(&w, c->soft_pin);
        mc_jw_key(&w, "hard_pin");
        mc_jw_bool(&w, c->hard_pin);
        mc_jw_key(&w, "preferred_segments");
        mc_jw_arr_begin(&w);
        for (uint32_t i = 0; i < c->n_preferred && i < MC_MSG_MAX_PREFERRED; i++)
            mc_jw_str(&w, c->preferred[i], strlen(c->preferred[i]));
        mc_jw_arr_end(&w);
        mc_jw_obj_end(&w);
    }
    if (req->force) {
        mc_jw_key(&w, "force");
        mc_jw_bool(&w, true);
    }
    if (req->upsert) {
        mc_jw_key(&w, "upsert");
        mc_jw_bool(&w, true);
    }
    if (req->hold) {
        mc_jw_key(&w, "hold");
        mc_jw_bool(&w, true);
    }
    if (req->segment_name) {
        mc_jw_key(&w, "segment_name");
        mc_jw_str(&w, req->segment_name, strlen(req->segment_name));
    }
    mc_jw_obj_end(&w);
    return mc_jw_take(&w, len);
}

/* ---------------- results ---------------- */

static const char *const type_names[] = {"memory", "disk"};

static void encode_replica(mc_jw_t *w, const mc_replica_t *r)
{
    mc_jw_obj_begin(w);
    mc_jw_key(w, "segment");
    mc_jw_str(w, r->segment, r->segment ? strlen(r->segment) : 0);
    jw_uuid(w, "segment_id", r->segment_id);
    mc_jw_key(w, "endpoint");
    mc_jw_str(w, r->endpoint, r->endpoint ? strlen(r->endpoint) : 0);
    mc_jw_key(w, "epoch");
    mc_jw_u64(w, r->epoch);
    mc_jw_key(w, "addr");
    mc_jw_u64(w, r->addr);
    mc_jw_key(w, "offset");
    mc_jw_u64(w, r->offset);
    mc_jw_key(w, "size");
    mc_jw_u64(w, r->size);
    mc_jw_key(w, "type");
    mc_jw_str(w, type_names[r->type & 1], strlen(type_names[r->type & 1]));
    if (r->type == MC_REPLICA_TYPE_DISK) {
        mc_jw_key(w, "bucket");
        mc_jw_u64(w, r->bucket);
    }
    mc_jw_obj_end(w);
}

char *mc_results_encode_take(const mc_key_result_t *res, size_t n, unsigned mask, size_t *len)
{
    mc_jw_t w;

    mc_jw_init(&w, 32 + n * ((mask & MC_RES_REPLICAS) ? 256 : 24));
    mc_jw_obj_begin(&w);
    mc_jw_key(&w, "results");
    mc_jw_arr_begin(&w);
    for (size_t i = 0; i < n; i++) {
        const mc_key_result_t *r = &res[i];
        mc_jw_obj_begin(&w);
        mc_jw_key(&w, "code");
        mc_jw_i64(&w, r->code);
        if (r->code == MC_OK) {
            if (mask & MC_RES_EXISTS) {
                mc_jw_key(&w, "exists");
                mc_jw_bool(&w, r->exists);
            }
            if (mask & MC_RES_SIZE) {
                mc_jw_key(&w, "size");
                mc_jw_u64(&w, r->size);
            }
            if (mask & MC_RES_LEASE) {
                mc_jw_key(&w, "lease_ms");
                mc_jw_u64(&w, r->lease_ms);
            }
            if ((mask & MC_RES_REPLICAS) && r->has_checksum) {
                mc_jw_key(&w, "checksum");
                mc_jw_u64(&w, r->checksum);
            }
            if (mask & MC_RES_REPLICAS) {
                mc_jw_key(&w, "replicas");
                mc_jw_arr_begin(&w);
                for (uint32_t j = 0; j < r->n && j < MC_MAX_REPLICAS; j++)
                    encode_replica(&w, &r->rep[j]);
                mc_jw_arr_end(&w);
            }
        }
        mc_jw_obj_end(&w);
    }
    mc_jw_arr_end(&w);
    mc_jw_obj_end(&w);
    return mc_jw_take(&w, len);
}

static int decode_replica(const cJSON *o, mc_replica_t *r, mc_errmsg_t *err)
{
    const char *type = "memory";
    int rc;

    memset(r, 0, sizeof(*r));
    if (!cJSON_IsObject(o))
        return mc_fail(err, MC_INVALID_PARAMS, "replica: expected an object");
    if ((rc = mc_json_get_str(o, "segment", true, MC_MSG_MAX_NAME, &r->segment, err)) ||
        (rc = mc_msg_decode_uuid(o, "segment_id", true, &r->segment_id, err)) ||
        (rc = mc_json_get_str(o, "endpoint", true, MC_MSG_MAX_NAME, &r->endpoint, err)) ||
        (rc = mc_json_get_u64(o, "epoch", true, 0, UINT64_MAX, &r->epoch, err)) ||
        (rc = mc_json_get_u64(o, "addr", true, 0, UINT64_MAX, &r->addr, err)) ||
        (rc = mc_json_get_u64(o, "offset", true, 0, UINT64_MAX, &r->offset, err)) ||
        (rc = mc_json_get_u64(o, "size", true, 1, MC_MSG_MAX_OBJECT, &r->size, err)) ||
        (rc = mc_json_get_str(o, "type", false, 16, &type, err)) ||
        (rc = mc_json_get_u64(o, "bucket", false, 0, UINT64_MAX, &r->bucket, err)))
        return rc;
    if (strcmp(type, "memory") == 0)
        r->type = MC_REPLICA_TYPE_MEMORY;
    else if (strcmp(type, "disk") == 0)
        r->type = MC_REPLICA_TYPE_DISK;
    else
        return mc_fail(err, MC_INVALID_PARAMS, "replica: unknown type '%s'", type);
    return MC_OK;
}

static int decode_result(const cJSON *o, mc_key_result_t *r, mc_errmsg_t *err)
{
    const cJSON *reps = NULL, *it;
    int64_t code = 0;
    int rc;

    memset(r, 0, sizeof(*r));
    if (!cJSON_IsObject(o))
        return mc_fail(err, MC_INVALID_PARAMS, "result: expected an object");
    if ((rc = mc_json_get_i64(o, "code", true, -100000, 0, &code, err)) ||
        (rc = mc_json_get_bool(o, "exists", false, &r->exists, err)) ||
        (rc = mc_json_get_u64(o, "size", false, 0, MC_MSG_MAX_OBJECT, &r->size, err)) ||
        (rc = mc_json_get_u64(o, "lease_ms", false, 0, UINT64_MAX, &r->lease_ms, err)) ||
        (rc = mc_json_get_array(o, "replicas", false, MC_MAX_REPLICAS, &reps, err)))
        return rc;
    if (cJSON_GetObjectItemCaseSensitive(o, "checksum")) {
        uint64_t c;
        if ((rc = mc_json_get_u64(o, "checksum", true, 0, UINT32_MAX, &c, err)))
            return rc;
        r->has_checksum = true;
        r->checksum = (uint32_t)c;
    }
    r->code = (int)code;
    cJSON_ArrayForEach (it, reps) {
        if ((rc = decode_replica(it, &r->rep[r->n], err)) != MC_OK)
            return rc;
        r->n++;
    }
    return MC_OK;
}

/* Copies the replicas' names and endpoints out of the cJSON tree into one
 * block, so the tree can go. */
static int own_strings(mc_results_t *out, mc_errmsg_t *err)
{
    size_t total = 1, off = 0;
    char *p;

    for (size_t i = 0; i < out->n; i++)
        for (uint32_t j = 0; j < out->res[i].n; j++)
            total += strlen(out->res[i].rep[j].segment) + strlen(out->res[i].rep[j].endpoint) + 2;
    out->strings = p = malloc(total);
    if (!p)
        return mc_fail(err, MC_INTERNAL_ERROR, "out of memory");
    for (size_t i = 0; i < out->n; i++) {
        for (uint32_t j = 0; j < out->res[i].n; j++) {
            mc_replica_t *r = &out->res[i].rep[j];
            const char *src[2] = {r->segment, r->endpoint};
            for (int k = 0; k < 2; k++) {
                size_t l = strlen(src[k]) + 1;
                memcpy(p + off, src[k], l);
                src[k] = p + off;
                off += l;
            }
            r->segment = src[0];
            r->endpoint = src[1];
        }
    }
    return MC_OK;
}

int mc_results_decode(const char *body, size_t len, size_t max, mc_results_t *out, mc_errmsg_t *err)
{
    cJSON *root = mc_json_parse_object(body, len, err);
    const cJSON *arr = NULL, *it;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!root)
        return MC_INVALID_PARAMS;
    rc = mc_json_get_array(root, "results", true, max, &arr, err);
    if (rc == MC_OK) {
        size_t cnt = (size_t)cJSON_GetArraySize(arr);
        out->res = calloc(cnt ? cnt : 1, sizeof(*out->res));
        if (!out->res)
            rc = mc_fail(err, MC_INTERNAL_ERROR, "out of memory");
    }
    cJSON_ArrayForEach (it, arr) {
        if (rc != MC_OK)
            break;
        rc = decode_result(it, &out->res[out->n++], err);
    }
    if (rc == MC_OK)
        rc = own_strings(out, err);
    cJSON_Delete(root);
    if (rc != MC_OK)
        mc_results_cleanup(out);
    return rc;
}

void mc_results_cleanup(mc_results_t *r)
{
    free(r->res);
    free(r->strings);
    memset(r, 0, sizeof(*r));
}

/* ---------------- segment ---------------- */

int mc_segment_msg_decode(const char *body, size_t len, mc_segment_msg_t *out, mc_errmsg_t *err)
{
    const cJSON *seg;
    int rc;

    memset(out, 0, sizeof(*out));
    out->root = mc_json_parse_object(body, len, err);
    if (!out->root)
        return MC_INVALID_PARAMS;
    seg = cJSON_GetObjectItemCaseSensitive(out->root, "segment");
    if (!cJSON_IsObject(seg)) {
        rc = mc_fail(err, MC_INVALID_PARAMS, "missing field 'segment' (an object)");
        goto bad;
    }
    out->endpoint = out->protocol = "";
    if ((rc = mc_msg_decode_uuid(out->root, "client_id", true, &out->client_id, err)) ||
        (rc = mc_msg_decode_uuid(seg, "id", true, &out->id, err)) ||
        (rc = mc_json_get_str(seg, "name", true, MC_MSG_MAX_NAME, &out->name, err)) ||
        (rc = mc_json_get_str(seg, "endpoint", false, MC_MSG_MAX_NAME, &out->endpoint, err)) ||
        (rc = mc_json_get_str(seg, "protocol", false, 15, &out->protocol, err)) ||
        (rc = mc_json_get_u64(seg, "base", true, 0, UINT64_MAX, &out->base, err)) ||
        (rc = mc_json_get_u64(seg, "size", true, 1, UINT64_MAX, &out->size, err)) ||
        (rc = mc_json_get_str(out->root, "secret", false, MC_MSG_MAX_SECRET, &out->secret, err)))
        goto bad;
    if (!*out->name) {
        rc = mc_fail(err, MC_INVALID_PARAMS, "field 'name': empty");
        goto bad;
    }
    return MC_OK;
bad:
    mc_segment_msg_cleanup(out);
    return rc;
}

void mc_segment_msg_cleanup(mc_segment_msg_t *msg)
{
    cJSON_Delete(msg->root);
    msg->root = NULL;
}

char *mc_segment_msg_encode_take(const mc_segment_msg_t *msg, size_t *len)
{
    mc_jw_t w;

    mc_jw_init(&w, 512);
    mc_jw_obj_begin(&w);
    jw_uuid(&w, "client_id", msg->client_id);
    if (msg->secret && *msg->secret) {
        mc_jw_key(&w, "secret");
        mc_jw_str(&w, msg->secret, strlen(msg->secret));
    }
    mc_jw_key(&w, "segment");
    mc_jw_obj_begin(&w);
    jw_uuid(&w, "id", msg->id);
    mc_jw_key(&w, "name");
    mc_jw_str(&w, msg->name, strlen(msg->name));
    mc_jw_key(&w, "endpoint");
    mc_jw_str(&w, msg->endpoint ? msg->endpoint : "", msg->endpoint ? strlen(msg->endpoint) : 0);
    mc_jw_key(&w, "protocol");
    mc_jw_str(&w, msg->protocol ? msg->protocol : "", msg->protocol ? strlen(msg->protocol) : 0);
    mc_jw_key(&w, "base");
    mc_jw_u64(&w, msg->base);
    mc_jw_key(&w, "size");
    mc_jw_u64(&w, msg->size);
    mc_jw_obj_end(&w);
    mc_jw_obj_end(&w);
    return mc_jw_take(&w, len);
}

/* ---------------- small messages ---------------- */

/* Parses an object body; an empty body is an empty object when allowed. */
static cJSON *parse_small(const char *body, size_t len, bool empty_ok, mc_errmsg_t *err)
{
    if (len == 0 && empty_ok)
        return cJSON_CreateObject();
    return mc_json_parse_object(body, len, err);
}

/* The plain ping is the SSD tier's ping without "disk" (below). */
char *mc_ping_req_encode_take(mc_uuid_t client_id, size_t *len)
{
    return mc_ping_disk_encode_take(client_id, NULL, len);
}

int mc_ping_req_decode(const char *body, size_t len, mc_uuid_t *client_id, mc_errmsg_t *err)
{
    mc_disk_usage_t disk;
    bool has_disk;
    return mc_ping_disk_decode(body, len, client_id, &disk, &has_disk, err);
}

char *mc_ping_reply_encode_take(const mc_ping_reply_t *r, size_t *len)
{
    mc_jw_t w;
    mc_jw_init(&w, 64);
    mc_jw_obj_begin(&w);
    mc_jw_key(&w, "status");
    mc_jw_str(&w, r->need_remount ? "NEED_REMOUNT" : "OK", r->need_remount ? 12 : 2);
    mc_jw_key(&w, "view_version");
    mc_jw_u64(&w, r->view_version);
    mc_jw_obj_end(&w);
    return mc_jw_take(&w, len);
}

int mc_ping_reply_decode(const char *body, size_t len, mc_ping_reply_t *out, mc_errmsg_t *err)
{
    cJSON *o = parse_small(body, len, false, err);
    const char *status = NULL;
    int rc = MC_INVALID_PARAMS;

    memset(out, 0, sizeof(*out));
    if (o && (rc = mc_json_get_str(o, "status", true, 32, &status, err)) == MC_OK &&
        (rc = mc_json_get_u64(o, "view_version", false, 0, UINT64_MAX, &out->view_version, err)) ==
            MC_OK) {
        if (strcmp(status, "OK") == 0 || strcmp(status, "NEED_REMOUNT") == 0)
            out->need_remount = status[0] == 'N';
        else
            rc = mc_fail(err, MC_INVALID_PARAMS, "field 'status': unknown value '%s'", status);
    }
    cJSON_Delete(o);
    return rc;
}

/* The optional "secret" of o into buf (MC_MSG_MAX_SECRET + 1 bytes; "" when absent). */
static int decode_secret(const cJSON *o, char *buf, mc_errmsg_t *err)
{
    const char *s = NULL;
    int rc = mc_json_get_str(o, "secret", false, MC_MSG_MAX_SECRET, &s, err);

    buf[0] = '\0';
    if (rc == MC_OK && s)
        mc_strlcpy(buf, s, MC_MSG_MAX_SECRET + 1);
    return rc;
}

char *mc_unmount_req_encode_take(const mc_unmount_req_t *r, size_t *len)
{
    mc_jw_t w;
    mc_jw_init(&w, 160);
    mc_jw_obj_begin(&w);
    jw_uuid(&w, "segment_id", r->segment_id);
    jw_uuid(&w, "client_id", r->client_id);
    if (r->secret[0]) {
        mc_jw_key(&w, "secret");
        mc_jw_str(&w, r->secret, strnlen(r->secret, sizeof(r->secret)));
    }
    mc_jw_key(&w, "graceful");
    mc_jw_bool(&w, r->graceful);
    mc_jw_key(&w, "grace_ms");
    mc_jw_u64(&w, r->grace_ms);
    mc_jw_obj_end(&w);
    return mc_jw_take(&w, len);
}

int mc_unmount_req_decode(const char *body, size_t len, mc_unmount_req_t *out, mc_errmsg_t *err)
{
    cJSON *o = parse_small(body, len, false, err);
    int rc = MC_INVALID_PARAMS;

    memset(out, 0, sizeof(*out));
    if (o && (rc = mc_msg_decode_uuid(o, "segment_id", true, &out->segment_id, err)) == MC_OK &&
        (rc = mc_msg_decode_uuid(o, "client_id", true, &out->client_id, err)) == MC_OK &&
        (rc = decode_secret(o, out->secret, err)) == MC_OK &&
        (rc = mc_json_get_bool(o, "graceful", false, &out->graceful, err)) == MC_OK)
        rc = mc_json_get_u64(o, "grace_ms", false, 0, 86400000, &out->grace_ms, err);
    cJSON_Delete(o);
    return rc;
}

char *mc_failure_report_encode_take(const mc_failure_report_t *r, size_t *len)
{
    mc_jw_t w;
    mc_jw_init(&w, 160);
    mc_jw_obj_begin(&w);
    jw_uuid(&w, "client_id", r->client_id);
    jw_uuid(&w, "segment_id", r->segment_id);
    mc_jw_key(&w, "epoch");
    mc_jw_u64(&w, r->epoch);
    mc_jw_obj_end(&w);
    return mc_jw_take(&w, len);
}

int mc_failure_report_decode(const char *body, size_t len, mc_failure_report_t *out,
                             mc_errmsg_t *err)
{
    cJSON *o = parse_small(body, len, false, err);
    int rc = MC_INVALID_PARAMS;

    memset(out, 0, sizeof(*out));
    if (o && (rc = mc_msg_decode_uuid(o, "client_id", true, &out->client_id, err)) == MC_OK &&
        (rc = mc_msg_decode_uuid(o, "segment_id", true, &out->segment_id, err)) == MC_OK)
        rc = mc_json_get_u64(o, "epoch", false, 0, UINT64_MAX, &out->epoch, err);
    cJSON_Delete(o);
    return rc;
}

char *mc_remove_req_encode_take(const char *pattern, bool force, size_t *len)
{
    mc_jw_t w;
    mc_jw_init(&w, 64 + (pattern ? strlen(pattern) : 0));
    mc_jw_obj_begin(&w);
    if (pattern) {
        mc_jw_key(&w, "pattern");
        mc_jw_str(&w, pattern, strlen(pattern));
    }
    mc_jw_key(&w, "force");
    mc_jw_bool(&w, force);
    mc_jw_obj_end(&w);
    return mc_jw_take(&w, len);
}

int mc_remove_req_decode(const char *body, size_t len, bool need_pattern, mc_remove_req_t *out,
                         mc_errmsg_t *err)
{
    int rc = MC_INVALID_PARAMS;

    memset(out, 0, sizeof(*out));
    out->root = parse_small(body, len, !need_pattern, err);
    if (out->root && (rc = mc_json_get_str(out->root, "pattern", need_pattern, 4096, &out->pattern,
                                           err)) == MC_OK)
        rc = mc_json_get_bool(out->root, "force", false, &out->force, err);
    if (rc != MC_OK)
        mc_remove_req_cleanup(out);
    return rc;
}

void mc_remove_req_cleanup(mc_remove_req_t *r)
{
    cJSON_Delete(r->root);
    memset(r, 0, sizeof(*r));
}

static char *u64_reply(const char *field, uint64_t v, size_t *len)
{
    mc_jw_t w;
    mc_jw_init(&w, 48);
    mc_jw_obj_begin(&w);
    mc_jw_key(&w, field);
    mc_jw_u64(&w, v);
    mc_jw_obj_end(&w);
    return mc_jw_take(&w, len);
}

static int u64_reply_decode(const char *body, size_t len, const char *field, uint64_t min,
                            uint64_t *out, mc_errmsg_t *err)
{
    cJSON *o = parse_small(body, len, false, err);
    int rc = o ? mc_json_get_u64(o, field, true, min, UINT64_MAX, out, err) : MC_INVALID_PARAMS;
    cJSON_Delete(o);
    return rc;
}

char *mc_mount_reply_encode_take(const mc_mount_reply_t *r, size_t *len)
{
    mc_jw_t w;
    mc_jw_init(&w, 128);
    mc_jw_obj_begin(&w);
    mc_jw_key(&w, "epoch");
    mc_jw_u64(&w, r->epoch);
    if (r->secret[0]) {
        mc_jw_key(&w, "secret");
        mc_jw_str(&w, r->secret, strnlen(r->secret, sizeof(r->secret)));
    }
    mc_jw_obj_end(&w);
    return mc_jw_take(&w, len);
}

int mc_mount_reply_decode(const char *body, size_t len, mc_mount_reply_t *out, mc_errmsg_t *err)
{
    cJSON *o = parse_small(body, len, false, err);
    int rc = MC_INVALID_PARAMS;

    memset(out, 0, sizeof(*out));
    if (o && (rc = mc_json_get_u64(o, "epoch", true, 1, UINT64_MAX, &out->epoch, err)) == MC_OK)
        rc = decode_secret(o, out->secret, err);
    cJSON_Delete(o);
    return rc;
}

char *mc_count_reply_encode_take(uint64_t removed, size_t *len)
{
    return u64_reply("removed", removed, len);
}

int mc_count_reply_decode(const char *body, size_t len, uint64_t *removed, mc_errmsg_t *err)
{
    return u64_reply_decode(body, len, "removed", 0, removed, err);
}

/* ---------------- SSD tier ---------------- */

/* A URL the master posts to: http(s)://, printable, bounded. */
static int check_url(const char *u, mc_errmsg_t *err)
{
    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
        return mc_fail(err, MC_INVALID_PARAMS, "field 'control_url': expected http://host:port");
    for (const char *p = u; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return mc_fail(err, MC_INVALID_PARAMS, "field 'control_url': control character");
    return MC_OK;
}

int mc_disk_msg_decode(const char *body, size_t len, mc_disk_msg_t *out, mc_errmsg_t *err)
{
    int rc;

    memset(out, 0, sizeof(*out));
    out->root = mc_json_parse_object(body, len, err);
    if (!out->root)
        return MC_INVALID_PARAMS;
    if ((rc = mc_msg_decode_uuid(out->root, "client_id", true, &out->client_id, err)) ||
        (rc = mc_json_get_str(out->root, "name", true, MC_MSG_MAX_NAME, &out->name, err)) ||
        (rc = mc_json_get_str(out->root, "control_url", true, MC_MSG_MAX_URL, &out->control_url,
                              err)) ||
        (rc = mc_json_get_u64(out->root, "capacity", true, 0, UINT64_MAX, &out->capacity, err)) ||
        (rc = mc_json_get_u64(out->root, "used", false, 0, UINT64_MAX, &out->used, err)) ||
        (rc = mc_json_get_str(out->root, "secret", false, MC_MSG_MAX_SECRET, &out->secret, err)))
        goto bad;
    if (mc_key_validate(out->name, strlen(out->name), MC_MSG_MAX_NAME) != MC_OK) {
        rc = mc_fail(err, MC_INVALID_PARAMS, "field 'name': empty or control characters");
        goto bad;
    }
    if ((rc = check_url(out->control_url, err)) != MC_OK)
        goto bad;
    return MC_OK;
bad:
    mc_disk_msg_cleanup(out);
    return rc;
}

void mc_disk_msg_cleanup(mc_disk_msg_t *msg)
{
    cJSON_Delete(msg->root);
    msg->root = NULL;
}

char *mc_disk_msg_encode_take(const mc_disk_msg_t *msg, size_t *len)
{
    mc_jw_t w;

    mc_jw_init(&w, 256);
    mc_jw_obj_begin(&w);
    jw_uuid(&w, "client_id", msg->client_id);
    mc_jw_key(&w, "name");
    mc_jw_str(&w, msg->name ? msg->name : "", msg->name ? strlen(msg->name) : 0);
    mc_jw_key(&w, "control_url");
    mc_jw_str(&w, msg->control_url ? msg->control_url : "",
              msg->control_url ? strlen(msg->control_url) : 0);
    mc_jw_key(&w, "capacity");
    mc_jw_u64(&w, msg->capacity);
    mc_jw_key(&w, "used");
    mc_jw_u64(&w, msg->used);
    if (msg->secret && msg->secret[0]) {
        mc_jw_key(&w, "secret");
        mc_jw_str(&w, msg->secret, strlen(msg->secret));
    }
    mc_jw_obj_end(&w);
    return mc_jw_take(&w, len);
}

char *mc_ping_disk_encode_take(mc_uuid_t client_id, const mc_disk_usage_t *disk, size_t *len)
{
    mc_jw_t w;

    mc_jw_init(&w, 128);
    mc_jw_obj_begin(&w);
    jw_uuid(&w, "client_id", client_id);
    if (disk) {
        mc_jw_key(&w, "disk");
        mc_jw_obj_begin(&w);
        mc_jw_key(&w, "capacity");
        mc_jw_u64(&w, disk->capacity);
        mc_jw_key(&w, "used");
        mc_jw_u64(&w, disk->used);
        mc_jw_obj_end(&w);
    }
    mc_jw_obj_end(&w);
    return mc_jw_take(&w, len);
}

int mc_ping_disk_decode(const char *body, size_t len, mc_uuid_t *client_id, mc_disk_usage_t *disk,
                        bool *has_disk, mc_errmsg_t *err)
{
    cJSON *o = parse_small(body, len, false, err);
    const cJSON *d;
    int rc = o ? mc_msg_decode_uuid(o, "client_id", true, client_id, err) : MC_INVALID_PARAMS;

    *has_disk = false;
    memset(disk, 0, sizeof(*disk));
    d = o ? cJSON_GetObjectItemCaseSensitive(o, "disk") : NULL;
    if (rc == MC_OK && d && !cJSON_IsNull(d)) {
        if (!cJSON_IsObject(d))
            rc = mc_fail(err, MC_INVALID_PARAMS, "field 'disk': expected an object");
        else if ((rc = mc_json_get_u64(d, "capacity", true, 0, UINT64_MAX, &disk->capacity, err)) ==
                     MC_OK &&
                 (rc = mc_json_get_u64(d, "used", true, 0, UINT64_MAX, &disk->used, err)) == MC_OK)
            *has_disk = true;
    }
    cJSON_Delete(o);
    return rc;
}

/* The array `name` of objects (required), at most max items, and a calloc'd
 * array of n elements of size sz for them. */
static int items_array(const cJSON *root, const char *name, bool required, size_t max, size_t sz,
                       const cJSON **arr, void **out, size_t *n, mc_errmsg_t *err)
{
    int rc = mc_json_get_array(root, name, required, max, arr, err);

    *out = NULL;
    *n = 0;
    if (rc != MC_OK || !*arr)
        return rc;
    *n = (size_t)cJSON_GetArraySize(*arr);
    *out = calloc(*n ? *n : 1, sz);
    if (!*out)
        return mc_fail(err, MC_INTERNAL_ERROR, "out of memory");
    return MC_OK;
}

static int decode_disk_item(const cJSON *it, size_t i, bool add, mc_disk_item_t *d,
                            mc_errmsg_t *err)
{
    uint64_t c = 0;
    int rc;

    if (!cJSON_IsObject(it))
        return mc_fail(err, MC_INVALID_PARAMS, "items[%zu]: expected an object", i);
    if ((rc = mc_json_get_key(it, "key", MC_MAX_KEY_LEN, &d->key, &d->key_len, err)) ||
        (rc = mc_json_get_u64(it, "bucket", true, 0, UINT64_MAX, &d->bucket, err)))
        return rc;
    if (!add)
        return MC_OK;
    if ((rc = mc_json_get_u64(it, "size", true, 1, MC_MSG_MAX_OBJECT, &d->size, err)) ||
        (rc = mc_json_get_u64(it, "checksum", true, 0, UINT32_MAX, &c, err)) ||
        (rc = mc_json_get_u64(it, "offset", true, 0, UINT64_MAX, &d->offset, err)) ||
        (rc = mc_json_get_u64(it, "length", true, 1, MC_MSG_MAX_OBJECT, &d->length, err)))
        return rc;
    d->checksum = (uint32_t)c;
    return MC_OK;
}

int mc_disk_items_decode(const char *body, size_t len, bool add, mc_disk_items_req_t *out,
                         mc_errmsg_t *err)
{
    const cJSON *arr = NULL, *it;
    void *items = NULL;
    size_t i = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    out->root = mc_json_parse_object(body, len, err);
    if (!out->root)
        return MC_INVALID_PARAMS;
    if ((rc = mc_msg_decode_uuid(out->root, "client_id", true, &out->client_id, err)) ||
        (rc = mc_json_get_bool(out->root, "create_missing", false, &out->create_missing, err)) ||
        (rc = mc_json_get_str(out->root, "secret", false, MC_MSG_MAX_SECRET, &out->secret, err)) ||
        (rc = items_array(out->root, "items", true, MC_MSG_MAX_BATCH, sizeof(mc_disk_item_t), &arr,
                          &items, &out->n, err)))
        goto bad;
    out->items = out->owned = items;
    cJSON_ArrayForEach (it, arr) {
        if ((rc = decode_disk_item(it, i, add, (mc_disk_item_t *)items + i, err)) != MC_OK)
            goto bad;
        i++;
    }
    return MC_OK;
bad:
    mc_disk_items_cleanup(out);
    return rc;
}

void mc_disk_items_cleanup(mc_disk_items_req_t *req)
{
    free(req->owned);
    cJSON_Delete(req->root);
    memset(req, 0, sizeof(*req));
}

static void jw_key_field(mc_jw_t *w, const char *key, size_t len)
{
    mc_jw_key(w, "key");
    mc_jw_str(w, key, len);
}

char *mc_disk_items_encode_take(const mc_disk_items_req_t *req, bool add, size_t *len)
{
    mc_jw_t w;

    mc_jw_init(&w, 96 + req->n * 160);
    mc_jw_obj_begin(&w);
    jw_uuid(&w, "client_id", req->client_id);
    if (req->secret && req->secret[0]) {
        mc_jw_key(&w, "secret");
        mc_jw_str(&w, req->secret, strlen(req->secret));
    }
    if (add) {
        mc_jw_key(&w, "create_missing");
        mc_jw_bool(&w, req->create_missing);
    }
    mc_jw_key(&w, "items");
    mc_jw_arr_begin(&w);
    for (size_t i = 0; i < req->n; i++) {
        const mc_disk_item_t *d = &req->items[i];
        mc_jw_obj_begin(&w);
        jw_key_field(&w, d->key, d->key_len);
        mc_jw_key(&w, "bucket");
        mc_jw_u64(&w, d->bucket);
        if (add) {
            mc_jw_key(&w, "size");
            mc_jw_u64(&w, d->size);
            mc_jw_key(&w, "checksum");
            mc_jw_u64(&w, d->checksum);
            mc_jw_key(&w, "offset");
            mc_jw_u64(&w, d->offset);
            mc_jw_key(&w, "length");
            mc_jw_u64(&w, d->length);
        }
        mc_jw_obj_end(&w);
    }
    mc_jw_arr_end(&w);
    mc_jw_obj_end(&w);
    return mc_jw_take(&w, len);
}

char *mc_ssd_tasks_encode_take(const mc_ssd_tasks_t *t, size_t *len)
{
    mc_jw_t w;

    mc_jw_init(&w, 64 + t->n_persist * 200 + t->n_drop * 96);
    mc_jw_obj_begin(&w);
    mc_jw_key(&w, "persist");
    mc_jw_arr_begin(&w);
    for (size_t i = 0; i < t->n_persist; i++) {
        const mc_ssd_persist_task_t *p = &t->persist[i];
        mc_jw_obj_begin(&w);
        jw_key_field(&w, p->key, p->key_len);
        mc_jw_key(&w, "size");
        mc_jw_u64(&w, p->size);
        if (p->has_checksum) {
            mc_jw_key(&w, "checksum");
            mc_jw_u64(&w, p->checksum);
        }
        jw_uuid(&w, "segment_id", p->segment_id);
        mc_jw_key(&w, "offset");
        mc_jw_u64(&w, p->offset);
        mc_jw_obj_end(&w);
    }
    mc_jw_arr_end(&w);
    mc_jw_key(&w, "drop");
    mc_jw_arr_begin(&w);
    for (size_t i = 0; i < t->n_drop; i++) {
        mc_jw_obj_begin(&w);
        jw_key_field(&w, t->drop[i].key, t->drop[i].key_len);
        mc_jw_key(&w, "bucket");
        mc_jw_u64(&w, t->drop[i].bucket);
        mc_jw_obj_end(&w);
    }
    mc_jw_arr_end(&w);
    mc_jw_obj_end(&w);
    return mc_jw_take(&w, len);
}

static int decode_persist(const cJSON *it, size_t i, mc_ssd_persist_task_t *p, mc_errmsg_t *err)
{
    int rc;

    if (!cJSON_IsObject(it))
        return mc_fail(err, MC_INVALID_PARAMS, "persist[%zu]: expected an object", i);
    if ((rc = mc_json_get_key(it, "key", MC_MAX_KEY_LEN, &p->key, &p->key_len, err)) ||
        (rc = mc_json_get_u64(it, "size", true, 1, MC_MSG_MAX_OBJECT, &p->size, err)) ||
        (rc = mc_msg_decode_uuid(it, "segment_id", true, &p->segment_id, err)) ||
        (rc = mc_json_get_u64(it, "offset", true, 0, UINT64_MAX, &p->offset, err)))
        return rc;
    if (cJSON_GetObjectItemCaseSensitive(it, "checksum")) {
        uint64_t c;
        if ((rc = mc_json_get_u64(it, "checksum", true, 0, UINT32_MAX, &c, err)))
            return rc;
        p->has_checksum = true;
        p->checksum = (uint32_t)c;
    }
    return MC_OK;
}

int mc_ssd_tasks_decode(const char *body, size_t len, mc_ssd_tasks_t *out, mc_errmsg_t *err)
{
    const cJSON *parr = NULL, *darr = NULL, *it;
    void *p = NULL, *d = NULL;
    size_t i = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    out->root = mc_json_parse_object(body, len, err);
    if (!out->root)
        return MC_INVALID_PARAMS;
    rc = items_array(out->root, "persist", false, MC_SSD_MAX_TASKS, sizeof(*out->persist), &parr,
                     &p, &out->n_persist, err);
    out->persist = p;
    if (rc == MC_OK) {
        rc = items_array(out->root, "drop", false, MC_SSD_MAX_TASKS, sizeof(*out->drop), &darr, &d,
                         &out->n_drop, err);
        out->drop = d;
    }
    cJSON_ArrayForEach (it, parr) {
        if (rc != MC_OK)
            break;
        rc = decode_persist(it, i, &out->persist[i], err);
        i++;
    }
    i = 0;
    cJSON_ArrayForEach (it, darr) {
        if (rc != MC_OK)
            break;
        if (!cJSON_IsObject(it))
            rc = mc_fail(err, MC_INVALID_PARAMS, "drop[%zu]: expected an object", i);
        else if ((rc = mc_json_get_key(it, "key", MC_MAX_KEY_LEN, &out->drop[i].key,
                                       &out->drop[i].key_len, err)) == MC_OK)
            rc = mc_json_get_u64(it, "bucket", true, 0, UINT64_MAX, &out->drop[i].bucket, err);
        i++;
    }
    if (rc != MC_OK)
        mc_ssd_tasks_cleanup(out);
    return rc;
}

void mc_ssd_tasks_cleanup(mc_ssd_tasks_t *t)
{
    free(t->persist);
    free(t->drop);
    cJSON_Delete(t->root);
    memset(t, 0, sizeof(*t));
}
