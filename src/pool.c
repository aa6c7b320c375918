/* pool.c - see pool.h. The FIFO, the done list, the runner count and the parked runners live
 * under one mutex that is held only to link or unlink, never while a job runs or across a
 * system call. The loop wakes a parked runner when a job arrives, else starts one if fewer than
 * `threads` are active; a runner that finds the FIFO empty parks for up to linger_ms and then
 * leaves, and says so under the same mutex, so a job queued after that always finds an
 * active runner, a parked one or a new one.
 *
 * Why park: a runner that returned to libuv at once cost every job at a modest rate a
 * uv_queue_work (libuv signals its pool thread while holding libuv's mutex, so the thread it
 * wakes often sleeps again on that mutex) and, on the way back, libuv's own uv_async_send and a
 * second loop pass for the after-work callback. A parked runner is woken with its own condition
 * variable, signalled after unlocking, and answers with one eventfd write: the two wake-ups
 * scripts/bench measures as the floor, and nothing else.
 *
 * Runners wake the loop through an eventfd, not a uv_async_t: uv_async_send marks the handle
 * busy, writes libuv's eventfd, then marks it done, and the loop, woken by the write, spins and
 * calls sched_yield until the sender has marked it done. A runner of lower priority (nice,
 * SCHED_IDLE) is preempted by the very loop it woke, so the loop waited on it, thousands of
 * times a second under load (strace: one sched_yield per job). Here the write is the runner's
 * last act: the loop never waits for it.
 *
 * Holding: while every core computes, each wake-up of the loop preempts a computing thread,
 * and so does the client's, woken by the answer the loop writes. When hold_ms is set, a
 * finished job may wait on the done list without waking the loop, for the next one to finish
 * (which then wakes the loop for both) or for the loop to wake for anything else (it takes
 * held jobs before each poll), and never longer than hold_timer, which the loop arms before it
 * polls whenever a runner may hold. A runner holds only when every thread has a job waiting
 * behind it, so none runs dry while the loop sleeps, and when jobs have recently taken no
 * more than hold_ms per thread, so the next is due within the bound. Two answers then go out
 * per wake-up of the loop and of the client. */
#include "pool.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "alloc.h"
#include "dlist.h"
#include "num.h"

#define CONTAINER_OF(ptr, type, field) ((type *)((char *)(ptr)-offsetof(type, field)))

/* One uv_queue_work request that takes jobs until the FIFO is empty, then parks a while. */
struct uvfib__runner {
    uv_work_t req;                /* embedded; in libuv from submit to on_runner_done */
    struct uvfib__pool *pool;     /* borrowed */
    struct uvfib__runner *next, *prev; /* pool->busy (both) or pool->spare (next); loop */
    uv_cond_t cond;               /* signalled when parked is cleared */
    bool parked;                  /* on pool->parked, waiting on cond; under mu */
    struct uvfib__runner *park_next; /* pool->parked; under mu */
};

/* ------------------------------------------------------------------ pool threads */

/* The priority of the pool thread a runner is on. libuv's threads are shared with the
 * embedder's own work, and a lowered thread wakes later (on an idle vCPU, tens of
 * microseconds: docs/benchmarks.md), so a thread is at the pool's priority only while it
 * computes work that is not cheap, where the process is allowed to raise it back. */
struct thread_priority {
    bool lowered;                 /* at the pool's priority now */
    bool saved;                   /* policy and nice hold the thread's own */
    int policy;                   /* its own scheduling policy (SCHED_OTHER as a rule) */
    int nice;                     /* its own nice value */
};
static _Thread_local struct thread_priority thread_prio;
/* Set once a raise was refused (no CAP_SYS_NICE, RLIMIT_NICE too low): the permission is the
 * process's, so no thread tries again and lowered threads stay lowered, as they would have. */
static atomic_bool raise_refused;

static pid_t this_tid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

static void lower_priority(const struct uvfib__pool_priority *prio)
{
    struct thread_priority *t = &thread_prio;
    if (t->lowered || prio->policy == UVFIB_PRIORITY_NORMAL)
        return;
    pid_t tid = this_tid();
    if (!t->saved) {
        errno = 0;
        int nice = getpriority(PRIO_PROCESS, (id_t)tid);
        t->nice = errno == 0 ? nice : 0;
        t->policy = sched_getscheduler(0);
        t->saved = true;
    }
    t->lowered = true;
    if (prio->policy == UVFIB_PRIORITY_BATCH || prio->policy == UVFIB_PRIORITY_IDLE) {
        struct sched_param param = {.sched_priority = 0};
        int policy = prio->policy == UVFIB_PRIORITY_IDLE ? SCHED_IDLE : SCHED_BATCH;
        pthread_setschedparam(pthread_self(), policy, &param);
    }
    if (prio->nice > 0 && prio->policy != UVFIB_PRIORITY_IDLE)
        setpriority(PRIO_PROCESS, (id_t)tid, t->nice + prio->nice > 19 ? 19 : t->nice + prio->nice);
}

/* Whether there is nothing to put back: the thread is not lowered, or may not be raised. */
static bool priority_raised_back(void)
{
    return !thread_prio.lowered || atomic_load_explicit(&raise_refused, memory_order_relaxed);
}

/* Puts the thread's own policy and nice back, if it was lowered and the process may. */
static void raise_priority(void)
{
    struct thread_priority *t = &thread_prio;
    if (priority_raised_back())
        return;
    int err = setpriority(PRIO_PROCESS, (id_t)this_tid(), t->nice);
    if (err == 0 && sched_getscheduler(0) != t->policy) {
        struct sched_param param = {.sched_priority = 0};
        err = pthread_setschedparam(pthread_self(), t->policy, &param) == 0 ? 0 : -1;
    }
    if (err == 0)
        t->lowered = false;
    else
        atomic_store_explicit(&raise_refused, true, memory_order_relaxed);
}

/* Takes the job at the head of the FIFO, or NULL when it is empty. Caller holds mu. */
static struct uvfib__pool_job *take(struct uvfib__pool *p)
{
    struct uvfib__pool_job *job = p->wait_head;
    if (job == NULL)
        return NULL;
    UVFIB__DLIST_REMOVE(p->wait_head, p->wait_tail, job, prev, next);
    job->state = UVFIB__JOB_RUNNING;
    job->started_ns = uv_hrtime();
    p->n_waiting--;
    p->n_running++;
    return job;
}

static void wake_loop(struct uvfib__pool *p)
{
    uint64_t one = 1;
    while (write(p->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

/* Called with mu held and the FIFO empty: waits on r->cond until the loop hands r a job (it
 * clears r->parked) or linger_ms pass or the pool closes. @return true when r was
 * woken for a job, false when it should leave (it is off the parked list either way). */
static bool park(struct uvfib__pool *p, struct uvfib__runner *r)
{
    if (p->stop_parking || p->linger_ms == 0)
        return false;
    r->parked = true;
    r->park_next = p->parked;
    p->parked = r;
    uint64_t deadline = uv_hrtime() + (uint64_t)p->linger_ms * 1000000u;
    while (r->parked) {
        uint64_t now = uv_hrtime();
        if (now >= deadline) {
            struct uvfib__runner **link = &p->parked;
            while (*link != r)
                link = &(*link)->park_next;
            *link = r->park_next;
            r->parked = false;
            return false;
        }
        uv_cond_timedwait(&r->cond, &p->mu, deadline - now);
    }
    return !p->stop_parking;
}

/* The condition for holding a finished job (see "Holding" above), which the loop also checks
 * before it polls to arm hold_timer. Caller holds mu. */
static bool may_hold(const struct uvfib__pool *p)
{
    return p->hold_ms > 0 && !p->stop_parking && p->n_waiting >= p->threads &&
           p->run_avg_ns / p->threads <= uvfib__ms_to_ns(p->hold_ms);
}

/* Whether the job that just finished, the first on the done list, may wait there for the next
 * one instead of waking the loop; if so it is marked held. Caller holds mu. */
static bool hold(struct uvfib__pool *p)
{
    if (!p->hold_ok || !may_hold(p))
        return false;
    atomic_store_explicit(&p->held, true, memory_order_relaxed);
    return true;
}

static void on_runner_work(uv_work_t *req)
{
    struct uvfib__runner *r = CONTAINER_OF(req, struct uvfib__runner, req);
    struct uvfib__pool *p = r->pool;
    uv_mutex_lock(&p->mu);
    for (;;) {
        /* Looked at each time mu is taken again: a job queued while it was free (the runner
         * counted as active, so no other one started) is taken here, never left waiting. */
        struct uvfib__pool_job *job = take(p);
        if (job == NULL) {
            if (!priority_raised_back()) {
                /* Idle at the thread's own priority, and so woken sooner; a system call, so
                 * with mu free, then a look at the FIFO again. */
                uv_mutex_unlock(&p->mu);
                raise_priority();
                uv_mutex_lock(&p->mu);
                continue;
            }
            if (park(p, r))
                continue; /* woken for a job */
            p->n_active--; /* under mu: a job queued from now on starts a runner */
            uv_mutex_unlock(&p->mu);
            return;
        }
        uv_mutex_unlock(&p->mu);
        if (job->cheap)
            raise_priority();
        else
            lower_priority(&p->priority);
        if (!uvfib_work_cancelled(&job->work))
            job->run(job);
        job->finished_ns = uv_hrtime();

        uv_mutex_lock(&p->mu);
        job->state = UVFIB__JOB_DONE; /* still counted in n_running until the loop has it */
        uint64_t run_ns = job->finished_ns - job->started_ns;
        p->run_avg_ns = p->run_avg_ns - p->run_avg_ns / 8 + run_ns / 8;
        bool wake;
        if (p->done_head == NULL) {
            wake = !hold(p); /* the first on the list: the loop is not on its way yet */
        } else {
            /* Others are on the list. If the first was held, this one wakes the loop for
             * both; if not, the loop is already on its way. */
            wake = atomic_load_explicit(&p->held, memory_order_relaxed);
            atomic_store_explicit(&p->held, false, memory_order_relaxed);
        }
        if (p->done_tail != NULL)
            p->done_tail->next = job;
        else
            p->done_head = job;
        p->done_tail = job;
        if (wake) {
            /* After unlocking: the loop wakes at once, and nothing it then does waits for this
             * thread. wake_fd stays open until every runner is back from libuv, which this one
             * is not until it returns. */
            uv_mutex_unlock(&p->mu);
            wake_loop(p);
            if (p->after_wake != NULL)
                p->after_wake(p);
            uv_mutex_lock(&p->mu);
        }
    }
}

/* ------------------------------------------------------------------ loop thread */

static void on_pool_closed(uv_handle_t *handle)
{
    struct uvfib__pool *p = handle->data;
    if (--p->n_closing > 0)
        return; /* the last of its three handles closes the pool */
    close(p->wake_fd);
    while (p->spare != NULL) {
        struct uvfib__runner *next = p->spare->next;
        uv_cond_destroy(&p->spare->cond);
        uvfib__free(p->spare);
        p->spare = next;
    }
    uv_mutex_destroy(&p->mu);
    p->closed = true;
    if (p->close_cb != NULL)
        p->close_cb(p);
}

static void maybe_closed(struct uvfib__pool *p)
{
    if (p->closing && p->n_submitted == 0 && !uv_is_closing((uv_handle_t *)&p->wake)) {
        p->n_closing = 3;
        uv_close((uv_handle_t *)&p->wake, on_pool_closed);
        uv_close((uv_handle_t *)&p->pickup, on_pool_closed);
        uv_close((uv_handle_t *)&p->hold_timer, on_pool_closed);
    }
}

/* The runner's request is back from libuv: it ran and left, or uv_cancel took it back before
 * it started, in which case it still counts as active and must say it is not. */
static void on_runner_done(uv_work_t *req, int status)
{
    struct uvfib__runner *r = CONTAINER_OF(req, struct uvfib__runner, req);
    struct uvfib__pool *p = r->pool;
    if (status == UV_ECANCELED) {
        uv_mutex_lock(&p->mu);
        p->n_active--;
        uv_mutex_unlock(&p->mu);
    }
    UVFIB__DLIST_REMOVE_HEADONLY(p->busy, r, prev, next);
    r->next = p->spare;
    p->spare = r;
    p->n_submitted--;
    maybe_closed(p);
}

/* A job went out (+1) or came back (-1): the wake-up handle holds the loop alive exactly while
 * some job is out, or a job coming back after its connection's handles closed would never be
 * seen (a loop with nothing else alive stops polling). */
static void jobs_out(struct uvfib__pool *p, int delta)
{
    if (delta > 0 && p->n_jobs++ == 0)
        uv_ref((uv_handle_t *)&p->wake);
    else if (delta < 0 && --p->n_jobs == 0)
        uv_unref((uv_handle_t *)&p->wake);
}

/* Takes every finished job off the done list and runs done_cb for each. */
static void hand_back(struct uvfib__pool *p)
{
    uv_mutex_lock(&p->mu);
    struct uvfib__pool_job *job = p->done_head;
    p->done_head = p->done_tail = NULL;
    atomic_store_explicit(&p->held, false, memory_order_relaxed);
    if (job != NULL)
        p->n_wakes++;
    unsigned n = 0;
    for (struct uvfib__pool_job *j = job; j != NULL; j = j->next)
        n++;
    p->n_running -= n;
    uv_mutex_unlock(&p->mu);
    /* Each job counts as running until its own done_cb, where its owner counts it as
     * finished: a done_cb that reads the counts (uvfib_server_stats) must not see the rest of
     * the batch gone from both. Counted here, on the loop, not once more under mu per job. */
    p->n_handing_back += n;
    /* Each done_cb may cancel other jobs or submit new ones; neither touches this list. */
    while (job != NULL) {
        struct uvfib__pool_job *next = job->next;
        job->next = NULL;
        job->state = UVFIB__JOB_NEW;
        p->n_handing_back--;
        jobs_out(p, -1);
        p->done_cb(p, job);
        job = next;
    }
}

static void on_wake(uv_poll_t *poll, int status, int events)
{
    struct uvfib__pool *p = poll->data;
    /* Reset the eventfd first, then take the list: a job added in between is taken now and
     * leaves one wake-up with nothing to do, never a job without a wake-up. */
    uint64_t count;
    while (read(p->wake_fd, &count, sizeof(count)) < 0 && errno == EINTR)
        ;
    hand_back(p);
}

/* The bound: hands back what is held. Until on_pickup arms it again no runner may hold, as
 * an embedder may run the loop's timers after its poll and then block outside uv_run. */
static void on_hold_timer(uv_timer_t *timer)
{
    struct uvfib__pool *p = timer->data;
    uv_mutex_lock(&p->mu);
    p->hold_ok = false;
    bool held = atomic_load_explicit(&p->held, memory_order_relaxed);
    uv_mutex_unlock(&p->mu);
    if (held)
        hand_back(p);
}

/* Before each poll: hands back what runners held while the loop was busy, then says whether
 * they may hold what finishes while it sleeps, and arms hold_timer if so. A runner holds only
 * while hold_ok is set, so a held job is never without the timer: hold_ok is set only here,
 * under mu, as the timer is armed, and cleared here or when the timer fires. */
static void on_pickup(uv_prepare_t *prepare)
{
    struct uvfib__pool *p = prepare->data;
    if (p->n_jobs == 0) {
        /* Nothing out, so nothing held; no runner may hold until this runs again, started
         * by the next submit. Idle, the pool costs the loop nothing. */
        uv_mutex_lock(&p->mu);
        p->hold_ok = false;
        uv_mutex_unlock(&p->mu);
        uv_timer_stop(&p->hold_timer);
        uv_prepare_stop(prepare);
        return;
    }
    for (;;) {
        if (atomic_load_explicit(&p->held, memory_order_relaxed))
            hand_back(p);
        uv_mutex_lock(&p->mu);
        bool held = atomic_load_explicit(&p->held, memory_order_relaxed);
        bool ok = may_hold(p);
        if (!held)
            p->hold_ok = ok;
        uv_mutex_unlock(&p->mu);
        if (held)
            continue; /* a runner held one meanwhile, under the old hold_ok: take it too */
        if (ok)
            uv_timer_start(&p->hold_timer, on_hold_timer, p->hold_ms, 0);
        else
            uv_timer_stop(&p->hold_timer);
        return;
    }
}

int uvfib__pool_init(struct uvfib__pool *pool, uv_loop_t *loop, unsigned threads,
                     struct uvfib__pool_priority priority, uvfib__pool_done_cb done_cb)
{
    memset(pool, 0, sizeof(*pool));
    pool->loop = loop;
    pool->threads = threads;
    pool->priority = priority;
    pool->done_cb = done_cb;
    pool->linger_ms = UVFIB__POOL_LINGER_MS;
    int err = uv_mutex_init(&pool->mu);
    if (err < 0)
        return err;
    pool->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (pool->wake_fd < 0) {
        err = -errno;
        uv_mutex_destroy(&pool->mu);
        return err;
    }
    err = uv_poll_init(loop, &pool->wake, pool->wake_fd);
    if (err < 0) {
        close(pool->wake_fd);
        uv_mutex_destroy(&pool->mu);
        return err;
    }
    pool->wake.data = pool;
    /* Only queues the watcher for the next poll: it cannot fail on a new handle. */
    uv_poll_start(&pool->wake, UV_READABLE, on_wake);
    /* Neither fails on Unix. Started by the first submit with hold_ms set; never keep the
     * loop alive (the wake-up handle does while a job is out). */
    uv_prepare_init(loop, &pool->pickup);
    pool->pickup.data = pool;
    uv_unref((uv_handle_t *)&pool->pickup);
    uv_timer_init(loop, &pool->hold_timer);
    pool->hold_timer.data = pool;
    uv_unref((uv_handle_t *)&pool->hold_timer);
    /* Waiting for computations does not keep the loop alive: the connections that own them do.
     * (A runner's own uv_work_t does, while it runs or parks: up to the linger after the last
     * job, unless the pool is closed.) */
    uv_unref((uv_handle_t *)&pool->wake);
    return 0;
}

/* A runner for the pool, on the busy list: a spare one, else a new one. NULL without memory. */
static struct uvfib__runner *runner_get(struct uvfib__pool *p)
{
    struct uvfib__runner *r = p->spare;
    if (r != NULL) {
        p->spare = r->next;
    } else {
        r = uvfib__calloc(1, sizeof(*r));
        if (r == NULL)
            return NULL;
        if (uv_cond_init(&r->cond) < 0) {
            uvfib__free(r);
            return NULL;
        }
        r->pool = p;
    }
    r->prev = NULL;
    r->next = p->busy;
    if (p->busy != NULL)
        p->busy->prev = r;
    p->busy = r;
    p->n_submitted++;
    return r;
}

/* Takes job out of the FIFO if it is still there. Caller holds mu. */
static bool unlink_waiting(struct uvfib__pool *p, struct uvfib__pool_job *job)
{
    if (job->state != UVFIB__JOB_WAITING)
        return false;
    UVFIB__DLIST_REMOVE(p->wait_head, p->wait_tail, job, prev, next);
    job->state = UVFIB__JOB_NEW;
    p->n_waiting--;
    return true;
}

int uvfib__pool_submit(struct uvfib__pool *pool, struct uvfib__pool_job *job)
{
    struct uvfib__pool *p = pool;
    if (p->hold_ms > 0 && !uv_is_active((uv_handle_t *)&p->pickup))
        uv_prepare_start(&p->pickup, on_pickup);
    job->next = NULL;
    job->started_ns = job->finished_ns = 0;
    uv_mutex_lock(&p->mu);
    job->state = UVFIB__JOB_WAITING;
    job->prev = p->wait_tail;
    if (p->wait_tail != NULL)
        p->wait_tail->next = job;
    else
        p->wait_head = job;
    p->wait_tail = job;
    p->n_waiting++;
    /* A runner parks only when the FIFO is empty, and each job queued wakes one: so a parked
     * runner means no other job is waiting for one. */
    struct uvfib__runner *parked = p->parked;
    bool start = false;
    if (parked != NULL) {
        p->parked = parked->park_next;
        parked->parked = false;
    } else if (p->n_active < p->threads) {
        p->n_active++;
        start = true;
    }
    uv_mutex_unlock(&p->mu);
    jobs_out(p, +1);
    if (parked != NULL) {
        /* After unlocking, so it does not wake into a held mutex. It cannot have left: only
         * the loop (this thread) frees runners, after they are back from libuv. */
        uv_cond_signal(&parked->cond);
        return 0;
    }
    if (!start)
        return 0; /* an active runner will look at the FIFO again before it leaves */

    struct uvfib__runner *r = runner_get(p);
    if (r == NULL) {
        /* No runner: undo. Only the loop queues jobs, so nobody else saw the count raised.
         * If another runner took the job meanwhile it runs, and that is a success. */
        uv_mutex_lock(&p->mu);
        p->n_active--;
        bool taken_back = unlink_waiting(p, job);
        uv_mutex_unlock(&p->mu);
        if (!taken_back)
            return 0;
        jobs_out(p, -1);
        return UV_ENOMEM;
    }
    /* uv_queue_work fails only for a NULL work callback. */
    uv_queue_work(p->loop, &r->req, on_runner_work, on_runner_done);
    return 0;
}

bool uvfib__pool_take_back(struct uvfib__pool *pool, struct uvfib__pool_job *job)
{
    uv_mutex_lock(&pool->mu);
    bool waiting = unlink_waiting(pool, job);
    uv_mutex_unlock(&pool->mu);
    if (waiting) {
        atomic_store_explicit(&job->work.cancelled, true, memory_order_relaxed);
        jobs_out(pool, -1);
    }
    return waiting;
}

bool uvfib__pool_cancel(struct uvfib__pool *pool, struct uvfib__pool_job *job)
{
    return uvfib__pool_cancel_unfinished(pool, job) == UVFIB__POOL_TAKEN_BACK;
}

enum uvfib__pool_stop uvfib__pool_cancel_unfinished(struct uvfib__pool *pool,
                                                    struct uvfib__pool_job *job)
{
    uv_mutex_lock(&pool->mu);
    enum uvfib__pool_stop found = UVFIB__POOL_FINISHED;
    if (job->state != UVFIB__JOB_DONE) {
        /* Under mu: a runner marks the job done under mu too, so the flag is never raised on
         * a job that finished first (it would read as stopped, and count as cancelled). */
        atomic_store_explicit(&job->work.cancelled, true, memory_order_relaxed);
        found = unlink_waiting(pool, job) ? UVFIB__POOL_TAKEN_BACK : UVFIB__POOL_STOPPING;
    }
    uv_mutex_unlock(&pool->mu);
    if (found == UVFIB__POOL_TAKEN_BACK)
        jobs_out(pool, -1);
    return found;
}

uint64_t uvfib__pool_elapsed_ns(struct uvfib__pool *pool, const struct uvfib__pool_job *job,
                                uint64_t now_ns)
{
    uv_mutex_lock(&pool->mu);
    uint64_t elapsed = 0;
    if (job->state == UVFIB__JOB_RUNNING)
        elapsed = now_ns > job->started_ns ? now_ns - job->started_ns : 0;
    else if (job->state == UVFIB__JOB_DONE)
        elapsed = job->finished_ns - job->started_ns;
    uv_mutex_unlock(&pool->mu);
    return elapsed;
}

void uvfib__pool_counts(struct uvfib__pool *pool, unsigned *waiting, unsigned *running,
                        const struct uvfib__pool_job **head)
{
    if (pool->closed) { /* nothing waits or runs; the lock is gone with the threads */
        *waiting = *running = 0;
        if (head != NULL)
            *head = NULL;
        return;
    }
    uv_mutex_lock(&pool->mu);
    *waiting = pool->n_waiting;
    *running = pool->n_running + pool->n_handing_back;
    if (head != NULL)
        *head = pool->wait_head;
    uv_mutex_unlock(&pool->mu);
}

void uvfib__pool_close(struct uvfib__pool *pool, void (*cb)(struct uvfib__pool *pool))
{
    if (pool->closing)
        return;
    pool->closing = true;
    pool->close_cb = cb;
    /* Parked runners leave now, and none parks again. */
    uv_mutex_lock(&pool->mu);
    pool->stop_parking = true; /* and none holds a job (may_hold) */
    pool->hold_ok = false;
    struct uvfib__runner *parked = pool->parked;
    pool->parked = NULL;
    for (struct uvfib__runner *r = parked; r != NULL; r = r->park_next)
        r->parked = false;
    uv_mutex_unlock(&pool->mu);
    while (parked != NULL) {
        struct uvfib__runner *next = parked->park_next; /* read before it may run on */
        uv_cond_signal(&parked->cond);
        parked = next;
    }
    /* A runner libuv has not started yet would only find the FIFO empty: take it back now
     * rather than wait for a pool thread that may be busy with someone else's work. One that
     * has started answers UV_EBUSY and comes back by itself. */
    for (struct uvfib__runner *r = pool->busy; r != NULL; r = r->next)
        uv_cancel((uv_req_t *)&r->req);
    uv_prepare_stop(&pool->pickup);
    uv_timer_stop(&pool->hold_timer);
    maybe_closed(pool);
}

/* ------------------------------------------------------------------ measuring the hand-off */

/* One measurement: a private loop, a pool of one runner, an empty job submitted 1 ms after the
 * last came back, so the pool thread and the loop are both asleep when each round starts. */
struct measure {
    uv_loop_t loop;
    uv_timer_t gap;
    struct uvfib__pool pool;
    struct uvfib__pool_job job;
    uint64_t *samples;            /* borrowed: the caller's array of `rounds` */
    unsigned rounds, done;
    uint64_t start_ns;
};

static void on_measure_run(struct uvfib__pool_job *job)
{
}

static void on_measure_gap(uv_timer_t *timer)
{
    struct measure *m = timer->data;
    m->start_ns = uv_hrtime();
    if (uvfib__pool_submit(&m->pool, &m->job) < 0) { /* no memory: stop, fewer rounds */
        uv_close((uv_handle_t *)&m->gap, NULL);
        uvfib__pool_close(&m->pool, NULL);
    }
}

static void on_measure_done(struct uvfib__pool *pool, struct uvfib__pool_job *job)
{
    struct measure *m = CONTAINER_OF(pool, struct measure, pool);
    m->samples[m->done++] = uv_hrtime() - m->start_ns;
    if (m->done < m->rounds) {
        uv_timer_start(&m->gap, on_measure_gap, 1, 0);
    } else {
        uv_close((uv_handle_t *)&m->gap, NULL);
        /* Now, not after uv_run: the runner's request keeps the loop running while it parks,
         * and only the close wakes it before its linger ends. */
        uvfib__pool_close(&m->pool, NULL);
    }
}

int uvfib_measure_handoff(unsigned rounds, uint64_t *samples_ns)
{
    if (rounds == 0 || samples_ns == NULL)
        return UV_EINVAL;
    struct measure *m = uvfib__calloc(1, sizeof(*m));
    if (m == NULL)
        return UV_ENOMEM;
    m->samples = samples_ns;
    m->rounds = rounds;
    m->job.run = on_measure_run;
    int err = uv_loop_init(&m->loop);
    if (err < 0) {
        uvfib__free(m);
        return err;
    }
    struct uvfib__pool_priority prio = {UVFIB_PRIORITY_NORMAL, 0};
    err = uvfib__pool_init(&m->pool, &m->loop, 1, prio, on_measure_done);
    if (err == 0) {
        uv_timer_init(&m->loop, &m->gap);
        m->gap.data = m;
        uv_timer_start(&m->gap, on_measure_gap, 1, 0);
        uv_run(&m->loop, UV_RUN_DEFAULT);
        /* Whatever ended the rounds, nothing of ours may stay open on the private loop. */
        if (!uv_is_closing((uv_handle_t *)&m->gap))
            uv_close((uv_handle_t *)&m->gap, NULL);
        uvfib__pool_close(&m->pool, NULL);
        uv_run(&m->loop, UV_RUN_DEFAULT);
        err = m->done == rounds ? 0 : UV_ENOMEM;
    }
    int closed = uv_loop_close(&m->loop);
    (void)closed;
    assert(closed == 0);
    uvfib__free(m);
    return err;
}
