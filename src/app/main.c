/* main.c - the uvfib executable: flags, process-wide settings (thread pool size, compute
 * threads' priority, SIGPIPE, fd limit), the inline cut-off measured at start, signals and
 * the drain, systemd's socket activation and notifications, one loop, one server. It uses
 * libuvfib through uvfib.h only, as an embedder would. */
#include <stdbool.h>
#include <stdint.h>

#include <uvfib.h>

#include "cli.h"
#include "fib.h"
#include "notice.h"
#include "systemd.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

struct app {
    uv_loop_t loop;
    uvfib_server_t server;
    uv_signal_t sigint, sigterm;
    uv_timer_t drain_delay;     /* from the first signal to the server's shutdown */
    uint64_t drain_delay_ms;
    uint64_t drain_timeout_ms;  /* counted from the end of the delay */
    int signals;                /* how many shutdown signals arrived */
    const char *notify_socket;  /* $NOTIFY_SOCKET (the environment's), or NULL */
    bool notify_failed;         /* said so on stderr once */
    char url[80];               /* http://HOST:PORT, where the server really listens */
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
    if (st.requests_abandoned > 0)
        notice("uvfib: %llu requests were cut off unanswered at the drain deadline "
               "(--drain-timeout)", (unsigned long long)st.requests_abandoned);
    if (st.access_log_dropped > 0)
        notice("uvfib: %llu access-log lines were not written (buffer full, or nobody read "
               "the log)", (unsigned long long)st.access_log_dropped);
    uv_close((uv_handle_t *)&app->sigint, NULL);
    uv_close((uv_handle_t *)&app->sigterm, NULL);
    uv_close((uv_handle_t *)&app->drain_delay, NULL);
}

/* ------------------------------------------------------ systemd */

/* Tells systemd (Type=notify) what we do, when it asked for it ($NOTIFY_SOCKET). It never
 * blocks; a failure is said once on stderr and otherwise ignored: a supervisor that cannot
 * hear us is no reason to stop serving. */
static void notify(struct app *app, const char *fmt, ...)
{
    if (app->notify_socket == NULL)
        return;
    char state[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(state, sizeof(state), fmt, ap);
    va_end(ap);
    int err = systemd_notify(app->notify_socket, state);
    if (err < 0 && !app->notify_failed) {
        app->notify_failed = true;
        notice("uvfib: cannot notify $NOTIFY_SOCKET %s: %s", app->notify_socket,
               strerror(-err));
    }
}

/* Socket activation: how many sockets systemd passed us (0: none, bind --host and --port).
 * uvfib serves one. Before any thread starts (it unsets $LISTEN_FDS and friends).
 * @return 0 or 1, or -1 after saying why not. */
static int passed_sockets(void)
{
    int n = systemd_listen_fds();
    if (n < 0)
        fprintf(stderr, "uvfib: bad $LISTEN_FDS/$LISTEN_PID from systemd: %s\n", strerror(-n));
    else if (n > 1)
        fprintf(stderr, "uvfib: systemd passed %d sockets, uvfib serves one (one ListenStream= "
                        "per socket unit)\n", n);
    return n < 0 || n > 1 ? -1 : n;
}

/* Listens on the socket systemd passed, or else binds --host and --port. The passed
 * descriptor is closed once the server holds its own: the socket must stop listening when
 * the server stops accepting (under systemd its copy keeps it open for the next start). */
static int listen_on(struct app *app, const struct cli *cli, int passed)
{
    if (passed == 0) {
        int err = uvfib_server_listen(&app->server);
        if (err < 0)
            fprintf(stderr, "uvfib: cannot listen on %s port %d: %s\n", cli->cfg.host,
                    cli->cfg.port, uvfib_strerror(err));
        return err;
    }
    int err = uvfib_server_listen_fd(&app->server, SYSTEMD_LISTEN_FDS_START);
    if (err < 0)
        fprintf(stderr, "uvfib: cannot listen on the socket systemd passed (fd %d): %s\n",
                SYSTEMD_LISTEN_FDS_START, uvfib_strerror(err));
    close(SYSTEMD_LISTEN_FDS_START);
    return err;
}

/* "uvfib listening on http://HOST:PORT" with the address the server really listens on: a
 * passed socket's is the socket unit's, not --host and --port. */
static void print_listening(struct app *app)
{
    struct sockaddr_storage addr;
    memset(&addr, 0, sizeof(addr));
    char host[64] = "?";
    if (uvfib_server_sockname(&app->server, &addr) == 0)
        uv_ip_name((const struct sockaddr *)&addr, host, sizeof(host));
    bool v6 = addr.ss_family == AF_INET6;
    snprintf(app->url, sizeof(app->url), "http://%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "",
             uvfib_server_port(&app->server));
    printf("uvfib listening on %s\n", app->url);
    fflush(stdout);
}

/* ------------------------------------------------------ the drain */

/* The drain's second step: the server's graceful shutdown (stop accepting, answer what is in
 * flight with Connection: close, close idle connections), bounded by --drain-timeout from
 * now. */
static void stop_accepting(struct app *app)
{
    notify(app, "STATUS=draining: not accepting; in-flight requests have %" PRIu64 " ms",
           app->drain_timeout_ms);
    uvfib_server_shutdown(&app->server, app->drain_timeout_ms, on_server_closed);
}

static void on_drain_delay_over(uv_timer_t *timer)
{
    notice("uvfib: drain delay over, no longer accepting");
    stop_accepting(timer->data);
}

/* The drain's first step, at the first SIGTERM or SIGINT: out of rotation at once (/readyz
 * 503, STOPPING=1 to systemd) while every route is still served and connections accepted for
 * --drain-delay, so that a balancer's health checks move traffic away before we stop
 * accepting. */
static void begin_drain(struct app *app)
{
    uvfib_server_unready(&app->server, "draining (shutting down)");
    if (app->drain_delay_ms == 0) {
        notify(app, "STOPPING=1");
        stop_accepting(app);
        return;
    }
    notify(app, "STOPPING=1\nSTATUS=draining: /readyz answers 503, serving %" PRIu64 " ms more",
           app->drain_delay_ms);
    uv_timer_start(&app->drain_delay, on_drain_delay_over, app->drain_delay_ms, 0);
}

static void on_signal(uv_signal_t *handle, int signum)
{
    struct app *app = handle->data;
    if (++app->signals > 1) {
        notice("uvfib: second %s, exiting now", strsignal(signum));
        _exit(128 + signum);
    }
    notice("uvfib: %s, draining (again to exit at once)", strsignal(signum));
    begin_drain(app);
}

static void start_signals(struct app *app)
{
    uv_signal_init(&app->loop, &app->sigint);
    uv_signal_init(&app->loop, &app->sigterm);
    uv_timer_init(&app->loop, &app->drain_delay);
    app->sigint.data = app->sigterm.data = app->drain_delay.data = app;
    uv_signal_start(&app->sigint, on_signal, SIGINT);
    uv_signal_start(&app->sigterm, on_signal, SIGTERM);
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

/* A supervisor may start us with 0, 1 or 2 closed. The first descriptor opened would then take
 * its number: libuv's epoll, written to as if it were stderr, and closed by libuv with an
 * assertion that it is above 2. /dev/null takes them first, as daemons do. */
static int open_std_fds(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
            continue;
        int null = open("/dev/null", O_RDWR);
        if (null < 0)
            return -1;
        if (null != fd) { /* the lowest free number is fd, unless a tool (valgrind) says not */
            int err = dup2(null, fd) < 0 ? -1 : 0;
            close(null);
            if (err < 0)
                return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (open_std_fds() < 0)
        return 1;
    struct cli cli;
    int rc = cli_parse(&cli, argc, argv, stdout, stderr);
    if (rc == CLI_EXIT)
        return 0;
    if (rc != CLI_RUN)
        return 2;
    /* The environment changes here, before any thread could read it. */
    int passed = passed_sockets();
    if (passed < 0)
        return 1;
    if (passed == 0 && cli_check_bind(&cli, stderr) != CLI_RUN)
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
    app.drain_delay_ms = cli.drain_delay_ms;
    app.drain_timeout_ms = cli.drain_timeout_ms;
    app.notify_socket = getenv("NOTIFY_SOCKET");
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
        err = listen_on(&app, &cli, passed);
    if (err < 0) {
        uvfib_server_close(&app.server, NULL);
        uv_run(&app.loop, UV_RUN_DEFAULT);
        uv_loop_close(&app.loop);
        return 1;
    }

    start_signals(&app);

    char inline_note[224] = "";
    if (cli.cfg.mode == UVFIB_MODE_AUTO)
        snprintf(inline_note, sizeof(inline_note), ", inline up to n %u (%s)",
                 cli.fib.inline_max_n, calibration[0] != '\0' ? calibration : "--inline-max-n");
    notice("uvfib %s: %u compute threads (libuv pool %u, priority %s), mode %s, max n %u%s",
           uvfib_version_string(), cli.cfg.threads, cli.cfg.threads + 1,
           cli_priority_name(cli.cfg.compute_priority), cli_mode_name(cli.cfg.mode),
           cli.fib.max_n, inline_note);
    print_listening(&app);
    notify(&app, "READY=1\nSTATUS=serving %s with %u compute threads", app.url, cli.cfg.threads);

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
