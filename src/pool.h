/* pool.h - the hand-off between the loop and libuv's thread pool. Jobs wait in one FIFO of
 * ours; at most `threads` runners, each one uv_queue_work request, take them from it in turn.
 * A runner that finishes a job takes the next at once, so no pool thread sleeps while a job
 * waits; one that finds the FIFO empty parks (up to a second) before it gives its thread back,
 * so at a steady rate a job costs one condition-variable signal, not a uv_queue_work. The loop
 * wakes a parked runner, else starts one when one is missing (idle to busy). Finished jobs
 * come back to the loop through an eventfd of its own (see pool.c for why not uv_async_t);
 * with hold_ms set, under saturation, two share one wake-up (pool.c, "Holding"). It knows
 * nothing of requests or HTTP.
 *
 * Threads: every function here runs on the loop thread. Runners run in libuv's pool and touch
 * only the fields marked "under mu" (with mu held) and the job they took. */
#ifndef UVFIB_POOL_H
#define UVFIB_POOL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "uvfib.h"

struct uvfib__pool;
struct uvfib__pool_job;

/* What a work function sees (uvfib_work_cancelled): the job's cancel flag. */
struct uvfib_work_s {
    atomic_bool cancelled;        /* written by the loop thread only; read by the runner */
};

/* Runs in a pool thread: the work itself. It may touch only its job. */
typedef void (*uvfib__pool_run_cb)(struct uvfib__pool_job *job);
/* Runs on the loop once a job is over: run (status 0), or never started because it was
 * cancelled while waiting (that case is reported by uvfib__pool_cancel's return, not here). */
typedef void (*uvfib__pool_done_cb)(struct uvfib__pool *pool, struct uvfib__pool_job *job);

enum uvfib__pool_job_state {
    UVFIB__JOB_NEW = 0,           /* not submitted, or given back to its owner */
    UVFIB__JOB_WAITING,           /* in the FIFO */
    UVFIB__JOB_RUNNING,           /* taken by a runner */
    UVFIB__JOB_DONE               /* on the done list, on its way back to the loop */
};

/* One unit of offloaded work, embedded in its owner's struct. The owner sets run; the rest
 * belongs to the pool from submit until done_cb (or a successful cancel). */
struct uvfib__pool_job {
    uvfib__pool_run_cb run;       /* the owner's; called at most once, in a pool thread */
    bool cheap;                   /* the owner's: costs about a hand-off (UVFIB_OFFLOAD_CHEAP),
                                     so it runs at the thread's own priority, not the pool's */
    uvfib_work_t work;            /* the cancel flag run polls: loop writes, runner reads */
    struct uvfib__pool_job *next, *prev; /* the FIFO (both), then the done list (next); under mu */
    enum uvfib__pool_job_state state; /* under mu */
    uint64_t started_ns;          /* hrtime a runner took it; written under mu */
    uint64_t finished_ns;         /* hrtime run returned; written before it goes on the done list */
};

/* How runners treat the pool thread they run on: opt-in, as libuv's threads are shared (see
 * uvfib_config_t.compute_priority). A runner lowers its thread before a job that is not cheap
 * and puts the thread's own priority back before it runs a cheap job, parks or leaves, where
 * the process may raise a priority again (root, CAP_SYS_NICE or RLIMIT_NICE); where it may
 * not, a thread once lowered stays lowered. */
struct uvfib__pool_priority {
    uvfib_priority_t policy;      /* UVFIB_PRIORITY_NORMAL: leave threads alone */
    int nice;                     /* increment for UVFIB_PRIORITY_NICE, 1..19 */
};

struct uvfib__runner;

/* How long a runner that found the FIFO empty waits for another job before it gives its
 * thread back to libuv: long enough to span the gaps of any steady request rate, short enough
 * that an embedder's own uv_queue_work gets every pool thread back soon after a burst. */
#define UVFIB__POOL_LINGER_MS 1000

struct uvfib__pool {
    uv_loop_t *loop;              /* borrowed */
    uv_mutex_t mu;                /* guards the fields marked "under mu" */
    int wake_fd;                  /* owned eventfd: a runner wakes the loop when jobs are done */
    uv_poll_t wake;               /* embedded; watches wake_fd on the loop */
    struct uvfib__pool_job *wait_head, *wait_tail; /* the FIFO; under mu */
    struct uvfib__pool_job *done_head, *done_tail; /* finished, not yet handed back; under mu */
    unsigned n_waiting;           /* jobs in the FIFO; under mu */
    unsigned n_running;           /* jobs a runner has taken and the loop has not taken off
                                     the done list (running, or done and on their way); under
                                     mu */
    unsigned n_active;            /* runners that will look at the FIFO again (parked ones
                                     too); under mu */
    uv_prepare_t pickup;          /* embedded; before each poll: takes held jobs back and
                                     arms hold_timer while a job may be held */
    uv_timer_t hold_timer;        /* embedded; wakes the loop hold_ms after it went to poll,
                                     the bound on a held job's wait */
    uint64_t hold_ms;             /* how long a finished job may wait for the next (see
                                     pool.c); 0: every finished job wakes the loop at once.
                                     Set by the owner before the first submit */
    bool hold_ok;                 /* a runner may hold a finished job: set by the loop as it
                                     arms hold_timer, cleared when the timer fires or no job
                                     is out; under mu */
    atomic_bool held;             /* the done list holds a job that woke nobody; written under
                                     mu, read by the loop without it as a hint */
    uint64_t run_avg_ns;          /* recent run time of a job (moving average); under mu */
    uint64_t n_wakes;             /* loop: times it took jobs off the done list */
    unsigned n_closing;           /* loop: handles whose close callback has not run */
    struct uvfib__runner *parked; /* runners waiting for a job, newest first; under mu */
    bool stop_parking;            /* set by close: parked runners leave, none parks; under mu */
    unsigned linger_ms;           /* UVFIB__POOL_LINGER_MS; tests may change it before the
                                     first submit (0: a runner leaves the moment it is idle) */
    void (*after_wake)(struct uvfib__pool *pool); /* tests only, else NULL: a runner calls it
                                     (in its thread, mu free) right after waking the loop */
    unsigned threads;             /* at most this many runners, so jobs running at once */
    struct uvfib__pool_priority priority;
    uvfib__pool_done_cb done_cb;
    struct uvfib__runner *busy;   /* loop: runners submitted and not yet back (owned list) */
    struct uvfib__runner *spare;  /* loop: runners back from libuv, kept for reuse (owned) */
    unsigned n_submitted;         /* loop: runners in libuv (the length of busy) */
    unsigned n_jobs;              /* loop: jobs submitted and not yet handed back; while any
                                     is out, the wake-up handle keeps the loop alive */
    unsigned n_handing_back;      /* loop: jobs taken off the done list whose done_cb has not
                                     run yet; still counted as running (uvfib__pool_counts) */
    bool closing;                 /* loop: uvfib__pool_close ran */
    bool closed;                  /* loop: closed; no runner is left and mu is gone */
    void (*close_cb)(struct uvfib__pool *pool); /* loop: runs once everything is back */
};

/* Initialises pool on loop, with its eventfd and poll handle. @return 0, or a libuv error. */
int uvfib__pool_init(struct uvfib__pool *pool, uv_loop_t *loop, unsigned threads,
                     struct uvfib__pool_priority priority, uvfib__pool_done_cb done_cb);
/* Queues job at the tail of the FIFO and makes sure a runner will take it. job->run must be set.
 * @return 0, or UV_ENOMEM when a needed runner could not be made (nothing was queued then). */
int uvfib__pool_submit(struct uvfib__pool *pool, struct uvfib__pool_job *job);
/* Asks job to stop: raises its cancel flag unless its run is over (a finished job, on its way
 * back, keeps its result), and if it is still waiting takes it out of the FIFO. @return true
 * when it was taken out: it never runs, done_cb will not be called, and the job is its
 * owner's again. false: done_cb will be called as usual. */
bool uvfib__pool_cancel(struct uvfib__pool *pool, struct uvfib__pool_job *job);
/* Takes job out of the FIFO if it is still waiting, as uvfib__pool_cancel does, and leaves a
 * running one alone. @return true when it was taken out (it never runs, done_cb will not be
 * called, and the job is its owner's again). */
bool uvfib__pool_take_back(struct uvfib__pool *pool, struct uvfib__pool_job *job);
/* What uvfib__pool_cancel_unfinished found. */
enum uvfib__pool_stop {
    UVFIB__POOL_TAKEN_BACK,       /* it was waiting: out of the FIFO, it never runs, done_cb
                                     will not be called, and the job is its owner's again */
    UVFIB__POOL_STOPPING,         /* a runner has it: its cancel flag is raised; done_cb as usual */
    UVFIB__POOL_FINISHED          /* its run is over: nothing to stop, the flag stays down;
                                     done_cb as usual */
};
/* uvfib__pool_cancel, saying what it found: asks job to stop unless it has finished already.
 * The state is read and the flag raised under mu, where the runner marks the job finished, so
 * a job is either finished before it was asked or asked before it finished, never both. */
enum uvfib__pool_stop uvfib__pool_cancel_unfinished(struct uvfib__pool *pool,
                                                    struct uvfib__pool_job *job);
/* How long job has computed by now_ns: 0 while it waits, the time so far while it runs, its
 * whole run once finished (even before the loop has taken it back). */
uint64_t uvfib__pool_elapsed_ns(struct uvfib__pool *pool, const struct uvfib__pool_job *job,
                                uint64_t now_ns);
/* Jobs waiting in the FIFO, and jobs a runner has taken whose done_cb has not run yet (so
 * that with its owner's counts of finished jobs, which done_cb makes, they always add up, in
 * a done_cb too). head, unless NULL: the job at the head of the FIFO, the one that has waited
 * longest, or NULL, read under the same lock. A runner may take it the moment the lock is
 * released; the job itself stays its owner's to read on the loop (it is handed back there),
 * but not the pool's fields of it. */
void uvfib__pool_counts(struct uvfib__pool *pool, unsigned *waiting, unsigned *running,
                        const struct uvfib__pool_job **head);
/* Once every job has come back (the caller's business: nothing may be waiting or running),
 * wakes parked runners to leave, takes back runners libuv has not started (uv_cancel), waits
 * for the others, closes the poll handle and the eventfd, frees the runners, and calls cb.
 * Idempotent. */
void uvfib__pool_close(struct uvfib__pool *pool, void (*cb)(struct uvfib__pool *pool));

#endif /* UVFIB_POOL_H */
