/* In-process back end: the target segment belongs to this engine, so a
 * request is one memcpy, done in the submitting thread, with the same epoch
 * and range checks the TCP server applies. */
#include "te_internal.h"

#include "mc/errors.h"

#include <string.h>

static int mem_init(mc_te_t *te, void **state)
{
    *state = te;
    return MC_OK;
}

static void mem_fini(void *state)
{
}

/* A segment of this engine: its descriptor names this engine's endpoint. */
static bool mem_reaches(void *state, const te_seg_desc_t *d)
{
    return strcmp(d->endpoint, mc_te_endpoint(state)) == 0;
}

static int mem_open(void *state, const te_seg_desc_t *d, void **peer)
{
    *peer = NULL;
    return MC_OK;
}

static size_t mem_slice_count(void *state, uint64_t length)
{
    return 1;
}

static void mem_submit(void *state, const te_target_t *t, te_slice_t *sl, size_t n)
{
    mc_te_t *te = state;

    for (size_t i = 0; i < n; i++) {
        te_slice_t *s = &sl[i];
        te_local_seg_t *ls = te_local_seg_get(te, s->seg_id);
        int rc = ls ? te_local_seg_check(ls, s->epoch, s->offset, s->length) : MC_SEGMENT_NOT_FOUND;

        if (rc == MC_OK && s->length) {
            if (s->op == MC_TE_WRITE)
                memmove(ls->base + s->offset, s->local, (size_t)s->length);
            else
                memmove(s->local, ls->base + s->offset, (size_t)s->length);
        }
        if (ls)
            te_local_seg_put(te, ls);
        te_slice_done(s, rc);
    }
}

const te_backend_t te_backend_mem = {
    .name = "mem",
    .init = mem_init,
    .fini = mem_fini,
    .reaches = mem_reaches,
    .open = mem_open,
    .slice_count = mem_slice_count,
    .submit = mem_submit,
};
