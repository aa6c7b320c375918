/* harness.c - see harness.h. Commands cross to the loop thread through one
 * uv_async_t (libuv's way to wake a loop from another thread) and come back
 * through a semaphore. */
#include "harness.h"

#include <string.h>

#include "fib.h"
#include "server.h"

enum { CMD_NONE, CMD_STATS, CMD_SHUTDOWN, CMD_CLOSE, CMD_READINESS, CMD_UNREADY };

static void on_closed(uvfib_server_t *server)
{
    struct harness *h = server->data;
    uvfib_server_stats(server, &h->final_stats); /* still allowed in the close callback */
    h->closed = true;
    uv_close((uv_handle_t *)&h->wake, NULL);
}

static void on_wake(uv_async_t *async)
{
    struct harness *h = async->data;
    int cmd = atomic_exchange(&h->cmd, CMD_NONE);
    switch (cmd) {
    case CMD_STATS:
        uvfib_server_stats(&h->server, &h->stats);
        h->bytes_in = h->server.impl->metrics.count.bytes_in;
        break;
    case CMD_SHUTDOWN:
        uvfib_server_shutdown(&h->server, h->shutdown_timeout_ms, on_closed);
        break;
    case CMD_CLOSE:
        if (!h->closed)
            uvfib_server_close(&h->server, on_closed);
        break;
    case CMD_READINESS:
        uvfib_server_readiness(&h->server, &h->readiness);
        break;
    case CMD_UNREADY:
        uvfib_server_unready(&h->server, h->unready_reason);
        break;
    default:
        return;
    }
    uv_sem_post(&h->done);
}

static void healthz(uvfib_req_t *req, void *arg)
{
    uvfib_res_send(req, 200, "{\"status\":\"ok\"}", 15);
}

void harness_default_routes(uvfib_server_t *server)
{
    uvfib_route_add(server, "GET", "/healthz", healthz, NULL);
    fib_routes_add(server, NULL);
}

static void run(void *arg)
{
    struct harness *h = arg;
    uv_run(&h->loop, UV_RUN_DEFAULT);
    h->loop_close_rc = uv_loop_close(&h->loop);
}

/* fd < 0: the server binds cfg's address; else it listens on fd. */
static int start(struct harness *h, const uvfib_config_t *cfg, harness_setup_cb setup, int fd)
{
    memset(h, 0, sizeof(*h));
    h->cfg = *cfg;
    if (!cfg->reuseport)
        h->cfg.port = 0;
    int err = uv_loop_init(&h->loop);
    if (err == 0)
        err = uvfib_server_init(&h->loop, &h->server, &h->cfg);
    if (err < 0)
        return err;
    h->server.data = h;
    (setup != NULL ? setup : harness_default_routes)(&h->server);
    err = fd < 0 ? uvfib_server_listen(&h->server) : uvfib_server_listen_fd(&h->server, fd);
    if (err < 0)
        return err;
    h->port = uvfib_server_port(&h->server);
    uv_sem_init(&h->done, 0);
    uv_async_init(&h->loop, &h->wake, on_wake);
    h->wake.data = h;
    return uv_thread_create(&h->thread, run, h);
}

int harness_start(struct harness *h, const uvfib_config_t *cfg, harness_setup_cb setup)
{
    return start(h, cfg, setup, -1);
}

int harness_start_fd(struct harness *h, const uvfib_config_t *cfg, harness_setup_cb setup,
                     int fd)
{
    return start(h, cfg, setup, fd);
}

static void command(struct harness *h, int cmd)
{
    atomic_store(&h->cmd, cmd);
    uv_async_send(&h->wake);
    uv_sem_wait(&h->done);
}

void harness_stats(struct harness *h, uvfib_stats_t *out)
{
    command(h, CMD_STATS);
    *out = h->stats;
}

uint64_t harness_bytes_in(struct harness *h)
{
    command(h, CMD_STATS);
    return h->bytes_in;
}

/* No event reaches the test thread when the server's counters move; each round trip to the
 * loop is one, and between them the thread yields its core. */
int harness_wait_bytes_in(struct harness *h, uint64_t n, int timeout_ms)
{
    uint64_t end = uv_hrtime() + (uint64_t)timeout_ms * 1000000;
    while (harness_bytes_in(h) < n) {
        if (uv_hrtime() > end)
            return -1;
        uv_sleep(1);
    }
    return 0;
}

bool harness_wait_stats(struct harness *h, bool (*pred)(const uvfib_stats_t *), int timeout_ms)
{
    /* timeout_ms of sleeps between the round trips, which themselves take longer under
     * valgrind: the wait stretches with the server's slowness. */
    uvfib_stats_t s;
    for (int slept = 0; slept <= timeout_ms; slept += 2) {
        harness_stats(h, &s);
        if (pred(&s))
            return true;
        uv_sleep(2);
    }
    return false;
}

void harness_readiness(struct harness *h, uvfib_readiness_t *out)
{
    command(h, CMD_READINESS);
    *out = h->readiness;
}

void harness_unready(struct harness *h, const char *reason)
{
    h->unready_reason = reason;
    command(h, CMD_UNREADY);
}

void harness_shutdown(struct harness *h, uint64_t timeout_ms)
{
    h->shutdown_timeout_ms = timeout_ms;
    h->shutdown_started = true;
    command(h, CMD_SHUTDOWN);
}

void harness_stop(struct harness *h)
{
    /* After a shutdown the loop ends by itself (and the async handle may be
     * gone already); otherwise ask for a close. */
    if (!h->shutdown_started)
        command(h, CMD_CLOSE);
    uv_thread_join(&h->thread);
    uv_sem_destroy(&h->done);
}
