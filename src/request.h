/* request.h - one request as the server holds it from routing to its response written: the
 * parsed message, the route it matched, the response being built and its bytes. A record, with
 * the small functions over its own fields; the connection (conn.c) owns the FIFO of them and
 * writes them, the public calls (req.c) read and answer them.
 *
 * Threads: the loop thread only. A job in the pool never sees its request. */
#ifndef UVFIB_REQUEST_H
#define UVFIB_REQUEST_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "http.h"
#include "response.h"
#include "router.h"
#include "uvfib.h"

struct uvfib__conn;
struct uvfib__job;

/* A string handed to the caller (the query, a decoded parameter), kept until the request is
 * freed so that the caller may hold it until it answers. */
struct uvfib__kept {
    struct uvfib__kept *next;     /* owned */
    char text[];
};

struct uvfib_req_s {
    uv_write_t write;             /* embedded; for a response that does not go out at once */
    struct uvfib__conn *conn;     /* borrowed: a connection outlives its requests */
    uvfib_req_t *next;            /* the connection's FIFO */
    struct uvfib__http_msg msg;   /* msg.url's text (target, headers, body) is in req's own
                                     block, after it (uvfib__request_text), or NULL */
    struct uvfib__match match;    /* owned */
    struct uvfib__header *headers;/* owned: extra response headers */
    struct uvfib__kept *kept;     /* owned: strings handed to the caller */
    struct uvfib__job *job;       /* in the pool or waiting for it, or NULL */
    char *out;                    /* the serialised response, once answered: owned, or the
                                     static out-of-memory 500 when out_static */
    size_t out_len;
    int status;                   /* the response status, once answered */
    uint64_t start_ns;            /* when the request was routed */
    uint64_t wait_ns, compute_ns; /* its computation's queue wait and run time */
    bool answered;                /* a response exists (or the client is gone) */
    bool writing;                 /* uv_write issued */
    bool close_after;             /* close the connection once this response is out */
    bool out_static;              /* out is the static out-of-memory response: not freed */
    bool in_done;                 /* a done callback of it is running (maybe two, nested, when
                                     one offloads again on the loop): req must outlive them */
    bool complete;                /* its response is out while in_done: the callback's caller
                                     frees it (uvfib__request_done_return) */
};

/* A new request for conn, zeroed, its clock started, with text_bytes more after it for its
 * message's text (uvfib__request_text). NULL without memory. */
uvfib_req_t *uvfib__request_new(struct uvfib__conn *conn, size_t text_bytes);
/* The room for req's message text, allocated with it: msg.url points here, or is NULL. */
static inline char *uvfib__request_text(uvfib_req_t *req)
{
    return (char *)(req + 1);
}
/* Runs the done callback of req's offloaded work, which the API promises req outlives: if the
 * response goes out during it, the request is freed only once it returns. */
void uvfib__request_run_done(uvfib_req_t *req, uvfib_done_cb done, void *ctx, int status);
/* Frees req and all it owns; it must have no job. */
void uvfib__request_free(uvfib_req_t *req);

#endif /* UVFIB_REQUEST_H */
