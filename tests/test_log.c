/* The log tier on real files: roll-over, torn tails at every offset, and damage that
 * must refuse the open with SLUICE_ECORRUPT naming file and offset. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "format.h"
#include "io.h"
#include "sluice.h"
#include "util.h"
#include "walker.h"

static char *dir;
static char errbuf[512];
enum { RECORDS = 6000 };

static void opts(sluice_options *o)
{
    sluice_options_init(o);
    o->ring_bytes = 1 << 20;
    o->segment_bytes = 256 << 10;
    o->batch_max_bytes = 32 << 10;
    o->manual_compaction = 1; /* these tests take segment files apart */
    o->errbuf = errbuf;
    o->errbuf_bytes = sizeof errbuf;
}

static void key_of(char *k, int i) { sprintf(k, "series-%03d", i % 50); }

static void populate(void)
{
    dir = tu_mkdtemp();
    sluice_options o;
    opts(&o);
    sluice_db *db;
    cr_assert_eq(sluice_open(dir, &o, &db), 0);
    char k[32], v[200];
    for (int i = 0; i < RECORDS; i++) {
        key_of(k, i);
        tu_fill(v, 100, (uint64_t)i);
        cr_assert_eq(sluice_put(db, k, strlen(k), (uint64_t)i, v, 100,
                                i % 500 == 499 ? SLUICE_ACK_DURABLE : SLUICE_ACK_MEMORY, NULL), 0);
    }
    cr_assert_eq(sluice_close(db), 0);
}

static void cleanup(void) { tu_rmdir(dir); }

/* Opens, counts records present as written; returns the open's result. */
static int open_and_count(int *present)
{
    sluice_options o;
    opts(&o);
    errbuf[0] = 0;
    sluice_db *db;
    int r = sluice_open(dir, &o, &db);
    if (r)
        return r;
    *present = 0;
    char k[32], v[200], want[200];
    for (int i = 0; i < RECORDS; i++) {
        key_of(k, i);
        size_t vlen;
        int g = sluice_get(db, k, strlen(k), (uint64_t)i, v, sizeof v, &vlen);
        if (g == SLUICE_NOTFOUND)
            continue;
        cr_assert_eq(g, 0, "record %d: %s", i, sluice_strerror(g));
        tu_fill(want, 100, (uint64_t)i);
        cr_assert(vlen == 100 && memcmp(v, want, 100) == 0, "record %d is wrong", i);
        ++*present;
    }
    cr_assert_eq(sluice_close(db), 0);
    return 0;
}

/* Offsets of the last `cap` records in a segment file (and in ends[] where each record
 * ends), through the library's own walker; *end is where the valid data ends. */
static uint64_t rec_ends[3];
static int record_offsets(const char *path, uint64_t *offs, int cap, uint64_t *end)
{
    struct io *io;
    cr_assert_eq(io_create(SLUICE_IO_POSIX, &io), 0);
    int fd = open(path, O_RDONLY);
    struct seg_walker w;
    cr_assert_eq(seg_walker_open(&w, io, fd, (uint64_t)tu_file_size(path)), 0);
    const struct rec_hdr *h;
    uint64_t off;
    int n = 0;
    while (seg_walker_next(&w, &h, &off) == 1) {
        int shift = n == cap;
        memmove(offs, offs + shift, sizeof *offs * (size_t)(cap - 1));
        if (cap <= 3)
            memmove(rec_ends, rec_ends + shift, sizeof *rec_ends * (size_t)(cap - 1));
        offs[shift ? cap - 1 : n] = off;
        if (cap <= 3)
            rec_ends[shift ? cap - 1 : n] = off + rec_size(h->klen, h->vlen);
        if (n < cap)
            n++;
    }
    *end = w.pos;
    seg_walker_close(&w);
    close(fd);
    io_destroy(io);
    return n;
}

static void *read_file(const char *path, size_t *n)
{
    *n = (size_t)tu_file_size(path);
    void *b = malloc(*n);
    int fd = open(path, O_RDONLY);
    cr_assert_eq(pread(fd, b, *n, 0), (ssize_t)*n);
    close(fd);
    return b;
}

static void write_file(const char *path, const void *b, size_t n)
{
    int fd = open(path, O_WRONLY | O_TRUNC);
    cr_assert_eq(pwrite(fd, b, n, 0), (ssize_t)n);
    close(fd);
}

static void patch(const char *path, uint64_t off, const void *b, size_t n)
{
    int fd = open(path, O_WRONLY);
    cr_assert_eq(pwrite(fd, b, n, (off_t)off), (ssize_t)n);
    close(fd);
}

TestSuite(log, .init = populate, .fini = cleanup);

Test(log, records_roll_over_segments_and_survive_reopen)
{
    cr_assert_gt(tu_count_segments(dir), 2);
    int present;
    cr_assert_eq(open_and_count(&present), 0);
    cr_expect_eq(present, RECORDS);
}

Test(log, torn_tail_at_every_offset_of_the_last_three_records)
{
    int nseg = tu_count_segments(dir);
    char *last = tu_segment(dir, nseg - 1);
    uint64_t offs[3], end;
    int n = record_offsets(last, offs, 3, &end);
    cr_assert_eq(n, 3);
    size_t size;
    uint8_t *orig = read_file(last, &size);
    uint64_t seed = tu_seed("torn_tail");
    int cases = 0;
    /* every offset of the last three records (the fill and seal after them are covered
     * by the hole tests below; sweeping their 8 KiB too costs minutes, not coverage) */
    for (uint64_t cut = offs[0]; cut < rec_ends[2]; cut++) {
        int kind = (int)(cut % 3); /* zeros, garbage, or a real truncation */
        uint8_t *copy = malloc(size);
        memcpy(copy, orig, size);
        if (kind == 0)
            memset(copy + cut, 0, end - cut);
        else if (kind == 1)
            for (uint64_t i = cut; i < end; i++)
                copy[i] = (uint8_t)tu_rand(&seed);
        write_file(last, copy, kind == 2 ? cut : size);
        /* A record is lost iff a byte of it changed: zeroing its (already zero)
         * alignment bytes, or garbage that happens to equal them, changes nothing. */
        int lost = 0;
        for (int i = 0; i < 3; i++) {
            uint64_t rec_end = rec_ends[i];
            int changed = kind == 2 ? cut < rec_end
                                    : memcmp(copy + offs[i], orig + offs[i], rec_end - offs[i]) != 0;
            lost += changed;
        }
        free(copy);
        int present, r = open_and_count(&present);
        cr_assert_eq(r, 0, "cut at %llu (kind %d): %s: %s", (unsigned long long)cut, kind,
                     sluice_strerror(r), errbuf);
        cr_assert_eq(present, RECORDS - lost, "cut at %llu kind %d", (unsigned long long)cut, kind);
        cases++;
    }
    write_file(last, orig, size);
    free(orig);
    free(last);
    cr_log_info("torn-tail cases: %d", cases);
}

Test(log, damage_in_an_earlier_segment_is_ecorrupt_naming_file_and_offset)
{
    char *first = tu_segment(dir, 0);
    uint64_t offs[1], end;
    record_offsets(first, offs, 1, &end);
    uint8_t b = 0x5a;
    patch(first, end / 2, &b, 1);
    int present;
    cr_expect_eq(open_and_count(&present), SLUICE_ECORRUPT);
    cr_expect_not_null(strstr(errbuf, "0000000000000001.seg"), "%s", errbuf);
    cr_expect_not_null(strstr(errbuf, "offset"), "%s", errbuf);
    free(first);
}

Test(log, hole_before_later_records_in_the_last_segment_is_ecorrupt)
{
    char *last = tu_segment(dir, tu_count_segments(dir) - 1);
    uint64_t offs[3], end;
    record_offsets(last, offs, 3, &end);
    uint8_t zeros[32] = {0};
    patch(last, offs[0], zeros, sizeof zeros);
    int present;
    cr_expect_eq(open_and_count(&present), SLUICE_ECORRUPT);
    cr_expect_not_null(strstr(errbuf, "offset"), "%s", errbuf);
    free(last);
}

Test(log, damaged_segment_header_is_ecorrupt)
{
    char *seg = tu_segment(dir, 1);
    uint8_t b = 'X';
    patch(seg, 0, &b, 1);
    int present;
    cr_expect_eq(open_and_count(&present), SLUICE_ECORRUPT);
    cr_expect_not_null(strstr(errbuf, "offset 0"), "%s", errbuf);
    free(seg);
}

static void rewrite_header(const char *path, void (*edit)(struct seg_hdr *))
{
    uint8_t block[SEG_HEADER_BYTES];
    int fd = open(path, O_RDWR);
    cr_assert_eq(pread(fd, block, sizeof block, 0), (ssize_t)sizeof block);
    struct seg_hdr h;
    memcpy(&h, block, sizeof h);
    edit(&h);
    memcpy(block, &h, sizeof h);
    h.crc = seg_hdr_crc(block);
    memcpy(block, &h, sizeof h);
    cr_assert_eq(pwrite(fd, block, sizeof block, 0), (ssize_t)sizeof block);
    close(fd);
}

static void other_uuid(struct seg_hdr *h) { h->uuid[0] ^= 0xff; }
static void future_version(struct seg_hdr *h) { h->version = 3; }

Test(log, segment_of_another_database_is_ecorrupt)
{
    char *seg = tu_segment(dir, 1);
    rewrite_header(seg, other_uuid);
    int present;
    cr_expect_eq(open_and_count(&present), SLUICE_ECORRUPT);
    cr_expect_not_null(strstr(errbuf, "another database"), "%s", errbuf);
    free(seg);
}

Test(log, future_format_version_is_eversion)
{
    char *seg = tu_segment(dir, 0);
    rewrite_header(seg, future_version);
    int present;
    cr_expect_eq(open_and_count(&present), SLUICE_EVERSION);
    free(seg);
}

Test(log, missing_middle_segment_is_ecorrupt)
{
    char *seg = tu_segment(dir, 1);
    cr_assert_eq(unlink(seg), 0);
    int present;
    cr_expect_eq(open_and_count(&present), SLUICE_ECORRUPT);
    free(seg);
}

Test(log, duplicated_segment_under_another_name_is_ecorrupt)
{
    char *seg = tu_segment(dir, 1);
    char copy[4096];
    snprintf(copy, sizeof copy, "%s/log/00000000ffffffff.seg", dir);
    size_t n;
    void *b = read_file(seg, &n);
    int fd = open(copy, O_CREAT | O_WRONLY, 0644);
    cr_assert_eq(write(fd, b, n), (ssize_t)n);
    close(fd);
    free(b);
    int present;
    cr_expect_eq(open_and_count(&present), SLUICE_ECORRUPT);
    free(seg);
}

Test(log, unfinished_segment_creation_is_removed_on_open)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s/log/00000000deadbeef.seg.tmp", dir);
    int fd = open(tmp, O_CREAT | O_WRONLY, 0644);
    cr_assert_geq(fd, 0);
    close(fd);
    int present;
    cr_assert_eq(open_and_count(&present), 0);
    cr_expect_eq(present, RECORDS);
    cr_expect_eq(tu_file_size(tmp), -1);
}

Test(log, read_only_open_changes_nothing)
{
    char *last = tu_segment(dir, tu_count_segments(dir) - 1);
    uint64_t offs[1], end;
    record_offsets(last, offs, 1, &end);
    uint8_t junk[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    patch(last, end + 64, junk, sizeof junk); /* garbage after the end: a torn tail */
    size_t n1, n2;
    uint8_t *before = read_file(last, &n1);
    sluice_options o;
    opts(&o);
    o.read_only = 1;
    sluice_db *db;
    cr_assert_eq(sluice_open(dir, &o, &db), 0);
    cr_assert_eq(sluice_close(db), 0);
    uint8_t *after = read_file(last, &n2);
    cr_expect(n1 == n2 && memcmp(before, after, n1) == 0, "read-only open modified the file");
    free(before);
    free(after);
    free(last);
}

/* ---- a hole in the last segment: torn in-flight write, or lost acknowledged data ---- */

static char *hole_dir;
static uint64_t hole_a, hole_b, hole_seal; /* offsets of records A, B and the close seal */

static void hole_setup(void)
{
    hole_dir = tu_mkdtemp();
    sluice_options o;
    opts(&o);
    o.linger_us = 50000; /* so that A and B travel in one batch */
    sluice_db *db;
    cr_assert_eq(sluice_open(hole_dir, &o, &db), 0);
    char k[8];
    for (int i = 0; i < 10; i++) {
        snprintf(k, sizeof k, "r%d", i);
        cr_assert_eq(sluice_put(db, k, strlen(k), 1, "v", 1, SLUICE_ACK_MEMORY, NULL), 0);
    }
    cr_assert_eq(sluice_flush(db), 0);
    cr_assert_eq(sluice_put(db, "A", 1, 1, "a", 1, SLUICE_ACK_MEMORY, NULL), 0);
    cr_assert_eq(sluice_put(db, "B", 1, 1, "b", 1, SLUICE_ACK_MEMORY, NULL), 0);
    cr_assert_eq(sluice_close(db), 0); /* A and B durable, then the seal */
    char *seg = tu_segment(hole_dir, 0);
    uint64_t offs[2], end;
    cr_assert_eq(record_offsets(seg, offs, 2, &end), 2);
    hole_a = offs[0];
    hole_b = offs[1];
    cr_assert_eq(hole_b, hole_a + rec_size(1, 1), "A and B were written in one batch");
    hole_seal = (rec_ends[1] + LOG_BLOCK - 1) / LOG_BLOCK * LOG_BLOCK; /* after B's fill */
    if (hole_seal - rec_ends[1] < REC_HDR_BYTES)
        hole_seal += LOG_BLOCK;
    cr_assert_lt(hole_seal, end, "a clean close left a seal after B's batch");
    free(seg);
}

static void hole_teardown(void) { tu_rmdir(hole_dir); }

static int hole_open(int *a, int *b, int *r9)
{
    sluice_options o;
    opts(&o);
    errbuf[0] = 0;
    sluice_db *db;
    int r = sluice_open(hole_dir, &o, &db);
    if (r)
        return r;
    char v[4];
    size_t n;
    *a = sluice_get(db, "A", 1, 1, v, sizeof v, &n) == 0;
    *b = sluice_get(db, "B", 1, 1, v, sizeof v, &n) == 0;
    *r9 = sluice_get(db, "r9", 2, 1, v, sizeof v, &n) == 0;
    cr_assert_eq(sluice_close(db), 0);
    return 0;
}

TestSuite(hole, .init = hole_setup, .fini = hole_teardown);

Test(hole, lost_acknowledged_record_proven_by_the_seal_is_ecorrupt)
{
    char *seg = tu_segment(hole_dir, 0);
    uint8_t zeros[REC_HDR_BYTES] = {0};
    patch(seg, hole_a, zeros, sizeof zeros);
    int a, b, r9;
    cr_expect_eq(hole_open(&a, &b, &r9), SLUICE_ECORRUPT);
    cr_expect_not_null(strstr(errbuf, "acknowledged"), "%s", errbuf);
    free(seg);
}

/* A reader cannot tell that hole from a live writer's write still in flight (writes
 * complete out of order): it shows the valid prefix, cuts nothing, and leaves the
 * judgement to the writer's own recovery, which still refuses the directory after it. */
Test(hole, a_reader_shows_the_valid_prefix_and_leaves_the_judgement_to_the_writer)
{
    char *seg = tu_segment(hole_dir, 0);
    uint8_t zeros[REC_HDR_BYTES] = {0};
    patch(seg, hole_a, zeros, sizeof zeros);
    sluice_options o;
    opts(&o);
    o.read_only = 1;
    sluice_db *db;
    cr_assert_eq(sluice_open(hole_dir, &o, &db), 0, "%s", errbuf);
    char v[4];
    size_t n;
    cr_expect_eq(sluice_get(db, "r9", 2, 1, v, sizeof v, &n), 0, "the prefix before the hole");
    cr_expect_eq(sluice_get(db, "A", 1, 1, v, sizeof v, &n), SLUICE_NOTFOUND);
    cr_expect_eq(sluice_get(db, "B", 1, 1, v, sizeof v, &n), SLUICE_NOTFOUND, "past the hole");
    cr_assert_eq(sluice_close(db), 0);
    int a, b, r9;
    cr_expect_eq(hole_open(&a, &b, &r9), SLUICE_ECORRUPT, "the reader cut nothing");
    free(seg);
}

Test(hole, unacknowledged_write_after_a_hole_is_cut)
{
    /* Without the seal, nothing shows that A's batch completed: it looks exactly like a
     * write torn by a crash while B's bytes had landed, and is cut. */
    char *seg = tu_segment(hole_dir, 0);
    static uint8_t zeros[2 * LOG_BLOCK];
    patch(seg, hole_seal, zeros, sizeof zeros);
    patch(seg, hole_a, zeros, REC_HDR_BYTES);
    int a, b, r9;
    cr_assert_eq(hole_open(&a, &b, &r9), 0, "%s", errbuf);
    cr_expect(!a && !b, "the torn batch is cut whole");
    cr_expect(r9, "the earlier, acknowledged batch stays");
    free(seg);
}

/* Recovery indexes on a helper thread, in chunks bounded by records and by bytes
 * (recovery.c, struct index_feed). Many chunks of interleaved series, keys of every
 * length up to the limit, rewrites of earlier (key, ts) pairs, deletes and source
 * offsets must come out of a reopen exactly as a model of the puts says. */
enum { FEED_RECORDS = 60000, FEED_SERIES = 3001 };

struct feed_op {
    uint32_t series, i;
    uint64_t ts;
    int del;
};

static size_t feed_key(char *k, uint32_t s)
{
    size_t n = s == FEED_SERIES - 1 ? SLUICE_KEY_MAX : 16 + (size_t)(s % 8) * 60;
    memset(k, 'x', n);
    memcpy(k, &s, sizeof s); /* binary bytes, NUL included */
    return n;
}

static int feed_op_cmp(const void *a, const void *b)
{
    const struct feed_op *x = a, *y = b;
    if (x->series != y->series)
        return x->series < y->series ? -1 : 1;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

static void feed_check(const char *d, const struct feed_op *sorted, const uint64_t *last_offset)
{
    sluice_options o;
    opts(&o);
    sluice_db *db;
    cr_assert_eq(sluice_open(d, &o, &db), 0, "%s", errbuf);
    char k[SLUICE_KEY_MAX], v[64], want[64];
    size_t checked = 0;
    for (size_t j = 0; j < FEED_RECORDS; j++) {
        if (j + 1 < FEED_RECORDS && sorted[j + 1].series == sorted[j].series &&
            sorted[j + 1].ts == sorted[j].ts)
            continue; /* the newest op on (key, ts) decides */
        const struct feed_op *op = &sorted[j];
        size_t kl = feed_key(k, op->series), vlen;
        int g = sluice_get(db, k, kl, op->ts, v, sizeof v, &vlen);
        if (op->del) {
            cr_assert_eq(g, SLUICE_NOTFOUND, "series %u ts %" PRIu64 " was deleted", op->series, op->ts);
        } else {
            cr_assert_eq(g, 0, "series %u ts %" PRIu64 ": %s", op->series, op->ts, sluice_strerror(g));
            tu_fill(want, 40, op->i);
            cr_assert(vlen == 40 && memcmp(v, want, 40) == 0, "series %u ts %" PRIu64 " is not put %u",
                      op->series, op->ts, op->i);
        }
        checked++;
    }
    cr_assert_gt(checked, FEED_RECORDS / 2);
    for (int src = 0; src < 3; src++) {
        char name[16];
        uint64_t off;
        snprintf(name, sizeof name, "src-%d", src);
        cr_assert_eq(sluice_offset_get(db, name, &off), 0);
        cr_expect_eq(off, last_offset[src], "%s", name);
    }
    /* one series in ts order, rewritten and deleted pairs resolved */
    size_t kl = feed_key(k, 7), n = 0;
    uint64_t prev = 0;
    sluice_iter *it;
    cr_assert_eq(sluice_iter_open(db, k, kl, 0, UINT64_MAX, &it), 0);
    sluice_record rec;
    int r;
    while ((r = sluice_iter_next(it, &rec)) == 0) {
        cr_assert(n == 0 || rec.ts > prev, "series 7 out of order at ts %" PRIu64, rec.ts);
        prev = rec.ts;
        n++;
    }
    cr_assert_eq(r, SLUICE_END);
    sluice_iter_close(it);
    size_t live = 0;
    for (size_t j = 0; j < FEED_RECORDS; j++)
        if (sorted[j].series == 7 && !sorted[j].del &&
            (j + 1 == FEED_RECORDS || sorted[j + 1].series != 7 || sorted[j + 1].ts != sorted[j].ts))
            live++;
    cr_expect_eq(n, live);
    cr_assert_eq(sluice_close(db), 0);
}

Test(recovery, many_chunks_of_interleaved_series_come_back_as_put)
{
    char *d = tu_mkdtemp();
    sluice_options o;
    opts(&o);
    sluice_db *db;
    cr_assert_eq(sluice_open(d, &o, &db), 0);
    struct feed_op *ops = calloc(FEED_RECORDS, sizeof *ops);
    uint64_t last_offset[3] = {0};
    char k[SLUICE_KEY_MAX], v[64];
    for (uint32_t i = 0; i < FEED_RECORDS; i++) {
        uint32_t s = i % FEED_SERIES;
        uint64_t ts = (uint64_t)(i / FEED_SERIES) * 10;
        if (i % 17 == 0 && ts >= 30)
            ts -= 30; /* late: rewrites an earlier (key, ts) */
        int del = i % 29 == 0 && ts >= 10;
        if (del)
            ts -= 10;
        ops[i] = (struct feed_op){.series = s, .i = i, .ts = ts, .del = del};
        size_t kl = feed_key(k, s);
        if (del) {
            cr_assert_eq(sluice_delete(db, k, kl, ts, SLUICE_ACK_MEMORY, NULL), 0);
        } else {
            tu_fill(v, 40, i);
            cr_assert_eq(sluice_put(db, k, kl, ts, v, 40, SLUICE_ACK_MEMORY, NULL), 0);
        }
        if (i % 1000 == 999) {
            char name[16];
            snprintf(name, sizeof name, "src-%u", (i / 1000) % 3);
            cr_assert_eq(sluice_offset_put(db, name, i, SLUICE_ACK_MEMORY), 0);
            last_offset[(i / 1000) % 3] = i;
        }
    }
    cr_assert_eq(sluice_close(db), 0);
    cr_assert_gt(tu_count_segments(d), 8);
    qsort(ops, FEED_RECORDS, sizeof *ops, feed_op_cmp);
    feed_check(d, ops, last_offset);
    feed_check(d, ops, last_offset); /* and again: recovery changed nothing it needs */
    free(ops);
    tu_rmdir(d);
}
