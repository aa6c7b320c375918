/* stats.c - see stats.h; and the public calls that read it: uvfib_server_stats(),
 * uvfib_server_metrics(), uvfib_server_readiness() and uvfib_server_overloaded(). */
#include "stats.h"

#include <limits.h>
#include <string.h>

#include "alloc.h"
#include "num.h"
#include "prom.h"
#include "server.h"
#include "work.h"

/* "auto", "offload" or "inline", as the flag spells it. */
static const char *mode_name(uvfib_mode_t mode)
{
    static const char *const names[] = {"auto", "offload", "inline"};
    return (unsigned)mode < sizeof(names) / sizeof(names[0]) ? names[mode] : "?";
}

/* ms as whole seconds, rounded up without overflow, saturated to what Retry-After holds. */
static unsigned ms_to_s_up(uint64_t ms)
{
    uint64_t s = ms / 1000 + (ms % 1000 != 0);
    return s > UINT_MAX ? UINT_MAX : (unsigned)s;
}

struct uvfib__admission uvfib__stats_admission(struct uvfib__server *srv, bool pool,
                                               struct uvfib__admission_limits *lim,
                                               struct uvfib__admission_load *load)
{
    const uvfib_config_t *cfg = &srv->cfg;
    *lim = (struct uvfib__admission_limits){
        .threads = cfg->threads,
        .max_queue = cfg->max_queue,
        .max_queue_wait_ns = uvfib__ms_to_ns(cfg->max_queue_wait_ms),
        .compute_timeout_ns = uvfib__ms_to_ns(cfg->compute_timeout_ms),
        .max_loop_delay_ns = uvfib__ms_to_ns(cfg->max_loop_delay_ms),
        .window_ns = uvfib__ms_to_ns(cfg->monitor_window_ms),
    };
    *load = (struct uvfib__admission_load){
        .compute_ns = srv->metrics.compute_recent_ns,
        .loop_delay_ns = uvfib__monitor_recent_delay_ns(&srv->mon),
    };
    if (!pool) /* the decision is the loop delay's alone: skip the pool's lock */
        return uvfib__admission_decide(lim, load, pool);
    const struct uvfib__pool_job *head;
    uvfib__pool_counts(&srv->pool, &load->waiting, &load->running, &head);
    if (head != NULL) {
        /* The server queues only jobs, whose first member the pool job is. */
        uint64_t queued = ((const struct uvfib__job *)head)->queued_ns, now = uv_hrtime();
        load->oldest_waiting_ns = now > queued ? now - queued : 0;
    }
    if (load->compute_ns <= 0 && srv->oldest != NULL) {
        /* No job has come back yet: what the oldest has computed is what we know (its whole
         * run if it has finished and waits for the loop to take it back). */
        load->oldest_running_ns = uvfib__pool_elapsed_ns(&srv->pool, &srv->oldest->pj, uv_hrtime());
    }
    return uvfib__admission_decide(lim, load, pool);
}

void uvfib__stats_snapshot(struct uvfib__server *srv, struct uvfib__snapshot *s)
{
    memset(s, 0, sizeof(*s));
    s->count = srv->metrics.count;
    s->count.job_handbacks = srv->pool.n_wakes;
    struct uvfib__admission_limits lim;
    struct uvfib__admission_load load;
    struct uvfib__admission d = uvfib__stats_admission(srv, true, &lim, &load);
    s->threads = srv->cfg.threads;
    s->busy_threads = load.running;
    s->waiting_jobs = load.waiting;
    s->expected_wait_s = d.expected_wait_ns / 1e9;
    s->connections_open = srv->n_conns;
    s->overloaded = d.verdict != UVFIB__ADMIT;
    s->draining = srv->draining;
    s->version = uvfib_version_string();
    s->mode = mode_name(srv->cfg.mode);
    s->log_enabled = srv->log != NULL;
    if (srv->log != NULL)
        s->count.log_dropped += uvfib__accesslog_unwritten(srv->log);
    uvfib__monitor_read(&srv->mon, s);
}

/* ------------------------------------------------------------------ public calls */

void uvfib_server_stats(const uvfib_server_t *server, uvfib_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    struct uvfib__server *srv = uvfib__server_of(server);
    if (srv == NULL)
        return; /* closed, its callbacks run: nothing is left to count */
    struct uvfib__snapshot s;
    uvfib__stats_snapshot(srv, &s);
    out->connections_open = (uint64_t)s.connections_open;
    out->connections_total = s.count.connections_total;
    out->connections_rejected = s.count.connections_rejected;
    out->requests_total = s.count.requests_total;
    out->responses_total = s.count.responses_total;
    out->parse_errors = s.count.parse_errors;
    out->jobs_queued = (uint64_t)s.waiting_jobs;
    out->jobs_running = (uint64_t)s.busy_threads;
    out->jobs_completed = s.count.jobs_completed;
    out->jobs_cancelled = s.count.jobs_cancelled;
    out->jobs_timed_out = s.count.jobs_timed_out;
    out->jobs_rejected = s.count.jobs_rejected;
    out->jobs_inline = s.count.jobs_inline;
    out->job_handbacks = s.count.job_handbacks;
    out->request_timeouts = s.count.request_timeouts;
    out->access_log_dropped = s.count.log_dropped;
    out->requests_abandoned = s.count.requests_abandoned;
}

static int metrics_text(uvfib_server_t *server, char **text, size_t *len, bool end_window)
{
    struct uvfib__server *srv = uvfib__server_of(server);
    if (srv == NULL)
        return UV_EINVAL; /* closed, its callbacks run */
    struct uvfib__snapshot s;
    uvfib__stats_snapshot(srv, &s);
    uvfib__buf_t out;
    uvfib__buf_init(&out);
    uvfib__metrics_write(&out, &srv->metrics, &s);
    if (out.oom) {
        uvfib__buf_free(&out);
        return UV_ENOMEM;
    }
    if (end_window)
        uvfib__monitor_scrape_reset(&srv->mon);
    *text = out.data;
    *len = out.len;
    return 0;
}

int uvfib_server_metrics(uvfib_server_t *server, char **text, size_t *len)
{
    return metrics_text(server, text, len, true);
}

int uvfib_server_metrics_peek(uvfib_server_t *server, char **text, size_t *len)
{
    return metrics_text(server, text, len, false);
}

void uvfib_server_readiness(const uvfib_server_t *server, uvfib_readiness_t *out)
{
    struct uvfib__server *srv = uvfib__server_of(server);
    memset(out, 0, sizeof(*out));
    if (srv == NULL) {
        out->draining = 1;
        strcpy(out->reason, "closed");
        return;
    }
    if (srv->draining || srv->closing) {
        out->draining = 1;
        out->retry_after_s = ms_to_s_up(srv->cfg.monitor_window_ms);
        strcpy(out->reason, "draining (shutting down)");
        return;
    }
    if (srv->unready) {
        /* Still serving: the caller asked to be taken out of rotation (uvfib_server_unready). */
        out->retry_after_s = ms_to_s_up(srv->cfg.monitor_window_ms);
        snprintf(out->reason, sizeof(out->reason), "%s", srv->unready_reason);
        return;
    }
    struct uvfib__admission_limits lim;
    struct uvfib__admission_load load;
    struct uvfib__admission d = uvfib__stats_admission(srv, true, &lim, &load);
    if (d.verdict == UVFIB__ADMIT) {
        out->ready = 1;
        return;
    }
    out->retry_after_s = d.retry_after_s;
    char why[160];
    snprintf(out->reason, sizeof(out->reason), "overloaded: %s",
             uvfib__admission_reason(&d, &lim, &load, why, sizeof(why)));
}

int uvfib_server_overloaded(const uvfib_server_t *server, char *reason, size_t cap)
{
    struct uvfib__server *srv = uvfib__server_of(server);
    if (srv == NULL) {
        if (reason != NULL && cap > 0)
            snprintf(reason, cap, "closed");
        return 1;
    }
    struct uvfib__admission_limits lim;
    struct uvfib__admission_load load;
    struct uvfib__admission d = uvfib__stats_admission(srv, true, &lim, &load);
    if (reason != NULL)
        uvfib__admission_reason(&d, &lim, &load, reason, cap);
    return d.verdict != UVFIB__ADMIT;
}

void uvfib_free(void *ptr)
{
    uvfib__free(ptr);
}
