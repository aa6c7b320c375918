/* account.c - see account.h. */
#include "account.h"

#include "accesslog.h"
#include "conn.h"
#include "metrics.h"
#include "server.h"

void uvfib__account_request(struct uvfib__server *srv, const uvfib_req_t *req, int status)
{
    uint64_t duration_ns = uv_hrtime() - req->start_ns;
    /* Unanswered: 499 when the client left first, 444 (nginx's "closed without a response")
     * when the server closed the connection at a drain's deadline. */
    int code = status == 0 && req->answered ? req->status : req->conn->abandoned ? 444 : 499;
    if (code == 444)
        srv->metrics.count.requests_abandoned++;
    uint64_t bytes = status == 0 ? req->out_len : 0;
    const char *route = req->match.route != NULL ? req->match.route->pattern : "unmatched";
    uvfib__metrics_request(&srv->metrics, route, code, duration_ns, bytes);
    if (srv->log == NULL)
        return;

    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    bool parsed = req->msg.url != NULL;
    struct uvfib__accesslog_entry e = {
        .time_ms = tv.tv_sec * 1000 + tv.tv_usec / 1000,
        .method = parsed ? llhttp_method_name((llhttp_method_t)req->msg.method) : NULL,
        .target = parsed ? req->msg.url : NULL,
        .route = route,
        .status = code,
        .bytes = bytes,
        .duration_ns = duration_ns,
        .wait_ns = req->wait_ns,
        .compute_ns = req->compute_ns,
    };
    char line[UVFIB__ACCESSLOG_LINE_MAX];
    size_t len = uvfib__accesslog_format(line, sizeof(line), &e);
    if (len > 0 && uvfib__accesslog_write(srv->log, line, len))
        srv->metrics.count.log_lines++;
    else
        srv->metrics.count.log_dropped++;
}
