/*
 * Power-loss tests on the simulated disk (sim_disk.h). Each case is one child process:
 * it runs a seeded workload of puts at every ack level, flushes, compactions and
 * reopens on the simulated disk, reporting through a pipe each record it tries and each
 * acknowledgement of durability; at the chosen sync point (or call) the disk cuts the
 * power, rewriting the files as the device could have left them, and the child _exits.
 * The parent, which holds the oracle, then opens the directory with the real backend
 * and checks that:
 *   - the open succeeds (no corruption of acknowledged data was injected);
 *   - every record acknowledged DURABLE (or covered by a completed flush or clean
 *     close, or delivered by a tail at DURABLE: sluice_tail) reads back byte for byte;
 *   - nothing is invented: every record present is one the child tried, intact;
 *   - LSNs are gap-free and each record is stored once across the cold tier and the
 *     log (tier_check.h reads both directly).
 * First every sync point of one calibration run is cut (before and after it takes
 * effect), then random seeds cut at random sync points or random calls.
 * $SLUICE_POWERLOSS_SEEDS sets how many random seeds (default 2000; CI runs 6000);
 * $SLUICE_TEST_SEED replays one seed. A failure prints the seed and the cut.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db.h"
#include "sim_disk.h"
#include "sluice.h"
#include "tier_check.h"
#include "util.h"

#define MAX_RECORDS 400

enum { M_TRY = 1, M_DURABLE = 2, M_FLUSHED = 3, M_SYNCS = 4, M_CUT = 5, M_TAILED = 6 };
struct msg {
    uint32_t kind;
    uint32_t pad;
    uint64_t id;
};

struct cut {
    uint64_t seed;
    int fault_op;       /* 0 or the sim_op whose fault_nth-th call fails with EIO */
    uint64_t fault_nth;
    uint64_t at_sync; /* 0 = none */
    int after;
    uint64_t at_call; /* 0 = none */
};

static int report_fd = -1;

static void send_msg(uint32_t kind, uint64_t id)
{
    struct msg m = {.kind = kind, .id = id};
    if (write(report_fd, &m, sizeof m) != sizeof m)
        _exit(20);
}

static void send_cut(const struct sim_cut_stats *st)
{
    const uint64_t *v = (const uint64_t *)st;
    for (uint32_t i = 0; i < sizeof *st / sizeof *v; i++) {
        struct msg m = {.kind = M_CUT, .pad = i, .id = v[i]};
        if (write(report_fd, &m, sizeof m) != sizeof m)
            _exit(20);
    }
}

static void on_cut(const struct sim_cut_stats *st)
{
    send_cut(st);
    _exit(0);
}

static size_t record_of(uint64_t id, char *key, uint8_t *val, size_t *vlen)
{
    *vlen = 16 + (id * 389) % 1500;
    tu_fill(val, *vlen, id);
    return (size_t)sprintf(key, "pl%llu", (unsigned long long)(id % 5));
}

static void options(sluice_options *o, uint64_t seed)
{
    sluice_options_init(o);
    o->ring_bytes = 64u << 10;
    o->segment_bytes = 256u << 10; /* every few dozen durable puts roll a segment */
    o->manual_compaction = (int)(seed >> 1) & 1;
    o->cold_map_bytes = 1u << 20;
}

/* NULL when an injected fault failed the open (recovery's own I/O). */
static sluice_db *child_open(const char *dbdir, struct sim_disk *disk, uint64_t seed)
{
    sluice_options o;
    options(&o, seed);
    sluice_db *db;
    int r = db_open_with_io(dbdir, &o, sim_io_create(disk), &db);
    if (r && r != -EIO)
        _exit(10);
    return r ? NULL : db;
}

/* A consumer at DURABLE beside the workload: every record it is given counts as
 * acknowledged durable, so a record a tail delivered and the cut took back fails the
 * check like a lost DURABLE put. Opened after each open, drained after each put, closed
 * before each close. */
static sluice_tail *durable_tail;

static void tail_start(sluice_db *db)
{
    if (!db || sluice_tail_open(db, SLUICE_TAIL_END, SLUICE_ACK_DURABLE, &durable_tail))
        durable_tail = NULL;
}

static void tail_drain(void)
{
    sluice_tail_record rec;
    while (durable_tail && sluice_tail_next(durable_tail, &rec, 0) == 0)
        send_msg(M_TAILED, rec.ts); /* the workload's ts is the record's id */
}

static void tail_stop(void)
{
    tail_drain();
    sluice_tail_close(durable_tail);
    durable_tail = NULL;
}

/* An error a workload with an armed I/O fault may see: it stops and the power goes. */
static int fault_error(int r) { return r == SLUICE_EPOISONED || r == -EIO; }

/* The workload; ends in a power cut, wherever that falls. One seed in six also fails one
 * sync (or durable write) with EIO first: a failed fdatasync loses the file's unsynced
 * writes at the cut even if a later one succeeds, so an engine that retried instead of
 * poisoning would lose acknowledged records here. */
static void child(const char *root, const struct cut *c)
{
    char dbdir[512], stash[512];
    snprintf(dbdir, sizeof dbdir, "%s/db", root);
    snprintf(stash, sizeof stash, "%s/stash", root);
    struct sim_disk *disk;
    if (sim_disk_create(stash, c->seed, (int)(c->seed & 1), &disk))
        _exit(11);
    if (c->at_sync)
        sim_cut_at_sync(disk, c->at_sync, c->after, on_cut);
    if (c->at_call)
        sim_cut_at_call(disk, c->at_call, on_cut);
    uint64_t rng = c->seed | 1;
    if (c->fault_op) {
        struct sim_fault f = {.op = c->fault_op, .nth = c->fault_nth, .err = -EIO};
        sim_fault_add(disk, &f);
    }
    sluice_db *db = child_open(dbdir, disk, c->seed);
    tail_start(db);
    uint64_t n = 40 + tu_rand(&rng) % (MAX_RECORDS - 40);
    char key[32];
    uint8_t val[2048];
    for (uint64_t id = 1; db && id <= n; id++) {
        size_t vlen, klen = record_of(id, key, val, &vlen);
        int ack = (int)(tu_rand(&rng) % 3), r;
        send_msg(M_TRY, id);
        if ((r = sluice_put(db, key, klen, id, val, vlen, ack, NULL))) {
            if (!fault_error(r))
                _exit(12);
            break;
        }
        if (ack == SLUICE_ACK_DURABLE)
            send_msg(M_DURABLE, id);
        tail_drain();
        switch (tu_rand(&rng) % 48) {
        case 0:
            r = sluice_flush(db);
            break;
        case 1:
            r = sluice_compact(db);
            break;
        case 2:
            tail_stop();
            r = sluice_close(db);
            if (!r)
                send_msg(M_FLUSHED, id);
            db = r ? NULL : child_open(dbdir, disk, c->seed);
            tail_start(db);
            r = db ? r : 0;
            continue;
        default:
            continue;
        }
        if (r && !fault_error(r))
            _exit(13);
        if (r)
            break;
        send_msg(M_FLUSHED, id);
    }
    tail_drain();
    if (db && (tu_rand(&rng) & 1)) {
        tail_stop();
        int r = sluice_close(db);
        if (r && !fault_error(r))
            _exit(16);
        if (!r)
            send_msg(M_FLUSHED, n);
    }
    send_msg(M_SYNCS, sim_sync_points(disk));
    sim_power_cut(disk);
    struct sim_cut_stats st;
    sim_cut_stats(disk, &st);
    send_cut(&st);
    _exit(0);
}

/* What all cuts of a test did, for its summary line. */
static struct sim_cut_stats total_cut;
static uint64_t total_acked, total_faulted, total_tailed;

struct oracle {
    uint8_t tried[MAX_RECORDS + 1];
    uint8_t durable[MAX_RECORDS + 1];
    uint64_t flushed, max_tried, syncs;
};

static void describe(const struct cut *c, char *out, size_t n)
{
    char fault[64] = "";
    if (c->fault_op)
        snprintf(fault, sizeof fault, ", EIO at %s %llu", sim_op_names[c->fault_op],
                 (unsigned long long)c->fault_nth);
    if (c->at_sync)
        snprintf(out, n, "seed %llu, cut %s sync point %llu%s", (unsigned long long)c->seed,
                 c->after ? "after" : "before", (unsigned long long)c->at_sync, fault);
    else if (c->at_call)
        snprintf(out, n, "seed %llu, cut at call %llu%s", (unsigned long long)c->seed,
                 (unsigned long long)c->at_call, fault);
    else
        snprintf(out, n, "seed %llu, cut at the end%s", (unsigned long long)c->seed, fault);
}

static void check(const char *root, const struct cut *c, const struct oracle *o)
{
    char what[160], dbdir[512], err[256] = "";
    describe(c, what, sizeof what);
    snprintf(dbdir, sizeof dbdir, "%s/db", root);
    if (access(dbdir, F_OK) != 0)
        return; /* cut before the directory existed: nothing was acknowledged */
    /* a power cut also empties /dev/shm: the child's shared ring is gone with it */
    tu_rm_ring_files(dbdir);
    sluice_options opt;
    options(&opt, c->seed);
    opt.manual_compaction = 1;
    opt.io_backend = SLUICE_IO_POSIX;
    uint8_t acked[MAX_RECORDS + 1];
    for (uint64_t id = 0; id <= MAX_RECORDS; id++)
        acked[id] = o->durable[id] || (id && id <= o->flushed);
    struct tc_oracle want = {.max_id = o->max_tried, .tried = o->tried, .acked = acked,
                             .record_of = record_of};
    cr_assert_eq(tc_check_oracle(dbdir, &opt, &want, err, sizeof err), 0, "%s: %s", what, err);
}

/* The simulated disk never syncs for real: its files can live in memory, which makes a
 * case cost about an open, a few hundred puts and a recovery. */
static void use_shm(void)
{
    if (access("/dev/shm", W_OK) == 0 && !getenv("SLUICE_POWERLOSS_KEEP_TMPDIR"))
        setenv("TMPDIR", "/dev/shm", 1);
}

/* Runs one case; returns the number of sync points the child reported (0 if it was
 * cut before reporting). */
static uint64_t run_case(const struct cut *c)
{
    char *root = tu_mkdtemp();
    char stash[512];
    snprintf(stash, sizeof stash, "%s/stash", root);
    cr_assert_eq(mkdir(stash, 0755), 0);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(p[0]);
        report_fd = p[1];
        child(root, c);
    }
    close(p[1]);
    struct oracle *o = calloc(1, sizeof *o);
    cr_assert(o);
    struct msg m;
    while (read(p[0], &m, sizeof m) == (ssize_t)sizeof m) {
        if (m.kind == M_SYNCS) {
            o->syncs = m.id;
            continue;
        }
        if (m.kind == M_CUT) {
            cr_assert(m.pad < sizeof total_cut / sizeof(uint64_t));
            ((uint64_t *)&total_cut)[m.pad] += m.id;
            continue;
        }
        cr_assert(m.id >= 1 && m.id <= MAX_RECORDS);
        if (m.kind == M_TRY) {
            o->tried[m.id] = 1;
            o->max_tried = m.id;
        } else if (m.kind == M_DURABLE || m.kind == M_TAILED) {
            o->durable[m.id] = 1;
            total_tailed += m.kind == M_TAILED;
        } else if (m.kind == M_FLUSHED) {
            o->flushed = m.id;
        }
    }
    close(p[0]);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    char what[160];
    describe(c, what, sizeof what);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: the child failed (status %d)",
              what, status);
    check(root, c, o);
    for (uint64_t id = 1; id <= o->max_tried; id++)
        total_acked += o->durable[id] || id <= o->flushed;
    uint64_t syncs = o->syncs;
    free(o);
    tu_rmdir(root);
    return syncs;
}

static void summary(const char *what, uint64_t cases, uint64_t seed)
{
    const struct sim_cut_stats *t = &total_cut;
    fprintf(stderr,
            "%s: %llu cuts from seed %llu; %llu durable-acknowledged records checked (%llu "
            "deliveries by a DURABLE tail among the acknowledgements), 0 lost, 0 wrong; unsynced writes kept %llu, dropped %llu, torn %llu, zeroed %llu, "
            "garbled %llu; directory changes reverted %llu, kept %llu\n",
            what, (unsigned long long)cases, (unsigned long long)seed,
            (unsigned long long)total_acked, (unsigned long long)total_tailed,
            (unsigned long long)t->kept,
            (unsigned long long)t->dropped, (unsigned long long)t->torn,
            (unsigned long long)t->zeroed, (unsigned long long)t->garbled,
            (unsigned long long)t->dir_reverted, (unsigned long long)t->dir_kept);
}

static long env_long(const char *name, long dflt)
{
    const char *s = getenv(name);
    return s && *s ? strtol(s, NULL, 10) : dflt;
}

/* Every sync point of one workload, cut before and after. */
Test(powerloss, every_sync_point)
{
    use_shm();
    uint64_t seed = tu_seed("powerloss.every_sync_point");
    struct cut c = {.seed = seed};
    uint64_t syncs = run_case(&c);
    cr_assert_gt(syncs, 10, "the workload reached only %llu sync points", (unsigned long long)syncs);
    for (uint64_t k = 1; k <= syncs; k++)
        for (int after = 0; after < 2; after++) {
            c.at_sync = k;
            c.after = after;
            run_case(&c);
        }
    summary("powerloss.every_sync_point", 2 * syncs + 1, seed);
}

static void random_seeds(int part, int parts)
{
    use_shm();
    uint64_t base = tu_seed("powerloss.random");
    long seeds = env_long("SLUICE_POWERLOSS_SEEDS", 2000);
    uint64_t cases = 0;
    for (long i = part; i < seeds; i += parts) {
        uint64_t seed = base + (uint64_t)i, rng = seed * 0x2545f4914f6cdd1dull | 1;
        struct cut c = {.seed = seed};
        /* a workload makes ~100-300 sync points and ~1000-4000 calls */
        if (tu_rand(&rng) % 4)
            c.at_sync = 1 + tu_rand(&rng) % 160, c.after = (int)(tu_rand(&rng) & 1);
        else
            c.at_call = 1 + tu_rand(&rng) % 3000;
        if (tu_rand(&rng) % 6 == 0) {
            static const int ops[] = {SIM_FDATASYNC_ASYNC, SIM_WRITE_ASYNC, SIM_FDATASYNC};
            c.fault_op = ops[tu_rand(&rng) % 3];
            c.fault_nth = 1 + tu_rand(&rng) % 40;
        }
        run_case(&c);
        cases++;
        total_faulted += c.fault_op != 0;
    }
    summary(part ? "powerloss.random_seeds_b" : "powerloss.random_seeds_a", cases, base + (uint64_t)part);
    fprintf(stderr, "  %llu of them with an EIO injected before the cut\n",
            (unsigned long long)total_faulted);
}

Test(powerloss, random_seeds_a) { random_seeds(0, 2); }
Test(powerloss, random_seeds_b) { random_seeds(1, 2); }
