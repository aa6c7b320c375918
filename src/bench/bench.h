/* bench.h - private declarations of uvfib-bench, the load generator: its options, the
 * numbers one run produces, and the modules that share them (opts.c parses flags, client.c
 * drives the loop, scrape.c reads the server's /metrics, report.c prints tables and JSON,
 * check.c judges the run). The pure helpers have headers of their own (stats, hgrm,
 * threshold, timeline, promtext, htmlreport, compare). Nothing here is part of libuvfib. */
#ifndef UVFIB_BENCH_H
#define UVFIB_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <sys/socket.h>

#include "hist.h"
#include "threshold.h"
#include "timeline.h"

/* Limits the flags are checked against. */
#define UVFIB__BENCH_MAX_DURATION_S 3600.0     /* --duration and --warmup, seconds */
#define UVFIB__BENCH_MAX_CONNS 10000u          /* --load-connections, --probe-connections */
#define UVFIB__BENCH_MIN_RATE 0.01             /* --probe-rate unless 0, requests per second */
#define UVFIB__BENCH_MAX_RATE 1000000.0        /* --probe-rate, requests per second */
#define UVFIB__BENCH_MAX_TIMEOUT_MS 600000u    /* --timeout, milliseconds */
#define UVFIB__BENCH_MAX_URL_LEN 4096u         /* --load-url, --probe-url, bytes */
#define UVFIB__BENCH_CONNECT_BACKOFF_MS 100u   /* wait after a failed connect, milliseconds */
#define UVFIB__BENCH_MAX_THRESHOLDS 32u        /* --threshold, how many */
#define UVFIB__BENCH_MAX_HOST_LEN 255u         /* host of --server-metrics, bytes */

/* Exit statuses, as --help and docs/bench-tool.md document them. */
enum {
    UVFIB__BENCH_EXIT_OK = 0,           /* the run completed (errors are in the report) */
    UVFIB__BENCH_EXIT_SETUP = 1,        /* could not start, or could not write an output */
    UVFIB__BENCH_EXIT_USAGE = 2,        /* bad flags, a malformed threshold, a refused target */
    UVFIB__BENCH_EXIT_THRESHOLD = 99,   /* the run completed and a --threshold failed (k6) */
};

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
    bool timeline_text;       /* --timeline: the table report also prints the per-second rows */
    const char *hgrm_path;    /* borrowed; --hgrm FILE, NULL = none */
    const char *report_path;  /* borrowed; --report FILE (.html or .svg), NULL = none */
    const char *metrics_url;  /* borrowed; --server-metrics URL as given, NULL = no scrape */
    char metrics_host[UVFIB__BENCH_MAX_HOST_LEN + 1];   /* its host, brackets removed */
    uint16_t metrics_port;    /* its port (80 when the URL names none) */
    const char *metrics_path; /* borrowed, points into metrics_url: "/..." ("/" if none) */
    uvfib__bench_threshold_t thresholds[UVFIB__BENCH_MAX_THRESHOLDS];   /* --threshold */
    unsigned n_thresholds;    /* entries used in thresholds */
    const char *compare_a;    /* borrowed; --compare A B: the baseline run's JSON file */
    const char *compare_b;    /* borrowed; the run compared with it */
} uvfib__bench_opts_t;

typedef enum uvfib__bench_opts_status {
    UVFIB__BENCH_OPTS_RUN,    /* options are valid: run */
    UVFIB__BENCH_OPTS_HELP,   /* --help was printed: exit 0 */
    UVFIB__BENCH_OPTS_COMPARE,/* --compare A B: compare two reports, run nothing */
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
    uint64_t n_sent;                         /* requests that left */
    uint64_t n_intended;                     /* probe: requests due by the schedule */
    uint64_t n_late;                         /* probe: left over UVFIB__BENCH_LATE_NS late */
    uint64_t n_late_generator;               /* probe: of those, late with the connection
                                                idle: the generator's own lag */
    uint64_t n_bytes;                        /* bytes read */
    uvfib__hist_t latency_ns;   /* ns; probe: from the intended send time; load: from send */
    uvfib__hist_t service_ns;   /* ns; from the actual send time (both workloads) */
} uvfib__bench_stats_t;

/* The load generator's own health over the measured window. */
typedef struct uvfib__bench_gen {
    double cpu_s;                 /* user + system CPU of the whole process, seconds */
    uvfib__hist_t timer_lag_ns;   /* ns: how late each probe timer fired after its due time */
} uvfib__bench_gen_t;

/* Everything one run produced. Large (histograms): allocate it, do not put it on the
 * stack; uvfib__bench_result_free releases what it owns. */
typedef struct uvfib__bench_result {
    char address[64];            /* the target as contacted, numeric, for the report */
    char metrics_address[64];    /* the --server-metrics address as contacted, "" if none */
    double window_s;             /* seconds actually measured (< duration after SIGINT) */
    bool interrupted;            /* SIGINT or SIGTERM cut the run short */
    uvfib__bench_stats_t load;   /* closed-loop workload */
    uvfib__bench_stats_t probe;  /* constant-rate workload */
    uvfib__bench_gen_t gen;      /* the generator itself */
    uvfib__bench_timeline_t timeline;   /* per-second rows; owns its rows */
    uint64_t n_scrapes;          /* scrapes attempted (busy ticks not included) */
    uint64_t n_scrapes_ok;       /* of which answered 200 */
    char scrape_error[96];       /* the first failed scrape's reason, "" if none */
} uvfib__bench_result_t;

/* Frees what res owns (not res itself). */
void uvfib__bench_result_free(uvfib__bench_result_t *res);

/* Failures of a workload: connect, read, parse and timeout errors. */
uint64_t uvfib__bench_failures(const uvfib__bench_stats_t *st);

/* Its errors: status >= 400 plus failures. */
uint64_t uvfib__bench_errors_total(const uvfib__bench_stats_t *st);

/* ------------------------------------------------------------------------------------------
 * The run (client.c)
 * ------------------------------------------------------------------------------------------ */

struct uv_loop_s;

/* Runs both workloads against addr on loop until warmup + duration have passed (or SIGINT or
 * SIGTERM), filling res, and scrapes metrics_addr once a second when it is not NULL. Returns
 * 0 once the run completed, errors counted in res, or a negative libuv error when it could
 * not start. Either way every handle it opened is closed and loop has nothing left to run;
 * the caller closes loop. */
int uvfib__bench_client_run(struct uv_loop_s *loop, const uvfib__bench_opts_t *o,
                            const struct sockaddr *addr, const struct sockaddr *metrics_addr,
                            uvfib__bench_result_t *res);

/* ------------------------------------------------------------------------------------------
 * Judging the run (check.c)
 * ------------------------------------------------------------------------------------------ */

#define UVFIB__BENCH_MAX_WARNINGS 8u

/* What a reader must know before trusting the figures: the generator could not keep the
 * rate or used its whole core, percentiles withheld for want of samples, failed scrapes. */
typedef struct uvfib__bench_warnings {
    unsigned n;                                     /* entries used in text */
    char text[UVFIB__BENCH_MAX_WARNINGS][240];      /* one sentence each */
} uvfib__bench_warnings_t;

/* Share of the probe's sends that may be late through the generator's fault before it is
 * said to have missed its rate, and the CPU (cores) at which its one thread counts as full. */
#define UVFIB__BENCH_GEN_LATE_SHARE 0.01
#define UVFIB__BENCH_GEN_CPU_FULL 0.9

/* Fills w with the honesty checks that apply to res. */
void uvfib__bench_check_honesty(const uvfib__bench_opts_t *o, const uvfib__bench_result_t *res,
                                uvfib__bench_warnings_t *w);

/* The subject a threshold is judged against: the load's or the probe's numbers in res. */
uvfib__bench_thr_subject_t uvfib__bench_check_subject(const uvfib__bench_result_t *res,
                                                      bool on_load);

/* Judges every --threshold; returns how many failed. */
unsigned uvfib__bench_check_thresholds(const uvfib__bench_opts_t *o,
                                       const uvfib__bench_result_t *res,
                                       uvfib__bench_thr_verdict_t *verdicts);

/* ------------------------------------------------------------------------------------------
 * Output (report.c)
 * ------------------------------------------------------------------------------------------ */

/* Prints the human-readable tables, the timeline with --timeline, the warnings and the
 * thresholds' verdicts (one per o->thresholds entry). */
void uvfib__bench_report_text(FILE *out, const uvfib__bench_opts_t *o,
                              const uvfib__bench_result_t *res,
                              const uvfib__bench_warnings_t *w,
                              const uvfib__bench_thr_verdict_t *verdicts);

/* Prints one JSON object and a newline (shape in docs/bench-tool.md). Returns 0, or -1 if
 * cJSON ran out of memory (nothing printed then). */
int uvfib__bench_report_json(FILE *out, const uvfib__bench_opts_t *o,
                             const uvfib__bench_result_t *res,
                             const uvfib__bench_warnings_t *w,
                             const uvfib__bench_thr_verdict_t *verdicts);

/* Prints the verdicts one a line ("  ok    p99<5ms   p99 = 1.234 ms"), for the table
 * report and, in JSON mode, for stderr. */
void uvfib__bench_report_thresholds(FILE *out, const uvfib__bench_opts_t *o,
                                    const uvfib__bench_thr_verdict_t *verdicts);

#endif /* UVFIB_BENCH_H */
