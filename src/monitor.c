/* monitor.c - see monitor.h. */
#include "monitor.h"

#include <string.h>

/* Ends the window once it is window_ns old: its loop-delay histogram becomes the "last window"
 * one, and its utilisation is worked out as Node's eventLoopUtilization(prev) does:
 * (elapsed - idle) / elapsed. */
static void maybe_rotate(struct uvfib__monitor *mon, uint64_t now_ns)
{
    if (now_ns - mon->window_start_ns < mon->window_ns)
        return;
    uint64_t idle = uv_metrics_idle_time(mon->loop);
    if (idle > 0)
        mon->elu_available = true;
    double elapsed = (double)(now_ns - mon->window_start_ns);
    double idle_d = (double)(idle - mon->window_idle_ns);
    double elu = elapsed > 0 ? (elapsed - idle_d) / elapsed : 0;
    mon->elu = elu < 0 ? 0 : elu > 1 ? 1 : elu;
    uvfib__metrics_rotate(mon->m);
    mon->window_start_ns = now_ns;
    mon->window_idle_ns = idle;
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
    uvfib__metrics_lag(mon->m, interval > mon->resolution_ns ? interval - mon->resolution_ns : 0);
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
    mon->resolution_ns = resolution_ms * 1000000;
    mon->window_ns = window_ms * 1000000;
    uv_timer_init(loop, &mon->lag_timer);
    uv_check_init(loop, &mon->check);
    mon->lag_timer.data = mon->check.data = mon;
    /* Watching the loop must not keep it alive. */
    uv_unref((uv_handle_t *)&mon->lag_timer);
    uv_unref((uv_handle_t *)&mon->check);
    mon->n_open = 2;
    uint64_t now = uv_hrtime();
    uint64_t idle = uv_metrics_idle_time(loop);
    mon->start_ns = mon->window_start_ns = mon->last_tick_ns = now;
    mon->start_idle_ns = mon->window_idle_ns = idle;
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
    uint64_t cur = uvfib__hist_max(uvfib__metrics_window(mon->m, true));
    uint64_t last = uvfib__hist_max(uvfib__metrics_window(mon->m, false));
    return cur > last ? cur : last;
}

void uvfib__monitor_read(const struct uvfib__monitor *mon, struct uvfib__snapshot *s)
{
    uint64_t now = uv_hrtime();
    uint64_t idle = uv_metrics_idle_time(mon->loop);
    double idle_s = (double)(idle - mon->start_idle_ns) / 1e9;
    double elapsed_s = (double)(now - mon->start_ns) / 1e9;
    s->resolution_s = (double)mon->resolution_ns / 1e9;
    s->window_s = (double)mon->window_ns / 1e9;
    s->elu_available = mon->elu_available;
    s->elu = mon->elu;
    s->idle_s = idle_s;
    s->active_s = elapsed_s > idle_s ? elapsed_s - idle_s : 0;
    s->loop_delay_recent_s = (double)uvfib__monitor_recent_delay_ns(mon) / 1e9;
}
