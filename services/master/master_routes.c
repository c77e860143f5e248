#include "master_routes.h"

#include "mc/errors.h"
#include "mc/log.h"
#include "mc/master_bin.h"
#include "mc/master_msg.h"
#include "mc/mtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOT_CACHE 16

/* Segment names and endpoints of the slots one reply mentions, looked up once
 * per request instead of once per replica. */
typedef struct slot_cache {
    uint16_t slot[SLOT_CACHE];
    mc_master_segment_info_t info[SLOT_CACHE];
    int n;
} slot_cache_t;

static const mc_master_segment_info_t *slot_info(mc_master_t *core, slot_cache_t *c, uint16_t slot)
{
    for (int i = 0; i < c->n; i++)
        if (c->slot[i] == slot)
            return &c->info[i];
    if (c->n == SLOT_CACHE)
        c->n = 0; /* more segments than the cache: start over (still correct) */
    if (mc_master_segment_get_slot(core, slot, &c->info[c->n]) != MC_OK)
        return NULL;
    c->slot[c->n] = slot;
    return &c->info[c->n++];
}

/* The same for the disk tiers a reply mentions (disk replicas). */
typedef struct disk_cache {
    uint16_t slot[SLOT_CACHE];
    mc_master_disk_info_t info[SLOT_CACHE];
    int n;
} disk_cache_t;

static const mc_master_disk_info_t *disk_info(mc_master_t *core, disk_cache_t *c, uint16_t slot)
{
    for (int i = 0; i < c->n; i++)
        if (c->slot[i] == slot)
            return &c->info[i];
    if (c->n == SLOT_CACHE)
        c->n = 0;
    if (mc_master_disk_get_slot(core, slot, &c->info[c->n]) != MC_OK)
        return NULL;
    c->slot[c->n] = slot;
    return &c->info[c->n++];
}

typedef struct reply_cache {
    slot_cache_t seg;
    disk_cache_t disk;
} reply_cache_t;

/* One core replica as a wire replica (names pointing into the cache); false
 * when it is gone since (its segment or disk tier went away). */
static bool to_replica(mc_master_t *core, reply_cache_t *cache, const mc_master_replica_desc_t *d,
                       mc_replica_t *out)
{
    if (d->type == MC_REPLICA_DISK) {
        const mc_master_disk_info_t *k = disk_info(core, &cache->disk, d->segment_slot);
        if (!k || !mc_uuid_equal(k->client_id, d->segment_id))
            return false;
        *out = (mc_replica_t){.segment_id = d->segment_id,
                              .segment = k->name,
                              .endpoint = k->control_url,
                              .offset = d->offset,
                              .size = d->size,
                              .bucket = d->bucket,
                              .type = MC_REPLICA_TYPE_DISK};
        return true;
    }
    const mc_master_segment_info_t *s = slot_info(core, &cache->seg, d->segment_slot);
    if (!s)
        return false; /* unmounted since: the replica is gone */
    *out = (mc_replica_t){.segment_id = d->segment_id,
                          .segment = s->name,
                          .endpoint = s->endpoint,
                          .epoch = d->segment_epoch,
                          .addr = d->addr,
                          .offset = d->offset,
                          .size = d->size,
                          .type = d->type};
    return true;
}

/* Core replicas -> wire replicas. Names point into the cache. */
static void to_result(mc_master_t *core, reply_cache_t *cache, const mc_master_replicas_t *r,
                      uint64_t now_ms, mc_key_result_t *out)
{
    out->size = r->size;
    out->lease_ms = r->lease_until_ms > now_ms ? r->lease_until_ms - now_ms : 0;
    out->has_checksum = r->has_checksum;
    out->checksum = r->checksum;
    out->n = 0;
    for (uint32_t i = 0; i < r->n && i < MC_MAX_REPLICAS; i++)
        if (to_replica(core, cache, &r->rep[i], &out->rep[out->n]))
            out->n++;
    if (out->code == MC_OK && out->n == 0 && r->n > 0)
        out->code = MC_REPLICA_IS_GONE;
}

/* Per-key failures of batch calls are invisible in HTTP statuses: count them
 * by operation and code (aggregated per request, one registry lookup per
 * distinct code). */
static void count_key_errors(mc_http_req_t *req, const mc_key_result_t *res, size_t n)
{
    int codes[8], counts[8], nd = 0;
    const char *op = strrchr(mc_http_req_route(req), '/');

    for (size_t i = 0; i < n; i++) {
        int j = 0;
        if (res[i].code == MC_OK)
            continue;
        while (j < nd && codes[j] != res[i].code)
            j++;
        if (j == nd) {
            if (nd == 8)
                continue;
            codes[nd] = res[i].code;
            counts[nd++] = 0;
        }
        counts[j]++;
    }
    for (int j = 0; j < nd; j++) {
        char labels[128];
        snprintf(labels, sizeof(labels), "op=\"%s\",code=\"%s\"", op ? op + 1 : "?",
                 mc_err_name(codes[j]));
        mc_counter_add(mc_metrics_counter(mc_http_req_metrics(req), "mc_master_key_errors_total",
                                          "Per-key failures of object operations", labels),
                       (uint64_t)counts[j]);
    }
}

/* The body is the binary keys request (mc/master_bin.h), not JSON. */
static bool is_bin(const mc_http_req_t *req)
{
    const char *ct = mc_http_req_header(req, "Content-Type");

    return ct && strcmp(ct, MC_BIN_KEYS_TYPE) == 0;
}

static void reply_results(mc_http_req_t *req, mc_http_resp_t *resp, const mc_key_result_t *res,
                          size_t n, unsigned mask, bool single)
{
    size_t len = 0;
    char *body;

    count_key_errors(req, res, n);
    if (single && res[0].code != MC_OK) {
        mc_http_reply_error(resp, res[0].code, NULL);
        return;
    }
    if (is_bin(req)) { /* a binary request gets binary results */
        mc_buf_t b;

        mc_buf_init(&b, 0);
        if (mc_results_encode_bin(&b, res, n) != MC_OK) {
            mc_buf_cleanup(&b);
            mc_http_reply_error(resp, MC_INTERNAL_ERROR, "out of memory");
            return;
        }
        body = mc_buf_take(&b, &len);
        mc_http_reply_adopt(resp, 200, MC_BIN_RESULTS_TYPE, body, len, free);
        return;
    }
    body = mc_results_encode_take(res, n, mask, &len);
    mc_http_reply_json_text(resp, body, len);
}

static void reply_oom(mc_http_resp_t *resp)
{
    mc_http_reply_error(resp, MC_INTERNAL_ERROR, "out of memory");
}

static void keys_req_cleanup(void *kr)
{
    mc_keys_req_cleanup(kr);
}

/* The body as a keys request, owned by the request (cleaned up when it
 * ends); on failure replies and returns NULL. */
static mc_keys_req_t *decode_keys(mc_http_req_t *req, mc_http_resp_t *resp, bool want_sizes)
{
    size_t len;
    const char *body = mc_http_req_body(req, &len);
    mc_keys_req_t *kr = mc_http_req_alloc(req, 1, sizeof(*kr));
    mc_errmsg_t e;
    int rc;

    if (!kr) {
        reply_oom(resp);
        return NULL;
    }
    rc = is_bin(req) ? mc_keys_req_decode_bin(body, len, want_sizes, kr, &e)
                     : mc_keys_req_decode(body, len, want_sizes, kr, &e);
    if (rc != MC_OK) {
        mc_http_reply_error(resp, rc, e.msg);
        return NULL;
    }
    if (mc_http_req_defer(req, keys_req_cleanup, kr) != MC_OK) {
        reply_oom(resp);
        return NULL;
    }
    return kr;
}

/* n zeroed elements from the request's arena, for one key each. */
#define PER_KEY(req, kr, ptr) ((ptr) = mc_http_req_alloc((req), (kr)->n, sizeof(*(ptr))))

static mc_master_put_cfg_t put_cfg(const mc_keys_req_t *kr)
{
    mc_master_put_cfg_t c = {.replica_num = kr->config.replica_num,
                             .preferred_segments = kr->config.preferred,
                             .n_preferred = kr->config.n_preferred,
                             .soft_pin = kr->config.soft_pin,
                             .hard_pin = kr->config.hard_pin};
    return c;
}

typedef int (*batch_put_fn)(mc_master_t *, mc_uuid_t, mc_master_put_item_t *, size_t, uint64_t);

/* The keys as the core's put items (pointing into kr), or NULL. */
static mc_master_put_item_t *items_from(mc_http_req_t *req, const mc_keys_req_t *kr)
{
    mc_master_put_item_t *items = mc_http_req_alloc(req, kr->n, sizeof(*items));

    for (size_t i = 0; items && i < kr->n; i++) {
        items[i].key = kr->keys[i];
        items[i].len = kr->key_lens[i];
        items[i].size = kr->sizes ? kr->sizes[i] : 0;
        items[i].has_checksum = kr->checksums != NULL;
        items[i].checksum = kr->checksums ? kr->checksums[i] : 0;
    }
    return items;
}

static void h_put_start(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    mc_master_t *core = ctx;
    reply_cache_t cache = {.seg.n = 0};
    uint64_t now = mc_now_ms();
    mc_keys_req_t *kr = decode_keys(req, resp, true);
    mc_master_put_item_t *items;
    mc_key_result_t *res;
    mc_master_put_cfg_t cfg;

    if (!kr)
        return;
    if (!(items = items_from(req, kr)) || !PER_KEY(req, kr, res)) {
        reply_oom(resp);
        return;
    }
    cfg = put_cfg(kr);
    if (kr->upsert) {
        for (size_t i = 0; i < kr->n; i++)
            items[i].rc = mc_master_upsert_start(core, kr->client_id, items[i].key, items[i].len,
                                                 items[i].size, &cfg, now, &items[i].replicas);
    } else {
        mc_master_batch_put_start(core, kr->client_id, items, kr->n, &cfg, now);
    }
    for (size_t i = 0; i < kr->n; i++) {
        res[i].code = items[i].rc;
        if (items[i].rc == MC_OK)
            to_result(core, &cache, &items[i].replicas, now, &res[i]);
    }
    reply_results(req, resp, res, kr->n, MC_RES_REPLICAS, kr->single);
}

/* put_end and put_revoke: fn over the keys, per-key codes back. */
static void run_put_batch(mc_http_req_t *req, mc_http_resp_t *resp, mc_master_t *core,
                          batch_put_fn fn)
{
    mc_keys_req_t *kr = decode_keys(req, resp, false);
    mc_master_put_item_t *items;
    mc_key_result_t *res;

    if (!kr)
        return;
    if (!(items = items_from(req, kr)) || !PER_KEY(req, kr, res)) {
        reply_oom(resp);
        return;
    }
    fn(core, kr->client_id, items, kr->n, mc_now_ms());
    for (size_t i = 0; i < kr->n; i++)
        res[i].code = items[i].rc;
    reply_results(req, resp, res, kr->n, 0, kr->single);
}

static void h_put_end(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    run_put_batch(req, resp, ctx, mc_master_batch_put_end);
}

static void h_put_revoke(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    run_put_batch(req, resp, ctx, mc_master_batch_put_revoke);
}

/* The keys as the core's batch input (pointing into kr), or NULL. */
static mc_master_key_t *core_keys(mc_http_req_t *req, const mc_keys_req_t *kr)
{
    mc_master_key_t *k = mc_http_req_alloc(req, kr->n, sizeof(*k));

    for (size_t i = 0; k && i < kr->n; i++)
        k[i] = (mc_master_key_t){kr->keys[i], kr->key_lens[i]};
    return k;
}

static void h_get_replica_list(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    mc_master_t *core = ctx;
    reply_cache_t cache = {.seg.n = 0};
    uint64_t now = mc_now_ms();
    mc_keys_req_t *kr = decode_keys(req, resp, false);
    mc_master_key_t *keys;
    mc_master_replicas_t *reps;
    mc_key_result_t *res;
    int *rc;

    if (!kr)
        return;
    if (!(keys = core_keys(req, kr)) || !PER_KEY(req, kr, reps) || !PER_KEY(req, kr, res) ||
        !PER_KEY(req, kr, rc)) {
        reply_oom(resp);
        return;
    }
    int ret = kr->hold ? mc_master_batch_get_hold(core, kr->client_id, keys, kr->n, now, reps, rc)
                       : mc_master_batch_get_replica_list(core, keys, kr->n, now, reps, rc);
    if (ret != MC_OK) {
        mc_http_reply_error(resp, ret, NULL);
        return;
    }
    for (size_t i = 0; i < kr->n; i++) {
        res[i].code = rc[i];
        if (rc[i] == MC_OK)
            to_result(core, &cache, &reps[i], now, &res[i]);
    }
    reply_results(req, resp, res, kr->n, MC_RES_REPLICAS | MC_RES_SIZE | MC_RES_LEASE, kr->single);
}

static void h_exist(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    mc_keys_req_t *kr = decode_keys(req, resp, false);
    mc_master_key_t *keys;
    mc_key_result_t *res;
    bool *ex;
    int *rc;

    if (!kr)
        return;
    if (!(keys = core_keys(req, kr)) || !PER_KEY(req, kr, res) || !PER_KEY(req, kr, ex) ||
        !PER_KEY(req, kr, rc)) {
        reply_oom(resp);
        return;
    }
    mc_master_batch_exist(ctx, keys, kr->n, mc_now_ms(), ex, rc);
    for (size_t i = 0; i < kr->n; i++) {
        res[i].code = rc[i];
        res[i].exists = ex[i];
    }
    reply_results(req, resp, res, kr->n, MC_RES_EXISTS, false);
}

static void h_get_size(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    mc_keys_req_t *kr = decode_keys(req, resp, false);
    mc_key_result_t *res;

    if (!kr)
        return;
    if (!PER_KEY(req, kr, res)) {
        reply_oom(resp);
        return;
    }
    for (size_t i = 0; i < kr->n; i++)
        res[i].code = mc_master_get_size(ctx, kr->keys[i], kr->key_lens[i], &res[i].size);
    reply_results(req, resp, res, kr->n, MC_RES_SIZE, kr->single);
}

static void h_remove(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    mc_keys_req_t *kr = decode_keys(req, resp, false);
    mc_master_key_t *keys;
    mc_key_result_t *res;
    int *rc;

    if (!kr)
        return;
    if (kr->force && !mc_http_req_require(req, resp, MC_AUTH_ADMIN))
        return; /* a force remove drops leased and held objects: admin only */
    if (!(keys = core_keys(req, kr)) || !PER_KEY(req, kr, res) || !PER_KEY(req, kr, rc)) {
        reply_oom(resp);
        return;
    }
    mc_master_batch_remove(ctx, keys, kr->n, kr->force, mc_now_ms(), rc);
    for (size_t i = 0; i < kr->n; i++)
        res[i].code = rc[i];
    reply_results(req, resp, res, kr->n, 0, kr->single);
}

/* Drops one hold of client_id per key: keys -> codes. */
static void h_release(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    mc_keys_req_t *kr = decode_keys(req, resp, false);
    mc_master_key_t *keys;
    mc_key_result_t *res;
    int *rc;

    if (!kr)
        return;
    if (!(keys = core_keys(req, kr)) || !PER_KEY(req, kr, res) || !PER_KEY(req, kr, rc)) {
        reply_oom(resp);
        return;
    }
    mc_master_batch_release(ctx, kr->client_id, keys, kr->n, mc_now_ms(), rc);
    for (size_t i = 0; i < kr->n; i++)
        res[i].code = rc[i];
    reply_results(req, resp, res, kr->n, 0, kr->single);
}

/* Mooncake's batch_replica_clear for client_id's objects: keys -> codes. */
static void h_replica_clear(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    mc_keys_req_t *kr = decode_keys(req, resp, false);
    const char *seg = kr ? kr->segment_name : NULL;
    mc_master_key_t *keys;
    mc_key_result_t *res;
    int *rc;

    if (!kr)
        return;
    if (!(keys = core_keys(req, kr)) || !PER_KEY(req, kr, res) || !PER_KEY(req, kr, rc)) {
        reply_oom(resp);
        return;
    }
    int whole = mc_master_batch_replica_clear(ctx, kr->client_id, keys, kr->n, seg,
                                              seg ? strlen(seg) : 0, mc_now_ms(), rc);
    if (whole != MC_OK) {
        mc_http_reply_error(resp, whole, NULL);
        return;
    }
    for (size_t i = 0; i < kr->n; i++)
        res[i].code = rc[i];
    reply_results(req, resp, res, kr->n, 0, kr->single);
}

/* A reader's checksum mismatches: keys + checksums + segment_name -> codes. */
static void h_drop_bad_replica(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    mc_keys_req_t *kr = decode_keys(req, resp, false);
    mc_master_key_t *keys;
    mc_key_result_t *res;
    int *rc;

    if (!kr)
        return;
    if (!kr->checksums || !kr->segment_name) {
        mc_http_reply_error(resp, MC_INVALID_PARAMS, "checksums and segment_name are required");
        return;
    }
    if (!(keys = core_keys(req, kr)) || !PER_KEY(req, kr, res) || !PER_KEY(req, kr, rc)) {
        reply_oom(resp);
        return;
    }
    int whole = mc_master_batch_drop_bad_replica(ctx, keys, kr->checksums, kr->n, kr->segment_name,
                                                 strlen(kr->segment_name), mc_now_ms(), rc);
    if (whole != MC_OK) {
        mc_http_reply_error(resp, whole, NULL);
        return;
    }
    for (size_t i = 0; i < kr->n; i++)
        res[i].code = rc[i];
    reply_results(req, resp, res, kr->n, 0, kr->single);
}

/* ---- requests with a small body of their own ---- */

/* remove_by_regex (pattern required) and remove_all share one message. */
static void run_remove_many(mc_http_req_t *req, mc_http_resp_t *resp, mc_master_t *core, bool regex)
{
    size_t len, out_len = 0;
    const char *body = mc_http_req_body(req, &len);
    mc_remove_req_t r;
    mc_errmsg_t e = {{0}};
    uint64_t n = 0;
    char *out;
    int rc = mc_remove_req_decode(body, len, regex, &r, &e);

    if (rc == MC_OK) {
        rc = regex ? mc_master_remove_by_regex(core, r.pattern, r.force, mc_now_ms(), &n, &e)
                   : mc_master_remove_all(core, r.force, mc_now_ms(), &n);
        mc_remove_req_cleanup(&r);
    }
    if (rc != MC_OK) {
        mc_http_reply_error(resp, rc, e.msg[0] ? e.msg : NULL);
        return;
    }
    out = mc_count_reply_encode_take(n, &out_len);
    mc_http_reply_json_text(resp, out, out_len);
}

static void h_remove_by_regex(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    run_remove_many(req, resp, ctx, true);
}

static void h_remove_all(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    run_remove_many(req, resp, ctx, false);
}

static void h_mount(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    size_t len, out_len = 0;
    const char *body = mc_http_req_body(req, &len);
    mc_segment_msg_t m;
    mc_errmsg_t e;
    mc_mount_reply_t reply = {0, ""};
    char *out;
    int rc = mc_segment_msg_decode(body, len, &m, &e);

    if (rc != MC_OK) {
        mc_http_reply_error(resp, rc, e.msg);
        return;
    }
    {
        mc_master_segment_spec_t spec = {.id = m.id,
                                         .client_id = m.client_id,
                                         .name = m.name,
                                         .endpoint = m.endpoint,
                                         .protocol = m.protocol,
                                         .base = m.base,
                                         .size = m.size,
                                         .secret = m.secret};
        _Static_assert(sizeof(reply.secret) >= MC_MASTER_SECRET_MAX, "secret fits the reply");
        rc = mc_master_mount_secret(ctx, &spec, mc_now_ms(), &reply.epoch, reply.secret);
    }
    mc_segment_msg_cleanup(&m);
    if (rc == MC_ILLEGAL_CLIENT) {
        mc_http_reply_error(resp, rc,
                            "segment id or name owned by another client, or wrong segment secret");
        return;
    }
    if (rc != MC_OK) {
        mc_http_reply_error(resp, rc, NULL);
        return;
    }
    out = mc_mount_reply_encode_take(&reply, &out_len);
    memset(reply.secret, 0, sizeof(reply.secret));
    mc_http_reply_json_text(resp, out, out_len);
}

static void h_unmount(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    size_t len;
    const char *body = mc_http_req_body(req, &len);
    mc_unmount_req_t u;
    mc_errmsg_t e = {{0}};
    int rc = mc_unmount_req_decode(body, len, &u, &e);

    if (rc == MC_OK)
        rc = u.graceful ? mc_master_unmount_graceful_owned(ctx, u.segment_id, u.client_id, u.secret,
                                                           mc_now_ms() + u.grace_ms)
                        : mc_master_unmount_owned(ctx, u.segment_id, u.client_id, u.secret);
    if (rc != MC_OK)
        mc_http_reply_error(resp, rc, e.msg[0] ? e.msg : NULL);
    else
        mc_http_reply_json(resp, 200, cJSON_CreateObject());
}

static void h_report_failure(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    size_t len;
    const char *body = mc_http_req_body(req, &len);
    mc_failure_report_t f;
    mc_errmsg_t e = {{0}};
    int rc = mc_failure_report_decode(body, len, &f, &e);

    if (rc == MC_OK)
        rc = mc_master_report_failure(ctx, f.segment_id, f.epoch);
    if (rc == MC_OK) {
        char id[MC_UUID_STR_LEN];
        MC_INFO("segment %s suspected: a write to it failed", mc_uuid_format(f.segment_id, id));
    }
    if (rc != MC_OK)
        mc_http_reply_error(resp, rc, e.msg[0] ? e.msg : NULL);
    else
        mc_http_reply_json(resp, 200, cJSON_CreateObject());
}

static void h_ping(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    size_t len, out_len = 0;
    const char *body = mc_http_req_body(req, &len);
    mc_uuid_t client = {0, 0};
    mc_master_ping_status_t st = MC_PING_OK;
    mc_ping_reply_t reply = {false, 0};
    mc_disk_usage_t disk;
    bool has_disk = false;
    mc_errmsg_t e = {{0}};
    char *out;
    int rc = mc_ping_disk_decode(body, len, &client, &disk, &has_disk, &e);

    if (rc == MC_OK)
        rc = mc_master_ping(ctx, client, mc_now_ms(), &st, &reply.view_version);
    if (rc == MC_OK && st == MC_PING_OK && has_disk) /* no tier yet: mount_disk brings it */
        mc_master_disk_usage(ctx, client, disk.capacity, disk.used);
    if (rc != MC_OK) {
        mc_http_reply_error(resp, rc, e.msg[0] ? e.msg : NULL);
        return;
    }
    reply.need_remount = st != MC_PING_OK;
    out = mc_ping_reply_encode_take(&reply, &out_len);
    mc_http_reply_json_text(resp, out, out_len);
}

/* ---- the SSD tier ---- */

static void h_mount_disk(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    size_t len;
    const char *body = mc_http_req_body(req, &len);
    mc_disk_msg_t d;
    mc_errmsg_t e = {{0}};
    int rc = mc_disk_msg_decode(body, len, &d, &e);

    if (rc == MC_OK && !mc_master_client_proved(ctx, d.client_id, d.secret)) {
        rc = mc_fail(&e, MC_ILLEGAL_CLIENT, "no segment of this client with that secret");
        mc_disk_msg_cleanup(&d);
    } else if (rc == MC_OK) {
        mc_master_disk_spec_t spec = {.client_id = d.client_id,
                                      .name = d.name,
                                      .control_url = d.control_url,
                                      .capacity = d.capacity,
                                      .used = d.used};
        rc = mc_master_mount_disk(ctx, &spec, mc_now_ms());
        mc_disk_msg_cleanup(&d);
    }
    if (rc != MC_OK)
        mc_http_reply_error(resp, rc, e.msg[0] ? e.msg : NULL);
    else
        mc_http_reply_json(resp, 200, cJSON_CreateObject());
}

static void disk_items_cleanup(void *r)
{
    mc_disk_items_cleanup(r);
}

/* batch_disk_replica_add (add) and _remove: items -> per-key codes. */
static void run_disk_items(mc_http_req_t *req, mc_http_resp_t *resp, mc_master_t *core, bool add)
{
    size_t len;
    const char *body = mc_http_req_body(req, &len);
    mc_disk_items_req_t *dr = mc_http_req_alloc(req, 1, sizeof(*dr));
    mc_master_disk_item_t *items;
    mc_key_result_t *res;
    mc_errmsg_t e = {{0}};
    int rc;

    if (!dr) {
        reply_oom(resp);
        return;
    }
    if ((rc = mc_disk_items_decode(body, len, add, dr, &e)) != MC_OK) {
        mc_http_reply_error(resp, rc, e.msg);
        return;
    }
    if (mc_http_req_defer(req, disk_items_cleanup, dr) != MC_OK || !PER_KEY(req, dr, items) ||
        !PER_KEY(req, dr, res)) {
        reply_oom(resp);
        return;
    }
    /* a disk tier's replicas change only for its owner: the secret of one of
     * its mounted segments (the identity of mount_disk) */
    if (!mc_master_client_proved(core, dr->client_id, dr->secret)) {
        mc_http_reply_error(resp, MC_ILLEGAL_CLIENT, "no segment of this client with that secret");
        return;
    }
    for (size_t i = 0; i < dr->n; i++) {
        const mc_disk_item_t *d = &dr->items[i];
        items[i] = (mc_master_disk_item_t){.key = d->key,
                                           .len = d->key_len,
                                           .size = d->size,
                                           .checksum = d->checksum,
                                           .bucket = d->bucket,
                                           .offset = d->offset,
                                           .length = d->length};
    }
    rc = add ? mc_master_batch_disk_replica_add(core, dr->client_id, items, dr->n,
                                                dr->create_missing, mc_now_ms())
             : mc_master_batch_disk_replica_remove(core, dr->client_id, items, dr->n, mc_now_ms());
    if (rc != MC_OK) {
        mc_http_reply_error(resp, rc,
                            rc == MC_CLIENT_NOT_FOUND ? "no disk tier: mount_disk first" : NULL);
        return;
    }
    for (size_t i = 0; i < dr->n; i++)
        res[i].code = items[i].rc;
    reply_results(req, resp, res, dr->n, 0, false);
}

static void h_disk_replica_add(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    run_disk_items(req, resp, ctx, true);
}

static void h_disk_replica_remove(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    run_disk_items(req, resp, ctx, false);
}

int master_routes_register_api(mc_http_server_t *srv, mc_master_t *core, size_t max_body)
{
    static const struct {
        const char *path;
        mc_http_handler_fn fn;
    } routes[] = {
        {MC_ROUTE_MOUNT_SEGMENT, h_mount},
        {MC_ROUTE_UNMOUNT_SEGMENT, h_unmount},
        {MC_ROUTE_PING, h_ping},
        {MC_ROUTE_PUT_START, h_put_start},
        {MC_ROUTE_PUT_END, h_put_end},
        {MC_ROUTE_PUT_REVOKE, h_put_revoke},
        {MC_ROUTE_GET_REPLICA_LIST, h_get_replica_list},
        {MC_ROUTE_EXIST, h_exist},
        {MC_ROUTE_GET_SIZE, h_get_size},
        {MC_ROUTE_REMOVE, h_remove},
        {MC_ROUTE_REMOVE_BY_REGEX, h_remove_by_regex},
        {MC_ROUTE_REMOVE_ALL, h_remove_all},
        {MC_ROUTE_RELEASE, h_release},
        {MC_ROUTE_REPLICA_CLEAR, h_replica_clear},
        {MC_ROUTE_DROP_BAD_REPLICA, h_drop_bad_replica},
        {MC_ROUTE_REPORT_FAILURE, h_report_failure},
        {MC_ROUTE_MOUNT_DISK, h_mount_disk},
        {MC_ROUTE_DISK_REPLICA_ADD, h_disk_replica_add},
        {MC_ROUTE_DISK_REPLICA_REMOVE, h_disk_replica_remove},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (mc_http_server_route(srv, "POST", routes[i].path, max_body, routes[i].fn, core) !=
            MC_OK)
            return MC_INTERNAL_ERROR;
    /* the cluster-wide removes need the admin token (mc_http_server_set_auth) */
    if (mc_http_server_route_level(srv, "POST", MC_ROUTE_REMOVE_BY_REGEX, MC_AUTH_ADMIN) != MC_OK ||
        mc_http_server_route_level(srv, "POST", MC_ROUTE_REMOVE_ALL, MC_AUTH_ADMIN) != MC_OK)
        return MC_INTERNAL_ERROR;
    /* they walk every key (a legal pattern may cost seconds): on the handler
     * pool, one at a time, never holding a thread that serves other calls */
    if (mc_http_server_route_blocking(srv, "POST", MC_ROUTE_REMOVE_BY_REGEX) != MC_OK ||
        mc_http_server_route_blocking(srv, "POST", MC_ROUTE_REMOVE_ALL) != MC_OK)
        return MC_INTERNAL_ERROR;
    return master_routes_register_admin(srv, core);
}
