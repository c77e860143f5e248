/* Eviction: approximate LRU across shards, in four passes.
 *
 * Each shard keeps an exact LRU list (head = most recently used). Globally,
 * eviction merges the shards by the last-use time of each shard's coldest
 * candidate with a min-heap: it repeatedly visits the shard holding the
 * globally coldest candidate and evicts from its cold end until that shard's
 * next candidate is warmer than the second-coldest shard's. So victims leave
 * in (close to) global LRU order, one shard lock at a time, and a target is
 * not overshot by more than one object.
 *
 * What protects an object (ARCHITECTURE.md section 3): a hold and PROCESSING
 * are hard (bytes in flight), and so is the minimum residency (an object
 * complete for less than min_residency_ms is never taken, so a writer can
 * read back what it was just told is stored). A lease is a soft preference:
 * a finished read needs no memory.
 *
 *   1 COLD    unpinned objects nobody leased or used for a lease TTL;
 *   2 WARM    unpinned ones, leased or not, in plain LRU order;
 *   3 SOFT    soft-pinned ones too (if allowed);
 *   4 RETIRE  the ones a reader may still copy under the lease alone, without
 *             a hold (OBJ_F_BARE, OBJ_F_OWNED): invisible now, their buffers
 *             retired until that reader's time is over.
 *
 * Every victim of passes 1-3 is freed at once. Objects that no pass may take
 * (PROCESSING, hard-pinned) are moved to the warm end when met, so they do
 * not clog the cold end. Each visit scans at most SCAN_LIMIT objects. */
#include <stdlib.h>

#include "master_internal.h"
#include "mc/errors.h"

#define SCAN_LIMIT 256u
#define EMPTY_BACKOFF_MS 10u

enum { PASS_COLD = 1, PASS_WARM = 2, PASS_SOFT = 3, PASS_RETIRE = 4 };
enum { V_NEVER = -1, V_SKIP = 0, V_FREE = 1, V_RETIRE = 2, V_STOP = 3 };

typedef struct evict_run {
    mc_master_t *m;
    uint64_t now_ms;
    int pass;
    uint64_t need; /* bytes still to free */
    mc_master_evict_report_t *rep;
} evict_run_t;

/* True while o is younger than the minimum residency. A complete object's
 * aux_ms is its put_end time, or, when soft-pinned, its soft pin end (last
 * use + soft_pin_ttl): the last use is no earlier than put_end, so that
 * errs on the side of keeping it. */
static bool young(const mc_master_t *m, const mcm_obj_t *o, uint64_t now_ms)
{
    uint64_t since = o->aux_ms;
    if (o->flags & OBJ_F_SOFT)
        since = since > m->cfg.soft_pin_ttl_ms ? since - m->cfg.soft_pin_ttl_ms : 0;
    return now_ms < since + m->cfg.min_residency_ms;
}

static int victim_kind(const evict_run_t *r, const mcm_shard_t *sh, const mcm_obj_t *o)
    MC_REQUIRES(sh->lock)
{
    const mc_master_t *m = r->m;
    uint64_t now = r->now_ms;
    if (o->state != MC_OBJ_COMPLETE || (o->flags & OBJ_F_HARD))
        return V_NEVER;
    if (mcm_obj_n_disk(o) == o->nrep)
        return V_NEVER; /* no memory to free: disk-only */
    if (r->pass == PASS_COLD && o->atime_ms + m->cfg.lease_ttl_ms > now)
        return V_STOP; /* used within a lease TTL: so is everything warmer */
    if (mcm_obj_held(sh, o, now) || young(m, o, now))
        return V_SKIP; /* bytes in flight, or just written: no pass takes it */
    if (mcm_obj_soft_pinned(o, now) && (r->pass < PASS_SOFT || !m->cfg.allow_evict_soft_pinned))
        return V_SKIP;
    if (r->pass == PASS_COLD && mcm_obj_leased(o, now))
        return V_SKIP;
    if (mcm_obj_unheld_read_end(o, m->cfg.lease_ttl_ms, now) > now)
        return r->pass == PASS_RETIRE ? V_RETIRE : V_SKIP;
    return V_FREE;
}

static void evict_one(evict_run_t *r, mcm_shard_t *sh, mcm_obj_t *o, int kind) MC_REQUIRES(sh->lock)
{
    unsigned n_disk = mcm_obj_n_disk(o);
    uint64_t bytes = o->size * (o->nrep - n_disk);
    if (mcm_obj_soft_pinned(o, r->now_ms))
        r->rep->soft_pinned_objects++;
    if (kind == V_RETIRE) {
        r->rep->retired_bytes += bytes;
        r->rep->retired_objects++;
    } else {
        r->rep->freed_bytes += bytes;
        r->rep->freed_objects++;
    }
    atomic_fetch_add_explicit(&r->m->st.evicted_objects, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->m->st.evicted_bytes, bytes, memory_order_relaxed);
    if (mcm_obj_leased(o, r->now_ms))
        r->rep->leased_objects++;
    r->need = bytes >= r->need ? 0 : r->need - bytes;
    /* the buffers wait for the readers that copy without a hold, no longer:
     * those who hold are not copying (unheld), the others' reads are done */
    o->lease_until_ms =
        kind == V_FREE ? 0 : mcm_obj_unheld_read_end(o, r->m->cfg.lease_ttl_ms, r->now_ms);
    if (n_disk) { /* on disk too: it stays readable there, only the memory goes */
        mcm_obj_release_buffers(r->m, o, r->now_ms, 0);
        mcm_lru_rotate_head(sh, o); /* out of the cold end, where it holds nothing */
    } else {
        mcm_obj_drop(r->m, sh, o, r->now_ms); /* retires what must wait */
    }
}

/* offload_on_evict: instead of dropping the only copy, ask its owner to
 * persist it (the object is held for the owner meanwhile, so every later
 * pass skips it). Once per object: when that hold ran out, it is evicted. */
static bool offload_instead(evict_run_t *r, mcm_shard_t *sh, mcm_obj_t *o) MC_REQUIRES(sh->lock)
{
    if (!r->m->cfg.offload_on_evict || (o->flags & OBJ_F_PERSIST) || mcm_obj_n_disk(o))
        return false;
    if (!mcm_offload_locked(r->m, sh, o, r->now_ms))
        return false;
    atomic_fetch_add_explicit(&r->m->st.offloaded, 1, memory_order_relaxed);
    return true;
}

/* Walks sh from its cold end. With act, evicts candidates while they are no
 * warmer than bound (always at least one) and bytes are still needed.
 * Returns the last-use time of the next candidate, or UINT64_MAX if none is
 * within reach. Caller holds sh->lock. */
static uint64_t shard_walk(evict_run_t *r, mcm_shard_t *sh, uint64_t bound, bool act)
    MC_REQUIRES(sh->lock)
{
    bool did = false;
    unsigned scanned = 0;
    mcm_obj_t *o = sh->lru_tail;
    while (o && scanned++ < SCAN_LIMIT) {
        mcm_obj_t *warmer = o->lru_prev;
        int kind = victim_kind(r, sh, o);
        if (kind == V_STOP)
            break;
        if (kind == V_NEVER) {
            mcm_lru_rotate_head(sh, o);
        } else if (kind != V_SKIP) {
            if (!act || r->need == 0 || (did && o->atime_ms > bound))
                return o->atime_ms;
            if (!offload_instead(r, sh, o)) {
                evict_one(r, sh, o, kind);
                did = true;
            }
        }
        o = warmer;
    }
    return UINT64_MAX;
}

/* A binary min-heap of (key, shard). */
typedef struct heap {
    uint64_t key[MCM_SHARDS];
    uint16_t shard[MCM_SHARDS];
    unsigned n;
} heap_t;

static void heap_swap(heap_t *h, unsigned a, unsigned b)
{
    uint64_t k = h->key[a];
    uint16_t s = h->shard[a];
    h->key[a] = h->key[b];
    h->shard[a] = h->shard[b];
    h->key[b] = k;
    h->shard[b] = s;
}

static void heap_push(heap_t *h, uint64_t key, uint16_t shard)
{
    unsigned i = h->n++;
    h->key[i] = key;
    h->shard[i] = shard;
    while (i > 0 && h->key[(i - 1) / 2] > h->key[i]) {
        heap_swap(h, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static uint16_t heap_pop(heap_t *h)
{
    uint16_t top = h->shard[0];
    h->n--;
    h->key[0] = h->key[h->n];
    h->shard[0] = h->shard[h->n];
    unsigned i = 0;
    for (;;) {
        unsigned l = 2 * i + 1, rr = l + 1, s = i;
        if (l < h->n && h->key[l] < h->key[s])
            s = l;
        if (rr < h->n && h->key[rr] < h->key[s])
            s = rr;
        if (s == i)
            break;
        heap_swap(h, i, s);
        i = s;
    }
    return top;
}

static void run_pass(evict_run_t *r, heap_t *h)
{
    mc_master_t *m = r->m;
    h->n = 0;
    for (unsigned s = 0; s < MCM_SHARDS; s++) {
        mcm_shard_t *sh = &m->shards[s];
        mc_mutex_lock(&sh->lock);
        uint64_t k = shard_walk(r, sh, 0, false);
        mc_mutex_unlock(&sh->lock);
        if (k != UINT64_MAX)
            heap_push(h, k, (uint16_t)s);
    }
    while (r->need > 0 && h->n > 0) {
        uint16_t s = heap_pop(h);
        uint64_t bound = h->n ? h->key[0] : UINT64_MAX;
        mcm_shard_t *sh = &m->shards[s];
        mc_mutex_lock(&sh->lock);
        uint64_t k = shard_walk(r, sh, bound, true);
        mc_mutex_unlock(&sh->lock);
        if (k != UINT64_MAX)
            heap_push(h, k, s);
    }
}

bool mc_master_evict_wanted(mc_master_t *m)
{
    mc_mutex_lock(&m->pressure_lock);
    bool p = m->pressure;
    mc_mutex_unlock(&m->pressure_lock);
    if (p)
        return true;
    mc_mutex_lock(&m->cluster_lock);
    bool over =
        m->capacity > 0 && (double)m->used >= m->cfg.eviction_high_watermark * (double)m->capacity;
    mc_mutex_unlock(&m->cluster_lock);
    return over;
}

/* The policy target: eviction_ratio of capacity, or enough to get back under
 * the high watermark, minus what retired victims will return on their own;
 * not minus those when a put could not be placed (pressed): it is waiting
 * now, and retired bytes come back only when their lease ends. */
static uint64_t policy_target_locked(const mc_master_t *m, bool pressed)
    MC_REQUIRES(m->cluster_lock)
{
    double cap = (double)m->capacity;
    double t = m->cfg.eviction_ratio * cap;
    double over = (double)m->used - m->cfg.eviction_high_watermark * cap;
    if (over > t)
        t = over;
    uint64_t target = (uint64_t)t;
    if (pressed)
        return target;
    return target > m->retired_lease_bytes ? target - m->retired_lease_bytes : 0;
}

/* One eviction run; target 0 is the policy target. */
static int evict_run_locked(mc_master_t *m, uint64_t now_ms, uint64_t target_bytes,
                            uint64_t min_bytes, mc_master_evict_report_t *rep)
    MC_REQUIRES(m->evict_lock)
{
    *rep = (mc_master_evict_report_t){0};
    mc_mutex_lock(&m->pressure_lock);
    bool pressed = m->pressure || min_bytes > 0;
    m->pressure = false;
    mc_mutex_unlock(&m->pressure_lock);
    mc_mutex_lock(&m->cluster_lock);
    mcm_release_retired_locked(m, now_ms);
    if (target_bytes == 0)
        target_bytes = policy_target_locked(m, pressed);
    mc_mutex_unlock(&m->cluster_lock);
    if (target_bytes < min_bytes)
        target_bytes = min_bytes;
    rep->target_bytes = target_bytes;
    if (target_bytes == 0)
        return MC_OK;
    heap_t *h = malloc(sizeof(*h));
    if (!h)
        return MC_INTERNAL_ERROR;
    evict_run_t r = {.m = m, .now_ms = now_ms, .need = target_bytes, .rep = rep};
    for (int pass = PASS_COLD; pass <= PASS_RETIRE && r.need > 0; pass++) {
        r.pass = pass;
        if (pass == PASS_SOFT && !m->cfg.allow_evict_soft_pinned)
            continue;
        run_pass(&r, h);
    }
    free(h);
    if (rep->freed_objects || rep->retired_objects)
        atomic_fetch_add_explicit(&m->evict_runs, 1, memory_order_release);
    return MC_OK;
}

int mc_master_evict(mc_master_t *m, uint64_t now_ms, uint64_t target_bytes,
                    mc_master_evict_report_t *rep)
{
    if (!m)
        return MC_INVALID_PARAMS;
    mc_master_evict_report_t local;
    mc_mutex_lock(&m->evict_lock);
    int rc = evict_run_locked(m, now_ms, target_bytes, 0, rep ? rep : &local);
    mc_mutex_unlock(&m->evict_lock);
    return rc;
}

bool mcm_evict_for_put(mc_master_t *m, uint64_t now_ms, uint64_t bytes, uint64_t seen_runs)
{
    mc_master_evict_report_t rep = {0};
    mc_mutex_lock(&m->evict_lock);
    /* a run that took something ended since this put tried: just try again */
    bool retry = mcm_evict_runs(m) != seen_runs;
    /* a full pool of protected objects must not cost every failing put a
     * walk of the whole map: after a run that found nothing, puts fail
     * without one for EMPTY_BACKOFF_MS (the background thread still runs) */
    bool backoff = m->evict_empty_ms && now_ms + 1 < m->evict_empty_ms + EMPTY_BACKOFF_MS;
    if (!retry && !backoff) {
        evict_run_locked(m, now_ms, 0, bytes, &rep);
        retry = rep.freed_bytes > 0;
        m->evict_empty_ms = retry ? 0 : now_ms + 1;
    }
    mc_mutex_unlock(&m->evict_lock);
    if (!retry)
        mcm_signal_pressure(m); /* the put fails: the background thread tries again */
    return retry;
}

uint64_t mcm_reclaim_stale_puts(mc_master_t *m, uint64_t now_ms)
{
    if (atomic_load_explicit(&m->st.processing, memory_order_relaxed) == 0)
        return 0;
    /* The scan walks every object, so it runs only when the oldest put seen
     * in flight by the last scan is due: a put started later is due later.
     * (Scanning every tick cost ~8% of a busy master's CPU.) */
    if (now_ms < atomic_load_explicit(&m->next_reclaim_ms, memory_order_relaxed))
        return 0;
    uint64_t n = 0, oldest = now_ms;
    for (unsigned s = 0; s < MCM_SHARDS; s++) {
        mcm_shard_t *sh = &m->shards[s];
        mc_mutex_lock(&sh->lock);
        mcm_obj_t *o = sh->lru_head;
        while (o) {
            mcm_obj_t *next = o->lru_next;
            if (o->state == MC_OBJ_PROCESSING) {
                if (now_ms >= o->aux_ms + m->cfg.put_release_timeout_ms) {
                    mcm_obj_drop(m, sh, o, now_ms);
                    n++;
                } else if (o->aux_ms < oldest) {
                    oldest = o->aux_ms;
                }
            }
            o = next;
        }
        mc_mutex_unlock(&sh->lock);
    }
    atomic_store_explicit(&m->next_reclaim_ms, oldest + m->cfg.put_release_timeout_ms,
                          memory_order_relaxed);
    return n;
}
