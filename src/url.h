/* url.h - the pieces of a request target: percent-decoding, and the query string with its
 * parameters (application/x-www-form-urlencoded). Pure: no loop, no allocation. */
#ifndef UVFIB_URL_H
#define UVFIB_URL_H

#include <stddef.h>

/* Decodes %XX escapes of src[0..len) into dst (room for len + 1), NUL-terminated. Rejects
 * malformed escapes and NUL bytes. @return the decoded length, or -1. */
long uvfib__percent_decode(const char *src, size_t len, char *dst);

/* The query of target[0..len): the bytes after the first '?' up to a '#' or the end.
 * @return a pointer into target (never NULL: "" when there is none), its length in *qlen. */
const char *uvfib__url_query(const char *target, size_t len, size_t *qlen);

/* Looks for parameter `name` in query[0..len) ("a=1&b=x+y&c": '&' separates, '+' is a space,
 * %XX escapes in names and values, a parameter without '=' has the value ""); the first one
 * wins. Decodes its value into dst, which needs room for len + 1 bytes.
 * @return the value's length, -1 when there is no such parameter, -2 when its value is
 * malformed (a bad escape or a NUL byte). A pair whose name is malformed is skipped. */
long uvfib__url_query_param(const char *query, size_t len, const char *name, char *dst);

#endif /* UVFIB_URL_H */
