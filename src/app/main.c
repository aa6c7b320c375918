/* main.c - the uvfib executable: flags, process-wide settings (thread pool size, compute
 * threads' priority, SIGPIPE, fd limit), the inline cut-off measured at start, signals, one
 * loop, one server. It uses libuvfib through uvfib.h only, as an embedder would. */
#include <stdbool.h>
#include <stdint.h>

#include <uvfib.h>

#include "cli.h"
#include "fib.h"
#include "notice.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

struct app {
    uv_loop_t loop;
    uvfib_server_t server;
    uv_signal_t sigint, sigterm;
    uint64_t drain_timeout_ms;
    int signals;       /* how many shutdown signals arrived */
};

static void on_healthz(uvfib_req_t *req, void *arg)
{
    static const char body[] = "{\"status\":\"ok\"}";
    uvfib_res_send(req, 200, body, sizeof(body) - 1);
}

static void on_server_closed(uvfib_server_t *server)
{
    struct app *app = server->data;
    uvfib_stats_t st;
    uvfib_server_stats(server, &st);
    if (st.access_log_dropped > 0)
        notice("uvfib: %llu access-log lines were not written (buffer full, or nobody read "
               "the log)", (unsigned long long)st.access_log_dropped);
    uv_close((uv_handle_t *)&app->sigint, NULL);
    uv_close((uv_handle_t *)&app->sigterm, NULL);
}

static void on_signal(uv_signal_t *handle, int signum)
{
    struct app *app = handle->data;
    if (++app->signals > 1) {
        notice("uvfib: second %s, exiting now", strsignal(signum));
        _exit(128 + signum);
    }
    notice("uvfib: %s, draining (again to exit at once)", strsignal(signum));
    uvfib_server_shutdown(&app->server, app->drain_timeout_ms, on_server_closed);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Many idle keep-alive connections need many descriptors. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    struct cli cli;
    int rc = cli_parse(&cli, argc, argv, stdout, stderr);
    if (rc == CLI_EXIT)
        return 0;
    if (rc != CLI_RUN)
        return 2;

    /* libuv reads UV_THREADPOOL_SIZE once, when the pool starts on the first
     * uv_queue_work; set it before. One thread more than the computations may
     * take keeps file and DNS work moving (libuv issue 660). */
    char pool[16];
    snprintf(pool, sizeof(pool), "%u", cli.cfg.threads + 1);
    setenv("UV_THREADPOOL_SIZE", pool, 1);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();

    /* The access log is process-wide output, so its descriptor is ours: the
     * library borrows it and writes from a thread of its own. On stderr it shares the
     * notices' descriptor, non-blocking where stderr is a pipe or terminal. */
    int err_fd = notice_open();
    int log_fd = -1;
    if (strcmp(cli.access_log, "-") == 0) {
        log_fd = err_fd;
    } else if (strcmp(cli.access_log, "off") != 0) {
        log_fd = open(cli.access_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (log_fd < 0) {
            fprintf(stderr, "uvfib: cannot open access log %s: %s\n", cli.access_log,
                    strerror(errno));
            return 1;
        }
    }
    cli.cfg.access_log_fd = log_fd;

    /* Auto mode: what runs on the loop is what costs less than the hand-off, measured here and
     * now rather than assumed. Before the server starts: it runs a private loop. */
    char calibration[160] = "";
    if (cli.cfg.mode == UVFIB_MODE_AUTO && !cli.inline_max_n_given) {
        uint64_t samples[31];
        if (uvfib_measure_handoff(31, samples) == 0) {
            qsort(samples, 31, sizeof(samples[0]), cmp_u64);
            unsigned n = fib_calibrate(samples[15], calibration, sizeof(calibration));
            cli.fib.inline_max_n = n < cli.fib.max_n ? n : cli.fib.max_n;
        }
    }

    static struct app app;
    app.drain_timeout_ms = cli.drain_timeout_ms;
    int err = uv_loop_init(&app.loop);
    /* Event-loop utilization needs the loop to measure its idle time; an
     * embedder that skips this still gets every other metric. */
    if (err == 0)
        err = uv_loop_configure(&app.loop, UV_METRICS_IDLE_TIME);
    if (err == 0)
        err = uvfib_server_init(&app.loop, &app.server, &cli.cfg);
    if (err < 0) {
        fprintf(stderr, "uvfib: cannot start: %s\n", uvfib_strerror(err));
        return 1;
    }
    app.server.data = &app;
    err = uvfib_route_add(&app.server, "GET", "/healthz", on_healthz, NULL);
    if (err == 0)
        err = fib_routes_add(&app.server, &cli.fib);
    if (err == 0)
        err = uvfib_metrics_routes_add(&app.server);
    if (err == 0)
        err = uvfib_server_listen(&app.server);
    if (err < 0) {
        fprintf(stderr, "uvfib: cannot listen on %s port %d: %s\n", cli.cfg.host, cli.cfg.port,
                uvfib_strerror(err));
        uvfib_server_close(&app.server, NULL);
        uv_run(&app.loop, UV_RUN_DEFAULT);
        uv_loop_close(&app.loop);
        return 1;
    }

    uv_signal_init(&app.loop, &app.sigint);
    uv_signal_init(&app.loop, &app.sigterm);
    app.sigint.data = app.sigterm.data = &app;
    uv_signal_start(&app.sigint, on_signal, SIGINT);
    uv_signal_start(&app.sigterm, on_signal, SIGTERM);

    char inline_note[224] = "";
    if (cli.cfg.mode == UVFIB_MODE_AUTO)
        snprintf(inline_note, sizeof(inline_note), ", inline up to n %u (%s)",
                 cli.fib.inline_max_n, calibration[0] != '\0' ? calibration : "--inline-max-n");
    notice("uvfib %s: %u compute threads (libuv pool %u, priority %s), mode %s, max n %u%s",
           uvfib_version_string(), cli.cfg.threads, cli.cfg.threads + 1,
           cli_priority_name(cli.cfg.compute_priority), cli_mode_name(cli.cfg.mode),
           cli.fib.max_n, inline_note);
    bool v6 = strchr(cli.cfg.host, ':') != NULL;
    printf("uvfib listening on http://%s%s%s:%d\n", v6 ? "[" : "", cli.cfg.host, v6 ? "]" : "",
           uvfib_server_port(&app.server));
    fflush(stdout);

    uv_run(&app.loop, UV_RUN_DEFAULT);
    err = uv_loop_close(&app.loop);
    if (log_fd > STDERR_FILENO && log_fd != err_fd)
        close(log_fd);
    if (err < 0)
        notice("uvfib: loop still busy at exit: %s", uvfib_strerror(err));
    else
        notice("uvfib: drained, bye");
    notice_close();
    return err < 0 ? 1 : 0;
}
