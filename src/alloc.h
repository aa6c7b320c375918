/* alloc.h - the library's allocator (alloc.c): every allocation goes through these, so tests
 * can count live allocations and make a chosen one fail. Pure: no loop. Any thread. */
#ifndef UVFIB_ALLOC_H
#define UVFIB_ALLOC_H

#include <stddef.h>

void *uvfib__malloc(size_t size);
void *uvfib__calloc(size_t n, size_t size);
void *uvfib__realloc(void *ptr, size_t size);
void uvfib__free(void *ptr);
char *uvfib__strndup(const char *s, size_t len);
/* Allocations made and not yet freed, all threads together. */
long uvfib__alloc_live(void);
/* Tests only: the n-th allocation from now fails (0: none). */
void uvfib__alloc_fail_after(long n);

#endif /* UVFIB_ALLOC_H */
