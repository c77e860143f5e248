/* Disk tiers (the SSD tier, issue 13): one per client, disk replicas in
 * object metadata, and the bounded per-owner task queues the service's
 * sender drains (persist after put_end or instead of an eviction, drop after
 * a remove). Locks: master_internal.h; the model: docs/master-core.md. */
#include <stdlib.h>
#include <string.h>

#include "master_internal.h"
#include "mc/errors.h"
#include "mc/strutil.h"

#define STAT_ADD(m, field, v) atomic_fetch_add_explicit(&(m)->st.field, (v), memory_order_relaxed)

/* ---- lookup ------------------------------------------------------------------ */

static mcm_disk_t *disk_of_client_locked(mc_master_t *m, mc_uuid_t client)
    MC_REQUIRES(m->cluster_lock)
{
    if (m->n_disks == 0)
        return NULL;
    for (unsigned s = 0; s < MCM_DISK_MAX; s++)
        if (m->disks[s] && mc_uuid_equal(m->disks[s]->info.client_id, client))
            return m->disks[s];
    return NULL;
}

/* Read without cluster_lock by design (LOCKS: a disk with a replica in a
 * held shard is not freed), which the analysis cannot see. */
const mcm_disk_t *mcm_disk_pinned(const mc_master_t *m, uint16_t slot) MC_NO_THREAD_SAFETY_ANALYSIS
{
    return m->disks[slot];
}

bool mcm_rep_live(mc_master_t *m, const mcm_rep_t *r)
{
    _Atomic uint8_t *live = mcm_rep_is_disk(r) ? m->disk_live : m->seg_live;
    return atomic_load_explicit(&live[r->slot], memory_order_acquire) != 0;
}

unsigned mcm_obj_n_disk(const mcm_obj_t *o)
{
    unsigned n = 0;
    for (unsigned i = 0; i < o->nrep; i++)
        n += mcm_rep_is_disk(&o->rep[i]);
    return n;
}

static void tasks_signal(mc_master_t *m) MC_EXCLUDES(m->tasks_lock)
{
    mc_mutex_lock(&m->tasks_lock);
    m->tasks_ready = true;
    pthread_cond_signal(&m->tasks_cond);
    mc_mutex_unlock(&m->tasks_lock);
}

/* A full queue gives a drop task the place of its newest persist task: a
 * lost persist only leaves an object memory-only, a lost drop leaves a dead
 * record that the owner's restart recovery would register again. */
static bool make_room_for_drop_locked(mc_master_t *m, mcm_disk_t *d) MC_REQUIRES(m->cluster_lock)
{
    for (uint32_t i = d->n_tasks; i-- > 0;) {
        if (d->tasks[i]->kind != MCM_TASK_PERSIST)
            continue;
        free(d->tasks[i]);
        memmove(&d->tasks[i], &d->tasks[i + 1], (d->n_tasks - i - 1u) * sizeof(d->tasks[0]));
        d->n_tasks--;
        d->info.tasks_dropped++;
        STAT_ADD(m, tasks_dropped, 1);
        return true;
    }
    return false;
}

/* Appends a task to d's queue (which is bounded); false when full or out of
 * memory (counted as dropped). */
static bool task_push_locked(mc_master_t *m, mcm_disk_t *d, const mcm_task_t *t, const char *key)
    MC_REQUIRES(m->cluster_lock)
{
    if (d->n_tasks >= m->cfg.max_tasks_per_owner &&
        (t->kind != MCM_TASK_DROP || !make_room_for_drop_locked(m, d)))
        goto full;
    if (d->n_tasks == d->cap_tasks) {
        uint32_t ncap = d->cap_tasks ? d->cap_tasks * 2u : 16u;
        mcm_task_t **nt = realloc(d->tasks, ncap * sizeof(*nt));
        if (!nt)
            goto full;
        d->tasks = nt;
        d->cap_tasks = ncap;
    }
    mcm_task_t *c = malloc(sizeof(*c) + t->key_len + 1u);
    if (!c)
        goto full;
    *c = *t;
    memcpy(c->key, key, t->key_len);
    c->key[t->key_len] = '\0';
    d->tasks[d->n_tasks++] = c;
    d->info.tasks_queued = d->n_tasks;
    STAT_ADD(m, tasks_queued, 1);
    return true;
full:
    d->info.tasks_dropped++;
    STAT_ADD(m, tasks_dropped, 1);
    return false;
}

static void disk_tasks_free_locked(mcm_disk_t *d)
{
    for (uint32_t i = 0; i < d->n_tasks; i++)
        free(d->tasks[i]);
    free(d->tasks);
    d->tasks = NULL;
    d->n_tasks = d->cap_tasks = 0;
    d->info.tasks_queued = 0;
}

/* ---- registration -------------------------------------------------------------- */

static bool text_ok(const char *s)
{
    return s && s[0] && mc_key_validate(s, strlen(s), MC_MASTER_NAME_MAX - 1) == MC_OK;
}

static bool spec_ok(const mc_master_disk_spec_t *sp)
{
    if (!sp || mc_uuid_is_nil(sp->client_id) || !text_ok(sp->name) || !text_ok(sp->control_url))
        return false;
    if (strncmp(sp->control_url, "http://", 7) != 0 && strncmp(sp->control_url, "https://", 8) != 0)
        return false;
    return strchr(sp->control_url, ' ') == NULL;
}

int mc_master_mount_disk(mc_master_t *m, const mc_master_disk_spec_t *spec, uint64_t now_ms)
{
    if (!m || !spec_ok(spec))
        return MC_INVALID_PARAMS;
    int rc = MC_OK;
    mc_mutex_lock(&m->cluster_lock);
    mcm_disk_t *d = disk_of_client_locked(m, spec->client_id);
    if (!d) {
        int slot = -1;
        for (unsigned s = 0; s < MCM_DISK_MAX && slot < 0; s++)
            if (!m->disks[s])
                slot = (int)s;
        d = slot >= 0 ? calloc(1, sizeof(*d)) : NULL;
        if (!d) {
            rc = MC_INTERNAL_ERROR;
            goto out;
        }
        d->info.client_id = spec->client_id;
        d->info.slot = (uint16_t)slot;
        m->disks[slot] = d;
        m->n_disks++;
        atomic_fetch_add_explicit(&m->disks_live, 1, memory_order_relaxed);
        atomic_store_explicit(&m->disk_live[slot], 1, memory_order_release);
    }
    /* the name and the URL may change (a restart on another port): readers
     * copy them under cluster_lock (mc_master_disk_get_slot) */
    mc_strlcpy(d->info.name, spec->name, sizeof(d->info.name));
    mc_strlcpy(d->info.control_url, spec->control_url, sizeof(d->info.control_url));
    d->info.capacity = spec->capacity;
    d->info.used = spec->used;
    rc = mcm_client_touch_locked(m, spec->client_id, now_ms);
out:
    mc_mutex_unlock(&m->cluster_lock);
    return rc;
}

int mc_master_disk_usage(mc_master_t *m, mc_uuid_t client, uint64_t capacity, uint64_t used)
{
    if (!m)
        return MC_INVALID_PARAMS;
    mc_mutex_lock(&m->cluster_lock);
    mcm_disk_t *d = disk_of_client_locked(m, client);
    if (d) {
        d->info.capacity = capacity;
        d->info.used = used;
    }
    mc_mutex_unlock(&m->cluster_lock);
    return d ? MC_OK : MC_CLIENT_NOT_FOUND;
}

int mc_master_disk_get(mc_master_t *m, mc_uuid_t client, mc_master_disk_info_t *out)
{
    if (!m || !out)
        return MC_INVALID_PARAMS;
    mc_mutex_lock(&m->cluster_lock);
    const mcm_disk_t *d = disk_of_client_locked(m, client);
    if (d)
        *out = d->info;
    mc_mutex_unlock(&m->cluster_lock);
    return d ? MC_OK : MC_CLIENT_NOT_FOUND;
}

int mc_master_disk_get_slot(mc_master_t *m, uint16_t slot, mc_master_disk_info_t *out)
{
    if (!m || !out || slot >= MCM_DISK_MAX)
        return MC_INVALID_PARAMS;
    mc_mutex_lock(&m->cluster_lock);
    const mcm_disk_t *d = m->disks[slot];
    if (d)
        *out = d->info;
    mc_mutex_unlock(&m->cluster_lock);
    return d ? MC_OK : MC_CLIENT_NOT_FOUND;
}

int mc_master_disks_list(mc_master_t *m, mc_master_disk_info_t *out, size_t cap, size_t *n_total)
{
    if (!m || (!out && cap))
        return MC_INVALID_PARAMS;
    size_t n = 0;
    mc_mutex_lock(&m->cluster_lock);
    for (unsigned s = 0; s < MCM_DISK_MAX && n < m->n_disks; s++) {
        if (!m->disks[s])
            continue;
        if (n < cap)
            out[n] = m->disks[s]->info;
        n++;
    }
    mc_mutex_unlock(&m->cluster_lock);
    if (n_total)
        *n_total = n;
    return MC_OK;
}

/* ---- teardown (client expiry) ---------------------------------------------------- */

uint64_t mcm_unmount_disk_client(mc_master_t *m, mc_uuid_t client)
{
    mc_mutex_lock(&m->cluster_lock);
    mcm_disk_t *d = disk_of_client_locked(m, client);
    uint16_t slot = d ? d->info.slot : 0;
    if (d) { /* step 1: unreadable at once, no more tasks */
        atomic_store_explicit(&m->disk_live[slot], 0, memory_order_release);
        atomic_fetch_sub_explicit(&m->disks_live, 1, memory_order_relaxed);
        disk_tasks_free_locked(d);
    }
    mc_mutex_unlock(&m->cluster_lock);
    if (!d)
        return 0;
    mcm_sweep_slot(m, slot, MC_REPLICA_DISK); /* step 2 */
    mc_mutex_lock(&m->cluster_lock);
    m->disks[slot] = NULL; /* step 3 */
    m->n_disks--;
    mc_mutex_unlock(&m->cluster_lock);
    free(d);
    return 1;
}

void mcm_disks_free(mc_master_t *m) MC_NO_THREAD_SAFETY_ANALYSIS
{
    for (unsigned s = 0; s < MCM_DISK_MAX; s++) {
        if (m->disks[s]) {
            disk_tasks_free_locked(m->disks[s]);
            free(m->disks[s]);
            m->disks[s] = NULL;
        }
    }
}

/* ---- disk replicas in objects ------------------------------------------------------ */

void mcm_obj_disk_drop(mc_master_t *m, mcm_obj_t *o)
{
    unsigned k = 0;
    bool queued = false;
    if (mcm_obj_n_disk(o) == 0)
        return;
    mc_mutex_lock(&m->cluster_lock);
    for (unsigned i = 0; i < o->nrep; i++) {
        const mcm_rep_t *r = &o->rep[i];
        if (!mcm_rep_is_disk(r)) {
            o->rep[k++] = *r;
            continue;
        }
        mcm_disk_t *d = m->disks[r->slot];
        if (!d || !atomic_load_explicit(&m->disk_live[r->slot], memory_order_relaxed))
            continue;
        d->info.replicas--;
        d->info.bytes -= o->size;
        mcm_task_t t = {.kind = MCM_TASK_DROP, .key_len = o->key_len, .bucket = r->bucket};
        queued |= task_push_locked(m, d, &t, mcm_obj_key(o));
    }
    mc_mutex_unlock(&m->cluster_lock);
    o->nrep = (uint8_t)k;
    if (queued)
        tasks_signal(m);
}

bool mcm_offload_locked(mc_master_t *m, mcm_shard_t *sh, mcm_obj_t *o, uint64_t now_ms)
{
    const mcm_rep_t *mem = NULL;
    if (atomic_load_explicit(&m->disks_live, memory_order_relaxed) == 0)
        return false;
    for (unsigned i = 0; i < o->nrep; i++) {
        if (mcm_rep_is_disk(&o->rep[i]))
            return false; /* on disk already */
        if (!mem && mcm_rep_live(m, &o->rep[i]))
            mem = &o->rep[i];
    }
    if (!mem)
        return false;
    const mcm_seg_t *seg = mcm_seg_pinned(m, mem->slot);
    mc_uuid_t owner = seg->info.client_id;
    mcm_task_t t = {.kind = MCM_TASK_PERSIST,
                    .key_len = o->key_len,
                    .size = o->size,
                    .offset = mem->offset,
                    .segment_id = seg->info.id,
                    .checksum = o->checksum,
                    .has_checksum = (o->flags & OBJ_F_CSUM) != 0};
    bool queued = false, reserved = false;
    mc_mutex_lock(&m->cluster_lock);
    mcm_disk_t *d = disk_of_client_locked(m, owner);
    if (d && atomic_load_explicit(&m->disk_live[d->info.slot], memory_order_relaxed) &&
        (queued = task_push_locked(m, d, &t, mcm_obj_key(o))))
        reserved = mcm_hold_reserve_locked(m, owner);
    mc_mutex_unlock(&m->cluster_lock);
    if (!queued)
        return false;
    o->flags |= OBJ_F_PERSIST;
    /* the owner copies under this hold; without one (a cap) it still copies,
     * and its CRC check catches a buffer reused meanwhile */
    if (reserved)
        mcm_hold_take_reserved(m, sh, o, owner, now_ms);
    tasks_signal(m);
    return true;
}

/* Replaces o by a copy with room for cap replicas (hash chain, LRU position
 * and hold entries move with it); NULL when out of memory (o unchanged). */
static mcm_obj_t *obj_grow(mcm_shard_t *sh, mcm_obj_t *o, unsigned cap) MC_REQUIRES(sh->lock)
{
    mcm_obj_t *n = malloc(sizeof(*n) + cap * sizeof(mcm_rep_t) + o->key_len + 1u);
    if (!n)
        return NULL;
    memcpy(n, o, sizeof(*o) + o->nrep * sizeof(mcm_rep_t));
    n->rep_cap = (uint8_t)cap;
    memcpy(mcm_obj_key(n), mcm_obj_key(o), o->key_len + 1u);
    mcm_obj_t **pp = &sh->buckets[o->hash_hi & (sh->nbuckets - 1u)];
    while (*pp != o)
        pp = &(*pp)->hnext;
    *pp = n;
    if (n->lru_prev)
        n->lru_prev->lru_next = n;
    else
        sh->lru_head = n;
    if (n->lru_next)
        n->lru_next->lru_prev = n;
    else
        sh->lru_tail = n;
    if (o->flags & OBJ_F_HELD)
        mcm_holds_move(sh, o, n);
    free(o);
    return n;
}

/* A complete object with only one disk replica (restart recovery). */
static int obj_create_disk(mc_master_t *m, mcm_shard_t *sh, uint64_t hash,
                           const mc_master_disk_item_t *it, mc_uuid_t client, uint64_t now_ms,
                           mcm_obj_t **out) MC_REQUIRES(sh->lock)
{
    mcm_obj_t *o = malloc(sizeof(*o) + sizeof(mcm_rep_t) + it->len + 1u);
    if (!o)
        return MC_INTERNAL_ERROR;
    memset(o, 0, sizeof(*o));
    o->size = it->size;
    o->atime_ms = o->aux_ms = now_ms;
    o->owner = client;
    o->hash_hi = (uint32_t)(hash >> 32);
    o->key_len = (uint16_t)it->len;
    o->state = MC_OBJ_COMPLETE;
    o->checksum = it->checksum;
    o->flags = OBJ_F_CSUM;
    o->rep_cap = 1;
    memcpy(mcm_obj_key(o), it->key, it->len);
    mcm_obj_key(o)[it->len] = '\0';
    mcm_insert(sh, o);
    STAT_ADD(m, objects, 1);
    *out = o;
    return MC_OK;
}

typedef struct disk_ctx {
    mc_master_disk_item_t *items;
    mc_uuid_t client;
    uint16_t slot; /* client's disk */
    bool create_missing;
    uint64_t now_ms;
} disk_ctx_t;

static int find_disk_rep(const mcm_obj_t *o, uint16_t slot)
{
    for (unsigned i = 0; i < o->nrep; i++)
        if (mcm_rep_is_disk(&o->rep[i]) && o->rep[i].slot == slot)
            return (int)i;
    return -1;
}

/* Counts a new disk replica in its disk, if that disk is still the
 * caller's (a concurrent expiry may have torn it down). */
static bool disk_count_add(mc_master_t *m, const disk_ctx_t *c, uint64_t size)
    MC_EXCLUDES(m->cluster_lock)
{
    mc_mutex_lock(&m->cluster_lock);
    mcm_disk_t *d = m->disks[c->slot];
    bool ok = d && mc_uuid_equal(d->info.client_id, c->client) &&
              atomic_load_explicit(&m->disk_live[c->slot], memory_order_relaxed);
    if (ok) {
        d->info.replicas++;
        d->info.bytes += size;
    }
    mc_mutex_unlock(&m->cluster_lock);
    return ok;
}

static int do_disk_add(mc_master_t *m, mcm_shard_t *sh, uint64_t hash, mc_master_disk_item_t *it,
                       const disk_ctx_t *c) MC_REQUIRES(sh->lock)
{
    mcm_obj_t *o = mcm_find(sh, hash, it->key, it->len);
    if (it->length != it->size || it->size == 0)
        return MC_INVALID_REPLICA;
    if (!o && !c->create_missing)
        return MC_OBJECT_NOT_FOUND;
    if (o && o->state != MC_OBJ_COMPLETE)
        return MC_REPLICA_IS_NOT_READY;
    if (o && (o->size != it->size || ((o->flags & OBJ_F_CSUM) && o->checksum != it->checksum)))
        return MC_INVALID_REPLICA;
    if (o && (o->flags & OBJ_F_PERSIST)) { /* the persist task is done */
        o->flags = (uint8_t)(o->flags & ~OBJ_F_PERSIST);
        mcm_hold_release_obj(m, sh, o, c->client, c->now_ms);
    }
    if (o && find_disk_rep(o, c->slot) >= 0)
        return MC_REPLICA_ALREADY_EXISTS;
    if (o && o->nrep >= MC_MAX_REPLICAS)
        return MC_NO_AVAILABLE_HANDLE;
    if (!disk_count_add(m, c, it->size))
        return MC_CLIENT_NOT_FOUND;
    int rc = MC_OK;
    if (!o)
        rc = obj_create_disk(m, sh, hash, it, c->client, c->now_ms, &o);
    else if (o->nrep == o->rep_cap && !(o = obj_grow(sh, o, o->nrep + 1u)))
        rc = MC_INTERNAL_ERROR;
    if (rc != MC_OK) {
        mc_mutex_lock(&m->cluster_lock);
        mcm_disk_t *d = m->disks[c->slot];
        if (d) {
            d->info.replicas--;
            d->info.bytes -= it->size;
        }
        mc_mutex_unlock(&m->cluster_lock);
        return rc;
    }
    if (!(o->flags & OBJ_F_CSUM)) { /* the owner's CRC is of these very bytes */
        o->flags |= OBJ_F_CSUM;
        o->checksum = it->checksum;
    }
    o->rep[o->nrep++] = (mcm_rep_t){.offset = it->offset,
                                    .bucket = it->bucket,
                                    .handle = MC_ALLOC_INVALID_HANDLE,
                                    .slot = c->slot,
                                    .type = MC_REPLICA_DISK};
    return MC_OK;
}

static int do_disk_remove(mc_master_t *m, mcm_shard_t *sh, uint64_t hash,
                          const mc_master_disk_item_t *it, const disk_ctx_t *c)
    MC_REQUIRES(sh->lock)
{
    mcm_obj_t *o = mcm_find(sh, hash, it->key, it->len);
    if (!o)
        return MC_OBJECT_NOT_FOUND;
    int i = find_disk_rep(o, c->slot);
    if (i < 0 || o->rep[i].bucket != it->bucket)
        return MC_REPLICA_NOT_FOUND;
    o->rep[i] = o->rep[--o->nrep];
    mc_mutex_lock(&m->cluster_lock);
    mcm_disk_t *d = m->disks[c->slot];
    if (d) {
        d->info.replicas--;
        d->info.bytes -= o->size;
    }
    mc_mutex_unlock(&m->cluster_lock);
    if (o->nrep == 0)
        mcm_obj_drop(m, sh, o, c->now_ms);
    return MC_OK;
}

static void b_disk_add(mc_master_t *m, mcm_shard_t *sh, uint64_t h, size_t i, void *arg)
    MC_REQUIRES(sh->lock)
{
    disk_ctx_t *c = arg;
    c->items[i].rc = sh ? do_disk_add(m, sh, h, &c->items[i], c) : MC_INVALID_KEY;
}

static void b_disk_remove(mc_master_t *m, mcm_shard_t *sh, uint64_t h, size_t i, void *arg)
    MC_REQUIRES(sh->lock)
{
    disk_ctx_t *c = arg;
    c->items[i].rc = sh ? do_disk_remove(m, sh, h, &c->items[i], c) : MC_INVALID_KEY;
}

static const char *disk_item_key(const void *items, size_t i, size_t *len)
{
    const mc_master_disk_item_t *it = &((const mc_master_disk_item_t *)items)[i];
    *len = it->len;
    return it->key;
}

static int disk_batch(mc_master_t *m, mc_uuid_t client, mc_master_disk_item_t *items, size_t n,
                      bool create_missing, uint64_t now_ms, mcm_batch_fn fn)
{
    if (!m || (n && !items))
        return MC_INVALID_PARAMS;
    disk_ctx_t c = {
        .items = items, .client = client, .create_missing = create_missing, .now_ms = now_ms};
    mc_mutex_lock(&m->cluster_lock);
    const mcm_disk_t *d = disk_of_client_locked(m, client);
    if (d)
        c.slot = d->info.slot;
    mc_mutex_unlock(&m->cluster_lock);
    if (!d)
        return MC_CLIENT_NOT_FOUND;
    return mcm_batch_run(m, disk_item_key, items, n, fn, &c);
}

int mc_master_batch_disk_replica_add(mc_master_t *m, mc_uuid_t client, mc_master_disk_item_t *items,
                                     size_t n, bool create_missing, uint64_t now_ms)
{
    return disk_batch(m, client, items, n, create_missing, now_ms, b_disk_add);
}

int mc_master_batch_disk_replica_remove(mc_master_t *m, mc_uuid_t client,
                                        mc_master_disk_item_t *items, size_t n, uint64_t now_ms)
{
    return disk_batch(m, client, items, n, false, now_ms, b_disk_remove);
}

/* ---- the sender's side of the queues ------------------------------------------------- */

int mc_master_tasks_take(mc_master_t *m, mc_master_task_batch_t **out, size_t *n_out)
{
    if (!m || !out || !n_out)
        return MC_INVALID_PARAMS;
    *out = NULL;
    *n_out = 0;
    mc_mutex_lock(&m->tasks_lock);
    m->tasks_ready = false;
    mc_mutex_unlock(&m->tasks_lock);
    mc_mutex_lock(&m->cluster_lock);
    size_t nb = 0;
    for (unsigned s = 0; s < MCM_DISK_MAX; s++)
        nb += m->disks[s] && m->disks[s]->n_tasks > 0;
    mc_master_task_batch_t *b = nb ? calloc(nb, sizeof(*b)) : NULL;
    size_t k = 0;
    for (unsigned s = 0; b && s < MCM_DISK_MAX && k < nb; s++) {
        mcm_disk_t *d = m->disks[s];
        if (!d || d->n_tasks == 0)
            continue;
        mc_master_task_t *ts = calloc(d->n_tasks, sizeof(*ts));
        if (!ts)
            break; /* the rest stays queued */
        b[k].client_id = d->info.client_id;
        mc_strlcpy(b[k].control_url, d->info.control_url, sizeof(b[k].control_url));
        b[k].tasks = ts;
        b[k].priv = d->tasks; /* the mcm_task_t array, adopted */
        b[k].n = d->n_tasks;
        for (uint32_t i = 0; i < d->n_tasks; i++) {
            const mcm_task_t *t = d->tasks[i];
            ts[i] = (mc_master_task_t){.kind = t->kind,
                                       .has_checksum = t->has_checksum != 0,
                                       .checksum = t->checksum,
                                       .key = t->key,
                                       .key_len = t->key_len,
                                       .size = t->size,
                                       .segment_id = t->segment_id,
                                       .offset = t->offset,
                                       .bucket = t->bucket};
        }
        d->tasks = NULL;
        d->n_tasks = d->cap_tasks = 0;
        d->info.tasks_queued = 0;
        k++;
    }
    mc_mutex_unlock(&m->cluster_lock);
    if (nb && !b)
        return MC_INTERNAL_ERROR;
    *out = b;
    *n_out = k;
    return MC_OK;
}

void mc_master_tasks_free(mc_master_task_batch_t *b, size_t n)
{
    for (size_t i = 0; b && i < n; i++) {
        mcm_task_t **ts = b[i].priv;
        for (size_t j = 0; j < b[i].n; j++)
            free(ts[j]);
        free(ts);
        free(b[i].tasks);
    }
    free(b);
}

void mc_master_tasks_report(mc_master_t *m, mc_uuid_t client, uint64_t sent, uint64_t failed)
{
    if (!m)
        return;
    STAT_ADD(m, tasks_sent, sent);
    STAT_ADD(m, tasks_failed, failed);
    mc_mutex_lock(&m->cluster_lock);
    mcm_disk_t *d = disk_of_client_locked(m, client);
    if (d) {
        d->info.tasks_sent += sent;
        d->info.tasks_failed += failed;
    }
    mc_mutex_unlock(&m->cluster_lock);
}

bool mc_master_wait_tasks(mc_master_t *m, uint64_t timeout_ms) MC_NO_THREAD_SAFETY_ANALYSIS
{
    return mcm_wait_flag(&m->tasks_lock, &m->tasks_cond, &m->tasks_ready, timeout_ms);
}

void mc_master_tasks_wake(mc_master_t *m)
{
    if (m)
        tasks_signal(m);
}
