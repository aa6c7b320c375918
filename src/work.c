/* work.c - see work.h. */
#include "work.h"

#include "dlist.h"
#include "num.h"
#include "request.h"
#include "server.h"

int uvfib_work_cancelled(const uvfib_work_t *work)
{
    return work != NULL && atomic_load_explicit(&work->cancelled, memory_order_relaxed);
}


/* hrtime by which job must be done. Saturated, as conn.c's deadlines are: an embedder may say
 * "never" with UINT64_MAX, and a deadline that wrapped would lie in the past, where the timer
 * would time out every job at once. */
static uint64_t deadline_ns(const struct uvfib__server *srv, const struct uvfib__job *job)
{
    return uvfib__add_sat(job->queued_ns, uvfib__ms_to_ns(srv->cfg.compute_timeout_ms));
}

/* The oldest job whose deadline the timer has not dealt with yet. */
static struct uvfib__job *oldest_pending(struct uvfib__server *srv)
{
    struct uvfib__job *job = srv->oldest;
    while (job != NULL && job->deadline_passed)
        job = job->newer;
    return job;
}

/* Every job has the same timeout, so the oldest one has the next deadline. */
static void arm_compute_timer(struct uvfib__server *srv)
{
    if (srv->cfg.compute_timeout_ms == 0 || srv->closing)
        return;
    struct uvfib__job *job = oldest_pending(srv);
    if (job == NULL) {
        uv_timer_stop(&srv->compute_timer);
        return;
    }
    uint64_t deadline = deadline_ns(srv, job), now = uv_hrtime();
    /* Whole milliseconds, rounded up: a timer that fires early finds nothing due and is armed
     * again, and one armed for 0 ms from its own callback would run again in the same pass.
     * libuv saturates a due time beyond its clock's range. */
    uint64_t left = deadline > now ? deadline - now : 0;
    uint64_t delay_ms = left / 1000000 + (left % 1000000 != 0);
    uv_timer_start(&srv->compute_timer, uvfib__work_on_compute_timer, delay_ms, 0);
}

/* Runs on the loop: the job is over (done, stopped or dropped). It is counted, measured and
 * taken off the list, then handed to its owner's finish, which owns it from there. */
static void finish(struct uvfib__job *job, int status)
{
    struct uvfib__server *srv = job->srv;
    struct uvfib__counters *count = &srv->metrics.count;
    if (job->timed_out)
        status = UV_ETIMEDOUT;
    else if (status == 0 && uvfib_work_cancelled(&job->pj.work))
        status = UV_ECANCELED;
    if (status == UV_ECANCELED)
        count->jobs_cancelled++;
    else if (status == UV_ETIMEDOUT)
        count->jobs_timed_out++;
    else
        count->jobs_completed++;
    /* A job dropped while waiting never reached a thread. One that did has its timestamps
     * written by the runner before it went on the done list, which the pool's mutex orders
     * before the loop took it off. */
    if (job->pj.started_ns != 0) {
        job->req->wait_ns = job->pj.started_ns - job->queued_ns;
        job->req->compute_ns = job->pj.finished_ns - job->pj.started_ns;
        uvfib__metrics_job(&srv->metrics, job->req->wait_ns, job->req->compute_ns, status);
    }
    UVFIB__DLIST_REMOVE(srv->oldest, srv->newest, job, older, newer);
    job->req->job = NULL;
    job->finish(job, status);
    arm_compute_timer(srv);
}

/* Pool thread: the caller's work function, on the caller's context. */
static void on_job_run(struct uvfib__pool_job *pj)
{
    struct uvfib__job *job = (struct uvfib__job *)pj;
    job->work_cb(&pj->work, job->ctx);
}

void uvfib__work_on_pool_done(struct uvfib__pool *pool, struct uvfib__pool_job *pj)
{
    finish((struct uvfib__job *)pj, 0);
}

/* A deadline passed: the job is cancelled as if its client had gone, and finished with
 * UV_ETIMEDOUT; unless it has finished already. libuv runs timers before it polls, so after
 * any stall of the loop this timer may meet a job that finished in time and waits on the done
 * list: that one comes back with its result (what the pool says, under its lock). */
void uvfib__work_on_compute_timer(uv_timer_t *timer)
{
    struct uvfib__server *srv = timer->data;
    uint64_t now_ns = uv_hrtime();
    /* Taking back a waiting job runs its finish, which may close a connection and so finish
     * other jobs: walk again from the oldest after each one rather than keep a pointer that
     * may be gone. */
    for (;;) {
        struct uvfib__job *job = oldest_pending(srv);
        if (job == NULL || deadline_ns(srv, job) > now_ns)
            break;
        job->deadline_passed = true;
        switch (uvfib__pool_cancel_unfinished(&srv->pool, &job->pj)) {
        case UVFIB__POOL_TAKEN_BACK:
            job->timed_out = true;
            finish(job, UV_ECANCELED);
            break;
        case UVFIB__POOL_STOPPING:
            job->timed_out = true; /* it comes back through the pool's done list */
            break;
        case UVFIB__POOL_FINISHED:
            break;
        }
    }
    arm_compute_timer(srv);
}

void uvfib__work_cancel(struct uvfib__job *job)
{
    /* Still waiting: it never reaches a thread, finish it now. Running: it sees the flag and
     * comes back through the pool's done list. */
    if (uvfib__pool_cancel(&job->srv->pool, &job->pj))
        finish(job, UV_ECANCELED);
}

void uvfib__work_take_back(struct uvfib__job *job)
{
    if (uvfib__pool_take_back(&job->srv->pool, &job->pj))
        finish(job, UV_ECANCELED);
}

int uvfib__work_submit(struct uvfib__job *job)
{
    struct uvfib__server *srv = job->srv;
    atomic_init(&job->pj.work.cancelled, false);
    job->pj.run = on_job_run;
    job->deadline_passed = job->timed_out = false;
    job->queued_ns = uv_hrtime();
    int err = uvfib__pool_submit(&srv->pool, &job->pj);
    if (err < 0)
        return err;
    job->req->job = job;
    job->older = srv->newest;
    job->newer = NULL;
    if (srv->newest != NULL)
        srv->newest->newer = job;
    else
        srv->oldest = job;
    srv->newest = job;
    if (srv->oldest == job)
        arm_compute_timer(srv);
    return 0;
}
