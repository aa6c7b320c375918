/* fibref.c - the naive recursive Fibonacci of the Node.js article, nothing else: the
 * reference builds uvfib-fibtime compares uvfib's kernel with. meson compiles this file twice,
 * at -O2 and at -O3, naming the function FIBREF_NAME each time. */
#include <stdint.h>

uint64_t FIBREF_NAME(unsigned n);

uint64_t FIBREF_NAME(unsigned n)
{
    return n < 2 ? n : FIBREF_NAME(n - 1) + FIBREF_NAME(n - 2);
}
