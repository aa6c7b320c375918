/* timeline.h - one row per measured second: what the probe intended and sent, how late,
 * what each workload got back and how fast, the generator's own CPU, and the server's gauges
 * scraped at the end of that second. Pure: client.c fills it as events happen, report.c and
 * htmlreport.c print it. No libuv. */
#ifndef UVFIB_BENCH_TIMELINE_H
#define UVFIB_BENCH_TIMELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hist.h"
#include "promtext.h"
#include "stats.h"

#define UVFIB__BENCH_NS_PER_ROW UINT64_C(1000000000)   /* a row is one second */

/* A probe send is late when it leaves more than this after its intended time, ns. Twice the
 * timers' resolution (1 ms), so an on-time send woken a fraction of a millisecond late by
 * the loop's clock is not counted. */
#define UVFIB__BENCH_LATE_NS UINT64_C(2000000)

/* How the scrape that belongs to a row went. */
typedef enum uvfib__bench_scrape_status {
    UVFIB__BENCH_SCRAPE_NONE = 0,   /* none was made (no --server-metrics, or the run ended) */
    UVFIB__BENCH_SCRAPE_OK,         /* 200 and a body; server[] holds what it exported */
    UVFIB__BENCH_SCRAPE_BUSY,       /* skipped: the previous scrape was still running */
    UVFIB__BENCH_SCRAPE_FAILED,     /* connect, read or parse error */
    UVFIB__BENCH_SCRAPE_TIMEOUT,    /* no complete answer within --timeout */
    UVFIB__BENCH_SCRAPE_STATUS,     /* an answer, but not 200 (scrape_http holds the status) */
    UVFIB__BENCH_SCRAPE_TOO_LARGE,  /* the body passed UVFIB__BENCH_SCRAPE_MAX_BODY */
} uvfib__bench_scrape_status_t;

/* The largest /metrics body read, bytes. */
#define UVFIB__BENCH_SCRAPE_MAX_BODY (4u << 20)

/* Name of a status for reports: "ok", "busy", "failed", "timeout", "status", "too_large". */
const char *uvfib__bench_scrape_status_name(uvfib__bench_scrape_status_t st);

/* One workload in one second. Sends and lateness are counted when a request leaves; responses,
 * errors, bytes and latency when they arrive (so a stall shows in the second it ends, beside
 * the server's gauges for that second). */
typedef struct uvfib__bench_wl_row {
    uint64_t intended;         /* probe: requests due in this second (their intended times) */
    uint64_t sent;             /* requests that left in this second */
    uint64_t late;             /* probe: of those, left over UVFIB__BENCH_LATE_NS after due */
    uint64_t late_generator;   /* probe: of the late, due while the connection was idle: the
                                  generator's own timer was behind, not the server */
    uint64_t responses;        /* complete responses, any status */
    uint64_t errors;           /* status >= 400 and failures */
    uint64_t bytes;            /* bytes read from the server */
    uvfib__bench_summary_t latency;   /* ms; final once the row is closed */
} uvfib__bench_wl_row_t;

typedef struct uvfib__bench_row {
    double t_s;                    /* start, seconds after the measured window began */
    double span_s;                 /* seconds it covers: 1, less for the last of a cut run */
    uvfib__bench_wl_row_t probe;   /* the constant-rate probe */
    uvfib__bench_wl_row_t load;    /* the closed-loop load */
    double gen_cpu;                /* the generator's CPU in this second, cores; NaN unknown */
    double gen_timer_lag_max_ms;   /* the latest a probe timer fired after its due time, ms */
    uvfib__bench_scrape_status_t scrape;   /* the scrape at the end of this second */
    int scrape_http;               /* its HTTP status, 0 if none */
    double scrape_ms;              /* how long it took, ms; NaN when none */
    double server[UVFIB__BENCH_N_SERVER_METRICS];   /* exported values; NaN = not exported */
} uvfib__bench_row_t;

typedef struct uvfib__bench_timeline {
    uvfib__bench_row_t *rows;   /* owned, n_rows of them; freed by uvfib__bench_timeline_free */
    size_t n_rows;              /* rows in the measured window (fewer after _finish on a cut run) */
    size_t n_closed;            /* rows before this one have final latency summaries */
    uvfib__hist_t open_probe;   /* ns; probe latencies of row n_closed, so far */
    uvfib__hist_t open_load;    /* ns; load latencies of row n_closed, so far */
} uvfib__bench_timeline_t;

/* Allocates one row per second of duration_s (rounded up). Zeroed tl is a valid empty
 * timeline too. Returns 0 or -1 (out of memory). */
int uvfib__bench_timeline_init(uvfib__bench_timeline_t *tl, double duration_s);

/* Frees the rows; tl is empty afterwards. */
void uvfib__bench_timeline_free(uvfib__bench_timeline_t *tl);

/* The row holding an instant offset_ns after the window began, or NULL past the last row.
 * Closes the rows that ended before it: call it with instants in time order. */
uvfib__bench_row_t *uvfib__bench_timeline_at(uvfib__bench_timeline_t *tl, uint64_t offset_ns);

/* Records one response's latency (ns) in the row of offset_ns. */
void uvfib__bench_timeline_latency(uvfib__bench_timeline_t *tl, uint64_t offset_ns,
                                   bool is_probe, uint64_t latency_ns);

/* Ends the timeline at window_ns (the measured time, shorter than planned after a signal):
 * drops the rows after it, shortens the last one and closes them all. */
void uvfib__bench_timeline_finish(uvfib__bench_timeline_t *tl, uint64_t window_ns);

/* The first of n server metrics (indexes into row.server) that some row holds, or -1: picks
 * one series among names that mean the same for different servers (uvfib's and Node's p99
 * loop lag). */
int uvfib__bench_timeline_pick(const uvfib__bench_timeline_t *tl, const int *candidates,
                               size_t n);

/* Candidates for the series reports show, in order of preference. */
extern const int uvfib__bench_series_lag_p99[2];    /* uvfib, then Node p99 loop lag */
extern const int uvfib__bench_series_lag_max[2];    /* ... max loop lag */
extern const int uvfib__bench_series_elu[2];        /* ... event-loop utilization */

#endif /* UVFIB_BENCH_TIMELINE_H */
