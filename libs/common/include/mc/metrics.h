/* A Prometheus registry: counters, gauges (set or computed by a callback) and
 * histograms, identified by name plus a preformatted label set such as
 * `method="GET",status="200"`. Handles returned by the registry stay valid
 * until it is destroyed; updating them is lock-free. Rendering takes the
 * registry lock. No HTTP here: the server wrapper serves the text. */
#ifndef MC_METRICS_H
#define MC_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct mc_metrics mc_metrics_t;
typedef struct mc_counter mc_counter_t;
typedef struct mc_gauge mc_gauge_t;
typedef struct mc_histogram mc_histogram_t;
typedef double (*mc_gauge_fn)(void *ctx);

mc_metrics_t *mc_metrics_create(void);
void mc_metrics_destroy(mc_metrics_t *m);

/* Get-or-create. labels may be NULL or "". NULL only on allocation failure or
 * when name is already registered with another type. */
mc_counter_t *mc_metrics_counter(mc_metrics_t *m, const char *name, const char *help,
                                 const char *labels);
mc_gauge_t *mc_metrics_gauge(mc_metrics_t *m, const char *name, const char *help,
                             const char *labels);
/* A gauge whose value fn(ctx) computes at render time (under the registry lock). */
int mc_metrics_gauge_fn(mc_metrics_t *m, const char *name, const char *help, const char *labels,
                        mc_gauge_fn fn, void *ctx);
/* bounds: ascending upper bounds (at most 32); +Inf is implicit. */
mc_histogram_t *mc_metrics_histogram(mc_metrics_t *m, const char *name, const char *help,
                                     const char *labels, const double *bounds, size_t n);

void mc_counter_add(mc_counter_t *c, uint64_t n);
uint64_t mc_counter_get(const mc_counter_t *c);
void mc_gauge_set(mc_gauge_t *g, double v);
void mc_gauge_add(mc_gauge_t *g, double delta);
double mc_gauge_get(const mc_gauge_t *g);
void mc_histogram_observe(mc_histogram_t *h, double v);

/* Prometheus text exposition format 0.0.4; malloc'd, caller frees. */
char *mc_metrics_render(mc_metrics_t *m, size_t *len);

#endif
