/* stats.h - what the server sees now, read at one moment: the snapshot that /metrics and
 * uvfib_server_stats() print, and the inputs of the admission decision that offloading and
 * readiness both use.
 *
 * Threads: the loop thread only. */
#ifndef UVFIB_STATS_H
#define UVFIB_STATS_H

#include <stdbool.h>

#include "admission.h"
#include "metrics.h"

struct uvfib__server;

/* Fills s from srv's counters, pool, connections and loop. */
void uvfib__stats_snapshot(struct uvfib__server *srv, struct uvfib__snapshot *s);
/* The admission decision for one more computation now (pool: it would go to the pool), with
 * the limits and load it was made from. For work on the loop (!pool) only the loop's delay
 * counts, and the pool's counts are not read: load->waiting and running stay 0. */
struct uvfib__admission uvfib__stats_admission(struct uvfib__server *srv, bool pool,
                                               struct uvfib__admission_limits *lim,
                                               struct uvfib__admission_load *load);

#endif /* UVFIB_STATS_H */
