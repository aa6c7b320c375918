/* prom.h - a growable text buffer and a writer of the Prometheus text exposition format
 * (version 0.0.4): HELP/TYPE headers, samples, escaped label values, and histograms
 * recorded in nanoseconds exposed in seconds. Pure C, no libuv; it formats, never serves.
 *
 * Threads: none shared. A buffer belongs to whichever thread writes it. Numbers are printed
 * with printf, so LC_NUMERIC must stay "C" (the library never calls setlocale()). */
#ifndef UVFIB_PROM_H
#define UVFIB_PROM_H

#include <stddef.h>

#include "hist.h"

#if defined(__GNUC__) || defined(__clang__)
#define UVFIB__PRINTF_LIKE(fmt_index, first_arg) \
    __attribute__((format(printf, fmt_index, first_arg)))
#else
#define UVFIB__PRINTF_LIKE(fmt_index, first_arg)
#endif

/* A byte buffer that grows as it is appended to. Once data is non-NULL it is kept
 * NUL-terminated (the NUL is not counted in len), so it can be used as a C string.
 * An allocation failure sets oom; from then on every append does nothing, so a writer
 * appends freely and checks oom once at the end. Zeroed bytes are a valid empty buffer. */
typedef struct uvfib__buf {
    char *data;     /* owned, freed by uvfib__buf_free(); NULL until the first append */
    size_t len;     /* bytes written, without the trailing NUL */
    size_t cap;     /* bytes allocated at data */
    int oom;        /* nonzero once an allocation (or a printf) failed: the text is incomplete */
} uvfib__buf_t;

/** Makes buf empty, allocating nothing. */
void uvfib__buf_init(uvfib__buf_t *buf);

/** Frees buf's memory and makes it empty again (oom cleared): it may be reused. */
void uvfib__buf_free(uvfib__buf_t *buf);

/** Appends n bytes from s (which may hold NULs). Does nothing once oom is set. */
void uvfib__buf_append(uvfib__buf_t *buf, const char *s, size_t n);

/** Appends printf-formatted text. Does nothing once oom is set; a formatting error (an
 * invalid wide character) sets oom too, since the text is then incomplete either way. */
void uvfib__buf_printf(uvfib__buf_t *buf, const char *fmt, ...) UVFIB__PRINTF_LIKE(2, 3);

/** Appends "# HELP name help\n# TYPE name type\n", with backslashes and newlines in help
 * escaped as the format requires. type is "counter", "gauge", "histogram", "summary" or
 * "untyped". help == NULL leaves out the HELP line. name must be a valid metric name
 * ([a-zA-Z_:][a-zA-Z0-9_:]*); it is written as is. */
void uvfib__prom_header(uvfib__buf_t *buf, const char *name, const char *type, const char *help);

/** Appends one sample line: "name value\n", or "name{labels} value\n" when labels is
 * neither NULL nor empty. labels is written as is, already in the form
 * `route="/x",code="200"`; escape caller-supplied values with uvfib__prom_label_escape().
 * Integral values up to 2^53 are printed as plain integers (no exponent); other values with
 * the fewest significant digits (15 to 17) that read back as the same double;
 * infinities and NaN as "+Inf", "-Inf" and "NaN". */
void uvfib__prom_sample(uvfib__buf_t *buf, const char *name, const char *labels, double value);

/** Appends value (a NUL-terminated string) escaped for use between the quotes of a label
 * value: backslash, double quote and newline become \\, \" and \n. The quotes themselves
 * are not written. */
void uvfib__prom_label_escape(uvfib__buf_t *buf, const char *value);

/** Appends the sample lines of a histogram recorded in nanoseconds, exposed in seconds:
 *   name_bucket{labels,le="<bound>"} <count of values <= bound>   for each bound
 *   name_bucket{labels,le="+Inf"} <count>
 *   name_sum{labels} <sum in seconds>
 *   name_count{labels} <count>
 * Bucket counts come from uvfib__hist_count_le() at round(bound * 1e9) ns, so they are
 * cumulative and exact up to the histogram's resolution (a value at most 1/128 above a
 * bound may count as below it). bounds_s must be finite and strictly increasing, in seconds;
 * +Inf is added here and must not be among them. labels is as for uvfib__prom_sample().
 * Write the "histogram" header with uvfib__prom_header() first. */
void uvfib__prom_hist_seconds(uvfib__buf_t *buf, const char *name, const char *labels,
                              const uvfib__hist_t *h_ns, const double *bounds_s, size_t n_bounds);

#endif /* UVFIB_PROM_H */
