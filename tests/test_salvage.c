/*
 * Damage and salvage. Recovery steps over damaged log records the cold tier already
 * holds (it says so through errbuf, an event and the stats; verify calls it harmless),
 * and still refuses damage above compacted_lsn without cutting anything. `sluice
 * repair` copies every readable record of a damaged directory into a new one and says
 * what was lost; `sluice backup` copies a directory a writer is using into one that
 * opens with every record durable when it began.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_run.h"
#include "crc32c.h"
#include "sluice.h"
#include "util.h"

#define RECORDS 3000
#define COMPACTED 2000

static char *dir;
static void setup(void) { dir = tu_mkdtemp(); }
static void teardown(void) { tu_rmdir(dir); }
TestSuite(salvage, .init = setup, .fini = teardown);

static size_t record_of(uint64_t id, char *key, uint8_t *val, size_t *vlen)
{
    *vlen = 20 + (id * 37) % 200;
    tu_fill(val, *vlen, id);
    return (size_t)sprintf(key, "s-%llu", (unsigned long long)(id % 7));
}

/* RECORDS records (ts = id), the first compact_at of them compacted, in segments of at
 * most segment_bytes. */
static void build_with(const char *d, size_t segment_bytes, uint64_t compact_at)
{
    sluice_options o;
    sluice_options_init(&o);
    o.manual_compaction = 1;
    o.segment_bytes = segment_bytes;
    sluice_db *db;
    cr_assert_eq(sluice_open(d, &o, &db), 0);
    char key[32];
    uint8_t val[256];
    for (uint64_t id = 1; id <= RECORDS; id++) {
        size_t vlen, klen = record_of(id, key, val, &vlen);
        cr_assert_eq(sluice_put(db, key, klen, id, val, vlen, SLUICE_ACK_MEMORY, NULL), 0);
        if (id == compact_at)
            cr_assert_eq(sluice_compact(db), 0);
    }
    cr_assert_eq(sluice_close(db), 0);
}

/* One segment, COMPACTED of its records in the cold tier too. */
static void build(const char *d)
{
    build_with(d, 4u << 20, COMPACTED);
    cr_assert_eq(tu_count_segments(d), 1);
}

/* The file offset of record `lsn`, from dump log. */
static long offset_of(const char *d, uint64_t lsn)
{
    char from[24];
    snprintf(from, sizeof from, "%" PRIu64, lsn);
    cr_assert_eq(tc_run("dump", "log", d, "--json", "--from-lsn", from, "--limit", "1", NULL), 0, "%s", tc_err);
    char *p = strstr(tc_out, "\"offset\":");
    cr_assert(p, "%s", tc_out);
    return atol(p + 9);
}

static void flip(const char *path, long off) { cr_assert_eq(tu_flip(path, off, 0x40), 0, "%s", path); }

static uint32_t file_crc(const char *path)
{
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0);
    static uint8_t buf[1 << 20];
    uint32_t c = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        c = crc32c_extend(c, buf, (size_t)n);
    close(fd);
    return c;
}

/* Every record 1..RECORDS (or those not in [lost_from, lost_to]) reads back exactly. */
static void expect_records(sluice_db *db, uint64_t lost_from, uint64_t lost_to)
{
    char key[32];
    uint8_t val[256], got[256];
    for (uint64_t id = 1; id <= RECORDS; id++) {
        size_t vlen, klen = record_of(id, key, val, &vlen), glen = 0;
        int r = sluice_get(db, key, klen, id, got, sizeof got, &glen);
        if (id >= lost_from && id <= lost_to) {
            cr_expect_eq(r, SLUICE_NOTFOUND, "record %" PRIu64 " should be lost", id);
            continue;
        }
        cr_assert_eq(r, 0, "record %" PRIu64 ": %s", id, sluice_errname(r));
        cr_assert(glen == vlen && !memcmp(got, val, vlen), "record %" PRIu64 " differs", id);
    }
}

struct events {
    int skipped;
    uint64_t a, b;
};
static void on_event(void *arg, const struct sluice_event *ev)
{
    struct events *e = arg;
    if (ev->type == SLUICE_EVENT_DAMAGE_SKIPPED) {
        e->skipped++;
        e->a = ev->a;
        e->b = ev->b;
    }
}

/* The first user's finding: one flipped byte in records the cold tier already held made
 * the directory unusable ("the log ends at LSN ..., before the cold tier's ..."). */
Test(salvage, damage_the_cold_tier_covers_is_stepped_over)
{
    build(dir);
    char *seg = tu_segment(dir, 0);
    long off = offset_of(dir, 1500);
    flip(seg, off + 40); /* in record 1500's key or value */
    cr_expect_eq(tc_run("verify", dir, NULL), 0, "harmless: %s", tc_out);
    cr_expect(strstr(tc_out, "(LSN 1500..1500) stepped over") && strstr(tc_out, "harmless"), "%s", tc_out);
    cr_expect(strstr(tc_out, "clean"), "%s", tc_out);

    sluice_options o;
    sluice_options_init(&o);
    char err[512] = "";
    struct events ev = {0};
    o.errbuf = err;
    o.errbuf_bytes = sizeof err;
    o.on_event = on_event;
    o.event_arg = &ev;
    sluice_db *db;
    int r = sluice_open(dir, &o, &db);
    cr_assert_eq(r, 0, "%s: %s", sluice_errname(r), err);
    cr_expect(strstr(err, "LSN 1500..1500") && strstr(err, "nothing lost"), "the note: %s", err);
    cr_expect_eq(ev.skipped, 1);
    cr_expect(ev.a == 1500 && ev.b == 1500, "event LSNs %" PRIu64 "..%" PRIu64, ev.a, ev.b);
    struct sluice_stats st;
    cr_assert_eq(sluice_stats(db, &st), 0);
    cr_expect_eq(st.recovery_skipped_records, 1);
    expect_records(db, 1, 0);
    /* writes go on, compaction passes the damage, and a reopen agrees */
    cr_assert_eq(sluice_put(db, "after", 5, 1, "x", 1, SLUICE_ACK_DURABLE, NULL), 0);
    cr_assert_eq(sluice_compact(db), 0);
    cr_assert_eq(sluice_close(db), 0);
    cr_assert_eq(sluice_open(dir, &o, &db), 0, "%s", err);
    expect_records(db, 1, 0);
    char b[4];
    size_t n;
    cr_expect_eq(sluice_get(db, "after", 5, 1, b, sizeof b, &n), 0);
    cr_assert_eq(sluice_close(db), 0);
    free(seg);
}

/* A damaged fill (no record at all): nothing lost, stepped over too. And a whole zeroed
 * block of records below compacted_lsn. */
Test(salvage, a_zeroed_block_below_compacted_is_stepped_over)
{
    build(dir);
    char *seg = tu_segment(dir, 0);
    long off = offset_of(dir, 1000) & ~4095L;
    int fd = open(seg, O_RDWR);
    static const uint8_t zeros[4096];
    cr_assert_eq(pwrite(fd, zeros, sizeof zeros, off), (ssize_t)sizeof zeros);
    close(fd);
    sluice_db *db;
    sluice_options o;
    sluice_options_init(&o);
    cr_assert_eq(sluice_open(dir, &o, &db), 0);
    struct sluice_stats st;
    cr_assert_eq(sluice_stats(db, &st), 0);
    cr_expect_gt(st.recovery_skipped_records, 10, "a block holds many records");
    expect_records(db, 1, 0);
    cr_assert_eq(sluice_close(db), 0);
    free(seg);
}

/* Damage above compacted_lsn is refused as before, and the refusal changes no byte
 * (recovery once cut the tail before it judged that the log ended short). */
Test(salvage, damage_above_compacted_is_refused_and_nothing_is_cut)
{
    build(dir);
    char *seg = tu_segment(dir, 0);
    long at = offset_of(dir, 2500), lo = offset_of(dir, 1990) & ~4095L, hi = offset_of(dir, 2010);
    flip(seg, at + 40);
    uint32_t before = file_crc(seg);
    sluice_db *db;
    sluice_options o;
    sluice_options_init(&o);
    char err[512] = "";
    o.errbuf = err;
    o.errbuf_bytes = sizeof err;
    cr_expect_eq(sluice_open(dir, &o, &db), SLUICE_ECORRUPT);
    cr_expect(strstr(err, seg), "names the file: %s", err);
    cr_expect_eq(file_crc(seg), before, "nothing was cut");
    cr_expect_eq(tc_run("verify", dir, NULL), 1, "%s", tc_out);
    /* a stretch that starts below compacted_lsn and ends above it: refused too */
    flip(seg, at + 40); /* mend */
    int fd = open(seg, O_RDWR);
    static uint8_t zeros[1 << 16];
    cr_assert_lt(hi - lo, (long)sizeof zeros);
    cr_assert_eq(pwrite(fd, zeros, (size_t)(hi - lo), lo), hi - lo);
    close(fd);
    before = file_crc(seg);
    cr_expect_eq(sluice_open(dir, &o, &db), SLUICE_ECORRUPT, "%s", err);
    cr_expect_eq(file_crc(seg), before, "nothing was cut");
    free(seg);
}

/* ---- repair ---- */

/* Every file under d, with its CRC, as one string: a directory nobody wrote compares
 * equal before and after. */
static void tree_print(const char *d, char *out, size_t cap)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "cd '%s' && find . -type f | sort", d);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    char line[4200];
    size_t n = 0;
    out[0] = 0;
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = 0;
        char full[8400];
        snprintf(full, sizeof full, "%s/%s", d, line);
        n += (size_t)snprintf(out + n, cap - n, "%s %08x\n", line, file_crc(full));
        cr_assert_lt(n, cap);
    }
    pclose(p);
}

/* The same records as a reference directory, except the ids in [lost_from, lost_to]. */
static void expect_like(const char *d, uint64_t upto, uint64_t lost_from, uint64_t lost_to, const char *what)
{
    sluice_db *db;
    sluice_options o;
    sluice_options_init(&o);
    o.read_only = 1;
    cr_assert_eq(sluice_open(d, &o, &db), 0, "%s", what);
    char key[32];
    uint8_t val[256], got[256];
    for (uint64_t id = 1; id <= upto; id++) {
        size_t vlen, klen = record_of(id, key, val, &vlen), glen = 0;
        int r = sluice_get(db, key, klen, id, got, sizeof got, &glen);
        if (id >= lost_from && id <= lost_to)
            cr_assert_eq(r, SLUICE_NOTFOUND, "%s: record %" PRIu64 " should be lost", what, id);
        else
            cr_assert(r == 0 && glen == vlen && !memcmp(got, val, vlen), "%s: record %" PRIu64 ": %s", what,
                      id, sluice_errname(r));
    }
    cr_assert_eq(sluice_close(db), 0);
}

/* The offset in data.mdb of the block of key k (series s-k) starting at the lowest ts. */
static long cold_block_offset(const char *d, const char *key)
{
    cr_assert_eq(tc_run("dump", "cold", d, "--key", key, "--json", NULL), 0, "%s", tc_err);
    char *p = strstr(tc_out, "\"offset\":");
    cr_assert(p);
    return atol(p + 9);
}

Test(salvage, repair_copies_what_can_be_read_and_names_what_is_lost)
{
    build(dir);
    char *seg = tu_segment(dir, 0), cold[4200], dest[4200];
    snprintf(cold, sizeof cold, "%s/cold/data.mdb", dir);
    snprintf(dest, sizeof dest, "%s.repaired", dir);
    long rec2500 = offset_of(dir, 2500), rec1000 = offset_of(dir, 1000);
    flip(seg, rec2500 + 40);                        /* above compacted_lsn: lost */
    flip(seg, rec1000 + 40);                        /* below: the cold tier has it */
    flip(cold, cold_block_offset(dir, "s-3") + 60); /* a cold block: the log has it still */
    static char before[1 << 16], after[1 << 16];
    tree_print(dir, before, sizeof before);
    cr_expect_eq(tc_run("repair", dir, dest, NULL), 1, "something was lost: %s%s", tc_out, tc_err);
    cr_expect(strstr(tc_out, "lost: LSN 2500..2500 (1 record)"), "%s", tc_out);
    cr_expect(strstr(tc_out, "lost: cold block of key s-3 from ts"), "%s", tc_out);
    cr_expect(strstr(tc_out, "found again in the log"), "%s", tc_out);
    cr_expect(strstr(tc_out, "2999 records copied"), "%s", tc_out);
    tree_print(dir, after, sizeof after);
    cr_expect_str_eq(after, before, "repair wrote to DIR");
    expect_like(dest, RECORDS, 2500, 2500, "the repaired copy");
    cr_expect_eq(tc_run("verify", dest, NULL), 0, "%s", tc_out);
    cr_expect_eq(tc_run("repair", dir, dest, NULL), 2, "DEST must be new or empty");
    char *d2 = tu_mkdtemp();
    cr_expect_eq(tc_run("repair", dir, d2, NULL), 1, "an empty DEST is fine");
    tu_rmdir(d2);
    char rm[8400];
    snprintf(rm, sizeof rm, "rm -rf '%s'", dest);
    cr_assert_eq(system(rm), 0);
    free(seg);
}

/* Compacted segments are gone: a damaged cold block's records are lost, and named. */
Test(salvage, repair_of_a_damaged_cold_block_whose_segments_are_gone)
{
    build_with(dir, 256u << 10, RECORDS);
    char key[32];
    uint8_t val[256];
    sluice_db *db;
    char cold[4200], dest[4200];
    snprintf(cold, sizeof cold, "%s/cold/data.mdb", dir);
    snprintf(dest, sizeof dest, "%s/dest", dir);
    flip(cold, cold_block_offset(dir, "s-5") + 60);
    cr_expect_eq(tc_run("repair", dir, dest, NULL), 1, "%s%s", tc_out, tc_err);
    cr_expect(strstr(tc_out, "lost: cold block of key s-5 from ts 5: "), "%s", tc_out);
    cr_expect(strstr(tc_out, "0 of them (or newer versions) found again"), "%s", tc_out);
    /* the first block of s-5 holds ids 5, 12, 19, ... up to its size: exactly those are
     * missing, every other record is there */
    const char *p = strstr(tc_out, "from ts 5: ");
    cr_assert(p);
    int lost = atoi(p + 11);
    cr_assert_gt(lost, 0);
    sluice_options ro;
    sluice_options_init(&ro);
    ro.read_only = 1;
    cr_assert_eq(sluice_open(dest, &ro, &db), 0);
    int missing = 0;
    uint8_t got[256];
    for (uint64_t id = 1; id <= RECORDS; id++) {
        size_t vlen, klen = record_of(id, key, val, &vlen), glen;
        int r = sluice_get(db, key, klen, id, got, sizeof got, &glen);
        if (r == SLUICE_NOTFOUND) {
            cr_expect_eq(id % 7, 5, "record %" PRIu64 " of another key is missing", id);
            missing++;
        } else {
            cr_assert(r == 0 && glen == vlen && !memcmp(got, val, vlen), "record %" PRIu64, id);
        }
    }
    cr_expect_eq(missing, lost, "the report counts exactly what is missing");
    cr_assert_eq(sluice_close(db), 0);
}

/* ---- backup ---- */

/* A child writes records id = 1, 2, ... at DURABLE level, compacting as segments seal,
 * and reports each acknowledged id on a pipe. Backups taken meanwhile must hold every
 * record acknowledged before they began. */
Test(salvage, backup_under_a_running_writer_holds_every_durable_record)
{
    int acks[2];
    cr_assert_eq(pipe(acks), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(acks[0]);
        sluice_options o;
        sluice_options_init(&o);
        o.segment_bytes = 256u << 10; /* segments seal, compact and vanish during backups */
        o.stats_interval_ms = 10;
        sluice_db *db;
        if (sluice_open(dir, &o, &db))
            _exit(2);
        char key[32];
        uint8_t val[256];
        for (uint64_t id = 1;; id++) {
            size_t vlen, klen = record_of(id, key, val, &vlen);
            if (sluice_put(db, key, klen, id, val, vlen, SLUICE_ACK_DURABLE, NULL))
                _exit(3);
            if (write(acks[1], &id, sizeof id) != sizeof id)
                _exit(0);
        }
    }
    close(acks[1]);
    uint64_t acked = 0, id;
    for (int round = 0; round < 4; round++) {
        /* everything acknowledged so far, and at least 2000 more records per round */
        while (read(acks[0], &id, sizeof id) == sizeof id && (acked = id) < (uint64_t)(round + 1) * 2000)
            ;
        int fl = fcntl(acks[0], F_GETFL);
        fcntl(acks[0], F_SETFL, fl | O_NONBLOCK);
        while (read(acks[0], &id, sizeof id) == sizeof id)
            acked = id;
        fcntl(acks[0], F_SETFL, fl);
        char dest[4200];
        snprintf(dest, sizeof dest, "%s/backup-%d", dir, round);
        cr_assert_eq(tc_run("backup", dir, dest, NULL), 0, "%s%s", tc_out, tc_err);
        cr_expect(strstr(tc_out, "a writer was running"), "%s", tc_out);
        fprintf(stderr, "%s", tc_out);
        expect_like(dest, acked, 1, 0, "the backup");
        cr_expect_eq(tc_run("verify", dest, NULL), 0, "%s", tc_out);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(acks[0]);
    fprintf(stderr, "backup: 4 backups under a writer, the last after %" PRIu64 " acknowledged records\n", acked);
}
