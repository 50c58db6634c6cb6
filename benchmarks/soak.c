/*
 * soak: open-loop ingest at fixed absolute rates for a set time, every engine's background
 * work (sluice's log writer and compactor, the peers' flushes and compactions) running
 * as it would in production. One producer; request i is due at start + i/rate and its
 * latency counts from then (openloop.h), so a stall counts against every put it delays.
 *
 * sluice runs twice per rate: as deployed, and with compaction held back until the end
 * ("sluice-held"), the floor its background work is judged against in the same run.
 * Per engine and rate it reports the run's percentiles, each second's p99.9 and max (and
 * plots them), stall seconds (a second whose p99.9 exceeds 5x the median second's), and
 * the bytes the process wrote to the device per user byte (/proc/self/io), counted until
 * the data is at rest: for sluice until sluice_compact has moved the backlog to the cold
 * tier, for the peers until their close.
 *
 * The peers store key || be64(ts) per series, so they compact for real. Rates above
 * PEER_RATE_MAX run sluice only: no peer's closed-loop no-sync put rate reaches them here.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "report.h"
#include "clock.h"
#include "openloop.h"
#include "peers.h"
#include "svg.h"

#define PEER_RATE_MAX 200000
#define BEHIND_MAX_NS 5000000000ull /* stop a run that fell this far behind its schedule */
#define MAX_ENGINES 8

struct timeline {
    char name[32];
    int secs;
    double *p999, *max, *done; /* per second: ns, ns, records completed */
};

/* held: sluice with compaction held back until the run ends (manual_compaction): the
 * same soak without its background LMDB work, the floor the compacting run is judged
 * against in the same run. */
static void soak_one(const struct cfg *c, const struct peer *e, uint64_t rate, struct timeline *tl,
                     int held)
{
    char dirname[96], name[64];
    const char *ename = held ? "sluice-held" : e->name;
    snprintf(dirname, sizeof dirname, "soak-%s-%" PRIu64, ename, rate);
    snprintf(name, sizeof name, "%s soak %" PRIu64 "k/s", ename, rate / 1000);
    char *dir = fresh_dir(c, dirname);
    int secs = (int)c->soak_secs;
    struct hist *sec = malloc(sizeof *sec * (size_t)secs);
    for (int s = 0; s < secs; s++)
        hist_init(&sec[s]);
    struct result res;
    result_init(&res, name);
    res.indent = e != &bench_sluice_engine;

    bench_sluice_manual_compaction = held;
    void *store = e->store_open(dir);
    void *t = e->thread_open(store);
    uint64_t n = rate * (uint64_t)secs, base = clock_realtime_ns(), i;
    uint8_t k[64];
    memset(tl, 0, sizeof *tl);
    snprintf(tl->name, sizeof tl->name, "%s", ename);
    tl->secs = secs;
    tl->p999 = calloc((size_t)secs, sizeof *tl->p999);
    tl->max = calloc((size_t)secs, sizeof *tl->max);
    tl->done = calloc((size_t)secs, sizeof *tl->done);
    struct meter m;
    meter_start(&m);
    uint64_t start = clock_now_ns() + 1000000, behind_at = 0;
    for (i = 0; i < n; i++) {
        uint64_t due = openloop_due(start, i, rate);
        if (openloop_wait(due) - due > BEHIND_MAX_NS) {
            behind_at = i;
            break;
        }
        e->begin(t);
        e->put(t, k, engine_key(k, i, base + i), value_of(i), VALUE_BYTES);
        e->commit(t, 0);
        uint64_t done = clock_now_ns(), lat = openloop_latency(due, done);
        hist_record(&res.lat, lat);
        hist_record(&sec[(due - start) / 1000000000u], lat);
        uint64_t ds = (done - start) / 1000000000u;
        if (ds < (uint64_t)secs)
            tl->done[ds]++;
    }
    double run_secs = (clock_now_ns() - start) / 1e9;
    uint64_t t_settle = clock_now_ns();
    if (e == &bench_sluice_engine && !behind_at)
        e->settle(store); /* the backlog into the cold tier: what its device bytes include */
    double settle_secs = (clock_now_ns() - t_settle) / 1e9;
    e->thread_close(t);
    e->store_close(store);
    meter_stop(&m, &res);
    res.secs = run_secs;
    res.records = i;
    res.user_bytes = (double)i * USER_BYTES;

    /* each second's p99.9 and max; stall seconds against the median second */
    int full = behind_at ? (int)(behind_at / rate) : secs;
    double *sorted = malloc(sizeof *sorted * (size_t)(full ? full : 1)), worst = 0, median;
    for (int s = 0; s < full; s++) {
        tl->p999[s] = (double)hist_percentile(&sec[s], 99.9);
        tl->max[s] = (double)sec[s].max;
        sorted[s] = tl->p999[s];
        worst = tl->p999[s] > worst ? tl->p999[s] : worst;
    }
    tl->secs = full;
    res.stall_seconds = openloop_stall_seconds(sorted, full, &median);
    int len = snprintf(res.note, sizeof res.note,
                       "%ds at %.0fk/s due: %d stall seconds; per-second p99.9 median %.1f us, worst %.1f us",
                       full, rate / 1e3, res.stall_seconds, median / 1e3, worst / 1e3);
    if (e == &bench_sluice_engine && !behind_at)
        len += snprintf(res.note + len, sizeof res.note - (size_t)len, "; compaction caught up %.1f s after", settle_secs);
    if (behind_at)
        snprintf(res.note + len, sizeof res.note - (size_t)len, "; FELL BEHIND by 5 s after %" PRIu64
                 " records: stopped", behind_at);
    report_row(c, &res);
    free(sorted);
    free(sec);
    free(dir);
}

static void timeline_plots(const struct cfg *c, uint64_t rate, struct timeline *tl, int n)
{
    if (!c->plots || !n)
        return;
    struct svg_line l[MAX_ENGINES];
    static const struct {
        const char *what, *file, *ylabel;
        int log_y;
    } charts[] = {{"p99.9", "p999", "per-second p99.9 (ns)", 1},
                  {"max", "max", "per-second max (ns)", 1},
                  {"throughput", "throughput", "records completed per second", 0}};
    for (size_t k = 0; k < sizeof charts / sizeof charts[0]; k++) {
        for (int i = 0; i < n; i++)
            l[i] = (struct svg_line){tl[i].name, k == 0 ? tl[i].p999 : k == 1 ? tl[i].max : tl[i].done,
                                     tl[i].secs};
        char path[4200], title[128];
        snprintf(path, sizeof path, "%s/soak-%" PRIu64 "k-%s.svg", c->plots, rate / 1000, charts[k].file);
        snprintf(title, sizeof title, "soak at %" PRIu64 "k records/s: %s, second by second", rate / 1000,
                 charts[k].what);
        if (svg_timeline_plot(path, title, charts[k].ylabel, l, n, charts[k].log_y) == 0)
            fprintf(stderr, "sluice-bench: wrote %s\n", path);
    }
}

void bench_soak(const struct cfg *c)
{
    const char *p = c->soak_rates;
    while (p && *p) {
        char *end;
        uint64_t rate = strtoull(p, &end, 10);
        if (end == p || rate == 0) {
            fprintf(stderr, "sluice-bench: --soak-rates: not a rate list: %s\n", c->soak_rates);
            exit(2);
        }
        p = *end == ',' ? end + 1 : end;
        struct timeline tl[MAX_ENGINES];
        int n = 0;
        soak_one(c, &bench_sluice_engine, rate, &tl[n++], 0);
        /* held back, the log keeps all of it: at 1 M/s a 30 s run passes the 4 GiB
         * backlog budget, so the floor is measured where the peers run */
        if (rate <= PEER_RATE_MAX)
            soak_one(c, &bench_sluice_engine, rate, &tl[n++], 1);
        for (int i = 0; c->peers && rate <= PEER_RATE_MAX && bench_peers[i] && n < MAX_ENGINES; i++)
            soak_one(c, bench_peers[i], rate, &tl[n++], 0);
        timeline_plots(c, rate, tl, n);
        for (int i = 0; i < n; i++) {
            free(tl[i].p999);
            free(tl[i].max);
            free(tl[i].done);
        }
    }
}
