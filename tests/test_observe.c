/*
 * Observability: counters exact against known workloads, rejections counted by reason,
 * histogram counts and sums that add up, the Prometheus text checked line by line, the
 * JSON parsed, events delivered, the live stats file read by another process while the
 * writer publishes (never torn), and `sluice top` drawn in a tmux pane.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "db.h"
#include "fault_io.h"
#include "stats_file.h"
#include "util.h"

static char *dir;
static void setup(void) { dir = tu_mkdtemp(); }
static void teardown(void) { tu_rmdir(dir); }
TestSuite(observe, .init = setup, .fini = teardown);

static sluice_db *open_with(sluice_options *o)
{
    sluice_db *db;
    char err[256] = "";
    o->errbuf = err;
    o->errbuf_bytes = sizeof err;
    int r = sluice_open(dir, o, &db);
    cr_assert_eq(r, 0, "%s: %s", sluice_errname(r), err);
    return db;
}

static struct sluice_stats stats(sluice_db *db)
{
    struct sluice_stats s;
    cr_assert_eq(sluice_stats(db, &s), 0);
    return s;
}

Test(observe, counters_match_the_workload_exactly)
{
    sluice_options o;
    sluice_options_init(&o);
    o.io_backend = SLUICE_IO_POSIX_BUFFERED;
    sluice_db *db = open_with(&o);
    uint64_t bytes = 0;
    char k[16], v[64];
    enum { N = 1600, D = 40 };
    for (int i = 0; i < N; i++) {
        int kl = sprintf(k, "key-%d", i % 37), vl = sprintf(v, "value-%0*d", i % 30, i);
        cr_assert_eq(sluice_put(db, k, (size_t)kl, (uint64_t)i, v, (size_t)vl, SLUICE_ACK_MEMORY, NULL), 0);
        bytes += (uint64_t)(kl + vl);
    }
    for (int i = 0; i < D; i++)
        cr_assert_eq(sluice_put(db, "durable", 7, (uint64_t)i, "d", 1, SLUICE_ACK_DURABLE, NULL), 0);
    bytes += D * 8;
    /* refused puts, by reason */
    cr_assert_eq(sluice_put(db, "", 0, 1, "v", 1, SLUICE_ACK_MEMORY, NULL), SLUICE_EINVAL);
    cr_assert_eq(sluice_put(db, "k", 1, 1, NULL, 5, SLUICE_ACK_MEMORY, NULL), SLUICE_EINVAL);
    cr_assert_eq(sluice_put(db, "k", 1, 1, "v", 1, 42, NULL), SLUICE_EINVAL);
    cr_assert_eq(sluice_flush(db), 0);
    struct sluice_stats s = stats(db);
    cr_expect_eq(s.puts, N + D);
    cr_expect_eq(s.put_bytes, bytes);
    cr_expect_eq(s.rejected_invalid, 3);
    cr_expect_eq(s.rejected_full + s.rejected_timeout + s.rejected_poisoned, 0);
    cr_expect_eq(s.newest_ts_indexed, N - 1);
    cr_expect_eq(s.newest_ts_durable, N - 1);

    /* every timed put is either in its histogram or counted as dropped (its stripe was
     * being copied by the stats publisher at that moment) */
    sluice_hist_summary h, hm;
    cr_assert_eq(sluice_stats_hist(db, SLUICE_HIST_PUT_DURABLE, &h), 0);
    cr_assert_eq(sluice_stats_hist(db, SLUICE_HIST_PUT_MEMORY, &hm), 0);
    cr_expect_eq(h.count + hm.count + s.put_samples_dropped, D + N / 16,
                 "every DURABLE put and one MEMORY put in 16 is timed: %llu + %llu + %llu dropped",
                 (unsigned long long)h.count, (unsigned long long)hm.count,
                 (unsigned long long)s.put_samples_dropped);
    cr_expect(h.count <= D && hm.count <= N / 16);
    cr_expect(h.min > 0 && h.p50 >= h.min && h.p99 >= h.p50 && h.max >= h.p99);
    cr_assert_eq(sluice_stats_hist(db, SLUICE_HIST_BATCH_RECORDS, &h), 0);
    cr_expect_eq(h.sum, N + D, "every record went out in exactly one write");
    cr_expect_eq(h.count, s.batches);
    cr_assert_eq(sluice_stats_hist(db, SLUICE_HIST_FSYNC, &h), 0);
    cr_expect_gt(h.count, 0, "buffered mode: separate fdatasyncs");
    cr_assert_eq(sluice_compact(db), 0);
    cr_assert_eq(sluice_stats_hist(db, SLUICE_HIST_COMPACTION, &h), 0);
    cr_expect_geq(h.count, 1);
    s = stats(db);
    cr_expect_eq(s.newest_ts_cold, N - 1);
    cr_expect_eq(s.compacted_records, N + D);
    cr_expect_eq(sluice_stats_hist(db, SLUICE_HIST_COUNT_, &h), SLUICE_EINVAL);
    cr_assert_eq(sluice_close(db), 0);
}

Test(observe, a_full_ring_counts_every_refusal_and_marks_backpressure)
{
    sluice_options o;
    sluice_options_init(&o);
    o.ring_bytes = 64 << 10;
    o.full_policy = SLUICE_FULL_FAIL;
    o.io_backend = SLUICE_IO_POSIX_BUFFERED;
    sluice_db *db = open_with(&o);
    static char v[8000];
    int busy = 0;
    for (int i = 0; i < 3000; i++) {
        int r = sluice_put(db, "k", 1, (uint64_t)i, v, sizeof v, SLUICE_ACK_MEMORY, NULL);
        cr_assert(r == 0 || r == SLUICE_EBUSY, "%s", sluice_errname(r));
        busy += r == SLUICE_EBUSY;
    }
    cr_assert_gt(busy, 0, "a burst of 24 MB into a 64 KiB ring must meet a full ring");
    struct sluice_stats s = stats(db);
    cr_expect_eq(s.rejected_full, (uint64_t)busy);
    cr_expect_eq(s.ring_full_rejections, (uint64_t)busy);
    cr_expect_eq(s.rejected_timeout, 0);
    cr_assert_eq(sluice_close(db), 0);
}

Test(observe, puts_that_time_out_on_a_full_ring_are_counted_as_such)
{
    sluice_options o;
    sluice_options_init(&o);
    o.ring_bytes = 64 << 10;
    o.full_policy = SLUICE_FULL_BLOCK;
    o.put_timeout_ms = 1;
    o.default_ack = SLUICE_ACK_MEMORY;
    sluice_db *db = open_with(&o);
    static char v[8000];
    int timeouts = 0, ok = 0;
    for (int i = 0; i < 3000; i++) {
        int r = sluice_put(db, "k", 1, (uint64_t)i, v, sizeof v, SLUICE_ACK_MEMORY, NULL);
        cr_assert(r == 0 || r == SLUICE_ETIMEDOUT, "%s", sluice_errname(r));
        timeouts += r == SLUICE_ETIMEDOUT;
        ok += r == 0;
    }
    cr_assert_eq(sluice_flush(db), 0);
    fprintf(stderr, "observe: %d of 3000 puts timed out on the full ring\n", timeouts);
    struct sluice_stats s = stats(db);
    cr_expect_eq(s.rejected_timeout, (uint64_t)timeouts);
    cr_expect_eq(s.rejected_full, 0);
    cr_expect_eq(s.puts, (uint64_t)ok);
    sluice_hist_summary h;
    cr_assert_eq(sluice_stats_hist(db, SLUICE_HIST_RING_BLOCKED, &h), 0);
    cr_expect_eq(h.count, s.ring_full_waits, "every sleep on the full ring is in the histogram");
    cr_assert_eq(sluice_close(db), 0);
}

static int events[16];
static void count_event(void *arg, const struct sluice_event *ev)
{
    (void)arg;
    if (ev->type > 0 && ev->type < 16)
        __atomic_fetch_add(&events[ev->type], 1, __ATOMIC_RELAXED);
}

Test(observe, events_for_roll_backpressure_and_poison)
{
    memset(events, 0, sizeof events);
    sluice_options o;
    sluice_options_init(&o);
    o.ring_bytes = 64 << 10;
    o.segment_bytes = 256 << 10;
    o.full_policy = SLUICE_FULL_BLOCK;
    o.on_event = count_event;
    struct io *real;
    cr_assert_eq(io_create(SLUICE_IO_POSIX, &real), 0);
    struct io *faulty = fault_io_create(real, IO_OP_WRITE, 400, -EIO);
    o.io_backend = SLUICE_IO_POSIX;
    sluice_db *db;
    cr_assert_eq(db_open_with_io(dir, &o, faulty, &db), 0);
    static char v[8000];
    int r = 0;
    for (int i = 0; i < 5000 && r == 0; i++)
        r = sluice_put(db, "k", 1, (uint64_t)i, v, sizeof v, SLUICE_ACK_MEMORY, NULL);
    cr_expect_eq(r, SLUICE_EPOISONED, "the 400th write fails: %s", sluice_errname(r));
    struct sluice_stats s = stats(db);
    cr_expect_eq(s.rejected_poisoned, 1, "the one put refused");
    cr_expect_eq(sluice_put(db, "k", 1, 1, "v", 1, SLUICE_ACK_MEMORY, NULL), SLUICE_EPOISONED);
    s = stats(db);
    cr_expect_eq(s.rejected_poisoned, 2);
    cr_expect_eq(s.poison_error, -EIO);
    sluice_close(db);
    cr_expect_gt(events[SLUICE_EVENT_SEGMENT_ROLL], 1);
    cr_expect_gt(events[SLUICE_EVENT_BACKPRESSURE_BEGIN], 0);
    cr_expect_eq(events[SLUICE_EVENT_BACKPRESSURE_BEGIN], events[SLUICE_EVENT_BACKPRESSURE_END]);
    cr_expect_eq(events[SLUICE_EVENT_POISON], 1);
}

/* Compaction and map growth, made to happen by sluice_compact on a 1 MiB map (the
 * compactor runs at SCHED_IDLE: waiting for its own rounds would be a race). */
Test(observe, events_for_compaction_and_map_growth)
{
    memset(events, 0, sizeof events);
    sluice_options o;
    sluice_options_init(&o);
    o.io_backend = SLUICE_IO_POSIX_BUFFERED;
    o.manual_compaction = 1;
    o.cold_map_bytes = 1u << 20;
    o.on_event = count_event;
    sluice_db *db = open_with(&o);
    static char v[200];
    char k[16];
    for (int i = 0; i < 20000; i++) {
        tu_fill(v, sizeof v, (uint64_t)i); /* incompressible: 4 MB of blocks */
        int kl = sprintf(k, "k%d", i % 100);
        cr_assert_eq(sluice_put(db, k, (size_t)kl, (uint64_t)i, v, sizeof v, SLUICE_ACK_MEMORY, NULL), 0);
    }
    cr_expect_eq(events[SLUICE_EVENT_COMPACTION_DONE], 0, "manual: nothing compacts by itself");
    cr_assert_eq(sluice_compact(db), 0);
    struct sluice_stats s = stats(db);
    cr_expect_eq((uint64_t)events[SLUICE_EVENT_COMPACTION_DONE], s.compaction_rounds);
    cr_expect_geq(events[SLUICE_EVENT_MAP_GROWTH], 1, "4 MB into a 1 MiB map");
    cr_expect_leq((uint64_t)events[SLUICE_EVENT_MAP_GROWTH], s.map_growths,
                  "one event per round that grew the map, which may double it more than once");
    cr_assert_eq(sluice_close(db), 0);
}

/* ---- the text formats ---- */

static char *format(sluice_db *db, int fmt)
{
    size_t len = 0;
    cr_assert_eq(sluice_stats_format(db, fmt, NULL, 0, &len), SLUICE_ERANGE);
    char *buf = malloc(len + 1);
    size_t len2;
    cr_assert_eq(sluice_stats_format(db, fmt, buf, len + 1, &len2), 0);
    cr_assert_leq(len2, len + 64); /* time moved on between the two calls */
    return buf;
}

static sluice_db *busy_db(void)
{
    sluice_options o;
    sluice_options_init(&o);
    o.io_backend = SLUICE_IO_POSIX_BUFFERED;
    o.stats_interval_ms = 0; /* no publisher copying the stripes: no sample is dropped */
    sluice_db *db = open_with(&o);
    for (int i = 0; i < 200; i++)
        cr_assert_eq(sluice_put(db, "k", 1, (uint64_t)i, "v", 1, i % 10 ? SLUICE_ACK_MEMORY : SLUICE_ACK_DURABLE, NULL), 0);
    cr_assert_eq(sluice_compact(db), 0);
    return db;
}

Test(observe, prometheus_text_is_well_formed_line_by_line)
{
    sluice_db *db = busy_db();
    char *text = format(db, SLUICE_FMT_PROMETHEUS);
    regex_t help, type, sample;
    cr_assert_eq(regcomp(&help, "^# HELP sluice_[a-z_]+ [^\n]+$", REG_EXTENDED), 0);
    cr_assert_eq(regcomp(&type, "^# TYPE sluice_[a-z_]+ (counter|gauge|histogram)$", REG_EXTENDED), 0);
    cr_assert_eq(regcomp(&sample, "^sluice_[a-z_]+(\\{le=\"([0-9.e+-]+|\\+Inf)\"\\})? -?[0-9]+(\\.[0-9]+)?(e[+-]?[0-9]+)?$",
                         REG_EXTENDED), 0);
    int samples = 0, hist_types = 0;
    uint64_t prev_bucket = 0;
    char line[512];
    for (char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        cr_assert_lt(n, sizeof line);
        memcpy(line, p, n);
        line[n] = 0;
        p += n + (p[n] == '\n');
        int ok = !regexec(&help, line, 0, NULL, 0) || !regexec(&type, line, 0, NULL, 0) ||
                 !regexec(&sample, line, 0, NULL, 0);
        cr_assert(ok, "not exposition format: \"%s\"", line);
        if (strstr(line, " histogram"))
            hist_types++;
        if (line[0] != '#')
            samples++;
        char *le = strstr(line, "_bucket{le=");
        if (le) { /* cumulative: buckets never decrease */
            uint64_t c = strtoull(strrchr(line, ' ') + 1, NULL, 10);
            if (strstr(line, "le=\"1e-06\"") || strstr(line, "le=\"1\""))
                prev_bucket = 0;
            cr_assert_geq(c, prev_bucket, "%s", line);
            prev_bucket = c;
        }
    }
    cr_expect_eq(hist_types, SLUICE_HIST_COUNT_);
    cr_expect_gt(samples, 100);
    cr_expect(strstr(text, "sluice_records_total 200\n"), "%s", text);
    cr_expect(strstr(text, "sluice_put_durable_seconds_count 20\n"));
    regfree(&help);
    regfree(&type);
    regfree(&sample);
    free(text);
    /* promtool, when this machine has it (the Debian prometheus package) */
    if (system("command -v promtool >/dev/null 2>&1") == 0) {
        char path[4200], cmd[8600];
        snprintf(path, sizeof path, "%s/metrics.txt", dir);
        FILE *f = fopen(path, "w");
        text = format(db, SLUICE_FMT_PROMETHEUS);
        fputs(text, f);
        fclose(f);
        free(text);
        snprintf(cmd, sizeof cmd, "promtool check metrics < '%s' 2>&1 | grep -v 'counter metrics should have \"_total\" suffix' | grep -q . && exit 1 || exit 0", path);
        cr_expect_eq(system(cmd), 0, "promtool check metrics complained");
    }
    cr_assert_eq(sluice_close(db), 0);
}

Test(observe, json_parses_and_holds_every_histogram)
{
    sluice_db *db = busy_db();
    char *text = format(db, SLUICE_FMT_JSON);
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    cr_assert(o, "%s", je.text);
    cr_expect_eq(json_integer_value(json_object_get(o, "records_total")), 200);
    cr_expect_eq(json_integer_value(json_object_get(o, "compacted_lsn")), 200);
    json_t *h = json_object_get(o, "histograms");
    cr_expect_eq(json_object_size(h), SLUICE_HIST_COUNT_);
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(h, "put_durable_ns"), "count")), 20);
    cr_expect(json_object_get(o, "freshness_cold_ns"));
    json_decref(o);
    free(text);
    cr_assert_eq(sluice_close(db), 0);
}

/* ---- the live stats file ---- */

Test(observe, another_process_never_reads_a_torn_snapshot)
{
    /* the reader is forked before the database opens (a child of a process whose threads
     * may hold the allocator's lock must not allocate); a pipe tells it the writer is up */
    int up[2];
    cr_assert_eq(pipe(up), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        char c;
        close(up[1]);
        if (read(up[0], &c, 1) != 1)
            _exit(5);
        uint64_t last_seq = 0;
        int read = 0;
        for (int i = 0; i < 1000000 && read < 2000; i++) {
            sluice_live_stats l;
            int r = sluice_stats_read_live(dir, &l);
            if (r == SLUICE_NOTFOUND)
                continue; /* the publisher has not written its first snapshot yet */
            if (r)
                _exit(2);
            json_t *j = json_loads(l.json, 0, NULL);
            if (!j || l.seq < last_seq || !strstr(l.prometheus, "sluice_records_total"))
                _exit(3);
            last_seq = l.seq;
            json_decref(j);
            sluice_live_stats_free(&l);
            read++;
        }
        _exit(read >= 100 ? 0 : 4);
    }
    close(up[0]);
    sluice_options o;
    sluice_options_init(&o);
    o.stats_interval_ms = 1; /* as often as it goes: the reader meets writes in progress */
    o.io_backend = SLUICE_IO_POSIX_BUFFERED;
    sluice_db *db = open_with(&o);
    cr_assert_eq(write(up[1], "x", 1), 1);
    close(up[1]);
    int status = 0;
    for (int i = 0; waitpid(pid, &status, WNOHANG) == 0; i++) /* until the reader is done */
        cr_assert_eq(sluice_put(db, "k", 1, (uint64_t)i, "value", 5, SLUICE_ACK_MEMORY, NULL), 0);
    cr_assert_eq(sluice_close(db), 0);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the reader saw a torn or bad snapshot (%d)",
              WEXITSTATUS(status));
}

Test(observe, live_stats_reader_names_each_failure_and_reads_the_final_snapshot)
{
    sluice_live_stats l;
    cr_expect_eq(sluice_stats_read_live(NULL, &l), SLUICE_EINVAL);
    cr_expect_eq(sluice_stats_read_live(dir, NULL), SLUICE_EINVAL);
    cr_expect_eq(sluice_stats_read_live(dir, &l), -ENOENT, "no writer ever published here");
    char path[4200];
    snprintf(path, sizeof path, "%s/stats.live", dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    for (int i = 0; i < 200000; i++) /* the size of a stats file, not its magic */
        fputc('x', f);
    fclose(f);
    cr_expect_eq(sluice_stats_read_live(dir, &l), SLUICE_ECORRUPT);
    cr_expect_null(l.json, "nothing to free after a failure");
    cr_assert_eq(unlink(path), 0);

    sluice_options o;
    sluice_options_init(&o);
    sluice_db *db = open_with(&o);
    for (int i = 0; i < 1234; i++)
        cr_assert_eq(sluice_put(db, "k", 1, (uint64_t)i, "v", 1, SLUICE_ACK_MEMORY, NULL), 0);
    cr_assert_eq(sluice_close(db), 0);
    /* close stopped the writer before the publisher: its last snapshot has every put */
    cr_assert_eq(sluice_stats_read_live(dir, &l), 0);
    cr_expect_eq(l.pid, (uint32_t)getpid());
    cr_expect_eq(l.interval_ms, o.stats_interval_ms);
    cr_expect(l.seq >= 2 && l.seq % 2 == 0);
    json_t *j = json_loads(l.json, 0, NULL);
    cr_assert(j, "the JSON parses");
    cr_expect_eq(json_integer_value(json_object_get(j, "records_total")), 1234, "%s", l.json);
    cr_expect_eq(json_integer_value(json_object_get(j, "durable_lsn")),
                 json_integer_value(json_object_get(j, "claimed_lsn")));
    json_decref(j);
    cr_expect(strstr(l.prometheus, "sluice_records_total 1234"), "%s", l.prometheus);
    sluice_live_stats_free(&l);
    cr_expect_null(l.json);
}

Test(observe, sluice_top_draws_live_figures_in_a_tmux_pane)
{
    cr_assert_eq(system("command -v tmux >/dev/null"), 0, "tmux is installed by tools/bootstrap.sh");
    sluice_options o;
    sluice_options_init(&o);
    o.io_backend = SLUICE_IO_POSIX_BUFFERED;
    sluice_db *db = open_with(&o);
    for (int i = 0; i < 5000; i++)
        cr_assert_eq(sluice_put(db, "k", 1, (uint64_t)i, "value", 5, i % 100 ? SLUICE_ACK_MEMORY : SLUICE_ACK_DURABLE, NULL), 0);
    char session[64], cmd[8192], out[4200];
    snprintf(session, sizeof session, "sluice-top-%d", getpid());
    snprintf(out, sizeof out, "%s/screen.txt", dir);
    snprintf(cmd, sizeof cmd,
             "tmux new-session -d -s %s -x 120 -y 40 '%s/sluice top %s --interval 200 --count 3; sleep 5' && "
             "sleep 1.5 && tmux capture-pane -p -t %s > '%s'; tmux kill-session -t %s",
             session, SLUICE_BIN_DIR, dir, session, out, session);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(sluice_close(db), 0);
    FILE *f = fopen(out, "r");
    cr_assert(f);
    char screen[16384];
    size_t n = fread(screen, 1, sizeof screen - 1, f);
    screen[n] = 0;
    fclose(f);
    cr_expect(strstr(screen, "sluice top"), "%s", screen);
    cr_expect(strstr(screen, "put DURABLE") && strstr(screen, "claimed 5000"), "%s", screen);
    cr_expect(strstr(screen, "durable 5000"), "the figures agree with the writer's: %s", screen);
}

/* The live stats file is written through a shared mapping for as long as the writer runs;
 * a store into a page the filesystem never allocated is SIGBUS once the disk is full
 * (the log fills it), so every page is allocated at open, before the first snapshot. */
Test(observe, the_live_stats_file_is_allocated_not_sparse)
{
    sluice_options o;
    sluice_options_init(&o);
    sluice_db *db = open_with(&o);
    char path[4200];
    snprintf(path, sizeof path, "%s/stats.live", dir);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_eq((size_t)st.st_size, sizeof(struct stats_file));
    cr_expect_geq((uint64_t)st.st_blocks * 512u, (uint64_t)st.st_size, "%lld of %lld bytes allocated",
                  (long long)st.st_blocks * 512, (long long)st.st_size);
    cr_assert_eq(sluice_close(db), 0);
}
