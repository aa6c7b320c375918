/* metrics.h - the server's measurements as plain numbers and histograms, and their Prometheus
 * text. Pure C: no libuv, no clock, no thread.
 *
 * One definition per number: every counter and every plain gauge is one line of a table below
 * (its field, its Prometheus name and labels, its help). The server counts a counter where it
 * happens; /metrics, uvfib_server_stats() and the table in docs/observability.md (a test holds
 * it to these tables) all read one snapshot. Adding a metric is one line here and its
 * recording site.
 *
 * Threads: one struct belongs to the loop thread. Pool threads never touch it. */
#ifndef UVFIB_METRICS_H
#define UVFIB_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "hist.h"
#include "prom.h"

/* X(field, prometheus name, labels, help) of every counter, in /metrics order. Counters
 * sharing a name (labels differ) stand next to each other, the later ones with NULL help. */
#define UVFIB__COUNTERS(X)                                                                        \
    X(jobs_completed, "uvfib_pool_jobs_completed_total", "", "Computations that ran to the end.") \
    X(jobs_cancelled, "uvfib_pool_jobs_cancelled_total", "",                                      \
      "Computations dropped or stopped because their client went away, or the server closed its " \
      "connection at a drain's deadline.")                                                        \
    X(jobs_timed_out, "uvfib_pool_jobs_timed_out_total", "",                                      \
      "Computations stopped by --compute-timeout.")                                               \
    X(jobs_rejected, "uvfib_pool_jobs_rejected_total", "",                                        \
      "Computations refused because the queue was full (--max-queue).")                          \
    X(jobs_inline, "uvfib_pool_jobs_inline_total", "",                                            \
      "Computations run on the loop thread (mode inline, or cheap ones in mode auto).")           \
    X(job_handbacks, "uvfib_pool_handbacks_total", "",                                            \
      "Times the loop took finished computations back (completed per hand-back: see "            \
      "--coalesce-ms).")                                                                          \
    X(requests_total, "uvfib_http_requests_parsed_total", "", "Requests parsed and routed.")      \
    X(responses_total, "uvfib_http_responses_total", "", "Responses written to the end.")         \
    X(parse_errors, "uvfib_http_parse_errors_total", "",                                          \
      "Connections closed for a malformed request.")                                              \
    X(requests_abandoned, "uvfib_http_requests_abandoned_total", "",                              \
      "Requests left unanswered when the server closed their connection (a drain's deadline): "  \
      "code 444.")                                                                                \
    X(request_timeouts, "uvfib_http_request_timeouts_total", "",                                  \
      "Connections closed with 408: a request did not arrive within --header-timeout.")           \
    X(connections_total, "uvfib_http_connections_total", "", "Connections accepted.")             \
    X(connections_rejected, "uvfib_http_connections_rejected_total", "",                          \
      "Connections closed at once: over --max-connections or draining.")                          \
    X(bytes_in, "uvfib_http_received_bytes_total", "", "Bytes read from clients.")                \
    X(bytes_out, "uvfib_http_sent_bytes_total", "", "Response bytes written to clients.")         \
    X(shed_loop_delay, "uvfib_shed_requests_total", "reason=\"loop_delay\"",                      \
      "Computations refused with 503 while overloaded, by reason.")                               \
    X(shed_queue_wait, "uvfib_shed_requests_total", "reason=\"queue_wait\"", NULL)              \
    X(log_lines, "uvfib_accesslog_lines_total", "",                                               \
      "Access-log lines handed to the writer thread (0 while the log is off).")                  \
    X(log_dropped, "uvfib_accesslog_dropped_lines_total", "",                                     \
      "Access-log lines never written: the writer's buffer was full, the descriptor failed, or "  \
      "a shutdown gave up on it.")                                                                \
    X(oom, "uvfib_metrics_lost_total", "", "Measurements lost for want of memory.")

/* X(field, prometheus name, help) of every plain gauge: a number the snapshot reads now. */
#define UVFIB__GAUGES(X)                                                                          \
    X(threads, "uvfib_pool_threads", "Computations run in libuv's pool at once, at most "         \
                                     "(--threads).")                                              \
    X(busy_threads, "uvfib_pool_busy_threads",                                                    \
      "Computations a pool thread has taken and the loop has not taken back yet.")                \
    X(waiting_jobs, "uvfib_pool_waiting_jobs", "Computations waiting for a pool thread now.")     \
    X(expected_wait_s, "uvfib_pool_expected_wait_seconds",                                        \
      "Wait a new computation can expect: waiting jobs / threads * recent compute time, or the "  \
      "oldest waiting one's wait so far if longer; what --max-queue-wait (and a smaller "         \
      "--compute-timeout) is compared with.")                                                     \
    X(connections_open, "uvfib_http_connections_open", "Open client connections.")               \
    X(overloaded, "uvfib_overloaded",                                                             \
      "1 while a new computation would be refused with 503 (loop delay, full queue, expected "    \
      "wait).")                                                                                   \
    X(draining, "uvfib_draining", "1 during a graceful shutdown.")

/* The counters, one field each. */
struct uvfib__counters {
#define UVFIB__COUNTER_FIELD(field, name, labels, help) uint64_t field;
    UVFIB__COUNTERS(UVFIB__COUNTER_FIELD)
#undef UVFIB__COUNTER_FIELD
};

/* Responses counted per route pattern and status code, a short list. */
struct uvfib__route_count {
    const char *route;               /* borrowed: a route's pattern, or a static string */
    int code;                        /* HTTP status, 499 for a client that left first */
    uint64_t n;                      /* responses so far */
    struct uvfib__route_count *next; /* owned list */
};

struct uvfib__metrics {
    struct uvfib__counters count;    /* every counter; incremented where it happens */
    uvfib__hist_t lag;               /* ns each monitor tick fired late, since start */
    uvfib__hist_t lag_scrape;        /* the same, since the previous read of /metrics */
    uint64_t lag_win_max[2];         /* the largest of them per shedding window: current and
                                        last completed */
    unsigned lag_cur;                /* index of the current window in lag_win_max */
    uvfib__hist_t iter_busy;         /* ns each loop iteration spent outside the poll wait */
    uvfib__hist_t req_duration;      /* ns from routing a request to its response written */
    uvfib__hist_t job_wait;          /* ns a computation waited for a pool thread */
    uint64_t job_wait_scrape_max;    /* the longest of them since the previous read of
                                        /metrics */
    uvfib__hist_t job_compute;       /* ns a computation ran in the pool, unless its client
                                        cut it short */
    double compute_recent_ns;        /* moving average of job_compute (weight 1/5 per job) */
    struct uvfib__route_count *routes; /* owned */
};

/* Everything /metrics and uvfib_server_stats() show, read at one moment: the counters (a
 * copy), the gauges, and what the loop knows of itself. */
struct uvfib__snapshot {
    struct uvfib__counters count;
#define UVFIB__GAUGE_FIELD(field, name, help) double field;
    UVFIB__GAUGES(UVFIB__GAUGE_FIELD)
#undef UVFIB__GAUGE_FIELD
    const char *version;             /* "0.1.0" */
    const char *mode;                /* "auto", "offload", "inline" */
    double resolution_s;             /* loop-delay monitor period; 0: the monitor is off */
    double scrape_window_s;          /* time since the previous read of /metrics: what the
                                        *_p99_seconds style gauges and elu cover */
    double lag_pending_s;            /* how late the monitor's timer is right now (a stall
                                        its next tick will record); 0 when on time */
    bool elu_available;              /* the loop measures its idle time */
    double elu;                      /* utilisation since the previous read of /metrics */
    double idle_s, active_s;         /* since the server started, when elu_available */
    double loop_delay_recent_s;      /* the figure --max-loop-delay is compared with */
    bool log_enabled;                /* the access log is on */
};

/** Makes m empty (the same as zeroing it). */
void uvfib__metrics_init(struct uvfib__metrics *m);
/** Frees the per-route list; m is empty afterwards. */
void uvfib__metrics_free(struct uvfib__metrics *m);

/** One monitor tick fired lag_ns late, of which since_scrape_ns (at most lag_ns) fell after
 * the previous read of /metrics: the since-the-previous-read figures take only that part, as
 * that read showed the rest (a tick overdue counts in its max). */
void uvfib__metrics_lag(struct uvfib__metrics *m, uint64_t lag_ns, uint64_t since_scrape_ns);
/** Ends the current shedding window: it becomes the last completed one, and a new one
 * starts. */
void uvfib__metrics_rotate(struct uvfib__metrics *m);
/** The largest loop delay of the current shedding window and the last completed one. */
uint64_t uvfib__metrics_recent_lag(const struct uvfib__metrics *m);
/** A read of /metrics is over: the since-the-previous-read figures start again. */
void uvfib__metrics_scrape_reset(struct uvfib__metrics *m);
/** One loop iteration ran callbacks for busy_ns. */
void uvfib__metrics_iteration(struct uvfib__metrics *m, uint64_t busy_ns);
/** A computation that reached a pool thread waited wait_ns, then ran compute_ns, and ended
 * with status (0, UV_ECANCELED: its client left, UV_ETIMEDOUT). Every wait is counted; a run
 * cut short by its client is not (neither in the histogram nor in the recent average). */
void uvfib__metrics_job(struct uvfib__metrics *m, uint64_t wait_ns, uint64_t compute_ns,
                        int status);
/** A request is over: answered with code (499: the client left first) after
 * duration_ns, bytes_out bytes written. route is borrowed and must outlive m. */
void uvfib__metrics_request(struct uvfib__metrics *m, const char *route, int code,
                            uint64_t duration_ns, uint64_t bytes_out);
/** The responses counted for route and code so far. */
uint64_t uvfib__metrics_requests(const struct uvfib__metrics *m, const char *route, int code);

/** Appends every metric in the Prometheus text format (0.0.4) to out: s for the numbers, m for
 * the histograms and the per-route counts. Check out->oom. */
void uvfib__metrics_write(uvfib__buf_t *out, const struct uvfib__metrics *m,
                          const struct uvfib__snapshot *s);

#endif /* UVFIB_METRICS_H */
