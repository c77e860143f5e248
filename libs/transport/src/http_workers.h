/* The HTTP server's handler pool (internal to libs/transport): handlers of
 * routes marked blocking (mc_http_server_route_blocking) run here instead of
 * on the connection thread that read the request, so a handler waiting on a
 * slow peer never holds up the other connections that thread serves; the
 * connection is suspended meanwhile. Jobs run first come, first served on
 * a fixed set of threads. */
#ifndef MC_HTTP_WORKERS_H
#define MC_HTTP_WORKERS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct http_workers http_workers_t;
typedef void (*http_job_fn)(void *job, bool cancelled);

/* n threads running fn(job, false) for each job pushed. NULL when out of
 * memory or when a thread cannot start. */
http_workers_t *http_workers_create(unsigned n, http_job_fn fn);
/* Queues job. false once stopping began: the caller keeps the job. */
bool http_workers_push(http_workers_t *w, void *job);
/* Jobs queued or running now (a gauge). */
size_t http_workers_pending(http_workers_t *w);
/* Stops taking jobs (push returns false from now on), lets the running ones
 * finish, calls fn(job, true) for each still queued and joins the threads.
 * Safe on NULL and more than once. */
void http_workers_stop(http_workers_t *w);
/* Stops (if not yet) and frees: only when nothing can push any more. */
void http_workers_destroy(http_workers_t *w);

#endif
