/*
 * Observability: the latency and size histograms of every stage, the text formats
 * (Prometheus exposition, JSON), engine events and sluice_stats; the live stats file that
 * other processes read is engine/stats_live.c.
 *
 * Who records what, so that nothing on the put path writes a cache line that every
 * producer writes:
 *   put latency by ack level   producers, into a per-core stripe (sched_getcpu), under the
 *                              stripe's mutex, taken with trylock: a sample is dropped
 *                              rather than wait for a reader; MEMORY puts one in 16
 *                              (engine/write.c)
 *   ring blocked               a producer that slept on a full ring (the slow path)
 *   batch size, write, fsync   the log writer, once per write (tiers/log/writer.c)
 *   compaction, put-to-cold    the compactor, once per round (tiers/compact/compactor.c)
 * Counters of records and bytes are counted by the writer as it drains the ring.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "placement.h"
#include "clock.h"
#include "crc32c.h"
#include "db.h"

int obs_init(sluice_db *db)
{
    pthread_mutex_init(&db->obs_mu, NULL);
    hist_init(&db->ring_blocked);
    if (db->read_only)
        return 0;
    db->stripes = aligned_alloc(64, PUT_STRIPES * sizeof *db->stripes);
    if (!db->stripes)
        return SLUICE_ENOMEM;
    for (int i = 0; i < PUT_STRIPES; i++) {
        pthread_mutex_init(&db->stripes[i].mu, NULL);
        for (int l = 0; l < 3; l++)
            hist_init(&db->stripes[i].lat[l]);
    }
    return 0;
}

void obs_destroy(sluice_db *db)
{
    if (db->stripes) {
        for (int i = 0; i < PUT_STRIPES; i++)
            pthread_mutex_destroy(&db->stripes[i].mu);
        free(db->stripes);
    }
    pthread_mutex_destroy(&db->obs_mu);
}

void obs_record_put(sluice_db *db, int level, uint64_t ns)
{
    int cpu = sched_getcpu();
    struct put_stripe *s = &db->stripes[(unsigned)(cpu < 0 ? 0 : cpu) % PUT_STRIPES];
    /* The stats publisher copies the stripes under the same mutex; if it is descheduled
     * while holding one, a waiting put would wait with it (perf sched: a MEMORY producer
     * slept up to 1.4 ms, woken by the publisher, in a soak at 150 k puts/s). A sample
     * lost now and then is the cheaper price. */
    if (pthread_mutex_trylock(&s->mu) != 0) {
        atomic_fetch_add_explicit(&db->put_samples_dropped, 1, memory_order_relaxed);
        return;
    }
    hist_record(&s->lat[level], ns);
    pthread_mutex_unlock(&s->mu);
}

void obs_event(sluice_db *db, int type, uint64_t a, uint64_t b)
{
    if (!db->opts.on_event)
        return;
    struct sluice_event ev = {.type = type, .a = a, .b = b, .time_ns = clock_realtime_ns()};
    db->opts.on_event(db->opts.event_arg, &ev);
}

/* A copy of histogram `which`, taken under the lock of whoever records it. */
static void hist_copy(sluice_db *db, int which, struct hist *out)
{
    hist_init(out);
    switch (which) {
    case SLUICE_HIST_PUT_MEMORY:
    case SLUICE_HIST_PUT_WRITTEN:
    case SLUICE_HIST_PUT_DURABLE:
        for (int i = 0; db->stripes && i < PUT_STRIPES; i++) {
            pthread_mutex_lock(&db->stripes[i].mu);
            hist_merge(out, &db->stripes[i].lat[which - SLUICE_HIST_PUT_MEMORY]);
            pthread_mutex_unlock(&db->stripes[i].mu);
        }
        return;
    case SLUICE_HIST_RING_BLOCKED:
        pthread_mutex_lock(&db->obs_mu);
        hist_merge(out, &db->ring_blocked);
        pthread_mutex_unlock(&db->obs_mu);
        return;
    case SLUICE_HIST_COMPACTION:
    case SLUICE_HIST_PUT_TO_COLD:
        if (db->compactor) /* a reader has none: empty */
            compactor_hist(db->compactor, which == SLUICE_HIST_PUT_TO_COLD, out);
        return;
    default: {
        if (db->log)
            log_hist(db->log,
                     which == SLUICE_HIST_BATCH_RECORDS ? LOG_HIST_BATCH_RECORDS
                     : which == SLUICE_HIST_BATCH_BYTES ? LOG_HIST_BATCH_BYTES
                     : which == SLUICE_HIST_WRITE       ? LOG_HIST_WRITE
                                                        : LOG_HIST_FSYNC,
                     out);
    }
    }
}

int sluice_stats_hist(sluice_db *db, int which, sluice_hist_summary *out)
{
    int bad = db_check(db);
    if (bad)
        return bad;
    if (!out || which < 0 || which >= SLUICE_HIST_COUNT_)
        return SLUICE_EINVAL;
    struct hist *h = malloc(sizeof *h);
    if (!h)
        return SLUICE_ENOMEM;
    hist_copy(db, which, h);
    *out = (sluice_hist_summary){.count = h->count, .sum = h->sum, .min = h->count ? h->min : 0,
                                 .max = h->max, .p50 = hist_percentile(h, 50),
                                 .p90 = hist_percentile(h, 90), .p99 = hist_percentile(h, 99),
                                 .p999 = hist_percentile(h, 99.9), .p9999 = hist_percentile(h, 99.99)};
    free(h);
    return 0;
}

/* ---- text formats ---- */

struct text {
    char *buf;
    size_t cap, len;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = t->len < t->cap ? t->cap - t->len : 0;
    int n = vsnprintf(room ? t->buf + t->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->len += (size_t)n;
}

struct metric {
    const char *name; /* with its unit, Prometheus style */
    const char *type; /* counter or gauge */
    const char *help;
    uint64_t value;   /* for a name ending in _ratio: millionths */
};

static const struct {
    const char *name, *unit, *help;
    int ns; /* 1: nanoseconds, exported in seconds */
} hists[SLUICE_HIST_COUNT_] = {
    {"put_memory", "seconds", "time in sluice_put at MEMORY ack (1 put in 16 timed)", 1},
    {"put_written", "seconds", "time in sluice_put at WRITTEN ack", 1},
    {"put_durable", "seconds", "time in sluice_put at DURABLE ack (put to durable)", 1},
    {"ring_blocked", "seconds", "time a put slept on a full ring", 1},
    {"batch", "records", "records per log write (group commit)", 0},
    {"batch", "bytes", "record bytes per log write", 0},
    {"log_write", "seconds", "log write submission to completion", 1},
    {"fsync", "seconds", "separate fdatasync calls (buffered mode)", 1},
    {"compaction_round", "seconds", "a compaction round: read, merge, commit", 1},
    {"put_to_cold", "seconds", "a segment's first record to its compaction", 1},
};

/* Prometheus buckets: powers of 4 from 1 µs to ~17 min for times, from 1 for sizes. */
static uint64_t bucket_bound(int ns, int i) { return (ns ? 1000ull : 1ull) << (2 * i); }
#define BOUNDS 16

static uint64_t count_le(const struct hist *h, uint64_t v)
{
    uint64_t n = 0;
    for (unsigned b = 0; b < HIST_BUCKETS && hist_bucket_low(b) <= v; b++)
        if (hist_bucket_low(b) + hist_bucket_width(b) - 1 <= v)
            n += h->buckets[b];
    return n;
}

#define MAX_METRICS 64

int sluice_stats(sluice_db *db, struct sluice_stats *out)
{
    int r = db_check(db);
    if (r || !out)
        return r ? r : SLUICE_EINVAL;
    memset(out, 0, sizeof *out);
    out->size = sizeof *out;
    out->io_backend = (uint32_t)db->io->backend;
    /* Bottom of the lattice first, so the copy keeps compacted <= durable <= written <=
     * indexed <= claimed even while they move. */
    out->compacted_lsn = db_compacted_lsn(db);
    log_fill_stats(db->log, out);
    if (db->compactor)
        compactor_fill_stats(db->compactor, out);
    out->claimed_lsn = db->read_only ? out->indexed_lsn : ring_claimed_lsn(&db->ring);
    if (!db->read_only) {
        out->ring_bytes = db->ring.size;
        uint64_t released = pos_load(&db->ring.released); /* first: it trails the claim */
        out->ring_used_bytes = ring_claimed_pos(&db->ring) - released;
    }
    out->ring_full_waits = atomic_load_explicit(&db->ring_full_waits, memory_order_relaxed);
    out->ring_full_rejections =
        atomic_load_explicit(&db->ring_full_rejections, memory_order_relaxed);
    out->ring_full_wait_ns = atomic_load_explicit(&db->ring_full_wait_ns, memory_order_relaxed);
    out->ring_shared = (uint64_t)db->ring_shared;
    out->ring_replayed_records = db->ring_replayed;
    out->ring_replay_gaps = db->ring_replay_gaps;
    if (db->cold && cold_usage(db->cold, &out->cold_map_bytes, &out->cold_used_bytes))
        out->cold_map_bytes = out->cold_used_bytes = 0;
    if (db->cold && cold_free_bytes(db->cold, &out->cold_free_bytes))
        out->cold_free_bytes = 0;
    out->rejected_full = atomic_load_explicit(&db->rejected_full, memory_order_relaxed);
    out->rejected_timeout = atomic_load_explicit(&db->rejected_timeout, memory_order_relaxed);
    out->rejected_poisoned = atomic_load_explicit(&db->rejected_poisoned, memory_order_relaxed);
    out->rejected_invalid = atomic_load_explicit(&db->rejected_invalid, memory_order_relaxed);
    out->put_samples_dropped = atomic_load_explicit(&db->put_samples_dropped, memory_order_relaxed);
    out->late_records = atomic_load_explicit(&db->late_records, memory_order_relaxed);
    out->rejected_late = atomic_load_explicit(&db->rejected_late, memory_order_relaxed);
    out->low_watermark = atomic_load(&db->low_watermark);
    out->tails_open = (uint64_t)atomic_load(&db->open_tails);
    marks_count(db, &out->cursors, &out->cursors_lagging);
    uint64_t now = clock_now_ns();
    pthread_mutex_lock(&db->views_mu);
    for (size_t i = 0; i < db->nviews; i++)
        if (now - db->view_since[i] > out->oldest_view_age_ns)
            out->oldest_view_age_ns = now - db->view_since[i];
    pthread_mutex_unlock(&db->views_mu);
    return 0;
}

static int collect(sluice_db *db, struct sluice_stats *st, struct metric *m, size_t *n)
{
    int r = sluice_stats(db, st);
    if (r)
        return r;
    uint64_t now = clock_realtime_ns();
#define FRESH(ts) ((ts) && now > (ts) ? now - (ts) : 0)
    const struct metric all[] = {
        {"claimed_lsn", "gauge", "last LSN handed to a producer", st->claimed_lsn},
        {"indexed_lsn", "gauge", "every record at or below it is visible to reads", st->indexed_lsn},
        {"written_lsn", "gauge", "every record at or below it is written", st->written_lsn},
        {"durable_lsn", "gauge", "every record at or below it survived fdatasync", st->durable_lsn},
        {"compacted_lsn", "gauge", "every record at or below it is in the cold tier", st->compacted_lsn},
        {"records_total", "counter", "records accepted into the log (puts, deletes, offsets)", st->puts},
        {"user_bytes_total", "counter", "key and value bytes of those records", st->put_bytes},
        {"log_bytes_total", "counter", "bytes written to log segments", st->log_bytes},
        {"cold_records_total", "counter", "records applied to the cold tier", st->compacted_records},
        {"cold_bytes_total", "counter", "block bytes put into LMDB", st->cold_bytes_written},
        {"cold_blocks_total", "counter", "blocks put into LMDB", st->cold_blocks_written},
        {"log_writes_total", "counter", "log writes (group-commit batches)", st->batches},
        {"fsyncs_total", "counter", "fdatasyncs completed (with O_DIRECT: durable writes)", st->fsyncs},
        {"rejected_ring_full_total", "counter", "puts refused by a full ring (SLUICE_FULL_FAIL)", st->rejected_full},
        {"rejected_timeout_total", "counter", "puts that gave up after put_timeout_ms", st->rejected_timeout},
        {"rejected_poisoned_total", "counter", "puts refused by a poisoned log", st->rejected_poisoned},
        {"rejected_invalid_total", "counter", "puts refused as SLUICE_EINVAL", st->rejected_invalid},
        {"ring_full_waits_total", "counter", "puts that slept on a full ring", st->ring_full_waits},
        {"ring_blocked_seconds_total", "counter", "time puts slept on a full ring (ns)", st->ring_full_wait_ns},
        {"short_writes_total", "counter", "partial log writes resubmitted", st->short_writes},
        {"eagain_retries_total", "counter", "log writes resubmitted after EAGAIN", st->eagain_retries},
        {"segments_created_total", "counter", "log segments created", st->segments_created},
        {"segments_sealed_total", "counter", "log segments sealed", st->segments_sealed},
        {"segments_deleted_total", "counter", "log segments deleted after compaction", st->segments_deleted},
        {"segments", "gauge", "live log segments", st->segments},
        {"compaction_rounds_total", "counter", "compaction transactions committed", st->compaction_rounds},
        {"retention_dropped_records_total", "counter", "records dropped by retention", st->retention_dropped_records},
        {"retention_dropped_bytes_total", "counter", "bytes dropped by retention", st->retention_dropped_bytes},
        {"ring_bytes", "gauge", "ring capacity", st->ring_bytes},
        {"ring_used_bytes", "gauge", "ring bytes reserved and not yet released", st->ring_used_bytes},
        {"log_backlog_bytes", "gauge", "bytes of live log segment files (the backlog budget's measure)", st->log_backlog_bytes},
        {"log_backlog_age_seconds", "gauge", "age of the oldest live segment (ns)", st->log_backlog_age_ns},
        {"freshness_indexed_seconds", "gauge", "now minus the newest ts visible to reads (ns)", FRESH(st->newest_ts_indexed)},
        {"freshness_durable_seconds", "gauge", "now minus the newest durable ts (ns)", FRESH(st->newest_ts_durable)},
        {"freshness_cold_seconds", "gauge", "now minus the newest ts in the cold tier (ns)", FRESH(st->newest_ts_cold)},
        {"lmdb_map_bytes", "gauge", "LMDB map size", st->cold_map_bytes},
        {"lmdb_used_bytes", "gauge", "LMDB file pages in use", st->cold_used_bytes},
        {"lmdb_free_bytes", "gauge", "LMDB file pages free for reuse", st->cold_free_bytes},
        {"lmdb_map_growths_total", "counter", "LMDB map growths", st->map_growths},
        {"oldest_view_age_seconds", "gauge", "age of the oldest cold view an iterator holds (ns)", st->oldest_view_age_ns},
        {"poisoned", "gauge", "1 when an I/O error poisoned the log", st->poison_error != 0},
        {"poison_cause", "gauge", "the error that poisoned the log (negative code)", (uint64_t)(int64_t)st->poison_error},
        {"io_backend", "gauge", "log I/O backend: 1 io_uring, 2 POSIX", st->io_backend},
        {"direct_io", "gauge", "1 when log writes are O_DIRECT + RWF_DSYNC", st->direct_io},
        {"spare_segment_ready", "gauge", "1 when a pre-zeroed spare segment is ready", st->spare_ready},
        {"put_latency_samples_dropped_total", "counter",
         "put latency samples not recorded: the stats reader held their stripe", st->put_samples_dropped},
        {"active_segment_bytes", "gauge", "size of the log segment being appended to",
         st->active_segment_bytes},
        {"ring_shared", "gauge", "1 when the ring is a shared-memory file (WRITTEN at publication)",
         st->ring_shared},
        {"ring_replayed_records", "gauge", "records the open put back from a crashed writer's ring",
         st->ring_replayed_records},
        {"ring_replay_gaps", "gauge", "records a replay found claimed but never published", st->ring_replay_gaps},
        {"compaction_paced_seconds_total", "counter", "time the compactor waited to keep its writes smooth (ns)",
         st->compaction_paced_ns},
        {"late_records_total", "counter", "puts accepted below the low watermark (flagged late)",
         st->late_records},
        {"rejected_late_total", "counter", "puts refused as SLUICE_ELATE", st->rejected_late},
        {"replay_segments", "gauge", "compacted segments kept for replay", st->replay_segments},
        {"replay_bytes", "gauge", "bytes of compacted segments kept for replay", st->replay_bytes},
        {"replay_oldest_lsn", "gauge", "the oldest LSN kept for replay (0: none)", st->replay_oldest_lsn},
        {"cursors", "gauge", "named cursors", st->cursors},
        {"cursors_lagging", "gauge", "named cursors whose segments were let go", st->cursors_lagging},
        {"low_watermark", "gauge", "the minimum watermark over sources (0: none)", st->low_watermark},
        {"tails_open", "gauge", "tails open on the handle", st->tails_open},
        {"recovery_skipped_records", "gauge",
         "damaged log records the last open stepped over (already in the cold tier)",
         st->recovery_skipped_records},
        {"write_amplification_log_ratio", "gauge", "log bytes written per user byte",
         st->put_bytes ? (uint64_t)(1e6 * (double)st->log_bytes / (double)st->put_bytes) : 0},
        {"write_amplification_cold_ratio", "gauge",
         "LMDB block bytes written per user byte compacted (records of average size)",
         st->put_bytes && st->compacted_records && st->puts
             ? (uint64_t)(1e6 * (double)st->cold_bytes_written /
                          ((double)st->put_bytes * (double)st->compacted_records / (double)st->puts))
             : 0},
    };
#undef FRESH
    _Static_assert(sizeof all / sizeof all[0] <= MAX_METRICS, "room for every metric");
    memcpy(m, all, sizeof all);
    *n = sizeof all / sizeof all[0];
    return 0;
}
static int is_ratio(const char *name)
{
    size_t n = strlen(name);
    return n > 6 && !strcmp(name + n - 6, "_ratio");
}

/* Names ending in _seconds hold nanoseconds internally: printed as seconds. */
static int is_seconds(const char *name)
{
    size_t n = strlen(name);
    return (n > 8 && !strcmp(name + n - 8, "_seconds")) ||
           (n > 14 && !strcmp(name + n - 14, "_seconds_total"));
}

/* JSON keeps integers: a *_seconds metric (held in ns) is named *_ns there. */
static void json_key(struct text *t, const char *name)
{
    const char *s = strstr(name, "_seconds");
    if (s && is_seconds(name))
        put(t, ",\"%.*s_ns%s\":", (int)(s - name), name, s + 8);
    else
        put(t, ",\"%s\":", name);
}

static void prometheus(sluice_db *db, struct text *t, const struct metric *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        put(t, "# HELP sluice_%s %s\n# TYPE sluice_%s %s\n", m[i].name, m[i].help, m[i].name, m[i].type);
        if (!strcmp(m[i].name, "poison_cause"))
            put(t, "sluice_%s %" PRId64 "\n", m[i].name, (int64_t)m[i].value);
        else if (is_ratio(m[i].name))
            put(t, "sluice_%s %.4f\n", m[i].name, m[i].value / 1e6);
        else if (is_seconds(m[i].name))
            put(t, "sluice_%s %.9f\n", m[i].name, m[i].value / 1e9);
        else
            put(t, "sluice_%s %" PRIu64 "\n", m[i].name, m[i].value);
    }
    struct hist *h = malloc(sizeof *h);
    if (!h)
        return;
    for (int k = 0; k < SLUICE_HIST_COUNT_; k++) {
        hist_copy(db, k, h);
        char name[64];
        snprintf(name, sizeof name, "sluice_%s_%s", hists[k].name, hists[k].unit);
        put(t, "# HELP %s %s\n# TYPE %s histogram\n", name, hists[k].help, name);
        for (int i = 0; i < BOUNDS; i++) {
            uint64_t b = bucket_bound(hists[k].ns, i);
            if (hists[k].ns)
                put(t, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, b / 1e9, count_le(h, b));
            else
                put(t, "%s_bucket{le=\"%" PRIu64 "\"} %" PRIu64 "\n", name, b, count_le(h, b));
        }
        put(t, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, h->count);
        if (hists[k].ns)
            put(t, "%s_sum %.9f\n", name, h->sum / 1e9);
        else
            put(t, "%s_sum %" PRIu64 "\n", name, h->sum);
        put(t, "%s_count %" PRIu64 "\n", name, h->count);
    }
    free(h);
}

static void json(sluice_db *db, struct text *t, const struct metric *m, size_t n)
{
    put(t, "{\"time_ns\":%" PRIu64, clock_realtime_ns());
    for (size_t i = 0; i < n; i++) {
        json_key(t, m[i].name);
        if (!strcmp(m[i].name, "poison_cause"))
            put(t, "%" PRId64, (int64_t)m[i].value);
        else if (is_ratio(m[i].name))
            put(t, "%.4f", m[i].value / 1e6);
        else
            put(t, "%" PRIu64, m[i].value);
    }
    put(t, ",\"histograms\":{");
    for (int k = 0; k < SLUICE_HIST_COUNT_; k++) {
        sluice_hist_summary s;
        if (sluice_stats_hist(db, k, &s))
            continue;
        put(t, "%s\"%s_%s\":{\"count\":%" PRIu64 ",\"sum\":%" PRIu64 ",\"min\":%" PRIu64 ",\"max\":%" PRIu64
               ",\"p50\":%" PRIu64 ",\"p90\":%" PRIu64 ",\"p99\":%" PRIu64 ",\"p999\":%" PRIu64
               ",\"p9999\":%" PRIu64 "}",
            k ? "," : "", hists[k].name, hists[k].ns ? "ns" : hists[k].unit, s.count, s.sum, s.min,
            s.max, s.p50, s.p90, s.p99, s.p999, s.p9999);
    }
    put(t, "}}\n");
}

int sluice_stats_format(sluice_db *db, int format, char *buf, size_t cap, size_t *len)
{
    int bad = db_check(db);
    if (bad)
        return bad;
    if (!len || (!buf && cap) || (format != SLUICE_FMT_PROMETHEUS && format != SLUICE_FMT_JSON))
        return SLUICE_EINVAL;
    struct sluice_stats st;
    struct metric m[MAX_METRICS];
    size_t n;
    int r = collect(db, &st, m, &n);
    if (r)
        return r;
    struct text t = {buf, cap, 0};
    if (format == SLUICE_FMT_PROMETHEUS)
        prometheus(db, &t, m, n);
    else
        json(db, &t, m, n);
    *len = t.len;
    return t.len < cap ? 0 : SLUICE_ERANGE;
}
