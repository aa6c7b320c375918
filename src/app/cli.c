/* cli.c - see cli.h. */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <llhttp.h> /* for --version only */

#include "decimal.h"

/* Indexed by uvfib_mode_t: the names the flag takes and the logs and metrics show. */
static const char *const mode_names[] = {"auto", "offload", "inline"};
/* Indexed by uvfib_priority_t. */
static const char *const priority_names[] = {"normal", "nice", "batch", "idle"};
/* Indexed by cfg.half_close_answer. */
static const char *const half_close_names[] = {"cancel", "answer"};

/* The index of name in names[n], or -1. */
static int name_index(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return (int)i;
    return -1;
}

const char *cli_priority_name(uvfib_priority_t p)
{
    return (unsigned)p < sizeof(priority_names) / sizeof(priority_names[0]) ? priority_names[p]
                                                                           : "?";
}

const char *cli_mode_name(uvfib_mode_t mode)
{
    return (unsigned)mode < sizeof(mode_names) / sizeof(mode_names[0]) ? mode_names[mode] : "?";
}

static const char usage[] =
    "Usage: uvfib [OPTION]...\n"
    "Serve GET /fibonacci/:number on one libuv loop, computing in a thread pool.\n"
    "\n"
    "  -H, --host ADDR            address to listen on (default 127.0.0.1; IPv6: ::1)\n"
    "  -p, --port PORT            port, 0 for any free one (default $PORT, else 3000)\n"
    "  -t, --threads N            compute threads (default: number of CPUs); libuv's pool\n"
    "                             gets N + 1, one kept free for file and DNS work\n"
    "  -n, --max-n N              largest n accepted (default 45, at most 93)\n"
    "  -m, --mode MODE            auto | offload | inline (default auto)\n"
    "      --inline-max-n N       in auto mode, n up to N runs on the loop (default: measured\n"
    "                             at start, the largest n whose kernel costs no more than a\n"
    "                             hand-off to the pool)\n"
    "      --max-queue N          computations that may wait for a thread, a bound on memory;\n"
    "                             beyond, 503 (default 10000)\n"
    "      --max-connections N    open connections; more are closed at once (default 20000)\n"
    "      --max-pipeline N       unanswered requests per connection before reads pause (16)\n"
    "      --max-url-bytes N      request target limit, 414 beyond (default 8192)\n"
    "      --max-header-bytes N   header block limit, 431 beyond (default 16384)\n"
    "      --max-headers N        header count limit, 431 beyond (default 100)\n"
    "      --max-body-bytes N     request body limit, 413 beyond (default 1024)\n"
    "      --header-timeout MS    time for a whole request (head and body) to arrive,\n"
    "                             counted from its first byte; 408 after (60000)\n"
    "      --keepalive-timeout MS idle keep-alive connections are closed after (5000)\n"
    "      --write-timeout MS     a client that does not read its response is dropped (30000)\n"
    "      --reuseport            bind with SO_REUSEPORT: several uvfib processes share\n"
    "                             one port and the kernel spreads connections over them\n"
    "                             (give each --threads cores/processes)\n"
    "      --drain-delay MS       on SIGTERM/SIGINT, answer /readyz 503 at once but keep\n"
    "                             serving and accepting for MS, so that a balancer's health\n"
    "                             checks take the instance out before it stops accepting\n"
    "                             (default 0: stop at once, as without a balancer there is\n"
    "                             nobody to tell; behind one, more than its checks need)\n"
    "      --drain-timeout MS     then time for in-flight requests, counted from the end\n"
    "                             of the delay; exit 0 by then at the latest (30000)\n"
    "      --compute-timeout MS   a computation not done this long after it was queued is\n"
    "                             cancelled and answered 504 (default 0: no limit); one\n"
    "                             that would wait longer gets 503 at once. Not for work\n"
    "                             run on the loop (--mode inline, n <= --inline-max-n)\n"
    "      --compute-priority P   how compute threads are scheduled so the loop wins the\n"
    "                             CPU: normal | nice | batch | idle (default nice); held\n"
    "                             only while they compute more than a hand-off's worth,\n"
    "                             if the process may raise it back (root, LimitNICE=+0).\n"
    "                             idle keeps the loop fastest; use it only where nothing\n"
    "                             else keeps the cores busy, as idle threads compute on\n"
    "                             little more than the CPU the others leave\n"
    "      --compute-nice N       nice increment for compute threads, 0 to 19 (default 10);\n"
    "                             with nice, 0 leaves their priority alone\n"
    "      --coalesce-ms MS       while every compute thread has work queued behind it, a\n"
    "                             finished computation may wait up to MS for the next, so\n"
    "                             that one wake-up of the loop answers both (default 1;\n"
    "                             0: answer each at once)\n"
    "      --loop-resolution MS   period of the event-loop delay monitor (default 10; 0 off)\n"
    "      --monitor-window MS    window of the recent loop delay --max-loop-delay judges (default 1000)\n"
    "      --max-loop-delay MS    answer computations 503 while the recent event-loop delay\n"
    "                             is over MS (default 0: never)\n"
    "      --max-queue-wait MS    admission: answer computations 503 + Retry-After while\n"
    "                             the wait a new one can expect (waiting / threads x recent\n"
    "                             compute time, or what the oldest waiting one has waited\n"
    "                             if more) is over MS (default 5000; 0: never)\n"
    "      --half-close WHAT      a client that ends its stream (EOF) with requests still\n"
    "                             unanswered: cancel (default; it left, as Node and Go\n"
    "                             see it) or answer (them first, as nginx; nc -N)\n"
    "      --access-log FILE|off  one JSON line per request, appended to FILE (default -:\n"
    "                             stderr); written by a thread of its own, never blocking\n"
    "  -h, --help                 show this help and exit\n"
    "  -V, --version              show the version and exit\n"
    "\n"
    "Exit status: 0 after a clean shutdown, 1 on a runtime error, 2 on a bad option.\n"
    "A second SIGINT/SIGTERM exits at once.\n"
    "\n"
    "systemd: started with LISTEN_FDS=1 and LISTEN_PID (socket activation), uvfib serves\n"
    "the socket passed as fd 3 and binds nothing (--host, --port, --reuseport unused).\n"
    "With NOTIFY_SOCKET set it sends READY=1 once serving and STOPPING=1 when a drain\n"
    "starts, each with a STATUS= line (Type=notify).\n";

enum {
    OPT_INLINE_MAX_N = 256,
    OPT_MAX_QUEUE,
    OPT_MAX_CONNECTIONS,
    OPT_MAX_PIPELINE,
    OPT_MAX_URL_BYTES,
    OPT_MAX_HEADER_BYTES,
    OPT_MAX_HEADERS,
    OPT_MAX_BODY_BYTES,
    OPT_HEADER_TIMEOUT,
    OPT_KEEPALIVE_TIMEOUT,
    OPT_WRITE_TIMEOUT,
    OPT_DRAIN_DELAY,
    OPT_DRAIN_TIMEOUT,
    OPT_REUSEPORT,
    OPT_COMPUTE_TIMEOUT,
    OPT_COMPUTE_NICE,
    OPT_COMPUTE_PRIORITY,
    OPT_COALESCE,
    OPT_LOOP_RESOLUTION,
    OPT_MONITOR_WINDOW,
    OPT_MAX_LOOP_DELAY,
    OPT_MAX_QUEUE_WAIT,
    OPT_ACCESS_LOG,
    OPT_HALF_CLOSE,
};

static const struct option options[] = {
    {"host", required_argument, NULL, 'H'},
    {"port", required_argument, NULL, 'p'},
    {"threads", required_argument, NULL, 't'},
    {"max-n", required_argument, NULL, 'n'},
    {"mode", required_argument, NULL, 'm'},
    {"inline-max-n", required_argument, NULL, OPT_INLINE_MAX_N},
    {"max-queue", required_argument, NULL, OPT_MAX_QUEUE},
    {"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
    {"max-pipeline", required_argument, NULL, OPT_MAX_PIPELINE},
    {"max-url-bytes", required_argument, NULL, OPT_MAX_URL_BYTES},
    {"max-header-bytes", required_argument, NULL, OPT_MAX_HEADER_BYTES},
    {"max-headers", required_argument, NULL, OPT_MAX_HEADERS},
    {"max-body-bytes", required_argument, NULL, OPT_MAX_BODY_BYTES},
    {"header-timeout", required_argument, NULL, OPT_HEADER_TIMEOUT},
    {"keepalive-timeout", required_argument, NULL, OPT_KEEPALIVE_TIMEOUT},
    {"write-timeout", required_argument, NULL, OPT_WRITE_TIMEOUT},
    {"reuseport", no_argument, NULL, OPT_REUSEPORT},
    {"drain-delay", required_argument, NULL, OPT_DRAIN_DELAY},
    {"drain-timeout", required_argument, NULL, OPT_DRAIN_TIMEOUT},
    {"compute-timeout", required_argument, NULL, OPT_COMPUTE_TIMEOUT},
    {"compute-nice", required_argument, NULL, OPT_COMPUTE_NICE},
    {"compute-priority", required_argument, NULL, OPT_COMPUTE_PRIORITY},
    {"coalesce-ms", required_argument, NULL, OPT_COALESCE},
    {"loop-resolution", required_argument, NULL, OPT_LOOP_RESOLUTION},
    {"monitor-window", required_argument, NULL, OPT_MONITOR_WINDOW},
    {"max-loop-delay", required_argument, NULL, OPT_MAX_LOOP_DELAY},
    {"max-queue-wait", required_argument, NULL, OPT_MAX_QUEUE_WAIT},
    {"access-log", required_argument, NULL, OPT_ACCESS_LOG},
    {"half-close", required_argument, NULL, OPT_HALF_CLOSE},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

const char *cli_option_name(size_t i)
{
    return i < sizeof(options) / sizeof(options[0]) ? options[i].name : NULL;
}

/* A whole number in [min, max], digits only. */
static bool number(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t v;
    if (decimal_parse_u64(s, &v) != 0 || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static int bad(FILE *err, const char *name, const char *value, const char *want)
{
    fprintf(err, "uvfib: invalid --%s '%s': %s (see --help)\n", name, value, want);
    return CLI_USAGE;
}

int cli_parse(struct cli *cli, int argc, char **argv, FILE *out, FILE *err)
{
    uvfib_config_init(&cli->cfg);
    fib_options_init(&cli->fib);
    cli->drain_delay_ms = 0;
    cli->drain_timeout_ms = 30 * 1000;
    cli->access_log = "-";
    cli->bad_port_env = NULL;
    cli->inline_max_n_given = false;
    /* The executable opts in to lowering its compute threads (the library does not). */
    cli->cfg.compute_priority = UVFIB_PRIORITY_NICE;
    uint64_t v;
    bool port_given = false; /* --port, which $PORT does not override */

    optind = 0; /* glibc: a full re-initialisation, so tests can parse again */
    opterr = 0;
    int opt;
    static const char shortopts[] = ":H:p:t:n:m:hV";
    while ((opt = getopt_long(argc, argv, shortopts, options, NULL)) != -1) {
        const char *name = NULL;
        for (const struct option *o = options; o->name != NULL; o++)
            if (o->val == opt)
                name = o->name;
        switch (opt) {
        case 'H':
            /* As the server reads it (a name such as "localhost" is not looked up). libuv
             * reads at most 39 bytes of an IPv6 address before a '%zone': no longer one. */
            if ((uv_ip4_addr(optarg, 0, &(struct sockaddr_in){0}) != 0 &&
                 uv_ip6_addr(optarg, 0, &(struct sockaddr_in6){0}) != 0) ||
                strcspn(optarg, "%") > 39)
                return bad(err, name, optarg, "expected an IPv4 or IPv6 address");
            cli->cfg.host = optarg;
            break;
        case 'p':
            if (!number(optarg, 0, 65535, &v))
                return bad(err, name, optarg, "expected a port number 0-65535");
            cli->cfg.port = (int)v;
            port_given = true;
            break;
        case 't':
            if (!number(optarg, 1, 1023, &v))
                return bad(err, name, optarg, "expected 1-1023 threads");
            cli->cfg.threads = (unsigned)v;
            break;
        case 'n':
            if (!number(optarg, 0, FIB_MAX_N, &v))
                return bad(err, name, optarg, "expected 0-93 (F(93) is the last to fit 64 bits)");
            cli->fib.max_n = (unsigned)v;
            break;
        case 'm': {
            int m = name_index(mode_names, sizeof(mode_names) / sizeof(mode_names[0]), optarg);
            if (m < 0)
                return bad(err, name, optarg, "expected auto, offload or inline");
            cli->cfg.mode = (uvfib_mode_t)m;
            break;
        }
        case OPT_COMPUTE_PRIORITY: {
            int p = name_index(priority_names,
                               sizeof(priority_names) / sizeof(priority_names[0]), optarg);
            if (p < 0)
                return bad(err, name, optarg, "expected normal, nice, batch or idle");
            cli->cfg.compute_priority = (uvfib_priority_t)p;
            break;
        }
        case OPT_HALF_CLOSE: {
            int h = name_index(half_close_names,
                               sizeof(half_close_names) / sizeof(half_close_names[0]), optarg);
            if (h < 0)
                return bad(err, name, optarg, "expected cancel or answer");
            cli->cfg.half_close_answer = h;
            break;
        }
        case OPT_INLINE_MAX_N:
            if (!number(optarg, 0, FIB_MAX_N, &v))
                return bad(err, name, optarg, "expected 0-93");
            cli->fib.inline_max_n = (unsigned)v;
            cli->inline_max_n_given = true;
            break;
        case OPT_MAX_QUEUE:
        case OPT_MAX_CONNECTIONS:
        case OPT_MAX_HEADERS:
            if (!number(optarg, opt == OPT_MAX_QUEUE ? 0 : 1, 10000000, &v))
                return bad(err, name, optarg, "expected a whole number");
            if (opt == OPT_MAX_QUEUE)
                cli->cfg.max_queue = (unsigned)v;
            else if (opt == OPT_MAX_CONNECTIONS)
                cli->cfg.max_connections = (unsigned)v;
            else
                cli->cfg.max_headers = (unsigned)v;
            break;
        case OPT_MAX_PIPELINE:
            if (!number(optarg, 1, 1024, &v))
                return bad(err, name, optarg, "expected 1-1024");
            cli->cfg.max_pipeline = (unsigned)v;
            break;
        case OPT_MAX_URL_BYTES:
        case OPT_MAX_HEADER_BYTES:
        case OPT_MAX_BODY_BYTES:
            if (!number(optarg, opt == OPT_MAX_BODY_BYTES ? 0 : 16, 1 << 24, &v))
                return bad(err, name, optarg, "expected a size in bytes (at most 16 MiB)");
            if (opt == OPT_MAX_URL_BYTES)
                cli->cfg.max_url_bytes = v;
            else if (opt == OPT_MAX_HEADER_BYTES)
                cli->cfg.max_header_bytes = v;
            else
                cli->cfg.max_body_bytes = v;
            break;
        case OPT_REUSEPORT:
            cli->cfg.reuseport = 1;
            break;
        case OPT_DRAIN_DELAY:
            if (!number(optarg, 0, 3600 * 1000, &v))
                return bad(err, name, optarg, "expected milliseconds, at most 3600000");
            cli->drain_delay_ms = v;
            break;
        case OPT_HEADER_TIMEOUT:
        case OPT_KEEPALIVE_TIMEOUT:
        case OPT_WRITE_TIMEOUT:
        case OPT_DRAIN_TIMEOUT:
        case OPT_COMPUTE_TIMEOUT:
            if (!number(optarg, 0, 24ull * 3600 * 1000, &v))
                return bad(err, name, optarg, "expected milliseconds (0 disables)");
            if (opt == OPT_HEADER_TIMEOUT)
                cli->cfg.header_timeout_ms = v;
            else if (opt == OPT_KEEPALIVE_TIMEOUT)
                cli->cfg.keepalive_timeout_ms = v;
            else if (opt == OPT_WRITE_TIMEOUT)
                cli->cfg.write_timeout_ms = v;
            else if (opt == OPT_COMPUTE_TIMEOUT)
                cli->cfg.compute_timeout_ms = v;
            else
                cli->drain_timeout_ms = v;
            break;
        case OPT_COMPUTE_NICE:
            if (!number(optarg, 0, 19, &v))
                return bad(err, name, optarg, "expected 0-19");
            cli->cfg.compute_nice = (int)v;
            break;
        case OPT_COALESCE:
            if (!number(optarg, 0, 1000, &v))
                return bad(err, name, optarg, "expected 0-1000 milliseconds (0 disables)");
            cli->cfg.coalesce_ms = v;
            break;
        case OPT_LOOP_RESOLUTION:
        case OPT_MONITOR_WINDOW:
        case OPT_MAX_LOOP_DELAY:
        case OPT_MAX_QUEUE_WAIT:
            if (!number(optarg, opt == OPT_MONITOR_WINDOW ? 1 : 0, 3600 * 1000, &v))
                return bad(err, name, optarg,
                           opt == OPT_MONITOR_WINDOW ? "expected 1-3600000 milliseconds"
                                                     : "expected milliseconds (0 disables)");
            if (opt == OPT_LOOP_RESOLUTION)
                cli->cfg.loop_resolution_ms = v;
            else if (opt == OPT_MONITOR_WINDOW)
                cli->cfg.monitor_window_ms = v;
            else if (opt == OPT_MAX_LOOP_DELAY)
                cli->cfg.max_loop_delay_ms = v;
            else
                cli->cfg.max_queue_wait_ms = v;
            break;
        case OPT_ACCESS_LOG:
            if (*optarg == '\0')
                return bad(err, name, optarg, "expected a file name, - (stderr) or off");
            cli->access_log = optarg;
            break;
        case 'h':
            fputs(usage, out);
            return CLI_EXIT;
        case 'V':
            fprintf(out, "uvfib %s (libuv %s, llhttp %d.%d.%d)\n", uvfib_version_string(),
                    uv_version_string(), LLHTTP_VERSION_MAJOR, LLHTTP_VERSION_MINOR,
                    LLHTTP_VERSION_PATCH);
            return CLI_EXIT;
        case ':':
        default:
            /* Name the culprit. getopt leaves optopt at 0 for an unknown long
             * option, and at the letter for an unknown short one, even inside
             * a group ("-xV", where argv[optind - 1] is the word before). A
             * known letter means a long option misused ("--help=yes"), and a
             * missing value is always in the last word. */
            if (opt == '?' && optopt > 0 && optopt < 256 && strchr(shortopts, optopt) == NULL)
                fprintf(err, "uvfib: unknown option '-%c' (see --help)\n", optopt);
            else if (opt == ':' && strncmp(argv[optind - 1], "--", 2) != 0)
                fprintf(err, "uvfib: option needs a value: '-%c' (see --help)\n", optopt);
            else
                fprintf(err, "uvfib: %s '%s' (see --help)\n",
                        opt == ':' ? "option needs a value:" : "unknown option", argv[optind - 1]);
            return CLI_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(err, "uvfib: unexpected argument '%s' (see --help)\n", argv[optind]);
        return CLI_USAGE;
    }
    /* Read only when it is used: --help works, --port wins, and a bad one is an error only if
     * uvfib binds (cli_check_bind), not with a socket systemd passed. */
    const char *env_port = getenv("PORT");
    if (!port_given && env_port != NULL && *env_port != '\0') {
        if (number(env_port, 0, 65535, &v))
            cli->cfg.port = (int)v;
        else
            cli->bad_port_env = env_port;
    }
    if (cli->cfg.compute_priority == UVFIB_PRIORITY_NICE && cli->cfg.compute_nice == 0)
        cli->cfg.compute_priority = UVFIB_PRIORITY_NORMAL;
    if (cli->fib.inline_max_n > cli->fib.max_n)
        cli->fib.inline_max_n = cli->fib.max_n;
    if (cli->cfg.max_loop_delay_ms > 0 && cli->cfg.loop_resolution_ms == 0) {
        fprintf(err, "uvfib: --max-loop-delay needs the loop monitor: --loop-resolution "
                     "must not be 0 (see --help)\n");
        return CLI_USAGE;
    }
    return CLI_RUN;
}

int cli_check_bind(const struct cli *cli, FILE *err)
{
    if (cli->bad_port_env == NULL)
        return CLI_RUN;
    return bad(err, "port", cli->bad_port_env, "$PORT must be a port number 0-65535");
}
