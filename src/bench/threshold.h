/* threshold.h - pass/fail criteria for CI runs (--threshold "p99<5ms"), as k6's thresholds:
 * the grammar, parsing one expression, and judging it against one workload's numbers.
 * Pure: no libuv, no allocation; the expression text is borrowed. */
#ifndef UVFIB_BENCH_THRESHOLD_H
#define UVFIB_BENCH_THRESHOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hist.h"

/* Grammar (blanks allowed between the parts):
 *
 *   threshold := [ "probe." | "load." ] metric op number [ unit ]
 *   metric    := "p" PCT | "p(" PCT ")" | "min" | "max" | "mean" | "avg" | "stddev"
 *              | "errors" | "error_rate" | "rps" | "requests"
 *   op        := "<" | "<=" | ">" | ">=" | "==" | "!="
 *   unit      := latency metrics: "us" | "µs" | "μs" | "ms" | "s", none = ms (as k6)
 *                error_rate: "%", none = a fraction (0.01 == 1%)
 *                errors, rps, requests: none
 *
 * PCT is a decimal in [0, 100] ("99", "99.9", "99_9" as in the JSON keys). Latency is the
 * probe's corrected latency (from the intended send), or the load's latency from the send.
 * errors counts error statuses (>= 400) and failures; error_rate divides it by requests plus
 * failures (connect, read, parse, timeout); rps is complete responses per measured second. */

typedef enum uvfib__bench_thr_metric {
    UVFIB__BENCH_THR_PCT,         /* latency percentile `pct`, ms */
    UVFIB__BENCH_THR_MIN,         /* latency, ms */
    UVFIB__BENCH_THR_MAX,         /* latency, ms */
    UVFIB__BENCH_THR_MEAN,        /* latency, ms */
    UVFIB__BENCH_THR_STDDEV,      /* latency, ms */
    UVFIB__BENCH_THR_ERRORS,      /* count */
    UVFIB__BENCH_THR_ERROR_RATE,  /* fraction, 0 to 1 */
    UVFIB__BENCH_THR_RPS,         /* responses per second */
    UVFIB__BENCH_THR_REQUESTS,    /* count of complete responses */
} uvfib__bench_thr_metric_t;

typedef enum uvfib__bench_thr_op {
    UVFIB__BENCH_THR_LT,
    UVFIB__BENCH_THR_LE,
    UVFIB__BENCH_THR_GT,
    UVFIB__BENCH_THR_GE,
    UVFIB__BENCH_THR_EQ,
    UVFIB__BENCH_THR_NE,
} uvfib__bench_thr_op_t;

/* One parsed expression. */
typedef struct uvfib__bench_threshold {
    const char *expr;                  /* borrowed: the text as given */
    bool on_load;                      /* "load." prefix; otherwise the probe */
    uvfib__bench_thr_metric_t metric;  /* what is compared */
    double pct;                        /* UVFIB__BENCH_THR_PCT: the percentile, 0 to 100 */
    uvfib__bench_thr_op_t op;          /* how */
    double bound;                      /* with what, in the metric's unit (ms, fraction, ...) */
} uvfib__bench_threshold_t;

/* Parses expr into t. Returns 0, or -1 with a reason in why (NUL-terminated, at most
 * why_size bytes). */
int uvfib__bench_threshold_parse(const char *expr, uvfib__bench_threshold_t *t, char *why,
                                 size_t why_size);

/* What a threshold is judged against: one workload's numbers over the measured window. */
typedef struct uvfib__bench_thr_subject {
    const uvfib__hist_t *latency_ns;   /* borrowed; ns */
    uint64_t requests;                 /* complete responses, any status */
    uint64_t errors;                   /* status >= 400 plus failures */
    uint64_t failures;                 /* connect, read, parse and timeout errors */
    double window_s;                   /* seconds measured */
} uvfib__bench_thr_subject_t;

/* The judgement of one threshold. */
typedef struct uvfib__bench_thr_verdict {
    bool held;          /* the comparison is true */
    bool known;         /* the metric had a value; if not, held is false and why says why */
    double value;       /* the metric's value, in the metric's unit (NaN if unknown) */
    char why[96];       /* when !known: e.g. "too few samples (120, p99.9 needs 1000)" */
} uvfib__bench_thr_verdict_t;

/* Judges t against s. A metric without a value (no responses; a percentile refused by
 * stats.h's rule; a rate over no attempts) fails: a gate must not pass on missing data. */
uvfib__bench_thr_verdict_t uvfib__bench_threshold_eval(const uvfib__bench_threshold_t *t,
                                                       const uvfib__bench_thr_subject_t *s);

/* The metric's unit as printed beside values: "ms", "" or "%" (error_rate values are then
 * multiplied by 100 by uvfib__bench_threshold_display). */
const char *uvfib__bench_threshold_unit(const uvfib__bench_threshold_t *t);

/* A value in the unit uvfib__bench_threshold_unit names. */
double uvfib__bench_threshold_display(const uvfib__bench_threshold_t *t, double value);

#endif /* UVFIB_BENCH_THRESHOLD_H */
