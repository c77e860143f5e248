/* How many of the REST pool's threads may wait on one peer at once, so a
 * peer that stalls (stopped, overloaded, a black-holed network) cannot tie
 * up every thread that also serves local work. Up to cap threads wait on a
 * peer; another one waits up to wait_ms for one of them to finish, then
 * gives up (its copy goes to the next replica, its write elsewhere). A peer
 * that answers frees its slots within milliseconds, so only a stalled one
 * makes anybody give up, and then a thread is lost for wait_ms at most.
 *
 * Peers are keyed by segment name in a fixed table (collisions share a
 * slot: conservative). Thread-safe. */
#ifndef MC_STORE_PEER_GATE_H
#define MC_STORE_PEER_GATE_H

#include <stdbool.h>
#include <stdint.h>

/* How long a thread waits for a slot on a peer that has cap waiters. */
#define STORE_PEER_WAIT_MS 250u

typedef struct store_peer_gate store_peer_gate_t;

/* NULL when out of memory. cap >= 1. */
store_peer_gate_t *store_peer_gate_create(unsigned cap);
void store_peer_gate_destroy(store_peer_gate_t *g);
/* true: the caller may wait on peer (and must call leave); false: cap
 * threads have been waiting on it for all of wait_ms. */
bool store_peer_enter(store_peer_gate_t *g, const char *peer, uint32_t wait_ms);
void store_peer_leave(store_peer_gate_t *g, const char *peer);
/* Waiters on peer now (tests, metrics). */
unsigned store_peer_waiters(store_peer_gate_t *g, const char *peer);

#endif
