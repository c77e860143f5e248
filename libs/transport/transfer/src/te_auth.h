/* The data-plane handshake (docs/transfer-engine.md, "Handshake"): the
 * engine's key set and the two sides of the challenge-response run on a
 * freshly connected or accepted socket before any request.
 *
 * Lock rules: te_auth_t.mu guards every field; a handshake copies the keys
 * out under it and runs on the copy, so no lock is held across socket I/O. */
#ifndef MC_TE_AUTH_H
#define MC_TE_AUTH_H

#include "mc/te_tcp_proto.h"
#include "mc/transfer.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Up to two keys; len[0] == 0: no handshake. Each installed key gets an id
 * (never 0, kept when a new set holds the same bytes), so the server can
 * tell which connections a rotation retires. */
typedef struct te_auth {
    pthread_mutex_t mu;
    uint8_t key[2][MC_TE_AUTH_KEY_MAX];
    size_t len[2];
    uint64_t id[2];
    uint64_t next_id;
} te_auth_t;

/* HMAC-SHA256 labels, one per direction, so that a proof one side sends
 * is never what the other side must send. */
#define TE_AUTH_LABEL_C2S "mc-te-auth-v1 c2s"
#define TE_AUTH_LABEL_S2C "mc-te-auth-v1 s2c"

/* Checks a key set: MC_OK or MC_INVALID_PARAMS. NULL = no keys. */
int te_auth_check(const mc_te_auth_keys_t *k);
/* init installs k (NULL = no keys; checked first); cleanup wipes the keys. */
int te_auth_init(te_auth_t *a, const mc_te_auth_keys_t *k);
void te_auth_cleanup(te_auth_t *a);
/* Replaces the keys (te_auth_check first: nothing changes on error). */
int te_auth_set(te_auth_t *a, const mc_te_auth_keys_t *k);
bool te_auth_on(te_auth_t *a);
/* Whether a connection authenticated under key `id` may stay: id is still
 * held, or there are no keys at all. id 0 = a connection made without a
 * handshake. */
bool te_auth_holds(te_auth_t *a, uint64_t id);

/* proof = HMAC-SHA256(key, label || client_nonce || server_nonce), label
 * TE_AUTH_LABEL_S2C when from_server, else TE_AUTH_LABEL_C2S. */
int te_auth_proof(const uint8_t *key, size_t len, bool from_server,
                  const uint8_t nc[MC_TCP_HS_BODY], const uint8_t ns[MC_TCP_HS_BODY],
                  uint8_t out[MC_TCP_HS_BODY]);

/* Client side on a connected socket: MC_OK (also when there are no keys:
 * nothing is sent), MC_TRANSFER_FAIL (I/O, deadline, a peer that does not
 * prove one of our keys) or MC_INTERNAL_ERROR (no randomness). */
int te_auth_client(te_auth_t *a, int fd, uint64_t deadline_ns);
/* Server side on an accepted socket, keys required: MC_OK with the id of the
 * key the client proved in *key_id, else MC_TRANSFER_FAIL (nothing more is
 * sent after a wrong proof) or MC_INTERNAL_ERROR. With no keys: MC_OK, id 0. */
int te_auth_server(te_auth_t *a, int fd, uint64_t deadline_ns, uint64_t *key_id);

#endif
