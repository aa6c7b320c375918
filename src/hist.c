/* hist.c - log-linear histogram of uint64 values (see hist.h for the layout and its error
 * bound). Keeps exact min, max and sum beside the buckets; does no I/O and no allocation. */
#include "hist.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#define SUB_BITS UVFIB__HIST_SUB_BITS
#define SUB_COUNT (UINT64_C(1) << SUB_BITS)
#define LAST_INDEX (UVFIB__HIST_N_BUCKETS - 1)

/* ------------------------------------------------------------------------------------------
 * Layout
 * ------------------------------------------------------------------------------------------ */

static unsigned floor_log2(uint64_t v)
{
    assert(v != 0);
#if defined(__GNUC__) || defined(__clang__)
    return 63u - (unsigned)__builtin_clzll(v);
#else
    unsigned k = 0;
    while (v >>= 1)
        k++;
    return k;
#endif
}

/* The bucket of a value; values beyond the range land in the last bucket. */
static size_t bucket_index(uint64_t value)
{
    if (value > UVFIB__HIST_HIGHEST_TRACKABLE)
        return LAST_INDEX;
    if (value < 2 * SUB_COUNT)
        return (size_t)value;
    unsigned shift = floor_log2(value) - SUB_BITS;
    return ((size_t)shift << SUB_BITS) + (size_t)(value >> shift);
}

/* Bucket i holds [lowest(i), lowest(i) + width(i) - 1]. Below 2 * SUB_COUNT the width is 1;
 * above, i = shift * SUB_COUNT + sub with sub in [SUB_COUNT, 2 * SUB_COUNT). */
static unsigned bucket_shift(size_t i)
{
    return i < 2 * SUB_COUNT ? 0 : (unsigned)(i >> SUB_BITS) - 1;
}

static uint64_t bucket_lowest(size_t i)
{
    unsigned shift = bucket_shift(i);
    return ((uint64_t)i - ((uint64_t)shift << SUB_BITS)) << shift;
}

static uint64_t bucket_highest(size_t i)
{
    return bucket_lowest(i) + (UINT64_C(1) << bucket_shift(i)) - 1;
}

uint64_t uvfib__hist_lowest_equivalent(uint64_t value)
{
    return bucket_lowest(bucket_index(value));
}

uint64_t uvfib__hist_highest_equivalent(uint64_t value)
{
    return bucket_highest(bucket_index(value));
}

/* ------------------------------------------------------------------------------------------
 * Recording
 * ------------------------------------------------------------------------------------------ */

void uvfib__hist_init(uvfib__hist_t *h)
{
    memset(h, 0, sizeof(*h));
}

void uvfib__hist_reset(uvfib__hist_t *h)
{
    memset(h, 0, sizeof(*h));
}

/* 64 x 64 -> 128-bit product in four 32-bit pieces, so the sum stays exact without relying
 * on a compiler's __int128. */
static void mul_64x64(uint64_t a, uint64_t b, uint64_t *hi, uint64_t *lo)
{
    uint64_t a_lo = a & 0xffffffffu, a_hi = a >> 32;
    uint64_t b_lo = b & 0xffffffffu, b_hi = b >> 32;
    uint64_t ll = a_lo * b_lo, lh = a_lo * b_hi, hl = a_hi * b_lo, hh = a_hi * b_hi;
    uint64_t mid = (ll >> 32) + (lh & 0xffffffffu) + (hl & 0xffffffffu);
    *lo = (mid << 32) | (ll & 0xffffffffu);
    *hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
}

static void sum_add(uvfib__hist_t *h, uint64_t hi, uint64_t lo)
{
    uint64_t old = h->sum_lo;
    h->sum_lo += lo;
    h->sum_hi += hi + (h->sum_lo < old);
}

/* a - b as a double, exact while |a - b| < 2^53. */
static double diff_u64(uint64_t a, uint64_t b)
{
    return a >= b ? (double)(a - b) : -(double)(b - a);
}

/* Folds a group of n values, whose mean is origin + mean and whose squared deviations from
 * it sum to m2, into h's running moments (Chan et al.). n_old is h's count before the group;
 * Welford's one-value update is the case n == 1, m2 == 0. The moments are kept relative to
 * the first value recorded: latencies bunch far from zero (1 s +- 1 us), and in absolute
 * terms the rounding of a mean near 2^40 alone would swamp a variance below one. */
static void moments_add(uvfib__hist_t *h, uint64_t n_old, uint64_t n, uint64_t origin,
                        double mean, double m2)
{
    if (n_old == 0) {
        h->w_origin = origin;
        h->w_mean = mean;
        h->w_m2 = m2;
        return;
    }
    double n_a = (double)n_old, n_b = (double)n, n_ab = n_a + n_b;
    double delta = (diff_u64(origin, h->w_origin) + mean) - h->w_mean;
    h->w_mean += delta * (n_b / n_ab);
    h->w_m2 += m2 + delta * delta * (n_a * n_b / n_ab);
}

void uvfib__hist_record_n(uvfib__hist_t *h, uint64_t value, uint64_t count)
{
    if (count == 0)
        return;
    uint64_t n_old = h->total;
    if (n_old == 0 || value < h->min)
        h->min = value;
    if (value > h->max)
        h->max = value;
    if (value > UVFIB__HIST_HIGHEST_TRACKABLE)
        h->exceeds += count;
    h->counts[bucket_index(value)] += count;
    h->total += count;

    uint64_t hi, lo;
    mul_64x64(value, count, &hi, &lo);
    sum_add(h, hi, lo);
    moments_add(h, n_old, count, value, 0.0, 0.0);
}

void uvfib__hist_record(uvfib__hist_t *h, uint64_t value)
{
    uvfib__hist_record_n(h, value, 1);
}

void uvfib__hist_merge(uvfib__hist_t *dst, const uvfib__hist_t *src)
{
    if (src->total == 0)
        return;
    /* Read everything from src before writing dst: they may be the same histogram. */
    uint64_t n_old = dst->total, n_src = src->total;
    uint64_t src_min = src->min, src_max = src->max;
    uint64_t src_hi = src->sum_hi, src_lo = src->sum_lo;
    uint64_t src_origin = src->w_origin;
    double src_mean = src->w_mean, src_m2 = src->w_m2;

    if (n_old == 0 || src_min < dst->min)
        dst->min = src_min;
    if (src_max > dst->max)
        dst->max = src_max;
    dst->exceeds += src->exceeds;
    for (size_t i = 0; i < UVFIB__HIST_N_BUCKETS; i++)
        dst->counts[i] += src->counts[i];
    dst->total = n_old + n_src;
    sum_add(dst, src_hi, src_lo);
    moments_add(dst, n_old, n_src, src_origin, src_mean, src_m2);
}

/* ------------------------------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------------------------------ */

uint64_t uvfib__hist_count(const uvfib__hist_t *h)
{
    return h->total;
}

uint64_t uvfib__hist_min(const uvfib__hist_t *h)
{
    return h->total ? h->min : 0;
}

uint64_t uvfib__hist_max(const uvfib__hist_t *h)
{
    return h->total ? h->max : 0;
}

uint64_t uvfib__hist_exceeds(const uvfib__hist_t *h)
{
    return h->exceeds;
}

double uvfib__hist_sum(const uvfib__hist_t *h)
{
    return ldexp((double)h->sum_hi, 64) + (double)h->sum_lo;
}

double uvfib__hist_mean(const uvfib__hist_t *h)
{
    if (h->total == 0)
        return 0.0;
    return uvfib__hist_sum(h) / (double)h->total;
}

double uvfib__hist_stddev(const uvfib__hist_t *h)
{
    if (h->total == 0 || !(h->w_m2 > 0.0))
        return 0.0;
    return sqrt(h->w_m2 / (double)h->total);
}

uint64_t uvfib__hist_percentile(const uvfib__hist_t *h, double pct)
{
    if (h->total == 0)
        return 0;
    if (!(pct > 0.0))
        pct = 0.0;
    if (pct > 100.0)
        pct = 100.0;

    /* Nearest rank. pct * count is exact for the usual integer-ish inputs, so multiplying
     * before dividing by 100 keeps e.g. 7 * 100 / 100 from becoming 7.000000000000001
     * and rounding up to the next rank. */
    double r = ceil(pct * (double)h->total / 100.0);
    uint64_t rank = r < 1.0 ? 1 : r >= (double)h->total ? h->total : (uint64_t)r;
    if (rank == 1)
        return h->min;
    if (rank == h->total)
        return h->max;

    uint64_t seen = 0;
    size_t i = 0;
    for (; i < LAST_INDEX; i++) {
        seen += h->counts[i];
        if (seen >= rank)
            break;
    }
    /* The rank-th value lies in bucket i; its midpoint is at most half a width from it.
     * Clamping only moves the answer towards it, since that value is inside [min, max]. */
    uint64_t lo = bucket_lowest(i);
    uint64_t mid = lo + ((bucket_highest(i) - lo + 1) >> 1);
    if (mid < h->min)
        return h->min;
    if (mid > h->max)
        return h->max;
    return mid;
}

uint64_t uvfib__hist_count_le(const uvfib__hist_t *h, uint64_t bound)
{
    if (h->total == 0 || bound < h->min)
        return 0;
    if (bound >= h->max)
        return h->total;
    size_t last = bucket_index(bound);
    uint64_t n = 0;
    for (size_t i = 0; i <= last; i++)
        n += h->counts[i];
    return n;
}
