/* uvfib.h - the public API of libuvfib: a small HTTP/1.1 server that lives on a caller's libuv
 * loop, keeps that loop free, and offloads CPU work to libuv's thread pool. It follows libuv's
 * conventions: caller-owned structs, a `data` pointer for the caller, negative errno (UV_E*)
 * returns, asynchronous close, and callbacks that run exactly once for a call that succeeded
 * (never for one that failed).
 *
 * Threads: each declaration says which thread may call it. "Loop thread" is the thread running
 * the uv_loop_t the server was initialised on. */
#ifndef UVFIB_H
#define UVFIB_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define UVFIB_EXTERN __attribute__((visibility("default")))
#else
#define UVFIB_EXTERN
#endif

#define UVFIB_VERSION_MAJOR 0
#define UVFIB_VERSION_MINOR 1
#define UVFIB_VERSION_PATCH 0

struct cJSON;

typedef struct uvfib_server_s uvfib_server_t;
typedef struct uvfib_config_s uvfib_config_t;
typedef struct uvfib_req_s uvfib_req_t;
typedef struct uvfib_work_s uvfib_work_t;
typedef struct uvfib_stats_s uvfib_stats_t;
typedef struct uvfib_readiness_s uvfib_readiness_t;

/** Where offloaded work runs (see uvfib_req_offload()). */
typedef enum {
    UVFIB_MODE_AUTO = 0, /**< the pool, except work flagged UVFIB_OFFLOAD_CHEAP: the loop */
    UVFIB_MODE_OFFLOAD,  /**< always the pool */
    UVFIB_MODE_INLINE    /**< always the loop: the blocking anti-pattern, kept for benchmarks */
} uvfib_mode_t;

/** How pool threads running computations are scheduled (see uvfib_config_t.compute_priority).
 * Linux applies each per thread. A pool thread is at this priority only while it computes work
 * not flagged UVFIB_OFFLOAD_CHEAP: before cheap work, when it goes idle and when it gives the
 * thread back to libuv it puts the thread's own priority back, where the process may raise a
 * priority (root, CAP_SYS_NICE, or RLIMIT_NICE: systemd's LimitNICE=+0); where it may not, a
 * thread once lowered keeps the lower priority for whatever it runs later. */
typedef enum {
    UVFIB_PRIORITY_NORMAL = 0, /**< leave the pool's threads alone (the library's default) */
    UVFIB_PRIORITY_NICE,       /**< raise their nice value by compute_nice */
    UVFIB_PRIORITY_BATCH,      /**< SCHED_BATCH (no wake-up preemption), plus compute_nice */
    UVFIB_PRIORITY_IDLE        /**< SCHED_IDLE: they run only when nothing else wants the CPU */
} uvfib_priority_t;

/** Server configuration. Fill it with uvfib_config_init(), then override fields.
 * uvfib_server_init() copies what it needs: the struct and its strings may go away after that
 * call. Sizes are bytes, times milliseconds; 0 disables a timeout. The struct's size never
 * changes: later versions take new fields from `reserved`, which uvfib_config_init() zeroes,
 * so a caller built against an older header keeps working. */
struct uvfib_config_s {
    const char *host;             /**< address to bind; default "127.0.0.1"; IPv6 works ("::1") */
    int port;                     /**< default 3000; 0 picks a free port (see uvfib_server_port) */
    int backlog;                  /**< listen(2) backlog; default 511 */
    uvfib_mode_t mode;            /**< default UVFIB_MODE_AUTO */
    unsigned threads;             /**< computations run in the pool at once; default: CPUs */
    unsigned max_queue;           /**< computations that may wait for a thread, a bound on
                                       memory; beyond: 503; default 10000 (see max_queue_wait_ms
                                       for the bound that normally applies first) */
    unsigned max_connections;     /**< open connections; beyond, new ones are closed at once */
    unsigned max_pipeline;        /**< unanswered requests per connection before reads pause */
    size_t max_url_bytes;         /**< request target; beyond: 414; default 8 KiB */
    size_t max_header_bytes;      /**< whole header block; beyond: 431; default 16 KiB */
    unsigned max_headers;         /**< header count; beyond: 431; default 100 */
    size_t max_body_bytes;        /**< request body, kept for uvfib_req_body(); beyond: 413;
                                       default 1 KiB */
    uint64_t header_timeout_ms;   /**< first byte of a request to its last byte (head and
                                       body), not extended by trickling; 408 and close;
                                       default 60000 */
    uint64_t keepalive_timeout_ms;/**< idle keep-alive connection; closed quietly; default 5000 */
    uint64_t write_timeout_ms;    /**< a response that the client does not read; closed */
    uint64_t compute_timeout_ms;  /**< a computation not done this long after it was queued
                                       is cancelled; done gets UV_ETIMEDOUT; one expected to
                                       wait longer is refused (as max_queue_wait_ms). Work
                                       run on the loop is not timed; default 0: none */
    uvfib_priority_t compute_priority; /**< opt-in: how pool threads that compute for this
                                       server are scheduled, so the loop thread wins the CPU;
                                       held only while work that is not cheap runs, where
                                       the process may raise it back (see uvfib_priority_t);
                                       default UVFIB_PRIORITY_NORMAL (leave them alone) */
    int compute_nice;             /**< nice increment for UVFIB_PRIORITY_NICE and _BATCH,
                                       0..19 (0: the class alone); default 10 */
    uint64_t loop_resolution_ms;  /**< period of the loop-delay monitor's timer; default 10;
                                       0: no timer (and no max_loop_delay_ms) */
    uint64_t monitor_window_ms;   /**< window of the recent loop delay that max_loop_delay_ms
                                       judges (the /metrics gauges cover the time since the
                                       previous scrape instead); default 1000 */
    uint64_t max_loop_delay_ms;   /**< while the recent loop delay is above this, computations
                                       are refused with 503 (see uvfib_req_offload); 0: off */
    uint64_t max_queue_wait_ms;   /**< admission: while the wait a new computation can
                                       expect (waiting jobs / threads * recent compute time) is
                                       above this, computations are refused with 503 and
                                       Retry-After; default 5000; 0: off */
    int access_log_fd;            /**< where to write the access log, one JSON line per
                                       request; borrowed, never closed by uvfib; default -1:
                                       off (the executable's default is stderr) */
    size_t access_log_buffer_bytes; /**< access-log lines waiting for the writer thread;
                                       beyond, lines are dropped and counted; default 1 MiB */
    int half_close_answer;        /**< what the end of a client's stream (EOF: it closed, or
                                       shut down its sending side) means while its requests
                                       are unanswered. 0 (default), as Node's and Go's
                                       servers: the client left, its work is cancelled and
                                       nothing more is written. 1, as nginx serving a file:
                                       the requests it sent are answered, then the connection
                                       closes; work stops only when a write fails. */
    int reuseport;                /**< 1: uvfib_server_listen() binds with SO_REUSEPORT, so
                                       that several processes (or servers) listening on the
                                       same host and port share it and the kernel spreads new
                                       connections over them by a hash of the address pair;
                                       every one of them must set it; default 0 */
    uint64_t coalesce_ms;         /**< while every compute thread has a computation waiting
                                       behind it, a finished one may wait up to this long for
                                       the next to finish, so that one wake-up of the loop
                                       answers both (up to half the wake-ups of the loop and
                                       the client, each a preemption of a computing core); the
                                       loop takes it sooner whenever it wakes for anything
                                       else. Default 1; 0: each one wakes the loop at once */
    uint64_t reserved[6];         /**< zero; for fields of later versions */
};

/** Counters, read at one moment (see uvfib_server_stats()). The struct's size never changes:
 * later versions take new counters from `reserved`. */
struct uvfib_stats_s {
    uint64_t connections_open;     /**< open now */
    uint64_t connections_total;    /**< accepted since init */
    uint64_t connections_rejected; /**< closed at once: over max_connections or draining */
    uint64_t requests_total;       /**< requests parsed and routed */
    uint64_t responses_total;      /**< responses fully written */
    uint64_t parse_errors;         /**< connections closed for a malformed request */
    uint64_t jobs_queued;          /**< waiting for a thread now */
    uint64_t jobs_running;         /**< taken by a pool thread and not yet back on the loop
                                        (running, or finished and on its way back) */
    uint64_t jobs_completed;       /**< ran to completion */
    uint64_t jobs_cancelled;       /**< dropped or stopped because their client went away */
    uint64_t jobs_timed_out;       /**< cancelled by compute_timeout_ms */
    uint64_t jobs_rejected;        /**< refused because the queue was full (503) */
    uint64_t jobs_inline;          /**< run on the loop (mode inline, or cheap in mode auto) */
    uint64_t request_timeouts;     /**< connections closed with 408: a request did not arrive
                                        within header_timeout_ms */
    uint64_t access_log_dropped;   /**< access-log lines never written: the writer's buffer was
                                        full, the descriptor failed, or a close gave up on it */
    uint64_t job_handbacks;        /**< times the loop took finished computations back from
                                        the pool; jobs_completed per hand-back grows above 1
                                        when coalesce_ms lets them share wake-ups */
    uint64_t requests_abandoned;   /**< requests the server left unanswered when it closed
                                        their connection (a drain's deadline, or
                                        uvfib_server_close()): logged as 444 */
    uint64_t reserved[4];          /**< zero; for counters of later versions */
};

/** Whether the server should take traffic now (see uvfib_server_readiness()). */
struct uvfib_readiness_s {
    int ready;                     /**< 1: take traffic; 0: not now */
    int draining;                  /**< 1: a graceful shutdown is under way */
    unsigned retry_after_s;        /**< when not ready: seconds before asking again */
    char reason[200];              /**< when not ready: why, one line; else "" */
    uint64_t reserved[4];          /**< zero; for fields of later versions */
};

/** A server. The caller owns this struct (like a uv_tcp_t) and must keep it alive until the
 * close callback has run. */
struct uvfib_server_s {
    void *data;              /**< the caller's; uvfib never touches it */
    uv_loop_t *loop;         /**< read-only: the loop given to uvfib_server_init() */
    /* private */
    struct uvfib__server *impl;
};

/** Runs once the server is fully closed: no handle of uvfib is left on the loop. Inside it,
 * uvfib_server_stats() still gives the final figures; it may free `server` (when both a
 * shutdown's and a close's callbacks run, the shutdown's first, the second still receives
 * `server` and may pass it to uvfib calls, but must not read its fields if the first freed
 * it). If it does not, `server` stays closed after it returns, until uvfib_server_init()
 * again: a close or shutdown returns UV_EALREADY, a listen, route or unready UV_EBUSY,
 * uvfib_server_metrics() UV_EINVAL, uvfib_server_sockname() and uvfib_server_port() UV_EBADF,
 * uvfib_server_stats() zeros, uvfib_server_overloaded() 1 ("closed"), and the readiness is
 * draining, "closed". */
typedef void (*uvfib_close_cb)(uvfib_server_t *server);

/** A route handler: runs on the loop for each matching request. It must answer the request
 * exactly once, now or later: with a uvfib_res_*() call, or by handing it to
 * uvfib_req_offload(), whose done callback answers it. Nothing answers for it: a request left
 * unanswered holds its connection (and a shutdown without a timeout) open. */
typedef void (*uvfib_handler_cb)(uvfib_req_t *req, void *arg);

/** Frees a route's argument once the server no longer needs it (see uvfib_route_add_ex()). */
typedef void (*uvfib_free_cb)(void *arg);

/** Runs in a pool thread (or on the loop in inline mode). It may touch only `ctx`; it should
 * poll uvfib_work_cancelled() now and then if it runs long. */
typedef void (*uvfib_work_cb)(uvfib_work_t *work, void *ctx);

/** Runs on the loop once the work is over, exactly once per successful uvfib_req_offload().
 * `status` is 0 when the work function ran, UV_ECANCELED when the client went away, or
 * UV_ETIMEDOUT past cfg.compute_timeout_ms (in both cases the work never ran, or was asked to
 * stop early). It must free `ctx` if `ctx` is owned, and must answer `req` (or offload it
 * again): uvfib sets no deadline on an unanswered request, so its client would wait until it
 * gives up, and a shutdown until its timeout. Answering a request whose client has gone
 * writes nothing and is not an error. */
typedef void (*uvfib_done_cb)(uvfib_req_t *req, void *ctx, int status);

/* ---------------------------------------------------------------- server */

/** Fills `cfg` with the defaults. Any thread. */
UVFIB_EXTERN void uvfib_config_init(uvfib_config_t *cfg);

/** Initialises `server` on `loop` with a copy of `cfg` (NULL: the defaults). Nothing is bound
 * yet; the access log's writer thread starts when cfg.access_log_fd >= 0. Loop thread (the
 * loop need not run yet). @return 0, or UV_EINVAL (a bad config), UV_ENOMEM, or an error from
 * starting the writer thread. */
UVFIB_EXTERN int uvfib_server_init(uv_loop_t *loop, uvfib_server_t *server,
                                   const uvfib_config_t *cfg);

/** Adds a route. `method` is "GET", "POST", ... (a GET route also answers HEAD on a path with
 * no HEAD route of its own). `pattern` is a path whose segments may be `:name` parameters (each
 * name once), e.g. "/fibonacci/:number". Routes match in the order added, a route for the
 * method as sent before the GET route a HEAD falls back to. `arg` is passed to the handler and stays the caller's.
 * Loop thread, before uvfib_server_listen(). @return 0, UV_EINVAL (bad method or pattern),
 * UV_ENOMEM, UV_EBUSY (listening, draining or closed). */
UVFIB_EXTERN int uvfib_route_add(uvfib_server_t *server, const char *method,
                                 const char *pattern, uvfib_handler_cb handler, void *arg);

/** As uvfib_route_add(), and the server owns `arg` from a successful call: `arg_free(arg)` runs
 * once, when the server is freed, after its close callbacks have returned. On failure `arg` is
 * still the caller's and `arg_free` is not called. */
UVFIB_EXTERN int uvfib_route_add_ex(uvfib_server_t *server, const char *method,
                                    const char *pattern, uvfib_handler_cb handler, void *arg,
                                    uvfib_free_cb arg_free);

/** Binds cfg.host and cfg.port (with SO_REUSEPORT when cfg.reuseport is set) and listens.
 * Loop thread. @return 0, UV_EBUSY (listening already, draining or closed), UV_EINVAL (host
 * is not an address), or a libuv error (UV_EADDRINUSE, ...). After an error, close the
 * server. */
UVFIB_EXTERN int uvfib_server_listen(uvfib_server_t *server);

/** Listens on a socket someone else opened and bound, e.g. one systemd passed (socket
 * activation), instead of binding cfg.host and cfg.port (which are then unused, as is
 * cfg.reuseport). `fd` must be an IPv4 or IPv6 TCP socket, bound, listening already or not;
 * one that listens keeps its backlog, another gets cfg.backlog. The server listens on a
 * duplicate of `fd` that it owns and closes when it closes: `fd` stays the caller's, who
 * should close it once this call has returned (while either is open the socket listens, and
 * connections that arrive after the server stopped accepting would wait there unanswered).
 * The socket becomes non-blocking, which every descriptor of it shares, `fd` included.
 * Loop thread. @return 0, UV_EBUSY (as uvfib_server_listen()), UV_EINVAL (`fd` is not a
 * bound TCP socket: a UDP or Unix socket, a file, a closed descriptor), or a libuv error.
 * After an error, close the server. */
UVFIB_EXTERN int uvfib_server_listen_fd(uvfib_server_t *server, int fd);

/** The address the server listens on, as getsockname(2) gives it (an IPv4 or IPv6 address
 * and port; with port 0 or a passed socket, the real ones). Loop thread. @return 0, or a
 * negative error (UV_EBADF before listening). */
UVFIB_EXTERN int uvfib_server_sockname(const uvfib_server_t *server,
                                       struct sockaddr_storage *addr);

/** The port actually bound (useful with port 0), or a negative error. Loop thread. */
UVFIB_EXTERN int uvfib_server_port(const uvfib_server_t *server);

/** Takes the server out of rotation without stopping anything: from now on
 * uvfib_server_readiness() reports it not ready with `reason` (copied, at most 159 bytes, one
 * line; NULL: "draining (shutting down)"), so `GET /readyz` answers 503, while every route is
 * served as before, keep-alive included, and new connections are still accepted. Call it
 * first when stopping behind a load balancer: its health checks move traffic away, and a
 * uvfib_server_shutdown() some seconds later finds no new clients to refuse (the executable's
 * --drain-delay; docs/deploy.md, the drain). It lasts until the server is closed. Loop
 * thread. @return 0, or UV_EBUSY (a close was requested, or a drain has ended in one). */
UVFIB_EXTERN int uvfib_server_unready(uvfib_server_t *server, const char *reason);

/** Graceful shutdown: stops accepting, closes idle connections, answers new requests on open
 * connections with 503 and `Connection: close`, lets in-flight requests finish and be
 * written (the requests of a pipeline already parsed are all answered, and the connection
 * closes after the last: its response says `Connection: close` unless it was formatted before
 * the drain began; requests not yet parsed, beyond cfg.max_pipeline, are not). Once the last
 * connection is gone, or `timeout_ms` has passed (0: no deadline), everything left is closed
 * and `cb` runs once. The access log's writer has until
 * the same deadline for its last lines, and gives up sooner on a descriptor that takes nothing
 * for a second (a pipe nobody reads); lines not written count in access_log_dropped. Works on
 * a server that never listened too.
 * Loop thread. @return 0; or UV_EALREADY when a shutdown or close was requested before: then
 * this call forces the close now and `cb` is not used. */
UVFIB_EXTERN int uvfib_server_shutdown(uvfib_server_t *server, uint64_t timeout_ms,
                                       uvfib_close_cb cb);

/** Closes everything now: connections are closed, waiting work is dropped, running work is
 * asked to stop, the access log's writer gets at most a second for its last lines. `cb` runs
 * once, when nothing is left; then the caller may free `server` and uv_loop_close() succeeds. During a graceful shutdown it forces the close, and both
 * callbacks run, the shutdown's first. Loop thread. @return 0; or UV_EALREADY when a close
 * was requested before (or a shutdown has already ended in one): `cb` is not used. */
UVFIB_EXTERN int uvfib_server_close(uvfib_server_t *server, uvfib_close_cb cb);

/** Copies the server's counters into `out`. Loop thread; also inside the close callbacks,
 * where it gives the final figures. */
UVFIB_EXTERN void uvfib_server_stats(const uvfib_server_t *server, uvfib_stats_t *out);

/** Every counter, gauge and histogram of the server in the Prometheus text format 0.0.4 (see
 * docs/observability.md), into *text (free it with uvfib_free()) of *len bytes. The gauges of
 * loop delay, utilization and longest queue wait cover the time since the previous successful
 * call (as prom-client's collect), which this call ends. Loop thread.
 * @return 0, UV_ENOMEM, or UV_EINVAL once the server is closed (see uvfib_close_cb). */
UVFIB_EXTERN int uvfib_server_metrics(uvfib_server_t *server, char **text, size_t *len);

/** The same text, without ending the window: for a reader that is not the scraper (`HEAD
 * /metrics`, a person with curl -I), so that it takes nothing from the next scrape. */
UVFIB_EXTERN int uvfib_server_metrics_peek(uvfib_server_t *server, char **text, size_t *len);

/** Whether the server should take traffic now: not after uvfib_server_unready() (`reason` is
 * the one it was given, `draining` still 0: it serves and accepts as before), not while
 * draining, nor while a new computation would be refused (see uvfib_server_overloaded()).
 * Loop thread. */
UVFIB_EXTERN void uvfib_server_readiness(const uvfib_server_t *server, uvfib_readiness_t *out);

/** Registers `GET /metrics` (uvfib_server_metrics()), `HEAD /metrics` (the same headers,
 * through uvfib_server_metrics_peek(), so that it ends no window) and `GET /readyz` (200
 * `{"status":"ready"}`, or 503 with Retry-After and the reason while not ready), two routes
 * written on this API (src/ops.c). Loop thread, before uvfib_server_listen().
 * @return 0, UV_ENOMEM, UV_EBUSY (after listen). */
UVFIB_EXTERN int uvfib_metrics_routes_add(uvfib_server_t *server);

/** Whether a new computation would be refused now: the recent event-loop delay is over
 * cfg.max_loop_delay_ms, the wait it can expect is over cfg.max_queue_wait_ms, or max_queue
 * jobs wait. uvfib_req_offload() already refuses work then; a handler can ask first to refuse
 * early. When `reason` is not NULL, a one-line reason (or "") is written into reason[cap].
 * Loop thread. @return 1 when overloaded, else 0. */
UVFIB_EXTERN int uvfib_server_overloaded(const uvfib_server_t *server, char *reason, size_t cap);

/* --------------------------------------------------------------- requests */

/* Everything a request hands out is valid until the request is answered (or, after a
 * successful uvfib_req_offload(), until its done callback returns). Loop thread. */

/** The request method, e.g. "GET". A HEAD request answered by a GET route says "GET" (see
 * uvfib_req_is_head), one answered by a HEAD route "HEAD". */
UVFIB_EXTERN const char *uvfib_req_method(const uvfib_req_t *req);
/** 1 when the client sent HEAD: the body is counted in Content-Length but not sent. */
UVFIB_EXTERN int uvfib_req_is_head(const uvfib_req_t *req);
/** The path as sent, without the query string. */
UVFIB_EXTERN const char *uvfib_req_path(const uvfib_req_t *req);
/** The percent-decoded value of path parameter `name` (without ':'), or NULL. */
UVFIB_EXTERN const char *uvfib_req_param(const uvfib_req_t *req, const char *name);
/** The value of request header `name` (matched in any case; the first of several), as sent
 * without surrounding whitespace, or NULL. */
UVFIB_EXTERN const char *uvfib_req_header(const uvfib_req_t *req, const char *name);
/** The raw query string, without the '?' (e.g. "a=1&b=x%20y"), or "" when there is none;
 * NULL without memory. */
UVFIB_EXTERN const char *uvfib_req_query(uvfib_req_t *req);
/** The decoded value of query parameter `name` (form encoding: '+' is a space, %XX escapes;
 * the first of several; "" for a parameter without '='), or NULL when it is absent, its value
 * is malformed (a bad %XX escape or %00), or there is no memory. Pairs whose names are
 * malformed are skipped, not taken for the one asked for. */
UVFIB_EXTERN const char *uvfib_req_query_param(uvfib_req_t *req, const char *name);
/** The request body (at most cfg.max_body_bytes: a longer one was refused with 413 before the
 * handler ran) and its length in *len (when not NULL), or NULL and 0 when there is none. */
UVFIB_EXTERN const void *uvfib_req_body(const uvfib_req_t *req, size_t *len);
/** The server that received the request. */
UVFIB_EXTERN uvfib_server_t *uvfib_req_server(const uvfib_req_t *req);

/* -------------------------------------------------------------- responses */

/* A request is answered once. After a uvfib_res_send/json/error() call that returned anything
 * but UV_EINVAL or UV_EBUSY (which send nothing), the request is finished: `req` must not be
 * used again, except inside a done callback, where it stays valid until the callback returns.
 * Loop thread. */

/** Adds a response header (copied), before answering. Content-Length, Date and Connection are
 * set by uvfib and Transfer-Encoding is never used, so those four names (in any case) are
 * refused; Content-Type is application/json unless a Content-Type is added here.
 * @return 0, UV_EINVAL (answered already, NULL, a name that is not an HTTP token, a control
 * character other than a tab in the value, one of those four names), UV_ENOMEM. */
UVFIB_EXTERN int uvfib_res_header(uvfib_req_t *req, const char *name, const char *value);

/** Answers with `status` (200..999: an interim 1xx is refused) and `body` of `len` bytes, JSON text unless a Content-Type
 * header says otherwise (copied). @return 0; UV_EALREADY (answered before: nothing sent),
 * UV_EBUSY (offloaded with uvfib_req_offload(), whose done callback answers: nothing sent),
 * UV_EINVAL (bad status, or a NULL body with len > 0: nothing sent, the request is still to
 * be answered), UV_ENOMEM (no memory for the response: a 500 was sent instead, and the
 * connection closes after it). A 204 or 304 has no content (RFC 9110 6.4.1): it goes out
 * without the body, Content-Length or the default Content-Type. */
UVFIB_EXTERN int uvfib_res_send(uvfib_req_t *req, int status, const char *body, size_t len);

/** Answers with `status` and the JSON printed from `json` (borrowed: the caller still owns and
 * deletes the tree). As uvfib_res_send(); a NULL `json` is UV_EINVAL, and a tree cJSON has no
 * memory to print is UV_ENOMEM (a 500 was sent instead). */
UVFIB_EXTERN int uvfib_res_json(uvfib_req_t *req, int status, const struct cJSON *json);

/** Answers `{"success":false,"error":message}` with `status`. As uvfib_res_send(). */
UVFIB_EXTERN int uvfib_res_error(uvfib_req_t *req, int status, const char *message);

/* -------------------------------------------------------------- offload */

/** The work costs less than the hand-off: in UVFIB_MODE_AUTO it runs on the loop; in the
 * pool (UVFIB_MODE_OFFLOAD) it runs at the thread's own priority, not compute_priority. */
#define UVFIB_OFFLOAD_CHEAP 1u

/** Hands `work(ctx)` to the thread pool (or runs it on the loop: see uvfib_mode_t), then runs
 * `done(req, ctx, status)` on the loop, exactly once. At most `threads` jobs run at once; the
 * rest wait in the server's own FIFO. If the client goes away, a waiting job is dropped and a
 * running one sees uvfib_work_cancelled() != 0. Loop thread.
 * @return 0: done will run (or has run, on the loop), and `req` is its: the caller does not
 * use it again (an answer meanwhile would be UV_EBUSY, nothing sent). On any error the
 * request's answer is settled (a 503 or 500 went out, or it had been answered already, or its
 * client is gone: do not answer it), `done` will not run, and `ctx` is still the caller's to
 * free:
 *   UV_EBUSY      refused by admission: 503 with Retry-After and the reason was sent
 *   UV_ENOMEM     no memory: 500 was sent
 *   UV_ECANCELED  the client is gone: nothing can be sent
 *   UV_EINVAL     answered or offloaded already (nothing sent), or work or done is NULL (500
 *                 sent). */
UVFIB_EXTERN int uvfib_req_offload(uvfib_req_t *req, uvfib_work_cb work, uvfib_done_cb done,
                                   void *ctx, unsigned flags);

/** Measures what handing work to the pool and back costs in this process now: `rounds` empty
 * jobs, one at a time, through the same path uvfib_req_offload() takes (the server's FIFO, a
 * runner in libuv's pool, the wake-up back to the loop), each started 1 ms after the last came
 * back, so that both threads are asleep as at a modest request rate. Each round trip in ns goes
 * to samples_ns[i], in order. It runs a private loop and blocks for about rounds ms: call it
 * before uv_run(), e.g. to choose what runs on the loop. Any thread that is not running a
 * loop. @return 0, UV_EINVAL, UV_ENOMEM, or what uv_loop_init() returned (e.g. UV_EMFILE). */
UVFIB_EXTERN int uvfib_measure_handoff(unsigned rounds, uint64_t *samples_ns);

/** Non-zero once the job should stop (its client went away, its deadline passed, or the server
 * is closing). Any thread; a cheap relaxed atomic load. */
UVFIB_EXTERN int uvfib_work_cancelled(const uvfib_work_t *work);

/* ----------------------------------------------------------------- misc */

/** Frees memory the library handed over (uvfib_server_metrics()). Any thread. */
UVFIB_EXTERN void uvfib_free(void *ptr);

/** A message for a uvfib or libuv error code. Any thread. */
UVFIB_EXTERN const char *uvfib_strerror(int err);

/** "MAJOR.MINOR.PATCH". Any thread. */
UVFIB_EXTERN const char *uvfib_version_string(void);

#ifdef __cplusplus
}
#endif

#endif /* UVFIB_H */
