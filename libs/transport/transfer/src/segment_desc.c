/* Segment descriptor JSON. Field names live only here:
 * {"name", "endpoint", "segment_id", "segment_uuid" (optional), "epoch", "length",
 *  "protocols": ["tcp","rdma"],
 *  "rdma": {"addr", "devices": [{"name", "gid", "lid", "rkey"}]}} */
#include "segment_desc.h"

#include "mc/errors.h"
#include "mc/json.h"
#include "mc/strutil.h"

#include <string.h>

/* The encoder prints numbers through cJSON, whose printer keeps 15
 * significant digits when they read back "close enough": integers are
 * exact only below 10^15 (user-space addresses are below 2^47). Larger ones
 * are refused rather than published rounded (found by fuzz_segment_desc). */
#define DESC_MAX_INT 999999999999999ull

char *te_seg_desc_encode_take(const te_seg_desc_t *d, size_t *len)
{
    cJSON *o = cJSON_CreateObject(), *protos, *rdma, *devs;

    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "name", d->name);
    cJSON_AddStringToObject(o, "endpoint", d->endpoint);
    cJSON_AddNumberToObject(o, "segment_id", (double)d->seg_id);
    if (d->uuid[0])
        cJSON_AddStringToObject(o, "segment_uuid", d->uuid);
    cJSON_AddNumberToObject(o, "epoch", (double)d->epoch);
    cJSON_AddNumberToObject(o, "length", (double)d->length);
    protos = cJSON_AddArrayToObject(o, "protocols");
    if (protos && d->tcp)
        cJSON_AddItemToArray(protos, cJSON_CreateString("tcp"));
    if (protos && d->rdma)
        cJSON_AddItemToArray(protos, cJSON_CreateString("rdma"));
    if (d->rdma && (rdma = cJSON_AddObjectToObject(o, "rdma")) != NULL) {
        cJSON_AddNumberToObject(rdma, "addr", (double)d->rdma_addr);
        devs = cJSON_AddArrayToObject(rdma, "devices");
        for (unsigned i = 0; devs && i < d->n_devices; i++) {
            cJSON *dev = cJSON_CreateObject();
            if (!dev)
                break;
            cJSON_AddStringToObject(dev, "name", d->devices[i].name);
            cJSON_AddStringToObject(dev, "gid", d->devices[i].gid);
            cJSON_AddNumberToObject(dev, "lid", d->devices[i].lid);
            cJSON_AddNumberToObject(dev, "rkey", (double)d->devices[i].rkey);
            cJSON_AddItemToArray(devs, dev);
        }
    }
    return mc_json_print_take(o, len);
}

static int copy_str(const cJSON *o, const char *field, char *dst, size_t cap, bool required,
                    mc_errmsg_t *err)
{
    const char *s = NULL;
    int rc = mc_json_get_str(o, field, required, cap - 1, &s, err);

    if (rc != MC_OK)
        return rc;
    if (s)
        mc_strlcpy(dst, s, cap);
    return MC_OK;
}

/* A GID is 8 colon-separated groups of 1-4 hex digits. */
static bool gid_ok(const char *g)
{
    int groups = 1, digits = 0;

    for (; *g; g++) {
        if (*g == ':') {
            if (digits == 0)
                return false;
            groups++;
            digits = 0;
        } else if ((*g >= '0' && *g <= '9') || (*g >= 'a' && *g <= 'f') ||
                   (*g >= 'A' && *g <= 'F')) {
            if (++digits > 4)
                return false;
        } else {
            return false;
        }
    }
    return groups == 8 && digits > 0;
}

static int decode_rdma(const cJSON *o, te_seg_desc_t *d, mc_errmsg_t *err)
{
    const cJSON *rdma = cJSON_GetObjectItemCaseSensitive(o, "rdma"), *devs = NULL, *dev;
    uint64_t v;

    if (!cJSON_IsObject(rdma))
        return MC_INVALID_PARAMS;
    if (mc_json_get_u64(rdma, "addr", true, 0, DESC_MAX_INT, &d->rdma_addr, err) ||
        mc_json_get_array(rdma, "devices", true, MC_TE_MAX_DEVICES, &devs, err))
        return MC_INVALID_PARAMS;
    d->n_devices = 0;
    cJSON_ArrayForEach (dev, devs) {
        te_rdma_dev_desc_t *x = &d->devices[d->n_devices];
        if (!cJSON_IsObject(dev) || copy_str(dev, "name", x->name, sizeof x->name, true, err) ||
            copy_str(dev, "gid", x->gid, sizeof x->gid, true, err) || !gid_ok(x->gid))
            return MC_INVALID_PARAMS;
        if (mc_json_get_u64(dev, "lid", true, 0, UINT16_MAX, &v, err))
            return MC_INVALID_PARAMS;
        x->lid = (uint16_t)v;
        if (mc_json_get_u64(dev, "rkey", true, 0, UINT32_MAX, &v, err))
            return MC_INVALID_PARAMS;
        x->rkey = (uint32_t)v;
        d->n_devices++;
    }
    return d->n_devices > 0 ? MC_OK : MC_INVALID_PARAMS;
}

int te_seg_desc_decode(const char *json, size_t len, te_seg_desc_t *d)
{
    mc_errmsg_t err;
    cJSON *o;
    const cJSON *protos = NULL, *p;
    uint64_t v;
    char host[MC_TE_ENDPOINT_MAX];
    uint16_t port;
    int rc = MC_INVALID_PARAMS;

    memset(d, 0, sizeof *d);
    if (len > MC_TE_DESC_MAX || !(o = mc_json_parse_object(json, len, &err)))
        return MC_INVALID_PARAMS;
    if (copy_str(o, "name", d->name, sizeof d->name, true, &err) ||
        mc_key_validate(d->name, strlen(d->name), MC_TE_NAME_MAX - 1) ||
        copy_str(o, "endpoint", d->endpoint, sizeof d->endpoint, true, &err) ||
        te_parse_endpoint(d->endpoint, host, sizeof host, &port, false) ||
        mc_json_get_u64(o, "segment_id", true, 1, UINT32_MAX, &v, &err) ||
        copy_str(o, "segment_uuid", d->uuid, sizeof d->uuid, false, &err))
        goto out;
    d->seg_id = (uint32_t)v;
    if (mc_json_get_u64(o, "epoch", true, 1, DESC_MAX_INT, &d->epoch, &err) ||
        mc_json_get_u64(o, "length", true, 0, DESC_MAX_INT, &d->length, &err) ||
        mc_json_get_array(o, "protocols", true, 4, &protos, &err))
        goto out;
    cJSON_ArrayForEach (p, protos) {
        if (!cJSON_IsString(p) || mc_json_has_nul(p)) /* "tcp\u0000x" is not "tcp" */
            goto out;
        if (strcmp(p->valuestring, "tcp") == 0)
            d->tcp = true;
        else if (strcmp(p->valuestring, "rdma") == 0)
            d->rdma = true;
    }
    if (!d->tcp && !d->rdma)
        goto out;
    if (d->rdma && decode_rdma(o, d, &err) != MC_OK)
        goto out;
    rc = MC_OK;
out:
    cJSON_Delete(o);
    return rc;
}

int te_parse_endpoint(const char *ep, char *host, size_t host_cap, uint16_t *port, bool allow_zero)
{
    const char *colon = strrchr(ep, ':');
    uint64_t p;
    size_t hlen;

    if (!colon || colon == ep)
        return MC_INVALID_PARAMS;
    hlen = (size_t)(colon - ep);
    if (hlen >= host_cap || mc_parse_u64(colon + 1, &p) != MC_OK || p > 65535 ||
        (p == 0 && !allow_zero))
        return MC_INVALID_PARAMS;
    memcpy(host, ep, hlen);
    host[hlen] = '\0';
    *port = (uint16_t)p;
    return MC_OK;
}
