/*
 * Corruption sweeps over a closed database (every record acknowledged: a clean close):
 *   - a single-bit flip at every STRIDE-th byte of every segment's used bytes;
 *   - a zero-filled 4 KiB block at every block of every segment;
 *   - a single-bit flip at every STRIDE-th byte of every cold block stored in data.mdb
 *     (found by their magic: LMDB's own pages have no checksums, and damage there is
 *     LMDB's to survive, not ours);
 *   - a segment renamed to another first LSN.
 * Each case must end one of two ways: `sluice verify` exits 1 (the damage is named), or
 * it exits 0 and a read-only open reads every record back byte for byte. Zero-filled
 * blocks also go through a writable open (recovery) on a copy: it succeeds with every
 * record intact, or fails with SLUICE_ECORRUPT naming a file and an offset. Never a
 * silent wrong read, never a crash. Truncations of the last records at every offset are
 * test_log's torn_tail_at_every_offset_of_the_last_three_records.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block.h"
#include "cli.h"
#include "cold.h"
#include "cli_run.h"
#include "sluice.h"
#include "util.h"

#define RECORDS 1600
#define COMPACTED 700
#define STRIDE 29 /* bytes between flips: prime, so the bit and the field both vary */

static char *dir;
static char errbuf[512];

static size_t record_of(uint64_t id, char *key, uint8_t *val, size_t *vlen)
{
    *vlen = 40 + (id * 131) % 400;
    tu_fill(val, *vlen, id);
    return (size_t)sprintf(key, "series-%llu", (unsigned long long)(id % 3));
}

static void build(void)
{
    dir = tu_mkdtemp();
    sluice_options o;
    sluice_options_init(&o);
    o.segment_bytes = 256u << 10;
    o.manual_compaction = 1;
    sluice_db *db;
    cr_assert_eq(sluice_open(dir, &o, &db), 0);
    char key[32];
    uint8_t val[512];
    for (uint64_t id = 1; id <= RECORDS; id++) {
        size_t vlen, klen = record_of(id, key, val, &vlen);
        cr_assert_eq(sluice_put(db, key, klen, id, val, vlen, SLUICE_ACK_MEMORY, NULL), 0);
        if (id == COMPACTED)
            cr_assert_eq(sluice_compact(db), 0);
    }
    cr_assert_eq(sluice_close(db), 0);
    cr_assert_geq(tu_count_segments(dir), 2);
}

/* `sluice verify DIR` (its output captured and not looked at). */
static int verify(void) { return tc_run("verify", dir, NULL); }

/* Every record, byte for byte, through a handle on `path`; 0 or the first error. */
static int read_all(const char *path, int read_only, const char *what)
{
    sluice_options o;
    sluice_options_init(&o);
    o.read_only = read_only;
    o.manual_compaction = 1;
    o.errbuf = errbuf;
    o.errbuf_bytes = sizeof errbuf;
    *errbuf = 0;
    sluice_db *db;
    int r = sluice_open(path, &o, &db);
    if (r)
        return r;
    char key[32];
    uint8_t want[512], got[512];
    for (uint64_t id = 1; id <= RECORDS && !r; id++) {
        size_t vlen, glen, klen = record_of(id, key, want, &vlen);
        r = sluice_get(db, key, klen, id, got, sizeof got, &glen);
        if (r == 0)
            cr_assert(glen == vlen && !memcmp(got, want, vlen),
                      "%s: record %llu read back wrong: a silent wrong read", what,
                      (unsigned long long)id);
    }
    cr_assert_eq(sluice_close(db), 0);
    return r;
}

struct tally {
    int cases, detected, intact;
};

/* verify names the damage, or everything reads back intact. */
static void judge(struct tally *t, const char *what)
{
    t->cases++;
    int code = verify();
    cr_assert(code == 0 || code == 1, "%s: verify exited %d", what, code);
    if (code == 1) {
        t->detected++;
        return;
    }
    int r = read_all(dir, 1, what);
    cr_assert_eq(r, 0, "%s: verify passed, yet a read failed: %s (%s)", what,
                 sluice_errname(r), errbuf);
    t->intact++;
}

static uint8_t *slurp(const char *path, size_t *n)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    cr_assert(fd >= 0 && fstat(fd, &st) == 0, "%s", path);
    uint8_t *b = malloc((size_t)st.st_size);
    cr_assert(b);
    cr_assert_eq(pread(fd, b, (size_t)st.st_size, 0), st.st_size);
    close(fd);
    *n = (size_t)st.st_size;
    return b;
}

static void put_bytes(const char *path, const void *b, size_t n, size_t off)
{
    int fd = open(path, O_WRONLY);
    cr_assert(fd >= 0);
    cr_assert_eq(pwrite(fd, b, n, (off_t)off), (ssize_t)n);
    close(fd);
}

static size_t used_end(const uint8_t *b, size_t n)
{
    while (n && !b[n - 1])
        n--;
    return n;
}

static void teardown(void)
{
    tu_rmdir(dir);
    dir = NULL;
}

TestSuite(corrupt, .init = build, .fini = teardown);

/* Flips bit (pos % 8) of every STRIDE-th byte of path in [from, to), one at a time, each
 * judged and then put back (orig holds the file's bytes). */
static void flip_sweep(const char *path, const uint8_t *orig, size_t from, size_t to,
                       const char *label, struct tally *t)
{
    for (size_t pos = from; pos < to; pos += STRIDE) {
        uint8_t b = orig[pos] ^ (uint8_t)(1u << (pos % 8));
        put_bytes(path, &b, 1, pos);
        char what[128];
        snprintf(what, sizeof what, "%s: byte %zu bit %zu", label, pos, pos % 8);
        judge(t, what);
        put_bytes(path, orig + pos, 1, pos);
    }
}

Test(corrupt, bit_flips_across_every_segment)
{
    struct tally t = {0};
    for (int s = 0; s < tu_count_segments(dir); s++) {
        char *seg = tu_segment(dir, s);
        size_t n;
        uint8_t *orig = slurp(seg, &n);
        size_t end = used_end(orig, n);
        char label[32];
        snprintf(label, sizeof label, "segment %d", s);
        flip_sweep(seg, orig, 0, end, label, &t);
        free(orig);
        free(seg);
    }
    fprintf(stderr, "corrupt.segment_bit_flips: %d cases, %d named by verify, %d harmless "
                    "(read back intact), 0 wrong reads\n", t.cases, t.detected, t.intact);
}

Test(corrupt, zero_filled_blocks_in_every_segment)
{
    struct tally t = {0};
    int recovered = 0, refused = 0;
    char *copy = tu_mkdtemp();
    for (int s = 0; s < tu_count_segments(dir); s++) {
        char *seg = tu_segment(dir, s);
        size_t n;
        uint8_t *orig = slurp(seg, &n);
        size_t end = used_end(orig, n);
        static uint8_t zero[4096];
        for (size_t pos = 0; pos < end; pos += sizeof zero) {
            if (!memcmp(orig + pos, zero, sizeof zero))
                continue; /* zeros already */
            put_bytes(seg, zero, sizeof zero, pos);
            char what[128];
            snprintf(what, sizeof what, "segment %d, zeroed block at %zu", s, pos);
            judge(&t, what);
            /* and the writer's own recovery, on a copy (it may cut a torn tail) */
            char cmd[1200];
            snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -a '%s' '%s'", copy, dir, copy);
            cr_assert_eq(system(cmd), 0);
            int r = read_all(copy, 0, what);
            if (r == 0) {
                recovered++;
            } else {
                cr_assert_eq(r, SLUICE_ECORRUPT, "%s: recovery: %s (%s)", what, sluice_errname(r), errbuf);
                cr_assert(strstr(errbuf, ".seg") && strstr(errbuf, "offset"),
                          "%s: the error does not name the file and offset: %s", what, errbuf);
                refused++;
            }
            put_bytes(seg, orig + pos, sizeof zero, pos);
        }
        free(orig);
        free(seg);
    }
    tu_rmdir(copy);
    fprintf(stderr, "corrupt.zero_filled_blocks: %d cases, %d named by verify, %d harmless; "
                    "recovery: %d opened intact, %d refused with SLUICE_ECORRUPT naming file "
                    "and offset; 0 wrong reads\n",
            t.cases, t.detected, t.intact, recovered, refused);
}

static uint8_t decoded[BLOCK_RAW_MAX];
static struct block_rec decoded_recs[COLD_BLOCK_RECORDS];

Test(corrupt, bit_flips_across_every_cold_block)
{
    char mdb[1024];
    snprintf(mdb, sizeof mdb, "%s/cold/data.mdb", dir);
    size_t n;
    uint8_t *orig = slurp(mdb, &n);
    struct tally t = {0};
    int blocks = 0;
    for (size_t at = 0; at + BLOCK_HDR_BYTES <= n; at++) {
        struct block_hdr h;
        memcpy(&h, orig + at, sizeof h);
        if (h.magic != BLOCK_MAGIC || h.version != BLOCK_VERSION ||
            h.stored_bytes > n - at - BLOCK_HDR_BYTES)
            continue;
        size_t len = BLOCK_HDR_BYTES + h.stored_bytes;
        /* only a block that decodes: a stale copy in a reused page may share its bytes
         * with LMDB's own node headers, whose damage is LMDB's (a flip there made LMDB
         * read past the file: SIGBUS, 1 run in 10 of the coverage build) */
        if (block_decode(orig + at, len, decoded, decoded_recs, COLD_BLOCK_RECORDS, &h) != 0)
            continue;
        blocks++;
        flip_sweep(mdb, orig, at, at + len, "data.mdb (a cold block)", &t);
        at += len - 1;
    }
    free(orig);
    cr_assert_gt(blocks, 10);
    fprintf(stderr, "corrupt.cold_block_bit_flips: %d blocks, %d cases, %d named by verify, "
                    "%d harmless, 0 wrong reads\n", blocks, t.cases, t.detected, t.intact);
}

Test(corrupt, renamed_segment_is_named)
{
    int nseg = tu_count_segments(dir);
    char *last = tu_segment(dir, nseg - 1);
    char renamed[1200];
    snprintf(renamed, sizeof renamed, "%s", last);
    char *name = strrchr(renamed, '/') + 1;
    uint64_t first = strtoull(name, NULL, 16);
    snprintf(name, 32, "%016llx.seg", (unsigned long long)(first + 5));
    cr_assert_eq(rename(last, renamed), 0);
    cr_expect_eq(verify(), 1, "verify names a segment whose name disagrees with its header");
    int r = read_all(dir, 0, "renamed segment");
    cr_expect_eq(r, SLUICE_ECORRUPT, "open: %s (%s)", sluice_errname(r), errbuf);
    cr_expect(strstr(errbuf, ".seg"), "the error names the file: %s", errbuf);
    free(last);
}
