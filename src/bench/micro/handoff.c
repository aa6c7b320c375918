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
 *   chain-direct, chain-hop
 *             the shape of a request, with nothing else in it: a client thread sends one byte
 *             over loopback TCP to a libuv loop thread and waits for one back, every 5 ms (the
 *             gap of a 200/s probe on one connection). chain-direct answers on the loop;
 *             chain-hop hands the byte to a third thread (a condition variable signalled after
 *             unlocking) that wakes the loop back through an eventfd, as uvfib's pool does.
 *             The two alternate round by round. Three threads on this machine's cores: the
 *             worker may wake on a core that was idle, which two threads ping-ponging avoid.
 *             chain-hop's p50 minus chain-direct's is the floor under a request's offload
 *             overhead (scripts/bench compares uvfib's offload-minus-inline p50 with it).
 *
 *   uvfib-handoff [ROUNDS]      (default 2000)
 *
 * Prints one JSON line per measurement: {"name":N,"rounds":R,"p50_ns":..,"p90_ns":..,
 * "p99_ns":..,"mean_ns":..}, each a round trip. */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

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

/* Prints one measurement's line from its n round trips in s (sorted here). */
static void report(const char *name, uint64_t *s, unsigned n)
{
    qsort(s, n, sizeof(s[0]), cmp_u64);
    double sum = 0;
    for (unsigned i = 0; i < n; i++)
        sum += (double)s[i];
    printf("{\"name\":\"%s\",\"rounds\":%u,\"p50_ns\":%" PRIu64 ",\"p90_ns\":%" PRIu64
           ",\"p99_ns\":%" PRIu64 ",\"mean_ns\":%.0f}\n",
           name, n, s[n / 2], s[n * 9 / 10], s[n * 99 / 100], sum / n);
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
    report("condvar", samples, done_rounds);
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
    report("async", samples, done_rounds);
}

/* ------------------------------------------------------------------ floor */

static bool worker_go, worker_exit;

/* A worker asleep on a condition variable; each time it is woken it calls arg, a
 * void (*)(void) that wakes the loop back, without the mutex. */
static void *worker(void *arg)
{
    void (*wake_back)(void) = (void (*)(void))(uintptr_t)arg;
    pthread_mutex_lock(&mu);
    for (;;) {
        while (!worker_go && !worker_exit)
            pthread_cond_wait(&to_peer, &mu);
        if (worker_exit)
            break;
        worker_go = false;
        pthread_mutex_unlock(&mu);
        wake_back();
        pthread_mutex_lock(&mu);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void start_worker(pthread_t *t, void (*wake_back)(void))
{
    worker_go = worker_exit = false;
    pthread_create(t, NULL, worker, (void *)(uintptr_t)wake_back);
}

static void stop_worker(pthread_t t)
{
    pthread_mutex_lock(&mu);
    worker_exit = true;
    pthread_cond_signal(&to_peer);
    pthread_mutex_unlock(&mu);
    pthread_join(t, NULL);
}

static void async_back(void)
{
    uv_async_send(&main_async);
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
    pthread_t w;
    start_worker(&w, async_back);
    done_rounds = 0;
    uv_timer_start(&gap_timer, on_gap_floor, GAP_MS, 0);
    uv_run(&main_loop, UV_RUN_DEFAULT);
    stop_worker(w);
    uv_loop_close(&main_loop);
    report("floor", samples, done_rounds);
}

/* ------------------------------------------------------------------ chain */

#define CHAIN_GAP_MS 5

static int chain_loop_fd, chain_client_fd, chain_event_fd;
static uv_loop_t chain_loop;
static uv_poll_t chain_sock_poll, chain_event_poll;
static atomic_bool chain_hop;     /* this round goes through the worker; the client thread sets
                                     it before it sends, the loop reads it when the byte is in */
static uint64_t *samples_hop;

static void chain_answer(void)
{
    char c = 'a';
    while (write(chain_loop_fd, &c, 1) < 0 && errno == EINTR)
        ;
}

static void on_chain_sock(uv_poll_t *h, int status, int events)
{
    char c;
    ssize_t n = read(chain_loop_fd, &c, 1);
    if (n <= 0) { /* the client closed: done */
        uv_close((uv_handle_t *)&chain_sock_poll, NULL);
        uv_close((uv_handle_t *)&chain_event_poll, NULL);
        return;
    }
    if (!atomic_load_explicit(&chain_hop, memory_order_acquire)) {
        chain_answer();
        return;
    }
    pthread_mutex_lock(&mu);
    worker_go = true;
    pthread_mutex_unlock(&mu);
    pthread_cond_signal(&to_peer);
}

static void on_chain_event(uv_poll_t *h, int status, int events)
{
    uint64_t v;
    while (read(chain_event_fd, &v, sizeof(v)) < 0 && errno == EINTR)
        ;
    chain_answer();
}

static void eventfd_back(void)
{
    uint64_t one = 1;
    while (write(chain_event_fd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

static void chain_loop_thread(void *arg)
{
    uv_run(&chain_loop, UV_RUN_DEFAULT);
}

/* A connected pair of loopback TCP sockets. @return 0, or -1. */
static int tcp_pair(int *a, int *b)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, len) < 0 || listen(lfd, 1) < 0 ||
        getsockname(lfd, (struct sockaddr *)&addr, &len) < 0) {
        if (lfd >= 0)
            close(lfd);
        return -1;
    }
    *a = socket(AF_INET, SOCK_STREAM, 0);
    if (*a < 0 || connect(*a, (struct sockaddr *)&addr, len) < 0 || (*b = accept(lfd, NULL, NULL)) < 0) {
        close(lfd);
        if (*a >= 0)
            close(*a);
        return -1;
    }
    close(lfd);
    int one = 1;
    setsockopt(*a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(*b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return 0;
}

static void measure_chain(void)
{
    if (tcp_pair(&chain_client_fd, &chain_loop_fd) < 0) {
        fprintf(stderr, "uvfib-handoff: no loopback TCP pair; chain skipped\n");
        return;
    }
    chain_event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    samples_hop = calloc(rounds, sizeof(*samples_hop));
    if (chain_event_fd < 0 || samples_hop == NULL) {
        fprintf(stderr, "uvfib-handoff: no eventfd or memory; chain skipped\n");
        close(chain_client_fd);
        close(chain_loop_fd);
        if (chain_event_fd >= 0)
            close(chain_event_fd);
        free(samples_hop);
        return;
    }
    uv_loop_init(&chain_loop);
    uv_poll_init(&chain_loop, &chain_sock_poll, chain_loop_fd);
    uv_poll_init(&chain_loop, &chain_event_poll, chain_event_fd);
    uv_poll_start(&chain_sock_poll, UV_READABLE, on_chain_sock);
    uv_poll_start(&chain_event_poll, UV_READABLE, on_chain_event);
    pthread_t w;
    start_worker(&w, eventfd_back);
    uv_thread_t loop_thread;
    uv_thread_create(&loop_thread, chain_loop_thread, NULL);

    /* Rounds alternate direct and hop, so drift in the machine's speed hits both alike. */
    unsigned n_direct = 0, n_hop = 0;
    for (unsigned i = 0; i < 2 * rounds; i++) {
        struct timespec ts = {0, CHAIN_GAP_MS * 1000000L};
        nanosleep(&ts, NULL);
        bool hop = i % 2 == 1;
        atomic_store_explicit(&chain_hop, hop, memory_order_release);
        char c = 'q';
        uint64_t t0 = uv_hrtime();
        if (write(chain_client_fd, &c, 1) != 1 || read(chain_client_fd, &c, 1) != 1)
            break;
        uint64_t dt = uv_hrtime() - t0;
        if (hop)
            samples_hop[n_hop++] = dt;
        else
            samples[n_direct++] = dt;
    }
    close(chain_client_fd); /* the loop sees EOF and stops */
    uv_thread_join(&loop_thread);
    stop_worker(w);
    uv_loop_close(&chain_loop);
    close(chain_loop_fd);
    close(chain_event_fd);
    if (n_direct > 0)
        report("chain-direct", samples, n_direct);
    if (n_hop > 0)
        report("chain-hop", samples_hop, n_hop);
    free(samples_hop);
}

/* ------------------------------------------------------------------ pool */

static void measure_pool(void)
{
    if (uvfib_measure_handoff(rounds, samples) == 0)
        report("pool", samples, rounds);
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
    measure_chain();
    free(samples);
    return 0;
}
