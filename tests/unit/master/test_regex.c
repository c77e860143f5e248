/* remove_by_regex: the bounded PCRE2 matcher (master_regex.c) and the chunked
 * removal that never matches under a shard lock (master_objects.c). */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "master_fixture.h"
#include "master_internal.h"
#include "master_regex.h"
#include "mc/strutil.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 1 match, 0 none, or the error of compile / search. */
static int search(const char *pattern, const char *key)
{
    mcm_regex_t *re = NULL;
    int rc = mcm_regex_create(pattern, strlen(pattern), &re, NULL);
    if (rc == MC_OK)
        rc = mcm_regex_search(re, key, strlen(key), NULL);
    mcm_regex_destroy(re);
    return rc;
}

Test(regex, search_anywhere_in_the_key)
{
    cr_assert_eq(search("tp:1", "model@tp:1@abc"), 1, "a match anywhere counts (search)");
    cr_assert_eq(search("tp:2", "model@tp:1@abc"), 0);
    cr_assert_eq(search("abc", "model@tp:1@abc"), 1);
    cr_assert_eq(search("(?:@tp:\\d+){1}@", "model@tp:13@abc"), 1);
}

Test(regex, ecmascript_syntax)
{
    cr_assert_eq(search("\\d+$", "key123"), 1, "\\d is a digit class, as in std::regex");
    cr_assert_eq(search("^\\w+@\\w+$", "model@abc"), 1);
    cr_assert_eq(search("\\s", "model@abc"), 0);
    cr_assert_eq(search("a(?=b)", "xab"), 1, "lookahead");
    cr_assert_eq(search("a(?!b)", "xab"), 0);
    cr_assert_eq(search("(ab)\\1", "xabab"), 1, "back-reference");
    cr_assert_eq(search("\\x41\\u0042", "zAB"), 1, "\\xhh and \\uhhhh escapes");
    cr_assert_eq(search("[^]", "q"), 1, "[^] is any character");
    cr_assert_eq(search("[]", "q"), 0, "[] matches nothing");
    cr_assert_eq(search("a.c", "a\rc"), 0, "`.` stops at a line terminator");
}

/* The examples of docs/master-api.md. */
Test(regex, documented_examples)
{
    const char *h = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char key[160];
    snprintf(key, sizeof(key), "llama-7b@tp_rank:12@%s", h);
    cr_assert_eq(search("^llama-7b@tp_rank:\\d+@[0-9a-f]{64}$", key), 1);
    cr_assert_eq(search("^model@tp_rank:1@", "model@tp_rank:1@x"), 1);
    cr_assert_eq(search("^model@tp_rank:1@", "model@tp_rank:10@x"), 0);
    cr_assert_eq(search("tp_rank:1", "m@tp_rank:1@x"), 1);
    cr_assert_eq(search("^(?:a|b)@", "b@x"), 1);
    cr_assert_eq(search("^(?:a|b)@", "c@x"), 0);
    cr_assert_eq(search("@(?!keep)", "x@keep"), 0);
    cr_assert_eq(search("@(?!keep)", "x@drop"), 1);
}

/* The depth limit leaves room for a group repeated over a key of the longest
 * length. */
Test(regex, long_key_within_limits)
{
    char key[MC_MAX_KEY_LEN + 1];
    for (size_t i = 0; i < MC_MAX_KEY_LEN; i++)
        key[i] = (i & 1) ? 'b' : 'a';
    key[MC_MAX_KEY_LEN] = '\0';
    cr_assert_eq(search("^(a|b)*$", key), 1);
    cr_assert_eq(search("^(?:ab)*$", key), 1);
    cr_assert_eq(search(".*a.*c", key), 0);
}

Test(regex, anchors)
{
    cr_assert_eq(search("^model", "model@tp:0@x"), 1);
    cr_assert_eq(search("^tp", "model@tp:0@x"), 0, "^ is the start of the key only");
    cr_assert_eq(search("@x$", "model@tp:0@x"), 1);
    cr_assert_eq(search("@tp$", "model@tp:0@x"), 0);
    cr_assert_eq(search("x$", "x\n"), 0, "$ is the very end, not before a final newline");
    cr_assert_eq(search("^model@tp:0@x$", "model@tp:0@x"), 1);
    cr_assert_eq(search("\\bab", "x ab"), 1);
}

Test(regex, bad_patterns_refused_with_a_reason)
{
    mc_errmsg_t e = {{0}};
    mcm_regex_t *re = NULL;
    cr_assert_eq(mcm_regex_create("([", 2, &re, &e), MC_INVALID_PARAMS);
    cr_assert_null(re);
    cr_assert(strstr(e.msg, "bad regular expression at offset"), "%s", e.msg);
    cr_assert_eq(mcm_regex_create("", 0, &re, &e), MC_INVALID_PARAMS);
    /* 40 nested groups: over MCM_REGEX_MAX_NEST */
    char nest[128] = {0};
    for (int i = 0; i < 40; i++)
        nest[i] = '(';
    nest[40] = 'a';
    for (int i = 0; i < 40; i++)
        nest[41 + i] = ')';
    e.msg[0] = '\0';
    cr_assert_eq(mcm_regex_create(nest, strlen(nest), &re, &e), MC_INVALID_PARAMS);
    cr_assert(strstr(e.msg, "parentheses are too deeply nested"), "%s", e.msg);
}

Test(regex, too_long_pattern_refused)
{
    char p[MCM_REGEX_MAX_PATTERN + 2];
    memset(p, 'a', sizeof(p));
    p[MCM_REGEX_MAX_PATTERN] = '\0';
    mcm_regex_t *re = NULL;
    cr_assert_eq(mcm_regex_create(p, strlen(p), &re, NULL), MC_OK, "the cap itself is allowed");
    mcm_regex_destroy(re);
    p[MCM_REGEX_MAX_PATTERN] = 'a';
    p[MCM_REGEX_MAX_PATTERN + 1] = '\0';

    mc_master_t *m = fx_create();
    fx_mount(m, 1, 64 * MiB, 1, 0);
    fx_put(m, 1, "aaaa", MiB, 0);
    mc_errmsg_t e = {{0}};
    uint64_t n = 7;
    cr_assert_eq(mc_master_remove_by_regex(m, p, false, 10, &n, &e), MC_INVALID_PARAMS);
    cr_assert(strstr(e.msg, "at most 1024"), "%s", e.msg);
    cr_assert_eq(n, 7, "no count on error");
    cr_assert(fx_present(m, "aaaa"));
    mc_master_destroy(m);
}

/* The pattern that cost glibc's regcomp 7 s and 1.4 GB. */
Test(regex, repetition_bomb_refused_fast)
{
    mc_master_t *m = fx_create();
    fx_mount(m, 1, 64 * MiB, 1, 0);
    fx_put(m, 1, "aaaa", MiB, 0);
    mc_errmsg_t e = {{0}};
    uint64_t n = 0;
    double t0 = now_s();
    cr_assert_eq(mc_master_remove_by_regex(m, "((a{150}){150}){150}", false, 10, &n, &e),
                 MC_INVALID_PARAMS);
    double dt = now_s() - t0;
    cr_assert_lt(dt, 0.1, "refused in %.3f s", dt);
    cr_assert(strstr(e.msg, "too complex"), "%s", e.msg);
    cr_assert(fx_present(m, "aaaa"));
    /* one level less compiles, and is an ordinary pattern */
    cr_assert_eq(mc_master_remove_by_regex(m, "(a{2}){2}", false, 10, &n, &e), MC_OK);
    cr_assert_eq(n, 1);
    mc_master_destroy(m);
}

/* Catastrophic backtracking on a key: the match limit makes it an error of the
 * whole request, not "no match". */
Test(regex, backtracking_bomb_is_an_error)
{
    mc_master_t *m = fx_create();
    fx_mount(m, 1, 64 * MiB, 1, 0);
    fx_put(m, 1, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaX b", MiB, 0);
    mc_errmsg_t e = {{0}};
    uint64_t n = 0;
    double t0 = now_s();
    cr_assert_eq(mc_master_remove_by_regex(m, "(a+)+b", false, 10, &n, &e), MC_INVALID_PARAMS);
    double dt = now_s() - t0;
    cr_assert_lt(dt, 2.0, "stopped in %.3f s", dt);
    cr_assert(strstr(e.msg, "too costly"), "%s", e.msg);
    cr_assert(fx_present(m, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaX b"));
    mc_master_destroy(m);
}

/* ---- chunked removal while other threads put and get ---- */

#define OLD_KEYS 20000
#define NEW_KEYS 40000

typedef struct racer {
    mc_master_t *m;
    atomic_int *go;
    atomic_int failures;
} racer_t;

static void *put_new_keys(void *arg)
{
    racer_t *r = arg;
    mc_master_put_cfg_t cfg = fx_cfg(1);
    char key[64];
    while (!atomic_load(r->go))
        ;
    for (int i = 0; i < NEW_KEYS; i++) {
        int len = snprintf(key, sizeof(key), "new/%d", i);
        if (mc_master_put_start(r->m, client_id(2), key, (size_t)len, 4096, &cfg, 10, NULL) !=
                MC_OK ||
            mc_master_put_end(r->m, client_id(2), key, (size_t)len, false, 0, 10) != MC_OK)
            atomic_fetch_add(&r->failures, 1);
        /* reads of keys the removal must leave alone */
        len = snprintf(key, sizeof(key), "keep/%d", i % OLD_KEYS);
        mc_master_replicas_t rep;
        if (mc_master_get_replica_list(r->m, key, (size_t)len, 10, &rep) != MC_OK)
            atomic_fetch_add(&r->failures, 1);
    }
    return NULL;
}

typedef struct remover {
    mc_master_t *m;
    atomic_int *go;
    int rc;
    uint64_t n;
} remover_t;

static void *remove_old(void *arg)
{
    remover_t *r = arg;
    while (!atomic_load(r->go))
        ;
    r->rc = mc_master_remove_by_regex(r->m, "^del/\\d+$", false, 10, &r->n, NULL);
    return NULL;
}

/* Every del/ key present from start to end is removed, though the shards'
 * bucket arrays double under the walk; nothing else is touched. */
Test(regex, chunked_removal_with_concurrent_puts)
{
    mc_master_t *m = fx_create();
    fx_mount(m, 1, 4096 * MiB, 1, 0);
    char key[64];
    for (int i = 0; i < OLD_KEYS; i++) {
        snprintf(key, sizeof(key), "del/%d", i);
        fx_put_cfg(m, 1, key, 4096, &(mc_master_put_cfg_t){.replica_num = 1}, 0);
        snprintf(key, sizeof(key), "keep/%d", i);
        fx_put_cfg(m, 1, key, 4096, &(mc_master_put_cfg_t){.replica_num = 1}, 0);
    }
    atomic_int go = 0;
    racer_t pr = {.m = m, .go = &go};
    remover_t rr = {.m = m, .go = &go, .rc = -1};
    pthread_t tp, tr;
    cr_assert_eq(pthread_create(&tp, NULL, put_new_keys, &pr), 0);
    cr_assert_eq(pthread_create(&tr, NULL, remove_old, &rr), 0);
    atomic_store(&go, 1);
    pthread_join(tr, NULL);
    pthread_join(tp, NULL);

    cr_assert_eq(rr.rc, MC_OK);
    cr_assert_eq(rr.n, OLD_KEYS, "removed %llu", (unsigned long long)rr.n);
    cr_assert_eq(atomic_load(&pr.failures), 0);
    for (int i = 0; i < OLD_KEYS; i++) {
        snprintf(key, sizeof(key), "del/%d", i);
        cr_assert(!fx_present(m, key), "%s left behind", key);
        snprintf(key, sizeof(key), "keep/%d", i);
        cr_assert(fx_present(m, key), "%s removed", key);
    }
    for (int i = 0; i < NEW_KEYS; i++) {
        snprintf(key, sizeof(key), "new/%d", i);
        cr_assert(fx_present(m, key), "%s removed", key);
    }
    mc_master_stats_t st;
    mc_master_stats(m, &st);
    cr_assert_eq(st.objects, OLD_KEYS + NEW_KEYS);
    mc_master_destroy(m);
}

/* Leased keys are skipped without force and taken with it, as before. */
Test(regex, lease_and_force_unchanged)
{
    mc_master_t *m = fx_create();
    fx_mount(m, 1, 64 * MiB, 1, 0);
    for (int i = 0; i < 600; i++) {
        char key[32];
        snprintf(key, sizeof(key), "k/%d", i);
        fx_put(m, 1, key, 4096, 0);
    }
    cr_assert_eq(fx_get(m, "k/7", 10, NULL), MC_OK);
    uint64_t n = 0;
    cr_assert_eq(mc_master_remove_by_regex(m, "^k/", false, 20, &n, NULL), MC_OK);
    cr_assert_eq(n, 599);
    cr_assert(fx_present(m, "k/7"));
    cr_assert_eq(mc_master_remove_by_regex(m, "^k/", true, 20, &n, NULL), MC_OK);
    cr_assert_eq(n, 1);
    cr_assert(!fx_present(m, "k/7"));
    mc_master_destroy(m);
}

/* ---- no match under a shard lock ---- */

#define SLOW_KEYS 200
#define SHARD 7u

/* The n-th key of the form <prefix><i> that lands in shard SHARD. */
static void key_in_shard(char *key, size_t cap, const char *prefix, int *next)
{
    for (;; (*next)++) {
        int len = snprintf(key, cap, "%s%d", prefix, *next);
        if ((mcm_hash(key, (size_t)len) & (MCM_SHARDS - 1u)) == SHARD) {
            (*next)++;
            return;
        }
    }
}

typedef struct prober {
    mc_master_t *m;
    const char *key;
    atomic_int stop;
    double max_s;
    int n, failures;
} prober_t;

static void *probe_gets(void *arg)
{
    prober_t *p = arg;
    while (!atomic_load(&p->stop)) {
        mc_master_replicas_t rep;
        double t0 = now_s();
        if (mc_master_get_replica_list(p->m, p->key, strlen(p->key), 10, &rep) != MC_OK)
            p->failures++;
        double dt = now_s() - t0;
        if (dt > p->max_s)
            p->max_s = dt;
        p->n++;
    }
    return NULL;
}

/* 200 keys of one shard that each cost about a millisecond to match: a get of
 * another key of that shard waits for one chunk's copy or drop, not for the
 * matching (under the lock it would wait for all of it). */
Test(regex, gets_of_the_shard_proceed_while_it_is_matched)
{
    mc_master_t *m = fx_create();
    fx_mount(m, 1, 1024 * MiB, 1, 0);
    char key[64], probe[64];
    int next = 0;
    for (int i = 0; i < SLOW_KEYS; i++) {
        key_in_shard(key, sizeof(key), "bbbbbbbbbbbbbbbbbbbbbb/c/", &next);
        fx_put(m, 1, key, 4096, 0);
    }
    next = 0;
    key_in_shard(probe, sizeof(probe), "probe/", &next);
    fx_put(m, 1, probe, 4096, 0);

    prober_t p = {.m = m, .key = probe};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, probe_gets, &p), 0);
    uint64_t n = 0;
    double t0 = now_s();
    int rc = mc_master_remove_by_regex(m, "^(b|bb)+c", false, 20, &n, NULL);
    double took = now_s() - t0;
    atomic_store(&p.stop, 1);
    pthread_join(t, NULL);

    cr_assert_eq(rc, MC_OK);
    cr_assert_eq(n, 0);
    cr_assert_gt(took, 0.2, "matching took only %.3f s: the test proves nothing", took);
    cr_assert_eq(p.failures, 0);
    cr_assert_gt(p.n, 10);
    cr_assert_lt(p.max_s, took / 4, "a get waited %.3f s of a %.3f s removal", p.max_s, took);
    mc_master_destroy(m);
}
