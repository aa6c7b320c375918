/* bench.h - private declarations of uvfib-bench, the load generator: its options, the
 * numbers one run produces, and the three modules that share them (opts.c parses flags,
 * client.c drives the loop, report.c prints). Nothing here is part of libuvfib. */
#ifndef UVFIB_BENCH_H
#define UVFIB_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <sys/socket.h>

#include "hist.h"

/* Limits the flags are checked against. */
#define UVFIB__BENCH_MAX_DURATION_S 3600.0     /* --duration and --warmup, seconds */
#define UVFIB__BENCH_MAX_CONNS 10000u          /* --load-connections, --probe-connections */
#define UVFIB__BENCH_MIN_RATE 0.01             /* --probe-rate unless 0, requests per second */
#define UVFIB__BENCH_MAX_RATE 1000000.0        /* --probe-rate, requests per second */
#define UVFIB__BENCH_MAX_TIMEOUT_MS 600000u    /* --timeout, milliseconds */
#define UVFIB__BENCH_MAX_URL_LEN 4096u         /* --load-url, --probe-url, bytes */
#define UVFIB__BENCH_CONNECT_BACKOFF_MS 100u   /* wait after a failed connect, milliseconds */

/* ------------------------------------------------------------------------------------------
 * Options (opts.c)
 * ------------------------------------------------------------------------------------------ */

/* What the user asked for, validated. Strings are borrowed from argv. */
typedef struct uvfib__bench_opts {
    const char *host;         /* borrowed from argv; name or numeric address */
    uint16_t port;            /* TCP port, 1..65535 */
    const char *load_url;     /* borrowed; path of the closed-loop workload */
    unsigned load_conns;      /* closed-loop connections; 0 = workload off */
    const char *probe_url;    /* borrowed; path of the constant-rate probe */
    double probe_rate;        /* intended requests per second over all probe connections; 0 = off */
    unsigned probe_conns;     /* connections the probe spreads its rate over */
    double duration_s;        /* measured seconds, after the warmup */
    double warmup_s;          /* seconds run before measuring, excluded from every number */
    uint64_t timeout_ms;      /* per request and per connect attempt, milliseconds */
    bool json;                /* print one JSON object instead of the table */
    bool allow_remote;        /* permit a target outside 127.0.0.0/8 and ::1 */
} uvfib__bench_opts_t;

typedef enum uvfib__bench_opts_status {
    UVFIB__BENCH_OPTS_RUN,    /* options are valid: run */
    UVFIB__BENCH_OPTS_HELP,   /* --help was printed: exit 0 */
    UVFIB__BENCH_OPTS_BAD,    /* a message went to err: exit 2 */
} uvfib__bench_opts_status_t;

/* Parses argv into o (defaults first, then flags) and validates the result. Prints --help to
 * out and complaints to err. Uses getopt_long, so call it once per process. */
uvfib__bench_opts_status_t uvfib__bench_opts_parse(uvfib__bench_opts_t *o, int argc,
                                                   char **argv, FILE *out, FILE *err);

/* ------------------------------------------------------------------------------------------
 * Results (filled by client.c, printed by report.c)
 * ------------------------------------------------------------------------------------------ */

/* Failure kinds, each counted apart from HTTP error statuses. */
typedef enum uvfib__bench_err {
    UVFIB__BENCH_ERR_CONNECT,  /* connect failed or took longer than --timeout */
    UVFIB__BENCH_ERR_READ,     /* reset, EOF before the response ended, read or write error */
    UVFIB__BENCH_ERR_PARSE,    /* llhttp rejected the response, or bytes nobody asked for */
    UVFIB__BENCH_ERR_TIMEOUT,  /* no complete response within --timeout of the send */
    UVFIB__BENCH_ERR_N
} uvfib__bench_err_t;

/* One workload's numbers. Everything except n_connects counts only events that happened
 * inside the measured window. Zeroed bytes are a valid empty value. */
typedef struct uvfib__bench_stats {
    uint64_t n_responses;                    /* complete responses, any status */
    uint64_t n_4xx;                          /* of which status 400..499 */
    uint64_t n_5xx;                          /* of which status >= 500 */
    uint64_t n_errors[UVFIB__BENCH_ERR_N];   /* failures by kind */
    uint64_t n_connects;                     /* successful connects, whole run */
    uint64_t n_unfinished;                   /* due or in flight when the run stopped */
    uvfib__hist_t latency_ns;   /* ns; probe: from the intended send time; load: from send */
    uvfib__hist_t service_ns;   /* ns; from the actual send time (both workloads) */
} uvfib__bench_stats_t;

/* Everything one run produced. Large (four histograms): allocate it, do not put it on the
 * stack. */
typedef struct uvfib__bench_result {
    char address[64];            /* the target as contacted, numeric, for the report */
    double window_s;             /* seconds actually measured (< duration after SIGINT) */
    bool interrupted;            /* SIGINT or SIGTERM cut the run short */
    uvfib__bench_stats_t load;   /* closed-loop workload */
    uvfib__bench_stats_t probe;  /* constant-rate workload */
} uvfib__bench_result_t;

/* ------------------------------------------------------------------------------------------
 * The run (client.c)
 * ------------------------------------------------------------------------------------------ */

struct uv_loop_s;

/* Runs both workloads against addr on loop until warmup + duration have passed (or SIGINT or
 * SIGTERM), filling res. Returns 0 once the run completed, errors counted in res, or a
 * negative libuv error when it could not start. Either way every handle it opened is closed
 * and loop has nothing left to run; the caller closes loop. */
int uvfib__bench_client_run(struct uv_loop_s *loop, const uvfib__bench_opts_t *o,
                            const struct sockaddr *addr, uvfib__bench_result_t *res);

/* ------------------------------------------------------------------------------------------
 * Output (report.c)
 * ------------------------------------------------------------------------------------------ */

/* Prints the human-readable tables. */
void uvfib__bench_report_text(FILE *out, const uvfib__bench_opts_t *o,
                              const uvfib__bench_result_t *res);

/* Prints one JSON object and a newline (shape in opts.c's --help text). Returns 0, or -1 if
 * cJSON ran out of memory (nothing printed then). */
int uvfib__bench_report_json(FILE *out, const uvfib__bench_opts_t *o,
                             const uvfib__bench_result_t *res);

#endif /* UVFIB_BENCH_H */
