/* promtext.h - the server gauges uvfib-bench records from a Prometheus text exposition
 * (uvfib's own and prom-client's Node.js names), and the scan that finds them in a scrape.
 * Pure: no libuv, no allocation; it reads the text in place and keeps nothing of it. */
#ifndef UVFIB_BENCH_PROMTEXT_H
#define UVFIB_BENCH_PROMTEXT_H

#include <stddef.h>

/* The gauges looked for, in the order of uvfib__bench_server_metric_names. Their meaning,
 * and the window a "recent" gauge covers, is the server's: they are recorded as exported. */
enum {
    UVFIB__BENCH_SM_UVFIB_LAG_MIN,
    UVFIB__BENCH_SM_UVFIB_LAG_MAX,
    UVFIB__BENCH_SM_UVFIB_LAG_MEAN,
    UVFIB__BENCH_SM_UVFIB_LAG_STDDEV,
    UVFIB__BENCH_SM_UVFIB_LAG_P50,
    UVFIB__BENCH_SM_UVFIB_LAG_P90,
    UVFIB__BENCH_SM_UVFIB_LAG_P99,
    UVFIB__BENCH_SM_UVFIB_LAG_P999,
    UVFIB__BENCH_SM_UVFIB_ELU,
    UVFIB__BENCH_SM_UVFIB_POOL_WAITING,
    UVFIB__BENCH_SM_UVFIB_POOL_BUSY,
    UVFIB__BENCH_SM_NODE_LAG,
    UVFIB__BENCH_SM_NODE_LAG_MIN,
    UVFIB__BENCH_SM_NODE_LAG_MAX,
    UVFIB__BENCH_SM_NODE_LAG_MEAN,
    UVFIB__BENCH_SM_NODE_LAG_STDDEV,
    UVFIB__BENCH_SM_NODE_LAG_P50,
    UVFIB__BENCH_SM_NODE_LAG_P90,
    UVFIB__BENCH_SM_NODE_LAG_P99,
    UVFIB__BENCH_SM_NODE_ELU,
    UVFIB__BENCH_N_SERVER_METRICS
};

/* The exported names, e.g. "uvfib_eventloop_lag_p99_seconds". */
extern const char *const uvfib__bench_server_metric_names[UVFIB__BENCH_N_SERVER_METRICS];

/* Scans len bytes of text exposition format 0.0.4 (one sample a line: name, optional
 * {labels}, value, optional timestamp; '#' lines are comments) and stores the value of the
 * first sample of each known name in values[], in the exported unit; names not found, and
 * values that do not parse, are NaN. Labels are allowed and ignored. Returns how many known
 * names were found. */
size_t uvfib__bench_promtext_scan(const char *text, size_t len,
                                  double values[UVFIB__BENCH_N_SERVER_METRICS]);

#endif /* UVFIB_BENCH_PROMTEXT_H */
