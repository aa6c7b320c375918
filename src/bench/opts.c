/* opts.c - uvfib-bench's command line: defaults, getopt_long, validation and --help, which
 * also documents the JSON output. Pure: no libuv, no sockets; the target's address is
 * resolved and checked by main.c. */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char usage_text[] =
    "usage: uvfib-bench --duration SECONDS [options]\n"
    "       uvfib-bench --compare A.json B.json [--json]\n"
    "\n"
    "Load generator for uvfib (and any HTTP/1.1 server). Two workloads share one loop:\n"
    "  load   K keep-alive connections in a closed loop: each sends its next request as soon\n"
    "         as the previous response arrived (CPU pressure, e.g. /fibonacci/30).\n"
    "  probe  R requests per second spread over P connections at fixed intended times, open\n"
    "         loop like wrk2: latency runs from the time a request was *supposed* to leave, so\n"
    "         a stall behind a busy connection is counted, not omitted. The uncorrected time\n"
    "         from the actual send is reported as service time. A send may leave up to 1 ms\n"
    "         early (timer resolution); its latency then runs from the actual send.\n"
    "Either workload may run alone; at least one must be on. Requests are GET without\n"
    "pipelining. A request without a complete response within --timeout counts as a timeout\n"
    "and its connection is replaced; after a failed connect a connection waits 100 ms.\n"
    "Full documentation: docs/bench-tool.md.\n"
    "\n"
    "target:\n"
    "  --host HOST              address or name; names use their first IPv4 address, else\n"
    "                           the first IPv6 one (default 127.0.0.1)\n"
    "  --port PORT              TCP port (default 3000)\n"
    "  --allow-remote           permit a target (and --server-metrics) outside 127.0.0.0/8\n"
    "                           and ::1; without it any other address is refused (exit 2)\n"
    "                           before anything is sent\n"
    "workloads:\n"
    "  --load-url PATH          closed-loop path (default /fibonacci/30)\n"
    "  --load-connections K     closed-loop connections, 0 = off (default 0, max 10000)\n"
    "  --probe-url PATH         probe path (default /healthz)\n"
    "  --probe-rate R           probe requests per second in total, 0 = off, else at\n"
    "                           least 0.01 (default 0)\n"
    "  --probe-connections P    connections the probe rate is spread over (default 4);\n"
    "                           keep R/P below 1/latency or the probe queues up behind itself\n"
    "timing:\n"
    "  --duration SECONDS       measured time, required, 0.001 <= SECONDS <= 3600 (decimal)\n"
    "  --warmup SECONDS         extra time before it, run but not measured (default 0)\n"
    "  --timeout MS             per request, connect attempt and scrape (default 2000)\n"
    "server metrics:\n"
    "  --server-metrics URL     http://HOST[:PORT]/PATH of the server's Prometheus text;\n"
    "                           scraped once a second on a connection of its own, its loop\n"
    "                           lag, utilization and pool gauges (uvfib_* and prom-client's\n"
    "                           nodejs_eventloop_*) go into the timeline\n"
    "output:\n"
    "  --json                   print one JSON object (below) instead of tables\n"
    "  --timeline               with the tables, also print one row per second\n"
    "  --hgrm FILE              write the probe's corrected latency (else the load's) as an\n"
    "                           HdrHistogram percentile distribution (.hgrm), in ms\n"
    "  --report FILE            write a self-contained report: FILE.html (tables, timeline,\n"
    "                           percentile curves) or FILE.svg (the plots only)\n"
    "  --threshold EXPR         a pass/fail criterion, repeatable: [load.]METRIC OP VALUE,\n"
    "                           METRIC p50 p99 p99.9 p(N) min max mean stddev (latency,\n"
    "                           unit us, ms or s, none = ms) errors error_rate (fraction or\n"
    "                           N%) rps requests, OP < <= > >= == !=, e.g. 'p99<5ms',\n"
    "                           'errors==0', 'load.rps>1000'; a failed one exits 99\n"
    "  --compare A B            compare two --json reports: the difference of each figure and\n"
    "                           whether it is beyond the runs' second-to-second noise\n"
    "  -h, --help               print this help and exit\n"
    "\n"
    "Counting: a response or error is counted when it happens inside the measured window.\n"
    "Responses of any status are requests; status >= 400 are also errors by class. Latency\n"
    "histograms hold every complete response; timeouts and failures are not in them.\n"
    "\"unfinished\" are requests in flight at the end (probe: also those that were due but\n"
    "not yet sent). \"connects\" counts successful connects over the whole run.\n"
    "SIGINT or SIGTERM ends the run early; the report then covers the time measured so far\n"
    "and says \"interrupted\". A percentile is withheld (null, '-') unless at least one\n"
    "sample lies beyond it: p99 needs 100 samples, p99.9 1000.\n"
    "\n"
    "JSON (--json): one object on one line of stdout (format 1; docs/bench-tool.md):\n"
    "  {\"tool\": \"uvfib-bench\", \"format\": 1, \"target\": {...}, \"duration_s\": 10,\n"
    "   \"warmup_s\": 0, \"window_s\": 10, \"timeout_ms\": 2000, \"interrupted\": false,\n"
    "   \"load\": null or {\"url\", \"connections\", \"requests\", \"throughput_rps\", \"sent\",\n"
    "       \"connects\", \"unfinished\", \"bytes\", \"errors\": {\"total\", \"status_4xx\",\n"
    "       \"status_5xx\", \"connect\", \"read\", \"parse\", \"timeout\"},\n"
    "       \"latency_ms\": LATENCY, \"autocannon\": {\"latency\", \"requests\", \"throughput\"}},\n"
    "   \"probe\": null or the same plus \"rate_rps\", \"intended\", \"late\", \"late_generator\",\n"
    "       \"latency_ms\" (corrected: from the intended send time) and\n"
    "       \"service_ms\" (uncorrected: from the actual send),\n"
    "   \"duration\", \"latency\", \"requests\", \"throughput\": autocannon's fields for the\n"
    "       probe (the load when the probe is off), \"generator\": {...},\n"
    "   \"timeline\": [one row per second], \"server_metrics\", \"warnings\", \"thresholds\"}\n"
    "  LATENCY = {\"count\": N, \"mean\": X, \"stddev\": X, \"min\": X, \"p50\": X,\n"
    "             \"p90\": X, \"p99\": X, \"p99_9\": X, \"max\": X}, ms; all but count null\n"
    "             when count is 0, a percentile null when too few samples stand behind it.\n"
    "\n"
    "exit status: 0 the run completed (errors are counted, not fatal), 1 setup failed or an\n"
    "output could not be written, 2 bad flags, a malformed threshold or a refused target,\n"
    "99 the run completed and a --threshold failed.\n";

enum {
    OPT_HOST = 256,
    OPT_PORT,
    OPT_LOAD_URL,
    OPT_LOAD_CONNS,
    OPT_PROBE_URL,
    OPT_PROBE_RATE,
    OPT_PROBE_CONNS,
    OPT_DURATION,
    OPT_WARMUP,
    OPT_TIMEOUT,
    OPT_JSON,
    OPT_ALLOW_REMOTE,
    OPT_TIMELINE,
    OPT_HGRM,
    OPT_REPORT,
    OPT_SERVER_METRICS,
    OPT_THRESHOLD,
    OPT_COMPARE,
};

static const struct option long_opts[] = {
    {"host", required_argument, NULL, OPT_HOST},
    {"port", required_argument, NULL, OPT_PORT},
    {"load-url", required_argument, NULL, OPT_LOAD_URL},
    {"load-connections", required_argument, NULL, OPT_LOAD_CONNS},
    {"probe-url", required_argument, NULL, OPT_PROBE_URL},
    {"probe-rate", required_argument, NULL, OPT_PROBE_RATE},
    {"probe-connections", required_argument, NULL, OPT_PROBE_CONNS},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"json", no_argument, NULL, OPT_JSON},
    {"allow-remote", no_argument, NULL, OPT_ALLOW_REMOTE},
    {"timeline", no_argument, NULL, OPT_TIMELINE},
    {"hgrm", required_argument, NULL, OPT_HGRM},
    {"report", required_argument, NULL, OPT_REPORT},
    {"server-metrics", required_argument, NULL, OPT_SERVER_METRICS},
    {"threshold", required_argument, NULL, OPT_THRESHOLD},
    {"compare", no_argument, NULL, OPT_COMPARE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Parses a whole decimal integer in [min, max]. Rejects signs, blanks and trailing bytes,
 * which strtoull would otherwise accept ("-1" wraps around, " 5" skips the blank). */
static bool parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (s[0] < '0' || s[0] > '9')
        return false;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* Parses a finite decimal number in [min, max] ("2", "0.5", "1e3"). */
static bool parse_num(const char *s, double min, double max, double *out)
{
    /* strtod would take hexadecimal ("0x1p-1") and "inf" too: decimal digits only. */
    if (((s[0] < '0' || s[0] > '9') && s[0] != '.') || s[strspn(s, "0123456789.eE+-")] != '\0')
        return false;
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v) || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* A request target we are willing to put on the request line: an origin-form path of
 * visible ASCII. Blanks, CR or LF would let a flag inject headers or a second request. */
static bool url_ok(const char *url)
{
    size_t len = strlen(url);
    if (len == 0 || len > UVFIB__BENCH_MAX_URL_LEN || url[0] != '/')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)url[i];
        if (ch <= 0x20 || ch >= 0x7f)
            return false;
    }
    return true;
}

/* Splits --server-metrics http://HOST[:PORT][/PATH] into o->metrics_*. HOST may be a
 * bracketed IPv6 address; the path must pass url_ok, like the workloads' paths. */
static bool parse_metrics_url(uvfib__bench_opts_t *o, const char *url)
{
    static const char scheme[] = "http://";
    if (strncmp(url, scheme, sizeof scheme - 1) != 0)
        return false;
    const char *host = url + sizeof scheme - 1;
    const char *host_end;
    const char *rest;
    if (host[0] == '[') {
        host++;
        host_end = strchr(host, ']');
        if (host_end == NULL)
            return false;
        rest = host_end + 1;
    } else {
        host_end = host + strcspn(host, ":/");
        rest = host_end;
    }
    size_t host_len = (size_t)(host_end - host);
    if (host_len == 0 || host_len > UVFIB__BENCH_MAX_HOST_LEN)
        return false;
    memcpy(o->metrics_host, host, host_len);
    o->metrics_host[host_len] = '\0';

    o->metrics_port = 80;
    if (rest[0] == ':') {
        char digits[8];
        size_t n = strcspn(rest + 1, "/");
        uint64_t port = 0;
        if (n == 0 || n >= sizeof digits)
            return false;
        memcpy(digits, rest + 1, n);
        digits[n] = '\0';
        if (!parse_uint(digits, 1, 65535, &port))
            return false;
        o->metrics_port = (uint16_t)port;
        rest += 1 + n;
    }
    if (rest[0] == '\0') {
        o->metrics_path = "/";
        return true;
    }
    o->metrics_path = rest;
    return url_ok(rest);
}

/* --report FILE must say by its name what to write. */
static bool report_name_ok(const char *path)
{
    size_t len = strlen(path);
    static const char *const exts[] = {".html", ".htm", ".svg"};
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        size_t n = strlen(exts[i]);
        if (len > n && strcasecmp(path + len - n, exts[i]) == 0)
            return true;
    }
    return false;
}

static void defaults(uvfib__bench_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 3000;
    o->load_url = "/fibonacci/30";
    o->load_conns = 0;
    o->probe_url = "/healthz";
    o->probe_rate = 0.0;
    o->probe_conns = 4;
    o->duration_s = 0.0;
    o->warmup_s = 0.0;
    o->timeout_ms = 2000;
}

/* Checks what only the whole command line can tell. Returns false after a message to err. */
static bool check_run(const uvfib__bench_opts_t *o, bool have_duration, FILE *err)
{
    if (!have_duration) {
        fputs("uvfib-bench: --duration SECONDS is required (see --help)\n", err);
        return false;
    }
    if (o->load_conns == 0 && o->probe_rate <= 0.0) {
        fputs("uvfib-bench: nothing to do: give --load-connections K or --probe-rate R\n", err);
        return false;
    }
    for (unsigned i = 0; i < o->n_thresholds; i++) {
        const uvfib__bench_threshold_t *t = &o->thresholds[i];
        bool on = t->on_load ? o->load_conns > 0 : o->probe_rate > 0.0;
        if (!on) {
            fprintf(err, "uvfib-bench: threshold '%s' is about the %s, which is off\n", t->expr,
                    t->on_load ? "load (--load-connections)" : "probe (--probe-rate)");
            return false;
        }
    }
    return true;
}

uvfib__bench_opts_status_t uvfib__bench_opts_parse(uvfib__bench_opts_t *o, int argc,
                                                   char **argv, FILE *out, FILE *err)
{
    defaults(o);
    bool have_duration = false;
    bool compare = false;
    const char *run_flag = NULL;   /* a flag that makes sense only for a run */
    uint64_t u = 0;
    int ch;
    int idx = 0;

    while ((ch = getopt_long(argc, argv, "h", long_opts, &idx)) != -1) {
        const char *arg = optarg;
        bool ok = true;
        if (ch != OPT_JSON && ch != OPT_COMPARE && ch != 'h' && ch != '?' && ch != ':')
            run_flag = long_opts[idx].name;
        switch (ch) {
        case OPT_HOST:
            o->host = arg;
            ok = arg[0] != '\0';
            break;
        case OPT_PORT:
            ok = parse_uint(arg, 1, 65535, &u);
            o->port = (uint16_t)u;
            break;
        case OPT_LOAD_URL:
            o->load_url = arg;
            ok = url_ok(arg);
            break;
        case OPT_LOAD_CONNS:
            ok = parse_uint(arg, 0, UVFIB__BENCH_MAX_CONNS, &u);
            o->load_conns = (unsigned)u;
            break;
        case OPT_PROBE_URL:
            o->probe_url = arg;
            ok = url_ok(arg);
            break;
        case OPT_PROBE_RATE:
            ok = parse_num(arg, 0.0, UVFIB__BENCH_MAX_RATE, &o->probe_rate) &&
                 (o->probe_rate == 0.0 || o->probe_rate >= UVFIB__BENCH_MIN_RATE);
            break;
        case OPT_PROBE_CONNS:
            ok = parse_uint(arg, 1, UVFIB__BENCH_MAX_CONNS, &u);
            o->probe_conns = (unsigned)u;
            break;
        case OPT_DURATION:
            /* At least the timers' millisecond: a shorter window measures nothing. */
            ok = parse_num(arg, 0.0, UVFIB__BENCH_MAX_DURATION_S, &o->duration_s) &&
                 o->duration_s >= 0.001;
            have_duration = true;
            break;
        case OPT_WARMUP:
            ok = parse_num(arg, 0.0, UVFIB__BENCH_MAX_DURATION_S, &o->warmup_s);
            break;
        case OPT_TIMEOUT:
            ok = parse_uint(arg, 1, UVFIB__BENCH_MAX_TIMEOUT_MS, &o->timeout_ms);
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case OPT_ALLOW_REMOTE:
            o->allow_remote = true;
            break;
        case OPT_TIMELINE:
            o->timeline_text = true;
            break;
        case OPT_HGRM:
            o->hgrm_path = arg;
            ok = arg[0] != '\0';
            break;
        case OPT_REPORT:
            o->report_path = arg;
            ok = report_name_ok(arg);
            break;
        case OPT_SERVER_METRICS:
            o->metrics_url = arg;
            ok = parse_metrics_url(o, arg);
            break;
        case OPT_THRESHOLD: {
            char why[160];
            if (o->n_thresholds == UVFIB__BENCH_MAX_THRESHOLDS) {
                fprintf(err, "uvfib-bench: at most %u --threshold\n",
                        UVFIB__BENCH_MAX_THRESHOLDS);
                return UVFIB__BENCH_OPTS_BAD;
            }
            if (uvfib__bench_threshold_parse(arg, &o->thresholds[o->n_thresholds], why,
                                             sizeof why) != 0) {
                fprintf(err, "uvfib-bench: malformed threshold '%s': %s\n", arg, why);
                return UVFIB__BENCH_OPTS_BAD;
            }
            o->n_thresholds++;
            break;
        }
        case OPT_COMPARE:
            compare = true;
            break;
        case 'h':
            fputs(usage_text, out);
            return UVFIB__BENCH_OPTS_HELP;
        default:
            /* getopt_long has already named the unknown flag or the missing argument. */
            fputs("uvfib-bench: try --help\n", err);
            return UVFIB__BENCH_OPTS_BAD;
        }
        if (!ok) {
            fprintf(err, "uvfib-bench: invalid value '%s' for --%s (see --help)\n", arg,
                    long_opts[idx].name);
            return UVFIB__BENCH_OPTS_BAD;
        }
    }

    if (compare) {
        if (run_flag != NULL) {
            fprintf(err, "uvfib-bench: --compare takes no --%s (only --json)\n", run_flag);
            return UVFIB__BENCH_OPTS_BAD;
        }
        if (argc - optind != 2) {
            fputs("uvfib-bench: --compare needs two report files: --compare A.json B.json\n",
                  err);
            return UVFIB__BENCH_OPTS_BAD;
        }
        o->compare_a = argv[optind];
        o->compare_b = argv[optind + 1];
        return UVFIB__BENCH_OPTS_COMPARE;
    }
    if (optind < argc) {
        fprintf(err, "uvfib-bench: unexpected argument '%s' (see --help)\n", argv[optind]);
        return UVFIB__BENCH_OPTS_BAD;
    }
    return check_run(o, have_duration, err) ? UVFIB__BENCH_OPTS_RUN : UVFIB__BENCH_OPTS_BAD;
}
