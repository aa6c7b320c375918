/* fib.c - the naive recursive Fibonacci kernel of the Node.js article, made cancellable.
 * Pure: no loop, no allocation; any thread may call it. meson compiles it alone at -O2 with
 * -fno-ipa-pure-const and -falign-functions=64 (src/meson.build says why). */
#include "fib.h"

#include <stdbool.h>


/* Up to this n a subtree runs as the bare recursion, without looking at the cancel flag; above
 * it, each call polls the flag once (a relaxed load). F(30) is 0.7-0.9 ms here (1.5 ms on a slow
 * host), so a cancelled or timed-out computation stops within about a millisecond.
 *
 * Why 30: the check is nearly free (a few calls poll it), but the cut-off decides where the
 * call tree is split into bare subtrees, and that is not free. GCC compiles the bare recursion
 * into nested loops whose cost per call depends on n and its parity (instructions per call of
 * fib_naive, callgrind: n=28 6.89, 29 7.00, 30 6.80, 31 6.99, 32 6.81), so splitting F(30)
 * into F(28)+F(27)+F(28) runs 2.1% more instructions than F(30) whole. Instructions of the
 * split tree against the whole one, by cut-off (callgrind, GCC 12 -O2):
 *   cut 28: F(30) +2.1%, F(31) -0.5%, F(32) +2.0%, F(33) -1.3%, F(34) +0.9%
 *   cut 30: F(30)  0,    F(31) -1.6%, F(32) +0.6%, F(33) -2.6%, F(34) -0.5%
 * Below 28 it is worse still (cut 26: F(30) +5.0%). docs/benchmarks.md, "Kernel". */
#define CHECK_ABOVE_N 30

/* Not static on purpose: GCC 12 inlines a static recursive function into itself several levels
 * deep, spilling registers at every level, and it runs 20-30% slower than this external one,
 * which compiles like the reference (uvfib-fibtime, ref-O2). */
uint64_t fib_naive(unsigned n)
{
    return n < 2 ? n : fib_naive(n - 1) + fib_naive(n - 2);
}

static uint64_t fib_cancellable(unsigned n, const uvfib_work_t *work, bool *stopped)
{
    if (n <= CHECK_ABOVE_N)
        return fib_naive(n);
    if (*stopped || uvfib_work_cancelled(work)) {
        *stopped = true;
        return 0;
    }
    return fib_cancellable(n - 1, work, stopped) + fib_cancellable(n - 2, work, stopped);
}

int fib_compute(unsigned n, const uvfib_work_t *work, uint64_t *out)
{
    if (n > FIB_MAX_N)
        return UV_ERANGE;
    bool stopped = false;
    uint64_t r = work == NULL ? fib_naive(n) : fib_cancellable(n, work, &stopped);
    if (stopped)
        return UV_ECANCELED;
    *out = r;
    return 0;
}
