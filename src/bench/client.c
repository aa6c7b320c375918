/* client.c - uvfib-bench's loop: keep-alive client connections for the closed-loop load and
 * the constant-rate probe, their timers, response parsing with llhttp, the counting, and the
 * once-a-second tick that closes timeline rows, samples the generator's CPU and starts a
 * scrape. One thread, one loop, one request in flight per connection (no pipelining). */
#include "bench.h"
#include "scrape.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include <llhttp.h>
#include <uv.h>

#define NS_PER_MS UINT64_C(1000000)
#define NS_PER_S 1e9

/* A connection moves OFF -> CONNECTING -> IDLE <-> BUSY, and from any of the last three to
 * CLOSING -> OFF when it fails, times out, is told to close, or the run stops. Its timer
 * always holds the one deadline that matters in the current state. */
enum conn_state {
    CONN_OFF,         /* no socket: waiting out the connect backoff, or stopped; timer: backoff */
    CONN_CONNECTING,  /* uv_tcp_connect in flight; timer: connect deadline */
    CONN_IDLE,        /* connected, nothing in flight; timer (probe only): next intended send */
    CONN_BUSY,        /* a request is out, its response incomplete; timer: response deadline */
    CONN_CLOSING,     /* uv_close(tcp) called; on_tcp_close decides what comes next */
};

struct run;
struct workload;

struct conn {
    uv_tcp_t tcp;              /* embedded; tcp.data == this; initialised unless OFF */
    uv_timer_t timer;          /* embedded; timer.data == this; lives for the whole run */
    uv_connect_t connect_req;  /* embedded; connect_req.data == this; used while CONNECTING */
    uv_write_t write_req;      /* embedded; write_req.data == this; in use while write_pending */
    llhttp_t parser;           /* parser.data == this; initialised again on every connect */
    struct workload *wl;       /* borrowed: the workload this connection serves */
    enum conn_state state;     /* see enum conn_state */
    bool write_pending;        /* write_req is with libuv and on_write has not run yet */
    bool write_deferred;       /* a request is due but waits for write_req to come back */
    bool response_done;        /* set by on_message_complete, consumed once the read is fed */
    bool keep_alive;           /* the completed response allows another request */
    int status;                /* HTTP status of the completed response */
    uint64_t backoff_ms;       /* how long to stay OFF after the close, ms */
    uint64_t seq;              /* probe: index of the oldest request not yet resolved */
    uint64_t origin_ns;        /* probe: intended send time of request 0, uv_hrtime() ns */
    uint64_t intended_ns;      /* intended send time of the request in flight, uv_hrtime() ns */
    uint64_t sent_ns;          /* when the request in flight went to libuv, uv_hrtime() ns */
};

struct workload {
    const char *name;                      /* "load" or "probe", for messages */
    struct run *run;                       /* borrowed: the run it belongs to */
    uvfib__bench_stats_t *stats;           /* borrowed from the caller's result */
    bool is_probe;                         /* constant rate (true) or closed loop (false) */
    unsigned n_conns;                      /* connections in conns; 0 = workload off */
    struct conn *conns;                    /* owned; freed after the loop has drained */
    double interval_ns;                    /* probe: ns between intended sends on one conn */
    char *request;                         /* owned; the request bytes every write sends */
    size_t request_len;                    /* bytes in request */
    bool reported[UVFIB__BENCH_ERR_N];     /* the first error of each kind went to stderr */
};

struct run {
    uv_loop_t *loop;                   /* borrowed from the caller */
    const uvfib__bench_opts_t *opts;   /* borrowed */
    const struct sockaddr *addr;       /* borrowed: the target */
    uvfib__bench_result_t *res;        /* borrowed: where the numbers go */
    uvfib__bench_scrape_t *scrape;     /* owned until stop() hands it to scrape_close; NULL
                                          without --server-metrics */
    uv_timer_t tick_timer;             /* embedded; fires at every whole second of the window */
    uint64_t n_ticks;                  /* ticks done; tick k is due at measure_start + k s */
    uint64_t tick_prev_ns;             /* uv_hrtime() of the last tick (CPU sampling) */
    uint64_t cpu_prev_ns;              /* the process's CPU time then, ns */
    uint64_t cpu_start_ns;             /* ... at the start of the window (tick 0), ns */
    size_t n_rows_scraped;             /* rows before this one have had their scrape */
    uint64_t start_ns;                 /* uv_hrtime() when the connections were started */
    uint64_t measure_start_ns;         /* start + warmup: the first instant counted */
    uint64_t measure_end_ns;           /* measure_start + duration: first instant not counted */
    bool stopping;                     /* set once by stop(), never cleared */
    uv_timer_t stop_timer;             /* embedded; fires at measure_end_ns */
    uv_signal_t sigint;                /* embedded; SIGINT stops the run early */
    uv_signal_t sigterm;               /* embedded; so does SIGTERM */
    struct workload load;              /* closed loop */
    struct workload probe;             /* constant rate */
};

static const char *const err_names[UVFIB__BENCH_ERR_N] = {
    [UVFIB__BENCH_ERR_CONNECT] = "connect",
    [UVFIB__BENCH_ERR_READ] = "read",
    [UVFIB__BENCH_ERR_PARSE] = "parse",
    [UVFIB__BENCH_ERR_TIMEOUT] = "timeout",
};

/* One read buffer for every connection: on_read consumes it before it returns, and the loop
 * is single-threaded, so no two reads ever hold it at once. */
static char read_buf[64 * 1024];

static void conn_connect(struct conn *c);
static void conn_schedule(struct conn *c, bool from_timer);
static void on_timer(uv_timer_t *timer);

/* ------------------------------------------------------------------------------------------
 * Counting
 * ------------------------------------------------------------------------------------------ */

static bool in_window(const struct run *run, uint64_t now_ns)
{
    return !run->stopping && now_ns >= run->measure_start_ns && now_ns < run->measure_end_ns;
}

/* The timeline row of an instant inside the window (closing the rows before it), or NULL. */
static uvfib__bench_row_t *row_at(struct run *run, uint64_t now_ns)
{
    if (!in_window(run, now_ns))
        return NULL;
    return uvfib__bench_timeline_at(&run->res->timeline, now_ns - run->measure_start_ns);
}

static uvfib__bench_wl_row_t *wl_row(struct workload *wl, uint64_t now_ns)
{
    uvfib__bench_row_t *row = row_at(wl->run, now_ns);
    if (row == NULL)
        return NULL;
    return wl->is_probe ? &row->probe : &row->load;
}

/* Intended send time of a probe connection's request number seq. Computed from the origin
 * every time rather than by adding intervals, so rounding never accumulates into drift. */
static uint64_t intended_at(const struct conn *c, uint64_t seq)
{
    return c->origin_ns + (uint64_t)((double)seq * c->wl->interval_ns);
}

/* Counts one failure of the given kind, and tells stderr about the first of each kind so a
 * run full of errors says why. uv_err is a libuv error, or 0 when reason says it all. */
static void count_error(struct conn *c, uvfib__bench_err_t kind, int uv_err, const char *reason)
{
    struct workload *wl = c->wl;
    uvfib__bench_wl_row_t *row = wl_row(wl, uv_hrtime());
    if (row != NULL) {
        wl->stats->n_errors[kind]++;
        row->errors++;
    }
    if (!wl->reported[kind]) {
        wl->reported[kind] = true;
        if (uv_err != 0)
            fprintf(stderr, "uvfib-bench: %s: first %s error: %s (%s)\n", wl->name,
                    err_names[kind], uv_strerror(uv_err), uv_err_name(uv_err));
        else
            fprintf(stderr, "uvfib-bench: %s: first %s error: %s\n", wl->name, err_names[kind],
                    reason);
    }
}

/* Resolves the request in flight as answered: counts it, records its latencies, and leaves
 * the connection IDLE. */
static void finish_response(struct conn *c)
{
    uint64_t now_ns = uv_hrtime();
    uvfib__bench_stats_t *st = c->wl->stats;

    c->response_done = false;
    uv_timer_stop(&c->timer);
    c->state = CONN_IDLE;
    c->seq++;
    uvfib__bench_wl_row_t *row = wl_row(c->wl, now_ns);
    if (row == NULL)
        return;
    st->n_responses++;
    row->responses++;
    if (c->status >= 500)
        st->n_5xx++;
    else if (c->status >= 400)
        st->n_4xx++;
    if (c->status >= 400)
        row->errors++;
    /* A probe send may leave up to a millisecond before its intended time (see
     * conn_schedule), so latency runs from the earlier of the two: never below service. */
    uint64_t origin_ns = c->intended_ns < c->sent_ns ? c->intended_ns : c->sent_ns;
    uvfib__hist_record(&st->latency_ns, now_ns - origin_ns);
    uvfib__hist_record(&st->service_ns, now_ns - c->sent_ns);
    uvfib__bench_timeline_latency(&c->wl->run->res->timeline,
                                  now_ns - c->wl->run->measure_start_ns, c->wl->is_probe,
                                  now_ns - origin_ns);
}

/* ------------------------------------------------------------------------------------------
 * Closing and failing
 * ------------------------------------------------------------------------------------------ */

static void on_tcp_close(uv_handle_t *handle)
{
    struct conn *c = handle->data;
    c->state = CONN_OFF;
    if (c->wl->run->stopping)
        return;
    uint64_t wait_ms = c->backoff_ms;
    if (wait_ms == 0 && c->wl->is_probe) {
        /* A server that closes idle connections (or every one at once) is not met with a
         * connect per loop pass: the probe connects again a millisecond before its next send
         * is due, so it opens at most as many connections as it sends requests. */
        uint64_t now_ns = uv_hrtime(), due_ns = intended_at(c, c->seq);
        if (due_ns > now_ns + 2 * NS_PER_MS)
            wait_ms = (due_ns - now_ns) / NS_PER_MS - 1;
    }
    if (wait_ms > 0) {
        uv_update_time(c->wl->run->loop);
        uv_timer_start(&c->timer, on_timer, wait_ms, 0);
    } else {
        conn_connect(c);
    }
}

/* Closes the socket; on_tcp_close reconnects after backoff_ms unless the run is stopping.
 * Idempotent. Pending connect and write callbacks run first, with UV_ECANCELED. */
static void conn_close(struct conn *c, uint64_t backoff_ms)
{
    if (c->state == CONN_OFF || c->state == CONN_CLOSING)
        return;
    uv_timer_stop(&c->timer);
    c->backoff_ms = backoff_ms;
    c->state = CONN_CLOSING;
    uv_close((uv_handle_t *)&c->tcp, on_tcp_close);
}

/* Counts a failure, resolves the request in flight (if any) as failed, and replaces the
 * connection: at once, or after a backoff when connecting was what failed, so a target
 * that is down is not hammered. */
static void conn_fail(struct conn *c, uvfib__bench_err_t kind, int uv_err, const char *reason)
{
    count_error(c, kind, uv_err, reason);
    if (c->state == CONN_BUSY)
        c->seq++;
    conn_close(c, kind == UVFIB__BENCH_ERR_CONNECT ? UVFIB__BENCH_CONNECT_BACKOFF_MS : 0);
}

/* ------------------------------------------------------------------------------------------
 * Responses (llhttp)
 * ------------------------------------------------------------------------------------------ */

static int on_message_begin(llhttp_t *parser)
{
    struct conn *c = parser->data;
    /* Without pipelining, a second response in one read, or one while nothing is in flight,
     * answers nothing we sent. */
    if (c->state != CONN_BUSY || c->response_done) {
        llhttp_set_error_reason(parser, "response without a request");
        return HPE_USER;
    }
    return HPE_OK;
}

static int on_message_complete(llhttp_t *parser)
{
    struct conn *c = parser->data;
    int status = llhttp_get_status_code(parser);
    /* An interim response (100 Continue, 103 Early Hints) comes before the answer, which a
     * client must wait for (RFC 9110, 15.2); 101 would switch protocols, never asked for. */
    if (status >= 100 && status < 200 && status != 101)
        return HPE_OK;
    c->response_done = true;
    c->status = status;
    /* Only meaningful here, before llhttp resets for the next message. */
    c->keep_alive = llhttp_should_keep_alive(parser) != 0;
    return HPE_OK;
}

/* Bodies are not looked at: llhttp skips Content-Length and chunked bodies by itself. */
static const llhttp_settings_t parser_settings = {
    .on_message_begin = on_message_begin,
    .on_message_complete = on_message_complete,
};

/* Parses bytes that arrived, then acts on what they completed. The next request is sent
 * only after the whole read was parsed, so bytes behind the response cannot be mistaken
 * for the answer to it. */
static void conn_feed(struct conn *c, const char *data, size_t len)
{
    llhttp_errno_t perr = llhttp_execute(&c->parser, data, len);
    if (c->response_done)
        finish_response(c);
    if (perr != HPE_OK) {
        conn_fail(c, UVFIB__BENCH_ERR_PARSE, 0, llhttp_get_error_reason(&c->parser));
        return;
    }
    if (c->state != CONN_IDLE)
        return;
    if (c->keep_alive)
        conn_schedule(c, false);
    else
        conn_close(c, 0);
}

/* The end of the stream. A response delimited by EOF ends here (llhttp_finish); otherwise
 * an EOF with a request in flight fails it, and one on an idle connection is the server
 * closing a keep-alive connection, which is no error. */
static void conn_eof(struct conn *c)
{
    llhttp_errno_t perr = llhttp_finish(&c->parser);
    if (c->response_done) {
        finish_response(c);
        conn_close(c, 0);
    } else if (c->state == CONN_BUSY) {
        conn_fail(c, UVFIB__BENCH_ERR_READ, 0,
                  perr == HPE_OK ? "connection closed before the response"
                                 : "connection closed inside the response");
    } else {
        conn_close(c, 0);
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
    struct conn *c = stream->data;
    if (nread == 0 || c->state == CONN_CLOSING)
        return;
    if (nread > 0) {
        uvfib__bench_wl_row_t *row = wl_row(c->wl, uv_hrtime());
        if (row != NULL) {
            c->wl->stats->n_bytes += (uint64_t)nread;
            row->bytes += (uint64_t)nread;
        }
        conn_feed(c, buf->base, (size_t)nread);
    } else if (nread == UV_EOF) {
        conn_eof(c);
    } else if (c->state == CONN_BUSY) {
        conn_fail(c, UVFIB__BENCH_ERR_READ, (int)nread, NULL);
    } else {
        conn_close(c, 0);
    }
}

/* ------------------------------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------------------------------ */

static void on_write(uv_write_t *req, int status);

static void start_write(struct conn *c)
{
    /* The buffer is borrowed from the workload, which outlives every write. */
    uv_buf_t buf = uv_buf_init(c->wl->request, (unsigned)c->wl->request_len);
    int err = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &buf, 1, on_write);
    if (err != 0) {
        conn_fail(c, UVFIB__BENCH_ERR_READ, err, NULL);
        return;
    }
    c->write_pending = true;
}

static void on_write(uv_write_t *req, int status)
{
    struct conn *c = req->data;
    c->write_pending = false;
    /* After uv_close the write comes back with UV_ECANCELED; nothing is left to do. */
    if (c->state == CONN_CLOSING || c->state == CONN_OFF)
        return;
    if (status < 0) {
        if (c->state == CONN_BUSY)
            conn_fail(c, UVFIB__BENCH_ERR_READ, status, NULL);
        else
            conn_close(c, 0);
        return;
    }
    if (c->write_deferred) {
        c->write_deferred = false;
        start_write(c);
    }
}

/* Counts a send: how late it left, and, when its timer woke it (from_timer), how late the
 * generator's own timer fired. */
static void count_send(struct conn *c, uint64_t now_ns, bool from_timer)
{
    uvfib__bench_row_t *row = row_at(c->wl->run, now_ns);
    if (row == NULL)
        return;
    uvfib__bench_stats_t *st = c->wl->stats;
    uvfib__bench_wl_row_t *wr = c->wl->is_probe ? &row->probe : &row->load;
    st->n_sent++;
    wr->sent++;
    if (!c->wl->is_probe)
        return;
    uint64_t late_ns = now_ns > c->intended_ns ? now_ns - c->intended_ns : 0;
    if (from_timer) {
        uvfib__hist_record(&c->wl->run->res->gen.timer_lag_ns, late_ns);
        if ((double)late_ns / 1e6 > row->gen_timer_lag_max_ms)
            row->gen_timer_lag_max_ms = (double)late_ns / 1e6;
    }
    if (late_ns <= UVFIB__BENCH_LATE_NS)
        return;
    st->n_late++;
    wr->late++;
    if (from_timer) {
        st->n_late_generator++;
        wr->late_generator++;
    }
}

/* Sends the next request on an IDLE connection and arms its response deadline. from_timer:
 * the connection's own timer woke it (the probe's next send was due), rather than a response
 * or a connect that completed. */
static void conn_send(struct conn *c, uint64_t now_ns, bool from_timer)
{
    c->state = CONN_BUSY;
    c->intended_ns = c->wl->is_probe ? intended_at(c, c->seq) : now_ns;
    c->sent_ns = now_ns;
    count_send(c, now_ns, from_timer);
    c->response_done = false;
    uv_timer_start(&c->timer, on_timer, c->wl->run->opts->timeout_ms, 0);
    /* The previous response can be parsed before libuv has run the previous write's
     * callback, and write_req cannot be reused until then: on_write sends it. */
    if (c->write_pending)
        c->write_deferred = true;
    else
        start_write(c);
}

/* Decides what an IDLE connection does next. The load sends at once (closed loop). The
 * probe sends when its next request is due, and at once if it is overdue: that request
 * waited behind the previous one, and its latency, which runs from the intended time,
 * includes the wait (no coordinated omission). */
static void conn_schedule(struct conn *c, bool from_timer)
{
    uint64_t now_ns = uv_hrtime();
    if (!c->wl->is_probe) {
        conn_send(c, now_ns, false);
        return;
    }
    uint64_t due_ns = intended_at(c, c->seq);
    /* libuv timers count whole milliseconds of loop time, and wake up late by a fraction
     * of one. Rounding the delay up would add that fraction to every latency (about 0.9 ms
     * measured against /healthz); rounding down makes the timer fire within a millisecond
     * of the due time, either side. A send at most 1 ms early is measured from the actual
     * send (finish_response), so being early hides nothing. */
    if (due_ns <= now_ns + NS_PER_MS) {
        conn_send(c, now_ns, from_timer);
        return;
    }
    uint64_t delay_ms = (due_ns - now_ns) / NS_PER_MS;   /* >= 1 here */
    uv_update_time(c->wl->run->loop);   /* so a stale loop clock does not fire it earlier */
    uv_timer_start(&c->timer, on_timer, delay_ms, 0);
}

/* ------------------------------------------------------------------------------------------
 * Connecting and deadlines
 * ------------------------------------------------------------------------------------------ */

static void on_connect(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    /* Closed meanwhile (connect deadline or stop): status is UV_ECANCELED, on_tcp_close
     * takes it from here. */
    if (c->state != CONN_CONNECTING)
        return;
    if (status < 0) {
        conn_fail(c, UVFIB__BENCH_ERR_CONNECT, status, NULL);
        return;
    }
    uv_timer_stop(&c->timer);
    (void)uv_tcp_nodelay(&c->tcp, 1);   /* small requests: Nagle would only add delay */
    llhttp_init(&c->parser, HTTP_RESPONSE, &parser_settings);
    c->parser.data = c;
    c->write_deferred = false;
    c->response_done = false;
    int err = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (err != 0) {
        conn_fail(c, UVFIB__BENCH_ERR_READ, err, NULL);
        return;
    }
    c->state = CONN_IDLE;
    c->wl->stats->n_connects++;
    conn_schedule(c, false);
}

/* Opens a socket and connects it; failures are counted and retried after the backoff. */
static void conn_connect(struct conn *c)
{
    struct run *run = c->wl->run;
    int err = uv_tcp_init(run->loop, &c->tcp);
    if (err != 0) {
        count_error(c, UVFIB__BENCH_ERR_CONNECT, err, NULL);
        uv_timer_start(&c->timer, on_timer, UVFIB__BENCH_CONNECT_BACKOFF_MS, 0);
        return;
    }
    c->tcp.data = c;
    c->state = CONN_CONNECTING;
    err = uv_tcp_connect(&c->connect_req, &c->tcp, run->addr, on_connect);
    if (err != 0) {
        conn_fail(c, UVFIB__BENCH_ERR_CONNECT, err, NULL);
        return;
    }
    uv_timer_start(&c->timer, on_timer, run->opts->timeout_ms, 0);
}

static void on_timer(uv_timer_t *timer)
{
    struct conn *c = timer->data;
    switch (c->state) {
    case CONN_OFF:
        conn_connect(c);
        break;
    case CONN_CONNECTING:
        conn_fail(c, UVFIB__BENCH_ERR_CONNECT, 0, "no connection within --timeout");
        break;
    case CONN_IDLE:
        conn_schedule(c, true);
        break;
    case CONN_BUSY:
        conn_fail(c, UVFIB__BENCH_ERR_TIMEOUT, 0, "no complete response within --timeout");
        break;
    case CONN_CLOSING:
        break;
    }
}

/* ------------------------------------------------------------------------------------------
 * The run
 * ------------------------------------------------------------------------------------------ */

/* Probe sends of connection c whose intended time is before t. */
static uint64_t due_before(const struct conn *c, uint64_t t)
{
    if (t <= c->origin_ns)
        return 0;
    return (uint64_t)ceil((double)(t - c->origin_ns) / c->wl->interval_ns);
}

/* Requests that were due (probe) or in flight (both) when the run ended at end_ns, counted.
 * A probe request unanswered at the end has waited end_ns - its intended time at least, and
 * its latency is recorded so (as HdrHistogram's coordinated-omission rule would count it): a
 * server that stalls in the last part of the window, or never answers, shows in the figures
 * and fails latency thresholds, instead of leaving only a count behind. */
static uint64_t settle_unfinished(struct workload *wl, uint64_t end_ns)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < wl->n_conns; i++) {
        const struct conn *c = &wl->conns[i];
        if (!wl->is_probe) {
            n += c->state == CONN_BUSY;
            continue;
        }
        uint64_t n_due = due_before(c, end_ns);
        /* Only requests due inside the window count: the warmup's are not measured (nor is
         * anything when a signal ended the run before the window began). */
        uint64_t first = due_before(c, wl->run->measure_start_ns);
        uint64_t from = c->seq > first ? c->seq : first;
        for (uint64_t k = from; end_ns > wl->run->measure_start_ns && k < n_due; k++) {
            uint64_t waited_ns = end_ns - intended_at(c, k);
            uvfib__hist_record(&wl->stats->latency_ns, waited_ns);
            uvfib__bench_timeline_latency(&wl->run->res->timeline,
                                          end_ns - 1 - wl->run->measure_start_ns, true,
                                          waited_ns);
        }
        n += n_due > from ? n_due - from : 0;
        /* In flight though not among those: due in the warmup, or sent a little early for an
         * intended time at or past the end. */
        n += c->state == CONN_BUSY && (c->seq < first || c->seq >= n_due);
    }
    return n;
}

/* Fills each row's probe.intended and the probe's total from the schedule: the sends due in
 * each second of the window, up to end_ns, whether or not they left. */
static void count_intended(struct run *run, uint64_t end_ns)
{
    uvfib__bench_timeline_t *tl = &run->res->timeline;
    uint64_t total = 0;
    for (unsigned k = 0; k < run->probe.n_conns; k++) {
        const struct conn *c = &run->probe.conns[k];
        uint64_t before = due_before(c, run->measure_start_ns);
        for (size_t i = 0; i < tl->n_rows; i++) {
            uint64_t row_end = run->measure_start_ns + (i + 1) * UVFIB__BENCH_NS_PER_ROW;
            uint64_t upto = due_before(c, row_end < end_ns ? row_end : end_ns);
            tl->rows[i].probe.intended += upto - before;
            total += upto - before;
            before = upto;
        }
    }
    run->res->probe.n_intended = total;
}

/* ------------------------------------------------------------------------------------------
 * The tick: once a second, the generator's CPU and a scrape for the second that ended
 * ------------------------------------------------------------------------------------------ */

/* User + system CPU of this process so far, ns (0 if it cannot be read). */
static uint64_t cpu_now_ns(void)
{
    uv_rusage_t ru;
    if (uv_getrusage(&ru) != 0)
        return 0;
    uint64_t us = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
                  (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    return us * 1000u;
}

/* Gives row i the CPU the process used since the previous sample, in cores. */
static void sample_cpu(struct run *run, size_t i, uint64_t now_ns)
{
    uint64_t cpu_ns = cpu_now_ns();
    uvfib__bench_timeline_t *tl = &run->res->timeline;
    if (i < tl->n_rows && now_ns > run->tick_prev_ns && cpu_ns >= run->cpu_prev_ns)
        tl->rows[i].gen_cpu =
            (double)(cpu_ns - run->cpu_prev_ns) / (double)(now_ns - run->tick_prev_ns);
    run->cpu_prev_ns = cpu_ns;
    run->tick_prev_ns = now_ns;
}

/* Runs once per started scrape, with the row index as its tag. */
static void on_scrape_done(void *data, size_t tag, uvfib__bench_scrape_status_t st,
                           int http_status, const char *body, size_t body_len, uint64_t took_ns,
                           const char *reason)
{
    struct run *run = data;
    uvfib__bench_result_t *res = run->res;
    if (tag >= res->timeline.n_rows)
        return;
    uvfib__bench_row_t *row = &res->timeline.rows[tag];
    row->scrape = st;
    row->scrape_http = http_status;
    row->scrape_ms = (double)took_ns / 1e6;
    if (st == UVFIB__BENCH_SCRAPE_OK) {
        res->n_scrapes_ok++;
        uvfib__bench_promtext_scan(body, body_len, row->server);
    } else if (res->scrape_error[0] == '\0') {
        snprintf(res->scrape_error, sizeof res->scrape_error, "%s (HTTP status %d)",
                 reason ? reason : uvfib__bench_scrape_status_name(st), http_status);
    }
}

/* Scrapes the server for row i, unless that row has had its scrape. */
static void start_scrape(struct run *run, size_t i)
{
    uvfib__bench_result_t *res = run->res;
    if (run->scrape == NULL || i >= res->timeline.n_rows || i < run->n_rows_scraped)
        return;
    run->n_rows_scraped = i + 1;
    uvfib__bench_row_t *row = &res->timeline.rows[i];
    int err = uvfib__bench_scrape_start(run->scrape, i);
    if (err == UV_EBUSY) {
        row->scrape = UVFIB__BENCH_SCRAPE_BUSY;
        return;
    }
    res->n_scrapes++;
    if (err != 0)
        on_scrape_done(run, i, UVFIB__BENCH_SCRAPE_FAILED, 0, NULL, 0, 0, uv_strerror(err));
}

static uint64_t tick_due(const struct run *run, uint64_t k)
{
    return run->measure_start_ns + k * UVFIB__BENCH_NS_PER_ROW;
}

static void on_tick(uv_timer_t *timer);

/* Arms the next tick; none at or after the end of the window, which stop() handles. */
static void arm_tick(struct run *run)
{
    uint64_t due_ns = tick_due(run, run->n_ticks);
    if (due_ns >= run->measure_end_ns)
        return;
    uint64_t now_ns = uv_hrtime();
    uint64_t delay_ms = due_ns > now_ns ? (due_ns - now_ns + NS_PER_MS - 1) / NS_PER_MS : 0;
    uv_update_time(run->loop);
    uv_timer_start(&run->tick_timer, on_tick, delay_ms, 0);
}

/* Tick 0 opens the window's CPU account; tick k closes row k - 1 (its latency summaries,
 * its CPU) and scrapes the server for it. */
static void on_tick(uv_timer_t *timer)
{
    struct run *run = timer->data;
    uint64_t now_ns = uv_hrtime();
    if (now_ns >= tick_due(run, run->n_ticks)) {
        if (run->n_ticks == 0) {
            run->cpu_start_ns = run->cpu_prev_ns = cpu_now_ns();
            run->tick_prev_ns = now_ns;
        } else {
            size_t i = (size_t)(run->n_ticks - 1);
            (void)row_at(run, now_ns);   /* closes row i */
            sample_cpu(run, i, now_ns);
            start_scrape(run, i);
        }
        run->n_ticks++;
    }
    arm_tick(run);
}

static void stop_workload(struct workload *wl)
{
    for (unsigned i = 0; i < wl->n_conns; i++) {
        struct conn *c = &wl->conns[i];
        uv_close((uv_handle_t *)&c->timer, NULL);
        if (c->state == CONN_CONNECTING || c->state == CONN_IDLE || c->state == CONN_BUSY) {
            c->state = CONN_CLOSING;
            uv_close((uv_handle_t *)&c->tcp, on_tcp_close);
        }
    }
}

/* Ends the run: takes the final numbers, then closes every handle. Requests still in
 * flight are abandoned and reported as unfinished. uv_run returns once the closes are done. */
static void stop(struct run *run, bool interrupted)
{
    if (run->stopping)
        return;
    uint64_t now_ns = uv_hrtime();
    uint64_t end_ns = now_ns < run->measure_end_ns ? now_ns : run->measure_end_ns;
    uint64_t window_ns = end_ns > run->measure_start_ns ? end_ns - run->measure_start_ns : 0;

    run->res->window_s = (double)window_ns / NS_PER_S;
    run->res->interrupted = interrupted;
    run->res->load.n_unfinished = settle_unfinished(&run->load, end_ns);
    run->res->probe.n_unfinished = settle_unfinished(&run->probe, end_ns);

    /* The last row ends here rather than at a tick: its CPU, and its scrape, which goes out
     * while the workloads' connections close and which the loop waits for. */
    uvfib__bench_timeline_t *tl = &run->res->timeline;
    uvfib__bench_timeline_finish(tl, window_ns);
    count_intended(run, end_ns);
    if (tl->n_rows > 0 && run->n_ticks > 0) {
        sample_cpu(run, tl->n_rows - 1, now_ns);
        run->res->gen.cpu_s = (double)(run->cpu_prev_ns - run->cpu_start_ns) / NS_PER_S;
        start_scrape(run, tl->n_rows - 1);
    }

    run->stopping = true;
    stop_workload(&run->load);
    stop_workload(&run->probe);
    if (run->scrape != NULL) {
        uvfib__bench_scrape_close(run->scrape);
        run->scrape = NULL;
    }
    uv_close((uv_handle_t *)&run->tick_timer, NULL);
    uv_close((uv_handle_t *)&run->stop_timer, NULL);
    uv_close((uv_handle_t *)&run->sigint, NULL);
    uv_close((uv_handle_t *)&run->sigterm, NULL);
}

static void on_stop_timer(uv_timer_t *timer)
{
    struct run *run = timer->data;
    uint64_t now_ns = uv_hrtime();
    /* Millisecond timers can fire a little early; measure the whole window. */
    if (now_ns < run->measure_end_ns) {
        uv_update_time(run->loop);
        uv_timer_start(timer, on_stop_timer,
                       (run->measure_end_ns - now_ns + NS_PER_MS - 1) / NS_PER_MS, 0);
        return;
    }
    stop(run, false);
}

static void on_signal(uv_signal_t *handle, int signum)
{
    (void)signum;
    stop(handle->data, true);
}

#define REQUEST_FORMAT \
    "GET %s HTTP/1.1\r\n" \
    "Host: %s%s%s:%u\r\n" \
    "User-Agent: uvfib-bench\r\n" \
    "Accept: */*\r\n" \
    "\r\n"

/* Formats the request once: GET, Host, no body. Returns 0 or UV_ENOMEM. */
static int build_request(struct workload *wl, const uvfib__bench_opts_t *o, const char *url)
{
    /* A numeric IPv6 host needs brackets in the Host header. */
    bool bracket = strchr(o->host, ':') != NULL && o->host[0] != '[';
    const char *lb = bracket ? "[" : "";
    const char *rb = bracket ? "]" : "";
    unsigned port = o->port;
    int len = snprintf(NULL, 0, REQUEST_FORMAT, url, lb, o->host, rb, port);
    if (len < 0)
        return UV_EINVAL;
    wl->request = malloc((size_t)len + 1);
    if (wl->request == NULL)
        return UV_ENOMEM;
    snprintf(wl->request, (size_t)len + 1, REQUEST_FORMAT, url, lb, o->host, rb, port);
    wl->request_len = (size_t)len;
    return 0;
}

static int workload_init(struct workload *wl, struct run *run, const char *name, bool is_probe,
                         unsigned n_conns, const char *url, uvfib__bench_stats_t *stats)
{
    wl->name = name;
    wl->run = run;
    wl->stats = stats;
    wl->is_probe = is_probe;
    if (n_conns == 0)
        return 0;
    int err = build_request(wl, run->opts, url);
    if (err != 0)
        return err;
    wl->conns = calloc(n_conns, sizeof *wl->conns);
    if (wl->conns == NULL)
        return UV_ENOMEM;
    wl->n_conns = n_conns;
    if (is_probe)
        wl->interval_ns = (double)n_conns * NS_PER_S / run->opts->probe_rate;
    for (unsigned i = 0; i < n_conns; i++) {
        struct conn *c = &wl->conns[i];
        c->wl = wl;
        c->state = CONN_OFF;
        c->connect_req.data = c;
        c->write_req.data = c;
    }
    return 0;
}

static void workload_free(struct workload *wl)
{
    free(wl->conns);
    free(wl->request);
}

/* Starts a workload's connections. The probe's connections are staggered by one global
 * interval, so together they send at evenly spaced instants rather than in bursts of P. */
static void workload_start(struct workload *wl)
{
    for (unsigned i = 0; i < wl->n_conns; i++) {
        struct conn *c = &wl->conns[i];
        uv_timer_init(wl->run->loop, &c->timer);   /* cannot fail on a valid loop */
        c->timer.data = c;
        c->origin_ns = wl->run->start_ns + (uint64_t)((double)i * wl->interval_ns / wl->n_conns);
    }
    for (unsigned i = 0; i < wl->n_conns; i++)
        conn_connect(&wl->conns[i]);
}

/* The Host header of the --server-metrics URL: "host:port", IPv6 literals in brackets. */
static void metrics_host_header(const uvfib__bench_opts_t *o, char *buf, size_t size)
{
    bool bracket = strchr(o->metrics_host, ':') != NULL;
    snprintf(buf, size, "%s%s%s:%u", bracket ? "[" : "", o->metrics_host, bracket ? "]" : "",
             (unsigned)o->metrics_port);
}

int uvfib__bench_client_run(uv_loop_t *loop, const uvfib__bench_opts_t *o,
                            const struct sockaddr *addr, const struct sockaddr *metrics_addr,
                            uvfib__bench_result_t *res)
{
    struct run run;
    memset(&run, 0, sizeof run);
    run.loop = loop;
    run.opts = o;
    run.addr = addr;
    run.res = res;

    unsigned n_probe = o->probe_rate > 0.0 ? o->probe_conns : 0;
    int err = workload_init(&run.load, &run, "load", false, o->load_conns, o->load_url,
                            &res->load);
    if (err == 0)
        err = workload_init(&run.probe, &run, "probe", true, n_probe, o->probe_url, &res->probe);
    if (err == 0 && uvfib__bench_timeline_init(&res->timeline, o->duration_s) != 0)
        err = UV_ENOMEM;
    if (err != 0)
        goto done;

    /* Handles that can fail to open first; once they are up nothing else can fail before
     * the loop runs. Whatever opened is closed again on failure. */
    if (metrics_addr != NULL) {
        char host[UVFIB__BENCH_MAX_HOST_LEN + 16];
        metrics_host_header(o, host, sizeof host);
        err = uvfib__bench_scrape_new(loop, metrics_addr, host, o->metrics_path, o->timeout_ms,
                                      on_scrape_done, &run, &run.scrape);
        if (err != 0)
            goto done;
    }
    bool have_sigint = false;
    err = uv_signal_init(loop, &run.sigint);
    if (err == 0) {
        have_sigint = true;
        err = uv_signal_init(loop, &run.sigterm);
    }
    if (err != 0) {
        if (have_sigint)
            uv_close((uv_handle_t *)&run.sigint, NULL);
        if (run.scrape != NULL)
            uvfib__bench_scrape_close(run.scrape);
        uv_run(loop, UV_RUN_DEFAULT);
        goto done;
    }
    run.sigint.data = &run;
    run.sigterm.data = &run;
    uv_signal_start(&run.sigint, on_signal, SIGINT);
    uv_signal_start(&run.sigterm, on_signal, SIGTERM);
    uv_timer_init(loop, &run.stop_timer);
    run.stop_timer.data = &run;
    uv_timer_init(loop, &run.tick_timer);
    run.tick_timer.data = &run;

    run.start_ns = uv_hrtime();
    run.measure_start_ns = run.start_ns + (uint64_t)(o->warmup_s * NS_PER_S);
    run.measure_end_ns = run.measure_start_ns + (uint64_t)(o->duration_s * NS_PER_S);
    uv_update_time(loop);
    uv_timer_start(&run.stop_timer, on_stop_timer,
                   (run.measure_end_ns - run.start_ns + NS_PER_MS - 1) / NS_PER_MS, 0);
    arm_tick(&run);
    workload_start(&run.load);
    workload_start(&run.probe);

    uv_run(loop, UV_RUN_DEFAULT);

done:
    workload_free(&run.load);
    workload_free(&run.probe);
    return err;
}
