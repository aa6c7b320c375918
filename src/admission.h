/* admission.h - whether a new computation may enter the pool now: one pure decision from the
 * pool's state, the recent cost of a computation and the loop's recent delay. It returns a
 * value (admit, or refuse with a reason); turning a refusal into a 503 is the caller's.
 * Pure: no loop, no clock, no allocation. */
#ifndef UVFIB_ADMISSION_H
#define UVFIB_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum uvfib__admit {
    UVFIB__ADMIT = 0,
    UVFIB__REFUSE_LOOP_DELAY,     /* the loop's recent delay is over max_loop_delay_ns */
    UVFIB__REFUSE_QUEUE_FULL,     /* max_queue jobs wait beyond those the free threads will
                                     take: the memory bound, however many threads run */
    UVFIB__REFUSE_QUEUE_WAIT      /* a new job would wait longer than max_queue_wait_ns */
};

/* The limits, from the server's configuration; 0 disables each. */
struct uvfib__admission_limits {
    unsigned threads;             /* jobs that run at once */
    unsigned max_queue;           /* jobs that may wait beyond the free threads; 0: none */
    uint64_t max_queue_wait_ns;   /* expected wait beyond which new jobs are refused; 0: off */
    uint64_t compute_timeout_ns;  /* a job's whole time from queueing: an expected wait beyond
                                     it is refused too, as the job could only time out; 0: none */
    uint64_t max_loop_delay_ns;   /* recent loop delay beyond which work is refused; 0: off */
    uint64_t window_ns;           /* the loop-delay window: how soon that figure can recover */
};

/* What the server sees now. */
struct uvfib__admission_load {
    unsigned waiting;             /* jobs in the FIFO: not yet taken by a thread, including
                                     those whose runner libuv has not started */
    unsigned running;             /* jobs in pool threads: at most threads, and no more than
                                     libuv has threads, which may be fewer */
    double compute_ns;            /* what one job costs now (moving average; 0: not known) */
    uint64_t oldest_running_ns;   /* how long the oldest running job has run (0: none) */
    uint64_t oldest_waiting_ns;   /* how long the job at the head of the queue has waited */
    uint64_t loop_delay_ns;       /* largest loop delay of the current and last window */
};

struct uvfib__admission {
    enum uvfib__admit verdict;
    double expected_wait_ns;      /* what a job queued now can expect to wait */
    unsigned retry_after_s;       /* for a refusal: when trying again makes sense, >= 1 */
};

/* The wait a job queued now can expect: nothing while a thread is free; else the jobs ahead
 * of it spread over the threads, each costing about compute_ns. Before any job has finished,
 * the oldest running job's time so far stands in for compute_ns (a lower bound of its cost),
 * so a first burst of long jobs is not admitted blindly. And never less than the head of the
 * queue has waited already: the wait jobs are getting now, which shows jobs longer than the
 * recent average (a burst of large n after small ones) before the average does. */
double uvfib__admission_expected_wait_ns(const struct uvfib__admission_limits *lim,
                                         const struct uvfib__admission_load *load);

/* The decision for one more job going to the pool (pool == true), or for work that runs on
 * the loop (pool == false: only the loop delay applies). Checked in this order: loop delay,
 * queue full (max_queue jobs wait beyond the threads - running that are free to take them),
 * queue wait (over max_queue_wait_ns, or over compute_timeout_ns where that is smaller). */
struct uvfib__admission uvfib__admission_decide(const struct uvfib__admission_limits *lim,
                                                const struct uvfib__admission_load *load,
                                                bool pool);

/* One line saying why d refused (or "" when it admitted), into buf[cap]. @return buf. */
const char *uvfib__admission_reason(const struct uvfib__admission *d,
                                    const struct uvfib__admission_limits *lim,
                                    const struct uvfib__admission_load *load, char *buf,
                                    size_t cap);

#endif /* UVFIB_ADMISSION_H */
