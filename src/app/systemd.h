/* systemd.h - the two systemd protocols the executable speaks, without libsystemd: socket
 * activation ($LISTEN_FDS, $LISTEN_PID; sd_listen_fds(3)) and readiness notification
 * ($NOTIFY_SOCKET; sd_notify(3)). Each is a pure parser the tests call, and one small call
 * that touches the process. Process-wide by nature, so the executable's, never the library's. */
#ifndef FIBAPP_SYSTEMD_H
#define FIBAPP_SYSTEMD_H

#include <sys/socket.h>
#include <sys/un.h>

/* The first descriptor systemd passes; the next ones follow it. */
#define SYSTEMD_LISTEN_FDS_START 3

/* How many descriptors systemd passed, from the values of $LISTEN_PID and $LISTEN_FDS (each
 * may be NULL) and this process's pid. Pure.
 * @return 0 when they are absent or meant for another process (LISTEN_PID is not `pid`: they
 * were inherited from a parent), n >= 1 for descriptors 3 .. 3 + n - 1, or -EINVAL when
 * either is not a plain decimal number. */
int systemd_listen_fds_parse(const char *listen_pid, const char *listen_fds, long pid);

/* sd_listen_fds(1): parses this process's $LISTEN_PID and $LISTEN_FDS, unsets them and
 * $LISTEN_FDNAMES whatever they held (so that nothing started later takes the sockets for
 * its own), and marks the passed descriptors close-on-exec. It changes the environment: call
 * it before any thread starts. @return as systemd_listen_fds_parse(), or -EBADF when a passed
 * descriptor is not open. */
int systemd_listen_fds(void);

/* The address a $NOTIFY_SOCKET value names: an absolute path, or "@name" for a socket in the
 * abstract namespace. Pure. @return 0 with *addr and *len filled, -EINVAL (NULL, empty,
 * relative, too long), or -EAFNOSUPPORT (another scheme, such as "vsock:"). */
int systemd_notify_address(const char *value, struct sockaddr_un *addr, socklen_t *len);

/* sd_notify(0, state): sends `state` ("READY=1\nSTATUS=...") as one datagram to the socket the
 * $NOTIFY_SOCKET value `notify_socket` names, from a socket of its own that never blocks (a
 * full receiver makes it fail with -EAGAIN rather than wait). Any thread.
 * @return 1 sent, 0 when notify_socket is NULL (not under systemd: nothing to do), or a
 * negative errno. */
int systemd_notify(const char *notify_socket, const char *state);

#endif /* FIBAPP_SYSTEMD_H */
