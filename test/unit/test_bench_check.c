/* test_bench_check.c - unit tests of uvfib-bench's judgement of a run (src/bench/check.c): each
 * honesty check at its edge (the generator's late sends and CPU, sends behind schedule,
 * percentiles short of samples, seconds without a scrape) and the threshold count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"

static uvfib__bench_opts_t opts;
static uvfib__bench_result_t *res;   /* calloc'd per test: it holds several histograms */
static uvfib__bench_warnings_t warnings;

static int setup(void **state)
{
    (void)state;
    memset(&opts, 0, sizeof opts);
    opts.probe_rate = 100.0;
    opts.probe_conns = 4;
    res = calloc(1, sizeof *res);
    if (res == NULL)
        return -1;
    res->window_s = 10.0;
    for (int i = 0; i < 5000; i++)   /* enough samples for every printed percentile */
        uvfib__hist_record(&res->probe.latency_ns, 1000000);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    uvfib__bench_result_free(res);
    free(res);
    return 0;
}

/* The warnings that start with prefix. */
static unsigned count_warnings(const char *prefix)
{
    uvfib__bench_check_honesty(&opts, res, &warnings);
    unsigned n = 0;
    for (unsigned i = 0; i < warnings.n; i++)
        n += strncmp(warnings.text[i], prefix, strlen(prefix)) == 0;
    return n;
}

static const char *warning(const char *prefix)
{
    for (unsigned i = 0; i < warnings.n; i++) {
        if (strncmp(warnings.text[i], prefix, strlen(prefix)) == 0)
            return warnings.text[i];
    }
    return "";
}

static void test_a_clean_run_has_no_warnings(void **state)
{
    (void)state;
    res->probe.n_sent = res->probe.n_intended = 1000;
    uvfib__bench_check_honesty(&opts, res, &warnings);
    assert_int_equal(warnings.n, 0);
}

static void test_generator_late_sends_over_one_percent(void **state)
{
    (void)state;
    res->probe.n_sent = res->probe.n_intended = 1000;
    res->probe.n_late = 50;   /* late behind slow responses: the server's, not a warning */
    res->probe.n_late_generator = 10;
    assert_int_equal(count_warnings("generator: "), 0);
    res->probe.n_late_generator = 11;
    assert_int_equal(count_warnings("generator: "), 1);
    assert_non_null(strstr(warning("generator: "), "11 of 1000 probe sends (1.1%)"));
    opts.probe_rate = 0.0;   /* no probe, nothing to say */
    assert_int_equal(count_warnings("generator: "), 0);
}

static void test_generator_cpu_bound(void **state)
{
    (void)state;
    res->probe.n_sent = res->probe.n_intended = 1000;
    res->gen.cpu_s = 8.9;
    assert_int_equal(count_warnings("generator: uvfib-bench used"), 0);
    res->gen.cpu_s = 9.0;
    assert_int_equal(count_warnings("generator: uvfib-bench used"), 1);
    assert_non_null(strstr(warning("generator: "), "0.90 cores"));
}

static void test_probe_behind_its_schedule(void **state)
{
    (void)state;
    res->probe.n_intended = 1000;
    res->probe.n_sent = 900;
    assert_int_equal(count_warnings("probe: "), 0);
    res->probe.n_sent = 899;
    assert_int_equal(count_warnings("probe: "), 1);
    assert_non_null(strstr(warning("probe: "), "899 of 1000 intended requests were sent"));
}

/* Nothing accepted a connection: the schedule's warning would blame slow responses and
 * advise more connections; the cause is the target. */
static void test_an_absent_target_is_named_as_such(void **state)
{
    (void)state;
    res->probe.n_intended = 1000;
    res->probe.n_errors[UVFIB__BENCH_ERR_CONNECT] = 40;
    snprintf(res->address, sizeof res->address, "127.0.0.1 port 9");
    assert_int_equal(count_warnings("probe: no connection was ever accepted (40 connect errors)"),
                     1);
    assert_non_null(strstr(warning("probe: no connection"), "127.0.0.1 port 9"));
    assert_int_equal(count_warnings("probe: 0 of 1000 intended"), 0);
}

/* More requests unanswered at the end than the probe has connections: a stall at the end. */
static void test_requests_unanswered_at_the_end(void **state)
{
    (void)state;
    res->probe.n_sent = res->probe.n_intended = 1000;
    res->probe.n_connects = 4;
    res->probe.n_unfinished = 4; /* one in flight on each connection: normal */
    assert_int_equal(count_warnings("probe: "), 0);
    res->probe.n_unfinished = 30;
    assert_int_equal(count_warnings("probe: 30 requests were due and unanswered"), 1);
    /* Behind its schedule all along: that warning says it, not this one. */
    res->probe.n_sent = 899;
    assert_int_equal(count_warnings("probe: 30 requests were due and unanswered"), 0);
    assert_int_equal(count_warnings("probe: 899 of 1000 intended"), 1);
}

/* The generator's lag is quoted as its p99 only where the sample rule allows one. */
static void test_generator_lag_quoted_under_the_percentile_rule(void **state)
{
    (void)state;
    res->probe.n_sent = res->probe.n_intended = 50;
    res->probe.n_late_generator = 5;
    for (int i = 0; i < 50; i++)
        uvfib__hist_record(&res->gen.timer_lag_ns, (uint64_t)(i + 1) * 100000);
    assert_int_equal(count_warnings("generator: "), 1);
    assert_non_null(strstr(warning("generator: "), "timer lag max 5.000 ms"));
    for (int i = 0; i < 100; i++)
        uvfib__hist_record(&res->gen.timer_lag_ns, 100000);
    assert_int_equal(count_warnings("generator: "), 1);
    assert_non_null(strstr(warning("generator: "), "timer lag p99 "));
}

static void test_percentiles_short_of_samples(void **state)
{
    (void)state;
    res->probe.n_sent = res->probe.n_intended = 1000;
    uvfib__hist_reset(&res->probe.latency_ns);
    for (int i = 0; i < 50; i++)
        uvfib__hist_record(&res->probe.latency_ns, 1000000);
    assert_int_equal(count_warnings("probe: p99 and above withheld: 50 latencies, p99 needs 100"),
                     1);
    uvfib__hist_reset(&res->probe.latency_ns);
    for (int i = 0; i < 5; i++)
        uvfib__hist_record(&res->probe.latency_ns, 1000000);
    assert_int_equal(count_warnings("probe: p90 and above withheld: 5 latencies, p90 needs 10"),
                     1);
    /* The load is judged apart, and only when it runs. */
    opts.load_conns = 2;
    uvfib__hist_record(&res->load.latency_ns, 5);
    assert_int_equal(count_warnings("load: p50 and above withheld: 1 latencies"), 1);
}

static void test_seconds_without_a_scrape(void **state)
{
    (void)state;
    res->probe.n_sent = res->probe.n_intended = 1000;
    assert_int_equal(uvfib__bench_timeline_init(&res->timeline, 3.0), 0);
    opts.metrics_url = "http://127.0.0.1:1/metrics";
    res->n_scrapes = 3;
    res->n_scrapes_ok = 3;
    assert_int_equal(count_warnings("server metrics: "), 0);
    res->n_scrapes_ok = 1;
    snprintf(res->scrape_error, sizeof res->scrape_error, "connection refused");
    assert_int_equal(count_warnings("server metrics: "), 1);
    assert_string_equal(warning("server metrics: "),
                        "server metrics: 2 of 3 seconds have no scrape; first failure: "
                        "connection refused");
}

static void test_thresholds_counted_and_judged_per_workload(void **state)
{
    (void)state;
    char why[160];
    opts.load_conns = 1;
    res->probe.n_responses = 5000;
    res->load.n_responses = 20;
    res->load.n_5xx = 20;
    assert_int_equal(uvfib__bench_threshold_parse("p99<2ms", &opts.thresholds[0], why,
                                                  sizeof why), 0);
    assert_int_equal(uvfib__bench_threshold_parse("load.errors==0", &opts.thresholds[1], why,
                                                  sizeof why), 0);
    assert_int_equal(uvfib__bench_threshold_parse("rps==500", &opts.thresholds[2], why,
                                                  sizeof why), 0);
    opts.n_thresholds = 3;
    uvfib__bench_thr_verdict_t v[3];
    assert_int_equal(uvfib__bench_check_thresholds(&opts, res, v), 1);
    assert_true(v[0].held);
    assert_false(v[1].held);
    assert_float_equal(v[1].value, 20.0, 0.0);
    assert_true(v[2].held);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_clean_run_has_no_warnings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generator_late_sends_over_one_percent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_generator_cpu_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_probe_behind_its_schedule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_percentiles_short_of_samples, setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_absent_target_is_named_as_such, setup, teardown),
        cmocka_unit_test_setup_teardown(test_requests_unanswered_at_the_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generator_lag_quoted_under_the_percentile_rule,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_seconds_without_a_scrape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thresholds_counted_and_judged_per_workload, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
