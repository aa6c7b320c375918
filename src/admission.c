/* admission.c - see admission.h. The policy in one place: admission by the wait a new
 * computation can expect, a count cap only to bound memory, and the loop's own delay. */
#include "admission.h"

#include <inttypes.h>
#include <stdio.h>

#define MAX_RETRY_AFTER_S 60u

/* Whether a job queued now starts at once: a thread is free and no job is ahead of it. */
static bool runs_at_once(const struct uvfib__admission_limits *lim,
                         const struct uvfib__admission_load *load)
{
    return load->running < lim->threads && load->waiting == 0;
}

double uvfib__admission_expected_wait_ns(const struct uvfib__admission_limits *lim,
                                         const struct uvfib__admission_load *load)
{
    if (runs_at_once(lim, load))
        return 0;
    double cost = load->compute_ns;
    if (cost <= 0)
        cost = (double)load->oldest_running_ns;
    double ahead = (double)load->waiting / (double)lim->threads * cost;
    double seen = (double)load->oldest_waiting_ns;
    return ahead > seen ? ahead : seen;
}

/* The wait beyond which a job is refused: max_queue_wait_ns, or the compute timeout where it
 * is smaller (a job that waits that long times out before it computes); 0: none. */
static uint64_t wait_bound_ns(const struct uvfib__admission_limits *lim)
{
    uint64_t bound = lim->max_queue_wait_ns, timeout = lim->compute_timeout_ns;
    return timeout > 0 && (bound == 0 || timeout < bound) ? timeout : bound;
}

/* Whole seconds until ns have passed, at least 1 and at most a minute. */
static unsigned seconds_up(double ns)
{
    double s = ns / 1e9;
    if (s >= MAX_RETRY_AFTER_S)
        return MAX_RETRY_AFTER_S;
    unsigned whole = (unsigned)s;
    if ((double)whole < s)
        whole++;
    return whole > 0 ? whole : 1;
}

struct uvfib__admission uvfib__admission_decide(const struct uvfib__admission_limits *lim,
                                                const struct uvfib__admission_load *load,
                                                bool pool)
{
    struct uvfib__admission d = {
        .verdict = UVFIB__ADMIT,
        .expected_wait_ns = uvfib__admission_expected_wait_ns(lim, load),
    };
    uint64_t bound = wait_bound_ns(lim);
    if (lim->max_loop_delay_ns > 0 && load->loop_delay_ns > lim->max_loop_delay_ns) {
        /* The figure looks back over up to two windows; that is how soon it can recover. */
        d.verdict = UVFIB__REFUSE_LOOP_DELAY;
        d.retry_after_s = seconds_up((double)lim->window_ns);
    } else if (!pool) {
        /* Work on the loop never waits for a pool thread. */
    } else if ((uint64_t)load->waiting >=
               (uint64_t)lim->max_queue +
                   (lim->threads > load->running ? lim->threads - load->running : 0)) {
        /* max_queue jobs may wait beyond those the free threads will take. Not "every thread
         * busy and max_queue waiting": running need never reach threads (with fewer libuv
         * threads than `threads`, runners beyond them wait in libuv's queue), and then the
         * queue grew without bound; counted this way it holds max_queue + threads at most,
         * while a burst handed over in one loop pass, not yet taken, still fits. */
        d.verdict = UVFIB__REFUSE_QUEUE_FULL;
        d.retry_after_s = seconds_up(d.expected_wait_ns);
    } else if (bound > 0 && d.expected_wait_ns > (double)bound) {
        d.verdict = UVFIB__REFUSE_QUEUE_WAIT;
        d.retry_after_s = seconds_up(d.expected_wait_ns - (double)bound);
    }
    return d;
}

const char *uvfib__admission_reason(const struct uvfib__admission *d,
                                    const struct uvfib__admission_limits *lim,
                                    const struct uvfib__admission_load *load, char *buf,
                                    size_t cap)
{
    if (cap == 0)
        return buf;
    uint64_t bound = wait_bound_ns(lim);
    switch (d->verdict) {
    case UVFIB__REFUSE_LOOP_DELAY:
        snprintf(buf, cap, "event-loop delay %.1f ms is over the %" PRIu64 " ms limit",
                 (double)load->loop_delay_ns / 1e6, lim->max_loop_delay_ns / 1000000);
        break;
    case UVFIB__REFUSE_QUEUE_FULL:
        snprintf(buf, cap, "the computation queue is full (%u waiting)", load->waiting);
        break;
    case UVFIB__REFUSE_QUEUE_WAIT:
        snprintf(buf, cap,
                 "expected queue wait %.1f ms (%u waiting, %u threads) is over the %" PRIu64
                 " ms %s",
                 d->expected_wait_ns / 1e6, load->waiting, lim->threads,
                 bound / 1000000, bound == lim->max_queue_wait_ns ? "limit" : "compute timeout");
        break;
    case UVFIB__ADMIT:
    default:
        buf[0] = '\0';
        break;
    }
    return buf;
}
