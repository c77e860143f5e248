/* Batches: validation, slicing, dispatch to the back ends, completion.
 * Completion is O(1) per slice (atomics per request, one counter per batch
 * under batch->mu), so a batch of n requests costs O(n). */
#include "te_internal.h"

#include "mc/errors.h"
#include "mc/mtime.h"
#include "mc/thread.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct mc_te_batch {
    mc_te_t *te;
    size_t cap, n;
    te_req_t *reqs;
    te_slice_t *slices;
    size_t slices_cap;
    pthread_mutex_t mu; /* guards pending; cv signals it reaching 0 */
    pthread_cond_t cv;
    size_t pending;
};

#define SLICE_ALIGN 4096u

int mc_te_batch_create(mc_te_t *te, size_t capacity, mc_te_batch_t **out)
{
    mc_te_batch_t *b;

    if (!te || !out || capacity == 0 || capacity > (1u << 20))
        return MC_INVALID_PARAMS;
    b = calloc(1, sizeof *b);
    if (!b || !(b->reqs = calloc(capacity, sizeof *b->reqs))) {
        free(b);
        return MC_INTERNAL_ERROR;
    }
    b->te = te;
    b->cap = capacity;
    pthread_mutex_init(&b->mu, NULL);
    (void)mc_cond_init_monotonic(&b->cv);
    *out = b;
    return MC_OK;
}

void mc_te_batch_destroy(mc_te_batch_t *b)
{
    if (!b)
        return;
    /* Every slice ends by its deadline (back ends guarantee it): no hang. */
    pthread_mutex_lock(&b->mu);
    while (b->pending > 0)
        pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    free(b->slices);
    free(b->reqs);
    free(b);
}

void te_slice_done(te_slice_t *s, int rc)
{
    te_req_t *r = s->req;
    mc_te_batch_t *b = r->batch;
    int expect = MC_TE_PENDING;

    if (rc != MC_OK) {
        atomic_compare_exchange_strong(&r->status, &expect, rc);
        if (rc == MC_TRANSFER_FAIL || rc == MC_INVALID_VERSION || rc == MC_SEGMENT_NOT_FOUND)
            atomic_store(&r->seg->stale, true); /* next open refetches the descriptor */
    }
    if (atomic_fetch_sub(&r->parts_left, 1) != 1)
        return;
    expect = MC_TE_PENDING;
    atomic_compare_exchange_strong(&r->status, &expect, MC_OK);
    pthread_mutex_lock(&b->mu);
    if (--b->pending == 0)
        pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static int check_request(const mc_te_request_t *q)
{
    if ((q->opcode != MC_TE_READ && q->opcode != MC_TE_WRITE) || !q->seg ||
        (!q->local && q->length))
        return MC_INVALID_PARAMS;
    return MC_OK;
}

/* Snapshot of what request q targets; MC_INVALID_PARAMS when out of range. */
static int target_of(const mc_te_request_t *q, te_target_t *t)
{
    mc_te_segment_t *seg = q->seg;
    int rc = MC_OK;

    pthread_mutex_lock(&seg->mu);
    t->seg = seg;
    t->peer = seg->peer;
    t->seg_id = seg->desc.seg_id;
    t->epoch = q->epoch ? q->epoch : seg->desc.epoch;
    t->backend = seg->backend;
    t->bstate = seg->bstate;
    if (!seg->backend || q->offset > seg->desc.length || q->length > seg->desc.length - q->offset)
        rc = MC_INVALID_PARAMS;
    pthread_mutex_unlock(&seg->mu);
    return rc;
}

/* Fills slices for one request: near-equal, 4 KiB-aligned pieces. Returns the count. */
static size_t cut(const mc_te_request_t *q, const te_target_t *t, te_req_t *r, size_t k,
                  uint64_t deadline, te_slice_t *out)
{
    uint64_t part = k > 1 ? (q->length + k - 1) / k : q->length;
    uint64_t off = 0;
    size_t n = 0;

    if (k > 1)
        part = (part + SLICE_ALIGN - 1) / SLICE_ALIGN * SLICE_ALIGN;
    do {
        te_slice_t *s = &out[n++];
        uint64_t len = q->length - off < part ? q->length - off : part;
        memset(s, 0, sizeof *s);
        s->req = r;
        s->op = (uint8_t)q->opcode;
        s->local = (uint8_t *)q->local + off;
        s->offset = q->offset + off;
        s->length = len;
        s->epoch = t->epoch;
        s->seg_id = t->seg_id;
        s->deadline_ns = deadline;
        off += len;
    } while (off < q->length);
    return n;
}

/* Validates every request and sizes the slice array; *total gets the slice count. */
static int prepare(mc_te_batch_t *b, const mc_te_request_t *reqs, size_t n, te_target_t *tg,
                   size_t *total)
{
    size_t sum = 0;

    for (size_t i = 0; i < n; i++) {
        int rc = check_request(&reqs[i]);
        if (rc == MC_OK)
            rc = target_of(&reqs[i], &tg[i]);
        if (rc != MC_OK)
            return rc;
        sum += tg[i].backend->slice_count(tg[i].bstate, reqs[i].length);
    }
    if (sum > b->slices_cap) {
        te_slice_t *ns = realloc(b->slices, sum * sizeof *ns);
        if (!ns)
            return MC_INTERNAL_ERROR;
        b->slices = ns;
        b->slices_cap = sum;
    }
    *total = sum;
    return MC_OK;
}

int mc_te_submit(mc_te_batch_t *b, const mc_te_request_t *reqs, size_t n)
{
    te_target_t *tg;
    size_t total = 0, used = 0;
    uint64_t deadline;
    int rc;

    if (!b || !reqs || n == 0 || n > b->cap)
        return MC_INVALID_PARAMS;
    pthread_mutex_lock(&b->mu);
    rc = b->pending ? MC_UNAVAILABLE_IN_CURRENT_STATUS : MC_OK;
    pthread_mutex_unlock(&b->mu);
    if (rc != MC_OK)
        return rc;
    if (!(tg = malloc(n * sizeof *tg)))
        return MC_INTERNAL_ERROR;
    rc = prepare(b, reqs, n, tg, &total);
    if (rc != MC_OK) {
        free(tg);
        return rc;
    }
    deadline = mc_now_ns() + (uint64_t)b->te->o.request_timeout_ms * 1000000u;
    pthread_mutex_lock(&b->mu);
    b->n = n;
    b->pending = n; /* before anything can complete */
    pthread_mutex_unlock(&b->mu);
    for (size_t i = 0; i < n; i++) {
        te_req_t *r = &b->reqs[i];
        size_t k = tg[i].backend->slice_count(tg[i].bstate, reqs[i].length);
        size_t got = cut(&reqs[i], &tg[i], r, k, deadline, &b->slices[used]);
        r->batch = b;
        r->seg = reqs[i].seg;
        atomic_store(&r->status, MC_TE_PENDING);
        atomic_store(&r->parts_left, (unsigned)got);
        tg[i].first = &b->slices[used];
        tg[i].count = got;
        used += got;
    }
    for (size_t i = 0; i < n; i++)
        tg[i].backend->submit(tg[i].bstate, &tg[i], tg[i].first, tg[i].count);
    free(tg);
    return MC_OK;
}

int mc_te_status(const mc_te_batch_t *b, size_t i)
{
    if (!b || i >= b->n)
        return MC_INVALID_PARAMS;
    return atomic_load(&b->reqs[i].status);
}

int mc_te_wait(mc_te_batch_t *b, uint64_t timeout_ms)
{
    struct timespec ts;
    uint64_t end;
    int rc = 0;

    if (!b)
        return MC_INVALID_PARAMS;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    end = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    end = timeout_ms > UINT64_MAX / 2000000u ? UINT64_MAX / 2 : end + timeout_ms * 1000000u;
    ts.tv_sec = (time_t)(end / 1000000000u);
    ts.tv_nsec = (long)(end % 1000000000u);
    pthread_mutex_lock(&b->mu);
    while (b->pending > 0 && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&b->cv, &b->mu, &ts);
    rc = b->pending > 0 ? MC_TE_PENDING : MC_OK;
    pthread_mutex_unlock(&b->mu);
    for (size_t i = 0; rc == MC_OK && i < b->n; i++) {
        int st = atomic_load(&b->reqs[i].status);
        if (st != MC_OK)
            rc = st;
    }
    return rc;
}

int mc_te_transfer_sync(mc_te_t *te, mc_te_opcode_t op, void *local, mc_te_segment_t *seg,
                        uint64_t offset, size_t length)
{
    mc_te_request_t q = {
        .opcode = op, .local = local, .seg = seg, .offset = offset, .length = length};
    mc_te_batch_t *b;
    int rc = mc_te_batch_create(te, 1, &b);

    if (rc != MC_OK)
        return rc;
    rc = mc_te_submit(b, &q, 1);
    if (rc == MC_OK)
        rc = mc_te_wait(b, UINT64_MAX);
    mc_te_batch_destroy(b);
    return rc;
}
