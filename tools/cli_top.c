/*
 * sluice top, and the live half of sluice stats: both read DIR/stats.live, the snapshot
 * a writing process publishes every stats_interval_ms (sluice_stats_read_live), under its
 * sequence lock: a copy counts only if the sequence was even and unchanged around it and
 * the CRC of what was copied matches.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


static uint64_t num(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

static uint64_t hnum(json_t *o, const char *h, const char *k)
{
    return num(json_object_get(json_object_get(o, "histograms"), h), k);
}

/* One frame of top; prev may be NULL (no rates yet). */
static void frame(const char *dir, const sluice_live_stats *live, json_t *cur, json_t *prev, int held)
{
    double dt = prev ? (num(cur, "time_ns") - num(prev, "time_ns")) / 1e9 : 0;
#define RATE(k) (prev && dt > 0 ? (num(cur, k) - num(prev, k)) / dt : 0.0)
    char when[48];
    cli_format_ts(live->time_ns, 1, when);
    printf("sluice top %s   pid %u   %s%s\n\n", dir, live->pid, when,
           held ? "" : "   (no writer holds the directory: its last snapshot)");
    printf("  rates /s      records %10.0f   user MB %7.2f   log MB %7.2f   cold records %10.0f\n",
           RATE("records_total"), RATE("user_bytes_total") / 1e6, RATE("log_bytes_total") / 1e6,
           RATE("cold_records_total"));
    printf("                writes %9.0f   fsyncs %9.0f   compactions %5.1f   rejected %6.0f\n",
           RATE("log_writes_total"), RATE("fsyncs_total"), RATE("compaction_rounds_total"),
           RATE("rejected_ring_full_total") + RATE("rejected_timeout_total") +
               RATE("rejected_poisoned_total") + RATE("rejected_invalid_total"));
#undef RATE
    uint64_t ring = num(cur, "ring_bytes");
    printf("  positions     claimed %" PRIu64 "  durable %" PRIu64 "  compacted %" PRIu64 "\n",
           num(cur, "claimed_lsn"), num(cur, "durable_lsn"), num(cur, "compacted_lsn"));
    printf("  ring          %5.1f%% of %.0f MB       log backlog %.1f MB, oldest segment %.1f s\n",
           ring ? 100.0 * num(cur, "ring_used_bytes") / ring : 0.0, ring / 1e6,
           num(cur, "log_backlog_bytes") / 1e6, num(cur, "log_backlog_age_ns") / 1e9);
    printf("  freshness     indexed %8.1f ms   durable %8.1f ms   cold %10.1f ms\n",
           num(cur, "freshness_indexed_ns") / 1e6, num(cur, "freshness_durable_ns") / 1e6,
           num(cur, "freshness_cold_ns") / 1e6);
    printf("  lmdb          %.1f MB used, %.1f MB free, map %.0f MB      %s\n\n",
           num(cur, "lmdb_used_bytes") / 1e6, num(cur, "lmdb_free_bytes") / 1e6,
           num(cur, "lmdb_map_bytes") / 1e6, num(cur, "poisoned") ? "POISONED" : "healthy");
    printf("  %-18s %10s %10s %10s %10s %10s\n", "latency µs", "count", "p50", "p99", "p99.9", "max");
    static const char *const h[][2] = {{"put_memory_ns", "put MEMORY"}, {"put_written_ns", "put WRITTEN"},
                                       {"put_durable_ns", "put DURABLE"}, {"ring_blocked_ns", "ring blocked"},
                                       {"log_write_ns", "log write"}, {"fsync_ns", "fsync"},
                                       {"compaction_round_ns", "compaction round"},
                                       {"put_to_cold_ns", "put to cold"}};
    for (size_t i = 0; i < sizeof h / sizeof h[0]; i++)
        printf("  %-18s %10" PRIu64 " %10.1f %10.1f %10.1f %10.1f\n", h[i][1], hnum(cur, h[i][0], "count"),
               hnum(cur, h[i][0], "p50") / 1e3, hnum(cur, h[i][0], "p99") / 1e3,
               hnum(cur, h[i][0], "p999") / 1e3, hnum(cur, h[i][0], "max") / 1e3);
    printf("  %-18s %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10" PRIu64 "   (records per write)\n",
           "batch", hnum(cur, "batch_records", "count"), hnum(cur, "batch_records", "p50"),
           hnum(cur, "batch_records", "p99"), hnum(cur, "batch_records", "p999"),
           hnum(cur, "batch_records", "max"));
}

int cli_top(int argc, char **argv)
{
    const char *dir = NULL, *v;
    uint64_t interval = 1000, count = 0;
    for (int i = 2; i < argc; i++) {
        int m;
        if ((m = cli_opt(argc, argv, &i, "--interval", &v)) != 0) {
            if (m < 0 || cli_u64(v, &interval) || interval < 10)
                return cli_fail("top", CLI_USAGE, "--interval is milliseconds, at least 10");
        } else if ((m = cli_opt(argc, argv, &i, "--count", &v)) != 0) {
            if (m < 0 || cli_u64(v, &count))
                return cli_fail("top", CLI_USAGE, "--count needs a number");
        } else if (argv[i][0] == '-' || dir) {
            return cli_fail("top", CLI_USAGE, "usage: sluice top DIR [--interval MS] [--count N]");
        } else {
            dir = argv[i];
        }
    }
    if (!dir)
        return cli_fail("top", CLI_USAGE, "usage: sluice top DIR [--interval MS] [--count N]");
    int tty = isatty(STDOUT_FILENO);
    json_t *prev = NULL;
    for (uint64_t n = 0; !count || n < count; n++) {
        if (n) {
            struct timespec nap = {(time_t)(interval / 1000), (long)(interval % 1000) * 1000000L};
            nanosleep(&nap, NULL);
        }
        sluice_live_stats live;
        int r = sluice_stats_read_live(dir, &live);
        if (r) {
            json_decref(prev);
            if (r == -ENOENT || r == SLUICE_NOTFOUND)
                return cli_fail("top", CLI_ABSENT, "%s: no live stats (no process has written it with "
                                                   "stats_interval_ms > 0)", dir);
            return cli_fail("top", cli_code(r), "%s/stats.live: %s", dir,
                            r < 0 && r > -4096 ? strerror(-r) : sluice_strerror(r));
        }
        json_error_t je;
        json_t *cur = json_loads(live.json, 0, &je);
        if (!cur) {
            sluice_live_stats_free(&live);
            json_decref(prev);
            return cli_fail("top", CLI_ABSENT, "%s/stats.live: bad snapshot: %s", dir, je.text);
        }
        if (tty)
            fputs("\033[H\033[2J", stdout);
        else if (n)
            fputs("\n", stdout);
        char lock[4200];
        snprintf(lock, sizeof lock, "%s/LOCK", dir);
        frame(dir, &live, cur, prev, cli_lock_held(lock));
        fflush(stdout);
        sluice_live_stats_free(&live);
        json_decref(prev);
        prev = cur;
    }
    json_decref(prev);
    return CLI_OK;
}
