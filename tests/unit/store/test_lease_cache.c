#include "lease_cache.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

Test(lease_cache, hit_until_the_lease_ends)
{
    store_lease_cache_t *c = store_lease_cache_create(64);
    store_lease_entry_t e = {.offset = 4096, .size = 100, .epoch = 7, .deadline_ms = 1000}, got;
    cr_assert_not_null(c);
    store_lease_cache_put(c, "k1", 2, &e);
    cr_assert(store_lease_cache_get(c, "k1", 2, 999, &got));
    cr_expect_eq(got.offset, 4096);
    cr_expect_eq(got.size, 100);
    cr_expect_eq(got.epoch, 7);
    cr_expect_not(store_lease_cache_get(c, "k1", 2, 1000, &got), "lease over: no bytes");
    cr_expect_not(store_lease_cache_get(c, "k2", 2, 0, &got));
    cr_expect_not(store_lease_cache_get(c, "k", 1, 0, &got));
    e.deadline_ms = 5000;
    e.offset = 8192;
    store_lease_cache_put(c, "k1", 2, &e); /* a newer read replaces the entry */
    cr_assert(store_lease_cache_get(c, "k1", 2, 1000, &got));
    cr_expect_eq(got.offset, 8192);
    store_lease_cache_destroy(c);
}

Test(lease_cache, colliding_keys_never_mix)
{
    store_lease_cache_t *c = store_lease_cache_create(1); /* one slot: every key collides */
    store_lease_entry_t a = {.offset = 1, .deadline_ms = 100},
                        b = {.offset = 2, .deadline_ms = 100};
    store_lease_entry_t got;
    char big[STORE_LEASE_KEY_MAX + 1];
    store_lease_cache_put(c, "a", 1, &a);
    store_lease_cache_put(c, "b", 1, &b);
    cr_expect_not(store_lease_cache_get(c, "a", 1, 0, &got));
    cr_assert(store_lease_cache_get(c, "b", 1, 0, &got));
    cr_expect_eq(got.offset, 2);
    memset(big, 'x', sizeof(big));
    store_lease_cache_put(c, big, sizeof(big), &a); /* too long: not cached */
    cr_expect_not(store_lease_cache_get(c, big, sizeof(big), 0, &got));
    cr_assert(store_lease_cache_get(c, "b", 1, 0, &got));
    store_lease_cache_destroy(c);
}

static void *churn(void *arg)
{
    store_lease_cache_t *c = arg;
    char key[32];
    for (int i = 0; i < 20000; i++) {
        store_lease_entry_t e = {.offset = (uint64_t)i, .size = (uint64_t)i, .deadline_ms = 1}, got;
        int n = snprintf(key, sizeof(key), "key-%d", i % 500);
        store_lease_cache_put(c, key, (size_t)n, &e);
        if (store_lease_cache_get(c, key, (size_t)n, 0, &got) && got.offset != got.size)
            return (void *)1; /* torn entry */
    }
    return NULL;
}

Test(lease_cache, concurrent_use_is_consistent)
{
    store_lease_cache_t *c = store_lease_cache_create(128);
    pthread_t t[4];
    void *rv;
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, churn, c);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], &rv);
        cr_expect_null(rv);
    }
    store_lease_cache_destroy(c);
}
