/* The SSD tier's calls into the store service (store_ssd_internal.h): the
 * typed master calls of the tier, the copy out of the own segment; and the read path (store_ssd_get, store_ssd_serve_read). */
#include "store_internal.h"
#include "store_ssd_internal.h"

#include "mc/crc32c.h"
#include "mc/errors.h"
#include "mc/http_client.h"
#include "mc/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- master calls ---------------- */

int ssd_master_mount_disk(store_service_t *s, const char *url, uint64_t capacity, uint64_t used)
{
    char secret[MC_MSG_MAX_SECRET + 1];
    mc_disk_msg_t m = {.client_id = s->client_id,
                       .name = s->name,
                       .control_url = url,
                       .capacity = capacity,
                       .used = used,
                       .secret = secret};
    int rc;

    store_seg_secret_copy(s, secret, sizeof(secret)); /* who we are: the segment's owner */
    rc = store_master_mount_disk(s->master, &m);
    memset(secret, 0, sizeof(secret));
    return rc;
}

/* The records as the master's disk replica items. */
static mc_disk_item_t *disk_items(const ssd_rec_t *recs, size_t n)
{
    mc_disk_item_t *items = calloc(n ? n : 1, sizeof(*items));

    for (size_t i = 0; items && i < n; i++)
        items[i] = (mc_disk_item_t){.key = recs[i].key,
                                    .key_len = recs[i].key_len,
                                    .size = recs[i].loc.length,
                                    .checksum = recs[i].loc.crc,
                                    .bucket = recs[i].loc.bucket,
                                    .offset = recs[i].loc.offset,
                                    .length = recs[i].loc.length};
    return items;
}

int ssd_master_disk_add(store_service_t *s, const ssd_rec_t *recs, size_t n, bool create_missing,
                        int *codes)
{
    mc_disk_item_t *items = disk_items(recs, n);
    char secret[MC_MSG_MAX_SECRET + 1];
    int rc;

    store_seg_secret_copy(s, secret, sizeof(secret));
    rc = items ? store_master_disk_replica_add(s->master, s->client_id, secret, items, n,
                                               create_missing, codes)
               : MC_INTERNAL_ERROR;
    memset(secret, 0, sizeof(secret));
    free(items);
    return rc;
}

int ssd_master_disk_remove(store_service_t *s, const ssd_rec_t *recs, size_t n, int *codes)
{
    mc_disk_item_t *items = disk_items(recs, n);
    char secret[MC_MSG_MAX_SECRET + 1];
    int rc;

    store_seg_secret_copy(s, secret, sizeof(secret));
    rc = items ? store_master_disk_replica_remove(s->master, s->client_id, secret, items, n, codes)
               : MC_INTERNAL_ERROR;
    memset(secret, 0, sizeof(secret));
    free(items);
    return rc;
}

/* ---------------- segment ---------------- */

bool ssd_segment_copy(store_service_t *s, mc_uuid_t segment_id, uint64_t offset, uint64_t size,
                      void *dst, uint32_t checksum)
{
    if (!s->seg.base || !mc_uuid_equal(segment_id, s->segment_id) || atomic_load(&s->epoch) == 0 ||
        size == 0 || offset > s->seg.size || size > s->seg.size - offset)
        return false;
    return mc_crc32c_copy(0, dst, (const char *)s->seg.base + offset, size) == checksum;
}

/* ---------------- reads ---------------- */

static mc_ssd_loc_t loc_of(const mc_replica_t *rep, uint32_t crc)
{
    return (mc_ssd_loc_t){
        .bucket = rep->bucket, .offset = rep->offset, .length = rep->size, .crc = crc};
}

/* A failed read of a record: dropped here and at the master when it exists
 * but cannot be read right (EIO, corrupt); a record that is gone only loses
 * its registration. */
static void drop_failed(store_ssd_t *t, const char *key, size_t key_len, const mc_ssd_loc_t *loc,
                        int rc)
{
    MC_WARN("SSD record %.*s (bucket %llu offset %llu) unreadable: %s; dropped",
            (int)(key_len > 200 ? 200 : key_len), key, (unsigned long long)loc->bucket,
            (unsigned long long)loc->offset, mc_err_name(rc));
    ssd_drop_record(t, key, key_len, loc, true);
}

/* The own tier: straight into dst. mc_ssd_read checks the record's CRC
 * against loc->crc (the object's checksum at the master) and the bytes it
 * read against the record's CRC, so the value is checked against the
 * object's checksum without another pass here. */
static int read_own(store_service_t *s, const char *key, size_t key_len, const mc_ssd_loc_t *loc,
                    void *dst)
{
    store_ssd_t *t = s->ssd;
    int rc = mc_ssd_read(t->be, loc, key, key_len, dst, loc->length);

    if (rc != MC_OK) {
        mc_counter_add(t->st.read_errors, 1);
        drop_failed(t, key, key_len, loc, rc);
    }
    return rc;
}

/* A peer's tier: GET {control_url}/api/v1/ssd/read?..., the bytes checked
 * against the checksum, then copied into dst. */
static int read_peer(store_service_t *s, const mc_replica_t *rep, const char *key, size_t key_len,
                     const mc_ssd_loc_t *loc, void *dst)
{
    char *ek = mc_http_escape_take(key, key_len), *url = NULL;
    mc_http_result_t res = {0};
    size_t cap;
    int rc = MC_INTERNAL_ERROR;

    if (!ek || !s->ssd_http)
        goto out;
    cap = strlen(rep->endpoint) + strlen(ek) + 160;
    if (!(url = malloc(cap)))
        goto out;
    snprintf(url, cap,
             "%s" STORE_SSD_READ_ROUTE "?key=%s&bucket=%llu&offset=%llu&length=%llu&crc=%u",
             rep->endpoint, ek, (unsigned long long)loc->bucket, (unsigned long long)loc->offset,
             (unsigned long long)loc->length, (unsigned)loc->crc);
    rc = mc_http_request(s->ssd_http, "GET", url, NULL, 0, NULL, &res);
    if (rc == MC_OK)
        rc = mc_http_result_err(&res);
    if (rc == MC_OK && (res.len != loc->length || mc_crc32c(0, res.body, res.len) != loc->crc)) {
        rc = MC_INVALID_READ;
        mc_counter_add(s->st.checksum_mismatches, 1);
    }
    if (rc == MC_OK)
        memcpy(dst, res.body, res.len);
out:
    mc_http_result_cleanup(&res);
    free(url);
    free(ek);
    return rc;
}

bool store_ssd_has_disk(store_service_t *s, const mc_key_result_t *r)
{
    uint32_t order[MC_MAX_REPLICAS];

    return r->has_checksum && store_disk_order(r->rep, r->n, s->client_id, r->size, order) > 0;
}

/* The disk replicas of r from the first'th on (in store_disk_order's order). */
static int get_from(store_service_t *s, const char *key, size_t key_len, const mc_key_result_t *r,
                    void *dst, bool shed_stalled, size_t first)
{
    uint32_t order[MC_MAX_REPLICAS];
    size_t n = r->has_checksum ? store_disk_order(r->rep, r->n, s->client_id, r->size, order) : 0;
    int rc = MC_OBJECT_NOT_FOUND;

    for (size_t j = first; j < n; j++) {
        const mc_replica_t *rep = &r->rep[order[j]];
        mc_ssd_loc_t loc = loc_of(rep, r->checksum);
        bool own = mc_uuid_equal(rep->segment_id, s->client_id);

        if (own && !s->ssd)
            continue;
        if (own) {
            rc = read_own(s, key, key_len, &loc, dst);
        } else if (shed_stalled && !store_peer_enter(s->peers, rep->segment ? rep->segment : "",
                                                     STORE_PEER_WAIT_MS)) {
            mc_counter_add(s->st.peer_refusals, 1);
            rc = MC_TRANSFER_FAIL;
            continue;
        } else {
            rc = read_peer(s, rep, key, key_len, &loc, dst);
            if (shed_stalled)
                store_peer_leave(s->peers, rep->segment ? rep->segment : "");
            if (s->ssd)
                mc_counter_add(s->ssd->st.remote_reads, rc == MC_OK);
        }
        if (rc == MC_OK) {
            if (s->ssd)
                mc_counter_add(s->ssd->st.reads, 1);
            return MC_OK;
        }
        if (s->ssd && !own)
            mc_counter_add(s->ssd->st.read_errors, 1);
        mc_counter_add(s->st.transfer_errors, 1);
    }
    return n == 0 ? MC_OBJECT_NOT_FOUND : MC_TRANSFER_FAIL;
}

int store_ssd_get(store_service_t *s, const char *key, size_t key_len, const mc_key_result_t *r,
                  void *dst, bool shed_stalled)
{
    return get_from(s, key, key_len, r, dst, shed_stalled, 0);
}

void store_ssd_get_batch(store_service_t *s, size_t n, const char *const *keys,
                         const size_t *key_lens, const mc_key_result_t *const *res,
                         void *const *dst, bool shed_stalled, int *codes)
{
    mc_ssd_read_item_t *items = s->ssd && n > 1 ? calloc(n, sizeof(*items)) : NULL;
    size_t *idx = items ? calloc(n, sizeof(*idx)) : NULL;
    int *rc = idx ? calloc(n, sizeof(*rc)) : NULL;
    size_t m = 0;

    /* the keys whose first disk replica is our own: one batch read */
    for (size_t i = 0; rc && i < n; i++) {
        const mc_key_result_t *r = res[i];
        uint32_t order[MC_MAX_REPLICAS];
        codes[i] = MC_TE_PENDING;
        if (!r->has_checksum || store_disk_order(r->rep, r->n, s->client_id, r->size, order) == 0 ||
            !mc_uuid_equal(r->rep[order[0]].segment_id, s->client_id))
            continue;
        items[m] = (mc_ssd_read_item_t){.loc = loc_of(&r->rep[order[0]], r->checksum),
                                        .key = keys[i],
                                        .key_len = key_lens[i],
                                        .dst = dst[i]};
        idx[m++] = i;
    }
    if (m > 0)
        (void)mc_ssd_read_batch(s->ssd->be, items, m, rc); /* rc[] has each item's */
    for (size_t j = 0; j < m; j++) {
        size_t i = idx[j];
        if (rc[j] == MC_OK) {
            mc_counter_add(s->ssd->st.reads, 1);
            codes[i] = MC_OK;
            continue;
        }
        mc_counter_add(s->ssd->st.read_errors, 1);
        mc_counter_add(s->st.transfer_errors, 1);
        drop_failed(s->ssd, keys[i], key_lens[i], &items[j].loc, rc[j]);
        codes[i] = get_from(s, keys[i], key_lens[i], res[i], dst[i], shed_stalled, 1);
    }
    /* the others (and all of them when the scratch could not be had) one by one */
    for (size_t i = 0; i < n; i++)
        if (!rc || codes[i] == MC_TE_PENDING)
            codes[i] = get_from(s, keys[i], key_lens[i], res[i], dst[i], shed_stalled, 0);
    free(items);
    free(idx);
    free(rc);
}

int store_ssd_serve_read(store_service_t *s, const store_disk_ref_t *ref, void *dst)
{
    store_ssd_t *t = s->ssd;
    mc_ssd_loc_t loc = {
        .bucket = ref->bucket, .offset = ref->offset, .length = ref->length, .crc = ref->crc};
    int rc;

    if (!t)
        return MC_OBJECT_NOT_FOUND;
    rc = mc_ssd_read(t->be, &loc, ref->key, ref->key_len, dst, ref->length); /* checked: read_own */
    if (rc == MC_OK) {
        mc_counter_add(t->st.served, 1);
        return MC_OK;
    }
    mc_counter_add(t->st.read_errors, 1);
    if (rc == MC_INVALID_READ || rc == MC_FILE_READ_FAIL)
        drop_failed(t, ref->key, ref->key_len, &loc, rc);
    return rc;
}
