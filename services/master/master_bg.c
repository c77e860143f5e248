#include "master_bg.h"

#include "mc/log.h"
#include "mc/mtime.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define TICK_MS 1000
#define POLL_MS 100 /* upper bound on stop latency and on watermark checks */

struct master_bg {
    mc_master_t *core;
    pthread_t thread;
    atomic_bool stop;
};

static void run_eviction(mc_master_t *core)
{
    mc_master_evict_report_t rep;
    if (mc_master_evict(core, mc_now_ms(), 0, &rep) == 0 &&
        (rep.freed_objects || rep.retired_objects))
        MC_DEBUG("evicted %llu objects (%llu bytes), retired %llu (%llu bytes), %llu soft-pinned",
                 (unsigned long long)rep.freed_objects, (unsigned long long)rep.freed_bytes,
                 (unsigned long long)rep.retired_objects, (unsigned long long)rep.retired_bytes,
                 (unsigned long long)rep.soft_pinned_objects);
}

static void run_tick(mc_master_t *core)
{
    mc_master_tick_report_t rep;
    if (mc_master_tick(core, mc_now_ms(), &rep) != 0)
        return;
    if (rep.expired_clients)
        MC_INFO("expired %llu silent store service(s), unmounted %llu segment(s)",
                (unsigned long long)rep.expired_clients,
                (unsigned long long)rep.unmounted_segments);
    if (rep.reclaimed_puts)
        MC_INFO("reclaimed %llu abandoned put(s)", (unsigned long long)rep.reclaimed_puts);
}

static void *bg_main(void *arg)
{
    master_bg_t *bg = arg;
    uint64_t next_tick = mc_now_ms() + TICK_MS;

    while (!atomic_load(&bg->stop)) {
        mc_master_wait_pressure(bg->core, POLL_MS);
        if (atomic_load(&bg->stop))
            break;
        if (mc_master_evict_wanted(bg->core))
            run_eviction(bg->core);
        if (mc_now_ms() >= next_tick) {
            run_tick(bg->core);
            next_tick = mc_now_ms() + TICK_MS;
        }
    }
    return NULL;
}

master_bg_t *master_bg_start(mc_master_t *core)
{
    master_bg_t *bg = calloc(1, sizeof(*bg));
    if (!bg)
        return NULL;
    bg->core = core;
    atomic_init(&bg->stop, false);
    if (pthread_create(&bg->thread, NULL, bg_main, bg) != 0) {
        free(bg);
        return NULL;
    }
    return bg;
}

void master_bg_stop(master_bg_t *bg)
{
    if (!bg)
        return;
    atomic_store(&bg->stop, true);
    pthread_join(bg->thread, NULL);
    free(bg);
}
