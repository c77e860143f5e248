#include "mc/metrics.h"

#include "mc/buf.h"
#include "mc/errors.h"
#include "mc/thread.h"

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BOUNDS 32

typedef enum { T_COUNTER, T_GAUGE, T_HISTOGRAM } mtype_t;

struct mc_counter {
    atomic_uint_fast64_t v;
};

struct mc_gauge {
    _Atomic double v;
};

struct mc_histogram {
    size_t n;
    double bounds[MAX_BOUNDS];
    atomic_uint_fast64_t buckets[MAX_BOUNDS + 1];
    _Atomic double sum;
    atomic_uint_fast64_t count;
};

typedef struct series {
    struct series *next;
    char *labels;
    mc_gauge_fn fn;
    void *ctx;
    union {
        struct mc_counter counter;
        struct mc_gauge gauge;
        struct mc_histogram hist;
    } u;
} series_t;

typedef struct family {
    struct family *next;
    char *name;
    char *help;
    mtype_t type;
    series_t *series, **tail;
} family_t;

/* lock guards the family and series lists (never the values: those are atomics). */
struct mc_metrics {
    mc_mutex_t lock;
    family_t *families MC_GUARDED_BY(lock);
    family_t **tail MC_GUARDED_BY(lock);
};

/* Unlocked: m is not shared before it is returned. */
mc_metrics_t *mc_metrics_create(void) MC_NO_THREAD_SAFETY_ANALYSIS
{
    mc_metrics_t *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    mc_mutex_init(&m->lock);
    m->tail = &m->families;
    return m;
}

/* Unlocked: the caller guarantees no other thread uses m any more. */
void mc_metrics_destroy(mc_metrics_t *m) MC_NO_THREAD_SAFETY_ANALYSIS
{
    family_t *f, *fn;
    series_t *s, *sn;

    if (!m)
        return;
    for (f = m->families; f; f = fn) {
        fn = f->next;
        for (s = f->series; s; s = sn) {
            sn = s->next;
            free(s->labels);
            free(s);
        }
        free(f->name);
        free(f->help);
        free(f);
    }
    mc_mutex_destroy(&m->lock);
    free(m);
}

static series_t *do_get_series(mc_metrics_t *m, const char *name, const char *help, mtype_t type,
                               const char *labels, bool *created) MC_REQUIRES(m->lock)
{
    family_t *f;
    series_t *s;

    *created = false;
    if (!labels)
        labels = "";
    for (f = m->families; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            break;
    if (f && f->type != type)
        return NULL;
    if (!f) {
        f = calloc(1, sizeof(*f));
        if (!f)
            return NULL;
        f->name = strdup(name);
        f->help = strdup(help ? help : "");
        if (!f->name || !f->help) {
            free(f->name);
            free(f->help);
            free(f);
            return NULL;
        }
        f->type = type;
        f->tail = &f->series;
        *m->tail = f;
        m->tail = &f->next;
    }
    for (s = f->series; s; s = s->next)
        if (strcmp(s->labels, labels) == 0)
            return s;
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->labels = strdup(labels);
    if (!s->labels) {
        free(s);
        return NULL;
    }
    *f->tail = s;
    f->tail = &s->next;
    *created = true;
    return s;
}

static series_t *get_series(mc_metrics_t *m, const char *name, const char *help, mtype_t type,
                            const char *labels, bool *created)
{
    series_t *s;
    mc_mutex_lock(&m->lock);
    s = do_get_series(m, name, help, type, labels, created);
    mc_mutex_unlock(&m->lock);
    return s;
}

mc_counter_t *mc_metrics_counter(mc_metrics_t *m, const char *name, const char *help,
                                 const char *labels)
{
    bool created;
    series_t *s = get_series(m, name, help, T_COUNTER, labels, &created);
    return s ? &s->u.counter : NULL;
}

mc_gauge_t *mc_metrics_gauge(mc_metrics_t *m, const char *name, const char *help,
                             const char *labels)
{
    bool created;
    series_t *s = get_series(m, name, help, T_GAUGE, labels, &created);
    return s ? &s->u.gauge : NULL;
}

int mc_metrics_gauge_fn(mc_metrics_t *m, const char *name, const char *help, const char *labels,
                        mc_gauge_fn fn, void *ctx)
{
    bool created;
    series_t *s;

    mc_mutex_lock(&m->lock);
    s = do_get_series(m, name, help, T_GAUGE, labels, &created);
    if (s) {
        s->fn = fn;
        s->ctx = ctx;
    }
    mc_mutex_unlock(&m->lock);
    return s ? 0 : -1;
}

mc_histogram_t *mc_metrics_histogram(mc_metrics_t *m, const char *name, const char *help,
                                     const char *labels, const double *bounds, size_t n)
{
    bool created;
    series_t *s;

    if (n > MAX_BOUNDS)
        return NULL;
    mc_mutex_lock(&m->lock);
    s = do_get_series(m, name, help, T_HISTOGRAM, labels, &created);
    if (s && created) {
        s->u.hist.n = n;
        memcpy(s->u.hist.bounds, bounds, n * sizeof(double));
    }
    mc_mutex_unlock(&m->lock);
    return s ? &s->u.hist : NULL;
}

void mc_counter_add(mc_counter_t *c, uint64_t n)
{
    if (c)
        atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}

uint64_t mc_counter_get(const mc_counter_t *c)
{
    return c ? atomic_load_explicit(&c->v, memory_order_relaxed) : 0;
}

void mc_gauge_set(mc_gauge_t *g, double v)
{
    if (g)
        atomic_store_explicit(&g->v, v, memory_order_relaxed);
}

static void atomic_add_double(_Atomic double *p, double d)
{
    double old = atomic_load_explicit(p, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(p, &old, old + d, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

void mc_gauge_add(mc_gauge_t *g, double delta)
{
    if (g)
        atomic_add_double(&g->v, delta);
}

double mc_gauge_get(const mc_gauge_t *g)
{
    return g ? atomic_load_explicit(&g->v, memory_order_relaxed) : 0.0;
}

void mc_histogram_observe(mc_histogram_t *h, double v)
{
    size_t i = 0;

    if (!h)
        return;
    while (i < h->n && v > h->bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_add_double(&h->sum, v);
}

static void fmt_value(char *out, size_t len, double v)
{
    if (isinf(v))
        snprintf(out, len, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        snprintf(out, len, "%.0f", v);
    else
        snprintf(out, len, "%.9g", v);
}

static void render_hist(mc_buf_t *b, const family_t *f, const series_t *s)
{
    const struct mc_histogram *h = &s->u.hist;
    const char *sep = s->labels[0] ? "," : "";
    uint64_t cum = 0;
    char le[64];

    for (size_t i = 0; i <= h->n; i++) {
        cum += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        fmt_value(le, sizeof(le), i < h->n ? h->bounds[i] : (double)INFINITY);
        mc_buf_printf(b, "%s_bucket{%s%sle=\"%s\"} %llu\n", f->name, s->labels, sep, le,
                      (unsigned long long)cum);
    }
    fmt_value(le, sizeof(le), atomic_load_explicit(&h->sum, memory_order_relaxed));
    if (s->labels[0]) {
        mc_buf_printf(b, "%s_sum{%s} %s\n", f->name, s->labels, le);
        mc_buf_printf(b, "%s_count{%s} %llu\n", f->name, s->labels, (unsigned long long)cum);
    } else {
        mc_buf_printf(b, "%s_sum %s\n%s_count %llu\n", f->name, le, f->name,
                      (unsigned long long)cum);
    }
}

char *mc_metrics_render(mc_metrics_t *m, size_t *len)
{
    static const char *const tnames[] = {"counter", "gauge", "histogram"};
    mc_buf_t b;
    char val[64];

    mc_buf_init(&b, 0);
    if (mc_buf_reserve(&b, 4096) != MC_OK)
        return NULL;
    mc_mutex_lock(&m->lock);
    for (const family_t *f = m->families; f; f = f->next) {
        mc_buf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                      tnames[f->type]);
        for (const series_t *s = f->series; s; s = s->next) {
            double v;
            if (f->type == T_HISTOGRAM) {
                render_hist(&b, f, s);
                continue;
            }
            if (f->type == T_COUNTER)
                v = (double)mc_counter_get(&s->u.counter);
            else
                v = s->fn ? s->fn(s->ctx) : mc_gauge_get(&s->u.gauge);
            fmt_value(val, sizeof(val), v);
            if (s->labels[0])
                mc_buf_printf(&b, "%s{%s} %s\n", f->name, s->labels, val);
            else
                mc_buf_printf(&b, "%s %s\n", f->name, val);
        }
    }
    mc_mutex_unlock(&m->lock);
    return mc_buf_take(&b, len);
}
