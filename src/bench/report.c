/* report.c - prints one uvfib-bench run: tables for people, or one JSON object (format 1,
 * documented in opts.c's --help) for scripts. Pure: it formats numbers it is given and
 * measures nothing. */
#include "bench.h"

#include <inttypes.h>
#include <math.h>

#include <cjson/cJSON.h>

/* Latency summary of one histogram, in milliseconds. */
struct lat_ms {
    uint64_t count;   /* values in the histogram */
    double mean;      /* ms */
    double stddev;    /* ms */
    double min;       /* ms */
    double p50;       /* ms */
    double p90;       /* ms */
    double p99;       /* ms */
    double p99_9;     /* ms */
    double max;       /* ms */
};

static double ns_to_ms(double ns)
{
    return ns / 1e6;
}

static struct lat_ms summarize(const uvfib__hist_t *h)
{
    struct lat_ms l = {
        .count = uvfib__hist_count(h),
        .mean = ns_to_ms(uvfib__hist_mean(h)),
        .stddev = ns_to_ms(uvfib__hist_stddev(h)),
        .min = ns_to_ms((double)uvfib__hist_min(h)),
        .p50 = ns_to_ms((double)uvfib__hist_percentile(h, 50.0)),
        .p90 = ns_to_ms((double)uvfib__hist_percentile(h, 90.0)),
        .p99 = ns_to_ms((double)uvfib__hist_percentile(h, 99.0)),
        .p99_9 = ns_to_ms((double)uvfib__hist_percentile(h, 99.9)),
        .max = ns_to_ms((double)uvfib__hist_max(h)),
    };
    return l;
}

static uint64_t errors_total(const uvfib__bench_stats_t *st)
{
    uint64_t n = st->n_4xx + st->n_5xx;
    for (int k = 0; k < UVFIB__BENCH_ERR_N; k++)
        n += st->n_errors[k];
    return n;
}

static double throughput(const uvfib__bench_stats_t *st, double window_s)
{
    return window_s > 0.0 ? (double)st->n_responses / window_s : 0.0;
}

/* ------------------------------------------------------------------------------------------
 * Tables
 * ------------------------------------------------------------------------------------------ */

static void text_latency_row(FILE *out, const char *label, const uvfib__hist_t *h,
                             const char *note)
{
    struct lat_ms l = summarize(h);
    if (l.count == 0) {
        fprintf(out, "%-15s %9" PRIu64 "  (no responses)\n", label, l.count);
        return;
    }
    fprintf(out, "%-15s %9" PRIu64 " %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f  %s\n", label,
            l.count, l.mean, l.p50, l.p90, l.p99, l.p99_9, l.max, l.stddev, note);
}

void uvfib__bench_report_text(FILE *out, const uvfib__bench_opts_t *o,
                              const uvfib__bench_result_t *res)
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
                names[i], errors_total(st), st->n_4xx, st->n_5xx,
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

/* Adds a number rounded to `decimals` places, so the text is short and stable. */
static bool add_num(cJSON *obj, const char *key, double v, int decimals)
{
    double scale = pow(10.0, decimals);
    return cJSON_AddNumberToObject(obj, key, round(v * scale) / scale) != NULL;
}

static bool add_str(cJSON *obj, const char *key, const char *s)
{
    return cJSON_AddStringToObject(obj, key, s) != NULL;
}

static bool add_latency(cJSON *obj, const char *key, const uvfib__hist_t *h)
{
    cJSON *lat = cJSON_AddObjectToObject(obj, key);
    if (lat == NULL)
        return false;
    struct lat_ms l = summarize(h);
    const char *keys[] = {"mean", "stddev", "min", "p50", "p90", "p99", "p99_9", "max"};
    const double vals[] = {l.mean, l.stddev, l.min, l.p50, l.p90, l.p99, l.p99_9, l.max};
    bool ok = add_u64(lat, "count", l.count);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (l.count == 0)
            ok = ok && cJSON_AddNullToObject(lat, keys[i]) != NULL;
        else
            ok = ok && add_num(lat, keys[i], vals[i], 3);
    }
    return ok;
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
         add_u64(w, "connects", st->n_connects) && add_u64(w, "unfinished", st->n_unfinished);

    cJSON *e = ok ? cJSON_AddObjectToObject(w, "errors") : NULL;
    ok = e != NULL && add_u64(e, "total", errors_total(st)) &&
         add_u64(e, "status_4xx", st->n_4xx) && add_u64(e, "status_5xx", st->n_5xx) &&
         add_u64(e, "connect", st->n_errors[UVFIB__BENCH_ERR_CONNECT]) &&
         add_u64(e, "read", st->n_errors[UVFIB__BENCH_ERR_READ]) &&
         add_u64(e, "parse", st->n_errors[UVFIB__BENCH_ERR_PARSE]) &&
         add_u64(e, "timeout", st->n_errors[UVFIB__BENCH_ERR_TIMEOUT]);

    ok = ok && add_latency(w, "latency_ms", &st->latency_ns);
    if (is_probe)
        ok = ok && add_latency(w, "service_ms", &st->service_ns);
    return ok;
}

int uvfib__bench_report_json(FILE *out, const uvfib__bench_opts_t *o,
                             const uvfib__bench_result_t *res)
{
    cJSON *root = cJSON_CreateObject();
    if (root == NULL)
        return -1;
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
              add_workload(root, "probe", o->probe_rate > 0.0, o->probe_url, o->probe_conns,
                           &res->probe, res, o);
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (text == NULL)
        return -1;
    fprintf(out, "%s\n", text);
    cJSON_free(text);
    return 0;
}
