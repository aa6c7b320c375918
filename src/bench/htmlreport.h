/* htmlreport.h - the report people look at: one self-contained HTML page (summary tables,
 * warnings, thresholds, the per-second timeline with the server's loop lag beside the
 * client's latency, and the percentile curves), or the plots alone as one SVG document.
 * Inline SVG and a little CSS; no script, nothing fetched. Pure: writes to a FILE. */
#ifndef UVFIB_BENCH_HTMLREPORT_H
#define UVFIB_BENCH_HTMLREPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "bench.h"

/* Writes the HTML page (svg_only false) or the SVG document to out. Returns 0, or -1 when
 * writing failed. */
int uvfib__bench_htmlreport_write(FILE *out, bool svg_only, const uvfib__bench_opts_t *o,
                                  const uvfib__bench_result_t *res,
                                  const uvfib__bench_warnings_t *w,
                                  const uvfib__bench_thr_verdict_t *verdicts);

#endif /* UVFIB_BENCH_HTMLREPORT_H */
