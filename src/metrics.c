/* metrics.c - see metrics.h. It records and formats; it never reads a clock, a loop or a socket
 * (that is monitor.c and stats.c). Names follow prom-client's, with uvfib_ for nodejs_. */
#include "metrics.h"

#include "alloc.h"

#include <uv.h>

#include <math.h>
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

void uvfib__metrics_lag(struct uvfib__metrics *m, uint64_t lag_ns, uint64_t since_scrape_ns)
{
    uvfib__hist_record(&m->lag, lag_ns);
    uvfib__hist_record(&m->lag_scrape, since_scrape_ns < lag_ns ? since_scrape_ns : lag_ns);
    if (lag_ns > m->lag_win_max[m->lag_cur])
        m->lag_win_max[m->lag_cur] = lag_ns;
}

void uvfib__metrics_rotate(struct uvfib__metrics *m)
{
    m->lag_cur ^= 1;
    m->lag_win_max[m->lag_cur] = 0;
}

uint64_t uvfib__metrics_recent_lag(const struct uvfib__metrics *m)
{
    uint64_t a = m->lag_win_max[0], b = m->lag_win_max[1];
    return a > b ? a : b;
}

void uvfib__metrics_scrape_reset(struct uvfib__metrics *m)
{
    uvfib__hist_reset(&m->lag_scrape);
    m->job_wait_scrape_max = 0;
}

void uvfib__metrics_iteration(struct uvfib__metrics *m, uint64_t busy_ns)
{
    uvfib__hist_record(&m->iter_busy, busy_ns);
}

void uvfib__metrics_job(struct uvfib__metrics *m, uint64_t wait_ns, uint64_t compute_ns,
                        int status)
{
    uvfib__hist_record(&m->job_wait, wait_ns);
    if (wait_ns > m->job_wait_scrape_max)
        m->job_wait_scrape_max = wait_ns;
    /* A run its client cut short says nothing of what the jobs still waiting will cost: left
     * in, every client that gives up would pull the expected wait down, just when admission
     * needs it. A run stopped at its deadline held its thread that long, so it counts. */
    if (status == UV_ECANCELED)
        return;
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
    m->count.bytes_out += bytes_out;
    struct uvfib__route_count *rc = route_find(m, route, code);
    if (rc == NULL) {
        rc = uvfib__malloc(sizeof(*rc));
        if (rc == NULL) {
            m->count.oom++;
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
                       const struct uvfib__snapshot *v)
{
    one(out, "uvfib_eventloop_lag_resolution_seconds", "gauge",
        "Period of the loop-delay monitor's timer (0: the monitor is off).", v->resolution_s);
    hist(out, "uvfib_eventloop_lag_seconds",
         "How late each tick of the loop-delay monitor fired, since start "
         "(Node's monitorEventLoopDelay minus the resolution).",
         &m->lag, lag_bounds, N_OF(lag_bounds));

    /* prom-client's nodejs_eventloop_lag_*_seconds, and as prom-client since the previous
     * read: whatever stall happened since, the next scrape shows it. */
    static const struct {
        const char *name, *help;
        double pct; /* < 0: min, max, mean, stddev by code below */
    } stats[] = {
        {"uvfib_eventloop_lag_min_seconds", "Smallest loop delay since the previous scrape.", -1},
        {"uvfib_eventloop_lag_max_seconds", "Largest loop delay since the previous scrape, a "
                                            "tick late right now included.", -2},
        {"uvfib_eventloop_lag_mean_seconds", "Mean loop delay since the previous scrape.", -3},
        {"uvfib_eventloop_lag_stddev_seconds", "Standard deviation of loop delay since the "
                                               "previous scrape.", -4},
        {"uvfib_eventloop_lag_p50_seconds", "Median loop delay since the previous scrape.", 50},
        {"uvfib_eventloop_lag_p90_seconds", "90th percentile loop delay since the previous "
                                            "scrape.", 90},
        {"uvfib_eventloop_lag_p99_seconds", "99th percentile loop delay since the previous "
                                            "scrape.", 99},
        {"uvfib_eventloop_lag_p999_seconds", "99.9th percentile loop delay since the previous "
                                             "scrape.", 99.9},
    };
    const uvfib__hist_t *w = &m->lag_scrape;
    /* No tick since the previous scrape (the monitor off, or two scrapes within one period):
     * NaN, as a summary's quantiles with no observations, not a 0 that reads as a healthy loop
     * and never trips an alert. */
    bool none = uvfib__hist_count(w) == 0;
    for (size_t i = 0; i < N_OF(stats); i++) {
        double ns = none                 ? NAN
                    : stats[i].pct == -1 ? (double)uvfib__hist_min(w)
                    : stats[i].pct == -2 ? (double)uvfib__hist_max(w)
                    : stats[i].pct == -3 ? uvfib__hist_mean(w)
                    : stats[i].pct == -4 ? uvfib__hist_stddev(w)
                                         : (double)uvfib__hist_percentile(w, stats[i].pct);
        if (stats[i].pct == -2 && v->lag_pending_s > 0 && (none || v->lag_pending_s * 1e9 > ns))
            ns = v->lag_pending_s * 1e9;
        one(out, stats[i].name, "gauge", stats[i].help, ns / 1e9);
    }
    one(out, "uvfib_eventloop_lag_window_seconds", "gauge",
        "Time the since-the-previous-scrape gauges cover (loop delay, utilization, longest "
        "queue wait).", v->scrape_window_s);
    one(out, "uvfib_eventloop_lag_recent_seconds", "gauge",
        "Largest loop delay in the current and the last --monitor-window: what "
        "--max-loop-delay is compared with.", v->loop_delay_recent_s);

    one(out, "uvfib_eventloop_utilization_available", "gauge",
        "1 when the loop measures its idle time (UV_METRICS_IDLE_TIME), so the utilization "
        "and iteration metrics are meaningful.", v->elu_available ? 1 : 0);
    if (v->elu_available) {
        one(out, "uvfib_eventloop_utilization", "gauge",
            "Event-loop utilization since the previous scrape, 0 to 1: active / (idle + "
            "active), as Node's performance.eventLoopUtilization(previous).", v->elu);
        one(out, "uvfib_eventloop_idle_seconds_total", "counter",
            "Time the loop spent waiting for events (in epoll_wait) since start.", v->idle_s);
        one(out, "uvfib_eventloop_active_seconds_total", "counter",
            "Time the loop spent outside the wait for events since start.", v->active_s);
        hist(out, "uvfib_eventloop_iteration_busy_seconds",
             "Time each loop iteration spent running callbacks (wall time minus idle time).",
             &m->iter_busy, iter_bounds, N_OF(iter_bounds));
    }
}

/* Counters from the table, in its order; a name's header once, with its first sample (the
 * entry that has the help). The access-log counters only while the log is on (nothing would
 * ever count them). */
static void counters(uvfib__buf_t *out, const struct uvfib__snapshot *s)
{
    const char *help;
#define UVFIB__WRITE_COUNTER(field, name, labels, help_text)                                      \
    if (s->log_enabled || strncmp(name, "uvfib_accesslog_", 16) != 0) {                          \
        if ((help = help_text) != NULL)                                                           \
            uvfib__prom_header(out, name, "counter", help);                                       \
        uvfib__prom_sample(out, name, labels[0] != '\0' ? labels : NULL, (double)s->count.field); \
    }
    UVFIB__COUNTERS(UVFIB__WRITE_COUNTER)
#undef UVFIB__WRITE_COUNTER
}

static void gauges(uvfib__buf_t *out, const struct uvfib__snapshot *s)
{
#define UVFIB__WRITE_GAUGE(field, name, help) one(out, name, "gauge", help, s->field);
    UVFIB__GAUGES(UVFIB__WRITE_GAUGE)
#undef UVFIB__WRITE_GAUGE
}

static void histograms_and_routes(uvfib__buf_t *out, const struct uvfib__metrics *m,
                                  const struct uvfib__snapshot *s)
{
    /* Every computation accepted: the ones over and the ones still in the pool. */
    double submitted = (double)(s->count.jobs_completed + s->count.jobs_cancelled +
                                s->count.jobs_timed_out) + s->busy_threads + s->waiting_jobs;
    one(out, "uvfib_pool_jobs_submitted_total", "counter", "Computations accepted into the queue.",
        submitted);
    hist(out, "uvfib_pool_queue_wait_seconds",
         "Time from queueing a computation to a pool thread starting it.", &m->job_wait,
         time_bounds, N_OF(time_bounds));
    one(out, "uvfib_pool_queue_wait_max_seconds", "gauge",
        "Longest a computation waited for a pool thread, of those that came back since the "
        "previous scrape.", (double)m->job_wait_scrape_max / 1e9);
    hist(out, "uvfib_pool_compute_seconds",
         "Time a computation ran in a pool thread (not counting runs cut short by their client "
         "leaving).", &m->job_compute, time_bounds, N_OF(time_bounds));
    uvfib__prom_header(out, "uvfib_http_requests_total", "counter",
                       "Requests finished, by route pattern and status code (499: the client "
                       "left before its response was written; 444: the server closed the "
                       "connection unanswered at a drain's deadline).");
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
}

void uvfib__metrics_write(uvfib__buf_t *out, const struct uvfib__metrics *m,
                          const struct uvfib__snapshot *s)
{
    uvfib__prom_header(out, "uvfib_info", "gauge", "Version and offload mode of this server.");
    uvfib__buf_printf(out, "uvfib_info{version=\"");
    uvfib__prom_label_escape(out, s->version);
    uvfib__buf_printf(out, "\",mode=\"");
    uvfib__prom_label_escape(out, s->mode);
    uvfib__buf_printf(out, "\"} 1\n");
    event_loop(out, m, s);
    gauges(out, s);
    counters(out, s);
    histograms_and_routes(out, m, s);
}
