/* scrape.h - one GET of the server's Prometheus text at a time, on uvfib-bench's own loop
 * and its own connection (a new one per scrape, "Connection: close"), answered through a
 * callback with the body; nothing here blocks the loop or touches the workloads. */
#ifndef UVFIB_BENCH_SCRAPE_H
#define UVFIB_BENCH_SCRAPE_H

#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "timeline.h"

struct uv_loop_s;
typedef struct uvfib__bench_scrape uvfib__bench_scrape_t;

/* Called on the loop thread once per started scrape: tag as given to _start, how it went,
 * the HTTP status (0 if none), the body (borrowed: valid during the call only, NULL unless
 * the status is OK) and the time from start to answer in ns. */
typedef void (*uvfib__bench_scrape_cb)(void *data, size_t tag, uvfib__bench_scrape_status_t st,
                                       int http_status, const char *body, size_t body_len,
                                       uint64_t took_ns, const char *reason);

/* Creates a scraper of http://host_header + path at addr (copied). Each scrape must end
 * within timeout_ms. On success *out is owned by the loop until uvfib__bench_scrape_close's
 * work is done. Returns 0 or a negative libuv error (nothing to close then). */
int uvfib__bench_scrape_new(struct uv_loop_s *loop, const struct sockaddr *addr,
                            const char *host_header, const char *path, uint64_t timeout_ms,
                            uvfib__bench_scrape_cb cb, void *data, uvfib__bench_scrape_t **out);

/* True while a scrape is in flight (or its connection is still closing). */
int uvfib__bench_scrape_busy(const uvfib__bench_scrape_t *s);

/* Starts a scrape. Returns 0 (cb will run exactly once), UV_EBUSY while one is in flight, or
 * another negative libuv error; on error cb does not run. */
int uvfib__bench_scrape_start(uvfib__bench_scrape_t *s, size_t tag);

/* Lets the scrape in flight, if any, finish (its callback still runs), then closes every
 * handle and frees s. Call once; s is gone for the caller afterwards. */
void uvfib__bench_scrape_close(uvfib__bench_scrape_t *s);

#endif /* UVFIB_BENCH_SCRAPE_H */
