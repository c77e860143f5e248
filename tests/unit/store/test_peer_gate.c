/* The per-peer waiter gate: cap threads wait on a peer, one more waits for a
 * slot for a bounded time, a freed slot admits it; other peers unaffected. */
#include "peer_gate.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

Test(peer_gate, cap_waiters_then_a_bounded_wait)
{
    store_peer_gate_t *g = store_peer_gate_create(2);
    cr_assert_not_null(g);
    cr_assert(store_peer_enter(g, "b:1", 50));
    cr_assert(store_peer_enter(g, "b:1", 50));
    double t0 = now_ms();
    cr_assert_not(store_peer_enter(g, "b:1", 50), "a stalled peer: refused after the wait");
    cr_assert_geq(now_ms() - t0, 49.0, "it did wait");
    cr_assert(store_peer_enter(g, "c:1", 0), "other peers are not affected");
    cr_assert_eq(store_peer_waiters(g, "b:1"), 2);
    store_peer_leave(g, "b:1");
    cr_assert(store_peer_enter(g, "b:1", 0), "a freed slot admits at once");
    store_peer_leave(g, "b:1");
    store_peer_leave(g, "b:1");
    store_peer_leave(g, "c:1");
    cr_assert_eq(store_peer_waiters(g, "b:1"), 0);
    store_peer_gate_destroy(g);
}

static store_peer_gate_t *shared;

static void *leave_soon(void *arg)
{
    (void)arg;
    usleep(20000);
    store_peer_leave(shared, "busy:1");
    return NULL;
}

Test(peer_gate, a_slot_freed_during_the_wait_is_taken)
{
    pthread_t th;
    shared = store_peer_gate_create(1);
    cr_assert(store_peer_enter(shared, "busy:1", 0));
    pthread_create(&th, NULL, leave_soon, NULL);
    cr_assert(store_peer_enter(shared, "busy:1", 5000), "a peer that answers never refuses");
    pthread_join(th, NULL);
    cr_assert_eq(store_peer_waiters(shared, "busy:1"), 1);
    store_peer_gate_destroy(shared);
}
