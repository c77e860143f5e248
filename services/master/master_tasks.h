/* The master -> store channel of the SSD tier: a thread that posts each disk
 * tier owner's queued tasks (persist, drop: mc_master_tasks_take) in one
 * POST {control_url}/api/v1/ssd/tasks, woken as soon as a task is queued.
 * A failed post is retried (doubling backoff from 100 ms) up to `attempts`
 * posts in all, then given up and counted; the core's locks are never held
 * while posting. It also keeps the per-owner disk gauges on /metrics. */
#ifndef MC_MASTER_TASKS_H
#define MC_MASTER_TASKS_H

#include "master_core.h"
#include "mc/auth.h"
#include "mc/metrics.h"

typedef struct master_tasks master_tasks_t;

/* auth (not owned; outlives the sender): its cluster token goes on every
 * post. timeout_ms bounds one post. NULL when out of memory. */
master_tasks_t *master_tasks_start(mc_master_t *core, mc_metrics_t *metrics, mc_auth_t *auth,
                                   long timeout_ms, unsigned attempts);
/* Stops the thread (after the post in flight, if any) and frees. Safe on NULL. */
void master_tasks_stop(master_tasks_t *t);

#endif
