/*
 * The workload the fault sweeps share (test_lmdb_faults, test_alloc_faults), and the
 * rules each faulty run must keep; fault_workload.h says what they are.
 */
#include "fault_workload.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_run.h"
#include "sluice.h"
#include "tier_check.h"
#include "util.h"

#define KEYS 7
#define PER_PHASE 400
#define TAIL_PUTS 50 /* the third open's: with retention, they drop the first open's */
#define MAX_ID (2 * PER_PHASE + TAIL_PUTS)
/* Retention (third open only): ts are ids, so records below the newest put minus this
 * may be dropped by its compaction, whole blocks at a time. */
#define RETAIN_NS 420

/* The child's account: ids put successfully, and those a completed flush covered. */
static uint8_t tried[MAX_ID + 1], put_ok[MAX_ID + 1], acked[MAX_ID + 1];

static void ack_all_put(void)
{
    for (uint64_t id = 1; id <= MAX_ID; id++)
        acked[id] |= put_ok[id];
}

/* Whether acknowledged record id must still be there: retention may have dropped older
 * ones (it counts from the newest ts compaction saw, never newer than the newest put). */
static int must_have(uint64_t id)
{
    uint64_t newest = 0;
    for (uint64_t i = 1; i <= MAX_ID; i++)
        if (put_ok[i])
            newest = i;
    return acked[id] && (newest <= 2 * PER_PHASE || id + RETAIN_NS >= newest);
}

static size_t record_of(uint64_t id, char *key, uint8_t *val, size_t *vlen)
{
    *vlen = 600 + (id * 131) % 1200; /* 1.3 MB in all: the 1 MiB map grows */
    tu_fill(val, *vlen, id);
    return (size_t)sprintf(key, "k%u", (unsigned)(id % KEYS));
}

static void options(sluice_options *o, uint64_t retention_ns)
{
    sluice_options_init(o);
    o->ring_bytes = 256u << 10;
    o->segment_bytes = 256u << 10;
    o->manual_compaction = 1; /* compactions where the workload asks: a fixed sequence */
    o->cold_map_bytes = 1u << 20;
    o->stats_interval_ms = 0;
    o->retention_ns = retention_ns;
    /* compacted segments move to replay/ and are pruned there; a cursor at LSN 1 asks
     * for more than it may hold and lags (design.md, "Follow, replay and watermarks") */
    o->replay_retain_bytes = 384u << 10;
    o->cursor_retain_max_bytes = 512u << 10;
}

/* The first honesty rule: a code that says what happened. */
static int dishonest(int r, const char *what)
{
    if (!r || r == SLUICE_END)
        return 0;
    if (r == SLUICE_ECORRUPT || r == SLUICE_EINTERNAL || !strcmp(sluice_errname(r), "unknown")) {
        fprintf(stderr, "%s returned %d (%s)\n", what, r, sluice_errname(r));
        return 1;
    }
    return 0;
}

#define CHECK(call, what)                                                                          \
    do {                                                                                           \
        int r_ = (call);                                                                           \
        if (dishonest(r_, what))                                                                   \
            tu_exit(RUN_DISHONEST_CODE);                                                           \
        if (r_ && r_ != SLUICE_END)                                                                \
            rc = r_;                                                                               \
    } while (0)

/* Point and latest gets of acknowledged records, and a full scan of one key: each
 * answers correctly or fails, never with less than what was acknowledged. */
static int reads(sluice_db *db)
{
    int rc = 0;
    char key[16];
    uint8_t want[2048], got[2048];
    uint64_t nacked = 0, expect = 0;
    for (uint64_t id = 1; id <= MAX_ID; id++) {
        nacked += must_have(id);
        expect += must_have(id) && id % KEYS == 3;
    }
    for (uint64_t id = 1; id <= MAX_ID; id += 17) {
        if (!must_have(id))
            continue;
        size_t wlen, glen, klen = record_of(id, key, want, &wlen);
        int r = sluice_get(db, key, klen, id, got, sizeof got, &glen);
        if (r == SLUICE_NOTFOUND) {
            fprintf(stderr, "get of acknowledged id %llu: NOTFOUND\n", (unsigned long long)id);
            tu_exit(RUN_DATA_HIDDEN);
        }
        CHECK(r, "sluice_get");
        if (!r && (glen != wlen || memcmp(got, want, wlen)))
            tu_exit(RUN_WRONG);
    }
    if (nacked) {
        uint64_t ts;
        size_t glen;
        int r = sluice_get_latest(db, "k0", 2, &ts, got, sizeof got, &glen);
        int k0 = 0;
        for (uint64_t id = KEYS; id <= MAX_ID; id += KEYS)
            k0 |= must_have(id);
        if (r == SLUICE_NOTFOUND && k0)
            tu_exit(RUN_DATA_HIDDEN);
        CHECK(r, "sluice_get_latest");
    }
    /* one key's scan, then every key's (ts, key order: each series' cursor at once) */
    for (int all = 0; all < 2; all++) {
        sluice_iter *it;
        int r = sluice_iter_open(db, all ? NULL : "k3", all ? 0 : 2, 0, UINT64_MAX, &it);
        CHECK(r, "sluice_iter_open");
        if (r)
            continue;
        sluice_record rec;
        uint64_t n = 0;
        while ((r = sluice_iter_next(it, &rec)) == 0)
            n++;
        sluice_iter_close(it);
        CHECK(r, "sluice_iter_next");
        uint64_t want_n = all ? nacked : expect;
        if (r == SLUICE_END && n < want_n) {
            fprintf(stderr, "%s scan ended after %llu of %llu records\n", all ? "all-key" : "k3",
                    (unsigned long long)n, (unsigned long long)want_n);
            tu_exit(RUN_DATA_HIDDEN);
        }
    }
    /* the catalogue with counts and latest values: as many records as were acknowledged */
    sluice_series *s;
    int r = sluice_series_open(db, NULL, 0, SLUICE_SERIES_STATS | SLUICE_SERIES_LATEST, &s);
    CHECK(r, "sluice_series_open");
    if (!r) {
        sluice_series_info info;
        uint64_t n = 0;
        while ((r = sluice_series_next(s, &info)) == 0)
            n += info.records;
        sluice_series_close(s);
        CHECK(r, "sluice_series_next");
        if (r == SLUICE_END && n < nacked) {
            fprintf(stderr, "the catalogue counts %llu of %llu records\n", (unsigned long long)n,
                    (unsigned long long)nacked);
            tu_exit(RUN_DATA_HIDDEN);
        }
    }
    return rc;
}

/* A consumer: a cursor, a watermark, and a DURABLE tail from the oldest retained LSN to
 * the end, each record checked against what was put under its id. */
static int follow(sluice_db *db, uint64_t to)
{
    int rc = 0;
    CHECK(sluice_cursor_commit(db, "down", 1, SLUICE_ACK_MEMORY), "sluice_cursor_commit");
    CHECK(sluice_watermark_put(db, "src", to, SLUICE_ACK_MEMORY), "sluice_watermark_put");
    sluice_tail *t;
    int r = sluice_tail_open(db, 0, SLUICE_ACK_DURABLE, &t);
    CHECK(r, "sluice_tail_open");
    if (r)
        return rc;
    sluice_tail_record rec;
    char key[16];
    uint8_t want[2048];
    while ((r = sluice_tail_next(t, &rec, 0)) == 0) {
        size_t wlen, klen = rec.ts <= MAX_ID ? record_of(rec.ts, key, want, &wlen) : 0;
        if (!klen || !tried[rec.ts] || rec.klen != klen || memcmp(rec.key, key, klen) ||
            rec.vlen != wlen || memcmp(rec.val, want, wlen))
            tu_exit(RUN_WRONG);
    }
    sluice_tail_close(t);
    if (r != SLUICE_ETIMEDOUT)
        CHECK(r, "sluice_tail_next");
    return rc;
}

/* One open's phase: puts of ids (from, to], a flush half way and a compaction, a flush
 * at the end, a compaction, reads, an offset, a close. Puts stop at the first failure
 * (what follows would only repeat it). */
static void phase(const char *dir, uint64_t from, uint64_t to, uint64_t retention_ns)
{
    sluice_options o;
    options(&o, retention_ns);
    sluice_db *db;
    int rc = 0;
    CHECK(sluice_open(dir, &o, &db), "sluice_open");
    if (rc)
        return;
    char key[16];
    uint8_t val[2048];
    for (uint64_t id = from + 1; id <= to && !rc; id++) {
        size_t vlen, klen = record_of(id, key, val, &vlen);
        tried[id] = 1; /* a put that failed may still have landed */
        CHECK(sluice_put(db, key, klen, id, val, vlen, SLUICE_ACK_MEMORY, NULL), "sluice_put");
        put_ok[id] = !rc;
        if (id == from + (to - from) / 2 && !rc) {
            CHECK(sluice_flush(db), "sluice_flush");
            if (!rc)
                ack_all_put();
            CHECK(sluice_compact(db), "sluice_compact (half way)");
            rc = 0; /* a failed compaction does not stop the puts */
        }
    }
    rc = 0;
    CHECK(sluice_flush(db), "sluice_flush");
    if (!rc)
        ack_all_put();
    CHECK(sluice_compact(db), "sluice_compact");
    CHECK(reads(db), "reads");
    CHECK(follow(db, to), "follow");
    CHECK(sluice_offset_put(db, "src", to, SLUICE_ACK_DURABLE), "sluice_offset_put");
    uint64_t off;
    CHECK(sluice_offset_get(db, "src", &off), "sluice_offset_get");
    struct sluice_stats st;
    CHECK(sluice_stats(db, &st), "sluice_stats");
    CHECK(sluice_close(db), "sluice_close");
    (void)rc;
}

/* Fault-free: everything acknowledged (and not past retention) reads back byte for byte;
 * everything present was tried, intact and once (tier_check.c's oracle). */
static int verify(const char *dir)
{
    static uint8_t must[MAX_ID + 1];
    for (uint64_t id = 1; id <= MAX_ID; id++)
        must[id] = (uint8_t)must_have(id);
    sluice_options o;
    options(&o, 0);
    /* retention deletes records, so LSNs go missing from the tiers: no LSN census */
    struct tc_oracle want = {.max_id = MAX_ID, .tried = tried, .acked = must,
                             .record_of = record_of, .lsn_gaps_allowed = 1};
    char why[512];
    if (tc_check_oracle(dir, &o, &want, why, sizeof why) == 0)
        return RUN_OK;
    fprintf(stderr, "fault-free check: %s\n", why);
    return strstr(why, "open:") == why ? RUN_REOPEN
         : strstr(why, "lost") || strstr(why, "scan:") ? RUN_LOST
                                                        : RUN_WRONG;
}

/* The tool's read-only commands on the closed directory, with the fault still armed:
 * each may fail, but says so in its own words, and never calls a failure damage (the
 * directory has none): verify reports no problem (it exits 0, or 2 for I/O, or 1 for a
 * directory that never came to be); nobody prints "corrupt". */
static void inspect(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s.backup", dir);
    char *dest = strdup(path); /* libc's own malloc: the sweeps' faults are not for the harness */
    if (!dest)
        tu_exit(98);
    const char *cmds[][8] = {
        {"verify", dir, NULL},
        {"info", dir, "--json", NULL},
        {"dump", "cold", dir, "--records", NULL},
        {"dump", "log", dir, NULL},
        {"scan", dir, "--from", "0", "--to", "100000", NULL},
        {"get", dir, "k3", NULL},
        {"backup", dir, dest, NULL},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        int argc = 0;
        while (cmds[i][argc])
            argc++;
        int code = tc_runv(argc, (char **)cmds[i]);
        /* (verify exits 1 also for a directory the faults never let the workload make) */
        int damage = (!strcmp(cmds[i][0], "verify") && code == 1 && strstr(tc_out, "problem")) ||
                     strcasestr(tc_err, "corrupt");
        if (damage) {
            fprintf(stderr, "sluice %s exited %d: %.2000s%.2000s\n", cmds[i][0], code, tc_out, tc_err);
            tu_exit(RUN_DISHONEST_CODE);
        }
    }
    tu_rmdir(dest); /* (frees it) */
}

void fw_workload(const char *dir)
{
    phase(dir, 0, PER_PHASE, 0);
    phase(dir, PER_PHASE, 2 * PER_PHASE, 0);
    phase(dir, 2 * PER_PHASE, MAX_ID, RETAIN_NS); /* reaches retention's deletes */
    inspect(dir);
}

int fw_verify(const char *dir) { return verify(dir); }

int fw_run_case(const struct fw_hooks *h, void *counts, size_t counts_bytes)
{
    int pipefd[2];
    if (pipe(pipefd))
        return 98;
    pid_t pid = fork();
    if (pid < 0)
        return 98;
    if (pid == 0) {
        close(pipefd[0]);
        alarm(60); /* a hang (a retry loop on a sticky fault) ends as SIGALRM */
        char *dir = tu_mkdtemp();
        h->arm(h->arg);
        fw_workload(dir);
        h->disarm(h->arg);
        int verdict = verify(dir);
        tu_rmdir(dir);
        if (counts_bytes && write(pipefd[1], counts, counts_bytes) != (ssize_t)counts_bytes)
            tu_exit(99);
        tu_exit(verdict);
    }
    close(pipefd[1]);
    size_t n = 0; /* (a pipe may hand a large write over in parts) */
    while (n < counts_bytes) {
        ssize_t got = read(pipefd[0], (char *)counts + n, counts_bytes - n);
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    close(pipefd[0]);
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return 97;
    if (counts_bytes && n != counts_bytes)
        memset(counts, 0, counts_bytes);
    return WIFSIGNALED(status) ? 100 + WTERMSIG(status) : WEXITSTATUS(status);
}
