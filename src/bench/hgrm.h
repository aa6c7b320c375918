/* hgrm.h - HdrHistogram's percentile distribution of a uvfib histogram: the walk that picks
 * its rows, and the ".hgrm" text (Value, Percentile, TotalCount, 1/(1-Percentile) and the
 * #[Mean..], #[Max..], #[Buckets..] footer) that HdrHistogram's plotter and wrk2 users read.
 * Pure: no libuv, no allocation. */
#ifndef UVFIB_BENCH_HGRM_H
#define UVFIB_BENCH_HGRM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "hist.h"

/* HdrHistogram's default resolution of the walk: rows per halving of the distance to 100%. */
#define UVFIB__BENCH_HGRM_TICKS 5

/* One row of the distribution. */
typedef struct uvfib__bench_hgrm_row {
    uint64_t value;       /* the highest value of the bucket the percentile falls in, clamped to
                             the exact maximum; value units (ns) */
    double percentile;    /* the level reached, 0 to 100 */
    uint64_t total;       /* values at or below `value`'s bucket */
    bool last;            /* the closing 100% row (its 1/(1-p) is infinite) */
} uvfib__bench_hgrm_row_t;

/* Calls row_cb for each row in order: percentile levels 0, then closer and closer to 100
 * (ticks_per_half rows per halving of the distance), each reported at the first bucket whose
 * cumulative count reaches it, one row when the last bucket is reached, and a final row at
 * 100% with the maximum. An empty histogram has no rows. Returns the number of rows. */
uint64_t uvfib__bench_hgrm_walk(const uvfib__hist_t *h, unsigned ticks_per_half,
                                void (*row_cb)(const uvfib__bench_hgrm_row_t *row, void *arg),
                                void *arg);

/* Writes the distribution as HdrHistogram's classic text, values divided by unit_ns (1e6:
 * milliseconds, as wrk2 prints them) with 3 decimals. Returns 0, or -1 if writing failed. */
int uvfib__bench_hgrm_write(FILE *out, const uvfib__hist_t *h, double unit_ns);

#endif /* UVFIB_BENCH_HGRM_H */
