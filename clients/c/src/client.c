/* libmooncake_client (mooncake_client.h): the IPC side of a thin client.
 *
 * One connection per handle; c->mu serializes its requests and guards every
 * field below it. Buffers the service can map are memfds sealed against
 * shrinking; each is registered once and its descriptor kept, so a
 * reconnect registers it again. */
#include "client_internal.h"
#include "mooncake_client.h"

#include "mc/auth.h"
#include "mc/buf.h"
#include "mc/errors.h"
#include "mc/ipc_msg.h"
#include "mc/ipc_sock.h"
#include "mc/limits.h"
#include "mc/strutil.h"
#include "mc/thread.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Guards the views / closed fields of every handle and seg_map refs. */
static pthread_mutex_t views_mu = PTHREAD_MUTEX_INITIALIZER;

#define DEFAULT_STAGING (16u << 20)
#define DEFAULT_PORT 50052u
#define REPLY_TIMEOUT_MS (-1) /* a request waits for its reply as long as the service works */
#define PART_TIMEOUT_MS 30000

typedef struct region {
    uint8_t *base;
    size_t size;
    int fd;        /* the memfd, kept for re-registration */
    uint32_t id;   /* the service's id on the current connection; 0 = none */
    bool user;     /* registered user memory (not shared: staged) */
    uint64_t host; /* != 0: borrowed from host memory allocation number `host` */
    struct region *next;
} region_t;

/* Host memory (mooncake_client_host_alloc): sealed memfds mapped once in the
 * process, which every handle hands to its own service on first use. */
typedef struct host_mem {
    uint8_t *base;
    size_t size;
    int fd;
    uint64_t serial; /* never reused: a freed and reallocated range is another one */
    struct host_mem *next;
} host_mem_t;

static pthread_mutex_t host_mu = PTHREAD_MUTEX_INITIALIZER;
static host_mem_t *host_list; /* guarded by host_mu */
static uint64_t host_serial;  /* guarded by host_mu */

struct mooncake_client {
    char path[108];
    mc_mutex_t mu;
    int fd MC_GUARDED_BY(mu); /* -1 while disconnected */
    uint64_t next_id MC_GUARDED_BY(mu);
    uint32_t max_batch MC_GUARDED_BY(mu);
    char hostname[256] MC_GUARDED_BY(mu);
    char master[256] MC_GUARDED_BY(mu);
    bool ephemeral MC_GUARDED_BY(mu); /* the service stops with its starter */
    region_t *regions MC_GUARDED_BY(mu);
    region_t *staging MC_GUARDED_BY(mu);   /* created on first use */
    struct seg_map *seg MC_GUARDED_BY(mu); /* the service's segment, read-only (views) */
    size_t staging_size;
    /* views (get_buffer) still out, and whether close() was called: a closed
     * handle with views out is freed by the release of the last one.
     * Guarded by views_mu. */
    unsigned views;
    bool closed;
    void (*on_close)(void *); /* the embedded default's: client_internal.h */
    void *on_close_arg;
    mc_buf_t out MC_GUARDED_BY(mu), in MC_GUARDED_BY(mu);
};

const char *mooncake_client_version(void)
{
    return MOONCAKE_CLIENT_VERSION;
}

const char *mooncake_client_strerror(int code)
{
    return mc_err_name(code);
}

void mooncake_client_free(void *p)
{
    free(p);
}

struct seg_map;
static void map_unref(struct seg_map *m);

/* ---- the connection ---- */

static void drop_conn(mooncake_client_t *c) MC_REQUIRES(c->mu)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    for (region_t *r = c->regions; r; r = r->next)
        r->id = 0;
    if (c->seg) { /* a reconnect may reach another service: map its segment afresh */
        map_unref(c->seg);
        c->seg = NULL;
    }
}

/* Sends c->out, reads the reply to it into c->in. A descriptor that came
 * with the reply goes to *reply_fd (the caller closes it; -1 when none), or
 * is closed when reply_fd is NULL. A broken connection is dropped
 * (RPC_FAIL); the next call reconnects. */
static int round_trip(mooncake_client_t *c, uint16_t op, uint64_t id, int pass_fd, int *reply_fd)
    MC_REQUIRES(c->mu)
{
    mc_ipc_hdr_t h;
    mc_errmsg_t e;
    int got = -1;
    int rc = mc_ipc_send(c->fd, c->out.data, c->out.len, pass_fd);

    c->out.len = 0;
    if (rc == MC_OK)
        rc = mc_ipc_recv(c->fd, 0, REPLY_TIMEOUT_MS, PART_TIMEOUT_MS, &h, &c->in, &got, &e);
    if (rc == MC_OK && (h.op != (op | MC_IPC_REPLY) || h.id != id))
        rc = MC_INVALID_PARAMS;
    if (got >= 0 && (rc != MC_OK || !reply_fd)) {
        close(got);
        got = -1;
    }
    if (reply_fd)
        *reply_fd = got;
    if (rc != MC_OK) {
        drop_conn(c);
        return MC_RPC_FAIL;
    }
    return MC_OK;
}

/* One small request; reply_fd as round_trip's (closed here on failure). */
static int small_call(mooncake_client_t *c, uint16_t op, const mc_ipc_small_t *m, int pass_fd,
                      mc_ipc_small_reply_t *r, int *reply_fd) MC_REQUIRES(c->mu)
{
    uint64_t id = ++c->next_id;
    int rc = mc_ipc_small_encode(&c->out, op, id, m);

    if (reply_fd)
        *reply_fd = -1;
    if (rc != MC_OK)
        return rc;
    if ((rc = round_trip(c, op, id, pass_fd, reply_fd)) != MC_OK)
        return rc;
    if (mc_ipc_small_reply_decode((const uint8_t *)c->in.data, c->in.len, r, NULL) != MC_OK)
        rc = MC_RPC_FAIL;
    else if (r->status != MC_OK)
        rc = r->status;
    if (rc != MC_OK && reply_fd && *reply_fd >= 0) {
        close(*reply_fd);
        *reply_fd = -1;
    }
    if (rc == MC_RPC_FAIL)
        drop_conn(c);
    return rc;
}

static int register_region(mooncake_client_t *c, region_t *r) MC_REQUIRES(c->mu)
{
    mc_ipc_small_reply_t rep;
    int rc = small_call(c, MC_IPC_REGISTER, &(mc_ipc_small_t){.arg = r->size}, r->fd, &rep, NULL);

    if (rc == MC_OK)
        r->id = (uint32_t)rep.value;
    return rc;
}

static int dial(mooncake_client_t *c) MC_REQUIRES(c->mu)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    mc_ipc_hello_reply_t rep;
    uint64_t id = ++c->next_id;
    int rc;

    mc_strlcpy(a.sun_path, c->path, sizeof(a.sun_path));
    if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return MC_INTERNAL_ERROR;
    if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        drop_conn(c);
        return MC_RPC_FAIL;
    }
    {
        /* the admin token, when the environment names a file of it: admits
         * this handle's admin ops whatever its uid (docs/ipc.md) */
        const char *tf = getenv("MOONCAKE_ADMIN_TOKEN_FILE");
        mc_auth_tokens_t *t = NULL;
        char tok[MC_AUTH_MAX_TOKEN + 1];
        size_t tlen = 0;

        if (tf && *tf && mc_auth_tokens_load(tf, &t, NULL) == MC_OK)
            tlen = mc_auth_tokens_primary(t, tok, sizeof(tok));
        mc_auth_tokens_destroy(t);
        rc = mc_ipc_hello_encode(&c->out, id,
                                 &(mc_ipc_hello_t){.min_version = MC_IPC_VERSION,
                                                   .max_version = MC_IPC_VERSION,
                                                   .name = "libmooncake_client",
                                                   .name_len = strlen("libmooncake_client"),
                                                   .admin_token = tok,
                                                   .admin_token_len = tlen});
        memset(tok, 0, sizeof(tok));
    }
    if (rc == MC_OK)
        rc = round_trip(c, MC_IPC_HELLO, id, -1, NULL);
    if (rc != MC_OK)
        return rc;
    if (mc_ipc_hello_reply_decode((const uint8_t *)c->in.data, c->in.len, &rep, NULL) != MC_OK ||
        rep.status != MC_OK) {
        drop_conn(c);
        return rep.status == MC_INVALID_VERSION ? MC_INVALID_VERSION : MC_RPC_FAIL;
    }
    c->max_batch = rep.max_batch ? rep.max_batch : 1;
    snprintf(c->hostname, sizeof(c->hostname), "%.*s", (int)rep.hostname_len, rep.hostname);
    snprintf(c->master, sizeof(c->master), "%.*s", (int)rep.master_len, rep.master);
    c->ephemeral = (rep.flags & MC_IPC_HELLO_F_EPHEMERAL) != 0;
    for (region_t *r = c->regions; r; r = r->next)
        if (!r->user && (rc = register_region(c, r)) != MC_OK) {
            drop_conn(c);
            return rc;
        }
    return MC_OK;
}

/* Locks the handle and makes sure it is connected. */
static int enter(mooncake_client_t *c) MC_ACQUIRE(c->mu)
{
    mc_mutex_lock(&c->mu);
    return c->fd >= 0 ? MC_OK : dial(c);
}

static void leave(mooncake_client_t *c) MC_RELEASE(c->mu)
{
    mc_mutex_unlock(&c->mu);
}

/* ---- shared memory ---- */

/* A sealed memfd of size bytes mapped read-write: its address (*fd set), or
 * NULL. */
static void *memfd_map(size_t size, int *fd)
{
    void *p = MAP_FAILED;

    *fd = memfd_create("mooncake-client", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (*fd >= 0 && ftruncate(*fd, (off_t)size) == 0 &&
        fcntl(*fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0)
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
    if (p == MAP_FAILED) {
        if (*fd >= 0)
            close(*fd);
        *fd = -1;
        return NULL;
    }
    return p;
}

static region_t *region_new(mooncake_client_t *c, size_t size) MC_REQUIRES(c->mu)
{
    region_t *r = calloc(1, sizeof(*r));
    int fd = -1;
    void *p = r ? memfd_map(size, &fd) : NULL;

    if (!p) {
        free(r);
        return NULL;
    }
    *r = (region_t){.base = p, .size = size, .fd = fd};
    if (c->fd >= 0 && register_region(c, r) != MC_OK) {
        munmap(p, size);
        close(fd);
        free(r);
        return NULL;
    }
    r->next = c->regions;
    c->regions = r;
    return r;
}

static void region_free(mooncake_client_t *c, region_t *r) MC_REQUIRES(c->mu)
{
    mc_ipc_small_reply_t rep;

    for (region_t **pp = &c->regions; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    if (!r->user) {
        if (r->id && c->fd >= 0)
            small_call(c, MC_IPC_UNREGISTER, &(mc_ipc_small_t){.arg = r->id}, -1, &rep, NULL);
        if (!r->host)
            munmap(r->base, r->size); /* a borrowed mapping stays the allocation's */
        close(r->fd);
    }
    free(r);
}

static bool within(const uint8_t *base, size_t size, const uint8_t *b, size_t len)
{
    return b >= base && (size_t)(b - base) <= size && len <= size - (size_t)(b - base);
}

/* Host memory holding [p, p+len): 1 when it is allocation `serial`
 * (serial 0: any; *out gets a copy with a dup of its fd), 0 otherwise. */
static int host_find(const uint8_t *p, size_t len, uint64_t serial, host_mem_t *out)
{
    int found = 0;

    pthread_mutex_lock(&host_mu);
    for (host_mem_t *h = host_list; h && !found; h = h->next)
        if (within(h->base, h->size, p, len) && (!serial || h->serial == serial)) {
            found = 1;
            if (out) {
                *out = *h;
                out->fd = fcntl(h->fd, F_DUPFD_CLOEXEC, 0);
                found = out->fd >= 0;
            }
        }
    pthread_mutex_unlock(&host_mu);
    return found;
}

/* Host memory this handle has not shared yet: shared now (NULL if not host
 * memory or the service refuses it). */
static region_t *borrow_host(mooncake_client_t *c, const uint8_t *p, size_t len) MC_REQUIRES(c->mu)
{
    host_mem_t h;
    region_t *r;

    if (c->fd < 0 || !host_find(p, len, 0, &h))
        return NULL;
    if (!(r = calloc(1, sizeof(*r)))) {
        close(h.fd);
        return NULL;
    }
    *r = (region_t){.base = h.base, .size = h.size, .fd = h.fd, .host = h.serial};
    if (register_region(c, r) != MC_OK) {
        close(r->fd);
        free(r);
        return NULL;
    }
    r->next = c->regions;
    c->regions = r;
    return r;
}

/* The shared region holding [p, p+len), or NULL. */
static region_t *region_of(mooncake_client_t *c, const void *p, size_t len) MC_REQUIRES(c->mu)
{
    const uint8_t *b = p;

again:
    for (region_t *r = c->regions; r; r = r->next) {
        if (r->user || !r->id || !within(r->base, r->size, b, len))
            continue;
        if (r->host && !host_find(b, len, r->host, NULL)) {
            region_free(c, r); /* freed host memory, maybe reallocated at this address */
            goto again;
        }
        return r;
    }
    return borrow_host(c, b, len);
}

void *mooncake_client_host_alloc(size_t size)
{
    host_mem_t *h = size ? calloc(1, sizeof(*h)) : NULL;

    if (h && !(h->base = memfd_map(size, &h->fd))) {
        free(h);
        return NULL;
    }
    if (!h)
        return NULL;
    h->size = size;
    pthread_mutex_lock(&host_mu);
    h->serial = ++host_serial;
    h->next = host_list;
    host_list = h;
    pthread_mutex_unlock(&host_mu);
    return h->base;
}

int mooncake_client_host_free(void *ptr)
{
    host_mem_t *h = NULL;

    pthread_mutex_lock(&host_mu);
    for (host_mem_t **pp = &host_list; *pp; pp = &(*pp)->next)
        if ((*pp)->base == ptr) {
            h = *pp;
            *pp = h->next;
            break;
        }
    pthread_mutex_unlock(&host_mu);
    if (!h)
        return MC_INVALID_PARAMS;
    munmap(h->base, h->size);
    close(h->fd);
    free(h);
    return MC_OK;
}

void *mooncake_client_alloc_buffer(mooncake_client_t *c, size_t size)
{
    region_t *r = NULL;

    if (!c || size == 0)
        return NULL;
    if (enter(c) == MC_OK)
        r = region_new(c, size);
    leave(c);
    return r ? r->base : NULL;
}

static int release_buffer(mooncake_client_t *c, void *ptr, bool user)
{
    int rc = MC_INVALID_PARAMS;

    mc_mutex_lock(&c->mu);
    for (region_t *r = c->regions; r; r = r->next)
        if (r->base == ptr && r->user == user && r != c->staging) {
            region_free(c, r);
            rc = MC_OK;
            break;
        }
    leave(c);
    return rc;
}

int mooncake_client_free_buffer(mooncake_client_t *c, void *ptr)
{
    return c ? release_buffer(c, ptr, false) : MC_INVALID_PARAMS;
}

int mooncake_client_register_buffer(mooncake_client_t *c, void *ptr, size_t size)
{
    region_t *r;

    if (!c || !ptr || !size)
        return MC_INVALID_PARAMS;
    mc_mutex_lock(&c->mu);
    for (region_t *q = c->regions; q; q = q->next)
        if (!q->user && (uint8_t *)ptr >= q->base && (uint8_t *)ptr < q->base + q->size) {
            leave(c);
            return MC_OK; /* from alloc_buffer: shared already */
        }
    if ((r = calloc(1, sizeof(*r))) != NULL) {
        *r = (region_t){.base = ptr, .size = size, .fd = -1, .user = true, .next = c->regions};
        c->regions = r;
    }
    leave(c);
    return r ? MC_OK : MC_INTERNAL_ERROR;
}

int mooncake_client_unregister_buffer(mooncake_client_t *c, void *ptr)
{
    if (!c)
        return MC_INVALID_PARAMS;
    if (release_buffer(c, ptr, true) == MC_OK)
        return MC_OK;
    return MC_OK; /* alloc_buffer memory stays registered until free_buffer */
}

/* ---- keys requests ---- */

/* One key of a request: its fragments as the caller's memory. */
typedef struct key_io {
    const char *key;
    const mooncake_slice_t *parts;
    size_t nparts;
} key_io_t;

/* Runs one keys request (PUT/GET with fragments, or EXIST/SIZE/REMOVE
 * without) over n keys. Memory outside the shared regions is staged: copied
 * into the staging area (or a temporary region when it does not fit) before
 * a put, out of it after a get. res[i] gets each key's result; the return
 * is the whole request's status. */
static int keys_call(mooncake_client_t *c, uint16_t op, uint8_t flags,
                     const mooncake_client_replicate_config_t *cfg, const key_io_t *io, size_t n,
                     mc_ipc_key_result_t *res) MC_REQUIRES(c->mu)
{
    mc_ipc_keys_t m = {.flags = flags, .n = (uint32_t)n};
    size_t nfrag = 0, staged = 0, at = 0;
    region_t *stage = NULL, *tmp = NULL;
    mc_ipc_frag_t *frags = NULL;
    uint8_t **stage_ptr = NULL;
    uint64_t id;
    uint32_t got = 0;
    int32_t status;
    int rc = MC_OK;

    if (n == 0 || n > c->max_batch || n > MC_MAX_BATCH_KEYS)
        return MC_INVALID_PARAMS;
    if (cfg) {
        const char *pref = cfg->preferred_segments_count && cfg->preferred_segments
                               ? cfg->preferred_segments[0]
                               : NULL;

        if (cfg->replica_num > MC_MAX_REPLICAS)
            return MC_INVALID_PARAMS;
        m.replica_num = (uint8_t)cfg->replica_num;
        m.flags |= cfg->with_soft_pin ? MC_IPC_F_SOFT_PIN : 0;
        m.flags |= cfg->with_hard_pin ? MC_IPC_F_HARD_PIN : 0;
        m.preferred = pref;
        m.preferred_len = pref ? strlen(pref) : 0;
    }
    for (size_t i = 0; i < n; i++) {
        nfrag += io[i].nparts;
        for (size_t j = 0; j < io[i].nparts; j++)
            if (!region_of(c, io[i].parts[j].ptr, io[i].parts[j].size))
                staged += io[i].parts[j].size;
    }
    m.keys = calloc(n, sizeof(*m.keys));
    frags = calloc(nfrag ? nfrag : 1, sizeof(*frags));
    stage_ptr = calloc(nfrag ? nfrag : 1, sizeof(*stage_ptr));
    if (!m.keys || !frags || !stage_ptr) {
        rc = MC_INTERNAL_ERROR;
        goto out;
    }
    if (staged && c->staging_size == 0)
        return MC_INVALID_PARAMS; /* no staging area: shared buffers only */
    if (staged && !c->staging && staged <= c->staging_size)
        c->staging = region_new(c, c->staging_size);
    if (staged) {
        stage =
            c->staging && staged <= c->staging->size ? c->staging : (tmp = region_new(c, staged));
        if (!stage) {
            rc = MC_INTERNAL_ERROR;
            goto out;
        }
    }
    for (size_t i = 0, f = 0; i < n; i++) {
        m.keys[i] = (mc_ipc_key_t){io[i].key, strlen(io[i].key), (uint32_t)io[i].nparts, frags + f};
        for (size_t j = 0; j < io[i].nparts; j++, f++) {
            const mooncake_slice_t *s = &io[i].parts[j];
            region_t *r = region_of(c, s->ptr, s->size);

            if (r) {
                frags[f] = (mc_ipc_frag_t){r->id, (uint64_t)((uint8_t *)s->ptr - r->base), s->size};
                continue;
            }
            stage_ptr[f] = stage->base + at;
            if (op == MC_IPC_PUT && s->size)
                memcpy(stage_ptr[f], s->ptr, s->size);
            frags[f] = (mc_ipc_frag_t){stage->id, at, s->size};
            at += s->size;
        }
    }
    id = ++c->next_id;
    if ((rc = mc_ipc_keys_encode(&c->out, op, id, &m)) != MC_OK) {
        c->out.len = 0;
        goto out;
    }
    if ((rc = round_trip(c, op, id, -1, NULL)) != MC_OK)
        goto out;
    if (mc_ipc_keys_reply_decode((const uint8_t *)c->in.data, c->in.len, &status, res, (uint32_t)n,
                                 &got, NULL) != MC_OK ||
        (status == MC_OK && got != n)) {
        drop_conn(c);
        rc = MC_RPC_FAIL;
        goto out;
    }
    rc = status;
    if (rc == MC_OK && op == MC_IPC_GET) /* staged reads: copy out what arrived */
        for (size_t i = 0, f = 0; i < n; i++) {
            uint64_t left = res[i].code == MC_OK ? res[i].value : 0;
            for (size_t j = 0; j < io[i].nparts; j++, f++) {
                size_t k = io[i].parts[j].size < left ? io[i].parts[j].size : (size_t)left;
                if (stage_ptr[f] && k)
                    memcpy(io[i].parts[j].ptr, stage_ptr[f], k);
                left -= k;
            }
        }
out:
    if (tmp)
        region_free(c, tmp);
    free(stage_ptr);
    free(frags);
    free(m.keys);
    return rc;
}

/* Enters, checks keys, runs the call, spreads a whole-request failure over
 * the per-key results. */
static int keys_op(mooncake_client_t *c, uint16_t op, uint8_t flags,
                   const mooncake_client_replicate_config_t *cfg, const key_io_t *io, size_t n,
                   mc_ipc_key_result_t *res)
{
    int rc;

    if (!c || !io || !res || n == 0)
        return MC_INVALID_PARAMS;
    for (size_t i = 0; i < n; i++)
        if (!io[i].key || mc_key_validate(io[i].key, strlen(io[i].key), MC_MAX_KEY_LEN) != MC_OK)
            return MC_INVALID_KEY;
    if ((rc = enter(c)) == MC_OK)
        rc = keys_call(c, op, flags, cfg, io, n, res);
    leave(c);
    if (rc != MC_OK)
        for (size_t i = 0; i < n; i++)
            res[i] = (mc_ipc_key_result_t){rc, 0, 0};
    return rc;
}

static int64_t one_key(mooncake_client_t *c, uint16_t op, uint8_t flags,
                       const mooncake_client_replicate_config_t *cfg, const char *key,
                       const mooncake_slice_t *parts, size_t nparts)
{
    key_io_t io = {key, parts, nparts};
    mc_ipc_key_result_t r;
    int rc = keys_op(c, op, flags, cfg, &io, 1, &r);

    if (rc != MC_OK)
        return rc;
    if (r.code != MC_OK)
        return r.code;
    return op == MC_IPC_PUT || op == MC_IPC_REMOVE ? 0 : (int64_t)r.value;
}

int mooncake_client_put(mooncake_client_t *c, const char *key, const void *value, size_t size,
                        const mooncake_client_replicate_config_t *cfg)
{
    mooncake_slice_t s = {(void *)(uintptr_t)value, size};
    return size && value ? (int)one_key(c, MC_IPC_PUT, 0, cfg, key, &s, 1) : MC_INVALID_PARAMS;
}

int mooncake_client_upsert(mooncake_client_t *c, const char *key, const void *value, size_t size,
                           const mooncake_client_replicate_config_t *cfg)
{
    mooncake_slice_t s = {(void *)(uintptr_t)value, size};
    return size && value ? (int)one_key(c, MC_IPC_PUT, MC_IPC_F_UPSERT, cfg, key, &s, 1)
                         : MC_INVALID_PARAMS;
}

static int put_parts(mooncake_client_t *c, uint8_t flags, const char *key,
                     const mooncake_slice_t *parts, size_t n,
                     const mooncake_client_replicate_config_t *cfg)
{
    if (!parts || n == 0 || n > MC_IPC_MAX_KEY_FRAGS)
        return MC_INVALID_PARAMS;
    for (size_t i = 0; i < n; i++)
        if (!parts[i].ptr || !parts[i].size)
            return MC_INVALID_PARAMS;
    return (int)one_key(c, MC_IPC_PUT, flags, cfg, key, parts, n);
}

int mooncake_client_put_parts(mooncake_client_t *c, const char *key, const mooncake_slice_t *parts,
                              size_t n, const mooncake_client_replicate_config_t *cfg)
{
    return put_parts(c, 0, key, parts, n, cfg);
}

int mooncake_client_upsert_parts(mooncake_client_t *c, const char *key,
                                 const mooncake_slice_t *parts, size_t n,
                                 const mooncake_client_replicate_config_t *cfg)
{
    return put_parts(c, MC_IPC_F_UPSERT, key, parts, n, cfg);
}

int mooncake_client_put_from(mooncake_client_t *c, const char *key, const void *ptr, size_t size,
                             const mooncake_client_replicate_config_t *cfg)
{
    return mooncake_client_put(c, key, ptr, size, cfg);
}

int mooncake_client_upsert_from(mooncake_client_t *c, const char *key, const void *ptr, size_t size,
                                const mooncake_client_replicate_config_t *cfg)
{
    return mooncake_client_upsert(c, key, ptr, size, cfg);
}

int64_t mooncake_client_get(mooncake_client_t *c, const char *key, void *buf, size_t cap)
{
    mooncake_slice_t s = {buf, cap};
    return buf && cap ? one_key(c, MC_IPC_GET, 0, NULL, key, &s, 1) : MC_INVALID_PARAMS;
}

int64_t mooncake_client_get_into(mooncake_client_t *c, const char *key, void *ptr, size_t size)
{
    return mooncake_client_get(c, key, ptr, size);
}

int64_t mooncake_client_get_alloc(mooncake_client_t *c, const char *key, void **out)
{
    int64_t size, got;
    void *buf;

    if (!out)
        return MC_INVALID_PARAMS;
    *out = NULL;
    /* the size may change between the two calls only by a remove + put of
     * the same key; a larger value then fails with BUFFER_OVERFLOW */
    if ((size = mooncake_client_get_size(c, key)) < 0)
        return size;
    if (!(buf = malloc(size ? (size_t)size : 1)))
        return MC_INTERNAL_ERROR;
    got = mooncake_client_get(c, key, buf, (size_t)size);
    if (got < 0) {
        free(buf);
        return got;
    }
    *out = buf;
    return got;
}

int64_t mooncake_client_get_size(mooncake_client_t *c, const char *key)
{
    return one_key(c, MC_IPC_SIZE, 0, NULL, key, NULL, 0);
}

int mooncake_client_is_exist(mooncake_client_t *c, const char *key)
{
    return (int)one_key(c, MC_IPC_EXIST, 0, NULL, key, NULL, 0);
}

int mooncake_client_remove(mooncake_client_t *c, const char *key, int force)
{
    return (int)one_key(c, MC_IPC_REMOVE, force ? MC_IPC_F_FORCE : 0, NULL, key, NULL, 0);
}

static int64_t remove_many(mooncake_client_t *c, uint16_t op, const char *pattern, int force)
{
    mc_ipc_small_t m = {.flags = force ? MC_IPC_F_FORCE : 0,
                        .text = pattern ? pattern : "",
                        .text_len = pattern ? strlen(pattern) : 0};
    mc_ipc_small_reply_t r;
    int rc;

    if (!c)
        return MC_INVALID_PARAMS;
    if ((rc = enter(c)) == MC_OK)
        rc = small_call(c, op, &m, -1, &r, NULL);
    leave(c);
    return rc == MC_OK ? (int64_t)r.value : rc;
}

int64_t mooncake_client_remove_by_regex(mooncake_client_t *c, const char *pattern, int force)
{
    if (!pattern || !pattern[0])
        return MC_INVALID_PARAMS;
    return remove_many(c, MC_IPC_REMOVE_REGEX, pattern, force);
}

int64_t mooncake_client_remove_all(mooncake_client_t *c, int force)
{
    return remove_many(c, MC_IPC_REMOVE_ALL, NULL, force);
}

/* ---- batches ---- */

/* A batch of n keys with `per key` slices; results as the single calls. */
static int batch(mooncake_client_t *c, uint16_t op, uint8_t flags,
                 const mooncake_client_replicate_config_t *cfg, const char *const *keys,
                 const mooncake_slice_t *const *parts, const mooncake_slice_t *one,
                 const size_t *nparts, size_t n, int *ires, int64_t *lres)
{
    key_io_t *io = calloc(n ? n : 1, sizeof(*io));
    mc_ipc_key_result_t *res = calloc(n ? n : 1, sizeof(*res));
    int rc = io && res && keys ? MC_OK : MC_INVALID_PARAMS;

    for (size_t i = 0; rc == MC_OK && i < n; i++) {
        io[i].key = keys[i];
        io[i].parts = parts ? parts[i] : one ? &one[i] : NULL;
        io[i].nparts = parts ? nparts[i] : one ? 1 : 0;
        if ((op == MC_IPC_PUT || op == MC_IPC_GET) && (!io[i].parts || !io[i].nparts))
            rc = MC_INVALID_PARAMS;
        for (size_t j = 0; rc == MC_OK && j < io[i].nparts; j++)
            if (!io[i].parts[j].ptr || !io[i].parts[j].size)
                rc = MC_INVALID_PARAMS;
    }
    if (rc == MC_OK)
        rc = keys_op(c, op, flags, cfg, io, n, res);
    for (size_t i = 0; i < n; i++) {
        int code = rc != MC_OK ? rc : res[i].code;
        int64_t v = code != MC_OK ? code : op == MC_IPC_PUT ? 0 : (int64_t)res[i].value;
        if (ires)
            ires[i] = (int)v;
        if (lres)
            lres[i] = v;
    }
    free(io);
    free(res);
    return rc;
}

int mooncake_client_batch_is_exist(mooncake_client_t *c, const char *const *keys, size_t n,
                                   int *results)
{
    return results ? batch(c, MC_IPC_EXIST, 0, NULL, keys, NULL, NULL, NULL, n, results, NULL)
                   : MC_INVALID_PARAMS;
}

int mooncake_client_batch_remove(mooncake_client_t *c, const char *const *keys, size_t n, int force,
                                 int *results)
{
    return results ? batch(c, MC_IPC_REMOVE, force ? MC_IPC_F_FORCE : 0, NULL, keys, NULL, NULL,
                           NULL, n, results, NULL)
                   : MC_INVALID_PARAMS;
}

int mooncake_client_batch_replica_clear(mooncake_client_t *c, const char *const *keys, size_t n,
                                        const char *segment, int *results)
{
    const char *seg[1] = {segment};
    mooncake_client_replicate_config_t cfg = {
        .preferred_segments = seg, .preferred_segments_count = segment && segment[0] ? 1 : 0};

    return results
               ? batch(c, MC_IPC_REPLICA_CLEAR, 0, &cfg, keys, NULL, NULL, NULL, n, results, NULL)
               : MC_INVALID_PARAMS;
}

static void copy_name(char *dst, size_t cap, const char *s, size_t len)
{
    len = len < cap - 1 ? len : cap - 1;
    memcpy(dst, s, len);
    dst[len] = '\0';
}

/* REPLICA_DESC of n keys into out (mc_ipc_replicas_t scratch d). */
static int desc_call(mooncake_client_t *c, const char *const *keys, size_t n,
                     mooncake_client_replicas_t *out, mc_ipc_replicas_t *d) MC_REQUIRES(c->mu)
{
    mc_ipc_keys_t m = {.n = (uint32_t)n};
    uint64_t id = ++c->next_id;
    uint32_t got = 0;
    int32_t status;
    int rc;

    if (n > c->max_batch || !(m.keys = calloc(n, sizeof(*m.keys))))
        return n > c->max_batch ? MC_INVALID_PARAMS : MC_INTERNAL_ERROR;
    for (size_t i = 0; i < n; i++)
        m.keys[i] = (mc_ipc_key_t){keys[i], strlen(keys[i]), 0, NULL};
    rc = mc_ipc_keys_encode(&c->out, MC_IPC_REPLICA_DESC, id, &m);
    free(m.keys);
    if (rc != MC_OK) {
        c->out.len = 0;
        return rc;
    }
    if ((rc = round_trip(c, MC_IPC_REPLICA_DESC, id, -1, NULL)) != MC_OK)
        return rc;
    if (mc_ipc_replicas_reply_decode((const uint8_t *)c->in.data, c->in.len, &status, d,
                                     (uint32_t)n, &got, NULL) != MC_OK ||
        (status == MC_OK && got != n)) {
        drop_conn(c);
        return MC_RPC_FAIL;
    }
    for (size_t i = 0; status == MC_OK && i < n; i++) {
        out[i].code = d[i].code;
        out[i].size = d[i].code == MC_OK ? d[i].size : 0;
        out[i].n = d[i].code == MC_OK ? d[i].n : 0;
        for (uint32_t k = 0; k < out[i].n; k++) {
            mooncake_client_replica_t *r = &out[i].rep[k];
            r->type = d[i].rep[k].type;
            r->offset = d[i].rep[k].offset;
            r->size = d[i].rep[k].size;
            copy_name(r->segment, sizeof(r->segment), d[i].rep[k].segment, d[i].rep[k].segment_len);
            copy_name(r->endpoint, sizeof(r->endpoint), d[i].rep[k].endpoint,
                      d[i].rep[k].endpoint_len);
        }
    }
    return status;
}

int mooncake_client_batch_get_replica_desc(mooncake_client_t *c, const char *const *keys, size_t n,
                                           mooncake_client_replicas_t *out)
{
    mc_ipc_replicas_t *d;
    int rc = MC_OK;

    if (!c || !keys || !out || n == 0 || n > MC_MAX_BATCH_KEYS)
        return MC_INVALID_PARAMS;
    memset(out, 0, n * sizeof(*out));
    for (size_t i = 0; i < n; i++)
        if (!keys[i] || mc_key_validate(keys[i], strlen(keys[i]), MC_MAX_KEY_LEN) != MC_OK)
            rc = MC_INVALID_KEY;
    if (rc == MC_OK && !(d = calloc(n, sizeof(*d))))
        rc = MC_INTERNAL_ERROR;
    if (rc == MC_OK) {
        if ((rc = enter(c)) == MC_OK)
            rc = desc_call(c, keys, n, out, d);
        leave(c);
        free(d);
    }
    for (size_t i = 0; rc != MC_OK && i < n; i++)
        out[i].code = rc;
    return rc;
}

/* Slices for n (ptr, size) pairs. */
static mooncake_slice_t *slices_of(const void *const *ptrs, const size_t *sizes, size_t n)
{
    mooncake_slice_t *s = ptrs && sizes ? calloc(n ? n : 1, sizeof(*s)) : NULL;

    for (size_t i = 0; s && i < n; i++)
        s[i] = (mooncake_slice_t){(void *)(uintptr_t)ptrs[i], sizes[i]};
    return s;
}

static int batch_flat(mooncake_client_t *c, uint16_t op, uint8_t flags,
                      const mooncake_client_replicate_config_t *cfg, const char *const *keys,
                      const void *const *ptrs, const size_t *sizes, size_t n, int *ires,
                      int64_t *lres)
{
    mooncake_slice_t *s = slices_of(ptrs, sizes, n);
    int rc;

    if (!s || (!ires && !lres))
        rc = MC_INVALID_PARAMS;
    else
        rc = batch(c, op, flags, cfg, keys, NULL, s, NULL, n, ires, lres);
    free(s);
    return rc;
}

int mooncake_client_put_batch(mooncake_client_t *c, const char *const *keys,
                              const void *const *values, const size_t *sizes, size_t n,
                              const mooncake_client_replicate_config_t *cfg, int *results)
{
    return batch_flat(c, MC_IPC_PUT, 0, cfg, keys, values, sizes, n, results, NULL);
}

int mooncake_client_batch_put_from(mooncake_client_t *c, const char *const *keys,
                                   const void *const *ptrs, const size_t *sizes, size_t n,
                                   const mooncake_client_replicate_config_t *cfg, int *results)
{
    return batch_flat(c, MC_IPC_PUT, 0, cfg, keys, ptrs, sizes, n, results, NULL);
}

int mooncake_client_upsert_batch(mooncake_client_t *c, const char *const *keys,
                                 const void *const *values, const size_t *sizes, size_t n,
                                 const mooncake_client_replicate_config_t *cfg, int *results)
{
    return batch_flat(c, MC_IPC_PUT, MC_IPC_F_UPSERT, cfg, keys, values, sizes, n, results, NULL);
}

int mooncake_client_batch_upsert_from(mooncake_client_t *c, const char *const *keys,
                                      const void *const *ptrs, const size_t *sizes, size_t n,
                                      const mooncake_client_replicate_config_t *cfg, int *results)
{
    return mooncake_client_upsert_batch(c, keys, ptrs, sizes, n, cfg, results);
}

int mooncake_client_batch_get_into(mooncake_client_t *c, const char *const *keys, void *const *ptrs,
                                   const size_t *sizes, size_t n, int64_t *results)
{
    return batch_flat(c, MC_IPC_GET, 0, NULL, keys, (const void *const *)ptrs, sizes, n, NULL,
                      results);
}

int mooncake_client_get_batch(mooncake_client_t *c, const char *const *keys, size_t n,
                              void **values, int64_t *results)
{
    int64_t *sizes = calloc(n ? n : 1, sizeof(*sizes));
    size_t *caps = calloc(n ? n : 1, sizeof(*caps));
    int rc = sizes && caps && values && results && keys ? MC_OK : MC_INVALID_PARAMS;

    for (size_t i = 0; rc == MC_OK && i < n; i++)
        values[i] = NULL;
    /* the sizes first (one request), then one read of every key */
    if (rc == MC_OK)
        rc = batch(c, MC_IPC_SIZE, 0, NULL, keys, NULL, NULL, NULL, n, NULL, sizes);
    for (size_t i = 0; rc == MC_OK && i < n; i++) {
        caps[i] = sizes[i] > 0 ? (size_t)sizes[i] : 1;
        if (!(values[i] = malloc(caps[i])))
            rc = MC_INTERNAL_ERROR;
    }
    if (rc == MC_OK)
        rc = mooncake_client_batch_get_into(c, keys, values, caps, n, results);
    for (size_t i = 0; i < n && values && results; i++) {
        if (rc != MC_OK)
            results[i] = rc;
        else if (sizes[i] < 0)
            results[i] = sizes[i];
        if (results[i] < 0) {
            free(values[i]);
            values[i] = NULL;
        }
    }
    free(sizes);
    free(caps);
    return rc;
}

int mooncake_client_batch_put_from_multi_buffers(mooncake_client_t *c, const char *const *keys,
                                                 const mooncake_slice_t *const *bufs,
                                                 const size_t *nbufs, size_t n,
                                                 const mooncake_client_replicate_config_t *cfg,
                                                 int *results)
{
    if (!bufs || !nbufs || !results)
        return MC_INVALID_PARAMS;
    return batch(c, MC_IPC_PUT, 0, cfg, keys, bufs, NULL, nbufs, n, results, NULL);
}

int mooncake_client_batch_get_into_multi_buffers(mooncake_client_t *c, const char *const *keys,
                                                 const mooncake_slice_t *const *bufs,
                                                 const size_t *nbufs, size_t n, int64_t *results)
{
    if (!bufs || !nbufs || !results)
        return MC_INVALID_PARAMS;
    return batch(c, MC_IPC_GET, 0, NULL, keys, bufs, NULL, nbufs, n, NULL, results);
}

/* ---- the handle ---- */

/* where -> socket path (mooncake_client.h). */
static int resolve(const char *where, char *path, size_t cap)
{
    char dir[256];
    const char *colon;
    uint64_t port = DEFAULT_PORT;

    if (!where || !where[0])
        where = getenv("MOONCAKE_IPC_SOCKET");
    if (where && strchr(where, '/'))
        return mc_strlcpy(path, where, cap) == MC_OK ? MC_OK : MC_INVALID_PARAMS;
    if (where && where[0]) {
        if (!(colon = strrchr(where, ':')) || mc_parse_u64(colon + 1, &port) != MC_OK ||
            port == 0 || port > 65535)
            return MC_INVALID_PARAMS;
    }
    return mc_ipc_default_path(getenv("XDG_RUNTIME_DIR"), getenv("TMPDIR"), (unsigned)getuid(),
                               (unsigned)port, dir, sizeof(dir), path, cap);
}

int mooncake_client_connect(const char *where, size_t local_buffer_size, mooncake_client_t **out)
{
    mooncake_client_t *c;
    int rc;

    if (!out)
        return MC_INVALID_PARAMS;
    *out = NULL;
    if (!(c = calloc(1, sizeof(*c))))
        return MC_INTERNAL_ERROR;
    if ((rc = resolve(where, c->path, sizeof(c->path))) != MC_OK) {
        free(c);
        return rc;
    }
    mc_mutex_init(&c->mu);
    mc_mutex_lock(&c->mu);
    c->fd = -1;
    c->staging_size = local_buffer_size ? local_buffer_size : DEFAULT_STAGING;
    mc_buf_init(&c->out, 0);
    mc_buf_init(&c->in, MC_IPC_MAX_MSG);
    rc = dial(c);
    mc_mutex_unlock(&c->mu);
    if (rc != MC_OK) {
        mooncake_client_close(c);
        return rc;
    }
    *out = c;
    return MC_OK;
}

void mooncake_client_close(mooncake_client_t *c)
{
    void (*on_close)(void *);
    void *arg;
    bool last;

    if (!c)
        return;
    on_close = c->on_close;
    arg = c->on_close_arg;
    mc_mutex_lock(&c->mu);
    drop_conn(c); /* the service drops our regions (and views' holds) with the connection */
    while (c->regions)
        region_free(c, c->regions);
    /* drop_conn let go of the segment mapping; views still out keep it */
    mc_buf_cleanup(&c->out);
    mc_buf_cleanup(&c->in);
    mc_mutex_unlock(&c->mu);
    pthread_mutex_lock(&views_mu);
    c->closed = true;
    last = c->views == 0;
    pthread_mutex_unlock(&views_mu);
    if (last) {
        mc_mutex_destroy(&c->mu);
        free(c);
    }
    if (on_close)
        on_close(arg);
}

void client_set_staging(mooncake_client_t *c, size_t size)
{
    mc_mutex_lock(&c->mu);
    c->staging_size = size;
    mc_mutex_unlock(&c->mu);
}

void client_on_close(mooncake_client_t *c, void (*fn)(void *), void *arg)
{
    c->on_close = fn;
    c->on_close_arg = arg;
}

void client_identity(mooncake_client_t *c, char *hostname, size_t hcap, char *master, size_t mcap,
                     bool *ephemeral)
{
    mc_mutex_lock(&c->mu);
    mc_strlcpy(hostname, c->hostname, hcap);
    mc_strlcpy(master, c->master, mcap);
    *ephemeral = c->ephemeral;
    mc_mutex_unlock(&c->mu);
}

int mooncake_client_service_ephemeral(mooncake_client_t *c)
{
    int e;

    if (!c)
        return MC_INVALID_PARAMS;
    mc_mutex_lock(&c->mu);
    e = c->ephemeral && !c->on_close;
    mc_mutex_unlock(&c->mu);
    return e;
}

int mooncake_client_get_hostname(mooncake_client_t *c, char *buf, size_t cap)
{
    int rc;

    if (!c || !buf || !cap)
        return MC_INVALID_PARAMS;
    if ((rc = enter(c)) == MC_OK)
        rc = mc_strlcpy(buf, c->hostname, cap);
    leave(c);
    return rc;
}

int mooncake_client_health(mooncake_client_t *c)
{
    mc_ipc_small_reply_t r;
    int rc;

    if (!c)
        return MC_INVALID_PARAMS;
    if ((rc = enter(c)) == MC_OK)
        rc = small_call(c, MC_IPC_HEALTH, &(mc_ipc_small_t){0}, -1, &r, NULL);
    leave(c);
    return rc;
}

/* ---- read-only views ---- */

/* The service's segment, mapped read-only once per handle; it stays mapped
 * while a view points into it (refs), even past the handle's close. */
typedef struct seg_map {
    uint8_t *base;
    size_t size;
    unsigned refs; /* the handle's reference + one per view; atomic via c->mu / views_mu */
} seg_map_t;

struct mooncake_client_buffer {
    mooncake_client_t *c; /* NULL for a copy */
    seg_map_t *map;
    char *key;
    const uint8_t *data;
    size_t size;
};

static void map_unref(seg_map_t *m)
{
    bool last;

    pthread_mutex_lock(&views_mu);
    last = --m->refs == 0;
    pthread_mutex_unlock(&views_mu);
    if (last) {
        munmap(m->base, m->size);
        free(m);
    }
}

/* Maps the segment (SEGMENT request) on first use. */
static int map_segment(mooncake_client_t *c) MC_REQUIRES(c->mu)
{
    mc_ipc_small_reply_t r;
    int fd = -1, rc;
    void *p;

    if (c->seg)
        return MC_OK;
    if ((rc = small_call(c, MC_IPC_SEGMENT, &(mc_ipc_small_t){0}, -1, &r, &fd)) != MC_OK)
        return rc;
    if (fd < 0)
        return MC_INTERNAL_ERROR; /* the reply said OK but carried no descriptor */
    p = mmap(NULL, (size_t)r.value, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED || !(c->seg = calloc(1, sizeof(*c->seg)))) {
        if (p != MAP_FAILED)
            munmap(p, (size_t)r.value);
        return MC_INTERNAL_ERROR;
    }
    *c->seg = (seg_map_t){.base = p, .size = (size_t)r.value, .refs = 1};
    return MC_OK;
}

static mooncake_client_buffer_t *buffer_new(const char *key)
{
    mooncake_client_buffer_t *b = calloc(1, sizeof(*b));
    size_t n = strlen(key);

    if (b && !(b->key = malloc(n + 1))) {
        free(b);
        return NULL;
    }
    if (b)
        memcpy(b->key, key, n + 1);
    return b;
}

static void buffer_free(mooncake_client_buffer_t *b)
{
    if (b->map)
        map_unref(b->map);
    else
        free((void *)(uintptr_t)b->data);
    free(b->key);
    free(b);
}

int mooncake_client_batch_get_buffer(mooncake_client_t *c, const char *const *keys, size_t n,
                                     mooncake_client_buffer_t **out, int64_t *results)
{
    key_io_t *io = calloc(n ? n : 1, sizeof(*io));
    mc_ipc_key_result_t *res = calloc(n ? n : 1, sizeof(*res));
    int rc = io && res && c && keys && out && results && n ? MC_OK : MC_INVALID_PARAMS;

    for (size_t i = 0; i < n && out; i++)
        out[i] = NULL;
    for (size_t i = 0; rc == MC_OK && i < n; i++)
        io[i] = (key_io_t){keys[i], NULL, 0};
    if (rc == MC_OK && (rc = keys_op(c, MC_IPC_GET_BUFFER, 0, NULL, io, n, res)) == MC_OK) {
        mc_mutex_lock(&c->mu);
        for (size_t i = 0; i < n; i++)
            if (res[i].code == MC_OK && (map_segment(c) != MC_OK || res[i].aux > c->seg->size ||
                                         res[i].value > c->seg->size - res[i].aux))
                res[i].code = MC_INTERNAL_ERROR; /* held, but not readable here: released below */
        mc_mutex_unlock(&c->mu);
    }
    for (size_t i = 0; rc == MC_OK && i < n; i++) {
        mooncake_client_buffer_t *b;

        results[i] = res[i].code;
        if (res[i].code == MC_REPLICA_NOT_FOUND) { /* elsewhere: a copy */
            void *copy = NULL;
            int64_t got = mooncake_client_get_alloc(c, keys[i], &copy);
            results[i] = got;
            if (got >= 0 && (b = buffer_new(keys[i])) != NULL) {
                b->data = copy;
                b->size = (size_t)got;
                out[i] = b;
            } else if (got >= 0) {
                free(copy);
                results[i] = MC_INTERNAL_ERROR;
            }
            continue;
        }
        if (res[i].code != MC_OK)
            continue;
        if (!(b = buffer_new(keys[i]))) {
            results[i] = MC_INTERNAL_ERROR;
            continue;
        }
        mc_mutex_lock(&c->mu);
        pthread_mutex_lock(&views_mu);
        c->seg->refs++;
        c->views++;
        pthread_mutex_unlock(&views_mu);
        b->map = c->seg;
        mc_mutex_unlock(&c->mu);
        b->c = c;
        b->data = b->map->base + res[i].aux;
        b->size = (size_t)res[i].value;
        results[i] = (int64_t)b->size;
        out[i] = b;
    }
    /* a hold taken for a key that did not become a view is given back */
    for (size_t i = 0; rc == MC_OK && i < n; i++)
        if (res[i].code == MC_INTERNAL_ERROR) {
            mc_ipc_key_result_t r;
            key_io_t one = {keys[i], NULL, 0};
            keys_op(c, MC_IPC_RELEASE, 0, NULL, &one, 1, &r);
        }
    for (size_t i = 0; rc != MC_OK && results && i < n; i++)
        results[i] = rc;
    free(io);
    free(res);
    return rc;
}

int64_t mooncake_client_get_buffer(mooncake_client_t *c, const char *key,
                                   mooncake_client_buffer_t **out)
{
    int64_t r = MC_INVALID_PARAMS;
    const char *keys[1] = {key};

    if (!out)
        return MC_INVALID_PARAMS;
    if (mooncake_client_batch_get_buffer(c, keys, 1, out, &r) != MC_OK && r >= 0)
        r = MC_INTERNAL_ERROR;
    return r;
}

const void *mooncake_client_buffer_data(const mooncake_client_buffer_t *b)
{
    return b ? b->data : NULL;
}

size_t mooncake_client_buffer_size(const mooncake_client_buffer_t *b)
{
    return b ? b->size : 0;
}

int mooncake_client_buffer_is_view(const mooncake_client_buffer_t *b)
{
    return b && b->map ? 1 : 0;
}

void mooncake_client_release_buffer(mooncake_client_buffer_t *b)
{
    if (!b)
        return;
    if (b->map) {
        mooncake_client_t *c = b->c;
        mc_ipc_key_result_t r;
        key_io_t one = {b->key, NULL, 0};
        bool closed, last;

        pthread_mutex_lock(&views_mu);
        closed = c->closed;
        pthread_mutex_unlock(&views_mu);
        /* best effort: a lost connection (or close()) already ended the hold */
        if (!closed)
            keys_op(c, MC_IPC_RELEASE, 0, NULL, &one, 1, &r);
        pthread_mutex_lock(&views_mu);
        last = --c->views == 0 && c->closed;
        pthread_mutex_unlock(&views_mu);
        if (last) { /* close() left the handle to its last view */
            mc_mutex_destroy(&c->mu);
            free(c);
        }
    }
    buffer_free(b);
}
