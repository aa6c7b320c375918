/* test_accesslog.c - unit tests of src/accesslog.c: the exact JSON line, its
 * escaping and limits, lines written in order by the writer thread, a writer stuck on a full
 * pipe making the caller drop lines instead of wait, and a stop that gives up on a descriptor
 * nobody reads, by its deadline or the stall rule, counting what it could not write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "accesslog.h"
#include "fill.h"

long uvfib__alloc_live(void);

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void test_line_is_exact_json(void **state)
{
    struct uvfib__accesslog_entry e = {
        .time_ms = 1700000000123,
        .method = "GET",
        .target = "/fibonacci/30?x=1",
        .route = "/fibonacci/:number",
        .status = 200,
        .bytes = 164,
        .duration_ns = 12345678,
        .wait_ns = 1000000,
        .compute_ns = 11000000,
    };
    char line[512];
    size_t n = uvfib__accesslog_format(line, sizeof(line), &e);
    const char *want = "{\"time\":\"2023-11-14T22:13:20.123Z\",\"method\":\"GET\","
                       "\"path\":\"/fibonacci/30?x=1\",\"route\":\"/fibonacci/:number\","
                       "\"status\":200,\"bytes\":164,\"duration_ms\":12.346,"
                       "\"queue_ms\":1.000,\"compute_ms\":11.000}\n";
    assert_string_equal(line, want);
    assert_int_equal(n, strlen(want));
}

static void test_line_escapes_quotes_backslashes_and_controls(void **state)
{
    struct uvfib__accesslog_entry e = {
        .time_ms = 0,
        .target = "/a\"b\\c\x01\x7f",
        .status = 400,
    };
    char line[512];
    assert_true(uvfib__accesslog_format(line, sizeof(line), &e) > 0);
    assert_non_null(strstr(line, "\"method\":\"-\""));
    assert_non_null(strstr(line, "\"path\":\"/a\\\"b\\\\c\\u0001\\u007f\""));
    assert_non_null(strstr(line, "\"route\":\"unmatched\""));
}

static void test_long_target_is_cut_and_small_buffer_refused(void **state)
{
    char target[5000];
    memset(target, 'a', sizeof(target) - 1);
    target[sizeof(target) - 1] = '\0';
    struct uvfib__accesslog_entry e = {.method = "GET", .target = target, .status = 414};
    char line[UVFIB__ACCESSLOG_LINE_MAX];
    size_t n = uvfib__accesslog_format(line, sizeof(line), &e);
    assert_true(n > 1024 && n < 1300);
    assert_int_equal(line[n - 1], '\n');
    char tiny[40];
    assert_int_equal(uvfib__accesslog_format(tiny, sizeof(tiny), &e), 0);
}

/* The "path" value of a formatted line, copied out (the escapes as they are). */
static const char *path_of(const char *line, char *out, size_t cap)
{
    const char *p = strstr(line, "\"path\":\"");
    const char *end = strstr(line, "\",\"route\":");
    assert_non_null(p);
    assert_non_null(end);
    p += strlen("\"path\":\"");
    size_t len = (size_t)(end - p);
    assert_true(len < cap);
    memcpy(out, p, len);
    out[len] = '\0';
    return out;
}

/* Every field at its worst (quotes double when escaped, control bytes become six) still
 * makes a line of at most UVFIB__ACCESSLOG_LINE_MAX: no request escapes the log by its
 * target. The cut falls on a whole escape and a whole UTF-8 sequence. */
static void test_the_cut_is_on_the_escaped_form_so_every_line_fits(void **state)
{
    static char quotes[5000], method[200], route[2000];
    memset(quotes, '"', sizeof(quotes) - 1);
    memset(method, '\\', sizeof(method) - 1);
    memset(route, '\x01', sizeof(route) - 1);
    struct uvfib__accesslog_entry e = {
        .time_ms = INT64_MAX / 2, .method = method, .target = quotes, .route = route,
        .status = 999, .bytes = UINT64_MAX, .duration_ns = UINT64_MAX, .wait_ns = UINT64_MAX,
        .compute_ns = UINT64_MAX,
    };
    char line[UVFIB__ACCESSLOG_LINE_MAX];
    size_t n = uvfib__accesslog_format(line, sizeof(line), &e);
    assert_true(n > 0);
    assert_int_equal(line[n - 1], '\n');
    char path[1100], want[1100];
    memset(want, 0, sizeof(want));
    for (size_t i = 0; i < 1024; i += 2)
        memcpy(want + i, "\\\"", 2); /* 512 whole escapes: 1024 bytes */
    assert_string_equal(path_of(line, path, sizeof(path)), want);

    /* An escape that would pass the bound is left out whole. */
    static char odd[3000];
    odd[0] = 'a';
    memset(odd + 1, '"', sizeof(odd) - 2);
    e.target = odd;
    assert_true(uvfib__accesslog_format(line, sizeof(line), &e) > 0);
    assert_int_equal(strlen(path_of(line, path, sizeof(path))), 1023);

    /* So is a UTF-8 sequence: 1023 plain bytes, then a 2-byte one. */
    static char utf8[1100];
    memset(utf8, 'b', 1023);
    memcpy(utf8 + 1023, "\xc3\xa9tail", 6);
    e.target = utf8;
    assert_true(uvfib__accesslog_format(line, sizeof(line), &e) > 0);
    assert_int_equal(strlen(path_of(line, path, sizeof(path))), 1023);
    memcpy(utf8 + 1022, "\xc3\xa9tail", 6); /* one byte earlier, it fits whole */
    assert_true(uvfib__accesslog_format(line, sizeof(line), &e) > 0);
    assert_int_equal(strlen(path_of(line, path, sizeof(path))), 1024);
    /* Stray continuation bytes (no sequence): the cut goes back at most 3, as for the longest
     * sequence, and never into the plain bytes before them. */
    memset(utf8, 'b', 1020);
    memcpy(utf8 + 1020, "\x80\x80\x80\x80\x80\x80", 7);
    assert_true(uvfib__accesslog_format(line, sizeof(line), &e) > 0);
    assert_int_equal(strlen(path_of(line, path, sizeof(path))), 1021);
}

static atomic_int exits;
static void on_exit_count(void *arg)
{
    atomic_fetch_add(&exits, 1);
}

static void test_writer_writes_every_line_in_order_then_exits(void **state)
{
    long live = uvfib__alloc_live();
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    struct uvfib__accesslog *log;
    atomic_store(&exits, 0);
    assert_int_equal(uvfib__accesslog_start(&log, fds[1], 4096, on_exit_count, NULL), 0);
    char want[8192] = "";
    for (int i = 0; i < 100; i++) {
        char line[32];
        int n = snprintf(line, sizeof(line), "line %d\n", i);
        /* Lines may be dropped only when 4 KiB are waiting; here the writer keeps up
         * or the caller retries, so every line gets in. */
        while (!uvfib__accesslog_write(log, line, (size_t)n))
            usleep(1000);
        strcat(want, line);
    }
    uvfib__accesslog_stop(log, UVFIB__ACCESSLOG_NO_TIMEOUT);
    assert_int_equal(uvfib__accesslog_free(log), 0);
    assert_int_equal(atomic_load(&exits), 1);
    close(fds[1]);
    char got[8192];
    size_t len = 0;
    ssize_t r;
    while ((r = read(fds[0], got + len, sizeof(got) - 1 - len)) > 0)
        len += (size_t)r;
    got[len] = '\0';
    assert_string_equal(got, want);
    close(fds[0]);
    assert_int_equal(uvfib__alloc_live(), live);
}

/* The writer blocks on a pipe nobody reads; the caller must never wait for it. */
static void test_full_buffer_drops_lines_without_blocking(void **state)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    /* Fill the pipe so the writer's first write blocks. */
    size_t filled = fill_until_full(fds[1]);

    struct uvfib__accesslog *log;
    assert_int_equal(uvfib__accesslog_start(&log, fds[1], 256, NULL, NULL), 0);
    const char line[] = "0123456789012345678901234567890123456789012345678901234567890123\n";
    int accepted = 0, dropped = 0;
    uint64_t worst = 0;
    for (int i = 0; i < 50; i++) {
        uint64_t t0 = now_ns();
        if (uvfib__accesslog_write(log, line, sizeof(line) - 1))
            accepted++;
        else
            dropped++;
        uint64_t dt = now_ns() - t0;
        worst = dt > worst ? dt : worst;
    }
    /* At most one buffer in the writer's hands and one waiting: 2 x 4 lines. */
    assert_true(accepted <= 8);
    assert_true(dropped >= 42);
    assert_true(worst < 100000000u); /* never waited on the stuck write (100 ms: sanitizers) */

    /* Unblock: read everything; the accepted lines follow the junk. */
    uvfib__accesslog_stop(log, UVFIB__ACCESSLOG_NO_TIMEOUT);
    size_t want = filled + (size_t)accepted * (sizeof(line) - 1), got = 0;
    char buf[65536];
    while (got < want) {
        ssize_t r = read(fds[0], buf, sizeof(buf));
        assert_true(r > 0);
        got += (size_t)r;
    }
    assert_int_equal(uvfib__accesslog_free(log), 0);
    assert_int_equal(got, want);
    close(fds[0]);
    close(fds[1]);
}

/* Queues n lines of 20 bytes. */
static void queue_lines(struct uvfib__accesslog *log, int n)
{
    for (int i = 0; i < n; i++)
        assert_true(uvfib__accesslog_write(log, "0123456789abcdefghi\n", 20));
}

/* Nobody reads the descriptor and the stop has no deadline: the writer gives up once the
 * descriptor has taken nothing for a second, counts the lines, and exits. The descriptor is in
 * blocking mode, and a socket's is too: the writer must never block in write(2). */
static void test_stop_gives_up_on_a_descriptor_nobody_reads(void **state)
{
    for (int kind = 0; kind < 2; kind++) {
        long live = uvfib__alloc_live();
        int fds[2];
        assert_int_equal(kind == 0 ? pipe(fds) : socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
        int out = kind == 0 ? fds[1] : fds[0];
        fill_until_full(out);
        struct uvfib__accesslog *log;
        assert_int_equal(uvfib__accesslog_start(&log, out, 4096, NULL, NULL), 0);
        queue_lines(log, 5);
        uint64_t t0 = now_ns();
        uvfib__accesslog_stop(log, UVFIB__ACCESSLOG_NO_TIMEOUT);
        assert_int_equal(uvfib__accesslog_free(log), 5);
        uint64_t took = now_ns() - t0;
        assert_true(took < 10ull * 1000000000u); /* a bound, not a measurement: about 1 s */
        close(fds[0]);
        close(fds[1]);
        assert_int_equal(uvfib__alloc_live(), live);
    }
}

/* A reader that takes a page now and then keeps the stall rule from firing; the deadline still
 * ends the wait, and what was not written is counted. */
struct slow_reader {
    int fd;
    atomic_bool stop;
};

static void *read_slowly(void *arg)
{
    struct slow_reader *r = arg;
    char page[4096];
    while (!atomic_load(&r->stop)) {
        if (read(r->fd, page, sizeof(page)) <= 0)
            break;
        usleep(50 * 1000);
    }
    return NULL;
}

static void test_stop_gives_up_at_its_deadline(void **state)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fill_until_full(fds[1]);
    struct uvfib__accesslog *log;
    enum { LINES = 50000 }; /* 1 MB: the reader takes about 80 KB/s */
    assert_int_equal(uvfib__accesslog_start(&log, fds[1], 20 * LINES, NULL, NULL), 0);
    queue_lines(log, LINES);
    struct slow_reader r = {.fd = fds[0]};
    pthread_t reader;
    assert_int_equal(pthread_create(&reader, NULL, read_slowly, &r), 0);
    uint64_t t0 = now_ns();
    uvfib__accesslog_stop(log, 300ull * 1000000u);
    uint64_t unwritten = uvfib__accesslog_free(log);
    uint64_t took = now_ns() - t0;
    assert_true(unwritten > 0 && unwritten < LINES); /* some went out, the rest counted */
    assert_true(took >= 250ull * 1000000u);  /* it waited while the reader made progress, */
    assert_true(took < 10ull * 1000000000u); /* and stopped at the deadline, about 0.3 s */
    atomic_store(&r.stop, true);
    close(fds[1]); /* the reader's next read ends */
    pthread_join(reader, NULL);
    close(fds[0]);
}

/* A descriptor that fails (the reader has gone: EPIPE) loses the batch; the lines count. */
/* To a pipe, each write is whole lines of at most PIPE_BUF bytes, which the kernel never splits
 * or interleaves with another writer's (our notices on a shared stderr). Lines of 1 to 300
 * bytes: every chunk ends on a newline, is at most PIPE_BUF, and the chunks cover the batch. */
static void test_pipe_writes_are_whole_lines_of_at_most_pipe_buf(void **state)
{
    (void)state;
    static char batch[64 * 1024];
    size_t len = 0;
    for (unsigned i = 0; len + 301 < sizeof(batch); i++) {
        size_t n = 1 + (i * 7919u) % 300; /* a line of n bytes, its newline included */
        memset(batch + len, 'a' + (char)(i % 26), n - 1);
        batch[len + n - 1] = '\n';
        len += n;
    }
    size_t off = 0, writes = 0;
    while (off < len) {
        size_t n = uvfib__accesslog_whole_lines(batch + off, len - off);
        assert_true(n > 0 && n <= PIPE_BUF);
        assert_int_equal(batch[off + n - 1], '\n');
        /* As many whole lines as fit: the next line would not. */
        if (off + n < len) {
            const char *next_end = memchr(batch + off + n, '\n', len - off - n);
            assert_true((size_t)(next_end - (batch + off)) + 1 > PIPE_BUF);
        }
        off += n;
        writes++;
    }
    assert_true(writes >= len / PIPE_BUF);
    /* A line longer than PIPE_BUF cannot be written atomically: PIPE_BUF of it at a time. */
    static char longline[3 * PIPE_BUF];
    memset(longline, 'x', sizeof(longline));
    longline[sizeof(longline) - 1] = '\n';
    assert_int_equal(uvfib__accesslog_whole_lines(longline, sizeof(longline)), PIPE_BUF);
    assert_int_equal(uvfib__accesslog_whole_lines(longline, 10), 10);
}

static void test_lines_a_failed_write_loses_are_counted(void **state)
{
    signal(SIGPIPE, SIG_IGN);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    close(fds[0]);
    struct uvfib__accesslog *log;
    assert_int_equal(uvfib__accesslog_start(&log, fds[1], 4096, NULL, NULL), 0);
    queue_lines(log, 3);
    uvfib__accesslog_stop(log, UVFIB__ACCESSLOG_NO_TIMEOUT);
    assert_int_equal(uvfib__accesslog_free(log), 3);
    close(fds[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_is_exact_json),
        cmocka_unit_test(test_line_escapes_quotes_backslashes_and_controls),
        cmocka_unit_test(test_long_target_is_cut_and_small_buffer_refused),
        cmocka_unit_test(test_the_cut_is_on_the_escaped_form_so_every_line_fits),
        cmocka_unit_test(test_writer_writes_every_line_in_order_then_exits),
        cmocka_unit_test(test_full_buffer_drops_lines_without_blocking),
        cmocka_unit_test(test_stop_gives_up_on_a_descriptor_nobody_reads),
        cmocka_unit_test(test_stop_gives_up_at_its_deadline),
        cmocka_unit_test(test_lines_a_failed_write_loses_are_counted),
        cmocka_unit_test(test_pipe_writes_are_whole_lines_of_at_most_pipe_buf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
