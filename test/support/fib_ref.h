/* fib_ref.h - the tests' reference Fibonacci: by iteration, exact up to n = 93
 * (the last to fit in 64 bits), to check the naive recursive kernel against. */
#ifndef UVFIB_TEST_FIB_REF_H
#define UVFIB_TEST_FIB_REF_H

#include <stdint.h>

static inline uint64_t fib_ref(unsigned n)
{
    uint64_t a = 0, b = 1;
    for (unsigned i = 0; i < n; i++) {
        uint64_t next = a + b;
        a = b;
        b = next;
    }
    return a;
}

#endif
