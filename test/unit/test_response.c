/* test_response.c - unit tests of src/response.c: the exact bytes of a
 * serialised response, header checks, JSON bodies with exact integers and
 * escaped messages, the Date format and reason phrases, and out-of-memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "alloc.h"
#include "request.h"
#include "response.h"

#include <uv.h>

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#define DATE "Sun, 06 Nov 1994 08:49:37 GMT"
#define BODY "{\"success\":true,\"result\":55}"

static long live_before;

static int setup(void **state)
{
    (void)state;
    live_before = uvfib__alloc_live();
    return 0;
}

/* Every test must give back all it allocated, even after a failure injection. */
static int teardown(void **state)
{
    (void)state;
    uvfib__alloc_fail_after(0);
    return uvfib__alloc_live() == live_before ? 0 : -1;
}

/* Serialises r and compares every byte with want. */
static void assert_serializes_to(const struct uvfib__response *r, const char *want)
{
    char *out = NULL;
    size_t out_len = 0;
    assert_int_equal(uvfib__response_serialize(r, &out, &out_len), 0);
    assert_non_null(out);
    if (out_len != strlen(want) || memcmp(out, want, out_len) != 0)
        fail_msg("serialised:\n%.*s\nwant:\n%s", (int)out_len, out, want);
    uvfib__free(out);
}

/* --------------------------------------------------------- serialize */

static void test_serialize_200_keep_alive(void **state)
{
    (void)state;
    struct uvfib__response r = {
        .status = 200,
        .keep_alive = true,
        .date = DATE,
        .body = BODY,
        .body_len = strlen(BODY),
    };
    assert_serializes_to(&r, "HTTP/1.1 200 OK\r\n"
                             "Content-Type: application/json\r\n"
                             "Content-Length: 28\r\n"
                             "Date: " DATE "\r\n"
                             "Connection: keep-alive\r\n"
                             "\r\n" BODY);
}

static void test_serialize_close(void **state)
{
    (void)state;
    const char *body = "{\"success\":false,\"error\":\"no route matches this path\"}";
    struct uvfib__response r = {
        .status = 404,
        .keep_alive = false,
        .date = DATE,
        .body = body,
        .body_len = strlen(body),
    };
    assert_serializes_to(&r, "HTTP/1.1 404 Not Found\r\n"
                             "Content-Type: application/json\r\n"
                             "Content-Length: 54\r\n"
                             "Date: " DATE "\r\n"
                             "Connection: close\r\n"
                             "\r\n"
                             "{\"success\":false,\"error\":\"no route matches this path\"}");
}

static void test_serialize_head_keeps_content_length_drops_body(void **state)
{
    (void)state;
    struct uvfib__response r = {
        .status = 200,
        .keep_alive = true,
        .head = true,
        .date = DATE,
        .body = BODY,
        .body_len = strlen(BODY),
    };
    assert_serializes_to(&r, "HTTP/1.1 200 OK\r\n"
                             "Content-Type: application/json\r\n"
                             "Content-Length: 28\r\n"
                             "Date: " DATE "\r\n"
                             "Connection: keep-alive\r\n"
                             "\r\n");
}

static void test_serialize_extra_headers_in_insertion_order(void **state)
{
    (void)state;
    struct uvfib__header *hdrs = NULL;
    assert_int_equal(uvfib__header_add(&hdrs, "Allow", "GET, HEAD"), 0);
    assert_int_equal(uvfib__header_add(&hdrs, "Retry-After", "1"), 0);
    assert_int_equal(uvfib__header_add(&hdrs, "X-Empty", ""), 0);
    const char *body = "{}";
    struct uvfib__response r = {
        .status = 405,
        .keep_alive = false,
        .date = DATE,
        .headers = hdrs,
        .body = body,
        .body_len = 2,
    };
    assert_serializes_to(&r, "HTTP/1.1 405 Method Not Allowed\r\n"
                             "Content-Type: application/json\r\n"
                             "Content-Length: 2\r\n"
                             "Date: " DATE "\r\n"
                             "Connection: close\r\n"
                             "Allow: GET, HEAD\r\n"
                             "Retry-After: 1\r\n"
                             "X-Empty: \r\n"
                             "\r\n"
                             "{}");
    r.head = true;
    r.status = 503;
    assert_serializes_to(&r, "HTTP/1.1 503 Service Unavailable\r\n"
                             "Content-Type: application/json\r\n"
                             "Content-Length: 2\r\n"
                             "Date: " DATE "\r\n"
                             "Connection: close\r\n"
                             "Allow: GET, HEAD\r\n"
                             "Retry-After: 1\r\n"
                             "X-Empty: \r\n"
                             "\r\n");
    uvfib__header_free(hdrs);
}

static void test_serialize_empty_body(void **state)
{
    (void)state;
    struct uvfib__response r = {.status = 200, .keep_alive = true, .date = DATE};
    assert_serializes_to(&r, "HTTP/1.1 200 OK\r\n"
                             "Content-Type: application/json\r\n"
                             "Content-Length: 0\r\n"
                             "Date: " DATE "\r\n"
                             "Connection: keep-alive\r\n"
                             "\r\n");
}

static void test_serialize_out_of_memory_is_enomem_without_leak(void **state)
{
    (void)state;
    struct uvfib__response r = {
        .status = 200,
        .keep_alive = true,
        .date = DATE,
        .body = BODY,
        .body_len = strlen(BODY),
    };
    char *out = (char *)"untouched";
    size_t out_len = 12345;
    long live = uvfib__alloc_live();
    uvfib__alloc_fail_after(1);
    assert_int_equal(uvfib__response_serialize(&r, &out, &out_len), UV_ENOMEM);
    uvfib__alloc_fail_after(0);
    assert_string_equal(out, "untouched");
    assert_int_equal(out_len, 12345);
    assert_int_equal(uvfib__alloc_live(), live);
    /* The next one succeeds again. */
    assert_int_equal(uvfib__response_serialize(&r, &out, &out_len), 0);
    assert_int_equal(uvfib__alloc_live(), live + 1);
    uvfib__free(out);
}

/* RFC 9110 6.4.1, 8.6: a 1xx, 204 or 304 response has no content, and a 204 or 1xx no
 * Content-Length either (a 304's would describe another response; we send none). Before, the
 * handler's body went out with its length, and a client read it as the next response. */
static void test_serialize_204_304_and_1xx_have_no_body_or_content_length(void **state)
{
    (void)state;
    static const int bodiless[] = {204, 304, 100, 101, 103, 199};
    for (size_t i = 0; i < sizeof(bodiless) / sizeof(bodiless[0]); i++) {
        for (int head = 0; head < 2; head++) {
            struct uvfib__response r = {
                .status = bodiless[i],
                .keep_alive = true,
                .head = head,
                .date = DATE,
                .body = BODY,
                .body_len = strlen(BODY),
            };
            char want[256];
            snprintf(want, sizeof(want),
                     "HTTP/1.1 %d %s\r\nDate: " DATE "\r\nConnection: keep-alive\r\n\r\n",
                     bodiless[i], uvfib__status_reason(bodiless[i]));
            assert_serializes_to(&r, want);
        }
    }
    /* A Content-Type the handler set is its own to send. */
    struct uvfib__header *hdrs = NULL;
    assert_int_equal(uvfib__header_add(&hdrs, "Content-Type", "text/plain"), 0);
    struct uvfib__response r = {.status = 304, .date = DATE, .headers = hdrs};
    char want[256];
    snprintf(want, sizeof(want),
             "HTTP/1.1 304 %s\r\nDate: " DATE "\r\nConnection: close\r\n"
             "Content-Type: text/plain\r\n\r\n",
             uvfib__status_reason(304));
    assert_serializes_to(&r, want);
    uvfib__header_free(hdrs);
    /* The statuses around them keep their length and body. */
    r = (struct uvfib__response){.status = 205, .date = DATE, .body = "{}", .body_len = 2};
    assert_serializes_to(&r, "HTTP/1.1 205 OK\r\n"
                             "Content-Type: application/json\r\n"
                             "Content-Length: 2\r\n"
                             "Date: " DATE "\r\n"
                             "Connection: close\r\n"
                             "\r\n{}");
}

/* ----------------------------------------------------------- headers */

/* Headers uvfib writes itself were accepted and sent twice: two Content-Lengths (which a
 * client or proxy may resolve either way), or Connection both close and keep-alive. */
static void test_res_header_refuses_the_headers_uvfib_sets(void **state)
{
    (void)state;
    uvfib_req_t req;
    memset(&req, 0, sizeof(req)); /* a request being answered: uvfib_res_header needs no more */
    static const char *const ours[] = {
        "Content-Length", "content-length", "CONTENT-LENGTH", "Transfer-Encoding",
        "transfer-encoding", "Connection", "connection", "Date", "dAtE",
    };
    for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++) {
        int rc = uvfib_res_header(&req, ours[i], "1");
        if (rc != UV_EINVAL)
            fail_msg("uvfib_res_header(\"%s\") = %d, want UV_EINVAL", ours[i], rc);
    }
    assert_null(req.headers);
    /* Names that only look like them, and the Content-Type a handler may set. */
    static const char *const others[] = {"Content-Type", "Dates", "X-Date", "Content-Len",
                                         "Keep-Alive", "Retry-After"};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
        assert_int_equal(uvfib_res_header(&req, others[i], "1"), 0);
    unsigned n = 0;
    for (const struct uvfib__header *hd = req.headers; hd != NULL; hd = hd->next)
        n++;
    assert_int_equal(n, sizeof(others) / sizeof(others[0]));
    uvfib__header_free(req.headers);
}


static void test_header_add_rejects_unsafe_names_and_values(void **state)
{
    (void)state;
    struct uvfib__header *hdrs = NULL;
    long live = uvfib__alloc_live();
    static const char *const bad_names[] = {
        "", "X-A\r", "X-A\n", "X\r\nInjected", "X:A", ":", "X A", "X\tY", "X(Y)", "X\"Y",
        "X/Y", "\xc3\xa9",
    };
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        int rc = uvfib__header_add(&hdrs, bad_names[i], "v");
        if (rc != UV_EINVAL)
            fail_msg("header_add(name \"%s\") = %d, want UV_EINVAL", bad_names[i], rc);
    }
    static const char *const bad_values[] = {"a\r", "a\nb", "\r\n", "1\r\nSet-Cookie: x=1",
                                             "a\x01b", "a\x7f", "\x1b[31m"};
    for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++)
        assert_int_equal(uvfib__header_add(&hdrs, "X-A", bad_values[i]), UV_EINVAL);
    assert_null(hdrs);
    assert_int_equal(uvfib__alloc_live(), live);
    /* Every token character in a name; a tab and obs-text in a value. */
    assert_int_equal(uvfib__header_add(&hdrs, "!#$%&'*+-.^_`|~09AZaz", "a\tb \xc3\xa9"), 0);
    uvfib__header_free(hdrs);
    hdrs = NULL;
    /* A colon inside a value is fine. */
    assert_int_equal(uvfib__header_add(&hdrs, "X-Time", "12:30"), 0);
    assert_non_null(hdrs);
    assert_int_equal(hdrs->name_len, 6);
    assert_int_equal(hdrs->value_len, 5);
    assert_string_equal(hdrs->text, "X-Time");
    assert_string_equal(hdrs->text + hdrs->name_len + 1, "12:30");
    assert_null(hdrs->next);
    uvfib__header_free(hdrs);
}

static void test_header_add_out_of_memory_keeps_list(void **state)
{
    (void)state;
    struct uvfib__header *hdrs = NULL;
    assert_int_equal(uvfib__header_add(&hdrs, "A", "1"), 0);
    long live = uvfib__alloc_live();
    uvfib__alloc_fail_after(1);
    assert_int_equal(uvfib__header_add(&hdrs, "B", "2"), UV_ENOMEM);
    uvfib__alloc_fail_after(0);
    assert_int_equal(uvfib__alloc_live(), live);
    assert_string_equal(hdrs->text, "A");
    assert_null(hdrs->next);
    uvfib__header_free(hdrs);
}

/* -------------------------------------------------------------- JSON */

static void test_json_error_out_of_memory_is_null(void **state)
{
    (void)state;
    size_t len = 777;
    long live = uvfib__alloc_live();
    uvfib__alloc_fail_after(1);
    assert_null(uvfib__json_error("x", &len));
    uvfib__alloc_fail_after(0);
    assert_int_equal(uvfib__alloc_live(), live);
}

static void test_json_error_plain_message_is_exact(void **state)
{
    (void)state;
    size_t len = 0;
    char *text = uvfib__json_error("no route matches this path", &len);
    assert_non_null(text);
    assert_string_equal(text, "{\"success\":false,\"error\":\"no route matches this path\"}");
    assert_int_equal(len, strlen(text));
    uvfib__free(text);
}

static void test_json_error_escapes_quotes_backslashes_and_controls(void **state)
{
    (void)state;
    static const char *const messages[] = {
        "say \"hi\"",
        "C:\\path\\",
        "line1\nline2\r\ttab",
        "bell\x07 nul-free \x01\x1f end",
        "</script>",
        "caf\xc3\xa9 \xe2\x82\xac",
        "",
    };
    for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++) {
        size_t len = 0;
        char *text = uvfib__json_error(messages[i], &len);
        assert_non_null(text);
        assert_int_equal(len, strlen(text));
        /* No raw control byte may reach the wire. */
        for (size_t j = 0; j < len; j++)
            assert_true((unsigned char)text[j] >= 0x20);
        cJSON *json = cJSON_Parse(text);
        if (json == NULL)
            fail_msg("not JSON: %s", text);
        assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(json, "success")));
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(json, "error");
        assert_true(cJSON_IsString(err));
        assert_string_equal(err->valuestring, messages[i]);
        assert_int_equal(cJSON_GetArraySize(json), 2);
        cJSON_Delete(json);
        uvfib__free(text);
    }
    /* And the escapes themselves, exactly. */
    size_t len = 0;
    char *text = uvfib__json_error("a\"b\\c\nd\x01", &len);
    assert_string_equal(text, "{\"success\":false,\"error\":\"a\\\"b\\\\c\\nd\\u0001\"}");
    uvfib__free(text);
}

/* -------------------------------------------------------- Date, reasons */

static void test_http_date_is_imf_fixdate(void **state)
{
    (void)state;
    static const struct {
        time_t t;
        const char *want;
    } cases[] = {
        {784111777, "Sun, 06 Nov 1994 08:49:37 GMT"},
        {0, "Thu, 01 Jan 1970 00:00:00 GMT"},
        {951782400, "Tue, 29 Feb 2000 00:00:00 GMT"},
        {1700000000, "Tue, 14 Nov 2023 22:13:20 GMT"},
        {253402300799, "Fri, 31 Dec 9999 23:59:59 GMT"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[32];
        memset(buf, 'x', sizeof(buf));
        uvfib__http_date(cases[i].t, buf);
        assert_string_equal(buf, cases[i].want);
        assert_int_equal(buf[30], 'x'); /* buf[30] is all it may use */
        assert_int_equal(buf[31], 'x');
    }
}

static void test_status_reason_for_statuses_in_use(void **state)
{
    (void)state;
    static const struct {
        int status;
        const char *reason;
    } cases[] = {
        {200, "OK"},
        {201, "Created"},
        {202, "Accepted"},
        {204, "No Content"},
        {301, "Moved Permanently"},
        {302, "Found"},
        {303, "See Other"},
        {304, "Not Modified"},
        {307, "Temporary Redirect"},
        {308, "Permanent Redirect"},
        {400, "Bad Request"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {408, "Request Timeout"},
        {413, "Content Too Large"},
        {414, "URI Too Long"},
        {422, "Unprocessable Content"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
        {505, "HTTP Version Not Supported"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(uvfib__status_reason(cases[i].status), cases[i].reason);
}

static void test_status_reason_falls_back_by_class(void **state)
{
    (void)state;
    assert_string_equal(uvfib__status_reason(299), "OK");
    assert_string_equal(uvfib__status_reason(399), "Redirection");
    assert_string_equal(uvfib__status_reason(418), "Client Error");
    assert_string_equal(uvfib__status_reason(599), "Server Error");
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_serialize_200_keep_alive),
        T(test_serialize_close),
        T(test_serialize_head_keeps_content_length_drops_body),
        T(test_serialize_extra_headers_in_insertion_order),
        T(test_serialize_empty_body),
        T(test_serialize_204_304_and_1xx_have_no_body_or_content_length),
        T(test_res_header_refuses_the_headers_uvfib_sets),
        T(test_serialize_out_of_memory_is_enomem_without_leak),
        T(test_header_add_rejects_unsafe_names_and_values),
        T(test_header_add_out_of_memory_keeps_list),
        T(test_json_error_out_of_memory_is_null),
        T(test_json_error_plain_message_is_exact),
        T(test_json_error_escapes_quotes_backslashes_and_controls),
        T(test_http_date_is_imf_fixdate),
        T(test_status_reason_for_statuses_in_use),
        T(test_status_reason_falls_back_by_class),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
