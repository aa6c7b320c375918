/* handoff.c - uvfib-handoff: this machine's cost of handing work to another thread and back,
 * the floor under uvfib's offload overhead (scripts/bench reports that overhead as a ratio to
 * it). Each round starts with both threads asleep, as at a modest request rate, 1 ms after the
 * last; the loop thread times it with uv_hrtime.
 *   condvar   a thread signals a condition variable to a sleeping thread, which signals back
 *   async     a loop sends uv_async_send to another loop's thread, whose callback sends one back
 *   floor     the offload's own wake-ups: the loop signals a condition variable to a sleeping
 *             worker (as libuv's pool does), the worker wakes the loop with uv_async_send
 *   pool      uvfib's own hand-off, uvfib_measure_handoff(): an empty job through the server's
 *             FIFO, a runner in libuv's pool, and the wake-up back to the loop
 *
 *   uvfib-handoff [ROUNDS]      (default 2000)
 *
 * Prints one JSON line per measurement: {"name":N,"rounds":R,"p50_ns":..,"p90_ns":..,
 * "p99_ns":..,"mean_ns":..}, each a round trip. */
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "uvfib.h"

#define GAP_MS 1

static uint64_t *samples;
static unsigned rounds, done_rounds;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *name)
{
    qsort(samples, done_rounds, sizeof(samples[0]), cmp_u64);
    double sum = 0;
    for (unsigned i = 0; i < done_rounds; i++)
        sum += (double)samples[i];
    unsigned n = done_rounds;
    printf("{\"name\":\"%s\",\"rounds\":%u,\"p50_ns\":%" PRIu64 ",\"p90_ns\":%" PRIu64
           ",\"p99_ns\":%" PRIu64 ",\"mean_ns\":%.0f}\n",
           name, n, samples[n / 2], samples[n * 9 / 10], samples[n * 99 / 100], sum / n);
    fflush(stdout);
}

static void sleep_gap(void)
{
    struct timespec ts = {0, GAP_MS * 1000000L};
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------ condvar */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t to_peer = PTHREAD_COND_INITIALIZER, to_main = PTHREAD_COND_INITIALIZER;
static int ball;                  /* 1: the peer's turn, 2: main's turn, -1: peer exits */

static void *condvar_peer(void *arg)
{
    pthread_mutex_lock(&mu);
    for (;;) {
        while (ball != 1 && ball != -1)
            pthread_cond_wait(&to_peer, &mu);
        if (ball == -1)
            break;
        ball = 2;
        pthread_cond_signal(&to_main);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void measure_condvar(void)
{
    pthread_t peer;
    ball = 0;
    pthread_create(&peer, NULL, condvar_peer, NULL);
    for (done_rounds = 0; done_rounds < rounds; done_rounds++) {
        sleep_gap();
        uint64_t t0 = uv_hrtime();
        pthread_mutex_lock(&mu);
        ball = 1;
        pthread_cond_signal(&to_peer);
        while (ball != 2)
            pthread_cond_wait(&to_main, &mu);
        pthread_mutex_unlock(&mu);
        samples[done_rounds] = uv_hrtime() - t0;
    }
    pthread_mutex_lock(&mu);
    ball = -1;
    pthread_cond_signal(&to_peer);
    pthread_mutex_unlock(&mu);
    pthread_join(peer, NULL);
    report("condvar");
}

/* ------------------------------------------------------------------ async */

static uv_loop_t main_loop, peer_loop;
static uv_async_t main_async, peer_async, peer_stop;
static uv_timer_t gap_timer;
static uint64_t t_start;

static void on_peer_async(uv_async_t *a)
{
    uv_async_send(&main_async);
}

static void on_peer_stop(uv_async_t *a)
{
    uv_close((uv_handle_t *)&peer_async, NULL);
    uv_close((uv_handle_t *)&peer_stop, NULL);
}

static void peer_thread(void *arg)
{
    uv_run(&peer_loop, UV_RUN_DEFAULT);
}

static void on_gap_async(uv_timer_t *t)
{
    t_start = uv_hrtime();
    uv_async_send(&peer_async);
}

static void on_main_async(uv_async_t *a)
{
    samples[done_rounds++] = uv_hrtime() - t_start;
    if (done_rounds == rounds) {
        uv_close((uv_handle_t *)&main_async, NULL);
        uv_close((uv_handle_t *)&gap_timer, NULL);
        uv_async_send(&peer_stop);
    } else {
        uv_timer_start(&gap_timer, on_gap_async, GAP_MS, 0);
    }
}

static void measure_async(void)
{
    uv_loop_init(&main_loop);
    uv_loop_init(&peer_loop);
    uv_async_init(&main_loop, &main_async, on_main_async);
    uv_async_init(&peer_loop, &peer_async, on_peer_async);
    uv_async_init(&peer_loop, &peer_stop, on_peer_stop);
    uv_timer_init(&main_loop, &gap_timer);
    uv_thread_t peer;
    uv_thread_create(&peer, peer_thread, NULL);
    done_rounds = 0;
    uv_timer_start(&gap_timer, on_gap_async, GAP_MS, 0);
    uv_run(&main_loop, UV_RUN_DEFAULT);
    uv_thread_join(&peer);
    uv_loop_close(&main_loop);
    uv_loop_close(&peer_loop);
    report("async");
}

/* ------------------------------------------------------------------ floor */

static bool worker_go, worker_exit;

static void *floor_worker(void *arg)
{
    pthread_mutex_lock(&mu);
    for (;;) {
        while (!worker_go && !worker_exit)
            pthread_cond_wait(&to_peer, &mu);
        if (worker_exit)
            break;
        worker_go = false;
        pthread_mutex_unlock(&mu);
        uv_async_send(&main_async);
        pthread_mutex_lock(&mu);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void on_gap_floor(uv_timer_t *t)
{
    t_start = uv_hrtime();
    pthread_mutex_lock(&mu);
    worker_go = true;
    pthread_cond_signal(&to_peer);
    pthread_mutex_unlock(&mu);
}

static void on_floor_async(uv_async_t *a)
{
    samples[done_rounds++] = uv_hrtime() - t_start;
    if (done_rounds == rounds) {
        uv_close((uv_handle_t *)&main_async, NULL);
        uv_close((uv_handle_t *)&gap_timer, NULL);
    } else {
        uv_timer_start(&gap_timer, on_gap_floor, GAP_MS, 0);
    }
}

static void measure_floor(void)
{
    uv_loop_init(&main_loop);
    uv_async_init(&main_loop, &main_async, on_floor_async);
    uv_timer_init(&main_loop, &gap_timer);
    pthread_t worker;
    worker_go = worker_exit = false;
    pthread_create(&worker, NULL, floor_worker, NULL);
    done_rounds = 0;
    uv_timer_start(&gap_timer, on_gap_floor, GAP_MS, 0);
    uv_run(&main_loop, UV_RUN_DEFAULT);
    pthread_mutex_lock(&mu);
    worker_exit = true;
    pthread_cond_signal(&to_peer);
    pthread_mutex_unlock(&mu);
    pthread_join(worker, NULL);
    uv_loop_close(&main_loop);
    report("floor");
}

/* ------------------------------------------------------------------ pool */

static void measure_pool(void)
{
    done_rounds = uvfib_measure_handoff(rounds, samples) == 0 ? rounds : 0;
    if (done_rounds > 0)
        report("pool");
}

int main(int argc, char **argv)
{
    rounds = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 2000;
    if (rounds < 10 || rounds > 1000000) {
        fprintf(stderr, "usage: %s [ROUNDS 10-1000000]\n", argv[0]);
        return 2;
    }
    samples = calloc(rounds, sizeof(*samples));
    if (samples == NULL)
        return 1;
    measure_condvar();
    measure_async();
    measure_floor();
    measure_pool();
    free(samples);
    return 0;
}
