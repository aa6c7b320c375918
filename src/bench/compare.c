/* compare.c - --compare A.json B.json (compare.h): reads two reports, lines up their headline
 * figures, and tests each difference against the runs' per-second spread with Welch's
 * t-test. The Student t tail comes from the regularized incomplete beta function. */
#include "compare.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* p below these marks a difference beyond the noise with one, two or three stars. */
#define ALPHA 0.05

/* ------------------------------------------------------------------------------------------
 * Statistics
 * ------------------------------------------------------------------------------------------ */

/* The continued fraction of the incomplete beta function, evaluated by the modified Lentz
 * method; converges quickly for x < (a + 1) / (a + b + 2). */
static double beta_fraction(double a, double b, double x)
{
    const double tiny = 1e-300;
    double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
    if (fabs(d) < tiny)
        d = tiny;
    d = 1.0 / d;
    double h = d;
    for (int m = 1; m <= 300; m++) {
        double m2 = 2.0 * m;
        /* Even step. */
        double num = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
        d = 1.0 + num * d;
        c = 1.0 + num / c;
        d = 1.0 / (fabs(d) < tiny ? tiny : d);
        c = fabs(c) < tiny ? tiny : c;
        h *= d * c;
        /* Odd step. */
        num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
        d = 1.0 + num * d;
        c = 1.0 + num / c;
        d = 1.0 / (fabs(d) < tiny ? tiny : d);
        c = fabs(c) < tiny ? tiny : c;
        double step = d * c;
        h *= step;
        if (fabs(step - 1.0) < 1e-14)
            break;
    }
    return h;
}

/* I_x(a, b), the regularized incomplete beta function, for x in [0, 1]. */
static double inc_beta(double a, double b, double x)
{
    if (x <= 0.0)
        return 0.0;
    if (x >= 1.0)
        return 1.0;
    double log_front = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
    if (x < (a + 1.0) / (a + b + 2.0))
        return exp(log_front) * beta_fraction(a, b, x) / a;
    return 1.0 - exp(log_front) * beta_fraction(b, a, 1.0 - x) / b;
}

double uvfib__bench_welch_p(double mean_a, double var_a, size_t n_a, double mean_b, double var_b,
                            size_t n_b)
{
    double sa = var_a / (double)n_a, sb = var_b / (double)n_b;
    double se2 = sa + sb;
    if (!(se2 > 0.0))
        return mean_a == mean_b ? 1.0 : 0.0;
    double t = (mean_a - mean_b) / sqrt(se2);
    double df = se2 * se2 / (sa * sa / (double)(n_a - 1) + sb * sb / (double)(n_b - 1));
    /* P(|T| > |t|) for Student's t with df degrees of freedom. */
    return inc_beta(df / 2.0, 0.5, df / (df + t * t));
}

/* ------------------------------------------------------------------------------------------
 * Reading the reports
 * ------------------------------------------------------------------------------------------ */

/* Reads a whole file; the caller frees. NULL with errno on failure. */
static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 64 * 1024, len = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        len += fread(buf + len, 1, cap - len - 1, f);
        if (len < cap - 1)
            break;
        char *grown = realloc(buf, cap * 2);
        if (grown == NULL) {
            free(buf);
            buf = NULL;
            errno = ENOMEM;
            break;
        }
        buf = grown;
        cap *= 2;
    }
    bool bad = ferror(f) != 0;
    fclose(f);
    if (buf == NULL || bad) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

/* A report file and its parsed tree. */
struct report {
    const char *path;   /* borrowed from argv */
    cJSON *root;        /* owned; cJSON_Delete */
};

/* Loads path into r. Returns 0, 1 (unreadable) or 2 (not a report), with a message. */
static int load_report(struct report *r, const char *path, FILE *err)
{
    r->path = path;
    r->root = NULL;
    char *text = read_all(path);
    if (text == NULL) {
        fprintf(err, "uvfib-bench: cannot read '%s': %s\n", path, strerror(errno));
        return 1;
    }
    /* One JSON object: the first line, as --json prints it. */
    r->root = cJSON_Parse(text);
    free(text);
    const cJSON *tool = cJSON_GetObjectItemCaseSensitive(r->root, "tool");
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(r->root, "format");
    if (!cJSON_IsString(tool) || strcmp(tool->valuestring, "uvfib-bench") != 0 ||
        !cJSON_IsNumber(format) || format->valuedouble != 1.0) {
        fprintf(err, "uvfib-bench: '%s' is not a uvfib-bench --json report (format 1)\n", path);
        cJSON_Delete(r->root);
        r->root = NULL;
        return 2;
    }
    return 0;
}

/* The number at a path of object keys (NULL-terminated), NaN when absent or null. */
static double number_at(const cJSON *node, const char *const *keys)
{
    for (; node != NULL && *keys != NULL; keys++)
        node = cJSON_GetObjectItemCaseSensitive(node, *keys);
    return cJSON_IsNumber(node) ? node->valuedouble : NAN;
}

/* One figure compared: where it is in the report, and in each timeline row. */
struct figure {
    const char *label;          /* as printed */
    const char *workload;       /* "probe" or "load" */
    const char *total_keys[3];  /* below the workload: the whole run's value */
    const char *row_keys[3];    /* below the row's workload: the per-second value */
};

static const struct figure figures[] = {
    {"probe latency mean (ms)", "probe", {"latency_ms", "mean"}, {"latency_ms", "mean"}},
    {"probe latency p50 (ms)", "probe", {"latency_ms", "p50"}, {"latency_ms", "p50"}},
    {"probe latency p90 (ms)", "probe", {"latency_ms", "p90"}, {"latency_ms", "p90"}},
    {"probe latency p99 (ms)", "probe", {"latency_ms", "p99"}, {"latency_ms", "p99"}},
    {"probe latency max (ms)", "probe", {"latency_ms", "max"}, {"latency_ms", "max"}},
    {"probe throughput (req/s)", "probe", {"throughput_rps"}, {"throughput_rps"}},
    {"load throughput (req/s)", "load", {"throughput_rps"}, {"throughput_rps"}},
    {"load latency mean (ms)", "load", {"latency_ms", "mean"}, {"latency_ms", "mean"}},
    {"load latency p50 (ms)", "load", {"latency_ms", "p50"}, {"latency_ms", "p50"}},
    {"load latency p99 (ms)", "load", {"latency_ms", "p99"}, {"latency_ms", "p99"}},
};

#define N_FIGURES (sizeof figures / sizeof figures[0])

/* Mean, variance (n - 1) and count of a figure's per-second values over whole rows. */
struct spread {
    double mean;   /* of the per-second values */
    double var;    /* their sample variance */
    size_t n;      /* rows with a value */
};

static struct spread row_spread(const cJSON *root, const struct figure *fg)
{
    struct spread s = {0.0, 0.0, 0};
    double sum = 0.0, sum2 = 0.0;
    const cJSON *row;
    cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(root, "timeline"))
    {
        const char *span_key[] = {"span_s", NULL};
        if (!(number_at(row, span_key) >= 1.0))
            continue;   /* a shortened last row is not a like-for-like sample */
        double v = number_at(cJSON_GetObjectItemCaseSensitive(row, fg->workload), fg->row_keys);
        if (isnan(v))
            continue;
        sum += v;
        sum2 += v * v;
        s.n++;
    }
    if (s.n > 0)
        s.mean = sum / (double)s.n;
    if (s.n > 1)
        s.var = fmax(0.0, (sum2 - sum * s.mean) / (double)(s.n - 1));
    return s;
}

/* One line of the comparison. */
struct row_result {
    double a, b;            /* whole-run values (NaN: absent) */
    double change_pct;      /* (b - a) / a * 100, NaN when a is 0 or absent */
    double p;               /* Welch p-value, NaN when a side has fewer than 2 seconds */
    size_t n_a, n_b;        /* seconds behind each side */
};

static struct row_result compare_figure(const struct report *ra, const struct report *rb,
                                        const struct figure *fg)
{
    struct row_result r;
    r.a = number_at(cJSON_GetObjectItemCaseSensitive(ra->root, fg->workload), fg->total_keys);
    r.b = number_at(cJSON_GetObjectItemCaseSensitive(rb->root, fg->workload), fg->total_keys);
    r.change_pct = (isnan(r.a) || isnan(r.b) || r.a == 0.0) ? NAN : (r.b - r.a) / r.a * 100.0;
    struct spread sa = row_spread(ra->root, fg), sb = row_spread(rb->root, fg);
    r.n_a = sa.n;
    r.n_b = sb.n;
    r.p = (sa.n >= 2 && sb.n >= 2) ? uvfib__bench_welch_p(sa.mean, sa.var, sa.n, sb.mean, sb.var,
                                                          sb.n)
                                   : NAN;
    return r;
}

static const char *stars(double p)
{
    if (isnan(p) || p >= ALPHA)
        return "";
    return p < 0.001 ? "***" : p < 0.01 ? "**" : "*";
}

/* ------------------------------------------------------------------------------------------
 * Output
 * ------------------------------------------------------------------------------------------ */

static void print_text(FILE *out, const struct report *ra, const struct report *rb,
                       const struct row_result *rows)
{
    fprintf(out, "uvfib-bench --compare: A = %s, B = %s\n\n", ra->path, rb->path);
    fprintf(out, "%-26s %12s %12s %9s %9s  %s\n", "figure", "A", "B", "change", "p",
            "beyond noise");
    for (size_t i = 0; i < N_FIGURES; i++) {
        const struct row_result *r = &rows[i];
        if (isnan(r->a) && isnan(r->b))
            continue;
        fprintf(out, "%-26s", figures[i].label);
        for (int k = 0; k < 2; k++) {
            double v = k == 0 ? r->a : r->b;
            if (isnan(v))
                fprintf(out, " %12s", "-");
            else
                fprintf(out, " %12.3f", v);
        }
        if (isnan(r->change_pct))
            fprintf(out, " %9s", "-");
        else
            fprintf(out, " %+8.1f%%", r->change_pct);
        if (isnan(r->p))
            fprintf(out, " %9s  n/a: %zu and %zu seconds with a value, 2 needed on each side\n",
                    "-", r->n_a, r->n_b);
        else
            fprintf(out, " %9.4f  %s%s%s\n", r->p, r->p < ALPHA ? "yes" : "no",
                    r->p < ALPHA ? " " : "", stars(r->p));
    }
    fprintf(out, "\nA figure's difference is beyond noise when Welch's t-test on the two runs' "
                 "per-second values\n(whole seconds of the timeline) gives p < %.2f; * p < "
                 "0.05, ** p < 0.01, *** p < 0.001.\n", ALPHA);
}

static int print_json(FILE *out, const struct report *ra, const struct report *rb,
                      const struct row_result *rows)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = NULL;
    bool ok = root != NULL && cJSON_AddStringToObject(root, "a", ra->path) != NULL &&
              cJSON_AddStringToObject(root, "b", rb->path) != NULL &&
              cJSON_AddNumberToObject(root, "alpha", ALPHA) != NULL &&
              (arr = cJSON_AddArrayToObject(root, "figures")) != NULL;
    for (size_t i = 0; ok && i < N_FIGURES; i++) {
        const struct row_result *r = &rows[i];
        cJSON *f = cJSON_CreateObject();
        ok = f != NULL && cJSON_AddItemToArray(arr, f) &&
             cJSON_AddStringToObject(f, "figure", figures[i].label) != NULL;
        const char *keys[] = {"a", "b", "change_pct", "p_value"};
        const double vals[] = {r->a, r->b, r->change_pct, r->p};
        for (size_t k = 0; ok && k < 4; k++)
            ok = (isnan(vals[k]) ? cJSON_AddNullToObject(f, keys[k])
                                 : cJSON_AddNumberToObject(f, keys[k], vals[k])) != NULL;
        ok = ok && cJSON_AddNumberToObject(f, "seconds_a", (double)r->n_a) != NULL &&
             cJSON_AddNumberToObject(f, "seconds_b", (double)r->n_b) != NULL &&
             (isnan(r->p) ? cJSON_AddNullToObject(f, "beyond_noise")
                          : cJSON_AddBoolToObject(f, "beyond_noise", r->p < ALPHA)) != NULL &&
             cJSON_AddStringToObject(f, "significant", stars(r->p)) != NULL;
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (text == NULL)
        return 1;
    fprintf(out, "%s\n", text);
    cJSON_free(text);
    return 0;
}

int uvfib__bench_compare(const char *path_a, const char *path_b, bool json, FILE *out,
                         FILE *err)
{
    struct report ra, rb;
    int status = load_report(&ra, path_a, err);
    if (status == 0) {
        status = load_report(&rb, path_b, err);
        if (status != 0)
            cJSON_Delete(ra.root);
    }
    if (status != 0)
        return status;

    struct row_result rows[N_FIGURES];
    for (size_t i = 0; i < N_FIGURES; i++)
        rows[i] = compare_figure(&ra, &rb, &figures[i]);
    if (json) {
        status = print_json(out, &ra, &rb, rows);
        if (status != 0)
            fprintf(err, "uvfib-bench: out of memory while printing JSON\n");
    } else {
        print_text(out, &ra, &rb, rows);
    }
    cJSON_Delete(ra.root);
    cJSON_Delete(rb.root);
    if (fflush(out) != 0)
        status = 1;
    return status;
}
