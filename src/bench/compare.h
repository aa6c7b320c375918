/* compare.h - uvfib-bench --compare A.json B.json: the difference of each headline figure of
 * two runs, and whether it is beyond the runs' own second-to-second noise (Welch's t-test on
 * the timeline's per-second values, as autocannon-compare tests its means). Pure: reads two
 * files, writes text or JSON; no libuv. */
#ifndef UVFIB_BENCH_COMPARE_H
#define UVFIB_BENCH_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Two-sided p-value of Welch's t-test for the means of two samples given their means,
 * variances (n - 1 denominator) and sizes (each at least 2). 1 when both variances are 0 and
 * the means are equal, 0 when both are 0 and the means differ. */
double uvfib__bench_welch_p(double mean_a, double var_a, size_t n_a, double mean_b, double var_b,
                            size_t n_b);

/* Compares the reports at path_a (the baseline) and path_b, printing a table (or, with json,
 * one JSON object) to out and complaints to err. Returns 0, 1 when a file cannot be read or
 * memory ran out, 2 when a file is not a uvfib-bench --json report of format 1. */
int uvfib__bench_compare(const char *path_a, const char *path_b, bool json, FILE *out,
                         FILE *err);

#endif /* UVFIB_BENCH_COMPARE_H */
