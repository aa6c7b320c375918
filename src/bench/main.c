/* main.c - the uvfib-bench executable: flags, the target's (and the metrics URL's) address
 * and the loopback guard, process-wide settings (SIGPIPE, open-file limit), one loop, the
 * reports and output files, the exit status. The workloads themselves live in client.c. */
#include "bench.h"
#include "compare.h"
#include "hgrm.h"
#include "htmlreport.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <netinet/in.h>
#include <sys/resource.h>

#include <uv.h>

enum {
    EXIT_RUN_DONE = UVFIB__BENCH_EXIT_OK,
    EXIT_SETUP = UVFIB__BENCH_EXIT_SETUP,
    EXIT_USAGE = UVFIB__BENCH_EXIT_USAGE,
    EXIT_THRESHOLD = UVFIB__BENCH_EXIT_THRESHOLD,
};

/* 127.0.0.0/8, ::1, and IPv4-mapped ::ffff:127.0.0.0/104. */
static bool is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}

/* Turns --host into one address. Numeric addresses are parsed, not looked up; a name goes
 * through the resolver (uv_getaddrinfo without a callback runs synchronously) and yields
 * its first IPv4 address, else its first IPv6 one, since most servers listen on IPv4.
 * Returns 0 or a libuv error. Nothing is sent to the target. */
static int resolve(uv_loop_t *loop, const char *host, uint16_t port, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof *out);
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)out) == 0)
        return 0;

    char name[256];
    size_t len = strlen(host);
    if (len >= sizeof name)
        return UV_EINVAL;
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        memcpy(name, host + 1, len - 2);   /* "[::1]", as in a URL */
        name[len - 2] = '\0';
    } else {
        memcpy(name, host, len + 1);
    }
    if (uv_ip6_addr(name, port, (struct sockaddr_in6 *)out) == 0)
        return 0;

    char service[8];
    snprintf(service, sizeof service, "%u", (unsigned)port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    uv_getaddrinfo_t req;
    int err = uv_getaddrinfo(loop, &req, NULL, name, service, &hints);
    if (err != 0)
        return err;
    const struct addrinfo *pick = NULL;
    for (const struct addrinfo *ai = req.addrinfo; ai != NULL; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET) {
            pick = ai;
            break;
        }
        if (ai->ai_family == AF_INET6 && pick == NULL)
            pick = ai;
    }
    if (pick != NULL && pick->ai_addrlen <= sizeof *out)
        memcpy(out, pick->ai_addr, pick->ai_addrlen);
    else
        err = UV_EAI_NONAME;
    uv_freeaddrinfo(req.addrinfo);
    return err;
}

static void address_name(const struct sockaddr *sa, char *buf, size_t size)
{
    int err = sa->sa_family == AF_INET
                  ? uv_ip4_name((const struct sockaddr_in *)sa, buf, size)
                  : uv_ip6_name((const struct sockaddr_in6 *)sa, buf, size);
    if (err != 0)
        snprintf(buf, size, "?");
}

/* Every connection is a descriptor; the usual soft limit of 1024 is below what
 * --load-connections and --probe-connections allow. Raises the soft limit as far as the
 * hard one permits and warns when that is not enough (connects then fail and are counted). */
static void raise_fd_limit(uint64_t needed)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= needed)
        return;
    rlim_t want = (rlim_t)needed;
    if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max)
        want = rl.rlim_max;
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || want < needed)
        fprintf(stderr, "uvfib-bench: warning: open-file limit is below the %llu descriptors "
                        "this run needs\n", (unsigned long long)needed);
}

/* Resolves host:port into out and refuses it unless it is loopback or --allow-remote was
 * given. what names it for messages. Returns 0, EXIT_SETUP or EXIT_USAGE. */
static int target_address(uv_loop_t *loop, const uvfib__bench_opts_t *o, const char *what,
                          const char *host, uint16_t port, struct sockaddr_storage *out,
                          char *name, size_t name_size)
{
    int err = resolve(loop, host, port, out);
    if (err != 0) {
        fprintf(stderr, "uvfib-bench: cannot resolve %s '%s': %s\n", what, host, uv_strerror(err));
        return EXIT_SETUP;
    }
    address_name((const struct sockaddr *)out, name, name_size);
    /* Refuse before any socket exists, so a typo cannot load someone else's machine. */
    if (!o->allow_remote && !is_loopback((const struct sockaddr *)out)) {
        fprintf(stderr, "uvfib-bench: refusing non-loopback %s %s (%s); pass --allow-remote "
                        "to reach a remote host\n", what, host, name);
        return EXIT_USAGE;
    }
    return 0;
}

/* Writes one output file with write_fn; returns false after a message when it failed. */
static bool write_file(const char *path, const char *what,
                       int (*write_fn)(FILE *f, const void *arg), const void *arg)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "uvfib-bench: cannot write %s '%s': %s\n", what, path, strerror(errno));
        return false;
    }
    int err = write_fn(f, arg);
    if (fclose(f) != 0 || err != 0) {
        fprintf(stderr, "uvfib-bench: writing %s '%s' failed\n", what, path);
        return false;
    }
    return true;
}

/* What the output writers need, behind one pointer for write_file. */
struct outputs {
    const uvfib__bench_opts_t *opts;              /* borrowed */
    const uvfib__bench_result_t *res;             /* borrowed */
    const uvfib__bench_warnings_t *warnings;      /* borrowed */
    const uvfib__bench_thr_verdict_t *verdicts;   /* borrowed */
};

static int write_hgrm(FILE *f, const void *arg)
{
    const struct outputs *x = arg;
    bool probe_on = x->opts->probe_rate > 0.0;
    return uvfib__bench_hgrm_write(f, probe_on ? &x->res->probe.latency_ns
                                                : &x->res->load.latency_ns, 1e6);
}

static int write_report(FILE *f, const void *arg)
{
    const struct outputs *x = arg;
    size_t len = strlen(x->opts->report_path);
    bool svg = len >= 4 && strcasecmp(x->opts->report_path + len - 4, ".svg") == 0;
    return uvfib__bench_htmlreport_write(f, svg, x->opts, x->res, x->warnings, x->verdicts);
}

/* Judges the run, prints it, writes the files asked for. Returns the exit status. */
static int finish_run(const uvfib__bench_opts_t *o, const uvfib__bench_result_t *res)
{
    uvfib__bench_warnings_t warnings;
    uvfib__bench_thr_verdict_t verdicts[UVFIB__BENCH_MAX_THRESHOLDS];
    uvfib__bench_check_honesty(o, res, &warnings);
    unsigned failed = uvfib__bench_check_thresholds(o, res, verdicts);
    struct outputs x = {.opts = o, .res = res, .warnings = &warnings, .verdicts = verdicts};

    bool files_ok = true;
    if (o->hgrm_path != NULL)
        files_ok = write_file(o->hgrm_path, "--hgrm", write_hgrm, &x) && files_ok;
    if (o->report_path != NULL)
        files_ok = write_file(o->report_path, "--report", write_report, &x) && files_ok;

    if (o->json) {
        if (uvfib__bench_report_json(stdout, o, res, &warnings, verdicts) != 0) {
            fprintf(stderr, "uvfib-bench: out of memory while printing JSON\n");
            return EXIT_SETUP;
        }
        /* stdout is the JSON; CI logs still show what held and what did not. */
        for (unsigned i = 0; i < warnings.n; i++)
            fprintf(stderr, "uvfib-bench: warning: %s\n", warnings.text[i]);
        if (o->n_thresholds > 0) {
            fprintf(stderr, "uvfib-bench: thresholds:\n");
            uvfib__bench_report_thresholds(stderr, o, verdicts);
        }
    } else {
        uvfib__bench_report_text(stdout, o, res, &warnings, verdicts);
    }
    if (fflush(stdout) != 0 || !files_ok)
        return EXIT_SETUP;
    return failed > 0 ? EXIT_THRESHOLD : EXIT_RUN_DONE;
}

int main(int argc, char **argv)
{
    uvfib__bench_opts_t opts;
    switch (uvfib__bench_opts_parse(&opts, argc, argv, stdout, stderr)) {
    case UVFIB__BENCH_OPTS_RUN:
        break;
    case UVFIB__BENCH_OPTS_HELP:
        return EXIT_RUN_DONE;
    case UVFIB__BENCH_OPTS_BAD:
        return EXIT_USAGE;
    case UVFIB__BENCH_OPTS_COMPARE:
        return uvfib__bench_compare(opts.compare_a, opts.compare_b, opts.json, stdout, stderr);
    }

    uv_loop_t loop;
    int err = uv_loop_init(&loop);
    if (err != 0) {
        fprintf(stderr, "uvfib-bench: cannot create the loop: %s\n", uv_strerror(err));
        return EXIT_SETUP;
    }

    uvfib__bench_result_t *res = calloc(1, sizeof *res);
    struct sockaddr_storage addr, metrics_addr;
    int status = res == NULL ? EXIT_SETUP : 0;
    if (res == NULL)
        fprintf(stderr, "uvfib-bench: out of memory\n");
    if (status == 0)
        status = target_address(&loop, &opts, "target", opts.host, opts.port, &addr,
                                res->address, sizeof res->address);
    if (status == 0 && opts.metrics_url != NULL)
        status = target_address(&loop, &opts, "--server-metrics host", opts.metrics_host,
                                opts.metrics_port, &metrics_addr, res->metrics_address,
                                sizeof res->metrics_address);
    if (status != 0)
        goto done;

    /* A server that closes while we write would otherwise kill us with SIGPIPE; libuv
     * reports the write as UV_EPIPE instead, which we count. */
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit((uint64_t)opts.load_conns + (opts.probe_rate > 0.0 ? opts.probe_conns : 0) +
                   64);

    err = uvfib__bench_client_run(&loop, &opts, (const struct sockaddr *)&addr,
                                  opts.metrics_url != NULL ? (const struct sockaddr *)&metrics_addr
                                                           : NULL,
                                  res);
    if (err != 0) {
        fprintf(stderr, "uvfib-bench: cannot start: %s\n", uv_strerror(err));
        status = EXIT_SETUP;
        goto done;
    }
    status = finish_run(&opts, res);

done:
    if (res != NULL)
        uvfib__bench_result_free(res);
    free(res);
    err = uv_loop_close(&loop);
    if (err != 0) {
        /* A handle left open is our bug; say so rather than exit as if all was well. */
        fprintf(stderr, "uvfib-bench: loop not empty at exit: %s\n", uv_strerror(err));
        status = EXIT_SETUP;
    }
    return status;
}
