/* Hold releases off the read path: a get hands the keys whose holds it took
 * to this queue when its copies end and returns at once; one thread sends
 * them to the master in batches (STORE_M_RELEASE). A hold is thus released
 * a little later than the copy ended, never earlier, and the reader does not
 * wait a master round trip for it. A release that fails is dropped: the
 * master's hold TTL ends the hold anyway.
 *
 * Threads: store_release_later and store_release_flush from any thread; one
 * background thread of its own. */
#ifndef MC_STORE_RELEASE_H
#define MC_STORE_RELEASE_H

#include "mc/uuid.h"
#include "store_master.h"

#include <stddef.h>

typedef struct store_releaser store_releaser_t;

/* master must outlive the queue. NULL when out of memory or no thread. */
store_releaser_t *store_releaser_create(store_master_t *master, mc_uuid_t client_id);
/* Sends what is queued, then stops the thread and frees. Safe on NULL. */
void store_releaser_destroy(store_releaser_t *r);
/* Queues one release per key (the keys are copied). Returns MC_OK, or
 * MC_INTERNAL_ERROR when nothing could be queued (the caller then releases
 * synchronously or leaves it to the TTL). */
int store_release_later(store_releaser_t *r, size_t n, const char *const *keys, const size_t *lens);
/* The release itself, sent now: one hold of client per key. codes (may be
 * NULL) get each key's answer, or the whole call's error. Returns MC_OK or
 * the call's error. The queue's thread and every synchronous release go
 * through this one function. */
int store_release_now(store_master_t *master, mc_uuid_t client, size_t n, const char *const *keys,
                      const size_t *lens, int *codes);
/* Returns once everything queued before the call has been sent (tests). */
void store_release_flush(store_releaser_t *r);

#endif
