/*
 * The reference rates the open-loop, soak and mixed workloads are set against, measured
 * in the same run: what the log sustains behind one MEMORY producer, and what it
 * sustains with compaction keeping up. A row that already ran is reused.
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "clock.h"
#include "common.h"
#include "peers.h"
#include "report.h"

/* The rate the log sustains closed loop: many times what the ring holds, until all is
 * durable, not the speed of filling an empty ring. */
double bench_sustained_rate(const struct cfg *c)
{
    const struct result *r = report_find("put-memory through the log");
    if (r)
        return r->records / r->secs;
    char *dir = fresh_dir(c, "sustained");
    sluice_db *db = bench_open(dir);
    bench_wait_spare(db);
    uint64_t n = c->quick ? 1500000 : 4000000, ts = clock_realtime_ns(), t0 = clock_now_ns();
    for (uint64_t i = 0; i < n; i++)
        bench_put(db, i, ts + i, SLUICE_ACK_MEMORY, NULL);
    int fr = sluice_flush(db);
    if (fr)
        die("flush", fr);
    double rate = n / ((clock_now_ns() - t0) / 1e9);
    sluice_close(db);
    free(dir);
    return rate;
}

/* The rate one MEMORY producer sustains with compaction keeping up: closed-loop puts
 * with automatic compaction, timed until sluice_compact has the last of them in the cold
 * tier. A workload that runs for seconds at a fraction of the log's burst rate alone
 * would outrun the compactor and measure the backlog limit instead. */
double bench_end_to_end_rate(const struct cfg *c)
{
    const struct result *r = report_find("put-memory with compaction");
    if (r)
        return r->records / r->secs;
    char *dir = fresh_dir(c, "end-to-end");
    sluice_db *db = bench_open(dir);
    bench_wait_spare(db);
    uint64_t n = c->quick ? 1500000 : 6000000, ts = clock_realtime_ns();
    struct result res;
    result_init(&res, "put-memory with compaction");
    struct meter m;
    meter_start(&m);
    for (uint64_t i = 0; i < n; i++)
        bench_put(db, i, ts + i, SLUICE_ACK_MEMORY, NULL);
    int rc = sluice_compact(db);
    if (rc)
        die("compact", rc);
    meter_stop(&m, &res);
    res.records = n;
    res.user_bytes = (double)n * USER_BYTES;
    snprintf(res.note, sizeof res.note, "closed loop, automatic compaction, until all was in the cold tier");
    report_row(c, &res);
    sluice_close(db);
    free(dir);
    return n / res.secs;
}
