/* test_bench_promtext.c - unit tests of the /metrics reader (src/bench/promtext.c): uvfib's
 * and prom-client's exposition, labels, comments, special values, look-alike names, line
 * endings, and text that ends without a newline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "bench/promtext.h"

static double values[UVFIB__BENCH_N_SERVER_METRICS];

static size_t scan(const char *text)
{
    return uvfib__bench_promtext_scan(text, strlen(text), values);
}

static void test_uvfib_exposition(void **state)
{
    (void)state;
    const char *text =
        "# HELP uvfib_eventloop_lag_p99_seconds 99th percentile loop delay in the last window.\n"
        "# TYPE uvfib_eventloop_lag_p99_seconds gauge\n"
        "uvfib_eventloop_lag_p99_seconds 0.0123\n"
        "uvfib_eventloop_lag_seconds_bucket{le=\"0.001\"} 50\n"
        "uvfib_eventloop_lag_max_seconds 1.5e-2\n"
        "uvfib_eventloop_utilization 0.25\n"
        "uvfib_pool_busy_threads 2\n"
        "uvfib_pool_waiting_jobs 7\n";
    assert_int_equal(scan(text), 5);
    assert_float_equal(values[UVFIB__BENCH_SM_UVFIB_LAG_P99], 0.0123, 0.0);
    assert_float_equal(values[UVFIB__BENCH_SM_UVFIB_LAG_MAX], 0.015, 0.0);
    assert_float_equal(values[UVFIB__BENCH_SM_UVFIB_ELU], 0.25, 0.0);
    assert_float_equal(values[UVFIB__BENCH_SM_UVFIB_POOL_BUSY], 2.0, 0.0);
    assert_float_equal(values[UVFIB__BENCH_SM_UVFIB_POOL_WAITING], 7.0, 0.0);
    assert_true(isnan(values[UVFIB__BENCH_SM_UVFIB_LAG_MIN]));
    assert_true(isnan(values[UVFIB__BENCH_SM_NODE_LAG_P99]));
}

static void test_prom_client_exposition_with_labels(void **state)
{
    (void)state;
    const char *text =
        "# HELP nodejs_eventloop_lag_seconds Lag of event loop in seconds.\r\n"
        "# TYPE nodejs_eventloop_lag_seconds gauge\r\n"
        "nodejs_eventloop_lag_seconds{app=\"x}y\",env=\"a\\\"b\"} 0.004 1700000000000\r\n"
        "nodejs_eventloop_lag_p99_seconds 0.020561919\r\n"
        "nodejs_eventloop_lag_min_seconds\t9223372036.854776\r\n"
        "nodejs_active_handles{type=\"Socket\"} 4\r\n"
        "nodejs_eventloop_utilization 0.5";   /* no newline at the end */
    assert_int_equal(scan(text), 4);
    assert_float_equal(values[UVFIB__BENCH_SM_NODE_LAG], 0.004, 0.0);
    assert_float_equal(values[UVFIB__BENCH_SM_NODE_LAG_P99], 0.020561919, 0.0);
    assert_float_equal(values[UVFIB__BENCH_SM_NODE_LAG_MIN], 9223372036.854776, 1e-3);
    assert_float_equal(values[UVFIB__BENCH_SM_NODE_ELU], 0.5, 0.0);
}

static void test_first_sample_wins_and_lookalikes_do_not_match(void **state)
{
    (void)state;
    const char *text =
        "uvfib_pool_busy_threads_total 9\n"
        "xuvfib_pool_busy_threads 9\n"
        "uvfib_pool_busy_threads{worker=\"a\"} 1\n"
        "uvfib_pool_busy_threads{worker=\"b\"} 2\n"
        "  uvfib_pool_waiting_jobs   3  \n";
    assert_int_equal(scan(text), 2);
    assert_float_equal(values[UVFIB__BENCH_SM_UVFIB_POOL_BUSY], 1.0, 0.0);
    assert_float_equal(values[UVFIB__BENCH_SM_UVFIB_POOL_WAITING], 3.0, 0.0);
}

static void test_special_and_bad_values(void **state)
{
    (void)state;
    const char *text =
        "uvfib_eventloop_lag_max_seconds +Inf\n"
        "uvfib_eventloop_lag_min_seconds NaN\n"
        "uvfib_eventloop_lag_mean_seconds 12abc\n"
        "uvfib_eventloop_lag_p50_seconds\n"
        "uvfib_eventloop_lag_p90_seconds{le=\"1\" 3\n"
        "uvfib_eventloop_lag_p90_seconds -0.5\n";
    assert_int_equal(scan(text), 2);
    assert_true(isinf(values[UVFIB__BENCH_SM_UVFIB_LAG_MAX]));
    assert_true(isnan(values[UVFIB__BENCH_SM_UVFIB_LAG_MIN]));
    assert_true(isnan(values[UVFIB__BENCH_SM_UVFIB_LAG_MEAN]));
    assert_true(isnan(values[UVFIB__BENCH_SM_UVFIB_LAG_P50]));
    assert_float_equal(values[UVFIB__BENCH_SM_UVFIB_LAG_P90], -0.5, 0.0);
}

static void test_empty_text_and_names_table(void **state)
{
    (void)state;
    assert_int_equal(uvfib__bench_promtext_scan("", 0, values), 0);
    for (int i = 0; i < UVFIB__BENCH_N_SERVER_METRICS; i++) {
        assert_true(isnan(values[i]));
        assert_non_null(uvfib__bench_server_metric_names[i]);
    }
    assert_string_equal(uvfib__bench_server_metric_names[UVFIB__BENCH_SM_NODE_LAG_P90],
                        "nodejs_eventloop_lag_p90_seconds");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uvfib_exposition),
        cmocka_unit_test(test_prom_client_exposition_with_labels),
        cmocka_unit_test(test_first_sample_wins_and_lookalikes_do_not_match),
        cmocka_unit_test(test_special_and_bad_values),
        cmocka_unit_test(test_empty_text_and_names_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
