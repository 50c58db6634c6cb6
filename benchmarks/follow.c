/*
 * follow: what a downstream consumer of sluice sees (sluice_tail).
 *  - tail-memory, tail-durable: one producer puts at MEMORY on an open-loop schedule of
 *    100 k records/s while a consumer thread tails at MEMORY or DURABLE; each record's
 *    latency runs from the return of its put to the return of the sluice_tail_next that
 *    delivered it. At DURABLE that includes the writer's wait to fill a write
 *    (memory_delay_us, 2 ms by default) and the write itself: the price of a consumer
 *    never seeing a record a power cut could take back.
 *  - tail-catch-up: a consumer 10 M records (1 M with --quick) behind reads them all from
 *    compacted segments kept for replay (replay_retain_bytes): records/s.
 * No peer has a tail to compare with in the same run (RocksDB's GetUpdatesSince is not
 * in Debian's C API); docs/benchmarks.md says so.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "clock.h"
#include "openloop.h"
#include "peers.h"
#include "report.h"

#define FOLLOW_RATE 100000

struct follower {
    sluice_db *db;
    int level;
    uint64_t first, n;
    _Atomic uint64_t *returned; /* per record: when its put returned (0: not yet) */
    struct hist *lat;
    int err;
};

static void *follow_thread(void *arg)
{
    struct follower *f = arg;
    sluice_tail *t;
    if ((f->err = sluice_tail_open(f->db, f->first, f->level, &t)))
        return NULL;
    for (uint64_t i = 0; i < f->n; i++) {
        sluice_tail_record rec;
        if ((f->err = sluice_tail_next(t, &rec, 10000)))
            break;
        uint64_t now = clock_now_ns();
        if (rec.lsn != f->first + i) {
            f->err = SLUICE_EINTERNAL;
            break;
        }
        /* at MEMORY a record is visible once published, a moment before its put returns */
        uint64_t back;
        while (!(back = atomic_load_explicit(&f->returned[i], memory_order_acquire)))
            ;
        hist_record(f->lat, now > back ? now - back : 0);
    }
    sluice_tail_close(t);
    return NULL;
}

static void follow_latency(const struct cfg *c, const char *name, int level)
{
    char *dir = fresh_dir(c, name);
    sluice_db *db = bench_open(dir);
    bench_wait_spare(db);
    uint64_t n = c->quick ? FOLLOW_RATE / 2 : FOLLOW_RATE * 10ull;
    struct result res;
    result_init(&res, name);
    struct follower f = {.db = db, .level = level, .n = n, .lat = &res.lat};
    f.returned = calloc(n, sizeof *f.returned);
    struct sluice_stats st;
    if (sluice_stats(db, &st))
        die("stats", SLUICE_EINTERNAL);
    f.first = st.claimed_lsn + 1;
    pthread_t th;
    pthread_create(&th, NULL, follow_thread, &f);
    uint64_t ts = clock_realtime_ns();
    struct meter m;
    meter_start(&m);
    uint64_t start = clock_now_ns() + 1000000;
    for (uint64_t i = 0; i < n; i++) {
        openloop_wait(openloop_due(start, i, FOLLOW_RATE));
        bench_put(db, i, ts + i, SLUICE_ACK_MEMORY, NULL);
        atomic_store_explicit(&f.returned[i], clock_now_ns(), memory_order_release);
    }
    pthread_join(th, NULL);
    meter_stop(&m, &res);
    if (f.err)
        die("tail", f.err);
    res.records = n;
    snprintf(res.note, sizeof res.note, "put return -> sluice_tail_next return, %s tail, %d k/s open loop",
             level == SLUICE_ACK_MEMORY ? "MEMORY" : "DURABLE", FOLLOW_RATE / 1000);
    report_row(c, &res);
    free(f.returned);
    sluice_close(db);
    free(dir);
}

static void follow_catch_up(const struct cfg *c)
{
    char *dir = fresh_dir(c, "tail-catch-up");
    sluice_options o;
    sluice_options_init(&o);
    o.replay_retain_bytes = 1ull << 40;
    o.stats_interval_ms = 0;
    sluice_db *db;
    int r = sluice_open(dir, &o, &db);
    if (r)
        die("open", r);
    uint64_t n = c->quick ? 1000000 : 10000000, ts = clock_realtime_ns();
    for (uint64_t i = 0; i < n; i++)
        bench_put(db, i, ts + i, SLUICE_ACK_MEMORY, NULL);
    if ((r = sluice_compact(db)))
        die("compact", r);
    /* from the page cache, as a consumer right behind would read them; the device's
     * read rate is in the limits rows */
    struct result res;
    result_init(&res, "tail-catch-up");
    sluice_tail *t;
    if ((r = sluice_tail_open(db, 1, SLUICE_ACK_DURABLE, &t)))
        die("tail_open", r);
    struct meter m;
    meter_start(&m);
    uint64_t got = 0, sum = 0;
    sluice_tail_record rec;
    while ((r = sluice_tail_next(t, &rec, 0)) == 0) {
        sum += rec.vlen;
        got++;
    }
    meter_stop(&m, &res);
    sluice_tail_close(t);
    if (r != SLUICE_ETIMEDOUT || got != n)
        die("catch-up", r ? r : SLUICE_EINTERNAL);
    res.records = got;
    snprintf(res.note, sizeof res.note,
             "%" PRIu64 " records behind, all compacted and read from DIR/replay and the log "
             "(page cache), each CRC-checked; %.1f GB/s of values", n, (double)sum / res.secs / 1e9);
    report_row(c, &res);
    sluice_close(db);
    free(dir);
}

void bench_follow(const struct cfg *c)
{
    if (selected(c, "tail-memory"))
        follow_latency(c, "tail-memory", SLUICE_ACK_MEMORY);
    if (selected(c, "tail-durable"))
        follow_latency(c, "tail-durable", SLUICE_ACK_DURABLE);
    if (selected(c, "tail-catch-up"))
        follow_catch_up(c);
}
