/* scrape.c - GET of the server's /metrics on uvfib-bench's loop (scrape.h): connect, send,
 * read the body with llhttp, hand it to the callback, close. One scrape at a time; a new
 * connection each time, so a server that closes idle connections costs nothing. */
#include "scrape.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llhttp.h>
#include <uv.h>

struct uvfib__bench_scrape {
    uv_loop_t *loop;                 /* borrowed from the caller */
    struct sockaddr_storage addr;    /* the server, copied */
    char *request;                   /* owned; the GET every scrape sends */
    size_t request_len;              /* bytes in request */
    uint64_t timeout_ms;             /* deadline of one scrape, ms */
    uvfib__bench_scrape_cb cb;       /* called once per started scrape */
    void *data;                      /* the caller's, passed to cb */
    uv_timer_t timer;                /* embedded; timer.data == this; the deadline; closed last */
    uv_tcp_t tcp;                    /* embedded; tcp.data == this; one scrape's connection */
    uv_connect_t connect_req;        /* embedded; connect_req.data == this */
    uv_write_t write_req;            /* embedded; write_req.data == this */
    llhttp_t parser;                 /* parser.data == this; initialised per scrape */
    char *body;                      /* owned; the body so far, grown by realloc, freed with s */
    size_t body_len;                 /* bytes used in body */
    size_t body_cap;                 /* bytes allocated for body */
    size_t tag;                      /* the caller's tag of the scrape in flight */
    uint64_t started_ns;             /* uv_hrtime() when it started */
    int http_status;                 /* status of the complete response, 0 before */
    bool in_flight;                  /* started, and cb has not run yet */
    bool tcp_open;                   /* tcp initialised and its close callback not run yet */
    bool message_done;               /* llhttp saw the end of the response */
    bool too_large;                  /* the body passed UVFIB__BENCH_SCRAPE_MAX_BODY */
    bool closing;                    /* uvfib__bench_scrape_close was called; never cleared */
};

/* One read buffer for the scraper: on_read consumes it before it returns. */
static char read_buf[64 * 1024];

static void on_timer_close(uv_handle_t *handle)
{
    uvfib__bench_scrape_t *s = handle->data;
    free(s->body);
    free(s->request);
    free(s);
}

/* Frees s once it is closing and no scrape holds the connection. */
static void maybe_free(uvfib__bench_scrape_t *s)
{
    if (s->closing && !s->in_flight && !s->tcp_open)
        uv_close((uv_handle_t *)&s->timer, on_timer_close);
}

static void on_tcp_close(uv_handle_t *handle)
{
    uvfib__bench_scrape_t *s = handle->data;
    s->tcp_open = false;
    maybe_free(s);
}

/* Ends the scrape in flight: tells the caller, then closes the connection. Idempotent. */
static void finish(uvfib__bench_scrape_t *s, uvfib__bench_scrape_status_t st, const char *reason)
{
    if (!s->in_flight)
        return;
    s->in_flight = false;
    uv_timer_stop(&s->timer);
    bool ok = st == UVFIB__BENCH_SCRAPE_OK;
    s->cb(s->data, s->tag, st, s->http_status, ok ? s->body : NULL, ok ? s->body_len : 0,
          uv_hrtime() - s->started_ns, reason);
    if (!uv_is_closing((uv_handle_t *)&s->tcp))
        uv_close((uv_handle_t *)&s->tcp, on_tcp_close);
}

/* ------------------------------------------------------------------------------------------
 * The response
 * ------------------------------------------------------------------------------------------ */

static int on_body(llhttp_t *parser, const char *at, size_t len)
{
    uvfib__bench_scrape_t *s = parser->data;
    if (len > UVFIB__BENCH_SCRAPE_MAX_BODY - s->body_len) {
        s->too_large = true;
        llhttp_set_error_reason(parser, "body too large");
        return HPE_USER;
    }
    if (s->body_len + len > s->body_cap) {
        size_t cap = s->body_cap ? s->body_cap : 16 * 1024;
        while (cap < s->body_len + len)
            cap *= 2;
        char *grown = realloc(s->body, cap);
        if (grown == NULL) {
            llhttp_set_error_reason(parser, "out of memory");
            return HPE_USER;
        }
        s->body = grown;
        s->body_cap = cap;
    }
    memcpy(s->body + s->body_len, at, len);
    s->body_len += len;
    return HPE_OK;
}

static int on_message_complete(llhttp_t *parser)
{
    uvfib__bench_scrape_t *s = parser->data;
    s->message_done = true;
    s->http_status = llhttp_get_status_code(parser);
    return HPE_PAUSED;   /* one response is all we asked for */
}

static const llhttp_settings_t parser_settings = {
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* Acts on what the parser has seen: the complete response, or its failure. */
static void after_parse(uvfib__bench_scrape_t *s, llhttp_errno_t perr)
{
    if (s->message_done) {
        finish(s, s->http_status == 200 ? UVFIB__BENCH_SCRAPE_OK : UVFIB__BENCH_SCRAPE_STATUS,
               s->http_status == 200 ? NULL : "not 200");
    } else if (s->too_large) {
        finish(s, UVFIB__BENCH_SCRAPE_TOO_LARGE, "body too large");
    } else if (perr != HPE_OK) {
        finish(s, UVFIB__BENCH_SCRAPE_FAILED, llhttp_get_error_reason(&s->parser));
    }
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)handle;
    (void)suggested;
    *buf = uv_buf_init(read_buf, sizeof read_buf);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    uvfib__bench_scrape_t *s = stream->data;
    if (!s->in_flight || nread == 0)
        return;
    if (nread > 0) {
        after_parse(s, llhttp_execute(&s->parser, buf->base, (size_t)nread));
        return;
    }
    if (nread == UV_EOF) {
        /* A body delimited by the close ends here. */
        llhttp_errno_t perr = llhttp_finish(&s->parser);
        after_parse(s, perr);
        finish(s, UVFIB__BENCH_SCRAPE_FAILED, "connection closed before the response ended");
        return;
    }
    finish(s, UVFIB__BENCH_SCRAPE_FAILED, uv_strerror((int)nread));
}

/* ------------------------------------------------------------------------------------------
 * The request
 * ------------------------------------------------------------------------------------------ */

static void on_write(uv_write_t *req, int status)
{
    uvfib__bench_scrape_t *s = req->data;
    if (status < 0)
        finish(s, UVFIB__BENCH_SCRAPE_FAILED, uv_strerror(status));
}

static void on_connect(uv_connect_t *req, int status)
{
    uvfib__bench_scrape_t *s = req->data;
    if (!s->in_flight)
        return;   /* the deadline passed meanwhile: finish() has closed the socket */
    if (status < 0) {
        finish(s, UVFIB__BENCH_SCRAPE_FAILED, uv_strerror(status));
        return;
    }
    llhttp_init(&s->parser, HTTP_RESPONSE, &parser_settings);
    s->parser.data = s;
    uv_buf_t buf = uv_buf_init(s->request, (unsigned)s->request_len);
    int err = uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
    if (err == 0)
        err = uv_write(&s->write_req, (uv_stream_t *)&s->tcp, &buf, 1, on_write);
    if (err != 0)
        finish(s, UVFIB__BENCH_SCRAPE_FAILED, uv_strerror(err));
}

static void on_deadline(uv_timer_t *timer)
{
    finish(timer->data, UVFIB__BENCH_SCRAPE_TIMEOUT, "no complete answer within --timeout");
}

int uvfib__bench_scrape_busy(const uvfib__bench_scrape_t *s)
{
    return s->in_flight || s->tcp_open;
}

int uvfib__bench_scrape_start(uvfib__bench_scrape_t *s, size_t tag)
{
    if (s->closing || uvfib__bench_scrape_busy(s))
        return UV_EBUSY;
    int err = uv_tcp_init(s->loop, &s->tcp);
    if (err != 0)
        return err;
    s->tcp.data = s;
    s->tcp_open = true;
    err = uv_tcp_connect(&s->connect_req, &s->tcp, (const struct sockaddr *)&s->addr,
                         on_connect);
    if (err != 0) {
        uv_close((uv_handle_t *)&s->tcp, on_tcp_close);
        return err;
    }
    s->tag = tag;
    s->started_ns = uv_hrtime();
    s->http_status = 0;
    s->body_len = 0;
    s->message_done = false;
    s->too_large = false;
    s->in_flight = true;
    uv_update_time(s->loop);
    uv_timer_start(&s->timer, on_deadline, s->timeout_ms, 0);
    return 0;
}

#define REQUEST_FORMAT \
    "GET %s HTTP/1.1\r\n" \
    "Host: %s\r\n" \
    "User-Agent: uvfib-bench\r\n" \
    "Accept: text/plain\r\n" \
    "Connection: close\r\n" \
    "\r\n"

int uvfib__bench_scrape_new(uv_loop_t *loop, const struct sockaddr *addr,
                            const char *host_header, const char *path, uint64_t timeout_ms,
                            uvfib__bench_scrape_cb cb, void *data, uvfib__bench_scrape_t **out)
{
    size_t addr_len = addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                  : sizeof(struct sockaddr_in);
    uvfib__bench_scrape_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return UV_ENOMEM;
    int len = snprintf(NULL, 0, REQUEST_FORMAT, path, host_header);
    s->request = len > 0 ? malloc((size_t)len + 1) : NULL;
    if (s->request == NULL) {
        free(s);
        return UV_ENOMEM;
    }
    snprintf(s->request, (size_t)len + 1, REQUEST_FORMAT, path, host_header);
    s->request_len = (size_t)len;
    memcpy(&s->addr, addr, addr_len);
    s->loop = loop;
    s->timeout_ms = timeout_ms;
    s->cb = cb;
    s->data = data;
    s->connect_req.data = s;
    s->write_req.data = s;
    uv_timer_init(loop, &s->timer);   /* cannot fail on a valid loop */
    s->timer.data = s;
    *out = s;
    return 0;
}

void uvfib__bench_scrape_close(uvfib__bench_scrape_t *s)
{
    s->closing = true;
    maybe_free(s);
}
