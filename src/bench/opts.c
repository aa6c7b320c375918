/* opts.c - uvfib-bench's command line: defaults, getopt_long, validation and --help, which
 * also documents the JSON output. Pure: no libuv, no sockets; the target's address is
 * resolved and checked by main.c. */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: uvfib-bench --duration SECONDS [options]\n"
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
    "\n"
    "target:\n"
    "  --host HOST              address or name; names use their first IPv4 address, else\n"
    "                           the first IPv6 one (default 127.0.0.1)\n"
    "  --port PORT              TCP port (default 3000)\n"
    "  --allow-remote           permit a target outside 127.0.0.0/8 and ::1; without it any\n"
    "                           other address is refused (exit 2) before anything is sent\n"
    "workloads:\n"
    "  --load-url PATH          closed-loop path (default /fibonacci/30)\n"
    "  --load-connections K     closed-loop connections, 0 = off (default 0, max 10000)\n"
    "  --probe-url PATH         probe path (default /healthz)\n"
    "  --probe-rate R           probe requests per second in total, 0 = off, else at\n"
    "                           least 0.01 (default 0)\n"
    "  --probe-connections P    connections the probe rate is spread over (default 4);\n"
    "                           keep R/P below 1/latency or the probe queues up behind itself\n"
    "timing:\n"
    "  --duration SECONDS       measured time, required, 0 < SECONDS <= 3600 (fractions ok)\n"
    "  --warmup SECONDS         extra time before it, run but not measured (default 0)\n"
    "  --timeout MS             per request and per connect attempt (default 2000)\n"
    "output:\n"
    "  --json                   print one JSON object (below) instead of tables\n"
    "  -h, --help               print this help and exit\n"
    "\n"
    "Counting: a response or error is counted when it happens inside the measured window.\n"
    "Responses of any status are requests; status >= 400 are also errors by class. Latency\n"
    "histograms hold every complete response; timeouts and failures are not in them.\n"
    "\"unfinished\" are requests in flight at the end (probe: also those that were due but\n"
    "not yet sent). \"connects\" counts successful connects over the whole run.\n"
    "SIGINT or SIGTERM ends the run early; the report then covers the time measured so far\n"
    "and says \"interrupted\".\n"
    "\n"
    "JSON (--json): one object on one line of stdout, keys in this order (format 1).\n"
    "Counts are integers, times are ms rounded to 0.001 ms, rates are per second:\n"
    "  {\"tool\": \"uvfib-bench\", \"format\": 1,\n"
    "   \"target\": {\"host\": \"127.0.0.1\", \"address\": \"127.0.0.1\", \"port\": 3000},\n"
    "   \"duration_s\": 10, \"warmup_s\": 0, \"window_s\": 10, \"timeout_ms\": 2000,\n"
    "   \"interrupted\": false,\n"
    "   \"load\": null or {\"url\": \"/fibonacci/30\", \"connections\": 4,\n"
    "       \"requests\": N, \"throughput_rps\": X, \"connects\": N, \"unfinished\": N,\n"
    "       \"errors\": {\"total\": N, \"status_4xx\": N, \"status_5xx\": N, \"connect\": N,\n"
    "                  \"read\": N, \"parse\": N, \"timeout\": N},\n"
    "       \"latency_ms\": LATENCY},\n"
    "   \"probe\": null or {\"url\": \"/healthz\", \"connections\": 4, \"rate_rps\": 100,\n"
    "       \"requests\" to \"errors\" as for load,\n"
    "       \"latency_ms\": LATENCY (corrected: from the intended send time),\n"
    "       \"service_ms\": LATENCY (uncorrected: from the actual send)}}\n"
    "  LATENCY = {\"count\": N, \"mean\": X, \"stddev\": X, \"min\": X, \"p50\": X,\n"
    "             \"p90\": X, \"p99\": X, \"p99_9\": X, \"max\": X}, all but count null\n"
    "             when count is 0. window_s < duration_s only when interrupted.\n"
    "\n"
    "exit status: 0 the run completed (errors are counted, not fatal), 1 setup failed,\n"
    "2 bad flags or a refused target.\n";

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
    if ((s[0] < '0' || s[0] > '9') && s[0] != '.')
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

uvfib__bench_opts_status_t uvfib__bench_opts_parse(uvfib__bench_opts_t *o, int argc,
                                                   char **argv, FILE *out, FILE *err)
{
    defaults(o);
    bool have_duration = false;
    uint64_t u = 0;
    int ch;
    int idx = 0;

    while ((ch = getopt_long(argc, argv, "h", long_opts, &idx)) != -1) {
        const char *arg = optarg;
        bool ok = true;
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
            ok = parse_num(arg, 0.0, UVFIB__BENCH_MAX_DURATION_S, &o->duration_s) &&
                 o->duration_s > 0.0;
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

    if (optind < argc) {
        fprintf(err, "uvfib-bench: unexpected argument '%s' (see --help)\n", argv[optind]);
        return UVFIB__BENCH_OPTS_BAD;
    }
    if (!have_duration) {
        fputs("uvfib-bench: --duration SECONDS is required (see --help)\n", err);
        return UVFIB__BENCH_OPTS_BAD;
    }
    if (o->load_conns == 0 && o->probe_rate <= 0.0) {
        fputs("uvfib-bench: nothing to do: give --load-connections K or --probe-rate R\n", err);
        return UVFIB__BENCH_OPTS_BAD;
    }
    return UVFIB__BENCH_OPTS_RUN;
}
