/* metadata_store: the core of the metadata server, tested without HTTP. */
#include "mc/errors.h"
#include "mc/strutil.h"
#include "metadata_store.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static metadata_store_t *st;

static void setup(void)
{
    st = metadata_store_create();
    cr_assert_not_null(st);
}

static void teardown(void)
{
    metadata_store_destroy(st);
    st = NULL;
}

TestSuite(store, .init = setup, .fini = teardown, .timeout = 60);

static int put_s(const char *key, const char *val, metadata_put_result_t *res)
{
    return metadata_store_put(st, key, strlen(key), val, strlen(val), res);
}

/* Asserts key holds exactly val. */
static void expect_value(const char *key, const char *val)
{
    metadata_value_t *v = NULL;
    cr_assert_eq(metadata_store_get(st, key, strlen(key), &v), MC_OK, "get %s", key);
    cr_expect_eq(metadata_value_len(v), strlen(val));
    cr_expect_eq(memcmp(metadata_value_data(v), val, strlen(val)), 0);
    metadata_value_release(v);
}

static void expect_stats(uint64_t keys, uint64_t kbytes, uint64_t vbytes)
{
    metadata_stats_t s;
    metadata_store_stats(st, &s);
    cr_expect_eq(s.keys, keys, "keys %llu != %llu", (unsigned long long)s.keys,
                 (unsigned long long)keys);
    cr_expect_eq(s.key_bytes, kbytes, "key bytes %llu != %llu", (unsigned long long)s.key_bytes,
                 (unsigned long long)kbytes);
    cr_expect_eq(s.value_bytes, vbytes, "value bytes %llu != %llu",
                 (unsigned long long)s.value_bytes, (unsigned long long)vbytes);
}

Test(store, put_get_delete)
{
    metadata_put_result_t res = METADATA_PUT_UNCHANGED;
    metadata_value_t *v = (metadata_value_t *)1;

    cr_expect_eq(metadata_store_get(st, "mooncake/ram/seg0", 17, &v), MC_OBJECT_NOT_FOUND);
    cr_expect_null(v);
    cr_expect_eq(put_s("mooncake/ram/seg0", "{\"name\":\"seg0\"}", &res), MC_OK);
    cr_expect_eq(res, METADATA_PUT_CREATED);
    expect_value("mooncake/ram/seg0", "{\"name\":\"seg0\"}");
    expect_stats(1, 17, 15);
    cr_expect_eq(metadata_store_delete(st, "mooncake/ram/seg0", 17), MC_OK);
    cr_expect_eq(metadata_store_delete(st, "mooncake/ram/seg0", 17), MC_OBJECT_NOT_FOUND);
    cr_expect_eq(metadata_store_get(st, "mooncake/ram/seg0", 17, &v), MC_OBJECT_NOT_FOUND);
    expect_stats(0, 0, 0);
}

Test(store, overwrite_updates_value_and_bytes)
{
    metadata_put_result_t res;

    cr_expect_eq(put_s("mooncake/ram/a", "short", &res), MC_OK);
    cr_expect_eq(put_s("mooncake/ram/a", "a much longer value", &res), MC_OK);
    cr_expect_eq(res, METADATA_PUT_UPDATED);
    expect_value("mooncake/ram/a", "a much longer value");
    expect_stats(1, 14, 19);
    /* identical re-put of an ordinary key is still an update */
    cr_expect_eq(put_s("mooncake/ram/a", "a much longer value", &res), MC_OK);
    cr_expect_eq(res, METADATA_PUT_UPDATED);
    cr_expect_eq(put_s("mooncake/ram/a", "x", NULL), MC_OK);
    expect_stats(1, 14, 1);
}

Test(store, rpc_meta_is_write_once)
{
    metadata_put_result_t res;

    cr_expect_eq(put_s("mooncake/rpc_meta/node1", "{\"ip\":\"10.0.0.1\"}", &res), MC_OK);
    cr_expect_eq(res, METADATA_PUT_CREATED);
    cr_expect_eq(put_s("mooncake/rpc_meta/node1", "{\"ip\":\"10.0.0.1\"}", &res), MC_OK);
    cr_expect_eq(res, METADATA_PUT_UNCHANGED);
    res = METADATA_PUT_CREATED;
    cr_expect_eq(put_s("mooncake/rpc_meta/node1", "{\"ip\":\"10.0.0.2\"}", &res),
                 MC_OBJECT_ALREADY_EXISTS);
    cr_expect_eq(res, METADATA_PUT_CREATED, "result untouched on failure");
    /* same length, different bytes; and a prefix of the stored value */
    cr_expect_eq(put_s("mooncake/rpc_meta/node1", "{\"ip\":\"10.0.0.9\"}", NULL),
                 MC_OBJECT_ALREADY_EXISTS);
    cr_expect_eq(put_s("mooncake/rpc_meta/node1", "{\"ip\"", NULL), MC_OBJECT_ALREADY_EXISTS);
    expect_value("mooncake/rpc_meta/node1", "{\"ip\":\"10.0.0.1\"}");
    expect_stats(1, 23, 17);
    /* delete then put again is allowed */
    cr_expect_eq(metadata_store_delete(st, "mooncake/rpc_meta/node1", 23), MC_OK);
    cr_expect_eq(put_s("mooncake/rpc_meta/node1", "{\"ip\":\"10.0.0.2\"}", &res), MC_OK);
    cr_expect_eq(res, METADATA_PUT_CREATED);
    expect_value("mooncake/rpc_meta/node1", "{\"ip\":\"10.0.0.2\"}");
}

Test(store, rpc_meta_detection)
{
    cr_expect(metadata_key_is_rpc_meta("mooncake/rpc_meta/x", 19));
    cr_expect(metadata_key_is_rpc_meta("rpc_meta", 8));
    cr_expect(metadata_key_is_rpc_meta("xrpc_metax", 10));
    cr_expect_not(metadata_key_is_rpc_meta("rpc_met", 7));
    cr_expect_not(metadata_key_is_rpc_meta("rpc_metadata", 7), "length bounds the search");
    cr_expect_not(metadata_key_is_rpc_meta("mooncake/ram/rpc-meta", 21));
    cr_expect_not(metadata_key_is_rpc_meta("RPC_META", 8));
    cr_expect_not(metadata_key_is_rpc_meta(NULL, 0));
}

Test(store, key_validation)
{
    char *big = malloc(MC_MAX_KEY_LEN + 1);
    metadata_value_t *v;

    cr_assert_not_null(big);
    memset(big, 'k', MC_MAX_KEY_LEN + 1);
    cr_expect_eq(metadata_key_validate("a", 1), MC_OK);
    cr_expect_eq(metadata_key_validate(big, MC_MAX_KEY_LEN), MC_OK);
    cr_expect_eq(metadata_key_validate(big, MC_MAX_KEY_LEN + 1), MC_INVALID_KEY);
    cr_expect_eq(metadata_key_validate("", 0), MC_INVALID_KEY);
    cr_expect_eq(metadata_key_validate(NULL, 3), MC_INVALID_KEY);
    cr_expect_eq(metadata_key_validate("a\0b", 3), MC_INVALID_KEY);
    cr_expect_null(metadata_key_problem("a", 1));
    cr_expect_str_eq(metadata_key_problem(NULL, 0), "missing key");
    cr_expect_str_eq(metadata_key_problem("", 0), "empty key");
    cr_expect_str_eq(metadata_key_problem(big, MC_MAX_KEY_LEN + 1), "key longer than 4096 bytes");
    cr_expect_str_eq(metadata_key_problem("a\0b", 3), "key contains a NUL byte");

    cr_expect_eq(metadata_store_put(st, "", 0, "v", 1, NULL), MC_INVALID_KEY);
    cr_expect_eq(metadata_store_put(st, "a\0b", 3, "v", 1, NULL), MC_INVALID_KEY);
    cr_expect_eq(metadata_store_put(st, big, MC_MAX_KEY_LEN + 1, "v", 1, NULL), MC_INVALID_KEY);
    cr_expect_eq(metadata_store_get(st, "a\0b", 3, &v), MC_INVALID_KEY);
    cr_expect_eq(metadata_store_delete(st, "", 0), MC_INVALID_KEY);
    cr_expect_eq(metadata_store_put(st, "k", 1, NULL, 5, NULL), MC_INVALID_PARAMS);
    expect_stats(0, 0, 0);
    /* the longest key works end to end */
    cr_expect_eq(metadata_store_put(st, big, MC_MAX_KEY_LEN, "v", 1, NULL), MC_OK);
    cr_expect_eq(metadata_store_get(st, big, MC_MAX_KEY_LEN, &v), MC_OK);
    metadata_value_release(v);
    expect_stats(1, MC_MAX_KEY_LEN, 1);
    free(big);
}

Test(store, keys_are_binary_and_length_exact)
{
    /* "ab" and "ab " and a key differing only after a would-be terminator */
    cr_expect_eq(metadata_store_put(st, "ab", 2, "1", 1, NULL), MC_OK);
    cr_expect_eq(metadata_store_put(st, "ab ", 3, "2", 1, NULL), MC_OK);
    cr_expect_eq(metadata_store_put(st, "a/b\xff\x01", 5, "3", 1, NULL), MC_OK);
    expect_value("ab", "1");
    expect_value("ab ", "2");
    expect_value("a/b\xff\x01", "3");
    expect_stats(3, 10, 3);
}

Test(store, binary_and_empty_values)
{
    unsigned char bin[256];
    metadata_value_t *v;

    for (size_t i = 0; i < sizeof(bin); i++)
        bin[i] = (unsigned char)i;
    cr_expect_eq(metadata_store_put(st, "bin", 3, bin, sizeof(bin), NULL), MC_OK);
    cr_assert_eq(metadata_store_get(st, "bin", 3, &v), MC_OK);
    cr_expect_eq(metadata_value_len(v), sizeof(bin));
    cr_expect_eq(memcmp(metadata_value_data(v), bin, sizeof(bin)), 0);
    cr_expect_eq(metadata_value_data(v)[sizeof(bin)], '\0', "values are NUL-terminated");
    metadata_value_release(v);

    cr_expect_eq(metadata_store_put(st, "empty", 5, NULL, 0, NULL), MC_OK);
    cr_assert_eq(metadata_store_get(st, "empty", 5, &v), MC_OK);
    cr_expect_eq(metadata_value_len(v), 0);
    cr_expect_not_null(metadata_value_data(v));
    cr_expect_str_eq(metadata_value_data(v), "");
    metadata_value_release(v);
    expect_stats(2, 8, 256);
}

Test(store, references_outlive_overwrite_delete_and_destroy)
{
    metadata_value_t *a, *b;

    cr_expect_eq(put_s("k", "first", NULL), MC_OK);
    cr_assert_eq(metadata_store_get(st, "k", 1, &a), MC_OK);
    cr_expect_eq(put_s("k", "second", NULL), MC_OK);
    cr_assert_eq(metadata_store_get(st, "k", 1, &b), MC_OK);
    cr_expect_eq(metadata_store_delete(st, "k", 1), MC_OK);
    cr_expect_str_eq(metadata_value_data(a), "first");
    cr_expect_str_eq(metadata_value_data(b), "second");
    metadata_value_release(a);
    cr_expect_eq(put_s("k", "third", NULL), MC_OK);
    cr_assert_eq(metadata_store_get(st, "k", 1, &a), MC_OK);
    metadata_store_destroy(st);
    st = NULL;
    cr_expect_str_eq(metadata_value_data(a), "third");
    /* release through the data pointer, as the HTTP layer does */
    metadata_value_release_data(metadata_value_io_data(a));
    metadata_value_release(b);
    metadata_value_release(NULL);
    metadata_value_release_data(NULL);
}

Test(store, many_keys_grow_and_shrink)
{
    enum { N = 20000 };
    char key[64], val[64];
    uint64_t kbytes = 0, vbytes = 0;

    for (int i = 0; i < N; i++) {
        int kl = snprintf(key, sizeof(key), "mooncake/ram/segment-%d", i);
        int vl = snprintf(val, sizeof(val), "{\"i\":%d}", i);
        cr_assert_eq(metadata_store_put(st, key, (size_t)kl, val, (size_t)vl, NULL), MC_OK);
        kbytes += (uint64_t)kl;
        vbytes += (uint64_t)vl;
    }
    expect_stats(N, kbytes, vbytes);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "mooncake/ram/segment-%d", i);
        snprintf(val, sizeof(val), "{\"i\":%d}", i);
        expect_value(key, val);
    }
    for (int i = 0; i < N; i += 2) {
        int kl = snprintf(key, sizeof(key), "mooncake/ram/segment-%d", i);
        cr_assert_eq(metadata_store_delete(st, key, (size_t)kl), MC_OK);
    }
    for (int i = 0; i < N; i++) {
        metadata_value_t *v;
        int kl = snprintf(key, sizeof(key), "mooncake/ram/segment-%d", i);
        int rc = metadata_store_get(st, key, (size_t)kl, &v);
        cr_assert_eq(rc, i % 2 ? MC_OK : MC_OBJECT_NOT_FOUND, "key %d", i);
        metadata_value_release(v);
    }
    {
        metadata_stats_t s;
        metadata_store_stats(st, &s);
        cr_expect_eq(s.keys, N / 2);
    }
}

/* ---- concurrency: writers, readers and deleters on overlapping keys ---- */

enum { THREADS = 8, KEYS = 500, ROUNDS = 20 };

typedef struct worker {
    int id;
    int errors;
} worker_t;

/* Values are "<key>|<round>" so a reader can check it never sees another
 * key's bytes or a torn value. */
static void *worker_main(void *arg)
{
    worker_t *w = arg;
    char key[48], val[96];

    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < KEYS; i++) {
            int kl = snprintf(key, sizeof(key), "mooncake/ram/k%d", (i + w->id * 37) % KEYS);
            int vl = snprintf(val, sizeof(val), "%s|%d", key, r);
            metadata_value_t *v;
            switch ((i + w->id) % 4) {
            case 0:
                if (metadata_store_delete(st, key, (size_t)kl) == MC_INVALID_KEY)
                    w->errors++;
                break;
            case 1:
            case 2:
                if (metadata_store_get(st, key, (size_t)kl, &v) == MC_OK) {
                    const char *d = metadata_value_data(v);
                    size_t n = metadata_value_len(v);
                    if (n <= (size_t)kl || memcmp(d, key, (size_t)kl) != 0 || d[kl] != '|' ||
                        strlen(d) != n)
                        w->errors++;
                    metadata_value_release(v);
                }
                break;
            default:
                if (metadata_store_put(st, key, (size_t)kl, val, (size_t)vl, NULL) != MC_OK)
                    w->errors++;
                break;
            }
        }
    }
    return NULL;
}

Test(store, concurrent_put_get_delete)
{
    pthread_t th[THREADS];
    worker_t w[THREADS];
    metadata_stats_t s;
    uint64_t keys = 0, kbytes = 0, vbytes = 0;
    char key[48];

    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker_t){.id = i};
        cr_assert_eq(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        cr_expect_eq(w[i].errors, 0, "worker %d saw %d errors", i, w[i].errors);
    }
    /* the counters agree with what is actually stored */
    for (int i = 0; i < KEYS; i++) {
        metadata_value_t *v;
        int kl = snprintf(key, sizeof(key), "mooncake/ram/k%d", i);
        if (metadata_store_get(st, key, (size_t)kl, &v) == MC_OK) {
            keys++;
            kbytes += (uint64_t)kl;
            vbytes += metadata_value_len(v);
            metadata_value_release(v);
        }
    }
    metadata_store_stats(st, &s);
    cr_expect_eq(s.keys, keys);
    cr_expect_eq(s.key_bytes, kbytes);
    cr_expect_eq(s.value_bytes, vbytes);
}

/* Many threads racing to create one rpc_meta key with different values:
 * exactly one wins, the rest are refused, and the winner's bytes stay. */
typedef struct racer {
    int id;
    int rc;
} racer_t;

static void *racer_main(void *arg)
{
    racer_t *r = arg;
    char val[32];
    int vl = snprintf(val, sizeof(val), "{\"owner\":%d}", r->id);
    r->rc = metadata_store_put(st, "mooncake/rpc_meta/race", 22, val, (size_t)vl, NULL);
    return NULL;
}

Test(store, rpc_meta_race_has_one_winner)
{
    pthread_t th[THREADS];
    racer_t r[THREADS];
    int winners = 0, winner = -1;
    char want[32];

    for (int i = 0; i < THREADS; i++) {
        r[i] = (racer_t){.id = i};
        cr_assert_eq(pthread_create(&th[i], NULL, racer_main, &r[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        if (r[i].rc == MC_OK) {
            winners++;
            winner = i;
        } else {
            cr_expect_eq(r[i].rc, MC_OBJECT_ALREADY_EXISTS);
        }
    }
    cr_assert_eq(winners, 1);
    snprintf(want, sizeof(want), "{\"owner\":%d}", winner);
    expect_value("mooncake/rpc_meta/race", want);
}
