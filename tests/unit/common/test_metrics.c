#include "mc/metrics.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static double forty_two(void *ctx)
{
    return *(double *)ctx;
}

Test(metrics, render_all_types)
{
    mc_metrics_t *m = mc_metrics_create();
    static const double bounds[] = {0.1, 1};
    double v = 42;
    mc_counter_t *c = mc_metrics_counter(m, "reqs_total", "Requests", "method=\"GET\"");
    mc_counter_t *c2 = mc_metrics_counter(m, "reqs_total", "Requests", "method=\"PUT\"");
    mc_gauge_t *g = mc_metrics_gauge(m, "keys", "Keys", NULL);
    mc_histogram_t *h = mc_metrics_histogram(m, "lat_seconds", "Latency", NULL, bounds, 2);
    char *text;
    size_t len;

    cr_assert(c && c2 && g && h);
    cr_expect_eq(mc_metrics_counter(m, "reqs_total", "Requests", "method=\"GET\""), c);
    cr_expect_null(mc_metrics_gauge(m, "reqs_total", "x", NULL)); /* type clash */
    mc_counter_add(c, 3);
    mc_counter_add(c2, 1);
    mc_gauge_set(g, 10);
    mc_gauge_add(g, -2.5);
    mc_histogram_observe(h, 0.05);
    mc_histogram_observe(h, 0.5);
    mc_histogram_observe(h, 5);
    cr_expect_eq(mc_metrics_gauge_fn(m, "answer", "The answer", "x=\"y\"", forty_two, &v), 0);
    text = mc_metrics_render(m, &len);
    cr_assert_not_null(text);
    cr_expect_eq(strlen(text), len);
    cr_expect_not_null(strstr(text, "# TYPE reqs_total counter\n"));
    cr_expect_not_null(strstr(text, "reqs_total{method=\"GET\"} 3\n"));
    cr_expect_not_null(strstr(text, "reqs_total{method=\"PUT\"} 1\n"));
    cr_expect_not_null(strstr(text, "keys 7.5\n"));
    cr_expect_not_null(strstr(text, "lat_seconds_bucket{le=\"0.1\"} 1\n"));
    cr_expect_not_null(strstr(text, "lat_seconds_bucket{le=\"1\"} 2\n"));
    cr_expect_not_null(strstr(text, "lat_seconds_bucket{le=\"+Inf\"} 3\n"));
    cr_expect_not_null(strstr(text, "lat_seconds_count 3\n"));
    cr_expect_not_null(strstr(text, "lat_seconds_sum 5.55"));
    cr_expect_not_null(strstr(text, "answer{x=\"y\"} 42\n"));
    free(text);
    mc_metrics_destroy(m);
}

static void *bump(void *arg)
{
    mc_metrics_t *m = arg;
    for (int i = 0; i < 10000; i++)
        mc_counter_add(mc_metrics_counter(m, "n_total", "n", i % 2 ? "p=\"a\"" : "p=\"b\""), 1);
    return NULL;
}

Test(metrics, concurrent_updates)
{
    mc_metrics_t *m = mc_metrics_create();
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, bump, m);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    cr_expect_eq(mc_counter_get(mc_metrics_counter(m, "n_total", "n", "p=\"a\"")), 20000);
    cr_expect_eq(mc_counter_get(mc_metrics_counter(m, "n_total", "n", "p=\"b\"")), 20000);
    mc_metrics_destroy(m);
}
