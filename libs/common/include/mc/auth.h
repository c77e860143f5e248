/* Bearer-token credentials of a service (docs/security.md).
 *
 * A token file holds one or two tokens, one per line: both are accepted, the
 * first is the one this process sends, so a secret rotates without downtime
 * (write "new\nold", SIGHUP everyone, then write "new" and SIGHUP again). The
 * file must be a regular file (symlinks are followed: a Kubernetes Secret
 * volume is fine) that is neither group- nor world-writable nor
 * world-readable: 0400, 0600 and 0440 pass, 0644 does not.
 *
 * Thread safety: a token set is read by any number of threads while one
 * reloads it (mc_auth_tokens_reload swaps the tokens under a write lock, and
 * keeps the old ones when the new file is bad). Comparisons take the same time
 * whatever the presented token holds (fixed-size buffers, no early exit). */
#ifndef MC_AUTH_H
#define MC_AUTH_H

#include "mc/errors.h"

#include <stdbool.h>
#include <stddef.h>

#define MC_AUTH_MIN_TOKEN 16  /* bytes; `head -c 32 /dev/urandom | base64` gives 44 */
#define MC_AUTH_MAX_TOKEN 256 /* bytes */
#define MC_AUTH_MAX_TOKENS 2

/* What a route or a call needs. */
typedef enum mc_auth_level {
    MC_AUTH_NONE = 0, /* open (/health) */
    MC_AUTH_CLUSTER,  /* the cluster token (or the admin token) */
    MC_AUTH_ADMIN,    /* the admin token (the cluster token when no admin file is set) */
} mc_auth_level_t;

typedef struct mc_auth_tokens mc_auth_tokens_t;

/* Reads the token file at path into a new set (the caller destroys it).
 * MC_OK, or MC_INVALID_PARAMS (bad mode, empty, short, too many tokens, bad
 * bytes) / MC_FILE_OPEN_FAIL / MC_INTERNAL_ERROR with one line in err. */
int mc_auth_tokens_load(const char *path, mc_auth_tokens_t **out, mc_errmsg_t *err);
/* Re-reads the file; on any error the old tokens stay and err says why. */
int mc_auth_tokens_reload(mc_auth_tokens_t *t, mc_errmsg_t *err);
void mc_auth_tokens_destroy(mc_auth_tokens_t *t);
/* True when tok[0..len) is one of the set's tokens (constant time per token). */
bool mc_auth_tokens_match(mc_auth_tokens_t *t, const char *tok, size_t len);
/* Copies the first token (the one to send) into buf with a NUL; returns its
 * length, 0 when buf is too small. */
size_t mc_auth_tokens_primary(mc_auth_tokens_t *t, char *buf, size_t cap);
const char *mc_auth_tokens_path(const mc_auth_tokens_t *t);

/* The whole set at one instant, for keyed uses (an HMAC handshake signs with
 * tok[0] and verifies against each of tok[0..n)). Wipe it after use with
 * mc_auth_secrets_wipe. */
typedef struct mc_auth_secrets {
    char tok[MC_AUTH_MAX_TOKENS][MC_AUTH_MAX_TOKEN + 1]; /* NUL-terminated */
    size_t len[MC_AUTH_MAX_TOKENS];
    size_t n; /* 0 when t is NULL */
} mc_auth_secrets_t;
size_t mc_auth_tokens_snapshot(mc_auth_tokens_t *t, mc_auth_secrets_t *out);
void mc_auth_secrets_wipe(mc_auth_secrets_t *s);
/* The same checks on a file without keeping it (mode, contents). */
int mc_auth_token_file_check(const char *path, mc_errmsg_t *err);

/* Constant-time equality of a[0..alen) and b[0..blen), both at most
 * MC_AUTH_MAX_TOKEN bytes (longer is never equal). */
bool mc_auth_equal(const char *a, size_t alen, const char *b, size_t blen);

/* A fresh random secret (per-segment secrets, publisher credentials): 64
 * lower-case hex characters of getrandom(2) bytes and a NUL. MC_OK, or
 * MC_INTERNAL_ERROR when the kernel gave no randomness (out is then ""). */
#define MC_AUTH_SECRET_LEN 64
int mc_auth_random_secret(char out[MC_AUTH_SECRET_LEN + 1]);

/* A service's credentials: the cluster token set and the admin one, either
 * NULL when its file is not configured. */
typedef struct mc_auth {
    mc_auth_tokens_t *cluster;
    mc_auth_tokens_t *admin;
} mc_auth_t;

/* Loads the files named (NULL or "" = not configured). On error nothing is
 * kept and err names the file. */
int mc_auth_open(mc_auth_t *a, const char *cluster_path, const char *admin_path, mc_errmsg_t *err);
void mc_auth_close(mc_auth_t *a);
/* Reloads both files (SIGHUP); the first failure is returned, with the file
 * and reason in err; a file that fails keeps its old tokens. */
int mc_auth_reload(mc_auth_t *a, mc_errmsg_t *err);
bool mc_auth_enabled(const mc_auth_t *a);

/* Decides a request from its Authorization header value (NULL = none):
 * 0 allowed, 401 no or unknown token, 403 a valid cluster token where the
 * admin token is needed. With nothing configured everything is allowed;
 * with no cluster file cluster-level calls are open; with no admin file the
 * cluster token admits admin calls. */
int mc_auth_check(mc_auth_t *a, const char *authorization, mc_auth_level_t level);

/* mc_auth_check shaped as a callback (ctx: an mc_auth_t *), for the HTTP
 * server's authorizer. */
int mc_auth_authorize(void *ctx, const char *authorization, mc_auth_level_t level);

/* True for 127.0.0.0/8, ::1, "localhost" and "" (the default, 127.0.0.1). */
bool mc_auth_is_loopback(const char *host);
/* The bind rule: a non-loopback host needs a cluster token file unless
 * insecure (--insecure_allow_remote). MC_OK or MC_INVALID_PARAMS with a line
 * for flag (the option that named host) in err. */
int mc_auth_bind_check(const mc_auth_t *a, const char *flag, const char *host, bool insecure,
                       mc_errmsg_t *err);

#endif
