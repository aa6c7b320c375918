/* stats.c - summaries of histograms and of per-second samples, and the too-few-samples rule
 * every percentile uvfib-bench prints goes through (see stats.h). */
#include "stats.h"

#include <math.h>
#include <stdlib.h>

const double uvfib__bench_pcts[UVFIB__BENCH_N_PCTS] = {
    0.001, 0.01, 0.1, 1, 2.5, 10, 25, 50, 75, 90, 97.5, 99, 99.9, 99.99, 99.999,
};

const char *const uvfib__bench_pct_keys[UVFIB__BENCH_N_PCTS] = {
    "p0_001", "p0_01", "p0_1", "p1", "p2_5", "p10", "p25", "p50",
    "p75", "p90", "p97_5", "p99", "p99_9", "p99_99", "p99_999",
};

int uvfib__bench_pct_index(double pct)
{
    for (int i = 0; i < UVFIB__BENCH_N_PCTS; i++) {
        if (fabs(uvfib__bench_pcts[i] - pct) < 1e-9)
            return i;
    }
    return -1;
}

/* The share of samples that must lie beyond pct, as a fraction of 1. */
static double tail_fraction(double pct)
{
    return (pct >= 50.0 ? 100.0 - pct : pct) / 100.0;
}

bool uvfib__bench_pct_ok(uint64_t n, double pct)
{
    if (n == 0 || !(pct >= 0.0 && pct <= 100.0))
        return false;
    if (pct == 0.0 || pct == 100.0)
        return true;   /* the minimum and the maximum are exact with any sample */
    /* The small allowance keeps 1000 * (100 - 99.9) / 100, which is 0.99999999999994 in
     * doubles, on the right side of 1. */
    return (double)n * tail_fraction(pct) >= 1.0 - 1e-9;
}

uint64_t uvfib__bench_pct_min_samples(double pct)
{
    if (!(pct >= 0.0 && pct <= 100.0))
        return UINT64_MAX;
    double tail = tail_fraction(pct);
    if (!(tail > 0.0))
        return 1;
    uint64_t n = (uint64_t)ceil(1.0 / tail - 1e-9);
    while (n > 1 && uvfib__bench_pct_ok(n - 1, pct))
        n--;
    while (!uvfib__bench_pct_ok(n, pct))
        n++;
    return n;
}

static uvfib__bench_summary_t empty_summary(uint64_t count)
{
    uvfib__bench_summary_t s;
    s.count = count;
    s.mean = s.stddev = s.min = s.max = NAN;
    for (int i = 0; i < UVFIB__BENCH_N_PCTS; i++)
        s.pct[i] = NAN;
    return s;
}

double uvfib__bench_hist_pct_ms(const uvfib__hist_t *h, double pct)
{
    if (!uvfib__bench_pct_ok(uvfib__hist_count(h), pct))
        return NAN;
    return (double)uvfib__hist_percentile(h, pct) / 1e6;
}

uvfib__bench_summary_t uvfib__bench_summarize(const uvfib__hist_t *h)
{
    uvfib__bench_summary_t s = empty_summary(uvfib__hist_count(h));
    if (s.count == 0)
        return s;
    s.mean = uvfib__hist_mean(h) / 1e6;
    s.stddev = uvfib__hist_stddev(h) / 1e6;
    s.min = (double)uvfib__hist_min(h) / 1e6;
    s.max = (double)uvfib__hist_max(h) / 1e6;
    for (int i = 0; i < UVFIB__BENCH_N_PCTS; i++)
        s.pct[i] = uvfib__bench_hist_pct_ms(h, uvfib__bench_pcts[i]);
    return s;
}

double uvfib__bench_summary_pct(const uvfib__bench_summary_t *s, double pct)
{
    int i = uvfib__bench_pct_index(pct);
    return i < 0 ? NAN : s->pct[i];
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

uvfib__bench_summary_t uvfib__bench_summarize_samples(double *x, size_t n)
{
    uvfib__bench_summary_t s = empty_summary(n);
    if (n == 0)
        return s;
    qsort(x, n, sizeof *x, cmp_double);
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += x[i];
    s.mean = sum / (double)n;
    double m2 = 0.0;
    for (size_t i = 0; i < n; i++)
        m2 += (x[i] - s.mean) * (x[i] - s.mean);
    s.stddev = sqrt(m2 / (double)n);
    s.min = x[0];
    s.max = x[n - 1];
    for (int i = 0; i < UVFIB__BENCH_N_PCTS; i++) {
        double pct = uvfib__bench_pcts[i];
        if (!uvfib__bench_pct_ok(n, pct))
            continue;
        /* Nearest rank, as uvfib__hist_percentile: rank = ceil(pct * n / 100), at least 1. */
        double r = ceil(pct * (double)n / 100.0);
        size_t rank = r < 1.0 ? 1 : r > (double)n ? n : (size_t)r;
        s.pct[i] = x[rank - 1];
    }
    return s;
}
