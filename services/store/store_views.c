/* Views for local clients (get_buffer, store_service.h): the replica list
 * with a hold at the master for each key, kept by this service's client id
 * until the view is released; the value's place in this service's own
 * segment, which the client reads through its read-only mapping. */
#include "mc/crc32c.h"
#include "mc/errors.h"
#include "store_internal.h"
#include "store_master.h"
#include "store_release.h"

#include <stdlib.h>
#include <string.h>

/* The replica of r in this service's segment at its current epoch, or NULL. */
static const mc_replica_t *own_replica(store_service_t *s, const mc_key_result_t *r)
{
    uint64_t epoch = atomic_load(&s->epoch);

    for (uint32_t j = 0; j < r->n; j++)
        if (r->rep[j].segment && strcmp(r->rep[j].segment, s->name) == 0 &&
            r->rep[j].epoch == epoch && r->rep[j].type == MC_REPLICA_TYPE_MEMORY &&
            r->rep[j].offset <= s->seg.size && r->rep[j].size <= s->seg.size - r->rep[j].offset)
            return &r->rep[j];
    return NULL;
}

/* The view's bytes match the writer's checksum: checked once per replica (a
 * pass over the segment bytes, no copy), remembered after. A mismatch is
 * counted and refused as a view; the client's copy then tries the next
 * replica. Objects without a checksum have nothing to check. */
static bool view_verified(store_service_t *s, const mc_key_result_t *r, const mc_replica_t *own)
{
    store_verified_key_t k = {own->epoch, own->offset, own->size, r->checksum};

    if (r->size != own->size)
        return false; /* not what a put writes: let the copy path judge it */
    if (!r->has_checksum || store_verified_has(s->verified, &k))
        return true;
    if (mc_crc32c(0, (const char *)s->seg.base + own->offset, own->size) != r->checksum) {
        mc_counter_add(s->st.checksum_mismatches, 1);
        return false;
    }
    store_verified_mark(s->verified, &k);
    return true;
}

void store_view_batch(store_service_t *s, size_t n, const char *const *keys, const size_t *key_lens,
                      uint64_t *offsets, uint64_t *sizes, int *codes)
{
    mc_keys_req_t kr = {.client_id = s->client_id,
                        .n = n,
                        .keys = (const char **)(uintptr_t)keys,
                        .key_lens = (size_t *)(uintptr_t)key_lens,
                        .hold = true};
    const char **back = calloc(n ? n : 1, sizeof(*back));
    size_t *back_lens = calloc(n ? n : 1, sizeof(*back_lens));
    mc_results_t res = {0};
    size_t nback = 0;
    int rc;

    if (!back || !back_lens || !s->seg.base) {
        for (size_t i = 0; i < n; i++)
            codes[i] = s->seg.base ? MC_INTERNAL_ERROR : MC_REPLICA_NOT_FOUND;
        free(back);
        free(back_lens);
        return;
    }
    rc = store_master_keys(s->master, STORE_M_GET_REPLICAS, &kr, &res);
    if (rc == MC_CLIENT_NOT_FOUND) { /* not (yet) known to the master: no holds, so no views */
        for (size_t i = 0; i < n; i++)
            codes[i] = MC_REPLICA_NOT_FOUND; /* the client reads a copy */
        free(back);
        free(back_lens);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const mc_replica_t *own;

        offsets[i] = sizes[i] = 0;
        codes[i] = rc != MC_OK ? rc : res.res[i].code;
        if (codes[i] != MC_OK)
            continue;
        if (!(own = own_replica(s, &res.res[i]))) {
            codes[i] = MC_REPLICA_NOT_FOUND; /* elsewhere: the client copies it */
            back[nback] = keys[i];
            back_lens[nback++] = key_lens[i];
            continue;
        }
        if (!view_verified(s, &res.res[i], own)) {
            codes[i] = MC_REPLICA_NOT_FOUND; /* the client copies it: the next replica */
            back[nback] = keys[i];
            back_lens[nback++] = key_lens[i];
            continue;
        }
        offsets[i] = own->offset;
        sizes[i] = res.res[i].size;
    }
    mc_results_cleanup(&res);
    if (nback)
        store_release_now(s->master, s->client_id, nback, back, back_lens, NULL); /* no view */
    free(back);
    free(back_lens);
}

void store_view_renew(store_service_t *s, size_t n, const char *const *keys, const size_t *key_lens)
{
    mc_keys_req_t kr = {.client_id = s->client_id,
                        .n = n,
                        .keys = (const char **)(uintptr_t)keys,
                        .key_lens = (size_t *)(uintptr_t)key_lens,
                        .hold = true};
    const char **again = calloc(n ? n : 1, sizeof(*again));
    size_t *again_lens = calloc(n ? n : 1, sizeof(*again_lens));
    mc_results_t res = {0};
    size_t m = 0;

    if (again && again_lens &&
        store_master_keys(s->master, STORE_M_GET_REPLICAS, &kr, &res) == MC_OK)
        for (size_t i = 0; i < n; i++)
            if (res.res[i].code == MC_OK) { /* one hold more: give it back */
                again[m] = keys[i];
                again_lens[m++] = key_lens[i];
            }
    mc_results_cleanup(&res);
    if (m)
        store_release_now(s->master, s->client_id, m, again, again_lens, NULL);
    free(again);
    free(again_lens);
}

void store_view_release(store_service_t *s, size_t n, const char *const *keys,
                        const size_t *key_lens, int *codes)
{
    store_release_now(s->master, s->client_id, n, keys, key_lens, codes);
}
