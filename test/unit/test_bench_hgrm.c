/* test_bench_hgrm.c - unit tests of the HdrHistogram percentile distribution
 * (src/bench/hgrm.c): the walk's levels, its rows against exact nearest-rank answers from the
 * samples, and the .hgrm text parsed back line by line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/hgrm.h"

static uvfib__hist_t hist;   /* static: 37 KB, kept off the stack; reset by each test */

/* The rows a walk produced. */
struct rows {
    uvfib__bench_hgrm_row_t r[4096];   /* in walk order */
    size_t n;                          /* rows used */
};

static struct rows got;   /* filled by collect() */

static void collect(const uvfib__bench_hgrm_row_t *row, void *arg)
{
    struct rows *rows = arg;
    assert_true(rows->n < sizeof rows->r / sizeof rows->r[0]);
    rows->r[rows->n++] = *row;
}

static void walk(void)
{
    got.n = 0;
    uint64_t n = uvfib__bench_hgrm_walk(&hist, UVFIB__BENCH_HGRM_TICKS, collect, &got);
    assert_int_equal(n, got.n);
}

static void test_empty_histogram_has_no_rows(void **state)
{
    (void)state;
    uvfib__hist_reset(&hist);
    walk();
    assert_int_equal(got.n, 0);
}

static void test_levels_follow_hdrhistogram_ticks(void **state)
{
    (void)state;
    uvfib__hist_reset(&hist);
    for (uint64_t v = 1; v <= 100000; v++)
        uvfib__hist_record(&hist, v * 1000);
    walk();
    /* Five levels per halving of the distance to 100%: 0, 10 .. 50, then 55 .. 75, ... */
    const double want[] = {0, 10, 20, 30, 40, 50, 55, 60, 65, 70, 75, 77.5, 80, 82.5, 85, 87.5,
                           88.75, 90};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_float_equal(got.r[i].percentile, want[i], 1e-9);
    uvfib__bench_hgrm_row_t last = got.r[got.n - 1];
    assert_true(last.last);
    assert_float_equal(last.percentile, 100.0, 0.0);
    assert_int_equal(last.value, 100000 * 1000);
    assert_int_equal(last.total, 100000);
}

static void test_rows_are_monotone_and_reach_their_level(void **state)
{
    (void)state;
    uvfib__hist_reset(&hist);
    uint64_t x = 88172645463325252u;
    for (int i = 0; i < 50000; i++) {   /* xorshift: a spread of values over 6 decades */
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uvfib__hist_record(&hist, 1000 + (x % 1000000000u) / (1 + (x >> 60)));
    }
    walk();
    assert_true(got.n > 50);
    for (size_t i = 0; i < got.n; i++) {
        const uvfib__bench_hgrm_row_t *r = &got.r[i];
        assert_true(100.0 * (double)r->total / 50000.0 >= r->percentile - 1e-9);
        assert_true(r->value <= uvfib__hist_max(&hist));
        if (i == 0)
            continue;
        assert_true(r->percentile > got.r[i - 1].percentile);
        assert_true(r->value >= got.r[i - 1].value);
        assert_true(r->total >= got.r[i - 1].total);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Below 256 every value has a bucket of its own, so each row must name exactly the
 * nearest-rank value of its level and count the samples at or below it. samples[0..n) are
 * sorted and recorded in hist. */
static void check_exact_ranks(const uint64_t *samples, size_t n)
{
    walk();
    for (size_t i = 0; i + 2 < got.n; i++) {   /* not the last bucket's row nor the 100% row */
        const uvfib__bench_hgrm_row_t *r = &got.r[i];
        double rank = ceil(r->percentile * (double)n / 100.0);
        uint64_t exact = samples[(rank < 1.0 ? 1 : (size_t)rank) - 1];
        assert_int_equal(r->value, exact);
        size_t at_or_below = 0;
        while (at_or_below < n && samples[at_or_below] <= exact)
            at_or_below++;
        assert_int_equal(r->total, at_or_below);
    }
}

static void test_rows_match_exact_ranks_in_exact_buckets(void **state)
{
    (void)state;
    static uint64_t samples[3000];
    size_t n = 0;
    uvfib__hist_reset(&hist);
    for (uint64_t v = 3; v < 250; v += 7) {   /* uneven counts per value */
        for (uint64_t k = 0; k < 1 + (v * 31) % 97; k++) {
            samples[n++] = v;
            uvfib__hist_record(&hist, v);
        }
    }
    qsort(samples, n, sizeof samples[0], cmp_u64);
    check_exact_ranks(samples, n);

    /* 1..200 once each: levels land exactly on a bucket's cumulative count (10% is the
     * 20th value), where "reached" must count, as HdrHistogram's walk does. */
    uvfib__hist_reset(&hist);
    for (n = 0; n < 200; n++) {
        samples[n] = n + 1;
        uvfib__hist_record(&hist, n + 1);
    }
    check_exact_ranks(samples, n);
}

static void test_value_beyond_range_ends_the_walk(void **state)
{
    (void)state;
    uvfib__hist_reset(&hist);
    uvfib__hist_record(&hist, 1000);
    uvfib__hist_record(&hist, UVFIB__HIST_HIGHEST_TRACKABLE * 4);   /* clamped */
    walk();
    assert_true(got.r[got.n - 1].last);
    assert_int_equal(got.r[got.n - 1].value, UVFIB__HIST_HIGHEST_TRACKABLE * 4);
    assert_int_equal(got.r[got.n - 1].total, 2);
}

/* Writes the histogram as .hgrm into memory and returns the text (caller frees). */
static char *hgrm_text(double unit_ns)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(uvfib__bench_hgrm_write(f, &hist, unit_ns), 0);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static void test_hgrm_text_parses_back(void **state)
{
    (void)state;
    uvfib__hist_reset(&hist);
    for (uint64_t us = 1; us <= 2000; us++)
        uvfib__hist_record(&hist, us * 1000);
    walk();
    char *text = hgrm_text(1e6);

    char *save = NULL;
    char *line = strtok_r(text, "\n", &save);
    assert_non_null(strstr(line, "Value"));
    assert_non_null(strstr(line, "Percentile"));
    assert_non_null(strstr(line, "TotalCount"));
    assert_non_null(strstr(line, "1/(1-Percentile)"));
    size_t i = 0;
    double mean = -1, stddev = -1, max = -1;
    unsigned long long count = 0;
    int buckets = 0, sub = 0;
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        if (line[0] == '#') {
            if (sscanf(line, "#[Mean = %lf, StdDeviation = %lf]", &mean, &stddev) == 2 ||
                sscanf(line, "#[Max = %lf, Total count = %llu]", &max, &count) == 2 ||
                sscanf(line, "#[Buckets = %d, SubBuckets = %d]", &buckets, &sub) == 2)
                continue;
            fail_msg("unexpected footer line '%s'", line);
        }
        double value, fraction, inverse;
        unsigned long long total;
        int fields = sscanf(line, "%lf %lf %llu %lf", &value, &fraction, &total, &inverse);
        assert_true(i < got.n);
        const uvfib__bench_hgrm_row_t *r = &got.r[i++];
        assert_int_equal(fields, r->last ? 3 : 4);
        assert_float_equal(value, (double)r->value / 1e6, 0.0005);
        assert_float_equal(fraction, r->percentile / 100.0, 1e-12);
        assert_int_equal(total, r->total);
        if (!r->last)
            assert_float_equal(inverse, 1.0 / (1.0 - fraction), 0.005);
    }
    assert_int_equal(i, got.n);
    assert_float_equal(mean, uvfib__hist_mean(&hist) / 1e6, 0.0005);
    assert_float_equal(stddev, uvfib__hist_stddev(&hist) / 1e6, 0.0005);
    assert_float_equal(max, 2.0, 0.0005);
    assert_int_equal(count, 2000);
    assert_int_equal(buckets, UVFIB__HIST_TOP_BITS - UVFIB__HIST_SUB_BITS);
    assert_int_equal(sub, 256);
    free(text);
}

static void test_hgrm_of_empty_histogram_is_header_and_footer(void **state)
{
    (void)state;
    uvfib__hist_reset(&hist);
    char *text = hgrm_text(1e6);
    assert_non_null(strstr(text, "Value"));
    assert_non_null(strstr(text, "Total count    =            0]"));
    size_t lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 5);   /* header, blank, three footer lines */
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_histogram_has_no_rows),
        cmocka_unit_test(test_levels_follow_hdrhistogram_ticks),
        cmocka_unit_test(test_rows_are_monotone_and_reach_their_level),
        cmocka_unit_test(test_rows_match_exact_ranks_in_exact_buckets),
        cmocka_unit_test(test_value_beyond_range_ends_the_walk),
        cmocka_unit_test(test_hgrm_text_parses_back),
        cmocka_unit_test(test_hgrm_of_empty_histogram_is_header_and_footer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
