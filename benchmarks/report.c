/*
 * The output of sluice-bench: an aligned table on the terminal, Markdown for docs/, or
 * one JSON document for machines; then the targets, each computed from rows of
 * this same run (ratios, so that they hold on a noisy shared machine) and called met or
 * not met. Nothing here is asserted anywhere: a benchmark reports.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "peers.h"

#define MAX_ROWS 256
#define MAX_LIMITS 16

static struct result *rows[MAX_ROWS];
static int nrows;
static struct {
    char name[48], unit[16];
    double value;
} limits[MAX_LIMITS];
static int nlimits;
static const char *machine_line;

static double rate_of(const struct result *r)
{
    if (r->rate_override > 0)
        return r->rate_override;
    return r->secs > 0 ? r->records / r->secs : 0;
}

static double pct_us(const struct result *r, double p)
{
    return r->lat.count ? hist_percentile(&r->lat, p) / 1e3 : NAN;
}

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static void json_number(double v)
{
    if (isfinite(v))
        printf("%.6g", v);
    else
        printf("null");
}

void report_begin(const struct cfg *c, const char *machine)
{
    machine_line = strdup(machine);
    if (c->json)
        return; /* one document at the end */
    printf("%smachine: %s\n%smode: %s\n", c->markdown ? "" : "# ", machine,
           c->markdown ? "" : "# ", c->quick ? "--quick" : "full");
    if (c->markdown)
        printf("\n| workload | records | per second | p50 µs | p90 µs | p99 µs | p99.9 µs | "
               "p99.99 µs | max µs | CPU s | device B / user B | notes |\n"
               "|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    else
        printf("%-34s %9s %12s %8s %8s %8s %9s %9s %10s %7s %6s  %s\n", "workload", "records",
               "per second", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "p99.99 µs", "max µs",
               "CPU s", "dev/u", "notes");
    fflush(stdout);
}

static void cell_us(const struct cfg *c, double v, int width)
{
    if (c->markdown)
        isfinite(v) ? printf(" %.2f |", v) : printf(" |");
    else
        isfinite(v) ? printf(" %*.2f", width, v) : printf(" %*s", width, "");
}

struct result *report_row(const struct cfg *c, const struct result *r)
{
    struct result *kept = NULL;
    if (nrows < MAX_ROWS && (kept = malloc(sizeof *kept))) {
        *kept = *r;
        rows[nrows++] = kept;
    }
    if (c->json)
        return kept;
    char rate[48], wa[16] = "";
    if (r->unit[0])
        snprintf(rate, sizeof rate, "%.1f %s", rate_of(r), r->unit);
    else
        snprintf(rate, sizeof rate, "%.0f", rate_of(r));
    if (r->user_bytes > 0)
        snprintf(wa, sizeof wa, "%.2f", r->device_bytes / r->user_bytes);
    char name[72];
    snprintf(name, sizeof name, "%s%s", r->indent ? "  " : "", r->name);
    if (c->markdown) {
        printf("| %s | %" PRIu64 " | %s |", name, r->records, rate);
    } else {
        printf("%-34s %9" PRIu64 " %12s", name, r->records, rate);
    }
    static const double ps[] = {50, 90, 99, 99.9, 99.99};
    static const int widths[] = {8, 8, 8, 9, 9};
    for (int i = 0; i < 5; i++)
        cell_us(c, pct_us(r, ps[i]), widths[i]);
    cell_us(c, r->lat.count ? r->lat.max / 1e3 : NAN, 10);
    if (c->markdown)
        printf(" %.2f | %s | %s |\n", r->cpu_secs, wa, r->note);
    else
        printf(" %7.2f %6s  %s\n", r->cpu_secs, wa, r->note);
    fflush(stdout);
    return kept;
}

const struct result *report_find(const char *name)
{
    for (int i = nrows - 1; i >= 0; i--)
        if (!strcmp(rows[i]->name, name))
            return rows[i];
    return NULL;
}

void report_limit(const char *name, double value, const char *unit)
{
    if (nlimits == MAX_LIMITS)
        return;
    snprintf(limits[nlimits].name, sizeof limits[nlimits].name, "%s", name);
    snprintf(limits[nlimits].unit, sizeof limits[nlimits].unit, "%s", unit);
    limits[nlimits++].value = value;
}

double report_limit_get(const char *name)
{
    for (int i = 0; i < nlimits; i++)
        if (!strcmp(limits[i].name, name))
            return limits[i].value;
    return 0;
}

/* ---- targets: each one line, computed from this run's rows ---- */

struct target {
    char what[256], figure[256];
    int met; /* 1 met, 0 not met, -1 not measured in this run */
};
static struct target targets[32];
static int ntargets;

static struct target *target_add(const char *what)
{
    if (ntargets == 32)
        return NULL;
    struct target *t = &targets[ntargets++];
    snprintf(t->what, sizeof t->what, "%s", what);
    snprintf(t->figure, sizeof t->figure, "not measured in this run");
    t->met = -1;
    return t;
}

/* The best peer's row for `workload` (by rate), or NULL. */
static const struct result *best_peer(const char *workload)
{
    const struct result *best = NULL;
    for (int i = 0; bench_peers[i]; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s %s", bench_peers[i]->name, workload);
        const struct result *r = report_find(name);
        if (r && (!best || rate_of(r) > rate_of(best)))
            best = r;
    }
    return best;
}

static void targets_compute(void)
{
    struct target *t;
    const struct result *r, *p, *d;

    r = report_find("put-memory untimed"); /* throughput without the latency clocks */
    p = best_peer("put-nosync"); /* the peers' no-sync put is their fastest put */
    if ((t = target_add("put-memory >= 10x the best peer's no-sync put throughput")) && r && p) {
        double x = rate_of(r) / rate_of(p);
        snprintf(t->figure, sizeof t->figure, "%.2f M/s against %s %.2f M/s = %.1fx", rate_of(r) / 1e6,
                 p->name, rate_of(p) / 1e6, x);
        t->met = x >= 10;
    }
    r = report_find("put-memory");
    if ((t = target_add("put-memory p99.9 <= 2 us")) && r) {
        snprintf(t->figure, sizeof t->figure, "%.2f us", pct_us(r, 99.9));
        t->met = pct_us(r, 99.9) <= 2;
    }
    const struct result *sus = report_find("put-memory through the log");
    double bw = report_limit_get("disk 1 MiB write+fdatasync MB/s");
    if ((t = target_add("put-memory sustained through the log >= min(70% of the disk's 1 MiB "
                        "write+fdatasync bandwidth, 2 M records/s)")) && sus && bw > 0) {
        double log_rec = 144; /* a record's bytes in the log */
        double need = 0.7 * bw * 1e6 / log_rec;
        if (need > 2e6)
            need = 2e6;
        snprintf(t->figure, sizeof t->figure, "%.2f M records/s (%.0f MB/s of log) against %.2f M "
                 "(70%% of %.0f MB/s is %.2f M records)", rate_of(sus) / 1e6, rate_of(sus) * log_rec / 1e6,
                 need / 1e6, bw, 0.7 * bw * 1e6 / log_rec / 1e6);
        t->met = rate_of(sus) >= need;
    }

    r = report_find("put-written");
    if ((t = target_add("put-written: p50 <= 2 us, p99.9 <= 20 us, >= 5x the best peer's no-sync "
                        "put throughput")) && r && p) {
        double x = rate_of(r) / rate_of(p);
        snprintf(t->figure, sizeof t->figure, "p50 %.2f us, p99.9 %.1f us; %.2f M/s against %s %.2f M/s = %.1fx",
                 pct_us(r, 50), pct_us(r, 99.9), rate_of(r) / 1e6, p->name, rate_of(p) / 1e6, x);
        t->met = pct_us(r, 50) <= 2 && pct_us(r, 99.9) <= 20 && x >= 5;
    }

    r = report_find("put-durable");
    d = report_find("disk 4K write+fdatasync");
    if ((t = target_add("put-durable p50 <= 1.3x and p99.9 <= 2x the disk's 4 KiB write+fdatasync")) && r && d) {
        double a = pct_us(r, 50) / pct_us(d, 50), b = pct_us(r, 99.9) / pct_us(d, 99.9);
        snprintf(t->figure, sizeof t->figure, "p50 %.1f us = %.2fx, p99.9 %.1f us = %.2fx", pct_us(r, 50), a,
                 pct_us(r, 99.9), b);
        t->met = a <= 1.3 && b <= 2;
    }

    r = report_find("put-durable-8");
    p = best_peer("put-durable-8");
    if ((t = target_add("put-durable-8 >= 4x the best peer at sync=true, with lower p99.9")) && r && p) {
        double x = rate_of(r) / rate_of(p);
        snprintf(t->figure, sizeof t->figure, "%.0f/s against %s %.0f/s = %.2fx; p99.9 %.0f against %.0f us",
                 rate_of(r), p->name, rate_of(p), x, pct_us(r, 99.9), pct_us(p, 99.9));
        t->met = x >= 4 && pct_us(r, 99.9) < pct_us(p, 99.9);
    }

    r = report_find("window-durable");
    p = best_peer("window-durable");
    if ((t = target_add("window-durable (W=1000) >= 1.5x the best peer's 1,000-records-per-sync rate")) && r && p) {
        double x = rate_of(r) / rate_of(p);
        snprintf(t->figure, sizeof t->figure, "%.2f M/s against %s %.2f M/s = %.2fx", rate_of(r) / 1e6,
                 p->name, rate_of(p) / 1e6, x);
        t->met = x >= 1.5;
    }

    static const char *const soaks[] = {"100k/s", "150k/s"};
    for (int k = 0; k < 2; k++) {
        char name[64], what[256];
        snprintf(name, sizeof name, "sluice soak %s", soaks[k]);
        r = report_find(name);
        snprintf(name, sizeof name, "sluice-held soak %s", soaks[k]);
        const struct result *h = report_find(name);
        snprintf(name, sizeof name, "soak %s", soaks[k]);
        p = best_peer(name);
        snprintf(what, sizeof what, "soak %s, compaction running: p99.9 and max <= 2x the same soak "
                 "with compaction held back, p99.9 <= 0.5x the best peer's, no stall second, device "
                 "bytes per user byte <= 2.5", soaks[k]);
        if ((t = target_add(what)) && r && h) {
            double wa = r->device_bytes / r->user_bytes, peer = p ? pct_us(p, 99.9) : 0;
            snprintf(t->figure, sizeof t->figure, "p99.9 %.1f us (held %.1f, %s %.1f), max %.2f ms (held "
                     "%.2f), %d stall seconds in %.0f s, %.2f", pct_us(r, 99.9), pct_us(h, 99.9),
                     p ? p->name : "no peer", peer, r->lat.max / 1e6, h->lat.max / 1e6, r->stall_seconds,
                     r->secs, wa);
            t->met = pct_us(r, 99.9) <= 2 * pct_us(h, 99.9) && r->lat.max <= 2 * h->lat.max &&
                     (!p || pct_us(r, 99.9) <= 0.5 * peer) && r->stall_seconds == 0 && wa <= 2.5;
        }
    }
    r = report_find("sluice soak 1000k/s");
    if ((t = target_add("soak 1 M/s: no stall second over 10 minutes")) && r) {
        snprintf(t->figure, sizeof t->figure, "%d stall seconds in %.0f s (p99.9 %.1f us, max %.2f ms)%s",
                 r->stall_seconds, r->secs, pct_us(r, 99.9), r->lat.max / 1e6,
                 r->secs < 599 ? "; shorter than 10 minutes, so not a verdict" : "");
        t->met = r->secs >= 599 ? r->stall_seconds == 0 : -1;
    }

    static const char *const reads[][2] = {{"read-point", "gets"}, {"read-scan", "records"}};
    for (int k = 0; k < 2; k++) {
        char name[64], what[160];
        snprintf(name, sizeof name, "sluice %s cold", reads[k][0]);
        r = report_find(name);
        snprintf(name, sizeof name, "rocksdb %s cold", reads[k][0]);
        const struct result *rk = report_find(name);
        snprintf(name, sizeof name, "lmdb %s cold", reads[k][0]);
        const struct result *lm = report_find(name);
        double need = k ? 3 : 2;
        snprintf(what, sizeof what, "%s (cold) >= %.0fx RocksDB and >= 0.7x raw LMDB %s/s", reads[k][0], need,
                 reads[k][1]);
        if ((t = target_add(what)) && r && lm) {
            double a = rk ? rate_of(r) / rate_of(rk) : NAN, b = rate_of(r) / rate_of(lm);
            snprintf(t->figure, sizeof t->figure, "%.0f/s: %.2fx RocksDB, %.2fx LMDB", rate_of(r), a, b);
            t->met = (!rk || a >= need) && b >= 0.7;
            if (!rk)
                t->met = -1;
        }
    }

    r = report_find("recovery");
    if ((t = target_add("recovery: reopen after a crash <= 1 s per GiB of log backlog")) && r) {
        snprintf(t->figure, sizeof t->figure, "%.2f s per GiB (%.200s)", 1 / rate_of(r), r->note);
        t->met = rate_of(r) >= 1.0; /* GiB/s */
    }
}

static const char *verdict(int met) { return met == 1 ? "met" : met == 0 ? "NOT met" : "no verdict"; }

void report_end(const struct cfg *c)
{
    targets_compute();
    if (c->json) {
        printf("{\"machine\": ");
        json_string(machine_line ? machine_line : "");
        printf(",\n \"mode\": \"%s\",\n \"limits\": {", c->quick ? "quick" : "full");
        for (int i = 0; i < nlimits; i++) {
            printf("%s\n  ", i ? "," : "");
            json_string(limits[i].name);
            printf(": ");
            json_number(limits[i].value);
        }
        printf("},\n \"results\": [");
        for (int i = 0; i < nrows; i++) {
            const struct result *r = rows[i];
            printf("%s\n  {\"name\": ", i ? "," : "");
            json_string(r->name);
            printf(", \"records\": %" PRIu64 ", \"seconds\": ", r->records);
            json_number(r->secs);
            printf(", \"per_second\": ");
            json_number(rate_of(r));
            printf(", \"unit\": ");
            json_string(r->unit[0] ? r->unit : "records/s");
            static const char *const keys[] = {"p50_us", "p90_us", "p99_us", "p99_9_us", "p99_99_us"};
            static const double ps[] = {50, 90, 99, 99.9, 99.99};
            for (int k = 0; k < 5; k++) {
                printf(", \"%s\": ", keys[k]);
                json_number(pct_us(r, ps[k]));
            }
            printf(", \"max_us\": ");
            json_number(r->lat.count ? r->lat.max / 1e3 : NAN);
            printf(", \"cpu_seconds\": ");
            json_number(r->cpu_secs);
            printf(", \"device_bytes\": ");
            json_number(r->device_bytes);
            printf(", \"user_bytes\": ");
            json_number(r->user_bytes);
            if (r->stall_seconds >= 0 && strstr(r->name, "soak"))
                printf(", \"stall_seconds\": %d", r->stall_seconds);
            printf(", \"note\": ");
            json_string(r->note);
            printf("}");
        }
        printf("\n ],\n \"targets\": [");
        for (int i = 0; i < ntargets; i++) {
            printf("%s\n  {\"target\": ", i ? "," : "");
            json_string(targets[i].what);
            printf(", \"figure\": ");
            json_string(targets[i].figure);
            printf(", \"met\": %s}", targets[i].met == 1 ? "true" : targets[i].met == 0 ? "false" : "null");
        }
        printf("\n ]}\n");
    } else {
        if (nlimits) {
            printf(c->markdown ? "\nPhysical limits measured in this run:\n\n" : "\n# physical limits\n");
            for (int i = 0; i < nlimits; i++)
                printf(c->markdown ? "- %s: %.1f %s\n" : "  %-40s %12.1f %s\n", limits[i].name,
                       limits[i].value, limits[i].unit);
        }
        int shown = 0;
        for (int i = 0; i < ntargets; i++) {
            if (targets[i].met < 0 && !strcmp(targets[i].figure, "not measured in this run"))
                continue;
            if (!shown++)
                printf(c->markdown ? "\nTargets (benchmark-suite issue), from this run:\n\n"
                                     "| target | this run | verdict |\n|---|---|---|\n"
                                   : "\n# targets, from this run\n");
            if (c->markdown)
                printf("| %s | %s | %s |\n", targets[i].what, targets[i].figure,
                       targets[i].met == 1 ? "met" : targets[i].met == 0 ? "**not met**" : "no verdict");
            else
                printf("  %-8s %s: %s\n", verdict(targets[i].met), targets[i].what, targets[i].figure);
        }
    }
    fflush(stdout);
    for (int i = 0; i < nrows; i++)
        free(rows[i]);
    nrows = 0;
    free((void *)machine_line);
}
