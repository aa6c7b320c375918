/* cli.h - the uvfib executable's command line: getopt_long flags, $PORT, --help and
 * --version, parsed and validated into a uvfib_config_t and the app's own options. It starts
 * nothing: no loop, no socket, no thread. */
#ifndef FIBAPP_CLI_H
#define FIBAPP_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <uvfib.h>

#include "fib.h"

/* What the command line configures. */
struct cli {
    uvfib_config_t cfg;           /* cfg.host borrowed from argv or a literal */
    struct fib_options fib;
    bool inline_max_n_given;      /* --inline-max-n was on the command line: no calibration */
    uint64_t drain_delay_ms;      /* SIGTERM to the graceful shutdown: /readyz 503, all else
                                     served */
    uint64_t drain_timeout_ms;    /* graceful shutdown deadline, from the end of the delay */
    const char *access_log;       /* borrowed from argv or a literal: a file, "-" or "off" */
    const char *bad_port_env;     /* $PORT when it is no port number and --port was not given:
                                     an error only if uvfib binds (no socket was passed) */
};

enum { CLI_RUN = 0, CLI_EXIT = 1, CLI_USAGE = 2 };

/* "auto", "offload" or "inline". */
const char *cli_mode_name(uvfib_mode_t mode);
/* "normal", "nice", "batch" or "idle". */
const char *cli_priority_name(uvfib_priority_t p);

/* The name of long option i (0, 1, ...) of --help's list, without "--"; NULL past the last. */
const char *cli_option_name(size_t i);

/* Parses argv (getopt_long) after filling defaults ($PORT too). Prints --help and --version
 * to out, a one-line error to err. @return CLI_RUN, CLI_EXIT (help or version printed) or
 * CLI_USAGE (a bad flag: exit 2). */
int cli_parse(struct cli *cli, int argc, char **argv, FILE *out, FILE *err);

/* Before binding --host and --port: a one-line error to err for a $PORT that cannot be used
 * (cli->bad_port_env). @return CLI_RUN, or CLI_USAGE (exit 2). */
int cli_check_bind(const struct cli *cli, FILE *err);

#endif /* FIBAPP_CLI_H */
