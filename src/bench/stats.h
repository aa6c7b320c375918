/* stats.h - what uvfib-bench reports of a set of numbers: a latency histogram's summary in
 * milliseconds, or a few per-second samples' mean, spread and percentiles, with the one rule
 * that refuses a percentile too few samples stand behind. Pure: no libuv, no allocation. */
#ifndef UVFIB_BENCH_STATS_H
#define UVFIB_BENCH_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hist.h"

/* The percentiles a summary holds: autocannon's set (its JSON keys are
 * uvfib__bench_pct_keys), which includes every one uvfib-bench printed before. */
#define UVFIB__BENCH_N_PCTS 15
extern const double uvfib__bench_pcts[UVFIB__BENCH_N_PCTS];           /* ascending, in (0, 100) */
extern const char *const uvfib__bench_pct_keys[UVFIB__BENCH_N_PCTS];  /* "p0_001" .. "p99_999" */

/* Index of a percentile in uvfib__bench_pcts, or -1 when it is not one of them. */
int uvfib__bench_pct_index(double pct);

/* The too-few-samples rule. Percentile pct of n samples is reported only when at least one
 * whole sample lies beyond it on its side of the median: n * (100 - pct) / 100 >= 1 for
 * pct >= 50, n * pct / 100 >= 1 below. Otherwise the "percentile" would only repeat the
 * largest (or smallest) sample: p99.9 of 200 samples is their maximum under another name.
 * So p50 needs 2 samples, p90 10, p99 100, p99.9 1000; p0 and p100 (min, max) need one. */
bool uvfib__bench_pct_ok(uint64_t n, double pct);

/* The smallest n for which uvfib__bench_pct_ok(n, pct) holds. */
uint64_t uvfib__bench_pct_min_samples(double pct);

/* A histogram of nanoseconds summed up in milliseconds. Every double is NaN when there is
 * nothing to report: all of them when count is 0, a percentile when the rule refuses it. */
typedef struct uvfib__bench_summary {
    uint64_t count;                     /* values in the histogram */
    double mean;                        /* ms, exact */
    double stddev;                      /* ms, population standard deviation, exact */
    double min;                         /* ms, exact */
    double max;                         /* ms, exact */
    double pct[UVFIB__BENCH_N_PCTS];    /* ms, within 1/256 (hist.h), per uvfib__bench_pcts */
} uvfib__bench_summary_t;

/* Summarises a histogram of nanoseconds. */
uvfib__bench_summary_t uvfib__bench_summarize(const uvfib__hist_t *h);

/* Percentile pct of a summary (NaN if refused or not in uvfib__bench_pcts). */
double uvfib__bench_summary_pct(const uvfib__bench_summary_t *s, double pct);

/* The same summary of n plain samples (e.g. responses in each second), exact: percentiles
 * by nearest rank over the sorted samples. Sorts x in place. */
uvfib__bench_summary_t uvfib__bench_summarize_samples(double *x, size_t n);

/* Percentile pct (nearest rank, any pct in [0, 100]) of a histogram of nanoseconds, in ms,
 * or NaN when it is empty or the rule refuses pct. */
double uvfib__bench_hist_pct_ms(const uvfib__hist_t *h, double pct);

#endif /* UVFIB_BENCH_STATS_H */
