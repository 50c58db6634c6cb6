/*
 * LMDB fault sweep: every LMDB call the cold tier makes, failed on purpose. The test is
 * linked with -Wl,--wrap for each of them (tests/CMakeLists.txt), so the cold tier's own
 * calls reach the __wrap_ functions below, which count them and, when told to, fail one
 * call (transient) or every call from one on (sticky) with an error LMDB really returns
 * there, keeping LMDB's contract for the failure (a failed commit frees its transaction;
 * a failed create, begin or cursor open hands nothing back).
 *
 * The workload of fault_workload.h runs once to count each function's calls, then once
 * per fault: each function x {first, middle, last call} x {transient, sticky} x the
 * errors that function can return, each run in a child that keeps the rules listed
 * there (no crash or hang, named codes only, nothing acknowledged hidden or lost).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault_workload.h"
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
    long at;     /* the 0-based call that fails (of the function, or of the site) */
    int sticky;  /* every call of the function from then on fails too */
    int code;    /* what it returns */
    const void *site; /* NULL: count calls of the function; else only calls from here */
} fault = {-1, 0, 0, 0, NULL};
static _Atomic long calls[FN_COUNT];
static _Atomic int fired;

/* Call sites: where in libsluice (or the tool) each wrapped function is called from,
 * found by a discovery run (the return address of the wrapper; a forked child has the
 * parent's addresses). */
#define MAX_SITES 256
struct site {
    int fn;
    const void *addr;
    long calls;
};
static struct {
    long calls[FN_COUNT];
    int nsites;
    struct site sites[MAX_SITES];
} seen;
static struct site sites[MAX_SITES];
static _Atomic int nsites;
static pthread_mutex_t sites_mu = PTHREAD_MUTEX_INITIALIZER;

/* The number of this call from its site (0-based). */
static long site_call(int fn, const void *addr)
{
    pthread_mutex_lock(&sites_mu);
    int i = 0, n = atomic_load(&nsites);
    while (i < n && (sites[i].fn != fn || sites[i].addr != addr))
        i++;
    long k = -1;
    if (i < n || n < MAX_SITES) {
        if (i == n) {
            sites[i] = (struct site){fn, addr, 0};
            atomic_store(&nsites, n + 1);
        }
        k = sites[i].calls++;
    }
    pthread_mutex_unlock(&sites_mu);
    return k;
}

static int inject(int fn, const void *addr)
{
    long n = atomic_fetch_add(&calls[fn], 1);
    long k = site_call(fn, addr);
    if (fault.fn != fn)
        return 0;
    if (fault.sticky && atomic_load(&fired))
        return fault.code;
    long at = fault.site ? (addr == fault.site ? k : -1) : n;
    if (at != fault.at)
        return 0;
    atomic_store(&fired, 1);
    return fault.code;
}

#define WRAP(name, params, args, on_fail)                                                          \
    int __real_##name params;                                                                      \
    int __wrap_##name params;                                                                      \
    int __wrap_##name params                                                                       \
    {                                                                                              \
        int code = inject(FN_##name, __builtin_return_address(0));                                 \
        if (code) {                                                                                \
            on_fail;                                                                               \
            return code;                                                                           \
        }                                                                                          \
        return __real_##name args;                                                                 \
    }
LMDB_CALLS(WRAP)

/* ---- the sweep ---- */

static void arm(void *arg) { (void)arg; }
/* The child's calls of each function and from each site, sent back to the parent. */
static void disarm(void *arg)
{
    (void)arg;
    fault.fn = -1;
    for (int i = 0; i < FN_COUNT; i++)
        seen.calls[i] = atomic_load(&calls[i]);
    pthread_mutex_lock(&sites_mu);
    seen.nsites = atomic_load(&nsites);
    memcpy(seen.sites, sites, sizeof sites);
    pthread_mutex_unlock(&sites_mu);
}

/* Runs one case in a child; counts (may be NULL) receives its calls of each function. */
static int run_case(long counts[FN_COUNT])
{
    struct fw_hooks h = {arm, disarm, NULL};
    int v = fw_run_case(&h, &seen, sizeof seen);
    if (counts)
        memcpy(counts, seen.calls, sizeof seen.calls);
    return v;
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
    fw_workload(dir);
    fault.fn = -1;
    cr_expect_eq(fw_verify(dir), RUN_OK);
    tu_rmdir(dir);
}

/* Runs one case with this fault (site NULL: the at-th call of fn anywhere); 1 if it
 * broke a rule, which it logs. */
static int broke(int fn, const void *site, long at, long of, int sticky, int code)
{
    fault.fn = fn;
    fault.site = site;
    fault.at = at;
    fault.sticky = sticky;
    fault.code = code;
    int v = run_case(NULL);
    fault.fn = -1;
    fault.site = NULL;
    if (v == RUN_OK)
        return 0;
    char where[32] = "anywhere";
    if (site)
        snprintf(where, sizeof where, "from %p", site);
    cr_log_error("%s %s, call %ld of %ld, %s, %s: verdict %d", fn_names[fn], where, at + 1, of,
                 sticky ? "sticky" : "transient", code == EIO ? "EIO" : mdb_strerror(code), v);
    return 1;
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
                for (int sticky = 0; sticky < 2; sticky++, runs++)
                    failures += broke(fn, NULL, ats[a], counts[fn], sticky, codes[c]);
        }
    }
    cr_log_info("%d runs over %d of %d wrapped LMDB functions the workload reaches (the map "
                "grows %ld times; the three opens set it once each)",
                runs, reached, FN_COUNT, counts[FN_mdb_env_set_mapsize] - 3);
    cr_expect_eq(failures, 0, "%d of %d runs broke a rule (above)", failures, runs);
    cr_expect_eq(reached, FN_COUNT, "the workload reaches every wrapped call");
    cr_expect_gt(counts[FN_mdb_env_set_mapsize], 3, "the map grows: a failed remap is swept too");
}

/* Every call site alone: each place libsluice and the tool call a wrapped function, its
 * first and its last call failed (transient and sticky), with each error that function
 * can return; quick: the first call, EIO or ENOMEM, transient and sticky. */
Test(lmdb_faults, every_lmdb_call_site_fails_alone)
{
    cr_assert_eq(run_case(NULL), RUN_OK, "the fault-free workload");
    int n = seen.nsites;
    struct site found[MAX_SITES];
    memcpy(found, seen.sites, sizeof found);
    cr_assert_lt(n, MAX_SITES, "more call sites than the table holds");
    cr_assert_geq(n, FN_COUNT, "the discovery run found a site of every function (%d)", n);
    int quick = getenv("SLUICE_FAULTS_QUICK") != NULL;
    int runs = 0, failures = 0;
    for (int i = 0; i < n; i++) {
        long ats[2] = {0, found[i].calls - 1};
        int codes[3], ncodes = codes_of(found[i].fn, codes);
        for (int a = 0; a < (quick || ats[1] == 0 ? 1 : 2); a++)
            for (int c = 0; c < (quick ? 1 : ncodes); c++)
                for (int sticky = 0; sticky < 2; sticky++, runs++)
                    failures += broke(found[i].fn, found[i].addr, ats[a], found[i].calls,
                                      sticky, codes[c]);
    }
    cr_log_info("%d runs over %d call sites of the %d wrapped LMDB functions", runs, n, FN_COUNT);
    cr_expect_eq(failures, 0, "%d of %d runs broke a rule (above)", failures, runs);
}

/* The seek that finds a scan's first block fails once. A failed MDB_SET_RANGE leaves the
 * cursor unpositioned, and LMDB's MDB_PREV from there is MDB_LAST: a fallback that took
 * it started the scan at the series' last block and silently skipped the rest (the
 * sweep above caught it once in CI, on the last call of the seek's site). The scan must
 * fail with a named code, or return every record. */
Test(lmdb_faults, a_failed_block_seek_fails_the_scan_and_never_skips_blocks)
{
    char *dir = tu_mkdtemp();
    sluice_options o;
    sluice_options_init(&o);
    o.manual_compaction = 1;
    sluice_db *db;
    cr_assert_eq(sluice_open(dir, &o, &db), 0);
    enum { N = 2000 };
    char val[100];
    for (uint64_t ts = 1; ts <= N; ts++) {
        tu_fill(val, sizeof val, ts);
        cr_assert_eq(sluice_put(db, "only", 4, ts, val, sizeof val, SLUICE_ACK_MEMORY, NULL), 0);
    }
    cr_assert_eq(sluice_flush(db), 0);
    cr_assert_eq(sluice_compact(db), 0);
    cr_assert_eq(sluice_close(db), 0);
    cr_assert_eq(sluice_open(dir, &o, &db), 0);
    struct sluice_stats st;
    cr_assert_eq(sluice_stats(db, &st), 0);
    cr_assert_eq(st.compacted_lsn, N, "setup: every record is in the cold tier");

    for (int sticky = 0; sticky < 2; sticky++) {
        /* the first mdb_cursor_get of the scan is the seek for its first block */
        fault.fn = FN_mdb_cursor_get;
        fault.site = NULL;
        fault.at = atomic_load(&calls[FN_mdb_cursor_get]);
        fault.sticky = sticky;
        fault.code = EIO;
        atomic_store(&fired, 0);
        sluice_iter *it;
        int r = sluice_iter_open(db, "only", 4, 0, UINT64_MAX, &it);
        uint64_t n = 0;
        if (!r) {
            sluice_record rec;
            while ((r = sluice_iter_next(it, &rec)) == 0)
                n++;
            sluice_iter_close(it);
        }
        fault.fn = -1;
        cr_expect(atomic_load(&fired), "the fault was reached (sticky %d)", sticky);
        cr_expect(r == -EIO || (r == SLUICE_END && n == N),
                  "sticky %d: the scan ended with %s after %llu of %d records", sticky,
                  sluice_errname(r), (unsigned long long)n, N);
    }
    cr_assert_eq(sluice_close(db), 0);
    tu_rmdir(dir);
}
