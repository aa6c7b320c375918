/* work.c - offloading: the server's own admission queue in front of libuv's
 * pool. At most cfg.threads jobs are in uv_queue_work at once, so the wait of
 * each job is known, a waiting job can be dropped without touching libuv, and
 * libuv's pool keeps room for file and DNS work (libuv issue 660). */
#include "internal.h"

#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

int uvfib_work_cancelled(const uvfib_work_t *work)
{
    return work != NULL && atomic_load_explicit(&work->cancelled, memory_order_relaxed);
}

static void on_work(uv_work_t *w);
static void on_after_work(uv_work_t *w, int status);

static void waitlist_remove(struct uvfib__server *srv, struct uvfib__job *job)
{
    if (job->prev != NULL)
        job->prev->next = job->next;
    else
        srv->wait_head = job->next;
    if (job->next != NULL)
        job->next->prev = job->prev;
    else
        srv->wait_tail = job->prev;
    job->next = job->prev = NULL;
    srv->n_waiting--;
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

/* Hands waiting jobs to libuv while a thread is free for them. */
static void pump(struct uvfib__server *srv)
{
    while (srv->wait_head != NULL && srv->n_running < srv->cfg.threads) {
        struct uvfib__job *job = srv->wait_head;
        waitlist_remove(srv, job);
        /* uv_queue_work only fails for a NULL work_cb, which we never pass. */
        job->running = true;
        srv->n_running++;
        int err = uv_queue_work(srv->loop, &job->work, on_work, on_after_work);
        (void)err;
    }
}

/* Runs on the loop: the job is over (done, stopped or dropped). The client may
 * have gone meanwhile; then done only frees what it holds, as its contract says. */
static void finish(struct uvfib__job *job, int status)
{
    struct uvfib__server *srv = job->srv;
    uvfib_req_t *req = job->req;
    struct uvfib__conn *conn = req->conn;
    if (job->timed_out)
        status = UV_ETIMEDOUT;
    else if (status == 0 && atomic_load_explicit(&job->w.cancelled, memory_order_relaxed))
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
}

/* Lowers this pool thread's priority once, so that when computations fill
 * every core the loop thread still gets the CPU at once. Linux applies nice
 * per thread (setpriority on the thread id). It stays lowered for whatever
 * else the pool runs on this thread afterwards. */
static void lower_priority_once(int nice)
{
    static _Thread_local bool done;
    if (done || nice == 0)
        return;
    done = true;
    pid_t tid = (pid_t)syscall(SYS_gettid);
    int now = getpriority(PRIO_PROCESS, (id_t)tid);
    setpriority(PRIO_PROCESS, (id_t)tid, now + nice > 19 ? 19 : now + nice);
}

static void on_work(uv_work_t *w)
{
    struct uvfib__job *job = UVFIB__CONTAINER_OF(w, struct uvfib__job, work);
    lower_priority_once(job->nice);
    job->started_ns = uv_hrtime();
    if (!uvfib_work_cancelled(&job->w))
        job->work_cb(&job->w, job->ctx);
    job->finished_ns = uv_hrtime();
}

static void on_after_work(uv_work_t *w, int status)
{
    struct uvfib__job *job = UVFIB__CONTAINER_OF(w, struct uvfib__job, work);
    struct uvfib__server *srv = job->srv;
    srv->n_running--;
    /* Hand the freed thread its next job before answering this one: the pool
     * then computes while the loop builds and writes the response. */
    pump(srv);
    finish(job, status);
    arm_compute_timer(srv);
}

/* A deadline passed: the job is cancelled as if its client had gone, and
 * answered with UV_ETIMEDOUT. */
static void on_compute_timer(uv_timer_t *timer)
{
    struct uvfib__server *srv = timer->data;
    uint64_t now_ns = uv_hrtime();
    uint64_t timeout_ns = srv->cfg.compute_timeout_ms * 1000000;
    /* Cancelling a waiting job runs its done callback, which may close a
     * connection and so finish other jobs: walk again from the oldest after
     * each one rather than keep a pointer that may be gone. */
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
    atomic_store_explicit(&job->w.cancelled, true, memory_order_relaxed);
    if (!job->running) {
        /* Never handed to libuv: nothing else holds it, finish it now. */
        waitlist_remove(job->srv, job);
        finish(job, UV_ECANCELED);
    }
}

static int reject_busy(uvfib_req_t *req)
{
    req->conn->srv->stats.jobs_rejected++;
    uvfib_res_header(req, "Retry-After", "1");
    uvfib_res_error(req, 503, "server busy: the computation queue is full, retry later");
    return UV_EBUSY;
}

int uvfib__work_submit(uvfib_req_t *req, uvfib_work_cb work, uvfib_done_cb done, void *ctx,
                       unsigned flags)
{
    struct uvfib__conn *conn = req->conn;
    struct uvfib__server *srv = conn->srv;
    if (work == NULL || done == NULL || req->answered || req->job != NULL)
        return UV_EINVAL;
    if (conn->closing)
        return UV_ECANCELED;
    if (uvfib__monitor_shed(req))
        return UV_EBUSY;

    uvfib_mode_t mode = srv->cfg.mode;
    if (mode == UVFIB_MODE_INLINE || (mode == UVFIB_MODE_AUTO && (flags & UVFIB_OFFLOAD_CHEAP))) {
        /* On the loop, as the work is cheaper than the hand-off (or the
         * server was told to block, for comparison). */
        uvfib_work_t w;
        atomic_init(&w.cancelled, false);
        srv->stats.jobs_inline++;
        work(&w, ctx);
        done(req, ctx, 0);
        return 0;
    }

    if (srv->n_running >= srv->cfg.threads && srv->n_waiting >= srv->cfg.max_queue)
        return reject_busy(req);

    struct uvfib__job *job = uvfib__calloc(1, sizeof(*job));
    if (job == NULL) {
        uvfib_res_error(req, 500, "out of memory");
        return UV_ENOMEM;
    }
    atomic_init(&job->w.cancelled, false);
    job->srv = srv;
    job->req = req;
    job->work_cb = work;
    job->done_cb = done;
    job->ctx = ctx;
    job->queued_ns = uv_hrtime();
    job->nice = srv->cfg.compute_nice;
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

    job->prev = srv->wait_tail;
    if (srv->wait_tail != NULL)
        srv->wait_tail->next = job;
    else
        srv->wait_head = job;
    srv->wait_tail = job;
    srv->n_waiting++;
    pump(srv);
    return 0;
}
