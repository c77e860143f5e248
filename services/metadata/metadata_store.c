/* Sharded hash map of immutable, reference-counted values (see metadata_store.h).
 *
 * Lock rules, written once: every field of a shard (table, nbuckets, count and
 * the entries reachable from it, including entry->value) is read under the
 * shard's read lock and changed only under its write lock. The store-wide
 * counters are atomics updated under the owning shard's write lock and read
 * without any lock. A value's bytes never change after creation, so a
 * reference taken under the lock keeps them valid after the lock is dropped.
 * The only allocation made under a lock is a shard's table growth. */
#include "metadata_store.h"

#include "mc/errors.h"
#include "mc/strutil.h"
#include "mc/thread.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SHARD_BITS 6
#define NSHARDS (1u << SHARD_BITS)
#define INITIAL_BUCKETS 16u
#define RPC_META_MARK "rpc_meta"
_Static_assert(MC_MAX_KEY_LEN == 4096, "metadata_key_problem names the limit");

struct metadata_value {
    atomic_size_t refs;
    size_t len;
    char data[]; /* len bytes, then a NUL so text values print safely */
};

typedef struct entry {
    struct entry *next;
    uint64_t hash;
    metadata_value_t *value;
    size_t klen;
    char key[];
} entry_t;

typedef struct shard {
    alignas(64) mc_rwlock_t lock;
    entry_t **table MC_GUARDED_BY(lock) MC_PT_GUARDED_BY(lock);
    size_t nbuckets MC_GUARDED_BY(lock); /* power of two */
    size_t count MC_GUARDED_BY(lock);
} shard_t;

struct metadata_store {
    shard_t shards[NSHARDS];
    uint64_t seed;
    _Atomic uint64_t keys, key_bytes, value_bytes;
};

/* ---------------- values ---------------- */

static metadata_value_t *value_create(const void *data, size_t len)
{
    metadata_value_t *v;

    if (len > SIZE_MAX - sizeof(*v) - 1)
        return NULL;
    v = malloc(sizeof(*v) + len + 1);
    if (!v)
        return NULL;
    atomic_init(&v->refs, 1);
    v->len = len;
    if (len)
        memcpy(v->data, data, len);
    v->data[len] = '\0';
    return v;
}

const char *metadata_value_data(const metadata_value_t *v)
{
    return v->data;
}

void *metadata_value_io_data(metadata_value_t *v)
{
    return v->data;
}

size_t metadata_value_len(const metadata_value_t *v)
{
    return v->len;
}

void metadata_value_release(metadata_value_t *v)
{
    if (v && atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) == 1)
        free(v);
}

void metadata_value_release_data(void *data)
{
    if (data)
        metadata_value_release(
            (metadata_value_t *)(void *)((char *)data - offsetof(metadata_value_t, data)));
}

/* ---------------- keys ---------------- */

/* Directory keys are binary (no text output lists them): only NUL and the
 * length are refused, unlike object keys (mc_key_validate). */
int metadata_key_validate(const char *key, size_t len)
{
    return key && len > 0 && len <= MC_MAX_KEY_LEN && !memchr(key, '\0', len) ? MC_OK
                                                                              : MC_INVALID_KEY;
}

const char *metadata_key_problem(const char *key, size_t len)
{
    if (!key)
        return "missing key";
    if (len == 0)
        return "empty key";
    if (len > MC_MAX_KEY_LEN)
        return "key longer than 4096 bytes";
    if (memchr(key, '\0', len))
        return "key contains a NUL byte";
    return NULL;
}

int metadata_key_is_rpc_meta(const char *key, size_t len)
{
    const size_t mlen = sizeof(RPC_META_MARK) - 1;

    if (!key || len < mlen)
        return 0;
    return memmem(key, len, RPC_META_MARK, mlen) != NULL;
}

/* FNV-1a, seeded per store, with a final avalanche so both the shard (top
 * bits) and the bucket (low bits) are well mixed. Not a defence against
 * deliberate collisions; chains stay short for ordinary keys. */
static uint64_t key_hash(const metadata_store_t *store, const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ull ^ store->seed;

    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static shard_t *shard_of(metadata_store_t *store, uint64_t hash)
{
    return &store->shards[hash >> (64 - SHARD_BITS)];
}

/* ---------------- shards (callers hold the lock named) ---------------- */

/* Read or write lock held. Returns the link that points at the entry (or at
 * the NULL ending its chain when absent). */
static entry_t **do_find(shard_t *sh, uint64_t hash, const char *key, size_t klen)
    MC_REQUIRES_SHARED(sh->lock)
{
    entry_t **link = &sh->table[hash & (sh->nbuckets - 1)];

    for (; *link; link = &(*link)->next) {
        const entry_t *e = *link;
        if (e->hash == hash && e->klen == klen && memcmp(e->key, key, klen) == 0)
            return link;
    }
    return link;
}

/* Write lock held. Doubles the table; on allocation failure keeps the old
 * one (lookups stay correct, only chains get longer). */
static void do_grow(shard_t *sh) MC_REQUIRES(sh->lock)
{
    size_t n = sh->nbuckets * 2;
    entry_t **t;

    if (n < sh->nbuckets || n > SIZE_MAX / sizeof(*t))
        return;
    t = calloc(n, sizeof(*t));
    if (!t)
        return;
    for (size_t i = 0; i < sh->nbuckets; i++) {
        entry_t *e = sh->table[i], *next;
        for (; e; e = next) {
            next = e->next;
            e->next = t[e->hash & (n - 1)];
            t[e->hash & (n - 1)] = e;
        }
    }
    free(sh->table);
    sh->table = t;
    sh->nbuckets = n;
}

/* Runs before the store is published: no other thread can see sh. */
static int shard_init(shard_t *sh) MC_NO_THREAD_SAFETY_ANALYSIS
{
    pthread_rwlockattr_t attr;
    int rc;

    sh->table = calloc(INITIAL_BUCKETS, sizeof(*sh->table));
    if (!sh->table)
        return MC_INTERNAL_ERROR;
    sh->nbuckets = INITIAL_BUCKETS;
    sh->count = 0;
    /* Writers first: a steady stream of lookups must not starve a PUT. */
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    rc = mc_rwlock_init(&sh->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (rc != 0) {
        free(sh->table);
        sh->table = NULL;
        return MC_INTERNAL_ERROR;
    }
    return MC_OK;
}

/* Runs after the store's last user: no other thread can see sh. */
static void shard_cleanup(shard_t *sh) MC_NO_THREAD_SAFETY_ANALYSIS
{
    if (!sh->table)
        return;
    for (size_t i = 0; i < sh->nbuckets; i++) {
        entry_t *e = sh->table[i], *next;
        for (; e; e = next) {
            next = e->next;
            metadata_value_release(e->value);
            free(e);
        }
    }
    free(sh->table);
    sh->table = NULL;
    mc_rwlock_destroy(&sh->lock);
}

/* ---------------- store ---------------- */

metadata_store_t *metadata_store_create(void)
{
    metadata_store_t *store = aligned_alloc(alignof(metadata_store_t), sizeof(*store));
    struct timespec ts;

    if (!store)
        return NULL;
    memset(store, 0, sizeof(*store));
    clock_gettime(CLOCK_REALTIME, &ts);
    store->seed = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)ts.tv_sec ^
                  (uint64_t)(uintptr_t)store;
    atomic_init(&store->keys, 0);
    atomic_init(&store->key_bytes, 0);
    atomic_init(&store->value_bytes, 0);
    for (unsigned i = 0; i < NSHARDS; i++) {
        if (shard_init(&store->shards[i]) != MC_OK) {
            metadata_store_destroy(store);
            return NULL;
        }
    }
    return store;
}

void metadata_store_destroy(metadata_store_t *store)
{
    if (!store)
        return;
    for (unsigned i = 0; i < NSHARDS; i++)
        shard_cleanup(&store->shards[i]);
    free(store);
}

/* Write lock held. Applies a put to the shard; *old receives a value the
 * caller releases after unlocking, *used says whether fresh was linked in. */
static int do_put(metadata_store_t *store, shard_t *sh, entry_t *fresh, metadata_value_t *nv,
                  metadata_value_t **old, bool *used, metadata_put_result_t *result)
    MC_REQUIRES(sh->lock)
{
    entry_t **link = do_find(sh, fresh->hash, fresh->key, fresh->klen);
    entry_t *e = *link;

    if (!e) {
        fresh->value = nv;
        fresh->next = NULL;
        *link = fresh;
        *used = true;
        sh->count++;
        atomic_fetch_add_explicit(&store->keys, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&store->key_bytes, fresh->klen, memory_order_relaxed);
        atomic_fetch_add_explicit(&store->value_bytes, nv->len, memory_order_relaxed);
        if (sh->count > sh->nbuckets)
            do_grow(sh);
        *result = METADATA_PUT_CREATED;
        return MC_OK;
    }
    if (metadata_key_is_rpc_meta(e->key, e->klen)) {
        if (e->value->len != nv->len || memcmp(e->value->data, nv->data, nv->len) != 0)
            return MC_OBJECT_ALREADY_EXISTS;
        *old = nv; /* identical: keep the stored one */
        *result = METADATA_PUT_UNCHANGED;
        return MC_OK;
    }
    *old = e->value;
    e->value = nv;
    atomic_fetch_sub_explicit(&store->value_bytes, (*old)->len, memory_order_relaxed);
    atomic_fetch_add_explicit(&store->value_bytes, nv->len, memory_order_relaxed);
    *result = METADATA_PUT_UPDATED;
    return MC_OK;
}

int metadata_store_put(metadata_store_t *store, const char *key, size_t klen, const void *value,
                       size_t len, metadata_put_result_t *result)
{
    metadata_put_result_t res = METADATA_PUT_CREATED;
    metadata_value_t *nv, *old = NULL;
    entry_t *fresh;
    shard_t *sh;
    bool used = false;
    int rc;

    if (metadata_key_validate(key, klen) != MC_OK)
        return MC_INVALID_KEY;
    if (!value && len)
        return MC_INVALID_PARAMS;
    /* Allocate and copy before locking; whatever goes unused is freed after. */
    nv = value_create(value, len);
    fresh = malloc(sizeof(*fresh) + klen);
    if (!nv || !fresh) {
        metadata_value_release(nv);
        free(fresh);
        return MC_INTERNAL_ERROR;
    }
    fresh->hash = key_hash(store, key, klen);
    fresh->klen = klen;
    memcpy(fresh->key, key, klen);
    sh = shard_of(store, fresh->hash);

    mc_rwlock_wrlock(&sh->lock);
    rc = do_put(store, sh, fresh, nv, &old, &used, &res);
    mc_rwlock_unlock(&sh->lock);

    if (rc != MC_OK)
        metadata_value_release(nv);
    else
        metadata_value_release(old);
    if (!used)
        free(fresh);
    if (rc == MC_OK && result)
        *result = res;
    return rc;
}

int metadata_store_get(metadata_store_t *store, const char *key, size_t klen,
                       metadata_value_t **out)
{
    uint64_t hash;
    shard_t *sh;
    entry_t *e;

    *out = NULL;
    if (metadata_key_validate(key, klen) != MC_OK)
        return MC_INVALID_KEY;
    hash = key_hash(store, key, klen);
    sh = shard_of(store, hash);
    mc_rwlock_rdlock(&sh->lock);
    e = *do_find(sh, hash, key, klen);
    if (e) {
        atomic_fetch_add_explicit(&e->value->refs, 1, memory_order_relaxed);
        *out = e->value;
    }
    mc_rwlock_unlock(&sh->lock);
    return *out ? MC_OK : MC_OBJECT_NOT_FOUND;
}

int metadata_store_delete(metadata_store_t *store, const char *key, size_t klen)
{
    uint64_t hash;
    shard_t *sh;
    entry_t **link, *e;

    if (metadata_key_validate(key, klen) != MC_OK)
        return MC_INVALID_KEY;
    hash = key_hash(store, key, klen);
    sh = shard_of(store, hash);
    mc_rwlock_wrlock(&sh->lock);
    link = do_find(sh, hash, key, klen);
    e = *link;
    if (e) {
        *link = e->next;
        sh->count--;
        atomic_fetch_sub_explicit(&store->keys, 1, memory_order_relaxed);
        atomic_fetch_sub_explicit(&store->key_bytes, e->klen, memory_order_relaxed);
        atomic_fetch_sub_explicit(&store->value_bytes, e->value->len, memory_order_relaxed);
    }
    mc_rwlock_unlock(&sh->lock);
    if (!e)
        return MC_OBJECT_NOT_FOUND;
    metadata_value_release(e->value);
    free(e);
    return MC_OK;
}

void metadata_store_stats(const metadata_store_t *store, metadata_stats_t *out)
{
    out->keys = atomic_load_explicit(&store->keys, memory_order_relaxed);
    out->key_bytes = atomic_load_explicit(&store->key_bytes, memory_order_relaxed);
    out->value_bytes = atomic_load_explicit(&store->value_bytes, memory_order_relaxed);
}
