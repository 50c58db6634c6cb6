/*
 * sluice-cold-bench: the cold tier against its peers, on the same records in the same run.
 *
 * Records: --series keys "sensor-%05u" (default 10,000), one record per key per tick
 * (ts = 1 s apart), --records in all (default 10,000,000), 100-byte values, either
 * incompressible (random bytes) or a compressible sensor payload (a JSON-ish reading
 * whose figures drift slowly from tick to tick, as real sensors' do).
 *
 * sluice, for each payload:
 *   load-idle      one producer, MEMORY acks paced at --rate records/s, compaction off:
 *                  the put latency with an idle compactor
 *   compact        sluice_compact of that whole backlog: records/s on the compactor's core
 *   load-compact   the same paced load with automatic compaction running: the put
 *                  latency while the compactor works; then the lag to all-in-cold
 *   end-to-end     an unpaced load with automatic compaction, timed until sluice_compact
 *                  returns: ingest plus compaction sustained
 *   reads          on the compacted store: point gets (random key and tick), one-series
 *                  window scans (--scan-ticks ticks), all-series window scans, bytes/record
 * Peers (one record per key, be64(ts) || key, as the issue prescribes):
 *   LMDB           loaded in transactions of 10,000; gets in a renewed read transaction
 *   RocksDB        lz4, WAL on without sync, fully compacted after the load
 * and the same reads. A one-series scan in the peers' layout walks every series of the
 * window and keeps one: that is the cost of their key order, reported as such.
 *
 *   sluice-cold-bench [--records N] [--series S] [--rate R] [--payload random|sensor|both]
 *                     [--dir DIR] [--no-peers] [--reads-only] [--markdown]
 * --reads-only: sluice's end-to-end load and the reads only (profiling the reads)
 */
#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef SLUICE_HAVE_ROCKSDB
#include <rocksdb/c.h>
#endif

#include "clock.h"
#include "common.h"
#include "hist.h"
#include "machine.h"
#include "sluice.h"

#define VALUE_BYTES 100
#define KEY_BYTES 12 /* "sensor-%05u" */
#define TICK_NS 1000000000ull
#define TS0 1700000000000000000ull

struct cold_cfg {
    uint64_t records, series, rate, gets, scans;
    uint64_t scan_ticks;
    const char *dir;
    int peers, markdown, reads_only;
};

/* ---- the records ---- */

struct gen {
    uint64_t series;
    int sensor;
    char (*keys)[KEY_BYTES + 1];
    uint8_t *templates; /* sensor: one 100-byte reading per series, patched per tick */
    uint8_t *pool;      /* random: values are cut from here */
};
#define POOL (4u << 20)

static void gen_init(struct gen *g, uint64_t series, int sensor)
{
    g->series = series;
    g->sensor = sensor;
    g->keys = malloc(series * sizeof *g->keys);
    g->templates = malloc(series * VALUE_BYTES);
    g->pool = malloc(POOL);
    for (uint64_t s = 0; s < series; s++) {
        snprintf(g->keys[s], sizeof g->keys[s], "sensor-%05u", (unsigned)s);
        char t[VALUE_BYTES + 1];
        /* the figures at offsets 8 (temp) and 22 (humidity) are rewritten every tick */
        int n = snprintf(t, sizeof t,
                         "{\"t\":\"00.00\",\"rh\":\"00.0\",\"p\":%u.%u,\"bat\":%u,\"fw\":\"2.4.1\","
                         "\"loc\":\"b%u/f%u\",\"st\":\"ok\"}",
                         990 + (unsigned)(s % 40), (unsigned)(s % 10), 60 + (unsigned)(s % 40),
                         (unsigned)(s % 12), (unsigned)(s % 5));
        memset(t + n, ' ', VALUE_BYTES - (size_t)n);
        memcpy(g->templates + s * VALUE_BYTES, t, VALUE_BYTES);
    }
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < POOL; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        g->pool[i] = (uint8_t)x;
    }
}

static void gen_free(struct gen *g)
{
    free(g->keys);
    free(g->templates);
    free(g->pool);
}

static void put2(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)('0' + v / 10 % 10);
    p[1] = (uint8_t)('0' + v % 10);
}

/* The value of (series, tick) into out[VALUE_BYTES]. */
static void gen_value(const struct gen *g, uint64_t s, uint64_t tick, uint8_t *out)
{
    if (!g->sensor) {
        memcpy(out, g->pool + ((s * 7919 + tick * 104729) % (POOL - VALUE_BYTES)), VALUE_BYTES);
        return;
    }
    memcpy(out, g->templates + s * VALUE_BYTES, VALUE_BYTES);
    unsigned temp = 1800 + (unsigned)((s * 37 + tick / 8) % 700); /* 18.00 .. 24.99 */
    unsigned rh = 350 + (unsigned)((s * 11 + tick / 16) % 300);   /* 35.0 .. 64.9 */
    put2(out + 6, temp / 100);
    put2(out + 9, temp);
    put2(out + 18, rh / 10);
    out[21] = (uint8_t)('0' + rh % 10);
}

static uint64_t ts_of(uint64_t tick) { return TS0 + tick * TICK_NS; }

static void be64(uint8_t *k, uint64_t ts)
{
    for (int i = 7; i >= 0; i--, ts >>= 8)
        k[i] = (uint8_t)ts;
}

/* The peers' key: be64(ts) || key. */
static void peer_key(uint8_t *k, uint64_t ts, const char *key)
{
    be64(k, ts);
    memcpy(k + 8, key, KEY_BYTES);
}

static uint64_t rng(uint64_t *s)
{
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

/* ---- reporting ---- */

static const struct cold_cfg *g_cfg;
static volatile uint64_t sink; /* keeps the scans' value reads from being optimised away */

/* figure: a rate per second, or (bytes per record) a size */
static void row(const char *engine, const char *payload, const char *what, uint64_t n,
                double figure, const struct hist *h, const char *note)
{
    char lat[160] = "| | | | |";
    if (h && h->count)
        snprintf(lat, sizeof lat, "| %.2f | %.2f | %.2f | %.2f | %.2f |",
                 hist_percentile(h, 50) / 1e3, hist_percentile(h, 99) / 1e3,
                 hist_percentile(h, 99.9) / 1e3, hist_percentile(h, 99.99) / 1e3, h->max / 1e3);
    if (g_cfg->markdown)
        printf("| %s | %s | %s | %" PRIu64 " | %.1f %s %s |\n", engine, payload, what, n, figure, lat,
               note ? note : "");
    else
        printf("%-8s %-7s %-31s %10" PRIu64 " %12.1f %s %s\n", engine, payload, what, n, figure,
               lat, note ? note : "");
    fflush(stdout);
}


static void rm_rf(const char *p)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
    if (system(cmd) != 0)
        die("rm", -EIO);
}

/* Bytes the files under dir occupy on disk. */
static uint64_t du_bytes(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "du -s -B1 '%s'", dir);
    FILE *f = popen(cmd, "r");
    unsigned long long b = 0;
    if (!f || fscanf(f, "%llu", &b) != 1)
        b = 0;
    if (f)
        pclose(f);
    return b;
}

/* ---- sluice ---- */

static sluice_db *sl_open(const char *dir, int manual)
{
    sluice_options o;
    sluice_options_init(&o);
    o.manual_compaction = manual;
    o.default_ack = SLUICE_ACK_MEMORY;
    sluice_db *db;
    int r = sluice_open(dir, &o, &db);
    if (r)
        die("sluice_open", r);
    return db;
}

/* One producer puts every record, ticks in order; rate 0 = as fast as it goes. */
static double sl_load(sluice_db *db, const struct gen *g, uint64_t n, uint64_t rate, struct hist *h)
{
    uint8_t val[VALUE_BYTES];
    uint64_t t0 = clock_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        uint64_t s = i % g->series, tick = i / g->series;
        if (rate) {
            uint64_t due = t0 + i * 1000000000ull / rate;
            while (clock_now_ns() < due)
                ;
        }
        gen_value(g, s, tick, val);
        uint64_t a = clock_now_ns();
        int r = sluice_put(db, g->keys[s], KEY_BYTES, ts_of(tick), val, VALUE_BYTES,
                           SLUICE_ACK_MEMORY, NULL);
        if (h)
            hist_record(h, clock_now_ns() - a);
        if (r)
            die("sluice_put", r);
    }
    return (clock_now_ns() - t0) / 1e9;
}

struct read_api {
    void *ctx;
    int (*get)(void *ctx, const char *key, uint64_t ts, uint8_t *out, size_t *vlen);
    /* records of [t0, t1) for key (NULL: all keys) */
    uint64_t (*scan)(void *ctx, const char *key, uint64_t t0, uint64_t t1);
};

static int sl_get(void *ctx, const char *key, uint64_t ts, uint8_t *out, size_t *vlen)
{
    return sluice_get(ctx, key, KEY_BYTES, ts, out, VALUE_BYTES, vlen);
}

static uint64_t sl_scan(void *ctx, const char *key, uint64_t t0, uint64_t t1)
{
    sluice_iter *it;
    int r = sluice_iter_open(ctx, key, key ? KEY_BYTES : 0, t0, t1, &it);
    if (r)
        die("sluice_iter_open", r);
    sluice_record rec;
    uint64_t n = 0, sum = 0;
    while ((r = sluice_iter_next(it, &rec)) == 0) {
        n++;
        sum += ((const uint8_t *)rec.val)[rec.vlen - 1];
    }
    if (r != SLUICE_END)
        die("sluice_iter_next", r);
    sluice_iter_close(it);
    sink += sum;
    return n;
}

/* The same reads against any engine; the expected value is checked on every get. */
static void run_reads(const char *engine, const char *payload, const struct gen *g,
                      const struct read_api *api, uint64_t ticks)
{
    const struct cold_cfg *c = g_cfg;
    struct hist h;
    hist_init(&h);
    uint8_t out[VALUE_BYTES], want[VALUE_BYTES];
    uint64_t seed = 0x51ce51ce51ceull;
    uint64_t t0 = clock_now_ns();
    for (uint64_t i = 0; i < c->gets; i++) {
        uint64_t s = rng(&seed) % g->series, tick = rng(&seed) % ticks;
        size_t vlen = 0;
        uint64_t a = clock_now_ns();
        int r = api->get(api->ctx, g->keys[s], ts_of(tick), out, &vlen);
        hist_record(&h, clock_now_ns() - a);
        gen_value(g, s, tick, want);
        if (r || vlen != VALUE_BYTES || memcmp(out, want, VALUE_BYTES))
            die("get returned a wrong value", r ? r : -EIO);
    }
    row(engine, payload, "point get (random)", c->gets, c->gets / ((clock_now_ns() - t0) / 1e9), &h, NULL);

    uint64_t w = c->scan_ticks < ticks ? c->scan_ticks : ticks;
    hist_init(&h);
    uint64_t got = 0;
    t0 = clock_now_ns();
    /* at most ~10 s: in the peers' layout one scan walks every series of the window */
    uint64_t scans = 0;
    for (; scans < c->scans && (scans < 20 || clock_now_ns() - t0 < 10000000000ull); scans++) {
        uint64_t s = rng(&seed) % g->series, from = rng(&seed) % (ticks - w + 1);
        uint64_t a = clock_now_ns();
        uint64_t n = api->scan(api->ctx, g->keys[s], ts_of(from), ts_of(from + w));
        hist_record(&h, clock_now_ns() - a);
        if (n != w)
            die("one-series scan returned a wrong count", -EIO);
        got += n;
    }
    char note[96];
    snprintf(note, sizeof note, "%" PRIu64 " scans of %" PRIu64 " ticks; latency per scan", scans, w);
    row(engine, payload, "one-series window scan", got, got / ((clock_now_ns() - t0) / 1e9), &h, note);

    hist_init(&h);
    got = 0;
    uint64_t all_scans = 5;
    t0 = clock_now_ns();
    for (uint64_t i = 0; i < all_scans; i++) {
        uint64_t from = rng(&seed) % (ticks - w + 1);
        uint64_t a = clock_now_ns();
        uint64_t n = api->scan(api->ctx, NULL, ts_of(from), ts_of(from + w));
        hist_record(&h, clock_now_ns() - a);
        if (n != w * g->series)
            die("all-series scan returned a wrong count", -EIO);
        got += n;
    }
    snprintf(note, sizeof note, "%" PRIu64 " ticks x %" PRIu64 " series per scan; latency per scan", w,
             g->series);
    row(engine, payload, "all-series window scan", got, got / ((clock_now_ns() - t0) / 1e9), &h, note);
}

/* The latest record of every series, each checked to be the value put at `tick`: one
 * sluice_series pass, or one sluice_get_latest per key (what a dashboard did before). */
static uint64_t sl_latest_pass(sluice_db *db, const struct gen *g, uint64_t tick, int one_call)
{
    uint8_t out[VALUE_BYTES], want[VALUE_BYTES];
    uint64_t n = 0;
    if (one_call) {
        sluice_series *s;
        sluice_series_info in;
        int r = sluice_series_open(db, NULL, 0, SLUICE_SERIES_LATEST, &s);
        if (r)
            die("sluice_series_open", r);
        while ((r = sluice_series_next(s, &in)) == 0) {
            char digits[8] = {0}; /* "sensor-%05u"; the key is not NUL-terminated */
            memcpy(digits, (const char *)in.key + 7, in.klen == KEY_BYTES ? 5 : 0);
            unsigned k = (unsigned)strtoul(digits, NULL, 10);
            gen_value(g, k, tick, want);
            if (in.latest_ts != ts_of(tick) || in.latest_vlen != VALUE_BYTES ||
                memcmp(in.latest_val, want, VALUE_BYTES))
                die("sluice_series_next returned a wrong latest value", -EIO);
            n++;
        }
        if (r != SLUICE_END)
            die("sluice_series_next", r);
        sluice_series_close(s);
        return n;
    }
    for (uint64_t k = 0; k < g->series; k++) {
        uint64_t ts;
        size_t vlen;
        int r = sluice_get_latest(db, g->keys[k], KEY_BYTES, &ts, out, sizeof out, &vlen);
        gen_value(g, k, tick, want);
        if (r || ts != ts_of(tick) || vlen != VALUE_BYTES || memcmp(out, want, VALUE_BYTES))
            die("sluice_get_latest returned a wrong value", r ? r : -EIO);
        n++;
    }
    return n;
}

static uint64_t sl_catalogue_pass(sluice_db *db, const struct gen *g, uint64_t ticks)
{
    sluice_series *s;
    sluice_series_info in;
    int r = sluice_series_open(db, NULL, 0, SLUICE_SERIES_STATS, &s);
    if (r)
        die("sluice_series_open", r);
    uint64_t n = 0;
    while ((r = sluice_series_next(s, &in)) == 0) {
        if (in.records != ticks || in.first_ts != ts_of(0) || in.last_ts != ts_of(ticks - 1))
            die("the catalogue has a wrong count or span", -EIO);
        n++;
    }
    if (r != SLUICE_END || n != g->series)
        die("sluice_series_next", r == SLUICE_END ? -EIO : r);
    sluice_series_close(s);
    return n;
}

/* Dashboard reads: the latest of every series by one pass and by a get per key, with
 * every series in the cold tier, then with its newest tick in the log tier; and the
 * catalogue of keys with counts. */
static void run_dashboard_reads(sluice_db *db, const struct gen *g, const char *payload, uint64_t ticks)
{
    struct hist h;
    char note[160];
    static const char *const how[2] = {"latest of every series: get_latest per key",
                                       "latest of every series: sluice_series"};
    for (int hot = 0; hot < 2; hot++) {
        if (hot) { /* one more tick of every series, left in the log tier */
            uint8_t val[VALUE_BYTES];
            for (uint64_t k = 0; k < g->series; k++) {
                gen_value(g, k, ticks, val);
                int r = sluice_put(db, g->keys[k], KEY_BYTES, ts_of(ticks), val, VALUE_BYTES,
                                   SLUICE_ACK_MEMORY, NULL);
                if (r)
                    die("sluice_put", r);
            }
        }
        double rate[2];
        if (!hot) { /* the first call in the process builds the cold tier's last-value cache */
            uint64_t a = clock_now_ns();
            uint64_t got = sl_latest_pass(db, g, ticks - 1, 1);
            snprintf(note, sizeof note, "the process's first call: builds the last-value cache (one decode per series)");
            row("sluice", payload, "latest of every series: first call", got,
                got / ((clock_now_ns() - a) / 1e9), NULL, note);
        }
        for (int one = 0; one < 2; one++) {
            hist_init(&h);
            uint64_t got = 0, passes = 5;
            uint64_t t0 = clock_now_ns();
            for (uint64_t i = 0; i < passes; i++) {
                uint64_t a = clock_now_ns();
                got += sl_latest_pass(db, g, ticks - 1 + (uint64_t)hot, one);
                hist_record(&h, clock_now_ns() - a);
            }
            rate[one] = got / ((clock_now_ns() - t0) / 1e9);
            if (one)
                snprintf(note, sizeof note, "%s; %.1fx the get per key; latency per pass of %" PRIu64 " series",
                         hot ? "newest tick in the log" : "all in the cold tier", rate[1] / rate[0], g->series);
            else
                snprintf(note, sizeof note, "%s; latency per pass of %" PRIu64 " series",
                         hot ? "newest tick in the log" : "all in the cold tier", g->series);
            row("sluice", payload, how[one], got, rate[one], &h, note);
        }
    }
    hist_init(&h);
    uint64_t got = 0, t0 = clock_now_ns();
    for (int i = 0; i < 5; i++) {
        uint64_t a = clock_now_ns();
        got += sl_catalogue_pass(db, g, ticks + 1);
        hist_record(&h, clock_now_ns() - a);
    }
    snprintf(note, sizeof note, "records, first and last ts per key; latency per pass of %" PRIu64 " series",
             g->series);
    row("sluice", payload, "catalogue of series", got, got / ((clock_now_ns() - t0) / 1e9), &h, note);
}

static void bench_sluice(const struct gen *g, const char *payload)
{
    const struct cold_cfg *c = g_cfg;
    char dir[4096];
    uint64_t n = c->records, ticks = n / g->series;
    struct hist h;
    char note[200];

    snprintf(dir, sizeof dir, "%s/sluice-%s", c->dir, payload);
    rm_rf(dir);
    sluice_db *db;
    int r;
    struct sluice_stats st;
    uint64_t a;
    if (c->reads_only)
        goto end_to_end;
    db = sl_open(dir, 1);
    hist_init(&h);
    double secs = sl_load(db, g, n, c->rate, &h);
    snprintf(note, sizeof note, "paced at %" PRIu64 "/s, compaction idle", c->rate);
    row("sluice", payload, "MEMORY put, compaction idle", n, n / secs, &h, note);
    if (sluice_flush(db))
        die("flush", -EIO);
    a = clock_now_ns();
    if ((r = sluice_compact(db)))
        die("sluice_compact", r);
    secs = (clock_now_ns() - a) / 1e9;
    if ((r = sluice_stats(db, &st)))
        die("sluice_stats", r);
    snprintf(note, sizeof note, "whole backlog, one compactor thread; %" PRIu64 " LMDB txns", st.compaction_rounds);
    row("sluice", payload, "compaction", st.compacted_records, st.compacted_records / secs, NULL, note);
    sluice_close(db);
    rm_rf(dir);

    db = sl_open(dir, 0);
    hist_init(&h);
    secs = sl_load(db, g, n, c->rate, &h);
    a = clock_now_ns();
    if ((r = sluice_compact(db)))
        die("sluice_compact", r);
    snprintf(note, sizeof note, "paced at %" PRIu64 "/s, compactor running; %.2f s to all-in-cold after the last put",
             c->rate, (clock_now_ns() - a) / 1e9);
    row("sluice", payload, "MEMORY put, compaction running", n, n / secs, &h, note);
    sluice_close(db);
    rm_rf(dir);

end_to_end:
    db = sl_open(dir, 0);
    a = clock_now_ns();
    sl_load(db, g, n, 0, NULL);
    if ((r = sluice_compact(db)))
        die("sluice_compact", r);
    secs = (clock_now_ns() - a) / 1e9;
    row("sluice", payload, "end-to-end ingest+compaction", n, n / secs, NULL,
        "unpaced producer; until sluice_compact returned");
    sluice_close(db);

    db = sl_open(dir, 1); /* reopened: the reads start from the files */
    if ((r = sluice_stats(db, &st)))
        die("sluice_stats", r);
    uint64_t bytes = du_bytes(dir);
    snprintf(note, sizeof note, "%" PRIu64 " bytes under the directory (LMDB in use: %" PRIu64 ")", bytes,
             st.cold_used_bytes);
    row("sluice", payload, "bytes per record", n, (double)bytes / n, NULL, note);
    struct read_api api = {db, sl_get, sl_scan};
    run_reads("sluice", payload, g, &api, ticks);
    run_dashboard_reads(db, g, payload, ticks);
    sluice_close(db);
    rm_rf(dir);
}

/* ---- LMDB, one record per key ---- */

struct lm {
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *rd;
};

static void lm_check(const char *what, int rc)
{
    if (rc) {
        fprintf(stderr, "sluice-cold-bench: lmdb %s: %s\n", what, mdb_strerror(rc));
        exit(2);
    }
}

static int lm_get(void *ctx, const char *key, uint64_t ts, uint8_t *out, size_t *vlen)
{
    struct lm *l = ctx;
    uint8_t k[8 + KEY_BYTES];
    peer_key(k, ts, key);
    lm_check("renew", mdb_txn_renew(l->rd));
    MDB_val mk = {sizeof k, k}, mv;
    int rc = mdb_get(l->rd, l->dbi, &mk, &mv);
    if (rc == 0) {
        *vlen = mv.mv_size;
        memcpy(out, mv.mv_data, mv.mv_size < VALUE_BYTES ? mv.mv_size : VALUE_BYTES);
    }
    mdb_txn_reset(l->rd);
    return rc ? -1 : 0;
}

static uint64_t lm_scan(void *ctx, const char *key, uint64_t t0, uint64_t t1)
{
    struct lm *l = ctx;
    uint8_t k[8], end[8];
    be64(k, t0);
    be64(end, t1);
    lm_check("renew", mdb_txn_renew(l->rd));
    MDB_cursor *cur;
    lm_check("cursor", mdb_cursor_open(l->rd, l->dbi, &cur));
    MDB_val mk = {sizeof k, k}, mv;
    uint64_t n = 0, sum = 0;
    for (int rc = mdb_cursor_get(cur, &mk, &mv, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &mk, &mv, MDB_NEXT)) {
        if (memcmp(mk.mv_data, end, 8) >= 0)
            break;
        if (key && memcmp((const uint8_t *)mk.mv_data + 8, key, KEY_BYTES))
            continue;
        n++;
        sum += ((const uint8_t *)mv.mv_data)[mv.mv_size - 1];
    }
    mdb_cursor_close(cur);
    mdb_txn_reset(l->rd);
    sink += sum;
    return n;
}

static void bench_lmdb(const struct gen *g, const char *payload)
{
    const struct cold_cfg *c = g_cfg;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/lmdb-%s", c->dir, payload);
    rm_rf(dir);
    mkdir(dir, 0755);
    struct lm l;
    lm_check("create", mdb_env_create(&l.env));
    lm_check("mapsize", mdb_env_set_mapsize(l.env, 64ull << 30));
    lm_check("open", mdb_env_open(l.env, dir, MDB_NOTLS, 0644));
    MDB_txn *txn;
    lm_check("begin", mdb_txn_begin(l.env, NULL, 0, &txn));
    lm_check("dbi", mdb_dbi_open(txn, NULL, 0, &l.dbi));
    uint8_t k[8 + KEY_BYTES], val[VALUE_BYTES];
    uint64_t t0 = clock_now_ns();
    for (uint64_t i = 0; i < c->records; i++) {
        uint64_t s = i % g->series, tick = i / g->series;
        if (i && i % 10000 == 0) {
            lm_check("commit", mdb_txn_commit(txn));
            lm_check("begin", mdb_txn_begin(l.env, NULL, 0, &txn));
        }
        peer_key(k, ts_of(tick), g->keys[s]);
        gen_value(g, s, tick, val);
        MDB_val mk = {sizeof k, k}, mv = {VALUE_BYTES, val};
        lm_check("put", mdb_put(txn, l.dbi, &mk, &mv, 0));
    }
    lm_check("commit", mdb_txn_commit(txn));
    double secs = (clock_now_ns() - t0) / 1e9;
    row("lmdb", payload, "load (txns of 10,000, synced)", c->records, c->records / secs, NULL, NULL);
    uint64_t bytes = du_bytes(dir);
    char note[96];
    snprintf(note, sizeof note, "%" PRIu64 " bytes under the directory", bytes);
    row("lmdb", payload, "bytes per record", c->records, (double)bytes / c->records, NULL, note);
    lm_check("rd", mdb_txn_begin(l.env, NULL, MDB_RDONLY, &l.rd));
    mdb_txn_reset(l.rd);
    struct read_api api = {&l, lm_get, lm_scan};
    run_reads("lmdb", payload, g, &api, c->records / g->series);
    mdb_txn_abort(l.rd);
    mdb_env_close(l.env);
    rm_rf(dir);
}

/* ---- RocksDB, one record per key ---- */
#ifdef SLUICE_HAVE_ROCKSDB
struct rk {
    rocksdb_t *db;
    rocksdb_readoptions_t *ro;
};

static void rk_check(const char *what, char *err)
{
    if (err) {
        fprintf(stderr, "sluice-cold-bench: rocksdb %s: %s\n", what, err);
        exit(2);
    }
}

static int rk_get(void *ctx, const char *key, uint64_t ts, uint8_t *out, size_t *vlen)
{
    struct rk *r = ctx;
    uint8_t k[8 + KEY_BYTES];
    peer_key(k, ts, key);
    char *err = NULL;
    rocksdb_pinnableslice_t *v = rocksdb_get_pinned(r->db, r->ro, (const char *)k, sizeof k, &err);
    rk_check("get", err);
    if (!v)
        return -1;
    const char *p = rocksdb_pinnableslice_value(v, vlen);
    memcpy(out, p, *vlen < VALUE_BYTES ? *vlen : VALUE_BYTES);
    rocksdb_pinnableslice_destroy(v);
    return 0;
}

static uint64_t rk_scan(void *ctx, const char *key, uint64_t t0, uint64_t t1)
{
    struct rk *r = ctx;
    uint8_t k[8], end[8];
    be64(k, t0);
    be64(end, t1);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)end, 8);
    rocksdb_iterator_t *it = rocksdb_create_iterator(r->db, ro);
    uint64_t n = 0, sum = 0;
    for (rocksdb_iter_seek(it, (const char *)k, sizeof k); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *kk = rocksdb_iter_key(it, &kl);
        const char *vv = rocksdb_iter_value(it, &vl);
        if (key && (kl != 8 + KEY_BYTES || memcmp(kk + 8, key, KEY_BYTES)))
            continue;
        n++;
        sum += (uint8_t)vv[vl - 1];
    }
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    rk_check("iterate", err);
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    sink += sum;
    return n;
}

static void bench_rocksdb(const struct gen *g, const char *payload)
{
    const struct cold_cfg *c = g_cfg;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/rocksdb-%s", c->dir, payload);
    rm_rf(dir);
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(o, 1);
    rocksdb_options_set_compression(o, rocksdb_lz4_compression);
    rocksdb_options_increase_parallelism(o, 2);
    char *err = NULL;
    struct rk r;
    r.db = rocksdb_open(o, dir, &err);
    rk_check("open", err);
    r.ro = rocksdb_readoptions_create();
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_writebatch_t *b = rocksdb_writebatch_create();
    uint8_t k[8 + KEY_BYTES], val[VALUE_BYTES];
    uint64_t t0 = clock_now_ns();
    for (uint64_t i = 0; i < c->records; i++) {
        uint64_t s = i % g->series, tick = i / g->series;
        peer_key(k, ts_of(tick), g->keys[s]);
        gen_value(g, s, tick, val);
        rocksdb_writebatch_put(b, (const char *)k, sizeof k, (const char *)val, VALUE_BYTES);
        if ((i + 1) % 1000 == 0 || i + 1 == c->records) {
            rocksdb_write(r.db, wo, b, &err);
            rk_check("write", err);
            rocksdb_writebatch_clear(b);
        }
    }
    double load = (clock_now_ns() - t0) / 1e9;
    row("rocksdb", payload, "load (batches of 1,000, WAL)", c->records, c->records / load, NULL, NULL);
    t0 = clock_now_ns();
    rocksdb_compact_range(r.db, NULL, 0, NULL, 0);
    double comp = (clock_now_ns() - t0) / 1e9;
    row("rocksdb", payload, "full compaction (CompactRange)", c->records, c->records / comp, NULL,
        "after the load");
    uint64_t bytes = du_bytes(dir);
    char note[96];
    snprintf(note, sizeof note, "%" PRIu64 " bytes under the directory", bytes);
    row("rocksdb", payload, "bytes per record", c->records, (double)bytes / c->records, NULL, note);
    struct read_api api = {&r, rk_get, rk_scan};
    run_reads("rocksdb", payload, g, &api, c->records / g->series);
    rocksdb_writebatch_destroy(b);
    rocksdb_writeoptions_destroy(wo);
    rocksdb_readoptions_destroy(r.ro);
    rocksdb_close(r.db);
    rocksdb_options_destroy(o);
    rm_rf(dir);
}
#endif

static void machine(const struct cold_cfg *c)
{
    char m[1024];
    bench_machine(c->dir, m, sizeof m);
    printf("%smachine: %s; %" PRIu64 " records, %" PRIu64 " series\n", c->markdown ? "" : "# ", m,
           c->records, c->series);
}

static uint64_t num(const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || end == s) {
        fprintf(stderr, "sluice-cold-bench: not a number: %s\n", s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    struct cold_cfg c = {.records = 10000000, .series = 10000, .rate = 1000000, .gets = 1000000,
                    .scans = 2000, .scan_ticks = 100, .peers = 1};
    const char *payloads = "both";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--records") && i + 1 < argc)
            c.records = num(argv[++i]);
        else if (!strcmp(argv[i], "--series") && i + 1 < argc)
            c.series = num(argv[++i]);
        else if (!strcmp(argv[i], "--rate") && i + 1 < argc)
            c.rate = num(argv[++i]);
        else if (!strcmp(argv[i], "--gets") && i + 1 < argc)
            c.gets = num(argv[++i]);
        else if (!strcmp(argv[i], "--scans") && i + 1 < argc)
            c.scans = num(argv[++i]);
        else if (!strcmp(argv[i], "--scan-ticks") && i + 1 < argc)
            c.scan_ticks = num(argv[++i]);
        else if (!strcmp(argv[i], "--payload") && i + 1 < argc)
            payloads = argv[++i];
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            c.dir = argv[++i];
        else if (!strcmp(argv[i], "--no-peers"))
            c.peers = 0;
        else if (!strcmp(argv[i], "--reads-only"))
            c.reads_only = 1;
        else if (!strcmp(argv[i], "--markdown"))
            c.markdown = 1;
        else {
            fprintf(stderr, "usage: sluice-cold-bench [--records N] [--series S] [--rate R] [--gets N]\n"
                            "       [--scans N] [--scan-ticks T] [--payload random|sensor|both]\n"
                            "       [--dir DIR] [--no-peers] [--reads-only] [--markdown]\n");
            return 2;
        }
    }
    if (!c.series || c.records < c.series || c.records % c.series) {
        fprintf(stderr, "sluice-cold-bench: --records must be a non-zero multiple of --series\n");
        return 2;
    }
    char tmpl[] = "/var/tmp/sluice-cold-bench-XXXXXX";
    if (!c.dir && !(c.dir = mkdtemp(tmpl))) {
        perror("mkdtemp");
        return 2;
    }
    mkdir(c.dir, 0755);
    g_cfg = &c;
    machine(&c);
    if (c.markdown)
        printf("\n| engine | payload | measure | records | per second (bytes: per record) | p50 µs | p99 µs | p99.9 µs | p99.99 µs | max µs | notes |\n"
               "|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int sensor = 0; sensor < 2; sensor++) {
        const char *name = sensor ? "sensor" : "random";
        if (strcmp(payloads, "both") && strcmp(payloads, name))
            continue;
        struct gen g;
        gen_init(&g, c.series, sensor);
        bench_sluice(&g, name);
        if (c.peers) {
            bench_lmdb(&g, name);
#ifdef SLUICE_HAVE_ROCKSDB
            bench_rocksdb(&g, name);
#endif
        }
        gen_free(&g);
    }
    return 0;
}
