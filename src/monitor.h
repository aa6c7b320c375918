/* monitor.h - watching the loop, nothing else: a timer that measures how late it fires (loop
 * delay, as Node's monitorEventLoopDelay), a check handle that measures each iteration's busy
 * time, and event-loop utilisation from uv_metrics_idle_time(). It records into metrics it
 * borrows; it never answers a request.
 *
 * Threads: the loop thread only. */
#ifndef UVFIB_MONITOR_H
#define UVFIB_MONITOR_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "metrics.h"

struct uvfib__monitor {
    uv_loop_t *loop;              /* borrowed */
    struct uvfib__metrics *m;     /* borrowed: where the measurements go */
    uv_timer_t lag_timer;         /* embedded, unref'd; fires every resolution_ns */
    uv_check_t check;             /* embedded, unref'd; once per loop iteration */
    uint64_t resolution_ns;       /* timer period; 0: no timer */
    uint64_t window_ns;           /* shedding window of the recent loop delay */
    uint64_t last_tick_ns;        /* hrtime of the previous lag_timer tick */
    uint64_t window_start_ns;     /* hrtime the current shedding window began */
    uint64_t scrape_ns, scrape_idle_ns; /* hrtime and idle time at the previous read of
                                     /metrics: the since-the-previous-scrape figures' start */
    uint64_t start_ns, start_idle_ns; /* hrtime and idle time when monitoring began */
    uint64_t last_check_ns, last_check_idle_ns; /* at the previous check callback */
    bool elu_available;           /* the loop has reported idle time: it measures it */
    unsigned n_open;              /* handles not yet closed */
    void (*on_closed)(struct uvfib__monitor *mon); /* runs once both handles are closed */
};

/* Starts watching loop: resolution_ms 0 runs no timer; window_ms must be > 0. Cannot fail. */
void uvfib__monitor_start(struct uvfib__monitor *mon, uv_loop_t *loop, struct uvfib__metrics *m,
                          uint64_t resolution_ms, uint64_t window_ms);
/* Closes the handles (idempotent: the first call's cb is kept); cb(mon) once both are closed. */
void uvfib__monitor_close(struct uvfib__monitor *mon, void (*cb)(struct uvfib__monitor *mon));
/* The largest loop delay of the current and the last shedding window: what max_loop_delay_ms
 * is compared with. */
uint64_t uvfib__monitor_recent_delay_ns(const struct uvfib__monitor *mon);
/* The loop's own figures for a snapshot: resolution, the time since the previous scrape and
 * ELU over it, a tick overdue now, recent delay, idle and active time since the start. */
void uvfib__monitor_read(const struct uvfib__monitor *mon, struct uvfib__snapshot *s);
/* A read of /metrics is over: the since-the-previous-scrape figures start again, here and in
 * the metrics. */
void uvfib__monitor_scrape_reset(struct uvfib__monitor *mon);

#endif /* UVFIB_MONITOR_H */
