#include "mc/store_msg.h"

#include "mc/errors.h"
#include "mc/master_msg.h"
#include "mc/strutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(mc_errmsg_t *err, int code, const char *msg)
{
    if (err)
        snprintf(err->msg, sizeof(err->msg), "%s", msg);
    return code;
}

int mc_store_batch_req_decode(const char *body, size_t len, mc_store_batch_req_t *out,
                              mc_errmsg_t *err)
{
    cJSON *root = mc_json_parse_object(body, len, err);
    const cJSON *arr = NULL, *it;
    size_t n = 0, bytes = 0, i = 0;
    char *p;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!root)
        return MC_INVALID_PARAMS;
    if ((rc = mc_json_get_array(root, "keys", true, MC_MAX_BATCH_KEYS, &arr, err)) ||
        (rc = mc_json_get_bool(root, "force", false, &out->force, err)))
        goto out;
    n = (size_t)cJSON_GetArraySize(arr);
    if (n == 0) {
        rc = fail(err, MC_INVALID_PARAMS, "field 'keys': no keys");
        goto out;
    }
    cJSON_ArrayForEach (it, arr) {
        size_t l;
        if (!cJSON_IsString(it) || mc_json_has_nul(it) ||
            mc_key_validate(it->valuestring, (l = strlen(it->valuestring)), MC_MAX_KEY_LEN)) {
            if (err)
                snprintf(err->msg, sizeof(err->msg),
                         "field 'keys'[%zu]: expected a string of 1..%u bytes without NUL", i,
                         MC_MAX_KEY_LEN);
            rc = MC_INVALID_KEY;
            goto out;
        }
        bytes += l + 1;
        i++;
    }
    out->block = malloc(n * (sizeof(char *) + sizeof(size_t)) + bytes);
    if (!out->block) {
        rc = fail(err, MC_INTERNAL_ERROR, "out of memory");
        goto out;
    }
    out->keys = out->block;
    out->key_lens = (size_t *)(out->keys + n);
    p = (char *)(out->key_lens + n);
    i = 0;
    cJSON_ArrayForEach (it, arr) {
        size_t l = strlen(it->valuestring);
        memcpy(p, it->valuestring, l + 1);
        out->keys[i] = p;
        out->key_lens[i++] = l;
        p += l + 1;
    }
    out->n = n;
out:
    cJSON_Delete(root);
    if (rc != MC_OK)
        mc_store_batch_req_cleanup(out);
    return rc;
}

void mc_store_batch_req_cleanup(mc_store_batch_req_t *r)
{
    free(r->block);
    memset(r, 0, sizeof(*r));
}

char *mc_store_batch_req_encode_take(const char *const *keys, const size_t *lens, size_t n,
                                     bool force, size_t *len)
{
    mc_jw_t w;

    mc_jw_init(&w, 32 + n * 80);
    mc_jw_obj_begin(&w);
    mc_jw_key(&w, "keys");
    mc_jw_arr_begin(&w);
    for (size_t i = 0; i < n; i++)
        mc_jw_str(&w, keys[i], lens ? lens[i] : strlen(keys[i]));
    mc_jw_arr_end(&w);
    if (force) {
        mc_jw_key(&w, "force");
        mc_jw_bool(&w, true);
    }
    mc_jw_obj_end(&w);
    return mc_jw_take(&w, len);
}

/* A constant body as a malloc'd copy, so every encoder hands out the same. */
static char *dup_text(const char *s, size_t n, size_t *len)
{
    char *out = malloc(n + 1);

    if (out) {
        memcpy(out, s, n + 1);
        *len = n;
    }
    return out;
}

char *mc_store_status_encode_take(size_t *len)
{
    static const char body[] = "{\"status\":\"ok\",\"code\":0}";
    return dup_text(body, sizeof(body) - 1, len);
}

char *mc_store_exists_encode_take(bool exists, size_t *len)
{
    static const char yes[] = "{\"exists\":true}", no[] = "{\"exists\":false}";
    return exists ? dup_text(yes, sizeof(yes) - 1, len) : dup_text(no, sizeof(no) - 1, len);
}

char *mc_store_removed_encode_take(uint64_t removed, size_t *len)
{
    return mc_count_reply_encode_take(removed, len); /* the master's reply, same bytes */
}

char *mc_store_results_encode_take(const mc_store_result_t *res, size_t n, unsigned fields,
                                   size_t *len)
{
    mc_jw_t w;

    mc_jw_init(&w, MC_STORE_RESULTS_ENVELOPE + n * 32);
    mc_jw_obj_begin(&w);
    mc_jw_key(&w, "results");
    mc_jw_arr_begin(&w);
    for (size_t i = 0; i < n; i++) {
        mc_jw_obj_begin(&w);
        mc_jw_key(&w, "code");
        mc_jw_i64(&w, res[i].code);
        if (res[i].code == MC_OK && (fields & MC_STORE_F_EXISTS)) {
            mc_jw_key(&w, "exists");
            mc_jw_bool(&w, res[i].exists);
        }
        if (res[i].code == MC_OK && (fields & MC_STORE_F_SIZE)) {
            mc_jw_key(&w, "size");
            mc_jw_u64(&w, res[i].size);
        }
        mc_jw_obj_end(&w);
    }
    mc_jw_arr_end(&w);
    mc_jw_obj_end(&w);
    return mc_jw_take(&w, len);
}
