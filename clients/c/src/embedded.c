/* The embedded default (mooncake_client_setup, docs/ipc.md): attach to this
 * host's store service for an address, or start one that lives as long as
 * the starting process wants it.
 *
 * A started service gets the read end of a pipe (--lifeline_fd) and stops
 * when it reads end of file, which happens when this process closes the
 * write end: on the close of the last handle setup gave out, or when the
 * process exits, whichever thread started it (unlike PR_SET_PDEATHSIG, which
 * fires when the forking thread ends). The write end is close-on-exec, so
 * programs this process runs do not keep the service alive. */
#include "client_internal.h"
#include "mooncake_client.h"

#include "mc/errors.h"
#include "mc/ipc_msg.h"
#include "mc/strutil.h"

#include <dlfcn.h>
#include <netdb.h>
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define READY_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 10000

/* A service this process started, shared by the handles setup gave out for
 * it. Guarded by mu. */
typedef struct started {
    char path[108];
    pid_t owner; /* the process that started it (a forked child inherits the list) */
    pid_t pid;
    int lifeline; /* write end; closing it stops the service */
    unsigned handles;
    struct started *next;
} started_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static started_t *started_list;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* FNV-1a over the fields that name a service. */
static uint64_t name_hash(const char *host, const char *master)
{
    uint64_t h = 1469598103934665603ull;
    const char *parts[2] = {host, master};

    for (int i = 0; i < 2; i++) {
        for (const char *p = parts[i]; *p; p++)
            h = (h ^ (uint8_t)*p) * 1099511628211ull;
        h = (h ^ 0xffu) * 1099511628211ull; /* separator */
    }
    return h;
}

/* Mooncake's range for a data-plane port the caller did not name. */
#define AUTO_PORT_LO 12300
#define AUTO_PORT_HI 14300

/* A port of [AUTO_PORT_LO, AUTO_PORT_HI] nobody listens on at host, tried
 * from a pseudo-random start; 0 when none was found. The service binds it a
 * moment later: a race lost there shows as a service that exits, and setup
 * tries another port. */
static unsigned free_port(const char *host)
{
    unsigned span = AUTO_PORT_HI - AUTO_PORT_LO + 1;
    unsigned start = (unsigned)(now_ms() * 2654435761u + (unsigned)getpid()) % span;

    for (unsigned i = 0; i < span; i++) {
        unsigned port = AUTO_PORT_LO + (start + i) % span;
        struct addrinfo hints = {.ai_family = AF_UNSPEC,
                                 .ai_socktype = SOCK_STREAM,
                                 .ai_flags = AI_PASSIVE},
                        *ai = NULL;
        char ps[8];
        int fd, ok;

        snprintf(ps, sizeof(ps), "%u", port);
        if (getaddrinfo(host, ps, &hints, &ai) != 0 || !ai)
            return 0;
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ok = fd >= 0 && bind(fd, ai->ai_addr, ai->ai_addrlen) == 0;
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        if (ok)
            return port;
    }
    return 0;
}

/* Splits the setup's local_hostname: *bare when it names no port. */
static int normalized_host(const char *in, char *out, size_t cap, bool *bare)
{
    int n = snprintf(out, cap, "%s", in);

    *bare = strchr(in, ':') == NULL;
    return n > 0 && (size_t)n < cap ? MC_OK : MC_INVALID_PARAMS;
}

/* A service serves the setup when it names the same master, and the same
 * local_hostname (any port of that host, when the setup named none). */
static bool serves(mooncake_client_t *c, const char *want_host, bool bare, const char *want_master)
{
    char host[256], master[256];
    bool eph;
    size_t n = strlen(want_host);

    client_identity(c, host, sizeof(host), master, sizeof(master), &eph);
    if (strcmp(master, want_master) != 0)
        return false;
    if (bare)
        return strncmp(host, want_host, n) == 0 && host[n] == ':';
    return strcmp(host, want_host) == 0;
}

/* Connects to path when a service there serves the setup. */
static int try_attach(const char *path, const char *host, bool bare, const char *master,
                      size_t staging, mooncake_client_t **out)
{
    mooncake_client_t *c = NULL;

    if (access(path, F_OK) != 0 || mooncake_client_connect(path, 1, &c) != MC_OK)
        return MC_RPC_FAIL;
    client_set_staging(c, staging);
    if (!serves(c, host, bare, master)) {
        mooncake_client_close(c);
        return MC_OBJECT_NOT_FOUND;
    }
    *out = c;
    return MC_OK;
}

static void handle_closed(void *arg)
{
    started_t *s = arg, **pp;
    bool last;

    pthread_mutex_lock(&mu);
    last = --s->handles == 0;
    if (last)
        for (pp = &started_list; *pp; pp = &(*pp)->next)
            if (*pp == s) {
                *pp = s->next;
                break;
            }
    pthread_mutex_unlock(&mu);
    if (!last)
        return;
    close(s->lifeline); /* the service sees end of file (once no process holds it) and stops */
    if (s->owner != getpid()) {
        free(s); /* a forked child's copy: the service is its parent's to stop and reap */
        return;
    }
    for (uint64_t end = now_ms() + STOP_TIMEOUT_MS; now_ms() < end;) {
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            free(s);
            return;
        }
        sleep_ms(10);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    free(s);
}

/* The store service binary: MOONCAKE_STORE_SERVICE_BIN, next to this
 * library (its directory, its bin/ as in the Python package, or ../bin as
 * in a build tree), or the bare name for a PATH search. */
static void service_binary(char *out, size_t cap)
{
    const char *env = getenv("MOONCAKE_STORE_SERVICE_BIN");
    static const char *const rel[] = {"/mooncake_store_service", "/bin/mooncake_store_service",
                                      "/../bin/mooncake_store_service"};
    Dl_info info;

    if (env && env[0]) {
        mc_strlcpy(out, env, cap);
        return;
    }
    if (dladdr((void *)(uintptr_t)mooncake_client_setup, &info) && info.dli_fname) {
        char dir[4096];
        char *slash;

        mc_strlcpy(dir, info.dli_fname, sizeof(dir));
        if ((slash = strrchr(dir, '/')) != NULL) {
            *slash = '\0';
            for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
                int n = snprintf(out, cap, "%s%s", dir, rel[i]);
                if (n > 0 && (size_t)n < cap && access(out, X_OK) == 0)
                    return;
            }
        }
    }
    mc_strlcpy(out, "mooncake_store_service", cap);
}

/* One argument into argbuf[n]; NULL when it does not fit (never cut short). */
#define ARG(...)                                                                               \
    ((size_t)(unsigned)snprintf(argbuf[n], sizeof(argbuf[n]), __VA_ARGS__) < sizeof(argbuf[n]) \
         ? argbuf[n++]                                                                         \
         : NULL)

/* Starts the service for the setup on path; waits until it answers there. */
static int start_service(const mooncake_client_setup_t *st, const char *host, const char *path,
                         started_t **out)
{
    char bin[4096], argbuf[16][1100];
    char *argv[18];
    int n = 0, last, fds[2], child_fd;
    posix_spawn_file_actions_t fa;
    pid_t pid;
    started_t *s;
    int rc;

    service_binary(bin, sizeof(bin));
    if (pipe2(fds, O_CLOEXEC) != 0)
        return MC_INTERNAL_ERROR;
    /* the child's end lands on fd 3; keep it off 3 here so dup2 is real */
    child_fd = fcntl(fds[0], F_DUPFD_CLOEXEC, 10);
    close(fds[0]);
    if (child_fd < 0) {
        close(fds[1]);
        return MC_INTERNAL_ERROR;
    }
    argv[0] = bin;
    argv[1] = ARG("--local_hostname=%s", host);
    argv[2] = ARG("--metadata_server=%s", st->metadata_server ? st->metadata_server : "P2P");
    argv[3] = ARG("--global_segment_size=%llu", (unsigned long long)st->global_segment_size);
    argv[4] = ARG("--protocol=%s", st->protocol && st->protocol[0] ? st->protocol : "tcp");
    argv[5] = ARG("--rdma_devices=%s", st->device_name ? st->device_name : "");
    argv[6] = ARG("--master_server_addr=%s", st->master_server_addr);
    argv[7] = ARG("--ipc_socket=%s", path);
    argv[8] = ARG("--rest_port=0");
    argv[9] = ARG("--lifeline_fd=3");
    last = 10;
    /* the SSD tier: the path given, none, or (no path) the service's
     * MOONCAKE_OFFLOAD_FILE_STORAGE_PATH */
    if (!st->enable_ssd_offload)
        argv[last++] = ARG("--ssd_path=");
    else if (st->ssd_offload_path && st->ssd_offload_path[0])
        argv[last++] = ARG("--ssd_path=%s", st->ssd_offload_path);
    argv[last] = NULL;
    for (int i = 1; i < last; i++)
        if (!argv[i]) {
            close(child_fd);
            close(fds[1]);
            return MC_INVALID_PARAMS;
        }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, child_fd, 3);
    rc = strchr(bin, '/') ? posix_spawn(&pid, bin, &fa, NULL, argv, environ)
                          : posix_spawnp(&pid, bin, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(child_fd);
    if (rc != 0) {
        close(fds[1]);
        return MC_FILE_NOT_FOUND;
    }
    if (!(s = calloc(1, sizeof(*s)))) {
        close(fds[1]);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return MC_INTERNAL_ERROR;
    }
    *s = (started_t){.owner = getpid(), .pid = pid, .lifeline = fds[1]};
    mc_strlcpy(s->path, path, sizeof(s->path));
    *out = s;
    return MC_OK;
}

/* Waits until the started service answers on its path and is healthy (its
 * master reached, its segment mounted), or exits. RPC_FAIL when it never
 * got healthy: the master is not running, most likely. */
static int wait_ready(started_t *s, const char *host, bool bare, const char *master, size_t staging,
                      mooncake_client_t **out)
{
    mooncake_client_t *c = NULL;
    int rc = MC_UNAVAILABLE_IN_CURRENT_STATUS;

    for (uint64_t end = now_ms() + READY_TIMEOUT_MS; now_ms() < end; sleep_ms(20)) {
        int status;

        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            s->pid = -1;
            rc = MC_UNAVAILABLE_IN_CURRENT_STATUS; /* it exited: bad settings, or a busy port */
            break;
        }
        if (!c && try_attach(s->path, host, bare, master, staging, &c) != MC_OK)
            continue;
        if (mooncake_client_health(c) == MC_OK) {
            *out = c;
            return MC_OK;
        }
        rc = MC_RPC_FAIL;
    }
    mooncake_client_close(c);
    return rc;
}

/* Takes the lock of the address whose hash is h (created in dir). */
static int lock_dir(const char *dir, uint64_t h, int *fd)
{
    char path[256];
    int n = snprintf(path, sizeof(path), "%s/embedded-%016llx.lock", dir, (unsigned long long)h);

    if (n <= 0 || (size_t)n >= sizeof(path))
        return MC_INVALID_PARAMS;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return MC_FILE_OPEN_FAIL;
    if ((*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
        return MC_FILE_OPEN_FAIL;
    if (flock(*fd, LOCK_EX) != 0) {
        close(*fd);
        return MC_FILE_LOCK_FAIL;
    }
    return MC_OK;
}

/* Starts a service for the setup on path and waits for it; a bare host gets
 * a free port of Mooncake's range, tried up to three times (a port taken
 * between the check and the service's bind makes the service exit). */
static int start_and_wait(const mooncake_client_setup_t *st, const char *host, bool bare,
                          const char *path, size_t staging, started_t **out_s,
                          mooncake_client_t **out)
{
    int rc = MC_UNAVAILABLE_IN_CURRENT_STATUS;

    for (int attempt = 0; attempt < (bare ? 3 : 1); attempt++) {
        char with_port[300];
        started_t *s = NULL;
        unsigned port = bare ? free_port(host) : 0;

        if (bare && !port)
            return MC_NO_AVAILABLE_HANDLE;
        if (bare)
            snprintf(with_port, sizeof(with_port), "%s:%u", host, port);
        else
            mc_strlcpy(with_port, host, sizeof(with_port));
        if ((rc = start_service(st, with_port, path, &s)) != MC_OK)
            return rc;
        if ((rc = wait_ready(s, host, bare, st->master_server_addr, staging, out)) == MC_OK) {
            *out_s = s;
            return MC_OK;
        }
        close(s->lifeline);
        if (s->pid > 0) {
            kill(s->pid, SIGTERM);
            waitpid(s->pid, NULL, 0);
        }
        free(s);
        if (rc != MC_UNAVAILABLE_IN_CURRENT_STATUS)
            break; /* it ran but never got healthy: another port will not help */
    }
    return rc;
}

int mooncake_client_setup(const mooncake_client_setup_t *st, mooncake_client_t **out)
{
    char host[256], dir[256], path[108], def_dir[256], def_path[108];
    const char *env = getenv("MOONCAKE_IPC_SOCKET");
    const char *master;
    size_t staging;
    started_t *s = NULL;
    bool bare;
    uint64_t h;
    int lock = -1, rc;

    if (!out || !st || !st->local_hostname || !st->master_server_addr)
        return MC_INVALID_PARAMS;
    *out = NULL;
    master = st->master_server_addr;
    staging = (size_t)st->local_buffer_size;
    if (normalized_host(st->local_hostname, host, sizeof(host), &bare) != MC_OK)
        return MC_INVALID_PARAMS;
    h = name_hash(host, master);
    if (mc_ipc_default_path(getenv("XDG_RUNTIME_DIR"), getenv("TMPDIR"), (unsigned)getuid(), 50052u,
                            def_dir, sizeof(def_dir), def_path, sizeof(def_path)) != MC_OK ||
        snprintf(dir, sizeof(dir), "%s", def_dir) <= 0 ||
        snprintf(path, sizeof(path), "%s/embedded-%016llx.sock", dir, (unsigned long long)h) >=
            (int)sizeof(path))
        return MC_INVALID_PARAMS;
    /* a service already there: named by the environment, or the host's
     * default one */
    if ((env && env[0] && try_attach(env, host, bare, master, staging, out) == MC_OK) ||
        try_attach(def_path, host, bare, master, staging, out) == MC_OK)
        return MC_OK;
    if ((rc = lock_dir(dir, h, &lock)) != MC_OK)
        return rc;
    /* one an earlier setup started: ours (counted now, released if the
     * attach fails) or another process's */
    pthread_mutex_lock(&mu);
    for (started_t *q = started_list; q; q = q->next)
        if (strcmp(q->path, path) == 0) {
            q->handles++;
            s = q;
            break;
        }
    pthread_mutex_unlock(&mu);
    rc = try_attach(path, host, bare, master, staging, out);
    if (rc != MC_OK && s) {
        handle_closed(s);
        s = NULL;
    } else if (rc != MC_OK &&
               (rc = start_and_wait(st, host, bare, path, staging, &s, out)) == MC_OK) {
        s->handles = 1;
        pthread_mutex_lock(&mu);
        s->next = started_list;
        started_list = s;
        pthread_mutex_unlock(&mu);
    }
    flock(lock, LOCK_UN);
    close(lock);
    if (rc == MC_OK && s)
        client_on_close(*out, handle_closed, s);
    return rc;
}
