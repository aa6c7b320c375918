/* test_bench_stats.c - unit tests of uvfib-bench's summaries (src/bench/stats.c): the
 * too-few-samples rule at its edges, histogram summaries in ms with withheld percentiles,
 * and exact summaries of per-second samples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "bench/stats.h"

static uvfib__hist_t hist;   /* static: 37 KB, kept off the stack; reset by each user */

static void test_pct_ok_needs_one_sample_beyond_the_percentile(void **state)
{
    (void)state;
    assert_false(uvfib__bench_pct_ok(0, 50.0));
    assert_false(uvfib__bench_pct_ok(1, 50.0));
    assert_true(uvfib__bench_pct_ok(2, 50.0));
    assert_false(uvfib__bench_pct_ok(9, 90.0));
    assert_true(uvfib__bench_pct_ok(10, 90.0));
    assert_false(uvfib__bench_pct_ok(99, 99.0));
    assert_true(uvfib__bench_pct_ok(100, 99.0));
    assert_false(uvfib__bench_pct_ok(999, 99.9));
    assert_true(uvfib__bench_pct_ok(1000, 99.9));
    assert_false(uvfib__bench_pct_ok(99999, 99.999));
    assert_true(uvfib__bench_pct_ok(100000, 99.999));
    /* The low tail mirrors the high one. */
    assert_false(uvfib__bench_pct_ok(99, 1.0));
    assert_true(uvfib__bench_pct_ok(100, 1.0));
}

static void test_pct_ok_min_and_max_need_one_sample(void **state)
{
    (void)state;
    assert_true(uvfib__bench_pct_ok(1, 0.0));
    assert_true(uvfib__bench_pct_ok(1, 100.0));
    assert_false(uvfib__bench_pct_ok(0, 100.0));
    assert_false(uvfib__bench_pct_ok(5, 100.5));
    assert_false(uvfib__bench_pct_ok(5, -1.0));
    assert_false(uvfib__bench_pct_ok(5, NAN));
}

static void test_min_samples_is_the_edge_of_pct_ok(void **state)
{
    (void)state;
    const double pcts[] = {0.5, 25.0, 50.0, 75.0, 90.0, 97.5, 99.0, 99.9, 99.99};
    for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++) {
        uint64_t n = uvfib__bench_pct_min_samples(pcts[i]);
        assert_true(uvfib__bench_pct_ok(n, pcts[i]));
        assert_false(uvfib__bench_pct_ok(n - 1, pcts[i]));
    }
    assert_int_equal(uvfib__bench_pct_min_samples(99.9), 1000);
    assert_int_equal(uvfib__bench_pct_min_samples(100.0), 1);
}

static void test_pct_keys_match_pcts(void **state)
{
    (void)state;
    assert_int_equal(uvfib__bench_pct_index(99.9), 12);
    assert_string_equal(uvfib__bench_pct_keys[uvfib__bench_pct_index(99.9)], "p99_9");
    assert_string_equal(uvfib__bench_pct_keys[uvfib__bench_pct_index(97.5)], "p97_5");
    assert_string_equal(uvfib__bench_pct_keys[uvfib__bench_pct_index(50.0)], "p50");
    assert_int_equal(uvfib__bench_pct_index(42.0), -1);
}

static void test_summary_of_empty_hist_is_all_nan(void **state)
{
    (void)state;
    uvfib__hist_reset(&hist);
    uvfib__bench_summary_t s = uvfib__bench_summarize(&hist);
    assert_int_equal(s.count, 0);
    assert_true(isnan(s.mean) && isnan(s.stddev) && isnan(s.min) && isnan(s.max));
    for (int i = 0; i < UVFIB__BENCH_N_PCTS; i++)
        assert_true(isnan(s.pct[i]));
}

static void test_summary_in_ms_withholds_thin_percentiles(void **state)
{
    (void)state;
    uvfib__hist_reset(&hist);
    /* 999 values: 1 us .. 999 us. p99 is there, p99.9 is not (it needs 1000). */
    for (uint64_t us = 1; us <= 999; us++)
        uvfib__hist_record(&hist, us * 1000);
    uvfib__bench_summary_t s = uvfib__bench_summarize(&hist);
    assert_int_equal(s.count, 999);
    assert_float_equal(s.mean, 0.5, 1e-12);
    assert_float_equal(s.min, 0.001, 1e-12);
    assert_float_equal(s.max, 0.999, 1e-12);
    assert_float_equal(uvfib__bench_summary_pct(&s, 50.0), 0.5, 0.5 / 256);
    assert_float_equal(uvfib__bench_summary_pct(&s, 99.0), 0.990, 0.990 / 256);
    assert_true(isnan(uvfib__bench_summary_pct(&s, 99.9)));
    assert_true(isnan(uvfib__bench_summary_pct(&s, 0.01)));

    uvfib__hist_record(&hist, 1000000);   /* the 1000th sample: p99.9 appears */
    s = uvfib__bench_summarize(&hist);
    assert_float_equal(uvfib__bench_summary_pct(&s, 99.9), 0.999, 0.999 / 256);
    assert_true(isnan(uvfib__bench_summary_pct(&s, 99.99)));
}

static void test_hist_pct_ms_any_percentile(void **state)
{
    (void)state;
    uvfib__hist_reset(&hist);
    for (uint64_t v = 1; v <= 200; v++)   /* below 256 ns: exact buckets */
        uvfib__hist_record(&hist, v);
    assert_float_equal(uvfib__bench_hist_pct_ms(&hist, 75.0), 150e-6, 1e-12);
    assert_float_equal(uvfib__bench_hist_pct_ms(&hist, 100.0), 200e-6, 1e-12);
    assert_true(isnan(uvfib__bench_hist_pct_ms(&hist, 99.9)));
}

static void test_sample_summary_is_exact_nearest_rank(void **state)
{
    (void)state;
    double x[] = {5, 1, 4, 2, 3, 10, 9, 8, 7, 6};   /* sorted in place by the call */
    uvfib__bench_summary_t s = uvfib__bench_summarize_samples(x, 10);
    assert_int_equal(s.count, 10);
    assert_float_equal(s.mean, 5.5, 1e-12);
    assert_float_equal(s.stddev, sqrt(8.25), 1e-12);
    assert_float_equal(s.min, 1.0, 0.0);
    assert_float_equal(s.max, 10.0, 0.0);
    assert_float_equal(uvfib__bench_summary_pct(&s, 50.0), 5.0, 0.0);
    assert_float_equal(uvfib__bench_summary_pct(&s, 90.0), 9.0, 0.0);
    assert_float_equal(uvfib__bench_summary_pct(&s, 25.0), 3.0, 0.0);
    assert_true(isnan(uvfib__bench_summary_pct(&s, 97.5)));   /* needs 40 */
    assert_float_equal(x[0], 1.0, 0.0);

    uvfib__bench_summary_t none = uvfib__bench_summarize_samples(NULL, 0);
    assert_int_equal(none.count, 0);
    assert_true(isnan(none.mean));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pct_ok_needs_one_sample_beyond_the_percentile),
        cmocka_unit_test(test_pct_ok_min_and_max_need_one_sample),
        cmocka_unit_test(test_min_samples_is_the_edge_of_pct_ok),
        cmocka_unit_test(test_pct_keys_match_pcts),
        cmocka_unit_test(test_summary_of_empty_hist_is_all_nan),
        cmocka_unit_test(test_summary_in_ms_withholds_thin_percentiles),
        cmocka_unit_test(test_hist_pct_ms_any_percentile),
        cmocka_unit_test(test_sample_summary_is_exact_nearest_rank),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
