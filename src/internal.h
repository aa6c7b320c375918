/* internal.h - private structs and uvfib__* functions shared between modules.
 * Nothing here is part of the public API; the layout may change at any time.
 * Section order follows a request: allocation, kernel, router, HTTP parsing,
 * responses, offload, connections, server. */
#ifndef UVFIB_INTERNAL_H
#define UVFIB_INTERNAL_H

#include "uvfib.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <llhttp.h>

#include "accesslog.h"
#include "admission.h"
#include "alloc.h"
#include "metrics.h"
#include "num.h"
#include "pool.h"
#include "strict.h"

#define UVFIB__CONTAINER_OF(ptr, type, field) ((type *)((char *)(ptr)-offsetof(type, field)))

/* ----------------------------------------------------------- router.c */

#define UVFIB__MAX_SEGMENTS 16

struct uvfib__route {
    char *method;                 /* owned: "GET", ... */
    char *pattern;                /* owned: the pattern as given */
    char *segs[UVFIB__MAX_SEGMENTS]; /* borrowed from pattern_buf: segment text, ":name" for params */
    size_t n_segs;
    char *pattern_buf;            /* owned: pattern split at '/', NUL-separated */
    uvfib_handler_cb handler;
    void *arg;                    /* the caller's, or owned when free_arg is set */
    void (*free_arg)(void *arg);  /* NULL for caller-owned args */
    struct uvfib__route *next;    /* owned list */
};

struct uvfib__router {
    struct uvfib__route *head, *tail; /* owned */
};

/* The outcome of routing one request target. */
struct uvfib__match {
    int status;                   /* 200 matched, 400 bad target, 404, 405 */
    const char *error;            /* static message when status != 200 */
    char allow[64];               /* for 405: "GET, HEAD" */
    const struct uvfib__route *route; /* borrowed from the router */
    char *path;                   /* owned: path as sent, without query */
    char *decoded;                /* owned: decoded segments, NUL-separated */
    const char *segv[UVFIB__MAX_SEGMENTS]; /* borrowed from decoded */
    size_t n_segs;
};

void uvfib__router_init(struct uvfib__router *r);
void uvfib__router_free(struct uvfib__router *r);
int uvfib__router_add(struct uvfib__router *r, const char *method, const char *pattern,
                      uvfib_handler_cb handler, void *arg, void (*free_arg)(void *));
/* Routes `method` + `target` (origin-form or absolute-form request target).
 * Always fills m (free it with uvfib__match_free). @return 0 or UV_ENOMEM. */
int uvfib__router_match(const struct uvfib__router *r, const char *method, const char *target,
                        size_t target_len, struct uvfib__match *m);
void uvfib__match_free(struct uvfib__match *m);
/* The decoded value of parameter `name`, or NULL. */
const char *uvfib__match_param(const struct uvfib__match *m, const char *name);
/* Decodes %XX escapes of src[0..len) into dst (room for len + 1). Rejects
 * malformed escapes and NUL bytes. @return decoded length, or -1. */
long uvfib__percent_decode(const char *src, size_t len, char *dst);

/* ------------------------------------------------------------- http.c */

enum {
    UVFIB__HTTP_MORE = 0, /* every byte consumed; no complete message yet */
    UVFIB__HTTP_MESSAGE,  /* one message complete: take it from h->msg */
    UVFIB__HTTP_ERROR     /* malformed or over a limit: h->err_status, h->err_msg */
};

struct uvfib__http_limits {
    size_t max_url_bytes;
    size_t max_header_bytes;
    unsigned max_headers;
    size_t max_body_bytes;
};

/* One parsed request head, as handed to the connection. */
struct uvfib__http_msg {
    char *url;                    /* owned until taken; NUL-terminated */
    size_t url_len;
    uint8_t method;               /* llhttp_method_t */
    uint8_t http_major, http_minor;
    bool keep_alive;              /* llhttp_should_keep_alive() at message end */
    bool upgrade;                 /* Upgrade/CONNECT: we answer, then close */
    bool has_host;
};

/* Parser state of one connection: llhttp plus the spans it hands us in pieces. */
struct uvfib__http {
    llhttp_t parser;              /* parser.data == this */
    uvfib__strict_t strict;       /* RFC 9112 check of the current request head */
    bool head_checked;            /* strict has seen the whole head of this request */
    const struct uvfib__http_limits *limits; /* borrowed from the server */
    struct uvfib__http_msg msg;   /* the message being parsed */
    size_t url_cap;               /* bytes allocated for msg.url */
    size_t header_bytes;          /* names + values + separators so far */
    unsigned n_headers;
    size_t body_bytes;
    char field[8];                /* start of the current header name, lower-cased */
    size_t field_len;             /* full length of the current header name */
    bool in_host;                 /* parsing the value of the Host header */
    bool host_ws;                 /* whitespace seen in it: only more may follow (OWS) */
    bool in_message;              /* between message begin and complete */
    bool paused;                  /* paused after a message: resume before the next feed */
    int err_status;               /* HTTP status for an error: 400, 413, 414, 431 */
    const char *err_msg;          /* static text for an error */
};

void uvfib__http_init(struct uvfib__http *h, const struct uvfib__http_limits *limits);
void uvfib__http_free(struct uvfib__http *h);
/* Feeds data[0..len). *consumed says how many bytes were used: all of them for
 * MORE, up to the end of the message for MESSAGE (the rest belongs to the next
 * one: feed it again), unspecified for ERROR (errors are final). */
int uvfib__http_feed(struct uvfib__http *h, const char *data, size_t len, size_t *consumed);
/* The peer sent EOF. @return MORE when that is a clean end, ERROR mid-message. */
int uvfib__http_finish(struct uvfib__http *h);
/* Hands the completed message to the caller (who then owns msg->url). */
void uvfib__http_take(struct uvfib__http *h, struct uvfib__http_msg *out);

/* --------------------------------------------------------- response.c */

/* Extra response headers, a singly linked list in insertion order. */
struct uvfib__header {
    struct uvfib__header *next;   /* owned */
    size_t name_len, value_len;
    char text[];                  /* "name\0value\0" */
};

struct uvfib__response {
    int status;
    bool keep_alive;              /* "Connection: keep-alive" or "close" */
    bool head;                    /* HEAD: headers only, Content-Length of the body */
    const char *date;             /* borrowed: IMF-fixdate */
    const struct uvfib__header *headers; /* borrowed */
    const char *body;             /* borrowed JSON text */
    size_t body_len;
};

const char *uvfib__status_reason(int status);
/* Serialises r into one buffer (*out, owned by the caller, freed with
 * uvfib__free). @return 0 or UV_ENOMEM. */
int uvfib__response_serialize(const struct uvfib__response *r, char **out, size_t *out_len);
/* {"success":false,"error":message} as text owned by the caller (uvfib__free), or NULL. */
char *uvfib__json_error(const char *message, size_t *len);
/* {"success":true,"result":N} with N's exact digits, owned by the caller, or NULL. */
char *uvfib__json_result(uint64_t result, size_t *len);
/* Writes the IMF-fixdate of t ("Sun, 06 Nov 1994 08:49:37 GMT") into buf[30]. */
void uvfib__http_date(time_t t, char *buf);
int uvfib__header_add(struct uvfib__header **list, const char *name, const char *value);
void uvfib__header_free(struct uvfib__header *list);

/* ------------------------------------------------------------- work.c */

/* One offloaded computation of a request. */
struct uvfib__job {
    struct uvfib__pool_job pj;    /* embedded; the pool's from submit until it comes back */
    struct uvfib__server *srv;    /* borrowed */
    uvfib_req_t *req;             /* borrowed: the request outlives its job */
    uvfib_work_cb work_cb;
    uvfib_done_cb done_cb;
    void *ctx;                    /* the caller's */
    struct uvfib__job *older, *newer; /* the server's list of all jobs, by age */
    bool timed_out;               /* passed cfg.compute_timeout_ms: finish with UV_ETIMEDOUT */
    uint64_t queued_ns;           /* loop thread: when submitted */
};

/* Drops a waiting job or asks a running one to stop. Loop thread. */
void uvfib__work_cancel(struct uvfib__job *job);
/* The pool's done callback (server.c hands it to uvfib__pool_init). */
void uvfib__work_on_pool_done(struct uvfib__pool *pool, struct uvfib__pool_job *pj);
/* The admission decision for one more computation now (pool: it would go to the pool). */
struct uvfib__admission uvfib__work_admission(struct uvfib__server *srv, bool pool,
                                              struct uvfib__admission_limits *lim,
                                              struct uvfib__admission_load *load);
/* Answers req with the 503 for a refusal: Retry-After and a JSON reason. */
void uvfib__work_refuse(uvfib_req_t *req, const struct uvfib__admission *d,
                        const struct uvfib__admission_limits *lim,
                        const struct uvfib__admission_load *load);

/* ------------------------------------------------------------- conn.c */

struct uvfib_req_s {
    uv_write_t write;             /* embedded; used once, for this request's response */
    struct uvfib__conn *conn;     /* borrowed: a connection outlives its requests */
    uvfib_req_t *next;            /* the connection's FIFO */
    struct uvfib__http_msg msg;   /* owned (msg.url) */
    struct uvfib__match match;    /* owned */
    struct uvfib__header *headers;/* owned: extra response headers */
    struct uvfib__job *job;       /* in the pool or waiting for it, or NULL */
    char *out;                    /* owned: the serialised response, once answered */
    size_t out_len;
    int status;                   /* the response status, once answered */
    uint64_t start_ns;            /* when the request was routed */
    uint64_t wait_ns, compute_ns; /* its computation's queue wait and run time (monitor.c) */
    bool answered;                /* a response exists (or the client is gone) */
    bool writing;                 /* uv_write issued */
    bool close_after;             /* close the connection once this response is out */
};

struct uvfib__conn {
    uv_tcp_t tcp;                 /* embedded; tcp.data == this */
    uv_timer_t timer;             /* embedded; header, idle and write deadlines */
    uv_shutdown_t shutdown;       /* embedded; sends FIN after a closing response */
    struct uvfib__server *srv;    /* borrowed */
    struct uvfib__http http;      /* owned parser state */
    uvfib_req_t *head, *tail;     /* owned FIFO, answered in arrival order */
    unsigned n_reqs;              /* requests in the FIFO */
    unsigned n_writes;            /* uv_write calls in flight */
    char *pending;                /* owned: unparsed bytes kept while reads are paused */
    size_t pending_len;
    uint64_t msg_start_ms;        /* loop time of a partial request's first byte */
    unsigned refs;                /* open handles + writes in flight + jobs + shutdown */
    bool closing;                 /* set once by uvfib__conn_close(), never cleared */
    bool reading;                 /* uv_read_start in effect */
    bool done_parsing;            /* a final request was seen: ignore further bytes */
    bool in_process;              /* process() is parsing: reading resumes after it, not in it */
    struct uvfib__conn *next, *prev; /* the server's list of connections */
};

/* Accepts one connection from the listener. Loop thread. */
void uvfib__conn_accept(struct uvfib__server *srv);
/* Idempotent; frees nothing itself (see uvfib__conn_unref). */
void uvfib__conn_close(struct uvfib__conn *c);
void uvfib__conn_ref(struct uvfib__conn *c);
void uvfib__conn_unref(struct uvfib__conn *c);
/* For a graceful shutdown: closes the connection if no request is in progress. */
void uvfib__conn_drain(struct uvfib__conn *c);
/* Answers req with status and body (JSON text, copied). */
int uvfib__conn_respond(uvfib_req_t *req, int status, const char *body, size_t len);

/* ---------------------------------------------------------- monitor.c */

/* The server's measurements and the handles that take them. Loop thread only. */
struct uvfib__monitor {
    struct uvfib__metrics m;      /* counters and histograms */
    uv_timer_t lag_timer;         /* embedded, unref'd; fires every loop_resolution_ms */
    uv_check_t check;             /* embedded, unref'd; once per loop iteration */
    uv_async_t log_exited;        /* embedded; the access-log writer has finished */
    struct uvfib__accesslog *log; /* owned; NULL when the access log is off */
    uint64_t last_tick_ns;        /* hrtime of the previous lag_timer tick */
    uint64_t window_start_ns;     /* hrtime the current window began */
    uint64_t window_idle_ns;      /* loop idle time when the current window began */
    uint64_t start_ns, start_idle_ns; /* hrtime and idle time when monitoring began */
    uint64_t last_check_ns, last_check_idle_ns; /* at the previous check callback */
    double elu;                   /* utilisation over the last completed window */
    bool elu_available;           /* the loop has reported idle time: it measures it */
    bool closing;                 /* uvfib__monitor_close ran */
};

/* Checks the monitor's config and starts the access-log thread: srv->loop and
 * srv->cfg must be set; no handle exists yet. @return 0, UV_EINVAL, UV_ENOMEM. */
int uvfib__monitor_init(struct uvfib__server *srv);
/* Initialises and starts the monitor's three handles, adding them to
 * srv->n_handles. Cannot fail. */
void uvfib__monitor_start(struct uvfib__server *srv);
/* Closes the monitor's handles (idempotent); each close calls
 * uvfib__server_maybe_closed. The access log is flushed first. */
void uvfib__monitor_close(struct uvfib__server *srv);
/* Frees what the monitor owns, once its handles are closed. */
void uvfib__monitor_free(struct uvfib__server *srv);
/* Bytes read from a client. */
void uvfib__monitor_bytes_in(struct uvfib__server *srv, size_t n);
/* A request is over: written (status 0), failed to write (< 0), or never
 * written because its client left (UV_ECANCELED). Counts it and logs it. */
void uvfib__monitor_request_done(struct uvfib__server *srv, uvfib_req_t *req, int status);
/* A job is over, before its done callback: records its wait and compute time. */
void uvfib__monitor_job_done(struct uvfib__server *srv, const struct uvfib__job *job);
/* The largest loop delay of the current and the last window: what max_loop_delay_ms is
 * compared with. */
uint64_t uvfib__monitor_recent_delay_ns(const struct uvfib__server *srv);

/* ----------------------------------------------------------- server.c */

struct uvfib__server {
    uvfib_server_t *pub;          /* borrowed: the caller's struct */
    uv_loop_t *loop;              /* borrowed */
    uvfib_config_t cfg;           /* copy; cfg.host points at host */
    char *host;                   /* owned */
    struct uvfib__http_limits limits;
    struct uvfib__router router;  /* owned */
    uv_tcp_t listener;            /* embedded */
    uv_timer_t drain_timer;       /* embedded; deadline of a graceful shutdown */
    struct uvfib__conn *conns;    /* the open connections (each frees itself) */
    struct uvfib__pool pool;      /* owned: the FIFO and runners that feed libuv's pool */
    struct uvfib__job *oldest, *newest; /* every job, waiting or running, by age */
    uv_timer_t compute_timer;     /* embedded; the oldest job's compute deadline */
    uvfib_stats_t stats;
    struct uvfib__monitor mon;    /* owned: loop monitor, metrics, access log (monitor.c) */
    time_t date_sec;              /* second that date was made for */
    char date[32];                /* cached IMF-fixdate */
    unsigned n_handles;           /* our own open handles: listener, drain and compute timers,
                                     the monitor's three, and the pool (counted as one) */
    bool listening;
    bool draining;                /* graceful shutdown in progress */
    bool closing;                 /* close requested: connections are being closed */
    uvfib_close_cb close_cb;
    char read_buf[64 * 1024];     /* shared by every connection: consumed in on_read */
};

/* The cached Date header value. Loop thread. */
const char *uvfib__server_date(struct uvfib__server *srv);
/* A connection was freed, or one of our handles closed: maybe finish a close. */
void uvfib__server_maybe_closed(struct uvfib__server *srv);

/* Submits or runs work for req (see uvfib_req_offload). */
int uvfib__work_submit(uvfib_req_t *req, uvfib_work_cb work, uvfib_done_cb done, void *ctx,
                       unsigned flags);

/* ----------------------------------------------------------- config.c */

/* What the executable's command line configures. */
struct uvfib__cli {
    uvfib_config_t cfg;           /* cfg.host borrowed from argv or a literal */
    uvfib_fib_options_t fib;
    bool inline_max_n_given;      /* --inline-max-n was on the command line: no calibration */
    uint64_t drain_timeout_ms;    /* graceful shutdown deadline */
    const char *access_log;       /* borrowed from argv or a literal: a file, "-" or "off" */
};

enum { UVFIB__CLI_RUN = 0, UVFIB__CLI_EXIT = 1, UVFIB__CLI_USAGE = 2 };

/* "auto", "offload" or "inline". */
const char *uvfib__mode_name(uvfib_mode_t mode);
/* "normal", "nice", "batch" or "idle". */
const char *uvfib__priority_name(uvfib_priority_t p);

/* Parses argv (getopt_long) after filling defaults ($PORT too). Prints --help
 * and --version to out, a one-line error to err. @return UVFIB__CLI_*. */
int uvfib__cli_parse(struct uvfib__cli *cli, int argc, char **argv, FILE *out, FILE *err);

#endif /* UVFIB_INTERNAL_H */
