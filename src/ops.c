/* ops.c - the operator's routes, GET /metrics and GET /readyz, written on the public API only
 * (uvfib.h), as an embedder's own routes would be: the numbers come from
 * uvfib_server_metrics(), readiness from uvfib_server_readiness(). */
#include <stdio.h>

#include "uvfib.h"

static void send_metrics(uvfib_req_t *req, int (*read)(uvfib_server_t *, char **, size_t *))
{
    char *text;
    size_t len;
    if (read(uvfib_req_server(req), &text, &len) < 0) {
        uvfib_res_error(req, 500, "out of memory");
        return;
    }
    uvfib_res_header(req, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    uvfib_res_send(req, 200, text, len);
    uvfib_free(text);
}

static void on_metrics(uvfib_req_t *req, void *arg)
{
    send_metrics(req, uvfib_server_metrics);
}

/* HEAD gets the GET's headers, but nobody reads its body: it must not end the window that
 * the scraper's next GET shows. */
static void on_metrics_head(uvfib_req_t *req, void *arg)
{
    send_metrics(req, uvfib_server_metrics_peek);
}

/* Readiness, for a load balancer: not ready while shedding or draining, so traffic goes
 * elsewhere; ready again by itself once the figures recover. Liveness stays with /healthz,
 * which answers whenever the loop runs. */
static void on_readyz(uvfib_req_t *req, void *arg)
{
    uvfib_readiness_t r;
    uvfib_server_readiness(uvfib_req_server(req), &r);
    if (r.ready) {
        static const char body[] = "{\"status\":\"ready\"}";
        uvfib_res_send(req, 200, body, sizeof(body) - 1);
        return;
    }
    char secs[16], msg[240];
    snprintf(secs, sizeof(secs), "%u", r.retry_after_s > 0 ? r.retry_after_s : 1);
    snprintf(msg, sizeof(msg), "not ready: %s", r.reason);
    uvfib_res_header(req, "Retry-After", secs);
    uvfib_res_error(req, 503, msg);
}

int uvfib_metrics_routes_add(uvfib_server_t *server)
{
    int err = uvfib_route_add(server, "GET", "/metrics", on_metrics, NULL);
    if (err == 0)
        err = uvfib_route_add(server, "HEAD", "/metrics", on_metrics_head, NULL);
    if (err == 0)
        err = uvfib_route_add(server, "GET", "/readyz", on_readyz, NULL);
    return err;
}
