/* timeline.c - per-second rows (timeline.h): allocation, the row of an instant, and closing
 * rows as time passes, which turns the open row's latency histograms into summaries. */
#include "timeline.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *uvfib__bench_scrape_status_name(uvfib__bench_scrape_status_t st)
{
    switch (st) {
    case UVFIB__BENCH_SCRAPE_NONE:
        return "none";
    case UVFIB__BENCH_SCRAPE_OK:
        return "ok";
    case UVFIB__BENCH_SCRAPE_BUSY:
        return "busy";
    case UVFIB__BENCH_SCRAPE_FAILED:
        return "failed";
    case UVFIB__BENCH_SCRAPE_TIMEOUT:
        return "timeout";
    case UVFIB__BENCH_SCRAPE_STATUS:
        return "status";
    case UVFIB__BENCH_SCRAPE_TOO_LARGE:
        return "too_large";
    }
    return "?";
}

int uvfib__bench_timeline_init(uvfib__bench_timeline_t *tl, double duration_s)
{
    memset(tl, 0, sizeof *tl);
    size_t n = (size_t)ceil(duration_s - 1e-9);
    if (n == 0)
        return 0;
    tl->rows = calloc(n, sizeof *tl->rows);
    if (tl->rows == NULL)
        return -1;
    tl->n_rows = n;
    for (size_t i = 0; i < n; i++) {
        uvfib__bench_row_t *r = &tl->rows[i];
        r->t_s = (double)i;
        r->span_s = 1.0;
        r->gen_cpu = NAN;
        r->gen_timer_lag_max_ms = 0.0;
        r->scrape_ms = NAN;
        for (int m = 0; m < UVFIB__BENCH_N_SERVER_METRICS; m++)
            r->server[m] = NAN;
        r->probe.latency = uvfib__bench_summarize(&tl->open_probe);   /* empty: all NaN */
        r->load.latency = r->probe.latency;
    }
    return 0;
}

void uvfib__bench_timeline_free(uvfib__bench_timeline_t *tl)
{
    free(tl->rows);
    memset(tl, 0, sizeof *tl);
}

/* Closes rows up to (not including) row `until`. */
static void close_rows(uvfib__bench_timeline_t *tl, size_t until)
{
    if (until > tl->n_rows)
        until = tl->n_rows;
    while (tl->n_closed < until) {
        uvfib__bench_row_t *r = &tl->rows[tl->n_closed];
        r->probe.latency = uvfib__bench_summarize(&tl->open_probe);
        r->load.latency = uvfib__bench_summarize(&tl->open_load);
        uvfib__hist_reset(&tl->open_probe);
        uvfib__hist_reset(&tl->open_load);
        tl->n_closed++;
    }
}

uvfib__bench_row_t *uvfib__bench_timeline_at(uvfib__bench_timeline_t *tl, uint64_t offset_ns)
{
    size_t i = (size_t)(offset_ns / UVFIB__BENCH_NS_PER_ROW);
    close_rows(tl, i);
    return i < tl->n_rows ? &tl->rows[i] : NULL;
}

void uvfib__bench_timeline_latency(uvfib__bench_timeline_t *tl, uint64_t offset_ns,
                                   bool is_probe, uint64_t latency_ns)
{
    size_t i = (size_t)(offset_ns / UVFIB__BENCH_NS_PER_ROW);
    close_rows(tl, i);
    /* Only the open row takes latencies; an instant before it (out of order) is dropped. */
    if (i != tl->n_closed || i >= tl->n_rows)
        return;
    uvfib__hist_record(is_probe ? &tl->open_probe : &tl->open_load, latency_ns);
}

void uvfib__bench_timeline_finish(uvfib__bench_timeline_t *tl, uint64_t window_ns)
{
    size_t n = (size_t)((window_ns + UVFIB__BENCH_NS_PER_ROW - 1) / UVFIB__BENCH_NS_PER_ROW);
    if (n < tl->n_rows)
        tl->n_rows = n;
    close_rows(tl, tl->n_rows);
    if (tl->n_rows > 0) {
        uvfib__bench_row_t *last = &tl->rows[tl->n_rows - 1];
        last->span_s = (double)(window_ns - (tl->n_rows - 1) * UVFIB__BENCH_NS_PER_ROW) / 1e9;
    }
}

const int uvfib__bench_series_lag_p99[2] = {UVFIB__BENCH_SM_UVFIB_LAG_P99,
                                            UVFIB__BENCH_SM_NODE_LAG_P99};
const int uvfib__bench_series_lag_max[2] = {UVFIB__BENCH_SM_UVFIB_LAG_MAX,
                                            UVFIB__BENCH_SM_NODE_LAG_MAX};
const int uvfib__bench_series_elu[2] = {UVFIB__BENCH_SM_UVFIB_ELU, UVFIB__BENCH_SM_NODE_ELU};

int uvfib__bench_timeline_pick(const uvfib__bench_timeline_t *tl, const int *candidates,
                               size_t n)
{
    for (size_t k = 0; k < n; k++) {
        for (size_t i = 0; i < tl->n_rows; i++) {
            if (!isnan(tl->rows[i].server[candidates[k]]))
                return candidates[k];
        }
    }
    return -1;
}
