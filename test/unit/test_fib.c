/* test_fib.c - unit tests of src/app/fib.c and the Fibonacci routes' calibration: the naive kernel
 * against an iterative reference, its range limit and cancel flag, and the inline cut-off
 * chosen from a hand-off cost. No loop, no allocation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fib_ref.h"

#include "fib.h"
#include "pool.h" /* struct uvfib_work_s: a cancel flag the tests raise */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------ kernel */

static void test_fib_reference_is_exact_at_92_and_93(void **state)
{
    (void)state;
    assert_true(fib_ref(0) == 0);
    assert_true(fib_ref(1) == 1);
    assert_true(fib_ref(2) == 1);
    assert_true(fib_ref(10) == 55);
    assert_true(fib_ref(92) == UINT64_C(7540113804746346429));
    assert_true(fib_ref(93) == UINT64_C(12200160415121876738));
    /* F(94) no longer fits: the reference wraps, so F(93) really is the last. */
    assert_true(fib_ref(93) > fib_ref(92));
    assert_true(fib_ref(94) < fib_ref(93));
}

static void test_fib_matches_reference_for_0_to_40(void **state)
{
    (void)state;
    for (unsigned n = 0; n <= 40; n++) {
        uint64_t out = UINT64_MAX;
        assert_int_equal(fib_compute(n, NULL, &out), 0);
        assert_true(out == fib_ref(n));
    }
}

static void test_fib_with_uncancelled_work_matches_reference(void **state)
{
    (void)state;
    uvfib_work_t w;
    atomic_init(&w.cancelled, false);
    /* Both sides of the point where the kernel starts polling the flag. */
    static const unsigned ns[] = {0, 1, 2, 20, 28, 29, 30, 31, 32, 33};
    for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
        uint64_t out = UINT64_MAX;
        assert_int_equal(fib_compute(ns[i], &w, &out), 0);
        assert_true(out == fib_ref(ns[i]));
    }
}

static void test_fib_rejects_94_with_erange(void **state)
{
    (void)state;
    uint64_t out = 42;
    assert_int_equal(fib_compute(94, NULL, &out), UV_ERANGE);
    assert_true(out == 42); /* untouched on error */
    assert_int_equal(fib_compute(1000, NULL, &out), UV_ERANGE);
    assert_int_equal(fib_compute(UINT32_MAX, NULL, &out), UV_ERANGE);
    assert_true(out == 42);
}

static void test_fib_accepts_93_as_in_range(void **state)
{
    (void)state;
    /* F(93) by naive recursion would never finish; with the flag already up the
     * kernel stops at once, and the error shows 93 passed the range check. */
    uvfib_work_t w;
    atomic_init(&w.cancelled, true);
    uint64_t out = 42;
    assert_int_equal(fib_compute(FIB_MAX_N, &w, &out), UV_ECANCELED);
    assert_int_equal(fib_compute(FIB_MAX_N + 1, &w, &out), UV_ERANGE);
    assert_true(out == 42);
}

static void test_fib_cancelled_before_start_returns_ecanceled(void **state)
{
    (void)state;
    uvfib_work_t w;
    atomic_init(&w.cancelled, true);
    uint64_t out = 42;
    /* Uncancelled, F(60) would take hours (and the suite's timeout would fail it): that it
     * returns at all shows the flag is polled from the first call above the cut-off. */
    assert_int_equal(fib_compute(31, &w, &out), UV_ECANCELED);
    assert_int_equal(fib_compute(60, &w, &out), UV_ECANCELED);
    assert_true(out == 42);
}

struct fib_thread {
    uvfib_work_t w;
    atomic_bool started;
    atomic_bool finished;
    int rc;
    uint64_t out;
};

static void *run_fib_60(void *arg)
{
    struct fib_thread *t = arg;
    atomic_store(&t->started, true);
    t->rc = fib_compute(60, &t->w, &t->out);
    atomic_store(&t->finished, true);
    return NULL;
}

static void test_fib_cancelled_while_running_stops_within_deadline(void **state)
{
    (void)state;
    struct fib_thread t = {.rc = 1, .out = 42};
    atomic_init(&t.w.cancelled, false);
    atomic_init(&t.started, false);
    atomic_init(&t.finished, false);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_fib_60, &t), 0);
    while (!atomic_load(&t.started))
        sched_yield();
    atomic_store_explicit(&t.w.cancelled, true, memory_order_relaxed);

    /* F(60) would take hours: only the flag can end it before the deadline. */
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    int jr = pthread_timedjoin_np(th, NULL, &deadline);
    if (jr == ETIMEDOUT)
        fail_msg("fib_compute(60) still running 10 s after its work was cancelled");
    assert_int_equal(jr, 0);
    assert_true(atomic_load(&t.finished));
    assert_int_equal(t.rc, UV_ECANCELED);
    assert_true(t.out == 42);
}

/* ------------------------------------------------------------ parse_u64 */

/* ------------------------------------------------------------------ the result body */

/* The recursion starts on a 64-byte boundary (-falign-functions=64, src/meson.build): 16 bytes
 * past one, the same instructions ran 15-35% slower on this machine's CPU. */
static void test_kernel_starts_on_a_64_byte_boundary(void **state)
{
    (void)state;
    uint64_t (*kernel)(unsigned) = fib_naive;
    assert_int_equal((uintptr_t)kernel % 64, 0);
}

static void test_json_result_is_exact_for_f92(void **state)
{
    (void)state;
    char text[64];
    size_t len = fib_result_json(UINT64_C(7540113804746346429), text, sizeof(text));
    assert_true(len > 0);
    assert_string_equal(text, "{\"success\":true,\"result\":7540113804746346429}");
    assert_int_equal(len, strlen(text));
}

static void test_json_result_for_zero_and_uint64_max(void **state)
{
    (void)state;
    char text[64];
    size_t len = fib_result_json(0, text, sizeof(text));
    assert_true(len > 0);
    assert_string_equal(text, "{\"success\":true,\"result\":0}");
    assert_int_equal(len, strlen("{\"success\":true,\"result\":0}"));
    len = fib_result_json(UINT64_MAX, text, sizeof(text));
    assert_true(len > 0);
    assert_string_equal(text, "{\"success\":true,\"result\":18446744073709551615}");
    assert_int_equal(len, strlen(text));
}

/* Too small a buffer is refused, never overrun: the text and its NUL must fit. */
static void test_json_result_refuses_a_buffer_too_small(void **state)
{
    (void)state;
    char text[64];
    size_t need = strlen("{\"success\":true,\"result\":55}");
    assert_int_equal(fib_result_json(55, text, need), 0);
    assert_int_equal(fib_result_json(55, text, need + 1), need);
    assert_string_equal(text, "{\"success\":true,\"result\":55}");
    assert_int_equal(fib_result_json(55, text, 0), 0);
}

/* ------------------------------------------------------------------ calibration */

static void test_calibrate_keeps_nothing_inline_below_the_cost_of_f1(void **state)
{
    (void)state;
    char report[160];
    assert_int_equal(fib_calibrate(0, report, sizeof(report)), 0);
    assert_non_null(strstr(report, "nothing inline"));
}

static void test_calibrate_stops_at_its_search_limit(void **state)
{
    (void)state;
    /* A hand-off of a whole second: every n up to the limit costs less. */
    char report[160];
    assert_int_equal(fib_calibrate(1000000000ull, report, sizeof(report)),
                     FIB_CALIBRATE_MAX_N);
    assert_non_null(strstr(report, "inline up to n 32"));
}

static void test_calibrate_grows_with_the_hand_off_and_reports_its_figures(void **state)
{
    (void)state;
    char small[160], large[160];
    /* F(n) costs grow by phi per n: 1 us and 1 ms lie about fifteen n apart on any machine
     * (F(12) and F(27) here), wide enough for other tests running beside this one, and 1 ms
     * is below F(32)'s cost on any CPU. */
    unsigned a = fib_calibrate(1000, small, sizeof(small));
    unsigned b = fib_calibrate(1000000, large, sizeof(large));
    assert_true(a < b);
    assert_true(b < FIB_CALIBRATE_MAX_N);
    char want[64];
    snprintf(want, sizeof(want), ": inline up to n %u", b);
    assert_non_null(strstr(large, want));
    assert_non_null(strstr(large, "hand-off 1000.0 us"));
    /* NULL report: the same decision (give or take the machine's noise), nothing written. */
    assert_true(fib_calibrate(1000000, NULL, 0) + 3 >= b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fib_reference_is_exact_at_92_and_93),
        cmocka_unit_test(test_fib_matches_reference_for_0_to_40),
        cmocka_unit_test(test_fib_with_uncancelled_work_matches_reference),
        cmocka_unit_test(test_fib_rejects_94_with_erange),
        cmocka_unit_test(test_kernel_starts_on_a_64_byte_boundary),
        cmocka_unit_test(test_fib_accepts_93_as_in_range),
        cmocka_unit_test(test_fib_cancelled_before_start_returns_ecanceled),
        cmocka_unit_test(test_fib_cancelled_while_running_stops_within_deadline),
        cmocka_unit_test(test_json_result_is_exact_for_f92),
        cmocka_unit_test(test_json_result_for_zero_and_uint64_max),
        cmocka_unit_test(test_json_result_refuses_a_buffer_too_small),
        cmocka_unit_test(test_calibrate_keeps_nothing_inline_below_the_cost_of_f1),
        cmocka_unit_test(test_calibrate_stops_at_its_search_limit),
        cmocka_unit_test(test_calibrate_grows_with_the_hand_off_and_reports_its_figures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
