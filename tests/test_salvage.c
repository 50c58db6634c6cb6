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

/* RECORDS records (ts = id) in one segment, the first COMPACTED of them compacted. */
static void build(const char *d)
{
    sluice_options o;
    sluice_options_init(&o);
    o.manual_compaction = 1;
    o.segment_bytes = 4u << 20;
    sluice_db *db;
    cr_assert_eq(sluice_open(d, &o, &db), 0);
    char key[32];
    uint8_t val[256];
    for (uint64_t id = 1; id <= RECORDS; id++) {
        size_t vlen, klen = record_of(id, key, val, &vlen);
        cr_assert_eq(sluice_put(db, key, klen, id, val, vlen, SLUICE_ACK_MEMORY, NULL), 0);
        if (id == COMPACTED)
            cr_assert_eq(sluice_compact(db), 0);
    }
    cr_assert_eq(sluice_close(db), 0);
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

static void flip(const char *path, long off)
{
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0);
    unsigned char b;
    cr_assert_eq(pread(fd, &b, 1, off), 1);
    b ^= 0x40;
    cr_assert_eq(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

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
