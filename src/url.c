/* url.c - see url.h. */
#include "url.h"

#include <string.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes src[0..len) into dst; with plus_is_space, '+' becomes ' ' (form encoding). */
static long decode(const char *src, size_t len, char *dst, int plus_is_space)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1; /* the escape runs off the end */
            int hi = hexval(src[i + 1]), lo = hexval(src[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (c == '\0')
            return -1;
        dst[o++] = c;
    }
    dst[o] = '\0';
    return (long)o;
}

long uvfib__percent_decode(const char *src, size_t len, char *dst)
{
    return decode(src, len, dst, 0);
}

const char *uvfib__url_query(const char *target, size_t len, size_t *qlen)
{
    const char *q = memchr(target, '?', len);
    if (q == NULL) {
        *qlen = 0;
        return "";
    }
    q++;
    size_t rest = len - (size_t)(q - target);
    const char *hash = memchr(q, '#', rest);
    *qlen = hash != NULL ? (size_t)(hash - q) : rest;
    return q;
}

long uvfib__url_query_param(const char *query, size_t len, const char *name, char *dst)
{
    const char *p = query, *end = query + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pair_end = amp != NULL ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pair_end - p));
        const char *name_end = eq != NULL ? eq : pair_end;
        /* A name that does not decode is no name asked for: the pairs after it still count. */
        if (name_end > p && decode(p, (size_t)(name_end - p), dst, 1) >= 0 &&
            strcmp(dst, name) == 0) {
            if (eq == NULL) {
                dst[0] = '\0';
                return 0;
            }
            long v = decode(eq + 1, (size_t)(pair_end - eq - 1), dst, 1);
            return v < 0 ? -2 : v;
        }
        p = pair_end + 1;
    }
    return -1;
}
