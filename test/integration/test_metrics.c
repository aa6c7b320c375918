/* test_metrics.c - the monitor through the public API on a loop the test
 * configures itself (test/support/harness.c): an embedder that never enabled
 * UV_METRICS_IDLE_TIME still gets every other metric, the access-log thread is
 * flushed and joined by the server's close, and a writer stuck on a full pipe
 * costs dropped lines, never a slow request. Each test ends with the loop
 * closed (uv_loop_close() == 0) and no allocation left. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "fill.h"
#include "harness.h"
#include "alloc.h"

#define T_MS 10000 /* generous: sanitizers are slow */

static void routes(uvfib_server_t *server)
{
    harness_default_routes(server);
    assert_int_equal(uvfib_metrics_routes_add(server), 0);
}

/* GET /metrics over a fresh connection; the whole body, malloc'd. */
static char *scrape(int port)
{
    int fd = client_connect(port);
    assert_true(fd >= 0);
    assert_int_equal(client_send(fd, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        assert_int_equal(poll(&p, 1, T_MS), 1);
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        assert_true(n > 0);
        len += (size_t)n;
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        char *cl = strstr(buf, "Content-Length: ");
        if (end != NULL && cl != NULL &&
            len >= (size_t)(end + 4 - buf) + strtoul(cl + 16, NULL, 10))
            break;
    }
    close(fd);
    assert_non_null(strstr(buf, "Content-Type: text/plain; version=0.0.4"));
    char *body = strdup(strstr(buf, "\r\n\r\n") + 4);
    free(buf);
    return body;
}

static double sample(const char *text, const char *name)
{
    char key[160];
    snprintf(key, sizeof(key), "\n%s ", name);
    const char *p = strstr(text, key);
    assert_non_null(p);
    return strtod(p + strlen(key), NULL);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ tests */

static void test_without_idle_time_elu_is_unavailable_and_the_rest_works(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg;
    uvfib_config_init(&cfg);
    cfg.threads = 2;
    cfg.loop_resolution_ms = 1;
    assert_int_equal(harness_start(&h, &cfg, routes), 0); /* no uv_loop_configure */
    int fd = client_connect(h.port);
    struct response r;
    assert_int_equal(client_get(fd, "/fibonacci/25", &r, T_MS), 0);
    assert_int_equal(r.status, 200);
    close(fd);
    char *text = NULL;
    for (uint64_t end = now_ms() + T_MS; now_ms() < end;) {
        free(text);
        text = scrape(h.port);
        if (sample(text, "uvfib_eventloop_lag_seconds_count") >= 3)
            break;
        usleep(5000);
    }
    assert_true(sample(text, "uvfib_eventloop_lag_seconds_count") >= 3);
    assert_true(sample(text, "uvfib_eventloop_utilization_available") == 0);
    assert_null(strstr(text, "uvfib_eventloop_utilization "));
    assert_null(strstr(text, "uvfib_eventloop_iteration_busy_seconds"));
    assert_true(sample(text, "uvfib_pool_jobs_completed_total") == 1);
    assert_true(sample(text, "uvfib_pool_compute_seconds_count") == 1);
    free(text);
    harness_stop(&h);
    assert_int_equal(h.loop_close_rc, 0);
    assert_int_equal(uvfib__alloc_live(), live);
}

static void test_access_log_is_flushed_and_joined_by_close(void **state)
{
    long live = uvfib__alloc_live();
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    struct harness h;
    uvfib_config_t cfg;
    uvfib_config_init(&cfg);
    cfg.threads = 2;
    cfg.access_log_fd = fds[1];
    assert_int_equal(harness_start(&h, &cfg, routes), 0);
    int fd = client_connect(h.port);
    struct response r;
    for (int n = 0; n < 5; n++) {
        char path[32];
        snprintf(path, sizeof(path), "/fibonacci/%d", 20 + n);
        assert_int_equal(client_get(fd, path, &r, T_MS), 0);
        assert_int_equal(r.status, 200);
    }
    close(fd);
    harness_stop(&h); /* returns once the loop ended: the writer has exited */
    assert_int_equal(h.loop_close_rc, 0);
    assert_true(h.closed);
    close(fds[1]);
    char buf[8192];
    size_t len = 0;
    ssize_t n;
    while ((n = read(fds[0], buf + len, sizeof(buf) - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    close(fds[0]);
    int lines = 0;
    for (const char *p = buf; (p = strchr(p, '\n')) != NULL; p++)
        lines++;
    assert_int_equal(lines, 5);
    assert_non_null(strstr(buf, "\"path\":\"/fibonacci/24\""));
    assert_non_null(strstr(buf, "\"route\":\"/fibonacci/:number\""));
    assert_int_equal(uvfib__alloc_live(), live);
}

static void *drain_pipe(void *arg)
{
    int fd = *(int *)arg;
    char buf[65536];
    while (read(fd, buf, sizeof(buf)) > 0) {
    }
    return NULL;
}

static void test_stuck_log_writer_drops_lines_and_never_slows_requests(void **state)
{
    long live = uvfib__alloc_live();
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    /* Fill the pipe: the writer's first write blocks until the test reads. */
    fill_until_full(fds[1]);

    struct harness h;
    uvfib_config_t cfg;
    uvfib_config_init(&cfg);
    cfg.threads = 2;
    cfg.access_log_fd = fds[1];
    cfg.access_log_buffer_bytes = 1024;
    assert_int_equal(harness_start(&h, &cfg, routes), 0);
    int fd = client_connect(h.port);
    struct response r;
    uint64_t t0 = now_ms();
    for (int i = 0; i < 100; i++) {
        assert_int_equal(client_get(fd, "/healthz", &r, T_MS), 0);
        assert_int_equal(r.status, 200);
    }
    uint64_t took = now_ms() - t0;
    close(fd);
    char *text = scrape(h.port);
    double dropped = sample(text, "uvfib_accesslog_dropped_lines_total");
    double written = sample(text, "uvfib_accesslog_lines_total");
    free(text);
    print_message("# 100 requests in %llu ms with the log writer stuck: %.0f lines queued, "
                  "%.0f dropped\n", (unsigned long long)took, written, dropped);
    assert_true(dropped >= 80);
    assert_true(written + dropped >= 100);
    assert_true(took < T_MS / 2);

    pthread_t reader;
    pthread_create(&reader, NULL, drain_pipe, &fds[0]);
    harness_stop(&h);
    assert_int_equal(h.loop_close_rc, 0);
    close(fds[1]);
    pthread_join(reader, NULL);
    close(fds[0]);
    assert_int_equal(uvfib__alloc_live(), live);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_without_idle_time_elu_is_unavailable_and_the_rest_works),
        cmocka_unit_test(test_access_log_is_flushed_and_joined_by_close),
        cmocka_unit_test(test_stuck_log_writer_drops_lines_and_never_slows_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
