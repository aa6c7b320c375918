/* threshold.c - parses and judges --threshold expressions (grammar in threshold.h). */
#include "threshold.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

/* Named metrics; percentiles ("p99", "p(99.9)") are recognised apart. */
static const struct {
    const char *name;
    uvfib__bench_thr_metric_t metric;
} metric_names[] = {
    {"min", UVFIB__BENCH_THR_MIN},
    {"max", UVFIB__BENCH_THR_MAX},
    {"mean", UVFIB__BENCH_THR_MEAN},
    {"avg", UVFIB__BENCH_THR_MEAN},
    {"stddev", UVFIB__BENCH_THR_STDDEV},
    {"errors", UVFIB__BENCH_THR_ERRORS},
    {"error_rate", UVFIB__BENCH_THR_ERROR_RATE},
    {"rps", UVFIB__BENCH_THR_RPS},
    {"requests", UVFIB__BENCH_THR_REQUESTS},
};

/* Operators, two-character ones first so "<=" is not read as "<". */
static const struct {
    const char *text;
    uvfib__bench_thr_op_t op;
} op_names[] = {
    {"<=", UVFIB__BENCH_THR_LE}, {">=", UVFIB__BENCH_THR_GE}, {"==", UVFIB__BENCH_THR_EQ},
    {"!=", UVFIB__BENCH_THR_NE}, {"<", UVFIB__BENCH_THR_LT},  {">", UVFIB__BENCH_THR_GT},
};

/* Latency units and their size in milliseconds. Both micro signs are accepted: U+00B5
 * (what most keyboards type) and U+03BC (Greek mu). */
static const struct {
    const char *text;
    double ms;
} latency_units[] = {
    {"", 1.0}, {"ms", 1.0}, {"s", 1000.0}, {"us", 1e-3}, {"\xc2\xb5s", 1e-3}, {"\xce\xbcs", 1e-3},
};

static bool is_latency(uvfib__bench_thr_metric_t m)
{
    return m <= UVFIB__BENCH_THR_STDDEV;
}

static const char *skip_blanks(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

static int fail(char *why, size_t why_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
    return -1;
}

/* Reads a plain decimal "12", "12.5", ".5" (no sign, no exponent, no hex: strtod alone
 * would take "0x1p3" or "inf") into *out; '_' may stand for the point when underscore_ok.
 * Returns the end, or NULL when there is no number. */
static const char *read_decimal(const char *s, bool underscore_ok, double *out)
{
    char buf[64];
    size_t n = 0;
    bool digits = false, point = false;
    for (; n + 1 < sizeof buf; s++) {
        if (*s >= '0' && *s <= '9') {
            digits = true;
            buf[n++] = *s;
        } else if (!point && (*s == '.' || (underscore_ok && *s == '_'))) {
            point = true;
            buf[n++] = '.';
        } else {
            break;
        }
    }
    if (!digits || (*s >= '0' && *s <= '9'))
        return NULL;
    buf[n] = '\0';
    *out = strtod(buf, NULL);
    return s;
}

/* Reads the metric at s into t. Returns the end, or NULL (reason in why). */
static const char *read_metric(const char *s, uvfib__bench_threshold_t *t, char *why,
                               size_t why_size)
{
    if (s[0] == 'p' && ((s[1] >= '0' && s[1] <= '9') || s[1] == '(')) {
        bool paren = s[1] == '(';
        const char *end = read_decimal(s + 1 + paren, true, &t->pct);
        if (end == NULL || (paren && *end++ != ')')) {
            fail(why, why_size, "a percentile is p99, p99.9 or p(99.9)");
            return NULL;
        }
        if (t->pct > 100.0) {
            fail(why, why_size, "percentile %g is above 100", t->pct);
            return NULL;
        }
        t->metric = UVFIB__BENCH_THR_PCT;
        return end;
    }
    size_t len = strspn(s, "abcdefghijklmnopqrstuvwxyz_");
    for (size_t i = 0; i < sizeof metric_names / sizeof metric_names[0]; i++) {
        if (strlen(metric_names[i].name) == len && strncmp(s, metric_names[i].name, len) == 0) {
            t->metric = metric_names[i].metric;
            return s + len;
        }
    }
    fail(why, why_size, "unknown metric '%.*s' (p<N>, min, max, mean, stddev, errors, "
                        "error_rate, rps, requests)", (int)(len ? len : strcspn(s, "<>=! ")), s);
    return NULL;
}

/* Converts the number and its unit into the metric's unit. Returns 0 or -1 (why). */
static int apply_unit(uvfib__bench_threshold_t *t, double number, const char *unit,
                      char *why, size_t why_size)
{
    if (is_latency(t->metric)) {
        for (size_t i = 0; i < sizeof latency_units / sizeof latency_units[0]; i++) {
            if (strcmp(unit, latency_units[i].text) == 0) {
                t->bound = number * latency_units[i].ms;
                return 0;
            }
        }
        return fail(why, why_size, "unknown latency unit '%s' (us, ms, s; none means ms)",
                    unit);
    }
    if (t->metric == UVFIB__BENCH_THR_ERROR_RATE) {
        if (strcmp(unit, "%") == 0) {
            t->bound = number / 100.0;
            return 0;
        }
        if (unit[0] == '\0') {
            t->bound = number;
            return 0;
        }
        return fail(why, why_size, "error_rate takes a fraction or a percentage, not '%s'",
                    unit);
    }
    if (unit[0] != '\0')
        return fail(why, why_size, "this metric is a plain number: no unit '%s'", unit);
    t->bound = number;
    return 0;
}

int uvfib__bench_threshold_parse(const char *expr, uvfib__bench_threshold_t *t, char *why,
                                 size_t why_size)
{
    memset(t, 0, sizeof *t);
    t->expr = expr;
    const char *s = skip_blanks(expr);
    if (strncmp(s, "load.", 5) == 0) {
        t->on_load = true;
        s += 5;
    } else if (strncmp(s, "probe.", 6) == 0) {
        s += 6;
    }
    s = read_metric(s, t, why, why_size);
    if (s == NULL)
        return -1;

    s = skip_blanks(s);
    size_t i = 0;
    size_t n_ops = sizeof op_names / sizeof op_names[0];
    while (i < n_ops && strncmp(s, op_names[i].text, strlen(op_names[i].text)) != 0)
        i++;
    if (i == n_ops)
        return fail(why, why_size, "expected an operator (<, <=, >, >=, ==, !=) at '%s'", s);
    t->op = op_names[i].op;
    s = skip_blanks(s + strlen(op_names[i].text));

    double number;
    const char *end = read_decimal(s, false, &number);
    if (end == NULL)
        return fail(why, why_size, "expected a plain number at '%s'", s);
    s = skip_blanks(end);
    char unit[16];
    size_t unit_len = strcspn(s, " \t");
    if (unit_len >= sizeof unit)
        return fail(why, why_size, "unknown unit '%s'", s);
    memcpy(unit, s, unit_len);
    unit[unit_len] = '\0';
    if (*skip_blanks(s + unit_len) != '\0')
        return fail(why, why_size, "unexpected '%s' after the unit", skip_blanks(s + unit_len));
    return apply_unit(t, number, unit, why, why_size);
}

/* ------------------------------------------------------------------------------------------
 * Judging
 * ------------------------------------------------------------------------------------------ */

static bool compare(double v, uvfib__bench_thr_op_t op, double bound)
{
    switch (op) {
    case UVFIB__BENCH_THR_LT:
        return v < bound;
    case UVFIB__BENCH_THR_LE:
        return v <= bound;
    case UVFIB__BENCH_THR_GT:
        return v > bound;
    case UVFIB__BENCH_THR_GE:
        return v >= bound;
    case UVFIB__BENCH_THR_EQ:
        return v == bound;
    case UVFIB__BENCH_THR_NE:
        return v != bound;
    }
    return false;
}

/* The metric's value, or NaN with the reason in v->why. */
static double metric_value(const uvfib__bench_threshold_t *t, const uvfib__bench_thr_subject_t *s,
                           uvfib__bench_thr_verdict_t *v)
{
    uint64_t n = uvfib__hist_count(s->latency_ns);
    if (is_latency(t->metric) && n == 0) {
        snprintf(v->why, sizeof v->why, "no responses");
        return NAN;
    }
    switch (t->metric) {
    case UVFIB__BENCH_THR_PCT:
        if (!uvfib__bench_pct_ok(n, t->pct)) {
            snprintf(v->why, sizeof v->why, "too few samples (%llu; p%g needs %llu)",
                     (unsigned long long)n, t->pct,
                     (unsigned long long)uvfib__bench_pct_min_samples(t->pct));
            return NAN;
        }
        return uvfib__bench_hist_pct_ms(s->latency_ns, t->pct);
    case UVFIB__BENCH_THR_MIN:
        return (double)uvfib__hist_min(s->latency_ns) / 1e6;
    case UVFIB__BENCH_THR_MAX:
        return (double)uvfib__hist_max(s->latency_ns) / 1e6;
    case UVFIB__BENCH_THR_MEAN:
        return uvfib__hist_mean(s->latency_ns) / 1e6;
    case UVFIB__BENCH_THR_STDDEV:
        return uvfib__hist_stddev(s->latency_ns) / 1e6;
    case UVFIB__BENCH_THR_ERRORS:
        return (double)s->errors;
    case UVFIB__BENCH_THR_ERROR_RATE:
        if (s->requests + s->failures == 0) {
            snprintf(v->why, sizeof v->why, "no requests");
            return NAN;
        }
        return (double)s->errors / (double)(s->requests + s->failures);
    case UVFIB__BENCH_THR_RPS:
        if (!(s->window_s > 0.0)) {
            snprintf(v->why, sizeof v->why, "nothing measured");
            return NAN;
        }
        return (double)s->requests / s->window_s;
    case UVFIB__BENCH_THR_REQUESTS:
        return (double)s->requests;
    }
    return NAN;
}

uvfib__bench_thr_verdict_t uvfib__bench_threshold_eval(const uvfib__bench_threshold_t *t,
                                                       const uvfib__bench_thr_subject_t *s)
{
    uvfib__bench_thr_verdict_t v;
    memset(&v, 0, sizeof v);
    v.value = metric_value(t, s, &v);
    v.known = !isnan(v.value);
    v.held = v.known && compare(v.value, t->op, t->bound);
    return v;
}

const char *uvfib__bench_threshold_unit(const uvfib__bench_threshold_t *t)
{
    if (is_latency(t->metric))
        return "ms";
    return t->metric == UVFIB__BENCH_THR_ERROR_RATE ? "%" : "";
}

double uvfib__bench_threshold_display(const uvfib__bench_threshold_t *t, double value)
{
    return t->metric == UVFIB__BENCH_THR_ERROR_RATE ? value * 100.0 : value;
}
