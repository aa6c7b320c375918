/* notice.c - see notice.h. */
#include "notice.h"

#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int out_fd = STDERR_FILENO;
static bool out_socket; /* stderr is a socket (systemd's journal): send(MSG_DONTWAIT) */
static bool out_owned;  /* out_fd was opened here */

int notice_open(void)
{
    struct stat st;
    if (fstat(STDERR_FILENO, &st) < 0)
        return out_fd;
    out_socket = S_ISSOCK(st.st_mode);
    if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
        /* Opening the /proc link makes a new open file description of the same pipe or
         * terminal, whose flags are ours alone. */
        int fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd >= 0) {
            out_fd = fd;
            out_owned = true;
        }
    }
    return out_fd;
}

void notice_close(void)
{
    if (out_owned)
        close(out_fd);
    out_fd = STDERR_FILENO;
    out_owned = false;
}

void notice(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof(line) - 2 ? (size_t)n : sizeof(line) - 2;
    line[len++] = '\n';
    if (out_socket) {
        (void)!send(out_fd, line, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        return;
    }
    /* Without a descriptor of our own, stderr may be in blocking mode: write only when poll(2)
     * says there is room (a pipe with room takes up to PIPE_BUF bytes at once). */
    struct pollfd p = {.fd = out_fd, .events = POLLOUT};
    if (out_owned || poll(&p, 1, 0) == 1)
        (void)!write(out_fd, line, len);
}
