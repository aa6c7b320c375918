/* report.c - prints one uvfib-bench run: tables for people (with the timeline on request),
 * or one JSON object (format 1, docs/bench-tool.md) for scripts, dashboards and
 * autocannon-compare. Pure: it formats numbers it is given and measures nothing. */
#include "bench.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "stats.h"

static double throughput(const uvfib__bench_stats_t *st, double window_s)
{
    return window_s > 0.0 ? (double)st->n_responses / window_s : 0.0;
}

static double per_s(uint64_t n, double span_s)
{
    return span_s > 0.0 ? (double)n / span_s : 0.0;
}

/* ------------------------------------------------------------------------------------------
 * Tables
 * ------------------------------------------------------------------------------------------ */

/* Prints a value in ms into a column of `width`, or "-" when it is withheld (NaN). */
static void print_ms(FILE *out, int width, double ms)
{
    if (isnan(ms))
        fprintf(out, " %*s", width, "-");
    else
        fprintf(out, " %*.3f", width, ms);
}

static void text_latency_row(FILE *out, const char *label, const uvfib__hist_t *h,
                             const char *note)
{
    uvfib__bench_summary_t l = uvfib__bench_summarize(h);
    if (l.count == 0) {
        fprintf(out, "%-15s %9" PRIu64 "  (no responses)\n", label, l.count);
        return;
    }
    fprintf(out, "%-15s %9" PRIu64, label, l.count);
    const double vals[] = {l.mean, uvfib__bench_summary_pct(&l, 50.0),
                           uvfib__bench_summary_pct(&l, 90.0), uvfib__bench_summary_pct(&l, 99.0),
                           uvfib__bench_summary_pct(&l, 99.9), l.max, l.stddev};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        print_ms(out, 9, vals[i]);
    fprintf(out, "  %s\n", note);
}

/* The per-second table (--timeline). */
static void text_timeline(FILE *out, const uvfib__bench_opts_t *o,
                          const uvfib__bench_result_t *res)
{
    const uvfib__bench_timeline_t *tl = &res->timeline;
    int lag_p99 = uvfib__bench_timeline_pick(tl, uvfib__bench_series_lag_p99, 2);
    int lag_max = uvfib__bench_timeline_pick(tl, uvfib__bench_series_lag_max, 2);
    bool server = o->metrics_url != NULL;

    fprintf(out, "\ntimeline (one row per second; latency ms by arrival; server lag ms as "
                 "scraped at the row's end)\n");
    fprintf(out, "%6s %6s %6s %5s %4s %9s %9s %9s %8s %9s %6s %5s", "t(s)", "due", "sent", "late",
            "gen", "p50", "p99", "max", "load/s", "load p50", "errors", "cpu");
    if (server)
        fprintf(out, " %9s %9s %7s", "lag p99", "lag max", "scrape");
    fputc('\n', out);
    for (size_t i = 0; i < tl->n_rows; i++) {
        const uvfib__bench_row_t *r = &tl->rows[i];
        fprintf(out, "%6.0f %6" PRIu64 " %6" PRIu64 " %5" PRIu64 " %4" PRIu64, r->t_s,
                r->probe.intended, r->probe.sent, r->probe.late, r->probe.late_generator);
        print_ms(out, 9, uvfib__bench_summary_pct(&r->probe.latency, 50.0));
        print_ms(out, 9, uvfib__bench_summary_pct(&r->probe.latency, 99.0));
        print_ms(out, 9, r->probe.latency.max);
        fprintf(out, " %8.1f", per_s(r->load.responses, r->span_s));
        print_ms(out, 9, uvfib__bench_summary_pct(&r->load.latency, 50.0));
        fprintf(out, " %6" PRIu64 " %5.2f", r->probe.errors + r->load.errors, r->gen_cpu);
        if (server) {
            print_ms(out, 9, lag_p99 < 0 ? NAN : r->server[lag_p99] * 1e3);
            print_ms(out, 9, lag_max < 0 ? NAN : r->server[lag_max] * 1e3);
            fprintf(out, " %7s", uvfib__bench_scrape_status_name(r->scrape));
        }
        fputc('\n', out);
    }
}

void uvfib__bench_report_thresholds(FILE *out, const uvfib__bench_opts_t *o,
                                    const uvfib__bench_thr_verdict_t *verdicts)
{
    for (unsigned i = 0; i < o->n_thresholds; i++) {
        const uvfib__bench_threshold_t *t = &o->thresholds[i];
        const uvfib__bench_thr_verdict_t *v = &verdicts[i];
        fprintf(out, "  %-5s %-24s ", v->held ? "ok" : "FAIL", t->expr);
        if (v->known)
            fprintf(out, "%s = %.6g %s\n", t->on_load ? "load" : "probe",
                    uvfib__bench_threshold_display(t, v->value), uvfib__bench_threshold_unit(t));
        else
            fprintf(out, "no value: %s\n", v->why);
    }
}

void uvfib__bench_report_text(FILE *out, const uvfib__bench_opts_t *o,
                              const uvfib__bench_result_t *res,
                              const uvfib__bench_warnings_t *w,
                              const uvfib__bench_thr_verdict_t *verdicts)
{
    bool load_on = o->load_conns > 0;
    bool probe_on = o->probe_rate > 0.0;

    fprintf(out, "uvfib-bench: %s port %u (%s), %.3f s measured after %.3f s warmup%s, "
                 "timeout %" PRIu64 " ms\n\n",
            o->host, (unsigned)o->port, res->address, res->window_s, o->warmup_s,
            res->interrupted ? " (interrupted)" : "", o->timeout_ms);

    fprintf(out, "%-8s %-24s %6s %10s %10s %10s %10s %9s\n", "workload", "url", "conns",
            "target/s", "requests", "req/s", "unfinished", "connects");
    if (load_on)
        fprintf(out, "%-8s %-24s %6u %10s %10" PRIu64 " %10.2f %10" PRIu64 " %9" PRIu64 "\n",
                "load", o->load_url, o->load_conns, "-", res->load.n_responses,
                throughput(&res->load, res->window_s), res->load.n_unfinished,
                res->load.n_connects);
    if (probe_on)
        fprintf(out, "%-8s %-24s %6u %10.2f %10" PRIu64 " %10.2f %10" PRIu64 " %9" PRIu64 "\n",
                "probe", o->probe_url, o->probe_conns, o->probe_rate, res->probe.n_responses,
                throughput(&res->probe, res->window_s), res->probe.n_unfinished,
                res->probe.n_connects);

    fprintf(out, "\n%-8s %8s %8s %8s %8s %8s %8s %8s\n", "errors", "total", "4xx", "5xx",
            "connect", "read", "parse", "timeout");
    const uvfib__bench_stats_t *rows[2] = {load_on ? &res->load : NULL,
                                           probe_on ? &res->probe : NULL};
    const char *names[2] = {"load", "probe"};
    for (int i = 0; i < 2; i++) {
        const uvfib__bench_stats_t *st = rows[i];
        if (st == NULL)
            continue;
        fprintf(out, "%-8s %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64
                     " %8" PRIu64 " %8" PRIu64 "\n",
                names[i], uvfib__bench_errors_total(st), st->n_4xx, st->n_5xx,
                st->n_errors[UVFIB__BENCH_ERR_CONNECT], st->n_errors[UVFIB__BENCH_ERR_READ],
                st->n_errors[UVFIB__BENCH_ERR_PARSE], st->n_errors[UVFIB__BENCH_ERR_TIMEOUT]);
    }

    fprintf(out, "\n%-15s %9s %9s %9s %9s %9s %9s %9s %9s\n", "latency (ms)", "count", "mean",
            "p50", "p90", "p99", "p99.9", "max", "stddev");
    if (load_on)
        text_latency_row(out, "load", &res->load.latency_ns, "closed loop, from send");
    if (probe_on) {
        text_latency_row(out, "probe", &res->probe.latency_ns, "corrected: from intended send");
        text_latency_row(out, "probe service", &res->probe.service_ns,
                         "uncorrected: from actual send");
    }
    fprintf(out, "(- : withheld, too few samples: p99 needs 100, p99.9 needs 1000)\n");

    fprintf(out, "\ngenerator: %.2f cores", res->window_s > 0 ? res->gen.cpu_s / res->window_s
                                                              : 0.0);
    if (probe_on) {
        fprintf(out, "; probe sends %" PRIu64 " of %" PRIu64 " due, %" PRIu64 " late (%" PRIu64
                     " by the generator's own lag), timer lag p99 ",
                res->probe.n_sent, res->probe.n_intended, res->probe.n_late,
                res->probe.n_late_generator);
        double lag_p99 = uvfib__bench_hist_pct_ms(&res->gen.timer_lag_ns, 99.0);
        if (isnan(lag_p99))
            fputs("-", out); /* withheld, as every percentile with too few samples */
        else
            fprintf(out, "%.3f ms", lag_p99);
    }
    fputc('\n', out);
    if (o->metrics_url != NULL)
        fprintf(out, "server metrics: %s (%s), %" PRIu64 " of %" PRIu64 " scrapes answered\n",
                o->metrics_url, res->metrics_address, res->n_scrapes_ok, res->n_scrapes);

    if (o->timeline_text)
        text_timeline(out, o, res);
    if (w->n > 0) {
        fprintf(out, "\nwarnings:\n");
        for (unsigned i = 0; i < w->n; i++)
            fprintf(out, "  - %s\n", w->text[i]);
    }
    if (o->n_thresholds > 0) {
        fprintf(out, "\nthresholds:\n");
        uvfib__bench_report_thresholds(out, o, verdicts);
    }
}

/* ------------------------------------------------------------------------------------------
 * JSON
 * ------------------------------------------------------------------------------------------ */

/* Adders that report cJSON's out-of-memory as false, so one check covers a whole tree. */

static bool add_u64(cJSON *obj, const char *key, uint64_t v)
{
    /* Raw digits keep a uint64 exact; cJSON's numbers are doubles. */
    char digits[24];
    snprintf(digits, sizeof digits, "%" PRIu64, v);
    return cJSON_AddRawToObject(obj, key, digits) != NULL;
}

/* Adds a number rounded to `decimals` places, so the text is short and stable; NaN and
 * infinities (withheld or unknown values) become null. */
static bool add_num(cJSON *obj, const char *key, double v, int decimals)
{
    if (!isfinite(v))
        return cJSON_AddNullToObject(obj, key) != NULL;
    double scale = pow(10.0, decimals);
    return cJSON_AddNumberToObject(obj, key, round(v * scale) / scale) != NULL;
}

static bool add_str(cJSON *obj, const char *key, const char *s)
{
    return cJSON_AddStringToObject(obj, key, s) != NULL;
}

/* Latency in the format-1 shape: count, mean, stddev, min, p50, p90, p99, p99_9, max. */
static bool add_latency(cJSON *obj, const char *key, const uvfib__bench_summary_t *l)
{
    cJSON *lat = cJSON_AddObjectToObject(obj, key);
    if (lat == NULL)
        return false;
    return add_u64(lat, "count", l->count) && add_num(lat, "mean", l->mean, 3) &&
           add_num(lat, "stddev", l->stddev, 3) && add_num(lat, "min", l->min, 3) &&
           add_num(lat, "p50", uvfib__bench_summary_pct(l, 50.0), 3) &&
           add_num(lat, "p90", uvfib__bench_summary_pct(l, 90.0), 3) &&
           add_num(lat, "p99", uvfib__bench_summary_pct(l, 99.0), 3) &&
           add_num(lat, "p99_9", uvfib__bench_summary_pct(l, 99.9), 3) &&
           add_num(lat, "max", l->max, 3);
}

/* One of autocannon's blocks: average, mean, stddev, min, max, its percentiles, then the
 * extra keys the caller adds (totalCount, total, sent). */
static cJSON *add_autocannon_block(cJSON *obj, const char *key, const uvfib__bench_summary_t *s,
                                   int decimals)
{
    cJSON *b = cJSON_AddObjectToObject(obj, key);
    bool ok = b != NULL && add_num(b, "average", s->mean, decimals) &&
              add_num(b, "mean", s->mean, decimals) &&
              add_num(b, "stddev", s->stddev, decimals) && add_num(b, "min", s->min, decimals) &&
              add_num(b, "max", s->max, decimals);
    for (int i = 0; ok && i < UVFIB__BENCH_N_PCTS; i++)
        ok = add_num(b, uvfib__bench_pct_keys[i], s->pct[i], decimals);
    return ok ? b : NULL;
}

/* Per-second samples of a workload from the whole rows (a shortened last row would bias
 * them): responses (want_bytes false) or bytes per second. */
static uvfib__bench_summary_t per_second(const uvfib__bench_timeline_t *tl, bool probe,
                                         bool want_bytes)
{
    double *x = calloc(tl->n_rows ? tl->n_rows : 1, sizeof *x);
    size_t n = 0;
    for (size_t i = 0; x != NULL && i < tl->n_rows; i++) {
        const uvfib__bench_row_t *r = &tl->rows[i];
        if (r->span_s < 1.0)
            continue;
        const uvfib__bench_wl_row_t *w = probe ? &r->probe : &r->load;
        x[n++] = (double)(want_bytes ? w->bytes : w->responses);
    }
    uvfib__bench_summary_t s = uvfib__bench_summarize_samples(x, x != NULL ? n : 0);
    free(x);
    return s;
}

/* autocannon's latency (ms), requests (responses per second) and throughput (bytes per
 * second) of one workload, added to obj. */
static bool add_autocannon(cJSON *obj, const uvfib__bench_stats_t *st,
                           const uvfib__bench_timeline_t *tl, bool probe)
{
    uvfib__bench_summary_t lat = uvfib__bench_summarize(&st->latency_ns);
    uvfib__bench_summary_t req = per_second(tl, probe, false);
    uvfib__bench_summary_t thr = per_second(tl, probe, true);
    cJSON *b = add_autocannon_block(obj, "latency", &lat, 3);
    bool ok = b != NULL && add_u64(b, "totalCount", lat.count);
    b = ok ? add_autocannon_block(obj, "requests", &req, 2) : NULL;
    ok = b != NULL && add_u64(b, "total", st->n_responses) && add_u64(b, "sent", st->n_sent);
    b = ok ? add_autocannon_block(obj, "throughput", &thr, 0) : NULL;
    return b != NULL && add_u64(b, "total", st->n_bytes);
}

static bool add_errors(cJSON *w, const uvfib__bench_stats_t *st)
{
    cJSON *e = cJSON_AddObjectToObject(w, "errors");
    return e != NULL && add_u64(e, "total", uvfib__bench_errors_total(st)) &&
           add_u64(e, "status_4xx", st->n_4xx) && add_u64(e, "status_5xx", st->n_5xx) &&
           add_u64(e, "connect", st->n_errors[UVFIB__BENCH_ERR_CONNECT]) &&
           add_u64(e, "read", st->n_errors[UVFIB__BENCH_ERR_READ]) &&
           add_u64(e, "parse", st->n_errors[UVFIB__BENCH_ERR_PARSE]) &&
           add_u64(e, "timeout", st->n_errors[UVFIB__BENCH_ERR_TIMEOUT]);
}

static bool add_workload(cJSON *root, const char *key, bool on, const char *url,
                         unsigned conns, const uvfib__bench_stats_t *st,
                         const uvfib__bench_result_t *res, const uvfib__bench_opts_t *o)
{
    if (!on)
        return cJSON_AddNullToObject(root, key) != NULL;
    cJSON *w = cJSON_AddObjectToObject(root, key);
    if (w == NULL)
        return false;
    bool is_probe = st == &res->probe;
    bool ok = add_str(w, "url", url) && add_u64(w, "connections", conns);
    if (is_probe)
        ok = ok && add_num(w, "rate_rps", o->probe_rate, 3);
    ok = ok && add_u64(w, "requests", st->n_responses) &&
         add_num(w, "throughput_rps", throughput(st, res->window_s), 3) &&
         add_u64(w, "sent", st->n_sent) && add_u64(w, "connects", st->n_connects) &&
         add_u64(w, "unfinished", st->n_unfinished) && add_u64(w, "bytes", st->n_bytes);
    if (is_probe)
        ok = ok && add_u64(w, "intended", st->n_intended) && add_u64(w, "late", st->n_late) &&
             add_u64(w, "late_generator", st->n_late_generator);
    ok = ok && add_errors(w, st);

    uvfib__bench_summary_t lat = uvfib__bench_summarize(&st->latency_ns);
    ok = ok && add_latency(w, "latency_ms", &lat);
    if (is_probe) {
        uvfib__bench_summary_t service = uvfib__bench_summarize(&st->service_ns);
        ok = ok && add_latency(w, "service_ms", &service);
    }
    cJSON *ac = ok ? cJSON_AddObjectToObject(w, "autocannon") : NULL;
    return ac != NULL && add_autocannon(ac, st, &res->timeline, is_probe);
}

/* One workload's part of a timeline row. */
static bool add_row_workload(cJSON *row, const char *key, bool on, bool is_probe,
                             const uvfib__bench_row_t *r)
{
    if (!on)
        return cJSON_AddNullToObject(row, key) != NULL;
    const uvfib__bench_wl_row_t *w = is_probe ? &r->probe : &r->load;
    cJSON *o = cJSON_AddObjectToObject(row, key);
    bool ok = o != NULL;
    if (ok && is_probe)
        ok = add_u64(o, "intended", w->intended);
    ok = ok && add_u64(o, "sent", w->sent);
    if (ok && is_probe)
        ok = add_u64(o, "late", w->late) && add_u64(o, "late_generator", w->late_generator);
    ok = ok && add_u64(o, "responses", w->responses) &&
         add_num(o, "throughput_rps", per_s(w->responses, r->span_s), 3) &&
         add_u64(o, "errors", w->errors) && add_u64(o, "bytes", w->bytes);
    cJSON *l = ok ? cJSON_AddObjectToObject(o, "latency_ms") : NULL;
    return l != NULL && add_u64(l, "count", w->latency.count) &&
           add_num(l, "mean", w->latency.mean, 3) &&
           add_num(l, "p50", uvfib__bench_summary_pct(&w->latency, 50.0), 3) &&
           add_num(l, "p90", uvfib__bench_summary_pct(&w->latency, 90.0), 3) &&
           add_num(l, "p99", uvfib__bench_summary_pct(&w->latency, 99.0), 3) &&
           add_num(l, "max", w->latency.max, 3);
}

static bool add_row_server(cJSON *row, const uvfib__bench_row_t *r, bool scraping)
{
    if (!scraping)
        return cJSON_AddNullToObject(row, "server") != NULL;
    cJSON *s = cJSON_AddObjectToObject(row, "server");
    bool ok = s != NULL && add_str(s, "scrape", uvfib__bench_scrape_status_name(r->scrape)) &&
              add_u64(s, "http_status", (uint64_t)(r->scrape_http > 0 ? r->scrape_http : 0)) &&
              add_num(s, "scrape_ms", r->scrape_ms, 3);
    cJSON *m = ok ? cJSON_AddObjectToObject(s, "metrics") : NULL;
    ok = m != NULL;
    for (int i = 0; ok && i < UVFIB__BENCH_N_SERVER_METRICS; i++) {
        /* Only what the server exported; values keep their digits (seconds, ratios). */
        if (!isnan(r->server[i]))
            ok = add_num(m, uvfib__bench_server_metric_names[i], r->server[i], 9);
    }
    return ok;
}

static bool add_timeline(cJSON *root, const uvfib__bench_opts_t *o,
                         const uvfib__bench_result_t *res)
{
    cJSON *arr = cJSON_AddArrayToObject(root, "timeline");
    bool ok = arr != NULL;
    for (size_t i = 0; ok && i < res->timeline.n_rows; i++) {
        const uvfib__bench_row_t *r = &res->timeline.rows[i];
        cJSON *row = cJSON_CreateObject();
        ok = row != NULL && cJSON_AddItemToArray(arr, row);
        ok = ok && add_num(row, "t_s", r->t_s, 3) && add_num(row, "span_s", r->span_s, 6) &&
             add_row_workload(row, "probe", o->probe_rate > 0.0, true, r) &&
             add_row_workload(row, "load", o->load_conns > 0, false, r);
        cJSON *g = ok ? cJSON_AddObjectToObject(row, "generator") : NULL;
        ok = g != NULL && add_num(g, "cpu_cores", r->gen_cpu, 3) &&
             add_num(g, "timer_lag_max_ms", r->gen_timer_lag_max_ms, 3) &&
             add_row_server(row, r, o->metrics_url != NULL);
    }
    return ok;
}

static bool add_generator(cJSON *root, const uvfib__bench_result_t *res)
{
    cJSON *g = cJSON_AddObjectToObject(root, "generator");
    uvfib__bench_summary_t lag = uvfib__bench_summarize(&res->gen.timer_lag_ns);
    return g != NULL && add_num(g, "cpu_s", res->gen.cpu_s, 3) &&
           add_num(g, "cpu_cores", res->window_s > 0 ? res->gen.cpu_s / res->window_s : NAN, 3) &&
           add_u64(g, "late_sends", res->probe.n_late) &&
           add_u64(g, "late_generator", res->probe.n_late_generator) &&
           add_latency(g, "timer_lag_ms", &lag);
}

static bool add_server_metrics(cJSON *root, const uvfib__bench_opts_t *o,
                               const uvfib__bench_result_t *res)
{
    if (o->metrics_url == NULL)
        return cJSON_AddNullToObject(root, "server_metrics") != NULL;
    cJSON *s = cJSON_AddObjectToObject(root, "server_metrics");
    return s != NULL && add_str(s, "url", o->metrics_url) &&
           add_str(s, "address", res->metrics_address) && add_u64(s, "scrapes", res->n_scrapes) &&
           add_u64(s, "ok", res->n_scrapes_ok) &&
           (res->scrape_error[0] ? add_str(s, "first_error", res->scrape_error)
                                 : cJSON_AddNullToObject(s, "first_error") != NULL);
}

static bool add_verdicts(cJSON *root, const uvfib__bench_opts_t *o,
                         const uvfib__bench_warnings_t *w,
                         const uvfib__bench_thr_verdict_t *verdicts)
{
    cJSON *warnings = cJSON_AddArrayToObject(root, "warnings");
    bool ok = warnings != NULL;
    for (unsigned i = 0; ok && i < w->n; i++) {
        cJSON *s = cJSON_CreateString(w->text[i]);
        ok = s != NULL && cJSON_AddItemToArray(warnings, s);
    }
    cJSON *arr = ok ? cJSON_AddArrayToObject(root, "thresholds") : NULL;
    ok = arr != NULL;
    for (unsigned i = 0; ok && i < o->n_thresholds; i++) {
        const uvfib__bench_threshold_t *t = &o->thresholds[i];
        const uvfib__bench_thr_verdict_t *v = &verdicts[i];
        cJSON *th = cJSON_CreateObject();
        ok = th != NULL && cJSON_AddItemToArray(arr, th);
        ok = ok && add_str(th, "expr", t->expr) &&
             add_str(th, "workload", t->on_load ? "load" : "probe") &&
             cJSON_AddBoolToObject(th, "held", v->held) != NULL &&
             add_num(th, "value", uvfib__bench_threshold_display(t, v->value), 6) &&
             add_str(th, "unit", uvfib__bench_threshold_unit(t)) &&
             (v->known ? cJSON_AddNullToObject(th, "reason") != NULL
                       : add_str(th, "reason", v->why));
    }
    return ok;
}

int uvfib__bench_report_json(FILE *out, const uvfib__bench_opts_t *o,
                             const uvfib__bench_result_t *res,
                             const uvfib__bench_warnings_t *w,
                             const uvfib__bench_thr_verdict_t *verdicts)
{
    cJSON *root = cJSON_CreateObject();
    if (root == NULL)
        return -1;
    bool probe_on = o->probe_rate > 0.0;
    cJSON *target = NULL;
    bool ok = add_str(root, "tool", "uvfib-bench") && add_u64(root, "format", 1) &&
              (target = cJSON_AddObjectToObject(root, "target")) != NULL &&
              add_str(target, "host", o->host) && add_str(target, "address", res->address) &&
              add_u64(target, "port", o->port) && add_num(root, "duration_s", o->duration_s, 6) &&
              add_num(root, "warmup_s", o->warmup_s, 6) &&
              add_num(root, "window_s", res->window_s, 6) &&
              add_u64(root, "timeout_ms", o->timeout_ms) &&
              cJSON_AddBoolToObject(root, "interrupted", res->interrupted) != NULL &&
              add_workload(root, "load", o->load_conns > 0, o->load_url, o->load_conns,
                           &res->load, res, o) &&
              add_workload(root, "probe", probe_on, o->probe_url, o->probe_conns,
                           &res->probe, res, o) &&
              /* autocannon's top level, for autocannon-compare: the probe, else the load. */
              add_num(root, "duration", res->window_s, 6) &&
              add_autocannon(root, probe_on ? &res->probe : &res->load, &res->timeline,
                             probe_on) &&
              add_generator(root, res) && add_server_metrics(root, o, res) &&
              add_timeline(root, o, res) && add_verdicts(root, o, w, verdicts);
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (text == NULL)
        return -1;
    fprintf(out, "%s\n", text);
    cJSON_free(text);
    return 0;
}
