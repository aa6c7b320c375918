/* test_pool.c - src/pool.c on a real loop and libuv's real thread pool (8 threads here, more
 * than the pool may use): FIFO order, at most `threads` jobs at once, done exactly once,
 * cancel of waiting and running jobs, a runner still queued in libuv taken back at close,
 * the races between a runner going idle and a new job arriving, parked runners (reused
 * without libuv, woken at close, gone after their linger), the compute priority (held only
 * while work that is not cheap runs, where the process may raise it back), and out of memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "alloc.h"
#include "pool.h"

#define LIBUV_THREADS 8
#define DEADLINE_NS (20ull * 1000000000ull) /* generous: sanitizers and valgrind are slow */

struct tjob {
    struct uvfib__pool_job pj;
    atomic_int runs;              /* times run was called: pool threads */
    int dones;                    /* times done_cb was called: loop */
    unsigned index;               /* position in submission order */
    uv_sem_t *gate;               /* when set, run waits on it first */
    bool spin_until_cancelled;    /* run polls the cancel flag until it is raised */
    atomic_bool saw_cancel;       /* run returned because of the flag */
};

static atomic_uint started_seq;     /* order in which run() calls began */
static unsigned run_order[4096];    /* run_order[k] = index of the k-th job to start */
static unsigned done_order[4096];   /* done_order[k] = index of the k-th job to finish */
static unsigned n_done;
static atomic_int concurrent, max_concurrent;
static atomic_int want_overlap;     /* run waits until this many run at once, or OVERLAP_NS */
#define OVERLAP_NS (50ull * 1000000ull)

static void reset_globals(void)
{
    atomic_store(&started_seq, 0);
    n_done = 0;
    atomic_store(&concurrent, 0);
    atomic_store(&max_concurrent, 0);
    atomic_store(&want_overlap, 0);
}

static uint64_t now_ns(void)
{
    return uv_hrtime();
}

static void on_run(struct uvfib__pool_job *pj)
{
    struct tjob *j = (struct tjob *)pj;
    atomic_fetch_add(&j->runs, 1);
    unsigned k = atomic_fetch_add(&started_seq, 1);
    if (k < 4096)
        run_order[k] = j->index;
    int c = atomic_fetch_add(&concurrent, 1) + 1;
    int m = atomic_load(&max_concurrent);
    while (c > m && !atomic_compare_exchange_weak(&max_concurrent, &m, c))
        ;
    int want = atomic_load(&want_overlap);
    if (want > 0) {
        uint64_t end = now_ns() + OVERLAP_NS;
        while (atomic_load(&max_concurrent) < want && now_ns() < end)
            ;
    }
    if (j->gate != NULL)
        uv_sem_wait(j->gate);
    if (j->spin_until_cancelled) {
        uint64_t end = now_ns() + DEADLINE_NS;
        while (!uvfib_work_cancelled(&pj->work) && now_ns() < end)
            ;
        atomic_store(&j->saw_cancel, uvfib_work_cancelled(&pj->work) != 0);
    }
    atomic_fetch_sub(&concurrent, 1);
}

static void on_done(struct uvfib__pool *pool, struct uvfib__pool_job *pj)
{
    struct tjob *j = (struct tjob *)pj;
    j->dones++;
    if (n_done < 4096)
        done_order[n_done] = j->index;
    n_done++;
}

static struct tjob *make_jobs(unsigned n)
{
    struct tjob *jobs = calloc(n, sizeof(*jobs));
    for (unsigned i = 0; i < n; i++) {
        jobs[i].pj.run = on_run;
        jobs[i].index = i;
    }
    return jobs;
}

/* Runs the loop until *done_count reaches want or the deadline passes. */
static void run_until(uv_loop_t *loop, const unsigned *done_count, unsigned want)
{
    uint64_t end = now_ns() + DEADLINE_NS;
    while (*done_count < want && now_ns() < end)
        uv_run(loop, UV_RUN_NOWAIT);
}

static bool closed;
static void on_closed(struct uvfib__pool *pool)
{
    closed = true;
}

static void close_pool(uv_loop_t *loop, struct uvfib__pool *pool)
{
    closed = false;
    uvfib__pool_close(pool, on_closed);
    uint64_t end = now_ns() + DEADLINE_NS;
    while (!closed && now_ns() < end)
        uv_run(loop, UV_RUN_NOWAIT);
    assert_true(closed);
    assert_int_equal(pool->n_active, 0); /* every runner, run or taken back, has left */
    assert_int_equal(pool->n_submitted, 0);
}

/* A loop and a pool of `threads` on it, with the globals reset; fx_end closes both and
 * checks that nothing leaked. */
struct fixture {
    uv_loop_t loop;
    struct uvfib__pool pool;
    long live;                    /* allocations before the pool */
};

static void fx_start_with(struct fixture *fx, unsigned threads, struct uvfib__pool_priority prio,
                          uvfib__pool_done_cb done_cb)
{
    reset_globals();
    fx->live = uvfib__alloc_live();
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    assert_int_equal(uvfib__pool_init(&fx->pool, &fx->loop, threads, prio, done_cb), 0);
}

static void fx_start(struct fixture *fx, unsigned threads)
{
    struct uvfib__pool_priority prio = {UVFIB_PRIORITY_NORMAL, 0};
    fx_start_with(fx, threads, prio, on_done);
}

static void fx_end(struct fixture *fx)
{
    if (!fx->pool.closing)
        close_pool(&fx->loop, &fx->pool);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    assert_int_equal(uvfib__alloc_live(), fx->live);
}

/* ------------------------------------------------------------------ tests */

static void test_one_thread_runs_and_returns_jobs_in_fifo_order(void **state)
{
    (void)state;
    struct fixture fx;
    fx_start(&fx, 1);
    enum { N = 200 };
    struct tjob *jobs = make_jobs(N);
    for (unsigned i = 0; i < N; i++)
        assert_int_equal(uvfib__pool_submit(&fx.pool, &jobs[i].pj), 0);
    run_until(&fx.loop, &n_done, N);
    assert_int_equal(n_done, N);
    for (unsigned i = 0; i < N; i++) {
        assert_int_equal(run_order[i], i);
        assert_int_equal(done_order[i], i);
        assert_int_equal(atomic_load(&jobs[i].runs), 1);
        assert_int_equal(jobs[i].dones, 1);
        assert_true(jobs[i].pj.started_ns != 0 && jobs[i].pj.finished_ns >= jobs[i].pj.started_ns);
    }
    assert_int_equal(atomic_load(&max_concurrent), 1);
    fx_end(&fx);
    free(jobs);
}

static void test_at_most_threads_jobs_run_at_once_in_a_larger_pool(void **state)
{
    (void)state;
    struct fixture fx;
    fx_start(&fx, 2);
    /* Each job holds its thread until three run at once, or 50 ms: libuv has 8 threads and
     * a third job would start if the pool let it; the pool may use 2. */
    atomic_store(&want_overlap, 3);
    enum { N = 20 };
    struct tjob *jobs = make_jobs(N);
    for (unsigned i = 0; i < N; i++)
        assert_int_equal(uvfib__pool_submit(&fx.pool, &jobs[i].pj), 0);
    unsigned waiting, running;
    const struct uvfib__pool_job *head;
    uvfib__pool_counts(&fx.pool, &waiting, &running, &head);
    assert_true(waiting + running == N);
    assert_true(running <= 2);
    /* The head is the oldest waiting job: the first one no runner has taken. */
    assert_ptr_equal(head, waiting > 0 ? &jobs[N - waiting].pj : NULL);
    run_until(&fx.loop, &n_done, N);
    assert_int_equal(n_done, N);
    assert_int_equal(atomic_load(&max_concurrent), 2);
    uvfib__pool_counts(&fx.pool, &waiting, &running, NULL);
    assert_int_equal(waiting, 0);
    assert_int_equal(running, 0);
    fx_end(&fx);
    free(jobs);
}

static void test_cancelled_waiting_job_never_runs_and_is_not_done(void **state)
{
    (void)state;
    struct fixture fx;
    fx_start(&fx, 1);
    uv_sem_t gate;
    uv_sem_init(&gate, 0);
    struct tjob *jobs = make_jobs(3);
    jobs[0].gate = &gate; /* holds the only thread */
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(uvfib__pool_submit(&fx.pool, &jobs[i].pj), 0);
    assert_int_equal(uvfib__pool_elapsed_ns(&fx.pool, &jobs[1].pj, uv_hrtime()), 0); /* waits */
    assert_true(uvfib__pool_cancel(&fx.pool, &jobs[1].pj));
    assert_int_equal(jobs[1].pj.state, UVFIB__JOB_NEW); /* its owner's again */
    /* A second cancel of the same job finds nothing to take back. */
    assert_false(uvfib__pool_cancel(&fx.pool, &jobs[1].pj));
    uv_sem_post(&gate);
    run_until(&fx.loop, &n_done, 2);
    assert_int_equal(n_done, 2);
    assert_int_equal(atomic_load(&jobs[1].runs), 0);
    assert_int_equal(jobs[1].dones, 0);
    assert_int_equal(jobs[0].dones, 1);
    assert_int_equal(jobs[2].dones, 1);
    assert_int_equal(done_order[0], 0);
    assert_int_equal(done_order[1], 2);
    fx_end(&fx);
    uv_sem_destroy(&gate);
    free(jobs);
}

static void test_cancelled_running_job_sees_the_flag_and_comes_back_once(void **state)
{
    (void)state;
    struct fixture fx;
    fx_start(&fx, 1);
    struct tjob *jobs = make_jobs(1);
    jobs[0].spin_until_cancelled = true;
    assert_int_equal(uvfib__pool_submit(&fx.pool, &jobs[0].pj), 0);
    /* Wait for run itself to begin: a job cancelled after a runner took it but before run
     * began is skipped instead, which is right too but not what this test is about. */
    uint64_t end = now_ns() + DEADLINE_NS;
    while (atomic_load(&jobs[0].runs) == 0 && now_ns() < end)
        uv_run(&fx.loop, UV_RUN_NOWAIT);
    assert_true(uvfib__pool_elapsed_ns(&fx.pool, &jobs[0].pj, uv_hrtime() + 1) > 0);
    assert_false(uvfib__pool_cancel(&fx.pool, &jobs[0].pj)); /* running: not taken back */
    run_until(&fx.loop, &n_done, 1);
    assert_int_equal(jobs[0].dones, 1);
    assert_true(atomic_load(&jobs[0].saw_cancel));
    fx_end(&fx);
    free(jobs);
}

/* libuv work that holds one of its threads until released. */
struct blocker {
    uv_work_t req;
    uv_sem_t *gate;
    uv_sem_t *started;            /* when set, posted as the blocker takes its thread */
    bool back;
};

static void on_block(uv_work_t *req)
{
    struct blocker *b = req->data;
    if (b->started != NULL)
        uv_sem_post(b->started);
    uv_sem_wait(b->gate);
}

static void on_block_done(uv_work_t *req, int status)
{
    struct blocker *b = req->data;
    b->back = true;
}

static void test_runner_queued_in_libuv_is_taken_back_at_close(void **state)
{
    (void)state;
    struct fixture fx;
    fx_start(&fx, 2);
    uv_sem_t gate;
    uv_sem_init(&gate, 0);
    /* Every libuv thread busy with someone else's work. */
    struct blocker blockers[LIBUV_THREADS];
    for (int i = 0; i < LIBUV_THREADS; i++) {
        blockers[i] = (struct blocker){.gate = &gate};
        blockers[i].req.data = &blockers[i];
        uv_queue_work(&fx.loop, &blockers[i].req, on_block, on_block_done);
    }
    struct tjob *jobs = make_jobs(2);
    for (unsigned i = 0; i < 2; i++)
        assert_int_equal(uvfib__pool_submit(&fx.pool, &jobs[i].pj), 0);
    /* Both runners wait in libuv's queue; their jobs in ours. */
    assert_int_equal(fx.pool.n_submitted, 2);
    for (unsigned i = 0; i < 2; i++)
        assert_true(uvfib__pool_cancel(&fx.pool, &jobs[i].pj));
    /* The close does not wait for a libuv thread: uv_cancel takes the runners back. */
    close_pool(&fx.loop, &fx.pool);
    for (int i = 0; i < LIBUV_THREADS; i++)
        assert_false(blockers[i].back);
    assert_int_equal(n_done, 0);
    assert_int_equal(atomic_load(&jobs[0].runs) + atomic_load(&jobs[1].runs), 0);
    for (int i = 0; i < LIBUV_THREADS; i++)
        uv_sem_post(&gate);
    fx_end(&fx); /* the pool is closed already; the loop runs the blockers out */
    for (int i = 0; i < LIBUV_THREADS; i++)
        assert_true(blockers[i].back);
    uv_sem_destroy(&gate);
    free(jobs);
}

/* Also the regression test of a lost hand-back: runners woke the loop through a handle that
 * did not hold it alive, and a loop with nothing else to do (here: between rounds) could stop
 * polling with the last job on the done list. Run twice: runners that leave the moment they
 * are idle (linger 0: leaving races arriving), and parked ones (a job queued while a runner
 * wakes the loop, or parks, or is being woken). */
static void rounds_arriving_as_runners_idle(unsigned linger_ms)
{
    struct fixture fx;
    fx_start(&fx, 2);
    fx.pool.linger_ms = linger_ms;
    /* Rounds of one or three jobs, each round submitted the moment the last came back:
     * runners are going idle (or just went) as new jobs arrive, every time. */
    enum { ROUNDS = 1000 };
    struct tjob *jobs = make_jobs(ROUNDS * 3);
    unsigned submitted = 0;
    for (unsigned r = 0; r < ROUNDS; r++) {
        unsigned k = r % 2 == 0 ? 1 : 3;
        for (unsigned i = 0; i < k; i++)
            assert_int_equal(uvfib__pool_submit(&fx.pool, &jobs[submitted++].pj), 0);
        run_until(&fx.loop, &n_done, submitted);
        assert_int_equal(n_done, submitted);
    }
    for (unsigned i = 0; i < submitted; i++)
        assert_int_equal(jobs[i].dones, 1);
    fx_end(&fx);
    free(jobs);
}

static void test_job_arriving_as_runners_leave_always_runs(void **state)
{
    (void)state;
    rounds_arriving_as_runners_idle(0);
}

/* The narrowest of those windows, every round: the runner has taken nothing, woken the loop
 * and not yet locked again when the next job arrives. It must take that job, not park or
 * leave with it waiting (it counts as active, so no other runner starts). */
static uv_sem_t next_submitted;
static void wait_next_submitted(struct uvfib__pool *pool)
{
    (void)pool;
    uv_sem_wait(&next_submitted);
}

static void test_job_arriving_while_a_runner_wakes_the_loop_runs(void **state)
{
    (void)state;
    for (unsigned linger = 0; linger <= 1; linger++) {
        struct fixture fx;
        fx_start(&fx, 1);
        fx.pool.linger_ms = linger * UVFIB__POOL_LINGER_MS;
        uv_sem_init(&next_submitted, 0);
        fx.pool.after_wake = wait_next_submitted;
        enum { ROUNDS = 50 };
        struct tjob *jobs = make_jobs(ROUNDS);
        assert_int_equal(uvfib__pool_submit(&fx.pool, &jobs[0].pj), 0);
        for (unsigned r = 1; r <= ROUNDS; r++) {
            run_until(&fx.loop, &n_done, r);
            assert_int_equal(n_done, r);
            if (r < ROUNDS)
                assert_int_equal(uvfib__pool_submit(&fx.pool, &jobs[r].pj), 0);
            uv_sem_post(&next_submitted);
        }
        fx_end(&fx);
        uv_sem_destroy(&next_submitted);
        free(jobs);
    }
}

static void test_job_arriving_as_runners_park_always_runs(void **state)
{
    (void)state;
    rounds_arriving_as_runners_idle(UVFIB__POOL_LINGER_MS);
}

#define LONG_LINGER_MS (60u * 1000u) /* beyond DEADLINE_NS (20 s): only a wake-up ends it */

/* A runner that went idle takes the next job where it parked: no new uv_queue_work, so even
 * with every other libuv thread busy with someone else's work the job runs. */
static void test_parked_runner_takes_the_next_job_without_libuv(void **state)
{
    (void)state;
    struct fixture fx;
    fx_start(&fx, 1);
    fx.pool.linger_ms = LONG_LINGER_MS;
    struct tjob *jobs = make_jobs(2);
    assert_int_equal(uvfib__pool_submit(&fx.pool, &jobs[0].pj), 0);
    run_until(&fx.loop, &n_done, 1);
    assert_int_equal(n_done, 1);
    assert_int_equal(fx.pool.n_submitted, 1); /* the runner has not left */

    uv_sem_t gate, started;
    uv_sem_init(&gate, 0);
    uv_sem_init(&started, 0);
    struct blocker blockers[LIBUV_THREADS - 1];
    for (int i = 0; i < LIBUV_THREADS - 1; i++) {
        blockers[i] = (struct blocker){.gate = &gate, .started = &started};
        blockers[i].req.data = &blockers[i];
        uv_queue_work(&fx.loop, &blockers[i].req, on_block, on_block_done);
    }
    for (int i = 0; i < LIBUV_THREADS - 1; i++)
        uv_sem_wait(&started); /* every libuv thread but the parked runner's is taken */

    assert_int_equal(uvfib__pool_submit(&fx.pool, &jobs[1].pj), 0);
    assert_int_equal(fx.pool.n_submitted, 1);
    run_until(&fx.loop, &n_done, 2);
    assert_int_equal(jobs[1].dones, 1);
    assert_int_equal(atomic_load(&jobs[1].runs), 1);

    /* The close wakes the parked runner: it does not wait out its linger. */
    close_pool(&fx.loop, &fx.pool);
    for (int i = 0; i < LIBUV_THREADS - 1; i++)
        uv_sem_post(&gate);
    fx_end(&fx);
    uv_sem_destroy(&gate);
    uv_sem_destroy(&started);
    free(jobs);
}

/* Idle runners give their threads back to libuv once the linger has passed. */
static void test_idle_runners_leave_after_their_linger(void **state)
{
    (void)state;
    struct fixture fx;
    fx_start(&fx, 2);
    fx.pool.linger_ms = 20;
    uv_sem_t gate;
    uv_sem_init(&gate, 0);
    struct tjob *jobs = make_jobs(2);
    for (unsigned i = 0; i < 2; i++) {
        jobs[i].gate = &gate; /* the first is still running when the second comes */
        assert_int_equal(uvfib__pool_submit(&fx.pool, &jobs[i].pj), 0);
    }
    assert_int_equal(fx.pool.n_submitted, 2); /* a runner each */
    uv_sem_post(&gate);
    uv_sem_post(&gate);
    run_until(&fx.loop, &n_done, 2);
    assert_int_equal(n_done, 2);
    uint64_t end = now_ns() + DEADLINE_NS;
    while (fx.pool.n_submitted > 0 && now_ns() < end)
        uv_run(&fx.loop, UV_RUN_ONCE); /* each runner's return is a libuv completion */
    assert_int_equal(fx.pool.n_submitted, 0);
    uv_mutex_lock(&fx.pool.mu);
    assert_int_equal(fx.pool.n_active, 0);
    assert_null(fx.pool.parked);
    uv_mutex_unlock(&fx.pool.mu);
    /* And the pool starts a new runner for the next job. */
    struct tjob *more = make_jobs(1);
    assert_int_equal(uvfib__pool_submit(&fx.pool, &more[0].pj), 0);
    assert_int_equal(fx.pool.n_submitted, 1);
    run_until(&fx.loop, &n_done, 3);
    assert_int_equal(more[0].dones, 1);
    fx_end(&fx);
    uv_sem_destroy(&gate);
    free(jobs);
    free(more);
}

static void test_a_finished_job_counts_its_run_not_the_wait_for_the_loop(void **state)
{
    (void)state;
    struct fixture fx;
    fx_start(&fx, 1);
    struct tjob *jobs = make_jobs(1);
    assert_int_equal(uvfib__pool_submit(&fx.pool, &jobs[0].pj), 0);
    /* The job runs and finishes; the loop, not running, has not taken it back: its elapsed
     * time stops growing. */
    uint64_t end = now_ns() + DEADLINE_NS, a = 0, b = 1;
    while ((a == 0 || a != b) && now_ns() < end) {
        uint64_t now = uv_hrtime();
        a = uvfib__pool_elapsed_ns(&fx.pool, &jobs[0].pj, now);
        b = uvfib__pool_elapsed_ns(&fx.pool, &jobs[0].pj, now + 1000000000ull);
    }
    assert_true(a > 0);
    assert_true(a == b); /* its run, however long it then waits to be taken back */
    /* Until the loop has it, it counts as running, so counts and outcomes add up. */
    unsigned waiting, running;
    uvfib__pool_counts(&fx.pool, &waiting, &running, NULL);
    assert_int_equal(waiting, 0);
    assert_int_equal(running, 1);
    assert_int_equal(n_done, 0);
    run_until(&fx.loop, &n_done, 1);
    fx_end(&fx);
    free(jobs);
}

/* Regression: the loop took a batch of finished jobs off "running" all at once, before the
 * first one's done callback ran, so the counts went backwards inside it. Each job stays
 * counted until its own done callback, where its owner counts it as finished. */
static unsigned batch_size, counts_wrong;

static void on_done_check_counts(struct uvfib__pool *pool, struct uvfib__pool_job *pj)
{
    (void)pj;
    n_done++; /* what the owner counts as finished from here */
    unsigned waiting, running;
    uvfib__pool_counts(pool, &waiting, &running, NULL);
    if (waiting + running + n_done != batch_size)
        counts_wrong++;
}

static bool all_done_not_back(struct uvfib__pool *pool, struct tjob *jobs, unsigned n)
{
    uv_mutex_lock(&pool->mu);
    bool all = true;
    for (unsigned i = 0; i < n; i++)
        all = all && jobs[i].pj.state == UVFIB__JOB_DONE;
    uv_mutex_unlock(&pool->mu);
    return all;
}

static void test_counts_add_up_in_each_done_callback_of_a_batch(void **state)
{
    (void)state;
    struct fixture fx;
    struct uvfib__pool_priority prio = {UVFIB_PRIORITY_NORMAL, 0};
    fx_start_with(&fx, 1, prio, on_done_check_counts);
    batch_size = 3;
    counts_wrong = 0;
    struct tjob *jobs = make_jobs(batch_size);
    for (unsigned i = 0; i < batch_size; i++)
        assert_int_equal(uvfib__pool_submit(&fx.pool, &jobs[i].pj), 0);
    /* The loop does not run: every job finishes and waits on the done list, one batch. */
    uint64_t end = now_ns() + DEADLINE_NS;
    while (!all_done_not_back(&fx.pool, jobs, batch_size) && now_ns() < end)
        sched_yield();
    assert_true(all_done_not_back(&fx.pool, jobs, batch_size));
    run_until(&fx.loop, &n_done, batch_size);
    assert_int_equal(n_done, batch_size);
    assert_int_equal(counts_wrong, 0);
    fx_end(&fx);
    free(jobs);
}

/* ------------------------------------------------------------------ compute priority */

/* A job that notes the scheduling of the thread it ran on. */
struct pjob {
    struct uvfib__pool_job pj;
    pid_t tid;
    int nice, policy;
};

static void on_run_note_priority(struct uvfib__pool_job *pj)
{
    struct pjob *j = (struct pjob *)pj;
    j->tid = (pid_t)syscall(SYS_gettid);
    j->nice = getpriority(PRIO_PROCESS, (id_t)j->tid);
    j->policy = sched_getscheduler(0);
}

static void on_done_count(struct uvfib__pool *pool, struct uvfib__pool_job *pj)
{
    (void)pool, (void)pj;
    n_done++;
}

/* Runs one job, cheap or not, through fx's pool and returns what it saw. */
static struct pjob run_noting_priority(struct fixture *fx, bool cheap)
{
    struct pjob j = {.pj = {.run = on_run_note_priority, .cheap = cheap}};
    unsigned want = n_done + 1;
    assert_int_equal(uvfib__pool_submit(&fx->pool, &j.pj), 0);
    run_until(&fx->loop, &n_done, want);
    assert_int_equal(n_done, want);
    return j;
}

static bool pool_has_parked_runner(struct uvfib__pool *pool)
{
    uv_mutex_lock(&pool->mu);
    bool parked = pool->parked != NULL;
    uv_mutex_unlock(&pool->mu);
    return parked;
}

/* Whether this process may raise a thread's priority back, tried on a thread of its own. */
static void *try_raise(void *arg)
{
    id_t tid = (id_t)syscall(SYS_gettid);
    int nice = getpriority(PRIO_PROCESS, tid);
    *(bool *)arg = nice < 19 && setpriority(PRIO_PROCESS, tid, nice + 1) == 0 &&
                   setpriority(PRIO_PROCESS, tid, nice) == 0;
    return NULL;
}

static bool may_raise_priority(void)
{
    bool may = false;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, try_raise, &may), 0);
    pthread_join(t, NULL);
    return may;
}

/* A pool thread is at the compute priority while it runs work that is not cheap, at its own
 * while it runs cheap work, parks or goes back to libuv: a lowered thread wakes later, and
 * libuv's threads also run the embedder's work. nice and batch (policy and nice), and idle
 * (SCHED_IDLE, which ignores the nice increment). */
static void test_compute_priority_is_held_only_while_work_that_is_not_cheap_runs(void **state)
{
    (void)state;
    if (!may_raise_priority())
        skip(); /* without CAP_SYS_NICE or RLIMIT_NICE a lowered thread stays lowered */
    int base = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid)); /* libuv's threads' too */
    const struct {
        uvfib_priority_t policy;
        int nice, low_policy, low_nice_step; /* the increment the lowered thread shows */
    } cases[] = {{UVFIB_PRIORITY_NICE, 5, SCHED_OTHER, 5},
                 {UVFIB_PRIORITY_BATCH, 3, SCHED_BATCH, 3},
                 {UVFIB_PRIORITY_IDLE, 7, SCHED_IDLE, 0}};
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct fixture fx;
        struct uvfib__pool_priority prio = {cases[c].policy, cases[c].nice};
        fx_start_with(&fx, 1, prio, on_done_count);
        fx.pool.linger_ms = LONG_LINGER_MS;
        int step = cases[c].low_nice_step;
        int low = base + step > 19 ? 19 : base + step;

        struct pjob heavy = run_noting_priority(&fx, false);
        assert_int_equal(heavy.nice, low);
        assert_int_equal(heavy.policy, cases[c].low_policy);
        /* The same runner, parked since: raised before it parked. */
        uint64_t end = now_ns() + DEADLINE_NS;
        while (!pool_has_parked_runner(&fx.pool) && now_ns() < end)
            uv_run(&fx.loop, UV_RUN_NOWAIT);
        assert_true(pool_has_parked_runner(&fx.pool));
        assert_int_equal(getpriority(PRIO_PROCESS, (id_t)heavy.tid), base);
        assert_int_equal(sched_getscheduler(heavy.tid), SCHED_OTHER);

        struct pjob cheap = run_noting_priority(&fx, true);
        assert_int_equal(cheap.nice, base);
        assert_int_equal(cheap.policy, SCHED_OTHER);
        heavy = run_noting_priority(&fx, false);
        assert_int_equal(heavy.nice, low);

        /* A runner that leaves at once gives libuv its thread back at the thread's own. */
        close_pool(&fx.loop, &fx.pool);
        assert_int_equal(getpriority(PRIO_PROCESS, (id_t)heavy.tid), base);
        assert_int_equal(sched_getscheduler(heavy.tid), SCHED_OTHER);
        fx_end(&fx);
    }
}

/* At UVFIB_PRIORITY_NORMAL the pool leaves every thread as it found it. */
static void test_normal_priority_leaves_threads_alone(void **state)
{
    (void)state;
    struct fixture fx;
    struct uvfib__pool_priority prio = {UVFIB_PRIORITY_NORMAL, 0};
    fx_start_with(&fx, 1, prio, on_done_count);
    int base = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
    struct pjob heavy = run_noting_priority(&fx, false);
    assert_int_equal(heavy.nice, base);
    assert_int_equal(heavy.policy, SCHED_OTHER);
    fx_end(&fx);
}

static void test_no_memory_for_a_runner_fails_the_submit_cleanly(void **state)
{
    (void)state;
    struct fixture fx;
    fx_start(&fx, 1);
    struct tjob *jobs = make_jobs(2);
    uvfib__alloc_fail_after(1);
    assert_int_equal(uvfib__pool_submit(&fx.pool, &jobs[0].pj), UV_ENOMEM);
    uvfib__alloc_fail_after(0);
    unsigned waiting, running;
    uvfib__pool_counts(&fx.pool, &waiting, &running, NULL);
    assert_int_equal(waiting + running, 0);
    assert_int_equal(jobs[0].pj.state, UVFIB__JOB_NEW);
    /* The pool is still usable. */
    assert_int_equal(uvfib__pool_submit(&fx.pool, &jobs[1].pj), 0);
    run_until(&fx.loop, &n_done, 1);
    assert_int_equal(jobs[1].dones, 1);
    assert_int_equal(atomic_load(&jobs[0].runs), 0);
    fx_end(&fx);
    free(jobs);
}

static void test_measure_handoff_times_each_round_trip(void **state)
{
    (void)state;
    long live = uvfib__alloc_live();
    uint64_t samples[8] = {0};
    assert_int_equal(uvfib_measure_handoff(8, samples), 0);
    for (int i = 0; i < 8; i++)
        assert_true(samples[i] > 0);
    assert_int_equal(uvfib_measure_handoff(0, samples), UV_EINVAL);
    assert_int_equal(uvfib_measure_handoff(8, NULL), UV_EINVAL);
    assert_int_equal(uvfib__alloc_live(), live);
}

/* ------------------------------------------------------------------ holding finished jobs */

/* Two threads, each running a job held at its gate, and `waiting` more behind them, gated too
 * (so a runner that takes one blocks there); the loop has looked once since both started, so
 * it knows whether runners may hold (hold_ok). gates must hold 2 + waiting semaphores. */
static struct tjob *two_running_after(struct fixture *fx, uint64_t hold_ms, unsigned waiting,
                                      uv_sem_t *gates, uv_prepare_t *late, uv_prepare_cb late_cb)
{
    fx_start(fx, 2);
    fx->pool.hold_ms = hold_ms;
    if (late != NULL) {
        /* Started before the pool's own (at the first submit): libuv runs the newest first, so
         * this one runs after the pool's, just before the loop polls. */
        uv_prepare_init(&fx->loop, late);
        uv_prepare_start(late, late_cb);
    }
    struct tjob *jobs = make_jobs(2 + waiting);
    for (unsigned i = 0; i < 2 + waiting; i++) {
        uv_sem_init(&gates[i], 0);
        jobs[i].gate = &gates[i];
        assert_int_equal(uvfib__pool_submit(&fx->pool, &jobs[i].pj), 0);
    }
    uint64_t end = now_ns() + DEADLINE_NS;
    while (atomic_load(&started_seq) < 2 && now_ns() < end)
        uv_run(&fx->loop, UV_RUN_NOWAIT);
    assert_int_equal(atomic_load(&started_seq), 2);
    uv_run(&fx->loop, UV_RUN_NOWAIT); /* before its poll, the loop decides hold_ok */
    return jobs;
}

static struct tjob *two_running(struct fixture *fx, uint64_t hold_ms, unsigned waiting,
                                uv_sem_t *gates)
{
    return two_running_after(fx, hold_ms, waiting, gates, NULL, NULL);
}

/* Lets job i finish and waits (without running the loop) until a runner has put it on the
 * done list. @return whether it was held there rather than waking the loop. */
static bool finish(struct fixture *fx, struct tjob *jobs, uv_sem_t *gates, unsigned i)
{
    uv_sem_post(&gates[i]);
    uint64_t end = now_ns() + DEADLINE_NS;
    for (;;) {
        uv_mutex_lock(&fx->pool.mu);
        bool done = jobs[i].pj.state == UVFIB__JOB_DONE;
        bool held = atomic_load(&fx->pool.held);
        uv_mutex_unlock(&fx->pool.mu);
        if (done || now_ns() >= end) {
            assert_true(done);
            return held;
        }
        sched_yield();
    }
}

/* Waits until a runner has written the pool's eventfd, the loop's wake-up. */
static void assert_loop_woken(struct fixture *fx)
{
    struct pollfd pfd = {.fd = fx->pool.wake_fd, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, (int)(DEADLINE_NS / 1000000)), 1);
}

static void end_two_running(struct fixture *fx, struct tjob *jobs, uv_sem_t *gates, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        uv_sem_post(&gates[i]);
    run_until(&fx->loop, &n_done, n);
    assert_int_equal(n_done, n);
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(jobs[i].dones, 1);
    /* Everything back: the next pass stops the pool's own watcher and lets no runner hold. */
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    assert_false(uv_is_active((uv_handle_t *)&fx->pool.pickup));
    assert_false(uv_is_active((uv_handle_t *)&fx->pool.hold_timer));
    assert_false(fx->pool.hold_ok);
    fx_end(fx);
    for (unsigned i = 0; i < n; i++)
        uv_sem_destroy(&gates[i]);
    free(jobs);
}

static void test_a_held_job_comes_back_with_the_next_in_one_wake_up(void **state)
{
    (void)state;
    struct fixture fx;
    uv_sem_t gates[6];
    /* A bound far beyond the test's deadline: only the second job can bring the first back. */
    struct tjob *jobs = two_running(&fx, 3600 * 1000, 4, gates);
    uint64_t wakes = fx.pool.n_wakes;
    assert_true(finish(&fx, jobs, gates, 0));
    assert_int_equal(n_done, 0);
    /* The second one wakes the loop for both: the eventfd is written, and one hand-back
     * returns the two. */
    assert_false(finish(&fx, jobs, gates, 1));
    assert_loop_woken(&fx);
    uv_run(&fx.loop, UV_RUN_ONCE);
    assert_int_equal(n_done, 2);
    assert_int_equal(fx.pool.n_wakes, wakes + 1);
    end_two_running(&fx, jobs, gates, 6);
}

static void on_guard(uv_timer_t *timer)
{
    (void)timer;
}

/* Finishes job 0 in the last moment before the loop polls, after the pool has looked. */
struct late_finish {
    struct fixture *fx;
    struct tjob *jobs;
    uv_sem_t *gates;
    bool armed;                   /* finish at the next pass */
    bool held;                    /* it was held */
    bool quiet;                   /* and the eventfd was not written */
};

static void on_late_finish(uv_prepare_t *prepare)
{
    struct late_finish *l = prepare->data;
    if (!l->armed)
        return;
    l->armed = false;
    l->held = finish(l->fx, l->jobs, l->gates, 0);
    struct pollfd pfd = {.fd = l->fx->pool.wake_fd, .events = POLLIN};
    l->quiet = poll(&pfd, 1, 0) == 0;
    uv_prepare_stop(prepare);
}

static void test_a_held_job_comes_back_by_the_bound_alone(void **state)
{
    (void)state;
    struct fixture fx;
    uv_sem_t gates[6];
    uv_prepare_t late;
    struct late_finish l = {.fx = &fx, .gates = gates};
    late.data = &l;
    /* A bound well inside the test's deadline, and far above the time a job takes here. */
    struct tjob *jobs = two_running_after(&fx, 500, 4, gates, &late, on_late_finish);
    l.jobs = jobs;
    l.armed = true;
    /* Job 0 is held after the pool's last look before the poll, and nothing else finishes or
     * arrives: only the hold timer can wake the loop. The guard, due at the deadline, ends the
     * wait if nothing does. */
    uv_timer_t guard;
    uv_timer_init(&fx.loop, &guard);
    uv_timer_start(&guard, on_guard, DEADLINE_NS / 1000000, 0);
    while (n_done < 1 && uv_is_active((uv_handle_t *)&guard))
        uv_run(&fx.loop, UV_RUN_ONCE);
    assert_true(l.held);
    assert_true(l.quiet);
    assert_true(uv_is_active((uv_handle_t *)&guard));
    uv_close((uv_handle_t *)&guard, NULL);
    uv_close((uv_handle_t *)&late, NULL);
    assert_int_equal(n_done, 1);
    assert_int_equal(jobs[0].dones, 1);
    assert_int_equal(jobs[1].dones, 0);
    end_two_running(&fx, jobs, gates, 6);
}

/* An embedder may run the loop's timers after its poll and then wait outside uv_run: once the
 * bound has fired, no runner holds until the loop has looked again and armed it anew. */
static void test_nothing_is_held_once_the_bound_fired_until_the_loop_looks_again(void **state)
{
    (void)state;
    struct fixture fx;
    uv_sem_t gates[6];
    struct tjob *jobs = two_running(&fx, 1, 4, gates);
    uv_timer_t guard;
    uv_timer_init(&fx.loop, &guard);
    uv_timer_start(&guard, on_guard, DEADLINE_NS / 1000000, 0);
    /* UV_RUN_ONCE: the pool arms its timer, the loop polls, the timer fires, uv_run returns
     * without another look. */
    assert_true(uv_is_active((uv_handle_t *)&fx.pool.hold_timer));
    while (uv_is_active((uv_handle_t *)&fx.pool.hold_timer) &&
           uv_is_active((uv_handle_t *)&guard))
        uv_run(&fx.loop, UV_RUN_ONCE);
    assert_true(uv_is_active((uv_handle_t *)&guard));
    uv_close((uv_handle_t *)&guard, NULL);
    assert_false(finish(&fx, jobs, gates, 0));
    assert_loop_woken(&fx);
    end_two_running(&fx, jobs, gates, 6);
}

static void test_a_held_job_comes_back_whenever_the_loop_wakes(void **state)
{
    (void)state;
    struct fixture fx;
    uv_sem_t gates[6];
    struct tjob *jobs = two_running(&fx, 3600 * 1000, 4, gates);
    assert_true(finish(&fx, jobs, gates, 0));
    /* Any pass of the loop takes it back before polling: here, one that polls no fd. */
    uv_run(&fx.loop, UV_RUN_NOWAIT);
    assert_int_equal(n_done, 1);
    assert_false(atomic_load(&fx.pool.held));
    end_two_running(&fx, jobs, gates, 6);
}

/* A client that leaves while its finished job waits to be handed back (held, or on its way):
 * nothing is left to stop, so the flag stays down and the job counts as completed. */
static void test_cancel_of_a_finished_job_leaves_its_result(void **state)
{
    (void)state;
    struct fixture fx;
    uv_sem_t gates[6];
    struct tjob *jobs = two_running(&fx, 3600 * 1000, 4, gates);
    assert_true(finish(&fx, jobs, gates, 0));
    assert_false(uvfib__pool_cancel(&fx.pool, &jobs[0].pj));
    assert_false(uvfib_work_cancelled(&jobs[0].pj.work));
    /* A waiting one is still taken back, and a running one still told to stop. */
    assert_true(uvfib__pool_cancel(&fx.pool, &jobs[5].pj));
    assert_false(uvfib__pool_cancel(&fx.pool, &jobs[1].pj));
    assert_true(uvfib_work_cancelled(&jobs[1].pj.work));
    for (unsigned i = 0; i < 5; i++)
        uv_sem_post(&gates[i]);
    run_until(&fx.loop, &n_done, 5);
    assert_int_equal(n_done, 5);
    assert_int_equal(jobs[5].dones, 0);
    assert_int_equal(atomic_load(&jobs[5].runs), 0);
    fx_end(&fx);
    for (unsigned i = 0; i < 6; i++)
        uv_sem_destroy(&gates[i]);
    free(jobs);
}

static void test_nothing_is_held_unless_each_thread_has_a_job_behind_it(void **state)
{
    (void)state;
    /* hold_ms 0; one job waiting for two threads; recent jobs longer than the bound per
     * thread: each time the first job to finish wakes the loop at once. */
    struct {
        uint64_t hold_ms;
        unsigned waiting;
        uint64_t run_avg_ns;
    } cases[] = {{0, 4, 0}, {3600 * 1000, 1, 0}, {1, 4, 3000000}};
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct fixture fx;
        uv_sem_t gates[6];
        unsigned n = 2 + cases[c].waiting;
        struct tjob *jobs = two_running(&fx, cases[c].hold_ms, cases[c].waiting, gates);
        if (cases[c].run_avg_ns > 0) {
            /* As if recent jobs took 3 ms, 1.5 ms per thread, over the 1 ms bound; the loop
             * looks again before it polls. */
            uv_mutex_lock(&fx.pool.mu);
            fx.pool.run_avg_ns = cases[c].run_avg_ns;
            uv_mutex_unlock(&fx.pool.mu);
            uv_run(&fx.loop, UV_RUN_NOWAIT);
        }
        assert_false(fx.pool.hold_ok && cases[c].hold_ms != 3600 * 1000);
        assert_false(finish(&fx, jobs, gates, 0));
        assert_loop_woken(&fx);
        end_two_running(&fx, jobs, gates, n);
    }
}

int main(void)
{
    /* libuv reads it once, when its pool starts: more threads than the pool may use. */
    char n[8];
    snprintf(n, sizeof(n), "%d", LIBUV_THREADS);
    setenv("UV_THREADPOOL_SIZE", n, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_thread_runs_and_returns_jobs_in_fifo_order),
        cmocka_unit_test(test_at_most_threads_jobs_run_at_once_in_a_larger_pool),
        cmocka_unit_test(test_cancelled_waiting_job_never_runs_and_is_not_done),
        cmocka_unit_test(test_cancelled_running_job_sees_the_flag_and_comes_back_once),
        cmocka_unit_test(test_runner_queued_in_libuv_is_taken_back_at_close),
        cmocka_unit_test(test_job_arriving_as_runners_leave_always_runs),
        cmocka_unit_test(test_job_arriving_as_runners_park_always_runs),
        cmocka_unit_test(test_job_arriving_while_a_runner_wakes_the_loop_runs),
        cmocka_unit_test(test_parked_runner_takes_the_next_job_without_libuv),
        cmocka_unit_test(test_idle_runners_leave_after_their_linger),
        cmocka_unit_test(test_a_finished_job_counts_its_run_not_the_wait_for_the_loop),
        cmocka_unit_test(test_counts_add_up_in_each_done_callback_of_a_batch),
        cmocka_unit_test(test_compute_priority_is_held_only_while_work_that_is_not_cheap_runs),
        cmocka_unit_test(test_normal_priority_leaves_threads_alone),
        cmocka_unit_test(test_no_memory_for_a_runner_fails_the_submit_cleanly),
        cmocka_unit_test(test_measure_handoff_times_each_round_trip),
        cmocka_unit_test(test_a_held_job_comes_back_with_the_next_in_one_wake_up),
        cmocka_unit_test(test_a_held_job_comes_back_by_the_bound_alone),
        cmocka_unit_test(test_a_held_job_comes_back_whenever_the_loop_wakes),
        cmocka_unit_test(test_nothing_is_held_once_the_bound_fired_until_the_loop_looks_again),
        cmocka_unit_test(test_cancel_of_a_finished_job_leaves_its_result),
        cmocka_unit_test(test_nothing_is_held_unless_each_thread_has_a_job_behind_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
