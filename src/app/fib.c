/* fib.c - the naive recursive Fibonacci kernel of the Node.js article, made cancellable.
 * Pure: no loop, no allocation; any thread may call it. meson compiles it alone at -O2 with
 * -fno-ipa-pure-const and -falign-functions=64 (src/meson.build says why). */
#include "fib.h"

#include <stdbool.h>


/* Below this n a subtree runs as the bare recursion, without looking at the cancel flag; above
 * it, each call polls the flag once (a relaxed load). F(28) is about 0.5 ms here, so a cancelled
 * or timed-out computation stops within a millisecond or so. The cut-off is that high because
 * calling the bare recursion on many small subtrees costs more than on a few large ones (GCC
 * unrolls it into nested loops whose set-up is paid per call): F(30) through leaves of n <= 20
 * ran 14% slower than the bare F(30), n <= 24 7%, n <= 28 0-5% (uvfib-fibtime, interleaved;
 * docs/benchmarks.md, "Kernel"). */
#define CHECK_ABOVE_N 28

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
