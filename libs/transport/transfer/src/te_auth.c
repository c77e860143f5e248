/* Data-plane handshake: key set, HMAC proofs, both sides of the exchange.
 * Crypto is OpenSSL's (RAND_bytes, HMAC-SHA256, CRYPTO_memcmp); nothing
 * here is hand-rolled. The secret never goes on the wire: only nonces and
 * proofs over both nonces do. */
#include "te_auth.h"

#include "mc/errors.h"
#include "sockutil.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>
#include <sys/uio.h>

/* A copy of the key set taken for one handshake. */
typedef struct keyset {
    uint8_t key[2][MC_TE_AUTH_KEY_MAX];
    size_t len[2];
    uint64_t id[2];
} keyset_t;

int te_auth_check(const mc_te_auth_keys_t *k)
{
    if (!k)
        return MC_OK;
    for (int i = 0; i < 2; i++) {
        if ((k->len[i] && !k->key[i]) || k->len[i] > MC_TE_AUTH_KEY_MAX)
            return MC_INVALID_PARAMS;
    }
    return k->len[0] == 0 && k->len[1] != 0 ? MC_INVALID_PARAMS : MC_OK;
}

static void wipe_locked(te_auth_t *a)
{
    OPENSSL_cleanse(a->key, sizeof a->key);
    a->len[0] = a->len[1] = 0;
    a->id[0] = a->id[1] = 0;
}

int te_auth_init(te_auth_t *a, const mc_te_auth_keys_t *k)
{
    int rc = te_auth_check(k);

    memset(a, 0, sizeof *a);
    pthread_mutex_init(&a->mu, NULL);
    a->next_id = 1;
    return rc == MC_OK ? te_auth_set(a, k) : rc;
}

void te_auth_cleanup(te_auth_t *a)
{
    pthread_mutex_lock(&a->mu);
    wipe_locked(a);
    pthread_mutex_unlock(&a->mu);
    pthread_mutex_destroy(&a->mu);
}

/* The id of an installed key with these bytes, or 0. a->mu held. */
static uint64_t find_id_locked(const te_auth_t *a, const uint8_t *key, size_t len)
{
    for (int i = 0; i < 2; i++)
        if (a->len[i] == len && len && CRYPTO_memcmp(a->key[i], key, len) == 0)
            return a->id[i];
    return 0;
}

int te_auth_set(te_auth_t *a, const mc_te_auth_keys_t *k)
{
    uint64_t ids[2] = {0, 0};
    int rc = te_auth_check(k);

    if (rc != MC_OK)
        return rc;
    pthread_mutex_lock(&a->mu);
    for (int i = 0; k && i < 2; i++) {
        if (!k->len[i])
            continue;
        ids[i] = find_id_locked(a, k->key[i], k->len[i]);
        if (!ids[i])
            ids[i] = a->next_id++;
    }
    wipe_locked(a);
    for (int i = 0; k && i < 2; i++) {
        if (!k->len[i])
            continue;
        memcpy(a->key[i], k->key[i], k->len[i]);
        a->len[i] = k->len[i];
        a->id[i] = ids[i];
    }
    pthread_mutex_unlock(&a->mu);
    return MC_OK;
}

bool te_auth_on(te_auth_t *a)
{
    bool on;

    pthread_mutex_lock(&a->mu);
    on = a->len[0] != 0;
    pthread_mutex_unlock(&a->mu);
    return on;
}

bool te_auth_holds(te_auth_t *a, uint64_t id)
{
    bool ok;

    pthread_mutex_lock(&a->mu);
    ok = a->len[0] == 0 || (id != 0 && (a->id[0] == id || a->id[1] == id));
    pthread_mutex_unlock(&a->mu);
    return ok;
}

static void snapshot(te_auth_t *a, keyset_t *ks)
{
    pthread_mutex_lock(&a->mu);
    for (int i = 0; i < 2; i++) {
        memcpy(ks->key[i], a->key[i], a->len[i]);
        ks->len[i] = a->len[i];
        ks->id[i] = a->id[i];
    }
    pthread_mutex_unlock(&a->mu);
}

int te_auth_proof(const uint8_t *key, size_t len, bool from_server,
                  const uint8_t nc[MC_TCP_HS_BODY], const uint8_t ns[MC_TCP_HS_BODY],
                  uint8_t out[MC_TCP_HS_BODY])
{
    const char *label = from_server ? TE_AUTH_LABEL_S2C : TE_AUTH_LABEL_C2S;
    uint8_t msg[sizeof TE_AUTH_LABEL_C2S - 1 + 2 * MC_TCP_HS_BODY];
    unsigned out_len = 0;
    size_t ll = strlen(label);

    _Static_assert(sizeof TE_AUTH_LABEL_C2S == sizeof TE_AUTH_LABEL_S2C, "labels differ in size");
    memcpy(msg, label, ll);
    memcpy(msg + ll, nc, MC_TCP_HS_BODY);
    memcpy(msg + ll + MC_TCP_HS_BODY, ns, MC_TCP_HS_BODY);
    if (len > MC_TE_AUTH_KEY_MAX ||
        !HMAC(EVP_sha256(), key, (int)len, msg, sizeof msg, out, &out_len) ||
        out_len != MC_TCP_HS_BODY)
        return MC_INTERNAL_ERROR;
    return MC_OK;
}

/* Index (0, 1) of the key under which `proof` is right, or -1. Both keys
 * are always tried; each comparison is constant-time. */
static int which_key(const keyset_t *ks, bool from_server, const uint8_t *nc, const uint8_t *ns,
                     const uint8_t *proof)
{
    int found = -1;

    for (int i = 1; i >= 0; i--) {
        uint8_t want[MC_TCP_HS_BODY];
        if (ks->len[i] &&
            te_auth_proof(ks->key[i], ks->len[i], from_server, nc, ns, want) == MC_OK &&
            CRYPTO_memcmp(want, proof, sizeof want) == 0)
            found = i;
    }
    return found;
}

static int send_hs(int fd, uint8_t type, const uint8_t body[MC_TCP_HS_BODY], uint64_t deadline)
{
    uint8_t buf[MC_TCP_HS_SIZE];
    mc_tcp_hs_t m = {.version = MC_TCP_VERSION, .type = type};
    struct iovec iov = {buf, sizeof buf};

    memcpy(m.body, body, MC_TCP_HS_BODY);
    mc_tcp_hs_encode(&m, buf);
    return te_sock_writev_all(fd, &iov, 1, deadline);
}

static int recv_hs(int fd, uint8_t type, uint8_t body[MC_TCP_HS_BODY], uint64_t deadline)
{
    uint8_t buf[MC_TCP_HS_SIZE];
    mc_tcp_hs_t m;

    if (te_sock_read_all(fd, buf, sizeof buf, deadline) != MC_OK ||
        mc_tcp_hs_decode(buf, type, &m) != MC_OK)
        return MC_TRANSFER_FAIL;
    memcpy(body, m.body, MC_TCP_HS_BODY);
    return MC_OK;
}

int te_auth_client(te_auth_t *a, int fd, uint64_t deadline_ns)
{
    keyset_t ks;
    uint8_t nc[MC_TCP_HS_BODY], ns[MC_TCP_HS_BODY], proof[MC_TCP_HS_BODY];
    int rc;

    snapshot(a, &ks);
    if (!ks.len[0])
        return MC_OK;
    rc = RAND_bytes(nc, sizeof nc) == 1 ? MC_OK : MC_INTERNAL_ERROR;
    if (rc == MC_OK && (rc = send_hs(fd, MC_TCP_HS_HELLO, nc, deadline_ns)) == MC_OK &&
        (rc = recv_hs(fd, MC_TCP_HS_CHALLENGE, ns, deadline_ns)) == MC_OK &&
        (rc = te_auth_proof(ks.key[0], ks.len[0], false, nc, ns, proof)) == MC_OK &&
        (rc = send_hs(fd, MC_TCP_HS_CLIENT_PROOF, proof, deadline_ns)) == MC_OK &&
        (rc = recv_hs(fd, MC_TCP_HS_SERVER_PROOF, proof, deadline_ns)) == MC_OK &&
        which_key(&ks, true, nc, ns, proof) < 0)
        rc = MC_TRANSFER_FAIL;
    OPENSSL_cleanse(&ks, sizeof ks);
    return rc;
}

int te_auth_server(te_auth_t *a, int fd, uint64_t deadline_ns, uint64_t *key_id)
{
    keyset_t ks;
    uint8_t nc[MC_TCP_HS_BODY], ns[MC_TCP_HS_BODY], proof[MC_TCP_HS_BODY];
    int rc, k = -1;

    *key_id = 0;
    snapshot(a, &ks);
    if (!ks.len[0])
        return MC_OK;
    rc = recv_hs(fd, MC_TCP_HS_HELLO, nc, deadline_ns);
    if (rc == MC_OK)
        rc = RAND_bytes(ns, sizeof ns) == 1 ? MC_OK : MC_INTERNAL_ERROR;
    if (rc == MC_OK && (rc = send_hs(fd, MC_TCP_HS_CHALLENGE, ns, deadline_ns)) == MC_OK &&
        (rc = recv_hs(fd, MC_TCP_HS_CLIENT_PROOF, proof, deadline_ns)) == MC_OK &&
        (k = which_key(&ks, false, nc, ns, proof)) < 0)
        rc = MC_TRANSFER_FAIL;
    /* Answer under the key the client proved, which it holds. */
    if (rc == MC_OK && (rc = te_auth_proof(ks.key[k], ks.len[k], true, nc, ns, proof)) == MC_OK &&
        (rc = send_hs(fd, MC_TCP_HS_SERVER_PROOF, proof, deadline_ns)) == MC_OK)
        *key_id = ks.id[k];
    OPENSSL_cleanse(&ks, sizeof ks);
    return rc;
}
