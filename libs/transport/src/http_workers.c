/* The handler pool (http_workers.h). */
#include "http_workers.h"

#include "mc/thread.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct job_node {
    struct job_node *next;
    void *job;
} job_node_t;

struct http_workers {
    http_job_fn fn;
    unsigned n;
    pthread_t *threads;
    mc_mutex_t mu; /* guards the fields below; cv signals a job or stop */
    pthread_cond_t cv;
    job_node_t *head MC_GUARDED_BY(mu), *tail MC_GUARDED_BY(mu);
    size_t pending MC_GUARDED_BY(mu); /* queued + running */
    bool stop MC_GUARDED_BY(mu);
};

static void *worker_main(void *arg)
{
    http_workers_t *w = arg;

    for (;;) {
        job_node_t *j;

        mc_mutex_lock(&w->mu);
        while (!w->head && !w->stop)
            mc_cond_wait(&w->cv, &w->mu);
        if (w->stop) { /* jobs still queued are cancelled by destroy, not run */
            mc_mutex_unlock(&w->mu);
            return NULL;
        }
        j = w->head;
        w->head = j->next;
        if (!w->head)
            w->tail = NULL;
        mc_mutex_unlock(&w->mu);
        w->fn(j->job, false);
        free(j);
        mc_mutex_lock(&w->mu);
        w->pending--;
        mc_mutex_unlock(&w->mu);
    }
}

http_workers_t *http_workers_create(unsigned n, http_job_fn fn)
{
    http_workers_t *w = calloc(1, sizeof(*w));

    if (!w || !(w->threads = calloc(n ? n : 1, sizeof(pthread_t)))) {
        free(w);
        return NULL;
    }
    w->fn = fn;
    mc_mutex_init(&w->mu);
    pthread_cond_init(&w->cv, NULL);
    for (; w->n < n; w->n++)
        if (pthread_create(&w->threads[w->n], NULL, worker_main, w) != 0) {
            http_workers_destroy(w);
            return NULL;
        }
    return w;
}

bool http_workers_push(http_workers_t *w, void *job)
{
    job_node_t *j = malloc(sizeof(*j));
    bool ok;

    if (!j)
        return false;
    j->next = NULL;
    j->job = job;
    mc_mutex_lock(&w->mu);
    ok = !w->stop;
    if (ok) {
        if (w->tail)
            w->tail->next = j;
        else
            w->head = j;
        w->tail = j;
        w->pending++;
        pthread_cond_signal(&w->cv);
    }
    mc_mutex_unlock(&w->mu);
    if (!ok)
        free(j);
    return ok;
}

size_t http_workers_pending(http_workers_t *w)
{
    size_t n;

    mc_mutex_lock(&w->mu);
    n = w->pending;
    mc_mutex_unlock(&w->mu);
    return n;
}

void http_workers_stop(http_workers_t *w)
{
    job_node_t *left;
    unsigned n;

    if (!w)
        return;
    mc_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cv);
    n = w->n;
    w->n = 0; /* joined once */
    mc_mutex_unlock(&w->mu);
    for (unsigned i = 0; i < n; i++)
        pthread_join(w->threads[i], NULL);
    mc_mutex_lock(&w->mu);
    left = w->head;
    w->head = w->tail = NULL;
    mc_mutex_unlock(&w->mu);
    while (left) {
        job_node_t *next = left->next;
        w->fn(left->job, true);
        free(left);
        left = next;
        mc_mutex_lock(&w->mu);
        w->pending--;
        mc_mutex_unlock(&w->mu);
    }
}

void http_workers_destroy(http_workers_t *w)
{
    if (!w)
        return;
    http_workers_stop(w);
    pthread_cond_destroy(&w->cv);
    mc_mutex_destroy(&w->mu);
    free(w->threads);
    free(w);
}
