#include "mc/auth.h"

#include "mc/strutil.h"
#include "mc/thread.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_MAX 4096 /* a token file is two short lines */

typedef struct token_set {
    char tok[MC_AUTH_MAX_TOKENS][MC_AUTH_MAX_TOKEN]; /* zero-padded */
    size_t len[MC_AUTH_MAX_TOKENS];
    size_t n;
} token_set_t;

/* lock guards set; path is fixed at load. */
struct mc_auth_tokens {
    char path[1024];
    mc_rwlock_t lock;
    token_set_t set MC_GUARDED_BY(lock);
};

bool mc_auth_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    volatile unsigned char diff = 0;
    size_t i;

    if (alen > MC_AUTH_MAX_TOKEN || blen > MC_AUTH_MAX_TOKEN)
        return false;
    /* every byte of both buffers' fixed span is read, whatever differs */
    for (i = 0; i < MC_AUTH_MAX_TOKEN; i++) {
        unsigned char x = i < alen ? (unsigned char)a[i] : 0;
        unsigned char y = i < blen ? (unsigned char)b[i] : 0;
        diff = (unsigned char)(diff | (x ^ y));
    }
    return (diff | (alen ^ blen)) == 0;
}

/* Splits the file's text into tokens: lines trimmed of spaces and '\r',
 * blank lines skipped; each token printable ASCII without spaces. */
static int parse_tokens(const char *path, const char *text, size_t n, token_set_t *out,
                        mc_errmsg_t *err)
{
    size_t i = 0;

    memset(out, 0, sizeof(*out));
    while (i < n) {
        size_t end = i, a, b;
        while (end < n && text[end] != '\n')
            end++;
        a = i;
        b = end;
        while (a < b && (text[a] == ' ' || text[a] == '\t' || text[a] == '\r'))
            a++;
        while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t' || text[b - 1] == '\r'))
            b--;
        i = end + 1;
        if (a == b)
            continue;
        if (out->n == MC_AUTH_MAX_TOKENS)
            return mc_fail(err, MC_INVALID_PARAMS,
                           "token file %s: more than %d tokens (one per line)", path,
                           MC_AUTH_MAX_TOKENS);
        if (b - a < MC_AUTH_MIN_TOKEN || b - a > MC_AUTH_MAX_TOKEN)
            return mc_fail(err, MC_INVALID_PARAMS,
                           "token file %s: token %zu is %zu bytes (want %d..%d)", path, out->n + 1,
                           b - a, MC_AUTH_MIN_TOKEN, MC_AUTH_MAX_TOKEN);
        for (size_t k = a; k < b; k++)
            if ((unsigned char)text[k] <= 0x20 || (unsigned char)text[k] >= 0x7f)
                return mc_fail(err, MC_INVALID_PARAMS,
                               "token file %s: token %zu holds a space or a non-ASCII byte", path,
                               out->n + 1);
        memcpy(out->tok[out->n], text + a, b - a);
        out->len[out->n++] = b - a;
    }
    if (out->n == 0)
        return mc_fail(err, MC_INVALID_PARAMS, "token file %s holds no token", path);
    return MC_OK;
}

/* Opens path (following symlinks), checks the file it reaches, reads it. */
static int read_token_file(const char *path, token_set_t *out, mc_errmsg_t *err)
{
    char text[FILE_MAX + 1];
    struct stat st;
    size_t n = 0;
    int fd, rc;

    if (!path || !*path)
        return mc_fail(err, MC_INVALID_PARAMS, "no token file named");
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return mc_fail(err, errno == ENOENT ? MC_FILE_NOT_FOUND : MC_FILE_OPEN_FAIL,
                       "token file %s: %s", path, strerror(errno));
    /* fstat of the open file: what is read is what was checked */
    if (fstat(fd, &st) != 0) {
        rc = mc_fail(err, MC_FILE_OPEN_FAIL, "token file %s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = mc_fail(err, MC_INVALID_PARAMS, "token file %s is not a regular file", path);
        goto out;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH | S_IROTH)) {
        rc = mc_fail(err, MC_INVALID_PARAMS,
                     "token file %s has mode %04o: it must not be group- or world-writable or "
                     "world-readable (chmod 0400 %s)",
                     path, (unsigned)(st.st_mode & 07777), path);
        goto out;
    }
    for (;;) {
        ssize_t got = read(fd, text + n, sizeof(text) - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = mc_fail(err, MC_FILE_READ_FAIL, "token file %s: %s", path, strerror(errno));
            goto out;
        }
        if (got == 0)
            break;
        n += (size_t)got;
        if (n > FILE_MAX) {
            rc = mc_fail(err, MC_INVALID_PARAMS, "token file %s is larger than %d bytes", path,
                         FILE_MAX);
            goto out;
        }
    }
    rc = parse_tokens(path, text, n, out, err);
out:
    memset(text, 0, sizeof(text));
    close(fd);
    return rc;
}

int mc_auth_token_file_check(const char *path, mc_errmsg_t *err)
{
    token_set_t s;
    int rc = read_token_file(path, &s, err);

    memset(&s, 0, sizeof(s));
    return rc;
}

int mc_auth_tokens_load(const char *path, mc_auth_tokens_t **out,
                        mc_errmsg_t *err) MC_NO_THREAD_SAFETY_ANALYSIS /* t is not shared yet */
{
    mc_auth_tokens_t *t;
    int rc;

    *out = NULL;
    if (!path || strlen(path) >= sizeof(t->path))
        return mc_fail(err, MC_INVALID_PARAMS, "token file path missing or too long");
    if (!(t = calloc(1, sizeof(*t))))
        return mc_fail(err, MC_INTERNAL_ERROR, "out of memory");
    mc_strlcpy(t->path, path, sizeof(t->path));
    if ((rc = read_token_file(path, &t->set, err)) != MC_OK) {
        free(t);
        return rc;
    }
    if (mc_rwlock_init(&t->lock, NULL) != 0) {
        memset(t, 0, sizeof(*t));
        free(t);
        return mc_fail(err, MC_INTERNAL_ERROR, "cannot create a lock");
    }
    *out = t;
    return MC_OK;
}

int mc_auth_tokens_reload(mc_auth_tokens_t *t, mc_errmsg_t *err)
{
    token_set_t s;
    int rc = read_token_file(t->path, &s, err);

    if (rc == MC_OK) {
        mc_rwlock_wrlock(&t->lock);
        t->set = s;
        mc_rwlock_unlock(&t->lock);
    }
    memset(&s, 0, sizeof(s));
    return rc;
}

void mc_auth_tokens_destroy(mc_auth_tokens_t *t) MC_NO_THREAD_SAFETY_ANALYSIS
{
    if (!t)
        return;
    mc_rwlock_destroy(&t->lock);
    memset(t, 0, sizeof(*t));
    free(t);
}

bool mc_auth_tokens_match(mc_auth_tokens_t *t, const char *tok, size_t len)
{
    bool ok = false;

    if (!t || !tok)
        return false;
    mc_rwlock_rdlock(&t->lock);
    /* both slots are compared every time, so the timing says nothing about
     * which one matched */
    for (size_t i = 0; i < MC_AUTH_MAX_TOKENS; i++) {
        bool eq = mc_auth_equal(t->set.tok[i], t->set.len[i], tok, len);
        ok = ok | (eq & (i < t->set.n));
    }
    mc_rwlock_unlock(&t->lock);
    return ok;
}

size_t mc_auth_tokens_primary(mc_auth_tokens_t *t, char *buf, size_t cap)
{
    size_t n = 0;

    if (!t || !buf || cap == 0)
        return 0;
    mc_rwlock_rdlock(&t->lock);
    if (t->set.n > 0 && t->set.len[0] < cap) {
        n = t->set.len[0];
        memcpy(buf, t->set.tok[0], n);
    }
    mc_rwlock_unlock(&t->lock);
    buf[n] = '\0';
    return n;
}

size_t mc_auth_tokens_snapshot(mc_auth_tokens_t *t, mc_auth_secrets_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!t)
        return 0;
    mc_rwlock_rdlock(&t->lock);
    for (size_t i = 0; i < t->set.n; i++) {
        memcpy(out->tok[i], t->set.tok[i], t->set.len[i]);
        out->len[i] = t->set.len[i];
    }
    out->n = t->set.n;
    mc_rwlock_unlock(&t->lock);
    return out->n;
}

void mc_auth_secrets_wipe(mc_auth_secrets_t *s)
{
    volatile unsigned char *p = (volatile unsigned char *)s;

    for (size_t i = 0; i < sizeof(*s); i++)
        p[i] = 0;
}

const char *mc_auth_tokens_path(const mc_auth_tokens_t *t)
{
    return t ? t->path : "";
}

/* ---------------- a service's credentials ---------------- */

int mc_auth_open(mc_auth_t *a, const char *cluster_path, const char *admin_path, mc_errmsg_t *err)
{
    int rc = MC_OK;

    a->cluster = a->admin = NULL;
    if (cluster_path && *cluster_path)
        rc = mc_auth_tokens_load(cluster_path, &a->cluster, err);
    if (rc == MC_OK && admin_path && *admin_path)
        rc = mc_auth_tokens_load(admin_path, &a->admin, err);
    if (rc != MC_OK)
        mc_auth_close(a);
    return rc;
}

void mc_auth_close(mc_auth_t *a)
{
    mc_auth_tokens_destroy(a->cluster);
    mc_auth_tokens_destroy(a->admin);
    a->cluster = a->admin = NULL;
}

int mc_auth_reload(mc_auth_t *a, mc_errmsg_t *err)
{
    mc_errmsg_t e2;
    int rc = MC_OK, rc2;

    if (a->cluster)
        rc = mc_auth_tokens_reload(a->cluster, err);
    if (a->admin) {
        rc2 = mc_auth_tokens_reload(a->admin, rc == MC_OK ? err : &e2);
        if (rc == MC_OK)
            rc = rc2;
    }
    return rc;
}

bool mc_auth_enabled(const mc_auth_t *a)
{
    return a && (a->cluster || a->admin);
}

/* The token of an "Authorization: Bearer <token>" value; NULL when the
 * value is not of that form. */
static const char *bearer_token(const char *v, size_t *len)
{
    size_t n;

    if (!v)
        return NULL;
    v += strspn(v, " \t");
    if (strncasecmp(v, "Bearer", 6) != 0 || (v[6] != ' ' && v[6] != '\t'))
        return NULL;
    v += 6;
    v += strspn(v, " \t");
    n = strcspn(v, " \t\r\n");
    if (n == 0 || v[n + strspn(v + n, " \t")] != '\0')
        return NULL;
    *len = n;
    return v;
}

int mc_auth_check(mc_auth_t *a, const char *authorization, mc_auth_level_t level)
{
    size_t len = 0;
    const char *tok;
    bool cluster_ok, admin_ok;

    if (level == MC_AUTH_NONE || !mc_auth_enabled(a))
        return 0;
    if (level == MC_AUTH_CLUSTER && !a->cluster)
        return 0;
    if (!(tok = bearer_token(authorization, &len)))
        return 401;
    cluster_ok = mc_auth_tokens_match(a->cluster, tok, len);
    admin_ok = mc_auth_tokens_match(a->admin, tok, len);
    if (level == MC_AUTH_CLUSTER)
        return cluster_ok || admin_ok ? 0 : 401;
    if (!a->admin)
        return cluster_ok ? 0 : 401;
    return admin_ok ? 0 : cluster_ok ? 403 : 401;
}

int mc_auth_authorize(void *ctx, const char *authorization, mc_auth_level_t level)
{
    return mc_auth_check(ctx, authorization, level);
}

bool mc_auth_is_loopback(const char *host)
{
    struct in_addr v4;
    struct in6_addr v6;

    if (!host || !*host)
        return true; /* the HTTP server's default, 127.0.0.1 */
    if (strcasecmp(host, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, host, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &v6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&v6);
    return false;
}

int mc_auth_bind_check(const mc_auth_t *a, const char *flag, const char *host, bool insecure,
                       mc_errmsg_t *err)
{
    if (mc_auth_is_loopback(host) || (a && a->cluster) || insecure)
        return MC_OK;
    return mc_fail(err, MC_INVALID_PARAMS,
                   "refusing to listen on %s (--%s) without --auth_token_file: anyone who "
                   "reaches the port would own the cluster (--insecure_allow_remote to do it "
                   "anyway)",
                   host, flag);
}

int mc_auth_random_secret(char out[MC_AUTH_SECRET_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[MC_AUTH_SECRET_LEN / 2];
    size_t got = 0;

    out[0] = '\0';
    while (got < sizeof(b)) {
        ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return MC_INTERNAL_ERROR;
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof(b); i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[MC_AUTH_SECRET_LEN] = '\0';
    memset(b, 0, sizeof(b));
    return MC_OK;
}
