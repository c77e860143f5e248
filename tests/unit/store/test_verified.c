#include "verified.h"

#include <criterion/criterion.h>

Test(verified, only_the_exact_replica_is_known)
{
    store_verified_t *v = store_verified_create(64);
    store_verified_key_t k = {.epoch = 3, .offset = 4096, .size = 100, .checksum = 0xabcd};
    store_verified_key_t other;

    cr_assert_not_null(v);
    cr_expect_not(store_verified_has(v, &k), "nothing is verified at start");
    store_verified_mark(v, &k);
    cr_expect(store_verified_has(v, &k));
    other = k, other.epoch = 4;
    cr_expect_not(store_verified_has(v, &other), "a remount is a new segment");
    other = k, other.size = 101;
    cr_expect_not(store_verified_has(v, &other), "reused memory of another size");
    other = k, other.checksum = 0xabce;
    cr_expect_not(store_verified_has(v, &other), "reused memory with other bytes");
    store_verified_destroy(v);
}

Test(verified, a_newer_entry_replaces_an_older_one_in_its_slot)
{
    store_verified_t *v = store_verified_create(1); /* one slot: every replica collides */
    store_verified_key_t a = {.epoch = 1, .offset = 0, .size = 8, .checksum = 1};
    store_verified_key_t b = {.epoch = 1, .offset = 64, .size = 8, .checksum = 2};

    store_verified_mark(v, &a);
    store_verified_mark(v, &b);
    cr_expect_not(store_verified_has(v, &a), "forgotten: checked again, never trusted");
    cr_expect(store_verified_has(v, &b));
    store_verified_destroy(v);
    cr_expect_not(store_verified_has(NULL, &a));
}
