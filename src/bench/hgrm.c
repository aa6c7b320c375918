/* hgrm.c - the percentile walk over a histogram and its ".hgrm" text (see hgrm.h). It reads
 * the histogram only through hist.h's functions, one bucket at a time. */
#include "hgrm.h"

#include <inttypes.h>
#include <math.h>

/* The level after `level`: HdrHistogram's rule, ticks_per_half levels for every halving of
 * the distance to 100 (with 5: 0, 10 .. 50, then 55 .. 75, then 77.5 .. 87.5, ...). */
static double next_level(double level, unsigned ticks_per_half)
{
    double halvings = floor(log2(100.0 / (100.0 - level))) + 1.0;
    return level + 100.0 / ((double)ticks_per_half * exp2(halvings));
}

uint64_t uvfib__bench_hgrm_walk(const uvfib__hist_t *h, unsigned ticks_per_half,
                                void (*row_cb)(const uvfib__bench_hgrm_row_t *row, void *arg),
                                void *arg)
{
    uint64_t total = uvfib__hist_count(h);
    if (total == 0)
        return 0;
    if (ticks_per_half == 0)
        ticks_per_half = 1;
    uint64_t max = uvfib__hist_max(h);
    uint64_t n_rows = 0;
    double level = 0.0;
    uint64_t below = 0;   /* values in the buckets already walked */

    /* Bucket by bucket from the minimum's: count_le at a bucket's highest value is exact. */
    for (uint64_t lo = uvfib__hist_lowest_equivalent(uvfib__hist_min(h));;) {
        uint64_t hi = uvfib__hist_highest_equivalent(lo);
        uint64_t cum = uvfib__hist_count_le(h, hi);
        bool at_end = cum >= total || hi >= UVFIB__HIST_HIGHEST_TRACKABLE;
        if (cum > below) {
            double reached = 100.0 * (double)cum / (double)total;
            /* Every level this bucket reaches gets a row; the last bucket gets one only. */
            while (at_end || level <= reached) {
                uvfib__bench_hgrm_row_t row = {
                    .value = hi < max ? hi : max,
                    .percentile = level,
                    .total = cum,
                    .last = false,
                };
                row_cb(&row, arg);
                n_rows++;
                level = next_level(level, ticks_per_half);
                if (at_end || level >= 100.0)
                    break;
            }
        }
        below = cum;
        if (at_end)
            break;
        lo = hi + 1;
    }
    uvfib__bench_hgrm_row_t last = {.value = max, .percentile = 100.0, .total = total,
                                    .last = true};
    row_cb(&last, arg);
    return n_rows + 1;
}

/* ------------------------------------------------------------------------------------------
 * Text
 * ------------------------------------------------------------------------------------------ */

struct text_ctx {
    FILE *out;        /* borrowed */
    double unit_ns;   /* divisor of every value */
};

static void write_row(const uvfib__bench_hgrm_row_t *row, void *arg)
{
    const struct text_ctx *ctx = arg;
    double value = (double)row->value / ctx->unit_ns;
    double fraction = row->percentile / 100.0;
    if (row->last)
        fprintf(ctx->out, "%12.3f %2.12f %10" PRIu64 "\n", value, fraction, row->total);
    else
        fprintf(ctx->out, "%12.3f %2.12f %10" PRIu64 " %14.2f\n", value, fraction, row->total,
                1.0 / (1.0 - fraction));
}

int uvfib__bench_hgrm_write(FILE *out, const uvfib__hist_t *h, double unit_ns)
{
    struct text_ctx ctx = {.out = out, .unit_ns = unit_ns > 0.0 ? unit_ns : 1.0};
    fprintf(out, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount",
            "1/(1-Percentile)");
    uvfib__bench_hgrm_walk(h, UVFIB__BENCH_HGRM_TICKS, write_row, &ctx);
    /* HdrHistogram's layout parameters for ours: 2^(SUB_BITS + 1) sub-buckets, and as many
     * buckets as doublings from there to the highest trackable value. */
    fprintf(out, "#[Mean    = %12.3f, StdDeviation   = %12.3f]\n",
            uvfib__hist_mean(h) / ctx.unit_ns, uvfib__hist_stddev(h) / ctx.unit_ns);
    fprintf(out, "#[Max     = %12.3f, Total count    = %12" PRIu64 "]\n",
            (double)uvfib__hist_max(h) / ctx.unit_ns, uvfib__hist_count(h));
    fprintf(out, "#[Buckets = %12d, SubBuckets     = %12d]\n",
            UVFIB__HIST_TOP_BITS - UVFIB__HIST_SUB_BITS, 1 << (UVFIB__HIST_SUB_BITS + 1));
    return ferror(out) ? -1 : 0;
}
