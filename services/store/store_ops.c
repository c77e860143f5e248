/* Put, get and the pass-through calls: decode the master's batch answer,
 * plan with the core, move bytes (memcpy on our segment, the transfer engine
 * elsewhere), finish with the master. */
#include "store_internal.h"
#include "store_release.h"
#include "store_ssd.h"

#include "mc/crc32c.h"
#include "mc/errors.h"
#include "mc/log.h"
#include "mc/mtime.h"
#include "mc/strutil.h"

#include <stdlib.h>
#include <string.h>

/* Per-batch scratch: the master's answers and the request arrays. */
typedef struct batch {
    size_t n;      /* keys sent to the master */
    size_t total;  /* keys of the caller's call */
    uint32_t *idx; /* batch position -> caller's index */
    const char **keys;
    size_t *lens;
    uint64_t *sizes;
    mc_results_t ans;    /* the master's answer, one result per key */
    bool no_hold;        /* GET_REPLICAS without a hold (the master does not know us) */
    const char *segment; /* REPLICA_CLEAR: the segment (NULL = all) */
    uint32_t *csums;     /* PUT_END: each value's CRC32C */
} batch_t;

static void batch_cleanup(batch_t *b)
{
    free(b->idx);
    free(b->keys);
    free(b->lens);
    free(b->sizes);
    free(b->csums);
    mc_results_cleanup(&b->ans);
    memset(b, 0, sizeof(*b));
}

static void fill_codes(int *codes, size_t n, int code)
{
    for (size_t i = 0; codes && i < n; i++)
        codes[i] = code;
}

/* Validates the keys (and sizes, when given: 0 is INVALID_PARAMS) and
 * collects the good ones into b; codes of the bad ones are set, of the good
 * ones MC_OK. Returns MC_OK, or a whole-batch error. */
static int batch_init(batch_t *b, size_t n, const char *const *keys, const size_t *lens,
                      const uint64_t *sizes, int *codes)
{
    memset(b, 0, sizeof(*b));
    if (n == 0 || n > MC_MSG_MAX_BATCH || !keys || !lens)
        return MC_INVALID_PARAMS;
    b->idx = malloc(n * sizeof(*b->idx));
    b->keys = malloc(n * sizeof(*b->keys));
    b->lens = malloc(n * sizeof(*b->lens));
    b->sizes = malloc(n * sizeof(*b->sizes));
    b->total = n;
    if (!b->idx || !b->keys || !b->lens || !b->sizes) {
        batch_cleanup(b);
        return MC_INTERNAL_ERROR;
    }
    for (size_t i = 0; i < n; i++) {
        codes[i] =
            mc_key_validate(keys[i], lens[i], MC_MAX_KEY_LEN) == MC_OK ? MC_OK : MC_INVALID_KEY;
        if (codes[i] == MC_OK && sizes && sizes[i] == 0)
            codes[i] = MC_INVALID_PARAMS;
        if (codes[i] != MC_OK)
            continue;
        b->idx[b->n] = (uint32_t)i;
        b->keys[b->n] = keys[i];
        b->lens[b->n] = lens[i];
        b->sizes[b->n] = sizes ? sizes[i] : 0;
        b->n++;
    }
    return MC_OK;
}

/* One master round trip for the collected keys; b->ans gets the answer. */
static int batch_call(store_service_t *s, batch_t *b, store_master_call_t call, bool with_sizes,
                      const mc_replicate_cfg_t *cfg, bool force_or_upsert)
{
    mc_keys_req_t req = {.client_id = s->client_id,
                         .hold = call == STORE_M_GET_REPLICAS && !b->no_hold,
                         .n = b->n,
                         .keys = b->keys,
                         .key_lens = b->lens,
                         .sizes = with_sizes ? b->sizes : NULL,
                         .has_config = cfg != NULL,
                         .force = force_or_upsert && call != STORE_M_PUT_START,
                         .upsert = force_or_upsert && call == STORE_M_PUT_START,
                         .segment_name = b->segment,
                         .checksums = call == STORE_M_PUT_END ? b->csums : NULL};
    if (cfg)
        req.config = *cfg;
    mc_results_cleanup(&b->ans);
    return store_master_keys(s->master, call, &req, &b->ans);
}

/* The peers one round of copies waits on, each entered in the gate once. */
typedef struct gate_round {
    const char **name;
    bool *ok;
    size_t n, cap;
    bool active; /* a REST pool thread (store_get_sink_t / store_put_opts_t shed_stalled) */
} gate_round_t;

static bool gate_init(gate_round_t *g, size_t cap, bool active)
{
    *g = (gate_round_t){.cap = cap ? cap : 1, .active = active};
    if (!active)
        return true; /* the local clients' own threads: nothing to track */
    g->name = calloc(g->cap, sizeof(*g->name));
    g->ok = calloc(g->cap, sizeof(*g->ok));
    return g->name && g->ok;
}

static size_t gate_find(const gate_round_t *g, const char *seg)
{
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->name[i], seg) == 0)
            return i;
    return g->n;
}

/* May this round wait on seg? Entered on first sight. */
static bool gate_admit(store_service_t *s, gate_round_t *g, const char *seg)
{
    size_t i = gate_find(g, seg ? seg : "");

    if (!g->active)
        return true;
    if (i < g->n)
        return g->ok[i];
    if (g->n == g->cap)
        return true; /* cannot happen: one entry per copy at most */
    g->name[i] = seg ? seg : "";
    g->ok[i] = store_peer_enter(s->peers, g->name[i], STORE_PEER_WAIT_MS);
    g->n++;
    if (!g->ok[i])
        mc_counter_add(s->st.peer_refusals, 1);
    return g->ok[i];
}

/* After the round: each peer entered is left. */
static void gate_leave(store_service_t *s, gate_round_t *g)
{
    for (size_t i = 0; i < g->n; i++)
        if (g->ok[i])
            store_peer_leave(s->peers, g->name[i]);
    g->n = 0;
}

static void gate_free(gate_round_t *g)
{
    free(g->name);
    free(g->ok);
}

/* Adds a transfer request for replica rep of a copy; on failure to open the
 * segment the copy's status is set and nothing is added. */
static void add_remote(store_service_t *s, const mc_replica_t *rep, mc_te_opcode_t op, void *local,
                       store_copy_t *c, mc_te_request_t *reqs, size_t *nreq, size_t *req_copy,
                       size_t copy_i)
{
    mc_te_segment_t *seg = NULL;
    char uuid[MC_UUID_STR_LEN];
    /* only the segment the master knows: a descriptor planted or replaced on
     * the metadata server under its name is refused (docs/security.md) */
    mc_te_expect_t want = {.uuid = mc_uuid_format(rep->segment_id, uuid),
                           .epoch = rep->epoch,
                           .endpoint = rep->endpoint};
    int rc = mc_te_open_segment_expect(s->te, rep->segment, &want, &seg);

    if (rc == MC_ILLEGAL_CLIENT)
        mc_counter_add(s->st.descriptor_refusals, 1);
    if (rc != MC_OK) {
        c->status = MC_TRANSFER_FAIL;
        return;
    }
    reqs[*nreq] = (mc_te_request_t){.opcode = op,
                                    .local = local,
                                    .seg = seg,
                                    .offset = rep->offset,
                                    .length = rep->size,
                                    .epoch = rep->epoch};
    req_copy[(*nreq)++] = copy_i;
}

/* Submits reqs and waits up to timeout_ms; copies' statuses get each
 * request's outcome (still MC_TE_PENDING after the wait = timed out). The
 * batch is destroyed here, which waits for stragglers (each bounded by the
 * engine's request timeout) so local buffers may be freed afterwards. */
typedef struct transfers {
    mc_te_batch_t *tb;
    int rc;
} transfers_t;

/* Submits reqs (nothing when nreq is 0); transfers_finish waits for them. */
static transfers_t transfers_start(store_service_t *s, mc_te_request_t *reqs, size_t nreq)
{
    transfers_t t = {NULL, MC_OK};

    if (nreq == 0)
        return t;
    t.rc = mc_te_batch_create(s->te, nreq, &t.tb);
    if (t.rc == MC_OK)
        t.rc = mc_te_submit(t.tb, reqs, nreq);
    return t;
}

static void transfers_finish(store_service_t *s, transfers_t t, size_t nreq, const size_t *req_copy,
                             store_copy_t *copies, uint64_t timeout_ms)
{
    mc_te_batch_t *tb = t.tb;
    int rc = t.rc;

    if (nreq == 0)
        return;
    if (rc == MC_OK)
        mc_te_wait(tb, timeout_ms);
    for (size_t i = 0; i < nreq; i++) {
        int st = rc == MC_OK ? mc_te_status(tb, i) : rc;
        copies[req_copy[i]].status = st;
        if (st != MC_OK)
            mc_counter_add(s->st.transfer_errors, 1);
    }
    mc_te_batch_destroy(tb);
}

static void run_transfers(store_service_t *s, mc_te_request_t *reqs, size_t nreq,
                          const size_t *req_copy, store_copy_t *copies, uint64_t timeout_ms)
{
    transfers_finish(s, transfers_start(s, reqs, nreq), nreq, req_copy, copies, timeout_ms);
}

/* ---------------- put ---------------- */

/* Writes every planned copy: remote ones are started first, local copies
 * run while they are in flight. csum[i] gets the CRC32C of key i's value,
 * computed in the same pass as its local copy (or, with only remote
 * replicas, over the source while the writes are in flight). */
static void put_write(store_service_t *s, const batch_t *b, const void *const *values,
                      store_copy_t *copies, size_t nc, store_put_key_t *pk, uint32_t *csum,
                      bool shed_stalled)
{
    bool *done = calloc(b->n ? b->n : 1, sizeof(*done));
    mc_te_request_t *reqs = calloc(nc ? nc : 1, sizeof(*reqs));
    size_t *req_copy = calloc(nc ? nc : 1, sizeof(*req_copy));
    gate_round_t gate;
    bool ok = gate_init(&gate, nc, shed_stalled) && done && reqs && req_copy;
    size_t nreq = 0;
    transfers_t t;

    for (size_t i = 0; !ok && i < nc; i++)
        copies[i].status = MC_INTERNAL_ERROR;
    for (size_t i = 0; ok && i < nc; i++) {
        store_copy_t *c = &copies[i];
        const mc_replica_t *rep = &b->ans.res[c->key].rep[c->replica];
        void *src = (void *)(uintptr_t)values[b->idx[c->key]]; /* WRITE only reads it */
        if (c->where != STORE_AT_REMOTE)
            continue;
        if (!gate_admit(s, &gate, rep->segment)) {
            c->status = MC_TRANSFER_FAIL; /* a stalled peer: written elsewhere (put_retry) */
            continue;
        }
        add_remote(s, rep, MC_TE_WRITE, src, c, reqs, &nreq, req_copy, i);
    }
    t = transfers_start(s, reqs, nreq);
    /* local copies overlap with the remote ones in flight */
    for (size_t i = 0; ok && i < nc; i++) {
        store_copy_t *c = &copies[i];
        const mc_replica_t *rep = &b->ans.res[c->key].rep[c->replica];
        if (c->where != STORE_AT_LOCAL)
            continue;
        csum[c->key] =
            mc_crc32c_copy(0, (char *)s->seg.base + rep->offset, values[b->idx[c->key]], rep->size);
        store_verified_mark(
            s->verified, &(store_verified_key_t){rep->epoch, rep->offset, rep->size, csum[c->key]});
        done[c->key] = true;
        c->status = MC_OK;
    }
    for (size_t i = 0; ok && i < b->n; i++)
        if (!done[i] && pk[i].state == STORE_PUT_WRITING)
            csum[i] = mc_crc32c(0, values[b->idx[i]], b->sizes[i]);
    transfers_finish(s, t, nreq, req_copy, copies, (uint64_t)s->data_timeout_ms + 1000);
    gate_leave(s, &gate);
    for (size_t i = 0; i < nc; i++)
        store_put_copy_done(&pk[copies[i].key],
                            copies[i].status == MC_OK ? MC_OK : MC_TRANSFER_FAIL);
    gate_free(&gate);
    free(done);
    free(reqs);
    free(req_copy);
}

/* put_end for the keys whose copies all succeeded, put_revoke for the other
 * started ones. A failed put_end turns into the key's error. */
static void put_finish(store_service_t *s, batch_t *b, store_put_key_t *pk, const uint32_t *csum)
{
    batch_t sub[2] = {{0}}; /* 0: end, 1: revoke */
    static const store_master_call_t call[2] = {STORE_M_PUT_END, STORE_M_PUT_REVOKE};

    for (int w = 0; w < 2; w++) {
        sub[w].idx = malloc(b->n * sizeof(uint32_t));
        sub[w].keys = malloc(b->n * sizeof(char *));
        sub[w].lens = malloc(b->n * sizeof(size_t));
    }
    sub[0].csums = malloc(b->n * sizeof(uint32_t));
    for (size_t i = 0; i < b->n; i++) {
        int w;
        if (pk[i].state != STORE_PUT_WRITING)
            continue;
        w = store_put_should_end(&pk[i]) ? 0 : 1;
        if (!sub[w].idx || !sub[w].keys || !sub[w].lens || (w == 0 && !sub[0].csums)) {
            pk[i].code = MC_INTERNAL_ERROR; /* the master reclaims it after its timeout */
            continue;
        }
        if (w == 0)
            sub[0].csums[sub[0].n] = csum[i];
        sub[w].idx[sub[w].n] = (uint32_t)i;
        sub[w].keys[sub[w].n] = b->keys[i];
        sub[w].lens[sub[w].n++] = b->lens[i];
    }
    for (int w = 0; w < 2; w++) {
        int rc = sub[w].n ? batch_call(s, &sub[w], call[w], false, NULL, false) : MC_OK;
        for (size_t j = 0; w == 0 && j < sub[w].n; j++) {
            int code = rc != MC_OK ? rc : sub[w].ans.res[j].code;
            if (code != MC_OK)
                pk[sub[w].idx[j]].code = code;
        }
        if (rc != MC_OK && w == 1)
            MC_WARN("put_revoke of %zu keys failed: %s", sub[w].n, mc_err_name(rc));
        batch_cleanup(&sub[w]);
    }
}

/* Reports each segment a remote write failed on (once per call) and marks
 * the keys that failed only for such a write in retry[]; returns how many. */
static size_t report_failures(store_service_t *s, const batch_t *b, const store_copy_t *copies,
                              size_t nc, const store_put_key_t *pk, bool *retry)
{
    mc_uuid_t done[MC_MAX_REPLICAS * 4];
    size_t ndone = 0, n = 0;

    for (size_t i = 0; i < nc; i++) {
        const store_copy_t *c = &copies[i];
        const mc_replica_t *rep = &b->ans.res[c->key].rep[c->replica];
        bool seen = false;

        if (c->where != STORE_AT_REMOTE || c->status == MC_OK)
            continue;
        for (size_t j = 0; j < ndone && !seen; j++)
            seen = mc_uuid_equal(done[j], rep->segment_id);
        if (!seen && ndone < sizeof(done) / sizeof(done[0])) {
            done[ndone++] = rep->segment_id;
            store_master_report_failure(s->master, s->client_id, rep->segment_id, rep->epoch);
            mc_counter_add(s->st.failures_reported, 1);
        }
        retry[c->key] = true;
    }
    for (size_t i = 0; i < b->n; i++) {
        retry[i] = retry[i] && pk[i].code == MC_TRANSFER_FAIL;
        n += retry[i];
    }
    return n;
}

static int put_run(store_service_t *s, batch_t *b, const void *const *values,
                   const store_put_opts_t *opts, int *codes, bool may_retry);

/* Puts the keys marked in retry[] again, once: the master places nothing on
 * the segments just reported, so a dead peer costs one failed write. */
static void put_retry(store_service_t *s, const batch_t *b, const bool *retry, size_t n,
                      const void *const *values, const store_put_opts_t *opts, int *codes)
{
    batch_t r = {0};

    r.idx = malloc(n * sizeof(*r.idx));
    r.keys = malloc(n * sizeof(*r.keys));
    r.lens = malloc(n * sizeof(*r.lens));
    r.sizes = malloc(n * sizeof(*r.sizes));
    if (r.idx && r.keys && r.lens && r.sizes) {
        for (size_t i = 0; i < b->n; i++) {
            if (!retry[i])
                continue;
            r.idx[r.n] = b->idx[i];
            r.keys[r.n] = b->keys[i];
            r.lens[r.n] = b->lens[i];
            r.sizes[r.n++] = b->sizes[i];
        }
        r.total = b->total;
        mc_counter_add(s->st.put_retries, r.n);
        if (put_run(s, &r, values, opts, codes, false) != MC_OK)
            for (size_t i = 0; i < r.n; i++)
                codes[r.idx[i]] = MC_TRANSFER_FAIL; /* the first attempt's outcome */
    }
    batch_cleanup(&r);
}

static int put_run(store_service_t *s, batch_t *b, const void *const *values,
                   const store_put_opts_t *opts, int *codes, bool may_retry)
{
    mc_replicate_cfg_t cfg = {.replica_num = opts ? opts->replica_num : 1,
                              .soft_pin = opts && opts->soft_pin,
                              .hard_pin = opts && opts->hard_pin};
    store_local_seg_t local = store_local_view(s);
    store_put_key_t *pk = calloc(b->n, sizeof(*pk));
    store_copy_t *copies = calloc(b->n * MC_MAX_REPLICAS, sizeof(*copies));
    bool *retry = calloc(b->n, sizeof(*retry));
    uint32_t *csum = calloc(b->n, sizeof(*csum));
    uint64_t t0 = mc_now_ns(), t1;
    size_t nc = 0, n_retry = 0;
    int rc = MC_INTERNAL_ERROR;

    if (opts && opts->preferred) {
        cfg.preferred[0] = opts->preferred;
        cfg.n_preferred = 1;
    }
    if (!pk || !copies || !retry || !csum ||
        (rc = batch_call(s, b, STORE_M_PUT_START, true, &cfg, opts && opts->upsert)) != MC_OK)
        goto out;
    t1 = mc_now_ns();
    mc_histogram_observe(s->st.put_meta, (double)(t1 - t0) / 1e9);
    for (size_t i = 0; i < b->n; i++) {
        const mc_key_result_t *r = &b->ans.res[i];
        store_put_plan_key((uint32_t)i, r->code, r->rep, r->n, b->sizes[i], &local, copies,
                           b->n * MC_MAX_REPLICAS, &nc, &pk[i]);
    }
    put_write(s, b, values, copies, nc, pk, csum, opts && opts->shed_stalled);
    t0 = mc_now_ns();
    mc_histogram_observe(s->st.put_data, (double)(t0 - t1) / 1e9);
    n_retry = report_failures(s, b, copies, nc, pk, retry);
    put_finish(s, b, pk, csum); /* revokes the failed keys, so they can start again */
    mc_histogram_observe(s->st.put_meta, (double)(mc_now_ns() - t0) / 1e9);
    for (size_t i = 0; i < b->n; i++) {
        codes[b->idx[i]] = pk[i].code;
        if (pk[i].code == MC_OK)
            mc_counter_add(s->st.put_bytes, b->sizes[i]);
    }
    if (may_retry && n_retry)
        put_retry(s, b, retry, n_retry, values, opts, codes);
out:
    free(pk);
    free(copies);
    free(retry);
    free(csum);
    return rc;
}

void store_put_batch(store_service_t *s, size_t n, const char *const *keys, const size_t *key_lens,
                     const void *const *values, const uint64_t *sizes, const store_put_opts_t *opts,
                     int *codes)
{
    batch_t b;
    int rc = values && sizes && codes ? batch_init(&b, n, keys, key_lens, sizes, codes)
                                      : MC_INVALID_PARAMS;

    if (rc != MC_OK) {
        fill_codes(codes, n, rc);
        return;
    }
    if (b.n > 0 && (rc = put_run(s, &b, values, opts, codes, true)) != MC_OK)
        for (size_t i = 0; i < b.n; i++)
            codes[b.idx[i]] = rc;
    for (size_t i = 0; i < n; i++)
        if (codes[i] != MC_OK)
            mc_counter_add(s->st.put_errors, 1);
    mc_counter_add(s->st.put_keys, n);
    batch_cleanup(&b);
}

/* ---------------- get ---------------- */

typedef struct get_key {
    uint32_t order[MC_MAX_REPLICAS];
    uint32_t n_order, next; /* replicas to try, next one */
    uint64_t deadline_ms;
    void *dst; /* where the sink put this key's bytes */
    int code;  /* MC_TE_PENDING while replicas are left */
    bool disk; /* no memory replica left: its disk replicas are read (store_ssd_get) */
} get_key_t;

/* Asks the sink where the values of the keys still pending go (sizes in the
 * caller's index space, 0 for keys not read) and records the answer in gk.
 * A key the sink leaves out fails with BUFFER_OVERFLOW; a sink error fails
 * every pending key with it. */
static void get_place(const batch_t *b, const store_get_sink_t *sink, get_key_t *gk,
                      uint64_t *sizes)
{
    void **dst = calloc(b->total, sizeof(*dst));
    int rc = dst ? MC_OK : MC_INTERNAL_ERROR;
    size_t want = 0;

    for (size_t i = 0; i < b->n; i++)
        want += gk[i].code == MC_TE_PENDING;
    if (rc == MC_OK && want > 0)
        rc = sink->place(sink->ctx, b->total, sizes, dst);
    for (size_t i = 0; i < b->n; i++) {
        if (gk[i].code != MC_TE_PENDING)
            continue;
        gk[i].dst = rc == MC_OK ? dst[b->idx[i]] : NULL;
        if (!gk[i].dst)
            gk[i].code = rc != MC_OK ? rc : MC_BUFFER_OVERFLOW;
    }
    free(dst);
}

/* A copy whose bytes do not hash to the writer's CRC32C is a failed copy:
 * the reader goes on to the next replica, never returns them. */
static bool checksum_ok(store_service_t *s, bool has, uint32_t want, uint32_t got)
{
    if (!has || want == got)
        return true;
    mc_counter_add(s->st.checksum_mismatches, 1);
    return false;
}

/* Remote copies that arrived: their bytes checked against the checksum (a
 * second pass over the destination, which the copy just filled). */
static void verify_remote(store_service_t *s, const batch_t *b, const get_key_t *gk,
                          store_copy_t *copies, size_t nc)
{
    for (size_t j = 0; j < nc; j++) {
        const mc_key_result_t *r = &b->ans.res[copies[j].key];
        if (copies[j].where != STORE_AT_REMOTE || copies[j].status != MC_OK || !r->has_checksum)
            continue;
        if (!checksum_ok(s, true, r->checksum, mc_crc32c(0, gk[copies[j].key].dst, r->size)))
            copies[j].status = MC_INVALID_READ; /* bad bytes: reported (report_bad) */
    }
}

/* Starts one round: the next replica of every pending key. Local copies are
 * done inline (copied and checked in one pass, under the lease); remote ones
 * become requests. */
static size_t get_round_plan(store_service_t *s, const batch_t *b, get_key_t *gk,
                             store_copy_t *copies, mc_te_request_t *reqs, size_t *req_copy,
                             size_t *nreq, gate_round_t *gate)
{
    store_local_seg_t local = store_local_view(s);
    size_t nc = 0;

    *nreq = 0;
    for (size_t i = 0; i < b->n; i++) {
        const mc_key_result_t *r = &b->ans.res[i];
        const mc_replica_t *rep;
        store_copy_t *c;
        if (gk[i].code != MC_TE_PENDING || gk[i].disk)
            continue;
        if (gk[i].next >= gk[i].n_order) {
            if (store_ssd_has_disk(s, r))
                gk[i].disk = true; /* read from disk after the rounds */
            else
                gk[i].code = MC_TRANSFER_FAIL; /* every replica failed */
            continue;
        }
        c = &copies[nc];
        *c = (store_copy_t){
            .key = (uint32_t)i, .replica = gk[i].order[gk[i].next++], .status = MC_TE_PENDING};
        rep = &r->rep[c->replica];
        c->where = store_rep_where(rep, &local, r->size);
        if (c->where == STORE_AT_LOCAL) {
            uint32_t crc =
                mc_crc32c_copy(0, gk[i].dst, (char *)s->seg.base + rep->offset, rep->size);
            c->status = checksum_ok(s, r->has_checksum, r->checksum, crc) ? MC_OK : MC_INVALID_READ;
        } else if (c->where == STORE_AT_REMOTE) {
            if (!gate_admit(s, gate, rep->segment))
                c->status = MC_TRANSFER_FAIL; /* a stalled peer: the next replica */
            else
                add_remote(s, rep, MC_TE_READ, gk[i].dst, c, reqs, nreq, req_copy, nc);
        } else {
            c->status = MC_INVALID_REPLICA; /* remounted since the answer */
        }
        nc++;
    }
    return nc;
}

/* Folds a round's outcomes: a copy that finished inside its lease completes
 * the key; one that did not is LEASE_EXPIRED (never handed out); a failed
 * one moves the key to its next replica. */
static void get_round_fold(store_service_t *s, get_key_t *gk, const store_copy_t *copies, size_t nc)
{
    uint64_t now = mc_now_ms();

    for (size_t j = 0; j < nc; j++) {
        get_key_t *k = &gk[copies[j].key];
        if (copies[j].status == MC_OK || copies[j].status == MC_TE_PENDING) {
            if (copies[j].status == MC_OK && store_lease_covers(k->deadline_ms, now)) {
                k->code = MC_OK;
            } else {
                k->code = MC_LEASE_EXPIRED;
                mc_counter_add(s->st.lease_expired, 1);
            }
        }
    }
}

static uint64_t get_round_timeout(const batch_t *b, const get_key_t *gk)
{
    uint64_t now = mc_now_ms(), t = 0;

    for (size_t i = 0; i < b->n; i++)
        if (gk[i].code == MC_TE_PENDING && store_lease_left_ms(gk[i].deadline_ms, now) > t)
            t = store_lease_left_ms(gk[i].deadline_ms, now);
    return t;
}

/* Notes an own-segment replica of a key we were just granted a lease on, for
 * get_from_leases (see lease_cache.h for why that is safe). */
static void remember_local(store_service_t *s, const char *key, size_t len,
                           const mc_key_result_t *r, const store_local_seg_t *local,
                           uint64_t deadline_ms)
{
    for (uint32_t j = 0; j < r->n && j < MC_MAX_REPLICAS; j++) {
        if (store_rep_where(&r->rep[j], local, r->size) == STORE_AT_LOCAL) {
            store_lease_entry_t e = {r->rep[j].offset, r->rep[j].size, r->rep[j].epoch,
                                     deadline_ms,      r->checksum,    r->has_checksum};
            store_lease_cache_put(s->leases, key, len, &e);
            return;
        }
    }
}

/* The master is unreachable (err): serve the keys whose own-segment replica is
 * still under a lease granted earlier, copying it and checking the lease
 * again after the copy; every other key fails with err. */
static void get_from_leases(store_service_t *s, const batch_t *b, const store_get_sink_t *sink,
                            get_key_t *gk, uint64_t *sizes, int err)
{
    uint64_t epoch = atomic_load(&s->epoch);
    store_lease_entry_t *e = calloc(b->n, sizeof(*e));

    for (size_t i = 0; i < b->n; i++) {
        gk[i].code = err;
        if (!e || !s->seg.base || epoch == 0 ||
            !store_lease_cache_get(s->leases, b->keys[i], b->lens[i], mc_now_ms(), &e[i]) ||
            e[i].epoch != epoch || e[i].size == 0 || e[i].offset > s->seg.size ||
            e[i].size > s->seg.size - e[i].offset)
            continue;
        gk[i].code = MC_TE_PENDING;
        sizes[b->idx[i]] = e[i].size;
    }
    get_place(b, sink, gk, sizes);
    for (size_t i = 0; i < b->n; i++) {
        if (gk[i].code != MC_TE_PENDING)
            continue;
        uint32_t crc = mc_crc32c_copy(0, gk[i].dst, (char *)s->seg.base + e[i].offset, e[i].size);
        if (!checksum_ok(s, e[i].has_checksum, e[i].checksum, crc)) {
            gk[i].code = MC_TRANSFER_FAIL;
        } else if (store_lease_covers(e[i].deadline_ms, mc_now_ms())) {
            gk[i].code = MC_OK;
        } else {
            gk[i].code = MC_LEASE_EXPIRED;
            mc_counter_add(s->st.lease_expired, 1);
        }
    }
    free(e);
}

/* Sets up per-key state from the get_replica_list answer: the read order,
 * the lease deadline, the size of each key to read. */
static void get_prepare(store_service_t *s, const batch_t *b, uint64_t sent_ms, get_key_t *gk,
                        uint64_t *sizes)
{
    store_local_seg_t local = store_local_view(s);

    for (size_t i = 0; i < b->n; i++) {
        const mc_key_result_t *r = &b->ans.res[i];
        gk[i].code = store_get_code(r->code);
        if (gk[i].code != MC_OK)
            continue;
        gk[i].n_order = (uint32_t)store_read_order(r->rep, r->n, &local, r->size, gk[i].order);
        gk[i].deadline_ms = store_lease_deadline_ms(sent_ms, r->lease_ms);
        remember_local(s, b->keys[i], b->lens[i], r, &local,
                       store_lease_deadline_ms(sent_ms, r->lease_ms < MC_LEASE_CACHE_MS
                                                            ? r->lease_ms
                                                            : MC_LEASE_CACHE_MS));
        gk[i].code = MC_TE_PENDING;
        gk[i].disk = gk[i].n_order == 0 && r->size > 0 && store_ssd_has_disk(s, r);
        if ((gk[i].n_order == 0 && !gk[i].disk) || r->size == 0) {
            gk[i].code = MC_OBJECT_NOT_FOUND; /* no replica we can use: gone */
            continue;
        }
        sizes[b->idx[i]] = r->size;
    }
}

/* The keys whose memory replicas all failed or that have none: their disk
 * replicas, straight into the caller's destination (store_ssd_get_batch).
 * A disk copy needs no lease: the bytes are checked against the checksum. */
static void get_from_disk(store_service_t *s, const batch_t *b, get_key_t *gk, bool shed_stalled)
{
    const char **keys = calloc(b->n, sizeof(*keys));
    size_t *lens = calloc(b->n, sizeof(*lens)), *at = calloc(b->n, sizeof(*at)), m = 0;
    const mc_key_result_t **res = calloc(b->n, sizeof(*res));
    void **dst = calloc(b->n, sizeof(*dst));
    int *codes = calloc(b->n, sizeof(*codes));
    bool ok = keys && lens && at && res && dst && codes;

    for (size_t i = 0; i < b->n; i++) {
        if (gk[i].code != MC_TE_PENDING || !gk[i].disk)
            continue;
        if (!ok) {
            gk[i].code = MC_INTERNAL_ERROR;
            continue;
        }
        keys[m] = b->keys[i];
        lens[m] = b->lens[i];
        res[m] = &b->ans.res[i];
        dst[m] = gk[i].dst;
        at[m++] = i;
    }
    if (m > 0)
        store_ssd_get_batch(s, m, keys, lens, res, dst, shed_stalled, codes);
    for (size_t j = 0; j < m; j++)
        gk[at[j]].code = codes[j];
    free(keys);
    free(lens);
    free(at);
    free(res);
    free(dst);
    free(codes);
}

/* Drops the holds the get took (every key the master answered MC_OK for),
 * in one call, once the copies have ended. A failed release is not the
 * reader's problem: the master's hold TTL ends the hold anyway. */
static void release_holds(store_service_t *s, const batch_t *b)
{
    const char **keys = calloc(b->n, sizeof(*keys));
    size_t *lens = calloc(b->n, sizeof(*lens));
    size_t n = 0;

    for (size_t i = 0; keys && lens && i < b->ans.n && i < b->n; i++) {
        if (b->ans.res[i].code != MC_OK)
            continue;
        keys[n] = b->keys[i];
        lens[n++] = b->lens[i];
    }
    /* queued (the reader does not wait for the master), else sent now */
    if (n > 0 && (!s->releaser || store_release_later(s->releaser, n, keys, lens) != MC_OK))
        (void)store_release_now(s->master, s->client_id, n, keys, lens, NULL);
    free(keys);
    free(lens);
}

/* Keeps the copies of a round whose bytes failed the checksum (MC_INVALID_READ);
 * the list is allocated at the first (rare) one, for every round a get can
 * have: each round tries at most one replica of each key. */
static void note_bad(const batch_t *b, const store_copy_t *copies, size_t nc, store_copy_t **bad,
                     size_t *nbad)
{
    for (size_t j = 0; j < nc; j++) {
        if (copies[j].status != MC_INVALID_READ)
            continue;
        if (!*bad && !(*bad = calloc((size_t)b->n * (MC_MAX_REPLICAS + 1), sizeof(**bad))))
            return; /* not reported: the next reader finds it again */
        (*bad)[(*nbad)++] = copies[j];
    }
}

/* The replicas whose bytes failed the checksum in this get are dropped at the
 * master for every reader (batch_drop_bad_replica), one call per segment: the
 * next get does not try them again, and an object left with none is a miss. */
static void report_bad(store_service_t *s, const batch_t *b, store_copy_t *bad, size_t nbad)
{
    const char **keys = calloc(nbad ? nbad : 1, sizeof(*keys));
    size_t *lens = calloc(nbad ? nbad : 1, sizeof(*lens));
    uint32_t *sums = calloc(nbad ? nbad : 1, sizeof(*sums));
    bool *sent = calloc(nbad ? nbad : 1, sizeof(*sent));

    for (size_t i = 0; keys && lens && sums && sent && i < nbad; i++) {
        const char *seg = b->ans.res[bad[i].key].rep[bad[i].replica].segment;
        mc_keys_req_t kr = {.client_id = s->client_id,
                            .keys = keys,
                            .key_lens = lens,
                            .checksums = sums,
                            .segment_name = seg};
        mc_results_t res = {0};

        if (!seg || sent[i])
            continue;
        for (size_t j = i; j < nbad; j++) {
            const char *sj = b->ans.res[bad[j].key].rep[bad[j].replica].segment;
            if (sent[j] || !sj || strcmp(sj, seg) != 0)
                continue;
            keys[kr.n] = b->keys[bad[j].key];
            lens[kr.n] = b->lens[bad[j].key];
            sums[kr.n++] = b->ans.res[bad[j].key].checksum;
            sent[j] = true;
        }
        if (store_master_keys(s->master, STORE_M_DROP_BAD, &kr, &res) == MC_OK)
            mc_counter_add(s->st.bad_replicas, kr.n);
        mc_results_cleanup(&res);
    }
    free(keys);
    free(lens);
    free(sums);
    free(sent);
}

static void get_run(store_service_t *s, batch_t *b, const store_get_sink_t *sink, uint64_t *sizes,
                    int *codes)
{
    store_copy_t *bad = NULL;
    size_t nbad = 0;
    get_key_t *gk = calloc(b->n, sizeof(*gk));
    store_copy_t *copies = calloc(b->n, sizeof(*copies));
    mc_te_request_t *reqs = calloc(b->n, sizeof(*reqs));
    size_t *req_copy = calloc(b->n, sizeof(*req_copy));
    uint64_t sent_ms = mc_now_ms(), t0 = mc_now_ns(), t1;
    int rc = MC_INTERNAL_ERROR;
    bool held = false;
    gate_round_t gate;

    if (!gate_init(&gate, b->n, sink && sink->shed_stalled) || !gk || !copies || !reqs || !req_copy)
        goto out;
    rc = batch_call(s, b, STORE_M_GET_REPLICAS, false, NULL, false);
    held = rc == MC_OK;
    if (rc == MC_CLIENT_NOT_FOUND) { /* not (yet) remounted: read under the lease alone */
        b->no_hold = true;
        rc = batch_call(s, b, STORE_M_GET_REPLICAS, false, NULL, false);
    }
    if (rc == MC_RPC_FAIL) {
        get_from_leases(s, b, sink, gk, sizes, rc);
        rc = MC_OK;
        goto done;
    }
    if (rc != MC_OK)
        goto out;
    t1 = mc_now_ns();
    mc_histogram_observe(s->st.get_meta, (double)(t1 - t0) / 1e9);
    get_prepare(s, b, sent_ms, gk, sizes);
    get_place(b, sink, gk, sizes);
    for (unsigned round = 0; round < MC_MAX_REPLICAS + 1; round++) {
        size_t nreq = 0, nc = get_round_plan(s, b, gk, copies, reqs, req_copy, &nreq, &gate);
        if (nc == 0)
            break;
        run_transfers(s, reqs, nreq, req_copy, copies, get_round_timeout(b, gk));
        gate_leave(s, &gate);
        verify_remote(s, b, gk, copies, nc);
        get_round_fold(s, gk, copies, nc);
        note_bad(b, copies, nc, &bad, &nbad);
    }
    if (nbad)
        report_bad(s, b, bad, nbad);
    get_from_disk(s, b, gk, sink && sink->shed_stalled);
    mc_histogram_observe(s->st.get_data, (double)(mc_now_ns() - t1) / 1e9);
    if (held)
        release_holds(s, b);
done:
    for (size_t i = 0; i < b->n; i++) {
        uint32_t j = b->idx[i];
        codes[j] = gk[i].code == MC_TE_PENDING ? MC_TRANSFER_FAIL : gk[i].code;
        if (codes[j] == MC_OK)
            mc_counter_add(s->st.get_bytes, sizes[j]);
        else
            sizes[j] = 0; /* an error or a miss never carries bytes */
    }
out:
    if (rc != MC_OK)
        for (size_t i = 0; i < b->n; i++)
            codes[b->idx[i]] = rc;
    free(gk);
    free(copies);
    free(bad);
    free(reqs);
    free(req_copy);
    gate_free(&gate);
}

void store_get_batch(store_service_t *s, size_t n, const char *const *keys, const size_t *key_lens,
                     const store_get_sink_t *sink, uint64_t *sizes, int *codes)
{
    batch_t b;
    int rc;

    for (size_t i = 0; sizes && i < n; i++)
        sizes[i] = 0;
    rc = sink && sink->place && sizes && codes ? batch_init(&b, n, keys, key_lens, NULL, codes)
                                               : MC_INVALID_PARAMS;
    if (rc != MC_OK) {
        fill_codes(codes, n, rc);
        return;
    }
    if (b.n > 0)
        get_run(s, &b, sink, sizes, codes);
    for (size_t i = 0; i < n; i++) {
        if (codes[i] == MC_OBJECT_NOT_FOUND)
            mc_counter_add(s->st.get_misses, 1);
        else if (codes[i] != MC_OK)
            mc_counter_add(s->st.get_errors, 1);
    }
    mc_counter_add(s->st.get_keys, n);
    batch_cleanup(&b);
}

static int place_malloc(void *ctx, size_t n, const uint64_t *sizes, void **dst)
{
    void **bufs = ctx;

    for (size_t i = 0; i < n; i++) {
        dst[i] = bufs[i] = sizes[i] ? malloc(sizes[i]) : NULL;
        if (sizes[i] && !bufs[i])
            return MC_INTERNAL_ERROR;
    }
    return MC_OK;
}

void store_get_batch_alloc(store_service_t *s, size_t n, const char *const *keys,
                           const size_t *key_lens, store_value_t *out, int *codes)
{
    void **bufs = out ? calloc(n ? n : 1, sizeof(*bufs)) : NULL;
    uint64_t *sizes = out ? calloc(n ? n : 1, sizeof(*sizes)) : NULL;
    store_get_sink_t sink = {place_malloc, bufs, false};

    if (!bufs || !sizes) {
        fill_codes(codes, n, out ? MC_INTERNAL_ERROR : MC_INVALID_PARAMS);
    } else {
        store_get_batch(s, n, keys, key_lens, &sink, sizes, codes);
        for (size_t i = 0; i < n; i++) {
            bool ok = codes && codes[i] == MC_OK;
            out[i] = (store_value_t){ok ? bufs[i] : NULL, ok ? sizes[i] : 0};
            if (!ok)
                free(bufs[i]);
        }
    }
    free(bufs);
    free(sizes);
}

/* ---------------- pass-through ---------------- */

/* One master call over the valid keys; per-key codes (and the field fetched
 * by pick) land at the caller's indexes. */
static void passthrough(store_service_t *s, size_t n, const char *const *keys, const size_t *lens,
                        store_master_call_t call, bool force, int *codes,
                        void (*pick)(const mc_key_result_t *, void *, size_t), void *field)
{
    batch_t b;
    int rc = codes ? batch_init(&b, n, keys, lens, NULL, codes) : MC_INVALID_PARAMS;

    if (rc != MC_OK) {
        fill_codes(codes, n, rc);
        return;
    }
    b.no_hold = true; /* a replica list asked for here is only looked at */
    if (b.n > 0)
        rc = batch_call(s, &b, call, false, NULL, force);
    for (size_t i = 0; i < b.n; i++) {
        codes[b.idx[i]] = rc != MC_OK ? rc : b.ans.res[i].code;
        if (rc == MC_OK && pick)
            pick(&b.ans.res[i], field, b.idx[i]);
    }
    batch_cleanup(&b);
}

static void pick_exists(const mc_key_result_t *r, void *field, size_t i)
{
    ((bool *)field)[i] = r->code == MC_OK && r->exists;
}

static void pick_size(const mc_key_result_t *r, void *field, size_t i)
{
    ((uint64_t *)field)[i] = r->size;
}

void store_exist_batch(store_service_t *s, size_t n, const char *const *keys,
                       const size_t *key_lens, bool *exists, int *codes)
{
    if (!exists) {
        fill_codes(codes, n, MC_INVALID_PARAMS);
        return;
    }
    for (size_t i = 0; i < n; i++)
        exists[i] = false;
    passthrough(s, n, keys, key_lens, STORE_M_EXIST, false, codes, pick_exists, exists);
}

void store_size_batch(store_service_t *s, size_t n, const char *const *keys, const size_t *key_lens,
                      uint64_t *sizes, int *codes)
{
    if (!sizes) {
        fill_codes(codes, n, MC_INVALID_PARAMS);
        return;
    }
    for (size_t i = 0; i < n; i++)
        sizes[i] = 0;
    passthrough(s, n, keys, key_lens, STORE_M_GET_SIZE, false, codes, pick_size, sizes);
}

void store_remove_batch(store_service_t *s, size_t n, const char *const *keys,
                        const size_t *key_lens, bool force, int *codes)
{
    passthrough(s, n, keys, key_lens, STORE_M_REMOVE, force, codes, NULL, NULL);
}

typedef struct desc_sink {
    store_desc_fn fn;
    void *ctx;
} desc_sink_t;

static void pick_desc(const mc_key_result_t *r, void *field, size_t i)
{
    const desc_sink_t *d = field;
    d->fn(d->ctx, i, r);
}

void store_replica_desc_batch(store_service_t *s, size_t n, const char *const *keys,
                              const size_t *key_lens, store_desc_fn fn, void *ctx, int *codes)
{
    desc_sink_t d = {fn, ctx};

    if (!fn) {
        fill_codes(codes, n, MC_INVALID_PARAMS);
        return;
    }
    passthrough(s, n, keys, key_lens, STORE_M_GET_REPLICAS, false, codes, pick_desc, &d);
}

void store_replica_clear_batch(store_service_t *s, size_t n, const char *const *keys,
                               const size_t *key_lens, const char *segment, int *codes)
{
    batch_t b;
    int rc = codes ? batch_init(&b, n, keys, key_lens, NULL, codes) : MC_INVALID_PARAMS;

    if (rc != MC_OK) {
        fill_codes(codes, n, rc);
        return;
    }
    b.segment = segment && segment[0] ? segment : NULL;
    if (b.n > 0)
        rc = batch_call(s, &b, STORE_M_REPLICA_CLEAR, false, NULL, false);
    for (size_t i = 0; i < b.n; i++)
        codes[b.idx[i]] = rc != MC_OK ? rc : b.ans.res[i].code;
    batch_cleanup(&b);
}

int store_remove_many(store_service_t *s, const char *pattern, bool force, uint64_t *removed)
{
    int rc = store_master_remove_many(s->master, pattern, force, removed);

    /* remove_all through this service clears its SSD tier too (the master's
     * drop tasks cover the disk replicas of the other services) */
    if (rc == MC_OK && !pattern && s->ssd && store_ssd_clear(s->ssd) != MC_OK)
        MC_WARN("remove_all: the SSD tier could not be cleared");
    return rc;
}
