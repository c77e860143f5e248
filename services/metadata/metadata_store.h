/* The metadata server's core: a thread-safe map from key bytes to immutable
 * value blobs, with Mooncake's write-once rule for rpc_meta keys and
 * publisher claims (below).
 *
 * Pure logic: no HTTP, no JSON (libcrypto only for SHA-256). Keys are byte strings with a length (1 to
 * MC_MAX_KEY_LEN bytes, no NUL); values are arbitrary bytes, possibly empty.
 *
 * Concurrency: the map is split into shards by key hash, each behind its own
 * rwlock. Readers take a shard's read lock only long enough to find the entry
 * and take a reference on its value; the bytes are then used (e.g. sent to a
 * slow client) with no lock held. Writers build the new value before taking
 * the write lock and free the old one after dropping it; under the lock they
 * only relink entries (plus, rarely, grow the shard's table, and for an
 * existing rpc_meta key compare the bytes). */
#ifndef MC_METADATA_STORE_H
#define MC_METADATA_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct metadata_store metadata_store_t;
/* An immutable, reference-counted value. */
typedef struct metadata_value metadata_value_t;

/* Outcome of a successful metadata_store_put. */
typedef enum metadata_put_result {
    METADATA_PUT_CREATED = 0, /* key was absent */
    METADATA_PUT_UPDATED,     /* key existed and was overwritten */
    METADATA_PUT_UNCHANGED,   /* rpc_meta key re-put with an identical value */
} metadata_put_result_t;

typedef struct metadata_stats {
    uint64_t keys;        /* keys stored */
    uint64_t key_bytes;   /* sum of key lengths */
    uint64_t value_bytes; /* sum of value lengths */
} metadata_stats_t;

/* NULL on allocation failure. */
metadata_store_t *metadata_store_create(void);
/* Frees every entry. Values still referenced by callers stay valid until
 * released. Safe on NULL. Must not race with other calls on the store. */
void metadata_store_destroy(metadata_store_t *store);

/* MC_OK when key is a valid metadata key: 1..MC_MAX_KEY_LEN bytes, no NUL.
 * MC_INVALID_KEY otherwise (also for key == NULL). */
int metadata_key_validate(const char *key, size_t len);
/* Why a key is invalid, as a short static message ("empty key", ...); NULL
 * when it is valid. Agrees with metadata_key_validate. */
const char *metadata_key_problem(const char *key, size_t len);
/* 1 when the key is write-once: it contains "rpc_meta" anywhere (Mooncake's rule). */
int metadata_key_is_rpc_meta(const char *key, size_t len);

/* Stores a copy of value[0..len) under key. For rpc_meta keys that already
 * exist: an identical value leaves the store as is (*result UNCHANGED), a
 * different one fails with MC_OBJECT_ALREADY_EXISTS. result may be NULL.
 * Returns MC_OK, MC_INVALID_KEY, MC_INVALID_PARAMS (value NULL with len > 0),
 * MC_OBJECT_ALREADY_EXISTS, MC_ILLEGAL_CLIENT (a claimed key: the _as form
 * with its credential is needed) or MC_INTERNAL_ERROR (out of memory). */
int metadata_store_put(metadata_store_t *store, const char *key, size_t klen, const void *value,
                       size_t len, metadata_put_result_t *result);

/* ---- publishers (docs/metadata.md, "Publishers") ----
 * A key created with a publisher credential is claimed by it: from then on
 * only a request with the same credential may replace or delete it, until
 * the claim lapses (its publisher was not heard from, by any request with
 * the credential, for the store's publisher TTL) or the key is deleted. A
 * caller holding the admin token may replace or delete any key. A key
 * created without a credential is unclaimed: any caller may replace or
 * delete it, and a PUT with a credential claims it. Credentials are kept
 * only as SHA-256 digests and compared in constant time. */
#define METADATA_PUBLISHER_MIN 16u  /* bytes, as a token (mc/auth.h) */
#define METADATA_PUBLISHER_MAX 256u /* bytes */

typedef struct metadata_cred {
    const char *pub; /* the publisher credential; NULL = none */
    size_t len;      /* METADATA_PUBLISHER_MIN..MAX bytes when pub is set */
    bool admin;      /* the caller proved the admin token */
    uint64_t now_ms; /* monotonic clock, for the claim's lapse and refresh */
} metadata_cred_t;

/* Claims lapse after ttl_ms without a word from their publisher; 0 = never.
 * Call before the store is shared. */
void metadata_store_set_publisher_ttl(metadata_store_t *store, uint64_t ttl_ms);
/* MC_OK when pub[0..len) is a well-formed credential: METADATA_PUBLISHER_MIN
 * to _MAX printable ASCII bytes without spaces; MC_INVALID_PARAMS otherwise. */
int metadata_publisher_validate(const char *pub, size_t len);

/* put/get/delete as cred (NULL = no credential, no admin). put and delete of
 * a key claimed by another publisher: MC_ILLEGAL_CLIENT, nothing changes
 * (checked before the rpc_meta rule). A get or an rpc_meta "unchanged" put
 * with the claim's credential refreshes the claim. */
int metadata_store_put_as(metadata_store_t *store, const char *key, size_t klen, const void *value,
                          size_t len, const metadata_cred_t *cred, metadata_put_result_t *result);
int metadata_store_get_as(metadata_store_t *store, const char *key, size_t klen,
                          const metadata_cred_t *cred, metadata_value_t **out);
int metadata_store_delete_as(metadata_store_t *store, const char *key, size_t klen,
                             const metadata_cred_t *cred);

/* On MC_OK *out holds a reference the caller gives back with
 * metadata_value_release. MC_OBJECT_NOT_FOUND when absent, MC_INVALID_KEY. */
int metadata_store_get(metadata_store_t *store, const char *key, size_t klen,
                       metadata_value_t **out);

/* MC_OK, MC_OBJECT_NOT_FOUND or MC_INVALID_KEY (MC_ILLEGAL_CLIENT for a
 * claimed key: the _as form with the credential is needed). */
int metadata_store_delete(metadata_store_t *store, const char *key, size_t klen);

/* A consistent-enough snapshot: each counter is exact, read without locks. */
void metadata_store_stats(const metadata_store_t *store, metadata_stats_t *out);

/* Bytes of a value (never NULL; a zero-length value points at a NUL). */
const char *metadata_value_data(const metadata_value_t *v);
size_t metadata_value_len(const metadata_value_t *v);
/* Gives back one reference; the last one frees. Safe on NULL. */
void metadata_value_release(metadata_value_t *v);
/* The same bytes typed for an I/O layer that frees through a callback given
 * only the data pointer (never written through): pair it with
 * metadata_value_release_data, which gives back v's reference. */
void *metadata_value_io_data(metadata_value_t *v);
void metadata_value_release_data(void *data);

#endif
