/* Client liveness and periodic housekeeping (the background thread's tick). */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "master_internal.h"
#include "mc/errors.h"

int mc_master_ping(mc_master_t *m, mc_uuid_t client, uint64_t now_ms,
                   mc_master_ping_status_t *status, uint64_t *view_version)
{
    if (!m || !status)
        return MC_INVALID_PARAMS;
    mc_master_ping_status_t st = MC_PING_NEED_REMOUNT;
    mc_mutex_lock(&m->cluster_lock);
    for (size_t i = 0; i < m->n_clients; i++) {
        if (mc_uuid_equal(m->clients[i].id, client)) {
            if (now_ms > m->clients[i].last_seen_ms)
                m->clients[i].last_seen_ms = now_ms;
            st = MC_PING_OK;
            mcm_clear_suspected_locked(m, client);
            break;
        }
    }
    mc_mutex_unlock(&m->cluster_lock);
    *status = st;
    if (view_version)
        *view_version = m->cfg.view_version;
    return MC_OK;
}

/* Removes clients silent for longer than client_ttl from the table and
 * returns them (caller frees *out). */
static size_t take_expired_clients(mc_master_t *m, uint64_t now_ms, mc_uuid_t **out)
{
    *out = NULL;
    size_t n = 0;
    mc_mutex_lock(&m->cluster_lock);
    for (size_t i = 0; i < m->n_clients; i++)
        if (now_ms > m->clients[i].last_seen_ms + m->cfg.client_ttl_ms)
            n++;
    mc_uuid_t *ids = n ? malloc(n * sizeof(*ids)) : NULL;
    if (!ids) {
        mc_mutex_unlock(&m->cluster_lock);
        return 0; /* retried on the next tick */
    }
    size_t k = 0, j = 0;
    for (size_t i = 0; i < m->n_clients; i++) {
        if (now_ms > m->clients[i].last_seen_ms + m->cfg.client_ttl_ms)
            ids[k++] = m->clients[i].id;
        else
            m->clients[j++] = m->clients[i];
    }
    m->n_clients = j;
    mc_mutex_unlock(&m->cluster_lock);
    *out = ids;
    return k;
}

int mc_master_tick(mc_master_t *m, uint64_t now_ms, mc_master_tick_report_t *rep)
{
    if (!m)
        return MC_INVALID_PARAMS;
    mc_master_tick_report_t r = {0};
    mc_uuid_t *ids;
    size_t n = take_expired_clients(m, now_ms, &ids);
    for (size_t i = 0; i < n; i++) {
        r.unmounted_segments += mcm_unmount_client(m, ids[i]);
        r.unmounted_disks += mcm_unmount_disk_client(m, ids[i]);
    }
    r.expired_holds = mcm_holds_expire(m, now_ms, ids, n);
    free(ids);
    r.expired_clients = n;
    r.unmounted_segments += mcm_finish_drains(m, now_ms);
    r.reclaimed_puts = mcm_reclaim_stale_puts(m, now_ms);
    mc_mutex_lock(&m->cluster_lock);
    r.released_buffers = mcm_release_retired_locked(m, now_ms);
    mc_mutex_unlock(&m->cluster_lock);
    if (rep)
        *rep = r;
    return MC_OK;
}

/* Waits up to timeout_ms for *flag (guarded by mu) to be set; its value.
 * The flag is read under mu, which the analysis cannot tie to a pointer. */
bool mcm_wait_flag(mc_mutex_t *mu, pthread_cond_t *cv, const bool *flag,
                   uint64_t timeout_ms) MC_NO_THREAD_SAFETY_ANALYSIS
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(timeout_ms / 1000u);
    ts.tv_nsec += (long)(timeout_ms % 1000u) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    mc_mutex_lock(mu);
    int rc = 0;
    while (!*flag && rc != ETIMEDOUT)
        rc = mc_cond_timedwait(cv, mu, &ts);
    bool set = *flag;
    mc_mutex_unlock(mu);
    return set;
}

bool mc_master_wait_pressure(mc_master_t *m, uint64_t timeout_ms)
{
    return mcm_wait_flag(&m->pressure_lock, &m->pressure_cond, &m->pressure, timeout_ms);
}
