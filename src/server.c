/* server.c - the server's lifecycle: its configuration's defaults, init from a config, routes,
 * bind, listen, accept, the graceful drain and the asynchronous close, and the access log's
 * writer thread. It owns the route table, the pool, the monitor, the shared read buffer and the
 * list of connections (each of which frees itself and says so through srv->conn_gone). */
#include "server.h"

#include <string.h>

#include "alloc.h"
#include "conn.h"
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
    cfg->loop_resolution_ms = 10;
    cfg->monitor_window_ms = 1000;
    cfg->access_log_fd = -1;
    cfg->access_log_buffer_bytes = 1024 * 1024;
}

/* ------------------------------------------------------------------ init */

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
           (unsigned)cfg->compute_priority <= UVFIB_PRIORITY_IDLE && cfg->monitor_window_ms > 0 &&
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
    if (err < 0) {
        if (srv->log != NULL) {
            uvfib__accesslog_stop(srv->log, 0);
            uvfib__accesslog_free(srv->log);
        }
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
    struct uvfib__server *srv = server->impl;
    if (srv->listening || srv->closing || srv->draining)
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

int uvfib_server_listen(uvfib_server_t *server)
{
    struct uvfib__server *srv = server->impl;
    if (srv->listening || srv->closing || srv->draining)
        return UV_EBUSY;
    struct sockaddr_storage addr;
    int err = uv_ip4_addr(srv->host, srv->cfg.port, (struct sockaddr_in *)&addr);
    if (err < 0)
        err = uv_ip6_addr(srv->host, srv->cfg.port, (struct sockaddr_in6 *)&addr);
    if (err < 0)
        return UV_EINVAL;
    err = uv_tcp_bind(&srv->listener, (const struct sockaddr *)&addr, 0);
    if (err == 0)
        err = uv_listen((uv_stream_t *)&srv->listener, srv->cfg.backlog, on_connection);
    if (err == 0)
        srv->listening = true;
    return err;
}

int uvfib_server_port(const uvfib_server_t *server)
{
    const struct uvfib__server *srv = server->impl;
    struct sockaddr_storage addr;
    int len = sizeof(addr);
    int err = uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&addr, &len);
    if (err < 0)
        return err;
    if (addr.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
    return ntohs(((struct sockaddr_in *)&addr)->sin_port);
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
    /* The callbacks may still read the final figures (uvfib_server_stats()). They may also free
     * `server`, so it is not touched after them. */
    uvfib_server_t *server = srv->pub;
    if (srv->shutdown_cb != NULL)
        srv->shutdown_cb(server);
    if (srv->close_cb != NULL)
        srv->close_cb(server);
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
        uvfib__conn_close(c);
    }
    maybe_closed(srv);
}

static void on_drain_timeout(uv_timer_t *timer)
{
    close_now(timer->data);
}

int uvfib_server_shutdown(uvfib_server_t *server, uint64_t timeout_ms, uvfib_close_cb cb)
{
    struct uvfib__server *srv = server->impl;
    if (srv->closing || srv->draining) {
        if (!srv->closing)
            close_now(srv);
        return UV_EALREADY;
    }
    srv->shutdown_cb = cb;
    srv->draining = true;
    if (timeout_ms > 0)
        srv->log_deadline_ns = uv_hrtime() + timeout_ms * 1000000;
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
    struct uvfib__server *srv = server->impl;
    if (srv->closing && (srv->close_cb != NULL || !srv->draining))
        return UV_EALREADY; /* closed or closing already by a close (or a drain that ended) */
    srv->close_cb = cb;
    uint64_t at = uv_hrtime() + UVFIB__CLOSE_LOG_GRACE_NS;
    if (srv->log_deadline_ns == 0 || at < srv->log_deadline_ns)
        srv->log_deadline_ns = at;
    close_now(srv);
    return 0;
}
