/* work.c - offloading a request's computation: admission (admission.c decides, this file
 * answers a refusal), the job that carries the work through the pool (pool.c), the compute
 * deadline, and the done callback on the loop, exactly once. Inline work runs here too. */
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int uvfib_work_cancelled(const uvfib_work_t *work)
{
    return work != NULL && atomic_load_explicit(&work->cancelled, memory_order_relaxed);
}

static void age_remove(struct uvfib__server *srv, struct uvfib__job *job)
{
    if (job->older != NULL)
        job->older->newer = job->newer;
    else
        srv->oldest = job->newer;
    if (job->newer != NULL)
        job->newer->older = job->older;
    else
        srv->newest = job->older;
}

static void on_compute_timer(uv_timer_t *timer);

/* Every job has the same timeout, so the oldest one has the next deadline. */
static void arm_compute_timer(struct uvfib__server *srv)
{
    if (srv->cfg.compute_timeout_ms == 0 || srv->closing)
        return;
    struct uvfib__job *job = srv->oldest;
    while (job != NULL && job->timed_out)
        job = job->newer;
    if (job == NULL) {
        uv_timer_stop(&srv->compute_timer);
        return;
    }
    uint64_t deadline_ms = job->queued_ns / 1000000 + srv->cfg.compute_timeout_ms;
    uint64_t now_ms = uv_hrtime() / 1000000;
    uint64_t delay = deadline_ms > now_ms ? deadline_ms - now_ms : 0;
    uv_timer_start(&srv->compute_timer, on_compute_timer, delay, 0);
}

/* Runs on the loop: the job is over (done, stopped or dropped). The client may have gone
 * meanwhile; then done only frees what it holds, as its contract says. */
static void finish(struct uvfib__job *job, int status)
{
    struct uvfib__server *srv = job->srv;
    uvfib_req_t *req = job->req;
    struct uvfib__conn *conn = req->conn;
    if (job->timed_out)
        status = UV_ETIMEDOUT;
    else if (status == 0 && uvfib_work_cancelled(&job->pj.work))
        status = UV_ECANCELED;
    if (status == UV_ECANCELED)
        srv->stats.jobs_cancelled++;
    else if (status == UV_ETIMEDOUT)
        srv->stats.jobs_timed_out++;
    else
        srv->stats.jobs_completed++;
    age_remove(srv, job);
    uvfib__monitor_job_done(srv, job);
    req->job = NULL;
    job->done_cb(req, job->ctx, status);
    uvfib__free(job);
    uvfib__conn_unref(conn);
    arm_compute_timer(srv);
}

/* Pool thread: the caller's work function, on the caller's context. */
static void on_job_run(struct uvfib__pool_job *pj)
{
    struct uvfib__job *job = UVFIB__CONTAINER_OF(pj, struct uvfib__job, pj);
    job->work_cb(&pj->work, job->ctx);
}

/* Loop thread: a job the pool ran (or skipped, as cancelled) is back. */
void uvfib__work_on_pool_done(struct uvfib__pool *pool, struct uvfib__pool_job *pj)
{
    finish(UVFIB__CONTAINER_OF(pj, struct uvfib__job, pj), 0);
}

/* A deadline passed: the job is cancelled as if its client had gone, and answered with
 * UV_ETIMEDOUT. */
static void on_compute_timer(uv_timer_t *timer)
{
    struct uvfib__server *srv = timer->data;
    uint64_t now_ns = uv_hrtime();
    uint64_t timeout_ns = srv->cfg.compute_timeout_ms * 1000000;
    /* Cancelling a waiting job runs its done callback, which may close a connection and so
     * finish other jobs: walk again from the oldest after each one rather than keep a pointer
     * that may be gone. */
    for (;;) {
        struct uvfib__job *job = srv->oldest;
        while (job != NULL && job->timed_out)
            job = job->newer;
        if (job == NULL || job->queued_ns + timeout_ns > now_ns)
            break;
        job->timed_out = true;
        uvfib__work_cancel(job);
    }
    arm_compute_timer(srv);
}

void uvfib__work_cancel(struct uvfib__job *job)
{
    /* Still waiting: it never reaches a thread, finish it now. Running: it sees the flag and
     * comes back through the done list. */
    if (uvfib__pool_cancel(&job->srv->pool, &job->pj))
        finish(job, UV_ECANCELED);
}

/* ------------------------------------------------------------------ admission */

struct uvfib__admission uvfib__work_admission(struct uvfib__server *srv, bool pool,
                                              struct uvfib__admission_limits *lim,
                                              struct uvfib__admission_load *load)
{
    const uvfib_config_t *cfg = &srv->cfg;
    *lim = (struct uvfib__admission_limits){
        .threads = cfg->threads,
        .max_queue = cfg->max_queue,
        .max_queue_wait_ns = cfg->max_queue_wait_ms * 1000000,
        .max_loop_delay_ns = cfg->max_loop_delay_ms * 1000000,
        .window_ns = cfg->monitor_window_ms * 1000000,
    };
    *load = (struct uvfib__admission_load){
        .compute_ns = srv->mon.m.compute_recent_ns,
        .loop_delay_ns = uvfib__monitor_recent_delay_ns(srv),
    };
    uvfib__pool_counts(&srv->pool, &load->waiting, &load->running);
    if (load->compute_ns <= 0 && srv->oldest != NULL) {
        /* No job has finished yet: the oldest one's time so far is what we know. */
        uint64_t started = uvfib__pool_started_ns(&srv->pool, &srv->oldest->pj);
        if (started != 0)
            load->oldest_running_ns = uv_hrtime() - started;
    }
    return uvfib__admission_decide(lim, load, pool);
}

void uvfib__work_refuse(uvfib_req_t *req, const struct uvfib__admission *d,
                        const struct uvfib__admission_limits *lim,
                        const struct uvfib__admission_load *load)
{
    struct uvfib__server *srv = req->conn->srv;
    char why[160], msg[200], secs[16];
    uvfib__admission_reason(d, lim, load, why, sizeof(why));
    if (d->verdict == UVFIB__REFUSE_QUEUE_FULL) {
        srv->stats.jobs_rejected++;
        snprintf(msg, sizeof(msg), "server busy: %s, retry later", why);
    } else {
        if (d->verdict == UVFIB__REFUSE_LOOP_DELAY)
            srv->mon.m.shed_loop_delay++;
        else
            srv->mon.m.shed_queue_wait++;
        snprintf(msg, sizeof(msg), "server overloaded: %s; retry later", why);
    }
    snprintf(secs, sizeof(secs), "%u", d->retry_after_s);
    uvfib_res_header(req, "Retry-After", secs);
    uvfib_res_error(req, 503, msg);
}

/* ------------------------------------------------------------------ submit */

int uvfib__work_submit(uvfib_req_t *req, uvfib_work_cb work, uvfib_done_cb done, void *ctx,
                       unsigned flags)
{
    struct uvfib__conn *conn = req->conn;
    struct uvfib__server *srv = conn->srv;
    if (work == NULL || done == NULL || req->answered || req->job != NULL)
        return UV_EINVAL;
    if (conn->closing)
        return UV_ECANCELED;

    uvfib_mode_t mode = srv->cfg.mode;
    bool on_loop =
        mode == UVFIB_MODE_INLINE || (mode == UVFIB_MODE_AUTO && (flags & UVFIB_OFFLOAD_CHEAP));
    struct uvfib__admission_limits lim;
    struct uvfib__admission_load load;
    struct uvfib__admission d = uvfib__work_admission(srv, !on_loop, &lim, &load);
    if (d.verdict != UVFIB__ADMIT) {
        uvfib__work_refuse(req, &d, &lim, &load);
        return UV_EBUSY;
    }

    if (on_loop) {
        /* On the loop, as the work is cheaper than the hand-off (or the server was told to
         * block, for comparison). */
        uvfib_work_t w;
        atomic_init(&w.cancelled, false);
        srv->stats.jobs_inline++;
        work(&w, ctx);
        done(req, ctx, 0);
        return 0;
    }

    struct uvfib__job *job = uvfib__calloc(1, sizeof(*job));
    if (job == NULL) {
        uvfib_res_error(req, 500, "out of memory");
        return UV_ENOMEM;
    }
    atomic_init(&job->pj.work.cancelled, false);
    job->pj.run = on_job_run;
    job->srv = srv;
    job->req = req;
    job->work_cb = work;
    job->done_cb = done;
    job->ctx = ctx;
    job->queued_ns = uv_hrtime();
    if (uvfib__pool_submit(&srv->pool, &job->pj) < 0) {
        uvfib__free(job);
        uvfib_res_error(req, 500, "out of memory");
        return UV_ENOMEM;
    }
    req->job = job;
    uvfib__conn_ref(conn);
    job->older = srv->newest;
    if (srv->newest != NULL)
        srv->newest->newer = job;
    else
        srv->oldest = job;
    srv->newest = job;
    if (srv->oldest == job)
        arm_compute_timer(srv);
    return 0;
}
