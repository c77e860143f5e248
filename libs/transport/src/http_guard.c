#include "http_guard.h"

#include "mc/mtime.h"
#include "mc/thread.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* A keep-alive connection's next request is taken to start when the kernel
 * saw data later than this after the previous reply (TCP_INFO's times are
 * jiffies, a few ms coarse). */
#define IDLE_SLACK_MS 50
/* Ticks a connection is seen half-closed before it is cut: the request's
 * last bytes and the FIN may have arrived just before MHD read them. */
#define FIN_TICKS 2

enum conn_phase {
    PH_READING,  /* a request is arriving: the deadline runs */
    PH_ANSWERED, /* the handler runs or the reply is being sent */
    PH_IDLE,     /* between keep-alive requests */
    PH_CUT,      /* shut down by the reaper; MHD is closing it */
};

typedef struct guard_conn {
    struct guard_conn *prev, *next; /* http_guard.lock */
    http_guard_t *g;
    int fd;
    /* lock order: http_guard.lock, then a connection's lock */
    mc_mutex_t lock;
    enum conn_phase phase MC_GUARDED_BY(lock);
    uint64_t deadline_ms MC_GUARDED_BY(lock); /* PH_READING */
    uint64_t idle_ms MC_GUARDED_BY(lock);     /* PH_IDLE: when the last reply ended */
    unsigned fin_ticks MC_GUARDED_BY(lock);
} guard_conn_t;

struct http_guard {
    uint64_t timeout_ms;
    mc_counter_t *cut_deadline, *cut_half_closed;
    /* the connection list and the reaper's stop flag */
    mc_mutex_t lock;
    guard_conn_t *head MC_GUARDED_BY(lock);
    bool stop MC_GUARDED_BY(lock);
    pthread_cond_t wake;
    pthread_t reaper;
};

static void cut(guard_conn_t *c, mc_counter_t *why) MC_REQUIRES(c->lock)
{
    c->phase = PH_CUT;
    mc_counter_add(why, 1); /* before the peer can see the cut */
    (void)shutdown(c->fd, SHUT_RDWR);
}

/* One connection at one tick. */
static void inspect(http_guard_t *g, guard_conn_t *c, uint64_t now) MC_REQUIRES(c->lock)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    bool half_closed;

    if (c->phase == PH_ANSWERED || c->phase == PH_CUT)
        return;
    memset(&ti, 0, sizeof(ti));
    if (getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
        return;
    if (c->phase == PH_IDLE && now >= ti.tcpi_last_data_recv) {
        uint64_t rx = now - ti.tcpi_last_data_recv;
        if (rx > c->idle_ms + IDLE_SLACK_MS) {
            c->phase = PH_READING;
            c->deadline_ms = rx + g->timeout_ms;
        }
    }
    /* the peer's FIN came while a request was arriving (it can never be
     * complete) or on an idle connection (no request can follow) */
    half_closed = ti.tcpi_state == TCP_CLOSE_WAIT;
    c->fin_ticks = half_closed ? c->fin_ticks + 1 : 0;
    if (c->fin_ticks >= FIN_TICKS)
        cut(c, g->cut_half_closed);
    else if (c->phase == PH_READING && now >= c->deadline_ms)
        cut(c, g->cut_deadline);
}

static void *reaper_main(void *arg)
{
    http_guard_t *g = arg;
    struct timespec ts;

    mc_mutex_lock(&g->lock);
    while (!g->stop) {
        uint64_t now = mc_now_ms();
        for (guard_conn_t *c = g->head; c; c = c->next) {
            mc_mutex_lock(&c->lock);
            inspect(g, c, now);
            mc_mutex_unlock(&c->lock);
        }
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += GUARD_TICK_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        (void)mc_cond_timedwait(&g->wake, &g->lock, &ts);
    }
    mc_mutex_unlock(&g->lock);
    return NULL;
}

http_guard_t *http_guard_create(uint64_t request_timeout_ms, mc_metrics_t *metrics)
{
    http_guard_t *g = calloc(1, sizeof(*g));
    const char *help = "HTTP connections cut by the server (request deadline, half-closed)";

    if (!g)
        return NULL;
    g->timeout_ms = request_timeout_ms;
    g->cut_deadline =
        mc_metrics_counter(metrics, "mc_http_connections_cut_total", help, "reason=\"deadline\"");
    g->cut_half_closed = mc_metrics_counter(metrics, "mc_http_connections_cut_total", help,
                                            "reason=\"half_closed\"");
    if (mc_mutex_init(&g->lock) != 0) {
        free(g);
        return NULL;
    }
    if (mc_cond_init_monotonic(&g->wake) != 0) {
        mc_mutex_destroy(&g->lock);
        free(g);
        return NULL;
    }
    if (pthread_create(&g->reaper, NULL, reaper_main, g) != 0) {
        pthread_cond_destroy(&g->wake);
        mc_mutex_destroy(&g->lock);
        free(g);
        return NULL;
    }
    return g;
}

void http_guard_destroy(http_guard_t *g)
{
    if (!g)
        return;
    mc_mutex_lock(&g->lock);
    g->stop = true;
    pthread_cond_signal(&g->wake);
    mc_mutex_unlock(&g->lock);
    pthread_join(g->reaper, NULL);
    pthread_cond_destroy(&g->wake);
    mc_mutex_destroy(&g->lock);
    free(g);
}

/* MHD calls CLOSED before it closes the socket, so a registered connection's
 * descriptor is open: the reaper, holding the list lock, never shuts down a
 * descriptor that was closed and reused. */
void http_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                       enum MHD_ConnectionNotificationCode code)
{
    http_guard_t *g = cls;
    guard_conn_t *c = *socket_context;
    const union MHD_ConnectionInfo *ci;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci || !(c = calloc(1, sizeof(*c))))
            return; /* unguarded: MHD's idle timeout still applies */
        if (mc_mutex_init(&c->lock) != 0) {
            free(c);
            return;
        }
        c->g = g;
        c->fd = ci->connect_fd;
        mc_mutex_lock(&c->lock);
        c->phase = PH_READING;
        c->deadline_ms = mc_now_ms() + g->timeout_ms;
        mc_mutex_unlock(&c->lock);
        mc_mutex_lock(&g->lock);
        c->next = g->head;
        if (g->head)
            g->head->prev = c;
        g->head = c;
        mc_mutex_unlock(&g->lock);
        *socket_context = c;
        return;
    }
    if (!c)
        return;
    mc_mutex_lock(&g->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        g->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    mc_mutex_unlock(&g->lock);
    mc_mutex_destroy(&c->lock);
    free(c);
    *socket_context = NULL;
}

static guard_conn_t *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        conn ? MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT) : NULL;
    return ci ? ci->socket_context : NULL;
}

void http_guard_request_line(struct MHD_Connection *conn)
{
    guard_conn_t *c = conn_of(conn);
    uint64_t now = mc_now_ms();

    if (!c)
        return;
    mc_mutex_lock(&c->lock);
    if (c->phase == PH_IDLE || c->phase == PH_ANSWERED) {
        /* not seen by the reaper yet: the request started at the latest now */
        c->phase = PH_READING;
        c->deadline_ms = now + c->g->timeout_ms;
    }
    mc_mutex_unlock(&c->lock);
}

void http_guard_body(struct MHD_Connection *conn, uint64_t bytes)
{
    guard_conn_t *c = conn_of(conn);

    if (!c)
        return;
    mc_mutex_lock(&c->lock);
    if (c->phase == PH_READING)
        c->deadline_ms += bytes / (GUARD_BODY_BYTES_PER_S / 1000u);
    mc_mutex_unlock(&c->lock);
}

void http_guard_answered(struct MHD_Connection *conn)
{
    guard_conn_t *c = conn_of(conn);

    if (!c)
        return;
    mc_mutex_lock(&c->lock);
    if (c->phase != PH_CUT)
        c->phase = PH_ANSWERED;
    mc_mutex_unlock(&c->lock);
}

void http_guard_completed(struct MHD_Connection *conn)
{
    guard_conn_t *c = conn_of(conn);

    if (!c)
        return;
    mc_mutex_lock(&c->lock);
    if (c->phase != PH_CUT) {
        c->phase = PH_IDLE;
        c->idle_ms = mc_now_ms();
    }
    mc_mutex_unlock(&c->lock);
}
