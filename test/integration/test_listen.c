/* test_listen.c - where a server listens and how it leaves rotation, through the public API
 * over real sockets: cfg.reuseport (two servers share one port, both get connections),
 * uvfib_server_listen_fd() (a passed socket is served, keeps its backlog, stays the caller's;
 * anything but a bound TCP socket is refused), uvfib_server_sockname(), and
 * uvfib_server_unready() (readiness says why, while everything is still served). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "harness.h"
#include "alloc.h"

#define T_MS 10000 /* generous: sanitizers and valgrind are slow */

static uvfib_config_t config(void)
{
    uvfib_config_t cfg;
    uvfib_config_init(&cfg);
    cfg.threads = 1;
    return cfg;
}

static void stop_and_check(struct harness *h)
{
    harness_stop(h);
    assert_int_equal(h->loop_close_rc, 0);
    assert_true(h->closed);
}

/* The default routes, plus /metrics and /readyz. */
static void ops_setup(uvfib_server_t *server)
{
    harness_default_routes(server);
    assert_int_equal(uvfib_metrics_routes_add(server), 0);
}

/* A server on a loop of the test thread's own, for calls that need no running loop. */
struct local {
    uv_loop_t loop;
    uvfib_server_t server;
};

static void local_init(struct local *l, const uvfib_config_t *cfg)
{
    assert_int_equal(uv_loop_init(&l->loop), 0);
    assert_int_equal(uvfib_server_init(&l->loop, &l->server, cfg), 0);
}

static void local_close(struct local *l)
{
    assert_int_equal(uvfib_server_close(&l->server, NULL), 0);
    uv_run(&l->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&l->loop), 0);
}

/* A TCP socket on 127.0.0.1, an ephemeral port; listening with `backlog` unless it is 0. */
static int tcp_socket(int backlog)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    if (backlog > 0)
        assert_int_equal(listen(fd, backlog), 0);
    return fd;
}

static int port_of(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

/* What the kernel holds as a listener's backlog (Linux: tcpi_sacked of a LISTEN socket). */
static unsigned backlog_of(int fd)
{
    struct tcp_info info;
    socklen_t len = sizeof(info);
    assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len), 0);
    return info.tcpi_sacked;
}

static void assert_healthz(int port)
{
    int fd = client_connect(port);
    assert_true(fd >= 0);
    struct response r;
    assert_int_equal(client_get(fd, "/healthz", &r, T_MS), 0);
    assert_int_equal(r.status, 200);
    close(fd);
}

/* ------------------------------------------------------------------ reuseport */

static void test_reuseport_servers_share_a_port_and_both_get_connections(void **state)
{
    long live = uvfib__alloc_live();
    uvfib_config_t cfg = config();
    cfg.reuseport = 1;
    cfg.port = 0;
    struct harness a, b;
    assert_int_equal(harness_start(&a, &cfg, NULL), 0);
    cfg.port = a.port;
    assert_int_equal(harness_start(&b, &cfg, NULL), 0);
    assert_int_equal(b.port, a.port);

    /* Without the option the port is taken, as always. */
    struct local l;
    uvfib_config_t plain = config();
    plain.port = a.port;
    local_init(&l, &plain);
    assert_int_equal(uvfib_server_listen(&l.server), UV_EADDRINUSE);
    local_close(&l);

    /* The kernel spreads new connections by a hash of the address pair: each client port is a
     * coin toss, so both have some within a few connections (all of 200 on one: 2^-199). */
    uvfib_stats_t sa = {0}, sb = {0};
    for (int i = 0; i < 200 && (sa.connections_total == 0 || sb.connections_total == 0); i++) {
        assert_healthz(a.port);
        harness_stats(&a, &sa);
        harness_stats(&b, &sb);
    }
    assert_true(sa.connections_total > 0);
    assert_true(sb.connections_total > 0);
    stop_and_check(&a);
    stop_and_check(&b);
    assert_int_equal(uvfib__alloc_live(), live);
}

/* ------------------------------------------------------------------ passed sockets */

static void test_listen_fd_serves_a_listening_socket_and_keeps_its_backlog(void **state)
{
    long live = uvfib__alloc_live();
    int fd = tcp_socket(1000); /* as systemd's Backlog=, not cfg.backlog (511) */
    unsigned backlog = backlog_of(fd);
    uvfib_config_t cfg = config();
    cfg.port = 1; /* never bound: the passed socket is served instead */
    struct harness h;
    assert_int_equal(harness_start_fd(&h, &cfg, NULL, fd), 0);
    assert_int_equal(h.port, port_of(fd));
    assert_int_equal(backlog_of(fd), backlog);
    assert_healthz(h.port);
    stop_and_check(&h);
    /* The server closed its duplicate; the caller's descriptor is still the caller's. */
    assert_true(fcntl(fd, F_GETFD) >= 0);
    assert_int_equal(port_of(fd), h.port);
    close(fd);
    assert_int_equal(uvfib__alloc_live(), live);
}

static void test_listen_fd_listens_on_a_bound_socket_with_the_config_backlog(void **state)
{
    int fd = tcp_socket(0);
    uvfib_config_t cfg = config();
    cfg.backlog = 77;
    struct harness h;
    assert_int_equal(harness_start_fd(&h, &cfg, NULL, fd), 0);
    close(fd); /* the caller may close its copy at once */
    assert_healthz(h.port);
    stop_and_check(&h);
}

static void test_sockname_reports_the_passed_sockets_address(void **state)
{
    struct local l;
    uvfib_config_t cfg = config();
    cfg.host = "::1"; /* unused: the socket is IPv4 */
    local_init(&l, &cfg);
    struct sockaddr_storage addr;
    assert_int_equal(uvfib_server_sockname(&l.server, &addr), UV_EBADF);
    int fd = tcp_socket(16);
    assert_int_equal(uvfib_server_listen_fd(&l.server, fd), 0);
    assert_int_equal(uvfib_server_sockname(&l.server, &addr), 0);
    assert_int_equal(addr.ss_family, AF_INET);
    const struct sockaddr_in *in = (const struct sockaddr_in *)&addr;
    assert_int_equal(ntohl(in->sin_addr.s_addr), INADDR_LOOPBACK);
    assert_int_equal(ntohs(in->sin_port), port_of(fd));
    assert_int_equal(uvfib_server_port(&l.server), port_of(fd));
    /* Listening already: a second socket, or a bind, is refused. */
    int other = tcp_socket(16);
    assert_int_equal(uvfib_server_listen_fd(&l.server, other), UV_EBUSY);
    assert_int_equal(uvfib_server_listen(&l.server), UV_EBUSY);
    close(other);
    close(fd);
    local_close(&l);
}

/* fd must be refused with UV_EINVAL, and stay open if it was. */
static void assert_refused(int fd)
{
    long live = uvfib__alloc_live();
    struct local l;
    uvfib_config_t cfg = config();
    local_init(&l, &cfg);
    assert_int_equal(uvfib_server_listen_fd(&l.server, fd), UV_EINVAL);
    local_close(&l);
    assert_int_equal(uvfib__alloc_live(), live);
}

static void test_listen_fd_refuses_what_is_not_a_bound_tcp_socket(void **state)
{
    assert_refused(-1);
    int closed = dup(0);
    close(closed);
    assert_refused(closed);

    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_refused(p[0]);
    close(p[0]);
    close(p[1]);

    int udp = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(udp, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_refused(udp);
    assert_true(fcntl(udp, F_GETFD) >= 0);
    close(udp);

    int unix_fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un u = {.sun_family = AF_UNIX};
    snprintf(u.sun_path, sizeof(u.sun_path), "/tmp/uvfib-test-listen-%ld", (long)getpid());
    unlink(u.sun_path);
    assert_int_equal(bind(unix_fd, (struct sockaddr *)&u, sizeof(u)), 0);
    assert_int_equal(listen(unix_fd, 8), 0);
    assert_refused(unix_fd);
    close(unix_fd);
    unlink(u.sun_path);

    int unbound = socket(AF_INET6, SOCK_STREAM, 0);
    assert_refused(unbound);
    close(unbound);

    /* A connected TCP socket is bound, but it is a client's. */
    int listener = tcp_socket(4);
    int connected = client_connect(port_of(listener));
    assert_true(connected >= 0);
    assert_refused(connected);
    close(connected);
    close(listener);
}

/* ------------------------------------------------------------------ unready */

static void assert_get(int fd, const char *path, int status, const char *connection,
                       struct response *r)
{
    assert_int_equal(client_get(fd, path, r, T_MS), 0);
    assert_int_equal(r->status, status);
    char v[32];
    assert_true(client_header(r, "Connection", v, sizeof(v)));
    assert_string_equal(v, connection);
}

static void test_unready_says_why_and_keeps_serving(void **state)
{
    long live = uvfib__alloc_live();
    uvfib_config_t cfg = config();
    struct harness h;
    assert_int_equal(harness_start(&h, &cfg, ops_setup), 0);
    int fd = client_connect(h.port);
    struct response r;
    assert_get(fd, "/readyz", 200, "keep-alive", &r);

    harness_unready(&h, "maintenance:\r\nback soon");
    uvfib_readiness_t rd;
    harness_readiness(&h, &rd);
    assert_int_equal(rd.ready, 0);
    assert_int_equal(rd.draining, 0); /* not draining: it still accepts */
    assert_true(rd.retry_after_s >= 1);
    assert_string_equal(rd.reason, "maintenance:  back soon"); /* one line */

    /* /readyz says so; everything else is served as before, keep-alive included, on the
     * open connection and on new ones. */
    assert_get(fd, "/readyz", 503, "keep-alive", &r);
    assert_non_null(strstr(r.body, "maintenance"));
    assert_get(fd, "/healthz", 200, "keep-alive", &r);
    assert_get(fd, "/fibonacci/30", 200, "keep-alive", &r);
    assert_string_equal(r.body, "{\"success\":true,\"result\":832040}");
    int fresh = client_connect(h.port);
    assert_get(fresh, "/fibonacci/10", 200, "keep-alive", &r);

    harness_unready(&h, NULL);
    harness_readiness(&h, &rd);
    assert_string_equal(rd.reason, "draining (shutting down)");
    close(fresh);
    close(fd);
    stop_and_check(&h);
    assert_int_equal(uvfib__alloc_live(), live);
}

static void test_unready_on_a_closing_server_is_ebusy(void **state)
{
    struct local l;
    uvfib_config_t cfg = config();
    local_init(&l, &cfg);
    assert_int_equal(uvfib_server_unready(&l.server, "x"), 0);
    assert_int_equal(uvfib_server_close(&l.server, NULL), 0);
    assert_int_equal(uvfib_server_unready(&l.server, "x"), UV_EBUSY);
    uv_run(&l.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&l.loop), 0);
}

int main(void)
{
    setenv("UV_THREADPOOL_SIZE", "2", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reuseport_servers_share_a_port_and_both_get_connections),
        cmocka_unit_test(test_listen_fd_serves_a_listening_socket_and_keeps_its_backlog),
        cmocka_unit_test(test_listen_fd_listens_on_a_bound_socket_with_the_config_backlog),
        cmocka_unit_test(test_sockname_reports_the_passed_sockets_address),
        cmocka_unit_test(test_listen_fd_refuses_what_is_not_a_bound_tcp_socket),
        cmocka_unit_test(test_unready_says_why_and_keeps_serving),
        cmocka_unit_test(test_unready_on_a_closing_server_is_ebusy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
