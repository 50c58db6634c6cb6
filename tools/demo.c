/*
 * `sluice demo`: a minimal end-to-end run of the write and read paths on a synthetic
 * sensor stream. Producers ingest with windowed durability (MEMORY puts, a DURABLE wait
 * every WINDOW records), one producer then shows single DURABLE puts; the demo reads
 * everything back (point gets, one-key and all-key scans), reopens the directory to show
 * recovery, and prints throughput and latency percentiles. In between it compacts
 * everything into the cold tier, so the reads are served by LMDB. Payloads are derived from
 * (sensor, seq), so every value read back is checked byte for byte.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "cli.h"
#include "hist.h"
#include "sluice.h"

#define SENSORS 10000
#define WINDOW 256

struct demo {
    sluice_db *db;
    uint64_t records_per_producer;
    int producers;
    uint64_t t0;
};

struct producer {
    struct demo *d;
    int id;
    int err;
    struct hist put, window;
};

static int sensor_key(char *buf, uint64_t sensor) { return sprintf(buf, "sensor-%05u", (unsigned)sensor); }

/* A compressible, realistic-looking reading, ~100 bytes, determined by its inputs. */
static int payload(char *buf, uint64_t sensor, uint64_t ts)
{
    unsigned v = (unsigned)((sensor * 2654435761u + ts / 1000) % 100000);
    return sprintf(buf, "{\"site\":\"plant-%02u\",\"unit\":\"degC\",\"value\":%u.%02u,\"status\":\"ok\",\"seq\":%" PRIu64 "}",
                   (unsigned)(sensor % 17), v / 100, v % 100, ts % 1000000);
}

/* Record i of producer p: sensor and timestamp are a pure function of (p, i). */
static void record_of(const struct demo *d, int p, uint64_t i, uint64_t *sensor, uint64_t *ts)
{
    uint64_t g = i * (uint64_t)d->producers + (uint64_t)p;
    *sensor = g % SENSORS;
    *ts = d->t0 + g * 1000; /* 1 µs apart, increasing with g */
}

static void *produce(void *arg)
{
    struct producer *pr = arg;
    struct demo *d = pr->d;
    char key[32], val[160];
    for (uint64_t i = 0; i < d->records_per_producer; i++) {
        uint64_t sensor, ts, lsn;
        record_of(d, pr->id, i, &sensor, &ts);
        int kl = sensor_key(key, sensor), vl = payload(val, sensor, ts);
        uint64_t a = clock_now_ns();
        int r = sluice_put(d->db, key, (size_t)kl, ts, val, (size_t)vl, SLUICE_ACK_MEMORY, &lsn);
        uint64_t b = clock_now_ns();
        if (r) {
            pr->err = r;
            return NULL;
        }
        hist_record(&pr->put, b - a);
        if ((i + 1) % WINDOW == 0 || i + 1 == d->records_per_producer) {
            r = sluice_wait(d->db, lsn, SLUICE_ACK_DURABLE, 60000);
            if (r) {
                pr->err = r;
                return NULL;
            }
            hist_record(&pr->window, clock_now_ns() - b);
        }
    }
    return NULL;
}

static void print_hist(const char *name, const struct hist *h)
{
    printf("  %-28s p50 %9.2f  p99 %9.2f  p99.9 %9.2f  max %9.2f  (µs, n=%" PRIu64 ")\n", name,
           hist_percentile(h, 50) / 1e3, hist_percentile(h, 99) / 1e3,
           hist_percentile(h, 99.9) / 1e3, h->max / 1e3, h->count);
}

static int fail(const char *what, int r)
{
    fprintf(stderr, "sluice demo: %s: %s\n", what, sluice_strerror(r));
    return r == SLUICE_ECORRUPT ? 1 : 2;
}

static int ingest(struct demo *d, double *secs)
{
    struct producer *prs = calloc((size_t)d->producers, sizeof *prs);
    pthread_t *th = calloc((size_t)d->producers, sizeof *th);
    if (!prs || !th)
        return SLUICE_ENOMEM;
    uint64_t a = clock_now_ns();
    for (int p = 0; p < d->producers; p++) {
        prs[p] = (struct producer){.d = d, .id = p};
        hist_init(&prs[p].put);
        hist_init(&prs[p].window);
        pthread_create(&th[p], NULL, produce, &prs[p]);
    }
    struct hist put, window;
    hist_init(&put);
    hist_init(&window);
    int err = 0;
    for (int p = 0; p < d->producers; p++) {
        pthread_join(th[p], NULL);
        hist_merge(&put, &prs[p].put);
        hist_merge(&window, &prs[p].window);
        if (prs[p].err)
            err = prs[p].err;
    }
    *secs = (clock_now_ns() - a) / 1e9;
    free(prs);
    free(th);
    if (err)
        return err;
    uint64_t total = d->records_per_producer * (uint64_t)d->producers;
    printf("ingest: %" PRIu64 " records from %d producers in %.2f s = %.0f records/s, all durable\n",
           total, d->producers, *secs, total / *secs);
    print_hist("put (MEMORY ack)", &put);
    print_hist("durable wait every 256 puts", &window);
    return 0;
}

static int durable_singles(struct demo *d)
{
    struct hist h;
    hist_init(&h);
    char key[32], val[160];
    for (int i = 0; i < 300; i++) {
        uint64_t ts = d->t0 - 1000000 - (uint64_t)i; /* before the stream: no clash */
        int kl = sensor_key(key, (uint64_t)i), vl = payload(val, (uint64_t)i, ts);
        uint64_t a = clock_now_ns();
        int r = sluice_put(d->db, key, (size_t)kl, ts, val, (size_t)vl, SLUICE_ACK_DURABLE, NULL);
        if (r)
            return r;
        hist_record(&h, clock_now_ns() - a);
    }
    print_hist("single put at DURABLE", &h);
    return 0;
}

static int read_back(struct demo *d)
{
    struct hist h;
    hist_init(&h);
    char key[32], want[160], got[256];
    uint64_t total = d->records_per_producer * (uint64_t)d->producers;
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t g = x % total, sensor = g % SENSORS, ts = d->t0 + g * 1000;
        int kl = sensor_key(key, sensor), wl = payload(want, sensor, ts);
        size_t vl;
        uint64_t a = clock_now_ns();
        int r = sluice_get(d->db, key, (size_t)kl, ts, got, sizeof got, &vl);
        hist_record(&h, clock_now_ns() - a);
        if (r)
            return r;
        if (vl != (size_t)wl || memcmp(got, want, vl) != 0)
            return SLUICE_ECORRUPT;
    }
    print_hist("point get (cold tier)", &h);

    sluice_iter *it;
    sluice_record rec;
    int kl = sensor_key(key, 42), r;
    uint64_t n = 0, a = clock_now_ns();
    if ((r = sluice_iter_open(d->db, key, (size_t)kl, 0, UINT64_MAX, &it)))
        return r;
    while ((r = sluice_iter_next(it, &rec)) == 0)
        n++;
    sluice_iter_close(it);
    if (r != SLUICE_END)
        return r;
    printf("  scan of %s: %" PRIu64 " records in %.1f µs\n", key, n, (clock_now_ns() - a) / 1e3);

    uint64_t from = d->t0 + total / 2 * 1000, to = from + 50000 * 1000ull;
    n = 0;
    a = clock_now_ns();
    if ((r = sluice_iter_open(d->db, NULL, 0, from, to, &it)))
        return r;
    uint64_t prev = 0;
    while ((r = sluice_iter_next(it, &rec)) == 0) {
        if (rec.ts < prev)
            break;
        prev = rec.ts;
        n++;
    }
    sluice_iter_close(it);
    if (r != SLUICE_END)
        return r == 0 ? SLUICE_ECORRUPT : r;
    double s = (clock_now_ns() - a) / 1e9;
    printf("  all-key scan of a 50 ms window: %" PRIu64 " records in %.2f ms (%.1f M records/s)\n",
           n, s * 1e3, n / s / 1e6);
    return 0;
}

int cli_demo(int argc, char **argv)
{
    struct demo d = {.producers = 4, .records_per_producer = 250000};
    const char *dir = NULL;
    char tmpl[4096];
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--records") && i + 1 < argc)
            d.records_per_producer = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--producers") && i + 1 < argc)
            d.producers = atoi(argv[++i]);
        else if (argv[i][0] != '-' && !dir)
            dir = argv[i];
        else {
            fprintf(stderr, "sluice demo: usage: sluice demo [DIR] [--records N] [--producers N]\n");
            return 2;
        }
    }
    if (d.producers < 1 || d.producers > 64 || d.records_per_producer == 0) {
        fprintf(stderr, "sluice demo: --producers must be 1..64 and --records positive\n");
        return 2;
    }
    if (d.records_per_producer > UINT64_MAX / 64 / 2)
        d.records_per_producer = UINT64_MAX / 64 / 2;
    d.records_per_producer = (d.records_per_producer + (uint64_t)d.producers - 1) / (uint64_t)d.producers;
    if (!dir) {
        const char *t = getenv("TMPDIR");
        snprintf(tmpl, sizeof tmpl, "%s/sluice-demo-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(tmpl)) {
            perror("sluice demo: mkdtemp");
            return 2;
        }
        dir = tmpl;
    }
    d.t0 = clock_realtime_ns();
    sluice_options o;
    sluice_options_init(&o);
    char err[512] = "";
    o.errbuf = err;
    o.errbuf_bytes = sizeof err;
    int r = sluice_open(dir, &o, &d.db);
    if (r) {
        fprintf(stderr, "sluice demo: %s: %s\n", dir, err[0] ? err : sluice_strerror(r));
        return 2;
    }
    struct sluice_stats st;
    if (sluice_stats(d.db, &st) == 0)
        printf("sluice demo in %s (io backend: %s)\n", dir,
               st.io_backend == SLUICE_IO_BACKEND_URING ? "io_uring" : "posix");
    double secs;
    if ((r = ingest(&d, &secs)) || (r = durable_singles(&d))) {
        sluice_close(d.db);
        return fail("run", r);
    }
    uint64_t c0 = clock_now_ns();
    if ((r = sluice_compact(d.db))) {
        sluice_close(d.db);
        return fail("compact", r);
    }
    double csecs = (clock_now_ns() - c0) / 1e9;
    if (sluice_stats(d.db, &st) == 0)
        printf("compaction: %" PRIu64 " records into the cold tier (LMDB, lz4 blocks) in %.0f ms"
               " (%.2f M records/s incl. what ran while ingesting); %" PRIu64 " blocks, %.2f MB"
               " = %.1f bytes per record; %" PRIu64 " log segments deleted\n",
               st.compacted_records, csecs * 1e3, st.compacted_records / (csecs > 0 ? csecs : 1) / 1e6,
               st.cold_blocks_written, st.cold_used_bytes / 1e6,
               st.compacted_records ? (double)st.cold_used_bytes / st.compacted_records : 0.0,
               st.segments_deleted);
    if ((r = read_back(&d))) {
        sluice_close(d.db);
        return fail("read back", r);
    }
    if (sluice_stats(d.db, &st) == 0)
        printf("log: %" PRIu64 " batches, %" PRIu64 " fdatasyncs (%.1f records each), %" PRIu64
               " segments, %.1f MB written\n",
               st.batches, st.fsyncs, st.fsyncs ? (double)st.puts / st.fsyncs : 0.0, st.segments,
               st.log_bytes / 1e6);
    if ((r = sluice_close(d.db)))
        return fail("close", r);

    uint64_t a = clock_now_ns();
    if ((r = sluice_open(dir, &o, &d.db))) {
        fprintf(stderr, "sluice demo: reopen: %s\n", err[0] ? err : sluice_strerror(r));
        return 2;
    }
    double reopen = (clock_now_ns() - a) / 1e9;
    sluice_iter *it;
    sluice_record rec;
    uint64_t n = 0;
    if ((r = sluice_iter_open(d.db, NULL, 0, 0, UINT64_MAX, &it)) == 0) {
        while ((r = sluice_iter_next(it, &rec)) == 0)
            n++;
        sluice_iter_close(it);
    }
    sluice_close(d.db);
    if (r != SLUICE_END)
        return fail("scan after reopen", r);
    uint64_t want = d.records_per_producer * (uint64_t)d.producers + 300;
    printf("reopen: recovered the log in %.1f ms; %" PRIu64 " of %" PRIu64 " records present\n",
           reopen * 1e3, n, want);
    if (n != want)
        return 1;
    printf("\ninspect what it wrote:\n"
           "  sluice info %s                         every tier at a glance\n"
           "  sluice dump log %s --limit 20          log records\n"
           "  sluice dump cold %s --key sensor-00042 --records\n"
           "  sluice get %s sensor-00042             the newest value of a key\n"
           "  sluice scan %s --key sensor-00042 --from 0 --to 18446744073709551615\n"
           "  sluice verify %s                       every checksum\n",
           dir, dir, dir, dir, dir, dir);
    return 0;
}
