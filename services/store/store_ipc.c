/* The local-client server (store_ipc.h, docs/ipc.md). */
#include "store_ipc.h"

#include "mc/ipc_msg.h"
#include "mc/ipc_sock.h"
#include "mc/log.h"
#include "mc/mtime.h"
#include "mc/strutil.h"
#include "mc/thread.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Why a request or a client was refused: one counter each in /metrics. */
#define REJECT_REASONS(X)              \
    X(PEER_CRED, "peer_cred")          \
    X(TOO_MANY_CLIENTS, "max_clients") \
    X(BAD_MESSAGE, "bad_message")      \
    X(BAD_REGION, "bad_region")        \
    X(NOT_SEALED, "not_sealed")        \
    X(REGION_CAP, "region_cap")        \
    X(VERSION, "version")

typedef enum {
#define REJECT_ENUM_(name, label) REJECT_##name,
    REJECT_REASONS(REJECT_ENUM_)
#undef REJECT_ENUM_
        N_REJECTS
} reject_t;

typedef struct region {
    uint8_t *base; /* NULL = free slot */
    uint64_t size;
} region_t;

/* A key this client holds views of (get_buffer), and how many. */
typedef struct view {
    char *key;
    size_t len;
    uint32_t count;
} view_t;

#define MAX_VIEWS 65536u /* views one client may hold at once */

typedef struct conn {
    struct store_ipc *ipc;
    int fd;
    uid_t uid;  /* the peer's (SO_PEERCRED, at accept) */
    bool admin; /* may run admin ops: decided at hello (admin uid or admin token) */
    pthread_t thread;
    atomic_bool done;  /* the thread has finished; the accept thread joins it */
    region_t *regions; /* opts.max_regions slots; region id = slot + 1 */
    uint64_t mapped;
    mc_buf_t in, out;
    int reply_fd;  /* sent with the reply being built, then closed; -1 = none */
    view_t *views; /* keys with views out (released when the client goes) */
    size_t n_views, cap_views, held;
    uint64_t renewed_ms; /* when the views' holds were last renewed */
    struct conn *next;
} conn_t;

struct store_ipc {
    store_service_t *svc;
    store_ipc_opts_t o;
    char path[108];
    int lfd;
    bool bound; /* the socket file at path is ours */
    int stop_pipe[2];
    pthread_t acceptor;
    mc_counter_t *rejects[N_REJECTS];
    mc_counter_t *requests, *connects, *gather_copies, *renewals;
    mc_histogram_t *op_seconds[MC_IPC_OPS]; /* per opcode, NULL for none */
    mc_mutex_t mu;
    conn_t *conns MC_GUARDED_BY(mu);
    uint32_t n_conns MC_GUARDED_BY(mu);
};

static void reject(store_ipc_t *ipc, reject_t why)
{
    mc_counter_add(ipc->rejects[why], 1);
}

/* ---- regions ---- */

static void region_drop(conn_t *c, region_t *r)
{
    if (r->base) {
        munmap(r->base, r->size);
        c->mapped -= r->size;
    }
    r->base = NULL;
    r->size = 0;
}

/* Maps a client's memfd of `size` bytes read-write. It must be sealed
 * against shrinking, so the client cannot truncate it under a copy (which
 * would SIGBUS this process). */
static int region_add(conn_t *c, int fd, uint64_t size, uint32_t *id, const char **why)
{
    store_ipc_t *ipc = c->ipc;
    int seals = fd >= 0 ? fcntl(fd, F_GET_SEALS) : -1;
    struct stat st;
    uint32_t slot = 0;
    void *p;

    if (fd < 0 || size == 0 || fstat(fd, &st) != 0 || (uint64_t)st.st_size < size) {
        *why = fd < 0 ? "no descriptor attached" : "size 0 or past the file's end";
        reject(ipc, REJECT_BAD_REGION);
        return MC_INVALID_PARAMS;
    }
    if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
        *why = "not a memfd sealed with F_SEAL_SHRINK";
        reject(ipc, REJECT_NOT_SEALED);
        return MC_INVALID_PARAMS;
    }
    while (slot < ipc->o.max_regions && c->regions[slot].base)
        slot++;
    if (slot == ipc->o.max_regions || size > ipc->o.max_mapped - c->mapped) {
        *why = slot == ipc->o.max_regions ? "too many regions" : "mapped-bytes cap reached";
        reject(ipc, REJECT_REGION_CAP);
        return MC_NO_AVAILABLE_HANDLE;
    }
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        *why = "mmap failed";
        return MC_INTERNAL_ERROR;
    }
    c->regions[slot] = (region_t){p, size};
    c->mapped += size;
    *id = slot + 1;
    return MC_OK;
}

/* The bytes a fragment names, or NULL when it is out of bounds. */
static uint8_t *frag_ptr(conn_t *c, const mc_ipc_frag_t *f)
{
    region_t *r;

    if (f->region == 0 || f->region > c->ipc->o.max_regions)
        return NULL;
    r = &c->regions[f->region - 1];
    if (!r->base || f->len == 0 || f->offset > r->size || f->len > r->size - f->offset)
        return NULL;
    return r->base + f->offset;
}

/* Checks every fragment of every key; a key with a bad one gets
 * INVALID_PARAMS (counted) and no further work. Returns the keys' total
 * fragment capacity in *cap. */
static void check_frags(conn_t *c, const mc_ipc_keys_t *m, uint64_t *cap, int *codes)
{
    for (uint32_t i = 0; i < m->n; i++) {
        const mc_ipc_key_t *k = &m->keys[i];

        cap[i] = 0;
        codes[i] = k->nfrag ? MC_OK : MC_INVALID_PARAMS;
        for (uint32_t j = 0; j < k->nfrag && codes[i] == MC_OK; j++) {
            if (!frag_ptr(c, &k->frags[j]))
                codes[i] = MC_INVALID_PARAMS;
            cap[i] += k->frags[j].len;
        }
        if (codes[i] != MC_OK)
            reject(c->ipc, REJECT_BAD_REGION);
    }
}

static void copy_frags(conn_t *c, const mc_ipc_key_t *k, uint8_t *buf, uint64_t len, bool gather)
{
    for (uint32_t j = 0; j < k->nfrag && len; j++) {
        uint64_t n = k->frags[j].len < len ? k->frags[j].len : len;
        uint8_t *p = frag_ptr(c, &k->frags[j]);

        if (gather)
            memcpy(buf, p, n);
        else
            memcpy(p, buf, n);
        buf += n;
        len -= n;
    }
}

/* ---- requests ---- */

typedef struct keys_job {
    conn_t *c;
    mc_ipc_keys_t m;
    const char **keys;
    size_t *lens;
    int *codes;
    uint64_t *cap;    /* per key: its fragments' bytes */
    uint8_t **bounce; /* per key: a gather/scatter buffer when it has several fragments */
    mc_ipc_key_result_t *res;
} keys_job_t;

static void job_cleanup(keys_job_t *j)
{
    for (uint32_t i = 0; j->bounce && i < j->m.n; i++)
        free(j->bounce[i]);
    free(j->bounce);
    free(j->keys);
    free(j->lens);
    free(j->codes);
    free(j->cap);
    free(j->res);
    mc_ipc_keys_cleanup(&j->m);
}

static int job_init(keys_job_t *j, conn_t *c, const mc_ipc_hdr_t *h, mc_errmsg_t *err)
{
    bool frags = h->op == MC_IPC_PUT || h->op == MC_IPC_GET;
    int rc;

    memset(j, 0, sizeof(*j));
    j->c = c;
    rc = mc_ipc_keys_decode((const uint8_t *)c->in.data, c->in.len, c->ipc->o.max_batch, frags,
                            &j->m, err);
    if (rc != MC_OK)
        return rc;
    j->keys = calloc(j->m.n, sizeof(*j->keys));
    j->lens = calloc(j->m.n, sizeof(*j->lens));
    j->codes = calloc(j->m.n, sizeof(*j->codes));
    j->cap = calloc(j->m.n, sizeof(*j->cap));
    j->bounce = calloc(j->m.n, sizeof(*j->bounce));
    j->res = calloc(j->m.n, sizeof(*j->res));
    if (!j->keys || !j->lens || !j->codes || !j->cap || !j->bounce || !j->res)
        return mc_fail(err, MC_INTERNAL_ERROR, "out of memory");
    for (uint32_t i = 0; i < j->m.n; i++) {
        j->keys[i] = j->m.keys[i].key;
        j->lens[i] = j->m.keys[i].len;
    }
    if (frags)
        check_frags(c, &j->m, j->cap, j->codes);
    return MC_OK;
}

/* The keys of the job whose code is still MC_OK, compacted in place into
 * idx (the positions), so a store call sees only the good ones. */
static size_t good_keys(const keys_job_t *j, uint32_t *idx)
{
    size_t n = 0;

    for (uint32_t i = 0; i < j->m.n; i++)
        if (j->codes[i] == MC_OK)
            idx[n++] = i;
    return n;
}

static void run_put(keys_job_t *j)
{
    conn_t *c = j->c;
    uint32_t *idx = calloc(j->m.n, sizeof(*idx));
    const void **vals = calloc(j->m.n, sizeof(*vals));
    const char **keys = calloc(j->m.n, sizeof(*keys));
    size_t *lens = calloc(j->m.n, sizeof(*lens));
    uint64_t *sizes = calloc(j->m.n, sizeof(*sizes));
    int *codes = calloc(j->m.n, sizeof(*codes));
    char preferred[256];
    store_put_opts_t opts = {.replica_num = j->m.replica_num ? j->m.replica_num : 1,
                             .soft_pin = (j->m.flags & MC_IPC_F_SOFT_PIN) != 0,
                             .hard_pin = (j->m.flags & MC_IPC_F_HARD_PIN) != 0,
                             .upsert = (j->m.flags & MC_IPC_F_UPSERT) != 0};
    size_t n = 0;

    if (!idx || !vals || !keys || !lens || !sizes || !codes) {
        for (uint32_t i = 0; i < j->m.n; i++)
            j->codes[i] = MC_INTERNAL_ERROR;
        goto out;
    }
    if (j->m.preferred) {
        if (j->m.preferred_len >= sizeof(preferred)) {
            for (uint32_t i = 0; i < j->m.n; i++)
                j->codes[i] = MC_INVALID_PARAMS;
            goto out;
        }
        memcpy(preferred, j->m.preferred, j->m.preferred_len);
        preferred[j->m.preferred_len] = '\0';
        opts.preferred = preferred;
    }
    /* several fragments: one gather copy each (the store's put takes one
     * contiguous source per value); a key whose copy cannot be made fails */
    for (uint32_t i = 0; i < j->m.n; i++) {
        if (j->codes[i] != MC_OK || j->m.keys[i].nfrag == 1)
            continue;
        if (!(j->bounce[i] = malloc(j->cap[i]))) {
            j->codes[i] = MC_INTERNAL_ERROR;
            continue;
        }
        copy_frags(c, &j->m.keys[i], j->bounce[i], j->cap[i], true);
        mc_counter_add(c->ipc->gather_copies, 1);
    }
    n = good_keys(j, idx);
    for (size_t k = 0; k < n; k++) {
        uint32_t i = idx[k];

        keys[k] = j->keys[i];
        lens[k] = j->lens[i];
        sizes[k] = j->cap[i];
        vals[k] = j->bounce[i] ? j->bounce[i] : frag_ptr(c, &j->m.keys[i].frags[0]);
    }
    if (n)
        store_put_batch(c->ipc->svc, n, keys, lens, (const void *const *)vals, sizes, &opts, codes);
    for (size_t k = 0; k < n; k++)
        j->codes[idx[k]] = codes[k];
out:
    free(idx);
    free(vals);
    free(keys);
    free(lens);
    free(sizes);
    free(codes);
}

/* Where a get's values go: straight into the key's fragment when it has one
 * big enough, else into a bounce buffer scattered afterwards. */
typedef struct get_place {
    keys_job_t *j;
    const uint32_t *idx;
} get_place_t;

static int place_get(void *ctx, size_t n, const uint64_t *sizes, void **dst)
{
    get_place_t *g = ctx;
    keys_job_t *j = g->j;

    for (size_t k = 0; k < n; k++) {
        uint32_t i = g->idx[k];
        const mc_ipc_key_t *key = &j->m.keys[i];

        dst[k] = NULL; /* too small: BUFFER_OVERFLOW */
        if (!sizes[k] || sizes[k] > j->cap[i])
            continue;
        if (key->nfrag == 1 || sizes[k] <= key->frags[0].len)
            dst[k] = frag_ptr(j->c, &key->frags[0]);
        else if ((j->bounce[i] = malloc(sizes[k])) != NULL)
            dst[k] = j->bounce[i];
    }
    return MC_OK;
}

static void run_get(keys_job_t *j)
{
    uint32_t *idx = calloc(j->m.n, sizeof(*idx));
    const char **keys = calloc(j->m.n, sizeof(*keys));
    size_t *lens = calloc(j->m.n, sizeof(*lens));
    uint64_t *sizes = calloc(j->m.n, sizeof(*sizes));
    int *codes = calloc(j->m.n, sizeof(*codes));
    get_place_t g = {j, idx};
    store_get_sink_t sink = {place_get, &g, false};
    size_t n;

    if (!idx || !keys || !lens || !sizes || !codes) {
        for (uint32_t i = 0; i < j->m.n; i++)
            j->codes[i] = MC_INTERNAL_ERROR;
        goto out;
    }
    n = good_keys(j, idx);
    for (size_t k = 0; k < n; k++) {
        keys[k] = j->keys[idx[k]];
        lens[k] = j->lens[idx[k]];
    }
    if (n)
        store_get_batch(j->c->ipc->svc, n, keys, lens, &sink, sizes, codes);
    for (size_t k = 0; k < n; k++) {
        uint32_t i = idx[k];

        j->codes[i] = codes[k];
        j->res[i].value = codes[k] == MC_OK ? sizes[k] : 0;
        if (codes[k] == MC_OK && j->bounce[i]) {
            copy_frags(j->c, &j->m.keys[i], j->bounce[i], sizes[k], false);
            mc_counter_add(j->c->ipc->gather_copies, 1);
        }
    }
out:
    free(idx);
    free(keys);
    free(lens);
    free(sizes);
    free(codes);
}

static view_t *view_find(conn_t *c, const char *key, size_t len)
{
    for (size_t i = 0; i < c->n_views; i++)
        if (c->views[i].len == len && memcmp(c->views[i].key, key, len) == 0)
            return &c->views[i];
    return NULL;
}

/* Records one more view of key; false (nothing recorded) when the cap is
 * reached or memory is short. */
static bool view_add(conn_t *c, const char *key, size_t len)
{
    view_t *v = view_find(c, key, len);

    if (c->held >= MAX_VIEWS)
        return false;
    if (!v) {
        if (c->n_views == c->cap_views) {
            size_t cap = c->cap_views ? 2 * c->cap_views : 16;
            view_t *nv = realloc(c->views, cap * sizeof(*nv));
            if (!nv)
                return false;
            c->views = nv;
            c->cap_views = cap;
        }
        v = &c->views[c->n_views];
        if (!(v->key = malloc(len)))
            return false;
        memcpy(v->key, key, len);
        v->len = len;
        v->count = 0;
        if (c->n_views++ == 0)
            c->renewed_ms = mc_now_ms(); /* the holds were just taken */
    }
    v->count++;
    c->held++;
    return true;
}

/* Forgets one view of key; false when the client holds none. */
static bool view_drop(conn_t *c, const char *key, size_t len)
{
    view_t *v = view_find(c, key, len);

    if (!v)
        return false;
    c->held--;
    if (--v->count == 0) {
        free(v->key);
        *v = c->views[--c->n_views];
    }
    return true;
}

/* Keeps the holds of the client's views from running out (the master's
 * hold TTL): one more hold and one release per key, which renews them all. */
static void views_renew(conn_t *c)
{
    const char *keys[256];
    size_t lens[256], n = 0;

    for (size_t i = 0; i < c->n_views; i++) {
        keys[n] = c->views[i].key;
        lens[n++] = c->views[i].len;
        if (n == 256 || i + 1 == c->n_views) {
            store_view_renew(c->ipc->svc, n, keys, lens);
            mc_counter_add(c->ipc->renewals, n);
            n = 0;
        }
    }
    c->renewed_ms = mc_now_ms();
}

/* Renews when views are out and the last renewal is view_renew_ms old. */
static void views_maybe_renew(conn_t *c)
{
    uint32_t every = c->ipc->o.view_renew_ms;

    if (every && c->n_views && mc_now_ms() - c->renewed_ms >= every)
        views_renew(c);
}

/* A client that goes away releases every view it still holds, in batches
 * (a key held n times appears n times). */
static void views_release_all(conn_t *c)
{
    const char *keys[256];
    size_t lens[256], n = 0;

    for (size_t i = 0; i < c->n_views; i++)
        for (uint32_t k = 0; k < c->views[i].count; k++) {
            keys[n] = c->views[i].key;
            lens[n++] = c->views[i].len;
            if (n == 256) {
                store_view_release(c->ipc->svc, n, keys, lens, NULL);
                n = 0;
            }
        }
    if (n)
        store_view_release(c->ipc->svc, n, keys, lens, NULL);
    for (size_t i = 0; i < c->n_views; i++)
        free(c->views[i].key);
    free(c->views);
    c->views = NULL;
    c->n_views = c->cap_views = c->held = 0;
}

static void run_views(keys_job_t *j, bool get)
{
    conn_t *c = j->c;
    uint64_t *off = calloc(j->m.n, sizeof(*off));
    uint64_t *sz = calloc(j->m.n, sizeof(*sz));

    if (!off || !sz) {
        for (uint32_t i = 0; i < j->m.n; i++)
            j->codes[i] = MC_INTERNAL_ERROR;
    } else if (get) {
        store_view_batch(c->ipc->svc, j->m.n, j->keys, j->lens, off, sz, j->codes);
        for (uint32_t i = 0; i < j->m.n; i++) {
            if (j->codes[i] != MC_OK)
                continue;
            if (!view_add(c, j->keys[i], j->lens[i])) {
                store_view_release(c->ipc->svc, 1, &j->keys[i], &j->lens[i], NULL);
                j->codes[i] = MC_NO_AVAILABLE_HANDLE; /* the client's view cap */
                continue;
            }
            j->res[i].value = sz[i];
            j->res[i].aux = off[i];
        }
    } else {
        for (uint32_t i = 0; i < j->m.n; i++) {
            if (!view_drop(c, j->keys[i], j->lens[i])) {
                j->codes[i] = MC_INVALID_PARAMS; /* not a view of this client's */
                continue;
            }
            store_view_release(c->ipc->svc, 1, &j->keys[i], &j->lens[i], &j->codes[i]);
            if (j->codes[i] == MC_RPC_FAIL)
                j->codes[i] = MC_OK; /* the master's hold TTL ends it */
        }
    }
    free(off);
    free(sz);
}

static void run_keys(keys_job_t *j, uint16_t op)
{
    store_service_t *svc = j->c->ipc->svc;
    bool *ex;
    uint64_t *sz;

    switch (op) {
    case MC_IPC_PUT: run_put(j); break;
    case MC_IPC_GET: run_get(j); break;
    case MC_IPC_GET_BUFFER: run_views(j, true); break;
    case MC_IPC_RELEASE: run_views(j, false); break;
    case MC_IPC_EXIST:
        if (!(ex = calloc(j->m.n, sizeof(*ex)))) {
            for (uint32_t i = 0; i < j->m.n; i++)
                j->codes[i] = MC_INTERNAL_ERROR;
            break;
        }
        store_exist_batch(svc, j->m.n, j->keys, j->lens, ex, j->codes);
        for (uint32_t i = 0; i < j->m.n; i++) {
            if (j->codes[i] == MC_OBJECT_NOT_FOUND)
                j->codes[i] = MC_OK;
            j->res[i].value = j->codes[i] == MC_OK && ex[i];
        }
        free(ex);
        break;
    case MC_IPC_SIZE:
        if (!(sz = calloc(j->m.n, sizeof(*sz)))) {
            for (uint32_t i = 0; i < j->m.n; i++)
                j->codes[i] = MC_INTERNAL_ERROR;
            break;
        }
        store_size_batch(svc, j->m.n, j->keys, j->lens, sz, j->codes);
        for (uint32_t i = 0; i < j->m.n; i++)
            j->res[i].value = j->codes[i] == MC_OK ? sz[i] : 0;
        free(sz);
        break;
    case MC_IPC_REPLICA_CLEAR: {
        char seg[MC_IPC_MAX_TEXT + 1];

        memcpy(seg, j->m.preferred ? j->m.preferred : "", j->m.preferred_len);
        seg[j->m.preferred_len] = '\0';
        if (memchr(seg, '\0', j->m.preferred_len))
            for (uint32_t i = 0; i < j->m.n; i++)
                j->codes[i] = MC_INVALID_PARAMS;
        else
            store_replica_clear_batch(svc, j->m.n, j->keys, j->lens, seg, j->codes);
        break;
    }
    default:
        if ((j->m.flags & MC_IPC_F_FORCE) && !j->c->admin) { /* a force remove is an admin op */
            for (uint32_t i = 0; i < j->m.n; i++)
                j->codes[i] = MC_ILLEGAL_CLIENT;
            break;
        }
        store_remove_batch(svc, j->m.n, j->keys, j->lens, (j->m.flags & MC_IPC_F_FORCE) != 0,
                           j->codes);
        break;
    }
    for (uint32_t i = 0; i < j->m.n; i++)
        j->res[i].code = j->codes[i];
}

/* REPLICA_DESC: each key's replicas, their names copied out of the master's
 * answer (it ends with the call). */
static void desc_one(void *ctx, size_t i, const mc_key_result_t *r)
{
    mc_ipc_replicas_t *d = &((mc_ipc_replicas_t *)ctx)[i];

    d->size = r->size;
    for (uint32_t k = 0; k < r->n && k < MC_MAX_REPLICAS; k++) {
        const mc_replica_t *x = &r->rep[k];
        char *seg = strdup(x->segment ? x->segment : "");
        char *ep = strdup(x->endpoint ? x->endpoint : "");

        if (!seg || !ep) {
            free(seg);
            free(ep);
            continue;
        }
        d->rep[d->n++] = (mc_ipc_replica_t){.type = x->type,
                                            .offset = x->offset,
                                            .size = x->size,
                                            .segment = seg,
                                            .segment_len = strlen(seg),
                                            .endpoint = ep,
                                            .endpoint_len = strlen(ep)};
    }
}

static int handle_desc(conn_t *c, const mc_ipc_hdr_t *h)
{
    keys_job_t j;
    mc_errmsg_t e = {""};
    mc_ipc_replicas_t *d = NULL;
    int rc = job_init(&j, c, h, &e);

    if (rc != MC_OK)
        reject(c->ipc, REJECT_BAD_MESSAGE);
    else if (!(d = calloc(j.m.n, sizeof(*d))))
        rc = MC_INTERNAL_ERROR;
    if (d) {
        store_replica_desc_batch(c->ipc->svc, j.m.n, j.keys, j.lens, desc_one, d, j.codes);
        for (uint32_t i = 0; i < j.m.n; i++)
            d[i].code = j.codes[i];
    }
    rc = mc_ipc_replicas_reply_encode(&c->out, h->id, rc, d, rc == MC_OK ? j.m.n : 0);
    for (uint32_t i = 0; d && i < j.m.n; i++)
        for (uint32_t k = 0; k < d[i].n; k++) {
            free((char *)(uintptr_t)d[i].rep[k].segment);
            free((char *)(uintptr_t)d[i].rep[k].endpoint);
        }
    free(d);
    job_cleanup(&j);
    return rc;
}

/* Replies to a small request; a failing request's text is the reason. */
static int reply_small(conn_t *c, const mc_ipc_hdr_t *h, int status, uint64_t value,
                       const char *text)
{
    mc_ipc_small_reply_t r = {status, value, text ? text : "", text ? strlen(text) : 0};
    return mc_ipc_small_reply_encode(&c->out, h->op, h->id, &r);
}

#define NOT_ADMIN "admin op: needs an --ipc_admin_uids uid or the admin token in the hello"

static int handle_small(conn_t *c, const mc_ipc_hdr_t *h, int fd)
{
    mc_ipc_small_t m;
    mc_errmsg_t e = {""};
    const char *why = NULL;
    char detail[256] = "";
    uint64_t value = 0;
    int rc = mc_ipc_small_decode((const uint8_t *)c->in.data, c->in.len, &m, &e);

    if (rc != MC_OK) {
        reject(c->ipc, REJECT_BAD_MESSAGE);
        why = e.msg;
    } else if (h->op == MC_IPC_REGISTER) {
        uint32_t id = 0;
        rc = region_add(c, fd, m.arg, &id, &why);
        value = id;
    } else if (h->op == MC_IPC_UNREGISTER) {
        if (m.arg == 0 || m.arg > c->ipc->o.max_regions || !c->regions[m.arg - 1].base) {
            rc = MC_INVALID_PARAMS;
            why = "no such region";
        } else {
            region_drop(c, &c->regions[m.arg - 1]);
        }
    } else if ((h->op == MC_IPC_REMOVE_REGEX || h->op == MC_IPC_REMOVE_ALL) && !c->admin) {
        rc = MC_ILLEGAL_CLIENT;
        why = NOT_ADMIN;
    } else if (h->op == MC_IPC_REMOVE_REGEX || h->op == MC_IPC_REMOVE_ALL) {
        char *pattern = NULL;
        bool regex = h->op == MC_IPC_REMOVE_REGEX;

        if (regex && !m.text_len)
            rc = MC_INVALID_PARAMS;
        else if (regex && !(pattern = malloc(m.text_len + 1)))
            rc = MC_INTERNAL_ERROR;
        else if (regex && memchr(m.text, '\0', m.text_len))
            rc = MC_INVALID_PARAMS;
        if (pattern) {
            memcpy(pattern, m.text, m.text_len);
            pattern[m.text_len] = '\0';
        }
        if (rc == MC_OK)
            rc = store_remove_many(c->ipc->svc, pattern, (m.flags & MC_IPC_F_FORCE) != 0, &value);
        free(pattern);
    } else if (h->op == MC_IPC_SEGMENT) {
        const char *name = store_service_segment_name(c->ipc->svc);
        c->reply_fd = store_service_segment_share(c->ipc->svc, &value);
        if (c->reply_fd < 0) {
            rc = MC_UNAVAILABLE_IN_CURRENT_MODE;
            why = "no segment to share (none, or the kernel cannot seal it read-only)";
        } else {
            return reply_small(c, h, MC_OK, value, name);
        }
    } else if (h->op == MC_IPC_HEALTH) {
        rc = store_service_healthy(c->ipc->svc, detail, sizeof(detail))
                 ? MC_OK
                 : MC_UNAVAILABLE_IN_CURRENT_STATUS;
        why = rc == MC_OK ? NULL : detail;
    } else {
        rc = MC_INVALID_PARAMS;
    }
    return reply_small(c, h, rc, value, rc == MC_OK ? NULL : why);
}

static int handle_op(conn_t *c, const mc_ipc_hdr_t *h, int fd);

static int handle(conn_t *c, const mc_ipc_hdr_t *h, int fd)
{
    uint64_t t0 = mc_now_ns();
    int rc = handle_op(c, h, fd);

    if (h->op < MC_IPC_OPS && c->ipc->op_seconds[h->op])
        mc_histogram_observe(c->ipc->op_seconds[h->op], (double)(mc_now_ns() - t0) / 1e9);
    return rc;
}

static int handle_op(conn_t *c, const mc_ipc_hdr_t *h, int fd)
{
    keys_job_t j;
    mc_errmsg_t e = {""};
    int rc;

    mc_counter_add(c->ipc->requests, 1);
    if (fd >= 0 && h->op != MC_IPC_REGISTER) {
        close(fd);
        reject(c->ipc, REJECT_BAD_MESSAGE);
        return MC_INVALID_PARAMS; /* a descriptor where none belongs: drop the client */
    }
    switch (h->op) {
    case MC_IPC_PUT:
    case MC_IPC_GET:
    case MC_IPC_EXIST:
    case MC_IPC_SIZE:
    case MC_IPC_REMOVE:
    case MC_IPC_GET_BUFFER:
    case MC_IPC_RELEASE:
    case MC_IPC_REPLICA_CLEAR:
        rc = job_init(&j, c, h, &e);
        if (rc == MC_OK)
            run_keys(&j, h->op);
        else
            reject(c->ipc, REJECT_BAD_MESSAGE);
        /* a request refused as a whole: its status, no per-key results */
        rc = mc_ipc_keys_reply_encode(&c->out, h->op, h->id, rc, j.res, rc == MC_OK ? j.m.n : 0);
        job_cleanup(&j);
        return rc;
    case MC_IPC_REPLICA_DESC: return handle_desc(c, h);
    case MC_IPC_HELLO: reject(c->ipc, REJECT_BAD_MESSAGE); return MC_INVALID_PARAMS;
    default: break;
    }
    rc = handle_small(c, h, fd);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* The first message: version range and the client's name. */
static bool uid_is_admin(const store_ipc_opts_t *o, uid_t uid)
{
    if (o->n_admin_uids == 0)
        return uid == getuid();
    for (size_t i = 0; i < o->n_admin_uids; i++)
        if (o->admin_uids[i] == (uint32_t)uid)
            return true;
    return false;
}

static int hello(conn_t *c)
{
    store_ipc_t *ipc = c->ipc;
    mc_ipc_hdr_t h;
    mc_ipc_hello_t m;
    mc_errmsg_t e = {""};
    int fd = -1, rc;
    bool ok;

    rc = mc_ipc_recv(c->fd, 0, (int)ipc->o.timeout_ms, (int)ipc->o.timeout_ms, &h, &c->in, &fd, &e);
    if (fd >= 0)
        close(fd);
    if (rc != MC_OK || h.op != MC_IPC_HELLO ||
        mc_ipc_hello_decode((const uint8_t *)c->in.data, c->in.len, &m, &e) != MC_OK) {
        reject(ipc, REJECT_BAD_MESSAGE);
        return MC_INVALID_PARAMS;
    }
    ok = m.min_version <= MC_IPC_VERSION && m.max_version >= MC_IPC_VERSION;
    if (!ok)
        reject(ipc, REJECT_VERSION);
    c->admin = uid_is_admin(&ipc->o, c->uid) ||
               (m.admin_token_len && ipc->o.admin_tokens &&
                mc_auth_tokens_match(ipc->o.admin_tokens, m.admin_token, m.admin_token_len));
    rc = mc_ipc_hello_reply_encode(
        &c->out, h.id,
        &(mc_ipc_hello_reply_t){.status = ok ? MC_OK : MC_INVALID_VERSION,
                                .version = MC_IPC_VERSION,
                                .flags = ipc->o.ephemeral ? MC_IPC_HELLO_F_EPHEMERAL : 0,
                                .max_msg = MC_IPC_MAX_MSG,
                                .max_batch = ipc->o.max_batch,
                                .max_regions = ipc->o.max_regions,
                                .max_mapped = ipc->o.max_mapped,
                                .hostname = ipc->o.hostname,
                                .hostname_len = strlen(ipc->o.hostname),
                                .master = ipc->o.master,
                                .master_len = strlen(ipc->o.master)});
    if (rc == MC_OK)
        rc = mc_ipc_send(c->fd, c->out.data, c->out.len, -1);
    c->out.len = 0;
    return ok ? rc : MC_INVALID_VERSION;
}

static void *conn_main(void *arg)
{
    conn_t *c = arg;
    store_ipc_t *ipc = c->ipc;

    if (hello(c) == MC_OK) {
        for (;;) {
            mc_ipc_hdr_t h;
            mc_errmsg_t e = {""};
            int fd = -1, rc;

            if (ipc->o.view_renew_ms && c->n_views) {
                struct pollfd p = {.fd = c->fd, .events = POLLIN};
                uint64_t since = mc_now_ms() - c->renewed_ms;
                int wait = since >= ipc->o.view_renew_ms ? 0 : (int)(ipc->o.view_renew_ms - since);

                if (poll(&p, 1, wait) == 0) { /* idle with views out */
                    views_renew(c);
                    continue;
                }
            }
            rc = mc_ipc_recv(c->fd, 0, -1, (int)ipc->o.timeout_ms, &h, &c->in, &fd, &e);

            if (rc != MC_OK) {
                if (rc != MC_RPC_FAIL) {
                    reject(ipc, REJECT_BAD_MESSAGE);
                    MC_DEBUG("ipc client dropped: %s", e.msg);
                }
                break;
            }
            if ((h.op & MC_IPC_REPLY) || handle(c, &h, fd) != MC_OK)
                break;
            views_maybe_renew(c);
            rc = mc_ipc_send(c->fd, c->out.data, c->out.len, c->reply_fd);
            c->out.len = 0;
            if (c->reply_fd >= 0)
                close(c->reply_fd);
            c->reply_fd = -1;
            if (rc != MC_OK)
                break;
        }
    }
    views_release_all(c);
    for (uint32_t i = 0; i < ipc->o.max_regions; i++)
        region_drop(c, &c->regions[i]);
    shutdown(c->fd, SHUT_RDWR);
    atomic_store(&c->done, true);
    return NULL;
}

/* ---- accepting ---- */

static bool peer_allowed(const store_ipc_t *ipc, int fd, uid_t *uid)
{
    struct ucred cr;
    socklen_t len = sizeof(cr);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0)
        return false;
    *uid = cr.uid;
    if (cr.uid == getuid())
        return true;
    for (size_t i = 0; i < ipc->o.n_gids; i++)
        if ((uint32_t)cr.gid == ipc->o.allowed_gids[i])
            return true;
    return false;
}

static void conn_free(conn_t *c)
{
    close(c->fd);
    mc_buf_cleanup(&c->in);
    mc_buf_cleanup(&c->out);
    free(c->regions);
    free(c);
}

/* Joins the clients whose threads have finished (all of them when `all`,
 * after shutting their sockets down). */
static void reap(store_ipc_t *ipc, bool all)
{
    conn_t **pp, *done = NULL;

    mc_mutex_lock(&ipc->mu);
    for (pp = &ipc->conns; *pp;) {
        conn_t *c = *pp;
        if (all)
            shutdown(c->fd, SHUT_RDWR);
        if (all || atomic_load(&c->done)) {
            *pp = c->next;
            c->next = done;
            done = c;
            ipc->n_conns--;
        } else {
            pp = &c->next;
        }
    }
    mc_mutex_unlock(&ipc->mu);
    while (done) {
        conn_t *c = done;
        done = c->next;
        pthread_join(c->thread, NULL);
        conn_free(c);
    }
}

static void accept_one(store_ipc_t *ipc)
{
    int fd = accept4(ipc->lfd, NULL, NULL, SOCK_CLOEXEC);
    conn_t *c;
    uid_t uid = (uid_t)-1;

    if (fd < 0)
        return;
    if (!peer_allowed(ipc, fd, &uid)) {
        reject(ipc, REJECT_PEER_CRED);
        close(fd);
        return;
    }
    reap(ipc, false);
    mc_mutex_lock(&ipc->mu);
    if (ipc->n_conns >= ipc->o.max_clients) {
        mc_mutex_unlock(&ipc->mu);
        reject(ipc, REJECT_TOO_MANY_CLIENTS);
        close(fd);
        return;
    }
    mc_mutex_unlock(&ipc->mu);
    if (!(c = calloc(1, sizeof(*c))) ||
        !(c->regions = calloc(ipc->o.max_regions, sizeof(region_t)))) {
        free(c);
        close(fd);
        return;
    }
    c->ipc = ipc;
    c->fd = fd;
    c->uid = uid;
    c->reply_fd = -1;
    atomic_init(&c->done, false);
    mc_buf_init(&c->in, MC_IPC_MAX_MSG);
    mc_buf_init(&c->out, 0);
    if (pthread_create(&c->thread, NULL, conn_main, c) != 0) {
        conn_free(c);
        return;
    }
    mc_counter_add(ipc->connects, 1);
    mc_mutex_lock(&ipc->mu);
    c->next = ipc->conns;
    ipc->conns = c;
    ipc->n_conns++;
    mc_mutex_unlock(&ipc->mu);
}

static void *accept_main(void *arg)
{
    store_ipc_t *ipc = arg;

    for (;;) {
        struct pollfd p[2] = {{ipc->lfd, POLLIN, 0}, {ipc->stop_pipe[0], POLLIN, 0}};
        int n = poll(p, 2, 1000);

        if (n < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            break;
        if (n > 0 && (p[0].revents & POLLIN))
            accept_one(ipc);
        else
            reap(ipc, false);
    }
    return NULL;
}

/* ---- the socket file ---- */

/* A socket at path that nobody answers on is a dead service's: removed. One
 * that answers belongs to a live service: refused. */
static int claim_path(const char *path, mc_errmsg_t *err)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    struct stat st;
    int fd, rc;

    if (lstat(path, &st) != 0)
        return errno == ENOENT ? MC_OK
                               : mc_fail(err, MC_INVALID_PARAMS, "%s: %s", path, strerror(errno));
    if (!S_ISSOCK(st.st_mode))
        return mc_fail(err, MC_INVALID_PARAMS, "%s exists and is not a socket", path);
    mc_strlcpy(a.sun_path, path, sizeof(a.sun_path));
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return mc_fail(err, MC_INTERNAL_ERROR, "socket: %s", strerror(errno));
    rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
    close(fd);
    if (rc == 0)
        return mc_fail(err, MC_SEGMENT_ALREADY_EXISTS,
                       "%s: another store service is listening there", path);
    if (unlink(path) != 0)
        return mc_fail(err, MC_INVALID_PARAMS, "cannot remove stale socket %s: %s", path,
                       strerror(errno));
    MC_INFO("removed the stale IPC socket %s", path);
    return MC_OK;
}

static int make_parent(const char *path, mc_errmsg_t *err)
{
    char dir[108];
    char *slash;

    mc_strlcpy(dir, path, sizeof(dir));
    if (!(slash = strrchr(dir, '/')) || slash == dir)
        return MC_OK;
    *slash = '\0';
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return mc_fail(err, MC_INVALID_PARAMS, "cannot create %s: %s", dir, strerror(errno));
    return MC_OK;
}

static int listen_on(store_ipc_t *ipc, mc_errmsg_t *err)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int rc;

    if (strlen(ipc->path) >= sizeof(a.sun_path))
        return mc_fail(err, MC_INVALID_PARAMS, "IPC socket path longer than %zu bytes",
                       sizeof(a.sun_path) - 1);
    if ((rc = make_parent(ipc->path, err)) != MC_OK || (rc = claim_path(ipc->path, err)) != MC_OK)
        return rc;
    mc_strlcpy(a.sun_path, ipc->path, sizeof(a.sun_path));
    if ((ipc->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return mc_fail(err, MC_INTERNAL_ERROR, "socket: %s", strerror(errno));
    if (bind(ipc->lfd, (struct sockaddr *)&a, sizeof(a)) != 0)
        return mc_fail(err, MC_INVALID_PARAMS, "bind %s: %s", ipc->path, strerror(errno));
    ipc->bound = true;
    if (chmod(ipc->path, 0660) != 0 || listen(ipc->lfd, 128) != 0)
        return mc_fail(err, MC_INTERNAL_ERROR, "listen %s: %s", ipc->path, strerror(errno));
    return MC_OK;
}

/* "1000,1001" into ids[0..*n) (at most STORE_IPC_MAX_GIDS); flag names the
 * option in errors. */
static int parse_ids(const char *list, const char *flag, uint32_t *ids, size_t *n_out,
                     mc_errmsg_t *err)
{
    const char *p = list;
    size_t n_ids = 0;

    *n_out = 0; /* nothing on error */
    while (p && *p) {
        size_t n = strcspn(p, ",");
        char num[16];
        uint64_t v;

        if (n > 0 && n < sizeof(num)) {
            memcpy(num, p, n);
            num[n] = '\0';
        }
        if (n == 0 || n >= sizeof(num) || mc_parse_u64(num, &v) != MC_OK || v >= UINT32_MAX)
            return mc_fail(err, MC_INVALID_PARAMS, "%s: bad id in \"%s\"", flag, list);
        if (n_ids == STORE_IPC_MAX_GIDS)
            return mc_fail(err, MC_INVALID_PARAMS, "%s: more than %d ids", flag,
                           STORE_IPC_MAX_GIDS);
        ids[n_ids++] = (uint32_t)v;
        p += n + (p[n] == ',');
    }
    *n_out = n_ids;
    return MC_OK;
}

int store_ipc_parse_gids(const char *list, store_ipc_opts_t *o, mc_errmsg_t *err)
{
    return parse_ids(list, "ipc_allowed_gids", o->allowed_gids, &o->n_gids, err);
}

int store_ipc_parse_admin_uids(const char *list, store_ipc_opts_t *o, mc_errmsg_t *err)
{
    return parse_ids(list, "ipc_admin_uids", o->admin_uids, &o->n_admin_uids, err);
}

int store_ipc_start(store_service_t *svc, mc_metrics_t *metrics, const store_ipc_opts_t *o,
                    store_ipc_t **out, mc_errmsg_t *err)
{
    store_ipc_t *ipc = calloc(1, sizeof(*ipc));
    int rc;

    *out = NULL;
    if (!ipc)
        return mc_fail(err, MC_INTERNAL_ERROR, "out of memory");
    ipc->svc = svc;
    ipc->o = *o;
    ipc->lfd = -1;
    ipc->stop_pipe[0] = ipc->stop_pipe[1] = -1;
    mc_strlcpy(ipc->path, o->path, sizeof(ipc->path));
    mc_mutex_init(&ipc->mu);
#define REJECT_COUNTER_(name, label)                               \
    ipc->rejects[REJECT_##name] =                                  \
        mc_metrics_counter(metrics, "mc_store_ipc_rejected_total", \
                           "Local-client requests or clients refused", "reason=\"" label "\"");
    REJECT_REASONS(REJECT_COUNTER_)
#undef REJECT_COUNTER_
    ipc->requests = mc_metrics_counter(metrics, "mc_store_ipc_requests_total",
                                       "Local-client requests served", NULL);
    ipc->connects = mc_metrics_counter(metrics, "mc_store_ipc_connections_total",
                                       "Local clients accepted", NULL);
    ipc->renewals =
        mc_metrics_counter(metrics, "mc_store_ipc_view_renewals_total",
                           "Hold renewals of local clients' open views (per key)", NULL);
    {
        static const double bounds[] = {0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
                                        0.001,   0.0025,   0.005,   0.01,   0.025,   0.05,
                                        0.1,     0.25,     0.5,     1,      2.5};
        static const char *const names[MC_IPC_OPS] = {
            [MC_IPC_REGISTER] = "register",
            [MC_IPC_UNREGISTER] = "unregister",
            [MC_IPC_PUT] = "put",
            [MC_IPC_GET] = "get",
            [MC_IPC_EXIST] = "exist",
            [MC_IPC_SIZE] = "size",
            [MC_IPC_REMOVE] = "remove",
            [MC_IPC_REMOVE_REGEX] = "remove_regex",
            [MC_IPC_REMOVE_ALL] = "remove_all",
            [MC_IPC_HEALTH] = "health",
            [MC_IPC_SEGMENT] = "segment",
            [MC_IPC_GET_BUFFER] = "get_buffer",
            [MC_IPC_RELEASE] = "release",
            [MC_IPC_REPLICA_CLEAR] = "replica_clear",
            [MC_IPC_REPLICA_DESC] = "replica_desc",
        };
        char labels[64];

        for (int op = 0; op < MC_IPC_OPS; op++) {
            if (!names[op])
                continue;
            snprintf(labels, sizeof(labels), "op=\"%s\"", names[op]);
            ipc->op_seconds[op] = mc_metrics_histogram(
                metrics, "mc_store_ipc_request_seconds",
                "Local-client requests by opcode: time to serve, reply excluded", labels, bounds,
                sizeof(bounds) / sizeof(bounds[0]));
        }
    }
    ipc->gather_copies = mc_metrics_counter(
        metrics, "mc_store_ipc_bounce_copies_total",
        "Values copied through a bounce buffer (several fragments per key)", NULL);
    if ((rc = listen_on(ipc, err)) != MC_OK)
        goto fail;
    if (pipe2(ipc->stop_pipe, O_CLOEXEC) != 0 ||
        pthread_create(&ipc->acceptor, NULL, accept_main, ipc) != 0) {
        rc = mc_fail(err, MC_INTERNAL_ERROR, "cannot start the IPC thread");
        goto fail;
    }
    *out = ipc;
    return MC_OK;
fail:
    if (ipc->lfd >= 0)
        close(ipc->lfd);
    if (ipc->bound)
        unlink(ipc->path);
    if (ipc->stop_pipe[0] >= 0) {
        close(ipc->stop_pipe[0]);
        close(ipc->stop_pipe[1]);
    }
    mc_mutex_destroy(&ipc->mu);
    free(ipc);
    return rc;
}

void store_ipc_stop(store_ipc_t *ipc)
{
    if (!ipc)
        return;
    if (write(ipc->stop_pipe[1], "x", 1) != 1)
        MC_WARN("ipc: cannot wake the accept thread");
    pthread_join(ipc->acceptor, NULL);
    reap(ipc, true);
    close(ipc->lfd);
    unlink(ipc->path);
    close(ipc->stop_pipe[0]);
    close(ipc->stop_pipe[1]);
    mc_mutex_destroy(&ipc->mu);
    free(ipc);
}
