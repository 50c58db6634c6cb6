/*
 * Reads, every engine through the same interface (peers.h), on the same records: one
 * record per series per 1-second tick, READ_TICKS ticks of N / READ_TICKS series.
 *
 *   read-point  random (series, tick) gets of loaded records, each value checked
 *   read-scan   one-series window scans of SCAN_TICKS ticks from a random start, each
 *               count checked; records/s, latency per scan
 * Each runs "hot", right after the load (sluice: with compaction held back, so the
 * records are in the ring and the log's index; the peers: memtables and young files),
 * and "cold", after the engine settled (sluice_compact into the cold tier; a full
 * compaction for RocksDB and LevelDB; LMDB and SQLite have none).
 *
 *   mixed       open-loop ingest at half the engine's own closed-loop maximum measured in
 *               this run (sluice: with compaction keeping up; the peers: their no-sync
 *               puts), while a reader thread alternates a get of a record one tick old
 *               and a scan of the last SCAN_TICKS ticks of a random series.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "report.h"
#include "clock.h"
#include "openloop.h"
#include "peers.h"
#include "svg.h"

#define SCAN_TICKS 100
#define TS0 1700000000000000000ull
#define TICK_NS 1000000000ull

static uint64_t ts_of_tick(uint64_t tick) { return TS0 + tick * TICK_NS; }

/* Record i of a run over `series` series: series i % series at tick i / series. Loads
 * keep READ_TICKS ticks per series, so that a window scan has data to cover. */
#define READ_TICKS 200
#define MIXED_SERIES 1000
static size_t record_key(uint8_t *k, uint64_t i, uint64_t series)
{
    return engine_key(k, i % series, ts_of_tick(i / series));
}

static uint64_t rng(uint64_t *s)
{
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

static void load(const struct peer *e, void *t, uint64_t n)
{
    uint8_t k[64];
    for (uint64_t i = 0; i < n; i += 1000) {
        e->begin(t);
        for (uint64_t j = i; j < i + 1000 && j < n; j++)
            e->put(t, k, record_key(k, j, n / READ_TICKS), value_of(j), VALUE_BYTES);
        e->commit(t, 0);
    }
}

static void point_gets(const struct cfg *c, const struct peer *e, void *t, uint64_t n, uint64_t gets,
                       const char *phase)
{
    struct result res;
    char name[64];
    snprintf(name, sizeof name, "%s read-point %s", e->name, phase);
    result_init(&res, name);
    res.indent = e != &bench_sluice_engine;
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    uint8_t k[64], v[VALUE_BYTES + 16];
    struct meter m;
    meter_start(&m);
    for (uint64_t g = 0; g < gets; g++) {
        uint64_t i = rng(&seed) % n;
        size_t kl = record_key(k, i, n / READ_TICKS), vlen = 0;
        uint64_t a = clock_now_ns();
        int found = e->get(t, k, kl, v, sizeof v, &vlen);
        hist_record(&res.lat, clock_now_ns() - a);
        if (!found || vlen != VALUE_BYTES || memcmp(v, value_of(i), VALUE_BYTES)) {
            fprintf(stderr, "sluice-bench: %s: record %" PRIu64 " %s\n", res.name, i,
                    found ? "has a wrong value" : "not found");
            exit(2);
        }
    }
    meter_stop(&m, &res);
    res.records = gets;
    snprintf(res.note, sizeof res.note, "random gets of %" PRIu64 " records, values checked", n);
    report_row(c, &res);
}

static void window_scans(const struct cfg *c, const struct peer *e, void *t, uint64_t n, uint64_t scans,
                         const char *phase)
{
    struct result res;
    char name[64];
    snprintf(name, sizeof name, "%s read-scan %s", e->name, phase);
    result_init(&res, name);
    res.indent = e != &bench_sluice_engine;
    uint64_t seed = 0x2545f4914f6cdd1dull, ticks = READ_TICKS, total = 0;
    uint8_t lo[64], hi[64];
    struct meter m;
    meter_start(&m);
    for (uint64_t s = 0; s < scans; s++) {
        uint64_t series = rng(&seed) % (n / READ_TICKS), t0 = rng(&seed) % (ticks - SCAN_TICKS + 1);
        size_t kl = engine_key(lo, series, ts_of_tick(t0));
        engine_key(hi, series, ts_of_tick(t0 + SCAN_TICKS));
        uint64_t a = clock_now_ns();
        uint64_t got = e->scan(t, lo, hi, kl);
        hist_record(&res.lat, clock_now_ns() - a);
        if (got != SCAN_TICKS) {
            fprintf(stderr, "sluice-bench: %s: a scan of %d ticks read %" PRIu64 " records\n", res.name,
                    SCAN_TICKS, got);
            exit(2);
        }
        total += got;
    }
    meter_stop(&m, &res);
    res.records = total;
    snprintf(res.note, sizeof res.note, "%" PRIu64 " one-series scans of %d ticks; latency per scan", scans,
             SCAN_TICKS);
    report_row(c, &res);
}

static void reads_one(const struct cfg *c, const struct peer *e, uint64_t n, struct svg_plot *pl_get,
                      struct svg_plot *pl_scan)
{
    char dirname[64];
    snprintf(dirname, sizeof dirname, "read-%s", e->name);
    char *dir = fresh_dir(c, dirname);
    bench_sluice_manual_compaction = 1; /* hot: the records stay in the log until settle */
    void *store = e->store_open(dir);
    void *t = e->thread_open(store);
    uint64_t t0 = clock_now_ns();
    load(e, t, n);
    fprintf(stderr, "sluice-bench: %s loaded %" PRIu64 " records in %.1f s\n", e->name, n,
            (clock_now_ns() - t0) / 1e9);
    uint64_t gets = c->quick ? 50000 : 500000, scans = c->quick ? 2000 : 20000;
    const char *phases[] = {"hot", "cold"};
    for (int ph = 0; ph < 2; ph++) {
        if (ph == 1 && e->settle) {
            t0 = clock_now_ns();
            e->settle(store);
            fprintf(stderr, "sluice-bench: %s settled in %.1f s\n", e->name, (clock_now_ns() - t0) / 1e9);
        }
        if (selected(c, "read-point"))
            point_gets(c, e, t, n, gets, phases[ph]);
        if (selected(c, "read-scan"))
            window_scans(c, e, t, n, scans, phases[ph]);
        if (ph == 1) {
            char name[64];
            snprintf(name, sizeof name, "%s read-point cold", e->name);
            const struct result *r = report_find(name);
            if (r)
                svg_plot_add(pl_get, e->name, &r->lat);
            snprintf(name, sizeof name, "%s read-scan cold", e->name);
            if ((r = report_find(name)))
                svg_plot_add(pl_scan, e->name, &r->lat);
        }
    }
    e->thread_close(t);
    e->store_close(store);
    bench_sluice_manual_compaction = 0;
    free(dir);
}

void bench_reads(const struct cfg *c)
{
    uint64_t n = c->quick ? 200000 : 2000000;
    struct svg_plot pl_get, pl_scan;
    memset(&pl_get, 0, sizeof pl_get);
    memset(&pl_scan, 0, sizeof pl_scan);
    snprintf(pl_get.title, sizeof pl_get.title, "read-point (cold): latency by percentile");
    snprintf(pl_get.file, sizeof pl_get.file, "read-point.svg");
    snprintf(pl_scan.title, sizeof pl_scan.title, "read-scan of %d ticks (cold): latency per scan", SCAN_TICKS);
    snprintf(pl_scan.file, sizeof pl_scan.file, "read-scan.svg");
    reads_one(c, &bench_sluice_engine, n, &pl_get, &pl_scan);
    for (int i = 0; c->peers && bench_peers[i]; i++)
        reads_one(c, bench_peers[i], n, &pl_get, &pl_scan);
    svg_plot_finish(&pl_get, c->plots);
    svg_plot_finish(&pl_scan, c->plots);
}

/* ---- mixed ---- */

struct mixed_reader {
    const struct peer *e;
    void *store;
    _Atomic uint64_t *written; /* records the producer has completed */
    _Atomic int *stop;
    struct hist get, scan;
};

static void *mixed_read(void *arg)
{
    struct mixed_reader *r = arg;
    void *t = r->e->thread_open(r->store);
    uint64_t seed = 0x853c49e6748fea9bull;
    uint8_t k[64], hi[64], v[VALUE_BYTES + 16];
    for (uint64_t q = 0; !atomic_load(r->stop); q++) {
        uint64_t ticks = atomic_load(r->written) / MIXED_SERIES;
        if (ticks < SCAN_TICKS + 2)
            continue;
        uint64_t series = rng(&seed) % MIXED_SERIES, tick = ticks - 2;
        uint64_t a = clock_now_ns();
        if (q & 1) {
            size_t kl = engine_key(k, series, ts_of_tick(tick - SCAN_TICKS));
            engine_key(hi, series, ts_of_tick(tick));
            if (r->e->scan(t, k, hi, kl) != SCAN_TICKS) {
                fprintf(stderr, "sluice-bench: %s mixed: a scan of recent data came up short\n", r->e->name);
                exit(2);
            }
            hist_record(&r->scan, clock_now_ns() - a);
        } else {
            size_t vlen, kl = engine_key(k, series, ts_of_tick(tick));
            if (!r->e->get(t, k, kl, v, sizeof v, &vlen)) {
                fprintf(stderr, "sluice-bench: %s mixed: a record one tick old was not found\n", r->e->name);
                exit(2);
            }
            hist_record(&r->get, clock_now_ns() - a);
        }
    }
    r->e->thread_close(t);
    return NULL;
}

static void mixed_one(const struct cfg *c, const struct peer *e, double max_rate)
{
    char dirname[64];
    snprintf(dirname, sizeof dirname, "mixed-%s", e->name);
    char *dir = fresh_dir(c, dirname);
    bench_sluice_manual_compaction = 0;
    void *store = e->store_open(dir);
    void *t = e->thread_open(store);
    uint64_t rate = (uint64_t)(max_rate / 2), secs = c->quick ? 1 : 10, n = rate * secs;
    _Atomic uint64_t written = 0;
    _Atomic int stop = 0;
    struct mixed_reader rd = {.e = e, .store = store, .written = &written, .stop = &stop};
    hist_init(&rd.get);
    hist_init(&rd.scan);
    pthread_t th;
    pthread_create(&th, NULL, mixed_read, &rd);
    struct result res;
    char name[64];
    snprintf(name, sizeof name, "%s mixed put", e->name);
    result_init(&res, name);
    res.indent = e != &bench_sluice_engine;
    uint8_t k[64];
    struct meter m;
    meter_start(&m);
    uint64_t start = clock_now_ns() + 1000000;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t due = openloop_due(start, i, rate);
        openloop_wait(due);
        e->begin(t);
        e->put(t, k, record_key(k, i, MIXED_SERIES), value_of(i), VALUE_BYTES);
        e->commit(t, 0);
        hist_record(&res.lat, openloop_latency(due, clock_now_ns()));
        atomic_store_explicit(&written, i + 1, memory_order_release);
    }
    atomic_store(&stop, 1);
    pthread_join(th, NULL);
    meter_stop(&m, &res);
    res.records = n;
    res.user_bytes = (double)n * USER_BYTES;
    snprintf(res.note, sizeof res.note, "open loop at %.0fk/s (half of its %.0fk/s closed-loop maximum) with a reader",
             rate / 1e3, max_rate / 1e3);
    report_row(c, &res);
    struct result q = res;
    q.user_bytes = 0;
    q.lat = rd.get;
    q.records = rd.get.count;
    snprintf(q.name, sizeof q.name, "%s mixed get", e->name);
    snprintf(q.note, sizeof q.note, "gets of records one tick old, during the ingest");
    report_row(c, &q);
    q.lat = rd.scan;
    q.records = rd.scan.count * SCAN_TICKS;
    q.rate_override = q.records / res.secs;
    snprintf(q.name, sizeof q.name, "%s mixed scan", e->name);
    snprintf(q.note, sizeof q.note, "scans of the last %d ticks of a series; latency per scan", SCAN_TICKS);
    report_row(c, &q);
    e->thread_close(t);
    e->store_close(store);
    free(dir);
}

void bench_mixed(const struct cfg *c)
{
    mixed_one(c, &bench_sluice_engine, bench_end_to_end_rate(c));
    for (int i = 0; c->peers && bench_peers[i]; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s put-nosync", bench_peers[i]->name);
        const struct result *r = report_find(name);
        if (r)
            mixed_one(c, bench_peers[i], r->records / r->secs);
        else
            fprintf(stderr, "sluice-bench: mixed: %s skipped: its maximum (put-nosync, run with "
                            "put-memory) was not measured in this run\n", bench_peers[i]->name);
    }
}
