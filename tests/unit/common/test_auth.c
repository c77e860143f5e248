/* mc/auth.h: token files (mode, contents, reload), constant-time matching,
 * the levels, the loopback rule. */
#include "mc/auth.h"
#include "mc/service_auth.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOK_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define TOK_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define TOK_C "cccccccccccccccccccccccccccccccccccccccccccc"

static char dir[64];

static void setup_dir(void)
{
    snprintf(dir, sizeof(dir), "/tmp/mc-auth-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(auth, .init = setup_dir, .fini = teardown_dir);

/* Writes text to dir/name with mode; returns the path (static buffer per call site). */
static const char *write_file(const char *name, const char *text, mode_t mode, char *path,
                              size_t cap)
{
    FILE *f;

    snprintf(path, cap, "%s/%s", dir, name);
    unlink(path);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    cr_assert_eq(chmod(path, mode), 0);
    return path;
}

static int load_rc(const char *text, mode_t mode, mc_errmsg_t *err)
{
    char path[128];
    mc_auth_tokens_t *t = NULL;
    int rc = mc_auth_tokens_load(write_file("t", text, mode, path, sizeof(path)), &t, err);

    mc_auth_tokens_destroy(t);
    return rc;
}

Test(auth, modes)
{
    mc_errmsg_t err = {""};

    cr_expect_eq(load_rc(TOK_A "\n", 0400, &err), MC_OK, "%s", err.msg);
    cr_expect_eq(load_rc(TOK_A "\n", 0600, &err), MC_OK, "%s", err.msg);
    cr_expect_eq(load_rc(TOK_A "\n", 0440, &err), MC_OK, "%s", err.msg);
    cr_expect_eq(load_rc(TOK_A "\n", 0644, &err), MC_INVALID_PARAMS);
    cr_expect(strstr(err.msg, "0644") && strstr(err.msg, "world-readable"), "%s", err.msg);
    cr_expect_eq(load_rc(TOK_A "\n", 0604, &err), MC_INVALID_PARAMS);
    cr_expect_eq(load_rc(TOK_A "\n", 0620, &err), MC_INVALID_PARAMS);
    cr_expect_eq(load_rc(TOK_A "\n", 0602, &err), MC_INVALID_PARAMS);
}

Test(auth, symlink_is_followed)
{
    char target[128], link[128];
    mc_auth_tokens_t *t = NULL;
    mc_errmsg_t err = {""};

    write_file("secret", TOK_A, 0400, target, sizeof(target));
    snprintf(link, sizeof(link), "%s/link", dir);
    cr_assert_eq(symlink(target, link), 0);
    /* a symlink itself is 0777: the file it reaches is what counts */
    cr_expect_eq(mc_auth_tokens_load(link, &t, &err), MC_OK, "%s", err.msg);
    cr_expect(mc_auth_tokens_match(t, TOK_A, strlen(TOK_A)));
    mc_auth_tokens_destroy(t);
    cr_assert_eq(chmod(target, 0644), 0);
    cr_expect_eq(mc_auth_tokens_load(link, &t, &err), MC_INVALID_PARAMS);
    cr_expect_null(t);
}

Test(auth, contents)
{
    mc_errmsg_t err = {""};

    cr_expect_eq(load_rc("", 0600, &err), MC_INVALID_PARAMS);
    cr_expect(strstr(err.msg, "no token"), "%s", err.msg);
    cr_expect_eq(load_rc("\n \n\r\n", 0600, &err), MC_INVALID_PARAMS);
    cr_expect_eq(load_rc("short\n", 0600, &err), MC_INVALID_PARAMS);
    cr_expect(strstr(err.msg, "bytes"), "%s", err.msg);
    cr_expect_eq(load_rc(TOK_A "\n" TOK_B "\n" TOK_C "\n", 0600, &err), MC_INVALID_PARAMS);
    cr_expect_eq(load_rc("aaaaaaaa bbbbbbbbbbbb\n", 0600, &err), MC_INVALID_PARAMS);
    cr_expect_eq(load_rc(TOK_A "\r\n" TOK_B "\r\n", 0600, &err), MC_OK, "%s", err.msg);
    cr_expect_eq(load_rc("  " TOK_A "  \n\n", 0600, &err), MC_OK, "%s", err.msg);
    cr_expect_eq(mc_auth_token_file_check("/nonexistent/x", &err), MC_FILE_NOT_FOUND);
    cr_expect_eq(mc_auth_token_file_check(dir, &err), MC_INVALID_PARAMS); /* a directory */
}

Test(auth, two_tokens_first_is_sent)
{
    char path[128], buf[MC_AUTH_MAX_TOKEN + 1], small[8];
    mc_auth_tokens_t *t = NULL;
    mc_errmsg_t err = {""};

    write_file("t", TOK_A "\n" TOK_B "\n", 0400, path, sizeof(path));
    cr_assert_eq(mc_auth_tokens_load(path, &t, &err), MC_OK, "%s", err.msg);
    cr_expect(mc_auth_tokens_match(t, TOK_A, strlen(TOK_A)));
    cr_expect(mc_auth_tokens_match(t, TOK_B, strlen(TOK_B)));
    cr_expect_not(mc_auth_tokens_match(t, TOK_C, strlen(TOK_C)));
    cr_expect_not(mc_auth_tokens_match(t, TOK_A, strlen(TOK_A) - 1)); /* a prefix */
    cr_expect_not(mc_auth_tokens_match(t, TOK_A "a", strlen(TOK_A) + 1));
    cr_expect_not(mc_auth_tokens_match(t, "", 0));
    cr_expect_eq(mc_auth_tokens_primary(t, buf, sizeof(buf)), strlen(TOK_A));
    cr_expect_str_eq(buf, TOK_A);
    cr_expect_eq(mc_auth_tokens_primary(t, small, sizeof(small)), 0);
    {
        mc_auth_secrets_t sec;
        cr_expect_eq(mc_auth_tokens_snapshot(t, &sec), 2);
        cr_expect_str_eq(sec.tok[0], TOK_A);
        cr_expect_str_eq(sec.tok[1], TOK_B);
        cr_expect_eq(sec.len[1], strlen(TOK_B));
        mc_auth_secrets_wipe(&sec);
        cr_expect_eq(sec.n, 0);
        cr_expect_eq(sec.tok[0][0], '\0');
        cr_expect_eq(mc_auth_tokens_snapshot(NULL, &sec), 0);
    }
    mc_auth_tokens_destroy(t);
}

Test(auth, reload_keeps_old_tokens_on_a_bad_file)
{
    char path[128];
    mc_auth_tokens_t *t = NULL;
    mc_errmsg_t err = {""};

    write_file("t", TOK_A "\n", 0600, path, sizeof(path));
    cr_assert_eq(mc_auth_tokens_load(path, &t, &err), MC_OK);
    /* rotation: new + old, then new only */
    write_file("t", TOK_B "\n" TOK_A "\n", 0600, path, sizeof(path));
    cr_assert_eq(mc_auth_tokens_reload(t, &err), MC_OK, "%s", err.msg);
    cr_expect(mc_auth_tokens_match(t, TOK_A, strlen(TOK_A)));
    cr_expect(mc_auth_tokens_match(t, TOK_B, strlen(TOK_B)));
    write_file("t", TOK_B "\n", 0600, path, sizeof(path));
    cr_assert_eq(mc_auth_tokens_reload(t, &err), MC_OK);
    cr_expect_not(mc_auth_tokens_match(t, TOK_A, strlen(TOK_A)));
    /* bad files: the last good tokens stay */
    write_file("t", "short\n", 0600, path, sizeof(path));
    cr_expect_eq(mc_auth_tokens_reload(t, &err), MC_INVALID_PARAMS);
    write_file("t", TOK_C "\n", 0666, path, sizeof(path));
    cr_expect_eq(mc_auth_tokens_reload(t, &err), MC_INVALID_PARAMS);
    unlink(path);
    cr_expect_eq(mc_auth_tokens_reload(t, &err), MC_FILE_NOT_FOUND);
    cr_expect(mc_auth_tokens_match(t, TOK_B, strlen(TOK_B)));
    cr_expect_not(mc_auth_tokens_match(t, TOK_C, strlen(TOK_C)));
    mc_auth_tokens_destroy(t);
}

typedef struct {
    mc_auth_tokens_t *t;
    atomic_bool stop;
    atomic_int bad;
} race_t;

static void *reader(void *arg)
{
    race_t *r = arg;
    char buf[MC_AUTH_MAX_TOKEN + 1];

    while (!atomic_load(&r->stop)) {
        size_t n = mc_auth_tokens_primary(r->t, buf, sizeof(buf));
        /* always one whole token, never a torn mix */
        if (n != strlen(TOK_A) || (strcmp(buf, TOK_A) != 0 && strcmp(buf, TOK_B) != 0))
            atomic_fetch_add(&r->bad, 1);
        (void)mc_auth_tokens_match(r->t, TOK_A, strlen(TOK_A));
    }
    return NULL;
}

Test(auth, reload_while_reading)
{
    char pa[128], pb[128], path[128];
    race_t r = {.stop = false, .bad = 0};
    pthread_t th[2];
    mc_errmsg_t err = {""};

    write_file("a", TOK_A "\n", 0600, pa, sizeof(pa));
    write_file("b", TOK_B "\n", 0600, pb, sizeof(pb));
    snprintf(path, sizeof(path), "%s/cur", dir);
    cr_assert_eq(symlink(pa, path), 0);
    cr_assert_eq(mc_auth_tokens_load(path, &r.t, &err), MC_OK);
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, reader, &r);
    for (int i = 0; i < 200; i++) {
        char tmp[128];
        snprintf(tmp, sizeof(tmp), "%s/cur.tmp", dir);
        unlink(tmp);
        cr_assert_eq(symlink(i % 2 ? pa : pb, tmp), 0);
        cr_assert_eq(rename(tmp, path), 0); /* how a Secret volume swaps */
        cr_assert_eq(mc_auth_tokens_reload(r.t, &err), MC_OK, "%s", err.msg);
    }
    atomic_store(&r.stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    cr_expect_eq(atomic_load(&r.bad), 0);
    mc_auth_tokens_destroy(r.t);
}

Test(auth, equal_is_exact)
{
    cr_expect(mc_auth_equal("abc", 3, "abc", 3));
    cr_expect_not(mc_auth_equal("abc", 3, "abd", 3));
    cr_expect_not(mc_auth_equal("abc", 3, "abc\0", 4));
    cr_expect_not(mc_auth_equal("", 0, "a", 1));
    cr_expect(mc_auth_equal("", 0, "", 0));
}

Test(auth, levels)
{
    char pc[128], pa[128];
    mc_auth_t none = {NULL, NULL}, a = {NULL, NULL}, only_cluster = {NULL, NULL};
    mc_errmsg_t err = {""};

    write_file("c", TOK_A "\n", 0400, pc, sizeof(pc));
    write_file("adm", TOK_B "\n", 0400, pa, sizeof(pa));
    cr_assert_eq(mc_auth_open(&a, pc, pa, &err), MC_OK, "%s", err.msg);
    cr_assert_eq(mc_auth_open(&only_cluster, pc, "", &err), MC_OK, "%s", err.msg);
    /* nothing configured: open */
    cr_expect_eq(mc_auth_check(&none, NULL, MC_AUTH_ADMIN), 0);
    cr_expect_not(mc_auth_enabled(&none));
    /* cluster and admin */
    cr_expect_eq(mc_auth_check(&a, NULL, MC_AUTH_NONE), 0);
    cr_expect_eq(mc_auth_check(&a, NULL, MC_AUTH_CLUSTER), 401);
    cr_expect_eq(mc_auth_check(&a, "Bearer " TOK_C, MC_AUTH_CLUSTER), 401);
    cr_expect_eq(mc_auth_check(&a, "Basic " TOK_A, MC_AUTH_CLUSTER), 401);
    cr_expect_eq(mc_auth_check(&a, "Bearer", MC_AUTH_CLUSTER), 401);
    cr_expect_eq(mc_auth_check(&a, "Bearer " TOK_A " x", MC_AUTH_CLUSTER), 401);
    cr_expect_eq(mc_auth_check(&a, TOK_A, MC_AUTH_CLUSTER), 401);
    cr_expect_eq(mc_auth_check(&a, "Bearer " TOK_A, MC_AUTH_CLUSTER), 0);
    cr_expect_eq(mc_auth_check(&a, "bearer  " TOK_A " ", MC_AUTH_CLUSTER), 0);
    cr_expect_eq(mc_auth_check(&a, "Bearer " TOK_B, MC_AUTH_CLUSTER), 0); /* admin is a superset */
    cr_expect_eq(mc_auth_check(&a, "Bearer " TOK_A, MC_AUTH_ADMIN), 403);
    cr_expect_eq(mc_auth_check(&a, "Bearer " TOK_C, MC_AUTH_ADMIN), 401);
    cr_expect_eq(mc_auth_check(&a, "Bearer " TOK_B, MC_AUTH_ADMIN), 0);
    /* no admin file: the cluster token admits admin calls */
    cr_expect_eq(mc_auth_check(&only_cluster, "Bearer " TOK_A, MC_AUTH_ADMIN), 0);
    cr_expect_eq(mc_auth_check(&only_cluster, "Bearer " TOK_B, MC_AUTH_ADMIN), 401);
    mc_auth_close(&a);
    mc_auth_close(&only_cluster);
    /* a bad file loads nothing */
    cr_expect_eq(mc_auth_open(&a, pc, "/nonexistent", &err), MC_FILE_NOT_FOUND);
    cr_expect_null(a.cluster);
}

Test(auth, loopback_rule)
{
    char pc[128], host[64];
    mc_auth_t none = {NULL, NULL}, a = {NULL, NULL};
    mc_errmsg_t err = {""};

    cr_expect(mc_auth_is_loopback("127.0.0.1"));
    cr_expect(mc_auth_is_loopback("127.1.2.3"));
    cr_expect(mc_auth_is_loopback("::1"));
    cr_expect(mc_auth_is_loopback("localhost"));
    cr_expect(mc_auth_is_loopback(""));
    cr_expect_not(mc_auth_is_loopback("0.0.0.0"));
    cr_expect_not(mc_auth_is_loopback("::"));
    cr_expect_not(mc_auth_is_loopback("10.0.0.1"));
    cr_expect_not(mc_auth_is_loopback("node1"));
    cr_expect_eq(mc_auth_bind_check(&none, "host", "127.0.0.1", false, &err), MC_OK);
    cr_expect_eq(mc_auth_bind_check(&none, "host", "0.0.0.0", false, &err), MC_INVALID_PARAMS);
    cr_expect(strstr(err.msg, "--host") && strstr(err.msg, "--insecure_allow_remote"), "%s",
              err.msg);
    cr_expect_eq(mc_auth_bind_check(&none, "host", "0.0.0.0", true, &err), MC_OK);
    write_file("c", TOK_A "\n", 0400, pc, sizeof(pc));
    cr_assert_eq(mc_auth_open(&a, pc, NULL, &err), MC_OK);
    cr_expect_eq(mc_auth_bind_check(&a, "host", "0.0.0.0", false, &err), MC_OK);
    mc_auth_close(&a);
    mc_listen_host("10.1.2.3:12345", host, sizeof(host));
    cr_expect_str_eq(host, "10.1.2.3");
    mc_listen_host("[::1]:12345", host, sizeof(host));
    cr_expect_str_eq(host, "::1");
    mc_listen_host("::1", host, sizeof(host));
    cr_expect_str_eq(host, "::1");
    mc_listen_host("node1", host, sizeof(host));
    cr_expect_str_eq(host, "node1");
}
