/* fibtime.c - uvfib-fibtime: times the Fibonacci kernel alone, outside any server, for
 * scripts/bench. The physical limit of /fibonacci/N throughput is cores / (time per call) of
 * the fastest build of the same recursion, so it times three:
 *   uvfib          fib_compute() as the server runs it (a cancel flag polled above n = 30)
 *   uvfib-nocheck  fib_compute() with no flag: the same build without the check, its cost
 *   ref-O2         the bare recursion compiled at -O2      ref-O3  the same at -O3
 *
 *   uvfib-fibtime N SECONDS THREADS [VARIANT]...
 *
 * For each variant (all four by default) THREADS threads call it in a loop for SECONDS in
 * all, in slices of at most 0.25 s that take turns with the other variants' slices, so that a
 * change in what the rest of the machine does falls on every variant alike. Then one JSON
 * line per variant is printed: {"variant":V,"n":N,"threads":T,"seconds":S,"calls":C,
 * "calls_per_s":R,"cpu_ns_per_call":Z,"growth":G,"sink":D}. cpu_ns_per_call is the threads'
 * own CPU time per call (what a core spends, whatever else the machine runs); growth is the
 * time of F(N) over the time of F(N-2) on one thread, which is phi^2 = 2.618 for the naive
 * call tree (a build that merged repeated calls would grow more slowly); sink is a digit of
 * the results, printed so that no call can be optimised away. Exit 2 on bad arguments. */
#include <inttypes.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fib.h"
#include "pool.h" /* struct uvfib_work_s: the cancel flag the server's kernel polls */

uint64_t fibref_o2(unsigned n);
uint64_t fibref_o3(unsigned n);

static uvfib_work_t never_cancelled; /* zeroed: a flag nobody raises */

static uint64_t call_uvfib(unsigned n)
{
    uint64_t out = 0;
    fib_compute(n, &never_cancelled, &out);
    return out;
}

static uint64_t call_uvfib_nocheck(unsigned n)
{
    uint64_t out = 0;
    fib_compute(n, NULL, &out);
    return out;
}

static const struct variant {
    const char *name;
    uint64_t (*fn)(unsigned n);
} variants[] = {
    {"uvfib", call_uvfib},
    {"uvfib-nocheck", call_uvfib_nocheck},
    {"ref-O2", fibref_o2},
    {"ref-O3", fibref_o3},
};
#define N_VARIANTS (sizeof(variants) / sizeof(variants[0]))

struct runner {
    pthread_t tid;                /* at most 256 (THREADS) per slice */
    const struct variant *v;
    unsigned n;
    double seconds;
    uint64_t calls;
    uint64_t sink;
    double cpu_s;                 /* this thread's CPU time over its loop */
};

static double now_s(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static atomic_int go;

static void *run(void *arg)
{
    struct runner *r = arg;
    volatile unsigned n = r->n; /* so the compiler cannot fold the calls */
    while (!atomic_load(&go))
        ;
    double end = now_s(CLOCK_MONOTONIC) + r->seconds;
    double cpu0 = now_s(CLOCK_THREAD_CPUTIME_ID);
    do {
        r->sink += r->v->fn(n);
        r->calls++;
    } while (now_s(CLOCK_MONOTONIC) < end);
    r->cpu_s = now_s(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    return NULL;
}

/* CPU seconds per call of v at n on this thread, over at least min_s. */
static double cpu_per_call(const struct variant *v, unsigned n, double min_s)
{
    volatile unsigned vn = n;
    uint64_t calls = 0, sink = 0;
    double t0 = now_s(CLOCK_THREAD_CPUTIME_ID), t;
    do {
        sink += v->fn(vn);
        calls++;
        t = now_s(CLOCK_THREAD_CPUTIME_ID) - t0;
    } while (t < min_s);
    if (sink == 1)
        puts("");
    return t / (double)calls;
}

/* What one variant has run so far, over all its slices. */
struct tally {
    uint64_t calls, sink;
    double wall_s, cpu_s;
};

/* One slice: threads threads call v for seconds. @return 0, or 1 if a thread did not start. */
static int run_slice(const struct variant *v, unsigned n, double seconds, int threads,
                     struct tally *t)
{
    struct runner rs[256];
    atomic_store(&go, 0);
    for (int i = 0; i < threads; i++) {
        rs[i] = (struct runner){.v = v, .n = n, .seconds = seconds};
        if (pthread_create(&rs[i].tid, NULL, run, &rs[i]) != 0) {
            perror("uvfib-fibtime: pthread_create");
            return 1;
        }
    }
    double t0 = now_s(CLOCK_MONOTONIC);
    atomic_store(&go, 1);
    for (int i = 0; i < threads; i++) {
        pthread_join(rs[i].tid, NULL);
        t->calls += rs[i].calls;
        t->sink += rs[i].sink;
        t->cpu_s += rs[i].cpu_s;
    }
    t->wall_s += now_s(CLOCK_MONOTONIC) - t0;
    return 0;
}

static void print_tally(const struct variant *v, unsigned n, int threads, const struct tally *t)
{
    double growth = cpu_per_call(v, n, 0.2) / cpu_per_call(v, n - 2, 0.2);
    printf("{\"variant\":\"%s\",\"n\":%u,\"threads\":%d,\"seconds\":%.3f,\"calls\":%" PRIu64
           ",\"calls_per_s\":%.3f,\"ns_per_call\":%.1f,\"cpu_ns_per_call\":%.1f,\"growth\":%.3f"
           ",\"sink\":%" PRIu64 "}\n",
           v->name, n, threads, t->wall_s, t->calls, (double)t->calls / t->wall_s,
           (double)threads * t->wall_s * 1e9 / (double)t->calls, t->cpu_s * 1e9 / (double)t->calls,
           growth, t->sink % 10);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s N SECONDS THREADS [uvfib|uvfib-nocheck|ref-O2|ref-O3]...\n", argv[0]);
        return 2;
    }
    char *end;
    unsigned long n = strtoul(argv[1], &end, 10);
    double seconds = strtod(argv[2], NULL);
    int threads = atoi(argv[3]);
    if (*end != '\0' || n < 2 || n > 45 || !(seconds > 0 && seconds <= 600) || threads < 1 ||
        threads > 256) {
        fprintf(stderr, "%s: N 2-45, 0 < SECONDS <= 600, THREADS 1-256\n", argv[0]);
        return 2;
    }
    for (int a = 4; a < argc; a++) {
        bool known = false;
        for (size_t i = 0; i < N_VARIANTS; i++)
            known |= strcmp(argv[a], variants[i].name) == 0;
        if (!known) {
            fprintf(stderr, "%s: unknown variant '%s'\n", argv[0], argv[a]);
            return 2;
        }
    }
    bool wanted[N_VARIANTS];
    for (size_t i = 0; i < N_VARIANTS; i++) {
        wanted[i] = argc == 4;
        for (int a = 4; a < argc; a++)
            wanted[i] |= strcmp(argv[a], variants[i].name) == 0;
    }
    struct tally tallies[N_VARIANTS] = {{0}};
    unsigned slices = (unsigned)(seconds / 0.25);
    slices = slices > 0 ? slices : 1;
    for (unsigned k = 0; k < slices; k++)
        for (size_t i = 0; i < N_VARIANTS; i++)
            if (wanted[i] &&
                run_slice(&variants[i], (unsigned)n, seconds / slices, threads, &tallies[i]) != 0)
                return 1;
    for (size_t i = 0; i < N_VARIANTS; i++)
        if (wanted[i])
            print_tally(&variants[i], (unsigned)n, threads, &tallies[i]);
    return 0;
}
