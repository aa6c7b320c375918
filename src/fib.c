/* fib.c - the naive recursive Fibonacci kernel of the Node.js article, made
 * cancellable, plus the exact decimal parsing and printing of its numbers.
 * Pure: no loop, no allocation; any thread may call it. */
#include "internal.h"

#include <string.h>

/* Below this n a subtree is small (F(24) ~ 75k calls, well under a
 * millisecond), so it runs without looking at the cancel flag. Above it, each
 * call polls the flag once: a relaxed load, rare next to the work under it. */
#define CHECK_ABOVE_N 24

/* The bare recursion. Not static on purpose: GCC 12 inlines a static recursive function into
 * itself several levels deep, spilling registers at every level, and it runs 20-30% slower
 * than this external one, which compiles like the reference (uvfib-fibtime, ref-O2). */
uint64_t uvfib__fib_naive(unsigned n);

uint64_t uvfib__fib_naive(unsigned n)
{
    return n < 2 ? n : uvfib__fib_naive(n - 1) + uvfib__fib_naive(n - 2);
}

static uint64_t fib_cancellable(unsigned n, const uvfib_work_t *work, bool *stopped)
{
    if (n <= CHECK_ABOVE_N)
        return uvfib__fib_naive(n);
    if (*stopped || uvfib_work_cancelled(work)) {
        *stopped = true;
        return 0;
    }
    return fib_cancellable(n - 1, work, stopped) + fib_cancellable(n - 2, work, stopped);
}

int uvfib_fib(unsigned n, const uvfib_work_t *work, uint64_t *out)
{
    if (n > UVFIB_FIB_MAX_N)
        return UV_ERANGE;
    bool stopped = false;
    uint64_t r = work == NULL ? uvfib__fib_naive(n) : fib_cancellable(n, work, &stopped);
    if (stopped)
        return UV_ECANCELED;
    *out = r;
    return 0;
}

int uvfib__parse_u64(const char *s, uint64_t *out)
{
    size_t len = s == NULL ? 0 : strlen(s);
    if (len == 0 || len > 20)
        return len == 0 ? UV_EINVAL : (strspn(s, "0123456789") == len ? UV_ERANGE : UV_EINVAL);
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return UV_EINVAL;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return UV_ERANGE;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

size_t uvfib__u64_to_dec(uint64_t v, char *buf)
{
    char tmp[21];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
    return n;
}
