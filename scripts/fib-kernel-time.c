/* fib-kernel-time.c - times uvfib's Fibonacci kernel alone, outside the server, for
 * scripts/bench: the physical limit of /fibonacci/N throughput is cores / (time per call).
 *
 *   cc -O2 -std=c17 scripts/fib-kernel-time.c -Iinclude $(pkg-config --cflags libuv) \
 *      -Lbuild-release/src -luvfib -Wl,-rpath,$PWD/build-release/src -lpthread
 *   fib-kernel-time N SECONDS THREADS
 *
 * Starts THREADS threads, each calling uvfib_fib(N, NULL, &out) in a loop for SECONDS, and
 * prints one JSON line: {"n":N,"threads":T,"seconds":S,"calls":C,"ns_per_call":X,
 * "cpu_ns_per_call":Z,"calls_per_s":Y,"sink":D}, where ns_per_call is wall thread-time per
 * call (T * S / C), cpu_ns_per_call the threads' own CPU time per call (what a core spends,
 * whatever else the machine runs), calls_per_s the rate of all threads together, and sink
 * a digit of the results, printed so the calls cannot be optimised away. Exit 2 on bad
 * arguments. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "uvfib.h"

struct runner {
    pthread_t tid;
    unsigned n;
    double seconds;
    uint64_t calls;
    uint64_t sink;
    double cpu_s; /* this thread's CPU time over its loop */
    int err;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static atomic_int go;

static void *run(void *arg)
{
    struct runner *r = arg;
    while (!atomic_load(&go))
        ;
    double end = now_s() + r->seconds;
    double cpu0 = thread_cpu_s();
    do {
        uint64_t out = 0;
        r->err |= uvfib_fib(r->n, NULL, &out);
        r->sink += out;
        r->calls++;
    } while (now_s() < end);
    r->cpu_s = thread_cpu_s() - cpu0;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s N SECONDS THREADS\n", argv[0]);
        return 2;
    }
    unsigned n = (unsigned)strtoul(argv[1], NULL, 10);
    double seconds = strtod(argv[2], NULL);
    int threads = atoi(argv[3]);
    if (n > 45 || seconds <= 0 || seconds > 600 || threads < 1 || threads > 256) {
        fprintf(stderr, "%s: N 0-45, 0 < SECONDS <= 600, THREADS 1-256\n", argv[0]);
        return 2;
    }
    struct runner *rs = calloc((size_t)threads, sizeof *rs);
    if (rs == NULL)
        return 1;
    for (int i = 0; i < threads; i++) {
        rs[i].n = n;
        rs[i].seconds = seconds;
        if (pthread_create(&rs[i].tid, NULL, run, &rs[i]) != 0) {
            perror("pthread_create");
            return 1;
        }
    }
    double t0 = now_s();
    atomic_store(&go, 1);
    uint64_t calls = 0, sink = 0;
    double cpu = 0;
    int err = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(rs[i].tid, NULL);
        calls += rs[i].calls;
        sink += rs[i].sink;
        cpu += rs[i].cpu_s;
        err |= rs[i].err;
    }
    double wall = now_s() - t0;
    if (err != 0 || calls == 0) {
        fprintf(stderr, "%s: uvfib_fib failed\n", argv[0]);
        return 1;
    }
    printf("{\"n\":%u,\"threads\":%d,\"seconds\":%.3f,\"calls\":%" PRIu64
           ",\"ns_per_call\":%.1f,\"cpu_ns_per_call\":%.1f,\"calls_per_s\":%.3f,"
           "\"sink\":%" PRIu64 "}\n",
           n, threads, wall, calls, (double)threads * wall * 1e9 / (double)calls,
           cpu * 1e9 / (double)calls, (double)calls / wall, sink % 10);
    free(rs);
    return 0;
}
