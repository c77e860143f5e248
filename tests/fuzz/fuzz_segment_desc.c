/* The segment descriptor decoder (libs/transport/transfer/src/segment_desc.c),
 * as mc_te_open_segment runs it on a body from the metadata server and
 * mc_te_open_segment_desc on one handed over by a peer. It must return a
 * code, never crash, and on MC_OK hand back a descriptor within its caps
 * that encodes and decodes back to itself. */
#include "segment_desc.h"

#include "mc/errors.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const te_seg_desc_t *d)
{
    if (strnlen(d->name, sizeof d->name) == sizeof d->name || d->name[0] == '\0' ||
        strnlen(d->endpoint, sizeof d->endpoint) == sizeof d->endpoint || d->seg_id == 0 ||
        strnlen(d->uuid, sizeof d->uuid) == sizeof d->uuid || d->epoch == 0 ||
        (!d->tcp && !d->rdma) || d->n_devices > MC_TE_MAX_DEVICES ||
        (d->rdma && d->n_devices == 0) || (!d->rdma && d->n_devices != 0))
        abort();
    for (unsigned i = 0; i < d->n_devices; i++)
        if (strnlen(d->devices[i].name, sizeof d->devices[i].name) == sizeof d->devices[i].name ||
            strnlen(d->devices[i].gid, sizeof d->devices[i].gid) == sizeof d->devices[i].gid)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static te_seg_desc_t d, again;
    char *json;
    size_t len;

    if (te_seg_desc_decode((const char *)data, size, &d) != MC_OK)
        return 0;
    check(&d);
    json = te_seg_desc_encode_take(&d, &len);
    if (!json)
        return 0;
    if (te_seg_desc_decode(json, len, &again) != MC_OK || memcmp(&d, &again, sizeof d) != 0)
        abort(); /* what we publish must read back as the same descriptor */
    free(json);
    return 0;
}
