/* test_metrics.c - unit tests of src/metrics.c without a loop: the exposition
 * text is well formed (every sample under its TYPE, counters end in _total,
 * names and labels valid), exact lines for known inputs, the per-route counts,
 * the loop-delay windows, ELU shown only when available, the compute average. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "alloc.h"
#include "metrics.h"

/* The gauges and what the loop knows, as the server's snapshot would hold them. */
static struct uvfib__snapshot view(void)
{
    return (struct uvfib__snapshot){
        .version = "0.1.0",
        .mode = "auto",
        .resolution_s = 0.01,
        .scrape_window_s = 15,
        .threads = 4,
        .busy_threads = 2,
        .waiting_jobs = 3,
        .connections_open = 2,
    };
}

/* The counters the tests' figures assume, counted on m as the server counts them. */
static void count_some(struct uvfib__metrics *m)
{
    m->count.jobs_completed = 10;
    m->count.jobs_cancelled = 1;
    m->count.jobs_timed_out = 1;
    m->count.jobs_rejected = 5;
    m->count.jobs_inline = 7;
    m->count.connections_total = 9;
    m->count.requests_total = 20;
}

/* The whole text, for one test; freed by the caller. */
static char *write_all(const struct uvfib__metrics *m, const struct uvfib__snapshot *v_in)
{
    struct uvfib__snapshot copy = *v_in;
    copy.count = m->count; /* as uvfib__stats_snapshot() copies them */
    const struct uvfib__snapshot *v = &copy;
    uvfib__buf_t out;
    uvfib__buf_init(&out);
    uvfib__metrics_write(&out, m, v);
    assert_false(out.oom);
    return out.data;
}

static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return true;
    return false;
}

static bool name_char(char c, bool first)
{
    return isalpha((unsigned char)c) || c == '_' || c == ':' ||
           (!first && isdigit((unsigned char)c));
}

/* A strict reading of the 0.0.4 text format, as promtool's parser and linter
 * apply it: HELP then TYPE once per family, its samples right after it and
 * nowhere else, valid names and label syntax, counters named *_total. */
static void assert_well_formed(const char *text)
{
    char family[128] = "", type[16] = "";
    char seen[64][128];
    int n_seen = 0;
    const char *line = text;
    assert_true(text[strlen(text) - 1] == '\n');
    while (*line != '\0') {
        const char *end = strchr(line, '\n');
        assert_non_null(end);
        char buf[512];
        size_t len = (size_t)(end - line);
        assert_true(len < sizeof(buf));
        memcpy(buf, line, len);
        buf[len] = '\0';
        if (strncmp(buf, "# HELP ", 7) == 0) {
            /* nothing to check beyond the TYPE that follows */
        } else if (strncmp(buf, "# TYPE ", 7) == 0) {
            assert_int_equal(sscanf(buf + 7, "%127s %15s", family, type), 2);
            for (int i = 0; i < n_seen; i++)
                assert_string_not_equal(seen[i], family); /* one TYPE per family */
            assert_true(n_seen < 64);
            strcpy(seen[n_seen++], family);
            if (strcmp(type, "counter") == 0)
                assert_non_null(strstr(family, "_total"));
            else
                assert_null(strstr(family, "_total"));
        } else {
            /* A sample: name, optional {labels}, one value. */
            size_t i = 0;
            assert_true(name_char(buf[0], true));
            while (name_char(buf[i], false))
                i++;
            char name[128];
            memcpy(name, buf, i);
            name[i] = '\0';
            bool ok = strcmp(name, family) == 0;
            if (strcmp(type, "histogram") == 0) {
                size_t fl = strlen(family);
                ok = strncmp(name, family, fl) == 0 &&
                     (strcmp(name + fl, "_bucket") == 0 || strcmp(name + fl, "_sum") == 0 ||
                      strcmp(name + fl, "_count") == 0);
            }
            if (!ok)
                fail_msg("sample %s outside its family %s", name, family);
            if (buf[i] == '{') {
                i++;
                while (buf[i] != '}') {
                    assert_true(name_char(buf[i], true));
                    while (name_char(buf[i], false))
                        i++;
                    assert_true(buf[i] == '=' && buf[i + 1] == '"');
                    i += 2;
                    while (buf[i] != '"') {
                        assert_true(buf[i] != '\0');
                        i += buf[i] == '\\' ? 2 : 1;
                    }
                    i++;
                    if (buf[i] == ',')
                        i++;
                }
                i++;
            }
            assert_true(buf[i] == ' ');
            char *rest;
            strtod(buf + i + 1, &rest);
            if (*rest != '\0' && strcmp(buf + i + 1, "NaN") != 0 &&
                strcmp(buf + i + 1, "+Inf") != 0)
                fail_msg("bad value in '%s'", buf);
        }
        line = end + 1;
    }
}

/* ------------------------------------------------------------------ tests */

static void test_empty_metrics_are_well_formed_with_zeros_or_nan(void **state)
{
    struct uvfib__metrics m;
    uvfib__metrics_init(&m);
    count_some(&m);
    struct uvfib__snapshot v = view();
    char *text = write_all(&m, &v);
    assert_well_formed(text);
    assert_true(has_line(text, "uvfib_info{version=\"0.1.0\",mode=\"auto\"} 1"));
    assert_true(has_line(text, "# TYPE uvfib_eventloop_lag_seconds histogram"));
    assert_true(has_line(text, "uvfib_eventloop_lag_seconds_count 0"));
    /* No tick yet: the window's figures are NaN, not a 0 that reads as a healthy loop. */
    assert_true(has_line(text, "uvfib_eventloop_lag_p99_seconds NaN"));
    assert_true(has_line(text, "uvfib_eventloop_lag_min_seconds NaN"));
    assert_true(has_line(text, "uvfib_eventloop_lag_max_seconds NaN"));
    assert_true(has_line(text, "uvfib_eventloop_lag_resolution_seconds 0.01"));
    uvfib__free(text);
    v.lag_pending_s = 0.02; /* but a tick overdue now is a delay seen */
    text = write_all(&m, &v);
    assert_true(has_line(text, "uvfib_eventloop_lag_max_seconds 0.02"));
    assert_true(has_line(text, "uvfib_eventloop_lag_p99_seconds NaN"));
    assert_true(has_line(text, "uvfib_pool_threads 4"));
    assert_true(has_line(text, "uvfib_pool_busy_threads 2"));
    assert_true(has_line(text, "uvfib_pool_waiting_jobs 3"));
    /* submitted = completed + cancelled + timed out + running + waiting */
    assert_true(has_line(text, "uvfib_pool_jobs_submitted_total 17"));
    assert_true(has_line(text, "uvfib_pool_jobs_rejected_total 5"));
    assert_true(has_line(text, "uvfib_http_connections_open 2"));
    assert_true(has_line(text, "uvfib_shed_requests_total{reason=\"loop_delay\"} 0"));
    /* No samples yet, but the family is declared. */
    assert_true(has_line(text, "# TYPE uvfib_http_requests_total counter"));
    uvfib__free(text);
    uvfib__metrics_free(&m);
}

static void test_requests_counted_by_route_and_code_with_escaped_labels(void **state)
{
    long live = uvfib__alloc_live();
    struct uvfib__metrics m;
    uvfib__metrics_init(&m);
    count_some(&m);
    for (int i = 0; i < 3; i++)
        uvfib__metrics_request(&m, "/fibonacci/:number", 200, 1000000, 100);
    uvfib__metrics_request(&m, "/fibonacci/:number", 422, 2000000, 50);
    uvfib__metrics_request(&m, "unmatched", 404, 3000000, 10);
    uvfib__metrics_request(&m, "/odd\"route\\", 499, 4000000, 0);
    assert_int_equal(uvfib__metrics_requests(&m, "/fibonacci/:number", 200), 3);
    assert_int_equal(uvfib__metrics_requests(&m, "/fibonacci/:number", 422), 1);
    assert_int_equal(uvfib__metrics_requests(&m, "/healthz", 200), 0);
    assert_int_equal(m.count.bytes_out, 360);

    struct uvfib__snapshot v = view();
    char *text = write_all(&m, &v);
    assert_well_formed(text);
    assert_true(has_line(text, "uvfib_http_requests_total{route=\"/fibonacci/:number\","
                               "code=\"200\"} 3"));
    assert_true(has_line(text, "uvfib_http_requests_total{route=\"unmatched\",code=\"404\"} 1"));
    assert_true(
        has_line(text, "uvfib_http_requests_total{route=\"/odd\\\"route\\\\\",code=\"499\"} 1"));
    assert_true(has_line(text, "uvfib_http_request_duration_seconds_count 6"));
    assert_true(has_line(text, "uvfib_http_request_duration_seconds_sum 0.012"));
    assert_true(has_line(text, "uvfib_http_request_duration_seconds_bucket{le=\"0.001\"} 3"));
    assert_true(has_line(text, "uvfib_http_request_duration_seconds_bucket{le=\"0.005\"} 6"));
    assert_true(has_line(text, "uvfib_http_sent_bytes_total 360"));
    uvfib__free(text);
    uvfib__metrics_free(&m);
    assert_int_equal(uvfib__alloc_live(), live);
}

static void test_request_without_memory_is_counted_as_lost(void **state)
{
    long live = uvfib__alloc_live();
    struct uvfib__metrics m;
    uvfib__metrics_init(&m);
    count_some(&m);
    uvfib__alloc_fail_after(1);
    uvfib__metrics_request(&m, "/x", 200, 1, 1);
    uvfib__alloc_fail_after(0);
    assert_int_equal(m.count.oom, 1);
    assert_int_equal(uvfib__metrics_requests(&m, "/x", 200), 0);
    assert_int_equal(uvfib__hist_count(&m.req_duration), 1); /* the rest still counts */
    uvfib__metrics_free(&m);
    assert_int_equal(uvfib__alloc_live(), live);
}

/* The lag gauges cover everything since the previous scrape, however many shedding windows
 * passed meanwhile; a scrape starts them again. The shedding figure looks back two windows. */
static void test_lag_gauges_cover_the_time_since_the_previous_scrape(void **state)
{
    struct uvfib__metrics m;
    uvfib__metrics_init(&m);
    count_some(&m);
    uvfib__metrics_lag(&m, 2000000, 2000000);   /* shedding window 1: 2 ms and 500 ms */
    uvfib__metrics_lag(&m, 500000000, 500000000);
    uvfib__metrics_rotate(&m);
    uvfib__metrics_lag(&m, 8000000, 8000000);   /* window 2: 8 ms */
    uvfib__metrics_rotate(&m);         /* window 3: nothing yet */
    assert_int_equal(uvfib__metrics_recent_lag(&m), 8000000); /* window 1 is gone */

    struct uvfib__snapshot v = view();
    char *text = write_all(&m, &v);
    assert_well_formed(text);
    assert_true(has_line(text, "uvfib_eventloop_lag_max_seconds 0.5"));
    assert_true(has_line(text, "uvfib_eventloop_lag_min_seconds 0.002"));
    assert_true(has_line(text, "uvfib_eventloop_lag_mean_seconds 0.17"));
    assert_true(has_line(text, "uvfib_eventloop_lag_window_seconds 15"));
    /* The cumulative histogram keeps all three. */
    assert_true(has_line(text, "uvfib_eventloop_lag_seconds_count 3"));
    assert_true(has_line(text, "uvfib_eventloop_lag_seconds_bucket{le=\"0.005\"} 1"));
    assert_true(has_line(text, "uvfib_eventloop_lag_seconds_bucket{le=\"0.25\"} 2"));
    assert_true(has_line(text, "uvfib_eventloop_lag_seconds_bucket{le=\"0.5\"} 3"));
    uvfib__free(text);

    uvfib__metrics_scrape_reset(&m);
    uvfib__metrics_lag(&m, 3000000, 3000000);
    text = write_all(&m, &v);
    assert_true(has_line(text, "uvfib_eventloop_lag_max_seconds 0.003"));
    assert_true(has_line(text, "uvfib_eventloop_lag_seconds_count 4"));
    uvfib__free(text);

    /* A tick overdue at the scrape counts in the max: the stall happened in this iteration. */
    v.lag_pending_s = 0.25;
    text = write_all(&m, &v);
    assert_true(has_line(text, "uvfib_eventloop_lag_max_seconds 0.25"));
    uvfib__free(text);
    /* When that tick fires, 0.26 s late, the window after the scrape takes its last 10 ms;
     * the histogram since start, all of it. */
    uvfib__metrics_scrape_reset(&m);
    v.lag_pending_s = 0;
    uvfib__metrics_lag(&m, 260000000, 10000000);
    text = write_all(&m, &v);
    assert_true(has_line(text, "uvfib_eventloop_lag_max_seconds 0.01"));
    assert_true(has_line(text, "uvfib_eventloop_lag_seconds_bucket{le=\"0.25\"} 3"));
    assert_true(has_line(text, "uvfib_eventloop_lag_seconds_count 5"));
    assert_int_equal(uvfib__metrics_recent_lag(&m), 260000000);
    uvfib__free(text);
    uvfib__metrics_free(&m);
}

/* The longest queue wait since the previous scrape. */
static void test_queue_wait_max_covers_the_time_since_the_previous_scrape(void **state)
{
    struct uvfib__metrics m;
    uvfib__metrics_init(&m);
    count_some(&m);
    uvfib__metrics_job(&m, 40000000, 1000000, 0);
    uvfib__metrics_job(&m, 7000000, 1000000, 0);
    struct uvfib__snapshot v = view();
    char *text = write_all(&m, &v);
    assert_true(has_line(text, "uvfib_pool_queue_wait_max_seconds 0.04"));
    uvfib__free(text);
    uvfib__metrics_scrape_reset(&m);
    text = write_all(&m, &v);
    assert_true(has_line(text, "uvfib_pool_queue_wait_max_seconds 0"));
    assert_true(has_line(text, "uvfib_pool_queue_wait_seconds_count 2"));
    uvfib__free(text);
    uvfib__metrics_free(&m);
}

static void test_utilization_shown_only_when_the_loop_measures_idle_time(void **state)
{
    struct uvfib__metrics m;
    uvfib__metrics_init(&m);
    count_some(&m);
    uvfib__metrics_iteration(&m, 30000);
    struct uvfib__snapshot v = view();
    char *text = write_all(&m, &v);
    assert_true(has_line(text, "uvfib_eventloop_utilization_available 0"));
    assert_null(strstr(text, "uvfib_eventloop_utilization "));
    assert_null(strstr(text, "uvfib_eventloop_iteration_busy_seconds"));
    uvfib__free(text);

    v.elu_available = true;
    v.elu = 0.25;
    v.idle_s = 3;
    v.active_s = 1;
    text = write_all(&m, &v);
    assert_well_formed(text);
    assert_true(has_line(text, "uvfib_eventloop_utilization_available 1"));
    assert_true(has_line(text, "uvfib_eventloop_utilization 0.25"));
    assert_true(has_line(text, "uvfib_eventloop_idle_seconds_total 3"));
    assert_true(has_line(text, "uvfib_eventloop_active_seconds_total 1"));
    assert_true(has_line(text, "uvfib_eventloop_iteration_busy_seconds_count 1"));
    assert_true(has_line(text, "uvfib_eventloop_iteration_busy_seconds_bucket{le=\"5e-05\"} 1"));
    uvfib__free(text);
    uvfib__metrics_free(&m);
}

static void test_jobs_feed_histograms_and_a_recent_average(void **state)
{
    struct uvfib__metrics m;
    uvfib__metrics_init(&m);
    count_some(&m);
    uvfib__metrics_job(&m, 1000, 100000000, 0);  /* first job: the average is it */
    assert_true(m.compute_recent_ns == 100000000.0);
    uvfib__metrics_job(&m, 2000, 200000000, 0);  /* then a fifth of the way to each new one */
    assert_true(m.compute_recent_ns == 120000000.0);
    struct uvfib__snapshot v = view();
    v.expected_wait_s = 0.09;
    char *text = write_all(&m, &v);
    assert_well_formed(text);
    assert_true(has_line(text, "uvfib_pool_compute_seconds_count 2"));
    assert_true(has_line(text, "uvfib_pool_compute_seconds_sum 0.3"));
    assert_true(has_line(text, "uvfib_pool_queue_wait_seconds_bucket{le=\"0.0001\"} 2"));
    assert_true(has_line(text, "uvfib_pool_expected_wait_seconds 0.09"));
    uvfib__free(text);
    uvfib__metrics_free(&m);
}

/* A run its client cut short is a wait, not a cost: it stays out of the compute histogram and
 * of the recent average that admission's expected wait is made of. A run stopped at its
 * deadline held its thread that long, and counts. */
static void test_runs_cut_short_by_their_client_leave_the_average_alone(void **state)
{
    struct uvfib__metrics m;
    uvfib__metrics_init(&m);
    count_some(&m);
    uvfib__metrics_job(&m, 1000, 200000000, 0);
    for (int i = 0; i < 5; i++)
        uvfib__metrics_job(&m, 3000000, 5000000, UV_ECANCELED);
    assert_true(m.compute_recent_ns == 200000000.0);
    uvfib__metrics_job(&m, 1000, 100000000, UV_ETIMEDOUT);
    assert_true(m.compute_recent_ns == 180000000.0);
    struct uvfib__snapshot v = view();
    char *text = write_all(&m, &v);
    assert_true(has_line(text, "uvfib_pool_compute_seconds_count 2"));
    assert_true(has_line(text, "uvfib_pool_compute_seconds_sum 0.3"));
    assert_true(has_line(text, "uvfib_pool_queue_wait_seconds_count 7"));
    assert_true(has_line(text, "uvfib_pool_queue_wait_max_seconds 0.003"));
    uvfib__free(text);
    uvfib__metrics_free(&m);
}

static void test_access_log_and_overload_metrics_follow_the_view(void **state)
{
    struct uvfib__metrics m;
    uvfib__metrics_init(&m);
    count_some(&m);
    m.count.shed_queue_wait = 4;
    m.count.log_lines = 12;
    m.count.log_dropped = 2;
    struct uvfib__snapshot v = view();
    char *text = write_all(&m, &v);
    assert_null(strstr(text, "uvfib_accesslog"));
    assert_true(has_line(text, "uvfib_overloaded 0"));
    uvfib__free(text);
    v.log_enabled = true;
    v.overloaded = true;
    v.draining = true;
    text = write_all(&m, &v);
    assert_well_formed(text);
    assert_true(has_line(text, "uvfib_accesslog_lines_total 12"));
    assert_true(has_line(text, "uvfib_accesslog_dropped_lines_total 2"));
    assert_true(has_line(text, "uvfib_overloaded 1"));
    assert_true(has_line(text, "uvfib_draining 1"));
    assert_true(has_line(text, "uvfib_shed_requests_total{reason=\"queue_wait\"} 4"));
    uvfib__free(text);
    uvfib__metrics_free(&m);
}

/* Every metric /metrics can show is in docs/observability.md's table, and every name the table
 * lists is one /metrics shows: a new metric is one line in metrics.h, its recording site, and
 * its row in the docs, or this fails. */
static void test_docs_table_lists_exactly_the_metrics(void **state)
{
    const char *dir = getenv("UVFIB_DOCS_DIR");
    assert_non_null(dir);
    char path[1024];
    snprintf(path, sizeof(path), "%s/observability.md", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char docs[256 * 1024];
    size_t n = fread(docs, 1, sizeof(docs) - 1, f);
    docs[n] = '\0';
    fclose(f);

    struct uvfib__metrics m;
    uvfib__metrics_init(&m);
    struct uvfib__snapshot v = view();
    v.elu_available = true; /* every metric there is */
    v.log_enabled = true;
    char *text = write_all(&m, &v);
    /* From the text: each "# TYPE name" must be a table row "| `name`". */
    for (const char *p = text; (p = strstr(p, "# TYPE ")) != NULL; p++) {
        char name[128], row[160];
        sscanf(p + 7, "%127s", name);
        snprintf(row, sizeof(row), "| `%s`", name);
        if (strstr(docs, row) == NULL)
            fail_msg("%s is exported but has no row in docs/observability.md", name);
    }
    /* From the docs: each row "| `uvfib_...`" must be exported. */
    for (const char *p = docs; (p = strstr(p, "| `uvfib_")) != NULL; p++) {
        char name[128], type[160];
        sscanf(p + 3, "%127[a-z0-9_]", name);
        snprintf(type, sizeof(type), "# TYPE %s ", name);
        if (strstr(text, type) == NULL)
            fail_msg("docs/observability.md lists %s, which /metrics never shows", name);
    }
    uvfib__free(text);
    uvfib__metrics_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_metrics_are_well_formed_with_zeros_or_nan),
        cmocka_unit_test(test_requests_counted_by_route_and_code_with_escaped_labels),
        cmocka_unit_test(test_request_without_memory_is_counted_as_lost),
        cmocka_unit_test(test_lag_gauges_cover_the_time_since_the_previous_scrape),
        cmocka_unit_test(test_queue_wait_max_covers_the_time_since_the_previous_scrape),
        cmocka_unit_test(test_utilization_shown_only_when_the_loop_measures_idle_time),
        cmocka_unit_test(test_jobs_feed_histograms_and_a_recent_average),
        cmocka_unit_test(test_runs_cut_short_by_their_client_leave_the_average_alone),
        cmocka_unit_test(test_access_log_and_overload_metrics_follow_the_view),
        cmocka_unit_test(test_docs_table_lists_exactly_the_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
