/* request.c - see request.h. */
#include "request.h"

#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"

uvfib_req_t *uvfib__request_new(struct uvfib__conn *conn, size_t text_bytes)
{
    /* One block: the request, then its message's text. */
    if (text_bytes > SIZE_MAX - sizeof(uvfib_req_t))
        return NULL;
    uvfib_req_t *req = uvfib__malloc(sizeof(*req) + text_bytes);
    if (req == NULL)
        return NULL;
    memset(req, 0, sizeof(*req));
    req->conn = conn;
    req->start_ns = uv_hrtime();
    return req;
}

void uvfib__request_run_done(uvfib_req_t *req, uvfib_done_cb done, void *ctx, int status)
{
    /* A done callback may offload again, and work that runs on the loop runs its own done
     * callback inside this one: only the outermost frees. */
    bool outer = !req->in_done;
    req->in_done = true;
    done(req, ctx, status);
    if (!outer)
        return;
    req->in_done = false;
    if (req->complete)
        uvfib__request_free(req);
}

void uvfib__request_free(uvfib_req_t *req)
{
    assert(req->job == NULL);
    /* msg.url is in req's block (uvfib__request_text): freed with it. */
    uvfib__match_free(&req->match);
    uvfib__header_free(req->headers);
    while (req->kept != NULL) {
        struct uvfib__kept *next = req->kept->next;
        uvfib__free(req->kept);
        req->kept = next;
    }
    if (!req->out_static)
        uvfib__free(req->out);
    uvfib__free(req);
}
