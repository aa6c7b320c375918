/* account.h - the one place a finished request is accounted: its count by route and status,
 * its duration, its bytes, and its access-log line.
 *
 * Threads: the loop thread only. */
#ifndef UVFIB_ACCOUNT_H
#define UVFIB_ACCOUNT_H

#include "request.h"

struct uvfib__server;

/* req is over: written (status 0), failed to write (< 0), or never written (UV_ECANCELED).
 * Unwritten, it counts as 499 (its client left), or as 444 when the server itself closed the
 * connection (uvfib__conn_abandon). */
void uvfib__account_request(struct uvfib__server *srv, const uvfib_req_t *req, int status);

#endif /* UVFIB_ACCOUNT_H */
