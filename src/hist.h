/* hist.h - a fixed-size log-linear (HdrHistogram-style) histogram of uint64 values,
 * usually nanoseconds: event-loop delay, request latency, the load generator's results.
 * Pure C: no allocation, no libuv, no locks. It is not a time series and not thread-safe.
 *
 * Threads: a histogram belongs to one thread at a time. Writers (record, merge into it,
 * reset) and readers must not run concurrently; to combine histograms kept by several
 * threads, let each thread fill its own and merge them on one thread afterwards. */
#ifndef UVFIB_HIST_H
#define UVFIB_HIST_H

#include <stdint.h>

/* Bucket layout.
 *
 * Values below 2^(SUB_BITS + 1) = 256 each have a bucket of their own, so they are exact.
 * Above that, every power of two [2^k, 2^(k+1)) with k >= SUB_BITS is split into
 * 2^SUB_BITS = 128 linear sub-buckets of width 2^(k - SUB_BITS):
 *
 *   index(v) = v                                  for v < 256
 *   index(v) = s * 128 + (v >> s), s = k - 7      for 2^k <= v < 2^(k+1), k >= 8
 *
 * Error bound. A bucket holding values >= 2^k is 2^(k-7) wide, so its width is at most
 * 1/128 of any value in it. Percentiles report the bucket's midpoint (clamped into
 * [min, max]), which is at most half a width, i.e. at most 1/256 (0.39%) of the true
 * value, away from every value in that bucket: |reported - exact| <= exact / 256.
 *
 * Range: values up to 2^TOP_BITS - 1 ns (about 73 minutes) are tracked. Larger values are
 * clamped into the last bucket and counted in `exceeds`, as Node's histogram does; min,
 * max, mean and stddev still use the true value. 4608 buckets of 8 bytes: about 37 KB. */
#define UVFIB__HIST_SUB_BITS 7
#define UVFIB__HIST_TOP_BITS 42
#define UVFIB__HIST_N_BUCKETS ((UVFIB__HIST_TOP_BITS - UVFIB__HIST_SUB_BITS + 1) \
                               << UVFIB__HIST_SUB_BITS)
/** The largest value recorded without clamping: 2^42 - 1 (4398 s in ns). */
#define UVFIB__HIST_HIGHEST_TRACKABLE ((UINT64_C(1) << UVFIB__HIST_TOP_BITS) - 1)
/** Relative error bound of uvfib__hist_percentile(), as a fraction (1/256). */
#define UVFIB__HIST_REL_ERROR (1.0 / (double)(1 << (UVFIB__HIST_SUB_BITS + 1)))

typedef struct uvfib__hist uvfib__hist_t;

/* All-zero bytes are a valid empty histogram, so it may be embedded in a zeroed struct.
 * Fields are private: use the functions below. */
struct uvfib__hist {
    uint64_t total;       /* values recorded, clamped ones included */
    uint64_t min;         /* exact smallest value recorded; meaningless while total == 0 */
    uint64_t max;         /* exact largest value recorded (not clamped); 0 while empty */
    uint64_t sum_lo;      /* exact sum of the recorded values, low 64 bits (value units) */
    uint64_t sum_hi;      /* high 64 bits of that sum: record_n can pass 2^64 */
    uint64_t exceeds;     /* values above UVFIB__HIST_HIGHEST_TRACKABLE, clamped */
    uint64_t w_origin;    /* first value recorded; the moments below are of value - w_origin */
    double w_mean;        /* running mean of value - w_origin (Welford), value units */
    double w_m2;          /* sum of squared deviations from the mean, value units squared */
    uint64_t counts[UVFIB__HIST_N_BUCKETS];   /* values per bucket, see the layout above */
};

/** Makes h empty. Same as zeroing it. */
void uvfib__hist_init(uvfib__hist_t *h);

/** Makes h empty again, forgetting every value and the exceeds counter. */
void uvfib__hist_reset(uvfib__hist_t *h);

/** Records one value. Values above UVFIB__HIST_HIGHEST_TRACKABLE go to the last bucket and
 * add one to exceeds. */
void uvfib__hist_record(uvfib__hist_t *h, uint64_t value);

/** Records `count` copies of value (count == 0 does nothing). */
void uvfib__hist_record_n(uvfib__hist_t *h, uint64_t value, uint64_t count);

/** Adds everything recorded in src to dst, as if dst had recorded it too. src is unchanged;
 * dst == src is allowed and doubles every count. */
void uvfib__hist_merge(uvfib__hist_t *dst, const uvfib__hist_t *src);

/** Number of values recorded, clamped ones included. */
uint64_t uvfib__hist_count(const uvfib__hist_t *h);

/** Exact smallest value recorded, 0 when empty. */
uint64_t uvfib__hist_min(const uvfib__hist_t *h);

/** Exact largest value recorded (never clamped), 0 when empty. */
uint64_t uvfib__hist_max(const uvfib__hist_t *h);

/** Exact sum of the values recorded, as a double (one rounding), 0 when empty. */
double uvfib__hist_sum(const uvfib__hist_t *h);

/** Exact mean: an exact 128-bit sum divided by the count (one rounding). 0 when empty. */
double uvfib__hist_mean(const uvfib__hist_t *h);

/** Population standard deviation of the values recorded, computed from the values
 * themselves (Welford's running moments of value - first value, Chan's formula on merge),
 * not from the buckets: exact up to floating-point rounding. 0 when empty. */
double uvfib__hist_stddev(const uvfib__hist_t *h);

/** The value at percentile pct, pct in [0, 100] (clamped; NaN counts as 0), by the
 * nearest-rank rule: rank = ceil(pct * count / 100.0), at least 1, and the answer is the
 * rank-th smallest value. Within UVFIB__HIST_REL_ERROR of the exact answer and inside
 * [min, max]; exact for values below 256, and for rank 1 (min) and rank count (max).
 * Ranks that land on clamped values (see exceeds) have no error bound. 0 when empty. */
uint64_t uvfib__hist_percentile(const uvfib__hist_t *h, double pct);

/** Number of values that were above UVFIB__HIST_HIGHEST_TRACKABLE and got clamped. */
uint64_t uvfib__hist_exceeds(const uvfib__hist_t *h);

/** Count of values <= bound, at bucket resolution, for cumulative (Prometheus) buckets.
 * The whole bucket that holds `bound` is counted, so the answer c satisfies
 *   #(values <= bound) <= c <= #(values <= uvfib__hist_highest_equivalent(bound)),
 * and it is exact when bound is the highest value of its bucket, below 256, below min,
 * or at least max (clamped values count as if they were UVFIB__HIST_HIGHEST_TRACKABLE).
 * Monotone in bound; count_le(max) == count. */
uint64_t uvfib__hist_count_le(const uvfib__hist_t *h, uint64_t bound);

/** The smallest value that shares a bucket with value (values above the range: the last
 * bucket's). Useful to choose exact bounds and in tests. */
uint64_t uvfib__hist_lowest_equivalent(uint64_t value);

/** The largest value that shares a bucket with value; UVFIB__HIST_HIGHEST_TRACKABLE for the
 * last bucket. */
uint64_t uvfib__hist_highest_equivalent(uint64_t value);

#endif /* UVFIB_HIST_H */
