/* test_systemd.c - unit tests of src/app/systemd.c: $LISTEN_PID/$LISTEN_FDS parsing and what
 * sd_listen_fds(1) does to the environment and the descriptors, $NOTIFY_SOCKET addresses
 * (paths and abstract names), and notifications sent to a real datagram socket, including
 * one whose receiver is full (it must fail at once, not block). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "systemd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------ LISTEN_FDS parsing */

static void test_listen_fds_absent_is_zero(void **state)
{
    (void)state;
    assert_int_equal(systemd_listen_fds_parse(NULL, NULL, 42), 0);
    assert_int_equal(systemd_listen_fds_parse("42", NULL, 42), 0);
    assert_int_equal(systemd_listen_fds_parse(NULL, "1", 42), 0);
}

static void test_listen_fds_for_this_pid_are_counted(void **state)
{
    (void)state;
    assert_int_equal(systemd_listen_fds_parse("42", "1", 42), 1);
    assert_int_equal(systemd_listen_fds_parse("42", "3", 42), 3);
    assert_int_equal(systemd_listen_fds_parse("42", "0", 42), 0);
}

static void test_listen_fds_of_another_pid_are_ignored(void **state)
{
    (void)state;
    /* Inherited from a parent that systemd started: not ours, even if LISTEN_FDS is bad. */
    assert_int_equal(systemd_listen_fds_parse("41", "1", 42), 0);
    assert_int_equal(systemd_listen_fds_parse("41", "x", 42), 0);
}

static void test_malformed_listen_variables_are_einval(void **state)
{
    (void)state;
    static const char *const bad[] = {"", "x", "-1", "+1", " 1", "1 ", "1x", "0x1",
                                      "99999999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(systemd_listen_fds_parse(bad[i], "1", 42), -EINVAL);
        assert_int_equal(systemd_listen_fds_parse("42", bad[i], 42), -EINVAL);
    }
    assert_int_equal(systemd_listen_fds_parse("0", "1", 42), -EINVAL);
    assert_int_equal(systemd_listen_fds_parse("42", "65537", 42), -EINVAL);
}

/* ------------------------------------------------------ sd_listen_fds(1) */

/* Puts a socket at descriptor 3, as systemd would, keeping whatever the test runner had
 * there at *saved (-1: nothing). */
static void put_socket_at_3(int *saved)
{
    *saved = fcntl(SYSTEMD_LISTEN_FDS_START, F_GETFD) >= 0
                 ? fcntl(SYSTEMD_LISTEN_FDS_START, F_DUPFD_CLOEXEC, 10)
                 : -1;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s >= 0);
    if (s != SYSTEMD_LISTEN_FDS_START) {
        assert_int_equal(dup2(s, SYSTEMD_LISTEN_FDS_START), SYSTEMD_LISTEN_FDS_START);
        close(s);
    }
}

static void restore_3(int saved)
{
    if (saved >= 0) {
        dup2(saved, SYSTEMD_LISTEN_FDS_START);
        close(saved);
    } else {
        close(SYSTEMD_LISTEN_FDS_START);
    }
}

static void set_listen_env(const char *pid, const char *fds)
{
    char own[32];
    snprintf(own, sizeof(own), "%ld", (long)getpid());
    assert_int_equal(setenv("LISTEN_PID", pid != NULL ? pid : own, 1), 0);
    assert_int_equal(setenv("LISTEN_FDS", fds, 1), 0);
    assert_int_equal(setenv("LISTEN_FDNAMES", "uvfib", 1), 0);
}

static void assert_listen_env_unset(void)
{
    assert_null(getenv("LISTEN_PID"));
    assert_null(getenv("LISTEN_FDS"));
    assert_null(getenv("LISTEN_FDNAMES"));
}

static void test_listen_fds_takes_fd_3_unsets_env_and_sets_cloexec(void **state)
{
    (void)state;
    int saved;
    put_socket_at_3(&saved);
    assert_int_equal(fcntl(SYSTEMD_LISTEN_FDS_START, F_GETFD) & FD_CLOEXEC, 0);
    set_listen_env(NULL, "1");
    assert_int_equal(systemd_listen_fds(), 1);
    assert_listen_env_unset();
    assert_int_equal(fcntl(SYSTEMD_LISTEN_FDS_START, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    /* A second call finds nothing: the variables are gone. */
    assert_int_equal(systemd_listen_fds(), 0);
    restore_3(saved);
}

static void test_listen_fds_unsets_env_even_when_not_ours_or_malformed(void **state)
{
    (void)state;
    set_listen_env("1", "1");
    assert_int_equal(systemd_listen_fds(), 0);
    assert_listen_env_unset();
    set_listen_env(NULL, "one");
    assert_int_equal(systemd_listen_fds(), -EINVAL);
    assert_listen_env_unset();
}

static void test_listen_fds_of_a_closed_descriptor_is_ebadf(void **state)
{
    (void)state;
    int saved;
    put_socket_at_3(&saved);
    close(SYSTEMD_LISTEN_FDS_START);
    set_listen_env(NULL, "1");
    assert_int_equal(systemd_listen_fds(), -EBADF);
    assert_listen_env_unset();
    if (saved >= 0) {
        dup2(saved, SYSTEMD_LISTEN_FDS_START);
        close(saved);
    }
}

/* ------------------------------------------------------ NOTIFY_SOCKET */

static void test_notify_address_of_a_path(void **state)
{
    (void)state;
    struct sockaddr_un a;
    socklen_t len;
    assert_int_equal(systemd_notify_address("/run/systemd/notify", &a, &len), 0);
    assert_int_equal(a.sun_family, AF_UNIX);
    assert_string_equal(a.sun_path, "/run/systemd/notify");
    /* As systemd counts it: the path and its NUL. */
    assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + strlen("/run/systemd/notify") + 1);
}

static void test_notify_address_of_an_abstract_name(void **state)
{
    (void)state;
    struct sockaddr_un a;
    socklen_t len;
    assert_int_equal(systemd_notify_address("@uvfib/notify", &a, &len), 0);
    assert_int_equal(a.sun_path[0], '\0');
    assert_memory_equal(a.sun_path + 1, "uvfib/notify", strlen("uvfib/notify"));
    /* The length ends the name: no NUL is part of it. */
    assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + strlen("@uvfib/notify"));

    /* With no NUL to keep room for, a name may fill sun_path whole, and not one byte more. */
    char longest[sizeof(a.sun_path) + 2];
    memset(longest, 'x', sizeof(longest));
    longest[0] = '@';
    longest[sizeof(a.sun_path)] = '\0';
    assert_int_equal(systemd_notify_address(longest, &a, &len), 0);
    assert_int_equal(len, sizeof(struct sockaddr_un));
    longest[sizeof(a.sun_path)] = 'x';
    longest[sizeof(a.sun_path) + 1] = '\0';
    assert_int_equal(systemd_notify_address(longest, &a, &len), -EINVAL);
}

static void test_bad_notify_addresses_are_refused(void **state)
{
    (void)state;
    struct sockaddr_un a;
    socklen_t len;
    char too_long[sizeof(a.sun_path) + 2];
    memset(too_long, 'x', sizeof(too_long) - 1);
    too_long[0] = '/';
    too_long[sizeof(too_long) - 1] = '\0';
    assert_int_equal(systemd_notify_address(NULL, &a, &len), -EINVAL);
    assert_int_equal(systemd_notify_address("", &a, &len), -EINVAL);
    assert_int_equal(systemd_notify_address("run/notify", &a, &len), -EINVAL);
    assert_int_equal(systemd_notify_address("@", &a, &len), -EINVAL);
    assert_int_equal(systemd_notify_address(too_long, &a, &len), -EINVAL);
    assert_int_equal(systemd_notify_address("vsock:2:1234", &a, &len), -EAFNOSUPPORT);
}

/* A datagram socket bound at a fresh path (or abstract name when `abstract`); its address as
 * $NOTIFY_SOCKET would say it goes to value[cap]. */
static int receiver(bool abstract, char *value, size_t cap)
{
    static unsigned seq;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    snprintf(value, cap, "%s/uvfib-test-notify-%ld-%u", abstract ? "@" : "/tmp", (long)getpid(),
             seq++);
    struct sockaddr_un a;
    socklen_t len;
    assert_int_equal(systemd_notify_address(value, &a, &len), 0);
    if (!abstract)
        unlink(value);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, len), 0);
    return fd;
}

static void assert_received(int fd, const char *want)
{
    char buf[512];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
    assert_true(n >= 0);
    buf[n] = '\0';
    assert_string_equal(buf, want);
}

static void test_notify_sends_one_datagram_to_a_path(void **state)
{
    (void)state;
    char value[108];
    int fd = receiver(false, value, sizeof(value));
    assert_int_equal(systemd_notify(value, "READY=1\nSTATUS=serving"), 1);
    assert_received(fd, "READY=1\nSTATUS=serving");
    assert_int_equal(systemd_notify(value, "STOPPING=1"), 1);
    assert_received(fd, "STOPPING=1");
    close(fd);
    unlink(value);
}

static void test_notify_sends_to_an_abstract_socket(void **state)
{
    (void)state;
    char value[108];
    int fd = receiver(true, value, sizeof(value));
    assert_int_equal(systemd_notify(value, "READY=1"), 1);
    assert_received(fd, "READY=1");
    close(fd);
}

static void test_notify_without_socket_does_nothing(void **state)
{
    (void)state;
    assert_int_equal(systemd_notify(NULL, "READY=1"), 0);
}

static void test_notify_to_nobody_fails(void **state)
{
    (void)state;
    assert_int_equal(systemd_notify("/nonexistent/uvfib-notify", "READY=1"), -ENOENT);
    char value[108];
    int fd = receiver(false, value, sizeof(value));
    close(fd); /* the path stays, nobody listens */
    assert_int_equal(systemd_notify(value, "READY=1"), -ECONNREFUSED);
    unlink(value);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_notify_to_a_full_receiver_fails_at_once(void **state)
{
    (void)state;
    char value[108];
    int fd = receiver(false, value, sizeof(value));
    /* Fill its queue (net.unix.max_dgram_qlen datagrams, or its buffer) without reading. */
    int sent = 0, rc;
    while ((rc = systemd_notify(value, "STATUS=filling")) == 1)
        assert_true(++sent < 1000000);
    assert_int_equal(rc, -EAGAIN);
    double start = now_s();
    assert_int_equal(systemd_notify(value, "STOPPING=1"), -EAGAIN);
    assert_true(now_s() - start < 0.5);
    close(fd);
    unlink(value);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen_fds_absent_is_zero),
        cmocka_unit_test(test_listen_fds_for_this_pid_are_counted),
        cmocka_unit_test(test_listen_fds_of_another_pid_are_ignored),
        cmocka_unit_test(test_malformed_listen_variables_are_einval),
        cmocka_unit_test(test_listen_fds_takes_fd_3_unsets_env_and_sets_cloexec),
        cmocka_unit_test(test_listen_fds_unsets_env_even_when_not_ours_or_malformed),
        cmocka_unit_test(test_listen_fds_of_a_closed_descriptor_is_ebadf),
        cmocka_unit_test(test_notify_address_of_a_path),
        cmocka_unit_test(test_notify_address_of_an_abstract_name),
        cmocka_unit_test(test_bad_notify_addresses_are_refused),
        cmocka_unit_test(test_notify_sends_one_datagram_to_a_path),
        cmocka_unit_test(test_notify_sends_to_an_abstract_socket),
        cmocka_unit_test(test_notify_without_socket_does_nothing),
        cmocka_unit_test(test_notify_to_nobody_fails),
        cmocka_unit_test(test_notify_to_a_full_receiver_fails_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
