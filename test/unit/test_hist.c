/* test_hist.c - unit tests of the log-linear histogram (src/hist.c): percentiles against
 * exact answers from sorted samples, exact min/max/mean/stddev, merge, reset, clamping and
 * cumulative counts. Random samples come from a fixed-seed xorshift, so runs repeat. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"

/* ------------------------------------------------------------------------------------------
 * Helpers: PRNG, sample sets, exact statistics
 * ------------------------------------------------------------------------------------------ */

static uint64_t rng_state;   /* xorshift64* state; reseeded by every test that uses it */

static void rng_seed(uint64_t seed)
{
    rng_state = seed ? seed : 0x9e3779b97f4a7c15u;
}

static uint64_t rng_u64(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

/* Uniform in [0, 1). */
static double rng_unit(void)
{
    return (double)(rng_u64() >> 11) * 0x1.0p-53;
}

/* Uniform in [lo, hi]. */
static uint64_t rng_range(uint64_t lo, uint64_t hi)
{
    return lo + rng_u64() % (hi - lo + 1);
}

/* Log-uniform in [lo, hi]: every decade equally likely. */
static uint64_t rng_log_uniform(double lo, double hi)
{
    return (uint64_t)llround(exp(log(lo) + rng_unit() * (log(hi) - log(lo))));
}

/* Exponential with the given mean. */
static uint64_t rng_exponential(double mean)
{
    return (uint64_t)llround(-log(1.0 - rng_unit()) * mean);
}

typedef struct {
    uint64_t *v;   /* owned, the samples in recording order */
    size_t n;      /* samples held */
    size_t cap;    /* room in v */
} samples_t;

static void samples_push(samples_t *s, uint64_t value)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 1024;
        s->v = realloc(s->v, s->cap * sizeof(*s->v));
        assert_non_null(s->v);
    }
    s->v[s->n++] = value;
}

static void samples_free(samples_t *s)
{
    free(s->v);
    memset(s, 0, sizeof(*s));
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The nearest-rank percentile of sorted[0..n), the definition hist.h documents. */
static uint64_t exact_percentile(const uint64_t *sorted, size_t n, double pct)
{
    double r = ceil(pct * (double)n / 100.0);
    size_t rank = r < 1.0 ? 1 : r >= (double)n ? n : (size_t)r;
    return sorted[rank - 1];
}

static void assert_within_bound(uint64_t got, uint64_t exact, double pct)
{
    uint64_t diff = got > exact ? got - exact : exact - got;
    /* |got - exact| <= exact * UVFIB__HIST_REL_ERROR, in integers: diff * 256 <= exact. */
    if (diff * (uint64_t)(1.0 / UVFIB__HIST_REL_ERROR) > exact)
        fail_msg("p%g: got %" PRIu64 ", exact %" PRIu64 " (off by %.4f%%, bound %.4f%%)", pct,
                 got, exact, 100.0 * (double)diff / (double)exact, 100.0 * UVFIB__HIST_REL_ERROR);
}

static void assert_close(double got, double want, double rel)
{
    if (fabs(got - want) > rel * fabs(want))
        fail_msg("got %.17g, want %.17g (relative tolerance %g)", got, want, rel);
}

/* Records every sample (they must all be in range), then checks the histogram against exact
 * answers: the named percentiles and a sweep of random ones within the bound, min and max
 * exact, mean exact to one rounding, stddev against a two-pass computation, count_le. */
static void check_against_exact(const samples_t *s)
{
    static uvfib__hist_t h;   /* static: 37 KB, kept off the stack */
    uvfib__hist_init(&h);
    for (size_t i = 0; i < s->n; i++)
        uvfib__hist_record(&h, s->v[i]);

    uint64_t *sorted = malloc(s->n * sizeof(*sorted));
    assert_non_null(sorted);
    memcpy(sorted, s->v, s->n * sizeof(*sorted));
    qsort(sorted, s->n, sizeof(*sorted), cmp_u64);

    assert_int_equal(uvfib__hist_count(&h), s->n);
    assert_int_equal(uvfib__hist_exceeds(&h), 0);
    assert_int_equal(uvfib__hist_min(&h), sorted[0]);
    assert_int_equal(uvfib__hist_max(&h), sorted[s->n - 1]);

    static const double named[] = {0, 50, 90, 99, 99.9, 100};
    for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
        assert_within_bound(uvfib__hist_percentile(&h, named[i]),
                            exact_percentile(sorted, s->n, named[i]), named[i]);
    assert_int_equal(uvfib__hist_percentile(&h, 0), sorted[0]);
    assert_int_equal(uvfib__hist_percentile(&h, 100), sorted[s->n - 1]);
    for (int i = 0; i < 500; i++) {
        double pct = rng_unit() * 100.0;
        assert_within_bound(uvfib__hist_percentile(&h, pct), exact_percentile(sorted, s->n, pct),
                            pct);
    }

    uint64_t sum = 0;   /* samples stay below 2^42 and n below 2^20: no overflow */
    for (size_t i = 0; i < s->n; i++)
        sum += sorted[i];
    assert_true(uvfib__hist_sum(&h) == (double)sum);
    assert_true(uvfib__hist_mean(&h) == (double)sum / (double)s->n);

    long double mean = (long double)sum / (long double)s->n, m2 = 0;
    for (size_t i = 0; i < s->n; i++)
        m2 += ((long double)sorted[i] - mean) * ((long double)sorted[i] - mean);
    assert_close(uvfib__hist_stddev(&h), (double)sqrtl(m2 / (long double)s->n), 1e-9);

    /* At the top of a sample's bucket count_le is exact; anywhere it lies between the exact
     * count at the bound and the exact count at the top of the bound's bucket. */
    for (int i = 0; i < 200; i++) {
        uint64_t bound = sorted[rng_u64() % s->n] + rng_range(0, 3) - 1;
        uint64_t top = uvfib__hist_highest_equivalent(bound);
        size_t le_bound = 0, le_top = 0;
        while (le_bound < s->n && sorted[le_bound] <= bound)
            le_bound++;
        le_top = le_bound;
        while (le_top < s->n && sorted[le_top] <= top)
            le_top++;
        uint64_t c = uvfib__hist_count_le(&h, bound);
        assert_in_range(c, le_bound, le_top);
        assert_int_equal(uvfib__hist_count_le(&h, top), le_top);
    }
    free(sorted);
}

/* ------------------------------------------------------------------------------------------
 * Layout
 * ------------------------------------------------------------------------------------------ */

static void test_hist_buckets_tile_the_range_within_bound(void **state)
{
    (void)state;
    size_t n_buckets = 0;
    uint64_t v = 0;
    for (;;) {
        uint64_t lo = uvfib__hist_lowest_equivalent(v);
        uint64_t hi = uvfib__hist_highest_equivalent(v);
        assert_int_equal(lo, v);   /* buckets are contiguous: each starts after the last */
        assert_true(hi >= lo);
        assert_int_equal(uvfib__hist_lowest_equivalent(hi), lo);
        if (lo < 256)
            assert_int_equal(hi, lo);
        else   /* width at most 1/128 of the smallest value in it */
            assert_true((hi - lo + 1) * 128 <= lo);
        n_buckets++;
        if (hi == UVFIB__HIST_HIGHEST_TRACKABLE)
            break;
        v = hi + 1;
    }
    assert_int_equal(n_buckets, UVFIB__HIST_N_BUCKETS);
    assert_true(UVFIB__HIST_HIGHEST_TRACKABLE >= UINT64_C(3600000000000));   /* 1 h in ns */
    assert_true(sizeof(uvfib__hist_t) < 40 * 1024);
}

static void test_hist_bucket_edges_at_powers_of_two(void **state)
{
    (void)state;
    for (unsigned k = 8; k < UVFIB__HIST_TOP_BITS; k++) {
        uint64_t p = UINT64_C(1) << k, width = UINT64_C(1) << (k - 7);
        assert_int_equal(uvfib__hist_lowest_equivalent(p), p);
        assert_int_equal(uvfib__hist_highest_equivalent(p), p + width - 1);
        assert_int_equal(uvfib__hist_highest_equivalent(p - 1), p - 1);
        assert_int_equal(uvfib__hist_lowest_equivalent(p - 1), p - width / 2);
    }
    assert_int_equal(uvfib__hist_highest_equivalent(UINT64_MAX), UVFIB__HIST_HIGHEST_TRACKABLE);
}

/* ------------------------------------------------------------------------------------------
 * Empty, reset, exact small values
 * ------------------------------------------------------------------------------------------ */

static void assert_empty(const uvfib__hist_t *h)
{
    assert_int_equal(uvfib__hist_count(h), 0);
    assert_int_equal(uvfib__hist_min(h), 0);
    assert_int_equal(uvfib__hist_max(h), 0);
    assert_int_equal(uvfib__hist_exceeds(h), 0);
    assert_true(uvfib__hist_mean(h) == 0.0);
    assert_true(uvfib__hist_stddev(h) == 0.0);
    assert_true(uvfib__hist_sum(h) == 0.0);
    assert_int_equal(uvfib__hist_percentile(h, 0), 0);
    assert_int_equal(uvfib__hist_percentile(h, 50), 0);
    assert_int_equal(uvfib__hist_percentile(h, 100), 0);
    assert_int_equal(uvfib__hist_count_le(h, 0), 0);
    assert_int_equal(uvfib__hist_count_le(h, UINT64_MAX), 0);
}

static void test_hist_empty_reads_zero(void **state)
{
    (void)state;
    uvfib__hist_t h;
    uvfib__hist_init(&h);
    assert_empty(&h);
}

static void test_hist_zeroed_struct_is_empty_and_usable(void **state)
{
    (void)state;
    static uvfib__hist_t h;   /* zero-initialised, never passed to init */
    assert_empty(&h);
    uvfib__hist_record(&h, 42);
    assert_int_equal(uvfib__hist_min(&h), 42);
    assert_int_equal(uvfib__hist_max(&h), 42);
    assert_int_equal(uvfib__hist_percentile(&h, 50), 42);
}

static void test_hist_reset_empties(void **state)
{
    (void)state;
    uvfib__hist_t h;
    uvfib__hist_init(&h);
    for (uint64_t v = 1; v < 100000; v += 7)
        uvfib__hist_record(&h, v * 1000);
    uvfib__hist_record(&h, UINT64_MAX);
    assert_int_equal(uvfib__hist_exceeds(&h), 1);
    uvfib__hist_reset(&h);
    assert_empty(&h);
    uvfib__hist_record(&h, 5);   /* min starts over, not stuck at the old min */
    assert_int_equal(uvfib__hist_min(&h), 5);
    assert_int_equal(uvfib__hist_max(&h), 5);
}

static void test_hist_small_values_are_exact(void **state)
{
    (void)state;
    uvfib__hist_t h;
    uvfib__hist_init(&h);
    for (uint64_t v = 0; v < 256; v++)
        uvfib__hist_record_n(&h, v, 2);
    for (uint64_t v = 0; v < 256; v++)
        assert_int_equal(uvfib__hist_count_le(&h, v), 2 * (v + 1));
    /* 512 values 0,0,1,1,...: rank r holds (r - 1) / 2. */
    for (double pct = 0.0; pct <= 100.0; pct += 0.25) {
        double r = ceil(pct * 512 / 100.0);
        uint64_t rank = r < 1 ? 1 : (uint64_t)r;
        assert_int_equal(uvfib__hist_percentile(&h, pct), (rank - 1) / 2);
    }
}

static void test_hist_percentile_uses_nearest_rank(void **state)
{
    (void)state;
    uvfib__hist_t h;
    uvfib__hist_init(&h);
    for (uint64_t v = 1; v <= 100; v++)
        uvfib__hist_record(&h, v);
    assert_int_equal(uvfib__hist_percentile(&h, 0), 1);
    assert_int_equal(uvfib__hist_percentile(&h, 0.5), 1);
    assert_int_equal(uvfib__hist_percentile(&h, 1), 1);
    assert_int_equal(uvfib__hist_percentile(&h, 1.01), 2);
    assert_int_equal(uvfib__hist_percentile(&h, 7), 7);   /* not 8: 0.07 * 100 > 7 in doubles */
    assert_int_equal(uvfib__hist_percentile(&h, 50), 50);
    assert_int_equal(uvfib__hist_percentile(&h, 99), 99);
    assert_int_equal(uvfib__hist_percentile(&h, 99.9), 100);
    assert_int_equal(uvfib__hist_percentile(&h, 100), 100);
}

static void test_hist_percentile_clamps_pct(void **state)
{
    (void)state;
    uvfib__hist_t h;
    uvfib__hist_init(&h);
    uvfib__hist_record(&h, 1000);
    uvfib__hist_record(&h, 2000000);
    uvfib__hist_record(&h, 3000000000);
    assert_int_equal(uvfib__hist_percentile(&h, -5), 1000);
    assert_int_equal(uvfib__hist_percentile(&h, NAN), 1000);
    assert_int_equal(uvfib__hist_percentile(&h, 250), 3000000000);
    assert_int_equal(uvfib__hist_percentile(&h, INFINITY), 3000000000);
}

/* ------------------------------------------------------------------------------------------
 * Percentiles against sorted samples
 * ------------------------------------------------------------------------------------------ */

static void test_hist_percentiles_within_bound_uniform(void **state)
{
    (void)state;
    rng_seed(1);
    samples_t s = {0};
    for (int i = 0; i < 100000; i++)
        samples_push(&s, rng_range(0, 1000000));   /* 0 .. 1 ms */
    check_against_exact(&s);
    samples_free(&s);
}

static void test_hist_percentiles_within_bound_uniform_wide(void **state)
{
    (void)state;
    rng_seed(2);
    samples_t s = {0};
    for (int i = 0; i < 100000; i++)
        samples_push(&s, rng_range(1000000000, 2000000000));   /* 1 s .. 2 s */
    check_against_exact(&s);
    samples_free(&s);
}

static void test_hist_percentiles_within_bound_log_uniform(void **state)
{
    (void)state;
    rng_seed(3);
    samples_t s = {0};
    for (int i = 0; i < 200000; i++)
        samples_push(&s, rng_log_uniform(1.0, 1e10));   /* 1 ns .. 10 s */
    check_against_exact(&s);
    samples_free(&s);
}

static void test_hist_percentiles_within_bound_exponential(void **state)
{
    (void)state;
    rng_seed(4);
    samples_t s = {0};
    for (int i = 0; i < 100000; i++)
        samples_push(&s, rng_exponential(1e6));   /* mean 1 ms */
    check_against_exact(&s);
    samples_free(&s);
}

static void test_hist_percentiles_within_bound_heavy_outliers(void **state)
{
    (void)state;
    rng_seed(5);
    samples_t s = {0};
    for (int i = 0; i < 50000; i++) {
        if (rng_u64() % 1000 < 3)   /* 0.3%: stalls of 1 s .. 1 h */
            samples_push(&s, rng_log_uniform(1e9, 3.6e12));
        else   /* the rest: 50 .. 150 us */
            samples_push(&s, rng_range(50000, 150000));
    }
    check_against_exact(&s);
    samples_free(&s);
}

static void test_hist_percentiles_within_bound_record_n(void **state)
{
    (void)state;
    rng_seed(6);
    static uvfib__hist_t h;
    uvfib__hist_init(&h);
    samples_t s = {0};
    for (int i = 0; i < 300; i++) {
        uint64_t v = rng_log_uniform(1.0, 1e10), n = rng_range(1, 1000);
        uvfib__hist_record_n(&h, v, n);
        for (uint64_t j = 0; j < n; j++)
            samples_push(&s, v);
    }
    check_against_exact(&s);   /* the same values recorded one by one */

    uint64_t *sorted = malloc(s.n * sizeof(*sorted));
    assert_non_null(sorted);
    memcpy(sorted, s.v, s.n * sizeof(*sorted));
    qsort(sorted, s.n, sizeof(*sorted), cmp_u64);
    assert_int_equal(uvfib__hist_count(&h), s.n);
    static const double named[] = {0, 50, 90, 99, 99.9, 100};
    for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
        assert_within_bound(uvfib__hist_percentile(&h, named[i]),
                            exact_percentile(sorted, s.n, named[i]), named[i]);
    free(sorted);
    samples_free(&s);
}

/* ------------------------------------------------------------------------------------------
 * Exact moments
 * ------------------------------------------------------------------------------------------ */

static void test_hist_min_max_mean_stddev_exact(void **state)
{
    (void)state;
    uvfib__hist_t h;
    uvfib__hist_init(&h);
    static const uint64_t v[] = {2, 4, 4, 4, 5, 5, 7, 9};   /* mean 5, stddev 2 */
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        uvfib__hist_record(&h, v[i] * 1000003);   /* in wide buckets: not exact there */
    assert_int_equal(uvfib__hist_min(&h), 2 * 1000003);
    assert_int_equal(uvfib__hist_max(&h), 9 * 1000003);
    assert_true(uvfib__hist_mean(&h) == 5.0 * 1000003);
    assert_close(uvfib__hist_stddev(&h), 2.0 * 1000003, 1e-12);
}

static void test_hist_stddev_survives_large_close_values(void **state)
{
    (void)state;
    uvfib__hist_t h;
    uvfib__hist_init(&h);
    /* Around 2^40 a sum of squares in doubles cancels to noise; running moments do not. */
    uint64_t base = UINT64_C(1) << 40;
    for (int i = 0; i < 1000; i++)
        uvfib__hist_record(&h, base + (uint64_t)(i % 2));
    assert_close(uvfib__hist_stddev(&h), 0.5, 1e-9);
}

static void test_hist_mean_survives_sum_beyond_64_bits(void **state)
{
    (void)state;
    uvfib__hist_t h;
    uvfib__hist_init(&h);
    uvfib__hist_record_n(&h, UINT64_C(1000000000000), UINT64_C(100000000));   /* sum 1e20 */
    uvfib__hist_record_n(&h, UINT64_C(3000000000000), UINT64_C(100000000));
    assert_true(uvfib__hist_sum(&h) == 4e20);
    assert_true(uvfib__hist_mean(&h) == 2e12);
    assert_close(uvfib__hist_stddev(&h), 1e12, 1e-12);
    assert_int_equal(uvfib__hist_count(&h), UINT64_C(200000000));
}

static void test_hist_record_n_zero_is_noop(void **state)
{
    (void)state;
    uvfib__hist_t h;
    uvfib__hist_init(&h);
    uvfib__hist_record_n(&h, 12345, 0);
    assert_empty(&h);
    uvfib__hist_record(&h, 7);
    uvfib__hist_record_n(&h, 1, 0);   /* must not become the min */
    assert_int_equal(uvfib__hist_min(&h), 7);
    assert_int_equal(uvfib__hist_count(&h), 1);
}

/* ------------------------------------------------------------------------------------------
 * Merge
 * ------------------------------------------------------------------------------------------ */

static void assert_same_hist(const uvfib__hist_t *a, const uvfib__hist_t *b)
{
    assert_memory_equal(a->counts, b->counts, sizeof(a->counts));
    assert_int_equal(uvfib__hist_count(a), uvfib__hist_count(b));
    assert_int_equal(uvfib__hist_min(a), uvfib__hist_min(b));
    assert_int_equal(uvfib__hist_max(a), uvfib__hist_max(b));
    assert_int_equal(uvfib__hist_exceeds(a), uvfib__hist_exceeds(b));
    assert_true(uvfib__hist_sum(a) == uvfib__hist_sum(b));
    assert_true(uvfib__hist_mean(a) == uvfib__hist_mean(b));
    assert_close(uvfib__hist_stddev(a), uvfib__hist_stddev(b), 1e-9);
    static const double pcts[] = {0, 10, 50, 90, 99, 99.9, 100};
    for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++)
        assert_int_equal(uvfib__hist_percentile(a, pcts[i]), uvfib__hist_percentile(b, pcts[i]));
}

static void test_hist_merge_equals_recording_both(void **state)
{
    (void)state;
    static uvfib__hist_t a, b, both;
    uvfib__hist_init(&a);
    uvfib__hist_init(&b);
    uvfib__hist_init(&both);
    rng_seed(7);
    for (int i = 0; i < 20000; i++) {
        uint64_t v = rng_log_uniform(1.0, 1e10);
        uvfib__hist_record(&a, v);
        uvfib__hist_record(&both, v);
    }
    for (int i = 0; i < 30000; i++) {
        uint64_t v = rng_exponential(5e5);
        uvfib__hist_record(&b, v);
        uvfib__hist_record(&both, v);
    }
    uvfib__hist_record(&b, UINT64_C(1) << 50);   /* exceeds travels too */
    uvfib__hist_record(&both, UINT64_C(1) << 50);
    uvfib__hist_merge(&a, &b);
    assert_same_hist(&a, &both);
    assert_int_equal(uvfib__hist_count(&b), 30001);   /* src untouched */
}

static void test_hist_merge_with_empty_keeps_min(void **state)
{
    (void)state;
    static uvfib__hist_t a, empty, copy;
    uvfib__hist_init(&a);
    uvfib__hist_init(&empty);
    uvfib__hist_record(&a, 500);
    uvfib__hist_record(&a, 9000);
    uvfib__hist_merge(&a, &empty);   /* empty into full: nothing changes */
    assert_int_equal(uvfib__hist_min(&a), 500);
    assert_int_equal(uvfib__hist_count(&a), 2);

    uvfib__hist_init(&copy);   /* full into empty: min is taken, not kept at 0 */
    uvfib__hist_merge(&copy, &a);
    assert_same_hist(&copy, &a);
}

static void test_hist_merge_with_itself_doubles(void **state)
{
    (void)state;
    static uvfib__hist_t h, twice;
    uvfib__hist_init(&h);
    uvfib__hist_init(&twice);
    rng_seed(8);
    for (int i = 0; i < 5000; i++) {
        uint64_t v = rng_log_uniform(10.0, 1e8);
        uvfib__hist_record(&h, v);
        uvfib__hist_record_n(&twice, v, 2);
    }
    uvfib__hist_merge(&h, &h);
    assert_same_hist(&h, &twice);
}

/* ------------------------------------------------------------------------------------------
 * Clamping and cumulative counts
 * ------------------------------------------------------------------------------------------ */

static void test_hist_exceeds_counts_clamped_values(void **state)
{
    (void)state;
    uvfib__hist_t h;
    uvfib__hist_init(&h);
    const uint64_t top = UVFIB__HIST_HIGHEST_TRACKABLE;
    const uint64_t two_hours = UINT64_C(7200000000000);
    for (int i = 0; i < 1000; i++)
        uvfib__hist_record(&h, 1000000);
    uvfib__hist_record(&h, top);   /* the top itself is in range */
    assert_int_equal(uvfib__hist_exceeds(&h), 0);
    uvfib__hist_record(&h, top + 1);
    uvfib__hist_record(&h, two_hours);
    uvfib__hist_record_n(&h, UINT64_MAX, 3);
    assert_int_equal(uvfib__hist_exceeds(&h), 5);
    assert_int_equal(uvfib__hist_count(&h), 1006);
    assert_int_equal(uvfib__hist_max(&h), UINT64_MAX);   /* max keeps the true value */
    assert_int_equal(uvfib__hist_percentile(&h, 100), UINT64_MAX);
    assert_within_bound(uvfib__hist_percentile(&h, 99), 1000000, 99);
    /* Clamped values sit in the last bucket, so they count at the top of the range. */
    assert_int_equal(uvfib__hist_count_le(&h, uvfib__hist_lowest_equivalent(top) - 1), 1000);
    assert_int_equal(uvfib__hist_count_le(&h, top - 1), 1006);
    assert_int_equal(uvfib__hist_count_le(&h, top), 1006);
    assert_int_equal(uvfib__hist_count_le(&h, UINT64_MAX), 1006);
    assert_true(uvfib__hist_sum(&h) > 3.0 * (double)UINT64_MAX);   /* exact sum past 2^64 */
}

static void test_hist_count_le_monotone_and_exact_at_bucket_edges(void **state)
{
    (void)state;
    static uvfib__hist_t h;
    uvfib__hist_init(&h);
    /* One value at each end of a few buckets around 1 ms (width 4096 there) and 1 s. */
    const uint64_t ms = 1000000, lo_ms = uvfib__hist_lowest_equivalent(ms);
    const uint64_t hi_ms = uvfib__hist_highest_equivalent(ms);
    assert_int_equal(hi_ms - lo_ms + 1, 4096);
    uvfib__hist_record(&h, 3);
    uvfib__hist_record(&h, lo_ms - 1);
    uvfib__hist_record(&h, lo_ms);
    uvfib__hist_record(&h, ms);
    uvfib__hist_record(&h, hi_ms);
    uvfib__hist_record(&h, hi_ms + 1);
    uvfib__hist_record(&h, 1000000000);

    assert_int_equal(uvfib__hist_count_le(&h, 2), 0);             /* below min */
    assert_int_equal(uvfib__hist_count_le(&h, 3), 1);
    assert_int_equal(uvfib__hist_count_le(&h, lo_ms - 1), 2);     /* top of previous bucket */
    assert_int_equal(uvfib__hist_count_le(&h, lo_ms), 5);         /* whole bucket counted */
    assert_int_equal(uvfib__hist_count_le(&h, hi_ms), 5);         /* top: exact */
    assert_int_equal(uvfib__hist_count_le(&h, hi_ms + 1), 6);
    assert_int_equal(uvfib__hist_count_le(&h, uvfib__hist_lowest_equivalent(1000000000) - 1), 6);
    assert_int_equal(uvfib__hist_count_le(&h, 999999999), 7);     /* shares 1 s's bucket */
    assert_int_equal(uvfib__hist_count_le(&h, 1000000000), 7);    /* max: exact */
    assert_int_equal(uvfib__hist_count_le(&h, UINT64_MAX), 7);

    /* Monotone across every bucket edge of the range and a few points in between. */
    rng_seed(9);
    for (int i = 0; i < 100000; i++)
        uvfib__hist_record(&h, rng_log_uniform(1.0, 1e11));
    uint64_t prev = 0;
    for (uint64_t v = 0;; v = uvfib__hist_highest_equivalent(v) + 1) {
        uint64_t hi = uvfib__hist_highest_equivalent(v);
        uint64_t c_lo = uvfib__hist_count_le(&h, v), c_hi = uvfib__hist_count_le(&h, hi);
        assert_true(c_lo >= prev);
        assert_true(c_hi >= c_lo);
        prev = c_hi;
        if (hi == UVFIB__HIST_HIGHEST_TRACKABLE)
            break;
    }
    assert_int_equal(prev, uvfib__hist_count(&h));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_buckets_tile_the_range_within_bound),
        cmocka_unit_test(test_hist_bucket_edges_at_powers_of_two),
        cmocka_unit_test(test_hist_empty_reads_zero),
        cmocka_unit_test(test_hist_zeroed_struct_is_empty_and_usable),
        cmocka_unit_test(test_hist_reset_empties),
        cmocka_unit_test(test_hist_small_values_are_exact),
        cmocka_unit_test(test_hist_percentile_uses_nearest_rank),
        cmocka_unit_test(test_hist_percentile_clamps_pct),
        cmocka_unit_test(test_hist_percentiles_within_bound_uniform),
        cmocka_unit_test(test_hist_percentiles_within_bound_uniform_wide),
        cmocka_unit_test(test_hist_percentiles_within_bound_log_uniform),
        cmocka_unit_test(test_hist_percentiles_within_bound_exponential),
        cmocka_unit_test(test_hist_percentiles_within_bound_heavy_outliers),
        cmocka_unit_test(test_hist_percentiles_within_bound_record_n),
        cmocka_unit_test(test_hist_min_max_mean_stddev_exact),
        cmocka_unit_test(test_hist_stddev_survives_large_close_values),
        cmocka_unit_test(test_hist_mean_survives_sum_beyond_64_bits),
        cmocka_unit_test(test_hist_record_n_zero_is_noop),
        cmocka_unit_test(test_hist_merge_equals_recording_both),
        cmocka_unit_test(test_hist_merge_with_empty_keeps_min),
        cmocka_unit_test(test_hist_merge_with_itself_doubles),
        cmocka_unit_test(test_hist_exceeds_counts_clamped_values),
        cmocka_unit_test(test_hist_count_le_monotone_and_exact_at_bucket_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
