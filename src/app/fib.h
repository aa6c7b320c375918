/* fib.h - the Fibonacci application of the Node.js article on libuvfib's public API: the
 * naive recursive kernel, GET /fibonacci/:number, and the choice of what runs on the loop.
 * It includes only uvfib.h, as any embedder's code would. */
#ifndef FIBAPP_FIB_H
#define FIBAPP_FIB_H

#include <stddef.h>
#include <stdint.h>

#include <uvfib.h>

/* The largest n whose Fibonacci number fits in 64 bits: F(93). */
#define FIB_MAX_N 93

/* The largest n fib_calibrate() looks at: F(32) takes milliseconds, far past any hand-off. */
#define FIB_CALIBRATE_MAX_N 32

/* The naive recursive kernel, as in the Node.js article: F(n) into *out. It polls
 * uvfib_work_cancelled(work) (NULL: never cancelled) once per call above n = 30 (F(30): 0.7
 * to 0.9 ms here) and returns UV_ECANCELED if told to stop, UV_ERANGE for n > FIB_MAX_N,
 * else 0. Any thread. */
int fib_compute(unsigned n, const uvfib_work_t *work, uint64_t *out);

/* The bare recursion, without a cancel check (the reference builds of uvfib-fibtime). */
uint64_t fib_naive(unsigned n);

/* {"success":true,"result":N} with N's exact digits (cJSON would round a double above 2^53, so
 * they go in raw), as cJSON prints it, NUL-terminated, into buf[cap]. @return its length, or 0
 * when it does not fit. */
size_t fib_result_json(uint64_t result, char *buf, size_t cap);

/* Options of the Fibonacci route. */
struct fib_options {
    unsigned max_n;        /* largest n accepted; default 45; at most FIB_MAX_N */
    unsigned inline_max_n; /* in mode auto, n up to this runs on the loop; default 20 */
};

/* Fills opt with the defaults. */
void fib_options_init(struct fib_options *opt);

/* Registers GET /fibonacci/:number, answering {"success":true,"result":N} with the kernel,
 * offloaded as the server's mode says. opt is copied (NULL: the defaults). Loop thread.
 * @return 0, UV_EINVAL, UV_ENOMEM, UV_EBUSY. */
int fib_routes_add(uvfib_server_t *server, const struct fib_options *opt);

/* Chooses mode auto's inline cut-off by measurement, as the article's "when not to use worker
 * threads" asks: the largest n (at most FIB_CALIBRATE_MAX_N) whose kernel, timed here on this
 * thread (best of several batches), costs no more than handoff_ns, what handing it to the
 * pool would cost (uvfib_measure_handoff()). 0 when even F(1) costs more. When report is not
 * NULL a one-line summary of the figures goes to report[cap]. Blocks for a few tens of ms.
 * Any thread. */
unsigned fib_calibrate(uint64_t handoff_ns, char *report, size_t cap);

#endif /* FIBAPP_FIB_H */
