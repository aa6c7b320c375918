/* monitor.c - see monitor.h. */
#include "monitor.h"

#include "num.h"

#include <string.h>

/* Ends the shedding window once it is window_ns old: its largest loop delay becomes the "last
 * window" one. */
static void maybe_rotate(struct uvfib__monitor *mon, uint64_t now_ns)
{
    if (now_ns - mon->window_start_ns < mon->window_ns)
        return;
    uvfib__metrics_rotate(mon->m);
    mon->window_start_ns = now_ns;
}

/* The timer repeats every resolution; whatever it fires beyond that is time the loop was busy
 * elsewhere. Node records the whole interval; we record only the lateness, so an idle loop
 * reads about 0 rather than about the resolution. */
static void on_lag_tick(uv_timer_t *timer)
{
    struct uvfib__monitor *mon = timer->data;
    uint64_t now = uv_hrtime();
    uint64_t interval = now - mon->last_tick_ns;
    mon->last_tick_ns = now;
    /* A stall that spans a read of /metrics: that read showed it so far (the overdue tick in
     * its max); the window after it shows the rest, so that no window shows it twice. */
    uvfib__metrics_lag(mon->m, interval > mon->resolution_ns ? interval - mon->resolution_ns : 0,
                       now - mon->scrape_ns);
    maybe_rotate(mon, now);
}

/* Runs once per loop iteration, right after the poll phase ran its I/O callbacks. From one
 * check to the next the loop ran timers, I/O and close callbacks and waited in epoll_wait; the
 * wait is what uv_metrics_idle_time() counts, so the rest is the time spent running callbacks,
 * with no timer floor and without waking an idle loop. Without UV_METRICS_IDLE_TIME the wait
 * cannot be told apart, so nothing is recorded. */
static void on_check(uv_check_t *check)
{
    struct uvfib__monitor *mon = check->data;
    uint64_t now = uv_hrtime();
    uint64_t idle = uv_metrics_idle_time(mon->loop);
    if (idle > 0)
        mon->elu_available = true;
    if (mon->elu_available && mon->last_check_ns != 0) {
        uint64_t wall = now - mon->last_check_ns;
        uint64_t waited = idle - mon->last_check_idle_ns;
        uvfib__metrics_iteration(mon->m, wall > waited ? wall - waited : 0);
    }
    mon->last_check_ns = now;
    mon->last_check_idle_ns = idle;
    maybe_rotate(mon, now);
}

void uvfib__monitor_start(struct uvfib__monitor *mon, uv_loop_t *loop, struct uvfib__metrics *m,
                          uint64_t resolution_ms, uint64_t window_ms)
{
    memset(mon, 0, sizeof(*mon));
    mon->loop = loop;
    mon->m = m;
    mon->resolution_ns = uvfib__ms_to_ns(resolution_ms);
    mon->window_ns = uvfib__ms_to_ns(window_ms);
    uv_timer_init(loop, &mon->lag_timer);
    uv_check_init(loop, &mon->check);
    mon->lag_timer.data = mon->check.data = mon;
    /* Watching the loop must not keep it alive. */
    uv_unref((uv_handle_t *)&mon->lag_timer);
    uv_unref((uv_handle_t *)&mon->check);
    mon->n_open = 2;
    uint64_t now = uv_hrtime();
    uint64_t idle = uv_metrics_idle_time(loop);
    mon->start_ns = mon->window_start_ns = mon->scrape_ns = mon->last_tick_ns = now;
    mon->start_idle_ns = mon->scrape_idle_ns = idle;
    if (resolution_ms > 0)
        uv_timer_start(&mon->lag_timer, on_lag_tick, resolution_ms, resolution_ms);
    uv_check_start(&mon->check, on_check);
}

static void on_handle_closed(uv_handle_t *handle)
{
    struct uvfib__monitor *mon = handle->data;
    if (--mon->n_open == 0 && mon->on_closed != NULL)
        mon->on_closed(mon);
}

void uvfib__monitor_close(struct uvfib__monitor *mon, void (*cb)(struct uvfib__monitor *mon))
{
    if (uv_is_closing((uv_handle_t *)&mon->check))
        return;
    mon->on_closed = cb;
    uv_close((uv_handle_t *)&mon->lag_timer, on_handle_closed);
    uv_close((uv_handle_t *)&mon->check, on_handle_closed);
}

uint64_t uvfib__monitor_recent_delay_ns(const struct uvfib__monitor *mon)
{
    return uvfib__metrics_recent_lag(mon->m);
}

/* Utilisation from t0 (with idle0 idle then) to now, as Node's eventLoopUtilization(prev):
 * (elapsed - idle) / elapsed. */
static double utilisation(uint64_t t0, uint64_t idle0, uint64_t now, uint64_t idle)
{
    double elapsed = (double)(now - t0), idle_d = (double)(idle - idle0);
    double elu = elapsed > 0 ? (elapsed - idle_d) / elapsed : 0;
    return elu < 0 ? 0 : elu > 1 ? 1 : elu;
}

void uvfib__monitor_read(const struct uvfib__monitor *mon, struct uvfib__snapshot *s)
{
    uint64_t now = uv_hrtime();
    uint64_t idle = uv_metrics_idle_time(mon->loop);
    double idle_s = (double)(idle - mon->start_idle_ns) / 1e9;
    double elapsed_s = (double)(now - mon->start_ns) / 1e9;
    s->resolution_s = (double)mon->resolution_ns / 1e9;
    s->scrape_window_s = (double)(now - mon->scrape_ns) / 1e9;
    /* A tick overdue now: the loop was held since it was due (in this very iteration, before
     * the timers could run), and the tick that records it has not fired yet. */
    uint64_t due = uvfib__add_sat(mon->last_tick_ns, mon->resolution_ns);
    s->lag_pending_s = mon->resolution_ns > 0 && now > due ? (double)(now - due) / 1e9 : 0;
    s->elu_available = mon->elu_available || idle > 0;
    s->elu = utilisation(mon->scrape_ns, mon->scrape_idle_ns, now, idle);
    s->idle_s = idle_s;
    s->active_s = elapsed_s > idle_s ? elapsed_s - idle_s : 0;
    s->loop_delay_recent_s = (double)uvfib__monitor_recent_delay_ns(mon) / 1e9;
}

void uvfib__monitor_scrape_reset(struct uvfib__monitor *mon)
{
    mon->scrape_ns = uv_hrtime();
    mon->scrape_idle_ns = uv_metrics_idle_time(mon->loop);
    uvfib__metrics_scrape_reset(mon->m);
}
