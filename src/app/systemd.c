/* systemd.c - see systemd.h. The protocols as systemd documents them: sd_listen_fds(3) and
 * sd_notify(3) ("the notification ... is sent as a datagram to the AF_UNIX socket"). */
#include "systemd.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "decimal.h"

/* ------------------------------------------------------ socket activation */

int systemd_listen_fds_parse(const char *listen_pid, const char *listen_fds, long pid)
{
    if (listen_pid == NULL || listen_fds == NULL)
        return 0;
    uint64_t for_pid, n;
    if (decimal_parse_u64(listen_pid, &for_pid) != 0 || for_pid == 0)
        return -EINVAL;
    if (for_pid != (uint64_t)pid)
        return 0; /* a parent's: systemd started someone else, who started us */
    /* Descriptors from 3 up must stay below INT_MAX; a few thousand is already absurd. */
    if (decimal_parse_u64(listen_fds, &n) != 0 || n > 65536)
        return -EINVAL;
    return (int)n;
}

int systemd_listen_fds(void)
{
    int n = systemd_listen_fds_parse(getenv("LISTEN_PID"), getenv("LISTEN_FDS"), (long)getpid());
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    for (int fd = SYSTEMD_LISTEN_FDS_START; fd < SYSTEMD_LISTEN_FDS_START + n; fd++) {
        int flags = fcntl(fd, F_GETFD);
        if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
            return -errno;
    }
    return n;
}

/* ------------------------------------------------------ notification */

int systemd_notify_address(const char *value, struct sockaddr_un *addr, socklen_t *len)
{
    if (value == NULL || value[0] == '\0')
        return -EINVAL;
    if (value[0] != '/' && value[0] != '@')
        return strchr(value, ':') != NULL ? -EAFNOSUPPORT : -EINVAL;
    size_t n = strlen(value);
    /* A path needs room for its NUL; an abstract name has none, so it may fill sun_path. */
    if (n < 2 || n > sizeof(addr->sun_path) - (value[0] == '/'))
        return -EINVAL;
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    memcpy(addr->sun_path, value, n);
    if (value[0] == '@') {
        /* Abstract: a leading NUL, and the length says where the name ends (no NUL after). */
        addr->sun_path[0] = '\0';
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    return 0;
}

int systemd_notify(const char *notify_socket, const char *state)
{
    if (notify_socket == NULL)
        return 0;
    struct sockaddr_un addr;
    socklen_t len;
    int err = systemd_notify_address(notify_socket, &addr, &len);
    if (err < 0)
        return err;
    /* Never blocking: this runs on the event loop. A receiver that does not read is its own
     * problem; MSG_NOSIGNAL in case the receiving end is gone. */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    size_t size = strlen(state);
    ssize_t sent = sendto(fd, state, size, MSG_NOSIGNAL | MSG_DONTWAIT,
                          (const struct sockaddr *)&addr, len);
    err = sent < 0 ? -errno : (size_t)sent == size ? 1 : -EMSGSIZE;
    close(fd);
    return err;
}
