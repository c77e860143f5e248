/* Admin reads and the master's Prometheus gauges. None of them grants a lease. */
#include "master_routes.h"

#include "mc/errors.h"
#include "mc/json.h"
#include "mc/mtime.h"

#include <stdlib.h>
#include <string.h>

static void reply_text(mc_http_resp_t *resp, mc_jw_t *t)
{
    size_t len = 0;
    char *text = mc_jw_take(t, &len);

    if (!text)
        mc_http_reply_error(resp, MC_INTERNAL_ERROR, "out of memory");
    else
        mc_http_reply_adopt(resp, 200, "text/plain; version=0.0.4", text, len, free);
}

static int add_key(const char *key, size_t len, uint8_t state, void *arg)
{
    if (state == MC_OBJ_COMPLETE) {
        mc_jw_raw(arg, key, len);
        mc_jw_raw(arg, "\n", 1);
    }
    return mc_jw_failed(arg) ? 1 : 0;
}

/* Mooncake's format: newline-separated complete keys. */
static void h_get_all_keys(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    mc_jw_t t;
    mc_jw_init(&t, 4096);
    mc_master_foreach_key(ctx, add_key, &t);
    reply_text(resp, &t);
}

/* Mooncake's format: newline-separated segment names; empty until a store
 * service mounted (engines poll this for readiness). */
static void h_get_all_segments(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    size_t total = 0, cap = 64;
    mc_master_segment_info_t *segs = NULL;
    mc_jw_t t;

    mc_jw_init(&t, 1024);
    for (;;) {
        mc_master_segment_info_t *ns = realloc(segs, cap * sizeof(*segs));
        if (!ns) {
            mc_jw_fail(&t);
            break;
        }
        segs = ns;
        mc_master_segments_list(ctx, segs, cap, &total);
        if (total <= cap)
            break;
        cap = total;
    }
    for (size_t i = 0; !mc_jw_failed(&t) && i < total && i < cap; i++) {
        mc_jw_raw(&t, segs[i].name, strlen(segs[i].name));
        mc_jw_raw(&t, "\n", 1);
    }
    free(segs);
    reply_text(resp, &t);
}

static void h_query_key(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    size_t klen = 0;
    const char *key = mc_http_req_query(req, "key", &klen);
    mc_master_obj_info_t info;
    uint64_t now = mc_now_ms();
    cJSON *o, *reps;
    int rc;

    if (!key) {
        mc_http_reply_error(resp, MC_INVALID_KEY, "missing query parameter 'key'");
        return;
    }
    rc = mc_master_query(ctx, key, klen, now, &info);
    if (rc != MC_OK) {
        mc_http_reply_error(resp, rc, mc_err_desc(rc));
        return;
    }
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "key", key);
    cJSON_AddStringToObject(o, "state", info.state == MC_OBJ_COMPLETE ? "complete" : "processing");
    cJSON_AddNumberToObject(o, "size", (double)info.replicas.size);
    cJSON_AddBoolToObject(o, "hard_pinned", info.hard_pinned);
    cJSON_AddBoolToObject(o, "soft_pinned", info.soft_pinned);
    cJSON_AddNumberToObject(o, "lease_ms",
                            info.lease_until_ms > now ? (double)(info.lease_until_ms - now) : 0);
    if (info.replicas.has_checksum)
        cJSON_AddNumberToObject(o, "checksum", (double)info.replicas.checksum);
    reps = cJSON_AddArrayToObject(o, "replicas");
    for (uint32_t i = 0; i < info.replicas.n; i++) {
        const mc_master_replica_desc_t *d = &info.replicas.rep[i];
        mc_master_segment_info_t s;
        mc_master_disk_info_t k;
        cJSON *r = cJSON_CreateObject();
        if (d->type == MC_REPLICA_DISK) {
            if (mc_master_disk_get_slot(ctx, d->segment_slot, &k) == MC_OK) {
                cJSON_AddStringToObject(r, "segment", k.name);
                cJSON_AddStringToObject(r, "endpoint", k.control_url);
            }
            cJSON_AddNumberToObject(r, "bucket", (double)d->bucket);
        } else if (mc_master_segment_get_slot(ctx, d->segment_slot, &s) == MC_OK) {
            cJSON_AddStringToObject(r, "segment", s.name);
        }
        cJSON_AddNumberToObject(r, "epoch", (double)d->segment_epoch);
        cJSON_AddNumberToObject(r, "offset", (double)d->offset);
        cJSON_AddNumberToObject(r, "addr", (double)d->addr);
        cJSON_AddNumberToObject(r, "size", (double)d->size);
        cJSON_AddStringToObject(r, "type", d->type == MC_REPLICA_MEMORY ? "memory" : "disk");
        cJSON_AddItemToArray(reps, r);
    }
    mc_http_reply_json(resp, 200, o);
}

/* The disk tiers (SSD), one object each: who, where, how full, how many
 * replicas, and the owner's task counters. */
static void h_get_all_disks(mc_http_req_t *req, mc_http_resp_t *resp, void *ctx)
{
    size_t total = 0, cap = 16;
    mc_master_disk_info_t *d = NULL;
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "disks");

    for (;;) {
        mc_master_disk_info_t *nd = realloc(d, cap * sizeof(*d));
        if (!nd)
            break;
        d = nd;
        mc_master_disks_list(ctx, d, cap, &total);
        if (total <= cap)
            break;
        cap = total;
    }
    for (size_t i = 0; d && i < total && i < cap; i++) {
        char id[MC_UUID_STR_LEN];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "client_id", mc_uuid_format(d[i].client_id, id));
        cJSON_AddStringToObject(e, "name", d[i].name);
        cJSON_AddStringToObject(e, "control_url", d[i].control_url);
        cJSON_AddNumberToObject(e, "capacity", (double)d[i].capacity);
        cJSON_AddNumberToObject(e, "used", (double)d[i].used);
        cJSON_AddNumberToObject(e, "replicas", (double)d[i].replicas);
        cJSON_AddNumberToObject(e, "replica_bytes", (double)d[i].bytes);
        cJSON_AddNumberToObject(e, "tasks_queued", (double)d[i].tasks_queued);
        cJSON_AddNumberToObject(e, "tasks_sent", (double)d[i].tasks_sent);
        cJSON_AddNumberToObject(e, "tasks_dropped", (double)d[i].tasks_dropped);
        cJSON_AddNumberToObject(e, "tasks_failed", (double)d[i].tasks_failed);
        cJSON_AddItemToArray(arr, e);
    }
    free(d);
    mc_http_reply_json(resp, 200, o);
}

int master_routes_register_admin(mc_http_server_t *srv, mc_master_t *core)
{
    if (mc_http_server_route(srv, "GET", "/query_key", 0, h_query_key, core) != MC_OK ||
        mc_http_server_route(srv, "GET", "/get_all_disks", 0, h_get_all_disks, core) != MC_OK ||
        mc_http_server_route(srv, "GET", "/get_all_keys", 0, h_get_all_keys, core) != MC_OK ||
        mc_http_server_route(srv, "GET", "/get_all_segments", 0, h_get_all_segments, core) != MC_OK)
        return MC_INTERNAL_ERROR;
    return MC_OK;
}

/* ---- gauges ---- */

#define STAT_GAUGE(field)              \
    static double g_##field(void *ctx) \
    {                                  \
        mc_master_stats_t st;          \
        mc_master_stats(ctx, &st);     \
        return (double)st.field;       \
    }
STAT_GAUGE(objects)
STAT_GAUGE(processing)
STAT_GAUGE(hard_pinned)
STAT_GAUGE(soft_pinned)
STAT_GAUGE(capacity)
STAT_GAUGE(used)
STAT_GAUGE(retired_bytes)
STAT_GAUGE(segments)
STAT_GAUGE(clients)
STAT_GAUGE(leases_granted)
STAT_GAUGE(evicted_objects)
STAT_GAUGE(evicted_bytes)
STAT_GAUGE(put_no_space)
STAT_GAUGE(holds_taken)
STAT_GAUGE(holds_released)
STAT_GAUGE(holds_expired)
STAT_GAUGE(holds_refused)
STAT_GAUGE(disks)
STAT_GAUGE(disk_capacity)
STAT_GAUGE(disk_used)
STAT_GAUGE(disk_replicas)
STAT_GAUGE(tasks_queued)
STAT_GAUGE(tasks_sent)
STAT_GAUGE(tasks_dropped)
STAT_GAUGE(tasks_failed)
STAT_GAUGE(offloaded)
#undef STAT_GAUGE

int master_routes_register_metrics(mc_metrics_t *m, mc_master_t *core)
{
    static const struct {
        const char *name, *help;
        mc_gauge_fn fn;
    } g[] = {
        {"mc_master_keys", "Objects known to the master (complete and in flight)", g_objects},
        {"mc_master_keys_processing", "Objects whose put has not ended", g_processing},
        {"mc_master_hard_pinned_keys", "Hard-pinned objects", g_hard_pinned},
        {"mc_master_soft_pinned_keys", "Soft-pinned objects", g_soft_pinned},
        {"mc_master_capacity_bytes", "Bytes over mounted segments", g_capacity},
        {"mc_master_allocated_bytes", "Bytes allocated to replicas", g_used},
        {"mc_master_retired_bytes", "Bytes waiting for a lease to end before being freed",
         g_retired_bytes},
        {"mc_master_segments", "Mounted segments", g_segments},
        {"mc_master_clients", "Live store services", g_clients},
        {"mc_master_leases_granted_total", "Read leases granted", g_leases_granted},
        {"mc_master_evicted_keys_total", "Objects evicted", g_evicted_objects},
        {"mc_master_evicted_bytes_total", "Bytes evicted", g_evicted_bytes},
        {"mc_master_put_no_space_total", "put_start calls that could not place a replica",
         g_put_no_space},
        {"mc_master_holds_taken_total", "Holds taken by get_replica_list", g_holds_taken},
        {"mc_master_holds_released_total", "Holds released", g_holds_released},
        {"mc_master_holds_expired_total", "Holds ended by their TTL or their client's expiry",
         g_holds_expired},
        {"mc_master_holds_refused_total", "Holds refused at a per-object or per-client cap",
         g_holds_refused},
        {"mc_master_disks", "Disk tiers (SSD) registered", g_disks},
        {"mc_master_disk_capacity_bytes", "Capacity over the disk tiers, as their owners report",
         g_disk_capacity},
        {"mc_master_disk_used_bytes", "Used bytes over the disk tiers, as their owners report",
         g_disk_used},
        {"mc_master_disk_replicas", "Disk replicas registered", g_disk_replicas},
        {"mc_master_ssd_tasks_queued_total", "Tasks queued for disk tier owners", g_tasks_queued},
        {"mc_master_ssd_tasks_sent_total", "Tasks an owner accepted", g_tasks_sent},
        {"mc_master_ssd_tasks_dropped_total", "Tasks not queued: the owner's queue was full",
         g_tasks_dropped},
        {"mc_master_ssd_tasks_failed_total", "Tasks given up after failed posts", g_tasks_failed},
        {"mc_master_offloaded_total", "Evictions turned into persist tasks (--offload_on_evict)",
         g_offloaded},
    };
    for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++)
        if (mc_metrics_gauge_fn(m, g[i].name, g[i].help, NULL, g[i].fn, core) != 0)
            return MC_INTERNAL_ERROR;
    return MC_OK;
}
