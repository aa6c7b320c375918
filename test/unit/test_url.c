/* test_url.c - unit tests of src/url.c: percent-decoding, the query of a target, and query
 * parameters in form encoding. Pure: no loop, no allocation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "url.h"

static long param(const char *query, const char *name, char *out)
{
    return uvfib__url_query_param(query, strlen(query), name, out);
}

static void test_percent_decode_accepts_escapes_and_refuses_bad_ones(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(uvfib__percent_decode("a%41%2f+", 8, out), 4);
    assert_string_equal(out, "aA/+"); /* '+' is not a space in a path */
    assert_int_equal(uvfib__percent_decode("%4", 2, out), -1);
    assert_int_equal(uvfib__percent_decode("%g1", 3, out), -1);
    assert_int_equal(uvfib__percent_decode("%00", 3, out), -1); /* no NUL bytes */
    assert_int_equal(uvfib__percent_decode("", 0, out), 0);
    assert_string_equal(out, "");
}

static void test_query_is_what_follows_the_question_mark_up_to_a_fragment(void **state)
{
    (void)state;
    size_t len;
    const char *t = "/a?x=1&y=2#frag";
    const char *q = uvfib__url_query(t, strlen(t), &len);
    assert_int_equal(len, 7);
    assert_memory_equal(q, "x=1&y=2", 7);
    t = "/a";
    q = uvfib__url_query(t, strlen(t), &len);
    assert_int_equal(len, 0);
    assert_string_equal(q, "");
    t = "/a?";
    uvfib__url_query(t, strlen(t), &len);
    assert_int_equal(len, 0);
}

static void test_query_param_decodes_form_encoding_and_the_first_wins(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(param("name=a+b%21&x=1&name=second", "name", out), 4);
    assert_string_equal(out, "a b!");
    assert_int_equal(param("name=a+b%21&x=1", "x", out), 1);
    assert_string_equal(out, "1");
    /* A parameter without '=' has the empty value; an empty one is fine too. */
    assert_int_equal(param("flag&y=", "flag", out), 0);
    assert_string_equal(out, "");
    assert_int_equal(param("flag&y=", "y", out), 0);
    /* Names are decoded before they are compared. */
    assert_int_equal(param("my%20key=v", "my key", out), 1);
    assert_string_equal(out, "v");
}

static void test_query_param_absent_or_malformed(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(param("a=1&b=2", "c", out), -1);
    assert_int_equal(param("", "a", out), -1);
    assert_int_equal(param("&&=x&", "a", out), -1);
    assert_int_equal(param("a=%zz", "a", out), -2);
    assert_int_equal(param("a=%00", "a", out), -2);
    /* A malformed pair of another name hides nothing after it. */
    assert_int_equal(param("%zz=1&n=5", "n", out), 1);
    assert_string_equal(out, "5");
    assert_int_equal(param("x%00=1&n=%zz", "n", out), -2);
    assert_int_equal(param("%zz&x=1", "n", out), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percent_decode_accepts_escapes_and_refuses_bad_ones),
        cmocka_unit_test(test_query_is_what_follows_the_question_mark_up_to_a_fragment),
        cmocka_unit_test(test_query_param_decodes_form_encoding_and_the_first_wins),
        cmocka_unit_test(test_query_param_absent_or_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
