/* prom.c - growable text buffer and Prometheus text-format (0.0.4) writer. It only builds
 * text: which metrics exist and when they are rendered is metrics.c's business. */
#include "prom.h"

#include "alloc.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------
 * Buffer
 * ------------------------------------------------------------------------------------------ */

/* Every allocation of this file goes through these two: the library's allocator, so that a
 * buffer handed to a caller (uvfib_server_metrics) is freed with uvfib_free() and the tests'
 * live-allocation counter sees it. */
static void *buf_mem_realloc(void *ptr, size_t size)
{
    return uvfib__realloc(ptr, size);
}

static void buf_mem_free(void *ptr)
{
    uvfib__free(ptr);
}

void uvfib__buf_init(uvfib__buf_t *buf)
{
    memset(buf, 0, sizeof(*buf));
}

void uvfib__buf_free(uvfib__buf_t *buf)
{
    buf_mem_free(buf->data);
    memset(buf, 0, sizeof(*buf));
}

/* Makes room for `extra` more bytes plus the trailing NUL. Returns 0, or -1 with oom set. */
static int buf_reserve(uvfib__buf_t *buf, size_t extra)
{
    if (buf->oom)
        return -1;
    if (extra > SIZE_MAX - 1 - buf->len) {
        buf->oom = 1;
        return -1;
    }
    size_t need = buf->len + extra + 1;
    if (need <= buf->cap)
        return 0;
    size_t cap = buf->cap ? buf->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : 2 * cap;
    char *data = buf_mem_realloc(buf->data, cap);
    if (data == NULL) {
        buf->oom = 1;   /* the old data stays valid and owned: uvfib__buf_free() frees it */
        return -1;
    }
    buf->data = data;
    buf->cap = cap;
    return 0;
}

void uvfib__buf_append(uvfib__buf_t *buf, const char *s, size_t n)
{
    if (buf_reserve(buf, n) != 0)
        return;
    if (n != 0)
        memcpy(buf->data + buf->len, s, n);
    buf->len += n;
    buf->data[buf->len] = '\0';
}

static void buf_puts(uvfib__buf_t *buf, const char *s)
{
    uvfib__buf_append(buf, s, strlen(s));
}

void uvfib__buf_printf(uvfib__buf_t *buf, const char *fmt, ...)
{
    if (buf->oom)
        return;
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    /* First try the room we have; only when the text does not fit, grow to its exact size
     * and format a second time. data is NULL before the first allocation, and NULL + 0 is
     * not a pointer C lets us compute, hence the test. */
    size_t room = buf->cap - buf->len;
    int n = vsnprintf(buf->data ? buf->data + buf->len : NULL, room, fmt, ap);
    if (n >= 0 && (size_t)n < room) {
        buf->len += (size_t)n;
    } else if (n >= 0 && buf_reserve(buf, (size_t)n) == 0) {
        vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, again);
        buf->len += (size_t)n;
    } else {
        /* Whatever the failed attempt left past len is cut off again. */
        buf->oom = 1;
        if (buf->data != NULL)
            buf->data[buf->len] = '\0';
    }
    va_end(again);
    va_end(ap);
}

/* ------------------------------------------------------------------------------------------
 * Numbers and escaping
 * ------------------------------------------------------------------------------------------ */

#define NUM_LEN 32   /* "-1.2345678901234567e-308" and "-9007199254740992" fit */

/* Formats a sample value the way Prometheus reads it back: integers (up to 2^53, where
 * every integer is exact) without exponent or fraction, others round-trippable with the
 * fewest digits from 15 up (0.1 stays "0.1", not "0.10000000000000001"). */
static void format_value(char out[NUM_LEN], double v)
{
    if (isnan(v)) {
        strcpy(out, "NaN");
    } else if (isinf(v)) {
        strcpy(out, v > 0 ? "+Inf" : "-Inf");
    } else if (v == 0.0) {
        strcpy(out, "0");   /* also for -0.0, which "%.0f" would print as "-0" */
    } else if (v == trunc(v) && fabs(v) <= 9007199254740992.0) {
        snprintf(out, NUM_LEN, "%.0f", v);
    } else {
        for (int digits = 15; digits <= 17; digits++) {
            snprintf(out, NUM_LEN, "%.*g", digits, v);
            if (strtod(out, NULL) == v)
                break;
        }
    }
}

/* Appends s with each byte in `special` replaced by a backslash and its letter: the text
 * format escapes \ and newline in HELP, and \, " and newline in label values. */
static void append_escaped(uvfib__buf_t *buf, const char *s, const char *special)
{
    const char *run = s;
    for (; *s != '\0'; s++) {
        if (strchr(special, *s) == NULL)
            continue;
        uvfib__buf_append(buf, run, (size_t)(s - run));
        uvfib__buf_append(buf, *s == '\n' ? "\\n" : *s == '"' ? "\\\"" : "\\\\", 2);
        run = s + 1;
    }
    uvfib__buf_append(buf, run, (size_t)(s - run));
}

void uvfib__prom_label_escape(uvfib__buf_t *buf, const char *value)
{
    append_escaped(buf, value, "\\\"\n");
}

/* ------------------------------------------------------------------------------------------
 * Exposition
 * ------------------------------------------------------------------------------------------ */

void uvfib__prom_header(uvfib__buf_t *buf, const char *name, const char *type, const char *help)
{
    if (help != NULL) {
        uvfib__buf_printf(buf, "# HELP %s ", name);
        append_escaped(buf, help, "\\\n");
        buf_puts(buf, "\n");
    }
    uvfib__buf_printf(buf, "# TYPE %s %s\n", name, type);
}

void uvfib__prom_sample(uvfib__buf_t *buf, const char *name, const char *labels, double value)
{
    char num[NUM_LEN];
    format_value(num, value);
    if (labels != NULL && labels[0] != '\0')
        uvfib__buf_printf(buf, "%s{%s} %s\n", name, labels, num);
    else
        uvfib__buf_printf(buf, "%s %s\n", name, num);
}

/* One line of a histogram: name + suffix, the caller's labels plus an optional le label,
 * and an exact integer or preformatted value. */
static void hist_line(uvfib__buf_t *buf, const char *name, const char *suffix,
                      const char *labels, const char *le, const char *value)
{
    bool has_labels = labels != NULL && labels[0] != '\0';
    uvfib__buf_printf(buf, "%s%s", name, suffix);
    if (has_labels || le != NULL) {
        uvfib__buf_printf(buf, "{%s%s", has_labels ? labels : "", has_labels && le ? "," : "");
        if (le != NULL)
            uvfib__buf_printf(buf, "le=\"%s\"", le);
        buf_puts(buf, "}");
    }
    uvfib__buf_printf(buf, " %s\n", value);
}

/* count_le at a bound given in seconds. Rounding to the nearest nanosecond, rather than
 * truncating, keeps a bound like 0.00013 s (129999.99999999999 ns after the
 * multiplication) from losing the values at exactly 130 us. */
static uint64_t count_le_seconds(const uvfib__hist_t *h_ns, double bound_s)
{
    double ns = nearbyint(bound_s * 1e9);
    if (ns < 0.0)
        return 0;
    if (ns >= 18446744073709551616.0)   /* 2^64: beyond every value */
        return uvfib__hist_count(h_ns);
    return uvfib__hist_count_le(h_ns, (uint64_t)ns);
}

void uvfib__prom_hist_seconds(uvfib__buf_t *buf, const char *name, const char *labels,
                              const uvfib__hist_t *h_ns, const double *bounds_s, size_t n_bounds)
{
    char le[NUM_LEN], num[NUM_LEN];
    for (size_t i = 0; i < n_bounds; i++) {
        assert(isfinite(bounds_s[i]));
        assert(i == 0 || bounds_s[i] > bounds_s[i - 1]);
        format_value(le, bounds_s[i]);
        snprintf(num, sizeof(num), "%" PRIu64, count_le_seconds(h_ns, bounds_s[i]));
        hist_line(buf, name, "_bucket", labels, le, num);
    }
    snprintf(num, sizeof(num), "%" PRIu64, uvfib__hist_count(h_ns));
    hist_line(buf, name, "_bucket", labels, "+Inf", num);
    char sum[NUM_LEN];
    format_value(sum, uvfib__hist_sum(h_ns) / 1e9);
    hist_line(buf, name, "_sum", labels, NULL, sum);
    hist_line(buf, name, "_count", labels, NULL, num);
}
