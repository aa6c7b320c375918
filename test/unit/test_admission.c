/* test_admission.c - unit tests of src/admission.c: the expected wait, the order of the
 * checks, the memory cap, work on the loop, Retry-After and the reasons. Pure: no loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>

#include <string.h>

#include "admission.h"

#define MS 1000000ull

static struct uvfib__admission_limits limits(void)
{
    return (struct uvfib__admission_limits){
        .threads = 2,
        .max_queue = 10000,
        .max_queue_wait_ns = 5000 * MS,
        .max_loop_delay_ns = 0,
        .window_ns = 1000 * MS,
    };
}

static void test_no_wait_while_a_thread_is_free(void **state)
{
    (void)state;
    struct uvfib__admission_limits lim = limits();
    struct uvfib__admission_load load = {.waiting = 0, .running = 1, .compute_ns = 1e9};
    assert_true(uvfib__admission_expected_wait_ns(&lim, &load) == 0.0);
    struct uvfib__admission d = uvfib__admission_decide(&lim, &load, true);
    assert_int_equal(d.verdict, UVFIB__ADMIT);
}

static void test_wait_is_jobs_ahead_over_threads_times_cost(void **state)
{
    (void)state;
    struct uvfib__admission_limits lim = limits();
    struct uvfib__admission_load load = {.waiting = 10, .running = 2, .compute_ns = 3 * MS};
    /* 10 ahead on 2 threads at 3 ms each: 15 ms. */
    assert_true(uvfib__admission_expected_wait_ns(&lim, &load) == 15.0 * MS);
}

static void test_first_burst_uses_oldest_running_time_as_cost(void **state)
{
    (void)state;
    struct uvfib__admission_limits lim = limits();
    /* Nothing finished yet, but the oldest job has run for 2 s: 6 waiting on 2 threads
     * wait at least 6 s, over the 5 s bound. */
    struct uvfib__admission_load load = {
        .waiting = 6, .running = 2, .compute_ns = 0, .oldest_running_ns = 2000 * MS};
    assert_true(uvfib__admission_expected_wait_ns(&lim, &load) == 6000.0 * MS);
    struct uvfib__admission d = uvfib__admission_decide(&lim, &load, true);
    assert_int_equal(d.verdict, UVFIB__REFUSE_QUEUE_WAIT);
    /* The known cost wins once there is one. */
    load.compute_ns = 1 * MS;
    d = uvfib__admission_decide(&lim, &load, true);
    assert_int_equal(d.verdict, UVFIB__ADMIT);
}

static void test_queue_wait_refuses_past_the_bound_and_admits_at_it(void **state)
{
    (void)state;
    struct uvfib__admission_limits lim = limits();
    /* 5 s exactly: admitted. */
    struct uvfib__admission_load load = {.waiting = 10, .running = 2, .compute_ns = 1000 * MS};
    assert_int_equal(uvfib__admission_decide(&lim, &load, true).verdict, UVFIB__ADMIT);
    load.waiting = 11;
    struct uvfib__admission d = uvfib__admission_decide(&lim, &load, true);
    assert_int_equal(d.verdict, UVFIB__REFUSE_QUEUE_WAIT);
    /* 5.5 s expected, 0.5 s over: try again in a second. */
    assert_int_equal(d.retry_after_s, 1);
    load.waiting = 30; /* 15 s: 10 s over */
    d = uvfib__admission_decide(&lim, &load, true);
    assert_int_equal(d.retry_after_s, 10);
}

/* A burst of long jobs after short ones: the average still says 1 ms, but the head of the
 * queue has waited 6 s already. That wait is the expected one. */
static void test_the_wait_is_never_less_than_the_head_has_waited(void **state)
{
    (void)state;
    struct uvfib__admission_limits lim = limits();
    struct uvfib__admission_load load = {
        .waiting = 4, .running = 2, .compute_ns = 1 * MS, .oldest_waiting_ns = 6000 * MS};
    assert_true(uvfib__admission_expected_wait_ns(&lim, &load) == 6000.0 * MS);
    struct uvfib__admission d = uvfib__admission_decide(&lim, &load, true);
    assert_int_equal(d.verdict, UVFIB__REFUSE_QUEUE_WAIT);
    assert_int_equal(d.retry_after_s, 1);
    load.oldest_waiting_ns = 1 * MS; /* shorter than the estimate: the estimate stands */
    assert_true(uvfib__admission_expected_wait_ns(&lim, &load) == 2.0 * MS);
    load.waiting = 0; /* nothing ahead and a thread free: no wait, whatever the figures */
    load.running = 1;
    assert_true(uvfib__admission_expected_wait_ns(&lim, &load) == 0.0);
}

/* A job that would wait past the compute timeout can only time out: refused as a wait over
 * the timeout, where that is below max_queue_wait, with a reason that says which. */
static void test_a_wait_past_the_compute_timeout_is_refused(void **state)
{
    (void)state;
    struct uvfib__admission_limits lim = limits();
    lim.compute_timeout_ns = 1000 * MS;
    struct uvfib__admission_load load = {.waiting = 2, .running = 2, .compute_ns = 1000 * MS};
    assert_int_equal(uvfib__admission_decide(&lim, &load, true).verdict, UVFIB__ADMIT);
    load.waiting = 3; /* 1.5 s: under the 5 s limit, over the 1 s timeout */
    struct uvfib__admission d = uvfib__admission_decide(&lim, &load, true);
    assert_int_equal(d.verdict, UVFIB__REFUSE_QUEUE_WAIT);
    assert_int_equal(d.retry_after_s, 1);
    char buf[160];
    assert_string_equal(uvfib__admission_reason(&d, &lim, &load, buf, sizeof(buf)),
                        "expected queue wait 1500.0 ms (3 waiting, 2 threads) is over the "
                        "1000 ms compute timeout");
    lim.max_queue_wait_ns = 0; /* the timeout bounds the wait on its own too */
    assert_int_equal(uvfib__admission_decide(&lim, &load, true).verdict,
                     UVFIB__REFUSE_QUEUE_WAIT);
    lim.max_queue_wait_ns = 500 * MS; /* a smaller limit is the one that speaks */
    d = uvfib__admission_decide(&lim, &load, true);
    assert_string_equal(uvfib__admission_reason(&d, &lim, &load, buf, sizeof(buf)),
                        "expected queue wait 1500.0 ms (3 waiting, 2 threads) is over the "
                        "500 ms limit");
}

static void test_queue_wait_off_admits_any_wait_up_to_the_cap(void **state)
{
    (void)state;
    struct uvfib__admission_limits lim = limits();
    lim.max_queue_wait_ns = 0;
    struct uvfib__admission_load load = {.waiting = 9999, .running = 2, .compute_ns = 1e9};
    assert_int_equal(uvfib__admission_decide(&lim, &load, true).verdict, UVFIB__ADMIT);
    load.waiting = 10000;
    struct uvfib__admission d = uvfib__admission_decide(&lim, &load, true);
    assert_int_equal(d.verdict, UVFIB__REFUSE_QUEUE_FULL);
    /* A wait of hours is announced as a minute at most. */
    assert_int_equal(d.retry_after_s, 60);
}

static void test_queue_full_is_checked_before_queue_wait(void **state)
{
    (void)state;
    struct uvfib__admission_limits lim = limits();
    lim.max_queue = 4;
    struct uvfib__admission_load load = {.waiting = 4, .running = 2, .compute_ns = 10e9};
    assert_int_equal(uvfib__admission_decide(&lim, &load, true).verdict,
                     UVFIB__REFUSE_QUEUE_FULL);
}

static void test_a_full_queue_with_a_free_thread_admits(void **state)
{
    (void)state;
    /* max_queue 0: nothing may wait, but a job that runs at once is fine. */
    struct uvfib__admission_limits lim = limits();
    lim.max_queue = 0;
    struct uvfib__admission_load load = {.waiting = 0, .running = 1, .compute_ns = 1e6};
    assert_int_equal(uvfib__admission_decide(&lim, &load, true).verdict, UVFIB__ADMIT);
    load.running = 2;
    assert_int_equal(uvfib__admission_decide(&lim, &load, true).verdict,
                     UVFIB__REFUSE_QUEUE_FULL);
}

/* Regression: with fewer libuv threads than `threads` (UV_THREADPOOL_SIZE 2 under threads 4,
 * the library's default being the CPU count), running never reaches threads; the waiting jobs
 * are bounded all the same, theirs being the memory max_queue bounds. */
static void test_queue_full_counts_waiting_jobs_however_few_run(void **state)
{
    (void)state;
    struct uvfib__admission_limits lim = limits();
    lim.threads = 4;
    lim.max_queue = 2;
    lim.max_queue_wait_ns = 0;
    /* Two running (all libuv gives, say): the two free threads' jobs and max_queue more may
     * wait, and no more, though running never reaches threads. */
    struct uvfib__admission_load load = {.waiting = 3, .running = 2, .compute_ns = 1e6};
    assert_int_equal(uvfib__admission_decide(&lim, &load, true).verdict, UVFIB__ADMIT);
    load.waiting = 4;
    assert_int_equal(uvfib__admission_decide(&lim, &load, true).verdict,
                     UVFIB__REFUSE_QUEUE_FULL);
    /* None running yet (a burst handed over in one loop pass): threads + max_queue. */
    load.running = 0;
    load.waiting = 5;
    assert_int_equal(uvfib__admission_decide(&lim, &load, true).verdict, UVFIB__ADMIT);
    load.waiting = 6;
    assert_int_equal(uvfib__admission_decide(&lim, &load, true).verdict,
                     UVFIB__REFUSE_QUEUE_FULL);
    /* max_queue 0: only as many wait as there are free threads to take them. */
    lim.max_queue = 0;
    load.running = 1;
    load.waiting = 2;
    assert_int_equal(uvfib__admission_decide(&lim, &load, true).verdict, UVFIB__ADMIT);
    load.waiting = 3;
    assert_int_equal(uvfib__admission_decide(&lim, &load, true).verdict,
                     UVFIB__REFUSE_QUEUE_FULL);
    load.running = 4;
    load.waiting = 0;
    assert_int_equal(uvfib__admission_decide(&lim, &load, true).verdict,
                     UVFIB__REFUSE_QUEUE_FULL);
    /* An embedder's "no bound" (UINT_MAX) does not wrap into a small one. */
    lim.max_queue = UINT_MAX;
    load.running = 1;
    load.waiting = 100000;
    assert_int_equal(uvfib__admission_decide(&lim, &load, true).verdict, UVFIB__ADMIT);
}

static void test_loop_delay_is_checked_first_and_applies_to_loop_work(void **state)
{
    (void)state;
    struct uvfib__admission_limits lim = limits();
    lim.max_loop_delay_ns = 50 * MS;
    lim.max_queue = 0;
    struct uvfib__admission_load load = {
        .waiting = 0, .running = 2, .compute_ns = 1e6, .loop_delay_ns = 51 * MS};
    struct uvfib__admission d = uvfib__admission_decide(&lim, &load, true);
    assert_int_equal(d.verdict, UVFIB__REFUSE_LOOP_DELAY);
    /* The window (1 s) is how soon the figure can recover. */
    assert_int_equal(d.retry_after_s, 1);
    assert_int_equal(uvfib__admission_decide(&lim, &load, false).verdict,
                     UVFIB__REFUSE_LOOP_DELAY);
    load.loop_delay_ns = 50 * MS; /* at the limit: not over it */
    assert_int_equal(uvfib__admission_decide(&lim, &load, false).verdict, UVFIB__ADMIT);
}

static void test_loop_work_ignores_the_pool_queue(void **state)
{
    (void)state;
    struct uvfib__admission_limits lim = limits();
    lim.max_queue = 0;
    struct uvfib__admission_load load = {.waiting = 50, .running = 2, .compute_ns = 1e9};
    assert_int_equal(uvfib__admission_decide(&lim, &load, true).verdict,
                     UVFIB__REFUSE_QUEUE_FULL);
    assert_int_equal(uvfib__admission_decide(&lim, &load, false).verdict, UVFIB__ADMIT);
}

static void test_reasons_name_the_figures(void **state)
{
    (void)state;
    struct uvfib__admission_limits lim = limits();
    lim.max_loop_delay_ns = 50 * MS;
    char buf[160];
    struct uvfib__admission_load load = {.waiting = 30, .running = 2, .compute_ns = 1000 * MS};
    struct uvfib__admission d = uvfib__admission_decide(&lim, &load, true);
    assert_string_equal(uvfib__admission_reason(&d, &lim, &load, buf, sizeof(buf)),
                        "expected queue wait 15000.0 ms (30 waiting, 2 threads) is over the "
                        "5000 ms limit");
    load.loop_delay_ns = 75 * MS;
    d = uvfib__admission_decide(&lim, &load, true);
    assert_string_equal(uvfib__admission_reason(&d, &lim, &load, buf, sizeof(buf)),
                        "event-loop delay 75.0 ms is over the 50 ms limit");
    lim.max_queue = 30;
    load.loop_delay_ns = 0;
    d = uvfib__admission_decide(&lim, &load, true);
    assert_string_equal(uvfib__admission_reason(&d, &lim, &load, buf, sizeof(buf)),
                        "the computation queue is full (30 waiting)");
    load.waiting = 0;
    d = uvfib__admission_decide(&lim, &load, true);
    strcpy(buf, "x");
    assert_string_equal(uvfib__admission_reason(&d, &lim, &load, buf, sizeof(buf)), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_wait_while_a_thread_is_free),
        cmocka_unit_test(test_wait_is_jobs_ahead_over_threads_times_cost),
        cmocka_unit_test(test_first_burst_uses_oldest_running_time_as_cost),
        cmocka_unit_test(test_queue_wait_refuses_past_the_bound_and_admits_at_it),
        cmocka_unit_test(test_the_wait_is_never_less_than_the_head_has_waited),
        cmocka_unit_test(test_a_wait_past_the_compute_timeout_is_refused),
        cmocka_unit_test(test_queue_wait_off_admits_any_wait_up_to_the_cap),
        cmocka_unit_test(test_queue_full_is_checked_before_queue_wait),
        cmocka_unit_test(test_a_full_queue_with_a_free_thread_admits),
        cmocka_unit_test(test_queue_full_counts_waiting_jobs_however_few_run),
        cmocka_unit_test(test_loop_delay_is_checked_first_and_applies_to_loop_work),
        cmocka_unit_test(test_loop_work_ignores_the_pool_queue),
        cmocka_unit_test(test_reasons_name_the_figures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
