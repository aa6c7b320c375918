/* server.c - the server's lifecycle: its configuration's defaults, init from a config, routes,
 * bind (SO_REUSEPORT on request) or a passed socket, listen, accept, leaving rotation
 * (unready), the graceful drain and the asynchronous close, and the access log's writer
 * thread. It owns the route table, the pool, the monitor, the shared read buffer and the
 * list of connections (each of which frees itself and says so through srv->conn_gone). */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "conn.h"
#include "num.h"
#include "work.h"

#define CONTAINER_OF(ptr, type, field) ((type *)((char *)(ptr)-offsetof(type, field)))

/* How long a close leaves the access-log writer for the lines it has not written yet. */
#define UVFIB__CLOSE_LOG_GRACE_NS (1000ull * 1000000ull)

static const char *const uvfib_version = "0.1.0";

const char *uvfib_version_string(void)
{
    return uvfib_version;
}

const char *uvfib_strerror(int err)
{
    return uv_strerror(err);
}

/* Fields of later versions come out of `reserved` and must fill exactly the word they took, so
 * that the struct keeps its size for callers built against an older header. */
_Static_assert(offsetof(uvfib_config_t, coalesce_ms) ==
                   offsetof(uvfib_config_t, half_close_answer) + sizeof(uint64_t),
               "half_close_answer and reuseport share what was reserved[0]");
_Static_assert(offsetof(uvfib_config_t, reserved) ==
                   offsetof(uvfib_config_t, coalesce_ms) + sizeof(uint64_t),
               "coalesce_ms is what was reserved[1]");

void uvfib_config_init(uvfib_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->host = "127.0.0.1";
    cfg->port = 3000;
    cfg->backlog = 511;
    cfg->mode = UVFIB_MODE_AUTO;
    unsigned cpus = uv_available_parallelism();
    cfg->threads = cpus > 0 ? cpus : 1;
    cfg->max_queue = 10000;
    cfg->max_queue_wait_ms = 5000;
    cfg->max_connections = 20000;
    cfg->max_pipeline = 16;
    cfg->max_url_bytes = 8 * 1024;
    cfg->max_header_bytes = 16 * 1024;
    cfg->max_headers = 100;
    cfg->max_body_bytes = 1024;
    cfg->header_timeout_ms = 60 * 1000;
    cfg->keepalive_timeout_ms = 5 * 1000;
    cfg->write_timeout_ms = 30 * 1000;
    cfg->compute_timeout_ms = 0;
    cfg->compute_priority = UVFIB_PRIORITY_NORMAL;
    cfg->compute_nice = 10;
    cfg->coalesce_ms = 1;
    cfg->loop_resolution_ms = 10;
    cfg->monitor_window_ms = 1000;
    cfg->access_log_fd = -1;
    cfg->access_log_buffer_bytes = 1024 * 1024;
}

/* ------------------------------------------------------------------ init */

/* The server whose close callbacks this thread is running (maybe_closed), found through its
 * caller's struct by uvfib__server_of() while server->impl is NULL. */
static _Thread_local struct uvfib__server *finishing;

struct uvfib__server *uvfib__server_of(const uvfib_server_t *server)
{
    /* First without reading `server`: the first of two callbacks may have freed it. */
    if (finishing != NULL && finishing->pub == server)
        return finishing;
    return server->impl;
}

static void conn_gone(struct uvfib__server *srv);
static void maybe_closed(struct uvfib__server *srv);

/* Writer thread, its last act: wake the loop to join it. The server cannot be freed before
 * log_exited is closed, which happens only after this. */
static void on_log_exit(void *arg)
{
    struct uvfib__server *srv = arg;
    uv_async_send(&srv->log_exited);
}

static void on_handle_closed(uv_handle_t *handle)
{
    struct uvfib__server *srv = handle->data;
    srv->n_handles--;
    maybe_closed(srv);
}

static void on_log_exited(uv_async_t *async)
{
    struct uvfib__server *srv = async->data;
    if (srv->log == NULL || !srv->closing)
        return;
    /* The thread has returned or is returning. Lines it gave up on count as dropped. */
    srv->metrics.count.log_dropped += uvfib__accesslog_free(srv->log);
    srv->log = NULL;
    uv_close((uv_handle_t *)async, on_handle_closed);
}

static bool config_valid(const uvfib_config_t *cfg)
{
    return cfg->host != NULL && cfg->port >= 0 && cfg->port <= 65535 && cfg->threads > 0 &&
           cfg->max_pipeline > 0 && (unsigned)cfg->mode <= UVFIB_MODE_INLINE &&
           (unsigned)cfg->compute_priority <= UVFIB_PRIORITY_IDLE && cfg->compute_nice >= 0 &&
           cfg->compute_nice <= 19 && cfg->monitor_window_ms > 0 &&
           !(cfg->max_loop_delay_ms > 0 && cfg->loop_resolution_ms == 0);
}

int uvfib_server_init(uv_loop_t *loop, uvfib_server_t *server, const uvfib_config_t *cfg)
{
    uvfib_config_t defaults;
    if (cfg == NULL) {
        uvfib_config_init(&defaults);
        cfg = &defaults;
    }
    if (loop == NULL || server == NULL || !config_valid(cfg))
        return UV_EINVAL;

    struct uvfib__server *srv = uvfib__calloc(1, sizeof(*srv));
    if (srv == NULL)
        return UV_ENOMEM;
    srv->host = uvfib__strndup(cfg->host, strlen(cfg->host));
    int err = srv->host == NULL ? UV_ENOMEM : 0;
    if (err == 0 && cfg->access_log_fd >= 0)
        err = uvfib__accesslog_start(&srv->log, cfg->access_log_fd, cfg->access_log_buffer_bytes,
                                     on_log_exit, srv);
    struct uvfib__pool_priority prio = {cfg->compute_priority, cfg->compute_nice};
    if (err == 0)
        err = uvfib__pool_init(&srv->pool, loop, cfg->threads, prio, uvfib__work_on_pool_done);
    if (err == 0)
        srv->pool.hold_ms = cfg->coalesce_ms;
    if (err < 0) {
        /* Nothing could receive the writer's on_exit yet (log_exited is initialised below). */
        if (srv->log != NULL)
            uvfib__accesslog_abandon(srv->log);
        uvfib__free(srv->host);
        uvfib__free(srv);
        return err;
    }
    srv->cfg = *cfg;
    srv->cfg.host = srv->host;
    srv->pub = server;
    srv->loop = loop;
    srv->conn_gone = conn_gone;
    srv->limits = (struct uvfib__http_limits){
        .max_url_bytes = cfg->max_url_bytes,
        .max_header_bytes = cfg->max_header_bytes,
        .max_headers = cfg->max_headers,
        .max_body_bytes = cfg->max_body_bytes,
    };
    uvfib__metrics_init(&srv->metrics);
    uvfib__router_init(&srv->router);
    uv_tcp_init(loop, &srv->listener);
    uv_timer_init(loop, &srv->drain_timer);
    uv_timer_init(loop, &srv->compute_timer);
    uv_async_init(loop, &srv->log_exited, on_log_exited);
    srv->listener.data = srv->drain_timer.data = srv->compute_timer.data = srv;
    srv->log_exited.data = srv;
    /* The timers and the writer's wake-up must not keep the loop alive on their own. */
    uv_unref((uv_handle_t *)&srv->drain_timer);
    uv_unref((uv_handle_t *)&srv->compute_timer);
    uv_unref((uv_handle_t *)&srv->log_exited);
    uvfib__monitor_start(&srv->mon, loop, &srv->metrics, cfg->loop_resolution_ms,
                         cfg->monitor_window_ms);
    /* The listener, two timers and the async, plus the pool and the monitor as one each. */
    srv->n_handles = 6;

    server->loop = loop;
    server->impl = srv;
    return 0;
}

int uvfib_route_add_ex(uvfib_server_t *server, const char *method, const char *pattern,
                       uvfib_handler_cb handler, void *arg, uvfib_free_cb arg_free)
{
    struct uvfib__server *srv = uvfib__server_of(server);
    if (srv == NULL || srv->listening || srv->closing || srv->draining)
        return UV_EBUSY;
    return uvfib__router_add(&srv->router, method, pattern, handler, arg, arg_free);
}

int uvfib_route_add(uvfib_server_t *server, const char *method, const char *pattern,
                    uvfib_handler_cb handler, void *arg)
{
    return uvfib_route_add_ex(server, method, pattern, handler, arg, NULL);
}

/* ------------------------------------------------------------------ listen, accept */

static void on_connection(uv_stream_t *listener, int status)
{
    struct uvfib__server *srv = listener->data;
    /* EMFILE and friends: skip this wake-up and keep serving the others; the pending
     * connection stays in the backlog for the next one. */
    if (status < 0 || srv->closing)
        return;
    uvfib__conn_accept(srv);
}

/* cfg.host and cfg.port as a socket address. @return 0 or UV_EINVAL. */
static int config_address(const struct uvfib__server *srv, struct sockaddr_storage *addr)
{
    /* libuv reads at most 39 bytes of an IPv6 address before a '%zone' and drops the rest. */
    if (strcspn(srv->host, "%") > 39)
        return UV_EINVAL;
    if (uv_ip4_addr(srv->host, srv->cfg.port, (struct sockaddr_in *)addr) == 0)
        return 0;
    if (uv_ip6_addr(srv->host, srv->cfg.port, (struct sockaddr_in6 *)addr) == 0)
        return 0;
    return UV_EINVAL;
}

/* Gives the listener a socket of `family` with SO_REUSEPORT set. The option must be set before
 * bind(2), and libuv 1.44's uv_tcp_bind() has no flag for it, so the socket is made here and
 * handed to libuv; uv_tcp_bind() then binds it (and adds SO_REUSEADDR, as always). */
static int open_reuseport_socket(struct uvfib__server *srv, int family)
{
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return uv_translate_sys_error(errno);
    int on = 1;
    int err = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) < 0)
        err = uv_translate_sys_error(errno);
    if (err == 0)
        err = uv_tcp_open(&srv->listener, fd);
    if (err < 0)
        close(fd);
    return err;
}

static int start_listening(struct uvfib__server *srv, int backlog)
{
    int err = uv_listen((uv_stream_t *)&srv->listener, backlog, on_connection);
    if (err == 0)
        srv->listening = true;
    return err;
}

int uvfib_server_listen(uvfib_server_t *server)
{
    struct uvfib__server *srv = uvfib__server_of(server);
    if (srv == NULL || srv->listening || srv->closing || srv->draining)
        return UV_EBUSY;
    struct sockaddr_storage addr;
    int err = config_address(srv, &addr);
    if (err == 0 && srv->cfg.reuseport)
        err = open_reuseport_socket(srv, addr.ss_family);
    if (err == 0)
        err = uv_tcp_bind(&srv->listener, (const struct sockaddr *)&addr, 0);
    if (err == 0)
        err = start_listening(srv, srv->cfg.backlog);
    return err;
}

/* An int-valued socket option, or -1 when it cannot be read (not a socket, not open). */
static int int_option(int fd, int level, int name)
{
    int value = -1;
    socklen_t len = sizeof(value);
    return getsockopt(fd, level, name, &value, &len) == 0 ? value : -1;
}

static int port_of(const struct sockaddr_storage *addr)
{
    if (addr->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)addr)->sin6_port);
    return ntohs(((const struct sockaddr_in *)addr)->sin_port);
}

/* Whether fd is a TCP socket over IPv4 or IPv6 that is bound to a port and not connected;
 * *listening says whether listen(2) was called on it already. */
static bool bound_tcp_socket(int fd, bool *listening)
{
    int domain = int_option(fd, SOL_SOCKET, SO_DOMAIN);
    int accepting = int_option(fd, SOL_SOCKET, SO_ACCEPTCONN);
    if ((domain != AF_INET && domain != AF_INET6) ||
        int_option(fd, SOL_SOCKET, SO_TYPE) != SOCK_STREAM ||
        int_option(fd, SOL_SOCKET, SO_PROTOCOL) != IPPROTO_TCP || accepting < 0)
        return false;
    struct sockaddr_storage addr;
    socklen_t len = sizeof(addr);
    if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0 || port_of(&addr) == 0)
        return false; /* unbound */
    len = sizeof(addr);
    if (getpeername(fd, (struct sockaddr *)&addr, &len) == 0)
        return false; /* a connection's */
    *listening = accepting != 0;
    return true;
}

/* The backlog a listening socket has now. libuv calls listen(2) again, and that sets the
 * backlog anew: systemd's Backlog= (4096 in deploy/) must not shrink to cfg.backlog. Linux
 * reports a listener's backlog through TCP_INFO (tcpi_sacked, see tcp_get_info()). */
static int current_backlog(int fd, int fallback)
{
    struct tcp_info info;
    socklen_t len = sizeof(info);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) < 0 || info.tcpi_sacked == 0)
        return fallback;
    return info.tcpi_sacked > INT32_MAX ? INT32_MAX : (int)info.tcpi_sacked;
}

int uvfib_server_listen_fd(uvfib_server_t *server, int fd)
{
    struct uvfib__server *srv = uvfib__server_of(server);
    if (srv == NULL || srv->listening || srv->closing || srv->draining)
        return UV_EBUSY;
    bool listening;
    if (fd < 0 || !bound_tcp_socket(fd, &listening))
        return UV_EINVAL;
    /* A duplicate, so that the caller's descriptor stays the caller's whatever happens here,
     * and the listener's is closed with the listener, as any other. */
    int own = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (own < 0)
        return uv_translate_sys_error(errno);
    int err = uv_tcp_open(&srv->listener, own);
    if (err < 0) {
        close(own);
        return err;
    }
    return start_listening(srv, listening ? current_backlog(own, srv->cfg.backlog)
                                          : srv->cfg.backlog);
}

int uvfib_server_sockname(const uvfib_server_t *server, struct sockaddr_storage *addr)
{
    const struct uvfib__server *srv = uvfib__server_of(server);
    if (srv == NULL || srv->finished)
        return UV_EBADF; /* the listener is closed */
    int len = sizeof(*addr);
    return uv_tcp_getsockname(&srv->listener, (struct sockaddr *)addr, &len);
}

int uvfib_server_port(const uvfib_server_t *server)
{
    struct sockaddr_storage addr;
    int err = uvfib_server_sockname(server, &addr);
    return err < 0 ? err : port_of(&addr);
}

/* ------------------------------------------------------------------ readiness */

int uvfib_server_unready(uvfib_server_t *server, const char *reason)
{
    struct uvfib__server *srv = uvfib__server_of(server);
    if (srv == NULL || srv->closing)
        return UV_EBUSY;
    snprintf(srv->unready_reason, sizeof(srv->unready_reason), "%s",
             reason != NULL ? reason : "draining (shutting down)");
    /* One line: it becomes part of a JSON error and of log lines. */
    for (char *p = srv->unready_reason; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    srv->unready = true;
    return 0;
}

/* ------------------------------------------------------------------ shutdown and close */

static void on_part_closed(struct uvfib__server *srv)
{
    srv->n_handles--;
    maybe_closed(srv);
}

static void on_pool_closed(struct uvfib__pool *pool)
{
    on_part_closed(CONTAINER_OF(pool, struct uvfib__server, pool));
}

static void on_monitor_closed(struct uvfib__monitor *mon)
{
    on_part_closed(CONTAINER_OF(mon, struct uvfib__server, mon));
}

static void close_handle(struct uvfib__server *srv, uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, on_handle_closed);
}

/* The last step of a close: once every connection has freed itself (and with it every job),
 * close our own handles; once those are closed, free and tell the caller, each callback of a
 * successful shutdown or close exactly once. */
static void maybe_closed(struct uvfib__server *srv)
{
    if (srv->finished)
        return;
    if (srv->draining && srv->conns == NULL)
        srv->closing = true; /* drained: the last connection is gone */
    if (!srv->closing || srv->conns != NULL)
        return;
    close_handle(srv, (uv_handle_t *)&srv->listener);
    close_handle(srv, (uv_handle_t *)&srv->drain_timer);
    close_handle(srv, (uv_handle_t *)&srv->compute_timer);
    uvfib__monitor_close(&srv->mon, on_monitor_closed);
    uvfib__pool_close(&srv->pool, on_pool_closed);
    if (srv->log != NULL) {
        /* Let the writer finish its lines, by the deadline at the latest; keep the loop alive
         * until it says it has. */
        uv_ref((uv_handle_t *)&srv->log_exited);
        uint64_t now = uv_hrtime(), at = srv->log_deadline_ns;
        uvfib__accesslog_stop(srv->log, at == 0 ? UVFIB__ACCESSLOG_NO_TIMEOUT
                                        : at > now ? at - now : 0);
    } else {
        close_handle(srv, (uv_handle_t *)&srv->log_exited);
    }
    if (srv->n_handles > 0)
        return;
    /* The callbacks may still read the final figures (uvfib_server_stats()), through
     * `finishing`. They may also free `server`, so it is not touched after them: it says
     * "closed" (impl NULL) from here, and a close or shutdown called from them or after them
     * is refused, so each runs once and none reads `srv` once it is freed. */
    srv->finished = true;
    uvfib_server_t *server = srv->pub;
    server->impl = NULL;
    struct uvfib__server *outer = finishing;
    finishing = srv;
    if (srv->shutdown_cb != NULL)
        srv->shutdown_cb(server);
    if (srv->close_cb != NULL)
        srv->close_cb(server);
    finishing = outer;
    uvfib__router_free(&srv->router);
    uvfib__metrics_free(&srv->metrics);
    uvfib__free(srv->host);
    uvfib__free(srv);
}

static void conn_gone(struct uvfib__server *srv)
{
    maybe_closed(srv);
}

static void close_now(struct uvfib__server *srv)
{
    srv->closing = true;
    struct uvfib__conn *next;
    for (struct uvfib__conn *c = srv->conns; c != NULL; c = next) {
        next = c->next;
        uvfib__conn_abandon(c);
    }
    maybe_closed(srv);
}

static void on_drain_timeout(uv_timer_t *timer)
{
    close_now(timer->data);
}

int uvfib_server_shutdown(uvfib_server_t *server, uint64_t timeout_ms, uvfib_close_cb cb)
{
    struct uvfib__server *srv = uvfib__server_of(server);
    if (srv == NULL)
        return UV_EALREADY; /* closed, its callbacks run */
    if (srv->closing || srv->draining) {
        if (!srv->closing)
            close_now(srv);
        return UV_EALREADY;
    }
    srv->shutdown_cb = cb;
    srv->draining = true;
    if (timeout_ms > 0) {
        /* Saturated: a timeout too large to count in ns means no deadline for the log. */
        srv->log_deadline_ns = uvfib__add_sat(uv_hrtime(), uvfib__ms_to_ns(timeout_ms));
    }
    /* Stop accepting: new connections are refused by the kernel from here. */
    close_handle(srv, (uv_handle_t *)&srv->listener);
    struct uvfib__conn *next;
    for (struct uvfib__conn *c = srv->conns; c != NULL; c = next) {
        next = c->next;
        uvfib__conn_drain(c);
    }
    /* Without a deadline, in-flight requests take as long as they take. */
    if (timeout_ms > 0)
        uv_timer_start(&srv->drain_timer, on_drain_timeout, timeout_ms, 0);
    maybe_closed(srv);
    return 0;
}

int uvfib_server_close(uvfib_server_t *server, uvfib_close_cb cb)
{
    struct uvfib__server *srv = uvfib__server_of(server);
    if (srv == NULL || srv->finished || (srv->closing && (srv->close_cb != NULL || !srv->draining)))
        return UV_EALREADY; /* closed or closing already by a close (or a drain that ended) */
    srv->close_cb = cb;
    uint64_t at = uv_hrtime() + UVFIB__CLOSE_LOG_GRACE_NS;
    if (srv->log_deadline_ns == 0 || at < srv->log_deadline_ns)
        srv->log_deadline_ns = at;
    close_now(srv);
    return 0;
}
