/* test_jobs.c - the real server's computations end to end, through the public API on its own
 * loop in a thread (test/support/harness.c): admission when libuv's pool is smaller than
 * `threads`, the compute deadline against a loop that stalls, huge limits meaning "never",
 * and the job counts as a done callback sees them. Regression tests of review findings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "harness.h"
#include "alloc.h"
#include "server.h"
#include "stats.h"

#define T_MS 10000 /* generous: sanitizers and valgrind are slow */
#define DEADLINE_NS (20ull * 1000000000ull)
#define LIBUV_THREADS 2 /* UV_THREADPOOL_SIZE, set in main(): fewer than some tests' threads */

static void stop_and_check(struct harness *h, long live_before)
{
    harness_stop(h);
    assert_int_equal(h->loop_close_rc, 0);
    assert_true(h->closed);
    assert_int_equal(uvfib__alloc_live(), live_before);
}

/* Sends one request and returns once the server has read it, so its handler has run. */
static void send_read(struct harness *h, int fd, const char *request)
{
    uint64_t before = harness_bytes_in(h);
    assert_int_equal(client_send(fd, request), 0);
    assert_int_equal(harness_wait_bytes_in(h, before + strlen(request), T_MS), 0);
}

/* ------------------------------------------------------------------ routes */

/* Work that holds its pool thread until the test releases it (or it is cancelled). */
static atomic_bool released;
static atomic_int saw_cancel;

static void work_blocked(uvfib_work_t *work, void *ctx)
{
    (void)ctx;
    uint64_t end = uv_hrtime() + DEADLINE_NS;
    while (!atomic_load(&released) && !uvfib_work_cancelled(work) && uv_hrtime() < end)
        sched_yield();
    if (uvfib_work_cancelled(work))
        atomic_fetch_add(&saw_cancel, 1);
}

static void work_nothing(uvfib_work_t *work, void *ctx)
{
    (void)work, (void)ctx;
}

/* Answers by status: 200 done, 504 timed out, 503 cancelled. */
static void done_by_status(uvfib_req_t *req, void *ctx, int status)
{
    (void)ctx;
    int code = status == 0 ? 200 : status == UV_ETIMEDOUT ? 504 : 503;
    uvfib_res_send(req, code, "{}", 2);
}

static void block_route(uvfib_req_t *req, void *arg)
{
    (void)arg;
    uvfib_req_offload(req, work_blocked, done_by_status, NULL, 0);
}

static void block_setup(uvfib_server_t *server)
{
    uvfib_route_add(server, "GET", "/block", block_route, NULL);
}

static void reset_routes(void)
{
    atomic_store(&released, false);
    atomic_store(&saw_cancel, 0);
}

static uvfib_config_t offload_config(unsigned threads)
{
    uvfib_config_t cfg;
    uvfib_config_init(&cfg);
    cfg.mode = UVFIB_MODE_OFFLOAD;
    cfg.threads = threads;
    return cfg;
}

static const char get_block[] = "GET /block HTTP/1.1\r\nHost: x\r\n\r\n";

/* n copies of get_block, pipelined in one NUL-terminated buffer (the caller frees it). */
static char *blocks(size_t n)
{
    size_t one = sizeof(get_block) - 1;
    char *all = malloc(n * one + 1);
    if (all == NULL)
        abort(); /* (cmocka's asserts are not known to the compiler not to return) */
    for (size_t i = 0; i < n; i++)
        memcpy(all + i * one, get_block, one);
    all[n * one] = '\0';
    return all;
}

/* ------------------------------------------------------------------ max_queue */

static unsigned want_running;
static bool running_is_wanted(const uvfib_stats_t *s) { return s->jobs_running == want_running; }

/* UV_THREADPOOL_SIZE 2 under threads 4 (the library's default threads is the CPU count, and
 * an embedder picks libuv's pool): two jobs run, and the runners started for the next two
 * wait in libuv's queue. The queue is still bounded: max_queue jobs may wait beyond the
 * threads free in uvfib's count, however few threads run. */
static void test_max_queue_bounds_waiting_jobs_when_libuv_has_fewer_threads(void **state)
{
    (void)state;
    long live = uvfib__alloc_live();
    reset_routes();
    struct harness h;
    enum { THREADS = 2 * LIBUV_THREADS, MAX_QUEUE = 2 };
    uvfib_config_t cfg = offload_config(THREADS);
    cfg.max_queue = MAX_QUEUE;
    cfg.max_queue_wait_ms = 0; /* the count alone */
    assert_int_equal(harness_start(&h, &cfg, block_setup), 0);
    /* LIBUV_THREADS run; as many jobs as threads are free in uvfib's count (their runners
     * stuck in libuv's queue), and max_queue more, may wait: THREADS + MAX_QUEUE admitted, the
     * next refused. Before, none was ever refused: running never reached THREADS. */
    enum { N = THREADS + MAX_QUEUE + 1 };
    int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = client_connect(h.port);
    /* One at a time, each running before the next: nothing waits while a thread is free. */
    for (unsigned i = 0; i < LIBUV_THREADS; i++) {
        send_read(&h, fds[i], get_block);
        want_running = i + 1;
        assert_true(harness_wait_stats(&h, running_is_wanted, T_MS));
    }
    for (int i = LIBUV_THREADS; i < N; i++)
        send_read(&h, fds[i], get_block);
    uvfib_stats_t s;
    harness_stats(&h, &s);
    assert_int_equal(s.jobs_running, LIBUV_THREADS);
    assert_int_equal(s.jobs_queued, N - 1 - LIBUV_THREADS);
    assert_int_equal(s.jobs_rejected, 1);
    struct response r;
    assert_int_equal(client_read(fds[N - 1], &r, T_MS), 0);
    assert_int_equal(r.status, 503);
    assert_true(strstr(r.body, "queue is full") != NULL);

    atomic_store(&released, true);
    for (int i = 0; i < N - 1; i++) {
        assert_int_equal(client_read(fds[i], &r, T_MS), 0);
        assert_int_equal(r.status, 200);
    }
    for (int i = 0; i < N; i++)
        close(fds[i]);
    stop_and_check(&h, live);
}

/* ------------------------------------------------------------------ the compute deadline */

#define STALL_TIMEOUT_MS 5

/* Set by the pool's runner once it has put a finished job on the done list and woken the
 * loop (pool.h's after_wake, a test hook). */
static atomic_bool job_back;

static void on_after_wake(struct uvfib__pool *pool)
{
    (void)pool;
    atomic_store(&job_back, true);
}

/* Offloads a job that finishes at once, then holds the loop until the job is on the done list
 * and its deadline has passed: when the loop resumes it runs the timer before it reads the
 * wake-up, so the timer meets a job that finished in time. */
static void stall_route(uvfib_req_t *req, void *arg)
{
    (void)arg;
    atomic_store(&job_back, false);
    if (uvfib_req_offload(req, work_nothing, done_by_status, NULL, 0) != 0)
        return;
    uint64_t queued = uv_hrtime(); /* no earlier than the job's own queued time */
    uint64_t end = queued + DEADLINE_NS;
    while (!atomic_load(&job_back) && uv_hrtime() < end)
        sched_yield();
    /* Past the deadline by a margin: libuv's clock may be a coarse one. */
    uint64_t past = queued + (STALL_TIMEOUT_MS + 5) * 1000000ull;
    while (uv_hrtime() < past)
        sched_yield();
}

static void stall_setup(uvfib_server_t *server)
{
    server->impl->pool.after_wake = on_after_wake;
    uvfib_route_add(server, "GET", "/stall", stall_route, NULL);
}

static void test_job_finished_before_its_deadline_is_answered_despite_a_loop_stall(void **state)
{
    (void)state;
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = offload_config(1);
    cfg.compute_timeout_ms = STALL_TIMEOUT_MS;
    assert_int_equal(harness_start(&h, &cfg, stall_setup), 0);
    int fd = client_connect(h.port);
    struct response r;
    assert_int_equal(client_get(fd, "/stall", &r, T_MS), 0);
    assert_true(atomic_load(&job_back));
    assert_int_equal(r.status, 200);
    uvfib_stats_t s;
    harness_stats(&h, &s);
    assert_int_equal(s.jobs_completed, 1);
    assert_int_equal(s.jobs_timed_out, 0);
    close(fd);
    stop_and_check(&h, live);
}

/* ------------------------------------------------------------------ huge limits */

static bool one_running(const uvfib_stats_t *s) { return s->jobs_running == 1; }

/* compute_timeout_ms = UINT64_MAX is "never", not a deadline that wrapped into the past. */
static void test_huge_compute_timeout_never_times_a_job_out(void **state)
{
    (void)state;
    long live = uvfib__alloc_live();
    reset_routes();
    struct harness h;
    uvfib_config_t cfg = offload_config(1);
    cfg.compute_timeout_ms = UINT64_MAX;
    assert_int_equal(harness_start(&h, &cfg, block_setup), 0);
    int fd = client_connect(h.port);
    assert_int_equal(client_send(fd, get_block), 0);
    assert_true(harness_wait_stats(&h, one_running, T_MS));
    /* Each round trip is a loop iteration after the offload, and an iteration runs its due
     * timers first: a deadline that had wrapped has fired by now. */
    uvfib_stats_t s;
    harness_stats(&h, &s);
    assert_int_equal(s.jobs_timed_out, 0);
    atomic_store(&released, true);
    struct response r;
    assert_int_equal(client_read(fd, &r, T_MS), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(atomic_load(&saw_cancel), 0);
    harness_stats(&h, &s);
    assert_int_equal(s.jobs_completed, 1);
    assert_int_equal(s.jobs_timed_out, 0);
    close(fd);
    stop_and_check(&h, live);
}

static bool closed_cb_ran;
static void on_server_closed(uvfib_server_t *server)
{
    (void)server;
    closed_cb_ran = true;
}

/* Milliseconds whose nanoseconds do not fit 64 bits saturate: the limits stay out of reach,
 * and the Retry-After of a drain is not a window that wrapped to 0 s. */
static void test_huge_limits_saturate_instead_of_wrapping(void **state)
{
    (void)state;
    long live = uvfib__alloc_live();
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    uvfib_config_t cfg;
    uvfib_config_init(&cfg);
    /* Times 10^6, each wraps to about 0.45 ms. */
    cfg.max_queue_wait_ms = UINT64_MAX / 1000000 + 1;
    cfg.max_loop_delay_ms = UINT64_MAX / 1000000 + 1;
    cfg.monitor_window_ms = UINT64_MAX;
    uvfib_server_t server;
    assert_int_equal(uvfib_server_init(&loop, &server, &cfg), 0);
    struct uvfib__admission_limits lim;
    struct uvfib__admission_load load;
    uvfib__stats_admission(server.impl, true, &lim, &load);
    assert_true(lim.max_queue_wait_ns == UINT64_MAX);
    assert_true(lim.max_loop_delay_ns == UINT64_MAX);
    assert_true(lim.window_ns == UINT64_MAX);
    assert_true(server.impl->mon.window_ns == UINT64_MAX);
    assert_int_equal(uvfib_server_shutdown(&server, 0, on_server_closed), 0);
    uvfib_readiness_t ready;
    uvfib_server_readiness(&server, &ready);
    assert_true(ready.draining);
    assert_true(ready.retry_after_s > 0);
    closed_cb_ran = false;
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(closed_cb_ran);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(uvfib__alloc_live(), live);
}

/* ------------------------------------------------------------------ counts in a done callback */

/* What the done callbacks saw: jobs counted (finished, running, waiting) against jobs given. */
static atomic_int n_offloaded, n_dones, n_sums_wrong;
static atomic_bool first_released;

static void count_done(uvfib_req_t *req, void *ctx, int status)
{
    (void)ctx;
    uvfib_stats_t st;
    uvfib_server_stats(uvfib_req_server(req), &st);
    uint64_t sum = st.jobs_completed + st.jobs_cancelled + st.jobs_timed_out + st.jobs_running +
                   st.jobs_queued;
    if (sum != (uint64_t)atomic_load(&n_offloaded))
        atomic_fetch_add(&n_sums_wrong, 1);
    atomic_fetch_add(&n_dones, 1);
    uvfib_res_send(req, status == 0 ? 200 : 503, "{}", 2);
}

static void work_gated(uvfib_work_t *work, void *ctx)
{
    (void)ctx;
    uint64_t end = uv_hrtime() + DEADLINE_NS;
    while (!atomic_load(&first_released) && !uvfib_work_cancelled(work) && uv_hrtime() < end)
        sched_yield();
}

/* Finished jobs waiting on the done list, read under the pool's lock. */
static unsigned done_list_length(struct uvfib__pool *pool)
{
    unsigned n = 0;
    uv_mutex_lock(&pool->mu);
    for (struct uvfib__pool_job *j = pool->done_head; j != NULL; j = j->next)
        n++;
    uv_mutex_unlock(&pool->mu);
    return n;
}

/* The first request's job holds the only thread; the second's queues behind it, lets it go,
 * and holds the loop until both are on the done list: the loop takes them back as one batch. */
static void batch_route(uvfib_req_t *req, void *arg)
{
    (void)arg;
    bool first = atomic_load(&n_offloaded) == 0;
    if (uvfib_req_offload(req, work_gated, count_done, NULL, 0) != 0)
        return;
    atomic_fetch_add(&n_offloaded, 1);
    if (first)
        return;
    atomic_store(&first_released, true);
    struct uvfib__pool *pool = &uvfib_req_server(req)->impl->pool;
    uint64_t end = uv_hrtime() + DEADLINE_NS;
    while (done_list_length(pool) < 2 && uv_hrtime() < end)
        sched_yield();
}

static void batch_setup(uvfib_server_t *server)
{
    uvfib_route_add(server, "GET", "/batch", batch_route, NULL);
}

/* pool.h promises that the pool's counts and the finished jobs always add up: no job may
 * drop out of "running" before it is counted finished, while a batch is handed back. */
static void test_job_counts_add_up_in_done_callbacks_of_one_batch(void **state)
{
    (void)state;
    long live = uvfib__alloc_live();
    atomic_store(&n_offloaded, 0);
    atomic_store(&n_dones, 0);
    atomic_store(&n_sums_wrong, 0);
    atomic_store(&first_released, false);
    struct harness h;
    uvfib_config_t cfg = offload_config(1);
    assert_int_equal(harness_start(&h, &cfg, batch_setup), 0);
    int a = client_connect(h.port), b = client_connect(h.port);
    static const char get_batch[] = "GET /batch HTTP/1.1\r\nHost: x\r\n\r\n";
    send_read(&h, a, get_batch);
    assert_int_equal(client_send(b, get_batch), 0);
    struct response r;
    assert_int_equal(client_read(a, &r, T_MS), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(client_read(b, &r, T_MS), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(atomic_load(&n_dones), 2);
    assert_int_equal(atomic_load(&n_sums_wrong), 0);
    close(a);
    close(b);
    stop_and_check(&h, live);
}

/* ------------------------------------------------------------------ paused at the pipeline */

static bool no_connection_jobs_back(const uvfib_stats_t *s)
{
    return s->connections_open == 0 && s->jobs_running == 0 && s->jobs_queued == 0;
}

/* A client that pipelines past max_pipeline and leaves: parsing paused at the limit, but the
 * server goes on reading, so it sees the EOF and cancels the computations at once, the one
 * running included, instead of running them for nobody. */
static void test_client_leaving_while_paused_at_the_pipeline_limit_is_seen(void **state)
{
    (void)state;
    long live = uvfib__alloc_live();
    reset_routes();
    struct harness h;
    uvfib_config_t cfg = offload_config(1);
    cfg.max_pipeline = 2;
    assert_int_equal(harness_start(&h, &cfg, block_setup), 0);
    int fd = client_connect(h.port);
    char *four = blocks(4);
    send_read(&h, fd, four);
    free(four); /* read whole: two parsed (one runs, one waits), two kept */
    uvfib_stats_t s;
    harness_stats(&h, &s);
    assert_int_equal(s.requests_total, 2);
    assert_int_equal(s.jobs_running + s.jobs_queued, 2);
    close(fd);
    /* Never released: only the cancellation ends the running job. */
    assert_true(harness_wait_stats(&h, no_connection_jobs_back, T_MS));
    harness_stats(&h, &s);
    assert_int_equal(s.jobs_cancelled, 2);
    assert_int_equal(s.jobs_completed, 0);
    assert_int_equal(atomic_load(&saw_cancel), 1);
    stop_and_check(&h, live);
}

/* The same with --half-close answer: the client's EOF while paused is kept until the requests
 * it sent are parsed and answered, every one of them, then the server closes. */
static void test_half_close_while_paused_answers_every_request_sent(void **state)
{
    (void)state;
    long live = uvfib__alloc_live();
    reset_routes();
    struct harness h;
    uvfib_config_t cfg = offload_config(1);
    cfg.max_pipeline = 2;
    cfg.half_close_answer = 1;
    assert_int_equal(harness_start(&h, &cfg, block_setup), 0);
    int fd = client_connect(h.port);
    char *four = blocks(4);
    send_read(&h, fd, four);
    free(four);
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    atomic_store(&released, true);
    for (int i = 0; i < 4; i++) {
        struct response r;
        assert_int_equal(client_read(fd, &r, T_MS), 0);
        assert_int_equal(r.status, 200);
    }
    assert_true(client_closed(fd, T_MS));
    close(fd);
    stop_and_check(&h, live);
}

/* Kept bytes over the bound stop reading; once the pause ends and what is still kept is under
 * it, reading starts again, so the client's leaving is seen. Here each job ends by its compute
 * deadline (20 ms), one at a time (max_pipeline 1), and the client sends a few requests more
 * than the bound and leaves: a few deadlines later the server sees the EOF and closes, rather
 * than computing the other two thousand requests for nobody. */
static bool no_connections(const uvfib_stats_t *s) { return s->connections_open == 0; }

static void test_reading_restarts_once_kept_bytes_are_under_the_bound(void **state)
{
    (void)state;
    long live = uvfib__alloc_live();
    reset_routes();
    struct harness h;
    uvfib_config_t cfg = offload_config(1);
    cfg.max_pipeline = 1;
    cfg.compute_timeout_ms = 20;
    assert_int_equal(harness_start(&h, &cfg, block_setup), 0);
    int fd = client_connect(h.port);
    char *all = blocks(64 * 1024 / (sizeof(get_block) - 1) + 4);
    assert_int_equal(client_send(fd, all), 0);
    free(all);
    /* Reading stopped at the bound: the server holds 64 KiB or more and less than all. */
    assert_int_equal(harness_wait_bytes_in(&h, 64 * 1024, T_MS), 0);
    /* It leaves by its EOF alone (half-close; it still takes the 504s, so no write fails). */
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    assert_true(harness_wait_stats(&h, no_connections, T_MS));
    uvfib_stats_t s;
    harness_stats(&h, &s);
    assert_true(s.requests_total < 20); /* not the ~2,000 sent */
    close(fd);
    stop_and_check(&h, live);
}

int main(void)
{
    /* libuv reads it once, when its pool starts: before any test queues work. */
    char n[8];
    snprintf(n, sizeof(n), "%d", LIBUV_THREADS);
    setenv("UV_THREADPOOL_SIZE", n, 1);
    /* As an embedder's main must (the executable's does): a write to a client that has gone
     * is then an EPIPE for the server to handle, not the process's end. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_max_queue_bounds_waiting_jobs_when_libuv_has_fewer_threads),
        cmocka_unit_test(test_job_finished_before_its_deadline_is_answered_despite_a_loop_stall),
        cmocka_unit_test(test_huge_compute_timeout_never_times_a_job_out),
        cmocka_unit_test(test_huge_limits_saturate_instead_of_wrapping),
        cmocka_unit_test(test_job_counts_add_up_in_done_callbacks_of_one_batch),
        cmocka_unit_test(test_client_leaving_while_paused_at_the_pipeline_limit_is_seen),
        cmocka_unit_test(test_half_close_while_paused_answers_every_request_sent),
        cmocka_unit_test(test_reading_restarts_once_kept_bytes_are_under_the_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
