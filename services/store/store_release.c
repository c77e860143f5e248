/* The hold-release queue (store_release.h). */
#include "store_release.h"

#include "mc/errors.h"
#include "mc/limits.h"
#include "mc/thread.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MAX_QUEUED (1u << 20) /* keys waiting; past it a get releases synchronously */

struct store_releaser {
    store_master_t *master;
    mc_uuid_t client_id;
    pthread_t thread;
    mc_mutex_t mu; /* guards the fields below */
    pthread_cond_t cv;
    char **keys MC_GUARDED_BY(mu);
    size_t *lens MC_GUARDED_BY(mu);
    size_t n MC_GUARDED_BY(mu), cap MC_GUARDED_BY(mu);
    uint64_t queued MC_GUARDED_BY(mu), sent MC_GUARDED_BY(mu); /* keys, for flush */
    bool stop MC_GUARDED_BY(mu);
};

int store_release_now(store_master_t *master, mc_uuid_t client, size_t n, const char *const *keys,
                      const size_t *lens, int *codes)
{
    mc_keys_req_t req = {.client_id = client,
                         .n = n,
                         .keys = (const char **)(uintptr_t)keys,
                         .key_lens = (size_t *)(uintptr_t)lens};
    mc_results_t ans = {0};
    int rc = store_master_keys(master, STORE_M_RELEASE, &req, &ans);

    for (size_t i = 0; codes && i < n; i++)
        codes[i] = rc != MC_OK ? rc : ans.res[i].code;
    mc_results_cleanup(&ans);
    return rc;
}

static void send_batch(store_releaser_t *r, char **keys, size_t *lens, size_t n)
{
    static _Thread_local const char *ck[MC_MAX_BATCH_KEYS];

    for (size_t i = 0; i < n; i++)
        ck[i] = keys[i];
    (void)store_release_now(r->master, r->client_id, n, ck, lens, NULL);
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
}

static void *release_main(void *arg)
{
    store_releaser_t *r = arg;
    char *keys[MC_MAX_BATCH_KEYS];
    size_t lens[MC_MAX_BATCH_KEYS];

    mc_mutex_lock(&r->mu);
    for (;;) {
        size_t n;

        while (r->n == 0 && !r->stop)
            mc_cond_wait(&r->cv, &r->mu);
        if (r->n == 0 && r->stop)
            break;
        n = r->n < MC_MAX_BATCH_KEYS ? r->n : MC_MAX_BATCH_KEYS;
        memcpy(keys, r->keys + r->n - n, n * sizeof(*keys)); /* from the end: no shifting */
        memcpy(lens, r->lens + r->n - n, n * sizeof(*lens));
        r->n -= n;
        mc_mutex_unlock(&r->mu);
        send_batch(r, keys, lens, n);
        mc_mutex_lock(&r->mu);
        r->sent += n;
        pthread_cond_broadcast(&r->cv);
    }
    mc_mutex_unlock(&r->mu);
    return NULL;
}

store_releaser_t *store_releaser_create(store_master_t *master, mc_uuid_t client_id)
{
    store_releaser_t *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    r->master = master;
    r->client_id = client_id;
    mc_mutex_init(&r->mu);
    pthread_cond_init(&r->cv, NULL);
    if (pthread_create(&r->thread, NULL, release_main, r) != 0) {
        pthread_cond_destroy(&r->cv);
        mc_mutex_destroy(&r->mu);
        free(r);
        return NULL;
    }
    return r;
}

void store_releaser_destroy(store_releaser_t *r)
{
    if (!r)
        return;
    mc_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_broadcast(&r->cv);
    mc_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL); /* it sends what is queued first */
    mc_mutex_lock(&r->mu);
    free(r->keys);
    free(r->lens);
    mc_mutex_unlock(&r->mu);
    pthread_cond_destroy(&r->cv);
    mc_mutex_destroy(&r->mu);
    free(r);
}

int store_release_later(store_releaser_t *r, size_t n, const char *const *keys, const size_t *lens)
{
    int rc = MC_OK;

    mc_mutex_lock(&r->mu);
    if (r->n + n > MAX_QUEUED) {
        rc = MC_INTERNAL_ERROR;
    } else if (r->n + n > r->cap) {
        size_t cap = r->cap ? r->cap : 1024;
        char **k;
        size_t *l;

        while (cap < r->n + n)
            cap *= 2;
        k = realloc(r->keys, cap * sizeof(*k));
        if (k)
            r->keys = k;
        l = k ? realloc(r->lens, cap * sizeof(*l)) : NULL;
        if (l) {
            r->lens = l;
            r->cap = cap;
        } else {
            rc = MC_INTERNAL_ERROR;
        }
    }
    /* all or nothing: a caller that gets an error releases every key itself,
     * and a release sent twice would drop another reader's hold */
    for (size_t i = 0; rc == MC_OK && i < n; i++) {
        char *copy = malloc(lens[i] ? lens[i] : 1);

        if (!copy) {
            while (i-- > 0)
                free(r->keys[r->n + i]);
            rc = MC_INTERNAL_ERROR;
            break;
        }
        memcpy(copy, keys[i], lens[i]);
        r->keys[r->n + i] = copy;
        r->lens[r->n + i] = lens[i];
    }
    if (rc == MC_OK) {
        r->n += n;
        r->queued += n;
    }
    pthread_cond_broadcast(&r->cv);
    mc_mutex_unlock(&r->mu);
    return rc;
}

void store_release_flush(store_releaser_t *r)
{
    uint64_t target;

    mc_mutex_lock(&r->mu);
    target = r->queued;
    while (r->sent < target)
        mc_cond_wait(&r->cv, &r->mu);
    mc_mutex_unlock(&r->mu);
}
