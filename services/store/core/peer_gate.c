#include "peer_gate.h"

#include "mc/thread.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#define SLOTS 256u

struct store_peer_gate {
    pthread_mutex_t mu;
    pthread_cond_t freed; /* a slot's waiter left */
    unsigned cap;
    unsigned waiters[SLOTS];
};

static unsigned slot_of(const char *peer)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)peer; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % SLOTS;
}

store_peer_gate_t *store_peer_gate_create(unsigned cap)
{
    store_peer_gate_t *g = calloc(1, sizeof(*g));

    if (!g)
        return NULL;
    pthread_mutex_init(&g->mu, NULL);
    (void)mc_cond_init_monotonic(&g->freed);
    g->cap = cap ? cap : 1;
    return g;
}

void store_peer_gate_destroy(store_peer_gate_t *g)
{
    if (!g)
        return;
    pthread_cond_destroy(&g->freed);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

bool store_peer_enter(store_peer_gate_t *g, const char *peer, uint32_t wait_ms)
{
    unsigned s = slot_of(peer);
    struct timespec until;
    bool ok;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&g->mu);
    while (g->waiters[s] >= g->cap)
        if (pthread_cond_timedwait(&g->freed, &g->mu, &until) == ETIMEDOUT)
            break;
    ok = g->waiters[s] < g->cap;
    if (ok)
        g->waiters[s]++;
    pthread_mutex_unlock(&g->mu);
    return ok;
}

void store_peer_leave(store_peer_gate_t *g, const char *peer)
{
    unsigned s = slot_of(peer);

    pthread_mutex_lock(&g->mu);
    if (g->waiters[s])
        g->waiters[s]--;
    pthread_cond_broadcast(&g->freed);
    pthread_mutex_unlock(&g->mu);
}

unsigned store_peer_waiters(store_peer_gate_t *g, const char *peer)
{
    pthread_mutex_lock(&g->mu);
    unsigned n = g->waiters[slot_of(peer)];
    pthread_mutex_unlock(&g->mu);
    return n;
}
