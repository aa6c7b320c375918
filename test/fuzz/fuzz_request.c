/* fuzz_request.c - libFuzzer harness of a connection's read path, in memory:
 * arbitrary bytes, split into reads at points the input chooses, go through
 * uvfib__http_feed (strict head check + llhttp + limits) one request at a
 * time; each message is routed (uvfib__router_match) and answered
 * (uvfib__json_error / the app's fib_result_json, uvfib__response_serialize), and
 * everything is freed. Invariants are checked with abort(), and the library's
 * live-allocation counter must come back to where it was: no leak.
 *
 * Input layout:
 *   byte 0       bits 0-2: number of split points (0-7)
 *                bit 3:    small limits (URL 64, header block 256, 8 headers, body 16)
 *                bit 4:    make one allocation fail (which one: byte 1)
 *   byte 1       the allocation to fail, 1-32, when bit 4 is set
 *   2 bytes each the split points, little-endian, modulo the payload length
 *   the rest     the bytes a client sent
 * Build: scripts/fuzz (clang, -Dfuzz=true). */
#include "alloc.h"
#include "decimal.h"
#include "fib.h"
#include "http.h"
#include "response.h"
#include "router.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond))                                                                       \
            abort();                                                                       \
    } while (0)

static struct uvfib__router router;

/* work.c (the pool, which needs a loop) is not linked; fib.c's kernel only
 * asks this. Nothing here is ever cancelled. */
int uvfib_work_cancelled(const uvfib_work_t *work)
{
    (void)work;
    return 0;
}

static void handler(uvfib_req_t *req, void *arg)
{
    (void)req;
    (void)arg;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* The routes of the executable, plus a parameter in the middle of a path
     * and a POST, so every router outcome is reachable. */
    uvfib__router_init(&router);
    if (uvfib__router_add(&router, "GET", "/healthz", handler, NULL, NULL) != 0 ||
        uvfib__router_add(&router, "GET", "/fibonacci/:number", handler, NULL, NULL) != 0 ||
        uvfib__router_add(&router, "POST", "/items/:id/parts", handler, NULL, NULL) != 0 ||
        uvfib__router_add(&router, "GET", "/metrics", handler, NULL, NULL) != 0)
        abort();
    return 0;
}

static bool error_status_ok(int status)
{
    return status == 400 || status == 408 || status == 413 || status == 414 || status == 431 ||
           status == 500 || status == 501 || status == 505;
}

/* What the connection does with one parsed request: route it, answer it. */
static void answer(const struct uvfib__http_msg *msg, const struct uvfib__http_limits *lim)
{
    CHECK(msg->url != NULL);
    CHECK(msg->url_len <= lim->max_url_bytes);
    CHECK(msg->url[msg->url_len] == '\0');
    CHECK(msg->http_major <= 9 && msg->http_minor <= 9);

    const char *method = llhttp_method_name((llhttp_method_t)msg->method);
    CHECK(method != NULL);
    struct uvfib__match m;
    int err = uvfib__router_match(&router, method, msg->url, msg->url_len, &m);
    CHECK(err == 0 || err == UV_ENOMEM);

    int status;
    char *body = NULL;
    size_t body_len = 0;
    struct uvfib__header *headers = NULL;
    if (err < 0) {
        status = 500;
        body = uvfib__json_error("out of memory", &body_len);
    } else if (m.status == 200) {
        CHECK(m.route != NULL && m.path != NULL);
        CHECK(m.n_segs <= UVFIB__MAX_SEGMENTS);
        const char *number = uvfib__match_param(&m, "number");
        uint64_t n;
        if (number != NULL && decimal_parse_u64(number, &n) == 0 && n <= FIB_MAX_N) {
            uint64_t result;
            CHECK(fib_compute(n < 20 ? (unsigned)n : 20, NULL, &result) == 0);
            status = 200;
            char text[64];
            body_len = fib_result_json(result, text, sizeof(text));
            body = body_len > 0 ? uvfib__strndup(text, body_len) : NULL;
        } else {
            status = number != NULL ? 400 : 200;
            body = uvfib__json_error(number != NULL ? "bad number" : "ok", &body_len);
        }
    } else {
        CHECK(m.status == 400 || m.status == 404 || m.status == 405);
        CHECK(m.error != NULL);
        status = m.status;
        if (m.status == 405) {
            CHECK(m.allow[0] != '\0' && memchr(m.allow, '\0', sizeof(m.allow)) != NULL);
            uvfib__header_add(&headers, "Allow", m.allow); /* may fail: then no header */
        }
        body = uvfib__json_error(m.error, &body_len);
    }

    char date[32];
    uvfib__http_date(1700000000, date);
    struct uvfib__response r = {
        .status = body != NULL ? status : 500,
        .keep_alive = msg->keep_alive && !msg->upgrade,
        .head = msg->method == HTTP_HEAD,
        .date = date,
        .headers = headers,
        .body = body != NULL ? body : "{}",
        .body_len = body != NULL ? body_len : 2,
    };
    char *out = NULL;
    size_t out_len = 0;
    if (uvfib__response_serialize(&r, &out, &out_len) == 0) {
        CHECK(out != NULL && out_len > 17);
        CHECK(memcmp(out, "HTTP/1.1 ", 9) == 0);
        /* The head ends once, with CRLF CRLF, and nothing of the request
         * (a CR or LF in it) leaks into a header line. */
        const char *end = memmem(out, out_len, "\r\n\r\n", 4);
        CHECK(end != NULL);
        size_t head_len = (size_t)(end - out) + 4;
        CHECK(r.head ? head_len == out_len : head_len + r.body_len == out_len);
        for (size_t i = 0; i < head_len; i++) {
            if (out[i] == '\r')
                CHECK(i + 1 < head_len && out[i + 1] == '\n');
            if (out[i] == '\n')
                CHECK(i > 0 && out[i - 1] == '\r');
        }
        uvfib__free(out);
    }
    uvfib__header_free(headers);
    uvfib__free(body);
    uvfib__match_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    unsigned n_splits = data[0] & 7;
    bool small = (data[0] & 8) != 0;
    long fail_at = (data[0] & 16) ? 1 + data[1] % 32 : 0;
    size_t hdr = 2 + 2 * (size_t)n_splits;
    if (size < hdr)
        return 0;
    const char *payload = (const char *)data + hdr;
    size_t len = size - hdr;

    /* Split points, sorted, within the payload. */
    size_t cuts[9];
    size_t n_cuts = 0;
    cuts[n_cuts++] = 0;
    for (unsigned i = 0; i < n_splits; i++) {
        size_t at = len == 0 ? 0 : (size_t)(data[2 + 2 * i] | data[3 + 2 * i] << 8) % (len + 1);
        size_t j = n_cuts++;
        while (j > 1 && cuts[j - 1] > at) {
            cuts[j] = cuts[j - 1];
            j--;
        }
        cuts[j] = at;
    }
    cuts[n_cuts] = len;

    struct uvfib__http_limits lim = {8 * 1024, 16 * 1024, 100, 1024};
    if (small)
        lim = (struct uvfib__http_limits){64, 256, 8, 16};

    long live = uvfib__alloc_live();
    uvfib__alloc_fail_after(fail_at);

    struct uvfib__http http;
    uvfib__http_init(&http, &lim);
    bool failed = false;
    unsigned n_messages = 0;
    for (size_t k = 0; k < n_cuts && !failed; k++) {
        const char *p = payload + cuts[k];
        size_t left = cuts[k + 1] - cuts[k];
        while (left > 0) {
            size_t used = (size_t)-1;
            int rc = uvfib__http_feed(&http, p, left, &used);
            if (rc == UVFIB__HTTP_ERROR) {
                CHECK(error_status_ok(http.err_status) && http.err_msg != NULL);
                /* Errors are final. */
                size_t again;
                CHECK(uvfib__http_feed(&http, p, left, &again) == UVFIB__HTTP_ERROR);
                failed = true;
                break;
            }
            CHECK(used <= left);
            if (rc == UVFIB__HTTP_MORE) {
                CHECK(used == left);
            } else {
                CHECK(rc == UVFIB__HTTP_MESSAGE);
                CHECK(!http.in_message);
                /* As the connection takes it: copied out, the parser keeping a small buffer
                 * for the next message. */
                size_t text_size = uvfib__http_msg_size(&http);
                char *text = malloc(text_size > 0 ? text_size : 1);
                CHECK(text != NULL);
                struct uvfib__http_msg msg;
                uvfib__http_take_into(&http, &msg, text);
                CHECK(http.buf_len == 0);
                answer(&msg, &lim);
                free(text);
                /* Every message takes bytes: at least "X / HTTP/1.0\r\n\r\n". */
                CHECK(++n_messages <= len / 16 + 1);
            }
            p += used;
            left -= used;
        }
    }
    if (!failed) {
        int rc = uvfib__http_finish(&http);
        CHECK(rc == UVFIB__HTTP_MORE || rc == UVFIB__HTTP_ERROR);
        if (rc == UVFIB__HTTP_ERROR)
            CHECK(error_status_ok(http.err_status));
    }
    uvfib__http_free(&http);

    uvfib__alloc_fail_after(0);
    CHECK(uvfib__alloc_live() == live);
    return 0;
}
