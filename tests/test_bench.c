/* The benchmark harness's own logic: the open-loop schedule and the SVG writer. The
 * benchmarks themselves are not tests and carry no timing thresholds. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"
#include "openloop.h"
#include "svg.h"
#include "util.h"

Test(bench, open_loop_requests_are_due_on_a_fixed_schedule)
{
    uint64_t start = 1000, rate = 3000000; /* 3 M/s: 333.33 ns apart */
    cr_expect_eq(openloop_due(start, 0, rate), start);
    cr_expect_eq(openloop_due(start, 3, rate), start + 1000);
    cr_expect_eq(openloop_due(start, 3000000, rate), start + 1000000000ull, "one second of requests");
    for (uint64_t i = 1; i < 100000; i++) {
        uint64_t d = openloop_due(start, i, rate) - openloop_due(start, i - 1, rate);
        cr_assert(d == 333 || d == 334, "request %llu is %llu ns after the one before",
                  (unsigned long long)i, (unsigned long long)d);
    }
    /* no overflow at long runs and high rates */
    cr_expect_eq(openloop_due(0, 1ull << 40, 1ull << 30), 1024ull * 1000000000ull);
}

Test(bench, open_loop_latency_counts_the_wait_to_start)
{
    /* a request due at 100 that could only start at 5,100 (a stall) and took 50 */
    cr_expect_eq(openloop_latency(100, 5150), 5050);
    cr_expect_eq(openloop_latency(100, 100), 0);
    cr_expect_eq(openloop_latency(200, 100), 0, "never negative");
}

Test(bench, stall_seconds_are_those_over_five_times_the_median_second)
{
    double p[] = {10, 12, 11, 60, 49, 10, 11, 500, 11};
    double median;
    cr_expect_eq(openloop_stall_seconds(p, 9, &median), 2, "60 and 500 exceed 5 x 11");
    cr_expect_eq(median, 11);
    for (int i = 1; i < 9; i++)
        cr_expect_leq(p[i - 1], p[i], "sorted in place");
    double flat[] = {7, 7, 7, 7};
    cr_expect_eq(openloop_stall_seconds(flat, 4, &median), 0);
    cr_expect_eq(openloop_stall_seconds(flat, 0, &median), 0);
    cr_expect_eq(median, 0, "no seconds, no median");
}

/* The file's text, in a buffer the next call reuses. */
static const char *read_text(const char *path)
{
    static char text[1 << 20];
    FILE *f = fopen(path, "r");
    cr_assert(f, "%s", path);
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    return text;
}

/* A minimal well-formedness check: every element opened is closed, in order. */
static void check_xml(const char *text)
{
    char stack[64][32];
    int depth = 0, elements = 0;
    for (const char *p = text; (p = strchr(p, '<'));) {
        const char *end = strchr(p, '>');
        cr_assert(end, "unterminated tag");
        if (p[1] == '/') {
            cr_assert_gt(depth, 0, "a close without an open");
            size_t n = strlen(stack[depth - 1]);
            cr_assert(strncmp(p + 2, stack[depth - 1], n) == 0, "</%.*s> closes <%s>",
                      (int)(end - p - 2), p + 2, stack[depth - 1]);
            depth--;
        } else if (end[-1] != '/') {
            size_t n = strcspn(p + 1, " >");
            cr_assert_lt(depth, 64);
            snprintf(stack[depth++], sizeof stack[0], "%.*s", (int)n, p + 1);
            elements++;
        } else {
            elements++;
        }
        p = end + 1;
    }
    cr_expect_eq(depth, 0, "unclosed elements");
    cr_expect_gt(elements, 10);
}

Test(bench, svg_plots_are_well_formed_with_one_line_per_series)
{
    struct hist *a = malloc(sizeof *a), *b = malloc(sizeof *b), *empty = malloc(sizeof *empty);
    hist_init(a);
    hist_init(b);
    hist_init(empty);
    for (uint64_t i = 1; i <= 100000; i++) {
        hist_record(a, 1000 + i % 5000);
        hist_record(b, 100000 + (i % 97) * 1000 + (i % 10000 == 0 ? 5000000 : 0));
    }
    char *dir = tu_mkdtemp(), path[4200];
    snprintf(path, sizeof path, "%s/p.svg", dir);
    struct svg_series s[] = {{"sluice <fast> & \"quoted\"", a}, {"peer", b}, {"none", empty}};
    cr_assert_eq(svg_percentile_plot(path, "a < b", s, 3), 0);
    const char *text = read_text(path);
    cr_expect(strncmp(text, "<svg xmlns=\"http://www.w3.org/2000/svg\"", 39) == 0);
    check_xml(text);
    int lines = 0;
    for (const char *p = text; (p = strstr(p, "<polyline")); p++)
        lines++;
    cr_expect_eq(lines, 2, "one line per series with samples");
    cr_expect(strstr(text, "sluice &lt;fast&gt; &amp; &quot;quoted&quot;"), "names are escaped");
    cr_expect(strstr(text, "99.9%"));
    free(a);
    free(b);
    free(empty);
    tu_rmdir(dir);
}

Test(bench, svg_timelines_are_well_formed_with_one_line_per_engine)
{
    double a[30], b[20], thr[30];
    for (int i = 0; i < 30; i++) {
        a[i] = 15000 + (i == 17 ? 2e6 : 0);
        thr[i] = 150000;
    }
    for (int i = 0; i < 20; i++)
        b[i] = i == 3 ? 0 : 300000; /* a zero has no place on a log scale: left out */
    char *dir = tu_mkdtemp(), path[4200];
    snprintf(path, sizeof path, "%s/t.svg", dir);
    struct svg_line l[] = {{"sluice", a, 30}, {"rocks<db>", b, 20}};
    cr_assert_eq(svg_timeline_plot(path, "soak & more", "per-second p99.9 (ns)", l, 2, 1), 0);
    const char *text = read_text(path);
    check_xml(text);
    int lines = 0, points = 0;
    for (const char *p = text; (p = strstr(p, "<polyline")); p++)
        lines++;
    const char *second = strstr(strstr(text, "<polyline") + 1, "<polyline");
    cr_assert(second);
    for (const char *p = strstr(second, "points=\"") + 8; *p != '"'; p++)
        points += *p == ',';
    cr_expect_eq(lines, 2);
    cr_expect_eq(points, 19, "the zero second is left out of the log-scale line");
    cr_expect(strstr(text, "rocks&lt;db&gt;"), "names are escaped");
    cr_expect(strstr(text, "2ms") || strstr(text, "1ms") || strstr(text, "10ms"), "a log axis in time units");
    struct svg_line t[] = {{"sluice", thr, 30}};
    cr_assert_eq(svg_timeline_plot(path, "throughput", "records completed per second", t, 1, 0), 0);
    tu_rmdir(dir);
}
