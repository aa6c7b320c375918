/* monitor.c - watching the loop: a timer that measures how late it fires (loop
 * delay, as Node's monitorEventLoopDelay), a check handle that measures each
 * iteration's busy time, event-loop utilisation from uv_metrics_idle_time(),
 * the request and job hooks, load shedding, the access log's thread, and the
 * /metrics and /readyz routes. The numbers themselves live in metrics.c. */
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------ measuring */

/* Ends the window once it is monitor_window_ms old: its loop-delay histogram
 * becomes the "last window" one, and its utilisation is worked out as Node's
 * eventLoopUtilization(prev) does: (elapsed - idle) / elapsed. */
static void maybe_rotate(struct uvfib__server *srv, uint64_t now_ns)
{
    struct uvfib__monitor *mon = &srv->mon;
    uint64_t window_ns = srv->cfg.monitor_window_ms * 1000000;
    if (now_ns - mon->window_start_ns < window_ns)
        return;
    uint64_t idle = uv_metrics_idle_time(srv->loop);
    if (idle > 0)
        mon->elu_available = true;
    double elapsed = (double)(now_ns - mon->window_start_ns);
    double idle_d = (double)(idle - mon->window_idle_ns);
    double elu = elapsed > 0 ? (elapsed - idle_d) / elapsed : 0;
    mon->elu = elu < 0 ? 0 : elu > 1 ? 1 : elu;
    uvfib__metrics_rotate(&mon->m);
    mon->window_start_ns = now_ns;
    mon->window_idle_ns = idle;
}

/* The timer repeats every resolution; whatever it fires beyond that is time the
 * loop was busy elsewhere. Node records the whole interval; we record only the
 * lateness, so an idle loop reads about 0 rather than about the resolution. */
static void on_lag_tick(uv_timer_t *timer)
{
    struct uvfib__server *srv = timer->data;
    struct uvfib__monitor *mon = &srv->mon;
    uint64_t now = uv_hrtime();
    uint64_t res_ns = srv->cfg.loop_resolution_ms * 1000000;
    uint64_t interval = now - mon->last_tick_ns;
    mon->last_tick_ns = now;
    uvfib__metrics_lag(&mon->m, interval > res_ns ? interval - res_ns : 0);
    maybe_rotate(srv, now);
}

/* Runs once per loop iteration, right after the poll phase ran its I/O
 * callbacks. From one check to the next the loop ran timers, I/O and close
 * callbacks and waited in epoll_wait; the wait is what uv_metrics_idle_time()
 * counts, so the rest is the time spent running callbacks, with no timer floor
 * and without waking an idle loop. Without UV_METRICS_IDLE_TIME the wait
 * cannot be told apart, so nothing is recorded. */
static void on_check(uv_check_t *check)
{
    struct uvfib__server *srv = check->data;
    struct uvfib__monitor *mon = &srv->mon;
    uint64_t now = uv_hrtime();
    uint64_t idle = uv_metrics_idle_time(srv->loop);
    if (idle > 0)
        mon->elu_available = true;
    if (mon->elu_available && mon->last_check_ns != 0) {
        uint64_t wall = now - mon->last_check_ns;
        uint64_t waited = idle - mon->last_check_idle_ns;
        uvfib__metrics_iteration(&mon->m, wall > waited ? wall - waited : 0);
    }
    mon->last_check_ns = now;
    mon->last_check_idle_ns = idle;
    maybe_rotate(srv, now);
}

void uvfib__monitor_bytes_in(struct uvfib__server *srv, size_t n)
{
    srv->mon.m.bytes_in += n;
}

void uvfib__monitor_job_done(struct uvfib__server *srv, const struct uvfib__job *job)
{
    /* A job dropped while waiting never reached a thread. A job that did has its
     * timestamps written by the runner before it went on the done list, which the pool's
     * mutex orders before the loop took it off. */
    if (job->pj.started_ns == 0)
        return;
    uint64_t wait_ns = job->pj.started_ns - job->queued_ns;
    uint64_t compute_ns = job->pj.finished_ns - job->pj.started_ns;
    job->req->wait_ns = wait_ns;
    job->req->compute_ns = compute_ns;
    uvfib__metrics_job(&srv->mon.m, wait_ns, compute_ns);
}

void uvfib__monitor_request_done(struct uvfib__server *srv, uvfib_req_t *req, int status)
{
    struct uvfib__monitor *mon = &srv->mon;
    uint64_t duration_ns = uv_hrtime() - req->start_ns;
    int code = status == 0 && req->answered ? req->status : 499;
    uint64_t bytes = status == 0 ? req->out_len : 0;
    const char *route = req->match.route != NULL ? req->match.route->pattern : "unmatched";
    uvfib__metrics_request(&mon->m, route, code, duration_ns, bytes);
    if (mon->log == NULL)
        return;

    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    bool parsed = req->msg.url != NULL;
    struct uvfib__accesslog_entry e = {
        .time_ms = tv.tv_sec * 1000 + tv.tv_usec / 1000,
        .method = parsed ? llhttp_method_name((llhttp_method_t)req->msg.method) : NULL,
        .target = parsed ? req->msg.url : NULL,
        .route = route,
        .status = code,
        .bytes = bytes,
        .duration_ns = duration_ns,
        .wait_ns = req->wait_ns,
        .compute_ns = req->compute_ns,
    };
    char line[1600];
    size_t len = uvfib__accesslog_format(line, sizeof(line), &e);
    if (len > 0 && uvfib__accesslog_write(mon->log, line, len))
        mon->m.log_lines++;
    else
        mon->m.log_dropped++;
}

/* ------------------------------------------------------------ overload */

uint64_t uvfib__monitor_recent_delay_ns(const struct uvfib__server *srv)
{
    const struct uvfib__metrics *m = &srv->mon.m;
    uint64_t cur = uvfib__hist_max(uvfib__metrics_window(m, true));
    uint64_t last = uvfib__hist_max(uvfib__metrics_window(m, false));
    return cur > last ? cur : last;
}

int uvfib_server_overloaded(const uvfib_server_t *server, char *reason, size_t cap)
{
    struct uvfib__server *srv = server->impl;
    struct uvfib__admission_limits lim;
    struct uvfib__admission_load load;
    struct uvfib__admission d = uvfib__work_admission(srv, true, &lim, &load);
    if (reason != NULL)
        uvfib__admission_reason(&d, &lim, &load, reason, cap);
    return d.verdict != UVFIB__ADMIT;
}

/* ------------------------------------------------------------ routes */

static void on_metrics(uvfib_req_t *req, void *arg)
{
    struct uvfib__server *srv = req->conn->srv;
    struct uvfib__monitor *mon = &srv->mon;
    const uvfib_stats_t *st = &srv->stats;
    uint64_t now = uv_hrtime();
    uint64_t idle = uv_metrics_idle_time(srv->loop);
    struct uvfib__admission_limits lim;
    struct uvfib__admission_load load;
    struct uvfib__admission d = uvfib__work_admission(srv, true, &lim, &load);
    double idle_s = (double)(idle - mon->start_idle_ns) / 1e9;
    double elapsed_s = (double)(now - mon->start_ns) / 1e9;
    struct uvfib__metrics_view v = {
        .version = uvfib_version_string(),
        .mode = uvfib__mode_name(srv->cfg.mode),
        .resolution_s = (double)srv->cfg.loop_resolution_ms / 1e3,
        .window_s = (double)srv->cfg.monitor_window_ms / 1e3,
        .elu_available = mon->elu_available,
        .elu = mon->elu,
        .idle_s = idle_s,
        .active_s = elapsed_s > idle_s ? elapsed_s - idle_s : 0,
        .loop_delay_recent_s = (double)load.loop_delay_ns / 1e9,
        .expected_wait_s = d.expected_wait_ns / 1e9,
        .overloaded = d.verdict != UVFIB__ADMIT,
        .draining = srv->draining,
        .threads = srv->cfg.threads,
        .busy_threads = load.running,
        .waiting_jobs = load.waiting,
        .jobs_completed = st->jobs_completed,
        .jobs_cancelled = st->jobs_cancelled,
        .jobs_timed_out = st->jobs_timed_out,
        .jobs_rejected = st->jobs_rejected,
        .jobs_inline = st->jobs_inline,
        .connections_open = st->connections_open,
        .connections_total = st->connections_total,
        .connections_rejected = st->connections_rejected,
        .requests_total = st->requests_total,
        .parse_errors = st->parse_errors,
        .log_enabled = mon->log != NULL,
    };
    uvfib__buf_t out;
    uvfib__buf_init(&out);
    uvfib__metrics_write(&out, &mon->m, &v);
    if (out.oom) {
        uvfib__buf_free(&out);
        uvfib_res_error(req, 500, "out of memory");
        return;
    }
    uvfib_res_header(req, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    uvfib__conn_respond(req, 200, out.data, out.len);
    uvfib__buf_free(&out);
}

/* Readiness, for a load balancer: not ready while shedding or draining, so
 * traffic goes elsewhere; ready again by itself once the figures recover.
 * Liveness stays with /healthz, which answers whenever the loop runs. */
static void on_readyz(uvfib_req_t *req, void *arg)
{
    struct uvfib__server *srv = req->conn->srv;
    struct uvfib__admission_limits lim;
    struct uvfib__admission_load load;
    struct uvfib__admission d = uvfib__work_admission(srv, true, &lim, &load);
    char why[160], msg[200], secs[16];
    if (srv->draining || srv->closing) {
        snprintf(msg, sizeof(msg), "not ready: draining (shutting down)");
        d.retry_after_s = (unsigned)((srv->cfg.monitor_window_ms + 999) / 1000);
    } else if (d.verdict != UVFIB__ADMIT) {
        snprintf(msg, sizeof(msg), "not ready: overloaded: %s",
                 uvfib__admission_reason(&d, &lim, &load, why, sizeof(why)));
    } else {
        static const char body[] = "{\"status\":\"ready\"}";
        uvfib_res_send(req, 200, body, sizeof(body) - 1);
        return;
    }
    snprintf(secs, sizeof(secs), "%u", d.retry_after_s);
    uvfib_res_header(req, "Retry-After", secs);
    uvfib_res_error(req, 503, msg);
}

int uvfib_metrics_routes_add(uvfib_server_t *server)
{
    int err = uvfib_route_add(server, "GET", "/metrics", on_metrics, NULL);
    if (err == 0)
        err = uvfib_route_add(server, "GET", "/readyz", on_readyz, NULL);
    return err;
}

/* ------------------------------------------------------------ lifetime */

/* Writer thread, its last act: wake the loop to join it. The server cannot be
 * freed before log_exited is closed, which happens only after this. */
static void on_log_exit(void *arg)
{
    struct uvfib__server *srv = arg;
    uv_async_send(&srv->mon.log_exited);
}

static void on_monitor_handle_closed(uv_handle_t *handle)
{
    struct uvfib__server *srv = handle->data;
    srv->n_handles--;
    uvfib__server_maybe_closed(srv);
}

static void on_log_exited(uv_async_t *async)
{
    struct uvfib__server *srv = async->data;
    struct uvfib__monitor *mon = &srv->mon;
    if (mon->log == NULL || !mon->closing)
        return;
    uvfib__accesslog_free(mon->log); /* the thread has returned or is returning */
    mon->log = NULL;
    uv_close((uv_handle_t *)async, on_monitor_handle_closed);
}

int uvfib__monitor_init(struct uvfib__server *srv)
{
    struct uvfib__monitor *mon = &srv->mon;
    uvfib__metrics_init(&mon->m);
    if (srv->cfg.monitor_window_ms == 0 ||
        (srv->cfg.max_loop_delay_ms > 0 && srv->cfg.loop_resolution_ms == 0))
        return UV_EINVAL;
    if (srv->cfg.access_log_fd >= 0) {
        int err = uvfib__accesslog_start(&mon->log, srv->cfg.access_log_fd,
                                         srv->cfg.access_log_buffer_bytes, on_log_exit, srv);
        if (err < 0)
            return err;
    }
    return 0;
}

void uvfib__monitor_start(struct uvfib__server *srv)
{
    struct uvfib__monitor *mon = &srv->mon;
    uv_timer_init(srv->loop, &mon->lag_timer);
    uv_check_init(srv->loop, &mon->check);
    uv_async_init(srv->loop, &mon->log_exited, on_log_exited);
    mon->lag_timer.data = mon->check.data = mon->log_exited.data = srv;
    /* Watching the loop must not keep it alive. */
    uv_unref((uv_handle_t *)&mon->lag_timer);
    uv_unref((uv_handle_t *)&mon->check);
    uv_unref((uv_handle_t *)&mon->log_exited);
    srv->n_handles += 3;

    uint64_t now = uv_hrtime();
    uint64_t idle = uv_metrics_idle_time(srv->loop);
    mon->start_ns = mon->window_start_ns = mon->last_tick_ns = now;
    mon->start_idle_ns = mon->window_idle_ns = idle;
    if (srv->cfg.loop_resolution_ms > 0)
        uv_timer_start(&mon->lag_timer, on_lag_tick, srv->cfg.loop_resolution_ms,
                       srv->cfg.loop_resolution_ms);
    uv_check_start(&mon->check, on_check);
}

void uvfib__monitor_close(struct uvfib__server *srv)
{
    struct uvfib__monitor *mon = &srv->mon;
    if (mon->closing)
        return;
    mon->closing = true;
    uv_close((uv_handle_t *)&mon->lag_timer, on_monitor_handle_closed);
    uv_close((uv_handle_t *)&mon->check, on_monitor_handle_closed);
    if (mon->log != NULL) {
        /* Let the writer finish its lines; keep the loop alive until it says so. */
        uv_ref((uv_handle_t *)&mon->log_exited);
        uvfib__accesslog_stop(mon->log);
    } else {
        uv_close((uv_handle_t *)&mon->log_exited, on_monitor_handle_closed);
    }
}

void uvfib__monitor_free(struct uvfib__server *srv)
{
    uvfib__metrics_free(&srv->mon.m);
}
