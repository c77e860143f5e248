#include "master_tasks.h"

#include "mc/errors.h"
#include "mc/http_client.h"
#include "mc/log.h"
#include "mc/master_msg.h"
#include "mc/mtime.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDLE_MS 1000u     /* wake-up without tasks: gauges, stop check */
#define BACKOFF_MS 100u   /* first retry; doubled per attempt */
#define MAX_PENDING 256u  /* batches waiting for a retry; more are given up */
#define GAUGE_OWNERS 256u /* owners with per-owner gauges */

/* One encoded batch waiting for its next post. */
typedef struct pending {
    mc_uuid_t client_id;
    char url[MC_MASTER_NAME_MAX + 32];
    char *body;
    size_t len;
    uint64_t n; /* tasks */
    unsigned attempts;
    uint64_t next_ms;
} pending_t;

/* Per-owner gauges set on the last refresh (zeroed when the owner goes). */
typedef struct owner_gauges {
    mc_uuid_t client_id;
    mc_gauge_t *g[6];
} owner_gauges_t;

struct master_tasks {
    mc_master_t *core;
    mc_metrics_t *metrics;
    mc_http_client_t *http;
    unsigned attempts;
    pthread_t thread;
    atomic_bool stop;
    pending_t pend[MAX_PENDING];
    size_t n_pend;
    owner_gauges_t owners[GAUGE_OWNERS];
    size_t n_owners;
    uint64_t next_gauges_ms;
};

/* Splits one owner's tasks into the wire's persist and drop arrays and
 * encodes them; NULL when out of memory. */
static char *encode_batch(const mc_master_task_batch_t *b, size_t *len)
{
    mc_ssd_tasks_t t = {0};
    char *body = NULL;

    t.persist = calloc(b->n ? b->n : 1, sizeof(*t.persist));
    t.drop = calloc(b->n ? b->n : 1, sizeof(*t.drop));
    for (size_t i = 0; t.persist && t.drop && i < b->n; i++) {
        const mc_master_task_t *k = &b->tasks[i];
        if (k->kind == MC_TASK_PERSIST)
            t.persist[t.n_persist++] = (mc_ssd_persist_task_t){.key = k->key,
                                                               .key_len = k->key_len,
                                                               .size = k->size,
                                                               .has_checksum = k->has_checksum,
                                                               .checksum = k->checksum,
                                                               .segment_id = k->segment_id,
                                                               .offset = k->offset};
        else
            t.drop[t.n_drop++] =
                (mc_ssd_drop_task_t){.key = k->key, .key_len = k->key_len, .bucket = k->bucket};
    }
    if (t.persist && t.drop)
        body = mc_ssd_tasks_encode_take(&t, len);
    free(t.persist);
    free(t.drop);
    return body;
}

/* One post; true when the owner accepted the batch (2xx). */
static bool post(master_tasks_t *t, const pending_t *p)
{
    mc_http_result_t r;
    int rc = mc_http_request(t->http, "POST", p->url, p->body, p->len, "application/json", &r);

    if (rc == MC_OK)
        rc = mc_http_result_err(&r);
    mc_http_result_cleanup(&r);
    return rc == MC_OK;
}

static void pending_free(pending_t *p)
{
    free(p->body);
    p->body = NULL;
}

/* Posts p (a fresh batch or a retry). Accepted or given up: reported and
 * freed; else kept for a retry. Returns whether it is to be kept. */
static bool attempt(master_tasks_t *t, pending_t *p)
{
    char id[MC_UUID_STR_LEN];

    p->attempts++;
    if (post(t, p)) {
        mc_master_tasks_report(t->core, p->client_id, p->n, 0);
        pending_free(p);
        return false;
    }
    if (p->attempts >= t->attempts) {
        MC_WARN("ssd tasks: %llu task(s) for %s given up after %u post(s) to %s",
                (unsigned long long)p->n, mc_uuid_format(p->client_id, id), p->attempts, p->url);
        mc_master_tasks_report(t->core, p->client_id, 0, p->n);
        pending_free(p);
        return false;
    }
    p->next_ms = mc_now_ms() + ((uint64_t)BACKOFF_MS << (p->attempts - 1u));
    return true;
}

static void keep(master_tasks_t *t, pending_t *p)
{
    if (t->n_pend == MAX_PENDING) {
        mc_master_tasks_report(t->core, p->client_id, 0, p->n);
        pending_free(p);
        return;
    }
    t->pend[t->n_pend++] = *p;
}

/* When an owner has a batch waiting for a retry, its next try is due then:
 * a fresh batch of its waits for the same time instead of another timeout
 * now (0 = none waiting). */
static uint64_t owner_backoff(const master_tasks_t *t, mc_uuid_t client)
{
    uint64_t until = 0;

    for (size_t i = 0; i < t->n_pend; i++)
        if (mc_uuid_equal(t->pend[i].client_id, client) && t->pend[i].next_ms > until)
            until = t->pend[i].next_ms;
    return until;
}

static void send_fresh(master_tasks_t *t)
{
    mc_master_task_batch_t *b = NULL;
    size_t n = 0;

    if (mc_master_tasks_take(t->core, &b, &n) != MC_OK)
        return;
    for (size_t i = 0; i < n; i++) {
        pending_t p = {.client_id = b[i].client_id, .n = b[i].n};
        snprintf(p.url, sizeof(p.url), "%s%s", b[i].control_url, MC_ROUTE_SSD_TASKS);
        p.body = encode_batch(&b[i], &p.len);
        if (!p.body) {
            mc_master_tasks_report(t->core, p.client_id, 0, p.n);
            continue;
        }
        uint64_t until = owner_backoff(t, p.client_id);
        if (until > mc_now_ms()) {
            p.next_ms = until; /* not reached a moment ago: no post now */
            keep(t, &p);
        } else if (attempt(t, &p)) {
            keep(t, &p);
        }
    }
    mc_master_tasks_free(b, n);
}

static void send_due(master_tasks_t *t)
{
    uint64_t now = mc_now_ms();
    size_t k = 0;

    for (size_t i = 0; i < t->n_pend; i++) {
        pending_t *p = &t->pend[i];
        if (p->next_ms > now || attempt(t, p))
            t->pend[k++] = *p;
    }
    t->n_pend = k;
}

/* ms until the next retry is due (IDLE_MS when none). */
static uint64_t next_wait(const master_tasks_t *t)
{
    uint64_t now = mc_now_ms(), w = IDLE_MS;

    for (size_t i = 0; i < t->n_pend; i++) {
        uint64_t d = t->pend[i].next_ms > now ? t->pend[i].next_ms - now : 0;
        if (d < w)
            w = d;
    }
    return w;
}

/* ---- per-owner gauges ---- */

static const char *const gauge_names[6][2] = {
    {"mc_master_disk_owner_capacity_bytes", "Disk tier capacity, as its owner reports"},
    {"mc_master_disk_owner_used_bytes", "Disk tier used bytes, as its owner reports"},
    {"mc_master_disk_owner_replicas", "Disk replicas registered by the owner"},
    {"mc_master_disk_owner_tasks_sent_total", "Tasks the owner accepted"},
    {"mc_master_disk_owner_tasks_dropped_total", "Tasks for the owner dropped: its queue was full"},
    {"mc_master_disk_owner_tasks_failed_total", "Tasks for the owner given up after failed posts"},
};

static void refresh_gauges(master_tasks_t *t)
{
    mc_master_disk_info_t *d = calloc(GAUGE_OWNERS, sizeof(*d));
    owner_gauges_t now[GAUGE_OWNERS];
    size_t n = 0, total = 0;

    if (!d)
        return;
    mc_master_disks_list(t->core, d, GAUGE_OWNERS, &total);
    for (size_t i = 0; i < total && i < GAUGE_OWNERS; i++) {
        char labels[MC_MASTER_NAME_MAX + 96], id[MC_UUID_STR_LEN];
        double v[6] = {(double)d[i].capacity,      (double)d[i].used,
                       (double)d[i].replicas,      (double)d[i].tasks_sent,
                       (double)d[i].tasks_dropped, (double)d[i].tasks_failed};
        /* the id, not the name: a label value needs no escaping then */
        snprintf(labels, sizeof(labels), "client_id=\"%s\"", mc_uuid_format(d[i].client_id, id));
        now[n].client_id = d[i].client_id;
        for (int g = 0; g < 6; g++) {
            now[n].g[g] =
                mc_metrics_gauge(t->metrics, gauge_names[g][0], gauge_names[g][1], labels);
            if (now[n].g[g])
                mc_gauge_set(now[n].g[g], v[g]);
        }
        n++;
    }
    for (size_t i = 0; i < t->n_owners; i++) { /* gone owners read 0 */
        bool live = false;
        for (size_t j = 0; j < n && !live; j++)
            live = mc_uuid_equal(t->owners[i].client_id, now[j].client_id);
        for (int g = 0; g < 6 && !live; g++)
            if (t->owners[i].g[g])
                mc_gauge_set(t->owners[i].g[g], 0);
    }
    memcpy(t->owners, now, n * sizeof(now[0]));
    t->n_owners = n;
    free(d);
}

static void *tasks_main(void *arg)
{
    master_tasks_t *t = arg;

    while (!atomic_load(&t->stop)) {
        mc_master_wait_tasks(t->core, next_wait(t));
        if (atomic_load(&t->stop))
            break;
        send_fresh(t);
        send_due(t);
        if (t->metrics && mc_now_ms() >= t->next_gauges_ms) {
            refresh_gauges(t);
            t->next_gauges_ms = mc_now_ms() + IDLE_MS;
        }
    }
    return NULL;
}

master_tasks_t *master_tasks_start(mc_master_t *core, mc_metrics_t *metrics, mc_auth_t *auth,
                                   long timeout_ms, unsigned attempts)
{
    mc_http_client_opts_t o = {.connect_timeout_ms = timeout_ms < 500 ? timeout_ms : 500,
                               .timeout_ms = timeout_ms,
                               .retries = 0, /* retried here, without blocking other owners */
                               .max_response = 64u << 10,
                               .bearer = auth ? auth->cluster : NULL};
    master_tasks_t *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    t->core = core;
    t->metrics = metrics;
    t->attempts = attempts ? attempts : 1;
    atomic_init(&t->stop, false);
    if (!(t->http = mc_http_client_create(&o)) ||
        pthread_create(&t->thread, NULL, tasks_main, t) != 0) {
        mc_http_client_destroy(t->http);
        free(t);
        return NULL;
    }
    return t;
}

void master_tasks_stop(master_tasks_t *t)
{
    if (!t)
        return;
    atomic_store(&t->stop, true);
    mc_master_tasks_wake(t->core);
    pthread_join(t->thread, NULL);
    for (size_t i = 0; i < t->n_pend; i++)
        pending_free(&t->pend[i]);
    mc_http_client_destroy(t->http);
    free(t);
}
