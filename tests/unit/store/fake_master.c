#include "fake_master.h"

#include "mc/errors.h"
#include "mc/strutil.h"

#include <stdlib.h>
#include <string.h>

void fake_master_init(fake_master_t *fm)
{
    memset(fm, 0, sizeof(*fm));
    pthread_mutex_init(&fm->mu, NULL);
    fm->lease_ms = 5000;
}

void fake_master_cleanup(fake_master_t *fm)
{
    pthread_mutex_destroy(&fm->mu);
}

static fake_seg_t *seg_find(fake_master_t *fm, const char *name)
{
    for (int i = 0; i < fm->nseg; i++)
        if (strcmp(fm->segs[i].name, name) == 0)
            return &fm->segs[i];
    return NULL;
}

static fake_seg_t *seg_add(fake_master_t *fm, const char *name, uint64_t epoch, uint64_t size)
{
    fake_seg_t *s = seg_find(fm, name);

    if (!s && fm->nseg < FAKE_MAX_SEGS) {
        s = &fm->segs[fm->nseg];
        s->id = (mc_uuid_t){0, (uint64_t)++fm->nseg};
        s->endpoint[0] = '\0';
    }
    if (s) {
        mc_strlcpy(s->name, name, sizeof(s->name));
        s->epoch = epoch;
        s->size = size;
    }
    return s;
}

void fake_master_add_segment(fake_master_t *fm, const char *name, uint64_t epoch, uint64_t size)
{
    pthread_mutex_lock(&fm->mu);
    seg_add(fm, name, epoch, size);
    pthread_mutex_unlock(&fm->mu);
}

mc_uuid_t fake_master_segment_id(fake_master_t *fm, const char *name)
{
    mc_uuid_t id = {0, 0};

    pthread_mutex_lock(&fm->mu);
    fake_seg_t *s = seg_find(fm, name);
    if (s)
        id = s->id;
    pthread_mutex_unlock(&fm->mu);
    return id;
}

static fake_obj_t *obj_find(fake_master_t *fm, const char *key, size_t len)
{
    for (int i = 0; i < FAKE_MAX_OBJS; i++)
        if (fm->objs[i].state != FAKE_FREE && fm->objs[i].klen == len &&
            memcmp(fm->objs[i].key, key, len) == 0)
            return &fm->objs[i];
    return NULL;
}

void fake_master_set_down(fake_master_t *fm, bool down)
{
    pthread_mutex_lock(&fm->mu);
    fm->down = down;
    pthread_mutex_unlock(&fm->mu);
}

fake_obj_t *fake_master_find(fake_master_t *fm, const char *key)
{
    fake_obj_t *o;

    pthread_mutex_lock(&fm->mu);
    o = obj_find(fm, key, strlen(key));
    pthread_mutex_unlock(&fm->mu);
    return o;
}

/* Allocates the replicas of a new pending object (bump allocation, never
 * reused: tests are short). */
static int put_start(fake_master_t *fm, const char *key, size_t len, uint64_t size,
                     uint32_t replicas, mc_key_result_t *r)
{
    fake_obj_t *o = NULL;
    bool odd = fm->odd_key && strlen(fm->odd_key) == len && memcmp(fm->odd_key, key, len) == 0;

    if (obj_find(fm, key, len))
        return MC_OBJECT_ALREADY_EXISTS;
    for (int i = 0; i < FAKE_MAX_OBJS && !o; i++)
        if (fm->objs[i].state == FAKE_FREE)
            o = &fm->objs[i];
    if (!o || len >= sizeof(o->key) || replicas == 0 || replicas > MC_MAX_REPLICAS)
        return MC_NO_AVAILABLE_HANDLE;
    memset(o, 0, sizeof(*o));
    for (uint32_t j = 0; j < replicas; j++) {
        fake_seg_t *s = odd              ? seg_find(fm, fm->odd_seg)
                        : fm->n_put_segs ? seg_find(fm, fm->put_segs[j % fm->n_put_segs])
                                         : (j < (uint32_t)fm->nseg ? &fm->segs[j] : NULL);
        if (s && s->suspected)
            continue; /* as the master: nothing new on a suspected segment */
        if (!s || s->size - s->next < size)
            return MC_NO_AVAILABLE_HANDLE;
        o->rep[o->n++] = (mc_replica_t){.segment_id = s->id,
                                        .segment = s->name,
                                        .endpoint = s->endpoint,
                                        .epoch = s->epoch,
                                        .offset = s->next,
                                        .size = size};
        s->next += (size + 63) & ~(uint64_t)63;
    }
    if (o->n == 0)
        return MC_NO_AVAILABLE_HANDLE;
    memcpy(o->key, key, len);
    o->klen = len;
    o->size = size;
    o->state = FAKE_PENDING;
    r->n = o->n;
    memcpy(r->rep, o->rep, sizeof(o->rep));
    return MC_OK;
}

static int one_key(fake_master_t *fm, store_master_call_t call, const mc_keys_req_t *req, size_t i,
                   mc_key_result_t *r)
{
    fake_obj_t *o = obj_find(fm, req->keys[i], req->key_lens[i]);
    bool done = o && o->state == FAKE_COMPLETE;

    switch (call) {
    case STORE_M_PUT_START:
        return put_start(fm, req->keys[i], req->key_lens[i], req->sizes ? req->sizes[i] : 0,
                         req->has_config ? req->config.replica_num : 1, r);
    case STORE_M_PUT_END:
        if (!o || o->state != FAKE_PENDING)
            return MC_OBJECT_NOT_FOUND;
        o->state = FAKE_COMPLETE;
        o->has_checksum = req->checksums != NULL;
        o->checksum = req->checksums ? req->checksums[i] : 0;
        return MC_OK;
    case STORE_M_PUT_REVOKE:
        if (!o || o->state != FAKE_PENDING)
            return MC_OBJECT_NOT_FOUND;
        o->state = FAKE_FREE;
        return MC_OK;
    case STORE_M_GET_REPLICAS:
        if (!done)
            return MC_OBJECT_NOT_FOUND;
        r->size = o->size;
        r->lease_ms = fm->lease_ms;
        r->n = o->n;
        memcpy(r->rep, o->rep, sizeof(o->rep));
        r->has_checksum = o->has_checksum;
        r->checksum = o->checksum;
        if (req->hold) {
            o->holds++;
            fm->holds_taken++;
        }
        return MC_OK;
    case STORE_M_RELEASE:
        if (!o)
            return MC_OBJECT_NOT_FOUND;
        if (o->holds == 0)
            return MC_LEASE_EXPIRED;
        o->holds--;
        fm->holds_released++;
        return MC_OK;
    case STORE_M_EXIST: r->exists = done; return MC_OK;
    case STORE_M_GET_SIZE:
        if (!done)
            return MC_OBJECT_NOT_FOUND;
        r->size = o->size;
        return MC_OK;
    case STORE_M_REMOVE:
    case STORE_M_REPLICA_CLEAR: /* every replica: the segment is not looked at */
        if (!done)
            return MC_OBJECT_NOT_FOUND;
        o->state = FAKE_FREE;
        return MC_OK;
    case STORE_M_DROP_BAD: return done ? MC_OK : MC_OBJECT_NOT_FOUND; /* counted in calls[] */
    case STORE_M_CALLS: break;
    }
    return MC_INVALID_PARAMS;
}

static int fm_keys(void *ctx, store_master_call_t call, const mc_keys_req_t *req, mc_results_t *out)
{
    fake_master_t *fm = ctx;
    int rc;

    if (fm->hook)
        fm->hook(fm, call, fm->hook_arg);
    pthread_mutex_lock(&fm->mu);
    fm->calls[call]++;
    rc = fm->down ? MC_RPC_FAIL : fm->fail_code[call];
    if (rc == MC_OK) {
        out->res = calloc(req->n ? req->n : 1, sizeof(*out->res));
        rc = out->res ? MC_OK : MC_INTERNAL_ERROR;
    }
    for (size_t i = 0; rc == MC_OK && i < req->n; i++)
        out->res[i].code = one_key(fm, call, req, i, &out->res[i]);
    out->n = rc == MC_OK ? req->n : 0;
    pthread_mutex_unlock(&fm->mu);
    return rc; /* out->strings stays NULL: names live in fm */
}

static int fm_mount(void *ctx, const mc_segment_msg_t *seg, mc_mount_reply_t *out)
{
    fake_master_t *fm = ctx;
    int rc = MC_RPC_FAIL;

    pthread_mutex_lock(&fm->mu);
    if (!fm->down) {
        out->epoch = ++fm->mounts;
        out->secret[0] = '\0';
        fake_seg_t *fs = seg_add(fm, seg->name, out->epoch, seg->size);
        if (fs) { /* as the master: the mount's id and endpoint */
            fs->id = seg->id;
            mc_strlcpy(fs->endpoint, seg->endpoint ? seg->endpoint : "", sizeof(fs->endpoint));
        }
        rc = fs ? MC_OK : MC_INTERNAL_ERROR;
    }
    pthread_mutex_unlock(&fm->mu);
    return rc;
}

static int fm_unmount(void *ctx, mc_uuid_t segment_id, mc_uuid_t client_id, const char *secret)
{
    fake_master_t *fm = ctx;
    int rc;

    (void)segment_id;
    (void)client_id;
    (void)secret;
    pthread_mutex_lock(&fm->mu);
    rc = fm->down ? MC_RPC_FAIL : MC_OK;
    pthread_mutex_unlock(&fm->mu);
    return rc;
}

static int fm_ping(void *ctx, mc_uuid_t client_id, bool *need_remount)
{
    fake_master_t *fm = ctx;
    int rc;

    (void)client_id;
    pthread_mutex_lock(&fm->mu);
    fm->pings++;
    rc = fm->down ? MC_RPC_FAIL : MC_OK;
    pthread_mutex_unlock(&fm->mu);
    *need_remount = false;
    return rc;
}

static int fm_remove_many(void *ctx, const char *pattern, bool force, uint64_t *removed)
{
    fake_master_t *fm = ctx;
    int rc = MC_OK;

    (void)force;
    pthread_mutex_lock(&fm->mu);
    if (fm->down) {
        rc = MC_RPC_FAIL;
    } else if (pattern) {
        rc = MC_INVALID_PARAMS; /* the fake knows no regular expressions */
    } else {
        for (int i = 0; i < FAKE_MAX_OBJS; i++) {
            if (fm->objs[i].state == FAKE_COMPLETE) {
                fm->objs[i].state = FAKE_FREE;
                (*removed)++;
            }
        }
    }
    pthread_mutex_unlock(&fm->mu);
    return rc;
}

static void fm_destroy(void *ctx)
{
    (void)ctx; /* the test owns the fake */
}

/* Marks the reported segment suspected: put_start places nothing there. */
static int fm_report_failure(void *ctx, mc_uuid_t client_id, mc_uuid_t segment_id, uint64_t epoch)
{
    fake_master_t *fm = ctx;
    int rc = MC_SEGMENT_NOT_FOUND;

    (void)client_id;
    (void)epoch;
    pthread_mutex_lock(&fm->mu);
    fm->reports++;
    for (int i = 0; i < fm->nseg; i++)
        if (mc_uuid_equal(segment_id, fm->segs[i].id)) {
            fm->segs[i].suspected = true;
            rc = MC_OK;
        }
    if (fm->down)
        rc = MC_RPC_FAIL;
    pthread_mutex_unlock(&fm->mu);
    return rc;
}

/* ---- disk tiers (the SSD tier's calls, master-core.md's rules in small) ---- */

static int fm_mount_disk(void *ctx, const mc_disk_msg_t *disk)
{
    fake_master_t *fm = ctx;
    int rc;

    (void)disk;
    pthread_mutex_lock(&fm->mu);
    fm->disk_mounts++;
    rc = fm->down ? MC_RPC_FAIL : MC_OK;
    pthread_mutex_unlock(&fm->mu);
    return rc;
}

static int fm_ping_disk(void *ctx, mc_uuid_t client_id, const mc_disk_usage_t *disk,
                        bool *need_remount)
{
    (void)disk;
    return fm_ping(ctx, client_id, need_remount);
}

static int disk_rep_find(const fake_obj_t *o, mc_uuid_t owner)
{
    for (uint32_t j = 0; j < o->n; j++)
        if (o->rep[j].type == MC_REPLICA_TYPE_DISK && mc_uuid_equal(o->rep[j].segment_id, owner))
            return (int)j;
    return -1;
}

static int disk_add(fake_master_t *fm, mc_uuid_t owner, bool create, const mc_disk_item_t *it)
{
    fake_obj_t *o = obj_find(fm, it->key, it->key_len);

    if (o && o->state != FAKE_COMPLETE)
        return MC_REPLICA_IS_NOT_READY;
    if (o && (o->size != it->size || (o->has_checksum && o->checksum != it->checksum)))
        return MC_INVALID_REPLICA;
    if (o && disk_rep_find(o, owner) >= 0)
        return MC_REPLICA_ALREADY_EXISTS;
    if (!o && !create)
        return MC_OBJECT_NOT_FOUND;
    if (!o) {
        for (int i = 0; i < FAKE_MAX_OBJS && !o; i++)
            if (fm->objs[i].state == FAKE_FREE)
                o = &fm->objs[i];
        if (!o || it->key_len >= sizeof(o->key))
            return MC_NO_AVAILABLE_HANDLE;
        memset(o, 0, sizeof(*o));
        memcpy(o->key, it->key, it->key_len);
        o->klen = it->key_len;
        o->size = it->size;
        o->has_checksum = true;
        o->checksum = it->checksum;
        o->state = FAKE_COMPLETE;
    }
    if (o->n == MC_MAX_REPLICAS)
        return MC_NO_AVAILABLE_HANDLE;
    o->rep[o->n++] = (mc_replica_t){.segment_id = owner,
                                    .segment = "fake-disk",
                                    .endpoint = "http://127.0.0.1:1",
                                    .offset = it->offset,
                                    .size = it->length,
                                    .bucket = it->bucket,
                                    .type = MC_REPLICA_TYPE_DISK};
    fm->disk_adds++;
    return MC_OK;
}

static int disk_remove(fake_master_t *fm, mc_uuid_t owner, const mc_disk_item_t *it)
{
    fake_obj_t *o = obj_find(fm, it->key, it->key_len);
    int j = o ? disk_rep_find(o, owner) : -1;

    if (j < 0 || o->rep[j].bucket != it->bucket)
        return MC_OBJECT_NOT_FOUND;
    o->rep[j] = o->rep[--o->n];
    if (o->n == 0)
        o->state = FAKE_FREE; /* its last replica went */
    fm->disk_removes++;
    return MC_OK;
}

static int fm_disk_items(void *ctx, bool add, const mc_disk_items_req_t *req, mc_results_t *out)
{
    fake_master_t *fm = ctx;
    int rc;

    pthread_mutex_lock(&fm->mu);
    rc = fm->down ? MC_RPC_FAIL : MC_OK;
    if (rc == MC_OK) {
        out->res = calloc(req->n ? req->n : 1, sizeof(*out->res));
        rc = out->res ? MC_OK : MC_INTERNAL_ERROR;
    }
    for (size_t i = 0; rc == MC_OK && i < req->n; i++)
        out->res[i].code = add ? disk_add(fm, req->client_id, req->create_missing, &req->items[i])
                               : disk_remove(fm, req->client_id, &req->items[i]);
    out->n = rc == MC_OK ? req->n : 0;
    pthread_mutex_unlock(&fm->mu);
    return rc;
}

static const store_master_ops_t fake_ops = {
    .keys = fm_keys,
    .mount = fm_mount,
    .unmount = fm_unmount,
    .ping = fm_ping,
    .remove_many = fm_remove_many,
    .report_failure = fm_report_failure,
    .destroy = fm_destroy,
    .mount_disk = fm_mount_disk,
    .ping_disk = fm_ping_disk,
    .disk_items = fm_disk_items,
};

store_master_t *fake_master_wrap(fake_master_t *fm)
{
    return store_master_wrap(&fake_ops, fm);
}
