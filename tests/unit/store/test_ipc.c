/* The local-client path end to end inside one process: libmooncake_client
 * over a real Unix socket and real memfds to the store service's IPC server
 * (store_ipc.c), whose store operations run against a fake master
 * (fake_master.c) and the service's own memfd segment. Hostile clients
 * speak raw bytes to the same socket. With the real binaries:
 * tests/integration/test_ipc.py. */
#include "fake_master.h"
#include "mc/errors.h"
#include "mc/ipc_msg.h"
#include "mc/ipc_sock.h"
#include "mc/log.h"
#include "mc/strutil.h"
#include "mooncake_client.h"
#include "store_internal.h"
#include "store_ipc.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEG_SIZE (32u << 20)
#define STAGING (1u << 20)

static fake_master_t fm;
static mc_metrics_t *metrics;
static store_service_t *svc;
static store_ipc_t *ipc;
static mooncake_client_t *cli;
static char sock_path[108];

static store_ipc_opts_t ipc_opts(void)
{
    return (store_ipc_opts_t){.path = sock_path,
                              .hostname = "127.0.0.1:0",
                              .master = "fake",
                              .max_clients = 8,
                              .max_regions = 4,
                              .max_mapped = 64u << 20,
                              .max_batch = MC_MAX_BATCH_KEYS,
                              .timeout_ms = 300};
}

static void setup(void)
{
    store_config_t cfg;
    mc_cfg_result_t res;
    mc_errmsg_t err = {""};
    store_ipc_opts_t o;

    mc_log_set_level(MC_LOG_WARN);
    fake_master_init(&fm);
    cr_assert_eq(mc_config_defaults(&store_config_spec, &cfg, &res), MC_CFG_LOADED);
    mc_strlcpy(cfg.local_hostname, "127.0.0.1:0", sizeof(cfg.local_hostname));
    mc_strlcpy(cfg.metadata_server, "P2P", sizeof(cfg.metadata_server));
    cfg.global_segment_size = SEG_SIZE;
    cfg.populate_segment = false;
    metrics = mc_metrics_create();
    cr_assert_eq(store_service_create_with_master(&cfg, metrics, fake_master_wrap(&fm), &svc, &err),
                 MC_OK, "%s", err.msg);
    snprintf(sock_path, sizeof(sock_path), "/tmp/mc-test-ipc-%d/store.sock", (int)getpid());
    o = ipc_opts();
    cr_assert_eq(store_ipc_start(svc, metrics, &o, &ipc, &err), MC_OK, "%s", err.msg);
    cr_assert_eq(mooncake_client_connect(sock_path, STAGING, &cli), MC_OK);
}

static void teardown(void)
{
    char dir[108];

    mooncake_client_close(cli);
    store_ipc_stop(ipc);
    store_service_destroy(svc);
    mc_metrics_destroy(metrics);
    fake_master_cleanup(&fm);
    snprintf(dir, sizeof(dir), "/tmp/mc-test-ipc-%d", (int)getpid());
    rmdir(dir);
}

TestSuite(ipc, .init = setup, .fini = teardown, .timeout = 60);

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed * 131u + i * 7u + (i >> 11));
}

static uint64_t counter(const char *series)
{
    char *text = mc_metrics_render(metrics, NULL), line[256];
    const char *p;
    uint64_t v = 0;

    snprintf(line, sizeof(line), "\n%s", series); /* a sample line, not its # HELP */
    if (text && (p = strstr(text, line)) != NULL)
        v = strtoull(p + strlen(line), NULL, 10);
    free(text);
    return v;
}

/* ---- every call, byte-exact ---- */

Test(ipc, put_and_get_plain_memory_at_every_size)
{
    static const size_t sizes[] = {1, 4096, 65536 + 3, STAGING, 3 * STAGING + 5};

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char key[32];
        uint8_t *v = malloc(sizes[i]), *back = malloc(sizes[i] + 16);
        void *alloc = NULL;

        snprintf(key, sizeof(key), "plain-%zu", i);
        fill(v, sizes[i], (unsigned)i);
        cr_assert_eq(mooncake_client_put(cli, key, v, sizes[i], NULL), 0, "put %zu", sizes[i]);
        cr_assert_eq(mooncake_client_put(cli, key, v, sizes[i], NULL), 0, "again: no rewrite");
        cr_assert_eq(mooncake_client_get(cli, key, back, sizes[i] + 16), (int64_t)sizes[i]);
        cr_assert(memcmp(v, back, sizes[i]) == 0, "bytes of %zu", sizes[i]);
        cr_assert_eq(mooncake_client_get_alloc(cli, key, &alloc), (int64_t)sizes[i]);
        cr_assert(memcmp(v, alloc, sizes[i]) == 0);
        cr_assert_eq(mooncake_client_get_size(cli, key), (int64_t)sizes[i]);
        mooncake_client_free(alloc);
        free(v);
        free(back);
    }
}

Test(ipc, shared_buffers_move_once_and_fragments_stay_in_order)
{
    size_t n = 256u << 10;
    uint8_t *buf = mooncake_client_alloc_buffer(cli, 4 * n), *want = malloc(n);
    mooncake_slice_t parts[3];
    const char *keys[2] = {"frag-a", "frag-b"};
    const mooncake_slice_t *bufs[2];
    size_t nbufs[2] = {3, 1};
    mooncake_slice_t whole = {buf + 3 * n, n};
    int put_res[2];
    int64_t get_res[2];
    uint64_t bounces = counter("mc_store_ipc_bounce_copies_total ");

    cr_assert_not_null(buf);
    fill(buf, n, 3);
    memcpy(want, buf, n);
    cr_assert_eq(mooncake_client_put_from(cli, "shared", buf, n, NULL), 0);
    memset(buf, 0, n);
    cr_assert_eq(mooncake_client_get_into(cli, "shared", buf, n), (int64_t)n);
    cr_assert(memcmp(buf, want, n) == 0);
    cr_assert_eq(counter("mc_store_ipc_bounce_copies_total "), bounces, "one fragment: no bounce");
    /* three uneven fragments of one value, and a whole one */
    parts[0] = (mooncake_slice_t){buf, 1000};
    parts[1] = (mooncake_slice_t){buf + n, 70000};
    parts[2] = (mooncake_slice_t){buf + 2 * n, 12345};
    fill(buf, 1000, 4);
    fill(buf + n, 70000, 5);
    fill(buf + 2 * n, 12345, 6);
    fill(buf + 3 * n, n, 7);
    bufs[0] = parts;
    bufs[1] = &whole;
    memcpy(want, buf + n, 70000);
    cr_assert_eq(
        mooncake_client_batch_put_from_multi_buffers(cli, keys, bufs, nbufs, 2, NULL, put_res), 0);
    cr_assert_eq(put_res[0], 0);
    cr_assert_eq(put_res[1], 0);
    memset(buf, 0, 4 * n);
    cr_assert_eq(mooncake_client_batch_get_into_multi_buffers(cli, keys, bufs, nbufs, 2, get_res),
                 0);
    cr_assert_eq(get_res[0], 1000 + 70000 + 12345);
    cr_assert_eq(get_res[1], (int64_t)n);
    {
        uint8_t check[1000];
        fill(check, 1000, 4);
        cr_assert(memcmp(buf, check, 1000) == 0, "fragment 0");
        cr_assert(memcmp(buf + n, want, 70000) == 0, "fragment 1");
    }
    cr_assert_gt(counter("mc_store_ipc_bounce_copies_total "), bounces, "several fragments bounce");
    cr_assert_eq(mooncake_client_free_buffer(cli, buf), 0);
    cr_assert_eq(mooncake_client_free_buffer(cli, buf), MC_INVALID_PARAMS, "freed once");
    free(want);
}

Test(ipc, put_parts_is_one_value)
{
    char a[] = "hello ", b[] = "world";
    mooncake_slice_t parts[2] = {{a, 6}, {b, 5}};
    char back[16] = {0};

    cr_assert_eq(mooncake_client_put_parts(cli, "parts", parts, 2, NULL), 0);
    cr_assert_eq(mooncake_client_get(cli, "parts", back, sizeof(back)), 11);
    cr_assert_str_eq(back, "hello world");
}

Test(ipc, batches_exist_remove_and_errors)
{
    const char *keys[3] = {"b0", "b1", "missing"};
    const void *vals[2] = {"zero", "one!"};
    size_t sizes[2] = {4, 4};
    int res[3], ex[3];
    void *got[3];
    int64_t gres[3];
    char small[2];

    cr_assert_eq(mooncake_client_put_batch(cli, keys, vals, sizes, 2, NULL, res), 0);
    cr_assert(res[0] == 0 && res[1] == 0);
    cr_assert_eq(mooncake_client_batch_is_exist(cli, keys, 3, ex), 0);
    cr_assert(ex[0] == 1 && ex[1] == 1 && ex[2] == 0, "%d %d %d", ex[0], ex[1], ex[2]);
    cr_assert_eq(mooncake_client_is_exist(cli, "missing"), 0);
    cr_assert_eq(mooncake_client_get_batch(cli, keys, 3, got, gres), 0);
    cr_assert_eq(gres[0], 4);
    cr_assert(memcmp(got[1], "one!", 4) == 0);
    cr_assert_eq(gres[2], MC_OBJECT_NOT_FOUND);
    cr_assert_null(got[2]);
    mooncake_client_free(got[0]);
    mooncake_client_free(got[1]);
    cr_assert_eq(mooncake_client_get(cli, "b0", small, sizeof(small)), MC_BUFFER_OVERFLOW);
    cr_assert_eq(mooncake_client_get(cli, "missing", small, sizeof(small)), MC_OBJECT_NOT_FOUND);
    cr_assert_eq(mooncake_client_get_size(cli, "missing"), MC_OBJECT_NOT_FOUND);
    cr_assert_eq(mooncake_client_put(cli, "", "x", 1, NULL), MC_INVALID_KEY);
    cr_assert_eq(mooncake_client_put(cli, "empty", "x", 0, NULL), MC_INVALID_PARAMS);
    cr_assert_eq(mooncake_client_upsert(cli, "b0", "x", 0, NULL), MC_INVALID_PARAMS);
    cr_assert_eq(mooncake_client_remove(cli, "b0", 0), 0);
    cr_assert_eq(mooncake_client_is_exist(cli, "b0"), 0);
    cr_assert_eq(mooncake_client_remove_by_regex(cli, "^b", 0), MC_INVALID_PARAMS,
                 "the fake master knows no regex: its error comes through");
    cr_assert_eq(mooncake_client_remove_all(cli, 1), 1, "b1 was left");
    cr_assert_eq(mooncake_client_is_exist(cli, "b1"), 0);
}

Test(ipc, hostname_health_version)
{
    char host[64];

    cr_assert_eq(mooncake_client_get_hostname(cli, host, sizeof(host)), 0);
    cr_assert_str_eq(host, "127.0.0.1:0");
    cr_assert_eq(mooncake_client_health(cli), 0);
    cr_assert_str_eq(mooncake_client_version(), MOONCAKE_CLIENT_VERSION);
    cr_assert_str_eq(mooncake_client_strerror(-704), "OBJECT_NOT_FOUND");
}

/* ---- concurrency ---- */

static void *worker(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    uint8_t v[5000], back[5000];
    char key[32];
    uintptr_t bad = 0;

    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof(key), "t%u-%d", id, i);
        fill(v, sizeof(v), id * 100 + (unsigned)i);
        if (mooncake_client_put(cli, key, v, sizeof(v), NULL) != 0 ||
            mooncake_client_get(cli, key, back, sizeof(back)) != (int64_t)sizeof(v) ||
            memcmp(v, back, sizeof(v)) != 0)
            bad++;
    }
    return (void *)bad;
}

Test(ipc, one_handle_from_many_threads)
{
    pthread_t t[4];
    void *bad;

    for (uintptr_t i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, worker, (void *)i), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], &bad);
        cr_assert_null(bad, "thread %d: %p failures", i, bad);
    }
}

/* ---- hostile clients: raw bytes on the same socket ---- */

static int raw_connect(void)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    mc_strlcpy(a.sun_path, sock_path, sizeof(a.sun_path));
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static void raw_send(int fd, const mc_buf_t *b, int pass_fd)
{
    cr_assert_eq(mc_ipc_send(fd, b->data, b->len, pass_fd), MC_OK);
}

/* Reads one reply; MC_OK with its header and payload, or an error when the
 * service closed the connection. */
static int raw_reply_fd(int fd, mc_ipc_hdr_t *h, mc_buf_t *in, int *got)
{
    mc_errmsg_t e;

    return mc_ipc_recv(fd, 0, 5000, 5000, h, in, got, &e);
}

static int raw_reply(int fd, mc_ipc_hdr_t *h, mc_buf_t *in)
{
    int got = -1;
    int rc = raw_reply_fd(fd, h, in, &got);

    if (got >= 0)
        close(got);
    return rc;
}

static int raw_hello(uint16_t lo, uint16_t hi)
{
    int fd = raw_connect();
    mc_buf_t b;
    mc_ipc_hdr_t h;
    mc_ipc_hello_reply_t r;

    mc_buf_init(&b, 0);
    cr_assert_eq(
        mc_ipc_hello_encode(
            &b, 1,
            &(mc_ipc_hello_t){.min_version = lo, .max_version = hi, .name = "raw", .name_len = 3}),
        MC_OK);
    raw_send(fd, &b, -1);
    cr_assert_eq(raw_reply(fd, &h, &b), MC_OK);
    cr_assert_eq(mc_ipc_hello_reply_decode((const uint8_t *)b.data, b.len, &r, NULL), MC_OK);
    mc_buf_cleanup(&b);
    if (r.status != MC_OK) {
        close(fd);
        return r.status;
    }
    return fd;
}

static bool closed_by_service(int fd)
{
    char c;
    struct pollfd p = {fd, POLLIN, 0};

    return poll(&p, 1, 5000) == 1 && recv(fd, &c, 1, 0) == 0;
}

static int memfd_of(size_t size, bool sealed)
{
    int fd = memfd_create("hostile", MFD_CLOEXEC | MFD_ALLOW_SEALING);

    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, (off_t)size), 0);
    if (sealed)
        cr_assert_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
    return fd;
}

/* REGISTER of fd (or none): the small reply. */
static mc_ipc_small_reply_t raw_register(int s, int fd, uint64_t size)
{
    mc_buf_t b;
    mc_ipc_hdr_t h;
    mc_ipc_small_reply_t r = {0};

    mc_buf_init(&b, 0);
    cr_assert_eq(mc_ipc_small_encode(&b, MC_IPC_REGISTER, 2, &(mc_ipc_small_t){.arg = size}),
                 MC_OK);
    raw_send(s, &b, fd);
    cr_assert_eq(raw_reply(s, &h, &b), MC_OK);
    cr_assert_eq(mc_ipc_small_reply_decode((const uint8_t *)b.data, b.len, &r, NULL), MC_OK);
    r.text = NULL; /* points into b */
    mc_buf_cleanup(&b);
    return r;
}

Test(ipc, wrong_protocol_version_is_refused)
{
    uint64_t before = counter("mc_store_ipc_rejected_total{reason=\"version\"} ");

    cr_assert_eq(raw_hello(2, 9), MC_INVALID_VERSION);
    cr_assert_eq(counter("mc_store_ipc_rejected_total{reason=\"version\"} "), before + 1);
}

Test(ipc, regions_must_be_sealed_memfds_within_the_caps)
{
    int s = raw_hello(1, 1);
    int fd;
    uint64_t unsealed = counter("mc_store_ipc_rejected_total{reason=\"not_sealed\"} ");

    cr_assert_geq(s, 0);
    fd = memfd_of(4096, false);
    cr_assert_eq(raw_register(s, fd, 4096).status, MC_INVALID_PARAMS, "not sealed");
    close(fd);
    cr_assert_eq(counter("mc_store_ipc_rejected_total{reason=\"not_sealed\"} "), unsealed + 1);
    fd = memfd_of(4096, true);
    cr_assert_eq(raw_register(s, fd, 8192).status, MC_INVALID_PARAMS, "past the file's end");
    cr_assert_eq(raw_register(s, -1, 4096).status, MC_INVALID_PARAMS, "no descriptor");
    for (int i = 0; i < 4; i++) {
        mc_ipc_small_reply_t r = raw_register(s, fd, 4096);
        cr_assert_eq(r.status, MC_OK);
        cr_assert_eq(r.value, (uint64_t)i + 1);
    }
    cr_assert_eq(raw_register(s, fd, 4096).status, MC_NO_AVAILABLE_HANDLE, "region cap");
    close(fd);
    close(s);
}

/* A GET naming (region, offset, len): the per-key code. */
static int raw_get(int s, uint32_t region, uint64_t off, uint64_t len)
{
    mc_ipc_frag_t f = {region, off, len};
    mc_ipc_key_t k = {"some-key", 8, 1, &f};
    mc_ipc_keys_t m = {.n = 1, .keys = &k};
    mc_ipc_key_result_t res;
    mc_ipc_hdr_t h;
    mc_buf_t b;
    int32_t status;
    uint32_t n = 0;

    mc_buf_init(&b, 0);
    cr_assert_eq(mc_ipc_keys_encode(&b, MC_IPC_GET, 3, &m), MC_OK);
    raw_send(s, &b, -1);
    cr_assert_eq(raw_reply(s, &h, &b), MC_OK);
    cr_assert_eq(
        mc_ipc_keys_reply_decode((const uint8_t *)b.data, b.len, &status, &res, 1, &n, NULL),
        MC_OK);
    mc_buf_cleanup(&b);
    cr_assert_eq(status, MC_OK);
    cr_assert_eq(n, 1);
    return res.code;
}

Test(ipc, fragments_are_bounds_checked)
{
    int s = raw_hello(1, 1), fd = memfd_of(8192, true);

    cr_assert_eq(mooncake_client_put(cli, "some-key", "0123456789", 10, NULL), 0);
    cr_assert_eq(raw_register(s, fd, 8192).status, MC_OK);
    cr_assert_eq(raw_get(s, 1, 0, 8192), MC_OK, "in bounds");
    cr_assert_eq(raw_get(s, 2, 0, 16), MC_INVALID_PARAMS, "no such region");
    cr_assert_eq(raw_get(s, 0, 0, 16), MC_INVALID_PARAMS, "region 0");
    cr_assert_eq(raw_get(s, 1, 8190, 16), MC_INVALID_PARAMS, "past the end");
    cr_assert_eq(raw_get(s, 1, 8193, 1), MC_INVALID_PARAMS, "offset past the end");
    cr_assert_eq(raw_get(s, 1, UINT64_MAX - 4, 16), MC_INVALID_PARAMS, "offset + len wraps");
    cr_assert_eq(raw_get(s, 1, 16, 0), MC_INVALID_PARAMS, "empty fragment");
    close(fd);
    close(s);
}

Test(ipc, malformed_messages_drop_that_client_only)
{
    uint64_t bad = counter("mc_store_ipc_rejected_total{reason=\"bad_message\"} ");
    uint8_t hdr[MC_IPC_HDR_LEN];
    int s;

    /* an unknown opcode */
    s = raw_hello(1, 1);
    mc_ipc_hdr_encode(&(mc_ipc_hdr_t){.len = 0, .op = 99, .id = 5}, hdr);
    cr_assert_eq(send(s, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
    cr_assert(closed_by_service(s));
    close(s);
    /* a message over the size cap */
    s = raw_hello(1, 1);
    mc_ipc_hdr_encode(&(mc_ipc_hdr_t){.len = MC_IPC_MAX_MSG + 1, .op = MC_IPC_GET, .id = 5}, hdr);
    cr_assert_eq(send(s, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
    cr_assert(closed_by_service(s));
    close(s);
    /* half a message: dropped after the timeout, not waited on forever */
    s = raw_hello(1, 1);
    mc_ipc_hdr_encode(&(mc_ipc_hdr_t){.len = 100, .op = MC_IPC_GET, .id = 5}, hdr);
    cr_assert_eq(send(s, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
    cr_assert_eq(send(s, "abc", 3, 0), 3);
    cr_assert(closed_by_service(s));
    close(s);
    /* a descriptor attached to a message that takes none */
    {
        int fd = memfd_of(4096, true);
        mc_buf_t b;
        s = raw_hello(1, 1);
        mc_buf_init(&b, 0);
        cr_assert_eq(mc_ipc_small_encode(&b, MC_IPC_HEALTH, 9, &(mc_ipc_small_t){0}), MC_OK);
        raw_send(s, &b, fd);
        cr_assert(closed_by_service(s));
        mc_buf_cleanup(&b);
        close(fd);
        close(s);
    }
    /* a truncated keys body in a whole frame: refused with a status, kept */
    {
        mc_buf_t b;
        mc_ipc_hdr_t h;
        int32_t status = 0;
        uint32_t n = 1;
        s = raw_hello(1, 1);
        mc_ipc_hdr_encode(&(mc_ipc_hdr_t){.len = 3, .op = MC_IPC_EXIST, .id = 6}, hdr);
        cr_assert_eq(send(s, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
        cr_assert_eq(send(s, "\0\0\0", 3, 0), 3);
        mc_buf_init(&b, 0);
        cr_assert_eq(raw_reply(s, &h, &b), MC_OK);
        cr_assert_eq(
            mc_ipc_keys_reply_decode((const uint8_t *)b.data, b.len, &status, NULL, 0, &n, NULL),
            MC_OK);
        cr_assert_eq(status, MC_INVALID_PARAMS);
        cr_assert_eq(n, 0);
        mc_buf_cleanup(&b);
        close(s);
    }
    cr_assert_geq(counter("mc_store_ipc_rejected_total{reason=\"bad_message\"} "), bad + 5);
    /* the well-behaved client never noticed */
    cr_assert_eq(mooncake_client_put(cli, "after-abuse", "ok", 2, NULL), 0);
    cr_assert_eq(mooncake_client_is_exist(cli, "after-abuse"), 1);
}

Test(ipc, a_client_that_dies_loses_only_its_mappings)
{
    pid_t pid = fork();
    int status;

    if (pid == 0) {
        mooncake_client_t *c;
        void *buf;
        if (mooncake_client_connect(sock_path, STAGING, &c) != 0 ||
            !(buf = mooncake_client_alloc_buffer(c, 1 << 20)))
            _exit(2);
        memset(buf, 9, 1 << 20);
        if (mooncake_client_put_from(c, "from-child", buf, 1 << 20, NULL) != 0)
            _exit(3);
        kill(getpid(), SIGKILL);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status), "child status %d", status);
    {
        uint8_t *back = malloc(1 << 20), want[4096];
        memset(want, 9, sizeof(want));
        cr_assert_eq(mooncake_client_get(cli, "from-child", back, 1 << 20), 1 << 20);
        cr_assert(memcmp(back + (1 << 20) - 4096, want, 4096) == 0);
        free(back);
    }
}

Test(ipc, a_live_socket_is_not_taken_a_stale_one_is)
{
    store_ipc_opts_t o = ipc_opts();
    store_ipc_t *other = NULL;
    mc_errmsg_t err = {""};

    cr_assert_eq(store_ipc_start(svc, metrics, &o, &other, &err), MC_SEGMENT_ALREADY_EXISTS, "%s",
                 err.msg);
    /* the service goes away without removing its socket file: simulate by
     * binding a socket there and closing it */
    store_ipc_stop(ipc);
    ipc = NULL;
    {
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        mc_strlcpy(a.sun_path, sock_path, sizeof(a.sun_path));
        cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        close(fd);
    }
    cr_assert_eq(access(sock_path, F_OK), 0, "a stale socket file is there");
    cr_assert_eq(mooncake_client_health(cli), MC_RPC_FAIL, "the service is gone");
    cr_assert_eq(store_ipc_start(svc, metrics, &o, &ipc, &err), MC_OK, "%s", err.msg);
    /* the handle reconnects on its next call and registers its buffers again */
    cr_assert_eq(mooncake_client_health(cli), 0);
    cr_assert_eq(mooncake_client_put(cli, "after-restart", "v", 1, NULL), 0);
}

/* The segment is shared read-only, and stays so whatever the client tries. */
Test(ipc, the_segment_is_shared_read_only)
{
    int s = raw_hello(1, 1), seg = -1, rw;
    mc_buf_t b;
    mc_ipc_hdr_t h;
    mc_ipc_small_reply_t r;
    uint64_t off = UINT64_MAX;
    uint8_t *ro;
    char path[64];

    cr_assert_eq(mooncake_client_put(cli, "visible", "segment bytes", 13, NULL), 0);
    for (int i = 0; i < FAKE_MAX_OBJS; i++)
        if (fm.objs[i].state == FAKE_COMPLETE && fm.objs[i].klen == 7 &&
            memcmp(fm.objs[i].key, "visible", 7) == 0)
            off = fm.objs[i].rep[0].offset;
    cr_assert_neq(off, UINT64_MAX);
    mc_buf_init(&b, 0);
    cr_assert_eq(mc_ipc_small_encode(&b, MC_IPC_SEGMENT, 7, &(mc_ipc_small_t){0}), MC_OK);
    raw_send(s, &b, -1);
    cr_assert_eq(raw_reply_fd(s, &h, &b, &seg), MC_OK);
    cr_assert_eq(mc_ipc_small_reply_decode((const uint8_t *)b.data, b.len, &r, NULL), MC_OK);
    cr_assert_eq(r.status, MC_OK);
    cr_assert_eq(r.value, SEG_SIZE);
    cr_assert_geq(seg, 0, "a descriptor came with the reply");
    cr_assert_eq(fcntl(seg, F_GETFL) & O_ACCMODE, O_RDONLY);
    cr_assert_eq(mmap(NULL, SEG_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, seg, 0), MAP_FAILED,
                 "no writable mapping from the descriptor");
    ro = mmap(NULL, SEG_SIZE, PROT_READ, MAP_SHARED, seg, 0);
    cr_assert_neq(ro, MAP_FAILED);
    cr_assert(memcmp(ro + off, "segment bytes", 13) == 0, "the value is visible in place");
    cr_assert_neq(mprotect(ro, 4096, PROT_READ | PROT_WRITE), 0, "nor by mprotect");
    cr_assert_neq(ftruncate(seg, 4096), 0, "nor shrunk");
    /* reopening through /proc gives a read-write descriptor (same uid), but
     * the seals refuse every way of writing through it */
    snprintf(path, sizeof(path), "/proc/self/fd/%d", seg);
    rw = open(path, O_RDWR);
    if (rw >= 0) {
        cr_assert_eq(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0), MAP_FAILED);
        cr_assert_lt(pwrite(rw, "x", 1, (off_t)off), 0);
        cr_assert_neq(ftruncate(rw, 0), 0);
        close(rw);
    } else {
        cr_assert(errno == EACCES || errno == EPERM, "open: %s", strerror(errno));
    }
    cr_assert(memcmp(ro + off, "segment bytes", 13) == 0, "nothing changed");
    /* the service still writes its own segment */
    cr_assert_eq(mooncake_client_put(cli, "after-seal", "still writable", 14, NULL), 0);
    munmap(ro, SEG_SIZE);
    close(seg);
    mc_buf_cleanup(&b);
    close(s);
}

/* ---- fairness, as structure: another client's request completes while a
 * large batch is held inside the service ---- */

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_armed, gate_entered, gate_open;

static void gate_hook(fake_master_t *m, store_master_call_t call, void *arg)
{
    (void)m, (void)arg;
    if (call != STORE_M_GET_REPLICAS)
        return;
    pthread_mutex_lock(&gate_mu);
    if (gate_armed) { /* the first get only: the big batch */
        gate_armed = false;
        gate_entered = true;
        pthread_cond_broadcast(&gate_cv);
        while (!gate_open)
            pthread_cond_wait(&gate_cv, &gate_mu);
    }
    pthread_mutex_unlock(&gate_mu);
}

typedef struct big_batch {
    const char *keys[64];
    void *ptrs[64];
    size_t sizes[64];
    int64_t res[64];
    int rc;
} big_batch_t;

static void *run_big(void *arg)
{
    big_batch_t *b = arg;
    b->rc = mooncake_client_batch_get_into(cli, b->keys, b->ptrs, b->sizes, 64, b->res);
    return NULL;
}

Test(ipc, a_small_request_completes_while_a_large_batch_is_in_flight)
{
    static char names[64][16];
    big_batch_t big;
    mooncake_client_t *other;
    uint8_t *buf = mooncake_client_alloc_buffer(cli, 64 * 65536);
    pthread_t t;
    char back[8] = {0};

    cr_assert_not_null(buf);
    for (int i = 0; i < 64; i++) {
        snprintf(names[i], sizeof(names[i]), "big-%d", i);
        big.keys[i] = names[i];
        big.ptrs[i] = buf + (size_t)i * 65536;
        big.sizes[i] = 65536;
        fill(buf + (size_t)i * 65536, 65536, (unsigned)i);
        cr_assert_eq(mooncake_client_put_from(cli, names[i], big.ptrs[i], 65536, NULL), 0);
    }
    cr_assert_eq(mooncake_client_connect(sock_path, STAGING, &other), MC_OK);
    cr_assert_eq(mooncake_client_put(other, "small", "tiny", 4, NULL), 0);
    gate_armed = true;
    gate_entered = gate_open = false;
    fm.hook = gate_hook;
    cr_assert_eq(pthread_create(&t, NULL, run_big, &big), 0);
    pthread_mutex_lock(&gate_mu);
    while (!gate_entered)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
    /* the big batch is inside the service, held at the master: the other
     * client's small read goes through meanwhile */
    cr_assert_eq(mooncake_client_get(other, "small", back, sizeof(back)), 4);
    cr_assert_str_eq(back, "tiny");
    pthread_mutex_lock(&gate_mu);
    cr_assert(!gate_open, "the big batch was still in flight");
    gate_open = true;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
    pthread_join(t, NULL);
    fm.hook = NULL;
    cr_assert_eq(big.rc, 0);
    for (int i = 0; i < 64; i++)
        cr_assert_eq(big.res[i], 65536, "key %d: %lld", i, (long long)big.res[i]);
    mooncake_client_close(other);
}

/* ---- read-only views ---- */

static int holds_of(const char *key)
{
    fake_obj_t *o;

    store_service_flush_releases(svc); /* plain gets release from a background thread */
    o = fake_master_find(&fm, key);
    return o ? o->holds : -1;
}

Test(ipc, get_buffer_is_a_held_zero_copy_view_until_released)
{
    mooncake_client_buffer_t *b = NULL, *b2 = NULL, *bs[2];
    const char *keys[2] = {"view-a", "view-missing"};
    int64_t res[2];
    uint8_t v[70000];

    fill(v, sizeof(v), 11);
    cr_assert_eq(mooncake_client_put(cli, "view-a", v, sizeof(v), NULL), 0);
    cr_assert_eq(mooncake_client_get_buffer(cli, "view-a", &b), (int64_t)sizeof(v));
    cr_assert_eq(mooncake_client_buffer_is_view(b), 1, "in this host's segment: no copy");
    cr_assert_eq(mooncake_client_buffer_size(b), sizeof(v));
    cr_assert(memcmp(mooncake_client_buffer_data(b), v, sizeof(v)) == 0);
    cr_assert_eq(holds_of("view-a"), 1, "held at the master while viewed");
    cr_assert_eq(mooncake_client_get_buffer(cli, "view-a", &b2), (int64_t)sizeof(v));
    cr_assert_eq(holds_of("view-a"), 2);
    cr_assert_eq(mooncake_client_buffer_data(b), mooncake_client_buffer_data(b2), "same bytes");
    mooncake_client_release_buffer(b);
    cr_assert_eq(holds_of("view-a"), 1);
    mooncake_client_release_buffer(b2);
    cr_assert_eq(holds_of("view-a"), 0);
    cr_assert_eq(mooncake_client_batch_get_buffer(cli, keys, 2, bs, res), 0);
    cr_assert_eq(res[0], (int64_t)sizeof(v));
    cr_assert_eq(res[1], MC_OBJECT_NOT_FOUND);
    cr_assert_null(bs[1]);
    mooncake_client_release_buffer(bs[0]);
    cr_assert_eq(holds_of("view-a"), 0);
}

Test(ipc, a_client_cannot_release_holds_it_does_not_have_and_its_views_end_with_it)
{
    mooncake_client_t *other;
    mooncake_client_buffer_t *b;
    const char *k = "view-b";
    int rc;
    pid_t pid;

    cr_assert_eq(mooncake_client_put(cli, k, "held", 4, NULL), 0);
    cr_assert_eq(mooncake_client_get_buffer(cli, k, &b), 4);
    cr_assert_eq(mooncake_client_connect(sock_path, STAGING, &other), MC_OK);
    {
        /* a raw RELEASE of a key this connection never viewed */
        int s = raw_hello(1, 1);
        mc_ipc_key_t key = {k, strlen(k), 0, NULL};
        mc_ipc_keys_t m = {.n = 1, .keys = &key};
        mc_ipc_key_result_t r;
        mc_ipc_hdr_t h;
        mc_buf_t buf;
        int32_t status;
        uint32_t n;

        mc_buf_init(&buf, 0);
        cr_assert_eq(mc_ipc_keys_encode(&buf, MC_IPC_RELEASE, 4, &m), MC_OK);
        raw_send(s, &buf, -1);
        cr_assert_eq(raw_reply(s, &h, &buf), MC_OK);
        cr_assert_eq(
            mc_ipc_keys_reply_decode((const uint8_t *)buf.data, buf.len, &status, &r, 1, &n, NULL),
            MC_OK);
        cr_assert_eq(r.code, MC_INVALID_PARAMS);
        mc_buf_cleanup(&buf);
        close(s);
    }
    cr_assert_eq(holds_of(k), 1, "the stranger released nothing");
    mooncake_client_close(other);
    /* a child that takes a view and is killed gives it back */
    pid = fork();
    if (pid == 0) {
        mooncake_client_t *c;
        mooncake_client_buffer_t *cb;
        if (mooncake_client_connect(sock_path, STAGING, &c) != 0 ||
            mooncake_client_get_buffer(c, k, &cb) != 4)
            _exit(2);
        kill(getpid(), SIGKILL);
    }
    cr_assert_eq(waitpid(pid, &rc, 0), pid);
    cr_assert(WIFSIGNALED(rc));
    for (int i = 0; i < 200 && holds_of(k) != 1; i++)
        usleep(10000); /* the service sees the connection close */
    cr_assert_eq(holds_of(k), 1, "the dead child's view was released");
    mooncake_client_release_buffer(b);
    cr_assert_eq(holds_of(k), 0);
}

Test(ipc, a_view_outlives_a_closed_handle_safely)
{
    mooncake_client_t *c;
    mooncake_client_buffer_t *b;

    cr_assert_eq(mooncake_client_put(cli, "view-c", "still mapped", 12, NULL), 0);
    cr_assert_eq(mooncake_client_connect(sock_path, STAGING, &c), MC_OK);
    cr_assert_eq(mooncake_client_get_buffer(c, "view-c", &b), 12);
    mooncake_client_close(c); /* ends the hold; the handle waits for its view */
    for (int i = 0; i < 200 && holds_of("view-c") != 0; i++)
        usleep(10000);
    cr_assert_eq(holds_of("view-c"), 0, "closing ended the hold");
    cr_assert(memcmp(mooncake_client_buffer_data(b), "still mapped", 12) == 0,
              "the mapping stays while the view is out");
    mooncake_client_release_buffer(b); /* frees the handle too (ASan checks) */
}

/* ---- admin ops (--ipc_admin_uids, the hello's admin token) ---- */

/* Restarts the socket with admin uids that exclude ours and, if token,
 * admin tokens from a 0600 file holding it; reconnects cli. */
static mc_auth_tokens_t *restart_non_admin(const char *token, char *tok_path, size_t cap)
{
    store_ipc_opts_t o = ipc_opts();
    mc_auth_tokens_t *t = NULL;
    mc_errmsg_t err = {""};

    mooncake_client_close(cli);
    store_ipc_stop(ipc);
    o.admin_uids[0] = getuid() + 4242; /* someone else */
    o.n_admin_uids = 1;
    if (token) {
        snprintf(tok_path, cap, "/tmp/mc-test-ipc-%d/admin.token", (int)getpid());
        FILE *f = fopen(tok_path, "w");
        cr_assert_not_null(f);
        fprintf(f, "%s\n", token);
        fclose(f);
        chmod(tok_path, 0600);
        cr_assert_eq(mc_auth_tokens_load(tok_path, &t, &err), MC_OK, "%s", err.msg);
        o.admin_tokens = t;
    }
    cr_assert_eq(store_ipc_start(svc, metrics, &o, &ipc, &err), MC_OK, "%s", err.msg);
    cr_assert_eq(mooncake_client_connect(sock_path, STAGING, &cli), MC_OK);
    return t;
}

Test(ipc, admin_ops_need_an_admin_uid_or_the_admin_token)
{
    char tok_path[128];
    mc_auth_tokens_t *t =
        restart_non_admin("the-admin-token-0123456789", tok_path, sizeof(tok_path));

    unsetenv("MOONCAKE_ADMIN_TOKEN_FILE");
    mooncake_client_close(cli);
    cr_assert_eq(mooncake_client_connect(sock_path, STAGING, &cli), MC_OK);
    cr_assert_eq(mooncake_client_put(cli, "adm1", "v", 1, NULL), 0, "ordinary ops are open");
    cr_expect_eq(mooncake_client_remove_all(cli, 1), MC_ILLEGAL_CLIENT);
    cr_expect_eq(mooncake_client_remove_all(cli, 0), MC_ILLEGAL_CLIENT);
    cr_expect_eq(mooncake_client_remove_by_regex(cli, "^adm", 0), MC_ILLEGAL_CLIENT);
    cr_expect_eq(mooncake_client_remove(cli, "adm1", 1), MC_ILLEGAL_CLIENT, "force is admin");
    cr_expect_eq(mooncake_client_is_exist(cli, "adm1"), 1, "nothing removed");
    cr_expect_eq(mooncake_client_remove(cli, "adm1", 0), 0, "a plain remove is not");
    /* the admin token in the hello admits them */
    cr_assert_eq(mooncake_client_put(cli, "adm2", "v", 1, NULL), 0);
    mooncake_client_close(cli);
    setenv("MOONCAKE_ADMIN_TOKEN_FILE", tok_path, 1);
    cr_assert_eq(mooncake_client_connect(sock_path, STAGING, &cli), MC_OK);
    unsetenv("MOONCAKE_ADMIN_TOKEN_FILE");
    cr_expect_eq(mooncake_client_remove_all(cli, 1), 1);
    cr_expect_eq(mooncake_client_is_exist(cli, "adm2"), 0);
    /* a wrong token does not */
    FILE *f = fopen(tok_path, "w");
    fprintf(f, "not-the-admin-token-0123\n");
    fclose(f);
    mooncake_client_close(cli);
    setenv("MOONCAKE_ADMIN_TOKEN_FILE", tok_path, 1);
    cr_assert_eq(mooncake_client_connect(sock_path, STAGING, &cli), MC_OK);
    unsetenv("MOONCAKE_ADMIN_TOKEN_FILE");
    cr_expect_eq(mooncake_client_remove_all(cli, 1), MC_ILLEGAL_CLIENT);
    unlink(tok_path);
    mooncake_client_close(cli);
    cli = NULL;
    store_ipc_stop(ipc); /* before the tokens it points to go */
    ipc = NULL;
    mc_auth_tokens_destroy(t);
}

Test(ipc, admin_uids_parse)
{
    store_ipc_opts_t o = ipc_opts();
    mc_errmsg_t err = {""};

    cr_expect_eq(store_ipc_parse_admin_uids("0,1000", &o, &err), MC_OK);
    cr_expect(o.n_admin_uids == 2 && o.admin_uids[1] == 1000);
    cr_expect_eq(store_ipc_parse_admin_uids("", &o, &err), MC_OK);
    cr_expect_eq(o.n_admin_uids, 0);
    cr_expect_eq(store_ipc_parse_admin_uids("1,x", &o, &err), MC_INVALID_PARAMS);
    cr_expect(strstr(err.msg, "ipc_admin_uids") != NULL, "%s", err.msg);
    cr_expect_eq(o.n_admin_uids, 0);
}
