/* test_strict.c - unit tests of the strict request-head check (src/strict.c): one table per
 * RFC 9112 rule, the `consumed` offset with bodies and pipelined requests, and the corpus of
 * llhttp's own request tests (test/corpus/index.tsv). Every input is fed whole, byte by byte
 * and in two pieces at every offset, each piece in its own heap block so ASan sees overreads.
 * The corpus directory is argv[1], else $UVFIB_CORPUS_DIR, else "test/corpus" when the test
 * runs from the source root, else ../corpus next to this file as the compiler named it (so a
 * meson test run from the build root finds it too). */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strict.h"

/* ------------------------------------------------------------------------------------------
 * Feeding helpers
 * ------------------------------------------------------------------------------------------ */

/* What one way of feeding an input ended with. */
struct outcome {
    int rc;             /* last result of uvfib__strict_feed() */
    size_t at;          /* DONE: bytes of the input in the head; ERROR: offset of the bad byte;
                         * MORE: the input length */
    const char *reason; /* uvfib__strict_reason() at the end */
};

/* Feeds data[0..len) as pieces that end at cuts[0] < cuts[1] < ... (the last piece ends at
 * len), each piece copied into a block of exactly its size. Stops at DONE or ERROR. */
static struct outcome feed_pieces(const char *data, size_t len, const size_t *cuts,
                                  size_t n_cuts)
{
    uvfib__strict_t s;
    struct outcome out = {UVFIB__STRICT_MORE, len, NULL};
    size_t start = 0;

    uvfib__strict_init(&s);
    for (size_t k = 0; k <= n_cuts; k++) {
        size_t end = k < n_cuts ? cuts[k] : len;
        size_t n = end - start;
        size_t consumed = SIZE_MAX;
        char *piece = malloc(n ? n : 1);
        int rc;

        assert_non_null(piece);
        memcpy(piece, data + start, n);
        rc = uvfib__strict_feed(&s, n ? piece : NULL, n, &consumed);
        free(piece);
        assert_true(consumed <= n);
        if (rc == UVFIB__STRICT_MORE) {
            assert_int_equal(consumed, n);
        } else {
            out.rc = rc;
            out.at = start + consumed;
            out.reason = uvfib__strict_reason(&s);
            return out;
        }
        start = end;
    }
    out.reason = uvfib__strict_reason(&s);
    return out;
}

static struct outcome feed_whole(const char *data, size_t len)
{
    return feed_pieces(data, len, NULL, 0);
}

static struct outcome feed_bytewise(const char *data, size_t len)
{
    size_t *cuts = malloc((len ? len : 1) * sizeof(*cuts));
    struct outcome out;

    assert_non_null(cuts);
    for (size_t i = 0; i + 1 < len; i++) {
        cuts[i] = i + 1;
    }
    out = feed_pieces(data, len, cuts, len ? len - 1 : 0);
    free(cuts);
    return out;
}

/* Up to 60 bytes of input as a C literal, for failure messages. */
static const char *show(const char *data, size_t len)
{
    static char buf[4 * 60 + 8];
    size_t o = 0;

    for (size_t i = 0; i < len && i < 60; i++) {
        unsigned char c = (unsigned char)data[i];
        if (c == '\r') {
            o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\\r");
        } else if (c == '\n') {
            o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\\n");
        } else if (c < 0x20 || c >= 0x7f || c == '\\' || c == '"') {
            o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\\x%02x", c);
        } else {
            buf[o++] = (char)c;
            buf[o] = '\0';
        }
    }
    if (len > 60) {
        snprintf(buf + o, sizeof(buf) - o, "...");
    }
    return buf;
}

static const char *rc_name(int rc)
{
    return rc == UVFIB__STRICT_DONE ? "DONE" : rc == UVFIB__STRICT_ERROR ? "ERROR" : "MORE";
}

static void expect_same(const char *label, const char *how, const char *data, size_t len,
                        struct outcome want, struct outcome got)
{
    if (got.rc != want.rc || got.at != want.at) {
        fail_msg("%s (%s): \"%s\": want %s at %zu, got %s at %zu (%s)", label, how,
                 show(data, len), rc_name(want.rc), want.at, rc_name(got.rc), got.at,
                 got.reason ? got.reason : "no reason");
    }
    if ((got.reason == NULL) != (want.reason == NULL)
        || (got.reason && strcmp(got.reason, want.reason) != 0)) {
        fail_msg("%s (%s): \"%s\": reason \"%s\", fed whole \"%s\"", label, how,
                 show(data, len), got.reason ? got.reason : "(null)",
                 want.reason ? want.reason : "(null)");
    }
}

/* Feeds an input whole, byte by byte and in two pieces at every offset; all must agree. */
static struct outcome check_splits(const char *label, const char *data, size_t len)
{
    struct outcome whole = feed_whole(data, len);
    char how[48];

    expect_same(label, "byte by byte", data, len, whole, feed_bytewise(data, len));
    for (size_t cut = 0; cut <= len; cut++) {
        snprintf(how, sizeof(how), "split at %zu", cut);
        expect_same(label, how, data, len, whole, feed_pieces(data, len, &cut, 1));
    }
    return whole;
}

/* ------------------------------------------------------------------------------------------
 * Table-driven rule tests
 * ------------------------------------------------------------------------------------------ */

struct tcase {
    const char *data;   /* input, may hold NUL */
    size_t len;         /* bytes */
    int rc;             /* expected result */
    size_t at;          /* expected outcome.at */
    const char *reason; /* expected reason, exactly; NULL unless ERROR */
};

/* A well-formed head, then bytes after it that must not be scanned. */
#define OK(head, after) \
    {head after, sizeof(head after) - 1, UVFIB__STRICT_DONE, sizeof(head) - 1, NULL}
/* Fine up to `before`; the first byte of `from` breaks the rule named by `why`. */
#define BAD(before, from, why) \
    {before from, sizeof(before from) - 1, UVFIB__STRICT_ERROR, sizeof(before) - 1, why}
/* A head that is fine so far and not over. */
#define PART(bytes) {bytes, sizeof(bytes) - 1, UVFIB__STRICT_MORE, sizeof(bytes) - 1, NULL}

#define RL "GET / HTTP/1.1\r\n"

static void run_table(const struct tcase *t, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        char label[32];
        struct outcome want = {t[k].rc, t[k].at, t[k].reason};

        snprintf(label, sizeof(label), "case %zu", k);
        expect_same(label, "whole", t[k].data, t[k].len, want, check_splits(label, t[k].data,
                                                                              t[k].len));
    }
}

#define RUN_TABLE(t) run_table((t), sizeof(t) / sizeof((t)[0]))

static void test_strict_accepts_well_formed_heads(void **state)
{
    static const struct tcase t[] = {
        OK(RL "\r\n", ""),
        OK("GET /fibonacci/10 HTTP/1.1\r\nHost: localhost:8080\r\nAccept: */*\r\n\r\n", ""),
        OK("get /x?y=1&z=%20#f HTTP/1.0\r\n\r\n", ""),
        OK("OPTIONS * HTTP/1.1\r\n\r\n", ""),
        OK("CONNECT example.com:443 HTTP/1.1\r\n\r\n", ""),
        OK("GET http://u:p@example.com:80/a/b;c?d HTTP/1.1\r\n\r\n", ""),
        OK("GET / HTTP/9.9\r\n\r\n", ""),
        OK(RL "X:\r\n\r\n", ""),
        OK(RL "X: \t \r\n\r\n", ""),
        OK(RL "X:\tv\t\r\n\r\n", ""),
        OK(RL "X: a  b\t c\r\n\r\n", ""),
        OK(RL "!#$%&'*+-.^_`|~09azAZ: v\r\n\r\n", ""),
        OK(RL "X: \"q\" (c) <>{}[]\\/?=,;:@\r\n\r\n", ""),
        OK(RL "X: \x80\xff caf\xc3\xa9\r\n\r\n", ""),
        OK(RL "Transfer-Encoding: chunked\r\n\r\n", ""),
        OK(RL "transfer-encoding:\tgzip , chunked\r\n\r\n", ""),
        OK(RL "Transfer-Encodings:\r\n\r\n", ""),
        OK(RL "Transfer-Encodin:\r\n\r\n", ""),
        OK(RL "X-Transfer-Encoding:\r\n\r\n", ""),
        OK(RL "Host: a\r\nHost: b\r\nHost: c\r\n\r\n", ""),
    };
    (void)state;
    RUN_TABLE(t);
}

static void test_strict_accepts_leading_empty_lines_up_to_limit(void **state)
{
    static const struct tcase t[] = {
        OK("\r\n" RL "\r\n", ""),
        OK("\r\n\r\n\r\n\r\n" RL "\r\n", ""),
        BAD("\r\n\r\n\r\n\r\n\r", "\n" RL "\r\n", "too many empty lines before request line"),
    };
    (void)state;
    assert_int_equal(UVFIB__STRICT_MAX_LEADING_CRLF, 4);
    RUN_TABLE(t);
}

static void test_strict_rejects_bare_lf_before_request_line(void **state)
{
    static const struct tcase t[] = {
        BAD("", "\n" RL "\r\n", "bare LF before request line"),
        BAD("\r\n", "\n" RL "\r\n", "bare LF before request line"),
    };
    (void)state;
    RUN_TABLE(t);
}

static void test_strict_rejects_bare_cr_before_request_line(void **state)
{
    static const struct tcase t[] = {
        BAD("\r", RL "\r\n", "bare CR before request line"),
        BAD("\r", "\r\n" RL "\r\n", "bare CR before request line"),
    };
    (void)state;
    RUN_TABLE(t);
}

static void test_strict_rejects_invalid_method(void **state)
{
    static const struct tcase t[] = {
        BAD("", " GET / HTTP/1.1\r\n\r\n", "invalid character in method"),
        BAD("G", "@T / HTTP/1.1\r\n\r\n", "invalid character in method"),
        BAD("GET", "\t/ HTTP/1.1\r\n\r\n", "invalid character in method"),
        BAD("", "\x80GET / HTTP/1.1\r\n\r\n", "invalid character in method"),
        BAD("", "/ HTTP/1.1\r\n\r\n", "invalid character in method"),
        BAD("GET", "\r\n\r\n", "missing request target"),
    };
    (void)state;
    RUN_TABLE(t);
}

static void test_strict_rejects_extra_spaces_in_request_line(void **state)
{
    static const struct tcase t[] = {
        BAD("GET ", " / HTTP/1.1\r\n\r\n", "more than one space after method"),
        BAD("GET / ", " HTTP/1.1\r\n\r\n", "more than one space before HTTP version"),
        BAD("GET / HTTP/1.1", " \r\n\r\n", "invalid HTTP version"),
        BAD("GET ", "\r\n\r\n", "missing request target"),
    };
    (void)state;
    RUN_TABLE(t);
}

static void test_strict_rejects_invalid_request_target(void **state)
{
    static const struct tcase t[] = {
        BAD("GET /a", "\x01" "b HTTP/1.1\r\n\r\n", "invalid character in request target"),
        BAD("GET /a", "\x7f" "b HTTP/1.1\r\n\r\n", "invalid character in request target"),
        BAD("GET /a", "\tb HTTP/1.1\r\n\r\n", "invalid character in request target"),
        BAD("GET /a", "\0b HTTP/1.1\r\n\r\n", "invalid character in request target"),
        BAD("GET /", "\xce\xb4 HTTP/1.1\r\n\r\n", "invalid character in request target"),
        BAD("GET ", "\x80 HTTP/1.1\r\n\r\n", "invalid character in request target"),
    };
    (void)state;
    RUN_TABLE(t);
}

static void test_strict_rejects_invalid_http_version(void **state)
{
    static const struct tcase t[] = {
        BAD("GET / ", "http/1.1\r\n\r\n", "invalid HTTP version"),
        BAD("GET / HTTP/1.1", "0\r\n\r\n", "invalid HTTP version"),
        BAD("GET / HTTP/1", "1\r\n\r\n", "invalid HTTP version"),
        BAD("GET / HTTP/1.", "\r\n\r\n", "invalid HTTP version"),
        BAD("GET / HTTP/", "a.1\r\n\r\n", "invalid HTTP version"),
        BAD("GET / HTTP/1.1", "x\r\n\r\n", "invalid HTTP version"),
        BAD("GET / HTTP", "S/1.1\r\n\r\n", "invalid HTTP version"),
        BAD("GET / HTTP", " /1.1\r\n\r\n", "invalid HTTP version"),
        BAD("GET / HTTP/1", ",1\r\n\r\n", "invalid HTTP version"),
        BAD("GET / ", "ICE/1.0\r\n\r\n", "invalid HTTP version"),
        BAD("GET / ", "RTSP/1.0\r\n\r\n", "invalid HTTP version"),
    };
    (void)state;
    RUN_TABLE(t);
}

static void test_strict_rejects_missing_http_version(void **state)
{
    static const struct tcase t[] = {
        BAD("GET /", "\r\n\r\n", "missing HTTP version"),
        BAD("GET /", "\n\n", "missing HTTP version"),
    };
    (void)state;
    RUN_TABLE(t);
}

static void test_strict_rejects_bare_lf_in_request_line(void **state)
{
    static const struct tcase t[] = {
        BAD("GET / HTTP/1.1", "\nHost: a\r\n\r\n", "bare LF in request line"),
        BAD("GET / HTTP/1.1", "\n\n", "bare LF in request line"),
    };
    (void)state;
    RUN_TABLE(t);
}

static void test_strict_rejects_bare_cr_in_request_line(void **state)
{
    static const struct tcase t[] = {
        BAD("GET / HTTP/1.1\r", "Host: a\r\n\r\n", "bare CR in request line"),
        BAD("GET / HTTP/1.1\r", "\r\n\r\n", "bare CR in request line"),
    };
    (void)state;
    RUN_TABLE(t);
}

static void test_strict_rejects_bare_cr_in_value(void **state)
{
    static const struct tcase t[] = {
        BAD(RL "X: a\r", "b\r\n\r\n", "bare CR in header"),
        BAD(RL "X: a\r", "\r\n\r\n", "bare CR in header"),
        BAD(RL "Connection: keep\r", "alive\r\n\r\n", "bare CR in header"),
        BAD(RL "x:\r", "Transfer-Encoding: chunked\r\n\r\n", "bare CR in header"),
    };
    (void)state;
    RUN_TABLE(t);
}

static void test_strict_rejects_bare_cr_between_headers(void **state)
{
    static const struct tcase t[] = {
        BAD(RL "Host: a\r\n\r", "ZGET /evil HTTP/1.1\r\n\r\n", "bare CR in header"),
        BAD(RL "Host: a\r\n\r", "\r\n", "bare CR in header"),
        BAD(RL "\r", "X: a\r\n\r\n", "bare CR in header"),
    };
    (void)state;
    RUN_TABLE(t);
}

static void test_strict_rejects_bare_lf_in_header(void **state)
{
    static const struct tcase t[] = {
        BAD(RL "X: a", "\nY: b\r\n\r\n", "bare LF in header"),
        BAD(RL "X:", "\nTransfer-Encoding: chunked\r\n\r\n", "bare LF in header"),
        BAD(RL "X: a\r\n", "\n", "bare LF in header"),
        BAD(RL, "\n", "bare LF in header"),
    };
    (void)state;
    RUN_TABLE(t);
}

static void test_strict_rejects_obs_fold(void **state)
{
    static const struct tcase t[] = {
        BAD(RL "X: a\r\n", " b\r\n\r\n", "whitespace at start of header line"),
        BAD(RL "X: a\r\n", "\tb\r\n\r\n", "whitespace at start of header line"),
        BAD(RL "Foo: bar\r\n", " Content-Length: 38\r\n\r\n", "whitespace at start of header line"),
        BAD(RL "X:\r\n", " \r\n\r\n", "whitespace at start of header line"),
        BAD(RL, " Host: a\r\n\r\n", "whitespace at start of header line"),
    };
    (void)state;
    RUN_TABLE(t);
}

static void test_strict_rejects_empty_header_name(void **state)
{
    static const struct tcase t[] = {
        BAD(RL, ": v\r\n\r\n", "empty header name"),
        BAD(RL "Host: a\r\n", ":\r\n\r\n", "empty header name"),
    };
    (void)state;
    RUN_TABLE(t);
}

static void test_strict_rejects_whitespace_before_colon(void **state)
{
    static const struct tcase t[] = {
        BAD(RL "Host", " : a\r\n\r\n", "whitespace before colon in header"),
        BAD(RL "Host", "\t: a\r\n\r\n", "whitespace before colon in header"),
        BAD(RL "Content-Length", " : 4\r\n\r\nabcd", "whitespace before colon in header"),
        BAD(RL "Transfer-Encoding", " : chunked\r\n\r\n", "whitespace before colon in header"),
    };
    (void)state;
    RUN_TABLE(t);
}

static void test_strict_rejects_invalid_header_name_char(void **state)
{
    static const struct tcase t[] = {
        BAD(RL "Fo", "@: v\r\n\r\n", "invalid character in header name"),
        BAD(RL "Foo", "\x01\test: v\r\n\r\n", "invalid character in header name"),
        BAD(RL "X", "\x80: v\r\n\r\n", "invalid character in header name"),
        BAD(RL "X", "(y): v\r\n\r\n", "invalid character in header name"),
        BAD(RL, "\"x\": v\r\n\r\n", "invalid character in header name"),
        BAD(RL "X", "/y: v\r\n\r\n", "invalid character in header name"),
        BAD(RL, "\x7fX: v\r\n\r\n", "invalid character in header name"),
        BAD(RL "X", "\0: v\r\n\r\n", "invalid character in header name"),
    };
    (void)state;
    RUN_TABLE(t);
}

static void test_strict_rejects_header_line_without_colon(void **state)
{
    static const struct tcase t[] = {
        BAD(RL "name", "\r\n : value\r\n\r\n", "header line without colon"),
        BAD(RL "Connection", "\r\x1b" "5eep-Alive\r\n\r\n", "header line without colon"),
        BAD(RL "name", "\n\r\n", "header line without colon"),
    };
    (void)state;
    RUN_TABLE(t);
}

static void test_strict_rejects_ctl_in_value(void **state)
{
    static const struct tcase t[] = {
        BAD(RL "X: a", "\0b\r\n\r\n", "invalid character in header value"),
        BAD(RL "X: a", "\x01" "b\r\n\r\n", "invalid character in header value"),
        BAD(RL "X: a", "\bb\r\n\r\n", "invalid character in header value"),
        BAD(RL "X: a", "\vb\r\n\r\n", "invalid character in header value"),
        BAD(RL "X: ", "\f\r\n\r\n", "invalid character in header value"),
        BAD(RL "X: hello", "\fworld\r\n\r\n", "invalid character in header value"),
        BAD(RL "X: a", "\x1b[0m\r\n\r\n", "invalid character in header value"),
        BAD(RL "X: a", "\x1f\r\n\r\n", "invalid character in header value"),
        BAD(RL "X: a", "\x7f\r\n\r\n", "invalid character in header value"),
    };
    (void)state;
    RUN_TABLE(t);
}

static void test_strict_rejects_empty_transfer_encoding(void **state)
{
    static const struct tcase t[] = {
        BAD("POST / HTTP/1.1\r\nTransfer-Encoding:", "\r\nContent-Length: 5\r\n\r\nhello",
            "empty Transfer-Encoding"),
        BAD("POST / HTTP/1.1\r\ntransfer-encoding: \t ", "\r\n\r\n", "empty Transfer-Encoding"),
        BAD("POST / HTTP/1.1\r\nHost: a\r\nTRANSFER-ENCODING:", "\r\n\r\n",
            "empty Transfer-Encoding"),
        BAD("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding:", "\r\n\r\n",
            "empty Transfer-Encoding"),
    };
    (void)state;
    RUN_TABLE(t);
}

static void test_strict_wants_more_for_unfinished_head(void **state)
{
    static const struct tcase t[] = {
        PART(""),
        PART("\r\n"),
        PART("GET"),
        PART("GET / HTTP/1.1"),
        PART(RL "Host: a\r\n"),
        PART(RL "Host: a\r\n\r"),
        PART(RL "Transfer-Encoding:"),
    };
    (void)state;
    RUN_TABLE(t);
}

/* ------------------------------------------------------------------------------------------
 * consumed, stickiness, no limits
 * ------------------------------------------------------------------------------------------ */

static void test_strict_reports_consumed_with_body(void **state)
{
    /* The body holds bytes that would break every rule; none of them may be scanned. */
    static const struct tcase t[] = {
        OK("POST /x HTTP/1.1\r\nContent-Length: 12\r\n\r\n", "a\0\nb\r\r\n c\x01\x7f\xff"),
        OK("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", "5\r\nhello\r\n0\r\n\r\n"),
        OK("\r\nGET / HTTP/1.1\r\n\r\n", "\r\n"),
    };
    (void)state;
    RUN_TABLE(t);
}

/* Plays the feeder of conn.c: on DONE it re-inits and goes on with the rest of the same piece.
 * Returns the absolute offsets where heads ended (and of an error, as the last entry). */
static size_t feed_stream(const char *data, size_t len, size_t cut, size_t *ends, size_t max,
                          int *last_rc)
{
    uvfib__strict_t s;
    size_t n_ends = 0;
    size_t bounds[2] = {cut, len};
    size_t start = 0;

    uvfib__strict_init(&s);
    *last_rc = UVFIB__STRICT_MORE;
    for (size_t k = 0; k < 2; k++) {
        size_t off = start;
        while (off < bounds[k]) {
            size_t consumed;
            int rc = uvfib__strict_feed(&s, data + off, bounds[k] - off, &consumed);
            *last_rc = rc;
            if (rc == UVFIB__STRICT_MORE) {
                off = bounds[k];
                break;
            }
            assert_true(n_ends < max);
            ends[n_ends++] = off + consumed;
            if (rc == UVFIB__STRICT_ERROR) {
                return n_ends;
            }
            off += consumed;
            uvfib__strict_init(&s);
            /* Between heads the feeder skips the body; these tests send none. */
        }
        start = bounds[k];
    }
    return n_ends;
}

static void test_strict_reports_consumed_with_pipelined_request(void **state)
{
    static const char two[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                              "\r\nGET /b HTTP/1.1\r\n\r\n"
                              "GET /c HTTP/1.1\r\n";
    static const char bad_second[] = "GET /a HTTP/1.1\r\n\r\n"
                                     "GET /b HTTP/1.1\r\nX: 1\rY: 2\r\n\r\n";
    const size_t len_a = sizeof("GET /a HTTP/1.1\r\nHost: x\r\n\r\n") - 1;
    const size_t len_b = sizeof("\r\nGET /b HTTP/1.1\r\n\r\n") - 1;
    const size_t bad_at = sizeof("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nX: 1\r") - 1;
    size_t ends[4];
    int rc;
    (void)state;

    for (size_t cut = 0; cut <= sizeof(two) - 1; cut++) {
        size_t n = feed_stream(two, sizeof(two) - 1, cut, ends, 4, &rc);
        assert_int_equal(n, 2);
        assert_int_equal(ends[0], len_a);
        assert_int_equal(ends[1], len_a + len_b);
        assert_int_equal(rc, UVFIB__STRICT_MORE); /* GET /c is not over */
    }
    for (size_t cut = 0; cut <= sizeof(bad_second) - 1; cut++) {
        size_t n = feed_stream(bad_second, sizeof(bad_second) - 1, cut, ends, 4, &rc);
        assert_int_equal(n, 2);
        assert_int_equal(ends[0], sizeof("GET /a HTTP/1.1\r\n\r\n") - 1);
        assert_int_equal(ends[1], bad_at);
        assert_int_equal(rc, UVFIB__STRICT_ERROR);
    }
}

static void test_strict_stays_done_and_error_until_init(void **state)
{
    static const char good[] = RL "\r\nGARBAGE\r\r\n";
    static const char bad[] = RL "X: a\rb\r\n\r\n";
    uvfib__strict_t s;
    size_t consumed = 99;
    (void)state;

    uvfib__strict_init(&s);
    assert_null(uvfib__strict_reason(&s));
    assert_int_equal(uvfib__strict_feed(&s, NULL, 0, &consumed), UVFIB__STRICT_MORE);
    assert_int_equal(consumed, 0);
    assert_int_equal(uvfib__strict_feed(&s, good, sizeof(good) - 1, &consumed),
                     UVFIB__STRICT_DONE);
    assert_int_equal(consumed, sizeof(RL "\r\n") - 1);
    assert_null(uvfib__strict_reason(&s));
    assert_int_equal(uvfib__strict_feed(&s, "\n\n", 2, &consumed), UVFIB__STRICT_DONE);
    assert_int_equal(consumed, 0);

    uvfib__strict_init(&s);
    assert_int_equal(uvfib__strict_feed(&s, bad, sizeof(bad) - 1, &consumed),
                     UVFIB__STRICT_ERROR);
    assert_int_equal(consumed, sizeof(RL "X: a\r") - 1);
    assert_string_equal(uvfib__strict_reason(&s), "bare CR in header");
    assert_int_equal(uvfib__strict_feed(&s, RL "\r\n", sizeof(RL "\r\n") - 1, &consumed),
                     UVFIB__STRICT_ERROR);
    assert_int_equal(consumed, 0);
    assert_string_equal(uvfib__strict_reason(&s), "bare CR in header");

    uvfib__strict_init(&s);
    assert_null(uvfib__strict_reason(&s));
    assert_int_equal(uvfib__strict_feed(&s, RL "\r\n", sizeof(RL "\r\n") - 1, &consumed),
                     UVFIB__STRICT_DONE);
}

static void test_strict_has_no_size_limit(void **state)
{
    const size_t n_value = 256 * 1024;
    const char head[] = "GET / HTTP/1.1\r\nX-Big: ";
    const size_t len = sizeof(head) - 1 + n_value + 4;
    char *buf = malloc(len);
    uvfib__strict_t s;
    size_t consumed;
    (void)state;

    assert_non_null(buf);
    memcpy(buf, head, sizeof(head) - 1);
    memset(buf + sizeof(head) - 1, 'v', n_value);
    memcpy(buf + len - 4, "\r\n\r\n", 4);
    uvfib__strict_init(&s);
    assert_int_equal(uvfib__strict_feed(&s, buf, len, &consumed), UVFIB__STRICT_DONE);
    assert_int_equal(consumed, len);
    free(buf);
}

/* ------------------------------------------------------------------------------------------
 * Corpus: test/corpus/index.tsv
 * ------------------------------------------------------------------------------------------ */

static const char *corpus_dir = "test/corpus"; /* argv[1], $UVFIB_CORPUS_DIR, or default */
static char corpus_dir_buf[512];               /* the default derived from __FILE__ */

struct entry {
    char file[160];  /* path relative to corpus_dir, "valid/x.http" */
    char expect[16]; /* "valid" or "hostile" */
    char layer[16];  /* "strict", "llhttp" or "-" */
};

static struct entry *entries; /* owned; loaded once, freed at exit */
static size_t n_entries;

static char *read_file(const char *rel, size_t *len)
{
    char path[512];
    FILE *f;
    char *buf;
    long size;

    snprintf(path, sizeof(path), "%s/%s", corpus_dir, rel);
    f = fopen(path, "rb");
    if (f == NULL) {
        fail_msg("cannot open %s (corpus dir from argv[1] or UVFIB_CORPUS_DIR)", path);
    }
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    assert_true(size >= 0);
    rewind(f);
    buf = malloc((size_t)size + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    buf[size] = '\0';
    *len = (size_t)size;
    return buf;
}

static void load_index(void)
{
    size_t len;
    char *text;
    char *line;
    char *save = NULL;
    size_t cap = 0;

    if (entries != NULL) {
        return;
    }
    text = read_file("index.tsv", &len);
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        struct entry e;
        char *tab1;
        char *tab2;
        char *tab3;

        if (line[0] == '#' || line[0] == '\0') {
            continue;
        }
        tab1 = strchr(line, '\t');
        tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
        tab3 = tab2 ? strchr(tab2 + 1, '\t') : NULL;
        if (tab3 == NULL) {
            fail_msg("index.tsv: want 4 tab-separated fields: %s", line);
        }
        *tab1 = *tab2 = *tab3 = '\0';
        if (strlen(line) >= sizeof(e.file) || strlen(tab1 + 1) >= sizeof(e.expect)
            || strlen(tab2 + 1) >= sizeof(e.layer)) {
            fail_msg("index.tsv: field too long near %s", line);
        }
        strcpy(e.file, line);
        strcpy(e.expect, tab1 + 1);
        strcpy(e.layer, tab2 + 1);
        if (!((strcmp(e.expect, "valid") == 0 && strcmp(e.layer, "-") == 0)
              || (strcmp(e.expect, "hostile") == 0
                  && (strcmp(e.layer, "strict") == 0 || strcmp(e.layer, "llhttp") == 0)))) {
            fail_msg("index.tsv: %s: bad expect/layer %s/%s", e.file, e.expect, e.layer);
        }
        if (n_entries == cap) {
            cap = cap ? 2 * cap : 64;
            entries = realloc(entries, cap * sizeof(*entries));
            assert_non_null(entries);
        }
        entries[n_entries++] = e;
    }
    free(text);
    assert_true(n_entries > 0);
}

static size_t corpus_run(const char *expect, const char *layer)
{
    size_t n_run = 0;

    load_index();
    for (size_t k = 0; k < n_entries; k++) {
        const struct entry *e = &entries[k];
        struct outcome out;
        size_t len;
        char *data;

        if (strcmp(e->expect, expect) != 0 || strcmp(e->layer, layer) != 0) {
            continue;
        }
        data = read_file(e->file, &len);
        out = check_splits(e->file, data, len);
        if (strcmp(layer, "strict") == 0) {
            if (out.rc != UVFIB__STRICT_ERROR) {
                fail_msg("%s: want ERROR, got %s", e->file, rc_name(out.rc));
            }
        } else if (strcmp(layer, "llhttp") == 0) {
            /* The layer column must be honest: llhttp's cases pass the strict check. */
            if (out.rc == UVFIB__STRICT_ERROR) {
                fail_msg("%s: marked llhttp, but strict rejects it at %zu: %s", e->file, out.at,
                         out.reason);
            }
        } else {
            if (out.rc != UVFIB__STRICT_DONE) {
                fail_msg("%s: want DONE, got %s at %zu (%s)", e->file, rc_name(out.rc), out.at,
                         out.reason ? out.reason : "no reason");
            }
            assert_true(out.at >= 4);
            assert_memory_equal(data + out.at - 4, "\r\n\r\n", 4);
        }
        free(data);
        n_run++;
    }
    return n_run;
}

static void test_strict_corpus_valid_heads_are_done(void **state)
{
    (void)state;
    assert_true(corpus_run("valid", "-") >= 20);
}

static void test_strict_corpus_strict_hostile_heads_are_errors(void **state)
{
    (void)state;
    assert_true(corpus_run("hostile", "strict") >= 30);
}

static void test_strict_corpus_llhttp_hostile_heads_pass_strict(void **state)
{
    (void)state;
    assert_true(corpus_run("hostile", "llhttp") >= 1);
}

static bool in_index(const char *sub, const char *name)
{
    char rel[sizeof(entries[0].file) + 300];

    snprintf(rel, sizeof(rel), "%s/%s", sub, name);
    for (size_t k = 0; k < n_entries; k++) {
        if (strcmp(entries[k].file, rel) == 0) {
            return strcmp(entries[k].expect, sub) == 0;
        }
    }
    return false;
}

static void test_strict_corpus_index_lists_every_file(void **state)
{
    static const char *const subs[] = {"valid", "hostile"};
    (void)state;

    load_index();
    for (size_t k = 0; k < 2; k++) {
        char path[512];
        DIR *dir;
        struct dirent *de;
        size_t n_files = 0;

        snprintf(path, sizeof(path), "%s/%s", corpus_dir, subs[k]);
        dir = opendir(path);
        if (dir == NULL) {
            fail_msg("cannot open directory %s", path);
        }
        while ((de = readdir(dir)) != NULL) {
            if (de->d_name[0] == '.') {
                continue;
            }
            if (!in_index(subs[k], de->d_name)) {
                closedir(dir);
                fail_msg("%s/%s has no line (or a wrong expect) in index.tsv", subs[k],
                         de->d_name);
            }
            n_files++;
        }
        closedir(dir);
        assert_true(n_files > 0);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strict_accepts_well_formed_heads),
        cmocka_unit_test(test_strict_accepts_leading_empty_lines_up_to_limit),
        cmocka_unit_test(test_strict_rejects_bare_lf_before_request_line),
        cmocka_unit_test(test_strict_rejects_bare_cr_before_request_line),
        cmocka_unit_test(test_strict_rejects_invalid_method),
        cmocka_unit_test(test_strict_rejects_extra_spaces_in_request_line),
        cmocka_unit_test(test_strict_rejects_invalid_request_target),
        cmocka_unit_test(test_strict_rejects_invalid_http_version),
        cmocka_unit_test(test_strict_rejects_missing_http_version),
        cmocka_unit_test(test_strict_rejects_bare_lf_in_request_line),
        cmocka_unit_test(test_strict_rejects_bare_cr_in_request_line),
        cmocka_unit_test(test_strict_rejects_bare_cr_in_value),
        cmocka_unit_test(test_strict_rejects_bare_cr_between_headers),
        cmocka_unit_test(test_strict_rejects_bare_lf_in_header),
        cmocka_unit_test(test_strict_rejects_obs_fold),
        cmocka_unit_test(test_strict_rejects_empty_header_name),
        cmocka_unit_test(test_strict_rejects_whitespace_before_colon),
        cmocka_unit_test(test_strict_rejects_invalid_header_name_char),
        cmocka_unit_test(test_strict_rejects_header_line_without_colon),
        cmocka_unit_test(test_strict_rejects_ctl_in_value),
        cmocka_unit_test(test_strict_rejects_empty_transfer_encoding),
        cmocka_unit_test(test_strict_wants_more_for_unfinished_head),
        cmocka_unit_test(test_strict_reports_consumed_with_body),
        cmocka_unit_test(test_strict_reports_consumed_with_pipelined_request),
        cmocka_unit_test(test_strict_stays_done_and_error_until_init),
        cmocka_unit_test(test_strict_has_no_size_limit),
        cmocka_unit_test(test_strict_corpus_valid_heads_are_done),
        cmocka_unit_test(test_strict_corpus_strict_hostile_heads_are_errors),
        cmocka_unit_test(test_strict_corpus_llhttp_hostile_heads_pass_strict),
        cmocka_unit_test(test_strict_corpus_index_lists_every_file),
    };
    const char *env = getenv("UVFIB_CORPUS_DIR");
    int rc;

    if (argc > 1) {
        corpus_dir = argv[1];
    } else if (env != NULL && env[0] != '\0') {
        corpus_dir = env;
    } else {
        FILE *probe = fopen("test/corpus/index.tsv", "rb");
        const char *slash = strrchr(__FILE__, '/');

        if (probe != NULL) {
            fclose(probe);
        } else if (slash != NULL) {
            snprintf(corpus_dir_buf, sizeof(corpus_dir_buf), "%.*s/../corpus",
                     (int)(slash - __FILE__), __FILE__);
            corpus_dir = corpus_dir_buf;
        }
    }
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(entries);
    return rc;
}
