/*
 * sluice-bench: put-path benchmarks with the disk's own limit measured in the same run,
 * so every figure can be read as a ratio that survives a noisy shared machine.
 *
 * Workload (as in the issues): 10,000 series "sensor-%05d", increasing ns timestamps,
 * 100-byte random values. Latency is measured per put around the call (closed loop);
 * the open-loop, coordinated-omission-corrected runs and the peers belong to the full
 * benchmark suite. Percentiles come from the engine's log-linear histogram (<= 1.6 %).
 *
 *   sluice-bench [--quick] [--dir DIR] [--workload a,b,...] [--markdown] [--no-peers] [--plots DIR]
 * open-loop: MEMORY puts due at 10/50/80/95 % of the rate measured closed loop in the same
 * run, latency from each due time (openloop.h). --plots DIR writes latency-by-percentile
 * SVGs (svg.c): one per put workload with the peers, one for the open-loop runs.
 * Under put-written, put-durable, put-durable-8 and window-durable the peers compiled
 * in (peers.h: RocksDB, LevelDB, LMDB, SQLite) run the same records, one row each.
 * workloads: disk, disk-qd, put-memory, put-memory-nostats (stats publishing off),
 *            put-written, put-durable, put-durable-8,
 *            window-durable, recovery
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include "clock.h"
#include "hist.h"
#include "machine.h"
#include "openloop.h"
#include "peers.h"
#include "svg.h"
#include "sluice.h"

#define SERIES 10000
#define VALUE_BYTES 100

struct cfg {
    int quick, markdown, peers;
    const char *plots; /* a directory for SVG plots, or NULL */
    const char *dir;
    const char *only;
};

struct result {
    const char *name;
    uint64_t records;
    double secs;
    struct hist lat;
    char note[160];
};

static uint8_t *random_values; /* a pool the values are cut from: incompressible */
#define POOL (1u << 20)

static void value_of(uint64_t i, const uint8_t **v) { *v = random_values + (i * 131) % (POOL - VALUE_BYTES); }

static int key_of(char *k, uint64_t i) { return sprintf(k, "sensor-%05u", (unsigned)(i % SERIES)); }

static int selected(const struct cfg *c, const char *name)
{
    if (!c->only)
        return 1;
    size_t n = strlen(name);
    for (const char *p = c->only; (p = strstr(p, name)); p += n)
        if ((p == c->only || p[-1] == ',') && (p[n] == 0 || p[n] == ','))
            return 1;
    return 0;
}

static void die(const char *what, int r)
{
    fprintf(stderr, "sluice-bench: %s: %s\n", what, sluice_strerror(r));
    exit(2);
}

static char *fresh_dir(const struct cfg *c, const char *name)
{
    char *p = malloc(4096);
    snprintf(p, 4096, "%s/%s", c->dir, name);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
    if (system(cmd) != 0)
        die("rm", -EIO);
    return p;
}

static sluice_db *open_db_stats(const char *dir, uint32_t stats_interval_ms)
{
    sluice_options o;
    sluice_options_init(&o);
    o.stats_interval_ms = stats_interval_ms;
    sluice_db *db;
    int r = sluice_open(dir, &o, &db);
    if (r)
        die("open", r);
    return db;
}

static sluice_db *open_db(const char *dir) { return open_db_stats(dir, 100); }

/* Warm-up: right after open the preparer zeroes the spare segment (64 MiB), which
 * competes with durable writes for the device; timed runs start once it is ready. */
static void wait_spare(sluice_db *db)
{
    for (int i = 0; i < 1000; i++) {
        struct sluice_stats st;
        if (sluice_stats(db, &st) == 0 && st.spare_ready)
            return;
        struct timespec nap = {0, 10000000};
        nanosleep(&nap, NULL);
    }
}

/* The disk's floor: 4 KiB write + fdatasync, overwriting a pre-zeroed file. */
static void bench_disk(const struct cfg *c, struct result *res)
{
    char *path = fresh_dir(c, "disk.bin");
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        die("disk file", -errno);
    size_t file = 64u << 20;
    uint8_t *zero = calloc(1, 1u << 20), *blk = malloc(4096);
    memset(blk, 0xab, 4096);
    for (size_t off = 0; off < file; off += 1u << 20)
        if (pwrite(fd, zero, 1u << 20, (off_t)off) != 1 << 20)
            die("pre-zero", -errno);
    fsync(fd);
    uint64_t n = c->quick ? 500 : 3000;
    hist_init(&res->lat);
    uint64_t t0 = clock_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        uint64_t a = clock_now_ns();
        if (pwrite(fd, blk, 4096, (off_t)((i * 4096) % file)) != 4096 || fdatasync(fd))
            die("disk write", -errno);
        hist_record(&res->lat, clock_now_ns() - a);
    }
    res->secs = (clock_now_ns() - t0) / 1e9;
    res->records = n;
    res->name = "disk 4K write+fdatasync";
    snprintf(res->note, sizeof res->note, "the physical floor for one durable ack");
    close(fd);
    unlink(path);
    free(zero);
    free(blk);
    free(path);
}

/* The device's rate of durable 4 KiB writes (O_DIRECT + RWF_DSYNC through io_uring, as
 * the log writes them) at queue depths 1, 2, 4 and 8: the bound on group commit. */
static void bench_disk_qd(const struct cfg *c)
{
    char *path = fresh_dir(c, "disk-qd.bin");
    size_t file = 64u << 20;
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    uint8_t *zero = calloc(1, 1u << 20);
    for (size_t off = 0; fd >= 0 && off < file; off += 1u << 20)
        if (pwrite(fd, zero, 1u << 20, (off_t)off) != 1 << 20)
            die("pre-zero", -errno);
    if (fd < 0 || fsync(fd))
        die("disk-qd file", -errno);
    close(fd);
    free(zero);
    fd = open(path, O_RDWR | O_DIRECT);
    void *blk;
    struct io_uring ring;
    if (fd < 0 || posix_memalign(&blk, 4096, 4096) || io_uring_queue_init(16, &ring, 0)) {
        printf("%-26s skipped: no O_DIRECT or io_uring here\n", "disk DSYNC writes by QD");
        unlink(path);
        free(path);
        return;
    }
    memset(blk, 0xab, 4096);
    uint64_t n = c->quick ? 500 : 3000;
    printf(c->markdown ? "| disk DSYNC writes/s by queue depth | | | | | | | | " : "%-26s",
           "disk DSYNC writes/s by QD");
    const int qds[] = {1, 2, 4, 8};
    for (int q = 0; q < 4; q++) {
        uint64_t sub = 0, done = 0, t0 = clock_now_ns();
        while (done < n) {
            while (sub - done < (uint64_t)qds[q] && sub < n) {
                struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
                io_uring_prep_write(sqe, fd, blk, 4096, (sub * 4096) % file);
                sqe->rw_flags = RWF_DSYNC;
                sub++;
            }
            io_uring_submit(&ring);
            struct io_uring_cqe *cqe;
            if (io_uring_wait_cqe(&ring, &cqe) || cqe->res != 4096)
                die("disk-qd write", -EIO);
            io_uring_cqe_seen(&ring, cqe);
            done++;
        }
        printf("  QD%d %.0f", qds[q], n / ((clock_now_ns() - t0) / 1e9));
    }
    printf("  (the bound on durable group commit)%s\n", c->markdown ? " |" : "");
    io_uring_queue_exit(&ring);
    close(fd);
    unlink(path);
    free(blk);
    free(path);
}

/* Reopen time for a log of `bytes`: recovery walks, checks and indexes every record. */
static void bench_recovery(const struct cfg *c)
{
    char *dir = fresh_dir(c, "recovery");
    sluice_db *db = open_db(dir);
    uint64_t n = (c->quick ? (128ull << 20) : (1ull << 30)) / 144, ts = clock_realtime_ns();
    char k[32];
    const uint8_t *v;
    for (uint64_t i = 0; i < n; i++) {
        int kl = key_of(k, i);
        value_of(i, &v);
        int r = sluice_put(db, k, (size_t)kl, ts + i, v, VALUE_BYTES, SLUICE_ACK_MEMORY, NULL);
        if (r)
            die("put", r);
    }
    struct sluice_stats st;
    int r = sluice_stats(db, &st);
    if (r || (r = sluice_close(db)))
        die("close", r);
    /* drop the page cache's copy? O_DIRECT writes left none; the read is from disk */
    uint64_t t0 = clock_now_ns();
    db = open_db(dir);
    double secs = (clock_now_ns() - t0) / 1e9;
    sluice_close(db);
    double gib = st.log_bytes / (double)(1u << 30);
    if (c->markdown)
        printf("| recovery (reopen) | %" PRIu64 " | %.0f | | | | | | %.3f s for %.2f GiB of log"
               " = %.2f s/GiB |\n", n, n / secs, secs, gib, secs / gib);
    else
        printf("%-26s %9" PRIu64 " %12.0f  %.3f s for %.2f GiB of log = %.2f s per GiB\n",
               "recovery (reopen)", n, n / secs, secs, gib, secs / gib);
    free(dir);
}

/* One producer at a fixed ack level. */
static void bench_single(const struct cfg *c, const char *name, int ack, uint64_t n,
                         struct result *res)
{
    char *dir = fresh_dir(c, name);
    /* put-memory-nostats: the same run without the live stats publisher (its cost) */
    sluice_db *db = open_db_stats(dir, strstr(name, "nostats") ? 0 : 100);
    wait_spare(db);
    char k[32];
    const uint8_t *v;
    uint64_t ts = clock_realtime_ns();
    hist_init(&res->lat);
    uint64_t t0 = clock_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        int kl = key_of(k, i);
        value_of(i, &v);
        uint64_t a = clock_now_ns();
        int r = sluice_put(db, k, (size_t)kl, ts + i, v, VALUE_BYTES, ack, NULL);
        uint64_t b = clock_now_ns();
        if (r)
            die(name, r);
        hist_record(&res->lat, b - a);
    }
    uint64_t t1 = clock_now_ns();
    int r = sluice_flush(db);
    if (r)
        die("flush", r);
    uint64_t t2 = clock_now_ns();
    struct sluice_stats st;
    if ((r = sluice_stats(db, &st)))
        die("stats", r);
    res->name = name;
    res->records = n;
    res->secs = (t1 - t0) / 1e9;
    double through_log = n / ((t2 - t0) / 1e9);
    snprintf(res->note, sizeof res->note,
             "through the log %.2f M rec/s; %.0f records per fdatasync; ring-full waits %" PRIu64,
             through_log / 1e6, st.fsyncs ? (double)st.puts / st.fsyncs : 0.0, st.ring_full_waits);
    if ((r = sluice_close(db)))
        die("close", r);
    free(dir);
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
    char k[32];
    const uint8_t *v;
    for (uint64_t j = 0; j < m->n; j++) {
        uint64_t i = j * (uint64_t)m->producers + (uint64_t)m->id;
        int kl = key_of(k, i);
        value_of(i, &v);
        uint64_t a = clock_now_ns();
        int r = sluice_put(m->db, k, (size_t)kl, m->base + i, v, VALUE_BYTES, SLUICE_ACK_DURABLE, NULL);
        if (r)
            die("put", r);
        hist_record(&m->lat, clock_now_ns() - a);
    }
    return NULL;
}

static void bench_durable_n(const struct cfg *c, int producers, struct result *res)
{
    static char name[32];
    snprintf(name, sizeof name, "put-durable-%d", producers);
    char *dir = fresh_dir(c, name);
    sluice_db *db = open_db(dir);
    wait_spare(db);
    uint64_t per = c->quick ? 500 : 4000;
    struct multi *m = calloc((size_t)producers, sizeof *m);
    pthread_t *t = calloc((size_t)producers, sizeof *t);
    uint64_t base = clock_realtime_ns(), t0 = clock_now_ns();
    for (int p = 0; p < producers; p++) {
        m[p] = (struct multi){.db = db, .n = per, .base = base, .id = p, .producers = producers};
        hist_init(&m[p].lat);
        pthread_create(&t[p], NULL, multi_producer, &m[p]);
    }
    hist_init(&res->lat);
    for (int p = 0; p < producers; p++) {
        pthread_join(t[p], NULL);
        hist_merge(&res->lat, &m[p].lat);
    }
    res->secs = (clock_now_ns() - t0) / 1e9;
    res->records = per * (uint64_t)producers;
    res->name = name;
    struct sluice_stats st;
    if (sluice_stats(db, &st) == 0)
        snprintf(res->note, sizeof res->note, "%.1f records per fdatasync (group commit)",
                 st.fsyncs ? (double)st.puts / st.fsyncs : 0.0);
    sluice_close(db);
    free(m);
    free(t);
    free(dir);
}

/* One producer at MEMORY, waiting for DURABLE every W records; latency per window. */
static void bench_window(const struct cfg *c, uint64_t w, struct result *res)
{
    char *dir = fresh_dir(c, "window-durable");
    sluice_db *db = open_db(dir);
    wait_spare(db);
    uint64_t n = c->quick ? 200000 : 2000000, ts = clock_realtime_ns(), lsn = 0;
    char k[32];
    const uint8_t *v;
    hist_init(&res->lat);
    uint64_t t0 = clock_now_ns(), wstart = t0;
    for (uint64_t i = 0; i < n; i++) {
        int kl = key_of(k, i);
        value_of(i, &v);
        int r = sluice_put(db, k, (size_t)kl, ts + i, v, VALUE_BYTES, SLUICE_ACK_MEMORY, &lsn);
        if (r)
            die("put", r);
        if ((i + 1) % w == 0) {
            if ((r = sluice_wait(db, lsn, SLUICE_ACK_DURABLE, 60000)))
                die("wait", r);
            uint64_t now = clock_now_ns();
            hist_record(&res->lat, now - wstart);
            wstart = now;
        }
    }
    res->secs = (clock_now_ns() - t0) / 1e9;
    res->records = n;
    res->name = "window-durable (W=1000)";
    snprintf(res->note, sizeof res->note, "latency is per window of 1000 records, put to durable");
    sluice_close(db);
    free(dir);
}

/* ---- plots: the latency curves of one workload, sluice and the peers on one chart ---- */

struct plot {
    char title[96], file[64];
    int n;
    char names[8][48];
    struct hist *h[8];
};

static void plot_add(struct plot *pl, const char *name, const struct hist *h)
{
    if (pl->n == 8)
        return;
    pl->h[pl->n] = malloc(sizeof *pl->h[pl->n]);
    if (!pl->h[pl->n])
        return;
    *pl->h[pl->n] = *h;
    snprintf(pl->names[pl->n], sizeof pl->names[pl->n], "%s", name);
    pl->n++;
}

static void plot_write(const struct cfg *c, struct plot *pl)
{
    if (c->plots && pl->n) {
        struct svg_series s[8];
        for (int i = 0; i < pl->n; i++)
            s[i] = (struct svg_series){pl->names[i], pl->h[i]};
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", c->plots, pl->file);
        if (svg_percentile_plot(path, pl->title, s, pl->n) == 0)
            fprintf(stderr, "sluice-bench: wrote %s\n", path);
    }
    for (int i = 0; i < pl->n; i++)
        free(pl->h[i]);
    pl->n = 0;
}

/* ---- the peers on the same records (peers.h): key || be64(ts) ---- */

static size_t peer_key(uint8_t *k, uint64_t i, uint64_t ts)
{
    char s[32];
    int n = key_of(s, i);
    memcpy(k, s, (size_t)n);
    for (int b = 7; b >= 0; b--, ts >>= 8)
        k[n + b] = (uint8_t)ts;
    return (size_t)n + 8;
}

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
    const uint8_t *v;
    for (uint64_t j = 0; j < pr->n; j += pr->w) {
        uint64_t a = clock_now_ns();
        pr->p->begin(t);
        for (uint64_t x = j; x < j + pr->w && x < pr->n; x++) {
            uint64_t i = x * (uint64_t)pr->threads + (uint64_t)pr->id;
            value_of(i, &v);
            pr->p->put(t, k, peer_key(k, i, pr->base + i), v, VALUE_BYTES);
        }
        pr->p->commit(t, pr->sync);
        hist_record(&pr->lat, clock_now_ns() - a);
    }
    pr->p->thread_close(t);
    return NULL;
}

/* One peer on one workload: `threads` writers, `w` records per commit, synced or not. */
static void bench_peer(const struct cfg *c, const struct peer *p, const char *workload, int threads,
                       uint64_t w, int sync, uint64_t n, struct result *res)
{
    static char name[64];
    snprintf(name, sizeof name, "  %s %s", p->name, workload);
    char dirname[96];
    snprintf(dirname, sizeof dirname, "peer-%s-%s", p->name, workload);
    char *dir = fresh_dir(c, dirname);
    void *store = p->store_open(dir);
    struct peer_run *runs = calloc((size_t)threads, sizeof *runs);
    pthread_t *th = calloc((size_t)threads, sizeof *th);
    uint64_t t0 = clock_now_ns(), base = clock_realtime_ns();
    for (int i = 0; i < threads; i++) {
        runs[i] = (struct peer_run){.p = p, .store = store, .n = n / (uint64_t)threads, .base = base,
                                    .w = w, .id = i, .threads = threads, .sync = sync};
        hist_init(&runs[i].lat);
        pthread_create(&th[i], NULL, peer_thread, &runs[i]);
    }
    hist_init(&res->lat);
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        hist_merge(&res->lat, &runs[i].lat);
    }
    res->secs = (clock_now_ns() - t0) / 1e9;
    res->records = n / (uint64_t)threads * (uint64_t)threads;
    res->name = name;
    snprintf(res->note, sizeof res->note, "%s%s", sync ? p->durability : "no sync",
             w > 1 ? "; latency per commit" : "");
    p->store_close(store);
    free(runs);
    free(th);
    free(dir);
}

static void print_row(const struct cfg *c, const struct result *r, double floor_p50);

/* The peers' rows for a sluice workload, right under it; sluice's own row is `own`. */
static void peers_for(const struct cfg *c, const char *workload, const struct result *own)
{
    struct plot pl = {0};
    snprintf(pl.title, sizeof pl.title, "%s: latency by percentile (sluice and peers)", workload);
    snprintf(pl.file, sizeof pl.file, "%s.svg", workload);
    plot_add(&pl, "sluice", &own->lat);
    for (int i = 0; c->peers && bench_peers[i]; i++) {
        struct result r;
        memset(&r, 0, sizeof r);
        if (!strcmp(workload, "put-written")) /* sluice's WRITTEN = the peers' no-sync put */
            bench_peer(c, bench_peers[i], workload, 1, 1, 0, c->quick ? 20000 : 200000, &r);
        else if (!strcmp(workload, "put-durable"))
            bench_peer(c, bench_peers[i], workload, 1, 1, 1, c->quick ? 300 : 2000, &r);
        else if (!strcmp(workload, "put-durable-8"))
            bench_peer(c, bench_peers[i], workload, 8, 1, 1, c->quick ? 2000 : 16000, &r);
        else if (!strcmp(workload, "window-durable"))
            bench_peer(c, bench_peers[i], workload, 1, 1000, 1, c->quick ? 100000 : 1000000, &r);
        else
            break;
        print_row(c, &r, 0);
        fflush(stdout);
        plot_add(&pl, bench_peers[i]->name, &r.lat);
    }
    plot_write(c, &pl);
}

/* Open loop: one producer at MEMORY acks, requests due at a fixed rate — a fraction of
 * the maximum measured in the same run — latency from each request's due time. */
static void bench_openloop(const struct cfg *c)
{
    char *dir = fresh_dir(c, "open-loop-max");
    sluice_db *db = open_db(dir);
    wait_spare(db);
    char k[32];
    const uint8_t *v;
    /* the maximum: closed loop, many times what the ring holds, until all is durable —
     * the rate the log sustains, not the speed of filling an empty ring */
    uint64_t n = c->quick ? 1500000 : 4000000, ts = clock_realtime_ns(), t0 = clock_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        int kl = key_of(k, i);
        value_of(i, &v);
        int r = sluice_put(db, k, (size_t)kl, ts + i, v, VALUE_BYTES, SLUICE_ACK_MEMORY, NULL);
        if (r)
            die("put", r);
    }
    int fr = sluice_flush(db);
    if (fr)
        die("flush", fr);
    double max_rate = n / ((clock_now_ns() - t0) / 1e9);
    sluice_close(db);
    free(dir);
    struct plot pl = {0};
    snprintf(pl.title, sizeof pl.title, "open loop, MEMORY puts: latency from the due time");
    snprintf(pl.file, sizeof pl.file, "open-loop.svg");
    static const int pct[] = {10, 50, 80, 95};
    for (int f = 0; f < 4; f++) {
        uint64_t rate = (uint64_t)(max_rate * pct[f] / 100);
        uint64_t m = c->quick ? rate / 4 : rate * 2; /* a quarter second, or two seconds */
        char name[64];
        snprintf(name, sizeof name, "open-loop %d%%", pct[f]);
        dir = fresh_dir(c, "open-loop");
        db = open_db(dir);
        wait_spare(db);
        struct result res;
        memset(&res, 0, sizeof res);
        hist_init(&res.lat);
        uint64_t start = clock_now_ns() + 1000000;
        for (uint64_t i = 0; i < m; i++) {
            uint64_t due = openloop_due(start, i, rate);
            while (clock_now_ns() < due)
                ;
            int kl = key_of(k, i);
            value_of(i, &v);
            int r = sluice_put(db, k, (size_t)kl, ts + i, v, VALUE_BYTES, SLUICE_ACK_MEMORY, NULL);
            if (r)
                die("put", r);
            hist_record(&res.lat, openloop_latency(due, clock_now_ns()));
        }
        res.secs = (clock_now_ns() - start) / 1e9;
        res.records = m;
        res.name = name;
        snprintf(res.note, sizeof res.note, "%.2f M/s due (%d%% of the %.2f M/s sustained closed loop)",
                 rate / 1e6, pct[f], max_rate / 1e6);
        print_row(c, &res, 0);
        fflush(stdout);
        plot_add(&pl, name, &res.lat);
        sluice_close(db);
        free(dir);
    }
    plot_write(c, &pl);
}

static void print_row(const struct cfg *c, const struct result *r, double floor_p50)
{
    const struct hist *h = &r->lat;
    double us[5] = {hist_percentile(h, 50) / 1e3, hist_percentile(h, 99) / 1e3,
                    hist_percentile(h, 99.9) / 1e3, hist_percentile(h, 99.99) / 1e3,
                    h->max / 1e3};
    char ratio[32] = "";
    if (floor_p50 > 0 && strncmp(r->name, "put-durable", 11) == 0)
        snprintf(ratio, sizeof ratio, "p50 %.2fx disk", us[0] * 1e3 / floor_p50);
    if (c->markdown)
        printf("| %s | %" PRIu64 " | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f | %s %s |\n", r->name,
               r->records, r->records / r->secs, us[0], us[1], us[2], us[3], us[4], ratio, r->note);
    else
        printf("%-26s %9" PRIu64 " %12.0f %9.2f %9.2f %9.2f %9.2f %10.2f  %s %s\n", r->name,
               r->records, r->records / r->secs, us[0], us[1], us[2], us[3], us[4], ratio, r->note);
}

static void machine(const struct cfg *c)
{
    char m[1024];
    bench_machine(c->dir, m, sizeof m);
    printf("%smachine: %s\n", c->markdown ? "" : "# ", m);
}

int main(int argc, char **argv)
{
    struct cfg c = {.dir = NULL, .peers = 1};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            c.quick = 1;
        else if (!strcmp(argv[i], "--markdown"))
            c.markdown = 1;
        else if (!strcmp(argv[i], "--no-peers"))
            c.peers = 0;
        else if (!strcmp(argv[i], "--plots") && i + 1 < argc)
            c.plots = argv[++i];
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            c.dir = argv[++i];
        else if (!strcmp(argv[i], "--workload") && i + 1 < argc)
            c.only = argv[++i];
        else {
            fprintf(stderr, "usage: sluice-bench [--quick] [--dir DIR] [--workload a,b] [--markdown] [--no-peers] [--plots DIR]\n"
                            "workloads: disk disk-qd put-memory put-memory-nostats put-written put-durable put-durable-8 window-durable open-loop recovery\n");
            return 2;
        }
    }
    char tmpl[] = "/var/tmp/sluice-bench-XXXXXX";
    if (!c.dir && !(c.dir = mkdtemp(tmpl))) {
        perror("mkdtemp");
        return 2;
    }
    mkdir(c.dir, 0755);
    random_values = malloc(POOL);
    uint64_t s = 0x243f6a8885a308d3ull;
    for (size_t i = 0; i < POOL; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        random_values[i] = (uint8_t)s;
    }
    machine(&c);
    printf("%s\n", c.quick ? "mode: --quick" : "mode: full");
    if (c.markdown)
        printf("\n| workload | records | records/s | p50 µs | p99 µs | p99.9 µs | p99.99 µs | max µs | notes |\n"
               "|---|---|---|---|---|---|---|---|---|\n");
    else
        printf("%-26s %9s %12s %9s %9s %9s %9s %10s  %s\n", "workload", "records", "records/s",
               "p50 µs", "p99 µs", "p99.9 µs", "p99.99 µs", "max µs", "notes");
    fflush(stdout);
    struct result r;
    double floor_p50 = 0;
    /* the disk floor first: every durable figure is read against it */
    if (selected(&c, "disk") || selected(&c, "put-durable") || selected(&c, "put-durable-8")) {
        memset(&r, 0, sizeof r);
        bench_disk(&c, &r);
        floor_p50 = (double)hist_percentile(&r.lat, 50);
        print_row(&c, &r, 0);
    }
    if (selected(&c, "disk-qd") || selected(&c, "put-durable-8")) {
        bench_disk_qd(&c);
        fflush(stdout);
    }
    uint64_t big = c.quick ? 300000 : 3000000;
    struct {
        const char *name;
        int ack;
        uint64_t n;
    } singles[] = {{"put-memory", SLUICE_ACK_MEMORY, big},
                   {"put-memory-nostats", SLUICE_ACK_MEMORY, big},
                   {"put-written", SLUICE_ACK_WRITTEN, c.quick ? 20000 : 100000},
                   {"put-durable", SLUICE_ACK_DURABLE, c.quick ? 1000 : 5000}};
    for (size_t i = 0; i < sizeof singles / sizeof singles[0]; i++) {
        if (!selected(&c, singles[i].name))
            continue;
        memset(&r, 0, sizeof r);
        bench_single(&c, singles[i].name, singles[i].ack, singles[i].n, &r);
        print_row(&c, &r, floor_p50);
        fflush(stdout);
        peers_for(&c, singles[i].name, &r);
    }
    if (selected(&c, "put-durable-8")) {
        memset(&r, 0, sizeof r);
        bench_durable_n(&c, 8, &r);
        print_row(&c, &r, floor_p50);
        peers_for(&c, "put-durable-8", &r);
    }
    if (selected(&c, "window-durable")) {
        memset(&r, 0, sizeof r);
        bench_window(&c, 1000, &r);
        print_row(&c, &r, 0);
        peers_for(&c, "window-durable", &r);
    }
    if (selected(&c, "open-loop")) {
        bench_openloop(&c);
    }
    if (selected(&c, "recovery")) {
        bench_recovery(&c);
        fflush(stdout);
    }
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'/put-* '%s'/window-durable '%s'/recovery '%s'/peer-* '%s'/open-loop*", c.dir,
             c.dir, c.dir, c.dir, c.dir);
    if (system(cmd) != 0)
        return 2;
    free(random_values);
    return 0;
}
