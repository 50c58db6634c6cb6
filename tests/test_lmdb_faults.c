/*
 * LMDB fault sweep: every LMDB call the cold tier makes, failed on purpose. The test is
 * linked with -Wl,--wrap for each of them (tests/CMakeLists.txt), so the cold tier's own
 * calls reach the __wrap_ functions below, which count them and, when told to, fail one
 * call (transient) or every call from one on (sticky) with an error LMDB really returns
 * there, keeping LMDB's contract for the failure (a failed commit frees its transaction;
 * a failed create, begin or cursor open hands nothing back).
 *
 * One fixed workload (two opens, puts, flushes, compactions, point and latest gets, a
 * scan, an offset, closes) runs once to discover how often each function is called, then
 * once per fault: each function x {first, middle, last call} x {transient, sticky} x the
 * errors that function can return. Each faulty run happens in a child process and must:
 *   - never crash or hang (an alarm ends a run that loops on a sticky fault);
 *   - return only named error codes, never SLUICE_ECORRUPT (nothing was damaged) nor
 *     SLUICE_EINTERNAL;
 *   - never answer for acknowledged data as if it were absent: a get returns the value
 *     or an error, never SLUICE_NOTFOUND; a scan that ends normally returned every record;
 *   - leave a directory that a fault-free open reads back whole: every record
 *     acknowledged by a completed flush present with its value, nothing invented.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <lmdb.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sluice.h"
#include "util.h"

/* ---- the wrappers ---- */

#define LMDB_CALLS(X)                                                                              \
    X(mdb_env_create, (MDB_env * *env), (env), (*env = NULL))                                     \
    X(mdb_env_open, (MDB_env * env, const char *path, unsigned flags, mdb_mode_t mode),          \
      (env, path, flags, mode), ((void)0))                                                         \
    X(mdb_env_set_mapsize, (MDB_env * env, size_t size), (env, size), ((void)0))                  \
    X(mdb_env_set_maxdbs, (MDB_env * env, MDB_dbi dbs), (env, dbs), ((void)0))                    \
    X(mdb_env_set_maxreaders, (MDB_env * env, unsigned readers), (env, readers), ((void)0))       \
    X(mdb_env_info, (MDB_env * env, MDB_envinfo * info), (env, info), ((void)0))                  \
    X(mdb_env_stat, (MDB_env * env, MDB_stat * st), (env, st), ((void)0))                         \
    X(mdb_reader_check, (MDB_env * env, int *dead), (env, dead), ((void)0))                       \
    X(mdb_txn_begin, (MDB_env * env, MDB_txn * parent, unsigned flags, MDB_txn * *txn),          \
      (env, parent, flags, txn), (*txn = NULL))                                                    \
    X(mdb_txn_commit, (MDB_txn * txn), (txn), mdb_txn_abort(txn))                                 \
    X(mdb_txn_renew, (MDB_txn * txn), (txn), ((void)0))                                           \
    X(mdb_dbi_open, (MDB_txn * txn, const char *name, unsigned flags, MDB_dbi *dbi),             \
      (txn, name, flags, dbi), ((void)0))                                                          \
    X(mdb_stat, (MDB_txn * txn, MDB_dbi dbi, MDB_stat * st), (txn, dbi, st), ((void)0))           \
    X(mdb_get, (MDB_txn * txn, MDB_dbi dbi, MDB_val * k, MDB_val * v), (txn, dbi, k, v), ((void)0)) \
    X(mdb_put, (MDB_txn * txn, MDB_dbi dbi, MDB_val * k, MDB_val * v, unsigned flags),           \
      (txn, dbi, k, v, flags), ((void)0))                                                          \
    X(mdb_del, (MDB_txn * txn, MDB_dbi dbi, MDB_val * k, MDB_val * v), (txn, dbi, k, v), ((void)0)) \
    X(mdb_cursor_open, (MDB_txn * txn, MDB_dbi dbi, MDB_cursor * *cur), (txn, dbi, cur),          \
      (*cur = NULL))                                                                               \
    X(mdb_cursor_get, (MDB_cursor * cur, MDB_val * k, MDB_val * v, MDB_cursor_op op),            \
      (cur, k, v, op), ((void)0))                                                                  \
    X(mdb_cursor_del, (MDB_cursor * cur, unsigned flags), (cur, flags), ((void)0))

#define ENUM(name, params, args, on_fail) FN_##name,
enum { LMDB_CALLS(ENUM) FN_COUNT };
#define NAME(name, params, args, on_fail) #name,
static const char *const fn_names[FN_COUNT] = {LMDB_CALLS(NAME)};

/* The fault a run injects (set before the fork; the child's copy is its own). */
static struct {
    int fn;      /* FN_*, or -1: none */
    long at;     /* the 0-based call that fails */
    int sticky;  /* every call from `at` on fails */
    int code;    /* what it returns */
} fault = {-1, 0, 0, 0};
static _Atomic long calls[FN_COUNT];

static int inject(int fn)
{
    long n = atomic_fetch_add(&calls[fn], 1);
    return fault.fn == fn && (n == fault.at || (fault.sticky && n > fault.at)) ? fault.code : 0;
}

#define WRAP(name, params, args, on_fail)                                                          \
    int __real_##name params;                                                                      \
    int __wrap_##name params;                                                                      \
    int __wrap_##name params                                                                       \
    {                                                                                              \
        int code = inject(FN_##name);                                                              \
        if (code) {                                                                                \
            on_fail;                                                                               \
            return code;                                                                           \
        }                                                                                          \
        return __real_##name args;                                                                 \
    }
LMDB_CALLS(WRAP)

/* ---- the workload ---- */


#define KEYS 7
#define PER_PHASE 400
#define MAX_ID (2 * PER_PHASE)

enum verdict {
    RUN_OK = 0,
    RUN_DISHONEST_CODE = 2, /* an unnamed code, ECORRUPT or EINTERNAL */
    RUN_DATA_HIDDEN = 3,    /* acknowledged data reported absent, or a short scan */
    RUN_LOST = 4,           /* the fault-free reopen lacks an acknowledged record */
    RUN_WRONG = 5,          /* ... or returns a wrong or invented one */
    RUN_REOPEN = 6,         /* the fault-free reopen failed */
};

/* The child's account: ids put successfully, and those a completed flush covered. */
static uint8_t put_ok[MAX_ID + 1], acked[MAX_ID + 1];

static void ack_all_put(void)
{
    for (uint64_t id = 1; id <= MAX_ID; id++)
        acked[id] |= put_ok[id];
}

static size_t record_of(uint64_t id, char *key, uint8_t *val, size_t *vlen)
{
    *vlen = 600 + (id * 131) % 1200; /* 1.3 MB in all: the 1 MiB map grows */
    tu_fill(val, *vlen, id);
    return (size_t)sprintf(key, "k%u", (unsigned)(id % KEYS));
}

static void options(sluice_options *o)
{
    sluice_options_init(o);
    o->ring_bytes = 256u << 10;
    o->segment_bytes = 256u << 10;
    o->manual_compaction = 1; /* compactions where the workload asks: a fixed sequence */
    o->cold_map_bytes = 1u << 20;
    o->stats_interval_ms = 0;
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
        nacked += acked[id];
        expect += acked[id] && id % KEYS == 3;
    }
    for (uint64_t id = 1; id <= MAX_ID; id += 17) {
        if (!acked[id])
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
            k0 |= acked[id];
        if (r == SLUICE_NOTFOUND && k0)
            tu_exit(RUN_DATA_HIDDEN);
        CHECK(r, "sluice_get_latest");
    }
    sluice_iter *it;
    int r = sluice_iter_open(db, "k3", 2, 0, UINT64_MAX, &it);
    CHECK(r, "sluice_iter_open");
    if (!r) {
        sluice_record rec;
        uint64_t n = 0;
        while ((r = sluice_iter_next(it, &rec)) == 0)
            n++;
        sluice_iter_close(it);
        CHECK(r, "sluice_iter_next");
        if (r == SLUICE_END && n < expect) {
            fprintf(stderr, "scan ended after %llu of %llu records\n", (unsigned long long)n,
                    (unsigned long long)expect);
            tu_exit(RUN_DATA_HIDDEN);
        }
    }
    return rc;
}

/* One open's phase: puts of ids (from, to], a flush half way and a compaction, a flush
 * at the end, a compaction, reads, an offset, a close. Puts stop at the first failure
 * (what follows would only repeat it). */
static void phase(const char *dir, uint64_t from, uint64_t to)
{
    sluice_options o;
    options(&o);
    sluice_db *db;
    int rc = 0;
    CHECK(sluice_open(dir, &o, &db), "sluice_open");
    if (rc)
        return;
    char key[16];
    uint8_t val[2048];
    for (uint64_t id = from + 1; id <= to && !rc; id++) {
        size_t vlen, klen = record_of(id, key, val, &vlen);
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
    CHECK(sluice_offset_put(db, "src", to, SLUICE_ACK_DURABLE), "sluice_offset_put");
    uint64_t off;
    CHECK(sluice_offset_get(db, "src", &off), "sluice_offset_get");
    struct sluice_stats st;
    CHECK(sluice_stats(db, &st), "sluice_stats");
    CHECK(sluice_close(db), "sluice_close");
    (void)rc;
}

/* Fault-free: everything acknowledged is there with its value, nothing else is. */
static int verify(const char *dir)
{
    fault.fn = -1;
    sluice_options o;
    options(&o);
    char err[256] = "";
    o.errbuf = err;
    o.errbuf_bytes = sizeof err;
    sluice_db *db;
    int r = sluice_open(dir, &o, &db);
    if (r) {
        fprintf(stderr, "fault-free reopen: %s: %s\n", sluice_errname(r), err);
        return RUN_REOPEN;
    }
    int verdict = RUN_OK;
    char key[16];
    uint8_t want[2048], got[2048];
    for (uint64_t id = 1; id <= MAX_ID && verdict == RUN_OK; id++) {
        size_t wlen, glen, klen = record_of(id, key, want, &wlen);
        r = sluice_get(db, key, klen, id, got, sizeof got, &glen);
        if (r == SLUICE_NOTFOUND && !acked[id])
            continue; /* never acknowledged: may be there or not */
        if (r) {
            fprintf(stderr, "fault-free get of id %llu (%s): %s\n", (unsigned long long)id,
                    acked[id] ? "acknowledged" : "put", sluice_errname(r));
            verdict = RUN_LOST;
        } else if (glen != wlen || memcmp(got, want, wlen)) {
            verdict = RUN_WRONG;
        }
    }
    sluice_iter *it;
    if (verdict == RUN_OK && sluice_iter_open(db, NULL, 0, 0, UINT64_MAX, &it) == 0) {
        sluice_record rec;
        while ((r = sluice_iter_next(it, &rec)) == 0)
            if (rec.ts == 0 || rec.ts > MAX_ID || !put_ok[rec.ts])
                verdict = RUN_WRONG; /* invented */
        sluice_iter_close(it);
        if (r != SLUICE_END)
            verdict = RUN_LOST;
    }
    if (sluice_close(db))
        verdict = verdict ? verdict : RUN_REOPEN;
    return verdict;
}

static void workload(const char *dir)
{
    phase(dir, 0, PER_PHASE);
    phase(dir, PER_PHASE, MAX_ID);
}

/* Runs the workload with `fault` in a child; its verdict, or 100 + signal. */
static int run_case(long counts[FN_COUNT])
{
    int pipefd[2];
    cr_assert_eq(pipe(pipefd), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(pipefd[0]);
        alarm(60); /* a hang (a retry loop on a sticky fault) ends as SIGALRM */
        char *dir = tu_mkdtemp();
        workload(dir);
        long seen[FN_COUNT];
        for (int i = 0; i < FN_COUNT; i++)
            seen[i] = atomic_load(&calls[i]);
        int verdict = verify(dir);
        tu_rmdir(dir);
        if (write(pipefd[1], seen, sizeof seen) != (ssize_t)sizeof seen)
            tu_exit(99);
        tu_exit(verdict);
    }
    close(pipefd[1]);
    long seen[FN_COUNT];
    ssize_t n = read(pipefd[0], seen, sizeof seen);
    close(pipefd[0]);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    if (counts && n == (ssize_t)sizeof seen)
        memcpy(counts, seen, sizeof seen);
    return WIFSIGNALED(status) ? 100 + WTERMSIG(status) : WEXITSTATUS(status);
}

/* What each function can really return when it fails (lmdb.h, mdb.c). */
static int codes_of(int fn, int out[3])
{
    int n = 0;
    out[n++] = EIO;
    switch (fn) {
    case FN_mdb_put:
    case FN_mdb_del:
    case FN_mdb_cursor_del:
    case FN_mdb_txn_commit:
        out[n++] = MDB_MAP_FULL;
        break;
    case FN_mdb_env_create:
    case FN_mdb_cursor_open:
        out[n - 1] = ENOMEM;
        break;
    case FN_mdb_txn_begin:
    case FN_mdb_txn_renew:
        out[n++] = MDB_READERS_FULL;
        out[n++] = MDB_MAP_RESIZED;
        break;
    }
    return n;
}

/* SLUICE_LMDB_FAULT=function,call,sticky,code runs that one case in this process (under
 * a debugger, say); call counts from 0, code is an LMDB or errno number. */
Test(lmdb_faults, one_case_from_the_environment)
{
    const char *spec = getenv("SLUICE_LMDB_FAULT");
    if (!spec)
        return;
    char name[64];
    int sticky, code;
    long at;
    cr_assert_eq(sscanf(spec, "%63[^,],%ld,%d,%d", name, &at, &sticky, &code), 4, "%s", spec);
    for (int fn = 0; fn < FN_COUNT; fn++)
        if (!strcmp(fn_names[fn], name))
            fault.fn = fn;
    cr_assert_neq(fault.fn, -1, "no wrapped function %s", name);
    fault.at = at, fault.sticky = sticky, fault.code = code;
    char *dir = tu_mkdtemp();
    workload(dir);
    cr_expect_eq(verify(dir), RUN_OK);
    tu_rmdir(dir);
}

Test(lmdb_faults, every_lmdb_failure_is_named_and_loses_nothing)
{
    long counts[FN_COUNT] = {0};
    cr_assert_eq(run_case(counts), RUN_OK, "the fault-free workload");
    int quick = getenv("SLUICE_FAULTS_QUICK") != NULL;
    int runs = 0, failures = 0, reached = 0;
    for (int fn = 0; fn < FN_COUNT; fn++) {
        if (!counts[fn]) {
            cr_log_info("%s: not reached by the workload", fn_names[fn]);
            continue;
        }
        reached++;
        long ats[3] = {0, counts[fn] / 2, counts[fn] - 1};
        int codes[3], ncodes = codes_of(fn, codes);
        for (int a = 0; a < (quick ? 1 : 3); a++) {
            if (a && ats[a] == ats[a - 1])
                continue;
            for (int c = 0; c < ncodes; c++)
                for (int sticky = 0; sticky < 2; sticky++) {
                    fault.fn = fn;
                    fault.at = ats[a];
                    fault.sticky = sticky;
                    fault.code = codes[c];
                    int v = run_case(NULL);
                    runs++;
                    if (v != RUN_OK) {
                        failures++;
                        cr_log_error("%s call %ld of %ld, %s, %s: verdict %d", fn_names[fn],
                                     ats[a] + 1, counts[fn], sticky ? "sticky" : "transient",
                                     codes[c] == EIO ? "EIO" : mdb_strerror(codes[c]), v);
                    }
                }
        }
    }
    fault.fn = -1;
    cr_log_info("%d runs over %d of %d wrapped LMDB functions the workload reaches (the map "
                "grows %ld times; the two opens set it once each)", runs, reached, FN_COUNT, counts[FN_mdb_env_set_mapsize] - 2);
    cr_expect_eq(failures, 0, "%d of %d runs broke a rule (above)", failures, runs);
    cr_expect_geq(reached, FN_COUNT - 1, "the workload reaches every wrapped call but retention's");
    cr_expect_gt(counts[FN_mdb_env_set_mapsize], 2, "the map grows: a failed remap is swept too");
}
