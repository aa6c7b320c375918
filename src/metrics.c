/* metrics.c - the server's counters and histograms and their Prometheus text.
 * It records and formats; it never reads a clock, a loop or a socket (that is
 * monitor.c). Names follow prom-client's, with uvfib_ for nodejs_. */
#include "metrics.h"

#include "alloc.h"

#include <stddef.h>
#include <string.h>


void uvfib__metrics_init(struct uvfib__metrics *m)
{
    memset(m, 0, sizeof(*m));
}

void uvfib__metrics_free(struct uvfib__metrics *m)
{
    struct uvfib__route_count *next;
    for (struct uvfib__route_count *rc = m->routes; rc != NULL; rc = next) {
        next = rc->next;
        uvfib__free(rc);
    }
    uvfib__metrics_init(m);
}

void uvfib__metrics_lag(struct uvfib__metrics *m, uint64_t lag_ns)
{
    uvfib__hist_record(&m->lag, lag_ns);
    uvfib__hist_record(&m->lag_win[m->lag_cur], lag_ns);
}

void uvfib__metrics_rotate(struct uvfib__metrics *m)
{
    m->lag_cur ^= 1;
    uvfib__hist_reset(&m->lag_win[m->lag_cur]);
}

const uvfib__hist_t *uvfib__metrics_window(const struct uvfib__metrics *m, bool current)
{
    return &m->lag_win[current ? m->lag_cur : m->lag_cur ^ 1];
}

void uvfib__metrics_iteration(struct uvfib__metrics *m, uint64_t busy_ns)
{
    uvfib__hist_record(&m->iter_busy, busy_ns);
}

void uvfib__metrics_job(struct uvfib__metrics *m, uint64_t wait_ns, uint64_t compute_ns)
{
    uvfib__hist_record(&m->job_wait, wait_ns);
    uvfib__hist_record(&m->job_compute, compute_ns);
    /* An exponential moving average: recent jobs count most, so the queue-wait
     * estimate follows a change of workload within a few jobs. */
    if (m->compute_recent_ns == 0.0)
        m->compute_recent_ns = (double)compute_ns;
    else
        m->compute_recent_ns += ((double)compute_ns - m->compute_recent_ns) / 5.0;
}

static struct uvfib__route_count *route_find(const struct uvfib__metrics *m, const char *route,
                                             int code)
{
    for (struct uvfib__route_count *rc = m->routes; rc != NULL; rc = rc->next)
        if (rc->code == code && (rc->route == route || strcmp(rc->route, route) == 0))
            return rc;
    return NULL;
}

void uvfib__metrics_request(struct uvfib__metrics *m, const char *route, int code,
                            uint64_t duration_ns, uint64_t bytes_out)
{
    uvfib__hist_record(&m->req_duration, duration_ns);
    m->bytes_out += bytes_out;
    struct uvfib__route_count *rc = route_find(m, route, code);
    if (rc == NULL) {
        rc = uvfib__malloc(sizeof(*rc));
        if (rc == NULL) {
            m->oom++;
            return;
        }
        *rc = (struct uvfib__route_count){.route = route, .code = code, .next = m->routes};
        m->routes = rc;
    }
    rc->n++;
}

uint64_t uvfib__metrics_requests(const struct uvfib__metrics *m, const char *route, int code)
{
    const struct uvfib__route_count *rc = route_find(m, route, code);
    return rc != NULL ? rc->n : 0;
}

/* ------------------------------------------------------------- exposition */

static const double lag_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                    0.25,  0.5,    1,     2.5,  5,     10};
static const double iter_bounds[] = {0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005,
                                     0.01,    0.05,    0.1,    0.5,    1,     5};
static const double time_bounds[] = {0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                     0.25,   0.5,    1,     2.5,   5,    10,   30};
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static void one(uvfib__buf_t *out, const char *name, const char *type, const char *help,
                double value)
{
    uvfib__prom_header(out, name, type, help);
    uvfib__prom_sample(out, name, NULL, value);
}

static void hist(uvfib__buf_t *out, const char *name, const char *help, const uvfib__hist_t *h,
                 const double *bounds, size_t n)
{
    uvfib__prom_header(out, name, "histogram", help);
    uvfib__prom_hist_seconds(out, name, NULL, h, bounds, n);
}

static void event_loop(uvfib__buf_t *out, const struct uvfib__metrics *m,
                       const struct uvfib__metrics_view *v)
{
    one(out, "uvfib_eventloop_lag_resolution_seconds", "gauge",
        "Period of the loop-delay monitor's timer (0: the monitor is off).", v->resolution_s);
    hist(out, "uvfib_eventloop_lag_seconds",
         "How late each tick of the loop-delay monitor fired, since start "
         "(Node's monitorEventLoopDelay minus the resolution).",
         &m->lag, lag_bounds, N_OF(lag_bounds));

    /* prom-client's nodejs_eventloop_lag_*_seconds, over the last completed window. */
    static const struct {
        const char *name, *help;
        double pct; /* < 0: min, max, mean, stddev by code below */
    } stats[] = {
        {"uvfib_eventloop_lag_min_seconds", "Smallest loop delay in the last window.", -1},
        {"uvfib_eventloop_lag_max_seconds", "Largest loop delay in the last window.", -2},
        {"uvfib_eventloop_lag_mean_seconds", "Mean loop delay in the last window.", -3},
        {"uvfib_eventloop_lag_stddev_seconds", "Standard deviation of loop delay in the last "
                                               "window.", -4},
        {"uvfib_eventloop_lag_p50_seconds", "Median loop delay in the last window.", 50},
        {"uvfib_eventloop_lag_p90_seconds", "90th percentile loop delay in the last window.", 90},
        {"uvfib_eventloop_lag_p99_seconds", "99th percentile loop delay in the last window.", 99},
        {"uvfib_eventloop_lag_p999_seconds", "99.9th percentile loop delay in the last window.",
         99.9},
    };
    const uvfib__hist_t *w = uvfib__metrics_window(m, false);
    for (size_t i = 0; i < N_OF(stats); i++) {
        double ns = stats[i].pct == -1   ? (double)uvfib__hist_min(w)
                    : stats[i].pct == -2 ? (double)uvfib__hist_max(w)
                    : stats[i].pct == -3 ? uvfib__hist_mean(w)
                    : stats[i].pct == -4 ? uvfib__hist_stddev(w)
                                         : (double)uvfib__hist_percentile(w, stats[i].pct);
        one(out, stats[i].name, "gauge", stats[i].help, ns / 1e9);
    }
    one(out, "uvfib_eventloop_lag_window_seconds", "gauge",
        "Length of the window the uvfib_eventloop_lag_*_seconds gauges cover.", v->window_s);
    one(out, "uvfib_eventloop_lag_recent_seconds", "gauge",
        "Largest loop delay in the current and the last window: what --max-loop-delay is "
        "compared with.", v->loop_delay_recent_s);

    one(out, "uvfib_eventloop_utilization_available", "gauge",
        "1 when the loop measures its idle time (UV_METRICS_IDLE_TIME), so the utilization "
        "and iteration metrics are meaningful.", v->elu_available ? 1 : 0);
    if (v->elu_available) {
        one(out, "uvfib_eventloop_utilization", "gauge",
            "Event-loop utilization over the last window, 0 to 1: active / (idle + active), "
            "as Node's performance.eventLoopUtilization().", v->elu);
        one(out, "uvfib_eventloop_idle_seconds_total", "counter",
            "Time the loop spent waiting for events (in epoll_wait) since start.", v->idle_s);
        one(out, "uvfib_eventloop_active_seconds_total", "counter",
            "Time the loop spent outside the wait for events since start.", v->active_s);
        hist(out, "uvfib_eventloop_iteration_busy_seconds",
             "Time each loop iteration spent running callbacks (wall time minus idle time).",
             &m->iter_busy, iter_bounds, N_OF(iter_bounds));
    }
}

static void pool(uvfib__buf_t *out, const struct uvfib__metrics *m,
                 const struct uvfib__metrics_view *v)
{
    one(out, "uvfib_pool_threads", "gauge",
        "Computations handed to libuv's pool at once, at most (--threads).", v->threads);
    one(out, "uvfib_pool_busy_threads", "gauge", "Computations running in the pool now.",
        v->busy_threads);
    one(out, "uvfib_pool_waiting_jobs", "gauge", "Computations waiting for a pool thread now.",
        v->waiting_jobs);
    uint64_t submitted = v->jobs_completed + v->jobs_cancelled + v->jobs_timed_out +
                         v->busy_threads + v->waiting_jobs;
    one(out, "uvfib_pool_jobs_submitted_total", "counter",
        "Computations accepted into the queue.", (double)submitted);
    one(out, "uvfib_pool_jobs_completed_total", "counter", "Computations that ran to the end.",
        (double)v->jobs_completed);
    one(out, "uvfib_pool_jobs_cancelled_total", "counter",
        "Computations dropped or stopped because their client went away.",
        (double)v->jobs_cancelled);
    one(out, "uvfib_pool_jobs_timed_out_total", "counter",
        "Computations stopped by --compute-timeout.", (double)v->jobs_timed_out);
    one(out, "uvfib_pool_jobs_rejected_total", "counter",
        "Computations refused because the queue was full (--max-queue).",
        (double)v->jobs_rejected);
    one(out, "uvfib_pool_jobs_inline_total", "counter",
        "Computations run on the loop thread (mode inline, or cheap ones in mode auto).",
        (double)v->jobs_inline);
    hist(out, "uvfib_pool_queue_wait_seconds",
         "Time from queueing a computation to a pool thread starting it.", &m->job_wait,
         time_bounds, N_OF(time_bounds));
    hist(out, "uvfib_pool_compute_seconds", "Time a computation ran in a pool thread.",
         &m->job_compute, time_bounds, N_OF(time_bounds));
    one(out, "uvfib_pool_expected_wait_seconds", "gauge",
        "Wait a new computation can expect: waiting jobs / threads * recent compute time; "
        "what --max-queue-wait is compared with.", v->expected_wait_s);
}

static void http(uvfib__buf_t *out, const struct uvfib__metrics *m,
                 const struct uvfib__metrics_view *v)
{
    uvfib__prom_header(out, "uvfib_http_requests_total", "counter",
                       "Requests finished, by route pattern and status code (499: the client "
                       "left before its response was written).");
    uvfib__buf_t labels;
    uvfib__buf_init(&labels);
    for (const struct uvfib__route_count *rc = m->routes; rc != NULL; rc = rc->next) {
        labels.len = 0;
        uvfib__buf_append(&labels, "route=\"", 7);
        uvfib__prom_label_escape(&labels, rc->route);
        uvfib__buf_printf(&labels, "\",code=\"%d\"", rc->code);
        if (labels.oom)
            out->oom = 1;
        else
            uvfib__prom_sample(out, "uvfib_http_requests_total", labels.data, (double)rc->n);
    }
    uvfib__buf_free(&labels);
    hist(out, "uvfib_http_request_duration_seconds",
         "Time from a request's routing to its response written.", &m->req_duration,
         time_bounds, N_OF(time_bounds));
    one(out, "uvfib_http_requests_parsed_total", "counter", "Requests parsed and routed.",
        (double)v->requests_total);
    one(out, "uvfib_http_parse_errors_total", "counter",
        "Connections closed for a malformed request.", (double)v->parse_errors);
    one(out, "uvfib_http_connections_open", "gauge", "Open client connections.",
        (double)v->connections_open);
    one(out, "uvfib_http_connections_total", "counter", "Connections accepted.",
        (double)v->connections_total);
    one(out, "uvfib_http_connections_rejected_total", "counter",
        "Connections closed at once: over --max-connections or draining.",
        (double)v->connections_rejected);
    one(out, "uvfib_http_received_bytes_total", "counter", "Bytes read from clients.",
        (double)m->bytes_in);
    one(out, "uvfib_http_sent_bytes_total", "counter", "Response bytes written to clients.",
        (double)m->bytes_out);
}

void uvfib__metrics_write(uvfib__buf_t *out, const struct uvfib__metrics *m,
                          const struct uvfib__metrics_view *v)
{
    uvfib__prom_header(out, "uvfib_info", "gauge", "Version and offload mode of this server.");
    uvfib__buf_printf(out, "uvfib_info{version=\"");
    uvfib__prom_label_escape(out, v->version);
    uvfib__buf_printf(out, "\",mode=\"");
    uvfib__prom_label_escape(out, v->mode);
    uvfib__buf_printf(out, "\"} 1\n");
    event_loop(out, m, v);
    pool(out, m, v);
    http(out, m, v);

    one(out, "uvfib_overloaded", "gauge",
        "1 while computations are refused with 503 (--max-loop-delay, --max-queue-wait).",
        v->overloaded ? 1 : 0);
    one(out, "uvfib_draining", "gauge", "1 during a graceful shutdown.", v->draining ? 1 : 0);
    uvfib__prom_header(out, "uvfib_shed_requests_total", "counter",
                       "Computations refused with 503 while overloaded, by reason.");
    uvfib__prom_sample(out, "uvfib_shed_requests_total", "reason=\"loop_delay\"",
                       (double)m->shed_loop_delay);
    uvfib__prom_sample(out, "uvfib_shed_requests_total", "reason=\"queue_wait\"",
                       (double)m->shed_queue_wait);
    if (v->log_enabled) {
        one(out, "uvfib_accesslog_lines_total", "counter",
            "Access-log lines handed to the writer thread.", (double)m->log_lines);
        one(out, "uvfib_accesslog_dropped_lines_total", "counter",
            "Access-log lines dropped because the writer's buffer was full.",
            (double)m->log_dropped);
    }
    one(out, "uvfib_metrics_lost_total", "counter",
        "Measurements lost for want of memory.", (double)m->oom);
}
