/*
 * `sluice demo`: a real-time sensor stream into a fresh directory, end to end.
 *
 * --sensors sensors (default 10,000) report at Zipf-skewed rates (a few are chatty, most
 * are quiet), with timestamps from the wall clock plus up to ±5 ms of jitter, and 1 % of
 * the readings arriving late, up to a minute old. Payloads are JSON-like readings whose
 * figures drift slowly — compressible, as real ones are — and are a function of
 * (sensor, ts), so everything read back is checked byte for byte. Several producers put at
 * DURABLE level for --seconds (default 20) while the compactor moves sealed segments into
 * the cold tier; a progress line shows records/s, ack p99, ring fill, log backlog and how
 * much is compacted. Short probes then measure the WRITTEN and MEMORY ack levels, the
 * rest is compacted, example queries run, the directory is reopened, and a sample of
 * acknowledged records is read back.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "hist.h"
#include "sluice.h"

#define LATE_PERCENT 1
#define LATE_MAX_NS (60ull * 1000000000u)
#define JITTER_NS 5000000ull
#define SAMPLE 4096 /* acknowledged records kept per producer to read back */

struct demo {
    sluice_db *db;
    int producers;
    uint32_t sensors;
    double *cdf;          /* Zipf: cdf[i] = P(rank <= i) */
    uint32_t *by_rank;    /* rank -> sensor */
    uint64_t deadline_ns, max_records;
    _Atomic uint64_t claimed; /* records handed out across producers (for --records) */
    _Atomic int stop;
};

struct sample {
    uint32_t sensor;
    uint64_t ts;
};

struct producer {
    struct demo *d;
    int id, ack, err;
    uint64_t seed, n;
    pthread_mutex_t mu; /* guards the histograms against the progress line */
    struct hist lat, interval;
    struct sample kept[SAMPLE];
    size_t nkept;
};

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

static int sensor_key(char *buf, uint32_t sensor) { return sprintf(buf, "sensor-%05u", sensor); }

/* A reading of sensor at ts: fields that drift slowly with time, so blocks compress. */
static int payload(char *buf, uint32_t sensor, uint64_t ts)
{
    uint64_t minute = ts / 60000000000ull;
    unsigned temp = 1800 + (unsigned)((sensor * 37u + minute * 3u + ts / 1000000000u % 7) % 700);
    unsigned hum = 350 + (unsigned)((sensor * 11u + minute) % 300);
    return sprintf(buf,
                   "{\"sensor\":%u,\"site\":\"plant-%02u\",\"temp_c\":%u.%02u,\"rh\":%u.%u,"
                   "\"battery\":%u,\"status\":\"ok\",\"fw\":\"2.4.1\"}",
                   sensor, sensor % 17, temp / 100, temp % 100, hum / 10, hum % 10,
                   60 + (unsigned)(sensor % 40));
}

static uint32_t zipf_sensor(const struct demo *d, uint64_t *seed)
{
    double u = (double)(rnd(seed) >> 11) / 9007199254740992.0;
    uint32_t lo = 0, hi = d->sensors - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (d->cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return d->by_rank[lo];
}

static void *produce(void *arg)
{
    struct producer *p = arg;
    struct demo *d = p->d;
    char key[32], val[256];
    while (!atomic_load(&d->stop) && clock_now_ns() < d->deadline_ns) {
        if (d->max_records && atomic_fetch_add(&d->claimed, 1) >= d->max_records)
            break;
        uint32_t s = zipf_sensor(d, &p->seed);
        uint64_t now = clock_realtime_ns(), ts;
        if (rnd(&p->seed) % 100 < LATE_PERCENT)
            ts = now - rnd(&p->seed) % LATE_MAX_NS; /* late: up to a minute old */
        else
            ts = now - JITTER_NS + rnd(&p->seed) % (2 * JITTER_NS);
        int kl = sensor_key(key, s), vl = payload(val, s, ts);
        uint64_t a = clock_now_ns();
        int r = sluice_put(d->db, key, (size_t)kl, ts, val, (size_t)vl, p->ack, NULL);
        uint64_t lat = clock_now_ns() - a;
        if (r) {
            p->err = r;
            break;
        }
        pthread_mutex_lock(&p->mu);
        hist_record(&p->lat, lat);
        hist_record(&p->interval, lat);
        p->n++;
        pthread_mutex_unlock(&p->mu);
        /* reservoir sample of acknowledged records, read back after the reopen */
        if (p->nkept < SAMPLE)
            p->kept[p->nkept++] = (struct sample){s, ts};
        else if (rnd(&p->seed) % p->n < SAMPLE)
            p->kept[rnd(&p->seed) % SAMPLE] = (struct sample){s, ts};
    }
    return NULL;
}

static void print_hist(const char *name, const struct hist *h)
{
    printf("  %-22s p50 %8.1f  p99 %8.1f  p99.9 %8.1f  max %9.1f  µs  (n=%" PRIu64 ")\n", name,
           hist_percentile(h, 50) / 1e3, hist_percentile(h, 99) / 1e3,
           hist_percentile(h, 99.9) / 1e3, h->max / 1e3, h->count);
}

static int fail(const char *what, int r)
{
    return cli_fail("demo", cli_code(r), "%s: %s", what, sluice_strerror(r));
}

/* Runs producers at one ack level until the deadline or the record cap; the caller's
 * thread draws the progress line when live. */
static int run_phase(struct demo *d, struct producer *ps, int ack, double seconds, uint64_t cap,
                     int live, struct hist *all, uint64_t *records, double *secs)
{
    pthread_t th[64];
    d->deadline_ns = clock_now_ns() + (uint64_t)(seconds * 1e9);
    d->max_records = cap;
    atomic_store(&d->claimed, 0);
    atomic_store(&d->stop, 0);
    uint64_t t0 = clock_now_ns();
    for (int i = 0; i < d->producers; i++) {
        struct producer *p = &ps[i];
        p->ack = ack;
        p->n = 0;
        p->nkept = 0;
        hist_init(&p->lat);
        hist_init(&p->interval);
        pthread_create(&th[i], NULL, produce, p);
    }
    uint64_t last_n = 0, last_t = t0;
    while (live) {
        struct timespec nap = {0, 250000000};
        nanosleep(&nap, NULL);
        uint64_t n = 0, t = clock_now_ns();
        struct hist iv;
        hist_init(&iv);
        int running = 0;
        for (int i = 0; i < d->producers; i++) {
            pthread_mutex_lock(&ps[i].mu);
            n += ps[i].n;
            hist_merge(&iv, &ps[i].interval);
            hist_init(&ps[i].interval);
            pthread_mutex_unlock(&ps[i].mu);
        }
        running = t < d->deadline_ns && (!cap || atomic_load(&d->claimed) < cap);
        struct sluice_stats st;
        if (sluice_stats(d->db, &st) == 0) {
            double per_rec = st.puts ? (double)st.log_bytes / (double)st.puts : 0;
            uint64_t backlog = st.durable_lsn > st.compacted_lsn ? st.durable_lsn - st.compacted_lsn : 0;
            fprintf(stderr, "\r\033[K  %5.1f s  %8.0f records/s  ack p99 %7.2f ms  ring %5.1f%%  "
                            "log backlog %7.1f MB  compacted %5.1f%%",
                    (t - t0) / 1e9, (double)(n - last_n) / ((t - last_t) / 1e9),
                    hist_percentile(&iv, 99) / 1e6,
                    st.ring_bytes ? 100.0 * st.ring_used_bytes / st.ring_bytes : 0.0,
                    backlog * per_rec / 1e6,
                    st.durable_lsn ? 100.0 * st.compacted_lsn / st.durable_lsn : 0.0);
        }
        last_n = n;
        last_t = t;
        if (!running)
            break;
    }
    if (live)
        fprintf(stderr, "\n");
    int err = 0;
    *records = 0;
    for (int i = 0; i < d->producers; i++) {
        pthread_join(th[i], NULL);
        hist_merge(all, &ps[i].lat);
        *records += ps[i].n;
        if (ps[i].err)
            err = ps[i].err;
    }
    *secs = (clock_now_ns() - t0) / 1e9;
    return err;
}

static int queries(struct demo *d)
{
    char key[32], val[512], want[256];
    uint32_t hot = d->by_rank[0];
    int kl = sensor_key(key, hot);
    uint64_t ts, a = clock_now_ns();
    size_t vl;
    int r = sluice_get_latest(d->db, key, (size_t)kl, &ts, val, sizeof val, &vl);
    double us = (clock_now_ns() - a) / 1e3;
    if (r)
        return r;
    if ((size_t)payload(want, hot, ts) != vl || memcmp(want, val, vl))
        return SLUICE_ECORRUPT;
    printf("  newest reading of %s (the chattiest sensor), %.1f µs:\n    ts %" PRIu64 "  %.*s\n", key,
           us, ts, (int)vl, val);

    sluice_iter *it;
    sluice_record rec;
    uint64_t n = 0, from = ts > 2000000000u ? ts - 2000000000u : 0;
    a = clock_now_ns();
    if ((r = sluice_iter_open(d->db, key, (size_t)kl, from, ts + 1, &it)))
        return r;
    while ((r = sluice_iter_next(it, &rec)) == 0)
        n++;
    sluice_iter_close(it);
    if (r != SLUICE_END)
        return r;
    printf("  %s over its last 2 s: %" PRIu64 " readings in %.1f µs\n", key, n, (clock_now_ns() - a) / 1e3);

    uint64_t to = ts + 1;
    from = to - 10000000; /* 10 ms of every sensor */
    n = 0;
    a = clock_now_ns();
    if ((r = sluice_iter_open(d->db, NULL, 0, from, to, &it)))
        return r;
    sluice_record first = {0};
    char first_key[32] = "";
    while ((r = sluice_iter_next(it, &rec)) == 0) {
        if (!n++) {
            first = rec;
            snprintf(first_key, sizeof first_key, "%.*s", (int)rec.klen, (const char *)rec.key);
        }
    }
    sluice_iter_close(it);
    if (r != SLUICE_END)
        return r;
    printf("  every sensor over 10 ms: %" PRIu64 " readings in %.2f ms", n, (clock_now_ns() - a) / 1e6);
    if (n)
        printf("; the first: %s at %" PRIu64, first_key, first.ts);
    printf("\n");
    return 0;
}

static int setup_zipf(struct demo *d)
{
    d->cdf = malloc(d->sensors * sizeof *d->cdf);
    d->by_rank = malloc(d->sensors * sizeof *d->by_rank);
    if (!d->cdf || !d->by_rank)
        return SLUICE_ENOMEM;
    double sum = 0;
    for (uint32_t i = 0; i < d->sensors; i++)
        sum += 1.0 / (i + 1.0);
    double acc = 0;
    uint64_t seed = 0x5eed5eedull;
    for (uint32_t i = 0; i < d->sensors; i++) {
        acc += 1.0 / (i + 1.0) / sum;
        d->cdf[i] = acc;
        d->by_rank[i] = i;
    }
    d->cdf[d->sensors - 1] = 1.0;
    for (uint32_t i = d->sensors - 1; i > 0; i--) { /* which sensors are chatty: shuffled */
        uint32_t j = (uint32_t)(rnd(&seed) % (i + 1)), t = d->by_rank[i];
        d->by_rank[i] = d->by_rank[j];
        d->by_rank[j] = t;
    }
    return 0;
}

int cli_demo(int argc, char **argv)
{
    struct demo d = {.producers = 4, .sensors = 10000};
    double seconds = 20;
    uint64_t cap = 0, u;
    const char *dir = NULL, *v;
    for (int i = 2; i < argc; i++) {
        int m;
        if ((m = cli_opt(argc, argv, &i, "--seconds", &v)) != 0) {
            if (m < 0 || cli_u64(v, &u) || u == 0 || u > 3600)
                return cli_fail("demo", CLI_USAGE, "--seconds is 1..3600");
            seconds = (double)u;
        } else if ((m = cli_opt(argc, argv, &i, "--producers", &v)) != 0) {
            if (m < 0 || cli_u64(v, &u) || u < 1 || u > 64)
                return cli_fail("demo", CLI_USAGE, "--producers is 1..64");
            d.producers = (int)u;
        } else if ((m = cli_opt(argc, argv, &i, "--sensors", &v)) != 0) {
            if (m < 0 || cli_u64(v, &u) || u < 1 || u > 100000)
                return cli_fail("demo", CLI_USAGE, "--sensors is 1..100000");
            d.sensors = (uint32_t)u;
        } else if ((m = cli_opt(argc, argv, &i, "--records", &v)) != 0) {
            if (m < 0 || cli_u64(v, &cap) || cap == 0)
                return cli_fail("demo", CLI_USAGE, "--records is a positive number (a cap)");
        } else if (argv[i][0] == '-' || dir) {
            return cli_fail("demo", CLI_USAGE, "usage: sluice demo [DIR] [--seconds N] [--producers N] [--sensors N] [--records N]");
        } else {
            dir = argv[i];
        }
    }
    char tmpl[4096];
    if (!dir) {
        const char *t = getenv("TMPDIR");
        snprintf(tmpl, sizeof tmpl, "%s/sluice-demo-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(tmpl))
            return cli_fail("demo", CLI_USAGE, "cannot create a directory under %s", t && *t ? t : "/tmp");
        dir = tmpl;
    }
    int r = setup_zipf(&d);
    struct producer *ps = calloc((size_t)d.producers, sizeof *ps);
    if (r || !ps) {
        free(d.cdf);
        free(d.by_rank);
        free(ps);
        return fail("setup", SLUICE_ENOMEM);
    }
    for (int i = 0; i < d.producers; i++) {
        ps[i] = (struct producer){.d = &d, .id = i, .seed = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1)};
        pthread_mutex_init(&ps[i].mu, NULL);
    }
    sluice_options o;
    sluice_options_init(&o);
    o.segment_bytes = 16u << 20; /* seals every few seconds, so the compactor works during the run */
    char err[512] = "";
    o.errbuf = err;
    o.errbuf_bytes = sizeof err;
    int code = CLI_OK;
    if ((r = sluice_open(dir, &o, &d.db))) {
        code = cli_fail("demo", cli_code(r), "%s: %s", dir, err[0] ? err : sluice_strerror(r));
        goto out;
    }
    struct sluice_stats st;
    if ((r = sluice_stats(d.db, &st)))
        goto failed;
    int live = isatty(STDERR_FILENO);
    printf("sluice demo: %u sensors (Zipf-skewed rates, ±5 ms jitter, %d%% late by up to a minute), "
           "%d producers at DURABLE, %.0f s, into %s (%s)\n",
           d.sensors, LATE_PERCENT, d.producers, seconds, dir,
           st.io_backend == SLUICE_IO_BACKEND_URING ? "io_uring" : "posix");
    fflush(stdout);

    struct hist durable, written, memory;
    hist_init(&durable);
    hist_init(&written);
    hist_init(&memory);
    uint64_t n_durable, n_w, n_m;
    double secs, s_w, s_m;
    if ((r = run_phase(&d, ps, SLUICE_ACK_DURABLE, seconds, cap, live, &durable, &n_durable, &secs)))
        goto failed;
    struct sample *kept = malloc((size_t)d.producers * SAMPLE * sizeof *kept);
    size_t nkept = 0;
    for (int i = 0; kept && i < d.producers; i++) {
        memcpy(kept + nkept, ps[i].kept, ps[i].nkept * sizeof *kept);
        nkept += ps[i].nkept;
    }
    uint64_t probe = cap ? (cap / 10 ? cap / 10 : 1) : 200000;
    if ((r = run_phase(&d, ps, SLUICE_ACK_WRITTEN, 2, probe, 0, &written, &n_w, &s_w)) ||
        (r = run_phase(&d, ps, SLUICE_ACK_MEMORY, 2, probe, 0, &memory, &n_m, &s_m)))
        goto failed_kept;
    if ((r = sluice_stats(d.db, &st)))
        goto failed_kept;
    uint64_t behind = st.durable_lsn - st.compacted_lsn;
    uint64_t c0 = clock_now_ns();
    if ((r = sluice_compact(d.db)))
        goto failed_kept;
    double lag = (clock_now_ns() - c0) / 1e9;
    uint64_t total = n_durable + n_w + n_m;

    printf("\ningest: %" PRIu64 " records at DURABLE in %.1f s = %.0f records/s "
           "(every put returned after an fdatasync covering it)\n", n_durable, secs, n_durable / secs);
    printf("ack latency per level (one put, measured around the call):\n");
    print_hist("DURABLE", &durable);
    print_hist("WRITTEN", &written);
    print_hist("MEMORY", &memory);
    if ((r = sluice_stats(d.db, &st)))
        goto failed_kept;
    printf("log: %" PRIu64 " group commits, %.1f records per fdatasync, %.1f MB written\n",
           st.fsyncs, st.fsyncs ? (double)st.puts / st.fsyncs : 0.0, st.log_bytes / 1e6);
    printf("compaction: %" PRIu64 " records moved into LMDB in %" PRIu64 " transactions while the "
           "stream ran and after; at the end %" PRIu64 " records were not yet cold, and sluice_compact "
           "took %.0f ms to catch up\n", st.compacted_records, st.compaction_rounds, behind, lag * 1e3);
    printf("on disk: cold tier %.1f MB in use = %.1f bytes per record (the log writes %.0f per record "
           "and is deleted once compacted)\n",
           st.cold_used_bytes / 1e6, total ? (double)st.cold_used_bytes / total : 0.0,
           st.puts ? (double)st.log_bytes / st.puts : 0.0);
    printf("\nqueries:\n");
    if ((r = queries(&d)))
        goto failed_kept;
    if ((r = sluice_close(d.db))) {
        d.db = NULL;
        goto failed_kept;
    }
    uint64_t a = clock_now_ns();
    if ((r = sluice_open(dir, &o, &d.db))) {
        d.db = NULL;
        goto failed_kept;
    }
    double reopen = (clock_now_ns() - a) / 1e9;
    size_t ok = 0;
    char key[32], val[256], want[256];
    for (size_t i = 0; i < nkept; i++) {
        int kl = sensor_key(key, kept[i].sensor);
        size_t vl;
        if ((r = sluice_get(d.db, key, (size_t)kl, kept[i].ts, val, sizeof val, &vl)))
            goto failed_kept;
        if ((size_t)payload(want, kept[i].sensor, kept[i].ts) != vl || memcmp(want, val, vl)) {
            r = SLUICE_ECORRUPT;
            goto failed_kept;
        }
        ok++;
    }
    printf("\nreopen: %.1f ms; %zu sampled acknowledged records read back, every byte as written\n",
           reopen * 1e3, ok);
    free(kept);
    r = sluice_close(d.db);
    d.db = NULL;
    if (r)
        goto failed;
    sensor_key(key, d.by_rank[0]);
    printf("\ninspect what it wrote (build/bin/sluice; docs/tools.md):\n");
    char cmd[4096 + 160];
    const char *what[][2] = {{"info %s", "every tier at a glance"},
                             {"dump log %s --limit 20", "log records"},
                             {"dump cold %s --records --key ", "one sensor's cold blocks"},
                             {"get %s ", "its newest reading"},
                             {"verify %s", "every checksum"}};
    for (int i = 0; i < 5; i++) {
        int n = snprintf(cmd, sizeof cmd, what[i][0], dir);
        if (i == 2 || i == 3)
            snprintf(cmd + n, sizeof cmd - (size_t)n, "%s", key);
        printf("  sluice %-64s %s\n", cmd, what[i][1]);
    }
    goto out;
failed_kept:
    free(kept);
failed:
    code = fail(dir, r);
    if (d.db)
        sluice_close(d.db);
out:
    for (int i = 0; i < d.producers; i++)
        pthread_mutex_destroy(&ps[i].mu);
    free(ps);
    free(d.cdf);
    free(d.by_rank);
    return code;
}
