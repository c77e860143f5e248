/* Descriptors and the metadata server: publish / delete / re-publish this
 * engine's segments, open and refresh remote ones. HTTP happens without any
 * engine lock held. */
#include "te_internal.h"

#include "mc/errors.h"
#include "mc/http_client.h"
#include "mc/mtime.h"
#include "mc/strutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* "<metadata_url>?key=mooncake%2Fram%2F<name>"; caller frees. */
static char *meta_url_take(const mc_te_t *te, const char *name)
{
    char key[sizeof MC_TE_KEY_PREFIX + MC_TE_NAME_MAX];
    char *esc, *url;
    size_t n;

    snprintf(key, sizeof key, "%s%s", MC_TE_KEY_PREFIX, name);
    if (!(esc = mc_http_escape_take(key, strlen(key))))
        return NULL;
    n = strlen(te->s_meta) + strlen(esc) + 8;
    url = malloc(n);
    if (url)
        snprintf(url, n, "%s%ckey=%s", te->s_meta, strchr(te->s_meta, '?') ? '&' : '?', esc);
    free(esc);
    return url;
}

/* One HTTP call; MC_OK only for a 2xx. *status gets the HTTP status (0 = none). */
static int meta_call(mc_te_t *te, const char *method, const char *name, const char *body,
                     size_t len, mc_http_result_t *res)
{
    char *url = meta_url_take(te, name);
    int rc;

    memset(res, 0, sizeof *res);
    if (!url)
        return MC_INTERNAL_ERROR;
    rc = mc_http_request(te->http, method, url, body, len, body ? "application/json" : NULL, res);
    free(url);
    if (rc != MC_OK)
        return rc;
    return res->status >= 200 && res->status < 300 ? MC_OK : mc_http_result_err(res);
}

static char *encode_local_take(mc_te_t *te, te_local_seg_t *s, size_t *len)
{
    te_seg_desc_t d;

    pthread_mutex_lock(&te->seg_mu);
    te_local_seg_describe(te, s, &d);
    pthread_mutex_unlock(&te->seg_mu);
    return te_seg_desc_encode_take(&d, len);
}

int te_meta_publish(mc_te_t *te, te_local_seg_t *s)
{
    mc_http_result_t res;
    size_t len;
    char *json = encode_local_take(te, s, &len);
    int rc;

    if (!json)
        return MC_INTERNAL_ERROR;
    rc = meta_call(te, "PUT", s->name, json, len, &res);
    mc_http_result_cleanup(&res);
    free(json);
    return rc;
}

void te_meta_delete(mc_te_t *te, const char *name)
{
    mc_http_result_t res;

    (void)meta_call(te, "DELETE", name, NULL, 0, &res);
    mc_http_result_cleanup(&res);
}

/* Runs fn on every live exposed segment, each referenced while fn runs. */
static int for_each_local(mc_te_t *te, int (*fn)(mc_te_t *, te_local_seg_t *, unsigned *),
                          unsigned *count)
{
    uint32_t next = 0;
    int first = MC_OK;

    for (;;) {
        te_local_seg_t *s, *pick = NULL;
        int rc;

        pthread_mutex_lock(&te->seg_mu); /* lowest id above `next`: safe against changes */
        for (s = te->segs; s; s = s->next)
            if (!s->dead && s->id > next && (!pick || s->id < pick->id))
                pick = s;
        if (pick)
            pick->refs++;
        pthread_mutex_unlock(&te->seg_mu);
        if (!pick)
            return first;
        next = pick->id;
        rc = fn(te, pick, count);
        if (rc != MC_OK && first == MC_OK)
            first = rc;
        te_local_seg_put(te, pick);
    }
}

static int publish_one(mc_te_t *te, te_local_seg_t *s, unsigned *count)
{
    return te_meta_publish(te, s);
}

int mc_te_publish(mc_te_t *te)
{
    if (!te || !te->http)
        return MC_INVALID_PARAMS;
    return for_each_local(te, publish_one, NULL);
}

/* Re-publishes when the server lost the descriptor (404) or holds another one. */
static int check_one(mc_te_t *te, te_local_seg_t *s, unsigned *count)
{
    mc_http_result_t res;
    size_t len;
    char *json = encode_local_take(te, s, &len);
    int rc;

    if (!json)
        return MC_INTERNAL_ERROR;
    rc = meta_call(te, "GET", s->name, NULL, 0, &res);
    if ((rc == MC_OK && (res.len != len || memcmp(res.body, json, len) != 0)) ||
        (rc != MC_OK && res.status == 404)) {
        mc_http_result_cleanup(&res);
        rc = meta_call(te, "PUT", s->name, json, len, &res);
        if (rc == MC_OK && count)
            (*count)++;
    }
    mc_http_result_cleanup(&res);
    free(json);
    return rc;
}

int mc_te_republish_check(mc_te_t *te, unsigned *republished)
{
    unsigned n = 0;
    int rc;

    if (!te || !te->http)
        return MC_INVALID_PARAMS;
    rc = for_each_local(te, check_one, &n);
    if (republished)
        *republished = n;
    return rc;
}

static void *republish_main(void *arg)
{
    mc_te_t *te = arg;
    struct timespec ts;

    pthread_mutex_lock(&te->rp_mu);
    while (!te->rp_stop) {
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += te->o.republish_ms / 1000;
        ts.tv_nsec += (long)(te->o.republish_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (pthread_cond_timedwait(&te->rp_cv, &te->rp_mu, &ts) == ETIMEDOUT && !te->rp_stop) {
            pthread_mutex_unlock(&te->rp_mu);
            (void)mc_te_republish_check(te, NULL);
            pthread_mutex_lock(&te->rp_mu);
        }
    }
    pthread_mutex_unlock(&te->rp_mu);
    return NULL;
}

int te_meta_start(mc_te_t *te)
{
    pthread_cond_init(&te->rp_cv, NULL);
    if (!te->http || te->o.republish_ms == UINT32_MAX)
        return MC_OK;
    if (pthread_create(&te->rp_thr, NULL, republish_main, te) != 0)
        return MC_INTERNAL_ERROR;
    te->rp_started = true;
    return MC_OK;
}

void te_meta_stop(mc_te_t *te)
{
    if (te->rp_started) {
        pthread_mutex_lock(&te->rp_mu);
        te->rp_stop = true;
        pthread_cond_broadcast(&te->rp_cv);
        pthread_mutex_unlock(&te->rp_mu);
        pthread_join(te->rp_thr, NULL);
        te->rp_started = false;
    }
    pthread_cond_destroy(&te->rp_cv);
}

int mc_te_describe_segment(mc_te_t *te, const char *name, char **json_take, size_t *len)
{
    te_seg_desc_t d;
    te_local_seg_t *s;

    if (!te || !name || !json_take)
        return MC_INVALID_PARAMS;
    pthread_mutex_lock(&te->seg_mu);
    for (s = te->segs; s; s = s->next)
        if (!s->dead && strcmp(s->name, name) == 0)
            break;
    if (s)
        te_local_seg_describe(te, s, &d);
    pthread_mutex_unlock(&te->seg_mu);
    if (!s)
        return MC_SEGMENT_NOT_FOUND;
    *json_take = te_seg_desc_encode_take(&d, len);
    return *json_take ? MC_OK : MC_INTERNAL_ERROR;
}

/* ---- opened segments ---- */

/* Chooses the back end for a descriptor and prepares its peer. */
static int attach(mc_te_t *te, const te_seg_desc_t *d, const te_backend_t **b, void **st,
                  void **peer)
{
    int rc = te_backend_for(te, d, b, st);

    return rc == MC_OK ? (*b)->open(*st, d, peer) : rc;
}

/* Installs d into seg (new or existing). */
static int seg_update(mc_te_t *te, mc_te_segment_t *seg, const te_seg_desc_t *d)
{
    const te_backend_t *b;
    void *st, *peer;
    int rc = attach(te, d, &b, &st, &peer);

    if (rc != MC_OK)
        return rc;
    pthread_mutex_lock(&seg->mu);
    seg->desc = *d;
    seg->backend = b;
    seg->bstate = st;
    seg->peer = peer;
    atomic_store(&seg->stale, false);
    pthread_mutex_unlock(&seg->mu);
    return MC_OK;
}

static int fetch_desc(mc_te_t *te, const char *name, te_seg_desc_t *d)
{
    mc_http_result_t res;
    int rc;

    if (!te->http)
        return MC_SEGMENT_NOT_FOUND;
    rc = meta_call(te, "GET", name, NULL, 0, &res);
    if (rc == MC_OK)
        rc = te_seg_desc_decode(res.body, res.len, d) == MC_OK ? MC_OK : MC_INVALID_PARAMS;
    else if (res.status == 404)
        rc = MC_SEGMENT_NOT_FOUND;
    mc_http_result_cleanup(&res);
    if (rc == MC_OK && strcmp(d->name, name) != 0)
        rc = MC_INVALID_PARAMS;
    return rc;
}

static mc_te_segment_t *find_opened_locked(mc_te_t *te, const char *name)
{
    for (mc_te_segment_t *s = te->opened; s; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

/* Returns the opened segment for d->name, creating it from d if new. */
static int install(mc_te_t *te, const te_seg_desc_t *d, mc_te_segment_t **out)
{
    mc_te_segment_t *seg, *fresh = calloc(1, sizeof *fresh);
    int rc;

    if (!fresh)
        return MC_INTERNAL_ERROR;
    pthread_mutex_init(&fresh->mu, NULL);
    atomic_init(&fresh->stale, false);
    pthread_mutex_lock(&te->open_mu);
    seg = find_opened_locked(te, d->name);
    if (!seg) {
        seg = fresh;
        mc_strlcpy(seg->name, d->name, sizeof seg->name);
        seg->next = te->opened;
        te->opened = seg;
        fresh = NULL;
    }
    pthread_mutex_unlock(&te->open_mu);
    if (fresh) {
        pthread_mutex_destroy(&fresh->mu);
        free(fresh);
    }
    rc = seg_update(te, seg, d);
    if (rc == MC_OK)
        *out = seg;
    return rc;
}

int mc_te_open_segment(mc_te_t *te, const char *name, mc_te_segment_t **out)
{
    mc_te_segment_t *seg;
    te_seg_desc_t d;
    int rc;

    if (!te || !name || !out || mc_key_validate(name, strlen(name), MC_TE_NAME_MAX - 1))
        return MC_INVALID_PARAMS;
    pthread_mutex_lock(&te->open_mu);
    seg = find_opened_locked(te, name);
    pthread_mutex_unlock(&te->open_mu);
    if (seg && seg->backend && !atomic_load(&seg->stale)) {
        *out = seg;
        return MC_OK;
    }
    if (seg && !te->http) { /* P2P: nothing to refresh from */
        *out = seg;
        return seg->backend ? MC_OK : MC_SEGMENT_NOT_FOUND;
    }
    rc = fetch_desc(te, name, &d);
    return rc == MC_OK ? install(te, &d, out) : rc;
}

static bool desc_matches(const te_seg_desc_t *d, const mc_te_expect_t *w)
{
    return (!w->uuid || !*w->uuid || strcmp(d->uuid, w->uuid) == 0) &&
           (!w->epoch || d->epoch == w->epoch) &&
           (!w->endpoint || !*w->endpoint || strcmp(d->endpoint, w->endpoint) == 0);
}

int mc_te_open_segment_expect(mc_te_t *te, const char *name, const mc_te_expect_t *want,
                              mc_te_segment_t **out)
{
    mc_te_segment_t *seg;
    te_seg_desc_t d;
    bool ok = false;
    int rc;

    if (!want)
        return mc_te_open_segment(te, name, out);
    if (!te || !name || !out || mc_key_validate(name, strlen(name), MC_TE_NAME_MAX - 1))
        return MC_INVALID_PARAMS;
    pthread_mutex_lock(&te->open_mu);
    seg = find_opened_locked(te, name);
    pthread_mutex_unlock(&te->open_mu);
    if (seg) {
        pthread_mutex_lock(&seg->mu);
        ok = seg->backend && desc_matches(&seg->desc, want);
        pthread_mutex_unlock(&seg->mu);
    }
    if (ok && (!atomic_load(&seg->stale) || !te->http)) {
        *out = seg;
        return MC_OK;
    }
    if (!te->http) /* P2P: nothing to fetch a better one from */
        return seg ? MC_ILLEGAL_CLIENT : MC_SEGMENT_NOT_FOUND;
    if ((rc = fetch_desc(te, name, &d)) != MC_OK)
        return rc;
    if (!desc_matches(&d, want))
        return MC_ILLEGAL_CLIENT;
    return install(te, &d, out);
}

int mc_te_open_segment_desc(mc_te_t *te, const char *json, size_t len, mc_te_segment_t **out)
{
    te_seg_desc_t d;

    if (!te || !json || !out || te_seg_desc_decode(json, len, &d) != MC_OK)
        return MC_INVALID_PARAMS;
    return install(te, &d, out);
}

int mc_te_refresh_segment(mc_te_t *te, mc_te_segment_t *seg)
{
    te_seg_desc_t d;
    int rc;

    if (!te || !seg)
        return MC_INVALID_PARAMS;
    rc = fetch_desc(te, seg->name, &d);
    return rc == MC_OK ? seg_update(te, seg, &d) : rc;
}

uint64_t mc_te_segment_epoch(mc_te_segment_t *s)
{
    uint64_t v;

    pthread_mutex_lock(&s->mu);
    v = s->desc.epoch;
    pthread_mutex_unlock(&s->mu);
    return v;
}

uint64_t mc_te_segment_length(mc_te_segment_t *s)
{
    uint64_t v;

    pthread_mutex_lock(&s->mu);
    v = s->desc.length;
    pthread_mutex_unlock(&s->mu);
    return v;
}

const char *mc_te_segment_protocol(mc_te_segment_t *s)
{
    const char *v;

    pthread_mutex_lock(&s->mu);
    v = s->backend ? s->backend->name : "none";
    pthread_mutex_unlock(&s->mu);
    return v;
}

void te_opened_destroy_all(mc_te_t *te)
{
    mc_te_segment_t *s;

    while ((s = te->opened) != NULL) {
        te->opened = s->next;
        pthread_mutex_destroy(&s->mu);
        free(s);
    }
}
