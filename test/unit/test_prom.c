/* test_prom.c - unit tests of the growable buffer and the Prometheus text writer
 * (src/prom.c): exact output for counters, gauges, escaping, special floats and a
 * histogram in seconds, and the buffer's out-of-memory contract. */
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

#include "hist.h"
#include "prom.h"

/* ------------------------------------------------------------------------------------------
 * Buffer
 * ------------------------------------------------------------------------------------------ */

static void test_buf_starts_empty_and_grows(void **state)
{
    (void)state;
    uvfib__buf_t buf;
    uvfib__buf_init(&buf);
    assert_null(buf.data);
    assert_int_equal(buf.len, 0);
    assert_int_equal(buf.oom, 0);

    uvfib__buf_append(&buf, "", 0);   /* an empty append still yields a C string */
    assert_non_null(buf.data);
    assert_string_equal(buf.data, "");

    char expect[4096];
    size_t n_expect = 0;
    for (int i = 0; i < 300; i++) {
        uvfib__buf_append(&buf, "0123456789", (size_t)(i % 11));
        memcpy(expect + n_expect, "0123456789", (size_t)(i % 11));
        n_expect += (size_t)(i % 11);
    }
    expect[n_expect] = '\0';
    assert_int_equal(buf.len, n_expect);
    assert_string_equal(buf.data, expect);
    assert_true(buf.cap > buf.len);
    uvfib__buf_free(&buf);
    assert_null(buf.data);
}

static void test_buf_printf_grows_past_the_room_it_has(void **state)
{
    (void)state;
    uvfib__buf_t buf;
    uvfib__buf_init(&buf);
    uvfib__buf_printf(&buf, "%s=%d;", "a", 1);
    assert_string_equal(buf.data, "a=1;");
    /* Longer than the first allocation: formatted twice, the second time in full. */
    uvfib__buf_printf(&buf, "%0600d|%s", 7, "end");
    assert_int_equal(buf.len, 4 + 600 + 4);
    assert_int_equal(buf.data[4 + 599], '7');
    assert_string_equal(buf.data + 4 + 600, "|end");
    assert_int_equal(buf.oom, 0);
    uvfib__buf_free(&buf);
}

static void test_buf_oom_is_sticky_and_keeps_the_text(void **state)
{
    (void)state;
    uvfib__buf_t buf;
    uvfib__buf_init(&buf);
    uvfib__buf_append(&buf, "abc", 3);
    /* A size no allocator can satisfy fails before any allocation or copy is tried. */
    uvfib__buf_append(&buf, "x", SIZE_MAX - 2);
    assert_int_not_equal(buf.oom, 0);
    uvfib__buf_append(&buf, "def", 3);
    uvfib__buf_printf(&buf, "%d", 42);
    uvfib__prom_sample(&buf, "m", NULL, 1);
    assert_int_equal(buf.len, 3);
    assert_string_equal(buf.data, "abc");
    uvfib__buf_free(&buf);   /* frees what was there; the buffer is usable again */
    assert_int_equal(buf.oom, 0);
    uvfib__buf_append(&buf, "ok", 2);
    assert_string_equal(buf.data, "ok");
    uvfib__buf_free(&buf);
}

/* ------------------------------------------------------------------------------------------
 * Headers, samples, escaping
 * ------------------------------------------------------------------------------------------ */

static void test_prom_counter_exact_text(void **state)
{
    (void)state;
    uvfib__buf_t buf;
    uvfib__buf_init(&buf);
    uvfib__prom_header(&buf, "uvfib_requests_total", "counter", "Requests answered.");
    uvfib__prom_sample(&buf, "uvfib_requests_total", NULL, 1027);
    assert_string_equal(buf.data, "# HELP uvfib_requests_total Requests answered.\n"
                                  "# TYPE uvfib_requests_total counter\n"
                                  "uvfib_requests_total 1027\n");
    uvfib__buf_free(&buf);
}

static void test_prom_gauge_with_labels_exact_text(void **state)
{
    (void)state;
    uvfib__buf_t buf, labels;
    uvfib__buf_init(&buf);
    uvfib__buf_init(&labels);
    uvfib__buf_printf(&labels, "route=\"");
    uvfib__prom_label_escape(&labels, "/fib/:n");
    uvfib__buf_printf(&labels, "\",code=\"%d\"", 200);

    uvfib__prom_header(&buf, "uvfib_inflight", "gauge", "Requests being served.");
    uvfib__prom_sample(&buf, "uvfib_inflight", labels.data, 3);
    uvfib__prom_sample(&buf, "uvfib_inflight", "", 0.25);   /* empty labels: no braces */
    assert_string_equal(buf.data, "# HELP uvfib_inflight Requests being served.\n"
                                  "# TYPE uvfib_inflight gauge\n"
                                  "uvfib_inflight{route=\"/fib/:n\",code=\"200\"} 3\n"
                                  "uvfib_inflight 0.25\n");
    uvfib__buf_free(&labels);
    uvfib__buf_free(&buf);
}

static void test_prom_help_escapes_backslash_and_newline_only(void **state)
{
    (void)state;
    uvfib__buf_t buf;
    uvfib__buf_init(&buf);
    uvfib__prom_header(&buf, "m", "untyped", "a\\b\nc \"quoted\"\n");
    assert_string_equal(buf.data, "# HELP m a\\\\b\\nc \"quoted\"\\n\n"
                                  "# TYPE m untyped\n");
    uvfib__buf_free(&buf);

    uvfib__buf_init(&buf);
    uvfib__prom_header(&buf, "m", "gauge", NULL);   /* no HELP line */
    assert_string_equal(buf.data, "# TYPE m gauge\n");
    uvfib__buf_free(&buf);
}

static void test_prom_label_escape_backslash_quote_newline(void **state)
{
    (void)state;
    uvfib__buf_t buf;
    uvfib__buf_init(&buf);
    uvfib__prom_label_escape(&buf, "C:\\dir \"x\"\nnext");
    assert_string_equal(buf.data, "C:\\\\dir \\\"x\\\"\\nnext");
    uvfib__prom_label_escape(&buf, "");
    uvfib__prom_label_escape(&buf, "\\");
    assert_string_equal(buf.data, "C:\\\\dir \\\"x\\\"\\nnext\\\\");
    uvfib__buf_free(&buf);
}

static void assert_value_text(double value, const char *want)
{
    uvfib__buf_t buf;
    uvfib__buf_init(&buf);
    uvfib__prom_sample(&buf, "v", NULL, value);
    char line[64];
    snprintf(line, sizeof(line), "v %s\n", want);
    assert_string_equal(buf.data, line);
    uvfib__buf_free(&buf);
}

static void test_prom_special_floats_spelled_as_prometheus(void **state)
{
    (void)state;
    assert_value_text(NAN, "NaN");
    assert_value_text(-NAN, "NaN");
    assert_value_text(INFINITY, "+Inf");
    assert_value_text(-INFINITY, "-Inf");
    assert_value_text(-0.0, "0");
}

static void test_prom_integers_print_without_exponent(void **state)
{
    (void)state;
    assert_value_text(0, "0");
    assert_value_text(1, "1");
    assert_value_text(-42, "-42");
    assert_value_text(1e15, "1000000000000000");
    assert_value_text(9007199254740992.0, "9007199254740992");     /* 2^53 */
    assert_value_text(-9007199254740992.0, "-9007199254740992");
    assert_value_text(9007199254740994.0, "9007199254740994");   /* past 2^53: %.16g */
    assert_value_text(1e20, "1e+20");                              /* large: exponent */
}

static void test_prom_fractions_round_trip_with_fewest_digits(void **state)
{
    (void)state;
    assert_value_text(0.1, "0.1");
    assert_value_text(1.5, "1.5");
    assert_value_text(-2.75, "-2.75");
    assert_value_text(1e-9, "1e-09");
    assert_value_text(123456789012.5, "123456789012.5");
    assert_value_text(1.0 / 3.0, "0.3333333333333333");
    assert_value_text(0.1 + 0.2, "0.30000000000000004");
}

/* ------------------------------------------------------------------------------------------
 * Histograms
 * ------------------------------------------------------------------------------------------ */

static const double bounds_s[] = {0.001, 0.005, 0.01, 0.1, 1};
#define N_BOUNDS (sizeof(bounds_s) / sizeof(bounds_s[0]))

static void record_sample_latencies(uvfib__hist_t *h)
{
    uvfib__hist_init(h);
    uvfib__hist_record_n(h, 1000000, 3);   /* 1 ms, exactly on a bound: counted in it */
    uvfib__hist_record(h, 3000000);        /* 3 ms */
    uvfib__hist_record(h, 20000000);       /* 20 ms */
    uvfib__hist_record(h, 2000000000);     /* 2 s: only in +Inf */
}

static void test_prom_histogram_exact_text(void **state)
{
    (void)state;
    static uvfib__hist_t h;
    record_sample_latencies(&h);
    uvfib__buf_t buf;
    uvfib__buf_init(&buf);
    uvfib__prom_header(&buf, "uvfib_request_duration_seconds", "histogram", "Latency.");
    uvfib__prom_hist_seconds(&buf, "uvfib_request_duration_seconds", NULL, &h, bounds_s,
                             N_BOUNDS);
    assert_string_equal(buf.data,
                        "# HELP uvfib_request_duration_seconds Latency.\n"
                        "# TYPE uvfib_request_duration_seconds histogram\n"
                        "uvfib_request_duration_seconds_bucket{le=\"0.001\"} 3\n"
                        "uvfib_request_duration_seconds_bucket{le=\"0.005\"} 4\n"
                        "uvfib_request_duration_seconds_bucket{le=\"0.01\"} 4\n"
                        "uvfib_request_duration_seconds_bucket{le=\"0.1\"} 5\n"
                        "uvfib_request_duration_seconds_bucket{le=\"1\"} 5\n"
                        "uvfib_request_duration_seconds_bucket{le=\"+Inf\"} 6\n"
                        "uvfib_request_duration_seconds_sum 2.026\n"
                        "uvfib_request_duration_seconds_count 6\n");
    uvfib__buf_free(&buf);
}

static void test_prom_histogram_with_labels_exact_text(void **state)
{
    (void)state;
    static uvfib__hist_t h;
    record_sample_latencies(&h);
    uvfib__buf_t buf;
    uvfib__buf_init(&buf);
    static const double two[] = {0.002, 2.5};
    uvfib__prom_hist_seconds(&buf, "lat_seconds", "route=\"/fib\"", &h, two, 2);
    assert_string_equal(buf.data, "lat_seconds_bucket{route=\"/fib\",le=\"0.002\"} 3\n"
                                  "lat_seconds_bucket{route=\"/fib\",le=\"2.5\"} 6\n"
                                  "lat_seconds_bucket{route=\"/fib\",le=\"+Inf\"} 6\n"
                                  "lat_seconds_sum{route=\"/fib\"} 2.026\n"
                                  "lat_seconds_count{route=\"/fib\"} 6\n");
    uvfib__buf_free(&buf);
}

static void test_prom_histogram_empty_is_all_zero(void **state)
{
    (void)state;
    static uvfib__hist_t h;   /* zeroed: empty */
    uvfib__buf_t buf;
    uvfib__buf_init(&buf);
    uvfib__prom_hist_seconds(&buf, "e", "", &h, bounds_s, 2);
    assert_string_equal(buf.data, "e_bucket{le=\"0.001\"} 0\n"
                                  "e_bucket{le=\"0.005\"} 0\n"
                                  "e_bucket{le=\"+Inf\"} 0\n"
                                  "e_sum 0\n"
                                  "e_count 0\n");
    uvfib__buf_free(&buf);
}

static void test_prom_histogram_bound_in_seconds_rounds_to_the_nanosecond(void **state)
{
    (void)state;
    static uvfib__hist_t h;
    uvfib__hist_init(&h);
    /* 0.00013 * 1e9 is 129999.99999999999 in doubles; the values at exactly 130 us still
     * count. */
    uvfib__hist_record_n(&h, 130000, 2);
    uvfib__hist_record(&h, 100);
    uvfib__buf_t buf;
    uvfib__buf_init(&buf);
    static const double b[] = {0.0000001, 0.00013};
    uvfib__prom_hist_seconds(&buf, "r", NULL, &h, b, 2);
    assert_string_equal(buf.data, "r_bucket{le=\"1e-07\"} 1\n"
                                  "r_bucket{le=\"0.00013\"} 3\n"
                                  "r_bucket{le=\"+Inf\"} 3\n"
                                  "r_sum 0.0002601\n"
                                  "r_count 3\n");
    uvfib__buf_free(&buf);
}

/* Parses the bucket counts out of an exposition and checks them against the samples, counted
 * here: each bound's count lies between the samples up to the bound less and more two bucket
 * widths (the histogram's resolution, 1/128 of a value), +Inf equals _count, and _sum is the
 * samples' own sum in seconds. */
static void test_prom_histogram_cumulative_inf_equals_count(void **state)
{
    (void)state;
    static uvfib__hist_t h;
    static uint64_t samples[20000];
    uvfib__hist_init(&h);
    uint64_t x = 88172645463325252u;   /* xorshift64, fixed seed */
    uint64_t total_ns = 0;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        /* 0 .. 3 s, spread over the decades the bounds cover: 3 s / 2^(0..23) */
        samples[i] = (x % UINT64_C(3000000000)) >> (x >> 59) % 24;
        total_ns += samples[i];
        uvfib__hist_record(&h, samples[i]);
    }
    static const double b[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                               0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    uvfib__buf_t buf;
    uvfib__buf_init(&buf);
    uvfib__prom_hist_seconds(&buf, "h", NULL, &h, b, sizeof(b) / sizeof(b[0]));
    assert_int_equal(buf.oom, 0);

    uint64_t prev = 0, inf = 0, count = 0;
    size_t n_buckets = 0, n_split = 0;
    double sum = -1;
    for (char *line = buf.data; *line != '\0'; line = strchr(line, '\n') + 1) {
        uint64_t c;
        if (strncmp(line, "h_bucket{le=\"+Inf\"} ", 20) == 0) {
            inf = strtoull(line + 20, NULL, 10);
        } else if (strncmp(line, "h_bucket{", 9) == 0) {
            c = strtoull(strchr(line, '}') + 2, NULL, 10);
            assert_true(c >= prev);
            assert_true(n_buckets < sizeof(b) / sizeof(b[0]));
            double bound_ns = b[n_buckets] * 1e9;
            uint64_t lo = 0, hi = 0;
            for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
                lo += (double)samples[i] <= bound_ns * (1 - 2.0 / 128);
                hi += (double)samples[i] <= bound_ns * (1 + 2.0 / 128);
            }
            if (c < lo || c > hi)
                fail_msg("le=%g: %" PRIu64 ", samples there %" PRIu64 "..%" PRIu64,
                         b[n_buckets], c, lo, hi);
            prev = c;
            n_split += c > 0 && c < 20000;
            n_buckets++;
        } else if (strncmp(line, "h_sum ", 6) == 0) {
            sum = strtod(line + 6, NULL);
        } else if (strncmp(line, "h_count ", 8) == 0) {
            count = strtoull(line + 8, NULL, 10);
        } else {
            fail_msg("unexpected line: %s", line);
        }
    }
    assert_int_equal(n_buckets, sizeof(b) / sizeof(b[0]));
    assert_int_equal(count, 20000);
    assert_int_equal(inf, count);
    assert_true(prev <= inf);
    assert_true(sum == (double)total_ns / 1e9);
    assert_true(n_split >= 12); /* the samples spread across the bounds */
    uvfib__buf_free(&buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_starts_empty_and_grows),
        cmocka_unit_test(test_buf_printf_grows_past_the_room_it_has),
        cmocka_unit_test(test_buf_oom_is_sticky_and_keeps_the_text),
        cmocka_unit_test(test_prom_counter_exact_text),
        cmocka_unit_test(test_prom_gauge_with_labels_exact_text),
        cmocka_unit_test(test_prom_help_escapes_backslash_and_newline_only),
        cmocka_unit_test(test_prom_label_escape_backslash_quote_newline),
        cmocka_unit_test(test_prom_special_floats_spelled_as_prometheus),
        cmocka_unit_test(test_prom_integers_print_without_exponent),
        cmocka_unit_test(test_prom_fractions_round_trip_with_fewest_digits),
        cmocka_unit_test(test_prom_histogram_exact_text),
        cmocka_unit_test(test_prom_histogram_with_labels_exact_text),
        cmocka_unit_test(test_prom_histogram_empty_is_all_zero),
        cmocka_unit_test(test_prom_histogram_bound_in_seconds_rounds_to_the_nanosecond),
        cmocka_unit_test(test_prom_histogram_cumulative_inf_equals_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
