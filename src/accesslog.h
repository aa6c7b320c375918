/* accesslog.h - the access log: one JSON line per request, formatted on the loop
 * thread and written by a thread of its own from a bounded buffer, so a slow
 * disk or a full pipe never blocks the loop and never takes a pool thread
 * (uv_fs_* would queue behind the computations), and a descriptor nobody reads cannot hold up
 * a stop beyond its deadline. Pure C and pthreads, no libuv.
 *
 * Threads: format, write and stop are called by the owner (the loop thread);
 * the writer thread only drains the buffer. */
#ifndef UVFIB_ACCESSLOG_H
#define UVFIB_ACCESSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct uvfib__accesslog;

/* One finished request, as the log line shows it. */
struct uvfib__accesslog_entry {
    int64_t time_ms;          /* Unix time of the end of the request, milliseconds */
    const char *method;       /* "GET"; NULL: "-" */
    const char *target;       /* request target as sent; NULL: "-"; cut at 1 KiB of JSON */
    const char *route;        /* the route pattern, or "unmatched" */
    int status;               /* 499: the client left before its response was written */
    uint64_t bytes;           /* response bytes written */
    uint64_t duration_ns;     /* from routing to the response written */
    uint64_t wait_ns;         /* waited for a pool thread (0: none) */
    uint64_t compute_ns;      /* ran in a pool thread (0: none) */
};

/* The longest line uvfib__accesslog_format writes, its NUL included: the method, target and
 * route are cut at 32, 1024 and 256 bytes of their JSON form, and the rest is bounded. */
#define UVFIB__ACCESSLOG_LINE_MAX 1600

/* Formats e as one JSON line ending in '\n' into buf[cap]. @return its length,
 * or 0 if cap is too small (never when cap is UVFIB__ACCESSLOG_LINE_MAX). */
size_t uvfib__accesslog_format(char *buf, size_t cap, const struct uvfib__accesslog_entry *e);

/* How much of data[0..len) (whole lines, every batch ending on one) one write to a pipe takes:
 * all of it up to PIPE_BUF bytes, else the lines that fit in PIPE_BUF, so that the write is
 * atomic and no other writer's line lands inside one of ours. */
size_t uvfib__accesslog_whole_lines(const char *data, size_t len);

/* Starts a writer thread for fd (borrowed: the caller closes it after stop)
 * with buffer_bytes of room for lines not written yet. on_exit(arg) runs on
 * the writer thread as its last act after uvfib__accesslog_stop(); it may be
 * NULL. @return 0, -ENOMEM (UV_ENOMEM), or -errno from pthread_create. */
int uvfib__accesslog_start(struct uvfib__accesslog **out, int fd, size_t buffer_bytes,
                           void (*on_exit)(void *arg), void *arg);

/* Queues line[0..len) for writing and returns at once; it reaches the descriptor within about
 * 50 ms (sooner when a quarter of the buffer fills). @return false when the buffer is full:
 * the line is dropped (count it). Never blocks on the writer's I/O. */
bool uvfib__accesslog_write(struct uvfib__accesslog *log, const char *line, size_t len);

/* A stop without a deadline (the stall rule still applies). */
#define UVFIB__ACCESSLOG_NO_TIMEOUT UINT64_MAX

/* Asks the writer to write what is queued and exit; returns at once. The writer gives up, and
 * counts what it could not write, timeout_ns from now (UVFIB__ACCESSLOG_NO_TIMEOUT: no such
 * deadline), or as soon as the descriptor has taken nothing for a second: nobody reads it. A
 * second call may only bring the deadline nearer. */
void uvfib__accesslog_stop(struct uvfib__accesslog *log, uint64_t timeout_ns);

/* Lines accepted by uvfib__accesslog_write() that never reached the descriptor: it failed, or
 * the writer gave up at its deadline. Any thread but the writer. */
uint64_t uvfib__accesslog_unwritten(struct uvfib__accesslog *log);

/* Stops the writer at once, without its on_exit, joins it and frees log: for a start that is
 * undone before anything could receive on_exit (the server's init failed after it). */
void uvfib__accesslog_abandon(struct uvfib__accesslog *log);

/* Joins the writer (after on_exit ran, or after stop when on_exit is NULL: then this waits for
 * its last write, or until it gives up) and frees log. @return the lines it never wrote, as
 * uvfib__accesslog_unwritten(). */
uint64_t uvfib__accesslog_free(struct uvfib__accesslog *log);

#endif /* UVFIB_ACCESSLOG_H */
