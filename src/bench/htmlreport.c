/* htmlreport.c - writes the HTML or SVG report (htmlreport.h): a tiny SVG chart writer
 * (axes, linear and log scales, polylines broken at missing values, legends), the charts of
 * a run, and the HTML page around them. Everything is inline; nothing is fetched. */
#include "htmlreport.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hgrm.h"
#include "stats.h"

#define CHART_W 960.0        /* px, whole chart including margins */
#define CHART_H 300.0        /* px */
#define MARGIN_L 70.0        /* px, room for the y labels */
#define MARGIN_R 20.0
#define MARGIN_T 34.0        /* px, room for the title */
#define MARGIN_B 80.0        /* px, x labels and two rows of legend */

/* Series colours; tests look for the legend swatches of these exact colours. */
#define COLOR_P50 "#1f77b4"
#define COLOR_P99 "#e6550d"
#define COLOR_MAX "#d62728"
#define COLOR_SERVICE "#6baed6"
#define COLOR_LOAD "#7f7f7f"
#define COLOR_LAG_P99 "#2ca02c"
#define COLOR_LAG_MAX "#9467bd"
#define COLOR_INTENDED "#bcbd22"
#define COLOR_ERRORS "#8c564b"
#define COLOR_CPU "#17becf"

/* ------------------------------------------------------------------------------------------
 * A chart
 * ------------------------------------------------------------------------------------------ */

struct axis {
    double lo, hi;   /* value range shown */
    bool log;        /* log10 scale (lo > 0) */
};

struct chart {
    FILE *out;            /* borrowed */
    double top;           /* px: y of the chart's top edge in the document */
    struct axis x, y;     /* scales */
    double legend_x;      /* px: where the next legend entry starts, 0 before the first */
    unsigned legend_row;  /* legend row of the next entry, 0 or 1 */
};

static double scale(const struct axis *a, double v)
{
    if (a->log)
        return (log10(v) - log10(a->lo)) / (log10(a->hi) - log10(a->lo));
    return (v - a->lo) / (a->hi - a->lo);
}

static double px_x(const struct chart *c, double v)
{
    return MARGIN_L + scale(&c->x, v) * (CHART_W - MARGIN_L - MARGIN_R);
}

static double px_y(const struct chart *c, double v)
{
    double h = CHART_H - MARGIN_T - MARGIN_B;
    return c->top + MARGIN_T + h - scale(&c->y, v) * h;
}

/* Writes s with &, <, > and " escaped, for text and attribute values. */
static void put_escaped(FILE *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        default:
            fputc(*s, out);
        }
    }
}

/* A linear axis from 0 (or lo) to a round number at or above hi. */
static struct axis linear_axis(double lo, double hi)
{
    if (!(hi > lo))
        hi = lo + 1.0;
    double step = pow(10.0, floor(log10(hi - lo)));
    double top = ceil(hi / step) * step;
    struct axis a = {lo, top > hi ? top : hi, false};
    return a;
}

/* A log axis over whole decades around [lo, hi] (both > 0). */
static struct axis log_axis(double lo, double hi)
{
    if (!(lo > 0.0))
        lo = 1e-3;
    if (!(hi > lo))
        hi = lo * 10.0;
    struct axis a = {pow(10.0, floor(log10(lo))), pow(10.0, ceil(log10(hi))), true};
    if (a.hi <= a.lo)
        a.hi = a.lo * 10.0;
    return a;
}

/* Tick values of an axis: decades on a log axis, 1-2-5 steps on a linear one. */
static size_t ticks(const struct axis *a, double *out, size_t max)
{
    size_t n = 0;
    if (a->log) {
        for (double v = a->lo; v <= a->hi * 1.0001 && n < max; v *= 10.0)
            out[n++] = v;
        return n;
    }
    double raw = (a->hi - a->lo) / 5.0;
    double mag = pow(10.0, floor(log10(raw)));
    double step = raw / mag >= 5.0 ? 5.0 * mag : raw / mag >= 2.0 ? 2.0 * mag : mag;
    for (double v = a->lo; v <= a->hi + step * 1e-6 && n < max; v += step)
        out[n++] = v;
    return n;
}

/* Draws the frame, grid, tick labels, title and axis labels. */
static void chart_begin(struct chart *c, const char *title, const char *x_label,
                        const char *y_label, bool x_as_percentile)
{
    FILE *out = c->out;
    double x0 = MARGIN_L, x1 = CHART_W - MARGIN_R;
    double y0 = c->top + MARGIN_T, y1 = c->top + CHART_H - MARGIN_B;
    fprintf(out, "<g class=\"chart\">\n<text x=\"%.1f\" y=\"%.1f\" class=\"title\">", x0,
            c->top + 20.0);
    put_escaped(out, title);
    fprintf(out, "</text>\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                 "fill=\"#ffffff\" stroke=\"#444444\"/>\n", x0, y0, x1 - x0, y1 - y0);
    double t[16];
    size_t n = ticks(&c->y, t, 16);
    for (size_t i = 0; i < n; i++) {
        double y = px_y(c, t[i]);
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>"
                     "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" text-anchor=\"end\">%g</text>\n",
                x0, y, x1, y, x0 - 6.0, y + 4.0, t[i]);
    }
    n = ticks(&c->x, t, 16);
    for (size_t i = 0; i < n; i++) {
        double x = px_x(c, t[i]);
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>"
                     "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" text-anchor=\"middle\">",
                x, y0, x, y1, x, y1 + 16.0);
        if (x_as_percentile)   /* x is 1/(1-p): 1 -> 0%, 10 -> 90%, 100 -> 99% ... */
            fprintf(out, "%.*f%%", t[i] < 1000.0 ? 0 : (int)lround(log10(t[i])) - 2,
                    100.0 * (1.0 - 1.0 / t[i]));
        else
            fprintf(out, "%g", t[i]);
        fputs("</text>\n", out);
    }
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" class=\"label\" text-anchor=\"middle\">",
            (x0 + x1) / 2, y1 + 32.0);
    put_escaped(out, x_label);
    fprintf(out, "</text>\n<text x=\"%.1f\" y=\"%.1f\" class=\"label\" text-anchor=\"middle\" "
                 "transform=\"rotate(-90 %.1f %.1f)\">", 16.0, (y0 + y1) / 2, 16.0,
            (y0 + y1) / 2);
    put_escaped(out, y_label);
    fputs("</text>\n", out);
}

static void chart_end(struct chart *c)
{
    fputs("</g>\n", c->out);
}

/* Draws a series as polylines through (xs[i], ys[i]), broken where a value is missing (NaN
 * or, on a log axis, not positive), with dots where a point stands alone, and adds its
 * legend entry. */
static void chart_series(struct chart *c, const double *xs, const double *ys, size_t n,
                         const char *color, bool dashed, const char *label)
{
    FILE *out = c->out;
    bool open = false;
    for (size_t i = 0; i < n; i++) {
        bool ok = !isnan(ys[i]) && !isnan(xs[i]) && (!c->y.log || ys[i] > 0.0) &&
                  (!c->x.log || xs[i] > 0.0);
        double y = ok ? fmin(fmax(ys[i], c->y.lo), c->y.hi) : 0.0;
        if (ok && !open) {
            bool alone = i + 1 >= n || isnan(ys[i + 1]);
            if (alone)
                fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n",
                        px_x(c, xs[i]), px_y(c, y), color);
            fprintf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"",
                    color, dashed ? " stroke-dasharray=\"6 3\"" : "");
            open = true;
        }
        if (ok)
            fprintf(out, "%.1f,%.1f ", px_x(c, xs[i]), px_y(c, y));
        if (!ok && open) {
            fputs("\"/>\n", out);
            open = false;
        }
    }
    if (open)
        fputs("\"/>\n", out);
    /* Entries side by side, as wide as their text (about 7 px a character at 12 px), on a
     * second row when the first is full. */
    double width = 30.0 + 7.0 * (double)strlen(label);
    if (c->legend_x == 0.0)
        c->legend_x = MARGIN_L;
    if (c->legend_x + width > CHART_W - MARGIN_R && c->legend_x > MARGIN_L) {
        c->legend_x = MARGIN_L;
        c->legend_row++;
    }
    double lx = c->legend_x;
    double ly = c->top + CHART_H - MARGIN_B + 56.0 + (double)c->legend_row * 16.0;
    fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"10\" fill=\"%s\"/>"
                 "<text x=\"%.1f\" y=\"%.1f\" class=\"legend\">", lx, ly - 9.0, color, lx + 18.0,
            ly);
    put_escaped(out, label);
    fputs("</text>\n", out);
    c->legend_x += width;
}

/* ------------------------------------------------------------------------------------------
 * The charts of a run
 * ------------------------------------------------------------------------------------------ */

/* One per-second series: a value per row (NaN where there is none). */
struct series {
    const char *label;   /* legend text */
    const char *color;   /* stroke */
    bool dashed;         /* dashed line */
    double *v;           /* owned by the caller's arena, n_rows values */
};

/* Range of the positive (log) or all (linear) finite values of some series. */
static void series_range(const struct series *s, size_t n_series, size_t n, bool positive,
                         double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (size_t k = 0; k < n_series; k++) {
        for (size_t i = 0; i < n; i++) {
            double v = s[k].v[i];
            if (isnan(v) || isinf(v) || (positive && !(v > 0.0)))
                continue;
            *lo = fmin(*lo, v);
            *hi = fmax(*hi, v);
        }
    }
}

/* Draws a per-second chart of the series that have at least one value. */
static void timeline_chart(FILE *out, double *top, const uvfib__bench_timeline_t *tl,
                           const double *xs, struct series *s, size_t n_series, bool log_y,
                           const char *title, const char *y_label)
{
    size_t n = tl->n_rows;
    double lo, hi;
    series_range(s, n_series, n, log_y, &lo, &hi);
    struct chart c = {.out = out, .top = *top};
    double x_hi = n > 0 ? tl->rows[n - 1].t_s + tl->rows[n - 1].span_s : 1.0;
    c.x = linear_axis(0.0, x_hi);
    c.y = log_y ? log_axis(lo, hi) : linear_axis(0.0, isinf(hi) ? 1.0 : hi * 1.05);
    chart_begin(&c, title, "seconds into the measured window (each point: the second it ends)",
                y_label, false);
    for (size_t k = 0; k < n_series; k++) {
        double klo, khi;
        series_range(&s[k], 1, n, log_y, &klo, &khi);
        if (!isinf(klo))
            chart_series(&c, xs, s[k].v, n, s[k].color, s[k].dashed, s[k].label);
    }
    if (isinf(lo))
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" class=\"label\">no data</text>\n",
                CHART_W / 2, *top + CHART_H / 2);
    chart_end(&c);
    *top += CHART_H;
}

/* Points of a percentile curve: x = 1/(1-p), y = ms, up to the last level the samples
 * support (x <= count; see stats.h). */
struct curve {
    double *x, *y;   /* owned by the caller */
    size_t n, cap;   /* points used, allocated */
    uint64_t count;  /* samples behind the curve */
};

static void curve_row(const uvfib__bench_hgrm_row_t *row, void *arg)
{
    struct curve *cv = arg;
    double x = row->last ? (double)cv->count : 1.0 / (1.0 - row->percentile / 100.0);
    if (cv->n == cv->cap || x > (double)cv->count * 1.0000001)
        return;
    cv->x[cv->n] = x;
    cv->y[cv->n] = (double)row->value / 1e6;
    cv->n++;
}

static void percentile_chart(FILE *out, double *top, const uvfib__bench_opts_t *o,
                             const uvfib__bench_result_t *res)
{
    const struct {
        const uvfib__hist_t *h;
        const char *label, *color;
        bool on;
    } curves[] = {
        {&res->probe.latency_ns, "probe, corrected (from intended send)", COLOR_P99,
         o->probe_rate > 0.0},
        {&res->probe.service_ns, "probe service (from actual send)", COLOR_SERVICE,
         o->probe_rate > 0.0},
        {&res->load.latency_ns, "load (closed loop, from send)", COLOR_LOAD, o->load_conns > 0},
    };
    enum { N_CURVES = 3, CAP = 1024 };
    struct curve cv[N_CURVES];
    double x_hi = 10.0, y_hi = 0.0;
    for (size_t k = 0; k < N_CURVES; k++) {
        cv[k].x = calloc(2 * CAP, sizeof(double));
        cv[k].y = cv[k].x != NULL ? cv[k].x + CAP : NULL;
        cv[k].n = 0;
        cv[k].cap = cv[k].x != NULL ? CAP : 0;
        cv[k].count = uvfib__hist_count(curves[k].h);
        if (curves[k].on && cv[k].count > 0) {
            uvfib__bench_hgrm_walk(curves[k].h, UVFIB__BENCH_HGRM_TICKS, curve_row, &cv[k]);
            x_hi = fmax(x_hi, (double)cv[k].count);
            y_hi = fmax(y_hi, (double)uvfib__hist_max(curves[k].h) / 1e6);
        }
    }
    struct chart c = {.out = out, .top = *top};
    c.x = log_axis(1.0, x_hi);
    c.y = linear_axis(0.0, y_hi > 0.0 ? y_hi * 1.05 : 1.0);
    chart_begin(&c, "Latency by percentile (HdrHistogram's plot: x = 1/(1-p), log scale)",
                "percentile (the curve stops where fewer than one sample lies beyond)",
                "latency (ms)", true);
    for (size_t k = 0; k < N_CURVES; k++) {
        if (curves[k].on && cv[k].n > 0)
            chart_series(&c, cv[k].x, cv[k].y, cv[k].n, curves[k].color, false, curves[k].label);
        free(cv[k].x);
    }
    chart_end(&c);
    *top += CHART_H;
}

/* Per-second series of the run, drawn as three charts: latency beside the server's loop
 * lag, rates, and the server's and the generator's load. */
static void write_charts(FILE *out, double *top, const uvfib__bench_opts_t *o,
                         const uvfib__bench_result_t *res)
{
    const uvfib__bench_timeline_t *tl = &res->timeline;
    size_t n = tl->n_rows;
    enum { N_VALUES = 13 };
    double *mem = calloc((n ? n : 1) * (N_VALUES + 1), sizeof(double));
    if (mem == NULL)
        return;
    double *xs = mem;
    double *v[N_VALUES];
    for (size_t k = 0; k < N_VALUES; k++)
        v[k] = mem + (k + 1) * (n ? n : 1);
    int lag_p99 = uvfib__bench_timeline_pick(tl, uvfib__bench_series_lag_p99, 2);
    int lag_max = uvfib__bench_timeline_pick(tl, uvfib__bench_series_lag_max, 2);
    int elu = uvfib__bench_timeline_pick(tl, uvfib__bench_series_elu, 2);
    bool probe_on = o->probe_rate > 0.0, load_on = o->load_conns > 0;
    for (size_t i = 0; i < n; i++) {
        const uvfib__bench_row_t *r = &tl->rows[i];
        double span = r->span_s > 0.0 ? r->span_s : 1.0;
        xs[i] = r->t_s + r->span_s;
        v[0][i] = probe_on ? uvfib__bench_summary_pct(&r->probe.latency, 50.0) : NAN;
        v[1][i] = probe_on ? uvfib__bench_summary_pct(&r->probe.latency, 99.0) : NAN;
        v[2][i] = probe_on ? r->probe.latency.max : NAN;
        v[3][i] = load_on ? uvfib__bench_summary_pct(&r->load.latency, 50.0) : NAN;
        v[4][i] = lag_p99 < 0 ? NAN : r->server[lag_p99] * 1e3;
        v[5][i] = lag_max < 0 ? NAN : r->server[lag_max] * 1e3;
        v[6][i] = probe_on ? (double)r->probe.intended / span : NAN;
        v[7][i] = probe_on ? (double)r->probe.responses / span : NAN;
        v[8][i] = load_on ? (double)r->load.responses / span : NAN;
        v[9][i] = (double)(r->probe.errors + r->load.errors) / span;
        v[10][i] = r->gen_cpu;
        v[11][i] = r->server[UVFIB__BENCH_SM_UVFIB_POOL_BUSY];
        v[12][i] = r->server[UVFIB__BENCH_SM_UVFIB_POOL_WAITING];
    }
    /* The last server series is the utilization; it reuses v[4]'s slot only when asked. */
    struct series lat[] = {
        {"probe p50", COLOR_P50, false, v[0]},
        {"probe p99", COLOR_P99, false, v[1]},
        {"probe max", COLOR_MAX, true, v[2]},
        {"load p50", COLOR_LOAD, false, v[3]},
        {lag_p99 < 0 ? "server loop lag p99" : uvfib__bench_server_metric_names[lag_p99],
         COLOR_LAG_P99, false, v[4]},
        {lag_max < 0 ? "server loop lag max" : uvfib__bench_server_metric_names[lag_max],
         COLOR_LAG_MAX, true, v[5]},
    };
    timeline_chart(out, top, tl, xs, lat, 6, true,
                   "Client latency and server loop lag, per second (log scale)", "ms");
    struct series rates[] = {
        {"probe intended/s", COLOR_INTENDED, true, v[6]},
        {"probe responses/s", COLOR_P99, false, v[7]},
        {"load responses/s", COLOR_LOAD, false, v[8]},
        {"errors/s", COLOR_ERRORS, false, v[9]},
    };
    timeline_chart(out, top, tl, xs, rates, 4, false, "Requests per second", "per second");
    for (size_t i = 0; i < n; i++)
        v[4][i] = elu < 0 ? NAN : tl->rows[i].server[elu];
    struct series busy[] = {
        {"generator CPU (cores)", COLOR_CPU, false, v[10]},
        {"uvfib_pool_busy_threads", COLOR_P50, false, v[11]},
        {"uvfib_pool_waiting_jobs", COLOR_MAX, false, v[12]},
        {elu < 0 ? "event-loop utilization" : uvfib__bench_server_metric_names[elu],
         COLOR_LAG_P99, true, v[4]},
    };
    timeline_chart(out, top, tl, xs, busy, 4, false,
                   "Generator CPU, server pool and loop utilization", "cores / threads / jobs");
    free(mem);
}

/* ------------------------------------------------------------------------------------------
 * The page
 * ------------------------------------------------------------------------------------------ */

static const char css[] =
    "body{font-family:sans-serif;margin:24px;color:#222;max-width:1000px}"
    "h1{font-size:22px}h2{font-size:17px;margin-top:28px}"
    "table{border-collapse:collapse;margin:8px 0}"
    "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right;font-size:13px}"
    "th:first-child,td:first-child{text-align:left}"
    ".warn{color:#a33}.ok{color:#284}.fail{color:#c00;font-weight:bold}"
    "svg text{font-family:sans-serif}svg .title{font-size:15px;font-weight:bold}"
    "svg .tick{font-size:11px;fill:#444}svg .label{font-size:12px;fill:#222}"
    "svg .legend{font-size:12px;fill:#222}";

static void cell_ms(FILE *out, double ms)
{
    if (isnan(ms))
        fputs("<td>-</td>", out);
    else
        fprintf(out, "<td>%.3f</td>", ms);
}

static void latency_row(FILE *out, const char *label, const uvfib__hist_t *h)
{
    uvfib__bench_summary_t s = uvfib__bench_summarize(h);
    fprintf(out, "<tr><td>%s</td><td>%" PRIu64 "</td>", label, s.count);
    cell_ms(out, s.mean);
    cell_ms(out, uvfib__bench_summary_pct(&s, 50.0));
    cell_ms(out, uvfib__bench_summary_pct(&s, 90.0));
    cell_ms(out, uvfib__bench_summary_pct(&s, 99.0));
    cell_ms(out, uvfib__bench_summary_pct(&s, 99.9));
    cell_ms(out, s.max);
    fputs("</tr>\n", out);
}

static void write_summary(FILE *out, const uvfib__bench_opts_t *o,
                          const uvfib__bench_result_t *res, const uvfib__bench_warnings_t *w,
                          const uvfib__bench_thr_verdict_t *verdicts)
{
    fputs("<h1>uvfib-bench report</h1>\n<p>Target ", out);
    put_escaped(out, o->host);
    fprintf(out, " port %u (%s): %.3f s measured after %.3f s warm-up%s.</p>\n",
            (unsigned)o->port, res->address, res->window_s, o->warmup_s,
            res->interrupted ? " (interrupted)" : "");
    fputs("<table><tr><th>workload</th><th>url</th><th>connections</th><th>target/s</th>"
          "<th>responses</th><th>per second</th><th>errors</th></tr>\n", out);
    const struct {
        const char *name;
        const char *url;
        unsigned conns;
        bool on;
        const uvfib__bench_stats_t *st;
    } wl[] = {
        {"probe", o->probe_url, o->probe_conns, o->probe_rate > 0.0, &res->probe},
        {"load", o->load_url, o->load_conns, o->load_conns > 0, &res->load},
    };
    for (size_t i = 0; i < 2; i++) {
        if (!wl[i].on)
            continue;
        fprintf(out, "<tr><td>%s</td><td>", wl[i].name);
        put_escaped(out, wl[i].url);
        fprintf(out, "</td><td>%u</td><td>", wl[i].conns);
        if (i == 0)
            fprintf(out, "%.2f", o->probe_rate);
        else
            fputs("closed loop", out);
        fprintf(out, "</td><td>%" PRIu64 "</td><td>%.2f</td><td>%" PRIu64 "</td></tr>\n",
                wl[i].st->n_responses,
                res->window_s > 0 ? (double)wl[i].st->n_responses / res->window_s : 0.0,
                uvfib__bench_errors_total(wl[i].st));
    }
    fputs("</table>\n<table><tr><th>latency (ms)</th><th>count</th><th>mean</th><th>p50</th>"
          "<th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>\n", out);
    if (o->probe_rate > 0.0) {
        latency_row(out, "probe, corrected", &res->probe.latency_ns);
        latency_row(out, "probe service, uncorrected", &res->probe.service_ns);
    }
    if (o->load_conns > 0)
        latency_row(out, "load, from send", &res->load.latency_ns);
    fputs("</table>\n<p>- : withheld, fewer samples than the percentile needs (p99: 100, "
          "p99.9: 1000).</p>\n", out);
    fprintf(out, "<p>Generator: %.2f cores over the window; probe sends %" PRIu64 " of %" PRIu64
                 " due, %" PRIu64 " late, %" PRIu64 " of them by its own lag.",
            res->window_s > 0 ? res->gen.cpu_s / res->window_s : 0.0, res->probe.n_sent,
            res->probe.n_intended, res->probe.n_late, res->probe.n_late_generator);
    if (o->metrics_url != NULL) {
        fputs(" Server metrics from ", out);
        put_escaped(out, o->metrics_url);
        fprintf(out, ": %" PRIu64 " of %" PRIu64 " scrapes answered.", res->n_scrapes_ok,
                res->n_scrapes);
    }
    fputs("</p>\n", out);
    if (w->n > 0) {
        fputs("<h2>Warnings</h2>\n<ul>\n", out);
        for (unsigned i = 0; i < w->n; i++) {
            fputs("<li class=\"warn\">", out);
            put_escaped(out, w->text[i]);
            fputs("</li>\n", out);
        }
        fputs("</ul>\n", out);
    }
    if (o->n_thresholds > 0) {
        fputs("<h2>Thresholds</h2>\n<ul>\n", out);
        for (unsigned i = 0; i < o->n_thresholds; i++) {
            const uvfib__bench_threshold_t *t = &o->thresholds[i];
            const uvfib__bench_thr_verdict_t *v = &verdicts[i];
            fprintf(out, "<li><span class=\"%s\">%s</span> <code>", v->held ? "ok" : "fail",
                    v->held ? "held" : "FAILED");
            put_escaped(out, t->expr);
            if (v->known)
                fprintf(out, "</code>: %.6g %s</li>\n",
                        uvfib__bench_threshold_display(t, v->value),
                        uvfib__bench_threshold_unit(t));
            else
                fprintf(out, "</code>: no value (%s)</li>\n", v->why);
        }
        fputs("</ul>\n", out);
    }
}

/* The height of the SVG that holds every chart. */
#define N_CHARTS 4

int uvfib__bench_htmlreport_write(FILE *out, bool svg_only, const uvfib__bench_opts_t *o,
                                  const uvfib__bench_result_t *res,
                                  const uvfib__bench_warnings_t *w,
                                  const uvfib__bench_thr_verdict_t *verdicts)
{
    double height = N_CHARTS * CHART_H;
    if (svg_only) {
        fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", out);
    } else {
        fprintf(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                     "<title>uvfib-bench report</title>\n<style>%s</style></head><body>\n",
                css);
        write_summary(out, o, res, w, verdicts);
        fputs("<h2>Timeline and percentiles</h2>\n", out);
    }
    fprintf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                 "viewBox=\"0 0 %.0f %.0f\">\n", CHART_W, height, CHART_W, height);
    if (svg_only)
        fprintf(out, "<style>text{font-family:sans-serif}.title{font-size:15px;"
                     "font-weight:bold}.tick{font-size:11px}.label,.legend{font-size:12px}"
                     "</style>\n<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n");
    double top = 0.0;
    write_charts(out, &top, o, res);
    percentile_chart(out, &top, o, res);
    fputs("</svg>\n", out);
    if (!svg_only)
        fputs("<p>Latency rows are placed at the second their responses arrived; server "
              "gauges at the second whose end they were scraped at. The server's gauges cover "
              "the window the server defines.</p>\n</body></html>\n", out);
    return ferror(out) ? -1 : 0;
}
