/* metadata_store publisher claims: only a key's publisher replaces or
 * deletes it; claims lapse after the TTL; the admin flag overrides; keys
 * created without a credential stay last-writer-wins. */
#include "mc/errors.h"
#include "metadata_store.h"

#include <criterion/criterion.h>
#include <string.h>

#define OWNER "owner-credential-0123456789"
#define ROGUE "rogue-credential-0123456789"
#define KEY "mooncake/ram/seg0"

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

TestSuite(publisher, .init = setup, .fini = teardown, .timeout = 30);

static metadata_cred_t as(const char *pub, uint64_t now_ms)
{
    return (metadata_cred_t){.pub = pub, .len = pub ? strlen(pub) : 0, .now_ms = now_ms};
}

static int put_as(const char *key, const char *val, const metadata_cred_t *c,
                  metadata_put_result_t *res)
{
    return metadata_store_put_as(st, key, strlen(key), val, strlen(val), c, res);
}

static void expect_value(const char *key, const char *val)
{
    metadata_value_t *v = NULL;

    cr_assert_eq(metadata_store_get(st, key, strlen(key), &v), MC_OK, "get %s", key);
    cr_expect_eq(metadata_value_len(v), strlen(val));
    cr_expect_eq(memcmp(metadata_value_data(v), val, strlen(val)), 0, "%s holds %s", key,
                 metadata_value_data(v));
    metadata_value_release(v);
}

Test(publisher, only_the_publisher_replaces_or_deletes)
{
    metadata_cred_t owner = as(OWNER, 0), rogue = as(ROGUE, 0), none = as(NULL, 0);
    metadata_put_result_t res;

    cr_assert_eq(put_as(KEY, "real", &owner, &res), MC_OK);
    cr_expect_eq(res, METADATA_PUT_CREATED);
    cr_expect_eq(put_as(KEY, "forged", &rogue, NULL), MC_ILLEGAL_CLIENT);
    cr_expect_eq(put_as(KEY, "forged", &none, NULL), MC_ILLEGAL_CLIENT);
    cr_expect_eq(metadata_store_put(st, KEY, strlen(KEY), "forged", 6, NULL), MC_ILLEGAL_CLIENT);
    expect_value(KEY, "real");
    cr_expect_eq(metadata_store_delete_as(st, KEY, strlen(KEY), &rogue), MC_ILLEGAL_CLIENT);
    cr_expect_eq(metadata_store_delete(st, KEY, strlen(KEY)), MC_ILLEGAL_CLIENT);
    expect_value(KEY, "real");
    /* the publisher itself may */
    cr_assert_eq(put_as(KEY, "real2", &owner, &res), MC_OK);
    cr_expect_eq(res, METADATA_PUT_UPDATED);
    expect_value(KEY, "real2");
    cr_expect_eq(metadata_store_delete_as(st, KEY, strlen(KEY), &owner), MC_OK);
    /* a deleted key is free: the next publisher claims it (hand-over) */
    cr_assert_eq(put_as(KEY, "next", &rogue, NULL), MC_OK);
    cr_expect_eq(put_as(KEY, "back", &owner, NULL), MC_ILLEGAL_CLIENT);
    expect_value(KEY, "next");
}

Test(publisher, unclaimed_keys_stay_last_writer_wins_and_can_be_claimed)
{
    metadata_cred_t owner = as(OWNER, 0), rogue = as(ROGUE, 0);

    cr_assert_eq(metadata_store_put(st, KEY, strlen(KEY), "a", 1, NULL), MC_OK);
    cr_assert_eq(metadata_store_put(st, KEY, strlen(KEY), "b", 1, NULL), MC_OK);
    expect_value(KEY, "b");
    cr_assert_eq(put_as(KEY, "c", &owner, NULL), MC_OK); /* claims it */
    cr_expect_eq(put_as(KEY, "d", &rogue, NULL), MC_ILLEGAL_CLIENT);
    cr_expect_eq(metadata_store_put(st, KEY, strlen(KEY), "d", 1, NULL), MC_ILLEGAL_CLIENT);
    expect_value(KEY, "c");
}

Test(publisher, rpc_meta_stays_write_once_and_claimed)
{
    const char *k = "mooncake/rpc_meta/node-a";
    metadata_cred_t owner = as(OWNER, 0), rogue = as(ROGUE, 0);
    metadata_put_result_t res;

    cr_assert_eq(put_as(k, "x", &owner, NULL), MC_OK);
    cr_assert_eq(put_as(k, "x", &owner, &res), MC_OK);
    cr_expect_eq(res, METADATA_PUT_UNCHANGED);
    cr_expect_eq(put_as(k, "y", &owner, NULL), MC_OBJECT_ALREADY_EXISTS);
    cr_expect_eq(put_as(k, "x", &rogue, NULL), MC_ILLEGAL_CLIENT);
    cr_expect_eq(metadata_store_delete_as(st, k, strlen(k), &rogue), MC_ILLEGAL_CLIENT);
    cr_expect_eq(metadata_store_delete_as(st, k, strlen(k), &owner), MC_OK);
}

Test(publisher, claims_lapse_after_the_ttl_unless_refreshed)
{
    metadata_cred_t owner = as(OWNER, 1000), rogue = as(ROGUE, 1000);
    metadata_value_t *v = NULL;

    metadata_store_set_publisher_ttl(st, 5000);
    cr_assert_eq(put_as(KEY, "real", &owner, NULL), MC_OK);
    rogue.now_ms = 5999; /* 4999 ms of silence: still held */
    cr_expect_eq(put_as(KEY, "forged", &rogue, NULL), MC_ILLEGAL_CLIENT);
    /* the publisher's GET (its re-publish check) refreshes the claim */
    owner.now_ms = 5000;
    cr_assert_eq(metadata_store_get_as(st, KEY, strlen(KEY), &owner, &v), MC_OK);
    metadata_value_release(v);
    /* a stranger's GET does not */
    rogue.now_ms = 9000;
    cr_assert_eq(metadata_store_get_as(st, KEY, strlen(KEY), &rogue, &v), MC_OK);
    metadata_value_release(v);
    rogue.now_ms = 9999;
    cr_expect_eq(put_as(KEY, "forged", &rogue, NULL), MC_ILLEGAL_CLIENT);
    rogue.now_ms = 10000; /* 5000 ms since the owner's GET: lapsed, taken over */
    cr_expect_eq(put_as(KEY, "taken", &rogue, NULL), MC_OK);
    owner.now_ms = 10001;
    cr_expect_eq(put_as(KEY, "real", &owner, NULL), MC_ILLEGAL_CLIENT);
    expect_value(KEY, "taken");
}

Test(publisher, no_ttl_means_claims_never_lapse)
{
    metadata_cred_t owner = as(OWNER, 0), rogue = as(ROGUE, UINT64_MAX / 2);

    cr_assert_eq(put_as(KEY, "real", &owner, NULL), MC_OK);
    cr_expect_eq(put_as(KEY, "forged", &rogue, NULL), MC_ILLEGAL_CLIENT);
}

Test(publisher, admin_overrides_and_keeps_the_claim)
{
    metadata_cred_t owner = as(OWNER, 0), admin = as(NULL, 0), rogue = as(ROGUE, 0);

    admin.admin = true;
    cr_assert_eq(put_as(KEY, "real", &owner, NULL), MC_OK);
    cr_expect_eq(put_as(KEY, "fixed", &admin, NULL), MC_OK);
    expect_value(KEY, "fixed");
    cr_expect_eq(put_as(KEY, "forged", &rogue, NULL), MC_ILLEGAL_CLIENT);
    cr_expect_eq(put_as(KEY, "real2", &owner, NULL), MC_OK);
    cr_expect_eq(metadata_store_delete_as(st, KEY, strlen(KEY), &admin), MC_OK);
}

Test(publisher, malformed_credentials_are_refused)
{
    metadata_cred_t c = as("short", 0);
    metadata_value_t *v = NULL;

    cr_expect_eq(put_as(KEY, "x", &c, NULL), MC_INVALID_PARAMS);
    c = as("has a space in it 0123456789", 0);
    cr_expect_eq(put_as(KEY, "x", &c, NULL), MC_INVALID_PARAMS);
    cr_expect_eq(metadata_store_get_as(st, KEY, strlen(KEY), &c, &v), MC_INVALID_PARAMS);
    cr_expect_eq(metadata_store_delete_as(st, KEY, strlen(KEY), &c), MC_INVALID_PARAMS);
    cr_expect_eq(metadata_publisher_validate(OWNER, strlen(OWNER)), MC_OK);
    cr_expect_eq(metadata_publisher_validate("a\x7f"
                                             "0123456789abcdef",
                                             18),
                 MC_INVALID_PARAMS);
}
