/* test_bench_timeline.c - unit tests of the per-second rows (src/bench/timeline.c): how many
 * rows a duration makes, which row an instant falls in, rows closing as time passes, a run
 * cut short, and picking a server series. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "bench/timeline.h"

#define S UINT64_C(1000000000)   /* one second in ns */
#define MS UINT64_C(1000000)

static uvfib__bench_timeline_t tl;   /* static: it embeds two histograms */

static void test_rows_cover_the_duration_rounded_up(void **state)
{
    (void)state;
    const struct {
        double duration_s;
        size_t rows;
    } cases[] = {{1.0, 1}, {2.0, 2}, {2.5, 3}, {0.3, 1}, {10.0, 10}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(uvfib__bench_timeline_init(&tl, cases[i].duration_s), 0);
        assert_int_equal(tl.n_rows, cases[i].rows);
        assert_float_equal(tl.rows[tl.n_rows - 1].t_s, (double)(cases[i].rows - 1), 0.0);
        assert_true(isnan(tl.rows[0].gen_cpu));
        assert_true(isnan(tl.rows[0].server[0]));
        assert_int_equal(tl.rows[0].scrape, UVFIB__BENCH_SCRAPE_NONE);
        uvfib__bench_timeline_free(&tl);
        assert_null(tl.rows);
    }
}

static void test_instants_fall_in_their_second(void **state)
{
    (void)state;
    assert_int_equal(uvfib__bench_timeline_init(&tl, 3.0), 0);
    assert_ptr_equal(uvfib__bench_timeline_at(&tl, 0), &tl.rows[0]);
    assert_ptr_equal(uvfib__bench_timeline_at(&tl, S - 1), &tl.rows[0]);
    assert_ptr_equal(uvfib__bench_timeline_at(&tl, S), &tl.rows[1]);
    assert_ptr_equal(uvfib__bench_timeline_at(&tl, 3 * S - 1), &tl.rows[2]);
    assert_null(uvfib__bench_timeline_at(&tl, 3 * S));
    uvfib__bench_timeline_free(&tl);
}

static void test_latencies_summarised_when_their_row_closes(void **state)
{
    (void)state;
    assert_int_equal(uvfib__bench_timeline_init(&tl, 3.0), 0);
    /* Second 0: probe 1..100 ms; second 1: nothing; second 2: one load response. */
    for (uint64_t i = 1; i <= 100; i++)
        uvfib__bench_timeline_latency(&tl, i * 5 * MS, true, i * MS);
    assert_int_equal(tl.n_closed, 0);
    assert_int_equal(tl.rows[0].probe.latency.count, 0);   /* not closed yet */
    uvfib__bench_timeline_latency(&tl, 2 * S + 5, false, 42 * MS);
    assert_int_equal(tl.n_closed, 2);
    const uvfib__bench_summary_t *p = &tl.rows[0].probe.latency;
    assert_int_equal(p->count, 100);
    assert_float_equal(p->max, 100.0, 1e-9);
    assert_float_equal(uvfib__bench_summary_pct(p, 50.0), 50.0, 50.0 / 256);
    assert_float_equal(uvfib__bench_summary_pct(p, 99.0), 99.0, 99.0 / 256);
    assert_int_equal(tl.rows[0].load.latency.count, 0);
    assert_int_equal(tl.rows[1].probe.latency.count, 0);
    assert_true(isnan(tl.rows[1].probe.latency.max));
    /* A latency for a closed row (out of order) is dropped, not put in the open one. */
    uvfib__bench_timeline_latency(&tl, S + 1, true, 7 * MS);
    uvfib__bench_timeline_finish(&tl, 3 * S);
    assert_int_equal(tl.n_closed, 3);
    assert_int_equal(tl.rows[2].load.latency.count, 1);
    assert_float_equal(tl.rows[2].load.latency.max, 42.0, 1e-9);
    assert_int_equal(tl.rows[2].probe.latency.count, 0);
    assert_float_equal(tl.rows[2].span_s, 1.0, 1e-12);
    uvfib__bench_timeline_free(&tl);
}

static void test_finish_cuts_a_short_run(void **state)
{
    (void)state;
    assert_int_equal(uvfib__bench_timeline_init(&tl, 5.0), 0);
    uvfib__bench_timeline_latency(&tl, S + 10, true, MS);
    uvfib__bench_timeline_finish(&tl, S + 300 * MS);   /* interrupted at 1.3 s */
    assert_int_equal(tl.n_rows, 2);
    assert_float_equal(tl.rows[1].span_s, 0.3, 1e-9);
    assert_int_equal(tl.rows[1].probe.latency.count, 1);
    uvfib__bench_timeline_finish(&tl, 0);
    assert_int_equal(tl.n_rows, 0);
    uvfib__bench_timeline_free(&tl);
}

static void test_pick_prefers_the_first_series_present(void **state)
{
    (void)state;
    assert_int_equal(uvfib__bench_timeline_init(&tl, 2.0), 0);
    assert_int_equal(uvfib__bench_timeline_pick(&tl, uvfib__bench_series_lag_p99, 2), -1);
    tl.rows[1].server[UVFIB__BENCH_SM_NODE_LAG_P99] = 0.01;
    assert_int_equal(uvfib__bench_timeline_pick(&tl, uvfib__bench_series_lag_p99, 2),
                     UVFIB__BENCH_SM_NODE_LAG_P99);
    tl.rows[0].server[UVFIB__BENCH_SM_UVFIB_LAG_P99] = 0.02;
    assert_int_equal(uvfib__bench_timeline_pick(&tl, uvfib__bench_series_lag_p99, 2),
                     UVFIB__BENCH_SM_UVFIB_LAG_P99);
    assert_string_equal(uvfib__bench_scrape_status_name(UVFIB__BENCH_SCRAPE_BUSY), "busy");
    uvfib__bench_timeline_free(&tl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_cover_the_duration_rounded_up),
        cmocka_unit_test(test_instants_fall_in_their_second),
        cmocka_unit_test(test_latencies_summarised_when_their_row_closes),
        cmocka_unit_test(test_finish_cuts_a_short_run),
        cmocka_unit_test(test_pick_prefers_the_first_series_present),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
