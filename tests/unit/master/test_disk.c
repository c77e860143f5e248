/* The SSD tier in the core: disk tiers, disk replicas (add with its conflict
 * rules, create_missing, remove), replica order, eviction keeping disk-only
 * objects readable, offload on eviction and its hold, write-behind persist
 * tasks, drop tasks on removes, bounded queues, stable identity and client
 * expiry dropping a disk tier with its replicas. */
#include "master_fixture.h"

#include <stdlib.h>

static mc_master_cfg_t disk_cfg(void)
{
    mc_master_cfg_t c;
    mc_master_cfg_defaults(&c);
    c.lease_ttl_ms = LEASE_MS;
    c.client_ttl_ms = UINT64_MAX / 4;
    c.min_residency_ms = 0;
    return c;
}

/* Disk tier of client c, named "disk-<c>". */
static void fx_disk(mc_master_t *m, uint64_t c, uint64_t now)
{
    char name[32], url[64];
    snprintf(name, sizeof(name), "disk-%llu", (unsigned long long)c);
    snprintf(url, sizeof(url), "http://127.0.0.1:%llu", 9000ull + c);
    mc_master_disk_spec_t sp = {.client_id = client_id(c),
                                .name = name,
                                .control_url = url,
                                .capacity = 1ull << 30,
                                .used = 0};
    cr_assert_eq(mc_master_mount_disk(m, &sp, now), MC_OK);
}

static mc_master_disk_item_t item(const char *key, uint64_t size, uint32_t csum, uint64_t bucket,
                                  uint64_t offset)
{
    return (mc_master_disk_item_t){.key = key,
                                   .len = strlen(key),
                                   .size = size,
                                   .checksum = csum,
                                   .bucket = bucket,
                                   .offset = offset,
                                   .length = size};
}

/* Adds one disk replica of c's; returns its code. */
static int add1(mc_master_t *m, uint64_t c, mc_master_disk_item_t it, bool create, uint64_t now)
{
    cr_assert_eq(mc_master_batch_disk_replica_add(m, client_id(c), &it, 1, create, now), MC_OK);
    return it.rc;
}

static int remove1(mc_master_t *m, uint64_t c, const char *key, uint64_t bucket, uint64_t now)
{
    mc_master_disk_item_t it = item(key, 0, 0, bucket, 0);
    cr_assert_eq(mc_master_batch_disk_replica_remove(m, client_id(c), &it, 1, now), MC_OK);
    return it.rc;
}

static void put_csum(mc_master_t *m, uint64_t c, const char *key, uint64_t size, uint32_t csum,
                     uint64_t now)
{
    cr_assert_eq(fx_put_start(m, c, key, size, now, NULL), MC_OK);
    cr_assert_eq(mc_master_put_end(m, client_id(c), key, strlen(key), true, csum, now), MC_OK);
}

/* Takes every queued task; returns the batch count (*b: free with _free). */
static size_t take(mc_master_t *m, mc_master_task_batch_t **b)
{
    size_t n = 0;
    cr_assert_eq(mc_master_tasks_take(m, b, &n), MC_OK);
    return n;
}

static size_t count_kind(const mc_master_task_batch_t *b, uint8_t kind, const char *key)
{
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++)
        n += b->tasks[i].kind == kind && (!key || strcmp(b->tasks[i].key, key) == 0);
    return n;
}

Test(disk, mount_disk_is_idempotent_and_checked)
{
    mc_master_cfg_t c = disk_cfg();
    mc_master_t *m = fx_create_cfg(&c);
    fx_disk(m, 1, 0);
    fx_disk(m, 1, 0);
    mc_master_disk_spec_t bad = {.client_id = client_id(2), .name = "x", .control_url = "ftp://x"};
    cr_assert_eq(mc_master_mount_disk(m, &bad, 0), MC_INVALID_PARAMS);
    bad.control_url = "http://a\nb";
    cr_assert_eq(mc_master_mount_disk(m, &bad, 0), MC_INVALID_PARAMS);
    bad.control_url = "http://h:1";
    bad.name = "";
    cr_assert_eq(mc_master_mount_disk(m, &bad, 0), MC_INVALID_PARAMS);
    mc_master_disk_info_t info[4];
    size_t n = 0;
    cr_assert_eq(mc_master_disks_list(m, info, 4, &n), MC_OK);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(info[0].control_url, "http://127.0.0.1:9001");
    cr_assert_eq(mc_master_disk_usage(m, client_id(1), 100, 40), MC_OK);
    cr_assert_eq(mc_master_disk_usage(m, client_id(2), 100, 40), MC_CLIENT_NOT_FOUND);
    cr_assert_eq(mc_master_disk_get(m, client_id(1), &info[1]), MC_OK);
    cr_assert_eq(info[1].capacity, 100);
    cr_assert_eq(info[1].used, 40);
    mc_master_stats_t st;
    mc_master_stats(m, &st);
    cr_assert_eq(st.disks, 1);
    cr_assert_eq(st.disk_used, 40);
    cr_assert_eq(st.clients, 1, "mount_disk registers the client");
    mc_master_destroy(m);
}

Test(disk, add_conflicts)
{
    mc_master_cfg_t c = disk_cfg();
    mc_master_t *m = fx_create_cfg(&c);
    fx_mount(m, 1, 64 * MiB, 1, 0);
    fx_disk(m, 1, 0);
    fx_disk(m, 2, 0);
    put_csum(m, 1, "k", MiB, 77, 1);
    fx_put(m, 1, "nocsum", MiB, 1);
    /* no disk tier: the whole call */
    mc_master_disk_item_t it = item("k", MiB, 77, 1, 0);
    cr_assert_eq(mc_master_batch_disk_replica_add(m, client_id(3), &it, 1, false, 2),
                 MC_CLIENT_NOT_FOUND);
    cr_assert_eq(add1(m, 1, item("nope", MiB, 1, 1, 0), false, 2), MC_OBJECT_NOT_FOUND);
    cr_assert_eq(add1(m, 1, item("k", MiB + 1, 77, 1, 0), false, 2), MC_INVALID_REPLICA, "size");
    cr_assert_eq(add1(m, 1, item("k", MiB, 78, 1, 0), false, 2), MC_INVALID_REPLICA, "checksum");
    mc_master_disk_item_t len = item("k", MiB, 77, 1, 0);
    len.length = MiB - 1;
    cr_assert_eq(add1(m, 1, len, false, 2), MC_INVALID_REPLICA, "length");
    cr_assert_eq(add1(m, 1, item("k", MiB, 77, 1, 4096), false, 2), MC_OK);
    cr_assert_eq(add1(m, 1, item("k", MiB, 77, 1, 4096), false, 2), MC_REPLICA_ALREADY_EXISTS);
    cr_assert_eq(add1(m, 1, item("k", MiB, 77, 9, 0), false, 2), MC_REPLICA_ALREADY_EXISTS,
                 "one per owner: the registered one stays");
    cr_assert_eq(add1(m, 2, item("k", MiB, 77, 5, 0), false, 2), MC_OK, "another owner");
    /* an object put without a checksum adopts the owner's */
    cr_assert_eq(add1(m, 1, item("nocsum", MiB, 5, 1, 0), false, 2), MC_OK);
    cr_assert_eq(add1(m, 2, item("nocsum", MiB, 6, 1, 0), false, 2), MC_INVALID_REPLICA);
    /* a put in flight */
    cr_assert_eq(fx_put_start(m, 1, "busy", MiB, 3, NULL), MC_OK);
    cr_assert_eq(add1(m, 1, item("busy", MiB, 1, 1, 0), true, 3), MC_REPLICA_IS_NOT_READY);
    mc_master_replicas_t r;
    cr_assert_eq(fx_get(m, "k", 4, &r), MC_OK);
    cr_assert_eq(r.n, 3);
    cr_assert_eq(r.rep[0].type, MC_REPLICA_MEMORY, "memory first");
    cr_assert_eq(r.rep[1].type, MC_REPLICA_DISK);
    cr_assert_eq(r.rep[2].type, MC_REPLICA_DISK);
    cr_assert(mc_uuid_equal(r.rep[1].segment_id, client_id(1)));
    cr_assert_eq(r.rep[1].bucket, 1);
    cr_assert_eq(r.rep[1].offset, 4096);
    cr_assert_eq(r.rep[1].size, MiB);
    cr_assert(mc_uuid_equal(r.rep[2].segment_id, client_id(2)));
    cr_assert_eq(r.rep[2].bucket, 5);
    mc_master_disk_info_t d;
    cr_assert_eq(mc_master_disk_get_slot(m, r.rep[2].segment_slot, &d), MC_OK);
    cr_assert_str_eq(d.name, "disk-2");
    cr_assert_eq(d.replicas, 1);
    cr_assert_eq(d.bytes, MiB);
    mc_master_destroy(m);
}

Test(disk, replica_order_with_disk_added_first)
{
    mc_master_cfg_t c = disk_cfg();
    mc_master_t *m = fx_create_cfg(&c);
    fx_mount(m, 1, 64 * MiB, 1, 0);
    fx_disk(m, 2, 0);
    /* recovered from disk first, then put again with upsert: disk replicas of
     * the old value go; then the new one gets a disk replica after memory */
    cr_assert_eq(add1(m, 2, item("k", MiB, 9, 1, 0), true, 1), MC_OK);
    mc_master_put_cfg_t pc = fx_cfg(1);
    cr_assert_eq(mc_master_upsert_start(m, client_id(1), "k", 1, MiB, &pc, 2, NULL), MC_OK);
    cr_assert_eq(mc_master_put_end(m, client_id(1), "k", 1, true, 10, 2), MC_OK);
    mc_master_replicas_t r;
    cr_assert_eq(fx_get(m, "k", 3, &r), MC_OK);
    cr_assert_eq(r.n, 1);
    cr_assert_eq(r.rep[0].type, MC_REPLICA_MEMORY);
    mc_master_task_batch_t *b;
    cr_assert_eq(take(m, &b), 1);
    cr_assert_eq(count_kind(&b[0], MC_TASK_DROP, "k"), 1, "the old value's disk copy");
    cr_assert_eq(b[0].tasks[0].bucket, 1);
    mc_master_tasks_free(b, 1);
    cr_assert_eq(add1(m, 2, item("k", MiB, 10, 2, 0), false, 4), MC_OK);
    cr_assert_eq(fx_get(m, "k", 5, &r), MC_OK);
    cr_assert_eq(r.n, 2);
    cr_assert_eq(r.rep[0].type, MC_REPLICA_MEMORY);
    cr_assert_eq(r.rep[1].type, MC_REPLICA_DISK);
    mc_master_destroy(m);
}

Test(disk, create_missing_makes_a_disk_only_object)
{
    mc_master_cfg_t c = disk_cfg();
    mc_master_t *m = fx_create_cfg(&c);
    fx_disk(m, 1, 0);
    mc_master_disk_item_t its[3] = {item("a", 100, 1, 7, 0), item("b", 200, 2, 7, 4096),
                                    item("a", 100, 1, 7, 0)};
    cr_assert_eq(mc_master_batch_disk_replica_add(m, client_id(1), its, 3, true, 1), MC_OK);
    cr_assert_eq(its[0].rc, MC_OK);
    cr_assert_eq(its[1].rc, MC_OK);
    cr_assert_eq(its[2].rc, MC_REPLICA_ALREADY_EXISTS, "a repeated key in the same batch");
    mc_master_replicas_t r;
    cr_assert_eq(fx_get(m, "b", 2, &r), MC_OK);
    cr_assert_eq(r.n, 1);
    cr_assert_eq(r.size, 200);
    cr_assert(r.has_checksum);
    cr_assert_eq(r.checksum, 2);
    cr_assert(fx_exists(m, "a", 2));
    uint64_t size = 0;
    cr_assert_eq(mc_master_get_size(m, "a", 1, &size), MC_OK);
    cr_assert_eq(size, 100);
    /* without create_missing a missing key stays missing */
    cr_assert_eq(add1(m, 1, item("c", 10, 1, 7, 0), false, 3), MC_OBJECT_NOT_FOUND);
    cr_assert(!fx_present(m, "c"));
    mc_master_stats_t st;
    mc_master_stats(m, &st);
    cr_assert_eq(st.objects, 2);
    cr_assert_eq(st.disk_replicas, 2);
    mc_master_destroy(m);
}

Test(disk, remove_and_last_replica)
{
    mc_master_cfg_t c = disk_cfg();
    mc_master_t *m = fx_create_cfg(&c);
    fx_mount(m, 1, 64 * MiB, 1, 0);
    fx_disk(m, 1, 0);
    fx_disk(m, 2, 0);
    put_csum(m, 1, "k", MiB, 3, 1);
    cr_assert_eq(add1(m, 1, item("k", MiB, 3, 4, 0), false, 2), MC_OK);
    cr_assert_eq(add1(m, 1, item("d", 10, 3, 4, 0), true, 2), MC_OK);
    cr_assert_eq(add1(m, 2, item("d", 10, 3, 8, 0), false, 2), MC_OK);
    cr_assert_eq(remove1(m, 1, "nope", 4, 3), MC_OBJECT_NOT_FOUND);
    cr_assert_eq(remove1(m, 1, "k", 5, 3), MC_REPLICA_NOT_FOUND, "another bucket");
    cr_assert_eq(remove1(m, 2, "k", 4, 3), MC_REPLICA_NOT_FOUND, "another owner");
    cr_assert_eq(remove1(m, 1, "k", 4, 3), MC_OK);
    cr_assert(fx_present(m, "k"), "its memory replica stays");
    cr_assert_eq(remove1(m, 1, "d", 4, 3), MC_OK);
    cr_assert(fx_present(m, "d"), "owner 2's disk replica stays");
    cr_assert_eq(remove1(m, 2, "d", 8, 3), MC_OK);
    cr_assert(!fx_present(m, "d"), "the last replica went: the object goes");
    mc_master_task_batch_t *b;
    cr_assert_eq(take(m, &b), 0, "no drop tasks: the owners asked");
    mc_master_tasks_free(b, 0);
    mc_master_stats_t st;
    mc_master_stats(m, &st);
    cr_assert_eq(st.disk_replicas, 0);
    mc_master_destroy(m);
}

Test(disk, eviction_keeps_disk_only_objects_readable)
{
    mc_master_cfg_t c = disk_cfg();
    mc_master_t *m = fx_create_cfg(&c);
    fx_mount(m, 1, 4 * MiB, 1, 0);
    fx_disk(m, 1, 0);
    put_csum(m, 1, "a", MiB, 1, 1);
    put_csum(m, 1, "b", MiB, 2, 2);
    cr_assert_eq(add1(m, 1, item("a", MiB, 1, 3, 0), false, 3), MC_OK);
    mc_master_evict_report_t rep;
    cr_assert_eq(mc_master_evict(m, 10000, 2 * MiB, &rep), MC_OK);
    cr_assert_eq(rep.freed_bytes, 2 * MiB);
    cr_assert_eq(fx_used(m), 0);
    cr_assert(!fx_present(m, "b"), "memory-only: gone");
    mc_master_replicas_t r;
    cr_assert_eq(fx_get(m, "a", 10001, &r), MC_OK, "disk-only: readable");
    cr_assert_eq(r.n, 1);
    cr_assert_eq(r.rep[0].type, MC_REPLICA_DISK);
    cr_assert_eq(r.checksum, 1);
    /* nothing more to evict: a disk-only object holds no memory */
    cr_assert_eq(mc_master_evict(m, 20000, MiB, &rep), MC_OK);
    cr_assert_eq(rep.freed_objects, 0);
    cr_assert(fx_present(m, "a"));
    mc_master_destroy(m);
}

Test(disk, segment_unmount_keeps_disk_replicas)
{
    mc_master_cfg_t c = disk_cfg();
    mc_master_t *m = fx_create_cfg(&c);
    fx_mount(m, 1, 4 * MiB, 1, 0);
    fx_disk(m, 1, 0);
    put_csum(m, 1, "a", MiB, 1, 1);
    put_csum(m, 1, "b", MiB, 2, 1);
    cr_assert_eq(add1(m, 1, item("a", MiB, 1, 3, 0), false, 2), MC_OK);
    cr_assert_eq(mc_master_unmount(m, seg_id(1), client_id(1)), MC_OK);
    cr_assert(fx_present(m, "a"));
    cr_assert(!fx_present(m, "b"));
    mc_master_replicas_t r;
    cr_assert_eq(fx_get(m, "a", 3, &r), MC_OK);
    cr_assert_eq(r.n, 1);
    cr_assert_eq(r.rep[0].type, MC_REPLICA_DISK);
    mc_master_destroy(m);
}

Test(disk, stable_identity_replaces_the_previous_mount)
{
    mc_master_cfg_t c = disk_cfg();
    mc_master_t *m = fx_create_cfg(&c);
    mc_master_segment_spec_t sp = {.id = seg_id(1),
                                   .client_id = client_id(1),
                                   .name = "host:1",
                                   .base = 1ull << 40,
                                   .size = 8 * MiB};
    uint64_t e1 = 0, e2 = 0;
    char secret[MC_MASTER_SECRET_MAX];
    cr_assert_eq(mc_master_mount_secret(m, &sp, 0, &e1, secret), MC_OK);
    fx_disk(m, 1, 0);
    put_csum(m, 1, "mem", MiB, 1, 1);
    put_csum(m, 1, "both", MiB, 2, 1);
    cr_assert_eq(add1(m, 1, item("both", MiB, 2, 3, 0), false, 2), MC_OK);
    /* the service restarts within its TTL: same client id and name, a new
     * segment id and base. Without its previous segment's secret nothing is
     * replaced (another mount of the name) */
    mc_master_segment_spec_t other = sp;
    other.id = seg_id(3);
    other.base = 3ull << 40;
    cr_assert_eq(mc_master_mount(m, &other, 3, NULL), MC_OK);
    mc_master_segment_info_t info;
    cr_assert_eq(mc_master_segment_get(m, seg_id(1), &info), MC_OK, "not replaced");
    cr_assert(fx_present(m, "mem"));
    /* with it (the tier keeps it with the identity) the old mount is replaced */
    sp.id = seg_id(2);
    sp.base = 2ull << 40;
    sp.secret = secret;
    cr_assert_eq(mc_master_mount_secret(m, &sp, 3, &e2, secret), MC_OK);
    cr_assert_neq(e1, e2);
    cr_assert_eq(mc_master_segment_get(m, seg_id(1), &info), MC_SEGMENT_NOT_FOUND);
    cr_assert_eq(mc_master_segment_get(m, seg_id(2), &info), MC_OK);
    cr_assert(!fx_present(m, "mem"), "its memory replicas went");
    mc_master_replicas_t r;
    cr_assert_eq(fx_get(m, "both", 4, &r), MC_OK, "its disk replicas stayed");
    cr_assert_eq(r.n, 1);
    cr_assert_eq(r.rep[0].type, MC_REPLICA_DISK);
    cr_assert_eq(fx_used(m), 0);
    /* the same id again with the new secret: other parameters replace it
     * again (a second restart that kept its segment id) */
    sp.base = 4ull << 40;
    cr_assert_eq(mc_master_mount_secret(m, &sp, 4, &e1, secret), MC_OK);
    cr_assert_neq(e1, e2);
    cr_assert(fx_exists(m, "both", 5));
    /* another client with the same name is not a restart, secret or not */
    sp.id = seg_id(4);
    sp.client_id = client_id(2);
    cr_assert_eq(mc_master_mount(m, &sp, 5, NULL), MC_ILLEGAL_CLIENT);
    cr_assert_eq(mc_master_segment_get(m, seg_id(2), &info), MC_OK);
    mc_master_destroy(m);
}

Test(disk, client_expiry_drops_its_disk_tier_and_replicas)
{
    mc_master_cfg_t c = disk_cfg();
    c.client_ttl_ms = 1000;
    mc_master_t *m = fx_create_cfg(&c);
    fx_mount(m, 1, 8 * MiB, 1, 0);
    fx_disk(m, 2, 0);
    put_csum(m, 1, "both", MiB, 1, 0);
    cr_assert_eq(add1(m, 2, item("both", MiB, 1, 3, 0), false, 0), MC_OK);
    cr_assert_eq(add1(m, 2, item("disk", MiB, 1, 3, 0), true, 0), MC_OK);
    mc_master_ping_status_t ps;
    cr_assert_eq(mc_master_ping(m, client_id(1), 900, &ps, NULL), MC_OK);
    mc_master_tick_report_t rep;
    cr_assert_eq(mc_master_tick(m, 1500, &rep), MC_OK);
    cr_assert_eq(rep.expired_clients, 1);
    cr_assert_eq(rep.unmounted_disks, 1);
    cr_assert(!fx_present(m, "disk"), "only on the expired disk: gone");
    mc_master_replicas_t r;
    cr_assert_eq(fx_get(m, "both", 1500, &r), MC_OK);
    cr_assert_eq(r.n, 1);
    cr_assert_eq(r.rep[0].type, MC_REPLICA_MEMORY);
    mc_master_disk_info_t d;
    cr_assert_eq(mc_master_disk_get(m, client_id(2), &d), MC_CLIENT_NOT_FOUND);
    mc_master_disk_item_t it = item("both", MiB, 1, 3, 0);
    cr_assert_eq(mc_master_batch_disk_replica_add(m, client_id(2), &it, 1, false, 1600),
                 MC_CLIENT_NOT_FOUND, "re-registers after NEED_REMOUNT");
    mc_master_stats_t st;
    mc_master_stats(m, &st);
    cr_assert_eq(st.disks, 0);
    mc_master_destroy(m);
}

Test(disk, write_behind_persist_task_and_hold)
{
    mc_master_cfg_t c = disk_cfg();
    c.enable_offload = true;
    mc_master_t *m = fx_create_cfg(&c);
    fx_mount(m, 1, 8 * MiB, 1, 0);
    fx_mount(m, 2, 8 * MiB, 2, 0);
    fx_disk(m, 1, 0);
    /* client 2's puts land on its own segment: preferred */
    const char *pref[] = {"seg-1"};
    mc_master_put_cfg_t pc = {.replica_num = 1, .preferred_segments = pref, .n_preferred = 1};
    cr_assert_eq(mc_master_put_start(m, client_id(2), "k", 1, MiB, &pc, 1, NULL), MC_OK);
    cr_assert_eq(mc_master_put_end(m, client_id(2), "k", 1, true, 42, 1), MC_OK);
    const char *pref2[] = {"seg-2"};
    pc.preferred_segments = pref2;
    cr_assert_eq(mc_master_put_start(m, client_id(2), "other", 5, MiB, &pc, 1, NULL), MC_OK);
    cr_assert_eq(mc_master_put_end(m, client_id(2), "other", 5, false, 0, 1), MC_OK);
    cr_assert(mc_master_wait_tasks(m, 0), "a task wakes the sender");
    mc_master_task_batch_t *b;
    cr_assert_eq(take(m, &b), 1, "only the owner of seg-1 has a disk tier");
    cr_assert(mc_uuid_equal(b[0].client_id, client_id(1)), "the memory replica's owner");
    cr_assert_str_eq(b[0].control_url, "http://127.0.0.1:9001");
    cr_assert_eq(b[0].n, 1);
    const mc_master_task_t *t = &b[0].tasks[0];
    cr_assert_eq(t->kind, MC_TASK_PERSIST);
    cr_assert_str_eq(t->key, "k");
    cr_assert_eq(t->size, MiB);
    cr_assert(t->has_checksum);
    cr_assert_eq(t->checksum, 42);
    cr_assert(mc_uuid_equal(t->segment_id, seg_id(1)));
    mc_master_tasks_free(b, 1);
    cr_assert(!mc_master_wait_tasks(m, 0));
    /* held for the owner: not evicted meanwhile */
    mc_master_evict_report_t rep;
    cr_assert_eq(mc_master_evict(m, 5000, 2 * MiB, &rep), MC_OK);
    cr_assert(fx_present(m, "k"));
    cr_assert(!fx_present(m, "other"));
    mc_master_stats_t st;
    mc_master_stats(m, &st);
    cr_assert_eq(st.holds_taken, 1);
    /* the add releases the hold: then memory may go, the disk copy stays */
    cr_assert_eq(add1(m, 1, item("k", MiB, 42, 1, 0), false, 5001), MC_OK);
    mc_master_stats(m, &st);
    cr_assert_eq(st.holds_released, 1);
    cr_assert_eq(mc_master_evict(m, 5002, MiB, &rep), MC_OK);
    cr_assert_eq(rep.freed_bytes, MiB);
    cr_assert(fx_exists(m, "k", 5003));
    mc_master_destroy(m);
}

Test(disk, offload_on_evict_holds_until_added_or_ttl)
{
    mc_master_cfg_t c = disk_cfg();
    c.offload_on_evict = true;
    c.hold_ttl_ms = 1000;
    mc_master_t *m = fx_create_cfg(&c);
    fx_mount(m, 1, 4 * MiB, 1, 0);
    fx_mount(m, 2, 4 * MiB, 2, 0);
    fx_disk(m, 1, 0);
    const char *p1[] = {"seg-1"}, *p2[] = {"seg-2"};
    mc_master_put_cfg_t pc = {.replica_num = 1, .preferred_segments = p1, .n_preferred = 1};
    cr_assert_eq(mc_master_put_start(m, client_id(1), "a", 1, MiB, &pc, 1, NULL), MC_OK);
    cr_assert_eq(mc_master_put_end(m, client_id(1), "a", 1, true, 1, 1), MC_OK);
    cr_assert_eq(mc_master_put_start(m, client_id(1), "b", 1, MiB, &pc, 2, NULL), MC_OK);
    cr_assert_eq(mc_master_put_end(m, client_id(1), "b", 1, true, 2, 2), MC_OK);
    pc.preferred_segments = p2;
    cr_assert_eq(mc_master_put_start(m, client_id(2), "c", 1, MiB, &pc, 3, NULL), MC_OK);
    cr_assert_eq(mc_master_put_end(m, client_id(2), "c", 1, true, 3, 3), MC_OK);
    mc_master_task_batch_t *b;
    cr_assert_eq(take(m, &b), 0, "no write-behind without --enable_offload");
    mc_master_tasks_free(b, 0);
    /* the coldest two (a, b) are offloaded instead of dropped; eviction moves
     * on to c, whose owner has no disk tier */
    mc_master_evict_report_t rep;
    cr_assert_eq(mc_master_evict(m, 5000, MiB, &rep), MC_OK);
    cr_assert_eq(rep.freed_objects, 1);
    cr_assert(fx_present(m, "a"));
    cr_assert(fx_present(m, "b"));
    cr_assert(!fx_present(m, "c"));
    cr_assert_eq(take(m, &b), 1);
    cr_assert_eq(count_kind(&b[0], MC_TASK_PERSIST, NULL), 2);
    mc_master_tasks_free(b, 1);
    mc_master_stats_t st;
    mc_master_stats(m, &st);
    cr_assert_eq(st.offloaded, 2);
    /* held: a second run frees nothing */
    cr_assert_eq(mc_master_evict(m, 5100, MiB, &rep), MC_OK);
    cr_assert_eq(rep.freed_objects, 0);
    /* a's disk replica arrives: its memory may go, it stays readable */
    cr_assert_eq(add1(m, 1, item("a", MiB, 1, 1, 0), false, 5200), MC_OK);
    cr_assert_eq(mc_master_evict(m, 5300, MiB, &rep), MC_OK);
    cr_assert_eq(rep.freed_objects, 1);
    cr_assert(fx_exists(m, "a", 5300));
    /* b's hold runs out: evicted (not offloaded twice) */
    cr_assert_eq(mc_master_evict(m, 6500, MiB, &rep), MC_OK);
    cr_assert_eq(rep.freed_objects, 1);
    cr_assert(!fx_present(m, "b"));
    cr_assert_eq(take(m, &b), 0);
    mc_master_tasks_free(b, 0);
    mc_master_destroy(m);
}

Test(disk, drops_on_remove_regex_and_remove_all)
{
    mc_master_cfg_t c = disk_cfg();
    mc_master_t *m = fx_create_cfg(&c);
    fx_mount(m, 1, 8 * MiB, 1, 0);
    fx_disk(m, 1, 0);
    fx_disk(m, 2, 0);
    const char *keys[] = {"r1", "x-1", "x-2", "all"};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(add1(m, 1, item(keys[i], 10, 1, (uint64_t)i + 1, 0), true, 1), MC_OK);
        cr_assert_eq(add1(m, 2, item(keys[i], 10, 1, (uint64_t)i + 11, 0), false, 1), MC_OK);
    }
    put_csum(m, 1, "mem", MiB, 1, 1);
    int rc;
    mc_master_key_t k = {"r1", 2};
    cr_assert_eq(mc_master_batch_remove(m, &k, 1, false, 10000, &rc), MC_OK);
    cr_assert_eq(rc, MC_OK);
    mc_master_task_batch_t *b;
    size_t n = take(m, &b);
    cr_assert_eq(n, 2, "one batch per owner");
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(b[i].n, 1);
        cr_assert_eq(count_kind(&b[i], MC_TASK_DROP, "r1"), 1);
        uint64_t want = mc_uuid_equal(b[i].client_id, client_id(1)) ? 1 : 11;
        cr_assert_eq(b[i].tasks[0].bucket, want);
    }
    mc_master_tasks_free(b, n);
    uint64_t removed = 0;
    mc_errmsg_t err;
    cr_assert_eq(mc_master_remove_by_regex(m, "^x-", false, 10000, &removed, &err), MC_OK);
    cr_assert_eq(removed, 2);
    n = take(m, &b);
    cr_assert_eq(n, 2);
    cr_assert_eq(count_kind(&b[0], MC_TASK_DROP, NULL) + count_kind(&b[1], MC_TASK_DROP, NULL), 4);
    mc_master_tasks_free(b, n);
    cr_assert_eq(mc_master_remove_all(m, false, 10000, &removed), MC_OK);
    cr_assert_eq(removed, 2);
    n = take(m, &b);
    cr_assert_eq(n, 2, "'all' on both disks; 'mem' has no disk replica");
    cr_assert_eq(b[0].n + b[1].n, 2);
    mc_master_tasks_free(b, n);
    mc_master_stats_t st;
    mc_master_stats(m, &st);
    cr_assert_eq(st.disk_replicas, 0);
    cr_assert_eq(st.objects, 0);
    mc_master_destroy(m);
}

Test(disk, queues_are_bounded_per_owner)
{
    mc_master_cfg_t c = disk_cfg();
    c.max_tasks_per_owner = 3;
    mc_master_t *m = fx_create_cfg(&c);
    fx_disk(m, 1, 0);
    char key[16];
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        cr_assert_eq(add1(m, 1, item(key, 10, 1, 1, 0), true, 1), MC_OK);
    }
    uint64_t removed = 0;
    cr_assert_eq(mc_master_remove_all(m, false, 10000, &removed), MC_OK);
    cr_assert_eq(removed, 5, "removes are not refused by a full queue");
    mc_master_stats_t st;
    mc_master_stats(m, &st);
    cr_assert_eq(st.tasks_queued, 3);
    cr_assert_eq(st.tasks_dropped, 2);
    mc_master_disk_info_t d;
    cr_assert_eq(mc_master_disk_get(m, client_id(1), &d), MC_OK);
    cr_assert_eq(d.tasks_queued, 3);
    cr_assert_eq(d.tasks_dropped, 2);
    mc_master_task_batch_t *b;
    cr_assert_eq(take(m, &b), 1);
    cr_assert_eq(b[0].n, 3);
    mc_master_tasks_free(b, 1);
    mc_master_tasks_report(m, client_id(1), 2, 1);
    mc_master_stats(m, &st);
    cr_assert_eq(st.tasks_sent, 2);
    cr_assert_eq(st.tasks_failed, 1);
    cr_assert_eq(mc_master_disk_get(m, client_id(1), &d), MC_OK);
    cr_assert_eq(d.tasks_queued, 0);
    cr_assert_eq(d.tasks_sent, 2);
    mc_master_cfg_t bad = disk_cfg();
    bad.max_tasks_per_owner = 0;
    mc_master_t *x = NULL;
    cr_assert_eq(mc_master_create(&bad, &x), MC_INVALID_PARAMS);
    mc_master_destroy(m);
}

Test(disk, many_disk_replicas_grow_a_held_object)
{
    mc_master_cfg_t c = disk_cfg();
    mc_master_t *m = fx_create_cfg(&c);
    fx_mount(m, 1, 8 * MiB, 1, 0);
    put_csum(m, 1, "k", MiB, 5, 1);
    mc_master_key_t k = {"k", 1};
    mc_master_replicas_t r;
    int rc;
    cr_assert_eq(mc_master_batch_get_hold(m, client_id(1), &k, 1, 2, &r, &rc), MC_OK);
    cr_assert_eq(rc, MC_OK);
    for (uint64_t o = 2; o <= 9; o++) {
        fx_disk(m, o, 2);
        int want = o <= 8 ? MC_OK : MC_NO_AVAILABLE_HANDLE; /* MC_MAX_REPLICAS in all */
        cr_assert_eq(add1(m, o, item("k", MiB, 5, o, 0), false, 3), want, "owner %llu",
                     (unsigned long long)o);
    }
    cr_assert_eq(fx_get(m, "k", 4, &r), MC_OK);
    cr_assert_eq(r.n, MC_MAX_REPLICAS);
    /* the hold moved with the object: released by key, and eviction obeys it before */
    mc_master_evict_report_t rep;
    cr_assert_eq(mc_master_evict(m, 5, MiB, &rep), MC_OK);
    cr_assert_eq(rep.freed_objects, 0, "held");
    cr_assert_eq(mc_master_batch_release(m, client_id(1), &k, 1, 6, &rc), MC_OK);
    cr_assert_eq(rc, MC_OK);
    mc_master_destroy(m);
}

Test(disk, a_full_queue_keeps_drops_over_persists)
{
    mc_master_cfg_t c = disk_cfg();
    c.max_tasks_per_owner = 2;
    c.enable_offload = true;
    mc_master_t *m = fx_create_cfg(&c);
    fx_mount(m, 1, 8 * MiB, 1, 0);
    fx_disk(m, 1, 0);
    fx_put(m, 1, "p1", MiB, 1);
    fx_put(m, 1, "p2", MiB, 1);
    fx_put(m, 1, "p3", MiB, 1); /* full: dropped */
    cr_assert_eq(add1(m, 1, item("d1", 10, 1, 4, 0), true, 1), MC_OK);
    cr_assert_eq(mc_master_remove(m, "d1", 2, false, 10000), MC_OK);
    mc_master_task_batch_t *b;
    cr_assert_eq(take(m, &b), 1);
    cr_assert_eq(b[0].n, 2);
    cr_assert_eq(count_kind(&b[0], MC_TASK_PERSIST, "p1"), 1, "the oldest persist stays");
    cr_assert_eq(count_kind(&b[0], MC_TASK_DROP, "d1"), 1, "the drop took p2's place");
    mc_master_tasks_free(b, 1);
    mc_master_stats_t st;
    mc_master_stats(m, &st);
    cr_assert_eq(st.tasks_dropped, 2);
    mc_master_destroy(m);
}
