/* Sharded hash map of immutable, reference-counted values (see metadata_store.h).
 *
 * Lock rules, written once: every field of a shard (table, nbuckets, count and
 * the entries reachable from it, including entry->value) is read under the
 * shard's read lock and changed only under its write lock. The store-wide
 * counters are atomics updated under the owning shard's write lock and read
 * without any lock. The one exception to the write-lock rule is an entry's
 * pub_seen_ms: an atomic a GET by the key's publisher refreshes under the
 * read lock (the entry cannot go away while that lock is held); its claim
 * (claimed, pub) changes only under the write lock. Credentials are digested
 * before any lock is taken. A value's bytes never change after creation, so a
 * reference taken under the lock keeps them valid after the lock is dropped.
 * The only allocation made under a lock is a shard's table growth. */
#include "metadata_store.h"

#include "mc/errors.h"
#include "mc/strutil.h"
#include "mc/thread.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
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
    bool claimed; /* pub holds the digest of the publisher's credential */
    uint8_t pub[SHA256_DIGEST_LENGTH];
    _Atomic uint64_t pub_seen_ms; /* last request with the credential (refreshed under
                                    * the read lock too, hence atomic) */
    size_t klen;
    char key[];
} entry_t;

/* A request's credential, digested before any lock is taken. */
typedef struct cred_digest {
    const metadata_cred_t *cred; /* NULL = none */
    bool has_pub;
    uint8_t pub[SHA256_DIGEST_LENGTH];
} cred_digest_t;

typedef struct shard {
    alignas(64) mc_rwlock_t lock;
    entry_t **table MC_GUARDED_BY(lock) MC_PT_GUARDED_BY(lock);
    size_t nbuckets MC_GUARDED_BY(lock); /* power of two */
    size_t count MC_GUARDED_BY(lock);
} shard_t;

struct metadata_store {
    shard_t shards[NSHARDS];
    uint64_t seed;
    uint64_t publisher_ttl_ms; /* set before sharing; 0 = claims never lapse */
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

/* ---------------- publishers ---------------- */

void metadata_store_set_publisher_ttl(metadata_store_t *store, uint64_t ttl_ms)
{
    store->publisher_ttl_ms = ttl_ms;
}

int metadata_publisher_validate(const char *pub, size_t len)
{
    if (!pub || len < METADATA_PUBLISHER_MIN || len > METADATA_PUBLISHER_MAX)
        return MC_INVALID_PARAMS;
    for (size_t i = 0; i < len; i++)
        if (pub[i] <= ' ' || pub[i] > '~')
            return MC_INVALID_PARAMS;
    return MC_OK;
}

static int cred_digest(const metadata_cred_t *cred, cred_digest_t *d)
{
    memset(d, 0, sizeof(*d));
    d->cred = cred;
    if (!cred || !cred->pub)
        return MC_OK;
    if (metadata_publisher_validate(cred->pub, cred->len) != MC_OK)
        return MC_INVALID_PARAMS;
    SHA256((const unsigned char *)cred->pub, cred->len, d->pub);
    d->has_pub = true;
    return MC_OK;
}

static bool cred_is_publisher(const entry_t *e, const cred_digest_t *d)
{
    return e->claimed && d->has_pub && CRYPTO_memcmp(e->pub, d->pub, sizeof(e->pub)) == 0;
}

static bool claim_lapsed(const metadata_store_t *store, const entry_t *e, const cred_digest_t *d)
{
    uint64_t seen = atomic_load_explicit(&e->pub_seen_ms, memory_order_relaxed);

    return store->publisher_ttl_ms && d->cred && d->cred->now_ms >= seen &&
           d->cred->now_ms - seen >= store->publisher_ttl_ms;
}

/* May this request replace or delete e? Read or write lock held. */
static bool may_change(const metadata_store_t *store, const entry_t *e, const cred_digest_t *d)
{
    return !e->claimed || (d->cred && d->cred->admin) || cred_is_publisher(e, d) ||
           claim_lapsed(store, e, d);
}

/* Write lock held: after a change by d, the claim is d's credential; a
 * request without one leaves the claim as it was, or drops it when it had
 * lapsed (the key is unclaimed from then on). */
static void claim_after_change(const metadata_store_t *store, entry_t *e, const cred_digest_t *d)
{
    if (d->has_pub) {
        memcpy(e->pub, d->pub, sizeof(e->pub));
        e->claimed = true;
        atomic_store_explicit(&e->pub_seen_ms, d->cred->now_ms, memory_order_relaxed);
    } else if (e->claimed && claim_lapsed(store, e, d) && !(d->cred && d->cred->admin)) {
        e->claimed = false;
    }
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
                  const cred_digest_t *d, metadata_value_t **old, bool *used,
                  metadata_put_result_t *result) MC_REQUIRES(sh->lock)
{
    entry_t **link = do_find(sh, fresh->hash, fresh->key, fresh->klen);
    entry_t *e = *link;

    if (!e) {
        fresh->claimed = false;
        atomic_init(&fresh->pub_seen_ms, 0);
        claim_after_change(store, fresh, d);
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
    if (!may_change(store, e, d))
        return MC_ILLEGAL_CLIENT;
    if (metadata_key_is_rpc_meta(e->key, e->klen)) {
        if (e->value->len != nv->len || memcmp(e->value->data, nv->data, nv->len) != 0)
            return MC_OBJECT_ALREADY_EXISTS;
        *old = nv; /* identical: keep the stored one */
        claim_after_change(store, e, d);
        *result = METADATA_PUT_UNCHANGED;
        return MC_OK;
    }
    claim_after_change(store, e, d);
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
    return metadata_store_put_as(store, key, klen, value, len, NULL, result);
}

int metadata_store_put_as(metadata_store_t *store, const char *key, size_t klen, const void *value,
                          size_t len, const metadata_cred_t *cred, metadata_put_result_t *result)
{
    metadata_put_result_t res = METADATA_PUT_CREATED;
    metadata_value_t *nv, *old = NULL;
    cred_digest_t d;
    entry_t *fresh;
    shard_t *sh;
    bool used = false;
    int rc;

    if (metadata_key_validate(key, klen) != MC_OK)
        return MC_INVALID_KEY;
    if ((!value && len) || cred_digest(cred, &d) != MC_OK)
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
    rc = do_put(store, sh, fresh, nv, &d, &old, &used, &res);
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
    return metadata_store_get_as(store, key, klen, NULL, out);
}

int metadata_store_get_as(metadata_store_t *store, const char *key, size_t klen,
                          const metadata_cred_t *cred, metadata_value_t **out)
{
    cred_digest_t d;
    uint64_t hash;
    shard_t *sh;
    entry_t *e;

    *out = NULL;
    if (metadata_key_validate(key, klen) != MC_OK)
        return MC_INVALID_KEY;
    if (cred_digest(cred, &d) != MC_OK)
        return MC_INVALID_PARAMS;
    hash = key_hash(store, key, klen);
    sh = shard_of(store, hash);
    mc_rwlock_rdlock(&sh->lock);
    e = *do_find(sh, hash, key, klen);
    if (e) {
        atomic_fetch_add_explicit(&e->value->refs, 1, memory_order_relaxed);
        *out = e->value;
        if (cred_is_publisher(e, &d)) /* the publisher is alive: its claim holds */
            atomic_store_explicit(&e->pub_seen_ms, cred->now_ms, memory_order_relaxed);
    }
    mc_rwlock_unlock(&sh->lock);
    return *out ? MC_OK : MC_OBJECT_NOT_FOUND;
}

int metadata_store_delete(metadata_store_t *store, const char *key, size_t klen)
{
    return metadata_store_delete_as(store, key, klen, NULL);
}

int metadata_store_delete_as(metadata_store_t *store, const char *key, size_t klen,
                             const metadata_cred_t *cred)
{
    cred_digest_t d;
    uint64_t hash;
    shard_t *sh;
    entry_t **link, *e;
    bool refused = false;

    if (metadata_key_validate(key, klen) != MC_OK)
        return MC_INVALID_KEY;
    if (cred_digest(cred, &d) != MC_OK)
        return MC_INVALID_PARAMS;
    hash = key_hash(store, key, klen);
    sh = shard_of(store, hash);
    mc_rwlock_wrlock(&sh->lock);
    link = do_find(sh, hash, key, klen);
    e = *link;
    if (e && !may_change(store, e, &d)) {
        refused = true;
        e = NULL;
    }
    if (e) {
        *link = e->next;
        sh->count--;
        atomic_fetch_sub_explicit(&store->keys, 1, memory_order_relaxed);
        atomic_fetch_sub_explicit(&store->key_bytes, e->klen, memory_order_relaxed);
        atomic_fetch_sub_explicit(&store->value_bytes, e->value->len, memory_order_relaxed);
    }
    mc_rwlock_unlock(&sh->lock);
    if (refused)
        return MC_ILLEGAL_CLIENT;
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
