/* promtext.c - finds the known server gauges in a Prometheus text exposition (promtext.h).
 * A reader of sample lines, not a validator: whatever it cannot read it skips. */
#include "promtext.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

const char *const uvfib__bench_server_metric_names[UVFIB__BENCH_N_SERVER_METRICS] = {
    [UVFIB__BENCH_SM_UVFIB_LAG_MIN] = "uvfib_eventloop_lag_min_seconds",
    [UVFIB__BENCH_SM_UVFIB_LAG_MAX] = "uvfib_eventloop_lag_max_seconds",
    [UVFIB__BENCH_SM_UVFIB_LAG_MEAN] = "uvfib_eventloop_lag_mean_seconds",
    [UVFIB__BENCH_SM_UVFIB_LAG_STDDEV] = "uvfib_eventloop_lag_stddev_seconds",
    [UVFIB__BENCH_SM_UVFIB_LAG_P50] = "uvfib_eventloop_lag_p50_seconds",
    [UVFIB__BENCH_SM_UVFIB_LAG_P90] = "uvfib_eventloop_lag_p90_seconds",
    [UVFIB__BENCH_SM_UVFIB_LAG_P99] = "uvfib_eventloop_lag_p99_seconds",
    [UVFIB__BENCH_SM_UVFIB_LAG_P999] = "uvfib_eventloop_lag_p999_seconds",
    [UVFIB__BENCH_SM_UVFIB_ELU] = "uvfib_eventloop_utilization",
    [UVFIB__BENCH_SM_UVFIB_POOL_WAITING] = "uvfib_pool_waiting_jobs",
    [UVFIB__BENCH_SM_UVFIB_POOL_BUSY] = "uvfib_pool_busy_threads",
    [UVFIB__BENCH_SM_NODE_LAG] = "nodejs_eventloop_lag_seconds",
    [UVFIB__BENCH_SM_NODE_LAG_MIN] = "nodejs_eventloop_lag_min_seconds",
    [UVFIB__BENCH_SM_NODE_LAG_MAX] = "nodejs_eventloop_lag_max_seconds",
    [UVFIB__BENCH_SM_NODE_LAG_MEAN] = "nodejs_eventloop_lag_mean_seconds",
    [UVFIB__BENCH_SM_NODE_LAG_STDDEV] = "nodejs_eventloop_lag_stddev_seconds",
    [UVFIB__BENCH_SM_NODE_LAG_P50] = "nodejs_eventloop_lag_p50_seconds",
    [UVFIB__BENCH_SM_NODE_LAG_P90] = "nodejs_eventloop_lag_p90_seconds",
    [UVFIB__BENCH_SM_NODE_LAG_P99] = "nodejs_eventloop_lag_p99_seconds",
    [UVFIB__BENCH_SM_NODE_ELU] = "nodejs_eventloop_utilization",
};

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

static int known_index(const char *name, size_t len)
{
    for (int i = 0; i < UVFIB__BENCH_N_SERVER_METRICS; i++) {
        const char *known = uvfib__bench_server_metric_names[i];
        if (strlen(known) == len && memcmp(known, name, len) == 0)
            return i;
    }
    return -1;
}

/* Skips a {label="value",...} set starting at p (on the '{'); values are quoted strings in
 * which a backslash escapes the next byte, so a '}' inside one does not end the set.
 * Returns the position after the '}', or NULL if the line ends first. */
static const char *skip_labels(const char *p, const char *end)
{
    bool quoted = false;
    for (p++; p < end; p++) {
        if (quoted) {
            if (*p == '\\')
                p++;
            else if (*p == '"')
                quoted = false;
        } else if (*p == '"') {
            quoted = true;
        } else if (*p == '}') {
            return p + 1;
        }
    }
    return NULL;
}

/* Reads one sample line [p, end) into values when its name is known and still unset.
 * Returns true when it stored a value. */
static bool read_line(const char *p, const char *end, double *values)
{
    while (p < end && is_blank(*p))
        p++;
    if (p == end || *p == '#' || !is_name_char(*p, true))
        return false;
    const char *name = p;
    while (p < end && is_name_char(*p, false))
        p++;
    int idx = known_index(name, (size_t)(p - name));
    if (idx < 0 || !isnan(values[idx]))
        return false;
    if (p < end && *p == '{') {
        p = skip_labels(p, end);
        if (p == NULL)
            return false;
    }
    if (p == end || !is_blank(*p))
        return false;
    while (p < end && is_blank(*p))
        p++;
    /* The value: a float, or NaN, +Inf, -Inf; strtod reads all of them. Copy it out, since
     * the text is not NUL-terminated. */
    char buf[64];
    size_t n = 0;
    while (p + n < end && !is_blank(p[n]) && p[n] != '\r')
        n++;
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, p, n);
    buf[n] = '\0';
    char *stop = NULL;
    double v = strtod(buf, &stop);
    if (stop != buf + n || isnan(v))
        return false;
    values[idx] = v;
    return true;
}

size_t uvfib__bench_promtext_scan(const char *text, size_t len,
                                  double values[UVFIB__BENCH_N_SERVER_METRICS])
{
    for (int i = 0; i < UVFIB__BENCH_N_SERVER_METRICS; i++)
        values[i] = NAN;
    size_t found = 0;
    const char *end = text + len;
    for (const char *p = text; p < end;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        found += read_line(p, eol, values);
        p = eol + 1;
    }
    return found;
}
