/* test_corpus.c - replays test/corpus/ (llhttp's own request tests) against the
 * real server over real sockets: every hostile file is answered with a JSON
 * 400-class error and the connection is closed, whole or split into two writes;
 * every valid file passes the parser (no parse error, no 400 from it) and the
 * server keeps serving. The directory is $UVFIB_CORPUS_DIR (set by meson). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "harness.h"
#include "alloc.h"
#include "http.h"

#define T_MS 10000 /* generous: sanitizers and valgrind are slow */
#define MAX_FILES 256

struct corpus_file {
    char name[128];
    char *data; /* owned, malloc */
    size_t len;
};

struct corpus {
    struct corpus_file files[MAX_FILES];
    size_t n;
};

static struct corpus valid, hostile;

static const char *corpus_dir(void)
{
    const char *dir = getenv("UVFIB_CORPUS_DIR");
    return dir != NULL && *dir != '\0' ? dir : "test/corpus";
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct corpus_file *)a)->name, ((const struct corpus_file *)b)->name);
}

/* The hostile files whose request line is well formed but not implemented: a method llhttp
 * does not know, or knows for RTSP only (501), another HTTP version (505). llhttp's test of the
 * version ends with the version, a line not yet ended: uvfib waits for its end, as it waits for
 * any request line, so the test sends one. */
static const struct {
    const char *name;
    int status;
    const char *more; /* sent after the file */
} unimplemented[] = {
    {"hostile/invalid-announce-over-http.http", 501, ""},
    {"hostile/invalid-method-mkcola.http", 501, ""},
    {"hostile/invalid-http-version-5-6.http", 505, "\r\n\r\n"},
};

static size_t unimplemented_index(const char *name)
{
    size_t i = 0;
    while (i < sizeof(unimplemented) / sizeof(unimplemented[0]) &&
           strcmp(unimplemented[i].name, name) != 0)
        i++;
    return i;
}

/* Loads every *.http file of corpus_dir()/sub, sorted by name. */
static void load(struct corpus *c, const char *sub)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", corpus_dir(), sub);
    DIR *d = opendir(path);
    if (d == NULL)
        fail_msg("cannot open corpus directory %s: %s (set UVFIB_CORPUS_DIR)", path,
                 strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t nlen = strlen(e->d_name);
        if (nlen < 6 || strcmp(e->d_name + nlen - 5, ".http") != 0)
            continue;
        assert_true(c->n < MAX_FILES);
        struct corpus_file *f = &c->files[c->n++];
        snprintf(f->name, sizeof(f->name), "%s/%s", sub, e->d_name);
        char file[1400];
        snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
        FILE *fp = fopen(file, "rb");
        assert_non_null(fp);
        size_t cap = 4096;
        f->data = malloc(cap);
        f->len = 0;
        size_t n;
        while ((n = fread(f->data + f->len, 1, cap - f->len, fp)) > 0) {
            f->len += n;
            if (f->len == cap)
                f->data = realloc(f->data, cap *= 2);
        }
        fclose(fp);
        size_t u = unimplemented_index(f->name);
        if (u < sizeof(unimplemented) / sizeof(unimplemented[0])) {
            size_t more = strlen(unimplemented[u].more);
            f->data = realloc(f->data, f->len + more + 1);
            memcpy(f->data + f->len, unimplemented[u].more, more);
            f->len += more;
        }
    }
    closedir(d);
    qsort(c->files, c->n, sizeof(c->files[0]), by_name);
}

static int setup(void **state)
{
    load(&valid, "valid");
    load(&hostile, "hostile");
    return valid.n > 0 && hostile.n > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    for (size_t i = 0; i < valid.n; i++)
        free(valid.files[i].data);
    for (size_t i = 0; i < hostile.n; i++)
        free(hostile.files[i].data);
    return 0;
}

static uvfib_config_t config(void)
{
    uvfib_config_t cfg;
    uvfib_config_init(&cfg);
    cfg.threads = 2;
    return cfg;
}

/* Would the server's parser, with the server's limits, fail on data[0..len)
 * alone? Runs the same read path in memory, so the test knows whether the
 * answer comes after the first of two writes. */
static bool fails_within(const char *data, size_t len, const uvfib_config_t *cfg)
{
    struct uvfib__http_limits limits = {
        .max_url_bytes = cfg->max_url_bytes,
        .max_header_bytes = cfg->max_header_bytes,
        .max_headers = cfg->max_headers,
        .max_body_bytes = cfg->max_body_bytes,
    };
    struct uvfib__http http;
    uvfib__http_init(&http, &limits);
    bool failed = false;
    while (len > 0) {
        size_t used;
        int rc = uvfib__http_feed(&http, data, len, &used);
        if (rc == UVFIB__HTTP_ERROR) {
            failed = true;
            break;
        }
        if (rc == UVFIB__HTTP_MESSAGE) {
            size_t size = uvfib__http_msg_size(&http);
            char *text = malloc(size > 0 ? size : 1);
            assert_non_null(text);
            struct uvfib__http_msg msg;
            uvfib__http_take_into(&http, &msg, text); /* as the connection takes it */
            free(text);
        }
        data += used;
        len -= used;
    }
    uvfib__http_free(&http);
    return failed;
}

/* The status a hostile file must get: 400, or a limit's, or one of `unimplemented`'s. */
static bool is_refusal_for(const char *name, int status)
{
    size_t u = unimplemented_index(name);
    if (u < sizeof(unimplemented) / sizeof(unimplemented[0]))
        return status == unimplemented[u].status;
    return status == 400 || status == 413 || status == 414 || status == 431;
}

/* Sends a hostile file (in two writes when split > 0) and checks the answer:
 * a JSON error with a 400-class status, "Connection: close", then EOF. */
static void expect_rejected(struct harness *h, const struct corpus_file *f, size_t split)
{
    int fd = client_connect(h->port);
    assert_true(fd >= 0);
    if (split == 0 || split >= f->len) {
        assert_int_equal(client_send_bytes(fd, f->data, f->len), 0);
    } else {
        uint64_t before = harness_bytes_in(h);
        assert_int_equal(client_send_bytes(fd, f->data, split), 0);
        /* If the first part is enough to fail, the server answers and stops
         * reading: bytes sent after that would make its close a reset, which
         * may discard the answer before we read it. Otherwise the rest goes once the
         * server has read the first part: two reads, the parser resuming mid-request. */
        if (!fails_within(f->data, split, &h->cfg)) {
            assert_int_equal(harness_wait_bytes_in(h, before + split, T_MS), 0);
            assert_int_equal(client_send_bytes(fd, f->data + split, f->len - split), 0);
        }
    }
    struct response r;
    if (client_read(fd, &r, T_MS) != 0)
        fail_msg("%s (split at %zu): no response", f->name, split);
    if (!is_refusal_for(f->name, r.status))
        fail_msg("%s (split at %zu): status %d, want 400/413/414/431 (501/505 for three); body %s",
                 f->name, split, r.status, r.body);
    if (strstr(r.body, "\"success\":false") == NULL || strstr(r.body, "\"error\":\"") == NULL)
        fail_msg("%s: not a JSON error body: %s", f->name, r.body);
    char v[64];
    if (!client_header(&r, "Content-Type", v, sizeof(v)) || strstr(v, "application/json") == NULL)
        fail_msg("%s: Content-Type is not JSON", f->name);
    if (!client_header(&r, "Connection", v, sizeof(v)) || strcmp(v, "close") != 0)
        fail_msg("%s: no Connection: close", f->name);
    if (!client_closed(fd, T_MS))
        fail_msg("%s (split at %zu): connection still open after the error", f->name, split);
    close(fd);
}

static bool no_connections(const uvfib_stats_t *s) { return s->connections_open == 0; }

/* Reads the head of a response to HEAD (it has no body whatever its
 * Content-Length says). @return 0 or -1. */
static int read_head_response(int fd, struct response *r, int timeout_ms)
{
    memset(r, 0, sizeof(*r));
    size_t len = 0;
    while (strstr(r->headers, "\r\n\r\n") == NULL) {
        if (len + 1 >= sizeof(r->headers) || !client_readable(fd, timeout_ms))
            return -1;
        if (recv(fd, r->headers + len, 1, 0) != 1)
            return -1;
        len++;
    }
    r->status = atoi(r->headers + 9);
    return 0;
}

static void expect_still_serving(struct harness *h)
{
    int fd = client_connect(h->port);
    assert_true(fd >= 0);
    struct response r;
    assert_int_equal(client_get(fd, "/healthz", &r, T_MS), 0);
    assert_int_equal(r.status, 200);
    close(fd);
}

/* ------------------------------------------------------------------ tests */

static void test_hostile_corpus_is_rejected_with_json_error_and_close(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = config();
    assert_int_equal(harness_start(&h, &cfg, NULL), 0);
    uvfib_stats_t before, after;
    harness_stats(&h, &before);
    for (size_t i = 0; i < hostile.n; i++)
        expect_rejected(&h, &hostile.files[i], 0);
    harness_stats(&h, &after);
    /* Each one was refused by the parser, none reached a route. */
    assert_int_equal(after.parse_errors - before.parse_errors, hostile.n);
    assert_int_equal(after.requests_total, before.requests_total);
    expect_still_serving(&h);
    assert_true(harness_wait_stats(&h, no_connections, T_MS));
    harness_stop(&h);
    assert_int_equal(h.loop_close_rc, 0);
    assert_int_equal(uvfib__alloc_live(), live);
}

static void test_hostile_corpus_split_in_two_writes_is_rejected(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = config();
    assert_int_equal(harness_start(&h, &cfg, NULL), 0);
    size_t n = 0;
    for (size_t i = 0; i < hostile.n; i++) {
        const struct corpus_file *f = &hostile.files[i];
        /* The first byte alone, inside the request line, mid-head, just
         * before the end: the answer must not depend on where reads split. */
        size_t splits[] = {1, 7, f->len / 3, f->len / 2, f->len - 1};
        for (size_t k = 0; k < sizeof(splits) / sizeof(splits[0]); k++) {
            if (splits[k] == 0 || splits[k] >= f->len)
                continue;
            expect_rejected(&h, f, splits[k]);
            n++;
        }
    }
    uvfib_stats_t s;
    harness_stats(&h, &s);
    assert_int_equal(s.parse_errors, n);
    assert_int_equal(s.requests_total, 0);
    expect_still_serving(&h);
    harness_stop(&h);
    assert_int_equal(h.loop_close_rc, 0);
    assert_int_equal(uvfib__alloc_live(), live);
}

/* Requests over each limit, at the defaults, built here rather than stored. */
static void test_limits_answer_413_414_431_whole_and_split(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = config();
    assert_int_equal(harness_start(&h, &cfg, NULL), 0);
    static char url[9000], hdr[17000], many[4000];
    const char *seg = "/fibonacci/";
    memset(url, 'a', sizeof(url) - 1);
    memcpy(url, seg, strlen(seg));
    url[cfg.max_url_bytes + 1] = '\0';
    memset(hdr, 'b', cfg.max_header_bytes + 1);
    hdr[cfg.max_header_bytes + 1] = '\0';
    many[0] = '\0';
    for (unsigned i = 0; i <= cfg.max_headers; i++) {
        char one[32];
        snprintf(one, sizeof(one), "X-%u: %u\r\n", i, i);
        strcat(many, one);
    }
    char *reqs[5];
    int want[5];
    size_t n = 0;
    reqs[n] = malloc(20000), want[n++] = 414;
    snprintf(reqs[n - 1], 20000, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", url);
    reqs[n] = malloc(20000), want[n++] = 431;
    snprintf(reqs[n - 1], 20000, "GET / HTTP/1.1\r\nHost: x\r\nBig: %s\r\n\r\n", hdr);
    reqs[n] = malloc(20000), want[n++] = 431;
    snprintf(reqs[n - 1], 20000, "GET / HTTP/1.1\r\nHost: x\r\n%s\r\n", many);
    reqs[n] = malloc(20000), want[n++] = 413;
    snprintf(reqs[n - 1], 20000, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
             cfg.max_body_bytes + 1);
    reqs[n] = malloc(20000), want[n++] = 413;
    snprintf(reqs[n - 1], 20000,
             "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             "%zx\r\n", cfg.max_body_bytes + 1);
    size_t body_at = strlen(reqs[n - 1]);
    memset(reqs[n - 1] + body_at, 'c', cfg.max_body_bytes + 1);
    strcpy(reqs[n - 1] + body_at + cfg.max_body_bytes + 1, "\r\n0\r\n\r\n");
    for (size_t i = 0; i < n; i++) {
        struct corpus_file f = {.data = reqs[i], .len = strlen(reqs[i])};
        snprintf(f.name, sizeof(f.name), "limit %d #%zu", want[i], i);
        size_t splits[] = {0, 1, f.len / 2, f.len - 1};
        for (size_t k = 0; k < sizeof(splits) / sizeof(splits[0]); k++) {
            int fd = client_connect(h.port);
            assert_true(fd >= 0);
            uint64_t before = harness_bytes_in(&h);
            assert_int_equal(client_send_bytes(fd, f.data, splits[k] == 0 ? f.len : splits[k]), 0);
            if (splits[k] > 0 && !fails_within(f.data, splits[k], &h.cfg)) {
                /* The rest once the first part is read: two reads. */
                assert_int_equal(harness_wait_bytes_in(&h, before + splits[k], T_MS), 0);
                assert_int_equal(client_send_bytes(fd, f.data + splits[k], f.len - splits[k]), 0);
            }
            struct response r;
            assert_int_equal(client_read(fd, &r, T_MS), 0);
            if (r.status != want[i])
                fail_msg("%s split at %zu: status %d", f.name, splits[k], r.status);
            assert_true(client_closed(fd, T_MS));
            close(fd);
        }
        free(reqs[i]);
    }
    expect_still_serving(&h);
    harness_stop(&h);
    assert_int_equal(h.loop_close_rc, 0);
    assert_int_equal(uvfib__alloc_live(), live);
}

/* RFC 9112 section 3.2: "A server MUST respond with a 400 (Bad Request) status
 * code to any HTTP/1.1 request message that lacks a Host header field and to
 * any that contains more than one Host header field line or a Host header
 * field with an invalid field value." Two Host lines can make a proxy and
 * this server disagree on the target host. */
static void test_duplicate_or_list_host_is_400_and_closes(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = config();
    assert_int_equal(harness_start(&h, &cfg, NULL), 0);
    static const char *const reqs[] = {
        "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: a, b\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
        int fd = client_connect(h.port);
        assert_true(fd >= 0);
        assert_int_equal(client_send(fd, reqs[i]), 0);
        struct response r;
        assert_int_equal(client_read(fd, &r, T_MS), 0);
        int status = r.status;
        bool closed = client_closed(fd, 200);
        close(fd);
        if (status != 400 || !closed)
            fail_msg("request %zu: status %d%s, want 400 and close", i, status,
                     closed ? "" : ", connection left open");
    }
    harness_stop(&h);
    assert_int_equal(h.loop_close_rc, 0);
    assert_int_equal(uvfib__alloc_live(), live);
}

/* Statuses a request that the parser accepted can get from the router and
 * routes here (none of the corpus paths exist). A 400 only for what the
 * server refuses after parsing: HTTP/1.1 without Host, or a target that is
 * not a path (CONNECT's authority-form); a 501 for a transfer coding besides
 * chunked; parse_errors is checked apart. */
static bool accepted_status(const struct response *r)
{
    switch (r->status) {
    case 200:
    case 404:
    case 405:
    case 413:
    case 422:
        return true;
    case 501:
        return strstr(r->body, "transfer coding") != NULL;
    case 400:
        if (r->body_len == 0)
            return true; /* HEAD: no body to say why; parse_errors tells */
        return strstr(r->body, "Host header") != NULL || strstr(r->body, "request target") != NULL;
    default:
        return false;
    }
}

static void test_valid_corpus_passes_the_parser_and_server_keeps_serving(void **state)
{
    long live = uvfib__alloc_live();
    struct harness h;
    uvfib_config_t cfg = config();
    assert_int_equal(harness_start(&h, &cfg, NULL), 0);
    for (size_t i = 0; i < valid.n; i++) {
        const struct corpus_file *f = &valid.files[i];
        uvfib_stats_t before, now;
        harness_stats(&h, &before);
        int fd = client_connect(h.port);
        assert_true(fd >= 0);
        assert_int_equal(client_send_bytes(fd, f->data, f->len), 0);
        /* Every file holds at least one complete request: its answer comes
         * after the server has parsed what it read; then the counters say
         * how many requests it found, and each gets a response in order. */
        unsigned got = 0;
        for (;;) {
            harness_stats(&h, &now);
            unsigned want = (unsigned)(now.requests_total - before.requests_total);
            if (got > 0 && got >= want)
                break;
            struct response r;
            bool head = f->len > 5 && memcmp(f->data, "HEAD ", 5) == 0;
            if ((head ? read_head_response(fd, &r, T_MS) : client_read(fd, &r, T_MS)) != 0)
                fail_msg("%s: response %u of %u missing", f->name, got + 1, want);
            if (!accepted_status(&r))
                fail_msg("%s: response %u has status %d: %s", f->name, got + 1, r.status,
                         r.body);
            got++;
        }
        harness_stats(&h, &now);
        if (now.parse_errors != before.parse_errors)
            fail_msg("%s: the parser refused it", f->name);
        close(fd);
        expect_still_serving(&h);
    }
    assert_true(harness_wait_stats(&h, no_connections, T_MS));
    harness_stop(&h);
    assert_int_equal(h.loop_close_rc, 0);
    assert_int_equal(uvfib__alloc_live(), live);
}

int main(void)
{
    setenv("UV_THREADPOOL_SIZE", "3", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_corpus_is_rejected_with_json_error_and_close),
        cmocka_unit_test(test_hostile_corpus_split_in_two_writes_is_rejected),
        cmocka_unit_test(test_limits_answer_413_414_431_whole_and_split),
        cmocka_unit_test(test_valid_corpus_passes_the_parser_and_server_keeps_serving),
        cmocka_unit_test(test_duplicate_or_list_host_is_400_and_closes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
