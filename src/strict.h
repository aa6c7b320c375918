/* strict.h - a strict RFC 9112 check of one HTTP/1.x request head, run beside llhttp.
 * Pure: no libuv, no llhttp, no allocation. It refuses what llhttp 8.1 lets through and 9.x
 * rejects (bare CR or LF, obs-fold, whitespace before ':', bad tokens and field bytes, an empty
 * Transfer-Encoding). It counts no bytes and leaves Content-Length and the body to llhttp. */
#ifndef UVFIB_STRICT_H
#define UVFIB_STRICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Results of uvfib__strict_feed(). */
enum {
    UVFIB__STRICT_ERROR = -1, /* the head breaks a rule: answer 400 and close */
    UVFIB__STRICT_MORE = 0,   /* every byte was scanned and the head is not over yet */
    UVFIB__STRICT_DONE = 1,   /* the CRLF of the empty line that ends the head was scanned */
};

/* Empty lines (CRLF) skipped before the request-line. RFC 9112 §2.2 asks a server to ignore
 * "at least one"; clients send one after a body. Four leaves room and still ends a stream of
 * CRLFs early. A bare LF there is an error. */
#define UVFIB__STRICT_MAX_LEADING_CRLF 4

/* The checker of one request head. Plain data: copy it, embed it, reset it with init. */
typedef struct uvfib__strict {
    uint8_t state;          /* position in the grammar (enum state in strict.c) */
    uint8_t n_leading_crlf; /* empty lines skipped before the request-line so far, count */
    uint8_t te_match;       /* chars of "transfer-encoding" matched by this field name */
    uint8_t te_value;       /* in a Transfer-Encoding value: 1 while empty, 2 once non-empty */
    const char *reason;     /* static message once feed returned ERROR, else NULL */
} uvfib__strict_t;

/* Resets *s for a new request; call it before the first byte of each request (after DONE,
 * before the next pipelined request). */
void uvfib__strict_init(uvfib__strict_t *s);

/* Scans data[0..len), which continues the bytes fed since init; a head may be split at any
 * byte. Returns:
 *   UVFIB__STRICT_MORE  all len bytes belong to the head, which goes on; *consumed = len.
 *   UVFIB__STRICT_DONE  the head ended; *consumed = bytes of data that belong to it. Bytes
 *                       after them (body, next request) are not scanned.
 *   UVFIB__STRICT_ERROR a rule is broken; *consumed = offset in data of the offending byte,
 *                       uvfib__strict_reason() says which rule.
 * Once DONE or ERROR, later calls return the same result with *consumed = 0 until init.
 * data may be NULL when len is 0. Any thread; no allocation, no size limit. */
int uvfib__strict_feed(uvfib__strict_t *s, const char *data, size_t len, size_t *consumed);

/* Whether s is an HTTP token (RFC 9110 §5.6.2), by the rule the head is checked with: a method,
 * a field name. */
bool uvfib__strict_token(const char *s);

/* Whether s may be a field value (RFC 9110 §5.5), by the same rule: no control character but
 * a tab (so no CR or LF), no DEL. */
bool uvfib__strict_field_value(const char *s);

/* Whether the request line has been checked whole and found well-formed (the check is in the
 * header fields now, or done). */
bool uvfib__strict_line_done(const uvfib__strict_t *s);

/* A short static English message ("bare CR in header") once feed returned ERROR, else NULL. */
const char *uvfib__strict_reason(const uvfib__strict_t *s);

#endif /* UVFIB_STRICT_H */
