/* Follow, replay and watermarks: tails across every tier boundary, replay retention,
 * named cursors (their bound and the exactly-once pattern across SIGKILLs), watermarks
 * and late records, SLUICE_ACK_COLD, and a read-only tail beside a writer. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sluice.h"
#include "util.h"

static char *dir;

static void small_opts(sluice_options *o)
{
    sluice_options_init(o);
    o->ring_bytes = 1 << 20;
    o->segment_bytes = 256 << 10;
    o->batch_max_bytes = 64 << 10;
    o->memory_delay_us = 0;
    o->stats_interval_ms = 0;
}

static void setup(void) { dir = tu_mkdtemp(); }
static void teardown(void) { tu_rmdir(dir); }

/* The record every test writes at index i: key, ts and value derived from i. */
static void rec_of(uint64_t i, char *key, size_t *klen, char *val, size_t *vlen)
{
    *klen = (size_t)snprintf(key, 32, "key-%03u", (unsigned)(i % 97));
    *vlen = (size_t)snprintf(val, 200, "value-%llu-%0*u", (unsigned long long)i, (int)(i % 120), 7u);
}

static uint64_t put_i(sluice_db *db, uint64_t i, int ack)
{
    char key[32], val[200];
    size_t kl, vl;
    rec_of(i, key, &kl, val, &vl);
    uint64_t lsn = 0;
    int r = sluice_put(db, key, kl, 1000 + i, val, vl, ack, &lsn);
    cr_assert_eq(r, 0, "put %llu: %s", (unsigned long long)i, sluice_strerror(r));
    return lsn;
}

static void expect_rec(const sluice_tail_record *rec, uint64_t i, uint64_t lsn)
{
    char key[32], val[200];
    size_t kl, vl;
    rec_of(i, key, &kl, val, &vl);
    cr_assert_eq(rec->lsn, lsn, "record %llu: lsn %llu, want %llu", (unsigned long long)i,
                 (unsigned long long)rec->lsn, (unsigned long long)lsn);
    cr_assert_eq(rec->ts, 1000 + i);
    cr_assert_eq(rec->klen, kl);
    cr_assert(!memcmp(rec->key, key, kl));
    cr_assert_eq(rec->vlen, vl, "record %llu: vlen %zu want %zu", (unsigned long long)i, rec->vlen, vl);
    cr_assert(!memcmp(rec->val, val, vl));
}

TestSuite(tail, .init = setup, .fini = teardown);

/* A tail from the first LSN reads records from replay/, from live segments and from the
 * ring, in LSN order, with offsets left out and deletes flagged. */
Test(tail, every_tier_in_lsn_order_without_offsets)
{
    sluice_options o;
    small_opts(&o);
    o.replay_retain_bytes = 1ull << 30;
    sluice_db *db;
    cr_assert_eq(sluice_open(dir, &o, &db), 0);
    enum { N = 6000 };
    uint64_t *lsn = calloc(N, sizeof *lsn);
    uint64_t del_lsn = 0;
    for (uint64_t i = 0; i < N; i++) {
        lsn[i] = put_i(db, i, SLUICE_ACK_MEMORY);
        if (i == 100)
            cr_assert_eq(sluice_offset_put(db, "upstream", 7, SLUICE_ACK_MEMORY), 0);
        if (i == 200)
            cr_assert_eq(sluice_delete(db, "key-000", 7, 1000, SLUICE_ACK_MEMORY, &del_lsn), 0);
        if (i == N / 2)
            cr_assert_eq(sluice_compact(db), 0); /* the first half: compacted, in replay/ */
    }
    struct sluice_stats st;
    cr_assert_eq(sluice_stats(db, &st), 0);
    cr_assert_gt(st.replay_segments, 0, "compacted segments were kept");
    cr_assert_lt(st.compacted_lsn, lsn[N - 1]);
    sluice_tail *t;
    cr_assert_eq(sluice_tail_open(db, 0, SLUICE_ACK_MEMORY, &t), 0);
    sluice_tail_record rec;
    for (uint64_t i = 0; i < N; i++) {
        if (i == 201) { /* after record 200 came its delete */
            cr_assert_eq(sluice_tail_next(t, &rec, 1000), 0);
            cr_assert_eq(rec.lsn, del_lsn);
            cr_assert_eq(rec.flags, SLUICE_TAIL_DELETE);
            cr_assert_eq(rec.vlen, 0);
        }
        int r = sluice_tail_next(t, &rec, 1000);
        cr_assert_eq(r, 0, "record %llu: %s", (unsigned long long)i, sluice_strerror(r));
        expect_rec(&rec, i, lsn[i]);
        cr_assert_eq(rec.flags, 0);
    }
    cr_assert_eq(sluice_tail_next(t, &rec, 0), SLUICE_ETIMEDOUT);
    cr_assert_eq(sluice_close(db), SLUICE_EBUSY, "a tail is open");
    sluice_tail_close(t);
    cr_assert_eq(sluice_close(db), 0);
    free(lsn);
}

struct producer {
    sluice_db *db;
    uint64_t n;
    uint64_t *lsn;
    int ack;
    int compacted; /* compacts at half way: sluice_compact's result + 1 */
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (uint64_t i = 0; i < p->n; i++) {
        p->lsn[i] = put_i(p->db, i, p->ack);
        /* a round for certain while the tail follows: the automatic ones depend on
         * timing (a slow build once ended before the first round committed) */
        if (i == p->n / 2)
            p->compacted = sluice_compact(p->db) + 1;
        /* pacing, not waiting: a producer that pauses now and then lets the tail catch
         * up with it and then wait, so the test crosses the ring's live end many times
         * instead of reading one finished backlog */
        if (i % 500 == 0)
            usleep(200);
    }
    return NULL;
}

/* A tail that follows a producer while the compactor runs: every record once, in order;
 * at DURABLE none before it is durable. */
static void follow_with_compaction(int level)
{
    sluice_options o;
    small_opts(&o);
    o.replay_retain_bytes = 1ull << 30;
    sluice_db *db;
    cr_assert_eq(sluice_open(dir, &o, &db), 0);
    enum { N = 20000 };
    struct producer p = {db, N, calloc(N, sizeof(uint64_t)), SLUICE_ACK_MEMORY, 0};
    sluice_tail *t;
    cr_assert_eq(sluice_tail_open(db, SLUICE_TAIL_END, level, &t), 0);
    pthread_t th;
    pthread_create(&th, NULL, produce, &p);
    sluice_tail_record rec;
    uint64_t first = 0;
    for (uint64_t i = 0; i < N; i++) {
        int r = sluice_tail_next(t, &rec, 10000);
        cr_assert_eq(r, 0, "record %llu: %s", (unsigned long long)i, sluice_strerror(r));
        if (!first)
            first = rec.lsn;
        cr_assert_eq(rec.lsn, first + i);
        cr_assert_eq(rec.ts, 1000 + i);
        if (level == SLUICE_ACK_DURABLE) {
            struct sluice_stats st;
            cr_assert_eq(sluice_stats(db, &st), 0);
            cr_assert_leq(rec.lsn, st.durable_lsn, "delivered before durable");
        }
    }
    pthread_join(th, NULL);
    for (uint64_t i = 0; i < N; i++)
        cr_assert_eq(p.lsn[i], first + i);
    struct sluice_stats st;
    cr_assert_eq(sluice_stats(db, &st), 0);
    cr_assert_eq(p.compacted, 1, "sluice_compact half way: %s", sluice_strerror(p.compacted - 1));
    cr_assert_gt(st.compaction_rounds, 0, "the compactor ran meanwhile");
    /* and the same records again from the first, now mostly from replay/ */
    sluice_tail_close(t);
    cr_assert_eq(sluice_compact(db), 0);
    cr_assert_eq(sluice_tail_open(db, first, level, &t), 0);
    for (uint64_t i = 0; i < N; i++) {
        cr_assert_eq(sluice_tail_next(t, &rec, 5000), 0);
        expect_rec(&rec, i, first + i);
    }
    sluice_tail_close(t);
    cr_assert_eq(sluice_close(db), 0);
    free(p.lsn);
}

Test(tail, follows_a_producer_at_memory_with_compaction_running)
{
    follow_with_compaction(SLUICE_ACK_MEMORY);
}

Test(tail, at_durable_never_ahead_of_durable)
{
    follow_with_compaction(SLUICE_ACK_DURABLE);
}

/* Without retention, compacted segments are deleted: a tail from before them gets
 * SLUICE_ETRIMMED, and sluice_tail_oldest says where to start. */
Test(tail, trimmed_lsn_is_a_named_error)
{
    sluice_options o;
    small_opts(&o);
    sluice_db *db;
    cr_assert_eq(sluice_open(dir, &o, &db), 0);
    uint64_t last = 0;
    for (uint64_t i = 0; i < 5000; i++)
        last = put_i(db, i, SLUICE_ACK_MEMORY);
    cr_assert_eq(sluice_compact(db), 0);
    uint64_t oldest = 0;
    cr_assert_eq(sluice_tail_oldest(db, &oldest), 0);
    cr_assert_gt(oldest, 1);
    cr_assert_leq(oldest, last + 1);
    sluice_tail *t = NULL;
    cr_assert_eq(sluice_tail_open(db, 1, SLUICE_ACK_MEMORY, &t), SLUICE_ETRIMMED);
    cr_assert_null(t);
    cr_assert_eq(sluice_tail_open(db, oldest, SLUICE_ACK_MEMORY, &t), 0);
    sluice_tail_record rec;
    if (oldest <= last) {
        cr_assert_eq(sluice_tail_next(t, &rec, 1000), 0);
        cr_assert_eq(rec.lsn, oldest);
    }
    sluice_tail_close(t);
    /* bad arguments */
    cr_assert_eq(sluice_tail_open(db, 0, SLUICE_ACK_COLD, &t), SLUICE_EINVAL);
    cr_assert_eq(sluice_tail_open(db, 0, 17, &t), SLUICE_EINVAL);
    cr_assert_eq(sluice_tail_open(db, 0, SLUICE_ACK_MEMORY, NULL), SLUICE_EINVAL);
    cr_assert_eq(sluice_tail_open(NULL, 0, SLUICE_ACK_MEMORY, &t), SLUICE_EINVAL);
    cr_assert_eq(sluice_tail_next(NULL, &rec, 0), SLUICE_EINVAL);
    cr_assert_eq(sluice_tail_oldest(db, NULL), SLUICE_EINVAL);
    sluice_tail_close(NULL);
    cr_assert_eq(sluice_close(db), 0);
}

/* replay_retain_bytes keeps the newest compacted segments up to that many bytes. */
Test(tail, retention_by_bytes_keeps_the_newest)
{
    sluice_options o;
    small_opts(&o);
    o.replay_retain_bytes = 600 << 10;
    sluice_db *db;
    cr_assert_eq(sluice_open(dir, &o, &db), 0);
    for (uint64_t i = 0; i < 40000; i++)
        put_i(db, i, SLUICE_ACK_MEMORY);
    cr_assert_eq(sluice_compact(db), 0);
    struct sluice_stats st;
    cr_assert_eq(sluice_stats(db, &st), 0);
    cr_assert_gt(st.replay_segments, 0);
    cr_assert_leq(st.replay_bytes, 600 << 10);
    cr_assert_gt(st.segments_deleted, 0, "older ones were deleted");
    uint64_t oldest;
    cr_assert_eq(sluice_tail_oldest(db, &oldest), 0);
    cr_assert_eq(oldest, st.replay_oldest_lsn);
    /* what is kept is readable to the end, and survives a reopen */
    cr_assert_eq(sluice_close(db), 0);
    cr_assert_eq(sluice_open(dir, &o, &db), 0);
    sluice_tail *t;
    cr_assert_eq(sluice_tail_open(db, oldest, SLUICE_ACK_DURABLE, &t), 0);
    sluice_tail_record rec;
    uint64_t n = 0, want = oldest;
    int r;
    while ((r = sluice_tail_next(t, &rec, 0)) == 0) {
        cr_assert_eq(rec.lsn, want++);
        cr_assert_eq(rec.ts, 1000 + rec.lsn - 1);
        n++;
    }
    cr_assert_eq(r, SLUICE_ETIMEDOUT);
    cr_assert_eq(want, 40001, "read to the end");
    cr_assert_gt(n, 0);
    sluice_tail_close(t);
    cr_assert_eq(sluice_close(db), 0);
}

/* Cursors: commit, get, drop, persisted through compaction and reopen, and they hold
 * back the deletion of the segments they still need. */
Test(tail, cursors_persist_and_hold_segments)
{
    sluice_options o;
    small_opts(&o);
    sluice_db *db;
    cr_assert_eq(sluice_open(dir, &o, &db), 0);
    uint64_t l1 = put_i(db, 0, SLUICE_ACK_MEMORY);
    cr_assert_eq(sluice_cursor_commit(db, "dashboard", l1, SLUICE_ACK_DURABLE), 0);
    cr_assert_eq(sluice_cursor_commit(db, "replica", 0, SLUICE_ACK_MEMORY), 0);
    uint64_t v = 0;
    int lag = -1;
    cr_assert_eq(sluice_cursor_get(db, "dashboard", &v, &lag), 0);
    cr_assert_eq(v, l1);
    cr_assert_eq(lag, 0);
    /* errors */
    cr_assert_eq(sluice_cursor_commit(db, "x", l1 + 1000, SLUICE_ACK_MEMORY), SLUICE_EINVAL);
    cr_assert_eq(sluice_cursor_commit(db, "", 1, SLUICE_ACK_MEMORY), SLUICE_EINVAL);
    cr_assert_eq(sluice_cursor_commit(db, NULL, 1, SLUICE_ACK_MEMORY), SLUICE_EINVAL);
    cr_assert_eq(sluice_cursor_get(db, "nobody", &v, NULL), SLUICE_NOTFOUND);
    cr_assert_eq(sluice_cursor_drop(db, "nobody", SLUICE_ACK_MEMORY), SLUICE_NOTFOUND);
    cr_assert_eq(sluice_offset_put(db, "\001cdashboard", 5, SLUICE_ACK_MEMORY), SLUICE_EINVAL,
                 "reserved names are not offsets");
    for (uint64_t i = 1; i < 20000; i++)
        put_i(db, i, SLUICE_ACK_MEMORY);
    cr_assert_eq(sluice_cursor_drop(db, "replica", SLUICE_ACK_MEMORY), 0);
    cr_assert_eq(sluice_compact(db), 0);
    struct sluice_stats st;
    cr_assert_eq(sluice_stats(db, &st), 0);
    cr_assert_eq(st.cursors, 1);
    cr_assert_eq(st.cursors_lagging, 0);
    cr_assert_gt(st.replay_segments, 0, "the cursor kept its segments");
    cr_assert_eq(sluice_close(db), 0);
    /* the cursor is in the cold tier now; the dropped one stays dropped */
    cr_assert_eq(sluice_open(dir, &o, &db), 0);
    cr_assert_eq(sluice_cursor_get(db, "dashboard", &v, &lag), 0);
    cr_assert_eq(v, l1);
    cr_assert_eq(sluice_cursor_get(db, "replica", &v, NULL), SLUICE_NOTFOUND);
    sluice_tail *t;
    cr_assert_eq(sluice_tail_open(db, v + 1, SLUICE_ACK_DURABLE, &t), 0);
    sluice_tail_record rec;
    cr_assert_eq(sluice_tail_next(t, &rec, 1000), 0);
    expect_rec(&rec, 1, rec.lsn);
    sluice_tail_close(t);
    /* moving the cursor on lets the segments go */
    cr_assert_eq(sluice_cursor_commit(db, "dashboard", st.compacted_lsn, SLUICE_ACK_DURABLE), 0);
    for (uint64_t i = 0; i < 3000; i++)
        put_i(db, i, SLUICE_ACK_MEMORY);
    cr_assert_eq(sluice_compact(db), 0);
    uint64_t oldest;
    cr_assert_eq(sluice_tail_oldest(db, &oldest), 0);
    cr_assert_gt(oldest, l1 + 1);
    cr_assert_leq(oldest, st.compacted_lsn + 1);
    cr_assert_eq(sluice_close(db), 0);
}

static int lag_events;
static void count_lag(void *arg, const struct sluice_event *ev)
{
    (void)arg;
    if (ev->type == SLUICE_EVENT_CURSOR_LAGGING)
        __atomic_add_fetch(&lag_events, 1, __ATOMIC_RELAXED);
}

/* A cursor may hold cursor_retain_max_bytes; past it it is marked lagging, and a tail
 * from it gets SLUICE_ETRIMMED. */
Test(tail, a_cursor_past_its_bound_lags)
{
    sluice_options o;
    small_opts(&o);
    o.cursor_retain_max_bytes = 1 << 20;
    o.on_event = count_lag;
    sluice_db *db;
    cr_assert_eq(sluice_open(dir, &o, &db), 0);
    uint64_t l1 = put_i(db, 0, SLUICE_ACK_MEMORY);
    cr_assert_eq(sluice_cursor_commit(db, "slow", l1, SLUICE_ACK_MEMORY), 0);
    for (uint64_t i = 1; i < 60000; i++)
        put_i(db, i, SLUICE_ACK_MEMORY);
    cr_assert_eq(sluice_compact(db), 0);
    struct sluice_stats st;
    cr_assert_eq(sluice_stats(db, &st), 0);
    cr_assert_eq(st.cursors_lagging, 1);
    cr_assert_leq(st.replay_bytes, 1 << 20, "the bound held");
    cr_assert_gt(__atomic_load_n(&lag_events, __ATOMIC_RELAXED), 0);
    uint64_t v;
    int lag = 0;
    cr_assert_eq(sluice_cursor_get(db, "slow", &v, &lag), 0);
    cr_assert_eq(lag, 1);
    sluice_tail *t;
    cr_assert_eq(sluice_tail_open(db, v + 1, SLUICE_ACK_MEMORY, &t), SLUICE_ETRIMMED);
    /* a commit where the retained records are clears it */
    uint64_t oldest;
    cr_assert_eq(sluice_tail_oldest(db, &oldest), 0);
    cr_assert_eq(sluice_cursor_commit(db, "slow", oldest, SLUICE_ACK_MEMORY), 0);
    cr_assert_eq(sluice_cursor_get(db, "slow", &v, &lag), 0);
    cr_assert_eq(lag, 0);
    cr_assert_eq(sluice_close(db), 0);
}

static int list_mark(void *arg, int kind, const char *name, uint64_t value, int lagging)
{
    char *out = arg;
    (void)lagging;
    sprintf(out + strlen(out), "%c:%s=%llu;", kind == SLUICE_MARK_CURSOR ? 'c' : 'w', name,
            (unsigned long long)value);
    return 0;
}

/* Watermarks: persisted, monotonic, the low one is the minimum; records below it are
 * late (counted, flagged on tails) and refused under SLUICE_LATE_REFUSE. */
Test(tail, watermarks_and_late_records)
{
    sluice_options o;
    small_opts(&o);
    sluice_db *db;
    cr_assert_eq(sluice_open(dir, &o, &db), 0);
    uint64_t ts;
    cr_assert_eq(sluice_watermark_low(db, &ts), SLUICE_NOTFOUND);
    cr_assert_eq(sluice_watermark_put(db, "kafka/0", 5000, SLUICE_ACK_DURABLE), 0);
    cr_assert_eq(sluice_watermark_put(db, "kafka/1", 3000, SLUICE_ACK_MEMORY), 0);
    cr_assert_eq(sluice_watermark_put(db, "kafka/1", 2000, SLUICE_ACK_MEMORY), SLUICE_EORDER);
    cr_assert_eq(sluice_watermark_put(db, "kafka/1", 3000, SLUICE_ACK_MEMORY), 0, "the same again");
    cr_assert_eq(sluice_watermark_low(db, &ts), 0);
    cr_assert_eq(ts, 3000);
    uint64_t l_ok, l_late;
    cr_assert_eq(sluice_put(db, "a", 1, 3000, "x", 1, SLUICE_ACK_MEMORY, &l_ok), 0);
    cr_assert_eq(sluice_put(db, "a", 1, 2999, "y", 1, SLUICE_ACK_MEMORY, &l_late), 0);
    struct sluice_stats st;
    cr_assert_eq(sluice_stats(db, &st), 0);
    cr_assert_eq(st.late_records, 1);
    cr_assert_eq(st.low_watermark, 3000);
    char buf[4];
    size_t vl;
    cr_assert_eq(sluice_get(db, "a", 1, 2999, buf, sizeof buf, &vl), 0, "accepted and merged");
    sluice_tail *t;
    cr_assert_eq(sluice_tail_open(db, l_ok, SLUICE_ACK_MEMORY, &t), 0);
    sluice_tail_record rec;
    cr_assert_eq(sluice_tail_next(t, &rec, 1000), 0);
    cr_assert_eq(rec.flags, 0);
    cr_assert_eq(sluice_tail_next(t, &rec, 1000), 0);
    cr_assert_eq(rec.lsn, l_late);
    cr_assert_eq(rec.flags, SLUICE_TAIL_LATE);
    sluice_tail_close(t);
    cr_assert_eq(sluice_compact(db), 0);
    cr_assert_eq(sluice_close(db), 0);
    /* persisted (in the cold tier now), and enforced after the reopen */
    o.late_policy = SLUICE_LATE_REFUSE;
    cr_assert_eq(sluice_open(dir, &o, &db), 0);
    cr_assert_eq(sluice_watermark_get(db, "kafka/0", &ts), 0);
    cr_assert_eq(ts, 5000);
    cr_assert_eq(sluice_watermark_put(db, "kafka/0", 4000, SLUICE_ACK_MEMORY), SLUICE_EORDER);
    cr_assert_eq(sluice_put(db, "a", 1, 10, "z", 1, SLUICE_ACK_MEMORY, NULL), SLUICE_ELATE);
    cr_assert_eq(sluice_delete(db, "a", 1, 10, SLUICE_ACK_MEMORY, NULL), SLUICE_ELATE);
    cr_assert_eq(sluice_put(db, "a", 1, 3001, "z", 1, SLUICE_ACK_MEMORY, NULL), 0);
    cr_assert_eq(sluice_stats(db, &st), 0);
    cr_assert_eq(st.rejected_late, 2);
    char list[256] = "";
    cr_assert_eq(sluice_cursor_commit(db, "c1", 1, SLUICE_ACK_MEMORY), 0);
    cr_assert_eq(sluice_marks_list(db, list_mark, list), 0);
    cr_assert_str_eq(list, "c:c1=1;w:kafka/0=5000;w:kafka/1=3000;");
    cr_assert_eq(sluice_close(db), 0);
    /* a bad policy is refused by name */
    o.late_policy = 7;
    cr_assert_eq(sluice_open(dir, &o, &db), SLUICE_EINVAL);
}

/* SLUICE_ACK_COLD returns once the record is in the cold tier; sluice_wait too. */
Test(tail, ack_cold)
{
    sluice_options o;
    small_opts(&o);
    o.manual_compaction = 1;
    sluice_db *db;
    cr_assert_eq(sluice_open(dir, &o, &db), 0);
    uint64_t lsn = put_i(db, 1, SLUICE_ACK_COLD);
    struct sluice_stats st;
    cr_assert_eq(sluice_stats(db, &st), 0);
    cr_assert_geq(st.compacted_lsn, lsn);
    uint64_t l2 = put_i(db, 2, SLUICE_ACK_MEMORY);
    cr_assert_eq(sluice_wait(db, l2, SLUICE_ACK_COLD, 0), SLUICE_ETIMEDOUT, "0 only checks");
    cr_assert_eq(sluice_wait(db, l2, SLUICE_ACK_COLD, 10000), 0);
    cr_assert_eq(sluice_stats(db, &st), 0);
    cr_assert_geq(st.compacted_lsn, l2);
    cr_assert_eq(sluice_close(db), 0);
}

/* A read-only handle's tail reads what a writer (here another handle) writes, across
 * segment rolls: at WRITTEN as soon as it is written; at DURABLE once the log proves it
 * (a later write's durable stamp, a later segment, or the writer's clean close). */
Test(tail, read_only_tail_follows_a_writer)
{
    sluice_options o;
    small_opts(&o);
    o.manual_compaction = 1;
    sluice_db *w;
    cr_assert_eq(sluice_open(dir, &o, &w), 0);
    uint64_t first = put_i(w, 0, SLUICE_ACK_DURABLE);
    sluice_options ro;
    sluice_options_init(&ro);
    ro.read_only = 1;
    sluice_db *r;
    cr_assert_eq(sluice_open(dir, &ro, &r), 0);
    sluice_tail *tw, *td;
    cr_assert_eq(sluice_tail_open(r, first, SLUICE_ACK_WRITTEN, &tw), 0);
    cr_assert_eq(sluice_tail_open(r, first, SLUICE_ACK_DURABLE, &td), 0);
    enum { N = 5000 };
    sluice_tail_record rec;
    for (uint64_t i = 0; i < N; i++) {
        if (i)
            put_i(w, i, i % 50 == 0 ? SLUICE_ACK_DURABLE : SLUICE_ACK_WRITTEN);
        if (i % 50 == 0) { /* everything up to i is written */
            for (uint64_t j = i ? i - 49 : 0; j <= i; j++) {
                int e = sluice_tail_next(tw, &rec, 5000);
                cr_assert_eq(e, 0, "written %llu: %s", (unsigned long long)j, sluice_strerror(e));
                expect_rec(&rec, j, first + j);
            }
        }
    }
    struct sluice_stats st;
    cr_assert_eq(sluice_stats(w, &st), 0);
    cr_assert_gt(st.segments_created, 2, "the tails crossed segment rolls");
    uint64_t durable_seen = 0;
    while (sluice_tail_next(td, &rec, 0) == 0) {
        expect_rec(&rec, durable_seen, first + durable_seen);
        durable_seen++;
    }
    cr_assert_gt(durable_seen, 0, "proven durable while the writer ran");
    cr_assert_eq(sluice_stats(w, &st), 0); /* (durable only grows: read after the tail) */
    cr_assert_leq(first + durable_seen - 1, st.durable_lsn, "never ahead of durable");
    cr_assert_eq(sluice_close(w), 0); /* its last fill proves the rest */
    for (uint64_t j = durable_seen; j < N; j++) {
        int e = sluice_tail_next(td, &rec, 5000);
        cr_assert_eq(e, 0, "durable %llu: %s", (unsigned long long)j, sluice_strerror(e));
        expect_rec(&rec, j, first + j);
    }
    cr_assert_eq(sluice_tail_next(td, &rec, 0), SLUICE_ETIMEDOUT);
    sluice_tail_close(tw);
    sluice_tail_close(td);
    cr_assert_eq(sluice_close(r), 0);
}

/* Exactly once downstream across SIGKILLs: a consumer processes each input record by
 * putting its output and committing its cursor (the output first, in the same log: a
 * surviving cursor implies a surviving output), and after every restart resumes from
 * its cursor. It must see, every time, exactly the durable inputs after its cursor, in
 * order; in the end every input has its output. */
#define EO_INPUTS 3000
static uint64_t eo_lsn[EO_INPUTS];

static int consume(const char *path, int kill_me_after)
{
    sluice_options o;
    small_opts(&o);
    o.replay_retain_bytes = 0; /* the cursor alone keeps what it needs */
    sluice_db *db;
    if (sluice_open(path, &o, &db))
        return 10;
    uint64_t cur = 0;
    int r = sluice_cursor_get(db, "consumer", &cur, NULL);
    if (r && r != SLUICE_NOTFOUND)
        return 11;
    size_t next = 0;
    while (next < EO_INPUTS && eo_lsn[next] <= cur)
        next++;
    sluice_tail *t;
    if (sluice_tail_open(db, cur + 1, SLUICE_ACK_DURABLE, &t))
        return 12;
    int done = 0;
    while (next < EO_INPUTS) {
        sluice_tail_record rec;
        if ((r = sluice_tail_next(t, &rec, 5000)))
            return 13;
        if (rec.klen == 3 && !memcmp(rec.key, "out", 3))
            continue; /* our own output */
        if (rec.lsn != eo_lsn[next])
            return 14; /* a duplicate, a gap, or out of order */
        if (sluice_put(db, "out", 3, rec.lsn, rec.val, rec.vlen, SLUICE_ACK_MEMORY, NULL) ||
            sluice_cursor_commit(db, "consumer", rec.lsn, SLUICE_ACK_DURABLE))
            return 15;
        next++;
        if (kill_me_after && ++done == kill_me_after)
            raise(SIGKILL);
    }
    sluice_tail_close(t);
    return sluice_close(db) ? 16 : 0;
}

Test(tail, exactly_once_from_a_cursor_across_sigkill)
{
    sluice_options o;
    small_opts(&o);
    sluice_db *db;
    cr_assert_eq(sluice_open(dir, &o, &db), 0);
    /* the consumer registers first: from then on its cursor keeps what it needs */
    cr_assert_eq(sluice_cursor_commit(db, "consumer", 0, SLUICE_ACK_DURABLE), 0);
    for (uint64_t i = 0; i < EO_INPUTS; i++)
        eo_lsn[i] = put_i(db, i, SLUICE_ACK_MEMORY);
    cr_assert_eq(sluice_flush(db), 0);
    cr_assert_eq(sluice_close(db), 0);
    uint64_t seed = tu_seed("exactly_once_from_a_cursor_across_sigkill");
    int rounds = 0, finished = 0;
    while (!finished && rounds < 200) {
        rounds++;
        int after = (int)(tu_rand(&seed) % 200) + 1;
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0)
            _exit(consume(dir, after));
        int status;
        waitpid(pid, &status, 0);
        tu_rm_ring_files(dir); /* a killed writer's ring: as after a power cut */
        if (WIFEXITED(status)) {
            cr_assert_eq(WEXITSTATUS(status), 0, "round %d: consumer exit %d", rounds, WEXITSTATUS(status));
            finished = 1;
        } else {
            cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        }
    }
    cr_assert(finished, "the consumer finished within 200 rounds");
    cr_assert_eq(sluice_open(dir, &o, &db), 0);
    for (size_t i = 0; i < EO_INPUTS; i++) {
        char buf[256];
        size_t vl;
        cr_assert_eq(sluice_get(db, "out", 3, eo_lsn[i], buf, sizeof buf, &vl), 0,
                     "input %zu has its output", i);
    }
    uint64_t cur;
    cr_assert_eq(sluice_cursor_get(db, "consumer", &cur, NULL), 0);
    cr_assert_eq(cur, eo_lsn[EO_INPUTS - 1]);
    cr_assert_eq(sluice_close(db), 0);
}

/* ---- the tool ---- */
#include "cli_run.h"

Test(tail, cli_tail_prints_in_lsn_order_from_a_cursor)
{
    sluice_options o;
    small_opts(&o);
    sluice_db *db;
    cr_assert_eq(sluice_open(dir, &o, &db), 0);
    uint64_t mid = 0;
    for (uint64_t i = 0; i < 100; i++) {
        uint64_t l = put_i(db, i, SLUICE_ACK_MEMORY);
        if (i == 59)
            mid = l;
    }
    cr_assert_eq(sluice_cursor_commit(db, "etl", mid, SLUICE_ACK_MEMORY), 0);
    cr_assert_eq(sluice_watermark_put(db, "src", 1050, SLUICE_ACK_MEMORY), 0);
    cr_assert_eq(sluice_put(db, "late", 4, 5, "v", 1, SLUICE_ACK_MEMORY, NULL), 0);
    cr_assert_eq(sluice_close(db), 0);
    cr_assert_eq(tc_run("tail", dir, "--json", NULL), 0, "%s", tc_err);
    cr_assert_eq(tc_lines(tc_out), 101, "%s", tc_out);
    cr_assert(strstr(tc_out, "{\"lsn\":\"1\",\"type\":\"put\",\"key\":\"key-000\",\"ts\":\"1000\",\"late\":false,"),
              "%.300s", tc_out);
    cr_assert(strstr(tc_out, "\"key\":\"late\",\"ts\":\"5\",\"late\":true"), "%s", tc_out);
    cr_assert_eq(tc_run("tail", dir, "--from-cursor", "etl", "--csv", NULL), 0, "%s", tc_err);
    cr_assert_eq(tc_lines(tc_out), 1 + 40 + 1, "a header, records 60..99 and the late one");
    cr_assert(!strncmp(tc_out, "lsn,type,key,ts,late,value\r\n", 28));
    cr_assert_eq(tc_run("tail", dir, "--from-cursor", "nobody", NULL), 1);
    cr_assert_eq(tc_run("tail", dir, "--from-lsn", "0", NULL), 2);
    cr_assert_eq(tc_run("tail", dir, "--from-end", "--from-lsn", "3", NULL), 2);
    cr_assert_eq(tc_run("tail", dir, "--max", "5", NULL), 0);
    cr_assert_eq(tc_lines(tc_out), 6, "a header and five");
    cr_assert_eq(tc_run("info", dir, NULL), 0);
    cr_assert(strstr(tc_out, "etl"), "info lists the cursor: %s", tc_out);
    cr_assert(strstr(tc_out, "src"), "info lists the watermark: %s", tc_out);
    cr_assert(!strstr(tc_out, "\\x01"), "internal names are not shown as offsets: %s", tc_out);
    /* repair carries the watermark and names the cursor it cannot carry */
    char dest[4200];
    snprintf(dest, sizeof dest, "%s/copy", dir);
    cr_assert_eq(tc_run("repair", dir, dest, NULL), 0, "%s", tc_err);
    cr_assert(strstr(tc_out, "not carried: cursor etl"), "%s", tc_out);
    cr_assert_eq(sluice_open(dest, &o, &db), 0);
    uint64_t wm;
    cr_assert_eq(sluice_watermark_get(db, "src", &wm), 0);
    cr_assert_eq(wm, 1050);
    cr_assert_eq(sluice_cursor_get(db, "etl", &wm, NULL), SLUICE_NOTFOUND);
    cr_assert_eq(sluice_close(db), 0);
}

/* sluice tail --follow, a second process, prints what this one writes as it writes. */
Test(tail, cli_tail_follow_from_another_process)
{
    sluice_options o;
    small_opts(&o);
    /* the follower is a slow process under a sanitizer: without retention the compactor
     * may delete a segment before it read it (CI: "LSN 1501 is no longer retained") */
    o.replay_retain_bytes = 1ull << 30;
    sluice_db *db;
    cr_assert_eq(sluice_open(dir, &o, &db), 0);
    uint64_t first = put_i(db, 0, SLUICE_ACK_DURABLE);
    for (uint64_t i = 1; i < 100; i++)
        put_i(db, i, SLUICE_ACK_WRITTEN);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s/sluice tail '%s' --follow --max 3000 --json", SLUICE_BIN_DIR, dir);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    for (uint64_t i = 100; i < 3000; i++) {
        put_i(db, i, i % 100 == 99 ? SLUICE_ACK_DURABLE : SLUICE_ACK_MEMORY);
        /* pacing, not waiting: the follower in the other process must meet the end of
         * the files and wait for more several times, which a burst would not make it do */
        if (i % 500 == 0)
            usleep(20000);
    }
    cr_assert_eq(sluice_flush(db), 0);
    char line[1024];
    uint64_t n = 0;
    while (fgets(line, sizeof line, p)) {
        char want[64];
        snprintf(want, sizeof want, "{\"lsn\":\"%llu\",", (unsigned long long)(first + n));
        cr_assert(!strncmp(line, want, strlen(want)), "line %llu: %s", (unsigned long long)n, line);
        n++;
    }
    cr_assert_eq(pclose(p), 0);
    cr_assert_eq(n, 3000);
    cr_assert_eq(sluice_close(db), 0);
}

/* A damaged byte in a segment kept for replay: the tail stops there with
 * SLUICE_ECORRUPT, after delivering every record before it intact. */
Test(tail, damage_in_a_replay_segment_is_ecorrupt)
{
    sluice_options o;
    small_opts(&o);
    o.replay_retain_bytes = 1ull << 30;
    sluice_db *db;
    cr_assert_eq(sluice_open(dir, &o, &db), 0);
    for (uint64_t i = 0; i < 5000; i++)
        put_i(db, i, SLUICE_ACK_MEMORY);
    cr_assert_eq(sluice_compact(db), 0);
    cr_assert_eq(sluice_close(db), 0);
    char path[4096];
    snprintf(path, sizeof path, "%s/replay/%016x.seg", dir, 1);
    cr_assert_gt(tu_file_size(path), 20000, "%s", path);
    cr_assert_eq(tu_flip(path, 10000, 0x10), 0);
    cr_assert_eq(sluice_open(dir, &o, &db), 0, "replay/ is not the log: the open does not care");
    sluice_tail *t;
    cr_assert_eq(sluice_tail_open(db, 1, SLUICE_ACK_MEMORY, &t), 0);
    sluice_tail_record rec;
    int r;
    uint64_t n = 0;
    while ((r = sluice_tail_next(t, &rec, 1000)) == 0) {
        expect_rec(&rec, n, n + 1);
        n++;
    }
    cr_assert_eq(r, SLUICE_ECORRUPT, "%s after %llu records", sluice_strerror(r), (unsigned long long)n);
    cr_assert_gt(n, 0);
    cr_assert_lt(n, 5000);
    sluice_tail_close(t);
    cr_assert_eq(sluice_close(db), 0);
}

/* replay_retain_ns keeps segments last written within that long: 1 ns keeps none, an
 * hour keeps them all. */
Test(tail, retention_by_age)
{
    sluice_options o;
    small_opts(&o);
    o.replay_retain_ns = 1;
    sluice_db *db;
    cr_assert_eq(sluice_open(dir, &o, &db), 0);
    for (uint64_t i = 0; i < 20000; i++)
        put_i(db, i, SLUICE_ACK_MEMORY);
    cr_assert_eq(sluice_compact(db), 0);
    struct sluice_stats st;
    cr_assert_eq(sluice_stats(db, &st), 0);
    cr_assert_eq(st.replay_segments, 0);
    cr_assert_gt(st.segments_deleted, 0);
    cr_assert_eq(sluice_close(db), 0);
    o.replay_retain_ns = 3600ull * 1000000000u;
    cr_assert_eq(sluice_open(dir, &o, &db), 0);
    uint64_t before = st.compacted_lsn;
    for (uint64_t i = 0; i < 20000; i++)
        put_i(db, i, SLUICE_ACK_MEMORY);
    cr_assert_eq(sluice_compact(db), 0);
    cr_assert_eq(sluice_stats(db, &st), 0);
    cr_assert_gt(st.replay_segments, 1);
    uint64_t oldest;
    cr_assert_eq(sluice_tail_oldest(db, &oldest), 0);
    cr_assert_leq(oldest, before + 1, "everything since the reopen is kept");
    cr_assert_eq(sluice_close(db), 0);
}
