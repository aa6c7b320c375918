/* test_router.c - unit tests of src/router.c: pattern checks, segment matching
 * with :params, percent-decoding, request-target forms, the 400/404/405
 * decisions and route ownership. Every test ends with no live allocation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "alloc.h"
#include "router.h"
#include "url.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void handler_a(uvfib_req_t *req, void *arg)
{
    (void)req;
    (void)arg;
}

static void handler_b(uvfib_req_t *req, void *arg)
{
    (void)req;
    (void)arg;
}

/* Each test gets a router with the server's own routes, and must leave the
 * allocation count where it found it. */
struct fixture {
    struct uvfib__router r;
    long live_before;
};

static int setup(void **state)
{
    static struct fixture f;
    f.live_before = uvfib__alloc_live();
    uvfib__router_init(&f.r);
    if (uvfib__router_add(&f.r, "GET", "/fibonacci/:number", handler_a, NULL, NULL) != 0 ||
        uvfib__router_add(&f.r, "GET", "/healthz", handler_b, NULL, NULL) != 0)
        return -1;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    uvfib__router_free(&f->r);
    uvfib__alloc_fail_after(0);
    return uvfib__alloc_live() == f->live_before ? 0 : -1;
}

/* Routes `target` with `method`; the caller frees m. */
static void route(struct fixture *f, const char *method, const char *target,
                  struct uvfib__match *m)
{
    assert_int_equal(uvfib__router_match(&f->r, method, target, strlen(target), m), 0);
}

/* Asserts that GET `target` reaches /fibonacci/:number with `number` = want. */
static void assert_number_param(struct fixture *f, const char *target, const char *want)
{
    struct uvfib__match m;
    route(f, "GET", target, &m);
    if (m.status != 200)
        fail_msg("GET %s: status %d, want 200", target, m.status);
    assert_non_null(m.route);
    assert_ptr_equal(m.route->handler, handler_a);
    assert_null(m.error);
    assert_string_equal(uvfib__match_param(&m, "number"), want);
    uvfib__match_free(&m);
}

/* Asserts that `method` `target` is answered with `status` and an error message. */
static void assert_status(struct fixture *f, const char *method, const char *target, int status)
{
    struct uvfib__match m;
    route(f, method, target, &m);
    if (m.status != status)
        fail_msg("%s %s: status %d, want %d", method, target, m.status, status);
    assert_null(m.route);
    assert_non_null(m.error);
    assert_null(uvfib__match_param(&m, "number"));
    uvfib__match_free(&m);
}

/* ------------------------------------------------------------- matching */

static void test_param_route_matches_and_captures_number(void **state)
{
    struct fixture *f = *state;
    struct uvfib__match m;
    route(f, "GET", "/fibonacci/10", &m);
    assert_int_equal(m.status, 200);
    assert_ptr_equal(m.route, f->r.head);
    assert_string_equal(m.path, "/fibonacci/10");
    assert_int_equal(m.n_segs, 2);
    assert_string_equal(m.segv[0], "fibonacci");
    assert_string_equal(m.segv[1], "10");
    assert_string_equal(uvfib__match_param(&m, "number"), "10");
    assert_null(uvfib__match_param(&m, "n"));
    assert_null(uvfib__match_param(&m, ":number"));
    assert_null(uvfib__match_param(&m, "fibonacci"));
    assert_null(uvfib__match_param(&m, NULL));
    uvfib__match_free(&m);
    assert_null(m.path);
    assert_null(m.decoded);
}

static void test_literal_route_matches(void **state)
{
    struct fixture *f = *state;
    struct uvfib__match m;
    route(f, "GET", "/healthz", &m);
    assert_int_equal(m.status, 200);
    assert_ptr_equal(m.route, f->r.tail);
    assert_ptr_equal(m.route->handler, handler_b);
    assert_string_equal(m.path, "/healthz");
    assert_null(uvfib__match_param(&m, "number"));
    uvfib__match_free(&m);
}

static void test_several_params_are_captured_by_name(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        uvfib__router_add(&f->r, "GET", "/u/:user/posts/:id", handler_a, NULL, NULL), 0);
    struct uvfib__match m;
    route(f, "GET", "/u/ada/posts/%37", &m);
    assert_int_equal(m.status, 200);
    assert_ptr_equal(m.route, f->r.tail);
    assert_string_equal(uvfib__match_param(&m, "user"), "ada");
    assert_string_equal(uvfib__match_param(&m, "id"), "7");
    assert_null(uvfib__match_param(&m, "posts"));
    uvfib__match_free(&m);
    assert_status(f, "GET", "/u/ada/comments/7", 404);
}

static void test_root_route_matches_only_root(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(uvfib__router_add(&f->r, "GET", "/", handler_a, NULL, NULL), 0);
    struct uvfib__match m;
    route(f, "GET", "/", &m);
    assert_int_equal(m.status, 200);
    assert_ptr_equal(m.route, f->r.tail);
    assert_int_equal(m.n_segs, 0);
    uvfib__match_free(&m);
    assert_status(f, "GET", "//", 404);
    assert_status(f, "GET", "/x", 404);
}

static void test_paths_are_case_sensitive(void **state)
{
    struct fixture *f = *state;
    assert_status(f, "GET", "/Healthz", 404);
    assert_status(f, "GET", "/FIBONACCI/10", 404);
}

static void test_target_len_bounds_the_target(void **state)
{
    struct fixture *f = *state;
    /* Only the first target_len bytes are the target. */
    const char *t = "/healthz/and/more";
    struct uvfib__match m;
    assert_int_equal(uvfib__router_match(&f->r, "GET", t, strlen("/healthz"), &m), 0);
    assert_int_equal(m.status, 200);
    assert_string_equal(m.path, "/healthz");
    uvfib__match_free(&m);
    t = "/fibonacci/12345";
    assert_int_equal(uvfib__router_match(&f->r, "GET", t, strlen("/fibonacci/12"), &m), 0);
    assert_int_equal(m.status, 200);
    assert_string_equal(uvfib__match_param(&m, "number"), "12");
    uvfib__match_free(&m);
}

static void test_target_need_not_be_nul_terminated(void **state)
{
    struct fixture *f = *state;
    /* The target ends right before an inaccessible page: reading one byte past
     * target_len faults instead of passing by luck. */
    long page = sysconf(_SC_PAGESIZE);
    char *mem = mmap(NULL, 2 * (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
    assert_true(mem != MAP_FAILED);
    assert_int_equal(mprotect(mem + page, (size_t)page, PROT_NONE), 0);
    static const char *const targets[] = {"/fibonacci/10", "http://host/fibonacci/10"};
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        size_t len = strlen(targets[i]);
        char *t = mem + page - len;
        memcpy(t, targets[i], len);
        struct uvfib__match m;
        assert_int_equal(uvfib__router_match(&f->r, "GET", t, len, &m), 0);
        assert_int_equal(m.status, 200);
        assert_string_equal(uvfib__match_param(&m, "number"), "10");
        uvfib__match_free(&m);
    }
    munmap(mem, 2 * (size_t)page);
}

/* ------------------------------------------------------- percent-decoding */

static void test_param_is_percent_decoded(void **state)
{
    struct fixture *f = *state;
    assert_number_param(f, "/fibonacci/%31%30", "10");
    assert_number_param(f, "/fibonacci/1%30", "10");
    assert_number_param(f, "/fibonacci/%4a%4A", "JJ"); /* hex digits in either case */
    assert_number_param(f, "/fibonacci/a+b", "a+b");   /* '+' is not a space in a path */
    assert_number_param(f, "/fibonacci/%2B5", "+5");
    assert_number_param(f, "/fibonacci/%20", " ");
    assert_number_param(f, "/fibonacci/%25", "%"); /* decoded once, not twice */
    assert_number_param(f, "/fibonacci/%2531", "%31");
}

static void test_encoded_slash_stays_inside_its_segment(void **state)
{
    struct fixture *f = *state;
    assert_number_param(f, "/fibonacci/1%2F0", "1/0");
    assert_number_param(f, "/fibonacci/%2f", "/");
    /* Decoding after splitting: "fibonacci%2F10" is one segment, no route. */
    assert_status(f, "GET", "/fibonacci%2F10", 404);
    assert_status(f, "GET", "/healthz%2F", 404);
}

static void test_literal_segment_matches_after_decoding(void **state)
{
    struct fixture *f = *state;
    assert_number_param(f, "/%66ibonacci/10", "10");
    struct uvfib__match m;
    route(f, "GET", "/health%7A", &m);
    assert_int_equal(m.status, 200);
    assert_ptr_equal(m.route, f->r.tail);
    assert_string_equal(m.path, "/health%7A"); /* the path as sent */
    uvfib__match_free(&m);
}

static void test_malformed_escape_is_400(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[] = {
        "/fibonacci/%",    "/fibonacci/%4",   "/fibonacci/%zz", "/fibonacci/%4z",
        "/fibonacci/%z4",  "/fibonacci/1%",   "/fibonacci/%%",  "/fibonacci/%-1",
        "/fibonacci/%4/x", "/%/fibonacci/10", "/healthz%",      "/nope/%g0",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_status(f, "GET", bad[i], 400);
}

static void test_encoded_nul_is_400(void **state)
{
    struct fixture *f = *state;
    assert_status(f, "GET", "/fibonacci/%00", 400);
    assert_status(f, "GET", "/fibonacci/1%000", 400);
    assert_status(f, "GET", "/%00/10", 400);
}

static void test_percent_decode_reports_length_and_rejects_bad_input(void **state)
{
    (void)state;
    char dst[16];
    assert_int_equal(uvfib__percent_decode("a%41%62c", 8, dst), 4);
    assert_string_equal(dst, "aAbc");
    assert_int_equal(uvfib__percent_decode("", 0, dst), 0);
    assert_string_equal(dst, "");
    /* len bounds the input: the escape is cut short at len. */
    assert_int_equal(uvfib__percent_decode("%414", 3, dst), 1);
    assert_string_equal(dst, "A");
    assert_int_equal(uvfib__percent_decode("%41", 2, dst), -1);
    assert_int_equal(uvfib__percent_decode("%ff", 3, dst), 1);
    assert_int_equal((unsigned char)dst[0], 0xff);
    assert_int_equal(uvfib__percent_decode("%00", 3, dst), -1);
    assert_int_equal(uvfib__percent_decode("a\0b", 3, dst), -1); /* a raw NUL too */
    assert_int_equal(uvfib__percent_decode("%G1", 3, dst), -1);
}

/* --------------------------------------------------------- target forms */

static void test_query_string_is_ignored(void **state)
{
    struct fixture *f = *state;
    assert_number_param(f, "/fibonacci/10?x=1", "10");
    assert_number_param(f, "/fibonacci/10?", "10");
    assert_number_param(f, "/fibonacci/10?a=/b/%zz&c=%00", "10"); /* never decoded */
    struct uvfib__match m;
    route(f, "GET", "/healthz?verbose", &m);
    assert_int_equal(m.status, 200);
    assert_string_equal(m.path, "/healthz");
    uvfib__match_free(&m);
}

static void test_fragment_is_ignored(void **state)
{
    struct fixture *f = *state;
    assert_number_param(f, "/fibonacci/10#top", "10");
    assert_number_param(f, "/fibonacci/10#a?b", "10");
    assert_number_param(f, "/fibonacci/10?q#f", "10");
}

static void test_absolute_form_target_is_routed_by_its_path(void **state)
{
    struct fixture *f = *state;
    assert_number_param(f, "http://host/fibonacci/5", "5");
    assert_number_param(f, "http://host:3000/fibonacci/5?x=1", "5");
    assert_number_param(f, "HTTP://Host/fibonacci/5", "5");
    assert_number_param(f, "https://host/fibonacci/%35", "5");
    struct uvfib__match m;
    route(f, "GET", "http://host/healthz", &m);
    assert_int_equal(m.status, 200);
    assert_string_equal(m.path, "/healthz");
    uvfib__match_free(&m);
    /* No path after the authority means "/". */
    route(f, "GET", "http://host", &m);
    assert_int_equal(m.status, 404);
    assert_string_equal(m.path, "/");
    uvfib__match_free(&m);
}

static void test_absolute_form_authority_ends_at_query_or_fragment(void **state)
{
    struct fixture *f = *state;
    /* RFC 3986 3.2: the authority ends at the first '/', '?' or '#'. Here the
     * path is empty ("/") and "/fibonacci/5" belongs to the query or fragment. */
    static const char *const targets[] = {
        "http://host?x=/fibonacci/5",
        "http://host#/fibonacci/5",
    };
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        struct uvfib__match m;
        route(f, "GET", targets[i], &m);
        if (m.status != 404)
            fail_msg("GET %s: status %d, want 404 (path \"/\")", targets[i], m.status);
        assert_string_equal(m.path, "/");
        uvfib__match_free(&m);
    }
}

static void test_target_not_starting_with_slash_is_400(void **state)
{
    struct fixture *f = *state;
    assert_status(f, "GET", "fibonacci/10", 400);
    assert_status(f, "OPTIONS", "*", 400);
    assert_status(f, "GET", "", 400);
    assert_status(f, "GET", "ftp://host/fibonacci/10", 400);
}

/* ------------------------------------------------------ trailing slashes */

static void test_trailing_slash_gives_empty_param(void **state)
{
    struct fixture *f = *state;
    struct uvfib__match m;
    route(f, "GET", "/fibonacci/", &m);
    assert_int_equal(m.status, 200);
    assert_ptr_equal(m.route, f->r.head);
    assert_string_equal(uvfib__match_param(&m, "number"), "");
    uvfib__match_free(&m);
}

static void test_trailing_slash_does_not_match_literal_route(void **state)
{
    struct fixture *f = *state;
    assert_status(f, "GET", "/healthz/", 404);
    assert_status(f, "GET", "/fibonacci/10/", 404);
    assert_status(f, "GET", "/fibonacci", 404);
    assert_status(f, "GET", "//healthz", 404);
}

/* ---------------------------------------------------------- 404 and 405 */

static void test_unknown_path_is_404(void **state)
{
    struct fixture *f = *state;
    assert_status(f, "GET", "/nope", 404);
    assert_status(f, "GET", "/fibonacci/10/extra", 404);
    assert_status(f, "POST", "/nope", 404);
    struct uvfib__match m;
    route(f, "GET", "/nope", &m);
    assert_string_equal(m.allow, "");
    uvfib__match_free(&m);
}

static void test_post_on_get_route_is_405_with_allow(void **state)
{
    struct fixture *f = *state;
    static const char *const methods[] = {"POST", "PUT", "DELETE", "get", "OPTIONS"};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        struct uvfib__match m;
        route(f, methods[i], "/fibonacci/10", &m);
        assert_int_equal(m.status, 405);
        assert_string_equal(m.allow, "GET, HEAD");
        assert_null(m.route);
        assert_non_null(m.error);
        uvfib__match_free(&m);
    }
}

static void test_allow_lists_each_method_of_the_path_once(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(uvfib__router_add(&f->r, "POST", "/fibonacci/:n", handler_b, NULL, NULL), 0);
    assert_int_equal(uvfib__router_add(&f->r, "GET", "/fibonacci/:x", handler_b, NULL, NULL), 0);
    assert_int_equal(uvfib__router_add(&f->r, "DELETE", "/healthz", handler_b, NULL, NULL), 0);
    struct uvfib__match m;
    route(f, "PUT", "/fibonacci/10", &m);
    assert_int_equal(m.status, 405);
    assert_string_equal(m.allow, "GET, HEAD, POST");
    uvfib__match_free(&m);
    route(f, "POST", "/fibonacci/10", &m);
    assert_int_equal(m.status, 200);
    assert_ptr_equal(m.route->handler, handler_b);
    assert_string_equal(uvfib__match_param(&m, "n"), "10");
    uvfib__match_free(&m);
}

static void test_head_matches_get_routes(void **state)
{
    struct fixture *f = *state;
    struct uvfib__match m;
    route(f, "HEAD", "/fibonacci/10", &m);
    assert_int_equal(m.status, 200);
    assert_ptr_equal(m.route, f->r.head);
    assert_string_equal(uvfib__match_param(&m, "number"), "10");
    uvfib__match_free(&m);
    route(f, "HEAD", "/healthz", &m);
    assert_int_equal(m.status, 200);
    assert_ptr_equal(m.route, f->r.tail);
    uvfib__match_free(&m);
    assert_status(f, "HEAD", "/nope", 404);
}

static void test_head_on_post_only_route_is_405(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(uvfib__router_add(&f->r, "POST", "/submit", handler_a, NULL, NULL), 0);
    struct uvfib__match m;
    route(f, "HEAD", "/submit", &m);
    assert_int_equal(m.status, 405);
    assert_string_equal(m.allow, "POST");
    uvfib__match_free(&m);
}

/* A HEAD route was accepted by uvfib_route_add() and then never matched: HEAD was looked up
 * as GET only, so HEAD /probe got a 405 with "Allow: HEAD". */
static void test_head_route_matches_head_before_a_get_route(void **state)
{
    struct fixture *f = *state;
    int head = 1, get = 2;
    assert_int_equal(uvfib__router_add(&f->r, "HEAD", "/probe", handler_a, &head, NULL), 0);
    struct uvfib__match m;
    route(f, "HEAD", "/probe", &m);
    assert_int_equal(m.status, 200);
    assert_ptr_equal(m.route->arg, &head);
    uvfib__match_free(&m);
    route(f, "GET", "/probe", &m);
    assert_int_equal(m.status, 405);
    assert_string_equal(m.allow, "HEAD");
    uvfib__match_free(&m);

    /* The method as sent wins over the GET fallback, whichever was added first. */
    assert_int_equal(uvfib__router_add(&f->r, "GET", "/both", handler_b, &get, NULL), 0);
    assert_int_equal(uvfib__router_add(&f->r, "HEAD", "/both", handler_a, &head, NULL), 0);
    route(f, "HEAD", "/both", &m);
    assert_int_equal(m.status, 200);
    assert_ptr_equal(m.route->arg, &head);
    uvfib__match_free(&m);
    route(f, "GET", "/both", &m);
    assert_int_equal(m.status, 200);
    assert_ptr_equal(m.route->arg, &get);
    uvfib__match_free(&m);
    route(f, "POST", "/both", &m);
    assert_int_equal(m.status, 405);
    assert_string_equal(m.allow, "GET, HEAD");
    uvfib__match_free(&m);
}

static void test_first_added_route_wins(void **state)
{
    struct fixture *f = *state;
    int a = 1, b = 2;
    assert_int_equal(uvfib__router_add(&f->r, "GET", "/x/:id", handler_a, &a, NULL), 0);
    assert_int_equal(uvfib__router_add(&f->r, "GET", "/x/me", handler_b, &b, NULL), 0);
    assert_int_equal(uvfib__router_add(&f->r, "GET", "/y/me", handler_b, &b, NULL), 0);
    assert_int_equal(uvfib__router_add(&f->r, "GET", "/y/:id", handler_a, &a, NULL), 0);
    struct uvfib__match m;
    route(f, "GET", "/x/me", &m);
    assert_int_equal(m.status, 200);
    assert_ptr_equal(m.route->arg, &a);
    assert_string_equal(uvfib__match_param(&m, "id"), "me");
    uvfib__match_free(&m);
    route(f, "GET", "/y/me", &m);
    assert_int_equal(m.status, 200);
    assert_ptr_equal(m.route->arg, &b);
    assert_null(uvfib__match_param(&m, "id"));
    uvfib__match_free(&m);
    route(f, "GET", "/y/you", &m);
    assert_ptr_equal(m.route->arg, &a);
    uvfib__match_free(&m);
}

/* ------------------------------------------------------------- patterns */

static void test_bad_patterns_are_rejected_with_einval(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[] = {
        "", "noslash", "/a//b", "/:", "/a/:", "//", "/a/", "a/b", ":x", "/a/b//",
        "/b/:x/:x", "/:id/a/:id", /* a name twice: uvfib_req_param() could not tell them apart */
    };
    long live = uvfib__alloc_live();
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = uvfib__router_add(&f->r, "GET", bad[i], handler_a, NULL, NULL);
        if (rc != UV_EINVAL)
            fail_msg("router_add(\"%s\") = %d, want UV_EINVAL", bad[i], rc);
        assert_int_equal(uvfib__alloc_live(), live);
    }
    /* Nothing was appended. */
    assert_ptr_equal(f->r.head->next, f->r.tail);
    assert_null(f->r.tail->next);
}

static void test_nameless_param_inside_pattern_is_rejected_with_einval(void **state)
{
    struct fixture *f = *state;
    /* "/:" is refused at the end of a pattern, and must be in the middle too. */
    long live = uvfib__alloc_live();
    assert_int_equal(uvfib__router_add(&f->r, "GET", "/a/:/b", handler_a, NULL, NULL),
                     UV_EINVAL);
    assert_int_equal(uvfib__router_add(&f->r, "GET", "/:/x", handler_a, NULL, NULL), UV_EINVAL);
    assert_int_equal(uvfib__alloc_live(), live);
    assert_null(f->r.tail->next);
}

/* A segment may repeat, a parameter's name may not; names are case-sensitive. */
static void test_only_parameter_names_must_differ(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(uvfib__router_add(&f->r, "GET", "/a/a", handler_a, NULL, NULL), 0);
    assert_int_equal(uvfib__router_add(&f->r, "GET", "/:x/:y", handler_a, NULL, NULL), 0);
    assert_int_equal(uvfib__router_add(&f->r, "GET", "/:x/:X", handler_a, NULL, NULL), 0);
    assert_int_equal(uvfib__router_add(&f->r, "GET", "/:x/x", handler_a, NULL, NULL), 0);
}

static void test_bad_arguments_are_rejected_with_einval(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(uvfib__router_add(&f->r, "", "/a", handler_a, NULL, NULL), UV_EINVAL);
    assert_int_equal(uvfib__router_add(&f->r, "G T", "/a", handler_a, NULL, NULL), UV_EINVAL);
    assert_int_equal(uvfib__router_add(&f->r, "GET\r\n", "/a", handler_a, NULL, NULL), UV_EINVAL);
    assert_int_equal(uvfib__router_add(&f->r, NULL, "/a", handler_a, NULL, NULL), UV_EINVAL);
    assert_int_equal(uvfib__router_add(&f->r, "GET", NULL, handler_a, NULL, NULL), UV_EINVAL);
    assert_int_equal(uvfib__router_add(&f->r, "GET", "/a", NULL, NULL, NULL), UV_EINVAL);
    assert_null(f->r.tail->next);
}

static void test_pattern_segment_limit(void **state)
{
    struct fixture *f = *state;
    char pat[128] = "";
    for (int i = 0; i < UVFIB__MAX_SEGMENTS; i++)
        strcat(pat, "/s");
    assert_int_equal(uvfib__router_add(&f->r, "GET", pat, handler_a, NULL, NULL), 0);
    struct uvfib__match m;
    route(f, "GET", pat, &m);
    assert_int_equal(m.status, 200);
    assert_int_equal(m.n_segs, UVFIB__MAX_SEGMENTS);
    uvfib__match_free(&m);
    strcat(pat, "/s");
    assert_int_equal(uvfib__router_add(&f->r, "GET", pat, handler_a, NULL, NULL), UV_EINVAL);
}

static void test_too_many_segments_in_target_is_404(void **state)
{
    struct fixture *f = *state;
    char target[256] = "";
    for (int i = 0; i <= UVFIB__MAX_SEGMENTS; i++)
        strcat(target, "/s");
    assert_status(f, "GET", target, 404);
    strcat(target, "/s/s/s");
    assert_status(f, "GET", target, 404);
}

/* ---------------------------------------------------------- ownership */

static int freed_count;
static void *freed_last;

static void count_free(void *arg)
{
    freed_count++;
    freed_last = arg;
    uvfib__free(arg);
}

static void test_router_free_frees_args_with_free_arg(void **state)
{
    (void)state;
    long live = uvfib__alloc_live();
    struct uvfib__router r;
    uvfib__router_init(&r);
    freed_count = 0;
    freed_last = NULL;
    int caller_owned = 7;
    void *owned = uvfib__malloc(16);
    assert_non_null(owned);
    assert_int_equal(uvfib__router_add(&r, "GET", "/a", handler_a, &caller_owned, NULL), 0);
    assert_int_equal(uvfib__router_add(&r, "GET", "/b", handler_a, owned, count_free), 0);
    uvfib__router_free(&r);
    assert_int_equal(freed_count, 1);
    assert_ptr_equal(freed_last, owned);
    assert_int_equal(caller_owned, 7);
    assert_null(r.head);
    assert_null(r.tail);
    assert_int_equal(uvfib__alloc_live(), live);
    /* Freeing an empty router again is harmless. */
    uvfib__router_free(&r);
    assert_int_equal(freed_count, 1);
}

static void test_router_add_out_of_memory_leaks_nothing(void **state)
{
    struct fixture *f = *state;
    long live = uvfib__alloc_live();
    /* router_add makes four allocations: the route, method, pattern, pattern_buf. */
    for (long k = 1; k <= 4; k++) {
        uvfib__alloc_fail_after(k);
        assert_int_equal(uvfib__router_add(&f->r, "GET", "/a/:b", handler_a, NULL, NULL),
                         UV_ENOMEM);
        uvfib__alloc_fail_after(0);
        assert_int_equal(uvfib__alloc_live(), live);
    }
    assert_null(f->r.tail->next);
    uvfib__alloc_fail_after(5);
    assert_int_equal(uvfib__router_add(&f->r, "GET", "/a/:b", handler_a, NULL, NULL), 0);
    uvfib__alloc_fail_after(0);
}

static void test_router_match_out_of_memory_is_enomem_and_freeable(void **state)
{
    struct fixture *f = *state;
    long live = uvfib__alloc_live();
    /* One allocation: the path and its decoded segments share a block. */
    for (long k = 1; k <= 1; k++) {
        struct uvfib__match m;
        uvfib__alloc_fail_after(k);
        assert_int_equal(
            uvfib__router_match(&f->r, "GET", "/fibonacci/10", strlen("/fibonacci/10"), &m),
            UV_ENOMEM);
        uvfib__alloc_fail_after(0);
        assert_null(m.route);
        uvfib__match_free(&m);
        assert_int_equal(uvfib__alloc_live(), live);
    }
    struct uvfib__match m;
    uvfib__alloc_fail_after(2);
    assert_int_equal(
        uvfib__router_match(&f->r, "GET", "/fibonacci/10", strlen("/fibonacci/10"), &m), 0);
    uvfib__alloc_fail_after(0);
    assert_int_equal(m.status, 200);
    assert_string_equal(m.path, "/fibonacci/10");
    assert_string_equal(uvfib__match_param(&m, "number"), "10");
    uvfib__match_free(&m);
    assert_int_equal(uvfib__alloc_live(), live);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_param_route_matches_and_captures_number),
        T(test_literal_route_matches),
        T(test_several_params_are_captured_by_name),
        T(test_root_route_matches_only_root),
        T(test_paths_are_case_sensitive),
        T(test_target_len_bounds_the_target),
        T(test_target_need_not_be_nul_terminated),
        T(test_param_is_percent_decoded),
        T(test_encoded_slash_stays_inside_its_segment),
        T(test_literal_segment_matches_after_decoding),
        T(test_malformed_escape_is_400),
        T(test_encoded_nul_is_400),
        T(test_percent_decode_reports_length_and_rejects_bad_input),
        T(test_query_string_is_ignored),
        T(test_fragment_is_ignored),
        T(test_absolute_form_target_is_routed_by_its_path),
        T(test_absolute_form_authority_ends_at_query_or_fragment),
        T(test_target_not_starting_with_slash_is_400),
        T(test_trailing_slash_gives_empty_param),
        T(test_trailing_slash_does_not_match_literal_route),
        T(test_unknown_path_is_404),
        T(test_post_on_get_route_is_405_with_allow),
        T(test_allow_lists_each_method_of_the_path_once),
        T(test_head_matches_get_routes),
        T(test_head_on_post_only_route_is_405),
        T(test_head_route_matches_head_before_a_get_route),
        T(test_first_added_route_wins),
        T(test_bad_patterns_are_rejected_with_einval),
        T(test_nameless_param_inside_pattern_is_rejected_with_einval),
        T(test_only_parameter_names_must_differ),
        T(test_bad_arguments_are_rejected_with_einval),
        T(test_pattern_segment_limit),
        T(test_too_many_segments_in_target_is_404),
        T(test_router_free_frees_args_with_free_arg),
        T(test_router_add_out_of_memory_leaks_nothing),
        T(test_router_match_out_of_memory_is_enomem_and_freeable),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
