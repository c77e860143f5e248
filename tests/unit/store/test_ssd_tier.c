/* The SSD tier of the store service (store_ssd.c, store_ssd_svc.c) against
 * the fake master's disk calls and a real backend in a temporary directory:
 * write-behind from the own segment, reads of the own disk replica after
 * the memory one goes, a corrupt record dropped, a task whose bytes do not
 * match skipped, the identity and re-registration across a restart, the
 * conflict rules. End to end with the real master: test_ssd.py. */
#include "fake_master.h"
#include "mc/errors.h"
#include "mc/log.h"
#include "mc/strutil.h"
#include "store_internal.h"
#include "store_ssd_internal.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static fake_master_t fm;
static mc_metrics_t *metrics;
static store_service_t *svc;
static char dir[64];

static void start(void)
{
    store_config_t cfg;
    mc_cfg_result_t res;
    mc_errmsg_t err = {""};

    cr_assert_eq(mc_config_defaults(&store_config_spec, &cfg, &res), MC_CFG_LOADED);
    mc_strlcpy(cfg.local_hostname, "127.0.0.1:0", sizeof(cfg.local_hostname));
    mc_strlcpy(cfg.metadata_server, "P2P", sizeof(cfg.metadata_server));
    mc_strlcpy(cfg.ssd_path, dir, sizeof(cfg.ssd_path));
    cfg.ssd_capacity = 64u << 20;
    cfg.ssd_bucket_bytes = 1u << 20;
    cfg.ssd_scrub_ms = 0;
    cfg.global_segment_size = 4u << 20;
    cfg.populate_segment = false;
    cfg.transfer_timeout_ms = 500;
    metrics = mc_metrics_create();
    cr_assert_not_null(metrics);
    cr_assert_eq(store_service_create_with_master(&cfg, metrics, fake_master_wrap(&fm), &svc, &err),
                 MC_OK, "%s", err.msg);
    cr_assert_not_null(svc->ssd);
    store_service_set_control_url(svc, "http://127.0.0.1:1");
}

static void stop(void)
{
    store_service_destroy(svc);
    svc = NULL;
    mc_metrics_destroy(metrics);
    metrics = NULL;
}

static void setup(void)
{
    mc_log_set_level(MC_LOG_ERROR);
    fake_master_init(&fm);
    mc_strlcpy(dir, "/tmp/mc-ssd-tier-XXXXXX", sizeof(dir));
    cr_assert_not_null(mkdtemp(dir));
    start();
}

static void teardown(void)
{
    char cmd[128];

    stop();
    fake_master_cleanup(&fm);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(store_ssd_tier, .init = setup, .fini = teardown, .timeout = 60);

/* ---- helpers ---- */

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls (bounded, 10 s) until fn() holds under the fake's lock. */
static bool until(bool (*fn)(const void *), const void *arg)
{
    for (int i = 0; i < 1000; i++) {
        pthread_mutex_lock(&fm.mu);
        bool ok = fn(arg);
        pthread_mutex_unlock(&fm.mu);
        if (ok)
            return true;
        pause_ms(10);
    }
    return false;
}

static bool mounted(const void *arg)
{
    (void)arg;
    return fm.disk_mounts > 0 && store_ssd_mounted(svc->ssd);
}

static fake_obj_t *find_locked(const char *key)
{
    for (int i = 0; i < FAKE_MAX_OBJS; i++)
        if (fm.objs[i].state == FAKE_COMPLETE && fm.objs[i].klen == strlen(key) &&
            memcmp(fm.objs[i].key, key, fm.objs[i].klen) == 0)
            return &fm.objs[i];
    return NULL;
}

static bool has_disk(const void *key)
{
    fake_obj_t *o = find_locked(key);

    for (uint32_t j = 0; o && j < o->n; j++)
        if (o->rep[j].type == MC_REPLICA_TYPE_DISK)
            return true;
    return false;
}

static bool no_disk(const void *key)
{
    return !has_disk(key);
}

static void put1(const char *key, const void *val, uint64_t size)
{
    size_t klen = strlen(key);
    store_put_opts_t o = {.replica_num = 1};
    int code = 12345;

    fm.put_segs[0] = store_service_segment_name(svc);
    fm.n_put_segs = 1;
    store_put_batch(svc, 1, &key, &klen, &val, &size, &o, &code);
    cr_assert_eq(code, MC_OK, "put %s: %s", key, mc_err_name(code));
}

static int get1(const char *key, store_value_t *v)
{
    size_t klen = strlen(key);
    int code = 12345;

    store_get_batch_alloc(svc, 1, &key, &klen, v, &code);
    return code;
}

/* What the master's task sender would post for key (checksum as given). */
static void persist(const char *key, uint32_t checksum)
{
    fake_obj_t *o = fake_master_find(&fm, key);

    cr_assert_not_null(o);
    cr_assert_eq(store_ssd_enqueue_persist(svc->ssd, key, strlen(key), o->size, checksum,
                                           svc->segment_id, o->rep[0].offset),
                 MC_OK);
}

/* The memory replica of key stops being usable (a remount since). */
static void memory_goes(const char *key)
{
    fake_obj_t *o = fake_master_find(&fm, key);

    for (uint32_t j = 0; o && j < o->n; j++)
        if (o->rep[j].type == MC_REPLICA_TYPE_MEMORY)
            o->rep[j].epoch += 100;
}

static void fill(char *buf, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)(seed * 131u + i * 7u);
}

/* Flips a byte of the first occurrence of probe in the tier's files. */
static bool flip(const char *probe, size_t plen)
{
    char sub[200], path[512];
    struct dirent *e;
    bool done = false;
    DIR *d;

    snprintf(sub, sizeof(sub), "%s", mc_ssd_dir(svc->ssd->be));
    if (!(d = opendir(sub)))
        return false;
    while (!done && (e = readdir(d))) {
        FILE *f;
        char *buf;
        long len;
        if (e->d_name[0] == '.' || strcmp(e->d_name, "identity") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", sub, e->d_name);
        if (!(f = fopen(path, "r+b")))
            continue;
        fseek(f, 0, SEEK_END);
        len = ftell(f);
        buf = len > 0 ? malloc((size_t)len) : NULL;
        fseek(f, 0, SEEK_SET);
        if (buf && fread(buf, 1, (size_t)len, f) == (size_t)len) {
            char *at = memmem(buf, (size_t)len, probe, plen);
            if (at) {
                fseek(f, at - buf + 5, SEEK_SET);
                fputc(at[5] ^ 0x20, f);
                done = true;
            }
        }
        free(buf);
        fclose(f);
    }
    closedir(d);
    return done;
}

/* ---- tests ---- */

Test(store_ssd_tier, write_behind_then_the_own_disk_serves_the_value)
{
    char val[20000];
    store_value_t v = {NULL, 0};

    fill(val, sizeof(val), 3);
    cr_assert(until(mounted, NULL), "the disk tier was never mounted");
    put1("wb", val, sizeof(val));
    persist("wb", fake_master_find(&fm, "wb")->checksum);
    cr_assert(until(has_disk, "wb"), "the disk replica was never registered");
    memory_goes("wb");
    cr_assert_eq(get1("wb", &v), MC_OK);
    cr_assert_eq(v.size, sizeof(val));
    cr_assert(memcmp(v.data, val, sizeof(val)) == 0);
    free(v.data);
    cr_assert_eq(mc_counter_get(svc->ssd->st.reads), 1);
    cr_assert_eq(mc_counter_get(svc->ssd->st.writes), 1);
}

Test(store_ssd_tier, bytes_that_do_not_match_the_checksum_are_not_persisted)
{
    char val[5000];

    fill(val, sizeof(val), 5);
    cr_assert(until(mounted, NULL));
    put1("bad", val, sizeof(val));
    put1("good", val, sizeof(val) - 1);
    persist("bad", fake_master_find(&fm, "bad")->checksum ^ 1u);
    persist("good", fake_master_find(&fm, "good")->checksum);
    cr_assert(until(has_disk, "good")); /* the queue is in order: "bad" was handled */
    pthread_mutex_lock(&fm.mu);
    cr_assert_not(has_disk("bad"));
    pthread_mutex_unlock(&fm.mu);
    cr_assert_eq(mc_counter_get(svc->ssd->st.skipped), 1);
}

Test(store_ssd_tier, corrupt_record_is_dropped_and_never_served)
{
    char val[12000];
    store_value_t v = {NULL, 0};

    fill(val, sizeof(val), 9);
    cr_assert(until(mounted, NULL));
    put1("cr", val, sizeof(val));
    persist("cr", fake_master_find(&fm, "cr")->checksum);
    cr_assert(until(has_disk, "cr"));
    cr_assert(flip(val + 4000, 64), "the value was not found in the bucket files");
    memory_goes("cr");
    cr_assert_eq(get1("cr", &v), MC_TRANSFER_FAIL);
    cr_assert_null(v.data);
    cr_assert(until(no_disk, "cr"), "the corrupt disk replica is still registered");
    cr_assert_eq(mc_counter_get(svc->ssd->st.read_errors), 1);
}

Test(store_ssd_tier, restart_keeps_the_identity_and_registers_the_records_again)
{
    char val[7000];
    store_value_t v = {NULL, 0};
    mc_uuid_t id = svc->client_id;

    fill(val, sizeof(val), 11);
    cr_assert(until(mounted, NULL));
    put1("rs", val, sizeof(val));
    put1("other", val, 100);
    persist("rs", fake_master_find(&fm, "rs")->checksum);
    persist("other", fake_master_find(&fm, "other")->checksum);
    cr_assert(until(has_disk, "other"));
    stop();
    /* the master restarts too: it knows nothing, except "other", put again
     * meanwhile with other bytes */
    pthread_mutex_lock(&fm.mu);
    for (int i = 0; i < FAKE_MAX_OBJS; i++)
        if (fm.objs[i].state == FAKE_COMPLETE && strcmp(fm.objs[i].key, "other") != 0)
            fm.objs[i].state = FAKE_FREE;
    fake_obj_t *other = find_locked("other");
    cr_assert_not_null(other);
    other->checksum ^= 1u;
    other->n = 1; /* its memory replica alone */
    pthread_mutex_unlock(&fm.mu);
    start();
    cr_assert(mc_uuid_equal(svc->client_id, id), "a restarted tier keeps its client id");
    cr_assert(until(has_disk, "rs"), "the record was not registered again (create_missing)");
    cr_assert_eq(get1("rs", &v), MC_OK);
    cr_assert(v.size == sizeof(val) && memcmp(v.data, val, sizeof(val)) == 0);
    free(v.data);
    /* INVALID_REPLICA: the record of the other bytes is dropped */
    for (int i = 0; i < 500 && mc_counter_get(svc->ssd->st.drops) == 0; i++)
        pause_ms(10);
    cr_assert_eq(mc_counter_get(svc->ssd->st.drops), 1);
    pthread_mutex_lock(&fm.mu);
    cr_assert_not(has_disk("other"));
    pthread_mutex_unlock(&fm.mu);
}
