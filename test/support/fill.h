/* fill.h - makes a pipe or socket look like one whose reader has stopped reading: writes into
 * it until it takes nothing more, then gives it back its blocking mode. For the tests of a log
 * writer that must never block on such a descriptor. */
#ifndef UVFIB_TEST_FILL_H
#define UVFIB_TEST_FILL_H

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* @return the bytes it took. */
static inline size_t fill_until_full(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    char junk[4096];
    memset(junk, 'x', sizeof(junk));
    size_t filled = 0;
    ssize_t n;
    for (size_t chunk = sizeof(junk); chunk > 0; chunk /= 2)
        while ((n = write(fd, junk, chunk)) > 0)
            filled += (size_t)n;
    fcntl(fd, F_SETFL, flags);
    return filled;
}

#endif /* UVFIB_TEST_FILL_H */
