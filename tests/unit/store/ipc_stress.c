/* test_ipc_stress: the local-client path under many threads, as a plain
 * program (Criterion cannot start under ThreadSanitizer, Snaipe/Criterion#274;
 * make tsan runs this one). In one process: the store service's IPC server
 * (store operations against the fake master) and libmooncake_client, with
 * two handles, each used by three threads at once, mixing staged puts and
 * gets, shared-buffer batches, existence checks and removes, while a
 * seventh thread connects and disconnects. Exit 0 when every byte came back
 * as written. */
#include "fake_master.h"
#include "mc/errors.h"
#include "mc/log.h"
#include "mc/strutil.h"
#include "mooncake_client.h"
#include "store_internal.h"
#include "store_ipc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

#define ROUNDS 40
#define VALUE 8192

static char sock_path[108];
static mooncake_client_t *handles[2];
static atomic_int stop;

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed * 131u + i * 7u);
}

static void *worker(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    mooncake_client_t *c = handles[id % 2];
    uint8_t *shared = mooncake_client_alloc_buffer(c, 4 * VALUE);
    uint8_t v[VALUE], back[VALUE];

    CHECK(shared);
    for (int r = 0; r < ROUNDS; r++) {
        char key[48], bk[4][48];
        const char *bkeys[4];
        void *ptrs[4];
        size_t sizes[4];
        int pres[4], ex[4];
        int64_t gres[4];

        snprintf(key, sizeof(key), "w%u-r%d", id, r);
        fill(v, sizeof(v), id * 1000u + (unsigned)r);
        CHECK(mooncake_client_put(c, key, v, sizeof(v), NULL) == 0);
        CHECK(mooncake_client_get(c, key, back, sizeof(back)) == (int64_t)sizeof(v));
        CHECK(memcmp(v, back, sizeof(v)) == 0);
        for (int i = 0; i < 4; i++) {
            snprintf(bk[i], sizeof(bk[i]), "w%u-r%d-b%d", id, r, i);
            bkeys[i] = bk[i];
            ptrs[i] = shared + (size_t)i * VALUE;
            sizes[i] = VALUE;
            fill(ptrs[i], VALUE, id + (unsigned)(r * 4 + i));
        }
        CHECK(mooncake_client_batch_put_from(c, bkeys, (const void *const *)ptrs, sizes, 4, NULL,
                                             pres) == 0);
        memset(shared, 0, 4 * VALUE);
        CHECK(mooncake_client_batch_get_into(c, bkeys, ptrs, sizes, 4, gres) == 0);
        for (int i = 0; i < 4; i++) {
            fill(back, VALUE, id + (unsigned)(r * 4 + i));
            CHECK(pres[i] == 0 && gres[i] == VALUE);
            CHECK(memcmp(ptrs[i], back, VALUE) == 0);
        }
        CHECK(mooncake_client_batch_is_exist(c, bkeys, 4, ex) == 0 && ex[0] == 1);
        CHECK(mooncake_client_remove(c, key, 1) == 0);
        /* the fake master holds 256 objects: keep each round's out of it */
        CHECK(mooncake_client_batch_remove(c, bkeys, 4, 1, pres) == 0 && pres[3] == 0);
    }
    CHECK(mooncake_client_free_buffer(c, shared) == 0);
    return NULL;
}

static void *churn(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        mooncake_client_t *c = NULL;
        CHECK(mooncake_client_connect(sock_path, 1 << 16, &c) == 0);
        CHECK(mooncake_client_health(c) == 0);
        mooncake_client_close(c);
    }
    return NULL;
}

int main(void)
{
    fake_master_t fm;
    store_config_t cfg;
    mc_cfg_result_t res;
    mc_errmsg_t err = {""};
    mc_metrics_t *metrics;
    store_service_t *svc;
    store_ipc_t *ipc;
    pthread_t t[7];

    mc_log_set_level(MC_LOG_WARN);
    fake_master_init(&fm);
    CHECK(mc_config_defaults(&store_config_spec, &cfg, &res) == MC_CFG_LOADED);
    mc_strlcpy(cfg.local_hostname, "127.0.0.1:0", sizeof(cfg.local_hostname));
    mc_strlcpy(cfg.metadata_server, "P2P", sizeof(cfg.metadata_server));
    cfg.global_segment_size = 64u << 20; /* the fake's bump allocator never reuses space */
    cfg.populate_segment = false;
    CHECK((metrics = mc_metrics_create()) != NULL);
    CHECK(store_service_create_with_master(&cfg, metrics, fake_master_wrap(&fm), &svc, &err) ==
          MC_OK);
    snprintf(sock_path, sizeof(sock_path), "/tmp/mc-ipc-stress-%d.sock", (int)getpid());
    CHECK(store_ipc_start(svc, metrics,
                          &(store_ipc_opts_t){.path = sock_path,
                                              .hostname = "stress",
                                              .master = "fake",
                                              .max_clients = 16,
                                              .max_regions = 16,
                                              .max_mapped = 256u << 20,
                                              .max_batch = 64,
                                              .timeout_ms = 2000},
                          &ipc, &err) == MC_OK);
    for (int i = 0; i < 2; i++)
        CHECK(mooncake_client_connect(sock_path, 1 << 20, &handles[i]) == 0);
    for (uintptr_t i = 0; i < 6; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)i) == 0);
    CHECK(pthread_create(&t[6], NULL, churn, NULL) == 0);
    for (int i = 0; i < 6; i++)
        pthread_join(t[i], NULL);
    atomic_store(&stop, 1);
    pthread_join(t[6], NULL);
    for (int i = 0; i < 2; i++)
        mooncake_client_close(handles[i]);
    store_ipc_stop(ipc);
    store_service_destroy(svc);
    mc_metrics_destroy(metrics);
    fake_master_cleanup(&fm);
    printf("test_ipc_stress: ok\n");
    return 0;
}
