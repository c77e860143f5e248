/* Segments: mount/unmount, placement of replica buffers, retired buffers.
 * Locks and invariants are described in master_internal.h. */
#include <stdlib.h>
#include <string.h>

#include "master_internal.h"
#include "mc/auth.h"
#include "mc/errors.h"
#include "mc/strutil.h"

/* ---- lookup --------------------------------------------------------------- */

static int find_slot_locked(const mc_master_t *m, mc_uuid_t id) MC_REQUIRES(m->cluster_lock)
{
    for (unsigned s = 0; s < MCM_SEG_MAX; s++)
        if (m->segs[s] && mc_uuid_equal(m->segs[s]->info.id, id))
            return (int)s;
    return -1;
}

static int free_slot_locked(const mc_master_t *m) MC_REQUIRES(m->cluster_lock)
{
    for (unsigned s = 0; s < MCM_SEG_MAX; s++)
        if (!m->segs[s])
            return (int)s;
    return -1;
}

static void placeable_remove_locked(mc_master_t *m, uint16_t slot) MC_REQUIRES(m->cluster_lock)
{
    for (uint32_t i = 0; i < m->n_placeable; i++) {
        if (m->placeable[i] == slot) {
            m->placeable[i] = m->placeable[--m->n_placeable];
            return;
        }
    }
}

static void info_copy_locked(const mcm_seg_t *s, mc_master_segment_info_t *out)
{
    *out = s->info;
    out->used = mc_alloc_used(s->alloc);
}

/* ---- mount ------------------------------------------------------------------ */

/* Names appear one per line in /get_all_segments: no control characters;
 * a size within --max_segment_size and a range that does not wrap. */
static int spec_valid(const mc_master_t *m, const mc_master_segment_spec_t *sp)
{
    if (!sp || !sp->name || sp->name[0] == '\0' || mc_uuid_is_nil(sp->id))
        return 0;
    if (mc_key_validate(sp->name, strlen(sp->name), MC_MASTER_NAME_MAX - 1) != MC_OK)
        return 0;
    if (sp->size > m->cfg.max_segment_size || sp->base > UINT64_MAX - sp->size)
        return 0;
    if (sp->endpoint && strlen(sp->endpoint) >= MC_MASTER_NAME_MAX)
        return 0;
    if (sp->protocol && strlen(sp->protocol) >= MC_MASTER_PROTO_MAX)
        return 0;
    return sp->size >= m->cfg.alloc_align;
}

static int same_mount(const mcm_seg_t *s, const mc_master_segment_spec_t *sp)
{
    return strcmp(s->info.name, sp->name) == 0 && s->info.size == sp->size &&
           s->info.base == sp->base && mc_uuid_equal(s->info.client_id, sp->client_id);
}

/* Does the caller prove it owns s: its client id, and the secret issued at
 * the first mount (constant time; a missing secret never matches)? */
static bool owner_proved(const mcm_seg_t *s, mc_uuid_t client_id, const char *secret)
{
    return mc_uuid_equal(s->info.client_id, client_id) && secret &&
           mc_auth_equal(s->secret, strlen(s->secret), secret,
                         strnlen(secret, MC_MASTER_SECRET_MAX));
}

bool mc_master_client_proved(mc_master_t *m, mc_uuid_t client_id, const char *secret)
{
    bool ok = false;

    if (!m || !secret || !secret[0])
        return false;
    mc_mutex_lock(&m->cluster_lock);
    for (unsigned i = 0; i < MCM_SEG_MAX && !ok; i++)
        ok = m->segs[i] && owner_proved(m->segs[i], client_id, secret);
    mc_mutex_unlock(&m->cluster_lock);
    return ok;
}

/* A segment of another client mounted under this name? */
static bool name_taken_locked(const mc_master_t *m, const mc_master_segment_spec_t *sp)
    MC_REQUIRES(m->cluster_lock)
{
    for (unsigned i = 0; i < MCM_SEG_MAX; i++)
        if (m->segs[i] && strcmp(m->segs[i]->info.name, sp->name) == 0 &&
            !mc_uuid_equal(m->segs[i]->info.client_id, sp->client_id))
            return true;
    return false;
}

static int mount_new_locked(mc_master_t *m, const mc_master_segment_spec_t *sp, int slot,
                            uint64_t *epoch) MC_REQUIRES(m->cluster_lock)
{
    mcm_seg_t *s = calloc(1, sizeof(*s));
    if (!s)
        return MC_INTERNAL_ERROR;
    _Static_assert(MC_MASTER_SECRET_MAX == MC_AUTH_SECRET_LEN + 1, "secret size");
    if (mc_auth_random_secret(s->secret) != MC_OK) {
        free(s);
        return MC_INTERNAL_ERROR;
    }
    int rc = mc_alloc_create(sp->size, m->cfg.alloc_align, &s->alloc);
    if (rc != MC_OK) {
        free(s);
        return rc;
    }
    s->info.id = sp->id;
    s->info.client_id = sp->client_id;
    mc_strlcpy(s->info.name, sp->name, sizeof(s->info.name));
    mc_strlcpy(s->info.endpoint, sp->endpoint ? sp->endpoint : "", sizeof(s->info.endpoint));
    mc_strlcpy(s->info.protocol, sp->protocol ? sp->protocol : "", sizeof(s->info.protocol));
    s->info.base = sp->base;
    s->info.size = sp->size;
    s->info.epoch = m->next_epoch++;
    s->info.slot = (uint16_t)slot;
    s->info.state = MC_SEG_MOUNTED;
    m->segs[slot] = s;
    m->placeable[m->n_placeable++] = (uint16_t)slot;
    m->n_segs++;
    m->capacity += mc_alloc_capacity(s->alloc);
    *epoch = s->info.epoch;
    atomic_store_explicit(&m->seg_live[slot], 1, memory_order_release);
    return MC_OK;
}

static bool begin_unmount_locked(mc_master_t *m, uint16_t slot) MC_REQUIRES(m->cluster_lock);

/* Stable identity (SSD tier): a store service that restarted within its
 * client TTL mounts again under the same client id, with a new segment (a
 * new id, or a new base), presenting the secret of its previous segment
 * (kept with its identity). The segment of that client with the same name
 * (or the same id), other parameters and that secret is its previous life:
 * its slot, or -1. Without the secret nothing is replaced. */
static int previous_mount_locked(const mc_master_t *m, const mc_master_segment_spec_t *sp)
    MC_REQUIRES(m->cluster_lock)
{
    for (unsigned s = 0; s < MCM_SEG_MAX; s++) {
        const mcm_seg_t *seg = m->segs[s];
        if (!seg || seg->info.state == MC_SEG_UNMOUNTING)
            continue;
        if ((mc_uuid_equal(seg->info.id, sp->id) || strcmp(seg->info.name, sp->name) == 0) &&
            !same_mount(seg, sp) && owner_proved(seg, sp->client_id, sp->secret))
            return (int)s;
    }
    return -1;
}

int mc_master_mount(mc_master_t *m, const mc_master_segment_spec_t *spec, uint64_t now_ms,
                    uint64_t *epoch_out)
{
    return mc_master_mount_secret(m, spec, now_ms, epoch_out, NULL);
}

int mc_master_mount_secret(mc_master_t *m, const mc_master_segment_spec_t *spec, uint64_t now_ms,
                           uint64_t *epoch_out, char *secret_out)
{
    if (!m || !spec_valid(m, spec))
        return MC_INVALID_PARAMS;
    uint64_t epoch = 0;
    char secret[MC_MASTER_SECRET_MAX] = "";
    int rc;
    mc_mutex_lock(&m->cluster_lock);
    int prev = previous_mount_locked(m, spec);
    if (prev >= 0 && begin_unmount_locked(m, (uint16_t)prev)) {
        /* replaced: its memory replicas go, disk replicas stay (mcm_sweep_slot) */
        mc_mutex_unlock(&m->cluster_lock);
        mcm_unmount_slot(m, (uint16_t)prev);
        mc_mutex_lock(&m->cluster_lock);
    }
    int slot = find_slot_locked(m, spec->id);
    if (slot >= 0) {
        const mcm_seg_t *s = m->segs[slot];
        if (!owner_proved(s, spec->client_id, spec->secret))
            rc = MC_ILLEGAL_CLIENT;
        else if (s->info.state == MC_SEG_UNMOUNTING)
            rc = MC_UNAVAILABLE_IN_CURRENT_STATUS;
        else if (!same_mount(s, spec))
            rc = MC_SEGMENT_ALREADY_EXISTS;
        else
            rc = MC_OK;
        epoch = s->info.epoch;
    } else if (name_taken_locked(m, spec)) {
        rc = MC_ILLEGAL_CLIENT;
    } else if ((slot = free_slot_locked(m)) < 0) {
        rc = MC_INTERNAL_ERROR;
    } else {
        rc = mount_new_locked(m, spec, slot, &epoch);
    }
    if (rc == MC_OK) {
        rc = mcm_client_touch_locked(m, spec->client_id, now_ms);
        mc_strlcpy(secret, m->segs[slot]->secret, sizeof(secret));
    }
    mc_mutex_unlock(&m->cluster_lock);
    if (rc == MC_OK && epoch_out)
        *epoch_out = epoch;
    if (rc == MC_OK && secret_out)
        memcpy(secret_out, secret, sizeof(secret));
    memset(secret, 0, sizeof(secret));
    return rc;
}

/* ---- unmount ---------------------------------------------------------------- */

/* Step 1 of an unmount: unreadable and unplaceable at once. Returns false when
 * the slot is already being torn down. Caller holds cluster_lock. */
static bool begin_unmount_locked(mc_master_t *m, uint16_t slot) MC_REQUIRES(m->cluster_lock)
{
    mcm_seg_t *s = m->segs[slot];
    if (s->info.state == MC_SEG_UNMOUNTING)
        return false;
    if (s->info.state == MC_SEG_MOUNTED)
        placeable_remove_locked(m, slot);
    s->info.state = MC_SEG_UNMOUNTING;
    atomic_store_explicit(&m->seg_live[slot], 0, memory_order_release);
    m->capacity -= mc_alloc_capacity(s->alloc);
    m->used -= mc_alloc_used(s->alloc);
    return true;
}

/* Step 2: drop the slot's replicas of that type from every object, shard by
 * shard; objects left with none are removed. Nothing is freed in the
 * allocator (it goes away whole in step 3). Disk tiers use it too. */
void mcm_sweep_slot(mc_master_t *m, uint16_t slot, uint8_t type)
{
    for (unsigned i = 0; i < MCM_SHARDS; i++) {
        mcm_shard_t *sh = &m->shards[i];
        mc_mutex_lock(&sh->lock);
        mcm_obj_t *o = sh->lru_head;
        while (o) {
            mcm_obj_t *next = o->lru_next;
            unsigned k = 0;
            for (unsigned j = 0; j < o->nrep; j++)
                if (o->rep[j].slot != slot || o->rep[j].type != type)
                    o->rep[k++] = o->rep[j];
            if (k != o->nrep) {
                o->nrep = (uint8_t)k;
                if (k == 0)
                    mcm_obj_drop(m, sh, o, 0);
            }
            o = next;
        }
        mc_mutex_unlock(&sh->lock);
    }
}

void mcm_unmount_slot(mc_master_t *m, uint16_t slot)
{
    mcm_sweep_slot(m, slot, MC_REPLICA_MEMORY); /* disk replicas stay */
    mc_mutex_lock(&m->cluster_lock);
    mcm_seg_t *s = m->segs[slot];
    size_t k = 0;
    for (size_t i = 0; i < m->n_retired; i++) {
        mcm_retired_t *r = &m->retired[i];
        if (r->slot == slot && r->epoch == s->info.epoch) {
            m->retired_bytes -= r->bytes;
            if (r->lease)
                m->retired_lease_bytes -= r->bytes;
        } else {
            m->retired[k++] = *r;
        }
    }
    m->n_retired = k;
    mc_alloc_destroy(s->alloc);
    free(s);
    m->segs[slot] = NULL;
    m->n_segs--;
    mc_mutex_unlock(&m->cluster_lock);
}

/* owned: the caller must prove ownership (client id and secret). */
static int unmount_now(mc_master_t *m, mc_uuid_t segment_id, mc_uuid_t client_id, bool owned,
                       const char *secret)
{
    if (!m)
        return MC_INVALID_PARAMS;
    mc_mutex_lock(&m->cluster_lock);
    int slot = find_slot_locked(m, segment_id);
    int rc = MC_OK;
    bool mine = false;
    if (slot < 0)
        rc = MC_SEGMENT_NOT_FOUND;
    else if (owned && !owner_proved(m->segs[slot], client_id, secret))
        rc = MC_ILLEGAL_CLIENT;
    else if (!mc_uuid_is_nil(client_id) && !mc_uuid_equal(client_id, m->segs[slot]->info.client_id))
        rc = MC_ILLEGAL_CLIENT;
    else
        mine = begin_unmount_locked(m, (uint16_t)slot);
    mc_mutex_unlock(&m->cluster_lock);
    if (mine)
        mcm_unmount_slot(m, (uint16_t)slot);
    return rc;
}

int mc_master_unmount(mc_master_t *m, mc_uuid_t segment_id, mc_uuid_t client_id)
{
    return unmount_now(m, segment_id, client_id, false, NULL);
}

int mc_master_unmount_owned(mc_master_t *m, mc_uuid_t segment_id, mc_uuid_t client_id,
                            const char *secret)
{
    return unmount_now(m, segment_id, client_id, true, secret);
}

static int unmount_drain(mc_master_t *m, mc_uuid_t segment_id, mc_uuid_t client_id, bool owned,
                         const char *secret, uint64_t deadline_ms)
{
    if (!m)
        return MC_INVALID_PARAMS;
    int rc = MC_OK;
    mc_mutex_lock(&m->cluster_lock);
    int slot = find_slot_locked(m, segment_id);
    if (slot < 0) {
        rc = MC_SEGMENT_NOT_FOUND;
    } else {
        mcm_seg_t *s = m->segs[slot];
        if ((owned && !owner_proved(s, client_id, secret)) ||
            (!mc_uuid_is_nil(client_id) && !mc_uuid_equal(client_id, s->info.client_id))) {
            rc = MC_ILLEGAL_CLIENT;
        } else if (s->info.state == MC_SEG_MOUNTED) {
            placeable_remove_locked(m, (uint16_t)slot);
            s->info.state = MC_SEG_DRAINING;
            s->drain_deadline_ms = deadline_ms;
        } else if (s->info.state == MC_SEG_DRAINING && deadline_ms < s->drain_deadline_ms) {
            s->drain_deadline_ms = deadline_ms;
        }
    }
    mc_mutex_unlock(&m->cluster_lock);
    return rc;
}

int mc_master_unmount_graceful(mc_master_t *m, mc_uuid_t segment_id, mc_uuid_t client_id,
                               uint64_t deadline_ms)
{
    return unmount_drain(m, segment_id, client_id, false, NULL, deadline_ms);
}

int mc_master_unmount_graceful_owned(mc_master_t *m, mc_uuid_t segment_id, mc_uuid_t client_id,
                                     const char *secret, uint64_t deadline_ms)
{
    return unmount_drain(m, segment_id, client_id, true, secret, deadline_ms);
}

uint64_t mcm_finish_drains(mc_master_t *m, uint64_t now_ms)
{
    uint16_t due[MCM_SEG_MAX];
    unsigned n = 0;
    mc_mutex_lock(&m->cluster_lock);
    for (unsigned s = 0; s < MCM_SEG_MAX; s++) {
        mcm_seg_t *seg = m->segs[s];
        if (!seg || seg->info.state != MC_SEG_DRAINING)
            continue;
        if (seg->drain_deadline_ms <= now_ms || mc_alloc_used(seg->alloc) == 0)
            if (begin_unmount_locked(m, (uint16_t)s))
                due[n++] = (uint16_t)s;
    }
    mc_mutex_unlock(&m->cluster_lock);
    for (unsigned i = 0; i < n; i++)
        mcm_unmount_slot(m, due[i]);
    return n;
}

uint64_t mcm_unmount_client(mc_master_t *m, mc_uuid_t client)
{
    uint16_t due[MCM_SEG_MAX];
    unsigned n = 0;
    mc_mutex_lock(&m->cluster_lock);
    for (unsigned s = 0; s < MCM_SEG_MAX; s++) {
        mcm_seg_t *seg = m->segs[s];
        if (seg && mc_uuid_equal(seg->info.client_id, client))
            if (begin_unmount_locked(m, (uint16_t)s))
                due[n++] = (uint16_t)s;
    }
    mc_mutex_unlock(&m->cluster_lock);
    for (unsigned i = 0; i < n; i++)
        mcm_unmount_slot(m, due[i]);
    return n;
}

/* ---- suspicion ------------------------------------------------------------- */

int mc_master_report_failure(mc_master_t *m, mc_uuid_t segment_id, uint64_t epoch)
{
    if (!m)
        return MC_INVALID_PARAMS;
    mc_mutex_lock(&m->cluster_lock);
    int slot = find_slot_locked(m, segment_id);
    if (slot >= 0 && (!epoch || m->segs[slot]->info.epoch == epoch))
        m->segs[slot]->info.suspected = 1;
    mc_mutex_unlock(&m->cluster_lock);
    return slot >= 0 ? MC_OK : MC_SEGMENT_NOT_FOUND;
}

void mcm_clear_suspected_locked(mc_master_t *m, mc_uuid_t client)
{
    for (uint32_t i = 0; i < m->n_placeable; i++) {
        mcm_seg_t *s = m->segs[m->placeable[i]];
        if (s->info.suspected && mc_uuid_equal(s->info.client_id, client))
            s->info.suspected = 0;
    }
}

/* ---- info ------------------------------------------------------------------- */

int mc_master_segment_get(mc_master_t *m, mc_uuid_t segment_id, mc_master_segment_info_t *out)
{
    if (!m || !out)
        return MC_INVALID_PARAMS;
    mc_mutex_lock(&m->cluster_lock);
    int slot = find_slot_locked(m, segment_id);
    if (slot >= 0)
        info_copy_locked(m->segs[slot], out);
    mc_mutex_unlock(&m->cluster_lock);
    return slot >= 0 ? MC_OK : MC_SEGMENT_NOT_FOUND;
}

int mc_master_segment_get_slot(mc_master_t *m, uint16_t slot, mc_master_segment_info_t *out)
{
    if (!m || !out || slot >= MCM_SEG_MAX)
        return MC_INVALID_PARAMS;
    mc_mutex_lock(&m->cluster_lock);
    const mcm_seg_t *s = m->segs[slot];
    if (s)
        info_copy_locked(s, out);
    mc_mutex_unlock(&m->cluster_lock);
    return s ? MC_OK : MC_SEGMENT_NOT_FOUND;
}

int mc_master_segments_list(mc_master_t *m, mc_master_segment_info_t *out, size_t cap,
                            size_t *n_total)
{
    if (!m || (!out && cap))
        return MC_INVALID_PARAMS;
    size_t n = 0;
    mc_mutex_lock(&m->cluster_lock);
    for (unsigned s = 0; s < MCM_SEG_MAX; s++) {
        const mcm_seg_t *seg = m->segs[s];
        if (!seg || seg->info.state == MC_SEG_UNMOUNTING)
            continue;
        if (n < cap)
            info_copy_locked(seg, &out[n]);
        n++;
    }
    mc_mutex_unlock(&m->cluster_lock);
    if (n_total)
        *n_total = n;
    return MC_OK;
}

/* ---- placement ---------------------------------------------------------------- */

static uint64_t rng_next(mc_master_t *m) MC_REQUIRES(m->cluster_lock)
{
    uint64_t x = m->rng; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    m->rng = x;
    return x * 0x2545f4914f6cdd1dull;
}

typedef struct place_ctx {
    uint64_t size;
    mcm_rep_t *reps;
    uint32_t n, want;
} place_ctx_t;

static bool chosen(const place_ctx_t *pc, uint16_t slot)
{
    for (uint32_t i = 0; i < pc->n; i++)
        if (pc->reps[i].slot == slot)
            return true;
    return false;
}

/* Tries one buffer on slot; true on success. */
static bool try_slot(mc_master_t *m, place_ctx_t *pc, uint16_t slot) MC_REQUIRES(m->cluster_lock)
{
    mcm_seg_t *s = m->segs[slot];
    if (s->info.suspected || chosen(pc, slot) ||
        mc_alloc_capacity(s->alloc) - mc_alloc_used(s->alloc) < pc->size)
        return false;
    mcm_rep_t *r = &pc->reps[pc->n];
    if (mc_alloc_alloc(s->alloc, pc->size, &r->offset, &r->handle) != MC_OK)
        return false;
    r->slot = slot;
    r->type = MC_REPLICA_MEMORY;
    r->unused = 0;
    m->used += mc_alloc_block_size(s->alloc, r->handle);
    pc->n++;
    return true;
}

static void place_preferred(mc_master_t *m, place_ctx_t *pc, const mc_master_put_cfg_t *cfg)
    MC_REQUIRES(m->cluster_lock)
{
    for (uint32_t p = 0; p < cfg->n_preferred && pc->n < pc->want; p++) {
        const char *name = cfg->preferred_segments[p];
        if (!name)
            continue;
        for (uint32_t i = 0; i < m->n_placeable; i++) {
            uint16_t slot = m->placeable[i];
            if (strcmp(m->segs[slot]->info.name, name) == 0 && try_slot(m, pc, slot))
                break;
        }
    }
}

static void place_random(mc_master_t *m, place_ctx_t *pc) MC_REQUIRES(m->cluster_lock)
{
    uint32_t n = m->n_placeable;
    if (n == 0)
        return;
    uint32_t start = (uint32_t)(rng_next(m) % n);
    for (uint32_t k = 0; k < n && pc->n < pc->want; k++)
        try_slot(m, pc, m->placeable[(start + k) % n]);
}

static double free_ratio(const mcm_seg_t *s)
{
    uint64_t cap = mc_alloc_capacity(s->alloc);
    return (double)(cap - mc_alloc_used(s->alloc)) / (double)cap;
}

static void place_free_ratio(mc_master_t *m, place_ctx_t *pc) MC_REQUIRES(m->cluster_lock)
{
    uint16_t failed[MC_MAX_REPLICAS * 4];
    uint32_t n_failed = 0;
    while (pc->n < pc->want && n_failed < sizeof(failed) / sizeof(failed[0])) {
        int best = -1;
        double best_ratio = -1.0;
        for (uint32_t i = 0; i < m->n_placeable; i++) {
            uint16_t slot = m->placeable[i];
            bool skip = chosen(pc, slot);
            for (uint32_t f = 0; f < n_failed && !skip; f++)
                skip = failed[f] == slot;
            double r = free_ratio(m->segs[slot]);
            if (!skip && r > best_ratio) {
                best_ratio = r;
                best = slot;
            }
        }
        if (best < 0)
            return;
        if (!try_slot(m, pc, (uint16_t)best))
            failed[n_failed++] = (uint16_t)best;
    }
}

int mcm_place_locked(mc_master_t *m, uint64_t size, const mc_master_put_cfg_t *cfg, mcm_rep_t *reps,
                     uint32_t *n)
{
    place_ctx_t pc = {.size = size, .reps = reps, .n = 0, .want = cfg->replica_num};
    place_preferred(m, &pc, cfg);
    if (pc.n < pc.want) {
        if (m->cfg.strategy == MC_MASTER_STRATEGY_FREE_RATIO_FIRST)
            place_free_ratio(m, &pc);
        else
            place_random(m, &pc);
    }
    *n = pc.n;
    return pc.n > 0 ? MC_OK : MC_NO_AVAILABLE_HANDLE;
}

/* ---- freeing and retiring ------------------------------------------------------- */

static void free_handle_locked(mc_master_t *m, uint16_t slot, uint32_t handle)
    MC_REQUIRES(m->cluster_lock)
{
    mcm_seg_t *s = m->segs[slot];
    if (!s)
        return;
    uint64_t bytes = mc_alloc_block_size(s->alloc, handle);
    if (mc_alloc_free(s->alloc, handle) == MC_OK && s->info.state != MC_SEG_UNMOUNTING)
        m->used -= bytes;
}

void mcm_free_rep_locked(mc_master_t *m, const mcm_rep_t *r)
{
    free_handle_locked(m, r->slot, r->handle);
}

void mcm_retire_rep_locked(mc_master_t *m, const mcm_rep_t *r, uint64_t free_after_ms, bool lease)
{
    mcm_seg_t *s = m->segs[r->slot];
    if (!s)
        return;
    if (m->n_retired == m->cap_retired) {
        size_t ncap = m->cap_retired ? m->cap_retired * 2 : 64;
        mcm_retired_t *nr = realloc(m->retired, ncap * sizeof(*nr));
        if (!nr) {
            /* cannot remember it: freeing early is the lesser evil than leaking */
            free_handle_locked(m, r->slot, r->handle);
            return;
        }
        m->retired = nr;
        m->cap_retired = ncap;
    }
    uint64_t bytes = mc_alloc_block_size(s->alloc, r->handle);
    m->retired[m->n_retired++] = (mcm_retired_t){
        .epoch = s->info.epoch,
        .free_after_ms = free_after_ms,
        .bytes = bytes,
        .handle = r->handle,
        .slot = r->slot,
        .lease = lease ? 1 : 0,
    };
    m->retired_bytes += bytes;
    if (lease)
        m->retired_lease_bytes += bytes;
}

uint64_t mcm_release_retired_locked(mc_master_t *m, uint64_t now_ms)
{
    uint64_t freed = 0;
    size_t i = 0;
    while (i < m->n_retired) {
        mcm_retired_t *r = &m->retired[i];
        if (r->free_after_ms > now_ms) {
            i++;
            continue;
        }
        const mcm_seg_t *s = m->segs[r->slot];
        if (s && s->info.epoch == r->epoch)
            free_handle_locked(m, r->slot, r->handle);
        m->retired_bytes -= r->bytes;
        if (r->lease)
            m->retired_lease_bytes -= r->bytes;
        *r = m->retired[--m->n_retired];
        freed++;
    }
    return freed;
}

/* ---- pressure and clients ------------------------------------------------------- */

void mcm_signal_pressure(mc_master_t *m)
{
    mc_mutex_lock(&m->pressure_lock);
    m->pressure = true;
    pthread_cond_signal(&m->pressure_cond);
    mc_mutex_unlock(&m->pressure_lock);
}

int mcm_client_touch_locked(mc_master_t *m, mc_uuid_t id, uint64_t now_ms)
{
    for (size_t i = 0; i < m->n_clients; i++) {
        if (mc_uuid_equal(m->clients[i].id, id)) {
            if (now_ms > m->clients[i].last_seen_ms)
                m->clients[i].last_seen_ms = now_ms;
            return MC_OK;
        }
    }
    if (m->n_clients == m->cap_clients) {
        size_t ncap = m->cap_clients ? m->cap_clients * 2 : 16;
        mcm_client_t *nc = realloc(m->clients, ncap * sizeof(*nc));
        if (!nc)
            return MC_INTERNAL_ERROR;
        m->clients = nc;
        m->cap_clients = ncap;
    }
    m->clients[m->n_clients++] = (mcm_client_t){.id = id, .last_seen_ms = now_ms};
    return MC_OK;
}

/* Read without cluster_lock by design (master_internal.h, LOCKS: the sweep
 * rule keeps the segment alive), which the analysis cannot see. */
const mcm_seg_t *mcm_seg_pinned(const mc_master_t *m, uint16_t slot) MC_NO_THREAD_SAFETY_ANALYSIS
{
    return m->segs[slot];
}
