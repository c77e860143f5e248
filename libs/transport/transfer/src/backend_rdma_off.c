/* The RDMA back end of a build without libibverbs (-DMC_WITH_RDMA=OFF): its
 * init refuses with the reason, so protocol "rdma" fails at start-up and
 * the engine never holds RDMA state (every other entry is unreachable and
 * answers as for an absent device). */
#include "te_internal.h"

#include "mc/errors.h"

static int off_init(mc_te_t *te, void **state)
{
    *state = NULL;
    return mc_fail(te->create_err, MC_TRANSFER_FAIL,
                   "RDMA support not built in (MC_WITH_RDMA=OFF); use protocol \"tcp\"");
}

static void off_fini(void *state)
{
    (void)state;
}

static int off_reg(void *state, void *addr, size_t len)
{
    (void)state, (void)addr, (void)len;
    return MC_TRANSFER_FAIL;
}

static void off_unreg(void *state, void *addr)
{
    (void)state, (void)addr;
}

static void off_describe(void *state, const void *addr, uint64_t len, te_seg_desc_t *d)
{
    (void)state, (void)addr, (void)len, (void)d;
}

static bool off_reaches(void *state, const te_seg_desc_t *d)
{
    (void)state, (void)d;
    return false;
}

static int off_open(void *state, const te_seg_desc_t *d, void **peer)
{
    (void)state, (void)d;
    *peer = NULL;
    return MC_TRANSFER_FAIL;
}

static size_t off_slice_count(void *state, uint64_t length)
{
    (void)state, (void)length;
    return 1;
}

static void off_submit(void *state, const te_target_t *t, te_slice_t *slices, size_t n)
{
    (void)state, (void)t, (void)slices, (void)n;
}

const te_backend_t te_backend_rdma = {
    .name = "rdma",
    .init = off_init,
    .fini = off_fini,
    .reg = off_reg,
    .unreg = off_unreg,
    .describe = off_describe,
    .reaches = off_reaches,
    .open = off_open,
    .slice_count = off_slice_count,
    .submit = off_submit,
};
