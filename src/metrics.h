/* metrics.h - the server's measurements as plain numbers and histograms, and their
 * Prometheus text. Pure C: no libuv, no clock, no thread. The loop-facing side
 * (monitor.c) records into it and hands it the gauges it knows at scrape time.
 *
 * Threads: one struct belongs to the loop thread. Pool threads never touch it. */
#ifndef UVFIB_METRICS_H
#define UVFIB_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "hist.h"
#include "prom.h"

/* Responses counted per route pattern and status code, a short list. */
struct uvfib__route_count {
    const char *route;               /* borrowed: a route's pattern, or a static string */
    int code;                        /* HTTP status, 499 for a client that left first */
    uint64_t n;                      /* responses so far */
    struct uvfib__route_count *next; /* owned list */
};

struct uvfib__metrics {
    uvfib__hist_t lag;               /* ns each monitor tick fired late, since start */
    uvfib__hist_t lag_win[2];        /* the same, per window: current and last completed */
    unsigned lag_cur;                /* index of the current window in lag_win */
    uvfib__hist_t iter_busy;         /* ns each loop iteration spent outside the poll wait */
    uvfib__hist_t req_duration;      /* ns from routing a request to its response written */
    uvfib__hist_t job_wait;          /* ns a computation waited for a pool thread */
    uvfib__hist_t job_compute;       /* ns a computation ran in the pool */
    double compute_recent_ns;        /* moving average of job_compute (weight 1/5 per job) */
    struct uvfib__route_count *routes; /* owned */
    uint64_t bytes_in;               /* bytes read from clients */
    uint64_t bytes_out;              /* response bytes written to clients */
    uint64_t shed_loop_delay;        /* computations refused: loop delay over its limit */
    uint64_t shed_queue_wait;        /* computations refused: expected wait over its limit */
    uint64_t log_lines;              /* access-log lines handed to the writer */
    uint64_t log_dropped;            /* access-log lines dropped: its buffer was full */
    uint64_t oom;                    /* measurements lost for want of memory */
};

/* What the loop knows at scrape time. The metrics module reads it and nothing else. */
struct uvfib__metrics_view {
    const char *version;             /* "0.1.0" */
    const char *mode;                /* "auto", "offload", "inline" */
    double resolution_s;             /* loop-delay monitor period; 0: the monitor is off */
    double window_s;                 /* window of the *_p99_seconds style gauges */
    bool elu_available;              /* the loop measures its idle time */
    double elu;                      /* utilisation over the last window, 0..1 */
    double idle_s, active_s;         /* since the server started, when elu_available */
    double loop_delay_recent_s;      /* the figure --max-loop-delay is compared with */
    double expected_wait_s;          /* the figure --max-queue-wait is compared with */
    bool overloaded;                 /* shedding now */
    bool draining;                   /* graceful shutdown in progress */
    unsigned threads, busy_threads, waiting_jobs;
    uint64_t jobs_completed, jobs_cancelled, jobs_timed_out, jobs_rejected, jobs_inline;
    uint64_t connections_open, connections_total, connections_rejected;
    uint64_t requests_total, parse_errors;
    bool log_enabled;
};

/** Makes m empty (the same as zeroing it). */
void uvfib__metrics_init(struct uvfib__metrics *m);
/** Frees the per-route list; m is empty afterwards. */
void uvfib__metrics_free(struct uvfib__metrics *m);

/** One monitor tick fired lag_ns late. */
void uvfib__metrics_lag(struct uvfib__metrics *m, uint64_t lag_ns);
/** Ends the current window: it becomes the last completed one, and a new one starts. */
void uvfib__metrics_rotate(struct uvfib__metrics *m);
/** The current window, or the last completed one. */
const uvfib__hist_t *uvfib__metrics_window(const struct uvfib__metrics *m, bool current);
/** One loop iteration ran callbacks for busy_ns. */
void uvfib__metrics_iteration(struct uvfib__metrics *m, uint64_t busy_ns);
/** A computation that reached a pool thread waited wait_ns, then ran compute_ns. */
void uvfib__metrics_job(struct uvfib__metrics *m, uint64_t wait_ns, uint64_t compute_ns);
/** A request is over: answered with code (499: the client left first) after
 * duration_ns, bytes_out bytes written. route is borrowed and must outlive m. */
void uvfib__metrics_request(struct uvfib__metrics *m, const char *route, int code,
                            uint64_t duration_ns, uint64_t bytes_out);
/** The responses counted for route and code so far. */
uint64_t uvfib__metrics_requests(const struct uvfib__metrics *m, const char *route, int code);

/** Appends every metric in the Prometheus text format (0.0.4) to out. Check out->oom. */
void uvfib__metrics_write(uvfib__buf_t *out, const struct uvfib__metrics *m,
                          const struct uvfib__metrics_view *v);

#endif /* UVFIB_METRICS_H */
