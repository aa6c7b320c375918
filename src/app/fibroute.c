/* fibroute.c - the route of the Node.js article, GET /fibonacci/:number, on the public API as
 * an embedder writes one: validate on the loop, compute in the pool, answer on the loop; and
 * the measured choice of what runs on the loop. */
#include "fib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decimal.h"

/* One computation: owned by the route from submit to done, touched by one
 * thread at a time (the pool's hand-over orders the accesses). */
struct fib_job {
    unsigned n;
    uint64_t result;
    int err; /* 0, UV_ECANCELED or UV_ERANGE from the kernel */
};

static void on_fib_work(uvfib_work_t *work, void *ctx)
{
    struct fib_job *job = ctx;
    job->err = fib_compute(job->n, work, &job->result);
}

static void on_fib_done(uvfib_req_t *req, void *ctx, int status)
{
    struct fib_job *job = ctx;
    if (status == 0 && job->err == 0) {
        char body[64];
        size_t len = fib_result_json(job->result, body, sizeof(body));
        if (len > 0)
            uvfib_res_send(req, 200, body, len);
        else
            uvfib_res_error(req, 500, "out of memory");
    } else if (status == UV_ETIMEDOUT) {
        /* The deadline counts from queueing: the time may have gone to the wait. */
        uvfib_res_error(req, 504, "computation timed out: not done within the server's "
                                  "--compute-timeout, which counts the wait for a thread too");
    } else if (status == UV_ECANCELED || job->err == UV_ECANCELED) {
        uvfib_res_error(req, 503, "computation cancelled");
    } else {
        char msg[96];
        snprintf(msg, sizeof(msg), "computation failed: %s",
                 uvfib_strerror(status < 0 ? status : job->err));
        uvfib_res_error(req, 500, msg);
    }
    free(job);
}

static void answer_too_large(uvfib_req_t *req, const struct fib_options *opt)
{
    char msg[96];
    snprintf(msg, sizeof(msg), "number too large: this server accepts n from 0 to %u",
             opt->max_n);
    uvfib_res_error(req, 422, msg);
}

static void on_fibonacci(uvfib_req_t *req, void *arg)
{
    const struct fib_options *opt = arg;
    const char *text = uvfib_req_param(req, "number");
    uint64_t n;
    int err = decimal_parse_u64(text, &n);
    /* The 400 asks for at most 20 digits, so a 20-digit n above 2^64 - 1 is well formed and
     * only too large, as any n over max_n is. decimal_parse_u64 says UV_ERANGE for more digits
     * as well; those stay a 400. */
    if (err == UV_ERANGE && strlen(text) <= 20) {
        answer_too_large(req, opt);
        return;
    }
    if (err < 0) {
        uvfib_res_error(req, 400,
                        "number must be a non-negative decimal integer (digits 0-9 only, "
                        "at most 20 of them), e.g. /fibonacci/10");
        return;
    }
    if (n > opt->max_n) {
        answer_too_large(req, opt);
        return;
    }
    struct fib_job *job = malloc(sizeof(*job)); /* malloc, not calloc: glibc's cache serves it */
    if (job == NULL) {
        uvfib_res_error(req, 500, "out of memory");
        return;
    }
    *job = (struct fib_job){.n = (unsigned)n};
    unsigned flags = n <= opt->inline_max_n ? UVFIB_OFFLOAD_CHEAP : 0;
    if (uvfib_req_offload(req, on_fib_work, on_fib_done, job, flags) < 0)
        free(job); /* its answer is settled (503, 500, or the client left): ctx is ours */
}

/* Written by every timed call, so that none can be optimised away. */
static volatile uint64_t calibrate_sink;

/* Best time per call of F(n) on this thread, in ns, of five batches of at least 0.2 ms each. */
static double kernel_ns(unsigned n)
{
    double best = 0;
    for (int batch = 0; batch < 5; batch++) {
        uint64_t calls = 0, t0 = uv_hrtime(), t;
        do {
            uint64_t out = 0;
            fib_compute(n, NULL, &out);
            calibrate_sink = out;
            calls++;
            t = uv_hrtime() - t0;
        } while (t < 200000);
        double per = (double)t / (double)calls;
        if (batch == 0 || per < best)
            best = per;
    }
    return best;
}

unsigned fib_calibrate(uint64_t handoff_ns, char *report, size_t cap)
{
    unsigned n = 0;
    double cost[FIB_CALIBRATE_MAX_N + 2] = {0};
    for (unsigned k = 1; k <= FIB_CALIBRATE_MAX_N + 1; k++) {
        cost[k] = kernel_ns(k);
        if (cost[k] > (double)handoff_ns || k > FIB_CALIBRATE_MAX_N)
            break;
        n = k;
    }
    if (report != NULL && cap > 0) {
        /* The last n kept and the first one refused, with the hand-off they were held to. */
        if (n == 0)
            snprintf(report, cap, "hand-off %.1f us, F(1) %.3f us: nothing inline",
                     (double)handoff_ns / 1e3, cost[1] / 1e3);
        else if (n >= FIB_CALIBRATE_MAX_N)
            snprintf(report, cap, "hand-off %.1f us, F(%u) %.1f us: inline up to n %u",
                     (double)handoff_ns / 1e3, n, cost[n] / 1e3, n);
        else
            snprintf(report, cap, "hand-off %.1f us, F(%u) %.1f us, F(%u) %.1f us: inline up to n %u",
                     (double)handoff_ns / 1e3, n, cost[n] / 1e3, n + 1, cost[n + 1] / 1e3, n);
    }
    return n;
}

void fib_options_init(struct fib_options *opt)
{
    opt->max_n = 45;
    opt->inline_max_n = 20;
}

int fib_routes_add(uvfib_server_t *server, const struct fib_options *opt)
{
    struct fib_options *copy = malloc(sizeof(*copy));
    if (copy == NULL)
        return UV_ENOMEM;
    if (opt != NULL)
        *copy = *opt;
    else
        fib_options_init(copy);
    int err = UV_EINVAL;
    if (copy->max_n <= FIB_MAX_N && copy->inline_max_n <= FIB_MAX_N)
        err = uvfib_route_add_ex(server, "GET", "/fibonacci/:number", on_fibonacci, copy, free);
    if (err < 0)
        free(copy); /* a failed registration leaves the argument ours */
    return err;
}
