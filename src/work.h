/* work.h - a request's computation in the pool: the job that carries it, the server's list of
 * jobs by age and the compute deadline, and its return to the loop. It never touches the
 * connection: the caller (req.c) holds it through the job and hears back through finish.
 *
 * Threads: the loop thread, except the work function, which runs in a pool thread. */
#ifndef UVFIB_WORK_H
#define UVFIB_WORK_H

#include <stdbool.h>
#include <stdint.h>

#include "pool.h"
#include "uvfib.h"

struct uvfib__server;

struct uvfib__job {
    struct uvfib__pool_job pj;    /* embedded; the pool's from submit until it comes back */
    struct uvfib__server *srv;    /* borrowed */
    uvfib_req_t *req;             /* borrowed: the request outlives its job */
    uvfib_work_cb work_cb;        /* the caller's; runs in a pool thread on ctx */
    uvfib_done_cb done_cb;        /* the caller's; req.c runs it from finish */
    void *ctx;                    /* the caller's */
    /* Runs on the loop once the job is over (status 0, UV_ECANCELED or UV_ETIMEDOUT), after
     * it is counted and off every list; it owns the job from then on. */
    void (*finish)(struct uvfib__job *job, int status);
    struct uvfib__job *older, *newer; /* the server's list of all jobs, by age */
    bool deadline_passed;         /* the compute timer has dealt with it: timed it out, or
                                     found it finished (then it keeps its result) */
    bool timed_out;               /* asked to stop, or taken back, at cfg.compute_timeout_ms:
                                     finish with UV_ETIMEDOUT */
    uint64_t queued_ns;           /* loop thread: when submitted */
};

/* Hands job (its fields above set) to the pool. @return 0, or UV_ENOMEM (nothing happened). */
int uvfib__work_submit(struct uvfib__job *job);
/* Drops a waiting job (finished at once, UV_ECANCELED) or asks a running one to stop. */
void uvfib__work_cancel(struct uvfib__job *job);
/* Drops job if it is waiting, as uvfib__work_cancel; a running one is left alone. */
void uvfib__work_take_back(struct uvfib__job *job);
/* The pool's done callback (server.c hands it to uvfib__pool_init). */
void uvfib__work_on_pool_done(struct uvfib__pool *pool, struct uvfib__pool_job *pj);
/* The compute-deadline timer's callback (server.c initialises srv->compute_timer). */
void uvfib__work_on_compute_timer(uv_timer_t *timer);

#endif /* UVFIB_WORK_H */
