/* alloc.c - the library's allocator: malloc with a live-allocation counter and
 * a fault injector, so tests can prove nothing leaks and that out-of-memory
 * is handled. It is not a pool and does not cache anything. */
#include "alloc.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static atomic_long live;       /* allocations not yet freed, all threads */
static atomic_long fail_after; /* tests: the n-th allocation from now fails */

static bool should_fail(void)
{
    long n = atomic_load_explicit(&fail_after, memory_order_relaxed);
    if (n <= 0)
        return false;
    /* Exactly one caller sees the counter go from 1 to 0. */
    return atomic_fetch_sub(&fail_after, 1) == 1;
}

void *uvfib__malloc(size_t size)
{
    if (should_fail())
        return NULL;
    void *p = malloc(size);
    if (p != NULL)
        atomic_fetch_add_explicit(&live, 1, memory_order_relaxed);
    return p;
}

/* Up to this many bytes, calloc is malloc and memset: glibc's calloc bypasses the per-thread
 * cache (tcache) that malloc and free use, so a chunk the size of a request came from the
 * arena on every calloc and, freed into a full cache bin, merged back into the top chunk,
 * triggering malloc_consolidate: about 400 instructions per request, where malloc from the
 * cache and memset cost a few dozen. Larger blocks keep calloc, which may get pre-zeroed
 * pages from the kernel. */
#define SMALL_CALLOC 1024

void *uvfib__calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    void *p;
    if (size != 0 && n <= SMALL_CALLOC / size) {
        p = malloc(n * size);
#if defined(__GNUC__) || defined(__clang__)
        /* GCC turns malloc then memset(0) back into calloc; the empty asm stops it. */
        __asm__ volatile("" : : "r"(p) : "memory");
#endif
        if (p != NULL)
            memset(p, 0, n * size);
    } else {
        p = calloc(n, size);
    }
    if (p != NULL)
        atomic_fetch_add_explicit(&live, 1, memory_order_relaxed);
    return p;
}

void *uvfib__realloc(void *ptr, size_t size)
{
    if (ptr == NULL)
        return uvfib__malloc(size);
    if (should_fail())
        return NULL;
    return realloc(ptr, size);
}

void uvfib__free(void *ptr)
{
    if (ptr == NULL)
        return;
    atomic_fetch_sub_explicit(&live, 1, memory_order_relaxed);
    free(ptr);
}

char *uvfib__strndup(const char *s, size_t len)
{
    char *p = uvfib__malloc(len + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

long uvfib__alloc_live(void)
{
    return atomic_load(&live);
}

void uvfib__alloc_fail_after(long n)
{
    atomic_store(&fail_after, n);
}
