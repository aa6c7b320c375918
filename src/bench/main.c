/* main.c - the uvfib-bench executable: flags, the target's address and the loopback guard,
 * process-wide settings (SIGPIPE, open-file limit), one loop, the report, the exit status.
 * The workloads themselves live in client.c. */
#include "bench.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <sys/resource.h>

#include <uv.h>

/* Exit statuses, as --help documents them. */
enum {
    EXIT_RUN_DONE = 0,     /* the run completed; errors, if any, are in the report */
    EXIT_SETUP = 1,        /* could not start: address, loop, memory, output */
    EXIT_USAGE = 2,        /* bad flags, or a target refused without --allow-remote */
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
    }

    uv_loop_t loop;
    int err = uv_loop_init(&loop);
    if (err != 0) {
        fprintf(stderr, "uvfib-bench: cannot create the loop: %s\n", uv_strerror(err));
        return EXIT_SETUP;
    }

    int status = EXIT_SETUP;
    uvfib__bench_result_t *res = NULL;
    struct sockaddr_storage addr;
    err = resolve(&loop, opts.host, opts.port, &addr);
    if (err != 0) {
        fprintf(stderr, "uvfib-bench: cannot resolve '%s': %s\n", opts.host, uv_strerror(err));
        goto done;
    }
    /* Refuse before any socket exists, so a typo cannot load someone else's machine. */
    if (!opts.allow_remote && !is_loopback((const struct sockaddr *)&addr)) {
        char name[64];
        address_name((const struct sockaddr *)&addr, name, sizeof name);
        fprintf(stderr, "uvfib-bench: refusing non-loopback target %s (%s); pass --allow-remote "
                        "to load a remote host\n", opts.host, name);
        status = EXIT_USAGE;
        goto done;
    }

    res = calloc(1, sizeof *res);
    if (res == NULL) {
        fprintf(stderr, "uvfib-bench: out of memory\n");
        goto done;
    }
    address_name((const struct sockaddr *)&addr, res->address, sizeof res->address);

    /* A server that closes while we write would otherwise kill us with SIGPIPE; libuv
     * reports the write as UV_EPIPE instead, which we count. */
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit((uint64_t)opts.load_conns + (opts.probe_rate > 0.0 ? opts.probe_conns : 0) +
                   64);

    err = uvfib__bench_client_run(&loop, &opts, (const struct sockaddr *)&addr, res);
    if (err != 0) {
        fprintf(stderr, "uvfib-bench: cannot start: %s\n", uv_strerror(err));
        goto done;
    }

    if (opts.json) {
        if (uvfib__bench_report_json(stdout, &opts, res) != 0) {
            fprintf(stderr, "uvfib-bench: out of memory while printing JSON\n");
            goto done;
        }
    } else {
        uvfib__bench_report_text(stdout, &opts, res);
    }
    status = fflush(stdout) == 0 ? EXIT_RUN_DONE : EXIT_SETUP;

done:
    free(res);
    err = uv_loop_close(&loop);
    if (err != 0) {
        /* A handle left open is our bug; say so rather than exit as if all was well. */
        fprintf(stderr, "uvfib-bench: loop not empty at exit: %s\n", uv_strerror(err));
        status = EXIT_SETUP;
    }
    return status;
}
