/* conn.h - one client connection: reads into the server's shared buffer, feeds the parser,
 * dispatches each request to its route, keeps the FIFO of requests so responses leave in
 * arrival order, writes them, runs the header / keep-alive / write deadlines, and frees itself
 * once nothing points at it (it then tells the server through srv->conn_gone).
 *
 * Threads: the loop thread only. */
#ifndef UVFIB_CONN_H
#define UVFIB_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "http.h"
#include "request.h"

struct uvfib__server;

struct uvfib__conn {
    uv_tcp_t tcp;                 /* embedded; tcp.data == this */
    uv_timer_t timer;             /* embedded; header, idle and write deadlines */
    uv_shutdown_t shutdown;       /* embedded; sends FIN after a closing response */
    struct uvfib__server *srv;    /* borrowed */
    struct uvfib__http http;      /* owned parser state */
    uvfib_req_t *head, *tail;     /* owned FIFO, answered in arrival order */
    unsigned n_reqs;              /* requests in the FIFO */
    unsigned n_writes;            /* uv_write calls in flight */
    char *pending;                /* owned: unparsed bytes kept while parsing is paused at the
                                     pipelining limit (reads go on, up to PAUSED_KEEP_BYTES) */
    size_t pending_len;
    uint64_t msg_start_ms;        /* loop time of a partial request's first byte */
    uint64_t write_progress_ms;   /* loop time a write last started with none in flight, or
                                     last finished: the write deadline counts from it */
    uint64_t deadline_ms;         /* loop time of the deadline update_timer last set; the
                                     timer may be due earlier (on_timer re-arms it for the rest) */
    unsigned refs;                /* open handles + writes in flight + jobs + shutdown */
    bool closing;                 /* set once by uvfib__conn_close(), never cleared */
    bool abandoned;               /* closed by the server, not the client: what it has not
                                     answered is accounted as 444, not 499 */
    bool reading;                 /* uv_read_start in effect */
    bool done_parsing;            /* a final request was seen: ignore further bytes */
    bool eof_kept;                /* EOF came while paused, with half_close_answer: it applies
                                     once the kept bytes are parsed */
    bool in_process;              /* process() is parsing: reading resumes after it, not in it */
    struct uvfib__conn *next, *prev; /* the server's list of connections */
};

/* Accepts one connection from srv's listener. */
void uvfib__conn_accept(struct uvfib__server *srv);
/* Idempotent. Drops the connection's waiting jobs, asks its running ones to stop, closes its
 * handles; frees nothing itself (see uvfib__conn_unref). */
void uvfib__conn_close(struct uvfib__conn *c);

/* The server closes c itself (a drain's deadline, uvfib_server_close): what it leaves
 * unanswered is accounted as 444, a request whose bytes had begun to arrive included, rather
 * than as the 499 of a client that left. A connection already closing is left alone. */
void uvfib__conn_abandon(struct uvfib__conn *c);
void uvfib__conn_ref(struct uvfib__conn *c);
/* The only place a connection is freed: when its last reference goes. */
void uvfib__conn_unref(struct uvfib__conn *c);
/* For a graceful shutdown: closes the connection if no request is in progress. */
void uvfib__conn_drain(struct uvfib__conn *c);
/* Answers req with status and body (copied), in its turn. Out of memory for the response
 * answers a static 500 and closes after it. @return 0, UV_EALREADY (answered before),
 * UV_EINVAL (status not 100..999), UV_ENOMEM (the 500 went out instead). */
int uvfib__conn_respond(uvfib_req_t *req, int status, const char *body, size_t len);
/* Answers {"success":false,"error":message} with status. As uvfib__conn_respond. */
int uvfib__conn_respond_error(uvfib_req_t *req, int status, const char *message);

#endif /* UVFIB_CONN_H */
