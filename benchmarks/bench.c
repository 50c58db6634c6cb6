/*
 * sluice-bench: the tail-latency benchmark suite. Every workload runs sluice and, where
 * it has a counterpart, the engines users would otherwise pick (peers.h: RocksDB, LevelDB,
 * LMDB, SQLite, each compiled in when its Debian package is installed), on the same
 * records in the same run, after the machine's own limits (limits.c) so that each figure
 * is read as a ratio that survives a noisy shared machine.
 *
 * Records: 10,000 series "sensor-%05d", increasing ns timestamps, 100-byte random
 * (incompressible) values. Percentiles come from the engine's log-linear histogram
 * (<= 1.6 %); warm-up (the first spare segment's zeroing) is excluded; each row carries
 * the CPU time of the whole process and the bytes it had written to the device.
 *
 *   sluice-bench [--quick] [--dir DIR] [--workload a,b,...] [--markdown | --json]
 *                [--no-peers] [--plots DIR] [--soak-secs N] [--soak-rates R1,R2,R3]
 *
 * workloads (all by default):
 *   limits          disk 4K write+fdatasync (buffered, O_DIRECT), DSYNC writes/s by queue
 *                   depth, 1 MiB write+fdatasync bandwidth, memcpy bandwidth
 *   put-memory      one producer, MEMORY acks; then the rate the log sustains behind it;
 *                   the peers' no-sync puts beside it
 *   put-memory-nostats  the same without the stats publisher (its cost)
 *   put-durable-cold    put-durable in the first seconds of a new directory: no warm-up,
 *                   so its segments grow from 2 MiB under the measured puts
 *   put-written, put-durable, put-durable-8 (8 producers, each waiting for its own
 *                   DURABLE ack), window-durable (MEMORY puts, DURABLE every 1,000)
 *   open-loop       MEMORY puts due at 10/50/80/95 % of the rate sustained closed loop,
 *                   latency from each due time (openloop.h)
 *   read-point, read-scan   gets and one-series window scans after a load, hot and cold
 *   mixed           open-loop ingest at half the sustained rate with a reader running
 *   soak            open-loop ingest at fixed rates with compaction running (soak.c)
 *   recovery        reopen after a SIGKILL with a log backlog
 * --plots DIR writes SVG charts (svg.c): latency by percentile per workload, and the
 * soak's per-second p99.9 and max over time.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "common.h"
#include "report.h"
#include "clock.h"
#include "machine.h"
#include "openloop.h"
#include "peers.h"
#include "sluice.h"
#include "svg.h"

/* Reopen after a crash with a log backlog: a child writes G GiB with manual compaction
 * (so that all of it waits in the log), makes it durable and is killed with SIGKILL; the
 * parent times sluice_open, which checks and indexes every record. O_DIRECT writes left
 * nothing in the page cache: the reopen reads the disk. */
static void bench_recovery(const struct cfg *c)
{
    char *dir = fresh_dir(c, "recovery");
    uint64_t n = (c->quick ? (128ull << 20) : (1ull << 30)) / 144, log_bytes = 0;
    int pfd[2];
    if (pipe(pfd))
        die("pipe", -errno);
    pid_t pid = fork();
    if (pid < 0)
        die("fork", -errno);
    if (pid == 0) {
        sluice_db *db = bench_open_opts(dir, 0, 1);
        uint64_t ts = clock_realtime_ns();
        for (uint64_t i = 0; i < n; i++)
            bench_put(db, i, ts + i, SLUICE_ACK_MEMORY, NULL);
        struct sluice_stats st;
        int r = sluice_flush(db);
        if (r || (r = sluice_stats(db, &st)))
            die("flush", r);
        if (write(pfd[1], &st.log_bytes, sizeof st.log_bytes) != sizeof st.log_bytes)
            die("pipe", -errno);
        raise(SIGKILL);
    }
    close(pfd[1]);
    int status;
    if (read(pfd[0], &log_bytes, sizeof log_bytes) != sizeof log_bytes ||
        waitpid(pid, &status, 0) != pid || !WIFSIGNALED(status))
        die("recovery child", -ECHILD);
    close(pfd[0]);
    double gib = log_bytes / (double)(1u << 30);
    struct result res;
    result_init(&res, "recovery");
    struct meter m;
    meter_start(&m);
    sluice_db *db = bench_open_opts(dir, 0, 1);
    meter_stop(&m, &res);
    struct sluice_stats st;
    if (sluice_stats(db, &st) == 0 && st.claimed_lsn != n)
        fprintf(stderr, "sluice-bench: recovery found %" PRIu64 " records of %" PRIu64 "\n",
                st.claimed_lsn, n);
    sluice_close(db);
    res.records = n;
    res.rate_override = gib / res.secs;
    snprintf(res.unit, sizeof res.unit, "GiB/s");
    snprintf(res.note, sizeof res.note, "%.3f s to reopen after SIGKILL with %.2f GiB of log (%" PRIu64
             " records) = %.2f s per GiB", res.secs, gib, n, res.secs / gib);
    report_row(c, &res);
    free(dir);
}

/* put-memory's throughput without the two clock reads per put that its latency
 * histogram costs (about as long as the put itself): the same puts, timed as a whole. */
static void put_memory_untimed(const struct cfg *c, uint64_t n)
{
    char *dir = fresh_dir(c, "put-memory-untimed");
    sluice_db *db = bench_open(dir);
    bench_wait_spare(db);
    struct result res;
    result_init(&res, "put-memory untimed");
    uint64_t ts = clock_realtime_ns();
    struct meter m;
    meter_start(&m);
    for (uint64_t i = 0; i < n; i++)
        bench_put(db, i, ts + i, SLUICE_ACK_MEMORY, NULL);
    meter_stop(&m, &res);
    res.records = n;
    res.user_bytes = (double)n * USER_BYTES;
    snprintf(res.note, sizeof res.note, "the same puts without a clock read around each");
    report_row(c, &res);
    int r = sluice_close(db);
    if (r)
        die("close", r);
    free(dir);
}

/* One producer at a fixed ack level. */
static void bench_single(const struct cfg *c, const char *name, int ack, uint64_t n)
{
    char *dir = fresh_dir(c, name);
    /* put-memory-nostats: the same run without the live stats publisher (its cost) */
    sluice_db *db = bench_open_opts(dir, strstr(name, "nostats") ? 0 : 100, 0);
    if (ack == SLUICE_ACK_MEMORY || strstr(name, "cold"))
        bench_wait_spare(db);
    else
        bench_warm_log(db);
    struct result res;
    result_init(&res, name);
    uint64_t ts = clock_realtime_ns();
    struct meter m;
    meter_start(&m);
    for (uint64_t i = 0; i < n; i++) {
        char k[32];
        int kl = key_of(k, i);
        uint64_t a = clock_now_ns();
        int r = sluice_put(db, k, (size_t)kl, ts + i, value_of(i), VALUE_BYTES, ack, NULL);
        uint64_t b = clock_now_ns();
        if (r)
            die(name, r);
        hist_record(&res.lat, b - a);
    }
    meter_stop(&m, &res);
    int r = sluice_flush(db);
    if (r)
        die("flush", r);
    struct result log;
    result_init(&log, "");
    meter_stop(&m, &log);
    struct sluice_stats st;
    if ((r = sluice_stats(db, &st)))
        die("stats", r);
    res.records = n;
    res.user_bytes = (double)n * USER_BYTES;
    snprintf(res.note, sizeof res.note, "%.1f records per log write; ring-full waits %" PRIu64,
             st.batches ? (double)st.puts / st.batches : 0.0, st.ring_full_waits);
    report_row(c, &res);
    if (ack == SLUICE_ACK_MEMORY && !strstr(name, "nostats")) {
        /* the rate the log sustains behind the producer: until the last put is durable */
        snprintf(log.name, sizeof log.name, "%s through the log", name);
        log.records = n;
        log.user_bytes = res.user_bytes;
        double bw = report_limit_get("disk 1 MiB write+fdatasync MB/s");
        snprintf(log.note, sizeof log.note, "until the last put was durable; %.0f MB/s of log%s", 
                 st.log_bytes / log.secs / 1e6, bw > 0 ? "" : "");
        if (bw > 0)
            snprintf(log.note + strlen(log.note), sizeof log.note - strlen(log.note),
                     " = %.0f%% of the disk's 1 MiB write+fdatasync bandwidth", st.log_bytes / log.secs / 1e6 / bw * 100);
        report_row(c, &log);
    }
    if ((r = sluice_close(db)))
        die("close", r);
    free(dir);
    if (ack == SLUICE_ACK_MEMORY && !strstr(name, "nostats"))
        put_memory_untimed(c, n); /* alone: the timed run's threads have stopped */
}

struct multi {
    sluice_db *db;
    uint64_t n, base;
    int id, producers;
    struct hist lat;
};

static void *multi_producer(void *arg)
{
    struct multi *m = arg;
    for (uint64_t j = 0; j < m->n; j++) {
        uint64_t i = j * (uint64_t)m->producers + (uint64_t)m->id;
        uint64_t a = clock_now_ns();
        bench_put(m->db, i, m->base + i, SLUICE_ACK_DURABLE, NULL);
        hist_record(&m->lat, clock_now_ns() - a);
    }
    return NULL;
}

static void bench_durable_n(const struct cfg *c, int producers)
{
    char name[32];
    snprintf(name, sizeof name, "put-durable-%d", producers);
    char *dir = fresh_dir(c, name);
    sluice_db *db = bench_open(dir);
    bench_warm_log(db);
    uint64_t per = c->quick ? 500 : 4000;
    struct multi *m = calloc((size_t)producers, sizeof *m);
    pthread_t *t = calloc((size_t)producers, sizeof *t);
    struct result res;
    result_init(&res, name);
    struct meter mt;
    meter_start(&mt);
    uint64_t base = clock_realtime_ns();
    for (int p = 0; p < producers; p++) {
        m[p] = (struct multi){.db = db, .n = per, .base = base, .id = p, .producers = producers};
        hist_init(&m[p].lat);
        pthread_create(&t[p], NULL, multi_producer, &m[p]);
    }
    for (int p = 0; p < producers; p++) {
        pthread_join(t[p], NULL);
        hist_merge(&res.lat, &m[p].lat);
    }
    meter_stop(&mt, &res);
    res.records = per * (uint64_t)producers;
    res.user_bytes = (double)res.records * USER_BYTES;
    struct sluice_stats st;
    if (sluice_stats(db, &st) == 0)
        snprintf(res.note, sizeof res.note, "%.1f records per fdatasync (group commit)",
                 st.fsyncs ? (double)st.puts / st.fsyncs : 0.0);
    report_row(c, &res);
    sluice_close(db);
    free(m);
    free(t);
    free(dir);
}

/* One producer at MEMORY, waiting for DURABLE every W records; latency per window. */
static void bench_window(const struct cfg *c, uint64_t w)
{
    char *dir = fresh_dir(c, "window-durable");
    sluice_db *db = bench_open(dir);
    bench_warm_log(db);
    uint64_t n = c->quick ? 200000 : 2000000, ts = clock_realtime_ns(), lsn = 0;
    struct result res;
    result_init(&res, "window-durable");
    struct meter m;
    meter_start(&m);
    uint64_t wstart = clock_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        bench_put(db, i, ts + i, SLUICE_ACK_MEMORY, &lsn);
        if ((i + 1) % w == 0) {
            int r = sluice_wait(db, lsn, SLUICE_ACK_DURABLE, 60000);
            if (r)
                die("wait", r);
            uint64_t now = clock_now_ns();
            hist_record(&res.lat, now - wstart);
            wstart = now;
        }
    }
    meter_stop(&m, &res);
    res.records = n;
    res.user_bytes = (double)n * USER_BYTES;
    snprintf(res.note, sizeof res.note, "W=%" PRIu64 "; latency per window, put to durable", w);
    report_row(c, &res);
    sluice_close(db);
    free(dir);
}

/* ---- the peers on the same records: key || be64(ts) ---- */

struct peer_run {
    const struct peer *p;
    void *store;
    uint64_t n, base, w; /* w: records per commit */
    int id, threads, sync;
    struct hist lat;
};

static void *peer_thread(void *arg)
{
    struct peer_run *pr = arg;
    void *t = pr->p->thread_open(pr->store);
    uint8_t k[64];
    for (uint64_t j = 0; j < pr->n; j += pr->w) {
        uint64_t a = clock_now_ns();
        pr->p->begin(t);
        for (uint64_t x = j; x < j + pr->w && x < pr->n; x++) {
            uint64_t i = x * (uint64_t)pr->threads + (uint64_t)pr->id;
            pr->p->put(t, k, engine_key(k, i, pr->base + i), value_of(i), VALUE_BYTES);
        }
        pr->p->commit(t, pr->sync);
        hist_record(&pr->lat, clock_now_ns() - a);
    }
    pr->p->thread_close(t);
    return NULL;
}

/* One peer on one workload: `threads` writers, `w` records per commit, synced or not. */
static void bench_peer(const struct cfg *c, const struct peer *p, const char *workload, int threads,
                       uint64_t w, int sync, uint64_t n, struct svg_plot *pl)
{
    char dirname[96];
    snprintf(dirname, sizeof dirname, "peer-%s-%s", p->name, workload);
    char *dir = fresh_dir(c, dirname);
    struct result res;
    char name[64];
    snprintf(name, sizeof name, "%s %s", p->name, workload);
    result_init(&res, name);
    res.indent = 1;
    struct meter m;
    meter_start(&m);
    void *store = p->store_open(dir);
    struct peer_run *runs = calloc((size_t)threads, sizeof *runs);
    pthread_t *th = calloc((size_t)threads, sizeof *th);
    uint64_t base = clock_realtime_ns();
    for (int i = 0; i < threads; i++) {
        runs[i] = (struct peer_run){.p = p, .store = store, .n = n / (uint64_t)threads, .base = base,
                                    .w = w, .id = i, .threads = threads, .sync = sync};
        hist_init(&runs[i].lat);
        pthread_create(&th[i], NULL, peer_thread, &runs[i]);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        hist_merge(&res.lat, &runs[i].lat);
    }
    meter_stop(&m, &res);
    res.records = n / (uint64_t)threads * (uint64_t)threads;
    res.user_bytes = (double)res.records * USER_BYTES;
    snprintf(res.note, sizeof res.note, "%s%s", sync ? p->durability : "no sync",
             w > 1 ? "; latency per commit" : "");
    report_row(c, &res);
    svg_plot_add(pl, p->name, &res.lat);
    p->store_close(store);
    free(runs);
    free(th);
    free(dir);
}

static void plot_begin(struct svg_plot *pl, const char *workload, const char *sluice_row)
{
    memset(pl, 0, sizeof *pl);
    snprintf(pl->title, sizeof pl->title, "%s: latency by percentile (sluice and peers)", workload);
    snprintf(pl->file, sizeof pl->file, "%s.svg", workload);
    const struct result *own = report_find(sluice_row);
    if (own)
        svg_plot_add(pl, "sluice", &own->lat);
}

/* The peers' rows for a sluice workload, right under it, and the workload's plot. Their
 * no-sync puts (one put per commit) run once and stand beside both put-memory and
 * put-written: it is their fastest put, and the same guarantee as WRITTEN. */
static void peers_for(const struct cfg *c, const char *workload)
{
    struct svg_plot pl;
    plot_begin(&pl, workload, workload);
    for (int i = 0; c->peers && bench_peers[i]; i++) {
        const struct peer *p = bench_peers[i];
        if (!strcmp(workload, "put-memory") || !strcmp(workload, "put-written")) {
            char name[64];
            snprintf(name, sizeof name, "%s put-nosync", p->name);
            const struct result *done = report_find(name);
            if (done)
                svg_plot_add(&pl, p->name, &done->lat);
            else
                bench_peer(c, p, "put-nosync", 1, 1, 0, c->quick ? 20000 : 200000, &pl);
        } else if (!strcmp(workload, "put-durable")) {
            bench_peer(c, p, workload, 1, 1, 1, c->quick ? 300 : 2000, &pl);
        } else if (!strcmp(workload, "put-durable-8")) {
            bench_peer(c, p, workload, 8, 1, 1, c->quick ? 2000 : 16000, &pl);
        } else if (!strcmp(workload, "window-durable")) {
            bench_peer(c, p, workload, 1, 1000, 1, c->quick ? 100000 : 1000000, &pl);
        }
    }
    svg_plot_finish(&pl, c->plots);
}

/* Open loop: one producer at MEMORY acks, requests due at a fixed rate — a fraction of
 * the maximum measured in the same run — latency from each request's due time. */
static void bench_openloop(const struct cfg *c)
{
    double max_rate = bench_sustained_rate(c);
    struct svg_plot pl;
    memset(&pl, 0, sizeof pl);
    snprintf(pl.title, sizeof pl.title, "open loop, MEMORY puts: latency from the due time");
    snprintf(pl.file, sizeof pl.file, "open-loop.svg");
    static const int pct[] = {10, 50, 80, 95};
    for (int f = 0; f < 4; f++) {
        uint64_t rate = (uint64_t)(max_rate * pct[f] / 100);
        uint64_t m = c->quick ? rate / 4 : rate * 2; /* a quarter second, or two seconds */
        char name[64];
        snprintf(name, sizeof name, "open-loop %d%%", pct[f]);
        char *dir = fresh_dir(c, "open-loop");
        sluice_db *db = bench_open(dir);
        bench_wait_spare(db);
        struct result res;
        result_init(&res, name);
        uint64_t ts = clock_realtime_ns();
        struct meter mt;
        meter_start(&mt);
        uint64_t start = clock_now_ns() + 1000000;
        for (uint64_t i = 0; i < m; i++) {
            uint64_t due = openloop_due(start, i, rate);
            openloop_wait(due);
            bench_put(db, i, ts + i, SLUICE_ACK_MEMORY, NULL);
            hist_record(&res.lat, openloop_latency(due, clock_now_ns()));
        }
        meter_stop(&mt, &res);
        res.records = m;
        res.user_bytes = (double)m * USER_BYTES;
        snprintf(res.note, sizeof res.note, "%.2f M/s due (%d%% of the %.2f M/s sustained closed loop)",
                 rate / 1e6, pct[f], max_rate / 1e6);
        report_row(c, &res);
        svg_plot_add(&pl, name, &res.lat);
        sluice_close(db);
        free(dir);
    }
    svg_plot_finish(&pl, c->plots);
}

static const char usage[] =
    "usage: sluice-bench [--quick] [--dir DIR] [--workload a,b,...] [--markdown | --json]\n"
    "                    [--no-peers] [--plots DIR] [--soak-secs N] [--soak-rates R1,R2,R3]\n"
    "workloads: limits put-memory put-memory-nostats put-written put-durable put-durable-cold\n"
    "           put-durable-8 window-durable open-loop read-point read-scan mixed soak recovery\n"
    "           tail-memory tail-durable tail-catch-up\n"
    "           (disk, disk-qd and memcpy select parts of limits)\n";

int main(int argc, char **argv)
{
    struct cfg c = {.dir = NULL, .peers = 1, .soak_rates = "100000,150000,1000000"};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            c.quick = 1;
        else if (!strcmp(argv[i], "--markdown"))
            c.markdown = 1;
        else if (!strcmp(argv[i], "--json"))
            c.json = 1;
        else if (!strcmp(argv[i], "--no-peers"))
            c.peers = 0;
        else if (!strcmp(argv[i], "--plots") && i + 1 < argc)
            c.plots = argv[++i];
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            c.dir = argv[++i];
        else if (!strcmp(argv[i], "--workload") && i + 1 < argc)
            c.only = argv[++i];
        else if (!strcmp(argv[i], "--soak-secs") && i + 1 < argc)
            c.soak_secs = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--soak-rates") && i + 1 < argc)
            c.soak_rates = argv[++i];
        else {
            fputs(usage, stderr);
            return 2;
        }
    }
    if (c.markdown && c.json) {
        fputs("sluice-bench: --markdown and --json exclude each other\n", stderr);
        return 2;
    }
    if (!c.soak_secs)
        c.soak_secs = c.quick ? 1 : 30;
    char tmpl[] = "/var/tmp/sluice-bench-XXXXXX";
    if (!c.dir && !(c.dir = mkdtemp(tmpl))) {
        perror("mkdtemp");
        return 2;
    }
    mkdir(c.dir, 0755);
    records_init();
    char m[1024];
    bench_machine(c.dir, m, sizeof m);
    report_begin(&c, m);
    /* the limits first: every figure after them is read against them */
    bench_limits(&c);
    uint64_t big = c.quick ? 300000 : 3000000;
    static const struct {
        const char *name;
        int ack;
    } singles[] = {{"put-memory", SLUICE_ACK_MEMORY},
                   {"put-memory-nostats", SLUICE_ACK_MEMORY},
                   {"put-written", SLUICE_ACK_WRITTEN},
                   {"put-durable", SLUICE_ACK_DURABLE},
                   {"put-durable-cold", SLUICE_ACK_DURABLE}};
    const uint64_t counts[] = {big, big, c.quick ? 20000 : 100000, c.quick ? 1000 : 5000,
                               c.quick ? 1000 : 5000};
    for (size_t i = 0; i < sizeof singles / sizeof singles[0]; i++) {
        if (!selected(&c, singles[i].name))
            continue;
        bench_single(&c, singles[i].name, singles[i].ack, counts[i]);
        if (!strstr(singles[i].name, "nostats") && !strstr(singles[i].name, "cold"))
            peers_for(&c, singles[i].name);
    }
    if (selected(&c, "put-durable-8")) {
        bench_durable_n(&c, 8);
        peers_for(&c, "put-durable-8");
    }
    if (selected(&c, "window-durable")) {
        bench_window(&c, 1000);
        peers_for(&c, "window-durable");
    }
    if (selected(&c, "open-loop"))
        bench_openloop(&c);
    if (selected(&c, "read-point") || selected(&c, "read-scan"))
        bench_reads(&c);
    if (selected(&c, "mixed"))
        bench_mixed(&c);
    bench_follow(&c);
    if (selected(&c, "soak"))
        bench_soak(&c);
    if (selected(&c, "recovery"))
        bench_recovery(&c);
    report_end(&c);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'/put-* '%s'/window-durable '%s'/recovery '%s'/peer-* "
             "'%s'/open-loop* '%s'/sustained '%s'/end-to-end '%s'/soak-* '%s'/read-* '%s'/mixed-* '%s'/tail-*", c.dir, c.dir,
             c.dir, c.dir, c.dir, c.dir, c.dir, c.dir, c.dir, c.dir, c.dir);
    if (system(cmd) != 0)
        return 2;
    records_free();
    return 0;
}
