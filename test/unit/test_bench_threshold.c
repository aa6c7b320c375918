/* test_bench_threshold.c - unit tests of --threshold (src/bench/threshold.c): every operator,
 * every unit, percentile spellings, workload prefixes, malformed expressions, and the
 * verdicts at the boundaries, on missing data and on too few samples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "bench/threshold.h"

static uvfib__hist_t hist;   /* static: 37 KB; the subject's latencies */

static uvfib__bench_threshold_t parse_ok(const char *expr)
{
    uvfib__bench_threshold_t t;
    char why[160] = "";
    if (uvfib__bench_threshold_parse(expr, &t, why, sizeof why) != 0)
        fail_msg("'%s' did not parse: %s", expr, why);
    assert_ptr_equal(t.expr, expr);
    return t;
}

static void test_each_operator(void **state)
{
    (void)state;
    const struct {
        const char *expr;
        uvfib__bench_thr_op_t op;
    } cases[] = {
        {"p99<5", UVFIB__BENCH_THR_LT}, {"p99<=5", UVFIB__BENCH_THR_LE},
        {"p99>5", UVFIB__BENCH_THR_GT}, {"p99>=5", UVFIB__BENCH_THR_GE},
        {"p99==5", UVFIB__BENCH_THR_EQ}, {"p99!=5", UVFIB__BENCH_THR_NE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uvfib__bench_threshold_t t = parse_ok(cases[i].expr);
        assert_int_equal(t.op, cases[i].op);
        assert_int_equal(t.metric, UVFIB__BENCH_THR_PCT);
        assert_float_equal(t.pct, 99.0, 0.0);
        assert_float_equal(t.bound, 5.0, 0.0);
    }
}

static void test_each_latency_unit_in_ms(void **state)
{
    (void)state;
    const struct {
        const char *expr;
        double ms;
    } cases[] = {
        {"p99<250us", 0.25},   {"p99<250\xc2\xb5s", 0.25}, {"p99<250\xce\xbcs", 0.25},
        {"p99<5ms", 5.0},      {"p99<1.5s", 1500.0},       {"p99<5", 5.0},
        {"max<0.5ms", 0.5},    {"mean <= 2 ms", 2.0},      {"stddev<.5", 0.5},
        {"min>=10us", 0.01},   {"avg<3s", 3000.0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uvfib__bench_threshold_t t = parse_ok(cases[i].expr);
        assert_float_equal(t.bound, cases[i].ms, 1e-12);
        assert_string_equal(uvfib__bench_threshold_unit(&t), "ms");
    }
}

static void test_percentile_spellings(void **state)
{
    (void)state;
    assert_float_equal(parse_ok("p99.9<20ms").pct, 99.9, 1e-12);
    assert_float_equal(parse_ok("p99_9<20ms").pct, 99.9, 1e-12);
    assert_float_equal(parse_ok("p(99.9)<20ms").pct, 99.9, 1e-12);
    assert_float_equal(parse_ok("p(95) < 500").pct, 95.0, 0.0);
    assert_float_equal(parse_ok("p50<1").pct, 50.0, 0.0);
    assert_float_equal(parse_ok("p100<1").pct, 100.0, 0.0);
    assert_float_equal(parse_ok("p0>0").pct, 0.0, 0.0);
}

static void test_counts_rates_and_prefixes(void **state)
{
    (void)state;
    uvfib__bench_threshold_t t = parse_ok("errors==0");
    assert_int_equal(t.metric, UVFIB__BENCH_THR_ERRORS);
    assert_false(t.on_load);
    t = parse_ok("load.rps>1000");
    assert_int_equal(t.metric, UVFIB__BENCH_THR_RPS);
    assert_true(t.on_load);
    assert_float_equal(t.bound, 1000.0, 0.0);
    t = parse_ok("probe.requests>=10");
    assert_int_equal(t.metric, UVFIB__BENCH_THR_REQUESTS);
    assert_false(t.on_load);
    t = parse_ok("error_rate<1%");
    assert_int_equal(t.metric, UVFIB__BENCH_THR_ERROR_RATE);
    assert_float_equal(t.bound, 0.01, 1e-15);
    assert_string_equal(uvfib__bench_threshold_unit(&t), "%");
    assert_float_equal(uvfib__bench_threshold_display(&t, 0.02), 2.0, 1e-12);
    assert_float_equal(parse_ok("error_rate<0.01").bound, 0.01, 0.0);
    assert_float_equal(parse_ok("  load.p99 >= 2.5ms  ").bound, 2.5, 0.0);
}

static void test_malformed_expressions_are_refused(void **state)
{
    (void)state;
    const char *bad[] = {
        "",               "p99",           "p99<",          "<5ms",        "p99<5xs",
        "errors<5ms",     "rps>5s",        "p101<5",        "p99=5",       "rps>-1",
        "p99<5ms extra",  "foo<1",         "p99<<5",        "p99<1e3",     "p99<0x10",
        "error_rate<5ms", "load.p99",      "pa<3",          "p(99<3",      "p99.9.9<3",
        "load.foo<1",     "p99 5ms",       "requests>1%",   "p99<inf",     "LOAD.p99<1",
        "p99<5 ms ms",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uvfib__bench_threshold_t t;
        char why[160] = "";
        if (uvfib__bench_threshold_parse(bad[i], &t, why, sizeof why) == 0)
            fail_msg("'%s' parsed but should not", bad[i]);
        assert_true(why[0] != '\0');
    }
}

static uvfib__bench_thr_subject_t subject(uint64_t requests, uint64_t errors, uint64_t failures)
{
    uvfib__bench_thr_subject_t s = {
        .latency_ns = &hist,
        .requests = requests,
        .errors = errors,
        .failures = failures,
        .window_s = 2.0,
    };
    return s;
}

static bool held(const char *expr, const uvfib__bench_thr_subject_t *s)
{
    uvfib__bench_threshold_t t = parse_ok(expr);
    uvfib__bench_thr_verdict_t v = uvfib__bench_threshold_eval(&t, s);
    assert_true(v.known);
    return v.held;
}

static void test_verdicts_at_the_boundary_of_each_operator(void **state)
{
    (void)state;
    uvfib__hist_reset(&hist);
    for (int i = 0; i < 100; i++)
        uvfib__hist_record(&hist, 200);   /* 200 ns: exact; max = 0.0002 ms */
    uvfib__bench_thr_subject_t s = subject(100, 3, 1);
    /* errors == 3 */
    assert_false(held("errors<3", &s));
    assert_true(held("errors<4", &s));
    assert_true(held("errors<=3", &s));
    assert_false(held("errors<=2", &s));
    assert_false(held("errors>3", &s));
    assert_true(held("errors>2", &s));
    assert_true(held("errors>=3", &s));
    assert_false(held("errors>=4", &s));
    assert_true(held("errors==3", &s));
    assert_false(held("errors==0", &s));
    assert_true(held("errors!=0", &s));
    assert_false(held("errors!=3", &s));
    /* Latency in ms: 200 ns is 0.0002 ms (0.2 us). */
    assert_true(held("max<=0.0002ms", &s));
    assert_false(held("max<0.0002", &s));
    assert_true(held("max<0.3us", &s));
    assert_false(held("max>0.3us", &s));
    assert_true(held("p99==0.0002ms", &s));
    assert_true(held("mean<1us", &s));
    assert_true(held("stddev==0", &s));
    assert_true(held("min>0.1us", &s));
    /* 100 responses over 2 s; 3 errors over 101 attempts. */
    assert_true(held("rps==50", &s));
    assert_true(held("requests==100", &s));
    assert_true(held("error_rate<3%", &s));
    assert_false(held("error_rate<2.9%", &s));
    assert_true(held("error_rate>0.0297", &s));
}

static void test_too_few_samples_fail_with_a_reason(void **state)
{
    (void)state;
    uvfib__hist_reset(&hist);
    for (int i = 0; i < 999; i++)
        uvfib__hist_record(&hist, 1000);
    uvfib__bench_thr_subject_t s = subject(999, 0, 0);
    uvfib__bench_threshold_t t = parse_ok("p99.9<1s");
    uvfib__bench_thr_verdict_t v = uvfib__bench_threshold_eval(&t, &s);
    assert_false(v.known);
    assert_false(v.held);
    assert_true(isnan(v.value));
    assert_non_null(strstr(v.why, "too few samples (999"));
    assert_non_null(strstr(v.why, "1000"));
    /* The same threshold holds once the samples are there. */
    uvfib__hist_record(&hist, 1000);
    s.requests = 1000;
    assert_true(held("p99.9<1s", &s));
}

static void test_missing_data_fails(void **state)
{
    (void)state;
    uvfib__hist_reset(&hist);
    uvfib__bench_thr_subject_t s = subject(0, 0, 0);
    const char *exprs[] = {"p50<1s", "max<1s", "error_rate<1%"};
    for (size_t i = 0; i < sizeof exprs / sizeof exprs[0]; i++) {
        uvfib__bench_threshold_t t = parse_ok(exprs[i]);
        uvfib__bench_thr_verdict_t v = uvfib__bench_threshold_eval(&t, &s);
        assert_false(v.known);
        assert_false(v.held);
    }
    /* Counts are known even when zero. */
    assert_true(held("errors==0", &s));
    assert_true(held("requests==0", &s));
    s.window_s = 0.0;
    uvfib__bench_threshold_t t = parse_ok("rps>=0");
    assert_false(uvfib__bench_threshold_eval(&t, &s).held);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_operator),
        cmocka_unit_test(test_each_latency_unit_in_ms),
        cmocka_unit_test(test_percentile_spellings),
        cmocka_unit_test(test_counts_rates_and_prefixes),
        cmocka_unit_test(test_malformed_expressions_are_refused),
        cmocka_unit_test(test_verdicts_at_the_boundary_of_each_operator),
        cmocka_unit_test(test_too_few_samples_fail_with_a_reason),
        cmocka_unit_test(test_missing_data_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
