/* test_num.c - unit tests of src/num.c: exact decimal parsing and printing of 64-bit numbers.
 * Pure: no loop, no allocation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "fib_ref.h"
#include "decimal.h"
#include "num.h"

#define UV_EINVAL (-EINVAL)
#define UV_ERANGE (-ERANGE)

static void test_parse_u64_accepts_plain_decimals(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        uint64_t v;
    } ok[] = {
        {"0", 0},
        {"7", 7},
        {"007", 7},
        {"42", 42},
        {"00000000000000000007", 7}, /* 20 digits, the most accepted */
        {"7540113804746346429", UINT64_C(7540113804746346429)},
        {"18446744073709551614", UINT64_MAX - 1},
        {"18446744073709551615", UINT64_MAX},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t v = 12345;
        assert_int_equal(decimal_parse_u64(ok[i].s, &v), 0);
        assert_true(v == ok[i].v);
    }
}

static void test_parse_u64_rejects_non_plain_integers_with_einval(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",    "abc", "-5",  "+5", "5abc", "1e3",   " 5",      "5 ",  "0x10", "1.0",
        "5\n", "\t5", "1,0", "\xd9\xa3", "0b1",  "5\x01", "1_000", "abcdefghijklmnopqrstuvwxyz",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v = 12345;
        int rc = decimal_parse_u64(bad[i], &v);
        if (rc != UV_EINVAL)
            fail_msg("parse_u64(\"%s\") = %d, want UV_EINVAL", bad[i], rc);
        assert_true(v == 12345); /* untouched on error */
    }
    uint64_t v = 12345;
    assert_int_equal(decimal_parse_u64(NULL, &v), UV_EINVAL);
    assert_true(v == 12345);
}

static void test_parse_u64_rejects_values_over_uint64_max_with_erange(void **state)
{
    (void)state;
    static const char *const big[] = {
        "18446744073709551616",  /* 2^64 */
        "18446744073709551620",  /* overflows on the last digit */
        "19000000000000000000",  /* 20 digits, overflows earlier */
        "99999999999999999999",  /* the largest 20 digits */
        "100000000000000000000", /* 21 digits */
        "123456789012345678901234567890",
    };
    for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
        uint64_t v = 12345;
        int rc = decimal_parse_u64(big[i], &v);
        if (rc != UV_ERANGE)
            fail_msg("parse_u64(\"%s\") = %d, want UV_ERANGE", big[i], rc);
        assert_true(v == 12345);
    }
}

static void test_parse_u64_rejects_more_than_20_digits_even_with_leading_zeros(void **state)
{
    (void)state;
    /* The contract allows 1 to 20 digits; the code calls any longer run of
     * digits out of range, whatever its value. */
    uint64_t v = 12345;
    assert_int_equal(decimal_parse_u64("000000000000000000001", &v), UV_ERANGE);
    assert_true(v == 12345);
    /* A long string that is not all digits is not a number at all. */
    assert_int_equal(decimal_parse_u64("0000000000000000000001x", &v), UV_EINVAL);
    assert_true(v == 12345);
}

/* ------------------------------------------------------------ u64_to_dec */

static void test_u64_to_dec_writes_exact_digits(void **state)
{
    (void)state;
    static const struct {
        uint64_t v;
        const char *s;
    } cases[] = {
        {0, "0"},
        {9, "9"},
        {10, "10"},
        {100, "100"},
        {UINT64_C(7540113804746346429), "7540113804746346429"},
        {UINT64_C(12200160415121876738), "12200160415121876738"},
        {UINT64_MAX, "18446744073709551615"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[24];
        memset(buf, 'x', sizeof(buf));
        size_t n = uvfib__u64_to_dec(cases[i].v, buf);
        assert_int_equal(n, strlen(cases[i].s));
        assert_string_equal(buf, cases[i].s);
        assert_int_equal(buf[n + 1], 'x'); /* nothing written past the NUL */
    }
}

static void test_u64_to_dec_round_trips_through_parse_u64(void **state)
{
    (void)state;
    /* Every power of ten, the values just below them, and every Fibonacci number. */
    uint64_t p = 1;
    for (int i = 0; i < 20; i++, p *= 10) {
        uint64_t vals[2] = {p, p - 1};
        for (int j = 0; j < 2; j++) {
            char buf[21];
            uint64_t back = 0;
            uvfib__u64_to_dec(vals[j], buf);
            assert_int_equal(decimal_parse_u64(buf, &back), 0);
            assert_true(back == vals[j]);
        }
    }
    for (unsigned n = 0; n <= 93; n++) {
        char buf[21];
        uint64_t back = 0;
        uvfib__u64_to_dec(fib_ref(n), buf);
        assert_int_equal(decimal_parse_u64(buf, &back), 0);
        assert_true(back == fib_ref(n));
    }
}

static void test_u64_to_dec_pad_fills_with_zeros_to_the_width(void **state)
{
    (void)state;
    char buf[21];
    assert_int_equal(uvfib__u64_to_dec_pad(7, 3, buf), 3);
    assert_string_equal(buf, "007");
    assert_int_equal(uvfib__u64_to_dec_pad(1234, 3, buf), 4);
    assert_string_equal(buf, "1234");
    assert_int_equal(uvfib__u64_to_dec_pad(0, 0, buf), 1);
    assert_string_equal(buf, "0");
    assert_int_equal(uvfib__u64_to_dec_pad(UINT64_MAX, 20, buf), 20);
    assert_string_equal(buf, "18446744073709551615");
}

/* Every value below 1000, against the padded general form. */
static void test_dec3_writes_three_digits_as_the_padded_form_does(void **state)
{
    (void)state;
    for (unsigned v = 0; v < 1000; v++) {
        char want[21], got[4] = {0};
        uvfib__u64_to_dec_pad(v, 3, want);
        uvfib__dec3(v, got);
        assert_string_equal(got, want);
    }
}

/* The saturated time arithmetic deadlines use: exact below the edge, UINT64_MAX past it. */
static void test_add_sat_and_ms_to_ns_saturate_instead_of_wrapping(void **state)
{
    (void)state;
    assert_true(uvfib__add_sat(1, 2) == 3);
    assert_true(uvfib__add_sat(UINT64_MAX - 5, 5) == UINT64_MAX);
    assert_true(uvfib__add_sat(UINT64_MAX - 5, 6) == UINT64_MAX);
    assert_true(uvfib__add_sat(7, UINT64_MAX) == UINT64_MAX);
    assert_true(uvfib__ms_to_ns(0) == 0);
    assert_true(uvfib__ms_to_ns(1500) == UINT64_C(1500000000));
    uint64_t edge = UINT64_MAX / 1000000;
    assert_true(uvfib__ms_to_ns(edge) == edge * 1000000);
    assert_true(uvfib__ms_to_ns(edge + 1) == UINT64_MAX);
    assert_true(uvfib__ms_to_ns(UINT64_MAX) == UINT64_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_u64_accepts_plain_decimals),
        cmocka_unit_test(test_add_sat_and_ms_to_ns_saturate_instead_of_wrapping),
        cmocka_unit_test(test_parse_u64_rejects_non_plain_integers_with_einval),
        cmocka_unit_test(test_parse_u64_rejects_values_over_uint64_max_with_erange),
        cmocka_unit_test(test_parse_u64_rejects_more_than_20_digits_even_with_leading_zeros),
        cmocka_unit_test(test_u64_to_dec_writes_exact_digits),
        cmocka_unit_test(test_u64_to_dec_round_trips_through_parse_u64),
        cmocka_unit_test(test_u64_to_dec_pad_fills_with_zeros_to_the_width),
        cmocka_unit_test(test_dec3_writes_three_digits_as_the_padded_form_does),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
