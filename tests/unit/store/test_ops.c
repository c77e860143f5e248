/* store_ops.c (put_run, get_run and the pass-through calls) against a fake
 * master (fake_master.c) and a real transfer engine whose "remote" segments
 * are registered on the same engine, so their copies take its in-memory
 * back end. The store's own segment is a real memfd; its copies are
 * memcpys. End-to-end over HTTP and TCP: tests/integration/test_store.py. */
#include "fake_master.h"
#include "mc/errors.h"
#include "mc/log.h"
#include "mc/strutil.h"
#include "store_internal.h"
#include "store_routes.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REMOTE_SIZE (1u << 20)
#define REMOTE_EPOCH 7u

static fake_master_t fm;
static mc_metrics_t *metrics;
static store_service_t *svc;
static char *remote[2]; /* "remote-a", "remote-b" */
static const char *const remote_name[2] = {"remote-a", "remote-b"};

/* Registers buf as segment name on the store's engine and opens it the way
 * a peer's segment is opened (from its descriptor: P2P, no metadata). */
static void add_remote(const char *name, char *buf)
{
    char *desc = NULL;
    size_t len = 0;
    mc_te_segment_t *seg = NULL;
    char uuid[MC_UUID_STR_LEN];

    /* the descriptor carries the id the (fake) master gives its replicas */
    fake_master_add_segment(&fm, name, REMOTE_EPOCH, REMOTE_SIZE);
    mc_uuid_format(fake_master_segment_id(&fm, name), uuid);
    cr_assert_eq(mc_te_register_segment_uuid(svc->te, name, buf, REMOTE_SIZE, REMOTE_EPOCH, uuid),
                 MC_OK);
    cr_assert_eq(mc_te_describe_segment(svc->te, name, &desc, &len), MC_OK);
    cr_assert_eq(mc_te_open_segment_desc(svc->te, desc, len, &seg), MC_OK);
    free(desc);
}

static void setup(void)
{
    store_config_t cfg;
    mc_cfg_result_t res;
    mc_errmsg_t err = {""};

    mc_log_set_level(MC_LOG_WARN);
    fake_master_init(&fm);
    cr_assert_eq(mc_config_defaults(&store_config_spec, &cfg, &res), MC_CFG_LOADED);
    mc_strlcpy(cfg.local_hostname, "127.0.0.1:0", sizeof(cfg.local_hostname));
    mc_strlcpy(cfg.metadata_server, "P2P", sizeof(cfg.metadata_server));
    cfg.global_segment_size = 4u << 20;
    cfg.populate_segment = false;
    cfg.transfer_timeout_ms = 2000;
    metrics = mc_metrics_create();
    cr_assert_not_null(metrics);
    cr_assert_eq(store_service_create_with_master(&cfg, metrics, fake_master_wrap(&fm), &svc, &err),
                 MC_OK, "%s", err.msg);
    cr_assert_neq(atomic_load(&svc->epoch), 0, "mounted with the fake at start-up");
    for (int i = 0; i < 2; i++) {
        remote[i] = calloc(1, REMOTE_SIZE);
        cr_assert_not_null(remote[i]);
        add_remote(remote_name[i], remote[i]);
    }
}

static void teardown(void)
{
    store_service_destroy(svc);
    for (int i = 0; i < 2; i++) {
        free(remote[i]);
        remote[i] = NULL;
    }
    mc_metrics_destroy(metrics);
    fake_master_cleanup(&fm);
}

TestSuite(store_ops, .init = setup, .fini = teardown, .timeout = 30);

/* ---- helpers ---- */

static void put_segs(const char *a, const char *b)
{
    fm.put_segs[0] = a;
    fm.put_segs[1] = b;
    fm.n_put_segs = b ? 2 : 1;
}

static int put1(const char *key, const void *val, uint64_t size, uint32_t replicas)
{
    size_t klen = strlen(key);
    store_put_opts_t o = {.replica_num = replicas};
    int code = 12345;

    store_put_batch(svc, 1, &key, &klen, &val, &size, &o, &code);
    return code;
}

static int get1(const char *key, store_value_t *v)
{
    size_t klen = strlen(key);
    int code = 12345;

    store_get_batch_alloc(svc, 1, &key, &klen, v, &code);
    return code;
}

static void fill(char *buf, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)(seed * 131u + i * 7u);
}

static const char *own(void)
{
    return store_service_segment_name(svc);
}

/* Expects key to read back exactly want[0..n). */
static void expect_value(const char *key, const char *want, size_t n)
{
    store_value_t v = {NULL, 0};
    int code = get1(key, &v);

    cr_assert_eq(code, MC_OK, "get %s: %s", key, mc_err_name(code));
    cr_assert_eq(v.size, n);
    cr_expect(memcmp(v.data, want, n) == 0, "bytes of %s", key);
    free(v.data);
}

/* ---- put ---- */

Test(store_ops, put_writes_every_replica_then_ends)
{
    char val[3000];
    const fake_obj_t *o;

    fill(val, sizeof(val), 1);
    put_segs(own(), "remote-a");
    cr_assert_eq(put1("k1", val, sizeof(val), 2), MC_OK);
    o = fake_master_find(&fm, "k1");
    cr_assert_not_null(o);
    cr_expect_eq(o->state, FAKE_COMPLETE, "put_end reached the master");
    cr_assert_eq(o->n, 2);
    cr_expect(memcmp((char *)svc->seg.base + o->rep[0].offset, val, sizeof(val)) == 0,
              "local copy");
    cr_expect(memcmp(remote[0] + o->rep[1].offset, val, sizeof(val)) == 0, "remote copy");
    cr_expect_eq(fm.calls[STORE_M_PUT_START], 1);
    cr_expect_eq(fm.calls[STORE_M_PUT_END], 1);
    cr_expect_eq(fm.calls[STORE_M_PUT_REVOKE], 0);
    expect_value("k1", val, sizeof(val));
}

Test(store_ops, failed_remote_write_is_reported_and_put_again_elsewhere)
{
    char val[100];
    const fake_obj_t *o;

    fill(val, sizeof(val), 2);
    /* the master knows this segment; the engine cannot reach it */
    fake_master_add_segment(&fm, "remote-gone", REMOTE_EPOCH, REMOTE_SIZE);
    put_segs(own(), "remote-gone");
    cr_expect_eq(put1("k2", val, sizeof(val), 2), MC_OK, "the retry lands on the live segment");
    cr_expect_eq(fm.reports, 1, "the failed segment reported once");
    cr_expect_eq(fm.calls[STORE_M_PUT_START], 2);
    cr_expect_eq(fm.calls[STORE_M_PUT_REVOKE], 1, "the first attempt revoked");
    cr_expect_eq(fm.calls[STORE_M_PUT_END], 1);
    o = fake_master_find(&fm, "k2");
    cr_assert_not_null(o);
    cr_expect_eq(o->n, 1);
    cr_expect_str_eq(o->rep[0].segment, own());
    expect_value("k2", val, sizeof(val));
    /* later puts are not placed there: no failed write, no report */
    cr_expect_eq(put1("k3", val, sizeof(val), 2), MC_OK);
    cr_expect_eq(fm.reports, 1);
    cr_expect_eq(fm.calls[STORE_M_PUT_REVOKE], 1);
}

/* A mixed batch: the keys whose copies all succeed are ended and the one
 * whose copy failed is revoked, one master round trip per phase. */
Test(store_ops, one_batch_ends_some_keys_and_revokes_others)
{
    const char *keys[3] = {"m1", "m2", "m3"};
    size_t lens[3] = {2, 2, 2};
    char a[64], b[64], c[64];
    const void *vals[3] = {a, b, c};
    uint64_t sizes[3] = {64, 64, 64};
    int codes[3];

    fill(a, 64, 6);
    fill(b, 64, 7);
    fill(c, 64, 8);
    fake_master_add_segment(&fm, "remote-gone", REMOTE_EPOCH, REMOTE_SIZE);
    put_segs("remote-a", NULL);
    fm.odd_key = "m2";
    fm.odd_seg = "remote-gone";
    store_put_batch(svc, 3, keys, lens, vals, sizes, NULL, codes);
    cr_expect_eq(codes[0], MC_OK);
    cr_expect_eq(codes[1], MC_NO_AVAILABLE_HANDLE, "retried once: nowhere else to go");
    cr_expect_eq(codes[2], MC_OK);
    cr_expect_eq(fm.calls[STORE_M_PUT_START], 2, "one round trip per phase, and the retry");
    cr_expect_eq(fm.calls[STORE_M_PUT_END], 1);
    cr_expect_eq(fm.calls[STORE_M_PUT_REVOKE], 1);
    cr_expect_null(fake_master_find(&fm, "m2"), "revoked");
    cr_expect_eq(fake_master_find(&fm, "m1")->state, FAKE_COMPLETE);
    cr_expect_eq(fake_master_find(&fm, "m3")->state, FAKE_COMPLETE);
    expect_value("m3", c, sizeof(c));
}

static void go_down_before(fake_master_t *f, store_master_call_t call, void *arg)
{
    if (call == *(const store_master_call_t *)arg)
        fake_master_set_down(f, true);
}

Test(store_ops, master_gone_before_put_end_fails_the_key)
{
    char val[128];
    store_master_call_t when = STORE_M_PUT_END;
    const fake_obj_t *o;

    fill(val, sizeof(val), 9);
    put_segs(own(), NULL);
    fm.hook = go_down_before;
    fm.hook_arg = &when;
    cr_expect_eq(put1("k3", val, sizeof(val), 1), MC_RPC_FAIL,
                 "a put the master never confirmed is not a success");
    o = fake_master_find(&fm, "k3");
    cr_assert_not_null(o);
    cr_expect_eq(o->state, FAKE_PENDING, "left for the master's put timeout to reclaim");
}

Test(store_ops, master_gone_before_put_start_fails_every_key)
{
    const char *keys[2] = {"d1", "d2"};
    size_t lens[2] = {2, 2};
    char v[8] = "abcdefg";
    const void *vals[2] = {v, v};
    uint64_t sizes[2] = {8, 8};
    int codes[2];

    fake_master_set_down(&fm, true);
    store_put_batch(svc, 2, keys, lens, vals, sizes, NULL, codes);
    cr_expect_eq(codes[0], MC_RPC_FAIL);
    cr_expect_eq(codes[1], MC_RPC_FAIL);
}

Test(store_ops, whole_request_error_reaches_every_key)
{
    char v[16] = "0123456789abcde";

    fm.fail_code[STORE_M_PUT_START] = MC_ILLEGAL_CLIENT;
    cr_expect_eq(put1("k4", v, sizeof(v), 1), MC_ILLEGAL_CLIENT);
    cr_expect_eq(fm.calls[STORE_M_PUT_END] + fm.calls[STORE_M_PUT_REVOKE], 0);
}

/* A second put of the same key lands while the first is between put_start
 * and its answer: the first sees ALREADY_EXISTS and succeeds without
 * writing; the bytes stored are the second put's, whole. */
static int racing;
static char race_val[2][4096];

static void race_put(fake_master_t *f, store_master_call_t call, void *arg)
{
    (void)arg;
    if (call != STORE_M_PUT_START || racing++)
        return;
    f->hook = NULL;
    cr_expect_eq(put1("race", race_val[1], sizeof(race_val[1]), 1), MC_OK);
}

Test(store_ops, racing_put_of_the_same_key)
{
    racing = 0;
    fill(race_val[0], sizeof(race_val[0]), 10);
    fill(race_val[1], sizeof(race_val[1]), 11);
    put_segs("remote-a", NULL);
    fm.hook = race_put;
    cr_expect_eq(put1("race", race_val[0], sizeof(race_val[0]), 1), MC_OK);
    cr_expect_eq(fm.calls[STORE_M_PUT_END], 1, "only the winner ends");
    cr_expect_eq(fm.calls[STORE_M_PUT_REVOKE], 0);
    expect_value("race", race_val[1], sizeof(race_val[1]));
}

Test(store_ops, bad_keys_are_answered_without_the_master)
{
    const char *keys[3] = {"good", "", "also"};
    size_t lens[3] = {4, 0, 4};
    char v[4] = "xyz";
    const void *vals[3] = {v, v, v};
    uint64_t sizes[3] = {4, 4, 0};
    int codes[3];

    put_segs(own(), NULL);
    store_put_batch(svc, 3, keys, lens, vals, sizes, NULL, codes);
    cr_expect_eq(codes[0], MC_OK);
    cr_expect_eq(codes[1], MC_INVALID_KEY);
    cr_expect_eq(codes[2], MC_INVALID_PARAMS, "an empty value");
    cr_expect_null(fake_master_find(&fm, "also"));
    store_put_batch(svc, 0, keys, lens, vals, sizes, NULL, codes);
    store_put_batch(svc, 1, keys, lens, NULL, sizes, NULL, codes);
    cr_expect_eq(codes[0], MC_INVALID_PARAMS);
}

/* ---- get ---- */

Test(store_ops, get_fails_over_to_the_next_replica)
{
    char val[5000];

    fill(val, sizeof(val), 12);
    put_segs("remote-a", "remote-b");
    cr_assert_eq(put1("fo", val, sizeof(val), 2), MC_OK);
    /* the first replica's owner withdraws its segment */
    cr_assert_eq(mc_te_unregister_segment(svc->te, "remote-a"), MC_OK);
    expect_value("fo", val, sizeof(val));
    cr_assert_eq(mc_te_unregister_segment(svc->te, "remote-b"), MC_OK);
    {
        store_value_t v = {(void *)1, 1};
        cr_expect_eq(get1("fo", &v), MC_TRANSFER_FAIL, "no replica left");
        cr_expect_null(v.data, "a failed read hands out no bytes");
        cr_expect_eq(v.size, 0);
    }
}

/* ---- holds: every copy runs under a hold, released in one call ---- */

Test(store_ops, get_takes_and_releases_a_hold_per_key)
{
    const char *keys[3] = {"h1", "nope", "h2"};
    size_t lens[3] = {2, 4, 2};
    store_value_t v[3] = {{NULL, 0}, {NULL, 0}, {NULL, 0}};
    int codes[3];
    char val[300];

    fill(val, sizeof(val), 21);
    put_segs(own(), NULL);
    cr_assert_eq(put1("h1", val, sizeof(val), 1), MC_OK);
    put_segs("remote-a", NULL);
    cr_assert_eq(put1("h2", val, sizeof(val), 1), MC_OK);
    store_get_batch_alloc(svc, 3, keys, lens, v, codes);
    cr_expect_eq(codes[0], MC_OK);
    cr_expect_eq(codes[1], MC_OBJECT_NOT_FOUND);
    cr_expect_eq(codes[2], MC_OK);
    store_service_flush_releases(svc); /* releases leave from a background thread */
    cr_expect_eq(fm.holds_taken, 2);
    cr_expect_eq(fm.holds_released, 2);
    cr_expect_eq(fm.calls[STORE_M_RELEASE], 1, "one release call per batch");
    cr_expect_eq(fake_master_find(&fm, "h1")->holds, 0);
    cr_expect_eq(fake_master_find(&fm, "h2")->holds, 0);
    for (int i = 0; i < 3; i++)
        free(v[i].data);
}

Test(store_ops, failed_copy_still_releases_its_hold)
{
    char val[1000];
    store_value_t v = {NULL, 0};

    fill(val, sizeof(val), 22);
    put_segs("remote-a", NULL);
    cr_assert_eq(put1("hf", val, sizeof(val), 1), MC_OK);
    cr_assert_eq(mc_te_unregister_segment(svc->te, "remote-a"), MC_OK);
    cr_expect_eq(get1("hf", &v), MC_TRANSFER_FAIL);
    cr_expect_null(v.data);
    store_service_flush_releases(svc);
    cr_expect_eq(fm.holds_taken, 1);
    cr_expect_eq(fm.holds_released, 1);
    cr_expect_eq(fake_master_find(&fm, "hf")->holds, 0);
}

Test(store_ops, master_gone_before_release_still_returns_the_bytes)
{
    char val[700];
    store_master_call_t when = STORE_M_RELEASE;

    fill(val, sizeof(val), 23);
    put_segs("remote-a", NULL);
    cr_assert_eq(put1("hg", val, sizeof(val), 1), MC_OK);
    fm.hook = go_down_before;
    fm.hook_arg = &when;
    expect_value("hg", val, sizeof(val));
    store_service_flush_releases(svc);
    cr_expect_eq(fm.calls[STORE_M_RELEASE], 1);
    cr_expect_eq(fake_master_find(&fm, "hg")->holds, 1, "left for the master's hold TTL");
}

static void unknown_once(fake_master_t *f, store_master_call_t call, void *arg)
{
    int *n = arg;
    if (call == STORE_M_GET_REPLICAS)
        f->fail_code[call] = (*n)++ == 0 ? MC_CLIENT_NOT_FOUND : MC_OK;
}

Test(store_ops, unknown_client_reads_under_the_lease_alone)
{
    char val[64];
    int n = 0;

    fill(val, sizeof(val), 24);
    put_segs(own(), NULL);
    cr_assert_eq(put1("hu", val, sizeof(val), 1), MC_OK);
    fm.hook = unknown_once;
    fm.hook_arg = &n;
    expect_value("hu", val, sizeof(val));
    cr_expect_eq(n, 2, "asked again without a hold");
    store_service_flush_releases(svc);
    cr_expect_eq(fm.holds_taken, 0);
    cr_expect_eq(fm.calls[STORE_M_RELEASE], 0, "nothing to release");
}

Test(store_ops, stale_replica_of_our_own_segment_is_skipped)
{
    char val[256];
    fake_obj_t *o;

    fill(val, sizeof(val), 13);
    put_segs(own(), "remote-a");
    cr_assert_eq(put1("st", val, sizeof(val), 2), MC_OK);
    o = fake_master_find(&fm, "st");
    cr_assert_not_null(o);
    o->rep[0].epoch += 100; /* from a mount we no longer hold */
    memset((char *)svc->seg.base + o->rep[0].offset, 0, sizeof(val));
    expect_value("st", val, sizeof(val));
}

static void slow_answer(fake_master_t *f, store_master_call_t call, void *arg)
{
    struct timespec ts = {0, 150 * 1000000L};
    (void)f;
    (void)arg;
    if (call == STORE_M_GET_REPLICAS)
        nanosleep(&ts, NULL);
}

Test(store_ops, copy_outliving_its_lease_is_not_handed_out)
{
    char val[512];
    store_value_t v = {NULL, 0};

    fill(val, sizeof(val), 14);
    put_segs(own(), NULL);
    cr_assert_eq(put1("ls", val, sizeof(val), 1), MC_OK);
    /* 50 ms of lease, granted 150 ms before the answer reaches us: the
     * copy cannot finish inside it, whatever the machine's speed */
    fm.lease_ms = 50;
    fm.hook = slow_answer;
    cr_expect_eq(get1("ls", &v), MC_LEASE_EXPIRED);
    cr_expect_null(v.data);
    put_segs("remote-a", NULL);
    cr_assert_eq(put1("ls2", val, sizeof(val), 1), MC_OK);
    cr_expect_eq(get1("ls2", &v), MC_LEASE_EXPIRED, "remote copies too");
    cr_expect_null(v.data);
}

Test(store_ops, missing_key_is_object_not_found)
{
    store_value_t v = {NULL, 0};
    cr_expect_eq(get1("nope", &v), MC_OBJECT_NOT_FOUND);
    cr_expect_null(v.data);
}

Test(store_ops, master_down_serves_still_leased_local_reads_only)
{
    char a[300], b[300];
    store_value_t v = {NULL, 0};

    fill(a, sizeof(a), 15);
    fill(b, sizeof(b), 16);
    put_segs(own(), NULL);
    cr_assert_eq(put1("loc", a, sizeof(a), 1), MC_OK);
    put_segs("remote-a", NULL);
    cr_assert_eq(put1("rem", b, sizeof(b), 1), MC_OK);
    expect_value("loc", a, sizeof(a)); /* granted a lease on our own segment */
    expect_value("rem", b, sizeof(b));
    fake_master_set_down(&fm, true);
    expect_value("loc", a, sizeof(a));
    cr_expect_eq(get1("rem", &v), MC_RPC_FAIL, "another segment needs the master");
    cr_expect_null(v.data);
}

Test(store_ops, master_down_and_lease_run_out_is_rpc_fail)
{
    char a[64];
    store_value_t v = {NULL, 0};
    struct timespec ts = {0, 120 * 1000000L};

    fill(a, sizeof(a), 17);
    put_segs(own(), NULL);
    cr_assert_eq(put1("short", a, sizeof(a), 1), MC_OK);
    fm.lease_ms = 100;
    expect_value("short", a, sizeof(a));
    fake_master_set_down(&fm, true);
    nanosleep(&ts, NULL); /* the lease granted above is over */
    cr_expect_eq(get1("short", &v), MC_RPC_FAIL);
    cr_expect_null(v.data);
}

/* A sink that has room for the first key only. */
typedef struct one_slot {
    char buf[4096];
    int calls;
} one_slot_t;

static int place_first(void *ctx, size_t n, const uint64_t *sizes, void **dst)
{
    one_slot_t *s = ctx;

    s->calls++;
    for (size_t i = 0; i < n; i++)
        dst[i] = i == 0 && sizes[0] <= sizeof(s->buf) ? s->buf : NULL;
    return MC_OK;
}

Test(store_ops, sink_decides_where_values_go)
{
    const char *keys[3] = {"s1", "s2", "s3"};
    size_t lens[3] = {2, 2, 2};
    char a[1000], b[1000];
    uint64_t sizes[3];
    int codes[3];
    one_slot_t slot = {.calls = 0};
    store_get_sink_t sink = {place_first, &slot, false};

    fill(a, sizeof(a), 18);
    fill(b, sizeof(b), 19);
    put_segs(own(), NULL);
    cr_assert_eq(put1("s1", a, sizeof(a), 1), MC_OK);
    put_segs("remote-b", NULL);
    cr_assert_eq(put1("s2", b, sizeof(b), 1), MC_OK);
    store_get_batch(svc, 3, keys, lens, &sink, sizes, codes);
    cr_expect_eq(slot.calls, 1, "placed once per batch");
    cr_expect_eq(codes[0], MC_OK);
    cr_expect_eq(sizes[0], sizeof(a));
    cr_expect(memcmp(slot.buf, a, sizeof(a)) == 0);
    cr_expect_eq(codes[1], MC_BUFFER_OVERFLOW, "left out by the sink");
    cr_expect_eq(sizes[1], 0);
    cr_expect_eq(codes[2], MC_OBJECT_NOT_FOUND);
    cr_expect_eq(fm.calls[STORE_M_GET_REPLICAS], 1, "one round trip for the batch");
}

/* ---- pass-through ---- */

Test(store_ops, exist_size_remove)
{
    const char *keys[2] = {"e1", "e2"};
    size_t lens[2] = {2, 2};
    bool ex[2];
    uint64_t sz[2];
    int codes[2];
    uint64_t removed = 0;
    char v[10] = "123456789";

    put_segs(own(), NULL);
    cr_assert_eq(put1("e1", v, sizeof(v), 1), MC_OK);
    store_exist_batch(svc, 2, keys, lens, ex, codes);
    cr_expect(codes[0] == MC_OK && ex[0]);
    cr_expect(codes[1] == MC_OK && !ex[1]);
    store_size_batch(svc, 2, keys, lens, sz, codes);
    cr_expect(codes[0] == MC_OK && sz[0] == sizeof(v));
    cr_expect_eq(codes[1], MC_OBJECT_NOT_FOUND);
    store_remove_batch(svc, 2, keys, lens, false, codes);
    cr_expect_eq(codes[0], MC_OK);
    cr_expect_eq(codes[1], MC_OBJECT_NOT_FOUND);
    cr_expect_null(fake_master_find(&fm, "e1"));
    cr_assert_eq(put1("e2", v, sizeof(v), 1), MC_OK);
    cr_expect_eq(store_remove_many(svc, NULL, false, &removed), MC_OK);
    cr_expect_eq(removed, 1);
    fake_master_set_down(&fm, true);
    store_exist_batch(svc, 2, keys, lens, ex, codes);
    cr_expect_eq(codes[0], MC_RPC_FAIL);
    cr_expect(!ex[0]);
}

/* ---- the REST routes in memory (mc_http_server_inject), same fixture ---- */

static mc_http_server_t *srv;
static store_routes_t routes;

static void routes_setup(void)
{
    setup();
    routes = (store_routes_t){.svc = svc, .max_reply = 1u << 20, .max_reply_memory = 8u << 20};
    srv = mc_http_server_create(&(mc_http_server_opts_t){.threads = 1});
    cr_assert_not_null(srv);
    cr_assert_eq(store_routes_register(srv, &routes, 2u << 20), MC_OK);
}

static void routes_teardown(void)
{
    mc_http_server_destroy(srv);
    teardown();
}

TestSuite(store_routes, .init = routes_setup, .fini = routes_teardown, .timeout = 30);

static void call(const char *method, const char *target, const void *body, size_t len,
                 mc_http_captured_t *r)
{
    mc_http_inject_t in = {.method = method, .target = target, .body = body, .len = len};
    cr_assert_eq(mc_http_server_inject(srv, &in, r), MC_OK);
}

static void call_json(const char *method, const char *target, const char *body,
                      mc_http_captured_t *r)
{
    call(method, target, body, body ? strlen(body) : 0, r);
}

/* A batch GET whose middle key fails after its slice was laid out: the
 * reply carries the other values back to back, and none of the failed
 * key's bytes. */
Test(store_routes, batch_get_squeezes_out_failed_keys)
{
    static char a[3000], b[2000], c[1000];
    mc_http_captured_t r;
    const char *nl;
    size_t hlen;

    fill(a, sizeof(a), 20);
    fill(b, sizeof(b), 21);
    fill(c, sizeof(c), 22);
    put_segs(own(), NULL);
    cr_assert_eq(put1("ga", a, sizeof(a), 1), MC_OK);
    put_segs("remote-b", NULL);
    cr_assert_eq(put1("gb", b, sizeof(b), 1), MC_OK);
    put_segs("remote-a", NULL);
    cr_assert_eq(put1("gc", c, sizeof(c), 1), MC_OK);
    cr_assert_eq(mc_te_unregister_segment(svc->te, "remote-b"), MC_OK);
    call_json("POST", "/api/v1/batch/get", "{\"keys\":[\"ga\",\"gb\",\"nope\",\"gc\"]}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    nl = memchr(r.body, '\n', r.len);
    cr_assert_not_null(nl);
    hlen = (size_t)(nl - r.body);
    cr_expect(strstr(r.headers, "X-Header-Length") != NULL);
    cr_expect(strncmp(r.body,
                      "{\"results\":[{\"code\":0,\"size\":3000},{\"code\":-800},"
                      "{\"code\":-704},{\"code\":0,\"size\":1000}]}",
                      hlen) == 0,
              "%.*s", (int)hlen, r.body);
    cr_assert_eq(r.len, hlen + 1 + sizeof(a) + sizeof(c));
    cr_expect(memcmp(nl + 1, a, sizeof(a)) == 0);
    cr_expect(memcmp(nl + 1 + sizeof(a), c, sizeof(c)) == 0);
    mc_http_captured_cleanup(&r);
    call("GET", "/api/v1/objects/gb", NULL, 0, &r);
    cr_expect_eq(r.status, 502, "its one replica is unreachable");
    mc_http_captured_cleanup(&r);
    cr_expect_eq(atomic_load(&routes.reply_bytes), 0, "failed reads give their reservation back");
}

Test(store_routes, batch_get_stops_at_the_reply_cap)
{
    static char big[600 << 10];
    mc_http_captured_t r;

    fill(big, sizeof(big), 23);
    put_segs(own(), NULL);
    cr_assert_eq(put1("c1", big, sizeof(big), 1), MC_OK);
    cr_assert_eq(put1("c2", big, sizeof(big), 1), MC_OK);
    call_json("POST", "/api/v1/batch/get", "{\"keys\":[\"c1\",\"c2\"]}", &r);
    cr_assert_eq(r.status, 200);
    cr_expect(strstr(r.body, "{\"code\":0,\"size\":614400},{\"code\":-10}") != NULL, "%.80s",
              r.body);
    cr_expect(r.len < sizeof(big) + 200, "one value, not two");
    mc_http_captured_cleanup(&r);
}

Test(store_routes, batch_routes_take_the_public_shape)
{
    mc_http_captured_t r;
    char v[5] = "abcd";

    put_segs(own(), NULL);
    cr_assert_eq(put1("p1", v, sizeof(v), 1), MC_OK);
    call_json("POST", "/api/v1/batch/exist",
              "{\"client_id\":\"x\",\"keys\":[\"p1\",\"p2\"],\"future\":1}", &r);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(r.body, "{\"results\":[{\"code\":0,\"exists\":true},"
                             "{\"code\":0,\"exists\":false}]}");
    mc_http_captured_cleanup(&r);
    call_json("POST", "/api/v1/batch/remove", "{\"key\":\"p1\"}", &r);
    cr_expect_eq(r.status, 400, "the single-key form is the master's, not ours");
    cr_expect(strstr(r.body, "\"code\":-600") != NULL, "%s", r.body);
    mc_http_captured_cleanup(&r);
    call_json("POST", "/api/v1/batch/remove", "{\"keys\":[\"p1\\u0000x\"]}", &r);
    cr_expect_eq(r.status, 400);
    cr_expect(strstr(r.body, "\"code\":-400") != NULL, "%s", r.body);
    cr_expect_not_null(fake_master_find(&fm, "p1"), "nothing removed");
    mc_http_captured_cleanup(&r);
    call_json("POST", "/api/v1/batch/remove", "{\"keys\":[\"p1\",\"p2\"],\"force\":true}", &r);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(r.body, "{\"results\":[{\"code\":0},{\"code\":-704}]}");
    cr_expect_null(fake_master_find(&fm, "p1"));
    mc_http_captured_cleanup(&r);
}

Test(store_routes, object_routes)
{
    mc_http_captured_t r;
    static const char val[] = "raw\0bytes";

    put_segs(own(), NULL);
    call("PUT", "/api/v1/objects/o1?replica_num=1", val, sizeof(val), &r);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(r.body, "{\"status\":\"ok\",\"code\":0}");
    mc_http_captured_cleanup(&r);
    call("GET", "/api/v1/objects/o1", NULL, 0, &r);
    cr_expect_eq(r.status, 200);
    cr_assert_eq(r.len, sizeof(val));
    cr_expect(memcmp(r.body, val, sizeof(val)) == 0);
    mc_http_captured_cleanup(&r);
    call("GET", "/api/exist/o1", NULL, 0, &r);
    cr_expect_str_eq(r.body, "{\"exists\":true}");
    mc_http_captured_cleanup(&r);
    call("PUT", "/api/v1/objects/o2?replica_num=9", val, sizeof(val), &r);
    cr_expect_eq(r.status, 400);
    mc_http_captured_cleanup(&r);
    fake_master_set_down(&fm, true);
    call("GET", "/api/get/o2", NULL, 0, &r);
    cr_expect_eq(r.status, mc_err_http_status(MC_RPC_FAIL));
    cr_expect(strstr(r.body, "\"code\":-900") != NULL, "%s", r.body);
    mc_http_captured_cleanup(&r);
    fake_master_set_down(&fm, false);
    call("DELETE", "/api/remove_all?force=true", NULL, 0, &r);
    cr_expect_str_eq(r.body, "{\"removed\":1}");
    mc_http_captured_cleanup(&r);
}

/* The header line of a batch GET reply, NUL-terminated (static). */
static const char *batch_header(const mc_http_captured_t *r, size_t *hlen)
{
    static char hdr[4096];
    const char *nl = memchr(r->body, '\n', r->len);

    cr_assert_not_null(nl, "%.200s", r->body);
    *hlen = (size_t)(nl - r->body);
    cr_assert_lt(*hlen, sizeof(hdr));
    memcpy(hdr, r->body, *hlen);
    hdr[*hlen] = '\0';
    return hdr;
}

/* A key named several times is one master lookup and one copy (one hold),
 * and its bytes come back once per mention, in request order. */
Test(store_routes, batch_get_reads_a_repeated_key_once)
{
    static char a[3000], b[1000];
    mc_http_captured_t r;
    const char *body;
    unsigned holds;
    size_t hlen;

    fill(a, sizeof(a), 30);
    fill(b, sizeof(b), 31);
    put_segs("remote-a", NULL);
    cr_assert_eq(put1("ra", a, sizeof(a), 1), MC_OK);
    cr_assert_eq(put1("rb", b, sizeof(b), 1), MC_OK);
    holds = fm.holds_taken;
    call_json("POST", "/api/v1/batch/get",
              "{\"keys\":[\"ra\",\"rb\",\"ra\",\"nope\",\"ra\",\"nope\",\"rb\"]}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_expect_eq(fm.holds_taken - holds, 2, "one hold per distinct key found, not per mention");
    cr_expect_str_eq(batch_header(&r, &hlen),
                     "{\"results\":[{\"code\":0,\"size\":3000},{\"code\":0,\"size\":1000},"
                     "{\"code\":0,\"size\":3000},{\"code\":-704},{\"code\":0,\"size\":3000},"
                     "{\"code\":-704},{\"code\":0,\"size\":1000}]}");
    cr_assert_eq(r.len, hlen + 1 + 3 * sizeof(a) + 2 * sizeof(b));
    body = r.body + hlen + 1;
    cr_expect(memcmp(body, a, sizeof(a)) == 0);
    cr_expect(memcmp(body + 3000, b, sizeof(b)) == 0);
    cr_expect(memcmp(body + 4000, a, sizeof(a)) == 0);
    cr_expect(memcmp(body + 7000, a, sizeof(a)) == 0);
    cr_expect(memcmp(body + 10000, b, sizeof(b)) == 0);
    cr_expect_eq(atomic_load(&routes.reply_bytes), 0, "the reply's reservation ends with it");
    mc_http_captured_cleanup(&r);
}

/* The reply cap (1 MiB here) counts every mention: 400 KiB named four
 * times is two values and two BUFFER_OVERFLOWs, read once. */
Test(store_routes, batch_get_cap_counts_repeats)
{
    static char v[400 << 10];
    mc_http_captured_t r;
    unsigned holds;
    size_t hlen;

    fill(v, sizeof(v), 32);
    put_segs(own(), NULL);
    cr_assert_eq(put1("rep", v, sizeof(v), 1), MC_OK);
    holds = fm.holds_taken;
    call_json("POST", "/api/v1/batch/get", "{\"keys\":[\"rep\",\"rep\",\"rep\",\"rep\"]}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_expect_eq(fm.holds_taken - holds, 1);
    cr_expect_str_eq(batch_header(&r, &hlen),
                     "{\"results\":[{\"code\":0,\"size\":409600},{\"code\":0,\"size\":409600},"
                     "{\"code\":-10},{\"code\":-10}]}");
    cr_assert_eq(r.len, hlen + 1 + 2 * sizeof(v), "two copies, not four");
    cr_expect(memcmp(r.body + hlen + 1, v, sizeof(v)) == 0);
    cr_expect(memcmp(r.body + hlen + 1 + sizeof(v), v, sizeof(v)) == 0);
    mc_http_captured_cleanup(&r);
}

static bool metric_has(const char *line)
{
    mc_http_captured_t r;
    bool found;

    call("GET", "/metrics", NULL, 0, &r);
    found = strstr(r.body, line) != NULL;
    mc_http_captured_cleanup(&r);
    return found;
}

/* Replies not yet sent hold the reply memory budget (8 MiB here): a GET
 * whose reply does not fit is 503 UNAVAILABLE_IN_CURRENT_STATUS with the
 * JSON body; a batch GET is refused before the master is asked; once the
 * budget is free the same GETs are served, and each reservation ends when
 * its reply is freed. */
Test(store_routes, gets_over_the_reply_memory_budget_are_503)
{
    static char v[600 << 10];
    unsigned lookups;
    mc_http_captured_t r;

    fill(v, sizeof(v), 33);
    put_segs(own(), NULL);
    cr_assert_eq(put1("bud", v, sizeof(v), 1), MC_OK);
    atomic_store(&routes.reply_bytes, (8u << 20) - 1000); /* replies still being sent */
    cr_expect(metric_has("mc_store_reply_reserved_bytes 8387608\n"));
    call("GET", "/api/v1/objects/bud", NULL, 0, &r);
    cr_expect_eq(r.status, 503);
    cr_expect_str_eq(r.body, "{\"error\":\"replies waiting to be sent hold the reply memory budget "
                             "(8388608 bytes)\",\"code\":-1010}");
    cr_expect(strstr(r.headers, "Retry-After: 1") != NULL, "%s", r.headers);
    mc_http_captured_cleanup(&r);
    call("GET", "/api/get/bud", NULL, 0, &r);
    cr_expect_eq(r.status, 503, "Mooncake's route takes the same budget");
    mc_http_captured_cleanup(&r);
    call_json("POST", "/api/v1/batch/get", "{\"keys\":[\"bud\"]}", &r);
    cr_expect_eq(r.status, 503, "%s", r.body);
    cr_expect(strstr(r.body, "\"code\":-1010") != NULL, "%s", r.body);
    mc_http_captured_cleanup(&r);
    cr_expect_eq(atomic_load(&routes.reply_bytes), (8u << 20) - 1000, "refusals hold nothing");
    atomic_store(&routes.reply_bytes, 8u << 20); /* full: not even the header line fits */
    lookups = fm.calls[STORE_M_GET_REPLICAS];
    call_json("POST", "/api/v1/batch/get", "{\"keys\":[\"bud\"]}", &r);
    cr_expect_eq(r.status, 503, "%s", r.body);
    cr_expect_eq(fm.calls[STORE_M_GET_REPLICAS], lookups, "refused without asking the master");
    mc_http_captured_cleanup(&r);
    cr_expect(metric_has("mc_store_reply_refused_total 4\n"));

    atomic_store(&routes.reply_bytes, (8u << 20) - sizeof(v)); /* just room for the value */
    call("GET", "/api/v1/objects/bud", NULL, 0, &r);
    cr_expect_eq(r.status, 200);
    cr_assert_eq(r.len, sizeof(v));
    cr_expect(memcmp(r.body, v, sizeof(v)) == 0);
    mc_http_captured_cleanup(&r);
    cr_expect_eq(atomic_load(&routes.reply_bytes), (8u << 20) - sizeof(v), "given back");
    atomic_store(&routes.reply_bytes, 0);
    call_json("POST", "/api/v1/batch/get", "{\"keys\":[\"bud\",\"bud\"]}", &r);
    cr_expect_eq(r.status, 200);
    mc_http_captured_cleanup(&r);
    call("GET", "/api/get/nope", NULL, 0, &r);
    cr_expect_eq(r.status, 404, "a miss is not a budget matter");
    mc_http_captured_cleanup(&r);
    cr_expect_eq(atomic_load(&routes.reply_bytes), 0);
}

/* ---- descriptor identity ---- */

/* Replaces the engine's handle for name with its descriptor under another
 * "segment_uuid": what a reader holds after fetching a forged descriptor. */
static void forge_descriptor(const char *name)
{
    char *desc = NULL, *at;
    size_t len = 0;
    mc_te_segment_t *seg = NULL;

    cr_assert_eq(mc_te_describe_segment(svc->te, name, &desc, &len), MC_OK);
    at = strstr(desc, "\"segment_uuid\":\"");
    cr_assert_not_null(at, "%s", desc);
    at += strlen("\"segment_uuid\":\"");
    at[0] = at[0] == 'f' ? 'e' : 'f'; /* another segment id */
    cr_assert_eq(mc_te_open_segment_desc(svc->te, desc, len, &seg), MC_OK);
    free(desc);
}

Test(store_ops, a_descriptor_that_is_not_the_masters_segment_is_refused)
{
    char val[2048];
    const fake_obj_t *o;

    fill(val, sizeof(val), 9);
    put_segs("remote-b", "remote-a");
    cr_assert_eq(put1("kd", val, sizeof(val), 2), MC_OK);
    o = fake_master_find(&fm, "kd");
    cr_assert_not_null(o);
    cr_assert_str_eq(o->rep[0].segment, "remote-b");
    forge_descriptor("remote-b");
    memset(remote[1] + o->rep[0].offset, 'X', sizeof(val)); /* what the forger would serve */
    /* the first replica's descriptor is refused, the second one read */
    expect_value("kd", val, sizeof(val));
    cr_expect_geq(mc_counter_get(svc->st.descriptor_refusals), 1);
    /* with no good replica left: a failure, never the forged bytes */
    put_segs("remote-b", NULL);
    int code = put1("kd2", val, sizeof(val), 1);
    cr_assert_neq(code, MC_OK, "a write to it is refused too: %s", mc_err_name(code));
}
