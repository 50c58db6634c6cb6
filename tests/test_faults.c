/*
 * I/O fault sweep on the simulated disk. One fixed workload touches every part of the
 * engine that does I/O: recovery of a directory holding a stale (already compacted)
 * segment and a torn tail, puts at every ack level across segment rolls, a compaction,
 * a close, a reopen and more puts. A discovery run records every (operation, call site)
 * the workload reaches, in direct and in buffered mode. Then, for every site, every
 * error (EIO, ENOSPC, a short write, ECANCELED), transient and sticky, at the site's
 * first call and at a call in the middle, the workload runs again with that one fault.
 * Each run must:
 *   - never crash; after a log write or sync error, acknowledge nothing more, and fail
 *     every later write with SLUICE_EPOISONED;
 *   - leave a directory that a fault-free open recovers: every record acknowledged
 *     (durable ack, completed flush or clean close, and the template's records) intact,
 *     nothing invented, LSNs gap-free and each record once across the tiers.
 * The summary names every call site with addr2line and counts the sites hit against
 * the I/O calls found in the sources.
 */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"
#include "io.h"
#include "log.h"
#include "sim_disk.h"
#include "sluice.h"
#include "tier_check.h"
#include "util.h"
#include "walker.h"

#define TEMPLATE_RECORDS 1000
#define PHASE_PUTS 150
#define MAX_ID (TEMPLATE_RECORDS + 2 * PHASE_PUTS + 8)
#define MAX_SITES 256

static size_t record_of(uint64_t id, char *key, uint8_t *val, size_t *vlen)
{
    *vlen = 16 + (id * 389) % 1500;
    tu_fill(val, *vlen, id);
    return (size_t)sprintf(key, "f%llu", (unsigned long long)(id % 5));
}

static void options(sluice_options *o)
{
    sluice_options_init(o);
    o->ring_bytes = 64u << 10;
    o->segment_bytes = 256u << 10;
    o->manual_compaction = 1; /* compactions where the workload asks: a fixed call sequence */
    o->cold_map_bytes = 1u << 20;
    /* the shared ring does no I/O through the interface under test; in private memory,
     * WRITTEN puts wait for log writes and reach the paths a sweep must */
    o->ring_private = 1;
}

static void write_file(const char *path, const void *buf, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert_geq(fd, 0, "%s", path);
    cr_assert_eq(write(fd, buf, n), (ssize_t)n);
    close(fd);
}

static void *read_file(const char *path, size_t *n)
{
    struct stat st;
    int fd = open(path, O_RDONLY);
    cr_assert(fd >= 0 && fstat(fd, &st) == 0, "%s", path);
    void *buf = malloc((size_t)st.st_size);
    cr_assert(buf);
    cr_assert_eq(read(fd, buf, (size_t)st.st_size), st.st_size);
    close(fd);
    *n = (size_t)st.st_size;
    return buf;
}

/* Records 1..template_acked of the template are acknowledged (the rest were torn off). */
static uint64_t template_acked;

/* A directory whose open must delete a stale segment, cut a torn tail and re-align. */
static char *make_template(void)
{
    char *dir = tu_mkdtemp();
    sluice_options o;
    options(&o);
    sluice_db *db;
    cr_assert_eq(sluice_open(dir, &o, &db), 0);
    char key[32];
    uint8_t val[2048];
    for (uint64_t id = 1; id <= TEMPLATE_RECORDS * 9 / 10; id++) {
        size_t vlen, klen = record_of(id, key, val, &vlen);
        cr_assert_eq(sluice_put(db, key, klen, id, val, vlen, SLUICE_ACK_MEMORY, NULL), 0);
    }
    cr_assert_eq(sluice_flush(db), 0);
    cr_assert_geq(tu_count_segments(dir), 3);
    char *first = tu_segment(dir, 0);
    size_t first_len;
    void *first_bytes = read_file(first, &first_len);
    cr_assert_eq(sluice_compact(db), 0);
    for (uint64_t id = TEMPLATE_RECORDS * 9 / 10 + 1; id <= TEMPLATE_RECORDS; id++) {
        size_t vlen, klen = record_of(id, key, val, &vlen); /* the log's live tail */
        cr_assert_eq(sluice_put(db, key, klen, id, val, vlen, SLUICE_ACK_MEMORY, NULL), 0);
    }
    cr_assert_eq(sluice_close(db), 0);
    write_file(first, first_bytes, first_len); /* compacted, yet back: stale */
    free(first_bytes);
    free(first);

    int n = tu_count_segments(dir);
    char *last = tu_segment(dir, n - 1);
    struct io *io;
    cr_assert_eq(io_create(SLUICE_IO_POSIX, &io), 0);
    int fd = open(last, O_RDWR);
    struct stat st;
    cr_assert(fd >= 0 && fstat(fd, &st) == 0);
    struct seg_walker w;
    cr_assert_eq(seg_walker_open(&w, io, fd, (uint64_t)st.st_size), 0);
    const struct rec_hdr *h;
    uint64_t off, offs[8] = {0}, lsns[8] = {0};
    int nrec = 0;
    while (seg_walker_next(&w, &h, &off) == 1) {
        offs[nrec % 8] = off;
        lsns[nrec % 8] = h->lsn;
        nrec++;
    }
    seg_walker_close(&w);
    cr_assert_geq(nrec, 8);
    /* a torn tail in the middle of a 4 KiB block, so recovery must also re-align it */
    int k = (nrec - 5) % 8;
    if (offs[k] % LOG_BLOCK == 0)
        k = (nrec - 6) % 8;
    cr_assert_neq(offs[k] % LOG_BLOCK, 0);
    size_t rest = (size_t)st.st_size - offs[k];
    uint8_t *tail = calloc(1, rest);
    cr_assert(tail);
    tu_fill(tail, 100, 77);
    cr_assert_eq(pwrite(fd, tail, rest, (off_t)offs[k]), (ssize_t)rest);
    free(tail);
    template_acked = lsns[k] - 1; /* ids are LSNs here: one producer, puts only */
    close(fd);
    io_destroy(io);
    free(last);
    return dir;
}

static void copy_dir(const char *from, const char *to)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp -a '%s/.' '%s/'", from, to);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

struct run {
    uint8_t tried[MAX_ID + 1];
    uint8_t ok[MAX_ID + 1];      /* the put returned 0 */
    uint8_t durable[MAX_ID + 1]; /* acknowledged: a DURABLE put, or covered by a flush */
    int open_failed, put_failed, compact_failed, poisoned;
    char violation[256];
};

/* The workload: two phases of open, puts, compaction, close. */
static void workload(const char *dir, struct sim_disk *disk, struct run *run)
{
    char key[32];
    uint8_t val[2048];
    uint64_t id = TEMPLATE_RECORDS;
    for (uint64_t i = 1; i <= TEMPLATE_RECORDS; i++) {
        run->tried[i] = 1;
        run->durable[i] = i <= template_acked;
    }
    for (int phase = 0; phase < 2; phase++) {
        sluice_options o;
        options(&o);
        sluice_db *db;
        if (db_open_with_io(dir, &o, sim_io_create(disk), &db)) {
            run->open_failed++;
            continue;
        }
        int failed = 0;
        uint64_t phase_first = id + 1;
        for (int i = 0; i < PHASE_PUTS && !failed; i++) {
            size_t vlen, klen = record_of(++id, key, val, &vlen);
            int ack = i % 3;
            /* once the log is poisoned, no put may be acknowledged */
            struct sluice_stats st;
            int must_fail = sluice_stats(db, &st) == 0 && st.poison_error;
            run->tried[id] = 1;
            int r = sluice_put(db, key, klen, id, val, vlen, ack, NULL);
            if (r != SLUICE_EPOISONED && must_fail && !*run->violation)
                snprintf(run->violation, sizeof run->violation,
                         "put %llu after poisoning returned %s", (unsigned long long)id,
                         sluice_errname(r));
            run->ok[id] = r == 0;
            if (r == 0 && ack == SLUICE_ACK_DURABLE)
                run->durable[id] = 1;
            if (getenv("SLUICE_FAULTS_TRACE") && *getenv("SLUICE_FAULTS_TRACE") == '2')
                fprintf(stderr, "phase %d put %llu ack %d -> %s (poison %d)\n", phase,
                        (unsigned long long)id, ack, sluice_errname(r), must_fail);
            if (r) {
                failed = 1;
                run->put_failed++;
                if (sluice_stats(db, &st) == 0 && st.poison_error) {
                    run->poisoned++;
                    klen = record_of(++id, key, val, &vlen);
                    run->tried[id] = 1;
                    r = sluice_put(db, key, klen, id, val, vlen, SLUICE_ACK_MEMORY, NULL);
                    if (r != SLUICE_EPOISONED && !*run->violation)
                        snprintf(run->violation, sizeof run->violation,
                                 "a put after poisoning returned %s", sluice_errname(r));
                }
            }
            if (i == PHASE_PUTS / 2 && !failed && sluice_compact(db))
                run->compact_failed++;
        }
        int flushed = sluice_flush(db) == 0;
        flushed |= sluice_close(db) == 0;
        for (uint64_t i = phase_first; flushed && i <= id; i++)
            run->durable[i] |= run->ok[i];
    }
}

/* A fault-free open must find every acknowledged record and nothing else. */
static void verify(const char *dir, const struct run *run, const char *what)
{
    cr_assert(!*run->violation, "%s: %s", what, run->violation);
    sluice_options o;
    options(&o);
    o.io_backend = SLUICE_IO_POSIX;
    struct tc_oracle want = {.max_id = MAX_ID, .tried = run->tried, .acked = run->durable,
                             .record_of = record_of};
    char why[320];
    cr_assert_eq(tc_check_oracle(dir, &o, &want, why, sizeof why), 0, "%s: %s", what, why);
}

/* One workload on a copy of the template with faults f[0..nf); returns how many fired.
 * sites (may be NULL) receives the (operation, call site) pairs the run reached. */
static uint64_t run_one(const char *template_dir, int direct, const struct sim_fault *f, int nf,
                        struct sim_site *sites, int *nsites, struct run *run, const char *what)
{
    char *root = tu_mkdtemp();
    char dir[512], stash[512];
    snprintf(dir, sizeof dir, "%s/db", root);
    snprintf(stash, sizeof stash, "%s/stash", root);
    cr_assert_eq(mkdir(dir, 0755), 0);
    cr_assert_eq(mkdir(stash, 0755), 0);
    copy_dir(template_dir, dir);
    struct sim_disk *disk;
    cr_assert_eq(sim_disk_create(stash, 1, direct, &disk), 0);
    for (int i = 0; i < nf; i++)
        sim_fault_add(disk, &f[i]);
    memset(run, 0, sizeof *run);
    workload(dir, disk, run);
    uint64_t fired = sim_fault_fired(disk);
    if (sites)
        *nsites = sim_sites(disk, sites, MAX_SITES);
    sim_disk_destroy(disk);
    verify(dir, run, what);
    tu_rmdir(root);
    return fired;
}

/* ---- naming call sites ---- */

struct named_site {
    char file[64];
    int line;
    char func[64];
    char via[96]; /* the first caller outside the shared readers (io.c, walker.c) */
};

static void addr2line(const uintptr_t *addr, int n, struct named_site *out)
{
    char cmd[1024];
    int len = snprintf(cmd, sizeof cmd, "addr2line -f -s -e /proc/%d/exe", (int)getpid());
    for (int i = 0; i < n; i++) {
        Dl_info info;
        uintptr_t base = dladdr((void *)addr[i], &info) ? (uintptr_t)info.dli_fbase : 0;
        len += snprintf(cmd + len, sizeof cmd - (size_t)len, " 0x%lx",
                        (unsigned long)(addr[i] - 1 - base));
        memset(&out[i], 0, sizeof out[i]);
        snprintf(out[i].file, sizeof out[i].file, "?");
        snprintf(out[i].func, sizeof out[i].func, "?");
    }
    FILE *p = popen(cmd, "r");
    if (!p)
        return;
    char func[256], loc[256];
    for (int i = 0; i < n && fgets(func, sizeof func, p) && fgets(loc, sizeof loc, p); i++) {
        func[strcspn(func, "\n")] = 0;
        snprintf(out[i].func, sizeof out[i].func, "%.63s", func);
        char *colon = strrchr(loc, ':');
        if (colon) {
            *colon = 0;
            out[i].line = atoi(colon + 1);
        }
        snprintf(out[i].file, sizeof out[i].file, "%.63s", loc);
    }
    pclose(p);
}

static void name_site(const struct sim_site *s, struct named_site *out)
{
    struct named_site chain[SIM_CHAIN];
    int n = 0;
    while (n < SIM_CHAIN && s->chain[n])
        n++;
    addr2line(s->chain, n, chain);
    *out = chain[0];
    for (int i = 0; i < n; i++)
        if (strcmp(chain[i].file, "io.c") && strcmp(chain[i].file, "walker.c")) {
            if (i)
                snprintf(out->via, sizeof out->via, " via %.40s:%d", chain[i].file, chain[i].line);
            break;
        }
}

/* The I/O calls in the engine's sources (file:line), besides the backends themselves. */
static int static_sites(struct named_site *out, int max)
{
    static const char *const files[] = {
        "tiers/base/io.c", "tiers/log/recovery.c", "tiers/log/segment.c", "tiers/log/writer.c",
        "tiers/log/walker.c", "tiers/log/preparer.c", "tiers/compact/compactor.c", "engine/db.c",
    };
    static const char *const calls[] = {
        "ops->open(", "ops->pread(", "ops->pwrite(", "ops->fdatasync(", "ops->fallocate(",
        "ops->rename(", "ops->unlink(", "ops->fsync_dir(", "ops->submit_writev(",
        "ops->submit_fdatasync(", "ops->submit_writev_fdatasync(", "ops->truncate(",
    };
    int n = 0;
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        char path[1024], line[1024];
        snprintf(path, sizeof path, "%s/%s", SLUICE_SOURCE_DIR, files[f]);
        FILE *fp = fopen(path, "r");
        cr_assert(fp, "%s", path);
        for (int ln = 1; fgets(line, sizeof line, fp); ln++)
            for (size_t c = 0; c < sizeof calls / sizeof *calls; c++)
                if (strstr(line, calls[c]) && n < max) {
                    const char *base = strrchr(files[f], '/') + 1;
                    snprintf(out[n].file, sizeof out[n].file, "%s", base);
                    out[n].line = ln;
                    snprintf(out[n].func, sizeof out[n].func, "%s", calls[c] + 5);
                    n++;
                }
        fclose(fp);
    }
    return n;
}

/* Whether a dynamic site (named by addr2line) is the static call. A call spanning lines
 * is attributed to one of them; a tail call returns to its caller's caller, so an
 * operation that occurs once in a file matches by file alone. */
static int same_site(const struct named_site *dyn, int op, const struct named_site *st,
                     const struct named_site *all, int nall)
{
    static const char *const call_of[SIM_OPS][2] = {
        [SIM_OPEN] = {"open(", NULL}, [SIM_PREAD] = {"pread(", NULL},
        [SIM_PWRITE] = {"pwrite(", NULL}, [SIM_FDATASYNC] = {"fdatasync(", NULL},
        [SIM_FALLOCATE] = {"fallocate(", NULL}, [SIM_RENAME] = {"rename(", NULL},
        [SIM_UNLINK] = {"unlink(", NULL}, [SIM_FSYNC_DIR] = {"fsync_dir(", NULL},
        [SIM_WRITE_ASYNC] = {"submit_writev(", "submit_writev_fdatasync("},
        [SIM_FDATASYNC_ASYNC] = {"submit_fdatasync(", "submit_writev_fdatasync("},
        [SIM_TRUNCATE] = {"truncate(", NULL},
    };
    int kind = 0;
    for (int i = 0; i < 2; i++)
        kind |= call_of[op][i] && !strcmp(st->func, call_of[op][i]);
    if (!kind || strcmp(dyn->file, st->file))
        return 0;
    if (dyn->line >= st->line && dyn->line <= st->line + 2)
        return 1;
    int same_kind = 0;
    for (int i = 0; i < nall; i++)
        same_kind += !strcmp(all[i].file, st->file) && !strcmp(all[i].func, st->func);
    return same_kind == 1;
}

static const int errs[] = {-EIO, -ENOSPC, SIM_SHORT_WRITE, -ECANCELED};
static const char *const err_names[] = {"EIO", "ENOSPC", "short write", "ECANCELED"};

/* A site to sweep: reached by the fault-free workload (no trigger), or only on an error
 * path that the trigger fault opens. */
struct target {
    struct sim_site site;
    struct sim_fault trigger;
    int has_trigger;
    struct named_site name;
    uint64_t fired;
    int discovered; /* in how many of the fault-free runs it was reached */
};

struct sweep {
    struct target t[MAX_SITES];
    int n;
    uint64_t cases, fired_cases, open_failed, poisoned, compact_failed, absorbed;
};

static int find_target(const struct sweep *sw, const struct sim_site *s)
{
    for (int i = 0; i < sw->n; i++)
        if (sw->t[i].site.op == s->op && sw->t[i].site.site == s->site)
            return i;
    return -1;
}

static void add_targets(struct sweep *sw, const struct sim_site *s, int n,
                        const struct sim_fault *trigger)
{
    for (int i = 0; i < n && sw->n < MAX_SITES; i++) {
        int k = find_target(sw, &s[i]);
        if (k >= 0) {
            if (s[i].calls > sw->t[k].site.calls && !sw->t[k].has_trigger && !trigger)
                sw->t[k].site.calls = s[i].calls;
            sw->t[k].discovered += !trigger;
            continue;
        }
        struct target *t = &sw->t[sw->n++];
        memset(t, 0, sizeof *t);
        t->site = s[i];
        t->discovered = !trigger;
        if (trigger) {
            t->trigger = *trigger;
            t->has_trigger = 1;
        }
        name_site(&t->site, &t->name);
    }
}

/* Every error, transient and sticky, at the target's first call and (if it has more
 * than two) at the one in the middle. New sites reached on the way become targets. */
static void sweep_target(struct sweep *sw, int idx, const char *tmpl, int direct, struct run *run)
{
    struct sim_site seen[MAX_SITES];
    /* $SLUICE_FAULTS_QUICK: EIO at each site's first call only (the coverage build,
     * twenty times slower, needs each error path once, not every error kind) */
    int quick = getenv("SLUICE_FAULTS_QUICK") != NULL;
    for (size_t e = 0; e < (quick ? 1 : sizeof errs / sizeof *errs); e++)
        for (int sticky = 0; sticky < 2; sticky++)
            for (int mid = 0; mid < 2; mid++) {
                struct target *t = &sw->t[idx];
                if (mid && (t->site.calls < 3 || t->has_trigger || quick))
                    continue;
                struct sim_fault f[2];
                int nf = 0;
                if (t->has_trigger)
                    f[nf++] = t->trigger;
                f[nf++] = (struct sim_fault){.op = t->site.op, .site = t->site.site,
                                             .nth = mid ? t->site.calls / 2 : 1,
                                             .err = errs[e], .sticky = sticky};
                char what[320];
                snprintf(what, sizeof what, "%s mode, %s at %.63s:%d (%.63s%.95s), call %llu, %s, %s%s",
                         direct ? "direct" : "buffered", sim_op_names[t->site.op], t->name.file,
                         t->name.line, t->name.func, t->name.via, (unsigned long long)f[nf - 1].nth,
                         err_names[e], sticky ? "sticky" : "transient",
                         t->has_trigger ? ", behind its trigger" : "");
                const char *only = getenv("SLUICE_FAULTS_ONLY");
                if (only && !strstr(what, only))
                    continue; /* replaying one case */
                if (getenv("SLUICE_FAULTS_TRACE"))
                    fprintf(stderr, "case %llu: %s\n", (unsigned long long)sw->cases, what);
                int nseen = 0;
                uint64_t fired = run_one(tmpl, direct, f, nf, seen, &nseen, run, what);
                /* behind a trigger, the second fault is the one under test */
                int target_fired = t->has_trigger ? fired >= 2 : fired >= 1;
                sw->t[idx].fired += target_fired;
                sw->cases++;
                sw->fired_cases += target_fired;
                sw->open_failed += run->open_failed > 0;
                sw->poisoned += run->poisoned > 0;
                sw->compact_failed += run->compact_failed > 0;
                sw->absorbed += fired && !run->open_failed && !run->put_failed &&
                                !run->compact_failed;
                if (!t->has_trigger)
                    add_targets(sw, seen, nseen, &f[nf - 1]);
            }
}

Test(faults, every_site_every_error)
{
    if (access("/dev/shm", W_OK) == 0)
        setenv("TMPDIR", "/dev/shm", 1);
    char *tmpl = make_template();
    struct named_site stat_sites[128];
    int nstatic = static_sites(stat_sites, 128);
    int hit_static[128] = {0};
    struct sweep *total = calloc(1, sizeof *total);
    struct run *run = calloc(1, sizeof *run);
    cr_assert(total && run);
    int missed = 0, sites_total = 0, sites_hit = 0;
    for (int direct = 0; direct < 2; direct++) {
        struct sweep *sw = calloc(1, sizeof *sw);
        cr_assert(sw);
        /* which calls happen can depend on thread timing (is the spare segment ready?):
         * the union of three runs */
        for (int d = 0; d < 3; d++) {
            struct sim_site seen[MAX_SITES];
            int nseen;
            run_one(tmpl, direct, NULL, 0, seen, &nseen, run, "discovery");
            add_targets(sw, seen, nseen, NULL);
        }
        for (int i = 0; i < sw->n; i++) /* grows as error paths are found */
            sweep_target(sw, i, tmpl, direct, run);
        /* a call that depends on thread timing (is the spare segment ready yet?) may
         * not come again in a faulted run: retry its first case a few times */
        for (int i = 0; i < sw->n; i++)
            for (int retry = 0; retry < 10 && !sw->t[i].fired && !sw->t[i].has_trigger; retry++) {
                struct sim_fault f = {.op = sw->t[i].site.op, .site = sw->t[i].site.site,
                                      .nth = 1, .err = -EIO};
                sw->t[i].fired += run_one(tmpl, direct, &f, 1, NULL, NULL, run, "retry") > 0;
            }
        for (int i = 0; i < sw->n; i++) {
            struct target *t = &sw->t[i];
            sites_total++;
            sites_hit += t->fired > 0;
            /* reached in every fault-free run, yet never failed: the sweep is broken */
            missed += !t->fired && !t->has_trigger && t->discovered == 3;
            for (int k = 0; k < nstatic; k++)
                if (t->fired && same_site(&t->name, t->site.op, &stat_sites[k], stat_sites, nstatic))
                    hit_static[k] = 1;
            fprintf(stderr, "  %-8s %-18s %-14s:%-4d %-20s %-26s calls %-4llu faults fired %-4llu%s\n",
                    direct ? "direct" : "buffered", sim_op_names[t->site.op], t->name.file,
                    t->name.line, t->name.func, t->name.via, (unsigned long long)t->site.calls,
                    (unsigned long long)t->fired,
                    t->has_trigger ? "  (error path)"
                    : t->discovered < 3 ? "  (reached in some runs only: timing)" : "");
        }
        total->cases += sw->cases;
        total->fired_cases += sw->fired_cases;
        total->open_failed += sw->open_failed;
        total->poisoned += sw->poisoned;
        total->compact_failed += sw->compact_failed;
        total->absorbed += sw->absorbed;
        free(sw);
    }
    int nhit = 0;
    for (int k = 0; k < nstatic; k++) {
        nhit += hit_static[k];
        if (!hit_static[k])
            fprintf(stderr, "  not reached: %s:%d %s\n", stat_sites[k].file, stat_sites[k].line,
                    stat_sites[k].func);
    }
    fprintf(stderr,
            "faults: %llu runs, %llu with the fault fired; call sites hit %d of %d reached "
            "(%d static I/O calls in the sources hit %d); outcomes: open failed %llu, "
            "poisoned %llu, compaction failed %llu, absorbed %llu; 0 acknowledged records "
            "lost, 0 wrong\n",
            (unsigned long long)total->cases, (unsigned long long)total->fired_cases, sites_hit,
            sites_total, nstatic, nhit, (unsigned long long)total->open_failed,
            (unsigned long long)total->poisoned, (unsigned long long)total->compact_failed,
            (unsigned long long)total->absorbed);
    cr_expect_eq(missed, 0, "%d sites of the fault-free workload never failed", missed);
    free(run);
    free(total);
    tu_rmdir(tmpl);
}
