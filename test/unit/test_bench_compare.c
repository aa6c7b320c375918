/* test_bench_compare.c - unit tests of --compare's statistics (src/bench/compare.c): Welch's
 * t-test p-values against Student's t critical values from tables, symmetric and degenerate
 * cases; and the file checks of uvfib__bench_compare. The comparison of real runs is in
 * test/integration/test_bench.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/compare.h"

/* Two samples of n = 6 with variance 1 each give Welch's df = 10 exactly; a difference of
 * t * sqrt(1/3) in the means is then a t statistic of t. */
static double p_for_t_df10(double t)
{
    return uvfib__bench_welch_p(t * sqrt(1.0 / 3.0), 1.0, 6, 0.0, 1.0, 6);
}

static void test_welch_matches_student_t_tables(void **state)
{
    (void)state;
    /* Two-sided critical values of Student's t with 10 degrees of freedom. */
    assert_float_equal(p_for_t_df10(2.228), 0.05, 0.0005);
    assert_float_equal(p_for_t_df10(3.169), 0.01, 0.0001);
    assert_float_equal(p_for_t_df10(4.587), 0.001, 0.00002);
    assert_float_equal(p_for_t_df10(1.812), 0.10, 0.0005);
    assert_float_equal(p_for_t_df10(0.0), 1.0, 1e-12);
    /* Large samples: the normal distribution, 1.96 -> 0.05. */
    assert_float_equal(uvfib__bench_welch_p(1.96 * sqrt(2.0 / 1e6), 1.0, 1000000, 0.0, 1.0,
                                            1000000), 0.05, 0.0005);
}

static void test_welch_is_symmetric_and_handles_no_spread(void **state)
{
    (void)state;
    double p1 = uvfib__bench_welch_p(10.0, 4.0, 8, 12.0, 9.0, 5);
    double p2 = uvfib__bench_welch_p(12.0, 9.0, 5, 10.0, 4.0, 8);
    assert_float_equal(p1, p2, 1e-12);
    assert_true(p1 > 0.0 && p1 < 1.0);
    assert_float_equal(uvfib__bench_welch_p(3.0, 0.0, 4, 3.0, 0.0, 4), 1.0, 0.0);
    assert_float_equal(uvfib__bench_welch_p(3.0, 0.0, 4, 3.5, 0.0, 4), 0.0, 0.0);
    /* Far apart with little spread: tiny p. */
    assert_true(uvfib__bench_welch_p(100.0, 1.0, 10, 50.0, 1.0, 10) < 1e-10);
}

/* Writes text to a fresh temporary file; returns its path (static buffer per slot). */
static const char *temp_file(int slot, const char *text)
{
    static char paths[2][64];
    snprintf(paths[slot], sizeof paths[slot], "/tmp/test_bench_compare_XXXXXX");
    int fd = mkstemp(paths[slot]);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return paths[slot];
}

static void test_compare_refuses_what_is_not_a_report(void **state)
{
    (void)state;
    FILE *sink = fopen("/dev/null", "w");
    assert_non_null(sink);
    const char *good = temp_file(0, "{\"tool\":\"uvfib-bench\",\"format\":1,\"probe\":null,"
                                    "\"load\":null,\"timeline\":[]}");
    const char *bad = temp_file(1, "{\"tool\":\"autocannon\"}");
    assert_int_equal(uvfib__bench_compare(good, bad, false, sink, sink), 2);
    assert_int_equal(uvfib__bench_compare(bad, good, true, sink, sink), 2);
    assert_int_equal(uvfib__bench_compare(good, "/nonexistent/x.json", false, sink, sink), 1);
    assert_int_equal(uvfib__bench_compare(good, good, true, sink, sink), 0);
    unlink(good);
    unlink(bad);
    fclose(sink);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_welch_matches_student_t_tables),
        cmocka_unit_test(test_welch_is_symmetric_and_handles_no_spread),
        cmocka_unit_test(test_compare_refuses_what_is_not_a_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
