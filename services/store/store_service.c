#include "store_internal.h"
#include "store_release.h"
#include "store_ssd.h"

#include "mc/errors.h"
#include "mc/log.h"
#include "mc/mtime.h"
#include "mc/strutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PING_INTERVAL_MS 1000u
#define BACKOFF_BASE_MS 250u
#define BACKOFF_CAP_MS 2000u

static const double latency_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                        0.025,  0.05,    0.1,    0.25,  0.5,    1.0,   2.5};

static double seg_capacity(void *ctx)
{
    return (double)((store_service_t *)ctx)->seg.size;
}

static double seg_populated(void *ctx)
{
    return (double)atomic_load(&((store_service_t *)ctx)->populated);
}

static double seg_mounted(void *ctx)
{
    return atomic_load(&((store_service_t *)ctx)->epoch) != 0 ? 1.0 : 0.0;
}

static double master_reachable(void *ctx)
{
    return atomic_load(&((store_service_t *)ctx)->master_ok) ? 1.0 : 0.0;
}

void store_stats_init(store_stats_t *st, mc_metrics_t *m)
{
    const size_t nb = sizeof(latency_bounds) / sizeof(latency_bounds[0]);
    const char *h = "Store operation latency by phase (metadata: master calls; data: copies)";

    st->put_keys = mc_metrics_counter(m, "mc_store_put_keys_total", "Keys put", NULL);
    st->put_errors =
        mc_metrics_counter(m, "mc_store_put_errors_total", "Keys whose put failed", NULL);
    st->put_bytes = mc_metrics_counter(m, "mc_store_put_bytes_total", "Bytes put", NULL);
    st->get_keys = mc_metrics_counter(m, "mc_store_get_keys_total", "Keys read", NULL);
    st->get_misses =
        mc_metrics_counter(m, "mc_store_get_misses_total", "Reads of absent keys", NULL);
    st->get_errors =
        mc_metrics_counter(m, "mc_store_get_errors_total", "Reads that failed (not misses)", NULL);
    st->get_bytes = mc_metrics_counter(m, "mc_store_get_bytes_total", "Bytes read", NULL);
    st->transfer_errors =
        mc_metrics_counter(m, "mc_store_transfer_errors_total", "Replica copies that failed", NULL);
    st->lease_expired = mc_metrics_counter(m, "mc_store_lease_expired_total",
                                           "Reads dropped because the lease ran out", NULL);
    st->remounts = mc_metrics_counter(m, "mc_store_mounts_total", "Segment (re)mounts", NULL);
    st->put_retries =
        mc_metrics_counter(m, "mc_store_put_retries_total",
                           "Keys put again after a replica write to another segment failed", NULL);
    st->peer_refusals = mc_metrics_counter(
        m, "mc_store_peer_refusals_total",
        "Copies not tried because too many threads already wait on a stalled peer", NULL);
    st->checksum_mismatches = mc_metrics_counter(
        m, "mc_store_checksum_mismatches_total",
        "Replica copies whose bytes did not match the writer's CRC32C (not returned)", NULL);
    st->bad_replicas = mc_metrics_counter(
        m, "mc_store_bad_replicas_reported_total",
        "Replicas whose bytes failed the checksum, dropped at the master for every reader", NULL);
    st->descriptor_refusals = mc_metrics_counter(
        m, "mc_store_descriptor_refusals_total",
        "Remote replicas not read or written because the segment's descriptor did not match "
        "the master's view (segment id, epoch, endpoint)",
        NULL);
    st->failures_reported =
        mc_metrics_counter(m, "mc_store_failures_reported_total",
                           "Segments reported to the master after a write to them failed", NULL);
    st->put_meta = mc_metrics_histogram(m, "mc_store_op_seconds", h,
                                        "op=\"put\",phase=\"metadata\"", latency_bounds, nb);
    st->put_data = mc_metrics_histogram(m, "mc_store_op_seconds", h, "op=\"put\",phase=\"data\"",
                                        latency_bounds, nb);
    st->get_meta = mc_metrics_histogram(m, "mc_store_op_seconds", h,
                                        "op=\"get\",phase=\"metadata\"", latency_bounds, nb);
    st->get_data = mc_metrics_histogram(m, "mc_store_op_seconds", h, "op=\"get\",phase=\"data\"",
                                        latency_bounds, nb);
}

store_local_seg_t store_local_view(store_service_t *s)
{
    return (store_local_seg_t){
        .name = s->seg.base ? s->name : NULL, .epoch = atomic_load(&s->epoch), .size = s->seg.size};
}

/* Mounts the segment with the master and (re)registers it with the engine
 * under the epoch the master returned. Liveness thread (or create, before
 * the thread starts). */
static int mount_segment(store_service_t *s)
{
    mc_segment_msg_t msg = {.client_id = s->client_id,
                            .id = s->segment_id,
                            .name = s->name,
                            .endpoint = mc_te_endpoint(s->te),
                            .protocol = s->protocol,
                            .base = (uint64_t)(uintptr_t)s->seg.base,
                            .size = s->seg.size,
                            .secret = s->seg_secret};
    mc_mount_reply_t reply;
    uint64_t epoch;
    int rc = store_master_mount(s->pinger, &msg, &reply);

    if (rc == MC_ILLEGAL_CLIENT)
        MC_WARN("mount of %s refused: its id or name belongs to another client, or the master "
                "wants a secret this service does not have",
                s->name);
    if (rc != MC_OK)
        return rc;
    /* kept in memory only: a master that restarts forgets it too, and then
     * issues a new one at the next (first) mount */
    epoch = reply.epoch;
    mc_mutex_lock(&s->mu); /* the SSD tier's threads read it (store_seg_secret_copy) */
    mc_strlcpy(s->seg_secret, reply.secret, sizeof(s->seg_secret));
    mc_mutex_unlock(&s->mu);
    memset(reply.secret, 0, sizeof(reply.secret));
    if (!s->te_registered) {
        char uuid[MC_UUID_STR_LEN];
        /* the descriptor names the master's segment id: readers check it */
        rc = mc_te_register_segment_uuid(s->te, s->name, s->seg.base, s->seg.size, epoch,
                                         mc_uuid_format(s->segment_id, uuid));
        if (rc != MC_OK) {
            MC_ERROR("cannot register segment %s with the transfer engine: %s", s->name,
                     mc_err_name(rc));
            return rc;
        }
        s->te_registered = true;
        s->te_epoch = epoch;
    } else if (epoch != s->te_epoch && (rc = mc_te_set_epoch(s->te, s->name, epoch)) != MC_OK) {
        MC_ERROR("cannot set epoch %llu on segment %s: %s", (unsigned long long)epoch, s->name,
                 mc_err_name(rc));
        return rc;
    }
    /* a restarted master may hand out an epoch the engine already has
     * (its counter restarted): nothing to change then */
    s->te_epoch = epoch;
    atomic_store(&s->epoch, epoch);
    mc_counter_add(s->st.remounts, 1);
    MC_INFO("segment %s mounted (epoch %llu, %llu bytes)", s->name, (unsigned long long)epoch,
            (unsigned long long)s->seg.size);
    return MC_OK;
}

void store_seg_secret_copy(store_service_t *s, char *out, size_t cap)
{
    mc_mutex_lock(&s->mu);
    mc_strlcpy(out, s->seg_secret, cap);
    mc_mutex_unlock(&s->mu);
}

/* One liveness step: ping, remount when told to. Returns MC_OK or the error. */
static int liveness_step(store_service_t *s)
{
    bool need = false;
    mc_disk_usage_t disk = {0, 0};
    int rc;

    if (s->ssd) /* the disk tier's usage rides on the ping */
        store_ssd_usage(s->ssd, &disk.capacity, &disk.used);
    rc = store_master_ping_disk(s->pinger, s->client_id, s->ssd ? &disk : NULL, &need);

    if (rc != MC_OK) {
        if (atomic_exchange(&s->master_ok, false))
            MC_WARN("master unreachable (%s); retrying with backoff", mc_err_name(rc));
        return rc;
    }
    if (!atomic_exchange(&s->master_ok, true))
        MC_INFO("master reachable");
    if (need && s->ssd)
        store_ssd_remount(s->ssd); /* the disk tier too, and its records again */
    if (need && s->seg.base) {
        MC_INFO("master asks for a remount of %s", s->name);
        atomic_store(&s->epoch, 0); /* our allocations are gone until remounted */
        rc = mount_segment(s);
    } else if (s->seg.base && atomic_load(&s->epoch) == 0) {
        rc = mount_segment(s); /* the last mount failed (refused, or its publish was) */
    }
    return rc;
}

static void *liveness_main(void *arg)
{
    store_service_t *s = arg;
    unsigned failures = 0;
    uint64_t wait_ms = PING_INTERVAL_MS;

    mc_mutex_lock(&s->mu);
    while (!s->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (time_t)(wait_ms / 1000);
        ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (mc_cond_timedwait(&s->cv, &s->mu, &ts) != ETIMEDOUT || s->stop)
            continue;
        mc_mutex_unlock(&s->mu);
        if (liveness_step(s) == MC_OK) {
            failures = 0;
            wait_ms = PING_INTERVAL_MS;
        } else {
            wait_ms = store_backoff_ms(++failures, BACKOFF_BASE_MS, BACKOFF_CAP_MS);
        }
        mc_mutex_lock(&s->mu);
    }
    mc_mutex_unlock(&s->mu);
    return NULL;
}

/* Background page-in of the segment in 16 MiB steps (start-up stays fast
 * whatever the segment size); stops early at shutdown. */
static void *populate_main(void *arg)
{
    store_service_t *s = arg;
    const size_t step = 16u << 20;

    for (size_t off = 0; off < s->seg.size && !atomic_load(&s->populate_stop); off += step)
        atomic_fetch_add(&s->populated, store_segment_populate(&s->seg, off, step));
    return NULL;
}

static int start_thread(store_service_t *s)
{
    if (mc_cond_init_monotonic(&s->cv) != 0)
        return MC_INTERNAL_ERROR;
    if (pthread_create(&s->thread, NULL, liveness_main, s) != 0) {
        pthread_cond_destroy(&s->cv);
        return MC_INTERNAL_ERROR;
    }
    s->thread_started = true;
    if (s->seg.base && s->populate &&
        pthread_create(&s->populate_thread, NULL, populate_main, s) == 0)
        s->populate_started = true;
    return MC_OK;
}

/* The data plane's handshake keys: the cluster tokens, the first one proved
 * with (docs/transfer-engine.md, "Handshake"). No token file, no handshake. */
static void auth_keys_of(const mc_auth_secrets_t *sec, mc_te_auth_keys_t *k)
{
    memset(k, 0, sizeof(*k));
    for (size_t i = 0; i < sec->n && i < 2; i++) {
        k->key[i] = (const uint8_t *)sec->tok[i];
        k->len[i] = sec->len[i];
    }
}

int store_service_reload_auth(store_service_t *s)
{
    mc_auth_secrets_t sec;
    mc_te_auth_keys_t k;
    int rc;

    if (!s->auth || !s->auth->cluster)
        return MC_OK;
    mc_auth_tokens_snapshot(s->auth->cluster, &sec);
    auth_keys_of(&sec, &k);
    rc = mc_te_set_auth_keys(s->te, &k);
    mc_auth_secrets_wipe(&sec);
    return rc;
}

/* The master's address with its port replaced by port (0: unchanged), for
 * the liveness calls (--master_cluster_port). addr: "host:port", a URL, or
 * "[v6]:port". */
static void cluster_addr(const char *addr, unsigned port, char *out, size_t cap)
{
    const char *colon = strrchr(addr, ':');
    const char *scheme = strstr(addr, "://");

    if (!port || !colon || (scheme && colon == scheme) || strchr(colon, ']')) {
        snprintf(out, cap, "%s", addr);
        return;
    }
    snprintf(out, cap, "%.*s:%u", (int)(colon - addr), addr, port);
}

static int create_parts(store_service_t *s, const store_config_t *cfg, store_master_t *master,
                        mc_auth_t *auth, mc_errmsg_t *err)
{
    mc_auth_secrets_t sec = {.n = 0};
    mc_te_auth_keys_t keys;
    mc_errmsg_t te_err = {""};
    char publisher[MC_AUTH_SECRET_LEN + 1];
    int rc;

    if (cfg->global_segment_size > 0 &&
        store_segment_create(&s->seg, "mooncake-segment", (size_t)cfg->global_segment_size,
                             cfg->hugepages) != MC_OK) {
        return mc_fail(err, MC_INTERNAL_ERROR, "cannot create a %llu-byte memfd segment: %s",
                       (unsigned long long)cfg->global_segment_size, strerror(errno));
    }
    if (auth && auth->cluster)
        mc_auth_tokens_snapshot(auth->cluster, &sec);
    auth_keys_of(&sec, &keys);
    s->auth = auth;
    /* this run's publisher credential: only this process may then replace or
     * delete its descriptor on the metadata server (docs/security.md) */
    if (mc_auth_random_secret(publisher) != MC_OK)
        return mc_fail(err, MC_INTERNAL_ERROR, "no randomness for the publisher credential");
    rc = mc_te_create(
        &(mc_te_opts_t){.local_name = cfg->local_hostname,
                        .metadata_url = cfg->metadata_server,
                        .protocols = cfg->protocol,
                        .rdma_devices = cfg->rdma_devices[0] ? cfg->rdma_devices : NULL,
                        .request_timeout_ms = (uint32_t)cfg->transfer_timeout_ms,
                        .republish_ms = 2000,
                        .bearer = auth ? auth->cluster : NULL,
                        .publisher = publisher,
                        .auth = keys},
        &s->te, &te_err);
    mc_auth_secrets_wipe(&sec);
    memset(publisher, 0, sizeof(publisher));
    if (rc != MC_OK)
        return mc_fail(err, rc, "transfer engine on %s: %s", cfg->local_hostname, te_err.msg);
    /* "host:0" asks for any free port: the segment is named after the port
     * it got, so two such services never share a segment name */
    if (strlen(cfg->local_hostname) > 2 &&
        strcmp(cfg->local_hostname + strlen(cfg->local_hostname) - 2, ":0") == 0)
        mc_strlcpy(s->name, mc_te_endpoint(s->te), sizeof(s->name));
    if (master) {
        s->master = s->pinger = master;
    } else {
        s->master = store_master_http_create(cfg->master_server_addr, 10000, 1, auth);
        char ping_addr[300];

        cluster_addr(cfg->master_server_addr, (unsigned)cfg->master_cluster_port, ping_addr,
                     sizeof(ping_addr));
        s->pinger = store_master_http_create(ping_addr, 1000, 0, auth);
        if (!s->master || !s->pinger)
            return mc_fail(err, MC_INVALID_PARAMS, "bad master address %s",
                           cfg->master_server_addr);
    }
    if (!(s->releaser = store_releaser_create(s->master, s->client_id)))
        return mc_fail(err, MC_INTERNAL_ERROR, "cannot start the hold-release thread");
    /* reads of the peers' disk replicas (any service may read them) */
    s->ssd_http =
        mc_http_client_create(&(mc_http_client_opts_t){.connect_timeout_ms = 1000,
                                                       .timeout_ms = (long)cfg->transfer_timeout_ms,
                                                       .retries = 0,
                                                       .max_response = (size_t)MC_MSG_MAX_OBJECT,
                                                       .bearer = auth ? auth->cluster : NULL});
    if (!s->ssd_http)
        return mc_fail(err, MC_INTERNAL_ERROR, "out of memory");
    return MC_OK;
}

static int service_create(const store_config_t *cfg, mc_metrics_t *metrics, store_master_t *master,
                          mc_auth_t *auth, store_service_t **out, mc_errmsg_t *err);

int store_service_create(const store_config_t *cfg, mc_metrics_t *metrics, mc_auth_t *auth,
                         store_service_t **out, mc_errmsg_t *err)
{
    return service_create(cfg, metrics, NULL, auth, out, err);
}

int store_service_create_with_master(const store_config_t *cfg, mc_metrics_t *metrics,
                                     store_master_t *master, store_service_t **out,
                                     mc_errmsg_t *err)
{
    return service_create(cfg, metrics, master, NULL, out, err);
}

static int service_create(const store_config_t *cfg, mc_metrics_t *metrics, store_master_t *master,
                          mc_auth_t *auth, store_service_t **out, mc_errmsg_t *err)
{
    store_service_t *s = calloc(1, sizeof(*s));
    int rc;

    *out = NULL;
    if (!s) {
        store_master_destroy(master);
        return mc_fail(err, MC_INTERNAL_ERROR, "out of memory");
    }
    s->master = master; /* adopted now: destroy frees it on every path */
    s->seg.fd = -1;
    mc_mutex_init(&s->mu);
    mc_strlcpy(s->name, cfg->local_hostname, sizeof(s->name));
    mc_strlcpy(s->protocol, cfg->protocol, sizeof(s->protocol));
    s->client_id = mc_uuid_generate();
    s->segment_id = mc_uuid_generate();
    s->data_timeout_ms = (uint32_t)cfg->transfer_timeout_ms;
    s->populate = cfg->populate_segment;
    store_stats_init(&s->st, metrics);
    mc_metrics_gauge_fn(metrics, "mc_store_segment_capacity_bytes",
                        "Bytes this service contributes", NULL, seg_capacity, s);
    mc_metrics_gauge_fn(metrics, "mc_store_segment_populated_bytes",
                        "Bytes of the segment paged in so far", NULL, seg_populated, s);
    mc_metrics_gauge_fn(metrics, "mc_store_segment_mounted", "1 when the segment is mounted", NULL,
                        seg_mounted, s);
    mc_metrics_gauge_fn(metrics, "mc_store_master_reachable", "1 when the last ping succeeded",
                        NULL, master_reachable, s);
    s->leases = store_lease_cache_create(16384);
    s->verified = store_verified_create(65536);
    s->peers = store_peer_gate_create(cfg->peer_max_waiters ? (unsigned)cfg->peer_max_waiters
                                      : cfg->threads > 1    ? (unsigned)cfg->threads / 2
                                                            : 1);
    if (!s->leases || !s->verified || !s->peers) {
        rc = mc_fail(err, MC_INTERNAL_ERROR, "out of memory");
        goto fail;
    }
    /* the tier first: a service with one keeps its client id across restarts */
    if (cfg->ssd_path[0] &&
        (rc = store_ssd_open(cfg, metrics, &s->ssd, &s->client_id, err)) != MC_OK)
        goto fail;
    if ((rc = create_parts(s, cfg, master, auth, err)) != MC_OK)
        goto fail;
    /* first contact now, so /health turns green without waiting a ping */
    if (liveness_step(s) == MC_OK && s->seg.base && atomic_load(&s->epoch) == 0)
        mount_segment(s);
    if ((rc = start_thread(s)) != MC_OK) {
        mc_fail(err, rc, "cannot start the liveness thread");
        goto fail;
    }
    if (s->ssd && (rc = store_ssd_start(s->ssd, s)) != MC_OK) {
        mc_fail(err, rc, "cannot start the SSD tier's thread");
        goto fail;
    }
    *out = s;
    return MC_OK;
fail:
    store_service_destroy(s);
    return rc;
}

void store_service_destroy(store_service_t *s)
{
    if (!s)
        return;
    if (s->populate_started) {
        atomic_store(&s->populate_stop, true);
        pthread_join(s->populate_thread, NULL);
    }
    if (s->thread_started) {
        mc_mutex_lock(&s->mu);
        s->stop = true;
        pthread_cond_signal(&s->cv);
        mc_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
        pthread_cond_destroy(&s->cv);
    }
    store_ssd_destroy(s->ssd); /* its thread calls the master and the releaser */
    if (s->pinger && atomic_load(&s->epoch) != 0) {
        int rc = store_master_unmount(s->pinger, s->segment_id, s->client_id, s->seg_secret);
        if (rc != MC_OK)
            MC_WARN("unmount of %s failed: %s", s->name, mc_err_name(rc));
    }
    if (s->te_registered)
        mc_te_unregister_segment(s->te, s->name);
    memset(s->seg_secret, 0, sizeof(s->seg_secret));
    mc_te_destroy(s->te);
    store_releaser_destroy(s->releaser); /* sends what is queued, before the master goes */
    if (s->pinger != s->master)
        store_master_destroy(s->pinger);
    store_master_destroy(s->master);
    mc_http_client_destroy(s->ssd_http);
    store_lease_cache_destroy(s->leases);
    store_verified_destroy(s->verified);
    store_peer_gate_destroy(s->peers);
    store_segment_destroy(&s->seg);
    mc_mutex_destroy(&s->mu);
    free(s);
}

bool store_service_healthy(store_service_t *s, char *detail, size_t len)
{
    if (!atomic_load(&s->master_ok)) {
        snprintf(detail, len, "master unreachable");
        return false;
    }
    if (s->seg.base && atomic_load(&s->epoch) == 0) {
        snprintf(detail, len, "segment not mounted");
        return false;
    }
    if (s->ssd && !store_ssd_mounted(s->ssd)) {
        snprintf(detail, len, "SSD tier not mounted");
        return false;
    }
    snprintf(detail, len, "ok");
    return true;
}

void store_service_set_control_url(store_service_t *s, const char *url)
{
    store_ssd_set_control_url(s->ssd, url);
}

struct store_ssd *store_service_ssd(store_service_t *s)
{
    return s->ssd;
}

const char *store_service_segment_name(const store_service_t *s)
{
    return s->name;
}

int store_service_segment_share(store_service_t *s, uint64_t *size)
{
    *size = s->seg.size;
    return s->seg.base ? store_segment_open_readonly(&s->seg) : -1;
}

void store_service_flush_releases(store_service_t *s)
{
    if (s->releaser)
        store_release_flush(s->releaser);
}
