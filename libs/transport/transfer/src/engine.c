/* The engine: options, back end set-up, exposed segments and their epochs,
 * local buffer registration, and the table of back ends: the only place that
 * names them (each is one te_backend_t, see te_internal.h). Batches live in te_batch.c, descriptors and the
 * metadata server in te_meta.c. */
#include "te_internal.h"

#include "mc/errors.h"
#include "mc/http_client.h"
#include "mc/mtime.h"
#include "mc/strutil.h"
#include "sockutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const mc_te_opts_t *te_opts(const mc_te_t *te)
{
    return &te->o;
}

const char *mc_te_endpoint(const mc_te_t *te)
{
    return te->endpoint;
}

/* The back ends, in the order a segment is opened with the first one that
 * reaches it: a segment of this engine by memcpy, then RDMA when both sides
 * have it, then TCP. `always` rows run whatever the protocol list says; the
 * others run when it names them. */
static const struct {
    const te_backend_t *b;
    bool always;
} backend_table[] = {
    {&te_backend_mem, true},
    {&te_backend_rdma, false},
    {&te_backend_tcp, false},
};
#define N_BACKENDS (sizeof backend_table / sizeof backend_table[0])
_Static_assert(N_BACKENDS <= TE_MAX_BACKENDS, "raise TE_MAX_BACKENDS");

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* "rdma, tcp": the names a protocol list may use. */
static void protocol_names(char *buf, size_t cap)
{
    size_t off = 0;

    buf[0] = '\0';
    for (unsigned i = 0; i < N_BACKENDS; i++) {
        int w;
        if (backend_table[i].always)
            continue;
        w = snprintf(buf + off, cap - off, "%s%s", off ? ", " : "", backend_table[i].b->name);
        if (w < 0 || (size_t)w >= cap - off)
            return;
        off += (size_t)w;
    }
}

/* Marks the table rows the protocol list names (a name matches a row that
 * is not always on); the always-on rows are wanted anyway. */
static int parse_protocols(mc_te_t *te, const char *list)
{
    const char *p = list;
    bool any = false;

    te->n_be = N_BACKENDS;
    for (unsigned i = 0; i < N_BACKENDS; i++)
        te->be[i] = (te_backend_slot_t){.b = backend_table[i].b, .wanted = backend_table[i].always};
    while (*p) {
        size_t n = strcspn(p, ",");
        unsigned i = 0;

        while (i < N_BACKENDS &&
               (backend_table[i].always || n == 0 || strlen(backend_table[i].b->name) != n ||
                strncmp(p, backend_table[i].b->name, n) != 0))
            i++;
        if (i < N_BACKENDS) {
            te->be[i].wanted = any = true;
        } else if (n != 0) {
            char names[128];
            protocol_names(names, sizeof names);
            return mc_fail(te->create_err, MC_INVALID_PARAMS, "unknown protocol in \"%s\" (%s)",
                           list, names);
        }
        p += n + (p[n] == ',');
    }
    if (!any) {
        return mc_fail(te->create_err, MC_INVALID_PARAMS, "no protocol given");
    }
    return MC_OK;
}

/* Copies opts, fills defaults, checks ranges. */
static int setup_opts(mc_te_t *te, const mc_te_opts_t *in)
{
    mc_te_opts_t *o = &te->o;

    *o = *in;
    te->s_local = strdup(in->local_name ? in->local_name : "127.0.0.1:0");
    te->s_protos = strdup(in->protocols ? in->protocols : "tcp");
    te->s_meta = dup_or_null(in->metadata_url);
    te->s_devs = dup_or_null(in->rdma_devices);
    if (!te->s_local || !te->s_protos || (in->metadata_url && !te->s_meta) ||
        (in->rdma_devices && !te->s_devs))
        return MC_INTERNAL_ERROR;
    o->local_name = te->s_local;
    o->protocols = te->s_protos;
    o->metadata_url = te->s_meta;
    o->rdma_devices = te->s_devs;
    if (!o->tcp_conns) { /* more connections than cores only adds contention */
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        o->tcp_conns = n < 2 ? 2 : n > 4 ? 4 : (unsigned)n;
    }
    if (!o->tcp_depth)
        o->tcp_depth = 16;
    if (!o->tcp_min_slice)
        o->tcp_min_slice = 256 << 10;
    if (!o->connect_timeout_ms)
        o->connect_timeout_ms = 2000;
    if (!o->request_timeout_ms)
        o->request_timeout_ms = 5000;
    if (!o->republish_ms)
        o->republish_ms = 5000;
    if (!o->auth_timeout_ms)
        o->auth_timeout_ms = 2000;
    if (!o->max_conns)
        o->max_conns = 512;
    if (!o->idle_timeout_ms)
        o->idle_timeout_ms = 120000;
    o->auth = (mc_te_auth_keys_t){{NULL, NULL}, {0, 0}}; /* the bytes live in te->auth */
    if (te_auth_set(&te->auth, &in->auth) != MC_OK) {
        return mc_fail(te->create_err, MC_INVALID_PARAMS,
                       "auth keys: key[0] is needed for key[1], each 1..%u bytes",
                       (unsigned)MC_TE_AUTH_KEY_MAX);
    }
    if (o->tcp_conns > 64 || o->tcp_depth > 1024) {
        return mc_fail(te->create_err, MC_INVALID_PARAMS,
                       "tcp_conns must be <= 64 and tcp_depth <= 1024");
    }
    if (te_parse_endpoint(te->s_local, te->host, sizeof te->host, &te->port, true) != MC_OK) {
        return mc_fail(te->create_err, MC_INVALID_PARAMS, "local_name \"%s\" is not host:port",
                       te->s_local);
    }
    return parse_protocols(te, te->s_protos);
}

/* Starts every wanted row, in table order; the first failure stops it
 * (mc_te_destroy then finishes the ones started). */
static int start_backends(mc_te_t *te)
{
    for (unsigned i = 0; i < te->n_be; i++) {
        te_backend_slot_t *e = &te->be[i];
        int rc;

        if (!e->wanted)
            continue;
        if ((rc = e->b->init(te, &e->state)) != MC_OK)
            return rc;
        e->up = true;
    }
    return MC_OK;
}

static void stop_backends(mc_te_t *te)
{
    for (unsigned i = te->n_be; i-- > 0;) {
        if (te->be[i].up)
            te->be[i].b->fini(te->be[i].state);
        te->be[i].up = false;
    }
}

/* Registers memory with every running back end that registers memory; on
 * failure undoes the ones done. */
static int reg_all(mc_te_t *te, void *addr, size_t len)
{
    for (unsigned i = 0; i < te->n_be; i++) {
        const te_backend_slot_t *e = &te->be[i];
        int rc;

        if (!e->up || !e->b->reg || (rc = e->b->reg(e->state, addr, len)) == MC_OK)
            continue;
        while (i-- > 0)
            if (te->be[i].up && te->be[i].b->unreg)
                te->be[i].b->unreg(te->be[i].state, addr);
        return rc;
    }
    return MC_OK;
}

static void unreg_all(mc_te_t *te, void *addr)
{
    for (unsigned i = 0; i < te->n_be; i++)
        if (te->be[i].up && te->be[i].b->unreg)
            te->be[i].b->unreg(te->be[i].state, addr);
}

int te_backend_for(mc_te_t *te, const te_seg_desc_t *d, const te_backend_t **b, void **state)
{
    for (unsigned i = 0; i < te->n_be; i++) {
        const te_backend_slot_t *e = &te->be[i];
        if (e->up && e->b->reaches(e->state, d)) {
            *b = e->b;
            *state = e->state;
            return MC_OK;
        }
    }
    return MC_INVALID_PARAMS;
}

int te_control(mc_te_t *te, uint8_t opcode, const uint8_t *in, size_t in_len, uint8_t *out,
               size_t out_cap, size_t *out_len)
{
    *out_len = 0;
    for (unsigned i = 0; i < te->n_be; i++) {
        const te_backend_slot_t *e = &te->be[i];
        if (e->up && opcode != 0 && e->b->ctrl_opcode == opcode && e->b->handle_control)
            return e->b->handle_control(e->state, in, in_len, out, out_cap, out_len);
    }
    return MC_INVALID_PARAMS;
}

int mc_te_create(const mc_te_opts_t *opts, mc_te_t **out, mc_errmsg_t *err)
{
    mc_te_t *te = calloc(1, sizeof *te);
    uint16_t port = 0;
    int rc;

    if (!te)
        return mc_fail(err, MC_INTERNAL_ERROR, "out of memory");
    te->create_err = err;
    pthread_mutex_init(&te->seg_mu, NULL);
    pthread_cond_init(&te->seg_cv, NULL);
    pthread_mutex_init(&te->open_mu, NULL);
    pthread_mutex_init(&te->rp_mu, NULL);
    (void)te_auth_init(&te->auth, NULL);
    te->next_seg_id = 1;
    rc = setup_opts(te, opts);
    if (rc == MC_OK && te->s_meta && strcmp(te->s_meta, "P2P") != 0 &&
        strcmp(te->s_meta, "p2p") != 0) {
        mc_http_client_opts_t ho = {.connect_timeout_ms = te->o.connect_timeout_ms,
                                    .timeout_ms = te->o.request_timeout_ms,
                                    .retries = 1,
                                    .max_response = MC_TE_DESC_MAX,
                                    .bearer = te->o.bearer};
        if (opts->publisher)
            snprintf(ho.header, sizeof(ho.header), "X-Mooncake-Publisher: %s", opts->publisher);
        te->http = mc_http_client_create(&ho);
        memset(ho.header, 0, sizeof(ho.header));
        te->o.publisher = NULL; /* the caller's string: used only here */
        rc = te->http ? MC_OK : MC_INTERNAL_ERROR;
    }
    if (rc == MC_OK)
        rc = start_backends(te);
    if (rc == MC_OK)
        rc = te_tcp_server_create(te, te->host, te->port, &te->server, &port);
    if (rc == MC_OK) {
        if (snprintf(te->endpoint, sizeof te->endpoint, "%.100s:%u", te->host, (unsigned)port) <= 0)
            rc = MC_INTERNAL_ERROR;
        rc = te_meta_start(te);
    }
    te->create_err = NULL;
    if (rc != MC_OK) {
        mc_te_destroy(te);
        return rc;
    }
    *out = te;
    return MC_OK;
}

void mc_te_destroy(mc_te_t *te)
{
    te_local_seg_t *s;

    if (!te)
        return;
    te_meta_stop(te);
    te_tcp_server_destroy(te->server); /* no more incoming requests */
    te_opened_destroy_all(te);
    while ((s = te->segs) != NULL) {
        te->segs = s->next;
        if (te->http)
            te_meta_delete(te, s->name);
        unreg_all(te, s->base);
        free(s);
    }
    stop_backends(te);
    mc_http_client_destroy(te->http);
    pthread_mutex_destroy(&te->rp_mu);
    pthread_mutex_destroy(&te->open_mu);
    pthread_cond_destroy(&te->seg_cv);
    pthread_mutex_destroy(&te->seg_mu);
    free(te->s_local);
    free(te->s_meta);
    free(te->s_protos);
    free(te->s_devs);
    te_auth_cleanup(&te->auth);
    free(te);
}

int mc_te_set_auth_keys(mc_te_t *te, const mc_te_auth_keys_t *keys)
{
    int rc;

    if (!te)
        return MC_INVALID_PARAMS;
    if ((rc = te_auth_set(&te->auth, keys)) != MC_OK)
        return rc;
    te_tcp_server_revoke(te->server);
    return MC_OK;
}

int te_connect(mc_te_t *te, const char *host, uint16_t port, int *fd)
{
    int rc = te_sock_connect(host, port, te->o.connect_timeout_ms, fd);

    if (rc != MC_OK)
        return rc;
    rc = te_auth_client(&te->auth, *fd, mc_now_ns() + (uint64_t)te->o.auth_timeout_ms * 1000000u);
    if (rc != MC_OK) {
        close(*fd);
        *fd = -1;
        return MC_TRANSFER_FAIL;
    }
    return MC_OK;
}

/* ---- exposed segments ---- */

static te_local_seg_t *find_by_name_locked(mc_te_t *te, const char *name)
{
    for (te_local_seg_t *s = te->segs; s; s = s->next)
        if (!s->dead && strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

te_local_seg_t *te_local_seg_get(mc_te_t *te, uint32_t id)
{
    te_local_seg_t *s;

    pthread_mutex_lock(&te->seg_mu);
    for (s = te->segs; s; s = s->next)
        if (s->id == id && !s->dead)
            break;
    if (s)
        s->refs++;
    pthread_mutex_unlock(&te->seg_mu);
    return s;
}

void te_local_seg_put(mc_te_t *te, te_local_seg_t *s)
{
    pthread_mutex_lock(&te->seg_mu);
    if (--s->refs == 0 && s->dead)
        pthread_cond_broadcast(&te->seg_cv);
    pthread_mutex_unlock(&te->seg_mu);
}

int te_local_seg_check(const te_local_seg_t *s, uint64_t epoch, uint64_t off, uint64_t len)
{
    if (epoch != atomic_load(&s->epoch))
        return MC_INVALID_VERSION;
    if (off > s->len || len > s->len - off)
        return MC_INVALID_PARAMS;
    return MC_OK;
}

void te_local_seg_describe(mc_te_t *te, const te_local_seg_t *s, te_seg_desc_t *d)
{
    memset(d, 0, sizeof *d);
    mc_strlcpy(d->name, s->name, sizeof d->name);
    mc_strlcpy(d->endpoint, te->endpoint, sizeof d->endpoint);
    mc_strlcpy(d->uuid, s->uuid, sizeof d->uuid);
    d->seg_id = s->id;
    d->epoch = atomic_load(&s->epoch);
    d->length = s->len;
    for (unsigned i = 0; i < te->n_be; i++)
        if (te->be[i].up && te->be[i].b->describe)
            te->be[i].b->describe(te->be[i].state, s->base, s->len, d);
}

int mc_te_register_segment(mc_te_t *te, const char *name, void *addr, size_t len, uint64_t epoch)
{
    return mc_te_register_segment_uuid(te, name, addr, len, epoch, NULL);
}

int mc_te_register_segment_uuid(mc_te_t *te, const char *name, void *addr, size_t len,
                                uint64_t epoch, const char *uuid)
{
    te_local_seg_t *s;
    int rc;

    if (!te || !name || (!addr && len) || epoch == 0 ||
        mc_key_validate(name, strlen(name), MC_TE_NAME_MAX - 1) != MC_OK ||
        (uuid && mc_key_validate(uuid, strlen(uuid), MC_TE_UUID_MAX - 1) != MC_OK))
        return MC_INVALID_PARAMS;
    if (!(s = calloc(1, sizeof *s)))
        return MC_INTERNAL_ERROR;
    mc_strlcpy(s->name, name, sizeof s->name);
    mc_strlcpy(s->uuid, uuid ? uuid : "", sizeof s->uuid);
    s->base = addr;
    s->len = len;
    atomic_init(&s->epoch, epoch);
    if ((rc = reg_all(te, addr, len)) != MC_OK) {
        free(s);
        return rc;
    }
    pthread_mutex_lock(&te->seg_mu);
    if (find_by_name_locked(te, name)) {
        pthread_mutex_unlock(&te->seg_mu);
        unreg_all(te, addr);
        free(s);
        return MC_SEGMENT_ALREADY_EXISTS;
    }
    s->id = te->next_seg_id++;
    s->next = te->segs;
    te->segs = s;
    pthread_mutex_unlock(&te->seg_mu);
    if (te->http && (rc = te_meta_publish(te, s)) != MC_OK) {
        mc_te_unregister_segment(te, name);
        return rc;
    }
    return MC_OK;
}

int mc_te_unregister_segment(mc_te_t *te, const char *name)
{
    te_local_seg_t *s, **pp;

    if (!te || !name)
        return MC_INVALID_PARAMS;
    pthread_mutex_lock(&te->seg_mu);
    s = find_by_name_locked(te, name);
    if (!s) {
        pthread_mutex_unlock(&te->seg_mu);
        return MC_SEGMENT_NOT_FOUND;
    }
    s->dead = true; /* no new requests; wait for the ones being served */
    while (s->refs > 0)
        pthread_cond_wait(&te->seg_cv, &te->seg_mu);
    for (pp = &te->segs; *pp != s; pp = &(*pp)->next)
        ;
    *pp = s->next;
    pthread_mutex_unlock(&te->seg_mu);
    if (te->http)
        te_meta_delete(te, name);
    unreg_all(te, s->base);
    free(s);
    return MC_OK;
}

int mc_te_set_epoch(mc_te_t *te, const char *name, uint64_t epoch)
{
    te_local_seg_t *s;
    int rc = MC_OK;

    if (!te || !name || epoch == 0)
        return MC_INVALID_PARAMS;
    pthread_mutex_lock(&te->seg_mu);
    s = find_by_name_locked(te, name);
    if (!s)
        rc = MC_SEGMENT_NOT_FOUND;
    else if (atomic_load(&s->epoch) == epoch)
        rc = MC_INVALID_VERSION;
    else
        atomic_store(&s->epoch, epoch);
    if (s)
        s->refs++;
    pthread_mutex_unlock(&te->seg_mu);
    /* One-sided access (RDMA) carries no epoch to the owner: registering the
     * memory again (new keys) makes every stale peer's operation fail instead. */
    if (rc == MC_OK) {
        unreg_all(te, s->base);
        rc = reg_all(te, s->base, s->len);
    }
    if (rc == MC_OK && te->http)
        rc = te_meta_publish(te, s);
    if (s)
        te_local_seg_put(te, s);
    return rc;
}

int mc_te_register_buffer(mc_te_t *te, void *addr, size_t len)
{
    if (!te || !addr || !len)
        return MC_INVALID_PARAMS;
    return reg_all(te, addr, len);
}

int mc_te_unregister_buffer(mc_te_t *te, void *addr)
{
    if (!te || !addr)
        return MC_INVALID_PARAMS;
    unreg_all(te, addr);
    return MC_OK;
}
