/* A small pool of I/O threads, so a writer copies the next piece of a batch
 * into one half of its staging buffer while the other half is being
 * written, and a bounced read copies one piece out while the next is read.
 * Jobs go through the same file ops (the fault seam) as synchronous I/O.
 * Lock rules: q->mu guards the queue and every job's rc/done; nothing else. */
#include <stdlib.h>

#include "mc/errors.h"
#include "ssd_internal.h"

static void *worker(void *arg)
{
    mc_ssd_t *s = arg;
    ssd_ioq_t *q = &s->ioq;
    mc_mutex_lock(&q->mu);
    for (;;) {
        while (!q->stop && !q->head)
            mc_cond_wait(&q->work, &q->mu);
        if (!q->head)
            break; /* stopping, nothing queued */
        ssd_job_t *j = q->head;
        q->head = j->next;
        if (!q->head)
            q->tail = NULL;
        mc_mutex_unlock(&q->mu);
        int rc = ssd_io_full(s, j->fd, j->iov, j->n, j->off, j->write);
        mc_mutex_lock(&q->mu);
        j->rc = rc;
        j->done = true;
        pthread_cond_broadcast(&q->done);
    }
    mc_mutex_unlock(&q->mu);
    return NULL;
}

int ssd_ioq_start(mc_ssd_t *s)
{
    ssd_ioq_t *q = &s->ioq;
    mc_mutex_init(&q->mu);
    pthread_cond_init(&q->work, NULL);
    pthread_cond_init(&q->done, NULL);
    q->inited = true;
    for (int i = 0; i < SSD_IO_THREADS; i++) {
        if (pthread_create(&q->th[i], NULL, worker, s) != 0)
            return MC_INTERNAL_ERROR;
        q->nth++;
    }
    return MC_OK;
}

void ssd_ioq_stop(mc_ssd_t *s)
{
    ssd_ioq_t *q = &s->ioq;
    if (!q->inited)
        return;
    mc_mutex_lock(&q->mu);
    q->stop = true;
    pthread_cond_broadcast(&q->work);
    mc_mutex_unlock(&q->mu);
    for (int i = 0; i < q->nth; i++)
        pthread_join(q->th[i], NULL);
    mc_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->work);
    pthread_cond_destroy(&q->done);
    q->inited = false;
}

void ssd_job_submit(mc_ssd_t *s, ssd_job_t *j)
{
    ssd_ioq_t *q = &s->ioq;
    j->done = false;
    j->next = NULL;
    mc_mutex_lock(&q->mu);
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    pthread_cond_signal(&q->work);
    mc_mutex_unlock(&q->mu);
}

int ssd_job_wait(mc_ssd_t *s, ssd_job_t *j)
{
    ssd_ioq_t *q = &s->ioq;
    mc_mutex_lock(&q->mu);
    while (!j->done)
        mc_cond_wait(&q->done, &q->mu);
    int rc = j->rc;
    mc_mutex_unlock(&q->mu);
    return rc;
}
