/* server.c - the listener: init from a config, bind, listen, accept, the
 * graceful drain and the asynchronous close. It owns the route table, the
 * shared read buffer and the list of connections (each of which frees itself). */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static const char *const uvfib_version = "0.1.0";

const char *uvfib_version_string(void)
{
    return uvfib_version;
}

const char *uvfib_strerror(int err)
{
    return uv_strerror(err);
}

int uvfib_server_init(uv_loop_t *loop, uvfib_server_t *server, const uvfib_config_t *cfg)
{
    uvfib_config_t defaults;
    if (cfg == NULL) {
        uvfib_config_init(&defaults);
        cfg = &defaults;
    }
    if (loop == NULL || server == NULL || cfg->host == NULL || cfg->port < 0 ||
        cfg->port > 65535 || cfg->threads == 0 || cfg->max_pipeline == 0 ||
        (unsigned)cfg->mode > UVFIB_MODE_INLINE)
        return UV_EINVAL;

    struct uvfib__server *srv = uvfib__calloc(1, sizeof(*srv));
    if (srv == NULL)
        return UV_ENOMEM;
    srv->host = uvfib__strndup(cfg->host, strlen(cfg->host));
    if (srv->host == NULL) {
        uvfib__free(srv);
        return UV_ENOMEM;
    }
    srv->cfg = *cfg;
    srv->cfg.host = srv->host;
    srv->pub = server;
    srv->loop = loop;
    srv->limits = (struct uvfib__http_limits){
        .max_url_bytes = cfg->max_url_bytes,
        .max_header_bytes = cfg->max_header_bytes,
        .max_headers = cfg->max_headers,
        .max_body_bytes = cfg->max_body_bytes,
    };
    int err = uvfib__monitor_init(srv);
    if (err < 0) {
        uvfib__free(srv->host);
        uvfib__free(srv);
        return err;
    }
    struct uvfib__pool_priority prio = {cfg->compute_priority, cfg->compute_nice};
    err = uvfib__pool_init(&srv->pool, loop, cfg->threads, prio, uvfib__work_on_pool_done);
    if (err < 0) {
        uvfib__monitor_free(srv);
        uvfib__free(srv->host);
        uvfib__free(srv);
        return err;
    }
    uvfib__router_init(&srv->router);
    uv_tcp_init(loop, &srv->listener);
    uv_timer_init(loop, &srv->drain_timer);
    uv_timer_init(loop, &srv->compute_timer);
    srv->listener.data = srv;
    srv->drain_timer.data = srv;
    srv->compute_timer.data = srv;
    srv->n_handles = 4; /* the listener, the two timers and the pool */
    /* The timers must not keep the loop alive on their own. */
    uv_unref((uv_handle_t *)&srv->drain_timer);
    uv_unref((uv_handle_t *)&srv->compute_timer);
    uvfib__monitor_start(srv);

    server->loop = loop;
    server->impl = srv;
    return 0;
}

int uvfib_route_add(uvfib_server_t *server, const char *method, const char *pattern,
                    uvfib_handler_cb handler, void *arg)
{
    struct uvfib__server *srv = server->impl;
    if (srv->listening || srv->closing)
        return UV_EBUSY;
    return uvfib__router_add(&srv->router, method, pattern, handler, arg, NULL);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct uvfib__server *srv = listener->data;
    /* EMFILE and friends: skip this wake-up and keep serving the others;
     * the pending connection stays in the backlog for the next one. */
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

void uvfib_server_stats(const uvfib_server_t *server, uvfib_stats_t *out)
{
    struct uvfib__server *srv = server->impl;
    *out = srv->stats;
    /* Gauges of the queue are its own counts, not copies kept in step. */
    unsigned waiting, running;
    uvfib__pool_counts(&srv->pool, &waiting, &running);
    out->jobs_queued = waiting;
    out->jobs_running = running;
}

const char *uvfib__server_date(struct uvfib__server *srv)
{
    time_t now = time(NULL);
    if (now != srv->date_sec) {
        uvfib__http_date(now, srv->date);
        srv->date_sec = now;
    }
    return srv->date;
}

/* ------------------------------------------------------ shutdown and close */

static void on_handle_closed(uv_handle_t *handle)
{
    struct uvfib__server *srv = handle->data;
    srv->n_handles--;
    uvfib__server_maybe_closed(srv);
}

static void on_pool_closed(struct uvfib__pool *pool)
{
    struct uvfib__server *srv = UVFIB__CONTAINER_OF(pool, struct uvfib__server, pool);
    srv->n_handles--;
    uvfib__server_maybe_closed(srv);
}

/* The last step of a close: once every connection has freed itself, close our
 * own handles; once those are closed, free and tell the caller. */
void uvfib__server_maybe_closed(struct uvfib__server *srv)
{
    if (srv->draining && srv->conns == NULL)
        srv->closing = true; /* drained: the last connection is gone */
    if (!srv->closing || srv->conns != NULL)
        return;
    if (!uv_is_closing((uv_handle_t *)&srv->listener))
        uv_close((uv_handle_t *)&srv->listener, on_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&srv->drain_timer))
        uv_close((uv_handle_t *)&srv->drain_timer, on_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&srv->compute_timer))
        uv_close((uv_handle_t *)&srv->compute_timer, on_handle_closed);
    uvfib__monitor_close(srv);
    /* Every job has come back: each holds its connection, and none is left. */
    uvfib__pool_close(&srv->pool, on_pool_closed);
    if (srv->n_handles > 0)
        return;
    uvfib_server_t *server = srv->pub;
    uvfib_close_cb cb = srv->close_cb;
    uvfib__router_free(&srv->router);
    uvfib__monitor_free(srv);
    uvfib__free(srv->host);
    uvfib__free(srv);
    server->impl = NULL;
    if (cb != NULL)
        cb(server);
}

static void close_now(struct uvfib__server *srv)
{
    srv->closing = true;
    struct uvfib__conn *next;
    for (struct uvfib__conn *c = srv->conns; c != NULL; c = next) {
        next = c->next;
        uvfib__conn_close(c);
    }
    uvfib__server_maybe_closed(srv);
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
    srv->close_cb = cb;
    srv->draining = true;
    /* Stop accepting: new connections are refused by the kernel from here. */
    uv_close((uv_handle_t *)&srv->listener, on_handle_closed);
    struct uvfib__conn *next;
    for (struct uvfib__conn *c = srv->conns; c != NULL; c = next) {
        next = c->next;
        uvfib__conn_drain(c);
    }
    /* Without a deadline, in-flight requests take as long as they take. */
    if (timeout_ms > 0)
        uv_timer_start(&srv->drain_timer, on_drain_timeout, timeout_ms, 0);
    uvfib__server_maybe_closed(srv);
    return 0;
}

void uvfib_server_close(uvfib_server_t *server, uvfib_close_cb cb)
{
    struct uvfib__server *srv = server->impl;
    if (!srv->closing && !srv->draining)
        srv->close_cb = cb;
    close_now(srv);
}
