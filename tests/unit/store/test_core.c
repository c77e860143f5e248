/* The store core: replica choice, lease deadlines, put planning, options. */
#include "mc/errors.h"
#include "store_core.h"

#include <criterion/criterion.h>
#include <string.h>

static const store_local_seg_t LOCAL = {.name = "me:1", .epoch = 3, .size = 1000};

Test(store_where, local_remote_invalid)
{
    mc_replica_t r = {.segment = "me:1", .epoch = 3, .offset = 100, .size = 50};
    cr_assert_eq(store_rep_where(&r, &LOCAL, 50), STORE_AT_LOCAL);
    r.segment = "other:2";
    cr_assert_eq(store_rep_where(&r, &LOCAL, 50), STORE_AT_REMOTE);
    cr_assert_eq(store_rep_where(&r, &LOCAL, 51), STORE_AT_INVALID, "size must match");
    r.segment = NULL;
    cr_assert_eq(store_rep_where(&r, &LOCAL, 50), STORE_AT_INVALID);
}

Test(store_where, stale_or_out_of_bounds_local_is_invalid)
{
    mc_replica_t r = {.segment = "me:1", .epoch = 2, .offset = 0, .size = 10};
    cr_assert_eq(store_rep_where(&r, &LOCAL, 10), STORE_AT_INVALID, "old epoch");
    r.epoch = 3;
    r.offset = 995;
    cr_assert_eq(store_rep_where(&r, &LOCAL, 10), STORE_AT_INVALID, "past the end");
    r.offset = 990;
    cr_assert_eq(store_rep_where(&r, &LOCAL, 10), STORE_AT_LOCAL, "ends exactly at the end");
    r.offset = UINT64_MAX - 2;
    cr_assert_eq(store_rep_where(&r, &LOCAL, 10), STORE_AT_INVALID, "no overflow");
    store_local_seg_t unmounted = LOCAL;
    unmounted.epoch = 0;
    r.offset = 0;
    r.epoch = 0;
    cr_assert_eq(store_rep_where(&r, &unmounted, 10), STORE_AT_INVALID);
    store_local_seg_t none = {.name = NULL, .epoch = 0, .size = 0};
    cr_assert_eq(store_rep_where(&r, &none, 10), STORE_AT_REMOTE, "no segment: all remote");
}

Test(store_read_order, local_first_then_master_order_skipping_invalid)
{
    mc_replica_t reps[4] = {
        {.segment = "a:1", .epoch = 1, .offset = 0, .size = 8},
        {.segment = "me:1", .epoch = 2, .offset = 0, .size = 8}, /* stale */
        {.segment = "b:1", .epoch = 1, .offset = 0, .size = 8},
        {.segment = "me:1", .epoch = 3, .offset = 8, .size = 8},
    };
    uint32_t order[MC_MAX_REPLICAS];
    size_t n = store_read_order(reps, 4, &LOCAL, 8, order);
    cr_assert_eq(n, 3);
    cr_assert_eq(order[0], 3);
    cr_assert_eq(order[1], 0);
    cr_assert_eq(order[2], 2);
    cr_assert_eq(store_read_order(reps, 4, &LOCAL, 9, order), 0, "all of the wrong size");
}

Test(store_lease, deadline_from_send_time)
{
    uint64_t d = store_lease_deadline_ms(1000, 500);
    cr_assert_eq(d, 1500);
    cr_assert(store_lease_covers(d, 1499));
    cr_assert_not(store_lease_covers(d, 1500), "finishing at the deadline is too late");
    cr_assert_not(store_lease_covers(store_lease_deadline_ms(1000, 0), 1000), "zero lease");
    cr_assert_eq(store_lease_deadline_ms(UINT64_MAX - 1, 10), UINT64_MAX, "saturates");
    cr_assert_eq(store_lease_left_ms(d, 1200), 300);
    cr_assert_eq(store_lease_left_ms(d, 1600), 0);
}

Test(store_get_code, gone_is_a_miss)
{
    cr_assert_eq(store_get_code(MC_OK), MC_OK);
    cr_assert_eq(store_get_code(MC_OBJECT_NOT_FOUND), MC_OBJECT_NOT_FOUND);
    cr_assert_eq(store_get_code(MC_REPLICA_IS_GONE), MC_OBJECT_NOT_FOUND);
    cr_assert_eq(store_get_code(MC_REPLICA_IS_NOT_READY), MC_REPLICA_IS_NOT_READY);
    cr_assert_eq(store_get_code(MC_INVALID_KEY), MC_INVALID_KEY);
}

Test(store_put_plan, already_exists_is_success_without_writes)
{
    store_copy_t copies[8];
    size_t nc = 0;
    store_put_key_t k;
    store_put_plan_key(0, MC_OBJECT_ALREADY_EXISTS, NULL, 0, 10, &LOCAL, copies, 8, &nc, &k);
    cr_assert_eq(k.state, STORE_PUT_DONE);
    cr_assert_eq(k.code, MC_OK);
    cr_assert_eq(nc, 0);
}

Test(store_put_plan, errors_pass_through_without_revoke)
{
    store_copy_t copies[8];
    size_t nc = 0;
    store_put_key_t k;
    store_put_plan_key(0, MC_NO_AVAILABLE_HANDLE, NULL, 0, 10, &LOCAL, copies, 8, &nc, &k);
    cr_assert_eq(k.state, STORE_PUT_FAILED);
    cr_assert_eq(k.code, MC_NO_AVAILABLE_HANDLE);
    cr_assert_eq(nc, 0);
}

Test(store_put_plan, one_copy_per_replica_then_end)
{
    mc_replica_t reps[2] = {{.segment = "me:1", .epoch = 3, .offset = 0, .size = 10},
                            {.segment = "x:9", .epoch = 7, .offset = 40, .size = 10}};
    store_copy_t copies[8];
    size_t nc = 0;
    store_put_key_t k;
    store_put_plan_key(5, MC_OK, reps, 2, 10, &LOCAL, copies, 8, &nc, &k);
    cr_assert_eq(k.state, STORE_PUT_WRITING);
    cr_assert_eq(nc, 2);
    cr_assert_eq(copies[0].key, 5);
    cr_assert_eq(copies[0].where, STORE_AT_LOCAL);
    cr_assert_eq(copies[1].where, STORE_AT_REMOTE);
    cr_assert_eq(copies[1].replica, 1);
    cr_assert_eq(k.pending, 2);
    store_put_copy_done(&k, MC_OK);
    cr_assert_not(store_put_should_end(&k), "one copy still pending");
    store_put_copy_done(&k, MC_OK);
    cr_assert(store_put_should_end(&k));
}

Test(store_put_plan, a_failed_copy_revokes)
{
    mc_replica_t reps[2] = {{.segment = "a:1", .epoch = 1, .offset = 0, .size = 10},
                            {.segment = "b:1", .epoch = 1, .offset = 0, .size = 10}};
    store_copy_t copies[8];
    size_t nc = 0;
    store_put_key_t k;
    store_put_plan_key(0, MC_OK, reps, 2, 10, &LOCAL, copies, 8, &nc, &k);
    store_put_copy_done(&k, MC_TRANSFER_FAIL);
    store_put_copy_done(&k, MC_OK);
    cr_assert_not(store_put_should_end(&k));
    cr_assert_eq(k.code, MC_TRANSFER_FAIL);
}

Test(store_put_plan, bad_replicas_fail_the_key_and_plan_nothing)
{
    mc_replica_t wrong_size = {.segment = "a:1", .epoch = 1, .offset = 0, .size = 9};
    mc_replica_t stale_local = {.segment = "me:1", .epoch = 1, .offset = 0, .size = 10};
    store_copy_t copies[8];
    size_t nc = 0;
    store_put_key_t k;
    store_put_plan_key(0, MC_OK, &wrong_size, 1, 10, &LOCAL, copies, 8, &nc, &k);
    cr_assert_eq(k.code, MC_INVALID_REPLICA);
    cr_assert_eq(k.state, STORE_PUT_WRITING, "started: must be revoked");
    cr_assert_not(store_put_should_end(&k));
    store_put_plan_key(0, MC_OK, &stale_local, 1, 10, &LOCAL, copies, 8, &nc, &k);
    cr_assert_eq(k.code, MC_INVALID_REPLICA);
    store_put_plan_key(0, MC_OK, NULL, 0, 10, &LOCAL, copies, 8, &nc, &k);
    cr_assert_eq(k.code, MC_INVALID_REPLICA, "no replica at all");
    cr_assert_eq(nc, 0);
}

Test(store_put_plan, capacity_is_respected)
{
    mc_replica_t reps[2] = {{.segment = "a:1", .epoch = 1, .offset = 0, .size = 10},
                            {.segment = "b:1", .epoch = 1, .offset = 0, .size = 10}};
    store_copy_t copies[3];
    size_t nc = 2;
    store_put_key_t k;
    store_put_plan_key(0, MC_OK, reps, 2, 10, &LOCAL, copies, 3, &nc, &k);
    cr_assert_eq(nc, 2);
    cr_assert_neq(k.code, MC_OK);
}

Test(store_opts, parse)
{
    store_put_opts_t o;
    const char *what = NULL;
    cr_assert_eq(store_put_opts_parse(NULL, NULL, 0, NULL, &o, &what), MC_OK);
    cr_assert_eq(o.replica_num, 1);
    cr_assert_null(o.preferred);
    cr_assert_eq(store_put_opts_parse("3", "h:1", 3, "yes", &o, &what), MC_OK);
    cr_assert_eq(o.replica_num, 3);
    cr_assert_str_eq(o.preferred, "h:1");
    cr_assert(o.soft_pin);
    cr_assert_eq(store_put_opts_parse("0", NULL, 0, NULL, &o, &what), MC_INVALID_PARAMS);
    cr_assert_eq(store_put_opts_parse("9", NULL, 0, NULL, &o, &what), MC_INVALID_PARAMS);
    cr_assert_eq(store_put_opts_parse("2x", NULL, 0, NULL, &o, &what), MC_INVALID_PARAMS);
    cr_assert_eq(store_put_opts_parse(NULL, "", 0, NULL, &o, &what), MC_INVALID_PARAMS);
    cr_assert_eq(store_put_opts_parse(NULL, "a\0b", 3, NULL, &o, &what), MC_INVALID_PARAMS);
    cr_assert_eq(store_put_opts_parse(NULL, NULL, 0, "maybe", &o, &what), MC_INVALID_PARAMS);
    cr_assert_not_null(what);
}

Test(store_backoff, doubles_then_caps)
{
    cr_assert_eq(store_backoff_ms(1, 250, 2000), 250);
    cr_assert_eq(store_backoff_ms(2, 250, 2000), 500);
    cr_assert_eq(store_backoff_ms(3, 250, 2000), 1000);
    cr_assert_eq(store_backoff_ms(4, 250, 2000), 2000);
    cr_assert_eq(store_backoff_ms(60, 250, 2000), 2000);
}

Test(store_disk_order, own_first_then_master_order_disk_only)
{
    mc_uuid_t me = {1, 2}, peer = {3, 4};
    mc_replica_t reps[5] = {
        {.segment = "me:1", .epoch = 3, .offset = 0, .size = 8}, /* memory */
        {.segment_id = peer,
         .segment = "p",
         .endpoint = "http://p",
         .size = 8,
         .type = MC_REPLICA_TYPE_DISK},
        {.segment_id = me,
         .segment = "me:1",
         .endpoint = "http://me",
         .offset = 4096,
         .size = 8,
         .type = MC_REPLICA_TYPE_DISK},
        {.segment_id = peer,
         .segment = "q",
         .endpoint = NULL,
         .size = 8,
         .type = MC_REPLICA_TYPE_DISK}, /* unreachable */
        {.segment_id = peer,
         .segment = "r",
         .endpoint = "http://r",
         .size = 9,
         .type = MC_REPLICA_TYPE_DISK}, /* wrong size */
    };
    uint32_t order[MC_MAX_REPLICAS];
    size_t n = store_disk_order(reps, 5, me, 8, order);
    cr_assert_eq(n, 2);
    cr_assert_eq(order[0], 2);
    cr_assert_eq(order[1], 1);
    cr_assert_eq(store_rep_where(&reps[2], &LOCAL, 8), STORE_AT_INVALID,
                 "a disk replica is never read as memory, even under our name");
    cr_assert_eq(store_read_order(reps, 5, &LOCAL, 8, order), 1);
    cr_assert_eq(order[0], 0);
}

Test(store_disk_ref, parse_and_bounds)
{
    store_disk_ref_t r;
    const char *what = NULL;
    cr_assert_eq(store_disk_ref_parse("k", 1, "7", "4096", "100", "4294967295", 1000, &r, &what),
                 MC_OK);
    cr_assert_eq(r.bucket, 7);
    cr_assert_eq(r.offset, 4096);
    cr_assert_eq(r.length, 100);
    cr_assert_eq(r.crc, UINT32_MAX);
    cr_assert_eq(store_disk_ref_parse("", 0, "7", "0", "1", "0", 1000, &r, &what), MC_INVALID_KEY);
    cr_assert_eq(store_disk_ref_parse("k", 1, NULL, "0", "1", "0", 1000, &r, &what),
                 MC_INVALID_PARAMS);
    cr_assert_eq(store_disk_ref_parse("k", 1, "-1", "0", "1", "0", 1000, &r, &what),
                 MC_INVALID_PARAMS);
    cr_assert_eq(
        store_disk_ref_parse("k", 1, "18446744073709551616", "0", "1", "0", 1000, &r, &what),
        MC_INVALID_PARAMS, "overflow");
    cr_assert_eq(store_disk_ref_parse("k", 1, "1", "0", "1001", "0", 1000, &r, &what),
                 MC_INVALID_PARAMS, "over the cap");
    cr_assert_eq(store_disk_ref_parse("k", 1, "1", "0", "0", "0", 1000, &r, &what),
                 MC_INVALID_PARAMS, "empty");
    cr_assert_eq(store_disk_ref_parse("k", 1, "1", "0", "1", "4294967296", 1000, &r, &what),
                 MC_INVALID_PARAMS, "crc over 32 bits");
    cr_assert_eq(store_disk_ref_parse("k", 1, "1", "0x10", "1", "0", 1000, &r, &what),
                 MC_INVALID_PARAMS);
}

Test(store_disk_add, conflict_rules)
{
    cr_assert_eq(store_disk_add_verdict(MC_OK), STORE_DISK_KEEP);
    cr_assert_eq(store_disk_add_verdict(MC_REPLICA_ALREADY_EXISTS), STORE_DISK_KEEP);
    cr_assert_eq(store_disk_add_verdict(MC_INVALID_REPLICA), STORE_DISK_DROP);
    cr_assert_eq(store_disk_add_verdict(MC_OBJECT_NOT_FOUND), STORE_DISK_DROP);
    cr_assert_eq(store_disk_add_verdict(MC_REPLICA_IS_NOT_READY), STORE_DISK_DROP);
    cr_assert_eq(store_disk_add_verdict(MC_NO_AVAILABLE_HANDLE), STORE_DISK_DROP);
    cr_assert_eq(store_disk_add_verdict(MC_CLIENT_NOT_FOUND), STORE_DISK_RETRY,
                 "no disk tier at the master yet: never a reason to drop the record");
    cr_assert_eq(store_disk_add_verdict(MC_RPC_FAIL), STORE_DISK_RETRY);
}
