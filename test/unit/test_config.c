/* test_config.c - unit tests of src/app/cli.c: the defaults, $PORT, every
 * command-line flag, --help and --version, one-line errors for bad input, the
 * inline_max_n clamp, and parsing more than once in one process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <llhttp.h>

#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 32

/* One parse: a private, writable copy of argv (getopt_long may permute it and
 * cli.cfg.host borrows from it) and what was printed to out and err. */
struct run {
    struct cli cli;
    int rc;
    char *argv[MAX_ARGS + 1];
    int argc;
    char *out, *err;
    size_t out_len, err_len;
};

static void run_free(struct run *r)
{
    for (int i = 0; i < r->argc; i++)
        free(r->argv[i]);
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof(*r));
}

/* Parses "uvfib" followed by the NULL-terminated argument list. */
static void parse(struct run *r, ...)
{
    memset(r, 0, sizeof(*r));
    r->argv[r->argc++] = strdup("uvfib");
    va_list ap;
    va_start(ap, r);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL;) {
        assert_true(r->argc < MAX_ARGS);
        r->argv[r->argc++] = strdup(a);
    }
    va_end(ap);
    FILE *out = open_memstream(&r->out, &r->out_len);
    FILE *err = open_memstream(&r->err, &r->err_len);
    assert_non_null(out);
    assert_non_null(err);
    memset(&r->cli, 0xa5, sizeof(r->cli)); /* the parser must fill every field */
    r->rc = cli_parse(&r->cli, r->argc, r->argv, out, err);
    fclose(out);
    fclose(err);
}

/* Asserts that the arguments are refused: exit status 2, nothing on out, one
 * line on err that starts with "uvfib: " and contains `needle`. */
#define assert_usage(needle, ...)                                                              \
    do {                                                                                       \
        struct run r_;                                                                         \
        parse(&r_, __VA_ARGS__, (const char *)NULL);                                           \
        if (r_.rc != CLI_USAGE)                                                         \
            fail_msg("rc %d, want CLI_USAGE (err: %s)", r_.rc, r_.err);                 \
        assert_int_equal(r_.out_len, 0);                                                       \
        assert_one_line_error(r_.err, needle);                                                 \
        run_free(&r_);                                                                         \
    } while (0)

static void assert_one_line_error(const char *err, const char *needle)
{
    size_t len = strlen(err);
    if (len == 0)
        fail_msg("nothing printed on err");
    assert_int_equal(err[len - 1], '\n');
    assert_null(memchr(err, '\n', len - 1));
    assert_int_equal(strncmp(err, "uvfib: ", 7), 0);
    if (strstr(err, needle) == NULL)
        fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

static int setup(void **state)
{
    (void)state;
    return unsetenv("PORT");
}

static int teardown(void **state)
{
    (void)state;
    return unsetenv("PORT");
}

/* ---------------------------------------------------------- defaults */

static void test_no_arguments_give_defaults(void **state)
{
    (void)state;
    struct run r;
    parse(&r, (const char *)NULL);
    assert_int_equal(r.rc, CLI_RUN);
    assert_int_equal(r.out_len, 0);
    assert_int_equal(r.err_len, 0);
    const uvfib_config_t *c = &r.cli.cfg;
    assert_string_equal(c->host, "127.0.0.1");
    assert_int_equal(c->port, 3000);
    assert_int_equal(c->backlog, 511);
    assert_int_equal(c->mode, UVFIB_MODE_AUTO);
    unsigned cpus = uv_available_parallelism();
    assert_true(c->threads >= 1);
    assert_int_equal(c->threads, cpus > 0 ? cpus : 1);
    assert_int_equal(c->max_queue, 10000);
    assert_int_equal(c->max_queue_wait_ms, 5000);
    assert_int_equal(c->compute_priority, UVFIB_PRIORITY_NICE);
    assert_int_equal(c->compute_nice, 10);
    assert_int_equal(c->coalesce_ms, 1);
    assert_int_equal(c->max_connections, 20000);
    assert_int_equal(c->max_pipeline, 16);
    assert_int_equal(c->max_url_bytes, 8192);
    assert_int_equal(c->max_header_bytes, 16384);
    assert_int_equal(c->max_headers, 100);
    assert_int_equal(c->max_body_bytes, 1024);
    assert_int_equal(c->header_timeout_ms, 60000);
    assert_int_equal(c->keepalive_timeout_ms, 5000);
    assert_int_equal(c->write_timeout_ms, 30000);
    assert_int_equal(r.cli.fib.max_n, 45);
    assert_int_equal(r.cli.fib.inline_max_n, 20);
    assert_int_equal(r.cli.drain_timeout_ms, 30000);
    assert_int_equal(r.cli.drain_delay_ms, 0);
    assert_int_equal(c->reuseport, 0);
    run_free(&r);
}

static void test_port_env_is_used_and_overridden_by_flag(void **state)
{
    (void)state;
    struct run r;
    assert_int_equal(setenv("PORT", "8080", 1), 0);
    parse(&r, (const char *)NULL);
    assert_int_equal(r.rc, CLI_RUN);
    assert_int_equal(r.cli.cfg.port, 8080);
    run_free(&r);

    parse(&r, "--port", "9000", (const char *)NULL);
    assert_int_equal(r.rc, CLI_RUN);
    assert_int_equal(r.cli.cfg.port, 9000);
    run_free(&r);

    parse(&r, "-p", "0", (const char *)NULL);
    assert_int_equal(r.rc, CLI_RUN);
    assert_int_equal(r.cli.cfg.port, 0);
    run_free(&r);

    /* Empty means unset. */
    assert_int_equal(setenv("PORT", "", 1), 0);
    parse(&r, (const char *)NULL);
    assert_int_equal(r.rc, CLI_RUN);
    assert_int_equal(r.cli.cfg.port, 3000);
    run_free(&r);
}

/* A bad $PORT is a usage error when uvfib binds (cli_check_bind, before binding), and no
 * error when it is not used: with --port, for --help, or with a socket systemd passed (main
 * does not check then). */
static void test_bad_port_env_is_a_usage_error_when_used(void **state)
{
    (void)state;
    static const char *const bad[] = {"abc", "70000", "-1", " 80", "80x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(setenv("PORT", bad[i], 1), 0);
        struct run r;
        parse(&r, (const char *)NULL);
        assert_int_equal(r.rc, CLI_RUN);
        assert_int_equal(r.err_len, 0);
        assert_string_equal(r.cli.bad_port_env, bad[i]);
        char *text = NULL;
        size_t len = 0;
        FILE *err = open_memstream(&text, &len);
        assert_int_equal(cli_check_bind(&r.cli, err), CLI_USAGE);
        fclose(err);
        assert_one_line_error(text, "PORT");
        free(text);
        run_free(&r);
    }
    assert_int_equal(setenv("PORT", "abc", 1), 0);
    struct run r;
    parse(&r, "--port", "39503", (const char *)NULL);
    assert_int_equal(r.rc, CLI_RUN);
    assert_int_equal(r.cli.cfg.port, 39503);
    assert_null(r.cli.bad_port_env);
    assert_int_equal(cli_check_bind(&r.cli, stderr), CLI_RUN);
    run_free(&r);
    parse(&r, "--help", (const char *)NULL);
    assert_int_equal(r.rc, CLI_EXIT);
    run_free(&r);
    assert_int_equal(setenv("PORT", "8080", 1), 0);
    parse(&r, (const char *)NULL);
    assert_null(r.cli.bad_port_env);
    assert_int_equal(cli_check_bind(&r.cli, stderr), CLI_RUN);
    run_free(&r);
}

/* ------------------------------------------------------------- flags */

static void test_each_flag_is_parsed(void **state)
{
    (void)state;
    struct run r;
    parse(&r, "--host", "::1", "--port", "8081", "--threads", "3", "--max-n", "50", "--mode",
          "offload", "--inline-max-n", "7", "--max-queue", "0", "--max-connections", "9",
          (const char *)NULL);
    assert_int_equal(r.rc, CLI_RUN);
    assert_int_equal(r.err_len, 0);
    assert_string_equal(r.cli.cfg.host, "::1");
    assert_int_equal(r.cli.cfg.port, 8081);
    assert_int_equal(r.cli.cfg.threads, 3);
    assert_int_equal(r.cli.fib.max_n, 50);
    assert_int_equal(r.cli.cfg.mode, UVFIB_MODE_OFFLOAD);
    assert_int_equal(r.cli.fib.inline_max_n, 7);
    assert_int_equal(r.cli.cfg.max_queue, 0);
    assert_int_equal(r.cli.cfg.max_connections, 9);
    run_free(&r);

    parse(&r, "--max-pipeline", "2", "--max-url-bytes", "100", "--max-header-bytes", "200",
          "--max-headers", "5", "--max-body-bytes", "0", (const char *)NULL);
    assert_int_equal(r.rc, CLI_RUN);
    assert_int_equal(r.cli.cfg.max_pipeline, 2);
    assert_int_equal(r.cli.cfg.max_url_bytes, 100);
    assert_int_equal(r.cli.cfg.max_header_bytes, 200);
    assert_int_equal(r.cli.cfg.max_headers, 5);
    assert_int_equal(r.cli.cfg.max_body_bytes, 0);
    run_free(&r);

    parse(&r, "--header-timeout", "1", "--keepalive-timeout", "0", "--write-timeout", "3",
          "--drain-timeout", "86400000", (const char *)NULL);
    assert_int_equal(r.rc, CLI_RUN);
    assert_int_equal(r.cli.cfg.header_timeout_ms, 1);
    assert_int_equal(r.cli.cfg.keepalive_timeout_ms, 0);
    assert_int_equal(r.cli.cfg.write_timeout_ms, 3);
    assert_int_equal(r.cli.drain_timeout_ms, 86400000);
    run_free(&r);

    parse(&r, "--reuseport", "--drain-delay", "5000", (const char *)NULL);
    assert_int_equal(r.rc, CLI_RUN);
    assert_int_equal(r.cli.cfg.reuseport, 1);
    assert_int_equal(r.cli.drain_delay_ms, 5000);
    run_free(&r);

    parse(&r, "--compute-timeout", "2500", "--compute-priority", "batch", "--compute-nice", "0",
          "--max-queue-wait", "700", "--access-log", "off", "--half-close", "answer",
          (const char *)NULL);
    assert_int_equal(r.rc, CLI_RUN);
    assert_int_equal(r.cli.cfg.compute_timeout_ms, 2500);
    /* Nice 0 turns only the nice class into normal: batch stays batch. */
    assert_int_equal(r.cli.cfg.compute_priority, UVFIB_PRIORITY_BATCH);
    assert_int_equal(r.cli.cfg.compute_nice, 0);
    assert_int_equal(r.cli.cfg.max_queue_wait_ms, 700);
    assert_string_equal(r.cli.access_log, "off");
    assert_int_equal(r.cli.cfg.half_close_answer, 1);
    run_free(&r);

    parse(&r, "--compute-priority", "idle", "--compute-nice", "19", "--loop-resolution", "20",
          "--monitor-window", "3000", "--max-loop-delay", "150", "--access-log", "/tmp/a.log",
          "--half-close", "cancel", "--coalesce-ms", "0", (const char *)NULL);
    assert_int_equal(r.rc, CLI_RUN);
    assert_int_equal(r.cli.cfg.coalesce_ms, 0);
    assert_int_equal(r.cli.cfg.compute_priority, UVFIB_PRIORITY_IDLE);
    assert_int_equal(r.cli.cfg.compute_nice, 19);
    assert_int_equal(r.cli.cfg.loop_resolution_ms, 20);
    assert_int_equal(r.cli.cfg.monitor_window_ms, 3000);
    assert_int_equal(r.cli.cfg.max_loop_delay_ms, 150);
    assert_string_equal(r.cli.access_log, "/tmp/a.log");
    assert_int_equal(r.cli.cfg.half_close_answer, 0);
    run_free(&r);

    /* With the default class, nice 0 means the threads are left alone: normal. */
    parse(&r, "--compute-nice", "0", (const char *)NULL);
    assert_int_equal(r.rc, CLI_RUN);
    assert_int_equal(r.cli.cfg.compute_priority, UVFIB_PRIORITY_NORMAL);
    run_free(&r);
    parse(&r, "--compute-priority", "normal", "--compute-nice", "7", "--coalesce-ms", "1000",
          (const char *)NULL);
    assert_int_equal(r.rc, CLI_RUN);
    assert_int_equal(r.cli.cfg.coalesce_ms, 1000);
    assert_int_equal(r.cli.cfg.compute_priority, UVFIB_PRIORITY_NORMAL);
    assert_int_equal(r.cli.cfg.compute_nice, 7);
    run_free(&r);
}

static void test_short_and_inline_forms_are_parsed(void **state)
{
    (void)state;
    struct run r;
    parse(&r, "-H", "0.0.0.0", "-p", "1", "-t", "1", "-n", "93", "-m", "inline",
          (const char *)NULL);
    assert_int_equal(r.rc, CLI_RUN);
    assert_string_equal(r.cli.cfg.host, "0.0.0.0");
    assert_int_equal(r.cli.cfg.port, 1);
    assert_int_equal(r.cli.cfg.threads, 1);
    assert_int_equal(r.cli.fib.max_n, 93);
    assert_int_equal(r.cli.cfg.mode, UVFIB_MODE_INLINE);
    run_free(&r);

    parse(&r, "--port=65535", "-t8", "--mode=auto", (const char *)NULL);
    assert_int_equal(r.rc, CLI_RUN);
    assert_int_equal(r.cli.cfg.port, 65535);
    assert_int_equal(r.cli.cfg.threads, 8);
    assert_int_equal(r.cli.cfg.mode, UVFIB_MODE_AUTO);
    run_free(&r);
}

static void test_last_of_repeated_flags_wins(void **state)
{
    (void)state;
    struct run r;
    parse(&r, "--port", "1", "--port", "2", "-m", "inline", "-m", "offload",
          (const char *)NULL);
    assert_int_equal(r.rc, CLI_RUN);
    assert_int_equal(r.cli.cfg.port, 2);
    assert_int_equal(r.cli.cfg.mode, UVFIB_MODE_OFFLOAD);
    run_free(&r);
}

/* ------------------------------------------------------ help, version */

static void test_help_prints_usage_and_exits(void **state)
{
    (void)state;
    const char *forms[] = {"--help", "-h"};
    for (size_t i = 0; i < 2; i++) {
        struct run r;
        parse(&r, forms[i], (const char *)NULL);
        assert_int_equal(r.rc, CLI_EXIT);
        assert_int_equal(strncmp(r.out, "Usage:", 6), 0);
        /* Every long option getopt knows is documented, as "--name" followed by a space, a
         * comma or the end of the line (not only inside a longer one). */
        size_t n = 0;
        for (const char *name; (name = cli_option_name(n)) != NULL; n++) {
            char flag[64];
            snprintf(flag, sizeof(flag), "--%s", name);
            const char *at = r.out;
            bool found = false;
            while (!found && (at = strstr(at, flag)) != NULL) {
                at += strlen(flag);
                found = *at == ' ' || *at == ',' || *at == '\n';
            }
            if (!found)
                fail_msg("--help does not mention --%s", name);
        }
        assert_true(n >= 30); /* the list is the real one, not an empty prefix */
        assert_int_equal(r.err_len, 0);
        run_free(&r);
    }
}

static void test_help_wins_over_later_bad_flags(void **state)
{
    (void)state;
    struct run r;
    parse(&r, "--help", "--port", "nope", (const char *)NULL);
    assert_int_equal(r.rc, CLI_EXIT);
    assert_int_equal(r.err_len, 0);
    run_free(&r);
}

static void test_version_prints_versions_and_exits(void **state)
{
    (void)state;
    char want[128];
    snprintf(want, sizeof(want), "uvfib %s (libuv %s, llhttp %d.%d.%d)\n",
             uvfib_version_string(), uv_version_string(), LLHTTP_VERSION_MAJOR,
             LLHTTP_VERSION_MINOR, LLHTTP_VERSION_PATCH);
    const char *forms[] = {"--version", "-V"};
    for (size_t i = 0; i < 2; i++) {
        struct run r;
        parse(&r, forms[i], (const char *)NULL);
        assert_int_equal(r.rc, CLI_EXIT);
        assert_string_equal(r.out, want);
        assert_int_equal(strncmp(r.out, "uvfib 0.1.0 (", 13), 0);
        assert_int_equal(r.err_len, 0);
        run_free(&r);
    }
}

/* -------------------------------------------------------- bad input */

static void test_bad_values_are_usage_errors(void **state)
{
    (void)state;
    assert_usage("'70000'", "--port", "70000");
    assert_usage("--port", "--port", "abc");
    assert_usage("--port", "--port", "-1");
    assert_usage("--port", "--port", "");
    assert_usage("--port", "--port", "80 ");
    assert_usage("--threads", "--threads", "0");
    assert_usage("--threads", "--threads", "1024");
    assert_usage("--max-n", "--max-n", "94");
    assert_usage("--max-n", "--max-n", "-1");
    assert_usage("--inline-max-n", "--inline-max-n", "94");
    assert_usage("'fast'", "--mode", "fast");
    assert_usage("--mode", "--mode", "AUTO");
    assert_usage("--host", "--host", "");
    assert_usage("'localhost'", "--host", "localhost"); /* names are not looked up */
    assert_usage("'256.0.0.1'", "--host", "256.0.0.1");
    assert_usage("'::1::'", "--host", "::1::");
    /* libuv would read the first 39 bytes before the zone and drop the rest. */
    assert_usage("junk", "--host", "0000:0000:0000:0000:0000:0000:0000:0001junk%lo");
    assert_usage("--max-pipeline", "--max-pipeline", "0");
    assert_usage("--max-connections", "--max-connections", "0");
    assert_usage("--max-headers", "--max-headers", "0");
    assert_usage("--max-url-bytes", "--max-url-bytes", "15");
    assert_usage("--max-body-bytes", "--max-body-bytes", "16777217");
    assert_usage("--header-timeout", "--header-timeout", "86400001");
    assert_usage("--write-timeout", "--write-timeout", "1e3");
    assert_usage("--drain-delay", "--drain-delay", "3600001");
    assert_usage("--drain-delay", "--drain-delay", "-1");
    assert_usage("--reuseport", "--reuseport=1"); /* takes no value */
    assert_usage("--compute-timeout", "--compute-timeout", "86400001");
    assert_usage("--compute-nice", "--compute-nice", "20");
    assert_usage("--coalesce-ms", "--coalesce-ms", "1001");
    assert_usage("--coalesce-ms", "--coalesce-ms", "-1");
    assert_usage("'low'", "--compute-priority", "low");
    assert_usage("--monitor-window", "--monitor-window", "0");
    assert_usage("--loop-resolution", "--loop-resolution", "3600001");
    assert_usage("--max-queue-wait", "--max-queue-wait", "x");
    assert_usage("--access-log", "--access-log", "");
    assert_usage("'close'", "--half-close", "close");
    /* The delay limit needs the monitor that measures the delay. */
    assert_usage("--loop-resolution", "--max-loop-delay", "100", "--loop-resolution", "0");
}

static void test_unknown_option_is_a_usage_error(void **state)
{
    (void)state;
    assert_usage("'--bogus'", "--bogus");
    assert_usage("'--bogus=1'", "--bogus=1");
    assert_usage("'-x'", "-x");
    assert_usage("--help", "--help=yes"); /* takes no value */
}

static void test_missing_value_is_a_usage_error(void **state)
{
    (void)state;
    assert_usage("'--port'", "--port");
    assert_usage("'-p'", "-p");
    assert_usage("'--mode'", "--threads", "2", "--mode");
}

static void test_stray_argument_is_a_usage_error(void **state)
{
    (void)state;
    assert_usage("'extra'", "extra");
    assert_usage("'extra'", "--port", "1", "extra");
}

static void test_unknown_short_option_in_a_group_is_named(void **state)
{
    (void)state;
    /* "-xV": 'x' is unknown and getopt stays on that word (optind does not
     * move), so the argument before it must not be named instead, even when
     * that one is a long option with an inline value. */
    assert_usage("'-x'", "-xV");
    assert_usage("'-x'", "-p", "1", "-xV");
    assert_usage("'-x'", "--threads", "2", "-xV");
    assert_usage("'-x'", "--port=1", "-xV");
    assert_usage("'-x'", "--mode=auto", "-xh");
}

/* ------------------------------------------------------------ clamps */

static void test_inline_max_n_is_clamped_to_max_n(void **state)
{
    (void)state;
    struct run r;
    parse(&r, "--max-n", "10", (const char *)NULL);
    assert_int_equal(r.rc, CLI_RUN);
    assert_int_equal(r.cli.fib.max_n, 10);
    assert_int_equal(r.cli.fib.inline_max_n, 10);
    run_free(&r);

    parse(&r, "--inline-max-n", "30", "--max-n", "25", (const char *)NULL);
    assert_int_equal(r.rc, CLI_RUN);
    assert_int_equal(r.cli.fib.inline_max_n, 25);
    run_free(&r);

    parse(&r, "--max-n", "10", "--inline-max-n", "5", (const char *)NULL);
    assert_int_equal(r.rc, CLI_RUN);
    assert_int_equal(r.cli.fib.inline_max_n, 5);
    run_free(&r);

    parse(&r, "--max-n", "0", (const char *)NULL);
    assert_int_equal(r.rc, CLI_RUN);
    assert_int_equal(r.cli.fib.max_n, 0);
    assert_int_equal(r.cli.fib.inline_max_n, 0);
    run_free(&r);
}

/* ------------------------------------------------------------ re-entry */

static void test_repeated_parsing_starts_afresh(void **state)
{
    (void)state;
    struct run r;
    parse(&r, "--port", "1", "-t", "2", (const char *)NULL);
    assert_int_equal(r.rc, CLI_RUN);
    assert_int_equal(r.cli.cfg.port, 1);
    run_free(&r);

    /* Stopped inside a group of short options: getopt's state is mid-word. */
    parse(&r, "-Vh", (const char *)NULL);
    assert_int_equal(r.rc, CLI_EXIT);
    run_free(&r);

    parse(&r, "--port", "bad", (const char *)NULL);
    assert_int_equal(r.rc, CLI_USAGE);
    run_free(&r);

    parse(&r, "-p", "2", (const char *)NULL);
    assert_int_equal(r.rc, CLI_RUN);
    assert_int_equal(r.cli.cfg.port, 2);
    assert_int_equal(r.cli.cfg.threads, uv_available_parallelism()); /* not 2 from before */
    assert_int_equal(r.err_len, 0);
    run_free(&r);

    for (int i = 0; i < 3; i++) {
        parse(&r, (const char *)NULL);
        assert_int_equal(r.rc, CLI_RUN);
        assert_int_equal(r.cli.cfg.port, 3000);
        run_free(&r);
    }
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_no_arguments_give_defaults),
        T(test_port_env_is_used_and_overridden_by_flag),
        T(test_bad_port_env_is_a_usage_error_when_used),
        T(test_each_flag_is_parsed),
        T(test_short_and_inline_forms_are_parsed),
        T(test_last_of_repeated_flags_wins),
        T(test_help_prints_usage_and_exits),
        T(test_help_wins_over_later_bad_flags),
        T(test_version_prints_versions_and_exits),
        T(test_bad_values_are_usage_errors),
        T(test_unknown_option_is_a_usage_error),
        T(test_missing_value_is_a_usage_error),
        T(test_stray_argument_is_a_usage_error),
        T(test_unknown_short_option_in_a_group_is_named),
        T(test_inline_max_n_is_clamped_to_max_n),
        T(test_repeated_parsing_starts_afresh),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
