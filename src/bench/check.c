/* check.c - judges a finished run: the honesty checks (could the generator keep its rate and
 * its CPU, which percentiles lack samples, which seconds lack a scrape) and the --threshold
 * verdicts. Pure: it reads the result and measures nothing. */
#include "bench.h"

#include <inttypes.h>
#include <stdarg.h>
#include <math.h>
#include <stdlib.h>

#include "stats.h"

uint64_t uvfib__bench_failures(const uvfib__bench_stats_t *st)
{
    uint64_t n = 0;
    for (int k = 0; k < UVFIB__BENCH_ERR_N; k++)
        n += st->n_errors[k];
    return n;
}

uint64_t uvfib__bench_errors_total(const uvfib__bench_stats_t *st)
{
    return st->n_4xx + st->n_5xx + uvfib__bench_failures(st);
}

void uvfib__bench_result_free(uvfib__bench_result_t *res)
{
    uvfib__bench_timeline_free(&res->timeline);
}

static void warn(uvfib__bench_warnings_t *w, const char *fmt, ...)
{
    if (w->n == UVFIB__BENCH_MAX_WARNINGS)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->text[w->n++], sizeof w->text[0], fmt, ap);
    va_end(ap);
}

/* The percentiles the reports print, checked for samples. */
static void check_samples(const char *name, const uvfib__hist_t *h, uvfib__bench_warnings_t *w)
{
    static const double printed[] = {50.0, 90.0, 99.0, 99.9};
    uint64_t n = uvfib__hist_count(h);
    if (n == 0)
        return;
    for (size_t i = 0; i < sizeof printed / sizeof printed[0]; i++) {
        if (!uvfib__bench_pct_ok(n, printed[i])) {
            warn(w, "%s: p%g and above withheld: %" PRIu64 " latencies, p%g needs %" PRIu64
                    " (at least one sample beyond it); run longer or faster for them", name,
                 printed[i], n, printed[i], uvfib__bench_pct_min_samples(printed[i]));
            return;
        }
    }
}

void uvfib__bench_check_honesty(const uvfib__bench_opts_t *o, const uvfib__bench_result_t *res,
                                uvfib__bench_warnings_t *w)
{
    w->n = 0;
    const uvfib__bench_stats_t *p = &res->probe;
    bool probe_on = o->probe_rate > 0.0;

    if (probe_on && p->n_sent > 0 &&
        (double)p->n_late_generator > UVFIB__BENCH_GEN_LATE_SHARE * (double)p->n_sent) {
        /* The timer lag's p99 under the rule every percentile follows; else its maximum. */
        double lag_p99 = uvfib__bench_hist_pct_ms(&res->gen.timer_lag_ns, 99.0);
        bool p99 = !isnan(lag_p99);
        warn(w, "generator: %" PRIu64 " of %" PRIu64 " probe sends (%.1f%%) left over %.0f ms "
                "late because uvfib-bench's own loop was behind (timer lag %s %.3f ms): it did "
                "not keep the probe's rate, and those latencies include its delay",
             p->n_late_generator, p->n_sent,
             100.0 * (double)p->n_late_generator / (double)p->n_sent,
             (double)UVFIB__BENCH_LATE_NS / 1e6, p99 ? "p99" : "max",
             p99 ? lag_p99 : (double)uvfib__hist_max(&res->gen.timer_lag_ns) / 1e6);
    }
    if (res->window_s > 0.0 && res->gen.cpu_s / res->window_s >= UVFIB__BENCH_GEN_CPU_FULL) {
        warn(w, "generator: uvfib-bench used %.2f cores over the window and runs on one thread: "
                "it was CPU-bound, so its latencies include its own queueing and the load's "
                "throughput is its limit as much as the server's",
             res->gen.cpu_s / res->window_s);
    }
    bool behind = probe_on && p->n_intended > 0 &&
                  (double)p->n_sent < 0.9 * (double)p->n_intended;
    if (probe_on && p->n_intended > 0 && p->n_connects == 0 &&
        p->n_errors[UVFIB__BENCH_ERR_CONNECT] > 0) {
        warn(w, "probe: no connection was ever accepted (%" PRIu64 " connect errors): nothing "
                "was measured; is the server listening on %s?",
             p->n_errors[UVFIB__BENCH_ERR_CONNECT], res->address);
    } else if (behind) {
        warn(w, "probe: %" PRIu64 " of %" PRIu64 " intended requests were sent: responses came "
                "slower than the rate over %u connections allows (latency still counts from "
                "the intended times; more --probe-connections keep the rate)",
             p->n_sent, p->n_intended, o->probe_conns);
    }
    /* A probe already behind its schedule has unsent requests all along, not only at the end:
     * the warning above says so. */
    if (probe_on && !behind && p->n_connects > 0 && p->n_unfinished > o->probe_conns) {
        warn(w, "probe: %" PRIu64 " requests were due and unanswered when the run ended: the "
                "server was stalled at the end; each counts in the latencies with the wait it "
                "had by then",
             p->n_unfinished);
    }
    if (probe_on)
        check_samples("probe", &p->latency_ns, w);
    if (o->load_conns > 0)
        check_samples("load", &res->load.latency_ns, w);
    size_t n_rows = res->timeline.n_rows;
    if (o->metrics_url != NULL && res->n_scrapes_ok < n_rows) {
        warn(w, "server metrics: %zu of %zu seconds have no scrape%s%s", n_rows -
             (size_t)res->n_scrapes_ok, n_rows, res->scrape_error[0] ? "; first failure: " : "",
             res->scrape_error);
    }
}

uvfib__bench_thr_subject_t uvfib__bench_check_subject(const uvfib__bench_result_t *res,
                                                      bool on_load)
{
    const uvfib__bench_stats_t *st = on_load ? &res->load : &res->probe;
    uvfib__bench_thr_subject_t s = {
        .latency_ns = &st->latency_ns,
        .requests = st->n_responses,
        .errors = uvfib__bench_errors_total(st),
        .failures = uvfib__bench_failures(st),
        .window_s = res->window_s,
    };
    return s;
}

unsigned uvfib__bench_check_thresholds(const uvfib__bench_opts_t *o,
                                       const uvfib__bench_result_t *res,
                                       uvfib__bench_thr_verdict_t *verdicts)
{
    unsigned failed = 0;
    for (unsigned i = 0; i < o->n_thresholds; i++) {
        const uvfib__bench_threshold_t *t = &o->thresholds[i];
        uvfib__bench_thr_subject_t s = uvfib__bench_check_subject(res, t->on_load);
        verdicts[i] = uvfib__bench_threshold_eval(t, &s);
        failed += !verdicts[i].held;
    }
    return failed;
}
