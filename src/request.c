/* request.c - see request.h. */
#include "request.h"

#include <assert.h>

#include "alloc.h"

uvfib_req_t *uvfib__request_new(struct uvfib__conn *conn)
{
    uvfib_req_t *req = uvfib__calloc(1, sizeof(*req));
    if (req == NULL)
        return NULL;
    req->conn = conn;
    req->start_ns = uv_hrtime();
    return req;
}

void uvfib__request_free(uvfib_req_t *req)
{
    assert(req->job == NULL);
    uvfib__free(req->msg.url);
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
