/* req.c - the public calls on a request: what it asks (method, path, parameters, headers,
 * query, body), how it is answered (uvfib_res_*), and how its work goes to the pool
 * (uvfib_req_offload), with the one function that turns an admission refusal into a 503. */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "admission.h"
#include "alloc.h"
#include "conn.h"
#include "request.h"
#include "server.h"
#include "stats.h"
#include "url.h"
#include "work.h"

/* ------------------------------------------------------------------ what it asks */

const char *uvfib_req_method(const uvfib_req_t *req)
{
    /* A HEAD answered by a GET route says GET, as that route's handler expects. */
    if (req->msg.method == HTTP_HEAD &&
        (req->match.route == NULL || strcmp(req->match.route->method, "HEAD") != 0))
        return "GET";
    return llhttp_method_name((llhttp_method_t)req->msg.method);
}

int uvfib_req_is_head(const uvfib_req_t *req)
{
    return req->msg.method == HTTP_HEAD;
}

const char *uvfib_req_path(const uvfib_req_t *req)
{
    return req->match.path;
}

const char *uvfib_req_param(const uvfib_req_t *req, const char *name)
{
    return uvfib__match_param(&req->match, name);
}

uvfib_server_t *uvfib_req_server(const uvfib_req_t *req)
{
    return req->conn->srv->pub;
}

const char *uvfib_req_header(const uvfib_req_t *req, const char *name)
{
    return name != NULL ? uvfib__http_msg_header(&req->msg, name) : NULL;
}

/* Room for a string of len bytes and its NUL, kept with req for the caller (freed with it);
 * NULL without memory. */
static char *keep_room(uvfib_req_t *req, size_t len)
{
    struct uvfib__kept *k = uvfib__malloc(sizeof(*k) + len + 1);
    if (k == NULL)
        return NULL;
    k->text[0] = '\0';
    k->next = req->kept;
    req->kept = k;
    return k->text;
}

/* A copy of text[0..len), NUL-terminated, kept as keep_room() says. */
static char *keep(uvfib_req_t *req, const char *text, size_t len)
{
    char *copy = keep_room(req, len);
    if (copy != NULL) {
        memcpy(copy, text, len);
        copy[len] = '\0';
    }
    return copy;
}

const char *uvfib_req_query(uvfib_req_t *req)
{
    size_t len;
    const char *q = uvfib__url_query(req->msg.url, req->msg.url_len, &len);
    if (len == 0)
        return "";
    return keep(req, q, len);
}

const char *uvfib_req_query_param(uvfib_req_t *req, const char *name)
{
    if (name == NULL)
        return NULL;
    size_t len;
    const char *q = uvfib__url_query(req->msg.url, req->msg.url_len, &len);
    char *value = keep_room(req, len); /* room for the longest value */
    if (value == NULL || uvfib__url_query_param(q, len, name, value) < 0)
        return NULL;
    return value;
}

const void *uvfib_req_body(const uvfib_req_t *req, size_t *len)
{
    if (len != NULL)
        *len = req->msg.body_len;
    return req->msg.body;
}

/* ------------------------------------------------------------------ answering */

int uvfib_res_header(uvfib_req_t *req, const char *name, const char *value)
{
    if (req->answered || name == NULL || value == NULL || uvfib__header_is_ours(name))
        return UV_EINVAL;
    return uvfib__header_add(&req->headers, name, value);
}

int uvfib_res_send(uvfib_req_t *req, int status, const char *body, size_t len)
{
    if (body == NULL && len > 0)
        return UV_EINVAL;
    return uvfib__conn_respond(req, status, body, len);
}

int uvfib_res_json(uvfib_req_t *req, int status, const struct cJSON *json)
{
    if (req->answered)
        return UV_EALREADY;
    if (json == NULL || !uvfib__status_is_final(status))
        return UV_EINVAL; /* nothing sent: the request is still to be answered */
    /* Small trees are printed into the stack, larger ones by cJSON's allocator. */
    char stack[512];
    if (cJSON_PrintPreallocated((cJSON *)json, stack, (int)sizeof(stack), 0))
        return uvfib_res_send(req, status, stack, strlen(stack));
    char *text = cJSON_PrintUnformatted(json);
    if (text == NULL) {
        /* cJSON prints only into memory: a 500 goes out instead, as uvfib_res_send() does. */
        int err = uvfib__conn_respond_error(req, 500, "out of memory");
        return err < 0 ? err : UV_ENOMEM;
    }
    int err = uvfib_res_send(req, status, text, strlen(text));
    cJSON_free(text);
    return err;
}

int uvfib_res_error(uvfib_req_t *req, int status, const char *message)
{
    return uvfib__conn_respond_error(req, status, message != NULL ? message : "");
}

/* ------------------------------------------------------------------ offloading */

/* The one place a refusal becomes a response: 503, Retry-After, and the reason. */
static void refuse(uvfib_req_t *req, const struct uvfib__admission *d,
                   const struct uvfib__admission_limits *lim,
                   const struct uvfib__admission_load *load)
{
    struct uvfib__counters *count = &req->conn->srv->metrics.count;
    char why[160], msg[200], secs[16];
    uvfib__admission_reason(d, lim, load, why, sizeof(why));
    if (d->verdict == UVFIB__REFUSE_QUEUE_FULL) {
        count->jobs_rejected++;
        snprintf(msg, sizeof(msg), "server busy: %s, retry later", why);
    } else {
        if (d->verdict == UVFIB__REFUSE_LOOP_DELAY)
            count->shed_loop_delay++;
        else
            count->shed_queue_wait++;
        snprintf(msg, sizeof(msg), "server overloaded: %s; retry later", why);
    }
    snprintf(secs, sizeof(secs), "%u", d->retry_after_s);
    uvfib_res_header(req, "Retry-After", secs);
    uvfib_res_error(req, 503, msg);
}

/* work.c's finish for an offloaded request: the caller's done, exactly once, then the job's
 * hold on the connection goes. */
static void on_job_finish(struct uvfib__job *job, int status)
{
    uvfib_req_t *req = job->req;
    struct uvfib__conn *conn = req->conn;
    uvfib__request_run_done(req, job->done_cb, job->ctx, status);
    uvfib__free(job);
    uvfib__conn_unref(conn);
}

int uvfib_req_offload(uvfib_req_t *req, uvfib_work_cb work, uvfib_done_cb done, void *ctx,
                      unsigned flags)
{
    struct uvfib__conn *conn = req->conn;
    struct uvfib__server *srv = conn->srv;
    if (req->answered || req->job != NULL)
        return UV_EINVAL; /* settled already: answered, or another offload will answer */
    if (work == NULL || done == NULL) {
        uvfib_res_error(req, 500, "internal error: uvfib_req_offload() without a work or done "
                                  "function");
        return UV_EINVAL;
    }
    if (conn->closing)
        return UV_ECANCELED; /* the client is gone: there is no one to answer */

    uvfib_mode_t mode = srv->cfg.mode;
    bool on_loop =
        mode == UVFIB_MODE_INLINE || (mode == UVFIB_MODE_AUTO && (flags & UVFIB_OFFLOAD_CHEAP));
    struct uvfib__admission_limits lim;
    struct uvfib__admission_load load;
    struct uvfib__admission d = uvfib__stats_admission(srv, !on_loop, &lim, &load);
    if (d.verdict != UVFIB__ADMIT) {
        refuse(req, &d, &lim, &load);
        return UV_EBUSY;
    }

    if (on_loop) {
        /* On the loop, as the work is cheaper than the hand-off (or the server was told to
         * block, for comparison). */
        uvfib_work_t w;
        atomic_init(&w.cancelled, false);
        srv->metrics.count.jobs_inline++;
        work(&w, ctx);
        uvfib__request_run_done(req, done, ctx, 0);
        return 0;
    }

    struct uvfib__job *job = uvfib__calloc(1, sizeof(*job));
    if (job != NULL) {
        job->srv = srv;
        job->req = req;
        job->work_cb = work;
        job->done_cb = done;
        job->ctx = ctx;
        job->finish = on_job_finish;
        job->pj.cheap = (flags & UVFIB_OFFLOAD_CHEAP) != 0; /* at the thread's own priority */
        if (uvfib__work_submit(job) == 0) {
            uvfib__conn_ref(conn);
            return 0;
        }
        uvfib__free(job);
    }
    uvfib_res_error(req, 500, "out of memory");
    return UV_ENOMEM;
}
