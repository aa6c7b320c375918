/* test_server.c - the real server, started through the public API on its own
 * loop in a thread (test/support/harness.c), spoken to over real sockets:
 * ordering, offloading, cancellation, limits, shutdown and leaks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <cJSON.h>

#include "client.h"
#include "fill.h"
#include "fib_ref.h"
#include "harness.h"
#include "alloc.h"
#include "fib.h"

#define T_MS 10000 /* generous: sanitizers and valgrind are slow */
#define LIBUV_THREADS 3 /* UV_THREADPOOL_SIZE, set in main() */

static uvfib_config_t config(void)
{
    uvfib_config_t cfg;
    uvfib_config_init(&cfg);
    cfg.threads = 2;
    return cfg;
}

static void assert_result(const struct response *r, unsigned n)
{
    char want[64];
    snprintf(want, sizeof(want), "{\"success\":true,\"result\":%llu}",
             (unsigned long long)fib_ref(n));
    assert_int_equal(r->status, 200);
    assert_string_equal(r->body, want);
}

static bool one_running(const uvfib_stats_t *s) { return s->jobs_running == 1; }
static bool two_running(const uvfib_stats_t *s) { return s->jobs_running == 2; }
static bool one_waiting(const uvfib_stats_t *s) { return s->jobs_queued == 1; }
static bool pool_empty(const uvfib_stats_t *s) { return s->jobs_running == 0 && s->jobs_queued == 0; }
static bool no_connections(const uvfib_stats_t *s) { return s->connections_open == 0; }

static void stop_and_check(struct harness *h, long live_before)
{
    harness_stop(h);
    assert_int_equal(h->loop_close_rc, 0);
    assert_true(h->closed);
    assert_int_equal(uvfib__alloc_live(), live_before);
}

/* ------------------------------------------------------------------ tests */

static void test_results_exact_over_one_keepalive_connection(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = config();
    assert_int_equal(harness_start(&h, &cfg, NULL), 0);
    int fd = client_connect(h.port);
    assert_true(fd >= 0);
    struct response r;
    for (unsigned n = 0; n <= 32; n++) {
        char path[32];
        snprintf(path, sizeof(path), "/fibonacci/%u", n);
        assert_int_equal(client_get(fd, path, &r, T_MS), 0);
        assert_result(&r, n);
    }
    uvfib_stats_t s;
    harness_stats(&h, &s);
    assert_int_equal(s.connections_total, 1); /* one connection served them all */
    assert_int_equal(s.requests_total, 33);
    close(fd);
    stop_and_check(&h, live);
}

static void test_pipelined_heavy_then_light_answered_in_order(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = config();
    cfg.mode = UVFIB_MODE_OFFLOAD;
    assert_int_equal(harness_start(&h, &cfg, NULL), 0);
    int fd = client_connect(h.port);
    assert_int_equal(client_send(fd, "GET /fibonacci/32 HTTP/1.1\r\nHost: x\r\n\r\n"
                                     "GET /fibonacci/1 HTTP/1.1\r\nHost: x\r\n\r\n"
                                     "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
                     0);
    struct response r;
    assert_int_equal(client_read(fd, &r, T_MS), 0);
    assert_result(&r, 32);
    assert_int_equal(client_read(fd, &r, T_MS), 0);
    assert_result(&r, 1);
    assert_int_equal(client_read(fd, &r, T_MS), 0);
    assert_string_equal(r.body, "{\"status\":\"ok\"}");
    close(fd);
    stop_and_check(&h, live);
}

static void test_pipeline_limit_pauses_then_answers_all(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = config();
    cfg.max_pipeline = 2;
    assert_int_equal(harness_start(&h, &cfg, NULL), 0);
    int fd = client_connect(h.port);
    char burst[4096] = "";
    for (unsigned n = 0; n < 20; n++) {
        char one[96];
        snprintf(one, sizeof(one), "GET /fibonacci/%u HTTP/1.1\r\nHost: x\r\n\r\n", n);
        strcat(burst, one);
    }
    assert_int_equal(client_send(fd, burst), 0);
    for (unsigned n = 0; n < 20; n++) {
        struct response r;
        assert_int_equal(client_read(fd, &r, T_MS), 0);
        assert_result(&r, n);
    }
    close(fd);
    stop_and_check(&h, live);
}

static void test_healthz_answers_while_pool_is_saturated(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = config();
    assert_int_equal(harness_start(&h, &cfg, NULL), 0);
    int heavy[2];
    for (int i = 0; i < 2; i++) {
        heavy[i] = client_connect(h.port);
        assert_int_equal(client_send(heavy[i], "GET /fibonacci/42 HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    }
    assert_true(harness_wait_stats(&h, two_running, T_MS));
    int fd = client_connect(h.port);
    struct response r;
    assert_int_equal(client_get(fd, "/healthz", &r, T_MS), 0);
    assert_int_equal(r.status, 200);
    /* The probe came back while both computations were still running. */
    uvfib_stats_t s;
    harness_stats(&h, &s);
    assert_int_equal(s.jobs_running, 2);
    assert_false(client_readable(heavy[0], 0));
    assert_false(client_readable(heavy[1], 0));
    for (int i = 0; i < 2; i++)
        close(heavy[i]);
    close(fd);
    assert_true(harness_wait_stats(&h, pool_empty, T_MS));
    stop_and_check(&h, live);
}

static void test_disconnect_cancels_running_and_waiting_jobs(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = config();
    cfg.threads = 1;
    assert_int_equal(harness_start(&h, &cfg, NULL), 0);
    /* F(45) takes seconds: only cancellation brings it back quickly. */
    int running = client_connect(h.port);
    assert_int_equal(client_send(running, "GET /fibonacci/45 HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    assert_true(harness_wait_stats(&h, one_running, T_MS));
    int waiting = client_connect(h.port);
    assert_int_equal(client_send(waiting, "GET /fibonacci/45 HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    assert_true(harness_wait_stats(&h, one_waiting, T_MS));

    close(waiting);
    close(running);
    assert_true(harness_wait_stats(&h, pool_empty, T_MS));
    uvfib_stats_t s;
    harness_stats(&h, &s);
    assert_int_equal(s.jobs_cancelled, 2);
    assert_int_equal(s.jobs_completed, 0);
    assert_int_equal(s.responses_total, 0);
    assert_true(harness_wait_stats(&h, no_connections, T_MS));

    /* The pool thread is free again. */
    int fd = client_connect(h.port);
    struct response r;
    assert_int_equal(client_get(fd, "/fibonacci/30", &r, T_MS), 0);
    assert_result(&r, 30);
    close(fd);
    stop_and_check(&h, live);
}

static void test_full_queue_answers_503_with_retry_after(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = config();
    cfg.threads = 1;
    cfg.max_queue = 1;
    assert_int_equal(harness_start(&h, &cfg, NULL), 0);
    int a = client_connect(h.port), b = client_connect(h.port), c = client_connect(h.port);
    assert_int_equal(client_send(a, "GET /fibonacci/45 HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    assert_true(harness_wait_stats(&h, one_running, T_MS));
    assert_int_equal(client_send(b, "GET /fibonacci/45 HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    assert_true(harness_wait_stats(&h, one_waiting, T_MS));
    struct response r;
    assert_int_equal(client_get(c, "/fibonacci/44", &r, T_MS), 0);
    assert_int_equal(r.status, 503);
    char v[64];
    assert_true(client_header(&r, "Retry-After", v, sizeof(v)));
    assert_true(strstr(r.body, "\"success\":false") != NULL);
    uvfib_stats_t s;
    harness_stats(&h, &s);
    assert_int_equal(s.jobs_rejected, 1);
    close(a);
    close(b);
    close(c);
    assert_true(harness_wait_stats(&h, pool_empty, T_MS));
    stop_and_check(&h, live);
}

static void test_close_with_job_in_pool_is_safe(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = config();
    cfg.threads = 1;
    assert_int_equal(harness_start(&h, &cfg, NULL), 0);
    int fd = client_connect(h.port);
    assert_int_equal(client_send(fd, "GET /fibonacci/45 HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    assert_true(harness_wait_stats(&h, one_running, T_MS));
    /* Closing the server closes the connection while its job runs: the job
     * is told to stop, and the server finishes closing once it is back. */
    stop_and_check(&h, live);
    assert_true(client_closed(fd, T_MS));
    close(fd);
}

static void test_shutdown_delivers_inflight_response(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = config();
    cfg.mode = UVFIB_MODE_OFFLOAD;
    assert_int_equal(harness_start(&h, &cfg, NULL), 0);
    int busy = client_connect(h.port), idle = client_connect(h.port);
    struct response r;
    assert_int_equal(client_get(idle, "/healthz", &r, T_MS), 0);
    assert_int_equal(client_send(busy, "GET /fibonacci/36 HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    assert_true(harness_wait_stats(&h, one_running, T_MS));
    harness_shutdown(&h, 0);
    /* The idle connection is closed; the busy one gets its answer, then close. */
    assert_true(client_closed(idle, T_MS));
    assert_int_equal(client_read(busy, &r, T_MS * 3), 0);
    assert_result(&r, 36);
    char v[32];
    assert_true(client_header(&r, "Connection", v, sizeof(v)));
    assert_string_equal(v, "close");
    assert_true(client_closed(busy, T_MS));
    assert_int_equal(client_connect(h.port), -1); /* no longer listening */
    close(busy);
    close(idle);
    stop_and_check(&h, live);
}

static void test_new_request_during_shutdown_gets_503_close(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = config();
    cfg.mode = UVFIB_MODE_OFFLOAD;
    assert_int_equal(harness_start(&h, &cfg, NULL), 0);
    int fd = client_connect(h.port);
    /* A partial request keeps the connection in the drain, once the server has read it... */
    static const char head[] = "GET /healthz HTTP/1.1\r\n";
    uint64_t before = harness_bytes_in(&h);
    assert_int_equal(client_send(fd, head), 0);
    assert_int_equal(harness_wait_bytes_in(&h, before + strlen(head), T_MS), 0);
    harness_shutdown(&h, 0);
    /* ...and when it completes it is answered 503 with Connection: close. */
    assert_int_equal(client_send(fd, "Host: x\r\n\r\n"), 0);
    struct response r;
    assert_int_equal(client_read(fd, &r, T_MS), 0);
    assert_int_equal(r.status, 503);
    char v[32];
    assert_true(client_header(&r, "Connection", v, sizeof(v)));
    assert_string_equal(v, "close");
    assert_true(client_closed(fd, T_MS));
    close(fd);
    stop_and_check(&h, live);
}

static void test_header_timeout_answers_408_and_closes(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = config();
    cfg.header_timeout_ms = 200;
    assert_int_equal(harness_start(&h, &cfg, NULL), 0);
    /* The deadline covers the whole request: a head cut short, and a body cut short. */
    static const char *const partial[] = {
        "GET /healthz HTTP/1.1\r\nHo",
        "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
    };
    for (int i = 0; i < 2; i++) {
        int fd = client_connect(h.port);
        assert_int_equal(client_send(fd, partial[i]), 0);
        struct response r;
        assert_int_equal(client_read(fd, &r, T_MS), 0);
        assert_int_equal(r.status, 408);
        assert_true(client_closed(fd, T_MS));
        close(fd);
    }
    uvfib_stats_t st;
    harness_stats(&h, &st);
    assert_int_equal(st.request_timeouts, 2); /* a timeout, not a malformed request */
    assert_int_equal(st.parse_errors, 0);
    stop_and_check(&h, live);
}

/* An embedder may say "never" for one timeout: the others still hold (a keep-alive deadline of
 * UINT64_MAX once wrapped and hid every later deadline, so a slow head was never timed out). */
static void test_header_timeout_holds_with_a_never_keepalive_timeout(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = config();
    cfg.keepalive_timeout_ms = UINT64_MAX;
    cfg.header_timeout_ms = 200;
    assert_int_equal(harness_start(&h, &cfg, NULL), 0);
    int fd = client_connect(h.port);
    struct response r;
    assert_int_equal(client_get(fd, "/healthz", &r, T_MS), 0); /* now idle, kept alive */
    assert_int_equal(r.status, 200);
    assert_int_equal(client_send(fd, "GET /healthz HTTP/1.1\r\nHo"), 0);
    assert_int_equal(client_read(fd, &r, T_MS), 0);
    assert_int_equal(r.status, 408);
    assert_true(client_closed(fd, T_MS));
    close(fd);
    stop_and_check(&h, live);
}

static void test_idle_keepalive_connection_is_closed(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = config();
    cfg.keepalive_timeout_ms = 100;
    assert_int_equal(harness_start(&h, &cfg, NULL), 0);
    int fd = client_connect(h.port);
    struct response r;
    assert_int_equal(client_get(fd, "/healthz", &r, T_MS), 0);
    assert_true(client_closed(fd, T_MS));
    close(fd);
    stop_and_check(&h, live);
}

static void test_connections_over_the_limit_are_closed(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = config();
    cfg.max_connections = 2;
    assert_int_equal(harness_start(&h, &cfg, NULL), 0);
    int a = client_connect(h.port), b = client_connect(h.port);
    struct response r;
    assert_int_equal(client_get(a, "/healthz", &r, T_MS), 0);
    assert_int_equal(client_get(b, "/healthz", &r, T_MS), 0);
    int c = client_connect(h.port);
    assert_true(c >= 0); /* the kernel accepts; the server closes it at once */
    assert_true(client_closed(c, T_MS));
    assert_int_equal(client_get(a, "/healthz", &r, T_MS), 0);
    uvfib_stats_t s;
    harness_stats(&h, &s);
    assert_int_equal(s.connections_rejected, 1);
    close(a);
    close(b);
    close(c);
    stop_and_check(&h, live);
}

/* An embedder's offloaded route whose work fails: done sees status 0 and
 * answers 500 with its own message. */
struct failing {
    int err;
};

static void failing_work(uvfib_work_t *w, void *ctx)
{
    struct failing *f = ctx;
    uint64_t out;
    f->err = fib_compute(FIB_MAX_N + 1, w, &out);
}

static void failing_done(uvfib_req_t *req, void *ctx, int status)
{
    struct failing *f = ctx;
    if (status == 0 && f->err != 0)
        uvfib_res_error(req, 500, uvfib_strerror(f->err));
    else
        uvfib_res_error(req, 503, "cancelled");
    free(f);
}

static void failing_route(uvfib_req_t *req, void *arg)
{
    struct failing *f = calloc(1, sizeof(*f));
    if (uvfib_req_offload(req, failing_work, failing_done, f, 0) < 0)
        free(f);
}

static void failing_setup(uvfib_server_t *server)
{
    uvfib_route_add(server, "GET", "/fail", failing_route, NULL);
}

static void test_offloaded_failure_answers_500(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = config();
    assert_int_equal(harness_start(&h, &cfg, failing_setup), 0);
    int fd = client_connect(h.port);
    struct response r;
    assert_int_equal(client_get(fd, "/fail", &r, T_MS), 0);
    assert_int_equal(r.status, 500);
    assert_true(strstr(r.body, "\"success\":false") != NULL);
    close(fd);
    stop_and_check(&h, live);
}

static void test_server_survives_garbage_and_keeps_serving(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = config();
    assert_int_equal(harness_start(&h, &cfg, NULL), 0);
    static const char *const bad[] = {
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "GET /fibonacci/5 HTTP/1.1\r\n\r\n",
        "GET /fibonacci/5 HTTP/1.1\r\nHost: x\r\nContent-Length: 99999\r\n\r\n",
    };
    static const int want[] = {400, 400, 400, 413};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int fd = client_connect(h.port);
        assert_int_equal(client_send(fd, bad[i]), 0);
        struct response r;
        assert_int_equal(client_read(fd, &r, T_MS), 0);
        assert_int_equal(r.status, want[i]);
        assert_true(strstr(r.body, "\"success\":false") != NULL);
        assert_true(client_closed(fd, T_MS));
        close(fd);
    }
    int fd = client_connect(h.port);
    struct response r;
    assert_int_equal(client_get(fd, "/fibonacci/20", &r, T_MS), 0);
    assert_result(&r, 20);
    close(fd);
    stop_and_check(&h, live);
}

static bool one_timed_out(const uvfib_stats_t *s) { return s->jobs_timed_out == 1; }

static void test_compute_timeout_answers_504_and_frees_the_thread(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = config();
    cfg.threads = 1;
    cfg.compute_timeout_ms = 200;
    assert_int_equal(harness_start(&h, &cfg, NULL), 0);
    int fd = client_connect(h.port);
    struct response r;
    /* F(45) takes several seconds: only the deadline ends it this soon. */
    assert_int_equal(client_get(fd, "/fibonacci/45", &r, T_MS), 0);
    assert_int_equal(r.status, 504);
    assert_true(strstr(r.body, "compute-timeout") != NULL);
    assert_true(harness_wait_stats(&h, one_timed_out, T_MS));
    /* The same connection and the same single thread serve the next one. */
    assert_int_equal(client_get(fd, "/fibonacci/25", &r, T_MS), 0);
    assert_result(&r, 25);
    close(fd);
    stop_and_check(&h, live);
}

/* libuv work that holds one of its threads until released, queued from a loop of the test
 * thread's own: libuv's pool is shared by every loop of the process. */
struct blockers {
    uv_loop_t loop;
    uv_sem_t gate;
    uv_work_t reqs[LIBUV_THREADS];
};

static void on_block(uv_work_t *req)
{
    uv_sem_wait(req->data);
}

static void blockers_start(struct blockers *b)
{
    uv_loop_init(&b->loop);
    uv_sem_init(&b->gate, 0);
    for (int i = 0; i < LIBUV_THREADS; i++) {
        b->reqs[i].data = &b->gate;
        uv_queue_work(&b->loop, &b->reqs[i], on_block, NULL);
    }
}

static void blockers_release(struct blockers *b)
{
    for (int i = 0; i < LIBUV_THREADS; i++)
        uv_sem_post(&b->gate);
    uv_run(&b->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&b->loop), 0);
    uv_sem_destroy(&b->gate);
}

static bool one_cancelled(const uvfib_stats_t *s) { return s->jobs_cancelled == 1; }

static void test_jobs_behind_a_busy_libuv_pool_time_out_cancel_and_close(void **state)
{
    long live = uvfib__alloc_live();
    struct blockers b;
    blockers_start(&b); /* every libuv thread busy with someone else's work */
    struct harness h;
    uvfib_config_t cfg = config();
    cfg.mode = UVFIB_MODE_OFFLOAD;
    cfg.compute_timeout_ms = 100;
    assert_int_equal(harness_start(&h, &cfg, NULL), 0);

    /* The deadline answers a job that never reached a thread. */
    int fd = client_connect(h.port);
    struct response r;
    assert_int_equal(client_get(fd, "/fibonacci/5", &r, T_MS), 0);
    assert_int_equal(r.status, 504);
    assert_true(harness_wait_stats(&h, one_timed_out, T_MS));

    /* A client that leaves takes its waiting job with it at once. */
    int gone = client_connect(h.port);
    assert_int_equal(client_send(gone, "GET /fibonacci/6 HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    assert_true(harness_wait_stats(&h, one_waiting, T_MS));
    close(gone);
    assert_true(harness_wait_stats(&h, one_cancelled, T_MS));
    assert_true(harness_wait_stats(&h, pool_empty, T_MS));

    /* The server closes while its runner still waits in libuv's queue: uv_cancel takes it
     * back, nothing waits for a libuv thread. */
    uvfib_stats_t s;
    harness_stats(&h, &s);
    assert_int_equal(s.jobs_completed, 0);
    close(fd);
    stop_and_check(&h, live);
    blockers_release(&b);
}

/* GET /gate: offloaded work that holds its thread until the test posts `gate`. */
static uv_sem_t gate;

static void on_gate_work(uvfib_work_t *work, void *ctx)
{
    uv_sem_wait(&gate);
}

static void on_gate_done(uvfib_req_t *req, void *ctx, int status)
{
    static const char body[] = "{\"gate\":true}";
    uvfib_res_send(req, status == 0 ? 200 : 503, body, sizeof(body) - 1);
}

static void on_gate(uvfib_req_t *req, void *arg)
{
    uvfib_req_offload(req, on_gate_work, on_gate_done, NULL, 0);
}

static void gate_setup(uvfib_server_t *server)
{
    harness_default_routes(server);
    uvfib_route_add(server, "GET", "/gate", on_gate, NULL);
}

static bool six_waiting_or_running(const uvfib_stats_t *s)
{
    return s->jobs_queued + s->jobs_running == 6;
}

static void test_shutdown_answers_every_queued_job(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = config();
    cfg.threads = 1;
    cfg.mode = UVFIB_MODE_OFFLOAD;
    uv_sem_init(&gate, 0);
    assert_int_equal(harness_start(&h, &cfg, gate_setup), 0);
    int fds[6];
    for (int i = 0; i < 6; i++) {
        fds[i] = client_connect(h.port);
        const char *req = i == 0 ? "GET /gate HTTP/1.1\r\nHost: x\r\n\r\n"
                                 : "GET /fibonacci/27 HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_int_equal(client_send(fds[i], req), 0);
        if (i == 0)
            assert_true(harness_wait_stats(&h, one_running, T_MS)); /* the gate holds the thread */
    }
    assert_true(harness_wait_stats(&h, six_waiting_or_running, T_MS));
    harness_shutdown(&h, 0); /* no deadline: every accepted request is answered */
    uv_sem_post(&gate);
    for (int i = 0; i < 6; i++) {
        struct response r;
        assert_int_equal(client_read(fds[i], &r, T_MS), 0);
        if (i == 0)
            assert_string_equal(r.body, "{\"gate\":true}");
        else
            assert_result(&r, 27);
        char v[32];
        assert_true(client_header(&r, "Connection", v, sizeof(v)));
        assert_string_equal(v, "close");
        close(fds[i]);
    }
    stop_and_check(&h, live);
    uv_sem_destroy(&gate);
}

static bool two_waiting(const uvfib_stats_t *s) { return s->jobs_queued == 2; }

/* A pipeline received before the drain is answered whole: the requests before the last keep
 * the connection, the last says Connection: close; none is dropped. */
static void test_shutdown_answers_a_whole_pipeline_then_closes(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = config();
    cfg.threads = 1;
    cfg.mode = UVFIB_MODE_OFFLOAD;
    uv_sem_init(&gate, 0);
    assert_int_equal(harness_start(&h, &cfg, gate_setup), 0);
    int fd = client_connect(h.port);
    assert_int_equal(client_send(fd, "GET /gate HTTP/1.1\r\nHost: x\r\n\r\n"
                                     "GET /fibonacci/20 HTTP/1.1\r\nHost: x\r\n\r\n"
                                     "GET /fibonacci/21 HTTP/1.1\r\nHost: x\r\n\r\n"),
                     0);
    assert_true(harness_wait_stats(&h, two_waiting, T_MS)); /* the gate holds the one thread */
    harness_shutdown(&h, 0);
    uv_sem_post(&gate);
    static const char *const want_conn[] = {"keep-alive", "keep-alive", "close"};
    for (int i = 0; i < 3; i++) {
        struct response r;
        assert_int_equal(client_read(fd, &r, T_MS), 0);
        if (i == 0)
            assert_string_equal(r.body, "{\"gate\":true}");
        else
            assert_result(&r, 19 + (unsigned)i);
        char v[32];
        assert_true(client_header(&r, "Connection", v, sizeof(v)));
        assert_string_equal(v, want_conn[i]);
    }
    assert_true(client_closed(fd, T_MS));
    close(fd);
    stop_and_check(&h, live);
    uv_sem_destroy(&gate);
}

/* ------------------------------------------------------------------ the request API */

/* POST /echo: answers what the handler was given, as JSON: a header, the raw query, a decoded
 * query parameter, the body. */
static void on_echo(uvfib_req_t *req, void *arg)
{
    size_t len = 0;
    const char *body = uvfib_req_body(req, &len);
    const char *thing = uvfib_req_header(req, "x-thing");
    const char *name = uvfib_req_query_param(req, "name");
    char out[512];
    snprintf(out, sizeof(out),
             "{\"thing\":\"%s\",\"query\":\"%s\",\"name\":\"%s\",\"missing\":%s,"
             "\"body\":\"%.*s\",\"len\":%zu}",
             thing != NULL ? thing : "(none)", uvfib_req_query(req), name != NULL ? name : "(none)",
             uvfib_req_query_param(req, "missing") == NULL ? "null" : "\"?\"", (int)len,
             body != NULL ? body : "", len);
    uvfib_res_send(req, 200, out, strlen(out));
}

/* GET /json: uvfib_res_json() misused, then used (after which req is not used again); the
 * handler runs on the loop thread, so it keeps what each call returned for the test. */
static int json_rc[5];
static void on_json(uvfib_req_t *req, void *arg)
{
    (void)arg;
    cJSON *tree = cJSON_CreateObject();
    cJSON_AddNumberToObject(tree, "answer", 42);
    json_rc[0] = uvfib_res_json(req, 200, NULL);   /* nothing to print: nothing sent */
    json_rc[1] = uvfib_res_json(req, 42, tree);    /* no such status: nothing sent */
    json_rc[3] = uvfib_res_json(req, 100, tree);   /* interim: not an answer */
    json_rc[4] = uvfib_res_send(req, 103, "", 0);
    json_rc[2] = uvfib_res_json(req, 201, tree);   /* the answer */
    cJSON_Delete(tree);
}

static int arg_frees;
static void free_counted(void *arg)
{
    arg_frees++;
    free(arg);
}

static void echo_setup(uvfib_server_t *server)
{
    harness_default_routes(server);
    /* The argument is the server's from here: freed once, when the server is. */
    assert_int_equal(uvfib_route_add_ex(server, "POST", "/echo", on_echo, malloc(16),
                                        free_counted), 0);
    assert_int_equal(uvfib_route_add(server, "GET", "/json", on_json, NULL), 0);
    /* A failed registration leaves the argument to the caller, and never calls arg_free. */
    void *mine = malloc(16);
    assert_int_equal(uvfib_route_add_ex(server, "POST", "no-slash", on_echo, mine, free_counted),
                     UV_EINVAL);
    free(mine);
}

static void test_res_json_sends_nothing_on_a_bad_call(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = config();
    assert_int_equal(harness_start(&h, &cfg, echo_setup), 0);
    int fd = client_connect(h.port);
    assert_int_equal(client_send(fd, "GET /json HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    struct response r;
    assert_int_equal(client_read(fd, &r, T_MS), 0);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.body, "{\"answer\":42}");
    close(fd);
    stop_and_check(&h, live); /* joins the loop thread: its writes are ours to read */
    assert_int_equal(json_rc[0], UV_EINVAL);
    assert_int_equal(json_rc[1], UV_EINVAL);
    assert_int_equal(json_rc[2], 0);
    assert_int_equal(json_rc[3], UV_EINVAL);
    assert_int_equal(json_rc[4], UV_EINVAL);
}

static void test_handler_reads_headers_query_and_body(void **state)
{
    long live = uvfib__alloc_live();
    arg_frees = 0;
    struct harness h;
    uvfib_config_t cfg = config();
    assert_int_equal(harness_start(&h, &cfg, echo_setup), 0);
    int fd = client_connect(h.port);
    assert_int_equal(client_send(fd, "POST /echo?name=a+b%21&x=1 HTTP/1.1\r\nHost: x\r\n"
                                     "X-Thing: hello\r\nContent-Length: 7\r\n\r\npayload"),
                     0);
    struct response r;
    assert_int_equal(client_read(fd, &r, T_MS), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"thing\":\"hello\",\"query\":\"name=a+b%21&x=1\","
                                "\"name\":\"a b!\",\"missing\":null,\"body\":\"payload\","
                                "\"len\":7}");
    /* Without any of them: no header, an empty query, no body. */
    assert_int_equal(client_send(fd, "POST /echo HTTP/1.1\r\nHost: x\r\n"
                                     "Content-Length: 0\r\n\r\n"),
                     0);
    assert_int_equal(client_read(fd, &r, T_MS), 0);
    assert_string_equal(r.body, "{\"thing\":\"(none)\",\"query\":\"\",\"name\":\"(none)\","
                                "\"missing\":null,\"body\":\"\",\"len\":0}");
    /* A body over max_body_bytes never reaches the handler. */
    char big[1200 + 128];
    int n = snprintf(big, sizeof(big), "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n",
                     1200);
    memset(big + n, 'a', 1200);
    assert_int_equal(client_send_bytes(fd, big, (size_t)n + 1200), 0);
    assert_int_equal(client_read(fd, &r, T_MS), 0);
    assert_int_equal(r.status, 413);
    close(fd);
    assert_int_equal(arg_frees, 0);
    stop_and_check(&h, live);
    assert_int_equal(arg_frees, 1);
}

/* Offloaded twice, or without a work function: the second call says so, the first answers. */
static void on_echo_work(uvfib_work_t *work, void *ctx)
{
}

static void on_echo_done(uvfib_req_t *req, void *ctx, int status)
{
    uvfib_res_send(req, 200, "{\"done\":true}", 13);
}

/* What the calls below returned, and the path read after answering, for the test thread. */
static int busy_rc, again_rc;
static char path_after[64];

/* Answers, then uses req as the API allows inside a done callback: it is still valid. */
static void on_answer_then_read_done(uvfib_req_t *req, void *ctx, int status)
{
    uvfib_res_send(req, 200, "{\"done\":true}", 13);
    snprintf(path_after, sizeof(path_after), "%s", uvfib_req_path(req));
    again_rc = uvfib_res_send(req, 200, "{}", 2);
}

/* A done callback that offloads again, cheap work that runs on the loop in auto mode: the
 * second done callback runs inside the first and answers. */
static void on_then_inline_done(uvfib_req_t *req, void *ctx, int status)
{
    uvfib_req_offload(req, on_echo_work, on_answer_then_read_done, NULL, UVFIB_OFFLOAD_CHEAP);
    snprintf(path_after, sizeof(path_after), "%s", uvfib_req_path(req)); /* still valid */
}

static void on_misuse(uvfib_req_t *req, void *arg)
{
    const char *how = uvfib_req_param(req, "how");
    if (strcmp(how, "nowork") == 0) {
        /* The request is answered (500) by the failed call itself. */
        assert_int_equal(uvfib_req_offload(req, NULL, on_echo_done, NULL, 0), UV_EINVAL);
        return;
    }
    if (strcmp(how, "answer") == 0) {
        /* Offloaded, it is the done callback's to answer: an answer now sends nothing. */
        if (uvfib_req_offload(req, on_echo_work, on_echo_done, NULL, 0) == 0)
            busy_rc = uvfib_res_send(req, 200, "{\"early\":true}", 14);
        return;
    }
    if (strcmp(how, "again") == 0) {
        uvfib_req_offload(req, on_echo_work, on_then_inline_done, NULL, 0);
        return;
    }
    if (strcmp(how, "reread") == 0) {
        uvfib_req_offload(req, on_echo_work, on_answer_then_read_done, NULL, 0);
        return;
    }
    assert_int_equal(uvfib_req_offload(req, on_echo_work, on_echo_done, NULL, 0), 0);
    assert_int_equal(uvfib_req_offload(req, on_echo_work, on_echo_done, NULL, 0), UV_EINVAL);
}

static void misuse_setup(uvfib_server_t *server)
{
    uvfib_route_add(server, "GET", "/misuse/:how", on_misuse, NULL);
}

static void test_failed_offload_leaves_the_request_answered(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = config();
    cfg.mode = UVFIB_MODE_OFFLOAD;
    assert_int_equal(harness_start(&h, &cfg, misuse_setup), 0);
    int fd = client_connect(h.port);
    struct response r;
    assert_int_equal(client_get(fd, "/misuse/nowork", &r, T_MS), 0);
    assert_int_equal(r.status, 500);
    assert_non_null(strstr(r.body, "without a work or done function"));
    assert_int_equal(client_get(fd, "/misuse/twice", &r, T_MS), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"done\":true}");
    close(fd);
    stop_and_check(&h, live);
}

/* An answer to an offloaded request before its done callback sends nothing (UV_EBUSY); the
 * callback's answer is the one that goes out. Inside the callback the request stays valid
 * after it is answered, even when the answer was written at once: it can be read, and a
 * second answer is UV_EALREADY (ASan and valgrind see any use after free here). */
static void test_offloaded_request_is_answered_by_its_done_callback_only(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    for (int mode = UVFIB_MODE_AUTO; mode <= UVFIB_MODE_INLINE; mode++) {
        uvfib_config_t cfg = config();
        cfg.mode = (uvfib_mode_t)mode;
        busy_rc = again_rc = 0;
        path_after[0] = '\0';
        assert_int_equal(harness_start(&h, &cfg, misuse_setup), 0);
        int fd = client_connect(h.port);
        struct response r;
        /* Inline, the done callback has run and the request may be gone once the offload
         * returns: the handler must not touch it then (see uvfib_req_offload). */
        if (mode != UVFIB_MODE_INLINE) {
            assert_int_equal(client_get(fd, "/misuse/answer", &r, T_MS), 0);
            assert_int_equal(r.status, 200);
            assert_string_equal(r.body, "{\"done\":true}");
        }
        assert_int_equal(client_get(fd, "/misuse/reread", &r, T_MS), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "{\"done\":true}");
        /* Pipelined behind it, one more: the connection goes on as usual. */
        assert_int_equal(client_get(fd, "/misuse/reread", &r, T_MS), 0);
        assert_int_equal(r.status, 200);
        /* A done callback that offloads again: in auto mode the cheap work runs on the loop,
         * its done callback inside the first, which still holds the request after it. */
        assert_int_equal(client_get(fd, "/misuse/again", &r, T_MS), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "{\"done\":true}");
        close(fd);
        stop_and_check(&h, live);
        if (mode != UVFIB_MODE_INLINE)
            assert_int_equal(busy_rc, UV_EBUSY);
        assert_string_equal(path_after, "/misuse/again"); /* read by the outer callback */
        assert_int_equal(again_rc, UV_EALREADY);
    }
}

/* Shutdown, then close: both callbacks, once each, the shutdown's first; a second close is
 * refused and its callback never runs. */
static int close_order[4], n_closed;
static void on_shutdown_closed(uvfib_server_t *server) { close_order[n_closed++] = 1; }
static void on_close_closed(uvfib_server_t *server) { close_order[n_closed++] = 2; }
static void on_second_close(uvfib_server_t *server) { close_order[n_closed++] = 3; }

static void test_close_during_a_shutdown_runs_both_callbacks_once(void **state)
{
    long live = uvfib__alloc_live();
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    uvfib_config_t cfg = config();
    cfg.port = 0;
    uvfib_server_t server;
    n_closed = 0;
    assert_int_equal(uvfib_server_init(&loop, &server, &cfg), 0);
    assert_int_equal(uvfib_server_listen(&server), 0);
    assert_int_equal(uvfib_server_shutdown(&server, 0, on_shutdown_closed), 0);
    assert_int_equal(uvfib_server_close(&server, on_close_closed), 0);
    assert_int_equal(uvfib_server_close(&server, on_second_close), UV_EALREADY);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(n_closed, 2);
    assert_int_equal(close_order[0], 1);
    assert_int_equal(close_order[1], 2);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(uvfib__alloc_live(), live);
}

/* A drain that ended: a close or another shutdown from its callback is refused, and nothing
 * runs twice. */
static int again_close_rc, again_shutdown_rc;
static void on_drained_close_again(uvfib_server_t *server)
{
    close_order[n_closed++] = 1;
    again_close_rc = uvfib_server_close(server, on_second_close);
    again_shutdown_rc = uvfib_server_shutdown(server, 0, on_second_close);
}

/* A server of its own on a fresh loop, listening on a free port, without an access log. */
static void init_listening(uv_loop_t *loop, uvfib_server_t *server, uvfib_config_t *cfg)
{
    assert_int_equal(uv_loop_init(loop), 0);
    *cfg = config();
    cfg->port = 0;
    cfg->access_log_fd = -1;
    n_closed = 0;
    assert_int_equal(uvfib_server_init(loop, server, cfg), 0);
    assert_int_equal(uvfib_server_listen(server), 0);
}

static void test_close_from_the_shutdown_callback_is_refused(void **state)
{
    long live = uvfib__alloc_live();
    uv_loop_t loop;
    uvfib_server_t server;
    uvfib_config_t cfg;
    init_listening(&loop, &server, &cfg);
    again_close_rc = again_shutdown_rc = 0;
    assert_int_equal(uvfib_server_shutdown(&server, 0, on_drained_close_again), 0);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(n_closed, 1);
    assert_int_equal(again_close_rc, UV_EALREADY);
    assert_int_equal(again_shutdown_rc, UV_EALREADY);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(uvfib__alloc_live(), live);
}

/* A server whose callbacks have run and which they did not free: every call finds it closed
 * (the common "shutdown on SIGTERM, close at exit" of an embedder), none reads the freed
 * server (ASan and valgrind would say), and init may use the struct again. */
static void test_calls_after_the_close_callbacks_find_the_server_closed(void **state)
{
    long live = uvfib__alloc_live();
    uv_loop_t loop;
    uvfib_server_t server;
    uvfib_config_t cfg;
    init_listening(&loop, &server, &cfg);
    assert_int_equal(uvfib_server_shutdown(&server, 0, on_shutdown_closed), 0);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(n_closed, 1);

    assert_int_equal(uvfib_server_close(&server, on_second_close), UV_EALREADY);
    assert_int_equal(uvfib_server_shutdown(&server, 0, on_second_close), UV_EALREADY);
    assert_int_equal(uvfib_server_listen(&server), UV_EBUSY);
    assert_int_equal(uvfib_route_add(&server, "GET", "/x", NULL, NULL), UV_EBUSY);
    assert_int_equal(uvfib_server_unready(&server, NULL), UV_EBUSY);
    assert_int_equal(uvfib_server_port(&server), UV_EBADF);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(uvfib_server_metrics(&server, &text, &len), UV_EINVAL);
    assert_int_equal(uvfib_server_metrics_peek(&server, &text, &len), UV_EINVAL);
    assert_null(text);
    uvfib_stats_t st;
    memset(&st, 0xff, sizeof(st));
    uvfib_server_stats(&server, &st);
    assert_int_equal(st.connections_total, 0);
    uvfib_readiness_t rd;
    uvfib_server_readiness(&server, &rd);
    assert_int_equal(rd.ready, 0);
    assert_int_equal(rd.draining, 1);
    assert_string_equal(rd.reason, "closed");
    char why[64];
    assert_int_equal(uvfib_server_overloaded(&server, why, sizeof(why)), 1);
    assert_string_equal(why, "closed");
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(n_closed, 1); /* the refused calls' callback never ran */

    /* The same struct, initialised again, is a server again. */
    assert_int_equal(uvfib_server_init(&loop, &server, &cfg), 0);
    assert_int_equal(uvfib_server_listen(&server), 0);
    assert_true(uvfib_server_port(&server) > 0);
    assert_int_equal(uvfib_server_close(&server, on_close_closed), 0);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(n_closed, 2);
    assert_int_equal(close_order[1], 2);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(uvfib__alloc_live(), live);
}

/* Both callbacks run and the first frees the server: the second still gets the final figures
 * through the pointer it receives, and nothing reads the freed struct (ASan would say). */
static uint64_t final_connections = UINT64_MAX;
static void on_shutdown_frees(uvfib_server_t *server)
{
    close_order[n_closed++] = 1;
    free(server);
}
static void on_close_reads_stats(uvfib_server_t *server)
{
    close_order[n_closed++] = 2;
    uvfib_stats_t st;
    uvfib_server_stats(server, &st);
    final_connections = st.connections_total;
}

static void test_the_second_callback_may_use_a_server_the_first_freed(void **state)
{
    long live = uvfib__alloc_live();
    uv_loop_t loop;
    uvfib_server_t *server = malloc(sizeof(*server));
    assert_non_null(server);
    uvfib_config_t cfg;
    init_listening(&loop, server, &cfg);
    int fd = client_connect(uvfib_server_port(server));
    assert_true(fd >= 0);
    uvfib_stats_t st = {0};
    while (st.connections_total == 0) { /* the loop accepts it: a figure to find at the end */
        uv_run(&loop, UV_RUN_ONCE);
        uvfib_server_stats(server, &st);
    }
    assert_int_equal(uvfib_server_shutdown(server, 0, on_shutdown_frees), 0);
    assert_int_equal(uvfib_server_close(server, on_close_reads_stats), 0);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    close(fd);
    assert_int_equal(n_closed, 2);
    assert_int_equal(close_order[0], 1);
    assert_int_equal(close_order[1], 2);
    assert_int_equal(final_connections, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(uvfib__alloc_live(), live);
}

/* uvfib_server_init() that fails after the access log's writer started stops the writer and
 * returns the error: here the pool cannot have a descriptor for its wake-up. */
static void test_init_failing_after_the_log_started_returns_the_error(void **state)
{
    long live = uvfib__alloc_live();
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    uvfib_config_t cfg = config();
    cfg.access_log_fd = fds[1];
    uvfib_server_t server;

    /* No descriptor above the lowest free one: the next one asked for is EMFILE. */
    struct rlimit old, none;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    int lowest = dup(0);
    assert_true(lowest >= 0);
    close(lowest);
    none = old;
    none.rlim_cur = (rlim_t)lowest;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &none), 0);
    int rc = uvfib_server_init(&loop, &server, &cfg);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    assert_int_equal(rc, UV_EMFILE);
    assert_int_equal(uvfib__alloc_live(), live);

    /* The k-th allocation fails, for k from 1 up until init succeeds: each failure on the way,
     * those after the writer started included, is returned and leaves nothing behind. */
    rc = -1;
    for (long k = 1; rc != 0 && k < 200; k++) {
        uvfib__alloc_fail_after(k);
        rc = uvfib_server_init(&loop, &server, &cfg);
        uvfib__alloc_fail_after(0);
        if (rc != 0) {
            assert_int_equal(rc, UV_ENOMEM);
            assert_int_equal(uvfib__alloc_live(), live);
        }
    }
    assert_int_equal(rc, 0);
    n_closed = 0;
    assert_int_equal(uvfib_server_close(&server, on_close_closed), 0);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(n_closed, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
    close(fds[0]);
    close(fds[1]);
    assert_int_equal(uvfib__alloc_live(), live);
}

/* GET /oom: the next allocation, the response's own buffer, fails. */
static void on_oom(uvfib_req_t *req, void *arg)
{
    uvfib__alloc_fail_after(1);
    assert_int_equal(uvfib_res_send(req, 200, "{\"ok\":true}", 11), UV_ENOMEM);
    uvfib__alloc_fail_after(0);
}

static void oom_setup(uvfib_server_t *server)
{
    harness_default_routes(server);
    uvfib_route_add(server, "GET", "/oom", on_oom, NULL);
}

static void test_no_memory_for_a_response_sends_500_and_closes(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = config();
    assert_int_equal(harness_start(&h, &cfg, oom_setup), 0);
    int fd = client_connect(h.port);
    struct response r;
    assert_int_equal(client_get(fd, "/oom", &r, T_MS), 0);
    assert_int_equal(r.status, 500);
    assert_string_equal(r.body, "{\"success\":false,\"error\":\"out of memory\"}");
    char v[32];
    assert_true(client_header(&r, "Connection", v, sizeof(v)));
    assert_string_equal(v, "close");
    assert_true(client_closed(fd, T_MS));
    close(fd);
    /* The server goes on. */
    fd = client_connect(h.port);
    assert_int_equal(client_get(fd, "/healthz", &r, T_MS), 0);
    assert_int_equal(r.status, 200);
    close(fd);
    stop_and_check(&h, live);
}

/* 64 KiB responses fill the socket buffers after a few dozen requests, so the
 * test stalls the server quickly even under valgrind. */
static void big_route(uvfib_req_t *req, void *arg)
{
    static char body[64 * 1024];
    if (body[0] == '\0') {
        memset(body, 'a', sizeof(body));
        memcpy(body, "{\"a\":\"", 6);
        memcpy(body + sizeof(body) - 2, "\"}", 2);
    }
    uvfib_res_send(req, 200, body, sizeof(body));
}

static void big_setup(uvfib_server_t *server)
{
    uvfib_route_add(server, "GET", "/big", big_route, NULL);
}

static void test_client_that_stops_reading_is_dropped_after_write_timeout(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = config();
    cfg.write_timeout_ms = 300;
    assert_int_equal(harness_start(&h, &cfg, big_setup), 0);
    int fd = client_connect(h.port);
    /* A tiny receive window, never read: the server's writes stall. */
    int small = 1024;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    /* Keep pipelining until the server stops reading (its send buffer full,
     * its pipeline limit reached): then our socket stays unwritable. */
    static const char one[] = "GET /big HTTP/1.1\r\nHost: x\r\n\r\n";
    char burst[64 * (sizeof(one) - 1)];
    for (size_t i = 0; i < 64; i++)
        memcpy(burst + i * (sizeof(one) - 1), one, sizeof(one) - 1);
    for (int rounds = 0; rounds < 100000; rounds++) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, 500) != 1)
            break;
        if (send(fd, burst, sizeof(burst), MSG_NOSIGNAL) < 0 && errno != EAGAIN)
            break;
    }
    assert_true(harness_wait_stats(&h, no_connections, T_MS));
    uvfib_stats_t s;
    harness_stats(&h, &s);
    assert_true(s.responses_total < s.requests_total); /* it was cut off, not finished */
    close(fd);
    stop_and_check(&h, live);
}

/* Gives fd a tiny receive window, never read, and pipelines n GET /big on it: 64 KiB each,
 * 6.4 MB for 100, more than the socket buffers hold, so the server's writes stall. */
static void send_bigs_never_read(int fd, int n)
{
    int small = 1024;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    for (int i = 0; i < n; i++)
        assert_int_equal(client_send(fd, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
}

/* A client that never reads but keeps sending (here, a byte every 20 ms after a closing
 * request, which the server reads and throws away) is dropped all the same: the write
 * deadline counts from the writes' last progress, not from reads. */
static void test_client_that_sends_but_never_reads_is_dropped_after_write_timeout(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = config();
    cfg.write_timeout_ms = 300;
    cfg.max_pipeline = 128;
    assert_int_equal(harness_start(&h, &cfg, big_setup), 0);
    int fd = client_connect(h.port);
    /* 6.4 MB of responses, the last one closing. */
    send_bigs_never_read(fd, 100);
    static const char last[] = "GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_int_equal(client_send(fd, last), 0);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    uvfib_stats_t s;
    uint64_t end = uv_hrtime() + (uint64_t)T_MS * 1000000;
    do {
        send(fd, "x", 1, MSG_NOSIGNAL); /* the pacing of a trickle, not a wait */
        usleep(20 * 1000);
        harness_stats(&h, &s);
    } while (s.connections_open > 0 && uv_hrtime() < end);
    assert_int_equal(s.connections_open, 0);
    assert_true(s.responses_total < s.requests_total); /* it was cut off, not finished */
    close(fd);
    stop_and_check(&h, live);
}

/* A partial request beside a stalled write still meets its header deadline: the earlier of the
 * two deadlines applies (here the header's 200 ms, the write's an hour). */
static void test_partial_request_beside_a_stalled_write_meets_its_header_deadline(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = config();
    cfg.write_timeout_ms = 3600 * 1000;
    cfg.header_timeout_ms = 200;
    cfg.max_pipeline = 128;
    assert_int_equal(harness_start(&h, &cfg, big_setup), 0);
    int fd = client_connect(h.port);
    /* 6.4 MB of responses the client never reads, then the start of one more request. */
    send_bigs_never_read(fd, 100);
    static const char partial[] = "GET /big HTTP/1.1\r\nHo";
    uint64_t before = harness_bytes_in(&h);
    assert_int_equal(client_send(fd, partial), 0);
    assert_int_equal(harness_wait_bytes_in(&h, before + strlen(partial), T_MS), 0);
    assert_true(harness_wait_stats(&h, no_connections, T_MS));
    uvfib_stats_t s;
    harness_stats(&h, &s);
    assert_true(s.responses_total < s.requests_total); /* cut off, not finished */
    close(fd);
    stop_and_check(&h, live);
}

/* Each limit, set low, answered with its status and a JSON error, then close. */
static void test_limits_answer_their_status_and_close(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = config();
    cfg.max_url_bytes = 64;
    cfg.max_header_bytes = 256;
    cfg.max_headers = 4;
    cfg.max_body_bytes = 8;
    assert_int_equal(harness_start(&h, &cfg, NULL), 0);
    char long_url[256], big_header[512];
    snprintf(long_url, sizeof(long_url), "GET /fibonacci/%070d HTTP/1.1\r\nHost: x\r\n\r\n", 1);
    snprintf(big_header, sizeof(big_header), "GET /healthz HTTP/1.1\r\nHost: x\r\nX: %0300d\r\n\r\n",
             1);
    const struct {
        const char *request;
        int status;
    } cases[] = {
        {long_url, 414},
        {big_header, 431},
        {"GET /healthz HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", 431},
        {"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n123456789", 413},
        {"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
         "9\r\n123456789\r\n0\r\n\r\n",
         413},
        {"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
        {"GET /healthz HTTP/1.1\r\nHost: x\r\n Folded: y\r\n\r\n", 400},
        {"GET /healthz HTTP/1.1\r\nHost: x\rX: y\r\n\r\n", 400},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int fd = client_connect(h.port);
        assert_int_equal(client_send(fd, cases[i].request), 0);
        struct response r;
        assert_int_equal(client_read(fd, &r, T_MS), 0);
        if (r.status != cases[i].status)
            fail_msg("case %zu: status %d, want %d", i, r.status, cases[i].status);
        assert_true(strstr(r.body, "\"success\":false") != NULL);
        char v[32];
        assert_true(client_header(&r, "Connection", v, sizeof(v)));
        assert_string_equal(v, "close");
        assert_true(client_closed(fd, T_MS));
        close(fd);
    }
    /* Within the limits, the same server still answers. */
    int fd = client_connect(h.port);
    struct response r;
    assert_int_equal(client_get(fd, "/healthz", &r, T_MS), 0);
    assert_int_equal(r.status, 200);
    close(fd);
    stop_and_check(&h, live);
}

/* Out of memory at every allocation in turn, one request each: the request
 * gets a 500 or its connection is closed, and the server goes on serving. */
static void test_allocation_failures_never_crash_or_leak(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = config();
    cfg.mode = UVFIB_MODE_OFFLOAD;
    assert_int_equal(harness_start(&h, &cfg, NULL), 0);
    int answered = 0, failed500 = 0, dropped = 0;
    for (long k = 1; k <= 12; k++) {
        int fd = client_connect(h.port);
        uvfib__alloc_fail_after(k);
        struct response r;
        if (client_get(fd, "/fibonacci/25", &r, T_MS) == 0) {
            if (r.status == 200)
                answered++;
            else if (r.status == 500)
                failed500++;
            else
                fail_msg("allocation %ld failing gave status %d", k, r.status);
        } else {
            dropped++;
        }
        uvfib__alloc_fail_after(0);
        close(fd);
    }
    assert_true(failed500 > 0); /* some failures surface as a 500 ... */
    assert_true(answered > 0);  /* ... and past the last allocation all succeed */
    (void)dropped; /* a failure in the read path closes the connection instead */
    assert_true(harness_wait_stats(&h, no_connections, T_MS));
    int fd = client_connect(h.port);
    struct response r;
    assert_int_equal(client_get(fd, "/fibonacci/25", &r, T_MS), 0);
    assert_result(&r, 25);
    close(fd);
    stop_and_check(&h, live);
}

/* The access log's descriptor is a pipe nobody reads: serving goes on, and a close still
 * completes, about a second later, with every line it could not write counted. */
static void test_close_gives_up_on_an_access_log_nobody_reads(void **state)
{
    long live = uvfib__alloc_live();
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fill_until_full(fds[1]); /* in blocking mode: the writer must not block on it */
    struct harness h;
    uvfib_config_t cfg = config();
    cfg.access_log_fd = fds[1];
    assert_int_equal(harness_start(&h, &cfg, NULL), 0);
    int fd = client_connect(h.port);
    for (int i = 0; i < 50; i++) {
        struct response r;
        assert_int_equal(client_get(fd, "/healthz", &r, T_MS), 0);
        assert_int_equal(r.status, 200);
    }
    close(fd);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    harness_stop(&h);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(took < 10); /* a bound, not a measurement: about 1 s */
    assert_true(h.closed);
    assert_int_equal(h.final_stats.access_log_dropped, 50);
    assert_int_equal(h.loop_close_rc, 0);
    close(fds[0]);
    close(fds[1]);
    assert_int_equal(uvfib__alloc_live(), live);
}

int main(void)
{
    /* Before anything starts libuv's pool. */
    char pool[8];
    snprintf(pool, sizeof(pool), "%d", LIBUV_THREADS);
    setenv("UV_THREADPOOL_SIZE", pool, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_results_exact_over_one_keepalive_connection),
        cmocka_unit_test(test_pipelined_heavy_then_light_answered_in_order),
        cmocka_unit_test(test_pipeline_limit_pauses_then_answers_all),
        cmocka_unit_test(test_healthz_answers_while_pool_is_saturated),
        cmocka_unit_test(test_disconnect_cancels_running_and_waiting_jobs),
        cmocka_unit_test(test_full_queue_answers_503_with_retry_after),
        cmocka_unit_test(test_close_with_job_in_pool_is_safe),
        cmocka_unit_test(test_shutdown_delivers_inflight_response),
        cmocka_unit_test(test_new_request_during_shutdown_gets_503_close),
        cmocka_unit_test(test_header_timeout_answers_408_and_closes),
        cmocka_unit_test(test_header_timeout_holds_with_a_never_keepalive_timeout),
        cmocka_unit_test(test_idle_keepalive_connection_is_closed),
        cmocka_unit_test(test_connections_over_the_limit_are_closed),
        cmocka_unit_test(test_offloaded_failure_answers_500),
        cmocka_unit_test(test_server_survives_garbage_and_keeps_serving),
        cmocka_unit_test(test_compute_timeout_answers_504_and_frees_the_thread),
        cmocka_unit_test(test_jobs_behind_a_busy_libuv_pool_time_out_cancel_and_close),
        cmocka_unit_test(test_shutdown_answers_every_queued_job),
        cmocka_unit_test(test_shutdown_answers_a_whole_pipeline_then_closes),
        cmocka_unit_test(test_client_that_stops_reading_is_dropped_after_write_timeout),
        cmocka_unit_test(test_limits_answer_their_status_and_close),
        cmocka_unit_test(test_allocation_failures_never_crash_or_leak),
        cmocka_unit_test(test_handler_reads_headers_query_and_body),
        cmocka_unit_test(test_res_json_sends_nothing_on_a_bad_call),
        cmocka_unit_test(test_offloaded_request_is_answered_by_its_done_callback_only),
        cmocka_unit_test(test_close_from_the_shutdown_callback_is_refused),
        cmocka_unit_test(test_calls_after_the_close_callbacks_find_the_server_closed),
        cmocka_unit_test(test_the_second_callback_may_use_a_server_the_first_freed),
        cmocka_unit_test(test_client_that_sends_but_never_reads_is_dropped_after_write_timeout),
        cmocka_unit_test(test_partial_request_beside_a_stalled_write_meets_its_header_deadline),
        cmocka_unit_test(test_init_failing_after_the_log_started_returns_the_error),
        cmocka_unit_test(test_failed_offload_leaves_the_request_answered),
        cmocka_unit_test(test_close_during_a_shutdown_runs_both_callbacks_once),
        cmocka_unit_test(test_no_memory_for_a_response_sends_500_and_closes),
        cmocka_unit_test(test_close_gives_up_on_an_access_log_nobody_reads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
