/* conn.c - see conn.h. Every callback runs on the loop thread. */
#include "conn.h"

#include <assert.h>
#include <string.h>

#include "account.h"
#include "alloc.h"
#include "dlist.h"
#include "num.h"
#include "response.h"
#include "server.h"
#include "work.h"

#define CONTAINER_OF(ptr, type, field) ((type *)((char *)(ptr)-offsetof(type, field)))

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void update_timer(struct uvfib__conn *c);
static void process(struct uvfib__conn *c, const char *data, size_t len);
static void parse(struct uvfib__conn *c, const char *data, size_t len);

/* ------------------------------------------------------ lifetime */

void uvfib__conn_ref(struct uvfib__conn *c)
{
    c->refs++;
}

/* The only place a connection is freed: when its last handle has closed, its
 * last write has finished and its last job has come back from the pool. */
void uvfib__conn_unref(struct uvfib__conn *c)
{
    assert(c->refs > 0);
    if (--c->refs > 0)
        return;
    struct uvfib__server *srv = c->srv;
    while (c->head != NULL) {
        uvfib_req_t *next = c->head->next;
        uvfib__account_request(srv, c->head, UV_ECANCELED);
        uvfib__request_free(c->head);
        c->head = next;
    }
    uvfib__http_free(&c->http);
    uvfib__free(c->pending);
    UVFIB__DLIST_REMOVE_HEADONLY(srv->conns, c, prev, next);
    srv->n_conns--;
    uvfib__free(c);
    srv->conn_gone(srv);
}

static void on_close(uv_handle_t *handle)
{
    uvfib__conn_unref(handle->data);
}

void uvfib__conn_close(struct uvfib__conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    c->reading = false;
    /* Jobs: the waiting ones are dropped first (their done callbacks run now and write
     * nothing), then a running one is told to stop and comes back later. In that order a
     * runner that stops at once cannot take one of this client's waiting jobs meanwhile. */
    for (uvfib_req_t *req = c->head; req != NULL; req = req->next)
        if (req->job != NULL)
            uvfib__work_take_back(req->job);
    for (uvfib_req_t *req = c->head; req != NULL; req = req->next)
        if (req->job != NULL)
            uvfib__work_cancel(req->job);
    uv_close((uv_handle_t *)&c->timer, on_close);
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

static uvfib_req_t *req_new(struct uvfib__conn *c, size_t text_bytes);

void uvfib__conn_abandon(struct uvfib__conn *c)
{
    if (c->closing)
        return; /* its client left first, or it was closed for its own reasons */
    c->abandoned = true;
    /* A request still arriving has no record yet; one with no message ("-") stands for it,
     * so that the request that held the drain to its deadline shows in the log. */
    if (c->http.in_message && !c->done_parsing)
        (void)req_new(c, 0); /* freed and accounted with the others (uvfib__conn_unref) */
    uvfib__conn_close(c);
}

void uvfib__conn_drain(struct uvfib__conn *c)
{
    if (c->n_reqs == 0 && !c->http.in_message)
        uvfib__conn_close(c);
}

/* ------------------------------------------------------ accept */

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    /* One buffer for every connection: on_read consumes it before returning,
     * and keeps only what must outlive the read. */
    struct uvfib__conn *c = handle->data;
    *buf = uv_buf_init(c->srv->read_buf, sizeof(c->srv->read_buf));
}

void uvfib__conn_accept(struct uvfib__server *srv)
{
    struct uvfib__conn *c = uvfib__calloc(1, sizeof(*c));
    if (c == NULL) {
        /* Take the socket off the backlog anyway, or it would wake us again. */
        uv_tcp_t *tmp = uvfib__malloc(sizeof(*tmp));
        if (tmp != NULL && uv_tcp_init(srv->loop, tmp) == 0) {
            uv_accept((uv_stream_t *)&srv->listener, (uv_stream_t *)tmp);
            uv_close((uv_handle_t *)tmp, (uv_close_cb)uvfib__free);
        } else {
            uvfib__free(tmp);
        }
        srv->metrics.count.connections_rejected++;
        return;
    }
    c->srv = srv;
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->refs = 2; /* tcp and timer, until their close callbacks */
    uvfib__http_init(&c->http, &srv->limits);
    c->next = srv->conns;
    if (srv->conns != NULL)
        srv->conns->prev = c;
    srv->conns = c;
    srv->n_conns++;
    srv->metrics.count.connections_total++;

    if (uv_accept((uv_stream_t *)&srv->listener, (uv_stream_t *)&c->tcp) != 0) {
        uvfib__conn_close(c);
        return;
    }
    bool over = srv->cfg.max_connections > 0 && srv->n_conns > srv->cfg.max_connections;
    if (over || srv->draining) {
        srv->metrics.count.connections_rejected++;
        uvfib__conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        uvfib__conn_close(c);
        return;
    }
    c->reading = true;
    update_timer(c);
}

static void stop_reading(struct uvfib__conn *c)
{
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

/* ------------------------------------------------------ writing */

static void on_shutdown(uv_shutdown_t *sreq, int status)
{
    struct uvfib__conn *c = sreq->data;
    uvfib__conn_close(c);
    uvfib__conn_unref(c);
}

/* After a response that says "Connection: close": send FIN first so the
 * client reads the whole response before the socket goes away. */
static void finish_and_close(struct uvfib__conn *c)
{
    if (c->closing)
        return;
    c->done_parsing = true;
    stop_reading(c);
    c->shutdown.data = c;
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) == 0) {
        uvfib__conn_ref(c);
        uv_timer_stop(&c->timer);
    } else {
        uvfib__conn_close(c);
    }
}

/* While parsing is paused at the pipelining limit, reading goes on, keeping the bytes, up to
 * this much: so that a client that leaves is seen leaving (its computations cancelled), while
 * one that keeps sending is bounded. Beyond it, reads stop until the pause ends. */
#define PAUSED_KEEP_BYTES (64 * 1024)

/* Keeps data[0..len) after the bytes already kept while paused. */
static void keep(struct uvfib__conn *c, const char *data, size_t len)
{
    char *more = uvfib__realloc(c->pending, c->pending_len + len);
    if (more == NULL) {
        uvfib__conn_close(c);
        return;
    }
    memcpy(more + c->pending_len, data, len);
    c->pending = more;
    c->pending_len += len;
    if (c->pending_len >= PAUSED_KEEP_BYTES)
        stop_reading(c);
}

/* The client has sent all it will (EOF). With half_close_answer, what it sent is answered,
 * then the connection closes; otherwise it counts as gone, as in Node and Go. */
static void peer_done(struct uvfib__conn *c)
{
    if (c->srv->cfg.half_close_answer && c->n_reqs > 0) {
        c->done_parsing = true;
        stop_reading(c);
        if (c->tail->answered && !c->tail->close_after)
            c->tail->close_after = true; /* serialised already: close once it is out */
    } else {
        uvfib__conn_close(c);
    }
}

static void start_reading(struct uvfib__conn *c)
{
    if (c->reading)
        return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = true;
    else
        uvfib__conn_close(c);
}

/* Parses again after a pause at the pipelining limit: the bytes kept meanwhile first, then
 * what comes. Never from inside process(): a response completed while process() parses is
 * counted there, and it goes on parsing the bytes it holds; its caller resumes when done. */
static void resume_reading(struct uvfib__conn *c)
{
    if (c->closing || c->done_parsing || c->in_process)
        return;
    if (c->pending != NULL) {
        char *data = c->pending;
        size_t len = c->pending_len;
        c->pending = NULL;
        c->pending_len = 0;
        process(c, data, len);
        uvfib__free(data);
        if (c->closing || c->done_parsing)
            return;
        if (c->pending != NULL) {
            /* Paused again on the rest: reading goes on while what is kept is under the
             * bound (reads had stopped if it was over), so a client that leaves is seen. */
            if (!c->eof_kept && c->pending_len < PAUSED_KEEP_BYTES)
                start_reading(c);
            return;
        }
    }
    if (c->eof_kept) {
        c->eof_kept = false;
        peer_done(c);
        return;
    }
    start_reading(c);
}

/* A response is out (status 0), or could not be written (< 0): the request leaves the head
 * of the FIFO and is freed, and the connection goes on: closes after a closing response, or
 * reads again below the pipelining limit. */
static void complete(struct uvfib__conn *c, uvfib_req_t *req, int status)
{
    /* Responses leave in order, so the one that is out is the head. */
    assert(c->head == req);
    c->head = req->next;
    if (c->head == NULL)
        c->tail = NULL;
    c->n_reqs--;
    bool close_after = req->close_after;
    uvfib__account_request(c->srv, req, status);
    if (req->in_done)
        req->complete = true; /* its done callback may still read it: freed when it returns */
    else
        uvfib__request_free(req);
    if (c->closing)
        return;
    if (status < 0) {
        uvfib__conn_close(c); /* EPIPE, ECONNRESET: the client is gone */
        return;
    }
    c->srv->metrics.count.responses_total++;
    if (close_after)
        finish_and_close(c);
    else if (c->srv->draining)
        uvfib__conn_drain(c);
    if (!c->closing) {
        if (c->n_reqs < c->srv->cfg.max_pipeline)
            resume_reading(c);
        update_timer(c);
    }
}

static void on_write(uv_write_t *w, int status)
{
    uvfib_req_t *req = CONTAINER_OF(w, uvfib_req_t, write);
    struct uvfib__conn *c = req->conn;
    c->n_writes--;
    c->write_progress_ms = uv_now(c->srv->loop); /* the client took a whole response */
    complete(c, req, status);
    uvfib__conn_unref(c);
}

/* Writes every answered request at the head of the FIFO, in order. With no write in flight,
 * it first tries to write a response at once (uv_try_write): most fit the socket buffer, and
 * are then complete without a uv_write, whose completion costs libuv 1.44 one epoll_ctl per
 * response (it stops POLLOUT that was never started; libuv PR 5231). The rest, and whatever
 * queues behind a write in flight, goes through uv_write, which keeps the order. */
static void flush(struct uvfib__conn *c)
{
    uvfib_req_t *next;
    for (uvfib_req_t *req = c->head; req != NULL && req->answered && !c->closing; req = next) {
        next = req->next;
        if (req->writing)
            continue;
        size_t off = 0;
        if (c->n_writes == 0) {
            uv_buf_t all = uv_buf_init(req->out, (unsigned)req->out_len);
            int n = uv_try_write((uv_stream_t *)&c->tcp, &all, 1);
            if (n == (int)req->out_len) {
                bool close_after = req->close_after;
                complete(c, req, 0); /* it was the head; frees req (after its done callback) */
                if (close_after)
                    break; /* nothing goes out after a closing response */
                next = c->head;
                continue;
            }
            if (n < 0 && n != UV_EAGAIN) {
                uvfib__conn_close(c); /* the client is gone */
                return;
            }
            off = n > 0 ? (size_t)n : 0;
        }
        uv_buf_t buf = uv_buf_init(req->out + off, (unsigned)(req->out_len - off));
        if (uv_write(&req->write, (uv_stream_t *)&c->tcp, &buf, 1, on_write) != 0) {
            uvfib__conn_close(c);
            return;
        }
        if (c->n_writes == 0)
            c->write_progress_ms = uv_now(c->srv->loop);
        req->writing = true;
        c->n_writes++;
        uvfib__conn_ref(c);
        if (req->close_after)
            break; /* nothing goes out after a closing response */
    }
    update_timer(c);
}

/* What goes out when there is no memory for a response: allocated nowhere, and the connection
 * closes after it (the client should not count on more from a server in that state). */
static const char oom_response[] = "HTTP/1.1 500 Internal Server Error\r\n"
                                   "Content-Type: application/json\r\n"
                                   "Content-Length: 41\r\n"
                                   "Connection: close\r\n"
                                   "\r\n"
                                   "{\"success\":false,\"error\":\"out of memory\"}";

/* req's response becomes the static 500; its connection closes after it. */
static void answer_out_of_memory(uvfib_req_t *req)
{
    req->status = 500;
    req->out = (char *)oom_response;
    req->out_len = sizeof(oom_response) - 1;
    req->out_static = true;
    req->close_after = true;
    req->conn->done_parsing = true; /* nothing after it */
}

int uvfib__conn_respond(uvfib_req_t *req, int status, const char *body, size_t len)
{
    struct uvfib__conn *c = req->conn;
    if (req->answered)
        return UV_EALREADY;
    if (req->job != NULL)
        return UV_EBUSY; /* offloaded: its done callback answers, once the job is back */
    /* A 1xx is interim: the client would go on waiting for the final answer, and take the
     * next request's for it. */
    if (!uvfib__status_is_final(status))
        return UV_EINVAL;
    req->answered = true;
    req->status = status;
    if (c->closing)
        return 0; /* the client is gone: nothing to write, and that is fine */

    struct uvfib__server *srv = c->srv;
    /* Draining: the last request received closes the connection, and nothing after it is
     * parsed. Those before it in a pipeline are answered as usual: dropping them would lose
     * requests a client already counts as sent. */
    if (srv->draining && req == c->tail)
        c->done_parsing = true;
    if (!req->msg.keep_alive || (c->done_parsing && req == c->tail))
        req->close_after = true;
    struct uvfib__response r = {
        .status = status,
        .keep_alive = !req->close_after,
        .head = req->msg.method == HTTP_HEAD,
        .date = uvfib__server_date(srv),
        .headers = req->headers,
        .body = body,
        .body_len = len,
    };
    int err = uvfib__response_serialize(&r, &req->out, &req->out_len);
    if (err < 0)
        answer_out_of_memory(req);
    flush(c);
    return err;
}

int uvfib__conn_respond_error(uvfib_req_t *req, int status, const char *message)
{
    if (req->job != NULL && !req->answered)
        return UV_EBUSY;
    size_t len;
    char *text = uvfib__json_error(message, &len);
    if (text != NULL) {
        int err = uvfib__conn_respond(req, status, text, len);
        uvfib__free(text);
        return err;
    }
    if (req->answered)
        return UV_EALREADY;
    req->answered = true;
    if (!req->conn->closing) {
        answer_out_of_memory(req);
        flush(req->conn);
    }
    return UV_ENOMEM;
}

/* ------------------------------------------------------ requests */

/* A new request at the tail of c's FIFO, with room for text_bytes of message text, or NULL
 * without memory. */
static uvfib_req_t *req_new(struct uvfib__conn *c, size_t text_bytes)
{
    uvfib_req_t *req = uvfib__request_new(c, text_bytes);
    if (req == NULL)
        return NULL;
    if (c->tail != NULL)
        c->tail->next = req;
    else
        c->head = req;
    c->tail = req;
    c->n_reqs++;
    return req;
}

/* Answers req with an error as the last request of its connection: nothing
 * after it is parsed, and the connection closes once it is written. */
static void answer_last(uvfib_req_t *req, int status, const char *message)
{
    req->close_after = true;
    req->conn->done_parsing = true;
    uvfib__conn_respond_error(req, status, message);
}

/* Answers a request the parser could not deliver (malformed, over a limit, or
 * timed out) and stops reading: llhttp errors are sticky. */
static void fail_connection(struct uvfib__conn *c, int status, const char *message)
{
    c->done_parsing = true;
    stop_reading(c);
    uvfib_req_t *req = req_new(c, 0);
    if (req == NULL) {
        uvfib__conn_close(c);
        return;
    }
    if (status == 408)
        c->srv->metrics.count.request_timeouts++;
    else
        c->srv->metrics.count.parse_errors++;
    answer_last(req, status, message);
}

static void dispatch(struct uvfib__conn *c)
{
    struct uvfib__server *srv = c->srv;
    uvfib_req_t *req = req_new(c, uvfib__http_msg_size(&c->http));
    if (req == NULL) {
        uvfib__conn_close(c);
        return;
    }
    /* The message's text is copied into the request's own block, and the parser keeps its
     * (small) buffer for the next request: one allocation and free less per request. */
    uvfib__http_take_into(&c->http, &req->msg, uvfib__request_text(req));
    srv->metrics.count.requests_total++;
    if (!req->msg.keep_alive || req->msg.upgrade)
        c->done_parsing = true; /* the last request on this connection */

    if (srv->draining) {
        answer_last(req, 503, "server shutting down");
        return;
    }
    if (req->msg.http_major == 1 && req->msg.http_minor >= 1 && !req->msg.has_host) {
        answer_last(req, 400, "HTTP/1.1 requests must carry a Host header");
        return;
    }
    if (req->msg.unknown_coding) {
        answer_last(req, 501, "transfer coding not supported (only chunked is)");
        return;
    }
    const char *method = llhttp_method_name((llhttp_method_t)req->msg.method);
    if (uvfib__router_match(&srv->router, method, req->msg.url, req->msg.url_len, &req->match) <
        0) {
        uvfib__conn_respond_error(req, 500, "out of memory");
        return;
    }
    switch (req->match.status) {
    case 200:
        req->match.route->handler(req, req->match.route->arg);
        return;
    case 405:
        /* Without memory for it the 405 still goes out, only without the list. */
        uvfib__header_add(&req->headers, "Allow", req->match.allow);
        /* fall through */
    default:
        uvfib__conn_respond_error(req, req->match.status, req->match.error);
        return;
    }
}

static void on_continue_written(uv_write_t *w, int status)
{
    struct uvfib__conn *c = w->data;
    uvfib__free(w);
    c->n_writes--;
    c->write_progress_ms = uv_now(c->srv->loop);
    if (status < 0)
        uvfib__conn_close(c);
    else
        flush(c); /* a response that waited for it */
    uvfib__conn_unref(c);
}

/* The interim "100 Continue" a request head asked for before its body. It goes out only when
 * nothing is before it on the connection (a response would have to come first); otherwise
 * the client sends its body after its own wait, as it does for a server that never says 100
 * (RFC 9110 10.1.1). */
static void send_continue(struct uvfib__conn *c)
{
    static const char msg[] = "HTTP/1.1 100 Continue\r\n\r\n";
    if (c->head != NULL || c->n_writes > 0 || c->closing)
        return;
    uv_buf_t buf = uv_buf_init((char *)msg, sizeof(msg) - 1);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
    if (n == (int)buf.len)
        return;
    if (n < 0 && n != UV_EAGAIN) {
        uvfib__conn_close(c);
        return;
    }
    /* An empty socket buffer that took less than 25 bytes: the rest through uv_write, ahead
     * of any response (libuv keeps the order of writes). */
    uv_write_t *w = uvfib__malloc(sizeof(*w));
    size_t off = n > 0 ? (size_t)n : 0;
    buf = uv_buf_init((char *)msg + off, (unsigned)(sizeof(msg) - 1 - off));
    if (w == NULL || uv_write(w, (uv_stream_t *)&c->tcp, &buf, 1, on_continue_written) != 0) {
        uvfib__free(w);
        uvfib__conn_close(c);
        return;
    }
    w->data = c;
    c->n_writes++;
    c->write_progress_ms = uv_now(c->srv->loop);
    uvfib__conn_ref(c);
}

/* Parses data with in_process set: a response completed meanwhile (written at once, from a
 * handler) must not resume reading in the middle of it. */
static void process(struct uvfib__conn *c, const char *data, size_t len)
{
    c->in_process = true;
    parse(c, data, len);
    c->in_process = false;
}

/* Parses data[0..len): dispatches each complete request, pauses reading at the
 * pipelining limit (keeping the unparsed rest), or fails the connection. */
static void parse(struct uvfib__conn *c, const char *data, size_t len)
{
    while (len > 0 && !c->closing && !c->done_parsing) {
        if (c->n_reqs >= c->srv->cfg.max_pipeline) {
            /* Too many unanswered requests: parsing pauses until they drain, the bytes are
             * kept (a bounded amount: see keep), so a client cannot make us buffer without
             * end. */
            keep(c, data, len);
            return;
        }
        bool was_in_message = c->http.in_message;
        size_t used;
        int rc = uvfib__http_feed(&c->http, data, len, &used);
        if (rc == UVFIB__HTTP_ERROR) {
            fail_connection(c, c->http.err_status, c->http.err_msg);
            return;
        }
        if (!was_in_message && (c->http.in_message || rc == UVFIB__HTTP_MESSAGE))
            c->msg_start_ms = uv_now(c->srv->loop);
        if (c->http.wants_continue) {
            c->http.wants_continue = false;
            if (rc != UVFIB__HTTP_MESSAGE) /* the body has not all come: the client waits */
                send_continue(c);
        }
        data += used;
        len -= used;
        if (rc == UVFIB__HTTP_MESSAGE)
            dispatch(c);
    }
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct uvfib__conn *c = stream->data;
    if (c->closing || nread == 0)
        return;
    if (nread > 0) {
        c->srv->metrics.count.bytes_in += (uint64_t)nread;
        if (c->pending != NULL)
            keep(c, buf->base, (size_t)nread); /* paused: parsed when the pause ends */
        else
            process(c, buf->base, (size_t)nread);
    } else if (nread == UV_EOF && c->pending != NULL && c->srv->cfg.half_close_answer) {
        /* The requests it kept sending are still to be parsed and answered first. */
        c->eof_kept = true;
        stop_reading(c);
    } else if (nread == UV_EOF) {
        /* As Node's and Go's servers do, the end of its stream counts as leaving (a
         * half-close as a close), so its computations are cancelled rather than run for
         * nobody, also while parsing is paused (cfg.half_close_answer says otherwise). */
        peer_done(c);
        if (c->closing)
            return;
    } else {
        uvfib__conn_close(c); /* an error: the client is gone */
        return;
    }
    if (!c->closing)
        update_timer(c);
}

/* ------------------------------------------------------ deadlines */

static void on_timer(uv_timer_t *timer)
{
    struct uvfib__conn *c = timer->data;
    if (c->closing)
        return;
    uint64_t now = uv_now(c->srv->loop);
    if (now < c->deadline_ms) {
        /* A deadline moved later since the timer was armed (see update_timer): not yet. */
        uv_timer_start(&c->timer, on_timer, c->deadline_ms - now, 0);
        return;
    }
    if (c->n_writes > 0 || c->n_reqs > 0) {
        uvfib__conn_close(c); /* the client stopped reading its responses */
    } else if (c->http.in_message) {
        fail_connection(c, 408, "request header timeout: the request took too long to arrive");
    } else {
        uvfib__conn_close(c); /* idle keep-alive: close quietly */
    }
}

/* The time left until start + limit (0: no limit), at least 1 ms once it has passed. */
static uint64_t left_of(uint64_t start, uint64_t limit, uint64_t now)
{
    if (limit == 0)
        return 0;
    uint64_t end = uvfib__add_sat(start, limit);
    return end > now ? end - now : 1;
}

/* One timer per connection; which deadline it holds follows the state. A deadline later than
 * the armed timer's only moves deadline_ms, and on_timer re-arms for the rest when it fires:
 * a keep-alive connection pushes its idle deadline on with every request, and restarting the
 * timer each time (a heap removal and insertion in libuv, two or three times per request) cost
 * about 600 instructions per light request. An earlier deadline re-arms at once. Either way
 * the connection's deadline is the same loop time as with a restart. */
static void update_timer(struct uvfib__conn *c)
{
    if (c->closing)
        return;
    const uvfib_config_t *cfg = &c->srv->cfg;
    uint64_t now = uv_now(c->srv->loop);
    uint64_t timeout = 0;
    /* A partial request's deadline counts from its first byte, not the last read: a client
     * that trickles one byte at a time still runs out of time. */
    uint64_t header = c->http.in_message ? left_of(c->msg_start_ms, cfg->header_timeout_ms, now)
                                         : 0;
    if (c->n_writes > 0) {
        /* A write's deadline counts from its last progress, never from a read: a client that
         * keeps sending but stops reading still runs out of time. */
        timeout = left_of(c->write_progress_ms, cfg->write_timeout_ms, now);
        if (header > 0 && (timeout == 0 || header < timeout))
            timeout = header;
    } else if (c->n_reqs > 0) {
        timeout = 0; /* computing: the job has its own limits */
    } else if (c->http.in_message) {
        timeout = header;
    } else if (c->reading) {
        timeout = cfg->keepalive_timeout_ms;
    }
    if (timeout == 0) {
        uv_timer_stop(&c->timer);
        return;
    }
    /* Saturated: an embedder may say "never" with UINT64_MAX, and a wrapped deadline would
     * look earlier than every later one, which would then never re-arm the timer. */
    uint64_t deadline = uvfib__add_sat(now, timeout);
    c->deadline_ms = deadline;
    /* libuv keeps the armed timer's due time (loop time + due_in, saturated as ours is). */
    if (uv_is_active((const uv_handle_t *)&c->timer) &&
        now + uv_timer_get_due_in(&c->timer) <= deadline)
        return; /* it fires first; on_timer re-arms for the rest */
    uv_timer_start(&c->timer, on_timer, timeout, 0);
}
